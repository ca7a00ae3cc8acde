//! The IPMI profiles see what they claim: every `mocks/defects/ipmi-*.toml` is the
//! default machine with one seeded IPMI defect, and its `# breaks:` line names the cases
//! that must notice it. Against that scenario exactly those cases stop passing (fail for
//! MUST, warn for SHOULD, skip for MAY); every other IPMI and cross case keeps the
//! outcome it has against the clean mock.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use conformance::case::Outcome;
use conformance::{RunOptions, Suite};

async fn outcomes(scenario: Option<PathBuf>) -> BTreeMap<String, Outcome> {
    let b = match &scenario {
        Some(p) => mock::MockServer::builder()
            .scenario_file(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        None => mock::MockServer::builder(),
    };
    let mock = b.ipmi(true).start().await.unwrap();
    let cases = Suite::embedded()
        .unwrap()
        .select(&["ipmi-lan".into(), "cross".into()], None);
    let opts = RunOptions {
        jobs: 4,
        ipmi: Some(support::ipmi_options(mock.ipmi_addr().unwrap())),
        ..RunOptions::default()
    };
    let report = support::run(&mock.url(), &cases, opts).await;
    mock.shutdown().await;
    support::outcomes(report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_seeded_ipmi_defect_is_seen_by_exactly_the_cases_it_names() {
    let files = support::defect_files(true);
    assert!(
        files.len() >= 10,
        "only {} seeded IPMI defects",
        files.len()
    );
    let problems = support::defect_problems(files, outcomes).await;
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}
