//! Issue 13: whatever a broken or hostile target answers, the harness's judging code
//! does not panic. Arbitrary HTTP answer bodies (raw bytes, and mutations of a real
//! answer) go through the rules every answer is held to; arbitrary IPMI answers go
//! through a data step's expectations and the cipher suite list reader. The fuzz targets
//! in `fuzz/` search longer; this runs in every `cargo test`.

use std::time::Duration;

use client::ipmi::Reply;
use conformance::case::{Expect, OneOrMany};
use conformance::ipmi::{check, suite_ids};
use conformance::rules::{Judge, SeenIds};
use conformance::waiver::Waivers;
use proptest::prelude::*;

const ANSWER: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/08/addressing/fault</a:Action><a:MessageID>uuid:11111111-2222-4333-8444-555555555556</a:MessageID><a:RelatesTo>uuid:11111111-2222-4333-8444-555555555555</a:RelatesTo></s:Header><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">w:InvalidSelectors</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">x</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"#;

const REQUEST: &[u8] = br#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:MessageID>uuid:11111111-2222-4333-8444-555555555555</a:MessageID></s:Header><s:Body/></s:Envelope>"#;

/// Judges `text` twice (the second time its MessageID is a reuse); the rules broken.
fn judge(status: u16, text: &str) -> Vec<String> {
    let mut j = Judge::new("fuzz.case", SeenIds::default());
    j.judge_text(REQUEST, status, text);
    j.judge_text(REQUEST, status, text);
    j.finish(&Waivers::default())
        .into_iter()
        .map(|f| f.rule)
        .collect()
}

/// The judging these tests exercise is the real one: the unmutated fault, answered with
/// 200 and sent twice, breaks the fault-status and MessageID rules.
#[test]
fn the_seed_answer_is_really_judged() {
    let rules = judge(200, ANSWER);
    assert!(
        rules.iter().any(|r| r.contains("fault-not-2xx")),
        "{rules:?}"
    );
    assert!(
        rules.iter().any(|r| r.contains("message-id-unique")),
        "{rules:?}"
    );
    assert!(
        !judge(400, ANSWER)
            .iter()
            .any(|r| r.contains("fault-not-2xx"))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_answers_are_judged_without_panic(
        status in 0u16..1000,
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let _ = judge(status, &String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_real_answers_are_judged_without_panic(
        status in prop::sample::select(vec![200u16, 400, 500, 204, 302]),
        cut in 0usize..ANSWER.len(),
        insert in "[<>&\"'/=: a-zA-Z0-9\u{0}-\u{1F}\u{FFFF}]{0,12}",
    ) {
        let mut text = ANSWER.to_owned();
        let at = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.insert_str(at, &insert);
        let _ = judge(status, &text);
        let _ = judge(status, &ANSWER[..at]);
    }

    #[test]
    fn arbitrary_ipmi_answers_meet_expectations_without_panic(
        completion in any::<u8>(),
        data in prop::collection::vec(any::<u8>(), 0..64),
        length in prop::option::of(0usize..64),
        bits in prop::collection::vec(any::<[u8; 3]>(), 0..4),
        prefix in prop::option::of("([0-9a-f]{2}|\\.\\.)( ([0-9a-f]{2}|\\.\\.)){0,8}"),
        codes in prop::collection::vec(any::<u8>(), 1..4),
        within in prop::option::of(0u64..5),
    ) {
        let e = Expect {
            completion: Some(OneOrMany::Many(codes)),
            length,
            min_length: length,
            data: prefix,
            bits,
            within_ms: within,
            ..Expect::default()
        };
        let reply = Reply { completion, data: data.clone(), elapsed: Duration::from_millis(2) };
        for m in check(&e, &reply) {
            prop_assert!(!m.what.is_empty() && !m.expected.is_empty());
        }
        let ids = suite_ids(&data);
        prop_assert!(ids.len() <= data.len());
    }
}
