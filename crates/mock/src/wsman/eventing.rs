//! WS-Eventing operations (DSP0226 clause 10): Subscribe, Renew, GetStatus,
//! Unsubscribe, and Pull/Release of a Pull-mode subscription's enumeration context.
//! The subscriptions and their delivery are `crate::eventing`'s.
//!
//! The SubscriptionManager EPR a SubscribeResponse returns carries the subscription's
//! `wse:Identifier` (a `uuid:` URI) as its reference parameter; Renew, GetStatus and
//! Unsubscribe send it back as a header. Faults, by what went wrong:
//!
//! - a mode not offered: `wse:DeliveryModeRequestedUnavailable`, the detail listing
//!   `wse:SupportedDeliveryMode`s (WS-Eventing's Subscribe);
//! - an Expires that is neither a positive duration nor a future dateTime:
//!   `wse:InvalidExpirationTime`; a longer one than `[eventing] max_expiry_s` is
//!   granted shorter, and the answer's Expires says what was granted, in the type
//!   asked (duration or dateTime);
//! - NotifyTo or EndTo not `http://` on loopback: `wsman:UnsupportedFeature`
//!   (UnusableAddress): the mock never connects anywhere else;
//! - a filter dialect other than WQL (or, on the event log URI, the WinRM event query):
//!   `wse:FilteringRequestedUnavailable`; a WQL query that does not parse:
//!   `wsman:CannotProcessFilter`;
//! - a bookmark not issued by this machine: `wsman:InvalidBookmark` (Invalid), one
//!   older than the oldest event kept: (Expired);
//! - Renew of an unknown or ended subscription: `wse:UnableToRenew`; GetStatus or
//!   Unsubscribe of one: `wsa:DestinationUnreachable`; no Identifier header at all:
//!   `wse:InvalidMessage`.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wsman::body::{Body, Expiry, FilterContent, Item, PullResponse, SubscribeResponse};
use wsman::envelope::OtherHeader;
use wsman::ns::eventing as ev;
use wsman::{Envelope, Epr, Name, Tree, TreeBuilder, ns};

use super::Phase;
use super::faults::{self, Fail, OpResult};
use super::write::respond;
use crate::eventing::render::datetime;
use crate::eventing::{
    self, Delivery, EventFilter, Mode, Subscription, loopback_target, parse_datetime,
};
use crate::filter::wql::Query;
use crate::mock::{Inner, Mock};
use crate::scenario::Scenario;

/// The longest a Pull of events waits for one.
const MAX_PULL_WAIT_MS: u64 = 10 * 60 * 1000;

/// A granted lifetime: when it ends (mock ms) and how the answer says it.
struct Granted {
    expires_at: u64,
    absolute: bool,
    text: String,
}

/// Reads an Expires (duration or dateTime), granting at most `max_ms`.
fn grant(expires: Option<&str>, max_ms: u64, now: u64) -> Result<Granted, Fail> {
    let wall_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (ms, absolute) = match expires.map(str::trim) {
        None => (max_ms, false),
        Some(x) if x.starts_with('P') || x.starts_with("-P") => {
            match x.parse::<wsman::XsDuration>().ok().and_then(|d| d.to_std()) {
                Some(d) if !d.is_zero() && !x.starts_with('-') => {
                    (eventing::millis(d).min(max_ms), false)
                }
                _ => {
                    return Err(faults::invalid_expiration(format!(
                        "Expires `{x}` is not a positive duration"
                    )));
                }
            }
        }
        Some(x) => match parse_datetime(x) {
            Some(at) if at > wall_now => (((at - wall_now) as u64).min(max_ms), true),
            Some(_) => {
                return Err(faults::invalid_expiration(format!(
                    "Expires `{x}` is in the past"
                )));
            }
            None => {
                return Err(faults::invalid_expiration(format!(
                    "Expires `{x}` is neither an xs:duration nor an xs:dateTime"
                )));
            }
        },
    };
    let text = if absolute {
        datetime((wall_now as u64).saturating_add(ms).div_ceil(1000))
    } else {
        wsman::XsDuration::from_std(Duration::from_millis(ms)).to_string()
    };
    Ok(Granted {
        expires_at: now.saturating_add(ms),
        absolute,
        text,
    })
}

/// What is left of a subscription's lifetime, as its answers say it.
fn remaining(sub: &Subscription, now: u64) -> String {
    let left = sub.expires_at.saturating_sub(now);
    if sub.delivery.absolute_expiry {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        datetime((wall + left).div_ceil(1000))
    } else {
        wsman::XsDuration::from_std(Duration::from_millis(left)).to_string()
    }
}

/// The `wse:Identifier` header of a request to the subscription manager.
fn identifier(env: &Envelope<'_>) -> Option<String> {
    env.header
        .other
        .iter()
        .find(|h| h.element.root().is(ns::WSE, "Identifier"))
        .map(|h| h.element.root().text().trim().to_owned())
}

/// The filter a Subscribe asks for.
fn event_filter(f: Option<&wsman::body::Filter<'_>>, windows: bool) -> Result<EventFilter, Fail> {
    let Some(f) = f else {
        return Ok(EventFilter::All);
    };
    let dialect = f.dialect();
    if dialect == ns::dialect::WQL {
        let FilterContent::Text(text) = &f.content else {
            return Err(faults::event_filter_invalid(
                "a WQL filter is the query as text",
            ));
        };
        return Query::parse(text).map(EventFilter::Wql).map_err(|e| {
            faults::event_filter_invalid(format!("the WQL filter does not parse: {e}"))
        });
    }
    // The WinRM event query: `<QueryList><Query><Select Path="System">*</Select>...`.
    let query_list = match &f.content {
        FilterContent::Xml(trees) => trees.iter().find(|t| t.root().name().local == "QueryList"),
        _ => None,
    };
    if windows && (dialect == ev::EVENT_QUERY_DIALECT || query_list.is_some()) {
        let Some(list) = query_list else {
            return Err(faults::event_filter_invalid(
                "an event query filter is a <QueryList>",
            ));
        };
        let mut channels = Vec::new();
        for q in list.root().children() {
            for sel in q.children().filter(|c| c.name().local == "Select") {
                if let Some(p) = sel.attr("", "Path") {
                    channels.push(p.trim().to_owned());
                }
            }
        }
        if channels.is_empty() {
            return Err(faults::event_filter_invalid(
                "the <QueryList> selects no channel (no Select Path)",
            ));
        }
        return Ok(EventFilter::Channels(channels));
    }
    let offered = if windows {
        format!("{} or {}", ns::dialect::WQL, ev::EVENT_QUERY_DIALECT)
    } else {
        ns::dialect::WQL.to_owned()
    };
    Err(faults::event_filter_unavailable(format!(
        "the filter dialect `{dialect}` is not offered (offered: {offered})"
    )))
}

impl Inner {
    /// Ends subscriptions that expired without a delivery task to notice.
    fn purge_expired_subscriptions(&mut self, now: u64) {
        self.subscriptions
            .retain(|s| !s.is_expired(now) || s.mode.is_push() || s.delivery.end_to.is_some());
    }

    pub(super) fn subscribe(
        &mut self,
        env: &Envelope<'_>,
        uri: &str,
        scenario: &Scenario,
        now: u64,
    ) -> OpResult {
        let Body::Subscribe(s) = &env.body else {
            return Err(faults::malformed_body(
                "a Subscribe needs a wse:Subscribe body",
            ));
        };
        let settings = &scenario.eventing;
        self.purge_expired_subscriptions(now);

        // Mode (WS-Eventing: Push when absent).
        let mode_uri = s.delivery_mode.as_deref().unwrap_or(ev::PUSH);
        let mode = match eventing::mode_from_uri(mode_uri) {
            Some(m) if settings.offers_mode(mode_uri) => m,
            _ => {
                return Err(faults::delivery_mode_unavailable(
                    mode_uri,
                    &settings.mode_uris(),
                ));
            }
        };
        // Addresses: loopback http only.
        let notify_to = s.notify_to.clone().map(Epr::into_owned);
        if mode.is_push() {
            let Some(to) = &notify_to else {
                return Err(faults::invalid_event_message(
                    "a push-mode Subscribe needs a wse:NotifyTo",
                ));
            };
            loopback_target(&to.address).map_err(faults::unusable_address)?;
        }
        let end_to = s.end_to.clone().map(Epr::into_owned);
        if let Some(e) = &end_to {
            loopback_target(&e.address)
                .map_err(|why| faults::unusable_address(format!("EndTo: {why}")))?;
        }
        let granted = grant(
            s.expires.as_deref(),
            settings.max_expiry_s.saturating_mul(1000),
            now,
        )?;
        let heartbeat_ms = match &s.heartbeats {
            None => None,
            Some(h) => match h.to_std() {
                Some(d) if eventing::millis(d) >= settings.min_heartbeat_ms => {
                    Some(eventing::millis(d))
                }
                _ => {
                    return Err(faults::heartbeats_unsupported(format!(
                        "Heartbeats `{h}` is shorter than this source sends ({} ms at least)",
                        settings.min_heartbeat_ms
                    )));
                }
            },
        };
        let windows = uri.eq_ignore_ascii_case(ev::EVENT_LOG_URI);
        let filter = event_filter(s.filter.as_ref(), windows)?;

        // Where delivery starts: after a bookmark, from the oldest event kept, or now.
        let log = self.machine.events();
        let last = log.last_seq();
        let oldest_before = log.since(0).1.next().map_or(last, |e| e.seq - 1);
        let mut cursor = last;
        if let Some(b) = &s.bookmark {
            let text = b.root().text().trim().to_owned();
            cursor = if text == ev::BOOKMARK_EARLIEST {
                oldest_before
            } else {
                let Some(seq) = self.subscriptions.read_bookmark(&text) else {
                    return Err(faults::invalid_bookmark(format!(
                        "the bookmark `{text}` was not issued by this source"
                    )));
                };
                if seq > last {
                    return Err(faults::invalid_bookmark(format!(
                        "the bookmark `{text}` names an event this source never had"
                    )));
                }
                if seq < oldest_before {
                    return Err(faults::expired_bookmark(format!(
                        "the events after bookmark `{text}` are no longer kept"
                    )));
                }
                if scenario.defect("eventing_bookmark_skip") {
                    (seq + 1).min(last)
                } else {
                    seq
                }
            };
        }

        if self.subscriptions.len() >= settings.max_subscriptions {
            return Err(faults::subscription_quota(settings.max_subscriptions));
        }
        let needs_task = mode.is_push() || end_to.is_some();
        if needs_task && tokio::runtime::Handle::try_current().is_err() {
            return Err(faults::event_source_unable(
                "this source has no runtime to deliver events on",
            ));
        }

        let id = eventing::new_id();
        let manager = Epr {
            address: Cow::Owned(env.header.to.as_deref().unwrap_or(ns::ANONYMOUS).to_owned()),
            resource_uri: (!uri.is_empty()).then(|| Cow::Owned(uri.to_owned())),
            selectors: Vec::new(),
            other_parameters: vec![Tree::leaf(Name::new(ns::WSE, "Identifier"), id.clone())],
        };
        let context = (mode == Mode::Pull).then(eventing::new_id);
        let retry = s.connection_retry.as_ref().map_or((0, 0), |r| {
            (
                r.total.min(100),
                // Retrying less often than every ten minutes is not retrying.
                r.interval
                    .to_std()
                    .map_or(0, |d| eventing::millis(d).min(600_000)),
            )
        });
        let sub = Subscription {
            id: id.clone(),
            mode,
            expires_at: granted.expires_at,
            heartbeat_ms,
            send_bookmarks: s.send_bookmarks,
            cursor,
            max_elements: s.max_elements.unwrap_or(32).max(1),
            max_time_ms: s
                .max_time
                .as_ref()
                .and_then(wsman::XsDuration::to_std)
                .map_or(0, eventing::millis),
            max_envelope: s.max_envelope_size.or(env.header.max_envelope_size),
            context: context.clone(),
            delivery: Delivery {
                notify_to,
                end_to,
                manager: manager.clone(),
                absolute_expiry: granted.absolute,
                filter,
                windows,
                retry,
            },
        };
        self.subscriptions.insert(sub);
        if needs_task {
            self.subscriptions_to_start.push(id);
        }
        let header = self.response_header(env, ns::action::SUBSCRIBE_RESPONSE);
        Ok(respond(
            header,
            Body::SubscribeResponse(SubscribeResponse {
                subscription_manager: manager,
                expires: Some(Cow::Owned(granted.text)),
                enumeration_context: context.map(Cow::Owned),
            }),
        ))
    }

    /// The subscription a request to the manager names (by its Identifier header),
    /// if it is alive.
    fn named_subscription(&mut self, env: &Envelope<'_>, now: u64) -> Result<Option<String>, Fail> {
        let id = identifier(env).ok_or_else(|| {
            faults::invalid_event_message("the request has no wse:Identifier header")
        })?;
        self.purge_expired_subscriptions(now);
        Ok(self
            .subscriptions
            .get(&id)
            .filter(|s| !s.is_expired(now))
            .map(|s| s.id.clone()))
    }

    pub(super) fn subscription_renew(
        &mut self,
        env: &Envelope<'_>,
        scenario: &Scenario,
        now: u64,
    ) -> OpResult {
        let Some(id) = self.named_subscription(env, now)? else {
            let id = identifier(env).unwrap_or_default();
            return Err(faults::unable_to_renew(format!(
                "no subscription has the identifier `{id}` (unknown, unsubscribed or expired)"
            )));
        };
        let requested = match &env.body {
            Body::Renew(e) => e.expires.as_deref(),
            _ => None,
        };
        let granted = grant(
            requested,
            scenario.eventing.max_expiry_s.saturating_mul(1000),
            now,
        )?;
        if let Some(s) = self.subscriptions.get_mut(&id) {
            s.renew(granted.expires_at);
            s.delivery.absolute_expiry = granted.absolute;
        }
        self.event_wake.poke();
        let header = self.response_header(env, ns::action::RENEW_RESPONSE);
        Ok(respond(
            header,
            Body::RenewResponse(Expiry {
                expires: Some(Cow::Owned(granted.text)),
            }),
        ))
    }

    pub(super) fn subscription_status(&mut self, env: &Envelope<'_>, now: u64) -> OpResult {
        let Some(id) = self.named_subscription(env, now)? else {
            return Err(faults::unknown_subscription(
                &identifier(env).unwrap_or_default(),
            ));
        };
        let left = self
            .subscriptions
            .get(&id)
            .map(|s| remaining(s, now))
            .unwrap_or_default();
        let header = self.response_header(env, ns::action::GET_STATUS_RESPONSE);
        Ok(respond(
            header,
            Body::GetStatusResponse(Expiry {
                expires: Some(Cow::Owned(left)),
            }),
        ))
    }

    pub(super) fn unsubscribe(&mut self, env: &Envelope<'_>, now: u64) -> OpResult {
        let Some(id) = self.named_subscription(env, now)? else {
            return Err(faults::unknown_subscription(
                &identifier(env).unwrap_or_default(),
            ));
        };
        self.subscriptions.remove(&id);
        // Its delivery task ends when it looks again; no SubscriptionEnd follows an
        // Unsubscribe.
        self.event_wake.poke();
        let header = self.response_header(env, ns::action::UNSUBSCRIBE_RESPONSE);
        Ok(respond(header, Body::Empty))
    }

    /// The subscription whose enumeration context a Pull or Release names, if any.
    pub(super) fn event_context(&self, env: &Envelope<'_>) -> Option<String> {
        let ctx = match &env.body {
            Body::Pull(p) => p.context.trim(),
            Body::Release(c) => c.context.as_deref()?.trim(),
            _ => return None,
        };
        self.subscriptions.by_context(ctx).map(str::to_owned)
    }

    /// Release of a Pull-mode subscription's context ends the subscription.
    pub(super) fn release_subscription(&mut self, env: &Envelope<'_>, id: &str) -> OpResult {
        self.subscriptions.remove(id);
        let header = self.response_header(env, ns::action::RELEASE_RESPONSE);
        Ok(respond(header, Body::Empty))
    }

    /// A Pull of subscription `id`'s events: the events after its cursor (up to the
    /// Pull's MaxElements), or `None` when there are none yet and `last_try` is false.
    pub(super) fn event_pull(
        &mut self,
        env: &Envelope<'_>,
        id: &str,
        now: u64,
        last_try: bool,
    ) -> Option<OpResult> {
        let Body::Pull(p) = &env.body else {
            return Some(Err(faults::malformed_body("a Pull needs a wsen:Pull body")));
        };
        self.purge_expired_subscriptions(now);
        let Some(sub) = self.subscriptions.get(id).cloned() else {
            return Some(Err(faults::unknown_context(p.context.trim())));
        };
        if sub.is_expired(now) {
            return Some(Err(faults::unknown_context(p.context.trim())));
        }
        let limit = p.max_elements.unwrap_or(1).max(1) as usize;
        let collected = eventing::collect(&sub, &mut self.machine, limit);
        if let Some(s) = self.subscriptions.get_mut(id) {
            s.advance(collected.upto);
        }
        if collected.events.is_empty() && collected.dropped == 0 {
            return last_try.then(|| Err(faults::no_events()));
        }
        let mut header = self.response_header(env, ns::action::PULL_RESPONSE);
        let last = collected
            .events
            .last()
            .map_or(collected.upto, |(seq, _)| *seq);
        if sub.send_bookmarks {
            header.other.push(OtherHeader {
                must_understand: false,
                element: Tree::leaf(
                    Name::new(ns::WSMAN, "Bookmark"),
                    self.subscriptions.bookmark(last),
                ),
            });
        }
        if collected.dropped > 0 {
            let mut b = TreeBuilder::with_capacity(2);
            b.start(Name::new(ns::WSMAN, "DroppedEvents"));
            b.attr(Name::new("", "Action"), ev::EVENT);
            b.text(collected.dropped.to_string());
            b.end();
            header.other.push(OtherHeader {
                must_understand: false,
                element: b.finish(),
            });
        }
        let items = collected
            .events
            .iter()
            .map(|(_, r)| Item::Xml(r.xml.as_str().into()))
            .collect();
        Some(Ok(respond(
            header,
            Body::PullResponse(PullResponse {
                context: Some(Cow::Owned(p.context.trim().to_owned())),
                items,
                end_of_sequence: false,
            }),
        )))
    }

    /// A Pull of a Pull-mode subscription's events: answered now, or left waiting
    /// until its MaxTime (or OperationTimeout) for an event.
    pub(super) fn event_pull_phase(&mut self, env: &Envelope<'_>, now: u64) -> Option<Phase> {
        let Body::Pull(p) = &env.body else {
            return None;
        };
        let id = self.event_context(env)?;
        let wait = p
            .max_time
            .as_ref()
            .or(env.header.operation_timeout.as_ref())
            .and_then(wsman::XsDuration::to_std)
            .map_or(0, eventing::millis)
            .min(MAX_PULL_WAIT_MS);
        let deadline = now + wait;
        Some(match self.event_pull(env, &id, now, wait == 0) {
            Some(result) => Phase::Dispatched(result, None),
            None => Phase::EventWait(id, deadline),
        })
    }
}

impl Mock {
    /// Waits (without the machine lock) for an event a Pull can return, until
    /// `deadline` on the mock's clock.
    pub(super) async fn wait_for_events(
        &self,
        env: &Envelope<'_>,
        id: &str,
        deadline: u64,
    ) -> Phase {
        let mut wake = self.lock().event_wake.subscribe();
        loop {
            let now = self.now_ms();
            let wait =
                Duration::from_millis(deadline.saturating_sub(now)).min(eventing::deliver::POLL);
            tokio::select! {
                _ = wake.changed() => {}
                () = tokio::time::sleep(wait) => {}
            }
            let now = self.now_ms();
            let mut inner = self.lock();
            inner.machine.tick(now);
            let last = inner.machine.events().last_seq();
            inner.event_wake.notify(last);
            if let Some(result) = inner.event_pull(env, id, now, now >= deadline) {
                return Phase::Dispatched(result, None);
            }
        }
    }

    /// Starts the delivery tasks of subscriptions made under the lock just released.
    /// Starts the delivery tasks of the subscriptions `ids` (taken from
    /// `subscriptions_to_start` by the caller, under the lock it held anyway).
    pub(super) fn start_subscriptions(&self, ids: Vec<String>) {
        for id in ids {
            if !eventing::deliver::spawn(self, id.clone()) {
                self.lock().subscriptions.remove(&id);
            }
        }
    }

    /// Ends every subscription: SubscriptionEnd `wse:SourceShuttingDown` to each EndTo
    /// (the mock is going away). Returns how many subscriptions there were.
    pub async fn end_subscriptions(&self) -> usize {
        let subs: Vec<Subscription> = {
            let mut inner = self.lock();
            let subs = inner.subscriptions.drain().collect();
            inner.event_wake.poke();
            subs
        };
        let n = subs.len();
        // All at once: each post has its own timeout, so shutdown waits for the
        // slowest sink, not their sum.
        let mut ends = tokio::task::JoinSet::new();
        for s in subs {
            let mock = self.clone();
            ends.spawn(async move {
                eventing::deliver::end(
                    &mock,
                    &s,
                    ev::STATUS_SOURCE_SHUTTING_DOWN,
                    "the event source is shutting down",
                )
                .await;
            });
        }
        while ends.join_next().await.is_some() {}
        n
    }
}
