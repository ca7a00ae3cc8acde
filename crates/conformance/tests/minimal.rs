//! Fair verdicts on servers we did not write: the WS-Man suite against deliberately
//! minimal, correct scenarios (`mocks/minimal-resource.toml`: one vendor resource and
//! nothing else; `mocks/winrm-minimal.toml`: WinRM's config resources and the shell;
//! `mocks/amt-minimal.toml`: Digest only, AMT/IPS classes only) reports no failure,
//! no warning, no error and no rule finding that the scenario does not deliberately
//! cause. What they lack is skipped with the reason; what they have is checked.

mod support;

use std::path::Path;

use conformance::discover::UserResource;
use conformance::{Outcome, Report, RunOptions, Waivers};

struct Minimal {
    file: &'static str,
    user: &'static str,
    password: &'static str,
    /// What a user of this server passes as `--resource`.
    resources: &'static [&'static str],
    /// Deviations the scenario imitates on purpose (a waiver file of `mocks/waivers`).
    waivers: Option<&'static str>,
    /// Cases that must pass, proving the protocol cases ran on what the server has.
    must_pass: &'static [&'static str],
}

const MINIMAL: [Minimal; 3] = [
    Minimal {
        file: "minimal-resource.toml",
        user: "admin",
        password: "admin",
        resources: &["http://touchstone.invalid/wbem/1/Settings"],
        waivers: None,
        must_pass: &[
            "wsman.core.relates-to",
            "wsman.core.must-understand-unknown",
            "wsman.headers.fragment-transfer-not-ignored",
            "wsman.headers.locale-must-understand",
            "wsman.headers.option-must-comply",
        ],
    },
    Minimal {
        file: "winrm-minimal.toml",
        user: "Administrator",
        password: "Touchstone!1",
        resources: &[],
        waivers: Some("winrm.toml"),
        must_pass: &[
            "wsman.core.relates-to",
            "wsman.core.missing-to",
            "wsman.headers.fragment-transfer-not-ignored",
            "wsman.shell.create.resource-created",
        ],
    },
    Minimal {
        file: "amt-minimal.toml",
        user: "admin",
        password: "P@ssw0rd",
        resources: &[],
        waivers: None,
        must_pass: &[
            "wsman.core.relates-to",
            "wsman.core.response-to-anonymous",
            "wsman.headers.locale-must-understand",
            // Raw-socket cases answer the Digest challenge of a Digest-only target.
            "wsman.http.chunked-request",
            "wsman.http.keep-alive",
        ],
    },
];

async fn run(m: &Minimal) -> Report {
    let mocks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mocks");
    let mock = mock::MockServer::builder()
        .scenario_file(mocks.join(m.file))
        .unwrap_or_else(|e| panic!("{}: {e}", m.file))
        .start()
        .await
        .unwrap();
    let waivers = match m.waivers {
        Some(w) => Waivers::load(&mocks.join("waivers").join(w)).unwrap(),
        None => Waivers::default(),
    };
    let opts = RunOptions {
        jobs: 8,
        waivers,
        resources: m
            .resources
            .iter()
            .map(|r| r.parse::<UserResource>().unwrap())
            .collect(),
        ..RunOptions::default()
    };
    let client =
        client::Client::new(client::Target::new(mock.url()).credentials(m.user, m.password))
            .unwrap();
    let report = conformance::run::run(client, &support::wsman_cases(), opts, |_| {})
        .await
        .unwrap();
    mock.shutdown().await;
    report
}

fn problems(report: &Report) -> Vec<String> {
    let mut out: Vec<String> = report
        .results
        .iter()
        .filter(|r| r.waiver.is_none())
        .filter(|r| matches!(r.outcome, Outcome::Fail | Outcome::Warn | Outcome::Error))
        .map(|r| {
            format!(
                "{} {:?}: {}",
                r.id,
                r.outcome,
                r.message.as_deref().unwrap_or_default()
            )
        })
        .collect();
    for (r, f) in report.findings() {
        if f.waiver.is_none() {
            out.push(format!(
                "{}#{} {:?}: {}",
                r.id, f.rule, f.outcome, f.message
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn minimal_correct_servers_get_no_false_alarm() {
    let mut all = Vec::new();
    for m in &MINIMAL {
        let report = run(m).await;
        for p in problems(&report) {
            all.push(format!("{}: {p}", m.file));
        }
        for id in m.must_pass {
            let r = report.results.iter().find(|r| r.id == *id);
            let outcome = r.map(|r| r.outcome);
            if outcome != Some(Outcome::Pass) {
                all.push(format!(
                    "{}: {id} should pass on what the server offers, got {outcome:?}: {}",
                    m.file,
                    r.and_then(|r| r.message.clone()).unwrap_or_default()
                ));
            }
        }
        let skips = report
            .results
            .iter()
            .filter(|r| r.outcome == Outcome::Skip)
            .count();
        let passes = report
            .results
            .iter()
            .filter(|r| r.outcome == Outcome::Pass)
            .count();
        eprintln!("{}: {passes} passed, {skips} skipped", m.file);
        // Every skip says why.
        for r in report.results.iter().filter(|r| r.outcome == Outcome::Skip) {
            if r.message.as_deref().is_none_or(str::is_empty) {
                all.push(format!("{}: {} skipped without a reason", m.file, r.id));
            }
        }
    }
    assert!(all.is_empty(), "\n{}", all.join("\n"));
}
