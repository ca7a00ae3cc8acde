//! The WS-Man service of the mock over real HTTP on loopback: every operation, the
//! filters, Invoke, the WMI URIs, envelope and request size limits, OperationTimeout,
//! the catalogue fault of every kind of bad request, HTTP framing and encodings,
//! authentication, scenario rules (templates, faults, delays, statuses, transport
//! faults, sequences, states, Rhai scripts) and the journal.
//!
//! Each test starts its own `MockServer` on port 0 and talks to it with the small
//! HTTP/1.1 client in `loopback/`; answers are parsed with the `wsman` crate and checked
//! as typed values (status, Action, RelatesTo = the request's MessageID, fault subcode
//! and detail). Waits are on answers, never on sleeps; the only sleeps let wall-clock
//! time pass an expiry that is itself the subject, inside bounded polling loops.

mod loopback;

use std::time::{Duration, Instant};

use loopback::*;
use mock::MockServer;
use mock::journal::{AuthOutcome, OutcomeKind};
use wsman::body::{Body, Item};
use wsman::{FaultKind, ns};

// ---------------------------------------------------------------- helpers

fn uri(class: &str) -> String {
    format!("{CIM}{class}")
}

const WQL: &str = "http://schemas.microsoft.com/wbem/wsman/1/WQL";
const SELECTOR_FILTER: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter";
const ASSOC_FILTER: &str = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter";
const HOST: &str = "touchstone-sim";

/// The four keys of a CIM_NumericSensor of the default machine.
fn sensor_get(id: &str) -> Req {
    Req::get(&uri("CIM_NumericSensor"))
        .selector("CreationClassName", "CIM_NumericSensor")
        .selector("DeviceID", id)
        .selector("SystemCreationClassName", "CIM_ComputerSystem")
        .selector("SystemName", HOST)
}

fn system_get() -> Req {
    Req::get(&uri("CIM_ComputerSystem"))
        .selector("CreationClassName", "CIM_ComputerSystem")
        .selector("Name", HOST)
}

fn wql(query: &str) -> String {
    format!("<w:Filter Dialect=\"{WQL}\">{query}</w:Filter>")
}

fn system_object() -> String {
    format!(
        "<b:Object><a:Address>{}</a:Address><a:ReferenceParameters>\
         <w:ResourceURI>{}</w:ResourceURI><w:SelectorSet>\
         <w:Selector Name=\"CreationClassName\">CIM_ComputerSystem</w:Selector>\
         <w:Selector Name=\"Name\">{HOST}</w:Selector></w:SelectorSet>\
         </a:ReferenceParameters></b:Object>",
        ns::ANONYMOUS,
        uri("CIM_ComputerSystem")
    )
}

/// An association filter from the computer system; `kind` is `AssociatedInstances` or
/// `AssociationInstances`, `extra` the optional elements.
fn assoc_filter(kind: &str, extra: &str) -> String {
    format!(
        "<w:Filter Dialect=\"{ASSOC_FILTER}\"><b:{kind}>{}{extra}</b:{kind}></w:Filter>",
        system_object()
    )
}

fn enumerate_context(a: &Answer) -> Option<String> {
    a.with_env(|e| match &e.body {
        Body::EnumerateResponse(r) => r.context.as_deref().map(str::to_owned),
        _ => panic!("not an EnumerateResponse:\n{}", a.text()),
    })
}

/// (item texts, context, end of sequence) of an Enumerate or Pull answer.
fn items_of(a: &Answer) -> (Vec<String>, Option<String>, bool) {
    a.with_env(|e| match &e.body {
        Body::EnumerateResponse(r) => (
            r.items
                .as_ref()
                .map(|v| v.iter().map(item_text).collect())
                .unwrap_or_default(),
            r.context.as_deref().map(str::to_owned),
            r.end_of_sequence,
        ),
        Body::PullResponse(r) => (
            r.items.iter().map(item_text).collect(),
            r.context.as_deref().map(str::to_owned),
            r.end_of_sequence,
        ),
        _ => panic!("not an enumeration answer:\n{}", a.text()),
    })
}

fn device_ids(items: &[String]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| {
            let start = i.find("DeviceID>")? + "DeviceID>".len();
            let end = i[start..].find('<')?;
            Some(i[start..start + end].to_owned())
        })
        .collect()
}

fn invoke(class: &str, method: &str, params: &str) -> Req {
    Req::new(&format!("{}/{method}", uri(class)), &uri(class)).body(&format!(
        "<p:{method}_INPUT xmlns:p=\"{}\">{params}</p:{method}_INPUT>",
        uri(class)
    ))
}

fn return_value(a: &Answer) -> String {
    a.with_env(|e| match &e.body {
        Body::MethodOutput(m) => m
            .element
            .root()
            .property("ReturnValue")
            .map(|v| v.text().to_owned())
            .unwrap_or_default(),
        _ => panic!("not a method output:\n{}", a.text()),
    })
}

// ---------------------------------------------------------------- Identify

#[tokio::test]
async fn identify_authenticated_lists_security_profiles() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let req = Req::identify();
    let a = c.send(&req).await;
    assert_eq!(a.status, 200);
    a.with_env(|e| match &e.body {
        Body::IdentifyResponse(r) => {
            assert_eq!(r.protocol_versions, vec![ns::WSMAN]);
            assert_eq!(r.product_vendor.as_deref(), Some("Touchstone"));
            let profiles = r.security_profiles.as_ref().expect("profiles");
            assert!(profiles.iter().any(|p| p.ends_with("/http/basic")));
            assert!(profiles.iter().any(|p| p.ends_with("/http/digest")));
        }
        _ => panic!("{}", a.text()),
    });
    insta::assert_snapshot!("identify_authenticated", pretty(&redact(&a.text())));
    server.shutdown().await;
}

#[tokio::test]
async fn identify_unauthenticated_omits_security_profiles() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server).with_auth(None);
    let req = Req::identify();
    let a = c
        .send_with(&req, &[("WSMANIDENTIFY", "unauthenticated")])
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    a.with_env(|e| match &e.body {
        Body::IdentifyResponse(r) => {
            assert!(r.security_profiles.is_none(), "{}", a.text());
            assert_eq!(r.product_vendor.as_deref(), Some("Touchstone"));
        }
        _ => panic!("{}", a.text()),
    });
    // Without the header, credentials are required.
    let a = c.send(&req).await;
    assert_eq!(a.status, 401);
    // The header opens Identify only, not the other operations.
    let a = c
        .send_with(&system_get(), &[("WSMANIDENTIFY", "unauthenticated")])
        .await;
    assert_eq!(a.status, 401, "{}", a.text());
    assert!(
        a.headers_named("www-authenticate")
            .iter()
            .any(|c| c.starts_with("Basic")),
        "{:?}",
        a.headers
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------- transfer

#[tokio::test]
async fn get_answers_the_instance() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let req = system_get();
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(property(&a, "Name").as_deref(), Some(HOST));
    assert_eq!(property(&a, "EnabledState").as_deref(), Some("2"));
    insta::assert_snapshot!("get_computer_system", pretty(&redact(&a.text())));

    // A class with one instance may be addressed without selectors (DSP0226).
    let req = Req::get(&uri("CIM_ComputerSystem"));
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);

    let req = sensor_get("FAN1");
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(property(&a, "CurrentReading").as_deref(), Some("5400"));
    assert_eq!(property(&a, "SensorType").as_deref(), Some("5"));
    server.shutdown().await;
}

/// A client polling one instance sends the same envelope with a new MessageID each
/// time, and the mock reads the repeats from its parse memo: every answer still
/// relates to its own request and says what the first said.
#[tokio::test]
async fn a_polled_get_relates_each_answer_to_its_own_request() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let first = system_get();
    let want = redact(&c.send(&first).await.text());
    for n in 0..5 {
        let req = system_get().message_id(&message_id());
        let a = c.send(&req).await;
        a.assert_ok(&req, ns::action::GET_RESPONSE);
        assert_eq!(redact(&a.text()), want, "request {n}");
    }
    // A MessageID the memo takes (same length, plain characters) is still checked:
    // not a uuid: URI.
    let req = system_get().message_id("uuid:zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz");
    assert_eq!(req.message_id.len(), message_id().len());
    let a = c.send(&req).await;
    a.assert_fault(&req, FaultKind::InvalidMessageInformationHeader, None);
    server.shutdown().await;
}

#[tokio::test]
async fn get_fragment() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let req = sensor_get("FAN2").header(
        "<w:FragmentTransfer s:mustUnderstand=\"true\">CurrentReading</w:FragmentTransfer>",
    );
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    a.with_env(|e| match &e.body {
        Body::Fragment(t) => {
            let root = t.root();
            assert!(root.is(ns::WSMAN, "XmlFragment"));
            let children: Vec<_> = root.children().collect();
            assert_eq!(children.len(), 1, "{}", a.text());
            assert_eq!(&*children[0].name().local, "CurrentReading");
            assert_eq!(children[0].text(), "5460");
        }
        _ => panic!("{}", a.text()),
    });
    // `/text()` answers the bare value.
    let req = sensor_get("FAN2").header(
        "<w:FragmentTransfer s:mustUnderstand=\"true\">CurrentReading/text()</w:FragmentTransfer>",
    );
    let a = c.send(&req).await;
    a.with_env(|e| match &e.body {
        Body::Fragment(t) => assert_eq!(t.root().text(), "5460"),
        _ => panic!("{}", a.text()),
    });
    // A property the class does not have.
    let req = sensor_get("FAN2")
        .header("<w:FragmentTransfer s:mustUnderstand=\"true\">NoSuchThing</w:FragmentTransfer>");
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::InvalidRepresentation,
        Some("InvalidFragment"),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn put_whole_instance() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let a = c.send(&system_get()).await;
    // What clients do: take the instance they got, change a property, send it back.
    let text = a.text();
    let start = text.find("<s:Body>").unwrap() + "<s:Body>".len();
    let end = text.find("</s:Body>").unwrap();
    let instance = text[start..end].replace(
        "<p:ElementName>touchstone-sim</p:ElementName>",
        "<p:ElementName>renamed</p:ElementName>",
    );
    assert!(instance.contains("renamed"));
    let put = Req::new(ns::action::PUT, &uri("CIM_ComputerSystem"))
        .selector("CreationClassName", "CIM_ComputerSystem")
        .selector("Name", HOST)
        .body(&instance);
    let a = c.send(&put).await;
    a.assert_ok(&put, ns::action::PUT_RESPONSE);
    assert_eq!(property(&a, "ElementName").as_deref(), Some("renamed"));
    let a = c.send(&system_get()).await;
    assert_eq!(property(&a, "ElementName").as_deref(), Some("renamed"));

    // Changing a read-only property is refused.
    let bad = text[start..end].replace(
        "<p:EnabledState>2</p:EnabledState>",
        "<p:EnabledState>3</p:EnabledState>",
    );
    let put = Req::new(ns::action::PUT, &uri("CIM_ComputerSystem"))
        .selector("CreationClassName", "CIM_ComputerSystem")
        .selector("Name", HOST)
        .body(&bad);
    c.send(&put).await.assert_fault(
        &put,
        FaultKind::InvalidRepresentation,
        Some("InvalidValues"),
    );
    // The body must be the addressed class.
    let put = Req::new(ns::action::PUT, &uri("CIM_ComputerSystem"))
        .selector("CreationClassName", "CIM_ComputerSystem")
        .selector("Name", HOST)
        .body(&format!(
            "<p:CIM_Fan xmlns:p=\"{}\"><p:ElementName>x</p:ElementName></p:CIM_Fan>",
            uri("CIM_Fan")
        ));
    c.send(&put).await.assert_fault(
        &put,
        FaultKind::InvalidRepresentation,
        Some("InvalidNamespace"),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn put_fragment() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let mut put = sensor_get("CPU1_TEMP")
        .header(
            "<w:FragmentTransfer s:mustUnderstand=\"true\">UpperThresholdNonCritical</w:FragmentTransfer>",
        )
        .body(
            "<w:XmlFragment><UpperThresholdNonCritical>80</UpperThresholdNonCritical></w:XmlFragment>",
        );
    put.action = Some(ns::action::PUT.into());
    let a = c.send(&put).await;
    a.assert_ok(&put, ns::action::PUT_RESPONSE);
    a.with_env(|e| match &e.body {
        Body::Fragment(t) => {
            let v = t.root().children().next().expect("a property");
            assert_eq!(v.text(), "80", "{}", a.text());
        }
        _ => panic!("{}", a.text()),
    });
    let a = c.send(&sensor_get("CPU1_TEMP")).await;
    assert_eq!(
        property(&a, "UpperThresholdNonCritical").as_deref(),
        Some("80")
    );
    // A fragment Put without an XmlFragment body.
    let mut put = sensor_get("CPU1_TEMP").header(
        "<w:FragmentTransfer s:mustUnderstand=\"true\">UpperThresholdNonCritical</w:FragmentTransfer>",
    );
    put.action = Some(ns::action::PUT.into());
    c.send(&put).await.assert_fault(
        &put,
        FaultKind::InvalidRepresentation,
        Some("InvalidFragment"),
    );
    // An unsupported fragment dialect.
    let mut put = sensor_get("CPU1_TEMP")
        .header(
            "<w:FragmentTransfer s:mustUnderstand=\"true\" Dialect=\"urn:example:nope\">UpperThresholdNonCritical</w:FragmentTransfer>",
        )
        .body("<w:XmlFragment><UpperThresholdNonCritical>80</UpperThresholdNonCritical></w:XmlFragment>");
    put.action = Some(ns::action::PUT.into());
    c.send(&put)
        .await
        .assert_fault(&put, FaultKind::FragmentDialectNotSupported, None);
    server.shutdown().await;
}

#[tokio::test]
async fn create_get_delete() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let class = "Touchstone_Widget";
    let body = format!(
        "<p:{class} xmlns:p=\"{u}\"><p:InstanceID>w1</p:InstanceID><p:Color>blue</p:Color></p:{class}>",
        u = uri(class)
    );
    let create = Req::new(ns::action::CREATE, &uri(class)).body(&body);
    let a = c.send(&create).await;
    a.assert_ok(&create, ns::action::CREATE_RESPONSE);
    a.with_env(|e| match &e.body {
        Body::ResourceCreated(epr) => {
            assert_eq!(epr.resource_uri.as_deref(), Some(uri(class).as_str()));
            assert_eq!(
                wsman::addressing::selector_value(&epr.selectors, "InstanceID"),
                Some("w1")
            );
        }
        _ => panic!("{}", a.text()),
    });
    let get = Req::get(&uri(class)).selector("InstanceID", "w1");
    let a = c.send(&get).await;
    a.assert_ok(&get, ns::action::GET_RESPONSE);
    assert_eq!(property(&a, "Color").as_deref(), Some("blue"));

    // The same keys again.
    let again = Req::new(ns::action::CREATE, &uri(class)).body(&body);
    c.send(&again)
        .await
        .assert_fault(&again, FaultKind::AlreadyExists, None);

    let delete = Req::new(ns::action::DELETE, &uri(class)).selector("InstanceID", "w1");
    let a = c.send(&delete).await;
    a.assert_ok(&delete, ns::action::DELETE_RESPONSE);
    a.with_env(|e| assert!(matches!(e.body, Body::Empty)));
    let get = Req::get(&uri(class)).selector("InstanceID", "w1");
    let a = c.send(&get).await;
    // InvalidValue (no such instance) would be exact; the machine forgets the key names
    // of a class whose last instance is gone and says UnexpectedSelectors (reported).
    assert_eq!(a.fault().0, FaultKind::InvalidSelectors, "{}", a.text());
    assert_eq!(a.relates_to().as_deref(), Some(get.message_id.as_str()));

    // The machine's own instances cannot be deleted or created by clients.
    let delete = Req::new(ns::action::DELETE, &uri("CIM_ComputerSystem"));
    c.send(&delete).await.assert_fault(
        &delete,
        FaultKind::ActionNotSupported,
        Some("ActionMismatch"),
    );
    let create = Req::new(ns::action::CREATE, &uri("CIM_Fan")).body(&format!(
        "<p:CIM_Fan xmlns:p=\"{}\"><p:DeviceID>x</p:DeviceID></p:CIM_Fan>",
        uri("CIM_Fan")
    ));
    c.send(&create).await.assert_fault(
        &create,
        FaultKind::ActionNotSupported,
        Some("ActionMismatch"),
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------- enumeration

#[tokio::test]
async fn enumerate_and_pull_everything() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let items = c.enumerate_all(&uri("CIM_NumericSensor"), "").await;
    assert_eq!(
        device_ids(&items),
        [
            "CPU1_TEMP",
            "CPU2_TEMP",
            "INLET_TEMP",
            "EXHAUST_TEMP",
            "FAN1",
            "FAN2",
            "FAN3",
            "P12V",
            "P5V",
            "P3V3",
            "PSU1_INPUT"
        ]
    );
    // Polymorphic: CIM_Sensor covers numeric and discrete sensors.
    let items = c.enumerate_all(&uri("CIM_Sensor"), "").await;
    assert_eq!(items.len(), 13);
    assert!(device_ids(&items).contains(&"INTRUSION".to_owned()));
    server.shutdown().await;
}

#[tokio::test]
async fn optimized_enumeration_with_max_elements_and_count_estimate() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let req = Req::enumerate(
        &uri("CIM_NumericSensor"),
        "<w:OptimizeEnumeration/><w:MaxElements>3</w:MaxElements>",
    )
    .header("<w:RequestTotalItemsCountEstimate/>");
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::ENUMERATE_RESPONSE);
    a.with_env(|e| assert_eq!(e.header.total_items_count_estimate, Some(11)));
    let (items, ctx, end) = items_of(&a);
    assert_eq!(device_ids(&items), ["CPU1_TEMP", "CPU2_TEMP", "INLET_TEMP"]);
    assert!(!end);
    let ctx = ctx.expect("a context");

    let pull = Req::pull(&uri("CIM_NumericSensor"), &ctx, Some(5))
        .header("<w:RequestTotalItemsCountEstimate/>");
    let a = c.send(&pull).await;
    a.assert_ok(&pull, ns::action::PULL_RESPONSE);
    a.with_env(|e| assert_eq!(e.header.total_items_count_estimate, Some(11)));
    let (items, ctx2, end) = items_of(&a);
    assert_eq!(items.len(), 5);
    assert!(!end);
    assert_eq!(ctx2.as_deref(), Some(ctx.as_str()));

    let pull = Req::pull(&uri("CIM_NumericSensor"), &ctx, Some(5));
    let a = c.send(&pull).await;
    let (items, ctx3, end) = items_of(&a);
    assert_eq!(device_ids(&items), ["P5V", "P3V3", "PSU1_INPUT"]);
    assert!(end);
    assert!(ctx3.is_none());
    // The finished context is gone.
    let pull = Req::pull(&uri("CIM_NumericSensor"), &ctx, Some(5));
    c.send(&pull)
        .await
        .assert_fault(&pull, FaultKind::InvalidEnumerationContext, None);

    // Everything fits in the first answer: EndOfSequence at once, no context to keep.
    let req = Req::enumerate(
        &uri("CIM_Fan"),
        "<w:OptimizeEnumeration/><w:MaxElements>50</w:MaxElements>",
    );
    let a = c.send(&req).await;
    let (items, _, end) = items_of(&a);
    assert_eq!(items.len(), 3);
    assert!(end, "{}", a.text());
    insta::assert_snapshot!("enumerate_optimized_fans", pretty(&redact(&a.text())));
    server.shutdown().await;
}

#[tokio::test]
async fn enumeration_modes_epr_and_object_and_epr() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let req = Req::enumerate(
        &uri("CIM_Fan"),
        "<w:OptimizeEnumeration/><w:MaxElements>10</w:MaxElements><w:EnumerationMode>EnumerateEPR</w:EnumerationMode>",
    );
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::ENUMERATE_RESPONSE);
    a.with_env(|e| match &e.body {
        Body::EnumerateResponse(r) => {
            let items = r.items.as_ref().expect("items");
            assert_eq!(items.len(), 3);
            for (i, item) in items.iter().enumerate() {
                let Item::Epr(epr) = item else {
                    panic!("not an EPR: {item:?}")
                };
                assert_eq!(epr.resource_uri.as_deref(), Some(uri("CIM_Fan").as_str()));
                let id = format!("Fan:FAN{}", i + 1);
                assert_eq!(
                    wsman::addressing::selector_value(&epr.selectors, "DeviceID"),
                    Some(id.as_str())
                );
            }
        }
        _ => panic!("{}", a.text()),
    });

    let req = Req::enumerate(
        &uri("CIM_Fan"),
        "<w:OptimizeEnumeration/><w:MaxElements>10</w:MaxElements><w:EnumerationMode>EnumerateObjectAndEPR</w:EnumerationMode>",
    );
    let a = c.send(&req).await;
    a.with_env(|e| match &e.body {
        Body::EnumerateResponse(r) => {
            let items = r.items.as_ref().expect("items");
            assert_eq!(items.len(), 3);
            let Item::ObjectAndEpr(obj, epr) = &items[0] else {
                panic!("not an Item: {:?}", items[0])
            };
            assert_eq!(&*obj.root().name().local, "CIM_Fan");
            assert_eq!(
                wsman::addressing::selector_value(&epr.selectors, "DeviceID"),
                Some("Fan:FAN1")
            );
        }
        _ => panic!("{}", a.text()),
    });

    // Through Pull too.
    let req = Req::enumerate(
        &uri("CIM_Fan"),
        "<w:EnumerationMode>EnumerateEPR</w:EnumerationMode>",
    );
    let ctx = enumerate_context(&c.send(&req).await).unwrap();
    let a = c.send(&Req::pull(&uri("CIM_Fan"), &ctx, Some(2))).await;
    a.with_env(|e| match &e.body {
        Body::PullResponse(r) => {
            assert_eq!(r.items.len(), 2);
            assert!(r.items.iter().all(|i| matches!(i, Item::Epr(_))));
        }
        _ => panic!("{}", a.text()),
    });

    let req = Req::enumerate(
        &uri("CIM_Fan"),
        "<w:EnumerationMode>EnumerateEverything</w:EnumerationMode>",
    );
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::UnsupportedFeature, Some("EnumerationMode"));
    server.shutdown().await;
}

#[tokio::test]
async fn release_renew_get_status() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let u = uri("CIM_NumericSensor");
    let ctx = enumerate_context(&c.send(&Req::enumerate(&u, "")).await).unwrap();

    let status = Req::new(ns::action::ENUM_GET_STATUS, &u).body(&format!(
        "<n:GetStatus><n:EnumerationContext>{ctx}</n:EnumerationContext></n:GetStatus>"
    ));
    let a = c.send(&status).await;
    a.assert_ok(&status, ns::action::ENUM_GET_STATUS_RESPONSE);
    let expires = a.with_env(|e| match &e.body {
        Body::EnumerationGetStatusResponse(r) => r.expires.as_deref().map(str::to_owned),
        _ => panic!("{}", a.text()),
    });
    let left: wsman::XsDuration = expires.expect("Expires").parse().unwrap();
    let left = left.to_std().unwrap();
    assert!(left > Duration::from_secs(590) && left <= Duration::from_secs(600));

    let renew = Req::new(ns::action::ENUM_RENEW, &u).body(&format!(
        "<n:Renew><n:EnumerationContext>{ctx}</n:EnumerationContext><n:Expires>PT30S</n:Expires></n:Renew>"
    ));
    let a = c.send(&renew).await;
    a.assert_ok(&renew, ns::action::ENUM_RENEW_RESPONSE);
    a.with_env(|e| match &e.body {
        Body::EnumerationRenewResponse(r) => {
            assert_eq!(r.expires.as_deref(), Some("PT30S"));
            assert_eq!(r.context.as_deref(), Some(ctx.as_str()));
        }
        _ => panic!("{}", a.text()),
    });
    let a = c.send(&status).await;
    let left: wsman::XsDuration = a
        .with_env(|e| match &e.body {
            Body::EnumerationGetStatusResponse(r) => r.expires.as_deref().map(str::to_owned),
            _ => None,
        })
        .unwrap()
        .parse()
        .unwrap();
    assert!(left.to_std().unwrap() <= Duration::from_secs(30));

    let renew_bad = Req::new(ns::action::ENUM_RENEW, &u).body(&format!(
        "<n:Renew><n:EnumerationContext>{ctx}</n:EnumerationContext><n:Expires>2030-01-01T00:00:00Z</n:Expires></n:Renew>"
    ));
    c.send(&renew_bad)
        .await
        .assert_fault(&renew_bad, FaultKind::UnsupportedExpirationType, None);

    let release = Req::new(ns::action::RELEASE, &u).body(&format!(
        "<n:Release><n:EnumerationContext>{ctx}</n:EnumerationContext></n:Release>"
    ));
    let a = c.send(&release).await;
    a.assert_ok(&release, ns::action::RELEASE_RESPONSE);
    for req in [
        Req::pull(&u, &ctx, None),
        release.clone().message_id(&message_id()),
        status.clone().message_id(&message_id()),
        renew.clone().message_id(&message_id()),
    ] {
        c.send(&req)
            .await
            .assert_fault(&req, FaultKind::InvalidEnumerationContext, None);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn enumeration_context_expires() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let u = uri("CIM_NumericSensor");
    let req = Req::enumerate(&u, "<n:Expires>PT0.2S</n:Expires>");
    let t0 = Instant::now();
    let ctx = enumerate_context(&c.send(&req).await).unwrap();
    let status = |ctx: &str| {
        Req::new(ns::action::ENUM_GET_STATUS, &u).body(&format!(
            "<n:GetStatus><n:EnumerationContext>{ctx}</n:EnumerationContext></n:GetStatus>"
        ))
    };
    // GetStatus does not renew; poll until the context is gone (time passing is the
    // subject, so the loop sleeps a little between polls, bounded overall).
    loop {
        let req = status(&ctx);
        let a = c.send(&req).await;
        if a.status != 200 {
            a.assert_fault(&req, FaultKind::InvalidEnumerationContext, None);
            break;
        }
        assert!(t0.elapsed() < PATIENCE, "the context never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(t0.elapsed() >= Duration::from_millis(200));
    let pull = Req::pull(&u, &ctx, None);
    c.send(&pull)
        .await
        .assert_fault(&pull, FaultKind::InvalidEnumerationContext, None);

    // A Pull renews an idle context for its lifetime again.
    let req = Req::enumerate(&u, "<n:Expires>PT0.5S</n:Expires>");
    let ctx = enumerate_context(&c.send(&req).await).unwrap();
    let a = c.send(&Req::pull(&u, &ctx, Some(1))).await;
    assert_eq!(a.status, 200, "{}", a.text());

    // A zero or dateTime Expires is refused.
    for x in ["PT0S", "2030-01-01T00:00:00Z"] {
        let req = Req::enumerate(&u, &format!("<n:Expires>{x}</n:Expires>"));
        c.send(&req)
            .await
            .assert_fault(&req, FaultKind::UnsupportedExpirationType, None);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn scenario_enumeration_expiry_and_quota() {
    let server = serve("[wsman]\nenumeration_expiry_s = 1\nmax_enumerations = 2\n").await;
    let mut c = Client::new(&server);
    let u = uri("CIM_Fan");
    let t0 = Instant::now();
    let a = enumerate_context(&c.send(&Req::enumerate(&u, "")).await).unwrap();
    let _b = enumerate_context(&c.send(&Req::enumerate(&u, "")).await).unwrap();
    let third = Req::enumerate(&u, "");
    c.send(&third)
        .await
        .assert_fault(&third, FaultKind::QuotaLimit, None);
    let status = Req::new(ns::action::ENUM_GET_STATUS, &u).body(&format!(
        "<n:GetStatus><n:EnumerationContext>{a}</n:EnumerationContext></n:GetStatus>"
    ));
    loop {
        let req = status.clone().message_id(&message_id());
        let ans = c.send(&req).await;
        if ans.status != 200 {
            ans.assert_fault(&req, FaultKind::InvalidEnumerationContext, None);
            break;
        }
        assert!(t0.elapsed() < PATIENCE, "the context never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(t0.elapsed() >= Duration::from_secs(1));
    // Expired contexts no longer count against the quota.
    let ok = Req::enumerate(&u, "");
    c.send(&ok)
        .await
        .assert_ok(&ok, ns::action::ENUMERATE_RESPONSE);
    server.shutdown().await;
}

/// Issue 13: one user cannot take every enumeration context and lock the others out;
/// past `max_enumerations_per_user` that user is refused with wsman:QuotaLimit while
/// another still enumerates.
#[tokio::test]
async fn one_user_cannot_exhaust_the_enumeration_contexts() {
    let server = serve("[wsman]\nmax_enumerations_per_user = 2\n").await;
    let mut admin = Client::new(&server);
    let mut other = Client::new(&server).with_auth(Some(basic("operator", "operator")));
    let u = uri("CIM_Fan");
    for _ in 0..2 {
        enumerate_context(&admin.send(&Req::enumerate(&u, "")).await).unwrap();
    }
    let third = Req::enumerate(&u, "");
    let ans = admin.send(&third).await;
    ans.assert_fault(&third, FaultKind::QuotaLimit, None);
    let text = String::from_utf8_lossy(&ans.body).into_owned();
    assert!(
        text.contains("`admin`"),
        "the fault names whose quota: {text}"
    );
    let theirs = Req::enumerate(&u, "");
    assert!(
        enumerate_context(&other.send(&theirs).await).is_some(),
        "another user still enumerates"
    );
    server.shutdown().await;
}

/// Issue 13: a Get whose body holds one element with 45,000 attributes (440 KB, under
/// the size limit) used to cost seconds of CPU on the async workers. It is refused with
/// wsman:EncodingLimit (the per-element attribute cap), and an Identify sent alongside
/// is answered as usual. (How fast: `benches/attributes.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_element_with_45000_attributes_is_refused_and_starves_no_one() {
    let server = MockServer::start().await.unwrap();
    let attrs: String = (0..45_000).map(|i| format!(" a{i}=\"\"")).collect();
    let req = Req::get(&uri("CIM_Fan"))
        .selector("DeviceID", "FAN1")
        .body(&format!("<x{attrs}/>"));
    assert!(req.xml().len() < 512_000, "under the default size limit");
    let mut hostile = Client::new(&server);
    let mut polite = Client::new(&server);
    let identify = Req::identify();
    let (bad, ok) = tokio::join!(hostile.send(&req), polite.send(&identify));
    bad.assert_fault(&req, FaultKind::EncodingLimit, Some("ServiceEnvelopeLimit"));
    assert_eq!(ok.status, 200, "the concurrent Identify is answered");
    server.shutdown().await;
}

// ---------------------------------------------------------------- filters

#[tokio::test]
async fn selector_filter() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let f = format!(
        "<w:Filter Dialect=\"{SELECTOR_FILTER}\"><w:SelectorSet><w:Selector Name=\"DeviceID\">FAN2</w:Selector></w:SelectorSet></w:Filter>"
    );
    let items = c.enumerate_all(&uri("CIM_NumericSensor"), &f).await;
    assert_eq!(device_ids(&items), ["FAN2"]);
    let f = format!(
        "<w:Filter Dialect=\"{SELECTOR_FILTER}\"><w:SelectorSet><w:Selector Name=\"SystemName\">{HOST}</w:Selector></w:SelectorSet></w:Filter>"
    );
    let items = c.enumerate_all(&uri("CIM_Fan"), &f).await;
    assert_eq!(items.len(), 3);
    // Selector values compare case-sensitively in the DMTF flavour.
    let f = format!(
        "<w:Filter Dialect=\"{SELECTOR_FILTER}\"><w:SelectorSet><w:Selector Name=\"DeviceID\">fan2</w:Selector></w:SelectorSet></w:Filter>"
    );
    assert!(
        c.enumerate_all(&uri("CIM_NumericSensor"), &f)
            .await
            .is_empty()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn wql_filters() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let u = uri("CIM_NumericSensor");
    let items = c
        .enumerate_all(
            &u,
            &wql("SELECT * FROM CIM_NumericSensor WHERE SensorType = 5"),
        )
        .await;
    assert_eq!(device_ids(&items), ["FAN1", "FAN2", "FAN3"]);
    assert!(
        items[0].contains("LowerThresholdCritical"),
        "SELECT * keeps everything"
    );

    let items = c
        .enumerate_all(
            &u,
            &wql("SELECT DeviceID, CurrentReading FROM CIM_NumericSensor WHERE SensorType = 3 OR SensorType = 5"),
        )
        .await;
    assert_eq!(
        device_ids(&items),
        ["FAN1", "FAN2", "FAN3", "P12V", "P5V", "P3V3"]
    );
    assert!(items.iter().all(|i| i.contains("CurrentReading")));
    assert!(!items[0].contains("ElementName"), "{}", items[0]);
    assert!(!items[0].contains("LowerThresholdCritical"), "{}", items[0]);

    let items = c
        .enumerate_all(
            &u,
            &wql(
                "SELECT * FROM CIM_NumericSensor WHERE NOT (SensorType = 2) AND NOT SensorType = 5",
            ),
        )
        .await;
    assert_eq!(device_ids(&items), ["P12V", "P5V", "P3V3", "PSU1_INPUT"]);

    let items = c
        .enumerate_all(
            &u,
            &wql("SELECT * FROM CIM_NumericSensor WHERE DeviceID = 'CPU1_TEMP' AND CurrentReading > 0"),
        )
        .await;
    assert_eq!(device_ids(&items), ["CPU1_TEMP"]);
    server.shutdown().await;
}

#[tokio::test]
async fn association_filters_on_the_all_classes_uri() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    // Every sensor-like device of the system.
    let items = c
        .enumerate_all(
            ALL_CLASSES,
            &assoc_filter(
                "AssociatedInstances",
                "<b:AssociationClassName>CIM_SystemDevice</b:AssociationClassName>\
                 <b:Role>GroupComponent</b:Role>\
                 <b:ResultClassName>CIM_NumericSensor</b:ResultClassName>\
                 <b:ResultRole>PartComponent</b:ResultRole>",
            ),
        )
        .await;
    assert_eq!(items.len(), 11);
    assert!(items.iter().all(|i| i.contains("p:CIM_NumericSensor ")));

    // The association instances themselves.
    let items = c
        .enumerate_all(
            ALL_CLASSES,
            &assoc_filter(
                "AssociationInstances",
                "<b:AssociationClassName>CIM_SystemDevice</b:AssociationClassName>\
                 <b:ResultClassName>CIM_Fan</b:ResultClassName>",
            ),
        )
        .await;
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|i| i.contains("CIM_SystemDevice")));
    assert!(items[0].contains("Fan:FAN1"));

    // The system is the GroupComponent, never the PartComponent.
    let items = c
        .enumerate_all(
            ALL_CLASSES,
            &assoc_filter(
                "AssociatedInstances",
                "<b:AssociationClassName>CIM_SystemDevice</b:AssociationClassName>\
                 <b:Role>PartComponent</b:Role>",
            ),
        )
        .await;
    assert!(items.is_empty(), "{items:?}");
    let items = c
        .enumerate_all(
            ALL_CLASSES,
            &assoc_filter(
                "AssociatedInstances",
                "<b:ResultRole>GroupComponent</b:ResultRole>",
            ),
        )
        .await;
    assert!(items.is_empty(), "{items:?}");

    // The log and its profile conformance.
    let items = c
        .enumerate_all(
            ALL_CLASSES,
            &assoc_filter(
                "AssociatedInstances",
                "<b:AssociationClassName>CIM_UseOfLog</b:AssociationClassName>",
            ),
        )
        .await;
    assert_eq!(items.len(), 1);
    assert!(items[0].contains("CIM_RecordLog"));

    // Enumerating all classes needs an association filter.
    let req = Req::enumerate(ALL_CLASSES, "");
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::UnsupportedFeature,
        Some("FilteringRequired"),
    );
    // An unknown result class.
    let req = Req::enumerate(
        ALL_CLASSES,
        &assoc_filter(
            "AssociatedInstances",
            "<b:ResultClassName>CIM_NoSuchClass</b:ResultClassName>",
        ),
    );
    let a = c.send(&req).await;
    assert_ne!(a.status, 200, "{}", a.text());
    server.shutdown().await;
}

#[tokio::test]
async fn association_filter_on_a_class_uri() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    // The class URI narrows the results to that class (and its subclasses).
    let items = c
        .enumerate_all(
            &uri("CIM_Sensor"),
            &assoc_filter(
                "AssociatedInstances",
                "<b:AssociationClassName>CIM_SystemDevice</b:AssociationClassName>",
            ),
        )
        .await;
    assert_eq!(items.len(), 13, "{items:#?}");
    let items = c
        .enumerate_all(&uri("CIM_Fan"), &assoc_filter("AssociatedInstances", ""))
        .await;
    assert_eq!(items.len(), 3, "{items:#?}");
    assert!(items.iter().all(|i| i.contains("p:CIM_Fan ")));
    // Under a WMI class URI, the answers use WMI URIs.
    let items = c
        .enumerate_all(
            &format!("{WMI_HW}CIM_Fan"),
            &assoc_filter("AssociatedInstances", ""),
        )
        .await;
    assert_eq!(items.len(), 3);
    assert!(
        items[0].contains(&format!("{WMI_HW}CIM_Fan")),
        "{}",
        items[0]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn filter_faults() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let u = uri("CIM_NumericSensor");
    // XPath (the default dialect when none is named) and CQL are not offered.
    for f in [
        "<w:Filter>/CIM_NumericSensor</w:Filter>".to_owned(),
        "<w:Filter Dialect=\"http://schemas.dmtf.org/wbem/cql/1/dsp0202.pdf\">SELECT * FROM CIM_NumericSensor</w:Filter>".to_owned(),
        "<n:Filter Dialect=\"urn:example:nope\">x</n:Filter>".to_owned(),
    ] {
        let req = Req::enumerate(&u, &f);
        c.send(&req)
            .await
            .assert_fault(&req, FaultKind::FilterDialectRequestedUnavailable, None);
    }
    for q in [
        "SELECT * FORM CIM_NumericSensor",
        "SELECT * FROM CIM_NumericSensor WHERE",
        "SELECT * FROM CIM_NumericSensor WHERE NoSuchProperty = 1",
        "SELECT * FROM CIM_Fan",
    ] {
        let req = Req::enumerate(&u, &wql(q));
        c.send(&req)
            .await
            .assert_fault(&req, FaultKind::EnumerationCannotProcessFilter, None);
    }
    server.shutdown().await;
}

// ---------------------------------------------------------------- Invoke

#[tokio::test]
async fn request_state_change_changes_power_after_the_delay() {
    let server = serve("[machine.power]\nsoft_off_delay_ms = 600\n").await;
    let mut c = Client::new(&server);
    let req = invoke(
        "CIM_ComputerSystem",
        "RequestStateChange",
        "<p:RequestedState>4</p:RequestedState>",
    )
    .selector("CreationClassName", "CIM_ComputerSystem")
    .selector("Name", HOST);
    let t0 = Instant::now();
    let a = c.send(&req).await;
    a.assert_ok(
        &req,
        &format!("{}/RequestStateChangeResponse", uri("CIM_ComputerSystem")),
    );
    assert_eq!(return_value(&a), "0");
    insta::assert_snapshot!("invoke_request_state_change", pretty(&redact(&a.text())));
    let state = |a: &Answer| property(a, "EnabledState").unwrap_or_default();
    let first = c.send(&system_get()).await;
    if t0.elapsed() < Duration::from_millis(500) {
        // Still shutting down.
        assert_eq!(state(&first), "4", "{}", first.text());
    }
    loop {
        let a = c.send(&system_get()).await;
        if state(&a) == "3" {
            break;
        }
        assert!(t0.elapsed() < PATIENCE, "never powered off");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(t0.elapsed() >= Duration::from_millis(600));

    // Power on again (no delay in this scenario).
    let req = invoke(
        "CIM_ComputerSystem",
        "RequestStateChange",
        "<p:RequestedState>2</p:RequestedState>",
    );
    assert_eq!(return_value(&c.send(&req).await), "0");
    assert_eq!(state(&c.send(&system_get()).await), "2");
    // Unsupported and invalid states answer ReturnValue codes, not faults.
    let req = invoke(
        "CIM_ComputerSystem",
        "RequestStateChange",
        "<p:RequestedState>7</p:RequestedState>",
    );
    assert_eq!(return_value(&c.send(&req).await), "1");
    // A missing parameter and an unknown method are faults.
    let req = invoke("CIM_ComputerSystem", "RequestStateChange", "");
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::InvalidParameter, Some("MissingValues"));
    let req = invoke(
        "CIM_ComputerSystem",
        "RequestStateChange",
        "<p:RequestedState>two</p:RequestedState>",
    );
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::InvalidParameter, Some("TypeMismatch"));
    let req = invoke(
        "CIM_ComputerSystem",
        "RequestStateChange",
        "<p:RequestedState>2</p:RequestedState><p:Bogus>1</p:Bogus>",
    );
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::InvalidParameter, Some("InvalidName"));
    let req = invoke("CIM_ComputerSystem", "SelfDestruct", "");
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::ActionNotSupported, Some("ActionMismatch"));
    server.shutdown().await;
}

#[tokio::test]
async fn clear_log_empties_the_records() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    assert_eq!(c.enumerate_all(&uri("CIM_LogRecord"), "").await.len(), 6);
    let req = invoke("CIM_RecordLog", "ClearLog", "").selector("InstanceID", "IPMI:SEL");
    let a = c.send(&req).await;
    a.assert_ok(&req, &format!("{}/ClearLogResponse", uri("CIM_RecordLog")));
    assert_eq!(return_value(&a), "0");
    assert!(c.enumerate_all(&uri("CIM_LogRecord"), "").await.is_empty());
    server.shutdown().await;
}

// ---------------------------------------------------------------- WMI URIs

#[tokio::test]
async fn wmi_resource_uris_and_cim_namespace() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let wmi = format!("{WMI_HW}CIM_NumericSensor");
    let items = c.enumerate_all(&wmi, "").await;
    assert_eq!(items.len(), 11);
    assert!(
        items[0].starts_with(&format!("<p:CIM_NumericSensor xmlns:p=\"{wmi}\"")),
        "{}",
        items[0]
    );
    let req = Req::get(&wmi)
        .selector("CreationClassName", "CIM_NumericSensor")
        .selector("DeviceID", "P12V")
        .selector("SystemCreationClassName", "CIM_ComputerSystem")
        .selector("SystemName", HOST);
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(property(&a, "CurrentReading").as_deref(), Some("1206"));
    assert_eq!(property(&a, "UnitModifier").as_deref(), Some("-2"));

    // __cimnamespace is honoured on DMTF and WMI URIs alike...
    for (u, nsv) in [
        (uri("CIM_ComputerSystem"), "root/hardware"),
        (uri("CIM_ComputerSystem"), "root\\cimv2"),
        (format!("{WMI_HW}CIM_ComputerSystem"), "root/interop"),
    ] {
        let req = Req::get(&u).selector("__cimnamespace", nsv);
        c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    }
    // ...and a namespace that does not exist is faulted.
    let req = Req::get(&uri("CIM_ComputerSystem")).selector("__cimnamespace", "root/nowhere");
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::InvalidSelectors, Some("InvalidValue"));
    let req = Req::enumerate(&uri("CIM_Fan"), "").selector("__cimnamespace", "root/nowhere");
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::InvalidSelectors, Some("InvalidValue"));
    // A WMI namespace path the machine is not served under.
    let req =
        Req::get("http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/CIM_ComputerSystem");
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::DestinationUnreachable,
        Some("InvalidResourceURI"),
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------- limits

const BIG_INSTANCE: &str = r#"
[[machine.instances]]
class = "Touchstone_Blob"
keys = ["InstanceID"]
properties = { InstanceID = "big", Data = "BLOB" }
"#;

#[tokio::test]
async fn max_envelope_size_is_enforced_on_answers() {
    let blob = "x".repeat(9000);
    let server = serve(&BIG_INSTANCE.replace("BLOB", &blob)).await;
    let mut c = Client::new(&server);

    // An answer that cannot fit.
    let req = Req::get(&uri("Touchstone_Blob"))
        .selector("InstanceID", "big")
        .max_envelope_size(8192);
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::EncodingLimit, Some("MaxEnvelopeSize"));
    // The same with room.
    let req = Req::get(&uri("Touchstone_Blob"))
        .selector("InstanceID", "big")
        .max_envelope_size(20000);
    c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    // Below the 8192 every service must allow.
    let req = system_get().max_envelope_size(4096);
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::EncodingLimit, Some("MinimumEnvelopeLimit"));

    // Pull answers fewer items to fit, and the rest come later.
    let u = uri("CIM_NumericSensor");
    let ctx = enumerate_context(&c.send(&Req::enumerate(&u, "")).await).unwrap();
    let mut got = Vec::new();
    let mut ctx = Some(ctx);
    let mut pulls = 0;
    while let Some(cx) = ctx {
        pulls += 1;
        assert!(pulls < 20);
        let req = Req::pull(&u, &cx, Some(100)).max_envelope_size(8192);
        let a = c.send(&req).await;
        a.assert_ok(&req, ns::action::PULL_RESPONSE);
        assert!(a.body.len() <= 8192, "{} bytes", a.body.len());
        let (items, next, end) = items_of(&a);
        assert!(!items.is_empty() && items.len() < 11);
        got.extend(items);
        ctx = if end { None } else { next };
    }
    assert_eq!(got.len(), 11);
    assert!(pulls > 1);
    // Optimized enumeration fits its first answer too.
    let req = Req::enumerate(
        &u,
        "<w:OptimizeEnumeration/><w:MaxElements>100</w:MaxElements>",
    )
    .max_envelope_size(8192);
    let a = c.send(&req).await;
    assert!(a.body.len() <= 8192);
    let (items, _, end) = items_of(&a);
    assert!(!items.is_empty() && items.len() < 11 && !end);
    // An item that fits nowhere: the Pull faults, the context survives for a retry.
    let req = Req::enumerate(&uri("Touchstone_Blob"), "");
    let ctx = enumerate_context(&c.send(&req).await).unwrap();
    let req = Req::pull(&uri("Touchstone_Blob"), &ctx, Some(1)).max_envelope_size(8192);
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::EncodingLimit, Some("MaxEnvelopeSize"));
    let req = Req::pull(&uri("Touchstone_Blob"), &ctx, Some(1));
    let (items, _, end) = items_of(&c.send(&req).await);
    assert_eq!(items.len(), 1);
    assert!(end);
    server.shutdown().await;
}

/// The BOM a UTF-16 answer must start with, and its Content-Type.
fn assert_utf16(a: &Answer, little_endian: bool) {
    let bom: &[u8] = if little_endian {
        &[0xFF, 0xFE]
    } else {
        &[0xFE, 0xFF]
    };
    assert!(
        a.body.starts_with(bom),
        "BOM of {:?}",
        &a.body[..a.body.len().min(4)]
    );
    assert_eq!(
        a.header("content-type"),
        Some("application/soap+xml;charset=UTF-16")
    );
    // Every ASCII character is one code unit with a zero byte: not UTF-8.
    assert!(std::str::from_utf8(&a.body).is_err());
}

/// DSP0226 R13.1-5: a UTF-16 request is answered in UTF-16, in its byte order, with a
/// BOM; faults too. MaxEnvelopeSize counts the UTF-16 octets.
#[tokio::test]
async fn utf16_requests_are_answered_in_utf16() {
    let blob = "x".repeat(5000);
    let server = serve(&BIG_INSTANCE.replace("BLOB", &blob)).await;
    let mut c = Client::new(&server);
    for le in [true, false] {
        let req = system_get();
        let a = c.send_utf16(&req, le).await;
        a.assert_ok(&req, ns::action::GET_RESPONSE);
        assert_utf16(&a, le);
        assert_eq!(property(&a, "Name").as_deref(), Some(HOST));
        // A fault, once the request could be read, is in the request's encoding too.
        let req = Req::get(&uri("CIM_NoSuchClass"));
        let a = c.send_utf16(&req, le).await;
        a.assert_fault(
            &req,
            FaultKind::DestinationUnreachable,
            Some("InvalidResourceURI"),
        );
        assert_utf16(&a, le);
        // An enumeration, optimized, to the end.
        let req = Req::enumerate(
            &uri("CIM_Fan"),
            "<w:OptimizeEnumeration/><w:MaxElements>100</w:MaxElements>",
        );
        let a = c.send_utf16(&req, le).await;
        a.assert_ok(&req, ns::action::ENUMERATE_RESPONSE);
        assert_utf16(&a, le);
        let (items, _, end) = items_of(&a);
        assert!(!items.is_empty() && end, "{}", a.text());
    }
    // The same answer fits MaxEnvelopeSize in UTF-8 but not in UTF-16.
    let req = Req::get(&uri("Touchstone_Blob"))
        .selector("InstanceID", "big")
        .max_envelope_size(8192);
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    assert!(
        a.body.len() <= 8192 && a.body.len() > 4096,
        "{}",
        a.body.len()
    );
    let a = c.send_utf16(&req, true).await;
    a.assert_fault(&req, FaultKind::EncodingLimit, Some("MaxEnvelopeSize"));
    assert_utf16(&a, true);
    // Optimized enumeration and Pull keep a UTF-16 answer within MaxEnvelopeSize.
    let u = uri("CIM_NumericSensor");
    let req = Req::enumerate(
        &u,
        "<w:OptimizeEnumeration/><w:MaxElements>100</w:MaxElements>",
    )
    .max_envelope_size(8192);
    let utf8 = items_of(&c.send(&req).await).0.len();
    let a = c.send_utf16(&req, false).await;
    a.assert_ok(&req, ns::action::ENUMERATE_RESPONSE);
    assert!(a.body.len() <= 8192, "{} octets", a.body.len());
    let (items, ctx, _) = items_of(&a);
    assert!(
        !items.is_empty() && items.len() < utf8,
        "{} vs {utf8}",
        items.len()
    );
    let req = Req::pull(&u, &ctx.expect("more to pull"), Some(100)).max_envelope_size(8192);
    let a = c.send_utf16(&req, false).await;
    a.assert_ok(&req, ns::action::PULL_RESPONSE);
    assert!(a.body.len() <= 8192, "{} octets", a.body.len());
    assert!(!items_of(&a).0.is_empty());
    server.shutdown().await;
}

/// Faults about the request itself, before any operation runs (it does not parse, or
/// the envelope checks refuse it), are in the request's encoding too.
#[tokio::test]
async fn faults_before_dispatch_are_in_the_requests_encoding() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    for le in [true, false] {
        // Refused by the strict default's checks.
        let req = system_get().message_id("42");
        let a = c.send_utf16(&req, le).await;
        a.assert_fault(&req, FaultKind::InvalidMessageInformationHeader, None);
        assert_utf16(&a, le);
        // Does not parse: an element left open in the body.
        let mut req = system_get();
        req.body = "<p:Unclosed xmlns:p=\"urn:example\">".into();
        let a = c.send_utf16(&req, le).await;
        assert!(a.status >= 400, "{}", a.status);
        let _ = a.fault();
        assert_utf16(&a, le);
    }
    server.shutdown().await;
}

/// `[wsman] utf16 = false`: a server that reads UTF-8 only refuses UTF-16 with
/// `wsman:EncodingLimit` / `CharacterSet`, in UTF-8, related to the MessageID.
#[tokio::test]
async fn utf16_can_be_refused() {
    let server = serve("[wsman]\nutf16 = false\n").await;
    let mut c = Client::new(&server);
    for le in [true, false] {
        let req = system_get();
        let a = c.send_utf16(&req, le).await;
        a.assert_fault(&req, FaultKind::EncodingLimit, Some("CharacterSet"));
        assert_eq!(a.status, 413);
        assert_eq!(a.header("content-type"), Some(SOAP_CT));
        assert!(std::str::from_utf8(&a.body).is_ok());
    }
    // UTF-8 is served as ever.
    let req = system_get();
    c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_requests_get_413_while_reading() {
    let server = serve("[http]\nmax_request_bytes = 16384\n").await;
    let addr = server.addresses().0.unwrap();
    let big = Req::get(&uri("CIM_ComputerSystem")).header(&format!(
        "<x:Pad xmlns:x=\"urn:pad\">{}</x:Pad>",
        "p".repeat(40_000)
    ));
    let body = big.xml();
    let auth = basic("admin", "admin");
    for framing in [Framing::Length, Framing::Chunked] {
        let mut conn = Conn::open(addr).await;
        let a = conn
            .send(
                "POST",
                "/wsman",
                &[("Authorization", &auth), ("Content-Type", SOAP_CT)],
                body.as_bytes(),
                framing,
            )
            .await
            .expect("an answer");
        assert_eq!(a.status, 413, "{framing:?}");
        assert_eq!(a.header("connection"), Some("close"));
        let (_, end) = conn.read_to_end().await;
        let _ = end;
    }
    // A request within the limit is fine.
    let mut c = Client::new(&server);
    let req = system_get();
    c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    server.shutdown().await;
}

#[tokio::test]
async fn operation_timeout_is_honoured() {
    let server = serve(
        r#"
[[rules]]
name = "slow fans"
match = { action = "Get", resource_uri = "CIM_NumericSensor" }
answer = { delay_ms = 5000 }
"#,
    )
    .await;
    let mut c = Client::new(&server);
    let req = sensor_get("FAN1").operation_timeout("PT0.3S");
    let t0 = Instant::now();
    let a = c.send(&req).await;
    let took = t0.elapsed();
    a.assert_fault(&req, FaultKind::TimedOut, None);
    assert_eq!(a.status, 500, "wsman:TimedOut is a Receiver fault");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(2500),
        "took {took:?}"
    );
    // A delay within the timeout answers normally, after the delay.
    let server2 = serve(
        r#"
[[rules]]
match = { action = "Get" }
answer = { delay_ms = 200 }
"#,
    )
    .await;
    let mut c = Client::new(&server2);
    let req = system_get().operation_timeout("PT5S");
    let t0 = Instant::now();
    c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    assert!(t0.elapsed() >= Duration::from_millis(200));
    server.shutdown().await;
    server2.shutdown().await;
}

// ---------------------------------------------------------------- bad requests

fn raw_envelope(headers: &str, body: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">\
         <s:Header>{headers}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )
}

#[tokio::test]
async fn bad_requests_get_their_catalogue_fault() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let cs = uri("CIM_ComputerSystem");

    // Missing Action.
    let mut req = system_get();
    req.action = None;
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::MessageInformationHeaderRequired, None);
    // Missing MessageID: nothing to relate to.
    let req = system_get();
    let xml = req.xml().replace(
        &format!("<a:MessageID>{}</a:MessageID>", req.message_id),
        "",
    );
    let a = c
        .post_raw(&[("Content-Type", SOAP_CT)], xml.as_bytes())
        .await;
    assert_eq!(a.fault().0, FaultKind::MessageInformationHeaderRequired);
    assert_eq!(a.status, 400);
    assert_eq!(a.relates_to(), None);
    // A header that may appear once, twice.
    let req = system_get().header(&format!(
        "<a:Action s:mustUnderstand=\"true\">{}</a:Action>",
        ns::action::GET
    ));
    let a = c.send(&req).await;
    a.assert_fault(&req, FaultKind::InvalidMessageInformationHeader, None);
    // Missing To.
    let req = system_get().to(None);
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::MessageInformationHeaderRequired, None);
    // Unknown action.
    let req = Req::new("http://example.com/DoSomething", &cs);
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::ActionNotSupported, Some("ActionMismatch"));
    // Unknown resource, and a missing one.
    for u in [
        uri("CIM_NoSuchClass"),
        "http://example.com/whatever".to_owned(),
    ] {
        let req = Req::get(&u);
        c.send(&req).await.assert_fault(
            &req,
            FaultKind::DestinationUnreachable,
            Some("InvalidResourceURI"),
        );
    }
    let req = Req::get("");
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::DestinationUnreachable,
        Some("InvalidResourceURI"),
    );
    // Selectors: missing key, unknown key, duplicate, no such instance.
    let req = Req::get(&uri("CIM_NumericSensor")).selector("DeviceID", "FAN1");
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::InvalidSelectors,
        Some("InsufficientSelectors"),
    );
    let req = system_get().selector("Colour", "red");
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::InvalidSelectors,
        Some("UnexpectedSelectors"),
    );
    let req = system_get().selector("Name", HOST);
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::InvalidSelectors,
        Some("DuplicateSelectors"),
    );
    let req = sensor_get("NO_SUCH_SENSOR");
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::InvalidSelectors, Some("InvalidValue"));
    // An unknown header marked mustUnderstand: s:MustUnderstand, naming it.
    let req = system_get().header(
        "<x:Frobnicate xmlns:x=\"urn:example:x\" s:mustUnderstand=\"true\">1</x:Frobnicate>",
    );
    let a = c.send(&req).await;
    a.assert_fault(&req, FaultKind::MustUnderstand, None);
    // SOAP 1.2 Part 2 §7.5.2.2: only env:Sender faults are 400.
    assert_eq!(a.status, 500, "s:MustUnderstand is answered 500");
    a.with_env(|e| {
        let q = e
            .header
            .not_understood
            .as_ref()
            .expect("NotUnderstood header");
        assert!(q.is("urn:example:x", "Frobnicate"), "{q:?}");
    });
    // ...while one without mustUnderstand is ignored.
    let req = system_get().header("<x:Frobnicate xmlns:x=\"urn:example:x\">1</x:Frobnicate>");
    c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    // An unknown enumeration context.
    let req = Req::pull(
        &uri("CIM_Fan"),
        "uuid:00000000-0000-0000-0000-000000000000",
        None,
    );
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::InvalidEnumerationContext, None);
    // A reply address other than anonymous.
    let req = system_get();
    let xml = req.xml().replace(
        &format!(
            "<a:Address s:mustUnderstand=\"true\">{}</a:Address>",
            ns::ANONYMOUS
        ),
        "<a:Address>http://client.example/replies</a:Address>",
    );
    c.post_raw(&[("Content-Type", SOAP_CT)], xml.as_bytes())
        .await
        .assert_fault(&req, FaultKind::UnsupportedFeature, Some("AddressingMode"));
    // A non-uuid MessageID is refused by the strict default.
    let req = system_get().message_id("42");
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::InvalidMessageInformationHeader, None);
    // A relative To likewise.
    let req = system_get().to(Some("/wsman"));
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::InvalidMessageInformationHeader, None);
    // A missing mustUnderstand is accepted by the default scenario (pywinrm omits it).
    let mut req = system_get();
    req.must_understand = false;
    c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    // An Enumerate without a body.
    let req = Req::new(ns::action::ENUMERATE, &uri("CIM_Fan"));
    let a = c.send(&req).await;
    assert!(a.status >= 400, "{}", a.text());
    let (_, _) = a.fault();
    assert_eq!(a.relates_to().as_deref(), Some(req.message_id.as_str()));
    server.shutdown().await;
}

#[tokio::test]
async fn unreadable_envelopes_get_their_catalogue_fault() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let id = message_id();
    let headers = format!(
        "<a:To>http://x/wsman</a:To><a:Action s:mustUnderstand=\"true\">{}</a:Action><a:MessageID>{id}</a:MessageID>",
        ns::action::GET
    );
    let check = |a: &Answer, kind: FaultKind, detail: Option<&str>, relates: Option<&str>| {
        let (k, d) = a.fault();
        assert_eq!(k, kind, "{}", a.text());
        assert_eq!(d.as_deref(), detail, "{}", a.text());
        assert_eq!(a.status, kind.http_status());
        assert_eq!(a.action().as_deref(), Some(kind.action()));
        assert_eq!(a.relates_to().as_deref(), relates, "{}", a.text());
    };
    let post = |body: String| body.into_bytes();
    let ct = [("Content-Type", SOAP_CT)];

    // Broken XML after the MessageID was read: the fault still relates to it.
    let broken = raw_envelope(&headers, "<w:Oops></w:Nope>");
    let a = c.post_raw(&ct, &post(broken)).await;
    check(&a, FaultKind::SchemaValidationError, None, Some(&id));
    // Broken before anything was read.
    let a = c.post_raw(&ct, b"<s:Envelope xmlns:s=").await;
    check(&a, FaultKind::SchemaValidationError, None, None);
    // A DOCTYPE is refused (no entity is ever expanded).
    let dtd = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE s:Envelope [<!ENTITY boom \"boom\">]>{}",
        raw_envelope(&headers, "")
    );
    let a = c.post_raw(&ct, &post(dtd)).await;
    check(&a, FaultKind::SchemaValidationError, None, None);
    // SOAP 1.1.
    let soap11 = format!(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\"><s:Header>{headers}</s:Header><s:Body/></s:Envelope>"
    );
    let a = c.post_raw(&ct, &post(soap11)).await;
    let (k, _) = a.fault();
    assert_eq!(k, FaultKind::VersionMismatch);
    assert_eq!(
        a.status, 500,
        "SOAP 1.2 Part 2 §7.5.2.2: VersionMismatch is not a Sender fault"
    );
    // SOAP 1.2 §5.4.7: the Upgrade header names the envelope that is understood.
    a.with_env(|e| {
        let up = e
            .header
            .other
            .iter()
            .find(|o| o.element.root().is(ns::SOAP, "Upgrade"))
            .expect("an s:Upgrade header");
        let supported = up
            .element
            .root()
            .child(ns::SOAP, "SupportedEnvelope")
            .unwrap();
        assert_eq!(supported.attr("", "qname"), Some("s:Envelope"));
    });
    assert!(
        a.text()
            .contains("<s:SupportedEnvelope qname=\"s:Envelope\"/>"),
        "{}",
        a.text()
    );
    // Not an envelope at all.
    let a = c.post_raw(&ct, b"<hello/>").await;
    check(&a, FaultKind::SchemaValidationError, None, None);
    // A charset the service does not speak.
    let a = c
        .post_raw(
            &[("Content-Type", "application/soap+xml;charset=ISO-8859-1")],
            system_get().xml().as_bytes(),
        )
        .await;
    let (k, d) = a.fault();
    assert_eq!(
        (k, d.as_deref()),
        (FaultKind::EncodingLimit, Some("CharacterSet"))
    );
    // Invalid UTF-8.
    let mut bad = raw_envelope(&headers, "").into_bytes();
    bad.extend_from_slice(&[0xff, 0xfe, 0xfd]);
    let a = c.post_raw(&ct, &bad).await;
    let (k, d) = a.fault();
    assert_eq!(
        (k, d.as_deref()),
        (FaultKind::EncodingLimit, Some("CharacterSet"))
    );
    insta::assert_snapshot!("fault_character_set", pretty(&redact(&a.text())));
    server.shutdown().await;
}

#[tokio::test]
async fn fault_snapshot_invalid_selectors() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let req = system_get().selector("Colour", "red");
    let a = c.send(&req).await;
    insta::assert_snapshot!("fault_invalid_selectors", pretty(&redact(&a.text())));
    server.shutdown().await;
}

// ---------------------------------------------------------------- HTTP framing

#[tokio::test]
async fn http_post_only_lengths_keep_alive_and_encodings() {
    let server = MockServer::start().await.unwrap();
    let addr = server.addresses().0.unwrap();
    let auth = basic("admin", "admin");
    let mut conn = Conn::open(addr).await;
    // GET is not served.
    let a = conn
        .send(
            "GET",
            "/wsman",
            &[("Authorization", &auth)],
            b"",
            Framing::None,
        )
        .await
        .unwrap();
    assert_eq!(a.status, 405);
    assert_eq!(a.header("allow"), Some("POST"));
    // Another path.
    let a = conn
        .send(
            "POST",
            "/other",
            &[("Authorization", &auth)],
            b"",
            Framing::Length,
        )
        .await
        .unwrap();
    assert_eq!(a.status, 404);
    // Neither Content-Length nor chunked.
    let a = conn
        .send(
            "POST",
            "/wsman",
            &[("Authorization", &auth)],
            b"",
            Framing::None,
        )
        .await
        .unwrap();
    assert_eq!(a.status, 411);
    // Content-Length and chunked bodies, all on the one kept-alive connection.
    let local = conn.local_addr();
    for framing in [Framing::Length, Framing::Chunked, Framing::Length] {
        let req = system_get();
        let a = conn
            .send(
                "POST",
                "/wsman",
                &[("Authorization", &auth), ("Content-Type", SOAP_CT)],
                req.xml().as_bytes(),
                framing,
            )
            .await
            .unwrap();
        a.assert_ok(&req, ns::action::GET_RESPONSE);
    }
    assert_eq!(conn.local_addr(), local);
    // Every request so far came from the same client port.
    let ports: Vec<u16> = server.journal().iter().map(|e| e.peer.port()).collect();
    assert!(ports.iter().all(|p| *p == local.port()), "{ports:?}");

    // Not SOAP.
    let a = conn
        .send(
            "POST",
            "/wsman",
            &[("Authorization", &auth), ("Content-Type", "text/plain")],
            b"hello",
            Framing::Length,
        )
        .await
        .unwrap();
    assert_eq!(a.status, 415);

    // UTF-16, both byte orders, with a BOM.
    let mut c = Client::new(&server);
    for le in [true, false] {
        let req = system_get();
        let bytes = wsman::decode::encode_utf16(&req.xml().replace("UTF-8", "UTF-16"), le);
        let a = c
            .post_raw(
                &[("Content-Type", "application/soap+xml;charset=UTF-16")],
                &bytes,
            )
            .await;
        a.assert_ok(&req, ns::action::GET_RESPONSE);
        assert_eq!(property(&a, "Name").as_deref(), Some(HOST));
    }
    // UTF-8 with a BOM.
    let req = system_get();
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend_from_slice(req.xml().as_bytes());
    c.post_raw(&[("Content-Type", SOAP_CT)], &bytes)
        .await
        .assert_ok(&req, ns::action::GET_RESPONSE);
    // The empty POST clients send to authenticate first.
    let a = c.post_raw(&[("Content-Type", SOAP_CT)], b"").await;
    assert_eq!(a.status, 200);
    assert!(a.body.is_empty());
    server.shutdown().await;
}

// ---------------------------------------------------------------- authentication

fn challenges(a: &Answer) -> Vec<String> {
    a.headers_named("www-authenticate")
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn basic_auth_ok_wrong_missing() {
    let server = MockServer::start().await.unwrap();
    let req = system_get();
    let a = Client::new(&server).send(&req).await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    // Other users of the scenario.
    let a = Client::new(&server)
        .with_auth(Some(basic("operator", "operator")))
        .send(&req)
        .await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    for auth in [
        Some(basic("admin", "wrong")),
        Some(basic("nobody", "admin")),
        Some("Basic !!!notbase64".to_owned()),
        None,
    ] {
        let a = Client::new(&server)
            .with_auth(auth.clone())
            .send(&req)
            .await;
        assert_eq!(a.status, 401, "{auth:?}");
        let ch = challenges(&a);
        // One challenge per offered scheme: Digest SHA-256, Digest MD5, Basic, Negotiate.
        assert_eq!(ch.len(), 4, "{ch:?}");
        assert!(ch[0].starts_with("Digest ") && ch[0].contains("algorithm=SHA-256"));
        assert!(ch[1].starts_with("Digest ") && ch[1].contains("algorithm=MD5"));
        assert!(ch[2].starts_with("Basic realm=\"Touchstone\""));
        assert_eq!(ch[3], "Negotiate");
    }
    let auth: Vec<AuthOutcome> = server
        .journal()
        .iter()
        .filter_map(|e| e.http().map(|h| h.auth))
        .collect();
    assert_eq!(
        auth,
        [
            AuthOutcome::Basic,
            AuthOutcome::Basic,
            AuthOutcome::Rejected,
            AuthOutcome::Rejected,
            AuthOutcome::Malformed,
            AuthOutcome::Missing
        ]
    );
    server.shutdown().await;
}

async fn digest_round(server: &MockServer, algorithm: &str, password: &str) -> Answer {
    let addr = server.addresses().0.unwrap();
    digest_exchange(addr, &system_get(), "admin", password, algorithm).await
}

#[tokio::test]
async fn digest_md5_and_sha256() {
    let server = MockServer::start().await.unwrap();
    for alg in ["MD5", "SHA-256"] {
        let a = digest_round(&server, alg, "admin").await;
        assert_eq!(a.status, 200, "{alg}: {}", a.text());
        assert_eq!(property(&a, "Name").as_deref(), Some(HOST));
        let a = digest_round(&server, alg, "nope").await;
        assert_eq!(a.status, 401, "{alg}");
    }
    let outcomes: Vec<AuthOutcome> = server
        .journal()
        .iter()
        .filter_map(|e| e.http().map(|h| h.auth))
        .filter(|a| *a != AuthOutcome::Missing)
        .collect();
    assert_eq!(
        outcomes,
        [
            AuthOutcome::Digest,
            AuthOutcome::Rejected,
            AuthOutcome::Digest,
            AuthOutcome::Rejected
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn digest_only_scenario_refuses_basic() {
    let server = serve("[http]\nauth = [\"digest\"]\ndigest_algorithms = [\"MD5\"]\n").await;
    let req = system_get();
    let a = Client::new(&server).send(&req).await;
    assert_eq!(a.status, 401);
    let ch = challenges(&a);
    assert_eq!(ch.len(), 1, "{ch:?}");
    assert!(ch[0].starts_with("Digest ") && ch[0].contains("algorithm=MD5"));
    let a = digest_round(&server, "MD5", "admin").await;
    assert_eq!(a.status, 200, "{}", a.text());
    // Identify without credentials is still answered when asked for.
    let a = Client::new(&server)
        .with_auth(None)
        .send_with(&Req::identify(), &[("WSMANIDENTIFY", "unauthenticated")])
        .await;
    assert_eq!(a.status, 200);
    // Other operations without credentials are refused, never with a Basic
    // challenge the scenario does not offer.
    let req = system_get();
    let a = Client::new(&server)
        .with_auth(None)
        .send_with(&req, &[("WSMANIDENTIFY", "unauthenticated")])
        .await;
    assert_eq!(a.status, 401);
    assert!(
        challenges(&a).iter().all(|c| !c.starts_with("Basic")),
        "{:?}",
        a.headers
    );
    assert_eq!(a.fault().0, FaultKind::AccessDenied);
    assert_eq!(a.relates_to().as_deref(), Some(req.message_id.as_str()));
    server.shutdown().await;
}

// ---------------------------------------------------------------- rules

#[tokio::test]
async fn rules_match_on_action_resource_selectors_body_and_user() {
    let server = serve(
        r#"
[[rules]]
name = "by operation name"
match = { action = "Delete" }
answer = { fault = "wsman:AccessDenied" }

[[rules]]
name = "by action glob"
match = { action = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Cre*" }
answer = { fault = "QuotaLimit", reason = "no room" }

[[rules]]
name = "by class and selector glob"
match = { action = "Get", resource_uri = "CIM_NumericSensor", selectors = { DeviceID = "FAN*" } }
answer = { fault = "wsman:InvalidSelectors", detail = "AmbiguousSelectors" }

[[rules]]
name = "by uri glob"
match = { resource_uri = "http://schemas.microsoft.com/wbem/wsman/1/wmi/*/CIM_Fan" }
answer = { status = 503 }

[[rules]]
name = "by body text"
match = { action = "Enumerate", body_path = "Enumerate/Filter", body_text = "*CIM_Fan*" }
answer = { fault = "wsen:CannotProcessFilter", reason = "fans are secret" }

[[rules]]
name = "by body presence"
match = { action = "Enumerate", body_path = "OptimizeEnumeration" }
answer = { fault = "wsman:UnsupportedFeature", detail = "MaxElements" }

[[rules]]
name = "by user"
match = { user = "operator", action = "Invoke" }
answer = { fault = "wsman:AccessDenied", reason = "operators may not invoke" }
"#,
    )
    .await;
    let mut c = Client::new(&server);
    let req = Req::new(ns::action::DELETE, &uri("CIM_Fan"));
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::AccessDenied, None);
    let req = Req::new(ns::action::CREATE, &uri("X_Thing")).body("<p:X_Thing xmlns:p=\"urn:x\"/>");
    let a = c.send(&req).await;
    a.assert_fault(&req, FaultKind::QuotaLimit, None);
    assert!(a.text().contains("no room"));
    let req = sensor_get("FAN3");
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::InvalidSelectors,
        Some("AmbiguousSelectors"),
    );
    // Not a fan: the default answer.
    let req = sensor_get("P12V");
    c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    let a = c.send(&Req::get(&format!("{WMI_HW}CIM_Fan"))).await;
    assert_eq!(a.status, 503);
    assert!(a.body.is_empty());
    let req = Req::enumerate(&uri("CIM_Sensor"), &wql("SELECT * FROM CIM_Fan"));
    let a = c.send(&req).await;
    a.assert_fault(&req, FaultKind::EnumerationCannotProcessFilter, None);
    assert!(a.text().contains("fans are secret"));
    let req = Req::enumerate(&uri("CIM_Sensor"), "<w:OptimizeEnumeration/>");
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::UnsupportedFeature, Some("MaxElements"));
    let req = Req::enumerate(&uri("CIM_Sensor"), "");
    c.send(&req)
        .await
        .assert_ok(&req, ns::action::ENUMERATE_RESPONSE);
    // The user matcher.
    let inv = invoke("CIM_RecordLog", "ClearLog", "");
    let mut op = Client::new(&server).with_auth(Some(basic("operator", "operator")));
    op.send(&inv)
        .await
        .assert_fault(&inv, FaultKind::AccessDenied, None);
    let inv = invoke("CIM_RecordLog", "ClearLog", "");
    c.send(&inv)
        .await
        .assert_ok(&inv, &format!("{}/ClearLogResponse", uri("CIM_RecordLog")));

    let rules: Vec<Option<String>> = server
        .journal()
        .iter()
        .filter_map(|e| e.http().map(|h| h.rule.clone()))
        .collect();
    assert_eq!(
        rules,
        [
            Some("by operation name".to_owned()),
            Some("by action glob".to_owned()),
            Some("by class and selector glob".to_owned()),
            None,
            Some("by uri glob".to_owned()),
            Some("by body text".to_owned()),
            Some("by body presence".to_owned()),
            None,
            Some("by user".to_owned()),
            None,
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn rule_templates_expand_placeholders() {
    let server = serve(
        r#"
[[rules]]
name = "templated"
match = { action = "Get", resource_uri = "CIM_Fan" }
answer = { template = """<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse</a:Action><a:MessageID>{{uuid}}</a:MessageID><a:RelatesTo>{{message_id}}</a:RelatesTo></s:Header><s:Body><p:CIM_Fan xmlns:p="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Fan"><p:DeviceID>{{selector:DeviceID}}</p:DeviceID><p:ElementName>{{user}} via {{operation}} at {{resource_uri}}</p:ElementName><p:Caption>{{unknown}}</p:Caption></p:CIM_Fan></s:Body></s:Envelope>""" }

[[rules]]
name = "raw"
match = { action = "Get", resource_uri = "CIM_PowerSupply" }
answer = { body = "not xml", status = 202, content_type = "text/plain" }
"#,
    )
    .await;
    let mut c = Client::new(&server);
    let req = Req::get(&uri("CIM_Fan")).selector("DeviceID", "Fan:&lt;FAN9&gt;");
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(property(&a, "DeviceID").as_deref(), Some("Fan:<FAN9>"));
    assert_eq!(
        property(&a, "ElementName").unwrap(),
        format!("admin via Get at {}", uri("CIM_Fan"))
    );
    // Unknown placeholders stay as written.
    assert_eq!(property(&a, "Caption").as_deref(), Some("{{unknown}}"));
    let id = a.with_env(|e| e.header.message_id.as_deref().map(str::to_owned));
    assert!(id.unwrap().starts_with("uuid:"));
    let a = c.send(&Req::get(&uri("CIM_PowerSupply"))).await;
    assert_eq!(a.status, 202);
    assert_eq!(a.header("content-type"), Some("text/plain"));
    assert_eq!(a.text(), "not xml");
    server.shutdown().await;
}

#[tokio::test]
async fn rule_delay_then_default_answer() {
    let server = serve(
        r#"
[[rules]]
name = "slow enumerations"
match = { action = "Enumerate" }
answer = { delay_ms = 300 }

[[rules]]
name = "slow fault"
match = { action = "Get", resource_uri = "CIM_Fan" }
answer = { fault = "wsman:InternalError", delay_ms = 200 }
"#,
    )
    .await;
    let mut c = Client::new(&server);
    let req = Req::enumerate(&uri("CIM_Fan"), "");
    let t0 = Instant::now();
    c.send(&req)
        .await
        .assert_ok(&req, ns::action::ENUMERATE_RESPONSE);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    let req = Req::get(&uri("CIM_Fan"));
    let t0 = Instant::now();
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::InternalError, None);
    assert!(t0.elapsed() >= Duration::from_millis(200));
    let entries = server.journal();
    let last = entries.last().unwrap();
    assert!(last.duration_ms >= 200, "{}", last.duration_ms);
    server.shutdown().await;
}

const TRANSPORT_RULES: &str = r#"
[[rules]]
name = "reset"
match = { action = "Get", selectors = { Name = "reset" } }
answer = { transport = "reset" }

[[rules]]
name = "close"
match = { action = "Get", selectors = { Name = "close" } }
answer = { transport = "close" }

[[rules]]
name = "truncate"
match = { action = "Get", selectors = { Name = "truncate" } }
answer = { transport = "truncate", keep_bytes = 40 }

[[rules]]
name = "garbage"
match = { action = "Get", selectors = { Name = "garbage" } }
answer = { transport = "garbage", garbage = "SSH-2.0-OpenSSH_9.6\r\n" }

[[rules]]
name = "slow"
match = { action = "Get", selectors = { Name = "slow" } }
answer = { transport = "slow", chunk_bytes = 64, interval_ms = 10 }
"#;

async fn transport_get(addr: std::net::SocketAddr, name: &str) -> (Conn, Req) {
    let req = Req::get(&uri("CIM_ComputerSystem")).selector("Name", name);
    let conn = post_raw_request(addr, &req, &basic("admin", "admin")).await;
    (conn, req)
}

#[tokio::test]
async fn rule_transport_faults() {
    let server = serve(TRANSPORT_RULES).await;
    let addr = server.addresses().0.unwrap();

    let (mut conn, _) = transport_get(addr, "reset").await;
    let (bytes, end) = conn.read_to_end().await;
    assert!(bytes.is_empty());
    assert_eq!(
        end.expect_err("a reset").kind(),
        std::io::ErrorKind::ConnectionReset
    );

    let (mut conn, _) = transport_get(addr, "close").await;
    let (bytes, end) = conn.read_to_end().await;
    assert!(bytes.is_empty());
    assert!(end.is_ok(), "{end:?}");

    let (mut conn, _) = transport_get(addr, "truncate").await;
    let (bytes, _) = conn.read_to_end().await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.1 200"));
    let declared: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(body.len(), 40);
    assert!(declared > 40);

    let (mut conn, _) = transport_get(addr, "garbage").await;
    let (bytes, _) = conn.read_to_end().await;
    assert_eq!(bytes, b"SSH-2.0-OpenSSH_9.6\r\n");

    let (mut conn, req) = transport_get(addr, "slow").await;
    let t0 = Instant::now();
    let a = conn.read_answer().await.unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.relates_to().as_deref(), Some(req.message_id.as_str()));
    // At least a few pauses of 10 ms between 64-byte pieces.
    assert!(a.body.len() > 128);
    assert!(t0.elapsed() >= Duration::from_millis(20));

    let kinds: Vec<(Option<String>, OutcomeKind)> = server
        .journal()
        .iter()
        .filter_map(|e| e.http().map(|h| (h.rule.clone(), h.outcome)))
        .collect();
    assert_eq!(
        kinds,
        [
            (Some("reset".to_owned()), OutcomeKind::Reset),
            (Some("close".to_owned()), OutcomeKind::Close),
            (Some("truncate".to_owned()), OutcomeKind::Truncated),
            (Some("garbage".to_owned()), OutcomeKind::Garbage),
            (Some("slow".to_owned()), OutcomeKind::SlowDrip),
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn rule_times_answers_and_states() {
    let server = serve(
        r#"
[[rules]]
name = "twice"
match = { action = "Get", resource_uri = "CIM_Fan" }
times = 2
answer = { fault = "wsman:Concurrency" }

[[rules]]
name = "flaky then fine"
match = { action = "Get", resource_uri = "CIM_RecordLog" }
answers = [
  { fault = "wsa:EndpointUnavailable" },
  { status = 503 },
  { delay_ms = 1 },
]

[[rules]]
name = "login"
match = { action = "Invoke", resource_uri = "CIM_ComputerSystem" }
state = ""
next_state = "busy"
answer = { delay_ms = 1 }

[[rules]]
name = "busy"
match = { action = "Get", resource_uri = "CIM_ComputerSystem" }
state = "busy"
answer = { fault = "wsa:EndpointUnavailable", reason = "busy" }

[[rules]]
name = "unlock"
match = { action = "Delete", resource_uri = "CIM_ComputerSystem" }
state = "busy"
next_state = "ready"
answer = { template = "<ok/>" }
"#,
    )
    .await;
    let mut c = Client::new(&server);
    for _ in 0..2 {
        let req = Req::get(&uri("CIM_Fan"));
        c.send(&req)
            .await
            .assert_fault(&req, FaultKind::Concurrency, None);
    }
    // After `times`, the defaults answer.
    let req = Req::get(&uri("CIM_Fan"));
    let a = c.send(&req).await;
    assert_ne!(
        a.status, 200,
        "CIM_Fan has three instances: selectors needed"
    );
    a.assert_fault(
        &req,
        FaultKind::InvalidSelectors,
        Some("InsufficientSelectors"),
    );

    let req = Req::get(&uri("CIM_RecordLog"));
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::EndpointUnavailable, None);
    assert_eq!(c.send(&Req::get(&uri("CIM_RecordLog"))).await.status, 503);
    // The last answer repeats.
    for _ in 0..2 {
        let req = Req::get(&uri("CIM_RecordLog"));
        c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    }

    // The state machine: "" → busy (Gets refused) → ready (Gets fine).
    let req = system_get();
    c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    let inv = invoke(
        "CIM_ComputerSystem",
        "RequestStateChange",
        "<p:RequestedState>2</p:RequestedState>",
    );
    c.send(&inv).await.assert_ok(
        &inv,
        &format!("{}/RequestStateChangeResponse", uri("CIM_ComputerSystem")),
    );
    let req = system_get();
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::EndpointUnavailable, None);
    let a = c
        .send(&Req::new(ns::action::DELETE, &uri("CIM_ComputerSystem")))
        .await;
    assert_eq!(a.text(), "<ok/>");
    let req = system_get();
    c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    // The login rule only matched in the initial state.
    let a = c.send(&inv.clone().message_id(&message_id())).await;
    assert_eq!(a.status, 200);
    let state = server
        .mock()
        .journal()
        .entries()
        .iter()
        .filter_map(|e| e.http().and_then(|h| h.rule.clone()))
        .filter(|r| r == "login")
        .count();
    assert_eq!(state, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn rule_scripts() {
    let server = serve(
        r##"
[[rules]]
name = "string answer"
match = { action = "Get", resource_uri = "CIM_Fan" }
answer = { script = '''
`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse</a:Action><a:RelatesTo>{{message_id}}</a:RelatesTo></s:Header><s:Body><p:CIM_Fan xmlns:p="urn:fan"><p:DeviceID>${selectors.DeviceID}</p:DeviceID><p:Hits>${hits}</p:Hits></p:CIM_Fan></s:Body></s:Envelope>`
''' }

[[rules]]
name = "map answer"
match = { action = "Get", resource_uri = "CIM_NumericSensor" }
answer = { script = '''
if selectors.DeviceID == "P12V" {
    #{ fault: "wsman:InvalidSelectors", detail: "InvalidValue", reason: "rail offline" }
} else if selectors.DeviceID == "P5V" {
    #{ status: 299, body: "custom", content_type: "text/plain" }
} else {
    ()
}
''' }

[[rules]]
name = "runaway"
match = { action = "Get", resource_uri = "CIM_PowerSupply" }
answer = { script = "let x = 0; loop { x += 1; }" }

[[rules]]
name = "unknown fault"
match = { action = "Get", resource_uri = "CIM_RecordLog" }
answer = { script = '#{ fault: "wsman:NoSuchFault" }' }
"##,
    )
    .await;
    let mut c = Client::new(&server);
    for n in 1..=2 {
        let req = Req::get(&uri("CIM_Fan")).selector("DeviceID", "Fan:FAN2");
        let a = c.send(&req).await;
        a.assert_ok(&req, ns::action::GET_RESPONSE);
        assert_eq!(property(&a, "DeviceID").as_deref(), Some("Fan:FAN2"));
        assert_eq!(property(&a, "Hits"), Some(n.to_string()));
    }
    let req = sensor_get("P12V");
    let a = c.send(&req).await;
    a.assert_fault(&req, FaultKind::InvalidSelectors, Some("InvalidValue"));
    assert!(a.text().contains("rail offline"));
    let a = c.send(&sensor_get("P5V")).await;
    assert_eq!((a.status, a.text().as_str()), (299, "custom"));
    // `()` is the default answer.
    let req = sensor_get("FAN1");
    c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    // The sandbox stops a runaway script: an InternalError, quickly.
    let req = Req::get(&uri("CIM_PowerSupply"));
    let t0 = Instant::now();
    let a = c.send(&req).await;
    a.assert_fault(&req, FaultKind::InternalError, None);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    let req = Req::get(&uri("CIM_RecordLog"));
    let a = c.send(&req).await;
    a.assert_fault(&req, FaultKind::InternalError, None);
    assert!(a.text().contains("NoSuchFault"));
    server.shutdown().await;
}

// ---------------------------------------------------------------- journal

#[tokio::test]
async fn journal_records_rule_and_operation() {
    let server = serve(
        r#"
[[rules]]
name = "deny fans"
match = { resource_uri = "CIM_Fan" }
answer = { fault = "wsman:AccessDenied" }
"#,
    )
    .await;
    let mut c = Client::new(&server);
    let req = Req::enumerate(&uri("CIM_Fan"), "");
    let a = c.send(&req).await;
    a.assert_fault(&req, FaultKind::AccessDenied, None);
    let req = system_get();
    c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    c.send(&Req::identify()).await;
    let entries = server.journal();
    assert_eq!(entries.len(), 3);
    let h: Vec<_> = entries.iter().map(|e| e.http().unwrap()).collect();
    assert_eq!(h[0].rule.as_deref(), Some("deny fans"));
    assert_eq!(h[0].operation.as_deref(), Some("Enumerate"));
    assert_eq!(h[0].status, Some(401));
    assert_eq!(h[0].user.as_deref(), Some("admin"));
    let first_id = {
        let body = String::from_utf8_lossy(&h[0].request_body.bytes()).into_owned();
        body.split("<a:MessageID>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_owned()
    };
    assert!(first_id.starts_with("uuid:"));
    assert_eq!(h[1].rule, None);
    assert_eq!(h[1].operation.as_deref(), Some("Get"));
    assert_eq!(h[1].status, Some(200));
    assert_eq!(h[2].operation.as_deref(), Some("Identify"));
    let body = String::from_utf8(h[1].response_body.as_ref().unwrap().bytes()).unwrap();
    assert!(body.contains("GetResponse"));
    server.journal_handle().clear();
    assert!(server.journal().is_empty());
    server.shutdown().await;
}

// ---------------------------------------------------------------- more corners

#[tokio::test]
async fn all_classes_uris_under_wmi_and_elsewhere() {
    let server = MockServer::start().await.unwrap();
    let mut c = Client::new(&server);
    let filter = assoc_filter(
        "AssociatedInstances",
        "<b:ResultClassName>CIM_Fan</b:ResultClassName>",
    );
    // WinRM clients write association queries against `.../wmi/<namespace>/*`.
    let items = c.enumerate_all(&format!("{WMI_HW}*"), &filter).await;
    assert_eq!(items.len(), 3);
    assert!(
        items[0].contains(&format!("{WMI_HW}CIM_Fan")),
        "{}",
        items[0]
    );
    let items = c.enumerate_all(&format!("{CIM}*"), &filter).await;
    assert_eq!(items.len(), 3);
    assert!(items[0].contains(&format!("{CIM}CIM_Fan")));
    for u in [
        "http://example.com/*",
        "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/nowhere/*",
    ] {
        let req = Req::enumerate(u, &filter);
        c.send(&req).await.assert_fault(
            &req,
            FaultKind::DestinationUnreachable,
            Some("InvalidResourceURI"),
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn invoke_without_a_body_and_under_wmi_uris() {
    let server = serve(
        r#"
[[rules]]
name = "count invokes"
match = { action = "Invoke", resource_uri = "CIM_NumericSensor" }
answer = { delay_ms = 1 }
"#,
    )
    .await;
    let mut c = Client::new(&server);
    // ClearLog with an empty body (some clients send none for methods without
    // parameters), under the WMI URI.
    let u = format!("{WMI_HW}CIM_RecordLog");
    let req = Req::new(&format!("{u}/ClearLog"), &u).selector("InstanceID", "IPMI:SEL");
    let a = c.send(&req).await;
    a.assert_ok(&req, &format!("{u}/ClearLogResponse"));
    a.with_env(|e| match &e.body {
        Body::MethodOutput(m) => {
            assert_eq!(m.element.root().name().ns, u.as_str());
            assert_eq!(&*m.element.root().name().local, "ClearLog_OUTPUT");
        }
        _ => panic!("{}", a.text()),
    });
    // RestoreDefaultThresholds: matched by the rule as an Invoke.
    let sensor = sensor_get("CPU1_TEMP");
    let mut req = sensor.clone();
    req.action = Some(format!(
        "{}/RestoreDefaultThresholds",
        uri("CIM_NumericSensor")
    ));
    let a = c.send(&req).await;
    assert_eq!(return_value(&a), "0");
    let h: Vec<_> = server
        .journal()
        .iter()
        .map(|e| {
            let h = e.http().unwrap();
            (h.operation.as_deref().map(str::to_owned), h.rule.clone())
        })
        .collect();
    assert_eq!(
        h,
        [
            (Some("Invoke".to_owned()), None),
            (Some("Invoke".to_owned()), Some("count invokes".to_owned())),
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn open_scenarios_and_identify_policy() {
    // No scheme offered: everything is answered without credentials.
    let server = serve("[http]\nauth = []\n").await;
    let mut c = Client::new(&server).with_auth(None);
    let req = system_get();
    c.send(&req).await.assert_ok(&req, ns::action::GET_RESPONSE);
    assert_eq!(server.journal()[0].http().unwrap().auth, AuthOutcome::Open);
    server.shutdown().await;

    // Unauthenticated Identify switched off: the header does not open anything.
    let server = serve("[http]\nunauthenticated_identify = false\n").await;
    let mut c = Client::new(&server).with_auth(None);
    let a = c
        .send_with(&Req::identify(), &[("WSMANIDENTIFY", "unauthenticated")])
        .await;
    assert_eq!(a.status, 401);
    server.shutdown().await;
}

#[tokio::test]
async fn rule_fault_status_override_and_more_placeholders() {
    let server = serve(
        r#"
[[rules]]
name = "teapot"
match = { action = "Get", resource_uri = "CIM_Fan" }
answer = { fault = "wsman:InternalError", status = 418, reason = "short and stout" }

[[rules]]
name = "echo"
match = { action = "http://schemas.xmlsoap.org/ws/2004/09/transfer/G?t", resource_uri = "CIM_PowerSupply" }
answer = { template = "<echo to='{{to}}' action='{{action}}' op='{{operation}}' id='{{message_id}}'/>", content_type = "application/xml" }
"#,
    )
    .await;
    let mut c = Client::new(&server);
    let req = Req::get(&uri("CIM_Fan"));
    let a = c.send(&req).await;
    assert_eq!(a.status, 418);
    assert_eq!(a.fault().0, FaultKind::InternalError);
    assert!(a.text().contains("short and stout"));
    let req = Req::get(&uri("CIM_PowerSupply"));
    let a = c.send(&req).await;
    assert_eq!(a.header("content-type"), Some("application/xml"));
    assert_eq!(
        a.text(),
        format!(
            "<echo to='http://127.0.0.1/wsman' action='{}' op='Get' id='{}'/>",
            ns::action::GET,
            req.message_id
        )
    );
    server.shutdown().await;
}
