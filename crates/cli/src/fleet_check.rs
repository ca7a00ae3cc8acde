//! `touchstone check --targets FILE --out DIR`: the suite against every machine of a
//! fleet inventory, `--jobs` targets at once and `--case-jobs` cases at once on each.
//!
//! A child of `check`, so that a target is checked exactly as `check --target` would
//! check it: the same case selection, credentials (an inventory's own per machine,
//! else the command line's and environment's), waivers, deadlines and rerun commands.
//! Each target's reports are written as it finishes (`targets/<id>.json` and `.xml`,
//! with the transcripts of passing cases left out: a fleet of a thousand machines
//! would otherwise write gigabytes nobody reads) and only its summary entry and a
//! small JUnit suite stay in memory. Every request has the case deadline, so a dead
//! target ends as an error (unreachable) without holding up the others.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conformance::case::Outcome;
use conformance::inventory::{Inventory, Machine};
use conformance::report::fleet::{self, FleetSummary, ShardFile, TargetEntry};
use conformance::report::{self, Report};
use conformance::{Case, RunError, RunOptions, Waivers};

use super::{
    Args, Credentials, Secret, Source, account, env_var, ipmi_host_port, rerun_prefix, shell_word,
    usage,
};

/// Targets checked at once by default.
const DEFAULT_TARGET_JOBS: usize = 16;
/// Cases run at once on one target by default: a fleet's parallelism is its targets.
const DEFAULT_CASE_JOBS: usize = 2;

/// What every target's check shares.
struct Shared {
    args: Args,
    creds: Credentials,
    waivers: Waivers,
    out: PathBuf,
    inventory: PathBuf,
}

/// Runs `check --targets`.
pub(super) fn run(args: Args, creds: Credentials, cases: Vec<Case>, waivers: Waivers) -> ExitCode {
    let (Some(file), Some(out)) = (args.targets.clone(), args.out.clone()) else {
        return usage("--targets needs --out DIR");
    };
    let inventory = match Inventory::load(&file) {
        Ok(i) => i,
        Err(e) => return usage(format!("--targets {e}")),
    };
    let shard = match args.shard.map(|s| s.resolve(env_var)).transpose() {
        Ok(s) => s,
        Err(e) => return usage(format!("--shard {e}")),
    };
    let selected: Vec<String> = cases.iter().map(|c| c.id.clone()).collect();
    let mut machines = inventory.machines;
    // A fleet of one shares its cases; a fleet shares its targets.
    let (machines, cases, shard_cases) = match shard {
        Some(s) if machines.len() == 1 => {
            let mine = s.cases(&cases);
            let ids = mine.iter().map(|c| c.id.clone()).collect();
            (machines, mine, Some(ids))
        }
        Some(s) => {
            let keep: std::collections::BTreeSet<String> = s
                .targets(machines.iter().map(|m| m.id.as_str()))
                .into_iter()
                .map(str::to_owned)
                .collect();
            machines.retain(|m| keep.contains(&m.id));
            machines.sort_by(|a, b| a.id.cmp(&b.id));
            (machines, cases, None)
        }
        None => {
            machines.sort_by(|a, b| a.id.cmp(&b.id));
            (machines, cases, None)
        }
    };
    if let Err(e) = std::fs::create_dir_all(out.join("targets")) {
        return usage(format!(
            "cannot create {}: {e}",
            out.join("targets").display()
        ));
    }
    let shard_file = ShardFile {
        shard: shard.map(|s| s.to_string()),
        targets: machines.iter().map(|m| m.id.clone()).collect(),
        selected: shard_cases.as_ref().map(|_| selected),
        cases: shard_cases,
    };
    let jobs = args.jobs.unwrap_or(DEFAULT_TARGET_JOBS);
    if !args.quiet {
        println!(
            "touchstone check: {} target(s) of {}{}, {} case(s) each at most, {jobs} target(s) at \
             once, {} case(s) at once per target",
            machines.len(),
            file.display(),
            shard.map(|s| format!(" (shard {s})")).unwrap_or_default(),
            cases.len(),
            args.case_jobs.unwrap_or(DEFAULT_CASE_JOBS),
        );
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return usage(format!("cannot start the runtime: {e}")),
    };
    let shared = Arc::new(Shared {
        args,
        creds,
        waivers,
        out: out.clone(),
        inventory: file,
    });
    let start = Instant::now();
    let (entries, suites) = rt.block_on(check_all(shared.clone(), machines, Arc::new(cases), jobs));
    let duration_us = start.elapsed().as_micros() as u64;
    let tool = concat!("touchstone ", env!("CARGO_PKG_VERSION"));
    let summary = FleetSummary::new(tool, entries, duration_us);
    // The JUnit suites in id order, like the summary's targets.
    let mut suites = suites;
    suites.sort_by(|a, b| a.0.cmp(&b.0));
    let junit = fleet::junit_string(suites.into_iter().map(|(_, s)| s), duration_us);
    let mut code = summary.exit_code();
    if let Err(e) = fleet::write_dir(&out, &summary, &junit, &shard_file) {
        eprintln!("touchstone check: cannot write the fleet summary: {e}");
        code = code.max(2);
    }
    crate::report_cmd::print_summary(
        &summary,
        &out,
        shared.args.jobs.unwrap_or(DEFAULT_TARGET_JOBS),
    );
    ExitCode::from(code)
}

type Suite = (String, quick_junit::TestSuite);

async fn check_all(
    shared: Arc<Shared>,
    machines: Vec<Machine>,
    cases: Arc<Vec<Case>>,
    jobs: usize,
) -> (Vec<TargetEntry>, Vec<Suite>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let mut set = tokio::task::JoinSet::new();
    let total = machines.len();
    for m in machines {
        let (shared, cases, slots) = (shared.clone(), cases.clone(), slots.clone());
        set.spawn(async move {
            let _slot = slots.acquire_owned().await;
            check_one(&shared, m, &cases).await
        });
    }
    let mut entries = Vec::with_capacity(total);
    let mut suites = Vec::with_capacity(total);
    let mut done = 0;
    while let Some(joined) = set.join_next().await {
        let Ok((entry, suite)) = joined else {
            // A panicking target task is a bug; its target is missing from the summary,
            // which merge and readers notice (shard.json lists it).
            eprintln!("touchstone check: a target's check panicked");
            continue;
        };
        done += 1;
        if !shared.args.quiet {
            println!("{}", target_line(&entry, done, total));
        }
        entries.push(entry);
        suites.push(suite);
    }
    (entries, suites)
}

/// The console line of one finished target.
fn target_line(e: &TargetEntry, done: usize, total: usize) -> String {
    let n = |k: &str| e.counts.get(k).copied().unwrap_or(0);
    let what = match &e.message {
        Some(m) => m.clone(),
        None => format!(
            "{} passed, {} failed, {} warned, {} skipped, {} errors",
            n("pass"),
            n("fail"),
            n("warn"),
            n("skip"),
            n("error")
        ),
    };
    let chaos = e
        .chaos
        .as_deref()
        .map(|c| format!(" [chaos: {c}]"))
        .unwrap_or_default();
    format!(
        "[{done}/{total}] {:<5} {} {what} ({:.1} s){chaos}",
        e.verdict.as_str().to_uppercase(),
        e.id,
        e.duration_us as f64 / 1e6
    )
}

/// The secret of a machine: the inventory's (rerun commands then ask for it through
/// the environment variable), else the one resolved for the run.
fn machine_secret(own: &Option<String>, run: &Option<Secret>) -> Option<Secret> {
    match own {
        Some(v) => Some(Secret {
            value: v.clone(),
            source: Source::Env,
        }),
        None => run.clone(),
    }
}

/// Checks one machine and writes its reports; returns its summary entry and its suite
/// of the fleet JUnit.
async fn check_one(shared: &Shared, m: Machine, all: &[Case]) -> (TargetEntry, Suite) {
    let args = &shared.args;
    let start = Instant::now();
    let cases: Vec<Case> = all
        .iter()
        .filter(|c| {
            let (w, i) = conformance::ipmi::needs(&c.id);
            (!w || m.wsman().is_some()) && (!i || m.ipmi.is_some())
        })
        .cloned()
        .collect();
    let wants_ipmi = cases.iter().any(|c| conformance::ipmi::needs(&c.id).1);
    // This machine's credentials and rerun command: its own, else the run's.
    let mut creds = shared.creds.clone();
    creds.user = m.user.clone().or(creds.user);
    creds.password = machine_secret(&m.password, &creds.password);
    creds.ipmi_user = m.ipmi_user.clone().or(creds.ipmi_user);
    creds.ipmi_password = machine_secret(&m.ipmi_password, &creds.ipmi_password);
    let mut rerun_args = args.clone();
    rerun_args.target = m.wsman().map(str::to_owned);
    rerun_args.ipmi = m.ipmi.clone().filter(|_| wants_ipmi);
    let (rerun_cmd, mut rerun_note) = rerun_prefix(&rerun_args, &creds);
    if m.password.is_some() || m.ipmi_password.is_some() {
        rerun_note.push_str(&format!(
            "; {}'s password is in {}",
            m.id,
            shared.inventory.display()
        ));
    }
    let password = creds.password.as_ref().map(|s| s.value.clone());
    let ipmi_opts = match (&m.ipmi, wants_ipmi) {
        (Some(addr), true) => match ipmi_options(args, &creds, addr, &password).await {
            Ok(o) => Some(o),
            Err(why) => {
                let opts = run_options(shared, None, String::new(), String::new());
                let report = conformance::run::not_run(&cases, &opts, addr, &why);
                return finish(shared, &m, report, Some((2, why)), start).await;
            }
        },
        _ => None,
    };
    let opts = run_options(shared, ipmi_opts, rerun_cmd, rerun_note);
    let url = m.wsman().unwrap_or("http://127.0.0.1/wsman").to_owned();
    let label = match (m.wsman(), &m.ipmi) {
        (None, Some(i)) => format!("ipmi://{i}"),
        _ => url.clone(),
    };
    if cases.is_empty() {
        let report = conformance::run::not_run(&cases, &opts, &label, "no case applies");
        return finish(shared, &m, report, None, start).await;
    }
    let timeout = Duration::from_secs(args.case_timeout.max(1));
    let mut target = client::Target::new(url.clone()).timeout(timeout);
    if let Some(u) = &creds.user {
        target = target.credentials(u.clone(), password.clone().unwrap_or_default());
    }
    if args.insecure {
        target = target.insecure();
    }
    if let Some(ca) = &args.cacert {
        target = target.ca_pem(client::CaPem::Path(ca.clone()));
    }
    let not_run = |why: &str| conformance::run::not_run(&cases, &opts, &label, why);
    let client = match client::Client::new(target) {
        Ok(c) => c,
        Err(e) => {
            let why = format!("{url}: {e}");
            return finish(shared, &m, not_run(&why), Some((2, why)), start).await;
        }
    };
    let prepared = if m.wsman().is_none() {
        conformance::run::Runner::prepare_ipmi(opts.clone()).await
    } else {
        conformance::run::Runner::prepare(client, &cases, opts.clone()).await
    };
    let runner = match prepared {
        Ok(r) => r,
        Err(e) => {
            let (code, why) = match e {
                e @ (RunError::Unreachable { .. }
                | RunError::IpmiUnreachable(_)
                | RunError::IpmiAuthFailed(_)
                | RunError::AuthFailed { .. }) => (3, e.to_string()),
                RunError::Client { url, source } if source.is_unanswered() => (
                    3,
                    format!("target {url} is unreachable: Identify got no answer: {source}"),
                ),
                e => (2, e.to_string()),
            };
            return finish(shared, &m, not_run(&why), Some((code, why)), start).await;
        }
    };
    let report = runner.run(&cases, |_| {}).await;
    drop(runner);
    finish(shared, &m, report, None, start).await
}

fn run_options(
    shared: &Shared,
    ipmi: Option<conformance::ipmi::IpmiOptions>,
    rerun_cmd: String,
    rerun_note: String,
) -> RunOptions {
    let args = &shared.args;
    RunOptions {
        jobs: args.case_jobs.unwrap_or(DEFAULT_CASE_JOBS),
        case_timeout: Duration::from_secs(args.case_timeout.max(1)),
        seed: args.seed.unwrap_or(RunOptions::default().seed),
        waivers: shared.waivers.clone(),
        rerun: Arc::new(move |c: &Case| {
            format!("{rerun_cmd} --filter {}{rerun_note}", shell_word(&c.id))
        }),
        tool: concat!("touchstone ", env!("CARGO_PKG_VERSION")).to_owned(),
        ipmi,
        resources: args.resources.clone(),
        fail_fast: args.fail_fast,
        // One sink per target: the address given, on a port of its own.
        event_sink: args
            .event_sink
            .map(|a| std::net::SocketAddr::new(a.ip(), 0)),
        psrp_configuration: args.psrp_configuration.clone(),
    }
}

async fn ipmi_options(
    args: &Args,
    creds: &Credentials,
    addr: &str,
    password: &Option<String>,
) -> Result<conformance::ipmi::IpmiOptions, String> {
    let hp = ipmi_host_port(addr)?;
    let sock = tokio::net::lookup_host(hp.as_str())
        .await
        .map_err(|e| format!("ipmi `{addr}`: {e}"))?
        .next()
        .ok_or_else(|| format!("ipmi `{addr}`: no address"))?;
    let u = creds
        .ipmi_user
        .clone()
        .or(creds.user.clone())
        .unwrap_or_else(|| "admin".into());
    let p = creds
        .ipmi_password
        .as_ref()
        .map(|s| s.value.clone())
        .or(password.clone())
        .unwrap_or_else(|| "admin".into());
    let mut t = client::ipmi::IpmiTarget::new(sock, &u, &p);
    t.retry.timeout = Duration::from_secs(1);
    let mut o = conformance::ipmi::IpmiOptions::new(t);
    let given = |s: &Option<Secret>| s.as_ref().and_then(|s| account(&s.value));
    o.operator = given(&creds.operator);
    o.user = given(&creds.user_account);
    o.idle_wait = args.ipmi_idle_wait.map(Duration::from_secs);
    o.silence = Duration::from_millis(args.ipmi_silence_ms);
    Ok(o)
}

/// Writes a finished target's reports (off the async workers) and makes its entry.
async fn finish(
    shared: &Shared,
    m: &Machine,
    mut report: Report,
    run_error: Option<(u8, String)>,
    start: Instant,
) -> (TargetEntry, Suite) {
    if report.duration_us == 0 {
        report.duration_us = start.elapsed().as_micros() as u64;
    }
    // Passing cases keep their verdict, not their transcript.
    for r in &mut report.results {
        if r.outcome == Outcome::Pass && r.waiver.is_none() && r.findings.is_empty() {
            r.transcript = Vec::new();
        }
    }
    let dir = shared.out.join("targets");
    let (id, scenario, chaos) = (m.id.clone(), m.scenario.clone(), m.chaos.clone());
    let job = tokio::task::spawn_blocking(move || {
        let mut entry = TargetEntry::from_report(&id, scenario, chaos, &report, run_error);
        let written = write_target(&dir, &id, &report);
        if let Err(e) = written {
            eprintln!("touchstone check: {e}");
            entry.exit_code = entry.exit_code.max(2);
            entry.verdict = fleet::Verdict::of_code(entry.exit_code);
            entry.message.get_or_insert(e);
        }
        let suite = fleet::junit_suite(&entry, &report);
        (entry, (id, suite))
    });
    match job.await {
        Ok(done) => done,
        Err(e) => {
            let why = format!("writing the reports failed: {e}");
            let entry = TargetEntry {
                id: m.id.clone(),
                target: m.wsman().unwrap_or_default().to_owned(),
                scenario: m.scenario.clone(),
                chaos: m.chaos.clone(),
                verdict: fleet::Verdict::Error,
                exit_code: 2,
                product: None,
                counts: Default::default(),
                message: Some(why),
                failed: Vec::new(),
                errors: Vec::new(),
                duration_us: 0,
            };
            let suite = quick_junit::TestSuite::new(m.id.clone());
            (entry, (m.id.clone(), suite))
        }
    }
}

fn write_target(dir: &Path, id: &str, report: &Report) -> Result<(), String> {
    for (ext, text) in [
        ("json", report::json::to_string(report)),
        ("xml", report::junit::to_string(report)),
    ] {
        let p = dir.join(format!("{id}.{ext}"));
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(())
}
