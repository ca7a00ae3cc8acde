//! The admin API as its README table describes it (issue #14 item 7), over real HTTP on
//! loopback against a real mock: a sensor set answers the stored (quantised) value and
//! says so, unknown sensor ids are 404 with a JSON error, `POST /sel` without a body adds
//! the default event, and `POST /scenario` takes what `curl --data-binary @file` sends.

use std::net::SocketAddr;

use mock::MockServer;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{Duration, timeout};

const DEADLINE: Duration = Duration::from_secs(10);

async fn admin() -> (MockServer, SocketAddr) {
    let server = MockServer::builder()
        .admin(true)
        .start()
        .await
        .expect("mock starts");
    let addr = server.addresses().2.expect("admin listens");
    (server, addr)
}

/// One request on a fresh connection (`content_type` `None`: no such header); the
/// status and the body parsed as JSON.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let exchange = async {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        let ct = content_type
            .map(|t| format!("Content-Type: {t}\r\n"))
            .unwrap_or_default();
        let length = if body.is_empty() && method == "POST" && content_type.is_none() {
            // As `curl -X POST URL` sends it: no body, no Content-Length.
            String::new()
        } else {
            format!("Content-Length: {}\r\n", body.len())
        };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{ct}{length}Connection: close\r\n\r\n{body}"
        );
        tcp.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.expect("read");
        raw
    };
    let raw = timeout(DEADLINE, exchange)
        .await
        .expect("an answer in time");
    let raw = String::from_utf8(raw).expect("UTF-8 answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"));
    (status, value)
}

fn sensor_in_state(state: &Value, id: &str) -> Value {
    state["sensors"]
        .as_array()
        .expect("sensors in the state")
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} in {state}"))
}

#[tokio::test]
async fn a_sensor_set_answers_the_stored_value_and_says_it_was_quantised() {
    let (_server, addr) = admin().await;
    let json_type = Some("application/json");
    let (status, answer) = call(
        addr,
        "POST",
        "/sensors/CPU1_TEMP",
        json_type,
        r#"{"value":41.5}"#,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["requested"], json!(41.5), "{answer}");
    assert_eq!(answer["resolution"], json!(1.0), "{answer}");
    let stored = answer["value"].as_f64().expect("a stored value");
    assert!(
        (stored - 41.5).abs() == 0.5,
        "rounded to a whole degree: {answer}"
    );
    assert_eq!(answer["quantised"], json!(true), "{answer}");
    assert!(
        answer["note"]
            .as_str()
            .is_some_and(|n| n.contains("41.5") && n.contains("raw byte")),
        "{answer}"
    );
    // What the answer says is what the machine reads.
    let (_, state) = call(addr, "GET", "/state", None, "").await;
    let sensor = sensor_in_state(&state, "CPU1_TEMP");
    assert_eq!(sensor["value"].as_f64(), Some(stored), "{sensor}");

    // A value on the resolution's grid is stored as is.
    let (status, answer) = call(
        addr,
        "POST",
        "/sensors/CPU1_TEMP",
        json_type,
        r#"{"value":50}"#,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["value"], json!(50.0), "{answer}");
    assert_eq!(answer["quantised"], json!(false), "{answer}");
    assert!(answer.get("note").is_none(), "{answer}");
}

#[tokio::test]
async fn unknown_sensor_ids_are_404_with_a_json_error() {
    let (_server, addr) = admin().await;
    for body in [r#"{"value":1}"#, r#"{"value":null}"#] {
        let (status, answer) = call(
            addr,
            "POST",
            "/sensors/NO_SUCH",
            Some("application/json"),
            body,
        )
        .await;
        assert_eq!(status, 404, "{answer}");
        let message = answer["error"].as_str().expect("an error message");
        assert!(message.contains("NO_SUCH"), "{message}");
    }
    // A bad body on a known sensor is still the client's mistake: 400.
    let (status, _) = call(
        addr,
        "POST",
        "/sensors/CPU1_TEMP",
        Some("application/json"),
        r#"{"v":1}"#,
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_sel_post_without_a_body_adds_the_default_event() {
    let (_server, addr) = admin().await;
    let (_, before) = call(addr, "GET", "/state", None, "").await;
    let count = before["sel"]["entries"].as_u64().expect("a SEL count");
    let (status, answer) = call(addr, "POST", "/sel", None, "").await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["record_id"].as_u64().is_some(), "{answer}");
    assert_eq!(
        answer["entry"],
        mock::admin::default_sel_event(),
        "{answer}"
    );
    assert_eq!(answer["entry"]["sensor_type"], json!(0x12));
    let (_, after) = call(addr, "GET", "/state", None, "").await;
    assert_eq!(after["sel"]["entries"].as_u64(), Some(count + 1), "{after}");
    // An explicit JSON entry still works; a body of another type is still 415.
    let (status, _) = call(addr, "POST", "/sel", Some("application/json"), "{}").await;
    assert_eq!(status, 200);
    let (status, answer) = call(addr, "POST", "/sel", Some("text/plain"), "{}").await;
    assert_eq!(status, 415, "{answer}");
    let (_, last) = call(addr, "GET", "/state", None, "").await;
    assert_eq!(last["sel"]["entries"].as_u64(), Some(count + 2), "{last}");
}

#[tokio::test]
async fn a_scenario_posted_as_curl_data_binary_sends_it_loads() {
    let (_server, addr) = admin().await;
    let toml = "[scenario]\nname = \"uploaded\"\n";
    // `curl --data-binary @file.toml URL` sends application/x-www-form-urlencoded.
    for ct in [
        Some("application/x-www-form-urlencoded"),
        Some("application/toml"),
        None,
    ] {
        let (status, answer) = call(addr, "POST", "/scenario", ct, toml).await;
        assert_eq!(
            (status, &answer["loaded"]),
            (200, &json!("uploaded")),
            "{ct:?}: {answer}"
        );
    }
    let (status, answer) = call(addr, "POST", "/scenario", Some("image/png"), toml).await;
    assert_eq!(status, 415, "{answer}");
}
