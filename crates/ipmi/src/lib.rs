//! IPMI over LAN, sans-IO: both ends of RMCP, IPMI 1.5 and RMCP+ sessions, the crypto
//! they need, the command codecs and the SDR, SEL and FRU formats.
//!
//! Architecture invariant: this crate does no IO and reads no clock. Time comes in as
//! milliseconds (`now_ms`) and randomness through an injected [`rand_core::RngCore`], so
//! a console and a BMC can be driven against each other in memory with a virtual clock
//! and give the same bytes every run.
//!
//! Map of the crate:
//! - [`codes`]: network functions, completion codes, privilege levels.
//! - [`commands`]: the one command table (NetFn, number, scenario/journal key, spec
//!   name, section, M/O, minimum privilege, who answers it); the place to add a command.
//! - [`app`]: the contract between the session layer (the BMC side of [`session`]) and
//!   the application that answers commands (the simulated machine implements it).
//! - [`rmcp`], [`msg`]: framing (RMCP, ASF presence ping, IPMI 1.5 and RMCP+ session
//!   wrappers) and the IPMI message with its checksums.
//! - [`peek`]: what a datagram is (kind, session ID, clear command, handshake fields),
//!   read without session state: the mock's listener asks it once per datagram.
//! - [`crypto`]: cipher suites, RAKP HMACs, SIK/K1/K2 derivation, integrity, AES-CBC-128,
//!   the IPMI 1.5 MD5 and straight-password AuthCodes.
//! - [`session`]: the BMC side: sessionless commands, IPMI 1.5 and RMCP+ logins, session
//!   table, sequence windows, privilege, idle timeout, Serial over LAN payloads.
//! - [`console`]: the remote-console side (what ipmitool does), used by the conformance
//!   client and by the in-memory tests.
//! - [`cmd`], [`sdr`], [`sel`], [`fru`], [`conv`]: command request/response codecs, SDR
//!   records, SEL entries, FRU inventory areas, sensor reading conversion.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod cmd;
pub mod codes;
pub mod commands;
pub mod console;
pub mod conv;
pub mod crypto;
pub mod fru;
pub mod msg;
pub mod peek;
pub mod rmcp;
pub mod sdr;
pub mod sel;
pub mod session;
pub mod spec;
