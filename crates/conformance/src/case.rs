//! The case model: what a suite file describes once loaded, and the outcome of
//! running it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How strongly the clause binds the target (RFC 2119 keywords).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// Required: a case that is not met fails.
    #[serde(rename = "MUST")]
    Must,
    /// Recommended: a case that is not met warns.
    #[serde(rename = "SHOULD")]
    Should,
    /// Optional: a case that is not met is skipped as "not offered".
    #[serde(rename = "MAY")]
    May,
}

impl Level {
    /// The level a requirement's keyword gives (RFC 2119 and DMTF usage: `shall`,
    /// `must`, `shall not`, `must not`, `required` → MUST; `should`, `should not`,
    /// `recommended` → SHOULD; `may`, `optional` → MAY).
    pub fn from_keyword(keyword: &str) -> Option<Level> {
        match keyword.trim().to_ascii_lowercase().as_str() {
            "shall" | "must" | "shall not" | "must not" | "required" => Some(Level::Must),
            "should" | "should not" | "recommended" => Some(Level::Should),
            "may" | "optional" => Some(Level::May),
            _ => None,
        }
    }

    /// `MUST`, `SHOULD` or `MAY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }
}

/// The requirement a case checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    /// The specification (`DSP0226 1.3`, `SOAP 1.2 Part 1`, `WS-Addressing 2004/08`).
    pub spec: String,
    /// The section, by number and title (`5.4.3 MessageID`), or its title alone.
    pub section: String,
    /// The requirement in our own words.
    pub requirement: String,
    /// The requirement's own identifier as the text states it (`R6.2-4` for DSP0226,
    /// `7.5.2.2` for a SOAP section, `3.1.4.1.23` for MS-WSMV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The normative keyword of its wording (`shall`, `should`, `may`, ...); the
    /// case's level follows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    /// `false` when the identifier comes from the specification's structure and its
    /// wording has not yet been read (the traceability table says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

impl std::fmt::Display for Clause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.id, &self.keyword) {
            (Some(id), Some(k)) if !self.section.contains(id.as_str()) => write!(
                f,
                "{} {id} ({k}), {}: {}",
                self.spec, self.section, self.requirement
            ),
            (_, Some(k)) => write!(
                f,
                "{}, {} ({k}): {}",
                self.spec, self.section, self.requirement
            ),
            _ => write!(f, "{}, {}: {}", self.spec, self.section, self.requirement),
        }
    }
}

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every expectation was met.
    Pass,
    /// A MUST expectation was not met.
    Fail,
    /// A SHOULD expectation was not met.
    Warn,
    /// Not applicable to this target (the reason is in the message).
    Skip,
    /// The harness could not run the case (the reason is in the message).
    Error,
}

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Pass,
        Outcome::Fail,
        Outcome::Warn,
        Outcome::Skip,
        Outcome::Error,
    ];

    /// `pass`, `fail`, `warn`, `skip` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Warn => "warn",
            Outcome::Skip => "skip",
            Outcome::Error => "error",
        }
    }
}

/// One case, loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Stable ID, dot-separated, lowercase (`wsman.transfer.get.relates-to`).
    pub id: String,
    /// One line saying what is checked.
    pub title: String,
    /// The requirement.
    pub clause: Clause,
    /// MUST, SHOULD or MAY.
    pub level: Level,
    /// Profiles the case belongs to (`core`, `transfer`...); the first is its home.
    pub profiles: Vec<String>,
    /// Capabilities the target must offer for the case to apply (`class:CIM_Fan`,
    /// `identify:unauthenticated`); missing ones make it a skip with the reason.
    pub requires: Vec<String>,
    /// Deadline of the whole case, in milliseconds (the run's default when absent).
    pub timeout_ms: Option<u64>,
    /// Target state the case could lose when the target misbehaves and that the
    /// engine saves before it and puts back after it (`sel`: the IPMI SEL entries).
    pub preserve: Vec<String>,
    /// Data steps, or a registered code case.
    pub body: CaseBody,
    /// Where the case was defined (`suites/wsman/core.toml:12:1`).
    pub origin: String,
}

impl Case {
    /// The libtest name: the ID with `::` separators and `_` for `-`
    /// (`wsman::transfer::get::relates_to`).
    pub fn test_name(&self) -> String {
        test_name(&self.id)
    }
}

/// The libtest name of a case ID.
pub fn test_name(id: &str) -> String {
    id.replace('.', "::").replace('-', "_")
}

/// What a case does.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseBody {
    /// Steps run in order; each sends a request and checks the answer.
    Steps(Vec<Step>),
    /// A registered Rust function (see [`crate::code`]).
    Code(crate::code::CodeFn),
}

/// One request and what its answer must look like.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A short name for reports.
    #[serde(default)]
    pub name: Option<String>,
    /// The request.
    pub request: RequestSpec,
    /// What the answer must look like.
    #[serde(default)]
    pub expect: Expect,
    /// Values to keep for later steps' templates: variable name → path in the answer.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// A connection closed or timed out without an answer is acceptable here (the
    /// step is a provocation; a later step checks the target is still alive).
    #[serde(default)]
    pub tolerate_no_answer: bool,
}

/// The operation a request template stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// `wsmid:Identify`.
    Identify,
    /// WS-Transfer Get.
    Get,
    /// WS-Enumeration Enumerate.
    Enumerate,
    /// WS-Enumeration Pull of `context`.
    Pull,
    /// WS-Enumeration Release of `context`.
    Release,
    /// The `body` template as it is.
    Raw,
    /// An IPMI command over LAN (`netfn`, `cmd`, `data`, `session`, `as_user`,
    /// `privilege`); see [`crate::ipmi`].
    Ipmi,
}

/// Parts of the built envelope a request can leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Omit {
    /// `wsa:To`.
    To,
    /// `wsa:Action`.
    Action,
    /// `wsa:MessageID`.
    MessageId,
    /// `wsa:ReplyTo`.
    ReplyTo,
    /// `wsman:ResourceURI`.
    ResourceUri,
}

/// An extra header element (for mustUnderstand tests).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraHeader {
    /// Namespace URI.
    pub ns: String,
    /// Local name.
    pub name: String,
    /// Text content.
    #[serde(default)]
    pub value: String,
    /// The `s:mustUnderstand` attribute.
    #[serde(default)]
    pub must_understand: bool,
}

fn yes() -> bool {
    true
}

/// A request template. Structured operations are built with `client::build`; `raw`
/// sends `body` (after template expansion) as it is.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// The operation.
    pub op: Op,
    /// The resource: a CIM class name (`CIM_ComputerSystem`) or a full URI.
    #[serde(default)]
    pub resource: Option<String>,
    /// Selectors (name → value; values are templates).
    #[serde(default)]
    pub selectors: BTreeMap<String, String>,
    /// The enumeration context of Pull and Release (a template, `{{ctx}}`).
    #[serde(default)]
    pub context: Option<String>,
    /// Enumerate: ask for optimized enumeration.
    #[serde(default)]
    pub optimize: bool,
    /// Enumerate (optimized) and Pull: MaxElements.
    #[serde(default)]
    pub max_elements: Option<u32>,
    /// Headers to leave out of the built envelope.
    #[serde(default)]
    pub omit: Vec<Omit>,
    /// An extra header element.
    #[serde(default)]
    pub extra_header: Option<ExtraHeader>,
    /// The body of a `raw` request (a template).
    #[serde(default)]
    pub body: Option<String>,
    /// HTTP method (POST unless given).
    #[serde(default)]
    pub method: Option<String>,
    /// Content-Type (`application/soap+xml;charset=UTF-8` unless given; empty omits it).
    #[serde(default)]
    pub content_type: Option<String>,
    /// More HTTP headers.
    #[serde(default)]
    pub http_headers: BTreeMap<String, String>,
    /// Whether to send credentials (true unless given).
    #[serde(default = "yes")]
    pub auth: bool,
    /// IPMI: the network function.
    #[serde(default)]
    pub netfn: Option<u8>,
    /// IPMI: the command.
    #[serde(default)]
    pub cmd: Option<u8>,
    /// IPMI: request data as hex bytes (`"01 02"`; `{{var}}` inserts captured bytes).
    #[serde(default)]
    pub data: Option<String>,
    /// IPMI: `rmcp+` (default: an RMCP+ session), `ipmi15` (an IPMI 1.5 MD5 session),
    /// `sessionless` (RMCP+ framing, no session) or `sessionless15`.
    #[serde(default)]
    pub session: Option<String>,
    /// IPMI: whose credentials (`admin`, default; `operator`; `user`).
    #[serde(default)]
    pub as_user: Option<String>,
    /// IPMI: the session privilege (`user`, `operator`, `administrator`; default the
    /// role's own level).
    #[serde(default)]
    pub privilege: Option<String>,
}

/// One value or a list of alternatives.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// Any of these.
    Many(Vec<T>),
}

impl<T: PartialEq> OneOrMany<T> {
    /// The alternatives.
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(t) => std::slice::from_ref(t),
            OneOrMany::Many(v) => v,
        }
    }

    /// Whether `t` is one of the alternatives.
    pub fn contains(&self, t: &T) -> bool {
        self.as_slice().contains(t)
    }
}

/// What a fault answer must carry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultExpect {
    /// `s:Code/s:Value` local name (`Sender`, `Receiver`, `MustUnderstand`, `VersionMismatch`).
    #[serde(default)]
    pub code: Option<OneOrMany<String>>,
    /// The subcode QName (`wsman:InvalidSelectors`); `""` for "no subcode".
    #[serde(default)]
    pub subcode: Option<OneOrMany<String>>,
    /// The `wsman:FaultDetail` token.
    #[serde(default)]
    pub detail: Option<OneOrMany<String>>,
}

/// What an answer must look like. Every field given must hold.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The HTTP status is one of these.
    #[serde(default)]
    pub status: Option<OneOrMany<u16>>,
    /// The HTTP status is none of these ranges' hundreds (`[5]` = not 5xx).
    #[serde(default)]
    pub status_class_not: Vec<u16>,
    /// These HTTP response headers are present.
    #[serde(default)]
    pub http_headers: Vec<String>,
    /// The answer is a well-formed envelope.
    #[serde(default)]
    pub envelope: bool,
    /// `wsa:Action` of the answer.
    #[serde(default)]
    pub action: Option<String>,
    /// `wsa:RelatesTo` equals the request's MessageID.
    #[serde(default)]
    pub relates_to: bool,
    /// The answer is not a fault.
    #[serde(default)]
    pub no_fault: bool,
    /// The answer is a fault with these properties (`fault = {}`: any fault).
    #[serde(default)]
    pub fault: Option<FaultExpect>,
    /// These paths select at least one element.
    #[serde(default)]
    pub present: Vec<String>,
    /// These paths select nothing.
    #[serde(default)]
    pub absent: Vec<String>,
    /// The first element each path selects has this text (templates allowed).
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// At least one of these alternatives holds.
    #[serde(default)]
    pub any: Vec<Expect>,
    /// IPMI: the completion code is one of these.
    #[serde(default)]
    pub completion: Option<OneOrMany<u8>>,
    /// IPMI: the response data (after the completion code) has exactly this length.
    #[serde(default)]
    pub length: Option<usize>,
    /// IPMI: ... at least this length.
    #[serde(default)]
    pub min_length: Option<usize>,
    /// IPMI: the response data starts with these bytes (hex; `..` matches any byte).
    #[serde(default)]
    pub data: Option<String>,
    /// IPMI: `[offset, mask, value]`: `data[offset] & mask == value`.
    #[serde(default)]
    pub bits: Vec<[u8; 3]>,
    /// IPMI: the answer came within this many milliseconds.
    #[serde(default)]
    pub within_ms: Option<u64>,
    /// IPMI: completion codes by which the BMC says it does not support what was asked
    /// (0x80, "parameter not supported", of the Get ... Parameters commands): the case
    /// is skipped, naming the code, instead of judged.
    #[serde(default)]
    pub unsupported: Vec<u8>,
}
