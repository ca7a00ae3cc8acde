//! Events as a real source sends them: a CIM indication for DMTF subscribers
//! (`CIM_AlertIndication` for threshold crossings, power changes and raised alerts,
//! `CIM_InstCreation` whose `SourceInstance` is the SEL record's `CIM_LogRecord`), and
//! a Windows `<Event>` for subscribers to WinRM's event log resource URI.

use std::borrow::Cow;

use machine::Machine;
use machine::cim::{self, Instance, Property, Value};
use machine::events::{Event, EventKind};
use machine::sensor::Threshold;
use wsman::ns::eventing::WIN_EVENT_NS;
use wsman::{Name, TreeBuilder};

use crate::cimxml::{self, UriStyle};

/// One event, ready to deliver.
pub(crate) struct Rendered {
    /// Its class: the indication's, or `Event` for the Windows shape.
    pub(crate) class: String,
    /// The indication as an instance (what a WQL filter looks at).
    pub(crate) instance: Instance,
    /// The event log channel it belongs to (`System`, `Application`, ...).
    pub(crate) channel: String,
    /// The body element as delivered, written once (self-contained: it declares
    /// the namespaces it uses).
    pub(crate) xml: String,
}

fn prop(name: &str, value: Value) -> Property {
    Property {
        name: Cow::Owned(name.to_owned()),
        value,
    }
}

fn s(v: impl Into<String>) -> Value {
    Value::Str(v.into())
}

/// An `xs:dateTime` for Unix seconds.
pub(crate) fn datetime(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a (proleptic Gregorian) date.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn threshold_name(t: Threshold) -> &'static str {
    match t {
        Threshold::LowerNonRecoverable => "LowerNonRecoverable",
        Threshold::LowerCritical => "LowerCritical",
        Threshold::LowerNonCritical => "LowerNonCritical",
        Threshold::UpperNonCritical => "UpperNonCritical",
        Threshold::UpperCritical => "UpperCritical",
        Threshold::UpperNonRecoverable => "UpperNonRecoverable",
    }
}

/// CIM PerceivedSeverity of a crossing: Critical (6) for critical thresholds, Fatal
/// (7) for non-recoverable ones, Degraded/Warning (3) otherwise, Information (2)
/// when the reading comes back.
fn severity(t: Threshold, asserted: bool) -> u64 {
    if !asserted {
        return 2;
    }
    match t {
        Threshold::LowerNonRecoverable | Threshold::UpperNonRecoverable => 7,
        Threshold::LowerCritical | Threshold::UpperCritical => 6,
        _ => 3,
    }
}

/// Windows event Level of a PerceivedSeverity: 1 critical, 2 error, 3 warning, 4
/// information.
fn level(severity: u64) -> u64 {
    match severity {
        7 | 6 => 1,
        5 | 4 => 2,
        3 => 3,
        _ => 4,
    }
}

/// The event as a CIM indication instance (before any SourceInstance is embedded),
/// its Windows event id, level and channel, and the log record to embed.
fn indication(m: &mut Machine, e: &Event) -> (Instance, u32, u64, String, Option<Instance>) {
    let time = Value::DateTime(datetime(u64::from(e.unix)));
    let host = m.hostname().to_owned();
    let id = format!("touchstone:event:{}", e.seq);
    let alert = |description: String, severity: u64, element: String, extra: Vec<Property>| {
        let mut properties = vec![
            prop("IndicationIdentifier", s(id.clone())),
            prop("IndicationTime", time.clone()),
            prop("AlertType", Value::UInt(5)),
            prop("PerceivedSeverity", Value::UInt(severity)),
            prop("AlertingManagedElement", s(element)),
            prop("AlertingElementFormat", Value::UInt(1)),
            prop("Description", s(description)),
            prop("SystemName", s(host.clone())),
        ];
        properties.extend(extra);
        Instance {
            class: "CIM_AlertIndication".into(),
            keys: Vec::new(),
            properties,
        }
    };
    match &e.kind {
        EventKind::Threshold {
            sensor,
            threshold,
            asserted,
            reading,
            limit,
        } => {
            let sev = severity(*threshold, *asserted);
            let what = if *asserted { "crossed" } else { "back within" };
            let inst = alert(
                format!(
                    "Sensor {sensor} reading {reading} {what} the {} threshold {limit}",
                    threshold_name(*threshold)
                ),
                sev,
                sensor.clone(),
                vec![
                    prop("MessageID", s("PLAT0001")),
                    prop("OtherAlertType", s(threshold_name(*threshold))),
                ],
            );
            (inst, 1001, level(sev), "System".into(), None)
        }
        EventKind::Power { action } => {
            let inst = alert(
                format!("Chassis power action: {action:?}"),
                2,
                "CIM_ComputerSystem".into(),
                vec![prop("MessageID", s("PLAT0002"))],
            );
            (inst, 1002, 4, "System".into(), None)
        }
        EventKind::SelRecord { record_id } => {
            let record = cim::enumerate(m, "CIM_LogRecord", e.at, false)
                .ok()
                .and_then(|all| {
                    all.into_iter().find(|r| {
                        r.get("RecordID").is_some_and(|v| {
                            cimxml::value_text(v).as_deref() == Some(&record_id.to_string())
                        })
                    })
                });
            let path = record
                .as_ref()
                .map(|r| r.reference().object_path())
                .unwrap_or_default();
            let description = record
                .as_ref()
                .and_then(|r| r.get("Description"))
                .and_then(cimxml::value_text)
                .unwrap_or_else(|| format!("SEL record {record_id}"));
            let inst = Instance {
                class: "CIM_InstCreation".into(),
                keys: Vec::new(),
                properties: vec![
                    prop("IndicationIdentifier", s(id.clone())),
                    prop("IndicationTime", time.clone()),
                    prop("SourceInstanceModelPath", s(path)),
                    prop("SourceInstanceHost", s(host.clone())),
                    prop("RecordID", s(record_id.to_string())),
                    prop("Description", s(description)),
                ],
            };
            (inst, 1003, 4, "System".into(), record)
        }
        EventKind::Custom { class, properties } => {
            let mut props = vec![
                prop("IndicationIdentifier", s(id.clone())),
                prop("IndicationTime", time.clone()),
            ];
            for (k, v) in properties {
                if let Some(p) = props.iter_mut().find(|p| p.name == k.as_str()) {
                    p.value = s(v.clone());
                } else {
                    props.push(prop(k, s(v.clone())));
                }
            }
            let get = |k: &str| {
                properties
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.clone())
            };
            let event_id = get("EventID").and_then(|v| v.parse().ok()).unwrap_or(1000);
            let lvl = get("Level")
                .and_then(|v| v.parse().ok())
                .or_else(|| {
                    get("PerceivedSeverity")
                        .and_then(|v| v.parse().ok())
                        .map(level)
                })
                .unwrap_or(4);
            let channel = get("Channel").unwrap_or_else(|| "Application".into());
            let inst = Instance {
                class: class.clone(),
                keys: Vec::new(),
                properties: props,
            };
            (inst, event_id, lvl, channel, None)
        }
    }
}

/// Renders one event for a subscriber: a CIM indication, or (for the WinRM event log
/// resource) a Windows `<Event>`.
pub(crate) fn render(m: &mut Machine, e: &Event, windows: bool) -> Rendered {
    let (instance, event_id, lvl, channel, record) = indication(m, e);
    let style = UriStyle::dmtf();
    let xml = if windows {
        windows_event(m, e, &instance, event_id, lvl, &channel)
    } else {
        let plain = cimxml::instance_tree(&instance, &style);
        let tree = match &record {
            None => plain,
            Some(record) => {
                // CIM_InstCreation.SourceInstance: the new CIM_LogRecord, embedded.
                let root = plain.root();
                let mut b = TreeBuilder::with_capacity(plain.len() + 32);
                b.start(root.name().clone());
                for c in root.children() {
                    c.copy_into(&mut b);
                }
                let uri = root.name().ns.clone();
                b.start(Name::new(uri, "SourceInstance").with_prefix("p"));
                cimxml::instance_tree(record, &style)
                    .root()
                    .copy_into(&mut b);
                b.end();
                b.end();
                b.finish().into_owned()
            }
        };
        wsman::write::write_tree(&tree)
    };
    Rendered {
        class: if windows {
            "Event".into()
        } else {
            instance.class.clone()
        },
        instance,
        channel,
        xml,
    }
}

/// The Windows event log shape, in its own default namespace as Windows writes it:
/// `System` (Provider, EventID, Level, TimeCreated, EventRecordID, Channel, Computer)
/// and `EventData` with the indication's properties.
fn windows_event(
    m: &Machine,
    e: &Event,
    inst: &Instance,
    event_id: u32,
    lvl: u64,
    channel: &str,
) -> String {
    let mut x = format!(
        "<Event xmlns=\"{WIN_EVENT_NS}\"><System><Provider Name=\"Touchstone-BMC\"/>\
         <EventID>{event_id}</EventID><Level>{lvl}</Level>\
         <TimeCreated SystemTime=\"{}\"/><EventRecordID>{}</EventRecordID>\
         <Channel>{}</Channel><Computer>{}</Computer></System><EventData>",
        datetime(u64::from(e.unix)),
        e.seq,
        escape(channel),
        escape(m.hostname()),
    );
    for p in &inst.properties {
        x.push_str(&format!(
            "<Data Name=\"{}\">{}</Data>",
            escape(&p.name),
            escape(&cimxml::value_text(&p.value).unwrap_or_default())
        ));
    }
    x.push_str("</EventData></Event>");
    x
}

/// Text escaped for element content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_day_counts() {
        assert_eq!(datetime(0), "1970-01-01T00:00:00Z");
        assert_eq!(datetime(1_764_892_800), "2025-12-05T00:00:00Z");
        for days in [-1000, 0, 59, 365, 11_016, 20_000, 50_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
