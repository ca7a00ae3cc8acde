//! The simulated managed server and its BMC, modelled once and projected twice.
//!
//! A [`Machine`] holds power state, numeric and discrete sensors, the System Event Log
//! (SEL), FRU inventory, users and the remote-shell command table of one simulated
//! server. The WS-Man side of the mock sees it through the CIM projection in [`cim`];
//! the IPMI side reads the same state (sensor readings, SEL records, FRU bytes, chassis
//! power) through the accessors on [`Machine`], so a change made through one protocol is
//! visible through the other.
//!
//! Architecture invariant: this crate is sans-IO. It does no IO, starts no task and reads
//! no clock: every call that depends on time takes `now`, the [`Millis`] elapsed since the
//! mock started. The same [`MachineSpec`] and the same sequence of calls with the same
//! times give the same results, and no spec or call makes it panic (errors are returned).
//!
//! The scenario loader deserialises a [`MachineSpec`] from the `[machine]` table of a
//! scenario file (TOML); [`MachineSpec::default`] is the embedded default server
//! (`tests/fixtures/default.toml` is the same server written out, and
//! `tests/fixtures/full.toml` shows every field).
//!
//! Map of the crate:
//! - [`spec`]: the serde types of the spec and [`MachineSpec::validate`].
//! - [`Machine`] (module `machine`): the state and every operation on it (power,
//!   sensors, SEL, users, commands).
//! - [`cim`]: the CIM classes and the WS-Man-facing operations (enumerate, get, put,
//!   invoke, create, delete, associations).
//! - [`power`], [`sensor`], [`sel`], [`fru`], [`command`], [`script`]: the pieces
//!   (power timeline, sensor vocabulary and sources, SEL records, FRU encoding, command
//!   patterns, the Rhai sandbox).
//! - [`shell`]: the WinRM remote shell (shells, commands, their output schedule,
//!   stdin, signals, expiry, the per-user quota), run from the command and script
//!   tables; [`shell::powershell`] reads `powershell -EncodedCommand` lines.
//! - [`events`]: the bounded log of what happened, numbered, for event subscribers.
//! - [`subscriptions`]: WS-Eventing's subscriptions as bookkeeping (mode, expiry,
//!   cursor in the event log, batching limits, bookmarks, Pull contexts), read from
//!   the event log with a caller's selection; delivery is the mock's.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cim;
pub mod cmdlet;
pub mod command;
pub mod events;
pub mod fru;
pub mod ipmi;
mod machine;
pub mod power;
pub mod script;
pub mod sel;
pub mod sensor;
pub mod shell;
pub mod spec;
pub mod subscriptions;
mod time;

pub use command::{CommandSpec, MatchKind};
pub use fru::FruSpec;
pub use machine::{DiscreteSensor, Machine, MachineError, NumericSensor};
pub use power::{PowerAction, PowerState};
pub use sel::{EventDirection, SelEntry, SelFullPolicy, SelInfo};
pub use sensor::{SensorType, ThresholdStatus, Thresholds, Unit};
pub use spec::{MachineSpec, Privilege, SpecError, User};
pub use time::format_datetime;

/// Milliseconds since the mock started: the only notion of time in this crate.
pub type Millis = u64;
