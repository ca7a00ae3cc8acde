//! Fleets over real sockets on loopback: each machine answers at its own address with
//! its own identity and state (powering one off changes no other), the fleet admin API
//! lists, selects, powers and injects faults, and each kind of chaos breaks exactly
//! the machines the plan gave it, the way it says.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use mock::fleet::{Chaos, Fleet, FleetConfig, MixEntry};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;

const DEADLINE: Duration = Duration::from_secs(10);
const CIM: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";

/// A fleet of `n` default machines at `first_ip` (free ports), with the admin API.
fn config(n: usize, first_ip: Ipv4Addr) -> FleetConfig {
    let mut c = FleetConfig::new(
        mock::Scenario::default_scenario(),
        mock::scenario::DEFAULT_TOML.into(),
        n,
    );
    c.spec.first_ip = first_ip;
    c.spec.http_port = Some(0);
    c.spec.ipmi_port = Some(0);
    c.admin = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    c
}

async fn admin(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let exchange = async {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        tcp.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.expect("read");
        String::from_utf8(raw).expect("UTF-8")
    };
    let raw = timeout(DEADLINE, exchange)
        .await
        .expect("an answer in time");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (
        status,
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}

fn wsman(url: &str, password: &str) -> client::Client {
    client::Client::new(client::Target::new(url).credentials("admin", password)).expect("client")
}

/// The machine's CIM_ComputerSystem as text (a fault or transport error panics).
async fn computer_system(url: &str) -> String {
    let c = wsman(url, "admin");
    let get = c.request(format!("{CIM}CIM_ComputerSystem")).get();
    let answer = timeout(DEADLINE, c.send(&get))
        .await
        .expect("in time")
        .expect("an answer");
    assert!(answer.fault().is_none(), "{url}: {:?}", answer.fault());
    answer.body_text().expect("a body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_machine_answers_at_its_own_address_as_itself_and_alone() {
    let fleet = Fleet::start(config(12, Ipv4Addr::new(127, 4, 0, 1)))
        .await
        .expect("starts");
    let inv = fleet.inventory();
    assert_eq!(inv.machines.len(), 12);
    assert_eq!(fleet.built(), 0, "nothing is built before it is reached");
    // Two machines, two identities, over the wire.
    let a = computer_system(inv.machines[3].wsman_url.as_deref().unwrap()).await;
    let b = computer_system(inv.machines[4].wsman_url.as_deref().unwrap()).await;
    assert!(a.contains("node-00003") && !a.contains("node-00004"), "{a}");
    assert!(b.contains("node-00004"), "{b}");
    assert_eq!(fleet.built(), 2, "only the machines reached are built");
    assert!(
        inv.machines[3]
            .wsman_url
            .as_deref()
            .unwrap()
            .contains("127.4.0.4:")
    );

    // Power machine 7 off through its own admin routes: 6 and 8 stay on.
    let admin_addr = fleet.admin_addr().expect("admin");
    let (status, _) = admin(
        admin_addr,
        "POST",
        "/machines/m00007/power",
        Some(json!({"action": "off"})),
    )
    .await;
    assert_eq!(status, 200);
    for (i, off) in [(6, false), (7, true), (8, false)] {
        let text = computer_system(inv.machines[i].wsman_url.as_deref().unwrap()).await;
        let enabled = if off {
            "EnabledState>3<"
        } else {
            "EnabledState>2<"
        };
        assert!(text.contains(enabled), "machine {i} (off: {off}): {text}");
    }
    let (_, list) = admin(admin_addr, "GET", "/machines", None).await;
    let powers: Vec<(String, Value)> = list["machines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["built"] == true)
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["state"]["power"].clone(),
            )
        })
        .collect();
    assert!(
        powers.contains(&("m00007".into(), json!("off"))),
        "{powers:?}"
    );
    assert!(
        powers.iter().filter(|(_, p)| p == "off").count() == 1,
        "{powers:?}"
    );
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_operations_act_on_exactly_the_selection() {
    let mut c = config(20, Ipv4Addr::new(127, 4, 1, 1));
    c.spec.mix = vec![
        MixEntry {
            scenario: "default".into(),
            weight: 3,
        },
        MixEntry {
            scenario: "amt-like".into(),
            weight: 1,
        },
    ];
    let fleet = Fleet::start(c).await.expect("starts");
    let admin_addr = fleet.admin_addr().unwrap();
    let inv = fleet.inventory();
    assert_eq!(
        inv.machines
            .iter()
            .filter(|m| m.scenario == "amt-like")
            .count(),
        5
    );

    // A quarter of the default machines, picked the same way twice.
    let select = json!({"scenario": "default", "fraction": 0.2, "seed": 9});
    let (s1, first) = admin(
        admin_addr,
        "POST",
        "/fleet/power",
        Some(json!({"action": "off", "select": select})),
    )
    .await;
    let (s2, again) = admin(
        admin_addr,
        "POST",
        "/fleet/power",
        Some(json!({"action": "off", "select": select})),
    )
    .await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(first["machines"], again["machines"]);
    let picked: Vec<String> = first["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(picked.len(), 3, "20% of 15 default machines: {picked:?}");
    for id in &picked {
        let m = inv.machines.iter().find(|m| &m.id == id).unwrap();
        assert_eq!(m.scenario, "default");
    }

    // Inject a fault on two machines by id; a third is untouched; then clear it.
    let rules = "[[rules]]\nname = \"deny\"\nanswer = { fault = \"wsman:AccessDenied\" }\n";
    let sel = json!({"ids": ["m00001", "m00002"]});
    let (status, injected) = admin(
        admin_addr,
        "POST",
        "/fleet/faults",
        Some(json!({"select": sel, "rules": rules})),
    )
    .await;
    assert_eq!(status, 200, "{injected}");
    let get = |i: usize| {
        let url = inv.machines[i].wsman_url.clone().unwrap();
        async move {
            let c = wsman(&url, "admin");
            let get = c.request(format!("{CIM}CIM_ComputerSystem")).get();
            c.send(&get)
                .await
                .expect("answer")
                .fault()
                .and_then(|f| f.kind)
        }
    };
    assert_eq!(get(1).await, Some(mock::FaultKind::AccessDenied));
    assert_eq!(get(2).await, Some(mock::FaultKind::AccessDenied));
    assert_eq!(get(3).await, None);
    let (status, cleared) = admin(
        admin_addr,
        "DELETE",
        "/fleet/faults",
        Some(json!({"select": sel})),
    )
    .await;
    assert_eq!((status, cleared["rules_removed"].clone()), (200, json!(2)));
    assert_eq!(get(1).await, None);

    // Bad selections are refused with a reason.
    for bad in [
        json!({}),
        json!({"ids": ["m99999"]}),
        // One past the last machine (20 of them: m00000 to m00019).
        json!({"ids": ["m00020"]}),
        // A scenario no machine of this fleet runs.
        json!({"scenario": "windows-server"}),
        json!({"chaos": "sleepy"}),
        json!({"colour": 1}),
    ] {
        let (status, body) = admin(
            admin_addr,
            "POST",
            "/fleet/power",
            Some(json!({"action": "on", "select": bad})),
        )
        .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let (status, _) = admin(admin_addr, "GET", "/machines/m00099/state", None).await;
    assert_eq!(status, 404);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_chaos_breaks_its_machines_as_it_says() {
    let mut c = config(10, Ipv4Addr::new(127, 4, 2, 1));
    c.spec.chaos.unreachable = 0.1;
    c.spec.chaos.slow = 0.1;
    c.spec.chaos.slow_ms = 400;
    c.spec.chaos.wrong_credentials = 0.1;
    c.spec.chaos.flapping_power = 0.1;
    c.spec.chaos.flap_every_ms = 200;
    c.spec.chaos.failing_sensors = 0.1;
    let fleet = Fleet::start(c).await.expect("starts");
    let inv = fleet.inventory();
    let of = |kind: Chaos| {
        let found: Vec<_> = inv
            .machines
            .iter()
            .filter(|m| m.chaos.as_deref() == Some(kind.name()))
            .collect();
        assert_eq!(found.len(), 1, "{kind:?}: one machine in ten");
        found[0].clone()
    };
    let healthy = inv.machines.iter().find(|m| m.chaos.is_none()).unwrap();
    assert_eq!(inv.machines.iter().filter(|m| m.chaos.is_none()).count(), 5);

    // Unreachable: the connection ends without an answer.
    let url = of(Chaos::Unreachable).wsman_url.unwrap();
    let c = wsman(&url, "admin");
    // (Refused when each machine has its own listener; reset at once when one
    // listener serves the loopback device: either way, no answer.)
    let r = timeout(DEADLINE, c.identify(false))
        .await
        .expect("in time")
        .and_then(client::Exchange::answered);
    assert!(
        r.as_ref()
            .is_err_and(|e| e.is_unanswered() || e.is_unreachable()),
        "{url}: {r:?}"
    );

    // Wrong credentials: the inventory's password is refused (401), the machine is there.
    let m = of(Chaos::WrongCredentials);
    let c = wsman(
        m.wsman_url.as_deref().unwrap(),
        m.password.as_deref().unwrap(),
    );
    let get = c.request(format!("{CIM}CIM_ComputerSystem")).get();
    let answer = timeout(DEADLINE, c.send(&get))
        .await
        .unwrap()
        .expect("an answer");
    assert_eq!(answer.status(), Some(401));
    // Over IPMI too: the RMCP+ login with the inventory's password is refused, while a
    // healthy machine takes the same login.
    let login = |addr: &str, password: &str| {
        let addr: SocketAddr = addr.parse().unwrap();
        let password = password.to_owned();
        async move {
            let target = client::ipmi::IpmiTarget::new(addr, "admin", &password);
            let mut s = client::ipmi::IpmiSession::open(&target, 1)
                .await
                .expect("a socket");
            s.login_v20(
                ipmi::codes::Privilege::Administrator,
                ipmi::console::SuiteChoice::Auto,
            )
            .await
            .is_ok()
        }
    };
    assert!(!login(m.ipmi.as_deref().unwrap(), m.password.as_deref().unwrap()).await);
    assert!(
        login(
            healthy.ipmi.as_deref().unwrap(),
            healthy.password.as_deref().unwrap()
        )
        .await
    );

    // Slow: late by at least slow_ms; a healthy machine is not.
    let t = Instant::now();
    computer_system(of(Chaos::Slow).wsman_url.as_deref().unwrap()).await;
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );

    // Failing sensors: every numeric sensor over its upper critical threshold. (A
    // healthy machine's sensors walk at random, so they are not compared here.)
    let admin_addr = fleet.admin_addr().unwrap();
    let id = of(Chaos::FailingSensors).id;
    let (_, state) = admin(admin_addr, "GET", &format!("/machines/{id}/state"), None).await;
    let sensors = state["sensors"].as_array().unwrap().clone();
    let scenario = mock::Scenario::default_scenario();
    let mut checked = 0;
    for s in &scenario.machine.sensors {
        if let Some(uc) = s.thresholds.upper_critical {
            let bad = sensors.iter().find(|x| x["id"] == s.id.as_str()).unwrap();
            assert!(bad["value"].as_f64().unwrap() > uc, "{}: {bad}", s.id);
            checked += 1;
        }
    }
    assert!(
        checked > 3,
        "the default machine has sensors with critical thresholds"
    );

    // Flapping power: its power state changes on its own, and the healthy one's does not.
    let id = of(Chaos::FlappingPower).id;
    let power = |id: String| async move {
        admin(admin_addr, "GET", &format!("/machines/{id}/state"), None)
            .await
            .1["power"]
            .clone()
    };
    let first = power(id.clone()).await;
    let healthy_first = power(healthy.id.clone()).await;
    let started = Instant::now();
    loop {
        if power(id.clone()).await != first {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "machine {id} never flapped");
        tokio::task::yield_now().await;
    }
    assert_eq!(power(healthy.id.clone()).await, healthy_first);
    fleet.shutdown().await;
}

#[tokio::test]
async fn a_fleet_that_cannot_fit_is_refused_with_a_reason() {
    // Port range past 65535.
    let mut c = config(10, Ipv4Addr::new(127, 4, 3, 1));
    c.spec.plan = mock::fleet::AddressPlan::PortRange;
    c.spec.http_port = Some(65_530);
    let e = Fleet::start(c).await.err().expect("refused").to_string();
    assert!(e.contains("65535"), "{e}");
    // A mix naming a scenario that does not exist.
    let mut c = config(2, Ipv4Addr::new(127, 4, 3, 1));
    c.spec.mix = vec![MixEntry {
        scenario: "no-such-scenario".into(),
        weight: 1,
    }];
    let e = Fleet::start(c).await.err().expect("refused").to_string();
    assert!(
        e.contains("no-such-scenario") && e.contains("amt-like"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_port_range_plan_gives_each_machine_its_own_ports() {
    let mut c = config(3, Ipv4Addr::new(127, 0, 0, 1));
    c.spec.plan = mock::fleet::AddressPlan::PortRange;
    let fleet = Fleet::start(c).await.expect("starts");
    let inv = fleet.inventory();
    let urls: std::collections::BTreeSet<_> = inv
        .machines
        .iter()
        .map(|m| m.wsman_url.clone().unwrap())
        .collect();
    assert_eq!(urls.len(), 3, "{urls:?}");
    for (i, m) in inv.machines.iter().enumerate() {
        assert!(
            m.wsman_url
                .as_deref()
                .unwrap()
                .starts_with("http://127.0.0.1:")
        );
        let text = computer_system(m.wsman_url.as_deref().unwrap()).await;
        assert!(text.contains(&format!("node-{i:05}")), "{text}");
    }
    fleet.shutdown().await;
}

/// One raw request to the fleet admin API; the status.
async fn raw_status(addr: SocketAddr, request: String) -> u16 {
    let exchange = async {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        // The server may answer (413) and close before the whole body is written.
        let _ = tcp.write_all(request.as_bytes()).await;
        let mut raw = Vec::new();
        let _ = tcp.read_to_end(&mut raw).await;
        String::from_utf8_lossy(&raw).into_owned()
    };
    let raw = timeout(DEADLINE, exchange).await.expect("in time");
    raw.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_admin_api_refuses_what_a_web_page_could_send() {
    let fleet = Fleet::start(config(3, Ipv4Addr::new(127, 4, 4, 1)))
        .await
        .expect("starts");
    let addr = fleet.admin_addr().unwrap();
    let body = r#"{"action":"off","select":{"all":true}}"#;
    for path in ["/fleet/power", "/machines/m00001/power"] {
        for (extra, why) in [
            ("Origin: http://evil.example\r\n", "a foreign origin"),
            ("", "a host name that is not loopback"),
        ] {
            let host = if extra.is_empty() {
                "evil.example".to_owned()
            } else {
                addr.to_string()
            };
            let request = format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            assert_eq!(raw_status(addr, request).await, 403, "{path} with {why}");
        }
    }
    // Nothing was powered off.
    let (_, list) = admin(addr, "GET", "/machines", None).await;
    for m in list["machines"].as_array().unwrap() {
        assert_ne!(m["state"]["power"], "off", "{m}");
    }
    // The same request from curl (no Origin, a loopback Host) works.
    let (status, _) = admin(
        addr,
        "POST",
        "/fleet/power",
        Some(serde_json::from_str(body).unwrap()),
    )
    .await;
    assert_eq!(status, 200);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_every_machine_as_itself_on_one_listener() {
    let mut c = config(4, Ipv4Addr::new(127, 4, 5, 1));
    c.spec.https_port = Some(0);
    c.spec.ipmi_port = None;
    let fleet = Fleet::start(c).await.expect("starts");
    assert!(
        fleet
            .certificate_pem()
            .is_some_and(|p| p.contains("BEGIN CERTIFICATE"))
    );
    let inv = fleet.inventory();
    for i in [1usize, 3] {
        let url = inv.machines[i].https_url.clone().expect("an HTTPS URL");
        assert!(
            url.starts_with(&format!("https://127.4.5.{}:", i + 1)),
            "{url}"
        );
        let client = client::Client::new(
            client::Target::new(url)
                .credentials("admin", "admin")
                .insecure(),
        )
        .expect("client");
        let get = client.request(format!("{CIM}CIM_ComputerSystem")).get();
        let answer = timeout(DEADLINE, client.send(&get))
            .await
            .unwrap()
            .expect("an answer");
        let text = answer.body_text().expect("a body");
        assert!(text.contains(&format!("node-{i:05}")), "{text}");
    }
    fleet.shutdown().await;
}

/// One GET to the fleet admin API; the status and the body as text.
async fn get_text(addr: SocketAddr, path: &str) -> (u16, String) {
    let exchange = async {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.expect("read");
        String::from_utf8(raw).expect("UTF-8")
    };
    let raw = timeout(DEADLINE, exchange).await.expect("in time");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head");
    (
        head.split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status"),
        body.to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_admin_api_reports_health_lists_by_filter_and_serves_the_inventory() {
    let mut c = config(10, Ipv4Addr::new(127, 4, 6, 1));
    c.spec.mix = vec![
        MixEntry {
            scenario: "default".into(),
            weight: 4,
        },
        MixEntry {
            scenario: "amt-like".into(),
            weight: 1,
        },
    ];
    c.spec.chaos.slow = 0.2;
    let fleet = Fleet::start(c).await.expect("starts");
    let addr = fleet.admin_addr().unwrap();
    let (status, health) = admin(addr, "GET", "/health", None).await;
    assert_eq!(
        (status, health["fleet"].clone(), health["built"].clone()),
        (200, json!(10), json!(0))
    );
    fleet.machine(4).expect("machine 4");
    let (_, health) = admin(addr, "GET", "/health", None).await;
    assert_eq!(health["built"], json!(1));

    // Filters.
    let listed = |v: &Value| -> Vec<Value> { v["machines"].as_array().unwrap().clone() };
    let (_, amt) = admin(addr, "GET", "/machines?scenario=amt-like", None).await;
    assert_eq!(listed(&amt).len(), 2, "{amt}");
    assert!(listed(&amt).iter().all(|m| m["scenario"] == "amt-like"));
    let (_, slow) = admin(addr, "GET", "/machines?chaos=slow", None).await;
    assert_eq!(listed(&slow).len(), 2, "{slow}");
    assert!(listed(&slow).iter().all(|m| m["chaos"] == "slow"));
    let (_, healthy) = admin(addr, "GET", "/machines?chaos=none", None).await;
    assert_eq!(listed(&healthy).len(), 8, "{healthy}");
    assert!(listed(&healthy).iter().all(|m| m["chaos"].is_null()));
    let (_, page) = admin(addr, "GET", "/machines?offset=3&limit=2", None).await;
    let ids: Vec<_> = listed(&page).iter().map(|m| m["id"].clone()).collect();
    assert_eq!(ids, vec![json!("m00003"), json!("m00004")]);

    // The inventory, as JSON and as CSV, is the fleet's.
    let (status, inv) = admin(addr, "GET", "/inventory", None).await;
    assert_eq!(status, 200);
    assert_eq!(inv, serde_json::to_value(fleet.inventory()).unwrap());
    let (status, csv) = get_text(addr, "/inventory?format=csv").await;
    assert_eq!((status, csv), (200, fleet.inventory().to_csv()));

    // A selection by chaos takes exactly those machines.
    let (status, off) = admin(
        addr,
        "POST",
        "/fleet/power",
        Some(json!({"action": "off", "select": {"chaos": "slow"}})),
    )
    .await;
    assert_eq!(status, 200, "{off}");
    let slow_ids: Vec<Value> = listed(&slow).iter().map(|m| m["id"].clone()).collect();
    assert_eq!(off["machines"].as_array().unwrap(), &slow_ids);
    // A fraction draws from the whole selection: over seeds, each of two machines is
    // picked alone at some point.
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..40 {
        let select = json!({"ids": ["m00001", "m00002"], "fraction": 0.5, "seed": seed});
        let (_, on) = admin(
            addr,
            "POST",
            "/fleet/power",
            Some(json!({"action": "on", "select": select})),
        )
        .await;
        let picked = on["machines"].as_array().unwrap().clone();
        assert_eq!(picked.len(), 1, "{on}");
        seen.insert(picked[0].as_str().unwrap().to_owned());
    }
    assert_eq!(seen.len(), 2, "{seen:?}");

    // A body past the admin API's 1 MiB is 413, not read whole.
    let big = "x".repeat(mock::admin::MAX_ADMIN_BODY + 1);
    let request = format!(
        "POST /fleet/power HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{big}",
        big.len()
    );
    assert_eq!(raw_status(addr, request).await, 413);
    // A body that is not JSON, and one without an action, are 400.
    for body in ["not json", r#"{"select": {"all": true}}"#] {
        let request = format!(
            "POST /fleet/power HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(raw_status(addr, request).await, 400, "{body}");
    }

    // A known route with a method it does not take.
    let (status, body) = admin(addr, "DELETE", "/machines", None).await;
    assert_eq!(status, 405, "{body}");
    let (status, _) = admin(addr, "GET", "/no/such/route", None).await;
    assert_eq!(status, 404);
    fleet.shutdown().await;
}
