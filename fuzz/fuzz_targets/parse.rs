//! Decode, parse, validate, write and re-parse arbitrary bytes.
//!
//! Invariants: no input makes any step panic; and whenever an input parses, the envelope
//! written back from it (`Envelope::to_xml`) parses too, to the same headers and body.
//! The input is an HTTP body as it arrives, so the files of `crates/wsman/tests/documents`
//! are valid seeds: a byte order mark selects UTF-16, and a zero in the first two bytes
//! is read as BOM-less UTF-16 (charset `utf-16`, as a client would label it).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman::{Limits, decode, parse, validate};

fuzz_target!(|bytes: &[u8]| {
    let charset = match bytes {
        [0, _, ..] | [_, 0, ..] => Some("utf-16"),
        _ => None,
    };
    let Ok(text) = decode(bytes, charset) else {
        return;
    };
    let limits = Limits::default();
    let env = match parse(&text, &limits) {
        Ok(env) => env,
        Err(e) => {
            // The error must still be answerable: its fault envelope is writable and
            // parses back.
            let _ = wsman::line_col(&text, e.offset);
            let fault = e.fault().to_envelope(
                e.message_id.as_deref(),
                "uuid:00000000-0000-4000-8000-000000000000",
            );
            let xml = fault.to_xml();
            if let Err(e2) = parse(&xml, &limits) {
                panic!("the fault for {e} does not parse back: {e2}\n{xml}");
            }
            return;
        }
    };
    let _ = validate::check(&env);
    let xml = env.to_xml();
    let again = match parse(&xml, &limits) {
        Ok(again) => again,
        Err(e) => {
            panic!("parsed, but its rewrite does not parse: {e}\ninput:\n{text}\nrewritten:\n{xml}")
        }
    };
    assert_eq!(
        again.header, env.header,
        "headers changed in the rewrite\ninput:\n{text}\nrewritten:\n{xml}"
    );
    assert_eq!(
        again.body, env.body,
        "body changed in the rewrite\ninput:\n{text}\nrewritten:\n{xml}"
    );
    assert_eq!(
        again.extra, env.extra,
        "extra body elements changed in the rewrite\ninput:\n{text}\nrewritten:\n{xml}"
    );
});
