//! The suite sees what it claims: every scenario of `mocks/defects/` is the default
//! machine with one seeded defect, and its header names the cases that must notice it
//! (`# breaks: ID, ID`). Against that scenario exactly those cases must stop passing
//! (fail for MUST, warn for SHOULD, skip for MAY), and every other case must keep the
//! outcome it has against the clean mock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use conformance::case::{Level, Outcome};
use conformance::{RunOptions, Suite};

fn defects_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mocks/defects")
}

/// The IDs of the `# breaks:` line of a defect file.
fn breaks(text: &str) -> Option<BTreeSet<String>> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("# breaks:"))
        .map(|ids| {
            ids.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
}

/// Runs the whole suite against a mock started with `scenario` (the default one when
/// `None`) and returns each case's outcome.
async fn outcomes(scenario: Option<PathBuf>) -> BTreeMap<String, Outcome> {
    let mock = match &scenario {
        Some(p) => mock::MockServer::builder()
            .scenario_file(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .start()
            .await
            .unwrap(),
        None => mock::MockServer::start().await.unwrap(),
    };
    let suite = Suite::embedded().unwrap();
    let cases: Vec<_> = suite
        .cases
        .into_iter()
        .filter(|c| !conformance::ipmi::needs(&c.id).1)
        .collect();
    let client =
        client::Client::new(client::Target::new(mock.url()).credentials("admin", "admin")).unwrap();
    let opts = RunOptions {
        jobs: 8,
        ..RunOptions::default()
    };
    let report = conformance::run::run(client, &cases, opts, |_| {})
        .await
        .unwrap();
    mock.shutdown().await;
    report
        .results
        .into_iter()
        .map(|r| (r.id, r.outcome))
        .collect()
}

fn broken_outcome(level: Level) -> Outcome {
    match level {
        Level::Must => Outcome::Fail,
        Level::Should => Outcome::Warn,
        Level::May => Outcome::Skip,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_seeded_defect_is_seen_by_exactly_the_cases_it_names() {
    let suite = Suite::embedded().unwrap();
    let levels: BTreeMap<String, Level> = suite
        .cases
        .iter()
        .map(|c| (c.id.clone(), c.level))
        .collect();
    let mut files: Vec<PathBuf> = std::fs::read_dir(defects_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        // IPMI defects are checked by tests/ipmi_defects.rs.
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("ipmi-")
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "only {} seeded defects in mocks/defects",
        files.len()
    );

    let clean = outcomes(None).await;
    let mut set = tokio::task::JoinSet::new();
    for f in files {
        set.spawn(async move {
            let o = outcomes(Some(f.clone())).await;
            (f, o)
        });
    }
    let mut problems = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (file, got) = joined.unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let Some(named) = breaks(&text) else {
            problems.push(format!("{name}: no `# breaks:` line"));
            continue;
        };
        if named.is_empty() {
            problems.push(format!("{name}: the `# breaks:` line names no case"));
        }
        let changed: BTreeSet<String> = got
            .iter()
            .filter(|(id, o)| clean.get(*id) != Some(o))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &named {
            let Some(level) = levels.get(id) else {
                problems.push(format!("{name}: names `{id}`, which is no case"));
                continue;
            };
            if clean.get(id) != Some(&Outcome::Pass) {
                problems.push(format!(
                    "{name}: `{id}` does not pass against the clean mock ({:?})",
                    clean.get(id)
                ));
            }
            let want = broken_outcome(*level);
            if got.get(id) != Some(&want) {
                problems.push(format!(
                    "{name}: `{id}` ({}) should be {} with the defect, is {:?}",
                    level.as_str(),
                    want.as_str(),
                    got.get(id).map(|o| o.as_str())
                ));
            }
        }
        for id in changed.difference(&named) {
            problems.push(format!(
                "{name}: `{id}` changed from {:?} to {:?} though the defect does not name it",
                clean.get(id).map(|o| o.as_str()),
                got.get(id).map(|o| o.as_str())
            ));
        }
        if !problems.is_empty() && problems.iter().any(|p| p.starts_with(&name)) {
            problems.push(format!(
                "{name}: cases whose outcome changed: {}",
                changed.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    problems.sort();
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn breaks_lines_parse() {
    let ids = breaks("# x\n# breaks: a.b, c.d-e\n[scenario]\n").unwrap();
    assert_eq!(
        ids.into_iter().collect::<Vec<_>>(),
        vec!["a.b".to_owned(), "c.d-e".to_owned()]
    );
    assert!(breaks("[scenario]\n").is_none());
}
