//! The client: one HTTP request with its authentication round trips, under one
//! deadline, recorded leg by leg.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http_body_util::{BodyExt as _, Full, Limited};
use tokio_rustls::TlsConnector;

use crate::auth::{self, Challenge, DigestChallenge};
use crate::conn::{Conn, Endpoint, Pool};
use crate::error::{ClientError, Phase};
use crate::exchange::{Exchange, Leg, ResponseTranscript, Transcript};
use crate::{AuthScheme, ConnectionMode, Target, build};

/// Largest response body accepted: far above any WS-Man envelope (WinRM's
/// MaxEnvelopeSizekb is 500 KB by default) and the same bound as the raw-socket
/// cases' answers, so that a broken target cannot exhaust the harness's memory: the
/// body is read no further than this, and the connection is dropped.
pub const MAX_BODY: usize = 16 << 20;

/// The `User-Agent` sent unless the request names one.
const USER_AGENT: &str = concat!("touchstone-client/", env!("CARGO_PKG_VERSION"));

/// The Content-Type of a WS-Management request (DSP0226 annex on the HTTP binding).
pub const SOAP_CONTENT_TYPE: &str = "application/soap+xml;charset=UTF-8";

/// One HTTP request to send as it is: any method, any headers, any body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    /// The method.
    pub method: http::Method,
    /// The request-target; `None` for the target URL's path.
    pub target: Option<String>,
    /// Headers, in order. `Host`, `User-Agent` and `Content-Length` are added unless
    /// named here; an `Authorization` here is sent as it is and turns automatic
    /// authentication off for this request.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Whether to authenticate with the target's credentials (answering a `401`).
    pub authenticate: bool,
}

impl Default for RawRequest {
    fn default() -> RawRequest {
        RawRequest {
            method: http::Method::POST,
            target: None,
            headers: Vec::new(),
            body: Vec::new(),
            authenticate: true,
        }
    }
}

impl RawRequest {
    /// A POST of `body` with no extra headers.
    pub fn post(body: impl Into<Vec<u8>>) -> RawRequest {
        RawRequest {
            body: body.into(),
            ..RawRequest::default()
        }
    }

    /// A POST of `body` as `application/soap+xml;charset=UTF-8`.
    pub fn soap(body: impl Into<Vec<u8>>) -> RawRequest {
        RawRequest::post(body).header("Content-Type", SOAP_CONTENT_TYPE)
    }

    /// The same request with one more header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> RawRequest {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same request with another method.
    pub fn method(mut self, method: http::Method) -> RawRequest {
        self.method = method;
        self
    }

    /// The same request to another request-target (path and query).
    pub fn target(mut self, target: impl Into<String>) -> RawRequest {
        self.target = Some(target.into());
        self
    }

    /// The same request without credentials (a `401` is returned as it is).
    pub fn without_auth(mut self) -> RawRequest {
        self.authenticate = false;
        self
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    }
}

/// What the client learned about the target's authentication, shared by clones.
#[derive(Debug, Default)]
struct AuthState {
    /// The target answered a 401 offering Basic.
    basic_offered: bool,
    /// The last Digest challenge answered, and the last nonce count used with it.
    digest: Option<(DigestChallenge, u32)>,
}

/// An `Authorization` header to send.
struct Authz {
    value: String,
    redacted: String,
    scheme: String,
    /// Computed from a challenge of this very exchange, or Basic: a 401 to it means
    /// the credentials were refused (unless the nonce was only stale).
    definitive: bool,
}

struct Inner {
    target: Target,
    endpoint: Endpoint,
    tls: Option<TlsConnector>,
    pool: Pool,
    auth: Mutex<AuthState>,
}

/// A WS-Management HTTP client for one target. Cheap to clone: clones share the
/// connection pool and what was learned about authentication.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.endpoint.url)
            .field("user", &self.inner.target.user)
            .finish_non_exhaustive()
    }
}

/// One round trip's outcome: the answer, or why the connection ended without one.
type RoundTrip = (Transcript, Result<ResponseTranscript, String>);

impl Client {
    /// A client for `target`. Fails on a URL that is not `http(s)://host...` or a CA
    /// file that cannot be read; it does not connect yet.
    pub fn new(target: Target) -> Result<Client, ClientError> {
        let endpoint = Endpoint::parse(&target.url)?;
        let tls = if endpoint.https {
            Some(TlsConnector::from(crate::tls::config(&target.tls)?))
        } else {
            None
        };
        Ok(Client {
            inner: Arc::new(Inner {
                target,
                endpoint,
                tls,
                pool: Pool::default(),
                auth: Mutex::new(AuthState::default()),
            }),
        })
    }

    /// The target URL with its path (what `wsa:To` carries).
    pub fn url(&self) -> &str {
        &self.inner.endpoint.url
    }

    /// The target this client was made for.
    pub fn target(&self) -> &Target {
        &self.inner.target
    }

    /// Headers for a request to `resource_uri` at this client's URL, with the usual
    /// defaults (see [`build::Request`]).
    pub fn request(&self, resource_uri: impl Into<String>) -> build::Request {
        build::Request::new(self.url(), resource_uri)
    }

    /// Sends raw bytes as the body (any content type) and returns the whole exchange
    /// with its transcript. Answers a `401` with the target's credentials (see
    /// [`AuthScheme`]); never takes longer than the target's deadline.
    pub async fn send_raw(&self, req: RawRequest) -> Result<Exchange, ClientError> {
        let phase = AtomicU8::new(Phase::Resolve.as_u8());
        let deadline = self.inner.target.timeout;
        match tokio::time::timeout(deadline, self.exchange(req, &phase)).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout {
                after: deadline,
                phase: Phase::from_u8(phase.load(Ordering::Relaxed)),
            }),
        }
    }

    /// Writes `env` ([`wsman::Envelope::to_xml`]) and POSTs it as
    /// `application/soap+xml;charset=UTF-8`. The answer stays in the exchange as bytes;
    /// [`Exchange::envelope`] reads it with [`wsman::parse`] (borrowing from the
    /// exchange) and [`Exchange::fault`] reduces a fault to owned fields.
    pub async fn send(&self, env: &wsman::Envelope<'_>) -> Result<Exchange, ClientError> {
        self.send_raw(RawRequest::soap(env.to_xml())).await
    }

    /// Sends an Identify. `unauthenticated` sends the `WSMANIDENTIFY: unauthenticated`
    /// header and no credentials, as DSP0226 §11 allows.
    pub async fn identify(&self, unauthenticated: bool) -> Result<Exchange, ClientError> {
        let mut req = RawRequest::soap(build::identify().to_xml());
        if unauthenticated {
            req = req
                .header("WSMANIDENTIFY", "unauthenticated")
                .without_auth();
        }
        self.send_raw(req).await
    }

    async fn exchange(&self, req: RawRequest, phase: &AtomicU8) -> Result<Exchange, ClientError> {
        let start = Instant::now();
        let headers = checked_headers(&req)?;
        let t = &self.inner.target;
        let creds = match (
            &t.user,
            req.authenticate && !req.has_header("authorization"),
        ) {
            (Some(u), true) => Some((u.as_str(), t.password.as_deref().unwrap_or(""))),
            _ => None,
        };
        let target = req
            .target
            .clone()
            .unwrap_or_else(|| self.inner.endpoint.path.clone());
        let mut authz = match creds {
            Some((u, p)) => self.preemptive(u, p, req.method.as_str(), &target)?,
            None => None,
        };
        let mut legs = Vec::new();
        let mut notes = Vec::new();
        loop {
            let (request, outcome) = self
                .round_trip(&req, &headers, &target, authz.as_ref(), start, phase)
                .await?;
            let response = match outcome {
                Ok(r) => r,
                Err(error) => {
                    let mut ex = Exchange::new(request, None, Some(error), legs, start.elapsed());
                    ex.auth_scheme = authz.map(|a| a.scheme);
                    ex.notes = notes;
                    return Ok(ex);
                }
            };
            let retry = match creds {
                // At most three round trips: unauthenticated or preemptive, the answer
                // to a fresh challenge, and the answer to a stale nonce.
                Some((u, p)) if response.status == 401 && legs.len() < 2 => {
                    let challenges =
                        auth::parse_challenges(response.headers_named("www-authenticate"));
                    self.answer(
                        &challenges,
                        (u, p),
                        req.method.as_str(),
                        &target,
                        authz.as_ref().is_some_and(|a| a.definitive),
                        &mut notes,
                    )?
                }
                _ => None,
            };
            match retry {
                Some(next) => {
                    legs.push(Leg { request, response });
                    authz = Some(next);
                }
                None => {
                    if response.status == 401 && creds.is_some() && notes.is_empty() {
                        notes.push("the target refused the credentials".to_owned());
                    }
                    let mut ex =
                        Exchange::new(request, Some(response), None, legs, start.elapsed());
                    ex.auth_scheme = authz.map(|a| a.scheme);
                    ex.notes = notes;
                    return Ok(ex);
                }
            }
        }
    }

    /// The `Authorization` to send before any challenge of this exchange: Basic when
    /// asked for or known to be the target's scheme, Digest with the last nonce.
    fn preemptive(
        &self,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
    ) -> Result<Option<Authz>, ClientError> {
        let pref = self.inner.target.auth;
        let mut state = self.inner.auth.lock().unwrap_or_else(|e| e.into_inner());
        if pref == AuthScheme::Basic {
            return Ok(Some(basic(user, password)?));
        }
        if let Some((challenge, nc)) = &mut state.digest {
            *nc += 1;
            let mut a = digest(challenge, *nc, user, password, method, uri);
            // A cached nonce may be unknown to the target by now: a 401 to it is
            // answered with the new challenge, not taken as a refusal.
            a.definitive = false;
            return Ok(Some(a));
        }
        if pref == AuthScheme::Auto && state.basic_offered {
            return Ok(Some(basic(user, password)?));
        }
        Ok(None)
    }

    /// The `Authorization` that answers a 401's challenges, or `None` (with a note) when
    /// there is nothing more to try.
    fn answer(
        &self,
        challenges: &[Challenge],
        (user, password): (&str, &str),
        method: &str,
        uri: &str,
        last_was_definitive: bool,
        notes: &mut Vec<String>,
    ) -> Result<Option<Authz>, ClientError> {
        let pref = self.inner.target.auth;
        let mut state = self.inner.auth.lock().unwrap_or_else(|e| e.into_inner());
        let basic_offered = challenges.iter().any(|c| c.is("Basic"));
        state.basic_offered |= basic_offered;
        let digest_ch = match pref {
            AuthScheme::Basic => None,
            _ => DigestChallenge::best(challenges),
        };
        if let Some(d) = digest_ch {
            if last_was_definitive && !d.stale {
                notes.push("the target refused the Digest credentials".to_owned());
                return Ok(None);
            }
            let a = digest(&d, 1, user, password, method, uri);
            state.digest = Some((d, 1));
            return Ok(Some(a));
        }
        if basic_offered && pref != AuthScheme::Digest {
            if last_was_definitive {
                notes.push("the target refused the Basic credentials".to_owned());
                return Ok(None);
            }
            return Ok(Some(basic(user, password)?));
        }
        let offered: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
        notes.push(if offered.is_empty() {
            "the 401 carries no WWW-Authenticate challenge".to_owned()
        } else {
            format!(
                "the 401 offers no scheme this client answers with {pref:?} authentication: {}",
                offered.join(", ")
            )
        });
        Ok(None)
    }

    /// One HTTP round trip on a pooled or new connection.
    async fn round_trip(
        &self,
        req: &RawRequest,
        headers: &[(HeaderName, HeaderValue)],
        target: &str,
        authz: Option<&Authz>,
        start: Instant,
        phase: &AtomicU8,
    ) -> Result<RoundTrip, ClientError> {
        let inner = &*self.inner;
        let leg_start = Instant::now();
        let body = Bytes::from(req.body.clone());
        // The headers as they go on the wire, and as the transcript shows them.
        let mut wire: Vec<(HeaderName, HeaderValue)> = Vec::with_capacity(headers.len() + 4);
        let mut shown: Vec<(String, String)> = Vec::with_capacity(headers.len() + 4);
        let mut add = |name: HeaderName, value: HeaderValue, show: String| {
            shown.push((title_case(name.as_str()), show));
            wire.push((name, value));
        };
        if !req.has_header("host") {
            let v = inner.endpoint.authority.clone();
            add(http::header::HOST, header_value(&v)?, v);
        }
        if !req.has_header("user-agent") {
            add(
                http::header::USER_AGENT,
                HeaderValue::from_static(USER_AGENT),
                USER_AGENT.to_owned(),
            );
        }
        if let Some(a) = authz {
            add(
                http::header::AUTHORIZATION,
                header_value(&a.value)?,
                a.redacted.clone(),
            );
        }
        for (name, value) in headers {
            let show = String::from_utf8_lossy(value.as_bytes()).into_owned();
            let show = if name == http::header::AUTHORIZATION
                || name == http::header::PROXY_AUTHORIZATION
            {
                auth::redact_authorization(&show)
            } else {
                show
            };
            add(name.clone(), value.clone(), show);
        }
        let needs_length = !body.is_empty()
            || !matches!(
                req.method,
                http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
            );
        if needs_length && !req.has_header("content-length") {
            let v = body.len().to_string();
            add(http::header::CONTENT_LENGTH, header_value(&v)?, v);
        }
        let build = || -> Result<http::Request<Full<Bytes>>, ClientError> {
            let mut r = http::Request::builder()
                .method(req.method.clone())
                .uri(target)
                .body(Full::new(body.clone()))
                .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
            let h = r.headers_mut();
            for (k, v) in &wire {
                h.append(k.clone(), v.clone());
            }
            Ok(r)
        };

        let (mut conn, mut reused) = self.acquire(phase).await?;
        let response = loop {
            let ready = conn.sender.ready().await;
            let sent = match ready {
                Ok(()) => conn.sender.try_send_request(build()?).await,
                Err(e) if reused => {
                    tracing::debug!(error = %e, "idle connection was closed; reconnecting");
                    conn = self.fresh(phase).await?;
                    reused = false;
                    continue;
                }
                Err(e) => return Err(ClientError::Http(e)),
            };
            match sent {
                Ok(r) => break Ok(r),
                // The peer closed an idle connection before the request went out: the
                // usual keep-alive race. The request was not sent, so send it anew.
                Err(e) if reused && e.message().is_some() => {
                    conn = self.fresh(phase).await?;
                    reused = false;
                }
                Err(e) => break Err(e.into_error()),
            }
        };
        conn.uses += 1;
        let transcript = Transcript {
            method: req.method.to_string(),
            url: format!(
                "{}://{}{}",
                if inner.endpoint.https {
                    "https"
                } else {
                    "http"
                },
                inner.endpoint.authority,
                target
            ),
            target: target.to_owned(),
            headers: shown,
            body,
            started: leg_start.saturating_duration_since(start),
            connection: conn.id,
            reused,
        };
        let response = match response {
            Ok(r) => r,
            Err(e) => return Ok((transcript, Err(crate::error::describe(&e)))),
        };
        let status = response.status();
        let version = format!("{:?}", response.version());
        let reason = response
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
            .or_else(|| status.canonical_reason().map(str::to_owned));
        let resp_headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let close = connection_close(response.headers()) || connection_close_req(headers);
        let body = match Limited::new(response.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                if e.is::<http_body_util::LengthLimitError>() {
                    return Err(ClientError::BodyTooLarge { limit: MAX_BODY });
                }
                return Ok((
                    transcript,
                    Err(format!(
                        "the connection failed while reading the body of a {} answer: {e}",
                        status.as_u16()
                    )),
                ));
            }
        };
        if inner.target.connection == ConnectionMode::KeepAlive && !close {
            inner.pool.put(conn);
        }
        Ok((
            transcript,
            Ok(ResponseTranscript {
                status: status.as_u16(),
                reason,
                version,
                headers: resp_headers,
                body,
                elapsed: leg_start.elapsed(),
            }),
        ))
    }

    /// An idle connection (reused = true) or a new one.
    async fn acquire(&self, phase: &AtomicU8) -> Result<(Conn, bool), ClientError> {
        if self.inner.target.connection == ConnectionMode::KeepAlive {
            if let Some(c) = self.inner.pool.take() {
                phase.store(Phase::Exchange.as_u8(), Ordering::Relaxed);
                return Ok((c, true));
            }
        }
        Ok((self.fresh(phase).await?, false))
    }

    async fn fresh(&self, phase: &AtomicU8) -> Result<Conn, ClientError> {
        let inner = &*self.inner;
        inner
            .pool
            .connect(&inner.endpoint, inner.tls.as_ref(), phase)
            .await
    }
}

fn basic(user: &str, password: &str) -> Result<Authz, ClientError> {
    Ok(Authz {
        value: auth::basic_authorization(user, password)?,
        redacted: "Basic <redacted>".to_owned(),
        scheme: "Basic".to_owned(),
        definitive: true,
    })
}

fn digest(
    ch: &DigestChallenge,
    nc: u32,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
) -> Authz {
    let value = ch.authorization(user, password, method, uri, nc, &auth::cnonce());
    Authz {
        redacted: auth::redact_authorization(&value),
        value,
        scheme: format!("Digest {}", ch.algorithm.name()),
        definitive: true,
    }
}

/// The request's own headers, checked once (a bad name or value is a caller error).
fn checked_headers(req: &RawRequest) -> Result<Vec<(HeaderName, HeaderValue)>, ClientError> {
    req.headers
        .iter()
        .map(|(k, v)| {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| ClientError::InvalidRequest(format!("header name `{k}`: {e}")))?;
            Ok((name, header_value(v)?))
        })
        .collect()
}

fn header_value(v: &str) -> Result<HeaderValue, ClientError> {
    HeaderValue::from_str(v)
        .map_err(|e| ClientError::InvalidRequest(format!("header value `{v}`: {e}")))
}

fn has_close_token(v: &HeaderValue) -> bool {
    v.to_str()
        .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
}

fn connection_close(h: &http::HeaderMap) -> bool {
    h.get_all(http::header::CONNECTION)
        .iter()
        .any(has_close_token)
}

fn connection_close_req(h: &[(HeaderName, HeaderValue)]) -> bool {
    h.iter()
        .any(|(k, v)| k == http::header::CONNECTION && has_close_token(v))
}

/// `content-type` → `Content-Type`, as hyper writes names with `title_case_headers`.
fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}
