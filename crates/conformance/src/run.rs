//! The runner: discovery, then every case under its deadline, `jobs` at a time, with
//! results in suite order whatever order they finish in.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::{Client, ClientError, RawRequest};
use rand::SeedableRng as _;
use rand::rngs::StdRng;

use crate::case::{Case, CaseBody, Level, Omit, Op, Outcome, RequestSpec, Step};
use crate::code::{Ctx, Finding};
use crate::discover::{self, Capabilities};
use crate::eval::{self, Answer};
use crate::report::{CaseResult, Report};
use crate::template::{self, Scope};
use crate::waiver::{WaiverNote, Waivers};
use crate::watch::{CaseWatch, TargetWatch};

/// How a command that reruns one case alone is written.
pub type RerunFn = Arc<dyn Fn(&Case) -> String + Send + Sync>;

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// Cases run at once (at least 1).
    pub jobs: usize,
    /// Deadline of a case without its own `timeout_ms`.
    pub case_timeout: Duration,
    /// Seed of everything generated (MessageIDs, `{{uuid}}`).
    pub seed: u64,
    /// Expected deviations.
    pub waivers: Waivers,
    /// The rerun command of a case.
    pub rerun: RerunFn,
    /// The tool name for reports.
    pub tool: String,
    /// The IPMI target, if any (cases `ipmi.*` and `cross.*` need it).
    pub ipmi: Option<crate::ipmi::IpmiOptions>,
    /// Resources to try first in discovery (`--resource`).
    pub resources: Vec<discover::UserResource>,
    /// Stop starting cases after the first one that fails the run (an unwaived MUST
    /// failure or MUST rule finding); the cases not started are skips saying
    /// [`NOT_RUN_FAIL_FAST`]. Cases already running finish.
    pub fail_fast: bool,
    /// Where the event sink of the eventing cases listens (`--event-sink ADDR`); the
    /// default is `127.0.0.1:0`. Subscriptions name `http://ADDR/sink/...` as NotifyTo,
    /// so for a target on another host this must be an address it can reach.
    pub event_sink: Option<std::net::SocketAddr>,
    /// The PowerShell session configuration the `psrp` cases open pools on
    /// (`--psrp-configuration NAME`); `None` is Windows' default, `Microsoft.PowerShell`.
    pub psrp_configuration: Option<String>,
}

/// The message of a case `--fail-fast` kept from starting.
pub const NOT_RUN_FAIL_FAST: &str = "not run: --fail-fast";

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            jobs: 4,
            case_timeout: Duration::from_secs(30),
            seed: 0x7011_c457,
            waivers: Waivers::default(),
            rerun: Arc::new(|c: &Case| format!("touchstone check --filter {}", c.id)),
            tool: concat!("touchstone ", env!("CARGO_PKG_VERSION")).to_owned(),
            ipmi: None,
            resources: Vec::new(),
            fail_fast: false,
            event_sink: None,
            psrp_configuration: None,
        }
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The first Identify could not reach the target (exit code 3).
    #[error("target {url} is unreachable: {source}")]
    Unreachable {
        /// The target URL.
        url: String,
        /// The client's error.
        #[source]
        source: ClientError,
    },
    /// The IPMI target does not answer the presence ping or the authentication
    /// capabilities (exit code 3).
    #[error(transparent)]
    IpmiUnreachable(#[from] crate::ipmi::Unanswered),
    /// The IPMI target answers but refuses the administrator's credentials (exit code
    /// 3: every case that logs in would fail for that one reason).
    #[error(transparent)]
    IpmiAuthFailed(crate::ipmi::IpmiStartError),
    /// The target answered, but would not take the credentials with any scheme tried
    /// (exit code 3: nothing could be judged fairly without them).
    #[error("target {url}: {failure}")]
    AuthFailed {
        /// The target URL.
        url: String,
        /// What the authentication preflight saw.
        failure: discover::AuthFailure,
    },
    /// The first Identify failed otherwise.
    #[error("identifying {url} failed: {source}")]
    Client {
        /// The target URL.
        url: String,
        /// The client's error.
        #[source]
        source: ClientError,
    },
}

impl From<crate::ipmi::IpmiStartError> for RunError {
    fn from(e: crate::ipmi::IpmiStartError) -> RunError {
        match e {
            crate::ipmi::IpmiStartError::Unanswered(u) => RunError::IpmiUnreachable(u),
            other => RunError::IpmiAuthFailed(other),
        }
    }
}

/// A prepared run: the subject identified and its capabilities known. Cases can then
/// be run all at once ([`Runner::run`]) or one by one ([`Runner::run_case`], as the
/// libtest harness does).
pub struct Runner {
    client: Client,
    wsman: bool,
    ipmi: Option<Arc<crate::ipmi::IpmiOptions>>,
    caps: Arc<Capabilities>,
    ipmi_caps: Arc<crate::ipmi::IpmiCaps>,
    opts: RunOptions,
    seen: crate::rules::SeenIds,
    sink: Option<Arc<client::sink::EventSink>>,
    /// The turn the cases of [`takes_turns`] wait for.
    turn: Arc<tokio::sync::Semaphore>,
}

/// Whether `case` runs alone among the cases that take turns. IPMI cases change shared
/// BMC state (power, SEL) and share its few session slots; destructive cases power-cycle
/// through WS-Man, and the eventing cases that count events are destructive (they cause
/// the events they count). One of them at a time. The other eventing cases run beside
/// anything: they judge heartbeats under a filter no event matches, or, on a target
/// that refuses the filter, take an event where a heartbeat was due (which can only
/// shorten the gaps they bound), and their Pull and SubscriptionEnd checks do not
/// count events.
pub fn takes_turns(case: &Case) -> bool {
    crate::ipmi::needs(&case.id).1 || case.profiles.iter().any(|p| p == "destructive")
}

/// Starts the event sink when a case needs eventing; a sink that cannot bind makes
/// the push modes missing with the reason (pull needs none).
async fn start_sink(
    needed: &BTreeSet<String>,
    addr: Option<std::net::SocketAddr>,
) -> (Option<Arc<client::sink::EventSink>>, Option<String>) {
    let wanted = needed
        .iter()
        .any(|r| r == "feature:eventing" || r.starts_with("eventing:"));
    if !wanted {
        return (None, None);
    }
    if let Some(a) = addr.filter(|a| a.ip().is_unspecified()) {
        // The NotifyTo URL names the address: a wildcard is nowhere a target can send to.
        return (
            None,
            Some(format!(
                "the event sink address {a} is a wildcard, not an address a target can \
                 deliver to: give --event-sink an address of this machine the target reaches"
            )),
        );
    }
    match client::sink::EventSink::start(addr).await {
        Ok(s) => (Some(Arc::new(s)), None),
        Err(e) => (
            None,
            Some(format!(
                "the event sink could not listen on {}: {e}",
                addr.map_or_else(|| "127.0.0.1:0".to_owned(), |a| a.to_string())
            )),
        ),
    }
}

impl Runner {
    /// Identifies the subject and probes what `cases` require.
    pub async fn prepare(
        client: Client,
        cases: &[Case],
        opts: RunOptions,
    ) -> Result<Runner, RunError> {
        let needed: BTreeSet<String> = cases
            .iter()
            .flat_map(|c| c.requires.iter().cloned())
            .filter(|r| !r.starts_with("ipmi:"))
            .collect();
        let (sink, sink_error) = start_sink(&needed, opts.event_sink).await;
        let dopts = discover::DiscoverOptions {
            resources: opts.resources.clone(),
            needed,
            notify_to: sink.as_ref().map(|s| s.url("")),
            psrp_uri: client::psrp::resource_uri(opts.psrp_configuration.as_deref()),
        };
        let mut caps = discover::discover(&client, &dopts)
            .await
            .map_err(|source| {
                let url = client.url().to_owned();
                if source.is_unreachable() {
                    RunError::Unreachable { url, source }
                } else {
                    RunError::Client { url, source }
                }
            })?;
        if let Some(status) = caps.refused {
            // One verdict instead of a wall of 401s: every scheme the client speaks is
            // tried on its own, so the message can say which were refused.
            let failure = discover::auth_preflight(&client, status, &caps.challenges).await;
            return Err(RunError::AuthFailed {
                url: client.url().to_owned(),
                failure,
            });
        }
        if let Some(why) = sink_error {
            for mode in ["push", "push-with-ack", "events"] {
                caps.missing.insert(format!("eventing:{mode}"), why.clone());
            }
        }
        let mut ipmi_caps = crate::ipmi::IpmiCaps::default();
        if let Some(o) = &opts.ipmi {
            let d = crate::ipmi::discover(o).await?;
            caps.missing.extend(d.missing);
            caps.probes.extend(d.probes);
            ipmi_caps = d.caps;
        }
        Ok(Runner {
            client,
            wsman: true,
            ipmi: opts.ipmi.clone().map(Arc::new),
            caps: Arc::new(caps),
            ipmi_caps: Arc::new(ipmi_caps),
            opts,
            seen: Default::default(),
            sink,
            turn: Arc::new(tokio::sync::Semaphore::new(1)),
        })
    }

    /// Prepares a run against an IPMI target alone (`opts.ipmi`): WS-Man cases are
    /// skipped with the reason.
    pub async fn prepare_ipmi(opts: RunOptions) -> Result<Runner, RunError> {
        let Some(o) = &opts.ipmi else {
            return Err(RunError::IpmiUnreachable(crate::ipmi::Unanswered {
                addr: "(none)".into(),
                reason: "no IPMI target given".into(),
            }));
        };
        let d = crate::ipmi::discover(o).await?;
        // Never used: every case that needs WS-Man is skipped before it runs.
        let client = Client::new(client::Target::new(format!(
            "http://{}/wsman",
            o.target.addr
        )))
        .map_err(|source| RunError::Client {
            url: o.target.addr.to_string(),
            source,
        })?;
        Ok(Runner {
            client,
            wsman: false,
            ipmi: opts.ipmi.clone().map(Arc::new),
            caps: Arc::new(Capabilities {
                missing: d.missing,
                probes: d.probes,
                ..Capabilities::default()
            }),
            ipmi_caps: Arc::new(d.caps),
            opts,
            seen: Default::default(),
            sink: None,
            turn: Arc::new(tokio::sync::Semaphore::new(1)),
        })
    }

    /// What discovery found.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Runs `cases`, calling `progress` as each finishes (in finishing order); the
    /// report lists them in the order given.
    pub async fn run(&self, cases: &[Case], mut progress: impl FnMut(&CaseResult)) -> Report {
        let start = Instant::now();
        let jobs = self.opts.jobs.max(1);
        let ipmi_sem = self.turn.clone();
        // One for the run: the first case to find the target gone says so for all.
        let watch = TargetWatch::new();
        let mut set = tokio::task::JoinSet::new();
        let mut pending = cases.iter().enumerate();
        let mut results: Vec<Option<CaseResult>> = vec![None; cases.len()];
        let mut started = vec![false; cases.len()];
        let mut stopped = false;
        loop {
            // Cases start in the order given as slots free up (`--jobs 1` is that order
            // exactly), so "the cases after X" are the ones that had not started.
            while set.len() < jobs && !stopped {
                let Some((i, case)) = pending.next() else {
                    break;
                };
                started[i] = true;
                let (case, subject, ipmi_sem, watch) = (
                    case.clone(),
                    self.subject(),
                    ipmi_sem.clone(),
                    watch.clone(),
                );
                set.spawn(async move {
                    let _turn = if takes_turns(&case) {
                        Some(ipmi_sem.acquire_owned().await)
                    } else {
                        None
                    };
                    (i, run_case(&subject, &case, &watch).await)
                });
            }
            let Some(joined) = set.join_next().await else {
                break;
            };
            // A panicking case task is a bug in a code case; its slot is filled below.
            if let Ok((i, r)) = joined {
                stopped |= self.opts.fail_fast && fails_the_run(&r);
                progress(&r);
                results[i] = Some(r);
            }
        }
        let results = results
            .into_iter()
            .zip(cases)
            .zip(started)
            .map(|((r, c), started)| {
                if !started {
                    // No waiver applies: nothing was judged.
                    return result(c, &self.opts, Outcome::Skip, Some(NOT_RUN_FAIL_FAST.into()));
                }
                r.unwrap_or_else(|| {
                    let mut r = result(
                        c,
                        &self.opts,
                        Outcome::Error,
                        Some("the case panicked".into()),
                    );
                    apply_waiver(&mut r, &self.opts.waivers);
                    r
                })
            })
            .collect();
        let target = match (&self.ipmi, self.wsman) {
            (Some(i), true) => format!("{} + ipmi://{}", self.client.url(), i.target.addr),
            (Some(i), false) => format!("ipmi://{}", i.target.addr),
            (None, _) => self.client.url().to_owned(),
        };
        Report {
            tool: self.opts.tool.clone(),
            target,
            product: self.caps.product.clone(),
            discovery: self.caps.probes.clone(),
            seed: self.opts.seed,
            jobs: self.opts.jobs.max(1),
            duration_us: start.elapsed().as_micros() as u64,
            results,
            target_lost: watch.lost().map(str::to_owned),
        }
    }

    /// Runs one case (with a target watch of its own: a case run alone does not know
    /// whether an earlier one found the target gone).
    pub async fn run_case(&self, case: &Case) -> CaseResult {
        let _turn = if takes_turns(case) {
            Some(self.turn.clone().acquire_owned().await)
        } else {
            None
        };
        run_case(&self.subject(), case, &TargetWatch::new()).await
    }

    fn subject(&self) -> Subject {
        Subject {
            client: self.client.clone(),
            wsman: self.wsman,
            ipmi: self.ipmi.clone(),
            caps: self.caps.clone(),
            ipmi_caps: self.ipmi_caps.clone(),
            opts: self.opts.clone(),
            seen: self.seen.clone(),
            sink: self.sink.clone(),
        }
    }
}

/// What one case runs against.
struct Subject {
    client: Client,
    wsman: bool,
    ipmi: Option<Arc<crate::ipmi::IpmiOptions>>,
    caps: Arc<Capabilities>,
    ipmi_caps: Arc<crate::ipmi::IpmiCaps>,
    opts: RunOptions,
    seen: crate::rules::SeenIds,
    sink: Option<Arc<client::sink::EventSink>>,
}

/// Prepares and runs `cases` against `client`.
pub async fn run(
    client: Client,
    cases: &[Case],
    opts: RunOptions,
    progress: impl FnMut(&CaseResult),
) -> Result<Report, RunError> {
    let runner = Runner::prepare(client, cases, opts).await?;
    Ok(runner.run(cases, progress).await)
}

/// Prepares and runs `cases` against the IPMI target of `opts` alone.
pub async fn run_ipmi(
    cases: &[Case],
    opts: RunOptions,
    progress: impl FnMut(&CaseResult),
) -> Result<Report, RunError> {
    let runner = Runner::prepare_ipmi(opts).await?;
    Ok(runner.run(cases, progress).await)
}

/// The report of a run that could not start (the target unreachable, the credentials
/// refused): every case an error saying why, so CI still gets complete report files.
pub fn not_run(cases: &[Case], opts: &RunOptions, target: &str, reason: &str) -> Report {
    Report {
        tool: opts.tool.clone(),
        target: target.to_owned(),
        product: None,
        discovery: Vec::new(),
        seed: opts.seed,
        jobs: opts.jobs.max(1),
        duration_us: 0,
        results: cases
            .iter()
            .map(|c| result(c, opts, Outcome::Error, Some(format!("not run: {reason}"))))
            .collect(),
        target_lost: None,
    }
}

fn result(case: &Case, opts: &RunOptions, outcome: Outcome, message: Option<String>) -> CaseResult {
    CaseResult {
        id: case.id.clone(),
        name: case.test_name(),
        title: case.title.clone(),
        clause: case.clause.clone(),
        level: case.level,
        profiles: case.profiles.clone(),
        outcome,
        message,
        expected: None,
        got: None,
        duration_us: 0,
        transcript: Vec::new(),
        waiver: None,
        rerun: (opts.rerun)(case),
        findings: Vec::new(),
        changes: Vec::new(),
    }
}

fn apply_waiver(r: &mut CaseResult, waivers: &Waivers) {
    if let Some((pattern, reason)) = waivers.lookup(&r.id) {
        r.waiver = Some(WaiverNote {
            pattern: pattern.to_owned(),
            reason: reason.to_owned(),
            stale: r.outcome == Outcome::Pass,
        });
    }
}

/// Whether `r` fails the run (what `--fail-fast` stops at): an unwaived MUST failure
/// or an unwaived MUST rule finding.
fn fails_the_run(r: &CaseResult) -> bool {
    r.is_required_failure() || r.findings.iter().any(|f| f.is_required_failure())
}

/// FNV-1a of the case ID, to give every case its own stream from the run's seed.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// How long saving or restoring preserved state may take.
const PRESERVE_DEADLINE: Duration = Duration::from_secs(60);

/// `d` for a message: `10 s`, `1.5 s`, `500 ms`.
pub(crate) fn seconds(d: Duration) -> String {
    match d.as_millis() {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms % 1000 == 0 => format!("{} s", ms / 1000),
        _ => format!("{} s", d.as_secs_f64()),
    }
}

/// A case deadline that passed: the target's slowness, so a mismatch (a MUST case
/// fails), never a harness error. `in_flight`: a request was waiting for its answer.
fn deadline_passed(deadline: Duration, in_flight: bool) -> Finding {
    let d = seconds(deadline);
    if in_flight {
        Finding::mismatch(
            "answer",
            format!("an answer within the case deadline ({d})"),
            format!("no answer within the case deadline of {d}"),
        )
    } else {
        Finding::mismatch(
            "case",
            format!("to finish within its deadline of {d}"),
            format!("still running when the case deadline of {d} passed"),
        )
    }
}

/// `r` as a case the lost target kept from running: an error with the run's one
/// message. No waiver applies: a waiver excuses a deviation, not a missing target.
fn lost_result(mut r: CaseResult, lost: &str) -> CaseResult {
    r.outcome = Outcome::Error;
    r.message = Some(lost.to_owned());
    r.expected = None;
    r.got = None;
    r
}

async fn run_case(subject: &Subject, case: &Case, watch: &Arc<TargetWatch>) -> CaseResult {
    let (client, caps, opts) = (&subject.client, &subject.caps, &subject.opts);
    let start = Instant::now();
    let mut r = result(case, opts, Outcome::Pass, None);
    let (need_wsman, need_ipmi) = crate::ipmi::needs(&case.id);
    let absent = if need_wsman && !subject.wsman {
        Some("no WS-Management target given (--target)")
    } else if need_ipmi && subject.ipmi.is_none() {
        Some("no IPMI target given (--ipmi HOST:PORT)")
    } else {
        None
    };
    if let Some(why) = absent.or_else(|| case.requires.iter().find_map(|q| caps.why_missing(q))) {
        r.outcome = Outcome::Skip;
        r.message = Some(why.to_owned());
        apply_waiver(&mut r, &opts.waivers);
        return r;
    }
    if let (true, Some(lost)) = (need_wsman, watch.lost()) {
        return lost_result(r, lost);
    }
    let mut ctx = Ctx {
        client: client.clone(),
        rng: StdRng::seed_from_u64(opts.seed ^ fnv(&case.id)),
        vars: Default::default(),
        transcript: Vec::new(),
        ipmi: subject.ipmi.clone(),
        ipmi_sessions: Vec::new(),
        ipmi_keys: Default::default(),
        caps: caps.clone(),
        judge: crate::rules::Judge::new(&case.id, subject.seen.clone()),
        open_enumerations: Vec::new(),
        watch: CaseWatch::new(watch.clone(), case.id.clone()),
        changes: Vec::new(),
        ipmi_caps: subject.ipmi_caps.clone(),
        sink: subject.sink.clone(),
        subscriptions: Vec::new(),
        sink_tokens: Vec::new(),
    };
    let deadline = case
        .timeout_ms
        .map_or(opts.case_timeout, Duration::from_millis);
    // State the case could lose when the target misbehaves: saved first, put back after.
    let mut saved_sel = None;
    if case.preserve.iter().any(|p| p == "sel") {
        match tokio::time::timeout(PRESERVE_DEADLINE, crate::ipmi_cases::preserve_sel(&mut ctx))
            .await
        {
            Ok(Ok(s)) => saved_sel = Some(s),
            Ok(Err(Finding::Skip(why))) => {
                ctx.ipmi_finish().await;
                r.outcome = Outcome::Skip;
                r.message = Some(why);
                r.transcript = ctx.transcript;
                apply_waiver(&mut r, &opts.waivers);
                return r;
            }
            failed => {
                let why = match failed {
                    Ok(Err(Finding::Error(e))) => e,
                    Ok(Err(Finding::Mismatch(m))) => m
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                    _ => format!("no answer within {}", seconds(PRESERVE_DEADLINE)),
                };
                ctx.ipmi_finish().await;
                r.outcome = Outcome::Error;
                r.message = Some(format!(
                    "the SEL could not be saved before a case that could change it, so the \
                     case did not run: {why}"
                ));
                r.transcript = ctx.transcript;
                r.duration_us = start.elapsed().as_micros() as u64;
                apply_waiver(&mut r, &opts.waivers);
                return r;
            }
        }
    }
    let body = async {
        match &case.body {
            CaseBody::Steps(steps) => run_steps(&mut ctx, steps).await,
            CaseBody::Code(f) => (f.run)(&mut ctx).await,
        }
    };
    let ended = tokio::time::timeout(deadline, body).await;
    let finding = match ended {
        Ok(Ok(())) => None,
        Ok(Err(f)) => Some(f),
        Err(_) => Some(deadline_passed(deadline, ctx.watch.in_flight())),
    };
    let mut finding = finding;
    if let Some(saved) = &saved_sel {
        let restored = tokio::time::timeout(
            PRESERVE_DEADLINE,
            crate::ipmi_cases::restore_sel(&mut ctx, saved),
        )
        .await
        .unwrap_or_else(|_| {
            Err(Finding::Error(format!(
                "putting the SEL back took longer than {}",
                seconds(PRESERVE_DEADLINE)
            )))
        });
        if let Err(f) = restored {
            // The case's own verdict first; a failed restore is said when it has none.
            finding = finding.or(Some(f));
        }
    }
    ctx.release_open_enumerations().await;
    ctx.end_subscriptions().await;
    ctx.ipmi_finish().await;
    if let (true, Some(lost)) = (ctx.watch.met_lost(), ctx.watch.lost()) {
        let mut r = lost_result(r, lost);
        r.transcript = ctx.transcript;
        r.duration_us = start.elapsed().as_micros() as u64;
        return r;
    }
    match finding {
        None => {}
        Some(Finding::Skip(why)) => {
            r.outcome = Outcome::Skip;
            r.message = Some(why);
        }
        Some(Finding::Error(why)) => {
            r.outcome = Outcome::Error;
            r.message = Some(why);
        }
        Some(Finding::Mismatch(m)) => {
            r.outcome = match case.level {
                Level::Must => Outcome::Fail,
                Level::Should => Outcome::Warn,
                Level::May => Outcome::Skip,
            };
            let text = m
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            r.message = Some(if case.level == Level::May {
                format!("optional behaviour not offered: {text}")
            } else {
                text
            });
            r.expected = m.first().map(|x| format!("{}: {}", x.what, x.expected));
            r.got = m.first().map(|x| x.got.clone());
        }
    }
    r.transcript = ctx.transcript;
    r.changes = ctx.changes;
    r.findings = ctx.judge.finish(&opts.waivers);
    r.duration_us = start.elapsed().as_micros() as u64;
    apply_waiver(&mut r, &opts.waivers);
    r
}

/// The template scope of a step.
fn scope_of<'a>(ctx: &'a Ctx, to: &'a str, mid: &'a str) -> Scope<'a> {
    Scope {
        to,
        message_id: mid,
        vars: &ctx.vars,
        roles: &ctx.caps.roles,
    }
}

async fn run_steps(ctx: &mut Ctx, steps: &[Step]) -> Result<(), Finding> {
    let n = steps.len();
    for (i, step) in steps.iter().enumerate() {
        let label = match (&step.name, n) {
            (Some(name), _) => format!("step {} ({name})", i + 1),
            (None, 1) => String::new(),
            (None, _) => format!("step {}", i + 1),
        };
        let prefix = |mut m: eval::Mismatch| {
            if !label.is_empty() {
                m.what = format!("{label}: {}", m.what);
            }
            m
        };
        let mid = ctx.message_id();
        let sent_mid = (step.request.op != Op::Identify
            && step.request.op != Op::Raw
            && !step.request.omit.contains(&Omit::MessageId))
            || (step.request.op == Op::Raw
                && step
                    .request
                    .body
                    .as_deref()
                    .is_some_and(|b| b.contains("{{message_id}}")));
        if step.request.op == Op::Ipmi {
            let m = crate::ipmi::run_step(ctx, step)
                .await
                .map_err(|f| match f {
                    Finding::Mismatch(m) => Finding::Mismatch(m.into_iter().map(prefix).collect()),
                    other => other,
                })?;
            if !m.is_empty() {
                return Err(Finding::Mismatch(m.into_iter().map(prefix).collect()));
            }
            continue;
        }
        let req = build(ctx, &step.request, &mid).map_err(Finding::Error)?;
        let ex = match ctx.send_raw(req).await {
            Ok(ex) => ex,
            Err(Finding::Mismatch(_)) if step.tolerate_no_answer => continue,
            Err(Finding::Mismatch(m)) => {
                return Err(Finding::Mismatch(m.into_iter().map(prefix).collect()));
            }
            Err(other) => return Err(other),
        };
        let answer = Answer::new(&ex);
        let to = ctx.client.url().to_owned();
        let (vars, rng) = (&ctx.vars, &mut ctx.rng);
        let scope = Scope {
            to: &to,
            message_id: &mid,
            vars,
            roles: &ctx.caps.roles,
        };
        let mut expand = |s: &str| template::expand(s, &scope, rng);
        let mismatches = eval::check(
            &step.expect,
            &answer,
            sent_mid.then_some(mid.as_str()),
            &mut expand,
        );
        if !mismatches.is_empty() {
            return Err(Finding::Mismatch(
                mismatches.into_iter().map(prefix).collect(),
            ));
        }
        for (var, path) in &step.capture {
            let path = &template::expand(path, &scope_of(ctx, &to, &mid), &mut ctx.rng.clone())
                .map_err(Finding::Error)?;
            match answer.value(path) {
                Some(v) if !v.is_empty() => {
                    ctx.vars.insert(var.clone(), v);
                }
                _ => {
                    return Err(Finding::Mismatch(vec![prefix(eval::Mismatch {
                        what: path.clone(),
                        expected: format!("a value (captured as `{var}`)"),
                        got: "absent".into(),
                    })]));
                }
            }
        }
    }
    Ok(())
}

/// The HTTP request of a step.
fn build(ctx: &mut Ctx, spec: &RequestSpec, mid: &str) -> Result<RawRequest, String> {
    let to = ctx.client.url().to_owned();
    let vars = ctx.vars.clone();
    let caps = ctx.caps.clone();
    let scope = Scope {
        to: &to,
        message_id: mid,
        vars: &vars,
        roles: &caps.roles,
    };
    let mut x = |s: &str| template::expand(s, &scope, &mut ctx.rng);
    let body: Vec<u8> = match spec.op {
        Op::Identify => client::build::identify().to_xml().into_bytes(),
        Op::Raw => x(spec.body.as_deref().unwrap_or_default())?.into_bytes(),
        op => {
            let named = spec.resource.as_deref().unwrap_or_default();
            // `@ROLE`: the resource discovery found for the role, and for a Get its
            // instance's selectors (the step's own selectors add to or replace them).
            let (resource, mut selectors) = match named.strip_prefix('@') {
                Some(role) => {
                    let Some(found) = caps.role(role) else {
                        return Err(format!(
                            "discovery found no `{role}` resource (the case must require \
                             `resource:{role}`)"
                        ));
                    };
                    let sels = if op == Op::Get {
                        found.selectors.clone()
                    } else {
                        Vec::new()
                    };
                    (found.uri.clone(), sels)
                }
                None => (template::resource_uri(&x(named)?), Vec::new()),
            };
            for (k, v) in &spec.selectors {
                let (k, v) = (x(k)?, x(v)?);
                match selectors.iter_mut().find(|(n, _)| *n == k) {
                    Some(slot) => slot.1 = v,
                    None => selectors.push((k, v)),
                }
            }
            let mut r = ctx.client.request(resource).message_id(mid);
            for (k, v) in selectors {
                r = r.selector(k, v);
            }
            if let Some(h) = &spec.extra_header {
                // The writer does not turn `OtherHeader::must_understand` into the
                // attribute (a wsman writer gap), so the tree carries it itself.
                let mut b = wsman::TreeBuilder::with_capacity(1);
                b.start(wsman::Name::new(h.ns.clone(), h.name.clone()).with_prefix("t"));
                if h.must_understand {
                    b.attr(
                        wsman::Name::new(wsman::ns::SOAP, "mustUnderstand").with_prefix("s"),
                        "true",
                    );
                }
                b.text(h.value.clone()).end();
                r = r.header(b.finish(), h.must_understand);
            }
            let mut context = || x(spec.context.as_deref().unwrap_or_default());
            let mut env = match op {
                Op::Get => r.get(),
                Op::Enumerate => r.enumerate(client::build::enumerate_body(
                    None,
                    spec.optimize,
                    spec.max_elements,
                    None,
                    None,
                )),
                Op::Pull => r.pull(client::build::pull_body(context()?, spec.max_elements)),
                _ => r.release(context()?),
            };
            for o in &spec.omit {
                let h = &mut env.header;
                match o {
                    Omit::To => h.to = None,
                    Omit::Action => h.action = None,
                    Omit::MessageId => h.message_id = None,
                    Omit::ReplyTo => h.reply_to = None,
                    Omit::ResourceUri => h.resource_uri = None,
                }
            }
            env.to_xml().into_bytes()
        }
    };
    let mut req = RawRequest::post(body);
    if let Some(m) = &spec.method {
        req = req.method(
            http::Method::from_bytes(m.as_bytes()).map_err(|e| format!("method `{m}`: {e}"))?,
        );
    }
    match spec.content_type.as_deref() {
        None => req = req.header("Content-Type", client::SOAP_CONTENT_TYPE),
        Some("") => {}
        Some(ct) => req = req.header("Content-Type", ct),
    }
    for (k, v) in &spec.http_headers {
        req = req.header(k.clone(), x(v)?);
    }
    if !spec.auth {
        req = req.without_auth();
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_worded_in_seconds() {
        assert_eq!(seconds(Duration::from_secs(10)), "10 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(seconds(Duration::from_millis(250)), "250 ms");
        let Finding::Mismatch(m) = deadline_passed(Duration::from_secs(10), true) else {
            panic!("a deadline is the target's doing, not a harness error");
        };
        assert_eq!(
            m[0].to_string(),
            "answer: expected an answer within the case deadline (10 s), \
             got no answer within the case deadline of 10 s"
        );
        let Finding::Mismatch(m) = deadline_passed(Duration::from_secs(2), false) else {
            panic!("a mismatch");
        };
        assert_eq!(
            m[0].got,
            "still running when the case deadline of 2 s passed"
        );
    }
}
