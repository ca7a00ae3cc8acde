//! The results of a run and the report writers: JUnit XML ([`junit`]), JSON
//! ([`json`]) and one self-contained HTML file ([`html`]); for a fleet, the summary
//! ([`fleet`], [`fleet_html`]) and the merge of shard directories ([`merge`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::case::{Clause, Level, Outcome};
use crate::waiver::WaiverNote;

pub mod fleet;
pub mod fleet_html;
pub mod html;
pub mod json;
pub mod junit;
pub mod merge;
pub mod text;

/// Bytes of a body kept from its start and from its end in a transcript; the middle is
/// cut (an oversize-request case sends half a megabyte that no report reader wants).
/// Below the writers' per-leg bound ([`text::LEG_HEAD`]), so that the line saying how
/// much was cut survives.
const BODY_KEPT: usize = 12 * 1024;

/// One HTTP round trip of a case, as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireLeg {
    /// The request: request line, headers (credentials redacted), blank line, body.
    pub request: String,
    /// The answer, likewise; `None` when none came.
    pub response: Option<String>,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// Why no answer came.
    pub error: Option<String>,
}

fn body_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text::clip(&text, BODY_KEPT, BODY_KEPT).into_owned()
}

/// The round trips of an exchange (authentication legs first).
pub fn wire(ex: &client::Exchange) -> Vec<WireLeg> {
    ex.legs()
        .map(|(req, resp)| {
            let mut request = format!("{} {} HTTP/1.1\n", req.method, req.target);
            for (k, v) in &req.headers {
                request.push_str(&format!("{k}: {v}\n"));
            }
            request.push('\n');
            request.push_str(&body_text(&req.body));
            let response = resp.map(|r| {
                let reason = r.reason.clone().unwrap_or_default();
                let mut s = format!("{} {} {}\n", r.version, r.status, reason);
                for (k, v) in &r.headers {
                    s.push_str(&format!("{k}: {v}\n"));
                }
                s.push('\n');
                s.push_str(&body_text(&r.body));
                s
            });
            WireLeg {
                request,
                status: resp.map(|r| r.status),
                response,
                error: if resp.is_none() {
                    ex.error.clone()
                } else {
                    None
                },
            }
        })
        .collect()
}

/// How one case ended, with everything a report shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// The case ID.
    pub id: String,
    /// The libtest name (`wsman::core::relates_to`).
    pub name: String,
    /// The title.
    pub title: String,
    /// The requirement.
    pub clause: Clause,
    /// The level.
    pub level: Level,
    /// The profiles.
    pub profiles: Vec<String>,
    /// The outcome.
    pub outcome: Outcome,
    /// Why it did not pass (or why it was skipped); `None` on a pass.
    pub message: Option<String>,
    /// What was expected, for a failure.
    pub expected: Option<String>,
    /// What came, for a failure.
    pub got: Option<String>,
    /// Wall time of the case, in microseconds.
    pub duration_us: u64,
    /// Every HTTP round trip of the case, in order.
    pub transcript: Vec<WireLeg>,
    /// The waiver that applies, if any.
    pub waiver: Option<WaiverNote>,
    /// A command that reruns this case alone.
    pub rerun: String,
    /// Rules every answer is held to that this case's answers broke.
    #[serde(default)]
    pub findings: Vec<crate::rules::RuleFinding>,
    /// What the case changed on the target and how it restored it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
}

impl CaseResult {
    /// A fail, warn or error that no waiver excuses.
    pub fn is_unwaived_problem(&self) -> bool {
        self.waiver.is_none() && matches!(self.outcome, Outcome::Fail | Outcome::Error)
    }

    /// A MUST case that failed and is not waived.
    pub fn is_required_failure(&self) -> bool {
        self.waiver.is_none() && self.outcome == Outcome::Fail && self.level == Level::Must
    }
}

/// The results of one run, in suite order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The tool that made it (`touchstone 0.1.0`).
    pub tool: String,
    /// The target URL.
    pub target: String,
    /// What Identify said the target is (vendor and version), when it answered.
    pub product: Option<String>,
    /// What discovery asked the target before the cases and what came: the
    /// capabilities every verdict rests on.
    #[serde(default)]
    pub discovery: Vec<crate::discover::Probe>,
    /// The seed of everything generated.
    pub seed: u64,
    /// Cases run at once.
    pub jobs: usize,
    /// Wall time of the run, in microseconds.
    pub duration_us: u64,
    /// One result per case, in suite order.
    pub results: Vec<CaseResult>,
    /// Set when the WS-Man target stopped answering during the run: the one message
    /// that says after which case (the cases it kept from running are errors with this
    /// same message).
    #[serde(default)]
    pub target_lost: Option<String>,
}

impl Report {
    /// How many cases ended with each outcome.
    pub fn counts(&self) -> BTreeMap<Outcome, usize> {
        let mut m: BTreeMap<Outcome, usize> = Outcome::ALL.iter().map(|o| (*o, 0)).collect();
        for r in &self.results {
            *m.entry(r.outcome).or_default() += 1;
        }
        m
    }

    /// Outcome counts per profile (a case counts in each of its profiles).
    pub fn by_profile(&self) -> BTreeMap<String, BTreeMap<Outcome, usize>> {
        let mut m: BTreeMap<String, BTreeMap<Outcome, usize>> = BTreeMap::new();
        for r in &self.results {
            for p in &r.profiles {
                *m.entry(p.clone())
                    .or_default()
                    .entry(r.outcome)
                    .or_default() += 1;
            }
        }
        m
    }

    /// Waived cases that passed.
    pub fn stale_waivers(&self) -> Vec<&CaseResult> {
        self.results
            .iter()
            .filter(|r| r.waiver.as_ref().is_some_and(|w| w.stale))
            .collect()
    }

    /// Every rule finding, with the case it is attributed to.
    pub fn findings(&self) -> impl Iterator<Item = (&CaseResult, &crate::rules::RuleFinding)> {
        self.results
            .iter()
            .flat_map(|r| r.findings.iter().map(move |f| (r, f)))
    }

    /// Unwaived rule findings: (MUST, SHOULD).
    pub fn finding_counts(&self) -> (usize, usize) {
        let open = self.findings().filter(|(_, f)| f.waiver.is_none());
        open.fold((0, 0), |(m, s), (_, f)| match f.level {
            Level::Must => (m + 1, s),
            _ => (m, s + 1),
        })
    }

    /// The CLI contract's exit code: 3 when the target stopped answering during the
    /// run, else 1 when a MUST case failed or a MUST rule was broken (unwaived), else 2
    /// when a case could not be run (unwaived error), else 0.
    pub fn exit_code(&self) -> u8 {
        if self.target_lost.is_some() {
            3
        } else if self.results.iter().any(CaseResult::is_required_failure)
            || self.findings().any(|(_, f)| f.is_required_failure())
        {
            1
        } else if self
            .results
            .iter()
            .any(|r| r.waiver.is_none() && r.outcome == Outcome::Error)
        {
            2
        } else {
            0
        }
    }
}

/// Plain text of one leg list, for terminals and JUnit system-out.
pub fn transcript_text(legs: &[WireLeg]) -> String {
    let mut s = String::new();
    for (i, l) in legs.iter().enumerate() {
        s.push_str(&format!("--- request {} ---\n{}\n", i + 1, l.request));
        match (&l.response, &l.error) {
            (Some(r), _) => s.push_str(&format!("--- response {} ---\n{}\n", i + 1, r)),
            (None, e) => s.push_str(&format!(
                "--- no response {}: {} ---\n",
                i + 1,
                e.as_deref().unwrap_or("connection closed")
            )),
        }
    }
    s
}

#[cfg(test)]
pub(crate) mod sample {
    //! A small report with every outcome, for the writers' tests.
    use super::*;

    pub fn report() -> Report {
        let result = |id: &str, outcome: Outcome, level: Level| {
            CaseResult {
            id: id.into(),
            name: crate::case::test_name(id),
            title: format!("title of {id} <&>"),
            clause: Clause {
                spec: "DSP0226 1.3".into(),
                section: "5.4 Addressing".into(),
                requirement: "answers carry \"RelatesTo\" & <more>".into(),
                id: None,
                keyword: None,
                verified: None,
            },
            level,
            profiles: vec!["core".into(), "transfer".into()],
            outcome,
            message: (outcome != Outcome::Pass).then(|| "wsa:Action: expected X, got Y".into()),
            expected: (outcome == Outcome::Fail).then(|| "X".into()),
            got: (outcome == Outcome::Fail).then(|| "Y".into()),
            duration_us: 1234,
            transcript: vec![WireLeg {
                request: "POST /wsman HTTP/1.1\n\n<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"/>".into(),
                response: Some("HTTP/1.1 200 OK\n\n<x>]]></x>".into()),
                status: Some(200),
                error: None,
            }],
            waiver: None,
            rerun: format!("touchstone check --filter {id}"),
            findings: Vec::new(),
                changes: Vec::new(),
        }
        };
        let mut waived = result("wsman.core.waived", Outcome::Pass, Level::Must);
        waived.waiver = Some(WaiverNote {
            pattern: "wsman.core.w*".into(),
            reason: "vendor quirk".into(),
            stale: true,
        });
        Report {
            tool: "touchstone 0.1.0".into(),
            target: "http://127.0.0.1:5985/wsman".into(),
            product: Some("Touchstone mock".into()),
            discovery: vec![
                crate::discover::Probe {
                    what: "Identify (authenticated)".into(),
                    offered: true,
                    detail: "Touchstone mock <0.1>".into(),
                },
                crate::discover::Probe {
                    what: "Enumerate CIM_Fan".into(),
                    offered: false,
                    detail: "fault wsa:DestinationUnreachable".into(),
                },
            ],
            seed: 42,
            jobs: 4,
            duration_us: 99_000,
            results: vec![
                result("wsman.core.pass", Outcome::Pass, Level::Must),
                result("wsman.core.fail", Outcome::Fail, Level::Must),
                result("wsman.core.warn", Outcome::Warn, Level::Should),
                result("wsman.core.skip", Outcome::Skip, Level::Must),
                result("wsman.core.error", Outcome::Error, Level::Must),
                waived,
            ],
            target_lost: None,
        }
    }

    #[test]
    fn exit_code_and_counts() {
        let mut r = report();
        assert_eq!(r.exit_code(), 1);
        assert_eq!(r.counts()[&Outcome::Pass], 2);
        assert_eq!(r.by_profile()["transfer"][&Outcome::Fail], 1);
        assert_eq!(r.stale_waivers().len(), 1);
        r.results.retain(|c| c.outcome != Outcome::Fail);
        assert_eq!(r.exit_code(), 2);
        r.results.retain(|c| c.outcome != Outcome::Error);
        assert_eq!(r.exit_code(), 0);
        // A broken SHOULD rule warns; a broken MUST rule fails the run unless waived.
        let finding = |rule: crate::rules::Rule| crate::rules::RuleFinding {
            rule: rule.id.into(),
            title: rule.title.into(),
            clause: rule.clause(),
            level: rule.level(),
            outcome: if rule.level() == Level::Must {
                Outcome::Fail
            } else {
                Outcome::Warn
            },
            message: "seen".into(),
            count: 1,
            waiver: None,
        };
        r.results[0]
            .findings
            .push(finding(crate::rules::FAULT_STATUS_CLASS));
        assert_eq!(r.exit_code(), 0);
        assert_eq!(r.finding_counts(), (0, 1));
        r.results[0]
            .findings
            .push(finding(crate::rules::FAULT_NOT_2XX));
        assert_eq!(r.exit_code(), 1);
        assert_eq!(r.finding_counts(), (1, 1));
        r.results[0].findings[1].waiver = Some(WaiverNote {
            pattern: "wsman.rule.*".into(),
            reason: "known".into(),
            stale: false,
        });
        assert_eq!(r.exit_code(), 0);
        assert_eq!(r.finding_counts(), (0, 1));
        r.target_lost = Some("gone".into());
        assert_eq!(r.exit_code(), 3);
        r.target_lost = Some("the target stopped answering after case x".into());
        assert_eq!(r.exit_code(), 3, "a lost target wins over everything");
    }
}
