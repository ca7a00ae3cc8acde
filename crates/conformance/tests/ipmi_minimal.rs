//! Fair verdicts on BMCs we did not write: the IPMI profile against deliberately
//! minimal, correct BMCs reports no failure, warning or error the scenario does not
//! deliberately cause. `mocks/ipmi-chassis-only.toml` advertises only the chassis
//! device (SDR, SEL, FRU and sensor commands answer 0xC1), offers no SOL and no
//! IPMI 1.5 and does not answer the presence ping; `mocks/ipmi-small-reads.toml` refuses
//! reads above 16 bytes with 0xCA, puts a management controller locator first in its
//! SDR and enables IPMI 1.5 authentication type none on purpose, advertising it. What
//! they lack is skipped with the reason; what they have is checked.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use conformance::{Outcome, Report, RunOptions, Suite};

struct Minimal {
    file: &'static str,
    /// Cases that do not pass on purpose (what the scenario deliberately does), with
    /// the outcome they must have.
    deliberate: &'static [(&'static str, Outcome)],
    /// Cases that must pass, proving the cases ran on what the BMC has.
    must_pass: &'static [&'static str],
    /// Cases that must be skipped (what the BMC lacks), with a word of the reason.
    must_skip: &'static [(&'static str, &'static str)],
}

const MINIMAL: [Minimal; 2] = [
    Minimal {
        file: "ipmi-chassis-only.toml",
        deliberate: &[],
        must_pass: &[
            "ipmi.discovery.auth-caps-v20",
            "ipmi.session.login-suite-3",
            "ipmi.commands.get-device-id",
            "ipmi.commands.get-chassis-status",
            "ipmi.privilege.operator-login-as-administrator",
            "ipmi.privilege.operator-set-session-administrator",
            "ipmi.session.rakp-role-above-limit",
        ],
        must_skip: &[
            ("ipmi.sdr.walk-chain", "SDR repository"),
            ("ipmi.sel.walk-chain", "SEL device"),
            ("ipmi.fru.common-header", "FRU inventory"),
            ("ipmi.sensor.every-sdr-sensor-reads", "SDR repository"),
            ("ipmi.commands.get-poh-counter", "optional"),
            ("ipmi.chassis.identify", "optional"),
            ("ipmi.commands.get-system-info", "optional"),
            ("ipmi.session.ipmi15-wrong-password", "IPMI 1.5"),
        ],
    },
    Minimal {
        file: "ipmi-small-reads.toml",
        deliberate: &[],
        must_pass: &[
            "ipmi.sdr.walk-chain",
            "ipmi.sdr.partial-reads",
            "ipmi.sensor.thresholds-match-sdr",
            "ipmi.sensor.every-sdr-sensor-reads",
            "ipmi.sensor.reading-conversion",
            "ipmi.fru.chunked-equals-whole",
            "ipmi.fru.read-too-large",
        ],
        must_skip: &[("ipmi.security.ipmi15-none-refused", "advertises")],
    },
];

async fn run(m: &Minimal) -> Report {
    let mocks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mocks");
    let mock = mock::MockServer::builder()
        .scenario_file(mocks.join(m.file))
        .unwrap_or_else(|e| panic!("{}: {e}", m.file))
        .ipmi(true)
        .start()
        .await
        .unwrap();
    let cases = Suite::embedded()
        .unwrap()
        .select(&["ipmi-lan".into(), "destructive".into()], None);
    let opts = RunOptions {
        jobs: 1,
        ipmi: Some(support::ipmi_options(mock.ipmi_addr().unwrap())),
        ..RunOptions::default()
    };
    let report = conformance::run::run_ipmi(&cases, opts, |_| {})
        .await
        .unwrap_or_else(|e| panic!("{}: the run did not start: {e}", m.file));
    mock.shutdown().await;
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimal_bmcs_get_no_false_alarm() {
    let mut problems = Vec::new();
    for m in &MINIMAL {
        let report = run(m).await;
        let deliberate: BTreeMap<&str, Outcome> = m.deliberate.iter().copied().collect();
        let by_id: BTreeMap<&str, _> = report.results.iter().map(|r| (r.id.as_str(), r)).collect();
        for r in &report.results {
            let wanted = deliberate.get(r.id.as_str()).copied();
            let bad = matches!(r.outcome, Outcome::Fail | Outcome::Warn | Outcome::Error);
            if bad && wanted != Some(r.outcome) {
                problems.push(format!(
                    "{}: {} {}: {}",
                    m.file,
                    r.outcome.as_str(),
                    r.id,
                    r.message.as_deref().unwrap_or("")
                ));
            }
        }
        for (id, outcome) in m.deliberate {
            let got = by_id.get(id).map(|r| r.outcome);
            if got != Some(*outcome) {
                problems.push(format!(
                    "{}: {id} should be {} on purpose, is {}",
                    m.file,
                    outcome.as_str(),
                    got.map_or("absent", Outcome::as_str)
                ));
            }
        }
        for id in m.must_pass {
            let r = by_id.get(id);
            if r.map(|r| r.outcome) != Some(Outcome::Pass) {
                problems.push(format!(
                    "{}: {id} must pass (the BMC has what it checks), is {} ({})",
                    m.file,
                    r.map_or("absent", |r| r.outcome.as_str()),
                    r.and_then(|r| r.message.as_deref()).unwrap_or("")
                ));
            }
        }
        for (id, why) in m.must_skip {
            let r = by_id.get(id);
            let ok = r.is_some_and(|r| {
                r.outcome == Outcome::Skip && r.message.as_deref().is_some_and(|t| t.contains(why))
            });
            if !ok {
                problems.push(format!(
                    "{}: {id} must be skipped saying `{why}`, is {} ({})",
                    m.file,
                    r.map_or("absent", |r| r.outcome.as_str()),
                    r.and_then(|r| r.message.as_deref()).unwrap_or("")
                ));
            }
        }
        // No case may change the BMC for good: what a case changed it says it restored.
        for r in &report.results {
            for c in &r.changes {
                if !c.contains("restored") && !c.contains("added back") && !c.contains("put back") {
                    problems.push(format!("{}: {} changed the BMC: {c}", m.file, r.id));
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}
