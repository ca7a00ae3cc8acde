//! Test support shared by `service.rs` and `scenarios.rs`: a small HTTP/1.1 client over
//! a tokio `TcpStream` (keep-alive, Content-Length or chunked requests, raw writes),
//! request envelopes written by hand the way real clients write them, Basic and Digest
//! credentials (RFC 7616 computed here, independently of the mock), typed answers
//! parsed with the `wsman` crate, and redaction for snapshots.
//!
//! Nothing here sleeps to synchronise: every wait is on bytes, EOF or a bounded
//! timeout that fails the test.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use md5::Md5;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use wsman::{Body, Envelope, FaultKind, Limits};

/// Upper bound for anything a test waits on.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub const SOAP_CT: &str = "application/soap+xml;charset=UTF-8";
pub const CIM: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";
pub const WMI_HW: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/hardware/";
pub const ALL_CLASSES: &str = "http://schemas.dmtf.org/wbem/wscim/1/*";

// ---------------------------------------------------------------- HTTP

/// An HTTP answer as read off the wire.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header called `name`.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text: decoded as its Content-Type charset and byte order mark say
    /// (UTF-8 or UTF-16), else UTF-8, lossy.
    pub fn text(&self) -> String {
        let charset = self.header("content-type").and_then(|ct| {
            ct.split(';').skip(1).find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("charset")
                    .then(|| v.trim().trim_matches('"').to_owned())
            })
        });
        match wsman::decode::decode(&self.body, charset.as_deref()) {
            Ok(text) => text.into_owned(),
            Err(_) => String::from_utf8_lossy(&self.body).into_owned(),
        }
    }

    /// Parses the body as a SOAP envelope and hands it to `f`.
    pub fn with_env<R>(&self, f: impl FnOnce(&Envelope<'_>) -> R) -> R {
        let text = self.text();
        let env = wsman::parse(&text, &Limits::default()).unwrap_or_else(|e| {
            panic!(
                "answer (HTTP {}) is not an envelope: {e}\n{text}",
                self.status
            )
        });
        f(&env)
    }

    /// The `wsa:RelatesTo` of the answer.
    pub fn relates_to(&self) -> Option<String> {
        self.with_env(|e| e.header.relates_to.as_deref().map(str::to_owned))
    }

    /// The `wsa:Action` of the answer.
    pub fn action(&self) -> Option<String> {
        self.with_env(|e| e.header.action.as_deref().map(str::to_owned))
    }

    /// The fault this answer is (kind, detail token), or a panic.
    pub fn fault(&self) -> (FaultKind, Option<String>) {
        self.with_env(|e| match &e.body {
            Body::Fault(f) => (
                f.kind()
                    .unwrap_or_else(|| panic!("fault not in the catalogue: {}", self.text())),
                f.detail_token().map(str::to_owned),
            ),
            _ => panic!("not a fault (HTTP {}):\n{}", self.status, self.text()),
        })
    }

    /// Asserts this is `kind` with `detail`, answering `request`: the right HTTP
    /// status (the catalogue's), the fault action, RelatesTo the request's MessageID.
    pub fn assert_fault(&self, request: &Req, kind: FaultKind, detail: Option<&str>) {
        let (got, got_detail) = self.fault();
        assert_eq!(got, kind, "fault kind; answer:\n{}", self.text());
        assert_eq!(
            got_detail.as_deref(),
            detail,
            "detail; answer:\n{}",
            self.text()
        );
        assert_eq!(
            self.status,
            kind.http_status(),
            "HTTP status of {}; answer:\n{}",
            kind.qname(),
            self.text()
        );
        assert_eq!(self.action().as_deref(), Some(kind.action()));
        assert_eq!(
            self.relates_to().as_deref(),
            Some(request.message_id.as_str()),
            "RelatesTo"
        );
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/soap+xml")),
            "content type of a fault"
        );
    }

    /// Asserts a 200 answer with `action` relating to `request`.
    pub fn assert_ok(&self, request: &Req, action: &str) {
        assert_eq!(self.status, 200, "status; answer:\n{}", self.text());
        assert_eq!(self.action().as_deref(), Some(action), "{}", self.text());
        assert_eq!(
            self.relates_to().as_deref(),
            Some(request.message_id.as_str())
        );
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    addr: SocketAddr,
    stream: TcpStream,
    buf: Vec<u8>,
}

/// How a request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length,
    Chunked,
    /// Neither header (the server must refuse with 411).
    None,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        let stream = tokio::time::timeout(PATIENCE, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        Conn {
            addr,
            stream,
            buf: Vec::new(),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local addr")
    }

    /// Writes raw bytes.
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Sends one request and reads its answer.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        framing: Framing,
    ) -> std::io::Result<Answer> {
        let head = request_head(self.addr, method, path, headers, body.len(), framing);
        let mut wire = head.into_bytes();
        match framing {
            Framing::Chunked => {
                // Two chunks, to exercise reassembly.
                let mid = body.len() / 2;
                for part in [&body[..mid], &body[mid..]] {
                    if !part.is_empty() {
                        wire.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                        wire.extend_from_slice(part);
                        wire.extend_from_slice(b"\r\n");
                    }
                }
                wire.extend_from_slice(b"0\r\n\r\n");
            }
            _ => wire.extend_from_slice(body),
        }
        self.stream.write_all(&wire).await?;
        self.read_answer().await
    }

    /// Reads one answer (Content-Length, chunked, or to EOF).
    pub async fn read_answer(&mut self) -> std::io::Result<Answer> {
        tokio::time::timeout(PATIENCE, self.read_answer_inner())
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "answer in time"))?
    }

    async fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    async fn read_answer_inner(&mut self) -> std::io::Result<Answer> {
        let head_end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p;
            }
            if self.fill().await? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "EOF before a complete head ({} bytes: {:?})",
                        self.buf.len(),
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad status line {status_line:?}"),
                )
            })?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let body = if let Some(len) = get("content-length") {
            let len: usize = len.parse().unwrap_or(0);
            while self.buf.len() < len {
                if self.fill().await? == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("EOF after {} of {len} body bytes", self.buf.len()),
                    ));
                }
            }
            self.buf.drain(..len).collect()
        } else if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            let mut body = Vec::new();
            loop {
                let line_end = loop {
                    if let Some(p) = find(&self.buf, b"\r\n") {
                        break p;
                    }
                    if self.fill().await? == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                };
                let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
                let size =
                    usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
                self.buf.drain(..line_end + 2);
                while self.buf.len() < size + 2 {
                    if self.fill().await? == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                }
                body.extend(self.buf.drain(..size));
                self.buf.drain(..2);
                if size == 0 {
                    break;
                }
            }
            body
        } else if status == 204 || status == 304 || (100..200).contains(&status) {
            Vec::new()
        } else {
            while self.fill().await? != 0 {}
            std::mem::take(&mut self.buf)
        };
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Reads until EOF (or an error such as a reset); returns what arrived and how it
    /// ended.
    pub async fn read_to_end(&mut self) -> (Vec<u8>, std::io::Result<()>) {
        let r = tokio::time::timeout(PATIENCE, async {
            loop {
                match self.fill().await {
                    Ok(0) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(e),
                }
            }
        })
        .await
        .expect("EOF in time");
        (std::mem::take(&mut self.buf), r)
    }
}

fn request_head(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    len: usize,
    framing: Framing,
) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    match framing {
        Framing::Length => head.push_str(&format!("Content-Length: {len}\r\n")),
        Framing::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
        Framing::None => {}
    }
    head.push_str("\r\n");
    head
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------- credentials

/// A mock started with the scenario `toml`.
pub async fn serve(toml: &str) -> mock::MockServer {
    mock::MockServer::builder()
        .scenario_str(toml)
        .unwrap_or_else(|e| panic!("scenario: {e}"))
        .start()
        .await
        .expect("start")
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// The parameters of a `WWW-Authenticate: Digest ...` challenge.
pub fn digest_params(challenge: &str) -> Vec<(String, String)> {
    let rest = challenge
        .trim()
        .strip_prefix("Digest")
        .expect("a Digest challenge")
        .trim();
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() {
            return out;
        }
        chars.next();
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((name.trim().to_owned(), value.trim().to_owned()));
    }
}

fn hex_digest(algorithm: &str, text: &str) -> String {
    let bytes: Vec<u8> = if algorithm.eq_ignore_ascii_case("SHA-256") {
        Sha256::digest(text.as_bytes()).to_vec()
    } else {
        Md5::digest(text.as_bytes()).to_vec()
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `Authorization: Digest ...` answer to `challenge` (RFC 7616 §3.4.1, qop=auth).
pub fn digest_authorization(
    challenge: &str,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    nc: u32,
) -> String {
    let p = digest_params(challenge);
    let get = |n: &str| {
        p.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let realm = get("realm").expect("realm");
    let nonce = get("nonce").expect("nonce");
    let algorithm = get("algorithm").unwrap_or_else(|| "MD5".into());
    let cnonce = "0a4f113b";
    let nc = format!("{nc:08x}");
    let ha1 = hex_digest(&algorithm, &format!("{user}:{realm}:{password}"));
    let ha2 = hex_digest(&algorithm, &format!("{method}:{uri}"));
    let response = hex_digest(
        &algorithm,
        &format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"),
    );
    let mut h = format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm={algorithm}, qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{response}\""
    );
    if let Some(o) = get("opaque") {
        h.push_str(&format!(", opaque=\"{o}\""));
    }
    h
}

// ---------------------------------------------------------------- envelopes

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh `uuid:` MessageID (unique within the test binary).
pub fn message_id() -> String {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    format!("uuid:00000000-0000-4000-8000-{n:012X}")
}

/// A request envelope, written by hand as clients write it.
#[derive(Debug, Clone)]
pub struct Req {
    pub to: Option<String>,
    pub action: Option<String>,
    pub resource_uri: Option<String>,
    pub message_id: String,
    pub selectors: Vec<(String, String)>,
    /// Extra raw header elements.
    pub headers: Vec<String>,
    /// Raw body content (inside `s:Body`).
    pub body: String,
    /// Put `s:mustUnderstand` on To/Action/ResourceURI.
    pub must_understand: bool,
    /// Identify: no addressing headers at all.
    pub identify: bool,
}

impl Req {
    pub fn new(action: &str, resource_uri: &str) -> Req {
        Req {
            to: Some("http://127.0.0.1/wsman".into()),
            action: Some(action.into()),
            resource_uri: (!resource_uri.is_empty()).then(|| resource_uri.into()),
            message_id: message_id(),
            selectors: Vec::new(),
            headers: Vec::new(),
            body: String::new(),
            must_understand: true,
            identify: false,
        }
    }

    pub fn identify() -> Req {
        Req {
            to: None,
            action: None,
            resource_uri: None,
            message_id: message_id(),
            selectors: Vec::new(),
            headers: Vec::new(),
            body: "<wsmid:Identify/>".into(),
            must_understand: true,
            identify: true,
        }
    }

    pub fn get(resource_uri: &str) -> Req {
        Req::new(wsman::ns::action::GET, resource_uri)
    }

    pub fn enumerate(resource_uri: &str, inner: &str) -> Req {
        Req::new(wsman::ns::action::ENUMERATE, resource_uri)
            .body(&format!("<n:Enumerate>{inner}</n:Enumerate>"))
    }

    pub fn pull(resource_uri: &str, context: &str, max_elements: Option<u32>) -> Req {
        let max = max_elements
            .map(|m| format!("<n:MaxElements>{m}</n:MaxElements>"))
            .unwrap_or_default();
        Req::new(wsman::ns::action::PULL, resource_uri).body(&format!(
            "<n:Pull><n:EnumerationContext>{context}</n:EnumerationContext>{max}</n:Pull>"
        ))
    }

    pub fn selector(mut self, name: &str, value: &str) -> Req {
        self.selectors.push((name.into(), value.into()));
        self
    }

    pub fn header(mut self, xml: &str) -> Req {
        self.headers.push(xml.into());
        self
    }

    pub fn body(mut self, xml: &str) -> Req {
        self.body = xml.into();
        self
    }

    pub fn message_id(mut self, id: &str) -> Req {
        self.message_id = id.into();
        self
    }

    pub fn to(mut self, to: Option<&str>) -> Req {
        self.to = to.map(str::to_owned);
        self
    }

    pub fn max_envelope_size(self, n: u64) -> Req {
        self.header(&format!(
            "<w:MaxEnvelopeSize s:mustUnderstand=\"true\">{n}</w:MaxEnvelopeSize>"
        ))
    }

    pub fn operation_timeout(self, t: &str) -> Req {
        self.header(&format!("<w:OperationTimeout>{t}</w:OperationTimeout>"))
    }

    /// The envelope text.
    pub fn xml(&self) -> String {
        let mu = if self.must_understand {
            " s:mustUnderstand=\"true\""
        } else {
            ""
        };
        let mut h = String::new();
        if !self.identify {
            if let Some(to) = &self.to {
                h.push_str(&format!("<a:To>{to}</a:To>"));
            }
            if let Some(r) = &self.resource_uri {
                h.push_str(&format!("<w:ResourceURI{mu}>{r}</w:ResourceURI>"));
            }
            h.push_str(
                "<a:ReplyTo><a:Address s:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>",
            );
            if let Some(a) = &self.action {
                h.push_str(&format!("<a:Action{mu}>{a}</a:Action>"));
            }
            h.push_str(&format!("<a:MessageID>{}</a:MessageID>", self.message_id));
            if !self.selectors.is_empty() {
                h.push_str("<w:SelectorSet>");
                for (n, v) in &self.selectors {
                    h.push_str(&format!("<w:Selector Name=\"{n}\">{v}</w:Selector>"));
                }
                h.push_str("</w:SelectorSet>");
            }
        } else {
            // Clients send a MessageID with Identify too; the answer must relate to it.
            h.push_str(&format!("<a:MessageID>{}</a:MessageID>", self.message_id));
        }
        for x in &self.headers {
            h.push_str(x);
        }
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
xmlns:b=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\" \
xmlns:wsmid=\"http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd\">\
<s:Header>{h}</s:Header><s:Body>{}</s:Body></s:Envelope>",
            self.body
        )
    }
}

/// A client bound to one mock: credentials and a kept-alive connection.
pub struct Client {
    pub addr: SocketAddr,
    pub auth: Option<String>,
    conn: Option<Conn>,
}

impl Client {
    pub fn new(server: &mock::MockServer) -> Client {
        Client::at(server.addresses().0.expect("http listener"))
    }

    pub fn at(addr: SocketAddr) -> Client {
        Client {
            addr,
            auth: Some(basic("admin", "admin")),
            conn: None,
        }
    }

    pub fn with_auth(mut self, auth: Option<String>) -> Client {
        self.auth = auth;
        self
    }

    /// Sends raw bytes with these extra headers; reuses the connection when it can.
    pub async fn post_raw(&mut self, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        self.post_framed(headers, body, Framing::Length).await
    }

    pub async fn post_framed(
        &mut self,
        headers: &[(&str, &str)],
        body: &[u8],
        framing: Framing,
    ) -> Answer {
        let mut all: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &self.auth {
            all.push(("Authorization", a.as_str()));
        }
        all.extend_from_slice(headers);
        // One retry on a fresh connection when a kept-alive one was closed under us.
        for attempt in 0..2 {
            if self.conn.is_none() {
                self.conn = Some(Conn::open(self.addr).await);
            }
            let conn = self.conn.as_mut().expect("connection");
            match conn.send("POST", "/wsman", &all, body, framing).await {
                Ok(answer) => {
                    if answer
                        .header("connection")
                        .is_some_and(|c| c.eq_ignore_ascii_case("close"))
                    {
                        self.conn = None;
                    }
                    return answer;
                }
                Err(e) if attempt == 0 => {
                    let _ = e;
                    self.conn = None;
                }
                Err(e) => panic!("request failed: {e}"),
            }
        }
        unreachable!()
    }

    /// Sends a request envelope (UTF-8).
    pub async fn send(&mut self, req: &Req) -> Answer {
        self.post_raw(&[("Content-Type", SOAP_CT)], req.xml().as_bytes())
            .await
    }

    /// Sends a request envelope in UTF-16 with a byte order mark (little-endian or
    /// big-endian), declared `charset=UTF-16`.
    pub async fn send_utf16(&mut self, req: &Req, little_endian: bool) -> Answer {
        let bytes =
            wsman::decode::encode_utf16(&req.xml().replace("UTF-8", "UTF-16"), little_endian);
        self.post_raw(
            &[("Content-Type", "application/soap+xml;charset=UTF-16")],
            &bytes,
        )
        .await
    }

    /// Sends a request envelope with extra HTTP headers.
    pub async fn send_with(&mut self, req: &Req, headers: &[(&str, &str)]) -> Answer {
        let mut all = vec![("Content-Type", SOAP_CT)];
        all.extend_from_slice(headers);
        self.post_raw(&all, req.xml().as_bytes()).await
    }

    /// Enumerates (not optimized) and pulls everything, `per_pull` items at a time.
    /// Returns the item texts.
    pub async fn enumerate_all(&mut self, resource_uri: &str, inner: &str) -> Vec<String> {
        let req = Req::enumerate(resource_uri, inner);
        let a = self.send(&req).await;
        a.assert_ok(&req, wsman::ns::action::ENUMERATE_RESPONSE);
        let mut context = a.with_env(|e| match &e.body {
            Body::EnumerateResponse(r) => r.context.as_deref().map(str::to_owned),
            _ => panic!("not an EnumerateResponse"),
        });
        let mut items = Vec::new();
        let mut rounds = 0;
        while let Some(ctx) = context {
            rounds += 1;
            assert!(rounds < 1000, "enumeration does not end");
            let req = Req::pull(resource_uri, &ctx, Some(10));
            let a = self.send(&req).await;
            a.assert_ok(&req, wsman::ns::action::PULL_RESPONSE);
            context = a.with_env(|e| match &e.body {
                Body::PullResponse(r) => {
                    items.extend(r.items.iter().map(item_text));
                    if r.end_of_sequence {
                        None
                    } else {
                        r.context.as_deref().map(str::to_owned)
                    }
                }
                _ => panic!("not a PullResponse"),
            });
        }
        items
    }
}

/// An enumeration item written back to XML (for assertions on content).
pub fn item_text(item: &wsman::body::Item<'_>) -> String {
    match item {
        wsman::body::Item::Object(t) => wsman::write::write_tree(t),
        wsman::body::Item::Epr(e) => format!("EPR {:?} {:?}", e.resource_uri, e.selectors),
        wsman::body::Item::ObjectAndEpr(t, e) => format!(
            "{} EPR {:?} {:?}",
            wsman::write::write_tree(t),
            e.resource_uri,
            e.selectors
        ),
        // Only a server's own answers hold written items; a parsed one never does.
        wsman::body::Item::Xml(x) => x.to_string(),
    }
}

/// The text of property `prop` of an instance body.
pub fn property(answer: &Answer, prop: &str) -> Option<String> {
    answer.with_env(|e| match &e.body {
        Body::Instance(t) => t.root().property(prop).map(|p| p.text().to_owned()),
        _ => None,
    })
}

// ---------------------------------------------------------------- snapshots

/// Replaces what changes from run to run (MessageIDs, RelatesTo values, enumeration
/// contexts, timestamps) with stable tokens, in order of first appearance.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut seen: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(p) = rest.find("uuid:") {
        out.push_str(&rest[..p]);
        let tail = &rest[p + 5..];
        let len = tail
            .char_indices()
            .take_while(|(_, c)| c.is_ascii_hexdigit() || *c == '-')
            .count();
        let id = &tail[..len];
        let n = match seen.iter().position(|s| s == id) {
            Some(n) => n,
            None => {
                seen.push(id.to_owned());
                seen.len() - 1
            }
        };
        out.push_str(&format!("uuid:[ID{n}]"));
        rest = &tail[len..];
    }
    out.push_str(rest);
    redact_datetimes(&out)
}

/// `2026-01-01T00:00:00Z`-like datetimes (CIM datetimes in instances) → `[DATETIME]`.
fn redact_datetimes(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let is_dt = i + 19 <= b.len()
            && b[i..i + 4].iter().all(u8::is_ascii_digit)
            && b[i + 4] == b'-'
            && b[i + 7] == b'-'
            && b[i + 10] == b'T'
            && b[i + 13] == b':';
        if is_dt {
            let mut j = i + 19;
            while j < b.len()
                && (b[j].is_ascii_digit() || matches!(b[j], b'.' | b'Z' | b'+' | b'-' | b':'))
            {
                j += 1;
            }
            out.push_str("[DATETIME]");
            i = j;
        } else {
            let ch = text[i..].chars().next().expect("char");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Pretty-ish XML for snapshots: one element per line.
pub fn pretty(xml: &str) -> String {
    xml.replace("><", ">\n<")
}

/// Sends `req` without credentials, answers the `algorithm` Digest challenge for
/// `user`/`password` on the same connection, and returns the second answer.
pub async fn digest_exchange(
    addr: SocketAddr,
    req: &Req,
    user: &str,
    password: &str,
    algorithm: &str,
) -> Answer {
    let mut conn = Conn::open(addr).await;
    let body = req.xml();
    let first = conn
        .send(
            "POST",
            "/wsman",
            &[("Content-Type", SOAP_CT)],
            body.as_bytes(),
            Framing::Length,
        )
        .await
        .expect("first answer");
    assert_eq!(first.status, 401, "{}", first.text());
    let challenge = first
        .headers_named("www-authenticate")
        .into_iter()
        .find(|c| c.contains(&format!("algorithm={algorithm}")))
        .unwrap_or_else(|| panic!("no {algorithm} challenge in {:?}", first.headers))
        .to_owned();
    let authz = digest_authorization(&challenge, user, password, "POST", "/wsman", 1);
    // Same connection: a 401 keeps it alive for the second attempt.
    conn.send(
        "POST",
        "/wsman",
        &[("Authorization", &authz), ("Content-Type", SOAP_CT)],
        body.as_bytes(),
        Framing::Length,
    )
    .await
    .expect("second answer")
}

/// Writes `req` (with Basic admin/admin unless `auth` says otherwise) on a fresh
/// connection and returns the connection, for tests that read what comes back raw.
pub async fn post_raw_request(addr: SocketAddr, req: &Req, auth: &str) -> Conn {
    let mut conn = Conn::open(addr).await;
    let body = req.xml();
    let head = format!(
        "POST /wsman HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nContent-Type: {SOAP_CT}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write(head.as_bytes()).await.expect("write head");
    conn.write(body.as_bytes()).await.expect("write body");
    conn
}
