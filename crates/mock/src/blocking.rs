//! The [`MockServer`] for tests that are not async: it owns a tokio runtime (one
//! worker thread) that serves the mock, and every method is synchronous.
//!
//! ```
//! use mock::blocking::MockServer;
//! use mock::{Mock, Respond, operation};
//! use std::io::{Read as _, Write as _};
//!
//! let server = MockServer::start()?;
//! server.mount(Mock::given(operation("Identify")).respond_with(Respond::status(503)).expect(1))?;
//!
//! // Any blocking client goes here; this one writes the request by hand.
//! let identify = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
//!   xmlns:w="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">
//!   <s:Header/><s:Body><w:Identify/></s:Body></s:Envelope>"#;
//! let addr = server.addresses().0.expect("HTTP listens");
//! let mut tcp = std::net::TcpStream::connect(addr)?;
//! tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
//! write!(
//!     tcp,
//!     "POST /wsman HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\n\
//!      Content-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\n\
//!      Connection: close\r\n\r\n{identify}",
//!     identify.len()
//! )?;
//! let mut answer = String::new();
//! tcp.read_to_string(&mut answer)?;
//! assert!(answer.starts_with("HTTP/1.1 503"));
//! drop(server); // verifies: exactly one Identify was received
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! It must not be used from inside a tokio runtime (use [`crate::MockServer`] there):
//! [`MockServer::start`] refuses with an error saying so.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use crate::expect::{MockGuard, ReceivedRequest, VerificationError};
use crate::given::{Definition, MountError};
use crate::journal::Entry;
use crate::scenario::{Scenario, ScenarioError};

/// How long starting or stopping the server may take before it is given up.
const DEADLINE: Duration = Duration::from_secs(30);

/// Builds a blocking [`MockServer`]: the same settings as [`crate::Builder`].
pub struct Builder {
    inner: crate::Builder,
}

impl Builder {
    /// Uses this scenario.
    pub fn scenario(self, scenario: Scenario) -> Builder {
        Builder {
            inner: self.inner.scenario(scenario),
        }
    }

    /// Uses the scenario in this TOML text.
    pub fn scenario_str(self, toml: &str) -> Result<Builder, ScenarioError> {
        Ok(Builder {
            inner: self.inner.scenario_str(toml)?,
        })
    }

    /// Also listen with HTTPS (a self-signed certificate).
    pub fn https(self, on: bool) -> Builder {
        Builder {
            inner: self.inner.https(on),
        }
    }

    /// Listen with plain HTTP (on by default).
    pub fn http(self, on: bool) -> Builder {
        Builder {
            inner: self.inner.http(on),
        }
    }

    /// Also serve IPMI over LAN on a free loopback UDP port.
    pub fn ipmi(self, on: bool) -> Builder {
        Builder {
            inner: self.inner.ipmi(on),
        }
    }

    /// Also start the admin API.
    pub fn admin(self, on: bool) -> Builder {
        Builder {
            inner: self.inner.admin(on),
        }
    }

    /// Starts the runtime and the server on free loopback ports.
    pub fn start(self) -> std::io::Result<MockServer> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(std::io::Error::other(
                "mock::blocking::MockServer cannot start inside a tokio runtime \
                 (it runs its own); use mock::MockServer with .await instead",
            ));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mock-server")
            .enable_all()
            .build()?;
        let started = run(&runtime, self.inner.start(), DEADLINE)
            .ok_or_else(|| std::io::Error::other("the mock server did not start within 30 s"))??;
        Ok(MockServer {
            server: Some(started),
            runtime: Some(runtime),
        })
    }
}

/// Runs `fut` on `runtime` and waits for it from this (non-runtime) thread, at most
/// `deadline`. (Waiting on a channel rather than `block_on` works from any thread.)
fn run<F>(runtime: &tokio::runtime::Runtime, fut: F, deadline: Duration) -> Option<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv_timeout(deadline).ok()
}

/// A running mock with a synchronous API; see the [module docs](self).
///
/// Dropping it stops the server and its runtime, then verifies the expectations of
/// the mounted mocks like [`crate::MockServer`] does, panicking with the report if one
/// failed (unless the thread is already panicking).
pub struct MockServer {
    server: Option<crate::MockServer>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl MockServer {
    /// A builder with the embedded default scenario, plain HTTP on loopback.
    pub fn builder() -> Builder {
        Builder {
            inner: crate::MockServer::builder(),
        }
    }

    /// Starts the default scenario on a free loopback port.
    pub fn start() -> std::io::Result<MockServer> {
        MockServer::builder().start()
    }

    fn server(&self) -> &crate::MockServer {
        // Only `drop` takes it out.
        self.server.as_ref().expect("the server lives until drop")
    }

    /// The async server behind this one (for what this wrapper does not repeat).
    pub fn inner(&self) -> &crate::MockServer {
        self.server()
    }

    /// Mounts a mock (see [`crate::MockServer::register`]).
    pub fn mount(&self, mock: impl Into<Definition>) -> Result<(), MountError> {
        self.server().register(mock)
    }

    /// Mounts a mock until the returned guard is dropped.
    pub fn mount_as_scoped(&self, mock: impl Into<Definition>) -> Result<MockGuard, MountError> {
        self.server().register_as_scoped(mock)
    }

    /// Checks the expectations now.
    pub fn verify(&self) -> Result<(), VerificationError> {
        self.server().verify()
    }

    /// Unmounts every mock and clears the journal.
    pub fn reset(&self) {
        self.server().reset()
    }

    /// The requests received so far, typed.
    pub fn received_requests(&self) -> Vec<ReceivedRequest> {
        self.server().received_requests()
    }

    /// The journal's entries.
    pub fn journal(&self) -> Vec<Entry> {
        self.server().journal()
    }

    /// `http://127.0.0.1:PORT/wsman` (or the HTTPS URL when only HTTPS listens).
    pub fn url(&self) -> String {
        self.server().url()
    }

    /// The HTTPS URL, if HTTPS listens.
    pub fn https_url(&self) -> Option<String> {
        self.server().https_url()
    }

    /// The admin API base URL, if it listens.
    pub fn admin_url(&self) -> Option<String> {
        self.server().admin_url()
    }

    /// The bound addresses: (http, https, admin).
    pub fn addresses(&self) -> (Option<SocketAddr>, Option<SocketAddr>, Option<SocketAddr>) {
        self.server().addresses()
    }

    /// The IPMI (UDP) address, if IPMI listens.
    pub fn ipmi_addr(&self) -> Option<SocketAddr> {
        self.server().ipmi_addr()
    }

    /// The self-signed certificate (PEM) for HTTPS.
    pub fn certificate_pem(&self) -> Option<String> {
        self.server().certificate_pem().map(str::to_owned)
    }

    /// Stops the server (the ports are free when this returns) and its runtime, then
    /// verifies the expectations, returning the report instead of panicking.
    pub fn shutdown(mut self) -> Result<(), VerificationError> {
        let verdict = self.stop();
        verdict.unwrap_or(Ok(()))
    }

    /// Stops everything once; the verdict the first time.
    fn stop(&mut self) -> Option<Result<(), VerificationError>> {
        let server = self.server.take()?;
        let runtime = self.runtime.take()?;
        let verdict = server.registry_verify_once();
        // Shut down on the runtime (which frees the ports), then the runtime itself.
        let _ = run(&runtime, server.shutdown(), DEADLINE);
        if tokio::runtime::Handle::try_current().is_ok() {
            // Dropped inside some other runtime: blocking there is not allowed.
            runtime.shutdown_background();
        } else {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
        Some(verdict)
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(Err(e)) = self.stop() {
            if !std::thread::panicking() {
                panic!("{e}");
            }
        }
    }
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("blocking::MockServer")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}
