//! Scenario rules: match a request (action, resource URI, selectors, a body element,
//! the user), then answer with a template, a fault, a status, a transport failure, a
//! delay, or a sandboxed Rhai script; `times`, answer sequences and named states make
//! stateful flows. A rule may also raise an indication each time it matches (`raise =
//! { class = "...", properties = { ... } }`, beside or instead of an answer): the
//! request is answered as it would be without it, and the indication goes to the
//! machine's event log (see `schedule.rs`).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use wsman::FaultKind;

/// A transport-level failure a rule can ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// TCP reset.
    Reset,
    /// Close without answering.
    Close,
    /// Headers and only `keep` body bytes.
    Truncate {
        /// Body bytes sent.
        keep: usize,
    },
    /// Raw bytes instead of HTTP.
    Garbage(Vec<u8>),
    /// The answer in small pieces.
    Slow {
        /// Bytes per write.
        chunk: usize,
        /// Pause between writes.
        interval: Duration,
    },
}

/// One compiled answer.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A fault of the catalogue.
    Fault {
        /// Which.
        kind: FaultKind,
        /// Detail token.
        detail: Option<&'static str>,
        /// Reason text (a default one when absent).
        reason: Option<String>,
        /// HTTP status override.
        status: Option<u16>,
        /// Wait first.
        delay: Option<Duration>,
    },
    /// A response envelope template.
    Template {
        /// Text with `{{placeholders}}`.
        template: String,
        /// HTTP status.
        status: u16,
        /// Content type override.
        content_type: Option<String>,
        /// Wait first.
        delay: Option<Duration>,
    },
    /// A raw body (possibly empty) with a status.
    Raw {
        /// Body.
        body: String,
        /// HTTP status.
        status: u16,
        /// Content type override.
        content_type: Option<String>,
        /// Wait first.
        delay: Option<Duration>,
    },
    /// A transport failure.
    Transport {
        /// Which.
        transport: Transport,
        /// Wait first.
        delay: Option<Duration>,
    },
    /// A Rhai script deciding the answer.
    Script {
        /// Compiled script.
        ast: Arc<rhai::AST>,
        /// Wait first.
        delay: Option<Duration>,
    },
    /// Wait, then answer as the mock would anyway.
    DelayOnly(Duration),
}

/// What a rule matches.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    /// Action glob or operation name.
    pub action: Option<String>,
    /// Resource URI glob or class name.
    pub resource_uri: Option<String>,
    /// Selector name → value glob.
    pub selectors: Vec<(String, String)>,
    /// Local-name path from the body element.
    pub body_path: Option<Vec<String>>,
    /// Glob for the text at that path.
    pub body_text: Option<String>,
    /// Authenticated user.
    pub user: Option<String>,
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Name (for the journal).
    pub name: String,
    /// What it matches.
    pub matcher: Matcher,
    /// Answers in turn.
    pub answers: Vec<Answer>,
    /// Match at most this many times.
    pub times: Option<u32>,
    /// Only in this state.
    pub state: Option<String>,
    /// Enter this state after matching.
    pub next_state: Option<String>,
    /// Raise this indication each time the rule matches.
    pub raise: Option<crate::schedule::Raise>,
}

/// The rules of a scenario, in order.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

/// What changes as rules match: per-rule hit counts and the named state.
#[derive(Debug, Clone, Default)]
pub struct RuleState {
    hits: Vec<u32>,
    /// The current named state (empty at start).
    pub state: String,
    /// Indications raised by the rules that matched in [`RuleSet::decide`], for the
    /// caller to record in the machine's event log ([`RuleState::take_raised`]).
    raised: Vec<crate::schedule::Raise>,
}

/// What the service knows about a request when it asks the rules.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'r> {
    /// Action URI (empty for Identify).
    pub action: &'r str,
    /// Operation name (`Get`, `Enumerate`, `Identify`, `Invoke`, ...).
    pub operation: &'r str,
    /// Resource URI.
    pub resource_uri: &'r str,
    /// Selectors with text values.
    pub selectors: &'r [(&'r str, &'r str)],
    /// The first body element, as a tree.
    pub body: Option<&'r wsman::Tree<'r>>,
    /// The authenticated user.
    pub user: Option<&'r str>,
}

/// A rule that matched, and the answer it gives.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The rule's name.
    pub rule: String,
    /// The answer.
    pub answer: Answer,
    /// How often the rule has matched now (1 for the first time).
    pub hits: u32,
}

impl RuleState {
    /// How often each rule (by position in the [`RuleSet`]) has matched; rules that
    /// never matched yet may be missing from the end.
    pub fn hits(&self) -> &[u32] {
        &self.hits
    }

    /// Forgets the counters of the rules from position `n` on (they were removed).
    pub(crate) fn truncate_hits(&mut self, n: usize) {
        self.hits.truncate(n);
    }

    /// The indications the rules raised since the last call, oldest first.
    pub fn take_raised(&mut self) -> Vec<crate::schedule::Raise> {
        std::mem::take(&mut self.raised)
    }
}

impl RuleSet {
    /// Rules in order.
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        RuleSet { rules }
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The first rule that matches, bookkeeping its hit and state change.
    pub fn decide(&self, req: &RequestView<'_>, st: &mut RuleState) -> Option<Decision> {
        if st.hits.len() < self.rules.len() {
            st.hits.resize(self.rules.len(), 0);
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if let Some(s) = &rule.state {
                if *s != st.state {
                    continue;
                }
            }
            if rule.times.is_some_and(|t| st.hits[i] >= t) {
                continue;
            }
            if !rule.matcher.matches(req) {
                continue;
            }
            st.hits[i] += 1;
            let hits = st.hits[i];
            if let Some(next) = &rule.next_state {
                st.state = next.clone();
            }
            if let Some(raise) = &rule.raise {
                st.raised.push(raise.clone());
            }
            let Some(answer) = rule
                .answers
                .get((hits as usize - 1).min(rule.answers.len().saturating_sub(1)))
                .cloned()
            else {
                // A rule with only a state change or a raise: go on as if it had not
                // matched.
                continue;
            };
            return Some(Decision {
                rule: rule.name.clone(),
                answer,
                hits,
            });
        }
        None
    }
}

impl Matcher {
    fn matches(&self, req: &RequestView<'_>) -> bool {
        if let Some(a) = &self.action {
            let by_name = !a.contains(':') && a.eq_ignore_ascii_case(req.operation);
            if !by_name && !glob(a, req.action) {
                return false;
            }
        }
        if let Some(r) = &self.resource_uri {
            let class_only = !r.contains('/') && !r.contains('*');
            let ok = if class_only {
                req.resource_uri
                    .rsplit('/')
                    .next()
                    .is_some_and(|c| c.eq_ignore_ascii_case(r))
            } else {
                glob(r, req.resource_uri)
            };
            if !ok {
                return false;
            }
        }
        for (name, pattern) in &self.selectors {
            match req.selectors.iter().find(|(n, _)| n == name) {
                Some((_, v)) if glob(pattern, v) => {}
                _ => return false,
            }
        }
        if let Some(path) = &self.body_path {
            let Some(body) = req.body else { return false };
            let mut el = body.root();
            let mut parts = path.iter();
            // The path may start with the body element's own name.
            let mut first = parts.next();
            if first.is_some_and(|p| *p == *el.name().local) {
                first = parts.next();
            }
            let mut current = first;
            while let Some(part) = current {
                match el.children().find(|c| *c.name().local == **part) {
                    Some(c) => el = c,
                    None => return false,
                }
                current = parts.next();
            }
            if let Some(t) = &self.body_text {
                if !glob(t, el.text().trim()) {
                    return false;
                }
            }
        }
        if let Some(u) = &self.user {
            if req.user != Some(u.as_str()) {
                return false;
            }
        }
        true
    }
}

/// Glob match with `*` (any run) and `?` (one character); everything else literal.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The sandboxed engine every scenario script runs in: bounded operations, memory,
/// depth and call levels; no modules, no file or network access (Rhai has none unless
/// registered).
pub fn engine() -> &'static rhai::Engine {
    static ENGINE: OnceLock<rhai::Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut e = rhai::Engine::new();
        e.set_max_operations(100_000);
        e.set_max_call_levels(32);
        e.set_max_expr_depths(64, 32);
        e.set_max_string_size(1 << 20);
        e.set_max_array_size(10_000);
        e.set_max_map_size(10_000);
        e.set_max_variables(1_000);
        e.set_max_functions(100);
        e.on_print(|_| {});
        e.on_debug(|_, _, _| {});
        machine::script::register_raise_event(&mut e);
        e
    })
}

/// A script that does not compile: what is wrong and where in the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// What is wrong, without the position.
    pub message: String,
    /// 1-based line in the script, if known.
    pub line: Option<usize>,
    /// 1-based column (in characters) in the script, if known.
    pub column: Option<usize>,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, " (script line {l}, column {c})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScriptError {}

/// Compiles a script in the sandboxed engine.
pub fn compile_script(source: &str) -> Result<rhai::AST, ScriptError> {
    engine().compile(source).map_err(|e| {
        let pos = e.position();
        ScriptError {
            message: e.0.to_string(),
            line: pos.line(),
            column: pos.position(),
        }
    })
}

/// What a script decided.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptAnswer {
    /// Answer as the mock would anyway.
    Default,
    /// A response body (XML) with a status and content type.
    Body {
        /// HTTP status.
        status: u16,
        /// The body.
        body: String,
        /// Content type, if not SOAP.
        content_type: Option<String>,
    },
    /// A fault by name, with optional detail and reason.
    Fault {
        /// `wsman:AccessDenied` or a bare local name.
        fault: String,
        /// Detail token.
        detail: Option<String>,
        /// Reason text.
        reason: Option<String>,
    },
}

/// Runs a script with the request in scope: `action`, `operation`, `resource_uri`,
/// `selectors` (a map), `user`, `hits`, `state`. It returns a string (the response
/// body), a map (`#{ status: 200, body: "..." }` or `#{ fault: "wsman:AccessDenied" }`),
/// or nothing (the default answer). It may call `raise_event(class, #{...})` (see
/// `machine::script`): what it raised, even if it then fails, is queued in `st` for
/// [`RuleState::take_raised`].
pub fn run_script(
    ast: &rhai::AST,
    req: &RequestView<'_>,
    hits: u32,
    st: &mut RuleState,
) -> Result<ScriptAnswer, String> {
    let (answer, raised) =
        machine::script::collecting_events(|| eval_script(ast, req, hits, &st.state));
    st.raised
        .extend(raised.into_iter().map(|r| crate::schedule::Raise {
            class: r.class,
            properties: r.properties,
        }));
    answer
}

fn eval_script(
    ast: &rhai::AST,
    req: &RequestView<'_>,
    hits: u32,
    state: &str,
) -> Result<ScriptAnswer, String> {
    let mut scope = rhai::Scope::new();
    scope.push_constant("action", req.action.to_owned());
    scope.push_constant("operation", req.operation.to_owned());
    scope.push_constant("resource_uri", req.resource_uri.to_owned());
    let mut sel = rhai::Map::new();
    for (k, v) in req.selectors {
        sel.insert((*k).into(), (*v).into());
    }
    scope.push_constant("selectors", sel);
    scope.push_constant("user", req.user.unwrap_or("").to_owned());
    scope.push_constant("hits", i64::from(hits));
    scope.push_constant("state", state.to_owned());
    let out: rhai::Dynamic = engine()
        .eval_ast_with_scope(&mut scope, ast)
        .map_err(|e| e.to_string())?;
    if out.is_unit() {
        return Ok(ScriptAnswer::Default);
    }
    if out.is_string() {
        return Ok(ScriptAnswer::Body {
            status: 200,
            body: out.into_string().unwrap_or_default(),
            content_type: None,
        });
    }
    if let Some(map) = out.try_cast::<rhai::Map>() {
        let get = |k: &str| map.get(k).and_then(|v| v.clone().into_string().ok());
        if let Some(fault) = get("fault") {
            return Ok(ScriptAnswer::Fault {
                fault,
                detail: get("detail"),
                reason: get("reason"),
            });
        }
        let status = map
            .get("status")
            .and_then(|v| v.as_int().ok())
            .unwrap_or(200);
        let status =
            u16::try_from(status).map_err(|_| format!("status {status} is not an HTTP status"))?;
        return Ok(ScriptAnswer::Body {
            status,
            body: get("body").unwrap_or_default(),
            content_type: get("content_type"),
        });
    }
    Err("the script must return a string, a map or nothing".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("http://*/CIM_*Sensor", "http://x/CIM_NumericSensor"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(!glob("CIM_Fan", "CIM_Fans"));
    }

    #[test]
    fn scripts_are_sandboxed() {
        let ast = compile_script("loop { }").unwrap();
        let req = RequestView {
            action: "",
            operation: "Get",
            resource_uri: "",
            selectors: &[],
            body: None,
            user: None,
        };
        let err = run_script(&ast, &req, 1, &mut RuleState::default()).unwrap_err();
        assert!(err.to_lowercase().contains("operation"), "{err}");
        let ast = compile_script("let s = \"x\"; loop { s += s; }").unwrap();
        assert!(run_script(&ast, &req, 1, &mut RuleState::default()).is_err());
    }

    #[test]
    fn scripts_answer() {
        let req = RequestView {
            action: "a",
            operation: "Get",
            resource_uri: "r",
            selectors: &[("Name", "x")],
            body: None,
            user: Some("admin"),
        };
        let ast = compile_script(
            r#"if selectors.Name == "x" { #{ fault: "AccessDenied" } } else { () }"#,
        )
        .unwrap();
        assert_eq!(
            run_script(&ast, &req, 1, &mut RuleState::default()).unwrap(),
            ScriptAnswer::Fault {
                fault: "AccessDenied".into(),
                detail: None,
                reason: None
            }
        );
        let ast = compile_script(r#"`<x n="${hits}"/>`"#).unwrap();
        assert_eq!(
            run_script(&ast, &req, 3, &mut RuleState::default()).unwrap(),
            ScriptAnswer::Body {
                status: 200,
                body: "<x n=\"3\"/>".into(),
                content_type: None
            }
        );
    }

    #[test]
    fn scripts_raise_events_queued_for_the_caller() {
        let req = RequestView {
            action: "a",
            operation: "Get",
            resource_uri: "r",
            selectors: &[],
            body: None,
            user: Some("admin"),
        };
        let mut st = RuleState::default();
        let ast = compile_script(
            r#"raise_event("CIM_AlertIndication", #{ Message: `hit ${hits} by ${user}` }); ()"#,
        )
        .unwrap();
        assert_eq!(
            run_script(&ast, &req, 2, &mut st).unwrap(),
            ScriptAnswer::Default
        );
        let ast = compile_script(r#"raise_event("Then_Fails"); throw "no""#).unwrap();
        assert!(run_script(&ast, &req, 3, &mut st).is_err());
        let raised = st.take_raised();
        assert_eq!(
            raised
                .iter()
                .map(|r| (r.class.as_str(), r.properties.clone()))
                .collect::<Vec<_>>(),
            [
                (
                    "CIM_AlertIndication",
                    vec![("Message".to_owned(), "hit 2 by admin".to_owned())]
                ),
                ("Then_Fails", vec![])
            ]
        );
        assert!(st.take_raised().is_empty());
        let ast = compile_script(r#"raise_event("bad name")"#).unwrap();
        let e = run_script(&ast, &req, 1, &mut st).unwrap_err();
        assert!(e.contains("not a CIM class name"), "{e}");
    }
}
