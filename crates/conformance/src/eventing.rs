//! The `eventing` profile's code cases: WS-Eventing as DSP0226's eventing clause
//! profiles it, checked from the subscriber's side.
//!
//! Discovery learnt which delivery modes the target accepts (`eventing:push`,
//! `eventing:push-with-ack`, `eventing:events`, `eventing:pull`) and on which resource
//! ([`crate::discover::Capabilities::event_resource`]). Push deliveries go to the run's
//! event sink ([`client::sink::EventSink`]); each subscription gets its own path
//! (`/sink/TOKEN`) and carries the token as a reference parameter of its NotifyTo, so a
//! case sees only its own deliveries and can check that every one of them carries the
//! EPR's reference parameters.
//!
//! Cases that need events a foreign target would not produce on its own rely on
//! heartbeats (a delivered event counts as well as a heartbeat: a source is never
//! failed for sending an event instead), or cause events with a power cycle through
//! `CIM_ComputerSystem.RequestStateChange` and are tagged `destructive`. Every wait
//! has a deadline below the case's own. Subscriptions a case leaves behind are
//! unsubscribed when it ends.
//!
//! Over 800 lines: the profile's seventeen cases share their subscription plumbing
//! here; what they judge is in `eventing/judge.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use client::eventing::{self, Endpoint, RefParam, Subscribed, Subscription, mode};
use client::sink::{Delivery, EventSink};
use client::{Exchange, build};
use wsman::ns;

use crate::code::{CodeFn, Ctx, Finding, expect_response, expect_that, first, reg, verdict};
use crate::eval::Mismatch;

mod judge;

use judge::{
    acks_requested, after_last_seen, batches_within, carries_reference_parameter, deliveries_text,
    ends_at, events_of, first_batch_in_time, heartbeat_gaps, mentions, resumed_from_bookmark,
};

/// The eventing code cases.
pub const REGISTRY: &[CodeFn] = reg![
    "wsman.eventing.subscribe.response" => subscribe_response,
    "wsman.eventing.get-status" => get_status,
    "wsman.eventing.renew" => renew,
    "wsman.eventing.renew.after-unsubscribe" => renew_after_unsubscribe,
    "wsman.eventing.subscribe.bad-expiry" => bad_expiry,
    "wsman.eventing.subscribe.unknown-mode" => unknown_mode,
    "wsman.eventing.subscribe.unsupported-dialect" => unsupported_dialect,
    "wsman.eventing.push.heartbeats" => heartbeats,
    "wsman.eventing.push.reference-parameters" => reference_parameters,
    "wsman.eventing.push-with-ack.acked" => push_with_ack,
    "wsman.eventing.subscription-end.expiry" => subscription_end,
    "wsman.eventing.pull.response" => pull_response,
    "wsman.eventing.push.events" => push_events,
    "wsman.eventing.pull.events" => pull_events,
    "wsman.eventing.events.max-elements" => max_elements,
    "wsman.eventing.events.max-time" => max_time,
    "wsman.eventing.bookmarks.resume" => bookmarks_resume,
];

/// The namespace of the reference parameter the suite puts on its NotifyTo and EndTo.
pub const REF_NS: &str = "urn:touchstone:eventing";
/// Its local name.
pub const REF_NAME: &str = "Subscriber";

/// The heartbeat interval the heartbeat cases ask for.
const HEARTBEAT: Duration = Duration::from_secs(3);
/// How late after its interval a heartbeat may still come (a fair slack for a source
/// on a busy host and the network between).
const HEARTBEAT_SLACK: Duration = Duration::from_millis(1500);
/// A WQL filter no indication matches (AlertType 0 is not a value of its ValueMap).
const QUIET_FILTER: &str = "SELECT * FROM CIM_AlertIndication WHERE AlertType = 0";
/// How long the cases that only need two heartbeats (not their timing) wait for them.
const LENIENT: Duration = Duration::from_secs(15);
/// How long after a power change its events may take to arrive.
const EVENT_WAIT: Duration = Duration::from_secs(10);
/// The MaxTime of the batched cases.
const MAX_TIME: Duration = Duration::from_secs(2);
/// How late after MaxTime a batch may still come.
const MAX_TIME_SLACK: Duration = Duration::from_secs(3);
/// The expiry of the SubscriptionEnd case, and how late after it the end may come.
const SHORT_EXPIRY: Duration = Duration::from_secs(3);
const END_SLACK: Duration = Duration::from_secs(5);

fn event_resource(ctx: &Ctx) -> Result<String, Finding> {
    ctx.caps.event_resource.clone().ok_or_else(|| {
        Finding::Skip(
            ctx.caps
                .why_missing("feature:eventing")
                .unwrap_or("discovery found no resource that accepts a Subscribe")
                .to_owned(),
        )
    })
}

fn sink(ctx: &Ctx) -> Result<Arc<EventSink>, Finding> {
    ctx.sink
        .clone()
        .ok_or_else(|| Finding::Error("the run has no event sink".into()))
}

fn offered(ctx: &Ctx, mode: &str) -> bool {
    ctx.caps
        .why_missing(&crate::discover::mode_requirement(mode))
        .is_none()
}

/// A fresh token for a subscription's sink path and reference parameter (its EndTo
/// uses `TOKEN-end`); what arrives under it joins the case's transcript.
fn token(ctx: &mut Ctx) -> String {
    let t = ctx.message_id().trim_start_matches("uuid:").to_owned();
    ctx.sink_tokens.push(t.clone());
    ctx.sink_tokens.push(format!("{t}-end"));
    t
}

/// A push-style subscription in `mode` to the sink, under `token`.
fn to_sink(ctx: &Ctx, mode: &str, token: &str) -> Result<Subscription, Finding> {
    let sink = sink(ctx)?;
    Ok(Subscription::with_mode(
        mode,
        Some(Endpoint::new(sink.url(token)).param(RefParam::new(REF_NS, REF_NAME, token))),
    ))
}

/// A subscription in a mode the target accepts: pull when it does (no sink needed),
/// else the first push mode.
fn any_mode(ctx: &mut Ctx) -> Result<Subscription, Finding> {
    if offered(ctx, mode::PULL) {
        return Ok(Subscription::pull());
    }
    let t = token(ctx);
    for m in [mode::PUSH, mode::PUSH_WITH_ACK, mode::EVENTS] {
        if offered(ctx, m) {
            return to_sink(ctx, m, &t);
        }
    }
    Err(Finding::Skip("the target accepts no delivery mode".into()))
}

/// Sends a Subscribe; `Ok(Ok)` when it was accepted (the subscription is then ended
/// with the case), `Ok(Err(exchange))` when it was not.
async fn try_subscribe(
    ctx: &mut Ctx,
    sub: &Subscription,
) -> Result<(Result<Subscribed, String>, Exchange, String), Finding> {
    let uri = event_resource(ctx)?;
    let (req, mid) = ctx.request(&uri);
    let ex = ctx.send(&sub.envelope(req)).await?;
    let got = Subscribed::read(&ex);
    if let Ok(s) = &got {
        ctx.subscriptions.push((uri, s.clone()));
    }
    Ok((got, ex, mid))
}

/// Sends a Subscribe that must be accepted.
async fn subscribe(ctx: &mut Ctx, sub: &Subscription, step: &str) -> Result<Subscribed, Finding> {
    let (got, ex, mid) = try_subscribe(ctx, sub).await?;
    expect_response(&ex, &mid, ns::action::SUBSCRIBE_RESPONSE, step)?;
    got.map_err(|why| Finding::mismatch(step, "a wse:SubscribeResponse", why))
}

/// A request builder to the subscription manager with a fresh MessageID.
fn manager(ctx: &mut Ctx, s: &Subscribed) -> Result<(build::Request, String), Finding> {
    let uri = event_resource(ctx)?;
    let mid = ctx.message_id();
    Ok((
        s.request(ctx.client.url(), &uri).message_id(mid.clone()),
        mid,
    ))
}

/// Unsubscribes `s` and checks the answer.
async fn unsubscribe(ctx: &mut Ctx, s: &Subscribed) -> Result<(), Finding> {
    let (req, mid) = manager(ctx, s)?;
    let ex = ctx.send(&eventing::unsubscribe(req)).await?;
    ctx.subscriptions.retain(|(_, x)| x != s);
    expect_response(&ex, &mid, ns::action::UNSUBSCRIBE_RESPONSE, "Unsubscribe")
}

impl Ctx {
    /// Unsubscribes what the case left subscribed (not recorded: housekeeping), then
    /// adds what the event sink received for the case to its transcript, in arrival
    /// order, so a report shows the deliveries its verdict rests on.
    pub async fn end_subscriptions(&mut self) {
        self.unsubscribe_all().await;
        let Some(sink) = self.sink.clone() else {
            return;
        };
        let tokens = std::mem::take(&mut self.sink_tokens);
        for d in sink.matching(|d| {
            d.path_token()
                .is_some_and(|t| tokens.iter().any(|x| x == t))
        }) {
            self.transcript.push(crate::report::WireLeg {
                request: format!(
                    "POST {} HTTP/1.1 (received by the event sink: {})\n\n{}",
                    d.path,
                    d.describe(),
                    d.body
                ),
                response: Some(format!("HTTP/1.1 {} (the sink's answer)", d.answered)),
                status: Some(d.answered),
                error: None,
            });
        }
    }

    async fn unsubscribe_all(&mut self) {
        for (uri, s) in std::mem::take(&mut self.subscriptions) {
            if self.watch.lost().is_some() {
                return;
            }
            let req = s.request(self.client.url(), &uri);
            let _ = self.client.send(&eventing::unsubscribe(req)).await;
        }
    }
}

fn mine(token: &str) -> impl Fn(&Delivery) -> bool + '_ {
    move |d| d.path_token() == Some(token)
}

async fn subscribe_response(ctx: &mut Ctx) -> Result<(), Finding> {
    let sub = any_mode(ctx)?.expires("PT60S");
    let s = subscribe(ctx, &sub, "Subscribe").await?;
    let mut misses = Vec::new();
    // WS-Eventing leaves how the manager EPR names the subscription to the source:
    // reference parameters (wse:Identifier is the usual one, not the only one) or an
    // address of the manager's own. Only an EPR that could name nothing fails; that it
    // works is what the Unsubscribe below (and the GetStatus and Renew cases) check.
    let own_address = !s.manager.trim().is_empty()
        && s.manager != wsman::ns::ANONYMOUS
        && s.manager != ctx.client.url();
    if s.reference_parameters.is_empty()
        && s.manager_resource_uri.is_none()
        && s.manager_selectors.is_empty()
        && !own_address
    {
        misses.push(Mismatch {
            what: "wse:SubscriptionManager".into(),
            expected: "reference parameters (such as wse:Identifier) or an address of its own"
                .into(),
            got: format!("address {} and no reference parameters", s.manager),
        });
    }
    if sub.mode.as_deref() == Some(mode::PULL) && s.enumeration_context.is_none() {
        misses.push(Mismatch {
            what: "SubscribeResponse of a pull-mode subscription".into(),
            expected: "a wsen:EnumerationContext".into(),
            got: "none".into(),
        });
    }
    unsubscribe(ctx, &s).await?;
    verdict(misses)
}

/// A subscription manager that does not offer the operation at all says so with
/// `wsa:ActionNotSupported`: a service without GetStatus is skipped, not failed. (The
/// WS-Eventing text read says a valid subscription's GetStatus "MUST" be answered; that
/// DSP0226 lets a service leave GetStatus out is the suite's reading, not read.)
fn not_offered(ex: &client::Exchange, what: &str) -> Result<(), Finding> {
    match ex.fault() {
        Some(f) if f.subcode.as_deref() == Some("wsa:ActionNotSupported") => Err(Finding::Skip(
            format!("the subscription manager does not offer {what} (wsa:ActionNotSupported)"),
        )),
        _ => Ok(()),
    }
}

async fn get_status(ctx: &mut Ctx) -> Result<(), Finding> {
    let sub = any_mode(ctx)?.expires("PT60S");
    let s = subscribe(ctx, &sub, "Subscribe").await?;
    let (req, mid) = manager(ctx, &s)?;
    let ex = ctx.send(&eventing::get_status(req)).await?;
    not_offered(&ex, "GetStatus")?;
    expect_response(&ex, &mid, ns::action::GET_STATUS_RESPONSE, "GetStatus")?;
    unsubscribe(ctx, &s).await
}

/// WS-Eventing lets a subscription manager decline a renewal: the request then fails,
/// with `wse:UnableToRenew` or any other fault (MS-WSMV 3.1.4.1.30.4: Windows does not
/// renew and answers `wse:UnableToRenew`). A declined Renew is skipped, not failed; only
/// an accepted one must be a RenewResponse.
fn renewal_declined(ex: &client::Exchange) -> Result<(), Finding> {
    match ex.fault() {
        Some(f) => Err(Finding::Skip(format!(
            "the subscription manager declined the renewal ({}), as WS-Eventing allows",
            f.subcode.unwrap_or(f.code)
        ))),
        None => Ok(()),
    }
}

async fn renew(ctx: &mut Ctx) -> Result<(), Finding> {
    let sub = any_mode(ctx)?.expires("PT30S");
    let s = subscribe(ctx, &sub, "Subscribe").await?;
    let (req, mid) = manager(ctx, &s)?;
    let ex = ctx
        .send(&eventing::renew(req, Some("PT120S".into())))
        .await?;
    renewal_declined(&ex)?;
    expect_response(&ex, &mid, ns::action::RENEW_RESPONSE, "Renew")?;
    unsubscribe(ctx, &s).await
}

async fn renew_after_unsubscribe(ctx: &mut Ctx) -> Result<(), Finding> {
    let sub = any_mode(ctx)?.expires("PT60S");
    let s = subscribe(ctx, &sub, "Subscribe").await?;
    unsubscribe(ctx, &s).await?;
    let (req, mid) = manager(ctx, &s)?;
    let ex = ctx
        .send(&eventing::renew(req, Some("PT60S".into())))
        .await?;
    let expect = crate::case::Expect {
        fault: Some(crate::case::FaultExpect::default()),
        relates_to: true,
        ..crate::case::Expect::default()
    };
    expect_that(&ex, &expect, Some(&mid), "Renew after Unsubscribe")
}

/// Sends a Subscribe the source must refuse. WS-Eventing says each such request "MUST
/// fail" and names the fault the source "MAY generate" (an unsupported delivery mode,
/// filter, or expiration), so any fault that answers the request meets it; which
/// subcode it carries is left to the source (the transcript shows it).
async fn faulted(ctx: &mut Ctx, sub: Subscription, step: &str) -> Result<(), Finding> {
    let (_, ex, mid) = try_subscribe(ctx, &sub).await?;
    let expect = crate::case::Expect {
        fault: Some(crate::case::FaultExpect::default()),
        relates_to: true,
        ..crate::case::Expect::default()
    };
    expect_that(&ex, &expect, Some(&mid), step)
}

async fn bad_expiry(ctx: &mut Ctx) -> Result<(), Finding> {
    // A zero duration rather than a past dateTime: every service takes durations, and
    // one that takes no dateTime could fairly answer wse:UnsupportedExpirationType.
    let sub = any_mode(ctx)?.expires("PT0S");
    faulted(ctx, sub, "Subscribe with a zero expiry duration").await
}

async fn unknown_mode(ctx: &mut Ctx) -> Result<(), Finding> {
    let t = token(ctx);
    let notify = match &ctx.sink {
        Some(s) => s.url(&t),
        None => "http://127.0.0.1:9/touchstone-unused".into(),
    };
    let sub = Subscription::with_mode(
        "http://touchstone.invalid/eventing/NoSuchDeliveryMode",
        Some(Endpoint::new(notify)),
    )
    .expires("PT60S");
    faulted(ctx, sub, "Subscribe with an unknown delivery mode").await
}

async fn unsupported_dialect(ctx: &mut Ctx) -> Result<(), Finding> {
    let sub = any_mode(ctx)?
        .expires("PT60S")
        .filter("http://touchstone.invalid/NoSuchDialect", "anything");
    faulted(ctx, sub, "Subscribe with an unknown filter dialect").await
}

/// A Subscribe asking for heartbeats refused because of them (`wsman:UnsupportedFeature`,
/// or any fault whose detail is `Heartbeats`): heartbeats are optional, so the cases
/// that need them are skipped with the target's answer.
fn heartbeats_offered(ex: &Exchange) -> Result<(), Finding> {
    match ex.fault() {
        Some(f)
            if f.detail.as_deref() == Some("Heartbeats")
                || f.subcode.as_deref() == Some("wsman:UnsupportedFeature") =>
        {
            Err(Finding::Skip(format!(
                "the target does not offer heartbeats: {}",
                f.subcode.unwrap_or(f.code)
            )))
        }
        _ => Ok(()),
    }
}

/// Subscribes to the sink in `mode` with heartbeats; returns the token and when the
/// SubscribeResponse came.
async fn with_heartbeats(
    ctx: &mut Ctx,
    mode: &str,
    every: Duration,
) -> Result<(String, Instant, Subscribed), Finding> {
    let t = token(ctx);
    let sub = to_sink(ctx, mode, &t)?.heartbeats(every).expires("PT60S");
    // First with a filter no event matches, so that heartbeats are all that come (a
    // busy source is judged on heartbeats, not on its events); a target that refuses
    // the filter is subscribed without one, and its events count as heartbeats.
    let quiet = sub.clone().filter(ns::dialect::WQL, QUIET_FILTER);
    let (mut got, mut ex, mut mid) = try_subscribe(ctx, &quiet).await?;
    if got.is_err() {
        (got, ex, mid) = try_subscribe(ctx, &sub).await?;
    }
    let at = Instant::now();
    heartbeats_offered(&ex)?;
    expect_response(&ex, &mid, ns::action::SUBSCRIBE_RESPONSE, "Subscribe")?;
    let s = got.map_err(|why| Finding::mismatch("Subscribe", "a wse:SubscribeResponse", why))?;
    Ok((t, at, s))
}

async fn heartbeats(ctx: &mut Ctx) -> Result<(), Finding> {
    let (t, subscribed, s) = with_heartbeats(ctx, mode::PUSH, HEARTBEAT).await?;
    let sink = sink(ctx)?;
    let gap = HEARTBEAT + HEARTBEAT_SLACK;
    // Any delivery resets the heartbeat clock: an event is as good as a heartbeat.
    let want = 3;
    let got = sink
        .wait_for(want, subscribed + gap * want as u32, mine(&t))
        .await;
    unsubscribe(ctx, &s).await?;
    let got = match got {
        Ok(g) => g,
        Err(g) => {
            return Err(Finding::mismatch(
                format!(
                    "deliveries within {} of each other",
                    crate::run::seconds(gap)
                ),
                format!(
                    "{want} heartbeats (or events) at most {} apart (Heartbeats {}, slack {})",
                    crate::run::seconds(gap),
                    eventing::xs(HEARTBEAT),
                    crate::run::seconds(HEARTBEAT_SLACK)
                ),
                format!(
                    "{} within {}: {}",
                    g.len(),
                    crate::run::seconds(gap * want as u32),
                    deliveries_text(&g)
                ),
            ));
        }
    };
    verdict(heartbeat_gaps(subscribed, &got, gap))
}

async fn reference_parameters(ctx: &mut Ctx) -> Result<(), Finding> {
    let (t, subscribed, s) = with_heartbeats(ctx, mode::PUSH, HEARTBEAT).await?;
    let sink = sink(ctx)?;
    // Not a timing case: room for a late heartbeat (the heartbeat case judges that).
    let got = sink.wait_for(2, subscribed + LENIENT, mine(&t)).await;
    unsubscribe(ctx, &s).await?;
    let got = got.map_err(|g| {
        Finding::mismatch(
            "deliveries to check",
            "2 heartbeats (or events)",
            deliveries_text(&g),
        )
    })?;
    let mut misses = Vec::new();
    carries_reference_parameter(&got, &t, &mut misses);
    verdict(misses)
}

async fn push_with_ack(ctx: &mut Ctx) -> Result<(), Finding> {
    let (t, subscribed, s) = with_heartbeats(ctx, mode::PUSH_WITH_ACK, HEARTBEAT).await?;
    let sink = sink(ctx)?;
    // Not a timing case: room for a late heartbeat (the heartbeat case judges that).
    let got = sink.wait_for(2, subscribed + LENIENT, mine(&t)).await;
    unsubscribe(ctx, &s).await?;
    let got = got.map_err(|g| {
        Finding::mismatch(
            "deliveries after the first was acknowledged",
            "2 heartbeats (or events), each acknowledged",
            deliveries_text(&g),
        )
    })?;
    verdict(acks_requested(&got))
}

async fn subscription_end(ctx: &mut Ctx) -> Result<(), Finding> {
    let t = token(ctx);
    let end = format!("{t}-end");
    let sink = sink(ctx)?;
    let expiry = SHORT_EXPIRY;
    let sub = to_sink(ctx, mode::PUSH, &t)?
        .expires(eventing::xs(expiry))
        .end_to(Endpoint::new(sink.url(&end)).param(RefParam::new(REF_NS, REF_NAME, &end)));
    let (got, ex, mid) = try_subscribe(ctx, &sub).await?;
    let at = Instant::now();
    if let Err(why) = &got {
        return Err(Finding::Skip(format!(
            "the target does not accept a Subscribe with EndTo: {why}"
        )));
    }
    expect_response(&ex, &mid, ns::action::SUBSCRIBE_RESPONSE, "Subscribe")?;
    let ended = sink
        .wait_for(1, at + expiry + END_SLACK, |d| ends_at(d, &end))
        .await;
    // It expired: nothing to unsubscribe.
    ctx.subscriptions.clear();
    let got = ended.map_err(|_| {
        let at_end = sink.matching(mine(&end));
        Finding::mismatch(
            format!(
                "wse:SubscriptionEnd at the EndTo within {} of the expiry",
                crate::run::seconds(END_SLACK)
            ),
            "a SubscriptionEnd",
            deliveries_text(&at_end),
        )
    })?;
    let mut misses = Vec::new();
    carries_reference_parameter(&got, &end, &mut misses);
    verdict(misses)
}

async fn pull_once(
    ctx: &mut Ctx,
    s: &Subscribed,
    context: &str,
) -> Result<(Exchange, String), Finding> {
    let (req, mid) = manager(ctx, s)?;
    let req = req.operation_timeout(Some(Duration::from_secs(2)));
    let ex = ctx.send(&eventing::pull(req, context, Some(20))).await?;
    Ok((ex, mid))
}

async fn pull_response(ctx: &mut Ctx) -> Result<(), Finding> {
    let s = subscribe(ctx, &Subscription::pull().expires("PT60S"), "Subscribe").await?;
    let Some(c) = s.enumeration_context.clone() else {
        return Err(Finding::mismatch(
            "SubscribeResponse of a pull-mode subscription",
            "a wsen:EnumerationContext",
            "none",
        ));
    };
    let (ex, mid) = pull_once(ctx, &s, &c).await?;
    // Nothing may have happened: an empty answer or wsman:TimedOut is right then.
    let timed_out = ex
        .fault()
        .is_some_and(|f| f.subcode.as_deref() == Some("wsman:TimedOut"));
    if !timed_out {
        expect_response(&ex, &mid, ns::action::PULL_RESPONSE, "Pull")?;
        eventing::Pulled::read(&ex)
            .map_err(|why| Finding::mismatch("Pull", "a wsen:PullResponse", why))?;
    }
    unsubscribe(ctx, &s).await
}

/// The power state (`EnabledState`) of the first `CIM_ComputerSystem`, with the
/// instance.
async fn system_state(ctx: &mut Ctx) -> Result<(crate::code::Instance, u16), Finding> {
    let systems = crate::code::enumerate_all(ctx, "CIM_ComputerSystem", 50)
        .await?
        .0;
    let Some(system) = systems.first().cloned() else {
        return Err(Finding::Skip("no CIM_ComputerSystem to power-cycle".into()));
    };
    let state = first(&system, "EnabledState")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(2);
    Ok((system, state))
}

/// Polls until the system's power is settled (`EnabledState` 2 or 3, not 4 shutting
/// down or 10 starting), for at most [`SETTLE`]; the state it settled in.
async fn settled(ctx: &mut Ctx) -> Result<(crate::code::Instance, u16), Finding> {
    let until = Instant::now() + SETTLE;
    loop {
        let (system, state) = system_state(ctx).await?;
        if state == 2 || state == 3 || Instant::now() >= until {
            return Ok((system, state));
        }
        // A remote state to poll: nothing on the wire says when it changes.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How long a power change may take to settle.
const SETTLE: Duration = Duration::from_secs(15);

/// A power change through `CIM_ComputerSystem.RequestStateChange` that ends as it
/// found the system: Reboot (10) when it is on, On then Off when it is off; it waits
/// until the power has settled again, so the next case finds it as this one did. The
/// change a source turns into events (the power change, its log record).
async fn cause_events(ctx: &mut Ctx) -> Result<(), Finding> {
    let (system, state) = settled(ctx).await?;
    let on = state != 3;
    let order: &[u16] = if on { &[10] } else { &[2, 3] };
    for &state in order {
        // A target that will not change power cannot show these cases anything: the
        // RequestStateChange case judges that, these skip.
        match crate::cross::request_state(ctx, &system, state).await {
            Ok(()) => {}
            Err(Finding::Mismatch(m)) => {
                let why: Vec<String> = m.iter().map(ToString::to_string).collect();
                return Err(Finding::Skip(format!(
                    "could not cause events with a power change: {}",
                    why.join("; ")
                )));
            }
            Err(other) => return Err(other),
        }
        if on {
            // Reboot: off first (when the target shows it), then on again.
            let until = Instant::now() + SETTLE;
            loop {
                let (_, now) = system_state(ctx).await?;
                if now == 2 || Instant::now() >= until {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        } else {
            settled(ctx).await?;
        }
    }
    let states: Vec<String> = order.iter().map(u16::to_string).collect();
    ctx.record_change(format!(
        "changed CIM_ComputerSystem's power (RequestStateChange {}) to cause events; it \
         ends as it was",
        states.join(" then ")
    ));
    Ok(())
}

async fn push_events(ctx: &mut Ctx) -> Result<(), Finding> {
    let t = token(ctx);
    let sub = to_sink(ctx, mode::PUSH, &t)?.expires("PT60S");
    let s = subscribe(ctx, &sub, "Subscribe").await?;
    cause_events(ctx).await?;
    let sink = sink(ctx)?;
    let got = sink
        .wait_for(1, Instant::now() + EVENT_WAIT, |d| {
            d.path_token() == Some(t.as_str()) && d.is_event()
        })
        .await;
    unsubscribe(ctx, &s).await?;
    let got = got.map_err(|_| {
        Finding::mismatch(
            "events after a power cycle",
            "at least one event delivered",
            deliveries_text(&sink.matching(mine(&t))),
        )
    })?;
    let mut misses = Vec::new();
    carries_reference_parameter(&got, &t, &mut misses);
    verdict(misses)
}

async fn pull_events(ctx: &mut Ctx) -> Result<(), Finding> {
    let s = subscribe(ctx, &Subscription::pull().expires("PT60S"), "Subscribe").await?;
    let Some(mut c) = s.enumeration_context.clone() else {
        return Err(Finding::mismatch(
            "SubscribeResponse of a pull-mode subscription",
            "a wsen:EnumerationContext",
            "none",
        ));
    };
    cause_events(ctx).await?;
    let deadline = Instant::now() + EVENT_WAIT;
    let mut events = 0;
    let mut last = String::from("no Pull answered");
    while events == 0 && Instant::now() < deadline {
        let (ex, mid) = pull_once(ctx, &s, &c).await?;
        if ex
            .fault()
            .is_some_and(|f| f.subcode.as_deref() == Some("wsman:TimedOut"))
        {
            last = "wsman:TimedOut".into();
            continue;
        }
        expect_response(&ex, &mid, ns::action::PULL_RESPONSE, "Pull")?;
        let p = eventing::Pulled::read(&ex)
            .map_err(|why| Finding::mismatch("Pull", "a wsen:PullResponse", why))?;
        events += p.events.len();
        last = format!("{} events", p.events.len());
        if let Some(next) = p.context {
            c = next;
        }
    }
    unsubscribe(ctx, &s).await?;
    if events == 0 {
        return Err(Finding::mismatch(
            format!(
                "Pulls for {} after a power cycle",
                crate::run::seconds(EVENT_WAIT)
            ),
            "at least one event",
            format!("none (last Pull: {last})"),
        ));
    }
    Ok(())
}

/// A batched subscription with these limits, then a power cycle; returns the token,
/// when the power cycle began and the subscription.
async fn batched(
    ctx: &mut Ctx,
    max_elements: u32,
    max_time: Duration,
) -> Result<(String, Instant, Subscribed), Finding> {
    let t = token(ctx);
    let mut sub = to_sink(ctx, mode::EVENTS, &t)?.expires("PT60S");
    sub.max_elements = Some(max_elements);
    sub.max_time = Some(max_time);
    let s = subscribe(ctx, &sub, "Subscribe (batched)").await?;
    let began = Instant::now();
    cause_events(ctx).await?;
    Ok((t, began, s))
}

async fn max_elements(ctx: &mut Ctx) -> Result<(), Finding> {
    // MaxElements 1: a power cycle causes at least two events, so a source that
    // ignores the limit batches them.
    let (t, _, s) = batched(ctx, 1, MAX_TIME).await?;
    let sink = sink(ctx)?;
    let is_batch = |d: &Delivery| d.path_token() == Some(t.as_str()) && d.is_event();
    let got = sink
        .wait_for(2, Instant::now() + EVENT_WAIT, is_batch)
        .await;
    unsubscribe(ctx, &s).await?;
    batches_within(got, sink.matching(is_batch), 1)
}

async fn max_time(ctx: &mut Ctx) -> Result<(), Finding> {
    let (t, began, s) = batched(ctx, 100, MAX_TIME).await?;
    let sink = sink(ctx)?;
    let limit = MAX_TIME + MAX_TIME_SLACK;
    let first_batch = sink
        .wait_for(1, began + limit + EVENT_WAIT, |d| {
            d.path_token() == Some(t.as_str()) && d.is_event()
        })
        .await;
    unsubscribe(ctx, &s).await?;
    let first_batch = first_batch.map_err(|g| {
        Finding::mismatch("a batch after a power cycle", "one", deliveries_text(&g))
    })?;
    first_batch_in_time(began, &first_batch[0], MAX_TIME, MAX_TIME_SLACK)
}

async fn bookmarks_resume(ctx: &mut Ctx) -> Result<(), Finding> {
    let sink = sink(ctx)?;
    // The witness: a plain subscription that stays the whole time and sees every event.
    let w = token(ctx);
    let witness = subscribe(
        ctx,
        &to_sink(ctx, mode::PUSH, &w)?.expires("PT120S"),
        "Subscribe (witness)",
    )
    .await?;
    // The subscriber that asks for bookmarks, leaves and comes back.
    let a = token(ctx);
    let mut sub = to_sink(ctx, mode::PUSH, &a)?.expires("PT120S");
    sub.send_bookmarks = true;
    let (got, ex, mid) = try_subscribe(ctx, &sub).await?;
    let first_sub = match got {
        Ok(s) => {
            expect_response(
                &ex,
                &mid,
                ns::action::SUBSCRIBE_RESPONSE,
                "Subscribe (bookmarks)",
            )?;
            s
        }
        Err(why) => {
            return Err(Finding::Skip(format!(
                "the target does not offer bookmarks (wsman:SendBookmarks): {why}"
            )));
        }
    };
    cause_events(ctx).await?;
    sink.wait_for(1, Instant::now() + EVENT_WAIT, |d| {
        d.path_token() == Some(a.as_str()) && d.is_event()
    })
    .await
    .map_err(|g| {
        Finding::mismatch(
            "events before leaving",
            "at least one, with a wsman:Bookmark",
            deliveries_text(&g),
        )
    })?;
    unsubscribe(ctx, &first_sub).await?;
    let seen = sink.matching(mine(&a));
    let Some(mark) = seen.iter().rev().find_map(|d| d.bookmark.clone()) else {
        return Err(Finding::mismatch(
            "events of a subscription with wsman:SendBookmarks",
            "a wsman:Bookmark header",
            format!("none on {}", deliveries_text(&seen)),
        ));
    };
    let seen_events = events_of(&seen);
    // Events while away.
    cause_events(ctx).await?;
    let b = token(ctx);
    let mut again = to_sink(ctx, mode::PUSH, &b)?.expires("PT60S");
    again.bookmark = Some(mark);
    let resumed = subscribe(ctx, &again, "Subscribe (resuming from the bookmark)").await?;
    // What the witness saw after the last event the first subscription got.
    let witness_deadline = Instant::now() + EVENT_WAIT;
    let witness_events = |d: &Delivery| d.path_token() == Some(w.as_str()) && d.is_event();
    let expected = loop {
        let delivered = sink.matching(witness_events);
        let after = after_last_seen(&events_of(&delivered), &seen_events);
        if after.len() >= 2 || Instant::now() >= witness_deadline {
            break after;
        }
        let _ = sink
            .wait_for(delivered.len() + 1, witness_deadline, witness_events)
            .await;
    };
    if expected.is_empty() {
        return Err(Finding::Error(
            "the witness subscription saw no event after the first subscription left, so \
             resuming cannot be judged"
                .into(),
        ));
    }
    let deadline = Instant::now() + EVENT_WAIT;
    let _ = sink
        .wait_for(expected.len(), deadline, |d| {
            d.path_token() == Some(b.as_str()) && d.is_event()
        })
        .await;
    unsubscribe(ctx, &resumed).await?;
    unsubscribe(ctx, &witness).await?;
    let got = events_of(&sink.matching(mine(&b)));
    resumed_from_bookmark(&seen_events, &expected, &got)
}

/// The test record added over IPMI: a system event record (type 0x02), generator 0x41
/// (BIOS), sensor type 0x07 (processor), sensor 0x7E, assertion of offset 0 (the BMC
/// fills in the record ID and the timestamp).
const SEL_TEST_EVENT: [u8; 16] = [
    0, 0, 0x02, 0, 0, 0, 0, 0x41, 0, 0x04, 0x07, 0x7E, 0x6F, 0x00, 0xFF, 0xFF,
];

/// `cross.eventing.sel-entry`: subscribe (push when offered, else pull), add a SEL
/// record over IPMI, and see an event arrive. The SEL is saved before and restored
/// after (`preserve = ["sel"]`).
pub(crate) async fn sel_entry_event(ctx: &mut Ctx) -> Result<(), Finding> {
    let push = offered(ctx, mode::PUSH) && ctx.sink.is_some();
    let t = token(ctx);
    let sub = if push {
        to_sink(ctx, mode::PUSH, &t)?
    } else if offered(ctx, mode::PULL) {
        Subscription::pull()
    } else {
        return Err(Finding::Skip(
            "the target accepts neither push nor pull delivery".into(),
        ));
    }
    .expires("PT60S");
    let s = subscribe(ctx, &sub, "Subscribe").await?;
    let h = ctx.ipmi_login(crate::ipmi::Role::Admin).await?;
    let d = ctx
        .ipmi_ok(h, "Add SEL Entry", 0x0A, 0x44, &SEL_TEST_EVENT)
        .await?;
    let [lo, hi] = d[..] else {
        return Err(Finding::mismatch(
            "Add SEL Entry",
            "the 2-byte record ID",
            format!("{} bytes", d.len()),
        ));
    };
    let record = u16::from_le_bytes([lo, hi]);
    ctx.record_change(format!(
        "added a test SEL entry as {record:#06x} (the SEL is restored after the case)"
    ));
    let deadline = Instant::now() + EVENT_WAIT;
    // Every event that came, and whether one names the new record.
    let mut seen: Vec<String> = Vec::new();
    if push {
        let sink = sink(ctx)?;
        let _ = sink
            .wait_for(1, deadline, |d| {
                d.path_token() == Some(t.as_str())
                    && d.events.iter().any(|e| mentions(&e.xml, record))
            })
            .await;
        seen = events_of(&sink.matching(mine(&t)));
    } else {
        let mut c = s.enumeration_context.clone().unwrap_or_default();
        while !seen.iter().any(|e| mentions(e, record)) && Instant::now() < deadline {
            let (ex, _) = pull_once(ctx, &s, &c).await?;
            if let Ok(p) = eventing::Pulled::read(&ex) {
                seen.extend(p.events);
                if let Some(next) = p.context {
                    c = next;
                }
            }
        }
    }
    let events = seen.iter().filter(|e| mentions(e, record)).count();
    unsubscribe(ctx, &s).await?;
    if events == 0 {
        return Err(Finding::mismatch(
            format!(
                "events within {} of Add SEL Entry",
                crate::run::seconds(EVENT_WAIT)
            ),
            format!("one naming record {record} ({record:#06x})"),
            format!("{} events, none naming it", seen.len()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_delivery_mode_has_its_requirement() {
        let reqs: Vec<String> = mode::ALL
            .iter()
            .map(|m| crate::discover::mode_requirement(m))
            .collect();
        for r in &reqs {
            assert!(crate::discover::FEATURES.contains(&r.as_str()), "{r}");
        }
        assert_eq!(
            reqs,
            [
                "eventing:push",
                "eventing:push-with-ack",
                "eventing:events",
                "eventing:pull"
            ]
        );
    }

    #[test]
    fn every_case_of_the_profile_is_registered_and_every_registration_has_a_case() {
        let suite = crate::Suite::embedded().unwrap();
        let ids: Vec<&str> = suite
            .cases
            .iter()
            .filter(|c| c.profiles.iter().any(|p| p == "eventing"))
            .map(|c| c.id.as_str())
            .collect();
        for c in REGISTRY {
            assert!(ids.contains(&c.id), "{} has no suite entry", c.id);
        }
        for id in ids {
            assert!(crate::code::lookup(id).is_some(), "{id} is not registered");
        }
    }
}
