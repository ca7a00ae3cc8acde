//! freeipmi against the mock's IPMI listener, IPMI 2.0 (`-D LAN_2_0`) with no
//! workaround flags: bmc-info, ipmi-sensors, ipmi-sel, ipmi-fru, ipmi-chassis,
//! ipmipower and ipmiconsole. Skipped locally (with a visible reason) when freeipmi is
//! missing; a failure under `CI=true`.

mod interop;

use std::process::Command;

use interop::ipmi::{
    CALL_DEADLINE, IpmiMock, assert_read_in_pieces, call_ok, field, mock_toml, read_counts,
    run_sol, scenario_guid, values, wsman_readings,
};
use interop::{Requirement, TempFile, run_with_deadline};

fn have_freeipmi(test: &str) -> bool {
    Requirement::program("bmc-info", &["--version"], "apt-get install freeipmi-tools").check(test)
}

/// `TOOL -h 127.0.0.1:PORT -u admin -p PASSWORD -D LAN_2_0 --config-file=/dev/null ARGS`.
fn tool(m: &IpmiMock, program: &str, password: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.arg(format!("--hostname=127.0.0.1:{}", m.port()))
        .args(["-u", "admin", "-p", password, "-D", "LAN_2_0"])
        .arg("--config-file=/dev/null")
        .args(args);
    c
}

#[cfg_attr(
    not(has_freeipmi),
    ignore = "freeipmi is not installed: apt-get update && apt-get install -y freeipmi-tools"
)]
#[test]
fn bmc_info_sensors_sel_fru_chassis() {
    if !have_freeipmi("bmc_info_sensors_sel_fru_chassis") {
        return;
    }
    let m = IpmiMock::start(None);
    let info = call_ok(&mut tool(&m, "bmc-info", "admin", &[]));
    assert_eq!(
        field(&info.stdout, "IPMI Version"),
        Some("2.0"),
        "{}",
        info.report()
    );
    assert_eq!(field(&info.stdout, "Firmware Revision"), Some("2.10"));

    // A fresh SDR cache per run, so the sensors come from this mock.
    let cache = TempFile::new("freeipmi-sdr", ".d", "");
    std::fs::remove_file(cache.path()).ok();
    std::fs::create_dir_all(cache.path()).expect("cache dir");
    let cache_arg = format!("--sdr-cache-directory={}", cache.path().display());
    let sensors = call_ok(&mut tool(
        &m,
        "ipmi-sensors",
        "admin",
        &[&cache_arg, "--quiet-cache"],
    ));
    let cim = wsman_readings(&m);
    assert!(!cim.is_empty());
    for (name, value, tolerance) in &cim {
        // `ID | Name | Type | Reading | Units | Event`
        let row = sensors
            .stdout
            .lines()
            .find(|l| l.split('|').nth(1).map(str::trim) == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{name} missing:\n{}", sensors.stdout));
        let shown: f64 = row.split('|').nth(3).unwrap().trim().parse().unwrap();
        assert!(
            (shown - value).abs() <= tolerance + 1e-6,
            "{name}: {shown} vs {value}"
        );
        assert!(row.contains("'OK'"), "{row}");
    }

    let records = values(&m.enumerate("CIM_LogRecord"), "RecordID").len();
    let sel = call_ok(&mut tool(
        &m,
        "ipmi-sel",
        "admin",
        &[&cache_arg, "--quiet-cache"],
    ));
    let rows = sel
        .stdout
        .lines()
        .skip(1)
        .filter(|l| l.contains('|'))
        .count();
    assert_eq!(rows, records, "{}", sel.report());
    std::fs::remove_dir_all(cache.path()).ok();

    let fru = call_ok(&mut tool(&m, "ipmi-fru", "admin", &[]));
    assert_eq!(
        field(&fru.stdout, "FRU Chassis Serial Number"),
        Some("TSCH000001"),
        "{}",
        fru.report()
    );
    assert_eq!(
        field(&fru.stdout, "FRU Board Manufacturer"),
        Some("Touchstone")
    );

    let chassis = call_ok(&mut tool(
        &m,
        "ipmi-chassis",
        "admin",
        &["--get-chassis-status"],
    ));
    assert_eq!(
        field(&chassis.stdout, "System Power"),
        Some("on"),
        "{}",
        chassis.report()
    );
    eprintln!(
        "freeipmi: bmc-info {} ms, ipmi-sensors {} ms, ipmi-sel {} ms, ipmi-fru {} ms, ipmi-chassis {} ms",
        info.elapsed.as_millis(),
        sensors.elapsed.as_millis(),
        sel.elapsed.as_millis(),
        fru.elapsed.as_millis(),
        chassis.elapsed.as_millis()
    );
    let journal = m.ipmi_journal();
    assert!(journal.iter().all(|r| r.dropped.is_none()), "{journal:#?}");
}

#[cfg_attr(
    not(has_freeipmi),
    ignore = "freeipmi is not installed: apt-get update && apt-get install -y freeipmi-tools"
)]
#[test]
fn ipmipower_changes_what_wsman_shows() {
    if !have_freeipmi("ipmipower_changes_what_wsman_shows") {
        return;
    }
    let m = IpmiMock::start(None);
    let enabled = || {
        values(&m.enumerate("CIM_ComputerSystem"), "EnabledState")
            .into_iter()
            .next()
            .unwrap()
    };
    let stat = call_ok(&mut tool(&m, "ipmipower", "admin", &["--stat"]));
    assert_eq!(stat.stdout.trim(), "127.0.0.1: on", "{}", stat.report());
    let off = call_ok(&mut tool(&m, "ipmipower", "admin", &["--off"]));
    assert_eq!(off.stdout.trim(), "127.0.0.1: ok", "{}", off.report());
    assert_eq!(enabled(), "3");
    let stat = call_ok(&mut tool(&m, "ipmipower", "admin", &["--stat"]));
    assert_eq!(stat.stdout.trim(), "127.0.0.1: off");
    let on = call_ok(&mut tool(&m, "ipmipower", "admin", &["--on"]));
    assert_eq!(on.stdout.trim(), "127.0.0.1: ok");
    assert_eq!(enabled(), "2");
    eprintln!(
        "freeipmi: ipmipower --stat {} ms, --off {} ms",
        stat.elapsed.as_millis(),
        off.elapsed.as_millis()
    );
}

#[cfg_attr(
    not(has_freeipmi),
    ignore = "freeipmi is not installed: apt-get update && apt-get install -y freeipmi-tools"
)]
#[test]
fn ipmiconsole_shows_the_scripted_console_and_echoes() {
    if !have_freeipmi("ipmiconsole_shows_the_scripted_console_and_echoes") {
        return;
    }
    // ipmiconsole 1.6.10 refuses `HOST:PORT` with a port above 32767.
    let m = IpmiMock::start_low_port(None);
    let mut c = interop::python3();
    c.arg(interop::script("ipmi_sol.py"))
        .args(["login: ", "hello-console", "&.", "--", "ipmiconsole"])
        .arg(format!("--hostname=127.0.0.1:{}", m.port()))
        .args(["-u", "admin", "-p", "admin", "--config-file=/dev/null"]);
    run_sol(&mut c);
    let journal = m.ipmi_journal();
    assert!(
        journal
            .iter()
            .any(|r| r.command.as_deref() == Some("activate_payload")
                && r.completion_code == Some(0))
    );
    assert!(
        journal
            .iter()
            .any(|r| r.kind == "sol" && r.request_hex.contains("68656c6c6f2d636f6e736f6c65")),
        "{journal:#?}"
    );
}

#[cfg_attr(
    not(has_freeipmi),
    ignore = "freeipmi is not installed: apt-get update && apt-get install -y freeipmi-tools"
)]
#[test]
fn a_wrong_password_is_refused() {
    if !have_freeipmi("a_wrong_password_is_refused") {
        return;
    }
    let m = IpmiMock::start(None);
    let run = run_with_deadline(&mut tool(&m, "bmc-info", "wrong", &[]), CALL_DEADLINE);
    assert!(!run.success() && !run.timed_out, "{}", run.report());
    assert!(
        run.stderr.to_lowercase().contains("password"),
        "{}",
        run.report()
    );
    assert!(run.elapsed < interop::ipmi::CALL_GUARD, "{}", run.report());
    let run = run_with_deadline(
        &mut tool(&m, "ipmipower", "wrong", &["--stat"]),
        CALL_DEADLINE,
    );
    assert!(!run.stdout.contains(": on"), "{}", run.report());
    assert!(
        run.stdout.to_lowercase().contains("password"),
        "{}",
        run.report()
    );
}

#[cfg_attr(
    not(has_freeipmi),
    ignore = "freeipmi is not installed: apt-get update && apt-get install -y freeipmi-tools"
)]
#[test]
fn bmc_info_prints_the_scenario_guid() {
    if !have_freeipmi("bmc_info_prints_the_scenario_guid") {
        return;
    }
    let m = IpmiMock::start(None);
    let guid = call_ok(&mut tool(&m, "bmc-info", "admin", &["--get-system-guid"]));
    assert_eq!(guid.stdout.trim(), scenario_guid(None), "{}", guid.report());
    let all = call_ok(&mut tool(&m, "bmc-info", "admin", &[]));
    assert_eq!(
        field(&all.stdout, "System GUID"),
        Some(scenario_guid(None).as_str()),
        "{}",
        all.report()
    );
}

#[cfg_attr(
    not(has_freeipmi),
    ignore = "freeipmi is not installed: apt-get update && apt-get install -y freeipmi-tools"
)]
#[test]
fn small_reads_sensors_and_fru_read_in_16_byte_pieces() {
    if !have_freeipmi("small_reads_sensors_and_fru_read_in_16_byte_pieces") {
        return;
    }
    let toml = mock_toml("ipmi-small-reads.toml");
    let m = IpmiMock::start(Some(&toml));
    let cache = TempFile::new("freeipmi-sdr", ".d", "");
    std::fs::remove_file(cache.path()).ok();
    std::fs::create_dir_all(cache.path()).expect("cache dir");
    let cache_arg = format!("--sdr-cache-directory={}", cache.path().display());
    let sensors = call_ok(&mut tool(
        &m,
        "ipmi-sensors",
        "admin",
        &[&cache_arg, "--quiet-cache"],
    ));
    for (name, value, tolerance) in &wsman_readings(&m) {
        let row = sensors
            .stdout
            .lines()
            .find(|l| l.split('|').nth(1).map(str::trim) == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{name} missing:\n{}", sensors.report()));
        let shown: f64 = row.split('|').nth(3).unwrap().trim().parse().unwrap();
        assert!(
            (shown - value).abs() <= tolerance + 1e-6,
            "{name}: {shown} vs {value}"
        );
    }
    let journal = m.ipmi_journal();
    eprintln!(
        "ipmi-sensors, Get SDR (count, cc): {:?}",
        read_counts(&journal, "get_sdr")
    );
    assert_read_in_pieces(&journal, "get_sdr", 16, true);
    std::fs::remove_dir_all(cache.path()).ok();

    m.server().journal_handle().clear();
    let fru = call_ok(&mut tool(&m, "ipmi-fru", "admin", &[]));
    assert_eq!(
        field(&fru.stdout, "FRU Chassis Serial Number"),
        Some("TSCH000001"),
        "{}",
        fru.report()
    );
    assert_eq!(
        field(&fru.stdout, "FRU Product Asset Tag"),
        Some("ASSET-0001")
    );
    let journal = m.ipmi_journal();
    eprintln!(
        "ipmi-fru, Read FRU Data (count, cc): {:?}",
        read_counts(&journal, "read_fru_data")
    );
    // ipmi-fru asks for 16 bytes at most from the start.
    assert_read_in_pieces(&journal, "read_fru_data", 16, false);
}

#[cfg_attr(
    not(has_freeipmi),
    ignore = "freeipmi is not installed: apt-get update && apt-get install -y freeipmi-tools"
)]
#[test]
fn chassis_only_bmc_info_and_chassis_status() {
    if !have_freeipmi("chassis_only_bmc_info_and_chassis_status") {
        return;
    }
    let toml = mock_toml("ipmi-chassis-only.toml");
    let m = IpmiMock::start(Some(&toml));
    let info = call_ok(&mut tool(&m, "bmc-info", "admin", &["--get-device-id"]));
    assert_eq!(
        field(&info.stdout, "Chassis Device"),
        Some("supported"),
        "{}",
        info.report()
    );
    for device in [
        "Sensor Device",
        "SDR Repository Device",
        "SEL Device",
        "FRU Inventory Device",
    ] {
        assert_eq!(field(&info.stdout, device), Some("unsupported"), "{device}");
    }
    let guid = call_ok(&mut tool(&m, "bmc-info", "admin", &["--get-system-guid"]));
    assert_eq!(guid.stdout.trim(), scenario_guid(Some(&toml)));
    let chassis = call_ok(&mut tool(
        &m,
        "ipmi-chassis",
        "admin",
        &["--get-chassis-status"],
    ));
    assert_eq!(
        field(&chassis.stdout, "System Power"),
        Some("on"),
        "{}",
        chassis.report()
    );
}
