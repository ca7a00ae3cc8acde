// Over 800 lines because it is the one scenario schema: each TOML table's types sit next to its defaults and its checks (with positions), which read together.
//! Scenario files: what the mock is (the machine, the WS-Man flavour, authentication)
//! and what it does beyond the defaults (rules). A scenario is TOML; a broken one is
//! refused with `file:line:column`, what was expected, and a hint.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;
use wsman::FaultKind;

use crate::http::{AuthPolicy, DigestAlgorithm};
use crate::rules::{Answer, Matcher, Rule, RuleSet, Transport};

/// The scenario compiled into the binary; identical to `mocks/default.toml`.
pub const DEFAULT_TOML: &str = include_str!("../../../mocks/default.toml");

/// The scenarios built into the binary, by the name a fleet's mix uses: the default
/// and the product-shaped ones in `mocks/`.
pub const BUILTIN: [(&str, &str); 8] = [
    ("default", DEFAULT_TOML),
    ("amt-like", include_str!("../../../mocks/amt-like.toml")),
    (
        "amt-minimal",
        include_str!("../../../mocks/amt-minimal.toml"),
    ),
    (
        "windows-server",
        include_str!("../../../mocks/windows-server.toml"),
    ),
    (
        "winrm-minimal",
        include_str!("../../../mocks/winrm-minimal.toml"),
    ),
    (
        "minimal-resource",
        include_str!("../../../mocks/minimal-resource.toml"),
    ),
    (
        "ipmi-chassis-only",
        include_str!("../../../mocks/ipmi-chassis-only.toml"),
    ),
    (
        "ipmi-small-reads",
        include_str!("../../../mocks/ipmi-small-reads.toml"),
    ),
];

/// A refused scenario: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file name (or `<string>`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// What would have been accepted.
    pub expected: Option<String>,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // Not a position in the file (it could not be read at all).
            write!(f, "{}: {}", self.file, self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )?;
        }
        if let Some(e) = &self.expected {
            write!(f, "\n  expected: {e}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// The `[scenario]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// A short name.
    #[serde(default)]
    pub name: String,
    /// What the scenario is for.
    #[serde(default)]
    pub description: String,
}

/// The values `[http] auth` accepts.
const AUTH_SCHEMES: [&str; 4] = ["basic", "digest", "negotiate", "ntlm"];

/// The `[http]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Schemes offered: `basic`, `digest`, `negotiate` (NTLM; `ntlm` is an alias).
    pub auth: Vec<String>,
    /// Digest algorithms offered.
    pub digest_algorithms: Vec<DigestAlgorithm>,
    /// The realm.
    pub realm: String,
    /// Answer Identify without credentials when `WSMANIDENTIFY: unauthenticated` is sent.
    pub unauthenticated_identify: bool,
    /// Largest accepted request body in bytes (WinRM's default MaxEnvelopeSizekb is 500).
    pub max_request_bytes: usize,
    /// WinRM's `AllowUnencrypted`: over plain HTTP, accept authenticated SOAP bodies
    /// that are not sealed by an NTLM session (false: 401). HTTPS is not affected.
    pub allow_unencrypted: bool,
    /// Milliseconds a client has to send a request's body after its headers (408 and
    /// the connection closed beyond).
    pub body_timeout_ms: u64,
    /// Most connections one listener serves at once (one more is closed at once).
    pub max_connections: usize,
    /// How many exchanges (HTTP requests and IPMI datagrams) the journal keeps, newest
    /// last; 0 keeps none and skips building the records (for load tests, where the
    /// journal is most of the per-request allocation).
    pub journal_capacity: usize,
    /// How many bytes of response bodies the journal's entries keep, newest first
    /// (the newest entry's always); an older entry keeps the rest of its record and
    /// the response's length ([`crate::journal::Journal::with_budgets`]).
    pub journal_response_bytes: usize,
    /// How many bytes of requests (target, headers, the body's first 64 KiB) and of
    /// response headers the journal's entries keep, newest first (the newest entry's
    /// always): older entries are dropped whole past it
    /// ([`crate::journal::Journal::with_budgets`]).
    pub journal_request_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            auth: vec!["basic".into(), "digest".into()],
            digest_algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            realm: "Touchstone".into(),
            unauthenticated_identify: true,
            max_request_bytes: 512_000,
            body_timeout_ms: 30_000,
            max_connections: 1024,
            allow_unencrypted: true,
            journal_capacity: crate::journal::DEFAULT_CAPACITY,
            journal_response_bytes: crate::journal::DEFAULT_RESPONSE_BYTES,
            journal_request_bytes: crate::journal::DEFAULT_REQUEST_BYTES,
        }
    }
}

/// How faults look on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// DSP0226: each fault with the catalogue's HTTP status (500 for every fault code
    /// but `s:Sender`, per the SOAP 1.2 HTTP binding; openwsman's 4xx/5xx choices for
    /// Sender faults), a `wsman:FaultDetail` where the catalogue has one.
    #[default]
    Dmtf,
    /// Windows WinRM: every fault is HTTP 500 with an `f:WSManFault` detail.
    Windows,
}

/// The `[wsman]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WsmanSettings {
    /// Fault style.
    pub flavour: Flavour,
    /// Deviations accepted instead of faulted: `missing_must_understand`, `relative_to`,
    /// `non_uuid_message_id`.
    pub lenient: Vec<String>,
    /// CIM namespaces the `__cimnamespace` selector may name.
    pub cim_namespaces: Vec<String>,
    /// The WMI namespace path under `.../wsman/1/wmi/` that serves the machine's classes.
    pub wmi_namespace: String,
    /// Seconds an idle enumeration context lives when the client sets no Expires.
    pub enumeration_expiry_s: u64,
    /// Most enumeration contexts alive at once (a quota fault beyond).
    pub max_enumerations: usize,
    /// Most enumeration contexts one user may hold at once (a quota fault beyond), so
    /// that one client cannot exhaust `max_enumerations` for everyone.
    pub max_enumerations_per_user: usize,
    /// Most remote shells one user may have open at once (WinRM's MaxShellsPerUser,
    /// default 30); one more is refused with `wsman:QuotaLimit`.
    pub max_shells_per_user: usize,
    /// Machine name in WinRM fault details.
    pub fault_machine: Option<String>,
    /// Vendor schemas: class-name prefix → resource URI prefix. Classes whose name
    /// starts with the prefix are served under `<URI prefix><Class>` instead of the
    /// DMTF URI, as Intel AMT serves `AMT_*` under
    /// `http://intel.com/wbem/wscim/1/amt-schema/1/`.
    pub vendor_schemas: BTreeMap<String, String>,
    /// Whether UTF-16 requests are accepted (answered in UTF-16, same byte order, with
    /// a BOM). False: a UTF-16 request is answered `wsman:EncodingLimit` with detail
    /// `CharacterSet`, in UTF-8, as a service that reads only UTF-8 does.
    pub utf16: bool,
    /// The CIM classes served over WS-Man (built-in and `[[machine.instances]]` ones,
    /// under the DMTF, vendor and WMI URIs). Absent: every class. A class not listed
    /// is `wsa:DestinationUnreachable`, as an unknown resource is; the classes of
    /// `[wsman.resources]` are served whatever this says.
    pub classes: Option<Vec<String>>,
    /// Non-CIM resources: full resource URI → the class of the `[[machine.instances]]`
    /// that make it up. The representation is an element named after the class in the
    /// namespace of the resource URI (as WinRM's `.../wsman/1/config/service` is a
    /// `cfg:Service` in that namespace); the class is served at that URI only.
    pub resources: BTreeMap<String, String>,
    /// The operations offered: any of [`OPERATIONS`] (`enumerate` covers Pull, Release,
    /// Renew and GetStatus; `shell` every request to the WinRM cmd shell resource;
    /// `subscribe` covers WS-Eventing's Subscribe, Renew, GetStatus and Unsubscribe,
    /// offered as the `[eventing]` table says). Default: all. Another is answered
    /// `wsa:ActionNotSupported` (ActionMismatch).
    pub operations: Vec<String>,
    /// Fragment-level access (`wsman:FragmentTransfer`). False: a FragmentTransfer
    /// marked mustUnderstand is `wsman:UnsupportedFeature` (FragmentLevelAccess,
    /// DSP0226 R7.7-1); one not marked is ignored (the whole resource is transferred).
    pub fragments: bool,
    /// The Enumerate filter dialects offered: `selector`, `wql`, `association` or
    /// their dialect URIs. Default: all three. Another dialect is
    /// `wsen:FilterDialectRequestedUnavailable`; with none offered, any filter is
    /// `wsen:FilteringNotSupported`.
    pub filter_dialects: Vec<String>,
    /// The locales the service supports (BCP 47 tags, compared ASCII
    /// case-insensitively; a request for `en-GB` is served by `en`). A `wsman:Locale`
    /// marked mustUnderstand that none of them serves is `wsman:UnsupportedFeature`
    /// (Locale); one not marked is ignored.
    pub locales: Vec<String>,
    /// Seeded defects for proving the conformance suite (`mocks/defects/`): deliberate
    /// deviations no real product should have. See [`WSMAN_DEFECTS`].
    pub defects: Vec<String>,
}

/// The seeded defects `[wsman] defects` can switch on.
///
/// The eventing defects (WS-Eventing, `crate::eventing`): `eventing_no_heartbeats`
/// (no Heartbeat is ever sent), `eventing_late_heartbeats` (heartbeats come at twice
/// the interval asked), `eventing_no_identifier` (deliveries omit NotifyTo's
/// reference parameters, so the subscriber's Identifier is missing),
/// `eventing_oversized_batch` (an Events batch holds up to twice MaxElements plus
/// one), `eventing_bookmark_skip` (a Subscribe resuming from a bookmark loses the
/// event right after it), `eventing_no_subscription_end` (SubscriptionEnd is never
/// sent).
///
/// The PowerShell Remoting defects (`crate::remoting`, `wsman/psrp.rs`):
/// `psrp_no_application_private_data`, `psrp_stop_completes`,
/// `psrp_unknown_command_fault`, `psrp_streams_without_command_id`,
/// `psrp_unknown_shell_accepted`.
pub const WSMAN_DEFECTS: [(&str, &str); 17] = [
    (
        "ignore_locale",
        "a mustUnderstand wsman:Locale the service cannot serve is ignored, not faulted",
    ),
    (
        "ignore_must_comply",
        "an unknown option marked MustComply is ignored, not faulted",
    ),
    (
        "ignore_fragment_transfer",
        "a mustUnderstand wsman:FragmentTransfer is ignored: the whole resource is answered",
    ),
    ("utf8_answers", "UTF-16 requests are answered in UTF-8"),
    (
        "reused_message_id",
        "every successful answer carries the same wsa:MessageID",
    ),
    (
        "wrapped_get_body",
        "a GetResponse wraps the representation in a wxf:GetResponse element",
    ),
    (
        "eventing_no_heartbeats",
        "no eventing Heartbeat is ever sent",
    ),
    (
        "eventing_late_heartbeats",
        "eventing heartbeats come at twice the interval the subscriber asked for",
    ),
    (
        "eventing_no_identifier",
        "event deliveries omit NotifyTo's reference parameters (the Identifier)",
    ),
    (
        "eventing_oversized_batch",
        "an Events batch holds more events than the subscriber's MaxElements",
    ),
    (
        "eventing_bookmark_skip",
        "resuming a subscription from a bookmark loses the event after it",
    ),
    (
        "eventing_no_subscription_end",
        "SubscriptionEnd is never sent (expiry, delivery failure, shutdown)",
    ),
    (
        "psrp_no_application_private_data",
        "a runspace pool opens without sending APPLICATION_PRIVATE_DATA",
    ),
    (
        "psrp_stop_completes",
        "a pipeline stopped by Signal ends PIPELINE_STATE Completed, not Stopped",
    ),
    (
        "psrp_unknown_command_fault",
        "a Command whose pipeline names a command that does not exist is answered wsman:InternalError",
    ),
    (
        "psrp_streams_without_command_id",
        "a pipeline's ReceiveResponse streams carry no CommandId",
    ),
    (
        "psrp_unknown_shell_accepted",
        "a Command naming a ShellId no runspace pool has is answered CommandResponse",
    ),
];

/// The names `[wsman] operations` accepts.
pub const OPERATIONS: [&str; 9] = [
    "identify",
    "get",
    "put",
    "create",
    "delete",
    "enumerate",
    "invoke",
    "shell",
    "subscribe",
];

/// The filter dialects the mock implements, as `[wsman] filter_dialects` names them:
/// (short name, dialect URI).
pub const FILTER_DIALECTS: [(&str, &str); 3] = [
    ("selector", wsman::ns::dialect::SELECTOR),
    ("wql", wsman::ns::dialect::WQL),
    ("association", wsman::ns::dialect::ASSOCIATION),
];

impl WsmanSettings {
    /// Whether `class` is served under the CIM, vendor and WMI URIs (`classes`).
    pub fn offers_class(&self, class: &str) -> bool {
        self.classes
            .as_ref()
            .is_none_or(|l| l.iter().any(|c| c.eq_ignore_ascii_case(class)))
    }

    /// The class `[wsman.resources]` serves at `uri` (URIs compared ASCII
    /// case-insensitively, as WinRM does).
    pub fn resource_class(&self, uri: &str) -> Option<&str> {
        self.resources
            .iter()
            .find(|(u, _)| u.eq_ignore_ascii_case(uri.trim()))
            .map(|(_, c)| c.as_str())
    }

    /// Whether `class` is the class of a `[wsman.resources]` entry.
    pub fn is_resource_class(&self, class: &str) -> bool {
        self.resources
            .values()
            .any(|c| c.eq_ignore_ascii_case(class))
    }

    /// Whether the operation (one of [`OPERATIONS`]) is offered.
    pub fn offers_operation(&self, operation: &str) -> bool {
        self.operations.iter().any(|o| o == operation)
    }

    /// Whether the filter dialect URI is offered.
    pub fn offers_dialect(&self, uri: &str) -> bool {
        self.filter_dialects.iter().any(|d| {
            d == uri
                || FILTER_DIALECTS
                    .iter()
                    .any(|(short, full)| *full == uri && d.eq_ignore_ascii_case(short))
        })
    }

    /// Whether a `wsman:Locale` of `tag` is served: a listed tag equals it, or equals
    /// it cut at a subtag boundary (RFC 4647 lookup: `en-GB` falls back to `en`).
    pub fn supports_locale(&self, tag: &str) -> bool {
        let tag = tag.trim();
        let mut candidate = tag;
        loop {
            if self
                .locales
                .iter()
                .any(|l| l.trim().eq_ignore_ascii_case(candidate))
            {
                return true;
            }
            match candidate.rfind('-') {
                Some(i) => candidate = &candidate[..i],
                None => return false,
            }
        }
    }
}

impl Default for WsmanSettings {
    fn default() -> Self {
        WsmanSettings {
            flavour: Flavour::Dmtf,
            lenient: vec!["missing_must_understand".into()],
            cim_namespaces: vec![
                "root/cimv2".into(),
                "root/interop".into(),
                "root/hardware".into(),
            ],
            wmi_namespace: "root/hardware".into(),
            enumeration_expiry_s: 600,
            max_enumerations: 1024,
            max_enumerations_per_user: 128,
            max_shells_per_user: 30,
            fault_machine: None,
            vendor_schemas: BTreeMap::new(),
            utf16: true,
            classes: None,
            resources: BTreeMap::new(),
            operations: OPERATIONS.iter().map(|o| (*o).to_owned()).collect(),
            fragments: true,
            filter_dialects: FILTER_DIALECTS
                .iter()
                .map(|(short, _)| (*short).to_owned())
                .collect(),
            locales: vec!["en-US".into(), "en".into()],
            defects: Vec::new(),
        }
    }
}

/// The `[identify]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentifySettings {
    /// `wsmid:ProtocolVersion`.
    pub protocol_version: String,
    /// `wsmid:ProductVendor`.
    pub product_vendor: String,
    /// `wsmid:ProductVersion`.
    pub product_version: String,
    /// `wsmid:SecurityProfiles` (omitted for unauthenticated Identify).
    pub security_profiles: Vec<String>,
}

impl Default for IdentifySettings {
    fn default() -> Self {
        IdentifySettings {
            protocol_version: wsman::ns::WSMAN.into(),
            product_vendor: "Touchstone".into(),
            product_version: concat!("Touchstone mock ", env!("CARGO_PKG_VERSION")).into(),
            security_profiles: vec![
                "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/basic".into(),
                "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/digest".into(),
                "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/basic".into(),
                "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/digest".into(),
            ],
        }
    }
}

/// `[rules.match]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// Action URI, a glob (`*` and `?`), or an operation name (`Get`, `Enumerate`, ...).
    pub action: Option<String>,
    /// Resource URI glob (a bare class name matches any URI ending in `/Class`).
    pub resource_uri: Option<String>,
    /// Selectors that must be present with these values (globs).
    #[serde(default)]
    pub selectors: BTreeMap<String, String>,
    /// Path of local names from the body element down (`Enumerate/Filter`).
    pub body_path: Option<String>,
    /// Glob the text at `body_path` must match (presence only when absent).
    pub body_text: Option<String>,
    /// The authenticated user.
    pub user: Option<String>,
}

/// One answer of a rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerSpec {
    /// A fault of the catalogue: `wsman:AccessDenied` (or the bare local name).
    pub fault: Option<Spanned<String>>,
    /// The fault's detail token.
    pub detail: Option<Spanned<String>>,
    /// The fault's reason text.
    pub reason: Option<String>,
    /// A response envelope with `{{placeholders}}`.
    pub template: Option<Spanned<String>>,
    /// HTTP status (with a template or body: its status; alone: an empty answer).
    pub status: Option<u16>,
    /// A raw body instead of a template.
    pub body: Option<String>,
    /// Content-Type of a raw body or template (default `application/soap+xml;charset=UTF-8`).
    pub content_type: Option<String>,
    /// Wait this long first (alone: then answer as usual).
    pub delay_ms: Option<u64>,
    /// A transport failure: `reset`, `close`, `truncate`, `garbage`, `slow`.
    pub transport: Option<Spanned<String>>,
    /// `truncate`: body bytes sent before closing.
    pub keep_bytes: Option<usize>,
    /// `garbage`: the bytes to send (text).
    pub garbage: Option<String>,
    /// `slow`: bytes per write.
    pub chunk_bytes: Option<usize>,
    /// `slow`: pause between writes.
    pub interval_ms: Option<u64>,
    /// A Rhai script that returns the answer (see the rules module).
    pub script: Option<Spanned<String>>,
}

/// One `[[rules]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// A name for the journal and reports.
    pub name: Option<String>,
    /// What the rule matches.
    #[serde(rename = "match", default)]
    pub matcher: MatchSpec,
    /// The answer.
    pub answer: Option<AnswerSpec>,
    /// Answers used in turn, one per matching request (the last one repeats).
    #[serde(default)]
    pub answers: Vec<AnswerSpec>,
    /// Match at most this many times, then let later rules and defaults answer.
    pub times: Option<u32>,
    /// Match only in this named state.
    pub state: Option<String>,
    /// Enter this state after matching.
    pub next_state: Option<String>,
    /// Also raise this indication each time the rule matches (see `schedule.rs`).
    pub raise: Option<crate::schedule::RaiseSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    scenario: Meta,
    #[serde(default)]
    http: HttpSettings,
    #[serde(default)]
    wsman: WsmanSettings,
    #[serde(default)]
    identify: IdentifySettings,
    #[serde(default)]
    machine: machine::MachineSpec,
    #[serde(default)]
    rules: Vec<Spanned<RuleSpec>>,
    #[serde(default)]
    ipmi: crate::ipmi::rules::IpmiFile,
    #[serde(default)]
    eventing: crate::eventing::EventingSettings,
    #[serde(default)]
    psrp: crate::remoting::rules::PsrpSettings,
    #[serde(default)]
    events: Vec<crate::schedule::ScheduleSpec>,
    #[serde(default)]
    fleet: Option<crate::fleet::FleetSpec>,
}

/// A loaded, checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Where it came from.
    pub source: String,
    /// `[scenario]`.
    pub meta: Meta,
    /// `[http]`.
    pub http: HttpSettings,
    /// `[wsman]`.
    pub wsman: WsmanSettings,
    /// `[identify]`.
    pub identify: IdentifySettings,
    /// `[machine]`.
    pub machine: machine::MachineSpec,
    /// `[[rules]]`, compiled.
    pub rules: RuleSet,
    /// `[ipmi]` and `[[ipmi.rules]]`, checked.
    pub ipmi: crate::ipmi::rules::IpmiSettings,
    /// `[eventing]`: WS-Eventing delivery modes, limits and delivery fault rules (see
    /// [`crate::eventing::EventingSettings`]).
    pub eventing: crate::eventing::EventingSettings,
    /// `[psrp]`: fault rules for PowerShell Remoting (see `crate::remoting::rules`).
    pub psrp: crate::remoting::rules::PsrpSettings,
    /// `[[events]]`: indications raised on a schedule (see `schedule.rs`), checked.
    pub events: Vec<crate::schedule::Schedule>,
    /// `[fleet]`: what `serve --fleet` runs when the scenario is served as a fleet.
    pub fleet: Option<crate::fleet::FleetSpec>,
}

impl Scenario {
    /// The embedded default scenario.
    pub fn default_scenario() -> Scenario {
        match Scenario::from_toml(DEFAULT_TOML, "<embedded default>") {
            Ok(s) => s,
            // The embedded file is checked by a test; this cannot happen in a release.
            Err(e) => panic!("embedded default scenario is broken: {e}"),
        }
    }

    /// Loads a scenario file.
    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            message: format!("cannot read the scenario: {e}"),
            expected: None,
            hint: None,
        })?;
        Scenario::from_toml(&text, &path.display().to_string())
    }

    /// Parses and checks a scenario from TOML text; `name` names it in errors.
    pub fn from_toml(text: &str, name: &str) -> Result<Scenario, ScenarioError> {
        let at = |span: Option<Range<usize>>,
                  message: String,
                  expected: Option<String>,
                  hint: Option<String>| {
            let (line, column) = span.map_or((1, 1), |s| line_col(text, s.start));
            ScenarioError {
                file: name.to_owned(),
                line,
                column,
                message,
                expected,
                hint,
            }
        };
        // The same text as spanned values, to say where a checked value sits (None when
        // the TOML does not even parse; the serde error below then says where).
        let doc = toml::de::DeTable::parse(text).ok();
        let span_of = |path: &str| doc.as_ref().and_then(|d| span_at(d.get_ref(), path));
        let file: File = toml::from_str(text).map_err(|e| {
            let path = match (&doc, e.span()) {
                (Some(d), Some(span)) => path_at(d.get_ref(), span.start),
                _ => None,
            };
            let (message, expected, hint) =
                explain(e.message().trim(), path.as_deref(), e.span(), text);
            at(e.span(), message, expected, hint)
        })?;
        if let Err(e) = file.machine.validate() {
            let (path, keys) = machine_error_path(&e.to_string());
            let span = keys
                .iter()
                .find_map(|key| span_of(&format!("{path}.{key}")))
                .or_else(|| span_of(&path))
                .or_else(|| span_of("machine"));
            return Err(at(
                span,
                format!("the machine is not valid: {e}"),
                None,
                Some(machine_hint(&e.to_string())),
            ));
        }
        for (i, auth) in file.http.auth.iter().enumerate() {
            if !AUTH_SCHEMES.contains(&auth.as_str()) {
                return Err(at(
                    span_of(&format!("http.auth[{i}]")),
                    format!("http.auth[{i}] = \"{auth}\" is not a scheme the mock offers"),
                    Some("\"basic\", \"digest\" or \"negotiate\" (alias \"ntlm\")".into()),
                    closest(auth, AUTH_SCHEMES.into_iter())
                        .map(|s| format!("did you mean \"{s}\"?"))
                        .or_else(|| Some("Kerberos and CredSSP are not simulated".into())),
                ));
            }
        }
        if file.http.auth.iter().any(|a| a == "digest") && file.http.digest_algorithms.is_empty() {
            return Err(at(
                span_of("http.digest_algorithms"),
                "digest is offered with no algorithm".into(),
                Some("digest_algorithms = [\"SHA-256\", \"MD5\"]".into()),
                None,
            ));
        }
        // Limits of zero would refuse everything; say so rather than serve a mock that
        // cannot answer.
        for (key, value, expected) in [
            (
                "http.body_timeout_ms",
                file.http.body_timeout_ms as usize,
                "milliseconds above 0 (30000 is the default)",
            ),
            (
                "http.max_connections",
                file.http.max_connections,
                "a number above 0 (1024 is the default)",
            ),
            (
                "wsman.max_enumerations",
                file.wsman.max_enumerations,
                "a number above 0 (1024 is the default)",
            ),
            (
                "wsman.max_enumerations_per_user",
                file.wsman.max_enumerations_per_user,
                "a number above 0 (128 is the default)",
            ),
        ] {
            if value == 0 {
                return Err(at(
                    span_of(key),
                    format!("{key} = 0 would refuse every request it limits"),
                    Some(expected.into()),
                    None,
                ));
            }
        }
        const LENIENT: [&str; 3] = [
            "missing_must_understand",
            "relative_to",
            "non_uuid_message_id",
        ];
        for (i, l) in file.wsman.lenient.iter().enumerate() {
            if !LENIENT.contains(&l.as_str()) {
                return Err(at(
                    span_of(&format!("wsman.lenient[{i}]")),
                    format!("wsman.lenient names `{l}`, which is not a deviation the mock knows"),
                    Some(
                        "\"missing_must_understand\", \"relative_to\" or \"non_uuid_message_id\""
                            .into(),
                    ),
                    closest(l, LENIENT.into_iter()).map(|s| format!("did you mean \"{s}\"?")),
                ));
            }
        }
        for (i, d) in file.wsman.defects.iter().enumerate() {
            if !WSMAN_DEFECTS.iter().any(|(n, _)| n == d) {
                let names: Vec<&str> = WSMAN_DEFECTS.iter().map(|(n, _)| *n).collect();
                return Err(at(
                    span_of(&format!("wsman.defects[{i}]")),
                    format!("wsman.defects names `{d}`, which is not a defect the mock can seed"),
                    Some(names.join(", ")),
                    closest(d, names.into_iter()).map(|s| format!("did you mean \"{s}\"?")),
                ));
            }
        }
        for (class_prefix, uri) in &file.wsman.vendor_schemas {
            let ok_uri = uri.contains("://") && uri.ends_with('/');
            if class_prefix.is_empty() || !ok_uri {
                return Err(at(
                    span_of(&format!("wsman.vendor_schemas.{class_prefix}"))
                        .or_else(|| span_of("wsman.vendor_schemas")),
                    format!(
                        "wsman.vendor_schemas maps `{class_prefix}` to `{uri}`, which is not a resource URI prefix"
                    ),
                    Some(
                        "a class-name prefix and an absolute URI ending in `/`, e.g. AMT_ = \"http://intel.com/wbem/wscim/1/amt-schema/1/\""
                            .into(),
                    ),
                    None,
                ));
            }
        }
        check_capabilities(&file.wsman, &file.machine).map_err(
            |(path, message, expected, hint)| {
                at(
                    span_of(&path).or_else(|| span_of("wsman")),
                    message,
                    expected,
                    hint,
                )
            },
        )?;
        let mut rules = Vec::new();
        for (i, spanned) in file.rules.iter().enumerate() {
            let span = spanned.span();
            let spec = spanned.get_ref();
            let rule_name = spec.name.clone().unwrap_or_else(|| format!("rules[{i}]"));
            let mut rule = compile_rule(spec, &rule_name, text).map_err(
                |(span2, message, expected, hint)| {
                    at(
                        Some(span2.unwrap_or(span.clone())),
                        format!("rule `{rule_name}`: {message}"),
                        expected,
                        hint,
                    )
                },
            )?;
            if let Some(r) = &spec.raise {
                let label = format!("rule `{rule_name}`");
                let path = format!("rules[{i}].raise");
                rule.raise = Some(crate::schedule::compile_raise(r, &path, &label).map_err(
                    |(p, message, expected, hint)| {
                        at(span_of(&p).or(Some(span.clone())), message, expected, hint)
                    },
                )?);
            }
            rules.push(rule);
        }
        let events = crate::schedule::compile(&file.events)
            .map_err(|(p, m, e, h)| at(span_of(&p).or_else(|| span_of("events")), m, e, h))?;
        let ipmi = crate::ipmi::rules::compile(&file.ipmi).map_err(
            |(path, message, expected, hint)| {
                at(
                    span_of(&path).or_else(|| span_of("ipmi")),
                    message,
                    expected,
                    hint,
                )
            },
        )?;
        file.eventing.check().map_err(|(path, message, expected)| {
            at(
                span_of(&path).or_else(|| span_of("eventing")),
                message,
                Some(expected),
                None,
            )
        })?;
        file.psrp
            .check()
            .map_err(|(path, message, expected, hint)| {
                at(
                    span_of(&path)
                        .or_else(|| span_of(path.rsplit_once('.').map_or("psrp", |(p, _)| p)))
                        .or_else(|| span_of("psrp")),
                    message,
                    Some(expected),
                    hint,
                )
            })?;
        if let Some(fleet) = &file.fleet {
            if let Err((path, message)) = fleet.validate() {
                return Err(at(span_of(&path), format!("{path}: {message}"), None, None));
            }
        }
        Ok(Scenario {
            fleet: file.fleet,
            ipmi,
            eventing: file.eventing,
            psrp: file.psrp,
            source: name.to_owned(),
            meta: file.scenario,
            http: file.http,
            wsman: file.wsman,
            identify: file.identify,
            machine: file.machine,
            rules: RuleSet::new(rules),
            events,
        })
    }

    /// The authentication policy the scenario asks for.
    pub fn auth_policy(&self) -> AuthPolicy {
        let offers = |scheme: &str| self.http.auth.iter().any(|a| a == scheme);
        AuthPolicy {
            basic: self.http.auth.iter().any(|a| a == "basic"),
            digest: if self.http.auth.iter().any(|a| a == "digest") {
                self.http.digest_algorithms.clone()
            } else {
                Vec::new()
            },
            negotiate: offers("negotiate") || offers("ntlm"),
            allow_unencrypted: self.http.allow_unencrypted,
            realm: self.http.realm.clone(),
            unauthenticated_identify: self.http.unauthenticated_identify,
        }
    }

    /// Whether a deviation is accepted.
    pub fn lenient(&self, name: &str) -> bool {
        self.wsman.lenient.iter().any(|l| l == name)
    }

    /// Whether the seeded defect `name` (`[wsman] defects`) is switched on.
    pub fn defect(&self, name: &str) -> bool {
        self.wsman.defects.iter().any(|d| d == name)
    }
}

type Refusal = (Option<Range<usize>>, String, Option<String>, Option<String>);

/// A refusal located by dotted path (`wsman.operations[2]`).
type PathRefusal = (String, String, Option<String>, Option<String>);

/// Checks the `[wsman]` capability knobs: known operation and dialect names, class
/// names, and resources that name a class the machine has instances of.
fn check_capabilities(w: &WsmanSettings, m: &machine::MachineSpec) -> Result<(), PathRefusal> {
    let plain = |c: &str| !c.is_empty() && c.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    for (i, o) in w.operations.iter().enumerate() {
        if !OPERATIONS.contains(&o.as_str()) {
            return Err((
                format!("wsman.operations[{i}]"),
                format!("wsman.operations names `{o}`, which is not an operation the mock knows"),
                Some(OPERATIONS.map(|o| format!("\"{o}\"")).join(", ")),
                closest(o, OPERATIONS.into_iter()).map(|s| format!("did you mean \"{s}\"?")),
            ));
        }
    }
    for (i, d) in w.filter_dialects.iter().enumerate() {
        let known = FILTER_DIALECTS
            .iter()
            .any(|(short, full)| d.eq_ignore_ascii_case(short) || d == full);
        if !known {
            return Err((
                format!("wsman.filter_dialects[{i}]"),
                format!(
                    "wsman.filter_dialects names `{d}`, which is not a dialect the mock implements"
                ),
                Some("\"selector\", \"wql\", \"association\" (or their dialect URIs)".into()),
                closest(d, FILTER_DIALECTS.iter().map(|(s, _)| *s))
                    .map(|s| format!("did you mean \"{s}\"?"))
                    .or_else(|| Some("XPath and CQL filters are not implemented".into())),
            ));
        }
    }
    for (i, c) in w.classes.iter().flatten().enumerate() {
        if !plain(c) {
            return Err((
                format!("wsman.classes[{i}]"),
                format!("wsman.classes names `{c}`, which is not a class name"),
                Some("a CIM class name such as \"CIM_ComputerSystem\"".into()),
                None,
            ));
        }
    }
    for (i, l) in w.locales.iter().enumerate() {
        let ok = !l.is_empty()
            && l.split('-').all(|p| {
                !p.is_empty() && p.len() <= 8 && p.chars().all(|c| c.is_ascii_alphanumeric())
            });
        if !ok {
            return Err((
                format!("wsman.locales[{i}]"),
                format!("wsman.locales names `{l}`, which is not a language tag"),
                Some("a BCP 47 tag such as \"en-US\" or \"de\"".into()),
                None,
            ));
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for (uri, class) in &w.resources {
        let at = format!("wsman.resources.\"{uri}\"");
        let example = "\"http://schemas.microsoft.com/wbem/wsman/1/config/service\" = \"Service\"";
        if !uri.contains("://") || uri.ends_with('/') || uri.ends_with('*') {
            return Err((
                at,
                format!("wsman.resources maps `{uri}`, which is not a resource URI"),
                Some(format!(
                    "an absolute URI naming one resource, e.g. {example}"
                )),
                None,
            ));
        }
        if !plain(class) {
            return Err((
                at,
                format!("wsman.resources maps `{uri}` to `{class}`, which is not a class name"),
                Some(format!("a class name, e.g. {example}")),
                None,
            ));
        }
        if seen.iter().any(|c| c.eq_ignore_ascii_case(class)) {
            return Err((
                at,
                format!("the class `{class}` is mapped to two resource URIs"),
                None,
                Some("an answer names its resource by the class: give each resource a class of its own".into()),
            ));
        }
        seen.push(class);
        if machine::cim::class(class).is_some() {
            return Err((
                at,
                format!("`{class}` is a built-in CIM class; a resource needs a class of its own"),
                None,
                None,
            ));
        }
        if !m
            .instances
            .iter()
            .any(|i| i.class.eq_ignore_ascii_case(class))
        {
            return Err((
                at,
                format!(
                    "the resource `{uri}` is served from `{class}`, but no [[machine.instances]] has that class"
                ),
                None,
                Some(format!(
                    "add [[machine.instances]] with class = \"{class}\""
                )),
            ));
        }
    }
    Ok(())
}

fn compile_rule(spec: &RuleSpec, name: &str, text: &str) -> Result<Rule, Refusal> {
    let mut answers = Vec::new();
    if spec.answer.is_some() && !spec.answers.is_empty() {
        return Err((
            None,
            "has both `answer` and `answers`".into(),
            Some("one of them".into()),
            None,
        ));
    }
    let specs: Vec<&AnswerSpec> = spec.answer.iter().chain(spec.answers.iter()).collect();
    if specs.is_empty() && spec.next_state.is_none() && spec.raise.is_none() {
        return Err((
            None,
            "has no answer".into(),
            Some(
                "an `answer` table (fault, template, status, transport, delay_ms or script)".into(),
            ),
            Some("[rules.answer]\nfault = \"wsman:AccessDenied\"".into()),
        ));
    }
    for a in specs {
        answers.push(compile_answer(a, text)?);
    }
    let m = &spec.matcher;
    Ok(Rule {
        name: name.to_owned(),
        matcher: Matcher {
            action: m.action.clone(),
            resource_uri: m.resource_uri.clone(),
            selectors: m.selectors.clone().into_iter().collect(),
            body_path: m.body_path.as_ref().map(|p| {
                p.split('/')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            }),
            body_text: m.body_text.clone(),
            user: m.user.clone(),
        },
        answers,
        times: spec.times,
        state: spec.state.clone(),
        next_state: spec.next_state.clone(),
        raise: None,
    })
}

fn compile_answer(a: &AnswerSpec, text: &str) -> Result<Answer, Refusal> {
    let kinds = [
        ("fault", a.fault.as_ref().map(Spanned::span)),
        ("template", a.template.as_ref().map(Spanned::span)),
        ("body", a.body.as_ref().map(|_| 0..0)),
        ("transport", a.transport.as_ref().map(Spanned::span)),
        ("script", a.script.as_ref().map(Spanned::span)),
    ];
    let present: Vec<&(&str, Option<Range<usize>>)> =
        kinds.iter().filter(|(_, k)| k.is_some()).collect();
    if present.len() > 1 {
        let names: Vec<String> = present.iter().map(|(n, _)| format!("`{n}`")).collect();
        // Point at the second one: the first is presumably what was meant.
        let span = present[1].1.clone().filter(|s| !s.is_empty());
        return Err((
            span,
            format!("an answer has both {}", names.join(" and ")),
            Some(
                "exactly one of fault, template, body, transport or script (delay_ms and status combine with them)"
                    .into(),
            ),
            Some("use `answers = [..]` for a sequence of different answers".into()),
        ));
    }
    let delay = a.delay_ms.map(std::time::Duration::from_millis);
    if let Some(f) = &a.fault {
        let wanted = f.get_ref().trim();
        let kind = FaultKind::from_qname(wanted)
            .or_else(|| FaultKind::ALL.iter().copied().find(|k| k.local_name() == wanted))
            .ok_or_else(|| {
                let suggestion = closest(wanted, FaultKind::ALL.iter().map(|k| k.qname()));
                (
                    Some(f.span()),
                    format!("`{wanted}` is not a fault of the catalogue"),
                    Some("a subcode such as \"wsman:AccessDenied\" or \"wsen:InvalidEnumerationContext\"".into()),
                    suggestion.map(|s| format!("did you mean \"{s}\"?")),
                )
            })?;
        let detail = match &a.detail {
            None => None,
            Some(d) => {
                let token = d.get_ref().trim();
                match kind.detail_tokens().iter().find(|t| **t == token) {
                    Some(t) => Some(*t),
                    None => {
                        let hint = if kind.detail_tokens().is_empty() {
                            Some("remove `detail`".to_owned())
                        } else {
                            closest(token, kind.detail_tokens().iter().copied())
                                .map(|s| format!("did you mean \"{s}\"?"))
                        };
                        return Err((
                            Some(d.span()),
                            format!("`{token}` is not a detail of {}", kind.qname()),
                            Some(if kind.detail_tokens().is_empty() {
                                format!("no detail: {} takes none", kind.qname())
                            } else {
                                format!("one of {}", kind.detail_tokens().join(", "))
                            }),
                            hint,
                        ));
                    }
                }
            }
        };
        return Ok(Answer::Fault {
            kind,
            detail,
            reason: a.reason.clone(),
            status: a.status,
            delay,
        });
    }
    if let Some(t) = &a.template {
        return Ok(Answer::Template {
            template: t.get_ref().clone(),
            status: a.status.unwrap_or(200),
            content_type: a.content_type.clone(),
            delay,
        });
    }
    if let Some(b) = &a.body {
        return Ok(Answer::Raw {
            body: b.clone(),
            status: a.status.unwrap_or(200),
            content_type: a.content_type.clone(),
            delay,
        });
    }
    if let Some(t) = &a.transport {
        let transport = match t.get_ref().as_str() {
            "reset" => Transport::Reset,
            "close" => Transport::Close,
            "truncate" => Transport::Truncate {
                keep: a.keep_bytes.unwrap_or(64),
            },
            "garbage" => Transport::Garbage(
                a.garbage
                    .clone()
                    .unwrap_or_else(|| "\u{1}\u{2}not http at all\r\n\r\n".into())
                    .into_bytes(),
            ),
            "slow" => Transport::Slow {
                chunk: a.chunk_bytes.unwrap_or(16).max(1),
                interval: std::time::Duration::from_millis(a.interval_ms.unwrap_or(100)),
            },
            other => {
                const TRANSPORTS: [&str; 5] = ["reset", "close", "truncate", "garbage", "slow"];
                return Err((
                    Some(t.span()),
                    format!("`{other}` is not a transport fault"),
                    Some("\"reset\", \"close\", \"truncate\", \"garbage\" or \"slow\"".into()),
                    closest(other, TRANSPORTS.into_iter())
                        .map(|s| format!("did you mean \"{s}\"?")),
                ));
            }
        };
        return Ok(Answer::Transport { transport, delay });
    }
    if let Some(s) = &a.script {
        let ast = crate::rules::compile_script(s.get_ref()).map_err(|e| {
            // Point into the script itself when its text is written verbatim in the
            // file, else at the string.
            let at = match (e.line, e.column) {
                (Some(l), Some(c)) => script_offset(text, s.span(), s.get_ref(), l, c),
                _ => None,
            };
            (
                Some(at.map_or(s.span(), |o| o..o + 1)),
                format!("the script does not compile: {}", e.message),
                None,
                Some(
                    "scripts are Rhai (https://rhai.rs/book/); in scope: action, operation, resource_uri, selectors, user, hits, state"
                        .into(),
                ),
            )
        })?;
        return Ok(Answer::Script {
            ast: std::sync::Arc::new(ast),
            delay,
        });
    }
    if let Some(status) = a.status {
        return Ok(Answer::Raw {
            body: String::new(),
            status,
            content_type: a.content_type.clone(),
            delay,
        });
    }
    match delay {
        Some(d) => Ok(Answer::DelayOnly(d)),
        None => Err((
            None,
            "an answer is empty".into(),
            Some("one of fault, template, body, status, transport, script or delay_ms".into()),
            None,
        )),
    }
}

/// The nearest candidate by edit distance, if it is near enough to be a typo.
/// The candidate closest to `wanted` in spelling, if any is close.
pub(crate) fn closest_of<'c>(wanted: &str, candidates: &[&'c str]) -> Option<&'c str> {
    closest(wanted, candidates.iter().copied())
}

fn closest<'c>(wanted: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    let w = wanted.to_ascii_lowercase();
    candidates
        .map(|c| (edit_distance(&w, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Where in the file the script's `line`:`column` is, if the script is written
/// verbatim in the file from `span` (a basic or literal string, one- or multi-line).
fn script_offset(
    text: &str,
    span: Range<usize>,
    script: &str,
    line: usize,
    column: usize,
) -> Option<usize> {
    let raw = text.get(span.clone())?;
    let delimiter = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
        3
    } else {
        1
    };
    let mut inner = raw.get(delimiter..raw.len().checked_sub(delimiter)?)?;
    let mut start = span.start + delimiter;
    // TOML trims a newline right after the opening delimiter of a multi-line string.
    if delimiter == 3 {
        for nl in ["\r\n", "\n"] {
            if let Some(rest) = inner.strip_prefix(nl) {
                start += nl.len();
                inner = rest;
                break;
            }
        }
    }
    if inner != script {
        return None;
    }
    let mut offset = start;
    for l in inner.split('\n').take(line.saturating_sub(1)) {
        offset += l.len() + 1;
    }
    let this_line = inner.split('\n').nth(line.saturating_sub(1))?;
    let col_bytes: usize = this_line
        .chars()
        .take(column.saturating_sub(1))
        .map(char::len_utf8)
        .sum();
    Some(offset + col_bytes)
}

/// The span of the value at a dotted path such as `http.auth[1]` or
/// `machine.sensors[2].id`.
fn span_at(root: &toml::de::DeTable<'_>, path: &str) -> Option<Range<usize>> {
    use toml::de::DeValue;
    let mut table = root;
    let mut found: Option<Range<usize>> = None;
    let parts = path_parts(path);
    for (n, part) in parts.iter().enumerate() {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (*part, None),
        };
        let (_, mut value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == key)?;
        if let Some(i) = index {
            match value.get_ref() {
                DeValue::Array(a) => value = a.get(i)?,
                _ => return None,
            }
        }
        found = Some(value.span());
        if n + 1 < parts.len() {
            match value.get_ref() {
                DeValue::Table(t) => table = t,
                _ => return None,
            }
        }
    }
    found
}

/// The parts of a dotted path; a part may be a quoted key with dots in it
/// (`wsman.resources."http://x.invalid/A"`).
fn path_parts(path: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            parts.push(&quoted[..end]);
            rest = quoted.get(end + 1..).unwrap_or("");
            rest = rest.strip_prefix('.').unwrap_or(rest);
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            parts.push(&rest[..end]);
            rest = rest.get(end + 1..).unwrap_or("");
        }
    }
    parts
}

/// The dotted path (`wsman.flavour`, `rules[0].match.acton`) of the key or value at
/// `offset`.
fn path_at(root: &toml::de::DeTable<'_>, offset: usize) -> Option<String> {
    use toml::de::{DeTable, DeValue};
    fn value(v: &Spanned<DeValue<'_>>, offset: usize, path: &mut String) -> bool {
        match v.get_ref() {
            // A table's own span (its header, for `[[x]]` entries) locates errors about
            // the table as a whole, such as a missing key.
            DeValue::Table(t) => table(t, offset, path) || v.span().contains(&offset),
            DeValue::Array(a) => {
                for (i, item) in a.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    if value(item, offset, path) {
                        return true;
                    }
                    path.truncate(len);
                }
                v.span().contains(&offset)
            }
            _ => v.span().contains(&offset),
        }
    }
    fn table(t: &DeTable<'_>, offset: usize, path: &mut String) -> bool {
        for (k, v) in t.iter() {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k.get_ref());
            if k.span().contains(&offset) || value(v, offset, path) {
                return true;
            }
            path.truncate(len);
        }
        false
    }
    let mut path = String::new();
    table(root, offset, &mut path).then_some(path)
}

/// The backquoted words of a serde message (``unknown field `x`, expected `a` or `b` ``).
fn backquoted(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// A serde type name in TOML words.
fn toml_type(expected: &str) -> String {
    let e = expected.trim();
    match e {
        "usize" | "u64" | "u32" | "u16" | "u8" => "a non-negative integer (no quotes)".into(),
        "isize" | "i64" | "i32" | "i16" | "i8" => "an integer (no quotes)".into(),
        "f64" | "f32" => "a number such as 1.0 (no quotes)".into(),
        "a boolean" | "bool" => "true or false (no quotes)".into(),
        "a string" => "a string in quotes".into(),
        "a sequence" => "an array such as [\"a\", \"b\"]".into(),
        "a map" => "a table".into(),
        _ if e.starts_with("struct ") => "a table".into(),
        _ => e.into(),
    }
}

/// A toml/serde message in scenario terms: (message, expected, hint). `path` is
/// where the error is, as [`path_at`] finds it.
fn explain(
    message: &str,
    path: Option<&str>,
    span: Option<Range<usize>>,
    text: &str,
) -> (String, Option<String>, Option<String>) {
    let table_of = |p: &str| -> String {
        match p.rsplit_once('.') {
            Some((parent, _)) => format!(" in [{parent}]"),
            None => " at the top level".into(),
        }
    };
    let expected_part = message.split_once(", expected ").map(|(_, e)| e);
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let key = backquoted(rest).first().copied().unwrap_or("");
        let candidates: Vec<&str> = expected_part.map(backquoted).unwrap_or_default();
        let hint = closest(key, candidates.iter().copied())
            .map(|c| format!("did you mean `{c}`?"))
            .unwrap_or_else(|| "check the spelling of the key and the table it is in".into());
        return (
            format!(
                "unknown key `{key}`{}",
                path.map(table_of).unwrap_or_default()
            ),
            expected_part.map(|e| format!("one of {}", e.trim_start_matches("one of "))),
            Some(hint),
        );
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let value = backquoted(rest).first().copied().unwrap_or("");
        let candidates: Vec<&str> = expected_part.map(backquoted).unwrap_or_default();
        return (
            match path {
                Some(p) => format!("`{value}` is not a valid value for `{p}`"),
                None => format!("`{value}` is not a valid value"),
            },
            expected_part.map(str::to_owned),
            closest(value, candidates.iter().copied()).map(|c| format!("did you mean `{c}`?")),
        );
    }
    for (prefix, what) in [
        ("invalid type: ", "has the wrong type"),
        ("invalid value: ", "has an invalid value"),
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
            let expected = (!expected.is_empty()).then(|| toml_type(expected));
            let hint = if found.starts_with("string")
                && expected.as_deref().is_some_and(|e| e.contains("no quotes"))
            {
                Some("numbers and booleans are written without quotes".to_owned())
            } else if expected.as_deref() == Some("a string in quotes") {
                Some("strings need quotes".to_owned())
            } else {
                None
            };
            return (
                match path {
                    Some(p) => format!("`{p}` {what}: found {found}"),
                    None => format!("a value {what}: found {found}"),
                },
                expected,
                hint,
            );
        }
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let key = backquoted(rest).first().copied().unwrap_or("");
        let within = path.map(|p| format!(" in [{p}]")).unwrap_or_default();
        return (
            format!("the required key `{key}` is missing{within}"),
            Some(format!("`{key} = ...`")),
            Some("see mocks/default.toml for a complete example".into()),
        );
    }
    if message.starts_with("duplicate key") {
        let key: String = span
            .and_then(|s| text.get(s.start..))
            .map(|t| {
                t.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
                    .collect()
            })
            .unwrap_or_default();
        return (
            if key.is_empty() {
                "a key is given twice".into()
            } else {
                format!("the key `{key}` is given twice")
            },
            None,
            Some("each key may appear once per table; remove one of them".into()),
        );
    }
    if message.starts_with("data did not match any variant of untagged enum PropValue") {
        return (
            match path {
                Some(p) => format!("`{p}` is not a property value"),
                None => "not a property value".into(),
            },
            Some(
                "a string, integer, float, boolean, an array of those, or a reference { class = \"...\", keys = { ... } }"
                    .into(),
            ),
            None,
        );
    }
    // The expected part goes on its own line.
    let bare = message
        .split_once(", expected ")
        .map_or(message, |(m, _)| m);
    let full = match path {
        Some(p) if !p.is_empty() => format!("{p}: {bare}"),
        _ => bare.to_owned(),
    };
    let hint = if message.contains("unclosed table") || message.contains("invalid table header") {
        Some("table headers are [name], or [[name]] for an entry of an array of tables".into())
    } else if message.contains("string") && message.contains("unclosed") {
        Some("a string ends with the quote it started with; multi-line strings use \"\"\"".into())
    } else {
        None
    };
    (full, expected_part.map(str::to_owned), hint)
}

/// Where a `MachineSpec::validate` error is: the dotted path of the item it names
/// (`machine.sensors[1]`) and the words of the rest of the message that may be keys
/// of that item (`id`), to try in order.
fn machine_error_path(message: &str) -> (String, Vec<String>) {
    let head = message.split([':', ' ']).next().unwrap_or("").trim();
    let item_ok = !head.is_empty()
        && head
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'));
    if !item_ok {
        return ("machine".into(), Vec::new());
    }
    let path = format!("machine.{head}");
    let rest = message.split_once(": ").map_or("", |(_, r)| r);
    let keys = rest
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            matches!(
                *w,
                "id" | "name"
                    | "number"
                    | "sensor"
                    | "sensor_number"
                    | "password"
                    | "expr"
                    | "script"
                    | "resolution"
                    | "offset"
                    | "nominal"
            )
        })
        .map(str::to_owned)
        .collect();
    (path, keys)
}

/// How to fix a machine error.
fn machine_hint(message: &str) -> String {
    if message.contains("is already used") {
        "ids, sensor numbers and user names must be unique; rename one of them".into()
    } else if message.contains("at most 16 bytes") {
        "IPMI SDR names are at most 16 ASCII characters; abbreviate it".into()
    } else if message.contains("no sensor has the id") {
        "name a sensor id from [[machine.sensors]] or [[machine.discrete_sensors]]".into()
    } else {
        "see mocks/default.toml for a complete, valid [machine] section".into()
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}
