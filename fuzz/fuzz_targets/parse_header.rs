//! The routing path: `parse_header` on arbitrary text, then `parse_body` on what it
//! delimited.
//!
//! Invariants: no input makes it panic; and when both halves succeed they agree with a
//! full `parse` of the same text (same headers, same body).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman::{ErrorKind, Limits, parse, parse_header};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits::default();
    let Ok(head) = parse_header(text, &limits) else {
        return;
    };
    let Ok((body, extra)) = head.parse_body(&limits) else {
        return;
    };
    match parse(text, &limits) {
        Ok(env) => {
            assert_eq!(
                env.header, head.header,
                "parse and parse_header disagree on the headers"
            );
            assert_eq!(
                env.body, body,
                "parse and parse_header + parse_body disagree on the body"
            );
            assert_eq!(
                env.extra, extra,
                "parse and parse_header + parse_body disagree on the extra body elements"
            );
        }
        // parse_body counts depth and elements from s:Body, not from the Envelope, so it
        // allows two levels (and the header's elements) more: a known difference,
        // pinned by `no_panic::parse_body_applies_the_same_depth_limit_as_parse`.
        Err(e)
            if matches!(
                e.kind,
                ErrorKind::TooDeep { .. } | ErrorKind::TooManyElements { .. }
            ) => {}
        Err(e) => panic!("parse_header and parse_body succeed but parse fails: {e}"),
    }
});
