//! `touchstone serve --ipmi ADDR`: the IPMI listener line is printed with the bound
//! address, the port answers RMCP (a presence ping and a sessionless Get Channel
//! Authentication Capabilities), and SIGTERM stops the server cleanly.

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(30);

/// Starts `touchstone serve ARGS`; its stdout lines arrive on the receiver (read on a
/// thread, so a silent binary fails the test in time).
fn serve(args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_touchstone"))
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

#[test]
fn serve_with_ipmi_prints_the_port_and_answers_rmcp() {
    let (mut child, rx) = serve(&["--http", "127.0.0.1:0", "--ipmi", "127.0.0.1:0"]);
    let mut lines = Vec::new();
    let ipmi: SocketAddr = loop {
        let line = match rx.recv_timeout(PATIENCE) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("no `ipmi:` line; got {lines:?}");
            }
        };
        if let Some(addr) = line.strip_prefix("ipmi: ") {
            break addr.parse().expect("ipmi: IP:PORT");
        }
        lines.push(line);
    };
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("http: http://127.0.0.1:")),
        "{lines:?}"
    );
    assert_ne!(ipmi.port(), 0);

    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(PATIENCE)).unwrap();
    // ASF presence ping, message tag 7.
    let ping = [6, 0, 0xFF, 6, 0, 0, 0x11, 0xBE, 0x80, 7, 0, 0];
    sock.send_to(&ping, ipmi).unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = sock.recv_from(&mut buf).expect("a pong");
    assert_eq!(&buf[..4], &[6, 0, 0xFF, 6], "RMCP/ASF: {:02x?}", &buf[..n]);
    assert_eq!(buf[8], 0x40, "pong");
    assert_eq!(buf[9], 7, "the ping's tag");
    // Sessionless Get Channel Authentication Capabilities (IPMI 1.5 framing, the
    // IPMI 2.0 bit), written out: rsAddr 20, NetFn App << 2, checksum, rqAddr 81,
    // rqSeq 1 << 2, command 38, channel 8E (this one, v2 data), Administrator, checksum.
    let mut msg = vec![0x20, 0x18];
    msg.push(checksum(&msg));
    msg.extend([0x81, 0x04, 0x38, 0x8E, 0x04]);
    msg.push(checksum(&msg[3..]));
    let mut datagram = vec![6, 0, 0xFF, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, msg.len() as u8];
    datagram.extend(&msg);
    sock.send_to(&datagram, ipmi).unwrap();
    let (n, _) = sock.recv_from(&mut buf).expect("an answer");
    let answer = &buf[..n];
    assert_eq!(
        &answer[..5],
        &[6, 0, 0xFF, 7, 0],
        "IPMI 1.5, no auth: {answer:02x?}"
    );
    let rsp = &answer[14..];
    assert_eq!(rsp[1], 0x1C, "NetFn App response: {answer:02x?}");
    assert_eq!(rsp[5], 0x38, "the command: {answer:02x?}");
    assert_eq!(rsp[6], 0x00, "completion code: {answer:02x?}");
    assert_eq!(rsp[7], 0x01, "channel 1: {answer:02x?}");

    let Ok((out, _)) = terminate(child, PATIENCE) else {
        panic!("serve did not stop on SIGTERM");
    };
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopping"));
}

/// Sends SIGTERM to `child` and waits at most `within` for it to exit: its output and
/// how long it took, or (after a SIGKILL) how long was waited.
fn terminate(
    child: std::process::Child,
    within: Duration,
) -> Result<(std::process::Output, Duration), Duration> {
    let pid = child.id().to_string();
    let signalled = std::time::Instant::now();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let out = child.wait_with_output();
        let _ = done_tx.send(());
        out
    });
    let stopped = done_rx.recv_timeout(within);
    let took = signalled.elapsed();
    if stopped.is_err() {
        let _ = Command::new("kill").args(["-9", &pid]).status();
        return Err(took);
    }
    Ok((waiter.join().unwrap().unwrap(), took))
}

/// The IPMI two's-complement checksum.
fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |a, b| a.wrapping_add(*b))
        .wrapping_neg()
}

/// `--ipmi ADDR` alone serves IPMI alone: no HTTP listener on 5985 (a port another
/// process may hold), as `serve --help` says.
#[test]
fn serve_with_ipmi_alone_opens_no_http_listener() {
    let (mut child, rx) = serve(&["--ipmi", "127.0.0.1:0"]);
    let mut lines = Vec::new();
    loop {
        let Ok(line) = rx.recv_timeout(PATIENCE) else {
            let _ = child.kill();
            panic!("no `ipmi:` line; got {lines:?}");
        };
        let done = line.starts_with("ipmi: ");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        !lines.iter().any(|l| l.starts_with("http")),
        "only the IPMI listener: {lines:?}"
    );
}

/// SIGTERM stops the server within about a second whatever is in flight (issue #13):
/// here an answer that drips one byte a minute, whose status line has already been
/// read, so the request is provably being served when the signal comes. The server
/// gives requests in flight 500 ms and its threads 200 ms more; the bound asserted is
/// looser than that, for a loaded machine, and far below the minute the answer would
/// take.
#[test]
fn sigterm_stops_serve_promptly_with_an_answer_in_flight() {
    use std::io::{Read as _, Write as _};
    let scenario = std::env::temp_dir().join(format!("ts-stall-{}.toml", std::process::id()));
    std::fs::write(
        &scenario,
        "[scenario]\nname = \"stall\"\n\n[[rules]]\nname = \"drip\"\n\
         answer = { transport = \"slow\", chunk_bytes = 1, interval_ms = 60000 }\n",
    )
    .unwrap();
    let (mut child, rx) = serve(&[
        "--http",
        "127.0.0.1:0",
        "--scenario",
        scenario.to_str().unwrap(),
    ]);
    let http: SocketAddr = loop {
        let Ok(line) = rx.recv_timeout(PATIENCE) else {
            let _ = child.kill();
            panic!("no `http:` line");
        };
        if let Some(url) = line.strip_prefix("http: http://") {
            break url.trim_end_matches("/wsman").parse().expect("IP:PORT");
        }
    };
    let body = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"#;
    let mut conn = std::net::TcpStream::connect(http).unwrap();
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        conn,
        "POST /wsman HTTP/1.1\r\nHost: {http}\r\nContent-Type: application/soap+xml;charset=UTF-8\r\n\
         WSMANIDENTIFY: unauthenticated\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = conn.read(&mut byte).expect("the answer's head arrives");
        assert_eq!(n, 1, "the connection closed early: {head:?}");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );

    let (out, took) = match terminate(child, Duration::from_secs(5)) {
        Ok(done) => done,
        Err(took) => {
            panic!("serve still running {took:?} after SIGTERM with an answer in flight")
        }
    };
    eprintln!("serve stopped {took:?} after SIGTERM");
    assert!(out.status.success(), "{out:?}");
    // The dripping answer was cut, not completed: the connection ends.
    let mut rest = Vec::new();
    let _ = conn.read_to_end(&mut rest);
    assert!(rest.len() < 10, "the answer went on: {rest:?}");
    let _ = std::fs::remove_file(&scenario);
}

/// `serve --fleet N --inventory F.json --inventory F.csv`: prints the fleet line and
/// the first and last machines, writes both inventories (the same machines), and a
/// SIGTERM stops it.
#[test]
fn serve_fleet_writes_its_inventory_and_stops_on_a_signal() {
    let dir = std::env::temp_dir().join(format!("touchstone-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, csv) = (dir.join("fleet.json"), dir.join("fleet.csv"));
    let (mut child, rx) = serve(&[
        "--fleet",
        "25",
        "--fleet-seed",
        "4",
        "--http",
        "127.6.0.1:0",
        "--ipmi",
        "127.6.0.1:0",
        "--inventory",
        json.to_str().unwrap(),
        "--inventory",
        csv.to_str().unwrap(),
    ]);
    let mut lines = Vec::new();
    while !lines
        .iter()
        .any(|l: &String| l.starts_with("inventory: ") && l.ends_with(".csv"))
    {
        match rx.recv_timeout(PATIENCE) {
            Ok(l) => lines.push(l),
            Err(_) => {
                let _ = child.kill();
                panic!("no inventory lines; got {lines:?}");
            }
        }
    }
    assert!(
        lines[0].starts_with("fleet: 25 machines, seed 4"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("first: m00000 node-00000 http http://127.6.0.1:")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("last: m00024 node-00024 http http://127.6.0.25:")),
        "{lines:?}"
    );
    let inv: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(inv["format"], "touchstone-fleet/1");
    assert_eq!(inv["seed"], 4);
    let machines = inv["machines"].as_array().unwrap();
    assert_eq!(machines.len(), 25);
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(
        rows[0],
        "id,index,scenario,hostname,wsman_url,https_url,ipmi,user,password,ipmi_user,ipmi_password,chaos"
    );
    assert_eq!(rows.len(), 26);
    for (row, m) in rows[1..].iter().zip(machines) {
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(cells[0], m["id"].as_str().unwrap());
        assert_eq!(cells[4], m["wsman_url"].as_str().unwrap());
        assert_eq!(cells[6], m["ipmi"].as_str().unwrap());
    }
    // The listed IPMI address answers an RMCP presence ping.
    let ipmi: SocketAddr = machines[7]["ipmi"].as_str().unwrap().parse().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(PATIENCE)).unwrap();
    sock.send_to(
        &[
            0x06, 0x00, 0xFF, 0x06, 0x00, 0x00, 0x11, 0xBE, 0x80, 0x01, 0x00, 0x00,
        ],
        ipmi,
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = sock.recv_from(&mut buf).expect("a pong");
    assert_eq!(
        from, ipmi,
        "the answer leaves from the machine's own address"
    );
    assert_eq!(buf[8], 0x40, "presence pong: {:02x?}", &buf[..n]);
    let done = terminate(child, Duration::from_secs(5)).expect("stops within 5 s");
    assert!(done.0.status.success() || done.0.status.code().is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bad fleet arguments are refused before anything listens.
#[test]
fn serve_fleet_refuses_bad_arguments() {
    for (args, says) in [
        (vec!["--fleet", "0"], "0 is not in 1..=65536"),
        (
            vec![
                "--fleet",
                "3",
                "--http",
                "127.7.0.1:0",
                "--ipmi",
                "127.7.0.2:0",
            ],
            "same IP",
        ),
        (vec!["--fleet-seed", "3"], "--fleet"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_touchstone"))
            .arg("serve")
            .args(&args)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// A scenario whose `[fleet]` table gives a size is served as that fleet without
/// `--fleet`; its table's seed and mix are used.
#[test]
fn a_scenario_with_a_fleet_size_is_served_as_a_fleet() {
    let dir = std::env::temp_dir().join(format!("touchstone-fleet-table-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("fleet.toml");
    std::fs::write(
        &scenario,
        "[fleet]\nsize = 3\nseed = 11\nhttp_port = 0\nipmi_port = 0\nfirst_ip = \"127.6.1.1\"\n\
         [[fleet.mix]]\nscenario = \"amt-like\"\nweight = 1\n",
    )
    .unwrap();
    let (child, rx) = serve(&["--scenario", scenario.to_str().unwrap()]);
    let first = rx.recv_timeout(PATIENCE).expect("a line");
    let second = rx.recv_timeout(PATIENCE).expect("a second line");
    let done = terminate(child, Duration::from_secs(5));
    assert!(first.starts_with("fleet: 3 machines, seed 11"), "{first}");
    assert!(
        second.starts_with("first: m00000 node-00000 http http://127.6.1.1:"),
        "{second}"
    );
    assert!(done.is_ok(), "stops on SIGTERM");
    let _ = std::fs::remove_dir_all(&dir);
}
