//! The parse memo: a request, then the same request sent again with other MessageIDs
//! (any bytes, any length), through one `ParseMemo`.
//!
//! Invariant: the memo gives exactly what `parse` gives for every text (compared by
//! `Debug`, which shows every field), whether it read the text or copied a kept
//! envelope; and no input makes it panic.
//!
//! Input: chunks separated by 0xFF (never in UTF-8). The first is the request; each
//! later one replaces the content of its `wsa:MessageID` (or, when it has none, is a
//! request of its own).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman::memo::message_id_range;
use wsman::{Limits, ParseMemo, parse};

fuzz_target!(|data: &[u8]| {
    let mut chunks = data.split(|&b| b == 0xFF);
    let Some(Ok(first)) = chunks.next().map(std::str::from_utf8) else {
        return;
    };
    let limits = Limits::default();
    // The MessageID's content, where the text has one the reader borrowed.
    let hole = parse(first, &limits)
        .ok()
        .and_then(|env| message_id_range(first, &env));
    let mut memo = ParseMemo::new();
    let mut texts = vec![first.to_owned(), first.to_owned()];
    for chunk in chunks {
        let chunk = String::from_utf8_lossy(chunk);
        texts.push(match &hole {
            Some(r) => format!("{}{chunk}{}", &first[..r.start], &first[r.end..]),
            None => chunk.into_owned(),
        });
    }
    for text in &texts {
        let from_memo = memo.parse(text, &limits);
        let read = parse(text, &limits);
        assert_eq!(
            format!("{from_memo:?}"),
            format!("{read:?}"),
            "the memo and the reader disagree on {text:?}"
        );
    }
});
