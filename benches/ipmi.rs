//! IPMI over LAN: the per-packet cost of an RMCP+ session, and full logins per second
//! against the mock over UDP loopback.
//!
//! `ipmi_packet` (throughput in datagram bytes): what a receiver does with one session
//! packet carrying a 128-byte Read FRU Data answer — RMCP+ framing, trailer split,
//! integrity check, AES-CBC-128 decryption, IPMI message decode — for suite 17
//! (HMAC-SHA256-128) and suite 3 (HMAC-SHA1-96), next to two baselines from the same
//! run: the same message in a suite-0 packet (framing and message decode only), and the
//! bare primitives (one HMAC over the same bytes plus one AES-CBC decryption, no
//! framing), so the framing's share is the difference.
//!
//! `ipmi_login` (throughput in logins): a complete RMCP+ login with suite 17 (Open
//! Session, RAKP 1-4, Set Session Privilege) and a Close Session, by the `ipmi` crate's
//! console over a tokio `UdpSocket`, against `MockServer` with IPMI on loopback.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ipmi::console::{Console, ConsoleConfig, Event, SuiteChoice};
use ipmi::crypto::{self, CipherSuite, SessionKeys};
use ipmi::msg::Message;
use ipmi::rmcp::{self, Frame};
use mock::MockServer;
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use tokio::net::UdpSocket;

/// A Read FRU Data answer with `n` data bytes, as the BMC sends it.
fn fru_answer(n: usize) -> Vec<u8> {
    let request = Message::request(0x0A, 0x11, 5, vec![0, 0, 0, n as u8]);
    let mut data = vec![n as u8];
    data.extend((0..n).map(|i| i as u8));
    request.response(0, &data).to_bytes()
}

/// An RMCP+ session packet carrying `message`, sealed with `keys` (or in the clear).
fn seal(keys: Option<&SessionKeys>, message: &[u8]) -> Vec<u8> {
    let Some(keys) = keys else {
        return rmcp::encode_v20_unsigned(0, false, false, 0x0102_0304, 7, message);
    };
    let iv = [0x5A; 16];
    let payload = crypto::aes_encrypt(&keys.aes_key(), &iv, message);
    let mut out = rmcp::encode_v20_unsigned(0, true, true, 0x0102_0304, 7, &payload);
    let code = keys.auth_code(&out[4..]);
    out.extend_from_slice(&code);
    out
}

/// What a receiver does with one packet; returns the message's data length.
fn open(keys: Option<&SessionKeys>, datagram: &[u8]) -> usize {
    let Ok(Frame::V20(p)) = rmcp::decode(datagram) else {
        panic!("an RMCP+ packet");
    };
    let payload = match keys {
        Some(keys) => {
            let code_len = keys.suite.integrity.code_len();
            let (covered, code) =
                rmcp::split_trailer(datagram, p.trailer_offset, code_len).expect("trailer");
            assert!(keys.verify(covered, code));
            crypto::aes_decrypt(&keys.aes_key(), p.payload).expect("decrypts")
        }
        None => p.payload.to_vec(),
    };
    Message::decode(&payload).expect("a message").data.len()
}

fn keys(suite: u8) -> SessionKeys {
    let suite = CipherSuite::by_id(suite).expect("suite");
    let sik = crypto::hmac(suite.auth, b"admin", &[b"bench session integrity key"]);
    SessionKeys::derive(suite, sik)
}

fn packet(c: &mut Criterion) {
    let message = fru_answer(128);
    let mut group = c.benchmark_group("ipmi_packet");
    for (name, k) in [
        ("suite17", Some(keys(17))),
        ("suite3", Some(keys(3))),
        ("suite0_clear", None),
    ] {
        let datagram = seal(k.as_ref(), &message);
        // Checked once, outside the timed loop: the packet opens to the message.
        assert_eq!(open(k.as_ref(), &datagram), message.len() - 7);
        group.throughput(Throughput::Bytes(datagram.len() as u64));
        group.bench_function(format!("{name}_verify_decrypt_decode"), |b| {
            b.iter(|| {
                open(
                    std::hint::black_box(k.as_ref()),
                    std::hint::black_box(&datagram),
                )
            })
        });
    }
    // The primitives alone over the same bytes as suite 17.
    let k = keys(17);
    let datagram = seal(Some(&k), &message);
    let Ok(Frame::V20(p)) = rmcp::decode(&datagram) else {
        unreachable!()
    };
    let covered = datagram[4..datagram.len() - 16].to_vec();
    let ciphertext = p.payload.to_vec();
    group.throughput(Throughput::Bytes(datagram.len() as u64));
    group.bench_function("raw_hmac_sha256_aes_cbc", |b| {
        b.iter(|| {
            let code = k.auth_code(std::hint::black_box(&covered));
            let plain = crypto::aes_decrypt(&k.aes_key(), std::hint::black_box(&ciphertext));
            (code, plain)
        })
    });
    group.finish();
}

struct Client {
    sock: UdpSocket,
    rng: StdRng,
    started: Instant,
}

impl Client {
    async fn roundtrip(&mut self, console: &mut Console, mut datagram: Vec<u8>) -> Event {
        let mut buf = vec![0u8; 1024];
        loop {
            self.sock.send(&datagram).await.expect("send");
            let n = tokio::time::timeout(Duration::from_secs(5), self.sock.recv(&mut buf))
                .await
                .expect("the mock answers")
                .expect("recv");
            let now = self.started.elapsed().as_millis() as u64;
            match console
                .receive(&buf[..n], now, &mut self.rng)
                .expect("valid")
            {
                Event::Send(next) => datagram = next,
                other => return other,
            }
        }
    }

    /// One full login and Close Session.
    async fn login_and_close(&mut self) {
        let mut console = Console::new(ConsoleConfig {
            suite: SuiteChoice::Id(17),
            ..ConsoleConfig::new("admin", "admin")
        });
        let now = self.started.elapsed().as_millis() as u64;
        let open = console.login_v20(now, &mut self.rng);
        let Event::LoggedIn { .. } = self.roundtrip(&mut console, open).await else {
            panic!("logged in");
        };
        let now = self.started.elapsed().as_millis() as u64;
        let close = console.close(now, &mut self.rng).expect("close");
        let Event::Response(m) = self.roundtrip(&mut console, close).await else {
            panic!("closed");
        };
        assert_eq!(m.completion(), Some(0));
    }
}

fn login(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (server, mut client) = rt.block_on(async {
        let server = MockServer::builder()
            .http(false)
            .ipmi(true)
            .start()
            .await
            .expect("mock");
        let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        sock.connect(server.ipmi_addr().expect("ipmi"))
            .await
            .expect("connect");
        let client = Client {
            sock,
            rng: StdRng::seed_from_u64(1),
            started: Instant::now(),
        };
        (server, client)
    });
    rt.block_on(client.login_and_close());
    let mut group = c.benchmark_group("ipmi_login");
    group.throughput(Throughput::Elements(1));
    group.bench_function("rmcpp_suite17_login_and_close", |b| {
        b.iter(|| rt.block_on(client.login_and_close()))
    });
    group.finish();
    // The journal is bounded; nothing else to check than that no session is left.
    assert!(server.mock().ipmi_sessions().is_empty());
    rt.block_on(server.shutdown());
}

criterion_group!(benches, packet, login);
criterion_main!(benches);
