//! The IPMI LAN client against an in-test UDP BMC: `ipmi::session::Bmc` with a small
//! fake application (two users), on loopback.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use client::ipmi::{IpmiError, IpmiSession, IpmiTarget, Retry};
use ipmi::app::{Application, Request, Response, UserRecord};
use ipmi::codes::{Privilege, cc};
use ipmi::console::SuiteChoice;
use ipmi::rmcp::AuthType;
use ipmi::session::{Bmc, BmcConfig};
use rand::SeedableRng as _;
use tokio::net::UdpSocket;

struct App;

fn user(id: u8, name: &str, p: Privilege) -> UserRecord {
    UserRecord {
        id,
        name: name.as_bytes().to_vec(),
        password: name.as_bytes().to_vec(),
        max_privilege: p,
        enabled: true,
    }
}

impl Application for App {
    fn user_by_name(&self, name: &[u8]) -> Option<UserRecord> {
        match name {
            b"admin" => Some(user(2, "admin", Privilege::Administrator)),
            b"user" => Some(user(3, "user", Privilege::User)),
            _ => None,
        }
    }
    fn user_by_id(&self, id: u8) -> Option<UserRecord> {
        match id {
            2 => self.user_by_name(b"admin"),
            3 => self.user_by_name(b"user"),
            _ => None,
        }
    }
    fn guid(&self) -> [u8; 16] {
        [7; 16]
    }
    fn handle(&mut self, req: &Request<'_>, _now_ms: u64) -> Response {
        match (req.netfn, req.cmd) {
            (0x06, 0x01) => Response::ok(vec![0x20, 0x81, 0x01, 0x02, 0x02]),
            _ => Response::cc(cc::INVALID_COMMAND),
        }
    }
    fn sol_input(&mut self, _s: u32, _d: &[u8], _n: u64) -> Vec<u8> {
        Vec::new()
    }
    fn sol_activated(&mut self, _s: u32, _n: u64) -> Vec<u8> {
        Vec::new()
    }
}

/// A UDP BMC on loopback, answering until the test ends.
async fn bmc(config: BmcConfig) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut bmc = Bmc::new(config);
        let mut app = App;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let start = Instant::now();
        let mut buf = vec![0u8; 2048];
        while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
            let now = start.elapsed().as_millis() as u64;
            let h = bmc.handle_from(&mut app, &buf[..n], Some(peer), now, &mut rng);
            for r in h.replies {
                let _ = socket.send_to(&r, peer).await;
            }
        }
    });
    addr
}

fn target(addr: SocketAddr, user: &str) -> IpmiTarget {
    let mut t = IpmiTarget::new(addr, user, user);
    t.retry = Retry {
        timeout: Duration::from_millis(500),
        attempts: 2,
    };
    t
}

#[tokio::test]
async fn ping_caps_suites_and_logins_with_every_suite() {
    let addr = bmc(BmcConfig::default()).await;
    let mut s = IpmiSession::open(&target(addr, "admin"), 1).await.unwrap();
    let pong = s.ping().await.unwrap();
    assert_eq!(pong.entities & 0x80, 0x80, "IPMI supported bit");
    let caps15 = s.auth_caps(false).await.unwrap();
    assert_eq!(caps15.completion, 0);
    assert_eq!(caps15.data.len(), 8);
    let caps20 = s.auth_caps(true).await.unwrap();
    assert_eq!(caps20.data[1] & 0x80, 0x80, "IPMI 2.0 extended data");
    let records = s.cipher_suite_records().await.unwrap();
    assert!(records.windows(2).any(|w| w == [0xC0, 17]), "{records:?}");
    for suite in [1u8, 2, 3, 17] {
        let info = s
            .login_v20(Privilege::Administrator, SuiteChoice::Id(suite))
            .await
            .unwrap();
        assert_eq!(info.suite, Some(suite));
        assert_eq!(info.privilege, Privilege::Administrator);
        let r = s.command(0x06, 0x01, &[]).await.unwrap();
        assert_eq!((r.completion, r.data[0]), (0, 0x20));
        let r = s.command(0x2C, 0x00, &[0]).await.unwrap();
        assert_eq!(r.completion, 0xC1);
        assert_eq!(s.close().await.unwrap(), 0);
    }
    let t = s.take_transcript();
    assert!(t.iter().any(|p| p.header.contains("encrypted")));
    assert!(t.iter().any(|p| p.message.contains("cmd 0x01")));
    serde_json::to_string(&t).unwrap();
}

#[tokio::test]
async fn ipmi15_md5_and_password_logins() {
    let addr = bmc(BmcConfig::default()).await;
    let mut s = IpmiSession::open(&target(addr, "admin"), 2).await.unwrap();
    for auth in [AuthType::Md5, AuthType::Password] {
        let info = s.login_v15(Privilege::Administrator, auth).await.unwrap();
        assert_eq!(info.suite, None);
        assert_eq!(info.privilege, Privilege::Administrator);
        let r = s.command(0x06, 0x01, &[]).await.unwrap();
        assert_eq!(r.completion, 0);
        assert_eq!(s.close().await.unwrap(), 0);
    }
}

#[tokio::test]
async fn negative_tools_replay_bad_integrity_wrong_password() {
    let addr = bmc(BmcConfig::default()).await;
    let mut s = IpmiSession::open(&target(addr, "admin"), 3).await.unwrap();
    s.login_v20(Privilege::Administrator, SuiteChoice::Id(3))
        .await
        .unwrap();
    s.command(0x06, 0x01, &[]).await.unwrap();
    let replay = s.last_sent();
    s.send_raw(&replay, "replay of Get Device ID")
        .await
        .unwrap();
    assert!(s.expect_silence(Duration::from_millis(200)).await.unwrap());
    s.faults().corrupt_auth_code = true;
    let silent = s
        .command_expect_silence(0x06, 0x01, &[], Duration::from_millis(200))
        .await
        .unwrap();
    assert!(silent, "a corrupted AuthCode must be dropped");
    // The session still works with the next good sequence number.
    assert_eq!(s.command(0x06, 0x01, &[]).await.unwrap().completion, 0);

    let mut bad = IpmiSession::open(&target(addr, "admin").with_credentials("admin", "nope"), 4)
        .await
        .unwrap();
    let e = bad
        .login_v20(Privilege::Administrator, SuiteChoice::Id(3))
        .await
        .unwrap_err();
    assert!(matches!(e, IpmiError::Console(_)), "{e}");
    let mut unknown = IpmiSession::open(&target(addr, "nobody"), 5).await.unwrap();
    let e = unknown
        .login_v20(Privilege::Administrator, SuiteChoice::Id(3))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("0x0d"), "{e}");
}

#[tokio::test]
async fn a_silent_target_times_out_within_the_deadline() {
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let mut t = target(addr, "admin");
    t.retry = Retry {
        timeout: Duration::from_millis(100),
        attempts: 3,
    };
    let mut s = IpmiSession::open(&t, 6).await.unwrap();
    let start = Instant::now();
    let e = s.ping().await.unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert!(start.elapsed() < Duration::from_secs(2));
    let mut got = vec![0u8; 64];
    let (n, _) = silent.recv_from(&mut got).await.unwrap();
    assert_eq!(
        &got[..4],
        &[6, 0, 0xFF, 6],
        "an ASF ping went out ({n} bytes)"
    );
    assert!(e.to_string().contains("3 attempt"), "{e}");
}
