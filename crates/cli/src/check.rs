//! `touchstone check`: the conformance suite against a target, or against the
//! embedded mock when no target is given.
//!
//! The engine (cases, runner, waivers, reports) is the `conformance` crate; this
//! module only chooses the subject, shows progress (a bar on a TTY, one line per case
//! otherwise), prints failures with their rerun command and the summary, writes the
//! report files and maps the run to the CLI contract's exit codes: 0 every required
//! case passes, 1 a required (MUST) case failed (a case deadline that passed is a
//! failure: the target was too slow), 2 usage or harness error, 3 the target is
//! unreachable: it did not answer Identify at all, or it stopped answering during the
//! run (said once; the cases it kept from running are errors; reports still written).

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use conformance::case::Outcome;
use conformance::report::{self, CaseResult, Report};
use conformance::{Case, RunError, RunOptions, Suite, Waivers};

/// Runs the conformance suite.
///
/// Discovery comes first: Identify (authenticated, then unauthenticated), then every
/// resource of a well-known list (DMTF CIM classes, WinRM's config and WMI cimv2 URIs,
/// AMT/IPS classes; --resource URIs first) is enumerated, got and, for a few, put back
/// unchanged and with one property changed and restored; then fragment-level Get, the
/// selector and WQL filters and (when a case needs it) the cmd shell. Protocol cases
/// run on the resources found (roles: enumerable, gettable, keyed, writable); a case
/// whose capability is missing is skipped with the reason on its own line. What
/// discovery saw is printed first and kept in every report.
///
/// Besides each case's own expectations, every answer is held to a few rules (a fault
/// never with 2xx; Sender faults 4xx and others 5xx; responses carry Action and
/// RelatesTo; a Get/Put body is the representation; MessageIDs never reused). A broken
/// rule is a finding attributed to the case (`CASE#wsman.rule.NAME`): MUST findings
/// fail the run, SHOULD ones warn; waive them by rule ID or CASE#RULE.
///
/// Exit codes:
///   0  every required (MUST) case passes (warnings, skips and waived cases allowed);
///   1  a required case failed or a MUST rule was broken, a case deadline passing
///      included: a target slower than --case-timeout fails with "no answer within
///      the case deadline of N s";
///   2  usage or harness error (bad arguments, a suite or waiver file that does not
///      load, credentials the target refuses, a case the harness could not run, a
///      report that cannot be written);
///   3  the target is unreachable: the WS-Man target did not answer Identify at all
///      (refused, timed out, or closed the connection), the IPMI target answered
///      neither the ping nor the authentication capabilities, or the WS-Man target
///      stopped answering during the run. Then "the target stopped answering after
///      case X" is printed once, the cases it kept from running are errors with that
///      message, and every report is still written (JSON `target_lost`, a JUnit
///      `touchstone.target_lost` property, a banner in the HTML).
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The WS-Management endpoint (`http(s)://host:port/wsman`). Without it the embedded
    /// mock is started and checked (default scenario, admin/admin).
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// User name for Basic or Digest authentication.
    #[arg(long)]
    user: Option<String>,
    /// Password for Basic or Digest authentication.
    #[arg(long)]
    password: Option<String>,
    /// Run only cases of this profile (repeatable).
    #[arg(long = "profile", value_name = "P")]
    profiles: Vec<String>,
    /// Run only cases whose ID or test name matches: an exact ID, a glob (`wsman.http.*`)
    /// or a substring.
    #[arg(long, value_name = "PAT")]
    filter: Option<String>,
    /// List the selected cases and exit.
    #[arg(long)]
    list: bool,
    /// Cases run at once (the report order does not depend on it).
    #[arg(long, default_value_t = 4, value_name = "N")]
    jobs: usize,
    /// Write a JUnit XML report.
    #[arg(long, value_name = "F")]
    junit: Option<PathBuf>,
    /// Write a JSON report.
    #[arg(long, value_name = "F")]
    json: Option<PathBuf>,
    /// Write a self-contained HTML report.
    #[arg(long, value_name = "F")]
    html: Option<PathBuf>,
    /// Waiver file (TOML: case-ID glob = "reason").
    #[arg(long, value_name = "F")]
    waivers: Option<PathBuf>,
    /// Accept any HTTPS server certificate.
    #[arg(long)]
    insecure: bool,
    /// Trust the certificates in this PEM file for HTTPS.
    #[arg(long, value_name = "F")]
    cacert: Option<PathBuf>,
    /// Seed of everything generated (MessageIDs...), for reproducible runs.
    #[arg(long)]
    seed: Option<u64>,
    /// Deadline of one case, in seconds (and of each request, the first Identify
    /// included). A case that passes it fails: "no answer within the case deadline".
    #[arg(long, default_value_t = 30, value_name = "S")]
    case_timeout: u64,
    /// A resource to check first (repeatable): a resource URI or CIM class name, with
    /// optional selectors naming one instance (`URI?Name=x&Id=2`). Discovery tries it
    /// before its well-known list (DMTF CIM classes, WinRM config and WMI, AMT/IPS
    /// classes), so protocol cases (addressing, faults, transfer, enumeration) run on it.
    #[arg(long = "resource", value_name = "URI[?SEL=V&...]", value_parser = parse_resource)]
    resources: Vec<conformance::discover::UserResource>,
    /// Load cases from this directory instead of the suites built into the binary.
    #[arg(long, value_name = "DIR")]
    suites: Option<PathBuf>,
    /// The BMC's IPMI-over-LAN address (`HOST:PORT`, UDP; 623 on hardware). Alone: the
    /// IPMI profiles only; with `--target`: WS-Man, IPMI and the `cross` profile.
    #[arg(long, value_name = "HOST:PORT")]
    ipmi: Option<String>,
    /// IPMI administrator user name (default: --user).
    #[arg(long, value_name = "USER")]
    ipmi_user: Option<String>,
    /// IPMI administrator password (default: --password).
    #[arg(long, value_name = "PASSWORD")]
    ipmi_password: Option<String>,
    /// An operator-level IPMI account for the privilege cases (`USER:PASSWORD`; the
    /// embedded mock's operator/operator by default when checking it).
    #[arg(long, value_name = "USER:PASSWORD")]
    ipmi_operator: Option<String>,
    /// A user-level IPMI account for the privilege cases (`USER:PASSWORD`).
    #[arg(long, value_name = "USER:PASSWORD")]
    ipmi_user_account: Option<String>,
    /// Seconds to stay idle in the idle-timeout case (the target's session timeout plus
    /// a margin; without it the case is skipped).
    #[arg(long, value_name = "S")]
    ipmi_idle_wait: Option<u64>,
    /// How long a dropped IPMI packet is waited for, in milliseconds.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    ipmi_silence_ms: u64,
}

fn parse_resource(s: &str) -> Result<conformance::discover::UserResource, String> {
    s.parse()
}

fn account(s: &str) -> Option<(String, String)> {
    s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned()))
}

fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("touchstone check: {msg}");
    ExitCode::from(2)
}

/// Runs `touchstone check`.
pub fn run(args: Args) -> ExitCode {
    let suite = match &args.suites {
        Some(dir) => Suite::load_dir(dir),
        None => Suite::embedded(),
    };
    let suite = match suite {
        Ok(s) => s,
        Err(e) => return usage(format!("cannot load the suite: {e}")),
    };
    let known = suite.profiles();
    if let Some(p) = args.profiles.iter().find(|p| !known.contains(*p)) {
        let list: Vec<&str> = known.iter().map(String::as_str).collect();
        return usage(format!(
            "unknown profile `{p}` (known: {})",
            list.join(", ")
        ));
    }
    if args.jobs == 0 {
        return usage("--jobs must be at least 1");
    }
    let cases = suite.select(&args.profiles, args.filter.as_deref());
    // Only the cases whose targets were given (both when neither: the embedded mock).
    let embedded = args.target.is_none() && args.ipmi.is_none();
    let (wsman, ipmi) = (
        embedded || args.target.is_some(),
        embedded || args.ipmi.is_some(),
    );
    let cases: Vec<Case> = cases
        .into_iter()
        .filter(|c| {
            let (w, i) = conformance::ipmi::needs(&c.id);
            (!w || wsman) && (!i || ipmi)
        })
        .collect();
    for a in [&args.ipmi_operator, &args.ipmi_user_account]
        .into_iter()
        .flatten()
    {
        if account(a).is_none() {
            return usage(format!("`{a}`: expected USER:PASSWORD"));
        }
    }
    if args.list {
        for c in &cases {
            println!(
                "{:<60} {:<6} {}",
                c.id,
                c.level.as_str(),
                c.profiles.join(",")
            );
        }
        return ExitCode::SUCCESS;
    }
    if cases.is_empty() {
        return usage("no case matches the given profiles and filter");
    }
    let waivers = match &args.waivers {
        Some(p) => match Waivers::load(p) {
            Ok(w) => w,
            Err(e) => return usage(e),
        },
        None => Waivers::default(),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return usage(format!("cannot start the runtime: {e}")),
    };
    rt.block_on(check(args, cases, waivers))
}

/// The embedded mock's IPMI idle timeout when `check` starts it: short, so that the
/// idle-timeout case runs instead of being skipped.
const EMBEDDED_IDLE_TIMEOUT: &str = "idle_timeout_ms = 1500";
/// How long the idle-timeout case waits against the embedded mock.
const EMBEDDED_IDLE_WAIT: Duration = Duration::from_millis(2500);

/// The embedded mock for a run without targets: the default scenario with HTTP and
/// IPMI, its IPMI idle timeout shortened to [`EMBEDDED_IDLE_TIMEOUT`]. Also says
/// whether the timeout was shortened (if the default scenario stops spelling it the
/// expected way, the idle-timeout case is skipped rather than failed).
async fn embedded_mock() -> std::io::Result<(mock::MockServer, bool)> {
    const DEFAULT_IDLE: &str = "idle_timeout_ms = 60000";
    let default = mock::scenario::DEFAULT_TOML;
    let short = default.contains(DEFAULT_IDLE);
    let toml = default.replacen(DEFAULT_IDLE, EMBEDDED_IDLE_TIMEOUT, 1);
    let builder = match mock::MockServer::builder().scenario_str(&toml) {
        Ok(b) => b,
        Err(e) => return Err(std::io::Error::other(e.to_string())),
    };
    Ok((builder.ipmi(true).start().await?, short))
}

async fn check(args: Args, cases: Vec<Case>, waivers: Waivers) -> ExitCode {
    let embedded = args.target.is_none() && args.ipmi.is_none();
    let mut short_idle = false;
    let (mock, url, user, password) = match &args.target {
        Some(url) => (None, url.clone(), args.user.clone(), args.password.clone()),
        None if !embedded => (
            None,
            String::new(),
            args.user.clone(),
            args.password.clone(),
        ),
        None => match embedded_mock().await {
            Ok((m, short)) => {
                short_idle = short;
                let url = m.url();
                eprintln!("touchstone check: no --target, checking the embedded mock at {url}");
                let user = args.user.clone().or(Some("admin".into()));
                let password = args.password.clone().or(Some("admin".into()));
                (Some(m), url, user, password)
            }
            Err(e) => return usage(format!("cannot start the embedded mock: {e}")),
        },
    };
    // IPMI alone: the WS-Man client is never used (its cases are not selected).
    let url = if url.is_empty() {
        "http://127.0.0.1/wsman".to_owned()
    } else {
        url
    };
    let mut target =
        client::Target::new(url.clone()).timeout(Duration::from_secs(args.case_timeout.max(1)));
    if let Some(u) = user {
        target = target.credentials(u, password.unwrap_or_default());
    }
    if args.insecure {
        target = target.insecure();
    }
    if let Some(ca) = &args.cacert {
        target = target.ca_pem(client::CaPem::Path(ca.clone()));
    }
    let client = match client::Client::new(target) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let ipmi_addr = match (&args.ipmi, &mock) {
        (Some(a), _) => {
            use std::net::ToSocketAddrs as _;
            match a.to_socket_addrs().map(|mut i| i.next()) {
                Ok(Some(addr)) => Some(addr),
                _ => return usage(format!("--ipmi `{a}`: expected HOST:PORT")),
            }
        }
        (None, Some(m)) => m.ipmi_addr(),
        (None, None) => None,
    };
    let ipmi_opts = ipmi_addr.map(|addr| {
        let u = args
            .ipmi_user
            .clone()
            .or(args.user.clone())
            .unwrap_or_else(|| "admin".into());
        let p = args
            .ipmi_password
            .clone()
            .or(args.password.clone())
            .unwrap_or_else(|| "admin".into());
        let mut t = client::ipmi::IpmiTarget::new(addr, &u, &p);
        t.retry.timeout = Duration::from_secs(1);
        let mut o = conformance::ipmi::IpmiOptions::new(t);
        let defaults = |name: &str| mock.as_ref().map(|_| (name.to_owned(), name.to_owned()));
        o.operator = args
            .ipmi_operator
            .as_deref()
            .and_then(account)
            .or_else(|| defaults("operator"));
        o.user = args
            .ipmi_user_account
            .as_deref()
            .and_then(account)
            .or_else(|| defaults("user"));
        o.idle_wait = args
            .ipmi_idle_wait
            .map(Duration::from_secs)
            .or_else(|| short_idle.then_some(EMBEDDED_IDLE_WAIT));
        o.silence = Duration::from_millis(args.ipmi_silence_ms);
        o
    });
    let rerun_target = match (&args.target, &args.ipmi) {
        (Some(t), Some(i)) => Some(format!("--target {t} --ipmi {i}")),
        (Some(t), None) => Some(format!("--target {t}")),
        (None, Some(i)) => Some(format!("--ipmi {i}")),
        (None, None) => None,
    };
    let opts = RunOptions {
        jobs: args.jobs,
        case_timeout: Duration::from_secs(args.case_timeout.max(1)),
        seed: args.seed.unwrap_or(RunOptions::default().seed),
        waivers,
        rerun: Arc::new(move |c: &Case| match &rerun_target {
            Some(t) => format!("touchstone check {t} --filter {}", c.id),
            None => format!("touchstone check --filter {}", c.id),
        }),
        tool: concat!("touchstone ", env!("CARGO_PKG_VERSION")).to_owned(),
        ipmi: ipmi_opts,
        resources: args.resources.clone(),
    };
    // For the reports of a run that cannot start.
    let report_opts = opts.clone();
    let target_label = match (&args.target, &args.ipmi) {
        (_, Some(i)) if args.target.is_none() => format!("ipmi://{i}"),
        _ => url.clone(),
    };
    let not_run = |why: &str| conformance::run::not_run(&cases, &report_opts, &target_label, why);
    let prepared = if args.target.is_none() && !embedded {
        conformance::run::Runner::prepare_ipmi(opts).await
    } else {
        conformance::run::Runner::prepare(client, &cases, opts).await
    };
    let runner = match prepared {
        Ok(r) => r,
        Err(e @ (RunError::Unreachable { .. } | RunError::IpmiUnreachable(_))) => {
            eprintln!("touchstone check: {e}");
            let code = write_reports(&args, &not_run(&e.to_string()));
            return ExitCode::from(code.max(3));
        }
        // Reached, but Identify got no answer at all: as unreachable as refused.
        Err(RunError::Client { url, source }) if source.is_unanswered() => {
            let why = match &source {
                client::ClientError::Timeout { after, .. } => format!(
                    "Identify got no answer within {} s (--case-timeout)",
                    after.as_secs_f64()
                ),
                other => format!("Identify got no answer: {other}"),
            };
            eprintln!("touchstone check: target {url} is unreachable: {why}");
            let code = write_reports(
                &args,
                &not_run(&format!("the target is unreachable: {why}")),
            );
            return ExitCode::from(code.max(3));
        }
        Err(e) => {
            write_reports(&args, &not_run(&e.to_string()));
            return usage(e);
        }
    };
    print_discovery(runner.capabilities());
    let tty = std::io::stderr().is_terminal();
    let bar = tty.then(|| {
        let bar = indicatif::ProgressBar::new(cases.len() as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed} {msg}")
        {
            bar.set_style(style);
        }
        bar
    });
    let report = runner
        .run(&cases, |r| match &bar {
            Some(b) => {
                b.set_message(r.id.clone());
                b.inc(1);
            }
            None => match (r.outcome, &r.message) {
                // A skip says why on its own line: that is the whole point of a skip.
                (Outcome::Skip, Some(why)) => println!("{:<5} {} ({why})", label(r), r.id),
                _ => println!(
                    "{:<5} {} ({:.1} ms)",
                    label(r),
                    r.id,
                    r.duration_us as f64 / 1e3
                ),
            },
        })
        .await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    print_problems(&report);
    print_summary(&report);
    let code = report.exit_code().max(write_reports(&args, &report));
    if let Some(m) = mock {
        m.shutdown().await;
    }
    ExitCode::from(code)
}

/// What discovery found, before the cases: the product, the resource of each role
/// and the capabilities that are missing (the skips to come).
fn print_discovery(caps: &conformance::discover::Capabilities) {
    if caps.probes.is_empty() {
        return;
    }
    let (ipmi, wsman): (Vec<_>, Vec<_>) = caps
        .probes
        .iter()
        .partition(|p| p.what.starts_with("IPMI: "));
    if !ipmi.is_empty() {
        println!("IPMI discovery:");
        for p in &ipmi {
            let mark = if p.offered { "yes" } else { "no " };
            println!(
                "  {mark} {}: {}",
                p.what.trim_start_matches("IPMI: "),
                p.detail
            );
        }
    }
    if wsman.is_empty() {
        for (req, why) in &caps.missing {
            println!("  missing {req}: {why}");
        }
        println!();
        return;
    }
    println!(
        "discovery: {}",
        caps.product
            .as_deref()
            .unwrap_or("the target did not name its product")
    );
    for role in conformance::discover::ROLES {
        match caps.role(role) {
            Some(f) if f.selectors.is_empty() => println!("  {role:<11} {}", f.uri),
            Some(f) => println!(
                "  {role:<11} {} ({})",
                f.uri,
                f.selectors
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => println!("  {role:<11} none"),
        }
    }
    let offered: Vec<&str> = caps
        .probes
        .iter()
        .filter(|p| p.offered && p.what.starts_with("Enumerate "))
        .map(|p| {
            let uri = p.what.trim_start_matches("Enumerate ");
            uri.strip_prefix(wsman::ns::CIM_SCHEMA).unwrap_or(uri)
        })
        .collect();
    println!(
        "  {} enumerable resources: {}",
        offered.len(),
        offered.join(" ")
    );
    if let Some(p) = caps
        .probes
        .iter()
        .find(|p| p.offered && p.what.starts_with("Registered profiles"))
    {
        println!("  registered profiles: {}", p.detail);
    }
    for (req, why) in &caps.missing {
        if !req.starts_with("class:") {
            println!("  missing {req}: {why}");
        }
    }
    println!();
}

/// Writes the report files asked for; 2 when one cannot be written, else 0.
fn write_reports(args: &Args, report: &Report) -> u8 {
    let mut code = 0;
    for (path, text) in [
        (
            &args.junit,
            args.junit
                .as_ref()
                .map(|_| report::junit::to_string(report)),
        ),
        (
            &args.json,
            args.json.as_ref().map(|_| report::json::to_string(report)),
        ),
        (
            &args.html,
            args.html.as_ref().map(|_| report::html::to_string(report)),
        ),
    ] {
        if let (Some(p), Some(t)) = (path, text) {
            if let Err(e) = std::fs::write(p, t) {
                eprintln!("touchstone check: cannot write {}: {e}", p.display());
                code = 2;
            }
        }
    }
    code
}

fn label(r: &CaseResult) -> &'static str {
    match (r.outcome, &r.waiver) {
        (Outcome::Pass, Some(_)) => "STALE",
        (Outcome::Pass, None) => "PASS",
        (_, Some(_)) => "WAIVE",
        (Outcome::Fail, _) => "FAIL",
        (Outcome::Warn, _) => "WARN",
        (Outcome::Skip, _) => "SKIP",
        (Outcome::Error, _) => "ERROR",
    }
}

/// Whether `r` is a case the lost target kept from running (said once, not per case).
fn kept_from_running(report: &Report, r: &CaseResult) -> bool {
    report.target_lost.is_some() && r.outcome == Outcome::Error && r.message == report.target_lost
}

fn print_problems(report: &Report) {
    for r in &report.results {
        if !matches!(r.outcome, Outcome::Fail | Outcome::Warn | Outcome::Error)
            || kept_from_running(report, r)
        {
            continue;
        }
        println!();
        println!("{} {} [{}] {}", label(r), r.id, r.level.as_str(), r.title);
        println!("  clause:   {}", r.clause);
        if let Some(e) = &r.expected {
            println!("  expected: {e}");
        }
        if let Some(g) = &r.got {
            println!("  got:      {g}");
        }
        if let (Some(m), None) = (&r.message, &r.expected) {
            println!("  message:  {m}");
        }
        if let Some(w) = &r.waiver {
            println!("  waived:   {}", w.reason);
        }
        println!("  rerun:    {}", r.rerun);
    }
    // What cases changed on the target and put back, whatever their outcome: the
    // operator of a real BMC wants to know.
    let changed: Vec<&CaseResult> = report
        .results
        .iter()
        .filter(|r| !r.changes.is_empty())
        .collect();
    if !changed.is_empty() {
        println!();
        println!("changed on the target (and restored):");
        for r in changed {
            for c in &r.changes {
                println!("  {}: {c}", r.id);
            }
        }
    }
    // Findings grouped by rule: a server that breaks a rule usually breaks it in many
    // cases, and one block per rule says it once.
    let mut by_rule: BTreeMap<(&str, bool), Vec<(&CaseResult, &conformance::rules::RuleFinding)>> =
        BTreeMap::new();
    for (r, f) in report.findings() {
        by_rule
            .entry((f.rule.as_str(), f.waiver.is_some()))
            .or_default()
            .push((r, f));
    }
    for ((rule, waived), seen) in by_rule {
        let (first_case, first) = seen[0];
        let tag = match (waived, first.outcome) {
            (true, _) => "WAIVE",
            (false, Outcome::Fail) => "FAIL",
            _ => "WARN",
        };
        println!();
        println!("{tag} {rule} [{}] {}", first.level.as_str(), first.title);
        println!("  clause:   {}", first.clause);
        let ids: Vec<&str> = seen.iter().map(|(r, _)| r.id.as_str()).collect();
        let shown = ids.iter().take(6).copied().collect::<Vec<_>>().join(", ");
        let more = ids.len().saturating_sub(6);
        println!(
            "  seen in:  {} case(s): {shown}{}",
            ids.len(),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        println!("  got:      {} (in {})", first.message, first_case.id);
        if let Some(w) = &first.waiver {
            println!("  waived:   {}", w.reason);
        }
        println!("  rerun:    {}", first_case.rerun);
    }
    for r in report.stale_waivers() {
        if let Some(w) = &r.waiver {
            println!(
                "\nSTALE waiver `{}` ({}): {} passes now",
                w.pattern, w.reason, r.id
            );
        }
    }
}

fn print_summary(report: &Report) {
    println!();
    println!(
        "touchstone check: {} ({})",
        report.target,
        report.product.as_deref().unwrap_or("unidentified")
    );
    if let Some(lost) = &report.target_lost {
        let kept: Vec<&str> = report
            .results
            .iter()
            .filter(|r| kept_from_running(report, r))
            .map(|r| r.id.as_str())
            .collect();
        // The reports list them all; the terminal gets the first few.
        const SHOWN: usize = 8;
        let more = match kept.len().saturating_sub(SHOWN) {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        println!(
            "TARGET LOST: {lost}; {} cases could not be run (errors): {}{more}",
            kept.len(),
            kept[..kept.len().min(SHOWN)].join(", ")
        );
    }
    let header: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    println!(
        "{:<14}{}",
        "profile",
        header.iter().map(|h| format!("{h:>7}")).collect::<String>()
    );
    let row = |name: &str, m: &BTreeMap<Outcome, usize>| {
        let cells: String = Outcome::ALL
            .iter()
            .map(|o| format!("{:>7}", m.get(o).copied().unwrap_or(0)))
            .collect();
        println!("{name:<14}{cells}");
    };
    for (p, m) in report.by_profile() {
        row(&p, &m);
    }
    row("all", &report.counts());
    let c = report.counts();
    println!(
        "{} cases: {} passed, {} failed, {} warned, {} skipped, {} errors in {:.2} s (seed {}, {} jobs)",
        report.results.len(),
        c[&Outcome::Pass],
        c[&Outcome::Fail],
        c[&Outcome::Warn],
        c[&Outcome::Skip],
        c[&Outcome::Error],
        report.duration_us as f64 / 1e6,
        report.seed,
        report.jobs
    );
    let (must, should) = report.finding_counts();
    if must + should > 0 {
        println!(
            "rules every answer is held to: {must} MUST and {should} SHOULD finding(s) \
             (see above; waive with the rule ID or CASE-ID#RULE-ID)"
        );
    }
}
