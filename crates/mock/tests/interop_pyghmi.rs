//! pyghmi (RMCP+) and python-ipmi (IPMI 1.5) against the mock's IPMI listener: power,
//! sensors, inventory, event log and users, checked against what WS-Man shows.
//! Skipped locally (with a visible reason) when the package is missing; a failure
//! under `CI=true`.

mod interop;

use interop::ipmi::{CALL_DEADLINE, IpmiMock, by_element_name, values, wsman_readings};
use interop::{Finished, Requirement, run_with_deadline};

fn steps(run: &Finished) -> Vec<serde_json::Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{}", run.report())))
        .collect()
}

fn step<'a>(steps: &'a [serde_json::Value], name: &str, run: &Finished) -> &'a serde_json::Value {
    steps
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name}:\n{}", run.report()))
}

/// pyghmi (1.6) registers its wait for an answer after sending; an answer that is
/// already there when it starts waiting is only noticed at its retry timer, 0.5-1 s
/// later (seen in the journal as gaps before the next request, with every request
/// answered at once). Over a network a BMC never answers that fast; this scenario gives
/// the mock 2 ms of latency so the race is not hit and the timings mean something.
const BMC_LATENCY: &str = r#"
[[ipmi.rules]]
name = "BMC response latency"
action = { delay_ms = 2 }
"#;

fn run_script(m: &IpmiMock, script: &str, password: &str) -> Finished {
    let mut c = interop::python3();
    c.arg(interop::script(script))
        .args(["127.0.0.1", &m.port().to_string(), "admin", password]);
    let run = run_with_deadline(&mut c, CALL_DEADLINE);
    assert!(run.success(), "{}", run.report());
    run
}

/// The script's steps, each of which took well under the hang guard (their timings
/// shown).
fn quick_steps(run: &Finished, client: &str) -> Vec<serde_json::Value> {
    let steps = steps(run);
    eprintln!(
        "{client} steps: {}",
        steps
            .iter()
            .map(|x| format!("{} {} ms", x["step"], x["ms"]))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for s in &steps {
        let ms = s["ms"].as_f64().unwrap_or(f64::MAX);
        assert!(
            ms < 2000.0,
            "step {} took {ms} ms:\n{}",
            s["step"],
            run.report()
        );
    }
    steps
}

fn have_pyghmi(test: &str) -> bool {
    Requirement::python_module("pyghmi", "pip install pyghmi").check(test)
}

fn have_pyipmi(test: &str) -> bool {
    Requirement::python_module("pyipmi", "pip install python-ipmi").check(test)
}

#[cfg_attr(
    not(has_pyghmi),
    ignore = "pyghmi is not installed: python3 -m pip install pyghmi"
)]
#[test]
fn pyghmi_power_sensors_inventory_events_users() {
    if !have_pyghmi("pyghmi_power_sensors_inventory_events_users") {
        return;
    }
    let m = IpmiMock::start(Some(BMC_LATENCY));
    let run = run_script(&m, "ipmi_pyghmi.py", "admin");
    let s = quick_steps(&run, "pyghmi");
    assert_eq!(step(&s, "power", &run)["state"], "on");
    assert_eq!(step(&s, "power_after_off", &run)["state"], "off");
    // The script turned it back on: WS-Man agrees.
    let enabled = values(&m.enumerate("CIM_ComputerSystem"), "EnabledState");
    assert_eq!(enabled.first().map(String::as_str), Some("2"));

    let sensors = step(&s, "sensors", &run)["sensors"]
        .as_array()
        .unwrap()
        .clone();
    for (name, value, tolerance) in &wsman_readings(&m) {
        let shown = sensors
            .iter()
            .find(|x| x["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} missing: {sensors:?}"))["value"]
            .as_f64()
            .unwrap();
        assert!(
            (shown - value).abs() <= tolerance + 1e-6,
            "{name}: {shown} vs {value}"
        );
    }

    assert_all_answered(&m);
    let inventory = step(&s, "inventory", &run);
    assert_eq!(inventory["serial"], "TSCH000001");
    let records = values(&m.enumerate("CIM_LogRecord"), "RecordID").len();
    assert_eq!(step(&s, "event_log", &run)["count"], records as u64);
    let users = &step(&s, "users", &run)["users"];
    assert_eq!(users["2"], "admin");
    assert_eq!(users["3"], "operator");
}

#[cfg_attr(
    not(has_pyghmi),
    ignore = "pyghmi is not installed: python3 -m pip install pyghmi"
)]
#[test]
fn pyghmi_wrong_password_is_refused() {
    if !have_pyghmi("pyghmi_wrong_password_is_refused") {
        return;
    }
    let m = IpmiMock::start(Some(BMC_LATENCY));
    let run = run_script(&m, "ipmi_pyghmi.py", "wrong");
    let s = steps(&run);
    let failed = step(&s, "login_failed", &run);
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("Incorrect password"),
        "{}",
        run.report()
    );
    assert!(!s.iter().any(|x| x["step"] == "power"));
}

#[cfg_attr(
    not(has_pyipmi),
    ignore = "python-ipmi is not installed: python3 -m pip install python-ipmi"
)]
#[test]
fn python_ipmi_over_ipmi15() {
    if !have_pyipmi("python_ipmi_over_ipmi15") {
        return;
    }
    let m = IpmiMock::start(None);
    let run = run_script(&m, "ipmi_pyipmi.py", "admin");
    let s = quick_steps(&run, "python-ipmi");
    assert_eq!(step(&s, "device_id", &run)["device_id"], 32);
    assert_eq!(step(&s, "chassis", &run)["power_on"], true);
    assert_eq!(step(&s, "power_down", &run)["power_on"], false);
    assert_eq!(step(&s, "power_up", &run)["power_on"], true);
    let names: Vec<&str> = step(&s, "sdr", &run)["names"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    for (name, _) in by_element_name(&m.enumerate("CIM_NumericSensor"), "CurrentReading") {
        assert!(names.contains(&name.as_str()), "{name} not in {names:?}");
    }
    let records = values(&m.enumerate("CIM_LogRecord"), "RecordID").len();
    assert_eq!(step(&s, "sel", &run)["count"], records as u64);
    step(&s, "close", &run);
    // It ran as an IPMI 1.5 session (big-endian session ID/sequence and all).
    let journal = m.ipmi_journal();
    assert!(
        journal
            .iter()
            .any(|r| r.kind == "ipmi15" && r.command.as_deref() == Some("get_sel_entry")),
        "{journal:#?}"
    );
    assert!(journal.iter().all(|r| r.dropped.is_none()), "{journal:#?}");
}

#[cfg_attr(
    not(has_pyipmi),
    ignore = "python-ipmi is not installed: python3 -m pip install python-ipmi"
)]
#[test]
fn python_ipmi_wrong_password_is_refused() {
    if !have_pyipmi("python_ipmi_wrong_password_is_refused") {
        return;
    }
    let m = IpmiMock::start(None);
    let run = run_script(&m, "ipmi_pyipmi.py", "wrong");
    let s = steps(&run);
    step(&s, "login_failed", &run);
    assert!(
        !s.iter().any(|x| x["step"] == "device_id"),
        "{}",
        run.report()
    );
}

/// Every datagram was answered (nothing the client waited on went unanswered).
fn assert_all_answered(m: &IpmiMock) {
    let journal = m.ipmi_journal();
    assert!(
        journal.iter().all(|r| r.dropped.is_none() && r.replies > 0),
        "{journal:#?}"
    );
}
