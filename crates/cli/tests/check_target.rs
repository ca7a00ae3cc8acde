//! `touchstone check` against targets that die, crawl or never answer: the exit code
//! (3 for a target lost or never answering, 1 for a slow one, never 2), the one
//! "stopped answering" message, and reports that are complete and parseable anyway.
//!
//! A target dies on cue through a proxy in the test: it forwards to a mock until a
//! request carrying a marker header arrives, then closes its listener (so later
//! connects are refused) and every connection, as a crashed server does. Nothing here
//! waits on a clock to order events; the only waits are the deadlines under test.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Output;

use support::touchstone;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The header value that kills the proxied target.
const MARKER: &str = "touchstone-test-kill-the-target";

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A scratch directory of the test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("touchstone-{name}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("suite")).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }

    /// Writes the cases of the run (a directory for `--suites`).
    fn suite(&self, toml: &str) -> String {
        std::fs::write(self.0.join("suite").join("cases.toml"), toml).unwrap();
        self.path("suite")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One suite case: an Identify (with the kill marker when `kill`) that must be
/// answered with 200.
fn identify_case(id: &str, kill: bool) -> String {
    let headers = if kill {
        format!(", http_headers = {{ \"X-Touchstone-Test\" = \"{MARKER}\" }}")
    } else {
        String::new()
    };
    format!(
        r#"
[[case]]
id = "{id}"
title = "Identify is answered"
level = "MUST"
profiles = ["local"]
clause = {{ spec = "DSP0226 1.x", section = "Identify", requirement = "Identify is answered." }}
[[case.step]]
request = {{ op = "identify"{headers} }}
expect = {{ status = 200 }}
"#
    )
}

/// A proxy in front of `upstream` that dies when a request carries [`MARKER`]. Every
/// answer it forwards says `Connection: close`, so each request has a connection of
/// its own (see [`pump`]).
async fn kill_switch_proxy(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // `kill`: a marker was seen. `closed`: the listener is gone, so that connections
    // are dropped only once a new connect is sure to be refused.
    let (kill, mut killed) = watch::channel(false);
    let (closed_tx, closed) = watch::channel(false);
    let pumps_killed = killed.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                _ = killed.changed() => break,
                accepted = listener.accept() => {
                    let Ok((conn, _)) = accepted else { break };
                    tokio::spawn(pump(
                        conn,
                        upstream,
                        kill.clone(),
                        pumps_killed.clone(),
                        closed.clone(),
                    ));
                }
            }
        }
        drop(listener);
        let _ = closed_tx.send(true);
        // Keep `kill` alive: pumps still running must see the change, not a closed channel.
        std::future::pending::<()>().await;
    });
    addr
}

/// Forwards one connection both ways until either side closes, the marker comes (this
/// pump kills the target) or another pump killed it. A killed connection is dropped
/// only once the listener is gone: whoever sees it close and connects again is refused.
async fn pump(
    mut client: TcpStream,
    upstream: SocketAddr,
    kill: watch::Sender<bool>,
    mut killed: watch::Receiver<bool>,
    mut closed: watch::Receiver<bool>,
) {
    if *killed.borrow_and_update() {
        let _ = closed.wait_for(|c| *c).await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut from_client, mut from_server) = ([0u8; 8192], [0u8; 8192]);
    let mut seen: Vec<u8> = Vec::new();
    // One answer per connection: a kept-alive connection the target dropped could
    // otherwise carry one more request before the client notices it closed (a real
    // race, which makes that case's request the one "closed without an answer"
    // instead of a refused connect), and the test would depend on timing.
    let mut closing = false;
    loop {
        tokio::select! {
            biased;
            _ = killed.changed() => {
                let _ = closed.wait_for(|c| *c).await;
                return;
            }
            n = client.read(&mut from_client) => {
                let n = match n { Ok(0) | Err(_) => return, Ok(n) => n };
                seen.extend_from_slice(&from_client[..n]);
                if seen.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()) {
                    let _ = kill.send(true);
                    let _ = closed.wait_for(|c| *c).await;
                    return;
                }
                if server.write_all(&from_client[..n]).await.is_err() {
                    return;
                }
            }
            n = server.read(&mut from_server) => {
                let n = match n { Ok(0) | Err(_) => return, Ok(n) => n };
                let mut out = from_server[..n].to_vec();
                if !closing {
                    // Insert `Connection: close` after the status line (the first read
                    // of an answer holds it).
                    if let Some(i) = out.windows(2).position(|w| w == b"\r\n") {
                        out.splice(i + 2..i + 2, b"Connection: close\r\n".iter().copied());
                        closing = true;
                    }
                }
                if client.write_all(&out).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads the three reports and checks that each is complete: every case of `ids` has
/// a result in the JSON, the JUnit XML is well formed with one test case per case, and
/// the HTML names every case. Returns the JSON report.
fn read_reports(scratch: &Scratch, ids: &[String]) -> serde_json::Value {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scratch.path("r.json")).unwrap())
            .expect("the JSON report parses");
    let results = json["results"].as_array().expect("results");
    let got: Vec<&str> = results.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(got, ids, "every selected case, in suite order");
    for r in results {
        assert!(
            ["pass", "fail", "warn", "skip", "error"].contains(&r["outcome"].as_str().unwrap()),
            "{r}"
        );
    }
    let xml = std::fs::read_to_string(scratch.path("r.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("the JUnit report is well-formed XML");
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, ids.len(), "{xml}");
    let html = std::fs::read_to_string(scratch.path("r.html")).unwrap();
    for id in ids {
        assert!(html.contains(id.as_str()), "{id} not in the HTML report");
    }
    json
}

fn report_args(scratch: &Scratch, args: &mut Vec<String>) {
    for (flag, file) in [
        ("--json", "r.json"),
        ("--junit", "r.xml"),
        ("--html", "r.html"),
    ] {
        args.push(flag.to_owned());
        args.push(scratch.path(file));
    }
}

fn run(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    touchstone(&args)
}

#[test]
fn a_target_that_dies_mid_run_is_said_once_its_remaining_cases_are_errors_and_exit_is_3() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt.block_on(mock::MockServer::builder().start()).unwrap();
    let upstream: SocketAddr = mock.url()["http://".len()..]
        .trim_end_matches("/wsman")
        .parse()
        .unwrap();
    let proxy = rt.block_on(kill_switch_proxy(upstream));
    let scratch = Scratch::new("dies");
    let ids: Vec<String> = ["one", "two", "three", "four", "five", "six"]
        .iter()
        .map(|n| format!("local.dies.{n}"))
        .collect();
    let suite: String = ids
        .iter()
        .map(|id| identify_case(id, id.ends_with("three")))
        .collect();
    let mut args: Vec<String> = [
        "check",
        "--target",
        &format!("http://{proxy}/wsman"),
        "--user",
        "admin",
        "--password",
        "admin",
        "--jobs",
        "1",
        "--suites",
        &scratch.suite(&suite),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    report_args(&scratch, &mut args);
    let o = run(&args);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}\n{err}");
    let expected = format!(
        "the target stopped answering during case local.dies.three (the connection closed \
         without an answer, then: cannot connect to {proxy}: "
    );
    assert!(out.contains(&format!("TARGET LOST: {expected}")), "{out}");
    assert_eq!(
        format!("{out}{err}").matches("stopped answering").count(),
        1,
        "said once:\n{out}\n{err}"
    );
    assert!(
        out.contains(
            "3 cases could not be run (errors): local.dies.four, local.dies.five, local.dies.six"
        ),
        "{out}"
    );
    let json = read_reports(&scratch, &ids);
    let lost = json["target_lost"].as_str().expect("target_lost is set");
    assert!(lost.starts_with(&expected), "{lost}");
    let results = json["results"].as_array().unwrap();
    let outcome = |i: usize| results[i]["outcome"].as_str().unwrap();
    assert_eq!((outcome(0), outcome(1)), ("pass", "pass"));
    // The case whose request the target died on failed, with the words for it.
    assert_eq!(outcome(2), "fail");
    assert!(
        results[2]["message"]
            .as_str()
            .unwrap()
            .contains("the connection closed without an answer (the server may have crashed)"),
        "{}",
        results[2]
    );
    for r in &results[3..] {
        assert_eq!(r["outcome"], "error", "{r}");
        assert_eq!(r["message"].as_str(), Some(lost), "{r}");
        // Nothing reached the target: a refused connect carries no request.
        assert!(r["transcript"].as_array().unwrap().is_empty(), "{r}");
    }
    let xml = std::fs::read_to_string(scratch.path("r.xml")).unwrap();
    assert!(xml.contains("touchstone.target_lost"), "{xml}");
    let html = std::fs::read_to_string(scratch.path("r.html")).unwrap();
    assert!(html.contains("id=\"target-lost\""));
    rt.block_on(mock.shutdown());
}

#[test]
fn with_parallel_jobs_the_target_lost_is_still_said_once_and_every_case_has_a_result() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt.block_on(mock::MockServer::builder().start()).unwrap();
    let upstream: SocketAddr = mock.url()["http://".len()..]
        .trim_end_matches("/wsman")
        .parse()
        .unwrap();
    let proxy = rt.block_on(kill_switch_proxy(upstream));
    let scratch = Scratch::new("dies-parallel");
    // Every case kills: whichever request comes first, none is answered after
    // discovery, and the cases that start once the first four are over find the
    // target gone.
    let ids: Vec<String> = (1..=8).map(|n| format!("local.crowd.case{n}")).collect();
    let suite: String = ids.iter().map(|id| identify_case(id, true)).collect();
    let mut args: Vec<String> = [
        "check",
        "--target",
        &format!("http://{proxy}/wsman"),
        "--user",
        "admin",
        "--password",
        "admin",
        "--jobs",
        "4",
        "--suites",
        &scratch.suite(&suite),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    report_args(&scratch, &mut args);
    let o = run(&args);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}\n{err}");
    assert_eq!(
        format!("{out}{err}").matches("stopped answering").count(),
        1,
        "said once:\n{out}\n{err}"
    );
    let json = read_reports(&scratch, &ids);
    let lost = json["target_lost"].as_str().expect("target_lost is set");
    assert!(
        lost.starts_with("the target stopped answering during case local.crowd.case"),
        "{lost}"
    );
    let results = json["results"].as_array().unwrap();
    for r in &results[..4] {
        // Each of the first four either had its request dropped (a failure) or found
        // the target gone (the run's error).
        match r["outcome"].as_str().unwrap() {
            "fail" => assert!(
                r["message"]
                    .as_str()
                    .unwrap()
                    .contains("the connection closed without an answer"),
                "{r}"
            ),
            "error" => assert_eq!(r["message"].as_str(), Some(lost), "{r}"),
            other => panic!("{other}: {r}"),
        }
    }
    for r in &results[4..] {
        assert_eq!(r["outcome"], "error", "{r}");
        assert_eq!(r["message"].as_str(), Some(lost), "{r}");
    }
    rt.block_on(mock.shutdown());
}

#[test]
fn a_target_slower_than_the_case_deadline_fails_naming_it_and_exits_1() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let scenario = format!(
        "{}\n[[rules]]\nname = \"crawl\"\nmatch = {{ selectors = {{ Delay = \"crawl\" }} }}\n\
         answer = {{ delay_ms = 20000 }}\n",
        mock::scenario::DEFAULT_TOML
    );
    let mock = rt
        .block_on(
            mock::MockServer::builder()
                .scenario_str(&scenario)
                .unwrap()
                .start(),
        )
        .unwrap();
    let scratch = Scratch::new("crawls");
    let get = |id: &str| {
        format!(
            r#"
[[case]]
id = "{id}"
title = "Get is answered"
level = "MUST"
profiles = ["local"]
requires = ["class:CIM_ComputerSystem"]
clause = {{ spec = "DSP0226 1.x", section = "Get", requirement = "Get is answered." }}
[[case.step]]
request = {{ op = "get", resource = "CIM_ComputerSystem", selectors = {{ Delay = "crawl" }} }}
expect = {{ status = 200 }}
"#
        )
    };
    let ids: Vec<String> = ["quick", "crawl-one", "crawl-two"]
        .iter()
        .map(|n| format!("local.slow.{n}"))
        .collect();
    let suite = format!(
        "{}{}{}",
        identify_case(&ids[0], false),
        get(&ids[1]),
        get(&ids[2])
    );
    let mut args: Vec<String> = [
        "check",
        "--target",
        &mock.url(),
        "--user",
        "admin",
        "--password",
        "admin",
        "--case-timeout",
        "1",
        "--jobs",
        "3",
        "--suites",
        &scratch.suite(&suite),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    report_args(&scratch, &mut args);
    let o = run(&args);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(!out.contains("stopped answering"), "{out}");
    let json = read_reports(&scratch, &ids);
    assert!(json["target_lost"].is_null());
    let results = json["results"].as_array().unwrap();
    assert_eq!(results[0]["outcome"], "pass");
    for r in &results[1..] {
        assert_eq!(r["outcome"], "fail", "{r}");
        let m = r["message"].as_str().unwrap();
        // The case deadline and the request's (both --case-timeout) are the same
        // second; whichever strikes first names it.
        assert!(
            m.contains("no answer within the") && m.contains("deadline of 1 s"),
            "{m}"
        );
    }
    assert!(out.contains("deadline of 1 s"), "{out}");
    rt.shutdown_background();
}

fn identify_against(listener_addr: SocketAddr, scratch: &Scratch) -> Output {
    let suite = scratch.suite(&identify_case("local.never.identify", false));
    touchstone(&[
        "check",
        "--target",
        &format!("http://{listener_addr}/wsman"),
        "--case-timeout",
        "1",
        "--suites",
        &suite,
    ])
}

#[test]
fn an_identify_that_is_never_answered_exits_3() {
    // Bound and listening, never accepted: the kernel completes the connection and
    // takes the request; no answer ever comes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let scratch = Scratch::new("silent");
    let o = identify_against(addr, &scratch);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "target http://{addr}/wsman is unreachable: Identify got no answer within 1 s"
        )),
        "{err}"
    );
    drop(silent);
}

#[test]
fn an_identify_whose_connection_closes_unanswered_exits_3() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
        }
    });
    let scratch = Scratch::new("closes");
    let o = identify_against(addr, &scratch);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}\n{err}");
    assert!(
        err.contains("Identify got no answer: the connection closed without an answer (the server may have crashed)"),
        "{err}"
    );
}
