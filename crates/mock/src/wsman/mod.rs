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
pub(crate) mod faults;
mod identify;
mod invoke;
mod resource;
mod rules;
pub(crate) mod shell;
mod transfer;
mod write;

use std::sync::Arc;
use std::time::{Duration, Instant};

use wsman::body::Body;
use wsman::decode::Charset;
use wsman::{Envelope, FaultKind, HeaderName, Limits, Tree, ns};

pub(crate) use enumeration::Enumeration;
pub use faults::windows_code;
use faults::{Fail, OpResult, fault, fault_answer, fault_d};
use shell::is_shell;
use write::{finish_answer, in_charset, new_uuid, reply, timed};

use crate::http::{Handled, HandlerFuture, Outcome, Reply, Request, WsmanHandler};
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
    let multi =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if len >= OFF_WORKER_BYTES && multi {
        tokio::task::block_in_place(work)
    } else {
        work()
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

impl Mock {
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
        if let Err(f) = check::check(&env, &scenario) {
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
                Fail::from(faults::timed_out()),
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
        if let Err(f) = check::offered(env, scenario) {
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
