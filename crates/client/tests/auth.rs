//! Basic and Digest authentication against in-test servers that check the
//! credentials themselves (the Digest check is written here from RFC 7616 §3.4.1,
//! independently of the client's code).

mod support;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use client::{AuthScheme, Client, RawRequest, Target};
use md5::Md5;
use sha2::{Digest as _, Sha256};
use support::{Seen, auth_params, response, serve};

const USER: &str = "admin";
const PASSWORD: &str = "s3cret pass";
const REALM: &str = "touchstone-test";

fn basic_handler(seen: &Seen) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    if seen.header("authorization") == Some(expected.as_str()) {
        response(200, &[("content-type", "text/plain")], "welcome")
    } else {
        response(
            401,
            &[("www-authenticate", &format!("Basic realm=\"{REALM}\""))],
            "",
        )
    }
}

fn client(url: String) -> Client {
    Client::new(Target::new(url).credentials(USER, PASSWORD)).unwrap()
}

#[tokio::test]
async fn basic_answers_the_401_then_goes_preemptive() {
    let server = serve(basic_handler, None).await;
    let c = client(server.url("http"));

    let first = c.send_raw(RawRequest::post("hello")).await.unwrap();
    assert_eq!(first.status(), Some(200));
    assert_eq!(first.auth_scheme.as_deref(), Some("Basic"));
    assert_eq!(first.auth_legs.len(), 1, "the 401 leg is in the transcript");
    let leg = &first.auth_legs[0];
    assert_eq!(leg.response.status, 401);
    assert!(
        leg.request
            .headers
            .iter()
            .all(|(k, _)| !k.eq_ignore_ascii_case("authorization"))
    );
    assert_eq!(leg.request.body.as_ref(), b"hello");
    assert!(
        first
            .request
            .headers
            .contains(&("Authorization".into(), "Basic <redacted>".into()))
    );

    // The target's scheme is known now: the next request carries Basic at once.
    let second = c.send_raw(RawRequest::post("again")).await.unwrap();
    assert_eq!(second.status(), Some(200));
    assert!(second.auth_legs.is_empty());
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn forced_basic_is_preemptive_from_the_first_request() {
    let server = serve(basic_handler, None).await;
    let c = Client::new(
        Target::new(server.url("http"))
            .credentials(USER, PASSWORD)
            .auth(AuthScheme::Basic),
    )
    .unwrap();
    let ex = c.send_raw(RawRequest::post("x")).await.unwrap();
    assert_eq!(ex.status(), Some(200));
    assert!(ex.auth_legs.is_empty());
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn wrong_password_returns_the_final_401_with_a_note() {
    let server = serve(basic_handler, None).await;
    let c = Client::new(Target::new(server.url("http")).credentials(USER, "wrong")).unwrap();
    let ex = c.send_raw(RawRequest::post("x")).await.unwrap();
    assert_eq!(ex.status(), Some(401));
    assert_eq!(ex.auth_legs.len(), 1, "one retry with credentials, no more");
    assert!(
        ex.notes.iter().any(|n| n.contains("refused")),
        "{:?}",
        ex.notes
    );
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn without_credentials_the_401_is_the_answer() {
    let server = serve(basic_handler, None).await;
    let c = Client::new(Target::new(server.url("http"))).unwrap();
    let ex = c.send_raw(RawRequest::post("x")).await.unwrap();
    assert_eq!(ex.status(), Some(401));
    assert!(ex.auth_legs.is_empty());
    // And a request marked without_auth does not authenticate even with credentials.
    let c = client(server.url("http"));
    let ex = c
        .send_raw(RawRequest::post("x").without_auth())
        .await
        .unwrap();
    assert_eq!(ex.status(), Some(401));
    assert!(ex.auth_legs.is_empty());
}

#[tokio::test]
async fn unauthenticated_identify_sends_the_header_and_no_credentials() {
    let server = serve(
        |s: &Seen| {
            if s.header("wsmanidentify") == Some("unauthenticated") {
                response(200, &[], "")
            } else {
                basic_handler(s)
            }
        },
        None,
    )
    .await;
    let c = client(server.url("http"));
    let ex = c.identify(true).await.unwrap();
    assert_eq!(ex.status(), Some(200));
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].header("authorization").is_none());
    assert_eq!(
        seen[0].header("content-type"),
        Some("application/soap+xml;charset=UTF-8")
    );
    assert!(String::from_utf8_lossy(&seen[0].body).contains("Identify"));
}

/// A Digest server checking RFC 7616 §3.4.1 itself.
struct DigestServer {
    /// Algorithms offered, in challenge order.
    offered: Vec<&'static str>,
    nonce: Mutex<String>,
    nonces: AtomicU32,
    /// Answer the next correct response with `stale=true` and a new nonce.
    stale_next: AtomicBool,
    /// (algorithm, nc) of every accepted response.
    accepted: Mutex<Vec<(String, u32)>>,
    last_nc: AtomicU32,
}

impl DigestServer {
    fn new(offered: Vec<&'static str>) -> Arc<DigestServer> {
        Arc::new(DigestServer {
            offered,
            nonce: Mutex::new("nonce-1".into()),
            nonces: AtomicU32::new(1),
            stale_next: AtomicBool::new(false),
            accepted: Mutex::new(Vec::new()),
            last_nc: AtomicU32::new(0),
        })
    }

    fn challenge(&self, stale: bool) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
        let nonce = self.nonce.lock().unwrap().clone();
        let mut b = hyper::Response::builder().status(401);
        for alg in &self.offered {
            b = b.header(
                "www-authenticate",
                format!(
                    "Digest realm=\"{REALM}\", qop=\"auth\", algorithm={alg}, nonce=\"{nonce}\", opaque=\"op/aque\"{}",
                    if stale { ", stale=true" } else { "" }
                ),
            );
        }
        b.body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap()
    }

    fn h(alg: &str, data: &str) -> String {
        let bytes: Vec<u8> = match alg {
            "MD5" => Md5::digest(data.as_bytes()).to_vec(),
            "SHA-256" => Sha256::digest(data.as_bytes()).to_vec(),
            other => panic!("test server does not offer {other}"),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn handle(&self, seen: &Seen) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
        let Some(authz) = seen.header("authorization") else {
            return self.challenge(false);
        };
        let Some(params) = authz.strip_prefix("Digest ") else {
            return self.challenge(false);
        };
        let p = auth_params(params);
        let get = |k: &str| {
            p.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no {k} in {authz}"))
        };
        let alg = get("algorithm");
        assert!(self.offered.contains(&alg), "{alg} was not offered");
        assert_eq!(get("username"), USER);
        assert_eq!(get("realm"), REALM);
        assert_eq!(get("uri"), seen.target, "uri is the request-target");
        assert_eq!(get("qop"), "auth");
        assert_eq!(get("opaque"), "op/aque");
        let nc_text = get("nc");
        assert_eq!(nc_text.len(), 8, "nc is 8 hex digits");
        let nc = u32::from_str_radix(nc_text, 16).unwrap();
        let cnonce = get("cnonce");
        assert!(cnonce.len() >= 8, "a real cnonce");
        let nonce = self.nonce.lock().unwrap().clone();
        if get("nonce") != nonce {
            return self.challenge(false);
        }
        let ha1 = Self::h(alg, &format!("{USER}:{REALM}:{PASSWORD}"));
        let ha2 = Self::h(alg, &format!("{}:{}", seen.method, seen.target));
        let expected = Self::h(alg, &format!("{ha1}:{nonce}:{nc_text}:{cnonce}:auth:{ha2}"));
        if get("response") != expected {
            return self.challenge(false);
        }
        let prev = self.last_nc.swap(nc, Ordering::SeqCst);
        assert!(
            nc > prev,
            "nc must grow with each use of a nonce ({prev} then {nc})"
        );
        if self.stale_next.swap(false, Ordering::SeqCst) {
            let n = self.nonces.fetch_add(1, Ordering::SeqCst) + 1;
            *self.nonce.lock().unwrap() = format!("nonce-{n}");
            self.last_nc.store(0, Ordering::SeqCst);
            return self.challenge(true);
        }
        self.accepted.lock().unwrap().push((alg.to_owned(), nc));
        response(200, &[("content-type", "text/plain")], "ok")
    }
}

async fn digest_server(offered: Vec<&'static str>) -> (support::Server, Arc<DigestServer>) {
    let d = DigestServer::new(offered);
    let d2 = d.clone();
    (serve(move |s: &Seen| d2.handle(s), None).await, d)
}

#[tokio::test]
async fn digest_md5() {
    let (server, d) = digest_server(vec!["MD5"]).await;
    let c = client(server.url("http"));
    let ex = c.send_raw(RawRequest::post("one")).await.unwrap();
    assert_eq!(ex.status(), Some(200), "{:?}", ex.notes);
    assert_eq!(ex.auth_scheme.as_deref(), Some("Digest MD5"));
    assert_eq!(ex.auth_legs.len(), 1);
    assert_eq!(ex.auth_legs[0].response.status, 401);
    // Preemptive with the same nonce and the next nonce count.
    let ex = c.send_raw(RawRequest::post("two")).await.unwrap();
    assert_eq!(ex.status(), Some(200));
    assert!(ex.auth_legs.is_empty());
    assert_eq!(
        *d.accepted.lock().unwrap(),
        [("MD5".to_owned(), 1), ("MD5".to_owned(), 2)]
    );
}

#[tokio::test]
async fn digest_sha256() {
    let (server, d) = digest_server(vec!["SHA-256"]).await;
    let c = client(server.url("http"));
    let ex = c.send_raw(RawRequest::post("one")).await.unwrap();
    assert_eq!(ex.status(), Some(200), "{:?}", ex.notes);
    assert_eq!(ex.auth_scheme.as_deref(), Some("Digest SHA-256"));
    assert_eq!(*d.accepted.lock().unwrap(), [("SHA-256".to_owned(), 1)]);
    let authz = ex
        .request
        .headers
        .iter()
        .find(|(k, _)| k == "Authorization")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(authz.starts_with("Digest username=\"admin\""), "{authz}");
    assert!(authz.contains("response=<redacted>"), "{authz}");
}

#[tokio::test]
async fn digest_prefers_sha256_over_md5_offered_first() {
    let (server, d) = digest_server(vec!["MD5", "SHA-256"]).await;
    let c = client(server.url("http"));
    let ex = c.send_raw(RawRequest::post("x")).await.unwrap();
    assert_eq!(ex.status(), Some(200));
    assert_eq!(d.accepted.lock().unwrap()[0].0, "SHA-256");
}

#[tokio::test]
async fn stale_nonce_is_retried_with_the_new_nonce() {
    let (server, d) = digest_server(vec!["SHA-256"]).await;
    let c = client(server.url("http"));
    assert_eq!(
        c.send_raw(RawRequest::post("x")).await.unwrap().status(),
        Some(200)
    );
    d.stale_next.store(true, Ordering::SeqCst);
    let ex = c.send_raw(RawRequest::post("y")).await.unwrap();
    assert_eq!(ex.status(), Some(200), "{:?}", ex.notes);
    assert_eq!(ex.auth_legs.len(), 1, "the stale leg is in the transcript");
    assert!(
        ex.auth_legs[0]
            .response
            .header("www-authenticate")
            .unwrap()
            .contains("stale=true")
    );
    // nc restarts at 1 with the new nonce.
    assert_eq!(d.accepted.lock().unwrap().last().unwrap().1, 1);
}

#[tokio::test]
async fn digest_with_a_wrong_password_stops_after_one_answer() {
    let (server, d) = digest_server(vec!["SHA-256"]).await;
    let c = Client::new(Target::new(server.url("http")).credentials(USER, "nope")).unwrap();
    let ex = c.send_raw(RawRequest::post("x")).await.unwrap();
    assert_eq!(ex.status(), Some(401));
    assert_eq!(ex.auth_legs.len(), 1);
    assert!(d.accepted.lock().unwrap().is_empty());
    assert!(
        ex.notes.iter().any(|n| n.contains("refused")),
        "{:?}",
        ex.notes
    );
}

#[tokio::test]
async fn transcripts_redact_secrets() {
    let (server, _d) = digest_server(vec!["SHA-256"]).await;
    let c = client(server.url("http"));
    let digest = c.send_raw(RawRequest::post("x")).await.unwrap();
    let basic_server = serve(basic_handler, None).await;
    let c = client(basic_server.url("http"));
    let basic = c.send_raw(RawRequest::post("x")).await.unwrap();
    // A caller's own Authorization header is redacted too.
    let own = c
        .send_raw(RawRequest::post("x").header("Authorization", "Negotiate c2VjcmV0LXRva2Vu"))
        .await
        .unwrap();

    let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let real_response = server
        .seen()
        .iter()
        .filter_map(|s| s.header("authorization").map(str::to_owned))
        .next()
        .map(|h| {
            auth_params(h.strip_prefix("Digest ").unwrap())
                .into_iter()
                .find(|(k, _)| k == "response")
                .unwrap()
                .1
        })
        .unwrap();
    for ex in [&digest, &basic, &own] {
        let json = serde_json::to_string(ex).unwrap();
        for secret in [
            PASSWORD,
            token.as_str(),
            real_response.as_str(),
            "c2VjcmV0LXRva2Vu",
        ] {
            assert!(!json.contains(secret), "{secret} leaked into {json}");
        }
    }
    let json: serde_json::Value = serde_json::to_value(&basic).unwrap();
    assert_eq!(json["auth_legs"][0]["response"]["status"], 401);
    assert_eq!(json["request"]["body"], "x");
    assert_eq!(json["request"]["body_base64"], false);
    assert!(json["elapsed_ms"].as_f64().unwrap() >= 0.0);
}
