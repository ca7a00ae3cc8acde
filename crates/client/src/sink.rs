//! An event sink: the HTTP/1.1 endpoint a WS-Eventing source delivers to (NotifyTo,
//! EndTo), recording every message that arrives.
//!
//! [`EventSink::start`] binds loopback port 0 by default, or any address given (for a
//! target on another host: `touchstone check --event-sink ADDR`). Every POST is kept as
//! a [`Delivery`]: when it arrived, the path it was sent to, its action, its SOAP
//! headers (the reference parameters of the EPR among them), each event of a batch,
//! bookmarks, `wsman:DroppedEvents`, heartbeats and `wse:SubscriptionEnd`. A message
//! with `wsman:AckRequested` is answered with a `wsman:Ack` envelope that relates to
//! it; any other with `200` and an empty body. A request that is not a SOAP envelope
//! is kept as [`Kind::Malformed`] (with the reason) and answered `400`; it never
//! panics the sink.
//!
//! Waiting never sleeps: [`EventSink::wait_for`] wakes on every delivery (a
//! `tokio::sync::watch` counter) and returns as soon as `n` deliveries match, or at the
//! deadline with those that did.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use client::sink::{EventSink, Kind};
//! use std::time::{Duration, Instant};
//! let sink = EventSink::start(None).await?;
//! let notify_to = sink.url("sub-1"); // http://127.0.0.1:PORT/sink/sub-1
//! // ... subscribe with notify_to ...
//! let got = sink
//!     .wait_for(2, Instant::now() + Duration::from_secs(10), |d| {
//!         d.path_token() == Some("sub-1") && d.kind == Kind::Heartbeat
//!     })
//!     .await;
//! # Ok(()) }
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use tokio::sync::watch;
use wsman::ns;

use crate::eventing::action;

/// The largest delivery the sink reads (larger ones are malformed).
pub const MAX_DELIVERY: usize = 8 << 20;

/// The most delivery text (bodies and event XML) the sink keeps over its life; past
/// it, deliveries are still recorded (what, when, which events by action) but their
/// text is replaced by a note, so a target that floods the sink cannot exhaust the
/// harness's memory.
pub const MAX_KEPT_BYTES: usize = 64 << 20;

/// The path under which [`EventSink::url`] addresses subscriptions.
pub const SINK_PATH: &str = "/sink/";

/// What a delivery is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// One event (Push, PushWithAck).
    Event,
    /// A batch (`wsman:Events`).
    Events,
    /// A heartbeat.
    Heartbeat,
    /// `wse:SubscriptionEnd`.
    SubscriptionEnd,
    /// A SOAP message with no event the sink recognises (its action is kept).
    Other,
    /// Not a SOAP envelope, with the reason.
    Malformed(String),
}

/// One header element of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderElement {
    /// Its namespace.
    pub ns: String,
    /// Its local name.
    pub name: String,
    /// Its trimmed text content.
    pub text: String,
}

/// One event of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredEvent {
    /// Its action (the message's, or the `wsman:Event/@Action` of a batch).
    pub action: String,
    /// Its XML (the body element, or the `wsman:Event`'s content).
    pub xml: String,
}

/// One message the sink received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its number in arrival order, from 0.
    pub seq: usize,
    /// When it arrived.
    pub at: Instant,
    /// The request-target it was sent to (`/sink/TOKEN`).
    pub path: String,
    /// What it is.
    pub kind: Kind,
    /// `wsa:Action`.
    pub action: Option<String>,
    /// `wsa:MessageID`.
    pub message_id: Option<String>,
    /// Every SOAP header element, in order (reference parameters included).
    pub headers: Vec<HeaderElement>,
    /// The events it carried (one for a single event, each of a batch).
    pub events: Vec<DeliveredEvent>,
    /// `wsman:Bookmark`'s content as XML (trimmed), when present.
    pub bookmark: Option<String>,
    /// `wsman:DroppedEvents`: (action, count).
    pub dropped: Vec<(String, u64)>,
    /// `wsman:AckRequested` was present (and the sink answered with an Ack).
    pub ack_requested: bool,
    /// `wse:SubscriptionEnd/wse:Status`.
    pub end_status: Option<String>,
    /// The HTTP status the sink answered.
    pub answered: u16,
    /// The body as received (lossy UTF-8), for reports.
    pub body: String,
}

impl Delivery {
    /// The text of the header `{ns}name`, if present.
    pub fn header(&self, ns: &str, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.ns == ns && h.name == name)
            .map(|h| h.text.as_str())
    }

    /// The token of a [`EventSink::url`] path (`/sink/TOKEN` → `TOKEN`).
    pub fn path_token(&self) -> Option<&str> {
        self.path
            .strip_prefix(SINK_PATH)
            .map(|t| t.split(['?', '/']).next().unwrap_or(t))
    }

    /// Whether it carries events (a single event or a batch).
    pub fn is_event(&self) -> bool {
        matches!(self.kind, Kind::Event | Kind::Events)
    }

    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        let what = match &self.kind {
            Kind::Event => "event".to_owned(),
            Kind::Events => format!("batch of {}", self.events.len()),
            Kind::Heartbeat => "heartbeat".into(),
            Kind::SubscriptionEnd => format!(
                "SubscriptionEnd ({})",
                self.end_status.as_deref().unwrap_or("no status")
            ),
            Kind::Other => format!(
                "message {}",
                self.action.as_deref().unwrap_or("(no action)")
            ),
            Kind::Malformed(why) => format!("malformed delivery: {why}"),
        };
        format!("#{} {what} to {}", self.seq, self.path)
    }
}

struct Inner {
    deliveries: Mutex<Vec<Delivery>>,
    /// Text bytes kept so far (see [`MAX_KEPT_BYTES`]).
    kept: std::sync::atomic::AtomicUsize,
    count: watch::Sender<usize>,
}

impl Inner {
    fn record(&self, mut d: Delivery) {
        use std::sync::atomic::Ordering;
        let size = d.body.len() + d.events.iter().map(|e| e.xml.len()).sum::<usize>();
        if self.kept.fetch_add(size, Ordering::Relaxed) + size > MAX_KEPT_BYTES {
            self.kept.fetch_sub(size, Ordering::Relaxed);
            d.body = format!(
                "[{} bytes not kept: the sink keeps at most {MAX_KEPT_BYTES} bytes of deliveries]",
                d.body.len()
            );
            for e in &mut d.events {
                e.xml.clear();
            }
        }
        let n = {
            let mut all = self.deliveries.lock().unwrap_or_else(|e| e.into_inner());
            d.seq = all.len();
            all.push(d);
            all.len()
        };
        self.count.send_replace(n);
    }
}

/// A running event sink; stops accepting when dropped.
pub struct EventSink {
    addr: SocketAddr,
    inner: Arc<Inner>,
    accept: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventSink({})", self.addr)
    }
}

impl Drop for EventSink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl EventSink {
    /// Binds `addr` (default `127.0.0.1:0`) and starts serving on the current tokio
    /// runtime.
    pub async fn start(addr: Option<SocketAddr>) -> std::io::Result<EventSink> {
        let addr = addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            deliveries: Mutex::new(Vec::new()),
            kept: std::sync::atomic::AtomicUsize::new(0),
            count: watch::channel(0).0,
        });
        let for_task = inner.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let inner = for_task.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let inner = inner.clone();
                        async move { Ok::<_, Infallible>(handle(&inner, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(30))
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(EventSink {
            addr,
            inner,
            accept,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of a subscription's deliveries: `http://ADDR/sink/TOKEN`.
    pub fn url(&self, token: &str) -> String {
        format!("http://{}{SINK_PATH}{token}", self.addr)
    }

    /// Every delivery so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner
            .deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The deliveries so far that match.
    pub fn matching(&self, pred: impl Fn(&Delivery) -> bool) -> Vec<Delivery> {
        self.inner
            .deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|d| pred(d))
            .cloned()
            .collect()
    }

    /// Waits until `n` deliveries (received at any time, earlier ones included) match
    /// `pred`, or until `deadline`. `Ok` with the first `n` when they came, `Err` with
    /// those that did by the deadline.
    pub async fn wait_for(
        &self,
        n: usize,
        deadline: Instant,
        pred: impl Fn(&Delivery) -> bool,
    ) -> Result<Vec<Delivery>, Vec<Delivery>> {
        let mut rx = self.inner.count.subscribe();
        loop {
            // Marked seen before looking, so a delivery after the look wakes us.
            rx.borrow_and_update();
            let mut got = self.matching(&pred);
            if got.len() >= n {
                got.truncate(n);
                return Ok(got);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(got);
            }
            match tokio::time::timeout(left, rx.changed()).await {
                Ok(Ok(())) => {}
                // Timed out, or the sink is gone: one last look.
                _ => {
                    let got = self.matching(&pred);
                    return if got.len() >= n {
                        Ok(got.into_iter().take(n).collect())
                    } else {
                        Err(got)
                    };
                }
            }
        }
    }
}

async fn handle(inner: &Inner, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let at = Instant::now();
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = match Limited::new(req.into_body(), MAX_DELIVERY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let d = malformed(at, path, format!("body not read: {e}"), "");
            inner.record(d);
            return reply(400, Bytes::new());
        }
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    if method != hyper::Method::POST {
        inner.record(malformed(
            at,
            path,
            format!("method {method}, not POST"),
            &text,
        ));
        return reply(405, Bytes::new());
    }
    let mut d = match read_delivery(&text) {
        Ok(d) => d,
        Err(why) => {
            inner.record(malformed(at, path, why, &text));
            return reply(400, Bytes::new());
        }
    };
    d.at = at;
    d.path = path;
    d.body = text;
    let answer = if d.ack_requested {
        Bytes::from(ack(d.message_id.as_deref()))
    } else {
        Bytes::new()
    };
    d.answered = 200;
    inner.record(d);
    reply(200, answer)
}

fn reply(status: u16, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.clone()));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    if !body.is_empty() {
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/soap+xml;charset=UTF-8"),
        );
    }
    r
}

fn malformed(at: Instant, path: String, why: String, body: &str) -> Delivery {
    Delivery {
        seq: 0,
        at,
        path,
        kind: Kind::Malformed(why),
        action: None,
        message_id: None,
        headers: Vec::new(),
        events: Vec::new(),
        bookmark: None,
        dropped: Vec::new(),
        ack_requested: false,
        end_status: None,
        answered: 400,
        body: body.to_owned(),
    }
}

/// The `wsman:Ack` answer to a message that asked for one.
fn ack(relates_to: Option<&str>) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    format!(
        "<s:Envelope xmlns:s=\"{soap}\" xmlns:a=\"{wsa}\" xmlns:w=\"{wsman}\"><s:Header>\
         <a:To>{anon}</a:To><a:Action>{act}</a:Action><a:MessageID>{mid}</a:MessageID>{rel}\
         </s:Header><s:Body/></s:Envelope>",
        soap = ns::SOAP,
        wsa = ns::WSA,
        wsman = ns::WSMAN,
        anon = ns::ANONYMOUS,
        act = action::ACK,
        mid = crate::build::message_id(),
        rel = relates_to
            .map(|r| format!("<a:RelatesTo>{}</a:RelatesTo>", esc(r)))
            .unwrap_or_default(),
    )
}

/// The text of an element and its descendants, trimmed.
pub(crate) fn text_of(n: &roxmltree::Node<'_, '_>) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The XML of an element's content (between its tags).
fn inner_xml(text: &str, n: &roxmltree::Node<'_, '_>) -> String {
    match (n.first_child(), n.last_child()) {
        (Some(f), Some(l)) => text[f.range().start..l.range().end].trim().to_owned(),
        _ => String::new(),
    }
}

fn read_delivery(text: &str) -> Result<Delivery, String> {
    if text.trim().is_empty() {
        return Err("empty body".into());
    }
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..Default::default()
    };
    let doc =
        roxmltree::Document::parse_with_options(text, opts).map_err(|e| format!("not XML: {e}"))?;
    let env = doc.root_element();
    if !env.has_tag_name((ns::SOAP, "Envelope")) {
        return Err(format!(
            "root element {} is not a SOAP 1.2 Envelope",
            env.tag_name().name()
        ));
    }
    let header = env
        .children()
        .find(|n| n.has_tag_name((ns::SOAP, "Header")));
    let body = env
        .children()
        .find(|n| n.has_tag_name((ns::SOAP, "Body")))
        .ok_or("no s:Body")?;
    let mut d = malformed(Instant::now(), String::new(), String::new(), "");
    for h in header
        .iter()
        .flat_map(|h| h.children())
        .filter(|n| n.is_element())
    {
        let (hns, name) = (h.tag_name().namespace().unwrap_or(""), h.tag_name().name());
        let value = text_of(&h);
        match (hns, name) {
            (ns::WSA, "Action") => d.action = Some(value.clone()),
            (ns::WSA, "MessageID") => d.message_id = Some(value.clone()),
            (ns::WSMAN, "AckRequested") => d.ack_requested = true,
            (ns::WSMAN, "Bookmark") => d.bookmark = Some(inner_xml(text, &h)),
            (ns::WSMAN, "DroppedEvents") => d.dropped.push((
                h.attribute("Action").unwrap_or_default().to_owned(),
                value.parse().unwrap_or(0),
            )),
            _ => {}
        }
        d.headers.push(HeaderElement {
            ns: hns.to_owned(),
            name: name.to_owned(),
            text: value,
        });
    }
    let content = body.children().find(|n| n.is_element());
    let action = d.action.clone().unwrap_or_default();
    d.kind = match content {
        Some(c) if c.has_tag_name((ns::WSMAN, "Events")) => {
            for e in c.children().filter(|n| n.is_element()) {
                d.events.push(DeliveredEvent {
                    action: e.attribute("Action").unwrap_or_default().to_owned(),
                    xml: inner_xml(text, &e),
                });
            }
            Kind::Events
        }
        Some(c) if c.has_tag_name((ns::WSE, "SubscriptionEnd")) => {
            d.end_status = c
                .children()
                .find(|n| n.has_tag_name((ns::WSE, "Status")))
                .map(|s| text_of(&s));
            Kind::SubscriptionEnd
        }
        Some(c) if c.has_tag_name((ns::WSMAN, "DroppedEvents")) => {
            d.dropped.push((
                c.attribute("Action").unwrap_or_default().to_owned(),
                text_of(&c).parse().unwrap_or(0),
            ));
            Kind::Other
        }
        _ if action == action::HEARTBEAT => Kind::Heartbeat,
        _ if action == action::SUBSCRIPTION_END => Kind::SubscriptionEnd,
        _ if action == action::EVENTS => Kind::Events,
        Some(c) => {
            d.events.push(DeliveredEvent {
                action: action.clone(),
                xml: text[c.range()].to_owned(),
            });
            Kind::Event
        }
        None => Kind::Other,
    };
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
        xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
        xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
        xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\">";

    #[test]
    fn a_batch_is_read_event_by_event_with_its_bookmark_and_reference_parameters() {
        let xml = format!(
            "{HEAD}<s:Header><a:Action>{}</a:Action><a:MessageID>uuid:m1</a:MessageID>\
             <e:Identifier>uuid:s1</e:Identifier><t:Sub xmlns:t=\"urn:t\">k</t:Sub>\
             <w:AckRequested/><w:Bookmark><b:M xmlns:b=\"urn:b\">7</b:M></w:Bookmark>\
             <w:DroppedEvents Action=\"urn:x\">2</w:DroppedEvents></s:Header><s:Body><w:Events>\
             <w:Event Action=\"urn:a\"><p:I xmlns:p=\"urn:p\">1</p:I></w:Event>\
             <w:Event Action=\"urn:b\"><p:I xmlns:p=\"urn:p\">2</p:I></w:Event></w:Events></s:Body></s:Envelope>",
            action::EVENTS
        );
        let d = read_delivery(&xml).unwrap();
        assert_eq!(d.kind, Kind::Events);
        assert_eq!(d.events.len(), 2);
        assert_eq!(d.events[1].action, "urn:b");
        assert!(d.events[1].xml.contains(">2<"));
        assert_eq!(d.header(ns::WSE, "Identifier"), Some("uuid:s1"));
        assert_eq!(d.header("urn:t", "Sub"), Some("k"));
        assert!(d.ack_requested);
        assert_eq!(
            d.bookmark.as_deref(),
            Some("<b:M xmlns:b=\"urn:b\">7</b:M>")
        );
        assert_eq!(d.dropped, vec![("urn:x".to_owned(), 2)]);
        let a = ack(d.message_id.as_deref());
        let env = wsman::parse(&a, &wsman::Limits::default()).unwrap();
        assert_eq!(env.header.action.as_deref(), Some(action::ACK));
        assert_eq!(env.header.relates_to.as_deref(), Some("uuid:m1"));
    }

    #[test]
    fn heartbeats_single_events_and_ends_are_told_apart() {
        let hb = format!(
            "{HEAD}<s:Header><a:Action>{}</a:Action></s:Header><s:Body/></s:Envelope>",
            action::HEARTBEAT
        );
        assert_eq!(read_delivery(&hb).unwrap().kind, Kind::Heartbeat);
        let ev = format!(
            "{HEAD}<s:Header><a:Action>urn:ev</a:Action></s:Header><s:Body><p:X xmlns:p=\"urn:p\"/></s:Body></s:Envelope>"
        );
        let d = read_delivery(&ev).unwrap();
        assert_eq!((d.kind, d.events.len()), (Kind::Event, 1));
        let end = format!(
            "{HEAD}<s:Header><a:Action>{}</a:Action></s:Header><s:Body><e:SubscriptionEnd>\
             <e:Status>http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceShuttingDown</e:Status>\
             </e:SubscriptionEnd></s:Body></s:Envelope>",
            action::SUBSCRIPTION_END
        );
        let d = read_delivery(&end).unwrap();
        assert_eq!(d.kind, Kind::SubscriptionEnd);
        assert!(d.end_status.unwrap().ends_with("SourceShuttingDown"));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in [
            "",
            "not xml",
            "<x/>",
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"/>",
            "<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>",
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>",
        ] {
            assert!(read_delivery(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
