//! Support for the IPMI interop tests: a mock with IPMI on loopback, kept running on
//! its own runtime while the test thread runs client processes; WS-Man reads over a
//! plain blocking HTTP exchange to compare what IPMI clients saw with what WS-Man
//! shows; the time guard every client call gets.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use mock::MockServer;

use super::{Finished, run_with_deadline};

/// How long one IPMI client call may take before it is killed (a silent BMC costs
/// clients about 10 s of retries, so this catches it).
pub const CALL_DEADLINE: Duration = Duration::from_secs(20);

/// The hang guard asserted on every call (typical calls take tens of milliseconds).
pub const CALL_GUARD: Duration = Duration::from_secs(2);

/// A running mock with IPMI, on a runtime of its own.
pub struct IpmiMock {
    rt: tokio::runtime::Runtime,
    server: Option<MockServer>,
}

impl IpmiMock {
    /// The default scenario (or `scenario`), HTTP and IPMI on free loopback ports.
    pub fn start(scenario: Option<&str>) -> IpmiMock {
        IpmiMock::start_at(scenario, ([127, 0, 0, 1], 0).into())
    }

    /// As [`IpmiMock::start`], IPMI bound to `ipmi`.
    pub fn start_at(scenario: Option<&str>, ipmi: SocketAddr) -> IpmiMock {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let scenario = match scenario {
            Some(s) => mock::Scenario::from_toml(s, "<test>").expect("scenario"),
            None => mock::Scenario::default_scenario(),
        };
        let config = mock::http::ServerConfig {
            http: Some(([127, 0, 0, 1], 0).into()),
            ..mock::http::ServerConfig::default()
        };
        let server = rt
            .block_on(MockServer::start_with_ipmi(scenario, config, Some(ipmi)))
            .expect("mock starts");
        IpmiMock {
            rt,
            server: Some(server),
        }
    }

    /// A mock whose IPMI port is below 32768 (ipmiconsole 1.6.10 refuses higher ports
    /// in `HOST:PORT`): tries ports from a per-process offset until one binds.
    pub fn start_low_port(scenario: Option<&str>) -> IpmiMock {
        let base = 20000 + (std::process::id() % 5000) as u16;
        for p in base..base + 2000 {
            let addr: SocketAddr = ([127, 0, 0, 1], p).into();
            if std::net::UdpSocket::bind(addr).is_ok() {
                // Free a moment ago; a race with another process is retried.
                let rt_try = std::panic::catch_unwind(|| IpmiMock::start_at(scenario, addr));
                if let Ok(m) = rt_try {
                    return m;
                }
            }
        }
        panic!("no free UDP port below 32768");
    }

    pub fn server(&self) -> &MockServer {
        self.server.as_ref().expect("running")
    }

    /// The IPMI UDP port.
    pub fn port(&self) -> u16 {
        self.server().ipmi_addr().expect("ipmi listens").port()
    }

    /// The HTTP address.
    pub fn http(&self) -> SocketAddr {
        self.server().addresses().0.expect("http listens")
    }

    /// The IPMI journal records so far.
    pub fn ipmi_journal(&self) -> Vec<mock::journal::IpmiRecord> {
        self.server()
            .journal()
            .iter()
            .filter_map(|e| e.ipmi().cloned())
            .collect()
    }

    /// Enumerates `class` over WS-Man (all instances in the Enumerate answer) and
    /// returns the response body.
    pub fn enumerate(&self, class: &str) -> String {
        wsman_enumerate(self.http(), class)
    }
}

impl Drop for IpmiMock {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

/// Runs a client call with [`CALL_DEADLINE`], asserts it succeeded within
/// [`CALL_GUARD`], and returns it.
pub fn call_ok(cmd: &mut Command) -> Finished {
    let run = run_with_deadline(cmd, CALL_DEADLINE);
    assert!(run.success(), "client call failed:\n{}", run.report());
    assert!(
        run.elapsed < CALL_GUARD,
        "client call took {} ms (a command the BMC left unanswered?):\n{}",
        run.elapsed.as_millis(),
        run.report()
    );
    run
}

/// A blocking WS-Man Enumerate (optimized, up to 100 items) with Basic admin/admin.
pub fn wsman_enumerate(addr: SocketAddr, class: &str) -> String {
    let envelope = format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><s:Header><a:To>http://{addr}/wsman</a:To><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate</a:Action><a:MessageID>uuid:5a1d0c6e-3e2b-4f5a-9b7c-2d1e0f3a4b5c</a:MessageID><w:ResourceURI s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/{class}</w:ResourceURI><w:MaxEnvelopeSize s:mustUnderstand="true">1048576</w:MaxEnvelopeSize></s:Header><s:Body><n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>100</w:MaxElements></n:Enumerate></s:Body></s:Envelope>"#
    );
    let mut tcp = TcpStream::connect(addr).expect("connect to the mock");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let request = format!(
        "POST /wsman HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\n\
         Content-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{envelope}",
        envelope.len()
    );
    tcp.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).expect("read");
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "WS-Man Enumerate {class}:\n{answer}"
    );
    assert!(
        answer.contains("<w:EndOfSequence/>"),
        "all {class} in one answer:\n{answer}"
    );
    answer
}

/// The texts of every `<p:NAME>` element (in instance order).
pub fn values(body: &str, name: &str) -> Vec<String> {
    let open = format!("<p:{name}>");
    let close = format!("</p:{name}>");
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(after[..j].to_owned());
        rest = &after[j..];
    }
    out
}

/// Each instance's element text, as (ElementName, value of `name`) pairs.
pub fn by_element_name(body: &str, name: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for chunk in body.split("<p:ElementName>").skip(1) {
        let en = chunk
            .split("</p:ElementName>")
            .next()
            .unwrap_or("")
            .to_owned();
        // The instance's properties run until the next instance element closes.
        let instance = chunk.split("</p:CIM_").next().unwrap_or("");
        let full = format!("<p:X>{instance}");
        if let Some(v) = values(&full, name).into_iter().next() {
            out.push((en, v));
        }
    }
    out
}

/// (reading, tolerance) per sensor name, from CIM_NumericSensor over WS-Man: the
/// CurrentReading and the Resolution scaled by the UnitModifier.
pub fn wsman_readings(m: &IpmiMock) -> Vec<(String, f64, f64)> {
    let body = m.enumerate("CIM_NumericSensor");
    let reading = by_element_name(&body, "CurrentReading");
    let modifier = by_element_name(&body, "UnitModifier");
    let resolution = by_element_name(&body, "Resolution");
    reading
        .iter()
        .map(|(name, r)| {
            let unit_mod: i32 = modifier
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, v)| v.parse().expect("UnitModifier"));
            let scale = 10f64.powi(unit_mod);
            let res: f64 = resolution
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0.0, |(_, v)| v.parse().expect("Resolution"));
            let value: f64 = r.parse::<f64>().expect("CurrentReading") * scale;
            (name.clone(), value, res * scale)
        })
        .collect()
}

/// The `Field : value` of a client's colon-aligned output (ipmitool, freeipmi).
pub fn field<'a>(out: &'a str, name: &str) -> Option<&'a str> {
    out.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == name).then_some(v.trim())
    })
}

/// Runs `ipmi_sol.py` (already given its client command line) with [`CALL_DEADLINE`]
/// and asserts it saw the console's prompt, its echo, and a clean exit.
pub fn run_sol(cmd: &mut Command) -> Finished {
    let run = run_with_deadline(cmd, CALL_DEADLINE);
    assert!(run.success(), "{}", run.report());
    assert!(
        run.stdout.contains("prompt ok") && run.stdout.contains("echo ok"),
        "{}",
        run.report()
    );
    assert!(run.stdout.contains("exit 0"), "{}", run.report());
    run
}

/// The text of a scenario file under `mocks/` (e.g. `ipmi-small-reads.toml`).
pub fn mock_toml(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../mocks")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The GUID the scenario's machine has (`[machine.identity] guid`), lower case.
pub fn scenario_guid(toml: Option<&str>) -> String {
    let s = match toml {
        Some(t) => mock::Scenario::from_toml(t, "<test>").expect("scenario"),
        None => mock::Scenario::default_scenario(),
    };
    s.machine.identity.guid.to_ascii_lowercase()
}

/// What the journal shows of `command` (e.g. "get_sdr", "read_fru_data"): the count
/// each request asked for (its last data byte) with the completion code answered.
pub fn read_counts(journal: &[mock::journal::IpmiRecord], command: &str) -> Vec<(u8, u8)> {
    journal
        .iter()
        .filter(|r| r.command.as_deref() == Some(command) && r.dropped.is_none())
        .filter_map(|r| {
            let count = u8::from_str_radix(
                r.request_hex.get(r.request_hex.len().checked_sub(2)?..)?,
                16,
            )
            .ok()?;
            Some((count, r.completion_code?))
        })
        .collect()
}

/// Asserts that a client read `command` in pieces of at most `max` bytes: every read
/// that succeeded asked for at most `max` (or 0xFF "the rest" only when that was at
/// most `max`), at least one succeeded, only requests above `max` were answered 0xCA,
/// and, with `stepped_down`, at least one was (the client asked for more first and
/// had to read smaller pieces).
pub fn assert_read_in_pieces(
    journal: &[mock::journal::IpmiRecord],
    command: &str,
    max: u8,
    stepped_down: bool,
) {
    let counts = read_counts(journal, command);
    let ok: Vec<u8> = counts
        .iter()
        .filter(|(_, c)| *c == 0)
        .map(|(n, _)| *n)
        .collect();
    let refused: Vec<u8> = counts
        .iter()
        .filter(|(_, c)| *c == 0xCA)
        .map(|(n, _)| *n)
        .collect();
    assert!(!ok.is_empty(), "{command}: no read succeeded: {counts:?}");
    assert!(
        ok.iter().all(|n| *n <= max || *n == 0xFF),
        "{command}: a read above {max} bytes succeeded: {counts:?}"
    );
    assert!(
        refused.iter().all(|n| *n > max),
        "{command}: 0xCA for a read of at most {max}: {counts:?}"
    );
    if stepped_down {
        assert!(
            !refused.is_empty(),
            "{command}: never answered 0xCA: {counts:?}"
        );
    }
    // Every successful answer carries at most `max` data bytes (Get SDR: 2 bytes of
    // next record ID first; Read FRU Data: 1 byte of count first).
    for r in journal
        .iter()
        .filter(|r| r.command.as_deref() == Some(command) && r.completion_code == Some(0))
    {
        assert!(
            r.response_hex.len() / 2 <= usize::from(max) + 2,
            "{command}: {r:?}"
        );
    }
}
