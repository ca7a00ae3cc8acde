//! Self-validation of the IPMI profiles: the embedded mock, started with its IPMI
//! listener (and, for `cross`, its WS-Man endpoint), passes every MUST case of
//! `ipmi-lan` and `cross`.

use std::time::{Duration, Instant};

use client::ipmi::IpmiTarget;
use conformance::case::{Level, Outcome};
use conformance::ipmi::IpmiOptions;
use conformance::{RunOptions, Suite};

/// The default machine with a short IPMI idle timeout, so the idle-timeout case runs.
pub const SCENARIO: &str = "[ipmi]\nidle_timeout_ms = 1500\n";

pub fn ipmi_options(addr: std::net::SocketAddr) -> IpmiOptions {
    let mut o = IpmiOptions::new(IpmiTarget::new(addr, "admin", "admin"));
    o.operator = Some(("operator".into(), "operator".into()));
    o.user = Some(("user".into(), "user".into()));
    o.idle_wait = Some(Duration::from_millis(2500));
    o.silence = Duration::from_millis(300);
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
    let client =
        client::Client::new(client::Target::new(mock.url()).credentials("admin", "admin")).unwrap();
    let opts = RunOptions {
        jobs: 4,
        ipmi: Some(ipmi_options(mock.ipmi_addr().unwrap())),
        ..RunOptions::default()
    };
    let start = Instant::now();
    let report = conformance::run::run(client, &cases, opts, |_| {})
        .await
        .unwrap();
    let took = start.elapsed();
    mock.shutdown().await;
    let bad: Vec<String> = report
        .results
        .iter()
        .filter(|r| r.level == Level::Must && r.outcome != Outcome::Pass)
        .map(|r| {
            format!(
                "{} {:?}: {}",
                r.id,
                r.outcome,
                r.message.as_deref().unwrap_or_default()
            )
        })
        .collect();
    let others: Vec<String> = report
        .results
        .iter()
        .filter(|r| r.level != Level::Must && r.outcome != Outcome::Pass)
        .map(|r| {
            format!(
                "{} {:?}: {}",
                r.id,
                r.outcome,
                r.message.as_deref().unwrap_or_default()
            )
        })
        .collect();
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
