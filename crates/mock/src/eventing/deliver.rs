//! Push delivery: one task per subscription that has somewhere to send to. It wakes
//! when events may be waiting (the mock's `Wake` channel, bumped after operations that
//! held the machine lock), when a heartbeat or a batch is due, when the subscription
//! expires, and every [`POLL`] (sensor walks cross thresholds with time alone: the
//! task ticks the machine so that crossings are noticed).
//!
//! Every message is an HTTP POST of a SOAP envelope to a loopback sink (the address
//! was checked at Subscribe), carrying NotifyTo's reference parameters as headers
//! (the subscriber's own ids), with a timeout. A failed delivery is retried as
//! `wsman:ConnectionRetry` says, then the subscription ends with SubscriptionEnd
//! `wse:DeliveryFailure` to EndTo. Every attempt is journaled (protocol `eventing`).

use std::borrow::Cow;
use std::sync::Weak;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use wsman::body::{Body, SubscriptionEnd};
use wsman::envelope::{Header, OtherHeader};
use wsman::ns::eventing as ev;
use wsman::write::XmlWriter;
use wsman::{Envelope, Epr, Name, Tree, TreeBuilder, ns};

use super::render::Rendered;
use super::{Collected, FaultAction, Mode, Subscription, Subscriptions, loopback_target, new_id};
use crate::journal::{Detail, Entry};
use crate::mock::{Mock, Shared};

/// How often a delivery task looks at the machine when nothing wakes it.
pub(crate) const POLL: Duration = Duration::from_millis(50);
/// How long one HTTP delivery may take, connection included.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a sink's answer read.
const MAX_ANSWER: usize = 256 * 1024;
const SOAP_CT: &str = "application/soap+xml;charset=UTF-8";

/// Starts the delivery task of subscription `id` (needs a Tokio runtime: false
/// without one).
pub(crate) fn spawn(mock: &Mock, id: String) -> bool {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return false;
    };
    let weak = std::sync::Arc::downgrade(&mock.shared);
    let wake = mock.lock().event_wake.subscribe();
    rt.spawn(run(weak, id, wake));
    true
}

/// What one look at the machine decided.
enum Step {
    /// The subscription is gone (unsubscribed, the scenario reloaded, the mock dropped).
    Gone,
    /// It expired: SubscriptionEnd goes to EndTo (when there is one).
    Expired(Box<Subscription>),
    /// Send this message; when delivered, the cursor moves to `upto`.
    Send(Message, u64),
    /// Nothing to send before `until` (mock ms).
    Wait(u64),
}

/// A message ready to post.
struct Message {
    xml: String,
    action: &'static str,
    /// Events in it (0 for a heartbeat).
    events: usize,
    /// Classes of the events (for the delivery fault rules).
    classes: Vec<String>,
    ack: bool,
}

async fn run(weak: Weak<Shared>, id: String, mut wake: tokio::sync::watch::Receiver<u64>) {
    let mut last_sent: Option<u64> = None;
    let mut batch_since: Option<u64> = None;
    // Heartbeats delivered so far (the `heartbeat_schedule` defect times each by its
    // number).
    let mut beats = 0;
    loop {
        let Some(shared) = weak.upgrade() else { return };
        let mock = Mock { shared };
        let now = mock.now_ms();
        let last = *last_sent.get_or_insert(now);
        let step = plan(&mock, &id, now, last, beats, &mut batch_since);
        match step {
            Step::Gone => return,
            Step::Expired(sub) => {
                end(
                    &mock,
                    &sub,
                    ev::STATUS_SOURCE_CANCELLING,
                    "the subscription expired",
                )
                .await;
                return;
            }
            Step::Send(msg, upto) => {
                let Some(sub) = mock.lock().subscriptions.get(&id).cloned() else {
                    return;
                };
                match deliver(&mock, &sub, &msg).await {
                    Ok(()) => {
                        let mut inner = mock.lock();
                        if let Some(s) = inner.subscriptions.get_mut(&id) {
                            s.advance(upto);
                        }
                        last_sent = Some(mock.now_ms());
                        batch_since = None;
                        if msg.events == 0 {
                            beats += 1;
                        }
                    }
                    Err(why) => {
                        let removed = mock.lock().subscriptions.remove(&id);
                        if let Some(sub) = removed {
                            end(&mock, &sub, ev::STATUS_DELIVERY_FAILURE, &why).await;
                        }
                        return;
                    }
                }
            }
            Step::Wait(until) => {
                let wait = Duration::from_millis(until.saturating_sub(now)).min(POLL);
                drop(mock);
                tokio::select! {
                    changed = wake.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// Under the machine lock: ticks the sensors, then decides what to send (`beats`:
/// heartbeats delivered so far).
fn plan(
    mock: &Mock,
    id: &str,
    now: u64,
    last_sent: u64,
    beats: usize,
    batch_since: &mut Option<u64>,
) -> Step {
    let mut inner = mock.lock();
    inner.machine.tick(now);
    let last_seq = inner.machine.events().last_seq();
    inner.event_wake.notify(last_seq);
    let scenario = inner.scenario.clone();
    let Some(sub) = inner.subscriptions.get(id).cloned() else {
        return Step::Gone;
    };
    if sub.is_expired(now) {
        inner.subscriptions.remove(id);
        return Step::Expired(Box::new(sub));
    }
    let mut until = sub.expires_at;
    if !sub.mode.is_push() {
        return Step::Wait(until);
    }
    let limit = match sub.mode {
        Mode::Events if scenario.defect("eventing_oversized_batch") => {
            sub.max_elements as usize * 2 + 1
        }
        Mode::Events => sub.max_elements as usize,
        _ => 1,
    };
    let collected = super::collect(&sub, &mut inner.machine, limit);
    if collected.events.is_empty() {
        // Only events the filter does not select, if any: handled.
        if let Some(s) = inner.subscriptions.get_mut(id) {
            s.advance(collected.upto);
        }
        *batch_since = None;
    } else {
        let first = *batch_since.get_or_insert(now);
        let full = collected.events.len() >= sub.max_elements as usize;
        let due = first.saturating_add(sub.max_time_ms);
        if sub.mode != Mode::Events || full || now >= due {
            let msg = events_message(&inner.subscriptions, &sub, collected, &scenario);
            return Step::Send(msg.0, msg.1);
        }
        until = until.min(due);
    }
    if let Some(hb) = sub.heartbeat_ms {
        if !scenario.defect("eventing_no_heartbeats") {
            let interval = if scenario.defect("eventing_late_heartbeats") {
                hb.saturating_mul(2)
            } else {
                scenario.eventing.heartbeat_gap_ms(hb, beats)
            };
            let due = last_sent.saturating_add(interval);
            if now >= due {
                let bookmark = sub
                    .send_bookmarks
                    .then(|| inner.subscriptions.bookmark(sub.cursor));
                let mut extra = Vec::new();
                if let Some(b) = bookmark {
                    extra.push(leaf_header(ns::WSMAN, "Bookmark", b));
                }
                if sub.mode == Mode::PushWithAck {
                    extra.push(leaf_header(ns::WSMAN, "AckRequested", String::new()));
                }
                let xml = envelope(&sub, ev::HEARTBEAT, extra, None, &scenario);
                return Step::Send(
                    Message {
                        xml,
                        action: ev::HEARTBEAT,
                        events: 0,
                        classes: Vec::new(),
                        ack: sub.mode == Mode::PushWithAck,
                    },
                    sub.cursor,
                );
            }
            until = until.min(due);
        }
    }
    Step::Wait(until)
}

/// The message for collected events: one event (Push, PushWithAck) or a batch
/// (Events), held to MaxEnvelopeSize; the cursor it moves to when delivered.
fn events_message(
    store: &Subscriptions,
    sub: &Subscription,
    collected: Collected<Rendered>,
    scenario: &crate::scenario::Scenario,
) -> (Message, u64) {
    let mut upto = collected.upto;
    let mut events = collected.events;
    if sub.mode == Mode::Events {
        if let Some(max) = sub.max_envelope {
            // Room for the envelope's headers, then as many events as fit (one at least).
            let mut room = max.saturating_sub(2048);
            let mut keep = 0;
            for (_, r) in &events {
                let size = r.xml.len() as u64 + 64;
                if keep > 0 && size > room {
                    break;
                }
                room = room.saturating_sub(size);
                keep += 1;
            }
            if keep < events.len() {
                upto = events[keep - 1].0;
                events.truncate(keep);
            }
        }
    }
    let last = events.last().map_or(upto, |(seq, _)| *seq);
    if sub.mode != Mode::Events {
        upto = last;
    }
    let mut extra = Vec::new();
    if sub.send_bookmarks {
        extra.push(leaf_header(ns::WSMAN, "Bookmark", store.bookmark(last)));
    }
    if collected.dropped > 0 {
        let mut b = TreeBuilder::with_capacity(2);
        b.start(Name::new(ns::WSMAN, "DroppedEvents"));
        b.attr(Name::new("", "Action"), ev::EVENT);
        b.text(collected.dropped.to_string());
        b.end();
        extra.push(b.finish());
    }
    if sub.mode == Mode::PushWithAck {
        extra.push(leaf_header(ns::WSMAN, "AckRequested", String::new()));
    }
    let mut w = XmlWriter::body_fragment();
    let action = if sub.mode == Mode::Events {
        let action_attr = Name::new("", "Action");
        w.start(&Name::new(ns::WSMAN, "Events"), &[]);
        for (_, r) in &events {
            w.start(&Name::new(ns::WSMAN, "Event"), &[(&action_attr, ev::EVENT)]);
            w.raw(&r.xml);
            w.end();
        }
        w.end();
        ev::EVENTS
    } else {
        if let Some((_, r)) = events.first() {
            w.raw(&r.xml);
        }
        ev::EVENT
    };
    let body = String::from_utf8(w.into_inner()).unwrap_or_default();
    let xml = envelope(sub, action, extra, Some(body), scenario);
    (
        Message {
            xml,
            action,
            events: events.len(),
            classes: events.iter().map(|(_, r)| r.class.clone()).collect(),
            ack: sub.mode == Mode::PushWithAck,
        },
        upto,
    )
}

fn leaf_header(ns_uri: &'static str, local: &'static str, text: String) -> Tree<'static> {
    Tree::leaf(Name::new(ns_uri, local), text)
}

/// A message to NotifyTo: its reference parameters as headers (unless the
/// `eventing_no_identifier` defect is on), then `extra`.
fn envelope(
    sub: &Subscription,
    action: &'static str,
    extra: Vec<Tree<'static>>,
    body: Option<String>,
    scenario: &crate::scenario::Scenario,
) -> String {
    let to = sub
        .delivery
        .notify_to
        .clone()
        .unwrap_or_else(Epr::anonymous);
    let with_ids = !scenario.defect("eventing_no_identifier");
    addressed(
        &to,
        action,
        extra,
        body.map_or(Body::Empty, |b| Body::Xml(b.into())),
        with_ids,
    )
}

/// An envelope to `to`, its reference parameters as headers when `with_ids`.
fn addressed(
    to: &Epr<'static>,
    action: &'static str,
    extra: Vec<Tree<'static>>,
    body: Body<'static>,
    with_ids: bool,
) -> String {
    let mut header = Header {
        to: Some(to.address.clone()),
        action: Some(Cow::Borrowed(action)),
        message_id: Some(Cow::Owned(new_id())),
        reply_to: Some(Epr::anonymous()),
        ..Header::default()
    };
    if with_ids {
        header.resource_uri = to.resource_uri.clone();
        header.selectors = to.selectors.clone();
        for p in &to.other_parameters {
            header.other.push(OtherHeader {
                must_understand: false,
                element: p.clone(),
            });
        }
    }
    for e in extra {
        header.other.push(OtherHeader {
            must_understand: false,
            element: e,
        });
    }
    Envelope {
        header,
        body,
        extra: Vec::new(),
        meta: Default::default(),
    }
    .to_xml()
}

/// Delivers a message: the fault rules, then the POST, retried as ConnectionRetry
/// says. An error says why it finally failed.
async fn deliver(mock: &Mock, sub: &Subscription, msg: &Message) -> Result<(), String> {
    let address = sub
        .delivery
        .notify_to
        .as_ref()
        .map(|e| e.address.to_string())
        .unwrap_or_default();
    let (addr, path) = loopback_target(&address)?;
    let (retries, interval) = sub.delivery.retry;
    let mut why = String::new();
    for attempt in 0..=retries {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(interval)).await;
            if !mock.lock().subscriptions.contains(&sub.id) {
                return Ok(());
            }
        }
        let rule = fault_rule(mock, msg);
        let (send, twice) = match rule {
            Some((FaultAction::Drop, _)) => {
                journal(
                    mock,
                    sub,
                    msg,
                    addr,
                    attempt,
                    Instant::now(),
                    "dropped by a delivery fault rule",
                );
                return Ok(());
            }
            Some((FaultAction::Delay, ms)) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                (true, false)
            }
            Some((FaultAction::Duplicate, _)) => (true, true),
            Some((FaultAction::Fail, _)) => (false, false),
            None => (true, false),
        };
        let started = Instant::now();
        let result = if send {
            post(addr, &path, &msg.xml).await
        } else {
            Err("the sink connection failed (a delivery fault rule)".into())
        };
        let outcome = match &result {
            Ok((status, _)) => format!("HTTP {status}"),
            Err(e) => e.clone(),
        };
        journal(mock, sub, msg, addr, attempt, started, &outcome);
        match result.and_then(|(status, text)| accepted(status, &text, msg.ack)) {
            Ok(()) => {
                if twice {
                    let started = Instant::now();
                    let r = post(addr, &path, &msg.xml).await;
                    let outcome = r.map_or_else(|e| e, |(s, _)| format!("HTTP {s} (duplicate)"));
                    journal(mock, sub, msg, addr, attempt, started, &outcome);
                }
                return Ok(());
            }
            Err(e) => why = e,
        }
    }
    Err(format!(
        "delivery to {address} failed after {} attempt(s): {why}",
        retries + 1
    ))
}

/// The first delivery fault rule that applies to a message with events, counted.
fn fault_rule(mock: &Mock, msg: &Message) -> Option<(FaultAction, u64)> {
    if msg.events == 0 {
        return None;
    }
    let mut inner = mock.lock();
    let rules = inner.scenario.eventing.delivery_faults.clone();
    let hits = &mut inner.delivery_fault_hits;
    if hits.len() < rules.len() {
        hits.resize(rules.len(), 0);
    }
    for (i, r) in rules.iter().enumerate() {
        if msg.classes.iter().any(|c| r.matches(c)) && r.times.is_none_or(|t| hits[i] < t) {
            hits[i] += 1;
            return Some((r.action, r.delay_ms.unwrap_or(0)));
        }
    }
    None
}

/// Whether the sink's answer accepts the delivery: a 2xx, and with AckRequested an
/// answer whose Action is `wsman/Ack`.
fn accepted(status: u16, text: &str, ack: bool) -> Result<(), String> {
    if !(200..300).contains(&status) {
        return Err(format!("the sink answered HTTP {status}"));
    }
    if ack {
        let env = wsman::parse(text, &wsman::Limits::default())
            .map_err(|e| format!("the sink's answer is not an Ack: {e}"))?;
        if env.header.action.as_deref() != Some(ev::ACK) {
            return Err(format!(
                "the sink's answer is not an Ack (Action {:?})",
                env.header.action
            ));
        }
    }
    Ok(())
}

/// One HTTP POST, connection included, within [`SEND_TIMEOUT`].
async fn post(addr: std::net::SocketAddr, path: &str, xml: &str) -> Result<(u16, String), String> {
    let work = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("HTTP handshake with {addr} failed: {e}"))?;
        let driver = tokio::spawn(conn);
        let req = http::Request::post(path)
            .header("host", addr.to_string())
            .header("content-type", SOAP_CT)
            .body(Full::new(Bytes::from(xml.to_owned())))
            .map_err(|e| e.to_string())?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("POST to {addr} failed: {e}"))?;
        let status = resp.status().as_u16();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("reading the sink's answer failed: {e}"))?
            .to_bytes();
        driver.abort();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(SEND_TIMEOUT, work)
        .await
        .map_err(|_| format!("no answer from {addr} within {SEND_TIMEOUT:?}"))?
}

fn journal(
    mock: &Mock,
    sub: &Subscription,
    msg: &Message,
    peer: std::net::SocketAddr,
    attempt: u32,
    started: Instant,
    outcome: &str,
) {
    journal_raw(
        mock, &sub.id, msg.action, msg.events, &msg.xml, peer, attempt, started, outcome,
    );
}

#[allow(clippy::too_many_arguments)]
fn journal_raw(
    mock: &Mock,
    id: &str,
    action: &str,
    events: usize,
    xml: &str,
    peer: std::net::SocketAddr,
    attempt: u32,
    started: Instant,
    outcome: &str,
) {
    let body: String = xml.chars().take(crate::journal::MAX_STORED_BODY).collect();
    let detail = Detail::Data(serde_json::json!({
        "direction": "delivery",
        "subscription": id,
        "action": action,
        "events": events,
        "attempt": attempt,
        "outcome": outcome,
        "body": body,
    }));
    let elapsed = started.elapsed();
    let at = SystemTime::now()
        .checked_sub(elapsed)
        .unwrap_or_else(SystemTime::now);
    mock.journal()
        .record(Entry::new("eventing", peer, at, elapsed, detail));
}

/// Sends SubscriptionEnd to the subscription's EndTo (once, best effort), unless the
/// `eventing_no_subscription_end` defect is on.
pub(crate) async fn end(mock: &Mock, sub: &Subscription, status: &'static str, reason: &str) {
    let Some(end_to) = sub.delivery.end_to.clone() else {
        return;
    };
    if mock.scenario().defect("eventing_no_subscription_end") {
        return;
    }
    let Ok((addr, path)) = loopback_target(&end_to.address) else {
        return;
    };
    let body = Body::SubscriptionEnd(SubscriptionEnd {
        subscription_manager: Some(sub.delivery.manager.clone()),
        status: Cow::Borrowed(status),
        reason: Some(Cow::Owned(reason.to_owned())),
    });
    let xml = addressed(
        &end_to,
        ns::action::SUBSCRIPTION_END,
        Vec::new(),
        body,
        true,
    );
    let started = Instant::now();
    let outcome = match post(addr, &path, &xml).await {
        Ok((s, _)) => format!("HTTP {s}"),
        Err(e) => e,
    };
    journal_raw(
        mock,
        &sub.id,
        ns::action::SUBSCRIPTION_END,
        0,
        &xml,
        addr,
        0,
        started,
        &outcome,
    );
}
