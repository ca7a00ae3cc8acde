//! `touchstone check`: the conformance suite against a target, or against the
//! embedded mock when no target is given.
//!
//! The engine (cases, runner, waivers, reports) is the `conformance` crate; this
//! module only chooses the subject and its credentials (flags, files, environment),
//! shows progress (a bar on a TTY, one line per case otherwise; colour, `--quiet`),
//! prints failures with a rerun command that reproduces them without printing a
//! secret, and the summary, writes the report files and maps the run to the CLI
//! contract's exit codes: 0 every required case passes, 1 a required (MUST) case
//! failed (a case deadline that passed is a failure: the target was too slow), 2 usage
//! or harness error, 3 the target is unreachable, stopped answering during the run, or
//! would not take the credentials (said once; reports still written).

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use conformance::case::Outcome;
use conformance::report::{self, CaseResult, Report};
use conformance::{Case, RunError, RunOptions, Suite, Waivers};

/// `--targets`: the suite against every machine of an inventory.
#[path = "fleet_check.rs"]
mod fleet_check;

/// Runs the conformance suite.
///
/// Discovery comes first: Identify (authenticated, then unauthenticated), then every
/// resource of a well-known list (DMTF CIM classes, WinRM's config and WMI cimv2 URIs,
/// AMT/IPS classes; --resource URIs first) is enumerated, got and, for a few, put back
/// unchanged and with one property changed and restored; then fragment-level Get, the
/// selector and WQL filters and (when a case needs it) the cmd shell. Protocol cases
/// run on the resources found (roles: enumerable, gettable, keyed, writable); a case
/// whose capability is missing is skipped with the reason on its SKIP line. What
/// discovery saw is printed first and kept in every report.
///
/// Credentials: --user or TOUCHSTONE_USER; the password from --password-file, the
/// TOUCHSTONE_PASSWORD environment variable or --password (visible to other users in
/// the process list: prefer the other two). IPMI likewise: --ipmi-user or
/// TOUCHSTONE_IPMI_USER, --ipmi-password-file, TOUCHSTONE_IPMI_PASSWORD or
/// --ipmi-password (default: the WS-Man ones), TOUCHSTONE_IPMI_OPERATOR and
/// TOUCHSTONE_IPMI_USER_ACCOUNT for the second accounts. The environment is read only
/// when a target is given (the embedded mock has its own accounts). HTTP
/// authentication: Basic and Digest are answered; a target that offers only
/// Negotiate/NTLM (WinRM's default, pywinrm's transport="ntlm") is told apart by the
/// authentication check: allow Basic (over HTTP, AllowUnencrypted) or use HTTPS.
/// Printed rerun commands never carry a password: they name the variable to set.
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
///   2  usage or harness error (bad arguments, a suite, waiver or password file that
///      does not load, a case the harness could not run, a report that cannot be
///      written);
///   3  the target is unreachable: the WS-Man target did not answer Identify at all
///      (refused, timed out, or closed the connection), the IPMI target answered
///      neither the ping nor the authentication capabilities, or the WS-Man target
///      stopped answering during the run. Then "the target stopped answering after
///      case X" is printed once, the cases it kept from running are errors with that
///      message, and every report is still written (JSON `target_lost`, a JUnit
///      `touchstone.target_lost` property, a banner in the HTML). Also 3: the target
///      would not take the credentials: one verdict, "authentication failed (Basic,
///      Digest and Negotiate offered; 401 for ...)", every selected case an error
///      with that reason in the reports; likewise a BMC that refuses the IPMI
///      administrator's login (wrong password, unknown user).
#[derive(clap::Args, Debug, Clone)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The WS-Management endpoint (`http(s)://host:port/wsman`). Without it the embedded
    /// mock is started and checked (default scenario, admin/admin).
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// Check every machine of a fleet inventory (the JSON `touchstone serve --fleet`
    /// writes, or a CSV with a header row: at least `wsman_url` or `ipmi`; `id`, `user`,
    /// `password`, `ipmi_user`, `ipmi_password`, `chaos`... optional, credentials
    /// defaulting to the ones given here). Writes one report per target and the fleet
    /// summary into --out DIR; --jobs targets at once.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["target", "ipmi", "junit", "json", "html"], requires = "out")]
    targets: Option<PathBuf>,
    /// With --targets: the output directory (`targets/<id>.json` and `.xml`, `summary.json`,
    /// summary.html, junit.xml, shard.json); `touchstone report merge` merges several.
    #[arg(long, value_name = "DIR", requires = "targets")]
    out: Option<PathBuf>,
    /// Take a deterministic share: `I/N` (0 <= I < N) or `auto` (TOUCHSTONE_SHARD=I/N,
    /// then JOB_COMPLETION_INDEX with TOUCHSTONE_SHARD_COUNT, then GitLab's
    /// CI_NODE_INDEX/CI_NODE_TOTAL). Of a fleet: the k-th target in id order goes to
    /// shard k % N. Of one target's cases (--target, or an inventory of one): the same
    /// over the cases in suite order, destructive and IPMI cases all in shard 0.
    #[arg(long, value_name = "I/N|auto", value_parser = parse_shard)]
    shard: Option<conformance::shard::ShardSpec>,
    /// With --targets: cases run at once on each target (default 2).
    #[arg(long, value_name = "N", requires = "targets")]
    case_jobs: Option<usize>,
    /// User name for HTTP authentication (Basic or Digest; a target offering only
    /// Negotiate/NTLM is reported as such). Default: $TOUCHSTONE_USER.
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Password (seen by anyone who can list processes: prefer $TOUCHSTONE_PASSWORD or
    /// --password-file).
    #[arg(long, value_name = "PASSWORD", conflicts_with = "password_file")]
    password: Option<String>,
    /// Read the password from the first line of this file.
    #[arg(long, value_name = "F")]
    password_file: Option<PathBuf>,
    /// Run only cases of this profile (repeatable).
    #[arg(long = "profile", value_name = "P")]
    profiles: Vec<String>,
    /// Run only cases whose ID or test name matches (repeatable: any of them): an exact
    /// ID, a glob (`wsman.http.*`) or a substring.
    #[arg(long = "filter", value_name = "PAT")]
    filters: Vec<String>,
    /// Leave out the cases that match (repeatable; the same patterns as --filter).
    #[arg(long = "skip", value_name = "PAT")]
    skips: Vec<String>,
    /// List the selected cases and exit.
    #[arg(long)]
    list: bool,
    /// How --list prints: `text` (a table) or `json` (one array of {id, title, level,
    /// profiles, requires, clause}).
    #[arg(long, value_enum, default_value_t = ListFormat::Text, requires = "list")]
    format: ListFormat,
    /// Stop starting cases after the first required (MUST) failure; the cases not run
    /// are reported as skipped ("not run: --fail-fast") and the reports still written.
    #[arg(long)]
    fail_fast: bool,
    /// Where the event sink of the eventing cases listens (`IP:PORT`; default
    /// 127.0.0.1 on a free port). Push subscriptions name `http://ADDR/sink/...` as
    /// their NotifyTo, so for a target on another host give an address of this machine
    /// that the target can reach (`--event-sink 192.0.2.10:8085`); a wildcard (0.0.0.0)
    /// names no such address and skips the push cases with that reason.
    #[arg(long, value_name = "ADDR")]
    event_sink: Option<std::net::SocketAddr>,
    /// The PowerShell session configuration the `psrp` cases open runspace pools on:
    /// a name (`--psrp-configuration Touchstone.JEA`) or a whole resource URI; default
    /// Microsoft.PowerShell. A JEA endpoint that hides a cmdlet a case runs skips that
    /// case with the error it answered.
    #[arg(long, value_name = "NAME")]
    psrp_configuration: Option<String>,
    /// Print only failures and the summary.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Colour the console: `auto` (on a terminal, unless NO_COLOR is set), `always` or
    /// `never`.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    color: ColorChoice,
    /// Cases run at once (default 4; the report order does not depend on it). With
    /// --targets: targets checked at once (default 16).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
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
    #[arg(long, default_value_t = DEFAULT_CASE_TIMEOUT, value_name = "S")]
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
    /// The BMC's IPMI-over-LAN address (UDP): `HOST`, `HOST:PORT`, `[IPv6]:PORT`; the
    /// port defaults to 623. Alone: the IPMI profiles only; with `--target`: WS-Man,
    /// IPMI and the `cross` profile.
    #[arg(long, value_name = "HOST[:PORT]")]
    ipmi: Option<String>,
    /// IPMI administrator user name (default: $TOUCHSTONE_IPMI_USER, then --user).
    #[arg(long, value_name = "USER")]
    ipmi_user: Option<String>,
    /// IPMI administrator password (prefer $TOUCHSTONE_IPMI_PASSWORD or
    /// --ipmi-password-file; default: the WS-Man password).
    #[arg(long, value_name = "PASSWORD", conflicts_with = "ipmi_password_file")]
    ipmi_password: Option<String>,
    /// Read the IPMI administrator password from the first line of this file.
    #[arg(long, value_name = "F")]
    ipmi_password_file: Option<PathBuf>,
    /// An operator-level IPMI account for the privilege cases (`USER:PASSWORD`; default
    /// $TOUCHSTONE_IPMI_OPERATOR; the embedded mock's operator/operator when checking
    /// it).
    #[arg(long, value_name = "USER:PASSWORD")]
    ipmi_operator: Option<String>,
    /// A user-level IPMI account for the privilege cases (`USER:PASSWORD`; default
    /// $TOUCHSTONE_IPMI_USER_ACCOUNT).
    #[arg(long, value_name = "USER:PASSWORD")]
    ipmi_user_account: Option<String>,
    /// Seconds to stay idle in the idle-timeout case (the target's session timeout plus
    /// a margin; without it the case is skipped).
    #[arg(long, value_name = "S")]
    ipmi_idle_wait: Option<u64>,
    /// How long a dropped IPMI packet is waited for, in milliseconds.
    #[arg(long, default_value_t = DEFAULT_IPMI_SILENCE_MS, value_name = "MS")]
    ipmi_silence_ms: u64,
}

const DEFAULT_CASE_TIMEOUT: u64 = 30;
/// Cases run at once on one target.
const DEFAULT_JOBS: usize = 4;
const DEFAULT_IPMI_SILENCE_MS: u64 = 500;
/// The IPMI-over-LAN port (RMCP, "asf-rmcp").
const IPMI_PORT: u16 = 623;

/// How `--list` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ListFormat {
    Text,
    Json,
}

/// When the console is coloured.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

fn parse_shard(s: &str) -> Result<conformance::shard::ShardSpec, String> {
    s.parse()
        .map_err(|e: conformance::shard::ShardError| e.to_string())
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

/// `--ipmi` as `HOST:PORT` for the resolver: `HOST` and `[V6]` get port 623, and so
/// does a bare IPv6 address (more than one colon, no brackets).
fn ipmi_host_port(s: &str) -> Result<String, String> {
    let bad = || format!("--ipmi `{s}`: expected HOST, HOST:PORT or [IPv6]:PORT");
    let port_ok = |p: &str| p.parse::<u16>().is_ok();
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        if host.is_empty() {
            return Err(bad());
        }
        return match after {
            "" => Ok(format!("[{host}]:{IPMI_PORT}")),
            p => match p.strip_prefix(':') {
                Some(port) if port_ok(port) => Ok(s.to_owned()),
                _ => Err(bad()),
            },
        };
    }
    match s.matches(':').count() {
        0 if !s.is_empty() => Ok(format!("{s}:{IPMI_PORT}")),
        1 => match s.split_once(':') {
            Some((host, port)) if !host.is_empty() && port_ok(port) => Ok(s.to_owned()),
            _ => Err(bad()),
        },
        n if n > 1 => Ok(format!("[{s}]:{IPMI_PORT}")),
        _ => Err(bad()),
    }
}

/// Where a secret came from: what a rerun command needs to reproduce it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// On the command line.
    Flag,
    /// A file (the rerun names the same file).
    File(PathBuf),
    /// An environment variable.
    Env,
}

/// A secret and where it came from.
#[derive(Debug, Clone)]
struct Secret {
    value: String,
    source: Source,
}

/// The first line of a password file (without its line ending).
fn read_secret_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the password file {}: {e}", path.display()))?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// An environment variable, when set and not empty.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A secret from its flag, its file or its variable (in that order).
fn secret(
    flag: &Option<String>,
    file: &Option<PathBuf>,
    var: Option<&str>,
) -> Result<Option<Secret>, String> {
    if let Some(v) = flag {
        return Ok(Some(Secret {
            value: v.clone(),
            source: Source::Flag,
        }));
    }
    if let Some(p) = file {
        return Ok(Some(Secret {
            value: read_secret_file(p)?,
            source: Source::File(p.clone()),
        }));
    }
    Ok(var.and_then(env_var).map(|value| Secret {
        value,
        source: Source::Env,
    }))
}

/// Every credential of the run, resolved once.
#[derive(Debug, Clone)]
struct Credentials {
    /// The WS-Man user (also the IPMI one by default).
    user: Option<String>,
    password: Option<Secret>,
    ipmi_user: Option<String>,
    /// Only when given for IPMI (else the WS-Man password, then `admin`).
    ipmi_password: Option<Secret>,
    operator: Option<Secret>,
    user_account: Option<Secret>,
    /// Whether the environment was read (a target given).
    from_env: bool,
}

impl Credentials {
    fn resolve(args: &Args) -> Result<Credentials, String> {
        // The embedded mock has its own accounts: a shell's BMC password is not for it.
        let from_env = args.target.is_some() || args.ipmi.is_some() || args.targets.is_some();
        let var = |name| from_env.then_some(name);
        let user = args
            .user
            .clone()
            .or_else(|| var("TOUCHSTONE_USER").and_then(env_var));
        let password = secret(
            &args.password,
            &args.password_file,
            var("TOUCHSTONE_PASSWORD"),
        )?;
        let ipmi_user = args
            .ipmi_user
            .clone()
            .or_else(|| var("TOUCHSTONE_IPMI_USER").and_then(env_var));
        let ipmi_password = secret(
            &args.ipmi_password,
            &args.ipmi_password_file,
            var("TOUCHSTONE_IPMI_PASSWORD"),
        )?;
        let operator = secret(&args.ipmi_operator, &None, var("TOUCHSTONE_IPMI_OPERATOR"))?;
        let user_account = secret(
            &args.ipmi_user_account,
            &None,
            var("TOUCHSTONE_IPMI_USER_ACCOUNT"),
        )?;
        for a in [&operator, &user_account].into_iter().flatten() {
            if account(&a.value).is_none() {
                return Err(match a.source {
                    Source::Flag => format!("`{}`: expected USER:PASSWORD", a.value),
                    _ => "TOUCHSTONE_IPMI_OPERATOR / TOUCHSTONE_IPMI_USER_ACCOUNT: expected \
                          USER:PASSWORD"
                        .to_owned(),
                });
            }
        }
        Ok(Credentials {
            user,
            password,
            ipmi_user,
            ipmi_password,
            operator,
            user_account,
            from_env,
        })
    }
}

/// `s` as one shell word: as is when it has nothing the shell would read, else in
/// single quotes.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A rerun command being written: its words and the variables it needs set.
struct Rerun<'c> {
    words: Vec<String>,
    needs: Vec<String>,
    creds: &'c Credentials,
}

impl Rerun<'_> {
    fn arg(&mut self, flag: &str, value: &str) {
        self.words.push(flag.to_owned());
        self.words.push(shell_word(value));
    }

    /// A secret: its file by name, else the variable to set (or, with the environment
    /// not read, the flag to give again); never its value.
    fn secret(&mut self, s: &Option<Secret>, file_flag: &str, var: &str) {
        match s.as_ref().map(|s| &s.source) {
            Some(Source::File(p)) => self.arg(file_flag, &p.to_string_lossy()),
            Some(Source::Flag | Source::Env) if self.creds.from_env => {
                self.needs.push(var.to_owned())
            }
            Some(Source::Flag | Source::Env) => self
                .needs
                .push(format!("the {} given", file_flag.trim_end_matches("-file"))),
            None => {}
        }
    }
}

/// The rerun command of a case, less its `--filter ID`: the same subject, credentials
/// (files by name, the others through their environment variables, never their
/// values), suites, waivers and settings that change a verdict. The second string is
/// a trailing shell comment naming the variables the command needs set.
fn rerun_prefix(args: &Args, creds: &Credentials) -> (String, String) {
    let mut r = Rerun {
        words: vec!["touchstone".into(), "check".into()],
        needs: Vec::new(),
        creds,
    };
    if let Some(d) = &args.suites {
        r.arg("--suites", &d.to_string_lossy());
    }
    if let Some(t) = &args.target {
        r.arg("--target", t);
    }
    if let Some(i) = &args.ipmi {
        r.arg("--ipmi", i);
    }
    if let Some(u) = &creds.user {
        r.arg("--user", u);
    }
    r.secret(&creds.password, "--password-file", "TOUCHSTONE_PASSWORD");
    if let Some(u) = &creds.ipmi_user {
        r.arg("--ipmi-user", u);
    }
    r.secret(
        &creds.ipmi_password,
        "--ipmi-password-file",
        "TOUCHSTONE_IPMI_PASSWORD",
    );
    r.secret(
        &creds.operator,
        "--ipmi-operator",
        "TOUCHSTONE_IPMI_OPERATOR",
    );
    r.secret(
        &creds.user_account,
        "--ipmi-user-account",
        "TOUCHSTONE_IPMI_USER_ACCOUNT",
    );
    if args.insecure {
        r.words.push("--insecure".into());
    }
    if let Some(ca) = &args.cacert {
        r.arg("--cacert", &ca.to_string_lossy());
    }
    for res in &args.resources {
        let sels: Vec<String> = res
            .selectors
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        match sels.is_empty() {
            true => r.arg("--resource", &res.uri),
            false => r.arg("--resource", &format!("{}?{}", res.uri, sels.join("&"))),
        }
    }
    if let Some(w) = &args.waivers {
        r.arg("--waivers", &w.to_string_lossy());
    }
    if let Some(seed) = args.seed {
        r.arg("--seed", &seed.to_string());
    }
    if args.case_timeout != DEFAULT_CASE_TIMEOUT {
        r.arg("--case-timeout", &args.case_timeout.to_string());
    }
    if let Some(w) = args.ipmi_idle_wait {
        r.arg("--ipmi-idle-wait", &w.to_string());
    }
    if args.ipmi_silence_ms != DEFAULT_IPMI_SILENCE_MS {
        r.arg("--ipmi-silence-ms", &args.ipmi_silence_ms.to_string());
    }
    let note = match r.needs.len() {
        0 => String::new(),
        _ if creds.from_env => format!(
            "  # with {} set in the environment (not printed)",
            and_list(&r.needs)
        ),
        _ => format!("  # with {} (not printed)", and_list(&r.needs)),
    };
    (r.words.join(" "), note)
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// How the console looks.
#[derive(Debug, Clone, Copy)]
struct Console {
    color: bool,
    quiet: bool,
}

impl Console {
    /// `label` padded to `width`, coloured by what it says.
    fn label(&self, label: &str, width: usize) -> String {
        let pad = " ".repeat(width.saturating_sub(label.len()));
        if !self.color {
            return format!("{label}{pad}");
        }
        let code = match label {
            "PASS" => "32",
            "FAIL" | "ERROR" | "TARGET LOST:" => "1;31",
            "WARN" | "STALE" => "33",
            "SKIP" => "36",
            "WAIVE" => "35",
            _ => return format!("{label}{pad}"),
        };
        format!("\x1b[{code}m{label}\x1b[0m{pad}")
    }
}

/// Whether the console is coloured: `--color`, then NO_COLOR (set and not empty: no
/// colour), then whether stdout is a terminal that can show it.
fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            env_var("NO_COLOR").is_none()
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
                && std::io::stdout().is_terminal()
        }
    }
}

/// The selected cases: those of the profiles that match any `--filter` (all without
/// one), less those that match a `--skip`, in suite order.
fn select(suite: &Suite, args: &Args) -> Vec<Case> {
    let matching = |pats: &[String]| -> BTreeSet<String> {
        pats.iter()
            .flat_map(|p| suite.select(&args.profiles, Some(p)))
            .map(|c| c.id)
            .collect()
    };
    let wanted = (!args.filters.is_empty()).then(|| matching(&args.filters));
    let skipped = matching(&args.skips);
    suite
        .select(&args.profiles, None)
        .into_iter()
        .filter(|c| wanted.as_ref().is_none_or(|w| w.contains(&c.id)) && !skipped.contains(&c.id))
        .collect()
}

/// `--list`: a table, or one JSON array. A closed pipe (`| head`) ends it quietly.
fn list(cases: &[Case], format: ListFormat) -> ExitCode {
    let text = match format {
        ListFormat::Text => cases
            .iter()
            .map(|c| {
                format!(
                    "{:<60} {:<6} {}\n",
                    c.id,
                    c.level.as_str(),
                    c.profiles.join(",")
                )
            })
            .collect::<String>(),
        ListFormat::Json => {
            let doc: Vec<serde_json::Value> = cases
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "id": c.id,
                        "title": c.title,
                        "level": c.level.as_str(),
                        "profiles": c.profiles,
                        "requires": c.requires,
                        "clause": c.clause,
                    })
                })
                .collect();
            match serde_json::to_string_pretty(&doc) {
                Ok(text) => text + "\n",
                Err(e) => return usage(format!("cannot write the list: {e}")),
            }
        }
    };
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            usage(format!("cannot write the list: {e}"))
        }
        _ => ExitCode::SUCCESS,
    }
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
    if args.jobs == Some(0) || args.case_jobs == Some(0) {
        return usage("--jobs and --case-jobs must be at least 1");
    }
    let cases = select(&suite, &args);
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
    // One target's share of the cases; a fleet's share is taken by `fleet_check`.
    let cases = match (args.shard, &args.targets) {
        (Some(spec), None) => match spec.resolve(env_var) {
            Ok(shard) => shard.cases(&cases),
            Err(e) => return usage(format!("--shard {e}")),
        },
        _ => cases,
    };
    if args.list {
        return list(&cases, args.format);
    }
    let creds = match Credentials::resolve(&args) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    if cases.is_empty() {
        return usage("no case matches the given profiles, filters and skips");
    }
    let ipmi_addr = match &args.ipmi {
        Some(a) => match ipmi_host_port(a) {
            Ok(hp) => Some(hp),
            Err(e) => return usage(e),
        },
        None => None,
    };
    let waivers = match &args.waivers {
        Some(p) => match Waivers::load(p) {
            Ok(w) => w,
            Err(e) => return usage(e),
        },
        None => Waivers::default(),
    };
    if args.targets.is_some() {
        return fleet_check::run(args, creds, cases, waivers);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return usage(format!("cannot start the runtime: {e}")),
    };
    rt.block_on(check(args, creds, ipmi_addr, cases, waivers))
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

async fn check(
    args: Args,
    creds: Credentials,
    ipmi_addr: Option<String>,
    cases: Vec<Case>,
    waivers: Waivers,
) -> ExitCode {
    let console = Console {
        color: use_color(args.color),
        quiet: args.quiet,
    };
    let embedded = args.target.is_none() && args.ipmi.is_none();
    let mut short_idle = false;
    let password = creds.password.as_ref().map(|s| s.value.clone());
    let (mock, url, user, password) = match &args.target {
        Some(url) => (None, url.clone(), creds.user.clone(), password),
        None if !embedded => (None, String::new(), creds.user.clone(), password),
        None => match embedded_mock().await {
            Ok((m, short)) => {
                short_idle = short;
                let url = m.url();
                if !console.quiet {
                    eprintln!("touchstone check: no --target, checking the embedded mock at {url}");
                }
                let user = creds.user.clone().or(Some("admin".into()));
                let password = password.or(Some("admin".into()));
                (Some(m), url, user, password)
            }
            Err(e) => return usage(format!("cannot start the embedded mock: {e}")),
        },
    };
    if args.target.is_some() && user.is_some() && password.is_none() {
        eprintln!(
            "touchstone check: a user but no password (--password-file, TOUCHSTONE_PASSWORD or \
             --password): an empty password is sent"
        );
    }
    // IPMI alone: the WS-Man client is never used (its cases are not selected).
    let url = if url.is_empty() {
        "http://127.0.0.1/wsman".to_owned()
    } else {
        url
    };
    let mut target =
        client::Target::new(url.clone()).timeout(Duration::from_secs(args.case_timeout.max(1)));
    if let Some(u) = &user {
        target = target.credentials(u.clone(), password.clone().unwrap_or_default());
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
    let ipmi_label = ipmi_addr.clone();
    let ipmi_addr = match (&ipmi_addr, &mock) {
        (Some(a), _) => {
            use std::net::ToSocketAddrs as _;
            match a.to_socket_addrs().map(|mut i| i.next()) {
                Ok(Some(addr)) => Some(addr),
                Ok(None) => return usage(format!("--ipmi `{a}`: no address")),
                Err(e) => return usage(format!("--ipmi `{a}`: {e}")),
            }
        }
        (None, Some(m)) => m.ipmi_addr(),
        (None, None) => None,
    };
    let ipmi_opts = ipmi_addr.map(|addr| {
        let u = creds
            .ipmi_user
            .clone()
            .or(user.clone())
            .unwrap_or_else(|| "admin".into());
        let p = creds
            .ipmi_password
            .as_ref()
            .map(|s| s.value.clone())
            .or(password.clone())
            .unwrap_or_else(|| "admin".into());
        let mut t = client::ipmi::IpmiTarget::new(addr, &u, &p);
        t.retry.timeout = Duration::from_secs(1);
        let mut o = conformance::ipmi::IpmiOptions::new(t);
        let defaults = |name: &str| mock.as_ref().map(|_| (name.to_owned(), name.to_owned()));
        let given = |s: &Option<Secret>| s.as_ref().and_then(|s| account(&s.value));
        o.operator = given(&creds.operator).or_else(|| defaults("operator"));
        o.user = given(&creds.user_account).or_else(|| defaults("user"));
        o.idle_wait = args
            .ipmi_idle_wait
            .map(Duration::from_secs)
            .or_else(|| short_idle.then_some(EMBEDDED_IDLE_WAIT));
        o.silence = Duration::from_millis(args.ipmi_silence_ms);
        o
    });
    let (rerun_cmd, rerun_note) = rerun_prefix(&args, &creds);
    let opts = RunOptions {
        jobs: args.jobs.unwrap_or(DEFAULT_JOBS),
        case_timeout: Duration::from_secs(args.case_timeout.max(1)),
        seed: args.seed.unwrap_or(RunOptions::default().seed),
        waivers,
        rerun: Arc::new(move |c: &Case| {
            format!("{rerun_cmd} --filter {}{rerun_note}", shell_word(&c.id))
        }),
        tool: concat!("touchstone ", env!("CARGO_PKG_VERSION")).to_owned(),
        ipmi: ipmi_opts,
        resources: args.resources.clone(),
        fail_fast: args.fail_fast,
        event_sink: args.event_sink,
        psrp_configuration: args.psrp_configuration.clone(),
    };
    // For the reports of a run that cannot start.
    let report_opts = opts.clone();
    let target_label = match (&args.target, &ipmi_label) {
        (None, Some(i)) => format!("ipmi://{i}"),
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
        Err(
            e @ (RunError::Unreachable { .. }
            | RunError::IpmiUnreachable(_)
            | RunError::IpmiAuthFailed(_)
            | RunError::AuthFailed { .. }),
        ) => {
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
    if !console.quiet {
        print_discovery(runner.capabilities());
    }
    // A bar only when both streams are a terminal: piped output gets one line per case.
    let tty = std::io::stderr().is_terminal() && std::io::stdout().is_terminal();
    let bar = (tty && !console.quiet).then(|| {
        let bar = indicatif::ProgressBar::new(cases.len() as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed} {msg}")
        {
            bar.set_style(style);
        }
        bar
    });
    let report = runner
        .run(&cases, |r| {
            let line = case_line(&console, r);
            match &bar {
                Some(b) => {
                    // Above the bar: everything but a pass (a skip says why).
                    if r.outcome != Outcome::Pass || r.waiver.is_some() {
                        b.println(line);
                    }
                    b.set_message(r.id.clone());
                    b.inc(1);
                }
                None if console.quiet => {}
                None => println!("{line}"),
            }
        })
        .await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    print_problems(&console, &report);
    print_summary(&console, &report);
    let code = report.exit_code().max(write_reports(&args, &report));
    if let Some(m) = mock {
        m.shutdown().await;
    }
    ExitCode::from(code)
}

/// The console line of one finished case: a skip says why.
fn case_line(console: &Console, r: &CaseResult) -> String {
    let label = console.label(label(r), 5);
    match (r.outcome, &r.message) {
        (Outcome::Skip, Some(why)) => format!("{label} {} ({why})", r.id),
        _ => format!("{label} {} ({:.1} ms)", r.id, r.duration_us as f64 / 1e3),
    }
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

fn print_problems(console: &Console, report: &Report) {
    for r in &report.results {
        if !matches!(r.outcome, Outcome::Fail | Outcome::Warn | Outcome::Error)
            || kept_from_running(report, r)
        {
            continue;
        }
        println!();
        println!(
            "{} {} [{}] {}",
            console.label(label(r), 0),
            r.id,
            r.level.as_str(),
            r.title
        );
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
    if !changed.is_empty() && !console.quiet {
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
        println!(
            "{} {rule} [{}] {}",
            console.label(tag, 0),
            first.level.as_str(),
            first.title
        );
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
                "\n{} waiver `{}` ({}): {} passes now",
                console.label("STALE", 0),
                w.pattern,
                w.reason,
                r.id
            );
        }
    }
}

fn print_summary(console: &Console, report: &Report) {
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
            "{} {lost}; {} cases could not be run (errors): {}{more}",
            console.label("TARGET LOST:", 0),
            kept.len(),
            kept[..kept.len().min(SHOWN)].join(", ")
        );
    }
    let not_run = report
        .results
        .iter()
        .filter(|r| r.message.as_deref() == Some(conformance::run::NOT_RUN_FAIL_FAST))
        .count();
    if not_run > 0 {
        println!(
            "--fail-fast: stopped after the first required failure; {not_run} case(s) not run \
             (reported as skipped)"
        );
    }
    // Quiet: the totals line without the table.
    if !console.quiet {
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
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipmi_addresses_get_port_623_when_none_is_given() {
        let ok = |s: &str| ipmi_host_port(s).unwrap();
        assert_eq!(ok("bmc.example"), "bmc.example:623");
        assert_eq!(ok("10.0.0.5"), "10.0.0.5:623");
        assert_eq!(ok("10.0.0.5:6230"), "10.0.0.5:6230");
        assert_eq!(ok("[fe80::1]"), "[fe80::1]:623");
        assert_eq!(ok("[::1]:40000"), "[::1]:40000");
        assert_eq!(ok("::1"), "[::1]:623");
        for bad in [
            "",
            ":623",
            "host:",
            "host:x",
            "host:70000",
            "[::1",
            "[]",
            "[::1]x",
        ] {
            let e = ipmi_host_port(bad).unwrap_err();
            assert!(e.contains("expected HOST"), "{bad}: {e}");
        }
    }

    #[test]
    fn shell_words_survive_sh() {
        assert_eq!(shell_word("wsman.core.to"), "wsman.core.to");
        assert_eq!(shell_word("http://h:5985/wsman"), "http://h:5985/wsman");
        assert_eq!(shell_word("URI?Name=x&Id=2"), "'URI?Name=x&Id=2'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        // What sh makes of them is the text again.
        for w in ["a b", "$HOME", "x&y;z", "it's", "*"] {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("printf %s {}", shell_word(w))])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), w);
        }
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(argv: &[&str]) -> Args {
        use clap::Parser as _;
        Cli::try_parse_from(std::iter::once("check").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn rerun_commands_carry_every_setting_and_no_secret() {
        let dir = std::env::temp_dir().join(format!("ts-rerun-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pw = dir.join("ipmi pw");
        std::fs::write(&pw, "file-secret\r\nsecond line").unwrap();
        let a = args(&[
            "--target",
            "https://bmc:5986/wsman",
            "--ipmi",
            "bmc",
            "--user",
            "root",
            "--password",
            "flag-secret",
            "--ipmi-password-file",
            pw.to_str().unwrap(),
            "--ipmi-operator",
            "op:op-secret",
            // Every credential given, so that none comes from the test's environment.
            "--ipmi-user",
            "admin2",
            "--ipmi-user-account",
            "u:u-secret",
            "--insecure",
            "--resource",
            "http://v/Settings?Name=eth0&Id=2",
            "--seed",
            "7",
            "--case-timeout",
            "5",
        ]);
        let creds = Credentials::resolve(&a).unwrap();
        assert_eq!(
            creds.ipmi_password.as_ref().unwrap().value,
            "file-secret",
            "the first line, without its line ending"
        );
        let (cmd, note) = rerun_prefix(&a, &creds);
        assert_eq!(
            cmd,
            format!(
                "touchstone check --target https://bmc:5986/wsman --ipmi bmc --user root \
                 --ipmi-user admin2 --ipmi-password-file '{}' --insecure --resource \
                 'http://v/Settings?Name=eth0&Id=2' --seed 7 --case-timeout 5",
                pw.display()
            )
        );
        assert_eq!(
            note,
            "  # with TOUCHSTONE_PASSWORD, TOUCHSTONE_IPMI_OPERATOR and \
             TOUCHSTONE_IPMI_USER_ACCOUNT set in the environment (not printed)"
        );
        for secret in ["flag-secret", "file-secret", "op-secret", "u-secret"] {
            assert!(!cmd.contains(secret) && !note.contains(secret));
        }
        // The embedded mock: nothing from the environment, a flag given again.
        let a = args(&["--user", "admin", "--password", "admin"]);
        let (cmd, note) = rerun_prefix(&a, &Credentials::resolve(&a).unwrap());
        assert_eq!(cmd, "touchstone check --user admin");
        assert_eq!(note, "  # with the --password given (not printed)");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn and_lists_read_as_english() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(and_list(&v(&[])), "");
        assert_eq!(and_list(&v(&["A"])), "A");
        assert_eq!(and_list(&v(&["A", "B"])), "A and B");
        assert_eq!(and_list(&v(&["A", "B", "C"])), "A, B and C");
    }
}
