//! The conformance suite as a libtest-style test binary (libtest-mimic): one test per
//! case, named by its ID with `::` separators, so `--list`, `--exact NAME`, filters and
//! nextest work on it.
//!
//! The subject is chosen at run time, by environment variables (the harness takes no
//! options of its own):
//!
//! - `TOUCHSTONE_SUBJECT=URL` (with `TOUCHSTONE_USER` / `TOUCHSTONE_PASSWORD`): the
//!   WS-Management target. Unset: the embedded mock, started here through a
//!   dev-dependency (the library itself never links the mock), admin/admin.
//! - `TOUCHSTONE_IPMI=HOST[:PORT]` (port 623 by default): the IPMI target of the
//!   `ipmi.*` and `cross.*` cases, with `TOUCHSTONE_IPMI_USER` /
//!   `TOUCHSTONE_IPMI_PASSWORD` (default: the WS-Man credentials),
//!   `TOUCHSTONE_IPMI_OPERATOR=USER:PASSWORD` and `TOUCHSTONE_IPMI_USER_ACCOUNT=USER:PASSWORD`
//!   (the privilege cases' accounts) and `TOUCHSTONE_IPMI_IDLE_WAIT=SECONDS` (the
//!   idle-timeout case), as `touchstone check --ipmi` takes them. `TOUCHSTONE_IPMI=mock`
//!   (without `TOUCHSTONE_SUBJECT`) is the embedded mock's own IPMI listener, so the
//!   cross cases see one machine both ways (operator/operator and user/user accounts);
//!   it is the default when neither variable is set, so by default every case runs (the
//!   idle-timeout case needs `TOUCHSTONE_IPMI_IDLE_WAIT`). `TOUCHSTONE_IPMI=HOST`
//!   without `TOUCHSTONE_SUBJECT` checks IPMI alone, as `touchstone check --ipmi` alone
//!   does. With `TOUCHSTONE_SUBJECT` and no `TOUCHSTONE_IPMI`, the IPMI and cross cases
//!   are ignored, the reason saying which variable to set.
//!
//! `TOUCHSTONE_WAIVERS` names a waiver file (default for the mock:
//! `tests/mock-waivers.toml`); `TOUCHSTONE_SEED` sets the seed; `TOUCHSTONE_EVENT_SINK`
//! (`IP:PORT`) is where the eventing cases' event sink listens, as `touchstone check
//! --event-sink`; `TOUCHSTONE_RESOURCE`
//! (space-separated `URI[?Sel=V&...]`) are the resources discovery tries first, as
//! `touchstone check --resource`. A waived case that passes fails here, so waivers
//! cannot go stale. A case whose answers break a MUST rule every answer is held to
//! (`wsman.rule.*`, unwaived) fails; a broken SHOULD rule is printed as a warning.

use std::sync::OnceLock;

use conformance::case::Outcome;
use conformance::report::transcript_text;
use conformance::run::Runner;
use conformance::{Case, RunOptions, Suite, Waivers};
use libtest_mimic::{Arguments, Completion, Failed, Trial};

struct Subject {
    rt: tokio::runtime::Runtime,
    runner: Result<Runner, String>,
    /// Whether the run has a WS-Management target and an IPMI target.
    wsman: bool,
    ipmi: bool,
    _mock: Option<mock::MockServer>,
}

static SUBJECT: OnceLock<Subject> = OnceLock::new();

/// The reason an IPMI or cross case is ignored without an IPMI target.
const NO_IPMI: &str = "no IPMI target: set TOUCHSTONE_IPMI=HOST[:PORT] (and \
    TOUCHSTONE_IPMI_USER / TOUCHSTONE_IPMI_PASSWORD), or TOUCHSTONE_IPMI=mock for the \
    embedded mock's IPMI listener";
/// The reason a WS-Man case is ignored in an IPMI-only run.
const NO_WSMAN: &str = "no WS-Management target: TOUCHSTONE_IPMI without \
    TOUCHSTONE_SUBJECT checks IPMI alone; set TOUCHSTONE_SUBJECT=URL too";

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// `HOST[:PORT]` (a name, an IPv4 address, or `[v6]`), port 623 by default.
fn ipmi_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs as _;
    let with_port = if text.parse::<std::net::SocketAddr>().is_ok()
        || (!text.starts_with('[') && text.matches(':').count() == 1)
        || (text.starts_with('[') && text.contains("]:"))
    {
        text.to_owned()
    } else if text.contains(':') && !text.starts_with('[') {
        format!("[{text}]:623") // a bare IPv6 address
    } else {
        format!("{text}:623")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("TOUCHSTONE_IPMI={text}: {e}"))?
        .next()
        .ok_or_else(|| format!("TOUCHSTONE_IPMI={text}: no address"))
}

fn account(var: &str) -> Result<Option<(String, String)>, String> {
    env(var)
        .map(|v| {
            v.split_once(':')
                .map(|(u, p)| (u.to_owned(), p.to_owned()))
                .ok_or_else(|| format!("{var}={v}: expected USER:PASSWORD"))
        })
        .transpose()
}

/// The IPMI options from the environment, for the BMC at `addr`; `mock`: the embedded
/// mock's, whose accounts are known.
fn ipmi_options(
    addr: std::net::SocketAddr,
    user: Option<&str>,
    password: Option<&str>,
    mock: bool,
) -> Result<conformance::ipmi::IpmiOptions, String> {
    let u = env("TOUCHSTONE_IPMI_USER").or(user.map(str::to_owned));
    let p = env("TOUCHSTONE_IPMI_PASSWORD").or(password.map(str::to_owned));
    let mut target = client::ipmi::IpmiTarget::new(
        addr,
        u.as_deref().unwrap_or("admin"),
        p.as_deref().unwrap_or("admin"),
    );
    target.retry.timeout = std::time::Duration::from_secs(1);
    let mut o = conformance::ipmi::IpmiOptions::new(target);
    let known = |name: &str| mock.then(|| (name.to_owned(), name.to_owned()));
    o.operator = account("TOUCHSTONE_IPMI_OPERATOR")?.or_else(|| known("operator"));
    o.user = account("TOUCHSTONE_IPMI_USER_ACCOUNT")?.or_else(|| known("user"));
    o.idle_wait = env("TOUCHSTONE_IPMI_IDLE_WAIT")
        .map(|s| {
            s.parse::<f64>()
                .ok()
                .and_then(|secs| std::time::Duration::try_from_secs_f64(secs).ok())
                .ok_or_else(|| format!("TOUCHSTONE_IPMI_IDLE_WAIT={s}: expected seconds"))
        })
        .transpose()?;
    Ok(o)
}

fn subject(cases: &[Case]) -> &'static Subject {
    SUBJECT.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let ipmi_var = env("TOUCHSTONE_IPMI");
        // The embedded mock answers IPMI too unless another IPMI target is named.
        let embedded_ipmi = match ipmi_var.as_deref() {
            Some(v) => v == "mock",
            None => env("TOUCHSTONE_SUBJECT").is_none(),
        };
        // (URL, user, password, IPMI options, the mock, waivers); `None` URL: IPMI alone.
        let setup: Result<_, String> = (|| {
            Ok(match env("TOUCHSTONE_SUBJECT") {
                Some(url) => {
                    let (user, password) = (env("TOUCHSTONE_USER"), env("TOUCHSTONE_PASSWORD"));
                    let ipmi = match &ipmi_var {
                        Some(_) if embedded_ipmi => {
                            return Err("TOUCHSTONE_IPMI=mock is the embedded mock: \
                                        unset TOUCHSTONE_SUBJECT"
                                .to_owned());
                        }
                        Some(a) => Some(ipmi_options(
                            ipmi_addr(a)?,
                            user.as_deref(),
                            password.as_deref(),
                            false,
                        )?),
                        None => None,
                    };
                    (
                        Some(url),
                        user,
                        password,
                        ipmi,
                        None,
                        env("TOUCHSTONE_WAIVERS"),
                    )
                }
                None if ipmi_var.is_some() && !embedded_ipmi => {
                    let addr = ipmi_addr(ipmi_var.as_deref().unwrap_or_default())?;
                    let ipmi = ipmi_options(addr, None, None, false)?;
                    (
                        None,
                        None,
                        None,
                        Some(ipmi),
                        None,
                        env("TOUCHSTONE_WAIVERS"),
                    )
                }
                None => {
                    // With IPMI, the session idle timeout shortened (as `touchstone check`
                    // does), so that the idle-timeout case runs.
                    let toml = mock::scenario::DEFAULT_TOML.replacen(
                        "idle_timeout_ms = 60000",
                        "idle_timeout_ms = 1500",
                        1,
                    );
                    let short_idle = embedded_ipmi && toml != mock::scenario::DEFAULT_TOML;
                    let builder = mock::MockServer::builder()
                        .scenario_str(if embedded_ipmi {
                            &toml
                        } else {
                            mock::scenario::DEFAULT_TOML
                        })
                        .map_err(|e| format!("the embedded mock's scenario: {e}"))?;
                    let m = rt
                        .block_on(builder.ipmi(embedded_ipmi).start())
                        .map_err(|e| format!("the embedded mock: {e}"))?;
                    let waivers = env("TOUCHSTONE_WAIVERS").or_else(|| {
                        Some(
                            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mock-waivers.toml")
                                .to_owned(),
                        )
                    });
                    let ipmi = match m.ipmi_addr() {
                        Some(addr) if embedded_ipmi => {
                            let mut o = ipmi_options(addr, Some("admin"), Some("admin"), true)?;
                            if short_idle {
                                o.idle_wait =
                                    o.idle_wait.or(Some(std::time::Duration::from_millis(2500)));
                            }
                            Some(o)
                        }
                        _ => None,
                    };
                    (
                        Some(m.url()),
                        Some("admin".into()),
                        Some("admin".into()),
                        ipmi,
                        Some(m),
                        waivers,
                    )
                }
            })
        })();
        let (url, user, password, ipmi, mock, waivers) = match setup {
            Ok(s) => s,
            Err(e) => {
                return Subject {
                    rt,
                    runner: Err(e),
                    wsman: true,
                    ipmi: true,
                    _mock: None,
                };
            }
        };
        let (wsman, has_ipmi) = (url.is_some(), ipmi.is_some());
        let runner = (|| {
            let waivers = match waivers {
                Some(p) => Waivers::load(std::path::Path::new(&p)).map_err(|e| e.to_string())?,
                None => Waivers::default(),
            };
            let resources = env("TOUCHSTONE_RESOURCE")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<Vec<_>, _>>()?;
            let event_sink = match env("TOUCHSTONE_EVENT_SINK") {
                Some(a) => Some(
                    a.parse()
                        .map_err(|e| format!("TOUCHSTONE_EVENT_SINK={a}: {e}"))?,
                ),
                None => None,
            };
            let opts = RunOptions {
                waivers,
                resources,
                ipmi,
                event_sink,
                seed: env("TOUCHSTONE_SEED")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(RunOptions::default().seed),
                rerun: std::sync::Arc::new(|c: &Case| {
                    format!(
                        "cargo test -p conformance --test suite -- --exact {}",
                        c.test_name()
                    )
                }),
                ..RunOptions::default()
            };
            let Some(url) = url else {
                return rt
                    .block_on(Runner::prepare_ipmi(opts))
                    .map_err(|e| e.to_string());
            };
            let mut target = client::Target::new(url);
            if let Some(u) = user {
                target = target.credentials(u, password.unwrap_or_default());
            }
            let client = client::Client::new(target).map_err(|e| e.to_string())?;
            rt.block_on(Runner::prepare(client, cases, opts))
                .map_err(|e| e.to_string())
        })();
        Subject {
            rt,
            runner,
            wsman,
            ipmi: has_ipmi,
            _mock: mock,
        }
    })
}

fn run_one(case: &Case, all: &[Case]) -> Result<Completion, Failed> {
    let s = subject(all);
    let (need_wsman, need_ipmi) = conformance::ipmi::needs(&case.id);
    if need_ipmi && !s.ipmi {
        return Ok(Completion::ignored_with(NO_IPMI));
    }
    if need_wsman && !s.wsman {
        return Ok(Completion::ignored_with(NO_WSMAN));
    }
    let runner = s.runner.as_ref().map_err(|e| Failed::from(e.as_str()))?;
    let r = s.rt.block_on(runner.run_case(case));
    let detail = || {
        format!(
            "{}\nclause: {}\nexpected: {}\ngot: {}\nrerun: {}\n{}",
            r.message.as_deref().unwrap_or_default(),
            r.clause,
            r.expected.as_deref().unwrap_or("-"),
            r.got.as_deref().unwrap_or("-"),
            r.rerun,
            transcript_text(&r.transcript)
        )
    };
    for f in &r.findings {
        if f.waiver.is_none() {
            eprintln!("{} {}#{}: {}", f.level.as_str(), r.id, f.rule, f.message);
        }
    }
    if let Some(f) = r.findings.iter().find(|f| f.is_required_failure()) {
        return Err(format!(
            "{}: {} ({} answer(s))\nclause: {}\nrerun: {}",
            f.rule, f.message, f.count, f.clause, r.rerun
        )
        .into());
    }
    match (&r.waiver, r.outcome) {
        (Some(w), Outcome::Pass) => Err(format!(
            "stale waiver `{}` ({}): the case passes",
            w.pattern, w.reason
        )
        .into()),
        (Some(w), _) => Ok(Completion::ignored_with(format!("waived: {}", w.reason))),
        (None, Outcome::Pass) => Ok(Completion::Completed),
        (None, Outcome::Warn) => {
            eprintln!(
                "warning: {}: {}",
                r.id,
                r.message.as_deref().unwrap_or_default()
            );
            Ok(Completion::Completed)
        }
        (None, Outcome::Skip) => Ok(Completion::ignored_with(harness_advice(
            &r.message.unwrap_or_default(),
        ))),
        (None, Outcome::Fail | Outcome::Error) => Err(detail().into()),
    }
}

/// A skip reason with `touchstone check`'s options replaced by this harness's
/// environment variables, so that its advice works here.
fn harness_advice(message: &str) -> String {
    [
        (
            "--ipmi-idle-wait SECONDS",
            "TOUCHSTONE_IPMI_IDLE_WAIT=SECONDS",
        ),
        (
            "--ipmi-operator USER:PASSWORD",
            "TOUCHSTONE_IPMI_OPERATOR=USER:PASSWORD",
        ),
        (
            "--ipmi-user-account USER:PASSWORD",
            "TOUCHSTONE_IPMI_USER_ACCOUNT=USER:PASSWORD",
        ),
        ("--ipmi-operator", "TOUCHSTONE_IPMI_OPERATOR"),
        ("--ipmi-user-account", "TOUCHSTONE_IPMI_USER_ACCOUNT"),
        ("--ipmi HOST:PORT", "TOUCHSTONE_IPMI=HOST[:PORT]"),
        ("--target", "TOUCHSTONE_SUBJECT=URL"),
        ("--resource", "TOUCHSTONE_RESOURCE"),
        ("--event-sink", "TOUCHSTONE_EVENT_SINK"),
    ]
    .iter()
    .fold(message.to_owned(), |m, (option, var)| {
        m.replace(option, var)
    })
}

fn main() {
    let args = Arguments::from_args();
    let suite = match Suite::embedded() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let all: &'static [Case] = Box::leak(suite.cases.into_boxed_slice());
    let trials = all
        .iter()
        .map(|case| {
            Trial::ignorable_test(case.test_name(), move || run_one(case, all))
                .with_kind(case.level.as_str())
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
