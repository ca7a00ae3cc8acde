//! Self-validation of the IPMI profiles: the embedded mock, started with its IPMI
//! listener (and, for `cross`, its WS-Man endpoint), passes every MUST case of
//! `ipmi-lan` and `cross`.

mod support;

use std::time::{Duration, Instant};

use conformance::case::Level;
use conformance::ipmi::IpmiOptions;
use conformance::{RunOptions, Suite};

/// The default machine with a short IPMI idle timeout, so the idle-timeout case runs.
pub const SCENARIO: &str = "[ipmi]\nidle_timeout_ms = 1500\n";

/// The default accounts, and an idle wait past the scenario's idle timeout.
pub fn ipmi_options(addr: std::net::SocketAddr) -> IpmiOptions {
    let mut o = support::ipmi_options(addr);
    o.idle_wait = Some(Duration::from_millis(2500));
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_embedded_mock_passes_every_must_ipmi_and_cross_case() {
    let dir = std::env::temp_dir().join(format!("touchstone-ipmi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("short-idle.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let mock = mock::MockServer::builder()
        .scenario_file(&scenario)
        .unwrap()
        .ipmi(true)
        .start()
        .await
        .unwrap();
    let suite = Suite::embedded().unwrap();
    let cases = suite.select(&["ipmi-lan".into(), "cross".into()], None);
    assert!(cases.len() >= 60, "only {} IPMI cases", cases.len());
    let opts = RunOptions {
        jobs: 4,
        ipmi: Some(ipmi_options(mock.ipmi_addr().unwrap())),
        ..RunOptions::default()
    };
    let start = Instant::now();
    let report = support::run(&mock.url(), &cases, opts).await;
    let took = start.elapsed();
    mock.shutdown().await;
    let bad = support::not_passing(&report, |r| r.level == Level::Must);
    let others = support::not_passing(&report, |r| r.level != Level::Must);
    assert!(
        bad.is_empty(),
        "MUST cases the mock does not pass:\n{}\n(others: {others:?})",
        bad.join("\n")
    );
    assert!(
        others.is_empty(),
        "SHOULD/MAY cases not passing: {others:#?}"
    );
    // Every IPMI case carries its decrypted packets.
    for r in report.results.iter().filter(|r| r.id.starts_with("ipmi.")) {
        assert!(
            r.transcript.iter().any(|l| l.request.starts_with("IPMI")),
            "{} has no IPMI transcript",
            r.id
        );
    }
    eprintln!("{} IPMI and cross cases in {took:?}", report.results.len());
    assert!(took < Duration::from_secs(60), "the run took {took:?}");
}
