//! Interop: pywinrm (`transport="ntlm"`, requests_ntlm) and pypsrp (`auth="ntlm"` and
//! `auth="negotiate"`, pyspnego) log in to the mock with NTLMv2, unmodified, and talk
//! WS-Man through WinRM message encryption over plain HTTP (`auto` and `always`) and
//! without it over HTTPS; a wrong password is refused by both, and Basic still works.
//!
//! `tests/interop/ntlm_clients.py` sends Identify, a Get of CIM_ComputerSystem and an
//! Enumerate/Pull of CIM_NumericSensor, printing one `ok` line per step (`refused ...`
//! and exit status 3 when the login fails). Each run gets its own mock, whose journal
//! shows what arrived: sealed or not, which user, which scheme.
//!
//! Without pywinrm or pypsrp (probed by `build.rs`) the tests are ignored with the
//! reason and the install command; with `CI=true` they run and fail instead.

mod interop;

use interop::{DEADLINE, Finished, Requirement};
use mock::MockServer;
use mock::journal::{AuthOutcome, HttpRecord};

/// CIM_NumericSensor instances in the default scenario (mocks/default.toml).
const NUMERIC_SENSORS: usize = 11;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Transport {
    Http,
    Https,
}

struct Run {
    finished: Finished,
    records: Vec<HttpRecord>,
    label: String,
}

/// Runs the script once against a fresh mock.
async fn run(
    client: &str,
    transport: Transport,
    password: &str,
    encryption: &str,
    auth: &str,
) -> Run {
    let server = MockServer::builder()
        .https(true)
        .start()
        .await
        .expect("the mock starts");
    let url = match transport {
        Transport::Http => server.url(),
        Transport::Https => server.https_url().expect("HTTPS listens"),
    };
    let args: Vec<String> = [client, &url, "admin", password, encryption, auth]
        .map(String::from)
        .to_vec();
    let finished = tokio::task::spawn_blocking(move || {
        let mut cmd = interop::python3();
        cmd.arg(interop::script("ntlm_clients.py")).args(&args);
        interop::run_with_deadline(&mut cmd, DEADLINE)
    })
    .await
    .expect("the script runner panicked");
    let records = server
        .journal()
        .iter()
        .filter_map(|e| e.http().cloned())
        .collect();
    server.shutdown().await;
    Run {
        finished,
        records,
        label: format!("{client} {transport:?} auth={auth} encryption={encryption}"),
    }
}

impl Run {
    /// The script ran every step; every WS-Man request was handled as admin with
    /// `scheme`, sealed exactly when `sealed`, and the journal holds the plain SOAP.
    fn assert_ok(&self, scheme: AuthOutcome, sealed: bool) {
        let label = &self.label;
        assert!(
            self.finished.success(),
            "{label}:\n{}",
            self.finished.report()
        );
        assert_eq!(
            self.finished.stdout_lines(),
            [
                "ok identify Touchstone",
                "ok get CIM_ComputerSystem touchstone-sim",
                &format!("ok enumerate CIM_NumericSensor {NUMERIC_SENSORS}"),
                "done",
            ],
            "{label}:\n{}",
            self.finished.report()
        );
        let handled: Vec<&HttpRecord> = self
            .records
            .iter()
            .filter(|r| r.operation.is_some())
            .collect();
        let ops: Vec<&str> = handled
            .iter()
            .filter_map(|r| r.operation.as_deref())
            .collect();
        assert!(
            ops.starts_with(&["Identify", "Get", "Enumerate", "Pull"]),
            "{label}: {ops:?}"
        );
        for r in &handled {
            assert_eq!(r.status, Some(200), "{label}: {r:?}");
            assert_eq!(r.user.as_deref(), Some("admin"), "{label}: {r:?}");
            assert_eq!(r.auth, scheme, "{label}: {r:?}");
            assert_eq!(r.encrypted, sealed, "{label}: {r:?}");
            assert!(
                r.request_body.data().contains("Envelope"),
                "{label}: the journal should hold the plain SOAP: {r:?}"
            );
            let ct = r.request_headers.get("content-type").unwrap_or_default();
            assert_eq!(
                ct.starts_with("multipart/encrypted"),
                sealed,
                "{label}: content type {ct}"
            );
        }
        if scheme == AuthOutcome::Negotiate {
            assert!(
                self.records
                    .iter()
                    .any(|r| r.auth == AuthOutcome::NegotiateChallenge),
                "{label}: no NTLM challenge in the journal"
            );
        }
    }

    /// The login was refused: exit status 3, a `refused` line, no request handled.
    fn assert_refused(&self) {
        let label = &self.label;
        assert_eq!(
            self.finished.status.and_then(|s| s.code()),
            Some(3),
            "{label}:\n{}",
            self.finished.report()
        );
        assert!(
            self.finished.stdout.starts_with("refused "),
            "{label}:\n{}",
            self.finished.report()
        );
        assert!(
            self.records.iter().all(|r| r.operation.is_none()),
            "{label}: a request got through"
        );
        assert!(
            self.records.iter().any(|r| r.auth == AuthOutcome::Rejected),
            "{label}: no rejected login in the journal: {:?}",
            self.records.iter().map(|r| r.auth).collect::<Vec<_>>()
        );
    }
}

#[cfg_attr(
    not(has_pywinrm),
    ignore = "pywinrm is not installed: python3 -m pip install pywinrm"
)]
#[tokio::test(flavor = "multi_thread")]
async fn pywinrm_ntlm_with_and_without_message_encryption() {
    if !Requirement::python_module("winrm", "pip install pywinrm").check("interop_ntlm pywinrm") {
        return;
    }
    for encryption in ["auto", "always"] {
        run("pywinrm", Transport::Http, "admin", encryption, "ntlm")
            .await
            .assert_ok(AuthOutcome::Negotiate, true);
    }
    run("pywinrm", Transport::Https, "admin", "auto", "ntlm")
        .await
        .assert_ok(AuthOutcome::Negotiate, false);
    run("pywinrm", Transport::Http, "admin", "never", "ntlm")
        .await
        .assert_ok(AuthOutcome::Negotiate, false);
    run("pywinrm", Transport::Http, "wrong", "auto", "ntlm")
        .await
        .assert_refused();
    run("pywinrm", Transport::Http, "admin", "never", "basic")
        .await
        .assert_ok(AuthOutcome::Basic, false);
}

#[cfg_attr(
    not(has_pypsrp),
    ignore = "pypsrp is not installed: python3 -m pip install pypsrp"
)]
#[tokio::test(flavor = "multi_thread")]
async fn pypsrp_ntlm_and_negotiate_with_and_without_message_encryption() {
    if !Requirement::python_module("pypsrp", "pip install pypsrp").check("interop_ntlm pypsrp") {
        return;
    }
    run("pypsrp", Transport::Http, "admin", "always", "ntlm")
        .await
        .assert_ok(AuthOutcome::Negotiate, true);
    // SPNEGO-wrapped NTLM (pyspnego's "negotiate"), with the mechListMIC exchange.
    run("pypsrp", Transport::Http, "admin", "auto", "negotiate")
        .await
        .assert_ok(AuthOutcome::Negotiate, true);
    for auth in ["ntlm", "negotiate"] {
        run("pypsrp", Transport::Https, "admin", "auto", auth)
            .await
            .assert_ok(AuthOutcome::Negotiate, false);
    }
    for auth in ["ntlm", "negotiate"] {
        run("pypsrp", Transport::Http, "wrong", "auto", auth)
            .await
            .assert_refused();
    }
    run("pypsrp", Transport::Http, "admin", "never", "basic")
        .await
        .assert_ok(AuthOutcome::Basic, false);
}
