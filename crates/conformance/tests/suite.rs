//! The conformance suite as a libtest-style test binary (libtest-mimic): one test per
//! case, named by its ID with `::` separators, so `--list`, `--exact NAME`, filters and
//! nextest work on it.
//!
//! The subject is chosen at run time: `TOUCHSTONE_SUBJECT` (a URL, with
//! `TOUCHSTONE_USER` / `TOUCHSTONE_PASSWORD`), or by default the embedded mock, started
//! here through a dev-dependency (the library itself never links the mock).
//! `TOUCHSTONE_WAIVERS` names a waiver file (default for the mock:
//! `tests/mock-waivers.toml`); `TOUCHSTONE_SEED` sets the seed; `TOUCHSTONE_RESOURCE`
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
    _mock: Option<mock::MockServer>,
}

static SUBJECT: OnceLock<Subject> = OnceLock::new();

fn subject(cases: &[Case]) -> &'static Subject {
    SUBJECT.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let (url, user, password, mock, waivers) = match env("TOUCHSTONE_SUBJECT") {
            Some(url) => (
                url,
                env("TOUCHSTONE_USER"),
                env("TOUCHSTONE_PASSWORD"),
                None,
                env("TOUCHSTONE_WAIVERS"),
            ),
            None => {
                let m = rt
                    .block_on(mock::MockServer::start())
                    .expect("the embedded mock starts");
                let waivers = env("TOUCHSTONE_WAIVERS").or_else(|| {
                    Some(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mock-waivers.toml").to_owned())
                });
                (
                    m.url(),
                    Some("admin".into()),
                    Some("admin".into()),
                    Some(m),
                    waivers,
                )
            }
        };
        let runner = (|| {
            let waivers = match waivers {
                Some(p) => Waivers::load(std::path::Path::new(&p)).map_err(|e| e.to_string())?,
                None => Waivers::default(),
            };
            let mut target = client::Target::new(url.clone());
            if let Some(u) = user {
                target = target.credentials(u, password.unwrap_or_default());
            }
            let client = client::Client::new(target).map_err(|e| e.to_string())?;
            let resources = env("TOUCHSTONE_RESOURCE")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<Vec<_>, _>>()?;
            let opts = RunOptions {
                waivers,
                resources,
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
            rt.block_on(Runner::prepare(client, cases, opts))
                .map_err(|e| e.to_string())
        })();
        Subject {
            rt,
            runner,
            _mock: mock,
        }
    })
}

fn run_one(case: &Case, all: &[Case]) -> Result<Completion, Failed> {
    let s = subject(all);
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
        (None, Outcome::Skip) => Ok(Completion::ignored_with(r.message.unwrap_or_default())),
        (None, Outcome::Fail | Outcome::Error) => Err(detail().into()),
    }
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
