//! `touchstone check --targets FILE --out DIR`, `--shard` and `touchstone report merge`
//! with the built binary against mocks started in this process: a fleet of two good
//! machines, one with a seeded defect and one whose port is closed. A sharded run
//! merged equals the unsharded run (summary and per-target verdicts, timings aside),
//! for a fleet (targets sharded) and for a fleet of one (cases sharded); a target that
//! never answers ends as an error within its deadline; bad inventories and merges are
//! refused with the file (and line) named.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::DEADLINE;

/// Variables the binary reads: cleared so the tests do not depend on their shell.
const READ_VARS: [&str; 12] = [
    "TOUCHSTONE_USER",
    "TOUCHSTONE_PASSWORD",
    "TOUCHSTONE_IPMI_USER",
    "TOUCHSTONE_IPMI_PASSWORD",
    "TOUCHSTONE_IPMI_OPERATOR",
    "TOUCHSTONE_IPMI_USER_ACCOUNT",
    "TOUCHSTONE_SHARD",
    "TOUCHSTONE_SHARD_COUNT",
    "JOB_COMPLETION_INDEX",
    "CI_NODE_INDEX",
    "CI_NODE_TOTAL",
    "NO_COLOR",
];

/// `touchstone ARGS` with `envs` set (and none of the variables it reads otherwise),
/// killed past the support module's deadline.
fn touchstone(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_touchstone"));
    cmd.args(args);
    for v in READ_VARS {
        cmd.env_remove(v);
    }
    cmd.envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("the binary runs");
    let pid = child.id();
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(DEADLINE).is_err() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    });
    let out = child.wait_with_output().expect("the output is readable");
    let _ = done.send(());
    let _ = watchdog.join();
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ts-fleet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn mocks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mocks")
}

/// A port nothing listens on: bound, then closed.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn json(path: &Path) -> Value {
    let t = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&t).unwrap()
}

/// A summary without its durations.
fn untimed(mut v: Value) -> Value {
    v["duration_us"] = Value::Null;
    for t in v["targets"].as_array_mut().unwrap() {
        t["duration_us"] = Value::Null;
    }
    v
}

/// Per case of a target report: (id, outcome, message), in report order.
fn verdicts(path: &Path) -> Vec<(String, String, String)> {
    json(path)["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
                r["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

/// The defect every fleet here carries: a Delete of a missing instance answered as if
/// it worked.
const DEFECT: &str = "delete-missing-succeeds.toml";
const DEFECT_CASE: &str = "wsman.transfer.delete.missing-instance";

struct Fleet {
    _rt: tokio::runtime::Runtime,
    mocks: Vec<mock::MockServer>,
}

fn start_fleet(scenarios: &[Option<&str>]) -> Fleet {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mocks = scenarios
        .iter()
        .map(|s| {
            let b = match s {
                Some(f) => mock::MockServer::builder()
                    .scenario_file(mocks_dir().join("defects").join(f))
                    .unwrap(),
                None => mock::MockServer::builder(),
            };
            rt.block_on(b.start()).unwrap()
        })
        .collect();
    Fleet { _rt: rt, mocks }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for m in self.mocks.drain(..) {
            self._rt.block_on(m.shutdown());
        }
    }
}

const CHECK: [&str; 5] = ["--profile", "transfer", "--user", "admin", "--password"];

fn check_args<'a>(inventory: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["check", "--targets", inventory, "--out", out];
    a.extend(CHECK);
    a.push("admin");
    a.extend(extra);
    a
}

#[test]
fn a_sharded_fleet_merged_equals_the_unsharded_run() {
    let fleet = start_fleet(&[None, Some(DEFECT), None]);
    let dir = scratch("targets");
    let dead = format!("http://127.0.0.1:{}/wsman", closed_port());
    // Our CSV, in an order that is not the id order; the dead machine a chaos one.
    let mut csv = String::from(
        "id,index,scenario,hostname,wsman_url,https_url,ipmi,user,password,ipmi_user,ipmi_password,chaos\n",
    );
    let rows = [
        ("m2", fleet.mocks[2].url(), "default", ""),
        ("m0", fleet.mocks[0].url(), "default", ""),
        ("zz-dead", dead.clone(), "default", "unreachable"),
        ("m1", fleet.mocks[1].url(), "delete-missing-succeeds", ""),
    ];
    for (i, (id, url, scenario, chaos)) in rows.iter().enumerate() {
        csv.push_str(&format!(
            "{id},{i},{scenario},node-{id},{url},,,admin,admin,,,{chaos}\n"
        ));
    }
    let inv = dir.join("fleet.csv");
    std::fs::write(&inv, csv).unwrap();
    let inv = inv.to_str().unwrap();
    let all = dir.join("all");
    let out = touchstone(
        &check_args(inv, all.to_str().unwrap(), &["--jobs", "4"]),
        &[],
    );
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a MUST failure: {stdout}{}",
        text(&out.stderr)
    );
    // One line per finished target, then the table with the chaos column.
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with('[')).count(),
        4,
        "{stdout}"
    );
    assert!(
        stdout.contains("zz-dead") && stdout.contains("unreachable"),
        "{stdout}"
    );
    let summary = json(&all.join("summary.json"));
    // On a mismatch, the whole summary and the run's output say which case of which
    // target it was.
    for (key, want) in [("targets", 4), ("pass", 2), ("fail", 1), ("error", 1)] {
        assert_eq!(
            summary["totals"][key], want,
            "totals.{key}: {summary:#}\n{stdout}"
        );
    }
    let targets = summary["targets"].as_array().unwrap();
    assert_eq!(
        targets
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["m0", "m1", "m2", "zz-dead"]
    );
    let dead_entry = &targets[3];
    assert_eq!(dead_entry["verdict"], "error");
    assert_eq!(dead_entry["exit_code"], 3);
    assert_eq!(dead_entry["chaos"], "unreachable");
    assert!(
        dead_entry["message"]
            .as_str()
            .unwrap()
            .contains("unreachable")
    );
    assert_eq!(targets[1]["verdict"], "fail");
    assert_eq!(ids(&targets[1]["failed"]), [DEFECT_CASE]);
    let case = summary["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == DEFECT_CASE)
        .expect("the defect's case is listed");
    assert_eq!(case["failed"], 1);
    assert_eq!(ids(&case["failing_targets"]), ["m1"]);
    // The fleet JUnit: a suite per target.
    let junit = std::fs::read_to_string(all.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 4, "{junit}");
    assert!(
        std::fs::read_to_string(all.join("summary.html"))
            .unwrap()
            .contains("zz-dead")
    );

    // Three shards, the middle one from the environment as a CI system sets it.
    let mut shard_dirs = Vec::new();
    let mut seen = Vec::new();
    for i in 0..3 {
        let d = dir.join(format!("shard{i}"));
        let spec = format!("{i}/3");
        let mut args = check_args(inv, d.to_str().unwrap(), &["--jobs", "2"]);
        let envs: Vec<(&str, &str)> = if i == 1 {
            args.extend(["--shard", "auto"]);
            vec![
                ("JOB_COMPLETION_INDEX", "1"),
                ("TOUCHSTONE_SHARD_COUNT", "3"),
            ]
        } else {
            args.extend(["--shard", &spec]);
            vec![]
        };
        let out = touchstone(&args, &envs);
        assert!(
            matches!(out.status.code(), Some(0 | 1 | 3)),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let sf = json(&d.join("shard.json"));
        assert_eq!(sf["shard"], spec.as_str());
        assert!(sf["cases"].is_null());
        seen.extend(ids(&sf["targets"]));
        shard_dirs.push(d);
    }
    seen.sort();
    assert_eq!(
        seen,
        ["m0", "m1", "m2", "zz-dead"],
        "every target in one shard"
    );

    let merged = dir.join("merged");
    let mut args = vec!["report", "merge"];
    let names: Vec<String> = shard_dirs.iter().map(|d| d.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    args.extend(["--out", merged.to_str().unwrap()]);
    let out = touchstone(&args, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        untimed(json(&merged.join("summary.json"))),
        untimed(summary.clone()),
        "the merged summary is the unsharded one"
    );
    for id in ["m0", "m1", "m2", "zz-dead"] {
        let f = format!("targets/{id}.json");
        assert_eq!(verdicts(&merged.join(&f)), verdicts(&all.join(&f)), "{id}");
        assert!(merged.join(format!("targets/{id}.xml")).is_file());
    }
    assert!(json(&merged.join("shard.json"))["shard"].is_null());

    // A shard left out is refused, naming it.
    let out = touchstone(
        &[
            "report",
            "merge",
            &names[0],
            &names[2],
            "--out",
            dir.join("partial").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("shard(s) 1/3 missing"),
        "{}",
        text(&out.stderr)
    );
    // The same directory twice: the same shard given twice.
    let out = touchstone(
        &[
            "report",
            "merge",
            &names[0],
            &names[0],
            "--out",
            dir.join("twice").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("given twice"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn one_target_sharded_by_cases_merges_to_the_unsharded_run() {
    let fleet = start_fleet(&[Some(DEFECT)]);
    let dir = scratch("cases");
    let inv = dir.join("one.json");
    std::fs::write(
        &inv,
        format!(
            r#"{{"format": "touchstone-fleet/1", "seed": 1, "machines": [
                {{"id": "solo", "wsman_url": "{}", "ipmi": null, "chaos": null, "future": 1}}]}}"#,
            fleet.mocks[0].url()
        ),
    )
    .unwrap();
    let inv = inv.to_str().unwrap();
    let all = dir.join("all");
    let out = touchstone(&check_args(inv, all.to_str().unwrap(), &[]), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let whole = verdicts(&all.join("targets/solo.json"));
    assert!(whole.len() > 10);
    let mut names = Vec::new();
    let mut counted = 0;
    // Shards run one after the other: they share the one target.
    for i in 0..2 {
        let d = dir.join(format!("s{i}"));
        let spec = format!("{i}/2");
        let out = touchstone(
            &check_args(inv, d.to_str().unwrap(), &["--shard", &spec]),
            &[],
        );
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}",
            text(&out.stderr)
        );
        let sf = json(&d.join("shard.json"));
        let cases = ids(&sf["cases"]);
        assert_eq!(verdicts(&d.join("targets/solo.json")).len(), cases.len());
        counted += cases.len();
        names.push(d.display().to_string());
    }
    assert_eq!(
        counted,
        whole.len(),
        "the shards' cases are the whole selection"
    );
    let merged = dir.join("merged");
    let out = touchstone(
        &[
            "report",
            "merge",
            &names[1],
            &names[0],
            "--out",
            merged.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        verdicts(&merged.join("targets/solo.json")),
        whole,
        "the merged report has every case once, in suite order"
    );
    assert_eq!(
        untimed(json(&merged.join("summary.json"))),
        untimed(json(&all.join("summary.json")))
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_target_that_never_answers_ends_as_an_error_within_its_deadline() {
    // Connections are accepted by the kernel and never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/wsman", silent.local_addr().unwrap());
    let dir = scratch("silent");
    let inv = dir.join("fleet.csv");
    std::fs::write(&inv, format!("wsman_url,chaos\n{url},slow\n")).unwrap();
    let out_dir = dir.join("out");
    let started = Instant::now();
    let out = touchstone(
        &check_args(
            inv.to_str().unwrap(),
            out_dir.to_str().unwrap(),
            &["--case-timeout", "2", "-q"],
        ),
        &[],
    );
    let took = started.elapsed();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let s = json(&out_dir.join("summary.json"));
    let t = &s["targets"][0];
    assert_eq!(t["id"], "row1", "a user's CSV without ids gets row<N>");
    assert_eq!(t["verdict"], "error");
    assert!(
        t["message"].as_str().unwrap().contains("unreachable"),
        "{t}"
    );
    // -q: no line per target, the summary still.
    assert!(!text(&out.stdout).contains("[1/1]"));
    assert!(text(&out.stdout).contains("1 targets: 0 passed, 0 failed, 1 errors"));
    drop(silent);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_inventories_shards_and_flags_are_refused_precisely() {
    let dir = scratch("bad");
    let out_dir = dir.join("out");
    let o = out_dir.to_str().unwrap();
    let inv = dir.join("fleet.csv");
    std::fs::write(&inv, "id,wsman_url\nok,http://127.0.0.1:1/wsman\nbad,\n").unwrap();
    let i = inv.to_str().unwrap();
    let out = touchstone(&["check", "--targets", i, "--out", o], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{i}:3: machine `bad`")), "{err}");
    std::fs::write(&inv, "id,wsman_url\nok,http://127.0.0.1:1/wsman\n").unwrap();
    // --shard auto with nothing set names the variables.
    let out = touchstone(
        &["check", "--targets", i, "--out", o, "--shard", "auto"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("JOB_COMPLETION_INDEX"),
        "{}",
        text(&out.stderr)
    );
    for args in [
        vec!["check", "--targets", i],
        vec![
            "check",
            "--targets",
            i,
            "--out",
            o,
            "--target",
            "http://h/wsman",
        ],
        vec!["check", "--targets", i, "--out", o, "--shard", "3/3"],
        vec!["check", "--case-jobs", "2"],
    ] {
        let out = touchstone(&args, &[]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // A directory that is no fleet output.
    let out = touchstone(&["report", "merge", i, "--out", o], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("shard.json"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn one_targets_cases_are_sharded_with_target_too() {
    // `--target URL --shard I/N --list`: the shards' lists partition the selection.
    let base = [
        "check",
        "--target",
        "http://127.0.0.1:1/wsman",
        "--profile",
        "transfer",
        "--list",
    ];
    let list = |extra: &[&str]| -> Vec<String> {
        let mut a = base.to_vec();
        a.extend(extra);
        let out = touchstone(&a, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(|l| l.split_whitespace().next().unwrap().to_owned())
            .collect()
    };
    let whole = list(&[]);
    let a = list(&["--shard", "0/2"]);
    let b = list(&[]).len();
    let c = touchstone(
        &[&base[..], &["--shard", "auto"]].concat(),
        &[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "2")],
    );
    let c: Vec<String> = text(&c.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(b, whole.len());
    assert!(!a.is_empty() && !c.is_empty());
    let mut both: Vec<String> = a.iter().chain(&c).cloned().collect();
    both.sort();
    let mut sorted = whole.clone();
    sorted.sort();
    assert_eq!(
        both, sorted,
        "shard 0/2 and GitLab's node 2 of 2 cover the selection once"
    );
}

/// The inventory `serve --fleet` writes is what `check --targets` reads: a fleet of 8
/// with one unreachable machine and one whose password is not the inventory's is
/// checked with the inventory's own credentials; the six healthy machines pass, the
/// two broken ones are errors with their chaos beside them, and the exit code says a
/// target could not be reached (3).
#[test]
fn a_served_fleets_inventory_is_checked_machine_by_machine() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut config = mock::fleet::FleetConfig::new(
        mock::Scenario::default_scenario(),
        mock::scenario::DEFAULT_TOML.into(),
        8,
    );
    config.spec.first_ip = std::net::Ipv4Addr::new(127, 9, 0, 1);
    config.spec.http_port = Some(0);
    config.spec.ipmi_port = None;
    config.spec.chaos.unreachable = 0.125;
    config.spec.chaos.wrong_credentials = 0.125;
    let fleet = rt
        .block_on(mock::fleet::Fleet::start(config))
        .expect("the fleet starts");
    let dir = scratch("served-fleet");
    let inventory = dir.join("fleet.json");
    fleet.inventory().write(&inventory).unwrap();
    let out = dir.join("out");
    let run = touchstone(
        &[
            "check",
            "--targets",
            inventory.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--profile",
            "core",
            "--case-timeout",
            "5",
        ],
        &[],
    );
    assert_eq!(run.status.code(), Some(3), "{}", text(&run.stderr));
    let summary = json(&out.join("summary.json"));
    let targets = summary["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 8);
    for t in targets {
        let chaos = t["chaos"].as_str();
        let verdict = t["verdict"].as_str().unwrap();
        match chaos {
            None => assert_eq!(verdict, "pass", "{t}"),
            Some("unreachable" | "wrong-credentials") => assert_eq!(verdict, "error", "{t}"),
            Some(other) => panic!("unexpected chaos {other}: {t}"),
        }
        assert!(
            out.join("targets")
                .join(format!("{}.json", t["id"].as_str().unwrap()))
                .exists()
        );
    }
    assert_eq!(targets.iter().filter(|t| t["verdict"] == "pass").count(), 6);
    rt.block_on(fleet.shutdown());
}
