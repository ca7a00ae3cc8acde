//! The `[ipmi]` knobs that make the mock imitate other (correct but minimal) BMCs, the
//! scenarios built from them (`mocks/ipmi-chassis-only.toml`,
//! `mocks/ipmi-small-reads.toml`) and the IPMI seeded defects added with them
//! (`mocks/defects/ipmi-reservations-ignored.toml`, `ipmi-operator-escalation.toml`,
//! `ipmi-ipmi15-none-unadvertised.toml`), over real UDP on loopback with the
//! sans-IO console of the `ipmi` crate.
//!
//! Absence of a reply is never waited out: after a datagram that must go unanswered
//! the test sends another request, and the next datagram must be that one's answer
//! (the listener answers in order).

use std::path::PathBuf;
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
const CHASSIS: u8 = 0x00;
const SENSOR: u8 = 0x04;
const APP: u8 = 0x06;
const STORAGE: u8 = 0x0A;
const TRANSPORT: u8 = 0x0C;

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
            rng: StdRng::seed_from_u64(11),
            started: Instant::now(),
        }
    }

    /// `user`/`password` asking for `privilege`, cipher suite 17.
    async fn as_user(server: &MockServer, user: &str, privilege: Privilege) -> Client {
        Client::new(
            server,
            ConsoleConfig {
                suite: SuiteChoice::Id(17),
                privilege,
                ..ConsoleConfig::new(user, user)
            },
        )
        .await
    }

    /// admin/admin logged in at Administrator.
    async fn admin(server: &MockServer) -> Client {
        let mut c = Client::as_user(server, "admin", Privilege::Administrator).await;
        let p = logged_in(c.login().await);
        assert_eq!(p, Privilege::Administrator);
        c
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
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

    async fn exchange(&mut self, mut datagram: Vec<u8>) -> Result<Event, ConsoleError> {
        loop {
            self.sock.send(&datagram).await.unwrap();
            let reply = self.recv().await;
            let now = self.now();
            match self.console.receive(&reply, now, &mut self.rng)? {
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

    async fn command(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Message {
        let now = self.now();
        let d = self
            .console
            .command(netfn, cmd, data, now, &mut self.rng)
            .unwrap();
        response(self.exchange(d).await.unwrap())
    }

    /// The completion code of a command in the session.
    async fn cc(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> u8 {
        let m = self.command(netfn, cmd, data).await;
        m.completion().expect("a completion code")
    }

    /// Get Channel Authentication Capabilities outside a session.
    async fn auth_caps(&mut self, v20: bool) -> Message {
        let now = self.now();
        let d = self.console.auth_caps(v20, now);
        response(self.exchange(d).await.unwrap())
    }
}

fn response(e: Event) -> Message {
    match e {
        Event::Response(m) => m,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn logged_in(e: Result<Event, ConsoleError>) -> Privilege {
    match e {
        Ok(Event::LoggedIn { privilege, .. }) => privilege,
        other => panic!("expected a login, got {other:?}"),
    }
}

fn mock_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../mocks")
        .join(name)
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

async fn start_file(name: &str) -> MockServer {
    MockServer::builder()
        .scenario_file(mock_file(name))
        .unwrap_or_else(|e| panic!("{e}"))
        .ipmi(true)
        .start()
        .await
        .unwrap()
}

/// Get SDR (reservation, record, offset, count).
fn get_sdr(reservation: u16, record: u16, offset: u8, count: u8) -> Vec<u8> {
    let mut d = reservation.to_le_bytes().to_vec();
    d.extend_from_slice(&record.to_le_bytes());
    d.extend_from_slice(&[offset, count]);
    d
}

/// Reserve SDR Repository in the session.
async fn reserve_sdr(c: &mut Client) -> u16 {
    let m = c.command(STORAGE, 0x22, &[]).await;
    assert_eq!(m.completion(), Some(cc::OK));
    let d = m.response_data();
    u16::from_le_bytes([d[0], d[1]])
}

// ---------------------------------------------------------------- knobs

#[tokio::test]
async fn presence_ping_off_ignores_the_ping_and_answers_what_follows() {
    let server = start("[ipmi]\npresence_ping = false\n").await;
    let mut c = Client::as_user(&server, "admin", Privilege::Administrator).await;
    let now = c.now();
    let ping = c.console.ping(now);
    c.sock.send(&ping).await.unwrap();
    // The next datagram is the answer to the request after the ping: no pong came.
    let caps = c.auth_caps(true).await;
    assert_eq!(caps.completion(), Some(cc::OK));
    let journal: Vec<_> = server
        .journal()
        .iter()
        .filter_map(|e| e.ipmi().cloned())
        .collect();
    assert_eq!(journal[0].kind, "ping");
    assert_eq!(
        journal[0].dropped.as_deref(),
        Some("presence ping ignored (this BMC does not answer pings)")
    );
    assert_eq!(journal[0].replies, 0);
    server.shutdown().await;

    // The default answers it.
    let server = start("").await;
    let mut c = Client::as_user(&server, "admin", Privilege::Administrator).await;
    let now = c.now();
    let ping = c.console.ping(now);
    assert!(matches!(c.exchange(ping).await, Ok(Event::Pong(_))));
    server.shutdown().await;
}

#[tokio::test]
async fn max_read_answers_0xca_above_and_data_at_the_limit() {
    let server = start("[ipmi]\nmax_read = 16\n").await;
    let mut c = Client::admin(&server).await;
    let rsv = reserve_sdr(&mut c).await;
    assert_eq!(
        c.cc(STORAGE, 0x23, &get_sdr(rsv, 0, 0, 17)).await,
        cc::CANNOT_RETURN_BYTES
    );
    assert_eq!(
        c.cc(STORAGE, 0x23, &get_sdr(rsv, 0, 0, 0xFF)).await,
        cc::CANNOT_RETURN_BYTES,
        "a whole full-sensor record is more than 16 bytes"
    );
    let m = c.command(STORAGE, 0x23, &get_sdr(rsv, 0, 0, 16)).await;
    assert_eq!(m.completion(), Some(cc::OK));
    assert_eq!(m.response_data().len(), 2 + 16, "next record ID + 16 bytes");
    // Read FRU Data: device 0, offset 0, count.
    assert_eq!(
        c.cc(STORAGE, 0x11, &[0, 0, 0, 17]).await,
        cc::CANNOT_RETURN_BYTES
    );
    let m = c.command(STORAGE, 0x11, &[0, 0, 0, 16]).await;
    assert_eq!(m.completion(), Some(cc::OK));
    assert_eq!(m.response_data()[0], 16, "count returned");
    server.shutdown().await;
}

#[tokio::test]
async fn device_support_names_the_get_device_id_bits() {
    let server = start("[ipmi]\ndevice_support = [\"chassis\", \"sel\"]\n").await;
    let mut c = Client::admin(&server).await;
    let m = c.command(APP, 0x01, &[]).await;
    assert_eq!(m.completion(), Some(cc::OK));
    assert_eq!(m.response_data()[5], 0x80 | 0x04);
    server.shutdown().await;
    let server = start("").await;
    let mut c = Client::admin(&server).await;
    let m = c.command(APP, 0x01, &[]).await;
    assert_eq!(m.response_data()[5], machine::ipmi::DEVICE_SUPPORT);
    server.shutdown().await;
}

/// Get Channel Payload Support's first byte and the completion code of each payload
/// and SOL configuration command.
async fn sol_view(c: &mut Client) -> (u8, Vec<u8>) {
    let m = c.command(APP, 0x4E, &[0x0E]).await;
    assert_eq!(m.completion(), Some(cc::OK));
    let standard = m.response_data()[0];
    // Activate Payload (SOL); when it works, the console's banner follows the answer.
    let mut codes = vec![c.cc(APP, 0x48, &[0x01, 0x01, 0xC0, 0, 0, 0]).await];
    if codes[0] == cc::OK {
        let banner = c.recv().await;
        let now = c.now();
        let ev = c.console.receive(&banner, now, &mut c.rng).unwrap();
        assert!(matches!(ev, Event::Sol { .. }), "{ev:?}");
    }
    for (netfn, cmd, data) in [
        (APP, 0x4A, &[0x01][..]),                   // Get Payload Activation Status
        (APP, 0x4B, &[0x01, 0x01][..]),             // Get Payload Instance Info
        (APP, 0x4F, &[0x0E, 0x01][..]),             // Get Channel Payload Version (SOL)
        (APP, 0x49, &[0x01, 0x01, 0, 0, 0, 0][..]), // Deactivate Payload
        (TRANSPORT, 0x22, &[0x01, 0x01, 0, 0][..]), // Get SOL Configuration Parameters
    ] {
        codes.push(c.cc(netfn, cmd, data).await);
    }
    (standard, codes)
}

#[tokio::test]
async fn sol_off_lists_ipmi_only_and_refuses_the_payload_commands() {
    let server = start("[ipmi]\nsol = false\n").await;
    let mut c = Client::admin(&server).await;
    let (standard, codes) = sol_view(&mut c).await;
    assert_eq!(standard, 0x01, "IPMI payload only");
    assert_eq!(codes, [cc::INVALID_COMMAND; 6]);
    server.shutdown().await;

    let server = start("").await;
    let mut c = Client::admin(&server).await;
    let (standard, codes) = sol_view(&mut c).await;
    assert_eq!(standard, 0x03, "IPMI and SOL");
    assert_eq!(codes, [cc::OK; 6]);
    server.shutdown().await;
}

#[tokio::test]
async fn mc_locator_first_over_ipmi() {
    let server = start("[ipmi]\nsdr_mc_locator_first = true\n").await;
    let mut c = Client::admin(&server).await;
    let rsv = reserve_sdr(&mut c).await;
    let m = c.command(STORAGE, 0x23, &get_sdr(rsv, 0, 0, 0xFF)).await;
    assert_eq!(m.completion(), Some(cc::OK));
    let d = m.response_data();
    // next = 2; record ID 1, SDR version, record type 0x12 (MC device locator).
    assert_eq!(u16::from_le_bytes([d[0], d[1]]), 2);
    assert_eq!(u16::from_le_bytes([d[2], d[3]]), 1);
    assert_eq!(d[5], 0x12);
    server.shutdown().await;
}

#[test]
fn the_new_ipmi_knobs_are_checked_with_clear_errors() {
    let cases = [
        (
            "[ipmi]\nmax_read = 4\n",
            "max_read = 4 is out of range",
            None,
        ),
        (
            "[ipmi]\nmax_read = 300\n",
            "max_read = 300 is out of range",
            None,
        ),
        (
            "[ipmi]\ndevice_support = [\"chasis\"]\n",
            "`chasis` is not an additional device support bit",
            Some("did you mean `chassis`?"),
        ),
        (
            "[ipmi]\nunsupported = [\"get_poh_countr\"]\n",
            "`get_poh_countr` is not a NetFn or command name",
            Some("did you mean `get_poh_counter`?"),
        ),
        (
            "[ipmi]\nunsupported = [\"activate_payload\"]\n",
            "answered by the session layer",
            None,
        ),
        (
            "[ipmi]\nunsupported = [\"0x07\"]\n",
            "`0x07` is not a NetFn or command name",
            None,
        ),
        (
            "[ipmi.defects]\nignore_privilege_limit = [\"administrator\"]\n",
            "`administrator` is not an account privilege limit",
            None,
        ),
        (
            "[ipmi.defects]\nignore_reservation = true\n",
            "unknown key `ignore_reservation`",
            Some("did you mean `ignore_reservations`?"),
        ),
    ];
    for (toml, message, hint) in cases {
        let e = mock::Scenario::from_toml(toml, "t.toml").unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("t.toml:2:"), "{toml}: {text}");
        assert!(e.message.contains(message), "{toml}: {text}");
        if let Some(h) = hint {
            assert_eq!(e.hint.as_deref(), Some(h), "{toml}: {text}");
        }
    }
    // Numeric forms are accepted.
    let s = mock::Scenario::from_toml("[ipmi]\nunsupported = [\"0x30\", \"0x06:0x59\"]\n", "t")
        .unwrap();
    assert_eq!(
        s.ipmi.profile.unsupported,
        [(0x30, None), (0x06, Some(0x59))]
    );
}

// ---------------------------------------------------------------- scenarios

#[tokio::test]
async fn the_chassis_only_bmc_answers_the_mandatory_commands_only() {
    let server = start_file("ipmi-chassis-only.toml").await;
    let mut c = Client::admin(&server).await;
    // Device support: chassis only.
    let m = c.command(APP, 0x01, &[]).await;
    assert_eq!(m.completion(), Some(cc::OK));
    assert_eq!(m.response_data()[5], 0x80);
    // Mandatory commands work.
    for (netfn, cmd, data) in [
        (APP, 0x04, &[][..]),                       // Get Self Test Results
        (APP, 0x37, &[][..]),                       // Get System GUID
        (APP, 0x25, &[][..]),                       // Get Watchdog Timer (M for a BMC)
        (APP, 0x41, &[0x0E, 0x40][..]),             // Get Channel Access
        (APP, 0x42, &[0x0E][..]),                   // Get Channel Info
        (APP, 0x44, &[0x0E, 0x02][..]),             // Get User Access
        (APP, 0x46, &[0x02][..]),                   // Get User Name
        (APP, 0x3D, &[0x00][..]),                   // Get Session Info
        (APP, 0x3B, &[0x04][..]),                   // Set Session Privilege Level
        (CHASSIS, 0x00, &[][..]),                   // Get Chassis Capabilities
        (CHASSIS, 0x01, &[][..]),                   // Get Chassis Status
        (CHASSIS, 0x02, &[0x01][..]),               // Chassis Control: power up
        (TRANSPORT, 0x02, &[0x01, 0x03, 0, 0][..]), // Get LAN Configuration Parameters
    ] {
        assert_eq!(
            c.cc(netfn, cmd, data).await,
            cc::OK,
            "{netfn:02X}/{cmd:02X}"
        );
    }
    // What it does not implement answers 0xC1.
    for (netfn, cmd, data) in [
        (STORAGE, 0x20, &[][..]),                      // Get SDR Repository Info
        (STORAGE, 0x22, &[][..]),                      // Reserve SDR Repository
        (STORAGE, 0x23, &[0, 0, 0, 0, 0, 0xFF][..]),   // Get SDR
        (STORAGE, 0x40, &[][..]),                      // Get SEL Info
        (STORAGE, 0x42, &[][..]),                      // Reserve SEL
        (STORAGE, 0x10, &[0][..]),                     // Get FRU Inventory Area Info
        (STORAGE, 0x11, &[0, 0, 0, 8][..]),            // Read FRU Data
        (SENSOR, 0x2D, &[1][..]),                      // Get Sensor Reading
        (SENSOR, 0x27, &[1][..]),                      // Get Sensor Thresholds
        (APP, 0x59, &[0, 1, 0, 0][..]),                // Get System Info Parameters
        (CHASSIS, 0x0F, &[][..]),                      // Get POH Counter
        (CHASSIS, 0x04, &[][..]),                      // Chassis Identify
        (CHASSIS, 0x09, &[0x05, 0, 0][..]),            // Get System Boot Options
        (APP, 0x48, &[0x01, 0x01, 0xC0, 0, 0, 0][..]), // Activate Payload
        (TRANSPORT, 0x22, &[0x01, 0x01, 0, 0][..]),    // Get SOL Configuration Parameters
    ] {
        assert_eq!(
            c.cc(netfn, cmd, data).await,
            cc::INVALID_COMMAND,
            "{netfn:02X}/{cmd:02X}"
        );
    }
    let m = c.command(APP, 0x4E, &[0x0E]).await;
    assert_eq!(m.response_data()[0], 0x01, "no SOL payload");

    // Get Channel Authentication Capabilities in IPMI 1.5 framing: answered, no IPMI
    // 1.5 authentication type; in RMCP+ framing: IPMI 2.0 supported, 1.5 not.
    let mut s = Client::as_user(&server, "admin", Privilege::Administrator).await;
    let v15 = s.auth_caps(false).await;
    assert_eq!(v15.completion(), Some(cc::OK));
    assert_eq!(v15.response_data()[1] & 0x3F, 0, "no IPMI 1.5 auth types");
    let v20 = s.auth_caps(true).await;
    assert_eq!(
        v20.response_data()[1],
        0x80,
        "IPMI 2.0 extended capabilities"
    );
    assert_eq!(v20.response_data()[3] & 0x03, 0x02, "2.0 yes, 1.5 no");
    // No IPMI 1.5 login, refused at once.
    let now = s.now();
    let challenge = s.console.login_v15(AuthType::Md5, now);
    assert!(matches!(
        s.exchange(challenge).await,
        Err(ConsoleError::Completion {
            completion: cc::INVALID_DATA_FIELD,
            ..
        })
    ));
    // The presence ping is not answered: the next datagram is the cipher suites'.
    let now = s.now();
    let ping = s.console.ping(now);
    s.sock.send(&ping).await.unwrap();
    let now = s.now();
    let suites = s.console.cipher_suites(0, now);
    let m = response(s.exchange(suites).await.unwrap());
    assert_eq!(m.completion(), Some(cc::OK));

    // The operator and user accounts log in at their level.
    let mut o = Client::as_user(&server, "operator", Privilege::Operator).await;
    assert_eq!(logged_in(o.login().await), Privilege::Operator);
    assert_eq!(
        o.cc(CHASSIS, 0x02, &[0x01]).await,
        cc::OK,
        "operator controls power"
    );
    let mut u = Client::as_user(&server, "user", Privilege::User).await;
    assert_eq!(logged_in(u.login().await), Privilege::User);
    assert_eq!(u.cc(CHASSIS, 0x01, &[]).await, cc::OK);
    assert_eq!(
        u.cc(CHASSIS, 0x02, &[0x01]).await,
        cc::INSUFFICIENT_PRIVILEGE
    );
    // Close Session.
    assert_eq!(
        u.cc(APP, 0x3C, &u.console.session_id().to_le_bytes()).await,
        cc::OK
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_small_reads_bmc_reads_16_bytes_advertises_none_and_leads_with_the_mc() {
    let server = start_file("ipmi-small-reads.toml").await;
    let mut s = Client::as_user(&server, "admin", Privilege::Administrator).await;
    let caps = s.auth_caps(false).await;
    assert_eq!(
        caps.response_data()[1] & 0x37,
        0x01 | 0x04 | 0x10,
        "none, MD5 and straight password advertised"
    );
    let now = s.now();
    let challenge = s.console.login_v15(AuthType::None, now);
    assert!(matches!(
        s.exchange(challenge).await,
        Ok(Event::LoggedIn { suite: None, .. })
    ));
    assert_eq!(s.cc(CHASSIS, 0x01, &[]).await, cc::OK);

    let mut c = Client::admin(&server).await;
    let rsv = reserve_sdr(&mut c).await;
    assert_eq!(
        c.cc(STORAGE, 0x23, &get_sdr(rsv, 0, 0, 17)).await,
        cc::CANNOT_RETURN_BYTES
    );
    let m = c.command(STORAGE, 0x23, &get_sdr(rsv, 0, 0, 5)).await;
    assert_eq!(m.completion(), Some(cc::OK));
    assert_eq!(m.response_data()[2 + 3], 0x12, "the MC locator is record 1");
    // The MC locator (5 + 27 bytes with "BMC") read whole is more than 16 bytes.
    assert_eq!(
        c.cc(STORAGE, 0x23, &get_sdr(rsv, 0, 0, 0xFF)).await,
        cc::CANNOT_RETURN_BYTES
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------- defects

#[tokio::test]
async fn unadvertised_none_is_accepted_only_with_the_defect() {
    let server = start_file("defects/ipmi-ipmi15-none-unadvertised.toml").await;
    let mut c = Client::as_user(&server, "admin", Privilege::Administrator).await;
    let caps = c.auth_caps(false).await;
    assert_eq!(caps.response_data()[1] & 0x01, 0, "none is not advertised");
    let now = c.now();
    let challenge = c.console.login_v15(AuthType::None, now);
    assert!(matches!(
        c.exchange(challenge).await,
        Ok(Event::LoggedIn { suite: None, .. })
    ));
    assert_eq!(c.cc(APP, 0x01, &[]).await, cc::OK);
    server.shutdown().await;

    let server = start("").await;
    let mut c = Client::as_user(&server, "admin", Privilege::Administrator).await;
    let now = c.now();
    let challenge = c.console.login_v15(AuthType::None, now);
    assert!(matches!(
        c.exchange(challenge).await,
        Err(ConsoleError::Completion {
            completion: cc::INVALID_DATA_FIELD,
            ..
        })
    ));
    server.shutdown().await;
}

/// An operator asking RAKP 1 for Administrator with `role`; the login's outcome.
async fn operator_as_admin(server: &MockServer, role: u8) -> Result<Event, ConsoleError> {
    let mut c = Client::as_user(server, "operator", Privilege::Administrator).await;
    c.console.faults.rakp1_role = Some(role);
    c.login().await
}

#[tokio::test]
async fn operator_escalation_only_with_the_defect() {
    let admin = Privilege::Administrator.to_u8();
    let server = start_file("defects/ipmi-operator-escalation.toml").await;
    for role in [admin, 0x10 | admin] {
        assert_eq!(
            logged_in(operator_as_admin(&server, role).await),
            Privilege::Administrator,
            "role {role:#04x}"
        );
    }
    let mut o = Client::as_user(&server, "operator", Privilege::Operator).await;
    assert_eq!(logged_in(o.login().await), Privilege::Operator);
    let m = o.command(APP, 0x3B, &[admin]).await;
    assert_eq!(m.completion(), Some(cc::OK));
    assert_eq!(m.response_data(), [admin]);
    // Now an administrator's command runs.
    assert_eq!(
        o.cc(APP, 0x47, &[0x84, 0x01]).await,
        cc::OK,
        "Set User Password (enable)"
    );
    // A user-level account is still held to its limit.
    let mut u = Client::as_user(&server, "user", Privilege::Administrator).await;
    assert_eq!(
        u.login().await.unwrap_err(),
        ConsoleError::Refused {
            stage: "RAKP2",
            status: status::UNAUTHORIZED_ROLE
        }
    );
    let mut u = Client::as_user(&server, "user", Privilege::User).await;
    assert_eq!(logged_in(u.login().await), Privilege::User);
    assert_eq!(u.cc(APP, 0x3B, &[admin]).await, 0x81);
    server.shutdown().await;

    let server = start("").await;
    for role in [admin, 0x10 | admin] {
        assert_eq!(
            operator_as_admin(&server, role).await.unwrap_err(),
            ConsoleError::Refused {
                stage: "RAKP2",
                status: status::UNAUTHORIZED_ROLE
            },
            "role {role:#04x}"
        );
    }
    let mut o = Client::as_user(&server, "operator", Privilege::Operator).await;
    assert_eq!(logged_in(o.login().await), Privilege::Operator);
    assert_eq!(o.cc(APP, 0x3B, &[admin]).await, 0x81);
    server.shutdown().await;
}

#[tokio::test]
async fn reservations_are_ignored_only_with_the_defect() {
    let server = start_file("defects/ipmi-reservations-ignored.toml").await;
    let mut c = Client::admin(&server).await;
    let old = reserve_sdr(&mut c).await;
    let _new = reserve_sdr(&mut c).await;
    assert_eq!(c.cc(STORAGE, 0x23, &get_sdr(old, 0, 5, 4)).await, cc::OK);
    assert_eq!(c.cc(STORAGE, 0x23, &get_sdr(0, 0, 5, 4)).await, cc::OK);
    // Delete SEL Entry (first entry) and Clear SEL with reservation 0.
    assert_eq!(c.cc(STORAGE, 0x46, &[0, 0, 0, 0]).await, cc::OK);
    assert_eq!(
        c.cc(STORAGE, 0x47, &[0, 0, b'C', b'L', b'R', 0xAA]).await,
        cc::OK
    );
    server.shutdown().await;

    let server = start("").await;
    let mut c = Client::admin(&server).await;
    let old = reserve_sdr(&mut c).await;
    let _new = reserve_sdr(&mut c).await;
    assert_eq!(
        c.cc(STORAGE, 0x23, &get_sdr(old, 0, 5, 4)).await,
        cc::RESERVATION_CANCELLED
    );
    assert_eq!(
        c.cc(STORAGE, 0x46, &[0, 0, 0, 0]).await,
        cc::RESERVATION_CANCELLED
    );
    assert_eq!(
        c.cc(STORAGE, 0x47, &[0, 0, b'C', b'L', b'R', 0xAA]).await,
        cc::RESERVATION_CANCELLED
    );
    server.shutdown().await;
}

#[test]
fn the_new_defect_files_name_what_they_break() {
    for (file, breaks) in [
        (
            "defects/ipmi-reservations-ignored.toml",
            "ipmi.sdr.invalid-reservation, ipmi.sdr.reservation-cancelled, ipmi.sel.delete-needs-reservation, ipmi.sel.clear-needs-reservation, ipmi.sel.reservation-cancelled-by-add",
        ),
        (
            "defects/ipmi-operator-escalation.toml",
            "ipmi.privilege.operator-login-as-administrator, ipmi.privilege.operator-set-session-administrator, ipmi.session.rakp-privilege-lookup",
        ),
        (
            "defects/ipmi-ipmi15-none-unadvertised.toml",
            "ipmi.security.ipmi15-none-refused",
        ),
    ] {
        let text = std::fs::read_to_string(mock_file(file)).unwrap();
        for header in ["# Seeded defect:", "# Broken requirement:"] {
            assert!(text.contains(header), "{file}: {header}");
        }
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("# breaks: "))
            .unwrap_or_else(|| panic!("{file}: no breaks line"));
        assert_eq!(line, breaks, "{file}");
        let s = mock::Scenario::from_file(&mock_file(file)).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.meta.name.starts_with("defect-ipmi-"), "{file}");
    }
}

#[test]
fn the_default_scenario_spells_out_the_default_bmc() {
    let s = mock::Scenario::default_scenario();
    assert_eq!(s.ipmi.profile, machine::ipmi::IpmiProfile::default());
    assert!(s.ipmi.config.presence_ping && s.ipmi.config.sol);
    assert_eq!(s.ipmi.config.defects, ipmi::session::BmcDefects::default());
    // An empty [ipmi] table is the same BMC.
    let empty = mock::Scenario::from_toml("", "t").unwrap();
    assert_eq!(empty.ipmi, s.ipmi);
}
