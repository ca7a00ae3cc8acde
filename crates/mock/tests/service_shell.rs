//! The WinRM remote shell (`.../windows/shell/cmd`) over real HTTP on loopback, with raw
//! SOAP: Create (ShellId selector and rsp:Shell body), Command, Send, Receive (streamed,
//! End="true", Running then Done), Signal, Delete, and the faults: unknown ShellId and
//! CommandId, a missing ShellId, TimedOut with code 2150858793, the per-user quota,
//! expiry. Also that a waiting Receive holds no lock (other requests go on) and wakes
//! when stdin arrives.

mod loopback;

use std::time::{Duration, Instant};

use loopback::*;
use wsman::body::Body;
use wsman::{FaultKind, ns};

const RSP: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
const CREATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create";
const DELETE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete";

fn create(options: &str, shell: &str) -> Req {
    Req::new(CREATE, ns::SHELL_CMD)
        .header(&format!("<w:OptionSet>{options}</w:OptionSet>"))
        .body(&format!(
            "<rsp:Shell xmlns:rsp=\"{RSP}\"><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>{shell}</rsp:Shell>"
        ))
}

fn on(shell: &str, action: &str, body: &str) -> Req {
    Req::new(action, ns::SHELL_CMD)
        .selector("ShellId", shell)
        .body(body)
}

fn command(shell: &str, cmd: &str, args: &[&str]) -> Req {
    let args: String = args
        .iter()
        .map(|a| format!("<rsp:Arguments>{a}</rsp:Arguments>"))
        .collect();
    on(
        shell,
        ns::action::COMMAND,
        &format!(
            "<rsp:CommandLine xmlns:rsp=\"{RSP}\"><rsp:Command>{cmd}</rsp:Command>{args}</rsp:CommandLine>"
        ),
    )
}

fn receive(shell: &str, id: &str) -> Req {
    on(
        shell,
        ns::action::RECEIVE,
        &format!(
            "<rsp:Receive xmlns:rsp=\"{RSP}\"><rsp:DesiredStream CommandId=\"{id}\">stdout stderr</rsp:DesiredStream></rsp:Receive>"
        ),
    )
}

fn send(shell: &str, id: &str, data: &[u8], end: bool) -> Req {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    on(
        shell,
        ns::action::SEND,
        &format!(
            "<rsp:Send xmlns:rsp=\"{RSP}\"><rsp:Stream Name=\"stdin\" CommandId=\"{id}\" End=\"{end}\">{b64}</rsp:Stream></rsp:Send>"
        ),
    )
}

fn signal(shell: &str, id: &str, code: &str) -> Req {
    on(
        shell,
        ns::action::SIGNAL,
        &format!(
            "<rsp:Signal xmlns:rsp=\"{RSP}\" CommandId=\"{id}\"><rsp:Code>{RSP}/signal/{code}</rsp:Code></rsp:Signal>"
        ),
    )
}

async fn open(c: &mut Client) -> String {
    let req = create("", "");
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::CREATE_RESPONSE);
    a.with_env(|e| {
        let Body::ResourceCreated(epr) = &e.body else {
            panic!("{}", a.text())
        };
        let id = epr
            .selector("ShellId")
            .expect("ShellId selector")
            .to_owned();
        let Some(Body::Shell(s)) = e.extra.first() else {
            panic!("no rsp:Shell after ResourceCreated: {}", a.text())
        };
        assert_eq!(s.shell_id.as_deref(), Some(id.as_str()));
        id
    })
}

async fn start(c: &mut Client, shell: &str, cmd: &str, args: &[&str]) -> String {
    let req = command(shell, cmd, args);
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::COMMAND_RESPONSE);
    a.with_env(|e| match &e.body {
        Body::CommandResponse(r) => r.command_id.to_string(),
        _ => panic!("{}", a.text()),
    })
}

/// One Receive: (stdout, stderr, ends, exit code if Done).
async fn recv(c: &mut Client, shell: &str, id: &str) -> (String, String, Vec<String>, Option<i64>) {
    let req = receive(shell, id);
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::RECEIVE_RESPONSE);
    a.with_env(|e| {
        let Body::ReceiveResponse(r) = &e.body else {
            panic!("{}", a.text())
        };
        let (mut out, mut err, mut ends) = (String::new(), String::new(), Vec::new());
        for s in &r.streams {
            assert_eq!(s.command_id.as_deref(), Some(id));
            let text = String::from_utf8(s.decode().unwrap()).unwrap();
            if s.end {
                ends.push(s.name.to_string());
            }
            match s.name.as_ref() {
                "stdout" => out += &text,
                "stderr" => err += &text,
                other => panic!("stream {other}"),
            }
        }
        let state = r.command_state.as_ref().expect("CommandState");
        let done = state
            .is_done()
            .then(|| state.exit_code.expect("ExitCode when Done"));
        if !state.is_done() {
            assert_eq!(state.state, ns::shell::STATE_RUNNING);
        }
        (out, err, ends, done)
    })
}

fn wsman_code(a: &Answer) -> Option<String> {
    a.with_env(|e| match &e.body {
        Body::Fault(f) => f.detail.wsman_fault.as_ref().map(|w| w.code.to_string()),
        _ => None,
    })
}

#[tokio::test]
async fn the_shell_lifecycle() {
    let server = serve("").await;
    let mut c = Client::new(&server);
    let shell = open(&mut c).await;
    let id = start(&mut c, &shell, "echo", &["hello", "world"]).await;
    let (out, err, ends, done) = recv(&mut c, &shell, &id).await;
    assert_eq!(
        (out.as_str(), err.as_str(), done),
        ("hello world\r\n", "", Some(0))
    );
    assert_eq!(
        ends,
        ["stdout", "stderr"],
        "both streams end on the last answer"
    );

    let id = start(&mut c, &shell, "nosuch", &[]).await;
    let (out, err, _, done) = recv(&mut c, &shell, &id).await;
    assert_eq!(out, "");
    assert!(err.starts_with("'nosuch' is not recognized"), "{err}");
    assert_eq!(done, Some(9009));

    let req = signal(&shell, &id, "terminate");
    c.send(&req)
        .await
        .assert_ok(&req, ns::action::SIGNAL_RESPONSE);
    // A terminated command is gone.
    let req = receive(&shell, &id);
    let a = c.send(&req).await;
    a.assert_fault(&req, FaultKind::InvalidParameter, None);

    let req = on(&shell, DELETE, "");
    c.send(&req)
        .await
        .assert_ok(&req, ns::action::DELETE_RESPONSE);
    // Everything about a deleted shell is gone.
    for req in [
        receive(&shell, &id),
        command(&shell, "echo", &[]),
        on(&shell, DELETE, ""),
    ] {
        let a = c.send(&req).await;
        a.assert_fault(&req, FaultKind::InvalidSelectors, Some("InvalidValue"));
        assert_eq!(
            wsman_code(&a).as_deref(),
            Some("2150858843"),
            "{}",
            a.text()
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_shell_requests() {
    let server = serve("").await;
    let mut c = Client::new(&server);
    let shell = open(&mut c).await;
    let req = Req::new(ns::action::COMMAND, ns::SHELL_CMD).body(&format!(
        "<rsp:CommandLine xmlns:rsp=\"{RSP}\"><rsp:Command>echo</rsp:Command></rsp:CommandLine>"
    ));
    c.send(&req).await.assert_fault(
        &req,
        FaultKind::InvalidSelectors,
        Some("InsufficientSelectors"),
    );
    let req = receive(&shell, "NO-SUCH-COMMAND");
    let a = c.send(&req).await;
    a.assert_fault(&req, FaultKind::InvalidParameter, None);
    assert!(
        wsman_code(&a).is_some(),
        "shell faults carry a WSManFault code"
    );
    let req = signal(&shell, "x", "kill");
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::InvalidParameter, Some("InvalidName"));
    let req = create("<w:Option Name=\"WINRS_CODEPAGE\">1252</w:Option>", "");
    c.send(&req)
        .await
        .assert_fault(&req, FaultKind::InvalidOptions, Some("InvalidValue"));
    server.shutdown().await;
}

#[tokio::test]
async fn output_is_streamed_and_signals_stop_it() {
    let server = serve("").await;
    let mut c = Client::new(&server);
    let shell = open(&mut c).await;
    let id = start(&mut c, &shell, "ping", &["127.0.0.1"]).await;
    let mut out = String::new();
    let mut answers = 0;
    loop {
        let (o, _, _, done) = recv(&mut c, &shell, &id).await;
        out += &o;
        answers += 1;
        if let Some(code) = done {
            assert_eq!(code, 0);
            break;
        }
    }
    assert!(answers >= 3, "{answers} Receives");
    assert!(out.starts_with("\r\nPinging 127.0.0.1"), "{out}");
    assert_eq!(out.matches("Reply from 127.0.0.1").count(), 4, "{out}");
    assert!(out.ends_with("Average = 0ms\r\n"), "{out}");

    let id = start(&mut c, &shell, "ping", &["-t", "127.0.0.1"]).await;
    let (o, _, _, done) = recv(&mut c, &shell, &id).await;
    assert!(o.starts_with("Reply from"), "{o}");
    assert_eq!(done, None);
    let req = signal(&shell, &id, "ctrl_c");
    c.send(&req)
        .await
        .assert_ok(&req, ns::action::SIGNAL_RESPONSE);
    let (_, _, _, done) = recv(&mut c, &shell, &id).await;
    assert_eq!(done, Some(-1_073_741_510));
    server.shutdown().await;
}

#[tokio::test]
async fn a_receive_without_output_times_out_and_holds_no_lock() {
    let server = serve("").await;
    let mut c = Client::new(&server);
    let shell = open(&mut c).await;
    let id = start(&mut c, &shell, "waitfor", &["/t", "3", "x"]).await;
    let addr = server.addresses().0.unwrap();
    let (shell2, id2) = (shell.clone(), id.clone());
    let waiting = tokio::spawn(async move {
        let mut c = Client::at(addr);
        let req = receive(&shell2, &id2).operation_timeout("PT1S");
        let t0 = Instant::now();
        let a = c.send(&req).await;
        (req, a, t0.elapsed())
    });
    // While that Receive waits, other requests are answered at once.
    for _ in 0..3 {
        let t0 = Instant::now();
        let req = Req::identify();
        let a = c.send(&req).await;
        assert_eq!(a.status, 200);
        assert!(
            t0.elapsed() < Duration::from_millis(800),
            "{:?}",
            t0.elapsed()
        );
    }
    let (req, a, took) = waiting.await.unwrap();
    a.assert_fault(&req, FaultKind::TimedOut, None);
    assert_eq!(wsman_code(&a).as_deref(), Some("2150858793"));
    assert!(took >= Duration::from_millis(950), "{took:?}");
    assert!(took < Duration::from_millis(2500), "{took:?}");
    // Retried, the Receive gets the output when it is due.
    let req = receive(&shell, &id).operation_timeout("PT5S");
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::RECEIVE_RESPONSE);
    assert!(a.text().contains("CommandState/Done"), "{}", a.text());
    server.shutdown().await;
}

#[tokio::test]
async fn stdin_wakes_a_waiting_receive() {
    let server = serve("").await;
    let mut c = Client::new(&server);
    let shell = open(&mut c).await;
    let id = start(&mut c, &shell, "more", &[]).await;
    let addr = server.addresses().0.unwrap();
    let (shell2, id2) = (shell.clone(), id.clone());
    let waiting = tokio::spawn(async move {
        let mut c = Client::at(addr);
        let t0 = Instant::now();
        let (out, _, _, done) = recv(&mut c, &shell2, &id2).await;
        (out, done, t0.elapsed())
    });
    // `more` has no output until stdin comes: the Receive waits (or, if it is sent
    // after this, finds the echo); either way it answers the echo, not a timeout.
    let req = send(&shell, &id, b"typed\r\n", true);
    c.send(&req)
        .await
        .assert_ok(&req, ns::action::SEND_RESPONSE);
    let (out, done, took) = waiting.await.unwrap();
    assert!(took < Duration::from_secs(10), "{took:?}");
    // The echo may come before or with the end of the command.
    if done.is_none() {
        assert_eq!(out, "typed\r\n");
        let (rest, _, _, done) = recv(&mut c, &shell, &id).await;
        assert_eq!((rest.as_str(), done), ("", Some(0)));
    } else {
        assert_eq!((out.as_str(), done), ("typed\r\n", Some(0)));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_per_user_quota() {
    let server = serve("[wsman]\nmax_shells_per_user = 2\n").await;
    let mut c = Client::new(&server);
    let a = open(&mut c).await;
    open(&mut c).await;
    let req = create("", "");
    let answer = c.send(&req).await;
    answer.assert_fault(&req, FaultKind::QuotaLimit, None);
    assert_eq!(wsman_code(&answer).as_deref(), Some("2150859173"));
    // Another user has their own quota; a deleted shell frees a place.
    let mut op = Client::new(&server).with_auth(Some(basic("operator", "operator")));
    open(&mut op).await;
    let req = on(&a, DELETE, "");
    c.send(&req)
        .await
        .assert_ok(&req, ns::action::DELETE_RESPONSE);
    open(&mut c).await;
    server.shutdown().await;
}

#[tokio::test]
async fn idle_shells_expire() {
    let server = serve("").await;
    let mut c = Client::new(&server);
    let req = create(
        "<w:Option Name=\"WINRS_CODEPAGE\">65001</w:Option>",
        "<rsp:IdleTimeOut>PT0.3S</rsp:IdleTimeOut><rsp:Environment><rsp:Variable Name=\"WHO\">caf\u{e9}</rsp:Variable></rsp:Environment>",
    );
    let a = c.send(&req).await;
    a.assert_ok(&req, ns::action::CREATE_RESPONSE);
    let shell = a.with_env(|e| match &e.body {
        Body::ResourceCreated(epr) => epr.selector("ShellId").unwrap().to_owned(),
        _ => panic!(),
    });
    let id = start(&mut c, &shell, "echo", &["%WHO%"]).await;
    let (out, _, _, _) = recv(&mut c, &shell, &id).await;
    assert_eq!(out, "caf\u{e9}\r\n", "UTF-8 output in code page 65001");
    // The expiry itself is the subject: let wall-clock time pass it, bounded.
    let t0 = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let req = command(&shell, "echo", &[]);
        let a = c.send(&req).await;
        if a.status != 200 {
            a.assert_fault(&req, FaultKind::InvalidSelectors, Some("InvalidValue"));
            break;
        }
        // Each command is activity; stop sending them to let the shell go idle.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the shell never expired"
        );
    }
    server.shutdown().await;
}

/// mocks/default.toml writes out the default command and script tables, so a scenario
/// that leaves them out (windows-server.toml) answers the same commands.
#[test]
fn the_default_scenario_writes_out_the_default_tables() {
    let s = mock::Scenario::default_scenario();
    let d = machine::MachineSpec::default();
    assert_eq!(s.machine.commands, d.commands);
    assert_eq!(s.machine.scripts, d.scripts);
    assert_eq!(s.wsman.max_shells_per_user, 30);
}
