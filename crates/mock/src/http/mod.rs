//! The HTTP face of the mock: listeners (HTTP, HTTPS), request size limits,
//! authentication, transport faults, and the journal of what came and went. It knows
//! nothing of WS-Management: it hands each authenticated POST to a [`WsmanHandler`]
//! and carries out the [`Outcome`] it gets back, including the deliberate failures a
//! scenario asks for.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

/// A request as the WS-Man handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method (POST: the HTTP layer answers any other with 405 itself).
    pub method: String,
    /// Request path (`/wsman`).
    pub path: String,
    /// Header (name lower-cased, value), in order.
    pub headers: std::sync::Arc<Vec<(String, String)>>,
    /// The whole body (already bounded by the size limit), shared with the journal.
    pub body: bytes::Bytes,
    /// The peer.
    pub peer: SocketAddr,
    /// Whether it came over TLS.
    pub tls: bool,
    /// The authenticated user, if any.
    pub user: Option<String>,
}

impl Request {
    /// The first header called `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Extra headers (Content-Type among them).
    pub headers: Vec<(String, String)>,
    /// Body (shared with the journal, which keeps it without a copy).
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
    pub operation: Option<String>,
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
    /// The schemes to offer now.
    fn policy(&self) -> AuthPolicy;
    /// A number that changes whenever the passwords or the policy may have changed, or
    /// `None` (the default) when there is none: with it, a connection that proved a
    /// Basic `Authorization` header is not made to prove the same header again (one
    /// hash of each side per request saved) until the number changes.
    fn generation(&self) -> Option<u64> {
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
mod ntlm;
pub mod server;
mod tls;

pub use server::{Running, ServerConfig, TlsSource, start};
