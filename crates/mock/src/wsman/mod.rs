//! The WS-Man service: turns a request into the answer a conforming server (or the
//! flavour the scenario asks for) gives, from the simulated machine, after the
//! scenario's rules have had their say. One request reads top to bottom in
//! [`Mock::answer`]:
//!
//! 1. **decode** the body to text (its charset; UTF-16 only when the scenario reads it);
//! 2. **parse** the envelope, once (a parse error is answered with its catalogue fault,
//!    related to the MessageID when it was read);
//! 3. **check** it: credentials (only Identify may come without), then what the
//!    scenario's strictness requires of a request (`check.rs`);
//! 4. under the machine lock, the **rules** (`rules.rs`), then what the service offers
//!    (`check.rs`), then **dispatch** on the action to one operation family:
//!    `identify.rs`, `transfer.rs` (Get, Put, Create, Delete), `enumeration.rs`,
//!    `invoke.rs`, `shell.rs` (the WinRM cmd shell; a Receive with nothing to say yet
//!    waits here, without the lock);
//! 5. **write** the answer (`write.rs`), held to the client's MaxEnvelopeSize and in the
//!    request's encoding.
//!
//! Every error an operation meets becomes a fault in `faults.rs`, the one place a
//! fault is chosen and written. Authentication challenges are the HTTP layer's: a
//! request let in without credentials that is not an Identify gets a 401 AccessDenied
//! fault here, and the HTTP layer adds its `WWW-Authenticate` challenges to it.
//!
//! Adding an operation: a file with its `impl Inner` method, and one line in
//! [`Inner::dispatch`] (plus its name in `operation_name`).

mod check;
mod enumeration;
mod eventing;
#[cfg(test)]
mod eventing_props;
mod faults;
mod identify;
mod invoke;
mod psrp;
mod resource;
mod rules;
mod shell;
mod transfer;
pub(crate) mod write;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wsman::body::Body;
use wsman::decode::Charset;
use wsman::{Envelope, HeaderName, Limits, Tree, ns};

pub(crate) use enumeration::Enumeration;
pub use faults::windows_code;
use faults::{Fail, OpResult, fault_answer};
use shell::is_shell;
use write::{finish_answer, in_charset, new_uuid, reply, timed};

use crate::http::{Handled, HandlerFuture, Outcome, Request, WsmanHandler};
use crate::mock::{Inner, Mock};
use crate::rules::RequestView;
use crate::scenario::Scenario;
use rules::RuleOutcome;

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
    // The size first: asking for the runtime's handle takes a count on it, a line every
    // worker writes, and nearly every body is small.
    let multi =
        || Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if len >= OFF_WORKER_BYTES && multi() {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

/// Where the locked part of handling left a request.
#[allow(clippy::large_enum_variant)] // One per request, on the stack (see `Dispatched`).
enum Phase {
    /// A rule answered.
    Done(Outcome),
    /// The operation ran (after an optional rule delay).
    /// Not boxed: the phase is returned once, on the stack (which the cache holds),
    /// where a box put the answer's envelope into fresh heap memory on every request.
    Dispatched(Result<Envelope<'static>, Fail>, Option<Duration>),
    /// A shell Receive has no output yet: more is due at this machine time (or when
    /// the receiver sees a change).
    Wait(Option<u64>, tokio::sync::watch::Receiver<u64>),
    /// A Pull of a Pull-mode subscription (this id) has no event yet: wait for one
    /// until this machine time (`eventing.rs`).
    EventWait(String, u64),
}

impl Mock {
    /// Answers one request (the core of [`WsmanHandler::handle`]), top to bottom:
    /// decode, parse once, check, then the rules and the operation under the machine
    /// lock, then write. The HTTP layer has already refused other methods than POST
    /// and decided authentication.
    ///
    /// Decoding, parsing and checking happen before the machine lock is taken, and the
    /// answer is written after it is released, so concurrent requests only queue for
    /// the rules and the operation itself.
    pub async fn answer(&self, req: &Request) -> Handled {
        let arrived = Instant::now();
        let now = self.now_ms();
        let scenario = self.scenario();
        if req.body.is_empty() {
            // pywinrm and others authenticate with an empty POST first.
            return handled(reply(200, Vec::new(), SOAP_CT), None);
        }

        // 1. Decode.
        let limits = Limits {
            max_bytes: scenario.http.max_request_bytes.max(8192),
            ..Limits::default()
        };
        let (text, charset) = match decode(req, &limits, &scenario) {
            Ok(decoded) => decoded,
            Err(refused) => return handled(refused, None),
        };

        // Steps 2 to 5 run without a pause for nearly every request, so they are not
        // a state of this future (which every request allocates and moves): only a
        // shell Receive or a Pull that has to wait continues in a future of its own.
        // (The step is matched before anything is awaited: a value matched in the
        // statement that awaits would be kept in this future for the whole await.)
        let later = match self.answer_now(req, &text, charset, &limits, &scenario, now) {
            Step::Done(handled) => Ok(handled),
            Step::Wait(env, answering, phase) => Err(Box::pin(
                self.answer_later(req, env, answering, phase, arrived),
            )),
        };
        let mut handled = match later {
            Ok(handled) => handled,
            Err(later) => later.await,
        };
        // DSP0226 R13.1-5: the answer (a fault about the request too) is in the
        // request's encoding.
        if !scenario.defect("utf8_answers") {
            handled.outcome = in_charset(handled.outcome, charset);
        }
        handled
    }

    /// Steps 2 to 5 for a body decoded to `text` (read as `charset`), up to an answer,
    /// or up to a wait that must happen without the lock ([`Mock::answer_later`]). The
    /// answer is UTF-8 text still; [`Mock::answer`] encodes it.
    fn answer_now<'t>(
        &self,
        req: &Request,
        text: &'t str,
        charset: Charset,
        limits: &Limits,
        scenario: &'t Arc<Scenario>,
        now: u64,
    ) -> Step<'t> {
        // 2. Parse, once.
        let needs_body = scenario
            .rules
            .rules()
            .iter()
            .any(|r| r.matcher.body_path.is_some());
        let Parsed { mut env, body_tree } = match parse(text, limits, needs_body) {
            Ok(parsed) => parsed,
            Err(e) => {
                let outcome =
                    fault_answer(Fail::from(e.fault()), e.message_id.as_deref(), scenario);
                return Step::Done(handled(outcome, None));
            }
        };
        let relates = env.header.message_id.as_deref().map(str::to_owned);
        let operation = operation_name(&env);

        // 3. Check: credentials (only Identify may come without), then the envelope.
        // The policy the HTTP layer applied to this request (shared, not rebuilt).
        let open = self.auth_open();
        let checked = if req.user.is_none() && !open && !matches!(env.body, Body::Identify) {
            // `WSMANIDENTIFY: unauthenticated` lets any request past the HTTP layer,
            // which cannot see the body; the HTTP layer adds its challenges to the 401.
            Err(faults::identify_only())
        } else {
            check::check(&env, scenario)
        };
        if let Err(f) = checked {
            let outcome = fault_answer(f, relates.as_deref(), scenario);
            return Step::Done(handled(outcome, Some(operation)));
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

        // 4. Rules and dispatch, under the machine lock (a shell Receive with nothing
        // to say yet waits without it).
        let body_tree = body_tree.as_ref().or_else(|| typed_tree(&env.body));
        let mut rule = None;
        let (phase, to_start) = {
            let mut inner = self.lock();
            inner.expire(now);
            let phase = inner.decide_and_dispatch(
                req, &env, body_tree, charset, operation, scenario, &mut rule, now,
            );
            // Event subscribers hear of what the operation did to the machine when
            // the lock is released (`Locked`'s drop).
            (phase, std::mem::take(&mut inner.subscriptions_to_start))
        };
        if !to_start.is_empty() {
            self.start_subscriptions(to_start);
        }
        let answering = Answering {
            relates,
            operation,
            rule,
            charset,
            scenario,
        };
        match phase {
            // Only a wait moves the envelope (into the future that waits).
            Phase::Wait(..) | Phase::EventWait(..) => Step::Wait(env, answering, phase),
            _ => Step::Done(answering.write(&env, phase)),
        }
    }

    /// The wait [`Mock::answer_now`] stopped at, then the answer.
    async fn answer_later(
        &self,
        req: &Request,
        env: Envelope<'_>,
        answering: Answering<'_>,
        phase: Phase,
        arrived: Instant,
    ) -> Handled {
        let phase = match phase {
            Phase::Wait(until, rx) => {
                self.wait_for_output(&env, req.user.as_deref(), arrived, until, rx)
                    .await
            }
            Phase::EventWait(id, deadline) => self.wait_for_events(&env, &id, deadline).await,
            other => other,
        };
        answering.write(&env, phase)
    }
}

/// Where [`Mock::answer_now`] left a request.
#[allow(clippy::large_enum_variant)] // Returned once per request, on the stack.
enum Step<'t> {
    Done(Handled),
    /// A wait, then the answer ([`Mock::answer_later`]).
    Wait(Envelope<'t>, Answering<'t>, Phase),
}

/// What the answer to a request needs beside its envelope, between its operation and
/// its answer.
struct Answering<'t> {
    relates: Option<String>,
    operation: &'static str,
    rule: Option<String>,
    charset: Charset,
    scenario: &'t Scenario,
}

impl Answering<'_> {
    /// Step 5: the answer to `env` for the phase the request is in.
    fn write(self, env: &Envelope<'_>, phase: Phase) -> Handled {
        let (scenario, charset) = (self.scenario, self.charset);
        let relates = self.relates.as_deref();
        let outcome = match phase {
            Phase::Done(outcome) => outcome,
            Phase::Wait(..) | Phase::EventWait(..) => {
                fault_answer(Fail::from(faults::timed_out()), relates, scenario)
            }
            Phase::Dispatched(result, delay) => {
                let outcome = match result {
                    Ok(answer) => finish_answer(answer, env, charset, relates, scenario),
                    Err(f) => fault_answer(f, relates, scenario),
                };
                match delay {
                    Some(d) => timed(d, env, outcome, relates, scenario),
                    None => outcome,
                }
            }
        };
        Handled {
            outcome,
            rule: self.rule,
            operation: Some(self.operation.into()),
        }
    }
}

/// What the handler tells the HTTP layer when no rule was involved.
fn handled(outcome: Outcome, operation: Option<&'static str>) -> Handled {
    Handled {
        outcome,
        rule: None,
        operation: operation.map(Cow::Borrowed),
    }
}

/// Step 1: the body as text, and the encoding it was read in. A body that cannot be
/// decoded, or UTF-16 to a service that reads UTF-8 only, is refused with its fault.
fn decode<'r>(
    req: &'r Request,
    limits: &Limits,
    scenario: &Scenario,
) -> Result<(Cow<'r, str>, Charset), Outcome> {
    let content_type = req.header_named(&http::header::CONTENT_TYPE);
    let declared = content_type.as_deref().and_then(charset_of);
    let (text, charset) = match off_worker(req.body.len(), || {
        wsman::decode::decode_with_charset(&req.body, declared)
    }) {
        Ok(t) => t,
        // Not decodable: nothing says which encoding the client reads, so the fault
        // is UTF-8.
        Err(e) => return Err(fault_answer(Fail::from(e.fault()), None, scenario)),
    };
    if charset != Charset::Utf8 && !scenario.wsman.utf16 {
        // A service that reads UTF-8 only says so in the one encoding every client
        // reads, related to the MessageID when it can be read.
        let relates = off_worker(text.len(), || {
            wsman::parse_header(&text, limits)
                .ok()
                .and_then(|h| h.header.message_id.map(|m| m.into_owned()))
        });
        return Err(fault_answer(
            faults::utf8_only(),
            relates.as_deref(),
            scenario,
        ));
    }
    Ok((text, charset))
}

/// A request as read, once.
struct Parsed<'t> {
    env: Envelope<'t>,
    /// The first body element as a generic tree, for rules that match on the body,
    /// when its typed form does not carry one (see [`typed_tree`]).
    body_tree: Option<Tree<'t>>,
}

/// Step 2: the envelope, read once. When a rule matches on the body, the headers are
/// read once and the delimited body gives both the typed element and, unless that
/// already is a tree, the generic tree the rule looks at.
fn parse<'t>(text: &'t str, limits: &Limits, needs_body: bool) -> Result<Parsed<'t>, wsman::Error> {
    off_worker(text.len(), || {
        let whole = || {
            memo_parse(text, limits).map(|env| Parsed {
                env,
                body_tree: None,
            })
        };
        if !needs_body {
            return whole();
        }
        let split = || -> Result<Parsed<'t>, wsman::Error> {
            let head = wsman::parse_header(text, limits)?;
            let (body, extra) = head.parse_body(limits)?;
            let body_tree = match typed_tree(&body) {
                Some(_) => None,
                None => head.body_trees(limits)?.into_iter().next(),
            };
            Ok(Parsed {
                env: Envelope {
                    header: head.header,
                    body,
                    extra,
                    meta: head.meta,
                },
                body_tree,
            })
        };
        // A request that does not read this way gets the whole-envelope reader's
        // answer, exactly as when no rule looks at the body.
        split().or_else(|_| whole())
    })
}

thread_local! {
    /// Each worker thread's memo of the requests it read last: a client polling the
    /// same Get, Enumerate or Receive sends the same text but for its MessageID, and
    /// gets the envelope read the first times copied instead of read again (exactly
    /// what the reader would give; see `wsman::memo`). Per thread, so that no request
    /// waits for another's and no line is written by both workers.
    static PARSE_MEMO: std::cell::RefCell<wsman::ParseMemo> =
        std::cell::RefCell::new(wsman::ParseMemo::new());
}

/// [`wsman::parse`], through this thread's [`PARSE_MEMO`] when it can be had.
fn memo_parse<'t>(text: &'t str, limits: &Limits) -> Result<Envelope<'t>, wsman::Error> {
    PARSE_MEMO
        .try_with(|memo| match memo.try_borrow_mut() {
            Ok(mut memo) => Some(memo.parse(text, limits)),
            Err(_) => None,
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| wsman::parse(text, limits))
}

/// The body element as a generic tree, when its typed form is one (a resource, a
/// fragment, a method's input): what a rule's body matcher reads without a second
/// parse.
fn typed_tree<'b, 't>(body: &'b Body<'t>) -> Option<&'b Tree<'t>> {
    match body {
        Body::Instance(t) | Body::Fragment(t) => Some(t),
        Body::MethodInput(m) => Some(&m.element),
        _ => None,
    }
}

impl WsmanHandler for Mock {
    fn handle(&self, req: Request) -> HandlerFuture<'_> {
        Box::pin(async move { self.answer(&req).await })
    }
}

impl Inner {
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
        let selectors: Vec<(&str, &str)> = env
            .header
            .selectors
            .iter()
            .filter_map(|s| s.as_text().map(|v| (&*s.name, v)))
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
        let decided = scenario
            .rules
            .decide(&view, &mut self.rules)
            .map(|decision| {
                *rule = Some(decision.rule.clone());
                self.rule_outcome(&decision, &view, env, scenario, now)
            });
        // What the matching rules and their scripts raised (schedule.rs).
        for raise in self.rules.take_raised() {
            crate::schedule::raise(&mut self.machine, &raise, now);
        }
        match decided {
            Some(RuleOutcome::Done(outcome)) => return Phase::Done(outcome),
            Some(RuleOutcome::DelayThenDefault(d)) => delay = Some(d),
            Some(RuleOutcome::Default) | None => {}
        }

        // What the service offers at all (the scenario's capability knobs), after the
        // rules, which may script answers for anything.
        if let Err(f) = check::offered(env, scenario) {
            return Phase::Dispatched(Err(f), delay);
        }
        if is_shell(env) && env.header.action.as_deref() == Some(ns::action::RECEIVE) {
            return self.shell_receive_phase(env, req.user.as_deref(), now, delay);
        }
        if env.header.action.as_deref() == Some(ns::action::PULL) {
            if let Some(phase) = self.event_pull_phase(env, now) {
                return phase;
            }
        }
        Phase::Dispatched(self.dispatch(env, req, scenario, charset, now), delay)
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
            ns::action::GET => self.get(env, uri, scenario, now).or_else(|f| {
                // The shell resource (runspace pools) only where no CIM resource is.
                self.psrp_shell_get(env, uri, req.user.as_deref())
                    .unwrap_or(Err(f))
            }),
            ns::action::PUT => self.put(env, uri, scenario, now),
            ns::action::CREATE => self.create(env, uri, scenario, now),
            ns::action::DELETE => self.delete(env, uri, scenario, now),
            ns::action::ENUMERATE => {
                let owner = req.user.as_deref().unwrap_or("anonymous");
                self.enumerate(env, uri, owner, scenario, charset, now)
            }
            ns::action::SUBSCRIBE => self.subscribe(env, uri, scenario, now),
            ns::action::RENEW => self.subscription_renew(env, scenario, now),
            ns::action::GET_STATUS => self.subscription_status(env, now),
            ns::action::UNSUBSCRIBE => self.unsubscribe(env, now),
            ns::action::PULL => self.pull(env, charset, now),
            ns::action::RELEASE => match self.event_context(env) {
                Some(id) => self.release_subscription(env, &id),
                None => self.release(env),
            },
            ns::action::ENUM_RENEW => self.renew(env, now),
            ns::action::ENUM_GET_STATUS => self.get_status(env, now),
            a if a.starts_with(uri) && !uri.is_empty() && a.len() > uri.len() + 1 => {
                self.invoke(env, uri, &a[uri.len() + 1..], scenario, now)
            }
            other => Err(faults::action_mismatch(format!(
                "the action `{other}` is not supported by this resource"
            ))),
        }
    }
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
        ns::action::RENEW => "SubscriptionRenew",
        ns::action::GET_STATUS => "SubscriptionGetStatus",
        ns::action::COMMAND => "Command",
        ns::action::SEND => "Send",
        ns::action::RECEIVE => "Receive",
        ns::action::SIGNAL => "Signal",
        ns::action::DISCONNECT => "Disconnect",
        ns::action::RECONNECT => "Reconnect",
        ns::action::CONNECT => "Connect",
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

fn charset_of(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"'))
    })
}
