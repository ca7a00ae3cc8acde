//! Connections: the target URL taken apart, TCP and TLS connects with errors that say
//! which step failed, hyper HTTP/1.1 handshakes, and a small pool of idle
//! keep-alive connections.
//!
//! The pool is ours rather than hyper-util's legacy client so that each step's failure
//! keeps its own error (refused, TLS, HTTP), each transcript can say which connection
//! carried it, and a fresh-connection mode is one flag.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::error::{ClientError, Phase};

/// Most idle connections kept per client.
const MAX_IDLE: usize = 4;

/// The target URL, taken apart once.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The URL with its path (`/wsman` added when it had none).
    pub(crate) url: String,
    pub(crate) https: bool,
    /// Host without IPv6 brackets, for resolving and for TLS.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `host[:port]` as written, for the `Host` header.
    pub(crate) authority: String,
    /// Path and query, the request-target.
    pub(crate) path: String,
}

impl Endpoint {
    pub(crate) fn parse(url: &str) -> Result<Endpoint, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: http::Uri =
            url.trim()
                .parse()
                .map_err(|e: http::uri::InvalidUri| ClientError::InvalidUrl {
                    url: url.to_owned(),
                    reason: e.to_string(),
                })?;
        let https = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(_) => return Err(invalid("the scheme must be http or https")),
            None => return Err(invalid("no scheme (http:// or https://)")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid(
                "credentials in the URL are not used; give them as user and password",
            ));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        // `http://h:5985` and `http://h:5985/` both read as path `/`; only a URL with
        // nothing after the authority gets the conventional `/wsman`.
        let after_authority = url
            .trim()
            .split_once("://")
            .map(|(_, rest)| &rest[authority.as_str().len().min(rest.len())..])
            .unwrap_or("");
        let path = if after_authority.is_empty() {
            "/wsman".to_owned()
        } else {
            uri.path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "/".to_owned())
        };
        let scheme = if https { "https" } else { "http" };
        Ok(Endpoint {
            url: format!("{scheme}://{}{path}", authority.as_str()),
            https,
            host,
            port,
            authority: authority.as_str().to_owned(),
            path,
        })
    }
}

/// Aborts the connection's driver task when the connection is dropped, so that a
/// request abandoned at its deadline does not leave a task waiting on a silent peer.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One HTTP/1.1 connection.
pub(crate) struct Conn {
    pub(crate) sender: SendRequest<Full<Bytes>>,
    pub(crate) id: u64,
    /// How many requests it has carried.
    pub(crate) uses: u64,
    _driver: AbortOnDrop,
}

/// Idle connections and the connection counter.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<Vec<Conn>>,
    next_id: AtomicU64,
}

impl Pool {
    /// An idle connection that is still open, if any (most recently used first).
    pub(crate) fn take(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(c) = idle.pop() {
            if !c.sender.is_closed() {
                return Some(c);
            }
        }
        None
    }

    /// Returns a connection for reuse.
    pub(crate) fn put(&self, conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() >= MAX_IDLE {
            idle.remove(0);
        }
        idle.push(conn);
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Opens a new connection, recording the step in `phase` so that a deadline can
    /// say where it struck.
    pub(crate) async fn connect(
        &self,
        ep: &Endpoint,
        tls: Option<&TlsConnector>,
        phase: &AtomicU8,
    ) -> Result<Conn, ClientError> {
        phase.store(Phase::Resolve.as_u8(), Ordering::Relaxed);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((ep.host.as_str(), ep.port))
            .await
            .map_err(|source| ClientError::Resolve {
                host: ep.host.clone(),
                source,
            })?
            .collect();
        phase.store(Phase::Connect.as_u8(), Ordering::Relaxed);
        let mut last = None;
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    stream = Some((s, addr));
                    break;
                }
                Err(e) => last = Some((addr, e)),
            }
        }
        let (tcp, addr) = match (stream, last) {
            (Some(s), _) => s,
            (None, Some((addr, source))) => return Err(ClientError::Connect { addr, source }),
            (None, None) => {
                return Err(ClientError::Resolve {
                    host: ep.host.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "the name resolved to no address",
                    ),
                });
            }
        };
        // WS-Man requests are small and answered at once: do not let Nagle hold them.
        let _ = tcp.set_nodelay(true);
        let id = self.next_id();
        match tls {
            None => handshake(TokioIo::new(tcp), id, phase).await,
            Some(connector) => {
                phase.store(Phase::TlsHandshake.as_u8(), Ordering::Relaxed);
                let name =
                    ServerName::try_from(ep.host.clone()).map_err(|e| ClientError::InvalidUrl {
                        url: ep.url.clone(),
                        reason: format!("host is not a valid TLS server name: {e}"),
                    })?;
                let stream = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|source| ClientError::Tls { addr, source })?;
                handshake(TokioIo::new(stream), id, phase).await
            }
        }
    }
}

async fn handshake<T>(io: T, id: u64, phase: &AtomicU8) -> Result<Conn, ClientError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    phase.store(Phase::Exchange.as_u8(), Ordering::Relaxed);
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        .handshake(io)
        .await
        .map_err(ClientError::Http)?;
    let task = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(connection = id, error = %e, "connection ended");
        }
    });
    Ok(Conn {
        sender,
        id,
        uses: 0,
        _driver: AbortOnDrop(task.abort_handle()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_taken_apart() {
        let e = Endpoint::parse("http://127.0.0.1:5985").unwrap();
        assert_eq!(
            (e.url.as_str(), e.path.as_str(), e.port, e.https),
            ("http://127.0.0.1:5985/wsman", "/wsman", 5985, false)
        );
        let e = Endpoint::parse("https://[::1]/wsman?x=1").unwrap();
        assert_eq!(
            (e.host.as_str(), e.authority.as_str(), e.port),
            ("::1", "[::1]", 443)
        );
        assert_eq!(e.path, "/wsman?x=1");
        assert_eq!(Endpoint::parse("http://h:80/").unwrap().path, "/");
        for bad in ["ftp://h/", "h:5985/wsman", "http://u:p@h/wsman", "http://"] {
            assert!(
                matches!(Endpoint::parse(bad), Err(ClientError::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }
}
