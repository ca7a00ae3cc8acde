//! The HTTP layer of the mock over real loopback sockets: routing and limits,
//! authentication (Basic, Digest MD5 and SHA-256 computed here from the RFC 7616
//! formulas), every transport fault as a raw TCP client sees it, HTTPS with the
//! generated certificate, the admin API, the journal and graceful shutdown.
//!
//! The WS-Man handler, the credentials and the admin operations are fakes defined
//! here; the handler picks its outcome from the `x-outcome` request header. Tests wait
//! on events (journal records, handler calls, bytes, EOF), never on sleeps.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use md5::Md5;
use mock::admin::{AdminError, AdminOps};
use mock::http::{
    AuthPolicy, Credentials, Handled, HandlerFuture, Outcome, Reply, Request, Running,
    ServerConfig, WsmanHandler,
};
use mock::journal::{AuthOutcome, Journal, OutcomeKind};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Upper bound for anything a test waits on.
const PATIENCE: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- fakes

struct FakeHandler {
    seen: Mutex<Vec<Request>>,
    calls: watch::Sender<usize>,
}

impl FakeHandler {
    fn new() -> Arc<FakeHandler> {
        Arc::new(FakeHandler {
            seen: Mutex::new(Vec::new()),
            calls: watch::Sender::new(0),
        })
    }

    fn last(&self) -> Request {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("handler was called")
    }

    async fn wait_calls(&self, n: usize) {
        let mut rx = self.calls.subscribe();
        tokio::time::timeout(PATIENCE, rx.wait_for(|c| *c >= n))
            .await
            .expect("handler called in time")
            .unwrap();
    }
}

fn soap_reply(body: impl Into<Vec<u8>>) -> Reply {
    Reply {
        status: 200,
        headers: vec![(
            "content-type".into(),
            "application/soap+xml;charset=UTF-8".into(),
        )],
        body: bytes::Bytes::from(body.into()),
    }
}

impl WsmanHandler for FakeHandler {
    fn handle(&self, req: Request) -> HandlerFuture<'_> {
        Box::pin(async move {
            let what = req.header("x-outcome").unwrap_or_default().into_owned();
            let user = format!("{:?}", req.user);
            let len = req.body.len();
            self.seen.lock().unwrap().push(req);
            self.calls.send_modify(|c| *c += 1);
            let outcome = match what.as_str() {
                "reset" => Outcome::Reset,
                "close" => Outcome::Close,
                "truncated" => Outcome::Truncated {
                    reply: soap_reply(vec![b'x'; 100]),
                    keep: 10,
                },
                "garbage" => Outcome::Garbage(b"\x00\x01NOT HTTP\xff".to_vec()),
                "drip" => Outcome::SlowDrip {
                    reply: soap_reply(vec![b'd'; 50]),
                    chunk: 10,
                    interval: Duration::from_millis(20),
                },
                w if w.starts_with("delay:") => {
                    let ms = w["delay:".len()..].parse().unwrap();
                    Outcome::Delayed(
                        Duration::from_millis(ms),
                        Box::new(Outcome::Reply(soap_reply("late"))),
                    )
                }
                _ => Outcome::Reply(soap_reply(format!("ok user={user} len={len}"))),
            };
            Handled {
                outcome,
                rule: Some("fake-rule".into()),
                operation: Some("Get".into()),
            }
        })
    }
}

struct FakeCreds {
    policy: Mutex<AuthPolicy>,
    password: Mutex<String>,
    generation: Mutex<Option<u64>>,
    policy_generation: Mutex<Option<u64>>,
}

impl FakeCreds {
    fn new() -> Arc<FakeCreds> {
        Arc::new(FakeCreds {
            policy: Mutex::new(AuthPolicy::default()),
            password: Mutex::new("admin".into()),
            generation: Mutex::new(None),
            policy_generation: Mutex::new(None),
        })
    }
}

impl Credentials for FakeCreds {
    fn password(&self, user: &str) -> Option<String> {
        (user == "admin").then(|| self.password.lock().unwrap().clone())
    }
    fn policy(&self) -> Arc<AuthPolicy> {
        Arc::new(self.policy.lock().unwrap().clone())
    }
    fn generation(&self) -> Option<u64> {
        *self.generation.lock().unwrap()
    }
    fn policy_generation(&self) -> Option<u64> {
        *self.policy_generation.lock().unwrap()
    }
}

#[derive(Default)]
struct FakeAdmin {
    calls: Mutex<Vec<String>>,
}

impl AdminOps for FakeAdmin {
    fn health(&self) -> Value {
        json!({ "ok": true })
    }
    fn state(&self) -> Value {
        json!({ "power": "on" })
    }
    fn set_sensor(&self, id: &str, value: Option<f64>) -> Result<Value, AdminError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("sensor {id} {value:?}"));
        if id == "nope" {
            return Err(AdminError::NotFound("no sensor nope".into()));
        }
        Ok(json!({ "id": id, "value": value }))
    }
    fn power(&self, action: &str) -> Result<Value, String> {
        self.calls.lock().unwrap().push(format!("power {action}"));
        Ok(json!({ "power": action }))
    }
    fn add_sel(&self, entry: Value) -> Result<Value, String> {
        self.calls.lock().unwrap().push(format!("sel {entry}"));
        Ok(json!({ "record_id": 1 }))
    }
    fn load_scenario(&self, toml_text: &str) -> Result<Value, String> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("scenario {toml_text}"));
        Ok(json!({ "loaded": true }))
    }
}

// ---------------------------------------------------------------- server

struct Server {
    running: Running,
    journal: Arc<Journal>,
    handler: Arc<FakeHandler>,
    creds: Arc<FakeCreds>,
    admin: Arc<FakeAdmin>,
}

impl Server {
    fn http(&self) -> SocketAddr {
        self.running.http.unwrap()
    }

    /// Waits for journal entry `seq` and returns it.
    async fn entry(&self, seq: u64) -> mock::journal::Entry {
        tokio::time::timeout(PATIENCE, self.journal.wait_for(seq))
            .await
            .expect("journal entry in time");
        self.journal
            .entries()
            .into_iter()
            .find(|e| e.seq == seq)
            .expect("entry kept")
    }
}

fn loopback() -> Option<SocketAddr> {
    Some("127.0.0.1:0".parse().unwrap())
}

async fn serve_with(tweak: impl FnOnce(&mut ServerConfig), capacity: usize) -> Server {
    let mut config = ServerConfig {
        http: loopback(),
        https: loopback(),
        admin: loopback(),
        max_request_bytes: 1024,
        ..ServerConfig::default()
    };
    tweak(&mut config);
    let journal = Arc::new(Journal::new(capacity));
    let handler = FakeHandler::new();
    let creds = FakeCreds::new();
    let admin = Arc::new(FakeAdmin::default());
    let running = mock::http::start(
        config,
        handler.clone(),
        creds.clone(),
        admin.clone(),
        journal.clone(),
    )
    .await
    .expect("server starts");
    Server {
        running,
        journal,
        handler,
        creds,
        admin,
    }
}

async fn serve() -> Server {
    serve_with(|_| {}, 1000).await
}

// ---------------------------------------------------------------- raw client

/// A minimal HTTP/1.1 client over any stream: writes raw requests, parses
/// Content-Length responses.
struct Conn<S> {
    stream: S,
    buf: Vec<u8>,
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

async fn connect(addr: SocketAddr) -> Conn<TcpStream> {
    Conn {
        stream: TcpStream::connect(addr).await.unwrap(),
        buf: Vec::new(),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads more bytes into the buffer; 0 at EOF.
    async fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(PATIENCE, self.stream.read(&mut chunk))
            .await
            .expect("read in time")?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    async fn head(&mut self) -> (u16, Vec<(String, String)>) {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(self.buf[..end].to_vec()).unwrap();
                self.buf.drain(..end + 4);
                let mut lines = head.split("\r\n");
                let status = lines
                    .next()
                    .unwrap()
                    .split(' ')
                    .nth(1)
                    .unwrap()
                    .parse()
                    .unwrap();
                let headers = lines
                    .map(|l| {
                        let (n, v) = l.split_once(':').unwrap();
                        (n.trim().to_ascii_lowercase(), v.trim().to_owned())
                    })
                    .collect();
                return (status, headers);
            }
            assert!(self.fill().await.unwrap() > 0, "EOF inside response head");
        }
    }

    async fn response(&mut self) -> Resp {
        let (status, headers) = self.head().await;
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .expect("content-length");
        while self.buf.len() < len {
            assert!(self.fill().await.unwrap() > 0, "EOF inside response body");
        }
        let body = self.buf.drain(..len).collect();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Reads until EOF; returns what came (after anything already buffered).
    async fn rest(&mut self) -> std::io::Result<Vec<u8>> {
        while self.fill().await? > 0 {}
        Ok(std::mem::take(&mut self.buf))
    }

    async fn request(&mut self, raw: &str) -> Resp {
        self.send(raw.as_bytes()).await;
        self.response().await
    }
}

const SOAP: &str = "application/soap+xml;charset=UTF-8";
const ENVELOPE: &str = "<s:Envelope/>";

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A POST of `ENVELOPE` to /wsman with these extra header lines.
fn post(extra: &str) -> String {
    format!(
        "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: {SOAP}\r\nContent-Length: {}\r\n{extra}\r\n{ENVELOPE}",
        ENVELOPE.len()
    )
}

fn authed(extra: &str) -> String {
    post(&format!(
        "Authorization: {}\r\n{extra}",
        basic("admin", "admin")
    ))
}

async fn one(addr: SocketAddr, raw: &str) -> Resp {
    connect(addr).await.request(raw).await
}

// ---------------------------------------------------------------- routing and limits

#[tokio::test]
async fn wrong_method_is_405_with_allow_and_wrong_path_is_404() {
    let s = serve().await;
    let r = one(s.http(), "GET /wsman HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    let r = one(
        s.http(),
        &authed("").replace("POST /wsman ", "POST /other "),
    )
    .await;
    assert_eq!(r.status, 404);
    let e = s.entry(2).await;
    let h = e.http().unwrap();
    assert_eq!((h.status, h.outcome), (Some(404), OutcomeKind::Refused));
    assert_eq!(h.path, "/other");
}

#[tokio::test]
async fn post_without_length_is_411() {
    let s = serve().await;
    let r = one(
        s.http(),
        &format!("POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: {SOAP}\r\n\r\n"),
    )
    .await;
    assert_eq!(r.status, 411);
}

#[tokio::test]
async fn declared_length_over_the_limit_is_413_then_close() {
    let s = serve().await;
    let mut c = connect(s.http()).await;
    c.send(
        format!("POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: {SOAP}\r\nContent-Length: 5000\r\n\r\n")
            .as_bytes(),
    )
    .await;
    let r = c.response().await;
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(c.rest().await.unwrap(), b"");
    let h = s.entry(1).await.http().cloned().unwrap();
    assert_eq!(h.status, Some(413));
}

/// Sends a chunked POST whose chunks (`x` bytes, of these sizes) never end with a last
/// chunk, so a 413 proves the 1 KiB limit is applied while reading; returns whether the
/// server closed after it, and the journal's record of the exchange.
async fn over_limit_in_chunks(sizes: &[usize]) -> (bool, mock::journal::HttpRecord) {
    let s = serve().await;
    let mut c = connect(s.http()).await;
    let mut head = format!(
        "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: {SOAP}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    for &n in sizes {
        head.push_str(&format!("{n:x}\r\n{}\r\n", "x".repeat(n)));
    }
    c.send(head.as_bytes()).await;
    let r = c.response().await;
    assert_eq!(r.status, 413);
    let closed = c.rest().await.unwrap().is_empty();
    (closed, s.entry(1).await.http().cloned().unwrap())
}

#[tokio::test]
async fn chunked_body_over_the_limit_gets_413_before_it_ends() {
    // 2 KiB in one chunk.
    let (closed, h) = over_limit_in_chunks(&[2048]).await;
    assert!(closed, "closed after the 413");
    assert_eq!(h.request_body.len, 1024, "kept no more than the limit");
}

#[tokio::test]
async fn a_body_over_the_limit_in_its_second_chunk_is_kept_to_the_limit() {
    // 800 bytes, then 800 more: the second crosses the 1 KiB limit.
    let (closed, h) = over_limit_in_chunks(&[800, 800]).await;
    assert!(closed, "closed after the 413");
    assert_eq!(h.request_body.len, 1024, "kept exactly the limit");
}

#[tokio::test]
async fn ten_mib_chunked_upload_is_cut_off_with_413() {
    let s = serve().await;
    let stream = TcpStream::connect(s.http()).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let head = format!(
            "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: {SOAP}\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        wr.write_all(head.as_bytes()).await?;
        let piece = format!("10000\r\n{}\r\n", "y".repeat(0x10000));
        for _ in 0..160 {
            wr.write_all(piece.as_bytes()).await?;
        }
        wr.write_all(b"0\r\n\r\n").await?;
        wr.shutdown().await
    });
    let mut got = Vec::new();
    tokio::time::timeout(PATIENCE, rd.read_to_end(&mut got))
        .await
        .expect("server closes in time")
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    // Whether the client got to send everything (the server drains for a while) or
    // hit a closed socket does not matter; it must not hang.
    let _ = tokio::time::timeout(PATIENCE, writer).await.unwrap();
    let h = s.entry(1).await.http().cloned().unwrap();
    assert_eq!(h.status, Some(413));
    assert_eq!(h.request_body.len, 1024);
}

#[tokio::test]
async fn content_type_must_be_soap_unless_empty_or_encrypted() {
    let s = serve().await;
    let r = one(s.http(), &authed("").replace(SOAP, "text/xml")).await;
    assert_eq!(r.status, 415);
    // An empty POST (pywinrm's authentication probe) goes to the handler.
    let auth = basic("admin", "admin");
    let r = one(
        s.http(),
        &format!(
            "POST /wsman HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: 0\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "ok user=Some(\"admin\") len=0");
    // An encrypted body is opened by the HTTP layer with the connection's NTLM session;
    // without one (here: Basic) it is refused and never reaches the handler.
    let before = s.handler.seen.lock().unwrap().len();
    let r = one(
        s.http(),
        &authed("").replace(
            SOAP,
            "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\"",
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("NTLM session"), "{}", r.text());
    assert_eq!(s.handler.seen.lock().unwrap().len(), before);
}

#[tokio::test]
async fn chunked_request_within_the_limit_is_accepted() {
    let s = serve().await;
    let auth = basic("admin", "admin");
    let r = one(
        s.http(),
        &format!(
            "POST /wsman HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: {SOAP}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n<s:En\r\n8\r\nvelope/>\r\n0\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(s.handler.last().body, ENVELOPE.as_bytes());
}

// ---------------------------------------------------------------- authentication

#[tokio::test]
async fn basic_ok_wrong_and_missing() {
    let s = serve().await;
    let r = one(s.http(), &authed("")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(SOAP));
    assert_eq!(s.handler.last().user.as_deref(), Some("admin"));

    let r = one(
        s.http(),
        &post(&format!("Authorization: {}\r\n", basic("admin", "wrong"))),
    )
    .await;
    assert_eq!(r.status, 401);

    let r = one(s.http(), &post("")).await;
    assert_eq!(r.status, 401);
    let challenges = r.all("www-authenticate");
    assert_eq!(challenges.len(), 3, "{challenges:?}");
    assert!(challenges[0].starts_with("Digest ") && challenges[0].contains("algorithm=SHA-256"));
    assert!(challenges[1].starts_with("Digest ") && challenges[1].contains("algorithm=MD5"));
    assert!(challenges[2].starts_with("Basic realm=\"Touchstone\""));
    assert!(!r.body.is_empty());

    let wrong = s.entry(2).await.http().cloned().unwrap();
    assert_eq!(
        (wrong.auth, wrong.status),
        (AuthOutcome::Rejected, Some(401))
    );
    let missing = s.entry(3).await.http().cloned().unwrap();
    assert_eq!(missing.auth, AuthOutcome::Missing);
    assert_eq!(s.handler.seen.lock().unwrap().len(), 1);
}

/// A connection that proved a Basic header is not made to prove it again while the
/// credentials' generation stands; a new generation, another header, another
/// connection, Basic no longer offered, or credentials without a generation all go
/// through the full check again.
#[tokio::test]
async fn a_proved_basic_header_is_trusted_on_its_connection_until_the_credentials_change() {
    let s = serve().await;
    *s.creds.generation.lock().unwrap() = Some(1);
    let mut c = connect(s.http()).await;
    assert_eq!(c.request(&authed("")).await.status, 200);
    // The password changes under the same generation: the proved header still counts
    // on this connection (only a new generation says the credentials changed)...
    *s.creds.password.lock().unwrap() = "changed".into();
    assert_eq!(c.request(&authed("")).await.status, 200);
    assert_eq!(s.handler.last().user.as_deref(), Some("admin"));
    // ... but not on another connection, which checks it in full.
    assert_eq!(one(s.http(), &authed("")).await.status, 401);
    // Another header on the proved connection is checked in full.
    let wrong = post(&format!("Authorization: {}\r\n", basic("admin", "admin2")));
    assert_eq!(c.request(&wrong).await.status, 401);
    // A new generation: the old header is checked again, and refused.
    *s.creds.generation.lock().unwrap() = Some(2);
    assert_eq!(c.request(&authed("")).await.status, 401);
    let new = post(&format!("Authorization: {}\r\n", basic("admin", "changed")));
    assert_eq!(c.request(&new).await.status, 200);
    // Basic withdrawn: a proved header does not get around the policy.
    s.creds.policy.lock().unwrap().basic = false;
    assert_eq!(c.request(&new).await.status, 401);
    s.creds.policy.lock().unwrap().basic = true;
    assert_eq!(c.request(&new).await.status, 200);
    // Credentials without a generation are never trusted from memory.
    *s.creds.generation.lock().unwrap() = None;
    *s.creds.password.lock().unwrap() = "third".into();
    assert_eq!(c.request(&new).await.status, 401);
}

/// With a policy generation, a connection keeps its copy of the policy until the
/// generation changes; a new connection takes the policy in force.
#[tokio::test]
async fn a_connection_keeps_its_policy_until_the_policy_generation_changes() {
    let s = serve().await;
    *s.creds.policy_generation.lock().unwrap() = Some(1);
    let mut c = connect(s.http()).await;
    assert_eq!(c.request(&authed("")).await.status, 200);
    // Basic withdrawn under the same generation: this connection still has its copy...
    s.creds.policy.lock().unwrap().basic = false;
    assert_eq!(c.request(&authed("")).await.status, 200);
    // ... a new connection reads the policy as it is now...
    assert_eq!(one(s.http(), &authed("")).await.status, 401);
    // ... and a new generation reaches the kept connection too.
    *s.creds.policy_generation.lock().unwrap() = Some(2);
    let r = c.request(&authed("")).await;
    assert_eq!(r.status, 401);
    assert!(
        r.all("www-authenticate")
            .iter()
            .all(|c| c.starts_with("Digest"))
    );
}

#[tokio::test]
async fn policy_is_read_per_request() {
    let s = serve().await;
    s.creds.policy.lock().unwrap().basic = false;
    let r = one(s.http(), &authed("")).await;
    assert_eq!(r.status, 401, "Basic no longer offered");
    assert!(
        r.all("www-authenticate")
            .iter()
            .all(|c| c.starts_with("Digest"))
    );
}

/// The parameters of a Digest challenge.
fn challenge_params(challenge: &str) -> Vec<(String, String)> {
    let rest = challenge.strip_prefix("Digest ").unwrap();
    rest.split(", ")
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.trim_matches('"').to_owned())
        })
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap()
}

fn h(alg: &str, data: &str) -> String {
    let bytes: Vec<u8> = match alg {
        "MD5" => Md5::digest(data.as_bytes()).to_vec(),
        _ => Sha256::digest(data.as_bytes()).to_vec(),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An `Authorization: Digest ...` value per RFC 7616 §3.4.1 (qop=auth).
fn digest_authorization(
    challenge: &[(String, String)],
    user: &str,
    password: &str,
    uri: &str,
    nc: u32,
) -> String {
    let alg = param(challenge, "algorithm");
    let realm = param(challenge, "realm");
    let nonce = param(challenge, "nonce");
    let opaque = param(challenge, "opaque");
    let cnonce = "0a4f113b";
    let nc = format!("{nc:08x}");
    let ha1 = h(alg, &format!("{user}:{realm}:{password}"));
    let ha2 = h(alg, &format!("POST:{uri}"));
    let response = h(alg, &format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm={alg}, response=\"{response}\", opaque=\"{opaque}\", qop=auth, nc={nc}, \
         cnonce=\"{cnonce}\""
    )
}

async fn digest_handshake(alg: &str) {
    let s = serve().await;
    let mut c = connect(s.http()).await;
    let r = c.request(&post("")).await;
    assert_eq!(r.status, 401);
    let chosen = r
        .all("www-authenticate")
        .into_iter()
        .find(|v| v.contains(&format!("algorithm={alg},")))
        .map(challenge_params)
        .expect("challenge for the algorithm");
    assert_eq!(param(&chosen, "qop"), "auth");

    // Same connection: the 401 kept it alive.
    let auth = digest_authorization(&chosen, "admin", "admin", "/wsman", 1);
    let r = c
        .request(&post(&format!("Authorization: {auth}\r\n")))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.handler.last().user.as_deref(), Some("admin"));
    assert_eq!(s.entry(2).await.http().unwrap().auth, AuthOutcome::Digest);

    // The next nonce count on the same nonce is fine; repeating one is a replay.
    let auth2 = digest_authorization(&chosen, "admin", "admin", "/wsman", 2);
    let r = c
        .request(&post(&format!("Authorization: {auth2}\r\n")))
        .await;
    assert_eq!(r.status, 200);
    let r = c
        .request(&post(&format!("Authorization: {auth}\r\n")))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(s.entry(4).await.http().unwrap().auth, AuthOutcome::Replay);

    // A wrong password and a uri that is not this request's.
    let bad = digest_authorization(&chosen, "admin", "nope", "/wsman", 3);
    let r = c.request(&post(&format!("Authorization: {bad}\r\n"))).await;
    assert_eq!(r.status, 401);
    let other_uri = digest_authorization(&chosen, "admin", "admin", "/elsewhere", 4);
    let r = c
        .request(&post(&format!("Authorization: {other_uri}\r\n")))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn digest_md5_handshake_and_replay() {
    digest_handshake("MD5").await;
}

#[tokio::test]
async fn digest_sha256_handshake_and_replay() {
    digest_handshake("SHA-256").await;
}

#[tokio::test]
async fn expired_nonce_is_answered_stale() {
    let s = serve_with(|c| c.digest_nonce_lifetime = Duration::ZERO, 100).await;
    let r = one(s.http(), &post("")).await;
    let chosen = challenge_params(r.all("www-authenticate")[0]);
    let auth = digest_authorization(&chosen, "admin", "admin", "/wsman", 1);
    let r = one(s.http(), &post(&format!("Authorization: {auth}\r\n"))).await;
    assert_eq!(r.status, 401);
    assert!(r.all("www-authenticate")[0].ends_with("stale=true"));
    assert_eq!(s.entry(2).await.http().unwrap().auth, AuthOutcome::Stale);
}

#[tokio::test]
async fn unauthenticated_identify_reaches_the_handler_without_user() {
    let s = serve().await;
    let r = one(s.http(), &post("WSMANIDENTIFY: unauthenticated\r\n")).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.handler.last().user, None);
    assert_eq!(
        s.entry(1).await.http().unwrap().auth,
        AuthOutcome::UnauthenticatedIdentify
    );
    s.creds.policy.lock().unwrap().unauthenticated_identify = false;
    let r = one(s.http(), &post("WSMANIDENTIFY: unauthenticated\r\n")).await;
    assert_eq!(r.status, 401);
}

// ---------------------------------------------------------------- connections

#[tokio::test]
async fn keep_alive_serves_two_requests_on_one_connection() {
    let s = serve().await;
    let mut c = connect(s.http()).await;
    assert_eq!(c.request(&authed("")).await.status, 200);
    assert_eq!(c.request(&authed("")).await.status, 200);
    assert_eq!(s.handler.seen.lock().unwrap().len(), 2);
    let peers: Vec<_> = s.journal.entries().iter().map(|e| e.peer).collect();
    assert_eq!(peers[0], peers[1], "same connection");
}

#[tokio::test]
async fn reset_sends_rst() {
    let s = serve().await;
    let mut c = connect(s.http()).await;
    c.send(authed("x-outcome: reset\r\n").as_bytes()).await;
    let err = c.rest().await.expect_err("reset, not EOF");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    assert!(c.buf.is_empty());
    assert_eq!(s.entry(1).await.http().unwrap().outcome, OutcomeKind::Reset);
}

#[tokio::test]
async fn close_sends_eof_without_bytes() {
    let s = serve().await;
    let mut c = connect(s.http()).await;
    c.send(authed("x-outcome: close\r\n").as_bytes()).await;
    assert_eq!(c.rest().await.unwrap(), b"");
}

#[tokio::test]
async fn truncated_sends_less_than_content_length() {
    let s = serve().await;
    let mut c = connect(s.http()).await;
    c.send(authed("x-outcome: truncated\r\n").as_bytes()).await;
    let (status, headers) = c.head().await;
    assert_eq!(status, 200);
    assert!(headers.contains(&("content-length".into(), "100".into())));
    let body = c.rest().await.unwrap();
    assert_eq!(body, vec![b'x'; 10]);
    let h = s.entry(1).await.http().cloned().unwrap();
    assert_eq!((h.outcome, h.status), (OutcomeKind::Truncated, Some(200)));
}

#[tokio::test]
async fn garbage_sends_exactly_those_bytes() {
    let s = serve().await;
    let mut c = connect(s.http()).await;
    c.send(authed("x-outcome: garbage\r\n").as_bytes()).await;
    assert_eq!(c.rest().await.unwrap(), b"\x00\x01NOT HTTP\xff");
}

#[tokio::test]
async fn slow_drip_arrives_in_pieces_over_time() {
    let s = serve().await;
    let mut c = connect(s.http()).await;
    let t0 = Instant::now();
    c.send(authed("x-outcome: drip\r\n").as_bytes()).await;
    let (status, headers) = c.head().await;
    assert_eq!(status, 200);
    assert!(headers.contains(&("content-length".into(), "50".into())));
    let mut reads = 0;
    if !c.buf.is_empty() {
        reads += 1;
    }
    while c.buf.len() < 50 {
        assert!(c.fill().await.unwrap() > 0);
        reads += 1;
    }
    let elapsed = t0.elapsed();
    assert_eq!(c.buf, vec![b'd'; 50]);
    assert!(reads > 1, "one read held the whole body");
    // 5 chunks, 20 ms apart: at least 4 pauses.
    assert!(elapsed >= Duration::from_millis(80), "{elapsed:?}");
    assert!(elapsed < PATIENCE);
    // The connection is still usable afterwards.
    assert_eq!(c.request(&authed("")).await.status, 200);
}

#[tokio::test]
async fn delayed_reply_arrives_and_is_cancelled_when_the_client_leaves() {
    let s = serve().await;
    let r = one(s.http(), &authed("x-outcome: delay:30\r\n")).await;
    assert_eq!(r.text(), "late");

    let mut c = connect(s.http()).await;
    c.send(authed("x-outcome: delay:60000\r\n").as_bytes())
        .await;
    s.handler.wait_calls(2).await;
    drop(c);
    let e = s.entry(2).await;
    assert_eq!(e.http().unwrap().outcome, OutcomeKind::Cancelled);
    assert!(e.duration_ms < 60_000);
}

#[tokio::test]
async fn request_deadline_answers_503() {
    let s = serve_with(|c| c.request_timeout = Duration::from_millis(200), 100).await;
    let r = one(s.http(), &authed("x-outcome: delay:60000\r\n")).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        s.entry(1).await.http().unwrap().outcome,
        OutcomeKind::Timeout
    );
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let s = serve_with(|c| c.header_read_timeout = Duration::from_millis(200), 100).await;
    let mut c = connect(s.http()).await;
    c.send(b"POST /wsman HTTP/1.1\r\nHost: x\r\n").await;
    // hyper may or may not answer 408 first; either way the connection ends.
    let t0 = Instant::now();
    let _ = c.rest().await;
    assert!(t0.elapsed() < PATIENCE);
}

// ---------------------------------------------------------------- HTTPS

async fn tls_connect(s: &Server) -> Conn<tokio_rustls::client::TlsStream<TcpStream>> {
    let pem = s.running.cert_pem.clone().expect("generated certificate");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    // Deprecated since rustls 0.23.48 (no post-quantum key exchange); fine for a test.
    #[allow(deprecated)]
    let ring = rustls::crypto::ring::default_provider();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(ring))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(s.running.https.unwrap()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    Conn {
        stream: connector.connect(name, tcp).await.expect("TLS handshake"),
        buf: Vec::new(),
    }
}

#[tokio::test]
async fn https_works_with_the_generated_certificate_and_survives_bad_handshakes() {
    let s = serve().await;
    // Not TLS at all: the listener must shrug it off.
    let mut junk = connect(s.running.https.unwrap()).await;
    junk.send(b"GET / HTTP/1.1\r\n\r\n").await;
    let _ = junk.rest().await;

    let mut c = tls_connect(&s).await;
    let r = c.request(&authed("")).await;
    assert_eq!(r.status, 200);
    assert!(s.handler.last().tls);
    let e = s.entry(1).await;
    assert_eq!(e.protocol, "https");
    // Faults work through TLS too.
    c.send(authed("x-outcome: truncated\r\n").as_bytes()).await;
    let (status, _) = c.head().await;
    assert_eq!(status, 200);
    let rest = c
        .rest()
        .await
        .unwrap_or_else(|_| std::mem::take(&mut c.buf));
    assert!(rest.len() <= 10);
}

// ---------------------------------------------------------------- admin API

/// An admin request as curl sends it (`Host: localhost`: the admin API refuses other
/// names on a loopback listener).
fn admin_req(method: &str, path: &str, content_type: &str, body: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn admin_routes_delegate_and_report() {
    let s = serve().await;
    let admin = s.running.admin.unwrap();
    let mut c = connect(admin).await;
    let r = c
        .request(&admin_req("GET", "/health", "text/plain", ""))
        .await;
    assert_eq!((r.status, r.json()), (200, json!({ "ok": true })));
    let r = c
        .request(&admin_req("GET", "/state", "text/plain", ""))
        .await;
    assert_eq!(r.json()["power"], "on");

    one(s.http(), &authed("")).await;
    one(s.http(), &post("")).await;
    s.entry(2).await;
    let r = c
        .request(&admin_req("GET", "/journal", "text/plain", ""))
        .await;
    let entries = r.json();
    assert_eq!(entries.as_array().unwrap().len(), 2);
    assert_eq!(entries[0]["protocol"], "http");
    assert_eq!(entries[0]["detail"]["user"], "admin");
    assert_eq!(entries[0]["detail"]["rule"], "fake-rule");
    assert_eq!(entries[0]["detail"]["request_body"]["data"], ENVELOPE);
    assert_eq!(entries[1]["detail"]["status"], 401);
    let r = c
        .request(&admin_req("GET", "/journal?since=1", "text/plain", ""))
        .await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    let r = c
        .request(&admin_req("GET", "/journal?since=x", "text/plain", ""))
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .request(&admin_req("DELETE", "/journal", "text/plain", ""))
        .await;
    assert_eq!(r.json(), json!({ "cleared": 2 }));
    assert!(s.journal.is_empty());

    let r = c
        .request(&admin_req(
            "POST",
            "/sensors/CPU%20Temp",
            "application/json",
            r#"{"value": 41.5}"#,
        ))
        .await;
    assert_eq!((r.status, r.json()["value"].as_f64()), (200, Some(41.5)));
    let r = c
        .request(&admin_req(
            "POST",
            "/sensors/fan",
            "application/json",
            r#"{"value": null}"#,
        ))
        .await;
    assert_eq!(r.status, 200);
    let r = c
        .request(&admin_req(
            "POST",
            "/sensors/nope",
            "application/json",
            r#"{"value": 1}"#,
        ))
        .await;
    assert_eq!(
        (r.status, r.json()),
        (404, json!({ "error": "no sensor nope" }))
    );
    let r = c
        .request(&admin_req("POST", "/sensors/fan", "application/json", "{"))
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .request(&admin_req(
            "POST",
            "/power",
            "application/json",
            r#"{"action":"off"}"#,
        ))
        .await;
    assert_eq!(r.json(), json!({ "power": "off" }));
    let r = c
        .request(&admin_req(
            "POST",
            "/sel",
            "application/json",
            r#"{"sensor":"fan"}"#,
        ))
        .await;
    assert_eq!(r.status, 200);
    let r = c
        .request(&admin_req(
            "POST",
            "/scenario",
            "application/toml",
            "name = \"x\"\n",
        ))
        .await;
    assert_eq!(r.json(), json!({ "loaded": true }));
    let r = c
        .request(&admin_req("POST", "/scenario", "image/png", "x"))
        .await;
    assert_eq!(r.status, 415);
    assert_eq!(
        *s.admin.calls.lock().unwrap(),
        [
            "sensor CPU Temp Some(41.5)",
            "sensor fan None",
            "sensor nope Some(1.0)",
            "power off",
            "sel {\"sensor\":\"fan\"}",
            "scenario name = \"x\"\n",
        ]
    );

    let r = c
        .request(&admin_req("GET", "/nowhere", "text/plain", ""))
        .await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].is_string());
    let r = c
        .request(&admin_req("POST", "/health", "text/plain", ""))
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
}

// ---------------------------------------------------------------- journal and shutdown

#[tokio::test]
async fn journal_keeps_only_its_capacity() {
    let s = serve_with(|_| {}, 3).await;
    let mut c = connect(s.http()).await;
    for _ in 0..5 {
        assert_eq!(c.request(&authed("")).await.status, 200);
    }
    s.entry(5).await;
    let seqs: Vec<u64> = s.journal.entries().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [3, 4, 5]);
    let h = s.journal.entries()[0].http().cloned().unwrap();
    assert_eq!(h.operation.as_deref(), Some("Get"));
    let len = h.response_body.as_ref().unwrap().len;
    assert_eq!(len, "ok user=Some(\"admin\") len=13".len());
    assert!(
        h.response_headers
            .contains(&("content-length".into(), len.to_string().into()))
    );
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_and_frees_the_ports() {
    let s = serve().await;
    let (http, https, admin) = (s.http(), s.running.https.unwrap(), s.running.admin.unwrap());
    // An idle keep-alive connection and one with a request in flight.
    let mut idle = connect(http).await;
    assert_eq!(idle.request(&authed("")).await.status, 200);
    let mut busy = connect(http).await;
    busy.send(authed("x-outcome: delay:100\r\n").as_bytes())
        .await;
    s.handler.wait_calls(2).await;

    let t0 = Instant::now();
    s.running.shutdown().await;
    assert!(t0.elapsed() < PATIENCE);
    let r = busy.response().await;
    assert_eq!(r.text(), "late");
    assert_eq!(idle.rest().await.unwrap(), b"", "idle connection closed");
    for addr in [http, https, admin] {
        std::net::TcpListener::bind(addr).expect("port released");
    }
}

/// Issue 13: a body that does not come after its headers is answered 408 within the
/// body deadline and the connection closed, instead of holding it for the whole
/// request deadline.
#[tokio::test]
async fn a_slow_body_is_answered_408_and_closed() {
    let s = serve_with(
        |c| c.body_read_timeout = std::time::Duration::from_millis(200),
        1000,
    )
    .await;
    let mut c = connect(s.http()).await;
    c.send(
        format!(
            "POST /wsman HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: {SOAP}\r\nContent-Length: 100\r\n\r\n<s:Env",
            basic("admin", "admin")
        )
        .as_bytes(),
    )
    .await;
    let r = c.response().await;
    assert_eq!(r.status, 408);
    assert!(
        c.rest().await.unwrap_or_default().is_empty(),
        "then the connection closes"
    );
    assert!(
        s.handler.seen.lock().unwrap().is_empty(),
        "the handler never saw it"
    );
}

/// Issue 13: one listener serves at most `max_connections` at once; one more is closed
/// at once, and the ones being served are not disturbed.
#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let s = serve_with(|c| c.max_connections = 2, 1000).await;
    let mut first = connect(s.http()).await;
    let mut second = connect(s.http()).await;
    // Both are being served (each answers), so both hold a slot.
    assert_eq!(first.request(&authed("")).await.status, 200);
    assert_eq!(second.request(&authed("")).await.status, 200);
    let mut third = connect(s.http()).await;
    let _ = third.stream.write_all(authed("").as_bytes()).await;
    let got = third.rest().await.unwrap_or_default();
    assert!(
        got.is_empty(),
        "the third connection is closed without an answer"
    );
    assert_eq!(
        first.request(&authed("")).await.status,
        200,
        "the first still works"
    );
}
