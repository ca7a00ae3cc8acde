//! Property tests: round trips, and "never panics" over arbitrary specs and calls.

use machine::cim;
use machine::sensor::RandomWalkSpec;
use machine::spec::SensorSpec;
use machine::{
    CommandSpec, Machine, MachineSpec, MatchKind, PowerAction, SelEntry, SensorType, Thresholds,
};
use proptest::prelude::*;

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1000.0f64..1000.0,
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(0.0),
        any::<f64>(),
    ]
}

fn opt_f64() -> impl Strategy<Value = Option<f64>> {
    prop::option::of(any_f64())
}

prop_compose! {
    fn arb_sensor()(
        th in prop::collection::vec(opt_f64(), 6),
        resolution in any_f64(),
        offset in any_f64(),
        nominal in opt_f64(),
        source in 0u8..5,
        c in any_f64(),
        seq in prop::collection::vec(any_f64(), 0..4),
        step_ms in prop::option::of(0u64..5000),
        walk in (any_f64(), any_f64(), any::<u64>(), 0u64..1000, any_f64(), any_f64()),
        expr in prop::sample::select(vec!["t", "t / 0.0", "sqrt(-1.0)", "40 + sin(t)", "\"x\"", "1 +", "t_ms * t_ms"]),
        number in prop::option::of(any::<u8>()),
    ) -> SensorSpec {
        SensorSpec {
            thresholds: Thresholds {
                lower_non_recoverable: th[0],
                lower_critical: th[1],
                lower_non_critical: th[2],
                upper_non_critical: th[3],
                upper_critical: th[4],
                upper_non_recoverable: th[5],
            },
            resolution,
            offset,
            nominal,
            sensor_number: number,
            constant: (source == 1).then_some(c),
            sequence: (source == 2).then_some(seq),
            step_ms: if source == 2 { step_ms } else { None },
            random_walk: (source == 3).then_some(RandomWalkSpec {
                start: walk.0, step: walk.1, seed: walk.2, step_ms: walk.3, min: walk.4, max: walk.5,
            }),
            expr: (source == 4).then(|| expr.to_owned()),
            ..SensorSpec::new("P", "Prop", SensorType::Temperature, 0.0)
        }
    }
}

proptest! {
    /// Invariant: any 16-byte SEL record survives from_bytes → to_bytes unchanged.
    #[test]
    fn sel_record_round_trip(bytes in prop::array::uniform16(any::<u8>())) {
        prop_assert_eq!(SelEntry::from_bytes(&bytes).to_bytes(), bytes);
    }

    /// Invariant: a spec either fails validation or builds a machine whose readings
    /// never panic and stay inside the sensor's raw range.
    #[test]
    fn arbitrary_sensors_never_panic(s in arb_sensor(), times in prop::collection::vec(0u64..10_000_000, 1..6)) {
        let spec = MachineSpec { sensors: vec![s], ..MachineSpec::default() };
        if spec.validate().is_ok() {
            let mut m = Machine::new(spec, 0).unwrap();
            for t in times {
                let v = m.reading("P", t).unwrap();
                let sn = m.numeric_sensor("P").unwrap();
                let lo = sn.offset();
                let hi = sn.offset() + 255.0 * sn.resolution();
                prop_assert!(v >= lo - 1e-9 && v <= hi + 1e-9, "{} outside {}..{}", v, lo, hi);
                cim::enumerate(&mut m, "CIM_NumericSensor", t, false).unwrap();
            }
        } else {
            prop_assert!(Machine::new(spec, 0).is_err());
        }
    }

    /// Invariant: matching never panics, whatever the pattern and the line.
    #[test]
    fn command_matching_never_panics(pattern in ".{0,24}", line in ".{0,40}", kind in 0u8..3, ignore_case: bool) {
        let c = CommandSpec {
            match_kind: [MatchKind::Exact, MatchKind::Glob, MatchKind::Regex][usize::from(kind)],
            ignore_case,
            ..CommandSpec::exact(pattern.clone(), "")
        };
        let _ = c.matches(&line);
        if kind == 0 {
            prop_assert_eq!(c.matches(&pattern), true);
        }
    }

    /// Invariant: any sequence of power actions at non-decreasing times is answered
    /// (accepted or refused) without panicking, and the state at each time is defined.
    #[test]
    fn power_actions_never_panic(actions in prop::collection::vec((0u8..6, 0u64..20_000), 0..20)) {
        let mut m = Machine::new(MachineSpec::default(), 0).unwrap();
        let mut now = 0;
        for (a, dt) in actions {
            now += dt;
            let action = PowerAction::from_ipmi(a).unwrap();
            let _ = m.chassis_control(action, now);
            let _ = m.power_state(now + 100_000);
            prop_assert!(m.power_on_ms(now) <= now);
        }
    }

    /// Invariant: arbitrary selectors and Put changes give results or errors, never panics.
    #[test]
    fn cim_calls_never_panic(
        class in prop::sample::select(vec!["CIM_NumericSensor", "CIM_Sensor", "CIM_ComputerSystem", "CIM_LogRecord", "CIM_SystemDevice", "X"]),
        keys in prop::collection::vec(("[A-Za-z_]{1,12}", ".{0,12}"), 0..5),
        change in ("[A-Za-z]{1,26}", ".{0,8}"),
    ) {
        let mut m = Machine::new(MachineSpec::default(), 0).unwrap();
        let _ = cim::get(&mut m, class, &keys, 0);
        let _ = cim::put(&mut m, class, &keys, std::slice::from_ref(&change), 0);
        let _ = cim::invoke(&mut m, class, &keys, "RequestStateChange", &[change], 0);
        let _ = cim::create(&mut m, class, &keys);
        let _ = cim::delete(&mut m, class, &keys);
    }
}
