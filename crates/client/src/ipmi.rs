//! IPMI over LAN: a UDP socket driving the sans-IO [`ipmi::console::Console`].
//!
//! An [`IpmiSession`] is one console on one UDP socket towards one BMC. Every exchange
//! has a deadline and a retry policy ([`Retry`]): the datagram is sent again when no
//! answer comes within `timeout`, `attempts` times in all, and then
//! [`IpmiError::Timeout`] says what went unanswered; nothing waits for ever. Answers
//! that belong to no exchange in progress (a late duplicate of an earlier answer) are
//! skipped. Negative tools send deliberately wrong datagrams ([`IpmiSession::send_raw`],
//! the console's [`Faults`]) and check for silence ([`IpmiSession::expect_silence`]).
//!
//! Every packet is kept decrypted in a serialisable [`Packet`] transcript for the
//! reports, together with raw datagrams and timeouts.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ipmi::codes::Privilege;
use ipmi::console::{Console, ConsoleConfig, ConsoleError, Direction, Event, Faults, SuiteChoice};
use ipmi::msg::Message;
use ipmi::rmcp::{AuthType, Pong};
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;

/// How long to wait for an answer and how often to send a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// How long to wait for each answer.
    pub timeout: Duration,
    /// How many times a datagram is sent in all (at least 1).
    pub attempts: u32,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            timeout: Duration::from_millis(1000),
            attempts: 2,
        }
    }
}

/// A BMC and the credentials to use with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiTarget {
    /// The BMC's UDP address (port 623 on real hardware).
    pub addr: SocketAddr,
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// The BMC key Kg, if the BMC has one.
    pub kg: Option<Vec<u8>>,
    /// Deadline and retries of each exchange.
    pub retry: Retry,
}

impl IpmiTarget {
    /// A target at `addr` with `user`/`password` and the default retry policy.
    pub fn new(addr: SocketAddr, user: &str, password: &str) -> IpmiTarget {
        IpmiTarget {
            addr,
            user: user.to_owned(),
            password: password.to_owned(),
            kg: None,
            retry: Retry::default(),
        }
    }

    /// The same BMC with other credentials.
    pub fn with_credentials(&self, user: &str, password: &str) -> IpmiTarget {
        IpmiTarget {
            user: user.to_owned(),
            password: password.to_owned(),
            ..self.clone()
        }
    }
}

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpmiError {
    /// No answer came in time (after every attempt).
    #[error("no answer to {what} within {} ({}){}", millis(*after), plural(*attempts, "attempt"), junk_note(*junk, first_junk))]
    Timeout {
        /// What was sent.
        what: String,
        /// Time waited in all.
        after: Duration,
        /// Datagrams sent.
        attempts: u32,
        /// Datagrams that came but were not IPMI/RMCP at all (a target answering junk).
        junk: u32,
        /// The first of them, in hex (at most 32 bytes).
        first_junk: String,
    },
    /// The target's host says nothing listens on the port (ICMP port unreachable).
    #[error("{0}: port unreachable (ICMP): nothing listens there")]
    Unreachable(String),
    /// The socket failed.
    #[error("UDP: {0}")]
    Io(String),
    /// The console refused an answer, or the BMC refused the exchange.
    #[error(transparent)]
    Console(#[from] ConsoleError),
    /// A login ended in another way than expected.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

impl IpmiError {
    /// True when the target stayed silent.
    pub fn is_timeout(&self) -> bool {
        matches!(self, IpmiError::Timeout { .. })
    }
}

/// A duration as people write it: `500 ms`, `2 ms`, `1.5 s`.
pub fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        format!("{} ms", ms.ceil() as u64)
    } else {
        let s = format!("{:.1}", ms / 1000.0);
        format!("{} s", s.trim_end_matches(".0"))
    }
}

fn plural(n: u32, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn junk_note(n: u32, first: &str) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(
            "; {} came that {} not RMCP (first: {first})",
            plural(n, "datagram"),
            if n == 1 { "was" } else { "were" }
        )
    }
}

impl From<std::io::Error> for IpmiError {
    fn from(e: std::io::Error) -> IpmiError {
        IpmiError::Io(e.to_string())
    }
}

/// One entry of a transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packet {
    /// `sent`, `received` or `note` (a timeout, a raw datagram's comment).
    pub direction: String,
    /// Milliseconds since the session's socket was opened.
    pub at_ms: u64,
    /// The session header in one line (or the note).
    pub header: String,
    /// The decoded (decrypted) payload in one line.
    pub message: String,
}

/// How a login went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginInfo {
    /// The BMC's session ID.
    pub session_id: u32,
    /// The session's privilege after login.
    pub privilege: Privilege,
    /// The maximum privilege the BMC reported.
    pub max_privilege: Option<Privilege>,
    /// The RMCP+ cipher suite (None for IPMI 1.5).
    pub suite: Option<u8>,
}

/// A command's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The completion code.
    pub completion: u8,
    /// The data after the completion code.
    pub data: Vec<u8>,
    /// How long the answer took.
    pub elapsed: Duration,
}

/// One console on one UDP socket.
pub struct IpmiSession {
    target: IpmiTarget,
    socket: UdpSocket,
    console: Console,
    rng: StdRng,
    start: Instant,
    seen: usize,
    transcript: Vec<Packet>,
}

impl std::fmt::Debug for IpmiSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpmiSession")
            .field("target", &self.target.addr)
            .field("logged_in", &self.console.logged_in())
            .finish()
    }
}

impl IpmiSession {
    /// Opens a socket towards `target` (nothing is sent yet). `seed` seeds the console
    /// randoms (session IDs, Rm, IVs), so a run can be repeated.
    pub async fn open(target: &IpmiTarget, seed: u64) -> Result<IpmiSession, IpmiError> {
        let local: SocketAddr = if target.addr.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal address")
        } else {
            "[::]:0".parse().expect("literal address")
        };
        let socket = UdpSocket::bind(local).await?;
        socket.connect(target.addr).await?;
        let mut config = ConsoleConfig::new(&target.user, &target.password);
        config.kg = target.kg.clone();
        Ok(IpmiSession {
            target: target.clone(),
            socket,
            console: Console::new(config),
            rng: StdRng::seed_from_u64(seed),
            start: Instant::now(),
            seen: 0,
            transcript: Vec::new(),
        })
    }

    /// The target.
    pub fn target(&self) -> &IpmiTarget {
        &self.target
    }

    /// The console (state, session ID, sequence numbers).
    pub fn console(&self) -> &Console {
        &self.console
    }

    /// The console's deliberate faults for the next packets.
    pub fn faults(&mut self) -> &mut Faults {
        &mut self.console.faults
    }

    /// Every packet so far, decrypted.
    pub fn transcript(&mut self) -> &[Packet] {
        self.sync();
        &self.transcript
    }

    /// Takes the transcript so far (later packets start a new one).
    pub fn take_transcript(&mut self) -> Vec<Packet> {
        self.sync();
        std::mem::take(&mut self.transcript)
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn sync(&mut self) {
        let entries = self.console.transcript();
        for e in &entries[self.seen.min(entries.len())..] {
            self.transcript.push(Packet {
                direction: match e.direction {
                    Direction::Sent => "sent",
                    Direction::Received => "received",
                }
                .into(),
                at_ms: e.at_ms,
                header: e.header.clone(),
                message: e.message.clone(),
            });
        }
        self.seen = entries.len();
    }

    /// Adds a note to the transcript.
    pub fn note(&mut self, text: impl Into<String>) {
        self.sync();
        let at_ms = self.now_ms();
        self.transcript.push(Packet {
            direction: "note".into(),
            at_ms,
            header: text.into(),
            message: String::new(),
        });
    }

    async fn recv_within(&mut self, wait: Duration) -> Result<Option<Vec<u8>>, IpmiError> {
        let mut buf = vec![0u8; 2048];
        match tokio::time::timeout(wait, self.socket.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                buf.truncate(n);
                Ok(Some(buf))
            }
            // A port unreachable from an earlier datagram surfaces here on Linux.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                Err(IpmiError::Unreachable(self.target.addr.to_string()))
            }
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Ok(None),
        }
    }

    /// Sends `first` and feeds answers to the console until `done` accepts an event;
    /// resends the last datagram when no answer comes in time.
    async fn exchange<T>(
        &mut self,
        what: &str,
        first: Vec<u8>,
        mut done: impl FnMut(&Event) -> Option<T>,
    ) -> Result<T, IpmiError> {
        let retry = self.target.retry;
        let attempts = retry.attempts.max(1);
        let started = Instant::now();
        let mut datagram = first;
        let mut sent = 0;
        let (mut junk, mut first_junk) = (0u32, String::new());
        'send: loop {
            let r = self.socket.send(&datagram).await;
            if let Err(e) = r {
                self.sync();
                return Err(e.into());
            }
            sent += 1;
            let deadline = Instant::now() + retry.timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let Some(answer) = self.recv_within(left).await? else {
                    if sent < attempts {
                        self.note(format!(
                            "no answer within {}: sending again",
                            millis(retry.timeout)
                        ));
                        continue 'send;
                    }
                    let e = IpmiError::Timeout {
                        what: what.to_owned(),
                        after: started.elapsed(),
                        attempts: sent,
                        junk,
                        first_junk: first_junk.clone(),
                    };
                    self.note(e.to_string());
                    return Err(e);
                };
                if ipmi::rmcp::decode(&answer).is_err() {
                    // Not RMCP at all: a real client ignores it and keeps waiting.
                    let shown = hex(&answer[..answer.len().min(32)]);
                    self.note(format!(
                        "a datagram that is not RMCP ({} bytes: {shown}): ignored",
                        answer.len()
                    ));
                    if junk == 0 {
                        first_junk = shown;
                    }
                    junk += 1;
                    continue;
                }
                let now = self.now_ms();
                let ev = self.console.receive(&answer, now, &mut self.rng);
                self.sync();
                match ev {
                    Ok(Event::Send(next)) => {
                        datagram = next;
                        sent = 0;
                        continue 'send;
                    }
                    Ok(ev) => {
                        if let Some(t) = done(&ev) {
                            return Ok(t);
                        }
                        self.note("an answer that belongs to no exchange in progress: skipped");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }

    /// An ASF presence ping; the pong.
    pub async fn ping(&mut self) -> Result<Pong, IpmiError> {
        let now = self.now_ms();
        let b = self.console.ping(now);
        self.exchange("presence ping", b, |e| match e {
            Event::Pong(p) => Some(*p),
            _ => None,
        })
        .await
    }

    fn response_matcher(
        &self,
        netfn: u8,
        cmd: u8,
    ) -> impl FnMut(&Event) -> Option<Message> + use<> {
        let seq = self.console.rq_seq();
        move |e| match e {
            Event::Response(m) if m.netfn == netfn | 1 && m.cmd == cmd && m.seq == seq => {
                Some(m.clone())
            }
            _ => None,
        }
    }

    /// Builds a request with the console (given the time and the random source), sends
    /// it, and waits for the answer to `netfn`/`cmd`.
    async fn ask(
        &mut self,
        what: &str,
        (netfn, cmd): (u8, u8),
        build: impl FnOnce(&mut Console, u64, &mut StdRng) -> Result<Vec<u8>, ConsoleError>,
    ) -> Result<Reply, IpmiError> {
        let started = Instant::now();
        let now = self.now_ms();
        let b = build(&mut self.console, now, &mut self.rng)?;
        let m = self.response_matcher(netfn, cmd);
        let r = self.exchange(what, b, m).await?;
        Ok(Self::reply(r, started))
    }

    fn reply(m: Message, started: Instant) -> Reply {
        Reply {
            completion: m.completion().unwrap_or(0xFF),
            data: m.response_data().to_vec(),
            elapsed: started.elapsed(),
        }
    }

    /// A sessionless command in RMCP+ framing (`v20`) or IPMI 1.5 framing.
    pub async fn sessionless(
        &mut self,
        netfn: u8,
        cmd: u8,
        data: &[u8],
        v20: bool,
    ) -> Result<Reply, IpmiError> {
        let what = format!("sessionless NetFn {netfn:#04x} cmd {cmd:#04x}");
        self.ask(&what, (netfn, cmd), |c, now, _| {
            Ok(c.sessionless(netfn, cmd, data, v20, now))
        })
        .await
    }

    /// Get Channel Authentication Capabilities (`v20`: RMCP+ framing, extended data).
    pub async fn auth_caps(&mut self, v20: bool) -> Result<Reply, IpmiError> {
        self.ask(
            "Get Channel Authentication Capabilities",
            (ipmi::codes::netfn::APP, 0x38),
            |c, now, _| Ok(c.auth_caps(v20, now)),
        )
        .await
    }

    /// Get Channel Cipher Suites, page `index` of the list by suite.
    pub async fn cipher_suites(&mut self, index: u8) -> Result<Reply, IpmiError> {
        self.ask(
            "Get Channel Cipher Suites",
            (ipmi::codes::netfn::APP, 0x54),
            |c, now, _| Ok(c.cipher_suites(index, now)),
        )
        .await
    }

    /// Every cipher suite record the BMC lists (pages until a short one).
    pub async fn cipher_suite_records(&mut self) -> Result<Vec<u8>, IpmiError> {
        let mut all = Vec::new();
        for index in 0..64u8 {
            let r = self.cipher_suites(index).await?;
            if r.completion != 0 {
                return Err(IpmiError::Unexpected(format!(
                    "Get Channel Cipher Suites completion {:#04x}",
                    r.completion
                )));
            }
            let page = r.data.get(1..).unwrap_or_default();
            all.extend_from_slice(page);
            if page.len() < 16 {
                break;
            }
        }
        Ok(all)
    }

    fn set_login(&mut self, privilege: Privilege, suite: SuiteChoice) {
        let mut c = ConsoleConfig::new(&self.target.user, &self.target.password);
        c.kg = self.target.kg.clone();
        c.privilege = privilege;
        c.suite = suite;
        // Keep the transcript of the earlier console.
        self.sync();
        let faults = std::mem::take(&mut self.console.faults);
        self.console = Console::new(c);
        self.seen = 0;
        self.console.faults = faults;
    }

    fn logged(e: &Event) -> Option<LoginInfo> {
        match e {
            Event::LoggedIn {
                session_id,
                privilege,
                max_privilege,
                suite,
            } => Some(LoginInfo {
                session_id: *session_id,
                privilege: *privilege,
                max_privilege: *max_privilege,
                suite: *suite,
            }),
            _ => None,
        }
    }

    /// An RMCP+ login at `privilege` with `suite` (a fresh console; faults set before
    /// are kept for the login).
    pub async fn login_v20(
        &mut self,
        privilege: Privilege,
        suite: SuiteChoice,
    ) -> Result<LoginInfo, IpmiError> {
        self.set_login(privilege, suite);
        let now = self.now_ms();
        let b = self.console.login_v20(now, &mut self.rng);
        self.exchange("RMCP+ login", b, Self::logged).await
    }

    /// An IPMI 1.5 login with `auth` at `privilege`.
    pub async fn login_v15(
        &mut self,
        privilege: Privilege,
        auth: AuthType,
    ) -> Result<LoginInfo, IpmiError> {
        self.set_login(privilege, SuiteChoice::Auto);
        let now = self.now_ms();
        let b = self.console.login_v15(auth, now);
        self.exchange("IPMI 1.5 login", b, Self::logged).await
    }

    /// A command in the session.
    pub async fn command(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Reply, IpmiError> {
        let what = format!("NetFn {netfn:#04x} cmd {cmd:#04x}");
        self.ask(&what, (netfn, cmd), |c, now, rng| {
            c.command(netfn, cmd, data, now, rng)
        })
        .await
    }

    /// Sends a command once and expects no answer within `wait` (a packet the BMC must
    /// drop); true when silence held. The answer, if one came, is in the transcript.
    pub async fn command_expect_silence(
        &mut self,
        netfn: u8,
        cmd: u8,
        data: &[u8],
        wait: Duration,
    ) -> Result<bool, IpmiError> {
        let now = self.now_ms();
        let b = self.console.command(netfn, cmd, data, now, &mut self.rng)?;
        self.socket.send(&b).await?;
        self.sync();
        self.expect_silence(wait).await
    }

    /// Sends `datagram` as it is (a malformed or replayed packet), noting `what`.
    pub async fn send_raw(&mut self, datagram: &[u8], what: &str) -> Result<(), IpmiError> {
        self.sync();
        let at_ms = self.now_ms();
        self.transcript.push(Packet {
            direction: "sent".into(),
            at_ms,
            header: format!("raw datagram: {what}"),
            message: hex(datagram),
        });
        self.socket.send(datagram).await?;
        Ok(())
    }

    /// Waits `wait` for any datagram; true when none came (what came is noted).
    pub async fn expect_silence(&mut self, wait: Duration) -> Result<bool, IpmiError> {
        match self.recv_within(wait).await? {
            None => {
                self.note(format!("no answer within {}, as expected", millis(wait)));
                Ok(true)
            }
            Some(d) => {
                let now = self.now_ms();
                match self.console.receive(&d, now, &mut self.rng) {
                    Ok(_) => self.sync(),
                    Err(e) => {
                        self.sync();
                        let at_ms = self.now_ms();
                        self.transcript.push(Packet {
                            direction: "received".into(),
                            at_ms,
                            header: format!("undecodable answer: {e}"),
                            message: hex(&d),
                        });
                    }
                }
                Ok(false)
            }
        }
    }

    /// Waits up to `wait` for one datagram and returns it raw.
    pub async fn recv_raw(&mut self, wait: Duration) -> Result<Option<Vec<u8>>, IpmiError> {
        let d = self.recv_within(wait).await?;
        if let Some(d) = &d {
            let at_ms = self.now_ms();
            self.transcript.push(Packet {
                direction: "received".into(),
                at_ms,
                header: "raw datagram".into(),
                message: hex(d),
            });
        }
        Ok(d)
    }

    /// The last datagram the console produced (to replay it).
    pub fn last_sent(&self) -> Vec<u8> {
        self.console.last_sent().to_vec()
    }

    /// Close Session; Ok(completion code).
    pub async fn close(&mut self) -> Result<u8, IpmiError> {
        let now = self.now_ms();
        let b = self.console.close(now, &mut self.rng)?;
        let m = self.response_matcher(ipmi::codes::netfn::APP, 0x3C);
        let r = self.exchange("Close Session", b, m).await?;
        Ok(r.completion().unwrap_or(0xFF))
    }
}

/// Bytes as spaced hex.
pub fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod message_tests {
    use super::*;

    #[test]
    fn durations_and_timeouts_read_as_people_write_them() {
        assert_eq!(millis(Duration::from_micros(2688)), "3 ms");
        assert_eq!(millis(Duration::from_millis(500)), "500 ms");
        assert_eq!(millis(Duration::from_millis(2000)), "2 s");
        assert_eq!(millis(Duration::from_millis(1500)), "1.5 s");
        let e = IpmiError::Timeout {
            what: "presence ping".into(),
            after: Duration::from_millis(2003),
            attempts: 2,
            junk: 0,
            first_junk: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "no answer to presence ping within 2 s (2 attempts)"
        );
        let e = IpmiError::Timeout {
            what: "presence ping".into(),
            after: Duration::from_millis(900),
            attempts: 1,
            junk: 3,
            first_junk: "68 65".into(),
        };
        assert_eq!(
            e.to_string(),
            "no answer to presence ping within 900 ms (1 attempt); 3 datagrams came that \
             were not RMCP (first: 68 65)"
        );
    }
}
