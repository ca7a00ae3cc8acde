//! ipmitool against the mock's IPMI listener: RMCP+ (`-I lanplus`) with the default
//! cipher suite choice, `-C 3` and `-C 17`, and IPMI 1.5 (`-I lan`) with MD5 and
//! straight-password authentication. Every value ipmitool prints is checked against
//! what the same machine shows over WS-Man. Skipped locally (with a visible reason)
//! when ipmitool is missing; a failure under `CI=true`.

mod interop;

use std::process::Command;

use interop::ipmi::{
    CALL_DEADLINE, IpmiMock, assert_read_in_pieces, by_element_name, call_ok, field, mock_toml,
    read_counts, run_sol, scenario_guid, values, wsman_readings,
};
use interop::{Requirement, run_with_deadline};

fn have_ipmitool(test: &str) -> bool {
    Requirement::program("ipmitool", &["-V"], "apt-get install ipmitool").check(test)
}

/// `ipmitool -I lanplus [-C suite] -H 127.0.0.1 -p PORT -U admin -P admin ARGS`.
fn lanplus(m: &IpmiMock, suite: Option<&str>, args: &[&str]) -> Command {
    let mut c = Command::new("ipmitool");
    c.args(lanplus_args(m, suite, "admin", args));
    c
}

fn lanplus_args(m: &IpmiMock, suite: Option<&str>, password: &str, args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec!["-I".into(), "lanplus".into()];
    if let Some(s) = suite {
        v.extend(["-C".into(), s.into()]);
    }
    v.extend([
        "-H".into(),
        "127.0.0.1".into(),
        "-p".into(),
        m.port().to_string(),
    ]);
    v.extend(["-U".into(), "admin".into(), "-P".into(), password.into()]);
    v.extend(args.iter().map(|a| a.to_string()));
    v
}

fn lan15(m: &IpmiMock, auth: &str, password: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ipmitool");
    c.args(["-I", "lan", "-A", auth])
        .args(["-H", "127.0.0.1", "-p", &m.port().to_string()])
        .args(["-U", "admin", "-P", password])
        .args(args);
    c
}

/// CIM_ComputerSystem EnabledState over WS-Man (2 enabled, 3 disabled).
fn wsman_enabled_state(m: &IpmiMock) -> String {
    let body = m.enumerate("CIM_ComputerSystem");
    values(&body, "EnabledState")
        .into_iter()
        .next()
        .expect("EnabledState")
}

#[cfg_attr(
    not(has_ipmitool),
    ignore = "ipmitool is not installed: apt-get update && apt-get install -y ipmitool"
)]
#[test]
fn lanplus_every_suite_choice_logs_in_and_answers() {
    if !have_ipmitool("lanplus_every_suite_choice_logs_in_and_answers") {
        return;
    }
    let m = IpmiMock::start(None);
    for (suite, expect) in [(None, 17u8), (Some("3"), 3), (Some("17"), 17)] {
        m.server().journal_handle().clear();
        let info = call_ok(&mut lanplus(&m, suite, &["mc", "info"]));
        assert_eq!(
            field(&info.stdout, "Manufacturer ID"),
            Some("32473"),
            "{}",
            info.report()
        );
        assert_eq!(field(&info.stdout, "IPMI Version"), Some("2.0"));
        assert_eq!(field(&info.stdout, "Firmware Revision"), Some("2.10"));
        // The session ran with the suite asked for (17 first when none is given).
        let journal = m.ipmi_journal();
        let suites: Vec<u8> = journal
            .iter()
            .filter(|r| r.kind == "rmcpp")
            .filter_map(|r| r.cipher_suite)
            .collect();
        assert!(
            !suites.is_empty() && suites.iter().all(|s| *s == expect),
            "suite {suite:?}: {suites:?}"
        );
        // Nothing went unanswered.
        assert!(journal.iter().all(|r| r.dropped.is_none()), "{journal:#?}");

        let status = call_ok(&mut lanplus(&m, suite, &["chassis", "status"]));
        assert_eq!(field(&status.stdout, "System Power"), Some("on"));
        let sessions = call_ok(&mut lanplus(&m, suite, &["session", "info", "all"]));
        assert_eq!(
            field(&sessions.stdout, "session type"),
            Some("IPMIv2/RMCP+")
        );
        assert_eq!(
            field(&sessions.stdout, "privilege level"),
            Some("ADMINISTRATOR")
        );
        assert_eq!(field(&sessions.stdout, "user id"), Some("2"));
        eprintln!(
            "ipmitool -C {}: mc info {} ms, chassis status {} ms, session info {} ms",
            suite.unwrap_or("default"),
            info.elapsed.as_millis(),
            status.elapsed.as_millis(),
            sessions.elapsed.as_millis()
        );
    }
}

#[cfg_attr(
    not(has_ipmitool),
    ignore = "ipmitool is not installed: apt-get update && apt-get install -y ipmitool"
)]
#[test]
fn chassis_power_control_is_what_wsman_shows() {
    if !have_ipmitool("chassis_power_control_is_what_wsman_shows") {
        return;
    }
    let m = IpmiMock::start(None);
    let power = |args: &[&str]| call_ok(&mut lanplus(&m, None, args)).stdout;
    assert_eq!(
        power(&["chassis", "power", "status"]).trim(),
        "Chassis Power is on"
    );
    assert_eq!(wsman_enabled_state(&m), "2");
    assert!(power(&["chassis", "power", "off"]).contains("Down/Off"));
    assert_eq!(
        power(&["chassis", "power", "status"]).trim(),
        "Chassis Power is off"
    );
    assert_eq!(wsman_enabled_state(&m), "3");
    assert!(power(&["chassis", "power", "on"]).contains("Up/On"));
    assert_eq!(
        power(&["chassis", "power", "status"]).trim(),
        "Chassis Power is on"
    );
    assert_eq!(wsman_enabled_state(&m), "2");
    assert!(power(&["chassis", "power", "reset"]).contains("Reset"));
    assert_eq!(wsman_enabled_state(&m), "2");
    assert!(power(&["chassis", "power", "cycle"]).contains("Cycle"));
    assert!(power(&["chassis", "power", "soft"]).contains("Soft"));
    assert_eq!(
        power(&["chassis", "power", "status"]).trim(),
        "Chassis Power is off"
    );
    assert_eq!(wsman_enabled_state(&m), "3");
}

#[cfg_attr(
    not(has_ipmitool),
    ignore = "ipmitool is not installed: apt-get update && apt-get install -y ipmitool"
)]
#[test]
fn sensor_readings_equal_wsman_within_the_sdr_resolution() {
    if !have_ipmitool("sensor_readings_equal_wsman_within_the_sdr_resolution") {
        return;
    }
    let m = IpmiMock::start(None);
    let cim = wsman_readings(&m);
    assert!(cim.len() >= 5, "numeric sensors over WS-Man: {cim:?}");
    let sdr = call_ok(&mut lanplus(&m, None, &["sdr", "list"]));
    let elist = call_ok(&mut lanplus(&m, None, &["sdr", "elist"]));
    let list = call_ok(&mut lanplus(&m, None, &["sensor", "list"]));
    eprintln!(
        "ipmitool: sdr list {} ms, sdr elist {} ms, sensor list {} ms",
        sdr.elapsed.as_millis(),
        elist.elapsed.as_millis(),
        list.elapsed.as_millis()
    );
    for (name, value, tolerance) in &cim {
        // sensor list: `name | 45.000 | degrees C | ok | ...`
        let row = list
            .stdout
            .lines()
            .find(|l| l.split('|').next().map(str::trim) == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{name} missing from sensor list:\n{}", list.stdout));
        let shown: f64 = row.split('|').nth(1).unwrap().trim().parse().unwrap();
        assert!(
            (shown - value).abs() <= tolerance + 1e-6,
            "{name}: ipmitool {shown}, WS-Man {value} (resolution {tolerance})"
        );
        // sdr list and elist show every sensor, all ok.
        for out in [&sdr.stdout, &elist.stdout] {
            let row = out
                .lines()
                .find(|l| l.split('|').next().map(str::trim) == Some(name.as_str()))
                .unwrap_or_else(|| panic!("{name} missing:\n{out}"));
            assert!(row.contains("| ok"), "{row}");
        }
    }
    // The live thresholds ipmitool reads (Get Sensor Thresholds) are the CIM ones.
    let body = m.enumerate("CIM_NumericSensor");
    let columns = [
        (4, "LowerThresholdFatal"),
        (5, "LowerThresholdCritical"),
        (6, "LowerThresholdNonCritical"),
        (7, "UpperThresholdNonCritical"),
        (8, "UpperThresholdCritical"),
        (9, "UpperThresholdFatal"),
    ];
    let modifiers = by_element_name(&body, "UnitModifier");
    let mut compared = 0;
    for (column, property) in columns {
        for (name, raw) in by_element_name(&body, property) {
            let unit_mod: i32 = modifiers
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(0, |(_, v)| v.parse().unwrap());
            let cim_value = raw.parse::<f64>().unwrap() * 10f64.powi(unit_mod);
            let tolerance = cim
                .iter()
                .find(|(n, _, _)| *n == name)
                .map_or(0.0, |(_, _, t)| *t);
            let row = list
                .stdout
                .lines()
                .find(|l| l.split('|').next().map(str::trim) == Some(name.as_str()))
                .unwrap();
            let shown = row.split('|').nth(column).unwrap().trim();
            let shown: f64 = shown
                .parse()
                .unwrap_or_else(|_| panic!("{name} {property}: `{shown}` in {row}"));
            assert!(
                (shown - cim_value).abs() <= tolerance + 1e-6,
                "{name} {property}: ipmitool {shown}, WS-Man {cim_value}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 10, "only {compared} thresholds compared");
    let (name, value, tolerance) = &cim[0];
    let get = call_ok(&mut lanplus(&m, None, &["sensor", "get", name]));
    let shown = field(&get.stdout, "Sensor Reading").expect("Sensor Reading");
    let number: f64 = shown.split_whitespace().next().unwrap().parse().unwrap();
    assert!(
        (number - value).abs() <= tolerance + 1e-6,
        "{shown} vs {value}"
    );
}

#[cfg_attr(
    not(has_ipmitool),
    ignore = "ipmitool is not installed: apt-get update && apt-get install -y ipmitool"
)]
#[test]
fn sel_fru_users_channel_lan_and_sol_settings() {
    if !have_ipmitool("sel_fru_users_channel_lan_and_sol_settings") {
        return;
    }
    let m = IpmiMock::start(None);
    let records = values(&m.enumerate("CIM_LogRecord"), "RecordID").len();
    assert!(records > 0);
    let info = call_ok(&mut lanplus(&m, None, &["sel", "info"]));
    assert_eq!(
        field(&info.stdout, "Entries"),
        Some(records.to_string().as_str())
    );
    let list = call_ok(&mut lanplus(&m, None, &["sel", "list"]));
    assert_eq!(
        list.stdout.lines().filter(|l| l.contains(" | ")).count(),
        records
    );
    let clear = call_ok(&mut lanplus(&m, None, &["sel", "clear"]));
    assert!(clear.stdout.contains("Clearing SEL"), "{}", clear.report());
    let after = call_ok(&mut lanplus(&m, None, &["sel", "list"]));
    assert!(
        after.stderr.contains("SEL has no entries") || after.stdout.contains("SEL has no entries"),
        "{}",
        after.report()
    );
    assert_eq!(values(&m.enumerate("CIM_LogRecord"), "RecordID").len(), 0);

    let fru = call_ok(&mut lanplus(&m, None, &["fru", "print"]));
    assert_eq!(
        field(&fru.stdout, "Chassis Serial"),
        Some("TSCH000001"),
        "{}",
        fru.report()
    );
    assert_eq!(field(&fru.stdout, "Board Mfg"), Some("Touchstone"));
    let users = call_ok(&mut lanplus(&m, None, &["user", "list"]));
    let admin = users
        .stdout
        .lines()
        .find(|l| l.starts_with("2 "))
        .expect("user 2");
    assert!(
        admin.contains("admin") && admin.contains("ADMINISTRATOR"),
        "{admin}"
    );
    let channel = call_ok(&mut lanplus(&m, None, &["channel", "info"]));
    assert_eq!(
        field(&channel.stdout, "Channel Medium Type"),
        Some("802.3 LAN")
    );
    let lan = call_ok(&mut lanplus(&m, None, &["lan", "print"]));
    assert_eq!(
        field(&lan.stdout, "IP Address"),
        Some("127.0.0.1"),
        "{}",
        lan.report()
    );
    assert!(lan.stdout.contains("RMCP+ Cipher Suites"), "{}", lan.stdout);
    let sol = call_ok(&mut lanplus(&m, None, &["sol", "info"]));
    assert_eq!(field(&sol.stdout, "Enabled"), Some("true"));
    eprintln!(
        "ipmitool: sel list {} ms, fru print {} ms, lan print {} ms",
        list.elapsed.as_millis(),
        fru.elapsed.as_millis(),
        lan.elapsed.as_millis()
    );
}

#[cfg_attr(
    not(has_ipmitool),
    ignore = "ipmitool is not installed: apt-get update && apt-get install -y ipmitool"
)]
#[test]
fn sol_activate_shows_the_scripted_console_and_echoes() {
    if !have_ipmitool("sol_activate_shows_the_scripted_console_and_echoes") {
        return;
    }
    let m = IpmiMock::start(None);
    let mut c = interop::python3();
    c.arg(interop::script("ipmi_sol.py"))
        .args(["login: ", "hello-sol", "~.", "--", "ipmitool"])
        .args(lanplus_args(&m, None, "admin", &["sol", "activate"]));
    let run = run_sol(&mut c);
    assert!(
        run.stdout.contains("Touchstone Simulated Server"),
        "{}",
        run.report()
    );
    let journal = m.ipmi_journal();
    let typed: Vec<_> = journal
        .iter()
        .filter(|r| r.kind == "sol" && r.request_hex.contains(&hex(b"hello-sol")))
        .collect();
    assert_eq!(
        typed.len(),
        1,
        "the line reached the console once: {journal:#?}"
    );
    assert!(
        journal
            .iter()
            .any(|r| r.command.as_deref() == Some("deactivate_payload"))
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg_attr(
    not(has_ipmitool),
    ignore = "ipmitool is not installed: apt-get update && apt-get install -y ipmitool"
)]
#[test]
fn ipmi15_md5_and_straight_password() {
    if !have_ipmitool("ipmi15_md5_and_straight_password") {
        return;
    }
    let m = IpmiMock::start(None);
    for auth in ["MD5", "PASSWORD"] {
        let status = call_ok(&mut lan15(
            &m,
            auth,
            "admin",
            &["chassis", "power", "status"],
        ));
        assert_eq!(status.stdout.trim(), "Chassis Power is on");
        let sdr = call_ok(&mut lan15(&m, auth, "admin", &["sdr", "list"]));
        assert!(sdr.stdout.contains("CPU1 Temp"), "{}", sdr.report());
        eprintln!(
            "ipmitool -I lan -A {auth}: power status {} ms, sdr list {} ms",
            status.elapsed.as_millis(),
            sdr.elapsed.as_millis()
        );
    }
    let journal = m.ipmi_journal();
    assert!(
        journal
            .iter()
            .any(|r| r.kind == "ipmi15" && r.command.as_deref() == Some("get_sdr"))
    );
}

#[cfg_attr(
    not(has_ipmitool),
    ignore = "ipmitool is not installed: apt-get update && apt-get install -y ipmitool"
)]
#[test]
fn a_wrong_password_is_refused() {
    if !have_ipmitool("a_wrong_password_is_refused") {
        return;
    }
    let m = IpmiMock::start(None);
    let mut c = Command::new("ipmitool");
    c.args(lanplus_args(&m, None, "wrong", &["mc", "info"]));
    let run = run_with_deadline(&mut c, CALL_DEADLINE);
    assert!(!run.success() && !run.timed_out, "{}", run.report());
    assert!(
        run.stderr.contains("Unable to establish"),
        "{}",
        run.report()
    );
    // Refused at once by the handshake (RAKP 2 carries an error status), not by silence.
    assert!(run.elapsed < interop::ipmi::CALL_GUARD, "{}", run.report());
    // The console checks RAKP 2 against its own key and gives up: no command ran.
    let journal = m.ipmi_journal();
    assert!(journal.iter().any(|r| r.kind == "rakp1"), "{journal:#?}");
    assert!(!journal.iter().any(|r| r.kind == "rmcpp"), "{journal:#?}");
    m.server().journal_handle().clear();
    for auth in ["MD5", "PASSWORD"] {
        // IPMI 1.5: an Activate Session whose AuthCode does not verify is dropped, as
        // the specification asks of unauthenticated packets; one retry of one second.
        let mut c = lan15(&m, auth, "wrong", &["-R", "1", "-N", "1", "mc", "info"]);
        let run = run_with_deadline(&mut c, CALL_DEADLINE);
        assert!(!run.success() && !run.timed_out, "{}", run.report());
        assert!(
            run.stderr.contains("Unable to establish"),
            "{}",
            run.report()
        );
    }
    let journal = m.ipmi_journal();
    assert!(
        journal
            .iter()
            .any(|r| r.dropped.as_deref() == Some("AuthCode mismatch")),
        "{journal:#?}"
    );
    assert!(
        !journal
            .iter()
            .any(|r| r.command.as_deref() == Some("get_device_id")),
        "{journal:#?}"
    );
}

#[cfg_attr(
    not(has_ipmitool),
    ignore = "ipmitool is not installed: apt-get update && apt-get install -y ipmitool"
)]
#[test]
fn mc_reset_warm_and_cold_are_answered() {
    if !have_ipmitool("mc_reset_warm_and_cold_are_answered") {
        return;
    }
    let m = IpmiMock::start(None);
    let warm = call_ok(&mut lanplus(&m, None, &["mc", "reset", "warm"]));
    assert!(
        warm.stdout.contains("Sent warm reset command to MC"),
        "{}",
        warm.report()
    );
    // ipmitool does not wait for a cold reset's answer (the BMC may be gone).
    let cold = call_ok(&mut lanplus(&m, None, &["mc", "reset", "cold"]));
    assert!(
        cold.stdout.contains("Sent cold reset command to MC"),
        "{}",
        cold.report()
    );
    let journal = m.ipmi_journal();
    for name in ["warm_reset", "cold_reset"] {
        let answered: Vec<Option<u8>> = journal
            .iter()
            .filter(|r| r.command.as_deref() == Some(name))
            .map(|r| r.completion_code)
            .collect();
        assert_eq!(answered, [Some(0)], "{name} in {journal:#?}");
    }
}

#[cfg_attr(
    not(has_ipmitool),
    ignore = "ipmitool is not installed: apt-get update && apt-get install -y ipmitool"
)]
#[test]
fn mc_guid_is_the_scenario_guid_in_ipmi_encoding() {
    if !have_ipmitool("mc_guid_is_the_scenario_guid_in_ipmi_encoding") {
        return;
    }
    let m = IpmiMock::start(None);
    let guid = call_ok(&mut lanplus(&m, None, &["mc", "guid"]));
    assert_eq!(
        field(&guid.stdout, "System GUID"),
        Some(scenario_guid(None).as_str()),
        "{}",
        guid.report()
    );
    // ipmitool tries the RFC 4122, IPMI and SMBIOS byte orders and names the one whose
    // version nibble is valid; anything but IPMI carries a specification warning.
    assert_eq!(
        field(&guid.stdout, "GUID Encoding"),
        Some("IPMI"),
        "{}",
        guid.report()
    );
    assert!(!guid.stdout.contains("WARNING"), "{}", guid.report());
    assert!(!guid.stderr.contains("WARNING"), "{}", guid.report());
}

#[cfg_attr(
    not(has_ipmitool),
    ignore = "ipmitool is not installed: apt-get update && apt-get install -y ipmitool"
)]
#[test]
fn small_reads_sdr_list_and_fru_print_read_in_16_byte_pieces() {
    if !have_ipmitool("small_reads_sdr_list_and_fru_print_read_in_16_byte_pieces") {
        return;
    }
    let toml = mock_toml("ipmi-small-reads.toml");
    let m = IpmiMock::start(Some(&toml));
    let info = call_ok(&mut lanplus(&m, None, &["mc", "info"]));
    assert_eq!(
        field(&info.stdout, "IPMI Version"),
        Some("2.0"),
        "{}",
        info.report()
    );
    let status = call_ok(&mut lanplus(&m, None, &["chassis", "status"]));
    assert_eq!(field(&status.stdout, "System Power"), Some("on"));

    m.server().journal_handle().clear();
    let sdr = call_ok(&mut lanplus(&m, None, &["sdr", "list"]));
    let cim = wsman_readings(&m);
    for (name, value, tolerance) in &cim {
        let row = sdr
            .stdout
            .lines()
            .find(|l| l.split('|').next().map(str::trim) == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{name} missing:\n{}", sdr.report()));
        let shown: f64 = row
            .split('|')
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (shown - value).abs() <= tolerance + 1e-6,
            "{name}: {shown} vs {value}"
        );
    }
    let journal = m.ipmi_journal();
    eprintln!(
        "ipmitool sdr list, Get SDR (count, cc): {:?}",
        read_counts(&journal, "get_sdr")
    );
    assert_read_in_pieces(&journal, "get_sdr", 16, true);

    m.server().journal_handle().clear();
    let fru = call_ok(&mut lanplus(&m, None, &["fru", "print"]));
    assert_eq!(
        field(&fru.stdout, "Chassis Serial"),
        Some("TSCH000001"),
        "{}",
        fru.report()
    );
    assert_eq!(field(&fru.stdout, "Product Asset Tag"), Some("ASSET-0001"));
    let journal = m.ipmi_journal();
    eprintln!(
        "ipmitool fru print, Read FRU Data (count, cc): {:?}",
        read_counts(&journal, "read_fru_data")
    );
    assert_read_in_pieces(&journal, "read_fru_data", 16, true);

    // IPMI 1.5 without authentication: enabled and advertised on purpose here.
    let mut c = lan15(&m, "NONE", "admin", &["chassis", "power", "status"]);
    let none = call_ok(&mut c);
    assert_eq!(none.stdout.trim(), "Chassis Power is on");
}

#[cfg_attr(
    not(has_ipmitool),
    ignore = "ipmitool is not installed: apt-get update && apt-get install -y ipmitool"
)]
#[test]
fn chassis_only_mc_info_and_chassis_status() {
    if !have_ipmitool("chassis_only_mc_info_and_chassis_status") {
        return;
    }
    let toml = mock_toml("ipmi-chassis-only.toml");
    let m = IpmiMock::start(Some(&toml));
    let info = call_ok(&mut lanplus(&m, None, &["mc", "info"]));
    let support: Vec<&str> = info
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Additional Device Support"))
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .map(str::trim)
        .collect();
    assert_eq!(support, ["Chassis Device"], "{}", info.report());
    let status = call_ok(&mut lanplus(&m, None, &["chassis", "status"]));
    assert_eq!(
        field(&status.stdout, "System Power"),
        Some("on"),
        "{}",
        status.report()
    );
    let mut op = Command::new("ipmitool");
    op.args([
        "-I",
        "lanplus",
        "-H",
        "127.0.0.1",
        "-p",
        &m.port().to_string(),
    ])
    .args(["-U", "operator", "-P", "operator", "-L", "OPERATOR"])
    .args(["chassis", "power", "status"]);
    assert_eq!(call_ok(&mut op).stdout.trim(), "Chassis Power is on");
    let guid = call_ok(&mut lanplus(&m, None, &["mc", "guid"]));
    assert_eq!(field(&guid.stdout, "GUID Encoding"), Some("IPMI"));
    // The ping ipmitool may send is ignored, and nothing else went unanswered.
    let journal = m.ipmi_journal();
    assert!(
        journal
            .iter()
            .all(|r| r.dropped.is_none() || r.kind == "ping"),
        "{journal:#?}"
    );
}

/// Issue 13: eight unauthenticated Open Session requests (one per slot, none followed by
/// RAKP) do not lock ipmitool out: half-open handshakes hold at most half the slots and
/// give way to new ones, so `mc info` logs in at once.
#[cfg_attr(
    not(has_ipmitool),
    ignore = "ipmitool is not installed: apt-get update && apt-get install -y ipmitool"
)]
#[test]
fn a_burst_of_open_sessions_does_not_lock_ipmitool_out() {
    use rand::SeedableRng as _;
    if !have_ipmitool("a_burst_of_open_sessions_does_not_lock_ipmitool_out") {
        return;
    }
    let m = IpmiMock::start(None);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], m.port()));
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let mut buf = [0u8; 512];
    for i in 0..8 {
        let mut c = ipmi::console::Console::new(ipmi::console::ConsoleConfig::new("x", "y"));
        sock.send_to(&c.login_v20(0, &mut rng), target).unwrap();
        // Each is answered (an Open Session Response), so the slot was taken.
        sock.recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("Open Session {i}: {e}"));
    }
    let started = std::time::Instant::now();
    let info = call_ok(&mut lanplus(&m, Some("3"), &["mc", "info"]));
    assert_eq!(
        field(&info.stdout, "IPMI Version"),
        Some("2.0"),
        "{}",
        info.report()
    );
    // Not a timing claim about the mock: ipmitool's own retry would take seconds if
    // its Open Session were refused or dropped; logging in at once is the point.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "ipmitool logged in after {:?}",
        started.elapsed()
    );
}
