//! `touchstone report merge DIR... --out OUT`: the output directories of the shards of
//! one fleet run (each `targets/`, `summary.json`, `shard.json`) merged into one
//! directory of the same layout, equal to what the unsharded run writes (durations
//! aside).
//!
//! A target checked by one shard has its files copied. A target whose cases were
//! sharded (a fleet of one) appears in several directories: its reports are merged
//! into one, cases back in suite order (`shard.json`'s `selected`), and its summary
//! entry recomputed from the merged report. The summary, the fleet JUnit and the HTML
//! page are then written from the merged entries, as a run writes them.
//!
//! Refused, with the directory named: a directory that is not a fleet output, shards
//! of different splits (`1/3` beside `0/2`), the same shard twice, a missing shard of
//! a split, and a target in two directories whose cases were not sharded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::Report;
use super::fleet::{FleetSummary, ShardFile, TargetEntry, junit_string, junit_suite, write_dir};
use crate::shard::Shard;

/// Why directories could not be merged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not what a fleet run writes.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The directories do not make one run.
    #[error("{0}")]
    Inconsistent(String),
}

/// One input directory, read.
struct Input {
    dir: PathBuf,
    shard: Option<Shard>,
    file: ShardFile,
    summary: FleetSummary,
}

fn read(path: &Path) -> Result<String, MergeError> {
    std::fs::read_to_string(path).map_err(|source| MergeError::Io {
        path: path.to_owned(),
        source,
    })
}

fn read_input(dir: &Path) -> Result<Input, MergeError> {
    let format = |path: &Path, message: String| MergeError::Format {
        path: path.to_owned(),
        message,
    };
    let sp = dir.join("shard.json");
    let file: ShardFile = serde_json::from_str(&read(&sp)?)
        .map_err(|e| format(&sp, format!("not a touchstone shard file: {e}")))?;
    let shard = match &file.shard {
        Some(s) => Some(
            s.parse::<Shard>()
                .map_err(|e| format(&sp, format!("shard {e}")))?,
        ),
        None => None,
    };
    let mp = dir.join("summary.json");
    let summary = FleetSummary::from_json(&read(&mp)?)
        .map_err(|e| format(&mp, format!("not a touchstone fleet summary: {e}")))?;
    let listed: BTreeSet<&str> = file.targets.iter().map(String::as_str).collect();
    let summarised: BTreeSet<&str> = summary.targets.iter().map(|t| t.id.as_str()).collect();
    if listed != summarised {
        return Err(format(
            &mp,
            "its targets are not those shard.json lists (an interrupted run?)".into(),
        ));
    }
    Ok(Input {
        dir: dir.to_owned(),
        shard,
        file,
        summary,
    })
}

/// Checks that the shards given make whole splits: one count, every index once.
fn check_shards(inputs: &[Input]) -> Result<(), MergeError> {
    let sharded: Vec<(&Input, Shard)> = inputs
        .iter()
        .filter_map(|i| i.shard.map(|s| (i, s)))
        .collect();
    let Some((_, first)) = sharded.first() else {
        return Ok(());
    };
    let mut seen: BTreeMap<usize, &Path> = BTreeMap::new();
    for (input, s) in &sharded {
        if s.count != first.count {
            return Err(MergeError::Inconsistent(format!(
                "{} is shard {s} but {} is shard {first}: not one split",
                input.dir.display(),
                sharded[0].0.dir.display()
            )));
        }
        if let Some(other) = seen.insert(s.index, &input.dir) {
            return Err(MergeError::Inconsistent(format!(
                "shard {s} is given twice: {} and {}",
                other.display(),
                input.dir.display()
            )));
        }
    }
    let missing: Vec<String> = (0..first.count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{}", first.count))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Inconsistent(format!(
            "shard(s) {} missing: the merge would not be the whole run",
            missing.join(", ")
        )));
    }
    Ok(())
}

fn report_of(dir: &Path, id: &str) -> Result<Report, MergeError> {
    let p = dir.join("targets").join(format!("{id}.json"));
    super::json::from_str(&read(&p)?).map_err(|e| MergeError::Format {
        path: p,
        message: format!("not a touchstone JSON report: {e}"),
    })
}

fn write(path: &Path, text: &str) -> Result<(), MergeError> {
    std::fs::write(path, text).map_err(|source| MergeError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Merges the reports of one target whose cases were sharded: cases back in the
/// order of `selected`, every case once.
fn merge_reports(id: &str, parts: Vec<(&Input, Report)>) -> Result<Report, MergeError> {
    let selected = parts.iter().find_map(|(i, _)| i.file.selected.clone());
    let mut seen: BTreeMap<String, &Path> = BTreeMap::new();
    let mut results = Vec::new();
    let mut merged: Option<Report> = None;
    for (input, mut report) in parts {
        for r in report.results.drain(..) {
            if let Some(other) = seen.insert(r.id.clone(), &input.dir) {
                return Err(MergeError::Inconsistent(format!(
                    "case {} of target {id} is in both {} and {}",
                    r.id,
                    other.display(),
                    input.dir.display()
                )));
            }
            results.push(r);
        }
        merged = Some(match merged {
            None => report,
            Some(mut m) => {
                m.duration_us = m.duration_us.max(report.duration_us);
                m.product = m.product.or(report.product);
                if m.discovery.is_empty() {
                    m.discovery = report.discovery;
                }
                m.target_lost = m.target_lost.or(report.target_lost);
                m
            }
        });
    }
    let mut m = merged.unwrap_or_else(|| unreachable_report(id));
    if let Some(order) = selected {
        let pos: BTreeMap<&str, usize> = order
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        results.sort_by_key(|r| pos.get(r.id.as_str()).copied().unwrap_or(usize::MAX));
    }
    m.results = results;
    Ok(m)
}

/// Never used: a target has at least one part. Keeps `merge_reports` total.
fn unreachable_report(id: &str) -> Report {
    Report {
        tool: String::new(),
        target: id.to_owned(),
        product: None,
        discovery: Vec::new(),
        seed: 0,
        jobs: 1,
        duration_us: 0,
        results: Vec::new(),
        target_lost: None,
    }
}

/// Merges `dirs` into `out` (created if needed) and returns the merged summary.
pub fn merge(dirs: &[PathBuf], out: &Path, tool: &str) -> Result<FleetSummary, MergeError> {
    let mut inputs = dirs
        .iter()
        .map(|d| read_input(d))
        .collect::<Result<Vec<_>, _>>()?;
    check_shards(&inputs)?;
    // Shard order, so the first part of a case-sharded target is shard 0's (the one
    // that ran discovery's destructive neighbours too).
    inputs.sort_by_key(|i| i.shard.map(|s| s.index));
    let targets_dir = out.join("targets");
    std::fs::create_dir_all(&targets_dir).map_err(|source| MergeError::Io {
        path: targets_dir.clone(),
        source,
    })?;
    let mut by_id: BTreeMap<&str, Vec<(&Input, &TargetEntry)>> = BTreeMap::new();
    for input in &inputs {
        for t in &input.summary.targets {
            by_id.entry(&t.id).or_default().push((input, t));
        }
    }
    let mut entries = Vec::with_capacity(by_id.len());
    let mut suites = Vec::with_capacity(by_id.len());
    for (id, parts) in by_id {
        let (entry, report) = if let [(input, entry)] = parts[..] {
            let report = report_of(&input.dir, id)?;
            for ext in ["json", "xml"] {
                let from = input.dir.join("targets").join(format!("{id}.{ext}"));
                let to = targets_dir.join(format!("{id}.{ext}"));
                std::fs::copy(&from, &to)
                    .map_err(|source| MergeError::Io { path: from, source })?;
            }
            (entry.clone(), report)
        } else {
            if let Some((input, _)) = parts.iter().find(|(i, _)| i.file.cases.is_none()) {
                let dirs: Vec<String> = parts
                    .iter()
                    .map(|(i, _)| i.dir.display().to_string())
                    .collect();
                return Err(MergeError::Inconsistent(format!(
                    "target {id} is in {} whose cases were not sharded ({} all hold it): \
                     the same target checked twice",
                    input.dir.display(),
                    dirs.join(", ")
                )));
            }
            let run_error = parts
                .iter()
                .find(|(_, e)| e.exit_code == 3 && e.message.is_some())
                .map(|(_, e)| e.exit_code);
            let first = parts[0].1;
            let mut reports = Vec::with_capacity(parts.len());
            for (input, _) in &parts {
                reports.push((*input, report_of(&input.dir, id)?));
            }
            let merged = merge_reports(id, reports)?;
            // A part that could not start (unreachable, credentials) keeps its reason;
            // a lost target is the merged report's own.
            let run_error = run_error.and_then(|code| {
                parts
                    .iter()
                    .filter_map(|(_, e)| e.message.clone())
                    .find(|m| Some(m) != merged.target_lost.as_ref())
                    .map(|m| (code, m))
            });
            let entry = TargetEntry::from_report(
                id,
                first.scenario.clone(),
                first.chaos.clone(),
                &merged,
                run_error,
            );
            write(
                &targets_dir.join(format!("{id}.json")),
                &super::json::to_string(&merged),
            )?;
            write(
                &targets_dir.join(format!("{id}.xml")),
                &super::junit::to_string(&merged),
            )?;
            (entry, merged)
        };
        suites.push(junit_suite(&entry, &report));
        entries.push(entry);
    }
    let duration = inputs
        .iter()
        .map(|i| i.summary.duration_us)
        .max()
        .unwrap_or(0);
    let summary = FleetSummary::new(tool, entries, duration);
    let file = ShardFile {
        shard: None,
        targets: summary.targets.iter().map(|t| t.id.clone()).collect(),
        cases: None,
        selected: None,
    };
    write_dir(out, &summary, &junit_string(suites, duration), &file).map_err(|source| {
        MergeError::Io {
            path: out.to_owned(),
            source,
        }
    })?;
    Ok(summary)
}
