//! Events that do not come from the machine's own behaviour (issue #16 item 2): the
//! admin API's `POST /events` (indications, a SEL record, a power action), scenario
//! `[[events]]` schedules fired by the mock's timer, and a rule's `raise` action, all
//! observed through `GET /events` over real loopback sockets; bad JSON and bad TOML
//! refused with precise errors. (Command handlers' `raise_event` is proved in the
//! machine crate's `tests/script_events.rs`.)

use std::net::SocketAddr;
use std::time::Duration;

use mock::MockServer;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Every wait in this file ends by then.
const DEADLINE: Duration = Duration::from_secs(10);

async fn start(scenario: Option<&str>) -> (MockServer, SocketAddr) {
    let mut builder = MockServer::builder().admin(true);
    if let Some(toml) = scenario {
        builder = builder.scenario_str(toml).expect("scenario loads");
    }
    let server = builder.start().await.expect("mock starts");
    let addr = server.addresses().2.expect("admin listens");
    (server, addr)
}

/// One admin request on a fresh connection (`extra`: more header lines, each ending
/// in CRLF); the status, the `Allow` header and the JSON answer.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &str,
    body: &str,
) -> (u16, Option<String>, Value) {
    let exchange = async {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        );
        tcp.write_all(head.as_bytes()).await.expect("write");
        tcp.write_all(body.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.expect("read");
        raw
    };
    let raw = tokio::time::timeout(DEADLINE, exchange)
        .await
        .expect("the admin API answers in time");
    let raw = String::from_utf8(raw).expect("UTF-8 answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let allow = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("allow"))
        .map(|(_, v)| v.trim().to_owned());
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"));
    (status, allow, json)
}

async fn post_events(addr: SocketAddr, body: &str) -> (u16, Value) {
    let (status, _, answer) = request(
        addr,
        "POST",
        "/events",
        "Content-Type: application/json\r\n",
        body,
    )
    .await;
    (status, answer)
}

async fn get_events(addr: SocketAddr, after: u64) -> Value {
    let (status, _, answer) = request(addr, "GET", &format!("/events?after={after}"), "", "").await;
    assert_eq!(status, 200, "{answer}");
    answer
}

fn events(log: &Value) -> &Vec<Value> {
    log["events"].as_array().expect("an events array")
}

fn seqs(list: &Value) -> Vec<u64> {
    list.as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_u64().expect("a sequence number"))
        .collect()
}

/// The indications logged after `after`, polled until `done` holds or the deadline.
async fn indications_until(
    addr: SocketAddr,
    after: u64,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let poll = async {
        loop {
            let log = get_events(addr, after).await;
            let found: Vec<Value> = events(&log)
                .iter()
                .filter(|e| e["kind"] == "indication")
                .cloned()
                .collect();
            if done(&found) {
                return found;
            }
            // Polling the mock's state, not synchronising on time: the deadline bounds it.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(DEADLINE, poll)
        .await
        .expect("the events arrive before the deadline")
}

async fn uptime(addr: SocketAddr) -> u64 {
    let (_, _, health) = request(addr, "GET", "/health", "", "").await;
    health["uptime_ms"].as_u64().expect("uptime_ms")
}

#[tokio::test]
async fn posted_indications_are_logged_in_order_and_listed_by_get_events() {
    let (_server, addr) = start(None).await;
    let base = get_events(addr, 0).await["last_seq"].as_u64().unwrap();
    let t0 = uptime(addr).await;

    let (status, one) = post_events(
        addr,
        r#"{"class": "CIM_AlertIndication",
            "properties": {"Message": "Fan 1 failed", "PerceivedSeverity": 6, "Ack": false}}"#,
    )
    .await;
    assert_eq!(status, 201, "{one}");
    assert_eq!(seqs(&one["raised"]), [base + 1], "{one}");
    assert_eq!(one["last_seq"], json!(base + 1));

    let (status, two) = post_events(
        addr,
        r#"[{"class": "CIM_AlertIndication", "properties": {"Message": "second"}},
            {"class": "CIM_InstCreation"}]"#,
    )
    .await;
    assert_eq!(status, 201, "{two}");
    assert_eq!(seqs(&two["raised"]), [base + 2, base + 3], "{two}");

    let log = get_events(addr, base).await;
    assert_eq!(log["dropped"], json!(0), "{log}");
    assert_eq!(log["last_seq"], json!(base + 3), "{log}");
    let listed = events(&log);
    assert_eq!(listed.len(), 3, "{log}");
    assert_eq!(listed[0]["seq"], json!(base + 1));
    assert_eq!(listed[0]["kind"], "indication");
    assert_eq!(listed[0]["class"], "CIM_AlertIndication");
    assert_eq!(
        listed[0]["properties"],
        json!({"Ack": "false", "Message": "Fan 1 failed", "PerceivedSeverity": "6"})
    );
    assert!(listed[0]["at"].as_u64().unwrap() >= t0, "{log}");
    assert!(listed[0]["unix"].as_u64().unwrap() > 0, "{log}");
    assert_eq!(listed[1]["properties"], json!({"Message": "second"}));
    assert_eq!(
        (&listed[2]["class"], &listed[2]["properties"]),
        (&json!("CIM_InstCreation"), &json!({}))
    );
    // `after` is a cursor: only what is newer.
    let tail = get_events(addr, base + 2).await;
    assert_eq!(events(&tail).len(), 1, "{tail}");
    assert_eq!(events(&tail)[0]["seq"], json!(base + 3));
}

#[tokio::test]
async fn sel_and_power_shortcuts_record_the_machine_events_they_cause() {
    let (_server, addr) = start(None).await;
    let base = get_events(addr, 0).await["last_seq"].as_u64().unwrap();

    let (status, sel) = post_events(
        addr,
        r#"{"sel": {"sensor_type": 18, "sensor_number": 0, "data": [0, 255, 255]}}"#,
    )
    .await;
    assert_eq!(status, 201, "{sel}");
    let record_id = sel["record_id"].as_u64().expect("a record id");
    assert_eq!(seqs(&sel["raised"]), [base + 1], "{sel}");

    let (status, power) = post_events(addr, r#"{"power": "off"}"#).await;
    assert_eq!(status, 201, "{power}");
    assert_eq!(power["power"], "Off", "{power}");
    // A power change is logged, then its SEL record.
    assert_eq!(seqs(&power["raised"]), [base + 2, base + 3], "{power}");

    let log = get_events(addr, base).await;
    let listed = events(&log);
    assert_eq!(listed.len(), 3, "{log}");
    assert_eq!(
        (&listed[0]["kind"], &listed[0]["record_id"]),
        (&json!("sel_record"), &json!(record_id))
    );
    assert_eq!(
        (&listed[1]["kind"], &listed[1]["action"]),
        (&json!("power"), &json!("off"))
    );
    assert_eq!(listed[2]["kind"], "sel_record");
    assert_ne!(listed[2]["record_id"], json!(record_id));
}

#[tokio::test]
async fn bad_event_requests_are_refused_precisely_and_raise_nothing() {
    let (_server, addr) = start(None).await;
    let base = get_events(addr, 0).await["last_seq"].as_u64().unwrap();
    for (body, says) in [
        ("{not json", "body is not JSON"),
        ("42", "send {\"class\""),
        ("[]", "an empty list raises nothing"),
        ("{}", "\"class\" is missing"),
        (r#"{"class": 7}"#, "\"class\" is a number, not text"),
        (r#"{"class": "CIM Alert"}"#, "not a CIM class name"),
        (
            r#"{"class": "A", "severity": 6}"#,
            "unknown key \"severity\"",
        ),
        (
            r#"{"class": "A", "properties": {"P": [1]}}"#,
            "property \"P\" is an array",
        ),
        (
            r#"{"class": "A", "properties": {"a-b": 1}}"#,
            "\"a-b\" is not a CIM property name",
        ),
        // The first item is good, the second is not: nothing is raised.
        (r#"[{"class": "A"}, {"class": ""}]"#, "[1]: class \"\""),
        (
            r#"[{"power": "off"}]"#,
            "[0]: {\"sel\": ...} and {\"power\": ...} are sent alone",
        ),
        (r#"{"power": "off", "class": "A"}"#, "take no other key"),
        (
            r#"{"power": "sideways"}"#,
            "unknown power action `sideways`",
        ),
        (r#"{"power": 1}"#, "\"power\" is an action"),
        (
            r#"{"sel": {"bogus": 1}}"#,
            "SEL entry: unknown field `bogus`",
        ),
        (r#"{"sel": {"sensor": "NOPE"}}"#, "no sensor `NOPE`"),
    ] {
        let (status, answer) = post_events(addr, body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let error = answer["error"].as_str().expect("an error message");
        assert!(error.contains(says), "{body}: {error}");
    }
    let too_many = format!("[{}]", vec![r#"{"class": "A"}"#; 257].join(","));
    let (status, answer) = post_events(addr, &too_many).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("at most 256"),
        "{answer}"
    );
    assert_eq!(get_events(addr, 0).await["last_seq"], json!(base));

    // The transport rules of the other JSON routes hold here too.
    let (status, _, answer) = request(
        addr,
        "POST",
        "/events",
        "Content-Type: text/plain\r\n",
        r#"{"class": "A"}"#,
    )
    .await;
    assert_eq!(status, 415, "{answer}");
    let (status, _, answer) = request(
        addr,
        "POST",
        "/events",
        "Origin: http://evil.example\r\nContent-Type: application/json\r\n",
        r#"{"class": "A"}"#,
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    let (status, allow, answer) = request(addr, "DELETE", "/events", "", "").await;
    assert_eq!(
        (status, allow.as_deref()),
        (405, Some("GET, POST")),
        "{answer}"
    );
    let (status, _, answer) = request(addr, "GET", "/events?after=soon", "", "").await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "after=soon is not a sequence number");
    assert_eq!(get_events(addr, 0).await["last_seq"], json!(base));
}

const SCHEDULED: &str = r#"
[scenario]
name = "scheduled"

[[events]]
name = "repeating"
at_ms = 100
every_ms = 50
count = 3
class = "CIM_AlertIndication"
properties = { Message = "tick", PerceivedSeverity = 2 }

[[events]]
name = "marker"
at_ms = 400
class = "Marker_Indication"
"#;

#[tokio::test]
async fn scenario_schedules_fire_on_the_mock_clock_and_stop_at_their_count() {
    let (_server, addr) = start(Some(SCHEDULED)).await;
    // The marker is due after the repeating schedule's third occurrence (200 ms) and
    // after when a fourth would be (250 ms): once it is logged, every occurrence the
    // repeating schedule would have had is logged before it.
    let found = indications_until(addr, 0, |found| {
        found.iter().any(|e| e["class"] == "Marker_Indication")
    })
    .await;
    let classes: Vec<&str> = found.iter().map(|e| e["class"].as_str().unwrap()).collect();
    assert_eq!(
        classes,
        [
            "CIM_AlertIndication",
            "CIM_AlertIndication",
            "CIM_AlertIndication",
            "Marker_Indication"
        ]
    );
    for (e, due) in found.iter().zip([100, 150, 200, 400]) {
        let at = e["at"].as_u64().unwrap();
        assert!(at >= due, "occurrence due at {due} ms raised at {at}: {e}");
    }
    assert_eq!(
        found[0]["properties"],
        json!({"Message": "tick", "PerceivedSeverity": "2"})
    );
    let seqs: Vec<u64> = found.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[tokio::test]
async fn a_scenario_loaded_over_the_admin_api_starts_its_schedules_from_the_load() {
    let (_server, addr) = start(None).await;
    let before = uptime(addr).await;
    let (status, _, answer) = request(
        addr,
        "POST",
        "/scenario",
        "Content-Type: application/toml\r\n",
        "[[events]]\nat_ms = 150\nclass = \"Loaded_Indication\"\n",
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    // A new scenario is a new machine: its log starts over.
    let found = indications_until(addr, 0, |found| !found.is_empty()).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["class"], "Loaded_Indication");
    let at = found[0]["at"].as_u64().unwrap();
    assert!(at >= before + 150, "raised at {at}, loaded after {before}");
}

#[tokio::test]
async fn the_default_scenario_schedules_nothing() {
    assert!(mock::Scenario::default_scenario().events.is_empty());
    let (_server, addr) = start(None).await;
    let log = get_events(addr, 0).await;
    assert!(
        events(&log).iter().all(|e| e["kind"] != "indication"),
        "{log}"
    );
}

#[tokio::test]
async fn a_rule_raise_answers_as_before_and_also_raises() {
    let scenario = r#"
[[rules]]
name = "deny fans, loudly"
match = { resource_uri = "CIM_Fan" }
answer = { fault = "wsman:AccessDenied" }
raise = { class = "CIM_AlertIndication", properties = { Message = "fan read denied", PerceivedSeverity = 3 } }

[[rules]]
name = "note identify"
match = { action = "Identify" }
raise = { class = "Identify_Seen" }

[[rules]]
name = "scripted"
match = { resource_uri = "CIM_Processor" }
answer = { script = 'raise_event("Script_Raised", #{ Operation: operation, Hits: hits }); #{ fault: "wsman:AccessDenied" }' }
"#;
    let (server, addr) = start(Some(scenario)).await;
    let base = get_events(addr, 0).await["last_seq"].as_u64().unwrap();
    let client =
        client::Client::new(client::Target::new(server.url()).credentials("admin", "admin"))
            .expect("client");

    // A raise-only rule: the usual Identify answer, and an indication.
    let identify = tokio::time::timeout(DEADLINE, client.identify(false))
        .await
        .expect("in time")
        .expect("identify");
    assert_eq!(identify.status(), Some(200));
    assert!(identify.fault().is_none());
    let log = get_events(addr, base).await;
    assert_eq!(events(&log).len(), 1, "{log}");
    assert_eq!(events(&log)[0]["class"], "Identify_Seen");

    // A rule with an answer: that answer, and the indication.
    let get = client
        .request("http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Fan")
        .get();
    let answer = tokio::time::timeout(DEADLINE, client.send(&get))
        .await
        .expect("in time")
        .expect("an answer");
    assert_eq!(
        answer.fault().and_then(|f| f.kind),
        Some(mock::FaultKind::AccessDenied)
    );
    let log = get_events(addr, base + 1).await;
    assert_eq!(events(&log).len(), 1, "{log}");
    assert_eq!(events(&log)[0]["class"], "CIM_AlertIndication");
    assert_eq!(
        events(&log)[0]["properties"],
        json!({"Message": "fan read denied", "PerceivedSeverity": "3"})
    );

    // A rule script raising: the script's answer, and its indication.
    let get = client
        .request("http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Processor")
        .get();
    let answer = tokio::time::timeout(DEADLINE, client.send(&get))
        .await
        .expect("in time")
        .expect("an answer");
    assert_eq!(
        answer.fault().and_then(|f| f.kind),
        Some(mock::FaultKind::AccessDenied)
    );
    let log = get_events(addr, base + 2).await;
    assert_eq!(events(&log).len(), 1, "{log}");
    assert_eq!(events(&log)[0]["class"], "Script_Raised");
    assert_eq!(
        events(&log)[0]["properties"],
        json!({"Hits": "1", "Operation": "Get"})
    );
}

/// A scenario refused at `line` with a message containing `says`, both when given as
/// text and as a file (the error names the file).
fn refused(toml: &str, line: usize, says: &str) {
    let e = mock::Scenario::from_toml(toml, "bad.toml").expect_err(toml);
    assert_eq!((e.file.as_str(), e.line), ("bad.toml", line), "{e}");
    assert!(e.to_string().contains(says), "{toml}\n{e}");
    let dir = std::env::temp_dir().join(format!("event-sources-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("line{line}.toml"));
    std::fs::write(&path, toml).unwrap();
    let e = mock::Scenario::from_file(&path).expect_err(toml);
    assert!(
        e.to_string()
            .starts_with(&format!("{}:{line}:", path.display())),
        "{e}"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn bad_events_and_raises_in_a_scenario_name_the_file_line_and_entry() {
    refused(
        "[[events]]\nclass = \"A\"\n\n[[events]]\nname = \"fast\"\nclass = \"A\"\nevery_ms = 1\n",
        7,
        "event `fast`: every_ms = 1 is too often",
    );
    refused(
        "[[events]]\nclass = \"A\"\ncount = 3\n",
        3,
        "event `events[0]`: count = 3 without every_ms",
    );
    refused(
        "[[events]]\nclass = \"A\"\ncount = 0\nevery_ms = 100\n",
        3,
        "count = 0 would never raise",
    );
    refused(
        "[[events]]\nclass = \"not a class\"\n",
        2,
        "not a CIM class name",
    );
    refused(
        "[[events]]\nclass = \"A\"\nproperties = { P = { x = 1 } }\n",
        3,
        "property P is a table",
    );
    refused("[[events]]\nclas = \"A\"\n", 2, "clas");
    refused("[[events]]\nat_ms = -5\nclass = \"A\"\n", 2, "at_ms");
    refused(
        "[[rules]]\nname = \"r\"\nmatch = { action = \"Get\" }\n\
         raise = { class = \"1A\" }\n",
        4,
        "rule `r`: class \"1A\" is not a CIM class name",
    );
    refused(
        "[[rules]]\nmatch = { action = \"Get\" }\nraise = { class = \"A\", level = 2 }\n",
        3,
        "level",
    );
}

#[test]
fn admin_uploads_report_scenario_errors_with_their_position() {
    let server = mock::blocking::MockServer::builder()
        .admin(true)
        .start()
        .expect("mock starts");
    let addr = server.addresses().2.expect("admin listens");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, _, answer) = runtime.block_on(request(
        addr,
        "POST",
        "/scenario",
        "Content-Type: application/toml\r\n",
        "[scenario]\nname = \"x\"\n\n[[events]]\nclass = \"A\"\nevery_ms = 2\n",
    ));
    assert_eq!(status, 400, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.starts_with("<admin upload>:6:"), "{error}");
    assert!(error.contains("every_ms = 2 is too often"), "{error}");
}
