//! `summary.html`: the fleet summary as one self-contained page (the single-target
//! report's inline CSS, no script), for the operator who opens it after a red fleet
//! run: a verdict banner with the fleet's exit code and the target totals, the
//! failing cases (most failures first, each with the targets failing it), then every
//! target that did not pass (verdict, chaos, scenario, counts, why), then the passing
//! targets collapsed. Each target links to its JSON report under `targets/`.

use std::fmt::Write as _;

use super::fleet::{FleetSummary, TargetEntry, Verdict};
use super::html::{STYLE, escape};
use super::text::XmlText;

/// Targets named per failing case before "and N more".
const NAMED: usize = 40;

/// The summary as HTML.
pub fn to_string(s: &FleetSummary) -> String {
    let mut x = XmlText::html();
    let mut e = |t: &str| escape(&x.clean(t));
    let code = s.exit_code();
    let (word, class, meaning) = match code {
        0 => ("PASS", "pass", "every target passed every required case"),
        1 => ("FAIL", "fail", "a target failed a required case"),
        3 => (
            "ERROR",
            "lost",
            "a target was unreachable, stopped answering or refused the credentials",
        ),
        _ => ("ERROR", "error", "a case could not be run on some target"),
    };
    let mut h = String::with_capacity(8192 + s.targets.len() * 256);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Touchstone fleet summary</title><style>{STYLE}</style></head><body>\
         <header class=\"banner {class}\" id=\"verdict\"><p class=\"verdict\">{word}</p>\
         <p class=\"exit\"><b>exit code {code}</b>: {meaning}</p><div class=\"counts\">"
    );
    for (n, label, cls) in [
        (s.totals.fail, "targets failed", "fail"),
        (s.totals.error, "targets in error", "error"),
        (s.totals.pass, "targets passed", "pass"),
    ] {
        let zero = if n == 0 { " zero" } else { "" };
        let _ = write!(
            h,
            "<span class=\"count {cls}{zero}\"><b>{n}</b><span>{label}</span></span>"
        );
    }
    let _ = write!(
        h,
        "</div><p class=\"meta\">{} targets checked in {:.1} s by {}</p></header><main>",
        s.totals.targets,
        s.duration_us as f64 / 1e6,
        e(&s.tool)
    );
    if !s.cases.is_empty() {
        h.push_str(
            "<h2 id=\"cases\">Failing cases</h2><table><tr><th>case</th>\
             <th class=\"n\">fail</th><th class=\"n\">error</th><th>targets</th></tr>",
        );
        for c in &s.cases {
            let mut names: Vec<String> = c
                .failing_targets
                .iter()
                .chain(&c.error_targets)
                .take(NAMED)
                .map(|t| format!("<a href=\"#t-{0}\">{0}</a>", e(t)))
                .collect();
            let more = (c.failed + c.errors).saturating_sub(NAMED);
            if more > 0 {
                names.push(format!("and {more} more"));
            }
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                e(&c.id),
                c.failed,
                c.errors,
                names.join(", ")
            );
        }
        h.push_str("</table>");
    }
    let (bad, good): (Vec<&TargetEntry>, Vec<&TargetEntry>) =
        s.targets.iter().partition(|t| t.verdict != Verdict::Pass);
    let mut table = |h: &mut String, rows: &[&TargetEntry]| {
        h.push_str(
            "<table><tr><th>target</th><th>verdict</th><th>chaos</th><th>scenario</th>\
             <th class=\"n\">pass</th><th class=\"n\">fail</th><th class=\"n\">warn</th>\
             <th class=\"n\">skip</th><th class=\"n\">error</th><th>why</th></tr>",
        );
        for t in rows {
            let n = |k: &str| t.counts.get(k).copied().unwrap_or(0);
            let why = match (&t.message, t.failed.first()) {
                (Some(m), _) => e(m),
                (None, Some(_)) => format!("fails {}", e(&t.failed.join(", "))),
                (None, None) if !t.errors.is_empty() => {
                    format!("could not run {}", e(&t.errors.join(", ")))
                }
                _ => String::new(),
            };
            let v = t.verdict.as_str();
            let _ = write!(
                h,
                "<tr id=\"t-{id}\"><td><a href=\"targets/{id}.json\">{id}</a><br>\
                 <span class=\"muted\">{target}</span></td>\
                 <td><span class=\"badge {v}\">{v}</span></td><td>{chaos}</td><td>{scenario}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{why}</td></tr>",
                n("pass"),
                n("fail"),
                n("warn"),
                n("skip"),
                n("error"),
                id = e(&t.id),
                target = e(&t.target),
                chaos = t.chaos.as_deref().map(&mut e).unwrap_or_default(),
                scenario = t.scenario.as_deref().map(&mut e).unwrap_or_default(),
            );
        }
        h.push_str("</table>");
    };
    if !bad.is_empty() {
        h.push_str("<h2 id=\"problems\">Targets that did not pass</h2>");
        table(&mut h, &bad);
    }
    if !good.is_empty() {
        let _ = write!(
            h,
            "<h2 id=\"passed\">Targets that passed</h2><details><summary>{} targets</summary>",
            good.len()
        );
        table(&mut h, &good);
        h.push_str("</details>");
    }
    h.push_str("</main></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::super::fleet::{FleetSummary, TargetEntry};

    #[test]
    fn names_failing_cases_and_targets_escaped() {
        let r = super::super::sample::report();
        let a = TargetEntry::from_report("m-1", None, Some("slow<>".into()), &r, None);
        let mut ok = r.clone();
        ok.results
            .retain(|c| c.outcome == crate::case::Outcome::Pass);
        let b = TargetEntry::from_report("m-2", Some("default".into()), None, &ok, None);
        let html = super::to_string(&FleetSummary::new("touchstone <x>", vec![a, b], 1));
        assert!(html.contains(">FAIL<"));
        assert!(html.contains("<code>wsman.core.fail</code>"));
        assert!(html.contains("<a href=\"#t-m-1\">m-1</a>"));
        assert!(html.contains("slow&lt;&gt;"));
        assert!(html.contains("touchstone &lt;x&gt;"));
        assert!(html.contains("Targets that passed</h2><details><summary>1 targets"));
        assert!(
            roxmltree::Document::parse(
                &html
                    .replace("<!DOCTYPE html>", "")
                    .replace("<br>", "<br/>")
                    .replace("<meta charset=\"utf-8\">", "")
                    .replace(
                        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">",
                        ""
                    )
            )
            .is_ok()
        );
    }
}
