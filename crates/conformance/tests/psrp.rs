//! The `psrp` profile is fair to servers that offer less: against a JEA session
//! configuration that shows one cmdlet, the cases whose cmdlets it hides are skipped
//! with the error record it answered and the others still pass; against a session
//! configuration the target does not have, the whole profile is skipped with the
//! Create's answer. (Against the full default configuration every case passes: that is
//! `tests/mock.rs`, and each psrp defect of `mocks/defects/` is `tests/defects.rs`.)

mod support;

use std::collections::BTreeMap;

use conformance::{Outcome, Report, RunOptions};

/// The default machine with one JEA endpoint that shows only Get-Service.
const JEA: &str = r#"
[scenario]
name = "psrp-jea"
description = "The default machine plus a JEA session configuration showing Get-Service only."

[[machine.session_configurations]]
name = "Touchstone.JEA"
visible_cmdlets = ["Get-Service"]
language_mode = "NoLanguage"
"#;

fn psrp_cases() -> Vec<conformance::Case> {
    support::wsman_cases()
        .into_iter()
        .filter(|c| c.profiles.iter().any(|p| p == "psrp"))
        .collect()
}

async fn run(scenario: &str, configuration: &str) -> Report {
    let mock = mock::MockServer::builder()
        .scenario_str(scenario)
        .unwrap()
        .start()
        .await
        .unwrap();
    let opts = RunOptions {
        jobs: 4,
        psrp_configuration: Some(configuration.into()),
        ..RunOptions::default()
    };
    let report = support::run(&mock.url(), &psrp_cases(), opts).await;
    mock.shutdown().await;
    report
}

fn by_id(report: &Report) -> BTreeMap<&str, (Outcome, &str)> {
    report
        .results
        .iter()
        .map(|r| {
            (
                r.id.as_str(),
                (r.outcome, r.message.as_deref().unwrap_or_default()),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jea_endpoint_skips_what_it_hides_and_passes_the_rest() {
    let report = run(JEA, "Touchstone.JEA").await;
    let got = by_id(&report);
    assert_eq!(got.len(), psrp_cases().len(), "{got:#?}");
    let hidden = [
        ("wsman.psrp.pipeline.output", "Write-Output"),
        ("wsman.psrp.receive.stdout", "Write-Output"),
        ("wsman.psrp.pipeline.stop", "Start-Sleep"),
    ];
    for (id, cmdlet) in hidden {
        let (outcome, message) = got[id];
        assert_eq!(outcome, Outcome::Skip, "{id}: {message}");
        assert!(
            message.contains(cmdlet) && message.contains("CommandNotFoundException"),
            "{id}: {message}"
        );
    }
    for (id, (outcome, message)) in &got {
        if hidden.iter().any(|(h, _)| h == id) {
            continue;
        }
        assert_eq!(*outcome, Outcome::Pass, "{id}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_without_the_configuration_skips_the_profile_with_its_answer() {
    let report = run(JEA, "Touchstone.NoSuchEndpoint").await;
    let got = by_id(&report);
    assert!(!got.is_empty());
    for (id, (outcome, message)) in &got {
        assert_eq!(*outcome, Outcome::Skip, "{id}: {message}");
        assert!(
            message.contains("offers no PowerShell remoting")
                && message.contains("Touchstone.NoSuchEndpoint"),
            "{id}: {message}"
        );
    }
}
