//! Properties of the BMC session layer stated by IPMI v2.0 (and by the seeded-defect
//! switches of [`BmcDefects`]), checked on the bytes the BMC answers: Get Channel
//! Authentication Capabilities and Get Channel Cipher Suites contents, the IPMI 1.5
//! Activate Session checks, RMCP+ Open Session / RAKP 1 refusals with their status
//! codes, session IDs and handles, session slots, sequence numbers, and the admin API.

mod common;

use std::collections::VecDeque;

use common::{Pair, response};
use ipmi::codes::{Privilege, cc};
use ipmi::console::{Console, ConsoleConfig, Event, SuiteChoice};
use ipmi::msg::Message;
use ipmi::rmcp::{self, AuthType, Frame, encode_v20_unsigned, payload};
use ipmi::session::{BmcConfig, BmcDefects, DropReason, RecordKind, status};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

fn admin(suite: SuiteChoice) -> ConsoleConfig {
    ConsoleConfig {
        suite,
        ..ConsoleConfig::new("admin", "admin")
    }
}

fn user_at(name: &str, password: &str, privilege: Privilege) -> ConsoleConfig {
    ConsoleConfig {
        suite: SuiteChoice::Id(3),
        privilege,
        ..ConsoleConfig::new(name, password)
    }
}

fn logged_in(e: Option<Event>) -> u32 {
    match e {
        Some(Event::LoggedIn { session_id, .. }) => session_id,
        other => panic!("expected a login, got {other:?}"),
    }
}

/// A sessionless command (IPMI 1.5 framing, or RMCP+ framing if `v20`): the response.
fn sessionless(p: &mut Pair, cmd: u8, data: &[u8], v20: bool) -> Message {
    let b = p.console.sessionless(0x06, cmd, data, v20, p.now);
    response(p.drive(b).unwrap())
}

/// The IPMI message of an IPMI 1.5 answer.
fn v15_message(reply: &[u8]) -> Message {
    match rmcp::decode(reply).unwrap() {
        Frame::V15(p) => Message::decode(p.message).unwrap(),
        other => panic!("expected an IPMI 1.5 packet, got {other:?}"),
    }
}

/// The payload of an unsigned RMCP+ answer (after the 4-byte RMCP header and the
/// 12-byte session header): an Open Session Response or a RAKP message.
fn setup_body(reply: &[u8]) -> &[u8] {
    match rmcp::decode(reply).unwrap() {
        Frame::V20(p) => {
            assert!(!p.encrypted && !p.authenticated && p.session_id == 0);
            &reply[16..]
        }
        other => panic!("expected an RMCP+ packet, got {other:?}"),
    }
}

/// An RMCP+ Open Session Request datagram.
fn open_request(tag: u8, privilege: u8, console_id: u32, algs: (u8, u8, u8)) -> Vec<u8> {
    let mut d = vec![tag, privilege, 0, 0];
    d.extend_from_slice(&console_id.to_le_bytes());
    d.extend_from_slice(&[0, 0, 0, 8, algs.0, 0, 0, 0]);
    d.extend_from_slice(&[1, 0, 0, 8, algs.1, 0, 0, 0]);
    d.extend_from_slice(&[2, 0, 0, 8, algs.2, 0, 0, 0]);
    encode_v20_unsigned(payload::OPEN_SESSION_REQUEST, false, false, 0, 0, &d)
}

/// A RAKP Message 1 datagram with a raw name-length byte and name.
fn rakp1_request(bmc_id: u32, role: u8, name_len: u8, name: &[u8]) -> Vec<u8> {
    let mut d = vec![7, 0, 0, 0];
    d.extend_from_slice(&bmc_id.to_le_bytes());
    d.extend_from_slice(&[0x5A; 16]);
    d.extend_from_slice(&[role, 0, 0, name_len]);
    d.extend_from_slice(name);
    encode_v20_unsigned(payload::RAKP1, false, false, 0, 0, &d)
}

/// Opens an RMCP+ session (suite 3 algorithms, Administrator): the BMC session ID.
fn open_session(p: &mut Pair, console_id: u32) -> u32 {
    let h = p.deliver(&open_request(1, 4, console_id, (1, 1, 1)));
    let b = setup_body(&h.replies[0]);
    assert_eq!(b[1], status::OK, "Open Session accepted");
    u32::from_le_bytes([b[8], b[9], b[10], b[11]])
}

/// Get Session Challenge from the pair's console: (temporary session ID, challenge);
/// afterwards the console seals packets in the temporary session.
fn challenge(p: &mut Pair, auth: AuthType) -> (u32, [u8; 16]) {
    let b = p.console.login_v15(auth, p.now);
    let h = p.deliver(&b);
    let m = v15_message(&h.replies[0]);
    assert_eq!(m.completion(), Some(cc::OK), "Get Session Challenge");
    let d = m.response_data();
    let temp = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
    let mut ch = [0u8; 16];
    ch.copy_from_slice(&d[4..20]);
    match p.console.receive(&h.replies[0], p.now, &mut p.rng).unwrap() {
        Event::Send(_) => {}
        other => panic!("expected Activate Session, got {other:?}"),
    }
    (temp, ch)
}

/// Activate Session request data.
fn activate_data(auth: AuthType, privilege: u8, challenge: &[u8; 16]) -> Vec<u8> {
    let mut d = vec![auth.to_u8(), privilege];
    d.extend_from_slice(challenge);
    d.extend_from_slice(&0x0000_1000u32.to_le_bytes());
    d
}

/// Sends a command in the console's IPMI 1.5 (temporary) session: the answer.
fn v15_command(p: &mut Pair, cmd: u8, data: &[u8]) -> Message {
    let b = p
        .console
        .command(0x06, cmd, data, p.now, &mut p.rng)
        .unwrap();
    let h = p.deliver(&b);
    assert_eq!(h.replies.len(), 1, "answered: {:?}", h.record);
    v15_message(&h.replies[0])
}

/// An RNG whose `next_u32` answers come from a script first (session IDs), everything
/// else from a seeded generator.
struct Scripted {
    ids: VecDeque<u32>,
    inner: StdRng,
}

impl Scripted {
    fn new(ids: &[u32]) -> Scripted {
        Scripted {
            ids: ids.iter().copied().collect(),
            inner: StdRng::seed_from_u64(9),
        }
    }
}

impl RngCore for Scripted {
    fn next_u32(&mut self) -> u32 {
        self.ids
            .pop_front()
            .unwrap_or_else(|| self.inner.next_u32())
    }
    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.inner.fill_bytes(dst)
    }
}

// ----- Get Channel Authentication Capabilities -----

/// The channel number byte names the channel asked about: 0xE (this channel) and the
/// LAN channel's own number are answered, any other channel is "invalid data field";
/// the requested privilege level must be 1..=5 (Callback..OEM).
#[test]
fn auth_caps_answers_only_for_this_channel_and_a_valid_privilege() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Auto));
    let channel = p.bmc.config().channel;
    for c in 0u8..=0x0F {
        for v20 in [false, true] {
            let ext = if v20 { 0x80 } else { 0 };
            let m = sessionless(&mut p, 0x38, &[ext | c, 4], v20);
            let ok = c == 0x0E || c == channel;
            let want = if ok { cc::OK } else { cc::INVALID_DATA_FIELD };
            assert_eq!(m.completion(), Some(want), "channel {c:#x}");
            if ok {
                assert_eq!(
                    m.response_data()[0],
                    channel,
                    "the answer names the channel"
                );
            }
        }
    }
    for level in 0u8..=0x0F {
        let m = sessionless(&mut p, 0x38, &[0x0E, level], false);
        let want = if (1..=5).contains(&level) {
            cc::OK
        } else {
            cc::INVALID_DATA_FIELD
        };
        assert_eq!(m.completion(), Some(want), "privilege {level}");
    }
}

/// Byte 3 bit 5 (KG status) is set exactly when a non-zero Kg is configured: an
/// all-zero Kg is the default key and reads as "not set"; the other login-status bits
/// stay as they are (non-null user names enabled).
#[test]
fn auth_caps_kg_status_reports_a_non_zero_kg_only() {
    for (kg, set) in [
        (None, false),
        (Some(vec![0u8; 20]), false),
        (Some(b"0123456789".to_vec()), true),
        (Some(vec![0, 0, 0, 1]), true),
    ] {
        let mut p = Pair::new(
            BmcConfig {
                kg: kg.clone(),
                ..BmcConfig::default()
            },
            admin(SuiteChoice::Auto),
        );
        for v20 in [false, true] {
            let ext = if v20 { 0x8E } else { 0x0E };
            let m = sessionless(&mut p, 0x38, &[ext, 4], v20);
            let want = 0x04 | if set { 0x20 } else { 0 };
            assert_eq!(m.response_data()[2], want, "Kg {kg:?}");
        }
    }
}

// ----- Get Channel Cipher Suites -----

/// Cipher suite 0 (no authentication, integrity or confidentiality) is listed when it
/// is enabled, with its record C0 00 00 40 80; the `unlisted_suite_zero` defect hides
/// it and only it.
#[test]
fn suite_zero_is_listed_when_enabled_and_only_the_defect_hides_it() {
    // Suite 0: algorithms 0/0/0; suite 3: RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128.
    let rec0 = [0xC0, 0, 0x00, 0x40, 0x80];
    let rec3 = [0xC0, 3, 0x01, 0x41, 0x81];
    for hide in [false, true] {
        let mut p = Pair::new(
            BmcConfig {
                cipher_suites: vec![0, 3],
                defects: BmcDefects {
                    unlisted_suite_zero: hide,
                    ..BmcDefects::default()
                },
                ..BmcConfig::default()
            },
            admin(SuiteChoice::Auto),
        );
        let b = p.console.cipher_suites(0, p.now);
        let m = response(p.drive(b).unwrap());
        let mut want = vec![1u8];
        if !hide {
            want.extend_from_slice(&rec0);
        }
        want.extend_from_slice(&rec3);
        assert_eq!(m.response_data(), &want[..], "hide suite 0: {hide}");
    }
}

// ----- IPMI 1.5 login -----

/// Until Activate Session succeeds, the temporary session ID of a challenge admits no
/// other command (insufficient privilege), and the challenge stays usable.
#[test]
fn the_temporary_session_admits_only_activate_session() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Auto));
    let (_, ch) = challenge(&mut p, AuthType::Md5);
    let m = v15_command(&mut p, 0x01, &[]);
    assert_eq!(m.completion(), Some(cc::INSUFFICIENT_PRIVILEGE));
    assert_eq!(p.bmc.sessions().count(), 0);
    let m = v15_command(&mut p, 0x3A, &activate_data(AuthType::Md5, 4, &ch));
    assert_eq!(m.completion(), Some(cc::OK));
    assert_eq!(p.bmc.sessions().count(), 1);
}

/// Activate Session must carry the authentication type the challenge was issued for
/// and the challenge string itself; otherwise it is refused (invalid data field) and
/// no session opens.
#[test]
fn activate_session_must_echo_the_challenge_and_its_auth_type() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Auto));
    let (temp, ch) = challenge(&mut p, AuthType::Md5);
    let mut wrong = ch;
    wrong[15] ^= 0x01;
    let m = v15_command(&mut p, 0x3A, &activate_data(AuthType::Md5, 4, &wrong));
    assert_eq!(
        m.completion(),
        Some(cc::INVALID_DATA_FIELD),
        "wrong challenge"
    );
    let m = v15_command(&mut p, 0x3A, &activate_data(AuthType::Password, 4, &ch));
    assert_eq!(
        m.completion(),
        Some(cc::INVALID_DATA_FIELD),
        "wrong auth type"
    );
    assert_eq!(p.bmc.sessions().count(), 0);
    let m = v15_command(&mut p, 0x3A, &activate_data(AuthType::Md5, 4, &ch));
    assert_eq!(m.completion(), Some(cc::OK));
    assert_eq!(&m.response_data()[1..5], &temp.to_le_bytes());
}

/// Activate Session refuses a maximum privilege above the account's limit (0x86) and
/// grants any level up to it, echoing the granted maximum; the
/// `ignore_privilege_limit` defect lets exactly the listed account limits through.
#[test]
fn activate_session_holds_the_account_privilege_limit() {
    for (requested, ok) in [
        (Privilege::Callback, true),
        (Privilege::User, true),
        (Privilege::Operator, false),
        (Privilege::Administrator, false),
    ] {
        let mut p = Pair::new(
            BmcConfig::default(),
            user_at("user", "user", Privilege::User),
        );
        let (_, ch) = challenge(&mut p, AuthType::Md5);
        let data = activate_data(AuthType::Md5, requested.to_u8(), &ch);
        let m = v15_command(&mut p, 0x3A, &data);
        if ok {
            assert_eq!(m.completion(), Some(cc::OK), "{requested:?}");
            assert_eq!(m.response_data()[9], requested.to_u8());
            assert_eq!(p.bmc.sessions().count(), 1);
        } else {
            assert_eq!(m.completion(), Some(0x86), "{requested:?}");
            assert_eq!(p.bmc.sessions().count(), 0);
        }
    }
    for (ignored, ok) in [
        (vec![Privilege::User], true),
        (vec![Privilege::Operator], false),
    ] {
        let mut p = Pair::new(
            BmcConfig {
                defects: BmcDefects {
                    ignore_privilege_limit: ignored.clone(),
                    ..BmcDefects::default()
                },
                ..BmcConfig::default()
            },
            user_at("user", "user", Privilege::User),
        );
        let (_, ch) = challenge(&mut p, AuthType::Md5);
        let m = v15_command(&mut p, 0x3A, &activate_data(AuthType::Md5, 4, &ch));
        let want = if ok { cc::OK } else { 0x86 };
        assert_eq!(m.completion(), Some(want), "limit ignored for {ignored:?}");
    }
}

/// Activate Session into a full session table: a half-open RMCP+ handshake gives way,
/// completed sessions never do (0x81, no session slot available).
#[test]
fn activate_session_displaces_a_half_open_handshake_but_never_a_session() {
    let config = BmcConfig {
        session_limit: 2,
        ..BmcConfig::default()
    };
    let mut p = Pair::new(config.clone(), admin(SuiteChoice::Id(3)));
    let active = logged_in(p.login_v20().unwrap());
    let half_open = open_session(&mut p, 0x1111_2222);
    assert_eq!(p.bmc.sessions().count(), 2);
    let (_, ch) = challenge(&mut p, AuthType::Md5);
    let m = v15_command(&mut p, 0x3A, &activate_data(AuthType::Md5, 4, &ch));
    assert_eq!(m.completion(), Some(cc::OK));
    let ids: Vec<u32> = p.bmc.sessions().map(|s| s.id).collect();
    assert!(ids.contains(&active));
    assert!(!ids.contains(&half_open), "the half-open handshake went");
    assert_eq!(ids.len(), 2);
    // Now two completed sessions: the next login finds no slot.
    let (_, ch) = challenge(&mut p, AuthType::Md5);
    let m = v15_command(&mut p, 0x3A, &activate_data(AuthType::Md5, 4, &ch));
    assert_eq!(m.completion(), Some(0x81));
    assert_eq!(p.bmc.sessions().count(), 2);
}

/// Get Session Challenge accepts only the enabled authentication types; the
/// `accept_unadvertised_none` defect adds type none and nothing else.
#[test]
fn get_session_challenge_accepts_the_enabled_types_and_the_defect_adds_only_none() {
    for defect in [false, true] {
        let mut p = Pair::new(
            BmcConfig {
                ipmi15_auth: vec![AuthType::Md5],
                defects: BmcDefects {
                    accept_unadvertised_none: defect,
                    ..BmcDefects::default()
                },
                ..BmcConfig::default()
            },
            admin(SuiteChoice::Auto),
        );
        for (auth, ok) in [
            (AuthType::Md5, true),
            (AuthType::Password, false),
            (AuthType::None, defect),
        ] {
            let mut d = vec![auth.to_u8()];
            d.extend_from_slice(&[0; 16]);
            d[1..6].copy_from_slice(b"admin");
            let m = sessionless(&mut p, 0x39, &d, false);
            let want = if ok { cc::OK } else { cc::INVALID_DATA_FIELD };
            assert_eq!(m.completion(), Some(want), "{auth:?}, defect {defect}");
        }
    }
}

/// The IPMI 1.5 login lives in IPMI 1.5 framing: in RMCP+ framing outside a session
/// only Get Channel Authentication Capabilities and Get Channel Cipher Suites are
/// answered, so Get Session Challenge there is refused.
#[test]
fn get_session_challenge_is_refused_in_rmcpp_framing() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Auto));
    let mut d = vec![AuthType::Md5.to_u8()];
    d.extend_from_slice(&[0; 16]);
    d[1..6].copy_from_slice(b"admin");
    let m = sessionless(&mut p, 0x39, &d, true);
    assert_eq!(m.completion(), Some(cc::INSUFFICIENT_PRIVILEGE));
    assert!(m.response_data().is_empty());
    // The same request in IPMI 1.5 framing is answered.
    let m = sessionless(&mut p, 0x39, &d, false);
    assert_eq!(m.completion(), Some(cc::OK));
}

// ----- session IDs and handles -----

/// A fresh session ID is never 0 and never one in use by a session or a pending
/// challenge, whatever the random source proposes.
#[test]
fn fresh_session_ids_are_never_zero_or_in_use() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Auto));
    let (x, y, z) = (0x1234_5678u32, 0x0BAD_CAFE, 0x7777_0001);
    let take = |p: &mut Pair, d: &[u8], ids: &[u32]| {
        let mut rng = Scripted::new(ids);
        let h = p.bmc.handle(&mut p.app, d, p.now, &mut rng);
        assert_eq!(h.replies.len(), 1);
        h
    };
    // Get Session Challenge: 0 is skipped.
    let b = p.console.login_v15(AuthType::Md5, p.now);
    let h = take(&mut p, &b, &[0, x]);
    let d = v15_message(&h.replies[0]).response_data().to_vec();
    assert_eq!(&d[..4], &x.to_le_bytes());
    // A second challenge while the first is pending: x is taken.
    let b = p.console.login_v15(AuthType::Md5, p.now);
    let h = take(&mut p, &b, &[x, y]);
    let d = v15_message(&h.replies[0]).response_data().to_vec();
    assert_eq!(&d[..4], &y.to_le_bytes());
    // Open Session: the session IDs of both pending challenges are taken.
    let h = take(
        &mut p,
        &open_request(1, 4, 0xC0C0_C0C0, (1, 1, 1)),
        &[x, y, z],
    );
    let b = setup_body(&h.replies[0]);
    assert_eq!(b[1], status::OK);
    assert_eq!(&b[8..12], &z.to_le_bytes());
    // And a session's ID is taken too.
    let w = 0x4242_4242;
    let h = take(&mut p, &open_request(2, 4, 0xC1C1_C1C1, (1, 1, 1)), &[z, w]);
    let b = setup_body(&h.replies[0]);
    assert_eq!(&b[8..12], &w.to_le_bytes());
}

/// Session handles are non-zero and unique among the open sessions, and Get Session
/// Info by handle (0xFE) finds the session holding it.
#[test]
fn session_handles_are_unique_and_non_zero() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    for _ in 0..3 {
        logged_in(p.login_v20().unwrap());
    }
    open_session(&mut p, 0x5555_0001);
    let sessions: Vec<_> = p.bmc.sessions().collect();
    assert_eq!(sessions.len(), 4);
    let mut handles: Vec<u8> = sessions.iter().map(|s| s.handle).collect();
    assert!(handles.iter().all(|h| *h != 0), "{handles:?}");
    handles.sort_unstable();
    handles.dedup();
    assert_eq!(handles.len(), 4, "unique");
    let own = p.console.session_id();
    for s in sessions.iter().filter(|s| s.active) {
        let m = response(p.command(0x06, 0x3D, &[0xFE, s.handle]).unwrap());
        assert_eq!(m.completion(), Some(cc::OK));
        assert_eq!(m.response_data()[0], s.handle);
        if s.id == own {
            let m = response(p.command(0x06, 0x3D, &[0]).unwrap());
            assert_eq!(m.response_data()[0], s.handle, "own handle");
        }
    }
}

// ----- session slots -----

/// A full session table makes room for a new Open Session by dropping the oldest
/// half-open handshake, even when half-open handshakes hold less than their share.
#[test]
fn a_full_table_gives_a_half_open_slot_to_a_new_open_session() {
    let mut p = Pair::new(
        BmcConfig {
            session_limit: 4,
            ..BmcConfig::default()
        },
        admin(SuiteChoice::Id(3)),
    );
    let mut active = Vec::new();
    for _ in 0..3 {
        active.push(logged_in(p.login_v20().unwrap()));
    }
    p.now += 1;
    let old = open_session(&mut p, 0xAAAA_0001);
    p.now += 1;
    let new = open_session(&mut p, 0xAAAA_0002);
    let ids: Vec<u32> = p.bmc.sessions().map(|s| s.id).collect();
    assert_eq!(ids.len(), 4);
    assert!(active.iter().all(|a| ids.contains(a)));
    assert!(ids.contains(&new) && !ids.contains(&old));
}

// ----- RMCP+ session setup -----

/// Session-setup messages (Open Session Request, RAKP 1, RAKP 3) and sessionless
/// messages precede any key: a packet claiming encryption or authentication, or with
/// bytes after the payload, is dropped as wrongly protected.
#[test]
fn setup_and_sessionless_packets_must_be_unprotected() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    let open = open_request(1, 4, 0x0101_0101, (1, 1, 1));
    let caps = p.console.auth_caps(true, p.now);
    for (what, plain) in [("Open Session", open), ("sessionless", caps)] {
        let payload_type = plain[5];
        let mut variants = Vec::new();
        let mut enc = plain.clone();
        enc[5] = payload_type | 0x80;
        variants.push(("encrypted flag", enc));
        let mut auth = plain.clone();
        auth[5] = payload_type | 0x40;
        variants.push(("authenticated flag", auth));
        let mut trailing = plain.clone();
        trailing.push(0);
        variants.push(("trailing byte", trailing));
        for (how, d) in variants {
            let h = p.deliver(&d);
            assert!(h.replies.is_empty(), "{what} with {how}");
            assert_eq!(
                h.record.kind,
                RecordKind::Dropped {
                    reason: DropReason::WrongProtection
                },
                "{what} with {how}"
            );
        }
        assert_eq!(p.deliver(&plain).replies.len(), 1, "{what} itself answered");
    }
    assert_eq!(p.bmc.sessions().count(), 1, "only the plain Open Session");
}

/// Open Session refuses a reserved requested privilege (6..15) with "invalid role", and
/// a remote console session ID of 0 (reserved); neither opens a session.
#[test]
fn open_session_refuses_reserved_roles_and_console_id_zero() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    for role in 6u8..=15 {
        let h = p.deliver(&open_request(1, role, 0x0202_0202, (1, 1, 1)));
        let b = setup_body(&h.replies[0]);
        assert_eq!(b[1], status::INVALID_ROLE, "role {role}");
    }
    let h = p.deliver(&open_request(1, 4, 0, (1, 1, 1)));
    assert_ne!(setup_body(&h.replies[0])[1], status::OK, "console ID 0");
    assert_eq!(p.bmc.sessions().count(), 0);
    for role in 0u8..=4 {
        let h = p.deliver(&open_request(1, role, 0x0202_0202, (1, 1, 1)));
        assert_eq!(setup_body(&h.replies[0])[1], status::OK, "role {role}");
    }
}

/// The `substitute_algorithms` defect answers an unknown authentication, integrity or
/// confidentiality algorithm with an enabled suite instead of the refusal.
#[test]
fn substitution_defect_replaces_each_unknown_algorithm() {
    for algs in [(0x20u8, 1u8, 1u8), (1, 0x20, 1), (1, 1, 0x20)] {
        let mut p = Pair::new(
            BmcConfig {
                defects: BmcDefects {
                    substitute_algorithms: true,
                    ..BmcDefects::default()
                },
                ..BmcConfig::default()
            },
            admin(SuiteChoice::Id(3)),
        );
        let enabled = p.bmc.config().cipher_suites.clone();
        let h = p.deliver(&open_request(1, 4, 0x0303_0303, algs));
        let b = setup_body(&h.replies[0]);
        assert_eq!(b[1], status::OK, "{algs:?}");
        let got = ipmi::crypto::CipherSuite::by_algorithms(
            ipmi::crypto::AuthAlg::from_u8(b[16]).unwrap(),
            ipmi::crypto::IntegrityAlg::from_u8(b[24]).unwrap(),
            ipmi::crypto::ConfAlg::from_u8(b[32]).unwrap(),
        )
        .unwrap();
        assert!(enabled.contains(&got.id), "{algs:?} -> suite {}", got.id);
    }
}

/// A retransmitted RAKP 1 (same Rm) gets the same RAKP 2 again, byte for byte, and the
/// login completes; a RAKP 1 with another Rm for the same session is refused.
#[test]
fn a_retransmitted_rakp1_gets_the_same_rakp2() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    let open = p.console.login_v20(p.now, &mut p.rng);
    let h = p.deliver(&open);
    let Event::Send(rakp1) = p.console.receive(&h.replies[0], p.now, &mut p.rng).unwrap() else {
        panic!("RAKP1 expected")
    };
    let first = p.deliver(&rakp1);
    let again = p.deliver(&rakp1);
    assert_eq!(setup_body(&first.replies[0])[1], status::OK);
    assert_eq!(first.replies, again.replies);
    // Another Rm: not a retransmission, and RAKP 2 was already sent.
    let mut other = rakp1.clone();
    other[16 + 8] ^= 0xFF;
    let h = p.deliver(&other);
    assert_eq!(setup_body(&h.replies[0])[1], status::INACTIVE_SESSION_ID);
    let Event::Send(rakp3) = p
        .console
        .receive(&again.replies[0], p.now, &mut p.rng)
        .unwrap()
    else {
        panic!("RAKP3 expected")
    };
    logged_in(p.drive(rakp3).unwrap());
}

/// RAKP 1 names are at most 16 bytes and the length byte must match the message: a
/// longer or inconsistent name is "invalid name length" (0x0C); a 16-byte name is a
/// legal length (here an unknown user: "unauthorized name", 0x0D). Either refusal ends
/// the handshake.
#[test]
fn rakp1_name_length_is_checked_before_the_name() {
    for (len_byte, name, want) in [
        (17u8, vec![b'a'; 17], status::INVALID_NAME_LENGTH),
        (16, vec![b'a'; 16], status::UNAUTHORIZED_NAME),
        (4, b"admin".to_vec(), status::INVALID_NAME_LENGTH),
        (6, b"admin".to_vec(), status::INVALID_NAME_LENGTH),
        (5, b"admin".to_vec(), status::OK),
    ] {
        let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
        let sid = open_session(&mut p, 0x0404_0404);
        let h = p.deliver(&rakp1_request(sid, 0x14, len_byte, &name));
        let b = setup_body(&h.replies[0]);
        assert_eq!(b[1], want, "length byte {len_byte}, {} bytes", name.len());
        assert_eq!(&b[4..8], &0x0404_0404u32.to_le_bytes());
        assert_eq!(
            p.bmc.sessions().count(),
            usize::from(want == status::OK),
            "a refused RAKP 1 ends the handshake"
        );
    }
}

/// RAKP 1 may not ask for more than the maximum privilege the Open Session Request
/// set ("unauthorized role", 0x0A), even for an Administrator account.
#[test]
fn rakp1_cannot_exceed_the_open_session_maximum() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    p.console.faults.open_session_privilege = Some(Privilege::Operator.to_u8());
    assert_eq!(
        p.login_v20().unwrap_err(),
        ipmi::console::ConsoleError::Refused {
            stage: "RAKP2",
            status: status::UNAUTHORIZED_ROLE
        }
    );
    assert_eq!(p.bmc.sessions().count(), 0);
    // At or below the maximum it is granted.
    for role in [Privilege::Operator, Privilege::User] {
        let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
        let sid = open_session(&mut p, 0x0505_0505);
        let h = p.deliver(&rakp1_request(sid, 0x10 | role.to_u8(), 5, b"admin"));
        assert_eq!(setup_body(&h.replies[0])[1], status::OK, "{role:?}");
    }
}

// ----- sequence numbers -----

/// The BMC's outbound session sequence number goes up by one with every packet it
/// sends in an authenticated RMCP+ session.
#[test]
fn bmc_outbound_sequence_numbers_count_up_by_one() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    logged_in(p.login_v20().unwrap());
    let mut seqs = Vec::new();
    for _ in 0..4 {
        let b = p
            .console
            .command(0x06, 0x01, &[], p.now, &mut p.rng)
            .unwrap();
        let h = p.deliver(&b);
        let Frame::V20(r) = rmcp::decode(&h.replies[0]).unwrap() else {
            panic!("RMCP+ answer expected")
        };
        assert!(r.authenticated);
        seqs.push(r.seq);
        assert!(p.console.receive(&h.replies[0], p.now, &mut p.rng).is_ok());
    }
    assert!(seqs.iter().all(|s| *s != 0), "{seqs:?}");
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0] + 1, "{seqs:?}");
    }
}

/// With the `accept_replays` defect every sequence number is processed, even one a
/// full 64 behind the highest (outside any window the BMC tracks).
#[test]
fn accept_replays_defect_processes_far_behind_packets() {
    let mut p = Pair::new(
        BmcConfig {
            defects: BmcDefects {
                accept_replays: true,
                ..BmcDefects::default()
            },
            ..BmcConfig::default()
        },
        admin(SuiteChoice::Id(3)),
    );
    logged_in(p.login_v20().unwrap());
    for _ in 0..3 {
        response(p.command(0x06, 0x01, &[]).unwrap());
    }
    let highest = p.console.next_seq() - 1;
    for behind in [63u32, 64, 65] {
        p.console.faults.next_seq = Some(highest.wrapping_sub(behind));
        let m = response(p.command(0x06, 0x01, &[]).unwrap());
        assert_eq!(m.completion(), Some(cc::OK), "{behind} behind");
    }
    let m = response(p.command(0x06, 0x01, &[]).unwrap());
    assert_eq!(m.completion(), Some(cc::OK));
}

// ----- admin API and configuration -----

/// `config()` reports the configuration the BMC was built with, and changes through
/// `config_mut()` take effect on the next datagram (here: presence ping off, then on).
#[test]
fn configuration_is_read_back_and_changes_apply_at_run_time() {
    let config = BmcConfig {
        channel: 3,
        session_limit: 5,
        presence_ping: true,
        ..BmcConfig::default()
    };
    let mut p = Pair::new(config.clone(), admin(SuiteChoice::Auto));
    assert_eq!(p.bmc.config(), &config);
    let ping = p.console.ping(p.now);
    assert_eq!(p.deliver(&ping).replies.len(), 1, "pong");
    p.bmc.config_mut().presence_ping = false;
    assert!(!p.bmc.config().presence_ping);
    let ping = p.console.ping(p.now);
    let h = p.deliver(&ping);
    assert!(h.replies.is_empty());
    assert_eq!(
        h.record.kind,
        RecordKind::Dropped {
            reason: DropReason::PingIgnored
        }
    );
    p.bmc.config_mut().presence_ping = true;
    let ping = p.console.ping(p.now);
    assert_eq!(p.deliver(&ping).replies.len(), 1, "pong again");
    // A channel number change shows in the next answer.
    p.bmc.config_mut().channel = 6;
    let m = sessionless(&mut p, 0x38, &[0x0E, 4], false);
    assert_eq!(m.response_data()[0], 6);
}

/// A BMC configured without presence ping ignores pings from the start.
#[test]
fn pings_are_ignored_when_presence_ping_is_off() {
    let mut p = Pair::new(
        BmcConfig {
            presence_ping: false,
            ..BmcConfig::default()
        },
        admin(SuiteChoice::Auto),
    );
    let ping = p.console.ping(p.now);
    let h = p.deliver(&ping);
    assert!(h.replies.is_empty());
    assert_eq!(
        h.record.kind,
        RecordKind::Dropped {
            reason: DropReason::PingIgnored
        }
    );
}

/// The admin API's `close_session` closes exactly the named session and says whether it
/// existed; the closed session's packets are then unknown.
#[test]
fn admin_close_session_closes_exactly_the_named_session() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    let mut other = Console::new(admin(SuiteChoice::Id(3)));
    std::mem::swap(&mut p.console, &mut other);
    let first = logged_in(p.login_v20().unwrap());
    std::mem::swap(&mut p.console, &mut other);
    let second = logged_in(p.login_v20().unwrap());
    assert!(!p.bmc.close_session(0x0DEA_DBEE), "unknown ID");
    assert_eq!(p.bmc.sessions().count(), 2);
    assert!(p.bmc.close_session(first));
    let ids: Vec<u32> = p.bmc.sessions().map(|s| s.id).collect();
    assert_eq!(ids, vec![second]);
    assert!(!p.bmc.close_session(first), "already closed");
    // The second session still works.
    let m = response(p.command(0x06, 0x01, &[]).unwrap());
    assert_eq!(m.completion(), Some(cc::OK));
    // The first one's packets are unknown now.
    std::mem::swap(&mut p.console, &mut other);
    assert_eq!(p.command(0x06, 0x01, &[]).unwrap(), None);
    assert_eq!(
        p.last_record().kind,
        RecordKind::Dropped {
            reason: DropReason::UnknownSession(first)
        }
    );
}

/// A retransmitted RAKP 3 (same AuthCode) for a session it already activated gets the
/// same RAKP 4 again; a RAKP 3 with another AuthCode for the active session is not a
/// retransmission and is refused ("inactive session ID": no handshake in progress),
/// and the session stays up.
#[test]
fn a_retransmitted_rakp3_gets_the_same_rakp4() {
    let mut p = Pair::new(
        BmcConfig::default(),
        user_at("user", "user", Privilege::User),
    );
    let open = p.console.login_v20(p.now, &mut p.rng);
    let h = p.deliver(&open);
    let Event::Send(rakp1) = p.console.receive(&h.replies[0], p.now, &mut p.rng).unwrap() else {
        panic!("RAKP1 expected")
    };
    let h = p.deliver(&rakp1);
    let Event::Send(rakp3) = p.console.receive(&h.replies[0], p.now, &mut p.rng).unwrap() else {
        panic!("RAKP3 expected")
    };
    let first = p.deliver(&rakp3);
    let again = p.deliver(&rakp3);
    assert_eq!(setup_body(&first.replies[0])[1], status::OK);
    assert_eq!(first.replies, again.replies);
    let mut other = rakp3.clone();
    let last = other.len() - 1;
    other[last] ^= 0x01;
    let h = p.deliver(&other);
    assert_eq!(setup_body(&h.replies[0])[1], status::INACTIVE_SESSION_ID);
    logged_in(Some(
        p.console
            .receive(&again.replies[0], p.now, &mut p.rng)
            .unwrap(),
    ));
    assert!(p.bmc.sessions().all(|s| s.active));
    let m = response(p.command(0x06, 0x01, &[]).unwrap());
    assert_eq!(m.completion(), Some(cc::OK));
}

/// A session packet whose encrypted or authenticated flag differs from what the
/// session's cipher suite negotiated is dropped as wrongly protected (before its
/// AuthCode is even looked at).
#[test]
fn session_packets_must_carry_the_negotiated_protection() {
    for (suite, flip) in [(3u8, 0x80u8), (3, 0x40), (2, 0x80), (2, 0x40), (1, 0x80)] {
        let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(suite)));
        logged_in(p.login_v20().unwrap());
        let mut b = p
            .console
            .command(0x06, 0x01, &[], p.now, &mut p.rng)
            .unwrap();
        b[5] ^= flip;
        let h = p.deliver(&b);
        assert!(h.replies.is_empty());
        assert_eq!(
            h.record.kind,
            RecordKind::Dropped {
                reason: DropReason::WrongProtection
            },
            "suite {suite}, flag {flip:#04x} flipped"
        );
    }
}

/// The BMC numbers the SOL data packets it sends 1, 2, ... 15, then 1 again (0 is
/// reserved for acknowledgement-only packets).
#[test]
fn bmc_sol_packet_sequence_numbers_cycle_through_1_to_15() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    logged_in(p.login_v20().unwrap());
    let b = p.console.activate_sol(true, p.now, &mut p.rng).unwrap();
    let h = p.deliver(&b);
    let mut seqs = Vec::new();
    for r in &h.replies {
        if let Event::Sol { packet, .. } = p.console.receive(r, p.now, &mut p.rng).unwrap() {
            seqs.push(packet.seq);
        }
    }
    for i in 0..20u8 {
        let b = p.console.sol_send(&[b'a' + i], p.now, &mut p.rng).unwrap();
        let h = p.deliver(&b);
        for r in &h.replies {
            match p.console.receive(r, p.now, &mut p.rng).unwrap() {
                Event::Sol { packet, .. } if !packet.data.is_empty() => seqs.push(packet.seq),
                other => panic!("SOL data expected, got {other:?}"),
            }
        }
    }
    assert_eq!(seqs.len(), 21, "banner and 20 echoes");
    let want: Vec<u8> = (0..21).map(|i| (i % 15) as u8 + 1).collect();
    assert_eq!(seqs, want);
}

/// SOL packets reach the application only in a session that activated the SOL
/// payload; otherwise they are dropped.
#[test]
fn sol_packets_without_an_active_payload_are_dropped() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    logged_in(p.login_v20().unwrap());
    let b = p.console.sol_send(b"ls\r", p.now, &mut p.rng).unwrap();
    let h = p.deliver(&b);
    assert!(h.replies.is_empty());
    assert_eq!(
        h.record.kind,
        RecordKind::Dropped {
            reason: DropReason::SolInactive
        }
    );
    assert!(p.app.sol_in.is_empty());
}

// ----- commands inside a session -----

/// Get Channel Authentication Capabilities and Get Channel Cipher Suites work inside a
/// session too, with the same answers as outside; the IPMI 1.5 login commands do not
/// ("not supported in present state": the session is already active).
#[test]
fn channel_queries_work_in_a_session_and_login_commands_do_not() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    let caps = sessionless(&mut p, 0x38, &[0x8E, 4], true);
    let suites = sessionless(&mut p, 0x54, &[0x0E, 0x00, 0x80], true);
    logged_in(p.login_v20().unwrap());
    let m = response(p.command(0x06, 0x38, &[0x8E, 4]).unwrap());
    assert_eq!(m.completion(), Some(cc::OK));
    assert_eq!(m.response_data(), caps.response_data());
    let m = response(p.command(0x06, 0x54, &[0x0E, 0x00, 0x80]).unwrap());
    assert_eq!(m.completion(), Some(cc::OK));
    assert_eq!(m.response_data(), suites.response_data());
    let mut challenge = vec![AuthType::Md5.to_u8()];
    challenge.extend_from_slice(&[0; 16]);
    challenge[1..6].copy_from_slice(b"admin");
    for (cmd, data) in [
        (0x39, challenge),
        (0x3A, activate_data(AuthType::Md5, 4, &[0; 16])),
    ] {
        let m = response(p.command(0x06, cmd, &data).unwrap());
        assert_eq!(
            m.completion(),
            Some(cc::NOT_SUPPORTED_IN_STATE),
            "{cmd:#04x}"
        );
    }
    assert!(
        p.app
            .handled
            .iter()
            .all(|h| h.1 != 0x38 && h.1 != 0x54 && h.1 != 0x39)
    );
}

/// Get Payload Activation Status: SOL has one instance, reported active exactly while
/// a session holds it.
#[test]
fn payload_activation_status_follows_sol_activation() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    logged_in(p.login_v20().unwrap());
    let m = response(p.command(0x06, 0x4A, &[payload::SOL]).unwrap());
    assert_eq!(m.completion(), Some(cc::OK));
    assert_eq!(m.response_data(), &[1, 0, 0]);
    let b = p.console.activate_sol(true, p.now, &mut p.rng).unwrap();
    let h = p.deliver(&b);
    let m = response(Some(
        p.console.receive(&h.replies[0], p.now, &mut p.rng).unwrap(),
    ));
    assert_eq!(m.completion(), Some(cc::OK));
    let m = response(p.command(0x06, 0x4A, &[payload::SOL]).unwrap());
    assert_eq!(m.response_data(), &[1, 1, 0]);
    let m = response(p.command(0x06, 0x49, &[1, 1, 0, 0, 0, 0]).unwrap());
    assert_eq!(m.completion(), Some(cc::OK));
    let m = response(p.command(0x06, 0x4A, &[payload::SOL]).unwrap());
    assert_eq!(m.response_data(), &[1, 0, 0]);
}

/// Get Channel Payload Version: format version 1.0 (0x10) for the IPMI, SOL and session
/// setup payloads of this channel; 0x80 for a payload type the channel does not have;
/// invalid data field for another channel; request data length checked.
#[test]
fn channel_payload_version_reports_1_0_for_the_payloads_it_has() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    logged_in(p.login_v20().unwrap());
    for t in [0x00u8, 0x01, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15] {
        for ch in [0x0E, 0x01] {
            let m = response(p.command(0x06, 0x4F, &[ch, t]).unwrap());
            assert_eq!(m.completion(), Some(cc::OK), "payload {t:#04x}");
            assert_eq!(m.response_data(), &[0x10]);
        }
    }
    for t in [0x02u8, 0x08, 0x16, 0x20] {
        let m = response(p.command(0x06, 0x4F, &[0x0E, t]).unwrap());
        assert_eq!(m.completion(), Some(0x80), "payload {t:#04x}");
    }
    let m = response(p.command(0x06, 0x4F, &[0x02, 0x01]).unwrap());
    assert_eq!(m.completion(), Some(cc::INVALID_DATA_FIELD));
    for data in [&[0x0E][..], &[0x0E, 0x01, 0x00][..]] {
        let m = response(p.command(0x06, 0x4F, data).unwrap());
        assert_eq!(m.completion(), Some(cc::DATA_LENGTH_INVALID), "{data:?}");
    }
}

/// A BMC without Serial over LAN lists only the IPMI payload and implements none of
/// the payload commands (invalid command).
#[test]
fn without_sol_the_payload_commands_are_not_implemented() {
    let mut p = Pair::new(
        BmcConfig {
            sol: false,
            ..BmcConfig::default()
        },
        admin(SuiteChoice::Id(3)),
    );
    logged_in(p.login_v20().unwrap());
    let m = response(p.command(0x06, 0x4E, &[0x0E]).unwrap());
    assert_eq!(m.completion(), Some(cc::OK));
    assert_eq!(m.response_data()[0], 0x01, "IPMI payload only");
    for (cmd, data) in [
        (0x48, &[1u8, 1, 0xC0, 0, 0, 0][..]),
        (0x49, &[1, 1, 0, 0, 0, 0][..]),
        (0x4A, &[1][..]),
        (0x4B, &[1, 1][..]),
        (0x4F, &[0x0E, 1][..]),
    ] {
        let m = response(p.command(0x06, cmd, data).unwrap());
        assert_eq!(m.completion(), Some(cc::INVALID_COMMAND), "{cmd:#04x}");
    }
}

/// Set Session Privilege Level: any level up to the session's maximum (the lower of
/// the account limit and what the login asked for) is granted, lowering included;
/// above it: 0x81 ("exceeds the channel and/or user privilege limit").
#[test]
fn set_session_privilege_stays_within_the_session_maximum() {
    // The admin account, logged in with Operator as the session maximum.
    let mut p = Pair::new(
        BmcConfig::default(),
        ConsoleConfig {
            privilege: Privilege::Operator,
            ..admin(SuiteChoice::Id(3))
        },
    );
    logged_in(p.login_v20().unwrap());
    for (level, want) in [
        (Privilege::Administrator, 0x81),
        (Privilege::Operator, cc::OK),
        (Privilege::User, cc::OK),
        (Privilege::Callback, cc::OK),
        (Privilege::Operator, cc::OK),
    ] {
        let m = response(p.command(0x06, 0x3B, &[level.to_u8()]).unwrap());
        assert_eq!(m.completion(), Some(want), "{level:?}");
        if want == cc::OK {
            assert_eq!(m.response_data(), &[level.to_u8()]);
        }
    }
    // Administrator session maximum: every level, down and back up.
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    logged_in(p.login_v20().unwrap());
    for level in [
        Privilege::Callback,
        Privilege::User,
        Privilege::Operator,
        Privilege::Administrator,
    ] {
        let m = response(p.command(0x06, 0x3B, &[level.to_u8()]).unwrap());
        assert_eq!(m.completion(), Some(cc::OK), "{level:?}");
        let info: Vec<_> = p.bmc.sessions().collect();
        assert_eq!(info[0].privilege, level);
    }
}

/// Close Session names the session by ID, or by handle when the ID is 0 (the request
/// is then 5 bytes); an Administrator may close another session by its handle; an
/// unknown handle is 0x88, a missing one too; other lengths are refused.
#[test]
fn close_session_by_handle() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    let mut other = Console::new(admin(SuiteChoice::Id(3)));
    std::mem::swap(&mut p.console, &mut other);
    let first = logged_in(p.login_v20().unwrap());
    std::mem::swap(&mut p.console, &mut other);
    let second = logged_in(p.login_v20().unwrap());
    let handle = p.bmc.sessions().find(|s| s.id == first).unwrap().handle;
    let unused = (1..=u8::MAX)
        .find(|h| !p.bmc.sessions().any(|s| s.handle == *h))
        .unwrap();
    for (data, want) in [
        (vec![0, 0, 0, 0, unused], 0x88),
        (vec![0, 0, 0, 0], 0x88),
        (vec![0, 0, 0], cc::DATA_LENGTH_INVALID),
        (vec![0, 0, 0, 0, handle, 0], cc::DATA_LENGTH_INVALID),
    ] {
        let m = response(p.command(0x06, 0x3C, &data).unwrap());
        assert_eq!(m.completion(), Some(want), "{data:?}");
    }
    assert_eq!(p.bmc.sessions().count(), 2);
    let m = response(p.command(0x06, 0x3C, &[0, 0, 0, 0, handle]).unwrap());
    assert_eq!(m.completion(), Some(cc::OK));
    let ids: Vec<u32> = p.bmc.sessions().map(|s| s.id).collect();
    assert_eq!(ids, vec![second]);
}

/// Get Session Info finds an active session by index (the Nth active session, 1-based),
/// by session ID (0xFF + ID) and by handle (0xFE + handle); every answer carries the
/// number of possible and of active sessions; lookups that match nothing name no
/// session (handle 0, no details); wrong request lengths are refused.
#[test]
fn get_session_info_finds_sessions_by_index_id_and_handle() {
    let limit = BmcConfig::default().session_limit as u8;
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    for _ in 0..3 {
        logged_in(p.login_v20().unwrap());
    }
    // A half-open handshake is not an active session.
    open_session(&mut p, 0x0606_0606);
    let active: Vec<_> = p.bmc.sessions().filter(|s| s.active).collect();
    assert_eq!(active.len(), 3);
    let info = |p: &mut Pair, data: &[u8]| {
        let m = response(p.command(0x06, 0x3D, data).unwrap());
        assert_eq!(m.completion(), Some(cc::OK), "{data:?}");
        let d = m.response_data().to_vec();
        assert_eq!(&d[1..3], &[limit, 3], "possible and active sessions");
        d
    };
    let mut by_index = Vec::new();
    for n in 1..=3u8 {
        let d = info(&mut p, &[n]);
        assert!(d.len() > 3, "index {n} names a session");
        by_index.push(d[0]);
    }
    let mut want: Vec<u8> = active.iter().map(|s| s.handle).collect();
    want.sort_unstable();
    let mut got = by_index.clone();
    got.sort_unstable();
    assert_eq!(
        got, want,
        "indices 1..=3 cover the active sessions once each"
    );
    let d = info(&mut p, &[4]);
    assert_eq!((d[0], d.len()), (0, 3), "no fourth active session");
    for s in &active {
        let mut req = vec![0xFF];
        req.extend_from_slice(&s.id.to_le_bytes());
        let d = info(&mut p, &req);
        assert_eq!(d[0], s.handle, "by ID {:#x}", s.id);
        assert_eq!(d[3], 2, "user ID of admin");
        // Bits 7:4 the session's protocol (1: IPMI v2.0/RMCP+), bits 3:0 the channel.
        assert_eq!(d[5], 0x10 | p.bmc.config().channel, "protocol and channel");
        let d = info(&mut p, &[0xFE, s.handle]);
        assert_eq!(d[0], s.handle);
    }
    let mut req = vec![0xFF];
    req.extend_from_slice(&0x0BAD_0BADu32.to_le_bytes());
    let d = info(&mut p, &req);
    assert_eq!((d[0], d.len()), (0, 3), "unknown ID");
    let half_open = p.bmc.sessions().find(|s| !s.active).unwrap();
    let d = info(&mut p, &[0xFE, half_open.handle]);
    assert_eq!((d[0], d.len()), (0, 3), "a half-open handshake's handle");
    for data in [
        &[0xFF, 1, 2, 3][..],
        &[0xFF, 1, 2, 3, 4, 5][..],
        &[0xFE][..],
    ] {
        let m = response(p.command(0x06, 0x3D, data).unwrap());
        assert_eq!(m.completion(), Some(cc::DATA_LENGTH_INVALID), "{data:?}");
    }
}

/// Get Session Info on an IPMI 1.5 session reports protocol 0 and the channel number
/// in its channel byte.
#[test]
fn get_session_info_reports_ipmi15_sessions_as_protocol_0() {
    let config = BmcConfig {
        channel: 5,
        ..BmcConfig::default()
    };
    let mut p = Pair::new(config, admin(SuiteChoice::Auto));
    let b = p.console.login_v15(AuthType::Md5, p.now);
    logged_in(p.drive(b).unwrap());
    let m = response(p.command(0x06, 0x3D, &[0]).unwrap());
    assert_eq!(m.completion(), Some(cc::OK));
    assert_eq!(m.response_data()[5], 0x05);
}

/// Activate Payload for SOL: only payload type 1 instance 1 exists (other types or
/// instances: invalid data field), the request is 6 bytes, encryption cannot be had on
/// a suite without confidentiality (0x83), and IPMI 1.5 sessions carry no payloads.
#[test]
fn activate_payload_accepts_only_sol_instance_1_on_fitting_sessions() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(2)));
    logged_in(p.login_v20().unwrap());
    for (data, want) in [
        (&[0u8, 1, 0, 0, 0, 0][..], cc::INVALID_DATA_FIELD),
        (&[2, 1, 0, 0, 0, 0][..], cc::INVALID_DATA_FIELD),
        (&[1, 2, 0, 0, 0, 0][..], cc::INVALID_DATA_FIELD),
        (&[1, 0, 0, 0, 0, 0][..], cc::INVALID_DATA_FIELD),
        (&[1, 1, 0, 0, 0][..], cc::DATA_LENGTH_INVALID),
        (&[1, 1, 0, 0, 0, 0, 0][..], cc::DATA_LENGTH_INVALID),
        (&[1, 1, 0xC0, 0, 0, 0][..], 0x83),
    ] {
        let m = response(p.command(0x06, 0x48, data).unwrap());
        assert_eq!(m.completion(), Some(want), "{data:?}");
        assert!(p.bmc.sessions().all(|s| !s.sol_active));
    }
    // Unencrypted SOL on an unencrypted suite is fine.
    let b = p.console.activate_sol(false, p.now, &mut p.rng).unwrap();
    let h = p.deliver(&b);
    let m = response(Some(
        p.console.receive(&h.replies[0], p.now, &mut p.rng).unwrap(),
    ));
    assert_eq!(m.completion(), Some(cc::OK));
    assert!(p.bmc.sessions().all(|s| s.sol_active));

    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Auto));
    let b = p.console.login_v15(AuthType::Md5, p.now);
    logged_in(p.drive(b).unwrap());
    let m = response(p.command(0x06, 0x48, &[1, 1, 0, 0, 0, 0]).unwrap());
    assert_eq!(m.completion(), Some(cc::NOT_SUPPORTED_IN_STATE));
}

/// The session holding SOL may deactivate it, and so may an Administrator of another
/// session; a User-level session may not take another session's SOL away (0xD4).
/// Get Payload Instance Info names the holder's session ID while SOL is active.
#[test]
fn only_the_holder_or_an_administrator_deactivates_sol() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    let mut user = Console::new(user_at("user", "user", Privilege::User));
    let holder = logged_in(p.login_v20().unwrap());
    let b = p.console.activate_sol(true, p.now, &mut p.rng).unwrap();
    assert!(!p.deliver(&b).replies.is_empty());
    let m = response(p.command(0x06, 0x4B, &[1, 1]).unwrap());
    assert_eq!(&m.response_data()[..4], &holder.to_le_bytes());
    std::mem::swap(&mut p.console, &mut user);
    logged_in(p.login_v20().unwrap());
    let m = response(p.command(0x06, 0x4B, &[1, 1]).unwrap());
    assert_eq!(
        &m.response_data()[..4],
        &holder.to_le_bytes(),
        "seen by others"
    );
    let m = response(p.command(0x06, 0x49, &[1, 1, 0, 0, 0, 0]).unwrap());
    assert_eq!(m.completion(), Some(cc::INSUFFICIENT_PRIVILEGE));
    assert!(p.bmc.sessions().any(|s| s.sol_active));
    // An Administrator in a third session may.
    let mut third = Console::new(admin(SuiteChoice::Id(3)));
    std::mem::swap(&mut p.console, &mut third);
    logged_in(p.login_v20().unwrap());
    let m = response(p.command(0x06, 0x49, &[1, 1, 0, 0, 0, 0]).unwrap());
    assert_eq!(m.completion(), Some(cc::OK));
    assert!(p.bmc.sessions().all(|s| !s.sol_active));
    let m = response(p.command(0x06, 0x4B, &[1, 1]).unwrap());
    assert_eq!(&m.response_data()[..4], &[0, 0, 0, 0], "no holder");
}

/// SOL has one instance (Get Payload Activation Status reports capacity 1): Activate,
/// Deactivate and Get Payload Instance Info for instance 0 or 2 are invalid data,
/// whether SOL is active or not, and so are payload types other than SOL; request
/// lengths are checked.
#[test]
fn sol_payload_commands_know_only_instance_1() {
    let mut p = Pair::new(BmcConfig::default(), admin(SuiteChoice::Id(3)));
    logged_in(p.login_v20().unwrap());
    let m = response(p.command(0x06, 0x4A, &[payload::SOL]).unwrap());
    assert_eq!(m.response_data()[0], 1, "one instance");
    for active in [false, true] {
        if active {
            let b = p.console.activate_sol(true, p.now, &mut p.rng).unwrap();
            assert!(!p.deliver(&b).replies.is_empty());
        }
        for (cmd, data, want) in [
            (0x49, &[1u8, 2, 0, 0, 0, 0][..], cc::INVALID_DATA_FIELD),
            (0x49, &[1, 0, 0, 0, 0, 0][..], cc::INVALID_DATA_FIELD),
            (0x49, &[0x02, 1, 0, 0, 0, 0][..], cc::INVALID_DATA_FIELD),
            (0x49, &[1, 1, 0, 0, 0][..], cc::DATA_LENGTH_INVALID),
            (0x4B, &[1, 2][..], cc::INVALID_DATA_FIELD),
            (0x4B, &[1, 0][..], cc::INVALID_DATA_FIELD),
            (0x4B, &[0x02, 1][..], cc::INVALID_DATA_FIELD),
            (0x4B, &[1][..], cc::DATA_LENGTH_INVALID),
            (0x4B, &[1, 1, 0][..], cc::DATA_LENGTH_INVALID),
            (0x4A, &[0x02][..], cc::INVALID_DATA_FIELD),
            (0x4A, &[][..], cc::DATA_LENGTH_INVALID),
            (0x4A, &[1, 1][..], cc::DATA_LENGTH_INVALID),
        ] {
            let m = response(p.command(0x06, cmd, data).unwrap());
            assert_eq!(m.completion(), Some(want), "{cmd:#04x} {data:?}");
        }
        assert_eq!(
            p.bmc.sessions().any(|s| s.sol_active),
            active,
            "SOL untouched"
        );
        let m = response(p.command(0x06, 0x4B, &[1, 1]).unwrap());
        assert_eq!(m.completion(), Some(cc::OK));
        assert_eq!(m.response_data().len(), 12);
        assert_eq!(m.response_data()[4], u8::from(active), "SOL port number");
    }
}
