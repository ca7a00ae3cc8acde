//! `deploy/` stays runnable (issue 17): the Kubernetes manifests validate against the
//! Kubernetes schemas, the GitHub Actions and GitLab CI files against theirs, the three
//! agree on what matters for sharding (every shard index 0..N-1 runs, with the shard
//! variable built from it, the merge waits for all of them and reads where they wrote),
//! and `deploy/local-shards.sh` runs the sharding end to end against mock targets.
//!
//! A libtest-mimic harness, like `readme.rs`, so that a check whose tool is missing
//! (`kubernetes-validate`, `check-jsonschema`, PyYAML: `pip install ...`) is reported
//! as ignored with the reason and the install command, except under `CI=true`, where it
//! fails (`.ci/run` installs them). The tools work offline: `kubernetes-validate`
//! bundles the schemas of Kubernetes 1.25 to 1.37, `check-jsonschema` the vendors'
//! workflow schemas.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _};
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use serde_json::Value;

/// How long one external tool may run.
const DEADLINE: Duration = Duration::from_secs(120);

/// The oldest Kubernetes the manifests are written for: `podFailurePolicy` is GA from
/// 1.31 (deploy/README.md says so). They are also validated against the newest schemas
/// `kubernetes-validate` bundles (its default).
const OLDEST_KUBERNETES: &str = "1.31";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn deploy(rel: &str) -> PathBuf {
    root().join("deploy").join(rel)
}

fn in_ci() -> bool {
    std::env::var("CI")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// What a finished (or killed) process left.
struct Ran {
    /// `None` when it was killed at the deadline.
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn show(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` in its own process group, killed (with everything it started) when
/// [`DEADLINE`] passes. `Err` when it cannot be started.
fn run(cmd: &mut Command) -> Result<Ran, String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let pgid = child.id();
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(DEADLINE).is_err() {
            let _ = Command::new("kill")
                .args(["-9", "--", &format!("-{pgid}")])
                .status();
            return true;
        }
        false
    });
    let mut stderr = child.stderr.take().expect("piped");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut stdout = String::new();
    let _ = child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut stdout);
    let status = child.wait().map_err(|e| format!("{program}: {e}"))?;
    let _ = done.send(());
    let killed = watchdog.join().unwrap_or(true);
    Ok(Ran {
        code: if killed { None } else { status.code() },
        stdout,
        stderr: err_reader.join().unwrap_or_default(),
    })
}

/// A tool a check needs, probed when the check runs.
struct Tool {
    /// The probe: exits 0 when the tool is there.
    probe: &'static [&'static str],
    /// What is missing when the probe fails.
    what: &'static str,
    /// How to install it.
    install: &'static str,
}

const KUBERNETES_VALIDATE: Tool = Tool {
    probe: &["kubernetes-validate", "--version"],
    what: "kubernetes-validate is not installed",
    install: "python3 -m pip install kubernetes-validate",
};
const PYYAML: Tool = Tool {
    probe: &["python3", "-c", "import yaml"],
    what: "PyYAML is not installed",
    install: "python3 -m pip install PyYAML",
};
const CHECK_JSONSCHEMA: Tool = Tool {
    probe: &["check-jsonschema", "--version"],
    what: "check-jsonschema is not installed",
    install: "python3 -m pip install check-jsonschema",
};

/// `None` when every tool is there; else why not (the test is then ignored with that
/// reason) or, under `CI=true`, the failure.
fn missing(tools: &[&Tool]) -> Result<Option<String>, Failed> {
    for tool in tools {
        let ok = run(Command::new(tool.probe[0]).args(&tool.probe[1..]))
            .is_ok_and(|r| r.code == Some(0));
        if !ok {
            let why = format!("{} ({})", tool.what, tool.install);
            if in_ci() {
                return Err(
                    format!("{why}; CI=true, so this is a failure (.ci/run installs it)").into(),
                );
            }
            return Ok(Some(why));
        }
    }
    Ok(None)
}

/// A trial that needs `tools`: ignored with the reason when one is missing (failed
/// under `CI=true`).
fn needing(name: &str, tools: &'static [&'static Tool], body: fn() -> Result<(), Failed>) -> Trial {
    Trial::ignorable_test(name, move || match missing(tools)? {
        Some(why) => Ok(Completion::ignored_with(why)),
        None => body().map(|()| Completion::Completed),
    })
}

/// Every YAML document of `path`, as JSON (through PyYAML's safe loader).
fn yaml_docs(path: &Path) -> Result<Vec<Value>, Failed> {
    let script = "import json, sys, yaml\n\
                  with open(sys.argv[1], encoding='utf-8') as f:\n    \
                  json.dump(list(yaml.safe_load_all(f)), sys.stdout)";
    let ran = run(Command::new("python3").args(["-c", script]).arg(path))?;
    if ran.code != Some(0) {
        return Err(format!("{}: does not parse as YAML: {}", path.display(), ran.show()).into());
    }
    let docs: Vec<Value> = serde_json::from_str(&ran.stdout)
        .map_err(|e| format!("{}: PyYAML's JSON: {e}", path.display()))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

fn yaml_doc(path: &Path) -> Result<Value, Failed> {
    let mut docs = yaml_docs(path)?;
    if docs.len() != 1 {
        return Err(format!("{}: {} documents, expected 1", path.display(), docs.len()).into());
    }
    Ok(docs.remove(0))
}

/// `v` at the `/`-separated JSON pointer, or a failure naming `what`.
fn at<'a>(v: &'a Value, pointer: &str, what: &str) -> Result<&'a Value, Failed> {
    v.pointer(pointer)
        .ok_or_else(|| format!("{what}: no {pointer}").into())
}

fn str_at<'a>(v: &'a Value, pointer: &str, what: &str) -> Result<&'a str, Failed> {
    at(v, pointer, what)?
        .as_str()
        .ok_or_else(|| format!("{what}: {pointer} is not a string").into())
}

fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), Failed> {
    if cond { Ok(()) } else { Err(msg().into()) }
}

/// The manifests of `deploy/kubernetes/`, sorted.
fn manifests() -> Result<Vec<PathBuf>, Failed> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy("kubernetes"))
        .map_err(|e| format!("deploy/kubernetes: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    ensure(!files.is_empty(), || {
        "deploy/kubernetes has no manifest".into()
    })?;
    Ok(files)
}

/// `kubernetes-validate --strict` (unknown fields are errors) against the oldest
/// supported Kubernetes and the newest bundled one: every resource of every manifest
/// passes, and a broken copy of the Job does not (so the validator really looked).
fn kubernetes_manifests_validate() -> Result<(), Failed> {
    let files = manifests()?;
    let mut resources = 0;
    for f in &files {
        resources += yaml_docs(f)?.len();
    }
    for version in [Some(OLDEST_KUBERNETES), None] {
        let mut cmd = Command::new("kubernetes-validate");
        cmd.arg("--strict");
        if let Some(v) = version {
            cmd.args(["-k", v]);
        }
        let ran = run(cmd.args(&files))?;
        let against = version.unwrap_or("its default version");
        ensure(ran.code == Some(0), || {
            format!("kubernetes-validate against {against}: {}", ran.show())
        })?;
        let passed = ran
            .stdout
            .lines()
            .chain(ran.stderr.lines())
            .filter(|l| l.contains(" passed for resource "))
            .count();
        ensure(passed == resources, || {
            format!(
                "kubernetes-validate against {against}: {passed} resources passed, the \
                 manifests hold {resources}: {}",
                ran.show()
            )
        })?;
    }
    // The control: the same Job with a field of the wrong type and an unknown field.
    let job = std::fs::read_to_string(deploy("kubernetes/20-certify-job.yaml"))?;
    let broken = job
        .replacen("  completions: ", "  completions: \"many\"\n  # was: ", 1)
        .replacen("  parallelism:", "  paralelism:", 1);
    ensure(broken != job, || "the control edit did not apply".into())?;
    let dir = scratch("k8s-control")?;
    let path = dir.join("broken-job.yaml");
    std::fs::write(&path, broken)?;
    let ran = run(Command::new("kubernetes-validate")
        .arg("--strict")
        .arg(&path))?;
    let _ = std::fs::remove_dir_all(&dir);
    ensure(ran.code == Some(1), || {
        format!("a Job with completions: \"many\" validated: {}", ran.show())
    })
}

/// The resources of `deploy/kubernetes/` by `Kind/name`.
fn kubernetes_resources() -> Result<BTreeMap<String, Value>, Failed> {
    let mut out = BTreeMap::new();
    for f in manifests()? {
        for doc in yaml_docs(&f)? {
            let kind = str_at(&doc, "/kind", &f.display().to_string())?.to_owned();
            let name = str_at(&doc, "/metadata/name", &f.display().to_string())?.to_owned();
            out.insert(format!("{kind}/{name}"), doc);
        }
    }
    Ok(out)
}

/// The `value` of the environment variable `name` of a container.
fn container_env<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e.get("value").unwrap_or(&e["valueFrom"]))
}

/// The script of a `sh -c` container, or a failure.
fn shell_script<'a>(container: &'a Value, what: &str) -> Result<&'a str, Failed> {
    ensure(
        container["command"] == serde_json::json!(["/bin/sh", "-c"]),
        || {
            format!(
                "{what}: command is {}, expected [/bin/sh, -c]",
                container["command"]
            )
        },
    )?;
    str_at(container, "/args/0", what)
}

/// The Indexed Job and the merge Job agree with each other and with the objects they
/// name: N = completions = TOUCHSTONE_SHARD_COUNT (both Jobs); each shard checks
/// `--shard auto` into `/results/shard-${JOB_COMPLETION_INDEX}` on the claim the PVC
/// manifest declares; the merge reads `/results/shard-$i` for i in 0..N-1 from the
/// same claim; the inventory path and the Secret exist.
fn kubernetes_jobs_agree() -> Result<(), Failed> {
    let all = kubernetes_resources()?;
    let get = |key: &str| -> Result<&Value, Failed> {
        all.get(key).ok_or_else(|| {
            format!("deploy/kubernetes has no {key} (it has {:?})", all.keys()).into()
        })
    };
    let job = get("Job/touchstone-certify")?;
    let merge = get("Job/touchstone-merge")?;
    let what = "Job/touchstone-certify";
    ensure(job["spec"]["completionMode"] == "Indexed", || {
        format!(
            "{what}: completionMode is {}",
            job["spec"]["completionMode"]
        )
    })?;
    let n = at(job, "/spec/completions", what)?
        .as_u64()
        .ok_or_else(|| format!("{what}: completions is not a number"))?;
    let parallelism = at(job, "/spec/parallelism", what)?.as_u64().unwrap_or(0);
    ensure(n >= 2 && (1..=n).contains(&parallelism), || {
        format!("{what}: completions {n}, parallelism {parallelism}")
    })?;
    for key in ["backoffLimit", "activeDeadlineSeconds"] {
        ensure(job["spec"][key].is_u64(), || format!("{what}: no {key}"))?;
    }
    let pod = &job["spec"]["template"]["spec"];
    ensure(pod["restartPolicy"] == "Never", || {
        format!(
            "{what}: restartPolicy {} (podFailurePolicy needs Never)",
            pod["restartPolicy"]
        )
    })?;
    let container = at(pod, "/containers/0", what)?;
    ensure(
        container_env(container, "TOUCHSTONE_SHARD_COUNT") == Some(&Value::from(n.to_string())),
        || {
            format!(
                "{what}: TOUCHSTONE_SHARD_COUNT is {:?}, completions {n}",
                container_env(container, "TOUCHSTONE_SHARD_COUNT")
            )
        },
    )?;
    let script = shell_script(container, what)?;
    for needle in [
        "--shard auto",
        "out=\"/results/shard-${JOB_COMPLETION_INDEX}\"",
        "--out \"$out\"",
    ] {
        ensure(script.contains(needle), || {
            format!("{what}: the script lacks `{needle}`:\n{script}")
        })?;
    }
    // The inventory the script names is the key of the ConfigMap mounted there.
    let targets = script
        .split("--targets ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .ok_or_else(|| format!("{what}: no --targets in the script"))?;
    let (mount_dir, key) = targets
        .rsplit_once('/')
        .ok_or_else(|| format!("{what}: --targets {targets} is not DIR/FILE"))?;
    let mounts = |c: &Value, path: &str| -> Option<String> {
        c["volumeMounts"]
            .as_array()?
            .iter()
            .find(|m| m["mountPath"] == path)
            .and_then(|m| m["name"].as_str().map(str::to_owned))
    };
    let volume = |p: &Value, name: &str| -> Option<Value> {
        p["volumes"]
            .as_array()?
            .iter()
            .find(|v| v["name"] == name)
            .cloned()
    };
    let inv_volume = mounts(container, mount_dir)
        .and_then(|name| volume(pod, &name))
        .ok_or_else(|| format!("{what}: nothing mounted at {mount_dir}"))?;
    let config_map = str_at(&inv_volume, "/configMap/name", what)?;
    let inventory = get(&format!("ConfigMap/{config_map}"))?;
    let csv = str_at(
        inventory,
        &format!("/data/{key}"),
        "the inventory ConfigMap",
    )?;
    let header: Vec<&str> = csv.lines().next().unwrap_or("").split(',').collect();
    ensure(
        header.contains(&"id") && (header.contains(&"wsman_url") || header.contains(&"ipmi")),
        || format!("the inventory's header {header:?} lacks id and wsman_url or ipmi"),
    )?;
    let secret = str_at(container, "/envFrom/0/secretRef/name", what)?;
    get(&format!("Secret/{secret}"))?;

    // The shared volume: the PVC the manifests declare, at /results in both Jobs.
    let claim_of = |job: &Value, what: &str| -> Result<String, Failed> {
        let pod = &job["spec"]["template"]["spec"];
        let c = at(pod, "/containers/0", what)?;
        let v = mounts(c, "/results")
            .and_then(|name| volume(pod, &name))
            .ok_or_else(|| format!("{what}: nothing mounted at /results"))?;
        Ok(str_at(&v, "/persistentVolumeClaim/claimName", what)?.to_owned())
    };
    let claim = claim_of(job, what)?;
    get(&format!("PersistentVolumeClaim/{claim}"))?;
    ensure(claim_of(merge, "Job/touchstone-merge")? == claim, || {
        "the two Jobs mount different claims".into()
    })?;

    let what = "Job/touchstone-merge";
    let c = at(merge, "/spec/template/spec/containers/0", what)?;
    ensure(
        container_env(c, "TOUCHSTONE_SHARD_COUNT") == Some(&Value::from(n.to_string())),
        || format!("{what}: TOUCHSTONE_SHARD_COUNT is not completions ({n})"),
    )?;
    let script = shell_script(c, what)?;
    for needle in [
        "n=\"${TOUCHSTONE_SHARD_COUNT}\"",
        "i=0",
        "while [ \"$i\" -lt \"$n\" ]",
        "d=\"/results/shard-$i\"",
        "touchstone report merge $dirs --out",
    ] {
        ensure(script.contains(needle), || {
            format!("{what}: the script lacks `{needle}`:\n{script}")
        })?;
    }
    Ok(())
}

/// A GitHub Actions `on:` key: PyYAML reads the bare word `on` as YAML 1.1's `true`.
fn github_on(workflow: &Value) -> Option<&Value> {
    workflow.get("on").or_else(|| workflow.get("true"))
}

/// The shell `run:` of the step whose `run` contains `needle`.
fn step_run<'a>(job: &'a Value, needle: &str) -> Option<&'a str> {
    job["steps"]
        .as_array()?
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.contains(needle))
}

/// The `with:` of the steps using `action` (`actions/upload-artifact`).
fn uses<'a>(job: &'a Value, action: &str) -> Vec<&'a Value> {
    job["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .filter(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(action)))
                .map(|s| &s["with"])
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the glob `pattern` (only `*` is special) matches `name`.
fn glob_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head)
                && (0..=name.len() - head.len())
                    .any(|i| glob_matches(tail, &name[head.len() + i..]))
        }
    }
}

/// deploy/github/certify.yml: the workflow schema, a manual trigger, a matrix over
/// exactly 0..N-1 with TOUCHSTONE_SHARD built from it, uploads named per shard of the
/// directory the check wrote, and a merge job that needs the shards, downloads what
/// they uploaded and merges it, also after failed shards.
fn github_workflow() -> Result<(), Failed> {
    let path = deploy("github/certify.yml");
    let ran = run(Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(&path))?;
    ensure(ran.code == Some(0), || {
        format!("{}: {}", path.display(), ran.show())
    })?;
    let wf = yaml_doc(&path)?;
    let what = "deploy/github/certify.yml";
    ensure(
        github_on(&wf).is_some_and(|on| on.get("workflow_dispatch").is_some()),
        || format!("{what}: not started by workflow_dispatch"),
    )?;
    let certify = at(&wf, "/jobs/certify", what)?;
    let shards = at(certify, "/strategy/matrix/shard", what)?
        .as_array()
        .ok_or_else(|| format!("{what}: matrix.shard is not a list"))?;
    let indexes: Vec<u64> = shards.iter().filter_map(Value::as_u64).collect();
    let n = shards.len() as u64;
    ensure(n >= 2 && indexes == (0..n).collect::<Vec<_>>(), || {
        format!("{what}: matrix.shard is {shards:?}, expected 0..N-1")
    })?;
    ensure(certify["strategy"]["fail-fast"] == false, || {
        format!("{what}: fail-fast must be false (one failing shard would cancel the others)")
    })?;
    // The only matrix axis is the shard, so strategy.job-total is N.
    ensure(
        certify["strategy"]["matrix"].as_object().map(|m| m.len()) == Some(1),
        || format!("{what}: a matrix axis besides shard makes strategy.job-total more than N"),
    )?;
    let shard_var = str_at(certify, "/env/TOUCHSTONE_SHARD", what)?;
    ensure(
        shard_var == "${{ matrix.shard }}/${{ strategy.job-total }}",
        || format!("{what}: TOUCHSTONE_SHARD is {shard_var:?}"),
    )?;
    let check = step_run(certify, "touchstone check")
        .ok_or_else(|| format!("{what}: no step runs touchstone check"))?;
    let out_dir = "out/shard-${{ matrix.shard }}";
    for needle in ["--shard auto".to_owned(), format!("--out \"{out_dir}\"")] {
        ensure(check.contains(&needle), || {
            format!("{what}: the check step lacks `{needle}`")
        })?;
    }
    let upload = uses(certify, "actions/upload-artifact")
        .into_iter()
        .find(|w| w["path"] == out_dir)
        .ok_or_else(|| format!("{what}: no upload of {out_dir}"))?;
    let artifact = str_at(upload, "/name", what)?;

    let merge = at(&wf, "/jobs/merge", what)?;
    let needs: Vec<&str> = match &merge["needs"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    ensure(needs.contains(&"certify"), || {
        format!("{what}: merge needs {needs:?}")
    })?;
    let cond = merge["if"].as_str().unwrap_or("");
    ensure(
        cond.contains("!cancelled()") || cond.contains("always()"),
        || format!("{what}: the merge does not run after failed shards (if: {cond:?})"),
    )?;
    let download = uses(merge, "actions/download-artifact")
        .into_iter()
        .find(|w| w.get("pattern").is_some())
        .ok_or_else(|| format!("{what}: the merge downloads no artifact pattern"))?;
    let pattern = str_at(download, "/pattern", what)?;
    for i in 0..n {
        let name = artifact.replace("${{ matrix.shard }}", &i.to_string());
        ensure(glob_matches(pattern, &name), || {
            format!("{what}: the download pattern {pattern:?} misses artifact {name:?}")
        })?;
    }
    // Several artifacts by pattern land in PATH/<artifact name>/.
    let into = str_at(download, "/path", what)?;
    let merged_from = format!("{into}/{pattern}");
    let merge_run = step_run(merge, "touchstone report merge")
        .ok_or_else(|| format!("{what}: no step runs touchstone report merge"))?;
    ensure(
        merge_run.contains(&format!("report merge {merged_from} --out")),
        || format!("{what}: the merge does not read {merged_from}:\n{merge_run}"),
    )
}

/// deploy/gitlab/certify.gitlab-ci.yml: the GitLab CI schema, `parallel: N` with the
/// check writing the directory its artifacts keep (also when it fails), and a merge job
/// that needs the certify job (all its copies), runs after failures and checks
/// directories 1..N.
fn gitlab_pipeline() -> Result<(), Failed> {
    let path = deploy("gitlab/certify.gitlab-ci.yml");
    let ran = run(Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.gitlab-ci"])
        .arg(&path))?;
    ensure(ran.code == Some(0), || {
        format!("{}: {}", path.display(), ran.show())
    })?;
    let ci = yaml_doc(&path)?;
    let what = "deploy/gitlab/certify.gitlab-ci.yml";
    let certify = at(&ci, "/touchstone-certify", what)?;
    let n = certify["parallel"]
        .as_u64()
        .ok_or_else(|| format!("{what}: touchstone-certify has no parallel: N"))?;
    ensure(n >= 2, || format!("{what}: parallel: {n}"))?;
    let script = at(certify, "/script", what)?.to_string();
    let out_dir = "out/shard-$CI_NODE_INDEX";
    for needle in [
        "--shard auto".to_owned(),
        format!("--out \\\"{out_dir}\\\""),
    ] {
        ensure(script.contains(&needle), || {
            format!("{what}: the script lacks `{needle}`: {script}")
        })?;
    }
    ensure(certify["artifacts"]["when"] == "always", || {
        format!("{what}: a failed shard's reports are not kept (artifacts: when: always)")
    })?;
    let paths = at(certify, "/artifacts/paths", what)?;
    ensure(
        paths.as_array().is_some_and(|p| {
            p.iter()
                .any(|p| p.as_str().map(|s| s.trim_end_matches('/')) == Some(out_dir))
        }),
        || format!("{what}: artifacts {paths} do not keep {out_dir}"),
    )?;

    let merge = at(&ci, "/touchstone-merge", what)?;
    let needs_certify = merge["needs"].as_array().is_some_and(|needs| {
        needs
            .iter()
            .any(|x| x == "touchstone-certify" || x["job"] == "touchstone-certify")
    });
    ensure(needs_certify, || {
        format!("{what}: the merge does not need touchstone-certify")
    })?;
    ensure(
        merge["rules"]
            .as_array()
            .is_some_and(|r| !r.is_empty() && r.iter().all(|r| r["when"] == "always")),
        || format!("{what}: the merge does not run after failed shards (rules: when: always)"),
    )?;
    ensure(
        merge["variables"]["TOUCHSTONE_SHARD_COUNT"].as_str() == Some(n.to_string().as_str()),
        || format!("{what}: the merge's TOUCHSTONE_SHARD_COUNT is not parallel ({n})"),
    )?;
    let script = at(merge, "/script", what)?.to_string();
    for needle in [
        "seq 1 \\\"$TOUCHSTONE_SHARD_COUNT\\\"",
        "out/shard-$i/summary.json",
        "report merge out/shard-* --out",
    ] {
        ensure(script.contains(needle), || {
            format!("{what}: the merge script lacks `{needle}`: {script}")
        })?;
    }
    Ok(())
}

/// A scratch directory under cargo's per-target temporary directory.
fn scratch(name: &str) -> Result<PathBuf, Failed> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The script refuses what it cannot run, with exit 2 and a message naming the problem.
fn local_shards_rejects_bad_arguments() -> Result<(), Failed> {
    let script = deploy("local-shards.sh");
    let dir = scratch("bad-args")?;
    let inventory = dir.join("inventory.csv");
    std::fs::write(&inventory, "id,wsman_url\nm1,http://127.0.0.1:9/wsman\n")?;
    let full = dir.join("full");
    std::fs::create_dir_all(&full)?;
    std::fs::write(full.join("keep-me"), "")?;
    let bin = env!("CARGO_BIN_EXE_touchstone");
    let inv = inventory.to_str().unwrap_or_default();
    let cases: [(Vec<&str>, &str); 5] = [
        (vec![bin, inv, "2"], "usage:"),
        (
            vec![bin, inv, "0", "o"],
            "N must be a whole number of at least 1, not '0'",
        ),
        (vec![bin, inv, "two", "o"], "not 'two'"),
        (
            vec!["/nonexistent/touchstone", inv, "2", "o"],
            "/nonexistent/touchstone: not an executable file",
        ),
        (
            vec![bin, inv, "2", full.to_str().unwrap_or_default()],
            "is not empty",
        ),
    ];
    for (args, expected) in cases {
        let ran = run(Command::new("bash")
            .arg(&script)
            .args(&args)
            .current_dir(&dir))?;
        ensure(ran.code == Some(2) && ran.stderr.contains(expected), || {
            format!(
                "local-shards.sh {args:?}: expected exit 2 and {expected:?}: {}",
                ran.show()
            )
        })?;
    }
    ensure(full.join("keep-me").exists(), || {
        "the script touched a non-empty OUTDIR".into()
    })?;
    ensure(!dir.join("o").exists(), || {
        "a rejected run created its OUTDIR".into()
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A stand-in for `touchstone` that follows the issue 17 contract in a few lines of
/// Python (auto shard from the engines' variables, round-robin over sorted ids, the
/// output layout), so that the script's own checks can be tested before and apart from
/// the real `check --targets`. `STUB_MERGE_DROPS=1` makes its merge lose the first
/// target, as a broken merge would.
const STUB_TOUCHSTONE: &str = r#"#!/usr/bin/env python3
import json, os, sys
a = sys.argv[1:]
def opt(name):
    return a[a.index(name) + 1] if name in a else None
def write(path, value):
    with open(path, "w") as f:
        json.dump(value, f)
if a[0] == "check":
    with open(opt("--targets")) as f:
        ids = sorted(m["id"] for m in json.load(f)["machines"])
    shard, e = None, os.environ
    if opt("--shard") == "auto":
        if "TOUCHSTONE_SHARD" in e:
            shard = e["TOUCHSTONE_SHARD"]
        elif "JOB_COMPLETION_INDEX" in e:
            shard = e["JOB_COMPLETION_INDEX"] + "/" + e["TOUCHSTONE_SHARD_COUNT"]
        elif "CI_NODE_INDEX" in e:
            shard = str(int(e["CI_NODE_INDEX"]) - 1) + "/" + e["CI_NODE_TOTAL"]
        else:
            sys.exit(2)
        i, n = map(int, shard.split("/"))
        ids = ids[i::n]
    out = opt("--out")
    os.makedirs(out + "/targets")
    for t in ids:
        write(out + "/targets/" + t + ".json", {})
    write(out + "/shard.json", {"shard": shard, "targets": ids, "cases": None})
    write(out + "/summary.json", {"targets": {t: "pass" for t in ids}, "duration_ms": os.getpid()})
elif a[:2] == ["report", "merge"]:
    out, merged = opt("--out"), {}
    for d in a[2:a.index("--out")]:
        with open(d + "/summary.json") as f:
            merged.update(json.load(f)["targets"])
    if os.environ.get("STUB_MERGE_DROPS"):
        merged.pop(min(merged))
    os.makedirs(out + "/targets")
    for t in merged:
        write(out + "/targets/" + t + ".json", {})
    write(out + "/summary.json", {"targets": merged, "duration_ms": 0})
"#;

/// The script's checks, against [`STUB_TOUCHSTONE`]: each shard gets its engine's
/// variables and nothing else (the engine variables of the caller's own environment are
/// removed: a stray CI_NODE_INDEX here would shift a shard), the timing field is left
/// out of the comparison, and a merge that loses a target is caught (exit 1, the
/// difference printed).
fn local_shards_checks_what_it_claims() -> Result<(), Failed> {
    let dir = scratch("stub")?;
    let stub = dir.join("touchstone");
    std::fs::write(&stub, STUB_TOUCHSTONE)?;
    let chmod = run(Command::new("chmod").arg("+x").arg(&stub))?;
    ensure(chmod.code == Some(0), || format!("chmod: {}", chmod.show()))?;
    let ids: Vec<String> = (0..7).map(|k| format!("m{:02}", (k * 5) % 7)).collect();
    let machines: Vec<Value> = ids
        .iter()
        .map(|id| serde_json::json!({"id": id, "wsman_url": "http://127.0.0.1:9/wsman"}))
        .collect();
    let inventory = dir.join("fleet.json");
    std::fs::write(
        &inventory,
        serde_json::json!({"machines": machines}).to_string(),
    )?;
    let script = |out: &str, drop: bool| -> Result<Ran, Failed> {
        let mut cmd = Command::new("bash");
        cmd.arg(deploy("local-shards.sh"))
            .arg(&stub)
            .arg(&inventory)
            .arg("5")
            .arg(dir.join(out))
            // What an outer CI job would leave in the environment.
            .env("CI_NODE_INDEX", "3")
            .env("CI_NODE_TOTAL", "9")
            .env("TOUCHSTONE_SHARD", "8/9");
        if drop {
            cmd.env("STUB_MERGE_DROPS", "1");
        }
        Ok(run(&mut cmd)?)
    };
    let good = script("good", false)?;
    ensure(good.code == Some(0), || {
        format!("with a sound merge: {}", good.show())
    })?;
    ensure(
        good.stdout
            .contains("merged 5 shards = unsharded run: 7 targets"),
        || format!("with a sound merge: {}", good.show()),
    )?;
    for line in [
        "shard 0/5: kubernetes JOB_COMPLETION_INDEX=0 TOUCHSTONE_SHARD_COUNT=5",
        "shard 1/5: gitlab     CI_NODE_INDEX=2 CI_NODE_TOTAL=5",
        "shard 2/5: github     TOUCHSTONE_SHARD=2/5",
        "shard 3/5: kubernetes JOB_COMPLETION_INDEX=3 TOUCHSTONE_SHARD_COUNT=5",
        "shard 4/5: gitlab     CI_NODE_INDEX=5 CI_NODE_TOTAL=5",
    ] {
        ensure(good.stdout.contains(line), || {
            format!("no `{line}`: {}", good.show())
        })?;
    }
    let bad = script("bad", true)?;
    let lost = ids.iter().min().cloned().unwrap_or_default();
    ensure(
        bad.code == Some(1)
            && bad
                .stderr
                .contains("summary.json differs (timings excluded)")
            && bad.stderr.contains(&format!("-  \"{lost}\": \"pass\""))
            && bad.stderr.contains("targets/ differs"),
        || format!("a merge that loses {lost} was not caught: {}", bad.show()),
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `touchstone serve` on a free loopback port, stopped when dropped.
struct Serve {
    child: Child,
    url: String,
}

impl Serve {
    fn start() -> Result<Serve, Failed> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_touchstone"))
            .args(["serve", "--http", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("http: ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let mut serve = Serve {
            child,
            url: String::new(),
        };
        serve.url = rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| "touchstone serve printed no `http:` line within 30 s")?;
        Ok(serve)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// deploy/local-shards.sh end to end: mock targets (healthy ones, one answering with
/// the wrong password, one at a closed port), four shards with the three engines'
/// variables, the merge, and the unsharded run: the script finds them equal, each shard
/// got the contract's round-robin share of the targets in id order, and the merged
/// report has every target.
fn local_shards_end_to_end() -> Result<(), Failed> {
    let started = Instant::now();
    let serves = [Serve::start()?, Serve::start()?, Serve::start()?];
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?
    };
    // Ids deliberately out of order, so that the partition's sort shows.
    let mut machines = Vec::new();
    for (k, id) in ["rack-c-2", "rack-a-1", "rack-b-7", "rack-a-3", "rack-c-1"]
        .iter()
        .enumerate()
    {
        machines.push(serde_json::json!({
            "id": id, "index": k, "scenario": "default", "hostname": format!("node-{k}"),
            "wsman_url": serves[k % serves.len()].url, "https_url": null, "ipmi": null,
            "user": "admin", "password": "admin", "ipmi_user": null, "ipmi_password": null,
            "chaos": null,
        }));
    }
    machines.push(serde_json::json!({
        "id": "rack-b-2", "index": 5, "wsman_url": serves[0].url, "ipmi": null,
        "user": "admin", "password": "not-the-password", "chaos": "wrong-credentials",
    }));
    machines.push(serde_json::json!({
        "id": "rack-d-9", "index": 6, "wsman_url": format!("http://{closed}/wsman"),
        "ipmi": null, "user": "admin", "password": "admin", "chaos": "unreachable",
    }));
    let ids: Vec<String> = machines
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_owned))
        .collect();
    let dir = scratch("e2e")?;
    let inventory = dir.join("fleet.json");
    std::fs::write(
        &inventory,
        serde_json::to_string_pretty(&serde_json::json!({
            "format": "touchstone-fleet/1", "seed": 1, "machines": machines,
        }))?,
    )?;
    let out = dir.join("out");
    let n = 4;
    let ran = run(Command::new("bash")
        .arg(deploy("local-shards.sh"))
        .arg(env!("CARGO_BIN_EXE_touchstone"))
        .arg(&inventory)
        .arg(n.to_string())
        .arg(&out)
        .args(["--filter", "wsman.core.*", "--seed", "7"]))?;
    ensure(ran.code == Some(0), || {
        format!("local-shards.sh: {}", ran.show())
    })?;
    ensure(
        ran.stdout.contains(&format!(
            "merged {n} shards = unsharded run: {} targets",
            ids.len()
        )),
        || format!("local-shards.sh: {}", ran.show()),
    )?;
    for engine in ["kubernetes", "gitlab", "github"] {
        ensure(ran.stdout.contains(engine), || {
            format!("no shard ran as {engine}: {}", ran.show())
        })?;
    }
    // The contract's partition: the k-th target in id order goes to shard k % N.
    let mut sorted = ids.clone();
    sorted.sort();
    for i in 0..n {
        let meta: Value = serde_json::from_str(&std::fs::read_to_string(
            out.join(format!("shard-{i}/shard.json")),
        )?)?;
        let want: Vec<&String> = sorted.iter().skip(i).step_by(n).collect();
        let got: Vec<String> = serde_json::from_value(meta["targets"].clone())?;
        ensure(got.iter().collect::<Vec<_>>() == want, || {
            format!("shard {i}/{n} checked {got:?}, expected {want:?}")
        })?;
    }
    let summary = std::fs::read_to_string(out.join("merged/summary.json"))?;
    for id in &ids {
        ensure(
            out.join(format!("merged/targets/{id}.json")).is_file(),
            || format!("merged/targets/{id}.json is missing"),
        )?;
        ensure(summary.contains(&format!("\"{id}\"")), || {
            format!("merged/summary.json lacks {id}")
        })?;
    }
    eprintln!("local-shards.sh end to end in {:.1?}", started.elapsed());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        needing(
            "kubernetes::manifests_validate_against_the_schemas",
            &[&KUBERNETES_VALIDATE, &PYYAML],
            kubernetes_manifests_validate,
        ),
        needing(
            "kubernetes::jobs_agree_on_shards_volume_and_inventory",
            &[&PYYAML],
            kubernetes_jobs_agree,
        ),
        needing(
            "github::matrix_covers_every_shard_and_merge_reads_them",
            &[&PYYAML, &CHECK_JSONSCHEMA],
            github_workflow,
        ),
        needing(
            "gitlab::parallel_shards_and_merge_reads_them",
            &[&PYYAML, &CHECK_JSONSCHEMA],
            gitlab_pipeline,
        ),
        Trial::test(
            "local_shards::rejects_bad_arguments",
            local_shards_rejects_bad_arguments,
        ),
        Trial::test(
            "local_shards::checks_what_it_claims",
            local_shards_checks_what_it_claims,
        ),
        Trial::test(
            "local_shards::end_to_end_equals_the_unsharded_run",
            local_shards_end_to_end,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
