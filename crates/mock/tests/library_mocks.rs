//! The library API: typed mocks mounted on a running `MockServer`, driven over
//! loopback by Touchstone's own WS-Man and IPMI clients; expectations verified on
//! drop with a readable report; the typed journal.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use client::{Client, Exchange, Target};
use ipmi::codes::Privilege;
use ipmi::console::SuiteChoice;
use mock::{
    FaultKind, IpmiMock, IpmiRespond, Mock, MockServer, ReceivedRequest, Respond, operation,
    resource,
};

const FAN: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Fan";

fn client(server: &MockServer) -> Client {
    Client::new(
        Target::new(server.url())
            .credentials("admin", "admin")
            .timeout(Duration::from_secs(20)),
    )
    .unwrap_or_else(|e| panic!("client: {e}"))
}

async fn get_fan(c: &Client, id: &str) -> Exchange {
    let get = c.request(FAN).selector("DeviceID", id).get();
    c.send(&get)
        .await
        .unwrap_or_else(|e| panic!("Get {id}: {e}"))
}

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

#[tokio::test]
async fn a_mounted_mock_answers_its_requests_only_and_is_counted() {
    let server = MockServer::start().await.unwrap();
    Mock::given(
        operation("Get")
            .resource("CIM_Fan")
            .selector("DeviceID", "fan1"),
    )
    .respond_with(Respond::fault(FaultKind::AccessDenied).reason("fan1 is off limits"))
    .named("deny fan1")
    .expect(1)
    .mount(&server)
    .await
    .unwrap();
    let c = client(&server);

    let denied = get_fan(&c, "fan1").await;
    let fault = denied.fault().expect("a fault");
    assert_eq!(fault.kind, Some(FaultKind::AccessDenied));
    assert_eq!(fault.reason, "fan1 is off limits");
    // Another fan is not matched: the machine answers (no such fan here, so a
    // catalogue fault other than AccessDenied, or the instance).
    let other = get_fan(&c, "fan2").await;
    assert_ne!(
        other.fault().and_then(|f| f.kind),
        Some(FaultKind::AccessDenied)
    );

    let counts = server.mock_counts();
    assert_eq!(counts, [("deny fan1 (mock #1)".to_owned(), 1)]);
    server.verify().expect("expect(1) holds");

    // The typed journal: the two authenticated Gets, with their addressing.
    let gets: Vec<_> = server
        .received_requests()
        .into_iter()
        .filter_map(|r| match r {
            ReceivedRequest::Wsman(w) if w.user.is_some() => Some(w),
            _ => None,
        })
        .collect();
    assert_eq!(gets.len(), 2, "{gets:#?}");
    assert_eq!(gets[0].operation.as_deref(), Some("Get"));
    assert_eq!(
        gets[0].action.as_deref(),
        Some("http://schemas.xmlsoap.org/ws/2004/09/transfer/Get")
    );
    assert_eq!(gets[0].resource_uri.as_deref(), Some(FAN));
    assert_eq!(
        gets[0].selectors,
        [("DeviceID".to_owned(), "fan1".to_owned())]
    );
    assert_eq!(gets[0].rule.as_deref(), Some("deny fan1 (mock #1)"));
    assert_eq!(gets[1].rule, None);
    assert_eq!(gets[0].user.as_deref(), Some("admin"));
    server.shutdown().await;
}

#[tokio::test]
async fn expect_failure_is_reported_with_expected_received_and_the_requests() {
    let server = MockServer::start().await.unwrap();
    Mock::given(resource("CIM_Fan").selector("DeviceID", "fan1"))
        .respond_with(Respond::status(503))
        .named("fan1 unavailable")
        .expect(2)
        .mount(&server)
        .await
        .unwrap();
    let c = client(&server);
    assert_eq!(get_fan(&c, "fan1").await.status(), Some(503));
    assert_ne!(get_fan(&c, "fan7").await.status(), Some(503));

    let report = server.verify().expect_err("one request, two expected");
    assert_eq!(report.failed.len(), 1);
    assert_eq!(
        (report.failed[0].received, report.failed[0].mock.as_str()),
        (1, "fan1 unavailable")
    );
    let text = report.to_string();
    assert!(
        text.contains("- mock `fan1 unavailable`: expected exactly 2 requests, received 1"),
        "{text}"
    );
    // Each request: operation, resource URI, selectors, user, status, the rule, and
    // the failed mock's match marked.
    assert!(
        text.contains(&format!(
            "<- #2 http Get {FAN} {{DeviceID=fan1}} user admin -> 503 (rule `fan1 unavailable (mock #1)`)"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("Get {FAN} {{DeviceID=fan7}} user admin")),
        "{text}"
    );

    // Dropping the server panics with the same report.
    let message = panic_message(move || drop(server));
    assert!(
        message.contains("expected exactly 2 requests, received 1"),
        "{message}"
    );
    assert!(message.contains("{DeviceID=fan7}"), "{message}");
}

#[tokio::test]
async fn a_scoped_mock_is_verified_and_unmounted_when_its_guard_drops() {
    let server = MockServer::start().await.unwrap();
    let c = client(&server);
    let guard = Mock::given(operation("Get").resource("CIM_Fan"))
        .respond_with(Respond::status(503))
        .expect(1..)
        .mount_as_scoped(&server)
        .await
        .unwrap();
    assert_eq!(get_fan(&c, "fan1").await.status(), Some(503));
    assert_eq!(guard.received(), 1);
    assert_eq!(guard.received_requests().len(), 1);
    drop(guard); // satisfied: no panic
    // Unmounted: the machine answers again.
    assert_ne!(get_fan(&c, "fan1").await.status(), Some(503));

    let unmet = Mock::given(operation("Delete"))
        .respond_with(Respond::status(500))
        .named("deletes")
        .expect(1)
        .mount_as_scoped(&server)
        .await
        .unwrap();
    let message = panic_message(move || drop(unmet));
    assert!(
        message.contains("- mock `deletes`: expected exactly 1 request, received 0"),
        "{message}"
    );
    // The guard checked it: the server's drop does not check it again.
    server.verify().expect("nothing left to verify");

    let guard = Mock::given(operation("Delete"))
        .respond_with(Respond::status(500))
        .expect(..=0)
        .mount_as_scoped(&server)
        .await
        .unwrap();
    guard.verify_and_unmount().expect("no Delete was sent");
    server.shutdown().await;
}

#[tokio::test]
async fn instances_sequences_delays_and_transport_failures() {
    let server = MockServer::start().await.unwrap();
    let c = client(&server);
    Mock::given(operation("Get").selector("DeviceID", "virtual"))
        .respond_with(Respond::instance_of(
            "CIM_Fan",
            [
                ("DeviceID", "virtual"),
                ("ElementName", "<spinning> & {{user}}"),
            ],
        ))
        .then_respond_with(Respond::status(503))
        .expect(3)
        .mount(&server)
        .await
        .unwrap();
    let first = get_fan(&c, "virtual").await;
    assert_eq!(first.status(), Some(200));
    let env = first.envelope().expect("a body").expect("an envelope");
    assert_eq!(
        env.header.action.as_deref(),
        Some("http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse")
    );
    assert!(env.header.relates_to.is_some());
    let body = first.body_text().unwrap();
    assert!(body.contains(&format!("xmlns:p=\"{FAN}\"")), "{body}");
    assert!(
        body.contains("<p:ElementName>&lt;spinning&gt; &amp; &#123;{user}}</p:ElementName>"),
        "{body}"
    );
    // The last answer repeats.
    assert_eq!(get_fan(&c, "virtual").await.status(), Some(503));
    assert_eq!(get_fan(&c, "virtual").await.status(), Some(503));

    let delay = Duration::from_millis(300);
    Mock::given(operation("Get").selector("DeviceID", "slow"))
        .respond_with(Respond::status(204).delayed(delay))
        .expect(1)
        .mount(&server)
        .await
        .unwrap();
    let t0 = Instant::now();
    assert_eq!(get_fan(&c, "slow").await.status(), Some(204));
    assert!(t0.elapsed() >= delay, "answered after {:?}", t0.elapsed());

    Mock::given(operation("Get").selector("DeviceID", "reset"))
        .respond_with(Respond::reset())
        .expect(1)
        .mount(&server)
        .await
        .unwrap();
    let get = c.request(FAN).selector("DeviceID", "reset").get();
    match c.send(&get).await {
        Err(e) => assert!(e.is_unanswered(), "{e}"),
        Ok(x) => assert!(x.response.is_none(), "answered: {:?}", x.status()),
    }
    server.verify().unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn mounting_keeps_the_machine_state_and_later_mocks_follow_earlier_ones() {
    let server = MockServer::start().await.unwrap();
    let c = client(&server);
    // An enumeration opened before the mocks are mounted...
    let enumerate = c
        .request(FAN)
        .enumerate(client::build::enumerate_body(None, false, None, None, None));
    let opened = c.send(&enumerate).await.unwrap();
    let env = opened.envelope().unwrap().unwrap();
    let wsman::Body::EnumerateResponse(r) = &env.body else {
        panic!("not an EnumerateResponse: {:?}", opened.body_text())
    };
    let context = r.context.clone().expect("a context").into_owned();
    Mock::given(operation("Get").resource("CIM_Fan"))
        .respond_with(Respond::status(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await
        .unwrap();
    // Mounted later, so it only sees what the first one lets through.
    Mock::given(operation("Get").resource("CIM_Fan"))
        .respond_with(Respond::status(502))
        .expect(1)
        .mount(&server)
        .await
        .unwrap();
    assert_eq!(get_fan(&c, "fan1").await.status(), Some(503));
    assert_eq!(get_fan(&c, "fan1").await.status(), Some(502));
    server.verify().unwrap();
    // ...is still open: mounting did not reload the machine (a scenario load would
    // have answered wsen:InvalidEnumerationContext).
    let pull = c
        .request(FAN)
        .pull(client::build::pull_body(context, Some(10)));
    let pulled = c.send(&pull).await.unwrap();
    assert_eq!(pulled.fault().map(|f| f.reason), None);
    assert_eq!(pulled.status(), Some(200));

    server.reset();
    assert!(server.received_requests().is_empty());
    assert!(server.mock_counts().is_empty());
    assert_ne!(get_fan(&c, "fan1").await.status(), Some(502));
    server.shutdown().await;
}

#[tokio::test]
async fn bad_mocks_are_refused_with_a_clear_error() {
    let server = MockServer::builder().ipmi(true).start().await.unwrap();
    let e = Mock::given(operation("Get"))
        .respond_with(Respond::fault(FaultKind::AccessDenied).detail("Nope"))
        .mount(&server)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("`Nope` is not a detail of"), "{e}");
    let e = Mock::given(operation("Get"))
        .mount(&server)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("has no answer"), "{e}");
    let e = Mock::given(operation("Get"))
        .respond_with(Respond::script("let = ;"))
        .mount(&server)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("does not compile"), "{e}");
    let e = IpmiMock::given(0x07, 0x01)
        .respond_with(IpmiRespond::completion_code(0xC1))
        .mount(&server)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("response NetFn"), "{e}");
    let e = IpmiMock::given(0x06, 0x01)
        .respond_with(IpmiRespond::data(vec![0; 201]))
        .mount(&server)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("at most 200"), "{e}");
    // Nothing was mounted, nothing is expected.
    assert!(server.mock_counts().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn ipmi_mocks_answer_data_or_completion_codes_and_are_verified() {
    let server = MockServer::builder().ipmi(true).start().await.unwrap();
    let addr = server.ipmi_addr().expect("IPMI listens");
    IpmiMock::given(0x06, 0x01) // Get Device ID
        .sessionless()
        .respond_with(IpmiRespond::data([0x20, 0x81, 0x01, 0x02]))
        .named("device id")
        .expect(1)
        .mount(&server)
        .await
        .unwrap();
    let target = client::ipmi::IpmiTarget::new(addr, "admin", "admin");
    let mut s = client::ipmi::IpmiSession::open(&target, 7).await.unwrap();
    let id = s.sessionless(0x06, 0x01, &[], false).await.unwrap();
    assert_eq!(
        (id.completion, id.data.as_slice()),
        (0, &[0x20, 0x81, 0x01, 0x02][..])
    );
    s.login_v20(Privilege::Administrator, SuiteChoice::Auto)
        .await
        .unwrap();
    // Mounted inside the session: the session survives it.
    IpmiMock::given(0x00, 0x01) // Get Chassis Status
        .in_session()
        .user("admin")
        .respond_with(IpmiRespond::completion_code(0xC0))
        .expect(1)
        .mount(&server)
        .await
        .unwrap();
    let status = s.command(0x00, 0x01, &[]).await.unwrap();
    assert_eq!(status.completion, 0xC0);
    // Not matched (a different command): the machine answers.
    let real = s.command(0x06, 0x01, &[]).await.unwrap();
    assert_eq!(real.completion, 0);
    assert_ne!(real.data, [0x20, 0x81, 0x01, 0x02]);
    let _ = s.close().await;

    server.verify().unwrap();
    let counts = server.mock_counts();
    assert_eq!(counts[0], ("device id (mock #1)".to_owned(), 1));
    assert_eq!(counts[1].1, 1);
    assert!(
        counts[1].0.contains("get_chassis_status") && counts[1].0.contains("user admin"),
        "{counts:?}"
    );
    let received = server.received_requests();
    let device_id = received
        .iter()
        .filter_map(ReceivedRequest::ipmi)
        .find(|i| i.rule.as_deref() == Some("device id (mock #1)"))
        .expect("the journal names the mock");
    assert_eq!(device_id.response, [0x20, 0x81, 0x01, 0x02]);
    assert_eq!((device_id.netfn, device_id.cmd), (Some(0x06), Some(0x01)));
    server.shutdown().await;
}

#[tokio::test]
async fn an_ipmi_expectation_that_fails_lists_the_datagrams() {
    let server = MockServer::builder().ipmi(true).start().await.unwrap();
    let addr = server.ipmi_addr().unwrap();
    IpmiMock::given(0x06, 0x01)
        .respond_with(IpmiRespond::completion_code(0xC1))
        .expect(2)
        .mount(&server)
        .await
        .unwrap();
    let target = client::ipmi::IpmiTarget::new(addr, "admin", "admin");
    let mut s = client::ipmi::IpmiSession::open(&target, 1).await.unwrap();
    let r = s.sessionless(0x06, 0x01, &[], true).await.unwrap();
    assert_eq!(r.completion, 0xC1);
    let report = server.verify().unwrap_err().to_string();
    assert!(
        report.contains(
            "- mock `IPMI get_device_id (0x06:0x01)`: expected exactly 2 requests, received 1"
        ),
        "{report}"
    );
    assert!(
        report.contains("ipmi sessionless_rmcpp get_device_id (0x06:0x01) user - -> cc 0xc1"),
        "{report}"
    );
    let message = panic_message(move || drop(server));
    assert!(message.contains("received 1"), "{message}");
}

#[tokio::test]
async fn typed_mocks_compile_to_the_rules_the_scenario_file_gives() {
    let scenario = mock::Scenario::from_toml(
        r#"
        [[rules]]
        name = "r"
        match = { action = "Get", resource_uri = "CIM_Fan", selectors = { DeviceID = "fan*" }, user = "admin" }
        answers = [{ fault = "wsman:AccessDenied", reason = "no", delay_ms = 5 }, { status = 503 }, { transport = "reset" }]
        times = 3

        [[ipmi.rules]]
        name = "i"
        match = { netfn = 6, cmd = 1, user = "admin" }
        action = { data = "0x20 81", delay_ms = 7 }
        "#,
        "t.toml",
    )
    .unwrap();
    let server = MockServer::builder()
        .scenario(scenario.clone())
        .start()
        .await
        .unwrap();
    Mock::given(
        operation("Get")
            .resource("CIM_Fan")
            .selector("DeviceID", "fan*")
            .user("admin"),
    )
    .respond_with(
        Respond::fault(FaultKind::AccessDenied)
            .reason("no")
            .delayed(Duration::from_millis(5)),
    )
    .then_respond_with(Respond::status(503))
    .then_respond_with(Respond::reset())
    .up_to_n_times(3)
    .mount(&server)
    .await
    .unwrap();
    IpmiMock::given(0x06, 0x01)
        .user("admin")
        .respond_with(IpmiRespond::data([0x20, 0x81]).delayed(Duration::from_millis(7)))
        .mount(&server)
        .await
        .unwrap();
    let now = server.mock().scenario();
    let (file, typed) = (&scenario.rules.rules()[0], &now.rules.rules()[1]);
    assert_eq!(
        format!("{:?}", typed.matcher),
        format!("{:?}", file.matcher)
    );
    assert_eq!(
        format!("{:?}", typed.answers),
        format!("{:?}", file.answers)
    );
    assert_eq!(typed.times, file.times);
    let (file, typed) = (&scenario.ipmi.rules[0], &now.ipmi.rules[1]);
    assert_eq!(typed.matcher, file.matcher);
    assert_eq!(typed.action, file.action);
    assert_eq!(typed.action.data, [0x20, 0x81]);

    // Bad data in a scenario file is refused where it is written.
    let e = mock::Scenario::from_toml(
        "[[ipmi.rules]]\nmatch = { cmd = 1 }\naction = { data = \"0x2\" }\n",
        "t.toml",
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("t.toml:3:"), "{e}");
    assert!(
        e.message.contains("data is not 1 to 200 bytes of hex"),
        "{e}"
    );
    server.shutdown().await;
}

/// A mock of the default scenario, edited.
async fn start_edited(edit: impl FnOnce(&mut mock::Scenario)) -> MockServer {
    let mut scenario = mock::Scenario::default_scenario();
    edit(&mut scenario);
    MockServer::builder()
        .scenario(scenario)
        .start()
        .await
        .unwrap()
}

/// A mock of the default scenario, edited, after three Identifies (each answered 200),
/// and its journal.
async fn three_identifies(
    edit: impl FnOnce(&mut mock::Scenario),
) -> (MockServer, Vec<mock::journal::Entry>) {
    let server = start_edited(edit).await;
    let c = client(&server);
    for _ in 0..3 {
        let answer = c.identify(false).await.unwrap();
        assert_eq!(answer.status(), Some(200));
    }
    let entries = server.journal();
    (server, entries)
}

/// The HTTP exchanges answered 200.
fn answered(entries: &[mock::journal::Entry]) -> Vec<&mock::journal::HttpRecord> {
    entries
        .iter()
        .filter_map(|e| e.http())
        .filter(|h| h.status == Some(200))
        .collect()
}

/// `[http] journal_response_bytes` bounds the response bodies the journal keeps: the
/// newest answer's is kept, older ones let theirs go and keep the rest (status, the
/// body's length); the request bodies stay. The default keeps far more.
#[tokio::test]
async fn the_journal_keeps_response_bodies_within_its_budget() {
    let parsed = mock::Scenario::from_toml("[http]\njournal_response_bytes = 1\n", "budget.toml")
        .expect("the setting parses");
    assert_eq!(parsed.http.journal_response_bytes, 1);
    assert_eq!(
        mock::Scenario::default_scenario()
            .http
            .journal_response_bytes,
        mock::journal::DEFAULT_RESPONSE_BYTES
    );
    for budget in [1usize, mock::journal::DEFAULT_RESPONSE_BYTES] {
        let (server, entries) = three_identifies(|s| s.http.journal_response_bytes = budget).await;
        let answered = answered(&entries);
        assert_eq!(answered.len(), 3, "{budget}");
        for (i, h) in answered.iter().enumerate() {
            let body = h.response_body.as_ref().expect("a response body");
            let newest = i == answered.len() - 1;
            assert_eq!(body.is_released(), budget == 1 && !newest, "{budget}, {i}");
            assert!(body.len > 0);
            if body.is_released() {
                assert_eq!(body.data(), "");
            } else {
                assert!(body.data().contains("IdentifyResponse"), "{budget}, {i}");
            }
            assert!(h.request_body.data().contains("Identify"));
        }
        server.shutdown().await;
    }
}

/// `[http] journal_request_bytes` bounds what the journal keeps of requests: past it
/// the oldest entries go whole, and the newest stays whole whatever its size. The
/// default keeps every exchange of a short session, headers and bodies as sent.
#[tokio::test]
async fn the_journal_keeps_requests_within_their_budget() {
    let parsed = mock::Scenario::from_toml("[http]\njournal_request_bytes = 1\n", "budget.toml")
        .expect("the setting parses");
    assert_eq!(parsed.http.journal_request_bytes, 1);
    assert_eq!(
        mock::Scenario::default_scenario()
            .http
            .journal_request_bytes,
        mock::journal::DEFAULT_REQUEST_BYTES
    );
    for budget in [1usize, mock::journal::DEFAULT_REQUEST_BYTES] {
        let (server, entries) = three_identifies(|s| s.http.journal_request_bytes = budget).await;
        let answered = answered(&entries);
        if budget == 1 {
            assert_eq!(entries.len(), 1, "only the newest");
        }
        assert_eq!(answered.len(), if budget == 1 { 1 } else { 3 }, "{budget}");
        for h in answered {
            assert!(h.request_body.data().contains("Identify"), "{budget}");
            assert_eq!(h.path, "/wsman");
            assert!(h.request_headers.get("host").is_some(), "{budget}");
            let body = h.response_body.as_ref().expect("a response body");
            assert!(body.data().contains("IdentifyResponse"), "{budget}");
            let length = h
                .response_headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .map(|(_, v)| v.to_string());
            assert_eq!(length, Some(body.len.to_string()), "{budget}");
        }
        server.shutdown().await;
    }
}

/// `[http] journal_capacity = 0` turns the journal off: requests are answered as
/// usual, and nothing is kept; the default keeps them.
#[tokio::test]
async fn journal_capacity_zero_keeps_nothing_and_answers_as_usual() {
    for capacity in [0usize, 5] {
        let server = start_edited(|s| s.http.journal_capacity = capacity).await;
        let c = client(&server);
        for _ in 0..2 {
            let answer = c.identify(false).await.unwrap();
            assert_eq!(
                answer.status(),
                Some(200),
                "{capacity}: {:?}",
                answer.body_text()
            );
            assert!(
                answer
                    .body_text()
                    .unwrap_or_default()
                    .contains("IdentifyResponse")
            );
        }
        // Two Identifies (and whatever the client's authentication adds) were answered.
        let kept = server.journal().len();
        if capacity == 0 {
            assert_eq!(kept, 0);
        } else {
            assert!(
                (2..=capacity).contains(&kept),
                "capacity {capacity}: {kept} kept"
            );
        }
    }
}
