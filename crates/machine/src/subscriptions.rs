//! Event subscriptions as bookkeeping: what each subscriber asked for and how far it
//! has read the machine's event log ([`crate::events`]).
//!
//! This is the sans-IO half of WS-Eventing. A [`Subscription`] holds its delivery
//! [`Mode`], its expiry on the mock's clock, heartbeats, bookmarks, batching limits, a
//! Pull-mode enumeration context and its cursor in the event log; [`Subscriptions`]
//! keeps them by identifier together with the epoch that makes bookmarks of another
//! machine unknown. What the machine cannot know (where events are sent, how they are
//! selected and written) is the caller's part `D` of each subscription, and
//! [`Subscription::collect`] takes the selection and rendering as a closure.
//!
//! Nothing here sends, waits or reads a clock: times are passed in as [`Millis`], the
//! epoch is chosen by the caller, and the mock's delivery tasks and waiting Pulls do
//! the IO.

use std::collections::HashMap;

use crate::events::Event;
use crate::{Machine, Millis};

/// How events reach the subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One event per message.
    Push,
    /// One event per message, each acknowledged (`wsman:AckRequested`).
    PushWithAck,
    /// Batches (`wsman:Events`).
    Events,
    /// The subscriber pulls with the subscription's enumeration context.
    Pull,
}

impl Mode {
    /// Whether the source sends events (every mode but [`Mode::Pull`]).
    pub fn is_push(self) -> bool {
        self != Mode::Pull
    }
}

/// One subscription: its bookkeeping, and `delivery`, the caller's part (addresses,
/// the filter, anything else the machine does not look at).
#[derive(Debug, Clone)]
pub struct Subscription<D> {
    /// Its identifier (the key in [`Subscriptions`]).
    pub id: String,
    /// How events reach the subscriber.
    pub mode: Mode,
    /// When it ends, on the mock's clock.
    pub expires_at: Millis,
    /// How often a heartbeat is due when there is nothing to send, if asked for.
    pub heartbeat_ms: Option<Millis>,
    /// Whether each delivery carries a bookmark ([`Subscriptions::bookmark`]).
    pub send_bookmarks: bool,
    /// The sequence number of the last event handled (delivered or filtered out).
    pub cursor: u64,
    /// The most events in one batch (at least 1).
    pub max_elements: u32,
    /// How long a batch may wait to fill up (0: not at all).
    pub max_time_ms: Millis,
    /// The largest envelope a batch may be, in bytes, if limited.
    pub max_envelope: Option<u64>,
    /// A Pull-mode subscription's enumeration context.
    pub context: Option<String>,
    /// The caller's part: what delivery and selection need beyond the bookkeeping.
    pub delivery: D,
}

/// What [`Subscription::collect`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Collected<R> {
    /// Events the log no longer keeps that the subscriber never read.
    pub dropped: u64,
    /// (sequence number, rendering) of the events selected, oldest first.
    pub events: Vec<(u64, R)>,
    /// The cursor after these: the last event handled, selected or not.
    pub upto: u64,
}

impl<D> Subscription<D> {
    /// Whether it has ended by `now` (it is alive strictly before `expires_at`).
    pub fn is_expired(&self, now: Millis) -> bool {
        now >= self.expires_at
    }

    /// Gives it a new end, `expires_at` on the mock's clock.
    pub fn renew(&mut self, expires_at: Millis) {
        self.expires_at = expires_at;
    }

    /// Moves the cursor to `upto` once the events up to it are handled; never back
    /// (a delivery that finishes after a later one does not rewind it).
    pub fn advance(&mut self, upto: u64) {
        self.cursor = self.cursor.max(upto);
    }

    /// Reads up to `limit` selected events after the cursor, oldest first. `select`
    /// renders an event and says whether the subscription wants it (`None`: filtered
    /// out); it gets the machine too, since rendering may read its state. Events
    /// filtered out still count as handled: `upto` moves past them. The cursor itself
    /// is not moved (the caller does, with [`Subscription::advance`], once they are
    /// delivered).
    pub fn collect<R>(
        &self,
        m: &mut Machine,
        limit: usize,
        mut select: impl FnMut(&mut Machine, &Event) -> Option<R>,
    ) -> Collected<R> {
        // A copy of what is pending, so that `select` may have the machine mutably.
        let (dropped, it) = m.events().since(self.cursor);
        let pending: Vec<Event> = it.cloned().collect();
        let mut out = Collected {
            dropped,
            events: Vec::new(),
            upto: self.cursor,
        };
        for e in pending {
            if out.events.len() >= limit {
                break;
            }
            out.upto = e.seq;
            if let Some(r) = select(m, &e) {
                out.events.push((e.seq, r));
            }
        }
        out
    }
}

/// The subscriptions by identifier, and the epoch that makes bookmarks of an earlier
/// machine unknown.
#[derive(Debug, Clone)]
pub struct Subscriptions<D> {
    subs: HashMap<String, Subscription<D>>,
    /// Chosen by the caller per machine (the mock picks it at random): bookmarks carry
    /// it.
    epoch: u64,
}

/// What every bookmark starts with; the epoch and the sequence number follow.
const BOOKMARK_PREFIX: &str = "urn:touchstone:bookmark:";

impl<D> Subscriptions<D> {
    /// No subscriptions, bookmarks marked with `epoch`.
    pub fn new(epoch: u64) -> Subscriptions<D> {
        Subscriptions {
            subs: HashMap::new(),
            epoch,
        }
    }

    /// Forgets every subscription (a new machine, a new event log); bookmarks of the
    /// old epoch become unknown.
    pub fn reset(&mut self, new_epoch: u64) {
        self.subs.clear();
        self.epoch = new_epoch;
    }

    /// How many subscriptions there are.
    pub fn len(&self) -> usize {
        self.subs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// The subscription `id`.
    pub fn get(&self, id: &str) -> Option<&Subscription<D>> {
        self.subs.get(id)
    }

    /// The subscription `id`, to change.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Subscription<D>> {
        self.subs.get_mut(id)
    }

    /// Whether the subscription `id` exists.
    pub fn contains(&self, id: &str) -> bool {
        self.subs.contains_key(id)
    }

    /// Adds a subscription under its identifier; returns the one it replaces, if any.
    pub fn insert(&mut self, sub: Subscription<D>) -> Option<Subscription<D>> {
        self.subs.insert(sub.id.clone(), sub)
    }

    /// Removes the subscription `id`, returning it.
    pub fn remove(&mut self, id: &str) -> Option<Subscription<D>> {
        self.subs.remove(id)
    }

    /// Keeps only the subscriptions `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&Subscription<D>) -> bool) {
        self.subs.retain(|_, s| keep(s));
    }

    /// Removes every subscription, returning them (in no particular order).
    pub fn drain(&mut self) -> impl Iterator<Item = Subscription<D>> + '_ {
        self.subs.drain().map(|(_, s)| s)
    }

    /// The identifier of the subscription that owns a Pull-mode enumeration context.
    pub fn by_context(&self, ctx: &str) -> Option<&str> {
        self.subs
            .values()
            .find(|s| s.context.as_deref() == Some(ctx))
            .map(|s| s.id.as_str())
    }

    /// The bookmark for the event `seq`: `urn:touchstone:bookmark:<epoch in hex>:<seq>`.
    pub fn bookmark(&self, seq: u64) -> String {
        format!("{BOOKMARK_PREFIX}{:x}:{seq}", self.epoch)
    }

    /// The sequence number a bookmark of this epoch names; `None` for anything else
    /// (another epoch, another source's bookmark, malformed text).
    pub fn read_bookmark(&self, text: &str) -> Option<u64> {
        let rest = text.trim().strip_prefix(BOOKMARK_PREFIX)?;
        let (epoch, seq) = rest.split_once(':')?;
        (u64::from_str_radix(epoch, 16).ok()? == self.epoch)
            .then(|| seq.parse().ok())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MachineSpec;
    use crate::events::EventKind;

    fn sub(id: &str, cursor: u64) -> Subscription<()> {
        sub_with(id, cursor, ())
    }

    fn sub_with<D>(id: &str, cursor: u64, delivery: D) -> Subscription<D> {
        Subscription {
            id: id.into(),
            mode: Mode::Pull,
            expires_at: 1_000,
            heartbeat_ms: None,
            send_bookmarks: false,
            cursor,
            max_elements: 32,
            max_time_ms: 0,
            max_envelope: None,
            context: None,
            delivery,
        }
    }

    fn machine() -> Machine {
        Machine::new(MachineSpec::default(), 0).expect("the default machine")
    }

    /// Raises `n` alerts, the odd ones of class `Odd`, the even ones `Even`; returns
    /// their sequence numbers.
    fn raise(m: &mut Machine, n: u64) -> Vec<u64> {
        (0..n)
            .map(|i| {
                let seq = m.events().last_seq() + 1;
                let class = if seq % 2 == 1 { "Odd" } else { "Even" };
                m.raise_event(
                    EventKind::Custom {
                        class: class.into(),
                        properties: vec![("I".into(), i.to_string())],
                    },
                    0,
                )
            })
            .collect()
    }

    fn class(e: &Event) -> &str {
        match &e.kind {
            EventKind::Custom { class, .. } => class,
            _ => "",
        }
    }

    #[test]
    fn only_push_modes_push() {
        assert!(Mode::Push.is_push());
        assert!(Mode::PushWithAck.is_push());
        assert!(Mode::Events.is_push());
        assert!(!Mode::Pull.is_push());
    }

    #[test]
    fn bookmarks_round_trip_within_their_epoch_only() {
        let subs: Subscriptions<()> = Subscriptions::new(0xbeef);
        let b = subs.bookmark(42);
        assert_eq!(b, "urn:touchstone:bookmark:beef:42");
        assert_eq!(subs.read_bookmark(&b), Some(42));
        assert_eq!(subs.read_bookmark(&format!("  {b}\n")), Some(42));
        // Another machine's, another source's, malformed.
        assert_eq!(subs.read_bookmark("urn:touchstone:bookmark:beee:42"), None);
        assert_eq!(subs.read_bookmark("urn:other:bookmark:beef:42"), None);
        assert_eq!(subs.read_bookmark("urn:touchstone:bookmark:beef"), None);
        assert_eq!(subs.read_bookmark("urn:touchstone:bookmark:beef:x"), None);
        assert_eq!(subs.read_bookmark("urn:touchstone:bookmark:zz:1"), None);
    }

    #[test]
    fn reset_forgets_subscriptions_and_old_bookmarks() {
        let mut subs: Subscriptions<()> = Subscriptions::new(1);
        assert!(subs.insert(sub("uuid:a", 0)).is_none());
        let old = subs.bookmark(7);
        assert_eq!(subs.len(), 1);
        subs.reset(2);
        assert!(subs.is_empty());
        assert!(subs.get("uuid:a").is_none());
        assert_eq!(subs.read_bookmark(&old), None);
        assert_eq!(subs.read_bookmark(&subs.bookmark(7)), Some(7));
    }

    #[test]
    fn subscriptions_are_kept_by_id_and_found_by_context() {
        let mut subs: Subscriptions<u8> = Subscriptions::new(0);
        let mut a = sub_with("uuid:a", 0, 1);
        a.context = Some("uuid:ctx-a".into());
        subs.insert(a);
        subs.insert(sub_with("uuid:b", 0, 2));
        assert_eq!(subs.len(), 2);
        assert!(subs.contains("uuid:b"));
        assert_eq!(subs.get("uuid:b").map(|s| s.delivery), Some(2));
        assert_eq!(subs.by_context("uuid:ctx-a"), Some("uuid:a"));
        assert_eq!(subs.by_context("uuid:ctx-b"), None);
        if let Some(s) = subs.get_mut("uuid:a") {
            s.delivery = 9;
        }
        assert_eq!(subs.get("uuid:a").map(|s| s.delivery), Some(9));
        // The same id again replaces it.
        let replaced = subs.insert(sub_with("uuid:b", 0, 5));
        assert_eq!(replaced.map(|s| s.delivery), Some(2));
        assert_eq!(subs.len(), 2);
        subs.retain(|s| s.id != "uuid:b");
        assert!(!subs.contains("uuid:b"));
        assert_eq!(subs.remove("uuid:a").map(|s| s.delivery), Some(9));
        assert_eq!(subs.by_context("uuid:ctx-a"), None);
        assert!(subs.is_empty());
    }

    #[test]
    fn drain_returns_every_subscription() {
        let mut subs: Subscriptions<()> = Subscriptions::new(0);
        subs.insert(sub("uuid:a", 0));
        subs.insert(sub("uuid:b", 0));
        let mut ids: Vec<String> = subs.drain().map(|s| s.id).collect();
        ids.sort();
        assert_eq!(ids, ["uuid:a", "uuid:b"]);
        assert!(subs.is_empty());
    }

    #[test]
    fn expiry_is_at_expires_at_and_renew_moves_it() {
        let mut s = sub("uuid:a", 0);
        assert!(!s.is_expired(0));
        assert!(!s.is_expired(999));
        assert!(s.is_expired(1_000));
        assert!(s.is_expired(5_000));
        s.renew(6_000);
        assert!(!s.is_expired(5_000));
        assert!(s.is_expired(6_000));
    }

    #[test]
    fn the_cursor_only_moves_forward() {
        let mut s = sub("uuid:a", 5);
        s.advance(8);
        assert_eq!(s.cursor, 8);
        s.advance(6);
        assert_eq!(s.cursor, 8);
    }

    #[test]
    fn collect_reads_after_the_cursor_and_does_not_move_it() {
        let mut m = machine();
        let base = m.events().last_seq();
        let seqs = raise(&mut m, 3);
        let s = sub("uuid:a", base);
        let got = s.collect(&mut m, 10, |_, e| Some(e.seq));
        assert_eq!(got.dropped, 0);
        assert_eq!(got.events, seqs.iter().map(|&q| (q, q)).collect::<Vec<_>>());
        assert_eq!(got.upto, seqs[2]);
        assert_eq!(s.cursor, base);
        // Nothing new: nothing read, `upto` stays at the cursor.
        let s = sub("uuid:a", seqs[2]);
        let none = s.collect(&mut m, 10, |_, e| Some(e.seq));
        assert!(none.events.is_empty());
        assert_eq!(none.upto, seqs[2]);
    }

    #[test]
    fn collect_skips_filtered_events_but_moves_upto_past_them() {
        let mut m = machine();
        let base = m.events().last_seq();
        let seqs = raise(&mut m, 5);
        let s = sub("uuid:a", base);
        let odd = |_: &mut Machine, e: &Event| (class(e) == "Odd").then_some(e.seq);
        let got = s.collect(&mut m, 10, odd);
        let want: Vec<(u64, u64)> = seqs
            .iter()
            .filter(|&&q| q % 2 == 1)
            .map(|&q| (q, q))
            .collect();
        assert_eq!(got.events, want);
        assert_eq!(got.upto, seqs[4]);
        // None selected: every event handled all the same.
        let got = s.collect(&mut m, 10, |_, _| None::<u64>);
        assert!(got.events.is_empty());
        assert_eq!(got.upto, seqs[4]);
    }

    #[test]
    fn collect_stops_at_limit_selected_events() {
        let mut m = machine();
        let base = m.events().last_seq();
        let seqs = raise(&mut m, 6);
        let s = sub("uuid:a", base);
        let got = s.collect(&mut m, 2, |_, e| Some(e.seq));
        assert_eq!(got.events, [(seqs[0], seqs[0]), (seqs[1], seqs[1])]);
        assert_eq!(got.upto, seqs[1]);
        // The limit counts selected events only: filtered ones before the second
        // selected one are passed, the events after it are left for the next read.
        let odd = |_: &mut Machine, e: &Event| (class(e) == "Odd").then_some(e.seq);
        let got = s.collect(&mut m, 2, odd);
        let selected: Vec<u64> = got.events.iter().map(|(q, _)| *q).collect();
        assert_eq!(selected.len(), 2);
        assert!(selected.iter().all(|q| q % 2 == 1));
        assert_eq!(got.upto, selected[1]);
        assert!(got.upto < seqs[5]);
        let zero = s.collect(&mut m, 0, |_, e| Some(e.seq));
        assert!(zero.events.is_empty());
        assert_eq!(zero.upto, base);
    }

    #[test]
    fn collect_says_how_many_events_the_log_dropped() {
        let mut m = machine();
        let capacity = m.events().capacity() as u64;
        let s = sub("uuid:a", m.events().last_seq());
        raise(&mut m, capacity + 5);
        let got = s.collect(&mut m, usize::MAX, |_, e| Some(e.seq));
        assert_eq!(got.dropped, 5);
        assert_eq!(got.events.len() as u64, capacity);
        assert_eq!(got.upto, m.events().last_seq());
        // A reader up to date on what is kept missed nothing.
        let s = sub("uuid:a", got.upto);
        assert_eq!(s.collect(&mut m, 1, |_, e| Some(e.seq)).dropped, 0);
    }

    #[test]
    fn select_may_read_the_machine() {
        let mut m = machine();
        let base = m.events().last_seq();
        raise(&mut m, 2);
        let s = sub("uuid:a", base);
        let got = s.collect(&mut m, 10, |m, e| Some(m.events().last_seq() - e.seq));
        assert_eq!(
            got.events.iter().map(|(_, r)| *r).collect::<Vec<_>>(),
            [1, 0]
        );
    }
}
