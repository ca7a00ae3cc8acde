//! The CIM projection: the schema, enumeration, Get/Put/Invoke/Create/Delete and
//! association traversal over the default machine and the full example scenario.

use machine::cim::{self, CimError, Instance, Reference, Value};
use machine::power::{InitialPower, PowerSpec};
use machine::spec::SensorSpec;
use machine::{Machine, MachineSpec, PowerAction, SensorType, Thresholds};

fn default_machine() -> Machine {
    Machine::new(MachineSpec::default(), 0).unwrap()
}

fn sel(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn sensor_keys(class: &str, id: &str) -> Vec<(String, String)> {
    sel(&[
        ("CreationClassName", class),
        ("DeviceID", id),
        ("SystemCreationClassName", "CIM_ComputerSystem"),
        ("SystemName", "touchstone-sim"),
    ])
}

fn uint(i: &Instance, p: &str) -> u64 {
    match i.get(p) {
        Some(Value::UInt(u)) => *u,
        other => panic!("{p} is {other:?}"),
    }
}

fn int(i: &Instance, p: &str) -> i64 {
    match i.get(p) {
        Some(Value::Int(v)) => *v,
        other => panic!("{p} is {other:?}"),
    }
}

fn text<'a>(i: &'a Instance, p: &str) -> &'a str {
    match i.get(p) {
        Some(Value::Str(s)) | Some(Value::DateTime(s)) => s,
        other => panic!("{p} is {other:?}"),
    }
}

fn count(m: &mut Machine, class: &str, poly: bool) -> usize {
    cim::enumerate(m, class, 0, poly).unwrap().len()
}

#[test]
fn schema_is_consistent() {
    for c in cim::classes() {
        if let Some(sup) = c.superclass {
            assert!(
                cim::class(sup).is_some(),
                "{} extends unknown {sup}",
                c.name
            );
            assert!(cim::is_subclass(c.name, sup));
        }
        for k in c.keys {
            assert!(
                c.properties.iter().any(|(p, _)| p == k),
                "{}: key {k} is not a property",
                c.name
            );
        }
        for w in c.writable {
            assert!(c.properties.iter().any(|(p, _)| p == w), "{}: {w}", c.name);
        }
        if c.is_association {
            assert!(
                c.properties
                    .iter()
                    .all(|(_, t)| *t == cim::CimType::Reference)
            );
        }
    }
    assert!(cim::is_subclass("CIM_NumericSensor", "CIM_Sensor"));
    assert!(
        cim::is_subclass("cim_fan", "CIM_LogicalDevice"),
        "case-insensitive"
    );
    assert!(cim::is_subclass("CIM_PowerSupply", "CIM_ManagedElement"));
    assert!(!cim::is_subclass("CIM_Sensor", "CIM_NumericSensor"));
    assert!(cim::is_subclass("Vendor_Thing", "Vendor_Thing"));
    assert!(!cim::is_subclass("Vendor_Thing", "CIM_ManagedElement"));
}

#[test]
fn every_instance_has_its_class_keys_and_schema_properties() {
    let mut m = default_machine();
    for c in cim::classes().iter().filter(|c| !c.is_abstract) {
        let all = cim::enumerate(&mut m, c.name, 0, false).unwrap();
        assert!(!all.is_empty(), "{} has instances", c.name);
        for i in all {
            assert_eq!(i.class, c.name);
            let keys: Vec<&str> = i.keys.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, c.keys, "{}", c.name);
            let props: Vec<&str> = i.properties.iter().map(|p| p.name.as_ref()).collect();
            let schema: Vec<&str> = c.properties.iter().map(|(p, _)| *p).collect();
            assert_eq!(props, schema, "{} properties in schema order", c.name);
            for (k, v) in &i.keys {
                assert!(!v.is_empty(), "{}.{k} has a value", c.name);
            }
            // Every instance can be fetched back by its keys.
            let again = cim::get(&mut m, c.name, &i.keys, 0).unwrap();
            assert_eq!(again.reference(), i.reference());
        }
    }
}

#[test]
fn enumerate_counts_match_the_spec() {
    let spec = MachineSpec::default();
    let mut m = default_machine();
    let fans = spec
        .sensors
        .iter()
        .filter(|s| s.sensor_type == SensorType::Fan)
        .count();
    let numeric = spec.sensors.len();
    let discrete = spec.discrete_sensors.len();
    assert_eq!(count(&mut m, "CIM_ComputerSystem", true), 1);
    assert_eq!(count(&mut m, "CIM_NumericSensor", true), numeric);
    assert_eq!(count(&mut m, "CIM_Sensor", false), discrete);
    assert_eq!(count(&mut m, "CIM_Sensor", true), numeric + discrete);
    assert_eq!(count(&mut m, "CIM_Fan", true), fans);
    assert_eq!(
        count(&mut m, "CIM_PowerSupply", true),
        1,
        "one PSU entity (10.1)"
    );
    assert_eq!(count(&mut m, "CIM_LogicalDevice", false), 0, "abstract");
    assert_eq!(
        count(&mut m, "CIM_LogicalDevice", true),
        numeric + discrete + fans + 1
    );
    assert_eq!(count(&mut m, "CIM_RecordLog", true), 1);
    assert_eq!(count(&mut m, "CIM_LogRecord", true), spec.sel.len());
    assert_eq!(count(&mut m, "CIM_SoftwareIdentity", true), 2);
    assert_eq!(
        count(&mut m, "CIM_RegisteredProfile", true),
        cim::PROFILES.len()
    );
    assert_eq!(
        count(&mut m, "CIM_SystemDevice", true),
        numeric + discrete + fans + 1
    );
    assert_eq!(
        count(&mut m, "CIM_Component", true),
        numeric + discrete + fans + 1
    );
    assert_eq!(count(&mut m, "CIM_LogManagesRecord", true), spec.sel.len());
    assert_eq!(
        cim::enumerate(&mut m, "CIM_Nope", 0, true),
        Err(CimError::UnknownClass {
            class: "CIM_Nope".into()
        })
    );
}

#[test]
fn numeric_sensor_values_follow_the_unit_modifier_convention() {
    let mut m = default_machine();
    let i = cim::get(
        &mut m,
        "CIM_NumericSensor",
        &sensor_keys("CIM_NumericSensor", "P12V"),
        0,
    )
    .unwrap();
    assert_eq!(int(&i, "UnitModifier"), -2);
    assert_eq!(int(&i, "CurrentReading"), 1206);
    assert_eq!(uint(&i, "BaseUnits"), 5, "Volts");
    assert_eq!(uint(&i, "SensorType"), 3, "Voltage");
    assert_eq!(uint(&i, "Resolution"), 6);
    assert_eq!(int(&i, "UpperThresholdCritical"), 1320);
    assert_eq!(int(&i, "LowerThresholdNonCritical"), 1140);
    assert_eq!(i.get("UpperThresholdFatal"), Some(&Value::Null));
    assert_eq!(text(&i, "CurrentState"), "Normal");
    assert_eq!(uint(&i, "HealthState"), 5);
    assert_eq!(text(&i, "ElementName"), "12V");
    // The same reading through the IPMI view: raw * M + B.
    let raw = m.raw_reading("P12V", 0).unwrap();
    let s = m.numeric_sensor("P12V").unwrap();
    let ipmi = f64::from(raw) * s.resolution() + s.offset();
    assert!((ipmi - 1206.0 * 10f64.powi(-2)).abs() < 1e-9);
    let fan = cim::get(
        &mut m,
        "CIM_Sensor",
        &sensor_keys("CIM_NumericSensor", "FAN1"),
        0,
    )
    .unwrap();
    assert_eq!(
        fan.class, "CIM_NumericSensor",
        "a Get through the superclass finds the subclass"
    );
    assert_eq!(
        (int(&fan, "UnitModifier"), int(&fan, "CurrentReading")),
        (0, 5400)
    );
    assert_eq!(uint(&fan, "BaseUnits"), 19, "RPM");
}

#[test]
fn sensor_states_and_health_show_crossings() {
    let mut m = default_machine();
    m.set_sensor("CPU1_TEMP", 96.0, 1000).unwrap();
    let i = cim::get(
        &mut m,
        "CIM_NumericSensor",
        &sensor_keys("CIM_NumericSensor", "CPU1_TEMP"),
        1000,
    )
    .unwrap();
    assert_eq!(text(&i, "CurrentState"), "Upper Critical");
    assert_eq!(uint(&i, "HealthState"), 20);
    assert_eq!(
        i.get("OperationalStatus"),
        Some(&Value::Array(vec![Value::UInt(6)]))
    );
    let cs = cim::get(&mut m, "CIM_ComputerSystem", &[], 1000).unwrap();
    assert_eq!(
        uint(&cs, "HealthState"),
        20,
        "the system shows its worst sensor"
    );
    let d = cim::get(
        &mut m,
        "CIM_Sensor",
        &sensor_keys("CIM_Sensor", "PSU1_STATUS"),
        0,
    )
    .unwrap();
    assert_eq!(text(&d, "CurrentState"), "Presence detected");
    m.set_discrete_state("PSU1_STATUS", 0x0003, 2000).unwrap();
    let psu = cim::enumerate(&mut m, "CIM_PowerSupply", 2000, false).unwrap();
    assert_eq!(
        uint(&psu[0], "HealthState"),
        20,
        "the PSU failure bit is an alarm"
    );
}

#[test]
fn enumeration_observes_crossings_into_the_sel() {
    let spec = MachineSpec {
        sensors: vec![SensorSpec {
            constant: None,
            sequence: Some(vec![50.0, 90.0]),
            step_ms: Some(1000),
            thresholds: Thresholds {
                upper_critical: Some(80.0),
                ..Default::default()
            },
            ..SensorSpec::new("S", "S", SensorType::Temperature, 50.0)
        }],
        sel: Vec::new(),
        discrete_sensors: Vec::new(),
        ..MachineSpec::default()
    };
    let mut m = Machine::new(spec, 0).unwrap();
    assert_eq!(count(&mut m, "CIM_LogRecord", false), 0);
    cim::enumerate(&mut m, "CIM_NumericSensor", 1000, false).unwrap();
    let records = cim::enumerate(&mut m, "CIM_LogRecord", 1000, false).unwrap();
    assert_eq!(records.len(), 1);
    let bytes = m.sel_entries()[0].to_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(text(&records[0], "RecordData"), hex);
    assert_eq!(
        text(&records[0], "MessageTimestamp"),
        "2026-01-01T00:00:01Z"
    );
    assert_eq!(text(&records[0], "RecordID"), "1");
}

#[test]
fn get_with_wrong_selectors_is_refused() {
    let mut m = default_machine();
    let cs = |pairs: &[(&str, &str)]| sel(pairs);
    // A single instance may be fetched without selectors; __cimnamespace is ignored.
    assert!(cim::get(&mut m, "CIM_ComputerSystem", &[], 0).is_ok());
    assert!(
        cim::get(
            &mut m,
            "CIM_RecordLog",
            &cs(&[("__cimnamespace", "root/cimv2")]),
            0
        )
        .is_ok()
    );
    let ok = cs(&[
        ("CreationClassName", "CIM_ComputerSystem"),
        ("Name", "touchstone-sim"),
    ]);
    assert!(cim::get(&mut m, "CIM_ComputerSystem", &ok, 0).is_ok());
    assert!(
        cim::get(&mut m, "cim_computersystem", &ok, 0).is_ok(),
        "class names are case-insensitive"
    );

    let r = cim::get(&mut m, "CIM_NumericSensor", &cs(&[("DeviceID", "FAN1")]), 0);
    assert!(
        matches!(r, Err(CimError::InsufficientSelectors { ref missing, .. }) if missing == "CreationClassName"),
        "{r:?}"
    );
    let mut extra = sensor_keys("CIM_NumericSensor", "FAN1");
    extra.push(("Bogus".into(), "1".into()));
    let r = cim::get(&mut m, "CIM_NumericSensor", &extra, 0);
    assert!(
        matches!(r, Err(CimError::UnexpectedSelectors { ref name, .. }) if name == "Bogus"),
        "{r:?}"
    );
    let r = cim::get(
        &mut m,
        "CIM_NumericSensor",
        &sensor_keys("CIM_NumericSensor", "FAN9"),
        0,
    );
    assert!(matches!(r, Err(CimError::NotFound { .. })), "{r:?}");
    let r = cim::get(
        &mut m,
        "CIM_NumericSensor",
        &sensor_keys("CIM_Bogus", "FAN1"),
        0,
    );
    assert!(
        matches!(r, Err(CimError::InvalidSelectorValue { ref name, .. }) if name == "CreationClassName"),
        "{r:?}"
    );
    let mut dup = sensor_keys("CIM_NumericSensor", "FAN1");
    dup.push(("DeviceID".into(), "FAN2".into()));
    assert!(matches!(
        cim::get(&mut m, "CIM_NumericSensor", &dup, 0),
        Err(CimError::DuplicateSelectors { .. })
    ));
    assert!(matches!(
        cim::get(&mut m, "CIM_Nope", &ok, 0),
        Err(CimError::UnknownClass { .. })
    ));
    assert!(
        matches!(
            cim::get(&mut m, "CIM_LogRecord", &[], 0),
            Err(CimError::InsufficientSelectors { .. })
        ),
        "many instances need selectors"
    );
}

#[test]
fn put_changes_writable_properties_only() {
    let mut m = default_machine();
    let keys = sensor_keys("CIM_NumericSensor", "CPU1_TEMP");
    // Thresholds are CIM integers at UnitModifier 0 for this sensor.
    let bad = cim::put(
        &mut m,
        "CIM_NumericSensor",
        &keys,
        &sel(&[("UpperThresholdNonCritical", "99")]),
        0,
    );
    assert!(
        matches!(bad, Err(CimError::InvalidValue { ref prop, .. }) if prop == "UpperThresholdNonCritical"),
        "{bad:?}"
    );
    let r = cim::put(
        &mut m,
        "CIM_NumericSensor",
        &keys,
        &sel(&[("LowerThresholdFatal", "1")]),
        0,
    );
    assert_eq!(
        r,
        Err(CimError::NotWritable {
            prop: "LowerThresholdFatal".into()
        }),
        "not a supported threshold"
    );
    for p in ["CurrentReading", "DeviceID", "SensorType"] {
        let r = cim::put(&mut m, "CIM_NumericSensor", &keys, &sel(&[(p, "1")]), 0);
        assert_eq!(r, Err(CimError::NotWritable { prop: p.into() }));
    }
    let r = cim::put(
        &mut m,
        "CIM_NumericSensor",
        &keys,
        &sel(&[("NoSuchThing", "1")]),
        0,
    );
    assert!(matches!(r, Err(CimError::InvalidValue { .. })));
    let r = cim::put(
        &mut m,
        "CIM_NumericSensor",
        &keys,
        &sel(&[("UpperThresholdCritical", "warm")]),
        0,
    );
    assert!(matches!(r, Err(CimError::InvalidValue { .. })));
    assert_eq!(
        m.numeric_sensor("CPU1_TEMP").unwrap().thresholds(),
        &MachineSpec::default().sensors[0].thresholds
    );

    let i = cim::put(
        &mut m,
        "CIM_NumericSensor",
        &keys,
        &sel(&[
            ("UpperThresholdNonCritical", "40"),
            ("ElementName", "CPU One"),
        ]),
        0,
    )
    .unwrap();
    assert_eq!(int(&i, "UpperThresholdNonCritical"), 40);
    assert_eq!(text(&i, "CurrentState"), "Upper Non-Critical");
    assert_eq!(text(&i, "ElementName"), "CPU One");
    assert_eq!(
        m.numeric_sensor("CPU1_TEMP")
            .unwrap()
            .thresholds()
            .upper_non_critical,
        Some(40.0),
        "IPMI sees it"
    );
    assert_eq!(m.numeric_sensor("CPU1_TEMP").unwrap().name(), "CPU One");
    let r = cim::put(
        &mut m,
        "CIM_NumericSensor",
        &keys,
        &sel(&[("ElementName", "a name far too long for an SDR")]),
        0,
    );
    assert!(matches!(r, Err(CimError::InvalidValue { .. })));

    let out = cim::invoke(
        &mut m,
        "CIM_NumericSensor",
        &keys,
        "RestoreDefaultThresholds",
        &[],
        0,
    )
    .unwrap();
    assert_eq!(out, vec![("ReturnValue".to_owned(), Value::UInt(0))]);
    assert_eq!(
        m.numeric_sensor("CPU1_TEMP")
            .unwrap()
            .thresholds()
            .upper_non_critical,
        Some(85.0)
    );

    let cs = cim::put(
        &mut m,
        "CIM_ComputerSystem",
        &[],
        &sel(&[("ElementName", "rack 4 slot 2")]),
        0,
    )
    .unwrap();
    assert_eq!(text(&cs, "ElementName"), "rack 4 slot 2");
    assert_eq!(
        cim::put(&mut m, "CIM_ComputerSystem", &[], &sel(&[("Name", "x")]), 0),
        Err(CimError::NotWritable {
            prop: "Name".into()
        })
    );
    let log = cim::put(
        &mut m,
        "CIM_RecordLog",
        &[],
        &sel(&[("ElementName", "BMC log")]),
        0,
    )
    .unwrap();
    assert_eq!(text(&log, "ElementName"), "BMC log");
}

fn delayed() -> Machine {
    let spec = MachineSpec {
        power: PowerSpec {
            initial: InitialPower::On,
            power_on_delay_ms: 2000,
            power_off_delay_ms: 1000,
            soft_off_delay_ms: 5000,
            cycle_delay_ms: 1000,
            reset_delay_ms: 500,
        },
        ..MachineSpec::default()
    };
    Machine::new(spec, 0).unwrap()
}

fn rsc(m: &mut Machine, state: &str, now: u64) -> Result<Vec<(String, Value)>, CimError> {
    cim::invoke(
        m,
        "CIM_ComputerSystem",
        &[],
        "RequestStateChange",
        &sel(&[("RequestedState", state)]),
        now,
    )
}

fn enabled_state(m: &mut Machine, now: u64) -> u64 {
    uint(
        &cim::get(m, "CIM_ComputerSystem", &[], now).unwrap(),
        "EnabledState",
    )
}

#[test]
fn request_state_change_drives_power() {
    let mut m = delayed();
    assert_eq!(enabled_state(&mut m, 0), 2);
    assert_eq!(
        rsc(&mut m, "3", 10_000).unwrap(),
        vec![("ReturnValue".to_owned(), Value::UInt(0))]
    );
    assert_eq!(
        enabled_state(&mut m, 10_500),
        4,
        "shutting down during the delay"
    );
    assert_eq!(enabled_state(&mut m, 11_000), 3);
    let cs = cim::get(&mut m, "CIM_ComputerSystem", &[], 11_000).unwrap();
    assert_eq!(uint(&cs, "RequestedState"), 3);
    assert_eq!(text(&cs, "TimeOfLastStateChange"), "2026-01-01T00:00:11Z");
    assert_eq!(
        rsc(&mut m, "10", 12_000).unwrap()[0].1,
        Value::UInt(4097),
        "no reboot while off"
    );
    assert_eq!(rsc(&mut m, "2", 12_000).unwrap()[0].1, Value::UInt(0));
    assert_eq!(enabled_state(&mut m, 13_000), 10, "starting");
    assert_eq!(enabled_state(&mut m, 14_000), 2);
    assert_eq!(rsc(&mut m, "11", 20_000).unwrap()[0].1, Value::UInt(0));
    assert_eq!(enabled_state(&mut m, 20_100), 10);
    assert_eq!(rsc(&mut m, "4", 30_000).unwrap()[0].1, Value::UInt(0));
    assert_eq!(enabled_state(&mut m, 34_999), 4);
    assert_eq!(enabled_state(&mut m, 35_000), 3);
    assert_eq!(
        rsc(&mut m, "9", 40_000).unwrap()[0].1,
        Value::UInt(1),
        "Quiesce is not supported"
    );
    assert_eq!(rsc(&mut m, "77", 40_000).unwrap()[0].1, Value::UInt(5));
    // Across protocols: IPMI power on shows in CIM.
    m.chassis_control(PowerAction::On, 50_000).unwrap();
    assert_eq!(enabled_state(&mut m, 52_000), 2);

    assert!(matches!(
        rsc(&mut m, "on", 60_000),
        Err(CimError::InvalidParameter { .. })
    ));
    let r = cim::invoke(
        &mut m,
        "CIM_ComputerSystem",
        &[],
        "RequestStateChange",
        &[],
        0,
    );
    assert!(
        matches!(r, Err(CimError::InvalidParameter { ref name, .. }) if name == "RequestedState")
    );
    let r = cim::invoke(
        &mut m,
        "CIM_ComputerSystem",
        &[],
        "RequestStateChange",
        &sel(&[("RequestedState", "2"), ("Colour", "red")]),
        0,
    );
    assert!(matches!(r, Err(CimError::InvalidParameter { ref name, .. }) if name == "Colour"));
    let r = cim::invoke(&mut m, "CIM_ComputerSystem", &[], "Explode", &[], 0);
    assert!(matches!(r, Err(CimError::UnknownMethod { .. })));
    let r = cim::invoke(&mut m, "CIM_RecordLog", &[], "RequestStateChange", &[], 0);
    assert!(matches!(r, Err(CimError::UnknownMethod { .. })));
}

#[test]
fn clear_log_empties_the_sel_and_its_records() {
    let mut m = default_machine();
    assert!(count(&mut m, "CIM_LogRecord", false) >= 4);
    let out = cim::invoke(
        &mut m,
        "CIM_RecordLog",
        &sel(&[("InstanceID", cim::LOG_INSTANCE_ID)]),
        "ClearLog",
        &[],
        5000,
    )
    .unwrap();
    assert_eq!(out[0], ("ReturnValue".to_owned(), Value::UInt(0)));
    assert!(m.sel_entries().is_empty());
    assert_eq!(count(&mut m, "CIM_LogRecord", false), 0);
    assert_eq!(count(&mut m, "CIM_LogManagesRecord", false), 0);
    let log = cim::get(&mut m, "CIM_RecordLog", &[], 5000).unwrap();
    assert_eq!(
        (
            uint(&log, "CurrentNumberOfRecords"),
            uint(&log, "MaxNumberOfRecords")
        ),
        (0, 512)
    );
    assert_eq!(uint(&log, "OverwritePolicy"), 7);
}

fn system_ref() -> Reference {
    Reference {
        class: "CIM_ComputerSystem".into(),
        keys: sel(&[
            ("CreationClassName", "CIM_ComputerSystem"),
            ("Name", "touchstone-sim"),
        ]),
    }
}

#[test]
fn associations_from_the_system() {
    let mut m = default_machine();
    let devices = count(&mut m, "CIM_LogicalDevice", true);
    let (assocs, ends) = cim::associations(
        &mut m,
        &system_ref(),
        Some("CIM_SystemDevice"),
        None,
        None,
        None,
        0,
    )
    .unwrap();
    assert_eq!(
        (assocs.len(), ends.len()),
        (devices, devices),
        "every device"
    );
    assert!(assocs.iter().all(|a| a.class == "CIM_SystemDevice"));
    let part = assocs[0].get("PartComponent").unwrap();
    assert!(matches!(part, Value::Ref(r) if r.class == "CIM_NumericSensor"));
    assert_eq!(
        assocs[0].keys[1].1,
        match part {
            Value::Ref(r) => r.object_path(),
            _ => unreachable!(),
        }
    );

    let (_, fans) = cim::associations(
        &mut m,
        &system_ref(),
        Some("CIM_SystemDevice"),
        None,
        Some("CIM_Fan"),
        None,
        0,
    )
    .unwrap();
    assert_eq!(fans.len(), 3);
    assert!(fans.iter().all(|f| f.class == "CIM_Fan"));
    let (_, sensors) = cim::associations(
        &mut m,
        &system_ref(),
        None,
        None,
        Some("CIM_Sensor"),
        None,
        0,
    )
    .unwrap();
    assert_eq!(
        sensors.len(),
        count(&mut m, "CIM_Sensor", true),
        "ResultClass is polymorphic"
    );

    let (_, by_group) = cim::associations(
        &mut m,
        &system_ref(),
        Some("CIM_SystemDevice"),
        Some("GroupComponent"),
        None,
        None,
        0,
    )
    .unwrap();
    assert_eq!(by_group.len(), devices);
    let (a, none) = cim::associations(
        &mut m,
        &system_ref(),
        Some("CIM_SystemDevice"),
        Some("PartComponent"),
        None,
        None,
        0,
    )
    .unwrap();
    assert!(
        a.is_empty() && none.is_empty(),
        "the system is never the part"
    );

    // Everything around the system, and the ResultRole filter.
    let (_, all) = cim::associations(&mut m, &system_ref(), None, None, None, None, 0).unwrap();
    assert_eq!(
        all.len(),
        devices + 1 + cim::PROFILES.len() + 2,
        "devices, log, profiles, software"
    );
    let (_, logs) = cim::associations(
        &mut m,
        &system_ref(),
        None,
        None,
        None,
        Some("Antecedent"),
        0,
    )
    .unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].class, "CIM_RecordLog");

    // And back from a sensor.
    let fan1 = Reference {
        class: "CIM_NumericSensor".into(),
        keys: sensor_keys("CIM_NumericSensor", "FAN1"),
    };
    let (_, up) =
        cim::associations(&mut m, &fan1, None, Some("PartComponent"), None, None, 0).unwrap();
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].class, "CIM_ComputerSystem");

    let log = Reference {
        class: "CIM_RecordLog".into(),
        keys: sel(&[("InstanceID", cim::LOG_INSTANCE_ID)]),
    };
    let (_, records) = cim::associations(
        &mut m,
        &log,
        Some("CIM_LogManagesRecord"),
        None,
        None,
        None,
        0,
    )
    .unwrap();
    assert_eq!(records.len(), m.sel_entries().len());

    let ghost = Reference {
        class: "CIM_NumericSensor".into(),
        keys: sensor_keys("CIM_NumericSensor", "FAN9"),
    };
    assert!(matches!(
        cim::associations(&mut m, &ghost, None, None, None, None, 0),
        Err(CimError::NotFound { .. })
    ));
    assert!(matches!(
        cim::associations(&mut m, &system_ref(), Some("CIM_Nope"), None, None, None, 0),
        Err(CimError::UnknownClass { .. })
    ));
}

#[test]
fn association_instances_can_be_fetched_by_their_reference_keys() {
    let mut m = default_machine();
    let all = cim::enumerate(&mut m, "CIM_SystemDevice", 0, false).unwrap();
    let got = cim::get(&mut m, "CIM_SystemDevice", &all[3].keys, 0).unwrap();
    assert_eq!(got, all[3]);
    let path = all[3].keys[1].1.clone();
    let parsed = Reference::parse_object_path(&path).unwrap();
    assert_eq!(parsed.object_path(), path);
    let r = cim::get(
        &mut m,
        "CIM_SystemDevice",
        &sel(&[("GroupComponent", "garbage"), ("PartComponent", &path)]),
        0,
    );
    assert!(matches!(r, Err(CimError::NotFound { .. })), "{r:?}");
}

#[derive(serde::Deserialize)]
struct Scenario {
    machine: MachineSpec,
}

fn example() -> Machine {
    let s: Scenario = toml::from_str(include_str!("fixtures/full.toml")).unwrap();
    Machine::new(s.machine, 0).unwrap()
}

#[test]
fn extra_instances_enumerate_get_and_associate() {
    let mut m = example();
    let chassis = cim::enumerate(&mut m, "CIM_Chassis", 0, true).unwrap();
    assert_eq!(chassis.len(), 1);
    assert_eq!(uint(&chassis[0], "ChassisPackageType"), 17);
    let keys = sel(&[("CreationClassName", "CIM_Chassis"), ("Tag", "CX22-000123")]);
    assert_eq!(
        cim::get(&mut m, "CIM_Chassis", &keys, 0).unwrap(),
        chassis[0]
    );
    let cs = Reference {
        class: "CIM_ComputerSystem".into(),
        keys: sel(&[
            ("CreationClassName", "CIM_ComputerSystem"),
            ("Name", "cx2200-lab01"),
        ]),
    };
    let (assocs, ends) = cim::associations(
        &mut m,
        &cs,
        Some("Contoso_ComputerSystemPackage"),
        None,
        None,
        None,
        0,
    )
    .unwrap();
    assert_eq!(assocs.len(), 1);
    assert_eq!(ends, chassis);
}

/// A keyless extra instance is a singleton: Get without selectors, Put of its
/// properties, no selectors accepted; a second keyless instance of the class is refused.
#[test]
fn keyless_singletons() {
    let spec: Scenario = toml::from_str(
        r#"
[[machine.instances]]
class = "Service"
[machine.instances.properties]
MaxConnections = 300
AllowUnencrypted = false
"#,
    )
    .unwrap();
    let mut m = Machine::new(spec.machine, 0).unwrap();
    let i = cim::get(&mut m, "Service", &[], 0).unwrap();
    assert!(i.keys.is_empty());
    assert_eq!(uint(&i, "MaxConnections"), 300);
    let all = cim::enumerate(&mut m, "Service", 0, true).unwrap();
    assert_eq!(all, vec![i]);
    let i = cim::put(
        &mut m,
        "Service",
        &[],
        &sel(&[("AllowUnencrypted", "true")]),
        0,
    )
    .unwrap();
    assert_eq!(i.get("AllowUnencrypted"), Some(&Value::Bool(true)));
    assert!(matches!(
        cim::get(&mut m, "Service", &sel(&[("Name", "x")]), 0),
        Err(CimError::UnexpectedSelectors { .. })
    ));

    let two: Scenario = toml::from_str(
        r#"
[[machine.instances]]
class = "Service"
properties = { A = 1 }
[[machine.instances]]
class = "Service"
properties = { A = 2 }
"#,
    )
    .unwrap();
    let err = two.machine.validate().unwrap_err().to_string();
    assert!(err.contains("no key properties"), "{err}");
}

#[test]
fn create_put_and_delete_extra_instances() {
    let mut m = example();
    let props = sel(&[
        ("CreationClassName", "CIM_Chassis"),
        ("Tag", "SPARE-1"),
        ("ChassisPackageType", "3"),
    ]);
    let r = cim::create(&mut m, "CIM_Chassis", &props).unwrap();
    assert_eq!(
        r.keys,
        sel(&[("CreationClassName", "CIM_Chassis"), ("Tag", "SPARE-1")])
    );
    let i = cim::get(&mut m, "CIM_Chassis", &r.keys, 0).unwrap();
    assert_eq!(
        uint(&i, "ChassisPackageType"),
        3,
        "typed like the existing instances"
    );
    assert!(matches!(
        cim::create(&mut m, "CIM_Chassis", &props),
        Err(CimError::AlreadyExists { .. })
    ));
    let r2 = cim::create(
        &mut m,
        "Vendor_Widget",
        &sel(&[("InstanceID", "w1"), ("Colour", "red")]),
    )
    .unwrap();
    assert_eq!(count(&mut m, "Vendor_Widget", false), 1);
    assert!(matches!(
        cim::create(&mut m, "Vendor_Gadget", &sel(&[("Colour", "red")])),
        Err(CimError::InvalidValue { .. })
    ));
    assert!(matches!(
        cim::create(&mut m, "CIM_NumericSensor", &props),
        Err(CimError::NotSupported {
            operation: "Create",
            ..
        })
    ));

    let i = cim::put(
        &mut m,
        "CIM_Chassis",
        &r.keys,
        &sel(&[("ChassisPackageType", "17")]),
        0,
    )
    .unwrap();
    assert_eq!(uint(&i, "ChassisPackageType"), 17);
    assert!(matches!(
        cim::put(
            &mut m,
            "CIM_Chassis",
            &r.keys,
            &sel(&[("ChassisPackageType", "big")]),
            0
        ),
        Err(CimError::InvalidValue { .. })
    ));
    assert!(matches!(
        cim::put(&mut m, "CIM_Chassis", &r.keys, &sel(&[("Tag", "x")]), 0),
        Err(CimError::NotWritable { .. })
    ));

    cim::delete(&mut m, "CIM_Chassis", &r.keys).unwrap();
    assert!(matches!(
        cim::get(&mut m, "CIM_Chassis", &r.keys, 0),
        Err(CimError::NotFound { .. })
    ));
    cim::delete(&mut m, "Vendor_Widget", &r2.keys).unwrap();
    assert_eq!(
        count(&mut m, "Vendor_Widget", false),
        0,
        "the class stays known"
    );
    assert!(matches!(
        cim::delete(&mut m, "CIM_ComputerSystem", &[]),
        Err(CimError::NotSupported {
            operation: "Delete",
            ..
        })
    ));
}

#[test]
fn a_full_sel_is_traversed_quickly() {
    let spec = MachineSpec {
        sel_capacity: 4095,
        sel: Vec::new(),
        ..MachineSpec::default()
    };
    let mut m = Machine::new(spec, 0).unwrap();
    for n in 0..4095u32 {
        let e = machine::SelEntry::system_event(
            0x12,
            0,
            machine::EventDirection::Assert,
            0x6F,
            [n as u8, 0, 0],
            "",
        );
        m.sel_add(e, u64::from(n)).unwrap();
    }
    let start = std::time::Instant::now();
    let log = Reference {
        class: "CIM_RecordLog".into(),
        keys: sel(&[("InstanceID", cim::LOG_INSTANCE_ID)]),
    };
    let (assocs, records) =
        cim::associations(&mut m, &log, None, None, Some("CIM_LogRecord"), None, 0).unwrap();
    assert_eq!((assocs.len(), records.len()), (4095, 4095));
    let last = records.last().unwrap().keys.clone();
    assert_eq!(
        text(
            &cim::get(&mut m, "CIM_LogRecord", &last, 0).unwrap(),
            "RecordID"
        ),
        "4095"
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

/// `enumerate_shared` answers what `enumerate` does for every class, and hands out a
/// numeric sensor's kept instance (the same `Arc`) exactly while its reading, status,
/// thresholds and name are unchanged.
#[test]
fn shared_instances_are_enumerate_s_and_kept_only_while_unchanged() {
    use std::sync::Arc;
    let mut m = default_machine();
    for c in cim::classes() {
        for poly in [false, true] {
            let plain = cim::enumerate(&mut m, c.name, 0, poly).unwrap();
            let shared = cim::enumerate_shared(&mut m, c.name, 0, poly).unwrap();
            let shared: Vec<Instance> = shared.iter().map(|i| (**i).clone()).collect();
            assert_eq!(shared, plain, "{} polymorphic {poly}", c.name);
        }
    }
    assert_eq!(
        cim::enumerate_shared(&mut m, "CIM_Nothing", 0, true).map(|v| v.len()),
        Err(CimError::UnknownClass {
            class: "CIM_Nothing".into()
        })
    );
    let cpu = |v: &[Arc<Instance>]| {
        v.iter()
            .find(|i| text(i, "DeviceID") == "CPU1_TEMP")
            .cloned()
            .expect("CPU1_TEMP")
    };
    let sensors =
        |m: &mut Machine, now| cim::enumerate_shared(m, "CIM_NumericSensor", now, false).unwrap();
    let first = cpu(&sensors(&mut m, 0));
    let again = cpu(&sensors(&mut m, 0));
    assert!(Arc::ptr_eq(&first, &again), "unchanged, yet built again");

    // A new reading.
    m.set_sensor("CPU1_TEMP", 96.0, 1000).unwrap();
    let hot = cpu(&sensors(&mut m, 1000));
    assert!(!Arc::ptr_eq(&first, &hot));
    assert_ne!(int(&hot, "CurrentReading"), int(&first, "CurrentReading"));
    assert!(Arc::ptr_eq(&hot, &cpu(&sensors(&mut m, 1000))));

    // New thresholds (the same reading).
    let mut th = *m
        .numeric_sensors()
        .iter()
        .find(|s| s.id() == "CPU1_TEMP")
        .unwrap()
        .thresholds();
    th.upper_non_critical = th.upper_non_critical.map(|v| v - 1.0);
    m.set_thresholds("CPU1_TEMP", th).unwrap();
    let moved = cpu(&sensors(&mut m, 1000));
    assert!(!Arc::ptr_eq(&hot, &moved));
    assert_ne!(*moved, *hot);

    // A new name.
    m.set_sensor_name("CPU1_TEMP", "Processor 1").unwrap();
    let renamed = cpu(&sensors(&mut m, 1000));
    assert!(!Arc::ptr_eq(&moved, &renamed));
    assert_eq!(text(&renamed, "ElementName"), "Processor 1");

    // Every change is what enumerate says now.
    let plain = cim::enumerate(&mut m, "CIM_NumericSensor", 1000, false).unwrap();
    let shared: Vec<Instance> = sensors(&mut m, 1000)
        .iter()
        .map(|i| (**i).clone())
        .collect();
    assert_eq!(shared, plain);
}

/// `get_shared` answers what `get` does, and hands out the computer system's kept
/// instance (the same `Arc`) exactly while its health, power, requested state, last
/// change, element name and identity are unchanged.
#[test]
fn a_shared_get_is_get_s_and_kept_only_while_unchanged() {
    use std::sync::Arc;
    let mut m = default_machine();
    let get = |m: &mut Machine, class: &str, keys: &[(String, String)], now| {
        let shared = cim::get_shared(m, class, keys, now).unwrap();
        assert_eq!(*shared, cim::get(m, class, keys, now).unwrap(), "{class}");
        shared
    };
    for class in ["CIM_ComputerSystem", "CIM_NumericSensor", "CIM_RecordLog"] {
        for inst in cim::enumerate(&mut m, class, 0, false).unwrap() {
            let keys: Vec<(String, String)> = inst.keys.clone();
            get(&mut m, class, &keys, 0);
        }
    }
    assert_eq!(
        cim::get_shared(&mut m, "CIM_Nothing", &[], 0).map(|_| ()),
        cim::get(&mut m, "CIM_Nothing", &[], 0).map(|_| ())
    );
    let cs = |m: &mut Machine, now| get(m, "CIM_ComputerSystem", &[], now);
    let first = cs(&mut m, 0);
    assert!(
        Arc::ptr_eq(&first, &cs(&mut m, 0)),
        "unchanged, yet built again"
    );
    assert!(
        Arc::ptr_eq(&first, &cs(&mut m, 500)),
        "time alone changes nothing"
    );

    // Health: a sensor past its critical threshold.
    m.set_sensor("CPU1_TEMP", 150.0, 1000).unwrap();
    let sick = cs(&mut m, 1000);
    assert!(!Arc::ptr_eq(&first, &sick));
    assert_ne!(uint(&sick, "HealthState"), uint(&first, "HealthState"));
    m.clear_override("CPU1_TEMP", 1000).unwrap();

    // Power (state and its time of change) through RequestStateChange.
    let before = cs(&mut m, 2000);
    cim::invoke(
        &mut m,
        "CIM_ComputerSystem",
        &[],
        "RequestStateChange",
        &sel(&[("RequestedState", "3")]),
        2000,
    )
    .unwrap();
    let off = cs(&mut m, 60_000);
    assert!(!Arc::ptr_eq(&before, &off));
    assert_ne!(uint(&off, "EnabledState"), uint(&before, "EnabledState"));

    // The element name.
    cim::put(
        &mut m,
        "CIM_ComputerSystem",
        &[],
        &sel(&[("ElementName", "rack 4 slot 2")]),
        60_000,
    )
    .unwrap();
    let renamed = cs(&mut m, 60_000);
    assert!(!Arc::ptr_eq(&off, &renamed));
    assert_eq!(text(&renamed, "ElementName"), "rack 4 slot 2");
    assert!(Arc::ptr_eq(&renamed, &cs(&mut m, 60_000)));
}

/// `get_shared_borrowed` (the selectors as a request holds them) finds what
/// `get_shared` finds and refuses what it refuses: the computer system by its two
/// keys (names in any case), a sensor by its four, and neither with a key's value
/// changed.
#[test]
fn a_get_with_borrowed_selectors_answers_as_with_owned_ones() {
    let mut m = default_machine();
    let host = m.hostname().to_owned();
    let cs = "CIM_ComputerSystem";
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (cs, vec![]),
        (cs, vec![("CreationClassName", cs), ("Name", &host)]),
        (cs, vec![("name", &host), ("creationclassname", cs)]),
        (
            cs,
            vec![("CreationClassName", cs), ("Name", "someone-else")],
        ),
        (
            cs,
            vec![("CreationClassName", "CIM_Other"), ("Name", &host)],
        ),
        (cs, vec![("Name", &host)]),
        (
            cs,
            vec![("CreationClassName", cs), ("Name", &host), ("Bogus", "1")],
        ),
        (
            "CIM_NumericSensor",
            vec![
                ("CreationClassName", "CIM_NumericSensor"),
                ("DeviceID", "FAN1"),
                ("SystemCreationClassName", cs),
                ("SystemName", &host),
            ],
        ),
        (
            "CIM_NumericSensor",
            vec![
                ("CreationClassName", "CIM_NumericSensor"),
                ("DeviceID", "FAN1"),
                ("SystemCreationClassName", cs),
                ("SystemName", "someone-else"),
            ],
        ),
        ("CIM_Nothing", vec![]),
    ];
    let mut found = 0;
    for (class, keys) in &cases {
        let owned = cim::get_shared(&mut m, class, &sel(keys), 0).map(|i| (*i).clone());
        let borrowed = cim::get_shared_borrowed(&mut m, class, keys, 0).map(|i| (*i).clone());
        assert_eq!(borrowed, owned, "{class} {keys:?}");
        found += usize::from(owned.is_ok());
    }
    // The system with no keys, by its keys twice, and the sensor.
    assert_eq!(found, 4);
}
