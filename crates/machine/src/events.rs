//! What happened on the machine, in order: the source of WS-Eventing deliveries.
//!
//! Every change a management console would want to hear about is recorded here as an
//! [`Event`] with a sequence number, whoever caused it (a sensor walk crossing a
//! threshold, a chassis control action over either protocol, a SEL record added over
//! IPMI or written by the machine, a scenario or the admin API raising one with
//! [`Machine::raise_event`](crate::Machine::raise_event)). The log is bounded: the oldest
//! events fall out first, and [`EventLog::since`] says how many a reader missed, so a
//! subscriber that falls behind can be told (WS-Management's DroppedEvents) instead of
//! silently losing them.
//!
//! Sans-IO like the rest of the crate: nothing here wakes anybody. The mock compares
//! [`EventLog::last_seq`] before and after an operation to know whether to deliver.

use std::collections::VecDeque;

use crate::Millis;
use crate::power::PowerAction;
use crate::sensor::Threshold;

/// How many events the log keeps by default.
pub const DEFAULT_CAPACITY: usize = 1024;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its place in the log: 1 for the first event, then consecutive.
    pub seq: u64,
    /// When, on the mock's clock.
    pub at: Millis,
    /// When, on the SEL clock (Unix seconds), for timestamps in indications.
    pub unix: u32,
    /// What.
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A numeric sensor crossed one of its thresholds (going out of range when
    /// `asserted`, back in when not). Also logged in the SEL, which gives a
    /// [`EventKind::SelRecord`] right after it.
    Threshold {
        /// The sensor's id in the spec.
        sensor: String,
        /// The threshold crossed.
        threshold: Threshold,
        /// True when the reading went past the threshold, false when it came back.
        asserted: bool,
        /// The reading, quantized as the BMC reports it.
        reading: f64,
        /// The threshold's value.
        limit: f64,
    },
    /// A chassis control action changed the power state. Also logged in the SEL.
    Power {
        /// The action taken.
        action: PowerAction,
    },
    /// A record was added to the SEL (by the machine, IPMI Add SEL Entry or a scenario).
    SelRecord {
        /// The record id the log assigned.
        record_id: u16,
    },
    /// An indication raised by a scenario schedule, rule, script or the admin API: a
    /// CIM class (`CIM_AlertIndication`, ...) and its properties as text.
    Custom {
        /// The indication's class.
        class: String,
        /// Property name and value, in order.
        properties: Vec<(String, String)>,
    },
}

/// The bounded, ordered log of [`Event`]s.
#[derive(Debug, Clone)]
pub struct EventLog {
    events: VecDeque<Event>,
    next: u64,
    capacity: usize,
}

impl Default for EventLog {
    fn default() -> EventLog {
        EventLog::with_capacity(DEFAULT_CAPACITY)
    }
}

impl EventLog {
    /// An empty log keeping at most `capacity` events (at least one).
    pub fn with_capacity(capacity: usize) -> EventLog {
        EventLog {
            events: VecDeque::new(),
            next: 1,
            capacity: capacity.max(1),
        }
    }

    /// Appends an event and returns its sequence number; the oldest falls out when
    /// the log is full.
    pub fn push(&mut self, at: Millis, unix: u32, kind: EventKind) -> u64 {
        let seq = self.next;
        self.next += 1;
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(Event {
            seq,
            at,
            unix,
            kind,
        });
        seq
    }

    /// The sequence number of the newest event, 0 before the first.
    pub fn last_seq(&self) -> u64 {
        self.next - 1
    }

    /// The events after `after` (a sequence number a reader has seen; 0 for all),
    /// oldest first, and how many events after `after` are no longer kept.
    pub fn since(&self, after: u64) -> (u64, impl Iterator<Item = &Event>) {
        let oldest = self.events.front().map_or(self.next, |e| e.seq);
        let dropped = oldest.saturating_sub(after.saturating_add(1));
        let skip = after.saturating_add(1).saturating_sub(oldest);
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        (dropped, self.events.iter().skip(skip))
    }

    /// How many events the log keeps at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(n: u32) -> EventKind {
        EventKind::Custom {
            class: "CIM_AlertIndication".into(),
            properties: vec![("N".into(), n.to_string())],
        }
    }

    fn seqs(log: &EventLog, after: u64) -> (u64, Vec<u64>) {
        let (dropped, it) = log.since(after);
        (dropped, it.map(|e| e.seq).collect())
    }

    #[test]
    fn numbers_events_from_one_and_reads_after_a_cursor() {
        let mut log = EventLog::with_capacity(8);
        assert_eq!(log.last_seq(), 0);
        assert_eq!(seqs(&log, 0), (0, vec![]));
        for n in 0..3 {
            assert_eq!(log.push(u64::from(n), n, custom(n)), u64::from(n) + 1);
        }
        assert_eq!(log.last_seq(), 3);
        assert_eq!(seqs(&log, 0), (0, vec![1, 2, 3]));
        assert_eq!(seqs(&log, 2), (0, vec![3]));
        assert_eq!(seqs(&log, 3), (0, vec![]));
        // A cursor from the future reads nothing and misses nothing.
        assert_eq!(seqs(&log, 10), (0, vec![]));
    }

    #[test]
    fn a_full_log_drops_the_oldest_and_says_how_many_a_reader_missed() {
        let mut log = EventLog::with_capacity(3);
        for n in 0..5 {
            log.push(0, 0, custom(n));
        }
        assert_eq!(log.capacity(), 3);
        assert_eq!(seqs(&log, 0), (2, vec![3, 4, 5]));
        assert_eq!(seqs(&log, 1), (1, vec![3, 4, 5]));
        assert_eq!(seqs(&log, 2), (0, vec![3, 4, 5]));
        assert_eq!(seqs(&log, 4), (0, vec![5]));
        assert_eq!(log.last_seq(), 5);
    }

    #[test]
    fn capacity_zero_keeps_one() {
        let mut log = EventLog::with_capacity(0);
        log.push(0, 0, custom(1));
        log.push(0, 0, custom(2));
        assert_eq!(seqs(&log, 0), (1, vec![2]));
    }
}
