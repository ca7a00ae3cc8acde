//! The library face of the mock, in the spirit of wiremock: start a mock from a
//! scenario on a free loopback port, point a client at [`MockServer::url`], then look at
//! what it received in the journal. Each instance has its own machine and state.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mock::MockServer;
//! use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
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
//! // Any WS-Man client goes here; this one writes a Get by hand.
//! let envelope = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
//!     xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"
//!     xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>
//!   <a:To>http://127.0.0.1/wsman</a:To>
//!   <a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action>
//!   <a:MessageID>uuid:5a1d0c6e-3e2b-4f5a-9b7c-2d1e0f3a4b5c</a:MessageID>
//!   <w:ResourceURI s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Fan</w:ResourceURI>
//! </s:Header><s:Body/></s:Envelope>"#;
//! let addr = server.addresses().0.expect("HTTP listens");
//! let mut tcp = tokio::net::TcpStream::connect(addr).await?;
//! let request = format!(
//!     "POST /wsman HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\n\
//!      Content-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\n\
//!      Connection: close\r\n\r\n{envelope}",
//!     envelope.len()
//! );
//! tcp.write_all(request.as_bytes()).await?;
//! let mut answer = String::new();
//! tcp.read_to_string(&mut answer).await?;
//! assert!(answer.starts_with("HTTP/1.1 401")); // AccessDenied, in the DMTF mapping
//! assert!(answer.contains("AccessDenied"));
//!
//! // The journal says what came in and which rule answered.
//! let journal = server.journal();
//! let exchange = journal[0].http().expect("an HTTP exchange");
//! assert_eq!(exchange.rule.as_deref(), Some("deny fans"));
//! assert_eq!(exchange.operation.as_deref(), Some("Get"));
//! assert_eq!(exchange.user.as_deref(), Some("admin"));
//! server.shutdown().await;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::http::server::{self, Running, ServerConfig, TlsSource};
use crate::journal::{Entry, Journal};
use crate::scenario::{Scenario, ScenarioError};
use crate::service::Mock;

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
pub struct MockServer {
    mock: Mock,
    running: Running,
    ipmi: Option<crate::ipmi::Listener>,
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
        let journal = Arc::new(Journal::default());
        let mock = Mock::new(scenario, journal.clone()).map_err(std::io::Error::other)?;
        let shared = Arc::new(mock.clone());
        let ipmi = match ipmi {
            Some(addr) => Some(crate::ipmi::start(addr, mock.clone()).await?),
            None => None,
        };
        let running =
            server::start(config, shared.clone(), shared.clone(), shared, journal).await?;
        Ok(MockServer {
            mock,
            running,
            ipmi,
        })
    }

    /// The bound IPMI (UDP) address, if IPMI listens.
    pub fn ipmi_addr(&self) -> Option<SocketAddr> {
        self.ipmi.as_ref().map(|l| l.addr)
    }

    /// `http://127.0.0.1:PORT/wsman` (or the HTTPS URL when only HTTPS listens).
    pub fn url(&self) -> String {
        match (self.running.http, self.running.https) {
            (Some(a), _) => format!("http://{a}/wsman"),
            (None, Some(a)) => format!("https://{a}/wsman"),
            (None, None) => String::new(),
        }
    }

    /// `https://127.0.0.1:PORT/wsman`, if HTTPS listens.
    pub fn https_url(&self) -> Option<String> {
        self.running.https.map(|a| format!("https://{a}/wsman"))
    }

    /// The admin API base URL, if it listens.
    pub fn admin_url(&self) -> Option<String> {
        self.running.admin.map(|a| format!("http://{a}"))
    }

    /// The bound addresses: (http, https, admin).
    pub fn addresses(&self) -> (Option<SocketAddr>, Option<SocketAddr>, Option<SocketAddr>) {
        (self.running.http, self.running.https, self.running.admin)
    }

    /// The self-signed certificate (PEM) clients must trust for HTTPS.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.running.cert_pem.as_deref()
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

    /// Stops the listeners and frees the ports.
    pub async fn shutdown(self) {
        if let Some(l) = self.ipmi {
            l.shutdown().await;
        }
        self.running.shutdown().await;
    }
}
