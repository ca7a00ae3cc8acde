//! `touchstone check` as scripts and CI run it: the built binary, its output, its
//! report files and its exit codes.

mod support;
use std::process::Output;
use std::time::{Duration, Instant};
use support::touchstone;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn checks_the_embedded_mock_and_prints_the_summary() {
    let o = touchstone(&["check"]);
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("profile"), "{out}");
    for p in [
        "core",
        "identify",
        "transfer",
        "enumeration",
        "faults",
        "http",
        "robustness",
        "cim-ipmi",
        "shell",
        "ipmi-lan",
        "cross",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(p)),
            "no summary row for {p}:\n{out}"
        );
    }
    assert!(out.contains(" 0 failed"), "{out}");
    // Against its own mock nothing is skipped: the second IPMI accounts are the
    // default scenario's, and the mock's idle timeout is short enough to wait out.
    assert!(out.contains(" 0 skipped"), "{out}");
}

#[test]
fn lists_case_ids_without_a_target() {
    let o = touchstone(&["check", "--list", "--profile", "transfer"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0));
    assert!(out.contains("wsman.transfer.get.relates-to"), "{out}");
    assert!(!out.contains("wsman.identify.answered"), "{out}");
}

#[test]
fn an_unreachable_target_exits_3_quickly() {
    let start = Instant::now();
    let json = std::env::temp_dir().join(format!("ts-unreachable-{}.json", std::process::id()));
    let o = touchstone(&[
        "check",
        "--target",
        "http://127.0.0.1:1/wsman",
        "--profile",
        "core",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unreachable"));
    // The report is written anyway: every case an error naming why.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    assert!(!results.is_empty());
    assert!(
        results
            .iter()
            .all(|r| r["outcome"] == "error"
                && r["message"].as_str().unwrap().contains("unreachable"))
    );
    let _ = std::fs::remove_file(&json);
}

#[test]
fn an_unknown_profile_is_a_usage_error() {
    let o = touchstone(&["check", "--profile", "no-such-profile"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown profile"));
}

#[test]
fn writes_json_junit_and_html_reports() {
    let dir = std::env::temp_dir().join(format!("touchstone-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, junit, html) = (dir.join("r.json"), dir.join("r.xml"), dir.join("r.html"));
    let o = touchstone(&[
        "check",
        "--profile",
        "core",
        "--jobs",
        "2",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = j["results"].as_array().unwrap();
    assert!(results.len() >= 10);
    assert!(results.iter().all(|r| r["outcome"] == "pass"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testsuites") && xml.contains("wsman::core::relates_to"));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("wsman.core.relates-to"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_waived_passing_case_is_reported_stale() {
    // Waiving a passing case makes it stale; a filter to one case runs it alone.
    let dir = std::env::temp_dir().join(format!("touchstone-waive-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let w = dir.join("w.toml");
    std::fs::write(&w, "\"wsman.core.relates-*\" = \"testing staleness\"\n").unwrap();
    let o = touchstone(&[
        "check",
        "--filter",
        "wsman.core.relates-to",
        "--waivers",
        w.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("1 cases"), "{out}");
    assert!(out.contains("STALE waiver"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_failure_prints_its_clause_expectation_and_rerun_command() {
    let dir = std::env::temp_dir().join(format!("touchstone-fail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("teapot.toml"),
        r#"
[[case]]
id = "local.identify.teapot"
title = "Identify answers 418 (it does not)"
level = "MUST"
profiles = ["local"]
clause = { spec = "RFC 2324", section = "2.3.2 418 I'm a teapot", requirement = "A teapot says so." }
[[case.step]]
request = { op = "identify" }
expect = { status = 418 }
"#,
    )
    .unwrap();
    let o = touchstone(&["check", "--suites", dir.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL local.identify.teapot [MUST]"), "{out}");
    assert!(out.contains("clause:   RFC 2324"), "{out}");
    assert!(out.contains("expected: HTTP status: 418"), "{out}");
    assert!(out.contains("got:      200"), "{out}");
    // The rerun names the suite directory too: without it the case does not exist.
    assert!(
        out.contains(&format!(
            "rerun:    touchstone check --suites {} --filter local.identify.teapot",
            dir.display()
        )),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `touchstone check --ipmi ADDR` as admin/admin, with `extra` arguments.
fn check_ipmi(addr: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "check",
        "--ipmi",
        addr,
        "--user",
        "admin",
        "--password",
        "admin",
    ];
    args.extend_from_slice(extra);
    touchstone(&args)
}

#[test]
fn checks_a_separately_started_ipmi_target() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt
        .block_on(mock::MockServer::builder().ipmi(true).start())
        .unwrap();
    let addr = mock.ipmi_addr().unwrap().to_string();
    let json = std::env::temp_dir().join(format!("ts-ipmi-{}.json", std::process::id()));
    let o = check_ipmi(
        &addr,
        &[
            "--ipmi-operator",
            "operator:operator",
            "--ipmi-user-account",
            "user:user",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.lines().any(|l| l.starts_with("ipmi-lan")), "{out}");
    assert!(
        !out.contains("wsman."),
        "IPMI alone runs no WS-Man case:\n{out}"
    );
    let report = std::fs::read_to_string(&json).unwrap();
    assert!(report.contains("ipmi.session.replay-dropped"));
    assert!(
        report.contains("RMCP+ payload"),
        "decrypted transcripts in the report"
    );
    let _ = std::fs::remove_file(&json);
    rt.block_on(mock.shutdown());
}

#[test]
fn a_silent_ipmi_target_exits_3() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let start = Instant::now();
    let o = touchstone(&["check", "--ipmi", &addr]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not answer"));
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn refused_credentials_are_one_authentication_verdict_with_exit_3() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt.block_on(mock::MockServer::start()).unwrap();
    let dir = std::env::temp_dir().join(format!("ts-refused-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, junit) = (dir.join("r.json"), dir.join("r.xml"));
    let o = touchstone(&[
        "check",
        "--target",
        &mock.url(),
        "--user",
        "admin",
        "--password",
        "not-the-password",
        "--profile",
        "core",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(3), "{err}\n{}", stdout(&o));
    assert!(
        err.contains("authentication failed for user `admin`"),
        "{err}"
    );
    assert!(err.contains("401 for Basic and Digest"), "{err}");
    assert!(
        err.contains("Negotiate offered"),
        "the offered schemes are named: {err}"
    );
    assert!(!err.contains("not-the-password"), "{err}");
    // The reports are still written: every selected case an error saying why.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    assert!(results.len() >= 10, "{report}");
    for r in results {
        assert_eq!(r["outcome"], "error", "{r}");
        assert!(
            r["message"]
                .as_str()
                .unwrap()
                .contains("authentication failed"),
            "{r}"
        );
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, results.len());
    std::fs::remove_dir_all(&dir).ok();
    rt.block_on(mock.shutdown());
}

#[test]
fn a_user_resource_is_discovered_first_and_skips_say_why() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mocks = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mocks");
    let mock = rt
        .block_on(
            mock::MockServer::builder()
                .scenario_file(mocks.join("minimal-resource.toml"))
                .unwrap()
                .start(),
        )
        .unwrap();
    let resource = "http://touchstone.invalid/wbem/1/Settings";
    let base = [
        "check",
        "--target",
        &mock.url(),
        "--user",
        "admin",
        "--password",
        "admin",
        "--profile",
        "core",
        "--jobs",
        "1",
    ];
    // Without it, nothing the target offers is in the well-known list: the protocol
    // cases skip, each saying why on its own line, and nothing fails.
    let o = touchstone(&base);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("SKIP  wsman.core.relates-to (no resource")),
        "{out}"
    );
    // With it, discovery uses it for every role and the same cases pass.
    let mut args = base.to_vec();
    args.extend(["--resource", resource]);
    let o = touchstone(&args);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!("gettable    {resource} (Name=eth0)")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("PASS  wsman.core.relates-to")),
        "{out}"
    );
    assert!(!out.contains("SKIP  wsman.core.relates-to"), "{out}");
    rt.block_on(mock.shutdown());
}

/// A BMC that answers Get Channel Authentication Capabilities but not the ASF presence
/// ping (as many do; ipmitool and freeipmi log in without it) is checked, not given up
/// on: discovery says the ping went unanswered and the cases run.
#[test]
fn a_bmc_without_presence_pong_is_checked() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let scenario = r#"
[scenario]
name = "no-pong"
description = "drops the presence ping"

[[ipmi.rules]]
name = "no pong"
match = { payload = "ping" }
action = { drop = true }
"#;
    let mock = rt
        .block_on(
            mock::MockServer::builder()
                .scenario_str(scenario)
                .unwrap()
                .ipmi(true)
                .start(),
        )
        .unwrap();
    let addr = mock.ipmi_addr().unwrap().to_string();
    let json = std::env::temp_dir().join(format!("ts-nopong-{}.json", std::process::id()));
    let o = check_ipmi(
        &addr,
        &[
            "--filter",
            "ipmi.discovery",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    let out = stdout(&o);
    assert_ne!(o.status.code(), Some(3), "{out}");
    assert!(
        out.contains("no  RMCP/ASF presence ping: no answer to presence ping"),
        "discovery says the ping went unanswered:\n{out}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    let outcome = |id: &str| {
        results
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["outcome"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        outcome("ipmi.discovery.auth-caps-v20").as_deref(),
        Some("pass")
    );
    assert_eq!(
        outcome("ipmi.discovery.presence-ping").as_deref(),
        Some("warn"),
        "the ping case itself still judges the missing pong (SHOULD)"
    );
    let discovery = report["discovery"].to_string();
    assert!(
        discovery.contains("additional device support"),
        "{discovery}"
    );
    let _ = std::fs::remove_file(&json);
    rt.block_on(mock.shutdown());
}

/// Exit 3 (an IPMI target that answers nothing, or only junk) still writes every
/// report asked for, each case an error that says why.
#[test]
fn an_unanswering_ipmi_target_exits_3_with_complete_reports() {
    let dir = std::env::temp_dir().join(format!("ts-ipmi3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // One silent socket, one that answers every datagram with junk.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let junk_addr = junk.local_addr().unwrap().to_string();
    let answering = std::thread::spawn(move || {
        junk.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut buf = [0u8; 512];
        while let Ok((_, from)) = junk.recv_from(&mut buf) {
            if junk.send_to(b"hello, not RMCP", from).is_err() {
                break;
            }
        }
    });
    for (name, addr, says) in [
        (
            "silent",
            silent.local_addr().unwrap().to_string(),
            "no answer",
        ),
        ("junk", junk_addr, "not RMCP"),
    ] {
        let (json, junit, html) = (
            dir.join(format!("{name}.json")),
            dir.join(format!("{name}.xml")),
            dir.join(format!("{name}.html")),
        );
        let o = touchstone(&[
            "check",
            "--ipmi",
            &addr,
            "--json",
            json.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(3), "{name}: {err}");
        assert!(err.contains(says), "{name}: the reason is said: {err}");
        assert!(
            !debug_duration(&err),
            "{name}: durations as people write them: {err}"
        );
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let results = report["results"].as_array().unwrap();
        assert!(
            results.len() > 50,
            "{name}: every selected case has a result"
        );
        assert!(
            results
                .iter()
                .all(|r| r["outcome"] == "error" && r["message"].as_str().unwrap().contains(says)),
            "{name}: every case an error naming the reason"
        );
        let x = std::fs::read_to_string(&junit).unwrap();
        assert!(
            x.contains("<testsuites") && x.contains(says),
            "{name}: {x:.300}"
        );
        let h = std::fs::read_to_string(&html).unwrap();
        assert!(h.contains(says), "{name}: the HTML says why");
    }
    drop(silent);
    std::fs::remove_dir_all(&dir).ok();
    let _ = answering;
}

/// Whether `s` holds a duration in Rust's debug form (`2.68797ms`, `1.5s`, `12µs`).
fn debug_duration(s: &str) -> bool {
    let b = s.as_bytes();
    s.contains("µs")
        || (1..b.len()).any(|i| {
            b[i] == b'.'
                && b[i - 1].is_ascii_digit()
                && b[i + 1..]
                    .iter()
                    .skip_while(|c| c.is_ascii_digit())
                    .take(2)
                    .copied()
                    .collect::<Vec<u8>>()
                    .starts_with(b"ms")
        })
}
