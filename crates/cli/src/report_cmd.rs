//! `touchstone report merge DIR... --out OUT`: the output directories of the shards
//! of a fleet run (`check --targets --shard I/N --out DIR`) merged into one of the same
//! layout (`conformance::report::merge`), and the fleet summary printed as `check
//! --targets` prints it ([`print_summary`], shared with it).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use conformance::report::fleet::{FleetSummary, Verdict};

/// Work with report directories.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: ReportCommand,
}

#[derive(Subcommand, Debug)]
enum ReportCommand {
    Merge(MergeArgs),
}

/// Merge the output directories of a sharded `check --targets` run into one: the
/// per-target reports (a target whose cases were sharded gets one report, cases in
/// suite order), summary.json, summary.html, junit.xml and shard.json, as the
/// unsharded run writes them. Every shard of the split must be given.
///
/// Exit codes: the fleet's (0 every target passed, 1 a target failed a required case,
/// 3 a target was unreachable, stopped answering or refused the credentials, 2 a case
/// could not be run), or 2 when the directories cannot be read, do not make one run,
/// or OUT cannot be written.
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
struct MergeArgs {
    /// The shard directories (each written by `check --targets ... --out DIR`).
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Where the merged directory goes (created if needed).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Print only the totals line.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Runs `touchstone report`.
pub fn run(args: Args) -> ExitCode {
    match args.command {
        ReportCommand::Merge(m) => merge(&m),
    }
}

fn merge(args: &MergeArgs) -> ExitCode {
    let tool = concat!("touchstone ", env!("CARGO_PKG_VERSION"));
    match conformance::report::merge::merge(&args.dirs, &args.out, tool) {
        Ok(summary) => {
            if args.quiet {
                println!("{}", totals_line(&summary));
            } else {
                print_summary(&summary, &args.out, 0);
            }
            ExitCode::from(summary.exit_code())
        }
        Err(e) => {
            eprintln!("touchstone report merge: {e}");
            ExitCode::from(2)
        }
    }
}

fn totals_line(s: &FleetSummary) -> String {
    format!(
        "{} targets: {} passed, {} failed, {} errors in {:.1} s",
        s.totals.targets,
        s.totals.pass,
        s.totals.fail,
        s.totals.error,
        s.duration_us as f64 / 1e6
    )
}

/// Rows of each table shown on the console; the files have them all.
const SHOWN: usize = 20;

/// The fleet summary on the console: the targets that did not pass (with their
/// chaos, so a planted failure reads as one), the cases failing most, the totals and
/// where the files are. `jobs`: targets checked at once (0: a merge).
pub(crate) fn print_summary(s: &FleetSummary, out: &Path, jobs: usize) {
    let bad: Vec<_> = s
        .targets
        .iter()
        .filter(|t| t.verdict != Verdict::Pass)
        .collect();
    if !bad.is_empty() {
        println!();
        println!(
            "{:<16} {:<7} {:<18} {:>5} {:>5} {:>5} {:>5} {:>5}  why",
            "target", "verdict", "chaos", "pass", "fail", "warn", "skip", "error"
        );
        for t in bad.iter().take(SHOWN) {
            let n = |k: &str| t.counts.get(k).copied().unwrap_or(0);
            let why = match (&t.message, t.failed.is_empty()) {
                (Some(m), _) => m.clone(),
                (None, false) => format!("fails {}", t.failed.join(", ")),
                (None, true) => format!("could not run {}", t.errors.join(", ")),
            };
            println!(
                "{:<16} {:<7} {:<18} {:>5} {:>5} {:>5} {:>5} {:>5}  {why}",
                t.id,
                t.verdict.as_str(),
                t.chaos.as_deref().unwrap_or("-"),
                n("pass"),
                n("fail"),
                n("warn"),
                n("skip"),
                n("error"),
            );
        }
        if bad.len() > SHOWN {
            println!("... and {} more (summary.html)", bad.len() - SHOWN);
        }
    }
    if !s.cases.is_empty() {
        println!();
        println!(
            "{:<56} {:>5} {:>5}  targets",
            "failing case", "fail", "error"
        );
        for c in s.cases.iter().take(SHOWN) {
            let ids: Vec<&str> = c
                .failing_targets
                .iter()
                .chain(&c.error_targets)
                .take(5)
                .map(String::as_str)
                .collect();
            let more = (c.failed + c.errors).saturating_sub(ids.len());
            println!(
                "{:<56} {:>5} {:>5}  {}{}",
                c.id,
                c.failed,
                c.errors,
                ids.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
        }
        if s.cases.len() > SHOWN {
            println!(
                "... and {} more cases (summary.json)",
                s.cases.len() - SHOWN
            );
        }
    }
    println!();
    let at_once = if jobs > 0 {
        format!(", {jobs} at once")
    } else {
        String::new()
    };
    println!("touchstone fleet: {}{at_once}", totals_line(s));
    println!(
        "reports: {} (summary.html, summary.json, junit.xml, targets/)",
        out.display()
    );
}
