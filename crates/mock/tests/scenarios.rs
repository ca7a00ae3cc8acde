//! The scenario files in `mocks/` and scenario loading: every file loads; the embedded
//! default is `mocks/default.toml` and describes the machine the design promises; each
//! shipped scenario shows its distinctive behaviour over HTTP (windows-server: WinRM
//! faults; amt-like: Digest only, relative To and integer MessageIDs; faults: every
//! rule has its effect; the minimal servers minimal-resource, winrm-minimal and
//! amt-minimal: their resources work and CIM classes do not exist); and a table of broken scenarios checks that each refusal says
//! `file:line:column`, what was expected and, where one helps, a hint.

mod loopback;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use loopback::*;
use mock::rules::{Answer, Transport};
use mock::scenario::{DEFAULT_TOML, Flavour};
use mock::{MockServer, Scenario};
use wsman::body::Body;
use wsman::{FaultKind, ns};

fn mocks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mocks")
}

fn mock_file(name: &str) -> PathBuf {
    mocks_dir().join(name)
}

async fn serve_file(name: &str) -> MockServer {
    MockServer::builder()
        .scenario_file(mock_file(name))
        .unwrap_or_else(|e| panic!("{e}"))
        .start()
        .await
        .expect("start")
}

// ---------------------------------------------------------------- loading

#[test]
fn every_scenario_file_loads() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(mocks_dir()).expect("mocks/") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let scenario = Scenario::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        assert_eq!(
            scenario.meta.name,
            stem,
            "[scenario] name of {}",
            path.display()
        );
        assert!(!scenario.meta.description.is_empty(), "{}", path.display());
        // The machine it describes can be built.
        mock::Mock::new(scenario, Default::default()).unwrap_or_else(|e| panic!("{e}"));
        names.push(stem);
    }
    names.sort();
    assert_eq!(
        names,
        [
            "amt-like",
            "amt-minimal",
            "default",
            "faults",
            "ipmi-chassis-only",
            "ipmi-faults",
            "ipmi-small-reads",
            "minimal-resource",
            "windows-server",
            "winrm-minimal",
        ]
    );
}

#[test]
fn a_missing_file_is_reported_with_its_name() {
    let e = Scenario::from_file(&mock_file("no-such.toml")).unwrap_err();
    assert!(e.file.ends_with("no-such.toml"));
    assert!(e.message.contains("cannot read"), "{e}");
}

#[test]
fn the_embedded_default_is_mocks_default_toml() {
    let on_disk = std::fs::read_to_string(mock_file("default.toml")).unwrap();
    assert_eq!(DEFAULT_TOML, on_disk);
    let s = Scenario::default_scenario();
    assert_eq!(s.meta.name, "default");
    assert_eq!(s.wsman.flavour, Flavour::Dmtf);
    assert!(s.rules.rules().is_empty());
    let policy = s.auth_policy();
    assert!(policy.basic && !policy.digest.is_empty());

    let m = &s.machine;
    // The credentials the design promises.
    let admin = m.users.iter().find(|u| u.name == "admin").expect("admin");
    assert_eq!(admin.password, "admin");
    assert!(admin.enabled);
    // At least eight numeric sensors, across temperature, fan, voltage and power.
    assert!(m.sensors.len() >= 8, "{} sensors", m.sensors.len());
    let kinds: Vec<String> = m
        .sensors
        .iter()
        .map(|x| format!("{:?}", x.sensor_type).to_lowercase())
        .collect();
    for kind in ["temperature", "fan", "voltage", "power"] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "no {kind} sensor in {kinds:?}"
        );
    }
    assert!(!m.discrete_sensors.is_empty());
    assert!(m.sel.len() >= 3);
    assert!(!m.fru.product.name.is_empty());
    assert!(!m.fru.board.serial_number.is_empty());
    assert!(!m.fru.chassis.part_number.is_empty());
}

#[tokio::test]
async fn the_default_scenario_serves_its_machine() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let sensors = c
        .enumerate_all(&format!("{CIM}CIM_NumericSensor"), "")
        .await;
    assert!(sensors.len() >= 8);
    let discrete = c.enumerate_all(&format!("{CIM}CIM_Sensor"), "").await;
    assert!(discrete.len() > sensors.len());
    let sel = c.enumerate_all(&format!("{CIM}CIM_LogRecord"), "").await;
    assert!(sel.len() >= 3);
    server.shutdown().await;
}

// ---------------------------------------------------------------- windows-server

#[tokio::test]
async fn windows_server_answers_faults_as_winrm() {
    let server = serve_file("windows-server.toml").await;
    let mut c = Client::new(&server).with_auth(Some(basic("Administrator", "Touchstone!1")));
    let wmi = format!("{WMI_HW}CIM_NumericSensor");

    // Data under WMI URIs.
    let items = c.enumerate_all(&wmi, "").await;
    assert_eq!(items.len(), 11);
    assert!(items[0].contains(&wmi));

    // A fault: HTTP 500 whatever the fault, with WinRM's WSManFault detail.
    let req = Req::get(&format!("{WMI_HW}Win32_NoSuchClass"));
    let a = c.send(&req).await;
    assert_eq!(a.status, 500);
    assert_eq!(a.relates_to().as_deref(), Some(req.message_id.as_str()));
    a.with_env(|e| match &e.body {
        Body::Fault(f) => {
            assert_eq!(f.kind(), Some(FaultKind::DestinationUnreachable));
            let w = f.detail.wsman_fault.as_ref().expect("a WSManFault detail");
            assert_eq!(w.machine.as_deref(), Some("WIN-TS2022"));
            assert!(w.code_number().is_some(), "{:?}", w.code);
            assert!(w.message.contains("Win32_NoSuchClass"), "{}", w.message);
        }
        _ => panic!("{}", a.text()),
    });
    insta::assert_snapshot!("windows_fault", pretty(&redact(&a.text())));

    // Every other fault is 500 too, including enumeration faults.
    let req = Req::pull(&wmi, "uuid:00000000-0000-4000-8000-00000000dead", None);
    let a = c.send(&req).await;
    assert_eq!(a.status, 500);
    assert_eq!(a.fault().0, FaultKind::InvalidEnumerationContext);

    // Selector filters compare case-insensitively, as WMI does.
    let f = "<w:Filter Dialect=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter\"><w:SelectorSet><w:Selector Name=\"DeviceID\">fan1</w:Selector></w:SelectorSet></w:Filter>";
    let items = c.enumerate_all(&wmi, f).await;
    assert_eq!(items.len(), 1, "{items:?}");

    // Basic and Negotiate, as WinRM with Basic enabled; Digest is not offered.
    let a = Client::new(&server)
        .with_auth(None)
        .send(&Req::identify())
        .await;
    assert_eq!(a.status, 401);
    let challenges = a.headers_named("www-authenticate");
    assert_eq!(challenges.len(), 2, "{challenges:?}");
    assert!(challenges[0].starts_with("Basic realm=\"WSMAN\""));
    assert_eq!(challenges[1], "Negotiate");
    // The other account; the default's admin does not exist here.
    let mut v = Client::new(&server).with_auth(Some(basic("vagrant", "vagrant")));
    let a = v.send(&Req::identify()).await;
    assert_eq!(a.status, 200);
    a.with_env(|e| match &e.body {
        Body::IdentifyResponse(r) => {
            assert_eq!(r.product_vendor.as_deref(), Some("Microsoft Corporation"));
            assert!(r.product_version.as_deref().unwrap().contains("Stack: 3.0"));
        }
        _ => panic!("{}", a.text()),
    });
    let a = Client::new(&server).send(&Req::identify()).await;
    assert_eq!(a.status, 401);
    server.shutdown().await;
}

// ---------------------------------------------------------------- amt-like

const AMT_SCHEMA: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/";

#[tokio::test]
async fn amt_like_is_digest_only_and_lenient() {
    let server = serve_file("amt-like.toml").await;
    let addr = server.addresses().0.unwrap();

    // Basic is refused, with a Digest (MD5) challenge only.
    let req = Req::get(&format!("{CIM}CIM_ComputerSystem"));
    let a = Client::new(&server)
        .with_auth(Some(basic("admin", "P@ssw0rd")))
        .send(&req)
        .await;
    assert_eq!(a.status, 401);
    let challenges = a.headers_named("www-authenticate");
    assert_eq!(challenges.len(), 1, "{challenges:?}");
    assert!(challenges[0].starts_with("Digest realm=\"Digest:6E3A8F1C"));
    assert!(challenges[0].contains("algorithm=MD5"));

    // A Get let past the HTTP layer by `WSMANIDENTIFY: unauthenticated` is refused by
    // the service, and the 401 still carries the Digest challenge (the HTTP layer adds
    // its own challenges to a handler's 401).
    let a = Client::new(&server)
        .with_auth(None)
        .send_with(&req, &[("WSMANIDENTIFY", "unauthenticated")])
        .await;
    assert_eq!(a.status, 401);
    let challenges = a.headers_named("www-authenticate");
    assert_eq!(challenges.len(), 1, "{challenges:?}");
    assert!(challenges[0].starts_with("Digest realm="), "{challenges:?}");

    // Digest works.
    let a = digest_exchange(addr, &req, "admin", "P@ssw0rd", "MD5").await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(property(&a, "Name").as_deref(), Some("amt-desk-0100"));

    // What AMT tooling sends: a relative To, an integer MessageID, no mustUnderstand.
    let mut req = Req::get(&format!("{AMT_SCHEMA}AMT_GeneralSettings"))
        .to(Some("/wsman"))
        .message_id("1");
    req.must_understand = false;
    let a = digest_exchange(addr, &req, "admin", "P@ssw0rd", "MD5").await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(a.relates_to().as_deref(), Some("1"));
    assert_eq!(property(&a, "HostName").as_deref(), Some("amt-desk-0100"));
    a.with_env(|e| match &e.body {
        Body::Instance(t) => assert_eq!(
            t.root().name().ns,
            format!("{AMT_SCHEMA}AMT_GeneralSettings")
        ),
        _ => panic!("{}", a.text()),
    });
    let req = Req::get("http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService")
        .message_id("2");
    let a = digest_exchange(addr, &req, "admin", "P@ssw0rd", "MD5").await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(property(&a, "CurrentControlMode").as_deref(), Some("2"));
    // A vendor class is not served under the DMTF URI.
    let req = Req::get(&format!("{CIM}AMT_GeneralSettings")).message_id("3");
    digest_exchange(addr, &req, "admin", "P@ssw0rd", "MD5")
        .await
        .assert_fault(
            &req,
            FaultKind::DestinationUnreachable,
            Some("InvalidResourceURI"),
        );

    // Unauthenticated Identify names the vendor, without security profiles.
    let a = Client::new(&server)
        .with_auth(None)
        .send_with(&Req::identify(), &[("WSMANIDENTIFY", "unauthenticated")])
        .await;
    assert_eq!(a.status, 200);
    a.with_env(|e| match &e.body {
        Body::IdentifyResponse(r) => {
            assert_eq!(
                r.product_vendor.as_deref(),
                Some("Touchstone Silicon Corporation")
            );
            assert!(r.product_version.as_deref().unwrap().starts_with("AMT 16"));
            assert!(r.security_profiles.is_none());
        }
        _ => panic!("{}", a.text()),
    });
    server.shutdown().await;
}

// ---------------------------------------------------------------- minimal servers

/// The (namespace, local name) of an instance answer's body element.
fn instance_name(a: &loopback::Answer) -> (String, String) {
    a.with_env(|e| match &e.body {
        Body::Instance(t) => (
            t.root().name().ns.to_string(),
            t.root().name().local.to_string(),
        ),
        _ => panic!("not an instance (HTTP {}):\n{}", a.status, a.text()),
    })
}

const SETTINGS: &str = "http://touchstone.invalid/wbem/1/Settings";

#[tokio::test]
async fn minimal_resource_serves_one_resource_and_nothing_else() {
    let server = serve_file("minimal-resource.toml").await;
    let mut c = Client::new(&server);

    // The resource: enumerable, gettable, writable.
    let items = c.enumerate_all(SETTINGS, "").await;
    assert_eq!(items.len(), 2, "{items:#?}");
    assert!(
        items
            .iter()
            .all(|i| i.contains(&format!("Settings xmlns:p=\"{SETTINGS}\"")))
    );
    let req = Req::get(SETTINGS).selector("Name", "eth1");
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(
        instance_name(&a),
        (SETTINGS.to_owned(), "Settings".to_owned())
    );
    assert_eq!(property(&a, "Enabled").as_deref(), Some("false"));
    let req = Req::new(ns::action::PUT, SETTINGS)
        .selector("Name", "eth1")
        .body(&format!(
            "<p:Settings xmlns:p=\"{SETTINGS}\"><p:Name>eth1</p:Name><p:Enabled>true</p:Enabled><p:MTU>9000</p:MTU></p:Settings>"
        ));
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::PUT_RESPONSE);
    assert_eq!(property(&a, "MTU").as_deref(), Some("9000"));

    // No CIM class.
    for req in [
        Req::enumerate(&format!("{CIM}CIM_ComputerSystem"), ""),
        Req::get(&format!("{CIM}CIM_ComputerSystem")),
    ] {
        c.send(&req).await.assert_fault(
            &req,
            FaultKind::DestinationUnreachable,
            Some("InvalidResourceURI"),
        );
    }
    // No Create, Delete, shell; no filters, fragments, UTF-16.
    let req = Req::new(ns::action::DELETE, SETTINGS).selector("Name", "eth1");
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::ActionNotSupported, Some("ActionMismatch"));
    let req = Req::new(ns::action::CREATE, ns::SHELL_CMD);
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::ActionNotSupported, Some("ActionMismatch"));
    let req = Req::enumerate(
        SETTINGS,
        "<w:Filter Dialect=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter\"><w:SelectorSet><w:Selector Name=\"Name\">eth0</w:Selector></w:SelectorSet></w:Filter>",
    );
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::FilteringNotSupported, None);
    let req = Req::get(SETTINGS)
        .selector("Name", "eth0")
        .header("<w:FragmentTransfer s:mustUnderstand=\"true\">MTU</w:FragmentTransfer>");
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::UnsupportedFeature,
        Some("FragmentLevelAccess"),
    );
    let req = Req::get(SETTINGS).selector("Name", "eth0");
    c.send_utf16(&req, true).await.assert_fault(
        &req,
        FaultKind::EncodingLimit,
        Some("CharacterSet"),
    );

    // Identify only with credentials, Basic only.
    let a = c.send(&Req::identify()).await;
    assert_eq!(a.status, 200, "{}", a.text());
    let a = Client::new(&server)
        .with_auth(None)
        .send_with(&Req::identify(), &[("WSMANIDENTIFY", "unauthenticated")])
        .await;
    assert_eq!(a.status, 401);
    let challenges = a.headers_named("www-authenticate");
    assert_eq!(challenges.len(), 1, "{challenges:?}");
    assert!(challenges[0].starts_with("Basic "), "{challenges:?}");
    server.shutdown().await;
}

const WINRM_CONFIG: &str = "http://schemas.microsoft.com/wbem/wsman/1/config";

/// Asserts a Windows-flavoured fault: HTTP 500, the kind, a WSManFault detail.
fn assert_winrm_fault(a: &loopback::Answer, req: &Req, kind: FaultKind) {
    assert_eq!(a.status, 500, "{}", a.text());
    assert_eq!(a.relates_to().as_deref(), Some(req.message_id.as_str()));
    a.with_env(|e| match &e.body {
        Body::Fault(f) => {
            assert_eq!(f.kind(), Some(kind), "{}", a.text());
            assert!(f.detail.wsman_fault.is_some(), "{}", a.text());
        }
        _ => panic!("{}", a.text()),
    });
}

#[tokio::test]
async fn winrm_minimal_serves_its_config_and_the_shell_only() {
    let server = serve_file("winrm-minimal.toml").await;
    let mut c = Client::new(&server).with_auth(Some(basic("Administrator", "Touchstone!1")));

    // winrm/config and its singletons, without selectors.
    let req = Req::get(WINRM_CONFIG);
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(
        instance_name(&a),
        (WINRM_CONFIG.to_owned(), "Config".to_owned())
    );
    assert_eq!(property(&a, "MaxEnvelopeSizekb").as_deref(), Some("500"));
    for (leaf, class, prop, value) in [
        ("service", "Service", "MaxConnections", "300"),
        ("client", "Client", "NetworkDelayms", "5000"),
        ("winrs", "Winrs", "MaxShellsPerUser", "30"),
    ] {
        let uri = format!("{WINRM_CONFIG}/{leaf}");
        let req = Req::get(&uri);
        let a = c.send(&req).await;
        a.assert_ok(&req, ns::action::GET_RESPONSE);
        assert_eq!(instance_name(&a), (uri.clone(), class.to_owned()));
        assert_eq!(property(&a, prop).as_deref(), Some(value));
    }
    // `winrm set winrm/config/service @{AllowUnencrypted="false"}`.
    let service = format!("{WINRM_CONFIG}/service");
    let req = Req::new(ns::action::PUT, &service).body(&format!(
        "<cfg:Service xmlns:cfg=\"{service}\"><cfg:AllowUnencrypted>false</cfg:AllowUnencrypted></cfg:Service>"
    ));
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::PUT_RESPONSE);
    assert_eq!(property(&a, "AllowUnencrypted").as_deref(), Some("false"));
    // `winrm enumerate winrm/config/listener`, and one listener by its selectors.
    let listener = format!("{WINRM_CONFIG}/listener");
    let items = c.enumerate_all(&listener, "").await;
    assert_eq!(items.len(), 2, "{items:#?}");
    let req = Req::get(&listener)
        .selector("Address", "*")
        .selector("Transport", "HTTPS");
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(property(&a, "Port").as_deref(), Some("5986"));

    // No CIM or WMI class: WinRM-style DestinationUnreachable.
    for resource in [
        format!("{CIM}CIM_ComputerSystem"),
        format!("{WMI_HW}CIM_ComputerSystem"),
    ] {
        let req = Req::enumerate(&resource, "");
        assert_winrm_fault(&c.send(&req).await, &req, FaultKind::DestinationUnreachable);
    }
    let req = Req::new(ns::action::DELETE, &listener)
        .selector("Address", "*")
        .selector("Transport", "HTTP");
    assert_winrm_fault(&c.send(&req).await, &req, FaultKind::ActionNotSupported);

    // The cmd shell works.
    let req = Req::new(ns::action::CREATE, ns::SHELL_CMD).body(
        "<rsp:Shell xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\"><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>",
    );
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::CREATE_RESPONSE);
    a.with_env(|e| assert!(matches!(e.body, Body::ResourceCreated(_)), "{}", a.text()));
    server.shutdown().await;
}

#[tokio::test]
async fn amt_minimal_serves_vendor_classes_only() {
    let server = serve_file("amt-minimal.toml").await;
    let addr = server.addresses().0.unwrap();
    let digest = |req: Req| async move {
        let a = digest_exchange(addr, &req, "admin", "P@ssw0rd", "MD5").await;
        (req, a)
    };

    let (req, a) = digest(Req::get(&format!("{AMT_SCHEMA}AMT_GeneralSettings"))).await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(property(&a, "HostName").as_deref(), Some("amt-desk-0101"));
    let (req, a) = digest(Req::enumerate(
        &format!("{AMT_SCHEMA}AMT_EthernetPortSettings"),
        "<w:OptimizeEnumeration/><w:MaxElements>10</w:MaxElements>",
    ))
    .await;
    a.assert_ok(&req, ns::action::ENUMERATE_RESPONSE);
    let items = a.with_env(|e| match &e.body {
        Body::EnumerateResponse(r) => r.items.as_ref().map_or(0, Vec::len),
        _ => panic!("{}", a.text()),
    });
    assert_eq!(items, 2);
    let (req, a) = digest(
        Req::get(&format!("{AMT_SCHEMA}AMT_EthernetPortSettings"))
            .selector("InstanceID", "Intel(r) AMT Ethernet Port Settings 1"),
    )
    .await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(property(&a, "LinkIsUp").as_deref(), Some("false"));
    let (req, a) = digest(Req::get(
        "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService",
    ))
    .await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);

    // No CIM classes.
    let (req, a) = digest(Req::enumerate(&format!("{CIM}CIM_ComputerSystem"), "")).await;
    a.assert_fault(
        &req,
        FaultKind::DestinationUnreachable,
        Some("InvalidResourceURI"),
    );
    // Selector filters only.
    let (req, a) = digest(Req::enumerate(
        &format!("{AMT_SCHEMA}AMT_EthernetPortSettings"),
        "<w:Filter Dialect=\"http://schemas.microsoft.com/wbem/wsman/1/WQL\">SELECT * FROM AMT_EthernetPortSettings</w:Filter>",
    ))
    .await;
    a.assert_fault(&req, FaultKind::FilterDialectRequestedUnavailable, None);
    server.shutdown().await;
}

// ---------------------------------------------------------------- faults.toml

/// The request that triggers a rule of faults.toml: a Get carrying the rule's
/// selectors.
fn trigger(rule: &mock::rules::Rule) -> Req {
    let mut req = Req::get(&format!("{CIM}CIM_ComputerSystem"));
    for (name, value) in &rule.matcher.selectors {
        assert!(
            !value.contains('*') && !value.contains('?'),
            "literal triggers"
        );
        req = req.selector(name, value);
    }
    req
}

#[tokio::test]
async fn every_faults_toml_rule_has_its_effect() {
    let scenario = Scenario::from_file(&mock_file("faults.toml")).unwrap();
    let rules = scenario.rules.rules().to_vec();
    // Every fault of the catalogue has a rule.
    let covered: Vec<FaultKind> = rules
        .iter()
        .flat_map(|r| &r.answers)
        .filter_map(|a| match a {
            Answer::Fault { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    for kind in FaultKind::ALL {
        assert!(
            covered.contains(kind),
            "faults.toml has no rule for {}",
            kind.qname()
        );
    }
    let server = MockServer::builder()
        .scenario(scenario)
        .start()
        .await
        .unwrap();
    let addr = server.addresses().0.unwrap();
    let mut c = Client::new(&server);
    let auth = basic("admin", "admin");
    let mut checked = 0;
    for rule in &rules {
        if rule.times.is_some() || matches!(rule.answers[0], Answer::Script { .. }) {
            continue; // stateful: below
        }
        let req = trigger(rule);
        match &rule.answers[0] {
            Answer::Fault {
                kind,
                detail,
                status,
                ..
            } => {
                let a = c.send(&req).await;
                let (k, d) = a.fault();
                assert_eq!((k, d.as_deref()), (*kind, *detail), "rule {}", rule.name);
                assert_eq!(
                    a.status,
                    status.unwrap_or(kind.http_status()),
                    "{}",
                    rule.name
                );
                assert_eq!(a.action().as_deref(), Some(kind.action()));
                assert_eq!(a.relates_to().as_deref(), Some(req.message_id.as_str()));
            }
            Answer::Transport { transport, .. } => {
                let mut conn = post_raw_request(addr, &req, &auth).await;
                match transport {
                    Transport::Reset => {
                        let (bytes, end) = conn.read_to_end().await;
                        assert!(bytes.is_empty());
                        assert_eq!(end.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);
                    }
                    Transport::Close => {
                        let (bytes, end) = conn.read_to_end().await;
                        assert!(bytes.is_empty() && end.is_ok(), "{end:?}");
                    }
                    Transport::Truncate { keep } => {
                        let (bytes, _) = conn.read_to_end().await;
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        let (head, body) = text.split_once("\r\n\r\n").unwrap();
                        assert!(head.starts_with("HTTP/1.1 200"));
                        assert_eq!(body.len(), *keep);
                    }
                    Transport::Garbage(g) => {
                        let (bytes, _) = conn.read_to_end().await;
                        assert_eq!(&bytes, g);
                    }
                    Transport::Slow { chunk, interval } => {
                        let t0 = Instant::now();
                        let a = conn.read_answer().await.unwrap();
                        assert_eq!(a.status, 200);
                        assert_eq!(a.relates_to().as_deref(), Some(req.message_id.as_str()));
                        let pauses = a.body.len().div_ceil(*chunk) as u32;
                        assert!(t0.elapsed() >= *interval * (pauses - 1));
                    }
                }
            }
            Answer::Raw { status, body, .. } => {
                let a = c.send(&req).await;
                assert_eq!(a.status, *status, "{}", rule.name);
                assert_eq!(a.text(), *body);
            }
            Answer::Template { .. } => {
                let a = c.send(&req).await;
                assert_eq!(a.status, 200);
                match rule.name.as_str() {
                    "no-relates-to" => assert_eq!(a.relates_to(), None),
                    "wrong-action" => {
                        assert_eq!(a.action().as_deref(), Some(ns::action::DELETE_RESPONSE));
                        assert_eq!(a.relates_to().as_deref(), Some(req.message_id.as_str()));
                    }
                    other => panic!("no check for template rule {other}"),
                }
            }
            Answer::DelayOnly(d) => {
                // The normal answer would come after `d`; a shorter OperationTimeout
                // makes it wsman:TimedOut when the timeout runs out.
                assert!(*d >= Duration::from_secs(1));
                let req = req.operation_timeout("PT0.2S");
                let t0 = Instant::now();
                c.send(&req)
                    .await
                    .assert_fault(&req, FaultKind::TimedOut, None);
                assert!(t0.elapsed() < *d);
            }
            other => panic!("no check for {other:?}"),
        }
        checked += 1;
    }
    // Everything but the two stateful rules: the catalogue, 5 transports, 3 statuses,
    // a delay and 3 malformed answers.
    assert_eq!(checked, rules.len() - 2);
    assert_eq!(checked, FaultKind::ALL.len() + 5 + 3 + 1 + 3);

    // Flaky = twice: two faults, then the normal answer.
    let flaky = rules.iter().find(|r| r.name == "twice").unwrap();
    for _ in 0..2 {
        let req = trigger(flaky);
        c.send(&req)
            .await
            .assert_fault(&req, FaultKind::EndpointUnavailable, None);
    }
    // (The Flaky selector is not a key of CIM_ComputerSystem: the normal answer is
    // InvalidSelectors, which shows the rule no longer answers.)
    let req = trigger(flaky);
    let a = c.send(&req).await;
    assert_eq!(a.fault().0, FaultKind::InvalidSelectors);

    // Flap = on: odd requests fail, even ones get the normal answer.
    let flap = rules.iter().find(|r| r.name == "on").unwrap();
    for n in 1..=4 {
        let req = trigger(flap);
        let a = c.send(&req).await;
        let kind = a.fault().0;
        if n % 2 == 1 {
            assert_eq!(kind, FaultKind::InternalError);
            assert!(a.text().contains(&format!("flapping (request {n})")));
        } else {
            assert_eq!(kind, FaultKind::InvalidSelectors);
        }
    }
    server.shutdown().await;
}

// ---------------------------------------------------------------- broken scenarios

struct Broken {
    what: &'static str,
    toml: &'static str,
    line: usize,
    column: usize,
    message: &'static str,
    expected: Option<&'static str>,
    hint: Option<&'static str>,
}

const BROKEN: &[Broken] = &[
    Broken {
        what: "bad TOML syntax",
        toml: "[scenario]\nname = \"x\"\n[http\nauth = []\n",
        line: 3,
        column: 6,
        message: "unclosed table",
        expected: Some("`]`"),
        hint: Some("table headers are [name]"),
    },
    Broken {
        what: "unknown key",
        toml: "[scenario]\nname = \"x\"\n\n[wsman]\nflavor = \"windows\"\n",
        line: 5,
        column: 1,
        message: "unknown key `flavor` in [wsman]",
        expected: Some("`flavour`"),
        hint: Some("did you mean `flavour`?"),
    },
    Broken {
        what: "unknown table",
        toml: "[scenario]\nname = \"x\"\n[htpp]\nauth = []\n",
        line: 3,
        column: 2,
        message: "unknown key `htpp` at the top level",
        expected: Some("`http`"),
        hint: Some("did you mean `http`?"),
    },
    Broken {
        what: "unknown key in a rule's match",
        toml: "[[rules]]\nname = \"a\"\nmatch = { acton = \"Get\" }\nanswer = { fault = \"wsman:AccessDenied\" }\n",
        line: 3,
        column: 11,
        message: "unknown key `acton` in [rules[0].match]",
        expected: Some("`resource_uri`"),
        hint: Some("did you mean `action`?"),
    },
    Broken {
        what: "wrong type",
        toml: "[scenario]\nname = \"x\"\n\n[http]\nmax_request_bytes = \"big\"\n",
        line: 5,
        column: 21,
        message: "`http.max_request_bytes` has the wrong type: found string \"big\"",
        expected: Some("a non-negative integer"),
        hint: Some("without quotes"),
    },
    Broken {
        what: "value out of range",
        toml: "[wsman]\nenumeration_expiry_s = -1\n",
        line: 2,
        column: 24,
        message: "`wsman.enumeration_expiry_s` has an invalid value: found integer `-1`",
        expected: Some("a non-negative integer"),
        hint: None,
    },
    Broken {
        what: "unknown flavour",
        toml: "[wsman]\nflavour = \"winrm\"\n",
        line: 2,
        column: 11,
        message: "`winrm` is not a valid value for `wsman.flavour`",
        expected: Some("`dmtf` or `windows`"),
        hint: None,
    },
    Broken {
        what: "duplicate key",
        toml: "[http]\nrealm = \"a\"\nrealm = \"b\"\n",
        line: 3,
        column: 1,
        message: "the key `realm` is given twice",
        expected: None,
        hint: Some("remove one of them"),
    },
    Broken {
        what: "unknown fault name",
        toml: "[[rules]]\nname = \"deny\"\nmatch = { action = \"Get\" }\nanswer = { fault = \"wsman:AccesDenied\" }\n",
        line: 4,
        column: 20,
        message: "rule `deny`: `wsman:AccesDenied` is not a fault of the catalogue",
        expected: Some("wsman:AccessDenied"),
        hint: Some("did you mean \"wsman:AccessDenied\"?"),
    },
    Broken {
        what: "bad detail token",
        toml: "[[rules]]\nname = \"sel\"\nmatch = { action = \"Get\" }\nanswer = { fault = \"wsman:InvalidSelectors\", detail = \"InsuficientSelectors\" }\n",
        line: 4,
        column: 55,
        message: "`InsuficientSelectors` is not a detail of wsman:InvalidSelectors",
        expected: Some("InsufficientSelectors, UnexpectedSelectors"),
        hint: Some("did you mean \"InsufficientSelectors\"?"),
    },
    Broken {
        what: "detail on a fault without details",
        toml: "[[rules]]\nanswer = { fault = \"wsman:AccessDenied\", detail = \"InvalidValue\" }\n",
        line: 2,
        column: 51,
        message: "rule `rules[0]`: `InvalidValue` is not a detail of wsman:AccessDenied",
        expected: Some("takes none"),
        hint: Some("remove `detail`"),
    },
    Broken {
        what: "bad transport name",
        toml: "[[rules]]\nname = \"drop\"\n\n[rules.answer]\ntransport = \"rst\"\n",
        line: 5,
        column: 13,
        message: "rule `drop`: `rst` is not a transport fault",
        expected: Some("\"reset\", \"close\", \"truncate\", \"garbage\" or \"slow\""),
        hint: Some("did you mean \"reset\"?"),
    },
    Broken {
        what: "Rhai compile error",
        toml: "[[rules]]\nname = \"script\"\n[rules.answer]\nscript = \"\"\"\nlet a = 1;\nlet x = ;\n\"\"\"\n",
        line: 6,
        column: 9,
        message: "rule `script`: the script does not compile",
        expected: None,
        hint: Some("scripts are Rhai"),
    },
    Broken {
        what: "Rhai compile error in a one-line script",
        toml: "[[rules]]\nname = \"s\"\nanswer = { script = 'if x { ' }\n",
        line: 3,
        // The end of the script, where the missing `}` belongs.
        column: 29,
        message: "the script does not compile",
        expected: None,
        hint: Some("in scope: action"),
    },
    Broken {
        what: "two kinds of answer",
        toml: "[[rules]]\nname = \"both\"\nanswer = { fault = \"wsman:AccessDenied\", transport = \"reset\" }\n",
        line: 3,
        column: 54,
        message: "an answer has both `fault` and `transport`",
        expected: Some("exactly one of"),
        hint: Some("answers = [..]"),
    },
    Broken {
        what: "a rule without an answer",
        toml: "[scenario]\nname = \"x\"\n\n[[rules]]\nname = \"nothing\"\nmatch = { action = \"Get\" }\n",
        line: 4,
        column: 1,
        message: "rule `nothing`: has no answer",
        expected: Some("an `answer` table"),
        hint: Some("[rules.answer]"),
    },
    Broken {
        what: "duplicate sensor id",
        toml: "[[machine.sensors]]\nid = \"FAN_A\"\ntype = \"fan\"\nnominal = 1200.0\nresolution = 60.0\n\n[[machine.sensors]]\nid = \"FAN_A\"\ntype = \"fan\"\nnominal = 1200.0\nresolution = 60.0\n",
        line: 8,
        column: 6,
        message: "the machine is not valid: sensors[1] (\"FAN_A\"): sensor id \"FAN_A\" is already used by sensors[0]",
        expected: None,
        hint: Some("must be unique"),
    },
    Broken {
        what: "bad sensor type",
        toml: "[[machine.sensors]]\nid = \"A\"\ntype = \"fann\"\nnominal = 1000.0\n",
        line: 3,
        column: 8,
        message: "`fann` is not a valid value for `machine.sensors[0].type`",
        expected: Some("`fan`"),
        hint: Some("did you mean `fan`?"),
    },
    Broken {
        what: "missing required key",
        toml: "[[machine.sensors]]\nid = \"A\"\nnominal = 1000.0\n",
        line: 1,
        column: 1,
        message: "the required key `type` is missing",
        expected: Some("`type = ...`"),
        hint: None,
    },
    Broken {
        what: "unknown auth scheme",
        toml: "[http]\nauth = [\"basic\", \"kerberos\"]\n",
        line: 2,
        column: 18,
        message: "http.auth[1] = \"kerberos\" is not a scheme the mock offers",
        expected: Some("\"basic\", \"digest\" or \"negotiate\" (alias \"ntlm\")"),
        hint: Some("not simulated"),
    },
    Broken {
        what: "unknown leniency",
        toml: "[wsman]\nlenient = [\"relative_too\"]\n",
        line: 2,
        column: 12,
        message: "wsman.lenient names `relative_too`",
        expected: Some("\"relative_to\""),
        hint: Some("did you mean \"relative_to\"?"),
    },
    Broken {
        what: "bad vendor schema",
        toml: "[wsman.vendor_schemas]\nAMT_ = \"intel.com/amt\"\n",
        line: 2,
        column: 8,
        message: "not a resource URI prefix",
        expected: Some("ending in `/`"),
        hint: None,
    },
    Broken {
        what: "unknown seeded defect",
        toml: "[wsman]\ndefects = [\"ignore_locales\"]\n",
        line: 2,
        column: 12,
        message: "not a defect the mock can seed",
        expected: Some("ignore_must_comply"),
        hint: Some("did you mean \"ignore_locale\"?"),
    },
    Broken {
        what: "a zero connection cap",
        toml: "[http]\nmax_connections = 0\n",
        line: 2,
        column: 19,
        message: "http.max_connections = 0 would refuse every request",
        expected: Some("above 0"),
        hint: None,
    },
    Broken {
        what: "a zero per-user enumeration quota",
        toml: "[wsman]\nmax_enumerations_per_user = 0\n",
        line: 2,
        column: 29,
        message: "wsman.max_enumerations_per_user = 0",
        expected: Some("above 0"),
        hint: None,
    },
    Broken {
        what: "a zero handshake timeout",
        toml: "[ipmi]\nhandshake_timeout_ms = 0\n",
        line: 2,
        column: 24,
        message: "handshake_timeout_ms = 0",
        expected: Some("above 0"),
        hint: None,
    },
];

#[test]
fn broken_scenarios_are_refused_with_where_what_and_how() {
    for b in BROKEN {
        let e = match Scenario::from_toml(b.toml, "broken.toml") {
            Ok(_) => panic!("{}: loaded", b.what),
            Err(e) => e,
        };
        let rendered = e.to_string();
        let ctx = format!("{}:\n{rendered}", b.what);
        assert_eq!((e.line, e.column), (b.line, b.column), "{ctx}");
        assert!(
            rendered.starts_with(&format!("broken.toml:{}:{}: ", b.line, b.column)),
            "{ctx}"
        );
        assert!(e.message.contains(b.message), "message; {ctx}");
        match b.expected {
            Some(x) => assert!(
                e.expected.as_deref().is_some_and(|e| e.contains(x)),
                "expected; {ctx}"
            ),
            None => assert!(e.expected.is_none(), "no expected; {ctx}"),
        }
        if let Some(h) = b.hint {
            assert!(
                e.hint.as_deref().is_some_and(|e| e.contains(h)),
                "hint; {ctx}"
            );
        }
        // The rendering carries every part.
        if let Some(x) = &e.expected {
            assert!(rendered.contains(&format!("\n  expected: {x}")), "{ctx}");
        }
        if let Some(h) = &e.hint {
            assert!(rendered.contains(&format!("\n  hint: {h}")), "{ctx}");
        }
    }
}

#[test]
fn broken_scenario_rendering_snapshot() {
    let all: Vec<String> = BROKEN
        .iter()
        .map(|b| {
            let e = Scenario::from_toml(b.toml, "broken.toml").unwrap_err();
            format!("# {}\n{e}\n", b.what)
        })
        .collect();
    insta::assert_snapshot!("broken_scenarios", all.join("\n"));
}

#[test]
fn the_builder_reports_broken_scenarios_too() {
    let e = match MockServer::builder().scenario_str("[wsman]\nflavour = 1\n") {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    };
    assert_eq!((e.file.as_str(), e.line), ("<string>", 2));
}

/// A `[fleet]` table is read with the scenario, and a bad value in it is refused with
/// the line it is on.
#[test]
fn a_fleet_table_is_read_and_a_bad_one_located() {
    let s = mock::Scenario::from_toml(
        "[fleet]\nsize = 5\nseed = 9\n[[fleet.mix]]\nscenario = \"amt-like\"\nweight = 2\n",
        "f.toml",
    )
    .expect("loads");
    let f = s.fleet.expect("a fleet table");
    assert_eq!((f.size, f.seed, f.mix.len()), (5, 9, 1));
    let e = mock::Scenario::from_toml("[fleet]\nsize = 5\n\n[fleet.chaos]\nslow = 2.0\n", "f.toml")
        .unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("f.toml", 5), "{e}");
    assert!(e.to_string().contains("fleet.chaos.slow"), "{e}");
    let e = mock::Scenario::from_toml("[fleet]\nplan = \"per-rack\"\n", "f.toml").unwrap_err();
    assert_eq!(e.line, 2, "{e}");
}
