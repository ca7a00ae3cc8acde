//! Errors of the client: why no HTTP answer could be had. An answer that is an error
//! (a 401, a 500 with a SOAP fault, a body that is not XML) is not a [`ClientError`]: it
//! is an [`crate::Exchange`] for the caller to judge.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// What the client was doing when a deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Resolving the host name.
    Resolve,
    /// Opening the TCP connection.
    Connect,
    /// The TLS handshake.
    TlsHandshake,
    /// Sending the request and waiting for or reading the answer.
    Exchange,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Resolve => "resolving the host",
            Phase::Connect => "connecting",
            Phase::TlsHandshake => "in the TLS handshake",
            Phase::Exchange => "waiting for the answer",
        })
    }
}

impl Phase {
    pub(crate) fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Resolve,
            1 => Phase::Connect,
            2 => Phase::TlsHandshake,
            _ => Phase::Exchange,
        }
    }

    pub(crate) fn as_u8(self) -> u8 {
        match self {
            Phase::Resolve => 0,
            Phase::Connect => 1,
            Phase::TlsHandshake => 2,
            Phase::Exchange => 3,
        }
    }
}

/// Why a request got no HTTP answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The target URL cannot be used (not `http`/`https`, no host, not a URL).
    #[error("invalid target URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The host name did not resolve to any address.
    #[error("cannot resolve `{host}`: {source}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// The TCP connection could not be opened (refused, network unreachable...).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The last address tried.
        addr: SocketAddr,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed (untrusted certificate, wrong name, no common
    /// protocol version, the peer does not speak TLS...).
    #[error("TLS handshake with {addr} failed: {source}")]
    Tls {
        /// The peer.
        addr: SocketAddr,
        /// The handshake error (a `rustls::Error` inside, where rustls raised it).
        #[source]
        source: io::Error,
    },
    /// The TLS configuration cannot be built (an unreadable or empty CA file).
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    /// The deadline passed before the final answer was complete.
    #[error("no complete answer within {after:?} ({phase})")]
    Timeout {
        /// The deadline that passed.
        after: Duration,
        /// What the client was doing then.
        phase: Phase,
    },
    /// The HTTP exchange failed: the connection closed before the request could be
    /// sent, or what came back was not HTTP/1.x. A closed connection is worded as
    /// [`CLOSED_WITHOUT_ANSWER`].
    #[error("{}", describe(.0))]
    Http(#[source] hyper::Error),
    /// The request could not be built (an invalid method, header name or value).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The answer's body was larger than the client accepts.
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The credentials cannot be sent with the scheme the target asks for.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The connection closed (or was reset) before any answer came. The client
    /// returns such a request as an [`crate::Exchange`] with its `error` set, so that
    /// the request transcript is kept; [`crate::Exchange::answered`] turns it into this
    /// error for callers that need an answer to go on.
    #[error("{reason}")]
    NoAnswer {
        /// Why no answer came ([`CLOSED_WITHOUT_ANSWER`] when the target closed or
        /// reset the connection).
        reason: String,
    },
}

/// What a request whose connection the target closed or reset before answering says:
/// a server that crashes on a request does this.
pub const CLOSED_WITHOUT_ANSWER: &str =
    "the connection closed without an answer (the server may have crashed)";

impl ClientError {
    /// Whether the target could not be reached at all: the name did not resolve, the
    /// connection was refused or timed out, or the TLS handshake failed. The CLI maps
    /// this to exit code 3; every other error is a harness or target failure.
    pub fn is_unreachable(&self) -> bool {
        match self {
            ClientError::Resolve { .. } | ClientError::Connect { .. } | ClientError::Tls { .. } => {
                true
            }
            ClientError::Timeout { phase, .. } => *phase != Phase::Exchange,
            _ => false,
        }
    }

    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Timeout { .. })
    }

    /// Whether the target was reached but gave no answer: the deadline passed, or the
    /// connection closed or failed before a complete answer.
    pub fn is_unanswered(&self) -> bool {
        matches!(
            self,
            ClientError::Timeout { .. } | ClientError::Http(_) | ClientError::NoAnswer { .. }
        )
    }
}

/// Why credentials could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Basic authentication cannot carry a user name with a colon (RFC 7617 §2).
    #[error("user name `{user}` contains a colon, which Basic authentication cannot carry")]
    ColonInUser {
        /// The user name.
        user: String,
    },
}

/// A hyper error with its causes, for an exchange's `error` and [`ClientError::Http`].
/// A connection the target closed or reset before any answer is worded as
/// [`CLOSED_WITHOUT_ANSWER`]: that is what a server that crashed on the request looks
/// like from here.
pub(crate) fn describe(e: &hyper::Error) -> String {
    let mut causes = String::new();
    let mut reset = false;
    let mut source = std::error::Error::source(e);
    while let Some(c) = source {
        if let Some(io) = c.downcast_ref::<io::Error>() {
            reset |= matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            );
        }
        causes.push_str(": ");
        causes.push_str(&c.to_string());
        source = c.source();
    }
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        // hyper's own words add nothing to "closed without an answer". (Canceled is
        // hyper's "connection was not ready": the peer closed it before the request
        // could even be sent.)
        CLOSED_WITHOUT_ANSWER.to_owned()
    } else if reset {
        // Keep the socket's words (`Connection reset by peer`).
        format!("{CLOSED_WITHOUT_ANSWER}{causes}")
    } else {
        format!("HTTP exchange failed: {e}{causes}")
    }
}
