//! # mock: Touchstone's mock WS-Management endpoint
//!
//! A simulated server and its BMC ([`machine`]) behind WS-Man over HTTP and HTTPS,
//! driven by a scenario file: data, faults, delays, transport failures, state. Client
//! authors point their CI at it instead of real hardware.

pub mod admin;
pub mod cimxml;
pub mod filter;
pub mod http;
pub mod ipmi;
pub mod journal;
pub mod mockserver;
pub mod rules;
pub mod scenario;
pub mod service;
pub mod shell;
pub use mockserver::{Builder, MockServer};
pub use scenario::Scenario;
pub use service::Mock;
