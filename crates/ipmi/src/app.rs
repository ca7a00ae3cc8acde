//! The contract between the BMC session layer ([`crate::session`]) and the application
//! that answers commands inside a session (in the mock: the simulated machine).
//!
//! The session layer owns everything about sessions: sessionless Get Channel
//! Authentication Capabilities and Get Channel Cipher Suites, Get Session Challenge,
//! Activate Session, Set Session Privilege, Close Session, Get Session Info, payload
//! activation for Serial over LAN, the RMCP+ handshake. Every other command is handed
//! to [`Application::handle`] with the session's user and current privilege; the
//! application enforces per-command privilege (answering
//! [`crate::codes::cc::INSUFFICIENT_PRIVILEGE`]) and answers
//! [`crate::codes::cc::INVALID_COMMAND`] for what it does not implement.

use crate::codes::Privilege;

/// A user as the session layer needs it to run a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user ID (1..=63; 1 is the anonymous/null user).
    pub id: u8,
    /// The user name as on the wire (at most 16 bytes; empty for the null user).
    pub name: Vec<u8>,
    /// The password (at most 20 bytes; Kuid of RMCP+ and the IPMI 1.5 key).
    pub password: Vec<u8>,
    /// The highest privilege this user may have on the LAN channel.
    pub max_privilege: Privilege,
    /// Whether the user may log in at all.
    pub enabled: bool,
}

/// The session a command arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionView<'a> {
    /// The BMC's session ID.
    pub id: u32,
    /// The session handle (Get Session Info).
    pub handle: u8,
    /// The logged-in user's ID.
    pub user_id: u8,
    /// The logged-in user's name.
    pub user: &'a [u8],
    /// The session's current privilege level.
    pub privilege: Privilege,
    /// The channel (the LAN channel number).
    pub channel: u8,
}

/// A command for the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// Request NetFn (even).
    pub netfn: u8,
    /// Command number.
    pub cmd: u8,
    /// Responder LUN.
    pub lun: u8,
    /// Request data (after the command byte, without the trailing checksum).
    pub data: &'a [u8],
    /// The session (None only for commands the session layer lets through
    /// sessionless, which it answers itself, so in practice always Some).
    pub session: Option<SessionView<'a>>,
}

/// The application's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Completion code.
    pub completion: u8,
    /// Response data after the completion code.
    pub data: Vec<u8>,
}

impl Response {
    /// A successful answer.
    pub fn ok(data: Vec<u8>) -> Response {
        Response {
            completion: crate::codes::cc::OK,
            data,
        }
    }

    /// An answer with only a completion code.
    pub fn cc(completion: u8) -> Response {
        Response {
            completion,
            data: Vec::new(),
        }
    }
}

/// The read-only lookups the session layer makes while it runs a login (Get Session
/// Challenge, Activate Session, RAKP 1 and 3): it never executes anything through
/// them. Every [`Application`] is one.
pub trait Accounts {
    /// Look up a user by name (may be empty: the null user).
    fn user_by_name(&self, name: &[u8]) -> Option<UserRecord>;
    /// Look up a user by ID.
    fn user_by_id(&self, id: u8) -> Option<UserRecord>;
    /// The system GUID (RAKP 2 / RAKP 4).
    fn guid(&self) -> [u8; 16];
}

impl<T: Application + ?Sized> Accounts for T {
    fn user_by_name(&self, name: &[u8]) -> Option<UserRecord> {
        Application::user_by_name(self, name)
    }
    fn user_by_id(&self, id: u8) -> Option<UserRecord> {
        Application::user_by_id(self, id)
    }
    fn guid(&self) -> [u8; 16] {
        Application::guid(self)
    }
}

/// What answers commands inside sessions, and what the session layer asks of the
/// managed system. The session layer itself only takes [`Accounts`] and hands commands
/// and Serial over LAN input back to its caller (see [`crate::session::Event`]);
/// [`crate::session::Bmc::handle`] drives both phases with an `Application`.
pub trait Application {
    /// Look up a user by name for a login (RAKP 1 / Activate Session). `name` may be
    /// empty (the null user).
    fn user_by_name(&self, name: &[u8]) -> Option<UserRecord>;
    /// Look up a user by ID (IPMI 1.5 logins and Get Session Info).
    fn user_by_id(&self, id: u8) -> Option<UserRecord>;
    /// The system GUID (RAKP 2 / RAKP 4 and Get System GUID).
    fn guid(&self) -> [u8; 16];
    /// Answer one command.
    fn handle(&mut self, req: &Request<'_>, now_ms: u64) -> Response;
    /// Serial over LAN: characters typed at the remote console (already acknowledged by
    /// the session layer); returns what the serial port prints back.
    fn sol_input(&mut self, session: u32, data: &[u8], now_ms: u64) -> Vec<u8>;
    /// Serial over LAN: the payload was activated; returns what the console shows first
    /// (a banner or prompt; may be empty).
    fn sol_activated(&mut self, session: u32, now_ms: u64) -> Vec<u8>;
}
