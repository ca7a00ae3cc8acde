//! Shared helpers for the benches: where the corpus lives and which of its files the
//! benches read. The benches read the same files the wsman tests read (quick-xml's
//! habit), so a bench input is also a tested input.

use std::path::PathBuf;

/// The allocator the `touchstone` binary ships with: its very source file (the binary
/// has no library to depend on), so the benches that link this library measure what
/// users run.
#[path = "../crates/cli/src/alloc.rs"]
mod alloc;

#[global_allocator]
static ALLOCATOR: alloc::Allocator = alloc::Allocator;

/// One bench input: the criterion group it names and its path under the corpus.
#[derive(Debug, Clone, Copy)]
pub struct Input {
    /// The criterion group name (filter with `cargo bench ... -- NAME`).
    pub group: &'static str,
    /// Path relative to [`corpus_dir`].
    pub path: &'static str,
}

/// The envelope bench inputs, in the order their groups run.
pub const ENVELOPES: &[Input] = &[
    Input {
        group: "get_request",
        path: "requests/bench-get-request.xml",
    },
    Input {
        group: "get_response",
        path: "responses/bench-get-response-numeric-sensor.xml",
    },
    Input {
        group: "pull_100",
        path: "responses/bench-pull-response-100-sensors.xml",
    },
    Input {
        group: "receive_64k",
        path: "responses/bench-receive-response-64k.xml",
    },
    Input {
        group: "fault",
        path: "responses/bench-fault.xml",
    },
];

/// `crates/wsman/tests/documents`, the wsman corpus.
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/wsman/tests/documents")
}

/// Reads one corpus file as text.
///
/// # Panics
/// If the file is missing or not UTF-8: a bench without its input has nothing to measure.
pub fn read(path: &str) -> String {
    let full = corpus_dir().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {}: {e}", full.display()))
}

/// The DMTF CIM schema prefix of resource URIs.
pub const CIM: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";

/// A request envelope written the way WinRM and openwsman write them: addressing
/// headers with `mustUnderstand`, an anonymous ReplyTo, a size and a timeout, for the
/// CIM class `class` with `selectors` and `body`.
pub fn request_envelope(
    action: &str,
    class: &str,
    selectors: &[(&str, &str)],
    body: &str,
) -> String {
    let selectors = if selectors.is_empty() {
        String::new()
    } else {
        let set: String = selectors
            .iter()
            .map(|(n, v)| format!("<w:Selector Name=\"{n}\">{v}</w:Selector>"))
            .collect();
        format!("<w:SelectorSet>{set}</w:SelectorSet>")
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">\
<s:Header>\
<a:To s:mustUnderstand=\"true\">http://127.0.0.1/wsman</a:To>\
<w:ResourceURI s:mustUnderstand=\"true\">{CIM}{class}</w:ResourceURI>\
<a:ReplyTo><a:Address s:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>\
<a:Action s:mustUnderstand=\"true\">{action}</a:Action>\
<w:MaxEnvelopeSize s:mustUnderstand=\"true\">512000</w:MaxEnvelopeSize>\
<a:MessageID>uuid:6F0C3E2A-9B1D-4C57-8E2F-3A4B5C6D7E8F</a:MessageID>\
<w:OperationTimeout>PT60S</w:OperationTimeout>\
{selectors}\
</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )
}

/// `count` copies of the request `body` that differ only in their MessageID, each a
/// fresh `uuid:` as clients write them (the same length as any UUID), as a client
/// polling one resource sends them; `body` alone when it has no MessageID. The mock
/// must not find a request it has just read in the next one (a real client never
/// sends the same MessageID twice), so load generators cycle through these.
pub fn with_message_ids(body: &str, count: usize) -> Vec<String> {
    let found = wsman::parse(body, &wsman::Limits::default())
        .ok()
        .and_then(|env| wsman::memo::message_id_range(body, &env));
    let Some(std::ops::Range { start, end }) = found else {
        return vec![body.to_owned()];
    };
    (0..count)
        .map(|n| {
            format!(
                "{}uuid:6F0C3E2A-9B1D-4C57-8E2F-{n:012X}{}",
                &body[..start],
                &body[end..]
            )
        })
        .collect()
}
