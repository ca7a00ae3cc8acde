//! The eventing profile is capability-probed: a case runs only when discovery saw the
//! target accept its delivery mode, and is skipped with the target's answer otherwise;
//! the event sink listens where `RunOptions::event_sink` says, and push subscriptions
//! name that address.

mod support;

use std::net::SocketAddr;

use conformance::{Case, Outcome, Report, RunOptions};

fn eventing_cases() -> Vec<Case> {
    support::wsman_cases()
        .into_iter()
        .filter(|c| c.profiles.iter().any(|p| p == "eventing"))
        .collect()
}

fn pick(cases: &[Case], ids: &[&str]) -> Vec<Case> {
    let picked: Vec<Case> = cases
        .iter()
        .filter(|c| ids.contains(&c.id.as_str()))
        .cloned()
        .collect();
    assert_eq!(picked.len(), ids.len(), "unknown case among {ids:?}");
    picked
}

async fn run_on(scenario: Option<&str>, cases: &[Case], opts: RunOptions) -> Report {
    let mock = match scenario {
        Some(toml) => mock::MockServer::builder()
            .scenario_str(toml)
            .unwrap()
            .start()
            .await
            .unwrap(),
        None => mock::MockServer::start().await.unwrap(),
    };
    let report = support::run(&mock.url(), cases, opts).await;
    mock.shutdown().await;
    report
}

fn outcome<'r>(report: &'r Report, id: &str) -> (&'r Outcome, &'r str) {
    let r = report
        .results
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("{id} not in the report"));
    (&r.outcome, r.message.as_deref().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_offering_only_pull_runs_the_pull_cases_and_skips_push_with_its_answer() {
    let cases = pick(
        &eventing_cases(),
        &[
            "wsman.eventing.subscribe.response",
            "wsman.eventing.pull.response",
            "wsman.eventing.push.heartbeats",
            "wsman.eventing.push-with-ack.acked",
            "wsman.eventing.events.max-time",
        ],
    );
    let toml = "[scenario]\nname = \"pull-only\"\n\n[eventing]\nmodes = [\"pull\"]\n";
    let report = run_on(Some(toml), &cases, RunOptions::default()).await;
    for id in [
        "wsman.eventing.subscribe.response",
        "wsman.eventing.pull.response",
    ] {
        let (o, m) = outcome(&report, id);
        assert_eq!(*o, Outcome::Pass, "{id}: {m}");
    }
    for id in [
        "wsman.eventing.push.heartbeats",
        "wsman.eventing.push-with-ack.acked",
        "wsman.eventing.events.max-time",
    ] {
        let (o, m) = outcome(&report, id);
        assert_eq!(*o, Outcome::Skip, "{id}: {m}");
        assert!(
            m.contains("DeliveryModeRequestedUnavailable"),
            "{id}: the skip should carry the target's answer, got `{m}`"
        );
    }
    let probes: Vec<_> = report
        .discovery
        .iter()
        .filter(|p| p.what.starts_with("Subscribe ("))
        .collect();
    assert_eq!(probes.len(), 4, "one probe per delivery mode: {probes:?}");
    assert_eq!(probes.iter().filter(|p| p.offered).count(), 1, "{probes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_without_eventing_skips_every_eventing_case_with_the_reason() {
    let toml = "[scenario]\nname = \"no-eventing\"\n\n[wsman]\noperations = [\"identify\", \"get\", \"put\", \"enumerate\", \"invoke\"]\n";
    let cases = eventing_cases();
    let report = run_on(Some(toml), &cases, RunOptions::default()).await;
    for c in &cases {
        let (o, m) = outcome(&report, &c.id);
        assert_eq!(*o, Outcome::Skip, "{}: {m}", c.id);
        assert!(m.contains("Subscribe was answered"), "{}: `{m}`", c.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_subscriptions_name_the_event_sink_address_given() {
    // A free port: bound, read and released (the sink binds it again at once).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let cases = pick(
        &eventing_cases(),
        &["wsman.eventing.push.reference-parameters"],
    );
    let opts = RunOptions {
        event_sink: Some(addr),
        ..RunOptions::default()
    };
    let report = run_on(None, &cases, opts).await;
    let (o, m) = outcome(&report, "wsman.eventing.push.reference-parameters");
    assert_eq!(*o, Outcome::Pass, "{m}");
    let r = &report.results[0];
    let notify_to = format!("http://{addr}/sink/");
    assert!(
        r.transcript.iter().any(|l| l.request.contains(&notify_to)),
        "no Subscribe named {notify_to} as NotifyTo"
    );
    // What the sink received is in the case's transcript, for the report.
    let received: Vec<_> = r
        .transcript
        .iter()
        .filter(|l| l.request.contains("received by the event sink"))
        .collect();
    assert!(received.len() >= 2, "{:#?}", r.transcript);
    assert!(
        received
            .iter()
            .all(|l| l.request.contains(wsman::ns::WSMAN) && l.status == Some(200))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_cannot_listen_skips_the_push_cases_and_leaves_pull() {
    // Held for the whole run: the sink cannot have the port.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let cases = pick(
        &eventing_cases(),
        &[
            "wsman.eventing.pull.response",
            "wsman.eventing.push.heartbeats",
        ],
    );
    let opts = RunOptions {
        event_sink: Some(addr),
        ..RunOptions::default()
    };
    let report = run_on(None, &cases, opts).await;
    let (o, m) = outcome(&report, "wsman.eventing.push.heartbeats");
    assert_eq!(*o, Outcome::Skip, "{m}");
    assert!(
        m.contains("could not listen") && m.contains(&addr.to_string()),
        "`{m}`"
    );
    let (o, m) = outcome(&report, "wsman.eventing.pull.response");
    assert_eq!(*o, Outcome::Pass, "{m}");
    drop(taken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_sink_address_is_refused_with_the_reason() {
    let cases = pick(&eventing_cases(), &["wsman.eventing.push.heartbeats"]);
    let opts = RunOptions {
        event_sink: Some("0.0.0.0:0".parse().unwrap()),
        ..RunOptions::default()
    };
    let report = run_on(None, &cases, opts).await;
    let (o, m) = outcome(&report, "wsman.eventing.push.heartbeats");
    assert_eq!(*o, Outcome::Skip, "{m}");
    assert!(m.contains("wildcard"), "`{m}`");
}

/// A subscription manager without GetStatus and Renew (it answers them
/// `wsa:ActionNotSupported`, as a source whose subscribers subscribe again would) gets
/// those cases skipped with the reason, not failed; the rest still pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_without_get_status_and_renew_is_skipped_not_failed() {
    let cases = pick(
        &eventing_cases(),
        &[
            "wsman.eventing.subscribe.response",
            "wsman.eventing.get-status",
            "wsman.eventing.renew",
            "wsman.eventing.renew.after-unsubscribe",
        ],
    );
    let toml = "[scenario]\nname = \"no-renew\"\n\n\
        [[rules]]\nname = \"no GetStatus\"\n\
        match = { action = \"http://schemas.xmlsoap.org/ws/2004/08/eventing/GetStatus\" }\n\
        answer = { fault = \"wsa:ActionNotSupported\", detail = \"ActionMismatch\" }\n\n\
        [[rules]]\nname = \"no Renew\"\n\
        match = { action = \"http://schemas.xmlsoap.org/ws/2004/08/eventing/Renew\" }\n\
        answer = { fault = \"wsa:ActionNotSupported\", detail = \"ActionMismatch\" }\n";
    let report = run_on(Some(toml), &cases, RunOptions::default()).await;
    for id in ["wsman.eventing.get-status", "wsman.eventing.renew"] {
        let (o, m) = outcome(&report, id);
        assert_eq!(*o, Outcome::Skip, "{id}: {m}");
        assert!(m.contains("ActionNotSupported"), "{id}: {m}");
    }
    for id in [
        "wsman.eventing.subscribe.response",
        "wsman.eventing.renew.after-unsubscribe",
    ] {
        let (o, m) = outcome(&report, id);
        assert_eq!(*o, Outcome::Pass, "{id}: {m}");
    }
}
