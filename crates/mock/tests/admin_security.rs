//! The admin API refuses what a web page in a browser on the same host could send it
//! (issue #13 item 5): a foreign `Origin` is 403 whatever the request, a JSON route
//! refuses any other `Content-Type` with 415, cross-origin preflights get no CORS
//! headers; curl-style requests (no `Origin`) and same-origin requests still work.
//! Real HTTP over loopback against a real mock (its own machine per test).

use std::net::SocketAddr;

use mock::MockServer;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// One parsed answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    fn has_header_starting(&self, prefix: &str) -> bool {
        self.headers.iter().any(|(k, _)| k.starts_with(prefix))
    }
}

async fn admin() -> (MockServer, SocketAddr) {
    let server = MockServer::builder()
        .admin(true)
        .start()
        .await
        .expect("mock starts");
    let addr = server.addresses().2.expect("admin listens");
    (server, addr)
}

/// Sends one request (`extra` is more header lines, each ending in CRLF) on a fresh
/// connection and reads the answer to the end.
async fn send(addr: SocketAddr, method: &str, path: &str, extra: &str, body: &str) -> Answer {
    send_as_host(addr, &addr.to_string(), method, path, extra, body).await
}

/// [`send`] with the `Host` header a browser would send for `host`.
async fn send_as_host(
    addr: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    extra: &str,
    body: &str,
) -> Answer {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.expect("read");
    let raw = String::from_utf8(raw).expect("UTF-8 answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

async fn power(addr: SocketAddr) -> String {
    let r = send(addr, "GET", "/state", "", "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["power"].as_str().expect("power").to_owned()
}

const OFF: &str = r#"{"action":"off"}"#;

#[tokio::test]
async fn the_cross_site_curl_of_the_issue_is_refused_and_changes_nothing() {
    let (server, addr) = admin().await;
    let before = power(addr).await;
    let r = send(
        addr,
        "POST",
        "/power",
        "Content-Type: text/plain\r\nOrigin: http://evil.example\r\n",
        OFF,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let why = r.json()["error"].as_str().expect("a reason").to_owned();
    assert!(why.contains("http://evil.example"), "{why}");
    assert_eq!(power(addr).await, before);

    // application/json does not help a foreign origin, nor does a loopback origin on
    // another port (another local web server), nor https, nor the opaque origin.
    for origin in [
        "http://evil.example",
        "http://127.0.0.1:1",
        &format!("https://127.0.0.1:{}", addr.port()),
        &format!("http://127.0.0.1.evil.example:{}", addr.port()),
        "null",
    ] {
        let r = send(
            addr,
            "POST",
            "/power",
            &format!("Content-Type: application/json\r\nOrigin: {origin}\r\n"),
            OFF,
        )
        .await;
        assert_eq!(r.status, 403, "{origin}: {}", r.body);
    }
    // Reads and other routes alike.
    for (method, path) in [
        ("GET", "/journal"),
        ("DELETE", "/journal"),
        ("GET", "/nope"),
    ] {
        let r = send(addr, method, path, "Origin: http://evil.example\r\n", "").await;
        assert_eq!(r.status, 403, "{method} {path}");
    }
    assert_eq!(power(addr).await, before);
    server.shutdown().await;
}

#[tokio::test]
async fn a_json_route_refuses_other_content_types_without_origin_too() {
    let (server, addr) = admin().await;
    let before = power(addr).await;
    for extra in [
        "Content-Type: text/plain\r\n",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        "Content-Type: multipart/form-data; boundary=x\r\n",
        "",
    ] {
        let r = send(addr, "POST", "/power", extra, OFF).await;
        assert_eq!(r.status, 415, "{extra:?}: {}", r.body);
        assert!(
            r.json()["error"]
                .as_str()
                .unwrap()
                .contains("application/json")
        );
    }
    let r = send(
        addr,
        "POST",
        "/sensors/anything",
        "Content-Type: text/plain\r\n",
        r#"{"value": 1}"#,
    )
    .await;
    assert_eq!(r.status, 415);
    let r = send(addr, "POST", "/sel", "Content-Type: text/plain\r\n", "{}").await;
    assert_eq!(r.status, 415);
    // DELETE /journal takes no body; one that sends a body must type it as JSON.
    let r = send(
        addr,
        "DELETE",
        "/journal",
        "Content-Type: text/plain\r\n",
        "x",
    )
    .await;
    assert_eq!(r.status, 415);
    assert_eq!(power(addr).await, before);
    server.shutdown().await;
}

#[tokio::test]
async fn same_origin_and_curl_requests_work() {
    let (server, addr) = admin().await;
    let port = addr.port();
    // Without Origin, as curl sends it, JSON with a charset parameter.
    let r = send(
        addr,
        "POST",
        "/power",
        "Content-Type: application/json; charset=utf-8\r\n",
        OFF,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let off = power(addr).await;
    // From each of the listener's own loopback origins.
    for (origin, action) in [
        (format!("http://127.0.0.1:{port}"), "on"),
        (format!("http://localhost:{port}"), "off"),
        (format!("http://[::1]:{port}"), "on"),
    ] {
        let r = send(
            addr,
            "POST",
            "/power",
            &format!("Content-Type: Application/JSON\r\nOrigin: {origin}\r\n"),
            &format!(r#"{{"action":"{action}"}}"#),
        )
        .await;
        assert_eq!(r.status, 200, "{origin}: {}", r.body);
        assert!(!r.has_header_starting("access-control-"));
    }
    assert_ne!(power(addr).await, off, "the last action was on");

    // GET routes for curl without Origin (and without Content-Type).
    for path in ["/health", "/state", "/journal"] {
        let r = send(addr, "GET", path, "", "").await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    // DELETE /journal without a body needs no Content-Type.
    let r = send(addr, "DELETE", "/journal", "", "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    server.shutdown().await;
}

#[tokio::test]
async fn cross_origin_preflights_get_no_cors_headers() {
    let (server, addr) = admin().await;
    let r = send(
        addr,
        "OPTIONS",
        "/power",
        "Origin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\n\
         Access-Control-Request-Headers: content-type\r\n",
        "",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!r.has_header_starting("access-control-"), "{:?}", r.headers);
    // OPTIONS is no admin method even without Origin.
    let r = send(addr, "OPTIONS", "/power", "", "").await;
    assert_eq!(r.status, 405);
    assert!(!r.has_header_starting("access-control-"), "{:?}", r.headers);
    server.shutdown().await;
}

#[tokio::test]
async fn scenario_upload_takes_toml_as_curl_sends_it_but_not_cross_site() {
    let (server, addr) = admin().await;
    let scenario_name = |r: Answer| r.json()["scenario"].as_str().unwrap_or("").to_owned();
    let toml = |name: &str| format!("[scenario]\nname = \"{name}\"\n");

    // A browser page could send text/plain or the form type without a preflight, but
    // it sends Origin with it.
    for ct in ["text/plain", "application/x-www-form-urlencoded"] {
        let r = send(
            addr,
            "POST",
            "/scenario",
            &format!("Content-Type: {ct}\r\nOrigin: http://evil.example\r\n"),
            &toml("evil"),
        )
        .await;
        assert_eq!(r.status, 403, "{ct}: {}", r.body);
    }
    assert_ne!(
        scenario_name(send(addr, "GET", "/health", "", "").await),
        "evil"
    );

    // application/toml, text/plain, curl --data-binary's form type, or none at all.
    for (i, extra) in [
        "Content-Type: application/toml\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        "",
        &format!(
            "Content-Type: application/toml\r\nOrigin: http://localhost:{}\r\n",
            addr.port()
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("uploaded-{i}");
        let r = send(addr, "POST", "/scenario", extra, &toml(&name)).await;
        assert_eq!(r.status, 200, "{extra:?}: {}", r.body);
        assert_eq!(
            scenario_name(send(addr, "GET", "/health", "", "").await),
            name
        );
    }
    for ct in [
        "multipart/form-data; boundary=x",
        "application/json",
        "image/png",
    ] {
        let r = send(
            addr,
            "POST",
            "/scenario",
            &format!("Content-Type: {ct}\r\n"),
            &toml("wrong"),
        )
        .await;
        assert_eq!(r.status, 415, "{ct}: {}", r.body);
    }
    server.shutdown().await;
}

/// DNS rebinding: a page whose host name now resolves to 127.0.0.1 sends its own name as
/// `Host` and no `Origin` on same-origin GETs. On a loopback listener such requests are
/// refused, so the page cannot read the journal or the state; loopback names work.
#[tokio::test]
async fn a_rebound_host_name_cannot_read_the_admin_api() {
    let (server, addr) = admin().await;
    for path in ["/state", "/journal", "/health"] {
        let r = send_as_host(
            addr,
            &format!("evil.example:{}", addr.port()),
            "GET",
            path,
            "",
            "",
        )
        .await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(r.body.contains("DNS rebinding"), "{}", r.body);
    }
    for host in [
        format!("localhost:{}", addr.port()),
        format!("127.0.0.1:{}", addr.port()),
    ] {
        let r = send_as_host(addr, &host, "GET", "/state", "", "").await;
        assert_eq!(r.status, 200, "{host}: {}", r.body);
    }
    server.shutdown().await;
}
