//! Self-validation: the embedded mock (started here through a dev-dependency) passes
//! every MUST case of the suite, with only the waivers of `tests/mock-waivers.toml`,
//! none of them stale; and the report order does not depend on `jobs`.

mod support;

use conformance::case::Level;
use conformance::{RunOptions, Waivers};

// The WS-Man cases only: the IPMI and cross profiles are checked in `tests/ipmi.rs`.
use support::wsman_cases;

async fn run_against_mock(jobs: usize) -> conformance::Report {
    let mock = mock::MockServer::start().await.unwrap();
    let cases = wsman_cases();
    let waivers = Waivers::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/mock-waivers.toml"
    )))
    .unwrap();
    let opts = RunOptions {
        jobs,
        waivers,
        ..RunOptions::default()
    };
    let report = support::run(&mock.url(), &cases, opts).await;
    mock.shutdown().await;
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_embedded_mock_passes_every_must_case() {
    let report = run_against_mock(8).await;
    let bad = support::not_passing(&report, |r| r.level == Level::Must && r.waiver.is_none());
    assert!(
        bad.is_empty(),
        "MUST cases the mock does not pass:\n{}",
        bad.join("\n")
    );
    let stale: Vec<&str> = report
        .stale_waivers()
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert!(stale.is_empty(), "stale mock waivers: {stale:?}");
    assert_eq!(report.exit_code(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn report_order_is_suite_order_whatever_the_parallelism() {
    let one = run_against_mock(1).await;
    let many = run_against_mock(16).await;
    let ids = |r: &conformance::Report| r.results.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    let suite: Vec<String> = wsman_cases().iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids(&one), suite);
    assert_eq!(ids(&many), suite);
    let outcomes =
        |r: &conformance::Report| r.results.iter().map(|c| c.outcome).collect::<Vec<_>>();
    assert_eq!(outcomes(&one), outcomes(&many));
}
