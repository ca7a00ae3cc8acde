//! The `touchstone` binary.
use clap::Parser;

/// Touchstone: WS-Management and IPMI test tooling.
#[derive(Parser)]
#[command(version, about)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
}
