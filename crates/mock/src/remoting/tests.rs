//! The pools driven in memory by a client built from the codec.

use super::*;
use psrp::clixml::Obj;

fn guid(n: u8) -> Guid {
    Guid([n; 16])
}

fn client_message(kind: MessageType, rpid: Guid, pid: Guid, v: &Value) -> Vec<u8> {
    Message::with_value(Destination::Server, kind, rpid, pid, v).to_bytes()
}

fn fragments(object_id: u64, msg: &[u8]) -> Vec<u8> {
    fragment::split_encoded(object_id, msg, 32_768).unwrap()
}

fn creation(rpid: Guid) -> Vec<u8> {
    let sc = SessionCapability::default().to_value();
    let init: Value = Obj::default()
        .ext("MinRunspaces", Value::I32(1))
        .ext("MaxRunspaces", Value::I32(2))
        .into();
    let mut out = fragments(
        1,
        &client_message(MessageType::SESSION_CAPABILITY, rpid, Guid::NIL, &sc),
    );
    out.extend(fragments(
        2,
        &client_message(MessageType::INIT_RUNSPACEPOOL, rpid, Guid::NIL, &init),
    ));
    out
}

fn create_pipeline(script: &str) -> Value {
    create_pipeline_of(script, true)
}

/// A CREATE_PIPELINE of one script, or of one command (`is_script` false).
fn create_pipeline_of(script: &str, is_script: bool) -> Value {
    let cmd: Value = Obj::default()
        .ext("Cmd", Value::string(script))
        .ext("Args", Value::List(vec![]))
        .ext("IsScript", Value::Bool(is_script))
        .into();
    Obj::default()
        .ext("NoInput", Value::Bool(true))
        .ext(
            "PowerShell",
            Obj::default().ext("Cmds", Value::List(vec![cmd])).into(),
        )
        .into()
}

/// Every message of a Receive's streams, as (type, value).
fn read(streams: &[Vec<u8>], d: &mut Defragmenter) -> Vec<(MessageType, Value)> {
    let mut out = Vec::new();
    for s in streams {
        let mut done = Vec::new();
        d.push_stream(s, &mut done).unwrap();
        for m in done {
            let m = Message::decode(&m).unwrap();
            assert_eq!(m.destination, Destination::Client);
            out.push((m.kind, m.value(&clixml::Limits::default()).unwrap()));
        }
    }
    out
}

static NO_RULES: PsrpSettings = PsrpSettings { rules: Vec::new() };

fn world(spec: &MachineSpec) -> World<'_> {
    World {
        spec,
        unix_now: 1_767_225_600,
        defects: Defects::default(),
        rules: &NO_RULES,
    }
}

#[test]
fn a_pool_opens_runs_a_script_and_answers_in_windows_order() {
    let spec = MachineSpec::default();
    let w = world(&spec);
    let mut pools = Pools::default();
    let rpid = guid(7);
    let id = pools
        .create("microsoft.powershell", "admin", &creation(rpid), 0, &w)
        .unwrap();
    assert_eq!(id, rpid.to_string().to_ascii_uppercase());
    let mut d = Defragmenter::new(fragment::Limits::default());
    let Received::Output {
        streams,
        done: None,
    } = pools.receive(&id, "admin", None, 0, 153_600).unwrap()
    else {
        panic!("the pool had nothing to say")
    };
    let kinds: Vec<MessageType> = read(&streams, &mut d).iter().map(|m| m.0).collect();
    assert_eq!(
        kinds,
        [
            MessageType::SESSION_CAPABILITY,
            MessageType::APPLICATION_PRIVATE_DATA,
            MessageType::RUNSPACEPOOL_STATE
        ]
    );
    assert!(matches!(
        pools.receive(&id, "admin", None, 0, 153_600).unwrap(),
        Received::Wait(None)
    ));
    // Another user does not see the pool.
    assert!(matches!(
        pools.receive(&id, "operator", None, 0, 153_600),
        Err(PsrpError::UnknownShell(_))
    ));

    let pid = guid(9);
    let msg = client_message(
        MessageType::CREATE_PIPELINE,
        rpid,
        pid,
        &create_pipeline("Write-Output one; Start-Sleep -Milliseconds 500; Write-Warning w; nope"),
    );
    let cid = pools
        .command(&id, "admin", &fragments(3, &msg), 10, &w)
        .unwrap();
    assert_eq!(cid, pid.to_string().to_ascii_uppercase());
    let Received::Output {
        streams,
        done: Some(false),
    } = pools
        .receive(&id, "admin", Some(&cid), 10, 153_600)
        .unwrap()
    else {
        panic!("no output at the start")
    };
    let first = read(&streams, &mut d);
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0],
        (MessageType::PIPELINE_OUTPUT, Value::string("one"))
    );
    assert!(matches!(
        pools
            .receive(&id, "admin", Some(&cid), 10, 153_600)
            .unwrap(),
        Received::Wait(Some(510))
    ));
    let Received::Output {
        streams,
        done: Some(true),
    } = pools
        .receive(&id, "admin", Some(&cid), 510, 153_600)
        .unwrap()
    else {
        panic!("not done after the sleep")
    };
    let rest = read(&streams, &mut d);
    let kinds: Vec<MessageType> = rest.iter().map(|m| m.0).collect();
    assert_eq!(
        kinds,
        [
            MessageType::WARNING_RECORD,
            MessageType::ERROR_RECORD,
            MessageType::PIPELINE_STATE
        ]
    );
    assert_eq!(rest[2].1.prop("PipelineState"), Some(&Value::I32(4)));
    // Done: the command is gone.
    assert!(matches!(
        pools.receive(&id, "admin", Some(&cid), 600, 153_600),
        Err(PsrpError::UnknownCommand(_))
    ));
}

#[test]
fn a_large_output_is_cut_to_the_envelope_and_a_stop_ends_a_pipeline() {
    let spec = MachineSpec::default();
    let w = world(&spec);
    let mut pools = Pools::default();
    let rpid = guid(1);
    let id = pools
        .create("Microsoft.PowerShell", "admin", &creation(rpid), 0, &w)
        .unwrap();
    let mut d = Defragmenter::new(fragment::Limits::default());
    let _ = pools.receive(&id, "admin", None, 0, 153_600).unwrap();
    let big = "x".repeat(20_000);
    let msg = client_message(
        MessageType::CREATE_PIPELINE,
        rpid,
        guid(2),
        &create_pipeline(&format!("Write-Output '{big}'; Start-Sleep -Seconds 100")),
    );
    let cid = pools
        .command(&id, "admin", &fragments(5, &msg), 0, &w)
        .unwrap();
    let mut got = Vec::new();
    let mut receives = 0;
    while got.is_empty() {
        let Received::Output { streams, .. } =
            pools.receive(&id, "admin", Some(&cid), 0, 8192).unwrap()
        else {
            panic!("waiting in the middle of a message")
        };
        let b64: usize = streams.iter().map(|s| s.len().div_ceil(3) * 4).sum();
        assert!(b64 + outbox::ENVELOPE_OVERHEAD <= 8192, "{b64}");
        got = read(&streams, &mut d);
        receives += 1;
    }
    assert!(receives > 3, "{receives}");
    assert_eq!(got[0].1, Value::string(big.as_str()));
    pools
        .signal(&id, "admin", &cid, false, 1000, Defects::default())
        .unwrap();
    let Received::Output {
        streams,
        done: Some(true),
    } = pools
        .receive(&id, "admin", Some(&cid), 1000, 153_600)
        .unwrap()
    else {
        panic!("not stopped")
    };
    let end = read(&streams, &mut d);
    assert_eq!(end[0].1.prop("PipelineState"), Some(&Value::I32(3)));
    // Broken input breaks the pool and says so.
    assert!(matches!(
        pools.send(&id, "admin", None, b"\x00\x01garbage", 1000, &w),
        Err(PsrpError::BadData(_))
    ));
    let Received::Output { streams, .. } =
        pools.receive(&id, "admin", None, 1000, 153_600).unwrap()
    else {
        panic!("no broken state")
    };
    let broken = read(&streams, &mut d);
    assert_eq!(broken[0].1.prop("RunspaceState"), Some(&Value::I32(5)));
}

#[test]
fn an_unknown_configuration_and_a_refused_user_are_errors() {
    let mut spec = MachineSpec::default();
    spec.session_configurations
        .push(machine::cmdlet::SessionConfigSpec {
            name: "JEA".into(),
            visible_cmdlets: vec!["Get-Service".into()],
            language_mode: machine::cmdlet::LanguageMode::NoLanguage,
            users: vec!["operator".into()],
        });
    let w = world(&spec);
    let mut pools = Pools::default();
    assert!(matches!(
        pools.create("Nope", "admin", &creation(guid(3)), 0, &w),
        Err(PsrpError::UnknownConfiguration(_))
    ));
    assert!(matches!(
        pools.create("jea", "admin", &creation(guid(3)), 0, &w),
        Err(PsrpError::AccessDenied { .. })
    ));
    assert!(
        pools
            .create("jea", "operator", &creation(guid(3)), 0, &w)
            .is_ok()
    );
    assert_eq!(
        configuration_of("http://schemas.microsoft.com/powershell/JEA"),
        Some("JEA")
    );
    assert_eq!(
        configuration_of("http://schemas.microsoft.com/powershell/"),
        None
    );
    assert_eq!(
        configuration_of("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"),
        None
    );
}

#[test]
fn the_seeded_defects_change_what_a_pool_answers() {
    let spec = MachineSpec::default();
    let mut w = world(&spec);
    w.defects = Defects {
        no_application_private_data: true,
        stop_completes: true,
        unknown_command_fault: true,
    };
    let mut pools = Pools::default();
    let rpid = guid(4);
    let id = pools
        .create("Microsoft.PowerShell", "admin", &creation(rpid), 0, &w)
        .unwrap();
    let mut d = Defragmenter::new(fragment::Limits::default());
    let Received::Output { streams, .. } = pools.receive(&id, "admin", None, 0, 153_600).unwrap()
    else {
        panic!("the pool had nothing to say")
    };
    let kinds: Vec<MessageType> = read(&streams, &mut d).iter().map(|m| m.0).collect();
    assert_eq!(
        kinds,
        [
            MessageType::SESSION_CAPABILITY,
            MessageType::RUNSPACEPOOL_STATE
        ]
    );
    // An unknown command makes the Command itself fail, and no pipeline is left.
    let msg = client_message(
        MessageType::CREATE_PIPELINE,
        rpid,
        guid(5),
        &create_pipeline_of("Get-NoSuchThing", false),
    );
    let first = fragments(3, &msg);
    assert_eq!(
        pipeline_id_of(&first),
        Some(guid(5).to_string().to_ascii_uppercase())
    );
    assert!(matches!(
        pools.command(&id, "admin", &first, 0, &w),
        Err(PsrpError::Internal(_))
    ));
    assert!(matches!(
        pools.receive(&id, "admin", Some(&guid(5).to_string()), 0, 153_600),
        Err(PsrpError::UnknownCommand(_))
    ));
    // A stopped pipeline ends Completed.
    let msg = client_message(
        MessageType::CREATE_PIPELINE,
        rpid,
        guid(6),
        &create_pipeline("Start-Sleep -Seconds 60"),
    );
    let cid = pools
        .command(&id, "admin", &fragments(4, &msg), 0, &w)
        .unwrap();
    pools
        .signal(&id, "admin", &cid, false, 100, w.defects)
        .unwrap();
    let Received::Output {
        streams,
        done: Some(true),
    } = pools
        .receive(&id, "admin", Some(&cid), 100, 153_600)
        .unwrap()
    else {
        panic!("not ended")
    };
    let end = read(&streams, &mut d);
    assert_eq!(end[0].0, MessageType::PIPELINE_STATE);
    assert_eq!(end[0].1.prop("PipelineState"), Some(&Value::I32(4)));
}

fn rules_of(text: &str) -> PsrpSettings {
    #[derive(serde::Deserialize)]
    struct F {
        psrp: PsrpSettings,
    }
    let s = toml::from_str::<F>(text).unwrap().psrp;
    s.check().unwrap();
    s
}

#[test]
fn psrp_rules_break_a_pool_corrupt_a_fragment_and_stall_a_pipeline() {
    let spec = MachineSpec::default();
    let rules = rules_of(
        r#"
        [[psrp.rules]]
        name = "svc"
        message = "CREATE_PIPELINE"
        command = "Get-Service"
        action = "break_pool"
        [[psrp.rules]]
        message = "CREATE_PIPELINE"
        command = "Write-Output"
        action = "bad_fragment"
        times = 1
        [[psrp.rules]]
        message = "CREATE_PIPELINE"
        command = "Get-Date"
        action = "stall"
        delay_ms = 2000
        [[psrp.rules]]
        message = "CREATE_PIPELINE"
        command = "Get-Location"
        action = "stall"
        "#,
    );
    let mut w = world(&spec);
    w.rules = &rules;
    let mut pools = Pools::default();
    let rpid = guid(8);
    let id = pools
        .create("Microsoft.PowerShell", "admin", &creation(rpid), 0, &w)
        .unwrap();
    let mut d = Defragmenter::new(fragment::Limits::default());
    let _ = pools.receive(&id, "admin", None, 0, 153_600).unwrap();
    let command = |pools: &mut Pools, n: u8, script: &str| {
        let msg = client_message(
            MessageType::CREATE_PIPELINE,
            rpid,
            guid(n),
            &create_pipeline_of(script, false),
        );
        pools
            .command(&id, "admin", &fragments(u64::from(n), &msg), 0, &w)
            .unwrap()
    };

    // bad_fragment (once): the next answer's fragment claims a byte it lacks.
    let cid = command(&mut pools, 20, "Write-Output");
    let Received::Output { streams, .. } =
        pools.receive(&id, "admin", Some(&cid), 0, 153_600).unwrap()
    else {
        panic!("no output")
    };
    let mut fresh = Defragmenter::new(fragment::Limits::default());
    let mut whole = Vec::new();
    assert!(fresh.push_stream(&streams[0], &mut whole).is_err());
    let cid = command(&mut pools, 21, "Write-Output");
    let Received::Output { streams, .. } =
        pools.receive(&id, "admin", Some(&cid), 0, 153_600).unwrap()
    else {
        panic!("no output")
    };
    assert_eq!(
        read(&streams, &mut d).last().map(|m| m.0),
        Some(MessageType::PIPELINE_STATE)
    );

    // stall with delay_ms: the end comes 2 s late.
    let late = command(&mut pools, 22, "Get-Date");
    let Received::Output {
        done: Some(false), ..
    } = pools
        .receive(&id, "admin", Some(&late), 0, 153_600)
        .unwrap()
    else {
        panic!("Get-Date wrote nothing, or ended at once")
    };
    assert!(matches!(
        pools.receive(&id, "admin", Some(&late), 10, 153_600).unwrap(),
        Received::Wait(Some(t)) if t >= 2000
    ));
    // stall without delay: no end is due at all.
    let never = command(&mut pools, 23, "Get-Location");
    let _ = pools
        .receive(&id, "admin", Some(&never), 0, 153_600)
        .unwrap();
    assert!(matches!(
        pools
            .receive(&id, "admin", Some(&never), 0, 153_600)
            .unwrap(),
        Received::Wait(None)
    ));

    // break_pool: the Command is answered, the pool says Broken, and the pipelines
    // that had not ended (this one and the stalled ones) end Stopped.
    let broken = command(&mut pools, 24, "Get-Service");
    let Received::Output { streams, .. } = pools.receive(&id, "admin", None, 0, 153_600).unwrap()
    else {
        panic!("no pool state")
    };
    let state = read(&streams, &mut d);
    assert_eq!(state[0].0, MessageType::RUNSPACEPOOL_STATE);
    assert_eq!(state[0].1.prop("RunspaceState"), Some(&Value::I32(5)));
    for cid in [&broken, &never, &late] {
        let Received::Output {
            streams,
            done: Some(true),
        } = pools.receive(&id, "admin", Some(cid), 0, 153_600).unwrap()
        else {
            panic!("{cid} did not end")
        };
        let end = read(&streams, &mut d);
        let last = end.last().unwrap();
        assert_eq!(last.0, MessageType::PIPELINE_STATE);
        assert_eq!(last.1.prop("PipelineState"), Some(&Value::I32(3)));
    }
}

#[test]
fn a_pool_broken_by_a_rule_on_init_is_created_broken() {
    let spec = MachineSpec::default();
    let rules =
        rules_of("[[psrp.rules]]\nmessage = \"INIT_RUNSPACEPOOL\"\naction = \"break_pool\"\n");
    let mut w = world(&spec);
    w.rules = &rules;
    let mut pools = Pools::default();
    let id = pools
        .create("Microsoft.PowerShell", "admin", &creation(guid(9)), 0, &w)
        .unwrap();
    let mut d = Defragmenter::new(fragment::Limits::default());
    let Received::Output { streams, .. } = pools.receive(&id, "admin", None, 0, 153_600).unwrap()
    else {
        panic!("nothing for the pool")
    };
    let got = read(&streams, &mut d);
    let kinds: Vec<MessageType> = got.iter().map(|m| m.0).collect();
    assert_eq!(
        kinds,
        [
            MessageType::SESSION_CAPABILITY,
            MessageType::RUNSPACEPOOL_STATE
        ]
    );
    assert_eq!(got[1].1.prop("RunspaceState"), Some(&Value::I32(5)));
}

#[test]
fn a_disconnected_pool_refuses_requests_until_reconnected() {
    let spec = MachineSpec::default();
    let w = world(&spec);
    let mut pools = Pools::default();
    let rpid = guid(10);
    let id = pools
        .create("Microsoft.PowerShell", "admin", &creation(rpid), 0, &w)
        .unwrap();
    assert!(matches!(
        pools.reconnect(&id, "admin"),
        Err(PsrpError::Disconnected(_))
    ));
    assert!(matches!(
        pools.disconnect(&guid(11).to_string(), "admin"),
        Err(PsrpError::UnknownShell(_))
    ));
    pools.disconnect(&id, "admin").unwrap();
    assert!(matches!(
        pools.receive(&id, "admin", None, 0, 153_600),
        Err(PsrpError::Disconnected(_))
    ));
    // Another user cannot reconnect it.
    assert!(matches!(
        pools.reconnect(&id, "operator"),
        Err(PsrpError::UnknownShell(_))
    ));
    pools.reconnect(&id, "admin").unwrap();
    // What was queued before the disconnect is still there.
    let Received::Output { streams, .. } = pools.receive(&id, "admin", None, 0, 153_600).unwrap()
    else {
        panic!("the opening messages were lost")
    };
    assert!(!streams.is_empty());
    pools.disconnect(&id, "admin").unwrap();
    pools.delete(&id, "admin").unwrap();
}

#[test]
fn another_client_connects_to_a_disconnected_pool() {
    let spec = MachineSpec::default();
    let w = world(&spec);
    let mut pools = Pools::default();
    let rpid = guid(12);
    let id = pools
        .create("Microsoft.PowerShell", "admin", &creation(rpid), 0, &w)
        .unwrap();
    let mut d = Defragmenter::new(fragment::Limits::default());
    let _ = pools.receive(&id, "admin", None, 0, 153_600).unwrap();
    let sc = SessionCapability::default().to_value();
    let mut connect = fragments(
        1,
        &client_message(MessageType::SESSION_CAPABILITY, rpid, Guid::NIL, &sc),
    );
    connect.extend(fragments(
        2,
        &client_message(
            MessageType::CONNECT_RUNSPACEPOOL,
            rpid,
            Guid::NIL,
            &Obj::default().into(),
        ),
    ));
    // A connected pool is in use.
    assert!(matches!(
        pools.connect(&id, "admin", &connect, &w, 0),
        Err(PsrpError::Disconnected(_))
    ));
    pools.disconnect(&id, "admin").unwrap();
    let listed = pools.shells("admin");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].disconnected);
    assert!(pools.shells("operator").is_empty());
    // Only SESSION_CAPABILITY then CONNECT_RUNSPACEPOOL is a connect.
    assert!(matches!(
        pools.connect(&id, "admin", &connect[..connect.len() / 2], &w, 0),
        Err(PsrpError::BadCreation(_))
    ));
    let answer = pools.connect(&id, "admin", &connect, &w, 0).unwrap();
    let got: Vec<(MessageType, Value)> = read(&[answer], &mut d);
    assert_eq!(got[0].0, MessageType::SESSION_CAPABILITY);
    assert_eq!(got[1].0, MessageType::RUNSPACEPOOL_INIT_DATA);
    assert_eq!(got[1].1.prop("MaxRunspaces"), Some(&Value::I32(2)));
    let Received::Output { streams, .. } = pools.receive(&id, "admin", None, 0, 153_600).unwrap()
    else {
        panic!("nothing after the connect")
    };
    let kinds: Vec<MessageType> = read(&streams, &mut d).iter().map(|m| m.0).collect();
    assert_eq!(
        kinds,
        [
            MessageType::APPLICATION_PRIVATE_DATA,
            MessageType::RUNSPACEPOOL_STATE
        ]
    );
    assert!(!pools.shells("admin")[0].disconnected);
}
