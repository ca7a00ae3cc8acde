//! NTLM on the mock's HTTP listener, judged by what a server owes: the password is
//! proven by the NTProofStr whether or not the client sends a MIC, a tampered MIC or a
//! replayed or garbage token is a 401 (never a 500), a login belongs to its connection,
//! and a sealed body that does not open is a 400 that never reaches the WS-Man handler.
//!
//! The AUTHENTICATE messages are crafted with the `ntlm` crate's initiator, over real
//! loopback connections; each test reads the journal to check what the mock concluded.

mod loopback;

use base64::Engine as _;
use loopback::{CIM, Conn, Framing, Req, SOAP_CT};
use mock::MockServer;
use mock::journal::{AuthOutcome, HttpRecord};
use ntlm::messages::{MIC_OFFSET, flags};
use ntlm::spnego::{self, NegTokenInit, NegTokenResp};
use ntlm::{Initiator, InitiatorConfig, Session};

const HOST: &str = "touchstone-sim";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_else(|e| panic!("not base64 ({e}): {s}"))
}

fn now() -> u64 {
    ntlm::filetime_from_unix_ms(1_767_225_600_000)
}

fn system_get() -> Req {
    Req::get(&format!("{CIM}CIM_ComputerSystem"))
        .selector("CreationClassName", "CIM_ComputerSystem")
        .selector("Name", HOST)
}

async fn post(conn: &mut Conn, headers: &[(&str, &str)], body: &[u8]) -> loopback::Answer {
    conn.send("POST", "/wsman", headers, body, Framing::Length)
        .await
        .expect("an answer")
}

/// The NEGOTIATE leg on `conn`; returns the CHALLENGE bytes.
async fn negotiate(conn: &mut Conn, ini: &mut Initiator) -> Vec<u8> {
    let auth = format!("Negotiate {}", b64(&ini.negotiate()));
    let a = post(conn, &[("Authorization", &auth)], b"").await;
    assert_eq!(a.status, 401, "{}", a.text());
    negotiate_token(&a)
}

/// The bytes of the answer's `WWW-Authenticate: Negotiate` token.
fn negotiate_token(a: &loopback::Answer) -> Vec<u8> {
    let token = a
        .headers_named("www-authenticate")
        .into_iter()
        .find_map(|c| c.strip_prefix("Negotiate "))
        .unwrap_or_else(|| panic!("no Negotiate token: {:?}", a.headers));
    unb64(token)
}

/// The SPNEGO NegTokenResp of the answer's `WWW-Authenticate: Negotiate` token.
fn negotiate_resp(a: &loopback::Answer) -> NegTokenResp {
    let spnego::Token::Resp(resp) = spnego::decode(&negotiate_token(a)).unwrap() else {
        panic!("not a NegTokenResp")
    };
    resp
}

/// Both legs, the AUTHENTICATE (after `tamper`) carrying a Get of the computer system.
async fn login(
    conn: &mut Conn,
    cfg: InitiatorConfig,
    tamper: impl FnOnce(&mut Vec<u8>),
) -> (loopback::Answer, Session, Vec<u8>) {
    let mut ini = Initiator::new(cfg);
    let challenge = negotiate(conn, &mut ini).await;
    let (mut auth, session) = ini
        .authenticate(&challenge, &mut rand::rng(), now())
        .expect("a CHALLENGE the initiator understands");
    tamper(&mut auth);
    let header = format!("Negotiate {}", b64(&auth));
    let body = system_get().xml();
    let a = post(
        conn,
        &[("Authorization", &header), ("Content-Type", SOAP_CT)],
        body.as_bytes(),
    )
    .await;
    (a, session, auth)
}

fn records(server: &MockServer) -> Vec<HttpRecord> {
    server
        .journal()
        .iter()
        .filter_map(|e| e.http().cloned())
        .collect()
}

fn last(server: &MockServer) -> HttpRecord {
    records(server).pop().expect("a journal entry")
}

fn admin(password: &str) -> InitiatorConfig {
    InitiatorConfig::new("admin", password)
}

#[tokio::test]
async fn without_a_mic_the_password_is_still_checked() {
    let server = MockServer::start().await.unwrap();
    let addr = server.addresses().0.unwrap();

    // No MsvAvFlags (so no MIC), wrong password.
    let mut cfg = admin("wrong");
    cfg.mic = false;
    let (a, ..) = login(&mut Conn::open(addr).await, cfg.clone(), |_| {}).await;
    assert_eq!(a.status, 401, "{}", a.text());
    assert!(
        a.text().contains("does not match the password"),
        "{}",
        a.text()
    );
    assert_eq!(last(&server).auth, AuthOutcome::Rejected);

    // The TARGET_INFO flag cleared as well.
    let mut no_info = cfg.clone();
    no_info.flags &= !flags::NEGOTIATE_TARGET_INFO;
    let (a, ..) = login(&mut Conn::open(addr).await, no_info.clone(), |_| {}).await;
    assert_eq!(a.status, 401, "{}", a.text());
    assert_eq!(last(&server).auth, AuthOutcome::Rejected);

    // The same two with the right password get in.
    for mut ok in [cfg, no_info] {
        ok.password = "admin".into();
        let (a, ..) = login(&mut Conn::open(addr).await, ok, |_| {}).await;
        assert_eq!(a.status, 200, "{}", a.text());
        assert!(a.text().contains(HOST), "{}", a.text());
        let r = last(&server);
        assert_eq!(
            (r.auth, r.user.as_deref()),
            (AuthOutcome::Negotiate, Some("admin"))
        );
        assert_eq!(r.operation.as_deref(), Some("Get"));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn wrong_password_tampered_mic_and_unknown_user_are_401() {
    let server = MockServer::start().await.unwrap();
    let addr = server.addresses().0.unwrap();
    let (a, ..) = login(&mut Conn::open(addr).await, admin("nope"), |_| {}).await;
    assert_eq!(a.status, 401, "{}", a.text());
    let (a, ..) = login(&mut Conn::open(addr).await, admin("admin"), |m| {
        m[MIC_OFFSET + 3] ^= 0x40;
    })
    .await;
    assert_eq!(a.status, 401, "{}", a.text());
    assert!(a.text().contains("MIC"), "{}", a.text());
    let (a, ..) = login(
        &mut Conn::open(addr).await,
        InitiatorConfig::new("nobody", "admin"),
        |_| {},
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.text());
    // Every refusal offers the schemes again, and no handler ran.
    assert!(a.headers_named("www-authenticate").contains(&"Negotiate"));
    let rs = records(&server);
    assert!(
        rs.iter()
            .all(|r| r.status == Some(401) && r.operation.is_none()),
        "{rs:?}"
    );
    assert_eq!(
        rs.iter()
            .filter(|r| r.auth == AuthOutcome::Rejected)
            .count(),
        3,
        "{rs:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn replayed_and_garbage_tokens_are_401_not_500() {
    let server = MockServer::start().await.unwrap();
    let addr = server.addresses().0.unwrap();
    let (a, _, auth) = login(&mut Conn::open(addr).await, admin("admin"), |_| {}).await;
    assert_eq!(a.status, 200, "{}", a.text());

    // The captured AUTHENTICATE on another connection: first without a NEGOTIATE, then
    // against a fresh challenge.
    let replay = format!("Negotiate {}", b64(&auth));
    let mut conn = Conn::open(addr).await;
    let a = post(&mut conn, &[("Authorization", &replay)], b"").await;
    assert_eq!(a.status, 401, "{}", a.text());
    let mut ini = Initiator::new(admin("admin"));
    negotiate(&mut conn, &mut ini).await;
    let a = post(&mut conn, &[("Authorization", &replay)], b"").await;
    assert_eq!(a.status, 401, "{}", a.text());

    let garbage = [
        "Negotiate".to_owned(),
        "Negotiate !!!".to_owned(),
        format!("Negotiate {}", b64(b"NTLMSSP\0\x03\0\0\0short")),
        format!("NTLM {}", b64(b"NTLMSSP\0\x01\0\0\0")),
        format!("Negotiate {}", b64(&[0x60, 0x82, 0xff, 0xff, 0x06])),
        format!("Negotiate {}", b64(&[0xa1, 0x03, 0x30, 0x01, 0x00])),
        format!("Negotiate {}", b64(&[0u8; 200])),
        format!("NTLM {}", b64(b"NTLMSSP\0\x07\0\0\0")),
    ];
    for g in &garbage {
        let mut conn = Conn::open(addr).await;
        let a = post(&mut conn, &[("Authorization", g)], b"").await;
        assert_eq!(a.status, 401, "{g}: {}", a.text());
        // The connection stays usable: a real login works on it afterwards.
        let mut ini = Initiator::new(admin("admin"));
        let challenge = negotiate(&mut conn, &mut ini).await;
        let (auth, _) = ini
            .authenticate(&challenge, &mut rand::rng(), now())
            .unwrap();
        let a = post(
            &mut conn,
            &[("Authorization", &format!("Negotiate {}", b64(&auth)))],
            b"",
        )
        .await;
        assert_eq!(a.status, 200, "{g}: {}", a.text());
    }
    assert!(records(&server).iter().all(|r| r.status != Some(500)));
    server.shutdown().await;
}

#[tokio::test]
async fn a_login_belongs_to_its_connection() {
    let server = MockServer::start().await.unwrap();
    let addr = server.addresses().0.unwrap();
    let mut conn = Conn::open(addr).await;
    let (a, ..) = login(&mut conn, admin("admin"), |_| {}).await;
    assert_eq!(a.status, 200);
    // Later requests on the same connection need no Authorization.
    let body = system_get().xml();
    let a = post(&mut conn, &[("Content-Type", SOAP_CT)], body.as_bytes()).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(last(&server).user.as_deref(), Some("admin"));
    // Another connection is not logged in.
    let a = post(
        &mut Conn::open(addr).await,
        &[("Content-Type", SOAP_CT)],
        body.as_bytes(),
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.text());
    server.shutdown().await;
}

/// Seals `plain` as pywinrm does.
fn sealed(session: &mut Session, plain: &[u8]) -> Vec<u8> {
    ntlm::winrm::seal(session, SOAP_CT, plain)
}

#[tokio::test]
async fn sealed_requests_are_opened_and_answers_sealed() {
    let server = MockServer::start().await.unwrap();
    let addr = server.addresses().0.unwrap();
    let mut conn = Conn::open(addr).await;
    let (a, mut session, _) = login(&mut conn, admin("admin"), |_| {}).await;
    assert_eq!(a.status, 200);
    let ct = ntlm::winrm::content_type();
    for _ in 0..3 {
        let body = sealed(&mut session, system_get().xml().as_bytes());
        let a = post(&mut conn, &[("Content-Type", &ct)], &body).await;
        assert_eq!(a.status, 200, "{}", a.text());
        let got_ct = a.header("content-type").unwrap().to_owned();
        assert!(got_ct.starts_with("multipart/encrypted"), "{got_ct}");
        let (original, plain) = ntlm::winrm::open(&mut session, &got_ct, &a.body).unwrap();
        assert!(original.starts_with("application/soap+xml"), "{original}");
        assert!(String::from_utf8_lossy(&plain).contains(HOST));
        let r = last(&server);
        assert!(r.encrypted);
        assert_eq!(r.user.as_deref(), Some("admin"));
        // The journal holds the plain SOAP both ways.
        assert!(
            r.request_body.data().contains("CIM_ComputerSystem"),
            "{:?}",
            r.request_body
        );
        assert!(r.response_body.unwrap().data().contains(HOST));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn broken_frames_and_bad_signatures_are_400_and_never_handled() {
    let server = MockServer::start().await.unwrap();
    let addr = server.addresses().0.unwrap();
    let ct = ntlm::winrm::content_type();
    let plain = system_get().xml();

    // A bad signature: one bit of the signature flipped.
    let mut conn = Conn::open(addr).await;
    let (_, mut session, _) = login(&mut conn, admin("admin"), |_| {}).await;
    let mut body = sealed(&mut session, plain.as_bytes());
    let at = body
        .windows(4)
        .position(|w| w == 16u32.to_le_bytes())
        .unwrap()
        + 4
        + 5;
    body[at] ^= 1;
    let a = post(&mut conn, &[("Content-Type", &ct)], &body).await;
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(a.text().contains("signature"), "{}", a.text());
    assert_eq!(a.header("connection"), Some("close"));

    // Tampered sealed bytes.
    let mut conn = Conn::open(addr).await;
    let (_, mut session, _) = login(&mut conn, admin("admin"), |_| {}).await;
    let mut body = sealed(&mut session, plain.as_bytes());
    let end = body.len() - "--Encrypted Boundary--\r\n".len() - 1;
    body[end] ^= 0x80;
    let a = post(&mut conn, &[("Content-Type", &ct)], &body).await;
    assert_eq!(a.status, 400, "{}", a.text());

    // Broken frames.
    let good = {
        let mut conn = Conn::open(addr).await;
        let (_, mut session, _) = login(&mut conn, admin("admin"), |_| {}).await;
        sealed(&mut session, plain.as_bytes())
    };
    let frames: Vec<Vec<u8>> = vec![
        b"not multipart at all".to_vec(),
        good[..good.len() / 2].to_vec(),
        String::from_utf8_lossy(&good)
            .replace("Length=", "Length=x")
            .into_bytes(),
        [&good[..], b"trailing"].concat(),
    ];
    for f in frames {
        let mut conn = Conn::open(addr).await;
        let (..) = login(&mut conn, admin("admin"), |_| {}).await;
        let a = post(&mut conn, &[("Content-Type", &ct)], &f).await;
        assert_eq!(a.status, 400, "{}", a.text());
    }
    // A frame that opens, but whose OriginalContent type has a control character:
    // it cannot be the handler's Content-Type.
    let mut conn = Conn::open(addr).await;
    let (_, mut session, _) = login(&mut conn, admin("admin"), |_| {}).await;
    let body = ntlm::winrm::seal(
        &mut session,
        "application/soap+xml;charset=UTF-8\u{1}",
        plain.as_bytes(),
    );
    let a = post(&mut conn, &[("Content-Type", &ct)], &body).await;
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(a.text().contains("OriginalContent type"), "{}", a.text());
    assert_eq!(a.header("connection"), Some("close"));

    // A sealed body on a connection without an NTLM session.
    let a = post(
        &mut Conn::open(addr).await,
        &[
            ("Content-Type", &ct),
            ("Authorization", &loopback::basic("admin", "admin")),
        ],
        &good,
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.text());

    // None of them reached the handler (which names the operation it saw).
    let rs = records(&server);
    let refused: Vec<_> = rs.iter().filter(|r| r.status == Some(400)).collect();
    assert_eq!(refused.len(), 8, "{rs:?}");
    assert!(
        refused
            .iter()
            .all(|r| r.operation.is_none() && !r.encrypted)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn allow_unencrypted_false_refuses_plain_soap_over_http() {
    let server = MockServer::builder()
        .scenario_str("[http]\nauth = [\"negotiate\"]\nallow_unencrypted = false\n")
        .unwrap()
        .start()
        .await
        .unwrap();
    let addr = server.addresses().0.unwrap();
    let mut conn = Conn::open(addr).await;
    let (a, mut session, _) = login(&mut conn, admin("admin"), |_| {}).await;
    assert_eq!(a.status, 401, "{}", a.text());
    assert!(a.text().contains("allow_unencrypted"), "{}", a.text());
    // The connection is logged in all the same; sealed bodies are welcome.
    let body = sealed(&mut session, system_get().xml().as_bytes());
    let ct = ntlm::winrm::content_type();
    let a = post(&mut conn, &[("Content-Type", &ct)], &body).await;
    assert_eq!(a.status, 200, "{}", a.text());
    // The challenge list of a negotiate-only scenario is Negotiate alone.
    let a = post(
        &mut Conn::open(addr).await,
        &[("Content-Type", SOAP_CT)],
        b"<x/>",
    )
    .await;
    assert_eq!(a.headers_named("www-authenticate"), ["Negotiate"]);
    server.shutdown().await;
}

/// SPNEGO-wrapped NTLM with the mechListMIC exchange, as pyspnego does it.
#[tokio::test]
async fn spnego_wrapped_login_checks_the_mech_list_mic() {
    let server = MockServer::start().await.unwrap();
    let addr = server.addresses().0.unwrap();
    for tamper_mic in [false, true] {
        let mut conn = Conn::open(addr).await;
        let mut ini = Initiator::new(admin("admin"));
        let init = NegTokenInit::ntlm(ini.negotiate());
        let header = format!("Negotiate {}", b64(&init.encode()));
        let a = post(&mut conn, &[("Authorization", &header)], b"").await;
        assert_eq!(a.status, 401);
        let resp = negotiate_resp(&a);
        assert_eq!(resp.supported_mech.as_deref(), Some(spnego::NTLM_OID));
        let (auth, mut session) = ini
            .authenticate(&resp.response_token.unwrap(), &mut rand::rng(), now())
            .unwrap();
        let mut mic = session.sign(&init.mech_type_list);
        session.reset_send_rc4();
        if tamper_mic {
            mic[6] ^= 1;
        }
        let resp = NegTokenResp {
            response_token: Some(auth),
            mech_list_mic: Some(mic.to_vec()),
            ..NegTokenResp::default()
        };
        let header = format!("Negotiate {}", b64(&resp.encode()));
        let a = post(&mut conn, &[("Authorization", &header)], b"").await;
        if tamper_mic {
            assert_eq!(a.status, 401, "{}", a.text());
            continue;
        }
        assert_eq!(a.status, 200, "{}", a.text());
        let fin = negotiate_resp(&a);
        assert_eq!(fin.neg_state, Some(spnego::neg_state::ACCEPT_COMPLETED));
        session
            .verify(&init.mech_type_list, &fin.mech_list_mic.unwrap())
            .expect("the server's mechListMIC verifies");
        session.reset_recv_rc4();
        // Sealing continues after the MICs (sequence 1, fresh RC4 streams).
        let body = sealed(&mut session, system_get().xml().as_bytes());
        let ct = ntlm::winrm::content_type();
        let a = post(&mut conn, &[("Content-Type", &ct)], &body).await;
        assert_eq!(a.status, 200, "{}", a.text());
        let (_, plain) =
            ntlm::winrm::open(&mut session, a.header("content-type").unwrap(), &a.body).unwrap();
        assert!(String::from_utf8_lossy(&plain).contains(HOST));
    }
    server.shutdown().await;
}
