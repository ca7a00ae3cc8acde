//! A fixed-work driver for instruction counting (`valgrind --tool=callgrind`), which is
//! repeatable on a loaded machine where criterion's timings are not.
//!
//! `profile CASE [ITERATIONS]` runs one case ITERATIONS times (default 200) and prints
//! a checksum so nothing is optimised away. Cases:
//!
//! - `quick_xml/GROUP`, `typed/GROUP`, `roxmltree/GROUP`: the envelope bench's functions
//!   (a), (b) and (e) on the same corpus files (`GROUP` as in the envelope bench);
//! - `write/GROUP`: `wsman::write::write_envelope` of the parsed file (d);
//! - `answer/identify`, `answer/get`, `answer/enumerate`: `mock::Mock::answer` on the
//!   mock throughput bench's requests, in process (no sockets): the mock's own work per
//!   request, without the HTTP layer;
//! - `http/bare`, `http/identify`, `http/get`, `http/enumerate`: the same over one
//!   kept-alive loopback HTTP/1.1 connection (hyper client, one thread), to the mock or
//!   to the throughput bench's bare hyper server: client, server and kernel calls
//!   (as far as valgrind sees them) per request.
//!
//! Without arguments (as under `cargo test --benches`) every case runs once.

use std::sync::Arc;

use mock::http::Request;
use mock::journal::Journal;
use mock::scenario::Scenario;
use mock::service::Mock;
use touchstone_benches::{ENVELOPES, read, request_envelope, with_message_ids};
use wsman::Limits;

/// How many copies of a request, differing in their MessageID, a case cycles through
/// (see `with_message_ids`).
const MESSAGE_IDS: usize = 64;

fn answer_body(name: &str) -> Option<String> {
    Some(match name {
        "identify" => read("requests/openwsman-identify.xml"),
        "get" => request_envelope(
            wsman::ns::action::GET,
            "CIM_ComputerSystem",
            &[
                ("CreationClassName", "CIM_ComputerSystem"),
                ("Name", "touchstone-sim"),
            ],
            "",
        ),
        "enumerate" => request_envelope(
            wsman::ns::action::ENUMERATE,
            "CIM_NumericSensor",
            &[],
            "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>20</w:MaxElements></n:Enumerate>",
        ),
        _ => return None,
    })
}

fn run(case: &str, iterations: usize) -> usize {
    let (kind, name) = case
        .split_once('/')
        .unwrap_or_else(|| panic!("case {case:?}"));
    let mut sum = 0usize;
    if kind == "http" {
        return http(name, iterations);
    }
    if kind == "answer" {
        let body = answer_body(name).unwrap_or_else(|| panic!("no answer case {name:?}"));
        let mock = Mock::new(Scenario::default_scenario(), Arc::new(Journal::default()))
            .expect("default scenario");
        // As a client sends them: a fresh MessageID each time. Made before the loop,
        // as many whatever the iterations, so that they cancel out of a difference.
        let requests: Vec<Request> = with_message_ids(&body, MESSAGE_IDS)
            .into_iter()
            .map(|body| Request {
                method: "POST".into(),
                path: "/wsman".into(),
                headers: mock::http::Headers::from_pairs([(
                    "content-type",
                    "application/soap+xml;charset=UTF-8",
                )])
                .expect("a valid header"),
                body: body.into_bytes().into(),
                peer: "127.0.0.1:1".parse().expect("address"),
                tls: false,
                user: Some("admin".into()),
            })
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        for i in 0..iterations {
            let handled = rt.block_on(mock.answer(&requests[i % requests.len()]));
            match handled.outcome {
                mock::http::Outcome::Reply(r) => {
                    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                    sum += r.body.len();
                }
                _ => panic!("{case}: no reply"),
            }
        }
        return sum;
    }
    let input = ENVELOPES
        .iter()
        .find(|i| i.group == name)
        .unwrap_or_else(|| panic!("no envelope group {name:?}"));
    let xml = read(input.path);
    let limits = Limits::default();
    if kind == "write" {
        let env = wsman::parse(&xml, &limits).expect("corpus parses");
        for _ in 0..iterations {
            sum += wsman::write::write_envelope(&env, Vec::with_capacity(xml.len())).len();
        }
        return sum;
    }
    for _ in 0..iterations {
        sum += match kind {
            "quick_xml" => {
                let mut r = quick_xml::Reader::from_str(&xml);
                let mut n = 0;
                loop {
                    match r.read_event().expect("corpus parses") {
                        quick_xml::events::Event::Eof => break n,
                        _ => n += 1,
                    }
                }
            }
            "typed" => {
                let env = wsman::parse(&xml, &limits).expect("corpus parses");
                std::hint::black_box(&env);
                1
            }
            "roxmltree" => roxmltree::Document::parse(&xml)
                .expect("corpus parses")
                .descendants()
                .count(),
            _ => panic!("no kind {kind:?}"),
        };
    }
    sum
}

fn http(name: &str, iterations: usize) -> usize {
    use http_body_util::{BodyExt as _, Full};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (addr, body, _server) = if name == "bare" {
            let answer =
                bytes::Bytes::from(read("responses/bench-get-response-numeric-sensor.xml"));
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("address");
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let _ = tcp.set_nodelay(true);
                    let answer = answer.clone();
                    let svc = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let answer = answer.clone();
                            async move {
                                let _ = req.into_body().collect().await;
                                let mut resp = hyper::Response::new(Full::new(answer));
                                resp.headers_mut().insert(
                                    http::header::CONTENT_TYPE,
                                    http::HeaderValue::from_static(
                                        "application/soap+xml;charset=UTF-8",
                                    ),
                                );
                                Ok::<_, std::convert::Infallible>(resp)
                            }
                        },
                    );
                    let mut builder = hyper::server::conn::http1::Builder::new();
                    builder
                        .timer(hyper_util::rt::TokioTimer::new())
                        .keep_alive(true);
                    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(tcp), svc);
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                }
            });
            (addr, answer_body("get").expect("get"), None)
        } else {
            let server = mock::MockServer::builder()
                .start()
                .await
                .expect("start the mock");
            let addr = server.addresses().0.expect("plain HTTP");
            let body = answer_body(name).unwrap_or_else(|| panic!("no http case {name:?}"));
            (addr, body, Some(server))
        };
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .expect("handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let bodies: Vec<bytes::Bytes> = with_message_ids(&body, MESSAGE_IDS)
            .into_iter()
            .map(bytes::Bytes::from)
            .collect();
        let mut sum = 0;
        for i in 0..iterations {
            let body = bodies[i % bodies.len()].clone();
            let mut req = hyper::Request::new(Full::new(body));
            *req.method_mut() = http::Method::POST;
            *req.uri_mut() = http::Uri::from_static("/wsman");
            let h = req.headers_mut();
            h.insert(
                http::header::HOST,
                http::HeaderValue::from_str(&addr.to_string()).expect("host"),
            );
            h.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/soap+xml;charset=UTF-8"),
            );
            h.insert(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_static("Basic YWRtaW46YWRtaW4="),
            );
            sender.ready().await.expect("ready");
            let resp = sender.send_request(req).await.expect("request");
            assert_eq!(resp.status(), 200);
            sum += resp
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes()
                .len();
        }
        sum
    })
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match args.first() {
        Some(case) => {
            let n = args.get(1).map_or(200, |n| n.parse().expect("iterations"));
            println!("{case}: {}", run(case, n));
        }
        None => {
            let mut cases: Vec<String> = ["identify", "get", "enumerate"]
                .iter()
                .map(|n| format!("answer/{n}"))
                .collect();
            for n in ["bare", "identify", "get", "enumerate"] {
                cases.push(format!("http/{n}"));
            }
            for i in ENVELOPES {
                for k in ["quick_xml", "typed", "roxmltree", "write"] {
                    cases.push(format!("{k}/{}", i.group));
                }
            }
            for c in cases {
                println!("{c}: {}", run(&c, 1));
            }
        }
    }
}
