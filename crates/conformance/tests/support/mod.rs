//! Support shared by the conformance integration tests: running cases against an
//! embedded mock, and judging the seeded defects of `mocks/defects/`.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use client::ipmi::IpmiTarget;
use conformance::ipmi::IpmiOptions;
use conformance::{Case, CaseResult, Level, Outcome, Report, RunOptions, Suite};

/// The WS-Man cases (the IPMI and cross profiles need an IPMI target).
pub fn wsman_cases() -> Vec<Case> {
    Suite::embedded()
        .unwrap()
        .cases
        .into_iter()
        .filter(|c| !conformance::ipmi::needs(&c.id).1)
        .collect()
}

/// IPMI options for the default scenario's accounts (admin, operator and user, each
/// with its name as password) and a short silence.
pub fn ipmi_options(addr: SocketAddr) -> IpmiOptions {
    let mut o = IpmiOptions::new(IpmiTarget::new(addr, "admin", "admin"));
    o.operator = Some(("operator".into(), "operator".into()));
    o.user = Some(("user".into(), "user".into()));
    o.silence = Duration::from_millis(300);
    o
}

/// Runs `cases` with `opts` against the WS-Man endpoint at `url` as admin.
pub async fn run(url: &str, cases: &[Case], opts: RunOptions) -> Report {
    let client =
        client::Client::new(client::Target::new(url).credentials("admin", "admin")).unwrap();
    conformance::run::run(client, cases, opts, |_| {})
        .await
        .unwrap()
}

/// Each case's outcome, and for each rule every answer is held to that some answer
/// broke, `#RULE-ID` with the finding's outcome (fail for MUST, warn for SHOULD).
pub fn outcomes(report: Report) -> BTreeMap<String, Outcome> {
    let mut m: BTreeMap<String, Outcome> = BTreeMap::new();
    for r in report.results {
        for f in &r.findings {
            m.insert(format!("#{}", f.rule), f.outcome);
        }
        m.insert(r.id, r.outcome);
    }
    m
}

/// `ID Outcome: message` of each result `keep` selects that did not pass.
pub fn not_passing(report: &Report, keep: impl Fn(&CaseResult) -> bool) -> Vec<String> {
    report
        .results
        .iter()
        .filter(|r| keep(r) && r.outcome != Outcome::Pass)
        .map(|r| {
            format!(
                "{} {:?}: {}",
                r.id,
                r.outcome,
                r.message.as_deref().unwrap_or_default()
            )
        })
        .collect()
}

/// The seeded defect scenarios, sorted: the IPMI ones (`ipmi-*.toml`) or the others.
pub fn defect_files(ipmi: bool) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mocks/defects");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("ipmi-")
                == ipmi
        })
        .collect();
    files.sort();
    files
}

/// The IDs of the `# breaks:` line of a defect file.
pub fn breaks(text: &str) -> Option<BTreeSet<String>> {
    listed(text, "# breaks:")
}

/// The IDs of the `# skips:` line of a defect file: cases that pass against the clean
/// mock and no longer apply with the defect (discovery no longer finds what they need).
pub fn skips(text: &str) -> BTreeSet<String> {
    listed(text, "# skips:").unwrap_or_default()
}

fn listed(text: &str, prefix: &str) -> Option<BTreeSet<String>> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .map(|ids| {
            ids.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
}

/// The outcome a case of `level` has when the defect it checks is there.
pub fn broken_outcome(level: Level) -> Outcome {
    match level {
        Level::Must => Outcome::Fail,
        Level::Should => Outcome::Warn,
        Level::May => Outcome::Skip,
    }
}

/// How many defect scenarios [`defect_problems`] runs the suite against at once.
const DEFECT_RUNS_AT_ONCE: usize = 12;

/// Runs `outcomes` against the clean mock (`None`) and against each defect file (in
/// parallel), and returns what is wrong: a defect file without a `# breaks:` line or
/// naming no case or an unknown one, a named case that does not pass when clean or
/// does not stop passing with the defect, or a case the defect changes unnamed.
pub async fn defect_problems<F, Fut>(files: Vec<PathBuf>, outcomes: F) -> Vec<String>
where
    F: Fn(Option<PathBuf>) -> Fut,
    Fut: Future<Output = BTreeMap<String, Outcome>> + Send + 'static,
{
    let mut levels: BTreeMap<String, Level> = Suite::embedded()
        .unwrap()
        .cases
        .iter()
        .map(|c| (c.id.clone(), c.level))
        .collect();
    // A rule is named `#RULE-ID`; it "passes" when no answer broke it.
    for r in conformance::rules::ALL {
        levels.insert(format!("#{}", r.id), r.level());
    }
    let clean = outcomes(None).await;
    // A bounded number of runs at once: every run has timed cases (heartbeats within
    // their interval and slack), and forty suites at once on two cores in a debug
    // build made a correct mock's heartbeats late.
    let at_once = std::sync::Arc::new(tokio::sync::Semaphore::new(DEFECT_RUNS_AT_ONCE));
    let mut set = tokio::task::JoinSet::new();
    for f in files {
        let run = outcomes(Some(f.clone()));
        let at_once = at_once.clone();
        set.spawn(async move {
            let _turn = at_once.acquire_owned().await.expect("never closed");
            (f, run.await)
        });
    }
    let mut problems = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (file, got) = joined.unwrap();
        problems.extend(judge(&file, &got, &clean, &levels));
    }
    problems.sort();
    problems
}

/// What is wrong with the outcomes `got` against the defect scenario `file`.
fn judge(
    file: &Path,
    got: &BTreeMap<String, Outcome>,
    clean: &BTreeMap<String, Outcome>,
    levels: &BTreeMap<String, Level>,
) -> Vec<String> {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(file).unwrap();
    let Some(named) = breaks(&text) else {
        return vec![format!("{name}: no `# breaks:` line")];
    };
    let mut problems = Vec::new();
    if named.is_empty() {
        problems.push(format!("{name}: the `# breaks:` line names no case"));
    }
    let changed: BTreeSet<String> = got
        .iter()
        .filter(|(id, o)| clean.get(*id) != Some(o))
        .map(|(id, _)| id.clone())
        .chain(
            clean
                .keys()
                .filter(|id| id.starts_with('#') && !got.contains_key(*id))
                .cloned(),
        )
        .collect();
    for id in &named {
        let Some(level) = levels.get(id) else {
            problems.push(format!("{name}: names `{id}`, which is no case"));
            continue;
        };
        let clean_outcome = match clean.get(id) {
            None if id.starts_with('#') => Some(&Outcome::Pass),
            other => other,
        };
        if clean_outcome != Some(&Outcome::Pass) {
            problems.push(format!(
                "{name}: `{id}` does not pass against the clean mock ({:?})",
                clean.get(id)
            ));
        }
        let want = match (id.starts_with('#'), level) {
            (true, Level::Must) => Outcome::Fail,
            (true, _) => Outcome::Warn,
            (false, l) => broken_outcome(*l),
        };
        if got.get(id) != Some(&want) {
            problems.push(format!(
                "{name}: `{id}` ({}) should be {} with the defect, is {:?}",
                level.as_str(),
                want.as_str(),
                got.get(id).map(|o| o.as_str())
            ));
        }
    }
    let skipped = skips(&text);
    for id in &skipped {
        if clean.get(id) != Some(&Outcome::Pass) || got.get(id) != Some(&Outcome::Skip) {
            problems.push(format!(
                "{name}: `{id}` is on the `# skips:` line but went from {:?} to {:?}",
                clean.get(id).map(|o| o.as_str()),
                got.get(id).map(|o| o.as_str())
            ));
        }
    }
    let named: BTreeSet<String> = named.union(&skipped).cloned().collect();
    for id in changed.difference(&named) {
        problems.push(format!(
            "{name}: `{id}` changed from {:?} to {:?} though the defect does not name it",
            clean.get(id).map(|o| o.as_str()),
            got.get(id).map(|o| o.as_str())
        ));
    }
    if !problems.is_empty() {
        problems.push(format!(
            "{name}: cases whose outcome changed: {}",
            changed.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    problems
}
