//! IPMI over LAN in the engine: the target options, discovery (presence ping and
//! authentication capabilities), IPMI sessions of a case, the data-driven `op = "ipmi"`
//! step and the decrypted packet transcripts in the report.
//!
//! A case whose ID starts with `ipmi.` needs an IPMI target, `cross.` needs both an IPMI
//! and a WS-Man target, anything else a WS-Man target; a case whose target was not given
//! is skipped with that reason. IPMI requirements (`requires`) are `ipmi:operator` and
//! `ipmi:user` (credentials of an operator / a user-level account were given),
//! `ipmi:md5` (the BMC offers IPMI 1.5 MD5), `ipmi:idle-wait` (an idle-timeout wait
//! short enough for the deadline was given).

use std::collections::BTreeMap;
use std::time::Duration;

use client::ipmi::{IpmiError, IpmiSession, IpmiTarget, LoginInfo, Packet, Reply};
use ipmi::codes::Privilege;
use ipmi::commands::id;
use ipmi::console::SuiteChoice;
use ipmi::rmcp::AuthType;
use rand::RngCore as _;

use crate::case::{Expect, RequestSpec, Step};
use crate::code::{Ctx, Finding};
use crate::eval::Mismatch;
use crate::report::WireLeg;

/// The IPMI side of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiOptions {
    /// The BMC and the administrator's credentials.
    pub target: IpmiTarget,
    /// An operator-level account (user, password), for privilege cases.
    pub operator: Option<(String, String)>,
    /// A user-level account, for privilege cases.
    pub user: Option<(String, String)>,
    /// How long a case waits to conclude that a packet was dropped.
    pub silence: Duration,
    /// What "promptly" means (sessionless queries, 0xC1 for unknown commands).
    pub prompt: Duration,
    /// How long to stay idle before checking that the session timed out (the target's
    /// idle timeout plus a margin); `None` skips the idle-timeout case.
    pub idle_wait: Option<Duration>,
}

impl IpmiOptions {
    /// Options for `target` with the defaults: no second accounts, 500 ms of silence,
    /// 1 s for "promptly", no idle wait.
    pub fn new(target: IpmiTarget) -> IpmiOptions {
        IpmiOptions {
            target,
            operator: None,
            user: None,
            silence: Duration::from_millis(500),
            prompt: Duration::from_millis(1000),
            idle_wait: None,
        }
    }
}

/// Which account a session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The administrator (`--ipmi-user`).
    Admin,
    /// The operator account.
    Operator,
    /// The user-level account.
    User,
}

impl Role {
    fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" | "administrator" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            "user" => Some(Role::User),
            _ => None,
        }
    }

    /// The account's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "administrator",
            Role::Operator => "operator",
            Role::User => "user-level",
        }
    }

    /// The privilege this role logs in with by default.
    pub fn privilege(self) -> Privilege {
        match self {
            Role::Admin => Privilege::Administrator,
            Role::Operator => Privilege::Operator,
            Role::User => Privilege::User,
        }
    }
}

fn parse_privilege(s: &str) -> Option<Privilege> {
    match s {
        "callback" => Some(Privilege::Callback),
        "user" => Some(Privilege::User),
        "operator" => Some(Privilege::Operator),
        "administrator" | "admin" => Some(Privilege::Administrator),
        _ => None,
    }
}

/// Which target a case needs, from its ID.
pub fn needs(id: &str) -> (bool, bool) {
    if id.starts_with("ipmi.") {
        (false, true)
    } else if id.starts_with("cross.") {
        (true, true)
    } else {
        (true, false)
    }
}

/// Whether `r` is an IPMI requirement the loader accepts.
pub fn valid_requirement(r: &str) -> bool {
    matches!(
        r,
        "ipmi:operator" | "ipmi:user" | "ipmi:md5" | "ipmi:ipmi15" | "ipmi:idle-wait" | "ipmi:sol"
    ) || r
        .strip_prefix("ipmi:")
        .is_some_and(|k| ipmi::spec::Device::ALL.iter().any(|d| d.key() == k))
}

/// What discovery learnt of a BMC: the facts verdicts rest on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpmiCaps {
    /// Get Device ID's additional device support byte (`None`: not answered).
    pub devices: Option<u8>,
    /// Whether the LAN channel lists the SOL payload (`None`: not asked or not answered).
    pub sol: Option<bool>,
    /// The cipher suite IDs the channel lists.
    pub suites: Vec<u8>,
    /// The IPMI 1.5 authentication type support byte of Get Channel Authentication
    /// Capabilities (bit 0 none, 1 MD2, 2 MD5, 4 straight password, 5 OEM).
    pub ipmi15_auth: u8,
    /// Optional commands (NetFn, cmd) the BMC answered 0xC1 (invalid command).
    pub invalid: std::collections::BTreeSet<(u8, u8)>,
}

impl IpmiCaps {
    /// Whether Get Device ID advertises `d` (true when Get Device ID did not answer:
    /// nothing then says the device is absent).
    pub fn has(&self, d: ipmi::spec::Device) -> bool {
        self.devices.is_none_or(|b| b & d.bit() != 0)
    }
}

/// Why an IPMI target could not be used (the run's exit code 3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("IPMI target {addr} does not answer: {reason}")]
pub struct Unanswered {
    /// The address.
    pub addr: String,
    /// What went unanswered.
    pub reason: String,
}

/// Why IPMI discovery could not go on (the run's exit code 3, reports still written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpmiStartError {
    /// The BMC answers nothing a client asks before logging in.
    #[error(transparent)]
    Unanswered(#[from] Unanswered),
    /// The BMC answers, but refuses the administrator's credentials: every case that
    /// logs in would fail for that one reason, so the run stops with it instead.
    #[error(
        "IPMI target {addr}: authentication failed for user `{user}` ({why}); check \
         --ipmi-user and the IPMI password (--ipmi-password-file, TOUCHSTONE_IPMI_PASSWORD)"
    )]
    AuthFailed {
        /// The address.
        addr: String,
        /// The user name tried.
        user: String,
        /// What the login saw.
        why: String,
    },
}

/// When a login failed because the BMC does not take these credentials (wrong
/// password or Kg, unknown user), what happened; `None` for any other failure
/// (silence, a protocol error, a suite refused, and 0x0A: an account that exists but
/// may not have the Administrator role is the target's to judge case by case, not a
/// reason to check nothing).
pub fn credentials_refused(e: &IpmiError) -> Option<String> {
    use ipmi::console::ConsoleError;
    match e {
        IpmiError::Console(ConsoleError::Rakp2Mismatch) => {
            Some("the BMC's RAKP2 key exchange code does not verify with this password".into())
        }
        IpmiError::Console(ConsoleError::Refused { stage, status }) => {
            let what = match status {
                0x0D => "unauthorized name",
                0x0F => "invalid integrity check value",
                _ => return None,
            };
            Some(format!(
                "{stage} refused with status 0x{status:02X} ({what})"
            ))
        }
        _ => None,
    }
}

/// What IPMI discovery found: the requirements the BMC does not meet (with the
/// reason), what it offers, and every question asked, for the reports.
#[derive(Debug, Clone, Default)]
pub struct IpmiDiscovery {
    /// Requirements not met, with the reason.
    pub missing: BTreeMap<String, String>,
    /// What the BMC offers.
    pub caps: IpmiCaps,
    /// What was asked and what came.
    pub probes: Vec<crate::discover::Probe>,
}

/// Read-only requests of optional commands the suite exercises, asked once in
/// discovery to learn which the BMC implements (0xC1: it does not).
const OPTIONAL_PROBES: &[((u8, u8), &[u8])] = &[
    (id::GET_SYSTEM_INFO, &[0x00, 0x01, 0x00, 0x00]), // (firmware)
    (id::GET_POH_COUNTER, &[]),
    (id::GET_BOOT_OPTIONS, &[0x05, 0x00, 0x00]), // (boot flags)
    (id::GET_WATCHDOG, &[]),
    (id::GET_SYSTEM_GUID, &[]),
    (id::GET_DEVICE_GUID, &[]),
    (id::GET_SEL_TIME, &[]),
    (id::CHANNEL_PAYLOAD_SUPPORT, &[0x01]),
];

/// The names of the IPMI 1.5 authentication types set in `b` (Get Channel
/// Authentication Capabilities, data byte 1).
pub fn auth_type_names(b: u8) -> String {
    let names: Vec<&str> = [
        (0x01, "none"),
        (0x02, "MD2"),
        (0x04, "MD5"),
        (0x10, "straight password"),
        (0x20, "OEM"),
    ]
    .iter()
    .filter(|(bit, _)| b & bit != 0)
    .map(|(_, n)| *n)
    .collect();
    if names.is_empty() {
        "none advertised".into()
    } else {
        names.join(", ")
    }
}

/// A completion code as an IPMI engineer writes it: `0xC1 (invalid command)`.
pub fn completion(cc: u8) -> String {
    match ipmi::codes::completion_name(cc) {
        Some(n) => format!("0x{cc:02X} ({n})"),
        None => format!("0x{cc:02X}"),
    }
}

/// Asks the BMC what clients ask before they log in (Get Channel Authentication
/// Capabilities in IPMI 1.5 framing, then in RMCP+ framing; the presence ping, for
/// information), then logs in and learns what it offers: Get Device ID's device
/// support, the cipher suites, the SOL payload, and which optional commands it
/// implements. Fails (exit 3) only when neither form of the authentication
/// capabilities is answered.
pub async fn discover(opts: &IpmiOptions) -> Result<IpmiDiscovery, IpmiStartError> {
    let fail = |reason: String| {
        IpmiStartError::Unanswered(Unanswered {
            addr: opts.target.addr.to_string(),
            reason,
        })
    };
    let mut d = IpmiDiscovery::default();
    let mut probe = |what: &str, offered: bool, detail: String| {
        d.probes.push(crate::discover::Probe {
            what: format!("IPMI: {what}"),
            offered,
            detail,
        })
    };
    let mut s = IpmiSession::open(&opts.target, 0x7011)
        .await
        .map_err(|e| fail(e.to_string()))?;
    // IPMI 1.5 framing first: every client sends it that way before a login, and some
    // BMCs (OpenIPMI's ipmi_sim) answer only that framing; then the RMCP+ framing.
    let v15 = s.auth_caps(false).await;
    let v20 = s.auth_caps(true).await;
    let answer = |r: &Result<Reply, IpmiError>| match r {
        Ok(r) if r.completion == 0 => format!("answered: {}", client::ipmi::hex(&r.data)),
        Ok(r) => format!("answered {}", completion(r.completion)),
        Err(e) => e.to_string(),
    };
    probe(
        "Get Channel Authentication Capabilities (IPMI 1.5 framing)",
        v15.as_ref().is_ok_and(|r| r.completion == 0),
        answer(&v15),
    );
    probe(
        "Get Channel Authentication Capabilities (RMCP+ framing)",
        v20.as_ref().is_ok_and(|r| r.completion == 0),
        answer(&v20),
    );
    let caps = match (&v15, &v20) {
        (Ok(r), _) if r.completion == 0 => r.clone(),
        (_, Ok(r)) if r.completion == 0 => r.clone(),
        (Err(a), Err(b)) => {
            return Err(fail(format!(
                "Get Channel Authentication Capabilities: {a} (IPMI 1.5 framing); {b} \
                 (RMCP+ framing)"
            )));
        }
        (Ok(r), _) | (_, Ok(r)) => {
            return Err(fail(format!(
                "Get Channel Authentication Capabilities answered {}",
                completion(r.completion)
            )));
        }
    };
    let auth = caps.data.get(1).copied().unwrap_or(0);
    d.caps.ipmi15_auth = auth & 0x3F;
    probe(
        "IPMI 1.5 authentication types",
        auth & 0x37 != 0,
        auth_type_names(auth & 0x3F),
    );
    // The presence ping: informational (ipmitool and freeipmi log in without it).
    let mut ping = IpmiSession::open(&opts.target, 0x7012)
        .await
        .map_err(|e| fail(e.to_string()))?;
    match ping.ping().await {
        Ok(p) => probe(
            "RMCP/ASF presence ping",
            true,
            format!("pong, supported entities 0x{:02X}", p.entities),
        ),
        Err(e) => probe("RMCP/ASF presence ping", false, e.to_string()),
    }
    match s.cipher_suite_records().await {
        Ok(b) => {
            let ids = suite_ids(&b);
            probe(
                "Get Channel Cipher Suites",
                true,
                format!("suites {}", list(&ids)),
            );
            d.caps.suites = ids;
        }
        Err(e) => probe("Get Channel Cipher Suites", false, e.to_string()),
    }
    let mut missing = BTreeMap::new();
    if auth & 0x04 == 0 {
        missing.insert(
            "ipmi:md5".into(),
            if auth & 0x3F == 0 {
                "the channel advertises no IPMI 1.5 authentication type, MD5 included".into()
            } else {
                format!(
                    "the channel does not advertise IPMI 1.5 MD5 authentication (it \
                     advertises: {})",
                    auth_type_names(auth & 0x3F)
                )
            },
        );
    }
    if auth & 0x37 == 0 {
        missing.insert(
            "ipmi:ipmi15".into(),
            "the channel advertises no IPMI 1.5 authentication type".into(),
        );
    }
    // In a session: what the BMC is.
    match s
        .login_v20(Privilege::Administrator, SuiteChoice::Auto)
        .await
    {
        Ok(_) => {
            match s
                .command(id::GET_DEVICE_ID.0, id::GET_DEVICE_ID.1, &[])
                .await
            {
                Ok(r) if r.completion == 0 && r.data.len() >= 6 => {
                    let b = r.data[5];
                    d.caps.devices = Some(b);
                    let names: Vec<&str> = ipmi::spec::Device::from_byte(b)
                        .iter()
                        .map(|d| d.name())
                        .collect();
                    probe(
                        "Get Device ID (additional device support)",
                        true,
                        format!(
                            "0x{b:02X}: {}",
                            if names.is_empty() {
                                "none".into()
                            } else {
                                names.join(", ")
                            }
                        ),
                    );
                    for dev in ipmi::spec::Device::ALL {
                        if b & dev.bit() == 0 {
                            missing.insert(
                                format!("ipmi:{}", dev.key()),
                                format!(
                                    "Get Device ID does not advertise {} {} (additional device \
                                     support 0x{b:02X})",
                                    article(dev.name()),
                                    dev.name()
                                ),
                            );
                        }
                    }
                }
                Ok(r) => probe(
                    "Get Device ID (additional device support)",
                    false,
                    format!("{}, {} data bytes", completion(r.completion), r.data.len()),
                ),
                Err(e) => probe(
                    "Get Device ID (additional device support)",
                    false,
                    e.to_string(),
                ),
            }
            for ((netfn, cmd), data) in OPTIONAL_PROBES {
                let name = ipmi::spec::lookup(*netfn, *cmd).map_or_else(
                    || format!("NetFn 0x{netfn:02X} cmd 0x{cmd:02X}"),
                    |c| c.name.to_owned(),
                );
                match s.command(*netfn, *cmd, data).await {
                    Ok(r) if r.completion == 0xC1 => {
                        d.caps.invalid.insert((*netfn, *cmd));
                        probe(&name, false, completion(0xC1));
                    }
                    Ok(r) => {
                        if (*netfn, *cmd) == id::CHANNEL_PAYLOAD_SUPPORT && r.completion == 0 {
                            let sol = r.data.first().is_some_and(|b| b & 0x02 != 0);
                            d.caps.sol = Some(sol);
                        }
                        probe(&name, r.completion == 0, completion(r.completion));
                    }
                    Err(e) => probe(&name, false, e.to_string()),
                }
            }
            let _ = s.close().await;
        }
        Err(e) => {
            if let Some(why) = credentials_refused(&e) {
                return Err(IpmiStartError::AuthFailed {
                    addr: opts.target.addr.to_string(),
                    user: opts.target.user.clone(),
                    why,
                });
            }
            probe(
                "RMCP+ login as the administrator",
                false,
                format!("{e}; the capabilities after login are unknown"),
            )
        }
    }
    if d.caps.sol != Some(true) {
        missing.insert(
            "ipmi:sol".into(),
            match d.caps.sol {
                Some(false) => "Get Channel Payload Support does not list the SOL payload".into(),
                _ => "Get Channel Payload Support did not answer; SOL is not known to be offered"
                    .into(),
            },
        );
    }
    if opts.operator.is_none() {
        missing.insert(
            "ipmi:operator".into(),
            "no operator account given (--ipmi-operator USER:PASSWORD)".into(),
        );
    }
    if opts.user.is_none() {
        missing.insert(
            "ipmi:user".into(),
            "no user-level account given (--ipmi-user-account USER:PASSWORD)".into(),
        );
    }
    if opts.idle_wait.is_none() {
        missing.insert(
            "ipmi:idle-wait".into(),
            "no idle-timeout wait given (--ipmi-idle-wait SECONDS, the target's session \
             timeout plus a margin, shorter than the case deadline)"
                .into(),
        );
    }
    d.missing = missing;
    Ok(d)
}

/// The suite IDs of a cipher suite record list (records start 0xC0 or 0xC1).
pub fn suite_ids(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            start @ (0xC0 | 0xC1) => {
                if let Some(id) = b.get(i + 1) {
                    out.push(*id);
                }
                // A standard record: start, ID; an OEM one adds the 3-byte IANA number.
                i += if start == 0xC0 { 2 } else { 5 };
            }
            _ => i += 1,
        }
    }
    out
}

fn list(ids: &[u8]) -> String {
    ids.iter().map(u8::to_string).collect::<Vec<_>>().join(", ")
}

/// The skip for a 0xC1 (invalid command) answer to a command the BMC need not
/// implement: an optional one, or one of a logical device Get Device ID does not
/// advertise. `None` when 0xC1 is a failure (a mandatory command) or `cc` is another code.
pub fn not_implemented(caps: &IpmiCaps, netfn: u8, cmd: u8, cc: u8) -> Option<Finding> {
    if cc != ipmi::codes::cc::INVALID_COMMAND {
        return None;
    }
    let c = ipmi::spec::lookup(netfn, cmd)?;
    match (c.support, c.device) {
        (ipmi::spec::Support::Optional, _) => Some(Finding::Skip(format!(
            "{} is optional, and the BMC answers {}",
            c.citation(),
            completion(cc)
        ))),
        (ipmi::spec::Support::Mandatory, Some(d)) if !caps.has(d) => Some(Finding::Skip(format!(
            "{}: Get Device ID does not advertise {} {}, and the BMC answers {}",
            c.citation(),
            article(d.name()),
            d.name(),
            completion(cc)
        ))),
        _ => None,
    }
}

/// IPMI errors as findings: no answer is the target's doing, a socket error the
/// harness's.
pub fn finding(what: &str, e: IpmiError) -> Finding {
    match e {
        IpmiError::Io(e) => Finding::Error(format!("{what}: {e}")),
        e @ IpmiError::Timeout { .. } => Finding::mismatch(what, "an answer", e.to_string()),
        e => Finding::mismatch(what, "an answer it can use", e.to_string()),
    }
}

/// "a" or "an" before `word` (by its sound: "an SDR", "an IPMB", "a SEL").
fn article(word: &str) -> &'static str {
    let first = word.split_whitespace().next().unwrap_or("");
    let sounds_vowel =
        matches!(first, "SDR" | "IPMB") || first.starts_with(['a', 'e', 'i', 'o', 'u']);
    if sounds_vowel { "an" } else { "a" }
}

/// The length of `data` and the bytes: `3 bytes (01 02 03)`, `0 bytes`.
fn with_data(data: &[u8]) -> String {
    if data.is_empty() {
        bytes(0)
    } else {
        format!("{} ({})", bytes(data.len()), client::ipmi::hex(data))
    }
}

/// `n` bytes: `1 byte`, `18 bytes`.
pub fn bytes(n: usize) -> String {
    if n == 1 {
        "1 byte".into()
    } else {
        format!("{n} bytes")
    }
}

/// Appends `line` to the text in `slot`, on a line of its own.
fn push_line(slot: &mut Option<String>, line: &str) {
    let s = slot.get_or_insert_with(String::new);
    if !s.is_empty() {
        s.push('\n');
    }
    s.push_str(line);
}

/// Packets of one session as report legs: each sent packet starts a leg, answers and
/// notes follow it.
pub fn legs(label: &str, packets: &[Packet]) -> Vec<WireLeg> {
    let mut out: Vec<WireLeg> = Vec::new();
    for p in packets {
        let line = if p.message.is_empty() {
            format!("[{} ms] {}", p.at_ms, p.header)
        } else {
            format!("[{} ms] {}\n{}", p.at_ms, p.header, p.message)
        };
        match p.direction.as_str() {
            "sent" => out.push(WireLeg {
                request: format!("IPMI {label} →\n{line}"),
                response: None,
                status: None,
                error: None,
            }),
            "received" => match out.last_mut() {
                Some(l) => push_line(&mut l.response, &line),
                None => out.push(WireLeg {
                    request: format!("IPMI {label} (nothing sent)"),
                    response: Some(line),
                    status: None,
                    error: None,
                }),
            },
            _ => match out.last_mut() {
                Some(l) => push_line(&mut l.error, &line),
                None => out.push(WireLeg {
                    request: format!("IPMI {label} note"),
                    response: None,
                    status: None,
                    error: Some(line),
                }),
            },
        }
    }
    out
}

/// A session handle inside a case.
pub type Handle = usize;

impl Ctx {
    /// The IPMI options (a harness error when the run has none; cases needing IPMI are
    /// skipped before that).
    pub fn ipmi_opts(&self) -> Result<&IpmiOptions, Finding> {
        self.ipmi
            .as_deref()
            .ok_or_else(|| Finding::Error("no IPMI target".into()))
    }

    /// The target with `role`'s credentials (skip when that account was not given).
    pub fn ipmi_target(&self, role: Role) -> Result<IpmiTarget, Finding> {
        let o = self.ipmi_opts()?;
        let cred = match role {
            Role::Admin => return Ok(o.target.clone()),
            Role::Operator => &o.operator,
            Role::User => &o.user,
        };
        match cred {
            Some((u, p)) => Ok(o.target.with_credentials(u, p)),
            None => Err(Finding::Skip(format!(
                "no {} account given ({})",
                role.name(),
                match role {
                    Role::User => "--ipmi-user-account USER:PASSWORD",
                    _ => "--ipmi-operator USER:PASSWORD",
                }
            ))),
        }
    }

    /// Opens a socket for `target` (not logged in).
    pub async fn ipmi_open_target(&mut self, target: &IpmiTarget) -> Result<Handle, Finding> {
        let seed = self.rng.next_u64();
        let s = IpmiSession::open(target, seed)
            .await
            .map_err(|e| Finding::Error(e.to_string()))?;
        self.ipmi_sessions.push(s);
        Ok(self.ipmi_sessions.len() - 1)
    }

    /// Opens a socket with `role`'s credentials (not logged in).
    pub async fn ipmi_open(&mut self, role: Role) -> Result<Handle, Finding> {
        let t = self.ipmi_target(role)?;
        self.ipmi_open_target(&t).await
    }

    /// The session behind a handle.
    pub fn s(&mut self, h: Handle) -> &mut IpmiSession {
        &mut self.ipmi_sessions[h]
    }

    /// Opens a socket and logs in over RMCP+ (suite 17, else 3) as `role` at its level.
    pub async fn ipmi_login(&mut self, role: Role) -> Result<Handle, Finding> {
        let h = self.ipmi_open(role).await?;
        self.s(h)
            .login_v20(role.privilege(), SuiteChoice::Auto)
            .await
            .map_err(|e| finding("RMCP+ login", e))?;
        Ok(h)
    }

    /// A command that must complete with 0x00; its data.
    pub async fn ipmi_ok(
        &mut self,
        h: Handle,
        what: &str,
        netfn: u8,
        cmd: u8,
        data: &[u8],
    ) -> Result<Vec<u8>, Finding> {
        let r = self
            .s(h)
            .command(netfn, cmd, data)
            .await
            .map_err(|e| finding(what, e))?;
        if r.completion != 0 {
            if let Some(skip) = not_implemented(&self.ipmi_caps, netfn, cmd, r.completion) {
                return Err(skip);
            }
            return Err(Finding::mismatch(
                format!("{what}: completion code"),
                "0x00",
                completion(r.completion),
            ));
        }
        Ok(r.data)
    }

    /// Closes every session still logged in and moves the packets into the transcript.
    pub async fn ipmi_finish(&mut self) {
        let mut sessions = std::mem::take(&mut self.ipmi_sessions);
        for (i, s) in sessions.iter_mut().enumerate() {
            if s.console().logged_in() {
                let _ = tokio::time::timeout(Duration::from_secs(3), s.close()).await;
            }
            let packets = s.take_transcript();
            self.transcript
                .extend(legs(&format!("session {}", i + 1), &packets));
        }
    }
}

/// Bytes from hex text (`"01 0a ff"`; spaces optional between pairs).
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if t.len() % 2 != 0 {
        return Err(format!("`{s}`: an odd number of hex digits"));
    }
    (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&t[i..i + 2], 16).map_err(|_| format!("`{s}`: not hex")))
        .collect()
}

fn expand_vars(s: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after
            .find("}}")
            .ok_or_else(|| format!("`{s}`: unclosed {{{{"))?;
        let name = &after[..j];
        let v = vars
            .get(name)
            .ok_or_else(|| format!("`{s}`: no captured variable `{name}`"))?;
        out.push(' ');
        out.push_str(v);
        out.push(' ');
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A byte range `a..b` (or one offset `a`) of a capture.
pub fn parse_range(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}`: expected a byte range `a..b` or an offset");
    match s.split_once("..") {
        Some((a, b)) => {
            let (a, b): (usize, usize) = (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            );
            if a < b { Ok((a, b)) } else { Err(bad()) }
        }
        None => {
            let a: usize = s.trim().parse().map_err(|_| bad())?;
            Ok((a, a + 1))
        }
    }
}

/// Checks an IPMI step's fields (for the loader).
pub fn check_step(step: &Step) -> Result<(), String> {
    let r = &step.request;
    if r.netfn.is_none() || r.cmd.is_none() {
        return Err("an `ipmi` request needs `netfn` and `cmd`".into());
    }
    if let Some(s) = &r.session {
        if !matches!(
            s.as_str(),
            "rmcp+" | "ipmi15" | "sessionless" | "sessionless15"
        ) {
            return Err(format!(
                "session `{s}`: expected rmcp+, ipmi15, sessionless or sessionless15"
            ));
        }
    }
    if let Some(u) = &r.as_user {
        Role::parse(u).ok_or(format!("as_user `{u}`: expected admin, operator or user"))?;
    }
    if let Some(p) = &r.privilege {
        parse_privilege(p).ok_or(format!(
            "privilege `{p}`: expected user, operator or administrator"
        ))?;
    }
    if let Some(d) = &r.data {
        if !d.contains("{{") {
            parse_hex(d)?;
        }
    }
    if let Some(d) = &step.expect.data {
        pattern(d)?;
    }
    for range in step.capture.values() {
        parse_range(range)?;
    }
    Ok(())
}

fn pattern(s: &str) -> Result<Vec<Option<u8>>, String> {
    s.split_whitespace()
        .map(|t| {
            if t == ".." {
                Ok(None)
            } else {
                u8::from_str_radix(t, 16)
                    .map(Some)
                    .map_err(|_| format!("`{s}`: `{t}` is neither a hex byte nor `..`"))
            }
        })
        .collect()
}

/// The expectations of an IPMI step against a reply.
pub fn check(e: &Expect, r: &Reply) -> Vec<Mismatch> {
    let mut m = Vec::new();
    let mut miss = |what: String, expected: String, got: String| {
        m.push(Mismatch {
            what,
            expected,
            got,
        })
    };
    if let Some(c) = &e.completion {
        if !c.contains(&r.completion) {
            let want: Vec<String> = c.as_slice().iter().map(|c| completion(*c)).collect();
            miss(
                "completion code".into(),
                want.join(" or "),
                completion(r.completion),
            );
        }
    }
    if let Some(n) = e.length {
        if r.data.len() != n {
            miss("response data length".into(), bytes(n), with_data(&r.data));
        }
    }
    if let Some(n) = e.min_length {
        if r.data.len() < n {
            miss(
                "response data length".into(),
                format!("at least {}", bytes(n)),
                with_data(&r.data),
            );
        }
    }
    if let Some(p) = &e.data {
        let pat = pattern(p).unwrap_or_default();
        let ok = pat.len() <= r.data.len()
            && pat
                .iter()
                .zip(&r.data)
                .all(|(p, b)| p.is_none_or(|p| p == *b));
        if !ok {
            miss(
                "response data".into(),
                format!("starting {p}"),
                client::ipmi::hex(&r.data),
            );
        }
    }
    for [off, mask, value] in &e.bits {
        match r.data.get(usize::from(*off)) {
            Some(b) if b & mask == *value => {}
            got => miss(
                format!("data[{off}] & {mask:#04x}"),
                format!("0x{value:02X}"),
                got.map_or_else(
                    || format!("no byte {off} ({} of data)", bytes(r.data.len())),
                    |b| format!("0x{:02X}", b & mask),
                ),
            ),
        }
    }
    if let Some(ms) = e.within_ms {
        if r.elapsed > Duration::from_millis(ms) {
            miss(
                "answer time".into(),
                format!("within {ms} ms"),
                client::ipmi::millis(r.elapsed),
            );
        }
    }
    m
}

/// Runs one `op = "ipmi"` step. Sessions are kept per (framing, role, privilege) for
/// the rest of the case.
pub async fn run_step(ctx: &mut Ctx, step: &Step) -> Result<Vec<Mismatch>, Finding> {
    let r: &RequestSpec = &step.request;
    let (netfn, cmd) = (r.netfn.unwrap_or(0), r.cmd.unwrap_or(0));
    if r.data.as_deref().is_some_and(|d| d.contains("{{sensor}}"))
        && !ctx.vars.contains_key("sensor")
    {
        let n = crate::ipmi_cases::full_sensor_number(ctx).await?;
        ctx.vars.insert("sensor".into(), format!("{n:02x}"));
    }
    let data = match &r.data {
        Some(d) => parse_hex(&expand_vars(d, &ctx.vars).map_err(Finding::Error)?)
            .map_err(Finding::Error)?,
        None => Vec::new(),
    };
    let role = Role::parse(r.as_user.as_deref().unwrap_or("admin")).unwrap_or(Role::Admin);
    let privilege = r
        .privilege
        .as_deref()
        .and_then(parse_privilege)
        .unwrap_or(role.privilege());
    let kind = r.session.clone().unwrap_or_else(|| "rmcp+".into());
    let key = format!("{kind}/{role:?}/{privilege:?}");
    let what = ipmi::spec::lookup(netfn, cmd).map_or_else(
        || format!("NetFn 0x{netfn:02X} cmd 0x{cmd:02X}"),
        |c| c.name.to_owned(),
    );
    let reply = if kind.starts_with("sessionless") {
        let h = match ctx.ipmi_keys.get(&key) {
            Some(h) => *h,
            None => {
                let h = ctx.ipmi_open(role).await?;
                ctx.ipmi_keys.insert(key, h);
                h
            }
        };
        ctx.s(h)
            .sessionless(netfn, cmd, &data, kind == "sessionless")
            .await
    } else {
        let h = match ctx.ipmi_keys.get(&key) {
            Some(h) => *h,
            None => {
                let h = ctx.ipmi_open(role).await?;
                let login: Result<LoginInfo, IpmiError> = if kind == "ipmi15" {
                    ctx.s(h).login_v15(privilege, AuthType::Md5).await
                } else {
                    ctx.s(h).login_v20(privilege, SuiteChoice::Auto).await
                };
                login.map_err(|e| finding("login", e))?;
                ctx.ipmi_keys.insert(key, h);
                h
            }
        };
        ctx.s(h).command(netfn, cmd, &data).await
    };
    let reply = reply.map_err(|e| finding(&what, e))?;
    let allowed = step
        .expect
        .completion
        .as_ref()
        .is_some_and(|c| c.contains(&reply.completion));
    if !allowed {
        if let Some(skip) = not_implemented(&ctx.ipmi_caps, netfn, cmd, reply.completion) {
            return Err(skip);
        }
        if step.expect.unsupported.contains(&reply.completion) {
            let name = ipmi::spec::lookup(netfn, cmd).map_or(what.as_str(), |c| c.name);
            return Err(Finding::Skip(format!(
                "{name}: the BMC answers 0x{:02X} (the parameter asked for is not supported)",
                reply.completion
            )));
        }
    }
    let mismatches = check(&step.expect, &reply);
    if mismatches.is_empty() {
        for (var, range) in &step.capture {
            let (a, b) = parse_range(range).map_err(Finding::Error)?;
            match reply.data.get(a..b) {
                Some(bytes) => {
                    ctx.vars.insert(var.clone(), client::ipmi::hex(bytes));
                }
                None => {
                    return Ok(vec![Mismatch {
                        what: format!("response data[{range}]"),
                        expected: format!("bytes to capture as `{var}`"),
                        got: format!("{} bytes", reply.data.len()),
                    }]);
                }
            }
        }
    }
    Ok(mismatches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip_text(f: Option<Finding>) -> Option<String> {
        match f {
            Some(Finding::Skip(t)) => Some(t),
            Some(_) => Some("not a skip".into()),
            None => None,
        }
    }

    #[test]
    fn invalid_command_is_a_skip_only_for_what_need_not_be_implemented() {
        let all = IpmiCaps {
            devices: Some(0xFF),
            ..IpmiCaps::default()
        };
        let chassis_only = IpmiCaps {
            devices: Some(0x80),
            ..IpmiCaps::default()
        };
        // Chassis Identify is optional: 0xC1 is a skip whatever the devices.
        let t = skip_text(not_implemented(&all, 0x00, 0x04, 0xC1)).unwrap();
        assert!(
            t.contains("Chassis Identify") && t.contains("optional"),
            "{t}"
        );
        assert!(t.contains("0xC1 (invalid command)"), "{t}");
        // Another code from an optional command is judged, not skipped.
        assert!(not_implemented(&all, 0x00, 0x04, 0xCC).is_none());
        assert!(not_implemented(&all, 0x00, 0x04, 0x00).is_none());
        // Get Device ID is mandatory: 0xC1 is a failure.
        assert!(not_implemented(&chassis_only, 0x06, 0x01, 0xC1).is_none());
        // An unknown command: no excuse.
        assert!(not_implemented(&all, 0x2E, 0x01, 0xC1).is_none());
    }

    #[test]
    fn a_device_command_is_excused_only_when_the_device_is_not_advertised() {
        let c = ipmi::spec::COMMANDS
            .iter()
            .find(|c| c.support == ipmi::spec::Support::Mandatory && c.device.is_some())
            .expect("the table holds mandatory device commands (Get SEL Entry, Get SDR, ...)");
        let d = c.device.unwrap();
        let without = IpmiCaps {
            devices: Some(!d.bit()),
            ..IpmiCaps::default()
        };
        let with = IpmiCaps {
            devices: Some(d.bit()),
            ..IpmiCaps::default()
        };
        let t = skip_text(not_implemented(&without, c.netfn, c.cmd, 0xC1)).unwrap();
        assert!(
            t.contains("does not advertise") && t.contains(d.name()),
            "{t}"
        );
        assert!(not_implemented(&with, c.netfn, c.cmd, 0xC1).is_none());
        // Unknown devices (Get Device ID not answered): nothing says it is absent.
        assert!(not_implemented(&IpmiCaps::default(), c.netfn, c.cmd, 0xC1).is_none());
    }

    #[test]
    fn values_are_written_as_engineers_write_them() {
        assert_eq!(completion(0xC1), "0xC1 (invalid command)");
        assert_eq!(completion(0x00), "0x00 (completed normally)");
        assert_eq!(completion(0x81), "0x81");
        assert_eq!(bytes(1), "1 byte");
        assert_eq!(bytes(18), "18 bytes");
        assert_eq!(auth_type_names(0x14), "MD5, straight password");
        assert_eq!(auth_type_names(0x01), "none");
        assert_eq!(auth_type_names(0x00), "none advertised");
        assert_eq!(article("SDR repository device"), "an");
        assert_eq!(article("IPMB event receiver"), "an");
        assert_eq!(article("SEL device"), "a");
        assert_eq!(article("FRU inventory device"), "a");
        assert_eq!(article("chassis device"), "a");
    }

    #[test]
    fn suite_ids_read_standard_and_oem_records() {
        // 17 (HMAC-SHA256...), 3, then an OEM record 0x80 with IANA bytes that look
        // like record starts, then 1.
        let b = [
            0xC0, 17, 0x03, 0x44, 0x81, 0xC0, 3, 0x01, 0x41, 0x81, 0xC1, 0x80, 0xC0, 0xC1, 0x00,
            0x01, 0xC0, 1, 0x01, 0x40, 0x80,
        ];
        assert_eq!(suite_ids(&b), vec![17, 3, 0x80, 1]);
        assert!(suite_ids(&[]).is_empty());
        assert_eq!(suite_ids(&[0xC0]), Vec::<u8>::new());
    }

    fn reply(cc: u8, data: &[u8]) -> Reply {
        Reply {
            completion: cc,
            data: data.to_vec(),
            elapsed: Duration::from_millis(3),
        }
    }

    #[test]
    fn step_expectations_judge_each_field() {
        let e = Expect {
            completion: Some(crate::case::OneOrMany::Many(vec![0xCB, 0xC9])),
            ..Expect::default()
        };
        assert!(check(&e, &reply(0xCB, &[])).is_empty());
        assert!(check(&e, &reply(0xC9, &[])).is_empty());
        let m = check(&e, &reply(0x00, &[1]));
        assert_eq!(m.len(), 1);
        assert_eq!(
            m[0].expected,
            "0xCB (requested sensor, data or record not present) or 0xC9 (parameter out of range)"
        );
        let e = Expect {
            length: Some(11),
            bits: vec![[1, 0x0F, 0x02]],
            ..Expect::default()
        };
        let m = check(&e, &reply(0, &[0; 3]));
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m[0].expected, "11 bytes");
        assert!(m[0].got.starts_with("3 bytes"), "{}", m[0].got);
        assert_eq!(m[1].got, "0x00");
        let m = check(&e, &reply(0, &[]));
        assert!(m[1].got.contains("no byte 1"), "{}", m[1].got);
        // An answer exactly at the bound is in time; one later is not.
        let e = Expect {
            within_ms: Some(3),
            ..Expect::default()
        };
        assert!(check(&e, &reply(0, &[])).is_empty(), "3 ms within 3 ms");
        let mut late = reply(0, &[]);
        late.elapsed = Duration::from_millis(4);
        let m = check(&e, &late);
        assert_eq!((m.len(), m[0].got.as_str()), (1, "4 ms"));
    }

    fn step(toml_text: &str) -> Step {
        toml::from_str(toml_text).unwrap_or_else(|e| panic!("{toml_text}: {e}"))
    }

    #[test]
    fn the_loader_refuses_malformed_ipmi_steps() {
        let ok = r#"request = { op = "ipmi", netfn = 0x06, cmd = 0x01 }"#;
        assert!(check_step(&step(ok)).is_ok());
        for (bad, says) in [
            (
                r#"request = { op = "ipmi", cmd = 0x01 }"#,
                "needs `netfn` and `cmd`",
            ),
            (
                r#"request = { op = "ipmi", netfn = 0x06 }"#,
                "needs `netfn` and `cmd`",
            ),
            (
                r#"request = { op = "ipmi", netfn = 6, cmd = 1, session = "tls" }"#,
                "expected rmcp+",
            ),
            (
                r#"request = { op = "ipmi", netfn = 6, cmd = 1, as_user = "root" }"#,
                "expected admin, operator or user",
            ),
            (
                r#"request = { op = "ipmi", netfn = 6, cmd = 1, privilege = "god" }"#,
                "expected user, operator or administrator",
            ),
            (
                r#"request = { op = "ipmi", netfn = 6, cmd = 1, data = "0g" }"#,
                "not hex",
            ),
            (
                r#"request = { op = "ipmi", netfn = 6, cmd = 1, data = "012" }"#,
                "odd number",
            ),
        ] {
            let e = check_step(&step(bad)).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
        // A template is checked when it is expanded, not before.
        assert!(
            check_step(&step(
                r#"request = { op = "ipmi", netfn = 6, cmd = 1, data = "{{x}} 01" }"#
            ))
            .is_ok()
        );
    }

    #[test]
    fn a_data_prefix_must_match_byte_for_byte() {
        let e = Expect {
            data: Some("01 .. 03".into()),
            ..Expect::default()
        };
        assert!(check(&e, &reply(0, &[1, 9, 3, 4])).is_empty());
        assert_eq!(check(&e, &reply(0, &[1, 9, 4])).len(), 1, "a byte differs");
        assert_eq!(
            check(&e, &reply(0, &[1, 9])).len(),
            1,
            "too short for the prefix"
        );
        assert_eq!(
            check(&e, &reply(0, &[2, 9, 3])).len(),
            1,
            "the first byte differs"
        );
    }
}
