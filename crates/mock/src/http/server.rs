// Over 800 lines because the connection driver, the request pipeline's refusals and the transport-fault hijack share the per-connection state and are read together.
//! The listeners and the per-connection machinery: accept loops for HTTP, HTTPS and the
//! admin API, the HTTP/1.1 connection driver, the WS-Man request pipeline (routing,
//! size limit, authentication, content type, handler, outcome) and graceful shutdown.
//!
//! # Transport faults
//! hyper owns a connection's socket while it serves it, and always writes a
//! well-formed response. A scenario sometimes wants the opposite (a reset, a close
//! without an answer, a response cut short, bytes that are not HTTP), so each
//! connection task drives its hyper connection with `poll_without_shutdown` and looks
//! into a per-connection *hijack* slot whenever that poll is pending. A request whose
//! outcome is a transport fault puts a `Hijack` there and never completes (the request
//! runs inside the connection's poll, so the slot is seen as soon as it is filled, and
//! no waker is registered for it on every poll); the
//! connection task then takes the socket back from hyper (`into_parts`) and carries out
//! the fault on the raw stream: `SO_LINGER` 0 and drop for an RST, a write then
//! close for truncated or garbage answers, a plain close. Over TLS the same happens
//! inside the TLS stream (the reset is still a TCP RST). Slow answers need no
//! hijack: they are ordinary responses whose body sleeps between chunks.
//!
//! # Refusals
//! In order: a path other than [`ServerConfig::path`] is 404; a method other than
//! POST is 405 with `Allow: POST` (openwsman answers 501, but 405 is what RFC 9110
//! prescribes for a method the resource does not support); a POST with neither
//! Content-Length nor chunked framing is 411; a body over the limit is 413 (then the
//! connection closes); bad credentials are 401; a non-empty body that is neither SOAP
//! nor WinRM-encrypted multipart is 415; an encrypted body that does not open with the
//! connection's NTLM session (or arrives without one) is 400 and closes the connection;
//! unsealed SOAP over plain HTTP when the scenario disallows it is 401. The body is read
//! before authentication so that a 401 keeps the connection alive for the client's
//! second attempt.
//!
//! # NTLM
//! Each connection carries a `ConnAuth` (see `super::ntlm`): the handshake between its
//! two legs, then the user and the session keys. A request without `Authorization` on
//! a connection that logged in with NTLM is that user's. Sealed bodies are opened
//! before the handler sees them (it gets the original Content-Type) and its answers
//! are sealed on the way out; the journal records the plain SOAP.

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, Sleep};

use super::auth::{Authenticator, Verdict};
use super::deadline;
use super::ntlm::{BasicMemo, ConnAuth, Step, header_value, ntlm_token};
pub use super::tls::TlsSource;
use super::{AuthPolicy, Credentials, HeaderPair, Headers, Outcome, Reply, Request, WsmanHandler};
use crate::admin::{self, AdminOps};
use crate::journal::{
    AuthOutcome, Head, HttpParts, Journal, OutcomeKind, ResponseBody, ResponseHeaders, StoredBody,
};

/// Error type of response bodies.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The response body type of every service here.
pub(crate) type ResBody = UnsyncBoxBody<Bytes, BoxError>;

/// How to run the listeners.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Plain HTTP listener (WS-Man), if any. Port 0 picks a free port.
    pub http: Option<SocketAddr>,
    /// HTTPS listener (WS-Man), if any.
    pub https: Option<SocketAddr>,
    /// Admin API listener (plain HTTP, JSON), if any.
    pub admin: Option<SocketAddr>,
    /// The HTTPS certificate.
    pub tls: TlsSource,
    /// Largest request body accepted; larger ones get 413 as soon as the excess
    /// arrives (the body is never buffered past this).
    pub max_request_bytes: usize,
    /// The WS-Man path (`/wsman`).
    pub path: String,
    /// Deadline for a whole request: reading its body, the handler, any scripted delay
    /// and a slow answer. On expiry the client gets 503 (or, mid-answer, a closed
    /// connection).
    pub request_timeout: Duration,
    /// Time a client has to send a request's headers (and to finish a TLS handshake);
    /// also how long an idle keep-alive connection is kept. Slowloris protection.
    pub header_read_timeout: Duration,
    /// Time a client has to send a request's body once the headers are in (a slow
    /// body is answered 408 and the connection closed).
    pub body_read_timeout: Duration,
    /// Most connections one listener serves at once; one more is closed at once.
    pub max_connections: usize,
    /// How long [`Running::shutdown`] lets requests in flight finish before it aborts
    /// them.
    pub shutdown_grace: Duration,
    /// Age after which a Digest nonce is answered with `stale=true`.
    pub digest_nonce_lifetime: Duration,
}

impl Default for ServerConfig {
    /// No listeners; 600 KiB bodies (WinRM's 500 KiB `MaxEnvelopeSizekb` plus slack),
    /// `/wsman`, 5 min request deadline, 30 s header deadline, 5 s shutdown grace, 5 min
    /// nonces, self-signed certificate.
    fn default() -> Self {
        ServerConfig {
            http: None,
            https: None,
            admin: None,
            tls: TlsSource::default(),
            max_request_bytes: 600 * 1024,
            path: "/wsman".into(),
            request_timeout: Duration::from_secs(300),
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(5),
            digest_nonce_lifetime: Duration::from_secs(300),
        }
    }
}

/// The running listeners. Dropping it stops them too, without waiting.
#[derive(Debug)]
pub struct Running {
    /// Bound HTTP address.
    pub http: Option<SocketAddr>,
    /// Bound HTTPS address.
    pub https: Option<SocketAddr>,
    /// Bound admin address.
    pub admin: Option<SocketAddr>,
    /// The generated certificate (PEM), when [`TlsSource::Generate`] was used and
    /// HTTPS is on.
    pub cert_pem: Option<String>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// A running admin-only listener served by `task` until `stop` says true.
    pub(crate) fn admin_only(
        admin: SocketAddr,
        stop: watch::Sender<bool>,
        task: JoinHandle<()>,
    ) -> Running {
        Running {
            http: None,
            https: None,
            admin: Some(admin),
            cert_pem: None,
            stop,
            tasks: vec![task],
        }
    }

    /// Stops accepting (the ports are free when this returns), closes idle
    /// connections, lets requests in flight finish within
    /// [`ServerConfig::shutdown_grace`] and aborts the rest.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Everything a request needs, shared by all connections.
struct Ctx {
    handler: Arc<dyn WsmanHandler>,
    creds: Arc<dyn Credentials>,
    admin: Arc<dyn AdminOps>,
    journal: Arc<Journal>,
    auth: Authenticator,
    path: String,
    max_request_bytes: usize,
    request_timeout: Duration,
    body_read_timeout: Duration,
}

/// One machine's WS-Man service, for listeners that serve many machines
/// ([`start_routed`]): its handler, credentials, admin operations and journal.
#[derive(Clone)]
pub struct Endpoint(Arc<Ctx>);

impl Endpoint {
    /// The service of one machine, with `config`'s limits and deadlines.
    pub fn new(
        config: &ServerConfig,
        handler: Arc<dyn WsmanHandler>,
        creds: Arc<dyn Credentials>,
        admin: Arc<dyn AdminOps>,
        journal: Arc<Journal>,
    ) -> Endpoint {
        Endpoint(Arc::new(Ctx {
            handler,
            creds,
            admin,
            journal,
            auth: Authenticator::new(config.digest_nonce_lifetime),
            path: config.path.clone(),
            max_request_bytes: config.max_request_bytes,
            request_timeout: config.request_timeout,
            body_read_timeout: config.body_read_timeout,
        }))
    }
}

/// Picks the service of a connection from the local address it came in on; `None`
/// closes the connection at once.
pub type Router = Arc<dyn Fn(SocketAddr) -> Option<Endpoint> + Send + Sync>;

/// Whom an accept loop serves.
#[derive(Clone)]
enum Target {
    One(Arc<Ctx>),
    Routed(Router),
}

/// Serves WS-Man on listeners already bound (`true`: HTTPS), each connection for the
/// endpoint `router` picks. The listeners must be non-blocking.
pub async fn start_routed(
    config: &ServerConfig,
    listeners: Vec<(std::net::TcpListener, bool)>,
    router: Router,
) -> io::Result<Running> {
    let tls = if listeners.iter().any(|(_, https)| *https) {
        Some(super::tls::load(&config.tls)?)
    } else {
        None
    };
    let (mut http, mut https) = (None, None);
    let mut bound = Vec::new();
    for (listener, is_https) in listeners {
        let listener = TcpListener::from_std(listener)?;
        let local = Some(listener.local_addr()?);
        let kind = match (&tls, is_https) {
            (Some(tls), true) => {
                https = local;
                Kind::Https(tokio_rustls::TlsAcceptor::from(tls.config.clone()))
            }
            _ => {
                http = local;
                Kind::Http
            }
        };
        bound.push((listener, kind));
    }
    let (stop, tasks) = spawn_accept_loops(config, bound, Target::Routed(router));
    Ok(Running {
        http,
        https,
        admin: None,
        cert_pem: tls.and_then(|t| t.cert_pem),
        stop,
        tasks,
    })
}

fn http1_builder(config: &ServerConfig) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true)
        .half_close(false);
    builder
}

/// What a listener serves.
#[derive(Clone)]
enum Kind {
    Http,
    Https(tokio_rustls::TlsAcceptor),
    Admin,
}

/// Binds every configured listener and starts serving.
pub async fn start(
    config: ServerConfig,
    handler: Arc<dyn WsmanHandler>,
    creds: Arc<dyn Credentials>,
    admin: Arc<dyn AdminOps>,
    journal: Arc<Journal>,
) -> io::Result<Running> {
    let tls = match config.https {
        Some(_) => Some(super::tls::load(&config.tls)?),
        None => None,
    };
    let mut wanted = Vec::new();
    if let Some(addr) = config.http {
        wanted.push((addr, Kind::Http));
    }
    if let (Some(addr), Some(tls)) = (config.https, &tls) {
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
        wanted.push((addr, Kind::Https(acceptor)));
    }
    if let Some(addr) = config.admin {
        wanted.push((addr, Kind::Admin));
    }
    // Bind everything before serving anything, so that a port in use fails the start
    // as a whole.
    let (mut http, mut https, mut admin_addr) = (None, None, None);
    let mut listeners = Vec::new();
    for (addr, kind) in wanted {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("binding {addr}: {e}")))?;
        let local = Some(listener.local_addr()?);
        match kind {
            Kind::Http => http = local,
            Kind::Https(_) => https = local,
            Kind::Admin => admin_addr = local,
        }
        listeners.push((listener, kind));
    }

    let ctx = Endpoint::new(&config, handler, creds, admin, journal).0;
    let (stop, tasks) = spawn_accept_loops(&config, listeners, Target::One(ctx));
    Ok(Running {
        http,
        https,
        admin: admin_addr,
        cert_pem: tls.and_then(|t| t.cert_pem),
        stop,
        tasks,
    })
}

/// Starts an accept loop per listener, all serving `target`, stopped by one signal.
fn spawn_accept_loops(
    config: &ServerConfig,
    listeners: Vec<(TcpListener, Kind)>,
    target: Target,
) -> (watch::Sender<bool>, Vec<JoinHandle<()>>) {
    let builder = Arc::new(http1_builder(config));
    let (stop, _) = watch::channel(false);
    let tasks = listeners
        .into_iter()
        .map(|(listener, kind)| {
            tokio::spawn(accept_loop(
                listener,
                kind,
                target.clone(),
                config.max_connections.max(1),
                builder.clone(),
                stop.subscribe(),
                config.header_read_timeout,
                config.shutdown_grace,
            ))
        })
        .collect();
    (stop, tasks)
}

/// Resolves when a stop is asked for (or the [`Running`] was dropped).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

#[allow(clippy::too_many_arguments)]
async fn accept_loop(
    listener: TcpListener,
    kind: Kind,
    target: Target,
    max_connections: usize,
    builder: Arc<http1::Builder>,
    mut stop: watch::Receiver<bool>,
    handshake_timeout: Duration,
    grace: Duration,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            // Reap finished connections so the set does not grow.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    // Count only the connections still being served.
                    while conns.try_join_next().is_some() {}
                    if conns.len() >= max_connections {
                        // Full: this one is closed at once (the client sees the
                        // connection end) rather than held or queued.
                        tracing::warn!(%peer, max_connections, "connection refused: listener full");
                        drop(tcp);
                        continue;
                    }
                    let ctx = match &target {
                        Target::One(ctx) => ctx.clone(),
                        Target::Routed(router) => {
                            match tcp.local_addr().ok().and_then(|local| router(local)) {
                                Some(endpoint) => endpoint.0,
                                // Nobody there (an unreachable machine of a fleet):
                                // a reset at once, the nearest a shared listener
                                // comes to a refused connection.
                                None => {
                                    let _ = socket2::SockRef::from(&tcp)
                                        .set_linger(Some(std::time::Duration::ZERO));
                                    drop(tcp);
                                    continue;
                                }
                            }
                        }
                    };
                    let _ = tcp.set_nodelay(true);
                    conns.spawn(serve_tcp(
                        tcp,
                        peer,
                        kind.clone(),
                        ctx.clone(),
                        builder.clone(),
                        stop.clone(),
                        handshake_timeout,
                    ));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    // Free the port now; the connections were told to stop by the same signal.
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drain).await.is_err() {
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

async fn serve_tcp(
    tcp: TcpStream,
    peer: SocketAddr,
    kind: Kind,
    ctx: Arc<Ctx>,
    builder: Arc<http1::Builder>,
    stop: watch::Receiver<bool>,
    handshake_timeout: Duration,
) {
    let (stream, role) = match kind {
        Kind::Http => (Stream::Plain(tcp), Role::Wsman { tls: false }),
        Kind::Admin => {
            // The admin API accepts only its own loopback origins (on this port).
            let (port, loopback) = match tcp.local_addr() {
                Ok(local) => (local.port(), local.ip().is_loopback()),
                Err(_) => return,
            };
            (Stream::Plain(tcp), Role::Admin { port, loopback })
        }
        Kind::Https(acceptor) => {
            match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => (Stream::Tls(Box::new(tls)), Role::Wsman { tls: true }),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            }
        }
    };
    drive(stream, peer, role, ctx, &builder, stop).await;
}

/// What the service does.
#[derive(Clone, Copy)]
enum Role {
    Wsman {
        tls: bool,
    },
    /// The admin API, listening on `port` (`loopback`: on a loopback address).
    Admin {
        port: u16,
        loopback: bool,
    },
}

/// Instructions from a request to its connection task: take the socket back from
/// hyper and do this with it.
#[derive(Debug)]
enum Hijack {
    /// RST: `SO_LINGER` 0, then drop.
    Reset,
    /// Write these bytes (possibly none), then close. With `drain`, keep reading (and
    /// discarding) what the client still sends for a while after closing our side, so
    /// that it reads our answer instead of a reset (used for 413).
    WriteAndClose { bytes: Bytes, drain: bool },
}

/// The service hyper calls for each request on one connection. Each request's future
/// holds a clone: one count on this connection's own allocation, rather than one on
/// the listener's `Ctx` (shared by every connection, so written by every worker).
#[derive(Clone)]
struct Svc(Arc<ConnSvc>);

struct ConnSvc {
    ctx: Arc<Ctx>,
    peer: SocketAddr,
    role: Role,
    /// A transport fault for the connection task to carry out (see the module's text).
    hijack: std::sync::Mutex<Option<Hijack>>,
    /// NTLM authenticates the connection: its handshake state, user and session keys.
    /// Never locked across an await.
    conn: std::sync::Mutex<ConnAuth>,
    /// This connection's own copy of the credentials' policy and the generation it is
    /// of ([`Credentials::policy_generation`]): a count on the shared policy, taken on every
    /// request, would be written by every worker.
    policy: std::sync::Mutex<Option<(u64, Arc<AuthPolicy>)>>,
    /// The WS-Man path, this connection's own copy for the same reason: each request's
    /// [`Request`] holds it.
    path: Arc<str>,
}

impl std::ops::Deref for Svc {
    type Target = ConnSvc;
    fn deref(&self) -> &ConnSvc {
        &self.0
    }
}

type SvcFuture = Pin<Box<dyn Future<Output = Result<Response<ResBody>, Infallible>> + Send>>;

impl hyper::service::Service<http::Request<Incoming>> for Svc {
    type Response = Response<ResBody>;
    type Error = Infallible;
    type Future = SvcFuture;

    fn call(&self, req: http::Request<Incoming>) -> SvcFuture {
        let svc = self.clone();
        Box::pin(async move {
            Ok(match svc.role {
                Role::Wsman { tls } => svc.wsman(req, tls).await,
                Role::Admin { port, loopback } => {
                    // Boxed on its own: an admin request's future is larger than a
                    // WS-Man one's, and every WS-Man request's future would otherwise
                    // be allocated and moved at its size.
                    Box::pin(admin::serve(
                        &*svc.ctx.admin,
                        &svc.ctx.journal,
                        port,
                        loopback,
                        req,
                    ))
                    .await
                    .map(|b| b.map_err(|never| match never {}).boxed_unsync())
                }
            })
        })
    }
}

/// Serves one connection until it ends, is hijacked, or the server stops.
async fn drive(
    stream: Stream,
    peer: SocketAddr,
    role: Role,
    ctx: Arc<Ctx>,
    builder: &http1::Builder,
    mut stop: watch::Receiver<bool>,
) {
    let svc = Svc(Arc::new(ConnSvc {
        peer,
        role,
        hijack: Default::default(),
        conn: Default::default(),
        policy: Default::default(),
        path: Arc::from(ctx.path.as_str()),
        ctx,
    }));
    let slot = svc.clone();
    let mut conn = builder.serve_connection(TokioIo::new(stream), svc);
    let mut stopping = false;
    enum End {
        Done(hyper::Result<()>),
        Hijack(Hijack),
    }
    let end = loop {
        tokio::select! {
            end = std::future::poll_fn(|cx| match conn.poll_without_shutdown(cx) {
                Poll::Ready(r) => Poll::Ready(End::Done(r)),
                // A request asks for the socket only from inside this poll.
                Poll::Pending => match slot.hijack.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    Some(h) => Poll::Ready(End::Hijack(h)),
                    None => Poll::Pending,
                },
            }) => break end,
            _ = stopped(&mut stop), if !stopping => {
                // Idle connections close at once; a request in flight finishes first.
                Pin::new(&mut conn).graceful_shutdown();
                stopping = true;
            }
        }
    };
    let mut stream = conn.into_parts().io.into_inner();
    match end {
        End::Done(Ok(())) => {
            let _ = stream.shutdown().await;
        }
        End::Done(Err(e)) => {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
        End::Hijack(Hijack::Reset) => {
            // Linger 0 makes close() send RST instead of FIN.
            if let Err(e) = stream.tcp().set_zero_linger() {
                tracing::warn!(%peer, error = %e, "cannot set SO_LINGER 0");
            }
            drop(stream);
        }
        End::Hijack(Hijack::WriteAndClose { bytes, drain }) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.flush().await;
            let _ = stream.shutdown().await;
            // Read what the client still sends until it closes, so that closing with
            // unread data does not turn our FIN into an RST that destroys the answer
            // before the client read it. Bounded in time and bytes.
            let (limit, max_bytes) = if drain {
                (Duration::from_secs(2), 64 << 20)
            } else {
                (Duration::from_millis(500), 1 << 20)
            };
            let _ = tokio::time::timeout(limit, async {
                let mut buf = vec![0u8; 16 * 1024];
                let mut total = 0usize;
                while total < max_bytes {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => total += n,
                    }
                }
            })
            .await;
        }
    }
}

impl Svc {
    /// The WS-Man pipeline: route, method, length, size, authentication, content type,
    /// handler, outcome, each step journaled.
    async fn wsman(&self, req: http::Request<Incoming>, tls: bool) -> Response<ResBody> {
        let (mut parts, body) = req.into_parts();
        let headers = Headers::new(std::mem::take(&mut parts.headers));
        let target = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path(), |pq| pq.as_str());
        let mut rec = Draft {
            journal: &self.ctx.journal,
            started: SystemTime::now(),
            t0: Instant::now(),
            peer: self.peer,
            tls,
            method: method_name(&parts.method),
            path: target.to_owned(),
            headers,
            body: Bytes::new(),
            user: None,
            auth: AuthOutcome::NotChecked,
            encrypted: false,
            rule: None,
            operation: None,
            done: false,
        };
        let deadline = rec.t0 + self.ctx.request_timeout;
        // Pinned where it is made (`deadline` takes an `Unpin` future); the block ends
        // the borrow of `rec` before the timeout below records it.
        let answered = {
            let pipeline = std::pin::pin!(self.pipeline(&parts, body, target, &mut rec, deadline));
            deadline::deadline(deadline, pipeline).await
        };
        match answered {
            Ok(resp) => resp,
            Err(_) => {
                let reply = Reply {
                    status: 503,
                    headers: vec![
                        ("content-type".into(), "text/plain; charset=utf-8".into()),
                        ("connection".into(), "close".into()),
                    ],
                    body: Bytes::from_static(b"request timed out\n"),
                };
                rec.reply(OutcomeKind::Timeout, reply)
            }
        }
    }

    async fn pipeline(
        &self,
        parts: &http::request::Parts,
        body: Incoming,
        target: &str,
        rec: &mut Draft<'_>,
        deadline: Instant,
    ) -> Response<ResBody> {
        let ctx = &self.ctx;
        let max = ctx.max_request_bytes;
        // hyper's map, moved into the draft; a second handle for reading it here.
        let headers = rec.headers.clone();
        let headers = headers.map();
        if parts.uri.path() != ctx.path {
            // Read (and drop) the body so that the connection stays usable.
            let close = read_body(body, max).await.is_err();
            return rec.refuse(simple(404, "not found", close));
        }
        if parts.method != http::Method::POST {
            let close = read_body(body, max).await.is_err();
            let mut reply = simple(405, "method not allowed: use POST", close);
            reply.headers.push(("allow".into(), "POST".into()));
            return rec.refuse(reply);
        }
        let chunked = headers.get_all(header::TRANSFER_ENCODING).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.to_ascii_lowercase().contains("chunked"))
        });
        let length = headers.get(header::CONTENT_LENGTH);
        if length.is_none() && !chunked {
            return rec.refuse(simple(411, "length required", false));
        }
        let declared = length
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return self.too_large(rec).await;
        }
        // From the request's start (microseconds before the body is asked for): one
        // clock read fewer.
        let body_deadline = rec.t0 + ctx.body_read_timeout;
        let read = deadline::deadline(body_deadline, std::pin::pin!(read_body(body, max))).await;
        let Ok(read) = read else {
            // The headers came, the body does not: answer and close, so a slow body
            // cannot hold the connection for the whole request deadline.
            return rec.refuse(simple(408, "request body not received in time", true));
        };
        match read {
            Ok(b) => rec.body = b,
            Err(BodyError::TooLarge(partial)) => {
                rec.body = Bytes::from(partial);
                return self.too_large(rec).await;
            }
            Err(BodyError::Io) => {
                // The client broke off mid-body: nothing sensible to answer.
                return rec.refuse(simple(400, "incomplete request body", true));
            }
        }

        let policy = self.policy();
        // Looked up by name constants: a name given as text is parsed again each time.
        let header = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let authorization = header(&header::AUTHORIZATION);
        let negotiate_token = authorization
            .and_then(ntlm_token)
            .filter(|_| policy.negotiate);
        let conn_user = match authorization {
            None if policy.negotiate => self.conn().user().cloned(),
            _ => None,
        };
        // The final SPNEGO token goes with the answer that completes the login.
        let mut final_token = None;
        let verdict = if let Some((scheme, token)) = negotiate_token {
            let step = self.conn().step(token, &*ctx.creds);
            match step {
                Step::Challenge(challenge) => {
                    rec.auth = AuthOutcome::NegotiateChallenge;
                    let mut reply = simple(401, "NTLM challenge", false);
                    reply.headers.push((
                        "www-authenticate".into(),
                        header_value(scheme, &challenge).into(),
                    ));
                    return rec.refuse(reply);
                }
                Step::Accepted(user, token) => {
                    final_token = token.map(|t| header_value(scheme, &t));
                    Verdict::Allow {
                        user: Some(user),
                        outcome: AuthOutcome::Negotiate,
                    }
                }
                Step::Refused { why, malformed } => {
                    rec.auth = if malformed {
                        AuthOutcome::Malformed
                    } else {
                        AuthOutcome::Rejected
                    };
                    let mut reply = simple(401, &why, false);
                    reply.headers.extend(
                        ctx.auth
                            .challenges(&policy, false)
                            .into_iter()
                            .map(|c| ("www-authenticate".into(), c.into())),
                    );
                    return rec.refuse(reply);
                }
            }
        } else if let Some(user) = conn_user {
            Verdict::Allow {
                user: Some(user),
                outcome: AuthOutcome::Negotiate,
            }
        } else if let Some(user) = self.proved_basic(&policy, authorization, header(&WSMANIDENTIFY))
        {
            Verdict::Allow {
                user: Some(user),
                outcome: AuthOutcome::Basic,
            }
        } else {
            let verdict = ctx.auth.verify(
                &policy,
                &*ctx.creds,
                authorization,
                header(&WSMANIDENTIFY),
                parts.method.as_str(),
                target,
            );
            if let (
                Verdict::Allow {
                    user: Some(user),
                    outcome: AuthOutcome::Basic,
                },
                Some(header),
                Some(generation),
            ) = (&verdict, authorization, ctx.creds.generation())
            {
                self.conn().basic = Some(BasicMemo {
                    header: header.to_owned(),
                    user: user.clone(),
                    generation,
                });
            }
            verdict
        };
        match verdict {
            Verdict::Allow { user, outcome } => {
                rec.user = user;
                rec.auth = outcome;
            }
            Verdict::Challenge { outcome, stale } => {
                rec.auth = outcome;
                let mut reply = simple(401, "authentication required", false);
                reply.headers.extend(
                    ctx.auth
                        .challenges(&policy, stale)
                        .into_iter()
                        .map(|c| ("www-authenticate".into(), c.into())),
                );
                return rec.refuse(reply);
            }
            Verdict::BadRequest => {
                rec.auth = AuthOutcome::Malformed;
                return rec.refuse(simple(
                    400,
                    "the Digest uri does not match the request",
                    false,
                ));
            }
        }

        if !rec.body.is_empty() && !acceptable_content_type(header(&header::CONTENT_TYPE)) {
            return rec.refuse(simple(
                415,
                "unsupported media type: use application/soap+xml",
                false,
            ));
        }

        let mut handler_headers = rec.headers.clone();
        let content_type = header(&header::CONTENT_TYPE).unwrap_or("");
        if !rec.body.is_empty() && ntlm::winrm::is_encrypted(content_type) {
            let opened = self.conn().open(content_type, &rec.body);
            match opened {
                Some(Ok((original_type, plain))) => {
                    // The sealed part's own content type becomes the handler's
                    // Content-Type header, so it must be one (no control characters).
                    let Ok(original_type) = HeaderValue::from_bytes(original_type.as_bytes())
                    else {
                        return rec.refuse(simple(
                            400,
                            "bad encrypted body: its OriginalContent type is not a header value",
                            true,
                        ));
                    };
                    rec.body = Bytes::from(plain);
                    rec.encrypted = true;
                    handler_headers.set(header::CONTENT_TYPE, original_type);
                }
                // The RC4 streams may be out of step now: close the connection.
                Some(Err(e)) => {
                    return rec.refuse(simple(400, &format!("bad encrypted body: {e}"), true));
                }
                None => {
                    return rec.refuse(simple(
                        400,
                        "an encrypted body needs an NTLM session on this connection",
                        true,
                    ));
                }
            }
        } else if !rec.body.is_empty()
            && !rec.tls
            && !policy.allow_unencrypted
            && rec.user.is_some()
        {
            let mut reply = simple(
                401,
                "unencrypted requests are not allowed over HTTP (allow_unencrypted = false)",
                false,
            );
            reply.headers.extend(
                ctx.auth
                    .challenges(&policy, false)
                    .into_iter()
                    .map(|c| ("www-authenticate".into(), c.into())),
            );
            return rec.refuse(reply);
        }
        let encrypted = rec.encrypted;
        let protect = |mut reply: Reply| {
            if let Some(t) = &final_token {
                reply
                    .headers
                    .push(("www-authenticate".into(), t.clone().into()));
            }
            self.protect(reply, encrypted)
        };

        let request = Request {
            method: rec.method.clone(),
            path: self.path.clone(),
            headers: handler_headers,
            body: rec.body.clone(),
            peer: self.peer,
            tls: rec.tls,
            user: rec.user.clone(),
        };
        let handled = ctx.handler.handle(request).await;
        rec.rule = handled.rule;
        rec.operation = handled.operation;
        let mut outcome = handled.outcome;
        loop {
            match outcome {
                Outcome::Delayed(pause, inner) => {
                    // Dropped with the request if the client goes away.
                    tokio::time::sleep(pause).await;
                    outcome = *inner;
                }
                Outcome::Reply(mut reply) => {
                    if reply.status == 401 && rec.user.is_none() {
                        // A handler 401 for a request let through without credentials
                        // (`WSMANIDENTIFY: unauthenticated` on something else than
                        // Identify): challenges are only ever the HTTP layer's to give
                        // (the handler sets none), with fresh Digest nonces.
                        reply.headers.extend(
                            ctx.auth
                                .challenges(&policy, false)
                                .into_iter()
                                .map(|c| ("www-authenticate".into(), c.into())),
                        );
                    }
                    if !encrypted && final_token.is_none() {
                        // Nothing to seal or add: the journal takes the reply itself.
                        return rec.reply(OutcomeKind::Reply, reply);
                    }
                    rec.finish(OutcomeKind::Reply, Some(&reply));
                    return build_response(&protect(reply));
                }
                Outcome::SlowDrip {
                    reply,
                    chunk,
                    interval,
                } => {
                    rec.finish(OutcomeKind::SlowDrip, Some(&reply));
                    let reply = protect(reply);
                    let mut resp = build_response(&reply);
                    *resp.body_mut() =
                        Drip::new(reply.body, chunk, interval, deadline).boxed_unsync();
                    return resp;
                }
                Outcome::Reset => {
                    rec.finish(OutcomeKind::Reset, None);
                    return self.take_over(Hijack::Reset).await;
                }
                Outcome::Close => {
                    rec.finish(OutcomeKind::Close, None);
                    return self
                        .take_over(Hijack::WriteAndClose {
                            bytes: Bytes::new(),
                            drain: false,
                        })
                        .await;
                }
                Outcome::Garbage(bytes) => {
                    rec.finish_raw(OutcomeKind::Garbage, &bytes);
                    return self
                        .take_over(Hijack::WriteAndClose {
                            bytes: Bytes::from(bytes),
                            drain: false,
                        })
                        .await;
                }
                Outcome::Truncated { reply, keep } => {
                    rec.finish(OutcomeKind::Truncated, Some(&reply));
                    let reply = protect(reply);
                    let mut wire = head_bytes(&reply, true);
                    wire.extend_from_slice(&reply.body[..keep.min(reply.body.len())]);
                    return self
                        .take_over(Hijack::WriteAndClose {
                            bytes: Bytes::from(wire),
                            drain: false,
                        })
                        .await;
                }
            }
        }
    }

    /// This connection's NTLM state (a poisoned lock only means a panic elsewhere; the
    /// state itself is still consistent).
    /// The user of a Basic header this connection has already proved, while Basic is
    /// offered and the credentials are unchanged (a request asking for unauthenticated
    /// Identify is decided afresh).
    fn proved_basic(
        &self,
        policy: &AuthPolicy,
        authorization: Option<&str>,
        identify: Option<&str>,
    ) -> Option<Arc<str>> {
        let header = authorization?;
        if !policy.basic || identify.is_some() {
            return None;
        }
        let generation = self.ctx.creds.generation();
        let conn = self.conn();
        conn.basic.as_ref()?.user_for(header, generation).cloned()
    }

    /// The authentication policy in force: this connection's copy while the
    /// credentials' policy generation is the one it was taken at.
    fn policy(&self) -> Arc<AuthPolicy> {
        let creds = &*self.ctx.creds;
        let Some(generation) = creds.policy_generation() else {
            return creds.policy();
        };
        let mut kept = self.policy.lock().unwrap_or_else(|e| e.into_inner());
        match &*kept {
            Some((g, policy)) if *g == generation => policy.clone(),
            _ => {
                // Read after the generation: a change in between leaves a newer policy
                // under an older generation, which the next request replaces.
                let policy = Arc::new((*creds.policy()).clone());
                *kept = Some((generation, policy.clone()));
                policy
            }
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, ConnAuth> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The answer as it goes on the wire: sealed with the connection's NTLM session
    /// when the request was (an empty body stays empty, as WinRM does).
    fn protect(&self, mut reply: Reply, encrypted: bool) -> Reply {
        if !encrypted || reply.body.is_empty() {
            return reply;
        }
        let original_type = reply
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "application/soap+xml;charset=UTF-8".into());
        let Some(sealed) = self.conn().seal(&original_type, &reply.body) else {
            return reply;
        };
        reply
            .headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
        reply
            .headers
            .push(("content-type".into(), ntlm::winrm::content_type().into()));
        reply.body = Bytes::from(sealed);
        reply
    }

    /// Answers 413 on the raw socket and closes it: the rest of the body is never read
    /// into memory.
    async fn too_large(&self, rec: &mut Draft<'_>) -> Response<ResBody> {
        let reply = simple(
            413,
            &format!(
                "request body larger than {} bytes",
                self.ctx.max_request_bytes
            ),
            true,
        );
        rec.finish(OutcomeKind::Refused, Some(&reply));
        let mut wire = head_bytes(&reply, true);
        wire.extend_from_slice(&reply.body);
        self.take_over(Hijack::WriteAndClose {
            bytes: Bytes::from(wire),
            drain: true,
        })
        .await
    }

    /// Hands the socket to the connection task and waits to be dropped with the
    /// connection.
    async fn take_over(&self, hijack: Hijack) -> Response<ResBody> {
        {
            let mut slot = self.hijack.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_some() {
                // Cannot happen while hyper serves us (one request at a time, and the
                // slot is emptied as soon as it is filled); answer something sane.
                return build_response(&simple(500, "cannot take over the connection", true));
            }
            *slot = Some(hijack);
        }
        std::future::pending().await
    }
}

/// Whether a non-empty WS-Man body may go to the handler: SOAP 1.2, or WinRM's
/// encrypted multipart bodies.
fn acceptable_content_type(value: Option<&str>) -> bool {
    let Some(value) = value else { return false };
    let media = value.split(';').next().unwrap_or("").trim();
    [
        "application/soap+xml",
        "multipart/encrypted",
        "multipart/x-multi-encrypted",
    ]
    .iter()
    .any(|m| media.eq_ignore_ascii_case(m))
}

enum BodyError {
    /// Over the limit: what was read so far (at most the limit).
    TooLarge(Vec<u8>),
    /// The client broke off.
    Io,
}

/// Reads a body frame by frame, failing as soon as it exceeds `max` bytes. A body that
/// came in one frame (nearly every request: hyper reads it with the headers) is that
/// frame itself, a view of the buffer hyper read it into, not a copy; the buffer is
/// hyper's again once the request is answered and the view dropped.
async fn read_body(mut body: Incoming, max: usize) -> Result<Bytes, BodyError> {
    let mut first: Option<Bytes> = None;
    let mut joined: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Io)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if let Some(f) = first.take() {
            // A second frame: from here on the frames are joined.
            joined.extend_from_slice(&f);
        }
        let len = joined.len();
        if len + data.len() > max {
            joined.extend_from_slice(&data[..max - len]);
            return Err(BodyError::TooLarge(joined));
        }
        if len == 0 {
            first = Some(data);
        } else {
            joined.extend_from_slice(&data);
        }
    }
    Ok(first.unwrap_or_else(|| Bytes::from(joined)))
}

/// A small plain-text answer from the HTTP layer itself.
fn simple(status: u16, text: &str, close: bool) -> Reply {
    let mut headers: Vec<HeaderPair> =
        vec![("content-type".into(), "text/plain; charset=utf-8".into())];
    if close {
        headers.push(("connection".into(), "close".into()));
    }
    Reply {
        status,
        headers,
        body: Bytes::from(format!("{status} {text}\n")),
    }
}

/// A request method's name, borrowed for the methods HTTP defines (one allocation
/// fewer for every request).
fn method_name(method: &http::Method) -> Cow<'static, str> {
    static KNOWN: [http::Method; 9] = [
        http::Method::POST,
        http::Method::GET,
        http::Method::HEAD,
        http::Method::PUT,
        http::Method::DELETE,
        http::Method::OPTIONS,
        http::Method::PATCH,
        http::Method::CONNECT,
        http::Method::TRACE,
    ];
    match KNOWN.iter().find(|m| *m == method) {
        Some(m) => Cow::Borrowed(m.as_str()),
        None => Cow::Owned(method.as_str().to_owned()),
    }
}

/// `WSMANIDENTIFY` (WinRM's request for an unauthenticated Identify), by its constant
/// name.
const WSMANIDENTIFY: HeaderName = HeaderName::from_static("wsmanidentify");

/// Headers the HTTP layer sets itself; a handler's copies are ignored.
fn is_framing_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding")
}

/// Header values the mock sends on nearly every answer: [`build_response`] hands
/// these to hyper as static values, without copying them.
const COMMON_VALUES: &[&str] = &[
    "application/soap+xml;charset=UTF-8",
    "application/soap+xml;charset=UTF-16",
    "text/plain; charset=utf-8",
    "close",
];

fn wire_value(value: &str) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
    match COMMON_VALUES.iter().find(|v| **v == value) {
        Some(v) => Ok(HeaderValue::from_static(v)),
        None => HeaderValue::from_str(value),
    }
}

/// The response for `reply` (its body shared, not copied).
///
/// The Content-Length comes from the body: hyper writes it from the body's exact
/// length, after the reply's headers, as an inserted header would be written. Only
/// for a status that hyper gives no length (1xx, 204, 304) is it inserted here, so
/// that a scenario's unusual reply still goes out as it did.
fn build_response(reply: &Reply) -> Response<ResBody> {
    let len = reply.body.len();
    let mut resp = Response::new(
        Full::new(reply.body.clone())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    for (name, value) in &reply.headers {
        if is_framing_header(name) {
            continue;
        }
        match (HeaderName::from_bytes(name.as_bytes()), wire_value(value)) {
            (Ok(n), Ok(v)) => {
                headers.append(n, v);
            }
            _ => tracing::warn!(%name, %value, "dropping an invalid response header"),
        }
    }
    if status.is_informational()
        || matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED)
    {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    resp
}

/// The status line and headers of `reply` as HTTP/1.1 bytes, with the full
/// Content-Length (and `Connection: close` when `close`).
fn head_bytes(reply: &Reply, close: bool) -> Vec<u8> {
    let reason = StatusCode::from_u16(reply.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let mut out = format!("HTTP/1.1 {} {}\r\n", reply.status, reason).into_bytes();
    for (name, value) in &reply.headers {
        if is_framing_header(name) || (close && name.eq_ignore_ascii_case("connection")) {
            continue;
        }
        // Never let a header smuggle a line break onto the wire.
        if name.contains(['\r', '\n']) || value.contains(['\r', '\n']) {
            continue;
        }
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("content-length: {}\r\n", reply.body.len()).as_bytes());
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A request on its way through the pipeline, recorded in the journal exactly once:
/// by one of the `finish` methods, or when dropped (the client went away).
struct Draft<'j> {
    /// Borrowed from the listener's context for the request's life (a clone of the
    /// `Arc` would write a count every worker shares).
    journal: &'j Journal,
    started: SystemTime,
    t0: Instant,
    peer: SocketAddr,
    tls: bool,
    method: Cow<'static, str>,
    path: String,
    /// Shared with the handler's [`Request`] and the journal (copied only to rewrite a
    /// sealed body's content type for the handler).
    headers: Headers,
    body: Bytes,
    user: Option<Arc<str>>,
    auth: AuthOutcome,
    encrypted: bool,
    rule: Option<String>,
    operation: Option<Cow<'static, str>>,
    done: bool,
}

impl Draft<'_> {
    /// Journals the exchange (once): its bytes are copied into the journal's rings,
    /// and nothing of the request is kept (see [`Journal::with_budgets`]).
    fn record(
        &mut self,
        outcome: OutcomeKind,
        status: Option<u16>,
        response_headers: ResponseHeaders<'_>,
        response_body: Option<&[u8]>,
    ) {
        if self.done {
            return;
        }
        self.done = true;
        if !self.journal.keeps_entries() {
            self.journal.skip();
            return;
        }
        let psrp = crate::remoting::journal::messages(&self.body, || {
            response_body.map(|b| StoredBody::new(b).bytes())
        });
        let head = Head::new(
            if self.tls { "https" } else { "http" },
            self.peer,
            self.started,
            self.t0.elapsed(),
        );
        self.journal.record_http(
            head,
            HttpParts {
                tls: self.tls,
                method: std::mem::take(&mut self.method),
                path: &self.path,
                request_headers: &self.headers,
                request_body: &self.body,
                request_len: self.body.len(),
                user: self.user.take(),
                auth: self.auth,
                encrypted: self.encrypted,
                rule: self.rule.take(),
                operation: self.operation.take(),
                psrp,
                outcome,
                status,
                response_headers,
                response_body: response_body.map(|b| ResponseBody::Bytes(b, b.len())),
            },
        );
    }

    /// Journals the exchange as ended with `reply` (or with none).
    fn finish(&mut self, outcome: OutcomeKind, reply: Option<&Reply>) {
        match reply {
            Some(r) => self.record(
                outcome,
                Some(r.status),
                ResponseHeaders {
                    pairs: &r.headers,
                    skip: is_framing_header,
                    content_length: Some(r.body.len()),
                },
                Some(&r.body),
            ),
            None => self.record(outcome, None, ResponseHeaders::NONE, None),
        }
    }

    /// Journals `reply` and builds its response.
    fn reply(&mut self, outcome: OutcomeKind, reply: Reply) -> Response<ResBody> {
        let response = build_response(&reply);
        self.finish(outcome, Some(&reply));
        response
    }

    fn finish_raw(&mut self, outcome: OutcomeKind, bytes: &[u8]) {
        self.record(outcome, None, ResponseHeaders::NONE, Some(bytes));
    }

    /// Journals a refusal by the HTTP layer and builds its response.
    fn refuse(&mut self, reply: Reply) -> Response<ResBody> {
        self.reply(OutcomeKind::Refused, reply)
    }
}

impl Drop for Draft<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.record(OutcomeKind::Cancelled, None, ResponseHeaders::NONE, None);
        }
    }
}

/// A body that trickles out `chunk` bytes at a time, pausing `interval` before each
/// chunk (so the headers go out alone first). Fails (which makes hyper drop the
/// connection) past the request deadline.
struct Drip {
    rest: Bytes,
    chunk: usize,
    interval: Duration,
    pause: Pin<Box<Sleep>>,
    deadline: Instant,
}

impl Drip {
    fn new(body: Bytes, chunk: usize, interval: Duration, deadline: Instant) -> Drip {
        Drip {
            rest: body,
            chunk: chunk.max(1),
            interval,
            pause: Box::pin(tokio::time::sleep(interval)),
            deadline,
        }
    }
}

impl Body for Drip {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            return Poll::Ready(None);
        }
        if this.pause.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let now = Instant::now();
        if now >= this.deadline {
            return Poll::Ready(Some(Err("slow answer overran the request deadline".into())));
        }
        let piece = this.rest.split_to(this.chunk.min(this.rest.len()));
        let interval = this.interval;
        this.pause.as_mut().reset(now + interval);
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

/// A connection's byte stream, plain or TLS, with access to the TCP socket beneath.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(acceptable_content_type(Some(
            "application/soap+xml;charset=UTF-8"
        )));
        assert!(acceptable_content_type(Some("Application/SOAP+XML")));
        assert!(acceptable_content_type(Some(
            "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\""
        )));
        assert!(!acceptable_content_type(Some("text/xml")));
        assert!(!acceptable_content_type(None));
    }

    /// A response carries the reply's headers (the usual values as static ones, an
    /// invalid one dropped, the handler's framing headers ignored) and its body; the
    /// Content-Length is left to hyper, which writes it from the body, except for the
    /// statuses hyper writes none for, where it is inserted as before.
    #[test]
    fn responses_carry_the_reply_and_leave_the_length_to_hyper() {
        let reply = |status: u16| Reply {
            status,
            headers: vec![
                (
                    "content-type".into(),
                    "application/soap+xml;charset=UTF-8".into(),
                ),
                ("content-length".into(), "1".into()),
                ("transfer-encoding".into(), "chunked".into()),
                ("x-other".into(), "kept".into()),
                ("x-evil".into(), "a\r\nb".into()),
            ],
            body: Bytes::from_static(b"hello"),
        };
        let ok = build_response(&reply(200));
        assert_eq!(ok.status(), StatusCode::OK);
        let names: Vec<&str> = ok.headers().keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["content-type", "x-other"]);
        assert_eq!(
            ok.headers()[header::CONTENT_TYPE],
            "application/soap+xml;charset=UTF-8"
        );
        assert_eq!(ok.headers()["x-other"], "kept");
        assert_eq!(ok.body().size_hint().exact(), Some(5));
        for status in [101, 204, 304] {
            let r = build_response(&reply(status));
            assert_eq!(r.headers()[header::CONTENT_LENGTH], "5", "{status}");
        }
        assert_eq!(
            build_response(&reply(1000)).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        for v in COMMON_VALUES {
            assert_eq!(wire_value(v).unwrap(), HeaderValue::from_static(v));
        }
        assert_eq!(wire_value("text/xml").unwrap(), "text/xml");
        assert!(wire_value("a\nb").is_err());
    }

    #[test]
    fn head_bytes_sets_framing_and_strips_injection() {
        let reply = Reply {
            status: 200,
            headers: vec![
                ("content-type".into(), "application/soap+xml".into()),
                ("content-length".into(), "1".into()),
                ("x-evil".into(), "a\r\nb: c".into()),
            ],
            body: Bytes::from_static(b"hello"),
        };
        let head = String::from_utf8(head_bytes(&reply, true)).unwrap();
        assert_eq!(
            head,
            "HTTP/1.1 200 OK\r\ncontent-type: application/soap+xml\r\ncontent-length: 5\r\nconnection: close\r\n\r\n"
        );
    }
}
