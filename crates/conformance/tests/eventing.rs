//! The eventing profile is capability-probed: a case runs only when discovery saw the
//! target accept its delivery mode, and is skipped with the target's answer otherwise;
//! the event sink listens where `RunOptions::event_sink` says, and push subscriptions
//! name that address.
//!
//! Over 800 lines on purpose: every eventing case runs against the mock from this one
//! test binary, so a mutation run of `src/eventing.rs` builds one binary per mutant
//! (fuzz/MUTANTS.md).

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

const SUBSCRIBE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe";

/// WS-Eventing: a Subscribe with a zero expiry or a filter the source cannot honour
/// "MUST fail", and the source "MAY generate" the fault the text names. A source that
/// refuses with another fault of its own choosing meets the requirement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_with_a_fault_of_the_sources_choosing_passes() {
    let cases = pick(
        &eventing_cases(),
        &[
            "wsman.eventing.subscribe.bad-expiry",
            "wsman.eventing.subscribe.unsupported-dialect",
        ],
    );
    let toml = format!(
        "[scenario]\nname = \"own-faults\"\n\n\
        [[rules]]\nname = \"zero expiry\"\n\
        match = {{ action = \"{SUBSCRIBE}\", body_path = \"Subscribe/Expires\", body_text = \"PT0S\" }}\n\
        answer = {{ fault = \"wse:InvalidMessage\" }}\n\n\
        [[rules]]\nname = \"unknown dialect\"\n\
        match = {{ action = \"{SUBSCRIBE}\", body_path = \"Subscribe/Filter\", body_text = \"anything\" }}\n\
        answer = {{ fault = \"wse:EventSourceUnableToProcess\" }}\n"
    );
    let report = run_on(Some(&toml), &cases, RunOptions::default()).await;
    for c in &cases {
        let (o, m) = outcome(&report, &c.id);
        assert_eq!(*o, Outcome::Pass, "{}: {m}", c.id);
    }
    // The answers were the rules' faults, not the mock's own subcodes.
    let r = report
        .results
        .iter()
        .find(|r| r.id == "wsman.eventing.subscribe.unsupported-dialect")
        .unwrap();
    assert!(
        r.transcript.iter().any(|l| l
            .response
            .as_deref()
            .is_some_and(|t| t.contains("EventSourceUnableToProcess"))),
        "{:#?}",
        r.transcript
    );
}

/// The same requests accepted (a SubscribeResponse instead of a fault) fail: the
/// request "MUST fail".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribe_that_must_fail_but_is_accepted_fails() {
    let cases = pick(
        &eventing_cases(),
        &[
            "wsman.eventing.subscribe.bad-expiry",
            "wsman.eventing.subscribe.unsupported-dialect",
        ],
    );
    let accepted = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
        xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
        xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\"><s:Header>\
        <a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>\
        <a:Action s:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscribeResponse</a:Action>\
        <a:MessageID>{{uuid}}</a:MessageID><a:RelatesTo>{{relates_to}}</a:RelatesTo></s:Header>\
        <s:Body><e:SubscribeResponse><e:SubscriptionManager><a:Address>http://127.0.0.1:9/manager</a:Address>\
        <a:ReferenceParameters><e:Identifier>uuid:{{uuid}}</e:Identifier></a:ReferenceParameters>\
        </e:SubscriptionManager><e:Expires>PT60S</e:Expires></e:SubscribeResponse></s:Body></s:Envelope>";
    let toml = format!(
        "[scenario]\nname = \"accepts-all\"\n\n\
        [[rules]]\nname = \"zero expiry\"\n\
        match = {{ action = \"{SUBSCRIBE}\", body_path = \"Subscribe/Expires\", body_text = \"PT0S\" }}\n\
        answer = {{ template = '''{accepted}''' }}\n\n\
        [[rules]]\nname = \"unknown dialect\"\n\
        match = {{ action = \"{SUBSCRIBE}\", body_path = \"Subscribe/Filter\", body_text = \"anything\" }}\n\
        answer = {{ template = '''{accepted}''' }}\n"
    );
    let report = run_on(Some(&toml), &cases, RunOptions::default()).await;
    for c in &cases {
        let (o, m) = outcome(&report, &c.id);
        assert_eq!(*o, Outcome::Fail, "{}: {m}", c.id);
    }
}

/// A manager that declines every renewal with `wse:UnableToRenew` (what MS-WSMV
/// 3.1.4.1.30.4 says Windows does) gets the Renew case skipped with its answer, and
/// still passes the case that a Renew after Unsubscribe is faulted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_that_declines_renewal_is_skipped_not_failed() {
    let cases = pick(
        &eventing_cases(),
        &[
            "wsman.eventing.renew",
            "wsman.eventing.renew.after-unsubscribe",
        ],
    );
    let toml = "[scenario]\nname = \"no-renewal\"\n\n\
        [[rules]]\nname = \"declines Renew\"\n\
        match = { action = \"http://schemas.xmlsoap.org/ws/2004/08/eventing/Renew\" }\n\
        answer = { fault = \"wse:UnableToRenew\" }\n";
    let report = run_on(Some(toml), &cases, RunOptions::default()).await;
    let (o, m) = outcome(&report, "wsman.eventing.renew");
    assert_eq!(*o, Outcome::Skip, "{m}");
    assert!(m.contains("wse:UnableToRenew"), "`{m}`");
    let (o, m) = outcome(&report, "wsman.eventing.renew.after-unsubscribe");
    assert_eq!(*o, Outcome::Pass, "{m}");
}

/// A Renew answered with something that is neither a RenewResponse nor a fault fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renew_answered_with_the_wrong_response_fails() {
    let cases = pick(&eventing_cases(), &["wsman.eventing.renew"]);
    let wrong = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
        xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
        xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\"><s:Header>\
        <a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>\
        <a:Action s:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/08/eventing/GetStatusResponse</a:Action>\
        <a:MessageID>{{uuid}}</a:MessageID><a:RelatesTo>{{relates_to}}</a:RelatesTo></s:Header>\
        <s:Body><e:GetStatusResponse><e:Expires>PT60S</e:Expires></e:GetStatusResponse></s:Body></s:Envelope>";
    let toml = format!(
        "[scenario]\nname = \"wrong-renew\"\n\n\
        [[rules]]\nname = \"wrong Renew answer\"\n\
        match = {{ action = \"http://schemas.xmlsoap.org/ws/2004/08/eventing/Renew\" }}\n\
        answer = {{ template = '''{wrong}''' }}\n"
    );
    let report = run_on(Some(&toml), &cases, RunOptions::default()).await;
    let (o, m) = outcome(&report, "wsman.eventing.renew");
    assert_eq!(*o, Outcome::Fail, "{m}");
    assert!(m.contains("RenewResponse"), "`{m}`");
}

const UNSUBSCRIBE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Unsubscribe";
const RENEW: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Renew";

/// A SOAP envelope answering with `action` and `body`, related to the request (or to
/// `relates_to` when given, to answer the wrong request).
fn envelope(action: &str, body: &str, relates_to: Option<&str>) -> String {
    let relates = relates_to.unwrap_or("{{relates_to}}");
    format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
        xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
        xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\" \
        xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
        xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Header>\
        <a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>\
        <a:Action s:mustUnderstand=\"true\">{action}</a:Action>\
        <a:MessageID>uuid:{{{{uuid}}}}</a:MessageID><a:RelatesTo>{relates}</a:RelatesTo></s:Header>\
        <s:Body>{body}</s:Body></s:Envelope>"
    )
}

/// A SubscribeResponse whose SubscriptionManager EPR is `epr` (its children), with a
/// pull-mode EnumerationContext when `context`.
fn subscribed(epr: &str, context: bool) -> String {
    let ctx = if context {
        "<n:EnumerationContext>uuid:0f0f0f0f-0000-4000-8000-00000000c0de</n:EnumerationContext>"
    } else {
        ""
    };
    envelope(
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscribeResponse",
        &format!(
            "<e:SubscribeResponse><e:SubscriptionManager>{epr}</e:SubscriptionManager>\
             <e:Expires>PT60S</e:Expires>{ctx}</e:SubscribeResponse>"
        ),
        None,
    )
}

/// A fault `subcode` (Sender) whose RelatesTo names another request.
fn unrelated_fault(subcode: &str) -> String {
    envelope(
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault",
        &format!(
            "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>{subcode}</s:Value>\
             </s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en\">refused</s:Text></s:Reason>\
             </s:Fault>"
        ),
        Some("uuid:00000000-0000-4000-8000-000000000bad"),
    )
}

/// A scenario answering every Subscribe with `subscribe` (so discovery finds every
/// delivery mode offered) and every Unsubscribe with an UnsubscribeResponse.
fn subscribe_answered(subscribe: &str) -> String {
    let unsubscribed = envelope(
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/UnsubscribeResponse",
        "",
        None,
    );
    format!(
        "[scenario]\nname = \"crafted-subscribe\"\n\n\
        [[rules]]\nname = \"crafted SubscribeResponse\"\n\
        match = {{ action = \"{SUBSCRIBE}\" }}\n\
        answer = {{ template = '''{subscribe}''' }}\n\n\
        [[rules]]\nname = \"Unsubscribe\"\n\
        match = {{ action = \"{UNSUBSCRIBE}\" }}\n\
        answer = {{ template = '''{unsubscribed}''' }}\n"
    )
}

/// WS-Eventing leaves how the SubscriptionManager EPR names the subscription to the
/// source: reference parameters (wse:Identifier, or a wsman:ResourceURI) or an address
/// of the manager's own both do. An EPR that could name nothing (no reference
/// parameters, and an address that is empty, anonymous, or the endpoint the Subscribe
/// went to) fails, with what it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_manager_epr_that_can_name_nothing_fails_and_one_that_can_passes() {
    let cases = pick(&eventing_cases(), &["wsman.eventing.subscribe.response"]);
    let id = "<a:ReferenceParameters><e:Identifier>uuid:5ab5c71b-0000-4000-8000-000000000001\
              </e:Identifier></a:ReferenceParameters>";
    let uri = "<a:ReferenceParameters><w:ResourceURI>http://schemas.dmtf.org/wbem/wscim/1/\
               cim-schema/2/CIM_IndicationSubscription</w:ResourceURI></a:ReferenceParameters>";
    let sel = "<a:ReferenceParameters><w:SelectorSet><w:Selector Name=\"Id\">7</w:Selector>\
               </w:SelectorSet></a:ReferenceParameters>";
    let rows: [(&str, String, Outcome); 8] = [
        (
            "the Subscribe's endpoint and a wsman:SelectorSet",
            format!("<a:Address>{{{{to}}}}</a:Address>{sel}"),
            Outcome::Pass,
        ),
        (
            "an address of the manager's own",
            "<a:Address>http://127.0.0.1:9/manager</a:Address>".into(),
            Outcome::Pass,
        ),
        (
            "the Subscribe's endpoint and wse:Identifier",
            format!("<a:Address>{{{{to}}}}</a:Address>{id}"),
            Outcome::Pass,
        ),
        (
            "the Subscribe's endpoint and a wsman:ResourceURI",
            format!("<a:Address>{{{{to}}}}</a:Address>{uri}"),
            Outcome::Pass,
        ),
        (
            "the anonymous address and wse:Identifier",
            format!("<a:Address>{}</a:Address>{id}", wsman::ns::ANONYMOUS),
            Outcome::Pass,
        ),
        (
            "an empty address",
            "<a:Address> </a:Address>".into(),
            Outcome::Fail,
        ),
        (
            "the anonymous address",
            format!("<a:Address>{}</a:Address>", wsman::ns::ANONYMOUS),
            Outcome::Fail,
        ),
        (
            "the Subscribe's endpoint",
            "<a:Address>{{to}}</a:Address>".into(),
            Outcome::Fail,
        ),
    ];
    for (what, epr, want) in rows {
        let toml = subscribe_answered(&subscribed(&epr, true));
        let report = run_on(Some(&toml), &cases, RunOptions::default()).await;
        let (o, m) = outcome(&report, "wsman.eventing.subscribe.response");
        assert_eq!(*o, want, "{what}: {m}");
        if want == Outcome::Fail {
            assert!(
                m.contains("wse:SubscriptionManager") && !m.contains("EnumerationContext"),
                "{what}: the message should name the manager EPR alone, got `{m}`"
            );
        }
    }
}

/// A pull-mode subscription is read with wsen:Pull on its EnumerationContext: a
/// SubscribeResponse to a pull-mode Subscribe without one fails; a push-mode one needs
/// none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_subscription_needs_an_enumeration_context_and_a_push_one_does_not() {
    let cases = pick(&eventing_cases(), &["wsman.eventing.subscribe.response"]);
    let epr = "<a:Address>http://127.0.0.1:9/manager</a:Address>";
    let toml = subscribe_answered(&subscribed(epr, false));
    let report = run_on(Some(&toml), &cases, RunOptions::default()).await;
    let (o, m) = outcome(&report, "wsman.eventing.subscribe.response");
    assert_eq!(*o, Outcome::Fail, "{m}");
    assert!(
        m.contains("EnumerationContext") && !m.contains("wse:SubscriptionManager"),
        "`{m}`"
    );
    // The mock offering push only: its SubscribeResponse has no context, and passes.
    let toml = "[scenario]\nname = \"push-only\"\n\n[eventing]\nmodes = [\"push\"]\n";
    let report = run_on(Some(toml), &cases, RunOptions::default()).await;
    let (o, m) = outcome(&report, "wsman.eventing.subscribe.response");
    assert_eq!(*o, Outcome::Pass, "{m}");
    let subscribe = &report.results[0].transcript[0];
    assert!(
        subscribe
            .request
            .contains(&format!("Mode=\"{}\"", client::eventing::mode::PUSH)),
        "the case should have subscribed in push mode: {}",
        subscribe.request
    );
}

/// Only `wsa:ActionNotSupported` says GetStatus is not offered: any other fault to a
/// valid subscription's GetStatus fails the case, it is not skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_status_refused_with_another_fault_fails() {
    let cases = pick(&eventing_cases(), &["wsman.eventing.get-status"]);
    let toml = "[scenario]\nname = \"get-status-faults\"\n\n\
        [[rules]]\nname = \"GetStatus refused\"\n\
        match = { action = \"http://schemas.xmlsoap.org/ws/2004/08/eventing/GetStatus\" }\n\
        answer = { fault = \"wse:InvalidMessage\" }\n";
    let report = run_on(Some(toml), &cases, RunOptions::default()).await;
    let (o, m) = outcome(&report, "wsman.eventing.get-status");
    assert_eq!(*o, Outcome::Fail, "{m}");
    assert!(m.contains("InvalidMessage"), "`{m}`");
}

/// A Renew of a subscription that was unsubscribed must be a fault that answers the
/// Renew: a RenewResponse fails, and so does a fault related to another request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renew_after_unsubscribe_must_be_a_fault_answering_it() {
    let cases = pick(
        &eventing_cases(),
        &["wsman.eventing.renew.after-unsubscribe"],
    );
    let renewed = envelope(
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/RenewResponse",
        "<e:RenewResponse><e:Expires>PT60S</e:Expires></e:RenewResponse>",
        None,
    );
    for (what, answer, status, says) in [
        ("a RenewResponse", renewed, 200, "expected a fault"),
        (
            "an unrelated fault",
            unrelated_fault("wse:InvalidMessage"),
            400,
            "RelatesTo",
        ),
    ] {
        let toml = format!(
            "[scenario]\nname = \"renews-the-dead\"\n\n\
            [[rules]]\nname = \"Renew\"\nmatch = {{ action = \"{RENEW}\" }}\n\
            answer = {{ template = '''{answer}''', status = {status} }}\n"
        );
        let report = run_on(Some(&toml), &cases, RunOptions::default()).await;
        let (o, m) = outcome(&report, "wsman.eventing.renew.after-unsubscribe");
        assert_eq!(*o, Outcome::Fail, "{what}: {m}");
        assert!(m.contains(says), "{what}: `{m}`");
    }
}

/// A Subscribe that must fail is answered by a fault related to it: a fault whose
/// RelatesTo names another request does not answer it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_related_to_another_request_fails() {
    let cases = pick(&eventing_cases(), &["wsman.eventing.subscribe.bad-expiry"]);
    let fault = unrelated_fault("wse:InvalidExpirationTime");
    let toml = format!(
        "[scenario]\nname = \"unrelated-refusal\"\n\n\
        [[rules]]\nname = \"zero expiry\"\n\
        match = {{ action = \"{SUBSCRIBE}\", body_path = \"Subscribe/Expires\", body_text = \"PT0S\" }}\n\
        answer = {{ template = '''{fault}''', status = 400 }}\n"
    );
    let report = run_on(Some(&toml), &cases, RunOptions::default()).await;
    let (o, m) = outcome(&report, "wsman.eventing.subscribe.bad-expiry");
    assert_eq!(*o, Outcome::Fail, "{m}");
    assert!(m.contains("RelatesTo"), "`{m}`");
}

/// A source that takes a Subscribe in a delivery mode it cannot know (it answers
/// SubscribeResponse to every Subscribe) fails the unknown-mode case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribe_in_an_unknown_mode_that_is_accepted_fails() {
    let cases = pick(
        &eventing_cases(),
        &["wsman.eventing.subscribe.unknown-mode"],
    );
    let epr = "<a:Address>http://127.0.0.1:9/manager</a:Address>";
    let toml = subscribe_answered(&subscribed(epr, false));
    let report = run_on(Some(&toml), &cases, RunOptions::default()).await;
    let (o, m) = outcome(&report, "wsman.eventing.subscribe.unknown-mode");
    assert_eq!(*o, Outcome::Fail, "{m}");
    let r = &report.results[0];
    assert!(
        r.transcript
            .iter()
            .any(|l| l.request.contains("NoSuchDeliveryMode")),
        "{:#?}",
        r.transcript
    );
}

const PULL: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull";

/// A Pull of a pull-mode subscription with no event yet may be answered with
/// wsman:TimedOut, and passes; any other fault is no PullResponse, and fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_answered_with_timed_out_passes_and_with_another_fault_fails() {
    let cases = pick(&eventing_cases(), &["wsman.eventing.pull.response"]);
    for (fault, want) in [
        ("wsman:TimedOut", Outcome::Pass),
        ("wsen:InvalidEnumerationContext", Outcome::Fail),
    ] {
        let toml = format!(
            "[scenario]\nname = \"pull-faults\"\n\n\
            [[rules]]\nname = \"Pull\"\nmatch = {{ action = \"{PULL}\" }}\n\
            answer = {{ fault = \"{fault}\" }}\n"
        );
        let report = run_on(Some(&toml), &cases, RunOptions::default()).await;
        let (o, m) = outcome(&report, "wsman.eventing.pull.response");
        assert_eq!(*o, want, "{fault}: {m}");
        if want == Outcome::Fail {
            assert!(m.contains("InvalidEnumerationContext"), "{fault}: `{m}`");
        }
    }
}

/// The push cases judge what reaches the sink: against the clean mock they pass, and
/// each seeded delivery defect fails the cases its file names (`# breaks:`) and no
/// other of them. (tests/defects.rs checks the same over the whole suite; this one
/// runs three cases, fast enough to run for each mutant of their verdicts.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_verdicts_pass_clean_deliveries_and_fail_each_delivery_defect() {
    let ids = [
        "wsman.eventing.push.heartbeats",
        "wsman.eventing.push.reference-parameters",
        "wsman.eventing.push-with-ack.acked",
    ];
    let cases = pick(&eventing_cases(), &ids);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mocks/defects");
    let mut runs = tokio::task::JoinSet::new();
    for defect in [
        None,
        Some("eventing-no-heartbeats"),
        Some("eventing-late-heartbeats"),
        Some("eventing-irregular-heartbeats"),
        Some("eventing-no-identifier"),
    ] {
        let text = defect.map(|d| {
            let p = dir.join(format!("{d}.toml"));
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        });
        let cases = cases.clone();
        runs.spawn(async move {
            let broken = text
                .as_deref()
                .map(|t| support::breaks(t).expect("a # breaks: line"))
                .unwrap_or_default();
            let report = run_on(text.as_deref(), &cases, RunOptions::default()).await;
            (defect, broken, report)
        });
    }
    while let Some(joined) = runs.join_next().await {
        let (defect, broken, report) = joined.unwrap();
        let name = defect.unwrap_or("the clean mock");
        for id in ids {
            let (o, m) = outcome(&report, id);
            let want = if broken.contains(id) {
                Outcome::Fail
            } else {
                Outcome::Pass
            };
            assert_eq!(*o, want, "{name}, {id}: {m}");
        }
    }
}

/// The text of a seeded defect scenario of `mocks/defects/`.
fn defect_text(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../mocks/defects")
        .join(format!("{name}.toml"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The cases that judge events a power cycle causes (and the SubscriptionEnd of an
/// expiry) pass against the clean mock and notice each seeded event defect: exactly the
/// cases its file names stop passing (fail for MUST, skip for the MAY of
/// SubscriptionEnd), the others still pass. (tests/defects.rs checks the same over the
/// whole suite; this runs six cases, fast enough for each mutant of their verdicts.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_verdicts_pass_clean_events_and_fail_each_event_defect() {
    let ids = [
        "wsman.eventing.push.events",
        "wsman.eventing.pull.events",
        "wsman.eventing.events.max-elements",
        "wsman.eventing.events.max-time",
        "wsman.eventing.bookmarks.resume",
        "wsman.eventing.subscription-end.expiry",
    ];
    let cases = pick(&eventing_cases(), &ids);
    let mut runs = tokio::task::JoinSet::new();
    for defect in [
        None,
        Some("eventing-no-identifier"),
        Some("eventing-oversized-batch"),
        Some("eventing-bookmark-skip"),
        Some("eventing-no-subscription-end"),
    ] {
        let text = defect.map(defect_text);
        let cases = cases.clone();
        runs.spawn(async move {
            let broken = text
                .as_deref()
                .map(|t| support::breaks(t).expect("a # breaks: line"))
                .unwrap_or_default();
            let report = run_on(text.as_deref(), &cases, RunOptions::default()).await;
            (defect, broken, cases, report)
        });
    }
    while let Some(joined) = runs.join_next().await {
        let (defect, broken, cases, report) = joined.unwrap();
        let name = defect.unwrap_or("the clean mock");
        for c in &cases {
            let (o, m) = outcome(&report, &c.id);
            let want = match (broken.contains(&c.id), c.level) {
                (false, _) => Outcome::Pass,
                (true, conformance::Level::May) => Outcome::Skip,
                (true, _) => Outcome::Fail,
            };
            assert_eq!(*o, want, "{name}, {}: {m}", c.id);
        }
        // The case says what it changed to cause the events.
        let r = report
            .results
            .iter()
            .find(|r| r.id == "wsman.eventing.push.events")
            .unwrap();
        assert!(
            r.transcript
                .iter()
                .any(|l| l.request.contains("RequestStateChange")),
            "{name}: no power change in {:#?}",
            r.transcript
        );
    }
}

/// A source that refuses the heartbeats a Subscribe asks for (the mock takes none this
/// short) gets the cases that need them skipped with its answer, not failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_refuses_heartbeats_is_skipped_with_the_reason() {
    let ids = [
        "wsman.eventing.push.heartbeats",
        "wsman.eventing.push.reference-parameters",
        "wsman.eventing.push-with-ack.acked",
    ];
    let cases = pick(&eventing_cases(), &ids);
    let toml = "[scenario]\nname = \"no-heartbeats\"\n\n[eventing]\nmin_heartbeat_ms = 60000\n";
    let report = run_on(Some(toml), &cases, RunOptions::default()).await;
    for id in ids {
        let (o, m) = outcome(&report, id);
        assert_eq!(*o, Outcome::Skip, "{id}: {m}");
        assert!(
            m.contains("does not offer heartbeats") && m.contains("wsman:UnsupportedFeature"),
            "{id}: `{m}`"
        );
    }
}

/// A pull subscriber that gets no event after a power cycle fails, whether every Pull
/// timed out or came back empty; a Pull refused with another fault fails with it. (The
/// rules answer the Pulls of the subscription, on CIM_AlertIndication, not those of the
/// enumeration that reads the power state.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_without_events_after_a_power_cycle_fail() {
    let cases = pick(&eventing_cases(), &["wsman.eventing.pull.events"]);
    let empty = envelope(
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse",
        "<n:PullResponse><n:EnumerationContext>uuid:0f0f0f0f-0000-4000-8000-00000000c0de\
         </n:EnumerationContext><n:Items/></n:PullResponse>",
        None,
    );
    let mut runs = tokio::task::JoinSet::new();
    for (what, answer, says) in [
        (
            "timed out",
            "answer = { fault = \"wsman:TimedOut\" }".to_owned(),
            "none (last Pull: wsman:TimedOut)",
        ),
        (
            "empty",
            format!("answer = {{ template = '''{empty}''' }}"),
            "none (last Pull: 0 events)",
        ),
        (
            "refused",
            "answer = { fault = \"wsen:InvalidEnumerationContext\" }".to_owned(),
            "InvalidEnumerationContext",
        ),
    ] {
        let toml = format!(
            "[scenario]\nname = \"pull-no-events\"\n\n\
            [[rules]]\nname = \"Pull of events\"\n\
            match = {{ action = \"{PULL}\", resource_uri = \"CIM_AlertIndication\" }}\n{answer}\n"
        );
        let cases = cases.clone();
        runs.spawn(async move {
            let report = run_on(Some(&toml), &cases, RunOptions::default()).await;
            (what, says, report)
        });
    }
    while let Some(joined) = runs.join_next().await {
        let (what, says, report) = joined.unwrap();
        let (o, m) = outcome(&report, "wsman.eventing.pull.events");
        assert_eq!(*o, Outcome::Fail, "{what}: {m}");
        assert!(m.contains(says), "{what}: `{m}`");
    }
}

/// `cross.eventing.sel-entry`: a record added with IPMI Add SEL Entry reaches a push
/// subscriber (the mock's default) and a pull one (a mock offering only pull); a
/// source whose SEL events never reach the subscriber warns (the case is a SHOULD),
/// pushed or pulled; a source offering neither push nor pull is skipped with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sel_entry_added_over_ipmi_reaches_a_subscriber_and_a_lost_one_warns() {
    const ID: &str = "cross.eventing.sel-entry";
    let case: Vec<Case> = conformance::Suite::embedded()
        .unwrap()
        .cases
        .into_iter()
        .filter(|c| c.id == ID)
        .collect();
    assert_eq!(case.len(), 1);
    let pull_only = "[eventing]\nmodes = [\"pull\"]\n";
    let push = format!("Mode=\"{}\"", client::eventing::mode::PUSH);
    let pull = format!("Mode=\"{}\"", client::eventing::mode::PULL);
    let rows: [(&str, String, Outcome, String); 5] = [
        ("push", String::new(), Outcome::Pass, push.clone()),
        ("pull", pull_only.into(), Outcome::Pass, pull.clone()),
        (
            "push, SEL events dropped",
            "[[eventing.delivery_faults]]\nclass = \"CIM_InstCreation\"\naction = \"drop\"\n"
                .into(),
            Outcome::Warn,
            format!("none naming it\n{push}"),
        ),
        (
            "pull, every Pull timed out",
            format!(
                "{pull_only}\n[[rules]]\nname = \"Pull of events\"\n\
                 match = {{ action = \"{PULL}\", resource_uri = \"CIM_AlertIndication\" }}\n\
                 answer = {{ fault = \"wsman:TimedOut\" }}\n"
            ),
            Outcome::Warn,
            format!("0 events, none naming it\n{pull}"),
        ),
        (
            "batched only",
            "[eventing]\nmodes = [\"events\"]\n".into(),
            Outcome::Skip,
            "neither push nor pull".into(),
        ),
    ];
    let mut runs = tokio::task::JoinSet::new();
    for (what, toml, want, says) in rows {
        let case = case.clone();
        runs.spawn(async move {
            let mock = mock::MockServer::builder()
                .scenario_str(&format!("[scenario]\nname = \"sel-events\"\n\n{toml}"))
                .unwrap()
                .ipmi(true)
                .start()
                .await
                .unwrap();
            let opts = RunOptions {
                ipmi: Some(support::ipmi_options(mock.ipmi_addr().unwrap())),
                ..RunOptions::default()
            };
            let report = support::run(&mock.url(), &case, opts).await;
            mock.shutdown().await;
            (what, want, says, report)
        });
    }
    while let Some(joined) = runs.join_next().await {
        let (what, want, says, report) = joined.unwrap();
        let (o, m) = outcome(&report, ID);
        assert_eq!(*o, want, "{what}: {m}");
        let r = &report.results[0];
        let text = format!(
            "{m}\n{}",
            r.transcript
                .iter()
                .map(|l| l.request.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
        for says in says.lines() {
            assert!(text.contains(says), "{what}: `{says}` not in {text}");
        }
    }
}

/// Only a refusal that names heartbeats (`wsman:UnsupportedFeature`, or any fault whose
/// detail is `Heartbeats`) says the source does not offer them, and skips; a Subscribe
/// asking for heartbeats refused with another fault is a Subscribe that failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_refusal_naming_heartbeats_skips_the_heartbeat_cases() {
    let cases = pick(&eventing_cases(), &["wsman.eventing.push.heartbeats"]);
    let heartbeats_detail = envelope(
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault",
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode>\
         <s:Value>e:EventSourceUnableToProcess</s:Value></s:Subcode></s:Code>\
         <s:Reason><s:Text xml:lang=\"en\">no heartbeats here</s:Text></s:Reason>\
         <s:Detail><w:FaultDetail>http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/Heartbeats\
         </w:FaultDetail></s:Detail></s:Fault>",
        None,
    );
    let mut runs = tokio::task::JoinSet::new();
    for (what, answer, want, says) in [
        (
            "another fault",
            "answer = { fault = \"wse:EventSourceUnableToProcess\" }".to_owned(),
            Outcome::Fail,
            "EventSourceUnableToProcess",
        ),
        (
            "wsman:UnsupportedFeature without a detail",
            "answer = { fault = \"wsman:UnsupportedFeature\" }".to_owned(),
            Outcome::Skip,
            "does not offer heartbeats: wsman:UnsupportedFeature",
        ),
        (
            "another fault with the detail Heartbeats",
            format!("answer = {{ template = '''{heartbeats_detail}''', status = 500 }}"),
            Outcome::Skip,
            "does not offer heartbeats",
        ),
    ] {
        let toml = format!(
            "[scenario]\nname = \"heartbeats-refused\"\n\n\
            [[rules]]\nname = \"Subscribe with heartbeats\"\n\
            match = {{ action = \"{SUBSCRIBE}\", body_path = \"Subscribe/Delivery/Heartbeats\" }}\n\
            {answer}\n"
        );
        let cases = cases.clone();
        runs.spawn(async move {
            let report = run_on(Some(&toml), &cases, RunOptions::default()).await;
            (what, want, says, report)
        });
    }
    while let Some(joined) = runs.join_next().await {
        let (what, want, says, report) = joined.unwrap();
        let (o, m) = outcome(&report, "wsman.eventing.push.heartbeats");
        assert_eq!(*o, want, "{what}: {m}");
        assert!(m.contains(says), "{what}: `{m}`");
    }
}

/// The power change that causes events starts from a settled system and leaves it as
/// it found it: a system found off is already settled (On, then Off, without waiting
/// out the settle time), and one found shutting down is waited for until it is off
/// (not sent a Reboot it would refuse in the middle of the change).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_power_change_starts_from_a_settled_system_and_leaves_it_as_found() {
    use mock::admin::AdminOps;
    let cases = pick(&eventing_cases(), &["wsman.eventing.push.events"]);
    let default = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mocks/default.toml"),
    )
    .unwrap();
    let off = default.replace("initial = \"on\"", "initial = \"off\"");
    assert_ne!(off, default, "mocks/default.toml starts on");
    let mut runs = tokio::task::JoinSet::new();
    for (what, toml, soft_off) in [("off", off, false), ("shutting down", default, true)] {
        let cases = cases.clone();
        runs.spawn(async move {
            let mock = mock::MockServer::builder()
                .scenario_str(&toml)
                .unwrap()
                .start()
                .await
                .unwrap();
            if soft_off {
                // An ACPI shutdown takes 2 s (soft_off_delay_ms): the case begins in it.
                mock.mock().power("soft").unwrap();
            }
            let report = support::run(&mock.url(), &cases, RunOptions::default()).await;
            mock.shutdown().await;
            (what, report)
        });
    }
    while let Some(joined) = runs.join_next().await {
        let (what, report) = joined.unwrap();
        let (o, m) = outcome(&report, "wsman.eventing.push.events");
        assert_eq!(*o, Outcome::Pass, "{what}: {m}");
        let r = &report.results[0];
        assert!(
            r.changes
                .iter()
                .any(|c| c.contains("RequestStateChange 2 then 3")),
            "{what}: on, then off again: {:?}",
            r.changes
        );
        // Off is settled: no waiting out the 15 s allowed for a change to settle.
        if what == "off" {
            assert!(
                r.duration_us < 12_000_000,
                "{what}: the case took {} ms",
                r.duration_us / 1000
            );
        }
    }
}
