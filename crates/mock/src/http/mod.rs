//! The HTTP face of the mock: listeners (HTTP, HTTPS), request size limits,
//! authentication, transport faults, and the journal of what came and went. It knows
//! nothing of WS-Management: it hands each authenticated POST to a [`WsmanHandler`]
//! and carries out the [`Outcome`] it gets back, including the deliberate failures a
//! scenario asks for.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A request as the WS-Man handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method (POST: the HTTP layer answers any other with 405 itself).
    pub method: Cow<'static, str>,
    /// Request path (`/wsman`).
    pub path: Arc<str>,
    /// The headers as they arrived (the journal copies them).
    pub headers: Headers,
    /// The whole body (already bounded by the size limit; the journal copies it).
    pub body: bytes::Bytes,
    /// The peer.
    pub peer: SocketAddr,
    /// Whether it came over TLS.
    pub tls: bool,
    /// The authenticated user, if any.
    pub user: Option<Arc<str>>,
}

impl Request {
    /// The first header called `name` (lower-case), as text (see [`Headers::get`]).
    pub fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.headers.get(name)
    }

    /// [`Request::header`] by a name constant (no parse of the name: the hot path's).
    pub(crate) fn header_named(&self, name: &http::HeaderName) -> Option<Cow<'_, str>> {
        self.headers.get_named(name)
    }
}

/// A request's headers as they arrived: names lower-case, values as sent. hyper's own
/// map, shared by the HTTP layer and the handler without a copy (a header value is a
/// slice of the buffer the request was read into); the journal copies their bytes.
///
/// In order of each name's first appearance; the values of a name that occurs more
/// than once are together, in the order they came.
#[derive(Clone, Default)]
pub struct Headers(Repr);

#[derive(Clone)]
enum Repr {
    /// hyper's map (its values slices of the buffer the request was read into).
    Map(Arc<http::HeaderMap>),
    /// A copy in one buffer ([`Headers::from_lines`]: the journal's copy, read back).
    Lines(Arc<Lines>),
}

impl Default for Repr {
    fn default() -> Repr {
        Repr::Map(Arc::default())
    }
}

/// The headers as `name:value\n` lines (a name holds no `:`, a value no line break,
/// as hyper reads them), and the map built from them if asked for.
struct Lines {
    text: Box<[u8]>,
    map: std::sync::OnceLock<http::HeaderMap>,
}

impl Lines {
    fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.text
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| {
                let colon = line.iter().position(|b| *b == b':').unwrap_or(line.len());
                (&line[..colon], line.get(colon + 1..).unwrap_or_default())
            })
    }

    fn map(&self) -> &http::HeaderMap {
        self.map.get_or_init(|| {
            let mut map = http::HeaderMap::new();
            for (name, value) in self.pairs() {
                // Each pair came out of a valid map.
                if let (Ok(n), Ok(v)) = (
                    http::HeaderName::from_bytes(name),
                    http::HeaderValue::from_bytes(value),
                ) {
                    map.append(n, v);
                }
            }
            map
        })
    }
}

impl Headers {
    /// Headers from hyper's map.
    pub fn new(map: http::HeaderMap) -> Headers {
        Headers(Repr::Map(Arc::new(map)))
    }

    /// Headers from (name, value) pairs; a pair that is not a valid header is an error
    /// that names it.
    pub fn from_pairs<'p>(
        pairs: impl IntoIterator<Item = (&'p str, &'p str)>,
    ) -> Result<Headers, String> {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("header name {name:?}: {e}"))?;
            let value = http::HeaderValue::from_str(value)
                .map_err(|e| format!("header {name}: value {value:?}: {e}"))?;
            map.append(name, value);
        }
        Ok(Headers::new(map))
    }

    /// Headers from `name:value\n` lines, as [`Headers::write_lines`] writes them.
    pub(crate) fn from_lines(text: Box<[u8]>) -> Headers {
        Headers(Repr::Lines(Arc::new(Lines {
            text,
            map: std::sync::OnceLock::new(),
        })))
    }

    /// The headers as `name:value\n` lines, their bytes as sent, in pieces to `out`.
    pub(crate) fn write_lines(&self, out: &mut dyn FnMut(&[u8])) {
        match &self.0 {
            Repr::Map(map) => {
                for (n, v) in map.iter() {
                    out(n.as_str().as_bytes());
                    out(b":");
                    out(v.as_bytes());
                    out(b"\n");
                }
            }
            Repr::Lines(lines) => out(&lines.text),
        }
    }

    /// How many bytes [`Headers::write_lines`] writes.
    pub(crate) fn lines_len(&self) -> usize {
        match &self.0 {
            Repr::Map(map) => map
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len() + 2)
                .sum(),
            Repr::Lines(lines) => lines.text.len(),
        }
    }

    /// The first value of `name` (lower-case) as text: bytes that are not UTF-8 are
    /// replaced, as everywhere the mock shows a header.
    pub fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        match &self.0 {
            Repr::Map(map) => map.get(name).map(|v| String::from_utf8_lossy(v.as_bytes())),
            Repr::Lines(lines) => lines
                .pairs()
                .find(|(n, _)| *n == name.as_bytes())
                .map(|(_, v)| String::from_utf8_lossy(v)),
        }
    }

    /// [`Headers::get`] by a name constant, which the map finds without parsing it.
    pub(crate) fn get_named(&self, name: &http::HeaderName) -> Option<Cow<'_, str>> {
        match &self.0 {
            Repr::Map(map) => map.get(name).map(|v| String::from_utf8_lossy(v.as_bytes())),
            Repr::Lines(_) => self.get(name.as_str()),
        }
    }

    /// Every (name, value) pair, values as text as in [`Headers::get`].
    pub fn iter(&self) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
        let (map, lines) = match &self.0 {
            Repr::Map(map) => (Some(map.iter()), None),
            Repr::Lines(lines) => (None, Some(lines.pairs())),
        };
        let from_map = map
            .into_iter()
            .flatten()
            .map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v.as_bytes())));
        // Names are ASCII (hyper's `HeaderName`s, copied).
        let from_lines = lines.into_iter().flatten().map(|(n, v)| {
            (
                std::str::from_utf8(n).unwrap_or_default(),
                String::from_utf8_lossy(v),
            )
        });
        from_map.chain(from_lines)
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Map(map) => map.len(),
            Repr::Lines(lines) => lines.pairs().count(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// hyper's map itself (for headers read back from the journal, a map built once).
    pub fn map(&self) -> &http::HeaderMap {
        match &self.0 {
            Repr::Map(map) => map,
            Repr::Lines(lines) => lines.map(),
        }
    }

    /// Sets `name` to `value` alone (copying the map only if it is shared).
    pub(crate) fn set(&mut self, name: http::HeaderName, value: http::HeaderValue) {
        if let Repr::Lines(lines) = &self.0 {
            self.0 = Repr::Map(Arc::new(lines.map().clone()));
        }
        if let Repr::Map(map) = &mut self.0 {
            Arc::make_mut(map).insert(name, value);
        }
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// As a list of `[name, value]` pairs, the shape the journal has always had.
impl serde::Serialize for Headers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// A header's name and value, each borrowed when it is a constant.
pub type HeaderPair = (Cow<'static, str>, Cow<'static, str>);

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Extra headers (Content-Type among them): the usual names and values borrowed,
    /// so that an answer allocates none for them.
    pub headers: Vec<HeaderPair>,
    /// Body (the journal copies what it keeps of it).
    pub body: bytes::Bytes,
}

/// What to do with a request: answer it, or fail in a chosen way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answer normally.
    Reply(Reply),
    /// Wait, then carry out the inner outcome.
    Delayed(Duration, Box<Outcome>),
    /// Reset the TCP connection (RST) without answering.
    Reset,
    /// Close the connection without answering.
    Close,
    /// Send the status line and headers (with the full Content-Length) and only the
    /// first `keep` bytes of the body, then close.
    Truncated {
        /// The answer that is cut short.
        reply: Reply,
        /// Body bytes actually sent.
        keep: usize,
    },
    /// Send these raw bytes instead of an HTTP response, then close.
    Garbage(Vec<u8>),
    /// Send the answer `chunk` bytes at a time with `interval` between chunks.
    SlowDrip {
        /// The answer.
        reply: Reply,
        /// Bytes per write.
        chunk: usize,
        /// Pause between writes.
        interval: Duration,
    },
}

/// The handler's answer plus what the journal should record about it.
#[derive(Debug, Clone)]
pub struct Handled {
    /// What to do.
    pub outcome: Outcome,
    /// The scenario rule that matched, if any.
    pub rule: Option<String>,
    /// The operation as the handler understood it (`Get`, `Enumerate`, ...).
    pub operation: Option<Cow<'static, str>>,
}

/// The boxed future a handler returns.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Handled> + Send + 'a>>;

/// Handles WS-Man requests (implemented by the service layer).
pub trait WsmanHandler: Send + Sync + 'static {
    /// Handles one authenticated POST (or one let through without credentials by
    /// [`AuthPolicy::unauthenticated_identify`], which the handler answers only if it
    /// is an Identify; its 401 for anything else gets the HTTP layer's challenges: a
    /// handler never sets `WWW-Authenticate`).
    fn handle(&self, req: Request) -> HandlerFuture<'_>;
}

/// Where passwords and the authentication policy come from (the scenario; both may
/// change when the admin API loads another scenario).
pub trait Credentials: Send + Sync + 'static {
    /// The password of an enabled user.
    fn password(&self, user: &str) -> Option<String>;
    /// The schemes to offer now (shared: the HTTP layer asks on every request).
    fn policy(&self) -> Arc<AuthPolicy>;
    /// A number that changes whenever the passwords or the policy may have changed, or
    /// `None` (the default) when there is none: with it, a connection that proved a
    /// Basic `Authorization` header is not made to prove the same header again (one
    /// hash of each side per request saved) until the number changes. Asked on every
    /// request: it should be cheap.
    fn generation(&self) -> Option<u64> {
        None
    }

    /// A number that changes whenever the policy may have changed, or `None` (the
    /// default): with it, each connection keeps its own copy of the policy until the
    /// number changes, instead of asking [`Credentials::policy`] on every request.
    /// Asked on every request: it should be cheap.
    fn policy_generation(&self) -> Option<u64> {
        None
    }
}

/// A Digest algorithm offered in `WWW-Authenticate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum DigestAlgorithm {
    /// MD5 (what Intel AMT and most clients use).
    #[serde(rename = "MD5")]
    Md5,
    /// SHA-256 (RFC 7616).
    #[serde(rename = "SHA-256")]
    Sha256,
}

/// Which authentication schemes are offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPolicy {
    /// Offer Basic.
    pub basic: bool,
    /// Offer Digest with these algorithms (empty: no Digest).
    pub digest: Vec<DigestAlgorithm>,
    /// Offer `Negotiate` with raw NTLMv2 tokens (also accepted under the `NTLM` scheme
    /// name), with WinRM message encryption on plain HTTP.
    pub negotiate: bool,
    /// Over plain HTTP, accept authenticated SOAP bodies that are not sealed by an NTLM
    /// session (WinRM's `AllowUnencrypted`); when false they get 401. HTTPS is exempt.
    pub allow_unencrypted: bool,
    /// The realm.
    pub realm: String,
    /// Let a request with the header `WSMANIDENTIFY: unauthenticated` through without
    /// credentials (the handler then answers Identify only, without SecurityProfiles).
    pub unauthenticated_identify: bool,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy {
            basic: true,
            digest: vec![DigestAlgorithm::Md5, DigestAlgorithm::Sha256],
            negotiate: false,
            allow_unencrypted: true,
            realm: "Touchstone".into(),
            unauthenticated_identify: true,
        }
    }
}

impl AuthPolicy {
    /// Whether any scheme is offered (if none, everyone is let in without a user).
    pub fn offers_any(&self) -> bool {
        self.basic || !self.digest.is_empty() || self.negotiate
    }
}

mod auth;
mod deadline;
mod ntlm;
pub mod server;
mod tls;

pub use server::{Running, ServerConfig, TlsSource, start};

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Headers {
        let mut map = http::HeaderMap::new();
        map.append("host", http::HeaderValue::from_static("127.0.0.1:5985"));
        map.append("x-many", http::HeaderValue::from_static("one"));
        map.append("content-type", http::HeaderValue::from_static("text/xml"));
        map.append("x-many", http::HeaderValue::from_static("two"));
        map.append(
            "x-latin",
            http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        Headers::new(map)
    }

    #[test]
    fn a_header_found_by_its_name_constant_is_the_one_found_by_text() {
        let mut lines = Vec::new();
        sample().write_lines(&mut |b| lines.extend_from_slice(b));
        let compact = Headers::from_lines(lines.into_boxed_slice());
        let many = http::HeaderName::from_static("x-many");
        for h in [sample(), compact] {
            let ct = http::header::CONTENT_TYPE;
            assert_eq!(h.get_named(&ct).as_deref(), Some("text/xml"));
            assert_eq!(
                h.get_named(&many).as_deref(),
                Some("one"),
                "the first value"
            );
            assert_eq!(h.get_named(&http::header::AUTHORIZATION), None);
        }
    }

    #[test]
    fn headers_read_as_text_in_order_with_repeats_together() {
        let h = sample();
        assert_eq!(h.get("content-type").as_deref(), Some("text/xml"));
        assert_eq!(h.get("x-many").as_deref(), Some("one"), "the first value");
        assert_eq!(h.get("absent"), None);
        assert_eq!(h.get("x-latin").as_deref(), Some("caf\u{fffd}"), "lossy");
        let pairs: Vec<(String, String)> = h
            .iter()
            .map(|(n, v)| (n.to_owned(), v.into_owned()))
            .collect();
        let want = [
            ("host", "127.0.0.1:5985"),
            ("x-many", "one"),
            ("x-many", "two"),
            ("content-type", "text/xml"),
            ("x-latin", "caf\u{fffd}"),
        ];
        assert_eq!(
            pairs,
            want.map(|(n, v)| (n.to_owned(), v.to_owned())).to_vec()
        );
        assert_eq!((h.len(), h.is_empty()), (5, false));
        assert_eq!(
            h.map().get_all("x-many").iter().count(),
            2,
            "hyper's map itself"
        );
        assert!(Headers::default().is_empty());
        assert_eq!(
            format!("{:?}", Headers::from_pairs([("a", "b")]).unwrap()),
            r#"[("a", "b")]"#
        );
    }

    #[test]
    fn a_request_reads_its_headers() {
        let req = Request {
            method: "POST".into(),
            path: "/wsman".into(),
            headers: sample(),
            body: bytes::Bytes::new(),
            peer: "127.0.0.1:1".parse().unwrap(),
            tls: false,
            user: None,
        };
        assert_eq!(req.header("content-type").as_deref(), Some("text/xml"));
        assert_eq!(req.header("x-many").as_deref(), Some("one"));
        assert_eq!(req.header("absent"), None);
    }

    #[test]
    fn headers_serialize_as_the_pairs_the_journal_always_had() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                ["host", "127.0.0.1:5985"],
                ["x-many", "one"],
                ["x-many", "two"],
                ["content-type", "text/xml"],
                ["x-latin", "caf\u{fffd}"],
            ])
        );
    }

    /// The headers as the journal keeps them, written as lines and read back (what
    /// `compact` below does), answer every question as the map they came from: order,
    /// repeats, replaced bytes, counts, the map itself and its JSON; setting a header
    /// on them works as on a map; and they hold none of the map's buffers.
    #[test]
    fn headers_written_as_lines_read_as_the_map_they_came_from() {
        let compact = |h: &Headers| {
            let mut text = Vec::new();
            h.write_lines(&mut |b| text.extend_from_slice(b));
            assert_eq!(text.len(), h.lines_len());
            Headers::from_lines(text.into_boxed_slice())
        };
        let original = sample();
        let copy = compact(&original);
        assert!(matches!(copy.0, super::Repr::Lines(_)));
        let pairs = |h: &Headers| -> Vec<(String, String)> {
            h.iter()
                .map(|(n, v)| (n.to_owned(), v.into_owned()))
                .collect()
        };
        assert_eq!(pairs(&copy), pairs(&original));
        for name in ["host", "x-many", "content-type", "x-latin", "absent"] {
            assert_eq!(copy.get(name), original.get(name), "{name}");
        }
        assert_eq!((copy.len(), copy.is_empty()), (5, false));
        assert_eq!(copy.map(), original.map());
        assert_eq!(format!("{copy:?}"), format!("{original:?}"));
        assert_eq!(
            serde_json::to_value(&copy).unwrap(),
            serde_json::to_value(&original).unwrap()
        );
        assert!(compact(&Headers::default()).is_empty());
        // A copy of a copy is the same copy.
        let again = compact(&copy);
        assert_eq!(pairs(&again), pairs(&original));
        let mut set = copy.clone();
        set.set(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/soap+xml"),
        );
        assert_eq!(
            set.get("content-type").as_deref(),
            Some("application/soap+xml")
        );
        assert_eq!(set.get("x-many").as_deref(), Some("one"));
        assert_eq!(copy.get("content-type").as_deref(), Some("text/xml"));
    }

    #[test]
    fn headers_from_pairs_refuse_what_is_not_a_header() {
        let h = Headers::from_pairs([("Content-Type", "a/b"), ("x", "1")]).unwrap();
        assert_eq!(h.get("content-type").as_deref(), Some("a/b"), "names fold");
        let e = Headers::from_pairs([("bad name", "v")]).unwrap_err();
        assert!(e.contains("\"bad name\""), "{e}");
        let e = Headers::from_pairs([("x", "line\nbreak")]).unwrap_err();
        assert!(e.contains("header x") && e.contains("line\\nbreak"), "{e}");
    }

    #[test]
    fn setting_a_header_copies_a_shared_map_and_leaves_the_other_handle() {
        let original = sample();
        let mut changed = original.clone();
        changed.set(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/soap+xml"),
        );
        changed.set(
            http::HeaderName::from_static("x-many"),
            http::HeaderValue::from_static("only"),
        );
        assert_eq!(
            changed.get("content-type").as_deref(),
            Some("application/soap+xml")
        );
        assert_eq!(changed.iter().filter(|(n, _)| *n == "x-many").count(), 1);
        assert_eq!(original.get("content-type").as_deref(), Some("text/xml"));
        assert_eq!(original.len(), 5);
    }
}
