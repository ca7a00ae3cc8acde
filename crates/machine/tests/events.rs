//! The event log: every change a subscriber would hear of is recorded once, in order,
//! whichever way it was caused.

use machine::events::{Event, EventKind};
use machine::sensor::Threshold;
use machine::{EventDirection, Machine, MachineSpec, PowerAction, PowerState, SelEntry};

fn kinds(m: &Machine, after: u64) -> Vec<EventKind> {
    let (dropped, events) = m.events().since(after);
    assert_eq!(dropped, 0);
    events.map(|e: &Event| e.kind.clone()).collect()
}

#[test]
fn a_new_machine_has_heard_nothing_even_with_initial_sel_records() {
    let m = Machine::new(MachineSpec::default(), 0).unwrap();
    assert!(!m.sel_entries().is_empty(), "the default SEL has history");
    assert_eq!(m.events().last_seq(), 0);
}

#[test]
fn a_threshold_crossing_is_heard_then_its_sel_record() {
    let mut m = Machine::new(MachineSpec::default(), 0).unwrap();
    m.set_sensor("CPU1_TEMP", 96.0, 1000).unwrap();
    let _ = m.reading("CPU1_TEMP", 1000);
    let got = kinds(&m, 0);
    // 96 degrees is past upper non-critical and upper critical: two crossings, each
    // followed by the SEL record that logs it.
    let crossings: Vec<(Threshold, bool)> = got
        .iter()
        .filter_map(|k| match k {
            EventKind::Threshold {
                sensor,
                threshold,
                asserted,
                reading,
                limit,
            } => {
                assert_eq!(sensor, "CPU1_TEMP");
                assert!(*reading >= *limit, "{reading} past {limit}");
                Some((*threshold, *asserted))
            }
            _ => None,
        })
        .collect();
    assert!(
        crossings.contains(&(Threshold::UpperCritical, true)),
        "{got:?}"
    );
    for pair in got.chunks(2) {
        assert!(matches!(pair[0], EventKind::Threshold { .. }), "{got:?}");
        let EventKind::SelRecord { record_id } = pair[1] else {
            panic!("{got:?}")
        };
        assert!(m.sel_entry(record_id).unwrap().description.contains("CPU1"));
    }
    // Coming back is heard as deassertions.
    let seen = m.events().last_seq();
    m.clear_override("CPU1_TEMP", 2000).unwrap();
    let _ = m.reading("CPU1_TEMP", 2000);
    assert!(kinds(&m, seen).iter().any(|k| matches!(
        k,
        EventKind::Threshold {
            asserted: false,
            ..
        }
    )),);
}

#[test]
fn power_changes_and_added_records_are_heard_with_their_times() {
    let mut m = Machine::new(MachineSpec::default(), 0).unwrap();
    assert_eq!(m.power_state(0), PowerState::On);
    m.chassis_control(PowerAction::Off, 5_000).unwrap();
    let id = m
        .sel_add(
            SelEntry::system_event(0x07, 1, EventDirection::Assert, 0x6F, [0, 0xFF, 0xFF], "x"),
            6_000,
        )
        .unwrap();
    let (_, events) = m.events().since(0);
    let events: Vec<&Event> = events.collect();
    assert!(matches!(
        events[0].kind,
        EventKind::Power {
            action: PowerAction::Off
        }
    ));
    assert_eq!(events[0].at, 5_000);
    assert!(matches!(events[1].kind, EventKind::SelRecord { .. }));
    assert_eq!(events[2].kind, EventKind::SelRecord { record_id: id });
    assert_eq!(events[2].at, 6_000);
    assert_eq!(events[2].unix, m.sel_time(6_000));
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // An action that changes nothing is not an event.
    let before = m.events().last_seq();
    m.chassis_control(PowerAction::Off, 7_000).unwrap();
    assert_eq!(m.events().last_seq(), before);
}

#[test]
fn raised_indications_are_recorded_as_given() {
    let mut m = Machine::new(MachineSpec::default(), 0).unwrap();
    let kind = EventKind::Custom {
        class: "CIM_AlertIndication".into(),
        properties: vec![("Message".into(), "hello".into())],
    };
    assert_eq!(m.raise_event(kind.clone(), 10), 1);
    assert_eq!(kinds(&m, 0), vec![kind]);
}
