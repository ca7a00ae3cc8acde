//! The cost of an element's attributes (issue #13): a normal Identify envelope against
//! the same envelope whose body is one element carrying N empty attributes, in one
//! criterion group so the ratios come from one run on one machine state.
//!
//! `attrs_200` is under the default per-element cap (256); `attrs_45000` raises the cap
//! to show that checking attributes (duplicates, repeated declarations) costs time
//! linear in their number; `attrs_45000_refused` is the same input under the default
//! cap, the path a server takes for a hostile request.
//!
//! The `attributes_live` group puts the same request on the wire: the mock (default
//! scenario, plain HTTP on loopback, one 2-worker runtime shared with the load, as in
//! `mock_throughput`) answers an Identify alone (`identify_alone`, the baseline), an
//! Identify while two other connections send the 45,000-attribute request back to back
//! (`identify_beside_attack`), and the hostile request itself (`attack_round_trip`). The
//! issue's goals: the hostile request answered in under 50 ms, and the concurrent
//! Identify delayed by less than 50 ms.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use mock::MockServer;
use tokio::net::TcpStream;
use touchstone_benches::read;
use wsman::{ErrorKind, Limits};

const IDENTIFY: &str = "requests/openwsman-identify.xml";
const IDENTIFY_BODY: &str = "<wsmid:Identify></wsmid:Identify>";

/// The Identify envelope with its body replaced by one element of `n` attributes.
fn with_attributes(identify: &str, n: usize) -> String {
    let attrs: String = (0..n).map(|i| format!(r#" a{i}="""#)).collect();
    let body = format!(r#"<p:X xmlns:p="urn:x"{attrs}/>"#);
    assert!(identify.contains(IDENTIFY_BODY), "{IDENTIFY} changed shape");
    identify.replace(IDENTIFY_BODY, &body)
}

fn attributes(c: &mut Criterion) {
    let default = Limits::default();
    let raised = Limits {
        max_attributes: 50_000,
        ..Limits::default()
    };
    let identify = read(IDENTIFY);
    let a200 = with_attributes(&identify, 200);
    let a45k = with_attributes(&identify, 45_000);
    // Check once, outside the timed loops, that each input takes the path its name says.
    wsman::parse(&identify, &default).expect("the Identify envelope parses");
    wsman::parse(&a200, &default).expect("200 attributes are under the default cap");
    wsman::parse(&a45k, &raised).expect("45,000 attributes parse under a raised cap");
    let refused = wsman::parse(&a45k, &default)
        .map(|_| ())
        .map_err(|e| e.kind);
    assert_eq!(
        refused,
        Err(ErrorKind::TooManyAttributes {
            limit: default.max_attributes
        })
    );

    let mut g = c.benchmark_group("attributes");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(30);
    g.nresamples(20_000);
    g.bench_function("identify", |b| {
        b.iter(|| wsman::parse(black_box(&identify), &default))
    });
    g.bench_function("attrs_200", |b| {
        b.iter(|| wsman::parse(black_box(&a200), &default))
    });
    g.bench_function("attrs_45000", |b| {
        b.iter(|| wsman::parse(black_box(&a45k), &raised))
    });
    g.bench_function("attrs_45000_refused", |b| {
        b.iter(|| wsman::parse(black_box(&a45k), &default))
    });
    g.finish();
}

/// No exchange may take longer: a stuck server fails the bench instead of hanging it.
const DEADLINE: Duration = Duration::from_secs(10);
/// `admin:admin`, the default scenario's user.
const BASIC_ADMIN: &str = "Basic YWRtaW46YWRtaW4=";

type Sender = SendRequest<Full<Bytes>>;

async fn connect(addr: std::net::SocketAddr) -> Sender {
    let open = async {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok::<_, std::io::Error>(sender)
    };
    match tokio::time::timeout(DEADLINE, open).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => panic!("cannot connect to the mock: {e}"),
        Err(_) => panic!("no connection to the mock within {DEADLINE:?}"),
    }
}

/// One POST of `body`, its whole answer read.
async fn exchange(
    sender: &mut Sender,
    addr: std::net::SocketAddr,
    body: &Bytes,
) -> (StatusCode, Bytes) {
    let round = async {
        sender.ready().await?;
        let req = Request::builder()
            .method(Method::POST)
            .uri("/wsman")
            .header(HOST, addr.to_string())
            .header(CONTENT_TYPE, "application/soap+xml;charset=UTF-8")
            .header(AUTHORIZATION, BASIC_ADMIN)
            .body(Full::new(body.clone()))
            .expect("a valid request");
        let (parts, body) = sender.send_request(req).await?.into_parts();
        Ok::<_, hyper::Error>((parts.status, body.collect().await?.to_bytes()))
    };
    match tokio::time::timeout(DEADLINE, round).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => panic!("request failed: {e}"),
        Err(_) => panic!("no answer within {DEADLINE:?}"),
    }
}

fn attributes_live(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mock = rt.block_on(async { MockServer::builder().start().await.expect("start the mock") });
    let addr = mock.addresses().0.expect("the mock listens on plain HTTP");
    let identify_text = read(IDENTIFY);
    let identify = Bytes::from(identify_text.clone());
    let attack = Bytes::from(with_attributes(&identify_text, 45_000));

    // Check once that each request takes the path its name says: Identify answers, the
    // hostile request is refused with the envelope-limit fault.
    let (mut client, mut attacker) =
        rt.block_on(async { (connect(addr).await, connect(addr).await) });
    let (status, body) = rt.block_on(exchange(&mut client, addr, &identify));
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, StatusCode::OK, "Identify: {text}");
    assert!(text.contains("IdentifyResponse"), "Identify: {text}");
    let (status, body) = rt.block_on(exchange(&mut attacker, addr, &attack));
    let text = String::from_utf8_lossy(&body).into_owned();
    assert!(
        status.is_server_error() || status.is_client_error(),
        "attack: HTTP {status}: {text}"
    );
    assert!(text.contains("EncodingLimit"), "attack: {text}");

    let mut g = c.benchmark_group("attributes_live");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(30);
    g.nresamples(20_000);
    let timed = |sender: &mut Sender, body: &Bytes, iters: u64| {
        rt.block_on(async {
            let t0 = Instant::now();
            for _ in 0..iters {
                black_box(exchange(sender, addr, body).await);
            }
            t0.elapsed()
        })
    };
    g.bench_function("identify_alone", |b| {
        b.iter_custom(|iters| timed(&mut client, &identify, iters))
    });
    g.bench_function("attack_round_trip", |b| {
        b.iter_custom(|iters| timed(&mut attacker, &attack, iters))
    });

    // Two attackers on their own connections, sending back to back until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let attackers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, sent, attack) = (stop.clone(), sent.clone(), attack.clone());
            rt.spawn(async move {
                let mut s = connect(addr).await;
                while !stop.load(Ordering::Relaxed) {
                    exchange(&mut s, addr, &attack).await;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    g.bench_function("identify_beside_attack", |b| {
        b.iter_custom(|iters| timed(&mut client, &identify, iters))
    });
    g.finish();
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for a in attackers {
            a.await.expect("an attacker task panicked");
        }
    });
    eprintln!(
        "attributes_live: the attackers sent {} requests of {} bytes while Identify was timed",
        sent.load(Ordering::Relaxed),
        attack.len()
    );
    rt.block_on(mock.shutdown());
}

criterion_group!(benches, attributes, attributes_live);
criterion_main!(benches);
