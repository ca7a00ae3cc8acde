//! The eventing cases' judgements of what they observed: when deliveries arrived, how
//! many events a batch held, which events came after a bookmark. Each is a function of
//! the recorded deliveries (the cases in `eventing.rs` subscribe, cause events and
//! wait), so each verdict is tested here with recorded observations: a source that
//! breaks the property fails, and one that orders, batches or times things differently
//! within what the text allows passes.

use std::time::{Duration, Instant};

use client::sink::{Delivery, Kind};

use super::{REF_NAME, REF_NS};
use crate::code::{Finding, verdict};
use crate::eval::Mismatch;

/// The deliveries, one description each, for a report (`nothing` when none came).
pub(super) fn deliveries_text(ds: &[Delivery]) -> String {
    if ds.is_empty() {
        return "nothing".into();
    }
    ds.iter()
        .map(Delivery::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks that every delivery carries the NotifyTo's (or EndTo's) reference parameter.
pub(super) fn carries_reference_parameter(
    ds: &[Delivery],
    token: &str,
    misses: &mut Vec<Mismatch>,
) {
    for d in ds {
        if d.header(REF_NS, REF_NAME) != Some(token) {
            misses.push(Mismatch {
                what: format!(
                    "{}: the NotifyTo reference parameter as a header",
                    d.describe()
                ),
                expected: format!("<{REF_NAME} xmlns=\"{REF_NS}\">{token}</{REF_NAME}>"),
                got: d
                    .header(REF_NS, REF_NAME)
                    .map_or_else(|| "absent".into(), |v| format!("`{v}`")),
            });
        }
    }
}

/// The events of `ds` in arrival order (each of a batch), trimmed.
pub(super) fn events_of(ds: &[Delivery]) -> Vec<String> {
    ds.iter()
        .filter(|d| d.is_event())
        .flat_map(|d| d.events.iter().map(|e| e.xml.trim().to_owned()))
        .collect()
}

/// Whether an event's XML names SEL record `id`: a token (between non-alphanumeric
/// characters) that is its decimal value, or its hexadecimal value with `0x` or in
/// four digits.
pub(super) fn mentions(xml: &str, id: u16) -> bool {
    let forms = [id.to_string(), format!("{id:04x}"), format!("{id:04X}")];
    xml.split(|c: char| !c.is_ascii_alphanumeric()).any(|tok| {
        let bare = tok.strip_prefix("0x").unwrap_or(tok);
        forms
            .iter()
            .any(|f| f == tok || (tok.starts_with("0x") && f.eq_ignore_ascii_case(bare)))
    })
}

/// Whether `d` is the SubscriptionEnd sent to the EndTo addressed by token `end`: a
/// SubscriptionEnd elsewhere (at NotifyTo) or another message at EndTo is not.
pub(super) fn ends_at(d: &Delivery, end: &str) -> bool {
    d.path_token() == Some(end) && d.kind == Kind::SubscriptionEnd
}

/// The heartbeat verdict: each delivery comes at most `gap` after the previous one
/// (the first at most `gap` after the subscription was accepted), and each is a
/// heartbeat or an event (an event resets the heartbeat clock as well).
pub(super) fn heartbeat_gaps(
    subscribed: Instant,
    got: &[Delivery],
    gap: Duration,
) -> Vec<Mismatch> {
    let mut misses = Vec::new();
    let mut last = subscribed;
    for d in got {
        let since = d.at.saturating_duration_since(last);
        if since > gap {
            misses.push(Mismatch {
                what: format!("{}: time since the previous delivery", d.describe()),
                expected: format!("at most {}", crate::run::seconds(gap)),
                got: crate::run::seconds(since),
            });
        }
        if !matches!(d.kind, Kind::Heartbeat | Kind::Event | Kind::Events) {
            misses.push(Mismatch {
                what: d.describe(),
                expected: "a heartbeat or an event".into(),
                got: format!("{:?}", d.kind),
            });
        }
        last = d.at;
    }
    misses
}

/// The PushWithAck verdict: every delivery asks for an acknowledgement.
pub(super) fn acks_requested(got: &[Delivery]) -> Vec<Mismatch> {
    got.iter()
        .filter(|d| !d.ack_requested)
        .map(|d| Mismatch {
            what: format!("{}: wsman:AckRequested", d.describe()),
            expected: "present (PushWithAck)".into(),
            got: "absent".into(),
        })
        .collect()
}

/// The MaxElements verdict, after waiting for two event deliveries: `waited` is what
/// the wait returned (`Ok` when two came, `Err` with those that did by the deadline),
/// `all` every event delivery of the subscription by the time it was unsubscribed.
/// It needs two events to judge (one batch of two counts); then no batch may hold more
/// than `max`.
pub(super) fn batches_within(
    waited: Result<Vec<Delivery>, Vec<Delivery>>,
    all: Vec<Delivery>,
    max: usize,
) -> Result<(), Finding> {
    let batches = match waited {
        Ok(_) => all,
        Err(g) if g.iter().map(|d| d.events.len()).sum::<usize>() >= 2 => g,
        Err(g) => {
            return Err(Finding::mismatch(
                "batches after a power cycle",
                "at least two events",
                deliveries_text(&g),
            ));
        }
    };
    let mut misses = Vec::new();
    for d in &batches {
        if d.events.len() > max {
            misses.push(Mismatch {
                what: format!("{}: events in one batch", d.describe()),
                expected: format!("at most {max} (wsman:MaxElements {max})"),
                got: d.events.len().to_string(),
            });
        }
    }
    verdict(misses)
}

/// The MaxTime verdict: the first batch came at most `max_time` plus `slack` after the
/// events were caused (`began`).
pub(super) fn first_batch_in_time(
    began: Instant,
    first: &Delivery,
    max_time: Duration,
    slack: Duration,
) -> Result<(), Finding> {
    let took = first.at.saturating_duration_since(began);
    if took > max_time + slack {
        return Err(Finding::mismatch(
            "the first batch after the power cycle began",
            format!(
                "within wsman:MaxTime {} (slack {})",
                client::eventing::xs(max_time),
                crate::run::seconds(slack)
            ),
            format!("after {}", crate::run::seconds(took)),
        ));
    }
    Ok(())
}

/// The events a witness subscription saw after the last one the leaving subscriber
/// had seen (all of them when it had seen none; none when the witness never saw it).
pub(super) fn after_last_seen(witness: &[String], seen: &[String]) -> Vec<String> {
    match seen.last() {
        Some(last) => witness
            .iter()
            .rposition(|e| e == last)
            .map(|i| witness[i + 1..].to_vec())
            .unwrap_or_default(),
        None => witness.to_vec(),
    }
}

/// The bookmark verdict: a subscription resumed from the bookmark gets none of the
/// events delivered before it (`seen`) and every one the witness saw after it
/// (`expected`), in any order, newer ones besides.
pub(super) fn resumed_from_bookmark(
    seen: &[String],
    expected: &[String],
    got: &[String],
) -> Result<(), Finding> {
    let mut misses = Vec::new();
    let dup = got.iter().filter(|e| seen.contains(e)).count();
    if dup > 0 {
        misses.push(Mismatch {
            what: "events after resuming from the bookmark".into(),
            expected: "none delivered before the bookmark".into(),
            got: format!("{dup} delivered again"),
        });
    }
    let lost = expected.iter().filter(|e| !got.contains(e)).count();
    if lost > 0 {
        misses.push(Mismatch {
            what: "events after resuming from the bookmark".into(),
            expected: format!(
                "the {} events the witness subscription saw after the bookmark",
                expected.len()
            ),
            got: format!("{lost} of them missing ({} events came)", got.len()),
        });
    }
    verdict(misses)
}

#[cfg(test)]
mod tests {
    use client::sink::{DeliveredEvent, HeaderElement};

    use super::*;

    /// A delivery to `/sink/t` arriving `ms` after `t0`, of `kind`, with `events` events
    /// named `e1`, `e2`, ... (from `first`).
    fn delivery(t0: Instant, ms: u64, kind: Kind, events: &[&str]) -> Delivery {
        Delivery {
            seq: 0,
            at: t0 + Duration::from_millis(ms),
            path: "/sink/t".into(),
            kind,
            action: None,
            message_id: None,
            headers: Vec::new(),
            events: events
                .iter()
                .map(|e| DeliveredEvent {
                    action: "urn:event".into(),
                    xml: format!(" <e>{e}</e>\n"),
                })
                .collect(),
            bookmark: None,
            dropped: Vec::new(),
            ack_requested: false,
            end_status: None,
            answered: 200,
            body: String::new(),
        }
    }

    fn beat(t0: Instant, ms: u64) -> Delivery {
        delivery(t0, ms, Kind::Heartbeat, &[])
    }

    fn batch(events: &[&str]) -> Delivery {
        let kind = if events.len() == 1 {
            Kind::Event
        } else {
            Kind::Events
        };
        delivery(Instant::now(), 0, kind, events)
    }

    fn strings(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|x| format!("<e>{x}</e>")).collect()
    }

    fn fails(r: Result<(), Finding>) -> String {
        match r {
            Err(Finding::Mismatch(m)) => m.iter().map(ToString::to_string).collect(),
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    const GAP: Duration = Duration::from_millis(4500);

    #[test]
    fn heartbeats_no_further_apart_than_the_gap_pass_whatever_their_rhythm() {
        let t0 = Instant::now();
        // Regular, early, uneven, and exactly at the gap: all within it.
        for times in [
            &[3000, 6000, 9000][..],
            &[100, 200, 300],
            &[4500, 5000, 9500],
        ] {
            let got: Vec<Delivery> = times.iter().map(|&ms| beat(t0, ms)).collect();
            assert!(heartbeat_gaps(t0, &got, GAP).is_empty(), "{times:?}");
        }
        // An event where a heartbeat was due counts as one, single or batched.
        let got = [
            beat(t0, 3000),
            delivery(t0, 6000, Kind::Event, &["a"]),
            delivery(t0, 9000, Kind::Events, &["b", "c"]),
        ];
        assert!(heartbeat_gaps(t0, &got, GAP).is_empty());
    }

    #[test]
    fn a_gap_longer_than_the_interval_and_slack_fails_wherever_it_falls() {
        let t0 = Instant::now();
        // Two quick heartbeats then a late one; a late first one; a late middle one.
        for (times, late) in [
            (&[1000, 2000, 11000][..], "#0 heartbeat"),
            (&[4501, 5000, 6000], "#0 heartbeat"),
            (&[1000, 5600, 6000], "#0 heartbeat"),
        ] {
            let got: Vec<Delivery> = times.iter().map(|&ms| beat(t0, ms)).collect();
            let misses = heartbeat_gaps(t0, &got, GAP);
            assert_eq!(misses.len(), 1, "{times:?}: {misses:?}");
            assert!(misses[0].what.starts_with(late), "{misses:?}");
            assert!(misses[0].what.contains("time since the previous delivery"));
            assert_eq!(misses[0].expected, "at most 4.5 s");
        }
        let got = [beat(t0, 1000), beat(t0, 2000), beat(t0, 11000)];
        assert_eq!(heartbeat_gaps(t0, &got, GAP)[0].got, "9 s");
    }

    #[test]
    fn a_delivery_that_is_neither_heartbeat_nor_event_fails() {
        let t0 = Instant::now();
        for kind in [
            Kind::SubscriptionEnd,
            Kind::Other,
            Kind::Malformed("not XML".into()),
        ] {
            let got = [beat(t0, 1000), delivery(t0, 2000, kind.clone(), &[])];
            let misses = heartbeat_gaps(t0, &got, GAP);
            assert_eq!(misses.len(), 1, "{kind:?}: {misses:?}");
            assert_eq!(misses[0].expected, "a heartbeat or an event");
            assert_eq!(misses[0].got, format!("{kind:?}"));
        }
    }

    #[test]
    fn every_delivery_of_push_with_ack_must_ask_for_an_ack() {
        let t0 = Instant::now();
        let mut a = beat(t0, 1000);
        a.ack_requested = true;
        let mut b = delivery(t0, 2000, Kind::Event, &["x"]);
        b.ack_requested = true;
        assert!(acks_requested(&[a.clone(), b.clone()]).is_empty());
        b.ack_requested = false;
        let misses = acks_requested(&[a, b]);
        assert_eq!(misses.len(), 1, "{misses:?}");
        assert!(misses[0].what.contains("wsman:AckRequested"), "{misses:?}");
        assert_eq!(misses[0].got, "absent");
    }

    #[test]
    fn batches_no_larger_than_max_elements_pass() {
        let two = vec![batch(&["a"]), batch(&["b"])];
        let three = vec![batch(&["a"]), batch(&["b"]), batch(&["c"])];
        assert_eq!(batches_within(Ok(two.clone()), three.clone(), 1), Ok(()));
        // A wait that ended with two single events (not judged as a batch of two).
        assert_eq!(batches_within(Err(two), three, 1), Ok(()));
        // A batch of exactly MaxElements.
        assert_eq!(
            batches_within(Ok(vec![batch(&["a", "b"])]), vec![batch(&["a", "b"])], 2),
            Ok(())
        );
    }

    #[test]
    fn a_batch_larger_than_max_elements_fails() {
        // Found among all deliveries, though the wait saw only small ones.
        let all = vec![batch(&["a"]), batch(&["b"]), batch(&["c", "d"])];
        let why = fails(batches_within(
            Ok(vec![batch(&["a"]), batch(&["b"])]),
            all,
            1,
        ));
        assert!(
            why.contains("batch of 2") && why.contains("at most 1"),
            "{why}"
        );
        // One batch of two was all that came: judged, and too large.
        let why = fails(batches_within(Err(vec![batch(&["a", "b"])]), Vec::new(), 1));
        assert!(why.contains("events in one batch"), "{why}");
        assert!(why.contains("wsman:MaxElements 1"), "{why}");
    }

    #[test]
    fn fewer_than_two_events_cannot_judge_max_elements_and_fail_with_what_came() {
        for g in [Vec::new(), vec![batch(&["a"])]] {
            let n = g.len();
            let why = fails(batches_within(Err(g), Vec::new(), 1));
            assert!(why.contains("at least two events"), "{n}: {why}");
        }
    }

    #[test]
    fn a_first_batch_within_max_time_and_slack_passes_and_a_later_one_fails() {
        let t0 = Instant::now();
        let (max, slack) = (Duration::from_secs(2), Duration::from_secs(3));
        for ms in [0, 1500, 2000, 5000] {
            let d = delivery(t0, ms, Kind::Events, &["a", "b"]);
            assert_eq!(first_batch_in_time(t0, &d, max, slack), Ok(()), "{ms}");
        }
        for ms in [5001, 9000] {
            let d = delivery(t0, ms, Kind::Events, &["a", "b"]);
            let why = fails(first_batch_in_time(t0, &d, max, slack));
            assert!(why.contains("wsman:MaxTime PT2S"), "{why}");
            assert!(why.contains("slack 3 s"), "{why}");
        }
        let d = delivery(t0, 9000, Kind::Events, &["a"]);
        assert!(fails(first_batch_in_time(t0, &d, max, slack)).contains("after 9 s"));
    }

    #[test]
    fn the_events_after_a_bookmark_are_those_the_witness_saw_after_the_last_one_seen() {
        let witness = strings(&["a", "b", "c", "d"]);
        assert_eq!(
            after_last_seen(&witness, &strings(&["a", "b"])),
            strings(&["c", "d"])
        );
        assert_eq!(after_last_seen(&witness, &[]), witness);
        assert_eq!(
            after_last_seen(&witness, &strings(&["d"])),
            Vec::<String>::new()
        );
        // The last seen event is looked for from the end: an event repeated earlier
        // does not bring older ones back.
        let witness = strings(&["a", "b", "a", "c"]);
        assert_eq!(after_last_seen(&witness, &strings(&["a"])), strings(&["c"]));
        // A last event the witness never saw: nothing to expect.
        assert!(after_last_seen(&witness, &strings(&["z"])).is_empty());
    }

    #[test]
    fn a_resumed_subscription_with_every_later_event_passes_in_any_order() {
        let seen = strings(&["a", "b"]);
        let expected = strings(&["c", "d"]);
        assert_eq!(resumed_from_bookmark(&seen, &expected, &expected), Ok(()));
        // In another order, and with newer events besides.
        let got = strings(&["d", "c", "e"]);
        assert_eq!(resumed_from_bookmark(&seen, &expected, &got), Ok(()));
    }

    #[test]
    fn an_event_missing_after_a_bookmark_resume_fails() {
        let seen = strings(&["a", "b"]);
        let expected = strings(&["c", "d"]);
        let why = fails(resumed_from_bookmark(&seen, &expected, &strings(&["d"])));
        assert!(why.contains("1 of them missing (1 events came)"), "{why}");
        assert!(why.contains("the 2 events the witness"), "{why}");
        assert!(!why.contains("delivered again"), "{why}");
        let why = fails(resumed_from_bookmark(&seen, &expected, &[]));
        assert!(why.contains("2 of them missing (0 events came)"), "{why}");
    }

    #[test]
    fn an_event_delivered_again_after_a_bookmark_resume_fails() {
        let seen = strings(&["a", "b"]);
        let expected = strings(&["c"]);
        let why = fails(resumed_from_bookmark(
            &seen,
            &expected,
            &strings(&["b", "c"]),
        ));
        assert!(why.contains("1 delivered again"), "{why}");
        assert!(!why.contains("missing"), "{why}");
        let r = resumed_from_bookmark(&seen, &expected, &strings(&["a", "b"]));
        let Err(Finding::Mismatch(m)) = r else {
            panic!("{r:?}")
        };
        assert_eq!(m.len(), 2, "both duplicated and missing: {m:?}");
    }

    #[test]
    fn events_of_takes_each_event_of_each_batch_in_order_trimmed() {
        let t0 = Instant::now();
        let ds = [
            delivery(t0, 0, Kind::Event, &["a"]),
            beat(t0, 1),
            delivery(t0, 2, Kind::Events, &["b", "c"]),
            // Events of a message that is no event delivery are not events.
            delivery(t0, 3, Kind::Other, &["x"]),
        ];
        assert_eq!(events_of(&ds), strings(&["a", "b", "c"]));
    }

    #[test]
    fn a_delivery_without_the_reference_parameter_or_with_another_value_fails() {
        let t0 = Instant::now();
        let param = |v: &str| HeaderElement {
            ns: REF_NS.into(),
            name: REF_NAME.into(),
            text: v.into(),
        };
        let mut good = beat(t0, 0);
        good.headers.push(param("tok"));
        let mut other = beat(t0, 1);
        other.headers.push(param("someone-else"));
        let mut elsewhere = beat(t0, 2);
        elsewhere.headers.push(HeaderElement {
            ns: "urn:other".into(),
            ..param("tok")
        });
        let mut misses = Vec::new();
        carries_reference_parameter(&[good.clone()], "tok", &mut misses);
        assert!(misses.is_empty(), "{misses:?}");
        carries_reference_parameter(&[good, other, elsewhere], "tok", &mut misses);
        assert_eq!(misses.len(), 2, "{misses:?}");
        assert_eq!(misses[0].got, "`someone-else`");
        assert_eq!(misses[1].got, "absent");
        assert!(misses[1].expected.contains(">tok</"), "{misses:?}");
    }

    #[test]
    fn only_a_subscription_end_at_the_end_to_ends_the_subscription() {
        let t0 = Instant::now();
        let mut at_end = delivery(t0, 0, Kind::SubscriptionEnd, &[]);
        at_end.path = "/sink/tok-end".into();
        assert!(ends_at(&at_end, "tok-end"));
        // A SubscriptionEnd at the NotifyTo, and a heartbeat at the EndTo, are not it.
        let mut at_notify = at_end.clone();
        at_notify.path = "/sink/tok".into();
        assert!(!ends_at(&at_notify, "tok-end"));
        let mut beat_at_end = beat(t0, 1);
        beat_at_end.path = "/sink/tok-end".into();
        assert!(!ends_at(&beat_at_end, "tok-end"));
    }

    #[test]
    fn deliveries_are_described_one_by_one_or_as_nothing() {
        let t0 = Instant::now();
        assert_eq!(deliveries_text(&[]), "nothing");
        let text = deliveries_text(&[beat(t0, 0), delivery(t0, 1, Kind::Events, &["a", "b"])]);
        assert_eq!(text, "#0 heartbeat to /sink/t; #0 batch of 2 to /sink/t");
    }

    #[test]
    fn a_record_is_named_by_its_number_not_by_a_longer_one() {
        assert!(mentions("<p:RecordID>42</p:RecordID>", 42));
        assert!(mentions("RecordID=\"42\",LogName=\"IPMI SEL\"", 42));
        assert!(mentions("InstanceID IPMI:SEL:0x002A", 42));
        assert!(mentions("entry 002a added", 42));
        assert!(mentions("entry 002A added", 42));
        assert!(!mentions("<p:RecordID>420</p:RecordID>", 42));
        assert!(!mentions("<p:Reading>4.2</p:Reading>", 42));
        // Another record in hexadecimal is not this one.
        assert!(!mentions("InstanceID IPMI:SEL:0x0001", 42));
        // Hexadecimal without 0x only in four digits.
        assert!(!mentions("entry 2a added", 42));
        assert!(!mentions("", 42));
    }
}
