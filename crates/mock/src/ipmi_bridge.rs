//! The IPMI listener's way into the mock: datagrams handled under the same lock as
//! WS-Man requests, session expiry, and what the admin API and tests read of the
//! session layer.

use crate::mock::Mock;

impl Mock {
    /// Handles one IPMI datagram from `peer`: the session layer, the machine and the
    /// `[[ipmi.rules]]`, under the one lock WS-Man requests take too.
    pub fn ipmi_datagram(
        &self,
        datagram: &[u8],
        peer: std::net::SocketAddr,
    ) -> crate::ipmi::Outcome {
        let now = self.now_ms();
        let mut guard = self.lock();
        let inner = &mut *guard;
        let scenario = inner.scenario.clone();
        crate::ipmi::handle(
            &mut inner.ipmi,
            &mut inner.machine,
            &scenario.ipmi,
            datagram,
            peer,
            now,
        )
    }

    /// Closes IPMI sessions idle for longer than the scenario's idle timeout; returns
    /// when (on [`Mock::now_ms`]'s clock) the session layer next has something to
    /// time out.
    pub fn ipmi_expire(&self) -> Option<u64> {
        let now = self.now_ms();
        let mut inner = self.lock();
        inner.ipmi.bmc.handle_timeout(now);
        inner.ipmi.bmc.next_timeout()
    }

    /// Tells the session layer which UDP port it listens on (Activate Payload reports it).
    pub fn set_ipmi_port(&self, port: u16) {
        let mut inner = self.lock();
        inner.ipmi_port = port;
        inner.ipmi.bmc.config_mut().port = port;
    }

    /// The IPMI sessions (pending logins included).
    pub fn ipmi_sessions(&self) -> Vec<ipmi::session::SessionInfo> {
        self.lock().ipmi.bmc.sessions().collect()
    }

    /// The IPMI session layer's configuration now (rules may have changed it).
    pub fn ipmi_config(&self) -> ipmi::session::BmcConfig {
        self.lock().ipmi.bmc.config().clone()
    }
}
