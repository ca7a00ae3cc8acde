//! Text that goes into a report: the one place where XML 1.0 character rules are
//! enforced for the JUnit and HTML writers ([`XmlText`]), and the bounds on transcripts
//! that keep every report small whatever the target sent ([`bounded`]).

use std::borrow::Cow;

use super::{CaseResult, Report, WireLeg};

/// Bytes kept from the start of one request or response (and of a message).
pub const LEG_HEAD: usize = 16 * 1024;
/// Bytes kept from the end of one request or response (and of a message).
pub const LEG_TAIL: usize = 16 * 1024;
/// Transcript bytes kept per case; legs past it are cut whole.
pub const CASE_TRANSCRIPT: usize = 256 * 1024;
/// Transcript bytes kept per report; legs past it are cut whole.
pub const REPORT_TRANSCRIPT: usize = 16 * 1024 * 1024;

/// Whether a report may not carry `c` as it is: characters outside XML 1.0's `Char`
/// production (C0 controls but tab, LF and CR; U+FFFE, U+FFFF) and those XML 1.0 and
/// HTML discourage (DEL and the C1 controls, noncharacters). Surrogates cannot occur in
/// a Rust string.
pub fn is_forbidden(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{8}'
            | '\u{B}'
            | '\u{C}'
            | '\u{E}'..='\u{1F}'
            | '\u{7F}'..='\u{9F}'
            | '\u{FDD0}'..='\u{FDEF}'
    ) || (c as u32) & 0xFFFE == 0xFFFE
}

/// The visible stand-in for a replaced character: `\u{FFFF}`.
pub fn escaped(c: char) -> String {
    format!("\\u{{{:X}}}", c as u32)
}

/// Makes strings safe for an XML 1.0 (or HTML) document and counts what it replaced.
///
/// Every forbidden character ([`is_forbidden`]) becomes its [`escaped`] text. For
/// JUnit, whose writer (quick-junit) silently drops tab and CR, CRLF becomes LF (as
/// any XML parser would read it) and a tab or lone CR is escaped too, so that nothing
/// vanishes unsaid.
#[derive(Debug, Clone, Default)]
pub struct XmlText {
    junit: bool,
    replaced: usize,
}

impl XmlText {
    /// For the HTML writer (and for XML text written by a writer that keeps whitespace).
    pub fn html() -> XmlText {
        XmlText::default()
    }

    /// For the JUnit writer.
    pub fn junit() -> XmlText {
        XmlText {
            junit: true,
            replaced: 0,
        }
    }

    /// Characters replaced so far.
    pub fn replaced(&self) -> usize {
        self.replaced
    }

    fn replaces(&self, c: char) -> bool {
        is_forbidden(c) || (self.junit && matches!(c, '\t' | '\r'))
    }

    /// `s` with its forbidden characters replaced.
    pub fn clean<'a>(&mut self, s: &'a str) -> Cow<'a, str> {
        if !s.chars().any(|c| self.replaces(c)) {
            return Cow::Borrowed(s);
        }
        let mut out = String::with_capacity(s.len() + 16);
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if self.junit && c == '\r' && chars.peek() == Some(&'\n') {
                continue;
            }
            if self.replaces(c) {
                self.replaced += 1;
                out.push_str(&escaped(c));
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    }
}

/// What a report says when it replaced characters.
pub fn replaced_note(n: usize) -> String {
    format!(
        "{n} character(s) that XML 1.0 forbids or discourages (or that the JUnit writer \
         would drop: tab, lone CR) were replaced by \\u{{...}} escapes"
    )
}

/// `s` kept whole if short, else its first `head` and last `tail` bytes (on character
/// boundaries) around a line saying how many bytes were cut.
pub fn clip(s: &str, head: usize, tail: usize) -> Cow<'_, str> {
    if s.len() <= head + tail {
        return Cow::Borrowed(s);
    }
    let mut h = head;
    while !s.is_char_boundary(h) {
        h -= 1;
    }
    let mut t = s.len() - tail;
    while !s.is_char_boundary(t) {
        t += 1;
    }
    Cow::Owned(format!(
        "{}\n[... {} bytes cut ...]\n{}",
        &s[..h],
        t - h,
        &s[t..]
    ))
}

/// One leg's text within what is left of the case's budget.
fn budgeted(s: &str, left: &mut usize) -> String {
    let c = clip(s, LEG_HEAD, LEG_TAIL);
    if c.len() <= *left {
        *left -= c.len();
        c.into_owned()
    } else {
        *left = 0;
        format!(
            "[... all {} bytes cut: the transcript passed its bound ({} KiB per case, {} MiB \
             per report) ...]",
            s.len(),
            CASE_TRANSCRIPT / 1024,
            REPORT_TRANSCRIPT / (1024 * 1024)
        )
    }
}

fn clipped(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(|s| clip(s, LEG_HEAD, LEG_TAIL).into_owned())
}

fn bounded_case(r: &CaseResult, report_left: &mut usize) -> CaseResult {
    let mut left = CASE_TRANSCRIPT.min(*report_left);
    let start = left;
    let transcript = r
        .transcript
        .iter()
        .map(|l| WireLeg {
            request: budgeted(&l.request, &mut left),
            response: l.response.as_deref().map(|s| budgeted(s, &mut left)),
            status: l.status,
            error: clipped(&l.error),
        })
        .collect();
    *report_left -= start - left;
    CaseResult {
        id: r.id.clone(),
        name: r.name.clone(),
        title: r.title.clone(),
        clause: r.clause.clone(),
        level: r.level,
        profiles: r.profiles.clone(),
        outcome: r.outcome,
        message: clipped(&r.message),
        expected: clipped(&r.expected),
        got: clipped(&r.got),
        duration_us: r.duration_us,
        transcript,
        waiver: r.waiver.clone(),
        rerun: r.rerun.clone(),
        findings: r.findings.clone(),
        changes: r.changes.clone(),
    }
}

/// The report as every writer renders it: each request and response clipped to its
/// head and tail ([`LEG_HEAD`], [`LEG_TAIL`]), each case's transcript to
/// [`CASE_TRANSCRIPT`] bytes and the report's to [`REPORT_TRANSCRIPT`] (legs past the
/// bound are cut whole), messages clipped like legs; every cut says how many bytes it
/// took. Large texts are never copied whole.
pub fn bounded(report: &Report) -> Report {
    let mut left = REPORT_TRANSCRIPT;
    Report {
        tool: report.tool.clone(),
        target: report.target.clone(),
        product: report.product.clone(),
        discovery: report.discovery.clone(),
        seed: report.seed,
        jobs: report.jobs,
        duration_us: report.duration_us,
        results: report
            .results
            .iter()
            .map(|r| bounded_case(r, &mut left))
            .collect(),
        target_lost: report.target_lost.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_characters_are_escaped_and_counted() {
        let mut x = XmlText::html();
        assert_eq!(x.clean("a\tb\r\nc"), "a\tb\r\nc");
        assert_eq!(x.replaced(), 0);
        assert_eq!(
            x.clean("\u{FFFF}x\u{0}\u{1B}\u{85}\u{FDD0}\u{1FFFE}é"),
            "\\u{FFFF}x\\u{0}\\u{1B}\\u{85}\\u{FDD0}\\u{1FFFE}é"
        );
        assert_eq!(x.replaced(), 6);
        let mut j = XmlText::junit();
        assert_eq!(j.clean("a\tb\r\nc\rd"), "a\\u{9}b\nc\\u{D}d");
        assert_eq!(j.replaced(), 2);
        for c in [
            '\u{D7FF}',
            '\u{E000}',
            '\u{FFFD}',
            '\u{10000}',
            '\u{10FFFD}',
            ' ',
        ] {
            assert!(!is_forbidden(c), "{c:?}");
        }
    }

    #[test]
    fn clip_keeps_head_and_tail_and_says_what_was_cut() {
        assert_eq!(clip("short", 2, 3), "short");
        let s = format!("{}{}{}", "a".repeat(10), "b".repeat(100), "c".repeat(10));
        assert_eq!(
            clip(&s, 10, 10),
            format!(
                "{}\n[... 100 bytes cut ...]\n{}",
                "a".repeat(10),
                "c".repeat(10)
            )
        );
        // Never inside a character.
        let s = "é".repeat(100);
        let c = clip(&s, 11, 11);
        assert_eq!(
            c,
            format!("{0}\n[... 180 bytes cut ...]\n{0}", "é".repeat(5))
        );
    }

    #[test]
    fn a_case_and_a_report_have_a_transcript_budget() {
        let mut r = super::super::sample::report();
        let leg = r.results[1].transcript[0].clone();
        r.results[1].transcript = vec![
            WireLeg {
                response: Some("x".repeat(1024 * 1024)),
                ..leg
            };
            20
        ];
        let b = bounded(&r);
        let legs = &b.results[1].transcript;
        assert_eq!(legs.len(), 20, "every leg is still listed");
        let total: usize = legs
            .iter()
            .map(|l| l.request.len() + l.response.as_ref().map_or(0, String::len))
            .sum();
        assert!(total <= CASE_TRANSCRIPT + 20 * 200, "{total}");
        let last = legs[19].response.as_deref().unwrap();
        assert!(last.contains("all 1048576 bytes cut"), "{last}");
        assert!(
            legs[0]
                .response
                .as_deref()
                .unwrap()
                .contains("bytes cut ...]")
        );
        // Small cases are untouched.
        assert_eq!(b.results[0], r.results[0]);
    }
}
