//! IPMI over LAN: a UDP listener in front of the sans-IO BMC session layer
//! ([`ipmi::session::Bmc`]) and the same simulated machine WS-Man serves.
//!
//! One datagram in, zero or more datagrams out: the listener hands each datagram to
//! [`crate::Mock::ipmi_datagram`], which runs the session layer and the machine under the
//! mock's one lock (so a power change over IPMI is what WS-Man shows next), lets the
//! scenario's `[[ipmi.rules]]` act, and returns what to send and when. The listener then
//! sends (a delayed reply from its own task, so the socket keeps serving), journals the
//! datagram, wakes at the session layer's next timeout ([`Bmc::next_timeout`]: idle
//! sessions, half-open handshakes) to close what expired, and stops on the same kind of
//! signal as the HTTP listeners.

pub mod rules;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ipmi::app::{Application, Response};
use ipmi::peek::{Datagram, Handshake, Wrapper};
use ipmi::session::{Bmc, Event, Record, RecordKind};
use machine::Machine;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::journal::{Detail, Entry, IpmiRecord};
use crate::service::Mock;
use rules::{IpmiAction, IpmiRule, IpmiSettings, IpmiView, Payload};

/// The IPMI side of a mock: the session layer and the rules' counters.
#[derive(Debug)]
pub struct State {
    /// The BMC session layer.
    pub bmc: Bmc,
    hits: Vec<u32>,
}

impl State {
    /// A fresh session layer for `settings`, telling the machine which suites are on.
    /// `port` is the listener's port (reported by Activate Payload).
    pub fn new(settings: &IpmiSettings, machine: &mut Machine, port: u16) -> State {
        let mut config = settings.config.clone();
        config.port = port;
        machine.set_ipmi_cipher_suites(&config.cipher_suites);
        machine.set_ipmi_profile(settings.profile.clone());
        State {
            bmc: Bmc::new(config),
            hits: Vec::new(),
        }
    }

    /// How often each `[[ipmi.rules]]` rule (by position) has matched (`skip`ped
    /// matches included); rules never matched yet may be missing from the end.
    pub fn rule_hits(&self) -> &[u32] {
        &self.hits
    }

    /// Forgets the counters of the rules from position `n` on (they were removed).
    pub(crate) fn truncate_hits(&mut self, n: usize) {
        self.hits.truncate(n);
    }
}

/// What to do with one datagram.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Datagrams to send back, in order.
    pub replies: Vec<Vec<u8>>,
    /// Wait this long before sending.
    pub delay: Duration,
    /// The journal's account of it.
    pub record: IpmiRecord,
    /// When the session layer next has something to time out (the mock's clock, ms).
    pub next_timeout_ms: Option<u64>,
}

/// What the rules can see of a datagram before the session layer runs, for the kinds
/// the machine never answers (ping, sessionless commands, the RMCP+ handshake, SOL):
/// NetFn/command of an (always clear) sessionless message, the user a RAKP 1 names or
/// the session a RAKP 3 or SOL packet belongs to.
struct Peeked {
    netfn: Option<u8>,
    cmd: Option<u8>,
    user: Option<String>,
    /// A sessionless request, to answer a chosen completion code to.
    sessionless: Option<(bool, ipmi::msg::Message)>,
}

fn peek(bmc: &Bmc, d: &Datagram) -> Peeked {
    let session_user = |id: u32| {
        bmc.sessions()
            .find(|s| s.id == id)
            .map(|s| s.user)
            .filter(|u| !u.is_empty())
    };
    let sessionless = d
        .sessionless_request()
        .map(|m| (d.kind == Payload::SessionlessRmcpp, m.clone()));
    let user = match (&d.handshake, &d.frame) {
        (Some(Handshake::Rakp1 { user, .. }), _) => user
            .as_deref()
            .map(|n| String::from_utf8_lossy(n).into_owned()),
        (Some(Handshake::Rakp3 { bmc_session_id }), _) => session_user(*bmc_session_id),
        (_, Ok(Wrapper::Rmcpp { session_id, .. })) if d.kind == Payload::Sol => {
            session_user(*session_id)
        }
        _ => None,
    };
    Peeked {
        netfn: sessionless.as_ref().map(|(_, m)| m.netfn),
        cmd: sessionless.as_ref().map(|(_, m)| m.cmd),
        user,
        sessionless,
    }
}

/// Carries out the parts of a rule's action that change the channel (from this
/// datagram on).
fn reconfigure(state: &mut State, machine: &mut Machine, a: &IpmiAction) {
    if let Some(suite) = a.disable_cipher_suite {
        let cfg = state.bmc.config_mut();
        cfg.cipher_suites.retain(|s| *s != suite);
        let suites = cfg.cipher_suites.clone();
        machine.set_ipmi_cipher_suites(&suites);
    }
    if let Some(n) = a.session_limit {
        state.bmc.config_mut().session_limit = n;
    }
}

/// Runs one datagram through the rules, the session layer and the machine.
///
/// The datagram is classified once ([`ipmi::peek::classify`]). Kinds outside a session
/// are matched before the session layer runs: a drop never reaches it, a completion
/// code answers a sessionless command at once, and a channel change (suites, session
/// limit) already applies to the datagram that triggered it. A command inside a
/// session is matched once the session layer has verified (and decrypted) it and
/// handed it out ([`ipmi::session::Event`]), before anything about it is committed: a
/// drop is [`Bmc::drop`] (no state to undo), a completion code is the answer instead of
/// the machine's, and a channel change applies from the next datagram.
pub(crate) fn handle(
    state: &mut State,
    machine: &mut Machine,
    settings: &IpmiSettings,
    datagram: &[u8],
    peer: SocketAddr,
    now_ms: u64,
) -> Outcome {
    let classified = ipmi::peek::classify(datagram);
    let payload = classified.kind;
    let mut rng = rand::rng();
    let in_session = payload.in_session();
    let mut pre: Option<&IpmiRule> = None;
    if !in_session && !settings.rules.is_empty() {
        let p = peek(&state.bmc, &classified);
        let view = IpmiView {
            payload,
            netfn: p.netfn,
            cmd: p.cmd,
            user: p.user.as_deref(),
        };
        pre = rules::decide(&settings.rules, &view, &mut state.hits);
        if let Some(rule) = pre {
            reconfigure(state, machine, &rule.action);
            let answer = rule.action.completion_code.zip(p.sessionless);
            if rule.action.drop || answer.is_some() {
                let mut record = IpmiRecord::empty(payload.name());
                record.netfn = p.netfn;
                record.netfn_name = p.netfn.map(rules::netfn_name);
                record.cmd = p.cmd;
                record.command = p.netfn.zip(p.cmd).map(|(n, c)| rules::command_name(n, c));
                record.user = p.user;
                record.rule = Some(rule.name.clone());
                record.action = Some(rule.action.describe());
                let mut replies = Vec::new();
                if let Some((cc, (v20, m))) = answer {
                    record.request_hex = hex(&m.data);
                    record.completion_code = Some(cc);
                    record.response_hex = hex(&rule.action.data);
                    let rsp = m.response(cc, &rule.action.data).to_bytes();
                    replies.push(if v20 {
                        ipmi::rmcp::encode_v20_unsigned(0, false, false, 0, 0, &rsp)
                    } else {
                        ipmi::rmcp::encode_v15(ipmi::rmcp::AuthType::None, 0, 0, None, &rsp)
                    });
                } else {
                    record.dropped = Some("dropped by a scenario rule".into());
                }
                let mut out = shaped(replies, &rule.action, record);
                out.next_timeout_ms = state.bmc.next_timeout();
                return out;
            }
        }
    }
    let event = state
        .bmc
        .receive(&*machine, datagram, Some(peer), now_ms, &mut rng);
    // The rule for a command inside a session, decided on what the session layer
    // verified (outside a session: the one decided above).
    let mut decide = |record: &Record| -> Option<&IpmiRule> {
        if !in_session {
            return pre;
        }
        let view = IpmiView {
            payload,
            netfn: record.netfn,
            cmd: record.cmd,
            user: record.user.as_deref(),
        };
        rules::decide(&settings.rules, &view, &mut state.hits)
    };
    const DROPPED: &str = "dropped by a scenario rule";
    let (handled, rule) = match event {
        Event::Done(h) => {
            // Answered or refused by the session layer alone (never a command inside
            // a session: those are handed out below).
            let rule = if matches!(h.record.kind, RecordKind::Dropped { .. }) && in_session {
                None
            } else {
                decide(&h.record)
            };
            (h, rule)
        }
        Event::Command(c) => {
            let rule = decide(c.record());
            let handled = match rule.map(|r| &r.action) {
                Some(a) if a.drop => state.bmc.drop(c, DROPPED),
                Some(IpmiAction {
                    completion_code: Some(cc),
                    data,
                    ..
                }) => state.bmc.answer(
                    c,
                    Response {
                        completion: *cc,
                        data: data.clone(),
                    },
                    &mut rng,
                ),
                _ => {
                    let rsp = Application::handle(machine, &c.request(), now_ms);
                    state.bmc.answer(c, rsp, &mut rng)
                }
            };
            (handled, rule)
        }
        Event::SessionCommand(c) => {
            let rule = decide(c.record());
            let handled = if rule.is_some_and(|r| r.action.drop) {
                state.bmc.drop(c, DROPPED)
            } else {
                let mut h = state.bmc.proceed(c, &mut rng);
                if let Some(sid) = h.sol_activated.take() {
                    let banner = Application::sol_activated(machine, sid, now_ms);
                    h.replies.extend(state.bmc.send_sol(sid, &banner, &mut rng));
                }
                h
            };
            (handled, rule)
        }
        Event::Sol(s) => {
            let output = Application::sol_input(machine, s.session_id(), s.data(), now_ms);
            (state.bmc.answer_sol(s, &output, &mut rng), pre)
        }
    };
    let replies = handled.replies;
    let record = journal_record(&handled.record, payload, rule, 0);
    // In a session the channel changes after the datagram (before, for other kinds).
    if let Some(rule) = rule.filter(|_| in_session) {
        reconfigure(state, machine, &rule.action);
    }
    let mut out = match rule {
        Some(rule) => shaped(replies, &rule.action, record),
        None => {
            let mut record = record;
            record.replies = replies.len();
            Outcome {
                replies,
                delay: Duration::ZERO,
                record,
                next_timeout_ms: None,
            }
        }
    };
    out.next_timeout_ms = state.bmc.next_timeout();
    out
}

/// Applies a rule's reply shaping (corrupt, duplicate, delay) and counts the replies.
fn shaped(mut replies: Vec<Vec<u8>>, a: &IpmiAction, mut record: IpmiRecord) -> Outcome {
    if a.corrupt_integrity {
        for r in &mut replies {
            corrupt_auth_code(r);
        }
    }
    if a.duplicate {
        replies = replies
            .iter()
            .flat_map(|r| [r.clone(), r.clone()])
            .collect();
    }
    record.replies = replies.len();
    Outcome {
        replies,
        delay: Duration::from_millis(a.delay_ms),
        record,
        next_timeout_ms: None,
    }
}

/// Flips a byte of the AuthCode a reply carries (IPMI 1.5: the 16 bytes after the
/// session ID; RMCP+: the trailer's last byte). Replies without one are left alone.
fn corrupt_auth_code(reply: &mut [u8]) {
    if let Some(i) = ipmi::peek::auth_code_byte(reply) {
        reply[i] ^= 0xFF;
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn journal_record(
    r: &Record,
    payload: Payload,
    rule: Option<&IpmiRule>,
    replies: usize,
) -> IpmiRecord {
    let (kind, dropped) = match &r.kind {
        RecordKind::Ping => ("ping", None),
        RecordKind::Sessionless => ("sessionless", None),
        RecordKind::OpenSession => ("open_session", None),
        RecordKind::Rakp1 => ("rakp1", None),
        RecordKind::Rakp3 => ("rakp3", None),
        RecordKind::Ipmi15 => ("ipmi15", None),
        RecordKind::Rmcpp => ("rmcpp", None),
        RecordKind::Sol => ("sol", None),
        RecordKind::Dropped { reason } => (payload.name(), Some(reason.to_string())),
    };
    IpmiRecord {
        kind: kind.to_owned(),
        session_id: r.session_id,
        user: r.user.clone(),
        privilege: r.privilege.map(|p| p.name().to_owned()),
        cipher_suite: r.suite,
        netfn: r.netfn,
        netfn_name: r.netfn.map(rules::netfn_name),
        cmd: r.cmd,
        command: r.netfn.zip(r.cmd).map(|(n, c)| rules::command_name(n, c)),
        request_hex: hex(&r.request),
        completion_code: r.completion,
        response_hex: hex(&r.response),
        status: r.status,
        dropped,
        rule: rule.map(|r| r.name.clone()),
        action: rule.map(|r| r.action.describe()),
        replies,
    }
}

/// A running IPMI listener.
#[derive(Debug)]
pub struct Listener {
    /// The bound address.
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Listener {
    /// Stops serving; the port is free when this returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// The instant at which the session layer next has something to time out, from its
/// deadline on the mock's clock (`now_ms` is that clock now).
fn deadline(next_ms: Option<u64>, now_ms: u64) -> Option<tokio::time::Instant> {
    next_ms.map(|t| tokio::time::Instant::now() + Duration::from_millis(t.saturating_sub(now_ms)))
}

/// Makes the mock a lazily built listener serves (a fleet's machine), when the first
/// datagram comes; `None` drops the datagram.
pub type MockSource = Arc<dyn Fn() -> Option<Mock> + Send + Sync>;

/// Binds `addr` (port 0: a free port) and serves IPMI for `mock`.
pub async fn start(addr: SocketAddr, mock: Mock) -> std::io::Result<Listener> {
    let socket = Arc::new(UdpSocket::bind(addr).await?);
    let bound = socket.local_addr()?;
    mock.set_ipmi_port(bound.port());
    Ok(serve(socket, bound, Some(mock), None))
}

/// Binds `addr` and serves IPMI for the mock `make` builds when the first datagram
/// arrives (it sets the mock's IPMI port itself).
pub async fn start_lazy(addr: SocketAddr, make: MockSource) -> std::io::Result<Listener> {
    let socket = Arc::new(UdpSocket::bind(addr).await?);
    let bound = socket.local_addr()?;
    Ok(serve(socket, bound, None, Some(make)))
}

fn serve(
    socket: Arc<UdpSocket>,
    bound: SocketAddr,
    ready: Option<Mock>,
    make: Option<MockSource>,
) -> Listener {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut mock = ready;
        let mut buf = vec![0u8; 2048];
        // The session layer's next timeout (idle sessions, half-open handshakes):
        // slept until, then handled, instead of sweeping on a fixed period.
        let mut next = mock
            .as_ref()
            .and_then(|m| deadline(m.ipmi_expire(), m.now_ms()));
        let mut delayed = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = async { let _ = stopped.wait_for(|s| *s).await; } => break,
                _ = async {
                    if let Some(at) = next {
                        tokio::time::sleep_until(at).await;
                    }
                }, if next.is_some() => {
                    next = mock.as_ref().and_then(|m| deadline(m.ipmi_expire(), m.now_ms()));
                }
                Some(_) = delayed.join_next(), if !delayed.is_empty() => {}
                got = socket.recv_from(&mut buf) => {
                    let (n, peer) = match got {
                        Ok(x) => x,
                        // ICMP port unreachable from an earlier send shows up here on
                        // some systems; it concerns that peer only.
                        Err(e) => {
                            tracing::debug!("ipmi: recv: {e}");
                            continue;
                        }
                    };
                    if mock.is_none() {
                        mock = make.as_ref().and_then(|make| make());
                    }
                    let Some(mock) = mock.as_ref() else { continue };
                    let started = SystemTime::now();
                    let t0 = Instant::now();
                    let out = mock.ipmi_datagram(&buf[..n], peer);
                    next = deadline(out.next_timeout_ms, mock.now_ms());
                    let journal = mock.journal().clone();
                    if out.delay.is_zero() {
                        for r in &out.replies {
                            if let Err(e) = socket.send_to(r, peer).await {
                                tracing::debug!("ipmi: send to {peer}: {e}");
                            }
                        }
                        journal.record(Entry::new("ipmi", peer, started, t0.elapsed(), Detail::Ipmi(Box::new(out.record))));
                    } else {
                        let socket = socket.clone();
                        delayed.spawn(async move {
                            tokio::time::sleep(out.delay).await;
                            for r in &out.replies {
                                let _ = socket.send_to(r, peer).await;
                            }
                            journal.record(Entry::new("ipmi", peer, started, t0.elapsed(), Detail::Ipmi(Box::new(out.record))));
                        });
                    }
                }
            }
        }
        delayed.abort_all();
    });
    Listener {
        addr: bound,
        stop,
        task,
    }
}
