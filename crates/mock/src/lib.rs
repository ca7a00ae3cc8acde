//! # mock: Touchstone's mock WS-Management endpoint
//!
//! A simulated server and its BMC ([`machine`]) behind WS-Man over HTTP and HTTPS and
//! IPMI over LAN, driven by a scenario file: data, faults, delays, transport failures,
//! state. Client authors point their CI at it instead of real hardware: from the
//! command line (`touchstone serve`), or from Rust tests with [`MockServer`], in the
//! style of wiremock: mount mocks that match requests and say how to answer, with
//! expectations verified when the server is dropped.
//!
//! ## Add it to a project
//!
//! The crate is not published on crates.io (a crate named `mock` there is another
//! project); depend on it by path or by git, as a dev-dependency:
//!
//! ```toml
//! [dev-dependencies]
//! mock = { path = "../touchstone/crates/mock" } # or { git = "<touchstone repository>" }
//! tokio = { version = "1", features = ["macros", "rt"] }
//! ```
//!
//! The mock enables the tokio features it needs itself (`rt-multi-thread`, `net`,
//! `time`, `sync`, `io-util`, `macros`, `signal`). Your tests need `macros` (for
//! `#[tokio::test]`) and `rt` for the default current-thread test runtime, or
//! `rt-multi-thread` for `#[tokio::test(flavor = "multi_thread")]`; the mock works on
//! either. Tests that are not async need no tokio at all: [`blocking::MockServer`]
//! runs its own runtime.
//!
//! ## Quick start
//!
//! ```
//! use mock::{FaultKind, Mock, MockServer, Respond, operation};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A mock on a free loopback port: the default scenario's machine, user admin/admin.
//! let server = MockServer::start().await?;
//!
//! // Deny a Get of one fan, and expect exactly one such request.
//! Mock::given(operation("Get").resource("CIM_Fan").selector("DeviceID", "fan1"))
//!     .respond_with(Respond::fault(FaultKind::AccessDenied))
//!     .expect(1)
//!     .mount(&server)
//!     .await?;
//!
//! // The code under test goes here; this is Touchstone's own WS-Man client.
//! let client = client::Client::new(
//!     client::Target::new(server.url()).credentials("admin", "admin"),
//! )?;
//! let get = client
//!     .request("http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Fan")
//!     .selector("DeviceID", "fan1")
//!     .get();
//! let exchange = client.send(&get).await?;
//! assert_eq!(exchange.fault().and_then(|f| f.kind), Some(FaultKind::AccessDenied));
//!
//! // What the server received, typed.
//! let received = server.received_requests();
//! let last = received.last().and_then(|r| r.wsman()).expect("a WS-Man request");
//! assert_eq!(last.operation.as_deref(), Some("Get"));
//! assert_eq!(last.selectors, [("DeviceID".to_owned(), "fan1".to_owned())]);
//! assert_eq!(last.user.as_deref(), Some("admin"));
//!
//! // Dropping the server (or shutting it down) verifies `expect(1)`: had the client
//! // not sent the Get, this would panic with what was expected and what was received.
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Answers ([`Respond`]): an instance ([`Respond::instance_of`], [`Respond::instance`]),
//! a whole envelope template, a fault of the catalogue, a bare status, a delay
//! ([`Respond::delayed`] combines with any answer), a transport failure (reset, close,
//! truncate, garbage, slow drip) or a sandboxed script; several in turn with
//! [`MockBuilder::then_respond_with`]. Matchers ([`RequestMatcher`]): action or
//! operation, resource URI or class, selectors, a body element and its text, the user.
//! IPMI commands are mocked with [`IpmiMock`] (completion code, response data, drop,
//! delay, duplicate) on a server built with [`Builder::ipmi`]. A mock is a scenario
//! rule written in Rust: it behaves exactly as the same `[[rules]]` or
//! `[[ipmi.rules]]` entry in a scenario file would (see [`given`]).
//!
//! Expectations: [`MockBuilder::expect`] takes a count or a range. They are verified
//! when the [`MockServer`] is dropped, when the [`MockGuard`] of a mock mounted with
//! [`MockBuilder::mount_as_scoped`] is dropped, or on demand with
//! [`MockServer::verify`], which returns the same report as a [`VerificationError`].
//!
//! A whole scenario file can be used too: [`MockServer::builder`]`().scenario_file(..)`.

pub mod admin;
mod admin_ops;
pub mod blocking;
pub mod cimxml;
pub mod eventing;
pub mod expect;
pub mod filter;
pub mod fleet;
pub mod given;
pub mod http;
pub mod ipmi;
mod ipmi_bridge;
pub mod journal;
mod mock;
pub mod mockserver;
pub mod remoting;
pub mod rules;
pub mod scenario;
pub mod schedule;
pub mod service;
mod wsman;
mod xml_memo;
pub use ::wsman::FaultKind;
pub use expect::{MockGuard, ReceivedRequest, VerificationError};
pub use given::{
    IpmiMock, IpmiRespond, MockBuilder, MountError, RequestMatcher, Respond, Times, action,
    any_request, operation, resource,
};
pub use mock::Mock;
pub use mockserver::{Builder, MockServer};
pub use scenario::Scenario;
