//! The `[wsman]` capability knobs that make the mock a minimal server, over real HTTP
//! on loopback: `classes` (only those exist), `resources` (non-CIM resources served
//! from extra instances: Enumerate, Get, Put), `operations` (the rest is
//! `wsa:ActionNotSupported`), `fragments = false` (`wsman:UnsupportedFeature` /
//! FragmentLevelAccess), `filter_dialects` (`wsen:FilterDialectRequestedUnavailable`,
//! `wsen:FilteringNotSupported`), MustComply options the mock does not use
//! (`wsman:InvalidOptions` / NotSupported) and `locales` (`wsman:UnsupportedFeature` /
//! Locale); and that a scenario naming what the mock cannot be is refused.
//!
//! Each test starts its own mock on port 0; nothing sleeps.

mod loopback;

use loopback::*;
use wsman::body::Body;
use wsman::{FaultKind, ns};

fn uri(class: &str) -> String {
    format!("{CIM}{class}")
}

const HOST: &str = "touchstone-sim";
const WQL: &str = "http://schemas.microsoft.com/wbem/wsman/1/WQL";
const SELECTOR_FILTER: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter";
const ASSOC_FILTER: &str = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter";
const RSP: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";

fn system_get() -> Req {
    Req::get(&uri("CIM_ComputerSystem"))
        .selector("CreationClassName", "CIM_ComputerSystem")
        .selector("Name", HOST)
}

fn assoc_from_system() -> String {
    format!(
        "<w:Filter Dialect=\"{ASSOC_FILTER}\"><b:AssociatedInstances><b:Object>\
         <a:Address>{}</a:Address><a:ReferenceParameters>\
         <w:ResourceURI>{}</w:ResourceURI><w:SelectorSet>\
         <w:Selector Name=\"CreationClassName\">CIM_ComputerSystem</w:Selector>\
         <w:Selector Name=\"Name\">{HOST}</w:Selector></w:SelectorSet>\
         </a:ReferenceParameters></b:Object></b:AssociatedInstances></w:Filter>",
        ns::ANONYMOUS,
        uri("CIM_ComputerSystem")
    )
}

fn shell_create(options: &str) -> Req {
    Req::new(ns::action::CREATE, ns::SHELL_CMD)
        .header(&format!(
            "<w:OptionSet s:mustUnderstand=\"true\">{options}</w:OptionSet>"
        ))
        .body(&format!(
            "<rsp:Shell xmlns:rsp=\"{RSP}\"><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
        ))
}

/// The items of an optimized Enumerate that ended in its first answer.
async fn enumerate_once(c: &mut Client, resource: &str, inner: &str) -> Vec<String> {
    let req = Req::enumerate(
        resource,
        &format!("<w:OptimizeEnumeration/><w:MaxElements>100</w:MaxElements>{inner}"),
    );
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::ENUMERATE_RESPONSE);
    a.with_env(|e| match &e.body {
        Body::EnumerateResponse(r) => {
            assert!(r.end_of_sequence, "{}", a.text());
            r.items.iter().flatten().map(item_text).collect::<Vec<_>>()
        }
        _ => panic!("{}", a.text()),
    })
}

// ---------------------------------------------------------------- classes

#[tokio::test]
async fn classes_limit_what_exists() {
    let server = serve("[wsman]\nclasses = [\"CIM_ComputerSystem\", \"CIM_RecordLog\"]\n").await;
    let mut c = Client::new(&server);
    let req = system_get();
    c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(
        enumerate_once(&mut c, &uri("CIM_RecordLog"), "")
            .await
            .len(),
        1
    );
    // Built-in classes not listed do not exist, under any URI.
    for resource in [
        uri("CIM_NumericSensor"),
        uri("CIM_Sensor"),
        format!("{WMI_HW}CIM_NumericSensor"),
    ] {
        let req = Req::enumerate(&resource, "");
        c.send(&req).await.assert_fault(
            &req,
            FaultKind::DestinationUnreachable,
            Some("InvalidResourceURI"),
        );
        let req = Req::get(&resource);
        c.send(&req).await.assert_fault(
            &req,
            FaultKind::DestinationUnreachable,
            Some("InvalidResourceURI"),
        );
    }
    // Association traversal shows only the listed classes: from the system, the
    // record log (CIM_UseOfLog) but none of the sensors or fans.
    let items = enumerate_once(&mut c, ALL_CLASSES, &assoc_from_system()).await;
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|i| i.contains("CIM_RecordLog")),
        "{items:#?}"
    );
    server.shutdown().await;

    // The default scenario: every class, the same traversal reaches the sensors.
    let server = serve("").await;
    let mut c = Client::new(&server);
    let items = enumerate_once(&mut c, ALL_CLASSES, &assoc_from_system()).await;
    assert!(items.iter().any(|i| i.contains("CIM_NumericSensor")));
    server.shutdown().await;

    // No class at all: not even the all-classes resource.
    let server = serve("[wsman]\nclasses = []\n").await;
    let mut c = Client::new(&server);
    let req = Req::enumerate(ALL_CLASSES, &assoc_from_system());
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::DestinationUnreachable,
        Some("InvalidResourceURI"),
    );
    let req = system_get();
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::DestinationUnreachable,
        Some("InvalidResourceURI"),
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------- resources

const WIDGET: &str = "http://touchstone.invalid/wbem/1/Widget";
const CONFIG: &str = "http://touchstone.invalid/wbem/1/config";

const RESOURCES: &str = r#"
[wsman]
classes = []

[wsman.resources]
"http://touchstone.invalid/wbem/1/Widget" = "Widget"
"http://touchstone.invalid/wbem/1/config" = "Config"

[[machine.instances]]
class = "Widget"
keys = ["Name"]
properties = { Name = "a", Colour = "red", Size = 3, Enabled = true }

[[machine.instances]]
class = "Widget"
keys = ["Name"]
properties = { Name = "b", Colour = "green", Size = 5, Enabled = false }

[[machine.instances]]
class = "Config"
properties = { MaxItems = 32, Mode = "normal" }
"#;

/// The namespace and local name of an instance body.
fn root_name(a: &Answer) -> (String, String) {
    a.with_env(|e| match &e.body {
        Body::Instance(t) => {
            let n = t.root().name();
            (n.ns.to_string(), n.local.to_string())
        }
        _ => panic!("not an instance:\n{}", a.text()),
    })
}

#[tokio::test]
async fn resources_are_served_from_extra_instances() {
    let server = serve(RESOURCES).await;
    let mut c = Client::new(&server);

    // Enumerate: both widgets, each a <Widget> in the resource's namespace.
    let items = enumerate_once(&mut c, WIDGET, "").await;
    assert_eq!(items.len(), 2, "{items:#?}");
    assert!(
        items[0].contains(&format!("Widget xmlns:p=\"{WIDGET}\"")),
        "{}",
        items[0]
    );
    // EPRs name the resource URI and the key.
    let items = enumerate_once(
        &mut c,
        WIDGET,
        "<w:EnumerationMode>EnumerateEPR</w:EnumerationMode>",
    )
    .await;
    assert_eq!(items.len(), 2);
    assert!(
        items[1].contains(WIDGET) && items[1].contains("\"Name\"") && items[1].contains("\"b\""),
        "{}",
        items[1]
    );

    // Get with the selector; the URI compares case-insensitively, as WinRM's do.
    let req = Req::get(&WIDGET.to_uppercase()).selector("Name", "b");
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(root_name(&a), (WIDGET.to_owned(), "Widget".to_owned()));
    assert_eq!(property(&a, "Colour").as_deref(), Some("green"));
    // Two instances need the selector.
    let req = Req::get(WIDGET);
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::InvalidSelectors,
        Some("InsufficientSelectors"),
    );
    // A singleton needs none, and takes none.
    let req = Req::get(CONFIG);
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(root_name(&a), (CONFIG.to_owned(), "Config".to_owned()));
    assert_eq!(property(&a, "MaxItems").as_deref(), Some("32"));
    let req = Req::get(CONFIG).selector("Name", "x");
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::InvalidSelectors,
        Some("UnexpectedSelectors"),
    );
    assert_eq!(enumerate_once(&mut c, CONFIG, "").await.len(), 1);

    // Put of writable properties; the answer and a later Get show the change.
    let put = |uri: &str, body: &str| Req::new(ns::action::PUT, uri).body(body);
    let req = put(
        WIDGET,
        &format!(
            "<p:Widget xmlns:p=\"{WIDGET}\"><p:Name>b</p:Name><p:Colour>blue</p:Colour><p:Size>7</p:Size><p:Enabled>false</p:Enabled></p:Widget>"
        ),
    )
    .selector("Name", "b");
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::PUT_RESPONSE);
    assert_eq!(property(&a, "Colour").as_deref(), Some("blue"));
    let req = Req::get(WIDGET).selector("Name", "b");
    let a = c.send(&req).await;
    assert_eq!(property(&a, "Size").as_deref(), Some("7"));
    let req = put(
        CONFIG,
        &format!("<p:Config xmlns:p=\"{CONFIG}\"><p:Mode>safe</p:Mode></p:Config>"),
    );
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::PUT_RESPONSE);
    assert_eq!(property(&a, "Mode").as_deref(), Some("safe"));
    // The key is not writable; a value of the wrong type is refused.
    let req = put(
        WIDGET,
        &format!("<p:Widget xmlns:p=\"{WIDGET}\"><p:Name>c</p:Name></p:Widget>"),
    )
    .selector("Name", "a");
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::InvalidRepresentation,
        Some("InvalidValues"),
    );
    let req = put(
        WIDGET,
        &format!("<p:Widget xmlns:p=\"{WIDGET}\"><p:Size>big</p:Size></p:Widget>"),
    )
    .selector("Name", "a");
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::InvalidRepresentation,
        Some("InvalidValues"),
    );

    // The resource's class is served at its URI only, not as a CIM class.
    for other in [uri("Widget"), format!("{WMI_HW}Widget")] {
        let req = Req::get(&other).selector("Name", "a");
        c.send(&req).await.assert_fault(
            &req,
            FaultKind::DestinationUnreachable,
            Some("InvalidResourceURI"),
        );
    }
    let req = Req::get("http://touchstone.invalid/wbem/1/Gadget");
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::DestinationUnreachable,
        Some("InvalidResourceURI"),
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------- operations

#[tokio::test]
async fn operations_not_offered_are_action_not_supported() {
    let server = serve("[wsman]\noperations = [\"identify\", \"get\"]\n").await;
    let mut c = Client::new(&server);
    let req = system_get();
    c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    let a = c.send(&Req::identify()).await;
    assert_eq!(a.status, 200, "{}", a.text());
    let system = uri("CIM_ComputerSystem");
    let refused = [
        Req::enumerate(&system, ""),
        Req::pull(&system, "uuid:00000000-0000-4000-8000-000000000000", None),
        Req::new(ns::action::PUT, &system)
            .selector("CreationClassName", "CIM_ComputerSystem")
            .selector("Name", HOST)
            .body(&format!(
                "<p:CIM_ComputerSystem xmlns:p=\"{system}\"><p:ElementName>x</p:ElementName></p:CIM_ComputerSystem>"
            )),
        Req::new(ns::action::CREATE, &uri("Vendor_Widget")).body(&format!(
            "<p:Vendor_Widget xmlns:p=\"{}\"><p:InstanceID>w</p:InstanceID></p:Vendor_Widget>",
            uri("Vendor_Widget")
        )),
        Req::new(ns::action::DELETE, &system).selector("Name", HOST),
        Req::new(&format!("{system}/RequestStateChange"), &system)
            .selector("CreationClassName", "CIM_ComputerSystem")
            .selector("Name", HOST),
        Req::new(ns::action::SUBSCRIBE, &system),
        shell_create(""),
    ];
    for req in refused {
        c.send(&req).await.assert_fault(
            &req,
            FaultKind::ActionNotSupported,
            Some("ActionMismatch"),
        );
    }
    server.shutdown().await;

    // Identify is an operation like the others.
    let server = serve("[wsman]\noperations = [\"get\"]\n").await;
    let mut c = Client::new(&server);
    let req = Req::identify();
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::ActionNotSupported, Some("ActionMismatch"));
    server.shutdown().await;
}

// ---------------------------------------------------------------- fragments

#[tokio::test]
async fn without_fragment_access_a_fragment_transfer_is_refused() {
    let server = serve("[wsman]\nfragments = false\n").await;
    let mut c = Client::new(&server);
    let req = system_get()
        .header("<w:FragmentTransfer s:mustUnderstand=\"true\">ElementName</w:FragmentTransfer>");
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::UnsupportedFeature,
        Some("FragmentLevelAccess"),
    );
    // A FragmentTransfer the client does not insist on is ignored: the whole resource.
    let req = system_get().header("<w:FragmentTransfer>ElementName</w:FragmentTransfer>");
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(property(&a, "Name").as_deref(), Some(HOST));
    server.shutdown().await;

    // The default scenario answers the fragment.
    let server = serve("").await;
    let mut c = Client::new(&server);
    let req = system_get()
        .header("<w:FragmentTransfer s:mustUnderstand=\"true\">ElementName</w:FragmentTransfer>");
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    a.with_env(|e| assert!(matches!(e.body, Body::Fragment(_)), "{}", a.text()));
    server.shutdown().await;
}

// ---------------------------------------------------------------- filters

#[tokio::test]
async fn filter_dialects_offered_and_not() {
    let server = serve("[wsman]\nfilter_dialects = [\"selector\"]\n").await;
    let mut c = Client::new(&server);
    let sensors = uri("CIM_NumericSensor");
    let by_selector = format!(
        "<w:Filter Dialect=\"{SELECTOR_FILTER}\"><w:SelectorSet><w:Selector Name=\"DeviceID\">FAN1</w:Selector></w:SelectorSet></w:Filter>"
    );
    assert_eq!(
        enumerate_once(&mut c, &sensors, &by_selector).await.len(),
        1
    );
    for filter in [
        format!("<w:Filter Dialect=\"{WQL}\">SELECT * FROM CIM_NumericSensor</w:Filter>"),
        assoc_from_system(),
        // No Dialect attribute: XPath, which the mock never offers.
        "<w:Filter>/CIM_NumericSensor</w:Filter>".to_owned(),
    ] {
        let req = Req::enumerate(&sensors, &filter);
        c.send(&req)
            .await
            .assert_fault(&req, FaultKind::FilterDialectRequestedUnavailable, None);
    }
    server.shutdown().await;

    // No dialect at all: filtering is not supported; an unfiltered Enumerate works.
    let server = serve("[wsman]\nfilter_dialects = []\n").await;
    let mut c = Client::new(&server);
    let req = Req::enumerate(&sensors, &by_selector);
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::FilteringNotSupported, None);
    assert_eq!(enumerate_once(&mut c, &sensors, "").await.len(), 11);
    server.shutdown().await;

    // The URIs name dialects too.
    let server = serve(&format!("[wsman]\nfilter_dialects = [\"{WQL}\"]\n")).await;
    let mut c = Client::new(&server);
    let wql = format!(
        "<w:Filter Dialect=\"{WQL}\">SELECT * FROM CIM_NumericSensor WHERE DeviceID = 'FAN1'</w:Filter>"
    );
    assert_eq!(enumerate_once(&mut c, &sensors, &wql).await.len(), 1);
    let req = Req::enumerate(&sensors, &by_selector);
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::FilterDialectRequestedUnavailable, None);
    server.shutdown().await;
}

// ---------------------------------------------------------------- options

#[tokio::test]
async fn must_comply_options_the_mock_does_not_use_are_refused() {
    let server = serve("").await;
    let mut c = Client::new(&server);
    let option = |name: &str, value: &str, must: bool| {
        let mc = if must { " MustComply=\"true\"" } else { "" };
        format!("<w:Option Name=\"{name}\"{mc}>{value}</w:Option>")
    };
    // An option the mock does not use, MustComply: refused, never ignored.
    let req = system_get().header(&format!(
        "<w:OptionSet s:mustUnderstand=\"true\">{}</w:OptionSet>",
        option("ShowExtensions", "true", true)
    ));
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::InvalidOptions, Some("NotSupported"));
    // The same without MustComply is a hint the service may ignore.
    let req = system_get().header(&format!(
        "<w:OptionSet>{}</w:OptionSet>",
        option("ShowExtensions", "true", false)
    ));
    c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    // The shell's options are understood on the shell resource...
    let req = shell_create(&format!(
        "{}{}",
        option("WINRS_CODEPAGE", "65001", true),
        option("WINRS_NOPROFILE", "FALSE", true)
    ));
    c.send(&req)
        .await
        .assert_ok(&req, ns::action::CREATE_RESPONSE);
    // ...but not elsewhere,
    let req = system_get().header(&format!(
        "<w:OptionSet s:mustUnderstand=\"true\">{}</w:OptionSet>",
        option("WINRS_CODEPAGE", "65001", true)
    ));
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::InvalidOptions, Some("NotSupported"));
    // and skipping cmd.exe is something the simulated shell cannot comply with.
    let req = shell_create(&option("WINRS_SKIP_CMD_SHELL", "TRUE", true));
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::InvalidOptions, Some("NotSupported"));
    let req = shell_create(&option("WINRS_SKIP_CMD_SHELL", "FALSE", true));
    c.send(&req)
        .await
        .assert_ok(&req, ns::action::CREATE_RESPONSE);
    server.shutdown().await;
}

// ---------------------------------------------------------------- locales

fn with_locale(tag: &str, must_understand: bool) -> Req {
    let mu = if must_understand {
        " s:mustUnderstand=\"true\""
    } else {
        ""
    };
    system_get().header(&format!("<w:Locale xml:lang=\"{tag}\"{mu}/>"))
}

#[tokio::test]
async fn locales_the_service_does_not_support() {
    let server = serve("").await;
    let mut c = Client::new(&server);
    for (tag, mu) in [
        ("en-US", true),
        ("EN-us", true),
        ("en-GB", true),
        ("de-DE", false),
    ] {
        let req = with_locale(tag, mu);
        let a = c.send(&req).await;
        a.assert_ok(&req, ns::action::GET_RESPONSE);
    }
    let req = with_locale("de-DE", true);
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::UnsupportedFeature, Some("Locale"));
    server.shutdown().await;

    let server = serve("[wsman]\nlocales = [\"de-DE\"]\n").await;
    let mut c = Client::new(&server);
    let req = with_locale("de-de", true);
    c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    for tag in ["en-US", "de"] {
        let req = with_locale(tag, true);
        c.send(&req)
            .await
            .assert_fault(&req, FaultKind::UnsupportedFeature, Some("Locale"));
    }
    server.shutdown().await;
}

// ---------------------------------------------------------------- refusals

#[test]
fn knobs_naming_what_the_mock_cannot_be_are_refused() {
    let refused = |toml: &str, needle: &str, line: usize| {
        let e = mock::Scenario::from_toml(toml, "knobs.toml").unwrap_err();
        let text = e.to_string();
        assert!(text.contains(needle), "{text}");
        assert_eq!(e.line, line, "{text}");
    };
    refused(
        "[wsman]\noperations = [\"get\", \"enumrate\"]\n",
        "did you mean \"enumerate\"?",
        2,
    );
    refused(
        "[wsman]\nfilter_dialects = [\"xpath\"]\n",
        "not a dialect the mock implements",
        2,
    );
    refused(
        "[wsman]\nclasses = [\"CIM ComputerSystem\"]\n",
        "not a class name",
        2,
    );
    refused("[wsman]\nlocales = [\"en_US\"]\n", "not a language tag", 2);
    refused(
        "[wsman.resources]\n\"http://x.invalid/Thing\" = \"Thing\"\n",
        "no [[machine.instances]] has that class",
        2,
    );
    refused(
        "[wsman.resources]\n\"/wsman/Thing\" = \"Thing\"\n",
        "not a resource URI",
        2,
    );
    refused(
        "[wsman.resources]\n\"http://x.invalid/A\" = \"CIM_ComputerSystem\"\n",
        "built-in CIM class",
        2,
    );
}
