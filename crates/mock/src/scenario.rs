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
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
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

/// The `[http]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Schemes offered: `basic`, `digest`.
    pub auth: Vec<String>,
    /// Digest algorithms offered.
    pub digest_algorithms: Vec<DigestAlgorithm>,
    /// The realm.
    pub realm: String,
    /// Answer Identify without credentials when `WSMANIDENTIFY: unauthenticated` is sent.
    pub unauthenticated_identify: bool,
    /// Largest accepted request body in bytes (WinRM's default MaxEnvelopeSizekb is 500).
    pub max_request_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            auth: vec!["basic".into(), "digest".into()],
            digest_algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            realm: "Touchstone".into(),
            unauthenticated_identify: true,
            max_request_bytes: 512_000,
        }
    }
}

/// How faults look on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// DSP0226 as openwsman maps it: each fault with its own HTTP status, a
    /// `wsman:FaultDetail` where the catalogue has one.
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
    /// Machine name in WinRM fault details.
    pub fault_machine: Option<String>,
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
            fault_machine: None,
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
        let file: File = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_owned();
            let (expected, hint) = explain(&message);
            at(e.span(), message, expected, hint)
        })?;
        if let Err(e) = file.machine.validate() {
            let needle = "[machine";
            let pos = text.find(needle).map(|p| p..p + 1);
            return Err(at(
                pos,
                format!("the machine is not valid: {e}"),
                None,
                Some("see mocks/default.toml for a complete, valid [machine] section".into()),
            ));
        }
        for (i, auth) in file.http.auth.iter().enumerate() {
            if auth != "basic" && auth != "digest" {
                let pos = text.find(&format!("\"{auth}\"")).map(|p| p..p + 1);
                return Err(at(
                    pos,
                    format!("http.auth[{i}] = \"{auth}\" is not a scheme the mock offers"),
                    Some("\"basic\" or \"digest\"".into()),
                    None,
                ));
            }
        }
        if file.http.auth.iter().any(|a| a == "digest") && file.http.digest_algorithms.is_empty() {
            return Err(at(
                text.find("digest_algorithms").map(|p| p..p + 1),
                "digest is offered with no algorithm".into(),
                Some("digest_algorithms = [\"SHA-256\", \"MD5\"]".into()),
                None,
            ));
        }
        for l in &file.wsman.lenient {
            if !matches!(
                l.as_str(),
                "missing_must_understand" | "relative_to" | "non_uuid_message_id"
            ) {
                return Err(at(
                    text.find(&format!("\"{l}\"")).map(|p| p..p + 1),
                    format!("wsman.lenient names `{l}`, which is not a deviation the mock knows"),
                    Some(
                        "\"missing_must_understand\", \"relative_to\" or \"non_uuid_message_id\""
                            .into(),
                    ),
                    None,
                ));
            }
        }
        let mut rules = Vec::new();
        for (i, spanned) in file.rules.iter().enumerate() {
            let span = spanned.span();
            let spec = spanned.get_ref();
            let rule_name = spec.name.clone().unwrap_or_else(|| format!("rules[{i}]"));
            let rule = compile_rule(spec, &rule_name, text).map_err(
                |(span2, message, expected, hint)| {
                    at(
                        Some(span2.unwrap_or(span.clone())),
                        format!("rule `{rule_name}`: {message}"),
                        expected,
                        hint,
                    )
                },
            )?;
            rules.push(rule);
        }
        Ok(Scenario {
            source: name.to_owned(),
            meta: file.scenario,
            http: file.http,
            wsman: file.wsman,
            identify: file.identify,
            machine: file.machine,
            rules: RuleSet::new(rules),
        })
    }

    /// The authentication policy the scenario asks for.
    pub fn auth_policy(&self) -> AuthPolicy {
        AuthPolicy {
            basic: self.http.auth.iter().any(|a| a == "basic"),
            digest: if self.http.auth.iter().any(|a| a == "digest") {
                self.http.digest_algorithms.clone()
            } else {
                Vec::new()
            },
            realm: self.http.realm.clone(),
            unauthenticated_identify: self.http.unauthenticated_identify,
        }
    }

    /// Whether a deviation is accepted.
    pub fn lenient(&self, name: &str) -> bool {
        self.wsman.lenient.iter().any(|l| l == name)
    }
}

type Refusal = (Option<Range<usize>>, String, Option<String>, Option<String>);

fn compile_rule(spec: &RuleSpec, name: &str, _text: &str) -> Result<Rule, Refusal> {
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
    if specs.is_empty() && spec.next_state.is_none() {
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
        answers.push(compile_answer(a)?);
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
    })
}

fn compile_answer(a: &AnswerSpec) -> Result<Answer, Refusal> {
    let kinds = [
        a.fault.is_some(),
        a.template.is_some(),
        a.transport.is_some(),
        a.script.is_some(),
        a.body.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() > 1 {
        return Err((
            None,
            "an answer has more than one of fault, template, body, transport, script".into(),
            Some("exactly one (delay_ms and status combine with them)".into()),
            None,
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
                        return Err((
                            Some(d.span()),
                            format!("`{token}` is not a detail of {}", kind.qname()),
                            Some(if kind.detail_tokens().is_empty() {
                                "no detail for this fault".into()
                            } else {
                                kind.detail_tokens().join(", ")
                            }),
                            None,
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
                return Err((
                    Some(t.span()),
                    format!("`{other}` is not a transport fault"),
                    Some("\"reset\", \"close\", \"truncate\", \"garbage\" or \"slow\"".into()),
                    None,
                ));
            }
        };
        return Ok(Answer::Transport { transport, delay });
    }
    if let Some(s) = &a.script {
        let ast = crate::rules::compile_script(s.get_ref()).map_err(|e| {
            (
                Some(s.span()),
                format!("the script does not compile: {e}"),
                None,
                None,
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

/// What a serde/toml message means in scenario terms.
fn explain(message: &str) -> (Option<String>, Option<String>) {
    if let Some(rest) = message.split("expected one of ").nth(1) {
        return (
            Some(format!("one of {rest}")),
            Some("check the spelling of the key".into()),
        );
    }
    if message.contains("unknown field") {
        return (None, Some("check the spelling of the key".into()));
    }
    if message.contains("invalid type") {
        return (None, Some("strings need quotes; numbers do not".into()));
    }
    if message.contains("duplicate key") {
        return (None, Some("each key may appear once per table".into()));
    }
    (None, None)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}
