//! The library face of the mock, in the spirit of wiremock: start a mock from a
//! scenario on a free loopback port, mount typed mocks ([`crate::given`]), point a client
//! at [`MockServer::url`], then look at what it received in the journal. Each instance
//! has its own machine and state. (The crate docs have the quick start with typed
//! mocks; this example drives the mock with a scenario's own rule.)
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mock::MockServer;
//!
//! let server = MockServer::builder()
//!     .scenario_str(r#"
//!         [[rules]]
//!         name = "deny fans"
//!         match = { resource_uri = "CIM_Fan" }
//!         answer = { fault = "wsman:AccessDenied" }
//!     "#)?
//!     .start()
//!     .await?;
//! let url = server.url(); // http://127.0.0.1:PORT/wsman, user admin / admin
//! assert!(url.ends_with("/wsman"));
//!
//! // Any WS-Man client goes here; this is Touchstone's own.
//! let client = client::Client::new(client::Target::new(url).credentials("admin", "admin"))?;
//! let get = client
//!     .request("http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Fan")
//!     .get();
//! let answer = client.send(&get).await?;
//! assert_eq!(answer.status(), Some(401)); // AccessDenied, in the DMTF mapping
//! assert_eq!(answer.fault().and_then(|f| f.kind), Some(mock::FaultKind::AccessDenied));
//!
//! // The journal says what came in and which rule answered.
//! let journal = server.journal();
//! let exchange = journal.last().and_then(|e| e.http()).expect("an HTTP exchange");
//! assert_eq!(exchange.rule.as_deref(), Some("deny fans"));
//! assert_eq!(exchange.operation.as_deref(), Some("Get"));
//! assert_eq!(exchange.user.as_deref(), Some("admin"));
//! server.shutdown().await;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::expect::{MockGuard, ReceivedRequest, Registry, VerificationError};
use crate::given::{Definition, MountError};
use crate::http::server::{self, Running, ServerConfig, TlsSource};
use crate::journal::{Entry, Journal};
use crate::mock::Mock;
use crate::scenario::{Scenario, ScenarioError};

/// Builds a [`MockServer`].
pub struct Builder {
    scenario: Scenario,
    https: bool,
    admin: bool,
    http: bool,
    ipmi: bool,
    tls: TlsSource,
}

impl Builder {
    /// Uses this scenario.
    pub fn scenario(mut self, scenario: Scenario) -> Builder {
        self.scenario = scenario;
        self
    }

    /// Uses the scenario in this TOML text.
    pub fn scenario_str(self, toml: &str) -> Result<Builder, ScenarioError> {
        let s = Scenario::from_toml(toml, "<string>")?;
        Ok(self.scenario(s))
    }

    /// Uses the scenario in this file.
    pub fn scenario_file(self, path: impl AsRef<Path>) -> Result<Builder, ScenarioError> {
        let s = Scenario::from_file(path.as_ref())?;
        Ok(self.scenario(s))
    }

    /// Also listen with HTTPS (a self-signed certificate unless [`Builder::tls`]).
    pub fn https(mut self, on: bool) -> Builder {
        self.https = on;
        self
    }

    /// Listen with plain HTTP (on by default).
    pub fn http(mut self, on: bool) -> Builder {
        self.http = on;
        self
    }

    /// Also serve IPMI over LAN (UDP) on a free loopback port ([`MockServer::ipmi_addr`]).
    pub fn ipmi(mut self, on: bool) -> Builder {
        self.ipmi = on;
        self
    }

    /// Also start the admin API.
    pub fn admin(mut self, on: bool) -> Builder {
        self.admin = on;
        self
    }

    /// The HTTPS certificate source.
    pub fn tls(mut self, tls: TlsSource) -> Builder {
        self.tls = tls;
        self
    }

    /// Starts listening on free loopback ports.
    pub async fn start(self) -> std::io::Result<MockServer> {
        let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
        let config = ServerConfig {
            http: self.http.then_some(loopback),
            https: self.https.then_some(loopback),
            admin: self.admin.then_some(loopback),
            tls: self.tls,
            max_request_bytes: self.scenario.http.max_request_bytes,
            body_read_timeout: std::time::Duration::from_millis(
                self.scenario.http.body_timeout_ms.max(1),
            ),
            max_connections: self.scenario.http.max_connections.max(1),
            ..ServerConfig::default()
        };
        let ipmi = self.ipmi.then_some(loopback);
        MockServer::start_with_ipmi(self.scenario, config, ipmi).await
    }
}

/// A running mock.
///
/// Dropping it stops the listeners (in the background: [`MockServer::shutdown`] waits
/// until the ports are free) and verifies the expectations of the mounted mocks that
/// no [`MockGuard`] verified, panicking with a report of what was expected and what
/// was received if one failed (unless the thread is already panicking).
pub struct MockServer {
    mock: Mock,
    running: Option<Running>,
    ipmi: Option<crate::ipmi::Listener>,
    registry: Arc<Registry>,
    /// Fires the scenario's `[[events]]`; stops when dropped.
    _schedules: crate::schedule::Timer,
}

impl MockServer {
    /// A builder with the embedded default scenario, plain HTTP on loopback.
    pub fn builder() -> Builder {
        Builder {
            scenario: Scenario::default_scenario(),
            https: false,
            admin: false,
            http: true,
            ipmi: false,
            tls: TlsSource::default(),
        }
    }

    /// Starts the default scenario on a free loopback port.
    pub async fn start() -> std::io::Result<MockServer> {
        MockServer::builder().start().await
    }

    /// Starts `scenario` with an explicit listener configuration.
    pub async fn start_with(
        scenario: Scenario,
        config: ServerConfig,
    ) -> std::io::Result<MockServer> {
        MockServer::start_with_ipmi(scenario, config, None).await
    }

    /// Starts `scenario` with an explicit listener configuration and, when `ipmi` is
    /// given, IPMI over LAN on that UDP address (port 0: a free port).
    pub async fn start_with_ipmi(
        scenario: Scenario,
        config: ServerConfig,
        ipmi: Option<SocketAddr>,
    ) -> std::io::Result<MockServer> {
        let journal = Arc::new(Journal::with_budgets(
            scenario.http.journal_capacity,
            scenario.http.journal_request_bytes,
            scenario.http.journal_response_bytes,
        ));
        let mock = Mock::new(scenario, journal.clone()).map_err(std::io::Error::other)?;
        let shared = Arc::new(mock.clone());
        let ipmi = match ipmi {
            Some(addr) => Some(crate::ipmi::start(addr, mock.clone()).await?),
            None => None,
        };
        let running =
            server::start(config, shared.clone(), shared.clone(), shared, journal).await?;
        let schedules = crate::schedule::start(mock.clone());
        Ok(MockServer {
            registry: Arc::new(Registry::new(mock.clone())),
            mock,
            running: Some(running),
            ipmi,
            _schedules: schedules,
        })
    }

    /// Mounts a WS-Man ([`crate::Mock::given`]) or IPMI ([`crate::IpmiMock::given`])
    /// mock: its rule follows the scenario's rules and the mocks mounted before it.
    /// Its expectation is verified when the server is dropped.
    pub fn register(&self, mock: impl Into<Definition>) -> Result<(), MountError> {
        self.registry.mount(mock.into()).map(|_| ())
    }

    /// Mounts a mock until the returned guard is dropped, which verifies its
    /// expectation.
    pub fn register_as_scoped(&self, mock: impl Into<Definition>) -> Result<MockGuard, MountError> {
        let id = self.registry.mount(mock.into())?;
        Ok(MockGuard::new(self.registry.clone(), id))
    }

    /// Checks the expectations of the mounted mocks now (those a dropped guard has
    /// not checked already).
    pub fn verify(&self) -> Result<(), VerificationError> {
        self.registry.verify()
    }

    /// Unmounts every mock (forgetting their expectations) and clears the journal.
    /// The machine's state is kept.
    pub fn reset(&self) {
        self.registry.reset();
        self.mock.journal().clear();
    }

    /// Verifies the expectations not verified yet, marking them verified (so that
    /// dropping the server does not check them again).
    pub(crate) fn registry_verify_once(&self) -> Result<(), VerificationError> {
        self.registry.verify_once()
    }

    /// How many requests each mounted mock matched so far, by its rule name (the
    /// journal's `rule`).
    pub fn mock_counts(&self) -> Vec<(String, u32)> {
        self.registry.counts()
    }

    /// The requests received so far (that the journal kept: the newest
    /// [`crate::journal::DEFAULT_CAPACITY`]), oldest first, typed.
    pub fn received_requests(&self) -> Vec<ReceivedRequest> {
        crate::expect::received_requests(&self.mock.journal().entries())
    }

    /// The bound IPMI (UDP) address, if IPMI listens.
    pub fn ipmi_addr(&self) -> Option<SocketAddr> {
        self.ipmi.as_ref().map(|l| l.addr)
    }

    /// `http://127.0.0.1:PORT/wsman` (or the HTTPS URL when only HTTPS listens).
    pub fn url(&self) -> String {
        let (http, https, _) = self.addresses();
        match (http, https) {
            (Some(a), _) => format!("http://{a}/wsman"),
            (None, Some(a)) => format!("https://{a}/wsman"),
            (None, None) => String::new(),
        }
    }

    /// `https://127.0.0.1:PORT/wsman`, if HTTPS listens.
    pub fn https_url(&self) -> Option<String> {
        self.addresses().1.map(|a| format!("https://{a}/wsman"))
    }

    /// The admin API base URL, if it listens.
    pub fn admin_url(&self) -> Option<String> {
        self.addresses().2.map(|a| format!("http://{a}"))
    }

    /// The bound addresses: (http, https, admin).
    pub fn addresses(&self) -> (Option<SocketAddr>, Option<SocketAddr>, Option<SocketAddr>) {
        match &self.running {
            Some(r) => (r.http, r.https, r.admin),
            None => (None, None, None),
        }
    }

    /// The self-signed certificate (PEM) clients must trust for HTTPS.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.running.as_ref().and_then(|r| r.cert_pem.as_deref())
    }

    /// Everything received so far, oldest first.
    pub fn journal(&self) -> Vec<Entry> {
        self.mock.journal().entries()
    }

    /// The journal itself (to clear or wait on it).
    pub fn journal_handle(&self) -> &Arc<Journal> {
        self.mock.journal()
    }

    /// The mock behind the listeners (machine state, scenario).
    pub fn mock(&self) -> &Mock {
        &self.mock
    }

    /// Stops the listeners and frees the ports, then verifies the expectations (as
    /// dropping the server does).
    pub async fn shutdown(mut self) {
        // Event subscribers hear that the source is going (SubscriptionEnd).
        self.mock.end_subscriptions().await;
        if let Some(l) = self.ipmi.take() {
            l.shutdown().await;
        }
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if let Err(e) = self.registry.verify_once() {
            panic!("{e}");
        }
    }
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addresses", &self.addresses())
            .field("ipmi", &self.ipmi_addr())
            .finish_non_exhaustive()
    }
}
