//! Shared helpers for the benches: where the corpus lives and which of its files the
//! benches read. The benches read the same files the wsman tests read (quick-xml's
//! habit), so a bench input is also a tested input.

use std::path::PathBuf;

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
