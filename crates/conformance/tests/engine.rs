//! The engine against canned answers: a tiny HTTP server answers each request with
//! the next response of a script, so the evaluator's verdicts, the deadline and the
//! waivers are checked without the mock.

use std::sync::Arc;
use std::time::Duration;

use conformance::case::Outcome;
use conformance::{RunOptions, Suite, Waivers};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const IDENTIFY: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"><s:Header/><s:Body><wsmid:IdentifyResponse><wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd</wsmid:ProtocolVersion><wsmid:ProductVendor>Canned</wsmid:ProductVendor><wsmid:ProductVersion>1</wsmid:ProductVersion></wsmid:IdentifyResponse></s:Body></s:Envelope>"#;

const FAULT: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action><a:RelatesTo>uuid:wrong</a:RelatesTo></s:Header><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:InvalidSelectors</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">bad</s:Text></s:Reason><s:Detail><w:FaultDetail>http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue</w:FaultDetail></s:Detail></s:Fault></s:Body></s:Envelope>"#;

/// Serves `answer(request_text)` to every request; `None` hangs.
async fn canned(answer: fn(&str) -> Option<String>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    let Some(head_end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let len = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() < head_end + 4 + len {
                        continue;
                    }
                    match answer(&text) {
                        Some(body) => {
                            let resp = format!(
                                "HTTP/1.1 {}\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                if body.contains("s:Fault") {
                                    "400 Bad Request"
                                } else {
                                    "200 OK"
                                },
                                body.len()
                            );
                            let _ = s.write_all(resp.as_bytes()).await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(60)).await,
                    }
                    return;
                }
            });
        }
    });
    format!("http://{addr}/wsman")
}

fn suite(text: &str) -> Suite {
    Suite::from_texts([("t.toml".to_owned(), text.to_owned())]).unwrap()
}

const CASES: &str = r#"
[[case]]
id = "t.identify.ok"
title = "identify"
level = "MUST"
profiles = ["t"]
clause = { spec = "S", section = "1", requirement = "r" }
[[case.step]]
request = { op = "identify" }
expect = { status = 200, present = ["s:Body/wsmid:IdentifyResponse/wsmid:ProtocolVersion"], values = { "s:Body/wsmid:IdentifyResponse/wsmid:ProductVendor" = "Canned" } }

[[case]]
id = "t.fault.wrong-detail"
title = "fault detail mismatch"
level = "MUST"
profiles = ["t"]
clause = { spec = "S", section = "2", requirement = "r" }
[[case.step]]
request = { op = "get", resource = "CIM_TouchstoneNoSuchFan" }
expect = { fault = { subcode = "wsman:InvalidSelectors", detail = "UnexpectedSelectors" } }

[[case]]
id = "t.fault.relates-to"
title = "RelatesTo mismatch is a warning at SHOULD"
level = "SHOULD"
profiles = ["t"]
clause = { spec = "S", section = "3", requirement = "r" }
[[case.step]]
request = { op = "get", resource = "CIM_TouchstoneNoSuchFan" }
expect = { fault = { subcode = "wsman:InvalidSelectors" }, relates_to = true }

[[case]]
id = "t.any.alternatives"
title = "any of"
level = "MUST"
profiles = ["t"]
clause = { spec = "S", section = "4", requirement = "r" }
[[case.step]]
request = { op = "get", resource = "CIM_TouchstoneNoSuchFan" }
expect = { any = [{ status = 413 }, { fault = { detail = "InvalidValue" } }] }

[[case]]
id = "t.skip.class"
title = "needs a class the target lacks"
level = "MUST"
profiles = ["t"]
requires = ["class:CIM_Fan"]
clause = { spec = "S", section = "5", requirement = "r" }
[[case.step]]
request = { op = "identify" }

[[case]]
id = "t.hang.deadline"
title = "a hanging answer hits the case deadline"
level = "MUST"
profiles = ["t"]
timeout_ms = 300
clause = { spec = "S", section = "6", requirement = "r" }
[[case.step]]
request = { op = "raw", body = "hang" }
"#;

fn answer(req: &str) -> Option<String> {
    if req.ends_with("hang") {
        None
    } else if req.contains("Identify") {
        Some(IDENTIFY.to_owned())
    } else {
        Some(FAULT.to_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_against_canned_answers() {
    let url = canned(answer).await;
    let s = suite(CASES);
    let w = Waivers::parse(
        "\"t.fault.wrong-*\" = \"known\"\n\"t.identify.ok\" = \"stale one\"",
        "w.toml",
    )
    .unwrap();
    let opts = RunOptions {
        waivers: w,
        rerun: Arc::new(|c| format!("rerun {}", c.id)),
        ..RunOptions::default()
    };
    let client = client::Client::new(client::Target::new(url)).unwrap();
    let report = conformance::run::run(client, &s.cases, opts, |_| {})
        .await
        .unwrap();
    let by = |id: &str| report.results.iter().find(|r| r.id == id).unwrap();

    let ok = by("t.identify.ok");
    assert_eq!(ok.outcome, Outcome::Pass);
    assert!(ok.waiver.as_ref().unwrap().stale);

    let detail = by("t.fault.wrong-detail");
    assert_eq!(detail.outcome, Outcome::Fail);
    assert_eq!(
        detail.expected.as_deref(),
        Some("fault detail: UnexpectedSelectors")
    );
    assert_eq!(detail.got.as_deref(), Some("InvalidValue"));
    assert!(!detail.transcript.is_empty());
    assert!(
        detail.transcript[0]
            .request
            .contains("CIM_TouchstoneNoSuchFan")
    );
    assert_eq!(detail.rerun, "rerun t.fault.wrong-detail");
    assert!(!detail.is_required_failure(), "waived");

    let rel = by("t.fault.relates-to");
    assert_eq!(rel.outcome, Outcome::Warn);
    assert!(
        rel.message.as_deref().unwrap().contains("wsa:RelatesTo"),
        "{:?}",
        rel.message
    );

    assert_eq!(by("t.any.alternatives").outcome, Outcome::Pass);

    let skip = by("t.skip.class");
    assert_eq!(skip.outcome, Outcome::Skip);
    // The skip gives discovery's reason: what the Enumerate of CIM_Fan was answered.
    assert!(
        skip.message
            .as_deref()
            .unwrap()
            .contains("InvalidSelectors"),
        "{:?}",
        skip.message
    );

    // A target too slow for the deadline fails the case (its doing, not the harness').
    let hang = by("t.hang.deadline");
    assert_eq!(hang.outcome, Outcome::Fail);
    assert_eq!(
        hang.message.as_deref(),
        Some(
            "answer: expected an answer within the case deadline (300 ms), \
             got no answer within the case deadline of 300 ms"
        )
    );

    assert_eq!(
        report.exit_code(),
        1,
        "the case past its deadline is the one unwaived MUST failure"
    );
    assert_eq!(report.target_lost, None);
    assert_eq!(report.product.as_deref(), Some("Canned 1"));
}

#[tokio::test]
async fn an_unreachable_target_is_reported_as_such() {
    let client = client::Client::new(client::Target::new("http://127.0.0.1:1/wsman")).unwrap();
    let err = conformance::run::run(client, &suite(CASES).cases, RunOptions::default(), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, conformance::RunError::Unreachable { .. }),
        "{err}"
    );
}

/// Answers every request with [`IDENTIFY`] until one whose body ends with `die`: then it
/// closes its listener (later connects are refused) and, once it is closed, that
/// connection without an answer, as a server that crashes on a request does.
async fn dies_on_cue() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (die, mut dying) = tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<()>>(1);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                Some(closed) = dying.recv() => {
                    drop(l);
                    let _ = closed.send(());
                    return;
                }
                accepted = l.accept() => {
                    let Ok((mut s, _)) = accepted else { return };
                    let die = die.clone();
                    tokio::spawn(async move {
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 4096];
                        loop {
                            let n = s.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                            let text = String::from_utf8_lossy(&buf).into_owned();
                            let Some(head_end) = text.find("\r\n\r\n") else { continue };
                            let len = text[..head_end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if buf.len() < head_end + 4 + len {
                                continue;
                            }
                            if text.ends_with("die") {
                                let (closed, listener_gone) = tokio::sync::oneshot::channel();
                                let _ = die.send(closed).await;
                                let _ = listener_gone.await;
                                return;
                            }
                            let resp = format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\n\
                                 Content-Length: {}\r\n\r\n{IDENTIFY}",
                                IDENTIFY.len()
                            );
                            if s.write_all(resp.as_bytes()).await.is_err() {
                                return;
                            }
                            buf.clear();
                        }
                    });
                }
            }
        }
    });
    format!("http://{addr}/wsman")
}

const DYING: &str = r#"
[[case]]
id = "t.a.answered"
title = "identify"
level = "MUST"
profiles = ["t"]
clause = { spec = "S", section = "1", requirement = "r" }
[[case.step]]
request = { op = "identify" }
expect = { status = 200 }

[[case]]
id = "t.b.kills"
title = "the request the target dies on"
level = "MUST"
profiles = ["t"]
clause = { spec = "S", section = "2", requirement = "r" }
[[case.step]]
request = { op = "raw", body = "die" }
expect = { status = 200 }

[[case]]
id = "t.c.finds-it-gone"
title = "identify"
level = "MUST"
profiles = ["t"]
clause = { spec = "S", section = "3", requirement = "r" }
[[case.step]]
request = { op = "identify" }
expect = { status = 200 }

[[case]]
id = "t.d.not-run"
title = "identify"
level = "SHOULD"
profiles = ["t"]
clause = { spec = "S", section = "4", requirement = "r" }
[[case.step]]
request = { op = "identify" }
expect = { status = 200 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_dies_is_declared_lost_once_and_the_rest_are_errors() {
    let url = dies_on_cue().await;
    let s = suite(DYING);
    let opts = RunOptions {
        jobs: 1,
        // A waiver does not turn a lost target into a waived case.
        waivers: Waivers::parse("\"t.d.*\" = \"known\"", "w.toml").unwrap(),
        ..RunOptions::default()
    };
    let client = client::Client::new(client::Target::new(url.clone())).unwrap();
    let report = conformance::run::run(client, &s.cases, opts, |_| {})
        .await
        .unwrap();
    let outcomes: Vec<Outcome> = report.results.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Pass, Outcome::Fail, Outcome::Error, Outcome::Error]
    );
    let addr = url.trim_start_matches("http://").trim_end_matches("/wsman");
    let lost = report.target_lost.as_deref().expect("the target is lost");
    assert!(
        lost.starts_with(&format!(
            "the target stopped answering during case t.b.kills (the connection closed \
             without an answer, then: cannot connect to {addr}: "
        )),
        "{lost}"
    );
    assert!(
        report.results[1]
            .message
            .as_deref()
            .unwrap()
            .contains(client::CLOSED_WITHOUT_ANSWER)
    );
    for r in &report.results[2..] {
        assert_eq!(r.message.as_deref(), Some(lost));
        assert!(r.transcript.is_empty() && r.waiver.is_none(), "{r:?}");
    }
    assert_eq!(report.exit_code(), 3);
}
