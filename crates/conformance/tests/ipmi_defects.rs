//! The IPMI profiles see what they claim: every `mocks/defects/ipmi-*.toml` is the
//! default machine with one seeded IPMI defect, and its `# breaks:` line names the cases
//! that must notice it. Against that scenario exactly those cases stop passing (fail for
//! MUST, warn for SHOULD, skip for MAY); every other IPMI and cross case keeps the
//! outcome it has against the clean mock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use client::ipmi::IpmiTarget;
use conformance::case::{Level, Outcome};
use conformance::ipmi::IpmiOptions;
use conformance::{RunOptions, Suite};

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

async fn outcomes(scenario: Option<PathBuf>) -> BTreeMap<String, Outcome> {
    let b = match &scenario {
        Some(p) => mock::MockServer::builder()
            .scenario_file(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        None => mock::MockServer::builder(),
    };
    let mock = b.ipmi(true).start().await.unwrap();
    let cases = Suite::embedded()
        .unwrap()
        .select(&["ipmi-lan".into(), "cross".into()], None);
    let mut o = IpmiOptions::new(IpmiTarget::new(mock.ipmi_addr().unwrap(), "admin", "admin"));
    o.operator = Some(("operator".into(), "operator".into()));
    o.user = Some(("user".into(), "user".into()));
    o.silence = Duration::from_millis(300);
    let client =
        client::Client::new(client::Target::new(mock.url()).credentials("admin", "admin")).unwrap();
    let opts = RunOptions {
        jobs: 4,
        ipmi: Some(o),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_seeded_ipmi_defect_is_seen_by_exactly_the_cases_it_names() {
    let levels: BTreeMap<String, Level> = Suite::embedded()
        .unwrap()
        .cases
        .iter()
        .map(|c| (c.id.clone(), c.level))
        .collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mocks/defects");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("ipmi-")
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "only {} seeded IPMI defects",
        files.len()
    );
    let clean = outcomes(None).await;
    let mut set = tokio::task::JoinSet::new();
    for f in files {
        set.spawn(async move { (f.clone(), outcomes(Some(f)).await) });
    }
    let mut problems = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (file, got) = joined.unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let Some(named) = breaks(&std::fs::read_to_string(&file).unwrap()) else {
            problems.push(format!("{name}: no `# breaks:` line"));
            continue;
        };
        for id in &named {
            let Some(level) = levels.get(id) else {
                problems.push(format!("{name}: names `{id}`, which is no case"));
                continue;
            };
            if clean.get(id) != Some(&Outcome::Pass) {
                problems.push(format!(
                    "{name}: `{id}` does not pass against the clean mock"
                ));
            }
            let want = match level {
                Level::Must => Outcome::Fail,
                Level::Should => Outcome::Warn,
                Level::May => Outcome::Skip,
            };
            if got.get(id) != Some(&want) {
                problems.push(format!(
                    "{name}: `{id}` should be {} with the defect, is {:?}",
                    want.as_str(),
                    got.get(id)
                ));
            }
        }
        for (id, o) in &got {
            if clean.get(id) != Some(o) && !named.contains(id) {
                problems.push(format!(
                    "{name}: `{id}` changed from {:?} to {o:?} though the defect does not name it",
                    clean.get(id)
                ));
            }
        }
    }
    problems.sort();
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}
