//! Connections, deadlines and TLS: what makes the client safe to point at a target
//! that misbehaves or is not there.

mod support;

use std::time::{Duration, Instant};

use client::{CaPem, Client, ClientError, Phase, RawRequest, Target};
use support::{Seen, response, self_signed, serve};
use tokio::io::AsyncReadExt as _;

fn ok(_: &Seen) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    response(200, &[("content-type", "text/plain")], "ok")
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_within_the_deadline() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts, reads whatever comes, never answers.
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = s.read(&mut buf).await;
            held.push(s);
        }
    });
    let c = Client::new(
        Target::new(format!("http://{addr}/wsman")).timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let start = Instant::now();
    let err = c.send_raw(RawRequest::post("hello")).await.unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(
            err,
            ClientError::Timeout {
                phase: Phase::Exchange,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_timeout());
    assert!(!err.is_unreachable(), "it was reached; it did not answer");
    assert!(took >= Duration::from_millis(290), "{took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    task.abort();
}

#[tokio::test]
async fn connection_refused_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = Client::new(Target::new(format!("http://{addr}/wsman"))).unwrap();
    let err = c.send_raw(RawRequest::post("x")).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Connect { addr: a, .. } if *a == addr),
        "{err:?}"
    );
    assert!(err.is_unreachable());
}

#[tokio::test]
async fn an_unresolvable_host_is_unreachable() {
    let c = Client::new(
        Target::new("http://no-such-host.invalid:5985/wsman").timeout(Duration::from_secs(5)),
    )
    .unwrap();
    let err = c.send_raw(RawRequest::post("x")).await.unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
}

#[tokio::test]
async fn https_trusting_the_servers_pem() {
    let (cfg, pem) = self_signed();
    let server = serve(ok, Some(cfg)).await;
    let c = Client::new(Target::new(server.url("https")).ca_pem(CaPem::Text(pem.clone()))).unwrap();
    let ex = c.send_raw(RawRequest::post("x")).await.unwrap();
    assert_eq!(ex.status(), Some(200));
    assert_eq!(ex.body_text().as_deref(), Some("ok"));
    assert!(ex.request.url.starts_with("https://"));

    // The same PEM from a file.
    let path = std::env::temp_dir().join(format!("client-test-ca-{}.pem", std::process::id()));
    std::fs::write(&path, &pem).unwrap();
    let c =
        Client::new(Target::new(server.url("https")).ca_pem(CaPem::Path(path.clone()))).unwrap();
    let ex = c.send_raw(RawRequest::post("x")).await.unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(ex.status(), Some(200));
}

#[tokio::test]
async fn https_insecure_accepts_an_unknown_certificate() {
    let (cfg, _) = self_signed();
    let server = serve(ok, Some(cfg)).await;
    let c = Client::new(Target::new(server.url("https")).insecure()).unwrap();
    let ex = c.send_raw(RawRequest::post("x")).await.unwrap();
    assert_eq!(ex.status(), Some(200));
}

#[tokio::test]
async fn https_with_an_untrusted_certificate_fails_the_handshake() {
    let (cfg, _) = self_signed();
    let (_, other_pem) = self_signed();
    let server = serve(ok, Some(cfg)).await;
    for target in [
        Target::new(server.url("https")),
        Target::new(server.url("https")).ca_pem(CaPem::Text(other_pem)),
    ] {
        let c = Client::new(target).unwrap();
        let err = c.send_raw(RawRequest::post("x")).await.unwrap_err();
        assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");
        assert!(err.is_unreachable());
    }
}

#[tokio::test]
async fn a_ca_file_without_certificates_is_refused_up_front() {
    let err = Client::new(
        Target::new("https://127.0.0.1:1/wsman").ca_pem(CaPem::Text("not a pem".into())),
    )
    .unwrap_err();
    assert!(matches!(err, ClientError::TlsConfig(_)), "{err:?}");
}

#[tokio::test]
async fn keep_alive_reuses_the_connection_and_fresh_mode_does_not() {
    let server = serve(ok, None).await;
    let c = Client::new(Target::new(server.url("http"))).unwrap();
    let a = c.send_raw(RawRequest::post("1")).await.unwrap();
    let b = c.clone().send_raw(RawRequest::post("2")).await.unwrap();
    assert_eq!(a.request.connection, b.request.connection);
    assert!(!a.request.reused);
    assert!(b.request.reused);

    let f = Client::new(Target::new(server.url("http")).fresh_connections()).unwrap();
    let x = f.send_raw(RawRequest::post("3")).await.unwrap();
    let y = f.send_raw(RawRequest::post("4")).await.unwrap();
    assert_ne!(x.request.connection, y.request.connection);
    assert!(!y.request.reused);
    let conns: Vec<u64> = server.seen().iter().map(|s| s.conn).collect();
    assert_eq!(conns.len(), 4);
    assert_eq!(conns[0], conns[1]);
    assert!(conns[2] != conns[3] && conns[2] != conns[0]);
}

/// How [`closing_server`] ends each connection, never answering.
#[derive(Clone, Copy)]
enum Close {
    /// Reads the request, then closes.
    AfterReading,
    /// Closes before reading anything.
    AtOnce,
    /// Reads the request, then resets: a zero linger turns the close into an RST, as
    /// a crashing process with unread data or a killed one leaves it.
    ResetAfterReading,
}

/// A loopback server that accepts every connection and ends it as `how` says.
async fn closing_server(how: Close) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            if !matches!(how, Close::AtOnce) {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
            }
            if matches!(how, Close::ResetAfterReading) {
                #[allow(deprecated)]
                s.set_linger(Some(Duration::ZERO)).unwrap();
            }
            drop(s);
        }
    });
    (addr, task)
}

#[tokio::test]
async fn a_connection_closed_without_an_answer_keeps_the_request_transcript() {
    let (addr, task) = closing_server(Close::AfterReading).await;
    let c = Client::new(Target::new(format!("http://{addr}/wsman"))).unwrap();
    let ex = c.send_raw(RawRequest::post("doomed")).await.unwrap();
    assert_eq!(ex.status(), None);
    assert!(ex.response.is_none());
    assert_eq!(
        ex.error.as_deref(),
        Some("the connection closed without an answer (the server may have crashed)")
    );
    assert_eq!(ex.request.body.as_ref(), b"doomed");
    assert!(ex.envelope().is_none() && ex.fault().is_none());
    let err = ex.answered().unwrap_err();
    assert!(matches!(err, ClientError::NoAnswer { .. }), "{err:?}");
    assert!(err.is_unanswered() && !err.is_unreachable(), "{err:?}");
    assert_eq!(err.to_string(), client::CLOSED_WITHOUT_ANSWER);
    task.abort();
}

#[tokio::test]
async fn a_connection_closed_at_once_is_closed_without_an_answer() {
    // The server accepts and closes before reading anything: depending on who is
    // quicker the client sees the connection not ready, closed or reset, and every
    // one of those is the same "no answer" to its caller.
    let (addr, task) = closing_server(Close::AtOnce).await;
    let c = Client::new(Target::new(format!("http://{addr}/wsman"))).unwrap();
    for _ in 0..20 {
        let ex = c.send_raw(RawRequest::post("doomed")).await.unwrap();
        assert!(ex.response.is_none());
        let error = ex.error.clone().unwrap();
        assert!(error.starts_with(client::CLOSED_WITHOUT_ANSWER), "{error}");
        assert!(ex.answered().unwrap_err().is_unanswered());
    }
    task.abort();
}

#[tokio::test]
async fn a_connection_reset_without_an_answer_says_the_server_may_have_crashed() {
    let (addr, task) = closing_server(Close::ResetAfterReading).await;
    let c = Client::new(Target::new(format!("http://{addr}/wsman"))).unwrap();
    let ex = c.send_raw(RawRequest::post("doomed")).await.unwrap();
    assert!(ex.response.is_none());
    let error = ex.error.as_deref().unwrap();
    assert!(error.starts_with(client::CLOSED_WITHOUT_ANSWER), "{error}");
    task.abort();
}

#[tokio::test]
async fn an_answered_exchange_stays_one() {
    let server = serve(ok, None).await;
    let c = Client::new(Target::new(server.url("http"))).unwrap();
    let ex = c.send_raw(RawRequest::post("x")).await.unwrap();
    assert_eq!(ex.answered().unwrap().status(), Some(200));
}

#[tokio::test]
async fn raw_requests_go_out_as_given() {
    let server = serve(ok, None).await;
    let c = Client::new(Target::new(server.url("http"))).unwrap();
    let ex = c
        .send_raw(
            RawRequest::default()
                .method(http::Method::GET)
                .target("/other?q=1")
                .header("X-Probe", "yes"),
        )
        .await
        .unwrap();
    assert_eq!(ex.status(), Some(200));
    let seen = &server.seen()[0];
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.target, "/other?q=1");
    assert_eq!(seen.header("x-probe"), Some("yes"));
    assert_eq!(seen.header("host"), Some(server.addr.to_string().as_str()));
    assert!(seen.header("content-length").is_none());
    let names: Vec<&str> = ex.request.headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["Host", "User-Agent", "X-Probe"]);
    assert_eq!(ex.request.target, "/other?q=1");
    assert_eq!(ex.request.url, format!("http://{}/other?q=1", server.addr));

    // A body that is not UTF-8 is kept as base64 in reports.
    let ex = c
        .send_raw(RawRequest::post(vec![0xff, 0xfe, 0x00]))
        .await
        .unwrap();
    let json = serde_json::to_value(&ex).unwrap();
    assert_eq!(json["request"]["body"], "//4A");
    assert_eq!(json["request"]["body_base64"], true);
    assert_eq!(json["response"]["status"], 200);
}

#[tokio::test]
async fn invalid_urls_and_headers_are_caller_errors() {
    assert!(matches!(
        Client::new(Target::new("ftp://h/wsman")),
        Err(ClientError::InvalidUrl { .. })
    ));
    let server = serve(ok, None).await;
    let c = Client::new(Target::new(server.url("http"))).unwrap();
    let err = c
        .send_raw(RawRequest::post("x").header("Bad Name", "v"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidRequest(_)), "{err:?}");
    assert!(!err.is_unreachable());
}

#[test]
fn the_send_future_can_be_spawned() {
    fn is_send<T: Send>(_: &T) {}
    let c = Client::new(Target::new("http://127.0.0.1:1/wsman")).unwrap();
    let env = client::build::identify();
    is_send(&c.send_raw(RawRequest::post("x")));
    is_send(&c.send(&env));
    is_send(&c.identify(false));
}
