//! End-to-end tests of `touchstone lint`: they run the built binary on files written
//! here (and on the shared corpus in `crates/wsman/tests/documents/`), and check what a
//! script depends on: exit codes, the `PATH:LINE:COL:` lines, and the JSON document.

mod support;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use support::touchstone;

/// A scratch directory removed on drop, unique per test (tests run in parallel).
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("touchstone-lint-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn lint(args: &[&str], files: &[&Path]) -> Output {
    let mut all: Vec<&str> = vec!["lint"];
    all.extend_from_slice(args);
    all.extend(files.iter().map(|p| p.to_str().unwrap()));
    touchstone(&all)
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[track_caller]
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

const VALID_REQUEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
    xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"
    xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">
  <s:Header>
    <a:To s:mustUnderstand="true">http://127.0.0.1:5985/wsman</a:To>
    <a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action>
    <a:MessageID>uuid:3D5F4F5E-0000-4000-8000-000000000001</a:MessageID>
    <a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>
    <w:ResourceURI s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem</w:ResourceURI>
    <w:OperationTimeout>PT60S</w:OperationTimeout>
  </s:Header>
  <s:Body/>
</s:Envelope>
"#;

/// What Intel AMT tooling sends: a relative `wsa:To` and an integer MessageID. Lenient
/// servers accept it, so it is warnings only.
const AMT_REQUEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
    xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"
    xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">
  <s:Header>
    <a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action>
    <a:To s:mustUnderstand="true">/wsman</a:To>
    <w:ResourceURI s:mustUnderstand="true">http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</w:ResourceURI>
    <a:MessageID s:mustUnderstand="true">1</a:MessageID>
    <a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>
  </s:Header>
  <s:Body/>
</s:Envelope>
"#;

#[test]
fn valid_request_is_ok() {
    let dir = Scratch::new();
    let f = dir.file("get.xml", VALID_REQUEST);
    let o = lint(&[], &[&f]);
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), format!("{}: OK\n", f.display()));

    // --quiet drops the OK line.
    let o = lint(&["--quiet"], &[&f]);
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "");
}

#[test]
fn soap11_is_version_mismatch_at_the_envelope() {
    let dir = Scratch::new();
    // The Envelope start tag is on line 3, column 3.
    let f = dir.file(
        "soap11.xml",
        "<?xml version=\"1.0\"?>\n<!-- SOAP 1.1 -->\n  <s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body/></s:Envelope>\n",
    );
    let o = lint(&[], &[&f]);
    assert_exit(&o, 1);
    let out = stdout(&o);
    let prefix = format!("{}:3:3: error: ", f.display());
    assert!(out.starts_with(&prefix), "{out}");
    assert!(out.contains("[fault s:VersionMismatch, HTTP 500]"), "{out}");
}

#[test]
fn doctype_is_refused() {
    let dir = Scratch::new();
    let f = dir.file(
        "doctype.xml",
        "<?xml version=\"1.0\"?>\n<!DOCTYPE s:Envelope [<!ENTITY x \"y\">]>\n\
         <s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body/></s:Envelope>\n",
    );
    let o = lint(&[], &[&f]);
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(out.contains(": error: "), "{out}");
    assert!(out.contains("DOCTYPE"), "{out}");
}

#[test]
fn amt_style_request_warns_and_fails_only_when_strict() {
    let dir = Scratch::new();
    let f = dir.file("amt.xml", AMT_REQUEST);

    let o = lint(&[], &[&f]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    // To is on line 7 and MessageID on line 9, both indented by four spaces.
    let to = format!(
        "{}:7:5: warning: wsa:To is not an absolute URI\n",
        f.display()
    );
    let id = format!(
        "{}:9:5: warning: wsa:MessageID is not a uuid: URI\n",
        f.display()
    );
    assert_eq!(out, format!("{to}{id}"));

    let o = lint(&["--strict"], &[&f]);
    assert_exit(&o, 1);
    assert_eq!(stdout(&o), format!("{to}{id}"));
}

#[test]
fn missing_file_exits_2_and_the_others_are_still_linted() {
    let dir = Scratch::new();
    let good = dir.file("good.xml", VALID_REQUEST);
    let bad = dir.file("bad.xml", "<not-xml");
    let missing = dir.0.join("missing.xml");

    let o = lint(&[], &[&missing, &good, &bad]);
    // 2 wins over the error in bad.xml.
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains(&missing.display().to_string()),
        "{}",
        stderr(&o)
    );
    let out = stdout(&o);
    assert!(out.contains(&format!("{}: OK", good.display())), "{out}");
    assert!(out.contains(&format!("{}:", bad.display())), "{out}");
    assert!(!out.contains("missing.xml"), "{out}");
}

#[test]
fn json_report_has_counts_and_faults() {
    let dir = Scratch::new();
    let good = dir.file("good.xml", VALID_REQUEST);
    let amt = dir.file("amt.xml", AMT_REQUEST);
    let v11 = dir.file(
        "soap11.xml",
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>"#,
    );
    let o = lint(&["--json"], &[&good, &amt, &v11]);
    assert_exit(&o, 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["errors"], 1);
    assert_eq!(v["warnings"], 2);
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);

    assert_eq!(files[0]["path"], good.to_str().unwrap());
    assert_eq!(files[0]["ok"], true);
    assert_eq!(files[0]["kind"], "request");
    assert_eq!(files[0]["findings"].as_array().unwrap().len(), 0);

    assert_eq!(files[1]["ok"], true);
    let w = &files[1]["findings"][0];
    assert_eq!(w["severity"], "warning");
    assert_eq!(w["name"], "relative_to");
    assert_eq!(w["line"], 7);
    assert!(w.get("fault").is_none());

    assert_eq!(files[2]["ok"], false);
    assert_eq!(files[2]["kind"], serde_json::Value::Null);
    let e = &files[2]["findings"][0];
    assert_eq!(e["severity"], "error");
    assert_eq!(e["name"], "version_mismatch");
    assert_eq!(
        (
            e["line"].as_u64(),
            e["column"].as_u64(),
            e["offset"].as_u64()
        ),
        (Some(1), Some(1), Some(0))
    );
    assert_eq!(e["fault"]["subcode"], "s:VersionMismatch");
    assert_eq!(e["fault"]["http_status"], 500);

    // With --strict the warnings make the AMT file not ok.
    let o = lint(&["--json", "--strict"], &[&amt]);
    assert_exit(&o, 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["files"][0]["ok"], false);
}

#[test]
fn json_names_unreadable_files() {
    let dir = Scratch::new();
    let missing = dir.0.join("missing.xml");
    let o = lint(&["--json"], &[&missing]);
    assert_exit(&o, 2);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["unreadable"], 1);
    assert_eq!(v["files"][0]["ok"], false);
    assert!(v["files"][0]["read_error"].is_string());
}

#[test]
fn utf16le_with_bom_is_ok() {
    let dir = Scratch::new();
    let f = dir.file(
        "utf16.xml",
        wsman::decode::encode_utf16(VALID_REQUEST, true),
    );
    let o = lint(&[], &[&f]);
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), format!("{}: OK\n", f.display()));
}

#[test]
fn encoding_error_names_the_fault_detail() {
    let dir = Scratch::new();
    let mut bytes = b"<s:Envelope>\n  <x>".to_vec();
    bytes.push(0xFF);
    let f = dir.file("bad-utf8.xml", bytes);
    let o = lint(&[], &[&f]);
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!("{}:2:6: error: ", f.display())),
        "{out}"
    );
    assert!(
        out.contains("[fault wsman:EncodingLimit, detail CharacterSet, HTTP 413]"),
        "{out}"
    );
}

#[test]
fn dash_reads_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_touchstone"))
        .args(["lint", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(VALID_REQUEST.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "<stdin>: OK\n");
}

#[test]
fn garbage_never_panics() {
    let dir = Scratch::new();
    let inputs: [&[u8]; 7] = [
        b"",
        b"\xFF\xFE\x00",
        b"\xFE\xFF\xD8\x00",
        b"<",
        b"\x00\x00\x00\x00",
        b"<?xml version='1.0' encoding='ISO-8859-1'?><a>\xE9</a>",
        b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body><a:b/></s:Body></s:Envelope>",
    ];
    for (i, input) in inputs.iter().enumerate() {
        let f = dir.file(&format!("g{i}.xml"), input);
        let o = lint(&["--json"], &[&f]);
        assert_exit(&o, 1);
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(v["errors"], 1, "{input:?}");
    }
}

#[test]
fn help_and_version() {
    let o = touchstone(&["--help"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("lint"));

    let o = touchstone(&["lint", "--help"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("Exit codes"), "{out}");
    assert!(
        out.contains("--strict") && out.contains("--json") && out.contains("--quiet"),
        "{out}"
    );

    let o = touchstone(&["--version"]);
    assert_exit(&o, 0);
    assert_eq!(
        stdout(&o),
        format!("touchstone {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_exit(&touchstone(&[]), 2);
    assert_exit(&touchstone(&["lint"]), 2);
    assert_exit(&touchstone(&["lint", "--no-such-flag", "x.xml"]), 2);
    assert_exit(&touchstone(&["no-such-subcommand"]), 2);
}

/// The messages of one corpus directory (`.xml` and `.bin`; the directories also hold
/// expectation files such as `expected.toml`).
fn corpus(sub: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wsman/tests/documents")
        .join(sub);
    let is_message =
        |p: &Path| p.is_file() && p.extension().is_some_and(|e| e == "xml" || e == "bin");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().path())
            .filter(|p| is_message(p))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// Every request and response of the corpus is a valid message: lint exits 0 on all of
/// them (warnings allowed). A failure here is a parser or validator bug, or a corpus
/// file in the wrong directory.
#[test]
fn corpus_requests_and_responses_lint_clean() {
    let mut files = corpus("requests");
    files.extend(corpus("responses"));
    assert!(!files.is_empty(), "corpus not found");
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let o = lint(&["--quiet"], &paths);
    let errors: Vec<&str> = std::str::from_utf8(&o.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.contains(": error: "))
        .collect();
    assert!(
        errors.is_empty(),
        "corpus files with errors:\n{}",
        errors.join("\n")
    );
    assert_exit(&o, 0);
}

/// Every file of `lenient/` is accepted with warnings only: exit 0, and exit 1 with
/// `--strict`. (Which warnings each must produce is checked by the wsman corpus test.)
#[test]
fn corpus_lenient_documents_warn() {
    for f in corpus("lenient") {
        let o = lint(&[], &[&f]);
        assert_exit(&o, 0);
        let out = stdout(&o);
        assert!(
            out.contains(": warning: ") && !out.contains(": error: "),
            "{out}"
        );
        assert_exit(&lint(&["--strict"], &[&f]), 1);
    }
}

/// Every file of `invalid/` is refused with an error (exit 1), never a crash.
#[test]
fn corpus_invalid_documents_are_errors() {
    for f in corpus("invalid") {
        let o = lint(&[], &[&f]);
        assert_exit(&o, 1);
        assert!(stdout(&o).contains(": error: "), "{}", f.display());
    }
}
