//! The HTML report: one self-contained file (inline CSS and a few lines of inline
//! JavaScript, no network resources) with the summary, a filter by outcome and
//! profile, and each case's transcript in a collapsible block. Transcripts and
//! messages are bounded ([`super::text::bounded`]); characters XML 1.0 forbids or
//! discourages are replaced ([`super::text::XmlText`], over the whole document) and a
//! note at the top says how many.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::Report;
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

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}\
.pass{color:#176f2c}.fail{color:#b00020;font-weight:bold}.warn{color:#a05a00}.skip{color:#666}.error{color:#6a1b9a;font-weight:bold}\
pre{background:#f6f6f6;padding:.5em;overflow:auto;max-height:30em;white-space:pre-wrap}\
code{font-size:90%}.muted{color:#666}";

const SCRIPT: &str = "function f(){var o=document.getElementById('fo').value,p=document.getElementById('fp').value;\
document.querySelectorAll('tr.case').forEach(function(r){var ok=(!o||r.dataset.outcome==o)&&(!p||r.dataset.profiles.split(' ').indexOf(p)>=0);\
r.style.display=ok?'':'none';var d=document.getElementById(r.id+'-d');if(d)d.style.display=ok?'':'none';});}";

/// The report as one HTML document.
pub fn to_string(report: &Report) -> String {
    let report = &super::text::bounded(report);
    let mut h = String::new();
    let counts = report.counts();
    let profiles: BTreeSet<&str> = report
        .results
        .iter()
        .flat_map(|r| r.profiles.iter().map(String::as_str))
        .collect();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Touchstone conformance report</title><style>{STYLE}</style></head><body>\
         <h1>Touchstone conformance report</h1><p>Target <code>{}</code>{} &middot; {} &middot; \
         seed {} &middot; {} jobs &middot; {:.2} s</p>",
        escape(&report.target),
        report
            .product
            .as_ref()
            .map(|p| format!(" ({})", escape(p)))
            .unwrap_or_default(),
        escape(&report.tool),
        report.seed,
        report.jobs,
        report.duration_us as f64 / 1e6
    );
    if let Some(lost) = &report.target_lost {
        let _ = write!(
            h,
            "<p class=\"error\" id=\"target-lost\">Target lost: {}</p>",
            escape(lost)
        );
    }
    if !report.discovery.is_empty() {
        h.push_str(
            "<h2>Discovery</h2><p class=\"muted\">What the target offered before the cases \
             ran; cases that need what it lacks are skipped with the reason.</p>\
             <table><tr><th>asked</th><th>offered</th><th>answer</th></tr>",
        );
        for d in &report.discovery {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                escape(&d.what),
                if d.offered { "pass" } else { "skip" },
                if d.offered { "yes" } else { "no" },
                escape(&d.detail)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Summary</h2><table><tr><th>profile</th>");
    for o in Outcome::ALL {
        let _ = write!(h, "<th class=\"{0}\">{0}</th>", o.as_str());
    }
    h.push_str("</tr>");
    for (p, m) in report.by_profile() {
        let _ = write!(h, "<tr><td>{}</td>", escape(&p));
        for o in Outcome::ALL {
            let _ = write!(h, "<td>{}</td>", m.get(&o).copied().unwrap_or(0));
        }
        h.push_str("</tr>");
    }
    h.push_str("<tr><th>all cases</th>");
    for o in Outcome::ALL {
        let _ = write!(h, "<th>{}</th>", counts.get(&o).copied().unwrap_or(0));
    }
    h.push_str("</tr></table>");
    h.push_str("<p>Outcome <select id=\"fo\" onchange=\"f()\"><option value=\"\">all</option>");
    for o in Outcome::ALL {
        let _ = write!(h, "<option>{}</option>", o.as_str());
    }
    h.push_str(
        "</select> Profile <select id=\"fp\" onchange=\"f()\"><option value=\"\">all</option>",
    );
    for p in &profiles {
        let _ = write!(h, "<option>{}</option>", escape(p));
    }
    h.push_str("</select></p><table><tr><th>case</th><th>level</th><th>outcome</th><th>title and clause</th><th>ms</th></tr>");
    for (i, r) in report.results.iter().enumerate() {
        let waiver = r
            .waiver
            .as_ref()
            .map(|w| {
                format!(
                    "<br><span class=\"muted\">waived: {}{}</span>",
                    escape(&w.reason),
                    if w.stale {
                        " (stale: the case passes)"
                    } else {
                        ""
                    }
                )
            })
            .unwrap_or_default();
        let findings: String = r
            .findings
            .iter()
            .map(|f| {
                format!(
                    "<br><span class=\"{}\">{} {}</span> {} ({}x){}<br><span class=\"muted\">{}</span>",
                    f.outcome.as_str(),
                    f.level.as_str(),
                    escape(&f.rule),
                    escape(&f.message),
                    f.count,
                    f.waiver
                        .as_ref()
                        .map(|w| format!(" waived: {}", escape(&w.reason)))
                        .unwrap_or_default(),
                    escape(&f.clause.to_string())
                )
            })
            .collect();
        let changes: String = r
            .changes
            .iter()
            .map(|c| {
                format!(
                    "<br><span class=\"muted\">changed on the target: {}</span>",
                    escape(c)
                )
            })
            .collect();
        let waiver = format!("{waiver}{findings}{changes}");
        let _ = write!(
            h,
            "<tr class=\"case\" id=\"c{i}\" data-outcome=\"{o}\" data-profiles=\"{p}\">\
             <td><code>{id}</code></td><td>{lvl}</td><td class=\"{o}\">{o}</td>\
             <td>{title}<br><span class=\"muted\">{clause}</span>{msg}{waiver}</td><td>{ms:.1}</td></tr>",
            o = r.outcome.as_str(),
            p = escape(&r.profiles.join(" ")),
            id = escape(&r.id),
            lvl = r.level.as_str(),
            title = escape(&r.title),
            clause = escape(&r.clause.to_string()),
            msg = r
                .message
                .as_ref()
                .map(|m| format!("<br>{}", escape(m)))
                .unwrap_or_default(),
            ms = r.duration_us as f64 / 1e3,
        );
        if !r.transcript.is_empty() {
            let _ = write!(
                h,
                "<tr id=\"c{i}-d\"><td colspan=\"5\"><details><summary>transcript ({} round trips) \
                 &middot; rerun: <code>{}</code></summary>",
                r.transcript.len(),
                escape(&r.rerun)
            );
            for leg in &r.transcript {
                let _ = write!(h, "<pre class=\"wire\">{}</pre>", escape(&leg.request));
                match (&leg.response, &leg.error) {
                    (Some(resp), _) => {
                        let _ = write!(h, "<pre class=\"wire\">{}</pre>", escape(resp));
                    }
                    (None, e) => {
                        let _ = write!(
                            h,
                            "<p class=\"error\">no answer: {}</p>",
                            escape(e.as_deref().unwrap_or("connection closed"))
                        );
                    }
                }
            }
            h.push_str("</details></td></tr>");
        }
    }
    let _ = writeln!(h, "</table><script>{SCRIPT}</script></body></html>");
    // Every string the document holds, in one pass: the markup itself is plain ASCII.
    let mut x = super::text::XmlText::html();
    let mut h = x.clean(&h).into_owned();
    if x.replaced() > 0 {
        let note = format!(
            "<p class=\"muted\" id=\"replaced\">{}</p>",
            escape(&super::text::replaced_note(x.replaced()))
        );
        // User text is escaped, so the first such heading is ours.
        if let Some(at) = h.find("<h2>") {
            h.insert_str(at, &note);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_self_contained_and_lists_every_case() {
        let r = super::super::sample::report();
        let html = super::to_string(&r);
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
        for needle in ["src=", "href=", "@import", "url("] {
            assert!(!html.contains(needle), "{needle}");
        }
        assert!(!html.contains("target-lost"));
    }

    #[test]
    fn a_lost_target_is_said_above_the_summary() {
        let mut r = super::super::sample::report();
        r.target_lost = Some("the target stopped answering after case a <&>".into());
        let html = super::to_string(&r);
        let banner = html
            .find("<p class=\"error\" id=\"target-lost\">Target lost: the target stopped answering after case a &lt;&amp;&gt;</p>")
            .expect("the banner");
        assert!(banner < html.find("<h2>Summary</h2>").unwrap());
    }
}
