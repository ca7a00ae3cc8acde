//! The `touchstone` binary: the command line over Touchstone's crates.
//!
//! Only subcommands that work are listed. Today that is `lint`, which checks
//! WS-Management envelopes offline with the same rules the mock and the conformance
//! suite will apply on the wire. `serve` and `check` arrive with the crates behind them.
//!
//! Exit codes follow the CLI contract in the design: 0 success, 1 a finding that fails
//! the run, 2 usage or harness error (clap already exits 2 on bad arguments).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod lint;

/// Touchstone: test tooling for WS-Management and IPMI endpoints.
#[derive(Parser, Debug)]
#[command(
    name = "touchstone",
    version,
    about,
    long_about = "Touchstone: test tooling for systems that speak WS-Management (DSP0226: \
                  WinRM, openwsman, Intel AMT, BMC firmware) and IPMI over LAN.\n\n\
                  Today it checks WS-Management envelopes offline (`touchstone lint`). \
                  The mock endpoint and the conformance suite are not built yet.",
    after_help = "Exit codes: 0 success, 1 a check failed, 2 usage or input error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Lint(lint::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Lint(args) => lint::run(&args),
    }
}
