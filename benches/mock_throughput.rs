//! Request throughput and latency of the mock WS-Man endpoint over real loopback HTTP/1.1,
//! next to a bare hyper server that answers a fixed ~3 KB envelope to any POST (`bare`),
//! and the same server answering the mock's own ~17 KB Enumerate answer (`bare_enum`),
//! which separates the cost of moving an answer that size from the cost of making it.
//! The `*_nojournal` series send the same requests to a second mock whose journal keeps
//! nothing (`[http] journal_capacity = 0`, what the README advises for load tests):
//! their ratio to the default mock's is the journal's cost, from the same run.
//! Two "floor" servers (`floor_get`, `floor_enum`) do the least any WS-Man server must
//! do for a request: read every XML event of the body (quick-xml, no tree, no types)
//! and echo its MessageID as RelatesTo in the mock's own answer for that request, so
//! their ratio to `bare` bounds what any implementation that reads requests can reach.
//!
//! Every series runs in one criterion group and is driven by the same load generator
//! (C keep-alive connections, each sending requests back to back, with a new MessageID
//! each time as real clients do), so the ratio of the
//! mock to the bare server comes from one run on one machine state. Servers and load
//! generator share one 2-worker tokio runtime: on a 2-core machine the client's cost is
//! part of every series alike, and the ratio is what the goal is about.
//!
//! Criterion has no percentiles, so after the group a separate fixed pass (20,000
//! requests per target at 64 connections, in five rounds that each run every target in
//! turn) records every request's latency; the bench prints p50/p99/max, the throughput
//! and the median of the rounds' ratios to `bare` to stderr and writes them as JSON next
//! to criterion's reports (`<criterion home>/mock_throughput_latency.json`).

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group};
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use mock::MockServer;
use tokio::net::{TcpListener, TcpStream};
use touchstone_benches::{read, request_envelope, with_message_ids};
use wsman::{Body, Limits};

/// The concurrency the goals are stated at.
const CONNECTIONS: usize = 64;
/// The single-connection series (latency context) sends this fraction of a target's
/// batch per iteration.
const SINGLE_DIVISOR: usize = 8;
/// Requests per target in the latency pass, after [`LATENCY_WARMUP`] unrecorded ones,
/// sent in [`LATENCY_ROUNDS`] rounds: each round runs every target once, in turn.
const LATENCY_REQUESTS: usize = 20_000;
const LATENCY_WARMUP: usize = 2_048;
/// A slow drift of the machine's speed (another process, frequency, the host) shifts
/// a target measured after another; measuring every target in each of several rounds
/// and taking the median of each round's ratio to `bare` cancels most of it.
const LATENCY_ROUNDS: usize = 5;
/// No request may take longer: a stuck server fails the bench instead of hanging it.
const DEADLINE: Duration = Duration::from_secs(10);

/// How many copies of each request, differing in their MessageID, a load generator
/// cycles through: consecutive requests never repeat one, as a real client's never do,
/// and the copies stay few enough to be in cache like a client's one buffer.
const MESSAGE_IDS: usize = 64;
/// The goals: Identify and Get at least 0.8x the bare server's throughput, the
/// optimized Enumerate of 11 sensors at least 0.5x, p99 under 5 ms for all three.
const GOAL_RATIOS: [(&str, f64); 3] = [("identify", 0.8), ("get", 0.8), ("enumerate", 0.5)];
const GOAL_P99: Duration = Duration::from_millis(5);

/// The throughput goal of a target (`None`: context, not a goal).
fn goal_ratio(target: &str) -> Option<f64> {
    GOAL_RATIOS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|&(_, x)| x)
}

const SOAP_CT: &str = "application/soap+xml;charset=UTF-8";
/// `admin:admin`, the default scenario's user, sent preemptively on every request.
const BASIC_ADMIN: &str = "Basic YWRtaW46YWRtaW4=";

/// The bare server's answer, and what the mock's Get answers are compared to.
const BARE_RESPONSE: &str = "responses/bench-get-response-numeric-sensor.xml";
/// A real client's Identify (openwsman), sent with Basic credentials.
const IDENTIFY_REQUEST: &str = "requests/openwsman-identify.xml";

/// What a target's answer must be. Checked once per target before anything is timed;
/// the timed loops then only check the status, so no series ever times an error path.
#[derive(Debug, Clone, Copy)]
enum Expect {
    IdentifyResponse,
    /// A Get answer: an instance of this class.
    Instance(&'static str),
    /// An optimized Enumerate that answers everything at once: this many items, and
    /// EndOfSequence, so the mock keeps no context and nothing needs a Release. (Were
    /// contexts kept, the scenario's `max_enumerations` quota would soon turn answers
    /// into faults, and the timed loops' status check would fail the bench.)
    AllItems(usize),
}

/// One series' server and request.
struct Target {
    name: &'static str,
    /// Requests per criterion iteration at [`CONNECTIONS`]: several per connection, so
    /// the ragged end of a batch (some connections done, others still busy) stays
    /// small, and fewer for slow targets, so that 20 samples fit in about 3 s.
    batch: usize,
    addr: SocketAddr,
    headers: HeaderMap,
    /// The request as copies that differ in their MessageID ([`MESSAGE_IDS`]).
    bodies: Vec<Bytes>,
    expect: Expect,
}

impl Target {
    fn new(
        name: &'static str,
        batch: usize,
        addr: SocketAddr,
        body: String,
        expect: Expect,
    ) -> Target {
        let mut headers = HeaderMap::new();
        let host = HeaderValue::from_str(&addr.to_string()).expect("an address is a valid Host");
        headers.insert(HOST, host);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(SOAP_CT));
        headers.insert(AUTHORIZATION, HeaderValue::from_static(BASIC_ADMIN));
        Target {
            name,
            batch,
            addr,
            headers,
            bodies: with_message_ids(&body, MESSAGE_IDS)
                .into_iter()
                .map(Bytes::from)
                .collect(),
            expect,
        }
    }

    /// The request numbered `seq` (its MessageID is that of the `seq`th copy).
    fn request(&self, seq: usize) -> Request<Full<Bytes>> {
        let body = self.bodies[seq % self.bodies.len()].clone();
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = Uri::from_static("/wsman");
        *req.headers_mut() = self.headers.clone();
        req
    }

    /// Panics unless `body` is the answer this target must give.
    fn check(&self, status: StatusCode, body: &[u8]) {
        let text = String::from_utf8_lossy(body);
        assert_eq!(
            status,
            StatusCode::OK,
            "{}: HTTP {status}:\n{text}",
            self.name
        );
        let env = wsman::parse(&text, &Limits::default())
            .unwrap_or_else(|e| panic!("{}: answer does not parse: {e}\n{text}", self.name));
        let ok = match (self.expect, &env.body) {
            (Expect::IdentifyResponse, Body::IdentifyResponse(_)) => true,
            (Expect::Instance(class), Body::Instance(tree)) => tree.root().name().local == class,
            (Expect::AllItems(n), Body::EnumerateResponse(r)) => {
                r.end_of_sequence && r.items.as_ref().map(Vec::len) == Some(n)
            }
            _ => false,
        };
        assert!(
            ok,
            "{}: expected {:?}, got another answer:\n{text}",
            self.name, self.expect
        );
    }
}

/// The baseline: hyper 1 over HTTP/1.1 with keep-alive, configured like the mock's
/// listener (timer, nodelay), reading each request body and answering `body` to it.
async fn start_bare(body: Bytes) -> SocketAddr {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind the bare server");
    let addr = listener.local_addr().expect("bare server address");
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).keep_alive(true);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let body = body.clone();
            let svc = service_fn(move |req: Request<Incoming>| {
                let body = body.clone();
                async move {
                    let _ = req.into_body().collect().await;
                    let mut resp = Response::new(Full::new(body));
                    resp.headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static(SOAP_CT));
                    Ok::<_, Infallible>(resp)
                }
            });
            let conn = builder.serve_connection(TokioIo::new(tcp), svc);
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
    addr
}

/// The least a WS-Man server must do per request: read every XML event of the body
/// (quick-xml's reader, nothing kept but the `wsa:MessageID` text) and answer
/// `answer`, the mock's own answer to the same request, with that MessageID as its
/// `wsa:RelatesTo`. No tree, no typed headers, no authentication, no journal: a floor
/// under any server that reads what it is sent.
async fn start_floor(answer: Bytes) -> SocketAddr {
    let text = String::from_utf8(answer.to_vec()).expect("the mock's answer is UTF-8");
    // The answer around its RelatesTo text, which each request's MessageID replaces.
    let open = text.find("RelatesTo>").expect("the answer has a RelatesTo") + "RelatesTo>".len();
    let close = open + text[open..].find('<').expect("RelatesTo is closed");
    let (head, tail) = (
        Bytes::from(text[..open].to_owned()),
        Bytes::from(text[close..].to_owned()),
    );
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind the floor server");
    let addr = listener.local_addr().expect("floor server address");
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).keep_alive(true);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let (head, tail) = (head.clone(), tail.clone());
            let svc = service_fn(move |req: Request<Incoming>| {
                let (head, tail) = (head.clone(), tail.clone());
                async move {
                    let body = req.into_body().collect().await.map(|b| b.to_bytes());
                    let mid = body.ok().and_then(|b| message_id(&b)).unwrap_or_default();
                    let mut out = Vec::with_capacity(head.len() + mid.len() + tail.len());
                    out.extend_from_slice(&head);
                    out.extend_from_slice(mid.as_bytes());
                    out.extend_from_slice(&tail);
                    let mut resp = Response::new(Full::new(Bytes::from(out)));
                    resp.headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static(SOAP_CT));
                    Ok::<_, Infallible>(resp)
                }
            });
            let conn = builder.serve_connection(TokioIo::new(tcp), svc);
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
    addr
}

/// Every XML event of `body`, keeping the text of the element whose local name is
/// `MessageID` (what the floor server must echo).
fn message_id(body: &[u8]) -> Option<String> {
    use quick_xml::events::Event;
    let text = std::str::from_utf8(body).ok()?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut in_mid = false;
    let mut mid = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => in_mid = e.local_name().as_ref() == b"MessageID",
            Ok(Event::Text(t)) if in_mid => {
                mid = Some(String::from_utf8_lossy(t.as_ref()).into_owned());
            }
            Ok(Event::End(_)) => in_mid = false,
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    mid
}

type Sender = SendRequest<Full<Bytes>>;

async fn connect(target: &Target) -> Sender {
    let open = async {
        let tcp = TcpStream::connect(target.addr).await?;
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
        Ok(Ok(sender)) => sender,
        Ok(Err(e)) => panic!("{}: cannot connect: {e}", target.name),
        Err(_) => panic!("{}: no connection within {DEADLINE:?}", target.name),
    }
}

/// One request, its whole answer read (so the connection can carry the next one).
async fn exchange(sender: &mut Sender, target: &Target, seq: usize) -> (StatusCode, Bytes) {
    let round = async {
        sender.ready().await?;
        let (parts, body) = sender.send_request(target.request(seq)).await?.into_parts();
        Ok::<_, hyper::Error>((parts.status, body.collect().await?.to_bytes()))
    };
    match tokio::time::timeout(DEADLINE, round).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => panic!("{}: request failed: {e}", target.name),
        Err(_) => panic!("{}: no answer within {DEADLINE:?}", target.name),
    }
}

/// One connection's share of a batch: `count` requests back to back, numbered from
/// `first`; with `record`, each one's latency in nanoseconds.
async fn run_connection(
    mut sender: Sender,
    target: Arc<Target>,
    first: usize,
    count: usize,
    record: bool,
) -> (Sender, Vec<u64>) {
    let mut latencies = Vec::with_capacity(if record { count } else { 0 });
    for seq in first..first + count {
        let t0 = Instant::now();
        let (status, body) = exchange(&mut sender, &target, seq).await;
        if record {
            latencies.push(t0.elapsed().as_nanos() as u64);
        }
        if status != StatusCode::OK {
            panic!(
                "{}: HTTP {status} while timing:\n{}",
                target.name,
                String::from_utf8_lossy(&body)
            );
        }
    }
    (sender, latencies)
}

/// The load generator: C kept-alive connections to one target.
struct Pool {
    target: Arc<Target>,
    senders: Vec<Sender>,
    /// Requests sent so far (the next one's number).
    sent: usize,
}

impl Pool {
    async fn open(target: Arc<Target>, connections: usize) -> Pool {
        let mut senders = Vec::with_capacity(connections);
        for _ in 0..connections {
            senders.push(connect(&target).await);
        }
        Pool {
            target,
            senders,
            sent: 0,
        }
    }

    /// Sends `n` requests spread evenly over the connections, each connection on its
    /// own task (so on the runtime's workers, not on the thread in `block_on`).
    /// Returns the recorded latencies when `record`.
    async fn batch(&mut self, n: usize, record: bool) -> Vec<u64> {
        let c = self.senders.len();
        let mut first = self.sent;
        self.sent += n;
        let tasks: Vec<_> = self
            .senders
            .drain(..)
            .enumerate()
            .map(|(i, sender)| {
                let count = n / c + usize::from(i < n % c);
                first += count;
                let target = self.target.clone();
                tokio::spawn(run_connection(sender, target, first - count, count, record))
            })
            .collect();
        let mut all = Vec::with_capacity(if record { n } else { 0 });
        for task in tasks {
            match task.await {
                Ok((sender, latencies)) => {
                    self.senders.push(sender);
                    all.extend(latencies);
                }
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("{}: load task failed: {e}", self.target.name),
            }
        }
        all
    }

    /// `iters` batches of `n`, timed as a whole (criterion's `iter_custom`).
    async fn timed(&mut self, iters: u64, n: usize) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            self.batch(n, false).await;
        }
        start.elapsed()
    }
}

/// The latency pass's result for one target.
struct Latency {
    name: &'static str,
    requests: usize,
    /// Requests per second over the pass itself (all rounds).
    rate: f64,
    /// The median over rounds of this target's rate over `bare`'s in the same round.
    ratio: Option<f64>,
    /// The lowest and highest of those ratios.
    ratio_range: Option<(f64, f64)>,
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// Requests per second from criterion's estimate of the C=64 series, when this
    /// run produced one.
    criterion_rate: Option<f64>,
}

/// Nearest-rank percentile of sorted nanoseconds.
fn percentile(sorted: &[u64], p: f64) -> Duration {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Duration::from_nanos(sorted[rank - 1])
}

/// The latency pass: every target's pool warmed up, then `rounds` rounds in which each
/// target in turn sends its share of `requests`. Each round gives each target a rate
/// and a ratio to `bare` measured within about a second of each other; the latencies
/// of all rounds make the percentiles.
async fn latency_pass(
    targets: &[Arc<Target>],
    requests: usize,
    warmup: usize,
    rounds: usize,
) -> Vec<Latency> {
    let mut pools = Vec::with_capacity(targets.len());
    for t in targets {
        let mut pool = Pool::open(t.clone(), CONNECTIONS).await;
        pool.batch(warmup, false).await;
        pools.push(pool);
    }
    let per_round = requests.div_ceil(rounds).max(1);
    let mut latencies: Vec<Vec<u64>> = vec![Vec::with_capacity(requests); targets.len()];
    let mut busy = vec![Duration::ZERO; targets.len()];
    let mut rates: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); targets.len()];
    for _ in 0..rounds {
        for (i, pool) in pools.iter_mut().enumerate() {
            let start = Instant::now();
            let got = pool.batch(per_round, true).await;
            let elapsed = start.elapsed();
            busy[i] += elapsed;
            rates[i].push(per_round as f64 / elapsed.as_secs_f64());
            latencies[i].extend(got);
        }
    }
    let bare = targets.iter().position(|t| t.name == "bare");
    let round_ratios = |i: usize| -> Vec<f64> {
        bare.map_or_else(Vec::new, |b| {
            rates[i].iter().zip(&rates[b]).map(|(r, b)| r / b).collect()
        })
    };
    targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let lat = &mut latencies[i];
            lat.sort_unstable();
            let ratios = round_ratios(i);
            Latency {
                name: t.name,
                requests: lat.len(),
                rate: lat.len() as f64 / busy[i].as_secs_f64(),
                ratio: median(&ratios),
                ratio_range: ratios.iter().fold(None, |acc: Option<(f64, f64)>, &r| {
                    Some(acc.map_or((r, r), |(lo, hi)| (lo.min(r), hi.max(r))))
                }),
                p50: percentile(lat, 0.50),
                p99: percentile(lat, 0.99),
                max: percentile(lat, 1.0),
                criterion_rate: None,
            }
        })
        .collect()
}

/// The median of `v` (the mean of the middle two for an even count); `None` if empty.
fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// Where criterion writes, found the way criterion finds it: `$CRITERION_HOME`,
/// `$CARGO_TARGET_DIR/criterion`, the target directory `cargo metadata` reports, or
/// `./target/criterion`.
fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("criterion");
    }
    let metadata = std::env::var_os("CARGO").and_then(|cargo| {
        let out = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(PathBuf::from(v.get("target_directory")?.as_str()?))
    });
    metadata.map_or_else(
        || PathBuf::from("target/criterion"),
        |d| d.join("criterion"),
    )
}

/// Requests per second of a series from criterion's mean estimate, if it was written
/// by this run (not left over from an earlier one).
fn criterion_rate(
    home: &std::path::Path,
    id: &str,
    batch: usize,
    since: SystemTime,
) -> Option<f64> {
    let path = home
        .join("mock_throughput")
        .join(id)
        .join("new/estimates.json");
    let fresh = std::fs::metadata(&path).ok()?.modified().ok()? >= since;
    if !fresh {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    let mean_ns = v.get("mean")?.get("point_estimate")?.as_f64()?;
    Some(batch as f64 * 1e9 / mean_ns)
}

struct Ms(Duration);

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}", self.0.as_secs_f64() * 1e3)
    }
}

/// Prints the table; with `full` (a real `cargo bench` run), judges the goals and writes
/// the JSON too. A smoke run's numbers (debug build, a few requests) judge nothing.
fn report(rows: &[Latency], rounds: usize, full: bool) {
    // Ratios are the latency pass's: the median over its rounds of each round's ratio
    // to `bare` (see [`LATENCY_ROUNDS`]). Criterion's own estimate is shown beside it,
    // but a series measured seconds after `bare` drifts with the machine.
    let ratio = |r: &Latency| r.ratio;
    eprintln!();
    eprintln!(
        "mock_throughput: {CONNECTIONS} connections; latency over {} requests per target in \
         {rounds} interleaved rounds; goals (x bare): {}; p99 < {} ms",
        rows.first().map_or(0, |r| r.requests),
        GOAL_RATIOS
            .iter()
            .map(|(name, x)| format!("{name} >= {x}"))
            .collect::<Vec<_>>()
            .join(", "),
        GOAL_P99.as_millis()
    );
    eprintln!(
        "{:<19} {:>16} {:>14} {:>8} {:>11} {:>9} {:>9} {:>9}  goals",
        "target",
        "req/s criterion",
        "req/s (pass)",
        "x bare",
        "(rounds)",
        "p50 ms",
        "p99 ms",
        "max ms"
    );
    for r in rows {
        let crit = r
            .criterion_rate
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"));
        let x = ratio(r).map_or_else(|| "-".to_owned(), |x| format!("{x:.2}"));
        let range = r
            .ratio_range
            .map_or_else(|| "-".to_owned(), |(lo, hi)| format!("{lo:.2}-{hi:.2}"));
        let goals = if !full {
            String::new()
        } else if r.name.ends_with("_nojournal") {
            // Context, not a goal: the goals are the default mock's.
            "(journal off)".to_owned()
        } else if let Some(goal) = goal_ratio(r.name) {
            let fast = ratio(r).is_some_and(|x| x >= goal);
            let tail = r.p99 < GOAL_P99;
            format!(
                "throughput {} (>= {goal}), p99 {}",
                if fast { "met" } else { "MISSED" },
                if tail { "met" } else { "MISSED" }
            )
        } else {
            String::new()
        };
        eprintln!(
            "{:<19} {:>16} {:>14.0} {:>8} {:>11} {:>9} {:>9} {:>9}  {goals}",
            r.name,
            crit,
            r.rate,
            x,
            range,
            Ms(r.p50).to_string(),
            Ms(r.p99).to_string(),
            Ms(r.max).to_string()
        );
    }
    // The Enumerate answer is ~6x the bare server's: set against the bare server
    // sending those same bytes, what is left is the mock's own cost.
    let size_matched = rows
        .iter()
        .find(|r| r.name == "enumerate")
        .zip(rows.iter().find(|r| r.name == "bare_enum"))
        .map(|(e, b)| e.rate / b.rate);
    if let Some(x) = size_matched {
        eprintln!("enumerate x bare_enum (the bare server sending the same answer): {x:.2}");
    }
    // Against the floors: what a server that reads every request does at the least
    // (see the module's text), so the part of the gap to `bare` the mock could close.
    let rate = |name: &str| rows.iter().find(|r| r.name == name).map(|r| r.rate);
    let floors: Vec<(&str, f64)> = [("get", "floor_get"), ("enumerate", "floor_enum")]
        .into_iter()
        .filter_map(|(n, f)| Some((n, rate(n)? / rate(f)?)))
        .collect();
    if !floors.is_empty() {
        eprintln!(
            "the default mock x its floor: {}",
            floors
                .iter()
                .map(|(n, x)| format!("{n} {x:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // The journal's share: each target's rate over the journal-off mock's.
    let journal: Vec<String> = ["identify", "get", "enumerate"]
        .iter()
        .filter_map(|n| {
            let on = rows.iter().find(|r| r.name == *n)?;
            let off = rows.iter().find(|r| r.name == format!("{n}_nojournal"))?;
            Some(format!("{n} {:.2}", on.rate / off.rate))
        })
        .collect();
    if !journal.is_empty() {
        eprintln!(
            "the default mock x the mock without a journal: {}",
            journal.join(", ")
        );
    }
    if !full {
        eprintln!("(smoke run: these numbers measure nothing; run `cargo bench` for them)");
        return;
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let json = serde_json::json!({
        "connections": CONNECTIONS,
        "rounds": rounds,
        "goals": {
            "ratio_to_bare": GOAL_RATIOS.iter().map(|&(name, x)| (name.to_owned(), serde_json::json!(x))).collect::<serde_json::Map<_, _>>(),
            "p99_us": us(GOAL_P99),
        },
        "enumerate_ratio_to_bare_enum": size_matched,
        "ratio_to_floor": floors
            .iter()
            .map(|&(n, x)| (n.to_owned(), serde_json::json!(x)))
            .collect::<serde_json::Map<_, _>>(),
        "targets": rows.iter().map(|r| serde_json::json!({
            "target": r.name,
            "requests": r.requests,
            "requests_per_s_criterion": r.criterion_rate,
            "requests_per_s_pass": r.rate,
            "ratio_to_bare": ratio(r),
            "ratio_to_bare_rounds": r.ratio_range.map(|(lo, hi)| [lo, hi]),
            "p50_us": us(r.p50),
            "p99_us": us(r.p99),
            "max_us": us(r.max),
        })).collect::<Vec<_>>(),
    });
    let home = criterion_home();
    let path = home.join("mock_throughput_latency.json");
    let written = std::fs::create_dir_all(&home).and_then(|()| {
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&json).expect("JSON of numbers"),
        )
    });
    match written {
        Ok(()) => eprintln!("written to {}", path.display()),
        Err(e) => eprintln!("cannot write {}: {e}", path.display()),
    }
}

/// The runtime servers and load share: two workers, as on the 2-core machine the goals
/// were set on.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Starts the mock, the bare servers and the floors on `rt`, and checks once, outside
/// any timing, that every target answers what it must.
fn start_targets(rt: &tokio::runtime::Runtime) -> (Vec<MockServer>, Vec<Arc<Target>>) {
    let bare_body = Bytes::from(read(BARE_RESPONSE));
    let (mock, quiet, bare) = rt.block_on(async {
        let mock = MockServer::builder().start().await.expect("start the mock");
        let mut scenario = mock::Scenario::default_scenario();
        scenario.http.journal_capacity = 0;
        let quiet = MockServer::builder()
            .scenario(scenario)
            .start()
            .await
            .expect("start the mock without a journal");
        (mock, quiet, start_bare(bare_body).await)
    });
    let mock_addr = mock.addresses().0.expect("the mock listens on plain HTTP");
    let quiet_addr = quiet.addresses().0.expect("the mock listens on plain HTTP");
    let enumerate_request = request_envelope(
        wsman::ns::action::ENUMERATE,
        "CIM_NumericSensor",
        &[],
        "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>20</w:MaxElements></n:Enumerate>",
    );
    // A second baseline: the bare server answering the mock's own Enumerate answer
    // (~17 KB), so the cost of moving that many bytes through hyper and the kernel is
    // in a series of its own, apart from the cost of making them.
    let bare_enumerate = rt.block_on(async {
        let probe = Target::new(
            "enumerate",
            1,
            mock_addr,
            enumerate_request.clone(),
            Expect::AllItems(11),
        );
        let mut sender = connect(&probe).await;
        let (status, body) = exchange(&mut sender, &probe, 0).await;
        probe.check(status, &body);
        start_bare(body).await
    });
    let get_request = request_envelope(
        wsman::ns::action::GET,
        "CIM_ComputerSystem",
        &[
            ("CreationClassName", "CIM_ComputerSystem"),
            ("Name", "touchstone-sim"),
        ],
        "",
    );
    // The floors: the least work per request (every XML event read, the MessageID
    // echoed) answering the mock's own Get and Enumerate answers.
    let (floor_get, floor_enum) = rt.block_on(async {
        let mut floors = Vec::new();
        for (request, expect) in [
            (get_request.clone(), Expect::Instance("CIM_ComputerSystem")),
            (enumerate_request.clone(), Expect::AllItems(11)),
        ] {
            let probe = Target::new("probe", 1, mock_addr, request, expect);
            let mut sender = connect(&probe).await;
            let (status, body) = exchange(&mut sender, &probe, 0).await;
            probe.check(status, &body);
            floors.push(start_floor(body).await);
        }
        (floors[0], floors[1])
    });

    let targets: Vec<Arc<Target>> = vec![
        Target::new(
            "bare",
            2048,
            bare,
            request_envelope(wsman::ns::action::GET, "CIM_NumericSensor", &[], ""),
            Expect::Instance("CIM_NumericSensor"),
        ),
        Target::new(
            "identify",
            2048,
            mock_addr,
            read(IDENTIFY_REQUEST),
            Expect::IdentifyResponse,
        ),
        Target::new(
            "get",
            1024,
            mock_addr,
            get_request.clone(),
            Expect::Instance("CIM_ComputerSystem"),
        ),
        Target::new(
            "floor_get",
            2048,
            floor_get,
            get_request.clone(),
            Expect::Instance("CIM_ComputerSystem"),
        ),
        Target::new(
            "enumerate",
            256,
            mock_addr,
            enumerate_request.clone(),
            Expect::AllItems(11),
        ),
        Target::new(
            "bare_enum",
            1024,
            bare_enumerate,
            enumerate_request.clone(),
            Expect::AllItems(11),
        ),
        Target::new(
            "identify_nojournal",
            2048,
            quiet_addr,
            read(IDENTIFY_REQUEST),
            Expect::IdentifyResponse,
        ),
        Target::new(
            "get_nojournal",
            1024,
            quiet_addr,
            get_request,
            Expect::Instance("CIM_ComputerSystem"),
        ),
        Target::new(
            "enumerate_nojournal",
            256,
            quiet_addr,
            enumerate_request.clone(),
            Expect::AllItems(11),
        ),
        Target::new(
            "floor_enum",
            1024,
            floor_enum,
            enumerate_request,
            Expect::AllItems(11),
        ),
    ]
    .into_iter()
    .map(Arc::new)
    .collect();

    rt.block_on(async {
        for t in &targets {
            let mut sender = connect(t).await;
            let (status, body) = exchange(&mut sender, t, 0).await;
            t.check(status, &body);
        }
    });

    (vec![mock, quiet], targets)
}

fn mock_throughput(c: &mut Criterion) {
    let started = SystemTime::now();
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    // `cargo bench` passes --bench; `cargo test` does not (criterion then runs each
    // function once): keep that smoke run small. Under --profile-time only the
    // profiled series should run, so the latency pass is skipped.
    let full = has("--bench") && !has("--test");
    let profiling = has("--profile-time");
    // Requests per criterion iteration of one series.
    let batch = |t: &Target, connections: usize| match (full, connections) {
        (false, c) => c,
        (true, CONNECTIONS) => t.batch,
        (true, _) => t.batch / SINGLE_DIVISOR,
    };

    let rt = runtime();
    let (mocks, targets) = start_targets(&rt);

    let mut g = c.benchmark_group("mock_throughput");
    // A batch takes tens of milliseconds: flat sampling keeps 20 samples within 3 s.
    g.sampling_mode(SamplingMode::Flat);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    g.nresamples(20_000);
    // Targets whose 64-connection series criterion ran (its filter may skip some).
    let mut ran = BTreeSet::new();
    for connections in [CONNECTIONS, 1] {
        for (i, t) in targets.iter().enumerate() {
            let n = batch(t, connections);
            g.throughput(Throughput::Elements(n as u64));
            // Opened on first use and kept for the whole series, so no connection is
            // opened or closed while a batch is timed.
            let mut pool = None;
            g.bench_function(BenchmarkId::new(t.name, format!("c{connections}")), |b| {
                if connections == CONNECTIONS {
                    ran.insert(i);
                }
                let pool =
                    pool.get_or_insert_with(|| rt.block_on(Pool::open(t.clone(), connections)));
                b.iter_custom(|iters| rt.block_on(pool.timed(iters, n)));
            });
            drop(pool);
        }
    }
    g.finish();

    if !profiling && !ran.is_empty() {
        let (requests, warmup) = if full {
            (LATENCY_REQUESTS, LATENCY_WARMUP)
        } else {
            (CONNECTIONS * 2, CONNECTIONS)
        };
        let home = criterion_home();
        let chosen: Vec<Arc<Target>> = ran.iter().map(|&i| targets[i].clone()).collect();
        let rounds = if full { LATENCY_ROUNDS } else { 2 };
        let mut rows = rt.block_on(latency_pass(&chosen, requests, warmup, rounds));
        for (row, t) in rows.iter_mut().zip(&chosen) {
            let id = format!("{}/c{CONNECTIONS}", t.name);
            row.criterion_rate = criterion_rate(&home, &id, batch(t, CONNECTIONS), started);
        }
        report(&rows, rounds, full);
    }
    for mock in mocks {
        rt.block_on(mock.shutdown());
    }
}

/// `--solo TARGET [SECONDS]`: one target alone, for paired runs (`benches/pair.sh`).
/// Starts the servers as the bench does, warms the target up for a second, then keeps
/// [`CONNECTIONS`] connections busy for SECONDS (default 8) and prints one line to
/// stdout, `solo TARGET REQUESTS SECONDS RATE`. Two such processes run at the same
/// time (two builds, or the mock and `bare`) see one machine state, so the ratio of
/// their rates is far steadier on a noisy machine than two runs one after the other.
fn solo(name: &str, seconds: f64) {
    let rt = runtime();
    let (mocks, targets) = start_targets(&rt);
    let Some(target) = targets.iter().find(|t| t.name == name).cloned() else {
        let names: Vec<&str> = targets.iter().map(|t| t.name).collect();
        eprintln!(
            "--solo: no target `{name}` (the targets: {})",
            names.join(", ")
        );
        std::process::exit(2);
    };
    let (requests, elapsed) = rt.block_on(async {
        let mut pool = Pool::open(target.clone(), CONNECTIONS).await;
        let warm = Instant::now() + Duration::from_secs(1);
        while Instant::now() < warm {
            pool.batch(CONNECTIONS * 4, false).await;
        }
        let start = Instant::now();
        let end = start + Duration::from_secs_f64(seconds);
        let mut requests = 0;
        while Instant::now() < end {
            pool.batch(CONNECTIONS * 4, false).await;
            requests += CONNECTIONS * 4;
        }
        (requests, start.elapsed())
    });
    let secs = elapsed.as_secs_f64();
    println!(
        "solo {name} {requests} {secs:.3} {:.0}",
        requests as f64 / secs
    );
    for mock in mocks {
        rt.block_on(mock.shutdown());
    }
}

criterion_group!(benches, mock_throughput);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--solo") {
        let Some(name) = args.get(i + 1) else {
            eprintln!("usage: mock_throughput --solo TARGET [SECONDS]");
            std::process::exit(2);
        };
        let seconds = match args.get(i + 2).map(|s| s.parse::<f64>()) {
            None => 8.0,
            Some(Ok(s)) if s > 0.0 && s.is_finite() => s,
            Some(_) => {
                eprintln!("--solo: SECONDS must be a positive number");
                std::process::exit(2);
            }
        };
        solo(name, seconds);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
