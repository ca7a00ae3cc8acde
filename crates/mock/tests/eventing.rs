//! WS-Eventing end to end over loopback: the mock as an event source, a tiny event
//! sink (hyper, in this file) as the subscriber. Push, PushWithAck, Events (batched)
//! and Pull subscriptions, heartbeats, bookmarks (no loss, no duplicate across a
//! resume), retries, SubscriptionEnd, filters, the CIM and Windows event shapes, and
//! the faults of DSP0226 clause 10.
//!
//! Time is real and short (heartbeats of 300 ms, expiries under a second); every wait
//! is on a channel or an answer with a deadline, never a sleep.

mod loopback;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use loopback::*;
use machine::events::EventKind;
use mock::MockServer;
use tokio::sync::mpsc;
use wsman::body::Body;
use wsman::ns::eventing as ev;
use wsman::{FaultKind, ns};

const WSE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing";
const ALERT_URI: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_AlertIndication";

// ---------------------------------------------------------------- the sink

/// One message the sink received.
#[derive(Debug, Clone)]
struct Delivery {
    action: String,
    /// The `wse:Identifier` header (NotifyTo's reference parameter, echoed).
    identifier: Option<String>,
    bookmark: Option<String>,
    ack_requested: bool,
    dropped: Option<u64>,
    /// The mock's event sequence numbers in it, in order.
    seqs: Vec<u64>,
    xml: String,
    at: Instant,
}

/// An HTTP event sink on loopback: every POST goes to the channel; it answers an
/// `wsman:AckRequested` message with an Ack, except for the next `refuse` messages,
/// which get HTTP 500.
struct Sink {
    addr: SocketAddr,
    rx: mpsc::UnboundedReceiver<Delivery>,
    refuse: Arc<AtomicU32>,
}

fn seqs_in(xml: &str) -> Vec<u64> {
    xml.split("touchstone:event:")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

fn parse_delivery(xml: String) -> Delivery {
    let env = wsman::parse(&xml, &wsman::Limits::default()).expect("a delivery is an envelope");
    let header_text = |ns_uri: &str, local: &str| {
        env.header
            .other
            .iter()
            .find(|h| h.element.root().is(ns_uri, local))
            .map(|h| h.element.root().text().trim().to_owned())
    };
    let delivery = Delivery {
        action: env.header.action.as_deref().unwrap_or("").to_owned(),
        identifier: header_text(WSE, "Identifier"),
        bookmark: header_text(ns::WSMAN, "Bookmark"),
        ack_requested: header_text(ns::WSMAN, "AckRequested").is_some(),
        dropped: header_text(ns::WSMAN, "DroppedEvents").and_then(|t| t.parse().ok()),
        seqs: seqs_in(&xml),
        xml: String::new(),
        at: Instant::now(),
    };
    Delivery { xml, ..delivery }
}

async fn sink() -> Sink {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let refuse = Arc::new(AtomicU32::new(0));
    let refuse2 = refuse.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            let refuse = refuse2.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    let refuse = refuse.clone();
                    async move {
                        let body = req.into_body().collect().await?.to_bytes();
                        let d = parse_delivery(String::from_utf8_lossy(&body).into_owned());
                        let refused = refuse
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                        let answer = if refused {
                            (500, String::new())
                        } else if d.ack_requested {
                            (200, ack_envelope())
                        } else {
                            (200, String::new())
                        };
                        let _ = tx.send(d);
                        Ok::<_, hyper::Error>(
                            hyper::Response::builder()
                                .status(answer.0)
                                .header("content-type", SOAP_CT)
                                .body(Full::new(Bytes::from(answer.1)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Sink { addr, rx, refuse }
}

fn ack_envelope() -> String {
    format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\"><s:Header>\
         <a:To>{}</a:To><a:Action>{}</a:Action><a:MessageID>{}</a:MessageID>\
         </s:Header><s:Body/></s:Envelope>",
        ns::ANONYMOUS,
        ev::ACK,
        message_id()
    )
}

impl Sink {
    fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// The next message, within `within`.
    async fn next(&mut self, within: Duration) -> Option<Delivery> {
        tokio::time::timeout(within, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Messages until `want` events with an Action other than Heartbeat arrived (or
    /// the deadline passed); returns every message received.
    async fn until_events(&mut self, want: usize, within: Duration) -> Vec<Delivery> {
        let deadline = Instant::now() + within;
        let mut out = Vec::new();
        let mut n = 0;
        while n < want {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(d) = self.next(left).await else {
                break;
            };
            n += d.seqs.len();
            out.push(d);
        }
        out
    }
}

// ---------------------------------------------------------------- requests

struct Sub<'a> {
    mode: &'a str,
    notify: Option<String>,
    end_to: Option<String>,
    expires: Option<&'a str>,
    heartbeats: Option<&'a str>,
    bookmark: Option<String>,
    send_bookmarks: bool,
    filter: Option<String>,
    delivery_extra: String,
}

impl<'a> Sub<'a> {
    fn new(mode: &'a str) -> Sub<'a> {
        Sub {
            mode,
            notify: None,
            end_to: None,
            expires: None,
            heartbeats: None,
            bookmark: None,
            send_bookmarks: false,
            filter: None,
            delivery_extra: String::new(),
        }
    }

    fn req(&self, uri: &str) -> Req {
        let epr = |name: &str, addr: &str| {
            format!(
                "<e:{name}><a:Address>{addr}</a:Address><a:ReferenceParameters>\
                 <e:Identifier>uuid:sink-{name}</e:Identifier></a:ReferenceParameters></e:{name}>"
            )
        };
        let mut body = format!("<e:Subscribe xmlns:e=\"{WSE}\">");
        if let Some(e) = &self.end_to {
            body.push_str(&epr("EndTo", e));
        }
        body.push_str(&format!("<e:Delivery Mode=\"{}\">", self.mode));
        if let Some(n) = &self.notify {
            body.push_str(&epr("NotifyTo", n));
        }
        if let Some(h) = self.heartbeats {
            body.push_str(&format!("<w:Heartbeats>{h}</w:Heartbeats>"));
        }
        body.push_str(&self.delivery_extra);
        body.push_str("</e:Delivery>");
        if let Some(x) = self.expires {
            body.push_str(&format!("<e:Expires>{x}</e:Expires>"));
        }
        if let Some(f) = &self.filter {
            body.push_str(f);
        }
        if self.send_bookmarks {
            body.push_str("<w:SendBookmarks/>");
        }
        if let Some(b) = &self.bookmark {
            body.push_str(&format!("<w:Bookmark>{b}</w:Bookmark>"));
        }
        body.push_str("</e:Subscribe>");
        Req::new(ns::action::SUBSCRIBE, uri).body(&body)
    }
}

/// What a SubscribeResponse says: (Identifier, Expires, enumeration context).
fn subscribed(a: &Answer) -> (String, String, Option<String>) {
    assert_eq!(a.status, 200, "{}", a.text());
    a.with_env(|e| match &e.body {
        Body::SubscribeResponse(r) => {
            let id = r
                .subscription_manager
                .other_parameters
                .iter()
                .find(|p| p.root().is(WSE, "Identifier"))
                .map(|p| p.root().text().to_owned())
                .expect("the SubscriptionManager carries wse:Identifier");
            (
                id,
                r.expires.as_deref().unwrap_or("").to_owned(),
                r.enumeration_context.as_deref().map(str::to_owned),
            )
        }
        _ => panic!("not a SubscribeResponse:\n{}", a.text()),
    })
}

/// A request to the subscription manager: the Identifier header, marked
/// mustUnderstand as some clients do.
fn manager_req(action: &str, id: &str, body: &str) -> Req {
    Req::new(action, ALERT_URI)
        .header(&format!(
            "<e:Identifier xmlns:e=\"{WSE}\" s:mustUnderstand=\"true\">{id}</e:Identifier>"
        ))
        .body(body)
}

fn event_pull(context: &str, max: u32, max_time: &str) -> Req {
    Req::new(ns::action::PULL, ALERT_URI).body(&format!(
        "<n:Pull><n:EnumerationContext>{context}</n:EnumerationContext>\
         <n:MaxTime>{max_time}</n:MaxTime><n:MaxElements>{max}</n:MaxElements></n:Pull>"
    ))
}

/// (sequence numbers, bookmark, dropped) of a PullResponse of events.
fn pulled(a: &Answer) -> (Vec<u64>, Option<String>, Option<u64>) {
    assert_eq!(a.status, 200, "{}", a.text());
    let d = parse_delivery(a.text());
    assert_eq!(d.action, ns::action::PULL_RESPONSE);
    (d.seqs, d.bookmark, d.dropped)
}

/// Raises `n` alerts on the machine (as the admin API or a schedule would); returns
/// their sequence numbers.
fn raise(server: &MockServer, n: usize, name: &str) -> Vec<u64> {
    server.mock().with_machine(|m, now| {
        (0..n)
            .map(|i| {
                m.raise_event(
                    EventKind::Custom {
                        class: "CIM_AlertIndication".into(),
                        properties: vec![
                            ("ElementName".into(), format!("{name}{i}")),
                            ("PerceivedSeverity".into(), "6".into()),
                        ],
                    },
                    now,
                )
            })
            .collect()
    })
}

const PATIENT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- modes

#[tokio::test]
async fn pull_subscription_returns_events_waits_for_one_and_times_out_when_idle() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let a = c.send(&Sub::new(ev::PULL).req(ALERT_URI)).await;
    let (id, expires, context) = subscribed(&a);
    assert!(id.starts_with("uuid:"), "{id}");
    assert!(expires.starts_with('P'), "granted as a duration: {expires}");
    let context = context.expect("a Pull-mode SubscribeResponse carries a context");

    let raised = raise(&server, 3, "a");
    let (seqs, _, _) = pulled(&c.send(&event_pull(&context, 10, "PT1S")).await);
    assert_eq!(seqs, raised);

    // Nothing more: wsman:TimedOut after MaxTime.
    let r = event_pull(&context, 10, "PT0.300S");
    let t0 = Instant::now();
    c.send(&r).await.assert_fault(&r, FaultKind::TimedOut, None);
    assert!(t0.elapsed() >= Duration::from_millis(250));

    // A Pull with a long MaxTime returns the event raised meanwhile (whether it was
    // raised before the Pull arrived or while it waited, it is returned at once).
    let waiting = tokio::spawn({
        let context = context.clone();
        let addr = server.addresses().0.unwrap();
        async move {
            Client::at(addr)
                .send(&event_pull(&context, 5, "PT5S"))
                .await
        }
    });
    let later = raise(&server, 1, "b");
    let a = tokio::time::timeout(PATIENT, waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pulled(&a).0, later);

    // Unsubscribe ends it: its context is gone.
    let r = manager_req(
        ns::action::UNSUBSCRIBE,
        &id,
        &format!("<e:Unsubscribe xmlns:e=\"{WSE}\"/>"),
    );
    c.send(&r)
        .await
        .assert_ok(&r, ns::action::UNSUBSCRIBE_RESPONSE);
    let r = event_pull(&context, 1, "PT0.1S");
    c.send(&r)
        .await
        .assert_fault(&r, FaultKind::InvalidEnumerationContext, None);
    server.shutdown().await;
}

#[tokio::test]
async fn push_delivers_each_event_with_the_identifier_and_heartbeats_when_idle() {
    let server = MockServer::start().await.unwrap();
    let mut sink = sink().await;
    let mut c = Client::new(&server);
    let mut s = Sub::new(ev::PUSH);
    s.notify = Some(sink.url("events"));
    s.heartbeats = Some("PT0.300S");
    subscribed(&c.send(&s.req(ALERT_URI)).await);

    // Idle: heartbeats, each within the interval (plus scheduling slack).
    let first = sink.next(PATIENT).await.expect("a heartbeat");
    let second = sink.next(PATIENT).await.expect("another heartbeat");
    for d in [&first, &second] {
        assert_eq!(d.action, ev::HEARTBEAT);
        assert_eq!(d.identifier.as_deref(), Some("uuid:sink-NotifyTo"));
    }
    let gap = second.at - first.at;
    assert!(gap < Duration::from_millis(550), "heartbeats {gap:?} apart");

    let raised = raise(&server, 2, "p");
    let got = sink.until_events(2, PATIENT).await;
    let events: Vec<&Delivery> = got.iter().filter(|d| d.action == ev::EVENT).collect();
    assert_eq!(events.len(), 2, "one message per event: {got:#?}");
    assert_eq!(
        events
            .iter()
            .flat_map(|d| d.seqs.clone())
            .collect::<Vec<_>>(),
        raised
    );
    for d in events {
        assert_eq!(d.identifier.as_deref(), Some("uuid:sink-NotifyTo"));
        assert!(d.xml.contains("CIM_AlertIndication"), "{}", d.xml);
    }
    server.shutdown().await;
}

/// Without heartbeats and with a long expiry, an event recorded outside any WS-Man
/// request (the admin API, a schedule, an IPMI Add SEL Entry all take the machine lock
/// as `raise` does) still reaches the sink long before the subscription's end:
/// releasing the lock wakes the delivery.
#[tokio::test]
async fn an_event_from_outside_a_wsman_request_is_pushed_at_once() {
    let server = MockServer::start().await.unwrap();
    let mut sink = sink().await;
    let mut c = Client::new(&server);
    let mut s = Sub::new(ev::PUSH);
    s.notify = Some(sink.url("quiet"));
    s.expires = Some("PT10M");
    subscribed(&c.send(&s.req(ALERT_URI)).await);
    let raised = raise(&server, 1, "outside");
    let got = sink
        .next(PATIENT)
        .await
        .expect("the event, long before the expiry");
    assert_eq!(got.action, ev::EVENT);
    assert_eq!(got.seqs, raised);
    server.shutdown().await;
}

#[tokio::test]
async fn push_with_ack_redelivers_an_unacknowledged_event_then_moves_on() {
    let server = MockServer::start().await.unwrap();
    let mut sink = sink().await;
    let mut c = Client::new(&server);
    let mut s = Sub::new(ev::PUSH_WITH_ACK);
    s.notify = Some(sink.url("acked"));
    s.delivery_extra = "<w:ConnectionRetry Total=\"3\">PT0.100S</w:ConnectionRetry>".into();
    let (id, _, _) = subscribed(&c.send(&s.req(ALERT_URI)).await);

    sink.refuse.store(1, Ordering::SeqCst);
    let raised = raise(&server, 2, "k");
    let got = sink.until_events(3, PATIENT).await;
    assert!(got.iter().all(|d| d.ack_requested && d.action == ev::EVENT));
    let seqs: Vec<u64> = got.iter().flat_map(|d| d.seqs.clone()).collect();
    // The first delivery was refused: it comes again, and only then the second event.
    assert_eq!(seqs, vec![raised[0], raised[0], raised[1]]);

    let r = manager_req(
        ns::action::GET_STATUS,
        &id,
        &format!("<e:GetStatus xmlns:e=\"{WSE}\"/>"),
    );
    c.send(&r)
        .await
        .assert_ok(&r, ns::action::GET_STATUS_RESPONSE);
    server.shutdown().await;
}

#[tokio::test]
async fn events_mode_batches_by_max_elements_and_max_time() {
    let server = MockServer::start().await.unwrap();
    let mut sink = sink().await;
    let mut c = Client::new(&server);
    let mut s = Sub::new(ev::EVENTS);
    s.notify = Some(sink.url("batches"));
    s.delivery_extra = "<w:MaxElements>3</w:MaxElements><w:MaxTime>PT0.400S</w:MaxTime>".into();
    subscribed(&c.send(&s.req(ALERT_URI)).await);

    let raised = raise(&server, 7, "b");
    let got = sink.until_events(7, PATIENT).await;
    let sizes: Vec<usize> = got.iter().map(|d| d.seqs.len()).collect();
    assert_eq!(sizes, vec![3, 3, 1], "{got:#?}");
    assert!(got.iter().all(|d| d.action == ev::EVENTS));
    assert!(
        got[0]
            .xml
            .contains("Event Action=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Event\"")
    );
    assert_eq!(
        got.iter().flat_map(|d| d.seqs.clone()).collect::<Vec<_>>(),
        raised
    );
    // The short batch waited for MaxTime rather than going out at once.
    assert!(got[2].at - got[1].at >= Duration::from_millis(300));
    server.shutdown().await;
}

/// Times no calendar or clock can hold are faults or "forever", never a panic: a
/// year of seventeen digits, an offset of a million hours, durations of a billion
/// years for Expires, Heartbeats, MaxTime and ConnectionRetry.
#[tokio::test]
async fn absurd_times_are_refused_or_saturate_and_the_mock_keeps_serving() {
    let server = MockServer::start().await.unwrap();
    let mut sink = sink().await;
    let mut c = Client::new(&server);
    for bad in [
        "99999999999999999-01-01T00:00:00Z",
        "2999-01-01T00:00:00+999999999999:00",
        "2999-01-01T99999999999999999999:00:00Z",
    ] {
        let mut s = Sub::new(ev::PULL);
        s.expires = Some(bad);
        let r = s.req(ALERT_URI);
        c.send(&r)
            .await
            .assert_fault(&r, FaultKind::InvalidExpirationTime, None);
    }
    // A billion years is granted as the source's longest subscription.
    let mut s = Sub::new(ev::PULL);
    s.expires = Some("P1000000000Y");
    let (_, expires, _) = subscribed(&c.send(&s.req(ALERT_URI)).await);
    assert!(expires.starts_with('P'), "{expires}");
    // Batches held for a billion years still go out when MaxElements is reached, and
    // heartbeats that far apart never come.
    let mut s = Sub::new(ev::EVENTS);
    s.notify = Some(sink.url("forever"));
    s.heartbeats = Some("P1000000000Y");
    s.delivery_extra = "<w:MaxElements>2</w:MaxElements><w:MaxTime>P1000000000Y</w:MaxTime>\
                        <w:ConnectionRetry Total=\"2\">P1000000000Y</w:ConnectionRetry>"
        .into();
    subscribed(&c.send(&s.req(ALERT_URI)).await);
    let raised = raise(&server, 2, "far");
    let got = sink.until_events(2, PATIENT).await;
    assert_eq!(
        got.iter().flat_map(|d| d.seqs.clone()).collect::<Vec<_>>(),
        raised,
        "{got:#?}"
    );
    assert!(got.iter().all(|d| d.action == ev::EVENTS), "{got:#?}");
    // Still serving.
    let mut s = Sub::new(ev::PULL);
    s.expires = Some("PT60S");
    subscribed(&c.send(&s.req(ALERT_URI)).await);
    server.shutdown().await;
}

/// The issue's "done when": push, batched, acked and pull subscriptions, each resumed
/// from its last bookmark after events were raised while it was gone: every event
/// arrives exactly once, in order.
#[tokio::test]
async fn every_mode_resumes_from_a_bookmark_without_loss_or_duplication() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    for mode in [ev::PUSH, ev::PUSH_WITH_ACK, ev::EVENTS, ev::PULL] {
        let mut sink = sink().await;
        let mut seen: Vec<u64> = Vec::new();
        let mut expected: Vec<u64> = Vec::new();
        let mut bookmark: Option<String> = None;
        for round in 0..2 {
            let mut s = Sub::new(mode);
            s.send_bookmarks = true;
            s.bookmark = bookmark.clone();
            if mode != ev::PULL {
                s.notify = Some(sink.url("resume"));
            }
            let (id, _, context) = subscribed(&c.send(&s.req(ALERT_URI)).await);
            expected.extend(raise(&server, 4, "r"));
            let want = expected.len();
            while seen.len() < want {
                let (seqs, mark) = if let Some(ctx) = &context {
                    let (seqs, mark, _) = pulled(&c.send(&event_pull(ctx, 3, "PT2S")).await);
                    (seqs, mark)
                } else {
                    let d = sink
                        .next(PATIENT)
                        .await
                        .unwrap_or_else(|| panic!("{mode}: only {seen:?} of {expected:?} arrived"));
                    (d.seqs, d.bookmark)
                };
                assert!(
                    mark.is_some(),
                    "{mode}: SendBookmarks gives a bookmark each time"
                );
                seen.extend(seqs);
                bookmark = mark;
            }
            let r = manager_req(
                ns::action::UNSUBSCRIBE,
                &id,
                &format!("<e:Unsubscribe xmlns:e=\"{WSE}\"/>"),
            );
            c.send(&r)
                .await
                .assert_ok(&r, ns::action::UNSUBSCRIBE_RESPONSE);
            if round == 0 {
                // Raised while nobody is subscribed: the bookmark resume must catch them.
                expected.extend(raise(&server, 3, "gone"));
            }
        }
        assert_eq!(
            seen, expected,
            "{mode}: lost or duplicated across the resume"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_earliest_bookmark_replays_the_kept_log_and_no_bookmark_starts_now() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let before = raise(&server, 2, "old");
    let mut s = Sub::new(ev::PULL);
    s.bookmark = Some(ev::BOOKMARK_EARLIEST.into());
    let (_, _, ctx) = subscribed(&c.send(&s.req(ALERT_URI)).await);
    let (seqs, _, _) = pulled(&c.send(&event_pull(&ctx.unwrap(), 100, "PT1S")).await);
    assert!(
        seqs.ends_with(&before) && seqs.first() == Some(&1),
        "{seqs:?}"
    );

    let (_, _, ctx) = subscribed(&c.send(&Sub::new(ev::PULL).req(ALERT_URI)).await);
    let r = event_pull(&ctx.unwrap(), 100, "PT0.2S");
    c.send(&r).await.assert_fault(&r, FaultKind::TimedOut, None);
    server.shutdown().await;
}

// ---------------------------------------------------------------- lifecycle

#[tokio::test]
async fn renew_and_get_status_grant_at_most_the_maximum_and_subscription_end_follows_expiry() {
    let server = serve("[eventing]\nmax_expiry_s = 60\n").await;
    let mut sink = sink().await;
    let mut c = Client::new(&server);
    let mut s = Sub::new(ev::PULL);
    s.expires = Some("PT10H");
    s.end_to = Some(sink.url("end"));
    let (id, expires, _) = subscribed(&c.send(&s.req(ALERT_URI)).await);
    let granted: wsman::XsDuration = expires.parse().unwrap();
    assert_eq!(
        granted.to_std(),
        Some(Duration::from_secs(60)),
        "granted less than asked, and says so: {expires}"
    );

    let r = manager_req(
        ns::action::RENEW,
        &id,
        &format!("<e:Renew xmlns:e=\"{WSE}\"><e:Expires>PT0.600S</e:Expires></e:Renew>"),
    );
    let a = c.send(&r).await;
    a.assert_ok(&r, ns::action::RENEW_RESPONSE);
    a.with_env(|e| match &e.body {
        Body::RenewResponse(x) => assert_eq!(x.expires.as_deref(), Some("PT0.6S")),
        _ => panic!("{}", a.text()),
    });
    let r = manager_req(
        ns::action::GET_STATUS,
        &id,
        &format!("<e:GetStatus xmlns:e=\"{WSE}\"/>"),
    );
    c.send(&r)
        .await
        .assert_ok(&r, ns::action::GET_STATUS_RESPONSE);

    // Expiry: SubscriptionEnd to EndTo, with EndTo's reference parameters.
    let end = sink.next(PATIENT).await.expect("SubscriptionEnd on expiry");
    assert_eq!(end.action, ns::action::SUBSCRIPTION_END);
    assert_eq!(end.identifier.as_deref(), Some("uuid:sink-EndTo"));
    assert!(
        end.xml.contains(ev::STATUS_SOURCE_CANCELLING),
        "{}",
        end.xml
    );
    let r = manager_req(
        ns::action::RENEW,
        &id,
        &format!("<e:Renew xmlns:e=\"{WSE}\"><e:Expires>PT1M</e:Expires></e:Renew>"),
    );
    c.send(&r)
        .await
        .assert_fault(&r, FaultKind::UnableToRenew, None);
    server.shutdown().await;
}

#[tokio::test]
async fn delivery_failure_ends_the_subscription_and_shutdown_says_so_too() {
    let server = MockServer::start().await.unwrap();
    let mut ends = sink().await;
    let mut c = Client::new(&server);
    // A sink that is not there: a bound then closed port.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut s = Sub::new(ev::PUSH);
    s.notify = Some(format!("http://{dead}/gone"));
    s.end_to = Some(ends.url("end"));
    s.delivery_extra = "<w:ConnectionRetry Total=\"1\">PT0.050S</w:ConnectionRetry>".into();
    subscribed(&c.send(&s.req(ALERT_URI)).await);
    raise(&server, 1, "x");
    let end = ends
        .next(PATIENT)
        .await
        .expect("SubscriptionEnd after the retries");
    assert!(end.xml.contains(ev::STATUS_DELIVERY_FAILURE), "{}", end.xml);
    let attempts = server
        .journal()
        .iter()
        .filter(|e| e.protocol == "eventing")
        .count();
    assert!(
        attempts >= 2,
        "both delivery attempts are journaled ({attempts})"
    );

    let mut s = Sub::new(ev::PULL);
    s.end_to = Some(ends.url("end"));
    subscribed(&c.send(&s.req(ALERT_URI)).await);
    server.shutdown().await;
    let end = ends
        .next(PATIENT)
        .await
        .expect("SubscriptionEnd on shutdown");
    assert!(
        end.xml.contains(ev::STATUS_SOURCE_SHUTTING_DOWN),
        "{}",
        end.xml
    );
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn subscribe_faults() {
    let server = serve("[eventing]\nmodes = [\"pull\", \"push\"]\n").await;
    let sink = sink().await;
    let mut c = Client::new(&server);

    let mut s = Sub::new(ev::EVENTS);
    s.notify = Some(sink.url("x"));
    let r = s.req(ALERT_URI);
    let a = c.send(&r).await;
    a.assert_fault(&r, FaultKind::DeliveryModeRequestedUnavailable, None);
    assert!(a.text().contains("SupportedDeliveryMode"), "{}", a.text());
    let r = Sub::new("urn:no-such-mode").req(ALERT_URI);
    c.send(&r)
        .await
        .assert_fault(&r, FaultKind::DeliveryModeRequestedUnavailable, None);

    for bad in ["PT-5S", "soon", "2001-01-01T00:00:00Z", "PT0S"] {
        let mut s = Sub::new(ev::PULL);
        s.expires = Some(bad);
        let r = s.req(ALERT_URI);
        c.send(&r)
            .await
            .assert_fault(&r, FaultKind::InvalidExpirationTime, None);
    }
    let mut s = Sub::new(ev::PULL);
    s.expires = Some("2999-01-01T00:00:00Z");
    let (_, expires, _) = subscribed(&c.send(&s.req(ALERT_URI)).await);
    assert!(
        expires.contains('T') && expires.ends_with('Z'),
        "dateTime asked, dateTime granted: {expires}"
    );

    for far in [
        "http://192.0.2.1:80/sink",
        "http://example.com/sink",
        "https://127.0.0.1/s",
    ] {
        let mut s = Sub::new(ev::PUSH);
        s.notify = Some(far.into());
        let r = s.req(ALERT_URI);
        c.send(&r)
            .await
            .assert_fault(&r, FaultKind::UnsupportedFeature, Some("UnusableAddress"));
        // The EndTo of any mode is held to the same rule: the mock never connects out.
        let mut s = Sub::new(ev::PULL);
        s.end_to = Some(far.into());
        let r = s.req(ALERT_URI);
        c.send(&r)
            .await
            .assert_fault(&r, FaultKind::UnsupportedFeature, Some("UnusableAddress"));
    }

    let mut s = Sub::new(ev::PULL);
    s.filter = Some(
        "<w:Filter Dialect=\"http://www.w3.org/TR/1999/REC-xpath-19991116\">/x</w:Filter>".into(),
    );
    let r = s.req(ALERT_URI);
    c.send(&r)
        .await
        .assert_fault(&r, FaultKind::FilteringRequestedUnavailable, None);

    let mut s = Sub::new(ev::PULL);
    s.bookmark = Some("urn:touchstone:bookmark:0:1".into());
    let r = s.req(ALERT_URI);
    c.send(&r)
        .await
        .assert_fault(&r, FaultKind::InvalidBookmark, Some("Invalid"));

    let r = manager_req(
        ns::action::RENEW,
        "uuid:00000000-0000-4000-8000-000000000000",
        &format!("<e:Renew xmlns:e=\"{WSE}\"/>"),
    );
    c.send(&r)
        .await
        .assert_fault(&r, FaultKind::UnableToRenew, None);
    let r = manager_req(
        ns::action::UNSUBSCRIBE,
        "uuid:00000000-0000-4000-8000-000000000000",
        &format!("<e:Unsubscribe xmlns:e=\"{WSE}\"/>"),
    );
    c.send(&r)
        .await
        .assert_fault(&r, FaultKind::DestinationUnreachable, None);
    server.shutdown().await;
}

// ---------------------------------------------------------------- shapes and sources

#[tokio::test]
async fn a_sel_record_reaches_a_push_subscriber_as_the_creation_of_its_log_record() {
    let server = MockServer::start().await.unwrap();
    let mut sink = sink().await;
    let mut c = Client::new(&server);
    let mut s = Sub::new(ev::PUSH);
    s.notify = Some(sink.url("sel"));
    s.filter = Some(format!(
        "<w:Filter Dialect=\"{}\">SELECT * FROM CIM_InstCreation</w:Filter>",
        ns::dialect::WQL
    ));
    subscribed(&c.send(&s.req(ALERT_URI)).await);
    raise(&server, 1, "not-selected");
    let id = server.mock().with_machine(|m, now| {
        m.sel_add(
            machine::SelEntry::system_event(
                0x01,
                0x30,
                machine::EventDirection::Assert,
                0x01,
                [0x59, 0, 0],
                "Temperature upper critical (added over IPMI)",
            ),
            now,
        )
        .unwrap()
    });
    let d = sink
        .next(PATIENT)
        .await
        .expect("the SEL record's indication");
    assert_eq!(d.action, ev::EVENT);
    assert!(d.xml.contains("CIM_InstCreation"), "{}", d.xml);
    assert!(d.xml.contains("SourceInstance"), "{}", d.xml);
    assert!(d.xml.contains("CIM_LogRecord"), "{}", d.xml);
    assert!(
        d.xml.contains(&format!(">{id}<")),
        "the record id: {}",
        d.xml
    );
    assert!(!d.xml.contains("not-selected"));
    server.shutdown().await;
}

#[tokio::test]
async fn wql_filters_select_on_the_indications_properties() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let mut s = Sub::new(ev::PULL);
    s.filter = Some(format!(
        "<w:Filter Dialect=\"{}\">SELECT * FROM CIM_AlertIndication WHERE ElementName = 'keep0'</w:Filter>",
        ns::dialect::WQL
    ));
    let (_, _, ctx) = subscribed(&c.send(&s.req(ALERT_URI)).await);
    raise(&server, 1, "drop");
    let kept = raise(&server, 1, "keep");
    let (seqs, _, _) = pulled(&c.send(&event_pull(&ctx.unwrap(), 10, "PT1S")).await);
    assert_eq!(seqs, kept);
    server.shutdown().await;
}

#[tokio::test]
async fn the_event_log_resource_answers_windows_events_of_the_selected_channel() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let mut s = Sub::new(ev::PULL);
    s.filter = Some(format!(
        "<w:Filter Dialect=\"{}\"><QueryList><Query Id=\"0\"><Select Path=\"System\">*</Select></Query></QueryList></w:Filter>",
        ev::EVENT_QUERY_DIALECT
    ));
    let (_, _, ctx) = subscribed(&c.send(&s.req(ev::EVENT_LOG_URI)).await);
    // An Application-channel alert (not selected), then a SEL record (System).
    raise(&server, 1, "app");
    server.mock().with_machine(|m, now| {
        m.sel_add(
            machine::SelEntry::system_event(
                0x07,
                0x01,
                machine::EventDirection::Assert,
                0x6F,
                [0, 0, 0],
                "Processor IERR",
            ),
            now,
        )
        .unwrap()
    });
    let a = c.send(&event_pull(&ctx.unwrap(), 10, "PT1S")).await;
    let (seqs, _, _) = pulled(&a);
    assert_eq!(seqs.len(), 1, "{}", a.text());
    let x = a.text();
    for part in [
        "xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"",
        "<Provider Name=",
        "<EventID>",
        "<Level>",
        "<TimeCreated SystemTime=",
        "<EventRecordID>",
        "<Channel>System</Channel>",
        "<Computer>",
        "<EventData>",
    ] {
        assert!(x.contains(part), "{part} missing:\n{x}");
    }
    server.shutdown().await;
}

// ---------------------------------------------------------------- seeded defects
//
// Each `[wsman] defects` switch for eventing does what its name says (the conformance
// suite's `mocks/defects/eventing-*.toml` rely on them).

fn with_defect(defect: &str) -> String {
    format!("[wsman]\ndefects = [\"{defect}\"]\n")
}

#[tokio::test]
async fn defect_no_heartbeats_sends_none() {
    let server = serve(&with_defect("eventing_no_heartbeats")).await;
    let mut sink = sink().await;
    let mut s = Sub::new(ev::PUSH);
    s.notify = Some(sink.url("hb"));
    s.heartbeats = Some("PT0.200S");
    subscribed(&Client::new(&server).send(&s.req(ALERT_URI)).await);
    assert!(sink.next(Duration::from_millis(900)).await.is_none());
    // Events still flow: only heartbeats are missing.
    raise(&server, 1, "e");
    assert_eq!(sink.next(PATIENT).await.unwrap().action, ev::EVENT);
    server.shutdown().await;
}

#[tokio::test]
async fn defect_late_heartbeats_come_at_twice_the_interval() {
    let server = serve(&with_defect("eventing_late_heartbeats")).await;
    let mut sink = sink().await;
    let mut s = Sub::new(ev::PUSH);
    s.notify = Some(sink.url("hb"));
    s.heartbeats = Some("PT0.200S");
    let t0 = Instant::now();
    subscribed(&Client::new(&server).send(&s.req(ALERT_URI)).await);
    let a = sink.next(PATIENT).await.unwrap();
    let b = sink.next(PATIENT).await.unwrap();
    assert_eq!(a.action, ev::HEARTBEAT);
    assert!(a.at - t0 >= Duration::from_millis(380), "{:?}", a.at - t0);
    assert!(
        b.at - a.at >= Duration::from_millis(380),
        "{:?}",
        b.at - a.at
    );
    server.shutdown().await;
}

/// `heartbeat_schedule` times each heartbeat by its number: two quick ones (half the
/// interval), then every later one four intervals after the previous.
#[tokio::test]
async fn a_heartbeat_schedule_sends_quick_heartbeats_then_late_ones() {
    let server = serve("[eventing]\nheartbeat_schedule = [50, 50, 400]\n").await;
    let mut sink = sink().await;
    let mut s = Sub::new(ev::PUSH);
    s.notify = Some(sink.url("hb"));
    s.heartbeats = Some("PT0.200S");
    let t0 = Instant::now();
    subscribed(&Client::new(&server).send(&s.req(ALERT_URI)).await);
    let mut at = vec![t0];
    for _ in 0..4 {
        let d = sink.next(PATIENT).await.unwrap();
        assert_eq!(d.action, ev::HEARTBEAT);
        at.push(d.at);
    }
    let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    let ms = Duration::from_millis;
    assert!(gaps[0] >= ms(90) && gaps[1] >= ms(90), "{gaps:?}");
    // Quick: well under the 800 ms of the late ones.
    assert!(gaps[1] < ms(600), "{gaps:?}");
    assert!(gaps[2] >= ms(780) && gaps[3] >= ms(780), "{gaps:?}");
    server.shutdown().await;
}

#[test]
fn a_heartbeat_schedule_outside_1_to_10000_percent_is_refused_with_its_key() {
    for bad in ["[0]", "[100, 10001]"] {
        let toml = format!("[eventing]\nheartbeat_schedule = {bad}\n");
        let err = match mock::MockServer::builder().scenario_str(&toml) {
            Ok(_) => panic!("{bad} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("eventing.heartbeat_schedule"), "{bad}: {err}");
    }
    assert!(
        mock::MockServer::builder()
            .scenario_str("[eventing]\nheartbeat_schedule = [1, 10000]\n")
            .is_ok()
    );
}

#[tokio::test]
async fn defect_no_identifier_drops_the_reference_parameters() {
    let server = serve(&with_defect("eventing_no_identifier")).await;
    let mut sink = sink().await;
    let mut s = Sub::new(ev::PUSH);
    s.notify = Some(sink.url("id"));
    subscribed(&Client::new(&server).send(&s.req(ALERT_URI)).await);
    raise(&server, 1, "e");
    let d = sink.next(PATIENT).await.unwrap();
    assert_eq!(d.action, ev::EVENT);
    assert_eq!(d.identifier, None);
    server.shutdown().await;
}

#[tokio::test]
async fn defect_oversized_batch_exceeds_max_elements() {
    let server = serve(&with_defect("eventing_oversized_batch")).await;
    let mut sink = sink().await;
    let mut s = Sub::new(ev::EVENTS);
    s.notify = Some(sink.url("big"));
    s.delivery_extra = "<w:MaxElements>2</w:MaxElements><w:MaxTime>PT0.300S</w:MaxTime>".into();
    subscribed(&Client::new(&server).send(&s.req(ALERT_URI)).await);
    raise(&server, 6, "e");
    let d = sink.next(PATIENT).await.unwrap();
    assert!(d.seqs.len() > 2, "{:?}", d.seqs);
    server.shutdown().await;
}

#[tokio::test]
async fn defect_bookmark_skip_loses_the_event_after_the_bookmark() {
    let server = serve(&with_defect("eventing_bookmark_skip")).await;
    let mut c = Client::new(&server);
    let mut s = Sub::new(ev::PULL);
    s.send_bookmarks = true;
    let (_, _, ctx) = subscribed(&c.send(&s.req(ALERT_URI)).await);
    raise(&server, 1, "a");
    let (_, mark, _) = pulled(&c.send(&event_pull(&ctx.unwrap(), 5, "PT1S")).await);
    let later = raise(&server, 2, "b");
    let mut s = Sub::new(ev::PULL);
    s.bookmark = mark;
    let (_, _, ctx) = subscribed(&c.send(&s.req(ALERT_URI)).await);
    let (seqs, _, _) = pulled(&c.send(&event_pull(&ctx.unwrap(), 5, "PT1S")).await);
    assert_eq!(seqs, later[1..].to_vec());
    server.shutdown().await;
}

#[tokio::test]
async fn defect_no_subscription_end_stays_silent_on_expiry() {
    let server = serve(&with_defect("eventing_no_subscription_end")).await;
    let mut sink = sink().await;
    let mut c = Client::new(&server);
    let mut s = Sub::new(ev::PULL);
    s.expires = Some("PT0.200S");
    s.end_to = Some(sink.url("end"));
    let (id, _, _) = subscribed(&c.send(&s.req(ALERT_URI)).await);
    assert!(sink.next(Duration::from_millis(900)).await.is_none());
    // It did expire.
    let r = manager_req(
        ns::action::GET_STATUS,
        &id,
        &format!("<e:GetStatus xmlns:e=\"{WSE}\"/>"),
    );
    c.send(&r)
        .await
        .assert_fault(&r, FaultKind::DestinationUnreachable, None);
    server.shutdown().await;
}

#[tokio::test]
async fn delivery_fault_rules_drop_and_duplicate_by_class() {
    let server = serve(
        "[[eventing.delivery_faults]]\nclass = \"CIM_AlertIndication\"\naction = \"drop\"\ntimes = 1\n\n\
         [[eventing.delivery_faults]]\nclass = \"CIM_AlertIndication\"\naction = \"duplicate\"\ntimes = 1\n",
    )
    .await;
    let mut sink = sink().await;
    let mut s = Sub::new(ev::PUSH);
    s.notify = Some(sink.url("faults"));
    subscribed(&Client::new(&server).send(&s.req(ALERT_URI)).await);
    let raised = raise(&server, 3, "f");
    let got = sink.until_events(3, PATIENT).await;
    let seqs: Vec<u64> = got.iter().flat_map(|d| d.seqs.clone()).collect();
    // The first is dropped, the second sent twice, the third once.
    assert_eq!(seqs, vec![raised[1], raised[1], raised[2]]);
    server.shutdown().await;
}

// ---------------------------------------------------------------- more sources and limits

#[tokio::test]
async fn a_threshold_crossing_reaches_a_push_subscriber_as_an_alert() {
    let server = MockServer::start().await.unwrap();
    let mut sink = sink().await;
    let mut s = Sub::new(ev::PUSH);
    s.notify = Some(sink.url("alerts"));
    s.filter = Some(format!(
        "<w:Filter Dialect=\"{}\">SELECT * FROM CIM_AlertIndication WHERE AlertingManagedElement = 'CPU1_TEMP'</w:Filter>",
        ns::dialect::WQL
    ));
    subscribed(&Client::new(&server).send(&s.req(ALERT_URI)).await);
    server
        .mock()
        .with_machine(|m, now| m.set_sensor("CPU1_TEMP", 120.0, now))
        .unwrap();
    let d = sink.next(PATIENT).await.expect("the crossing's alert");
    assert_eq!(d.action, ev::EVENT);
    assert!(d.xml.contains("CIM_AlertIndication"), "{}", d.xml);
    assert!(d.xml.contains("CPU1_TEMP"), "{}", d.xml);
    assert!(d.xml.contains("PerceivedSeverity"), "{}", d.xml);
    server.shutdown().await;
}

#[tokio::test]
async fn a_pull_subscriber_that_fell_behind_is_told_how_many_events_it_lost() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let (_, _, ctx) = subscribed(&c.send(&Sub::new(ev::PULL).req(ALERT_URI)).await);
    let capacity = server.mock().with_machine(|m, _| m.events().capacity());
    let raised = raise(&server, capacity + 5, "flood");
    let (seqs, _, dropped) = pulled(&c.send(&event_pull(&ctx.unwrap(), 2, "PT1S")).await);
    assert_eq!(dropped, Some(5));
    assert_eq!(seqs, raised[5..7].to_vec());
    server.shutdown().await;
}

#[tokio::test]
async fn events_batches_are_held_to_max_envelope_size() {
    let server = MockServer::start().await.unwrap();
    let mut sink = sink().await;
    let mut s = Sub::new(ev::EVENTS);
    s.notify = Some(sink.url("small"));
    s.delivery_extra = "<w:MaxElements>10</w:MaxElements>\
                        <w:MaxEnvelopeSize>4096</w:MaxEnvelopeSize>"
        .into();
    subscribed(&Client::new(&server).send(&s.req(ALERT_URI)).await);
    let raised = raise(&server, 6, "size");
    let got = sink.until_events(6, PATIENT).await;
    assert!(got.len() > 1, "one batch would not fit: {got:#?}");
    for d in &got {
        assert!(d.xml.len() <= 4096, "{} octets", d.xml.len());
    }
    assert_eq!(
        got.iter().flat_map(|d| d.seqs.clone()).collect::<Vec<_>>(),
        raised
    );
    server.shutdown().await;
}
