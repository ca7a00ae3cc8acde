// Over 800 lines because it is the one [ipmi] schema: the BMC-kind knobs, the fault rules and their matchers sit with their defaults and their file:line checks, which read together.
//! The scenario's `[ipmi]` table: the LAN channel's settings, what kind of BMC the
//! machine imitates, and the IPMI fault rules (`[[ipmi.rules]]`).
//!
//! What kind of BMC (each knob a behaviour IPMI v2.0 allows, so a correct but minimal
//! BMC can be imitated): `presence_ping = false` (the ASF presence ping is ignored),
//! `max_read = N` (Get SDR and Read FRU Data asking for more than N bytes, or a
//! "whole record" Get SDR with more than N bytes left, answer 0xCA), `device_support`
//! (Get Device ID's additional device support bits by name), `sol = false` (no Serial
//! over LAN: payload support lists IPMI only, the payload and SOL configuration
//! commands answer 0xC1), `sdr_mc_locator_first` (the MC locator record leads the SDR
//! repository) and `unsupported` (NetFns or commands answered 0xC1, as by a BMC that
//! does not implement them).
//!
//! A rule matches datagrams by payload kind, NetFn, command and user, and does one or
//! more things to them: drop (as if the request never arrived: nothing runs, the
//! session's sequence window is left as it was), delay the reply, send it twice, answer
//! a chosen completion code (and response data) instead of running the command, corrupt
//! the reply's AuthCode, disable a cipher suite or lower the session limit from then on.
//! Deterministic like the WS-Man rules: `skip` lets the first N matches through,
//! `times` caps how often the rule acts; the first rule that acts wins.

use serde::Deserialize;

use ipmi::rmcp::AuthType;

/// The `[ipmi]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpmiFile {
    /// RMCP+ cipher suites offered, in the order Get Channel Cipher Suites lists them.
    #[serde(default = "default_suites")]
    pub cipher_suites: Vec<u8>,
    /// IPMI 1.5 authentication types: "none", "md5", "password".
    #[serde(default = "default_auth")]
    pub ipmi15_auth: Vec<String>,
    /// Maximum number of sessions (pending logins included).
    #[serde(default = "default_session_limit")]
    pub session_limit: usize,
    /// A session idle this long is closed.
    #[serde(default = "default_idle")]
    pub idle_timeout_ms: u64,
    /// An RMCP+ handshake left half-open this long is forgotten (and half-open ones
    /// never hold more than half the slots).
    #[serde(default = "default_handshake")]
    pub handshake_timeout_ms: u64,
    /// Whether the null user may log in.
    #[serde(default)]
    pub allow_anonymous: bool,
    /// The channel's BMC key Kg (text, or hex with `0x`); absent: Kuid is used.
    pub kg: Option<String>,
    /// Whether the ASF presence ping is answered (default true).
    #[serde(default = "yes")]
    pub presence_ping: bool,
    /// The most bytes one Get SDR or Read FRU Data returns (default 128); more is
    /// answered 0xCA.
    pub max_read: Option<usize>,
    /// Get Device ID's additional device support, by name: `sensor`,
    /// `sdr_repository`, `sel`, `fru_inventory`, `ipmb_event_receiver`,
    /// `ipmb_event_generator`, `bridge`, `chassis` (default: chassis, FRU inventory,
    /// SEL, SDR repository, sensor).
    pub device_support: Option<Vec<String>>,
    /// Whether Serial over LAN is implemented (default true).
    #[serde(default = "yes")]
    pub sol: bool,
    /// Put the management controller locator record first in the SDR repository.
    #[serde(default)]
    pub sdr_mc_locator_first: bool,
    /// NetFns (`sensor`, `storage`, `0x30`) or commands (`get_poh_counter`,
    /// `0x06:0x59`) answered 0xC1 (invalid command).
    #[serde(default)]
    pub unsupported: Vec<String>,
    /// Fault rules.
    #[serde(default)]
    pub rules: Vec<IpmiRuleSpec>,
    /// Deliberate protocol defects (for seeded-defect scenarios; all off by default).
    #[serde(default)]
    pub defects: IpmiDefectsFile,
}

/// The `[ipmi.defects]` table: deliberate deviations from IPMI v2.0 that seeded-defect
/// scenarios switch on to prove the conformance suite catches them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpmiDefectsFile {
    /// Process replayed and out-of-window session sequence numbers.
    #[serde(default)]
    pub accept_replays: bool,
    /// Do not verify RMCP+ integrity AuthCodes.
    #[serde(default)]
    pub skip_integrity_check: bool,
    /// Substitute an enabled suite for unsupported requested algorithms.
    #[serde(default)]
    pub substitute_algorithms: bool,
    /// Echo the requested privilege (0 included) in the Open Session Response.
    #[serde(default)]
    pub echo_requested_privilege: bool,
    /// Do not check SEL and SDR reservation IDs (0x0000 and superseded reservations
    /// accepted by partial reads, Delete SEL Entry and Clear SEL).
    #[serde(default)]
    pub ignore_reservations: bool,
    /// Accounts with these privilege limits (`"callback"`, `"user"`, `"operator"`)
    /// are not held to them: RAKP 1 and Activate Session above the limit granted, Set
    /// Session Privilege Level above it done.
    #[serde(default)]
    pub ignore_privilege_limit: Vec<String>,
    /// Accept IPMI 1.5 logins with authentication type none although `ipmi15_auth`
    /// does not enable (so Get Channel Authentication Capabilities does not
    /// advertise) it.
    #[serde(default)]
    pub accept_unadvertised_none: bool,
    /// Leave an enabled cipher suite 0 out of Get Channel Cipher Suites (logins with
    /// it still work).
    #[serde(default)]
    pub unlisted_suite_zero: bool,
}

impl Default for IpmiFile {
    fn default() -> Self {
        IpmiFile {
            cipher_suites: default_suites(),
            ipmi15_auth: default_auth(),
            session_limit: default_session_limit(),
            idle_timeout_ms: default_idle(),
            handshake_timeout_ms: default_handshake(),
            allow_anonymous: false,
            kg: None,
            presence_ping: true,
            max_read: None,
            device_support: None,
            sol: true,
            sdr_mc_locator_first: false,
            unsupported: Vec::new(),
            rules: Vec::new(),
            defects: IpmiDefectsFile::default(),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_suites() -> Vec<u8> {
    vec![17, 3, 2, 1]
}
fn default_auth() -> Vec<String> {
    vec!["md5".into(), "password".into()]
}
fn default_session_limit() -> usize {
    8
}
fn default_idle() -> u64 {
    60_000
}

fn default_handshake() -> u64 {
    5_000
}

/// A NetFn or command: a number or a name.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NameOrNumber {
    /// A number (0..=255).
    Number(u8),
    /// A name (`app`, `get_device_id`, ...).
    Name(String),
}

/// `[ipmi.rules.match]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpmiMatchSpec {
    /// Request NetFn: a number or `chassis`, `sensor`, `app`, `storage`, `transport`,
    /// `group_ext`.
    pub netfn: Option<NameOrNumber>,
    /// Command: a number (with or without `netfn`) or a command name such as
    /// `get_device_id` (which implies its NetFn).
    pub cmd: Option<NameOrNumber>,
    /// The session's (or the login's) user name.
    pub user: Option<String>,
    /// `ping`, `sessionless` (either framing; `sessionless15` or `sessionless_rmcpp`
    /// for one), `open_session`, `rakp1`, `rakp3`, `ipmi15`, `rmcpp`, `command` (ipmi15
    /// or rmcpp), `sol`.
    pub payload: Option<String>,
}

/// `[ipmi.rules.action]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpmiActionSpec {
    /// Drop the request: no answer, nothing changes.
    #[serde(default)]
    pub drop: bool,
    /// Send the reply this much later.
    pub delay_ms: Option<u64>,
    /// Send the reply twice.
    #[serde(default)]
    pub duplicate: bool,
    /// Answer this completion code instead of running the command.
    pub completion_code: Option<u8>,
    /// Answer these response data bytes (hex, `0x` optional, spaces allowed) after the
    /// completion code (0 unless `completion_code` says otherwise) instead of running
    /// the command.
    pub data: Option<String>,
    /// Flip a byte of the reply's AuthCode (the console must reject it).
    #[serde(default)]
    pub corrupt_integrity: bool,
    /// Stop offering this cipher suite from now on.
    pub disable_cipher_suite: Option<u8>,
    /// Lower (or set) the session limit from now on.
    pub session_limit: Option<usize>,
}

/// One `[[ipmi.rules]]` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpmiRuleSpec {
    /// A name for the journal.
    pub name: Option<String>,
    /// What it matches (everything when absent).
    #[serde(rename = "match", default)]
    pub matcher: IpmiMatchSpec,
    /// What it does.
    pub action: IpmiActionSpec,
    /// Let this many matches through before acting.
    #[serde(default)]
    pub skip: u32,
    /// Act at most this many times.
    pub times: Option<u32>,
}

/// Kinds of datagram a rule can match: what [`ipmi::peek::classify`] says a datagram is.
pub use ipmi::peek::Kind as Payload;

const PAYLOAD_NAMES: [&str; 11] = [
    "ping",
    "sessionless",
    "sessionless15",
    "sessionless_rmcpp",
    "open_session",
    "rakp1",
    "rakp3",
    "ipmi15",
    "rmcpp",
    "command",
    "sol",
];

/// A compiled matcher.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpmiMatcher {
    /// Request NetFn (even).
    pub netfn: Option<u8>,
    /// Command number.
    pub cmd: Option<u8>,
    /// User name.
    pub user: Option<String>,
    /// Payload kinds (any of them).
    pub payloads: Vec<Payload>,
}

/// What a rule does (compiled).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpmiAction {
    /// Drop the request.
    pub drop: bool,
    /// Delay the reply.
    pub delay_ms: u64,
    /// Send the reply twice.
    pub duplicate: bool,
    /// Answer this completion code.
    pub completion_code: Option<u8>,
    /// The response data sent after `completion_code`.
    pub data: Vec<u8>,
    /// Corrupt the reply's AuthCode.
    pub corrupt_integrity: bool,
    /// Disable this cipher suite.
    pub disable_cipher_suite: Option<u8>,
    /// Set the session limit.
    pub session_limit: Option<usize>,
}

impl IpmiAction {
    /// A short description for the journal (`drop`, `delay 200 ms`, ...).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.drop {
            parts.push("drop".to_owned());
        }
        if self.delay_ms > 0 {
            parts.push(format!("delay {} ms", self.delay_ms));
        }
        if self.duplicate {
            parts.push("duplicate".to_owned());
        }
        if let Some(cc) = self.completion_code {
            parts.push(format!("completion code {cc:#04x}"));
        }
        if !self.data.is_empty() {
            let hex: Vec<String> = self.data.iter().map(|b| format!("{b:02x}")).collect();
            parts.push(format!("data {}", hex.join("")));
        }
        if self.corrupt_integrity {
            parts.push("corrupt integrity".to_owned());
        }
        if let Some(s) = self.disable_cipher_suite {
            parts.push(format!("disable cipher suite {s}"));
        }
        if let Some(n) = self.session_limit {
            parts.push(format!("session limit {n}"));
        }
        parts.join(", ")
    }
}

/// A compiled rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiRule {
    /// Name.
    pub name: String,
    /// What it matches.
    pub matcher: IpmiMatcher,
    /// What it does.
    pub action: IpmiAction,
    /// Matches let through first.
    pub skip: u32,
    /// At most this many actions.
    pub times: Option<u32>,
}

/// The `[ipmi]` table, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpmiSettings {
    /// The session layer's configuration (its `port` is set by the listener).
    pub config: ipmi::session::BmcConfig,
    /// What the machine's BMC application implements (set on the machine when the
    /// listener's state is built).
    pub profile: machine::ipmi::IpmiProfile,
    /// The rules in order.
    pub rules: Vec<IpmiRule>,
}

/// What the rules see of one datagram.
#[derive(Debug, Clone, Copy)]
pub struct IpmiView<'a> {
    /// Its kind.
    pub payload: Payload,
    /// Request NetFn, when known.
    pub netfn: Option<u8>,
    /// Command, when known.
    pub cmd: Option<u8>,
    /// User, when known.
    pub user: Option<&'a str>,
}

impl IpmiMatcher {
    fn matches(&self, v: &IpmiView<'_>) -> bool {
        if !self.payloads.is_empty() && !self.payloads.contains(&v.payload) {
            return false;
        }
        if self.netfn.is_some() && self.netfn != v.netfn.map(|n| n & !1) {
            return false;
        }
        if self.cmd.is_some() && self.cmd != v.cmd {
            return false;
        }
        if let Some(u) = &self.user {
            if v.user != Some(u.as_str()) {
                return false;
            }
        }
        true
    }
}

/// The first rule that acts on `v`, counting matches in `hits` (one per rule).
pub fn decide<'r>(
    rules: &'r [IpmiRule],
    v: &IpmiView<'_>,
    hits: &mut Vec<u32>,
) -> Option<&'r IpmiRule> {
    if hits.len() < rules.len() {
        hits.resize(rules.len(), 0);
    }
    for (i, r) in rules.iter().enumerate() {
        if !r.matcher.matches(v) {
            continue;
        }
        let seen = hits[i];
        if r.times.is_some_and(|t| seen >= r.skip.saturating_add(t)) {
            continue;
        }
        hits[i] = seen.saturating_add(1);
        if seen < r.skip {
            continue;
        }
        return Some(r);
    }
    None
}

/// The most response data bytes a rule answers (an IPMI message fits in one
/// datagram whatever the framing).
pub const MAX_RULE_DATA: usize = 200;

/// A refusal: the TOML path of the offending value, the message, what was expected,
/// a hint.
pub type Refusal = (String, String, Option<String>, Option<String>);

/// Checks the `[ipmi]` table.
pub fn compile(file: &IpmiFile) -> Result<IpmiSettings, Refusal> {
    let mut config = ipmi::session::BmcConfig::default();
    const SUITES: [u8; 5] = [0, 1, 2, 3, 17];
    for (i, s) in file.cipher_suites.iter().enumerate() {
        if !SUITES.contains(s) {
            return Err((
                format!("ipmi.cipher_suites[{i}]"),
                format!("cipher suite {s} is not one the mock implements"),
                Some("0, 1, 2, 3 or 17".into()),
                Some("3 (HMAC-SHA1, AES) and 17 (HMAC-SHA256, AES) are what clients use".into()),
            ));
        }
    }
    config.cipher_suites = dedup(&file.cipher_suites);
    let mut auth = Vec::new();
    for (i, a) in file.ipmi15_auth.iter().enumerate() {
        let t = match a.to_ascii_lowercase().as_str() {
            "none" => AuthType::None,
            "md5" => AuthType::Md5,
            "password" | "straight" => AuthType::Password,
            _ => {
                return Err((
                    format!("ipmi.ipmi15_auth[{i}]"),
                    format!("`{a}` is not an IPMI 1.5 authentication type the mock offers"),
                    Some("\"none\", \"md5\" or \"password\"".into()),
                    crate::scenario::closest_of(a, &["none", "md5", "password"])
                        .map(|c| format!("did you mean \"{c}\"?"))
                        .or_else(|| Some("MD2 is not offered (Debian's ipmitool lacks it)".into())),
                ));
            }
        };
        if !auth.contains(&t) {
            auth.push(t);
        }
    }
    config.ipmi15_auth = auth;
    if file.session_limit == 0 || file.session_limit > 63 {
        return Err((
            "ipmi.session_limit".into(),
            format!("session_limit = {} is out of range", file.session_limit),
            Some("1..=63".into()),
            None,
        ));
    }
    config.session_limit = file.session_limit;
    if file.idle_timeout_ms == 0 {
        return Err((
            "ipmi.idle_timeout_ms".into(),
            "idle_timeout_ms = 0 would close every session at once".into(),
            Some("a number of milliseconds above 0 (60000 is usual)".into()),
            None,
        ));
    }
    config.idle_timeout_ms = file.idle_timeout_ms;
    if file.handshake_timeout_ms == 0 {
        return Err((
            "ipmi.handshake_timeout_ms".into(),
            "handshake_timeout_ms = 0 would forget every login between its messages".into(),
            Some("a number of milliseconds above 0 (5000 is the default)".into()),
            None,
        ));
    }
    config.handshake_timeout_ms = file.handshake_timeout_ms;
    config.allow_anonymous = file.allow_anonymous;
    config.defects = ipmi::session::BmcDefects {
        accept_replays: file.defects.accept_replays,
        skip_integrity_check: file.defects.skip_integrity_check,
        substitute_algorithms: file.defects.substitute_algorithms,
        echo_requested_privilege: file.defects.echo_requested_privilege,
        ignore_privilege_limit: privilege_levels(&file.defects.ignore_privilege_limit)?,
        accept_unadvertised_none: file.defects.accept_unadvertised_none,
        unlisted_suite_zero: file.defects.unlisted_suite_zero,
    };
    config.presence_ping = file.presence_ping;
    config.sol = file.sol;
    let profile = compile_profile(file)?;
    if let Some(kg) = &file.kg {
        let bytes = match kg.strip_prefix("0x").or_else(|| kg.strip_prefix("0X")) {
            Some(hex) => decode_hex(hex),
            None => Some(kg.as_bytes().to_vec()),
        };
        match bytes {
            Some(b) if b.len() <= 20 => config.kg = Some(b),
            _ => {
                return Err((
                    "ipmi.kg".into(),
                    "kg is not a key of at most 20 bytes".into(),
                    Some(
                        "text of at most 20 bytes, or 0x followed by at most 40 hex digits".into(),
                    ),
                    None,
                ));
            }
        }
    }
    let mut rules = Vec::new();
    for (i, spec) in file.rules.iter().enumerate() {
        rules.push(compile_rule(spec, i)?);
    }
    Ok(IpmiSettings {
        config,
        profile,
        rules,
    })
}

/// `[ipmi.defects] ignore_privilege_limit`: account limits by name.
fn privilege_levels(names: &[String]) -> Result<Vec<ipmi::codes::Privilege>, Refusal> {
    use ipmi::codes::Privilege;
    const LEVELS: [(&str, Privilege); 3] = [
        ("callback", Privilege::Callback),
        ("user", Privilege::User),
        ("operator", Privilege::Operator),
    ];
    let mut out = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let Some((_, p)) = LEVELS.iter().find(|(l, _)| l.eq_ignore_ascii_case(n)) else {
            let all: Vec<&str> = LEVELS.iter().map(|(l, _)| *l).collect();
            return Err((
                format!("ipmi.defects.ignore_privilege_limit[{i}]"),
                format!("`{n}` is not an account privilege limit that can be exceeded"),
                Some("\"callback\", \"user\" or \"operator\"".into()),
                crate::scenario::closest_of(n, &all)
                    .map(|c| format!("did you mean \"{c}\"?"))
                    .or_else(|| Some("an administrator account has nothing above it".into())),
            ));
        };
        if !out.contains(p) {
            out.push(*p);
        }
    }
    Ok(out)
}

/// Get Device ID's additional device support bits (IPMI v2.0 20.1), by name.
const DEVICE_BITS: [(&str, u8); 8] = [
    ("sensor", 0),
    ("sdr_repository", 1),
    ("sel", 2),
    ("fru_inventory", 3),
    ("ipmb_event_receiver", 4),
    ("ipmb_event_generator", 5),
    ("bridge", 6),
    ("chassis", 7),
];

/// The machine's side of the `[ipmi]` table: device support, read size, SOL, SDR
/// order, unimplemented commands, reservation checks.
fn compile_profile(file: &IpmiFile) -> Result<machine::ipmi::IpmiProfile, Refusal> {
    let mut p = machine::ipmi::IpmiProfile {
        sol: file.sol,
        mc_locator_first: file.sdr_mc_locator_first,
        ignore_reservations: file.defects.ignore_reservations,
        ..machine::ipmi::IpmiProfile::default()
    };
    if let Some(n) = file.max_read {
        if !(8..=255).contains(&n) {
            return Err((
                "ipmi.max_read".into(),
                format!("max_read = {n} is out of range"),
                Some("8..=255 (bytes)".into()),
                Some(
                    "clients read the 5-byte SDR header and the 8-byte FRU common header in one piece; 16 and 32 are what small BMCs allow"
                        .into(),
                ),
            ));
        }
        p.max_read = n;
    }
    if let Some(names) = &file.device_support {
        let mut bits = 0u8;
        for (i, name) in names.iter().enumerate() {
            let Some((_, bit)) = DEVICE_BITS
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            else {
                let all: Vec<&str> = DEVICE_BITS.iter().map(|(n, _)| *n).collect();
                return Err((
                    format!("ipmi.device_support[{i}]"),
                    format!("`{name}` is not an additional device support bit"),
                    Some(format!("one of {}", all.join(", "))),
                    crate::scenario::closest_of(name, &all).map(|c| format!("did you mean `{c}`?")),
                ));
            };
            bits |= 1 << bit;
        }
        p.device_support = bits;
    }
    for (i, entry) in file.unsupported.iter().enumerate() {
        let at = format!("ipmi.unsupported[{i}]");
        let (netfn, cmd) = unsupported_entry(entry).ok_or_else(|| {
            let mut names: Vec<&str> = commands::NETFNS.iter().map(|(_, n)| *n).collect();
            names.extend(command_names());
            (
                at.clone(),
                format!("`{entry}` is not a NetFn or command name"),
                Some(
                    "a NetFn name (sensor, storage, ...), a command name (get_poh_counter, ...), 0xNN (a NetFn) or 0xNN:0xMM (NetFn:command)"
                        .into(),
                ),
                crate::scenario::closest_of(entry, &names).map(|c| format!("did you mean `{c}`?")),
            )
        })?;
        // App commands the session layer answers itself cannot be reached.
        let session = |c: u8| {
            commands::lookup(netfn, c)
                .is_some_and(|e| e.handler == Handler::Session && e.netfn == netfn)
        };
        if cmd.is_some_and(session) {
            return Err((
                at,
                format!("`{entry}` is answered by the session layer, not by the machine"),
                Some("a command the machine answers".into()),
                Some(
                    "sol = false turns the payload commands off; [[ipmi.rules]] with completion_code can refuse the others"
                        .into(),
                ),
            ));
        }
        if !p.unsupported.contains(&(netfn, cmd)) {
            p.unsupported.push((netfn, cmd));
        }
    }
    Ok(p)
}

/// An `unsupported` entry: a NetFn or command name, `0xNN` or `0xNN:0xMM`.
fn unsupported_entry(s: &str) -> Option<(u8, Option<u8>)> {
    let hex = |h: &str| {
        let h = h.trim();
        let digits = h.strip_prefix("0x").or_else(|| h.strip_prefix("0X"))?;
        u8::from_str_radix(digits, 16).ok()
    };
    if let Some((n, c)) = s.split_once(':') {
        let n = hex(n)?;
        return (n % 2 == 0).then_some((n, Some(hex(c)?)));
    }
    if let Some(n) = hex(s) {
        return (n % 2 == 0).then_some((n, None));
    }
    if let Some(n) = netfn_by_name(s) {
        return Some((n, None));
    }
    command_by_name(s).map(|(n, c)| (n, Some(c)))
}

fn dedup(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for x in v {
        if !out.contains(x) {
            out.push(*x);
        }
    }
    out
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

fn compile_rule(spec: &IpmiRuleSpec, i: usize) -> Result<IpmiRule, Refusal> {
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| format!("ipmi.rules[{i}]"));
    let at = |key: &str| format!("ipmi.rules[{i}].{key}");
    let mut m = IpmiMatcher::default();
    if let Some(n) = &spec.matcher.netfn {
        m.netfn = Some(match n {
            NameOrNumber::Number(v) => {
                if v % 2 != 0 {
                    return Err((
                        at("match.netfn"),
                        format!("rule `{name}`: netfn {v:#04x} is a response NetFn"),
                        Some("an even (request) NetFn".into()),
                        Some(format!("did you mean {:#04x}?", v & !1)),
                    ));
                }
                *v
            }
            NameOrNumber::Name(s) => match netfn_by_name(s) {
                Some(v) => v,
                None => {
                    let names: Vec<&str> = commands::NETFNS.iter().map(|(_, n)| *n).collect();
                    return Err((
                        at("match.netfn"),
                        format!("rule `{name}`: `{s}` is not a NetFn name"),
                        Some(format!("a number or one of {}", names.join(", "))),
                        crate::scenario::closest_of(s, &names)
                            .map(|c| format!("did you mean `{c}`?")),
                    ));
                }
            },
        });
    }
    if let Some(c) = &spec.matcher.cmd {
        match c {
            NameOrNumber::Number(v) => m.cmd = Some(*v),
            NameOrNumber::Name(s) => {
                match command_by_name(s) {
                    Some((nf, cmd)) => {
                        if m.netfn.is_some_and(|n| n != nf) {
                            return Err((
                                at("match.cmd"),
                                format!("rule `{name}`: `{s}` is not in the rule's netfn"),
                                Some(format!("netfn = \"{}\" or no netfn", netfn_name(nf))),
                                None,
                            ));
                        }
                        m.netfn = Some(nf);
                        m.cmd = Some(cmd);
                    }
                    None => {
                        let names: Vec<&str> = command_names();
                        return Err((
                        at("match.cmd"),
                        format!("rule `{name}`: `{s}` is not a command name the mock knows"),
                        Some("a number, or a name such as get_device_id, chassis_control, get_sdr".into()),
                        crate::scenario::closest_of(s, &names).map(|c| format!("did you mean `{c}`?")),
                    ));
                    }
                }
            }
        }
    }
    m.user = spec.matcher.user.clone();
    if let Some(p) = &spec.matcher.payload {
        m.payloads = match p.as_str() {
            "ping" => vec![Payload::Ping],
            "sessionless" => vec![Payload::Sessionless, Payload::SessionlessRmcpp],
            "sessionless15" => vec![Payload::Sessionless],
            "sessionless_rmcpp" => vec![Payload::SessionlessRmcpp],
            "open_session" => vec![Payload::OpenSession],
            "rakp1" => vec![Payload::Rakp1],
            "rakp3" => vec![Payload::Rakp3],
            "ipmi15" => vec![Payload::Ipmi15],
            "rmcpp" => vec![Payload::Rmcpp],
            "command" => vec![Payload::Ipmi15, Payload::Rmcpp],
            "sol" => vec![Payload::Sol],
            other => {
                return Err((
                    at("match.payload"),
                    format!("rule `{name}`: `{other}` is not a payload kind"),
                    Some(format!("one of {}", PAYLOAD_NAMES.join(", "))),
                    crate::scenario::closest_of(other, &PAYLOAD_NAMES)
                        .map(|c| format!("did you mean `{c}`?")),
                ));
            }
        };
    }
    let a = &spec.action;
    let data = match &a.data {
        None => Vec::new(),
        Some(text) => {
            let digits: String = text.split_whitespace().collect();
            let digits = digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0X"))
                .unwrap_or(&digits);
            match decode_hex(digits) {
                Some(d) if !d.is_empty() && d.len() <= MAX_RULE_DATA => d,
                _ => {
                    return Err((
                        at("action.data"),
                        format!("rule `{name}`: data is not 1 to {MAX_RULE_DATA} bytes of hex"),
                        Some("hex digits, such as \"0x2081\" or \"20 81\"".into()),
                        None,
                    ));
                }
            }
        }
    };
    let action = IpmiAction {
        drop: a.drop,
        delay_ms: a.delay_ms.unwrap_or(0),
        duplicate: a.duplicate,
        completion_code: a
            .completion_code
            .or_else(|| (!data.is_empty()).then_some(ipmi::codes::cc::OK)),
        data,
        corrupt_integrity: a.corrupt_integrity,
        disable_cipher_suite: a.disable_cipher_suite,
        session_limit: a.session_limit,
    };
    if action == IpmiAction::default() {
        return Err((
            at("action"),
            format!("rule `{name}` does nothing"),
            Some("drop, delay_ms, duplicate, completion_code, data, corrupt_integrity, disable_cipher_suite or session_limit".into()),
            None,
        ));
    }
    if action.drop
        && (action.delay_ms > 0
            || action.duplicate
            || action.corrupt_integrity
            || action.completion_code.is_some())
    {
        return Err((
            at("action.drop"),
            format!("rule `{name}` drops the request and also shapes its reply"),
            Some("drop alone (with disable_cipher_suite or session_limit at most)".into()),
            None,
        ));
    }
    if action.completion_code == Some(0) && action.data.is_empty() {
        return Err((
            at("action.completion_code"),
            format!("rule `{name}`: completion code 0 (success) without `data`"),
            Some("a non-zero completion code such as 0xC1 or 0xC0, or `data`".into()),
            None,
        ));
    }
    if action.session_limit.is_some_and(|n| n == 0 || n > 63) {
        return Err((
            at("action.session_limit"),
            format!("rule `{name}`: session_limit is out of range"),
            Some("1..=63".into()),
            None,
        ));
    }
    if spec.times == Some(0) {
        return Err((
            at("times"),
            format!("rule `{name}`: times = 0 never acts"),
            Some("a number above 0, or no `times` for always".into()),
            None,
        ));
    }
    Ok(IpmiRule {
        name,
        matcher: m,
        action,
        skip: spec.skip,
        times: spec.times,
    })
}

use ipmi::commands::{self, Handler};

fn netfn_by_name(s: &str) -> Option<u8> {
    commands::netfn_by_name(s)
}

fn command_by_name(s: &str) -> Option<(u8, u8)> {
    commands::by_key(s).map(commands::Command::id)
}

/// Every command name a scenario may use.
fn command_names() -> Vec<&'static str> {
    commands::keys().collect()
}

/// The name of a NetFn (request or response), or its number in hex.
pub fn netfn_name(netfn: u8) -> String {
    commands::netfn_name(netfn)
}

/// The name of a command, or `netfn:cmd` in hex.
pub fn command_name(netfn: u8, cmd: u8) -> String {
    commands::command_name(netfn, cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(skip: u32, times: Option<u32>) -> IpmiRule {
        IpmiRule {
            name: "r".into(),
            matcher: IpmiMatcher {
                netfn: Some(0x06),
                cmd: Some(0x01),
                ..IpmiMatcher::default()
            },
            action: IpmiAction {
                drop: true,
                ..IpmiAction::default()
            },
            skip,
            times,
        }
    }

    fn view(netfn: u8, cmd: u8) -> IpmiView<'static> {
        IpmiView {
            payload: Payload::Rmcpp,
            netfn: Some(netfn),
            cmd: Some(cmd),
            user: Some("admin"),
        }
    }

    #[test]
    fn skip_then_times() {
        let rules = vec![rule(1, Some(2))];
        let mut hits = Vec::new();
        let acted: Vec<bool> = (0..5)
            .map(|_| decide(&rules, &view(0x06, 0x01), &mut hits).is_some())
            .collect();
        assert_eq!(acted, [false, true, true, false, false]);
        assert!(decide(&rules, &view(0x0A, 0x01), &mut hits).is_none());
    }

    #[test]
    fn names_resolve_both_ways() {
        assert_eq!(command_by_name("Get_SDR"), Some((0x0A, 0x23)));
        assert_eq!(command_name(0x0B, 0x23), "get_sdr");
        assert_eq!(command_name(0x30, 0x01), "0x30:0x01");
        assert_eq!(netfn_name(0x07), "app");
    }

    #[test]
    fn payload_names_are_the_scenario_names() {
        for k in Payload::ALL {
            assert!(
                PAYLOAD_NAMES.contains(&k.name()) || k == Payload::Other,
                "{}",
                k.name()
            );
        }
    }
}
