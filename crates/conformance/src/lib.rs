//! # conformance: requirement-traced WS-Management and IPMI cases, run over the wire
//!
//! The engine behind `touchstone check` and the `suite` test harness. A case has a
//! stable ID (`wsman.transfer.get.relates-to`), a title, the clause it checks (the
//! specification, its section and the requirement in our own words), a level (MUST,
//! SHOULD, MAY), profiles and steps. Most cases are data: `suites/**/*.toml` (see
//! `suites/README.md`), loaded by [`load`] with errors that name file:line:column.
//! Cases whose logic does not fit data are Rust functions in [`code`], registered
//! under the same IDs; their metadata still lives in the suite files.
//!
//! [`run::run`] discovers what the subject offers (Identify, which classes answer),
//! runs the selected cases with a per-case deadline and `jobs` at a time, and returns a
//! [`report::Report`] in suite order whatever the parallelism. [`waiver`] applies the
//! expected deviations of a target; [`report`] writes JUnit XML, JSON and HTML.
//! [`inventory`] reads the fleet a `check --targets` run checks, [`shard`] splits a
//! fleet (or one target's cases) between machines, and [`report::fleet`] and
//! [`report::merge`] summarise a fleet and merge the shards' directories into one.
//! [`watch`] notices a WS-Man target that stops answering mid-run: it is said once, the
//! cases it could not run are errors, and the report carries it (`target_lost`).
//!
//! IPMI over LAN ([`ipmi`]) runs through `client::ipmi`: data steps with `op = "ipmi"`,
//! code cases in [`ipmi_cases`] (profile `ipmi-lan`) and cross-protocol cases in
//! [`cross`] (profile `cross`, both targets).
//!
//! Architecture invariant: this crate talks to its subject only over the wire, through
//! `client`. It never depends on `mock`; its own tests start the mock as a
//! dev-dependency and check it like any other target.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod case;
pub mod code;
pub mod cross;
pub mod discover;
pub mod eval;
pub mod eventing;
pub mod inventory;
pub mod ipmi;
pub mod ipmi_cases;
pub mod load;
pub mod path;
pub mod product;
pub mod psrp;
pub mod report;
pub mod rules;
pub mod run;
pub mod shard;
pub mod template;
pub mod waiver;
pub mod watch;

pub use case::{Case, Clause, Level, Outcome};
pub use load::{LoadError, Suite};
pub use report::{CaseResult, Report};
pub use run::{RunError, RunOptions};
pub use waiver::Waivers;
