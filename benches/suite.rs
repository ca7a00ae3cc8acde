//! How long the conformance suite takes against the embedded mock: the figure a timing
//! assertion in `crates/conformance/tests/mock.rs` used to guard (and made flaky on a
//! loaded machine). One criterion group, `suite_against_mock`, each iteration a whole
//! run against a fresh mock (default scenario, plain HTTP on loopback, admin/admin), the
//! mock's start and stop outside the timed part:
//!
//! - `discovery_and_one_case`: the baseline, a run of one case (discovery is most of it);
//! - `wsman_jobs4`: every WS-Man case with 4 jobs, as `touchstone check` runs them;
//! - `wsman_jobs1`: the same one case at a time.
//!
//! Every run is checked: every MUST case passes (with the mock's own waivers), so a
//! broken mock fails the bench instead of timing errors.

use std::time::{Duration, Instant};

use conformance::case::Level;
use conformance::waiver::Waivers;
use conformance::{Case, Outcome, RunOptions, Suite};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};

fn wsman_cases() -> Vec<Case> {
    Suite::embedded()
        .expect("the embedded suite loads")
        .cases
        .into_iter()
        .filter(|c| !conformance::ipmi::needs(&c.id).1)
        .collect()
}

fn waivers() -> Waivers {
    Waivers::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/conformance/tests/mock-waivers.toml"
    )))
    .expect("the mock's waivers load")
}

/// One run of `cases` with `jobs` against a fresh mock; the run's duration.
async fn timed_run(cases: &[Case], jobs: usize) -> Duration {
    let mock = mock::MockServer::start().await.expect("start the mock");
    let client = client::Client::new(client::Target::new(mock.url()).credentials("admin", "admin"))
        .expect("a client");
    let opts = RunOptions {
        jobs,
        waivers: waivers(),
        ..RunOptions::default()
    };
    let t0 = Instant::now();
    let report = conformance::run::run(client, cases, opts, |_| {})
        .await
        .expect("the run starts");
    let took = t0.elapsed();
    let bad: Vec<&str> = report
        .results
        .iter()
        .filter(|r| r.level == Level::Must && r.waiver.is_none() && r.outcome != Outcome::Pass)
        .map(|r| r.id.as_str())
        .collect();
    assert!(bad.is_empty(), "MUST cases the mock does not pass: {bad:?}");
    mock.shutdown().await;
    took
}

fn suite(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let all = wsman_cases();
    let one: Vec<Case> = all
        .iter()
        .filter(|c| c.id == "wsman.identify.answered")
        .cloned()
        .collect();
    assert_eq!(one.len(), 1, "the baseline case exists");

    let mut g = c.benchmark_group("suite_against_mock");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(20));
    for (name, cases, jobs) in [
        ("discovery_and_one_case", &one, 1),
        ("wsman_jobs4", &all, 4),
        ("wsman_jobs1", &all, 1),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| rt.block_on(timed_run(cases, jobs)))
                    .sum()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, suite);
criterion_main!(benches);
