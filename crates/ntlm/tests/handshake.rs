//! The acceptor and the initiator against each other in memory, the MS-NLMP 4.2.4
//! NTLMv2 vectors through the public API, the refusals a server owes (wrong password
//! with and without a MIC, tampered MIC, NTLMv1, anonymous, replay), and proptests that
//! no input panics a parser.

use ntlm::crypto::{hmac_md5, ntowfv2, rc4k};
use ntlm::messages::{
    Authenticate, AvPairs, Challenge, MIC_OFFSET, Negotiate, NtV2Response, av, flags,
};
use ntlm::{Acceptor, AcceptorConfig, Error, Initiator, InitiatorConfig};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const NOW: u64 = 0x01dc_0000_0000_0000;

fn passwords(user: &str) -> Option<String> {
    (user == "admin").then(|| "admin".to_owned())
}

/// Runs the three legs; returns the acceptor's verdict and the initiator's session.
fn login(
    cfg: InitiatorConfig,
    tamper: impl FnOnce(&mut Vec<u8>),
    seed: u64,
) -> (Result<ntlm::Accepted, Error>, ntlm::Session) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ini = Initiator::new(cfg);
    let mut acc = Acceptor::new(AcceptorConfig::default());
    let neg = ini.negotiate();
    let ch = acc.challenge(&neg, &mut rng, NOW).unwrap();
    let (mut auth, session) = ini.authenticate(&ch, &mut rng, NOW).unwrap();
    tamper(&mut auth);
    (acc.authenticate(&auth, &passwords), session)
}

#[test]
fn ms_nlmp_4_2_4_ntlmv2_vectors() {
    // 4.2.4.1.1
    let key = ntowfv2("Password", "User", "Domain");
    assert_eq!(key.to_vec(), hex("0c868a403bfd7a93a3001ef22ef02e3f"));
    // 4.2.4.2.2: the blob with time 0, client challenge 0xaa * 8 and the example's
    // target info (NbDomainName "Domain", NbComputerName "Server").
    let mut info = AvPairs::default();
    info.push_str(av::NB_DOMAIN_NAME, "Domain");
    info.push_str(av::NB_COMPUTER_NAME, "Server");
    let blob = NtV2Response::build_blob(0, &[0xaa; 8], &info);
    let server_challenge = hex("0123456789abcdef");
    let proof = hmac_md5(&key, &[&server_challenge, &blob]);
    assert_eq!(proof.to_vec(), hex("68cd0ab851e51c96aabc927bebef6a1c"));
    // 4.2.4.1.2 session base key, 4.2.4.2.3 encrypted session key.
    let base = hmac_md5(&key, &[&proof]);
    assert_eq!(base.to_vec(), hex("8de40ccadbc14a82f15cb0ad0de95ca3"));
    assert_eq!(
        rc4k(&base, &[0x55; 16]),
        hex("c5dad2544fc9799094ce1ce90bc9d03e")
    );
}

#[test]
fn good_login_with_mic_seals_both_ways() {
    let (acc, mut client) = login(InitiatorConfig::new("admin", "admin"), |_| {}, 1);
    let mut acc = acc.unwrap();
    assert_eq!(acc.user, "admin");
    assert!(acc.mic_checked);
    let (sig, sealed) = client.wrap(b"request");
    assert_eq!(acc.session.unwrap(&sig, &sealed).unwrap(), b"request");
    let (sig, sealed) = acc.session.wrap(b"response");
    assert_eq!(client.unwrap(&sig, &sealed).unwrap(), b"response");
}

#[test]
fn without_mic_the_password_is_still_checked() {
    let mut no_mic = InitiatorConfig::new("admin", "wrong");
    no_mic.mic = false;
    assert_eq!(
        login(no_mic.clone(), |_| {}, 2).0.unwrap_err(),
        Error::WrongPassword
    );
    no_mic.flags &= !flags::NEGOTIATE_TARGET_INFO;
    assert_eq!(
        login(no_mic.clone(), |_| {}, 3).0.unwrap_err(),
        Error::WrongPassword
    );
    no_mic.password = "admin".into();
    let ok = login(no_mic, |_| {}, 4).0.unwrap();
    assert!(!ok.mic_checked);
}

#[test]
fn wrong_password_tampered_mic_unknown_user() {
    let cfg = InitiatorConfig::new("admin", "nope");
    assert_eq!(login(cfg, |_| {}, 5).0.unwrap_err(), Error::WrongPassword);
    let cfg = InitiatorConfig::new("admin", "admin");
    assert_eq!(
        login(cfg, |m| m[MIC_OFFSET] ^= 1, 6).0.unwrap_err(),
        Error::MicMismatch
    );
    let cfg = InitiatorConfig::new("root", "admin");
    assert!(matches!(
        login(cfg, |_| {}, 7).0,
        Err(Error::UnknownUser { .. })
    ));
}

#[test]
fn flags_changed_after_the_fact_break_the_mic() {
    // Clearing KEY_EXCH in AUTHENTICATE (a downgrade) changes the message the MIC covers.
    let cfg = InitiatorConfig::new("admin", "admin");
    let r = login(cfg, |m| m[63] &= !0x40, 8).0;
    assert!(matches!(r, Err(Error::MicMismatch)), "{r:?}");
}

#[test]
fn ntlmv1_anonymous_and_replay_are_refused() {
    let mut rng = StdRng::seed_from_u64(9);
    let mut acc = Acceptor::new(AcceptorConfig::default());
    let mut ini = Initiator::new(InitiatorConfig::new("admin", "admin"));
    let ch = acc.challenge(&ini.negotiate(), &mut rng, NOW).unwrap();
    let (auth, _) = ini.authenticate(&ch, &mut rng, NOW).unwrap();
    let mut v1 = Authenticate::decode(&auth).unwrap();
    v1.nt_response = vec![1; 24];
    v1.mic = None;
    let mut raw = Vec::new();
    v1.encode(&mut raw);
    assert_eq!(
        acc.authenticate(&raw, &passwords).unwrap_err(),
        Error::NtlmV1Refused
    );
    // The acceptor is spent: even the good message is out of sequence now.
    assert_eq!(
        acc.authenticate(&auth, &passwords).unwrap_err(),
        Error::OutOfSequence
    );
    // Replaying it against a new challenge fails on the proof.
    let mut acc2 = Acceptor::new(AcceptorConfig::default());
    let mut ini2 = Initiator::new(InitiatorConfig::new("admin", "admin"));
    acc2.challenge(&ini2.negotiate(), &mut rng, NOW).unwrap();
    assert_eq!(
        acc2.authenticate(&auth, &passwords).unwrap_err(),
        Error::WrongPassword
    );

    let mut acc3 = Acceptor::new(AcceptorConfig::default());
    acc3.challenge(&ini2.negotiate(), &mut rng, NOW).unwrap();
    let mut anon = v1.clone();
    anon.user.clear();
    anon.nt_response.clear();
    anon.lm_response = vec![0];
    let mut raw = Vec::new();
    anon.encode(&mut raw);
    assert_eq!(
        acc3.authenticate(&raw, &passwords).unwrap_err(),
        Error::AnonymousRefused
    );
}

#[test]
fn challenge_carries_a_timestamp_and_echoes_flags() {
    let mut rng = StdRng::seed_from_u64(10);
    let mut acc = Acceptor::new(AcceptorConfig::default());
    let mut ini = Initiator::new(InitiatorConfig::new("admin", "admin"));
    let ch = Challenge::decode(&acc.challenge(&ini.negotiate(), &mut rng, NOW).unwrap()).unwrap();
    assert_eq!(ch.target_info.timestamp(), Some(NOW));
    assert_ne!(ch.flags & flags::NEGOTIATE_SEAL, 0);
    assert_ne!(ch.flags & flags::NEGOTIATE_KEY_EXCH, 0);
    assert_eq!(ch.flags & flags::NEGOTIATE_LM_KEY, 0);
    let mut oem = Vec::new();
    Negotiate {
        flags: flags::NEGOTIATE_OEM,
        domain: vec![],
        workstation: vec![],
        version: None,
    }
    .encode(&mut oem);
    let mut acc = Acceptor::new(AcceptorConfig::default());
    assert_eq!(
        acc.challenge(&oem, &mut rng, NOW).unwrap_err(),
        Error::UnicodeRequired
    );
}

proptest! {
    /// Any user, password, domain, flag subset and seed: the right password logs in and
    /// both sessions agree on every message in both directions; any other password is
    /// refused.
    #[test]
    fn initiator_and_acceptor_agree(
        user in "[a-zA-Z0-9]{1,12}",
        password in "\\PC{0,16}",
        other in "\\PC{0,16}",
        domain in "[A-Z]{0,8}",
        drop_key_exch in any::<bool>(),
        drop_128 in any::<bool>(),
        mic in any::<bool>(),
        seed in any::<u64>(),
        msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..4),
    ) {
        let mut cfg = InitiatorConfig::new(&user, &password);
        cfg.domain = domain;
        cfg.mic = mic;
        if drop_key_exch { cfg.flags &= !flags::NEGOTIATE_KEY_EXCH; }
        if drop_128 { cfg.flags &= !flags::NEGOTIATE_128; }
        let lookup = |u: &str| (u == user).then(|| password.clone());
        let mut rng = StdRng::seed_from_u64(seed);
        let mut ini = Initiator::new(cfg.clone());
        let mut acc = Acceptor::new(AcceptorConfig::default());
        let ch = acc.challenge(&ini.negotiate(), &mut rng, NOW).unwrap();
        let (auth, mut client) = ini.authenticate(&ch, &mut rng, NOW).unwrap();
        let mut ok = acc.authenticate(&auth, &lookup).unwrap();
        prop_assert_eq!(&ok.user, &user);
        for m in &msgs {
            let (sig, sealed) = client.wrap(m);
            prop_assert_eq!(&ok.session.unwrap(&sig, &sealed).unwrap(), m);
            let (sig, sealed) = ok.session.wrap(m);
            prop_assert_eq!(&client.unwrap(&sig, &sealed).unwrap(), m);
        }
        if other != password {
            let mut bad = cfg;
            bad.password = other;
            let mut ini = Initiator::new(bad);
            let mut acc = Acceptor::new(AcceptorConfig::default());
            let ch = acc.challenge(&ini.negotiate(), &mut rng, NOW).unwrap();
            let (auth, _) = ini.authenticate(&ch, &mut rng, NOW).unwrap();
            prop_assert_eq!(acc.authenticate(&auth, &lookup).unwrap_err(), Error::WrongPassword);
        }
    }

    /// Arbitrary bytes never panic the decoders, the acceptor, the SPNEGO reader or the
    /// frame parser.
    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), t in 1u32..4) {
        let mut msg = b"NTLMSSP\0".to_vec();
        msg.extend_from_slice(&t.to_le_bytes());
        msg.extend_from_slice(&bytes);
        for b in [&bytes[..], &msg[..]] {
            let _ = Negotiate::decode(b);
            let _ = Challenge::decode(b);
            let _ = Authenticate::decode(b);
            let _ = NtV2Response::decode(b);
            let _ = AvPairs::decode(b);
            let _ = ntlm::winrm::parse(&ntlm::winrm::content_type(), b);
            let _ = ntlm::spnego::decode(b);
            let mut rng = StdRng::seed_from_u64(0);
            let mut acc = Acceptor::new(AcceptorConfig::default());
            let _ = acc.challenge(b, &mut rng, NOW);
            let mut ini = Initiator::new(InitiatorConfig::new("admin", "admin"));
            let neg = ini.negotiate();
            let mut acc = Acceptor::new(AcceptorConfig::default());
            acc.challenge(&neg, &mut rng, NOW).unwrap();
            let _ = acc.authenticate(b, &passwords);
            let _ = ini.authenticate(b, &mut rng, NOW);
        }
    }

    /// Mutating any byte of a good AUTHENTICATE never panics the acceptor, and a
    /// mutation of the NT response or the MIC is never accepted.
    #[test]
    fn mutated_authenticate_is_refused(pos in any::<prop::sample::Index>(), bit in 0u8..8, seed in any::<u64>()) {
        let mut flipped = None;
        let (r, _) = login(InitiatorConfig::new("admin", "admin"), |m| {
            let i = pos.index(m.len());
            m[i] ^= 1 << bit;
            flipped = Some((i, m.clone()));
        }, seed);
        let (i, m) = flipped.unwrap();
        let a = Authenticate::decode(&m);
        let in_nt = a.as_ref().is_ok_and(|_| {
            let off = u32::from_le_bytes(m[24..28].try_into().unwrap()) as usize;
            let len = u16::from_le_bytes(m[20..22].try_into().unwrap()) as usize;
            (off..off + len).contains(&i)
        });
        if in_nt || (MIC_OFFSET..MIC_OFFSET + 16).contains(&i) {
            prop_assert!(r.is_err(), "flip at {} accepted", i);
        }
    }
}

/// The CHALLENGE's flags, one requested flag at a time (MS-NLMP 3.2.5.1.1: the server
/// answers with the flags it supports of those the client asked for). Echoed when asked
/// and only then: SIGN, SEAL, ALWAYS_SIGN, EXTENDED_SESSIONSECURITY, 128, 56, KEY_EXCH,
/// IDENTIFY. Never: LM_KEY, OEM, DATAGRAM, REQUEST_NON_NT_SESSION_KEY. Always: UNICODE,
/// NTLM, TARGET_INFO, VERSION. REQUEST_TARGET brings TARGET_TYPE_SERVER with it.
#[test]
fn challenge_flags_answer_each_requested_flag() {
    let always = flags::NEGOTIATE_UNICODE
        | flags::NEGOTIATE_NTLM
        | flags::NEGOTIATE_TARGET_INFO
        | flags::NEGOTIATE_VERSION;
    let echoed = [
        flags::NEGOTIATE_SIGN,
        flags::NEGOTIATE_SEAL,
        flags::NEGOTIATE_ALWAYS_SIGN,
        flags::NEGOTIATE_EXTENDED_SESSIONSECURITY,
        flags::NEGOTIATE_128,
        flags::NEGOTIATE_56,
        flags::NEGOTIATE_KEY_EXCH,
        flags::NEGOTIATE_IDENTIFY,
    ];
    let never = [
        flags::NEGOTIATE_LM_KEY,
        flags::NEGOTIATE_OEM,
        flags::NEGOTIATE_DATAGRAM,
        flags::REQUEST_NON_NT_SESSION_KEY,
    ];
    // A NEGOTIATE with `requested`, answered by a fresh acceptor.
    let answer = |requested: u32| {
        let mut neg = Vec::new();
        Negotiate {
            flags: requested,
            domain: Vec::new(),
            workstation: Vec::new(),
            version: None,
        }
        .encode(&mut neg);
        let mut acc = Acceptor::new(AcceptorConfig::default());
        let mut rng = StdRng::seed_from_u64(7);
        acc.challenge(&neg, &mut rng, NOW)
    };
    let challenge_for = |requested: u32| -> u32 {
        let c = answer(flags::NEGOTIATE_UNICODE | requested).expect("a challenge");
        Challenge::decode(&c).expect("decodes").flags
    };
    assert_eq!(
        challenge_for(0),
        always,
        "nothing asked: only what is always set"
    );
    for f in echoed {
        assert_eq!(challenge_for(f), always | f, "{f:#010x} asked: echoed");
    }
    for f in never {
        assert_eq!(challenge_for(f), always, "{f:#010x} asked: not echoed");
    }
    assert_eq!(
        challenge_for(flags::REQUEST_TARGET),
        always | flags::REQUEST_TARGET | flags::TARGET_TYPE_SERVER
    );
    // Without Unicode there is no CHALLENGE at all.
    assert!(matches!(
        answer(flags::NEGOTIATE_OEM | flags::NEGOTIATE_NTLM),
        Err(Error::UnicodeRequired)
    ));
}

/// SEALKEY for each key strength (MS-NLMP 3.4.5.3: the exported session key cut to 16,
/// 7 or 5 bytes by NEGOTIATE_128 / NEGOTIATE_56 / neither, then MD5 with the magic of
/// the direction). Expected values computed independently (Python's hashlib.md5) for
/// the key 55 56 57 ... 64.
#[test]
fn seal_keys_for_128_56_and_40_bit_keys() {
    use ntlm::crypto::{Direction, seal_key};
    let key: [u8; 16] = std::array::from_fn(|i| 0x55 + i as u8);
    let cases = [
        (
            flags::NEGOTIATE_128 | flags::NEGOTIATE_56,
            "21f57bd955b12b0e1372c5826a2e1a46",
            "9becf6225c390daccfcd4545ed96e36b",
        ),
        (
            flags::NEGOTIATE_56,
            "e3d9a1f160d936c06a949a1a4dba48a6",
            "218c670e6205e130dfe44d09013811f1",
        ),
        (
            0,
            "29587ba3edf6cf0cb127f6268b0decd1",
            "df3a77ceb516df9fbbe7d8469f61dcdf",
        ),
    ];
    for (negotiated, c2s, s2c) in cases {
        assert_eq!(
            seal_key(&key, negotiated, Direction::ClientToServer).to_vec(),
            hex(c2s),
            "{negotiated:#010x} client to server"
        );
        assert_eq!(
            seal_key(&key, negotiated, Direction::ServerToClient).to_vec(),
            hex(s2c),
            "{negotiated:#010x} server to client"
        );
    }
}

/// A fresh acceptor and a real AUTHENTICATE from `admin` answering its challenge,
/// decoded so a test can change one thing; the MIC is dropped (the message is
/// re-encoded, and a changed message would fail the MIC before the rule under test).
fn fresh_authenticate(seed: u64) -> (Acceptor, Authenticate) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut acc = Acceptor::new(AcceptorConfig::default());
    let mut ini = Initiator::new(InitiatorConfig::new("admin", "admin"));
    let ch = acc.challenge(&ini.negotiate(), &mut rng, NOW).unwrap();
    let (auth, _) = ini.authenticate(&ch, &mut rng, NOW).unwrap();
    let mut auth = Authenticate::decode(&auth).unwrap();
    auth.mic = None;
    (acc, auth)
}

fn encoded(a: &Authenticate) -> Vec<u8> {
    let mut raw = Vec::new();
    a.encode(&mut raw);
    raw
}

/// MS-NLMP 3.2.5.1.2: WinRM's acceptor works in Unicode only; an AUTHENTICATE that
/// does not settle on NTLMSSP_NEGOTIATE_UNICODE is refused as such, whatever other
/// flags it keeps, and the same message with the flag passes the checks up to the proof.
#[test]
fn an_authenticate_without_unicode_is_refused_whatever_else_it_has() {
    for (seed, keep) in [(21u64, u32::MAX), (22, flags::NEGOTIATE_NTLM), (23, 0)] {
        let (mut acc, mut auth) = fresh_authenticate(seed);
        auth.flags &= !flags::NEGOTIATE_UNICODE & keep;
        assert_eq!(
            acc.authenticate(&encoded(&auth), &passwords).unwrap_err(),
            Error::UnicodeRequired,
            "flags {:#010x}",
            auth.flags
        );
    }
    // Unicode alone (no other flag) is not refused for want of Unicode.
    let (mut acc, mut auth) = fresh_authenticate(24);
    auth.flags = flags::NEGOTIATE_UNICODE;
    assert_ne!(
        acc.authenticate(&encoded(&auth), &passwords).unwrap_err(),
        Error::UnicodeRequired
    );
}

/// Anonymous is an empty user AND an empty NT response (or the ANONYMOUS flag); an
/// empty user with a real NT response is not anonymous (it fails as an unknown user),
/// and a named user with only an LM response is NTLMv1 (LM) authentication, refused as
/// such, not as anonymous.
#[test]
fn anonymous_means_no_user_and_no_nt_response() {
    let (mut acc, mut auth) = fresh_authenticate(31);
    auth.user.clear();
    assert_eq!(
        acc.authenticate(&encoded(&auth), &passwords).unwrap_err(),
        Error::UnknownUser {
            user: String::new()
        }
    );
    let (mut acc, mut auth) = fresh_authenticate(32);
    auth.nt_response.clear();
    auth.lm_response = vec![7; 24];
    assert_eq!(
        acc.authenticate(&encoded(&auth), &passwords).unwrap_err(),
        Error::NtlmV1Refused
    );
    let (mut acc, mut auth) = fresh_authenticate(33);
    auth.flags |= flags::ANONYMOUS;
    assert_eq!(
        acc.authenticate(&encoded(&auth), &passwords).unwrap_err(),
        Error::AnonymousRefused
    );
}

/// `ct_eq` is equality: differences anywhere make it false, however they combine (two
/// bytes that differ by the same bits must not cancel out).
#[test]
fn ct_eq_is_equality_for_any_pattern_of_differences() {
    use ntlm::crypto::ct_eq;
    assert!(ct_eq(&[], &[]));
    assert!(ct_eq(&[1, 2, 3], &[1, 2, 3]));
    assert!(!ct_eq(&[0, 0], &[1, 1]));
    assert!(!ct_eq(&[0, 0, 0], &[1, 1, 1]));
    assert!(!ct_eq(&[5, 5], &[4, 4]));
    assert!(!ct_eq(&[1, 2], &[1, 2, 3]));
    let a = [0x11u8; 16];
    for i in 0..16 {
        for j in i..16 {
            let mut b = a;
            b[i] ^= 0x80;
            b[j] ^= 0x80;
            assert_eq!(ct_eq(&a, &b), i == j, "flips at {i} and {j}");
        }
    }
}

/// The acceptor's Debug output says where it is in the exchange and nothing secret.
#[test]
fn acceptor_debug_shows_the_state_only() {
    let (acc, _) = fresh_authenticate(41);
    let shown = format!("{acc:?}");
    assert!(
        shown.contains("Acceptor") && shown.contains("challenged"),
        "{shown}"
    );
    let fresh = format!("{:?}", Acceptor::new(AcceptorConfig::default()));
    assert!(fresh.contains("initial"), "{fresh}");
}
