//! The corpus in `tests/documents/` as tests: every valid message parses and validates
//! cleanly and survives write → parse unchanged; every lenient message gives exactly
//! its expected warnings; every invalid message fails with its documented error and
//! fault. The benches read the same files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wsman::validate::{self, Finding};
use wsman::{Limits, parse};

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/documents")
        .join(sub)
}

fn files(sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir(sub))
        .unwrap_or_else(|e| panic!("{sub}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("xml" | "bin")))
        .collect();
    v.sort();
    v
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[derive(serde::Deserialize)]
struct Invalid {
    error: String,
    fault: String,
    detail: Option<String>,
    #[allow(dead_code)]
    why: Option<String>,
}

#[derive(serde::Deserialize)]
struct Lenient {
    warnings: Vec<String>,
}

/// The first error a conforming server would fault the request with: a parse error,
/// or else the first validation error.
fn first_error(bytes: &[u8]) -> Option<wsman::ErrorKind> {
    let text = match wsman::decode(bytes, None) {
        Ok(t) => t,
        Err(e) => return Some(e.kind),
    };
    let limits = Limits::default();
    let env = match parse(&text, &limits) {
        Ok(env) => env,
        Err(e) => return Some(e.kind),
    };
    validate::check_request(&env, &[])
        .into_iter()
        .find_map(|f| match f {
            Finding::Error(k, _) => Some(k),
            Finding::Warning(..) => None,
        })
}

#[test]
fn valid_messages_parse_validate_and_round_trip() {
    let mut failures = Vec::new();
    let mut count = 0;
    for sub in ["requests", "responses"] {
        for path in files(sub) {
            count += 1;
            let bytes = std::fs::read(&path).unwrap();
            let text = match wsman::decode(&bytes, None) {
                Ok(t) => t,
                Err(e) => {
                    failures.push(format!("{sub}/{}: decode: {e}", name(&path)));
                    continue;
                }
            };
            let env = match parse(&text, &Limits::default()) {
                Ok(env) => env,
                Err(e) => {
                    let (l, c) = wsman::line_col(&text, e.offset);
                    failures.push(format!("{sub}/{}:{l}:{c}: {e}", name(&path)));
                    continue;
                }
            };
            let response = validate::is_response(&env);
            if response != (sub == "responses") {
                failures.push(format!("{sub}/{}: is_response() = {response}", name(&path)));
            }
            let findings = validate::check(&env);
            if !findings.is_empty() {
                failures.push(format!("{sub}/{}: findings {findings:?}", name(&path)));
            }
            // Written back and read again, the message is the same message.
            let written = env.to_xml();
            match parse(&written, &Limits::default()) {
                Ok(again) => {
                    if again.header != env.header
                        || again.body != env.body
                        || again.extra != env.extra
                    {
                        failures.push(format!(
                            "{sub}/{}: write/parse changed the message:\n{written}",
                            name(&path)
                        ));
                    }
                }
                Err(e) => failures.push(format!(
                    "{sub}/{}: re-parse of written form: {e}\n{written}",
                    name(&path)
                )),
            }
            // The header-only path agrees with the full parse.
            match wsman::parse_header(&text, &Limits::default()) {
                Ok(h) => {
                    if h.header != env.header {
                        failures.push(format!(
                            "{sub}/{}: parse_header header differs",
                            name(&path)
                        ));
                    }
                    match h.parse_body(&Limits::default()) {
                        Ok((b, extra)) if b == env.body && extra == env.extra => {}
                        Ok(_) => {
                            failures.push(format!("{sub}/{}: parse_body differs", name(&path)))
                        }
                        Err(e) => failures.push(format!("{sub}/{}: parse_body: {e}", name(&path))),
                    }
                }
                Err(e) => failures.push(format!("{sub}/{}: parse_header: {e}", name(&path))),
            }
        }
    }
    assert!(count >= 40, "corpus has only {count} valid files");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn lenient_messages_warn_exactly_as_expected() {
    let expected: BTreeMap<String, Lenient> =
        toml::from_str(&std::fs::read_to_string(dir("lenient/expected.toml")).unwrap()).unwrap();
    let found = files("lenient");
    assert!(!found.is_empty());
    let mut failures = Vec::new();
    for path in &found {
        let n = name(path);
        let Some(exp) = expected.get(&n) else {
            failures.push(format!("{n}: no entry in expected.toml"));
            continue;
        };
        let bytes = std::fs::read(path).unwrap();
        let text = wsman::decode(&bytes, None).unwrap();
        let env = match parse(&text, &Limits::default()) {
            Ok(env) => env,
            Err(e) => {
                failures.push(format!("{n}: {e}"));
                continue;
            }
        };
        let mut got: Vec<&str> = Vec::new();
        for f in validate::check_request(&env, &[]) {
            match f {
                Finding::Error(k, _) => failures.push(format!("{n}: unexpected error {k}")),
                Finding::Warning(w, _) => got.push(w.name()),
            }
        }
        got.sort();
        got.dedup();
        let mut want: Vec<&str> = exp.warnings.iter().map(String::as_str).collect();
        want.sort();
        want.dedup();
        if got != want {
            failures.push(format!("{n}: warnings {got:?}, expected {want:?}"));
        }
    }
    for n in expected.keys() {
        if !found.iter().any(|p| &name(p) == n) {
            failures.push(format!("expected.toml names {n}, which does not exist"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn invalid_messages_fail_with_their_documented_fault() {
    let expected: BTreeMap<String, Invalid> =
        toml::from_str(&std::fs::read_to_string(dir("invalid/expected.toml")).unwrap()).unwrap();
    let found = files("invalid");
    assert!(found.len() >= 25, "only {} invalid files", found.len());
    let mut failures = Vec::new();
    for path in &found {
        let n = name(path);
        let Some(exp) = expected.get(&n) else {
            failures.push(format!("{n}: no entry in expected.toml"));
            continue;
        };
        let bytes = std::fs::read(path).unwrap();
        let Some(kind) = first_error(&bytes) else {
            failures.push(format!("{n}: accepted, expected {}", exp.error));
            continue;
        };
        let fault = kind.fault();
        let detail = fault.detail.map(str::to_owned);
        if kind.name() != exp.error || fault.kind.qname() != exp.fault || detail != exp.detail {
            failures.push(format!(
                "{n}: got {} / {} / {:?} ({kind}), expected {} / {} / {:?}",
                kind.name(),
                fault.kind.qname(),
                detail,
                exp.error,
                exp.fault,
                exp.detail
            ));
        }
    }
    for n in expected.keys() {
        if !found.iter().any(|p| &name(p) == n) {
            failures.push(format!("expected.toml names {n}, which does not exist"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// What each (non-bench) corpus file reads as, snapshotted: a change in how any
/// message is understood shows up as a reviewable diff.
#[test]
fn parsed_corpus_snapshots() {
    for sub in ["requests", "responses"] {
        for path in files(sub) {
            let n = name(&path);
            if n.starts_with("bench-") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let text = wsman::decode(&bytes, None).unwrap();
            let Ok(env) = parse(&text, &Limits::default()) else {
                continue;
            };
            let mut settings = insta::Settings::clone_current();
            settings.set_snapshot_suffix(format!("{sub}-{}", n.trim_end_matches(".xml")));
            settings.set_prepend_module_to_snapshot(false);
            settings.bind(|| {
                insta::assert_debug_snapshot!("parsed", (&env.header, &env.body));
            });
        }
    }
}
