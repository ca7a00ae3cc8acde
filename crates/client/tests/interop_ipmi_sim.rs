//! The IPMI LAN client against a BMC it did not grow up with: OpenIPMI's `ipmi_sim`
//! (Debian package `openipmi`), on loopback. The mock's session layer is proven by
//! ipmitool, freeipmi and pyghmi; this proves the client side (the conformance suite's
//! console) against an independent implementation: RMCP+ logins with suites 1, 2 and 3,
//! the IPMI 1.5 MD5 login, a refused suite 17 (ipmi_sim has no HMAC-SHA256 and answers
//! Open Session with a two-byte refusal), refused passwords and users, and commands in
//! the session.
//!
//! Without `ipmi_sim` on PATH (probed by `build.rs`) the test is ignored with the
//! reason and the install command; under `CI=true` it runs and fails (`.ci/run`
//! installs `openipmi`). ipmi_sim takes a fixed port
//! from its configuration: the test asks the system for a free UDP port on 127.0.0.1
//! and hands it over.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use client::ipmi::{IpmiError, IpmiSession, IpmiTarget};
use ipmi::codes::Privilege;
use ipmi::console::{ConsoleError, SuiteChoice};
use ipmi::rmcp::AuthType;

/// Kills ipmi_sim when the test ends, however it ends.
struct Sim {
    child: Child,
    _dir: TempDir,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether ipmi_sim runs. The test is ignored without it (see `build.rs`), so a run
/// that misses it fails with the reason.
fn have_ipmi_sim() -> bool {
    let found = Command::new("ipmi_sim")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "interop_ipmi_sim: ipmi_sim is missing (apt-get install -y openipmi); the build found \
         it (or CI=true): reinstall it, or rebuild (`touch crates/client/build.rs`) so that \
         the test is ignored"
    );
    found
}

/// Starts ipmi_sim with one admin account (admin/admin) on a free loopback port and
/// waits until it answers a presence ping.
async fn start() -> (Sim, SocketAddr) {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port")
        .port();
    let dir =
        std::env::temp_dir().join(format!("touchstone-ipmi-sim-{}-{port}", std::process::id()));
    std::fs::create_dir_all(dir.join("state")).expect("a temporary directory");
    let conf = format!(
        "name \"touchstone\"\n\
         set_working_mc 0x20\n\
         \x20 startlan 1\n\
         \x20   addr 127.0.0.1 {port}\n\
         \x20   priv_limit admin\n\
         \x20   allowed_auths_callback md5 straight\n\
         \x20   allowed_auths_user md5 straight\n\
         \x20   allowed_auths_operator md5 straight\n\
         \x20   allowed_auths_admin md5 straight\n\
         \x20   guid a123456789abcdefa123456789abcdef\n\
         \x20 endlan\n\
         \x20 user 2 true \"admin\" \"admin\" admin 10 md5 straight\n"
    );
    std::fs::write(dir.join("lan.conf"), conf).unwrap();
    std::fs::write(
        dir.join("emu.cmd"),
        "mc_setbmc 0x20\n\
         mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n\
         sel_enable 0x20 1000 0x0a\n\
         mc_enable 0x20\n",
    )
    .unwrap();
    // ipmi_sim reads emulator commands on stdin and exits at its end: keep it open.
    let mut child = Command::new("ipmi_sim")
        .arg("-c")
        .arg(dir.join("lan.conf"))
        .arg("-f")
        .arg(dir.join("emu.cmd"))
        .arg("-p")
        .arg("-s")
        .arg(dir.join("state"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ipmi_sim starts");
    // It echoes the command file, then prints its prompt: the LAN socket is bound. The
    // reader keeps draining its output afterwards (a closed pipe would kill it).
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line.contains("mc_enable") => {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(_) => {}
            }
        }
    });
    let ok = tokio::time::timeout(Duration::from_secs(10), rx).await;
    let sim = Sim {
        child,
        _dir: TempDir(dir),
    };
    assert!(
        matches!(ok, Ok(Ok(()))),
        "ipmi_sim did not come up (see its configuration above)"
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // The LAN socket is bound right after the command file ran; ping until it answers.
    let target = IpmiTarget::new(addr, "admin", "admin");
    // A ping before the socket is bound is refused at once (ICMP port unreachable):
    // ask again until it answers or 10 s have passed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut s = IpmiSession::open(&target, 1).await.unwrap();
        match s.ping().await {
            Ok(_) => break,
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("ipmi_sim not answering the ping yet: {e:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("ipmi_sim answers the RMCP presence ping: {e:?}"),
        }
    }
    (sim, addr)
}

#[cfg_attr(
    not(has_ipmi_sim),
    ignore = "ipmi_sim is not installed: apt-get update && apt-get install -y openipmi"
)]
#[tokio::test(flavor = "multi_thread")]
async fn the_client_logs_in_to_openipmi_ipmi_sim() {
    if !have_ipmi_sim() {
        return;
    }
    let (_sim, addr) = start().await;
    let target = IpmiTarget::new(addr, "admin", "admin");

    // RMCP+ with every suite ipmi_sim has, then a command in the session.
    for suite in [3u8, 2, 1] {
        let mut s = IpmiSession::open(&target, u64::from(suite)).await.unwrap();
        let info = s
            .login_v20(Privilege::Administrator, SuiteChoice::Id(suite))
            .await
            .unwrap_or_else(|e| panic!("suite {suite}: {e}"));
        assert_eq!(info.suite, Some(suite));
        let r = s.command(0x06, 0x01, &[]).await.expect("Get Device ID");
        assert_eq!(r.completion, 0, "suite {suite}: Get Device ID");
        assert!(r.data.len() >= 11, "suite {suite}: {:?}", r.data);
        assert_eq!(r.data[4], 0x02, "IPMI version 2.0 (mc_add said 0x02)");
        let r = s
            .command(0x00, 0x01, &[])
            .await
            .expect("Get Chassis Status");
        assert_eq!(r.completion, 0);
        s.close().await.expect("Close Session");
    }

    // Suite 17 (HMAC-SHA256) is not in ipmi_sim: a refusal, read from its short answer.
    let mut s = IpmiSession::open(&target, 17).await.unwrap();
    match s
        .login_v20(Privilege::Administrator, SuiteChoice::Id(17))
        .await
    {
        Err(IpmiError::Console(ConsoleError::Refused { stage, status })) => {
            assert_eq!(stage, "Open Session");
            assert_ne!(status, 0);
        }
        other => panic!("suite 17 against ipmi_sim: {other:?}"),
    }

    // Auto (17, then 3) ends in a suite-3 session, as ipmitool does.
    let mut s = IpmiSession::open(&target, 99).await.unwrap();
    let info = s
        .login_v20(Privilege::Administrator, SuiteChoice::Auto)
        .await
        .expect("automatic suite choice");
    assert_eq!(info.suite, Some(3));

    // IPMI 1.5 with MD5.
    let mut s = IpmiSession::open(&target, 15).await.unwrap();
    s.login_v15(Privilege::Administrator, AuthType::Md5)
        .await
        .expect("IPMI 1.5 MD5 login");
    let r = s.command(0x06, 0x01, &[]).await.expect("Get Device ID");
    assert_eq!(r.completion, 0);

    // A wrong password and an unknown user are refused.
    for (user, password) in [("admin", "wrong"), ("nobody", "admin")] {
        let t = IpmiTarget::new(addr, user, password);
        let mut s = IpmiSession::open(&t, 5).await.unwrap();
        let r = s
            .login_v20(Privilege::Administrator, SuiteChoice::Id(3))
            .await;
        assert!(r.is_err(), "{user}/{password} logged in: {r:?}");
    }
}
