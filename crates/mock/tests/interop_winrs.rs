//! Interop: the WinRM remote shell (`.../windows/shell/cmd`) driven by real clients,
//! pywinrm (`winrm.Session`) and pypsrp (`WSMan` + `WinRS` + `Process`), with Basic and
//! with NTLM (pywinrm's default transport, every message sealed over plain HTTP),
//! against the mock with the default scenario.
//!
//! `tests/interop/pywinrm_winrs.py` and `tests/interop/pypsrp_winrs.py` do the talking
//! and print one `ok <step> <detail>` line per step; these tests check the lines, then
//! read the journal to see what really crossed the wire: several Receives for a
//! streamed command, a `wsman:TimedOut` fault with code 2150858793 followed by a
//! successful Receive for a slow one, the signals.
//!
//! Without the client (probed by `build.rs`) a test is ignored with the reason and the
//! install command; with `CI=true` it runs and fails.

mod interop;

use interop::{DEADLINE, Finished, Requirement};
use mock::MockServer;
use mock::journal::HttpRecord;

fn have_pywinrm(test: &str) -> bool {
    Requirement::python_module("winrm", "pip install pywinrm").check(test)
}

fn have_pypsrp(test: &str) -> bool {
    Requirement::python_module("pypsrp", "pip install pypsrp").check(test)
}

/// The mock with the default scenario, listening with HTTPS too when `https`.
async fn start_mock(https: bool) -> MockServer {
    MockServer::builder()
        .https(https)
        .start()
        .await
        .expect("the mock starts")
}

async fn run(script: &'static str, args: Vec<String>) -> Finished {
    run_with_env(script, args, &[]).await
}

/// Runs `script` with extra environment variables (the scripts read
/// `TOUCHSTONE_TRANSPORT` / `TOUCHSTONE_AUTH` to pick NTLM instead of Basic).
async fn run_with_env(
    script: &'static str,
    args: Vec<String>,
    env: &'static [(&'static str, &'static str)],
) -> Finished {
    tokio::task::spawn_blocking(move || {
        let mut cmd = interop::python3();
        cmd.arg(interop::script(script)).args(&args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        interop::run_with_deadline(&mut cmd, DEADLINE)
    })
    .await
    .expect("the script runner panicked")
}

fn assert_lines(run: &Finished, expected: &[&str]) {
    assert!(run.success(), "{}", run.report());
    assert_eq!(run.stdout_lines(), expected, "{}", run.report());
}

fn body(r: &HttpRecord) -> &str {
    r.response_body
        .as_ref()
        .and_then(|b| b.text())
        .unwrap_or("")
}

/// The journal's HTTP records from index `from` on.
fn records_since(server: &MockServer, from: usize) -> Vec<HttpRecord> {
    server
        .journal()
        .iter()
        .filter_map(|e| e.http())
        .skip(from)
        .cloned()
        .collect()
}

/// The journal's Receive records.
fn receives(server: &MockServer) -> Vec<HttpRecord> {
    records_since(server, 0)
        .into_iter()
        .filter(|r| r.operation.as_deref() == Some("Receive"))
        .collect()
}

fn http_count(server: &MockServer) -> usize {
    server.journal().iter().filter_map(|e| e.http()).count()
}

const BASICS: &[&str] = &[
    "ok echo hello",
    "ok hostname touchstone-sim",
    "ok whoami touchstone-sim\\admin",
    "ok ipconfig 127.0.0.1",
    "ok ver 10.0.20348",
    "ok unknown-command 9009",
    "ok run_ps Get-Service",
    "ok run_ps builtins",
    "ok run_ps unmatched 1",
    "ok environment %FOO%",
    "ok codepage 437 65001",
    "done basics",
];

/// Runs the pywinrm basics against `url` and checks the lines and the shell Creates
/// (9 run_cmd/run_ps plus 3 shells opened by hand); the HTTP records of the run.
async fn basics(
    server: &MockServer,
    url: &str,
    env: &'static [(&'static str, &'static str)],
) -> Vec<HttpRecord> {
    let before = http_count(server);
    let r = run_with_env("pywinrm_winrs.py", vec![url.into(), "basics".into()], env).await;
    assert_lines(&r, BASICS);
    let records = records_since(server, before);
    let creates = records
        .iter()
        .filter(|r| r.operation.as_deref() == Some("Create"))
        .count();
    assert_eq!(creates, 12, "{url}: shell Creates");
    records
}

#[cfg_attr(
    not(has_pywinrm),
    ignore = "pywinrm is not installed: python3 -m pip install pywinrm"
)]
#[tokio::test(flavor = "multi_thread")]
async fn pywinrm_runs_commands_and_scripts_over_http_and_https() {
    if !have_pywinrm("interop_winrs_pywinrm") {
        return;
    }
    let server = start_mock(true).await;
    let https = server.https_url().expect("HTTPS listens");
    for url in [server.url(), https] {
        let records = basics(&server, &url, &[]).await;
        assert!(
            records.iter().all(|r| r.status == Some(200)),
            "{url}: every answer is a success: {:?}",
            records
                .iter()
                .map(|r| (r.operation.clone(), r.status))
                .collect::<Vec<_>>()
        );
        assert!(
            records.iter().all(|r| r.tls == url.starts_with("https")),
            "{url}: transport"
        );
    }
    server.mock().with_machine(|m, _| {
        assert!(m.shells().is_empty(), "pywinrm closed every shell");
    });
    server.shutdown().await;
}

#[cfg_attr(
    not(has_pywinrm),
    ignore = "pywinrm is not installed: python3 -m pip install pywinrm"
)]
#[tokio::test(flavor = "multi_thread")]
async fn pywinrm_reads_a_long_command_over_several_receives() {
    if !have_pywinrm("interop_winrs_stream") {
        return;
    }
    let server = start_mock(false).await;
    let r = run("pywinrm_winrs.py", vec![server.url(), "stream".into()]).await;
    assert!(r.success(), "{}", r.report());
    let lines = r.stdout_lines();
    assert_eq!(lines.last(), Some(&"done stream"), "{}", r.report());
    let receives = receives(&server);
    assert!(
        receives.len() >= 3,
        "{} Receives in the journal",
        receives.len()
    );
    assert!(receives.iter().all(|r| r.status == Some(200)));
    // The journal saw every chunk in order: Running answers first, Done last.
    let last = receives.last().map(body).unwrap_or("");
    assert!(last.contains("CommandState/Done"), "{last}");
    for r in &receives[..receives.len() - 1] {
        assert!(body(r).contains("CommandState/Running"), "{}", body(r));
    }
    let reported = format!("ok stream receives {}", receives.len());
    assert!(
        lines.contains(&reported.as_str()),
        "the client saw as many Receives as the journal: {lines:?}"
    );
    server.shutdown().await;
}

#[cfg_attr(
    not(has_pywinrm),
    ignore = "pywinrm is not installed: python3 -m pip install pywinrm"
)]
#[tokio::test(flavor = "multi_thread")]
async fn pywinrm_retries_a_receive_that_timed_out() {
    if !have_pywinrm("interop_winrs_timeout") {
        return;
    }
    let server = start_mock(false).await;
    let r = run("pywinrm_winrs.py", vec![server.url(), "timeout".into()]).await;
    assert_lines(&r, &["ok timeout waitfor 1", "done timeout"]);
    let receives = receives(&server);
    let timed_out = receives
        .iter()
        .position(|r| r.status != Some(200))
        .expect("a Receive timed out");
    let fault = body(&receives[timed_out]);
    assert!(fault.contains("TimedOut"), "{fault}");
    assert!(fault.contains("Code=\"2150858793\""), "{fault}");
    let ok = receives[timed_out + 1..]
        .iter()
        .find(|r| r.status == Some(200))
        .expect("a successful Receive after the timeout");
    assert!(body(ok).contains("CommandState/Done"), "{}", body(ok));
    server.shutdown().await;
}

/// The lines `pypsrp_winrs.py` prints on success.
const PYPSRP_STEPS: &[&str] = &[
    "ok stdin more 2",
    "ok environment GREETING",
    "ok ctrl_c -1073741510",
    "ok terminate receive-fault 2150858752",
    "ok closed-shell 2150858843",
    "done",
];

#[cfg_attr(
    not(has_pypsrp),
    ignore = "pypsrp is not installed: python3 -m pip install pypsrp"
)]
#[tokio::test(flavor = "multi_thread")]
async fn pypsrp_sends_stdin_and_signals() {
    if !have_pypsrp("interop_winrs_pypsrp") {
        return;
    }
    let server = start_mock(false).await;
    let r = run("pypsrp_winrs.py", vec![server.url()]).await;
    if !r.success() {
        for rec in records_since(&server, 0) {
            eprintln!(
                "{:?} {:?}\n  > {}\n  < {}",
                rec.operation,
                rec.status,
                rec.request_body.data(),
                body(&rec)
            );
        }
    }
    assert_lines(&r, PYPSRP_STEPS);
    let records = records_since(&server, 0);
    let ops = |name: &str| {
        records
            .iter()
            .filter(|r| r.operation.as_deref() == Some(name))
            .collect::<Vec<_>>()
    };
    assert_eq!(ops("Send").len(), 2, "two stdin chunks");
    assert!(
        ops("Send")[1].request_body.data().contains("End=\"True\""),
        "pypsrp ends stdin with End=\"True\""
    );
    let signals = ops("Signal");
    assert_eq!(signals.len(), 2);
    let code = |r: &HttpRecord| {
        let b = r.request_body.data();
        let start = b.find("signal/").map_or(0, |i| i + "signal/".len());
        b[start..]
            .split('<')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    assert_eq!(
        signals.iter().map(|r| code(r)).collect::<Vec<_>>(),
        ["ctrl_c", "terminate"],
        "pypsrp spells it .../signal/Terminate; the signal URIs compare case-insensitively"
    );
    assert!(signals.iter().all(|r| r.status == Some(200)));
    assert_eq!(ops("Create").len(), 1);
    assert_eq!(ops("Delete").len(), 1);
    server
        .mock()
        .with_machine(|m, _| assert!(m.shells().is_empty()));
    server.shutdown().await;
}

/// The SOAP requests of `records` (the empty POST that pywinrm sends to authenticate
/// before sealing anything carries no operation).
fn soap(records: &[HttpRecord]) -> Vec<&HttpRecord> {
    records.iter().filter(|r| r.operation.is_some()).collect()
}

#[cfg_attr(
    not(has_pywinrm),
    ignore = "pywinrm is not installed: python3 -m pip install pywinrm"
)]
#[tokio::test(flavor = "multi_thread")]
async fn pywinrm_runs_commands_with_ntlm_sealed_over_http_and_plain_over_https() {
    if !have_pywinrm("interop_winrs_ntlm") {
        return;
    }
    let server = start_mock(true).await;
    let https = server.https_url().expect("HTTPS listens");
    for url in [server.url(), https] {
        let records = basics(&server, &url, &[("TOUCHSTONE_TRANSPORT", "ntlm")]).await;
        let soap = soap(&records);
        assert!(
            soap.iter().all(|r| r.status == Some(200)),
            "{url}: every SOAP answer is a success"
        );
        assert!(
            soap.iter().all(|r| r.user.as_deref() == Some("admin")),
            "{url}: every request ran as the NTLM user"
        );
        // pywinrm seals over plain HTTP (message_encryption='auto') and relies on TLS
        // over HTTPS.
        let sealed = !url.starts_with("https");
        assert!(
            soap.iter().all(|r| r.encrypted == sealed),
            "{url}: encrypted should be {sealed} for every SOAP request"
        );
        assert!(
            records
                .iter()
                .any(|r| r.response_headers.iter().any(|(n, v)| {
                    n.eq_ignore_ascii_case("www-authenticate") && v.starts_with("Negotiate ")
                })),
            "{url}: the NTLM CHALLENGE went out in a Negotiate header"
        );
    }
    server
        .mock()
        .with_machine(|m, _| assert!(m.shells().is_empty()));
    server.shutdown().await;
}

#[cfg_attr(
    not(has_pypsrp),
    ignore = "pypsrp is not installed: python3 -m pip install pypsrp"
)]
#[tokio::test(flavor = "multi_thread")]
async fn pypsrp_winrs_with_ntlm_sealed_messages() {
    if !have_pypsrp("interop_winrs_pypsrp_ntlm") {
        return;
    }
    let server = start_mock(false).await;
    let r = run_with_env(
        "pypsrp_winrs.py",
        vec![server.url()],
        &[("TOUCHSTONE_AUTH", "ntlm")],
    )
    .await;
    assert_lines(&r, PYPSRP_STEPS);
    let records = records_since(&server, 0);
    let soap = soap(&records);
    assert!(soap.len() >= 10, "{} SOAP requests", soap.len());
    assert!(
        soap.iter().all(|r| r.encrypted),
        "every SOAP request was sealed"
    );
    assert!(soap.iter().all(|r| r.user.as_deref() == Some("admin")));
    server.shutdown().await;
}
