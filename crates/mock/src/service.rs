//! The WS-Man service: turns a request into the answer a conforming server (or the
//! flavour the scenario asks for) gives, from the simulated machine, after the
//! scenario's rules have had their say.
//!
//! Flow of one request: decode and parse the envelope (a parse error is answered with
//! its catalogue fault, related to the MessageID when it was read) → check it as a
//! request → ask the rules → dispatch on the action (Identify, transfer, enumeration,
//! Invoke) → write the answer and hold it to the client's MaxEnvelopeSize.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use machine::Machine;
use machine::cim::{self, Instance, Reference};
use machine::shell::{Received, ShellLimits, Signal};
use wsman::body::{
    Body, EnumerateResponse, EnumerationContextBody, EnumerationMode, IdentifyResponse, Item,
    Method, PullResponse,
};
use wsman::decode::Charset;
use wsman::validate::{Finding, Warning};
use wsman::{Envelope, ErrorKind, FaultKind, FaultSpec, Header, HeaderName, Limits, Tree, ns};

use crate::cimxml::{self, UriStyle};
use crate::filter;
use crate::http::{Handled, HandlerFuture, Outcome, Reply, Request, WsmanHandler};
use crate::journal::Journal;
use crate::rules::{Answer, Decision, RequestView, RuleState, ScriptAnswer, Transport};
use crate::scenario::{Flavour, Scenario};
use crate::shell::{self as winrs, ShellFault};

const SOAP_CT: &str = "application/soap+xml;charset=UTF-8";
const SOAP_CT_UTF16: &str = "application/soap+xml;charset=UTF-16";

/// Bodies at least this large are decoded and parsed with [`off_worker`]. Smaller ones
/// cost a few tens of microseconds at most, less than handing the worker over would.
const OFF_WORKER_BYTES: usize = 64 * 1024;

/// Runs `work`, CPU-bound and linear in the `len` bytes it reads, so that it cannot
/// stall the other connections served by this worker thread: on a multi-threaded
/// runtime a large input runs under `block_in_place`, which first hands this worker's
/// queued tasks to another thread. On a current-thread runtime (tests) it just runs.
fn off_worker<R>(len: usize, work: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if len >= OFF_WORKER_BYTES && multi {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

/// The mock: one simulated machine behind WS-Man, driven by a scenario.
#[derive(Clone)]
pub struct Mock {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Mutex<Inner>,
    /// What the HTTP layer asks on every request, kept out of `inner` so that
    /// authentication never waits for another request's WS-Man work.
    auth: std::sync::RwLock<Arc<AuthSnapshot>>,
    journal: Arc<Journal>,
    started: Instant,
}

struct Inner {
    scenario: Arc<Scenario>,
    machine: Machine,
    rules: RuleState,
    enumerations: HashMap<String, Enumeration>,
    /// Bumped (under the lock) whenever shell state changes in a way a waiting Receive
    /// may care about: stdin, a signal, a delete, a new scenario.
    shell_wake: tokio::sync::watch::Sender<u64>,
    /// The IPMI session layer (sessions, rule counters) in front of the same machine.
    ipmi: crate::ipmi::State,
    /// The IPMI listener's port (0 until one listens).
    ipmi_port: u16,
}

/// The scenario's authentication policy and the enabled users' passwords.
struct AuthSnapshot {
    policy: crate::http::AuthPolicy,
    passwords: HashMap<String, String>,
}

impl AuthSnapshot {
    fn of(scenario: &Scenario) -> AuthSnapshot {
        AuthSnapshot {
            policy: scenario.auth_policy(),
            passwords: scenario
                .machine
                .users
                .iter()
                .filter(|u| u.enabled)
                .map(|u| (u.name.clone(), u.password.clone()))
                .collect(),
        }
    }
}

/// An open enumeration: the items not pulled yet (a snapshot taken at Enumerate).
struct Enumeration {
    /// Who opened it (the per-user quota counts by it).
    owner: String,
    items: VecDeque<Item<'static>>,
    /// How many items the enumeration had at the start (TotalItemsCountEstimate).
    total: u64,
    expires_at: u64,
    lifetime_ms: u64,
}

/// A fault being answered: the spec plus what the flavour adds.
struct Fail {
    spec: FaultSpec,
    status: Option<u16>,
    /// The header an `s:MustUnderstand` fault names in `s:NotUnderstood`.
    /// (Boxed: it is rare, and keeps every `Result<_, Fail>` small.)
    not_understood: Option<Box<wsman::Name<'static>>>,
    /// A WinRM `WSManFault` code to send whatever the flavour (shell faults: clients
    /// decide on it).
    wsman_code: Option<u32>,
}

impl From<FaultSpec> for Fail {
    fn from(spec: FaultSpec) -> Fail {
        Fail {
            spec,
            status: None,
            not_understood: None,
            wsman_code: None,
        }
    }
}

impl From<ShellFault> for Fail {
    fn from(f: ShellFault) -> Fail {
        let mut spec = FaultSpec::new(f.kind, f.reason);
        if let Some(d) = f.detail {
            spec = spec.with_detail(d);
        }
        Fail {
            wsman_code: Some(f.code),
            ..Fail::from(spec)
        }
    }
}

impl From<machine::shell::ShellError> for Fail {
    fn from(e: machine::shell::ShellError) -> Fail {
        Fail::from(winrs::fault_of(&e))
    }
}

fn fault(kind: FaultKind, reason: impl Into<String>) -> Fail {
    Fail::from(FaultSpec::new(kind, reason))
}

fn fault_d(kind: FaultKind, detail: &'static str, reason: impl Into<String>) -> Fail {
    Fail::from(FaultSpec::new(kind, reason).with_detail(detail))
}

type OpResult = Result<Envelope<'static>, Fail>;

impl Mock {
    /// A mock of `scenario`, with a journal.
    pub fn new(scenario: Scenario, journal: Arc<Journal>) -> Result<Mock, String> {
        let started = Instant::now();
        let mut machine = Machine::new(scenario.machine.clone(), 0).map_err(|e| e.to_string())?;
        let auth = std::sync::RwLock::new(Arc::new(AuthSnapshot::of(&scenario)));
        let ipmi = crate::ipmi::State::new(&scenario.ipmi, &mut machine, 0);
        Ok(Mock {
            shared: Arc::new(Shared {
                auth,
                inner: Mutex::new(Inner {
                    scenario: Arc::new(scenario),
                    machine,
                    rules: RuleState::default(),
                    enumerations: HashMap::new(),
                    shell_wake: tokio::sync::watch::Sender::new(0),
                    ipmi,
                    ipmi_port: 0,
                }),
                journal,
                started,
            }),
        })
    }

    /// The journal.
    pub fn journal(&self) -> &Arc<Journal> {
        &self.shared.journal
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock would be a bug; keep serving rather than
        // poisoning every later request.
        self.shared.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Milliseconds since the mock started: the machine's clock.
    pub fn now_ms(&self) -> u64 {
        self.shared.started.elapsed().as_millis() as u64
    }

    /// The scenario in force.
    pub fn scenario(&self) -> Arc<Scenario> {
        self.lock().scenario.clone()
    }

    /// Replaces the scenario (and the machine with it).
    pub fn load(&self, scenario: Scenario) -> Result<(), String> {
        let now = self.now_ms();
        let mut machine = Machine::new(scenario.machine.clone(), now).map_err(|e| e.to_string())?;
        let snapshot = Arc::new(AuthSnapshot::of(&scenario));
        let mut inner = self.lock();
        // A new machine means new users and keys: the IPMI sessions go with the old one.
        inner.ipmi = crate::ipmi::State::new(&scenario.ipmi, &mut machine, inner.ipmi_port);
        inner.machine = machine;
        inner.scenario = Arc::new(scenario);
        *self.shared.auth.write().unwrap_or_else(|p| p.into_inner()) = snapshot;
        inner.rules = RuleState::default();
        inner.enumerations.clear();
        // Receives waiting on the old machine's shells find them gone.
        inner.shell_wake.send_modify(|g| *g += 1);
        Ok(())
    }

    /// Runs `f` on the machine at the current time (for the admin API and tests).
    pub fn with_machine<R>(&self, f: impl FnOnce(&mut Machine, u64) -> R) -> R {
        let now = self.now_ms();
        let mut inner = self.lock();
        f(&mut inner.machine, now)
    }

    /// Handles one IPMI datagram from `peer`: the session layer, the machine and the
    /// `[[ipmi.rules]]`, under the one lock WS-Man requests take too.
    pub fn ipmi_datagram(
        &self,
        datagram: &[u8],
        peer: std::net::SocketAddr,
    ) -> crate::ipmi::Outcome {
        let now = self.now_ms();
        let mut guard = self.lock();
        let inner = &mut *guard;
        let scenario = inner.scenario.clone();
        crate::ipmi::handle(
            &mut inner.ipmi,
            &mut inner.machine,
            &scenario.ipmi,
            datagram,
            peer,
            now,
        )
    }

    /// Closes IPMI sessions idle for longer than the scenario's idle timeout; returns
    /// when (on [`Mock::now_ms`]'s clock) the session layer next has something to
    /// time out.
    pub fn ipmi_expire(&self) -> Option<u64> {
        let now = self.now_ms();
        let mut inner = self.lock();
        inner.ipmi.bmc.handle_timeout(now);
        inner.ipmi.bmc.next_timeout()
    }

    /// Tells the session layer which UDP port it listens on (Activate Payload reports it).
    pub fn set_ipmi_port(&self, port: u16) {
        let mut inner = self.lock();
        inner.ipmi_port = port;
        inner.ipmi.bmc.config_mut().port = port;
    }

    /// The IPMI sessions (pending logins included).
    pub fn ipmi_sessions(&self) -> Vec<ipmi::session::SessionInfo> {
        self.lock().ipmi.bmc.sessions().collect()
    }

    /// The IPMI session layer's configuration now (rules may have changed it).
    pub fn ipmi_config(&self) -> ipmi::session::BmcConfig {
        self.lock().ipmi.bmc.config().clone()
    }

    /// Changes the rules in force (WS-Man and IPMI) without touching the machine, the
    /// sessions or the rules' counters: how [`crate::MockServer`] mounts mocks. The
    /// counters are kept by position, so `f` may append rules or change them in place
    /// but must not remove or reorder them.
    pub fn edit_rules(
        &self,
        f: impl FnOnce(&mut Vec<crate::rules::Rule>, &mut Vec<crate::ipmi::rules::IpmiRule>),
    ) {
        let mut inner = self.lock();
        let mut scenario = Scenario::clone(&inner.scenario);
        let mut rules = scenario.rules.rules().to_vec();
        f(&mut rules, &mut scenario.ipmi.rules);
        scenario.rules = crate::rules::RuleSet::new(rules);
        inner.scenario = Arc::new(scenario);
    }

    /// How often each WS-Man rule and each IPMI rule has matched since the scenario
    /// was loaded, by position (counted when the rule decides, before the answer).
    pub fn rule_hits(&self) -> (Vec<u32>, Vec<u32>) {
        let inner = self.lock();
        (inner.rules.hits().to_vec(), inner.ipmi.rule_hits().to_vec())
    }

    /// Answers one request (the synchronous core of [`WsmanHandler::handle`]).
    ///
    /// Decoding, parsing and checking happen before the machine lock is taken, and the
    /// answer is written after it is released, so concurrent requests only queue for
    /// the rules and the operation itself.
    pub async fn answer(&self, req: &Request) -> Handled {
        let arrived = Instant::now();
        let now = self.now_ms();
        let scenario = self.lock().scenario.clone();
        let mut handled = Handled {
            outcome: Outcome::Close,
            rule: None,
            operation: None,
        };
        if req.method != "POST" {
            handled.outcome = Outcome::Reply(Reply {
                status: 405,
                headers: vec![("allow".into(), "POST".into())],
                body: Vec::new(),
            });
            return handled;
        }
        if req.body.is_empty() {
            // pywinrm and others authenticate with an empty POST first.
            handled.outcome = reply(200, Vec::new(), SOAP_CT);
            return handled;
        }
        let declared = req.header("content-type").and_then(charset_of);
        let (text, charset) = match off_worker(req.body.len(), || {
            wsman::decode::decode_with_charset(&req.body, declared.as_deref())
        }) {
            Ok(t) => t,
            Err(e) => {
                // Not decodable: nothing says which encoding the client reads, so
                // the fault is UTF-8.
                handled.outcome = fault_answer(Fail::from(e.fault()), None, &scenario);
                return handled;
            }
        };
        let limits = Limits {
            max_bytes: scenario.http.max_request_bytes.max(8192),
            ..Limits::default()
        };
        if charset != Charset::Utf8 && !scenario.wsman.utf16 {
            // A service that reads UTF-8 only says so in the one encoding every client
            // reads, related to the MessageID when it can be read.
            let relates = off_worker(text.len(), || {
                wsman::parse_header(&text, &limits)
                    .ok()
                    .and_then(|h| h.header.message_id.map(|m| m.into_owned()))
            });
            handled.outcome = fault_answer(
                fault_d(
                    FaultKind::EncodingLimit,
                    "CharacterSet",
                    "this service accepts UTF-8 only",
                ),
                relates.as_deref(),
                &scenario,
            );
            return handled;
        }
        handled = self
            .answer_text(req, &text, charset, &limits, &scenario, arrived, now)
            .await;
        // DSP0226 R13.1-5: the answer is in the request's encoding.
        if !scenario.defect("utf8_answers") {
            handled.outcome = in_charset(handled.outcome, charset);
        }
        handled
    }

    /// Answers a request whose body has been decoded to `text` (read as `charset`).
    /// The answer is UTF-8 text still; the caller encodes it.
    #[allow(clippy::too_many_arguments)]
    async fn answer_text(
        &self,
        req: &Request,
        text: &str,
        charset: Charset,
        limits: &Limits,
        scenario: &Arc<Scenario>,
        arrived: Instant,
        now: u64,
    ) -> Handled {
        let scenario = scenario.clone();
        let mut handled = Handled {
            outcome: Outcome::Close,
            rule: None,
            operation: None,
        };
        let mut env = match off_worker(text.len(), || wsman::parse(text, limits)) {
            Ok(env) => env,
            Err(e) => {
                handled.outcome =
                    fault_answer(Fail::from(e.fault()), e.message_id.as_deref(), &scenario);
                return handled;
            }
        };
        let relates = env.header.message_id.as_deref().map(str::to_owned);
        let operation = operation_name(&env);
        handled.operation = Some(operation.to_owned());

        let policy = scenario.auth_policy();
        let open = !policy.offers_any();
        if req.user.is_none() && !open && !matches!(env.body, Body::Identify) {
            // Only Identify may skip authentication (`WSMANIDENTIFY: unauthenticated`
            // lets any request past the HTTP layer, which cannot see the body). The
            // HTTP layer owns the Digest nonces, so only a Basic challenge can be added
            // here; the AccessDenied fault tells a Digest-only client what happened.
            let mut outcome = fault_answer(
                Fail {
                    status: Some(401),
                    ..fault(
                        FaultKind::AccessDenied,
                        "only Identify is answered without credentials",
                    )
                },
                relates.as_deref(),
                &scenario,
            );
            if let (Outcome::Reply(r), true) = (&mut outcome, policy.basic) {
                r.headers.push((
                    "www-authenticate".into(),
                    format!("Basic realm=\"{}\", charset=\"UTF-8\"", policy.realm),
                ));
            }
            handled.outcome = outcome;
            return handled;
        }
        if let Err(f) = check(&env, &scenario) {
            handled.outcome = fault_answer(f, relates.as_deref(), &scenario);
            return handled;
        }
        if !scenario.wsman.fragments
            && env
                .meta
                .header(HeaderName::FragmentTransfer)
                .is_some_and(|(mu, _)| !mu)
        {
            // Without fragment-level access, a FragmentTransfer the client does not
            // insist on is ignored: the whole resource is transferred.
            env.header.fragment_transfer = None;
        }

        // The rules' body matcher needs the body as a generic tree: a second read,
        // skipped when no rule could use it, and done before the machine lock is taken.
        let needs_body = scenario
            .rules
            .rules()
            .iter()
            .any(|r| r.matcher.body_path.is_some());
        let body_tree = if needs_body {
            off_worker(text.len(), || {
                wsman::parse_header(text, limits)
                    .ok()
                    .and_then(|h| h.body_trees(limits).ok())
                    .and_then(|mut v| (!v.is_empty()).then(|| v.remove(0)))
            })
        } else {
            None
        };
        let mut rule = None;
        let phase = {
            let mut inner = self.lock();
            inner.expire(now);
            inner.decide_and_dispatch(
                req,
                &env,
                body_tree.as_ref(),
                charset,
                operation,
                &scenario,
                &mut rule,
                now,
            )
        };
        handled.rule = rule;
        let phase = match phase {
            Phase::Wait(until, rx) => self.wait_for_output(&env, arrived, until, rx).await,
            other => other,
        };
        handled.outcome = match phase {
            Phase::Done(outcome) => outcome,
            Phase::Wait(..) => fault_answer(
                Fail::from(winrs::timed_out()),
                relates.as_deref(),
                &scenario,
            ),
            Phase::Dispatched(result, delay) => {
                let outcome = match *result {
                    Ok(answer) => {
                        finish_answer(answer, &env, charset, relates.as_deref(), &scenario)
                    }
                    Err(f) => fault_answer(f, relates.as_deref(), &scenario),
                };
                match delay {
                    Some(d) => timed(d, &env, outcome, relates.as_deref(), &scenario),
                    None => outcome,
                }
            }
        };
        handled
    }
}

impl Mock {
    /// Waits, without the machine lock, until a shell Receive has something to answer:
    /// a timer until the next output is due (or the OperationTimeout), woken early when
    /// stdin, a signal or a delete changes the shells. Gives the phase to answer with;
    /// still `Phase::Wait` when the OperationTimeout ran out.
    async fn wait_for_output(
        &self,
        env: &Envelope<'_>,
        arrived: Instant,
        mut until: Option<u64>,
        mut rx: tokio::sync::watch::Receiver<u64>,
    ) -> Phase {
        let limit_ms = env
            .header
            .operation_timeout
            .and_then(|t| t.to_std())
            .map_or(winrs::DEFAULT_RECEIVE_WAIT_MS, |d| {
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
            })
            .min(winrs::MAX_RECEIVE_WAIT_MS);
        let deadline = arrived + Duration::from_millis(limit_ms);
        loop {
            let wake = until
                .map(|u| self.shared.started + Duration::from_millis(u))
                .map_or(deadline, |w| w.min(deadline));
            let sleep = tokio::time::sleep_until(wake.into());
            tokio::select! {
                _ = sleep => {}
                changed = rx.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep_until(wake.into()).await;
                    }
                }
            }
            let now = self.now_ms();
            let phase = {
                let mut inner = self.lock();
                inner.expire(now);
                inner.shell_receive_phase(env, now, None)
            };
            match phase {
                Phase::Wait(next, next_rx) => {
                    if Instant::now() >= deadline {
                        return Phase::Wait(next, next_rx);
                    }
                    until = next;
                    rx = next_rx;
                }
                other => return other,
            }
        }
    }
}

impl WsmanHandler for Mock {
    fn handle(&self, req: Request) -> HandlerFuture<'_> {
        Box::pin(async move { self.answer(&req).await })
    }
}

fn reply(status: u16, body: Vec<u8>, content_type: &str) -> Outcome {
    Outcome::Reply(Reply {
        status,
        headers: vec![("content-type".into(), content_type.into())],
        body,
    })
}

fn new_uuid() -> String {
    // Unique per process (a counter) and across runs (random bits); the format is what
    // clients expect.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let r: u64 = rand::random();
    format!(
        "uuid:{:08X}-{:04X}-4{:03X}-8{:03X}-{:012X}",
        (r >> 32) as u32,
        (r >> 16) as u16,
        (r & 0xFFF) as u16,
        (n >> 48) as u16 & 0xFFF,
        n & 0xFFFF_FFFF_FFFF
    )
}

impl Inner {
    fn expire(&mut self, now: u64) {
        self.enumerations.retain(|_, e| e.expires_at > now);
        self.machine.shell_expire(now);
    }

    /// The part of a request's handling that needs the machine: the rules, then the
    /// operation. Writing the answer happens after the lock is released.
    #[allow(clippy::too_many_arguments)]
    fn decide_and_dispatch(
        &mut self,
        req: &Request,
        env: &Envelope<'_>,
        body_tree: Option<&Tree<'_>>,
        charset: Charset,
        operation: &'static str,
        scenario: &Arc<Scenario>,
        rule: &mut Option<String>,
        now: u64,
    ) -> Phase {
        // The rules see the request first.
        let selectors: Vec<(String, String)> = env
            .header
            .selectors
            .iter()
            .filter_map(|s| s.as_text().map(|v| (s.name.to_string(), v.to_owned())))
            .collect();
        let view = RequestView {
            action: env.header.action.as_deref().unwrap_or(""),
            operation,
            resource_uri: env.header.resource_uri.as_deref().unwrap_or(""),
            selectors: &selectors,
            body: body_tree,
            user: req.user.as_deref(),
        };
        let mut delay = None;
        if let Some(decision) = scenario.rules.decide(&view, &mut self.rules) {
            *rule = Some(decision.rule.clone());
            match self.rule_outcome(&decision, &view, env, scenario, now) {
                RuleOutcome::Done(outcome) => return Phase::Done(outcome),
                RuleOutcome::DelayThenDefault(d) => delay = Some(d),
                RuleOutcome::Default => {}
            }
        }

        // What the service offers at all (the scenario's capability knobs), after the
        // rules, which may script answers for anything.
        if let Err(f) = offered(env, scenario) {
            return Phase::Dispatched(Box::new(Err(f)), delay);
        }
        if is_shell(env) && env.header.action.as_deref() == Some(ns::action::RECEIVE) {
            return self.shell_receive_phase(env, now, delay);
        }
        Phase::Dispatched(
            Box::new(self.dispatch(env, req, scenario, charset, now)),
            delay,
        )
    }

    /// A shell Receive: the output due now, or `Phase::Wait` with when more is due.
    fn shell_receive_phase(
        &mut self,
        env: &Envelope<'_>,
        now: u64,
        delay: Option<Duration>,
    ) -> Phase {
        let result = (|| -> Result<Result<Envelope<'static>, Option<u64>>, Fail> {
            let shell_id = winrs::shell_id(env)?;
            let Body::Receive(r) = &env.body else {
                return Err(fault(
                    FaultKind::SchemaValidationError,
                    "a shell Receive carries rsp:Receive",
                ));
            };
            let command_id = r
                .command_id
                .as_deref()
                .ok_or_else(|| missing_command_id("rsp:DesiredStream names no CommandId"))?;
            let desired = winrs::desired_streams(&r.desired_streams);
            match self
                .machine
                .shell_receive(shell_id, command_id, &desired, now)?
            {
                Received::Output { chunks, status } => {
                    let header = self.response_header(env, ns::action::RECEIVE_RESPONSE);
                    let body = winrs::receive_response(command_id, chunks, status);
                    Ok(Ok(respond(header, Body::ReceiveResponse(body))))
                }
                Received::Wait { until } => Ok(Err(until)),
            }
        })();
        match result {
            Ok(Ok(answer)) => Phase::Dispatched(Box::new(Ok(answer)), delay),
            Ok(Err(until)) => Phase::Wait(until, self.shell_wake.subscribe()),
            Err(f) => Phase::Dispatched(Box::new(Err(f)), delay),
        }
    }

    /// Wakes the Receives waiting for shell output (a change may be theirs to see) and
    /// answers `env` with `action` and `body`.
    fn wake_and_respond(
        &mut self,
        env: &Envelope<'_>,
        action: &str,
        body: Body<'static>,
    ) -> Envelope<'static> {
        self.shell_wake.send_modify(|g| *g += 1);
        respond(self.response_header(env, action), body)
    }

    /// Create, Delete, Command, Send and Signal on the cmd shell resource.
    fn shell_op(
        &mut self,
        env: &Envelope<'_>,
        req: &Request,
        scenario: &Scenario,
        now: u64,
    ) -> OpResult {
        let action = env.header.action.as_deref().unwrap_or("");
        let limits = ShellLimits {
            max_shells_per_user: scenario.wsman.max_shells_per_user,
            ..ShellLimits::default()
        };
        match action {
            ns::action::CREATE => {
                let body = match &env.body {
                    Body::Shell(s) => Some(s),
                    Body::Empty => None,
                    _ => {
                        return Err(fault_d(
                            FaultKind::InvalidRepresentation,
                            "InvalidValues",
                            "a shell Create carries rsp:Shell",
                        ));
                    }
                };
                let user = req.user.as_deref().unwrap_or("anonymous");
                let request = winrs::shell_request(env, user, body)?;
                let id = shell_uuid();
                let info = self.machine.shell_create(id, request, &limits, now)?;
                let mut header = self.response_header(env, ns::action::CREATE_RESPONSE);
                header.resource_uri = None;
                let epr = wsman::Epr {
                    address: Cow::Owned(
                        env.header.to.as_deref().unwrap_or(ns::ANONYMOUS).to_owned(),
                    ),
                    resource_uri: Some(Cow::Borrowed(ns::SHELL_CMD)),
                    selectors: vec![wsman::Selector::text("ShellId", info.id.clone())],
                    other_parameters: Vec::new(),
                };
                let mut answer = respond(header, Body::ResourceCreated(epr));
                answer
                    .extra
                    .push(Body::Shell(winrs::shell_body(&info, body)));
                Ok(answer)
            }
            ns::action::DELETE => {
                let shell_id = winrs::shell_id(env)?;
                self.machine.shell_delete(shell_id, now)?;
                Ok(self.wake_and_respond(env, ns::action::DELETE_RESPONSE, Body::Empty))
            }
            ns::action::COMMAND => {
                let shell_id = winrs::shell_id(env)?;
                let Body::CommandLine(c) = &env.body else {
                    return Err(fault(
                        FaultKind::SchemaValidationError,
                        "a shell Command carries rsp:CommandLine",
                    ));
                };
                let args: Vec<&str> = c.arguments.iter().map(|a| a.as_ref()).collect();
                let id = shell_uuid();
                self.machine
                    .shell_command(shell_id, id.clone(), &c.command, &args, now)?;
                Ok(respond(
                    self.response_header(env, ns::action::COMMAND_RESPONSE),
                    Body::CommandResponse(wsman::body::CommandResponse {
                        command_id: Cow::Owned(id),
                    }),
                ))
            }
            ns::action::SEND => {
                let shell_id = winrs::shell_id(env)?;
                let Body::Send(send) = &env.body else {
                    return Err(fault(
                        FaultKind::SchemaValidationError,
                        "a shell Send carries rsp:Send",
                    ));
                };
                for stream in &send.streams {
                    let command_id = stream
                        .command_id
                        .as_deref()
                        .ok_or_else(|| missing_command_id("rsp:Stream names no CommandId"))?;
                    // The parser has checked the base64.
                    let bytes = stream.decode().unwrap_or_default();
                    self.machine.shell_send(
                        shell_id,
                        command_id,
                        &stream.name,
                        &bytes,
                        stream.end,
                        now,
                    )?;
                }
                Ok(self.wake_and_respond(env, ns::action::SEND_RESPONSE, Body::SendResponse))
            }
            ns::action::SIGNAL => {
                let shell_id = winrs::shell_id(env)?;
                let Body::Signal(sig) = &env.body else {
                    return Err(fault(
                        FaultKind::SchemaValidationError,
                        "a shell Signal carries rsp:Signal",
                    ));
                };
                let command_id = sig
                    .command_id
                    .as_deref()
                    .ok_or_else(|| missing_command_id("rsp:Signal names no CommandId"))?;
                let signal = Signal::parse(&sig.code).ok_or_else(|| {
                    Fail::from(winrs::bad_request(
                        FaultKind::InvalidParameter,
                        Some("InvalidName"),
                        &format!("unknown signal code `{}`", sig.code),
                    ))
                })?;
                self.machine
                    .shell_signal(shell_id, command_id, signal, now)?;
                Ok(self.wake_and_respond(env, ns::action::SIGNAL_RESPONSE, Body::SignalResponse))
            }
            other => Err(fault_d(
                FaultKind::ActionNotSupported,
                "ActionMismatch",
                format!("the action `{other}` is not supported by the shell resource"),
            )),
        }
    }

    fn rule_outcome(
        &mut self,
        d: &Decision,
        view: &RequestView<'_>,
        env: &Envelope<'_>,
        scenario: &Scenario,
        _now: u64,
    ) -> RuleOutcome {
        let relates = env.header.message_id.as_deref();
        let with_delay = |delay: Option<Duration>, o: Outcome| match delay {
            Some(d) => timed(d, env, o, relates, scenario),
            None => o,
        };
        match &d.answer {
            Answer::DelayOnly(dur) => RuleOutcome::DelayThenDefault(*dur),
            Answer::Fault {
                kind,
                detail,
                reason,
                status,
                delay,
            } => {
                let mut spec = FaultSpec::new(
                    *kind,
                    reason.clone().unwrap_or_else(|| default_reason(*kind)),
                );
                spec.detail = *detail;
                let o = self.fault_outcome(
                    Fail {
                        status: *status,
                        ..Fail::from(spec)
                    },
                    relates,
                    scenario,
                );
                RuleOutcome::Done(with_delay(*delay, o))
            }
            Answer::Template {
                template,
                status,
                content_type,
                delay,
            } => {
                let body = self.expand(template, env, view);
                let o = reply(
                    *status,
                    body.into_bytes(),
                    content_type.as_deref().unwrap_or(SOAP_CT),
                );
                RuleOutcome::Done(with_delay(*delay, o))
            }
            Answer::Raw {
                body,
                status,
                content_type,
                delay,
            } => {
                let o = reply(
                    *status,
                    body.clone().into_bytes(),
                    content_type.as_deref().unwrap_or(SOAP_CT),
                );
                RuleOutcome::Done(with_delay(*delay, o))
            }
            Answer::Transport { transport, delay } => {
                let o = match transport {
                    Transport::Reset => Outcome::Reset,
                    Transport::Close => Outcome::Close,
                    Transport::Garbage(g) => Outcome::Garbage(g.clone()),
                    Transport::Truncate { keep } | Transport::Slow { chunk: keep, .. } => {
                        // Cut short (or drip) the answer the mock would give anyway.
                        let base = match self.dispatch_default_for_transport(env, scenario) {
                            Outcome::Reply(r) => r,
                            _ => Reply {
                                status: 200,
                                headers: Vec::new(),
                                body: Vec::new(),
                            },
                        };
                        match transport {
                            Transport::Slow { interval, .. } => Outcome::SlowDrip {
                                reply: base,
                                chunk: *keep,
                                interval: *interval,
                            },
                            _ => Outcome::Truncated {
                                keep: (*keep).min(base.body.len()),
                                reply: base,
                            },
                        }
                    }
                };
                RuleOutcome::Done(with_delay(*delay, o))
            }
            Answer::Script { ast, delay } => {
                match crate::rules::run_script(ast, view, d.hits, &self.rules.state) {
                    Ok(ScriptAnswer::Default) => match delay {
                        Some(d) => RuleOutcome::DelayThenDefault(*d),
                        None => RuleOutcome::Default,
                    },
                    Ok(ScriptAnswer::Body {
                        status,
                        body,
                        content_type,
                    }) => {
                        let body = self.expand(&body, env, view);
                        let o = reply(
                            status,
                            body.into_bytes(),
                            content_type.as_deref().unwrap_or(SOAP_CT),
                        );
                        RuleOutcome::Done(with_delay(*delay, o))
                    }
                    Ok(ScriptAnswer::Fault {
                        fault: name,
                        detail,
                        reason,
                    }) => {
                        let kind = FaultKind::from_qname(&name).or_else(|| {
                            FaultKind::ALL
                                .iter()
                                .copied()
                                .find(|k| k.local_name() == name)
                        });
                        let f = match kind {
                            Some(kind) => {
                                let mut spec = FaultSpec::new(
                                    kind,
                                    reason.unwrap_or_else(|| default_reason(kind)),
                                );
                                spec.detail = detail.and_then(|t| {
                                    kind.detail_tokens().iter().copied().find(|x| *x == t)
                                });
                                Fail::from(spec)
                            }
                            None => fault(
                                FaultKind::InternalError,
                                format!("scenario script named an unknown fault `{name}`"),
                            ),
                        };
                        let o = self.fault_outcome(f, relates, scenario);
                        RuleOutcome::Done(with_delay(*delay, o))
                    }
                    Err(e) => {
                        let o = self.fault_outcome(
                            fault(
                                FaultKind::InternalError,
                                format!("scenario script failed: {e}"),
                            ),
                            relates,
                            scenario,
                        );
                        RuleOutcome::Done(o)
                    }
                }
            }
        }
    }

    /// The answer a transport rule mangles: a well-formed fault-free placeholder body
    /// sized like a real answer (the rule is about the transport, not the content).
    fn dispatch_default_for_transport(
        &mut self,
        env: &Envelope<'_>,
        scenario: &Scenario,
    ) -> Outcome {
        let relates = env.header.message_id.as_deref();
        let mut header = self.response_header(
            env,
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse",
        );
        header.relates_to = relates.map(|r| Cow::Owned(r.to_owned()));
        let e = respond(header, Body::Empty);
        let _ = scenario;
        reply(200, e.to_xml().into_bytes(), SOAP_CT)
    }

    fn expand(&mut self, template: &str, env: &Envelope<'_>, view: &RequestView<'_>) -> String {
        let mut out = String::with_capacity(template.len() + 64);
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                out.push_str(&rest[start..]);
                return out;
            };
            let key = after[..end].trim();
            let value: String = match key {
                "message_id" | "relates_to" => {
                    env.header.message_id.as_deref().unwrap_or("").to_owned()
                }
                "uuid" | "new_message_id" => new_uuid(),
                "to" => env.header.to.as_deref().unwrap_or("").to_owned(),
                "action" => view.action.to_owned(),
                "resource_uri" => view.resource_uri.to_owned(),
                "user" => view.user.unwrap_or("").to_owned(),
                "operation" => view.operation.to_owned(),
                _ => match key.strip_prefix("selector:") {
                    Some(name) => view
                        .selectors
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default(),
                    None => format!("{{{{{key}}}}}"),
                },
            };
            out.push_str(&xml_escape(&value));
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn response_header(&mut self, env: &Envelope<'_>, action: &str) -> Header<'static> {
        Header {
            to: Some(Cow::Borrowed(ns::ANONYMOUS)),
            action: Some(Cow::Owned(action.to_owned())),
            message_id: Some(Cow::Owned(new_uuid())),
            relates_to: env
                .header
                .message_id
                .as_deref()
                .map(|m| Cow::Owned(m.to_owned())),
            ..Header::default()
        }
    }

    /// Writes an answer and holds it to the client's MaxEnvelopeSize.
    fn fault_outcome(&mut self, f: Fail, relates: Option<&str>, scenario: &Scenario) -> Outcome {
        fault_answer(f, relates, scenario)
    }

    fn dispatch(
        &mut self,
        env: &Envelope<'_>,
        req: &Request,
        scenario: &Scenario,
        charset: Charset,
        now: u64,
    ) -> OpResult {
        if let Body::Identify = env.body {
            return Ok(self.identify(req.user.is_some(), scenario));
        }
        if is_shell(env) {
            return self.shell_op(env, req, scenario, now);
        }
        let action = env.header.action.as_deref().unwrap_or("");
        let uri = env.header.resource_uri.as_deref().unwrap_or("");
        match action {
            ns::action::GET => self.get(env, uri, scenario, now),
            ns::action::PUT => self.put(env, uri, scenario, now),
            ns::action::CREATE => self.create(env, uri, scenario, now),
            ns::action::DELETE => self.delete(env, uri, scenario, now),
            ns::action::ENUMERATE => {
                let owner = req.user.as_deref().unwrap_or("anonymous");
                self.enumerate(env, uri, owner, scenario, charset, now)
            }
            ns::action::PULL => self.pull(env, charset, now),
            ns::action::RELEASE => self.release(env),
            ns::action::ENUM_RENEW => self.renew(env, now),
            ns::action::ENUM_GET_STATUS => self.get_status(env, now),
            a if a.starts_with(uri) && !uri.is_empty() && a.len() > uri.len() + 1 => {
                self.invoke(env, uri, &a[uri.len() + 1..], scenario, now)
            }
            other => Err(fault_d(
                FaultKind::ActionNotSupported,
                "ActionMismatch",
                format!("the action `{other}` is not supported by this resource"),
            )),
        }
    }

    fn identify(&mut self, authenticated: bool, scenario: &Scenario) -> Envelope<'static> {
        let id = &scenario.identify;
        Envelope {
            header: Header::default(),
            body: Body::IdentifyResponse(IdentifyResponse {
                protocol_versions: vec![Cow::Owned(id.protocol_version.clone())],
                product_vendor: Some(Cow::Owned(id.product_vendor.clone())),
                product_version: Some(Cow::Owned(id.product_version.clone())),
                security_profiles: authenticated.then(|| {
                    id.security_profiles
                        .iter()
                        .map(|p| Cow::Owned(p.clone()))
                        .collect()
                }),
                other: Vec::new(),
            }),
            extra: Vec::new(),
            meta: Default::default(),
        }
    }

    fn get(&mut self, env: &Envelope<'_>, uri: &str, scenario: &Scenario, now: u64) -> OpResult {
        let target = resolve(uri, env, scenario)?;
        let inst = cim::get(&mut self.machine, &target.class, &target.selectors, now)
            .map_err(cim_fault)?;
        let body = if scenario.defect("ignore_fragment_transfer") {
            // The seeded defect: the FragmentTransfer header is not acted on.
            let mut whole = env.clone();
            whole.header.fragment_transfer = None;
            representation(&whole, &inst, &target)?
        } else {
            representation(env, &inst, &target)?
        };
        let header = self.response_header(env, ns::action::GET_RESPONSE);
        Ok(respond(header, body))
    }

    fn put(&mut self, env: &Envelope<'_>, uri: &str, scenario: &Scenario, now: u64) -> OpResult {
        let target = resolve(uri, env, scenario)?;
        let current = cim::get(&mut self.machine, &target.class, &target.selectors, now)
            .map_err(cim_fault)?;
        let changes: Vec<(String, String)> = match (&env.header.fragment_transfer, &env.body) {
            (Some(fragment), Body::Fragment(tree)) => {
                let prop = fragment_property(&fragment.expression, fragment.dialect.as_deref())?;
                let root = tree.root();
                let value = match root.children().find(|c| c.name().local == prop) {
                    Some(c) => c.text().to_owned(),
                    None => root.text().to_owned(),
                };
                vec![(prop, value)]
            }
            (Some(_), _) => {
                return Err(fault_d(
                    FaultKind::InvalidRepresentation,
                    "InvalidFragment",
                    "a fragment Put needs a wsman:XmlFragment body",
                ));
            }
            (None, Body::Instance(tree)) => {
                let root = tree.root();
                if root.name().local != target.class {
                    return Err(fault_d(
                        FaultKind::InvalidRepresentation,
                        "InvalidNamespace",
                        format!(
                            "the body is a {}, not a {}",
                            root.name().local,
                            target.class
                        ),
                    ));
                }
                // Only what differs from the current instance is a change; resending
                // read-only properties unchanged is how every client does a Put.
                cimxml::property_groups(root)
                    .into_iter()
                    .filter(|(name, sent)| {
                        current
                            .get(name)
                            .is_none_or(|cur| !cimxml::same_value(cur, sent))
                    })
                    .map(|(name, mut sent)| {
                        // A changed array is refused by the machine whatever its value.
                        let first = sent.drain(..).next().flatten().unwrap_or_default();
                        (name, first)
                    })
                    .collect()
            }
            _ => {
                return Err(fault_d(
                    FaultKind::InvalidRepresentation,
                    "MissingValues",
                    "a Put needs the resource in the body",
                ));
            }
        };
        let updated = cim::put(
            &mut self.machine,
            &target.class,
            &target.selectors,
            &changes,
            now,
        )
        .map_err(cim_fault)?;
        let body = representation(env, &updated, &target)?;
        let header = self.response_header(env, ns::action::PUT_RESPONSE);
        Ok(respond(header, body))
    }

    fn create(&mut self, env: &Envelope<'_>, uri: &str, scenario: &Scenario, now: u64) -> OpResult {
        let target = resolve(uri, env, scenario)?;
        let Body::Instance(tree) = &env.body else {
            return Err(fault_d(
                FaultKind::InvalidRepresentation,
                "MissingValues",
                "a Create needs the new resource in the body",
            ));
        };
        let props: Vec<(String, String)> = cimxml::properties_of(tree.root())
            .into_iter()
            .map(|(n, v)| (n, v.unwrap_or_default()))
            .collect();
        let _ = now;
        let reference = cim::create(&mut self.machine, &target.class, &props).map_err(cim_fault)?;
        let header = self.response_header(env, ns::action::CREATE_RESPONSE);
        Ok(respond(
            header,
            Body::ResourceCreated(cimxml::epr(&reference, &target.style)),
        ))
    }

    fn delete(
        &mut self,
        env: &Envelope<'_>,
        uri: &str,
        scenario: &Scenario,
        _now: u64,
    ) -> OpResult {
        let target = resolve(uri, env, scenario)?;
        cim::delete(&mut self.machine, &target.class, &target.selectors).map_err(cim_fault)?;
        let header = self.response_header(env, ns::action::DELETE_RESPONSE);
        Ok(respond(header, Body::Empty))
    }

    fn invoke(
        &mut self,
        env: &Envelope<'_>,
        uri: &str,
        method: &str,
        scenario: &Scenario,
        now: u64,
    ) -> OpResult {
        let target = resolve(uri, env, scenario)?;
        let params: Vec<(String, String)> = match &env.body {
            Body::MethodInput(m) if m.method == method => cimxml::properties_of(m.element.root())
                .into_iter()
                .map(|(n, v)| (n, v.unwrap_or_default()))
                .collect(),
            Body::MethodInput(m) => {
                return Err(fault_d(
                    FaultKind::ActionNotSupported,
                    "ActionMismatch",
                    format!(
                        "the body is {}_INPUT but the action names {method}",
                        m.method
                    ),
                ));
            }
            Body::Empty => Vec::new(),
            _ => {
                return Err(fault(
                    FaultKind::SchemaValidationError,
                    format!("Invoke of {method} needs a {method}_INPUT body"),
                ));
            }
        };
        let out = cim::invoke(
            &mut self.machine,
            &target.class,
            &target.selectors,
            method,
            &params,
            now,
        )
        .map_err(cim_fault)?;
        let class_uri = target.style.uri(&target.class);
        let mut b = wsman::TreeBuilder::with_capacity(out.len() + 1);
        b.start(wsman::Name::new(class_uri.clone(), format!("{method}_OUTPUT")).with_prefix("p"));
        for (name, value) in &out {
            let text = cimxml::value_text(value).unwrap_or_default();
            b.leaf(
                wsman::Name::new(class_uri.clone(), name.clone()).with_prefix("p"),
                text,
            );
        }
        let header = self.response_header(
            env,
            &format!("{}Response", env.header.action.as_deref().unwrap_or("")),
        );
        Ok(respond(
            header,
            Body::MethodOutput(Method {
                method: Cow::Owned(method.to_owned()),
                element: b.finish(),
            }),
        ))
    }

    fn enumerate(
        &mut self,
        env: &Envelope<'_>,
        uri: &str,
        owner: &str,
        scenario: &Scenario,
        charset: Charset,
        now: u64,
    ) -> OpResult {
        let Body::Enumerate(e) = &env.body else {
            return Err(fault(
                FaultKind::SchemaValidationError,
                "an Enumerate needs a wsen:Enumerate body",
            ));
        };
        let mode = match &e.mode {
            None => None,
            Some(EnumerationMode::Epr) => Some(EnumerationMode::Epr),
            Some(EnumerationMode::ObjectAndEpr) => Some(EnumerationMode::ObjectAndEpr),
            Some(EnumerationMode::Other(m)) => {
                return Err(fault_d(
                    FaultKind::UnsupportedFeature,
                    "EnumerationMode",
                    format!("enumeration mode `{m}` is not supported"),
                ));
            }
        };
        let lifetime_ms = match &e.expires {
            None => scenario.wsman.enumeration_expiry_s * 1000,
            Some(x) => match x.parse::<wsman::XsDuration>().ok().and_then(|d| d.to_std()) {
                Some(d) if !d.is_zero() => d.as_millis() as u64,
                _ => {
                    return Err(fault(
                        FaultKind::UnsupportedExpirationType,
                        format!(
                            "Expires `{x}` is not a positive duration (dateTime expiry is not supported)"
                        ),
                    ));
                }
            },
        };
        if self.enumerations.len() >= scenario.wsman.max_enumerations {
            return Err(fault(
                FaultKind::QuotaLimit,
                "too many open enumerations; Release some",
            ));
        }
        // One user cannot take the whole service's contexts and lock the others out.
        let mine = self
            .enumerations
            .values()
            .filter(|e| e.owner == owner)
            .count();
        if mine >= scenario.wsman.max_enumerations_per_user {
            return Err(fault(
                FaultKind::QuotaLimit,
                format!(
                    "`{owner}` has {mine} open enumerations, the most one user may have; \
                     Release some"
                ),
            ));
        }
        check_dialect(e.filter.as_ref(), scenario)?;
        let instances = self.collect(env, uri, e.filter.as_ref(), scenario, now)?;
        let (instances, style) = instances;
        let items: VecDeque<Item<'static>> = instances
            .iter()
            .map(|i| match &mode {
                None => Item::Object(cimxml::instance_tree(i, &style)),
                Some(EnumerationMode::Epr) => Item::Epr(cimxml::epr(&i.reference(), &style)),
                Some(_) => Item::ObjectAndEpr(
                    cimxml::instance_tree(i, &style),
                    cimxml::epr(&i.reference(), &style),
                ),
            })
            .collect();
        let total = items.len() as u64;
        let context = new_uuid();
        let mut enumeration = Enumeration {
            owner: owner.to_owned(),
            items,
            total,
            expires_at: now + lifetime_ms,
            lifetime_ms,
        };
        let mut header = self.response_header(env, ns::action::ENUMERATE_RESPONSE);
        if env.header.request_total_items_count_estimate {
            header.total_items_count_estimate = Some(total);
        }
        let mut response = EnumerateResponse {
            context: Some(Cow::Owned(context.clone())),
            ..Default::default()
        };
        if e.optimize {
            let max = e.max_elements.unwrap_or(1).max(1) as usize;
            let budget = env.header.max_envelope_size;
            let probe = Envelope {
                header: header.clone(),
                body: Body::Empty,
                extra: Vec::new(),
                meta: Default::default(),
            };
            let items = take_fitting(
                &mut enumeration.items,
                max,
                budget,
                probe.to_xml().len() + 600,
                charset,
            )?;
            response.items = Some(items);
            if enumeration.items.is_empty() {
                response.end_of_sequence = true;
            }
        }
        // An enumeration that ended in its first answer is over: clients do not
        // Release it (WinRM does not keep it either), and keeping it would let such
        // clients exhaust the context quota.
        if !response.end_of_sequence {
            self.enumerations.insert(context, enumeration);
        }
        Ok(respond(header, Body::EnumerateResponse(response)))
    }

    /// The instances an Enumerate covers, after the filter.
    #[allow(clippy::type_complexity)]
    fn collect(
        &mut self,
        env: &Envelope<'_>,
        uri: &str,
        filter: Option<&wsman::body::Filter<'_>>,
        scenario: &Scenario,
        now: u64,
    ) -> Result<(Vec<Instance>, UriStyle), Fail> {
        if let Some(base) = uri.strip_suffix('*').filter(|b| b.ends_with('/')) {
            // All classes: DMTF's `wscim/1/*` (DSP0227), and the same under the CIM
            // schema, WMI (`.../wmi/root/hardware/*`, as WinRM clients write it) and
            // vendor prefixes. Answers name classes the way the request did.
            let wmi_all = format!(
                "{}{}/",
                ns::WMI,
                scenario
                    .wsman
                    .wmi_namespace
                    .trim_matches('/')
                    .replace('\\', "/")
            );
            let no_classes = scenario.wsman.classes.as_ref().is_some_and(Vec::is_empty);
            let style = if no_classes {
                // A service that serves no CIM class has no all-classes resource.
                return Err(fault_d(
                    FaultKind::DestinationUnreachable,
                    "InvalidResourceURI",
                    format!("no resource at `{uri}`"),
                ));
            } else if base == "http://schemas.dmtf.org/wbem/wscim/1/"
                || base == ns::CIM_SCHEMA
                || scenario.wsman.vendor_schemas.values().any(|v| v == base)
            {
                dmtf_style(scenario)
            } else if base.eq_ignore_ascii_case(&wmi_all) {
                wmi_style(scenario)
            } else {
                return Err(fault_d(
                    FaultKind::DestinationUnreachable,
                    "InvalidResourceURI",
                    format!("no resource at `{uri}`"),
                ));
            };
            let Some(f) = filter else {
                return Err(fault_d(
                    FaultKind::UnsupportedFeature,
                    "FilteringRequired",
                    "enumerating all classes needs an association filter",
                ));
            };
            return self
                .associated(f, scenario, now)
                .map(|v| (visible(v, scenario), style));
        }
        let target = resolve(uri, env, scenario)?;
        if let Some(f) = filter {
            if f.dialect() == ns::dialect::ASSOCIATION {
                // Under a class URI (rather than `wscim/1/*`), only instances of that
                // class or its subclasses are answered (DSP0227 §8.2).
                let found = self.associated(f, scenario, now)?;
                let kept = found
                    .into_iter()
                    .filter(|i| cim::is_subclass(&i.class, &target.class))
                    .collect();
                return Ok((visible(kept, scenario), target.style));
            }
        }
        let is_subclass = |a: &str, b: &str| cim::is_subclass(a, b);
        let compiled =
            filter::compile_with(filter, &target.class, &is_subclass).map_err(filter_fault)?;
        let instances =
            cim::enumerate(&mut self.machine, &target.class, now, true).map_err(cim_fault)?;
        let case = match scenario.wsman.flavour {
            Flavour::Windows => filter::selector::Case::Insensitive,
            Flavour::Dmtf => filter::selector::Case::Sensitive,
        };
        let env = filter::Env::new(&is_subclass).with_selector_case(case);
        let out = compiled.apply(&instances, &env).map_err(filter_fault)?;
        // A polymorphic enumeration does not show subclasses the service does not serve.
        Ok((visible(out, scenario), target.style))
    }

    fn associated(
        &mut self,
        f: &wsman::body::Filter<'_>,
        scenario: &Scenario,
        now: u64,
    ) -> Result<Vec<Instance>, Fail> {
        let wsman::body::FilterContent::Association(a) = &f.content else {
            return Err(fault(
                FaultKind::EnumerationCannotProcessFilter,
                "the association filter has no AssociatedInstances or AssociationInstances",
            ));
        };
        let object_uri = a.object.resource_uri.as_deref().unwrap_or("");
        let object_class = class_of(object_uri, scenario).ok_or_else(|| {
            fault(
                FaultKind::EnumerationCannotProcessFilter,
                format!(
                    "the association object's resource URI `{object_uri}` is not a known class"
                ),
            )
        })?;
        let keys: Vec<(String, String)> = a
            .object
            .selectors
            .iter()
            .filter(|s| s.name != "__cimnamespace")
            .filter_map(|s| s.as_text().map(|v| (s.name.to_string(), v.to_owned())))
            .collect();
        let object = Reference {
            class: object_class,
            keys,
        };
        // In AssociationInstances (DSP0227's References), openwsman and Intel AMT
        // clients name the association class in ResultClassName. When no
        // AssociationClassName is given and ResultClassName is an association class,
        // read it that way; otherwise ResultClassName filters the far end.
        let names_association = |c: &str| cim::class(c).is_some_and(|info| info.is_association);
        let (assoc_class, result_class) = match (&a.association_class_name, &a.result_class_name) {
            (None, Some(r)) if a.association_instances && names_association(r) => {
                (Some(r.as_ref()), None)
            }
            (ac, rc) => (ac.as_deref(), rc.as_deref()),
        };
        let result_role = a.result_role.as_deref();
        let (assocs, ends) = cim::associations(
            &mut self.machine,
            &object,
            assoc_class,
            a.role.as_deref(),
            result_class,
            result_role,
            now,
        )
        .map_err(cim_fault)?;
        Ok(if a.association_instances {
            assocs
        } else {
            ends
        })
    }

    fn context_of<'e>(&self, env: &'e Envelope<'_>) -> Result<&'e str, Fail> {
        let ctx = match &env.body {
            Body::Pull(p) => Some(p.context.as_ref()),
            Body::Release(c) | Body::EnumerationRenew(c) | Body::EnumerationGetStatus(c) => {
                c.context.as_deref()
            }
            _ => None,
        };
        ctx.map(str::trim).filter(|c| !c.is_empty()).ok_or_else(|| {
            fault(
                FaultKind::SchemaValidationError,
                "the request has no wsen:EnumerationContext",
            )
        })
    }

    fn pull(&mut self, env: &Envelope<'_>, charset: Charset, now: u64) -> OpResult {
        let Body::Pull(p) = &env.body else {
            return Err(fault(
                FaultKind::SchemaValidationError,
                "a Pull needs a wsen:Pull body",
            ));
        };
        let ctx = self.context_of(env)?.to_owned();
        let mut header = self.response_header(env, ns::action::PULL_RESPONSE);
        let Some(mut enumeration) = self.enumerations.remove(&ctx) else {
            return Err(fault(
                FaultKind::InvalidEnumerationContext,
                format!("the enumeration context `{ctx}` is unknown or has expired"),
            ));
        };
        let max = p.max_elements.unwrap_or(1).max(1) as usize;
        let mut budget = env.header.max_envelope_size;
        if let Some(chars) = p.max_characters {
            budget = Some(budget.map_or(chars, |b| b.min(chars)));
        }
        if env.header.request_total_items_count_estimate {
            // DSP0226 §8.2.2: a Pull may ask for the estimate too.
            header.total_items_count_estimate = Some(enumeration.total);
        }
        let probe = Envelope {
            header: header.clone(),
            body: Body::Empty,
            extra: Vec::new(),
            meta: Default::default(),
        };
        let items = match take_fitting(
            &mut enumeration.items,
            max,
            budget,
            probe.to_xml().len() + 400,
            charset,
        ) {
            Ok(items) => items,
            Err(f) => {
                // The context survives an item too large to send, as the client may
                // retry with a larger MaxEnvelopeSize.
                enumeration.expires_at = now + enumeration.lifetime_ms;
                self.enumerations.insert(ctx, enumeration);
                return Err(f);
            }
        };
        let end = enumeration.items.is_empty();
        let response = PullResponse {
            context: (!end).then(|| Cow::Owned(ctx.clone())),
            items,
            end_of_sequence: end,
        };
        if !end {
            enumeration.expires_at = now + enumeration.lifetime_ms;
            self.enumerations.insert(ctx, enumeration);
        }
        Ok(respond(header, Body::PullResponse(response)))
    }

    fn release(&mut self, env: &Envelope<'_>) -> OpResult {
        let ctx = self.context_of(env)?.to_owned();
        if self.enumerations.remove(&ctx).is_none() {
            return Err(fault(
                FaultKind::InvalidEnumerationContext,
                format!("the enumeration context `{ctx}` is unknown or has expired"),
            ));
        }
        let header = self.response_header(env, ns::action::RELEASE_RESPONSE);
        Ok(respond(header, Body::Empty))
    }

    fn renew(&mut self, env: &Envelope<'_>, now: u64) -> OpResult {
        let ctx = self.context_of(env)?.to_owned();
        let requested = match &env.body {
            Body::EnumerationRenew(c) => c.expires.as_deref().map(|x| {
                x.parse::<wsman::XsDuration>()
                    .ok()
                    .and_then(|d| d.to_std())
                    .map(|d| d.as_millis() as u64)
            }),
            _ => None,
        };
        let lifetime = match requested {
            Some(Some(ms)) if ms > 0 => Some(ms),
            Some(_) => {
                return Err(fault(
                    FaultKind::UnsupportedExpirationType,
                    "Expires must be a positive duration",
                ));
            }
            None => None,
        };
        let Some(e) = self.enumerations.get_mut(&ctx) else {
            return Err(fault(
                FaultKind::InvalidEnumerationContext,
                format!("the enumeration context `{ctx}` is unknown or has expired"),
            ));
        };
        if let Some(ms) = lifetime {
            e.lifetime_ms = ms;
        }
        e.expires_at = now + e.lifetime_ms;
        let expires = wsman::XsDuration::from_std(Duration::from_millis(e.lifetime_ms)).to_string();
        let header = self.response_header(env, ns::action::ENUM_RENEW_RESPONSE);
        Ok(respond(
            header,
            Body::EnumerationRenewResponse(EnumerationContextBody {
                context: Some(Cow::Owned(ctx)),
                expires: Some(Cow::Owned(expires)),
            }),
        ))
    }

    fn get_status(&mut self, env: &Envelope<'_>, now: u64) -> OpResult {
        let ctx = self.context_of(env)?.to_owned();
        let Some(e) = self.enumerations.get(&ctx) else {
            return Err(fault(
                FaultKind::InvalidEnumerationContext,
                format!("the enumeration context `{ctx}` is unknown or has expired"),
            ));
        };
        let left =
            wsman::XsDuration::from_std(Duration::from_millis(e.expires_at.saturating_sub(now)))
                .to_string();
        let header = self.response_header(env, ns::action::ENUM_GET_STATUS_RESPONSE);
        Ok(respond(
            header,
            Body::EnumerationGetStatusResponse(EnumerationContextBody {
                context: None,
                expires: Some(Cow::Owned(left)),
            }),
        ))
    }
}

/// Writes an answer and holds it to the client's MaxEnvelopeSize.
fn finish_answer(
    answer: Envelope<'static>,
    req: &Envelope<'_>,
    charset: Charset,
    relates: Option<&str>,
    scenario: &Scenario,
) -> Outcome {
    let mut answer = answer;
    if scenario.defect("reused_message_id") {
        answer.header.message_id = Some(Cow::Borrowed("uuid:00000000-0000-4000-8000-00000000beef"));
    }
    let mut xml = answer.to_xml();
    if scenario.defect("wrapped_get_body")
        && req.header.action.as_deref() == Some(ns::action::GET)
        && req.header.fragment_transfer.is_none()
        && !matches!(answer.body, Body::Fault(_))
    {
        xml = wrap_body(&xml);
    }
    if let Some(max) = req.header.max_envelope_size {
        // MaxEnvelopeSize counts octets on the wire, in the answer's encoding.
        let size = match charset {
            Charset::Utf8 => xml.len() as u64,
            _ => 2 + 2 * xml.encode_utf16().count() as u64,
        };
        if size > max {
            return fault_answer(
                fault_d(
                    FaultKind::EncodingLimit,
                    "MaxEnvelopeSize",
                    format!("the answer is {size} bytes, more than the MaxEnvelopeSize of {max}"),
                ),
                relates,
                scenario,
            );
        }
    }
    reply(200, xml.into_bytes(), SOAP_CT)
}

/// The seeded `wrapped_get_body` defect: the Body's content inside a
/// `wxf:GetResponse` element, as some services wrongly answer a Get.
fn wrap_body(xml: &str) -> String {
    let Some(start) = xml.find(":Body>").map(|i| i + ":Body>".len()) else {
        return xml.to_owned();
    };
    let Some(end) = xml.rfind("</").filter(|e| *e >= start).and_then(|_| {
        let close = xml.rfind(":Body>")?;
        xml[..close].rfind("</")
    }) else {
        return xml.to_owned();
    };
    format!(
        "{}<wxf:GetResponse xmlns:wxf=\"{}\">{}</wxf:GetResponse>{}",
        &xml[..start],
        ns::WXF,
        &xml[start..end],
        &xml[end..]
    )
}

/// The one place a fault becomes a wire answer, in the scenario's flavour.
fn fault_answer(f: Fail, relates: Option<&str>, scenario: &Scenario) -> Outcome {
    let id = new_uuid();
    let mut env = f.spec.to_envelope(relates, &id);
    env.header.not_understood = f.not_understood.map(|n| *n);
    if f.spec.kind == FaultKind::VersionMismatch {
        // SOAP 1.2 §5.4.7: say which envelope version is understood. The writer
        // binds `s` to the SOAP 1.2 namespace on the Envelope, so the qname resolves.
        let mut b = wsman::TreeBuilder::with_capacity(2);
        b.start(wsman::Name::new(ns::SOAP, "Upgrade").with_prefix("s"));
        b.start(wsman::Name::new(ns::SOAP, "SupportedEnvelope").with_prefix("s"));
        b.attr(wsman::Name::new("", "qname"), "s:Envelope");
        b.end();
        b.end();
        env.header.other.push(wsman::envelope::OtherHeader {
            must_understand: false,
            element: b.finish(),
        });
    }
    let windows = scenario.wsman.flavour == Flavour::Windows;
    if windows || f.wsman_code.is_some() {
        if let Body::Fault(body) = &mut env.body {
            body.detail.wsman_fault = Some(wsman::fault::WsmanFault {
                code: Cow::Owned(
                    f.wsman_code
                        .unwrap_or_else(|| windows_code(f.spec.kind))
                        .to_string(),
                ),
                machine: Some(Cow::Owned(
                    scenario
                        .wsman
                        .fault_machine
                        .clone()
                        .unwrap_or_else(|| scenario.machine.identity.hostname.clone()),
                )),
                message: Cow::Owned(f.spec.reason.clone()),
            });
        }
    }
    let status = if windows {
        f.status.unwrap_or(500)
    } else {
        f.status.unwrap_or(f.spec.kind.http_status())
    };
    reply(status, env.to_xml().into_bytes(), SOAP_CT)
}

/// An answer in the request's encoding (DSP0226 R13.1-5): the mock's own SOAP answers
/// (content type [`SOAP_CT`]) are re-encoded as UTF-16 with a byte order mark when the
/// request was UTF-16. Answers a rule gives with a content type of its own, and
/// transport failures, are sent as the scenario wrote them.
fn in_charset(outcome: Outcome, charset: Charset) -> Outcome {
    let little_endian = match charset {
        Charset::Utf8 => return outcome,
        Charset::Utf16Le => true,
        _ => false,
    };
    match outcome {
        Outcome::Reply(mut r) => {
            let ours = r
                .headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("content-type") && v == SOAP_CT);
            if ours && !r.body.is_empty() {
                if let Ok(text) = std::str::from_utf8(&r.body) {
                    r.body = wsman::decode::encode_utf16(text, little_endian);
                    for (n, v) in &mut r.headers {
                        if n.eq_ignore_ascii_case("content-type") {
                            *v = SOAP_CT_UTF16.into();
                        }
                    }
                }
            }
            Outcome::Reply(r)
        }
        Outcome::Delayed(d, inner) => Outcome::Delayed(d, Box::new(in_charset(*inner, charset))),
        other => other,
    }
}

/// Where the locked part of handling left a request.
enum Phase {
    /// A rule answered.
    Done(Outcome),
    /// The operation ran (after an optional rule delay).
    Dispatched(Box<Result<Envelope<'static>, Fail>>, Option<Duration>),
    /// A shell Receive has no output yet: more is due at this machine time (or when
    /// the receiver sees a change).
    Wait(Option<u64>, tokio::sync::watch::Receiver<u64>),
}

/// Whether the request is for the WinRM cmd shell resource.
fn is_shell(env: &Envelope<'_>) -> bool {
    env.header
        .resource_uri
        .as_deref()
        .is_some_and(|u| u.trim().eq_ignore_ascii_case(ns::SHELL_CMD))
}

enum RuleOutcome {
    Done(Outcome),
    DelayThenDefault(Duration),
    Default,
}

/// A delay bounded by the request's OperationTimeout: a server that cannot answer in
/// time answers `wsman:TimedOut` when the timeout runs out instead.
fn timed(
    d: Duration,
    env: &Envelope<'_>,
    outcome: Outcome,
    relates: Option<&str>,
    scenario: &Scenario,
) -> Outcome {
    match env.header.operation_timeout.and_then(|t| t.to_std()) {
        Some(limit) if d > limit => {
            let f = fault_answer(
                fault(
                    FaultKind::TimedOut,
                    "the operation did not finish within the OperationTimeout",
                ),
                relates,
                scenario,
            );
            Outcome::Delayed(limit, Box::new(f))
        }
        _ => Outcome::Delayed(d, Box::new(outcome)),
    }
}

/// Takes up to `max` items whose written size keeps the answer within `budget`.
fn take_fitting(
    items: &mut VecDeque<Item<'static>>,
    max: usize,
    budget: Option<u64>,
    overhead: usize,
    charset: Charset,
) -> Result<Vec<Item<'static>>, Fail> {
    // Sizes are measured in UTF-8; a UTF-16 answer takes at most twice as many octets
    // (every character of one to three UTF-8 octets is one 2-octet unit, and a 4-octet
    // one is two units), plus its BOM.
    let wire = |utf8: u64| match charset {
        Charset::Utf8 => utf8,
        _ => 2 * utf8,
    };
    let mut out = Vec::new();
    let mut used = wire(overhead as u64) + u64::from(charset != Charset::Utf8) * 2;
    while out.len() < max {
        let Some(item) = items.front() else { break };
        if let Some(b) = budget {
            let size = wire(item_size(item) as u64);
            if used + size > b {
                if out.is_empty() {
                    return Err(fault_d(
                        FaultKind::EncodingLimit,
                        "MaxEnvelopeSize",
                        format!(
                            "the next item alone ({size} bytes) does not fit in MaxEnvelopeSize {b}"
                        ),
                    ));
                }
                break;
            }
            used += size;
        }
        if let Some(item) = items.pop_front() {
            out.push(item);
        }
    }
    Ok(out)
}

fn item_size(item: &Item<'_>) -> usize {
    match item {
        Item::Object(t) => wsman::write::write_tree(t).len(),
        Item::Epr(_) => 700,
        Item::ObjectAndEpr(t, _) => wsman::write::write_tree(t).len() + 750,
    }
}

/// A response envelope with the usual empty extras.
fn respond(header: Header<'static>, body: Body<'static>) -> Envelope<'static> {
    Envelope {
        header,
        body,
        extra: Vec::new(),
        meta: Default::default(),
    }
}

/// The instance as a Get or Put answers it: whole, or the fragment the request named.
fn representation(
    env: &Envelope<'_>,
    inst: &Instance,
    target: &Target,
) -> Result<Body<'static>, Fail> {
    Ok(match &env.header.fragment_transfer {
        Some(fragment) => Body::Fragment(fragment_tree(
            inst,
            &fragment.expression,
            fragment.dialect.as_deref(),
            &target.style,
        )?),
        None => Body::Instance(cimxml::instance_tree(inst, &target.style)),
    })
}

/// What a resource URI and its selectors address.
struct Target {
    class: String,
    selectors: Vec<(String, String)>,
    style: UriStyle,
}

/// How answers name classes for a request that used a DMTF, vendor or resource URI.
fn dmtf_style(scenario: &Scenario) -> UriStyle {
    UriStyle {
        vendor_schemas: scenario
            .wsman
            .vendor_schemas
            .iter()
            .map(|(c, u)| (c.clone(), u.clone()))
            .collect(),
        resources: resource_uris(scenario),
        ..UriStyle::dmtf()
    }
}

/// How answers name classes for a request that used a WMI URI.
fn wmi_style(scenario: &Scenario) -> UriStyle {
    UriStyle {
        resources: resource_uris(scenario),
        ..UriStyle::wmi(scenario.wsman.wmi_namespace.clone())
    }
}

/// `[wsman.resources]` as (class, URI).
fn resource_uris(scenario: &Scenario) -> Vec<(String, String)> {
    scenario
        .wsman
        .resources
        .iter()
        .map(|(u, c)| (c.clone(), u.clone()))
        .collect()
}

/// The instances the service shows: those of classes it serves (`[wsman] classes`
/// and the classes of `[wsman.resources]`).
fn visible(instances: Vec<Instance>, scenario: &Scenario) -> Vec<Instance> {
    let w = &scenario.wsman;
    if w.classes.is_none() {
        return instances;
    }
    instances
        .into_iter()
        .filter(|i| w.offers_class(&i.class) || w.is_resource_class(&i.class))
        .collect()
}

/// The class a resource URI addresses: a `[wsman.resources]` entry's, or a CIM class
/// under the DMTF, a vendor or the WMI URI that the service serves.
fn class_of(uri: &str, scenario: &Scenario) -> Option<String> {
    if let Some(class) = scenario.wsman.resource_class(uri) {
        return Some(class.to_owned());
    }
    let class = cim_class_of(uri, scenario)?;
    // A resource's class is served at the resource's URI only.
    (scenario.wsman.offers_class(&class) && !scenario.wsman.is_resource_class(&class))
        .then_some(class)
}

fn cim_class_of(uri: &str, scenario: &Scenario) -> Option<String> {
    let plain = |class: &str| !class.is_empty() && !class.contains('/');
    for (class_prefix, uri_prefix) in &scenario.wsman.vendor_schemas {
        if let Some(class) = uri.strip_prefix(uri_prefix.as_str()) {
            // A vendor schema serves its own classes only.
            return (plain(class) && cimxml::starts_with_ignore_case(class, class_prefix))
                .then(|| class.to_owned());
        }
    }
    if let Some(class) = uri.strip_prefix(ns::CIM_SCHEMA) {
        // A class a vendor schema claims is not served under the DMTF URI.
        let vendor = scenario
            .wsman
            .vendor_schemas
            .keys()
            .any(|p| cimxml::starts_with_ignore_case(class, p));
        return (plain(class) && !vendor).then(|| class.to_owned());
    }
    if let Some(rest) = uri.strip_prefix(ns::WMI) {
        let (namespace, class) = rest.rsplit_once('/')?;
        let wanted = scenario
            .wsman
            .wmi_namespace
            .trim_matches('/')
            .replace('\\', "/");
        return (namespace.eq_ignore_ascii_case(&wanted) && !class.is_empty())
            .then(|| class.to_owned());
    }
    None
}

fn resolve(uri: &str, env: &Envelope<'_>, scenario: &Scenario) -> Result<Target, Fail> {
    if uri.is_empty() {
        return Err(fault_d(
            FaultKind::DestinationUnreachable,
            "InvalidResourceURI",
            "no wsman:ResourceURI",
        ));
    }
    let class = class_of(uri, scenario).ok_or_else(|| {
        fault_d(
            FaultKind::DestinationUnreachable,
            "InvalidResourceURI",
            format!("no resource at `{uri}`"),
        )
    })?;
    let style = if uri.starts_with(ns::WMI) {
        wmi_style(scenario)
    } else {
        dmtf_style(scenario)
    };
    if let Some(d) = wsman::addressing::duplicate_selector(&env.header.selectors) {
        return Err(fault_d(
            FaultKind::InvalidSelectors,
            "DuplicateSelectors",
            format!("selector `{d}` appears twice"),
        ));
    }
    let mut selectors = Vec::new();
    for s in &env.header.selectors {
        let Some(v) = s.as_text() else {
            return Err(fault_d(
                FaultKind::InvalidSelectors,
                "TypeMismatch",
                format!(
                    "selector `{}` is an endpoint reference; this class takes text keys",
                    s.name
                ),
            ));
        };
        if s.name == "__cimnamespace" {
            let wanted = v.trim().replace('\\', "/").to_ascii_lowercase();
            if !scenario
                .wsman
                .cim_namespaces
                .iter()
                .any(|n| n.to_ascii_lowercase() == wanted)
            {
                return Err(fault_d(
                    FaultKind::InvalidSelectors,
                    "InvalidValue",
                    format!("CIM namespace `{v}` does not exist here"),
                ));
            }
            continue;
        }
        selectors.push((s.name.to_string(), v.to_owned()));
    }
    Ok(Target {
        class,
        selectors,
        style,
    })
}

/// The property a fragment expression names: `Prop`, `Prop/text()`, `/Class/Prop`.
fn fragment_property(expression: &str, dialect: Option<&str>) -> Result<String, Fail> {
    if let Some(d) = dialect {
        if d != ns::dialect::XPATH && d != "http://www.w3.org/TR/1999/REC-xpath-19991116" {
            return Err(fault(
                FaultKind::FragmentDialectNotSupported,
                format!("fragment dialect `{d}` is not supported (XPath is)"),
            ));
        }
    }
    let e = expression.trim().trim_end_matches("/text()");
    let last = e.rsplit('/').next().unwrap_or(e);
    let last = last.rsplit(':').next().unwrap_or(last);
    if last.is_empty() || !last.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(fault_d(
            FaultKind::InvalidRepresentation,
            "InvalidFragment",
            format!("fragment `{expression}` is not a property path this service understands"),
        ));
    }
    Ok(last.to_owned())
}

fn fragment_tree(
    inst: &Instance,
    expression: &str,
    dialect: Option<&str>,
    style: &UriStyle,
) -> Result<Tree<'static>, Fail> {
    let prop = fragment_property(expression, dialect)?;
    let Some(value) = inst.get(&prop) else {
        return Err(fault_d(
            FaultKind::InvalidRepresentation,
            "InvalidFragment",
            format!("{} has no property `{prop}`", inst.class),
        ));
    };
    let text_only = expression.trim().ends_with("/text()");
    let mut b = wsman::TreeBuilder::with_capacity(4);
    b.start(wsman::Name::new(ns::WSMAN, "XmlFragment").with_prefix("w"));
    let single = Instance {
        class: inst.class.clone(),
        keys: Vec::new(),
        properties: vec![machine::cim::Property {
            name: prop.clone(),
            value: value.clone(),
        }],
    };
    if text_only {
        b.text(cimxml::value_text(value).unwrap_or_default());
    } else {
        let tree = cimxml::instance_tree(&single, style);
        for c in tree.root().children() {
            c.copy_into(&mut b);
        }
    }
    b.end();
    Ok(b.finish())
}

fn cim_fault(e: cim::CimError) -> Fail {
    use cim::CimError as E;
    let reason = e.to_string();
    match e {
        E::UnknownClass { .. } => fault_d(
            FaultKind::DestinationUnreachable,
            "InvalidResourceURI",
            reason,
        ),
        E::NotFound { .. } => fault_d(FaultKind::InvalidSelectors, "InvalidValue", reason),
        E::InsufficientSelectors { .. } => {
            fault_d(FaultKind::InvalidSelectors, "InsufficientSelectors", reason)
        }
        E::UnexpectedSelectors { .. } => {
            fault_d(FaultKind::InvalidSelectors, "UnexpectedSelectors", reason)
        }
        E::InvalidSelectorValue { .. } => {
            fault_d(FaultKind::InvalidSelectors, "InvalidValue", reason)
        }
        E::NotWritable { .. } => fault_d(FaultKind::InvalidRepresentation, "InvalidValues", reason),
        E::InvalidValue { .. } => {
            fault_d(FaultKind::InvalidRepresentation, "InvalidValues", reason)
        }
        E::UnknownMethod { .. } => fault_d(FaultKind::ActionNotSupported, "ActionMismatch", reason),
        E::InvalidParameter {
            reason: ref why, ..
        } => {
            // CimError gives the reason as text only: "is missing", "\"x\" is not a
            // uint16"; anything else names a parameter the method does not have.
            let detail = if why.starts_with("is missing") {
                "MissingValues"
            } else if why.contains(" is not a") {
                "TypeMismatch"
            } else {
                "InvalidName"
            };
            fault_d(FaultKind::InvalidParameter, detail, reason)
        }
        E::AlreadyExists { .. } => fault(FaultKind::AlreadyExists, reason),
        E::DuplicateSelectors { .. } => {
            fault_d(FaultKind::InvalidSelectors, "DuplicateSelectors", reason)
        }
        E::NotSupported { .. } => fault_d(FaultKind::ActionNotSupported, "ActionMismatch", reason),
        _ => fault(FaultKind::InternalError, reason),
    }
}

fn filter_fault(e: filter::FilterError) -> Fail {
    fault(e.fault_kind(), e.to_string())
}

/// The `[wsman] operations` name of the operation a request asks for, if it is one.
fn capability_of(env: &Envelope<'_>) -> Option<&'static str> {
    if is_shell(env) {
        return Some("shell");
    }
    Some(match operation_name(env) {
        "Identify" => "identify",
        "Get" => "get",
        "Put" => "put",
        "Create" => "create",
        "Delete" => "delete",
        "Enumerate" | "Pull" | "Release" | "Renew" | "GetStatus" => "enumerate",
        "Invoke" => "invoke",
        "Subscribe" | "Unsubscribe" => "subscribe",
        _ => match env.header.action.as_deref().unwrap_or("") {
            ns::action::RENEW | ns::action::GET_STATUS => "subscribe",
            _ => return None,
        },
    })
}

/// The WinRM shell options the mock complies with on the shell resource: the code page
/// and profile (read by the shell Create), stdin console mode and keep-alive (which
/// change nothing in the simulation), and not skipping cmd.exe (the simulated shell
/// always runs cmd.exe's built-ins, so only `WINRS_SKIP_CMD_SHELL=FALSE` is complied
/// with).
fn understood_option(env: &Envelope<'_>, option: &wsman::addressing::OptionItem<'_>) -> bool {
    if !is_shell(env) {
        return false;
    }
    match option.name.as_ref() {
        "WINRS_CODEPAGE"
        | "WINRS_NOPROFILE"
        | "WINRS_CONSOLEMODE_STDIN"
        | "WSMAN_CMDSHELL_OPTION_KEEPALIVE" => true,
        "WINRS_SKIP_CMD_SHELL" => !winrs::is_true(&option.value),
        _ => false,
    }
}

/// Checks a request against what the scenario's service offers: its locales, fragment
/// access, operations and options. Resources (`classes`, `resources`) and filter
/// dialects are checked where they are resolved.
fn offered(env: &Envelope<'_>, scenario: &Scenario) -> Result<(), Fail> {
    let w = &scenario.wsman;
    if let (Some(tag), Some((true, _)), false) = (
        env.header.locale.as_deref(),
        env.meta.header(HeaderName::Locale),
        scenario.defect("ignore_locale"),
    ) {
        if !w.supports_locale(tag) {
            return Err(fault_d(
                FaultKind::UnsupportedFeature,
                "Locale",
                format!(
                    "the locale `{tag}` is not supported (supported: {})",
                    w.locales.join(", ")
                ),
            ));
        }
    }
    if env.header.fragment_transfer.is_some()
        && !w.fragments
        && !scenario.defect("ignore_fragment_transfer")
    {
        // Only a FragmentTransfer marked mustUnderstand gets here: the service drops
        // one that is not before the request is handled.
        return Err(fault_d(
            FaultKind::UnsupportedFeature,
            "FragmentLevelAccess",
            "this service has no fragment-level access",
        ));
    }
    if let Some(op) = capability_of(env) {
        if !w.offers_operation(op) {
            let action = env.header.action.as_deref().unwrap_or("Identify");
            return Err(fault_d(
                FaultKind::ActionNotSupported,
                "ActionMismatch",
                format!("the action `{action}` is not supported by this service"),
            ));
        }
    }
    if let Some(o) = env
        .header
        .options
        .iter()
        .find(|o| o.must_comply && !understood_option(env, o))
        .filter(|_| !scenario.defect("ignore_must_comply"))
    {
        return Err(fault_d(
            FaultKind::InvalidOptions,
            "NotSupported",
            format!(
                "the option `{}` is marked MustComply but is not supported here",
                o.name
            ),
        ));
    }
    Ok(())
}

/// Checks an Enumerate filter's dialect against `[wsman] filter_dialects`.
fn check_dialect(
    filter: Option<&wsman::body::Filter<'_>>,
    scenario: &Scenario,
) -> Result<(), Fail> {
    let Some(f) = filter else { return Ok(()) };
    let w = &scenario.wsman;
    if w.filter_dialects.is_empty() {
        return Err(fault(
            FaultKind::FilteringNotSupported,
            "this service does not filter enumerations",
        ));
    }
    let dialect = f.dialect();
    if !w.offers_dialect(dialect) {
        return Err(fault(
            FaultKind::FilterDialectRequestedUnavailable,
            format!(
                "filter dialect {dialect} is not supported; supported dialects: {}",
                crate::scenario::FILTER_DIALECTS
                    .iter()
                    .filter(|(_, uri)| w.offers_dialect(uri))
                    .map(|(_, uri)| *uri)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(())
}

/// Checks what the scenario's strictness requires of a request.
fn check(env: &Envelope<'_>, scenario: &Scenario) -> Result<(), Fail> {
    for f in wsman::validate::check_request(
        env,
        &[
            (ns::MSWSMAN, "SessionId"),
            (ns::MSWSMAN, "OperationID"),
            (ns::MSWSMAN, "SequenceId"),
        ],
    ) {
        match f {
            Finding::Error(kind, _) => {
                let mut f = Fail::from(kind.fault());
                if let ErrorKind::MustUnderstand { name, namespace } = &kind {
                    // SOAP 1.2 §5.4.8: the fault names the header it did not understand.
                    let (prefix, local) = name.split_once(':').unwrap_or(("", name));
                    let mut q = wsman::Name::new(namespace.clone(), local.to_owned());
                    if !prefix.is_empty() {
                        q = q.with_prefix(prefix.to_owned());
                    }
                    f.not_understood = Some(Box::new(q));
                }
                return Err(f);
            }
            Finding::Warning(w, _) => {
                if scenario.lenient(w.name()) {
                    continue;
                }
                let kind = match w {
                    Warning::MissingMustUnderstand(h) => ErrorKind::InvalidHeader {
                        name: h.qname(),
                        reason: "must carry s:mustUnderstand=\"true\"".into(),
                    },
                    Warning::RelativeTo => ErrorKind::InvalidHeader {
                        name: HeaderName::To.qname(),
                        reason: "not an absolute URI".into(),
                    },
                    Warning::NonUuidMessageId => ErrorKind::InvalidHeader {
                        name: HeaderName::MessageId.qname(),
                        reason: "not a uuid: URI".into(),
                    },
                    _ => continue,
                };
                return Err(Fail::from(kind.fault()));
            }
        }
    }
    Ok(())
}

/// A new shell or command ID: a UUID without the `uuid:` prefix.
fn shell_uuid() -> String {
    new_uuid().trim_start_matches("uuid:").to_owned()
}

/// The fault for a shell request that names no CommandId where it needs one.
fn missing_command_id(what: &str) -> Fail {
    Fail::from(winrs::bad_request(
        FaultKind::InvalidParameter,
        Some("MissingValues"),
        what,
    ))
}

fn operation_name(env: &Envelope<'_>) -> &'static str {
    if matches!(env.body, Body::Identify) {
        return "Identify";
    }
    match env.header.action.as_deref().unwrap_or("") {
        ns::action::GET => "Get",
        ns::action::PUT => "Put",
        ns::action::CREATE => "Create",
        ns::action::DELETE => "Delete",
        ns::action::ENUMERATE => "Enumerate",
        ns::action::PULL => "Pull",
        ns::action::RELEASE => "Release",
        ns::action::ENUM_RENEW => "Renew",
        ns::action::ENUM_GET_STATUS => "GetStatus",
        ns::action::SUBSCRIBE => "Subscribe",
        ns::action::UNSUBSCRIBE => "Unsubscribe",
        ns::action::COMMAND => "Command",
        ns::action::SEND => "Send",
        ns::action::RECEIVE => "Receive",
        ns::action::SIGNAL => "Signal",
        action => {
            // A custom action is an Invoke when it names a method of the resource
            // (`<resource URI>/<Method>`), whatever the body.
            let uri = env.header.resource_uri.as_deref().unwrap_or("");
            let method_of_resource = !uri.is_empty()
                && action
                    .strip_prefix(uri)
                    .is_some_and(|m| m.len() > 1 && m.starts_with('/'));
            if matches!(env.body, Body::MethodInput(_)) || method_of_resource {
                "Invoke"
            } else {
                "Other"
            }
        }
    }
}

fn charset_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn default_reason(kind: FaultKind) -> String {
    format!("{} (answered by a scenario rule)", kind.qname())
}

/// The WSManFault code WinRM puts in its detail. Only the Receive timeout's code is
/// relied upon by clients (pywinrm retries on it); the rest use WinRM's generic base.
pub fn windows_code(kind: FaultKind) -> u32 {
    match kind {
        FaultKind::TimedOut => ns::shell::RECEIVE_TIMEOUT_CODE,
        FaultKind::AccessDenied => 5,
        _ => 0x8033_8000,
    }
}

impl Mock {
    /// The accounts and authentication policy in force.
    fn auth(&self) -> Arc<AuthSnapshot> {
        self.shared
            .auth
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl crate::http::Credentials for Mock {
    fn password(&self, user: &str) -> Option<String> {
        self.auth().passwords.get(user).cloned()
    }

    fn policy(&self) -> crate::http::AuthPolicy {
        self.auth().policy.clone()
    }
}

/// The admin API's view of the mock.
impl crate::admin::AdminOps for Mock {
    fn health(&self) -> serde_json::Value {
        let inner = self.lock();
        serde_json::json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "scenario": inner.scenario.meta.name,
            "source": inner.scenario.source,
            "uptime_ms": self.now_ms(),
            "open_enumerations": inner.enumerations.len(),
            "journal_entries": self.shared.journal.len(),
        })
    }

    fn state(&self) -> serde_json::Value {
        let now = self.now_ms();
        let mut inner = self.lock();
        let m = &mut inner.machine;
        let ids: Vec<String> = m
            .numeric_sensors()
            .iter()
            .map(|s| s.id().to_owned())
            .collect();
        let sensors: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| {
                let value = m.reading(id, now);
                let s = m.numeric_sensor(id);
                serde_json::json!({
                    "id": id,
                    "name": s.map(|s| s.name().to_owned()),
                    "value": value,
                    "override": s.and_then(|s| s.override_value()),
                })
            })
            .collect();
        let discrete: Vec<serde_json::Value> = m
            .discrete_sensors()
            .iter()
            .map(|d| serde_json::json!({ "id": d.id(), "name": d.name(), "state": d.state() }))
            .collect();
        let info = m.sel_info();
        let power = format!("{:?}", m.power_state(now));
        let bmc = &inner.ipmi.bmc;
        let ipmi_sessions: Vec<serde_json::Value> = bmc
            .sessions()
            .map(|s| {
                serde_json::json!({
                    "id": s.id,
                    "handle": s.handle,
                    "active": s.active,
                    "user": s.user,
                    "privilege": s.privilege.name(),
                    "cipher_suite": s.suite,
                    "ipmi15_auth": s.auth_type.map(|a| format!("{a:?}")),
                    "sol_active": s.sol_active,
                    "peer": s.peer.map(|p| p.to_string()),
                    "idle_ms": now.saturating_sub(s.last_activity_ms),
                })
            })
            .collect();
        let config = bmc.config();
        serde_json::json!({
            "power": power,
            "sensors": sensors,
            "discrete_sensors": discrete,
            "sel": { "entries": info.count, "capacity": info.capacity, "overflow": info.overflow },
            "rules_state": inner.rules.state,
            "ipmi": {
                "port": inner.ipmi_port,
                "cipher_suites": config.cipher_suites,
                "session_limit": config.session_limit,
                "sessions": ipmi_sessions,
            },
        })
    }

    fn set_sensor(
        &self,
        id: &str,
        value: Option<f64>,
    ) -> Result<serde_json::Value, crate::admin::AdminError> {
        let now = self.now_ms();
        let mut inner = self.lock();
        let m = &mut inner.machine;
        let Some(resolution) = m.numeric_sensor(id).map(|s| s.resolution()) else {
            return Err(crate::admin::AdminError::NotFound(format!(
                "no numeric sensor has the id \"{id}\" (GET /state lists them)"
            )));
        };
        match value {
            Some(v) => m.set_sensor(id, v, now).map_err(|e| e.to_string())?,
            None => m.clear_override(id, now).map_err(|e| e.to_string())?,
        }
        Ok(crate::admin::sensor_answer(
            id,
            value,
            m.reading(id, now),
            resolution,
        ))
    }

    fn power(&self, action: &str) -> Result<serde_json::Value, String> {
        use machine::PowerAction as P;
        let a = match action.to_ascii_lowercase().as_str() {
            "on" => P::On,
            "off" => P::Off,
            "cycle" => P::Cycle,
            "reset" | "hard_reset" => P::HardReset,
            "soft" | "soft_off" => P::SoftOff,
            "diag" | "nmi" | "diagnostic_interrupt" => P::DiagnosticInterrupt,
            other => {
                return Err(format!(
                    "unknown power action `{other}` (on, off, cycle, reset, soft, diag)"
                ));
            }
        };
        let now = self.now_ms();
        let mut inner = self.lock();
        inner
            .machine
            .chassis_control(a, now)
            .map_err(|e| e.to_string())?;
        Ok(serde_json::json!({ "power": format!("{:?}", inner.machine.power_state(now)) }))
    }

    fn add_sel(&self, entry: serde_json::Value) -> Result<serde_json::Value, String> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct NewEntry {
            sensor: Option<String>,
            sensor_type: Option<u8>,
            sensor_number: Option<u8>,
            #[serde(default = "assert_dir")]
            direction: machine::EventDirection,
            #[serde(default = "sensor_specific")]
            event_type: u8,
            #[serde(default)]
            data: Vec<u8>,
            #[serde(default)]
            description: String,
        }
        fn assert_dir() -> machine::EventDirection {
            machine::EventDirection::default()
        }
        fn sensor_specific() -> u8 {
            0x6F
        }
        let e: NewEntry = serde_json::from_value(entry).map_err(|e| format!("SEL entry: {e}"))?;
        let now = self.now_ms();
        let mut inner = self.lock();
        let m = &mut inner.machine;
        let (mut st, mut sn) = (e.sensor_type.unwrap_or(0x12), e.sensor_number.unwrap_or(0));
        if let Some(id) = &e.sensor {
            if let Some(s) = m.numeric_sensor(id) {
                st = e.sensor_type.unwrap_or(s.sensor_type().ipmi_code());
                sn = s.number();
            } else if let Some(d) = m.discrete_sensor(id) {
                st = e.sensor_type.unwrap_or(d.sensor_type().ipmi_code());
                sn = d.number();
            } else {
                return Err(format!("no sensor `{id}`"));
            }
        }
        let mut data = [0xFF; 3];
        for (i, b) in e.data.iter().take(3).enumerate() {
            data[i] = *b;
        }
        let entry = machine::SelEntry::system_event(
            st,
            sn,
            e.direction,
            e.event_type & 0x7F,
            data,
            e.description,
        );
        let id = m.sel_add(entry, now).map_err(|e| e.to_string())?;
        Ok(serde_json::json!({ "record_id": id }))
    }

    fn load_scenario(&self, toml_text: &str) -> Result<serde_json::Value, String> {
        let s = Scenario::from_toml(toml_text, "<admin upload>").map_err(|e| e.to_string())?;
        let name = s.meta.name.clone();
        self.load(s)?;
        Ok(serde_json::json!({ "loaded": name }))
    }
}
