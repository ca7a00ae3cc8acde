//! Command handlers raise CIM indications with `raise_event`: the machine records them
//! in its event log after the handler returns, stamped with the command's time, from
//! a shell command, from standard input ending, and from a line typed outside a shell.

use machine::events::{Event, EventKind};
use machine::shell::{ShellLimits, ShellRequest};
use machine::{CommandSpec, Machine, MachineSpec, MatchKind};

fn machine() -> Machine {
    let mut spec = MachineSpec::default();
    spec.commands.push(CommandSpec {
        match_kind: MatchKind::Glob,
        handler: Some(
            r#"raise_event("CIM_AlertIndication", #{ Message: args[0], PerceivedSeverity: 6 });
               "raised\r\n""#
                .into(),
        ),
        stdout: Vec::new(),
        ..CommandSpec::exact("alert *", "")
    });
    spec.commands.push(CommandSpec {
        match_kind: MatchKind::Glob,
        echo_stdin: true,
        handler: Some(r#"raise_event("Stdin_Seen", #{ Bytes: stdin.len() }); ()"#.into()),
        stdout: Vec::new(),
        ..CommandSpec::exact("feed", "")
    });
    spec.commands.push(CommandSpec {
        handler: Some(r#"raise_event("CIM_AlertIndication"); throw "then broken""#.into()),
        stdout: Vec::new(),
        ..CommandSpec::exact("half", "")
    });
    Machine::new(spec, 0).unwrap()
}

fn open(m: &mut Machine, now: u64) {
    m.shell_create(
        "S".into(),
        ShellRequest {
            user: "admin".into(),
            ..ShellRequest::default()
        },
        &ShellLimits::default(),
        now,
    )
    .unwrap();
}

/// A raised indication: sequence number, time, class, properties.
type Custom = (u64, u64, String, Vec<(String, String)>);

fn customs(m: &Machine, after: u64) -> Vec<Custom> {
    let (dropped, events) = m.events().since(after);
    assert_eq!(dropped, 0);
    events
        .filter_map(|Event { seq, at, kind, .. }| match kind {
            EventKind::Custom { class, properties } => {
                Some((*seq, *at, class.clone(), properties.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_shell_command_handler_raises_into_the_event_log() {
    let mut m = machine();
    open(&mut m, 1000);
    let before = m.events().last_seq();
    m.shell_command("S", "C".into(), "alert fan1", &[], 1500)
        .unwrap();
    assert_eq!(m.events().last_seq(), before + 1);
    assert_eq!(
        customs(&m, before),
        vec![(
            before + 1,
            1500,
            "CIM_AlertIndication".to_owned(),
            vec![
                ("Message".to_owned(), "fan1".to_owned()),
                ("PerceivedSeverity".to_owned(), "6".to_owned()),
            ],
        )]
    );
}

#[test]
fn a_handler_run_when_stdin_ends_raises_then() {
    let mut m = machine();
    open(&mut m, 0);
    m.shell_command("S", "C".into(), "feed", &[], 10).unwrap();
    let before = m.events().last_seq();
    m.shell_send("S", "C", "stdin", b"abc", false, 20).unwrap();
    assert_eq!(m.events().last_seq(), before, "not before stdin ends");
    m.shell_send("S", "C", "stdin", b"de", true, 30).unwrap();
    let raised = customs(&m, before);
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0].1, 30);
    assert_eq!(raised[0].2, "Stdin_Seen");
    assert_eq!(raised[0].3, vec![("Bytes".to_owned(), "5".to_owned())]);
}

#[test]
fn a_line_run_outside_a_shell_raises_too_and_a_failing_handler_keeps_its_events() {
    let mut m = machine();
    let before = m.events().last_seq();
    let (out, code) = m.run_line("alert psu", "admin", 700);
    assert_eq!((out.as_str(), code), ("raised\r\n", 0));
    let (out, code) = m.run_line("half", "admin", 800);
    assert_eq!(code, 1);
    assert!(out.contains("then broken"), "{out}");
    let raised = customs(&m, before);
    assert_eq!(
        raised
            .iter()
            .map(|r| (r.1, r.2.as_str()))
            .collect::<Vec<_>>(),
        vec![(700, "CIM_AlertIndication"), (800, "CIM_AlertIndication")]
    );
    assert_eq!(raised[1].3, vec![]);
}

#[test]
fn a_sensor_expression_naming_raise_event_is_refused_at_load() {
    let text = r#"
        [[sensors]]
        id = "T"
        name = "T"
        type = "temperature"
        expr = "if raise_event(\"X\") == () { 40.0 } else { 0.0 }"
    "#;
    let spec: Result<MachineSpec, _> = toml::from_str(text);
    let err = match spec {
        Ok(spec) => Machine::new(spec, 0).expect_err("refused").to_string(),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("cannot call raise_event"), "{err}");
}
