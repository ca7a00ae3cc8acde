//! A console and a BMC driven against each other in memory (virtual clock, seeded RNG):
//! logins with every suite and IPMI 1.5 type, refusals, replay and window handling,
//! integrity failures, idle timeout, session limit, close, SOL.

mod common;

use common::{Pair, response};
use ipmi::codes::{Privilege, cc};
use ipmi::console::{ConsoleConfig, ConsoleError, Event, SuiteChoice};
use ipmi::rmcp::AuthType;
use ipmi::session::{BmcConfig, DropReason, RecordKind, status};

fn admin(suite: SuiteChoice) -> ConsoleConfig {
    ConsoleConfig {
        suite,
        ..ConsoleConfig::new("admin", "admin")
    }
}

/// A command with a corrupted AuthCode gets no answer: dropped as BadAuthCode.
#[track_caller]
fn assert_corrupted_command_dropped(p: &mut Pair) {
    p.console.faults.corrupt_auth_code = true;
    assert_eq!(p.command(0x06, 0x01, &[]).unwrap(), None);
    assert_eq!(
        p.last_record().kind,
        RecordKind::Dropped {
            reason: DropReason::BadAuthCode
        }
    );
}

/// `user`/`password` asking for cipher suite 3.
fn suite3(user: &str, password: &str) -> ConsoleConfig {
    ConsoleConfig {
        suite: SuiteChoice::Id(3),
        ..ConsoleConfig::new(user, password)
    }
}

/// The login fails: `stage` answered with `status`.
#[track_caller]
fn assert_refused(p: &mut Pair, stage: &'static str, status: u8) {
    assert_eq!(
        p.login_v20().unwrap_err(),
        ConsoleError::Refused { stage, status }
    );
}

fn logged_in(e: Option<Event>) -> (u32, Privilege, Option<Privilege>, Option<u8>) {
    match e {
        Some(Event::LoggedIn {
            session_id,
            privilege,
            max_privilege,
            suite,
        }) => (session_id, privilege, max_privilege, suite),
        other => panic!("expected a login, got {other:?}"),
    }
}

#[test]
fn rmcpp_login_with_each_suite_then_get_device_id() {
    for id in [1u8, 2, 3, 17] {
        let mut p = Pair::new(
            BmcConfig {
                cipher_suites: vec![17, 3, 2, 1],
                ..BmcConfig::default()
            },
            admin(SuiteChoice::Id(id)),
        );
        let (sid, privilege, max, suite) = logged_in(p.login_v20().unwrap());
        assert_eq!(suite, Some(id));
        assert_eq!(privilege, Privilege::Administrator, "suite {id}");
        assert_eq!(max, Some(Privilege::Administrator));
        let info: Vec<_> = p.bmc.sessions().collect();
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].id, sid);
        assert_eq!(info[0].suite, Some(id));
        assert_eq!(info[0].privilege, Privilege::Administrator);
        let m = response(p.command(0x06, 0x01, &[]).unwrap());
        assert_eq!(m.completion(), Some(0));
        assert_eq!(m.response_data()[0], 0x20);
        let r = p.last_record();
        assert_eq!(r.kind, RecordKind::Rmcpp);
        assert_eq!(r.suite, Some(id));
        assert_eq!(r.user.as_deref(), Some("admin"));
        assert_eq!((r.netfn, r.cmd), (Some(0x06), Some(0x01)));
        // The application saw the session's privilege.
        assert_eq!(p.app.handled.last().unwrap().3, Privilege::Administrator);
    }
}

#[test]
fn auto_suite_falls_back_from_17_to_3() {
    let mut p = Pair::new(
        BmcConfig {
            cipher_suites: vec![3],
            ..BmcConfig::default()
        },
        admin(SuiteChoice::Auto),
    );
    let (_, _, _, suite) = logged_in(p.login_v20().unwrap());
    assert_eq!(suite, Some(3));
    assert!(
        p.records.iter().any(|r| r.kind == RecordKind::OpenSession
            && r.status == Some(status::NO_CIPHER_SUITE_MATCH))
    );
}

#[test]
fn suite_zero_refused_unless_enabled() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(0)));
    assert_refused(&mut p, "Open Session", status::NO_CIPHER_SUITE_MATCH);
    assert_eq!(p.bmc.sessions().count(), 0);

    let mut p = Pair::new(
        BmcConfig {
            cipher_suites: vec![0],
            ..BmcConfig::default()
        },
        admin(SuiteChoice::Id(0)),
    );
    let (_, _, _, suite) = logged_in(p.login_v20().unwrap());
    assert_eq!(suite, Some(0));
    let m = response(p.command(0x06, 0x01, &[]).unwrap());
    assert_eq!(m.completion(), Some(0));
}

#[test]
fn unsupported_algorithms_are_refused_with_their_own_status() {
    for (algs, want) in [
        ((2u8, 1u8, 1u8), status::INVALID_AUTH_ALG),
        ((1, 3, 1), status::INVALID_INTEGRITY_ALG),
        ((1, 1, 2), status::INVALID_CONF_ALG),
        ((3, 1, 1), status::NO_CIPHER_SUITE_MATCH),
    ] {
        let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
        p.console.faults.open_session_algorithms = Some(algs);
        let err = p.login_v20().unwrap_err();
        assert_eq!(
            err,
            ConsoleError::Refused {
                stage: "Open Session",
                status: want
            },
            "{algs:?}"
        );
        assert_eq!(p.last_record().status, Some(want));
    }
}

#[test]
fn privilege_zero_reports_the_real_level() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(17)));
    p.console.faults.open_session_privilege = Some(0);
    let (_, privilege, max, _) = logged_in(p.login_v20().unwrap());
    assert_eq!(max, Some(Privilege::Administrator));
    assert_eq!(privilege, Privilege::Administrator);
}

#[test]
fn wrong_password_is_detected_at_rakp2_and_refused_at_rakp4() {
    // The console notices the BMC's RAKP2 does not match its password.
    let mut p = Pair::new(BmcConfig::default(), suite3("admin", "wrong"));
    assert_eq!(p.login_v20().unwrap_err(), ConsoleError::Rakp2Mismatch);

    // Pressing on, the BMC refuses RAKP3 with 0x0F and forgets the session.
    let mut p = Pair::new(
        BmcConfig::default(),
        ConsoleConfig {
            suite: SuiteChoice::Id(17),
            ..ConsoleConfig::new("admin", "wrong")
        },
    );
    p.console.faults.skip_rakp2_check = true;
    assert_refused(&mut p, "RAKP4", status::INVALID_INTEGRITY_CHECK);
    assert_eq!(p.last_record().kind, RecordKind::Rakp3);
    assert_eq!(p.bmc.sessions().count(), 0);

    // Right password, wrong RAKP3 key: same.
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    p.console.faults.rakp3_wrong_key = true;
    assert_refused(&mut p, "RAKP4", status::INVALID_INTEGRITY_CHECK);
}

#[test]
fn unknown_user_and_role_above_limit_are_refused() {
    let mut p = Pair::new(BmcConfig::default(), suite3("nobody", "x"));
    assert_refused(&mut p, "RAKP2", status::UNAUTHORIZED_NAME);
    assert_eq!(p.bmc.sessions().count(), 0);

    // user/user is a USER: asking for ADMINISTRATOR is refused.
    let mut p = Pair::new(BmcConfig::default(), suite3("user", "user"));
    assert_refused(&mut p, "RAKP2", status::UNAUTHORIZED_ROLE);
    assert_eq!(p.last_record().privilege, Some(Privilege::Administrator));

    // A raw wrong role byte (0 is not a role).
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    p.console.faults.rakp1_role = Some(0x10);
    assert_refused(&mut p, "RAKP2", status::INVALID_ROLE);

    // At USER level the user gets in, and cannot raise the privilege.
    let mut p = Pair::new(
        BmcConfig::default(),
        ConsoleConfig {
            suite: SuiteChoice::Id(17),
            privilege: Privilege::User,
            ..ConsoleConfig::new("user", "user")
        },
    );
    let (_, privilege, _, _) = logged_in(p.login_v20().unwrap());
    assert_eq!(privilege, Privilege::User);
    let m = response(p.command(0x06, 0x3B, &[4]).unwrap());
    assert_eq!(m.completion(), Some(0x81));
    // The application enforces its own commands' privilege.
    let m = response(p.command(0x00, 0x02, &[0]).unwrap());
    assert_eq!(m.completion(), Some(cc::INSUFFICIENT_PRIVILEGE));
}

#[test]
fn replayed_and_out_of_window_packets_are_dropped() {
    for suite in [2u8, 3, 17] {
        let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(suite)));
        logged_in(p.login_v20().unwrap());
        let m = response(p.command(0x06, 0x01, &[]).unwrap());
        assert_eq!(m.completion(), Some(0));
        let replay = p.console.last_sent().to_vec();
        let h = p.deliver(&replay);
        assert!(h.replies.is_empty());
        assert!(matches!(
            h.record.kind,
            RecordKind::Dropped {
                reason: DropReason::Replay(_)
            }
        ));

        let far = p.console.next_seq() + 1000;
        p.console.faults.next_seq = Some(far);
        assert_eq!(p.command(0x06, 0x01, &[]).unwrap(), None);
        assert_eq!(
            p.last_record().kind,
            RecordKind::Dropped {
                reason: DropReason::OutOfWindow(far)
            }
        );
        // The session still works.
        let m = response(p.command(0x06, 0x01, &[]).unwrap());
        assert_eq!(m.completion(), Some(0));
    }
}

#[test]
fn corrupted_integrity_is_dropped() {
    for suite in [2u8, 3, 17] {
        let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(suite)));
        logged_in(p.login_v20().unwrap());
        assert_corrupted_command_dropped(&mut p);
    }
}

#[test]
fn ipmi15_logins_md5_and_password() {
    for auth in [AuthType::Md5, AuthType::Password] {
        let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Auto));
        let first = p.console.login_v15(auth, p.now);
        let (sid, privilege, max, suite) = logged_in(p.drive(first).unwrap());
        assert_eq!(suite, None);
        assert_eq!(privilege, Privilege::Administrator);
        assert_eq!(max, Some(Privilege::Administrator));
        let info: Vec<_> = p.bmc.sessions().collect();
        assert_eq!(info[0].id, sid);
        assert_eq!(info[0].auth_type, Some(auth));
        let m = response(p.command(0x06, 0x01, &[]).unwrap());
        assert_eq!(m.completion(), Some(0));
        assert_eq!(p.last_record().kind, RecordKind::Ipmi15);
        // Replay and a corrupted AuthCode are dropped.
        let replay = p.console.last_sent().to_vec();
        assert!(p.deliver(&replay).replies.is_empty());
        assert_corrupted_command_dropped(&mut p);
        let m = response(p.command(0x06, 0x3C, &sid.to_le_bytes()).unwrap());
        assert_eq!(m.completion(), Some(0));
        assert_eq!(p.bmc.sessions().count(), 0);
    }
}

#[test]
fn ipmi15_none_only_if_enabled_and_wrong_password_dropped() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Auto));
    let first = p.console.login_v15(AuthType::None, p.now);
    assert_eq!(
        p.drive(first).unwrap_err(),
        ConsoleError::Completion {
            stage: "Get Session Challenge",
            completion: cc::INVALID_DATA_FIELD
        }
    );

    let mut p = Pair::new(
        BmcConfig {
            ipmi15_auth: vec![AuthType::None],
            ..BmcConfig::default()
        },
        admin(SuiteChoice::Auto),
    );
    let first = p.console.login_v15(AuthType::None, p.now);
    logged_in(p.drive(first).unwrap());

    let mut p = Pair::new(
        BmcConfig::default(),
        ConsoleConfig::new("admin", "bad-password"),
    );
    let first = p.console.login_v15(AuthType::Md5, p.now);
    assert_eq!(p.drive(first).unwrap(), None);
    assert_eq!(
        p.last_record().kind,
        RecordKind::Dropped {
            reason: DropReason::BadAuthCode
        }
    );
    assert_eq!(p.bmc.sessions().count(), 0);
}

#[test]
fn idle_sessions_time_out() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(17)));
    logged_in(p.login_v20().unwrap());
    p.now += 30_000;
    assert!(p.command(0x06, 0x01, &[]).unwrap().is_some());
    p.now += 59_000;
    p.bmc.expire(p.now);
    assert_eq!(p.bmc.sessions().count(), 1);
    p.now += 2_000;
    assert_eq!(p.command(0x06, 0x01, &[]).unwrap(), None);
    assert!(matches!(
        p.last_record().kind,
        RecordKind::Dropped {
            reason: DropReason::UnknownSession(_)
        }
    ));
    assert_eq!(p.bmc.sessions().count(), 0);
}

#[test]
fn session_limit_refuses_the_next_open_session() {
    let mut p = Pair::new(
        BmcConfig {
            session_limit: 2,
            ..BmcConfig::default()
        },
        admin(SuiteChoice::Id(3)),
    );
    logged_in(p.login_v20().unwrap());
    logged_in(p.login_v20().unwrap());
    assert_refused(&mut p, "Open Session", status::NO_RESOURCES);
    assert_eq!(p.bmc.sessions().count(), 2);
}

#[test]
fn close_session_and_close_another_as_admin() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(17)));
    let (first, ..) = logged_in(p.login_v20().unwrap());
    let (second, ..) = logged_in(p.login_v20().unwrap());
    assert_ne!(first, second);
    // Get Session Info on the current session.
    let m = response(p.command(0x06, 0x3D, &[0]).unwrap());
    assert_eq!(m.completion(), Some(0));
    let d = m.response_data();
    assert_eq!(d[2], 2, "two active sessions");
    assert_eq!(d[3], 2, "user id of admin");
    assert_eq!(d[4], 4, "administrator");
    assert_eq!(d[5] >> 4, 1, "IPMI 2.0 session");
    // Unknown session ID.
    let m = response(p.command(0x06, 0x3C, &0xDEADBEEFu32.to_le_bytes()).unwrap());
    assert_eq!(m.completion(), Some(0x87));
    // Close the first session from the second.
    let m = response(p.command(0x06, 0x3C, &first.to_le_bytes()).unwrap());
    assert_eq!(m.completion(), Some(0));
    assert_eq!(p.bmc.sessions().count(), 1);
    // Close our own.
    let b = p.console.close(p.now, &mut p.rng).unwrap();
    let m = response(p.drive(b).unwrap());
    assert_eq!(m.completion(), Some(0));
    assert!(!p.console.logged_in());
    assert_eq!(p.bmc.sessions().count(), 0);
}

#[test]
fn sol_activate_echo_and_deactivate() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(17)));
    let (sid, ..) = logged_in(p.login_v20().unwrap());
    let m = response(p.command(0x06, 0x4E, &[0x0E]).unwrap());
    assert_eq!(m.response_data()[0] & 0x02, 0x02, "SOL supported");
    // Activate: the response, then the banner as a SOL packet.
    let b = p.console.activate_sol(true, p.now, &mut p.rng).unwrap();
    let h = p.deliver(&b);
    assert_eq!(h.replies.len(), 2);
    let ev = p.console.receive(&h.replies[0], p.now, &mut p.rng).unwrap();
    let m = response(Some(ev));
    assert_eq!(m.completion(), Some(0));
    assert_eq!(&m.response_data()[8..10], &623u16.to_le_bytes());
    match p.console.receive(&h.replies[1], p.now, &mut p.rng).unwrap() {
        Event::Sol { packet, ack } => {
            assert_eq!(packet.data, b"login: ");
            assert_ne!(packet.seq, 0);
            let h = p.deliver(&ack.expect("ack for data"));
            assert!(h.replies.is_empty());
            assert_eq!(h.record.kind, RecordKind::Sol);
        }
        other => panic!("{other:?}"),
    }
    // Second activation is refused: already active.
    let m = response(p.command(0x06, 0x48, &[1, 1, 0xC0, 0, 0, 0]).unwrap());
    assert_eq!(m.completion(), Some(0x80));
    // Instance info names our session.
    let m = response(p.command(0x06, 0x4B, &[1, 1]).unwrap());
    assert_eq!(&m.response_data()[..4], &sid.to_le_bytes());
    // Type, get the echo acknowledged.
    let b = p.console.sol_send(b"root\r", p.now, &mut p.rng).unwrap();
    let h = p.deliver(&b);
    assert_eq!(h.record.kind, RecordKind::Sol);
    assert_eq!(h.record.request, b"root\r");
    assert_eq!(p.app.sol_in, b"root\r");
    assert_eq!(h.replies.len(), 1);
    match p.console.receive(&h.replies[0], p.now, &mut p.rng).unwrap() {
        Event::Sol { packet, .. } => {
            assert_eq!(packet.accepted, 5);
            assert_eq!(packet.data, b"ROOT\r");
        }
        other => panic!("{other:?}"),
    }
    // A retransmission is acknowledged again but delivered once.
    let h = p.deliver(&b);
    assert!(
        matches!(h.record.kind, RecordKind::Dropped { .. }),
        "{:?}",
        h.record
    );
    let m = response(p.command(0x06, 0x49, &[1, 1, 0, 0, 0, 0]).unwrap());
    assert_eq!(m.completion(), Some(0));
    let m = response(p.command(0x06, 0x49, &[1, 1, 0, 0, 0, 0]).unwrap());
    assert_eq!(m.completion(), Some(0x80));
    assert_eq!(p.app.sol_in, b"root\r");
}

#[test]
fn sessionless_commands_in_both_framings() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Auto));
    // Ping.
    let b = p.console.ping(p.now);
    match p.drive(b).unwrap() {
        Some(Event::Pong(pong)) => assert_eq!(pong.entities, 0x81),
        other => panic!("{other:?}"),
    }
    assert_eq!(p.last_record().kind, RecordKind::Ping);
    for v20 in [false, true] {
        let b = p.console.auth_caps(v20, p.now);
        let m = response(p.drive(b).unwrap());
        let d = m.response_data();
        assert_eq!(m.completion(), Some(0));
        assert_eq!(d[0], 1);
        assert_eq!(d[1] & 0x16, 0x14, "MD5 and password, not MD2");
        assert_eq!(d[1] & 0x01, 0, "no auth type none");
        assert_eq!(d[1] & 0x80 != 0, v20);
        if v20 {
            assert_eq!(d[3], 0x03);
        }
        assert_eq!(p.last_record().kind, RecordKind::Sessionless);
    }
    // Cipher suites by suite: 4 records of 5 bytes = 20 bytes over two pages.
    let b = p.console.cipher_suites(0, p.now);
    let m = response(p.drive(b).unwrap());
    let page0 = m.response_data().to_vec();
    assert_eq!(page0.len(), 17);
    assert_eq!(&page0[1..6], &[0xC0, 17, 0x03, 0x44, 0x81]);
    let b = p.console.cipher_suites(1, p.now);
    let m = response(p.drive(b).unwrap());
    assert_eq!(m.response_data().len(), 1 + 4);
    let b = p.console.cipher_suites(2, p.now);
    let m = response(p.drive(b).unwrap());
    assert_eq!(m.response_data(), &[1]);
    // By algorithm.
    let b = p
        .console
        .sessionless(0x06, 0x54, &[0x0E, 0, 0x00], true, p.now);
    let m = response(p.drive(b).unwrap());
    assert_eq!(
        m.response_data(),
        &[1, 0x03, 0x01, 0x44, 0x41, 0x40, 0x81, 0x80]
    );
    // Other commands are refused before login, not ignored.
    let b = p.console.sessionless(0x06, 0x01, &[], false, p.now);
    let m = response(p.drive(b).unwrap());
    assert_eq!(m.completion(), Some(cc::INSUFFICIENT_PRIVILEGE));
}

#[test]
fn unknown_commands_get_c1_from_the_application() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(17)));
    logged_in(p.login_v20().unwrap());
    let m = response(p.command(0x2C, 0x00, &[0x00]).unwrap());
    assert_eq!(m.completion(), Some(cc::INVALID_COMMAND));
    assert_eq!(p.last_record().completion, Some(cc::INVALID_COMMAND));
}

#[test]
fn kg_is_used_for_the_sik_when_set() {
    let kg = b"0123456789".to_vec();
    let mut p = Pair::new(
        BmcConfig {
            kg: Some(kg.clone()),
            ..BmcConfig::default()
        },
        ConsoleConfig {
            kg: Some(kg),
            ..admin(SuiteChoice::Id(3))
        },
    );
    logged_in(p.login_v20().unwrap());
    // A console without the key derives another SIK and refuses RAKP4.
    let mut p = Pair::new(
        BmcConfig {
            kg: Some(b"0123456789".to_vec()),
            ..BmcConfig::default()
        },
        admin(SuiteChoice::Id(3)),
    );
    assert_eq!(p.login_v20().unwrap_err(), ConsoleError::Rakp4Mismatch);
}

#[test]
fn the_run_is_deterministic() {
    let run = || {
        let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(17)));
        logged_in(p.login_v20().unwrap());
        response(p.command(0x06, 0x01, &[]).unwrap());
        p.console.transcript().to_vec()
    };
    let a = run();
    assert!(a.len() >= 8);
    assert_eq!(a, run());
}

/// freeipmi starts its receive window at the Activate Session answer's sequence number
/// and drops a repeat of it: the answer carries the console's initial outbound sequence
/// number and the next BMC packet the one after.
#[test]
fn ipmi15_bmc_sequence_numbers_follow_the_console_request() {
    use ipmi::rmcp::{self, Frame};
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Auto));
    let challenge = p.console.login_v15(AuthType::Md5, p.now);
    let h = p.deliver(&challenge);
    let Event::Send(activate) = p.console.receive(&h.replies[0], p.now, &mut p.rng).unwrap() else {
        panic!("activate expected")
    };
    let Frame::V15(req) = rmcp::decode(&activate).unwrap() else {
        panic!()
    };
    let d = &req.message[6..req.message.len() - 1];
    let initial = u32::from_le_bytes([d[18], d[19], d[20], d[21]]);
    let h = p.deliver(&activate);
    let Frame::V15(rsp) = rmcp::decode(&h.replies[0]).unwrap() else {
        panic!()
    };
    assert_eq!(rsp.seq, initial);
    let Event::Send(set_priv) = p.console.receive(&h.replies[0], p.now, &mut p.rng).unwrap() else {
        panic!("set privilege expected")
    };
    let h = p.deliver(&set_priv);
    let Frame::V15(rsp) = rmcp::decode(&h.replies[0]).unwrap() else {
        panic!()
    };
    assert_eq!(rsp.seq, initial.wrapping_add(1).max(1));
    logged_in(Some(
        p.console.receive(&h.replies[0], p.now, &mut p.rng).unwrap(),
    ));
}

/// Open Session requests nobody completes (a flood, or clients that crashed) hold at
/// most half the slots, give way oldest first, and are forgotten after the handshake
/// timeout: a real client still logs in, and completed sessions are never displaced.
#[test]
fn half_open_handshakes_cannot_lock_out_a_real_client() {
    let config = BmcConfig::default();
    let (limit, handshake) = (config.session_limit, config.handshake_timeout_ms);
    let mut p = Pair::new(config, admin(SuiteChoice::Id(3)));
    logged_in(p.login_v20().unwrap());
    // A flood: twice as many Open Session requests as there are slots, none completed.
    for i in 0..2 * limit {
        let mut c = ipmi::console::Console::new(admin(SuiteChoice::Id(3)));
        let open = c.login_v20(p.now, &mut p.rng);
        p.now += 1;
        let h = p.deliver(&open);
        assert_eq!(h.replies.len(), 1, "Open Session {i} answered");
    }
    let half_open = p.bmc.sessions().filter(|s| !s.active).count();
    assert_eq!(
        half_open,
        limit / 2,
        "half-open handshakes hold half the slots"
    );
    assert_eq!(p.bmc.sessions().filter(|s| s.active).count(), 1);
    // A real client logs in at once, and so does another: the half-open give way.
    let mut real = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    std::mem::swap(&mut real.bmc, &mut p.bmc);
    real.now = p.now;
    logged_in(real.login_v20().unwrap());
    let mut third = ipmi::console::Console::new(admin(SuiteChoice::Id(3)));
    std::mem::swap(&mut real.console, &mut third);
    logged_in(real.login_v20().unwrap());
    assert_eq!(real.bmc.sessions().filter(|s| s.active).count(), 3);
    // After the handshake timeout only completed sessions remain.
    real.now += handshake + 1;
    real.bmc.expire(real.now);
    assert_eq!(
        real.bmc.sessions().count(),
        3,
        "only the three logins remain"
    );
    assert!(real.bmc.sessions().all(|s| s.active));
}

/// The handshake timeout frees a half-open slot even when nothing else arrives.
#[test]
fn a_half_open_handshake_expires_after_the_handshake_timeout() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    let open = p.console.login_v20(p.now, &mut p.rng);
    p.deliver(&open);
    assert_eq!(p.bmc.sessions().count(), 1);
    let t = p.bmc.config().handshake_timeout_ms;
    p.bmc.expire(p.now + t);
    assert_eq!(p.bmc.sessions().count(), 1, "kept up to the timeout");
    p.bmc.expire(p.now + t + 1);
    assert_eq!(p.bmc.sessions().count(), 0, "forgotten after it");
}

/// Every session-layer privilege boundary from below: a Callback-level session may not
/// read session info or touch payloads, and a User session may close only its own
/// session, never an Administrator's.
#[test]
fn privilege_boundaries_of_the_session_layer_hold_from_below() {
    // Callback: the admin account logged in at Callback level.
    let mut p = Pair::new(
        BmcConfig::default(),
        ConsoleConfig {
            privilege: Privilege::Callback,
            ..admin(SuiteChoice::Id(3))
        },
    );
    let (_, privilege, ..) = logged_in(p.login_v20().unwrap());
    assert_eq!(privilege, Privilege::Callback);
    for (what, cmd, data) in [
        ("Get Session Info", 0x3D, &[0u8][..]),
        ("Get Channel Payload Support", 0x4E, &[0x0E][..]),
        (
            "Activate Payload (SOL)",
            0x48,
            &[0x01, 0x01, 0xC0, 0, 0, 0][..],
        ),
        ("Get Payload Activation Status", 0x4A, &[0x01][..]),
    ] {
        let m = response(p.command(0x06, cmd, data).unwrap());
        assert_eq!(
            m.completion(),
            Some(cc::INSUFFICIENT_PRIVILEGE),
            "{what} at Callback"
        );
    }
    // User: cannot close the administrator's session, can close its own.
    let mut admin_pair = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    let (admin_id, ..) = logged_in(admin_pair.login_v20().unwrap());
    let mut u = Pair::new(
        BmcConfig::default(),
        ConsoleConfig {
            suite: SuiteChoice::Id(3),
            privilege: Privilege::User,
            ..ConsoleConfig::new("user", "user")
        },
    );
    std::mem::swap(&mut u.bmc, &mut admin_pair.bmc);
    u.now = admin_pair.now;
    let (user_id, ..) = logged_in(u.login_v20().unwrap());
    let m = response(u.command(0x06, 0x3C, &admin_id.to_le_bytes()).unwrap());
    assert_eq!(m.completion(), Some(cc::INSUFFICIENT_PRIVILEGE));
    assert!(
        u.bmc.sessions().any(|s| s.id == admin_id),
        "the admin's session stays"
    );
    let m = response(u.command(0x06, 0x3C, &user_id.to_le_bytes()).unwrap());
    assert_eq!(m.completion(), Some(0), "its own session it may close");
    assert!(!u.bmc.sessions().any(|s| s.id == user_id));
}

/// `allow_anonymous` decides, and only it: the null user (empty name) is refused in
/// RAKP and in IPMI 1.5 Get Session Challenge unless the channel allows anonymous
/// logins, and Get Channel Authentication Capabilities says which (login status bits 0
/// and 1).
#[test]
fn the_null_user_logs_in_only_where_anonymous_logins_are_allowed() {
    let null = || ConsoleConfig {
        suite: SuiteChoice::Id(3),
        privilege: Privilege::User,
        ..ConsoleConfig::new("", "null")
    };
    let status_byte = |p: &mut Pair| {
        let b = p.console.auth_caps(true, p.now);
        response(p.drive(b).unwrap()).response_data()[2]
    };
    // Refused by default.
    let mut p = Pair::new(BmcConfig::default(), null());
    assert_eq!(
        status_byte(&mut p) & 0x03,
        0,
        "no null user, no anonymous login"
    );
    assert!(matches!(
        p.login_v20(),
        Err(ConsoleError::Refused {
            stage: "RAKP2",
            status: status::UNAUTHORIZED_NAME
        })
    ));
    let b = p.console.login_v15(AuthType::Md5, p.now);
    let refused = p.drive(b);
    assert!(
        matches!(
            refused,
            Err(ConsoleError::Completion {
                stage: "Get Session Challenge",
                completion: 0x82
            })
        ),
        "IPMI 1.5 refuses the null user too (0x82): {refused:?}"
    );
    // Allowed when the channel says so.
    let allow = || BmcConfig {
        allow_anonymous: true,
        ..BmcConfig::default()
    };
    let mut p = Pair::new(allow(), null());
    assert_eq!(
        status_byte(&mut p) & 0x03,
        0x03,
        "null user and anonymous login"
    );
    let (_, privilege, ..) = logged_in(p.login_v20().unwrap());
    assert_eq!(privilege, Privilege::User);
    let mut p = Pair::new(
        allow(),
        ConsoleConfig {
            privilege: Privilege::User,
            ..ConsoleConfig::new("", "null")
        },
    );
    let b = p.console.login_v15(AuthType::Md5, p.now);
    logged_in(p.drive(b).unwrap());
}

/// Correctly framed session-setup payloads of every short length: an Open Session
/// Request under 8 bytes (no tag or console ID to answer to) and a RAKP 1 under 28
/// bytes are dropped; from 8 bytes on, an Open Session Request of the wrong length is
/// answered "illegal parameter"; nothing panics.
#[test]
fn setup_payloads_of_every_short_length_are_dropped_or_refused() {
    use ipmi::rmcp::{encode_v20_unsigned, payload};
    for len in 0..=40usize {
        let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
        // A plausible request: tag 1, console ID 0x11223344, then zeros.
        let mut body = vec![0u8; len];
        if len >= 8 {
            body[0] = 1;
            body[4..8].copy_from_slice(&0x1122_3344u32.to_le_bytes());
        }
        let d = encode_v20_unsigned(payload::OPEN_SESSION_REQUEST, false, false, 0, 0, &body);
        let h = p.deliver(&d);
        match len {
            0..=7 => assert!(h.replies.is_empty(), "{len} bytes: dropped"),
            32 => {} // a whole request (its algorithms here are all "any"): judged on content
            _ => {
                assert_eq!(h.replies.len(), 1, "{len} bytes: answered");
                // RMCP (4) + session header (12): the Open Session Response's status is
                // its second byte.
                let status = h.replies[0][16 + 1];
                assert_eq!(status, status::ILLEGAL_PARAMETER, "{len} bytes");
            }
        }
        // RAKP 1 after a real Open Session, at every short length.
        let open = p.console.login_v20(p.now, &mut p.rng);
        let h = p.deliver(&open);
        assert_eq!(h.replies.len(), 1);
        let rakp = encode_v20_unsigned(payload::RAKP1, false, false, 0, 0, &vec![0u8; len]);
        let h = p.deliver(&rakp);
        if len < 28 {
            assert!(h.replies.is_empty(), "RAKP1 of {len} bytes: dropped");
        }
    }
}

/// The two phases: a command handed out by `receive` and dropped leaves the session
/// layer as it was (the same packet is taken again, not refused as a replay); answered,
/// the same packet afterwards is a replay.
#[test]
fn a_dropped_command_commits_nothing_and_an_answered_one_commits_its_sequence_number() {
    use ipmi::app::Response;
    use ipmi::session::Event as Bmc;
    for suite in [SuiteChoice::Id(3), SuiteChoice::Id(17)] {
        let mut p = Pair::new(BmcConfig::default(), admin(suite));
        logged_in(p.login_v20().unwrap());
        let before: Vec<_> = p.bmc.sessions().collect();
        p.now += 500;
        let d = p
            .console
            .command(0x06, 0x01, &[], p.now, &mut p.rng)
            .unwrap();
        let Bmc::Command(c) = p.bmc.receive(&p.app, &d, None, p.now, &mut p.rng) else {
            panic!("a command for the application");
        };
        assert_eq!((c.request().netfn, c.request().cmd), (0x06, 0x01));
        assert_eq!(c.request().session.map(|s| s.user), Some(&b"admin"[..]));
        let h = p.bmc.drop(c, "not now");
        assert!(h.replies.is_empty());
        assert_eq!(
            h.record.kind,
            RecordKind::Dropped {
                reason: DropReason::Application("not now".into())
            }
        );
        assert_eq!(
            h.record.cmd,
            Some(0x01),
            "the record still says what it was"
        );
        let after: Vec<_> = p.bmc.sessions().collect();
        assert_eq!(before, after, "last activity and everything else unchanged");
        // The same packet again: taken, answered, committed.
        let Bmc::Command(c) = p.bmc.receive(&p.app, &d, None, p.now, &mut p.rng) else {
            panic!("the dropped packet is not a replay");
        };
        let h = p.bmc.answer(c, Response::ok(vec![0x20]), &mut p.rng);
        assert_eq!(h.replies.len(), 1);
        assert_eq!(h.record.completion, Some(cc::OK));
        assert_eq!(h.record.response, vec![0x20]);
        let rsp = match p.console.receive(&h.replies[0], p.now, &mut p.rng) {
            Ok(Event::Response(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (rsp.completion(), rsp.response_data()),
            (Some(cc::OK), &[0x20][..])
        );
        let s = p.bmc.sessions().next().unwrap();
        assert_eq!(s.last_activity_ms, p.now);
        match p.bmc.receive(&p.app, &d, None, p.now, &mut p.rng) {
            ipmi::session::Event::Done(h) => assert_eq!(
                h.record.kind,
                RecordKind::Dropped {
                    reason: DropReason::Replay(d_seq(&d))
                }
            ),
            other => panic!("{other:?}"),
        }
    }
}

/// The RMCP+ session sequence number of an authenticated packet.
fn d_seq(d: &[u8]) -> u32 {
    u32::from_le_bytes([d[10], d[11], d[12], d[13]])
}

/// A session-layer command waits for the go-ahead too: a dropped Set Session Privilege
/// Level changes nothing, a dropped Close Session closes nothing.
#[test]
fn dropped_session_commands_have_no_effect() {
    use ipmi::session::Event as Bmc;
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    logged_in(p.login_v20().unwrap());
    let level = p.bmc.sessions().next().unwrap().privilege;
    let d = p
        .console
        .command(
            0x06,
            0x3B,
            &[Privilege::Administrator.to_u8()],
            p.now,
            &mut p.rng,
        )
        .unwrap();
    let Bmc::SessionCommand(c) = p.bmc.receive(&p.app, &d, None, p.now, &mut p.rng) else {
        panic!("Set Session Privilege Level is the session layer's");
    };
    assert_eq!(c.record().cmd, Some(0x3B));
    p.bmc.drop(c, "no");
    assert_eq!(p.bmc.sessions().next().unwrap().privilege, level);
    let id = p.bmc.sessions().next().unwrap().id;
    let d = p
        .console
        .command(0x06, 0x3C, &id.to_le_bytes(), p.now, &mut p.rng)
        .unwrap();
    let Bmc::SessionCommand(c) = p.bmc.receive(&p.app, &d, None, p.now, &mut p.rng) else {
        panic!("Close Session is the session layer's");
    };
    p.bmc.drop(c, "no");
    assert_eq!(p.bmc.sessions().count(), 1, "still open");
    // Let through, it closes the session.
    let Bmc::SessionCommand(c) = p.bmc.receive(&p.app, &d, None, p.now, &mut p.rng) else {
        panic!("again");
    };
    let h = p.bmc.proceed(c, &mut p.rng);
    assert_eq!(h.record.completion, Some(cc::OK));
    assert_eq!(p.bmc.sessions().count(), 0);
}

/// `next_timeout` names the first millisecond `handle_timeout` closes something at.
#[test]
fn next_timeout_is_when_the_idle_session_goes() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    assert_eq!(p.bmc.next_timeout(), None);
    let open = p.console.login_v20(p.now, &mut p.rng);
    p.deliver(&open);
    let h = p.bmc.config().handshake_timeout_ms;
    assert_eq!(
        p.bmc.next_timeout(),
        Some(p.now + h + 1),
        "a half-open handshake"
    );
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    logged_in(p.login_v20().unwrap());
    let last = p.bmc.sessions().next().unwrap().last_activity_ms;
    let t = p.bmc.config().idle_timeout_ms;
    let next = p.bmc.next_timeout().unwrap();
    assert_eq!(next, last + t + 1);
    p.bmc.handle_timeout(next - 1);
    assert_eq!(p.bmc.sessions().count(), 1);
    p.bmc.handle_timeout(next);
    assert_eq!(p.bmc.sessions().count(), 0);
    assert_eq!(p.bmc.next_timeout(), None);
}
