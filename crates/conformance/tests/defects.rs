//! The suite sees what it claims: every scenario of `mocks/defects/` is the default
//! machine with one seeded defect, and its header names the cases that must notice it
//! (`# breaks: ID, ID`). Against that scenario exactly those cases must stop passing
//! (fail for MUST, warn for SHOULD, skip for MAY), and every other case must keep the
//! outcome it has against the clean mock.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use conformance::RunOptions;
use conformance::case::Outcome;

use support::breaks;

/// Runs the whole suite against a mock started with `scenario` (the default one when
/// `None`) and returns each case's outcome.
async fn outcomes(scenario: Option<PathBuf>) -> BTreeMap<String, Outcome> {
    let mock = match &scenario {
        Some(p) => mock::MockServer::builder()
            .scenario_file(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .start()
            .await
            .unwrap(),
        None => mock::MockServer::start().await.unwrap(),
    };
    let opts = RunOptions {
        jobs: 8,
        ..RunOptions::default()
    };
    let report = support::run(&mock.url(), &support::wsman_cases(), opts).await;
    mock.shutdown().await;
    support::outcomes(report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_seeded_defect_is_seen_by_exactly_the_cases_it_names() {
    // IPMI defects are checked by tests/ipmi_defects.rs.
    let files = support::defect_files(false);
    assert!(
        files.len() >= 10,
        "only {} seeded defects in mocks/defects",
        files.len()
    );
    let problems = support::defect_problems(files, outcomes).await;
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn breaks_lines_parse() {
    let ids = breaks("# x\n# breaks: a.b, c.d-e\n[scenario]\n").unwrap();
    assert_eq!(
        ids.into_iter().collect::<Vec<_>>(),
        vec!["a.b".to_owned(), "c.d-e".to_owned()]
    );
    assert!(breaks("[scenario]\n").is_none());
}
