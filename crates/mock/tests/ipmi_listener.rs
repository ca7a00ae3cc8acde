//! The mock's IPMI listener over real UDP on loopback, driven by the sans-IO console of
//! the `ipmi` crate: logins, commands on the machine WS-Man serves, the journal, the
//! `[ipmi]` table and every `[[ipmi.rules]]` action, reload and shutdown.
//!
//! Absence of a reply is never waited out: after a datagram that must go unanswered
//! the test sends an ASF presence ping, and the next datagram must be its pong (the
//! listener answers in order).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ipmi::codes::{Privilege, cc};
use ipmi::console::{Console, ConsoleConfig, ConsoleError, Event, SuiteChoice};
use ipmi::msg::Message;
use ipmi::rmcp::AuthType;
use ipmi::session::status;
use mock::MockServer;
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use tokio::net::UdpSocket;

const PATIENCE: Duration = Duration::from_secs(5);

struct Client {
    sock: UdpSocket,
    console: Console,
    rng: StdRng,
    started: Instant,
}

impl Client {
    async fn new(server: &MockServer, config: ConsoleConfig) -> Client {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sock.connect(server.ipmi_addr().expect("ipmi listens"))
            .await
            .unwrap();
        Client {
            sock,
            console: Console::new(config),
            rng: StdRng::seed_from_u64(7),
            started: Instant::now(),
        }
    }

    async fn admin(server: &MockServer, suite: SuiteChoice) -> Client {
        Client::new(
            server,
            ConsoleConfig {
                suite,
                ..ConsoleConfig::new("admin", "admin")
            },
        )
        .await
    }

    /// An admin client logged in with `suite`.
    async fn logged_in_admin(server: &MockServer, suite: SuiteChoice) -> Client {
        let mut c = Client::admin(server, suite).await;
        logged_in(c.login().await);
        c
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Hands a datagram from the BMC to the console.
    fn receive(&mut self, reply: &[u8]) -> Result<Event, ConsoleError> {
        let now = self.now();
        self.console.receive(reply, now, &mut self.rng)
    }

    async fn recv(&self) -> Vec<u8> {
        let mut buf = vec![0u8; 2048];
        let n = tokio::time::timeout(PATIENCE, self.sock.recv(&mut buf))
            .await
            .expect("a reply within the patience")
            .unwrap();
        buf.truncate(n);
        buf
    }

    /// Sends `datagram` and follows the exchange (handshake steps) to its end.
    async fn exchange(&mut self, mut datagram: Vec<u8>) -> Result<Event, ConsoleError> {
        loop {
            self.sock.send(&datagram).await.unwrap();
            let reply = self.recv().await;
            match self.receive(&reply)? {
                Event::Send(next) => datagram = next,
                other => return Ok(other),
            }
        }
    }

    async fn login(&mut self) -> Result<Event, ConsoleError> {
        let now = self.now();
        let open = self.console.login_v20(now, &mut self.rng);
        self.exchange(open).await
    }

    fn seal(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Vec<u8> {
        let now = self.now();
        self.console
            .command(netfn, cmd, data, now, &mut self.rng)
            .unwrap()
    }

    async fn command(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Message {
        let d = self.seal(netfn, cmd, data);
        match self.exchange(d).await.unwrap() {
            Event::Response(m) => m,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    /// Sends a presence ping and asserts that the next datagram is its pong (so
    /// whatever was sent before it got no answer).
    async fn assert_silence_then_pong(&mut self) {
        let now = self.now();
        let ping = self.console.ping(now);
        self.sock.send(&ping).await.unwrap();
        let reply = self.recv().await;
        match self.receive(&reply) {
            Ok(Event::Pong(_)) => {}
            other => panic!("expected the pong first, got {other:?}"),
        }
    }
}

async fn start(toml: &str) -> MockServer {
    MockServer::builder()
        .scenario_str(toml)
        .unwrap()
        .ipmi(true)
        .start()
        .await
        .unwrap()
}

fn logged_in(e: Result<Event, ConsoleError>) -> (u32, Option<u8>) {
    match e {
        Ok(Event::LoggedIn {
            session_id,
            privilege,
            suite,
            ..
        }) => {
            assert_eq!(privilege, Privilege::Administrator);
            (session_id, suite)
        }
        other => panic!("expected a login, got {other:?}"),
    }
}

const APP: u8 = 0x06;
const CHASSIS: u8 = 0x00;

#[tokio::test]
async fn login_commands_and_the_journal() {
    let server = start("").await;
    let mut c = Client::admin(&server, SuiteChoice::Auto).await;
    let (session, suite) = logged_in(c.login().await);
    assert_eq!(suite, Some(17));
    let rsp = c.command(APP, 0x01, &[]).await;
    assert_eq!(rsp.completion(), Some(cc::OK));
    assert_eq!(rsp.response_data()[0], 0x20, "device ID");

    let sessions = server.mock().ipmi_sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, session);
    assert_eq!(sessions[0].user, "admin");
    assert_eq!(
        sessions[0].peer,
        Some(c.sock.local_addr().unwrap()),
        "the session knows its console"
    );

    // The admin API's /state shows the session.
    let state = mock::admin::AdminOps::state(server.mock());
    assert_eq!(state["ipmi"]["sessions"][0]["user"], "admin");
    assert_eq!(state["ipmi"]["sessions"][0]["cipher_suite"], 17);
    assert_eq!(state["ipmi"]["port"], server.ipmi_addr().unwrap().port());

    let journal = server.journal();
    let records: Vec<_> = journal.iter().filter_map(|e| e.ipmi()).collect();
    let kinds: Vec<&str> = records.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds[..3], ["open_session", "rakp1", "rakp3"], "{kinds:?}");
    let get = records
        .iter()
        .find(|r| r.command.as_deref() == Some("get_device_id"))
        .expect("journaled");
    assert_eq!(get.session_id, session);
    assert_eq!(get.user.as_deref(), Some("admin"));
    assert_eq!(
        get.privilege.as_deref(),
        Some(Privilege::Administrator.name())
    );
    assert_eq!(get.cipher_suite, Some(17));
    assert_eq!(get.netfn_name.as_deref(), Some("app"));
    assert_eq!(get.completion_code, Some(0));
    assert!(get.response_hex.starts_with("20"), "{}", get.response_hex);
    let entry = journal
        .iter()
        .find(|e| {
            e.ipmi()
                .is_some_and(|r| r.command.as_deref() == Some("get_device_id"))
        })
        .unwrap();
    assert_eq!(entry.protocol, "ipmi");
    assert_eq!(entry.peer, c.sock.local_addr().unwrap());
    // The admin API serializes it like any entry.
    let json = serde_json::to_value(entry).unwrap();
    assert_eq!(json["detail"]["command"], "get_device_id");
    server.shutdown().await;
}

#[tokio::test]
async fn chassis_control_drives_the_machine_wsman_serves() {
    let server = start("").await;
    let mut c = Client::logged_in_admin(&server, SuiteChoice::Id(3)).await;
    let on = server.mock().with_machine(|m, now| m.power_state(now));
    assert_eq!(on, machine::PowerState::On);
    let rsp = c.command(CHASSIS, 0x02, &[0x00]).await;
    assert_eq!(rsp.completion(), Some(cc::OK));
    let off = server.mock().with_machine(|m, now| m.power_state(now));
    assert_eq!(off, machine::PowerState::Off);
    server.shutdown().await;
}

#[tokio::test]
async fn ipmi15_login_with_md5() {
    let server = start("").await;
    let mut c = Client::admin(&server, SuiteChoice::Auto).await;
    let now = c.now();
    let challenge = c.console.login_v15(AuthType::Md5, now);
    match c.exchange(challenge).await.unwrap() {
        Event::LoggedIn { suite, .. } => assert_eq!(suite, None),
        other => panic!("{other:?}"),
    }
    let rsp = c.command(APP, 0x01, &[]).await;
    assert_eq!(rsp.completion(), Some(cc::OK));
    server.shutdown().await;
}

#[tokio::test]
async fn garbage_is_journaled_and_the_listener_goes_on() {
    let server = start("").await;
    let mut c = Client::admin(&server, SuiteChoice::Auto).await;
    c.sock.send(b"\x06\x00\xff\x07\x06garbage").await.unwrap();
    c.sock.send(&[]).await.unwrap();
    c.assert_silence_then_pong().await;
    let journal = server.journal();
    let dropped: Vec<_> = journal
        .iter()
        .filter_map(|e| e.ipmi())
        .filter(|r| r.dropped.is_some())
        .collect();
    assert_eq!(dropped.len(), 2, "{journal:#?}");
    logged_in(c.login().await);
    server.shutdown().await;
}

#[tokio::test]
async fn rule_drop_undoes_the_datagram() {
    let server = start(
        r#"
        [[ipmi.rules]]
        name = "lose one device id"
        match = { cmd = "get_device_id" }
        action = { drop = true }
        times = 1
        "#,
    )
    .await;
    let mut c = Client::logged_in_admin(&server, SuiteChoice::Auto).await;
    let request = c.seal(APP, 0x01, &[]);
    c.sock.send(&request).await.unwrap();
    c.assert_silence_then_pong().await;
    // The very same bytes again (a client's retry): not a replay, because the dropped
    // datagram left no trace in the session's window.
    c.sock.send(&request).await.unwrap();
    let reply = c.recv().await;
    match c.receive(&reply).unwrap() {
        Event::Response(m) => assert_eq!(m.completion(), Some(cc::OK)),
        other => panic!("{other:?}"),
    }
    let journal = server.journal();
    let gets: Vec<_> = journal
        .iter()
        .filter_map(|e| e.ipmi())
        .filter(|r| r.command.as_deref() == Some("get_device_id"))
        .collect();
    assert_eq!(gets.len(), 2);
    assert_eq!(gets[0].rule.as_deref(), Some("lose one device id"));
    assert_eq!(gets[0].replies, 0);
    assert!(gets[0].dropped.is_some());
    assert_eq!(gets[1].rule, None);
    assert_eq!(gets[1].replies, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_dropped_session_layer_command_changes_nothing() {
    let server = start(
        r#"
        [[ipmi.rules]]
        name = "no change"
        match = { cmd = "set_session_privilege" }
        action = { drop = true }
        skip = 1
        times = 1
        "#,
    )
    .await;
    // The login's own Set Session Privilege Level (to Administrator) is let through.
    let mut c = Client::logged_in_admin(&server, SuiteChoice::Auto).await;
    let level = server.mock().ipmi_sessions()[0].privilege;
    assert_eq!(level, Privilege::Administrator);
    let request = c.seal(APP, 0x3B, &[Privilege::User.to_u8()]);
    c.sock.send(&request).await.unwrap();
    c.assert_silence_then_pong().await;
    assert_eq!(
        server.mock().ipmi_sessions()[0].privilege,
        level,
        "not raised"
    );
    // The same bytes again: the session layer takes them (no replay) and lowers it.
    c.sock.send(&request).await.unwrap();
    let reply = c.recv().await;
    match c.receive(&reply).unwrap() {
        Event::Response(m) => assert_eq!(m.completion(), Some(cc::OK)),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.mock().ipmi_sessions()[0].privilege, Privilege::User);
    let journal = server.journal();
    let dropped = journal
        .iter()
        .filter_map(|e| e.ipmi())
        .find(|r| r.rule.as_deref() == Some("no change"))
        .expect("journaled");
    assert_eq!(dropped.command.as_deref(), Some("set_session_privilege"));
    assert_eq!(
        dropped.dropped.as_deref(),
        Some("dropped by a scenario rule")
    );
    assert_eq!(dropped.completion_code, None);
    server.shutdown().await;
}

#[tokio::test]
async fn rule_completion_code_answers_without_running_the_command() {
    let server = start(
        r#"
        [[ipmi.rules]]
        match = { netfn = "chassis", cmd = 2 }
        action = { completion_code = 0xC0 }
        "#,
    )
    .await;
    let mut c = Client::logged_in_admin(&server, SuiteChoice::Auto).await;
    let rsp = c.command(CHASSIS, 0x02, &[0x00]).await;
    assert_eq!(rsp.completion(), Some(cc::NODE_BUSY));
    let power = server.mock().with_machine(|m, now| m.power_state(now));
    assert_eq!(power, machine::PowerState::On, "the command did not run");
    // Other commands are untouched.
    assert_eq!(
        c.command(CHASSIS, 0x01, &[]).await.completion(),
        Some(cc::OK)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn rule_duplicate_and_delay() {
    let server = start(
        r#"
        [[ipmi.rules]]
        name = "twice"
        match = { cmd = "get_chassis_status", user = "admin" }
        action = { duplicate = true }
        [[ipmi.rules]]
        name = "slow"
        match = { cmd = "get_device_id" }
        action = { delay_ms = 150 }
        "#,
    )
    .await;
    let mut c = Client::logged_in_admin(&server, SuiteChoice::Auto).await;
    let d = c.seal(CHASSIS, 0x01, &[]);
    c.sock.send(&d).await.unwrap();
    let first = c.recv().await;
    let second = c.recv().await;
    assert_eq!(first, second);
    let Ok(Event::Response(a)) = c.receive(&first) else {
        panic!("a response");
    };
    assert_eq!(a.completion(), Some(cc::OK));
    // The copy is a duplicated UDP datagram: the same answer again.
    let journal = server.journal();
    let twice = journal
        .iter()
        .filter_map(|e| e.ipmi())
        .find(|r| r.rule.as_deref() == Some("twice"))
        .expect("journaled");
    assert_eq!(twice.replies, 2);
    assert_eq!(twice.action.as_deref(), Some("duplicate"));

    let t = Instant::now();
    let rsp = c.command(APP, 0x01, &[]).await;
    assert_eq!(rsp.completion(), Some(cc::OK));
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn rule_corrupt_integrity_fails_the_consoles_check() {
    let server = start(
        r#"
        [[ipmi.rules]]
        match = { cmd = "get_device_id" }
        action = { corrupt_integrity = true }
        times = 1
        "#,
    )
    .await;
    let mut c = Client::logged_in_admin(&server, SuiteChoice::Id(3)).await;
    let d = c.seal(APP, 0x01, &[]);
    c.sock.send(&d).await.unwrap();
    let reply = c.recv().await;
    assert_eq!(c.receive(&reply).unwrap_err(), ConsoleError::BadAuthCode);
    assert_eq!(c.command(APP, 0x01, &[]).await.completion(), Some(cc::OK));
    server.shutdown().await;
}

#[tokio::test]
async fn rules_disable_a_suite_and_lower_the_session_limit() {
    let server = start(
        r#"
        [[ipmi.rules]]
        name = "after the first ping"
        match = { payload = "ping" }
        action = { disable_cipher_suite = 17, session_limit = 1 }
        times = 1
        "#,
    )
    .await;
    let mut c = Client::admin(&server, SuiteChoice::Id(17)).await;
    c.assert_silence_then_pong().await;
    let config = server.mock().ipmi_config();
    assert_eq!(config.cipher_suites, [3, 2, 1]);
    assert_eq!(config.session_limit, 1);
    assert_eq!(
        c.login().await.unwrap_err(),
        ConsoleError::Refused {
            stage: "Open Session",
            status: status::NO_CIPHER_SUITE_MATCH
        }
    );
    let mut c3 = Client::logged_in_admin(&server, SuiteChoice::Id(3)).await;
    let mut again = Client::admin(&server, SuiteChoice::Id(3)).await;
    assert_eq!(
        again.login().await.unwrap_err(),
        ConsoleError::Refused {
            stage: "Open Session",
            status: status::NO_RESOURCES
        }
    );
    // LAN parameter 23 (cipher suite support) follows the session layer.
    let rsp = c3.command(0x0C, 0x02, &[0x01, 23, 0, 0]).await;
    assert_eq!(rsp.completion(), Some(cc::OK));
    assert!(
        !rsp.response_data()[2..].contains(&17),
        "{:?}",
        rsp.response_data()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_ipmi_table_configures_the_channel_and_reload_rebuilds_it() {
    let server = start(
        r#"
        [ipmi]
        cipher_suites = [3]
        ipmi15_auth = []
        session_limit = 4
        idle_timeout_ms = 30000
        "#,
    )
    .await;
    let port = server.ipmi_addr().unwrap().port();
    let config = server.mock().ipmi_config();
    assert_eq!(config.cipher_suites, [3]);
    assert!(config.ipmi15_auth.is_empty());
    assert_eq!(config.session_limit, 4);
    assert_eq!(config.idle_timeout_ms, 30000);
    assert_eq!(config.port, port, "Activate Payload reports the bound port");
    let mut c = Client::admin(&server, SuiteChoice::Id(17)).await;
    assert!(c.login().await.is_err());
    let _c3 = Client::logged_in_admin(&server, SuiteChoice::Id(3)).await;

    server
        .mock()
        .load(mock::Scenario::default_scenario())
        .unwrap();
    let config = server.mock().ipmi_config();
    assert_eq!(config.cipher_suites, [17, 3, 2, 1]);
    assert_eq!(config.port, port);
    assert!(
        server.mock().ipmi_sessions().is_empty(),
        "sessions go with the old machine"
    );
    let _c17 = Client::logged_in_admin(&server, SuiteChoice::Id(17)).await;
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_frees_the_port() {
    let server = start("").await;
    let addr: SocketAddr = server.ipmi_addr().unwrap();
    server.shutdown().await;
    UdpSocket::bind(addr).await.expect("the port is free again");
}

#[test]
fn ipmi_table_errors_point_at_the_value() {
    let cases = [
        (
            "[ipmi]\ncipher_suite = [3]\n",
            "2:1",
            "unknown key `cipher_suite`",
            Some("did you mean `cipher_suites`?"),
        ),
        (
            "[ipmi]\ncipher_suites = [3, 4]\n",
            "2:",
            "cipher suite 4",
            None,
        ),
        (
            "[ipmi]\nipmi15_auth = [\"md2\"]\n",
            "2:",
            "`md2` is not an IPMI 1.5 authentication type",
            None,
        ),
        (
            "[[ipmi.rules]]\nmatch = { cmd = \"get_device_ip\" }\naction = { drop = true }\n",
            "2:",
            "`get_device_ip` is not a command name",
            Some("did you mean `get_device_id`?"),
        ),
        (
            "[[ipmi.rules]]\nmatch = { payload = \"rakp2\" }\naction = { drop = true }\n",
            "2:",
            "not a payload kind",
            Some("did you mean `rakp1`?"),
        ),
        (
            "[[ipmi.rules]]\nmatch = { cmd = 1 }\naction = { dorp = true }\n",
            "3:",
            "unknown key `dorp`",
            Some("did you mean `drop`?"),
        ),
        (
            "[[ipmi.rules]]\nmatch = { cmd = 1 }\naction = {}\n",
            "3:",
            "does nothing",
            None,
        ),
        (
            "[[ipmi.rules]]\nmatch = { netfn = 7 }\naction = { drop = true }\n",
            "2:",
            "response NetFn",
            Some("did you mean 0x06?"),
        ),
    ];
    for (toml, at, message, hint) in cases {
        let e = mock::Scenario::from_toml(toml, "t.toml").unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with(&format!("t.toml:{at}")), "{toml}: {text}");
        assert!(e.message.contains(message), "{toml}: {text}");
        if let Some(h) = hint {
            assert_eq!(e.hint.as_deref(), Some(h), "{toml}: {text}");
        }
    }
}

#[tokio::test]
async fn the_ipmi_faults_scenario_acts_as_documented() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mocks/ipmi-faults.toml");
    let scenario = mock::Scenario::from_file(&path).unwrap();
    assert_eq!(scenario.ipmi.rules.len(), 7);
    let server = MockServer::builder()
        .scenario(scenario)
        .ipmi(true)
        .start()
        .await
        .unwrap();
    let mut c = Client::admin(&server, SuiteChoice::Id(3)).await;
    // "no cipher suite list once": the sessionless command is answered 0xC1 at once.
    let now = c.now();
    let ask = c.console.cipher_suites(0, now);
    match c.exchange(ask).await.unwrap() {
        Event::Response(m) => assert_eq!(m.completion(), Some(cc::INVALID_COMMAND)),
        other => panic!("{other:?}"),
    }
    // "tighten at first contact" acts on the first auth caps, before it is answered.
    let now = c.now();
    let caps = c.console.auth_caps(true, now);
    assert!(matches!(c.exchange(caps).await, Ok(Event::Response(_))));
    assert_eq!(server.mock().ipmi_config().cipher_suites, [3, 2, 1]);
    assert_eq!(server.mock().ipmi_config().session_limit, 2);
    let mut c17 = Client::admin(&server, SuiteChoice::Id(17)).await;
    assert!(c17.login().await.is_err());
    logged_in(c.login().await);
    // "busy once": 0xC0, then the command runs.
    assert_eq!(
        c.command(CHASSIS, 0x02, &[0x00]).await.completion(),
        Some(cc::NODE_BUSY)
    );
    assert_eq!(
        c.command(CHASSIS, 0x02, &[0x00]).await.completion(),
        Some(cc::OK)
    );
    // "lose a device id": the first passes, the second is lost, the third answers.
    assert_eq!(c.command(APP, 0x01, &[]).await.completion(), Some(cc::OK));
    let lost = c.seal(APP, 0x01, &[]);
    c.sock.send(&lost).await.unwrap();
    c.assert_silence_then_pong().await;
    assert_eq!(c.command(APP, 0x01, &[]).await.completion(), Some(cc::OK));
    server.shutdown().await;
}

#[tokio::test]
async fn rules_match_the_login_user_and_answer_sessionless_commands() {
    let server = start(
        r#"
        [[ipmi.rules]]
        name = "operator cannot log in"
        match = { payload = "rakp1", user = "operator" }
        action = { drop = true }
        [[ipmi.rules]]
        name = "old BMC"
        match = { cmd = "get_channel_cipher_suites" }
        action = { completion_code = 0xC1 }
        "#,
    )
    .await;
    let mut c = Client::admin(&server, SuiteChoice::Auto).await;
    let now = c.now();
    let ask = c.console.cipher_suites(0, now);
    match c.exchange(ask).await.unwrap() {
        Event::Response(m) => assert_eq!(m.completion(), Some(cc::INVALID_COMMAND)),
        other => panic!("{other:?}"),
    }
    logged_in(c.login().await);

    let mut op = Client::new(
        &server,
        ConsoleConfig {
            suite: SuiteChoice::Id(3),
            privilege: Privilege::Operator,
            ..ConsoleConfig::new("operator", "operator")
        },
    )
    .await;
    let now = op.now();
    let open = op.console.login_v20(now, &mut op.rng);
    op.sock.send(&open).await.unwrap();
    let reply = op.recv().await;
    let now = op.now();
    let Ok(Event::Send(rakp1)) = op.console.receive(&reply, now, &mut op.rng) else {
        panic!("RAKP 1 to send");
    };
    op.sock.send(&rakp1).await.unwrap();
    op.assert_silence_then_pong().await;
    let journal = server.journal();
    let dropped = journal
        .iter()
        .filter_map(|e| e.ipmi())
        .find(|r| r.rule.as_deref() == Some("operator cannot log in"))
        .expect("journaled");
    assert_eq!(dropped.kind, "rakp1");
    assert_eq!(dropped.user.as_deref(), Some("operator"));
    assert_eq!(dropped.replies, 0);
    let old = journal
        .iter()
        .filter_map(|e| e.ipmi())
        .find(|r| r.rule.as_deref() == Some("old BMC"))
        .expect("journaled");
    assert_eq!(old.completion_code, Some(0xC1));
    assert_eq!(old.command.as_deref(), Some("get_channel_cipher_suites"));
    server.shutdown().await;
}

#[tokio::test]
async fn the_scenario_kg_is_the_channel_key() {
    let server = start("[ipmi]\nkg = \"0x0102030405\"\n").await;
    let mut with_kg = Client::new(
        &server,
        ConsoleConfig {
            kg: Some(vec![1, 2, 3, 4, 5]),
            suite: SuiteChoice::Id(3),
            ..ConsoleConfig::new("admin", "admin")
        },
    )
    .await;
    logged_in(with_kg.login().await);
    assert_eq!(
        with_kg.command(APP, 0x01, &[]).await.completion(),
        Some(cc::OK)
    );
    // Without the key the session keys differ: RAKP 4 does not verify.
    let mut without = Client::admin(&server, SuiteChoice::Id(3)).await;
    assert_eq!(
        without.login().await.unwrap_err(),
        ConsoleError::Rakp4Mismatch
    );
    server.shutdown().await;
}

#[tokio::test]
async fn idle_sessions_are_swept() {
    let server = start("[ipmi]\nidle_timeout_ms = 100\n").await;
    let _c = Client::logged_in_admin(&server, SuiteChoice::Id(3)).await;
    assert_eq!(server.mock().ipmi_sessions().len(), 1);
    // The listener wakes at the session layer's next timeout and closes it, with no
    // datagram arriving.
    let deadline = Instant::now() + PATIENCE;
    let mut interval = tokio::time::interval(Duration::from_millis(50));
    while !server.mock().ipmi_sessions().is_empty() {
        assert!(Instant::now() < deadline, "the idle session was not swept");
        interval.tick().await;
    }
    server.shutdown().await;
}

/// The listener on `[::1]`. Ignored (with the reason) where the build found no IPv6
/// loopback; under `CI=true` it always runs, so a CI machine without one fails it.
#[tokio::test]
#[cfg_attr(
    not(has_ipv6_loopback),
    ignore = "no IPv6 loopback ([::1] cannot be bound) on this machine"
)]
async fn ipv6_loopback() {
    let config = mock::http::ServerConfig {
        http: None,
        ..mock::http::ServerConfig::default()
    };
    let server = MockServer::start_with_ipmi(
        mock::Scenario::default_scenario(),
        config,
        Some("[::1]:0".parse().unwrap()),
    )
    .await
    .expect("the IPMI listener binds [::1]:0");
    let addr = server.ipmi_addr().unwrap();
    assert!(addr.is_ipv6());
    let sock = UdpSocket::bind("[::1]:0").await.unwrap();
    sock.connect(addr).await.unwrap();
    let mut c = Client {
        sock,
        console: Console::new(ConsoleConfig::new("admin", "admin")),
        rng: StdRng::seed_from_u64(9),
        started: Instant::now(),
    };
    logged_in(c.login().await);
    assert_eq!(c.command(APP, 0x01, &[]).await.completion(), Some(cc::OK));
    server.shutdown().await;
}

/// Timeouts as long as TOML allows: the listener waits at most a day at a time for
/// the next one (instead of overflowing the clock) and keeps serving.
#[tokio::test]
async fn huge_timeouts_are_served() {
    let server = start(
        "[ipmi]\nidle_timeout_ms = 9223372036854775807\nhandshake_timeout_ms = 9223372036854775807\n",
    )
    .await;
    let mut c = Client::admin(&server, SuiteChoice::Auto).await;
    logged_in(c.login().await);
    let rsp = c.command(APP, 0x01, &[]).await;
    assert_eq!(rsp.completion(), Some(cc::OK));
    // A second login while the first session stays open: the listener is still up.
    let mut d = Client::admin(&server, SuiteChoice::Auto).await;
    logged_in(d.login().await);
    server.shutdown().await;
}
