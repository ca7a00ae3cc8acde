//! Events that do not come from the machine's own behaviour: indications a scenario
//! raises on a schedule (`[[events]]`), a rule raises when it matches (`raise = {...}`)
//! and the admin API raises (`POST /events`). Each ends in
//! [`machine::Machine::raise_event`] with an [`EventKind::Custom`], in the machine's
//! event log, where the eventing engine finds it as it finds threshold crossings,
//! power changes and SEL records.
//!
//! ```toml
//! [[events]]
//! name = "fan alert"          # optional; errors and the journal use `events[N]`
//! at_ms = 2000                # after the scenario is loaded (default 0)
//! every_ms = 60000            # optional: repeat this often (at least 10 ms)
//! count = 3                   # optional: how many in all (default 1 without every_ms,
//!                             # unlimited with it)
//! class = "CIM_AlertIndication"
//! properties = { Message = "Fan 1 failed", PerceivedSeverity = 6 }
//! ```
//!
//! Times are on the mock's clock (`Mock::now_ms`, the machine's `at` stamps), counted
//! from when the scenario was loaded: from the start for the first scenario, from the
//! `POST /scenario` for a later one (which starts its schedules over). The timer
//! ([`Timer`]) runs beside the listeners of a [`crate::MockServer`] and sleeps until
//! the next occurrence is due; one that is late (a busy machine lock) fires when it
//! can, each missed occurrence still raised, stamped with the time it was raised.
//!
//! A class and property names are CIM names (letters, digits, `_`, not starting with
//! a digit: they become XML element names); property values are text, numbers or
//! booleans, kept as text.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use machine::Machine;
use machine::events::EventKind;
use machine::script::is_cim_name;
use serde::Deserialize;

use crate::mock::Mock;

/// The shortest `every_ms` a schedule may have.
pub const MIN_EVERY_MS: u64 = 10;

/// Most properties one indication may have.
pub const MAX_PROPERTIES: usize = 64;

/// Most occurrences one schedule raises at once when it is late; the rest are skipped.
pub const MAX_CATCH_UP: u32 = 1024;

/// An indication to raise: its CIM class and properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raise {
    /// The indication's class (`CIM_AlertIndication`, ...).
    pub class: String,
    /// Property name and value as text, sorted by name.
    pub properties: Vec<(String, String)>,
}

impl Raise {
    /// A checked indication from a class and properties already as text: the class
    /// and the names must be CIM names, at most [`MAX_PROPERTIES`].
    pub fn new(class: &str, properties: Vec<(String, String)>) -> Result<Raise, String> {
        if !is_cim_name(class) {
            return Err(format!(
                "class {class:?} is not a CIM class name (letters, digits and _, not \
                 starting with a digit, e.g. \"CIM_AlertIndication\")"
            ));
        }
        if properties.len() > MAX_PROPERTIES {
            return Err(format!(
                "{} properties; an indication has at most {MAX_PROPERTIES}",
                properties.len()
            ));
        }
        if let Some((name, _)) = properties.iter().find(|(n, _)| !is_cim_name(n)) {
            return Err(format!(
                "property {name:?} is not a CIM property name (letters, digits and _)"
            ));
        }
        Ok(Raise {
            class: class.to_owned(),
            properties,
        })
    }

    /// Parses one indication from JSON: `{"class": "...", "properties": {...}}`, the
    /// properties' values strings, numbers or booleans. Errors say what was wrong.
    pub fn from_json(value: &serde_json::Value) -> Result<Raise, String> {
        use serde_json::Value;
        let Value::Object(map) = value else {
            return Err(format!(
                "an event is an object {{\"class\": ..., \"properties\": {{...}}}}, not {}",
                json_kind(value)
            ));
        };
        if let Some(key) = map.keys().find(|k| *k != "class" && *k != "properties") {
            return Err(format!(
                "unknown key {key:?} (an event has \"class\" and \"properties\")"
            ));
        }
        let class = match map.get("class") {
            Some(Value::String(c)) => c,
            Some(other) => return Err(format!("\"class\" is {}, not text", json_kind(other))),
            None => return Err("\"class\" is missing (e.g. \"CIM_AlertIndication\")".into()),
        };
        let mut properties = Vec::new();
        match map.get("properties") {
            None => {}
            Some(Value::Object(props)) => {
                for (name, v) in props {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        other => {
                            return Err(format!(
                                "property {name:?} is {}; give text, a number or a bool",
                                json_kind(other)
                            ));
                        }
                    };
                    properties.push((name.clone(), text));
                }
            }
            Some(other) => {
                return Err(format!(
                    "\"properties\" is {}, not an object of name: value",
                    json_kind(other)
                ));
            }
        }
        properties.sort();
        Raise::new(class, properties)
    }

    /// The machine event this raises.
    pub fn kind(&self) -> EventKind {
        EventKind::Custom {
            class: self.class.clone(),
            properties: self.properties.clone(),
        }
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Records `raise` in the machine's event log at `now`; returns its sequence number.
/// Every indication the scenario or the admin API raises goes through here.
pub(crate) fn raise(machine: &mut Machine, raise: &Raise, now: u64) -> u64 {
    machine.raise_event(raise.kind(), now)
}

/// A rule's `raise = { class = "...", properties = { ... } }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaiseSpec {
    /// The indication's class.
    pub class: String,
    /// Its properties: text, numbers or booleans.
    #[serde(default)]
    pub properties: BTreeMap<String, toml::Value>,
}

/// One `[[events]]` entry, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// A name for errors and reports.
    pub name: Option<String>,
    /// Milliseconds after the scenario is loaded.
    #[serde(default)]
    pub at_ms: u64,
    /// Repeat this often.
    pub every_ms: Option<u64>,
    /// How many in all.
    pub count: Option<u32>,
    /// The indication's class.
    pub class: String,
    /// Its properties: text, numbers or booleans.
    #[serde(default)]
    pub properties: BTreeMap<String, toml::Value>,
}

/// A checked `[[events]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Its name (`events[N]` when it has none).
    pub name: String,
    /// The first occurrence, in ms after the scenario is loaded.
    pub at_ms: u64,
    /// The period, when it repeats.
    pub every_ms: Option<u64>,
    /// How many occurrences in all (`None`: unlimited).
    pub count: Option<u32>,
    /// What each occurrence raises.
    pub raise: Raise,
}

impl Schedule {
    /// When occurrence `n` (0 for the first) is due, if there is one.
    pub fn due(&self, n: u32) -> Option<u64> {
        if self.count.is_some_and(|c| n >= c) {
            return None;
        }
        match self.every_ms {
            None if n > 0 => None,
            None => Some(self.at_ms),
            Some(every) => self.at_ms.checked_add(every.checked_mul(u64::from(n))?),
        }
    }
}

/// A refusal located by dotted path (`events[2].every_ms`): path, message, what was
/// expected, a hint (the scenario loader turns the path into `file:line:column`).
pub(crate) type PathRefusal = (String, String, Option<String>, Option<String>);

/// Checks a rule's `raise` table (at `path`, e.g. `rules[3].raise`).
/// `label` starts the messages (`rule \`deny\``).
pub(crate) fn compile_raise(
    spec: &RaiseSpec,
    path: &str,
    label: &str,
) -> Result<Raise, PathRefusal> {
    raise_of(&spec.class, &spec.properties, path, label)
}

fn raise_of(
    class: &str,
    properties: &BTreeMap<String, toml::Value>,
    path: &str,
    label: &str,
) -> Result<Raise, PathRefusal> {
    let mut props = Vec::with_capacity(properties.len());
    for (name, value) in properties {
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Datetime(d) => d.to_string(),
            toml::Value::Array(_) | toml::Value::Table(_) => {
                return Err((
                    format!("{path}.properties.{name}"),
                    format!(
                        "{label}: property {name} is {}; a property is one value",
                        if value.is_array() {
                            "an array"
                        } else {
                            "a table"
                        }
                    ),
                    Some("text, a number or a bool".into()),
                    None,
                ));
            }
        };
        props.push((name.clone(), text));
    }
    Raise::new(class, props).map_err(|message| {
        let at = if is_cim_name(class) {
            format!("{path}.properties")
        } else {
            format!("{path}.class")
        };
        (
            at,
            format!("{label}: {message}"),
            Some("class = \"CIM_AlertIndication\", properties = { Message = \"...\" }".into()),
            None,
        )
    })
}

/// Checks the `[[events]]` entries.
pub(crate) fn compile(specs: &[ScheduleSpec]) -> Result<Vec<Schedule>, PathRefusal> {
    let mut out = Vec::with_capacity(specs.len());
    for (i, s) in specs.iter().enumerate() {
        let path = format!("events[{i}]");
        let name = s.name.clone().unwrap_or_else(|| path.clone());
        let refuse = |key: &str, message: String, expected: &str| {
            (
                format!("{path}.{key}"),
                format!("event `{name}`: {message}"),
                Some(expected.to_owned()),
                None,
            )
        };
        if let Some(every) = s.every_ms {
            if every < MIN_EVERY_MS {
                return Err(refuse(
                    "every_ms",
                    format!("every_ms = {every} is too often"),
                    &format!("at least {MIN_EVERY_MS} (milliseconds)"),
                ));
            }
        }
        match s.count {
            Some(0) => {
                return Err(refuse(
                    "count",
                    "count = 0 would never raise".into(),
                    "a count of 1 or more, or no count",
                ));
            }
            Some(c) if c > 1 && s.every_ms.is_none() => {
                return Err(refuse(
                    "count",
                    format!("count = {c} without every_ms: when would the others be?"),
                    "every_ms = <period in ms> beside count",
                ));
            }
            _ => {}
        }
        let raise = raise_of(&s.class, &s.properties, &path, &format!("event `{name}`"))?;
        out.push(Schedule {
            name,
            at_ms: s.at_ms,
            every_ms: s.every_ms,
            count: s
                .count
                .or(if s.every_ms.is_some() { None } else { Some(1) }),
            raise,
        });
    }
    Ok(out)
}

/// How far the schedules of one loaded scenario have got.
#[derive(Debug, Default)]
struct Progress {
    /// When the scenario was loaded (`Inner::loaded_at`).
    loaded_at: u64,
    /// Occurrences raised (or skipped) so far, by schedule.
    fired: Vec<u32>,
}

impl Progress {
    /// Raises every occurrence due by `now` and returns when the next one is due
    /// (on the mock's clock), if any.
    fn fire(&mut self, schedules: &[Schedule], machine: &mut Machine, now: u64) -> Option<u64> {
        self.fired.resize(schedules.len(), 0);
        let elapsed = now.saturating_sub(self.loaded_at);
        let mut next: Option<u64> = None;
        for (s, fired) in schedules.iter().zip(self.fired.iter_mut()) {
            let mut raised = 0;
            while let Some(due) = s.due(*fired) {
                if due > elapsed {
                    let at = self.loaded_at.saturating_add(due);
                    next = Some(next.map_or(at, |n| n.min(at)));
                    break;
                }
                if raised < MAX_CATCH_UP {
                    raise(machine, &s.raise, now);
                    raised += 1;
                }
                *fired += 1;
            }
        }
        next
    }
}

/// The task that fires a mock's schedules; stops when dropped.
#[derive(Debug)]
pub struct Timer {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the schedule timer of `mock` (on the current tokio runtime).
pub(crate) fn start(mock: Mock) -> Timer {
    Timer {
        task: tokio::spawn(run(mock)),
    }
}

async fn run(mock: Mock) {
    // Bumped (among other times) when a scenario is loaded.
    let mut wake = mock.lock().shell_wake.subscribe();
    let mut progress = Progress::default();
    let mut scenario: Option<Arc<crate::Scenario>> = None;
    loop {
        let next = {
            let now = mock.now_ms();
            let mut inner = mock.lock();
            // A new scenario (a load, or one whose schedules differ, should two loads
            // fall in the same millisecond; mounting mocks changes neither): its own
            // schedules, counted from its load.
            let reloaded = match &scenario {
                None => true,
                Some(old) => {
                    progress.loaded_at != inner.loaded_at
                        || (!Arc::ptr_eq(old, &inner.scenario)
                            && old.events != inner.scenario.events)
                }
            };
            if reloaded {
                progress = Progress {
                    loaded_at: inner.loaded_at,
                    fired: Vec::new(),
                };
            }
            let current = inner.scenario.clone();
            let next = progress.fire(&current.events, &mut inner.machine, now);
            scenario = Some(current);
            next.map(|at| at.saturating_sub(now))
        };
        match next {
            Some(wait) => {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(wait.max(1))) => {}
                    changed = wake.changed() => if changed.is_err() { return },
                }
            }
            None => {
                if wake.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(toml_text: &str) -> Vec<ScheduleSpec> {
        #[derive(Deserialize)]
        struct F {
            events: Vec<ScheduleSpec>,
        }
        toml::from_str::<F>(toml_text).unwrap().events
    }

    #[test]
    fn occurrences() {
        let s = compile(&specs(
            r#"
            [[events]]
            class = "A"
            [[events]]
            at_ms = 100
            every_ms = 50
            count = 3
            class = "B"
            [[events]]
            every_ms = 10
            class = "C"
            "#,
        ))
        .unwrap();
        assert_eq!((s[0].due(0), s[0].due(1)), (Some(0), None));
        assert_eq!(
            (0..4).map(|n| s[1].due(n)).collect::<Vec<_>>(),
            [Some(100), Some(150), Some(200), None]
        );
        assert_eq!(s[2].due(1_000_000), Some(10_000_000));
        assert_eq!(s[0].name, "events[0]");
    }

    #[test]
    fn refusals_name_the_entry_and_the_key() {
        for (text, path, says) in [
            (
                "every_ms = 5\nclass = \"A\"",
                "events[0].every_ms",
                "too often",
            ),
            ("count = 0\nclass = \"A\"", "events[0].count", "never raise"),
            (
                "count = 2\nclass = \"A\"",
                "events[0].count",
                "without every_ms",
            ),
            ("class = \"9x\"", "events[0].class", "not a CIM class name"),
            (
                "class = \"A\"\nproperties = { \"a b\" = 1 }",
                "events[0].properties",
                "not a CIM property name",
            ),
            (
                "class = \"A\"\nproperties = { P = [1] }",
                "events[0].properties.P",
                "an array",
            ),
        ] {
            let e = compile(&specs(&format!("[[events]]\nname = \"n\"\n{text}"))).unwrap_err();
            assert_eq!(e.0, path, "{text}");
            assert!(e.1.starts_with("event `n`: "), "{}", e.1);
            assert!(e.1.contains(says), "{text}: {}", e.1);
        }
    }

    #[test]
    fn properties_become_sorted_text() {
        let s = compile(&specs(
            "[[events]]\nclass = \"A\"\nproperties = { Z = 1, M = \"x\", B = true, F = 2.5 }",
        ))
        .unwrap();
        assert_eq!(
            s[0].raise.properties,
            [("B", "true"), ("F", "2.5"), ("M", "x"), ("Z", "1")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }

    #[test]
    fn json_events() {
        let ok = Raise::from_json(&serde_json::json!({
            "class": "CIM_AlertIndication",
            "properties": {"PerceivedSeverity": 6, "Message": "m", "Ok": false}
        }))
        .unwrap();
        assert_eq!(ok.class, "CIM_AlertIndication");
        assert_eq!(ok.properties[0], ("Message".into(), "m".into()));
        for (v, says) in [
            (serde_json::json!([]), "not an array"),
            (serde_json::json!({}), "\"class\" is missing"),
            (serde_json::json!({"class": 1}), "is a number, not text"),
            (
                serde_json::json!({"class": "A", "x": 1}),
                "unknown key \"x\"",
            ),
            (
                serde_json::json!({"class": "A", "properties": []}),
                "\"properties\" is an array",
            ),
            (
                serde_json::json!({"class": "A", "properties": {"P": null}}),
                "property \"P\" is null",
            ),
            (serde_json::json!({"class": "<x>"}), "not a CIM class name"),
        ] {
            let e = Raise::from_json(&v).unwrap_err();
            assert!(e.contains(says), "{v}: {e}");
        }
    }

    #[test]
    fn progress_fires_due_occurrences_and_says_when_the_next_is_due() {
        let s = compile(&specs(
            "[[events]]\nat_ms = 100\nevery_ms = 50\ncount = 3\nclass = \"B\"",
        ))
        .unwrap();
        let mut m = Machine::new(machine::MachineSpec::default(), 0).unwrap();
        let mut p = Progress {
            loaded_at: 1000,
            fired: Vec::new(),
        };
        let base = m.events().last_seq();
        assert_eq!(p.fire(&s, &mut m, 1050), Some(1100));
        assert_eq!(m.events().last_seq(), base);
        // Late: both due occurrences are raised at once.
        assert_eq!(p.fire(&s, &mut m, 1160), Some(1200));
        assert_eq!(m.events().last_seq(), base + 2);
        assert_eq!(p.fire(&s, &mut m, 5000), None);
        assert_eq!(m.events().last_seq(), base + 3);
        let (_, events) = m.events().since(base);
        let stamps: Vec<u64> = events.map(|e| e.at).collect();
        assert_eq!(stamps, [1160, 1160, 5000]);
    }
}
