//! Fleet figures (a bench binary, not a criterion group: one run is minutes of
//! wall-clock and the figures are whole-fleet ones). `cargo bench --bench fleet`,
//! with `FLEET_N` machines (default 10000) and `FLEET_JOBS` requests in flight
//! (default 64):
//!
//! 1. start: the time to plan and bind the fleet, and the process's RSS after it;
//! 2. sweep: every machine gets an Identify and a Get of `CIM_ComputerSystem` over
//!    WS-Man and, over an RMCP+ session, Get Device ID (login, command, close): the
//!    rate of each and its p50/p99, and the RSS once every machine is built.
//!
//! The client runs in the same process (its share of the RSS is small: it keeps no
//! transcripts here). The single-machine baseline of the same requests is
//! `mock_throughput`.

use std::time::{Duration, Instant};

use client::ipmi::{IpmiSession, IpmiTarget};
use ipmi::codes::Privilege;
use ipmi::console::SuiteChoice;
use mock::fleet::{Fleet, FleetConfig};

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that is not "fleet" skips this binary.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"fleet".contains(a.as_str()))
    {
        return;
    }
    let n = env("FLEET_N", 10_000);
    let jobs = env("FLEET_JOBS", 64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let base = mock::Scenario::default_scenario();
        let mut config = FleetConfig::new(base, mock::scenario::DEFAULT_TOML.into(), n);
        config.spec.first_ip = std::net::Ipv4Addr::new(127, 2, 0, 1);
        config.spec.http_port = Some(0);
        config.spec.ipmi_port = Some(0);
        let rss0 = rss_mib();
        let t0 = Instant::now();
        let fleet = Fleet::start(config).await.expect("fleet starts");
        let started = t0.elapsed();
        let rss_started = rss_mib();
        println!(
            "fleet/start n={n}: {:.0} ms, RSS {:.0} MiB (+{:.0} MiB), layout: {}",
            started.as_secs_f64() * 1000.0,
            rss_started,
            rss_started - rss0,
            fleet.layout
        );
        let inv = fleet.inventory();
        let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(jobs));
        let t1 = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for e in inv.machines.clone() {
            let sem = sem.clone();
            tasks.spawn(async move {
                let _permit = sem.acquire_owned().await.expect("semaphore");
                let url = e.wsman_url.expect("http");
                let c = client::Client::new(client::Target::new(url).credentials("admin", "admin"))
                    .expect("client");
                let mut wsman = Vec::new();
                let t = Instant::now();
                let ok_identify = c.identify(false).await.is_ok();
                wsman.push(t.elapsed());
                let t = Instant::now();
                let get = c
                    .request(format!("{}CIM_ComputerSystem", touchstone_benches::CIM))
                    .get();
                let ok_get = c.send(&get).await.is_ok_and(|a| a.fault().is_none());
                wsman.push(t.elapsed());
                let addr: std::net::SocketAddr = e.ipmi.expect("ipmi").parse().expect("addr");
                let t = Instant::now();
                let mut ok_ipmi = false;
                if let Ok(mut s) =
                    IpmiSession::open(&IpmiTarget::new(addr, "admin", "admin"), 1).await
                {
                    if s.login_v20(Privilege::Administrator, SuiteChoice::Auto)
                        .await
                        .is_ok()
                    {
                        ok_ipmi = s.command(0x06, 0x01, &[]).await.is_ok();
                        let _ = s.close().await;
                    }
                }
                (wsman, t.elapsed(), ok_identify && ok_get && ok_ipmi)
            });
        }
        let (mut wsman, mut ipmi, mut failed) = (Vec::new(), Vec::new(), 0usize);
        while let Some(r) = tasks.join_next().await {
            let (w, i, ok) = r.expect("task");
            wsman.extend(w);
            ipmi.push(i);
            failed += usize::from(!ok);
        }
        let took = t1.elapsed().as_secs_f64();
        wsman.sort();
        ipmi.sort();
        println!(
            "fleet/sweep n={n} jobs={jobs}: {took:.1} s, {failed} machines failed; \
             WS-Man {:.0} req/s p50 {:.2} ms p99 {:.2} ms; \
             IPMI (login + Get Device ID + close) {:.0} sessions/s p50 {:.2} ms p99 {:.2} ms; \
             RSS {:.0} MiB with {} machines built",
            wsman.len() as f64 / took,
            pct(&wsman, 0.5),
            pct(&wsman, 0.99),
            ipmi.len() as f64 / took,
            pct(&ipmi, 0.5),
            pct(&ipmi, 0.99),
            rss_mib(),
            fleet.built()
        );
        fleet.shutdown().await;
    });
}
