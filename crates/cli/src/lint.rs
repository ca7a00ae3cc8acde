//! `touchstone lint FILE...`: checks WS-Management envelopes offline.
//!
//! Each file goes through the same three steps a server takes with a request body:
//! decode the bytes (UTF-8 or UTF-16, BOM honoured), parse the SOAP 1.2 envelope, then
//! run the semantic checks of [`wsman::validate::check`]. Every error is printed with
//! the fault a conforming service answers for it, so a lint run doubles as a preview of
//! what the mock will say about the same message.
//!
//! The linter reports; it never decides what a fault is. That mapping lives in exactly
//! one place, [`wsman::ErrorKind::fault`].

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;
use wsman::validate::{Finding, Warning};
use wsman::{ErrorKind, Limits};

/// The exit-code contract, shown by `touchstone lint --help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  every file parsed and no error was found (warnings are allowed)
  1  an error was found in some file, or a warning with --strict
  2  usage error, or some file could not be read (the other files are still linted)
When several apply, the highest wins: 2 over 1 over 0.

Output: `PATH: OK` for a clean file, otherwise one line per finding:
  PATH:LINE:COL: error: MESSAGE [fault QNAME, detail TOKEN, HTTP STATUS]
  PATH:LINE:COL: warning: MESSAGE
LINE and COL are 1-based; COL counts characters. `-` reads standard input.";

/// The largest file the linter parses. Files are local and trusted to be meant as
/// messages, so this is far above a server's envelope limit; it only keeps a stray
/// multi-gigabyte file from being parsed.
const MAX_BYTES: usize = 64 << 20;

/// Check WS-Management envelopes offline.
///
/// Decodes, parses and validates each FILE as a SOAP 1.2 WS-Management request or
/// response (whichever it looks like), and prints every error with the fault a
/// conforming service would answer, and every warning (deviations that lenient servers
/// such as Intel AMT accept).
#[derive(clap::Args, Debug)]
#[command(after_help = EXIT_CODES)]
pub struct Args {
    /// Files to check; `-` reads standard input.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,

    /// Treat warnings as failures (exit 1).
    #[arg(long)]
    strict: bool,

    /// Print one JSON document on stdout instead of lines.
    #[arg(long)]
    json: bool,

    /// Print only findings, not `PATH: OK` lines (no effect with --json).
    #[arg(long, short)]
    quiet: bool,
}

/// The `lint --json` document.
#[derive(Serialize, Debug, Default)]
struct Report {
    files: Vec<FileReport>,
    /// Error findings over all files.
    errors: usize,
    /// Warning findings over all files.
    warnings: usize,
    /// Files that could not be read (each also has `read_error` set).
    unreadable: usize,
}

#[derive(Serialize, Debug)]
struct FileReport {
    path: String,
    /// True when this file alone would let the run exit 0.
    ok: bool,
    /// `request` or `response`; null when the file did not parse.
    kind: Option<&'static str>,
    findings: Vec<FindingReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    read_error: Option<String>,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Severity {
    Error,
    Warning,
}

#[derive(Serialize, Debug)]
struct FindingReport {
    severity: Severity,
    name: &'static str,
    message: String,
    line: usize,
    column: usize,
    offset: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    fault: Option<FaultReport>,
}

#[derive(Serialize, Debug)]
struct FaultReport {
    subcode: &'static str,
    detail: Option<&'static str>,
    http_status: u16,
}

impl FindingReport {
    fn error(kind: &ErrorKind, offset: usize, text: &str) -> FindingReport {
        let fault = kind.fault();
        let (line, column) = wsman::line_col(text, offset);
        FindingReport {
            severity: Severity::Error,
            name: kind.name(),
            message: kind.to_string(),
            line,
            column,
            offset,
            fault: Some(FaultReport {
                subcode: fault.kind.qname(),
                detail: fault.detail,
                http_status: fault.kind.http_status(),
            }),
        }
    }

    fn warning(warning: &Warning, offset: usize, text: &str) -> FindingReport {
        let (line, column) = wsman::line_col(text, offset);
        FindingReport {
            severity: Severity::Warning,
            name: warning.name(),
            message: warning.message(),
            line,
            column,
            offset,
            fault: None,
        }
    }

    /// The human line, without the `PATH:` prefix.
    fn human(&self) -> String {
        let mut s = format!(
            "{}:{}: {}: {}",
            self.line,
            self.column,
            match self.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            one_line(&self.message)
        );
        if let Some(f) = &self.fault {
            s.push_str(" [fault ");
            s.push_str(f.subcode);
            if let Some(d) = f.detail {
                s.push_str(", detail ");
                s.push_str(d);
            }
            s.push_str(&format!(", HTTP {}]", f.http_status));
        }
        s
    }
}

/// Messages can quote the input (a namespace, a header value, quick-xml's text), so
/// control characters are escaped: one finding stays one line, and a hostile file
/// cannot send escape sequences to the terminal.
fn one_line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// Lints every file and prints the result; returns the exit code.
pub fn run(args: &Args) -> ExitCode {
    let mut report = Report::default();
    // `-` may be named more than once; standard input can be read only once.
    let mut stdin_bytes: Option<io::Result<Vec<u8>>> = None;

    for path in &args.files {
        let is_stdin = path.as_os_str() == "-";
        let shown = if is_stdin {
            "<stdin>".to_owned()
        } else {
            path.display().to_string()
        };
        let bytes = if is_stdin {
            match stdin_bytes.get_or_insert_with(read_stdin) {
                Ok(b) => Ok(Cow::Borrowed(b.as_slice())),
                Err(e) => Err(anyhow::anyhow!("cannot read standard input: {e}")),
            }
        } else {
            read_file(path).map(Cow::Owned)
        };
        let file = match bytes {
            Ok(bytes) => lint_bytes(shown, &bytes, args.strict),
            Err(e) => {
                // Reported now, on stderr, so that it is seen even with --json; the
                // remaining files are still linted and the run exits 2 at the end.
                eprintln!("touchstone lint: {shown}: {e:#}");
                report.unreadable += 1;
                FileReport {
                    path: shown,
                    ok: false,
                    kind: None,
                    findings: Vec::new(),
                    read_error: Some(format!("{e:#}")),
                }
            }
        };
        for f in &file.findings {
            match f.severity {
                Severity::Error => report.errors += 1,
                Severity::Warning => report.warnings += 1,
            }
        }
        report.files.push(file);
    }

    let code = exit_code(&report, args.strict);
    match print(&report, args) {
        Ok(()) => code,
        // A closed pipe (`touchstone lint ... | head`) is the reader's choice, not an
        // error of ours; like ripgrep, stop quietly.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => code,
        Err(e) => {
            eprintln!("touchstone lint: cannot write output: {e}");
            ExitCode::from(2)
        }
    }
}

fn read_stdin() -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io::stdin().lock().read_to_end(&mut buf)?;
    Ok(buf)
}

fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).context("cannot read file")
}

/// The precedence documented in [`EXIT_CODES`]: an unreadable file (2) outranks a
/// failing finding (1).
fn exit_code(report: &Report, strict: bool) -> ExitCode {
    if report.unreadable > 0 {
        ExitCode::from(2)
    } else if report.errors > 0 || (strict && report.warnings > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Decodes, parses and validates one message. Never fails: every problem is a finding.
fn lint_bytes(path: String, bytes: &[u8], strict: bool) -> FileReport {
    let limits = Limits {
        max_bytes: MAX_BYTES,
        ..Limits::default()
    };
    let mut kind = None;
    let mut findings = match wsman::decode::decode_with_charset(bytes, None) {
        Err(e) => {
            // The text could not be decoded, so locate the error in a lossy decoding;
            // wsman reports decode offsets in decoded text with the BOM stripped, and
            // the lossy text agrees with the real one up to the bad sequence.
            let text = lossy_text(bytes);
            vec![FindingReport::error(&e.kind, e.offset, &text)]
        }
        Ok((text, _charset)) => match wsman::parse(&text, &limits) {
            Err(e) => vec![FindingReport::error(&e.kind, e.offset, &text)],
            Ok(env) => {
                kind = Some(if wsman::validate::is_response(&env) {
                    "response"
                } else {
                    "request"
                });
                wsman::validate::check(&env)
                    .iter()
                    .map(|f| match f {
                        Finding::Error(k, at) => FindingReport::error(k, *at, &text),
                        Finding::Warning(w, at) => FindingReport::warning(w, *at, &text),
                    })
                    .collect()
            }
        },
    };
    // The checks run rule by rule; people read files top to bottom. The sort is
    // stable, so findings at one offset keep the rule order.
    findings.sort_by_key(|f| f.offset);
    let ok = !findings
        .iter()
        .any(|f| f.severity == Severity::Error || (strict && f.severity == Severity::Warning));
    FileReport {
        path,
        ok,
        kind,
        findings,
        read_error: None,
    }
}

/// The text of `bytes` with undecodable sequences replaced, BOM stripped, following the
/// same BOM rules as [`wsman::decode()`]; used only to turn an offset into line:column.
fn lossy_text(bytes: &[u8]) -> Cow<'_, str> {
    let utf16 = |rest: &[u8], le: bool| -> Cow<'_, str> {
        let units = rest.chunks_exact(2).map(|c| {
            if le {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        });
        Cow::Owned(
            char::decode_utf16(units)
                .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect(),
        )
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8_lossy(rest),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        _ => String::from_utf8_lossy(bytes),
    }
}

fn print(report: &Report, args: &Args) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, report).map_err(io::Error::from)?;
        writeln!(out)?;
    } else {
        for file in &report.files {
            // Unreadable files were already reported on stderr.
            if file.read_error.is_some() {
                continue;
            }
            if file.findings.is_empty() {
                if !args.quiet {
                    writeln!(out, "{}: OK", file.path)?;
                }
                continue;
            }
            for f in &file.findings {
                writeln!(out, "{}:{}", file.path, f.human())?;
            }
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(one_line("plain"), "plain");
        assert_eq!(one_line("a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
    }

    #[test]
    fn lossy_text_strips_boms() {
        assert_eq!(lossy_text(b"\xEF\xBB\xBF<a/>"), "<a/>");
        assert_eq!(
            lossy_text(&wsman::decode::encode_utf16("<a/>", true)),
            "<a/>"
        );
        assert_eq!(
            lossy_text(&wsman::decode::encode_utf16("<a/>", false)),
            "<a/>"
        );
        assert_eq!(lossy_text(b"<a>\xFF</a>"), "<a>\u{FFFD}</a>");
    }

    #[test]
    fn garbage_is_a_finding_not_a_panic() {
        for input in [
            &b""[..],
            b"\xFF\xFE\x00",
            b"\xFE\xFF\x00\xD8",
            b"<",
            b"\x00\x00\x00",
        ] {
            let r = lint_bytes("x".into(), input, false);
            assert!(!r.ok, "{input:?}");
            assert!(!r.findings.is_empty());
        }
    }
}
