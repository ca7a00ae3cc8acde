//! The machine's behaviour through its public API, with explicit times: power,
//! sensor sources, scripts, thresholds and the SEL, FRU bytes, users, commands, and
//! the spec's TOML schema and validation.

use machine::fru::{self, FruSpec};
use machine::power::{InitialPower, PowerSpec};
use machine::sensor::{RandomWalkSpec, Threshold};
use machine::spec::{DiscreteSensorSpec, SelEntrySpec, SensorSpec};
use machine::{
    EventDirection, Machine, MachineError, MachineSpec, PowerAction, PowerState, SelEntry,
    SelFullPolicy, SensorType, SpecError, Thresholds, User,
};

/// A spec with one constant sensor and nothing else, to build tests on.
fn bare() -> MachineSpec {
    MachineSpec {
        sensors: vec![SensorSpec {
            thresholds: Thresholds {
                lower_critical: Some(5.0),
                upper_non_critical: Some(70.0),
                upper_critical: Some(80.0),
                ..Default::default()
            },
            ..SensorSpec::new("T", "Temp", SensorType::Temperature, 40.0)
        }],
        discrete_sensors: Vec::new(),
        sel: Vec::new(),
        ..MachineSpec::default()
    }
}

fn with_sensor(s: SensorSpec) -> MachineSpec {
    MachineSpec {
        sensors: vec![s],
        ..bare()
    }
}

// ---- power ----

#[test]
fn power_transitions_follow_the_delays() {
    let spec = MachineSpec {
        power: PowerSpec {
            initial: InitialPower::Off,
            power_on_delay_ms: 3000,
            power_off_delay_ms: 500,
            soft_off_delay_ms: 10_000,
            cycle_delay_ms: 2000,
            reset_delay_ms: 1000,
        },
        ..bare()
    };
    let mut m = Machine::new(spec, 0).unwrap();
    assert_eq!(m.power_state(0), PowerState::Off);
    m.chassis_control(PowerAction::On, 1000).unwrap();
    assert_eq!(m.power_state(1000), PowerState::PoweringOn);
    assert!(
        !m.power_state(3999).is_on(),
        "IPMI sees power off until the transition completes"
    );
    assert_eq!(m.power_state(4000), PowerState::On);
    // Powering on again is accepted and changes nothing.
    m.chassis_control(PowerAction::On, 5000).unwrap();
    assert_eq!(m.power_state(5000), PowerState::On);

    m.chassis_control(PowerAction::SoftOff, 10_000).unwrap();
    assert_eq!(m.power_state(19_999), PowerState::PoweringOff);
    assert!(m.power_state(19_999).is_on());
    // A hard off cuts a soft off short.
    m.chassis_control(PowerAction::Off, 12_000).unwrap();
    assert_eq!(m.power_state(12_499), PowerState::PoweringOff);
    assert_eq!(m.power_state(12_500), PowerState::Off);
    assert_eq!(m.power_state(30_000), PowerState::Off);

    // Cycle and reset need the machine on.
    let err = m.chassis_control(PowerAction::Cycle, 31_000).unwrap_err();
    assert_eq!(
        err,
        MachineError::PowerActionRefused {
            action: PowerAction::Cycle,
            state: PowerState::Off
        }
    );
    assert!(m.chassis_control(PowerAction::HardReset, 31_000).is_err());
    assert!(
        m.chassis_control(PowerAction::DiagnosticInterrupt, 31_000)
            .is_err()
    );

    m.chassis_control(PowerAction::On, 40_000).unwrap();
    assert!(
        m.chassis_control(PowerAction::Off, 41_000).is_ok(),
        "a hard off may interrupt a power on"
    );
    m.chassis_control(PowerAction::On, 50_000).unwrap();
    m.chassis_control(PowerAction::Cycle, 60_000).unwrap();
    assert_eq!(m.power_state(60_499), PowerState::PoweringOff);
    assert_eq!(m.power_state(60_500), PowerState::Off);
    assert_eq!(m.power_state(62_500), PowerState::PoweringOn);
    assert_eq!(m.power_state(65_500), PowerState::On);
    assert!(
        m.chassis_control(PowerAction::On, 60_200).is_err(),
        "on while the cycle powers off is refused"
    );
    m.chassis_control(PowerAction::HardReset, 70_000).unwrap();
    assert_eq!(m.power_state(70_999), PowerState::PoweringOn);
    assert_eq!(m.power_state(71_000), PowerState::On);
    assert_eq!(m.requested_state(), 11);
}

#[test]
fn power_actions_are_logged_and_counted() {
    let mut m = Machine::new(
        MachineSpec {
            power: PowerSpec {
                initial: InitialPower::Off,
                ..PowerSpec::default()
            },
            ..bare()
        },
        0,
    )
    .unwrap();
    m.chassis_control(PowerAction::On, 1000).unwrap();
    m.chassis_control(PowerAction::On, 2000).unwrap(); // no-op: no entry
    m.chassis_control(PowerAction::Off, 3_601_000).unwrap();
    let e = m.sel_entries();
    assert_eq!(e.len(), 2);
    assert_eq!(
        (e[0].sensor_type, e[0].direction, e[0].data[0]),
        (0x09, EventDirection::Deassert, 0)
    );
    assert_eq!(
        (e[1].sensor_type, e[1].direction, e[1].data[0]),
        (0x09, EventDirection::Assert, 0)
    );
    assert_eq!(e[1].timestamp, 1_767_225_600 + 3601);
    assert_eq!(m.power_on_ms(5_000_000), 3_600_000);
    assert_eq!(m.power_on_hours(5_000_000), 1);
}

// ---- sensor sources ----

#[test]
fn sequence_values_step_with_time() {
    let mut m = Machine::new(
        with_sensor(SensorSpec {
            constant: None,
            sequence: Some(vec![10.0, 20.0, 30.0]),
            step_ms: Some(1000),
            ..SensorSpec::new("S", "Seq", SensorType::Temperature, 10.0)
        }),
        0,
    )
    .unwrap();
    let got: Vec<f64> = [0, 999, 1000, 2500, 3000, 7_200]
        .iter()
        .map(|t| m.reading("S", *t).unwrap())
        .collect();
    assert_eq!(got, [10.0, 10.0, 20.0, 30.0, 10.0, 20.0]);
}

fn walk_spec(seed: u64) -> MachineSpec {
    with_sensor(SensorSpec {
        constant: None,
        resolution: 0.01,
        random_walk: Some(RandomWalkSpec {
            start: 1.0,
            step: 0.3,
            seed,
            step_ms: 100,
            min: 0.0,
            max: 2.5,
        }),
        ..SensorSpec::new("W", "Walk", SensorType::Voltage, 1.0)
    })
}

#[test]
fn random_walk_is_a_function_of_seed_and_time() {
    let times = [0u64, 150, 5_000, 60_000, 61_000, 3_600_000];
    let run = |seed, order: &[u64]| {
        let mut m = Machine::new(walk_spec(seed), 0).unwrap();
        let mut v: Vec<(u64, f64)> = order
            .iter()
            .map(|t| (*t, m.source_value("W", *t).unwrap()))
            .collect();
        v.sort_by_key(|(t, _)| *t);
        v
    };
    let forward = run(42, &times);
    let mut shuffled = times;
    shuffled.reverse();
    assert_eq!(
        forward,
        run(42, &shuffled),
        "the value at a time does not depend on earlier reads"
    );
    assert_eq!(forward, run(42, &times), "same seed, same values");
    assert_ne!(forward, run(43, &times), "another seed walks elsewhere");
    assert_eq!(forward[0].1, 1.0, "the walk starts at start");
    assert!(
        forward.iter().all(|(_, v)| (0.0..=2.5).contains(v)),
        "clamped to min..max"
    );
    // Quantized through the raw byte for readings.
    let mut m = Machine::new(walk_spec(42), 0).unwrap();
    let r = m.reading("W", 60_000).unwrap();
    assert!((r * 100.0 - (r * 100.0).round()).abs() < 1e-9);
}

#[test]
fn rhai_expressions_give_values_and_fall_back_on_errors() {
    let expr = |e: &str, nominal: f64| {
        with_sensor(SensorSpec {
            constant: None,
            expr: Some(e.into()),
            resolution: 0.5,
            ..SensorSpec::new("E", "Expr", SensorType::Temperature, nominal)
        })
    };
    let mut m = Machine::new(expr("40.0 + 5.0 * sin(t / 60.0)", 40.0), 0).unwrap();
    assert_eq!(m.source_value("E", 0), Some(40.0));
    let v = m.source_value("E", 94_248).unwrap(); // t/60 = pi/2
    assert!((v - 45.0).abs() < 1e-6, "{v}");
    assert_eq!(m.reading("E", 94_248), Some(45.0));

    // Errors give the last good value, or the nominal before any.
    let mut m = Machine::new(
        expr("if t < 5.0 { 30.0 } else { \"not a number\" }", 20.0),
        10_000,
    )
    .unwrap();
    assert_eq!(m.source_value("E", 10_000), Some(20.0));
    assert_eq!(m.source_value("E", 1_000), Some(30.0));
    assert_eq!(m.source_value("E", 10_000), Some(30.0));
}

#[test]
fn rhai_sandbox_refuses_or_cuts_off_runaway_expressions() {
    // Loops are statements: refused when the spec loads, naming the sensor.
    let spec = with_sensor(SensorSpec {
        constant: None,
        expr: Some("loop { }".into()),
        ..SensorSpec::new("LOOPY", "L", SensorType::Other, 1.0)
    });
    let err = spec.validate().unwrap_err();
    assert!(matches!(err, SpecError::Script { .. }), "{err}");
    assert!(err.to_string().contains("sensors[0] (\"LOOPY\")"), "{err}");

    let start = std::time::Instant::now();
    // A huge string, and a nested-callback bomb (25^3 closure calls and more).
    let lit = format!(
        "[{}]",
        (1..=200)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    for e in [
        "`${t}`.pad(1000000, \"x\").len()".to_owned(),
        format!("{lit}.map(|x| {lit}.map(|y| {lit}.map(|z| x * y * z).len()).len()).len()"),
    ] {
        let mut m = Machine::new(
            with_sensor(SensorSpec {
                constant: None,
                expr: Some(e),
                ..SensorSpec::new("BOMB", "B", SensorType::Other, 7.0)
            }),
            0,
        )
        .unwrap();
        assert_eq!(
            m.source_value("BOMB", 1000),
            Some(7.0),
            "the error falls back to the nominal"
        );
    }
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "cut off quickly: {:?}",
        start.elapsed()
    );
}

// ---- thresholds and the SEL ----

#[test]
fn threshold_crossings_add_sel_entries() {
    let mut m = Machine::new(bare(), 0).unwrap();
    assert!(m.sel_entries().is_empty());
    assert_eq!(
        m.threshold_status("T", 0).unwrap().current_state(),
        "Normal"
    );
    m.set_sensor("T", 85.0, 2_000).unwrap();
    let e = m.sel_entries().to_vec();
    assert_eq!(e.len(), 2, "UNC and UC asserted: {e:#?}");
    assert_eq!(e[0].event_type, 0x01);
    assert_eq!(e[0].direction, EventDirection::Assert);
    assert_eq!(
        e[0].data,
        [0x57, 85, 70],
        "UNC going high, raw reading, raw threshold"
    );
    assert_eq!(e[1].data, [0x59, 85, 80], "UC going high");
    assert_eq!(e[0].sensor_number, m.numeric_sensor("T").unwrap().number());
    assert_eq!(e[0].timestamp, 1_767_225_602);
    // Reading again changes nothing.
    assert_eq!(m.reading("T", 3_000), Some(85.0));
    assert_eq!(m.sel_entries().len(), 2);
    let st = m.threshold_status("T", 3_000).unwrap();
    assert!(st.is_crossed(Threshold::UpperCritical) && st.is_crossed(Threshold::UpperNonCritical));
    assert_eq!(st.health_state(), 20);
    // Back to the source: both deasserted.
    m.clear_override("T", 4_000).unwrap();
    let e = m.sel_entries();
    assert_eq!(e.len(), 4);
    assert!(
        e[2..]
            .iter()
            .all(|e| e.direction == EventDirection::Deassert)
    );
    // Going low.
    m.set_sensor("T", 2.0, 5_000).unwrap();
    assert_eq!(
        m.sel_entries().last().unwrap().data[0],
        0x52,
        "LC going low"
    );
    assert!(matches!(
        m.set_sensor("nope", 1.0, 0),
        Err(MachineError::UnknownSensor { .. })
    ));
    assert!(m.set_sensor("T", f64::NAN, 0).is_err());
}

#[test]
fn new_thresholds_are_checked() {
    let mut m = Machine::new(bare(), 0).unwrap();
    let mut t = *m.numeric_sensor("T").unwrap().thresholds();
    t.upper_non_critical = Some(90.0);
    assert!(
        matches!(
            m.set_thresholds("T", t),
            Err(MachineError::InvalidThresholds { .. })
        ),
        "UNC above UC"
    );
    t.upper_non_critical = Some(60.0);
    t.lower_non_recoverable = Some(1.0);
    assert!(
        m.set_thresholds("T", t).is_err(),
        "LNR is not a settable threshold of this sensor"
    );
    t.lower_non_recoverable = None;
    // The reason names what is wrong: a value that is not a number, or two out of order.
    let reason = |m: &mut Machine, t| match m.set_thresholds("T", t) {
        Err(MachineError::InvalidThresholds { reason, .. }) => reason,
        other => panic!("not refused as thresholds: {other:?}"),
    };
    let mut nan = t;
    nan.upper_critical = Some(f64::NAN);
    assert!(
        reason(&mut m, nan).ends_with("is not finite"),
        "{}",
        reason(&mut m, nan)
    );
    let mut crossed = t;
    crossed.upper_non_critical = Some(85.0);
    assert!(
        reason(&mut m, crossed).contains("is above"),
        "{}",
        reason(&mut m, crossed)
    );
    m.set_thresholds("T", t).unwrap();
    m.set_sensor("T", 65.0, 0).unwrap();
    assert_eq!(
        m.threshold_status("T", 0).unwrap().current_state(),
        "Upper Non-Critical"
    );
    m.restore_default_thresholds("T").unwrap();
    assert_eq!(
        m.threshold_status("T", 0).unwrap().current_state(),
        "Normal"
    );
}

#[test]
fn a_tick_again_in_the_same_millisecond_sees_new_thresholds() {
    // A tick at the millisecond of the last one may skip the readings (the sources
    // give the same values), but not a change of what they are compared with.
    let mut m = Machine::new(bare(), 0).unwrap();
    m.tick(1_000);
    m.tick(1_000);
    assert!(m.sel_entries().is_empty(), "40 is within the thresholds");
    let mut t = *m.numeric_sensor("T").unwrap().thresholds();
    t.upper_non_critical = Some(30.0);
    t.upper_critical = Some(35.0);
    m.set_thresholds("T", t).unwrap();
    m.tick(1_000);
    let e = m.sel_entries();
    assert_eq!(e.len(), 2, "UNC and UC going high, logged by the tick");
    assert!(e.iter().all(|e| e.direction == EventDirection::Assert));
    m.restore_default_thresholds("T").unwrap();
    m.tick(1_000);
    let e = m.sel_entries();
    assert_eq!(e.len(), 4, "both deasserted by the next tick");
    assert!(
        e[2..]
            .iter()
            .all(|e| e.direction == EventDirection::Deassert)
    );
    m.tick(1_000);
    assert_eq!(m.sel_entries().len(), 4, "and nothing more");
}

#[test]
fn discrete_state_changes_are_logged() {
    let spec = MachineSpec {
        discrete_sensors: vec![DiscreteSensorSpec {
            id: "PSU".into(),
            name: "PSU Status".into(),
            sensor_type: SensorType::PowerSupply,
            sensor_number: Some(0x40),
            event_reading_type: 0x6F,
            state: 0x0001,
            states: vec!["Presence detected".into(), "Failure detected".into()],
            alarm_mask: 0x0002,
            entity_id: None,
            entity_instance: 1,
        }],
        ..bare()
    };
    let mut m = Machine::new(spec, 0).unwrap();
    m.set_discrete_state("PSU", 0x0002, 1000).unwrap();
    let e = m.sel_entries();
    assert_eq!(e.len(), 2);
    assert_eq!(
        (e[0].direction, e[0].data[0]),
        (EventDirection::Deassert, 0)
    );
    assert_eq!(
        (
            e[1].direction,
            e[1].data[0],
            e[1].sensor_number,
            e[1].sensor_type
        ),
        (EventDirection::Assert, 1, 0x40, 0x08)
    );
    assert!(e[1].description.contains("Failure detected"));
    assert!(m.discrete_sensor("PSU").unwrap().is_alarm());
    assert_eq!(m.discrete_state("PSU"), Some(2));
}

fn sel_spec(capacity: u16, policy: SelFullPolicy) -> MachineSpec {
    MachineSpec {
        sel_capacity: capacity,
        sel_full: policy,
        ..bare()
    }
}

fn event(n: u8) -> SelEntry {
    SelEntry::system_event(
        0x12,
        0,
        EventDirection::Assert,
        0x6F,
        [n, 0xFF, 0xFF],
        format!("event {n}"),
    )
}

#[test]
fn sel_stop_policy_refuses_when_full() {
    let mut m = Machine::new(sel_spec(3, SelFullPolicy::Stop), 0).unwrap();
    for n in 0..3 {
        assert_eq!(
            m.sel_add(event(n), 1000 * u64::from(n)).unwrap(),
            u16::from(n) + 1
        );
    }
    assert_eq!(m.sel_add(event(3), 5000), Err(MachineError::SelFull));
    let info = m.sel_info();
    assert_eq!(
        (info.count, info.capacity, info.free_bytes, info.overflow),
        (3, 3, 0, true)
    );
    assert_eq!(info.last_add, Some(1_767_225_602));
    // Deleting makes room; ids are never reused within the run, even after a clear.
    m.sel_delete(2, 6000).unwrap();
    assert_eq!(
        m.sel_delete(2, 6000),
        Err(MachineError::SelRecordNotFound { id: 2 })
    );
    assert_eq!(m.sel_add(event(4), 7000).unwrap(), 4);
    m.sel_clear(8000);
    let info = m.sel_info();
    assert_eq!(
        (info.count, info.overflow, info.last_erase),
        (0, false, Some(1_767_225_608))
    );
    assert_eq!(m.sel_add(event(5), 9000).unwrap(), 5);
}

#[test]
fn sel_overwrite_policy_drops_the_oldest() {
    let mut m = Machine::new(sel_spec(3, SelFullPolicy::Overwrite), 0).unwrap();
    for n in 0..5 {
        m.sel_add(event(n), 0).unwrap();
    }
    let ids: Vec<u16> = m.sel_entries().iter().map(|e| e.record_id).collect();
    assert_eq!(ids, [3, 4, 5]);
    assert!(m.sel_info().overflow);
}

#[test]
fn sel_records_encode_to_16_bytes() {
    let mut m = Machine::new(bare(), 0).unwrap();
    m.set_sel_time(2_000_000_000, 10_000);
    assert_eq!(m.sel_time(10_000), 2_000_000_000);
    assert_eq!(m.sel_time(12_000), 2_000_000_002);
    let id = m.sel_add(event(9), 12_000).unwrap();
    let b = m.sel_entry(id).unwrap().to_bytes();
    assert_eq!(&b[0..3], &[1, 0, 0x02]);
    assert_eq!(u32::from_le_bytes([b[3], b[4], b[5], b[6]]), 2_000_000_002);
    assert_eq!(
        &b[7..16],
        &[0x20, 0x00, 0x04, 0x12, 0x00, 0x6F, 9, 0xFF, 0xFF]
    );
    // OEM non-timestamped records keep their bytes.
    let mut oem = SelEntry::from_bytes(&[0, 0, 0xF0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    oem.description = "oem".into();
    let id = m.sel_add(oem, 13_000).unwrap();
    assert_eq!(
        &m.sel_entry(id).unwrap().to_bytes()[2..],
        &[0xF0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    );
}

#[test]
fn initial_sel_entries_come_from_the_spec() {
    let m = Machine::new(MachineSpec::default(), 0).unwrap();
    let e = m.sel_entries();
    assert_eq!(e.len(), MachineSpec::default().sel.len());
    assert!(e.len() >= 4);
    let fan2 = m.numeric_sensor("FAN2").unwrap();
    let fan_event = e.iter().find(|e| e.event_type == 0x01).unwrap();
    assert_eq!(
        (fan_event.sensor_type, fan_event.sensor_number),
        (0x04, fan2.number())
    );
    assert_eq!(fan_event.timestamp, 1_767_225_600 - 7200);
    let ids: Vec<u16> = e.iter().map(|e| e.record_id).collect();
    assert_eq!(ids, (1..=e.len() as u16).collect::<Vec<_>>());
}

// ---- FRU ----

/// A small FRU decoder for the test: checks every checksum and the 8-byte multiples,
/// returns the areas' fields.
fn decode_fru(b: &[u8]) -> Vec<(u8, Vec<String>)> {
    let sum = |s: &[u8]| s.iter().fold(0u8, |a, x| a.wrapping_add(*x));
    assert_eq!(b[0], 0x01, "format version");
    assert_eq!(sum(&b[..8]), 0, "common header checksum");
    let mut areas = Vec::new();
    for (slot, fixed) in [(2usize, 1usize), (3, 4), (4, 1)] {
        let off = usize::from(b[slot]) * 8;
        assert!(off > 0);
        let len = usize::from(b[off + 1]) * 8;
        let area = &b[off..off + len];
        assert_eq!(area[0], 0x01, "area format version");
        assert_eq!(sum(area), 0, "area checksum");
        let first = area[2];
        let mut i = 2 + fixed;
        let mut fields = Vec::new();
        while area[i] != 0xC1 {
            let tl = area[i];
            assert_eq!(tl >> 6, 0b11, "8-bit ASCII type");
            let n = usize::from(tl & 0x3F);
            fields.push(String::from_utf8(area[i + 1..i + 1 + n].to_vec()).unwrap());
            i += 1 + n;
        }
        assert!(area[i + 1..len - 1].iter().all(|x| *x == 0), "zero padding");
        areas.push((first, fields));
    }
    areas
}

#[test]
fn fru_encodes_and_decodes_back() {
    let mut spec = FruSpec::default();
    spec.product.asset_tag = "X".into();
    spec.chassis.extra = vec!["rev B".into(), String::new()];
    let bytes = fru::encode(&spec);
    assert_eq!(bytes.len() % 8, 0);
    let areas = decode_fru(&bytes);
    assert_eq!(areas[0].0, 0x17);
    assert_eq!(areas[0].1, ["TS-CH-2U-01", "TSCH000001", "rev B", ""]);
    let b = &spec.board;
    assert_eq!(
        areas[1].1,
        [
            b.manufacturer.as_str(),
            &b.product_name,
            &b.serial_number,
            &b.part_number,
            &b.fru_file_id
        ]
    );
    let p = &spec.product;
    assert_eq!(
        areas[2].1,
        [
            p.manufacturer.as_str(),
            &p.name,
            &p.part_number,
            &p.version,
            &p.serial_number,
            "X ",
            &p.fru_file_id
        ]
    );
    // The board's manufacturing date, 3 bytes little-endian after the language code.
    let off = usize::from(bytes[3]) * 8;
    let minutes = u32::from_le_bytes([bytes[off + 3], bytes[off + 4], bytes[off + 5], 0]);
    assert_eq!(minutes, spec.board.mfg_date_minutes);
    let m = Machine::new(MachineSpec::default(), 0).unwrap();
    assert_eq!(m.fru_bytes(), fru::encode(&MachineSpec::default().fru));
}

// ---- users and commands ----

#[test]
fn users_authenticate() {
    let mut spec = bare();
    spec.users.push(User {
        enabled: false,
        ..User::new(9, "gone", "pw", machine::Privilege::User)
    });
    let m = Machine::new(spec, 0).unwrap();
    assert_eq!(
        m.authenticate("admin", "admin").unwrap().privilege,
        machine::Privilege::Administrator
    );
    assert_eq!(
        m.authenticate("operator", "operator")
            .unwrap()
            .privilege
            .ipmi_code(),
        3
    );
    assert_eq!(m.authenticate("user", "user").unwrap().id, 4);
    assert!(m.authenticate("admin", "wrong").is_none());
    assert!(m.authenticate("gone", "pw").is_none(), "disabled");
    assert_eq!(m.user("gone").unwrap().id, 9);
    assert_eq!(m.user_by_id(2).unwrap().name, "admin");
}

#[test]
fn commands_are_found_by_pattern() {
    let m = Machine::new(MachineSpec::default(), 0).unwrap();
    assert!(m.find_command("hostname").unwrap().handler.is_some());
    assert_eq!(m.find_command("VER").unwrap().exit_code, 0);
    assert!(m.find_command("IPCONFIG /ALL").is_some());
    assert!(m.find_command("ipconfig /renew").is_none());
    assert!(m.find_command("DIR C:\\").is_some());
    assert!(m.find_command("format c:").is_none());
}

// ---- the spec ----

#[test]
fn default_spec_is_valid_and_complete() {
    let spec = MachineSpec::default();
    spec.validate().unwrap();
    assert!(spec.sensors.len() >= 8);
    for t in [
        SensorType::Temperature,
        SensorType::Fan,
        SensorType::Voltage,
        SensorType::Power,
    ] {
        assert!(spec.sensors.iter().any(|s| s.sensor_type == t), "{t:?}");
    }
    assert!(!spec.discrete_sensors.is_empty());
    assert!(spec.sel.len() >= 4);
    let m = Machine::new(spec, 0).unwrap();
    let numbers: Vec<u8> = m
        .numeric_sensors()
        .iter()
        .map(|s| s.number())
        .chain(m.discrete_sensors().iter().map(|d| d.number()))
        .collect();
    assert_eq!(
        numbers,
        (1..=numbers.len() as u8).collect::<Vec<_>>(),
        "auto-assigned from 1"
    );
    assert_eq!(m.sensor_ids().len(), numbers.len());
}

#[test]
fn default_spec_round_trips_through_toml() {
    let spec = MachineSpec::default();
    let text = toml::to_string(&spec).unwrap();
    let back: MachineSpec = toml::from_str(&text).unwrap();
    assert_eq!(back, spec, "{text}");
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    machine: MachineSpec,
}

#[test]
fn full_example_parses_and_validates() {
    let text = include_str!("fixtures/full.toml");
    let s: Scenario = toml::from_str(text).unwrap();
    s.machine.validate().unwrap();
    let m = Machine::new(s.machine.clone(), 0).unwrap();
    assert_eq!(m.hostname(), "cx2200-lab01");
    assert_eq!(m.discrete_sensor("PSU1_STATUS").unwrap().number(), 0x40);
    assert_eq!(m.numeric_sensor("CPU1_TEMP").unwrap().number(), 0x01);
    assert_eq!(m.user("user").unwrap().kg_bytes().unwrap().len(), 20);
    assert!(
        m.find_command("echo hello world")
            .unwrap()
            .handler
            .is_some()
    );
    assert_eq!(s.machine.instances[1].properties.0.len(), 2);
    // And the same through a TOML round trip.
    let again: MachineSpec = toml::from_str(&toml::to_string(&s.machine).unwrap()).unwrap();
    assert_eq!(again, s.machine);
}

#[test]
fn omitted_sections_take_the_defaults_and_typos_are_refused() {
    let s: Scenario = toml::from_str("[machine.identity]\nhostname = \"h\"\n").unwrap();
    assert_eq!(s.machine.identity.hostname, "h");
    assert_eq!(
        s.machine.identity.vendor,
        MachineSpec::default().identity.vendor
    );
    assert_eq!(s.machine.sensors, MachineSpec::default().sensors);
    let err = toml::from_str::<Scenario>("[machine]\nsel_capacty = 3\n")
        .err()
        .unwrap();
    assert!(err.to_string().contains("sel_capacty"), "{err}");
    let err =
        toml::from_str::<Scenario>("[[machine.sensors]]\nid = \"X\"\ntype = \"thermometer\"\n")
            .err()
            .unwrap();
    assert!(err.to_string().contains("thermometer"), "{err}");
}

// One test per validation error, each checking the message names the item.

fn invalid(spec: MachineSpec) -> String {
    let e = spec.validate().expect_err("the spec should be refused");
    assert!(Machine::new(spec, 0).is_err());
    e.to_string()
}

fn sensors_with(extra: SensorSpec) -> MachineSpec {
    let mut spec = MachineSpec::default();
    spec.sensors.push(extra);
    spec
}

#[test]
fn error_duplicate_sensor_id() {
    let msg = invalid(sensors_with(SensorSpec::new(
        "FAN2",
        "dup",
        SensorType::Fan,
        1.0,
    )));
    assert!(
        msg.contains("sensors[11] (\"FAN2\")") && msg.contains("sensors[5] (\"FAN2\")"),
        "{msg}"
    );
}

#[test]
fn error_empty_sensor_id() {
    let msg = invalid(sensors_with(SensorSpec::new("", "x", SensorType::Fan, 1.0)));
    assert!(
        msg.contains("sensors[11]") && msg.contains("empty"),
        "{msg}"
    );
}

#[test]
fn error_duplicate_sensor_number() {
    let mut spec = MachineSpec::default();
    spec.sensors[0].sensor_number = Some(0x30);
    spec.discrete_sensors[1].sensor_number = Some(0x30);
    let msg = invalid(spec);
    assert!(
        msg.contains("discrete_sensors[1] (\"INTRUSION\")")
            && msg.contains("0x30")
            && msg.contains("CPU1_TEMP"),
        "{msg}"
    );
}

#[test]
fn error_reserved_sensor_number() {
    let mut spec = MachineSpec::default();
    spec.sensors[3].sensor_number = Some(0xFF);
    let msg = invalid(spec);
    assert!(
        msg.contains("sensors[3] (\"EXHAUST_TEMP\")") && msg.contains("reserved"),
        "{msg}"
    );
}

#[test]
fn error_threshold_order() {
    let mut spec = MachineSpec::default();
    spec.sensors[5].thresholds.lower_critical = Some(2000.0);
    let msg = invalid(spec);
    assert!(
        msg.contains("sensors[5] (\"FAN2\")")
            && msg.contains("lower_critical")
            && msg.contains("lower_non_critical"),
        "{msg}"
    );
}

#[test]
fn error_raw_range() {
    let mut spec = MachineSpec::default();
    spec.sensors[0].thresholds.upper_non_recoverable = Some(300.0);
    let msg = invalid(spec);
    assert!(
        msg.contains("sensors[0] (\"CPU1_TEMP\")")
            && msg.contains("thresholds.upper_non_recoverable"),
        "{msg}"
    );
}

#[test]
fn error_invalid_field() {
    let mut spec = MachineSpec::default();
    spec.sensors[7].resolution = 0.0;
    let msg = invalid(spec);
    assert!(
        msg.contains("sensors[7] (\"P12V\")") && msg.contains("resolution"),
        "{msg}"
    );
    let mut spec = MachineSpec::default();
    spec.sensors[7].name = "A name longer than sixteen".into();
    assert!(invalid(spec).contains("sensors[7] (\"P12V\"): name"));
    let mut spec = MachineSpec::default();
    spec.fru.product.name = "x".repeat(64);
    assert!(invalid(spec).contains("product.name"));
    let mut spec = MachineSpec::default();
    spec.users[0].password = "p".repeat(21);
    assert!(invalid(spec).contains("users[0] (\"admin\"): password"));
}

#[test]
fn error_invalid_source() {
    let mut spec = MachineSpec::default();
    spec.sensors[2].sequence = Some(vec![1.0]);
    let msg = invalid(spec);
    assert!(
        msg.contains("sensors[2] (\"INLET_TEMP\")") && msg.contains("at most one"),
        "{msg}"
    );
}

#[test]
fn error_script() {
    let mut spec = MachineSpec::default();
    spec.sensors[1].expr = Some("40 + ".into());
    let msg = invalid(spec);
    assert!(
        msg.contains("sensors[1] (\"CPU2_TEMP\")") && msg.contains("expr"),
        "{msg}"
    );
    let mut spec = MachineSpec::default();
    spec.commands[0].handler = Some("let = ;".into());
    assert!(invalid(spec).contains("commands[0] (\"hostname\"): the handler"));
}

#[test]
fn error_guid() {
    let mut spec = MachineSpec::default();
    spec.identity.guid = "not-a-guid".into();
    assert!(invalid(spec).contains("identity.guid \"not-a-guid\""));
}

#[test]
fn error_user_id() {
    let mut spec = MachineSpec::default();
    spec.users[1].id = 16;
    let msg = invalid(spec);
    assert!(
        msg.contains("users[1] (\"operator\")") && msg.contains("16"),
        "{msg}"
    );
}

#[test]
fn error_duplicate_user() {
    let mut spec = MachineSpec::default();
    spec.users[2].name = "admin".into();
    let msg = invalid(spec);
    assert!(
        msg.contains("users[2] (\"admin\")") && msg.contains("users[0]"),
        "{msg}"
    );
}

#[test]
fn error_unknown_sel_sensor() {
    let mut spec = MachineSpec::default();
    spec.sel.push(SelEntrySpec {
        sensor: Some("FAN9".into()),
        ..spec.sel[0].clone()
    });
    let msg = invalid(spec);
    assert!(msg.contains("sel[6]") && msg.contains("FAN9"), "{msg}");
}

#[test]
fn error_sel_over_capacity() {
    let spec = MachineSpec {
        sel_capacity: 2,
        ..Default::default()
    };
    assert!(invalid(spec).contains("sel_capacity = 2"));
}

#[test]
fn error_invalid_instance() {
    let spec: Scenario = toml::from_str(
        "[[machine.instances]]\nclass = \"CIM_Chassis\"\nkeys = [\"Tag\"]\nproperties = { CreationClassName = \"CIM_Chassis\" }\n",
    )
    .unwrap();
    let msg = invalid(spec.machine);
    assert!(
        msg.contains("instances[0] (\"CIM_Chassis\")") && msg.contains("Tag"),
        "{msg}"
    );
}

#[test]
fn error_invalid_pattern() {
    let mut spec = MachineSpec::default();
    spec.commands[2].pattern = "ipconfig(".into();
    spec.commands[2].match_kind = machine::MatchKind::Regex;
    assert!(invalid(spec).contains("commands[2] (\"ipconfig(\")"));
    let mut spec = MachineSpec::default();
    spec.scripts[1].pattern = "Get-*[".into();
    spec.scripts[1].match_kind = machine::MatchKind::Glob;
    assert!(invalid(spec).contains("scripts[1] (\"Get-*[\")"));
}

#[test]
fn machine_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Machine>();
}

#[test]
fn same_calls_give_same_results() {
    let run = || {
        let mut m = Machine::new(MachineSpec::default(), 0).unwrap();
        let mut out = Vec::new();
        for t in (0..3_600_000u64).step_by(61_000) {
            m.tick(t);
            if t == 610_000 {
                m.chassis_control(PowerAction::Cycle, t).unwrap();
                m.set_sensor("FAN3", 100.0, t).unwrap();
            }
            for id in m
                .sensor_ids()
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
            {
                out.push(format!("{t} {id} {:?}", m.reading(&id, t)));
            }
            out.push(format!("{:?}", m.power_state(t)));
            for c in [
                "CIM_ComputerSystem",
                "CIM_Sensor",
                "CIM_LogRecord",
                "CIM_PowerSupply",
            ] {
                out.push(format!(
                    "{:?}",
                    machine::cim::enumerate(&mut m, c, t, true).unwrap()
                ));
            }
        }
        (out, m.sel_entries().to_vec())
    };
    let (a, sel_a) = run();
    let (b, sel_b) = run();
    assert_eq!(a, b);
    assert_eq!(sel_a, sel_b);
    assert!(sel_a.len() > 6, "the run logged power and threshold events");
}

#[test]
fn default_fixture_is_the_default_spec() {
    let s: Scenario = toml::from_str(include_str!("fixtures/default.toml")).unwrap();
    assert_eq!(s.machine, MachineSpec::default());
}
