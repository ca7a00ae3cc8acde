//! The event sink over real loopback sockets: deliveries are recorded as they come,
//! waiters wake on them (no sleeping), acks answer what asked for them, and bad input
//! is recorded as malformed rather than breaking the sink.

use std::time::{Duration, Instant};

use client::eventing::action;
use client::sink::{EventSink, Kind};
use client::{Client, RawRequest, Target};

fn envelope(action: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
         xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\"><s:Header>\
         <a:Action>{action}</a:Action><a:MessageID>uuid:{}</a:MessageID>\
         <e:Identifier>uuid:sub</e:Identifier>{extra_headers}</s:Header><s:Body>{body}</s:Body></s:Envelope>",
        client::build::message_id().trim_start_matches("uuid:")
    )
}

fn poster(url: &str) -> Client {
    Client::new(Target::new(url).timeout(Duration::from_secs(5))).unwrap()
}

#[tokio::test]
async fn a_waiter_wakes_on_each_delivery_and_sees_them_in_order() {
    let sink = EventSink::start(None).await.unwrap();
    assert!(sink.addr().ip().is_loopback());
    let url = sink.url("t1");
    let waiter = {
        let deadline = Instant::now() + Duration::from_secs(10);
        async move {
            sink.wait_for(3, deadline, |d| d.path_token() == Some("t1"))
                .await
                .map(|v| (v, sink))
        }
    };
    let post = async {
        let c = poster(&url);
        for i in 0..3 {
            let body = format!("<p:I xmlns:p=\"urn:p\">{i}</p:I>");
            let ex = c
                .send_raw(RawRequest::soap(envelope("urn:ev", "", &body)))
                .await
                .unwrap();
            assert_eq!(ex.status(), Some(200));
            assert_eq!(ex.response.as_ref().unwrap().body.len(), 0, "no ack asked");
        }
    };
    let (got, ()) = tokio::join!(waiter, post);
    let (got, sink) = got.expect("three deliveries within the deadline");
    assert_eq!(got.len(), 3);
    for (i, d) in got.iter().enumerate() {
        assert_eq!(d.kind, Kind::Event);
        assert_eq!(d.seq, i);
        assert!(d.events[0].xml.contains(&format!(">{i}<")));
        assert_eq!(d.header(wsman::ns::WSE, "Identifier"), Some("uuid:sub"));
    }
    // Nothing for another token: the deadline ends the wait with what matched.
    let started = Instant::now();
    let none = sink
        .wait_for(1, Instant::now() + Duration::from_millis(200), |d| {
            d.path_token() == Some("other")
        })
        .await;
    assert_eq!(none, Err(Vec::new()));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn ack_requested_is_answered_with_an_ack_that_relates_to_it() {
    let sink = EventSink::start(None).await.unwrap();
    let c = poster(&sink.url("acked"));
    let msg = envelope("urn:ev", "<w:AckRequested/>", "<p:I xmlns:p=\"urn:p\"/>");
    let ex = c.send_raw(RawRequest::soap(msg.clone())).await.unwrap();
    assert_eq!(ex.status(), Some(200));
    let env = ex.envelope().expect("an ack body").unwrap();
    assert_eq!(env.header.action.as_deref(), Some(action::ACK));
    let sent_id = msg
        .split("<a:MessageID>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert_eq!(env.header.relates_to.as_deref(), Some(sent_id));
    let d = &sink.deliveries()[0];
    assert!(d.ack_requested);
    // A heartbeat is recorded as one.
    c.send_raw(RawRequest::soap(envelope(action::HEARTBEAT, "", "")))
        .await
        .unwrap();
    let hb = sink
        .wait_for(1, Instant::now() + Duration::from_secs(5), |d| {
            d.kind == Kind::Heartbeat
        })
        .await
        .unwrap();
    assert_eq!(hb[0].path_token(), Some("acked"));
}

#[tokio::test]
async fn bad_input_is_recorded_as_malformed_and_the_sink_keeps_serving() {
    let sink = EventSink::start(None).await.unwrap();
    let c = poster(&sink.url("bad"));
    let ex = c.send_raw(RawRequest::soap("<<< not xml")).await.unwrap();
    assert_eq!(ex.status(), Some(400));
    let ex = c
        .send_raw(RawRequest::post("").method(http::Method::GET))
        .await
        .unwrap();
    assert_eq!(ex.status(), Some(405));
    let ex = c
        .send_raw(RawRequest::soap(envelope(
            "urn:ev",
            "",
            "<p:X xmlns:p=\"urn:p\"/>",
        )))
        .await
        .unwrap();
    assert_eq!(ex.status(), Some(200));
    let all = sink.deliveries();
    assert_eq!(all.len(), 3);
    assert!(matches!(&all[0].kind, Kind::Malformed(why) if why.contains("not XML")));
    assert!(matches!(&all[1].kind, Kind::Malformed(why) if why.contains("GET")));
    assert_eq!(all[2].kind, Kind::Event);
}

/// A target that floods the sink cannot make it keep unbounded text: past
/// `MAX_KEPT_BYTES` deliveries are still recorded, with a note for their text.
#[tokio::test]
async fn the_sink_keeps_a_bounded_amount_of_delivery_text() {
    use client::sink::{MAX_DELIVERY, MAX_KEPT_BYTES};
    let sink = EventSink::start(None).await.unwrap();
    let c = poster(&sink.url("flood"));
    let big = "x".repeat(MAX_DELIVERY - 1024);
    let n = MAX_KEPT_BYTES / big.len() + 2;
    for _ in 0..n {
        let ex = c.send_raw(RawRequest::soap(big.clone())).await.unwrap();
        assert_eq!(ex.status(), Some(400), "not XML: malformed, recorded");
    }
    let all = sink.deliveries();
    assert_eq!(all.len(), n, "every delivery is recorded");
    let kept: usize = all.iter().map(|d| d.body.len()).sum();
    assert!(kept <= MAX_KEPT_BYTES + n * 200, "{kept} bytes kept");
    assert_eq!(
        all[0].body.len(),
        big.len(),
        "the first ones are kept whole"
    );
    let last = &all[n - 1];
    assert!(
        last.body.contains("not kept"),
        "{}",
        &last.body[..80.min(last.body.len())]
    );
    assert!(matches!(last.kind, Kind::Malformed(_)));
}
