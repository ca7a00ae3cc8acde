// Over 800 lines because it is the whole typed-mock builder API (matchers, answers, IPMI mocks), all compiling to the one rule type; the last ~60 lines are tests.
//! Typed mocks, mounted into a running [`MockServer`]: `Mock::given(matcher)
//! .respond_with(answer).expect(n).mount(&server)`.
//!
//! A mock is a scenario rule written in Rust instead of TOML: [`Mock::given`] builds a
//! [`rules::Rule`](crate::rules::Rule) (the structure `[[rules]]` compiles to) and
//! [`IpmiMock::given`] an [`IpmiRule`] (what `[[ipmi.rules]]` compiles to). Mounting
//! appends the rule to the running mock's scenario without touching its machine, its
//! sessions or the counters of the rules already there. The scenario's own rules come
//! first, then mounted mocks in the order they were mounted; the first rule that
//! matches answers.
//!
//! An expectation (`expect(n)`, `expect(1..)`, ...) is checked against how often the
//! rule matched (counted when it decides, so a request whose answer has arrived is
//! always counted): when the [`MockServer`] is dropped, or the [`MockGuard`] of a scoped
//! mock, or on demand with [`MockServer::verify`].

use std::ops::{Range, RangeFrom, RangeInclusive, RangeTo, RangeToInclusive};
use std::sync::Arc;
use std::time::Duration;

use wsman::FaultKind;

use crate::expect::MockGuard;
use crate::ipmi::rules::{IpmiAction, IpmiMatcher, IpmiRule, MAX_RULE_DATA, Payload};
use crate::mock::Mock;
use crate::mockserver::MockServer;
use crate::rules::{Answer, Matcher, Rule, Transport};

/// A mock that cannot be mounted: which one and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mock `{mock}`: {message}")]
pub struct MountError {
    /// The mock's description (its name, or what it matches).
    pub mock: String,
    /// What is wrong.
    pub message: String,
}

/// How many matches an expectation allows: `n` (exactly), `a..b`, `a..=b`, `a..`,
/// `..b`, `..=b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    min: u32,
    max: Option<u32>,
}

impl Times {
    /// Whether `n` matches are allowed.
    pub fn allows(&self, n: u32) -> bool {
        n >= self.min && self.max.is_none_or(|m| n <= m)
    }
}

impl std::fmt::Display for Times {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: u32| if n == 1 { "" } else { "s" };
        match self.max {
            Some(m) if m == self.min => write!(f, "exactly {m} request{}", plural(m)),
            Some(m) if self.min == 0 => write!(f, "at most {m} request{}", plural(m)),
            Some(m) => write!(f, "between {} and {m} requests", self.min),
            None => write!(f, "at least {} request{}", self.min, plural(self.min)),
        }
    }
}

impl From<u32> for Times {
    fn from(n: u32) -> Times {
        Times {
            min: n,
            max: Some(n),
        }
    }
}

impl From<RangeInclusive<u32>> for Times {
    fn from(r: RangeInclusive<u32>) -> Times {
        Times {
            min: *r.start(),
            max: Some(*r.end()),
        }
    }
}

impl From<Range<u32>> for Times {
    /// An empty range (`3..3`) allows nothing: no count satisfies it.
    fn from(r: Range<u32>) -> Times {
        match r.end.checked_sub(1) {
            Some(max) => Times {
                min: r.start,
                max: Some(max),
            },
            None => Times {
                min: 1,
                max: Some(0),
            },
        }
    }
}

impl From<RangeFrom<u32>> for Times {
    fn from(r: RangeFrom<u32>) -> Times {
        Times {
            min: r.start,
            max: None,
        }
    }
}

impl From<RangeTo<u32>> for Times {
    fn from(r: RangeTo<u32>) -> Times {
        Times::from(0..r.end)
    }
}

impl From<RangeToInclusive<u32>> for Times {
    fn from(r: RangeToInclusive<u32>) -> Times {
        Times {
            min: 0,
            max: Some(r.end),
        }
    }
}

// ------------------------------------------------------------------ WS-Man matchers

/// What a WS-Man mock matches; start one with [`action`], [`operation`], [`resource`]
/// or [`any_request`] and narrow it with the methods. Every part given must match.
#[derive(Debug, Clone, Default)]
pub struct RequestMatcher {
    matcher: Matcher,
}

/// Requests with this action: a URI (`*` and `?` are globs) or an operation name
/// (`Get`, `Put`, `Create`, `Delete`, `Enumerate`, `Pull`, `Invoke`, `Identify`, ...,
/// matched case-insensitively).
pub fn action(action: impl Into<String>) -> RequestMatcher {
    RequestMatcher::default().action(action)
}

/// Requests of this operation (`Get`, `Enumerate`, ...): the same as [`action`] with a
/// name.
pub fn operation(name: impl Into<String>) -> RequestMatcher {
    action(name)
}

/// Requests for this resource: a class name (`CIM_Fan`, matching the last segment of
/// the resource URI, case-insensitively) or a URI glob.
pub fn resource(uri_or_class: impl Into<String>) -> RequestMatcher {
    RequestMatcher::default().resource(uri_or_class)
}

/// Every request that reaches the rules (authenticated, well-formed WS-Man).
pub fn any_request() -> RequestMatcher {
    RequestMatcher::default()
}

impl RequestMatcher {
    /// Also match the action (see [`action`]).
    pub fn action(mut self, action: impl Into<String>) -> RequestMatcher {
        self.matcher.action = Some(action.into());
        self
    }

    /// Also match the operation (see [`operation`]).
    pub fn operation(self, name: impl Into<String>) -> RequestMatcher {
        self.action(name)
    }

    /// Also match the resource (see [`resource`]).
    pub fn resource(mut self, uri_or_class: impl Into<String>) -> RequestMatcher {
        self.matcher.resource_uri = Some(uri_or_class.into());
        self
    }

    /// Also require a selector `name` whose value matches the glob `value`.
    pub fn selector(mut self, name: impl Into<String>, value: impl Into<String>) -> RequestMatcher {
        self.matcher.selectors.push((name.into(), value.into()));
        self
    }

    /// Also require the body to have the element at `path` (local names separated by
    /// `/`, from the body's first element, which may be named first).
    pub fn body_has(mut self, path: &str) -> RequestMatcher {
        self.matcher.body_path = Some(
            path.split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        );
        self
    }

    /// Also require the text of the body element at `path` to match the glob `text`.
    pub fn body_text(self, path: &str, text: impl Into<String>) -> RequestMatcher {
        let mut m = self.body_has(path);
        m.matcher.body_text = Some(text.into());
        m
    }

    /// Also require the authenticated user.
    pub fn user(mut self, user: impl Into<String>) -> RequestMatcher {
        self.matcher.user = Some(user.into());
        self
    }

    /// The compiled matcher.
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// What this matches, for messages: `Get CIM_Fan Name=fan1`.
    pub fn describe(&self) -> String {
        describe_matcher(&self.matcher)
    }
}

pub(crate) fn describe_matcher(m: &Matcher) -> String {
    let mut parts = Vec::new();
    if let Some(a) = &m.action {
        parts.push(a.clone());
    }
    if let Some(r) = &m.resource_uri {
        parts.push(r.clone());
    }
    for (n, v) in &m.selectors {
        parts.push(format!("{n}={v}"));
    }
    if let Some(p) = &m.body_path {
        match &m.body_text {
            Some(t) => parts.push(format!("body {}={t:?}", p.join("/"))),
            None => parts.push(format!("body has {}", p.join("/"))),
        }
    }
    if let Some(u) = &m.user {
        parts.push(format!("user {u}"));
    }
    if parts.is_empty() {
        "any request".into()
    } else {
        parts.join(" ")
    }
}

// ------------------------------------------------------------------ WS-Man answers

#[derive(Debug, Clone)]
enum Kind {
    Fault(FaultKind),
    Instance(String),
    InstanceOf {
        class: String,
        properties: Vec<(String, String)>,
    },
    Envelope(String),
    Body(String),
    Status(u16),
    Transport(Transport),
    Script(String),
    Default,
}

/// What a WS-Man mock answers. Combine a constructor with [`Respond::delayed`],
/// [`Respond::with_status`], [`Respond::reason`] or [`Respond::detail`].
#[derive(Debug, Clone)]
pub struct Respond {
    kind: Kind,
    status: Option<u16>,
    delay: Option<Duration>,
    reason: Option<String>,
    detail: Option<String>,
    content_type: Option<String>,
}

impl Respond {
    fn of(kind: Kind) -> Respond {
        Respond {
            kind,
            status: None,
            delay: None,
            reason: None,
            detail: None,
            content_type: None,
        }
    }

    /// A fault of the catalogue, in the scenario's flavour (DMTF status mapping or
    /// WinRM's 500 with a `WSManFault`).
    pub fn fault(kind: FaultKind) -> Respond {
        Respond::of(Kind::Fault(kind))
    }

    /// A transfer response (`{action}Response`, related to the request's MessageID)
    /// whose body is `instance_xml`, one element with its namespace declared, such as
    /// `<p:CIM_Fan xmlns:p="...">...</p:CIM_Fan>`.
    pub fn instance(instance_xml: impl Into<String>) -> Respond {
        Respond::of(Kind::Instance(instance_xml.into()))
    }

    /// Like [`Respond::instance`], the element built from a class name and its
    /// properties (values escaped), in the request's resource URI as namespace.
    pub fn instance_of<K, V>(class: &str, properties: impl IntoIterator<Item = (K, V)>) -> Respond
    where
        K: Into<String>,
        V: Into<String>,
    {
        Respond::of(Kind::InstanceOf {
            class: class.to_owned(),
            properties: properties
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        })
    }

    /// A whole response envelope, as a template: `{{message_id}}` (or
    /// `{{relates_to}}`), `{{uuid}}`, `{{to}}`, `{{action}}`, `{{resource_uri}}`,
    /// `{{operation}}`, `{{user}}` and `{{selector:Name}}` are filled in from the
    /// request.
    pub fn envelope(template: impl Into<String>) -> Respond {
        Respond::of(Kind::Envelope(template.into()))
    }

    /// This body as is, status 200 unless [`Respond::with_status`].
    pub fn body(body: impl Into<String>) -> Respond {
        Respond::of(Kind::Body(body.into()))
    }

    /// An empty answer with this HTTP status.
    pub fn status(status: u16) -> Respond {
        Respond::of(Kind::Status(status))
    }

    /// Wait, then answer as the mock would without the mock.
    pub fn delay(delay: Duration) -> Respond {
        Respond::of(Kind::Default).delayed(delay)
    }

    /// Answer as the mock would anyway (a mock that only counts).
    pub fn default_answer() -> Respond {
        Respond::of(Kind::Default)
    }

    /// Reset the TCP connection instead of answering.
    pub fn reset() -> Respond {
        Respond::of(Kind::Transport(Transport::Reset))
    }

    /// Close the connection without answering.
    pub fn close() -> Respond {
        Respond::of(Kind::Transport(Transport::Close))
    }

    /// Send the headers and only `keep` bytes of the body, then close.
    pub fn truncate(keep: usize) -> Respond {
        Respond::of(Kind::Transport(Transport::Truncate { keep }))
    }

    /// Send these bytes instead of HTTP, then close.
    pub fn garbage(bytes: impl Into<Vec<u8>>) -> Respond {
        Respond::of(Kind::Transport(Transport::Garbage(bytes.into())))
    }

    /// Send the answer `chunk` bytes at a time, `interval` apart.
    pub fn slow(chunk: usize, interval: Duration) -> Respond {
        Respond::of(Kind::Transport(Transport::Slow {
            chunk: chunk.max(1),
            interval,
        }))
    }

    /// A sandboxed Rhai script deciding the answer (as a scenario's `script`);
    /// compiled when mounted.
    pub fn script(source: impl Into<String>) -> Respond {
        Respond::of(Kind::Script(source.into()))
    }

    /// Wait this long first.
    pub fn delayed(mut self, delay: Duration) -> Respond {
        self.delay = Some(delay);
        self
    }

    /// The HTTP status (of a fault, an envelope or a body).
    pub fn with_status(mut self, status: u16) -> Respond {
        self.status = Some(status);
        self
    }

    /// The fault's reason text.
    pub fn reason(mut self, reason: impl Into<String>) -> Respond {
        self.reason = Some(reason.into());
        self
    }

    /// The fault's detail token (one of [`FaultKind::detail_tokens`]; checked when
    /// mounted).
    pub fn detail(mut self, token: impl Into<String>) -> Respond {
        self.detail = Some(token.into());
        self
    }

    /// The content type (of an envelope or a body).
    pub fn content_type(mut self, content_type: impl Into<String>) -> Respond {
        self.content_type = Some(content_type.into());
        self
    }

    /// The rule answer this becomes, or what is wrong.
    pub fn to_answer(&self) -> Result<Answer, String> {
        let delay = self.delay;
        if self.detail.is_some() && !matches!(self.kind, Kind::Fault(_)) {
            return Err("`detail` is for faults only".into());
        }
        if self.reason.is_some() && !matches!(self.kind, Kind::Fault(_)) {
            return Err("`reason` is for faults only".into());
        }
        if let Some(s) = self.status {
            if !(100..=999).contains(&s) {
                return Err(format!("{s} is not an HTTP status (100..=999)"));
            }
        }
        let template = |template: String| Answer::Template {
            template,
            status: self.status.unwrap_or(200),
            content_type: self.content_type.clone(),
            delay,
        };
        Ok(match &self.kind {
            Kind::Fault(kind) => {
                let detail = match &self.detail {
                    None => None,
                    Some(d) => Some(
                        kind.detail_tokens()
                            .iter()
                            .copied()
                            .find(|t| t == d)
                            .ok_or_else(|| {
                                format!(
                                    "`{d}` is not a detail of {} (expected {})",
                                    kind.qname(),
                                    if kind.detail_tokens().is_empty() {
                                        "none".to_owned()
                                    } else {
                                        kind.detail_tokens().join(", ")
                                    }
                                )
                            })?,
                    ),
                };
                Answer::Fault {
                    kind: *kind,
                    detail,
                    reason: self.reason.clone(),
                    status: self.status,
                    delay,
                }
            }
            Kind::Instance(xml) => template(transfer_response(&no_placeholders(xml))),
            Kind::InstanceOf { class, properties } => {
                let valid = |n: &str| {
                    n.chars()
                        .next()
                        .is_some_and(|c| c.is_alphabetic() || c == '_')
                        && n.chars()
                            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
                };
                if !valid(class) {
                    return Err(format!("`{class}` is not a class name"));
                }
                let mut xml = format!("<p:{class} xmlns:p=\"{{{{resource_uri}}}}\">");
                for (k, v) in properties {
                    if !valid(k) {
                        return Err(format!("`{k}` is not a property name"));
                    }
                    xml.push_str(&format!("<p:{k}>{}</p:{k}>", no_placeholders(&escape(v))));
                }
                xml.push_str(&format!("</p:{class}>"));
                template(transfer_response(&xml))
            }
            Kind::Envelope(t) => template(t.clone()),
            Kind::Body(b) => Answer::Raw {
                body: b.clone(),
                status: self.status.unwrap_or(200),
                content_type: self.content_type.clone(),
                delay,
            },
            Kind::Status(s) => {
                if !(100..=999).contains(s) {
                    return Err(format!("{s} is not an HTTP status (100..=999)"));
                }
                Answer::Raw {
                    body: String::new(),
                    status: *s,
                    content_type: self.content_type.clone(),
                    delay,
                }
            }
            Kind::Transport(t) => Answer::Transport {
                transport: t.clone(),
                delay,
            },
            Kind::Script(src) => {
                let ast = crate::rules::compile_script(src)
                    .map_err(|e| format!("the script does not compile: {e}"))?;
                Answer::Script {
                    ast: Arc::new(ast),
                    delay,
                }
            }
            Kind::Default => Answer::DelayOnly(delay.unwrap_or(Duration::ZERO)),
        })
    }
}

/// A transfer response envelope around `body`.
fn transfer_response(body: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\"><s:Header>\
         <a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>\
         <a:Action>{{{{action}}}}Response</a:Action><a:MessageID>uuid:{{{{uuid}}}}</a:MessageID>\
         <a:RelatesTo>{{{{relates_to}}}}</a:RelatesTo></s:Header><s:Body>{body}</s:Body>\
         </s:Envelope>"
    )
}

/// Text with no `{{` left for the template expansion to see (as a character
/// reference, which reads the same in XML).
fn no_placeholders(text: &str) -> String {
    text.replace("{{", "&#123;{")
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

// ------------------------------------------------------------------ WS-Man mocks

/// A WS-Man mock being built: see [`Mock::given`].
#[derive(Debug, Clone)]
#[must_use = "a mock does nothing until it is mounted"]
pub struct MockBuilder {
    matcher: RequestMatcher,
    answers: Vec<Respond>,
    name: Option<String>,
    expect: Option<Times>,
    up_to: Option<u32>,
    state: Option<String>,
    next_state: Option<String>,
}

impl Mock {
    /// Starts a WS-Man mock for a [`MockServer`]: requests matching `matcher` get the
    /// answer of [`MockBuilder::respond_with`].
    ///
    /// (`Mock` is also the service behind a server; `given` only starts a rule.)
    pub fn given(matcher: RequestMatcher) -> MockBuilder {
        MockBuilder {
            matcher,
            answers: Vec::new(),
            name: None,
            expect: None,
            up_to: None,
            state: None,
            next_state: None,
        }
    }
}

impl MockBuilder {
    /// The answer (the first one, when followed by [`MockBuilder::then_respond_with`]).
    pub fn respond_with(mut self, answer: Respond) -> MockBuilder {
        self.answers.insert(0, answer);
        self.answers.truncate(1);
        self
    }

    /// The answer to the next match; the last answer repeats.
    pub fn then_respond_with(mut self, answer: Respond) -> MockBuilder {
        self.answers.push(answer);
        self
    }

    /// Expect this many matches (`1`, `2..=3`, `1..`), checked when the server (or the
    /// guard of a scoped mock) is dropped, or by [`MockServer::verify`].
    pub fn expect(mut self, times: impl Into<Times>) -> MockBuilder {
        self.expect = Some(times.into());
        self
    }

    /// Match at most `n` times; later requests go on to the next rules.
    pub fn up_to_n_times(mut self, n: u32) -> MockBuilder {
        self.up_to = Some(n);
        self
    }

    /// A name for messages and the journal's `rule`.
    pub fn named(mut self, name: impl Into<String>) -> MockBuilder {
        self.name = Some(name.into());
        self
    }

    /// Match only while the scenario is in this named state (`""` at start).
    pub fn in_state(mut self, state: impl Into<String>) -> MockBuilder {
        self.state = Some(state.into());
        self
    }

    /// Enter this named state after matching.
    pub fn then_state(mut self, state: impl Into<String>) -> MockBuilder {
        self.next_state = Some(state.into());
        self
    }

    /// The name used in messages: the given name, or what it matches.
    pub fn description(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.matcher.describe())
    }

    /// Mounts the mock on `server`; its expectation is verified when the server is
    /// dropped.
    pub async fn mount(self, server: &MockServer) -> Result<(), MountError> {
        server.register(self)
    }

    /// Mounts the mock until the returned guard is dropped; the guard verifies the
    /// expectation then.
    pub async fn mount_as_scoped(self, server: &MockServer) -> Result<MockGuard, MountError> {
        server.register_as_scoped(self)
    }

    pub(crate) fn compile(&self, rule_name: String) -> Result<Rule, MountError> {
        let err = |message: String| MountError {
            mock: self.description(),
            message,
        };
        if self.answers.is_empty() && self.next_state.is_none() {
            return Err(err(
                "has no answer: call respond_with (Respond::default_answer() only counts)".into(),
            ));
        }
        if self.up_to == Some(0) {
            return Err(err("up_to_n_times(0) never matches".into()));
        }
        let answers = self
            .answers
            .iter()
            .map(Respond::to_answer)
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(Rule {
            name: rule_name,
            matcher: self.matcher.matcher.clone(),
            answers,
            times: self.up_to,
            state: self.state.clone(),
            next_state: self.next_state.clone(),
            raise: None,
        })
    }

    pub(crate) fn expectation(&self) -> Option<Times> {
        self.expect
    }

    pub(crate) fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

// ------------------------------------------------------------------ IPMI mocks

/// What an IPMI mock does: answer a completion code or data instead of running the
/// command, drop the request, delay or duplicate the reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpmiRespond {
    action: IpmiAction,
}

impl IpmiRespond {
    /// Answer this completion code (not 0: use [`IpmiRespond::data`]) without running
    /// the command.
    pub fn completion_code(cc: u8) -> IpmiRespond {
        IpmiRespond {
            action: IpmiAction {
                completion_code: Some(cc),
                ..IpmiAction::default()
            },
        }
    }

    /// Answer success (completion code 0) with these response data bytes, without
    /// running the command.
    pub fn data(data: impl Into<Vec<u8>>) -> IpmiRespond {
        IpmiRespond {
            action: IpmiAction {
                completion_code: Some(ipmi::codes::cc::OK),
                data: data.into(),
                ..IpmiAction::default()
            },
        }
    }

    /// Drop the request: no answer, nothing runs, the session is as if it never
    /// arrived.
    pub fn drop_request() -> IpmiRespond {
        IpmiRespond {
            action: IpmiAction {
                drop: true,
                ..IpmiAction::default()
            },
        }
    }

    /// Run the command as usual but send the reply this much later (see also
    /// [`IpmiRespond::delayed`]).
    pub fn delay(delay: Duration) -> IpmiRespond {
        IpmiRespond::default().delayed(delay)
    }

    /// Send the reply this much later.
    pub fn delayed(mut self, delay: Duration) -> IpmiRespond {
        self.action.delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Send the reply twice.
    pub fn duplicated(mut self) -> IpmiRespond {
        self.action.duplicate = true;
        self
    }

    /// The rule action this becomes.
    pub fn action(&self) -> &IpmiAction {
        &self.action
    }
}

/// An IPMI mock being built.
#[derive(Debug, Clone)]
#[must_use = "a mock does nothing until it is mounted"]
pub struct IpmiMock {
    netfn: u8,
    cmd: u8,
    user: Option<String>,
    payloads: Vec<Payload>,
    respond: Option<IpmiRespond>,
    name: Option<String>,
    expect: Option<Times>,
    up_to: Option<u32>,
}

impl IpmiMock {
    /// Starts an IPMI mock for requests with this (request) NetFn and command, in a
    /// session or sessionless.
    pub fn given(netfn: u8, cmd: u8) -> IpmiMock {
        IpmiMock {
            netfn,
            cmd,
            user: None,
            payloads: Vec::new(),
            respond: None,
            name: None,
            expect: None,
            up_to: None,
        }
    }

    /// Only requests of this session user.
    pub fn user(mut self, user: impl Into<String>) -> IpmiMock {
        self.user = Some(user.into());
        self
    }

    /// Only sessionless requests (either framing), such as Get Channel
    /// Authentication Capabilities before a login.
    pub fn sessionless(mut self) -> IpmiMock {
        self.payloads = vec![Payload::Sessionless, Payload::SessionlessRmcpp];
        self
    }

    /// Only requests inside a session (IPMI 1.5 or RMCP+).
    pub fn in_session(mut self) -> IpmiMock {
        self.payloads = vec![Payload::Ipmi15, Payload::Rmcpp];
        self
    }

    /// What to do.
    pub fn respond_with(mut self, respond: IpmiRespond) -> IpmiMock {
        self.respond = Some(respond);
        self
    }

    /// Expect this many matches.
    pub fn expect(mut self, times: impl Into<Times>) -> IpmiMock {
        self.expect = Some(times.into());
        self
    }

    /// Act at most `n` times; later requests are answered as usual.
    pub fn up_to_n_times(mut self, n: u32) -> IpmiMock {
        self.up_to = Some(n);
        self
    }

    /// A name for messages and the journal's `rule`.
    pub fn named(mut self, name: impl Into<String>) -> IpmiMock {
        self.name = Some(name.into());
        self
    }

    /// The name used in messages: the given name, or what it matches.
    pub fn description(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            let mut d = format!(
                "IPMI {} ({:#04x}:{:#04x})",
                crate::ipmi::rules::command_name(self.netfn, self.cmd),
                self.netfn,
                self.cmd
            );
            if let Some(u) = &self.user {
                d.push_str(&format!(" user {u}"));
            }
            d
        })
    }

    /// Mounts the mock on `server` (which must serve IPMI: [`crate::Builder::ipmi`]).
    pub async fn mount(self, server: &MockServer) -> Result<(), MountError> {
        server.register(self)
    }

    /// Mounts the mock until the returned guard is dropped.
    pub async fn mount_as_scoped(self, server: &MockServer) -> Result<MockGuard, MountError> {
        server.register_as_scoped(self)
    }

    pub(crate) fn compile(&self, rule_name: String) -> Result<IpmiRule, MountError> {
        let err = |message: String| MountError {
            mock: self.description(),
            message,
        };
        if self.netfn % 2 != 0 {
            return Err(err(format!(
                "NetFn {:#04x} is a response NetFn (did you mean {:#04x}?)",
                self.netfn,
                self.netfn & !1
            )));
        }
        if self.netfn > 0x3E {
            return Err(err(format!("NetFn {:#04x} is out of range", self.netfn)));
        }
        let Some(respond) = &self.respond else {
            return Err(err("has no answer: call respond_with".into()));
        };
        let a = &respond.action;
        if *a == IpmiAction::default() {
            return Err(err("does nothing: answer, drop, delay or duplicate".into()));
        }
        if a.data.len() > MAX_RULE_DATA {
            return Err(err(format!(
                "{} bytes of response data (at most {MAX_RULE_DATA})",
                a.data.len()
            )));
        }
        if a.completion_code == Some(0) && a.data.is_empty() {
            return Err(err(
                "completion code 0 without data: use IpmiRespond::data for a success".into(),
            ));
        }
        if a.drop && (a.delay_ms > 0 || a.duplicate) {
            return Err(err("drops the request and also shapes its reply".into()));
        }
        if self.up_to == Some(0) {
            return Err(err("up_to_n_times(0) never acts".into()));
        }
        Ok(IpmiRule {
            name: rule_name,
            matcher: IpmiMatcher {
                netfn: Some(self.netfn),
                cmd: Some(self.cmd),
                user: self.user.clone(),
                payloads: self.payloads.clone(),
            },
            action: a.clone(),
            skip: 0,
            times: self.up_to,
        })
    }

    pub(crate) fn expectation(&self) -> Option<Times> {
        self.expect
    }

    pub(crate) fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// A WS-Man or IPMI mock, for [`MockServer::register`].
#[derive(Debug, Clone)]
pub struct Definition(pub(crate) Def);

#[derive(Debug, Clone)]
pub(crate) enum Def {
    Wsman(MockBuilder),
    Ipmi(IpmiMock),
}

impl From<MockBuilder> for Definition {
    fn from(m: MockBuilder) -> Definition {
        Definition(Def::Wsman(m))
    }
}

impl From<IpmiMock> for Definition {
    fn from(m: IpmiMock) -> Definition {
        Definition(Def::Ipmi(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_english_and_bound_counts() {
        assert_eq!(Times::from(1).to_string(), "exactly 1 request");
        assert_eq!(Times::from(1..).to_string(), "at least 1 request");
        assert_eq!(Times::from(..=2).to_string(), "at most 2 requests");
        assert_eq!(Times::from(2..5).to_string(), "between 2 and 4 requests");
        assert!(Times::from(2..5).allows(4) && !Times::from(2..5).allows(5));
        assert!(!Times::from(3..3).allows(3) && !Times::from(3..3).allows(0));
        assert!(Times::from(0).allows(0) && !Times::from(0).allows(1));
    }

    #[test]
    fn bad_answers_are_refused_with_the_reason() {
        let e = Respond::fault(FaultKind::AccessDenied)
            .detail("NoSuchToken")
            .to_answer()
            .unwrap_err();
        assert!(
            e.contains("NoSuchToken") && e.contains("AccessDenied"),
            "{e}"
        );
        let e = Respond::script("let = ;").to_answer().unwrap_err();
        assert!(e.contains("does not compile"), "{e}");
        assert!(Respond::status(42).to_answer().is_err());
        assert!(
            Respond::instance_of("bad name", [("A", "1")])
                .to_answer()
                .is_err()
        );
        let e = IpmiMock::given(0x07, 1)
            .respond_with(IpmiRespond::completion_code(0xC1))
            .compile("r".into())
            .unwrap_err();
        assert!(e.message.contains("did you mean 0x06"), "{e}");
        let e = IpmiMock::given(0x06, 1)
            .respond_with(IpmiRespond::completion_code(0))
            .compile("r".into())
            .unwrap_err();
        assert!(e.message.contains("IpmiRespond::data"), "{e}");
    }

    #[test]
    fn instance_values_cannot_inject_placeholders_or_markup() {
        let Answer::Template { template, .. } =
            Respond::instance_of("CIM_Fan", [("Name", "<x>{{user}}")])
                .to_answer()
                .unwrap()
        else {
            panic!("not a template")
        };
        assert!(
            template.contains("<p:Name>&lt;x&gt;&#123;{user}}</p:Name>"),
            "{template}"
        );
        assert!(
            template.contains("xmlns:p=\"{{resource_uri}}\""),
            "{template}"
        );
    }
}
