//! The conformance harness's side: whatever a broken or hostile target answers, judging
//! it never panics. Complements `crates/conformance/tests/judging_no_panic.rs` (which
//! runs a few hundred cases in every `cargo test`) with a coverage-guided search.
//!
//! The first byte picks what the rest is:
//! - `0` mod 3: an HTTP answer. Two bytes of status, the rest the answer text (decoded
//!   lossily, as the harness does), judged twice by `conformance::rules::Judge` against
//!   a Get request (the second time its MessageID is a reuse), then the verdict list.
//! - `1` mod 3: datagrams (each prefixed by a little-endian u16 length) received by the
//!   harness's IPMI console while its RMCP+ or IPMI 1.5 login is in progress, and the
//!   same bytes as a command answer (completion code, data) held to a data step's
//!   expectations and read as a cipher suite record list.
//! - `2` mod 3: the same datagrams received inside an RMCP+ session the console logged
//!   into (against the simulated BMC) with a command outstanding.
//!
//! Invariants: nothing panics; arbitrary bytes never complete a login the console did
//! not start; every mismatch a data step reports says what and what was expected.

#![no_main]

use std::time::Duration;

use client::ipmi::Reply;
use conformance::case::{Expect, OneOrMany};
use conformance::ipmi::{check, suite_ids};
use conformance::rules::{Judge, SeenIds};
use conformance::waiver::Waivers;
use ipmi::console::{Console, ConsoleConfig, Event, SuiteChoice};
use ipmi::rmcp::AuthType;
use ipmi::session::{Bmc, BmcConfig};
use libfuzzer_sys::fuzz_target;

mod common;
use common::{datagrams, log_in};
use machine::{Machine, MachineSpec};
use rand::SeedableRng;
use rand::rngs::StdRng;

const REQUEST: &[u8] = br#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:MessageID>uuid:11111111-2222-4333-8444-555555555555</a:MessageID></s:Header><s:Body/></s:Envelope>"#;

fn judge_http(input: &[u8]) {
    if input.len() < 2 {
        return;
    }
    let status = u16::from_le_bytes([input[0], input[1]]) % 1000;
    let text = String::from_utf8_lossy(&input[2..]);
    let mut j = Judge::new("fuzz.case", SeenIds::default());
    j.judge_text(REQUEST, status, &text);
    j.judge_text(REQUEST, status, &text);
    for f in j.finish(&Waivers::default()) {
        assert!(!f.rule.is_empty());
    }
}

/// A data step's expectations, varied by the answer's own bytes.
fn expectations(d: &[u8]) -> Vec<Expect> {
    let first = d.first().copied().unwrap_or(0);
    vec![
        Expect {
            completion: Some(OneOrMany::One(0)),
            length: Some(usize::from(first % 32)),
            ..Expect::default()
        },
        Expect {
            completion: Some(OneOrMany::Many(vec![0, 0xC1, first])),
            min_length: Some(usize::from(first % 8)),
            data: Some("01 .. ff".into()),
            bits: vec![
                [usize::from(first % 16) as u8, 0x80, 0x80],
                [0, 0x0F, first],
            ],
            within_ms: Some(u64::from(first)),
            ..Expect::default()
        },
    ]
}

fn judge_reply(d: &[u8]) {
    let Some((&completion, data)) = d.split_first() else {
        return;
    };
    let reply = Reply {
        completion,
        data: data.to_vec(),
        elapsed: Duration::from_millis(3),
    };
    for e in expectations(data) {
        for m in check(&e, &reply) {
            assert!(!m.what.is_empty() && !m.expected.is_empty());
        }
    }
    assert!(suite_ids(data).len() <= data.len());
}

fn console() -> Console {
    let mut c = ConsoleConfig::new("admin", "admin");
    c.suite = SuiteChoice::Id(3);
    Console::new(c)
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(11);
    let mut now = 1_000u64;
    match mode % 3 {
        0 => judge_http(rest),
        1 => {
            let mut c = console();
            let _ = if mode & 0x80 == 0 {
                c.login_v20(now, &mut rng)
            } else {
                c.login_v15(AuthType::Md5, now)
            };
            for d in datagrams(rest) {
                now += 1;
                if let Ok(Event::LoggedIn { .. }) = c.receive(d, now, &mut rng) {
                    // Only a BMC that knows the password can finish the RAKP exchange;
                    // IPMI 1.5 with a guessable challenge string is the one way.
                    assert!(mode & 0x80 != 0, "fuzzed bytes completed an RMCP+ login");
                }
                judge_reply(d);
            }
        }
        _ => {
            let Ok(mut machine) = Machine::new(MachineSpec::default(), 0) else {
                return;
            };
            let mut bmc = Bmc::new(BmcConfig::default());
            let mut c = console();
            log_in(&mut c, &mut bmc, &mut machine, &mut now, &mut rng);
            // Get Device ID outstanding; the fuzzed datagrams are its "answers".
            let _ = c.command(0x06, 0x01, &[], now, &mut rng);
            for d in datagrams(rest) {
                now += 1;
                let _ = c.receive(d, now, &mut rng);
            }
        }
    }
});
