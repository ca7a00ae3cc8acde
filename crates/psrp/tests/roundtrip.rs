//! Property tests: every codec round-trips, and no input panics a decoder.

use proptest::prelude::*;

use psrp::clixml::{self, Limits, Obj, Value};
use psrp::fragment::{self, DefragError, Defragmenter, Fragment};
use psrp::records::{CreatePipeline, ErrorRecord, InitRunspacePool, SessionCapability};
use psrp::{Destination, Guid, Message, MessageType};

fn guid() -> impl Strategy<Value = Guid> {
    any::<[u8; 16]>().prop_map(Guid)
}

/// Text kept verbatim (dates, durations, versions, decimals): no spaces at the ends, no
/// characters that need escaping.
fn token() -> impl Strategy<Value = String> {
    "[0-9A-Za-z:.+-]{0,20}"
}

fn primitive() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u16>().prop_map(Value::Char),
        any::<i8>().prop_map(Value::I8),
        any::<u8>().prop_map(Value::U8),
        any::<i16>().prop_map(Value::I16),
        any::<u16>().prop_map(Value::U16),
        any::<i32>().prop_map(Value::I32),
        any::<u32>().prop_map(Value::U32),
        any::<i64>().prop_map(Value::I64),
        any::<u64>().prop_map(Value::U64),
        (prop::num::f32::NORMAL
            | prop::num::f32::SUBNORMAL
            | prop::num::f32::ZERO
            | prop::num::f32::INFINITE)
            .prop_map(Value::Float),
        (prop::num::f64::NORMAL
            | prop::num::f64::SUBNORMAL
            | prop::num::f64::ZERO
            | prop::num::f64::INFINITE)
            .prop_map(Value::Double),
        token().prop_map(Value::Decimal),
        any::<String>().prop_map(Value::String),
        "_[xX][0-9a-fA-F]{4}_.{0,3}".prop_map(Value::String),
        token().prop_map(Value::DateTime),
        token().prop_map(Value::TimeSpan),
        guid().prop_map(Value::Guid),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        token().prop_map(Value::Version),
        any::<String>().prop_map(Value::Uri),
        any::<String>().prop_map(Value::Xml),
        any::<String>().prop_map(Value::ScriptBlock),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::SecureString),
    ]
}

fn props(
    inner: impl Strategy<Value = Value> + Clone,
) -> impl Strategy<Value = Vec<(String, Value)>> {
    prop::collection::vec((any::<String>(), inner), 0..4)
}

fn value() -> impl Strategy<Value = Value> {
    primitive().prop_recursive(4, 48, 6, |inner| {
        let base = prop::option::of(prop_oneof![
            inner.clone(),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            prop::collection::vec((inner.clone(), inner.clone()), 0..3).prop_map(Value::Dict),
        ]);
        let obj = (
            prop::collection::vec(any::<String>(), 0..3),
            prop::option::of(any::<String>()),
            base,
            props(inner.clone()),
            props(inner.clone()),
        )
            .prop_map(|(mut type_names, to_string, base, adapted, extended)| {
                // An object that is only a list or dictionary with no (or the
                // default) type names is the plain list or dictionary: keep the
                // generated object distinct from that canonical form.
                let container = matches!(base, Some(Value::List(_) | Value::Dict(_)));
                if container && to_string.is_none() && adapted.is_empty() && extended.is_empty() {
                    type_names.insert(0, "Generated.Container".into());
                }
                Value::from(Obj {
                    type_names,
                    to_string,
                    base,
                    adapted,
                    extended,
                })
            });
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            prop::collection::vec((inner.clone(), inner.clone()), 0..3).prop_map(Value::Dict),
            obj,
        ]
    })
}

fn message() -> impl Strategy<Value = Message> {
    (
        prop_oneof![Just(Destination::Client), Just(Destination::Server)],
        prop_oneof![
            prop::sample::select(MessageType::ALL),
            any::<u32>().prop_map(MessageType::from_u32),
        ],
        guid(),
        guid(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(destination, kind, rpid, pid, data)| Message {
            destination,
            kind,
            rpid,
            pid,
            data,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any message cut at any fragment size above the header reassembles to the same
    /// bytes, in one message, with every fragment within the size.
    #[test]
    fn fragments_reassemble_byte_identical(
        data in prop::collection::vec(any::<u8>(), 0..2000),
        room in 1usize..300,
        object_id in any::<u64>(),
    ) {
        let max = fragment::HEADER_LEN + room;
        let stream = fragment::split_encoded(object_id, &data, max).unwrap();
        let mut rest = stream.as_slice();
        while !rest.is_empty() {
            let (f, r) = Fragment::decode_prefix(rest).unwrap();
            prop_assert!(fragment::HEADER_LEN + f.blob.len() <= max);
            rest = r;
        }
        let mut out = Vec::new();
        let mut d = Defragmenter::default();
        d.push_stream(&stream, &mut out).unwrap();
        prop_assert_eq!(out, vec![data]);
        prop_assert_eq!(d.in_flight(), 0);
    }

    /// Fragments of several objects, interleaved in any order that keeps each object's
    /// own order, reassemble to every message byte-identical, each when its last
    /// fragment arrives.
    #[test]
    fn interleaved_objects_reassemble(
        datas in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..400), 1..6),
        room in 1usize..80,
        picks in prop::collection::vec(any::<prop::sample::Index>(), 0..3000),
    ) {
        let max = fragment::HEADER_LEN + room;
        let mut queues: Vec<std::collections::VecDeque<Fragment>> = datas
            .iter()
            .enumerate()
            .map(|(i, d)| fragment::split(i as u64 + 100, d, max).unwrap().into())
            .collect();
        let mut order = Vec::new();
        let mut picks = picks.into_iter();
        loop {
            let live: Vec<usize> = (0..queues.len()).filter(|i| !queues[*i].is_empty()).collect();
            if live.is_empty() {
                break;
            }
            let i = match picks.next() {
                Some(ix) => live[ix.index(live.len())],
                None => live[0],
            };
            order.extend(queues[i].pop_front());
        }
        let mut d = Defragmenter::default();
        let mut done = Vec::new();
        let mut expected = Vec::new();
        for f in order {
            let (id, end) = (f.object_id, f.end);
            let got = d.push(f).unwrap();
            prop_assert_eq!(got.is_some(), end);
            if let Some(m) = got {
                done.push(m);
                expected.push(datas[(id - 100) as usize].clone());
            }
        }
        prop_assert_eq!(done.len(), datas.len());
        prop_assert_eq!(done, expected);
    }

    /// Encoding then decoding a message gives the same message.
    #[test]
    fn messages_round_trip(m in message()) {
        let bytes = m.to_bytes();
        prop_assert_eq!(bytes.len(), psrp::message::HEADER_LEN + m.data.len());
        prop_assert_eq!(Message::decode(&bytes).unwrap(), m);
    }

    /// Writing a value as CLIXML then reading it gives the same value.
    #[test]
    fn clixml_values_round_trip(v in value()) {
        let text = clixml::to_string(&v);
        let back = clixml::from_str(&text, &Limits::default());
        prop_assert_eq!(back.as_ref(), Ok(&v), "{}", text);
    }

    /// String encoding is reversible for every string.
    #[test]
    fn string_encoding_round_trips(s in any::<String>()) {
        let e = clixml::encode_string(&s);
        prop_assert!(e.chars().all(|c| !c.is_control()));
        prop_assert_eq!(clixml::decode_string(&e), s);
    }

    /// No byte string panics the fragment reader, the defragmenter or the message
    /// decoder, and errors leave the defragmenter usable.
    #[test]
    fn arbitrary_bytes_do_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Fragment::decode(&bytes);
        let mut d = Defragmenter::new(fragment::Limits { max_message_len: 256, max_in_flight: 2 });
        let mut out = Vec::new();
        let r = d.push_stream(&bytes, &mut out);
        prop_assert!(d.in_flight() <= 2);
        if let Err(DefragError::TooLarge { limit, .. }) = r {
            prop_assert_eq!(limit, 256);
        }
        for m in out {
            prop_assert!(m.len() <= 256);
        }
        if let Ok(m) = Message::decode(&bytes) {
            let _ = m.value(&Limits::default());
            prop_assert_eq!(m.to_bytes(), bytes);
        }
    }

    /// Random fragment sequences (small ids, any flags) never panic the defragmenter,
    /// never hold more objects than allowed, and never deliver a message over the limit.
    #[test]
    fn random_fragment_sequences_respect_the_limits(
        frags in prop::collection::vec(
            (0u64..4, 0u64..4, any::<bool>(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..40)),
            0..60,
        ),
    ) {
        let limits = fragment::Limits { max_message_len: 64, max_in_flight: 2 };
        let mut d = Defragmenter::new(limits);
        for (object_id, fragment_id, start, end, blob) in frags {
            if let Ok(Some(m)) = d.push(Fragment { object_id, fragment_id, start, end, blob }) {
                prop_assert!(m.len() <= 64);
            }
            prop_assert!(d.in_flight() <= 2);
        }
    }

    /// No text panics the CLIXML reader, whether random or a valid document with one
    /// byte changed or cut short.
    #[test]
    fn arbitrary_clixml_does_not_panic(
        text in any::<String>(),
        v in value(),
        at in any::<prop::sample::Index>(),
        with in any::<char>(),
    ) {
        let small = Limits { max_depth: 12, max_nodes: 500 };
        let _ = clixml::from_str(&text, &small);
        let doc = clixml::to_string(&v);
        let chars: Vec<char> = doc.chars().collect();
        let i = at.index(chars.len().max(1)).min(chars.len());
        let mutated: String = chars[..i].iter().chain(std::iter::once(&with)).chain(chars[i.saturating_add(1).min(chars.len())..].iter()).collect();
        let cut: String = chars[..i].iter().collect();
        for t in [mutated, cut] {
            if let Ok(v) = clixml::from_str(&t, &small) {
                let _ = SessionCapability::from_value(&v);
                let _ = InitRunspacePool::from_value(&v);
                let _ = CreatePipeline::from_value(&v);
                let _ = ErrorRecord::from_value(&v);
            }
        }
    }
}
