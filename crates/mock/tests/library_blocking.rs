//! `mock::blocking::MockServer`: the same mocks and expectations from a test that is
//! not async, with a plain `std::net` client over loopback.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use mock::blocking::MockServer;
use mock::{IpmiMock, IpmiRespond, Mock, Respond, operation};

const IDENTIFY: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:w="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"><s:Header/><s:Body><w:Identify/></s:Body></s:Envelope>"#;

/// POSTs `body` to `/wsman` as admin/admin and returns the status and the body.
fn post(addr: SocketAddr, body: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        tcp,
        "POST /wsman HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\n\
         Content-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

#[test]
fn the_blocking_server_mounts_answers_and_verifies_without_async() {
    let server = MockServer::start().unwrap();
    let addr = server.addresses().0.unwrap();
    assert_eq!(server.url(), format!("http://{addr}/wsman"));
    // Before any mock: the mock's own Identify answer.
    let (status, body) = post(addr, IDENTIFY);
    assert_eq!(status, 200);
    assert!(body.contains("IdentifyResponse"), "{body}");

    server
        .mount(
            Mock::given(operation("Identify"))
                .respond_with(Respond::status(503))
                .named("identify down")
                .expect(1),
        )
        .unwrap();
    assert_eq!(post(addr, IDENTIFY).0, 503);
    let received = server.received_requests();
    assert_eq!(received.len(), 2);
    let last = received[1].wsman().unwrap();
    assert_eq!(last.operation.as_deref(), Some("Identify"));
    assert_eq!(last.rule.as_deref(), Some("identify down (mock #1)"));
    server.verify().unwrap();

    // Shutting down frees the port and hands back the verdict.
    server.shutdown().unwrap();
    std::net::TcpListener::bind(addr).expect("the port is free again");
}

#[test]
fn a_failed_blocking_expectation_panics_on_drop_with_the_report() {
    let server = MockServer::start().unwrap();
    let addr = server.addresses().0.unwrap();
    server
        .mount(
            Mock::given(operation("Identify"))
                .respond_with(Respond::status(503))
                .expect(2..=3),
        )
        .unwrap();
    assert_eq!(post(addr, IDENTIFY).0, 503);
    let message = panic_message(move || drop(server));
    assert!(
        message.contains("- mock `Identify`: expected between 2 and 3 requests, received 1"),
        "{message}"
    );
    assert!(message.contains("Identify user admin -> 503"), "{message}");
    // The server was stopped before the panic.
    std::net::TcpListener::bind(addr).expect("the port is free again");
}

#[test]
fn blocking_shutdown_returns_the_report_instead_of_panicking() {
    let server = MockServer::start().unwrap();
    let guard = server
        .mount_as_scoped(
            Mock::given(operation("Get"))
                .respond_with(Respond::status(500))
                .expect(0),
        )
        .unwrap();
    drop(guard); // zero Gets, as expected
    server
        .mount(
            Mock::given(operation("Enumerate"))
                .respond_with(Respond::status(500))
                .named("enumerations")
                .expect(1),
        )
        .unwrap();
    let report = server.shutdown().expect_err("no Enumerate was sent");
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].mock, "enumerations");
    assert!(
        report
            .to_string()
            .contains("The server received no request.")
    );
}

#[test]
fn the_blocking_server_serves_ipmi_mocks() {
    let server = MockServer::builder().ipmi(true).start().unwrap();
    let addr = server.ipmi_addr().unwrap();
    server
        .mount(
            IpmiMock::given(0x06, 0x01)
                .respond_with(IpmiRespond::completion_code(0xD5))
                .expect(1),
        )
        .unwrap();
    // A sessionless Get Device ID in IPMI 1.5 framing, by hand.
    let msg = ipmi::msg::Message::request(0x06, 0x01, 1, vec![]);
    let datagram = ipmi::rmcp::encode_v15(ipmi::rmcp::AuthType::None, 0, 0, None, &msg.to_bytes());
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    udp.send_to(&datagram, addr).unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = udp.recv_from(&mut buf).unwrap();
    // RMCP (4) + session header (9) + length (1) + rsSA netFn/LUN cksum rqSA seq cmd: the
    // completion code follows.
    let reply = &buf[..n];
    assert_eq!(reply.get(20), Some(&0xD5), "{reply:02x?}");
    server.shutdown().unwrap();
}

#[test]
fn the_blocking_server_refuses_to_start_inside_a_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = rt
        .block_on(async { MockServer::start() })
        .expect_err("inside a runtime");
    assert!(err.to_string().contains("use mock::MockServer"), "{err}");
}
