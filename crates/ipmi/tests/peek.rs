//! `ipmi::peek::classify` against the session layer: it never panics, and on every
//! datagram the BMC takes or refuses it says what the BMC's own decoding found.

mod common;

use common::Pair;
use ipmi::peek::{Kind, Wrapper, classify};
use ipmi::session::{DropReason, RecordKind};
use proptest::prelude::*;

/// The common live exchange, with Get Channel Authentication Capabilities asked for
/// IPMI v2.0 data as well.
fn live() -> (Pair, Vec<Vec<u8>>) {
    let (mut p, mut seeds) = common::live_pair();
    let v20_caps = p.console.auth_caps(true, p.now);
    seeds.insert(5, v20_caps);
    (p, seeds)
}

/// Checks what `classify` said about `d` against what the BMC made of it.
fn agrees(p: &mut Pair, d: &[u8]) -> Result<(), TestCaseError> {
    let c = classify(d);
    let h = p.deliver(d);
    let r = &h.record;
    // The session layer's first step is the same frame decoder.
    if let Err(e) = &c.frame {
        prop_assert_eq!(
            &r.kind,
            &RecordKind::Dropped {
                reason: DropReason::Frame(e.clone())
            }
        );
        return Ok(());
    }
    let want: &[Kind] = match r.kind {
        RecordKind::Ping => &[Kind::Ping],
        RecordKind::Sessionless => &[Kind::Sessionless, Kind::SessionlessRmcpp],
        RecordKind::OpenSession => &[Kind::OpenSession],
        RecordKind::Rakp1 => &[Kind::Rakp1],
        RecordKind::Rakp3 => &[Kind::Rakp3],
        RecordKind::Ipmi15 => &[Kind::Ipmi15],
        RecordKind::Rmcpp => &[Kind::Rmcpp],
        RecordKind::Sol => &[Kind::Sol],
        RecordKind::Dropped { .. } => return Ok(()),
    };
    prop_assert!(want.contains(&c.kind), "{:?} vs {:?}", c.kind, r.kind);
    match r.kind {
        RecordKind::Sessionless => {
            prop_assert_eq!(c.command(), r.netfn.zip(r.cmd));
            prop_assert!(c.sessionless_request().is_some());
        }
        RecordKind::Ipmi15 => {
            prop_assert_eq!(c.command(), r.netfn.zip(r.cmd));
            prop_assert_eq!(c.session_id(), r.session_id);
        }
        RecordKind::Rmcpp | RecordKind::Sol => {
            prop_assert_eq!(c.session_id(), r.session_id);
            let encrypted = matches!(
                c.frame,
                Ok(Wrapper::Rmcpp {
                    encrypted: true,
                    ..
                })
            );
            prop_assert_eq!(
                c.command().is_some(),
                !encrypted && r.kind == RecordKind::Rmcpp
            );
        }
        _ => {}
    }
    Ok(())
}

#[test]
fn every_real_datagram_is_classified_as_the_bmc_takes_it() {
    let (_, seeds) = live();
    let kinds: Vec<Kind> = seeds.iter().map(|d| classify(d).kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::OpenSession,
            Kind::Rmcpp,
            Kind::Rmcpp,
            Kind::Sol,
            Kind::Sessionless,
            Kind::SessionlessRmcpp,
            Kind::SessionlessRmcpp,
            Kind::Ping,
            Kind::Sessionless,
        ]
    );
    let (mut p, _) = live();
    for d in &seeds {
        agrees(&mut p, d).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes at all: no panic, and agreement with the BMC.
    #[test]
    fn arbitrary_bytes(d in proptest::collection::vec(any::<u8>(), 0..200)) {
        let (mut p, _) = live();
        agrees(&mut p, &d)?;
    }

    /// A valid header followed by garbage reaches every wrapper and payload type.
    #[test]
    fn garbage_after_a_valid_header(auth in prop::sample::select(vec![0u8, 2, 4, 6]),
                                    pt in any::<u8>(),
                                    tail in proptest::collection::vec(any::<u8>(), 0..120)) {
        let (mut p, _) = live();
        let mut d = vec![0x06, 0x00, 0xFF, 0x07, auth, pt];
        d.extend_from_slice(&tail);
        agrees(&mut p, &d)?;
    }

    /// Real packets with a byte flipped or the end cut off.
    #[test]
    fn mutated_real_packets(which in 0usize..9, pos in any::<usize>(), xor in 1u8..=255, cut in any::<bool>()) {
        let (mut p, seeds) = live();
        let mut d = seeds[which % seeds.len()].clone();
        if !d.is_empty() {
            let i = pos % d.len();
            if cut { d.truncate(i) } else { d[i] ^= xor }
        }
        agrees(&mut p, &d)?;
    }
}
