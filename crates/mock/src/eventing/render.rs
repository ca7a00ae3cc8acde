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

/// An `xs:dateTime` for Unix seconds (the machine's own calendar arithmetic).
pub(crate) fn datetime(unix: u64) -> String {
    machine::format_datetime(unix)
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
