//! # client: WS-Management over HTTP, with the wire kept for the report
//!
//! The client the conformance suite uses to talk to its subject, whatever it is: a real
//! BMC, Windows WinRM, openwsman, or Touchstone's own mock. It speaks only over the wire
//! (HTTP/1.1 or HTTPS with rustls) and leaves envelopes to the sans-IO [`wsman`] crate.
//!
//! Architecture invariant: this crate depends on `wsman` and never on `mock` or
//! `machine`, not even for its tests; its tests start tiny servers of their own.
//!
//! What it adds to a plain HTTP client is what a conformance harness needs:
//! - every HTTP round trip is recorded as a [`Transcript`] (the 401 leg of an
//!   authentication too), with secrets redacted, ready to embed in a report;
//! - Basic and Digest (RFC 7617, RFC 7616) authentication, answered the way real
//!   clients do, including a stale Digest nonce;
//! - a hard deadline on every request: a server that accepts and never answers yields
//!   [`ClientError::Timeout`], never a hang;
//! - errors that tell "the target is unreachable" ([`ClientError::is_unreachable`])
//!   apart from "the target answered badly", so the CLI can exit with code 3.
//!
//! ```no_run
//! # async fn demo() -> Result<(), client::ClientError> {
//! use client::{Client, Target};
//! let client = Client::new(Target::new("http://127.0.0.1:5985/wsman").credentials("admin", "admin"))?;
//! let get = client
//!     .request("http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem")
//!     .selector("Name", "host")
//!     .get();
//! let exchange = client.send(&get).await?;
//! if let Some(fault) = exchange.fault() {
//!     println!("fault {}", fault.subcode.unwrap_or_default());
//! }
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod build;
mod client;
mod conn;
pub mod error;
pub mod eventing;
pub mod exchange;
pub mod ipmi;
pub mod psrp;
pub mod sink;
mod tls;

use std::path::PathBuf;
use std::time::Duration;

pub use client::{Client, RawRequest, SOAP_CONTENT_TYPE};
pub use error::{AuthError, CLOSED_WITHOUT_ANSWER, ClientError, Phase};
pub use exchange::{Exchange, FaultSummary, Leg, ResponseTranscript, Transcript};

/// The endpoint to talk to and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http://host[:port][/path]` or `https://...`. A URL with no path at all gets
    /// `/wsman`, the path every implementation serves.
    pub url: String,
    /// User name for Basic or Digest authentication.
    pub user: Option<String>,
    /// Password for Basic or Digest authentication.
    pub password: Option<String>,
    /// Which authentication scheme to use when the target asks for one.
    pub auth: AuthScheme,
    /// How HTTPS server certificates are checked.
    pub tls: TlsOptions,
    /// Deadline of one [`Client::send_raw`] call, from the first connect to the last
    /// byte of the final response (authentication retries included).
    pub timeout: Duration,
    /// Whether connections are kept alive and reused.
    pub connection: ConnectionMode,
}

impl Target {
    /// A target at `url` with no credentials, certificate checks against no root (set
    /// [`TlsOptions`] for HTTPS), a 30 s deadline and keep-alive connections.
    pub fn new(url: impl Into<String>) -> Target {
        Target {
            url: url.into(),
            user: None,
            password: None,
            auth: AuthScheme::Auto,
            tls: TlsOptions::default(),
            timeout: Duration::from_secs(30),
            connection: ConnectionMode::KeepAlive,
        }
    }

    /// The same target with a user and password.
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Target {
        self.user = Some(user.into());
        self.password = Some(password.into());
        self
    }

    /// The same target with another per-request deadline.
    pub fn timeout(mut self, timeout: Duration) -> Target {
        self.timeout = timeout;
        self
    }

    /// The same target accepting any server certificate (see [`TlsOptions::insecure`]).
    pub fn insecure(mut self) -> Target {
        self.tls.insecure = true;
        self
    }

    /// The same target trusting exactly the certificates of this PEM.
    pub fn ca_pem(mut self, pem: CaPem) -> Target {
        self.tls.ca_pem = Some(pem);
        self
    }

    /// The same target with another authentication preference.
    pub fn auth(mut self, auth: AuthScheme) -> Target {
        self.auth = auth;
        self
    }

    /// The same target opening a new connection for every HTTP round trip.
    pub fn fresh_connections(mut self) -> Target {
        self.connection = ConnectionMode::Fresh;
        self
    }
}

/// How HTTPS server certificates are checked. Only HTTP/1.1 is offered (by ALPN).
///
/// There is no platform root store: management endpoints almost always present
/// self-signed or private-CA certificates, so the choice is explicit. With neither
/// option set, every HTTPS handshake fails with an unknown-issuer error.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsOptions {
    /// Accept any certificate, for any name (the CLI's `--insecure`). The handshake
    /// signatures are still checked, so the connection is encrypted; it is simply not
    /// authenticated.
    pub insecure: bool,
    /// Trust exactly the certificates in this PEM (a CA, or the server's own
    /// self-signed certificate).
    pub ca_pem: Option<CaPem>,
}

/// Where a PEM bundle of trusted certificates comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaPem {
    /// A file to read when the client is made.
    Path(PathBuf),
    /// The PEM text itself.
    Text(String),
}

/// Which authentication scheme answers a `401`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuthScheme {
    /// The strongest scheme the target offers: Digest SHA-256, then Digest MD5, then
    /// Basic. Once the target's offer is known the client authenticates preemptively
    /// (Basic directly, Digest with the last nonce and the next nonce count).
    #[default]
    Auto,
    /// Basic only, sent preemptively from the first request (as pywinrm does).
    Basic,
    /// Digest only (the strongest algorithm offered).
    Digest,
}

/// Whether connections are reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectionMode {
    /// Keep connections alive and reuse idle ones (up to a few per client).
    #[default]
    KeepAlive,
    /// A new connection for every HTTP round trip, closed after it: for cases that
    /// test connection handling or must not share state with earlier requests.
    Fresh,
}
