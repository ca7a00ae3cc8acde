//! Arbitrary bytes against everything the PSRP codec (`crates/psrp`) reads from the
//! wire: a fragment stream through the defragmenter, each reassembled message through
//! the message decoder, its CLIXML through the reader, and the reader on the input as
//! text.
//!
//! Invariants: nothing panics; the defragmenter never hands out a message larger than
//! its limit.

#![no_main]

use libfuzzer_sys::fuzz_target;
use psrp::fragment::{Defragmenter, Limits};

const MAX: usize = 1 << 16;

fuzz_target!(|input: &[u8]| {
    let mut defrag = Defragmenter::new(Limits {
        max_message_len: MAX,
        max_in_flight: 8,
    });
    let mut done = Vec::new();
    let _ = defrag.push_stream(input, &mut done);
    for message in &done {
        assert!(message.len() <= MAX, "a message past the limit");
        if let Ok(m) = psrp::message::Message::decode(message) {
            let _ = m.value(&psrp::clixml::Limits::default());
        }
    }
    let _ = psrp::message::Message::decode(input);
    if let Ok(text) = std::str::from_utf8(input) {
        let _ = psrp::clixml::from_str(text, &psrp::clixml::Limits::default());
        let _ = psrp::clixml::decode_string(text);
    }
});
