//! No input makes the reader panic, and nesting is refused early.
//!
//! Every property here pushes text through the whole reading path a server runs:
//! `decode`, then `parse` (and `validate::check` on success, `line_col` and the fault
//! mapping on failure), then `parse_header` and `parse_body`, under the default limits
//! and under tight ones. Inputs are arbitrary bytes, a soup of XML and WS-Management
//! tokens, and mutations of every file of `tests/documents/`. Proptest turns a panic
//! into a failure and shrinks it to a minimal input.
//!
//! Case counts are modest so that the file runs in well under 20 s in a debug build;
//! set `PROPTEST_CASES` for a longer search.

mod common;

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};

use wsman::validate;
use wsman::{ErrorKind, Limits, ns};

/// `cases` cases (or `PROPTEST_CASES`), failures persisted to
/// `proptest-regressions/no_panic.txt`.
fn config(cases: u32) -> ProptestConfig {
    common::proptest_config(cases, "proptest-regressions/no_panic.txt")
}

/// Limits small enough that short inputs reach every limit check.
const TIGHT: Limits = Limits {
    max_bytes: 512,
    max_depth: 6,
    max_elements: 24,
    max_attributes: 4,
};

/// Everything a server does with a request body it has not yet trusted.
fn exercise(text: &str) {
    for limits in [Limits::default(), TIGHT] {
        match wsman::parse(text, &limits) {
            Ok(env) => {
                let _ = validate::check(&env);
                let _ = validate::check_request(&env, &[(ns::MSWSMAN, "SessionId")]);
                let _ = validate::check_response(&env);
            }
            Err(e) => {
                let _ = wsman::line_col(text, e.offset);
                let _ = e.fault().to_envelope(
                    e.message_id.as_deref(),
                    "uuid:00000000-0000-4000-8000-000000000000",
                );
            }
        }
        if let Ok(head) = wsman::parse_header(text, &limits) {
            let _ = head.parse_body(&limits);
        }
    }
}

/// Decodes as an HTTP body labelled with `charset`, then [`exercise`]s the text.
fn exercise_bytes(bytes: &[u8], charset: Option<&str>) {
    let _ = wsman::decode::decode_with_charset(bytes, charset);
    if let Ok(text) = wsman::decode(bytes, charset) {
        exercise(&text);
    }
}

/// HTTP charset labels: none, the supported ones in odd spellings, unsupported ones.
fn charset() -> impl Strategy<Value = Option<&'static str>> {
    select(vec![
        None,
        Some("utf-8"),
        Some("UTF-16"),
        Some("utf-16le"),
        Some("\"utf-16be\""),
        Some(""),
        Some("latin1"),
    ])
}

const ENVELOPE_OPEN: &str = concat!(
    r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" "#,
    r#"xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" "#,
    r#"xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">"#
);

/// Pieces of WS-Management messages and of XML syntax, including the broken kinds.
const TOKENS: &[&str] = &[
    ENVELOPE_OPEN,
    "</s:Envelope>",
    "<s:Header>",
    "</s:Header>",
    "<s:Body>",
    "</s:Body>",
    "<s:Body/>",
    "<a:To>",
    "</a:To>",
    "<a:Action s:mustUnderstand=\"true\">",
    "</a:Action>",
    "<a:MessageID>",
    "</a:MessageID>",
    "uuid:00000000-0000-4000-8000-000000000001",
    "<a:ReplyTo><a:Address>",
    "</a:Address></a:ReplyTo>",
    "<w:SelectorSet>",
    "</w:SelectorSet>",
    "<w:Selector Name=\"Name\">",
    "</w:Selector>",
    "<a:EndpointReference>",
    "</a:EndpointReference>",
    "<w:OperationTimeout>PT60.5S</w:OperationTimeout>",
    "<w:OperationTimeout>",
    "</w:OperationTimeout>",
    "<w:Locale xml:lang=\"en-US\"/>",
    "<w:MaxEnvelopeSize>",
    "</w:MaxEnvelopeSize>",
    "<s:NotUnderstood qname=\"x:y\"/>",
    "<w:TotalItemsCountEstimate xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:nil=\"true\"/>",
    "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\">",
    "</n:Enumerate>",
    "<n:Pull xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\">",
    "<n:PullResponse xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\">",
    "<n:Items>",
    "</n:Items>",
    "<w:Item>",
    "</w:Item>",
    "<n:EnumerationContext>",
    "</n:EnumerationContext>",
    "<n:MaxElements>0</n:MaxElements>",
    "<w:Filter Dialect=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter\">",
    "<w:Filter Dialect=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter\">",
    "</w:Filter>",
    "<s:Fault>",
    "</s:Fault>",
    "<s:Code><s:Value>",
    "</s:Value></s:Code>",
    "<s:Subcode><s:Value>",
    "</s:Value></s:Subcode>",
    "s:Sender",
    "w:InvalidSelectors",
    "<s:Detail>",
    "<f:WSManFault xmlns:f=\"http://schemas.microsoft.com/wbem/wsman/1/wsmanfault\" Code=\"1\">",
    "<rsp:Send xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\">",
    "<rsp:Stream Name=\"stdin\">",
    "</rsp:Stream>",
    "ZGly",
    "<p:M_INPUT xmlns:p=\"urn:m\">",
    "</p:M_INPUT>",
    "<",
    ">",
    "/>",
    "</",
    "&",
    "&amp;",
    "&lt;",
    "&#0;",
    "&#x10FFFF;",
    "&#xD800;",
    "&#99999999999;",
    "&bogus;",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
    "<?xml version=\"1.0\" encoding=\"koi8-r\"?>",
    "<?pi x?>",
    "<!DOCTYPE s:Envelope [<!ENTITY e \"x\">]>",
    "xmlns:p=\"\"",
    "xmlns=\"urn:d\"",
    "\"",
    "'",
    "=",
    " ",
    "\n",
    "\r",
    "\t",
    "p:",
    ":",
    "x",
    "é",
    "\u{FEFF}",
    "\0",
];

/// A document made of [`TOKENS`]: mostly nonsense, often nearly a message.
fn soup() -> impl Strategy<Value = String> {
    vec(select(TOKENS), 0..80).prop_map(|t| t.concat())
}

/// The bytes of every file in `tests/documents/{requests,responses,lenient,invalid}`
/// (expectation files excluded), read once.
fn corpus() -> &'static [(String, Vec<u8>)] {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/documents");
        let mut files = Vec::new();
        for sub in ["requests", "responses", "lenient", "invalid"] {
            let Ok(entries) = std::fs::read_dir(root.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "toml" || e == "md") || !path.is_file() {
                    continue;
                }
                let name = format!("{sub}/{}", entry.file_name().to_string_lossy());
                files.push((name, std::fs::read(&path).expect("readable corpus file")));
            }
        }
        files.sort();
        assert!(
            !files.is_empty(),
            "no corpus files under {}",
            root.display()
        );
        files
    })
}

/// What may be inserted: the characters that break XML, and pieces of syntax.
const INSERTS: &[&str] = &[
    "<",
    "&",
    "\"",
    "]]>",
    ">",
    "'",
    "</",
    "/>",
    "<!--",
    "<![CDATA[",
    "&#",
    "xmlns:s=\"\"",
    "\u{0}",
    "\u{FEFF}",
];

/// One change to a document's bytes. Positions are [`Index`]es, resolved against the
/// length the document has when the change is applied.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR one byte with a non-zero mask.
    Flip(Index, u8),
    /// Cut the document at a position.
    Truncate(Index),
    /// Insert one of [`INSERTS`].
    Insert(Index, &'static str),
    /// Copy a slice of up to 64 bytes to another position.
    Duplicate(Index, usize, Index),
    /// Remove a slice of up to 64 bytes.
    Delete(Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 1u8..=255).prop_map(|(i, m)| Mutation::Flip(i, m)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        3 => (any::<Index>(), select(INSERTS)).prop_map(|(i, s)| Mutation::Insert(i, s)),
        2 => (any::<Index>(), 1usize..64, any::<Index>())
            .prop_map(|(i, n, at)| Mutation::Duplicate(i, n, at)),
        2 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn apply(doc: &mut Vec<u8>, m: &Mutation) {
    // `Index::index` needs a non-zero size; `len + 1` also allows the end position.
    let at = |i: &Index, len: usize| i.index(len + 1);
    match m {
        Mutation::Flip(i, mask) => {
            if !doc.is_empty() {
                let p = i.index(doc.len());
                doc[p] ^= mask;
            }
        }
        Mutation::Truncate(i) => {
            let p = at(i, doc.len());
            doc.truncate(p);
        }
        Mutation::Insert(i, s) => {
            let p = at(i, doc.len());
            doc.splice(p..p, s.bytes());
        }
        Mutation::Duplicate(i, n, to) => {
            let start = at(i, doc.len());
            let end = (start + n).min(doc.len());
            let slice = doc[start..end].to_vec();
            let p = at(to, doc.len());
            doc.splice(p..p, slice);
        }
        Mutation::Delete(i, n) => {
            let start = at(i, doc.len());
            let end = (start + n).min(doc.len());
            doc.drain(start..end);
        }
    }
}

/// A corpus document with one to four mutations applied, and its name for the report.
fn mutated_document() -> impl Strategy<Value = (String, Vec<u8>)> {
    (any::<Index>(), vec(mutation(), 1..5)).prop_map(|(file, mutations)| {
        let (name, bytes) = &corpus()[file.index(corpus().len())];
        let mut doc = bytes.clone();
        for m in &mutations {
            apply(&mut doc, m);
        }
        (format!("{name} with {mutations:?}"), doc)
    })
}

proptest! {
    #![proptest_config(config(2048))]

    /// For all byte strings of up to 4096 bytes under any charset label, decoding,
    /// `parse`, `validate::check`, the fault mapping, `parse_header` and `parse_body`
    /// return without panicking.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..4096), charset in charset()) {
        exercise_bytes(&bytes, charset);
    }

    /// For all documents assembled from XML and WS-Management tokens (tags, broken
    /// references, CDATA, comments, DOCTYPE, declarations), the reading path returns
    /// without panicking, both as UTF-8 and as UTF-16.
    #[test]
    fn token_soup_never_panics(text in soup(), little_endian in any::<bool>()) {
        exercise(&text);
        exercise_bytes(&wsman::decode::encode_utf16(&text, little_endian), None);
    }
}

proptest! {
    #![proptest_config(config(2048))]

    /// For every file of `tests/documents/{requests,responses,lenient,invalid}` with up
    /// to four mutations (byte flips, truncation, insertion of `<`, `&`, `"`, `]]>` and
    /// other syntax, duplication and deletion of a slice), the reading path returns
    /// without panicking.
    #[test]
    fn mutated_corpus_never_panics((_name, doc) in mutated_document()) {
        exercise_bytes(&doc, None);
    }

    /// For every mutated corpus document that `parse` accepts, the envelope written
    /// back from it parses again to the same headers and bodies: the writer can say
    /// everything the reader accepts.
    #[test]
    fn mutated_corpus_that_parses_rewrites((name, doc) in mutated_document()) {
        let Ok(text) = wsman::decode(&doc, None) else { return Ok(()) };
        let Ok(env) = wsman::parse(&text, &Limits::default()) else { return Ok(()) };
        let xml = env.to_xml();
        let again = wsman::parse(&xml, &Limits::default())
            .map_err(|e| TestCaseError::fail(format!(
                "{name}: the rewrite does not parse: {e}\ninput:\n{text}\nrewritten:\n{xml}"
            )))?;
        prop_assert_eq!(&again.header, &env.header, "{}: headers changed; rewritten:\n{}", name, xml);
        prop_assert_eq!(&again.body, &env.body, "{}: body changed; rewritten:\n{}", name, xml);
        prop_assert_eq!(&again.extra, &env.extra, "{}: extra bodies changed; rewritten:\n{}", name, xml);
    }
}

/// Where the deep nesting goes.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// In a header the reader keeps as a tree.
    Header,
    /// As the body element (an unknown one: a resource instance).
    Body,
    /// Inside a typed body (a filter of an Enumerate).
    Filter,
}

/// An envelope with `depth` nested elements at `place`, every tag closed or not.
fn deep_document(depth: usize, place: Place, closed: bool) -> String {
    let mut s = String::with_capacity(depth * 8 + 512);
    s.push_str(ENVELOPE_OPEN);
    let (before, after) = match place {
        Place::Header => ("<s:Header>", "</s:Header><s:Body/>"),
        Place::Body => ("<s:Header/><s:Body>", "</s:Body>"),
        Place::Filter => (
            "<s:Header/><s:Body><n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\"><w:Filter>",
            "</w:Filter></n:Enumerate></s:Body>",
        ),
    };
    s.push_str(before);
    for _ in 0..depth {
        s.push_str("<d>");
    }
    if closed {
        for _ in 0..depth {
            s.push_str("</d>");
        }
        s.push_str(after);
        s.push_str("</s:Envelope>");
    }
    s
}

fn is_too_deep<T>(r: &Result<T, wsman::Error>) -> bool {
    matches!(r, Err(e) if matches!(e.kind, ErrorKind::TooDeep { .. }))
}

proptest! {
    #![proptest_config(config(32))]

    /// For every nesting of 101 to 100,000 elements in a header, in the body or inside a
    /// typed body, closed or not, `parse` returns `TooDeep` in well under a second (it
    /// stops at the limit instead of reading on), and `parse_header` (in the header) or
    /// `parse_body` (in the body) does too.
    #[test]
    fn deep_nesting_is_refused_fast(
        depth in prop_oneof![101usize..200, 200usize..=100_000],
        place in select(vec![Place::Header, Place::Body, Place::Filter]),
        closed in any::<bool>(),
    ) {
        let text = deep_document(depth, place, closed);
        let limits = Limits::default();
        let start = Instant::now();
        let parsed = wsman::parse(&text, &limits);
        prop_assert!(is_too_deep(&parsed), "parse: {:?}", parsed.err());
        let head = wsman::parse_header(&text, &limits);
        match place {
            Place::Header => prop_assert!(is_too_deep(&head), "parse_header: {:?}", head.err()),
            // The body is only delimited; an unclosed one cannot be.
            Place::Body | Place::Filter => match head {
                Ok(head) => {
                    let body = head.parse_body(&limits);
                    prop_assert!(is_too_deep(&body), "parse_body: {:?}", body.err());
                }
                Err(e) => prop_assert!(!closed, "closed document: parse_header: {e}"),
            },
        }
        let took = start.elapsed();
        prop_assert!(took < Duration::from_secs(1), "took {:?} at depth {}", took, depth);
    }
}

/// The nesting limit is the documented one, counted from the Envelope (depth 1):
/// exactly `max_depth` levels parse, one more is `TooDeep`.
#[test]
fn depth_limit_boundary() {
    let limits = Limits::default();
    // Envelope, Body, then the nested elements.
    let ok = deep_document(limits.max_depth - 2, Place::Body, true);
    assert!(
        wsman::parse(&ok, &limits).is_ok(),
        "{:?}",
        wsman::parse(&ok, &limits).err()
    );
    let deep = deep_document(limits.max_depth - 1, Place::Body, true);
    assert!(is_too_deep(&wsman::parse(&deep, &limits)));
}

/// `parse_header` + `parse_body` refuse what `parse` refuses for depth: the routing path
/// must not let a server read a body nested deeper than the configured limit.
#[test]
fn parse_body_applies_the_same_depth_limit_as_parse() {
    let limits = Limits::default();
    // Envelope (1) + Body (2) + max_depth - 1 levels: one over the limit.
    let text = deep_document(limits.max_depth - 1, Place::Body, true);
    assert!(is_too_deep(&wsman::parse(&text, &limits)));
    let head = wsman::parse_header(&text, &limits).expect("the headers are fine");
    let body = head.parse_body(&limits);
    assert!(
        is_too_deep(&body),
        "parse refuses this nesting but parse_body reads it: {:?}",
        body.map(|_| ())
    );
}

/// `parse_header` + `parse_body` refuse what `parse` refuses for element count: the
/// limit is on the message, not on each half of it.
#[test]
fn parse_body_applies_the_same_element_limit_as_parse() {
    let limits = Limits {
        max_elements: 12,
        ..Limits::default()
    };
    // Envelope, Header, 4 headers, Body, 6 body elements: 13 elements.
    let text = format!(
        "{ENVELOPE_OPEN}<s:Header><a:To>t</a:To><a:Action>a</a:Action><a:MessageID>m</a:MessageID><w:ResourceURI>r</w:ResourceURI></s:Header>\
         <s:Body><p:X xmlns:p=\"urn:x\"><p:a/><p:b/><p:c/><p:d/><p:e/></p:X></s:Body></s:Envelope>"
    );
    let parsed = wsman::parse(&text, &limits);
    assert!(
        matches!(&parsed, Err(e) if matches!(e.kind, ErrorKind::TooManyElements { .. })),
        "{parsed:?}"
    );
    let head = wsman::parse_header(&text, &limits).expect("the headers alone are within the limit");
    let body = head.parse_body(&limits);
    assert!(
        matches!(&body, Err(e) if matches!(e.kind, ErrorKind::TooManyElements { .. })),
        "parse refuses this message but parse_header + parse_body read it: {:?}",
        body.map(|_| ())
    );
}

/// Asserts the rewrite invariant of `mutated_corpus_that_parses_rewrites` (and of the
/// `parse` fuzz target) for one input: refused, or rewritten to the same message.
fn assert_rewrites(text: &str) {
    let Ok(env) = wsman::parse(text, &Limits::default()) else {
        return;
    };
    let xml = env.to_xml();
    let again = wsman::parse(&xml, &Limits::default()).unwrap_or_else(|e| {
        panic!("accepted, but the rewrite does not parse: {e}\ninput:\n{text}\nrewritten:\n{xml}")
    });
    assert_eq!(
        again.header, env.header,
        "headers changed; rewritten:\n{xml}"
    );
    assert_eq!(again.body, env.body, "body changed; rewritten:\n{xml}");
    assert_eq!(
        again.extra, env.extra,
        "extra bodies changed; rewritten:\n{xml}"
    );
}

/// Found by the `parse` fuzz target (minimised by hand from its crash). An attribute
/// named `:s:mustUnderstand` is not a QName, yet it is read as the unqualified name
/// `s:mustUnderstand`, which the writer writes back as the prefixed, bound name: the
/// rewritten header becomes mustUnderstand. Likewise `:sh:mustd` (the fuzzer's own
/// input) comes back with an unbound prefix.
#[test]
fn fuzz_parse_colon_led_attribute_name() {
    let soap = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">"#;
    assert_rewrites(&format!(
        r#"{soap}<s:Header><h :s:mustUnderstand="true"/></s:Header><s:Body/></s:Envelope>"#
    ));
    assert_rewrites(&format!(
        r#"{soap}<s:Header><h :sh:mustd="false"/></s:Header><s:Body/></s:Envelope>"#
    ));
}

/// Two attributes with the same expanded name (two prefixes bound to one namespace) are
/// not namespace-well-formed (Namespaces in XML 1.0, section 6.3), yet the reader keeps
/// both, and the writer, giving the namespace one prefix, writes a literally duplicated
/// attribute that no reader accepts.
#[test]
fn attributes_with_the_same_expanded_name() {
    let soap = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">"#;
    assert_rewrites(&format!(
        r#"{soap}<s:Header><h a:x="1" b:x="2" xmlns:a="urn:n" xmlns:b="urn:n"/></s:Header><s:Body/></s:Envelope>"#
    ));
}
