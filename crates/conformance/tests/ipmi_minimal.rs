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
        // It does not answer the presence ping on purpose (SHOULD: many BMCs do not).
        deliberate: &[("ipmi.discovery.presence-ping", Outcome::Warn)],
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

/// The SEL as a list of (record type, event bytes) — what a restore can put back (IDs
/// and timestamps are the BMC's to assign).
fn sel_contents(mock: &mock::MockServer) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = mock.mock().with_machine(|m, _| {
        m.sel_entries()
            .iter()
            .map(|e| {
                let mut b = vec![e.record_type, e.sensor_type, e.sensor_number, e.event_type];
                b.extend_from_slice(&e.data);
                b
            })
            .collect()
    });
    v.sort();
    v
}

/// Runs the IPMI profile (with `destructive`) against the scenario; the report and
/// whether every SEL entry there before the run is there after it.
async fn run(m: &Minimal) -> (Report, bool) {
    run_file(m.file, &["ipmi-lan", "destructive"]).await
}

async fn run_file(file: &str, profiles: &[&str]) -> (Report, bool) {
    let mocks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mocks");
    let mock = mock::MockServer::builder()
        .scenario_file(mocks.join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .ipmi(true)
        .start()
        .await
        .unwrap();
    let profiles: Vec<String> = profiles.iter().map(|p| p.to_string()).collect();
    let mut cases = Suite::embedded().unwrap().select(&profiles, None);
    if !profiles.iter().any(|p| p == "destructive") {
        cases.retain(|c| !c.profiles.iter().any(|p| p == "destructive"));
    }
    let opts = RunOptions {
        jobs: 1,
        ipmi: Some(support::ipmi_options(mock.ipmi_addr().unwrap())),
        ..RunOptions::default()
    };
    let before = sel_contents(&mock);
    let report = conformance::run::run_ipmi(&cases, opts, |_| {})
        .await
        .unwrap_or_else(|e| panic!("{file}: the run did not start: {e}"));
    // Every entry there before is there after (the BMC may log new ones: power
    // changes of the destructive cases are events).
    let mut after = sel_contents(&mock);
    let kept = before
        .iter()
        .all(|e| match after.iter().position(|a| a == e) {
            Some(i) => {
                after.remove(i);
                true
            }
            None => false,
        });
    mock.shutdown().await;
    (report, kept)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimal_bmcs_get_no_false_alarm() {
    let mut problems = Vec::new();
    for m in &MINIMAL {
        let (report, sel_kept) = run(m).await;
        if !sel_kept {
            problems.push(format!("{}: SEL entries were lost", m.file));
        }
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
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// A BMC that ignores reservation IDs lets the reservation cases delete and clear what
/// they must not; outside the `destructive` profile the engine saves the SEL first and
/// puts back what went missing, and the report says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bmc_ignoring_reservations_loses_no_sel_entry_to_the_suite() {
    let (report, kept) = run_file("defects/ipmi-reservations-ignored.toml", &["sel"]).await;
    assert!(kept, "SEL entries were lost");
    assert!(
        report
            .results
            .iter()
            .all(|r| !r.profiles.iter().any(|p| p == "destructive")),
        "only non-destructive cases ran"
    );
    let restored: Vec<String> = report
        .results
        .iter()
        .flat_map(|r| r.changes.iter().map(move |c| format!("{}: {c}", r.id)))
        .collect();
    assert!(
        restored.iter().any(|c| c.starts_with("ipmi.sel.delete-needs-reservation")
            && c.contains("added back")),
        "the deletion the BMC allowed is reported and undone: {restored:#?}"
    );
    let failed = |id: &str| {
        report
            .results
            .iter()
            .any(|r| r.id == id && r.outcome == Outcome::Fail)
    };
    assert!(failed("ipmi.sel.delete-needs-reservation"));
    assert!(failed("ipmi.sel.reservation-cancelled-by-add"));
}
