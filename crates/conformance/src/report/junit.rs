//! The JUnit XML report (quick-junit): one test suite per home profile (a case's first
//! profile), one test case per case named by its libtest name. Fail is a failure,
//! error an error, skip skipped; a warn passes with a `touchstone.warning` property and
//! the message in system-out; a waived problem is skipped with the waiver's reason.
//! A target that stopped answering mid-run is a `touchstone.target_lost` property and
//! the system-out of every test suite.

use std::collections::BTreeMap;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use super::{Report, transcript_text};
use crate::case::Outcome;

/// The report as JUnit XML.
pub fn to_string(report: &Report) -> String {
    let mut junit = quick_junit::Report::new("touchstone");
    junit.set_time(Duration::from_micros(report.duration_us));
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for r in &report.results {
        let home = r.profiles.first().map_or("default", String::as_str);
        let suite = suites.entry(home).or_insert_with(|| {
            order.push(home);
            let mut s = TestSuite::new(home);
            s.add_property(Property::new("target", report.target.as_str()));
            s.add_property(Property::new("seed", report.seed.to_string()));
            // Said in every suite, where CI readers look first, not only on the cases.
            if let Some(lost) = &report.target_lost {
                s.add_property(Property::new("touchstone.target_lost", lost.as_str()));
                s.set_system_out(format!("TARGET LOST: {lost}\n"));
            }
            if let Some(p) = &report.product {
                s.add_property(Property::new("product", p.as_str()));
            }
            for d in &report.discovery {
                s.add_property(Property::new(
                    format!("discovery: {}", d.what),
                    format!(
                        "{}: {}",
                        if d.offered { "offered" } else { "not offered" },
                        d.detail
                    ),
                ));
            }
            s
        });
        let detail = || {
            let mut d = format!("clause: {}\n", r.clause);
            if let Some(e) = &r.expected {
                d.push_str(&format!("expected: {e}\n"));
            }
            if let Some(g) = &r.got {
                d.push_str(&format!("got: {g}\n"));
            }
            d.push_str(&format!("rerun: {}\n", r.rerun));
            d
        };
        let message = r.message.clone().unwrap_or_default();
        let status = match (&r.waiver, r.outcome) {
            (Some(w), Outcome::Fail | Outcome::Error | Outcome::Warn) => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("waived ({}): {message}", w.reason));
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
                    .set_description(detail());
                s
            }
            (_, Outcome::Error) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(message.as_str()).set_description(detail());
                s
            }
        };
        let mut tc = TestCase::new(r.name.as_str(), status);
        tc.set_classname(format!("touchstone.{home}"));
        tc.set_time(Duration::from_micros(r.duration_us));
        tc.add_property(Property::new("id", r.id.as_str()));
        tc.add_property(Property::new("level", r.level.as_str()));
        tc.add_property(Property::new("outcome", r.outcome.as_str()));
        tc.add_property(Property::new("profiles", r.profiles.join(",")));
        tc.add_property(Property::new("clause", r.clause.to_string()));
        if r.outcome == Outcome::Warn {
            tc.add_property(Property::new("touchstone.warning", message.as_str()));
        }
        for c in &r.changes {
            tc.add_property(Property::new("touchstone.changed", c.as_str()));
        }
        if let Some(w) = &r.waiver {
            tc.add_property(Property::new("waiver", w.reason.as_str()));
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
                    detail()
                ));
            }
            out.push_str(&transcript_text(&r.transcript));
            tc.set_system_out(out);
        }
        suite.add_test_case(tc);
        // A broken rule is its own test case, so CI shows it apart from the case.
        for f in &r.findings {
            let text = format!("{} ({} answer(s)): {}", f.title, f.count, f.message);
            let status = match (&f.waiver, f.outcome) {
                (Some(w), _) => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(format!("waived ({}): {text}", w.reason));
                    s
                }
                (None, Outcome::Fail) => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(text.as_str())
                        .set_type(f.level.as_str())
                        .set_description(format!("clause: {}\n", f.clause));
                    s
                }
                _ => TestCaseStatus::success(),
            };
            let mut tc = TestCase::new(format!("{}#{}", r.name, f.rule), status);
            tc.set_classname(format!("touchstone.{home}"));
            tc.add_property(Property::new("rule", f.rule.as_str()));
            tc.add_property(Property::new("case", r.id.as_str()));
            tc.add_property(Property::new("level", f.level.as_str()));
            tc.add_property(Property::new("clause", f.clause.to_string()));
            if f.outcome == Outcome::Warn {
                tc.add_property(Property::new("touchstone.warning", text.as_str()));
            }
            suite.add_test_case(tc);
        }
    }
    for name in order {
        if let Some(s) = suites.remove(name) {
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
