//! The little PowerShell the mock speaks: how `powershell.exe` reads its command line
//! (`-EncodedCommand` base64 UTF-16LE, `-Command`, the flags before them), and a few
//! built-ins for scripts no scenario entry matched:
//!
//! - `Write-Output`, `echo`, `write` (one line per argument), `Write-Host` (arguments
//!   joined by spaces);
//! - a bare string literal (`'text'`, `"text"`) or `$env:NAME`;
//! - `hostname`, `$env:COMPUTERNAME`, `Get-Date` (the machine's wall clock);
//! - `exit N`.
//!
//! Statements are separated by newlines or `;`. Anything else is PowerShell's
//! CommandNotFound error, written to stderr as CLIXML (`#< CLIXML` and `<S S="Error">`
//! lines, as `powershell -EncodedCommand` writes errors when its output is redirected),
//! with exit code 1.

use base64::Engine as _;

/// What a script sees of the machine.
pub struct Env<'a> {
    /// The host name.
    pub hostname: &'a str,
    /// Environment variables.
    pub env: &'a [(String, String)],
    /// Unix seconds now.
    pub unix_now: u64,
}

/// A script's output.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// Standard output.
    pub stdout: String,
    /// Standard error (CLIXML when there were errors).
    pub stderr: String,
    /// The exit code.
    pub exit_code: i32,
}

/// The script a `powershell.exe` command line (the part after the program name) runs:
/// `Ok(None)` when it names none, `Err(message)` when `-EncodedCommand` is not base64
/// UTF-16LE.
pub fn script_of(args: &str) -> Result<Option<String>, String> {
    let mut rest = args.trim_start();
    loop {
        let (word, after) = super::split_word(rest);
        if word.is_empty() {
            return Ok(None);
        }
        let Some(flag) = word.strip_prefix('-').or_else(|| word.strip_prefix('/')) else {
            // A bare word: PowerShell runs the rest as a command.
            return Ok(Some(rest.to_owned()));
        };
        let flag = flag.to_ascii_lowercase();
        let is = |full: &str, min: usize| flag.len() >= min && full.starts_with(flag.as_str());
        if flag == "e" || flag == "ec" || is("encodedcommand", 2) {
            let (b64, _) = super::split_word(after);
            return decode(b64).map(Some);
        }
        if flag == "c" || is("command", 2) {
            let s = after.trim();
            return Ok((!s.is_empty()).then(|| s.to_owned()));
        }
        // Flags with a value.
        if is("executionpolicy", 2)
            || flag == "ep"
            || is("inputformat", 3)
            || is("outputformat", 1)
            || is("windowstyle", 1)
            || is("version", 1)
            || is("configurationname", 3)
            || is("file", 1)
        {
            if is("file", 1) {
                // A script file: nothing the mock can read.
                return Ok(None);
            }
            let (_, after_value) = super::split_word(after);
            rest = after_value;
            continue;
        }
        // Switches (-NoProfile, -NonInteractive, -NoLogo, -Sta, ...) and unknown flags.
        rest = after;
    }
}

/// Decodes an `-EncodedCommand` value.
pub fn decode(b64: &str) -> Result<String, String> {
    const BAD: &str = "Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded.\r\n";
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| BAD.to_owned())?;
    if bytes.len() % 2 != 0 {
        return Err(BAD.to_owned());
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .collect();
    String::from_utf16(&units).map_err(|_| BAD.to_owned())
}

/// Encodes a script the way clients send it with `-EncodedCommand`.
pub fn encode(script: &str) -> String {
    let bytes: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Runs a script with the built-ins.
pub fn run(script: &str, env: &Env<'_>) -> Output {
    let mut out = Output::default();
    let mut errors: Vec<String> = Vec::new();
    for (line_no, line) in script.lines().enumerate() {
        let mut col = 0usize;
        for stmt in split_statements(line) {
            let start = col + (stmt.len() - stmt.trim_start().len());
            col += stmt.len() + 1;
            let stmt = stmt.trim();
            if stmt.is_empty() || stmt.starts_with('#') {
                continue;
            }
            match statement(stmt, env) {
                Step::Print(lines) => {
                    for l in lines {
                        out.stdout.push_str(&l);
                        out.stdout.push_str("\r\n");
                    }
                }
                Step::Raw(text) => out.stdout.push_str(&text),
                Step::Exit(code) => {
                    out.exit_code = code;
                    finish(&mut out, &errors);
                    return out;
                }
                Step::NotFound(name) => {
                    errors.push(not_found(&name, line, line_no + 1, start + 1));
                }
            }
        }
    }
    if !errors.is_empty() {
        out.exit_code = 1;
    }
    finish(&mut out, &errors);
    out
}

fn finish(out: &mut Output, errors: &[String]) {
    if errors.is_empty() {
        return;
    }
    let mut x = String::from(
        "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">",
    );
    for e in errors {
        for l in e.split("\r\n").filter(|l| !l.is_empty()) {
            x.push_str("<S S=\"Error\">");
            x.push_str(&xml_escape(l));
            x.push_str("_x000D__x000A_</S>");
        }
    }
    x.push_str("</Objs>");
    out.stderr = x;
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// PowerShell 5.1's error record for an unknown command, as text lines.
fn not_found(name: &str, line: &str, line_no: usize, col: usize) -> String {
    let underline = "~".repeat(name.chars().count().max(1));
    let pad = " ".repeat(col.saturating_sub(1));
    format!(
        "{name} : The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.\r\n\
         At line:{line_no} char:{col}\r\n\
         + {line}\r\n\
         + {pad}{underline}\r\n\
         \x20   + CategoryInfo          : ObjectNotFound: ({name}:String) [], CommandNotFoundException\r\n\
         \x20   + FullyQualifiedErrorId : CommandNotFoundException\r\n\r\n"
    )
}

enum Step {
    Print(Vec<String>),
    Raw(String),
    Exit(i32),
    NotFound(String),
}

fn statement(stmt: &str, env: &Env<'_>) -> Step {
    let words = words(stmt);
    let Some(first) = words.first() else {
        return Step::Print(Vec::new());
    };
    if first.quoted || first.text.starts_with('$') {
        return Step::Print(words.iter().map(|w| value(w, env)).collect());
    }
    let args: Vec<String> = words[1..].iter().map(|w| value(w, env)).collect();
    match first.text.to_ascii_lowercase().as_str() {
        "write-output" | "echo" | "write" => Step::Print(args),
        "write-host" => Step::Print(vec![args.join(" ")]),
        "hostname" | "hostname.exe" => Step::Print(vec![env.hostname.to_owned()]),
        "get-date" => Step::Raw(format!("\r\n{}\r\n\r\n\r\n", get_date(env.unix_now))),
        "exit" => Step::Exit(args.first().and_then(|a| a.parse().ok()).unwrap_or(0)),
        _ => Step::NotFound(first.text.clone()),
    }
}

/// One word of a PowerShell statement, as [`words`] splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The text, without its quotes (a doubled quote inside them is one quote).
    pub text: String,
    /// It was quoted.
    pub quoted: bool,
    /// With double quotes (PowerShell expands variables in those).
    pub double: bool,
}

/// Splits a statement into words, as both the cmd shell's `powershell -Command` and
/// the PowerShell Remoting pipeline read them: whitespace separates words; a quoted
/// string is one word (`''` inside single quotes and `""` inside double quotes is a
/// quote); a bare word keeps `{...}` and `(...)` groups whole, spaces included, so a
/// script block or a subexpression is one argument.
pub fn words(s: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '\'' || c == '"' {
            chars.next();
            let mut text = String::new();
            while let Some(x) = chars.next() {
                if x == c {
                    if chars.peek() == Some(&c) {
                        chars.next();
                        text.push(c);
                        continue;
                    }
                    break;
                }
                text.push(x);
            }
            out.push(Word {
                text,
                quoted: true,
                double: c == '"',
            });
        } else {
            let mut text = String::new();
            let mut depth = 0i32;
            while let Some(&x) = chars.peek() {
                if depth <= 0 && x.is_whitespace() {
                    break;
                }
                match x {
                    '{' | '(' => depth += 1,
                    '}' | ')' => depth -= 1,
                    _ => {}
                }
                text.push(x);
                chars.next();
            }
            out.push(Word {
                text,
                quoted: false,
                double: false,
            });
        }
    }
    out
}

/// A token's value: `$env:X` looked up, double-quoted strings expanded.
fn value(t: &Word, env: &Env<'_>) -> String {
    if t.quoted && !t.double {
        return t.text.clone();
    }
    let mut out = String::new();
    let mut rest = t.text.as_str();
    while let Some(i) = rest.to_ascii_lowercase().find("$env:") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 5..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..end];
        let v = if name.eq_ignore_ascii_case("COMPUTERNAME") {
            Some(env.hostname.to_uppercase())
        } else {
            env.env
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        out.push_str(&v.unwrap_or_default());
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Splits a line on `;` outside quotes.
fn split_statements(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, ';') => {
                out.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&line[start..]);
    out
}

/// `Get-Date`'s default format (en-US): `Thursday, January 1, 2026 12:00:05 AM`.
pub fn get_date(unix: u64) -> String {
    const DAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (y, m, d) = crate::time::civil_from_days(days as i64);
    let (h, min, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!(
        "{}, {} {d}, {y} {h12}:{min:02}:{s:02} {ampm}",
        DAYS[(days % 7) as usize],
        MONTHS[(m as usize).saturating_sub(1) % 12]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quotes, doubled quotes of both kinds, and groups kept whole: one tokenizer for
    /// the cmd shell's `powershell -Command` and the remoting pipeline.
    #[test]
    fn words_split_as_powershell_reads_a_statement() {
        let w = |s: &str| -> Vec<(String, bool, bool)> {
            words(s)
                .into_iter()
                .map(|w| (w.text, w.quoted, w.double))
                .collect()
        };
        let bare = |t: &str| (t.to_owned(), false, false);
        let single = |t: &str| (t.to_owned(), true, false);
        let double = |t: &str| (t.to_owned(), true, true);
        assert_eq!(
            w("  Write-Output  'it''s'   \"say \"\"hi\"\"\"  x "),
            [
                bare("Write-Output"),
                single("it's"),
                double("say \"hi\""),
                bare("x")
            ]
        );
        assert_eq!(
            w("Where-Object { $_.Status -eq 'Running' } -First (1 + 2)"),
            [
                bare("Where-Object"),
                bare("{ $_.Status -eq 'Running' }"),
                bare("-First"),
                bare("(1 + 2)")
            ]
        );
        assert_eq!(w("a{b {c}} d"), [bare("a{b {c}}"), bare("d")]);
        // A stray closer does not swallow the rest; an unclosed quote or group runs
        // to the end.
        assert_eq!(w("a) b"), [bare("a)"), bare("b")]);
        assert_eq!(w("'open end"), [single("open end")]);
        assert_eq!(w("{open end"), [bare("{open end")]);
        assert_eq!(w(""), []);
        assert_eq!(w("''"), [single("")]);
    }

    fn env() -> Env<'static> {
        Env {
            hostname: "sim",
            env: &[],
            unix_now: 1_767_225_605,
        }
    }

    #[test]
    fn command_lines() {
        let e = encode("Write-Output 'hi'");
        assert_eq!(
            script_of(&format!("-encodedcommand {e}"))
                .unwrap()
                .as_deref(),
            Some("Write-Output 'hi'")
        );
        for flags in [
            "-NoProfile -NonInteractive -EncodedCommand",
            "-ExecutionPolicy Bypass -e",
            "-nop -enc",
            "/ec",
        ] {
            assert_eq!(
                script_of(&format!("{flags} {e}")).unwrap().as_deref(),
                Some("Write-Output 'hi'"),
                "{flags}"
            );
        }
        assert_eq!(
            script_of("-NoProfile -Command Get-Date")
                .unwrap()
                .as_deref(),
            Some("Get-Date")
        );
        assert_eq!(script_of("-NoProfile").unwrap(), None);
        assert!(script_of("-EncodedCommand !!!").is_err());
    }

    #[test]
    fn builtins() {
        let o = run("Write-Output 'a b' \"c\"; echo d", &env());
        assert_eq!(o.stdout, "a b\r\nc\r\nd\r\n");
        assert_eq!(o.exit_code, 0);
        assert_eq!(run("$env:COMPUTERNAME", &env()).stdout, "SIM\r\n");
        assert_eq!(run("hostname", &env()).stdout, "sim\r\n");
        assert_eq!(
            run("Get-Date", &env()).stdout,
            "\r\nThursday, January 1, 2026 12:00:05 AM\r\n\r\n\r\n"
        );
        assert_eq!(run("exit 3", &env()).exit_code, 3);
        let o = run("echo ok\nGet-Nothing -x", &env());
        assert_eq!(o.stdout, "ok\r\n");
        assert_eq!(o.exit_code, 1);
        assert!(o.stderr.starts_with("#< CLIXML\r\n<Objs"), "{}", o.stderr);
        assert!(
            o.stderr.contains(
                "<S S=\"Error\">Get-Nothing : The term 'Get-Nothing' is not recognized as the name of a cmdlet"
            ),
            "{}",
            o.stderr
        );
        assert!(
            o.stderr.contains("At line:2 char:1_x000D__x000A_"),
            "{}",
            o.stderr
        );
    }

    #[test]
    fn dates() {
        assert_eq!(get_date(0), "Thursday, January 1, 1970 12:00:00 AM");
        assert_eq!(
            get_date(951_782_400 + 13 * 3600 + 61),
            "Tuesday, February 29, 2000 1:01:01 PM"
        );
    }
}
