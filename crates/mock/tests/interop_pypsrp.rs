//! Interop: pypsrp's generic WS-Man client (`pypsrp.wsman.WSMan`, unmodified, Basic
//! authentication) against the mock with the default scenario, over HTTP and then over
//! HTTPS trusting the mock's generated certificate.
//!
//! `tests/interop/pypsrp_generic.py` does the talking: Enumerate (plain and optimized
//! with MaxElements) and Pull to EndOfSequence, Get with selectors, Put and Get back,
//! Create / Get / Delete of an extra class and the fault a Get of it then gets,
//! RequestStateChange off and on with the EnabledState it leaves, and the fault for an
//! unknown resource URI. It prints one `ok <step> <detail>` line per step and exits
//! non-zero on the first mismatch. This test checks its exit status and lines, then
//! reads the journal to check that the requests really reached the mock, over each
//! transport, authenticated, answered as the script saw them.
//!
//! Without pypsrp (probed by `build.rs`) the test is ignored with the reason and the
//! install command; with `CI=true` it runs and fails instead (`.ci/run` installs pypsrp).

mod interop;

use std::collections::BTreeMap;

use interop::{DEADLINE, Finished, Requirement, TempFile, Verdict, verdict};
use mock::MockServer;
use mock::journal::{AuthOutcome, HttpRecord, OutcomeKind};

/// CIM_NumericSensor instances in the default scenario (mocks/default.toml).
const NUMERIC_SENSORS: usize = 11;

/// The lines the script prints on success, in order.
fn expected_steps() -> Vec<String> {
    let mut lines = vec![
        format!("ok enumerate {NUMERIC_SENSORS}"),
        format!("ok enumerate-optimized {NUMERIC_SENSORS}"),
    ];
    lines.extend(
        [
            "ok get CIM_ComputerSystem touchstone-sim",
            "ok put CIM_NumericSensor ElementName UpperThresholdNonCritical",
            "ok put-restore CIM_NumericSensor",
            "ok create Touchstone_Note InstanceID",
            "ok get-created Touchstone_Note",
            "ok delete Touchstone_Note",
            "ok get-deleted fault InvalidSelectors",
            "ok invoke RequestStateChange 3 ReturnValue 0",
            "ok power-off EnabledState 3",
            "ok invoke RequestStateChange 2 ReturnValue 0",
            "ok power-on EnabledState 2",
            "ok fault DestinationUnreachable",
            "done 14 steps",
        ]
        .map(String::from),
    );
    lines
}

/// How many requests of each operation one run sends at least (exactly, for those the
/// script sends a fixed number of). Get and Pull vary: power polls, batch sizes.
const OPERATIONS: &[(&str, usize, bool)] = &[
    ("Enumerate", 2, true),
    ("Pull", 2, false),
    ("Get", 9, false),
    ("Put", 2, true),
    ("Create", 1, true),
    ("Delete", 1, true),
    ("Invoke", 2, true),
];

/// The two faults the script provokes per run: the Get of the deleted instance and the
/// Get of an unknown resource URI.
const FAULTS_PER_RUN: usize = 2;

async fn run_script(args: Vec<String>) -> Finished {
    tokio::task::spawn_blocking(move || {
        let mut cmd = interop::python3();
        cmd.arg(interop::script("pypsrp_generic.py")).args(&args);
        interop::run_with_deadline(&mut cmd, DEADLINE)
    })
    .await
    .expect("the script runner panicked")
}

fn assert_steps(run: &Finished, transport: &str) {
    assert!(
        run.success(),
        "pypsrp over {transport} did not succeed:\n{}",
        run.report()
    );
    assert_eq!(
        run.stdout_lines(),
        expected_steps(),
        "pypsrp over {transport} printed other steps:\n{}",
        run.report()
    );
}

/// Checks the journal's record of one run (one transport).
fn assert_journal(records: &[&HttpRecord], transport: &str) {
    assert!(!records.is_empty(), "no {transport} request in the journal");
    for r in records {
        assert_eq!(
            (r.method.as_ref(), r.path.as_str()),
            ("POST", "/wsman"),
            "{transport}: {r:?}"
        );
        assert_eq!(r.auth, AuthOutcome::Basic, "{transport}: {r:?}");
        assert_eq!(r.user.as_deref(), Some("admin"), "{transport}: {r:?}");
        assert_eq!(r.outcome, OutcomeKind::Reply, "{transport}: {r:?}");
        let ua = r.request_headers.get("user-agent");
        assert_eq!(
            ua.as_deref(),
            Some("Python PSRP Client"),
            "{transport}: not pypsrp's request: {r:?}"
        );
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in records {
        *counts
            .entry(r.operation.as_deref().unwrap_or("none"))
            .or_default() += 1;
    }
    for &(op, n, exact) in OPERATIONS {
        let got = counts.get(op).copied().unwrap_or(0);
        if exact {
            assert_eq!(got, n, "{transport}: {op} requests; all: {counts:?}");
        } else {
            assert!(
                got >= n,
                "{transport}: {got} {op} requests, expected at least {n}; all: {counts:?}"
            );
        }
    }
    let faults = records.iter().filter(|r| r.status != Some(200)).count();
    assert_eq!(
        faults,
        FAULTS_PER_RUN,
        "{transport}: answers other than 200: {:?}",
        records
            .iter()
            .filter(|r| r.status != Some(200))
            .map(|r| (r.operation.as_deref(), r.status))
            .collect::<Vec<_>>()
    );
    // The power requests arrived as sent: RequestedState 3 (off), then 2 (on).
    let states: Vec<&str> = records
        .iter()
        .filter(|r| r.operation.as_deref() == Some("Invoke"))
        .filter_map(|r| requested_state(r.request_body.text()?))
        .collect();
    assert_eq!(
        states,
        ["3", "2"],
        "{transport}: RequestedState of the Invokes"
    );
}

/// The text of the `RequestedState` element in a request body, whatever its prefix.
fn requested_state(body: &str) -> Option<&str> {
    let start = body.find("RequestedState>")? + "RequestedState>".len();
    let rest = &body[start..];
    Some(rest[..rest.find('<')?].trim())
}

#[cfg_attr(
    not(has_pypsrp),
    ignore = "pypsrp is not installed: python3 -m pip install pypsrp"
)]
#[tokio::test(flavor = "multi_thread")]
async fn pypsrp_generic_client_over_http_and_https() {
    if !Requirement::python_module("pypsrp", "pip install pypsrp").check("interop_pypsrp") {
        return;
    }
    let server = MockServer::builder()
        .https(true)
        .start()
        .await
        .expect("the mock starts");
    let https_url = server.https_url().expect("HTTPS listens");
    let cacert = TempFile::new(
        "interop-pypsrp-cert",
        ".pem",
        server.certificate_pem().expect("a generated certificate"),
    );

    let count = NUMERIC_SENSORS.to_string();
    let http = run_script(vec![server.url(), "--sensors".into(), count.clone()]).await;
    assert_steps(&http, "HTTP");
    let https = run_script(vec![
        https_url,
        "--sensors".into(),
        count,
        "--cacert".into(),
        cacert.path().display().to_string(),
    ])
    .await;
    assert_steps(&https, "HTTPS");

    let journal = server.journal();
    let records = |tls: bool| -> Vec<&HttpRecord> {
        journal
            .iter()
            .filter_map(|e| e.http())
            .filter(|r| r.tls == tls)
            .collect()
    };
    assert_journal(&records(false), "HTTP");
    assert_journal(&records(true), "HTTPS");
    server.shutdown().await;
}

/// The rule when a test runs, and the probe for a module that cannot exist. (Runs
/// `python3`, so it needs no pypsrp; without python3 the probe still reports the
/// requirement unmet.)
#[test]
fn a_client_missing_when_the_test_runs_fails_it_with_the_reason() {
    let why = Requirement::python_module("touchstone_no_such_module", "pip install nothing")
        .unmet()
        .expect("the module does not exist");
    assert!(
        why.starts_with("touchstone_no_such_module is not installed"),
        "{why}"
    );
    assert!(why.contains("(pip install nothing)"), "{why}");

    let why = "pypsrp is not installed (pip install pypsrp)".to_owned();
    assert_eq!(verdict("interop_pypsrp", None, true), Verdict::Run);
    assert_eq!(verdict("interop_pypsrp", None, false), Verdict::Run);
    let Verdict::Fail(message) = verdict("interop_pypsrp", Some(why.clone()), false) else {
        panic!("a test that runs without its client must fail");
    };
    assert!(message.contains("rebuild"), "{message}");
    let Verdict::Fail(message) = verdict("interop_pypsrp", Some(why), true) else {
        panic!("under CI a missing client must fail the test");
    };
    assert!(
        message.starts_with("interop_pypsrp: pypsrp is not installed (pip install pypsrp)"),
        "{message}"
    );
}

/// A client that hangs is killed at its deadline instead of hanging the test.
#[cfg(unix)]
#[test]
fn a_hanging_client_is_killed_at_its_deadline() {
    let run = interop::run_with_deadline(
        std::process::Command::new("sleep").arg("30"),
        std::time::Duration::from_millis(300),
    );
    assert!(run.timed_out, "{}", run.report());
    assert!(!run.success(), "{}", run.report());
    assert!(run.elapsed.as_secs() < 10, "{}", run.report());
}
