//! The scenario's `[eventing]` table: what the event source offers and the fault
//! rules its deliveries follow.

use serde::Deserialize;

/// The delivery modes, as `[eventing] modes` names them: (short name, mode URI).
pub const MODES: [(&str, &str); 4] = [
    ("push", wsman::ns::eventing::PUSH),
    ("push_with_ack", wsman::ns::eventing::PUSH_WITH_ACK),
    ("events", wsman::ns::eventing::EVENTS),
    ("pull", wsman::ns::eventing::PULL),
];

/// The `[eventing]` table.
///
/// ```toml
/// [eventing]
/// modes = ["push", "push_with_ack", "events", "pull"]   # the default: all four
/// max_subscriptions = 64
/// min_heartbeat_ms = 100
/// max_expiry_s = 86400
/// heartbeat_schedule = [33, 33, 300]   # a seeded defect: irregular heartbeats
///
/// [[eventing.delivery_faults]]
/// class = "CIM_AlertIndication"   # the event's class; absent or "*": any
/// action = "drop"                 # drop | delay | duplicate | fail
/// delay_ms = 500                  # for delay
/// times = 1                       # how many deliveries it applies to; absent: all
/// ```
///
/// Subscribe (the WS-Man operation) must also be offered: `[wsman] operations` lists
/// `subscribe` by default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventingSettings {
    /// The delivery modes offered: `push`, `push_with_ack`, `events`, `pull` (or their
    /// URIs). Another is `wse:DeliveryModeRequestedUnavailable`.
    pub modes: Vec<String>,
    /// Most subscriptions alive at once (`wsman:QuotaLimit` beyond).
    pub max_subscriptions: usize,
    /// The shortest `wsman:Heartbeats` interval accepted (shorter is
    /// `wsman:UnsupportedFeature` with detail `Heartbeats`).
    pub min_heartbeat_ms: u64,
    /// The longest subscription granted, in seconds: a longer (or absent) Expires is
    /// granted this long, and the SubscribeResponse says so.
    pub max_expiry_s: u64,
    /// Fault rules for push deliveries, first match wins.
    pub delivery_faults: Vec<DeliveryFault>,
    /// A seeded defect of heartbeat timing: the gap before each heartbeat of a
    /// subscription as a percentage of the interval it asked for (the first entry for
    /// its first heartbeat, and so on; the last repeats). Empty (the default): every
    /// heartbeat one interval after the previous delivery. `[33, 33, 300]` sends two
    /// quick heartbeats and then one three intervals late.
    pub heartbeat_schedule: Vec<u32>,
}

impl Default for EventingSettings {
    fn default() -> EventingSettings {
        EventingSettings {
            modes: MODES.iter().map(|(n, _)| (*n).to_owned()).collect(),
            max_subscriptions: 64,
            min_heartbeat_ms: 100,
            max_expiry_s: 24 * 3600,
            delivery_faults: Vec::new(),
            heartbeat_schedule: Vec::new(),
        }
    }
}

impl EventingSettings {
    /// Whether the delivery mode URI is offered.
    pub fn offers_mode(&self, uri: &str) -> bool {
        self.modes
            .iter()
            .any(|m| m == uri || MODES.iter().any(|(name, u)| name == m && *u == uri))
    }

    /// The URIs of the modes offered.
    pub fn mode_uris(&self) -> Vec<&'static str> {
        MODES
            .iter()
            .filter(|(_, u)| self.offers_mode(u))
            .map(|(_, u)| *u)
            .collect()
    }

    /// The gap before heartbeat number `n` (from 0) of a subscription that asked for
    /// one every `interval_ms`, as [`EventingSettings::heartbeat_schedule`] says.
    pub fn heartbeat_gap_ms(&self, interval_ms: u64, n: usize) -> u64 {
        match self
            .heartbeat_schedule
            .get(n)
            .or(self.heartbeat_schedule.last())
        {
            Some(&percent) => interval_ms.saturating_mul(u64::from(percent)) / 100,
            None => interval_ms,
        }
    }

    /// Checks the table: (key path, message, what is expected).
    pub fn check(&self) -> Result<(), (String, String, String)> {
        for (i, m) in self.modes.iter().enumerate() {
            if !MODES.iter().any(|(n, u)| n == m || u == m) {
                return Err((
                    format!("eventing.modes[{i}]"),
                    format!("eventing.modes names `{m}`, which is not a delivery mode"),
                    "\"push\", \"push_with_ack\", \"events\" or \"pull\"".into(),
                ));
            }
        }
        if self.max_subscriptions == 0 || self.max_expiry_s == 0 {
            return Err((
                "eventing".into(),
                "eventing.max_subscriptions and eventing.max_expiry_s must be above 0".into(),
                "max_subscriptions = 64, max_expiry_s = 86400".into(),
            ));
        }
        for (i, &p) in self.heartbeat_schedule.iter().enumerate() {
            if p == 0 || p > 10_000 {
                return Err((
                    format!("eventing.heartbeat_schedule[{i}]"),
                    format!(
                        "eventing.heartbeat_schedule gives {p}%, outside 1 to 10000 percent of the interval"
                    ),
                    "heartbeat_schedule = [33, 33, 300]".into(),
                ));
            }
        }
        for (i, f) in self.delivery_faults.iter().enumerate() {
            if f.action == FaultAction::Delay && f.delay_ms.is_none() {
                return Err((
                    format!("eventing.delivery_faults[{i}]"),
                    "a delay rule needs delay_ms".into(),
                    "delay_ms = 500".into(),
                ));
            }
        }
        Ok(())
    }
}

/// What a delivery fault rule does to a push delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// The message is not sent (the events in it are lost).
    Drop,
    /// The message is sent `delay_ms` late.
    Delay,
    /// The message is sent twice.
    Duplicate,
    /// The sink connection fails (retried as ConnectionRetry says, then
    /// SubscriptionEnd DeliveryFailure).
    Fail,
}

/// One `[[eventing.delivery_faults]]` rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryFault {
    /// The event class it applies to (`CIM_AlertIndication`, `CIM_InstCreation`,
    /// `Event` for the Windows shape); absent or `*`: any event. Heartbeats and
    /// SubscriptionEnd are never faulted.
    pub class: Option<String>,
    /// What it does.
    pub action: FaultAction,
    /// For `delay`: how long.
    pub delay_ms: Option<u64>,
    /// How many deliveries it applies to; absent: every one.
    pub times: Option<u32>,
}

impl DeliveryFault {
    /// Whether the rule applies to an event of `class`.
    pub fn matches(&self, class: &str) -> bool {
        self.class
            .as_deref()
            .is_none_or(|c| c == "*" || c.eq_ignore_ascii_case(class))
    }
}
