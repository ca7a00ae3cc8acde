//! A console and a BMC driven against each other in memory: a fake application with
//! two users, a virtual clock and a seeded RNG.
#![allow(dead_code)]

use ipmi::app::{Application, Request, Response, UserRecord};
use ipmi::codes::{Privilege, cc};
use ipmi::console::{Console, ConsoleConfig, ConsoleError, Event};
use ipmi::session::{Bmc, BmcConfig, Handled, Record};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Two users (admin/admin ADMINISTRATOR, user/user USER) and the null user (empty name,
/// password `null`, USER); Get Device ID answered,
/// everything else 0xC1; SOL echoes in upper case.
#[derive(Default)]
pub struct FakeApp {
    pub handled: Vec<(u8, u8, Vec<u8>, Privilege)>,
    pub sol_in: Vec<u8>,
}

impl Application for FakeApp {
    fn user_by_name(&self, name: &[u8]) -> Option<UserRecord> {
        match name {
            b"admin" => Some(UserRecord {
                id: 2,
                name: b"admin".to_vec(),
                password: b"admin".to_vec(),
                max_privilege: Privilege::Administrator,
                enabled: true,
            }),
            b"user" => Some(UserRecord {
                id: 3,
                name: b"user".to_vec(),
                password: b"user".to_vec(),
                max_privilege: Privilege::User,
                enabled: true,
            }),
            // The null user (user 1, empty name): only for a channel that allows
            // anonymous logins.
            b"" => Some(UserRecord {
                id: 1,
                name: Vec::new(),
                password: b"null".to_vec(),
                max_privilege: Privilege::User,
                enabled: true,
            }),
            _ => None,
        }
    }

    fn user_by_id(&self, id: u8) -> Option<UserRecord> {
        match id {
            1 => self.user_by_name(b""),
            2 => self.user_by_name(b"admin"),
            3 => self.user_by_name(b"user"),
            _ => None,
        }
    }

    fn guid(&self) -> [u8; 16] {
        *b"0123456789abcdef"
    }

    fn handle(&mut self, req: &Request<'_>, _now_ms: u64) -> Response {
        let p = req.session.map_or(Privilege::Callback, |s| s.privilege);
        self.handled
            .push((req.netfn, req.cmd, req.data.to_vec(), p));
        match (req.netfn, req.cmd) {
            (0x06, 0x01) => Response::ok(vec![0x20, 0x01, 0x02, 0x03, 0x02]),
            (0x00, 0x02) if p < Privilege::Operator => Response::cc(cc::INSUFFICIENT_PRIVILEGE),
            (0x00, 0x02) => Response::ok(vec![]),
            _ => Response::cc(cc::INVALID_COMMAND),
        }
    }

    fn sol_input(&mut self, _session: u32, data: &[u8], _now_ms: u64) -> Vec<u8> {
        self.sol_in.extend_from_slice(data);
        data.to_ascii_uppercase()
    }

    fn sol_activated(&mut self, _session: u32, _now_ms: u64) -> Vec<u8> {
        b"login: ".to_vec()
    }
}

/// The two peers, the clock and the RNG.
pub struct Pair {
    pub bmc: Bmc,
    pub app: FakeApp,
    pub console: Console,
    pub now: u64,
    pub rng: StdRng,
    /// Every BMC record, in order.
    pub records: Vec<Record>,
}

impl Pair {
    pub fn new(bmc: BmcConfig, console: ConsoleConfig) -> Pair {
        Pair {
            bmc: Bmc::new(bmc),
            app: FakeApp::default(),
            console: Console::new(console),
            now: 1_000,
            rng: StdRng::seed_from_u64(42),
            records: Vec::new(),
        }
    }

    /// Deliver one datagram to the BMC.
    pub fn deliver(&mut self, d: &[u8]) -> Handled {
        let h = self.bmc.handle(&mut self.app, d, self.now, &mut self.rng);
        self.records.push(h.record.clone());
        h
    }

    /// Send a datagram and feed the BMC's replies back to the console until the
    /// exchange ends (an event that is not `Send`). `Ok(None)`: the BMC did not answer.
    pub fn drive(&mut self, first: Vec<u8>) -> Result<Option<Event>, ConsoleError> {
        let mut out = first;
        for _ in 0..16 {
            self.now += 1;
            let h = self.deliver(&out);
            let mut next = None;
            let mut last = None;
            for r in h.replies {
                match self.console.receive(&r, self.now, &mut self.rng)? {
                    Event::Send(b) => next = Some(b),
                    e => last = Some(e),
                }
            }
            match (next, last) {
                (Some(b), _) => out = b,
                (None, e) => return Ok(e),
            }
        }
        panic!("exchange did not end")
    }

    /// Run an RMCP+ login.
    pub fn login_v20(&mut self) -> Result<Option<Event>, ConsoleError> {
        let first = self.console.login_v20(self.now, &mut self.rng);
        self.drive(first)
    }

    /// Run an in-session command and return the response event.
    pub fn command(
        &mut self,
        netfn: u8,
        cmd: u8,
        data: &[u8],
    ) -> Result<Option<Event>, ConsoleError> {
        let b = self
            .console
            .command(netfn, cmd, data, self.now, &mut self.rng)?;
        self.drive(b)
    }

    pub fn last_record(&self) -> &Record {
        self.records.last().expect("a record")
    }
}

pub fn response(e: Option<Event>) -> ipmi::msg::Message {
    match e {
        Some(Event::Response(m)) => m,
        other => panic!("expected a response, got {other:?}"),
    }
}

/// A BMC with one live RMCP+ session (suite 17, SOL active) and one IPMI 1.5 session,
/// and the datagrams of that real exchange: login, a command, SOL, sessionless
/// commands, a ping and an IPMI 1.5 login (mutated, they reach the session code paths).
pub fn live_pair() -> (Pair, Vec<Vec<u8>>) {
    let mut p = Pair::new(
        BmcConfig {
            cipher_suites: vec![17, 3, 2, 1, 0],
            ipmi15_auth: vec![
                ipmi::rmcp::AuthType::None,
                ipmi::rmcp::AuthType::Md5,
                ipmi::rmcp::AuthType::Password,
            ],
            ..BmcConfig::default()
        },
        ConsoleConfig {
            suite: ipmi::console::SuiteChoice::Id(17),
            ..ConsoleConfig::new("admin", "admin")
        },
    );
    let mut seeds = Vec::new();
    let first = p.console.login_v20(p.now, &mut p.rng);
    seeds.push(first.clone());
    assert!(matches!(p.drive(first), Ok(Some(Event::LoggedIn { .. }))));
    let cmd = p
        .console
        .command(0x06, 0x01, &[], p.now, &mut p.rng)
        .unwrap();
    seeds.push(cmd.clone());
    let _ = p.drive(cmd);
    let sol = p.console.activate_sol(true, p.now, &mut p.rng).unwrap();
    seeds.push(sol.clone());
    let _ = p.deliver(&sol);
    seeds.push(p.console.sol_send(b"x", p.now, &mut p.rng).unwrap());
    seeds.push(p.console.auth_caps(false, p.now));
    seeds.push(p.console.cipher_suites(0, p.now));
    seeds.push(p.console.ping(p.now));
    seeds.push(p.console.login_v15(ipmi::rmcp::AuthType::Md5, p.now));
    (p, seeds)
}
