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
    assert!(
        out.contains("rerun:    touchstone check --filter local.identify.teapot"),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn checks_a_separately_started_ipmi_target() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt
        .block_on(mock::MockServer::builder().ipmi(true).start())
        .unwrap();
    let addr = mock.ipmi_addr().unwrap().to_string();
    let json = std::env::temp_dir().join(format!("ts-ipmi-{}.json", std::process::id()));
    let o = touchstone(&[
        "check",
        "--ipmi",
        &addr,
        "--user",
        "admin",
        "--password",
        "admin",
        "--ipmi-operator",
        "operator:operator",
        "--ipmi-user-account",
        "user:user",
        "--json",
        json.to_str().unwrap(),
    ]);
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
fn refused_credentials_are_a_usage_error_that_says_so() {
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
    assert_eq!(o.status.code(), Some(2), "{err}\n{}", stdout(&o));
    assert!(err.contains("refused the credentials"), "{err}");
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(
        err.contains("Basic"),
        "the offered schemes are named: {err}"
    );
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
                .contains("refused the credentials"),
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
