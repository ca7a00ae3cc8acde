//! The `touchstone` binary: the command line over Touchstone's crates.
//!
//! Only subcommands that work are listed: `check` runs the conformance suite against a
//! target (or the embedded mock); `lint` checks WS-Management envelopes offline with the
//! rules the mock applies on the wire; `serve` runs the mock endpoint; `report merge`
//! merges the output directories of a sharded fleet check.
//!
//! Exit codes follow the CLI contract in the design: 0 success, 1 a finding that fails
//! the run, 2 usage or harness error (clap already exits 2 on bad arguments), 3 (check)
//! a target unreachable, lost mid-run, or refusing the credentials.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod alloc;
mod check;
mod lint;
mod report_cmd;
mod serve;

/// mimalloc, called as `alloc.rs` says.
#[global_allocator]
static ALLOCATOR: alloc::Allocator = alloc::Allocator;

/// Touchstone: test tooling for WS-Management and IPMI endpoints.
#[derive(Parser, Debug)]
#[command(
    name = "touchstone",
    version,
    about,
    long_about = "Touchstone: test tooling for systems that speak WS-Management (DSP0226: \
                  WinRM, openwsman, Intel AMT, BMC firmware) and IPMI over LAN.\n\n\
                  `touchstone serve` runs a mock endpoint (a simulated server and BMC); \
                  `touchstone check` runs the conformance suite against a target; \
                  `touchstone lint` checks envelopes offline; `touchstone report merge` merges the \
                  shards of a fleet check.",
    after_help = "Exit codes: 0 success, 1 a check failed, 2 usage or input error, \
                  3 target unreachable, stopped answering or refused the credentials \
                  (check)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Check(Box<check::Args>),
    Lint(lint::Args),
    Report(report_cmd::Args),
    Serve(Box<serve::Args>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(*args),
        Command::Lint(args) => lint::run(&args),
        Command::Report(args) => report_cmd::run(args),
        Command::Serve(args) => serve::run(*args),
    }
}
