//! The BMC side of LAN sessions.
//!
//! Two phases, in the style of a sans-IO protocol state machine: [`Bmc::receive`] takes
//! one UDP datagram and either finishes it itself ([`Event::Done`]: the datagrams to
//! send back plus a decoded [`Record`] for the journal) or hands the caller what only
//! the caller can decide: an authenticated command for the application
//! ([`Event::Command`], answered with [`Bmc::answer`]), a command the session layer
//! answers itself once the caller lets it ([`Event::SessionCommand`],
//! [`Bmc::proceed`]), or Serial over LAN input ([`Event::Sol`], [`Bmc::answer_sol`]).
//! Any of them may be refused with [`Bmc::drop`] instead. Nothing about a command is
//! committed before it is answered (sequence window, activity time, the command's own
//! effect), so dropping one leaves the session layer as it was. The session layer
//! never calls into the application: it only looks accounts up ([`Accounts`]).
//! [`Bmc::next_timeout`] and [`Bmc::handle_timeout`] drive idle and handshake expiry.
//! [`Bmc::handle`] runs both phases with an [`Application`], for callers with nothing
//! to decide.
//!
//! Nothing is dropped without a [`RecordKind::Dropped`] record saying why. The BMC owns:
//! - ASF presence ping → pong (unless [`BmcConfig::presence_ping`] is off: then it is
//!   ignored, as some BMCs do);
//! - sessionless Get Channel Authentication Capabilities and Get Channel Cipher Suites,
//!   in IPMI 1.5 framing and in RMCP+ framing (payload type 0, session 0);
//! - the IPMI 1.5 login (Get Session Challenge, Activate Session) with MD5, straight
//!   password or (only if configured) no authentication;
//! - the RMCP+ login (Open Session, RAKP 1-4) with cipher suites 0, 1, 2, 3, 17;
//! - per-session sequence windows, integrity and confidentiality, idle timeout, the
//!   session limit, Set Session Privilege, Close Session, Get Session Info;
//! - Serial over LAN payload activation and the SOL packet exchange (with
//!   [`BmcConfig::sol`] off, Get Channel Payload Support lists IPMI only and the payload
//!   commands answer 0xC1, as from a BMC that does not implement them).
//!
//! Every other command goes to the application ([`Event::Command`]) with the
//! session's user and privilege. Which commands are the session layer's is the command
//! table's [`Handler::Session`].

use std::net::SocketAddr;

use rand_core::RngCore;

use crate::app::{Accounts, Application, Request, Response, SessionView, UserRecord};
use crate::codes::{Privilege, cc, netfn};
use crate::commands::{self, Handler};
use crate::crypto::{self, AuthAlg, CipherSuite, ConfAlg, IntegrityAlg, RakpParams, SessionKeys};
use crate::msg::{Message, MsgError};
use crate::rmcp::{self, AuthType, Frame, FrameError, V15Packet, V20Packet, payload};

pub use crate::rmcp::AuthType as Ipmi15Auth;

/// App NetFn command numbers the session layer answers itself (from the command
/// table, [`crate::commands`]).
pub mod cmd {
    use crate::commands::id;

    /// Get Channel Authentication Capabilities.
    pub const GET_CHANNEL_AUTH_CAPS: u8 = id::GET_CHANNEL_AUTH_CAPS.1;
    /// Get Session Challenge.
    pub const GET_SESSION_CHALLENGE: u8 = id::GET_SESSION_CHALLENGE.1;
    /// Activate Session.
    pub const ACTIVATE_SESSION: u8 = id::ACTIVATE_SESSION.1;
    /// Set Session Privilege Level.
    pub const SET_SESSION_PRIVILEGE: u8 = id::SET_SESSION_PRIVILEGE.1;
    /// Close Session.
    pub const CLOSE_SESSION: u8 = id::CLOSE_SESSION.1;
    /// Get Session Info.
    pub const GET_SESSION_INFO: u8 = id::GET_SESSION_INFO.1;
    /// Activate Payload.
    pub const ACTIVATE_PAYLOAD: u8 = id::ACTIVATE_PAYLOAD.1;
    /// Deactivate Payload.
    pub const DEACTIVATE_PAYLOAD: u8 = id::DEACTIVATE_PAYLOAD.1;
    /// Get Payload Activation Status.
    pub const PAYLOAD_ACTIVATION_STATUS: u8 = id::PAYLOAD_ACTIVATION_STATUS.1;
    /// Get Payload Instance Info.
    pub const PAYLOAD_INSTANCE_INFO: u8 = id::PAYLOAD_INSTANCE_INFO.1;
    /// Get Channel Payload Support.
    pub const CHANNEL_PAYLOAD_SUPPORT: u8 = id::CHANNEL_PAYLOAD_SUPPORT.1;
    /// Get Channel Payload Version.
    pub const CHANNEL_PAYLOAD_VERSION: u8 = id::CHANNEL_PAYLOAD_VERSION.1;
    /// Get Channel Cipher Suites.
    pub const GET_CHANNEL_CIPHER_SUITES: u8 = id::GET_CHANNEL_CIPHER_SUITES.1;
}

/// RMCP+ and RAKP message status codes (IPMI v2.0 table 13-15).
pub mod status {
    /// No errors.
    pub const OK: u8 = 0x00;
    /// Insufficient resources to create a session.
    pub const NO_RESOURCES: u8 = 0x01;
    /// Invalid session ID.
    pub const INVALID_SESSION_ID: u8 = 0x02;
    /// Invalid payload type.
    pub const INVALID_PAYLOAD_TYPE: u8 = 0x03;
    /// Invalid authentication algorithm.
    pub const INVALID_AUTH_ALG: u8 = 0x04;
    /// Invalid integrity algorithm.
    pub const INVALID_INTEGRITY_ALG: u8 = 0x05;
    /// Inactive session ID.
    pub const INACTIVE_SESSION_ID: u8 = 0x08;
    /// Invalid role.
    pub const INVALID_ROLE: u8 = 0x09;
    /// Unauthorized role or privilege level requested.
    pub const UNAUTHORIZED_ROLE: u8 = 0x0A;
    /// Invalid name length.
    pub const INVALID_NAME_LENGTH: u8 = 0x0C;
    /// Unauthorized name.
    pub const UNAUTHORIZED_NAME: u8 = 0x0D;
    /// Invalid integrity check value.
    pub const INVALID_INTEGRITY_CHECK: u8 = 0x0F;
    /// Invalid confidentiality algorithm.
    pub const INVALID_CONF_ALG: u8 = 0x10;
    /// No cipher suite match with the proposed security algorithms.
    pub const NO_CIPHER_SUITE_MATCH: u8 = 0x11;
    /// Illegal or unrecognized parameter.
    pub const ILLEGAL_PARAMETER: u8 = 0x12;
}

/// BMC LAN channel settings (scenario rules may change them at run time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BmcConfig {
    /// The LAN channel number (1).
    pub channel: u8,
    /// Enabled cipher suite IDs, in the order Get Channel Cipher Suites lists them.
    /// Suite 0 (no authentication) only if listed.
    pub cipher_suites: Vec<u8>,
    /// Enabled IPMI 1.5 authentication types (default MD5 and straight password;
    /// `None` only if listed; empty disables IPMI 1.5 logins).
    pub ipmi15_auth: Vec<AuthType>,
    /// Maximum number of sessions (pending RMCP+ handshakes included).
    pub session_limit: usize,
    /// Idle time after which a session is closed.
    pub idle_timeout_ms: u64,
    /// How long an RMCP+ handshake may stay half-open (Open Session answered, RAKP
    /// not completed) before its slot is freed. Half-open handshakes also take at most
    /// half of `session_limit` and give way, oldest first, to new ones, so Open
    /// Session requests nobody completes cannot lock real clients out.
    pub handshake_timeout_ms: u64,
    /// Whether the null user (empty name) may log in.
    pub allow_anonymous: bool,
    /// The BMC key Kg (None: Kuid is used, the usual "one-key" login).
    pub kg: Option<Vec<u8>>,
    /// The UDP port reported in Activate Payload (the listener sets its bound port).
    pub port: u16,
    /// Whether the ASF presence ping is answered (a pong). Off: pings are ignored, as
    /// some BMCs do (clients then go straight to Get Channel Authentication
    /// Capabilities).
    pub presence_ping: bool,
    /// Whether the BMC implements Serial over LAN. Off: Get Channel Payload Support
    /// lists the IPMI payload only, and Activate/Deactivate Payload, Get Payload
    /// Activation Status, Get Payload Instance Info and Get Channel Payload Version
    /// answer 0xC1 (invalid command).
    pub sol: bool,
    /// Deliberate deviations from the specification, for seeded-defect scenarios that
    /// prove the conformance suite catches them. All off by default.
    pub defects: BmcDefects,
}

/// Deliberate deviations a seeded-defect scenario can switch on (each one is a security
/// or interoperability bug real BMCs have shipped with).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BmcDefects {
    /// Accept any inbound session sequence number: replayed and out-of-window packets
    /// are processed instead of dropped.
    pub accept_replays: bool,
    /// Do not verify the integrity AuthCode of RMCP+ packets.
    pub skip_integrity_check: bool,
    /// When no enabled suite matches the requested algorithms, use the first enabled
    /// suite instead of refusing (silent substitution).
    pub substitute_algorithms: bool,
    /// Echo the requested maximum privilege in the Open Session Response, 0 included,
    /// instead of the level the session gets.
    pub echo_requested_privilege: bool,
    /// Accounts whose privilege limit is one of these levels are not held to it:
    /// RAKP Message 1 (either role lookup mode) and Activate Session asking for more
    /// than the account may have are granted, and Set Session Privilege Level may
    /// raise such a session above the account's limit and above what its login asked
    /// for (`[Operator]`: operator accounts can become Administrator).
    pub ignore_privilege_limit: Vec<Privilege>,
    /// Accept IPMI 1.5 logins with authentication type none although the channel
    /// does not enable (and Get Channel Authentication Capabilities does not
    /// advertise) it.
    pub accept_unadvertised_none: bool,
    /// Leave cipher suite 0 out of Get Channel Cipher Suites although it is enabled
    /// (logins with it are accepted): an insecure suite nobody can see.
    pub unlisted_suite_zero: bool,
}

impl Default for BmcConfig {
    fn default() -> Self {
        BmcConfig {
            channel: 1,
            cipher_suites: vec![17, 3, 2, 1],
            ipmi15_auth: vec![AuthType::Md5, AuthType::Password],
            session_limit: 8,
            idle_timeout_ms: 60_000,
            handshake_timeout_ms: 5_000,
            allow_anonymous: false,
            kg: None,
            port: 623,
            presence_ping: true,
            sol: true,
            defects: BmcDefects::default(),
        }
    }
}

/// Why a datagram got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// The RMCP/session framing is malformed.
    #[error("malformed frame: {0}")]
    Frame(FrameError),
    /// The IPMI message is malformed (length, checksums).
    #[error("malformed IPMI message: {0}")]
    Message(MsgError),
    /// An ASF message other than a presence ping.
    #[error("ASF message other than a presence ping")]
    UnexpectedAsf,
    /// A presence ping, and the BMC does not answer pings (`presence_ping` off).
    #[error("presence ping ignored (this BMC does not answer pings)")]
    PingIgnored,
    /// A response (odd NetFn) arrived where a request was expected.
    #[error("not a request")]
    NotARequest,
    /// No session with this ID.
    #[error("unknown session {0:#010x}")]
    UnknownSession(u32),
    /// The session exists but its handshake has not completed.
    #[error("session {0:#010x} is not active")]
    InactiveSession(u32),
    /// The AuthCode (integrity or IPMI 1.5) does not verify.
    #[error("AuthCode mismatch")]
    BadAuthCode,
    /// The packet's authentication type / authenticated / encrypted flags do not match
    /// what the session negotiated.
    #[error("packet protection does not match the session")]
    WrongProtection,
    /// The sequence number was already received.
    #[error("replayed sequence number {0}")]
    Replay(u32),
    /// The sequence number is outside the window.
    #[error("sequence number {0} out of window")]
    OutOfWindow(u32),
    /// The payload does not decrypt.
    #[error("decryption failed: {0}")]
    Decrypt(crypto::CryptoError),
    /// A payload type that is not valid here.
    #[error("unexpected payload type {0:#04x}")]
    UnexpectedPayload(u8),
    /// A Serial over LAN packet for a session without an active SOL payload, or too short.
    #[error("SOL packet without an active SOL payload or too short")]
    SolInactive,
    /// A handshake message the console aborted (RAKP3 with a non-zero status).
    #[error("console aborted the handshake with status {0:#04x}")]
    ConsoleAbort(u8),
    /// The caller chose not to answer ([`Bmc::drop`]), for this reason.
    #[error("{0}")]
    Application(String),
}

/// What kind of datagram a record describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKind {
    /// ASF presence ping (answered with a pong).
    Ping,
    /// A sessionless IPMI command.
    Sessionless,
    /// RMCP+ Open Session Request.
    OpenSession,
    /// RAKP message 1.
    Rakp1,
    /// RAKP message 3.
    Rakp3,
    /// A command in an IPMI 1.5 session (Activate Session included).
    Ipmi15,
    /// A command in an RMCP+ session.
    Rmcpp,
    /// A Serial over LAN packet.
    Sol,
    /// Not answered.
    Dropped {
        /// Why.
        reason: DropReason,
    },
}

/// A decoded account of one datagram, for the mock's journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// What it was.
    pub kind: RecordKind,
    /// The BMC session ID (0 when sessionless or unknown).
    pub session_id: u32,
    /// The session's (or the login's) user name.
    pub user: Option<String>,
    /// Privilege: the session's current level, or the level a login asked for/got.
    pub privilege: Option<Privilege>,
    /// The cipher suite of the session (RMCP+).
    pub suite: Option<u8>,
    /// Request NetFn.
    pub netfn: Option<u8>,
    /// Command.
    pub cmd: Option<u8>,
    /// Request data (or SOL characters received).
    pub request: Vec<u8>,
    /// Completion code of the answer.
    pub completion: Option<u8>,
    /// Response data after the completion code (or SOL characters sent).
    pub response: Vec<u8>,
    /// RMCP+/RAKP status code of a handshake answer.
    pub status: Option<u8>,
}

impl Record {
    fn new(kind: RecordKind) -> Record {
        Record {
            kind,
            session_id: 0,
            user: None,
            privilege: None,
            suite: None,
            netfn: None,
            cmd: None,
            request: Vec::new(),
            completion: None,
            response: Vec::new(),
            status: None,
        }
    }

    fn dropped(reason: DropReason) -> Record {
        Record::new(RecordKind::Dropped { reason })
    }

    fn with_session(mut self, id: u32) -> Record {
        self.session_id = id;
        self
    }

    /// Notes the request of an IPMI message exchange.
    fn request_of(&mut self, msg: &Message) {
        self.netfn = Some(msg.netfn);
        self.cmd = Some(msg.cmd);
        self.request = msg.data.clone();
    }

    /// Notes a whole IPMI message exchange: the request and its answer.
    fn exchange(&mut self, msg: &Message, completion: u8, data: &[u8]) {
        self.request_of(msg);
        self.completion = Some(completion);
        self.response = data.to_vec();
    }
}

/// The result of handling one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// Datagrams to send back to the sender, in order.
    pub replies: Vec<Vec<u8>>,
    /// What happened.
    pub record: Record,
    /// Serial over LAN was just activated in this session (BMC session ID): what the
    /// application shows first goes out through [`Bmc::send_sol`].
    pub sol_activated: Option<u32>,
}

impl Handled {
    /// One reply datagram and its record.
    fn one(reply: Vec<u8>, record: Record) -> Handled {
        Handled {
            sol_activated: None,
            replies: vec![reply],
            record,
        }
    }
}

/// What [`Bmc::receive`] made of a datagram: finished, or a decision for the caller.
#[derive(Debug)]
pub enum Event {
    /// The session layer is done with it: send the replies (maybe none), journal the
    /// record.
    Done(Handled),
    /// An authenticated, in-window command inside a session, for the application:
    /// [`Bmc::answer`] it (or [`Bmc::drop`] it). Nothing about it is committed yet.
    Command(Pending),
    /// A command the session layer answers itself (Activate Session, Set Session
    /// Privilege Level, Close Session, Get Session Info, the payload commands and the
    /// channel queries inside a session): [`Bmc::proceed`] (or [`Bmc::drop`]). Nothing
    /// about it is committed yet.
    SessionCommand(SessionCommand),
    /// Serial over LAN characters for the application: [`Bmc::answer_sol`] with what
    /// the serial port prints back. The packet's own SOL sequence state is already
    /// committed (a retransmission is acknowledged, not delivered again).
    Sol(SolInput),
}

/// How a pending command's answer is framed.
#[derive(Debug, Clone, Copy)]
enum Form {
    /// In an IPMI 1.5 session.
    V15,
    /// In an RMCP+ session.
    V20,
    /// The Activate Session of a pending IPMI 1.5 login (the BMC session ID is the
    /// challenge's temporary one).
    Activate { peer: Option<SocketAddr> },
}

/// A verified command waiting for the caller's decision.
#[derive(Debug)]
struct Step {
    record: Record,
    msg: Message,
    /// The BMC session ID.
    session: u32,
    /// The inbound session sequence number to accept on answer (None: the packet
    /// carries none that is tracked).
    seq: Option<u32>,
    now_ms: u64,
    form: Form,
}

/// A command for the application (the token of [`Event::Command`]).
#[derive(Debug)]
pub struct Pending {
    step: Step,
    handle: u8,
    user_id: u8,
    user: Vec<u8>,
    privilege: Privilege,
    channel: u8,
}

impl Pending {
    /// The command as the application sees it, with the session it arrived in.
    pub fn request(&self) -> Request<'_> {
        let m = &self.step.msg;
        Request {
            netfn: m.netfn,
            cmd: m.cmd,
            lun: m.dst_lun,
            data: &m.data,
            session: Some(SessionView {
                id: self.step.session,
                handle: self.handle,
                user_id: self.user_id,
                user: &self.user,
                privilege: self.privilege,
                channel: self.channel,
            }),
        }
    }

    /// What is known so far (session, user, privilege, suite, NetFn, command, request
    /// data), for rules and the journal.
    pub fn record(&self) -> &Record {
        &self.step.record
    }

    /// The time the datagram arrived.
    pub fn now_ms(&self) -> u64 {
        self.step.now_ms
    }
}

/// A command the session layer answers itself, waiting for the caller's go-ahead (the
/// token of [`Event::SessionCommand`]).
#[derive(Debug)]
pub struct SessionCommand {
    step: Step,
}

impl SessionCommand {
    /// What is known so far, for rules and the journal.
    pub fn record(&self) -> &Record {
        &self.step.record
    }

    /// The time the datagram arrived.
    pub fn now_ms(&self) -> u64 {
        self.step.now_ms
    }
}

/// Serial over LAN characters for the application (the token of [`Event::Sol`]).
#[derive(Debug)]
pub struct SolInput {
    record: Record,
    session: u32,
    ack: u8,
    accepted: u8,
    now_ms: u64,
}

impl SolInput {
    /// The BMC session ID.
    pub fn session_id(&self) -> u32 {
        self.session
    }

    /// The characters typed at the remote console.
    pub fn data(&self) -> &[u8] {
        &self.record.request
    }

    /// What is known so far, for the journal.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The time the datagram arrived.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }
}

/// Anything [`Bmc::receive`] asked the caller to decide, for [`Bmc::drop`].
#[derive(Debug)]
pub enum Undecided {
    /// A command for the application.
    Command(Pending),
    /// A command for the session layer.
    SessionCommand(SessionCommand),
    /// Serial over LAN input.
    Sol(SolInput),
}

impl From<Pending> for Undecided {
    fn from(p: Pending) -> Undecided {
        Undecided::Command(p)
    }
}

impl From<SessionCommand> for Undecided {
    fn from(p: SessionCommand) -> Undecided {
        Undecided::SessionCommand(p)
    }
}

impl From<SolInput> for Undecided {
    fn from(p: SolInput) -> Undecided {
        Undecided::Sol(p)
    }
}

/// An [`Application`] seen as [`Accounts`] (for [`Bmc::handle_from`]).
struct ViaApp<'a>(&'a dyn Application);

impl Accounts for ViaApp<'_> {
    fn user_by_name(&self, name: &[u8]) -> Option<UserRecord> {
        Application::user_by_name(self.0, name)
    }
    fn user_by_id(&self, id: u8) -> Option<UserRecord> {
        Application::user_by_id(self.0, id)
    }
    fn guid(&self) -> [u8; 16] {
        Application::guid(self.0)
    }
}

/// Whether the session layer answers a request itself (the command table's
/// [`Handler::Session`] entries, all App NetFn).
fn is_session_command(msg: &Message) -> bool {
    msg.netfn == netfn::APP
        && commands::lookup(msg.netfn, msg.cmd).is_some_and(|c| c.handler == Handler::Session)
}

/// A session as the mock's admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// BMC session ID.
    pub id: u32,
    /// The console's session ID (RMCP+; equal to `id` for IPMI 1.5).
    pub console_id: u32,
    /// Session handle.
    pub handle: u8,
    /// Whether the login completed.
    pub active: bool,
    /// User name (empty before RAKP1).
    pub user: String,
    /// User ID (0 before RAKP1).
    pub user_id: u8,
    /// Current privilege.
    pub privilege: Privilege,
    /// Maximum privilege of the session.
    pub max_privilege: Privilege,
    /// RMCP+ cipher suite, or None for IPMI 1.5.
    pub suite: Option<u8>,
    /// IPMI 1.5 authentication type, or None for RMCP+.
    pub auth_type: Option<AuthType>,
    /// Whether this session holds the SOL payload.
    pub sol_active: bool,
    /// Time of the last accepted packet.
    pub last_activity_ms: u64,
    /// The console's address, when the listener passed it.
    pub peer: Option<SocketAddr>,
}

/// A sliding window over received sequence numbers.
#[derive(Debug, Clone)]
struct Window {
    started: bool,
    highest: u32,
    /// Bit i set: `highest - i` was received.
    seen: u64,
    size: u32,
}

impl Window {
    fn new(size: u32) -> Window {
        Window {
            started: false,
            highest: 0,
            seen: 0,
            size,
        }
    }

    fn check(&self, seq: u32) -> Result<(), DropReason> {
        if !self.started {
            return if seq == 0 {
                Err(DropReason::OutOfWindow(seq))
            } else {
                Ok(())
            };
        }
        let ahead = seq.wrapping_sub(self.highest);
        let behind = self.highest.wrapping_sub(seq);
        if seq == 0 {
            Err(DropReason::OutOfWindow(seq))
        } else if ahead != 0 && ahead <= self.size {
            Ok(())
        } else if behind < self.size {
            if self.seen & (1u64 << behind) != 0 {
                Err(DropReason::Replay(seq))
            } else {
                Ok(())
            }
        } else {
            Err(DropReason::OutOfWindow(seq))
        }
    }

    fn accept(&mut self, seq: u32) {
        if !self.started {
            self.started = true;
            self.highest = seq;
            self.seen = 1;
            return;
        }
        let ahead = seq.wrapping_sub(self.highest);
        if ahead != 0 && ahead <= self.size {
            self.seen = if ahead >= 64 { 0 } else { self.seen << ahead };
            self.seen |= 1;
            self.highest = seq;
        } else {
            let behind = self.highest.wrapping_sub(seq);
            if behind < 64 {
                self.seen |= 1u64 << behind;
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Stage {
    /// Open Session answered; waiting for RAKP1.
    Opened,
    /// RAKP2 sent; waiting for RAKP3.
    Rakp2Sent {
        rm: [u8; 16],
        rc: [u8; 16],
        role: u8,
        rakp2: Vec<u8>,
    },
    /// Logged in.
    Active {
        keys: SessionKeys,
        rakp3_code: Vec<u8>,
        rakp4: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
enum Proto {
    V15 { auth: AuthType, password: Vec<u8> },
    V20 { suite: CipherSuite, stage: Stage },
}

#[derive(Debug, Clone)]
struct SolState {
    /// Last packet sequence number sent (1..=15).
    out_seq: u8,
    /// Last packet sequence number received with data.
    last_in: u8,
}

#[derive(Debug, Clone)]
struct Session {
    id: u32,
    console_id: u32,
    handle: u8,
    proto: Proto,
    user: Option<UserRecord>,
    max_priv: Privilege,
    priv_: Privilege,
    rx: Window,
    tx_seq: u32,
    last_ms: u64,
    sol: Option<SolState>,
    peer: Option<SocketAddr>,
}

impl Session {
    /// An RMCP+ handshake not completed yet (Open Session or RAKP 2 answered).
    fn half_open(&self) -> bool {
        matches!(
            &self.proto,
            Proto::V20 {
                stage: Stage::Opened | Stage::Rakp2Sent { .. },
                ..
            }
        )
    }

    fn active(&self) -> bool {
        match &self.proto {
            Proto::V15 { .. } => true,
            Proto::V20 { stage, .. } => matches!(stage, Stage::Active { .. }),
        }
    }

    fn user_name(&self) -> Option<String> {
        self.user
            .as_ref()
            .map(|u| String::from_utf8_lossy(&u.name).into_owned())
    }

    fn suite(&self) -> Option<CipherSuite> {
        match &self.proto {
            Proto::V20 { suite, .. } => Some(*suite),
            Proto::V15 { .. } => None,
        }
    }

    fn next_tx_seq(&mut self) -> u32 {
        let s = self.tx_seq;
        self.tx_seq = self.tx_seq.wrapping_add(1);
        if self.tx_seq == 0 {
            self.tx_seq = 1;
        }
        s
    }

    fn info(&self) -> SessionInfo {
        SessionInfo {
            id: self.id,
            console_id: self.console_id,
            handle: self.handle,
            active: self.active(),
            user: self.user_name().unwrap_or_default(),
            user_id: self.user.as_ref().map_or(0, |u| u.id),
            privilege: self.priv_,
            max_privilege: self.max_priv,
            suite: self.suite().map(|s| s.id),
            auth_type: match &self.proto {
                Proto::V15 { auth, .. } => Some(*auth),
                Proto::V20 { .. } => None,
            },
            sol_active: self.sol.is_some(),
            last_activity_ms: self.last_ms,
            peer: self.peer,
        }
    }

    fn record(&self, kind: RecordKind) -> Record {
        let mut r = Record::new(kind).with_session(self.id);
        r.user = self.user_name();
        r.privilege = Some(self.priv_);
        r.suite = self.suite().map(|s| s.id);
        r
    }
}

/// A pending IPMI 1.5 login: Get Session Challenge answered, Activate Session expected.
#[derive(Debug, Clone)]
struct Challenge {
    temp_id: u32,
    challenge: [u8; 16],
    auth: AuthType,
    user: UserRecord,
    created_ms: u64,
}

/// How many IPMI 1.5 challenges may be pending at once (oldest forgotten first).
const MAX_CHALLENGES: usize = 16;
/// The RMCP+ sequence window (packets accepted this far ahead of / behind the highest).
const RMCPP_WINDOW: u32 = 16;
/// The IPMI 1.5 sequence window.
const IPMI15_WINDOW: u32 = 8;
/// Largest SOL character chunk the BMC sends in one packet.
const SOL_CHUNK: usize = 200;

/// The BMC's LAN session layer.
#[derive(Debug, Clone)]
pub struct Bmc {
    config: BmcConfig,
    sessions: Vec<Session>,
    challenges: Vec<Challenge>,
}

/// What the in-session command dispatcher asks the caller to do besides answering.
#[derive(Default)]
struct After {
    close_self: bool,
    /// Another session to close once the reply is sealed (indices stay valid until then).
    close_other: Option<u32>,
    /// Serial over LAN was activated: the application's banner follows the answer.
    sol_activated: bool,
}

impl Bmc {
    /// A BMC with no sessions.
    pub fn new(config: BmcConfig) -> Bmc {
        Bmc {
            config,
            sessions: Vec::new(),
            challenges: Vec::new(),
        }
    }

    /// The configuration (read).
    pub fn config(&self) -> &BmcConfig {
        &self.config
    }

    /// The configuration, to change it at run time.
    pub fn config_mut(&mut self) -> &mut BmcConfig {
        &mut self.config
    }

    /// All sessions, pending handshakes included.
    pub fn sessions(&self) -> impl Iterator<Item = SessionInfo> + '_ {
        self.sessions.iter().map(Session::info)
    }

    /// Close sessions (and forget challenges) idle for longer than the idle timeout.
    pub fn expire(&mut self, now_ms: u64) {
        let t = self.config.idle_timeout_ms;
        let h = self.config.handshake_timeout_ms.min(t);
        self.sessions.retain(|s| {
            let idle = now_ms.saturating_sub(s.last_ms);
            idle <= if s.half_open() { h } else { t }
        });
        self.challenges
            .retain(|c| now_ms.saturating_sub(c.created_ms) <= t);
    }

    /// When the next session or pending login times out: the first millisecond at
    /// which [`Bmc::handle_timeout`] has something to close (None: nothing to time out).
    pub fn next_timeout(&self) -> Option<u64> {
        let t = self.config.idle_timeout_ms;
        let h = self.config.handshake_timeout_ms.min(t);
        let sessions = self.sessions.iter().map(|s| {
            let limit = if s.half_open() { h } else { t };
            s.last_ms.saturating_add(limit).saturating_add(1)
        });
        let challenges = self
            .challenges
            .iter()
            .map(|c| c.created_ms.saturating_add(t).saturating_add(1));
        sessions.chain(challenges).min()
    }

    /// Closes what has timed out by `now_ms` (idle sessions, half-open handshakes,
    /// forgotten challenges); [`Bmc::receive`] does it too before each datagram.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.expire(now_ms);
    }

    /// Makes room for a new session when the table is full or half-open handshakes
    /// hold their share (half the slots, at least one): the oldest half-open handshake
    /// goes. Completed sessions are never displaced.
    fn make_room(&mut self) {
        let share = (self.config.session_limit / 2).max(1);
        let half_open = self.sessions.iter().filter(|s| s.half_open()).count();
        if half_open < share && self.sessions.len() < self.config.session_limit {
            return;
        }
        let oldest = self
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| s.half_open())
            .min_by_key(|(_, s)| s.last_ms)
            .map(|(i, _)| i);
        if let Some(i) = oldest {
            self.sessions.remove(i);
        }
    }

    /// Close one session by its BMC session ID (admin API); true if it existed.
    pub fn close_session(&mut self, id: u32) -> bool {
        let before = self.sessions.len();
        self.sessions.retain(|s| s.id != id);
        before != self.sessions.len()
    }

    /// Handle one datagram from an unknown peer, both phases, with `app` answering
    /// what the session layer hands out.
    pub fn handle(
        &mut self,
        app: &mut dyn Application,
        datagram: &[u8],
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Handled {
        self.handle_from(app, datagram, None, now_ms, rng)
    }

    /// [`Bmc::receive`] then [`Bmc::complete_with`]: one datagram, both phases, `app`
    /// answering; `peer` is remembered for Get Session Info.
    pub fn handle_from(
        &mut self,
        app: &mut dyn Application,
        datagram: &[u8],
        peer: Option<SocketAddr>,
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Handled {
        let event = self.receive(&ViaApp(&*app), datagram, peer, now_ms, rng);
        self.complete_with(app, event, rng)
    }

    /// The second phase with `app` deciding nothing: a command goes to
    /// [`Application::handle`], a session-layer command proceeds (with the
    /// application's Serial over LAN banner after an activation), SOL input goes to
    /// [`Application::sol_input`].
    pub fn complete_with(
        &mut self,
        app: &mut dyn Application,
        event: Event,
        rng: &mut dyn RngCore,
    ) -> Handled {
        match event {
            Event::Done(h) => h,
            Event::Command(c) => {
                let rsp = app.handle(&c.request(), c.now_ms());
                self.answer(c, rsp, rng)
            }
            Event::SessionCommand(c) => {
                let now_ms = c.now_ms();
                let mut h = self.proceed(c, rng);
                if let Some(sid) = h.sol_activated.take() {
                    let banner = app.sol_activated(sid, now_ms);
                    h.replies.extend(self.send_sol(sid, &banner, rng));
                }
                h
            }
            Event::Sol(s) => {
                let out = app.sol_input(s.session, s.data(), s.now_ms);
                self.answer_sol(s, &out, rng)
            }
        }
    }

    /// The first phase: take one datagram (from `peer`, remembered for Get Session
    /// Info). Logins look users up in `accounts`; nothing else is asked of anyone.
    pub fn receive(
        &mut self,
        accounts: &dyn Accounts,
        datagram: &[u8],
        peer: Option<SocketAddr>,
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Event {
        self.expire(now_ms);
        let frame = match rmcp::decode(datagram) {
            Ok(f) => f,
            Err(e) => return Event::Done(drop_with(DropReason::Frame(e), 0)),
        };
        match frame {
            Frame::Ping { .. } if !self.config.presence_ping => {
                Event::Done(drop_with(DropReason::PingIgnored, 0))
            }
            Frame::Ping { tag } => Event::Done(Handled {
                sol_activated: None,
                replies: vec![rmcp::encode_pong(tag)],
                record: Record::new(RecordKind::Ping),
            }),
            Frame::Pong(_) => Event::Done(drop_with(DropReason::UnexpectedAsf, 0)),
            Frame::V15(p) => self.handle_v15(accounts, p, peer, now_ms, rng),
            Frame::V20(p) => self.handle_v20(accounts, datagram, p, peer, now_ms, rng),
        }
    }

    /// Answers a command with the application's response: the packet's sequence
    /// number and the session's activity are committed now, and the answer is sealed.
    pub fn answer(&mut self, c: Pending, response: Response, rng: &mut dyn RngCore) -> Handled {
        let Response { completion, data } = response;
        self.complete(c.step, rng, move |_, _, _, _| {
            (completion, data, After::default())
        })
    }

    /// Lets the session layer answer a command of its own (and carry out its effect).
    pub fn proceed(&mut self, c: SessionCommand, rng: &mut dyn RngCore) -> Handled {
        if let Form::Activate { peer } = c.step.form {
            return self.proceed_activate(c.step, peer, rng);
        }
        self.complete(c.step, rng, |bmc, idx, msg, _| {
            bmc.session_command(idx, msg)
        })
    }

    /// Sends what the serial port printed back for SOL input (possibly nothing: the
    /// acknowledgement still goes out).
    pub fn answer_sol(&mut self, s: SolInput, output: &[u8], rng: &mut dyn RngCore) -> Handled {
        let sid = s.session;
        let Some((idx, keys)) = self.active_v20(sid) else {
            return drop_with(DropReason::UnknownSession(sid), sid);
        };
        let mut record = s.record;
        record.response = output.to_vec();
        let replies = self.sol_output(idx, &keys, s.ack, s.accepted, output, rng);
        Handled {
            sol_activated: None,
            replies,
            record,
        }
    }

    /// Refuses what [`Bmc::receive`] handed out: no answer, and nothing about it is
    /// committed (the console may send it again). The record says `reason`.
    pub fn drop(&mut self, what: impl Into<Undecided>, reason: impl Into<String>) -> Handled {
        let mut record = match what.into() {
            Undecided::Command(c) => c.step.record,
            Undecided::SessionCommand(c) => c.step.record,
            Undecided::Sol(s) => s.record,
        };
        record.kind = RecordKind::Dropped {
            reason: DropReason::Application(reason.into()),
        };
        Handled {
            sol_activated: None,
            replies: Vec::new(),
            record,
        }
    }

    /// Serial over LAN output the application produces on its own (the banner after
    /// an activation, see [`Handled::sol_activated`]): the packets to send, none when
    /// `data` is empty or the session has no active SOL payload.
    pub fn send_sol(&mut self, session: u32, data: &[u8], rng: &mut dyn RngCore) -> Vec<Vec<u8>> {
        match self.active_v20(session) {
            Some((idx, keys)) if !data.is_empty() && self.sessions[idx].sol.is_some() => {
                self.sol_output(idx, &keys, 0, 0, data, rng)
            }
            _ => Vec::new(),
        }
    }

    /// An active RMCP+ session by BMC session ID, with its keys.
    fn active_v20(&self, id: u32) -> Option<(usize, SessionKeys)> {
        let idx = self.sessions.iter().position(|s| s.id == id)?;
        match &self.sessions[idx].proto {
            Proto::V20 {
                stage: Stage::Active { keys, .. },
                ..
            } => Some((idx, keys.clone())),
            _ => None,
        }
    }

    /// The decision a verified in-session command needs.
    fn decision(
        &self,
        idx: usize,
        msg: Message,
        seq: Option<u32>,
        now_ms: u64,
        form: Form,
        kind: RecordKind,
    ) -> Event {
        let s = &self.sessions[idx];
        let mut record = s.record(kind);
        record.request_of(&msg);
        let session_layer = is_session_command(&msg);
        let step = Step {
            record,
            msg,
            session: s.id,
            seq,
            now_ms,
            form,
        };
        if session_layer {
            return Event::SessionCommand(SessionCommand { step });
        }
        let user = s.user.as_ref();
        Event::Command(Pending {
            step,
            handle: s.handle,
            user_id: user.map_or(0, |u| u.id),
            user: user.map(|u| u.name.clone()).unwrap_or_default(),
            privilege: s.priv_,
            channel: self.config.channel,
        })
    }

    /// Commits a verified command (sequence number, activity), runs `run` for its
    /// answer and seals the reply.
    fn complete(
        &mut self,
        step: Step,
        rng: &mut dyn RngCore,
        run: impl FnOnce(&mut Bmc, usize, &Message, u64) -> (u8, Vec<u8>, After),
    ) -> Handled {
        let sid = step.session;
        let Some(idx) = self.sessions.iter().position(|s| s.id == sid) else {
            return drop_with(DropReason::UnknownSession(sid), sid);
        };
        if let Some(seq) = step.seq {
            // Checked on receive; again here in case another packet with the same
            // number was answered in between.
            if let Err(r) = self.sessions[idx].rx.check(seq) {
                if !self.config.defects.accept_replays {
                    return drop_with(r, sid);
                }
            }
            self.sessions[idx].rx.accept(seq);
        }
        self.sessions[idx].last_ms = step.now_ms;
        let msg = step.msg;
        let mut record = step.record;
        let (completion, data, after) = run(self, idx, &msg, step.now_ms);
        record.exchange(&msg, completion, &data);
        let rsp = msg.response(completion, &data).to_bytes();
        let mut sol_activated = None;
        let reply = match (step.form, &self.sessions[idx].proto) {
            (Form::V15, Proto::V15 { auth, password }) => {
                let (auth, password) = (*auth, password.clone());
                let s = &mut self.sessions[idx];
                let seq = s.next_tx_seq();
                let code = crypto::v15_auth_code(auth, &password, s.id, &rsp, seq);
                rmcp::encode_v15(auth, seq, s.id, Some(&code), &rsp)
            }
            (
                Form::V20,
                Proto::V20 {
                    stage: Stage::Active { keys, .. },
                    ..
                },
            ) => {
                let keys = keys.clone();
                if after.sol_activated {
                    sol_activated = Some(sid);
                }
                seal_v20(&mut self.sessions[idx], &keys, payload::IPMI, &rsp, rng)
            }
            _ => return drop_with(DropReason::WrongProtection, sid),
        };
        self.finish(idx, &after);
        Handled {
            sol_activated,
            replies: vec![reply],
            record,
        }
    }

    // ----- IPMI 1.5 -----

    fn handle_v15(
        &mut self,
        accounts: &dyn Accounts,
        p: V15Packet<'_>,
        peer: Option<SocketAddr>,
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Event {
        if p.session_id == 0 {
            let msg = match decode_request(p.message) {
                Ok(m) => m,
                Err(r) => return Event::Done(drop_with(r, 0)),
            };
            let (completion, data) = self.sessionless(accounts, &msg, now_ms, rng);
            let rsp = msg.response(completion, &data);
            let reply = rmcp::encode_v15(AuthType::None, 0, 0, None, &rsp.to_bytes());
            return Event::Done(Handled {
                sol_activated: None,
                replies: vec![reply],
                record: command_record(RecordKind::Sessionless, &msg, completion, &data),
            });
        }
        if let Some(ci) = self
            .challenges
            .iter()
            .position(|c| c.temp_id == p.session_id)
        {
            return self.activate_request(ci, p, peer, now_ms);
        }
        let Some(idx) = self.sessions.iter().position(|s| s.id == p.session_id) else {
            return Event::Done(drop_with(
                DropReason::UnknownSession(p.session_id),
                p.session_id,
            ));
        };
        let (auth, password) = match &self.sessions[idx].proto {
            Proto::V15 { auth, password } => (*auth, password.clone()),
            Proto::V20 { .. } => {
                return Event::Done(drop_with(DropReason::WrongProtection, p.session_id));
            }
        };
        if p.auth_type != auth {
            return Event::Done(drop_with(DropReason::WrongProtection, p.session_id));
        }
        if auth != AuthType::None {
            let expect = crypto::v15_auth_code(auth, &password, p.session_id, p.message, p.seq);
            if !crypto::ct_eq(&expect, &p.auth_code.unwrap_or([0; 16])) {
                return Event::Done(drop_with(DropReason::BadAuthCode, p.session_id));
            }
        }
        if let Err(r) = self.sessions[idx].rx.check(p.seq) {
            if !self.config.defects.accept_replays {
                return Event::Done(drop_with(r, p.session_id));
            }
        }
        let msg = match decode_request(p.message) {
            Ok(m) => m,
            Err(r) => return Event::Done(drop_with(r, p.session_id)),
        };
        self.decision(idx, msg, Some(p.seq), now_ms, Form::V15, RecordKind::Ipmi15)
    }

    /// Verifies the Activate Session of a pending IPMI 1.5 login (nothing changes
    /// until [`Bmc::proceed`]).
    fn activate_request(
        &self,
        ci: usize,
        p: V15Packet<'_>,
        peer: Option<SocketAddr>,
        now_ms: u64,
    ) -> Event {
        let ch = &self.challenges[ci];
        if p.auth_type != ch.auth {
            return Event::Done(drop_with(DropReason::WrongProtection, p.session_id));
        }
        if ch.auth != AuthType::None {
            let expect =
                crypto::v15_auth_code(ch.auth, &ch.user.password, p.session_id, p.message, p.seq);
            if !crypto::ct_eq(&expect, &p.auth_code.unwrap_or([0; 16])) {
                return Event::Done(drop_with(DropReason::BadAuthCode, p.session_id));
            }
        }
        let msg = match decode_request(p.message) {
            Ok(m) => m,
            Err(r) => return Event::Done(drop_with(r, p.session_id)),
        };
        let mut record = Record::new(RecordKind::Ipmi15).with_session(ch.temp_id);
        record.user = Some(String::from_utf8_lossy(&ch.user.name).into_owned());
        record.request_of(&msg);
        Event::SessionCommand(SessionCommand {
            step: Step {
                record,
                msg,
                session: ch.temp_id,
                seq: None,
                now_ms,
                form: Form::Activate { peer },
            },
        })
    }

    /// Runs a verified Activate Session: the session is created (or the login
    /// refused with a completion code).
    fn proceed_activate(
        &mut self,
        step: Step,
        peer: Option<SocketAddr>,
        rng: &mut dyn RngCore,
    ) -> Handled {
        let Some(ci) = self
            .challenges
            .iter()
            .position(|c| c.temp_id == step.session)
        else {
            return drop_with(DropReason::UnknownSession(step.session), step.session);
        };
        let ch = self.challenges[ci].clone();
        let now_ms = step.now_ms;
        let msg = step.msg;
        let mut record = step.record;
        // The success answer carries the console's initial outbound sequence number
        // (freeipmi starts its receive window there); refusals carry 0.
        let answer = |record: &mut Record, completion: u8, data: Vec<u8>, seq: u32| {
            record.completion = Some(completion);
            record.response = data.clone();
            let rsp = msg.response(completion, &data).to_bytes();
            let code = crypto::v15_auth_code(ch.auth, &ch.user.password, ch.temp_id, &rsp, seq);
            rmcp::encode_v15(ch.auth, seq, ch.temp_id, Some(&code), &rsp)
        };
        let result = (|| {
            if msg.netfn != netfn::APP || msg.cmd != cmd::ACTIVATE_SESSION {
                return Err(cc::INSUFFICIENT_PRIVILEGE);
            }
            let d = &msg.data;
            if d.len() != 22 {
                return Err(cc::DATA_LENGTH_INVALID);
            }
            if AuthType::from_u8(d[0]) != Some(ch.auth) || d[2..18] != ch.challenge {
                return Err(cc::INVALID_DATA_FIELD);
            }
            let requested = Privilege::from_u8(d[1] & 0x0F).ok_or(cc::INVALID_DATA_FIELD)?;
            if requested > ch.user.max_privilege && !self.limit_ignored(ch.user.max_privilege) {
                return Err(0x86);
            }
            if self.sessions.len() >= self.config.session_limit {
                self.make_room();
            }
            if self.sessions.len() >= self.config.session_limit {
                return Err(0x81);
            }
            let out_seq = u32::from_le_bytes([d[18], d[19], d[20], d[21]]);
            Ok((requested, out_seq))
        })();
        match result {
            Err(c) => {
                let reply = answer(&mut record, c, Vec::new(), 0);
                Handled::one(reply, record)
            }
            Ok((requested, out_seq)) => {
                self.challenges.remove(ci);
                let inbound = nonzero_u32(rng);
                let mut rx = Window::new(IPMI15_WINDOW);
                rx.started = true;
                rx.highest = inbound.wrapping_sub(1);
                rx.seen = u64::MAX;
                let handle = self.free_handle();
                let s = Session {
                    id: ch.temp_id,
                    console_id: ch.temp_id,
                    handle,
                    proto: Proto::V15 {
                        auth: ch.auth,
                        password: ch.user.password.clone(),
                    },
                    user: Some(ch.user.clone()),
                    max_priv: requested,
                    priv_: requested.min(Privilege::User),
                    rx,
                    tx_seq: out_seq.wrapping_add(1).max(1),
                    last_ms: now_ms,
                    sol: None,
                    peer,
                };
                record.privilege = Some(s.priv_);
                self.sessions.push(s);
                let mut data = vec![ch.auth.to_u8()];
                data.extend_from_slice(&ch.temp_id.to_le_bytes());
                data.extend_from_slice(&inbound.to_le_bytes());
                data.push(requested.to_u8());
                let reply = answer(&mut record, cc::OK, data, out_seq);
                Handled::one(reply, record)
            }
        }
    }

    // ----- sessionless commands -----

    fn sessionless(
        &mut self,
        accounts: &dyn Accounts,
        msg: &Message,
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> (u8, Vec<u8>) {
        if msg.netfn != netfn::APP {
            return (cc::INSUFFICIENT_PRIVILEGE, Vec::new());
        }
        match msg.cmd {
            cmd::GET_CHANNEL_AUTH_CAPS => self.auth_caps(&msg.data),
            cmd::GET_CHANNEL_CIPHER_SUITES => self.cipher_suites(&msg.data),
            cmd::GET_SESSION_CHALLENGE => self.session_challenge(accounts, &msg.data, now_ms, rng),
            _ => (cc::INSUFFICIENT_PRIVILEGE, Vec::new()),
        }
    }

    /// Whether the seeded defect lets accounts limited to `limit` exceed it.
    fn limit_ignored(&self, limit: Privilege) -> bool {
        self.config.defects.ignore_privilege_limit.contains(&limit)
    }

    fn channel_ok(&self, b: u8) -> bool {
        let c = b & 0x0F;
        c == 0x0E || c == self.config.channel
    }

    fn auth_caps(&self, d: &[u8]) -> (u8, Vec<u8>) {
        if d.len() != 2 {
            return (cc::DATA_LENGTH_INVALID, Vec::new());
        }
        if !self.channel_ok(d[0]) || Privilege::from_u8(d[1] & 0x0F).is_none() {
            return (cc::INVALID_DATA_FIELD, Vec::new());
        }
        let extended = d[0] & 0x80 != 0;
        let v20 = self
            .config
            .cipher_suites
            .iter()
            .any(|id| CipherSuite::by_id(*id).is_some());
        let mut types = 0u8;
        for a in &self.config.ipmi15_auth {
            if matches!(a, AuthType::None | AuthType::Md5 | AuthType::Password) {
                types |= a.mask_bit();
            }
        }
        if extended && v20 {
            types |= 0x80;
        }
        let mut status = 0x04; // non-null user names enabled
        if self.config.allow_anonymous {
            status |= 0x03; // null user names, anonymous login
        }
        if self
            .config
            .kg
            .as_ref()
            .is_some_and(|k| k.iter().any(|b| *b != 0))
        {
            status |= 0x20;
        }
        let ext = if extended {
            (u8::from(v20) << 1) | u8::from(!self.config.ipmi15_auth.is_empty())
        } else {
            0
        };
        (
            cc::OK,
            vec![self.config.channel, types, status, ext, 0, 0, 0, 0],
        )
    }

    fn enabled_suites(&self) -> Vec<CipherSuite> {
        self.config
            .cipher_suites
            .iter()
            .filter_map(|id| CipherSuite::by_id(*id))
            .collect()
    }

    fn cipher_suites(&self, d: &[u8]) -> (u8, Vec<u8>) {
        if d.len() != 3 {
            return (cc::DATA_LENGTH_INVALID, Vec::new());
        }
        if !self.channel_ok(d[0]) {
            return (cc::INVALID_DATA_FIELD, Vec::new());
        }
        let hide_zero = self.config.defects.unlisted_suite_zero;
        let suites: Vec<CipherSuite> = self
            .enabled_suites()
            .into_iter()
            .filter(|s| !(hide_zero && s.id == 0))
            .collect();
        let mut bytes = Vec::new();
        if d[2] & 0x80 != 0 {
            for s in &suites {
                bytes.extend_from_slice(&[
                    0xC0,
                    s.id,
                    s.auth.to_u8(),
                    0x40 | s.integrity.to_u8(),
                    0x80 | s.conf.to_u8(),
                ]);
            }
        } else {
            let mut push = |b: u8| {
                if !bytes.contains(&b) {
                    bytes.push(b);
                }
            };
            for s in &suites {
                push(s.auth.to_u8());
            }
            for s in &suites {
                push(0x40 | s.integrity.to_u8());
            }
            for s in &suites {
                push(0x80 | s.conf.to_u8());
            }
        }
        let start = usize::from(d[2] & 0x3F) * 16;
        let mut out = vec![self.config.channel];
        if start < bytes.len() {
            out.extend_from_slice(&bytes[start..(start + 16).min(bytes.len())]);
        }
        (cc::OK, out)
    }

    fn session_challenge(
        &mut self,
        accounts: &dyn Accounts,
        d: &[u8],
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> (u8, Vec<u8>) {
        if d.len() != 17 {
            return (cc::DATA_LENGTH_INVALID, Vec::new());
        }
        let unadvertised_none = self.config.defects.accept_unadvertised_none;
        let Some(auth) = AuthType::from_u8(d[0]).filter(|a| {
            (self.config.ipmi15_auth.contains(a) || (*a == AuthType::None && unadvertised_none))
                && matches!(a, AuthType::None | AuthType::Md5 | AuthType::Password)
        }) else {
            return (cc::INVALID_DATA_FIELD, Vec::new());
        };
        let name = trim_name(&d[1..17]);
        if name.is_empty() && !self.config.allow_anonymous {
            return (0x82, Vec::new());
        }
        let Some(user) = accounts.user_by_name(name).filter(|u| u.enabled) else {
            return (0x81, Vec::new());
        };
        let temp_id = self.fresh_session_id(rng);
        let mut challenge = [0u8; 16];
        rng.fill_bytes(&mut challenge);
        if self.challenges.len() >= MAX_CHALLENGES {
            self.challenges.remove(0);
        }
        self.challenges.push(Challenge {
            temp_id,
            challenge,
            auth,
            user,
            created_ms: now_ms,
        });
        let mut out = temp_id.to_le_bytes().to_vec();
        out.extend_from_slice(&challenge);
        (cc::OK, out)
    }

    fn fresh_session_id(&self, rng: &mut dyn RngCore) -> u32 {
        loop {
            let id = nonzero_u32(rng);
            if !self.sessions.iter().any(|s| s.id == id)
                && !self.challenges.iter().any(|c| c.temp_id == id)
            {
                return id;
            }
        }
    }

    fn free_handle(&self) -> u8 {
        (1..=u8::MAX)
            .find(|h| !self.sessions.iter().any(|s| s.handle == *h))
            .unwrap_or(0)
    }

    // ----- RMCP+ -----

    fn handle_v20(
        &mut self,
        accounts: &dyn Accounts,
        datagram: &[u8],
        p: V20Packet<'_>,
        peer: Option<SocketAddr>,
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Event {
        if matches!(p.payload_type, payload::IPMI | payload::SOL) && p.session_id != 0 {
            return self.v20_session_packet(datagram, p, now_ms, rng);
        }
        Event::Done(match p.payload_type {
            payload::OPEN_SESSION_REQUEST | payload::RAKP1 | payload::RAKP3 => {
                if p.encrypted || p.authenticated || !p.trailer.is_empty() {
                    return Event::Done(drop_with(DropReason::WrongProtection, p.session_id));
                }
                match p.payload_type {
                    payload::OPEN_SESSION_REQUEST => {
                        self.open_session(p.payload, peer, now_ms, rng)
                    }
                    payload::RAKP1 => self.rakp1(accounts, p.payload, now_ms, rng),
                    _ => self.rakp3(accounts, p.payload, now_ms),
                }
            }
            payload::IPMI if p.session_id == 0 => {
                if p.encrypted || p.authenticated || !p.trailer.is_empty() {
                    return Event::Done(drop_with(DropReason::WrongProtection, 0));
                }
                let msg = match decode_request(p.payload) {
                    Ok(m) => m,
                    Err(r) => return Event::Done(drop_with(r, 0)),
                };
                let (completion, data) = if msg.netfn == netfn::APP
                    && matches!(
                        msg.cmd,
                        cmd::GET_CHANNEL_AUTH_CAPS | cmd::GET_CHANNEL_CIPHER_SUITES
                    ) {
                    self.sessionless(accounts, &msg, now_ms, rng)
                } else {
                    (cc::INSUFFICIENT_PRIVILEGE, Vec::new())
                };
                let rsp = msg.response(completion, &data).to_bytes();
                let reply = rmcp::encode_v20_unsigned(payload::IPMI, false, false, 0, 0, &rsp);
                Handled {
                    sol_activated: None,
                    replies: vec![reply],
                    record: command_record(RecordKind::Sessionless, &msg, completion, &data),
                }
            }
            // SOL outside a session.
            payload::SOL => drop_with(DropReason::UnknownSession(0), 0),
            other => drop_with(DropReason::UnexpectedPayload(other), p.session_id),
        })
    }

    fn open_session(
        &mut self,
        d: &[u8],
        peer: Option<SocketAddr>,
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Handled {
        let mut record = Record::new(RecordKind::OpenSession);
        if d.len() < 8 {
            return truncated("Open Session Request", 32, d.len());
        }
        let tag = d[0];
        let console_id = u32::from_le_bytes([d[4], d[5], d[6], d[7]]);
        let fail = |mut record: Record, st: u8| {
            record.status = Some(st);
            let reply = setup_reply(payload::OPEN_SESSION_RESPONSE, tag, st, 0, console_id, &[]);
            Handled::one(reply, record)
        };
        if d.len() != 32 {
            return fail(record, status::ILLEGAL_PARAMETER);
        }
        let req_priv = d[1] & 0x0F;
        if req_priv > Privilege::Administrator.to_u8() || console_id == 0 {
            return fail(record, status::INVALID_ROLE);
        }
        // Each algorithm record: type, 2 reserved, length (8, or 0 = "any"), algorithm.
        let alg = |off: usize, kind: u8| -> Result<Option<u8>, u8> {
            let r = &d[off..off + 8];
            if r[0] != kind {
                return Err(status::ILLEGAL_PARAMETER);
            }
            Ok(if r[3] == 0 { None } else { Some(r[4] & 0x3F) })
        };
        let (a, i, c) = match (alg(8, 0), alg(16, 1), alg(24, 2)) {
            (Ok(a), Ok(i), Ok(c)) => (a, i, c),
            _ => return fail(record, status::ILLEGAL_PARAMETER),
        };
        let substitute = self.config.defects.substitute_algorithms;
        let first_enabled = self.enabled_suites().into_iter().next();
        let a2 = match a.map(AuthAlg::from_u8) {
            Some(None) if !substitute => return fail(record, status::INVALID_AUTH_ALG),
            x => x.flatten(),
        };
        let i2 = match i.map(IntegrityAlg::from_u8) {
            Some(None) if !substitute => return fail(record, status::INVALID_INTEGRITY_ALG),
            x => x.flatten(),
        };
        let c2 = match c.map(ConfAlg::from_u8) {
            Some(None) if !substitute => return fail(record, status::INVALID_CONF_ALG),
            x => x.flatten(),
        };
        let matched = self.enabled_suites().into_iter().find(|s| {
            a2.is_none_or(|x| x == s.auth)
                && i2.is_none_or(|x| x == s.integrity)
                && c2.is_none_or(|x| x == s.conf)
        });
        let Some(suite) = matched.or(first_enabled.filter(|_| substitute)) else {
            return fail(record, status::NO_CIPHER_SUITE_MATCH);
        };
        record.suite = Some(suite.id);
        self.make_room();
        if self.sessions.len() >= self.config.session_limit {
            return fail(record, status::NO_RESOURCES);
        }
        // 0 asks for the highest level the algorithms allow: the channel limit.
        let max_priv = Privilege::from_u8(req_priv).unwrap_or(Privilege::Administrator);
        let id = self.fresh_session_id(rng);
        let handle = self.free_handle();
        self.sessions.push(Session {
            id,
            console_id,
            handle,
            proto: Proto::V20 {
                suite,
                stage: Stage::Opened,
            },
            user: None,
            max_priv,
            priv_: max_priv,
            rx: Window::new(RMCPP_WINDOW),
            tx_seq: 1,
            last_ms: now_ms,
            sol: None,
            peer,
        });
        record.session_id = id;
        record.privilege = Some(max_priv);
        record.status = Some(status::OK);
        let reported = if self.config.defects.echo_requested_privilege {
            req_priv
        } else {
            max_priv.to_u8()
        };
        let mut rest = id.to_le_bytes().to_vec();
        rest.extend_from_slice(&[0, 0, 0, 8, suite.auth.to_u8(), 0, 0, 0]);
        rest.extend_from_slice(&[1, 0, 0, 8, suite.integrity.to_u8(), 0, 0, 0]);
        rest.extend_from_slice(&[2, 0, 0, 8, suite.conf.to_u8(), 0, 0, 0]);
        let reply = setup_reply(
            payload::OPEN_SESSION_RESPONSE,
            tag,
            status::OK,
            reported,
            console_id,
            &rest,
        );
        Handled::one(reply, record)
    }

    fn rakp1(
        &mut self,
        accounts: &dyn Accounts,
        d: &[u8],
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Handled {
        if d.len() < 28 {
            return truncated("RAKP1", 28, d.len());
        }
        let tag = d[0];
        let sid = u32::from_le_bytes([d[4], d[5], d[6], d[7]]);
        let mut rm = [0u8; 16];
        rm.copy_from_slice(&d[8..24]);
        let role = d[24];
        let name_len = usize::from(d[27]);
        let mut record = Record::new(RecordKind::Rakp1).with_session(sid);
        let reply = |console_id: u32, st: u8, rest: &[u8]| {
            setup_reply(payload::RAKP2, tag, st, 0, console_id, rest)
        };
        let Some(idx) = self.sessions.iter().position(|s| s.id == sid) else {
            record.status = Some(status::INVALID_SESSION_ID);
            return Handled::one(reply(0, status::INVALID_SESSION_ID, &[]), record);
        };
        let console_id = self.sessions[idx].console_id;
        record.suite = self.sessions[idx].suite().map(|s| s.id);
        // A retransmitted RAKP1 gets the same RAKP2 again.
        if let Proto::V20 {
            stage: Stage::Rakp2Sent {
                rm: prev, rakp2, ..
            },
            ..
        } = &self.sessions[idx].proto
            && *prev == rm
        {
            record.status = Some(status::OK);
            record.user = self.sessions[idx].user_name();
            return Handled::one(rakp2.clone(), record);
        }
        let Proto::V20 {
            suite,
            stage: Stage::Opened,
        } = self.sessions[idx].proto.clone()
        else {
            record.status = Some(status::INACTIVE_SESSION_ID);
            return Handled::one(reply(console_id, status::INACTIVE_SESSION_ID, &[]), record);
        };
        let refuse = |this: &mut Bmc, st: u8, record: &mut Record| {
            record.status = Some(st);
            this.sessions.remove(idx);
            reply(console_id, st, &[])
        };
        if name_len > 16 || d.len() != 28 + name_len {
            let r = refuse(self, status::INVALID_NAME_LENGTH, &mut record);
            return Handled::one(r, record);
        }
        let name = &d[28..28 + name_len];
        record.user = Some(String::from_utf8_lossy(name).into_owned());
        let Some(requested) = Privilege::from_u8(role & 0x0F) else {
            let r = refuse(self, status::INVALID_ROLE, &mut record);
            return Handled::one(r, record);
        };
        record.privilege = Some(requested);
        let user = if name.is_empty() && !self.config.allow_anonymous {
            None
        } else {
            accounts.user_by_name(name).filter(|u| u.enabled)
        };
        let Some(user) = user else {
            let r = refuse(self, status::UNAUTHORIZED_NAME, &mut record);
            return Handled::one(r, record);
        };
        let above_account =
            requested > user.max_privilege && !self.limit_ignored(user.max_privilege);
        if above_account || requested > self.sessions[idx].max_priv {
            let r = refuse(self, status::UNAUTHORIZED_ROLE, &mut record);
            return Handled::one(r, record);
        }
        let mut rc = [0u8; 16];
        rng.fill_bytes(&mut rc);
        let guid = accounts.guid();
        let params = RakpParams {
            auth: suite.auth,
            console_sid: console_id,
            bmc_sid: sid,
            rm: &rm,
            rc: &rc,
            guid: &guid,
            role,
            name,
        };
        let code = params.rakp2(crypto::kuid(&user.password));
        let mut rest = rc.to_vec();
        rest.extend_from_slice(&guid);
        rest.extend_from_slice(&code);
        let rakp2 = reply(console_id, status::OK, &rest);
        let s = &mut self.sessions[idx];
        s.user = Some(user);
        s.max_priv = requested;
        s.priv_ = requested;
        s.last_ms = now_ms;
        s.proto = Proto::V20 {
            suite,
            stage: Stage::Rakp2Sent {
                rm,
                rc,
                role,
                rakp2: rakp2.clone(),
            },
        };
        record.status = Some(status::OK);
        Handled::one(rakp2, record)
    }

    fn rakp3(&mut self, accounts: &dyn Accounts, d: &[u8], now_ms: u64) -> Handled {
        if d.len() < 8 {
            return truncated("RAKP3", 8, d.len());
        }
        let tag = d[0];
        let console_status = d[1];
        let sid = u32::from_le_bytes([d[4], d[5], d[6], d[7]]);
        let code = &d[8..];
        let mut record = Record::new(RecordKind::Rakp3).with_session(sid);
        let reply = |console_id: u32, st: u8, icv: &[u8]| {
            setup_reply(payload::RAKP4, tag, st, 0, console_id, icv)
        };
        let Some(idx) = self.sessions.iter().position(|s| s.id == sid) else {
            record.status = Some(status::INVALID_SESSION_ID);
            return Handled::one(reply(0, status::INVALID_SESSION_ID, &[]), record);
        };
        let s = &self.sessions[idx];
        let console_id = s.console_id;
        record.user = s.user_name();
        record.suite = s.suite().map(|x| x.id);
        record.privilege = Some(s.priv_);
        if console_status != status::OK {
            self.sessions.remove(idx);
            record.kind = RecordKind::Dropped {
                reason: DropReason::ConsoleAbort(console_status),
            };
            record.status = Some(console_status);
            return Handled {
                sol_activated: None,
                replies: Vec::new(),
                record,
            };
        }
        let (suite, rm, rc, role) = match &s.proto {
            Proto::V20 {
                stage: Stage::Active {
                    rakp3_code, rakp4, ..
                },
                ..
            } if crypto::ct_eq(rakp3_code, code) => {
                // A retransmitted RAKP3: answer with the same RAKP4.
                record.status = Some(status::OK);
                return Handled::one(rakp4.clone(), record);
            }
            Proto::V20 {
                suite,
                stage: Stage::Rakp2Sent { rm, rc, role, .. },
            } => (*suite, *rm, *rc, *role),
            _ => {
                record.status = Some(status::INACTIVE_SESSION_ID);
                return Handled::one(reply(console_id, status::INACTIVE_SESSION_ID, &[]), record);
            }
        };
        let user = s.user.clone().unwrap_or(UserRecord {
            id: 0,
            name: Vec::new(),
            password: Vec::new(),
            max_privilege: Privilege::Callback,
            enabled: false,
        });
        let guid = accounts.guid();
        let params = RakpParams {
            auth: suite.auth,
            console_sid: console_id,
            bmc_sid: sid,
            rm: &rm,
            rc: &rc,
            guid: &guid,
            role,
            name: &user.name,
        };
        let kuid = crypto::kuid(&user.password);
        if !crypto::ct_eq(&params.rakp3(kuid), code) {
            self.sessions.remove(idx);
            record.status = Some(status::INVALID_INTEGRITY_CHECK);
            return Handled::one(
                reply(console_id, status::INVALID_INTEGRITY_CHECK, &[]),
                record,
            );
        }
        let kg = self.config.kg.clone();
        let sik = params.sik(kg.as_deref().unwrap_or(kuid));
        let icv = params.rakp4(&sik);
        let rakp4 = reply(console_id, status::OK, &icv);
        let s = &mut self.sessions[idx];
        // Sessions start at User level (or lower); Set Session Privilege raises them.
        s.priv_ = s.max_priv.min(Privilege::User);
        s.last_ms = now_ms;
        s.proto = Proto::V20 {
            suite,
            stage: Stage::Active {
                keys: SessionKeys::derive(suite, sik),
                rakp3_code: code.to_vec(),
                rakp4: rakp4.clone(),
            },
        };
        record.status = Some(status::OK);
        record.privilege = Some(s.priv_);
        Handled::one(rakp4, record)
    }

    fn v20_session_packet(
        &mut self,
        datagram: &[u8],
        p: V20Packet<'_>,
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Event {
        let sid = p.session_id;
        let Some(idx) = self.sessions.iter().position(|s| s.id == sid) else {
            return Event::Done(drop_with(DropReason::UnknownSession(sid), sid));
        };
        let keys = match &self.sessions[idx].proto {
            Proto::V20 {
                stage: Stage::Active { keys, .. },
                ..
            } => keys.clone(),
            Proto::V20 { .. } => {
                return Event::Done(drop_with(DropReason::InactiveSession(sid), sid));
            }
            Proto::V15 { .. } => return Event::Done(drop_with(DropReason::WrongProtection, sid)),
        };
        let suite = keys.suite;
        let want_auth = suite.integrity != IntegrityAlg::None;
        let want_enc = suite.conf != ConfAlg::None;
        if p.authenticated != want_auth || p.encrypted != want_enc {
            return Event::Done(drop_with(DropReason::WrongProtection, sid));
        }
        if want_auth {
            let (covered, code) =
                match rmcp::split_trailer(datagram, p.trailer_offset, suite.integrity.code_len()) {
                    Ok(x) => x,
                    Err(e) => return Event::Done(drop_with(DropReason::Frame(e), sid)),
                };
            if !keys.verify(covered, code) && !self.config.defects.skip_integrity_check {
                return Event::Done(drop_with(DropReason::BadAuthCode, sid));
            }
        } else if !p.trailer.is_empty() {
            return Event::Done(drop_with(
                DropReason::Frame(FrameError::TrailingBytes(p.trailer.len())),
                sid,
            ));
        }
        // Unauthenticated sessions carry no protected sequence numbers to track.
        if want_auth {
            if let Err(r) = self.sessions[idx].rx.check(p.seq) {
                if !self.config.defects.accept_replays {
                    return Event::Done(drop_with(r, sid));
                }
            }
        }
        let plain = if want_enc {
            match crypto::aes_decrypt(&keys.aes_key(), p.payload) {
                Ok(x) => x,
                Err(e) => return Event::Done(drop_with(DropReason::Decrypt(e), sid)),
            }
        } else {
            p.payload.to_vec()
        };
        if p.payload_type == payload::SOL {
            if want_auth {
                self.sessions[idx].rx.accept(p.seq);
            }
            return self.sol_packet(idx, &keys, &plain, now_ms, rng);
        }
        let msg = match decode_request(&plain) {
            Ok(m) => m,
            Err(r) => return Event::Done(drop_with(r, sid)),
        };
        self.decision(
            idx,
            msg,
            want_auth.then_some(p.seq),
            now_ms,
            Form::V20,
            RecordKind::Rmcpp,
        )
    }

    fn sol_output(
        &mut self,
        idx: usize,
        keys: &SessionKeys,
        ack: u8,
        accepted: u8,
        data: &[u8],
        rng: &mut dyn RngCore,
    ) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![&[][..]]
        } else {
            data.chunks(SOL_CHUNK).collect()
        };
        for (n, chunk) in chunks.into_iter().enumerate() {
            let s = &mut self.sessions[idx];
            let seq = if chunk.is_empty() {
                0
            } else {
                let sol = s.sol.get_or_insert(SolState {
                    out_seq: 0,
                    last_in: 0,
                });
                sol.out_seq = sol.out_seq % 15 + 1;
                sol.out_seq
            };
            let (a, c) = if n == 0 { (ack, accepted) } else { (0, 0) };
            let mut pkt = vec![seq, a, c, 0];
            pkt.extend_from_slice(chunk);
            out.push(seal_v20(s, keys, payload::SOL, &pkt, rng));
        }
        out
    }

    fn sol_packet(
        &mut self,
        idx: usize,
        keys: &SessionKeys,
        plain: &[u8],
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Event {
        let sid = self.sessions[idx].id;
        if plain.len() < 4 || self.sessions[idx].sol.is_none() {
            return Event::Done(drop_with(DropReason::SolInactive, sid));
        }
        self.sessions[idx].last_ms = now_ms;
        let seq = plain[0] & 0x0F;
        let data = &plain[4..];
        let mut record = self.sessions[idx].record(RecordKind::Sol);
        record.request = data.to_vec();
        if seq == 0 {
            // An acknowledgement only: nothing to answer.
            return Event::Done(Handled {
                sol_activated: None,
                replies: Vec::new(),
                record,
            });
        }
        let accepted = data.len().min(255) as u8;
        let last_in = self.sessions[idx].sol.as_ref().map_or(0, |s| s.last_in);
        // A retransmission is acknowledged again but delivered once.
        if seq != last_in {
            if let Some(sol) = self.sessions[idx].sol.as_mut() {
                sol.last_in = seq;
            }
            if !data.is_empty() {
                return Event::Sol(SolInput {
                    record,
                    session: sid,
                    ack: seq,
                    accepted,
                    now_ms,
                });
            }
        }
        let replies = self.sol_output(idx, keys, seq, accepted, &[], rng);
        Event::Done(Handled {
            sol_activated: None,
            replies,
            record,
        })
    }

    // ----- commands inside a session -----

    /// Answers a command of the session layer's own ([`is_session_command`]) in a
    /// session, carrying out its effect (closes wait in the returned [`After`]).
    fn session_command(&mut self, idx: usize, msg: &Message) -> (u8, Vec<u8>, After) {
        let mut after = After::default();
        let priv_ = self.sessions[idx].priv_;
        let need = |p: Privilege| priv_ >= p;
        // The command table's lowest privilege (checked for Get Session Info and the
        // payload commands; the login and privilege commands are open to any level).
        let min = commands::lookup(msg.netfn, msg.cmd).map_or(Privilege::User, |c| c.privilege);
        let d = &msg.data;
        if msg.netfn == netfn::APP {
            let r = match msg.cmd {
                cmd::GET_CHANNEL_AUTH_CAPS => Some(self.auth_caps(d)),
                cmd::GET_CHANNEL_CIPHER_SUITES => Some(self.cipher_suites(d)),
                cmd::GET_SESSION_CHALLENGE | cmd::ACTIVATE_SESSION => {
                    Some((cc::NOT_SUPPORTED_IN_STATE, Vec::new()))
                }
                cmd::SET_SESSION_PRIVILEGE => Some(self.set_privilege(idx, d)),
                cmd::CLOSE_SESSION => Some(self.close_cmd(idx, d, &mut after)),
                cmd::GET_SESSION_INFO if !need(min) => {
                    Some((cc::INSUFFICIENT_PRIVILEGE, Vec::new()))
                }
                cmd::GET_SESSION_INFO => Some(self.session_info(idx, d)),
                cmd::ACTIVATE_PAYLOAD
                | cmd::DEACTIVATE_PAYLOAD
                | cmd::PAYLOAD_ACTIVATION_STATUS
                | cmd::PAYLOAD_INSTANCE_INFO
                | cmd::CHANNEL_PAYLOAD_VERSION
                    if !self.config.sol =>
                {
                    // A BMC without Serial over LAN implements no payload commands.
                    Some((cc::INVALID_COMMAND, Vec::new()))
                }
                cmd::ACTIVATE_PAYLOAD
                | cmd::DEACTIVATE_PAYLOAD
                | cmd::PAYLOAD_ACTIVATION_STATUS
                | cmd::PAYLOAD_INSTANCE_INFO
                | cmd::CHANNEL_PAYLOAD_SUPPORT
                | cmd::CHANNEL_PAYLOAD_VERSION
                    if !need(min) =>
                {
                    Some((cc::INSUFFICIENT_PRIVILEGE, Vec::new()))
                }
                cmd::ACTIVATE_PAYLOAD => Some(self.activate_payload(idx, d, &mut after)),
                cmd::DEACTIVATE_PAYLOAD => Some(self.deactivate_payload(idx, d)),
                cmd::PAYLOAD_ACTIVATION_STATUS => Some(self.payload_status(d)),
                cmd::PAYLOAD_INSTANCE_INFO => Some(self.payload_instance(d)),
                cmd::CHANNEL_PAYLOAD_SUPPORT => Some(if d.len() != 1 {
                    (cc::DATA_LENGTH_INVALID, Vec::new())
                } else if !self.channel_ok(d[0]) {
                    (cc::INVALID_DATA_FIELD, Vec::new())
                } else {
                    // Standard payloads: bit 0 IPMI, bit 1 SOL; session setup payloads
                    // 0x10-0x15 in the second byte.
                    let standard = if self.config.sol { 0x03 } else { 0x01 };
                    (cc::OK, vec![standard, 0x3F, 0, 0, 0, 0, 0, 0])
                }),
                cmd::CHANNEL_PAYLOAD_VERSION => Some(if d.len() != 2 {
                    (cc::DATA_LENGTH_INVALID, Vec::new())
                } else if !self.channel_ok(d[0]) {
                    (cc::INVALID_DATA_FIELD, Vec::new())
                } else if matches!(d[1], 0x00 | 0x01 | 0x10..=0x15) {
                    (cc::OK, vec![0x10])
                } else {
                    (0x80, Vec::new())
                }),
                _ => None,
            };
            if let Some((c, data)) = r {
                return (c, data, after);
            }
        }
        // Not a session-layer command after all (is_session_command and this match
        // disagree): what a BMC answers for a command it does not implement.
        (cc::INVALID_COMMAND, Vec::new(), after)
    }

    /// Apply the session closes a command asked for, after its reply is sealed.
    fn finish(&mut self, idx: usize, after: &After) {
        let own = self.sessions[idx].id;
        if let Some(other) = after.close_other {
            self.sessions.retain(|s| s.id != other);
        }
        if after.close_self {
            self.sessions.retain(|s| s.id != own);
        }
    }

    fn set_privilege(&mut self, idx: usize, d: &[u8]) -> (u8, Vec<u8>) {
        if d.len() != 1 {
            return (cc::DATA_LENGTH_INVALID, Vec::new());
        }
        let ignored = self.sessions[idx]
            .user
            .as_ref()
            .is_some_and(|u| self.limit_ignored(u.max_privilege));
        let s = &mut self.sessions[idx];
        let v = d[0] & 0x0F;
        if v == 0 {
            return (cc::OK, vec![s.priv_.to_u8()]);
        }
        let Some(p) = Privilege::from_u8(v) else {
            return (cc::INVALID_DATA_FIELD, Vec::new());
        };
        if p == Privilege::Oem {
            return (0x80, Vec::new());
        }
        let user_max = s
            .user
            .as_ref()
            .map_or(Privilege::Callback, |u| u.max_privilege);
        if (p > s.max_priv || p > user_max) && !ignored {
            return (0x81, Vec::new());
        }
        s.priv_ = p;
        (cc::OK, vec![p.to_u8()])
    }

    fn close_cmd(&mut self, idx: usize, d: &[u8], after: &mut After) -> (u8, Vec<u8>) {
        if d.len() != 4 && d.len() != 5 {
            return (cc::DATA_LENGTH_INVALID, Vec::new());
        }
        let id = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
        let target = if id == 0 {
            let Some(h) = d.get(4) else {
                return (0x88, Vec::new());
            };
            match self.sessions.iter().position(|s| s.handle == *h) {
                Some(t) => t,
                None => return (0x88, Vec::new()),
            }
        } else {
            match self.sessions.iter().position(|s| s.id == id) {
                Some(t) => t,
                None => return (0x87, Vec::new()),
            }
        };
        if target == idx {
            after.close_self = true;
            return (cc::OK, Vec::new());
        }
        if self.sessions[idx].priv_ < Privilege::Administrator {
            return (cc::INSUFFICIENT_PRIVILEGE, Vec::new());
        }
        after.close_other = Some(self.sessions[target].id);
        (cc::OK, Vec::new())
    }

    fn session_info(&self, idx: usize, d: &[u8]) -> (u8, Vec<u8>) {
        let Some(&index) = d.first() else {
            return (cc::DATA_LENGTH_INVALID, Vec::new());
        };
        let active: Vec<&Session> = {
            let mut v: Vec<&Session> = self.sessions.iter().filter(|s| s.active()).collect();
            v.sort_by_key(|s| s.handle);
            v
        };
        let found = match index {
            0x00 => Some(&self.sessions[idx]),
            0xFF => {
                if d.len() != 5 {
                    return (cc::DATA_LENGTH_INVALID, Vec::new());
                }
                let id = u32::from_le_bytes([d[1], d[2], d[3], d[4]]);
                active.iter().copied().find(|s| s.id == id)
            }
            0xFE => {
                if d.len() != 2 {
                    return (cc::DATA_LENGTH_INVALID, Vec::new());
                }
                active.iter().copied().find(|s| s.handle == d[1])
            }
            n => active.get(usize::from(n) - 1).copied(),
        };
        let limit = self.config.session_limit.min(63) as u8;
        let mut out = vec![0, limit, active.len().min(63) as u8];
        if let Some(s) = found {
            out[0] = s.handle;
            out.push(s.user.as_ref().map_or(0, |u| u.id) & 0x3F);
            out.push(s.priv_.to_u8());
            let proto = match s.proto {
                Proto::V15 { .. } => 0,
                Proto::V20 { .. } => 1,
            };
            out.push((proto << 4) | (self.config.channel & 0x0F));
            let (ip, port) = match s.peer {
                Some(SocketAddr::V4(a)) => (a.ip().octets(), a.port()),
                _ => ([0; 4], 0),
            };
            out.extend_from_slice(&ip);
            out.extend_from_slice(&[0; 6]);
            out.extend_from_slice(&port.to_le_bytes()); // LS byte first, as ipmitool reads it
        }
        (cc::OK, out)
    }

    fn sol_owner(&self) -> Option<usize> {
        self.sessions.iter().position(|s| s.sol.is_some())
    }

    fn activate_payload(&mut self, idx: usize, d: &[u8], after: &mut After) -> (u8, Vec<u8>) {
        if d.len() != 6 {
            return (cc::DATA_LENGTH_INVALID, Vec::new());
        }
        if d[0] & 0x3F != payload::SOL || d[1] & 0x0F != 1 {
            return (cc::INVALID_DATA_FIELD, Vec::new());
        }
        let Some(suite) = self.sessions[idx].suite() else {
            return (cc::NOT_SUPPORTED_IN_STATE, Vec::new());
        };
        if self.sol_owner().is_some() {
            return (0x80, Vec::new());
        }
        if d[2] & 0x80 != 0 && suite.conf == ConfAlg::None {
            return (0x83, Vec::new());
        }
        self.sessions[idx].sol = Some(SolState {
            out_seq: 0,
            last_in: 0,
        });
        after.sol_activated = true;
        let mut out = vec![0, 0, 0, 0];
        out.extend_from_slice(&255u16.to_le_bytes()); // inbound payload size
        out.extend_from_slice(&255u16.to_le_bytes()); // outbound payload size
        out.extend_from_slice(&self.config.port.to_le_bytes());
        out.extend_from_slice(&0xFFFFu16.to_le_bytes()); // no VLAN
        (cc::OK, out)
    }

    fn deactivate_payload(&mut self, idx: usize, d: &[u8]) -> (u8, Vec<u8>) {
        if d.len() != 6 {
            return (cc::DATA_LENGTH_INVALID, Vec::new());
        }
        if d[0] & 0x3F != payload::SOL || d[1] & 0x0F != 1 {
            return (cc::INVALID_DATA_FIELD, Vec::new());
        }
        match self.sol_owner() {
            None => (0x80, Vec::new()),
            Some(o) if o == idx || self.sessions[idx].priv_ >= Privilege::Administrator => {
                self.sessions[o].sol = None;
                (cc::OK, Vec::new())
            }
            Some(_) => (cc::INSUFFICIENT_PRIVILEGE, Vec::new()),
        }
    }

    fn payload_status(&self, d: &[u8]) -> (u8, Vec<u8>) {
        if d.len() != 1 {
            return (cc::DATA_LENGTH_INVALID, Vec::new());
        }
        if d[0] & 0x3F != payload::SOL {
            return (cc::INVALID_DATA_FIELD, Vec::new());
        }
        (cc::OK, vec![1, u8::from(self.sol_owner().is_some()), 0])
    }

    fn payload_instance(&self, d: &[u8]) -> (u8, Vec<u8>) {
        if d.len() != 2 {
            return (cc::DATA_LENGTH_INVALID, Vec::new());
        }
        if d[0] & 0x3F != payload::SOL || d[1] & 0x0F != 1 {
            return (cc::INVALID_DATA_FIELD, Vec::new());
        }
        let id = self.sol_owner().map_or(0, |o| self.sessions[o].id);
        let mut out = id.to_le_bytes().to_vec();
        out.push(u8::from(id != 0)); // SOL: serial port number
        out.extend_from_slice(&[0; 7]);
        (cc::OK, out)
    }
}

/// Seal a payload for an RMCP+ session: encrypt, frame with the BMC's next sequence
/// number and the console's session ID, sign.
/// The payload of an RMCP+ session packet under `keys`, for either side: (encrypted,
/// authenticated, body), the body AES-CBC encrypted with a fresh IV when the suite
/// has a confidentiality algorithm.
pub(crate) fn seal_body(
    keys: &SessionKeys,
    plain: &[u8],
    rng: &mut dyn RngCore,
) -> (bool, bool, Vec<u8>) {
    let suite = keys.suite;
    let enc = suite.conf != ConfAlg::None;
    let auth = suite.integrity != IntegrityAlg::None;
    let body = if enc {
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut iv);
        crypto::aes_encrypt(&keys.aes_key(), &iv, plain)
    } else {
        plain.to_vec()
    };
    (enc, auth, body)
}

fn seal_v20(
    s: &mut Session,
    keys: &SessionKeys,
    payload_type: u8,
    plain: &[u8],
    rng: &mut dyn RngCore,
) -> Vec<u8> {
    let (enc, auth, body) = seal_body(keys, plain, rng);
    let seq = if auth { s.next_tx_seq() } else { 0 };
    let mut d = rmcp::encode_v20_unsigned(payload_type, enc, auth, s.console_id, seq, &body);
    if auth {
        let code = keys.auth_code(&d[4..]);
        d.extend_from_slice(&code);
    }
    d
}

/// A session-setup message too short to read: dropped.
fn truncated(what: &'static str, need: usize, have: usize) -> Handled {
    drop_with(
        DropReason::Frame(FrameError::Truncated { what, need, have }),
        0,
    )
}

/// An unsigned session-setup answer (Open Session Response, RAKP2, RAKP4): the
/// message tag, the status, `byte2` (the privilege in an Open Session Response,
/// otherwise reserved), a reserved byte, the console's session ID, then `rest`.
fn setup_reply(payload: u8, tag: u8, st: u8, byte2: u8, console_id: u32, rest: &[u8]) -> Vec<u8> {
    let mut out = vec![tag, st, byte2, 0];
    out.extend_from_slice(&console_id.to_le_bytes());
    out.extend_from_slice(rest);
    rmcp::encode_v20_unsigned(payload, false, false, 0, 0, &out)
}

fn drop_with(reason: DropReason, session_id: u32) -> Handled {
    Handled {
        sol_activated: None,
        replies: Vec::new(),
        record: Record::dropped(reason).with_session(session_id),
    }
}

fn decode_request(b: &[u8]) -> Result<Message, DropReason> {
    let m = Message::decode(b).map_err(DropReason::Message)?;
    if m.is_response() {
        return Err(DropReason::NotARequest);
    }
    Ok(m)
}

fn command_record(kind: RecordKind, msg: &Message, completion: u8, data: &[u8]) -> Record {
    let mut r = Record::new(kind);
    r.netfn = Some(msg.netfn);
    r.cmd = Some(msg.cmd);
    r.request = msg.data.clone();
    r.completion = Some(completion);
    r.response = data.to_vec();
    r
}

fn nonzero_u32(rng: &mut dyn RngCore) -> u32 {
    loop {
        let v = rng.next_u32();
        if v != 0 {
            return v;
        }
    }
}

/// A 16-byte IPMI 1.5 user name field without its trailing zeros.
fn trim_name(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|c| *c != 0).map_or(0, |i| i + 1);
    &b[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the window must do, kept the slow way: every accepted number remembered.
    struct Model {
        size: u32,
        highest: Option<u32>,
        accepted: std::collections::HashSet<u32>,
    }

    impl Model {
        fn ok(&self, seq: u32) -> bool {
            if seq == 0 {
                return false;
            }
            let Some(h) = self.highest else {
                return true;
            };
            let ahead = seq.wrapping_sub(h);
            let behind = h.wrapping_sub(seq);
            (ahead != 0 && ahead <= self.size)
                || (behind < self.size && !self.accepted.contains(&seq))
        }

        fn accept(&mut self, seq: u32) {
            self.accepted.insert(seq);
            match self.highest {
                Some(h) if !(1..=self.size).contains(&seq.wrapping_sub(h)) => {}
                _ => self.highest = Some(seq),
            }
        }
    }

    proptest! {
        /// Any packet of the window, not only the newest, is refused when it comes
        /// again; a late packet never moves the window back; numbers far ahead or
        /// behind are out of the window. Sequences start anywhere (wrap included).
        #[test]
        fn the_window_refuses_every_replay_and_nothing_else(
            size in prop::sample::select(vec![8u32, 16, 32]),
            base in any::<u32>(),
            steps in prop::collection::vec(-40i64..=40, 1..200),
        ) {
            let mut w = Window::new(size);
            let mut m = Model { size, highest: None, accepted: Default::default() };
            let mut cur = base;
            for d in steps {
                let seq = (i64::from(cur) + d).rem_euclid(1 << 32) as u32;
                let ok = w.check(seq).is_ok();
                prop_assert_eq!(ok, m.ok(seq), "seq {} (highest {:?})", seq, m.highest);
                if ok {
                    w.accept(seq);
                    m.accept(seq);
                    cur = m.highest.unwrap_or(seq);
                }
            }
        }
    }

    #[test]
    fn window_accepts_in_order_and_refuses_replays() {
        let mut w = Window::new(16);
        assert!(w.check(0).is_err());
        for s in 1..=40 {
            assert!(w.check(s).is_ok(), "{s}");
            w.accept(s);
            assert_eq!(w.check(s), Err(DropReason::Replay(s)));
        }
        assert_eq!(w.check(40 + 17), Err(DropReason::OutOfWindow(57)));
        assert!(w.check(40 + 16).is_ok());
        assert_eq!(w.check(40 - 16), Err(DropReason::OutOfWindow(24)));
        // A late packet inside the window is accepted once.
        w.accept(45);
        assert!(w.check(44).is_ok());
        w.accept(44);
        assert_eq!(w.check(44), Err(DropReason::Replay(44)));
    }
}
