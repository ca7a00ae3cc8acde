//! The Serial over LAN console logs in like a serial getty (issue #14 item 7): `login:`,
//! the user name, `Password:` (not echoed), then the prompt; wrong credentials get
//! `Login incorrect` and `login:` again. Driven over a real RMCP+ session (cipher suite
//! 17, SOL payload encrypted) on loopback UDP against the mock's IPMI listener.

use std::time::{Duration, Instant};

use ipmi::codes::Privilege;
use ipmi::console::{Console, ConsoleConfig, Event, SuiteChoice};
use mock::MockServer;
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use tokio::net::UdpSocket;

/// How long any one wait may take.
const PATIENCE: Duration = Duration::from_secs(5);

struct Sol {
    sock: UdpSocket,
    console: Console,
    rng: StdRng,
    started: Instant,
    /// Everything the console has printed so far.
    screen: String,
}

impl Sol {
    /// Logs in as admin (suite 17) and activates SOL, encrypted.
    async fn open(server: &MockServer) -> Sol {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sock.connect(server.ipmi_addr().expect("ipmi listens"))
            .await
            .unwrap();
        let config = ConsoleConfig {
            suite: SuiteChoice::Id(17),
            privilege: Privilege::Administrator,
            ..ConsoleConfig::new("admin", "admin")
        };
        let mut s = Sol {
            sock,
            console: Console::new(config),
            rng: StdRng::seed_from_u64(3),
            started: Instant::now(),
            screen: String::new(),
        };
        let now = s.now();
        let open = s.console.login_v20(now, &mut s.rng);
        match s.exchange(open).await {
            Event::LoggedIn { .. } => {}
            other => panic!("expected a login, got {other:?}"),
        }
        let now = s.now();
        let activate = s.console.activate_sol(true, now, &mut s.rng).unwrap();
        match s.exchange(activate).await {
            Event::Response(m) => assert_eq!(m.completion(), Some(0), "{m:?}"),
            other => panic!("expected Activate Payload's answer, got {other:?}"),
        }
        s
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn recv(&mut self, wait: Duration) -> Option<Event> {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(wait, self.sock.recv(&mut buf))
            .await
            .ok()?
            .unwrap();
        let now = self.now();
        Some(
            self.console
                .receive(&buf[..n], now, &mut self.rng)
                .expect("a datagram the console accepts"),
        )
    }

    /// Sends `datagram` and feeds answers until something other than a follow-up comes;
    /// SOL output arriving meanwhile is taken in.
    async fn exchange(&mut self, mut datagram: Vec<u8>) -> Event {
        loop {
            self.sock.send(&datagram).await.unwrap();
            loop {
                match self
                    .recv(PATIENCE)
                    .await
                    .expect("an answer within the patience")
                {
                    Event::Send(next) => {
                        datagram = next;
                        break;
                    }
                    Event::Sol { packet, ack } => self.take(packet.data, ack).await,
                    other => return other,
                }
            }
        }
    }

    async fn take(&mut self, data: Vec<u8>, ack: Option<Vec<u8>>) {
        self.screen.push_str(&String::from_utf8_lossy(&data));
        if let Some(ack) = ack {
            self.sock.send(&ack).await.unwrap();
        }
    }

    /// Types `text`, then reads the console until it shows `needle` after what it
    /// showed before; returns the new output.
    async fn type_until(&mut self, text: &str, needle: &str) -> String {
        let mark = self.screen.len();
        if !text.is_empty() {
            let now = self.now();
            let d = self
                .console
                .sol_send(text.as_bytes(), now, &mut self.rng)
                .unwrap();
            self.sock.send(&d).await.unwrap();
        }
        let deadline = Instant::now() + PATIENCE;
        while !self.screen[mark..].contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left).await {
                Some(Event::Sol { packet, ack }) => self.take(packet.data, ack).await,
                Some(_) => {}
                None => panic!(
                    "{needle:?} not shown within {PATIENCE:?}; after typing {text:?} the \
                     console showed {:?}",
                    &self.screen[mark..]
                ),
            }
        }
        self.screen[mark..].to_owned()
    }
}

#[tokio::test]
async fn the_sol_console_logs_in_with_a_scenario_user() {
    let server = MockServer::builder()
        .ipmi(true)
        .start()
        .await
        .expect("mock starts");
    let mut sol = Sol::open(&server).await;
    let hello = sol.type_until("", "login: ").await;
    assert!(hello.contains("Touchstone Simulated Server"), "{hello:?}");

    // A wrong password: not echoed, refused, and the console asks for the name again.
    let out = sol.type_until("admin\r", "Password: ").await;
    assert!(!out.contains("not recognized"), "{out:?}");
    let out = sol.type_until("secret\r", "login: ").await;
    assert!(out.contains("Login incorrect"), "{out:?}");
    assert!(
        !out.contains("secret"),
        "the password is not echoed: {out:?}"
    );

    // The right one: the prompt, and commands run as that user.
    sol.type_until("operator\r", "Password: ").await;
    let out = sol
        .type_until("operator\r", "operator@touchstone-sim:~$ ")
        .await;
    assert!(
        !out.contains("operator\r\n"),
        "the password is not echoed: {out:?}"
    );
    let out = sol.type_until("hostname\r", "$ ").await;
    assert!(out.contains("touchstone-sim"), "{out:?}");
    server.shutdown().await;
}
