//! The JUnit XML report (quick-junit): one test suite per home profile (a case's first
//! profile), one test case per case named by its libtest name. Fail is a failure,
//! error an error, skip skipped; a warn passes with a `touchstone.warning` property and
//! the message in system-out; a waived problem is skipped with the waiver's reason.
//! A target that stopped answering mid-run is a `touchstone.target_lost` property and
//! the system-out of every test suite.

use std::collections::BTreeMap;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use super::text::{XmlText, bounded, replaced_note};
use super::{Report, transcript_text};
use crate::case::Outcome;

/// A property whose name and value are made XML-safe by `x`.
fn prop(x: &mut XmlText, name: &str, value: &str) -> Property {
    let name = x.clean(name).into_owned();
    Property::new(name, x.clean(value))
}

/// The report as JUnit XML.
///
/// Transcripts and messages are bounded ([`bounded`]); every string goes through
/// [`XmlText`], and a case whose strings had characters replaced carries a
/// `touchstone.replaced_characters` property saying how many (every test suite carries
/// the report's total).
pub fn to_string(report: &Report) -> String {
    let report = &bounded(report);
    let mut junit = quick_junit::Report::new("touchstone");
    junit.set_time(Duration::from_micros(report.duration_us));
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    // Strings said once per suite (the same in each, counted once).
    let mut said_once = XmlText::junit();
    let mut replaced = 0;
    for r in &report.results {
        let home = r.profiles.first().map_or("default", String::as_str);
        let mut x = XmlText::junit();
        let suite = suites.entry(home).or_insert_with(|| {
            order.push(home);
            let mut sx = XmlText::junit();
            let mut s = TestSuite::new(sx.clean(home));
            s.add_property(prop(&mut sx, "target", &report.target));
            s.add_property(Property::new("seed", report.seed.to_string()));
            // Said in every suite, where CI readers look first, not only on the cases.
            if let Some(lost) = &report.target_lost {
                s.add_property(prop(&mut sx, "touchstone.target_lost", lost));
                s.set_system_out(format!("TARGET LOST: {}\n", sx.clean(lost)));
            }
            if let Some(p) = &report.product {
                s.add_property(prop(&mut sx, "product", p));
            }
            for d in &report.discovery {
                s.add_property(prop(
                    &mut sx,
                    &format!("discovery: {}", d.what),
                    &format!(
                        "{}: {}",
                        if d.offered { "offered" } else { "not offered" },
                        d.detail
                    ),
                ));
            }
            if order.len() == 1 {
                said_once = sx;
            }
            s
        });
        let detail = |x: &mut XmlText| {
            let mut d = format!("clause: {}\n", r.clause);
            if let Some(e) = &r.expected {
                d.push_str(&format!("expected: {e}\n"));
            }
            if let Some(g) = &r.got {
                d.push_str(&format!("got: {g}\n"));
            }
            d.push_str(&format!("rerun: {}\n", r.rerun));
            x.clean(&d).into_owned()
        };
        let message = x
            .clean(r.message.as_deref().unwrap_or_default())
            .into_owned();
        let status = match (&r.waiver, r.outcome) {
            (Some(w), Outcome::Fail | Outcome::Error | Outcome::Warn) => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("waived ({}): {message}", x.clean(&w.reason)));
                s
            }
            (_, Outcome::Pass | Outcome::Warn) => TestCaseStatus::success(),
            (_, Outcome::Skip) => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(message.as_str());
                s
            }
            (_, Outcome::Fail) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(message.as_str())
                    .set_type(r.level.as_str())
                    .set_description(detail(&mut x));
                s
            }
            (_, Outcome::Error) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(message.as_str())
                    .set_description(detail(&mut x));
                s
            }
        };
        let mut tc = TestCase::new(x.clean(&r.name), status);
        tc.set_classname(format!("touchstone.{}", x.clean(home)));
        tc.set_time(Duration::from_micros(r.duration_us));
        tc.add_property(prop(&mut x, "id", &r.id));
        tc.add_property(Property::new("level", r.level.as_str()));
        tc.add_property(Property::new("outcome", r.outcome.as_str()));
        tc.add_property(prop(&mut x, "profiles", &r.profiles.join(",")));
        tc.add_property(prop(&mut x, "clause", &r.clause.to_string()));
        if r.outcome == Outcome::Warn {
            tc.add_property(Property::new("touchstone.warning", message.as_str()));
        }
        for c in &r.changes {
            tc.add_property(prop(&mut x, "touchstone.changed", c));
        }
        if let Some(w) = &r.waiver {
            tc.add_property(prop(&mut x, "waiver", &w.reason));
            if w.stale {
                tc.add_property(Property::new("waiver.stale", "true"));
            }
        }
        if r.outcome != Outcome::Pass && r.outcome != Outcome::Skip {
            let mut out = String::new();
            if r.outcome == Outcome::Warn {
                out.push_str(&format!(
                    "WARNING ({}): {message}\n{}",
                    r.level.as_str(),
                    detail(&mut x)
                ));
            }
            out.push_str(&x.clean(&transcript_text(&r.transcript)));
            tc.set_system_out(out);
        }
        let mut finding_cases = Vec::new();
        // A broken rule is its own test case, so CI shows it apart from the case.
        for f in &r.findings {
            let text = format!("{} ({} answer(s)): {}", f.title, f.count, f.message);
            let text = x.clean(&text).into_owned();
            let status = match (&f.waiver, f.outcome) {
                (Some(w), _) => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(format!("waived ({}): {text}", x.clean(&w.reason)));
                    s
                }
                (None, Outcome::Fail) => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(text.as_str())
                        .set_type(f.level.as_str())
                        .set_description(x.clean(&format!("clause: {}\n", f.clause)));
                    s
                }
                _ => TestCaseStatus::success(),
            };
            let mut ftc = TestCase::new(x.clean(&format!("{}#{}", r.name, f.rule)), status);
            ftc.set_classname(format!("touchstone.{}", x.clean(home)));
            ftc.add_property(prop(&mut x, "rule", &f.rule));
            ftc.add_property(prop(&mut x, "case", &r.id));
            ftc.add_property(Property::new("level", f.level.as_str()));
            ftc.add_property(prop(&mut x, "clause", &f.clause.to_string()));
            if f.outcome == Outcome::Warn {
                ftc.add_property(Property::new("touchstone.warning", text.as_str()));
            }
            finding_cases.push(ftc);
        }
        if x.replaced() > 0 {
            tc.add_property(Property::new(
                "touchstone.replaced_characters",
                replaced_note(x.replaced()),
            ));
            replaced += x.replaced();
        }
        suite.add_test_case(tc);
        for ftc in finding_cases {
            suite.add_test_case(ftc);
        }
    }
    replaced += said_once.replaced();
    for name in order {
        if let Some(mut s) = suites.remove(name) {
            if replaced > 0 {
                s.add_property(Property::new(
                    "touchstone.replaced_characters",
                    replaced_note(replaced),
                ));
            }
            junit.add_test_suite(s);
        }
    }
    junit.to_string().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_well_formed_junit() {
        let xml = super::to_string(&super::super::sample::report());
        let doc = roxmltree::Document::parse(&xml).expect("JUnit parses as XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        let cases: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), 6);
        assert!(doc.descendants().any(|n| n.has_tag_name("failure")));
        assert!(doc.descendants().any(|n| n.has_tag_name("error")));
        assert!(doc.descendants().any(|n| n.has_tag_name("skipped")));
        assert!(doc.descendants().any(
            |n| n.has_tag_name("property") && n.attribute("name") == Some("touchstone.warning")
        ));
        assert!(xml.contains("wsman::core::fail"));
        assert!(!xml.contains("target_lost"));
    }

    #[test]
    fn a_lost_target_is_said_in_every_suite() {
        let mut r = super::super::sample::report();
        r.target_lost = Some("the target stopped answering after case a <&>".into());
        let xml = super::to_string(&r);
        let doc = roxmltree::Document::parse(&xml).expect("JUnit parses as XML");
        for suite in doc.descendants().filter(|n| n.has_tag_name("testsuite")) {
            assert!(
                suite.descendants().any(|n| n.has_tag_name("property")
                    && n.attribute("name") == Some("touchstone.target_lost")
                    && n.attribute("value") == r.target_lost.as_deref()),
                "{xml}"
            );
            let out = suite
                .children()
                .find(|n| n.has_tag_name("system-out"))
                .and_then(|n| n.text())
                .unwrap_or_default();
            assert!(out.contains("TARGET LOST: the target stopped answering after case a <&>"));
        }
    }
}
