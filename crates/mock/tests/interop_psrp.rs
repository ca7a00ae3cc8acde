//! Interop: PowerShell Remoting (MS-PSRP over WinRM) against the mock, with two
//! unmodified clients.
//!
//! - pypsrp's `RunspacePool` + `PowerShell` and `Client.execute_ps`
//!   (`tests/interop/pypsrp_psrp.py`): open a pool, a cmdlet with a parameter, a
//!   scenario cmdlet (`[[machine.cmdlets]]`), a script, an unknown command (pipeline
//!   Failed) and one inside a script (written, Completed), every stream, a stop
//!   (begin_invoke, first output, stop, the pool goes on), SET_MAX_RUNSPACES, then
//!   execute_ps; and a JEA configuration (`[[machine.session_configurations]]`): what
//!   Get-Command shows, a hidden cmdlet, script text refused. Over Basic on HTTP, NTLM
//!   with message sealing on HTTP, and Basic on HTTPS.
//! - evil-winrm-py 1.7.0 (its own virtualenv, made by `.ci/run`: it pins pypsrp 0.8.1),
//!   reading commands from stdin and leaving on `exit`, over HTTP (NTLM, sealed) and
//!   HTTPS.
//!
//! - pypsrp's `RunspacePool.disconnect()` and `.connect()` (same client: Disconnect,
//!   then Reconnect), with a pipeline before, a refused one while disconnected, and one
//!   after; `RunspacePool.get_runspace_pools()` (Enumerate of the shell resource and
//!   its commands) and `.connect()` from another client (Connect), `is_alive()` (Get).
//!
//! The journal is checked too: every PowerShell request was answered 200 (no transport
//! error), authenticated as it should be, and names the PSRP messages it carried.
//!
//! Without pypsrp (or the evil-winrm-py virtualenv; `EVIL_WINRM_PY` names another
//! executable) the tests are ignored with the reason; under `CI=true` they run and fail.

mod interop;

use std::path::PathBuf;

use interop::{DEADLINE, Finished, Requirement, TempFile};
use mock::MockServer;
use mock::journal::{AuthOutcome, HttpRecord};

/// The scenario: the default machine plus a cmdlet and a JEA endpoint.
const SCENARIO: &str = r#"
[http]
auth = ["basic", "negotiate"]

[[machine.cmdlets]]
name = "Get-Widget"
parameters = { Name = "gear" }
type_names = ["Touchstone.Widget"]
output = [{ Name = "gear", Teeth = 12 }, "second"]

[[machine.session_configurations]]
name = "JEAMaint"
visible_cmdlets = ["Get-Widget"]
language_mode = "NoLanguage"
"#;

const PS_URI: &str = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell";

/// What pypsrp_psrp.py prints for the full endpoint.
const FULL_STEPS: &[&str] = &[
    "ok open 2 protocol 2.3",
    "ok cmdlet WinRM Running 4",
    "ok table gear 12 second",
    "ok script one two touchstone-sim 5.1.17763.1",
    "ok error 5 CommandNotFoundException CommandNotFoundException",
    "ok script-error 4 1 ['after']",
    "ok streams output error warning verbose debug information progress",
    "ok stop 3 then still-open",
    "ok max-runspaces 4",
    "ok execute_ps System.Diagnostics.Process (lsass) errors 1",
    "done",
];

async fn start() -> (MockServer, TempFile) {
    let server = MockServer::builder()
        .scenario_str(SCENARIO)
        .expect("the scenario loads")
        .https(true)
        .start()
        .await
        .expect("the mock starts");
    let cacert = TempFile::new(
        "interop-psrp-cert",
        ".pem",
        server.certificate_pem().expect("a generated certificate"),
    );
    (server, cacert)
}

fn port_of(url: &str) -> String {
    let rest = url.split("://").nth(1).expect("a URL");
    let hostport = rest.split('/').next().expect("host:port");
    hostport.rsplit(':').next().expect("a port").to_owned()
}

async fn pypsrp(args: Vec<String>) -> Finished {
    tokio::task::spawn_blocking(move || {
        let mut cmd = interop::python3();
        cmd.arg(interop::script("pypsrp_psrp.py")).args(&args);
        interop::run_with_deadline(&mut cmd, DEADLINE)
    })
    .await
    .expect("the script runner panicked")
}

fn assert_lines(run: &Finished, want: &[&str], what: &str) {
    assert!(run.success(), "{what} did not succeed:\n{}", run.report());
    assert_eq!(run.stdout_lines(), want, "{what}:\n{}", run.report());
}

/// The PowerShell requests of the journal (those to a PowerShell resource URI).
fn ps_records(server: &MockServer, tls: bool) -> Vec<HttpRecord> {
    server
        .journal()
        .iter()
        .filter_map(|e| e.http())
        .filter(|r| {
            r.tls == tls
                && r.request_body
                    .data()
                    .contains("schemas.microsoft.com/powershell/")
        })
        .cloned()
        .collect()
}

/// Every PowerShell request answered 200 as `auth`, sealed or not; the operations
/// and PSRP messages a pool's life needs are there.
fn assert_journal(records: &[HttpRecord], auth: AuthOutcome, sealed: bool, what: &str) {
    assert!(
        !records.is_empty(),
        "{what}: no PowerShell request journaled"
    );
    for r in records {
        assert_eq!(r.status, Some(200), "{what}: {r:?}");
        assert_eq!(r.auth, auth, "{what}: {r:?}");
        assert_eq!(r.encrypted, sealed, "{what}: {r:?}");
    }
    let ops: Vec<&str> = records
        .iter()
        .filter_map(|r| r.operation.as_deref())
        .collect();
    for op in ["Create", "Command", "Send", "Receive", "Signal", "Delete"] {
        assert!(ops.contains(&op), "{what}: no {op} in {ops:?}");
    }
    let messages: Vec<&str> = records
        .iter()
        .flat_map(|r| r.psrp.iter().map(String::as_str))
        .collect();
    for m in [
        "> SESSION_CAPABILITY",
        "> INIT_RUNSPACEPOOL",
        "< SESSION_CAPABILITY",
        "< APPLICATION_PRIVATE_DATA",
        "< RUNSPACEPOOL_STATE",
        "> CREATE_PIPELINE",
        "< PIPELINE_OUTPUT",
        "< ERROR_RECORD",
        "< WARNING_RECORD",
        "< VERBOSE_RECORD",
        "< DEBUG_RECORD",
        "< INFORMATION_RECORD",
        "< PROGRESS_RECORD",
        "< PIPELINE_STATE",
        "> SET_MAX_RUNSPACES",
        "< RUNSPACE_AVAILABILITY",
    ] {
        assert!(
            messages.contains(&m),
            "{what}: no `{m}` in the journal: {messages:?}"
        );
    }
    // The Create named the endpoint and its opening messages, in Windows' order.
    let create = records
        .iter()
        .find(|r| r.operation.as_deref() == Some("Create"))
        .expect("a Create");
    assert!(
        create.request_body.data().contains(PS_URI),
        "{what}: {create:?}"
    );
    assert_eq!(
        create.psrp,
        ["> SESSION_CAPABILITY", "> INIT_RUNSPACEPOOL"],
        "{what}"
    );
    let opened = records
        .iter()
        .find(|r| r.psrp.iter().any(|m| m == "< RUNSPACEPOOL_STATE"))
        .expect("the pool's state");
    assert_eq!(
        opened.psrp,
        [
            "< SESSION_CAPABILITY",
            "< APPLICATION_PRIVATE_DATA",
            "< RUNSPACEPOOL_STATE"
        ],
        "{what}"
    );
}

#[cfg_attr(
    not(has_pypsrp),
    ignore = "pypsrp is not installed: python3 -m pip install pypsrp"
)]
#[tokio::test(flavor = "multi_thread")]
async fn pypsrp_runspace_pool_over_basic_ntlm_sealing_and_https() {
    if !Requirement::python_module("pypsrp", "pip install pypsrp").check("interop_psrp") {
        return;
    }
    let (server, cacert) = start().await;
    let http_port = port_of(&server.url());
    let https_port = port_of(&server.https_url().expect("HTTPS listens"));
    let host = || "127.0.0.1".to_owned();

    let basic = pypsrp(vec![host(), http_port.clone(), "basic".into()]).await;
    assert_lines(&basic, FULL_STEPS, "pypsrp, Basic over HTTP");
    let jea = pypsrp(vec![
        host(),
        http_port.clone(),
        "basic".into(),
        "--jea".into(),
        "JEAMaint".into(),
    ])
    .await;
    assert_lines(
        &jea,
        &[
            "ok jea 9 CommandNotFoundException ScriptsNotAllowed",
            "done",
        ],
        "pypsrp, JEA endpoint",
    );
    assert_journal(
        &ps_records(&server, false),
        AuthOutcome::Basic,
        false,
        "Basic over HTTP",
    );
    let jea_create = ps_records(&server, false).into_iter().any(|r| {
        r.request_body
            .data()
            .contains("schemas.microsoft.com/powershell/JEAMaint")
    });
    assert!(jea_create, "the JEA requests named their endpoint");
    server.journal_handle().clear();

    let ntlm = pypsrp(vec![host(), http_port, "ntlm".into()]).await;
    assert_lines(&ntlm, FULL_STEPS, "pypsrp, NTLM sealed over HTTP");
    assert_journal(
        &ps_records(&server, false),
        AuthOutcome::Negotiate,
        true,
        "NTLM over HTTP",
    );
    server.journal_handle().clear();

    let https = pypsrp(vec![
        host(),
        https_port,
        "basic".into(),
        "--ssl".into(),
        cacert.path().display().to_string(),
    ])
    .await;
    assert_lines(&https, FULL_STEPS, "pypsrp, Basic over HTTPS");
    assert_journal(
        &ps_records(&server, true),
        AuthOutcome::Basic,
        false,
        "Basic over HTTPS",
    );
    server.shutdown().await;
}

/// `[[psrp.rules]]` that break runspace pools: on a `Get-Process` pipeline, and on
/// every pool of the `Brittle` configuration as it opens.
const BROKEN_SCENARIO: &str = r#"
[http]
auth = ["basic"]

[[machine.session_configurations]]
name = "Brittle"

[[psrp.rules]]
name = "breaks-on-get-process"
message = "CREATE_PIPELINE"
command = "Get-Process"
action = "break_pool"

[[psrp.rules]]
name = "brittle-pools"
message = "INIT_RUNSPACEPOOL"
configuration = "Brittle"
action = "break_pool"
"#;

#[cfg_attr(
    not(has_pypsrp),
    ignore = "pypsrp is not installed: python3 -m pip install pypsrp"
)]
#[tokio::test(flavor = "multi_thread")]
async fn pypsrp_sees_a_pool_a_scenario_rule_broke() {
    if !Requirement::python_module("pypsrp", "pip install pypsrp").check("interop_psrp") {
        return;
    }
    let server = MockServer::builder()
        .scenario_str(BROKEN_SCENARIO)
        .expect("the scenario loads")
        .start()
        .await
        .expect("the mock starts");
    let run = pypsrp(vec![
        "127.0.0.1".into(),
        port_of(&server.url()),
        "basic".into(),
        "--broken".into(),
        "Brittle".into(),
    ])
    .await;
    assert_lines(
        &run,
        &[
            "ok broken-pipeline 3 InvalidRunspacePoolStateException",
            "ok broken-pool InvalidPSRPOperation 5",
            "done",
        ],
        "pypsrp against [[psrp.rules]] break_pool",
    );
    server.shutdown().await;
}

#[cfg_attr(
    not(has_pypsrp),
    ignore = "pypsrp is not installed: python3 -m pip install pypsrp"
)]
#[tokio::test(flavor = "multi_thread")]
async fn pypsrp_disconnects_and_reconnects_a_pool() {
    if !Requirement::python_module("pypsrp", "pip install pypsrp").check("interop_psrp") {
        return;
    }
    let (server, _cacert) = start().await;
    let run = pypsrp(vec![
        "127.0.0.1".into(),
        port_of(&server.url()),
        "basic".into(),
        "--reconnect".into(),
    ])
    .await;
    // A pipeline before, one refused while disconnected (a WS-Man fault), one after
    // the Reconnect, then the pool closes (3: Closed).
    assert_lines(
        &run,
        &[
            "ok reconnect ['before'] WSManFaultError ['after'] 3",
            "done",
        ],
        "pypsrp RunspacePool.disconnect() and .connect()",
    );
    let ops: Vec<String> = ps_records(&server, false)
        .iter()
        .filter_map(|r| r.operation.as_deref().map(str::to_owned))
        .collect();
    for op in ["Disconnect", "Reconnect"] {
        assert!(
            ops.iter().any(|o| o == op),
            "no {op} in the journal: {ops:?}"
        );
    }
    server.shutdown().await;
}

#[cfg_attr(
    not(has_pypsrp),
    ignore = "pypsrp is not installed: python3 -m pip install pypsrp"
)]
#[tokio::test(flavor = "multi_thread")]
async fn pypsrp_lists_pools_and_connects_from_another_client() {
    if !Requirement::python_module("pypsrp", "pip install pypsrp").check("interop_psrp") {
        return;
    }
    let (server, _cacert) = start().await;
    let run = pypsrp(vec![
        "127.0.0.1".into(),
        port_of(&server.url()),
        "basic".into(),
        "--pools".into(),
    ])
    .await;
    // is_alive() (Get of the shell resource) on an open pool; the pool, disconnected,
    // found by get_runspace_pools() (Enumerate of shells and their commands) and
    // connected to (Connect: SESSION_CAPABILITY and RUNSPACEPOOL_INIT_DATA back, then
    // APPLICATION_PRIVATE_DATA and Opened); a pipeline in it; is_alive() false once it
    // is closed (the ShellId is not found).
    assert_lines(
        &run,
        &[
            "ok pools alive True listed 1 connected ['two'] max 1 gone-alive False",
            "done",
        ],
        "pypsrp get_runspace_pools(), connect() as a new client, is_alive()",
    );
    let records = server.journal();
    let ops: Vec<(String, String)> = records
        .iter()
        .filter_map(|e| e.http())
        .filter_map(|r| Some((r.operation.as_deref()?.to_owned(), r.psrp.join(" "))))
        .collect();
    for op in ["Connect", "Disconnect", "Enumerate", "Get"] {
        assert!(
            ops.iter().any(|(o, _)| o == op),
            "no {op} in the journal: {ops:?}"
        );
    }
    assert!(
        ops.iter()
            .any(|(o, m)| o == "Connect" && m.contains("> CONNECT_RUNSPACEPOOL")),
        "the Connect's messages are not journaled: {ops:?}"
    );
    server.shutdown().await;
}

/// evil-winrm-py's executable: `$EVIL_WINRM_PY`, or where `.ci/run` installs it.
fn evil_winrm_py() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("EVIL_WINRM_PY").filter(|v| !v.is_empty()) {
        return Some(p.into());
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("touchstone/evil-winrm-py-venv/bin/evil-winrm-py"))
}

async fn evil(args: Vec<String>, input: &'static str) -> Finished {
    let exe = evil_winrm_py().expect("a cache directory");
    tokio::task::spawn_blocking(move || {
        let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("evil-winrm-py-home");
        let _ = std::fs::create_dir_all(&home);
        let mut cmd = std::process::Command::new(exe);
        // Its history and log files go to a home of its own.
        cmd.args(&args)
            .env("HOME", &home)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        interop::run_with_input(&mut cmd, Some(input.as_bytes()), DEADLINE)
    })
    .await
    .expect("the runner panicked")
}

/// The lines of evil-winrm-py's output after its prompts, without colours.
fn answers(run: &Finished) -> String {
    let mut plain = String::new();
    let mut chars = run.stdout.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ ... final byte in @..~
            if chars.peek() == Some(&'[') {
                chars.next();
                for n in chars.by_ref() {
                    if ('@'..='~').contains(&n) {
                        break;
                    }
                }
            }
            continue;
        }
        plain.push(c);
    }
    plain
}

#[cfg_attr(
    not(has_evil_winrm_py),
    ignore = "evil-winrm-py is not installed: run .ci/run (a virtualenv under ~/.cache/touchstone) or set EVIL_WINRM_PY"
)]
#[tokio::test(flavor = "multi_thread")]
async fn evil_winrm_py_runs_commands_from_stdin_and_exits() {
    let mut req = Requirement::program(
        &evil_winrm_py()
            .expect("a cache directory")
            .display()
            .to_string(),
        &["--version"],
        "bash .ci/run installs it, or set EVIL_WINRM_PY",
    );
    if let Some(why) = req.unmet() {
        match interop::verdict("interop_psrp evil-winrm-py", Some(why), interop::in_ci()) {
            interop::Verdict::Run => {}
            interop::Verdict::Fail(m) => panic!("{m}"),
        }
    }
    let (server, _cacert) = start().await;
    let http_port = port_of(&server.url());
    let https_port = port_of(&server.https_url().expect("HTTPS listens"));
    let input = "hostname\nGet-Service -Name WinRM\nGet-Nothing\nexit\n";
    for (port, ssl, tls) in [(http_port, false, false), (https_port, true, true)] {
        let mut args = vec![
            "-i".to_owned(),
            "127.0.0.1".into(),
            "--port".into(),
            port,
            "-u".into(),
            "admin".into(),
            "-p".into(),
            "admin".into(),
            "--no-colors".into(),
        ];
        if ssl {
            args.push("--ssl".into());
        }
        let run = evil(args, input).await;
        let what = if ssl { "over HTTPS" } else { "over HTTP" };
        assert!(run.success(), "evil-winrm-py {what}:\n{}", run.report());
        let out = answers(&run);
        assert!(
            out.contains("PS C:\\Users\\admin\\Documents>"),
            "{what}: no prompt:\n{out}"
        );
        assert!(
            out.contains("\ntouchstone-sim\n"),
            "{what}: hostname:\n{out}"
        );
        assert!(out.contains("WinRM"), "{what}: Get-Service:\n{out}");
        assert!(
            out.contains("The term 'Get-Nothing' is not recognized"),
            "{what}: the unknown command's error:\n{out}"
        );
        // Past the NTLM handshake's 401 legs.
        let records: Vec<HttpRecord> = ps_records(&server, tls)
            .into_iter()
            .filter(|r| {
                !matches!(
                    r.auth,
                    AuthOutcome::Missing | AuthOutcome::NegotiateChallenge
                )
            })
            .collect();
        assert!(!records.is_empty(), "{what}: nothing journaled");
        for r in &records {
            assert_eq!(r.status, Some(200), "{what}: {r:?}");
            assert_eq!(r.auth, AuthOutcome::Negotiate, "{what}: {r:?}");
            // NTLM seals over plain HTTP; TLS protects the other.
            assert_eq!(r.encrypted, !tls, "{what}: {r:?}");
        }
        // evil-winrm-py runs each line as Invoke-Expression | Out-String -Stream and
        // closes its pool on exit.
        let last = records.last().expect("a last request");
        assert_eq!(last.operation.as_deref(), Some("Delete"), "{what}");
        assert!(
            records
                .iter()
                .any(|r| r.request_body.data().contains("CommandLine")
                    && r.psrp.iter().any(|m| m == "> CREATE_PIPELINE")),
            "{what}: no pipeline"
        );
    }
    server.shutdown().await;
}
