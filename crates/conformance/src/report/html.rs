//! The HTML report: one self-contained file (inline CSS, no script, no network
//! resources) that a CI user opens to learn what went wrong.
//!
//! From the top: a verdict banner (PASS, FAIL, ERROR or TARGET UNREACHABLE, with the
//! exit code and what it means, big outcome counts, the target and its product, the
//! run's duration); a "Problems" section linking to every failure and error and then to
//! every warning; then the cases, failures and errors first, then warnings, waived
//! cases, skips (with their reasons) and, collapsed, the passes; last the counts per
//! profile and what discovery found. Each case shows its clause (requirement ID, level),
//! expected and got, the rerun command the report carries, and its transcript, where an
//! XML body is shown indented ([`indent_xml`]) above the text exactly as it was
//! exchanged.
//!
//! Transcripts and messages are bounded ([`super::text::bounded`]); characters XML 1.0
//! forbids or discourages are replaced ([`super::text::XmlText`]) and a note under the
//! banner says how many (each distinct text counted once, however often it is shown).

use std::collections::HashSet;
use std::fmt::Write as _;

use quick_xml::events::Event;

use super::text::XmlText;
use super::{CaseResult, Report, WireLeg};
use crate::case::Outcome;

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Bodies longer than this are shown as they came, never indented.
const INDENT_LIMIT: usize = 256 * 1024;

/// `body` indented one element per line (two spaces a level), if it is one XML
/// document; `None` when it is not (or is too large, or has no element), so that the
/// caller shows it as it is. Never fails and never panics.
///
/// Only whitespace changes: every event keeps its exact source text (tags with their
/// attributes and quoting, escaped text, CDATA, comments, processing instructions); text
/// between tags that is all whitespace is dropped, other text is trimmed; an element
/// holding only text stays on one line.
pub fn indent_xml(body: &str) -> Option<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Start,
        End,
        Empty,
        Text,
        Other,
    }
    if body.len() > INDENT_LIMIT || !body.trim_start().starts_with('<') {
        return None;
    }
    let mut reader = quick_xml::Reader::from_str(body);
    let mut events: Vec<(Kind, std::ops::Range<usize>)> = Vec::new();
    let (mut depth, mut roots, mut at) = (0usize, 0usize, 0usize);
    loop {
        let event = reader.read_event().ok()?;
        let end = usize::try_from(reader.buffer_position()).ok()?;
        if end < at || end > body.len() {
            return None;
        }
        let span = at..end;
        at = end;
        let kind = match event {
            Event::Eof => break,
            Event::Start(_) => {
                if depth == 0 {
                    roots += 1;
                }
                depth += 1;
                Kind::Start
            }
            Event::End(_) => {
                depth = depth.checked_sub(1)?;
                Kind::End
            }
            Event::Empty(_) => {
                if depth == 0 {
                    roots += 1;
                }
                Kind::Empty
            }
            Event::Text(_) | Event::GeneralRef(_) | Event::CData(_) => {
                if depth == 0 && !body.get(span.clone())?.trim().is_empty() {
                    return None;
                }
                Kind::Text
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => Kind::Other,
        };
        // Adjacent text, references and CDATA are one run of text.
        match events.last_mut() {
            Some((Kind::Text, last)) if kind == Kind::Text && last.end == span.start => {
                last.end = span.end;
            }
            _ => events.push((kind, span)),
        }
    }
    if depth != 0 || roots != 1 || at != body.len() {
        return None;
    }
    let text = |i: usize| body.get(events[i].1.clone()).unwrap_or_default();
    let mut out = String::with_capacity(body.len() + body.len() / 4);
    let mut level = 0usize;
    let line = |out: &mut String, level: usize, s: &str| {
        if !out.is_empty() {
            out.push('\n');
        }
        for _ in 0..level {
            out.push_str("  ");
        }
        out.push_str(s);
    };
    let mut i = 0;
    while i < events.len() {
        let kind = events[i].0;
        match kind {
            Kind::Start => {
                let next = events.get(i + 1).map(|e| e.0);
                let after = events.get(i + 2).map(|e| e.0);
                if next == Some(Kind::End) {
                    line(&mut out, level, &format!("{}{}", text(i), text(i + 1)));
                    i += 1;
                } else if next == Some(Kind::Text) && after == Some(Kind::End) {
                    let inline = format!("{}{}{}", text(i), text(i + 1), text(i + 2));
                    line(&mut out, level, &inline);
                    i += 2;
                } else {
                    line(&mut out, level, text(i));
                    level += 1;
                }
            }
            Kind::End => {
                level = level.saturating_sub(1);
                line(&mut out, level, text(i));
            }
            Kind::Text => {
                let t = text(i).trim();
                if !t.is_empty() {
                    line(&mut out, level, t);
                }
            }
            Kind::Empty | Kind::Other => line(&mut out, level, text(i).trim()),
        }
        i += 1;
    }
    Some(out)
}

/// Replaces the characters a report may not carry, counting each distinct text once
/// however often the page shows it.
#[derive(Default)]
struct Cleaner {
    replaced: usize,
    counted: HashSet<String>,
}

impl Cleaner {
    fn clean(&mut self, s: &str) -> String {
        let mut x = XmlText::html();
        let cleaned = x.clean(s).into_owned();
        if x.replaced() > 0 && self.counted.insert(s.to_owned()) {
            self.replaced += x.replaced();
        }
        cleaned
    }

    /// Cleaned and escaped for HTML.
    fn html(&mut self, s: &str) -> String {
        escape(&self.clean(s))
    }
}

/// Where a case goes in the report, in page order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    /// An unwaived MUST failure (the case's or a rule's).
    Fail,
    /// An unwaived harness error.
    Error,
    /// An unwaived SHOULD miss (the case's or a rule's).
    Warn,
    /// A failure, warning or error a waiver excuses, or a stale waiver.
    Waived,
    Skip,
    Pass,
}

fn group(r: &CaseResult) -> Group {
    let unwaived = r.waiver.is_none();
    let finding = |o: Outcome| {
        r.findings
            .iter()
            .any(|f| f.waiver.is_none() && f.outcome == o)
    };
    if (unwaived && r.outcome == Outcome::Fail) || finding(Outcome::Fail) {
        Group::Fail
    } else if unwaived && r.outcome == Outcome::Error {
        Group::Error
    } else if (unwaived && r.outcome == Outcome::Warn) || finding(Outcome::Warn) {
        Group::Warn
    } else if r.waiver.is_some() || r.findings.iter().any(|f| f.waiver.is_some()) {
        Group::Waived
    } else if r.outcome == Outcome::Skip {
        Group::Skip
    } else {
        Group::Pass
    }
}

/// The case indices of `report` in page order: failures, errors, warnings, waived,
/// skips, passes; suite order within each group.
fn page_order(report: &Report) -> Vec<(Group, usize)> {
    let mut order: Vec<(Group, usize)> = report
        .results
        .iter()
        .enumerate()
        .map(|(i, r)| (group(r), i))
        .collect();
    order.sort();
    order
}

/// The verdict: its word, its CSS class and what the exit code means.
fn verdict(report: &Report) -> (&'static str, &'static str, u8, String) {
    // A run that never started (`run::not_run`): every case an error saying why.
    let not_run = !report.results.is_empty()
        && report.results.iter().all(|r| {
            r.outcome == Outcome::Error
                && r.transcript.is_empty()
                && r.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("not run: "))
        });
    if let Some(lost) = &report.target_lost {
        return (
            "TARGET UNREACHABLE",
            "lost",
            3,
            format!("the target stopped answering during the run: {lost}"),
        );
    }
    if not_run {
        let why = report.results[0].message.as_deref().unwrap_or_default();
        let why = why.trim_start_matches("not run: ");
        return if why.contains("unreachable") || why.contains("does not answer") {
            (
                "TARGET UNREACHABLE",
                "lost",
                3,
                format!("no case was run: {why}"),
            )
        } else {
            ("ERROR", "error", 2, format!("no case was run: {why}"))
        };
    }
    match report.exit_code() {
        0 => (
            "PASS",
            "pass",
            0,
            "every required (MUST) case passed".to_owned(),
        ),
        1 => (
            "FAIL",
            "fail",
            1,
            "a required (MUST) case failed or a MUST rule was broken".to_owned(),
        ),
        2 => (
            "ERROR",
            "error",
            2,
            "a case could not be run (harness or target error); no MUST case failed".to_owned(),
        ),
        code => (
            "TARGET UNREACHABLE",
            "lost",
            code,
            "the target stopped answering".to_owned(),
        ),
    }
}

/// The fragment ID of each case (`c-` and its ID, made unique).
fn anchors(report: &Report) -> Vec<String> {
    let mut seen = HashSet::new();
    report
        .results
        .iter()
        .map(|r| {
            let base: String = std::iter::once('c')
                .chain(std::iter::once('-'))
                .chain(r.id.chars().map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                        c
                    } else {
                        '_'
                    }
                }))
                .collect();
            let mut id = base.clone();
            let mut n = 2;
            while !seen.insert(id.clone()) {
                id = format!("{base}-{n}");
                n += 1;
            }
            id
        })
        .collect()
}

/// The first line of `s`, at most `max` characters (an ellipsis says when cut).
fn short(s: &str, max: usize) -> String {
    let first = s.lines().next().unwrap_or_default();
    let mut out: String = first.chars().take(max).collect();
    if out.len() < s.trim_end().len() {
        out.push_str(" …");
    }
    out
}

pub(crate) const STYLE: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1f2328;background:#fff}\
main{padding:0 1.5em 2em}\
h2{margin:1.4em 0 .5em;font-size:1.25em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}\
code,pre{font:12.5px/1.4 ui-monospace,'SFMono-Regular',Menlo,Consolas,monospace}\
pre{background:#f6f8fa;border:1px solid #d8dee4;border-radius:4px;padding:.5em .7em;margin:.3em 0;\
overflow:auto;max-height:36em;white-space:pre-wrap;overflow-wrap:anywhere}\
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #d0d7de;padding:.2em .6em;text-align:left;vertical-align:top}\
th{background:#f6f8fa}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
.muted{color:#656d76}.zero{color:#8c959f}\
.banner{padding:1em 1.5em 1.1em;border-bottom:4px solid;color:#1f2328}\
.banner.pass{background:#dafbe1;border-color:#1a7f37}.banner.fail{background:#ffebe9;border-color:#cf222e}\
.banner.error{background:#fbefff;border-color:#8250df}.banner.lost{background:#fff1e5;border-color:#bc4c00}\
.verdict{font-size:2.2em;font-weight:800;letter-spacing:.02em;margin:0}\
.banner.pass .verdict{color:#1a7f37}.banner.fail .verdict{color:#cf222e}.banner.error .verdict{color:#8250df}.banner.lost .verdict{color:#bc4c00}\
.exit{font-size:1.1em;margin:.1em 0 .6em}.meta{margin:.6em 0 0}\
.counts{display:flex;flex-wrap:wrap;gap:.6em;margin:.4em 0}\
.count{display:block;min-width:5.5em;padding:.35em .8em;border-radius:6px;background:#fff;border:2px solid #d0d7de;text-decoration:none;color:inherit}\
.count b{display:block;font-size:2em;line-height:1.1}.count span{font-size:.95em;text-transform:uppercase;letter-spacing:.05em}\
.count.fail{border-color:#cf222e}.count.fail b{color:#cf222e}.count.error{border-color:#8250df}.count.error b{color:#8250df}\
.count.warn{border-color:#bf8700}.count.warn b{color:#9a6700}.count.skip b{color:#57606a}.count.pass{border-color:#1a7f37}.count.pass b{color:#1a7f37}\
.count.zero{border-color:#d0d7de;opacity:.6}.count.zero b{color:#8c959f}\
.badge{display:inline-block;min-width:3.6em;text-align:center;font-size:.78em;font-weight:700;padding:.05em .4em;border-radius:3px;color:#fff;text-transform:uppercase;vertical-align:1px}\
.badge.pass{background:#1a7f37}.badge.fail{background:#cf222e}.badge.error{background:#8250df}.badge.warn{background:#9a6700}.badge.skip{background:#6e7781}.badge.waived{background:#57606a}\
.problems li{margin:.25em 0}.problems a{font-weight:600}\
.case{border:1px solid #d0d7de;border-left:5px solid #8c959f;border-radius:4px;padding:.5em .9em;margin:.7em 0}\
.case.fail{border-left-color:#cf222e}.case.error{border-left-color:#8250df}.case.warn{border-left-color:#bf8700}\
.case.pass{border-left-color:#1a7f37;padding:.25em .9em;margin:.35em 0}.case.skip{padding:.25em .9em;margin:.35em 0}\
.case:target{box-shadow:0 0 0 3px #0969da66}\
.case h3{font-size:1em;margin:.1em 0 .3em}.case h3 code{font-size:1.05em}\
.clause{margin:.2em 0}.msg{margin:.3em 0;font-weight:600}\
.eg{display:grid;grid-template-columns:5.5em 1fr;gap:.1em .6em;align-items:start}.eg>b{padding-top:.5em}\
.rerun pre{background:#eef1f4}\
.leg{margin:.3em 0}.leg .dir{font-weight:600;color:#57606a;font-size:.9em;margin-top:.4em}\
details>summary{cursor:pointer}details.raw{margin:0 0 .4em}details.raw>summary{font-size:.85em;color:#656d76}\
details.passes>summary{font-size:1.25em;font-weight:600;margin:1.4em 0 .5em}\
";

/// The report as one HTML document.
pub fn to_string(report: &Report) -> String {
    let report = &super::text::bounded(report);
    let mut c = Cleaner::default();
    let order = page_order(report);
    let anchors = anchors(report);
    let counts = report.counts();

    // The body first: its text decides how many characters the note says were replaced.
    let mut body = String::new();
    problems_section(&mut body, report, &order, &anchors, &mut c);
    let groups: [(Group, &str, &str); 5] = [
        (Group::Fail, "g-fail", "Failures"),
        (Group::Error, "g-error", "Errors"),
        (Group::Warn, "g-warn", "Warnings"),
        (Group::Waived, "g-waived", "Waived"),
        (Group::Skip, "g-skip", "Skipped"),
    ];
    for (g, id, title) in groups {
        let members: Vec<usize> = order
            .iter()
            .filter(|(og, _)| *og == g)
            .map(|(_, i)| *i)
            .collect();
        if members.is_empty() {
            continue;
        }
        let _ = write!(body, "<h2 id=\"{id}\">{title} ({})</h2>", members.len());
        for i in members {
            case_card(&mut body, &report.results[i], g, &anchors[i], &mut c);
        }
    }
    let passes: Vec<usize> = order
        .iter()
        .filter(|(g, _)| *g == Group::Pass)
        .map(|(_, i)| *i)
        .collect();
    if !passes.is_empty() {
        let _ = write!(
            body,
            "<details class=\"passes\" id=\"g-pass\"><summary>Passed ({}) \
             <span class=\"muted\">(click to show)</span></summary>",
            passes.len()
        );
        for i in passes {
            case_card(
                &mut body,
                &report.results[i],
                Group::Pass,
                &anchors[i],
                &mut c,
            );
        }
        body.push_str("</details>");
    }
    // The counts per profile and what discovery found: context, after the cases.
    summary_section(&mut body, report, &mut c);

    let (word, class, code, meaning) = verdict(report);
    let mut h = String::with_capacity(body.len() + 8192);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Touchstone conformance report</title><style>{STYLE}</style></head><body>\
         <header class=\"banner {class}\" id=\"verdict\"><p class=\"verdict\">{word}</p>\
         <p class=\"exit\"><b>exit code {code}</b>: {}</p><div class=\"counts\">",
        c.html(&meaning)
    );
    for o in [
        Outcome::Fail,
        Outcome::Error,
        Outcome::Warn,
        Outcome::Skip,
        Outcome::Pass,
    ] {
        let n = counts.get(&o).copied().unwrap_or(0);
        let target = match o {
            Outcome::Fail => "g-fail",
            Outcome::Error => "g-error",
            Outcome::Warn => "g-warn",
            Outcome::Skip => "g-skip",
            Outcome::Pass => "g-pass",
        };
        let has_target = order.iter().any(|(g, _)| {
            matches!(
                (o, g),
                (Outcome::Fail, Group::Fail)
                    | (Outcome::Error, Group::Error)
                    | (Outcome::Warn, Group::Warn)
                    | (Outcome::Skip, Group::Skip)
                    | (Outcome::Pass, Group::Pass)
            )
        });
        let (open, close) = if n > 0 && has_target {
            (format!("<a href=\"#{target}\""), "</a>")
        } else {
            ("<div".to_owned(), "</div>")
        };
        let _ = write!(
            h,
            "{open} class=\"count {o}{zero}\" id=\"count-{o}\"><b>{n}</b><span>{o}</span>{close}",
            o = o.as_str(),
            zero = if n == 0 { " zero" } else { "" },
        );
    }
    h.push_str("</div>");
    let waived = report
        .results
        .iter()
        .filter(|r| r.waiver.is_some() && r.outcome != Outcome::Pass)
        .count();
    let (must_findings, should_findings) = report.finding_counts();
    let mut extra = Vec::new();
    if waived > 0 {
        extra.push(format!("{waived} waived"));
    }
    if must_findings + should_findings > 0 {
        extra.push(format!(
            "{} ({must_findings} MUST, {should_findings} SHOULD)",
            plural(
                must_findings + should_findings,
                "rule finding",
                "rule findings"
            )
        ));
    }
    let stale = report.stale_waivers().len();
    if stale > 0 {
        extra.push(plural(stale, "stale waiver", "stale waivers"));
    }
    let _ = write!(
        h,
        "<p class=\"meta\">{total} cases{extra} &middot; target <code>{target}</code>{product} \
         &middot; {dur} &middot; {tool} &middot; seed {seed} &middot; {jobs} jobs</p>",
        total = report.results.len(),
        extra = extra
            .iter()
            .map(|e| format!(" &middot; {e}"))
            .collect::<String>(),
        target = c.html(&report.target),
        product = report
            .product
            .as_ref()
            .map(|p| format!(" ({})", c.html(p)))
            .unwrap_or_else(|| " (product unknown: Identify did not answer)".to_owned()),
        dur = duration(report.duration_us),
        tool = c.html(&report.tool),
        seed = report.seed,
        jobs = report.jobs,
    );
    if let Some(lost) = &report.target_lost {
        let _ = write!(
            h,
            "<p class=\"error\" id=\"target-lost\"><b>Target lost:</b> {}</p>",
            c.html(lost)
        );
    }
    h.push_str("</header><main>");
    let mut tail = String::from("</main></body></html>\n");
    // Whatever the helpers missed (nothing, if every text went through `c`).
    let mut x = XmlText::html();
    let body = x.clean(&body).into_owned();
    tail = x.clean(&tail).into_owned();
    let header = x.clean(&h).into_owned();
    let replaced = c.replaced + x.replaced();
    let mut h = header;
    if replaced > 0 {
        let _ = write!(
            h,
            "<p class=\"muted\" id=\"replaced\">{}</p>",
            escape(&super::text::replaced_note(replaced))
        );
    }
    h.push_str(&body);
    h.push_str(&tail);
    h
}

/// `n` and the noun, singular or plural.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn duration(us: u64) -> String {
    let s = us as f64 / 1e6;
    if s >= 60.0 {
        format!("{}m {:.1}s", (s / 60.0).floor(), s % 60.0)
    } else {
        format!("{s:.2} s")
    }
}

fn problems_section(
    h: &mut String,
    report: &Report,
    order: &[(Group, usize)],
    anchors: &[String],
    c: &mut Cleaner,
) {
    h.push_str("<h2 id=\"problems\">Problems</h2>");
    let list = |h: &mut String, c: &mut Cleaner, groups: &[Group]| {
        h.push_str("<ol class=\"problems\">");
        for (g, i) in order.iter().filter(|(g, _)| groups.contains(g)) {
            let r = &report.results[*i];
            let (badge, why) = problem_line(r, *g);
            let _ = write!(
                h,
                "<li><span class=\"badge {badge}\">{badge}</span> <a href=\"#{a}\"><code>{id}</code></a> \
                 <span class=\"muted\">{lvl}</span> {title}<br><span class=\"muted\">{why}</span></li>",
                a = anchors[*i],
                id = c.html(&r.id),
                lvl = r.level.as_str(),
                title = c.html(&r.title),
                why = c.html(&short(&why, 240)),
            );
        }
        h.push_str("</ol>");
    };
    let count = |groups: &[Group]| order.iter().filter(|(g, _)| groups.contains(g)).count();
    let problems = count(&[Group::Fail, Group::Error]);
    let warnings = count(&[Group::Warn]);
    if problems == 0 && warnings == 0 {
        h.push_str("<p id=\"no-problems\">No failures, errors or warnings.</p>");
    }
    if problems > 0 {
        let _ = write!(
            h,
            "<p><b>{}</b>, each linked to its details below:</p>",
            plural(problems, "failure or error", "failures and errors")
        );
        list(h, c, &[Group::Fail, Group::Error]);
    }
    if warnings > 0 {
        let _ = write!(
            h,
            "<p><b>{}</b> (SHOULD):</p>",
            plural(warnings, "warning", "warnings")
        );
        list(h, c, &[Group::Warn]);
    }
    let stale = report.stale_waivers();
    if !stale.is_empty() {
        h.push_str("<p>Stale waivers (the case passes; the waiver can go):</p><ul>");
        for r in stale {
            let i = report
                .results
                .iter()
                .position(|x| std::ptr::eq(x, r))
                .unwrap_or(0);
            let _ = write!(
                h,
                "<li><a href=\"#{}\"><code>{}</code></a></li>",
                anchors[i],
                c.html(&r.id)
            );
        }
        h.push_str("</ul>");
    }
}

/// The badge and one-line reason a case is listed in the problems.
fn problem_line(r: &CaseResult, g: Group) -> (&'static str, String) {
    let badge = match g {
        Group::Fail => "fail",
        Group::Error => "error",
        _ => "warn",
    };
    let wanted = if g == Group::Fail {
        Outcome::Fail
    } else {
        Outcome::Warn
    };
    let own = r.waiver.is_none() && r.outcome == badge_outcome(badge);
    let why = if own {
        r.message.clone().unwrap_or_default()
    } else {
        r.findings
            .iter()
            .find(|f| f.waiver.is_none() && f.outcome == wanted)
            .map(|f| format!("rule {} broken: {}", f.rule, f.message))
            .unwrap_or_default()
    };
    (badge, why)
}

fn badge_outcome(badge: &str) -> Outcome {
    match badge {
        "fail" => Outcome::Fail,
        "error" => Outcome::Error,
        _ => Outcome::Warn,
    }
}

fn summary_section(h: &mut String, report: &Report, c: &mut Cleaner) {
    let counts = report.counts();
    h.push_str("<h2 id=\"summary\">Counts by profile</h2><table><tr><th>profile</th>");
    for o in Outcome::ALL {
        let _ = write!(h, "<th>{}</th>", o.as_str());
    }
    h.push_str("</tr>");
    let cell = |n: usize| {
        if n == 0 {
            "<td class=\"n zero\">0</td>".to_owned()
        } else {
            format!("<td class=\"n\">{n}</td>")
        }
    };
    for (p, m) in report.by_profile() {
        let _ = write!(h, "<tr><td>{}</td>", c.html(&p));
        for o in Outcome::ALL {
            h.push_str(&cell(m.get(&o).copied().unwrap_or(0)));
        }
        h.push_str("</tr>");
    }
    h.push_str("<tr><th>all cases</th>");
    for o in Outcome::ALL {
        let _ = write!(
            h,
            "<th class=\"n\">{}</th>",
            counts.get(&o).copied().unwrap_or(0)
        );
    }
    h.push_str("</tr></table>");
    if !report.discovery.is_empty() {
        h.push_str(
            "<h2 id=\"discovery\">Discovery</h2><p class=\"muted\">What the target offered \
             before the cases ran; cases that need what it lacks are skipped with the \
             reason.</p><table><tr><th>asked</th><th>offered</th><th>answer</th></tr>",
        );
        for d in &report.discovery {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                c.html(&d.what),
                if d.offered { "yes" } else { "<b>no</b>" },
                c.html(&d.detail)
            );
        }
        h.push_str("</table>");
    }
}

fn case_card(h: &mut String, r: &CaseResult, g: Group, anchor: &str, c: &mut Cleaner) {
    let class = match g {
        Group::Fail => "fail",
        Group::Error => "error",
        Group::Warn => "warn",
        Group::Waived => "waived",
        Group::Skip => "skip",
        Group::Pass => "pass",
    };
    let problem = matches!(g, Group::Fail | Group::Error | Group::Warn | Group::Waived);
    let _ = write!(
        h,
        "<div class=\"case {class}\" id=\"{anchor}\" data-outcome=\"{o}\" data-profiles=\"{p}\">\
         <h3><span class=\"badge {o}\">{o}</span> <code>{id}</code> \
         <span class=\"muted\">{lvl} &middot; {ms:.1} ms &middot; {profiles}</span><br>{title}</h3>",
        o = r.outcome.as_str(),
        p = c.html(&r.profiles.join(" ")),
        id = c.html(&r.id),
        lvl = r.level.as_str(),
        ms = r.duration_us as f64 / 1e3,
        profiles = c.html(&r.profiles.join(", ")),
        title = c.html(&r.title),
    );
    let cl = &r.clause;
    let _ = write!(
        h,
        "<p class=\"clause\"><b>{spec}</b> &middot; {section}{rid} &middot; {lvl}{kw}{unverified}<br>\
         <span class=\"muted\">{req}</span></p>",
        spec = c.html(&cl.spec),
        section = c.html(&cl.section),
        rid = cl
            .id
            .as_ref()
            .map(|i| format!(" &middot; requirement <b>{}</b>", c.html(i)))
            .unwrap_or_default(),
        lvl = r.level.as_str(),
        kw = cl
            .keyword
            .as_ref()
            .map(|k| format!(" (&ldquo;{}&rdquo;)", c.html(k)))
            .unwrap_or_default(),
        unverified = if cl.verified == Some(false) {
            " <span class=\"muted\">(identifier not yet read against the wording)</span>"
        } else {
            ""
        },
        req = c.html(&cl.requirement),
    );
    if let Some(w) = &r.waiver {
        let _ = write!(
            h,
            "<p><span class=\"badge waived\">waived</span> {}{} <span class=\"muted\">({})</span></p>",
            c.html(&w.reason),
            if w.stale {
                " &mdash; <b>stale: the case passes</b>"
            } else {
                ""
            },
            c.html(&w.pattern)
        );
    }
    if let Some(m) = &r.message {
        let label = if r.outcome == Outcome::Skip {
            "skipped: "
        } else {
            ""
        };
        let _ = write!(h, "<p class=\"msg\">{label}{}</p>", c.html(m));
    }
    if r.expected.is_some() || r.got.is_some() {
        h.push_str("<div class=\"eg\">");
        for (what, v) in [("expected", &r.expected), ("got", &r.got)] {
            if let Some(v) = v {
                let _ = write!(h, "<b>{what}</b><pre>{}</pre>", c.html(v));
            }
        }
        h.push_str("</div>");
    }
    for f in &r.findings {
        let _ = write!(
            h,
            "<p><span class=\"badge {o}\">{o}</span> rule <code>{rule}</code> ({lvl}, {n}): \
             {title}<br>{msg}{waiver}<br><span class=\"muted\">{clause}</span></p>",
            o = f.outcome.as_str(),
            rule = c.html(&f.rule),
            lvl = f.level.as_str(),
            n = plural(f.count, "answer", "answers"),
            title = c.html(&f.title),
            msg = c.html(&f.message),
            waiver = f
                .waiver
                .as_ref()
                .map(|w| format!(
                    " <span class=\"muted\">waived: {}</span>",
                    c.html(&w.reason)
                ))
                .unwrap_or_default(),
            clause = c.html(&f.clause.to_string()),
        );
    }
    for change in &r.changes {
        let _ = write!(
            h,
            "<p class=\"muted\">changed on the target: {}</p>",
            c.html(change)
        );
    }
    if problem {
        let _ = write!(
            h,
            "<div class=\"rerun\"><b>rerun</b><pre>{}</pre></div>",
            c.html(&r.rerun)
        );
    }
    if !r.transcript.is_empty() {
        let open = if matches!(g, Group::Fail | Group::Error) {
            " open"
        } else {
            ""
        };
        let _ = write!(
            h,
            "<details class=\"transcript\"{open}><summary>transcript ({})</summary>",
            plural(r.transcript.len(), "round trip", "round trips")
        );
        if !problem {
            let _ = write!(
                h,
                "<div class=\"rerun\"><b>rerun</b><pre>{}</pre></div>",
                c.html(&r.rerun)
            );
        }
        for (n, leg) in r.transcript.iter().enumerate() {
            transcript_leg(h, n + 1, leg, c);
        }
        h.push_str("</details>");
    } else if !problem {
        let _ = write!(
            h,
            "<p class=\"muted\">rerun: <code>{}</code></p>",
            c.html(&r.rerun)
        );
    }
    h.push_str("</div>");
}

fn transcript_leg(h: &mut String, n: usize, leg: &WireLeg, c: &mut Cleaner) {
    let _ = write!(
        h,
        "<div class=\"leg\"><div class=\"dir\">&rarr; request {n}</div>"
    );
    wire_text(h, &leg.request, c);
    match (&leg.response, &leg.error) {
        (Some(resp), _) => {
            let _ = write!(
                h,
                "<div class=\"dir\">&larr; response {n}{}</div>",
                leg.status
                    .map(|s| format!(" &middot; HTTP {s}"))
                    .unwrap_or_default()
            );
            wire_text(h, resp, c);
        }
        (None, e) => {
            let _ = write!(
                h,
                "<p class=\"error\">&larr; no answer {n}: {}</p>",
                c.html(e.as_deref().unwrap_or("connection closed"))
            );
        }
    }
    h.push_str("</div>");
}

/// One request or response: its head and its body, the body indented when it is XML
/// (and then the text as exchanged under it, collapsed).
fn wire_text(h: &mut String, text: &str, c: &mut Cleaner) {
    let cleaned = c.clean(text);
    let split = cleaned.find("\n\n").map(|i| i + 2);
    let pretty = split.and_then(|at| {
        let body = &cleaned[at..];
        indent_xml(body)
            .filter(|p| p.trim() != body.trim())
            .map(|p| (at, p))
    });
    match pretty {
        Some((at, p)) => {
            let _ = write!(
                h,
                "<pre class=\"wire\">{}{}</pre><details class=\"raw\"><summary>as exchanged \
                 (the XML above is indented for reading)</summary><pre class=\"wire\">{}</pre></details>",
                escape(&cleaned[..at]),
                escape(&p),
                escape(&cleaned)
            );
        }
        None => {
            let _ = write!(h, "<pre class=\"wire\">{}</pre>", escape(&cleaned));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Level;
    use crate::report::sample;
    use proptest::prelude::*;

    /// Every `href="#x"` of `html` and whether an element has `id="x"`.
    fn dangling_links(html: &str) -> Vec<String> {
        html.match_indices("href=\"")
            .map(|(i, m)| {
                let v = &html[i + m.len()..];
                v[..v.find('"').unwrap()].to_owned()
            })
            .filter(|v| !v.starts_with('#') || !html.contains(&format!("id=\"{}\"", &v[1..])))
            .collect()
    }

    /// The case IDs of the case blocks, in page order.
    fn case_order(html: &str) -> Vec<String> {
        html.match_indices("<div class=\"case ")
            .map(|(i, _)| {
                let rest = &html[i..];
                let at = rest.find("<code>").unwrap() + 6;
                rest[at..at + rest[at..].find("</code>").unwrap()].to_owned()
            })
            .collect()
    }

    #[test]
    fn is_self_contained_and_lists_every_case() {
        let r = sample::report();
        let html = to_string(&r);
        for c in &r.results {
            assert!(html.contains(&c.id), "{} missing", c.id);
        }
        assert!(html.contains("&lt;&amp;&gt;"), "titles are escaped");
        // Outside the transcripts, nothing refers to the network.
        let mut outside = String::new();
        for (i, part) in html.split("<pre class=\"wire\">").enumerate() {
            let rest = if i == 0 {
                part
            } else {
                part.split_once("</pre>").unwrap().1
            };
            outside.push_str(rest);
        }
        // The target URL is text, not a resource; nothing else may name a URL.
        let outside = outside.replace(&r.target, "");
        assert!(
            !outside.contains("http://") && !outside.contains("https://"),
            "{outside}"
        );
        for needle in ["src=", "@import", "url(", "<script", "<link"] {
            assert!(!html.contains(needle), "{needle}");
        }
        assert!(
            html.contains("href=\"#"),
            "the problems link to their cases"
        );
        assert_eq!(dangling_links(&html), Vec::<String>::new());
        assert!(!html.contains("target-lost"));
    }

    #[test]
    fn failures_and_errors_come_first_then_warnings_waived_skips_passes() {
        let r = sample::report();
        // Suite order: pass, fail, warn, skip, error, waived (a stale waiver).
        let html = to_string(&r);
        assert_eq!(
            case_order(&html),
            [
                "wsman.core.fail",
                "wsman.core.error",
                "wsman.core.warn",
                "wsman.core.waived",
                "wsman.core.skip",
                "wsman.core.pass"
            ]
        );
        // The verdict comes before everything, the problems before the cases.
        let at = |s: &str| html.find(s).unwrap_or_else(|| panic!("{s} missing"));
        assert!(at("<p class=\"verdict\">FAIL</p>") < at("id=\"problems\""));
        assert!(at("<b>exit code 1</b>: a required (MUST) case failed") < at("id=\"problems\""));
        assert!(at("id=\"problems\"") < at("<div class=\"case "));
        assert!(html.rfind("<div class=\"case ").unwrap() < at("id=\"summary\""));
        // The problems list links fail then error, then the warning, then the stale waiver.
        let problems = &html[at("id=\"problems\"")..at("<div class=\"case ")];
        let links: Vec<&str> = problems
            .match_indices("href=\"#")
            .map(|(i, m)| {
                let v = &problems[i + m.len()..];
                &v[..v.find('"').unwrap()]
            })
            .collect();
        assert_eq!(
            links,
            [
                "c-wsman.core.fail",
                "c-wsman.core.error",
                "c-wsman.core.warn",
                "c-wsman.core.waived"
            ]
        );
        assert!(problems.contains("wsa:Action: expected X, got Y"));
        // The passes are collapsed; failures show their transcript open.
        let passes = at("<details class=\"passes\" id=\"g-pass\">");
        assert!(passes > at("id=\"c-wsman.core.skip\""));
        assert!(
            html[at("id=\"c-wsman.core.fail\"")..].contains("<details class=\"transcript\" open>")
        );
        // Big counts, each linking to its group.
        for (o, n) in [
            ("fail", 1),
            ("error", 1),
            ("warn", 1),
            ("skip", 1),
            ("pass", 2),
        ] {
            assert!(
                html.contains(&format!(
                    "<a href=\"#g-{o}\" class=\"count {o}\" id=\"count-{o}\"><b>{n}</b>"
                )),
                "{o}"
            );
        }
        assert_eq!(dangling_links(&html), Vec::<String>::new());
    }

    #[test]
    fn a_failing_case_shows_clause_expected_got_and_rerun() {
        let mut r = sample::report();
        r.results[1].clause.id = Some("R5.4-2".into());
        r.results[1].clause.keyword = Some("shall".into());
        r.results[1].rerun =
            "touchstone check --target http://h/wsman --filter 'wsman.core.fail'".into();
        let html = to_string(&r);
        let card = &html[html.find("id=\"c-wsman.core.fail\"").unwrap()..];
        let card = &card[..card.find("<div class=\"case ").unwrap()];
        for needle in [
            "<b>DSP0226 1.3</b> &middot; 5.4 Addressing &middot; requirement <b>R5.4-2</b> &middot; MUST (&ldquo;shall&rdquo;)",
            "answers carry &quot;RelatesTo&quot; &amp; &lt;more&gt;",
            "<b>expected</b><pre>X</pre><b>got</b><pre>Y</pre>",
            "<div class=\"rerun\"><b>rerun</b><pre>touchstone check --target http://h/wsman --filter &#39;wsman.core.fail&#39;</pre></div>",
            "<p class=\"msg\">wsa:Action: expected X, got Y</p>",
        ] {
            assert!(card.contains(needle), "{needle} not in\n{card}");
        }
    }

    #[test]
    fn the_verdict_follows_the_exit_code() {
        let mut r = sample::report();
        r.results.retain(|c| c.outcome != Outcome::Fail);
        let html = to_string(&r);
        assert!(html.contains("<header class=\"banner error\" id=\"verdict\"><p class=\"verdict\">ERROR</p><p class=\"exit\"><b>exit code 2</b>"));
        r.results.retain(|c| c.outcome != Outcome::Error);
        let html = to_string(&r);
        assert!(html.contains("<p class=\"verdict\">PASS</p><p class=\"exit\"><b>exit code 0</b>: every required (MUST) case passed"));
        assert!(
            html.contains("<div class=\"count fail zero\" id=\"count-fail\"><b>0</b>"),
            "a zero count links nowhere"
        );
        r.results
            .retain(|c| c.outcome == Outcome::Pass && c.waiver.is_none());
        let html = to_string(&r);
        assert!(html.contains("id=\"no-problems\""));
    }

    #[test]
    fn a_passing_case_that_broke_a_must_rule_is_a_failure() {
        let mut r = sample::report();
        r.results
            .retain(|c| c.outcome == Outcome::Pass && c.waiver.is_none());
        let rule = crate::rules::FAULT_NOT_2XX;
        r.results[0].findings.push(crate::rules::RuleFinding {
            rule: rule.id.into(),
            title: rule.title.into(),
            clause: rule.clause(),
            level: Level::Must,
            outcome: Outcome::Fail,
            message: "a fault came with 200".into(),
            count: 2,
            waiver: None,
        });
        let html = to_string(&r);
        assert!(html.contains("<p class=\"verdict\">FAIL</p>"));
        let problems =
            &html[html.find("id=\"problems\"").unwrap()..html.find("<div class=\"case ").unwrap()];
        assert!(
            problems.contains("href=\"#c-wsman.core.pass\""),
            "{problems}"
        );
        assert!(problems.contains(&format!("rule {} broken: a fault came with 200", rule.id)));
        assert!(
            html.find("id=\"g-fail\"").unwrap() < html.find("id=\"c-wsman.core.pass\"").unwrap()
        );
    }

    #[test]
    fn a_lost_target_is_said_in_the_banner() {
        let mut r = sample::report();
        r.target_lost = Some("the target stopped answering after case a <&>".into());
        let html = to_string(&r);
        let banner = html
            .find("<p class=\"error\" id=\"target-lost\"><b>Target lost:</b> the target stopped answering after case a &lt;&amp;&gt;</p>")
            .expect("the banner");
        assert!(html.contains(
            "<p class=\"verdict\">TARGET UNREACHABLE</p><p class=\"exit\"><b>exit code 3</b>"
        ));
        assert!(banner < html.find("id=\"summary\"").unwrap());
    }

    #[test]
    fn a_run_that_never_started_says_why() {
        let mut r = sample::report();
        for c in &mut r.results {
            c.outcome = Outcome::Error;
            c.transcript.clear();
            c.waiver = None;
            c.message =
                Some("not run: target http://127.0.0.1:1/wsman is unreachable: refused".into());
        }
        let html = to_string(&r);
        assert!(html.contains("<p class=\"verdict\">TARGET UNREACHABLE</p><p class=\"exit\"><b>exit code 3</b>: no case was run: target http://127.0.0.1:1/wsman is unreachable: refused"), "{html}");
    }

    #[test]
    fn xml_bodies_are_indented_and_kept_as_exchanged() {
        let mut r = sample::report();
        let body = "<s:Envelope xmlns:s=\"urn:s\"><s:Header><a:Action>urn:x&amp;y</a:Action><a:To/></s:Header><s:Body><![CDATA[<raw>]]></s:Body></s:Envelope>";
        r.results[1].transcript[0].response = Some(format!(
            "HTTP/1.1 200 OK\nContent-Type: application/soap+xml\n\n{body}"
        ));
        let html = to_string(&r);
        let indented = "HTTP/1.1 200 OK\nContent-Type: application/soap+xml\n\n&lt;s:Envelope xmlns:s=&quot;urn:s&quot;&gt;\n  &lt;s:Header&gt;\n    &lt;a:Action&gt;urn:x&amp;amp;y&lt;/a:Action&gt;\n    &lt;a:To/&gt;\n  &lt;/s:Header&gt;\n  &lt;s:Body&gt;&lt;![CDATA[&lt;raw&gt;]]&gt;&lt;/s:Body&gt;\n&lt;/s:Envelope&gt;</pre>";
        assert!(html.contains(indented), "{html}");
        assert!(
            html.contains(&escape(body)),
            "the text as exchanged is kept"
        );
        // The sample's `<x>]]></x>` response is XML too; its request an empty element.
        assert!(
            html.contains("<pre class=\"wire\">HTTP/1.1 200 OK\n\n&lt;x&gt;]]&gt;&lt;/x&gt;</pre>")
        );
    }

    #[test]
    fn indenting_leaves_what_is_not_one_xml_document() {
        for s in [
            "",
            "plain text",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "x<a/>",
            "<a/>x",
            "<a>\n[... 100 bytes cut ...]\n</a></a>",
            "</a>",
            "<a b=\"1></a>",
            "<!-- c -->",
        ] {
            assert_eq!(indent_xml(s), None, "{s:?}");
        }
        assert_eq!(
            indent_xml("<?xml version=\"1.0\"?><a><!-- c --><b>t</b><c>x<d/>y</c></a>\n")
                .as_deref(),
            Some(
                "<?xml version=\"1.0\"?>\n<a>\n  <!-- c -->\n  <b>t</b>\n  <c>\n    x\n    <d/>\n    y\n  </c>\n</a>"
            )
        );
    }

    #[test]
    fn each_replaced_character_is_counted_once() {
        let mut r = sample::report();
        r.results.truncate(2);
        let m = "bad \u{1} char".to_owned();
        r.results[1].message = Some(m.clone());
        r.results[1].got = Some(m);
        let html = to_string(&r);
        assert!(
            html.contains(&escape(&crate::report::text::replaced_note(1))),
            "{html}"
        );
        assert!(html.contains("bad \\u{1} char"));
    }

    proptest! {
        /// Indenting changes only whitespace, and never panics.
        #[test]
        fn indenting_changes_only_whitespace(
            s in prop::collection::vec(prop::sample::select(vec![
                "<a>", "</a>", "<b x=\"1\">", "</b>", "<c/>", " ", "\n", "t", "&amp;", "&", "<",
                ">", "<![CDATA[ x ]]>", "<!-- -->", "<?p?>", "\u{e9}",
            ]), 0..24)
        ) {
            let s: String = s.concat();
            if let Some(p) = indent_xml(&s) {
                let squeeze = |t: &str| t.chars().filter(|c| !c.is_whitespace()).collect::<String>();
                prop_assert_eq!(squeeze(&p), squeeze(&s));
            }
        }
    }
}
