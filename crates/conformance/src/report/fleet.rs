//! The fleet summary of a `check --targets` run (`summary.json`), and the fleet's one
//! JUnit file (`junit.xml`, a test suite per target).
//!
//! A summary holds, per target (in id order): its verdict (`pass`, `fail` or
//! `error`), exit code, counts per outcome, chaos and scenario, the run-level message
//! (unreachable, credentials refused, stopped answering), and the cases it fails; then
//! per case (most failures first): how many targets fail it or could not run it, and
//! which. It is computed from the per-target reports alone ([`TargetEntry::from_report`]
//! and [`FleetSummary::new`]), so a summary merged from shards ([`super::merge`]) is the
//! summary of the unsharded run; only durations differ
//! ([`FleetSummary::without_timings`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
use serde::{Deserialize, Serialize};

use super::Report;
use super::text::{XmlText, clip};
use crate::case::{Level, Outcome};

/// `format` of `summary.json`.
pub const SUMMARY_FORMAT: &str = "touchstone-fleet-summary/1";

/// How a target came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every required case passed (exit code 0).
    Pass,
    /// A required case failed or a MUST rule was broken (exit code 1).
    Fail,
    /// The target could not be judged: unreachable, credentials refused, stopped
    /// answering, or a case the harness could not run (exit code 2 or 3).
    Error,
}

impl Verdict {
    /// `pass`, `fail` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        }
    }

    /// The verdict of a target's exit code.
    pub fn of_code(code: u8) -> Verdict {
        match code {
            0 => Verdict::Pass,
            1 => Verdict::Fail,
            _ => Verdict::Error,
        }
    }
}

/// What the fleet summary says about one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetEntry {
    /// The inventory id.
    pub id: String,
    /// What was checked (the report's target).
    pub target: String,
    /// The scenario behind it, when the inventory says.
    pub scenario: Option<String>,
    /// Its deliberate defect, when it is a chaos machine.
    pub chaos: Option<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// The exit code `touchstone check` would give this target alone.
    pub exit_code: u8,
    /// What the target says it is.
    pub product: Option<String>,
    /// Cases per outcome (`pass`, `fail`, `warn`, `skip`, `error`).
    pub counts: BTreeMap<String, usize>,
    /// Why the whole target is an error (unreachable, credentials refused, stopped
    /// answering), if it is.
    pub message: Option<String>,
    /// The case IDs it fails (unwaived), and `CASE#RULE` for each broken MUST rule.
    pub failed: Vec<String>,
    /// The case IDs the harness could not run on it (unwaived errors; not the cases a
    /// target that could not be reached or stopped answering kept from running).
    pub errors: Vec<String>,
    /// Wall time of its run, in microseconds.
    pub duration_us: u64,
}

impl TargetEntry {
    /// The entry of one target's report. `run_error`: the exit code and reason of a
    /// run that could not start (its report is every case an error saying so).
    pub fn from_report(
        id: &str,
        scenario: Option<String>,
        chaos: Option<String>,
        report: &Report,
        run_error: Option<(u8, String)>,
    ) -> TargetEntry {
        let (exit_code, message) = match run_error {
            Some((code, why)) => (code, Some(why)),
            None => (report.exit_code(), report.target_lost.clone()),
        };
        let counts = report
            .counts()
            .into_iter()
            .map(|(o, n)| (o.as_str().to_owned(), n))
            .collect();
        let mut failed = Vec::new();
        let mut errors = Vec::new();
        for r in &report.results {
            if r.waiver.is_none() && r.outcome == Outcome::Fail {
                failed.push(r.id.clone());
            }
            // A case kept from running by a run-level problem is that problem, said
            // once in `message`.
            let kept = message.as_deref().is_some_and(|why| {
                r.message
                    .as_deref()
                    .is_some_and(|m| m == why || m.ends_with(why))
            });
            if r.waiver.is_none() && r.outcome == Outcome::Error && !kept {
                errors.push(r.id.clone());
            }
            for f in &r.findings {
                if f.waiver.is_none() && f.level == Level::Must && f.outcome == Outcome::Fail {
                    failed.push(format!("{}#{}", r.id, f.rule));
                }
            }
        }
        TargetEntry {
            id: id.to_owned(),
            target: report.target.clone(),
            scenario,
            chaos,
            verdict: Verdict::of_code(exit_code),
            exit_code,
            product: report.product.clone(),
            counts,
            message,
            failed,
            errors,
            duration_us: report.duration_us,
        }
    }
}

/// One case across the fleet: the targets that fail it and those that could not run it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEntry {
    /// The case ID (or `CASE#RULE` for a broken MUST rule).
    pub id: String,
    /// How many targets fail it.
    pub failed: usize,
    /// How many targets could not run it.
    pub errors: usize,
    /// The targets failing it, in id order.
    pub failing_targets: Vec<String>,
    /// The targets that could not run it, in id order.
    pub error_targets: Vec<String>,
}

/// Totals of the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Targets checked.
    pub targets: usize,
    /// Targets that passed.
    pub pass: usize,
    /// Targets that failed.
    pub fail: usize,
    /// Targets that could not be judged.
    pub error: usize,
}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetSummary {
    /// [`SUMMARY_FORMAT`].
    pub format: String,
    /// The tool that made it.
    pub tool: String,
    /// Wall time of the run (of the longest shard, for a merge), in microseconds.
    pub duration_us: u64,
    /// Totals.
    pub totals: Totals,
    /// Every target, in id order.
    pub targets: Vec<TargetEntry>,
    /// Every case some target fails or could not run: most failures first, then most
    /// errors, then by ID.
    pub cases: Vec<CaseEntry>,
}

impl FleetSummary {
    /// The summary of `targets` (any order).
    pub fn new(tool: &str, mut targets: Vec<TargetEntry>, duration_us: u64) -> FleetSummary {
        targets.sort_by(|a, b| a.id.cmp(&b.id));
        let mut totals = Totals {
            targets: targets.len(),
            ..Totals::default()
        };
        let mut cases: BTreeMap<&str, CaseEntry> = BTreeMap::new();
        let entry = |id: &str| CaseEntry {
            id: id.to_owned(),
            failed: 0,
            errors: 0,
            failing_targets: Vec::new(),
            error_targets: Vec::new(),
        };
        for t in &targets {
            match t.verdict {
                Verdict::Pass => totals.pass += 1,
                Verdict::Fail => totals.fail += 1,
                Verdict::Error => totals.error += 1,
            }
            for c in &t.failed {
                let e = cases.entry(c).or_insert_with(|| entry(c));
                e.failed += 1;
                e.failing_targets.push(t.id.clone());
            }
            for c in &t.errors {
                let e = cases.entry(c).or_insert_with(|| entry(c));
                e.errors += 1;
                e.error_targets.push(t.id.clone());
            }
        }
        let mut cases: Vec<CaseEntry> = cases.into_values().collect();
        cases.sort_by(|a, b| {
            (b.failed, b.errors)
                .cmp(&(a.failed, a.errors))
                .then_with(|| a.id.cmp(&b.id))
        });
        FleetSummary {
            format: SUMMARY_FORMAT.to_owned(),
            tool: tool.to_owned(),
            duration_us,
            totals,
            targets,
            cases,
        }
    }

    /// The fleet's exit code: 1 when any target failed a required case, else 3 when
    /// any was unreachable, stopped answering or refused the credentials, else 2 when
    /// a case could not be run on some target, else 0. A failure wins because it is a
    /// finding about a target that answered; the rest say the fleet was not all judged.
    pub fn exit_code(&self) -> u8 {
        let codes: Vec<u8> = self.targets.iter().map(|t| t.exit_code).collect();
        [1, 3, 2]
            .into_iter()
            .find(|c| codes.contains(c))
            .unwrap_or(0)
    }

    /// The same summary with every duration zero: what a sharded and an unsharded run
    /// of the same fleet agree on.
    pub fn without_timings(&self) -> FleetSummary {
        let mut s = self.clone();
        s.duration_us = 0;
        for t in &mut s.targets {
            t.duration_us = 0;
        }
        s
    }

    /// As pretty JSON.
    pub fn to_json(&self) -> String {
        // Strings, numbers and lists only: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads `summary.json` text.
    pub fn from_json(text: &str) -> Result<FleetSummary, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// The bytes of a message kept in the fleet JUnit (the per-target files keep more).
const JUNIT_MESSAGE: usize = 2048;

/// The test suite of one target in the fleet JUnit: a test case per case (named by
/// its ID, class `touchstone.<target id>`), failures and errors with their message,
/// skips with their reason, no transcripts (they are in `targets/<id>.xml`).
pub fn junit_suite(entry: &TargetEntry, report: &Report) -> TestSuite {
    let mut x = XmlText::junit();
    let mut suite = TestSuite::new(x.clean(&entry.id).into_owned());
    let mut prop = |name: &str, value: &str| Property::new(name, x.clean(value).into_owned());
    let mut props = vec![
        prop("target", &entry.target),
        prop("verdict", entry.verdict.as_str()),
    ];
    for (name, v) in [
        ("chaos", &entry.chaos),
        ("scenario", &entry.scenario),
        ("product", &entry.product),
        ("touchstone.target_error", &entry.message),
    ] {
        if let Some(v) = v {
            props.push(prop(name, v));
        }
    }
    suite.add_properties(props);
    if let Some(m) = &entry.message {
        suite.set_system_out(format!("{}\n", x.clean(m)));
    }
    for r in &report.results {
        let message = x
            .clean(&clip(
                r.message.as_deref().unwrap_or_default(),
                JUNIT_MESSAGE,
                0,
            ))
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
                s.set_message(message);
                s
            }
            (_, Outcome::Fail) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(message).set_type(r.level.as_str());
                s
            }
            (_, Outcome::Error) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(message);
                s
            }
        };
        let mut tc = TestCase::new(x.clean(&r.id).into_owned(), status);
        tc.set_classname(format!("touchstone.{}", x.clean(&entry.id)));
        tc.set_time(Duration::from_micros(r.duration_us));
        suite.add_test_case(tc);
    }
    suite
}

/// The fleet JUnit: `suites` in the order given (id order, by the callers).
pub fn junit_string(suites: impl IntoIterator<Item = TestSuite>, duration_us: u64) -> String {
    let mut junit = quick_junit::Report::new("touchstone-fleet");
    junit.set_time(Duration::from_micros(duration_us));
    junit.add_test_suites(suites);
    // quick-junit fails only on a writer error, and a String cannot fail.
    junit.to_string().unwrap_or_default()
}

/// What `shard.json` of an output directory says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardFile {
    /// `I/N`, or `null` for a whole run (or a merge).
    pub shard: Option<String>,
    /// The target ids this directory holds, in id order.
    pub targets: Vec<String>,
    /// The case IDs this directory ran, when the cases of a single target were
    /// sharded; `null` when every target ran every selected case.
    pub cases: Option<Vec<String>>,
    /// Every selected case ID in suite order, when the cases were sharded: the order
    /// a merge restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected: Option<Vec<String>>,
}

/// Writes the fleet files of `dir` (`summary.json`, `summary.html`, `junit.xml`,
/// `shard.json`); the per-target files are written as each target finishes.
pub fn write_dir(
    dir: &Path,
    summary: &FleetSummary,
    junit: &str,
    shard: &ShardFile,
) -> std::io::Result<()> {
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| {
            std::io::Error::new(e.kind(), format!("{}: {e}", dir.join(name).display()))
        })
    };
    write("summary.json", &summary.to_json())?;
    write("summary.html", &super::fleet_html::to_string(summary))?;
    write("junit.xml", junit)?;
    write(
        "shard.json",
        &serde_json::to_string_pretty(shard).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_of(id: &str, mutate: impl Fn(&mut Report)) -> TargetEntry {
        let mut r = super::super::sample::report();
        mutate(&mut r);
        TargetEntry::from_report(id, Some("default".into()), None, &r, None)
    }

    #[test]
    fn entries_say_verdict_counts_and_failing_cases() {
        let e = entry_of("m1", |_| {});
        assert_eq!(e.verdict, Verdict::Fail);
        assert_eq!(e.exit_code, 1);
        assert_eq!(e.failed, vec!["wsman.core.fail"]);
        assert_eq!(e.errors, vec!["wsman.core.error"]);
        assert_eq!(e.counts["pass"], 2);
        let pass = entry_of("m2", |r| {
            r.results
                .retain(|c| !matches!(c.outcome, Outcome::Fail | Outcome::Error))
        });
        assert_eq!(pass.verdict, Verdict::Pass);
        // A target that could not be reached: one message, no per-case errors.
        let mut r = super::super::sample::report();
        for c in &mut r.results {
            c.outcome = Outcome::Error;
            c.message = Some("not run: target x is unreachable: refused".into());
        }
        let e = TargetEntry::from_report(
            "m3",
            None,
            Some("unreachable".into()),
            &r,
            Some((3, "target x is unreachable: refused".into())),
        );
        assert_eq!((e.verdict, e.exit_code), (Verdict::Error, 3));
        assert!(e.errors.is_empty(), "{:?}", e.errors);
        let s = FleetSummary::new(
            "t",
            vec![pass.clone(), e.clone(), entry_of("m1", |_| {})],
            5,
        );
        assert_eq!(
            s.targets.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["m1", "m2", "m3"]
        );
        assert_eq!(
            s.totals,
            Totals {
                targets: 3,
                pass: 1,
                fail: 1,
                error: 1
            }
        );
        assert_eq!(s.cases[0].id, "wsman.core.fail");
        assert_eq!(s.cases[0].failing_targets, ["m1"]);
        assert_eq!(s.exit_code(), 1);
        let s2 = FleetSummary::new("t", vec![pass.clone(), e], 5);
        assert_eq!(s2.exit_code(), 3);
        assert_eq!(FleetSummary::new("t", vec![pass], 5).exit_code(), 0);
        let back = FleetSummary::from_json(&s.to_json()).unwrap();
        assert_eq!(back, s);
        assert_eq!(s.without_timings().duration_us, 0);
    }

    #[test]
    fn fleet_junit_has_a_suite_per_target() {
        let r = super::super::sample::report();
        let a = TargetEntry::from_report("a<1>", None, Some("slow".into()), &r, None);
        let b = TargetEntry::from_report("b", None, None, &r, None);
        let xml = junit_string([junit_suite(&a, &r), junit_suite(&b, &r)], 10);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let suites: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testsuite"))
            .collect();
        assert_eq!(suites.len(), 2);
        assert_eq!(suites[0].attribute("name"), Some("a<1>"));
        assert_eq!(
            suites[0]
                .descendants()
                .filter(|n| n.has_tag_name("testcase"))
                .count(),
            r.results.len()
        );
        assert!(suites[0].descendants().any(|n| n.has_tag_name("property")
            && n.attribute("name") == Some("chaos")
            && n.attribute("value") == Some("slow")));
        assert_eq!(
            doc.descendants()
                .filter(|n| n.has_tag_name("failure"))
                .count(),
            2
        );
    }
}
