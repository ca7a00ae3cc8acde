//! What one request produced on the wire: every HTTP round trip as sent and as
//! received (secrets redacted), with timing, serialisable for reports; and on-demand
//! views of the final answer as an envelope or a fault.

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// The request of one HTTP round trip, as it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// The method (`POST`).
    pub method: String,
    /// The full URL (`http://host:5985/wsman`).
    pub url: String,
    /// The request-target on the request line (`/wsman`).
    pub target: String,
    /// The headers in the order written. `Authorization` is redacted
    /// (`Basic <redacted>`, Digest without its `response`).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// When the round trip started, from the start of the exchange.
    pub started: Duration,
    /// Which connection carried it (numbered per client, from 1).
    pub connection: u64,
    /// Whether that connection had carried an earlier request.
    pub reused: bool,
}

/// The answer of one HTTP round trip, as it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseTranscript {
    /// The status code.
    pub status: u16,
    /// The reason phrase as received, when it differs from the canonical one (else
    /// the canonical phrase).
    pub reason: Option<String>,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// The headers in the order received.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Bytes,
    /// From the start of the round trip to the last byte of the body.
    pub elapsed: Duration,
}

impl ResponseTranscript {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header called `name`, in order.
    pub fn headers_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `charset` parameter of `Content-Type`, if any.
    pub fn charset(&self) -> Option<&str> {
        let ct = self.header("content-type")?;
        ct.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| v.trim().trim_matches('"'))
        })
    }
}

/// An earlier round trip of the same exchange (an authentication challenge and the
/// request it answered).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Leg {
    /// The request as sent.
    pub request: Transcript,
    /// The answer (a `401`).
    pub response: ResponseTranscript,
}

/// Everything one request produced: the final round trip, the authentication legs
/// before it, and notes on how authentication went.
///
/// A connection that closed before a complete answer is an exchange too, with no
/// `response` and the reason in `error`: the request transcript is what a report of
/// that failure needs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Exchange {
    /// The final request as sent.
    pub request: Transcript,
    /// Its answer; `None` when the connection closed first (see `error`).
    pub response: Option<ResponseTranscript>,
    /// Why there is no answer, when there is none.
    pub error: Option<String>,
    /// Earlier round trips answered with `401` and retried with credentials, in order.
    pub auth_legs: Vec<Leg>,
    /// The whole call: from its start (connects included) to the last byte received.
    #[serde(serialize_with = "ser_ms", rename = "elapsed_ms")]
    pub elapsed: Duration,
    /// The scheme the final request authenticated with (`Basic`, `Digest SHA-256`).
    pub auth_scheme: Option<String>,
    /// What the client noticed on the way (a challenge it could not answer,
    /// credentials the target refused).
    pub notes: Vec<String>,
    /// The body as text when it needed transcoding (UTF-16), so that envelopes can
    /// borrow from it.
    #[serde(skip)]
    decoded: OnceLock<String>,
}

impl PartialEq for Exchange {
    fn eq(&self, other: &Self) -> bool {
        self.request == other.request
            && self.response == other.response
            && self.error == other.error
            && self.auth_legs == other.auth_legs
            && self.elapsed == other.elapsed
            && self.auth_scheme == other.auth_scheme
            && self.notes == other.notes
    }
}

/// The fault of an answer, reduced to what conformance expectations compare.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FaultSummary {
    /// The HTTP status it came with.
    pub http_status: u16,
    /// `s:Code/s:Value` local name (`Sender`, `Receiver`, `MustUnderstand`...).
    pub code: String,
    /// The subcode as a conventional QName (`wsman:InvalidSelectors`,
    /// `wsa:DestinationUnreachable`); `{namespace}Local` for a namespace without a
    /// conventional prefix. `None` when there is no subcode.
    pub subcode: Option<String>,
    /// The `wsman:FaultDetail` token (`InsufficientSelectors`), or the whole URI when it
    /// is not under the DSP0226 prefix.
    pub detail: Option<String>,
    /// `s:Reason/s:Text`.
    pub reason: String,
    /// WinRM's `f:WSManFault/@Code`, when numeric.
    pub wsman_fault_code: Option<u32>,
    /// The catalogue entry, when the fault is one.
    #[serde(skip)]
    pub kind: Option<wsman::FaultKind>,
}

impl Exchange {
    /// An exchange from its parts (what the client builds after a round trip; also
    /// how a recorded or synthetic answer is judged without a network).
    pub fn new(
        request: Transcript,
        response: Option<ResponseTranscript>,
        error: Option<String>,
        auth_legs: Vec<Leg>,
        elapsed: Duration,
    ) -> Exchange {
        Exchange {
            request,
            response,
            error,
            auth_legs,
            elapsed,
            auth_scheme: None,
            notes: Vec::new(),
            decoded: OnceLock::new(),
        }
    }

    /// The exchange when an answer came; [`crate::ClientError::NoAnswer`] with the reason when
    /// the connection closed first (for callers that cannot go on without an answer).
    pub fn answered(self) -> Result<Exchange, crate::ClientError> {
        match (&self.response, &self.error) {
            (Some(_), _) => Ok(self),
            (None, e) => Err(crate::ClientError::NoAnswer {
                reason: e
                    .clone()
                    .unwrap_or_else(|| crate::CLOSED_WITHOUT_ANSWER.to_owned()),
            }),
        }
    }

    /// The final status code.
    pub fn status(&self) -> Option<u16> {
        self.response.as_ref().map(|r| r.status)
    }

    /// The first final response header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response.as_ref()?.header(name)
    }

    /// Every round trip in order: the authentication legs, then the final one.
    pub fn legs(&self) -> impl Iterator<Item = (&Transcript, Option<&ResponseTranscript>)> {
        self.auth_legs
            .iter()
            .map(|l| (&l.request, Some(&l.response)))
            .chain(std::iter::once((&self.request, self.response.as_ref())))
    }

    /// The final body as text: decoded as the charset (or BOM) says, UTF-16 included;
    /// bytes that do not decode are replaced. `None` without an answer.
    pub fn body_text(&self) -> Option<String> {
        let r = self.response.as_ref()?;
        Some(match self.text() {
            Some(Ok(t)) => t.to_owned(),
            _ => String::from_utf8_lossy(&r.body).into_owned(),
        })
    }

    /// The body decoded to text, borrowed from the exchange (transcoded once and kept
    /// when it was UTF-16). `None` without an answer.
    fn text(&self) -> Option<Result<&str, wsman::Error>> {
        let r = self.response.as_ref()?;
        Some(wsman::decode(&r.body, r.charset()).map(|cow| match cow {
            Cow::Borrowed(s) => s,
            Cow::Owned(o) => self.decoded.get_or_init(|| o).as_str(),
        }))
    }

    /// The final answer read as an envelope, on demand and borrowing from the exchange.
    /// `None` when there is no answer or its body is empty (or only whitespace).
    pub fn envelope(&self) -> Option<Result<wsman::Envelope<'_>, wsman::Error>> {
        let text = match self.text()? {
            Ok(t) => t,
            Err(e) => return Some(Err(e)),
        };
        if text.trim().is_empty() {
            return None;
        }
        Some(wsman::parse(text, &wsman::Limits::default()))
    }

    /// The SOAP fault of the final answer, if it is a well-formed fault envelope.
    pub fn fault(&self) -> Option<FaultSummary> {
        let env = self.envelope()?.ok()?;
        let wsman::Body::Fault(f) = &env.body else {
            return None;
        };
        Some(FaultSummary {
            http_status: self.status().unwrap_or(0),
            code: f.code.local_name().to_owned(),
            subcode: f.subcode.as_ref().map(|n| qname(&n.ns, &n.local)),
            detail: f.detail_token().map(str::to_owned),
            reason: f.reason.to_string(),
            wsman_fault_code: f.detail.wsman_fault.as_ref().and_then(|w| w.code_number()),
            kind: f.kind(),
        })
    }
}

/// `prefix:Local` with the prefixes the WS-Management specifications use.
fn qname(ns: &str, local: &str) -> String {
    let prefix = match ns {
        wsman::ns::SOAP => "s",
        wsman::ns::WSA => "wsa",
        wsman::ns::WSMAN => "wsman",
        wsman::ns::WSEN => "wsen",
        wsman::ns::WXF => "wxf",
        wsman::ns::WSE => "wse",
        wsman::ns::WSMB => "wsmb",
        wsman::ns::WSMID => "wsmid",
        wsman::ns::RSP => "rsp",
        "" => return local.to_owned(),
        other => return format!("{{{other}}}{local}"),
    };
    format!("{prefix}:{local}")
}

fn ser_ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(ms(*d))
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// A body for a report: UTF-8 text when it is, else base64 with a flag.
fn body_for_report(body: &[u8]) -> (Cow<'_, str>, bool) {
    match std::str::from_utf8(body) {
        Ok(t) => (Cow::Borrowed(t), false),
        Err(_) => (
            Cow::Owned(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        ),
    }
}

impl Serialize for Transcript {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (body, b64) = body_for_report(&self.body);
        let mut st = s.serialize_struct("Transcript", 9)?;
        st.serialize_field("method", &self.method)?;
        st.serialize_field("url", &self.url)?;
        st.serialize_field("target", &self.target)?;
        st.serialize_field("headers", &self.headers)?;
        st.serialize_field("body", &body)?;
        st.serialize_field("body_base64", &b64)?;
        st.serialize_field("started_ms", &ms(self.started))?;
        st.serialize_field("connection", &self.connection)?;
        st.serialize_field("reused", &self.reused)?;
        st.end()
    }
}

impl Serialize for ResponseTranscript {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (body, b64) = body_for_report(&self.body);
        let mut st = s.serialize_struct("ResponseTranscript", 7)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("reason", &self.reason)?;
        st.serialize_field("version", &self.version)?;
        st.serialize_field("headers", &self.headers)?;
        st.serialize_field("body", &body)?;
        st.serialize_field("body_base64", &b64)?;
        st.serialize_field("elapsed_ms", &ms(self.elapsed))?;
        st.end()
    }
}
