//! `ParseMemo::parse` gives what `wsman::parse` gives, for any sequence of texts: the
//! request documents of `tests/documents/requests/` sent again with other MessageIDs
//! (of the same length or not, plain or not), sent unchanged, and changed elsewhere.
//! Envelopes are compared by their `Debug` text, which shows every field (equality
//! leaves out a name's prefix).

mod common;

use std::path::Path;
use std::sync::OnceLock;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

use wsman::{Envelope, Error, Limits, ParseMemo};

/// `cases` cases (or `PROPTEST_CASES`), failures persisted to
/// `proptest-regressions/memo.txt`.
fn config(cases: u32) -> ProptestConfig {
    common::proptest_config(cases, "proptest-regressions/memo.txt")
}

/// A request document: its file name, its text, and the byte range of its MessageID's
/// content (the text between the element's tags), if it has one.
type Document = (String, String, Option<(usize, usize)>);

/// Each UTF-8 request document.
fn documents() -> &'static [Document] {
    static DOCS: OnceLock<Vec<Document>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/documents/requests");
        let mut docs = Vec::new();
        for entry in std::fs::read_dir(dir).expect("the request documents") {
            let path = entry.expect("a directory entry").path();
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue; // UTF-16
            };
            let hole = message_id_range(&text);
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            docs.push((name, text, hole));
        }
        docs.sort();
        assert!(docs.len() > 30, "the request documents were found");
        docs
    })
}

/// Where the reader found the MessageID's text in `text` (`None` without one).
fn message_id_range(text: &str) -> Option<(usize, usize)> {
    let env = wsman::parse(text, &Limits::default()).ok()?;
    wsman::memo::message_id_range(text, &env).map(|r| (r.start, r.end))
}

/// The request document called `name`: its text and its MessageID's range.
fn document(name: &str) -> (&'static String, Option<(usize, usize)>) {
    let (_, text, hole) = documents()
        .iter()
        .find(|d| d.0 == name)
        .unwrap_or_else(|| panic!("no request document {name}"));
    (text, *hole)
}

/// Asserts that `memo` gives for `text` what the reader gives.
fn memo_reads_as_the_reader(memo: &mut ParseMemo, text: &str, limits: &Limits) {
    let (from_memo, read) = (memo.parse(text, limits), wsman::parse(text, limits));
    assert!(
        same(&from_memo, &read),
        "{text}\nmemo: {from_memo:?}\nread: {read:?}"
    );
}

fn same(a: &Result<Envelope<'_>, Error>, b: &Result<Envelope<'_>, Error>) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// `text` with its MessageID's content `hole` replaced by `id`.
fn with_id(text: &str, hole: (usize, usize), id: &str) -> String {
    format!("{}{id}{}", &text[..hole.0], &text[hole.1..])
}

/// A fresh MessageID of `len` plain characters, numbered `n`.
fn plain_id(len: usize, n: u64) -> String {
    let digits = format!("{n:x}");
    let mut id = String::from("uuid:");
    while id.len() + digits.len() < len {
        id.push('0');
    }
    id.push_str(&digits);
    id.chars()
        .rev()
        .take(len)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

#[test]
fn message_id_range_finds_a_borrowed_message_id_and_nothing_else() {
    let (text, hole) = document("bench-get-request.xml");
    let (start, end) = hole.expect("a Get has a MessageID");
    let limits = Limits::default();
    let env = wsman::parse(text, &limits).unwrap();
    assert_eq!(wsman::memo::message_id_range(text, &env), Some(start..end));
    assert!(text[start..end].starts_with("uuid:"));
    // The same envelope against another text (an equal copy elsewhere) has no range.
    let copy = text.clone();
    assert_eq!(wsman::memo::message_id_range(&copy, &env), None);
    // A MessageID written with a character reference is the reader's own string.
    let escaped = with_id(text, (start, end), "uuid:&#x41;");
    let env = wsman::parse(&escaped, &limits).unwrap();
    assert_eq!(env.header.message_id.as_deref(), Some("uuid:A"));
    assert_eq!(wsman::memo::message_id_range(&escaped, &env), None);
    // No MessageID, no range.
    let (identify, none) = document("openwsman-identify.xml");
    assert_eq!(none, None);
    let env = wsman::parse(identify, &limits).unwrap();
    assert_eq!(env.header.message_id, None);
    assert_eq!(wsman::memo::message_id_range(identify, &env), None);
}

#[test]
fn a_polled_get_is_read_twice_then_given_from_the_memo() {
    let (text, hole) = document("bench-get-request.xml");
    let hole = hole.expect("a Get has a MessageID");
    let limits = Limits::default();
    let mut memo = ParseMemo::new();
    for n in 0..5u64 {
        let text = with_id(text, hole, &plain_id(hole.1 - hole.0, n));
        let from_memo = memo.parse(&text, &limits);
        assert!(
            same(&from_memo, &wsman::parse(&text, &limits)),
            "request {n}"
        );
        let id = from_memo.unwrap().header.message_id.unwrap();
        // The MessageID is the new request's own text.
        assert_eq!(id, &text[hole.0..hole.1]);
        assert!(matches!(id, std::borrow::Cow::Borrowed(_)));
        // Read the first two times, from the memo after.
        assert_eq!(memo.hits(), n.saturating_sub(1));
    }
}

#[test]
fn what_the_memo_does_not_take_is_read_every_time() {
    let (text, hole) = document("bench-get-request.xml");
    let hole = hole.unwrap();
    let len = hole.1 - hole.0;
    let limits = Limits::default();
    let tight = Limits {
        max_elements: 200,
        ..Limits::default()
    };
    // Each list is one client's requests; none of them may come from the memo.
    let not_plain: Vec<String> = (0..4)
        .map(|n| with_id(text, hole, &format!("{}#{n}", &plain_id(len - 2, n))))
        .collect();
    let spaced: Vec<String> = (0..4)
        .map(|n| with_id(text, hole, &format!(" {} ", plain_id(len - 2, n))))
        .collect();
    let space_before: Vec<String> = (0..4)
        .map(|n| with_id(text, hole, &format!(" {}", plain_id(len - 1, n))))
        .collect();
    let space_after: Vec<String> = (0..4)
        .map(|n| with_id(text, hole, &format!("{} ", plain_id(len - 1, n))))
        .collect();
    let escaped: Vec<String> = (0..4)
        .map(|n| with_id(text, hole, &format!("{}&#x41;", plain_id(len - 6, n))))
        .collect();
    let changed_elsewhere: Vec<String> = (0..4)
        .map(|n| with_id(text, hole, &plain_id(len, n)).replace("SRV-HV07", &format!("SRV-HV0{n}")))
        .collect();
    for (what, texts) in [
        ("a MessageID with another character", &not_plain),
        ("a MessageID with spaces around it", &spaced),
        ("a MessageID with a space before it", &space_before),
        ("a MessageID with a space after it", &space_after),
        ("a MessageID with a character reference", &escaped),
        ("a selector changed", &changed_elsewhere),
    ] {
        // The memo keeps the request as a client first sent it (read twice), and
        // then must not give it for any of these.
        let mut memo = ParseMemo::new();
        let first = with_id(text, hole, &plain_id(len, 99));
        memo.parse(&first, &limits).unwrap();
        memo.parse(&first, &limits).unwrap();
        for text in texts {
            assert!(
                same(&memo.parse(text, &limits), &wsman::parse(text, &limits)),
                "{what}"
            );
        }
        assert_eq!(memo.hits(), 0, "{what}");
    }
    // The same text under other limits is read again.
    let mut memo = ParseMemo::new();
    let text = with_id(text, hole, &plain_id(len, 1));
    memo.parse(&text, &limits).unwrap();
    memo.parse(&text, &tight).unwrap();
    memo.parse(&text, &limits).unwrap();
    memo.parse(&text, &tight).unwrap();
    assert_eq!(memo.hits(), 0, "each text and limits was seen once before");
    memo.parse(&text, &tight).unwrap();
    assert_eq!(memo.hits(), 1, "the third time under the same limits");
}

#[test]
fn the_memo_keeps_the_last_four_texts_and_replaces_the_oldest() {
    let (text, hole) = document("bench-get-request.xml");
    let hole = hole.unwrap();
    let limits = Limits::default();
    let mut memo = ParseMemo::new();
    let mut n = 0u64;
    // Six clients' Gets (another computer each), each with a fresh MessageID.
    let mut send = |memo: &mut ParseMemo, client: u8| {
        n += 1;
        let text = with_id(text, hole, &plain_id(hole.1 - hole.0, n))
            .replace("SRV-HV07", &format!("SRV-HV{client:02}"));
        memo_reads_as_the_reader(memo, &text, &limits);
        memo.hits()
    };
    // Four texts, each read twice: all four kept.
    for client in 0..4 {
        send(&mut memo, client);
        send(&mut memo, client);
    }
    assert_eq!(memo.hits(), 0);
    for client in 0..4 {
        assert_eq!(
            send(&mut memo, client),
            u64::from(client) + 1,
            "client {client}"
        );
    }
    // Two new texts replace the two oldest slots, one each.
    send(&mut memo, 4);
    send(&mut memo, 5);
    assert_eq!(memo.hits(), 4);
    assert_eq!(send(&mut memo, 2), 5, "client 2's text is kept");
    assert_eq!(send(&mut memo, 3), 6, "client 3's text is kept");
    assert_eq!(send(&mut memo, 1), 6, "client 1's text was replaced");
    assert_eq!(send(&mut memo, 0), 6, "client 0's text was replaced");
}

#[test]
fn a_text_of_the_largest_size_kept_is_kept() {
    let (text, _) = document("openwsman-identify.xml");
    let limits = Limits::default();
    let padding = " ".repeat(wsman::memo::MAX_TEXT - text.len());
    let largest = text.replacen("<s:Body>", &format!("<s:Body>{padding}"), 1);
    assert_eq!(largest.len(), wsman::memo::MAX_TEXT);
    let mut memo = ParseMemo::new();
    for _ in 0..3 {
        memo_reads_as_the_reader(&mut memo, &largest, &limits);
    }
    assert_eq!(memo.hits(), 1);
}

#[test]
fn an_identify_without_a_message_id_repeats_whole() {
    let (text, hole) = document("openwsman-identify.xml");
    assert!(hole.is_none(), "openwsman's Identify has no MessageID");
    let limits = Limits::default();
    let mut memo = ParseMemo::new();
    for _ in 0..3 {
        memo_reads_as_the_reader(&mut memo, text, &limits);
    }
    assert_eq!(memo.hits(), 1);
    // One character more is another text.
    let longer = text.replacen("<s:Body>", "<s:Body> ", 1);
    assert_ne!(&longer, text);
    memo_reads_as_the_reader(&mut memo, &longer, &limits);
    assert_eq!(memo.hits(), 1);
}

#[test]
fn an_envelope_too_large_or_refused_is_not_kept() {
    let limits = Limits::default();
    let mut memo = ParseMemo::new();
    let broken = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>";
    for _ in 0..3 {
        memo_reads_as_the_reader(&mut memo, broken, &limits);
    }
    let (text, _) = document("openwsman-identify.xml");
    let padding = " ".repeat(wsman::memo::MAX_TEXT);
    let large = text.replacen("<s:Body>", &format!("<s:Body>{padding}"), 1);
    for _ in 0..3 {
        memo_reads_as_the_reader(&mut memo, &large, &limits);
    }
    assert_eq!(memo.hits(), 0);
}

/// What a client sends next.
#[derive(Debug, Clone)]
enum Next {
    /// A document again, with a MessageID of the same length numbered so.
    SameLength(Index, u64),
    /// A document with a MessageID of another length.
    OtherLength(Index, u8),
    /// A document with one byte changed.
    Changed(Index, Index, u8),
}

fn next() -> impl Strategy<Value = Next> {
    prop_oneof![
        4 => (any::<Index>(), 0u64..6).prop_map(|(d, n)| Next::SameLength(d, n)),
        1 => (any::<Index>(), 1u8..60).prop_map(|(d, n)| Next::OtherLength(d, n)),
        1 => (any::<Index>(), any::<Index>(), 32u8..127).prop_map(|(d, at, b)| Next::Changed(d, at, b)),
    ]
}

proptest! {
    #![proptest_config(config(64))]

    /// Any sequence of requests gets from one memo what the reader gives each. Each
    /// case sends three documents (of the corpus, in any mix), so that they repeat.
    #[test]
    fn the_memo_gives_what_the_reader_gives(
        chosen in [any::<Index>(), any::<Index>(), any::<Index>()],
        seq in vec(next(), 1..40),
    ) {
        let docs: Vec<Document> = chosen.iter().map(|i| i.get(documents()).clone()).collect();
        let limits = Limits::default();
        let mut memo = ParseMemo::new();
        for step in seq {
            let text = match &step {
                Next::SameLength(d, n) => {
                    let (_, text, hole) = d.get(&docs);
                    match hole {
                        Some(h) => with_id(text, *h, &plain_id(h.1 - h.0, *n)),
                        None => text.clone(),
                    }
                }
                Next::OtherLength(d, len) => {
                    let (_, text, hole) = d.get(&docs);
                    match hole {
                        Some(h) => with_id(text, *h, &plain_id(usize::from(*len), 7)),
                        None => text.clone(),
                    }
                }
                Next::Changed(d, at, b) => {
                    let (_, text, _) = d.get(&docs);
                    let mut bytes = text.clone().into_bytes();
                    let i = at.index(bytes.len());
                    bytes[i] = *b;
                    match String::from_utf8(bytes) {
                        Ok(t) => t,
                        Err(_) => continue, // a byte inside a multi-byte character
                    }
                }
            };
            let from_memo = memo.parse(&text, &limits);
            let read = wsman::parse(&text, &limits);
            prop_assert!(same(&from_memo, &read), "{:?}\n{}\nmemo: {:?}\nread: {:?}", step, text, from_memo, read);
        }
    }
}

/// The requests a client sends with new content each time: a resource (Put, Create), a
/// fragment, a command line, a shell, input, a subscription, a method's input.
const NOT_KEPT: &[&str] = &[
    "amt-put-general-settings.xml",
    "dmtf-subscribe-push.xml",
    "openwsman-create-indication-filter.xml",
    "openwsman-invoke-request-state-change.xml",
    "openwsman-put-escaping.xml",
    "pypsrp-command.xml",
    "pypsrp-create-shell.xml",
    "pypsrp-send-stdin.xml",
    "pywinrm-command.xml",
    "pywinrm-create-shell.xml",
    "winrm-put-fragment.xml",
    "winrm-subscribe-pull.xml",
];

#[test]
fn every_request_a_client_repeats_comes_from_the_memo_the_third_time() {
    let limits = Limits::default();
    for (name, text, hole) in documents() {
        let mut memo = ParseMemo::new();
        for n in 0..3 {
            let text = match hole {
                Some(h) => with_id(text, *h, &plain_id(h.1 - h.0, n)),
                None => text.clone(),
            };
            assert!(
                same(&memo.parse(&text, &limits), &wsman::parse(&text, &limits)),
                "{name}"
            );
        }
        let kept = !NOT_KEPT.contains(&name.as_str());
        assert_eq!(memo.hits(), u64::from(kept), "{name}");
    }
}
