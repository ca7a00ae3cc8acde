//! The remote-shell model with a virtual clock: streaming with delays, stdin echo,
//! signals, expiry, the quota, code pages, the built-ins and the tables.

use machine::shell::{
    CTRL_C_EXIT, Chunk, CommandStatus, NOT_FOUND_EXIT, Received, ShellError, ShellLimits,
    ShellRequest, Signal, StreamName, powershell,
};
use machine::{CommandSpec, Machine, MachineSpec, MatchKind};

const BOTH: &[StreamName] = &[StreamName::Stdout, StreamName::Stderr];

fn machine() -> Machine {
    let mut spec = MachineSpec::default();
    spec.commands.push(CommandSpec {
        stdout: vec!["a\r\n".into(), "b\r\n".into()],
        stderr: vec!["oops\r\n".into()],
        delay_ms: 100,
        exit_code: 3,
        ..CommandSpec::exact("slow", "")
    });
    spec.commands.push(CommandSpec {
        match_kind: MatchKind::Glob,
        echo_stdin: true,
        handler: Some("#{ stdout: \"got \" + stdin.len() + \" bytes\\r\\n\" }".into()),
        stdout: Vec::new(),
        ..CommandSpec::exact("count*", "")
    });
    spec.scripts.push(CommandSpec {
        match_kind: MatchKind::Regex,
        ..CommandSpec::exact("Get-Thing \\d+", "thing\r\n")
    });
    Machine::new(spec, 0).unwrap()
}

fn open(m: &mut Machine, id: &str, now: u64) {
    m.shell_create(
        id.into(),
        ShellRequest {
            user: "admin".into(),
            ..ShellRequest::default()
        },
        &ShellLimits::default(),
        now,
    )
    .unwrap();
}

fn text(chunks: &[Chunk], stream: StreamName) -> String {
    chunks
        .iter()
        .filter(|c| c.stream == stream)
        .map(|c| String::from_utf8_lossy(&c.bytes).into_owned())
        .collect()
}

/// Runs to the end, returning (stdout, stderr, exit code, number of Receives that
/// carried output).
fn run(m: &mut Machine, line: &str, now: u64) -> (String, String, i32) {
    open(m, "S", now);
    m.shell_command("S", "C".into(), line, &[], now).unwrap();
    let mut t = now;
    let (mut out, mut err) = (String::new(), String::new());
    for _ in 0..100 {
        match m.shell_receive("S", "C", BOTH, t).unwrap() {
            Received::Output { chunks, status } => {
                out += &text(&chunks, StreamName::Stdout);
                err += &text(&chunks, StreamName::Stderr);
                if let CommandStatus::Done(code) = status {
                    m.shell_delete("S", t).unwrap();
                    return (out, err, code);
                }
            }
            Received::Wait { until } => t = until.expect("a fixed command knows when"),
        }
    }
    panic!("no end");
}

#[test]
fn output_streams_on_the_schedule() {
    let mut m = machine();
    open(&mut m, "S", 1000);
    m.shell_command("S", "C".into(), "slow", &[], 1000).unwrap();
    assert_eq!(
        m.shell_receive("S", "C", BOTH, 1000).unwrap(),
        Received::Wait { until: Some(1100) }
    );
    let Received::Output { chunks, status } = m.shell_receive("S", "C", BOTH, 1150).unwrap() else {
        panic!()
    };
    assert_eq!(text(&chunks, StreamName::Stdout), "a\r\n");
    assert_eq!(status, CommandStatus::Running);
    assert!(!chunks[0].end);
    assert_eq!(
        m.shell_receive("S", "C", BOTH, 1150).unwrap(),
        Received::Wait { until: Some(1200) }
    );
    let Received::Output { chunks, status } = m.shell_receive("S", "C", BOTH, 5000).unwrap() else {
        panic!()
    };
    assert_eq!(status, CommandStatus::Done(3));
    assert_eq!(text(&chunks, StreamName::Stdout), "b\r\n");
    assert_eq!(text(&chunks, StreamName::Stderr), "oops\r\n");
    assert!(
        chunks.iter().all(|c| c.end),
        "the last chunk of each stream ends it"
    );
}

#[test]
fn builtins_and_tables() {
    let mut m = machine();
    assert_eq!(
        run(&mut m, "echo hello", 0),
        ("hello\r\n".into(), "".into(), 0)
    );
    assert_eq!(run(&mut m, "ECHO", 0).0, "ECHO is on.\r\n");
    assert_eq!(run(&mut m, "hostname", 0).0, "touchstone-sim\r\n");
    assert_eq!(run(&mut m, "whoami", 0).0, "touchstone-sim\\admin\r\n");
    assert!(run(&mut m, "ver", 0).0.contains("[Version 10.0.20348."));
    assert!(run(&mut m, "ipconfig", 0).0.contains("127.0.0.1"));
    assert_eq!(run(&mut m, "exit /b 7", 0).2, 7);
    assert_eq!(
        run(&mut m, "frobnicate --now", 0),
        (
            "".into(),
            "'frobnicate' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n".into(),
            NOT_FOUND_EXIT
        )
    );
    let (_, err, code) = run(&mut m, "waitfor /t 2 x", 0);
    assert_eq!(
        (err.as_str(), code),
        ("ERROR: Timed out waiting for 'x'.\r\n", 1)
    );
}

#[test]
fn powershell_scripts() {
    let mut m = machine();
    let ps = |s: &str| {
        format!(
            "powershell -NoProfile -encodedcommand {}",
            powershell::encode(s)
        )
    };
    assert_eq!(run(&mut m, &ps("Get-Thing 42"), 0).0, "thing\r\n");
    assert!(
        run(&mut m, &ps("get-service winrm"), 0)
            .0
            .contains("Running  WinRM")
    );
    assert_eq!(
        run(&mut m, &ps("Write-Output 'x'"), 0),
        ("x\r\n".into(), "".into(), 0)
    );
    let (out, err, code) = run(&mut m, &ps("Get-Nope"), 0);
    assert_eq!((out.as_str(), code), ("", 1));
    assert!(err.starts_with("#< CLIXML\r\n"), "{err}");
    assert!(
        err.contains("The term 'Get-Nope' is not recognized"),
        "{err}"
    );
    let (_, err, code) = run(&mut m, "powershell -EncodedCommand %%%", 0);
    assert_eq!(code, 1);
    assert!(err.contains("not properly encoded"), "{err}");
}

#[test]
fn stdin_is_echoed_until_it_ends() {
    let mut m = machine();
    open(&mut m, "S", 0);
    m.shell_command("S", "C".into(), "more", &[], 0).unwrap();
    assert_eq!(
        m.shell_receive("S", "C", BOTH, 10).unwrap(),
        Received::Wait { until: None }
    );
    m.shell_send("S", "C", "stdin", b"one\r\n", false, 20)
        .unwrap();
    let Received::Output { chunks, status } = m.shell_receive("S", "C", BOTH, 20).unwrap() else {
        panic!()
    };
    assert_eq!(
        (text(&chunks, StreamName::Stdout).as_str(), status),
        ("one\r\n", CommandStatus::Running)
    );
    m.shell_send("S", "C", "stdin", b"two\r\n", true, 30)
        .unwrap();
    let Received::Output { chunks, status } = m.shell_receive("S", "C", BOTH, 30).unwrap() else {
        panic!()
    };
    assert_eq!(
        (text(&chunks, StreamName::Stdout).as_str(), status),
        ("two\r\n", CommandStatus::Done(0))
    );
    assert_eq!(
        m.shell_send("S", "C", "stdout", b"x", true, 30),
        Err(ShellError::UnknownStream("stdout".into()))
    );

    // A handler that reads stdin runs when stdin ends.
    m.shell_command("S", "D".into(), "count words", &[], 40)
        .unwrap();
    m.shell_send("S", "D", "stdin", b"12345", true, 50).unwrap();
    let Received::Output { chunks, .. } = m.shell_receive("S", "D", BOTH, 50).unwrap() else {
        panic!()
    };
    assert_eq!(text(&chunks, StreamName::Stdout), "got 5 bytes\r\n");
}

#[test]
fn signals_stop_commands() {
    let mut m = machine();
    open(&mut m, "S", 0);
    m.shell_command("S", "C".into(), "ping -t 127.0.0.1", &[], 0)
        .unwrap();
    assert_eq!(
        m.shell_receive("S", "C", BOTH, 0).unwrap(),
        Received::Wait { until: Some(500) }
    );
    let Received::Output { chunks, status } = m.shell_receive("S", "C", BOTH, 1600).unwrap() else {
        panic!()
    };
    assert_eq!(chunks.len(), 3, "three replies by 1.6 s");
    assert_eq!(status, CommandStatus::Running);
    m.shell_signal("S", "C", Signal::CtrlC, 1700).unwrap();
    let Received::Output { status, .. } = m.shell_receive("S", "C", BOTH, 5000).unwrap() else {
        panic!()
    };
    assert_eq!(status, CommandStatus::Done(CTRL_C_EXIT));
    assert_eq!(CTRL_C_EXIT as u32, 0xC000_013A);

    m.shell_command("S", "T".into(), "ping -t 127.0.0.1", &[], 0)
        .unwrap();
    m.shell_signal("S", "T", Signal::Terminate, 100).unwrap();
    assert_eq!(
        m.shell_receive("S", "T", BOTH, 100),
        Err(ShellError::UnknownCommand("T".into()))
    );
    // A finished command keeps its exit code after Ctrl+C.
    m.shell_command("S", "E".into(), "echo x", &[], 0).unwrap();
    m.shell_signal("S", "E", Signal::CtrlBreak, 10).unwrap();
    let Received::Output { status, .. } = m.shell_receive("S", "E", BOTH, 10).unwrap() else {
        panic!()
    };
    assert_eq!(status, CommandStatus::Done(0));
}

#[test]
fn shells_expire_and_are_counted() {
    let mut m = machine();
    let req = |idle: Option<u64>, life: Option<u64>| ShellRequest {
        user: "admin".into(),
        idle_timeout_ms: idle,
        lifetime_ms: life,
        ..ShellRequest::default()
    };
    let limits = ShellLimits {
        max_shells_per_user: 2,
        ..ShellLimits::default()
    };
    m.shell_create("A".into(), req(Some(1000), None), &limits, 0)
        .unwrap();
    m.shell_create("B".into(), req(None, Some(5000)), &limits, 0)
        .unwrap();
    assert_eq!(
        m.shell_create("C".into(), req(None, None), &limits, 0),
        Err(ShellError::Quota {
            user: "admin".into(),
            max: 2
        })
    );
    let other = ShellRequest {
        user: "operator".into(),
        ..req(None, None)
    };
    m.shell_create("D".into(), other, &limits, 0).unwrap();
    // Activity keeps A alive; idleness ends it.
    m.shell_command("A", "1".into(), "echo", &[], 900).unwrap();
    m.shell_receive("A", "1", BOTH, 1800).unwrap();
    assert_eq!(
        m.shell_receive("A", "1", BOTH, 2900),
        Err(ShellError::UnknownShell("A".into()))
    );
    m.shell_create("C".into(), req(None, None), &limits, 2900)
        .unwrap();
    // Lifetime ends B however busy it is.
    m.shell_command("B", "1".into(), "echo", &[], 4900).unwrap();
    assert_eq!(
        m.shell_receive("B", "1", BOTH, 5000),
        Err(ShellError::UnknownShell("B".into()))
    );
    assert_eq!(
        m.shell_delete("B", 5000),
        Err(ShellError::UnknownShell("B".into()))
    );
}

#[test]
fn code_pages_and_environment() {
    let mut m = machine();
    let open_cp = |m: &mut Machine, id: &str, cp: Option<u32>| {
        m.shell_create(
            id.into(),
            ShellRequest {
                user: "admin".into(),
                codepage: cp,
                environment: vec![("FOO".into(), "b\u{e9}r".into())],
                ..ShellRequest::default()
            },
            &ShellLimits::default(),
            0,
        )
    };
    open_cp(&mut m, "437", None).unwrap();
    open_cp(&mut m, "utf8", Some(65001)).unwrap();
    assert_eq!(
        open_cp(&mut m, "x", Some(1252)),
        Err(ShellError::Codepage(1252))
    );
    for (shell, want) in [
        ("437", b"b\x82r\r\n".to_vec()),
        ("utf8", "b\u{e9}r\r\n".as_bytes().to_vec()),
    ] {
        let line = m
            .shell_command(shell, "C".into(), "echo", &["%foo%"], 0)
            .unwrap();
        assert_eq!(line, "echo b\u{e9}r");
        let Received::Output { chunks, .. } = m.shell_receive(shell, "C", BOTH, 0).unwrap() else {
            panic!()
        };
        assert_eq!(chunks[0].bytes, want, "{shell}");
    }
    let line = m
        .shell_command("437", "D".into(), "echo %COMPUTERNAME% %nope%", &[], 0)
        .unwrap();
    assert_eq!(line, "echo TOUCHSTONE-SIM %nope%");
}
