//! Property tests: arbitrary and mutated datagrams never panic either end, every
//! datagram the BMC gets yields a record, and the codecs round-trip.

mod common;

use ipmi::crypto;
use ipmi::msg::Message;
use ipmi::rmcp::{self, AuthType, Frame};
use ipmi::session::RecordKind;
use proptest::prelude::*;

fn unanswered_is_explained(kind: &RecordKind) -> bool {
    matches!(kind, RecordKind::Dropped { .. } | RecordKind::Sol)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes at all: the BMC answers or records why not, and never panics.
    #[test]
    fn arbitrary_datagrams_never_panic_the_bmc(d in proptest::collection::vec(any::<u8>(), 0..200)) {
        let (mut p, _) = common::live_pair();
        let h = p.deliver(&d);
        if h.replies.is_empty() {
            prop_assert!(unanswered_is_explained(&h.record.kind), "{:?}", h.record);
        }
    }

    /// A valid RMCP/IPMI header followed by garbage reaches the session parsers.
    #[test]
    fn garbage_after_a_valid_header(auth in prop::sample::select(vec![0u8, 2, 4, 6]),
                                    pt in any::<u8>(),
                                    tail in proptest::collection::vec(any::<u8>(), 0..120)) {
        let (mut p, _) = common::live_pair();
        let mut d = vec![0x06, 0x00, 0xFF, 0x07, auth, pt];
        d.extend_from_slice(&tail);
        let h = p.deliver(&d);
        if h.replies.is_empty() {
            prop_assert!(unanswered_is_explained(&h.record.kind), "{:?}", h.record);
        }
    }

    /// Real packets with bytes flipped or cut: never a panic, always a record; the
    /// console survives the BMC's answers too.
    #[test]
    fn mutated_real_packets(which in 0usize..8, pos in any::<usize>(), xor in 1u8..=255, cut in any::<bool>()) {
        let (mut p, seeds) = common::live_pair();
        let mut d = seeds[which % seeds.len()].clone();
        if !d.is_empty() {
            let i = pos % d.len();
            if cut { d.truncate(i) } else { d[i] ^= xor }
        }
        let h = p.deliver(&d);
        if h.replies.is_empty() {
            prop_assert!(unanswered_is_explained(&h.record.kind), "{:?}", h.record);
        }
        for r in &h.replies {
            let _ = p.console.receive(r, p.now, &mut p.rng);
        }
    }

    /// The console never panics on arbitrary input either.
    #[test]
    fn arbitrary_datagrams_never_panic_the_console(d in proptest::collection::vec(any::<u8>(), 0..200)) {
        let (mut p, _) = common::live_pair();
        let _ = p.console.receive(&d, p.now, &mut p.rng);
        let _ = rmcp::decode(&d);
        let _ = Message::decode(&d);
        let _ = crypto::aes_decrypt(&[0; 16], &d);
    }

    /// Message encode/decode is the identity (6-bit NetFn and sequence, 2-bit LUNs).
    #[test]
    fn message_round_trip(netfn in 0u8..64, seq in 0u8..64, lun in 0u8..4, cmd in any::<u8>(),
                          data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut m = Message::request(netfn, cmd, seq, data);
        m.dst_lun = lun;
        prop_assert_eq!(Message::decode(&m.to_bytes()).unwrap(), m);
    }

    /// AES-CBC-128 with the IPMI pad decrypts to what was encrypted.
    #[test]
    fn aes_round_trip(key in any::<[u8; 16]>(), iv in any::<[u8; 16]>(),
                      data in proptest::collection::vec(any::<u8>(), 0..100)) {
        let ct = crypto::aes_encrypt(&key, &iv, &data);
        prop_assert_eq!(ct.len() % 16, 0);
        prop_assert_eq!(crypto::aes_decrypt(&key, &ct).unwrap(), data);
    }

    /// IPMI 1.5 framing round-trips its fields.
    #[test]
    fn v15_round_trip(seq in any::<u32>(), sid in any::<u32>(), code in any::<[u8; 16]>(),
                      msg in proptest::collection::vec(any::<u8>(), 0..100)) {
        let d = rmcp::encode_v15(AuthType::Md5, seq, sid, Some(&code), &msg);
        match rmcp::decode(&d).unwrap() {
            Frame::V15(p) => {
                prop_assert_eq!(p.seq, seq);
                prop_assert_eq!(p.session_id, sid);
                prop_assert_eq!(p.auth_code, Some(code));
                prop_assert_eq!(p.message, &msg[..]);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }
}
