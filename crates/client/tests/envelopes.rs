//! Envelopes over the wire: built requests parse back with the expected headers, and
//! answers are read as envelopes and faults.

mod support;

use std::borrow::Cow;

use client::{Client, Target, build};
use support::{Seen, response, serve};
use wsman::{Body, FaultKind, FaultSpec, HeaderName, Limits, ns};

const CS: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem";
const SOAP: &[(&str, &str)] = &[("content-type", "application/soap+xml;charset=UTF-8")];

/// Answers a Get with an instance, anything else with an InvalidSelectors fault; both
/// relate to the request's MessageID.
fn service(seen: &Seen) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let text = std::str::from_utf8(&seen.body).unwrap();
    let req = wsman::parse(text, &Limits::default()).unwrap();
    let relates = req.header.message_id.as_deref();
    if req.header.selector("Name").is_some() {
        let mut b = wsman::TreeBuilder::with_capacity(4);
        b.start(wsman::Name::new(CS, "CIM_ComputerSystem").with_prefix("p"));
        b.leaf(wsman::Name::new(CS, "Name").with_prefix("p"), "host");
        b.leaf(wsman::Name::new(CS, "EnabledState").with_prefix("p"), "2");
        let env = wsman::Envelope {
            header: wsman::Header {
                to: Some(Cow::Borrowed(ns::ANONYMOUS)),
                action: Some(Cow::Borrowed(ns::action::GET_RESPONSE)),
                message_id: Some(Cow::Borrowed("uuid:00000000-0000-4000-8000-000000000001")),
                relates_to: relates.map(Cow::Borrowed),
                ..Default::default()
            },
            body: Body::Instance(b.finish()),
            extra: Vec::new(),
            meta: Default::default(),
        };
        response(200, SOAP, env.to_xml())
    } else {
        let env = FaultSpec::new(FaultKind::InvalidSelectors, "Name is required")
            .with_detail("InsufficientSelectors")
            .to_envelope(relates, "uuid:00000000-0000-4000-8000-000000000002");
        response(400, SOAP, env.to_xml())
    }
}

#[test]
fn a_built_get_round_trips_through_the_parser() {
    let env = build::get(
        "http://127.0.0.1:5985/wsman",
        CS,
        &[
            ("Name", "host"),
            ("CreationClassName", "CIM_ComputerSystem"),
        ],
        &[("ShowExtensions", "true")],
    );
    let xml = env.to_xml();
    let p = wsman::parse(&xml, &Limits::default()).unwrap();
    let h = &p.header;
    assert_eq!(h.to.as_deref(), Some("http://127.0.0.1:5985/wsman"));
    assert_eq!(h.action.as_deref(), Some(ns::action::GET));
    assert_eq!(h.resource_uri.as_deref(), Some(CS));
    assert_eq!(
        h.reply_to.as_ref().map(|r| r.address.as_ref()),
        Some(ns::ANONYMOUS)
    );
    let id = h.message_id.as_deref().unwrap();
    assert!(id.starts_with("uuid:") && id.len() == 41, "{id}");
    assert_eq!(h.max_envelope_size, Some(512_000));
    assert_eq!(
        h.operation_timeout.and_then(|t| t.to_std()),
        Some(std::time::Duration::from_secs(60))
    );
    assert_eq!(h.operation_timeout.unwrap().to_string(), "PT60S");
    assert_eq!(h.selector("Name"), Some("host"));
    assert_eq!(h.selector("CreationClassName"), Some("CIM_ComputerSystem"));
    assert_eq!(h.option("ShowExtensions"), Some("true"));
    assert!(matches!(p.body, Body::Empty));
    for mu in [
        HeaderName::Action,
        HeaderName::ResourceUri,
        HeaderName::MaxEnvelopeSize,
    ] {
        assert_eq!(
            p.meta.header(mu).map(|m| m.0),
            Some(true),
            "{mu:?} mustUnderstand"
        );
    }
    // Each envelope gets its own MessageID.
    let again = build::get("http://127.0.0.1:5985/wsman", CS, &[], &[]);
    assert_ne!(again.header.message_id.as_deref(), Some(id));
    assert_eq!(env.header, p.header, "what was built is what parses back");
    assert_eq!(env.body, p.body);
}

#[tokio::test]
async fn send_posts_soap_and_parses_the_answer() {
    let server = serve(service, None).await;
    let c = Client::new(Target::new(server.url("http"))).unwrap();
    let get = c.request(CS).selector("Name", "host").get();
    let ex = c.send(&get).await.unwrap();
    assert_eq!(ex.status(), Some(200));
    let seen = &server.seen()[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.target, "/wsman");
    assert_eq!(
        seen.header("content-type"),
        Some("application/soap+xml;charset=UTF-8")
    );
    let env = ex.envelope().unwrap().unwrap();
    assert_eq!(env.header.action.as_deref(), Some(ns::action::GET_RESPONSE));
    assert_eq!(env.header.relates_to, get.header.message_id);
    let Body::Instance(t) = &env.body else {
        panic!("{:?}", env.body)
    };
    assert_eq!(
        t.root().property("EnabledState").map(|e| e.text()),
        Some("2")
    );
    assert!(ex.fault().is_none());
    // The request as sent parses to what was built, To included.
    let sent = wsman::parse(
        std::str::from_utf8(&ex.request.body).unwrap(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(sent.header.to.as_deref(), Some(c.url()));
}

#[tokio::test]
async fn a_fault_answer_is_summarised() {
    let server = serve(service, None).await;
    let c = Client::new(Target::new(server.url("http"))).unwrap();
    let ex = c.send(&c.request(CS).get()).await.unwrap();
    assert_eq!(ex.status(), Some(400));
    let f = ex.fault().unwrap();
    assert_eq!(f.http_status, 400);
    assert_eq!(f.code, "Sender");
    assert_eq!(f.subcode.as_deref(), Some("wsman:InvalidSelectors"));
    assert_eq!(f.detail.as_deref(), Some("InsufficientSelectors"));
    assert_eq!(f.reason, "Name is required");
    assert_eq!(f.kind, Some(FaultKind::InvalidSelectors));
    assert_eq!(f.wsman_fault_code, None);
    let json = serde_json::to_value(&f).unwrap();
    assert_eq!(json["subcode"], "wsman:InvalidSelectors");
}

#[tokio::test]
async fn utf16_answers_and_broken_xml_are_read_on_demand() {
    let server = serve(
        |s: &Seen| {
            if s.body.starts_with(b"utf16") {
                let xml = FaultSpec::new(FaultKind::AccessDenied, "no")
                    .to_envelope(None, "uuid:x")
                    .to_xml();
                response(
                    500,
                    &[("content-type", "application/soap+xml;charset=UTF-16")],
                    wsman::decode::encode_utf16(&xml, true),
                )
            } else {
                response(200, SOAP, "<s:Envelope><oops")
            }
        },
        None,
    )
    .await;
    let c = Client::new(Target::new(server.url("http"))).unwrap();
    let ex = c.send_raw(client::RawRequest::soap("utf16")).await.unwrap();
    assert_eq!(
        ex.fault().unwrap().subcode.as_deref(),
        Some("wsman:AccessDenied")
    );
    assert!(ex.body_text().unwrap().contains("AccessDenied"));
    let json = serde_json::to_value(&ex).unwrap();
    assert_eq!(json["response"]["body_base64"], true, "UTF-16 is not UTF-8");

    let ex = c.send_raw(client::RawRequest::soap("xml")).await.unwrap();
    assert!(matches!(ex.envelope(), Some(Err(_))));
    assert!(ex.fault().is_none());
    assert_eq!(ex.body_text().as_deref(), Some("<s:Envelope><oops"));
}

#[tokio::test]
async fn identify_is_sent_without_addressing_headers() {
    let server = serve(
        |_: &Seen| {
            let env = wsman::Envelope {
                header: Default::default(),
                body: Body::IdentifyResponse(wsman::body::IdentifyResponse {
                    protocol_versions: vec![Cow::Borrowed(ns::WSMAN)],
                    product_vendor: Some(Cow::Borrowed("Test")),
                    ..Default::default()
                }),
                extra: Vec::new(),
                meta: Default::default(),
            };
            response(200, SOAP, env.to_xml())
        },
        None,
    )
    .await;
    let c = Client::new(Target::new(server.url("http"))).unwrap();
    let ex = c.identify(false).await.unwrap();
    let sent = std::str::from_utf8(&server.seen()[0].body)
        .unwrap()
        .to_owned();
    let p = wsman::parse(&sent, &Limits::default()).unwrap();
    assert!(p.header.action.is_none() && p.header.to.is_none());
    assert!(matches!(p.body, Body::Identify));
    let env = ex.envelope().unwrap().unwrap();
    let Body::IdentifyResponse(r) = env.body else {
        panic!()
    };
    assert_eq!(r.product_vendor.as_deref(), Some("Test"));
}
