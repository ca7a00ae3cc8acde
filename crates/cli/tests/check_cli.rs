//! `touchstone check` as its users reach for it: credentials from the environment and
//! files (never printed, rerun commands that reproduce a case), the authentication
//! verdict, `--fail-fast`, repeatable `--filter`/`--skip`, `--quiet`, colour,
//! `--list --format json` and `--ipmi HOST` on port 623. The built binary runs against
//! a mock started in this process (or the embedded one, with no target).

#[allow(dead_code)] // its `touchstone` runner: this file needs one that sets the environment
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;

use support::DEADLINE;

/// Environment variables the binary reads: cleared for every run so the tests do not
/// depend on the shell they run in.
const READ_VARS: [&str; 9] = [
    "TOUCHSTONE_USER",
    "TOUCHSTONE_PASSWORD",
    "TOUCHSTONE_IPMI_USER",
    "TOUCHSTONE_IPMI_PASSWORD",
    "TOUCHSTONE_IPMI_OPERATOR",
    "TOUCHSTONE_IPMI_USER_ACCOUNT",
    "NO_COLOR",
    "TERM",
    "CLICOLOR_FORCE",
];

/// Waits for `cmd` with the support module's deadline (killed beyond it).
fn finish(mut cmd: Command, envs: &[(&str, &str)]) -> Output {
    for v in READ_VARS {
        cmd.env_remove(v);
    }
    cmd.envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("the command runs");
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

/// `touchstone ARGS` with `envs` set (and nothing else of ours).
fn touchstone(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_touchstone"));
    cmd.args(args);
    finish(cmd, envs)
}

/// `sh -c LINE` with the binary's directory first in PATH: a printed command run as
/// printed.
fn shell(line: &str, envs: &[(&str, &str)]) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_touchstone"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", line]).env("PATH", path);
    finish(cmd, envs)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn both(o: &Output) -> String {
    format!("{}\n--- stderr ---\n{}", text(&o.stdout), text(&o.stderr))
}

/// A fresh directory under the temp dir.
fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ts-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The password the test mock's administrator has: distinctive, so that finding it
/// anywhere in the output is a leak and nothing else.
const SECRET: &str = "Zq9-s3cret-w7";

/// A mock (HTTP only) whose administrator is admin/[`SECRET`].
fn secret_mock(rt: &tokio::runtime::Runtime) -> mock::MockServer {
    let toml = mock::scenario::DEFAULT_TOML.replacen(
        "name = \"admin\"\npassword = \"admin\"",
        &format!("name = \"admin\"\npassword = \"{SECRET}\""),
        1,
    );
    assert!(toml.contains(SECRET), "the default scenario's admin moved");
    rt.block_on(
        mock::MockServer::builder()
            .scenario_str(&toml)
            .unwrap()
            .start(),
    )
    .unwrap()
}

/// A suite directory: a case every target fails (Identify answered 418), between
/// cases every target passes, then one that needs a class the mock lacks, all MUST, in
/// this order.
fn teapot_suite(dir: &Path) -> PathBuf {
    let suites = dir.join("suites");
    std::fs::create_dir_all(&suites).unwrap();
    let case = |id: &str, status: u16| {
        format!(
            r#"
[[case]]
id = "{id}"
title = "Identify is answered {status}"
level = "MUST"
profiles = ["local"]
clause = {{ spec = "RFC 2324", section = "2.3.2", requirement = "A teapot says so." }}
[[case.step]]
request = {{ op = "identify" }}
expect = {{ status = {status} }}
"#
        )
    };
    let mut toml = String::new();
    toml.push_str(&case("local.a.first", 200));
    toml.push_str(&case("local.b.teapot", 418));
    for id in ["local.c.after", "local.d.after", "local.e.after"] {
        toml.push_str(&case(id, 200));
    }
    // Skipped against the mock, which has no CIM_Processor.
    toml.push_str(&case("local.f.missing", 200).replace(
        "profiles = [\"local\"]",
        "profiles = [\"local\"]\nrequires = [\"class:CIM_Processor\"]",
    ));
    std::fs::write(suites.join("local.toml"), toml).unwrap();
    suites
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn result<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no result for {id}: {report}"))
}

/// The reports asked for in `dir`, as arguments.
fn report_args(dir: &Path) -> Vec<String> {
    ["json", "junit", "html"]
        .iter()
        .flat_map(|k| {
            [
                format!("--{k}"),
                dir.join(format!("r.{k}")).display().to_string(),
            ]
        })
        .collect()
}

fn reports(dir: &Path) -> [String; 3] {
    ["json", "junit", "html"].map(|k| std::fs::read_to_string(dir.join(format!("r.{k}"))).unwrap())
}

#[test]
fn env_credentials_work_are_never_printed_and_the_rerun_reproduces_the_verdict() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = secret_mock(&rt);
    let dir = temp_dir("env");
    let suites = teapot_suite(&dir);
    let url = mock.url();
    let mut args: Vec<String> = ["check", "--target", &url, "--suites"]
        .map(String::from)
        .to_vec();
    args.push(suites.display().to_string());
    args.extend(report_args(&dir));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let env = [
        ("TOUCHSTONE_USER", "admin"),
        ("TOUCHSTONE_PASSWORD", SECRET),
    ];
    let o = touchstone(&argv, &env);
    let out = both(&o);
    // The credentials came through: the cases ran (a wrong password is exit 3), the
    // teapot failed on its own terms and the others passed.
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("PASS  local.a.first"), "{out}");
    assert!(out.contains("got:      200"), "{out}");
    assert!(
        !out.contains(SECRET),
        "the password leaked to the console:\n{out}"
    );
    for (kind, r) in ["json", "junit", "html"].iter().zip(reports(&dir)) {
        assert!(
            !r.contains(SECRET),
            "the password leaked into the {kind} report"
        );
    }
    let report = read_json(&dir.join("r.json"));
    let teapot = result(&report, "local.b.teapot");
    assert_eq!(teapot["outcome"], "fail", "{teapot}");
    let rerun = teapot["rerun"].as_str().unwrap();
    assert!(rerun.contains("--user admin"), "{rerun}");
    assert!(rerun.contains("--filter local.b.teapot"), "{rerun}");
    assert!(
        rerun.contains("# with TOUCHSTONE_PASSWORD set in the environment (not printed)"),
        "the rerun says where the password comes from: {rerun}"
    );
    // The same command in JUnit and HTML (escaped there).
    let [_, junit, html] = reports(&dir);
    assert!(junit.contains(&format!("rerun: {rerun}")), "{junit}");
    assert!(
        html.contains("--filter local.b.teapot"),
        "no rerun in the HTML"
    );
    // Run as printed, with the variable set (and the user name only on its line): the
    // same case, the same verdict.
    let again = shell(rerun, &[("TOUCHSTONE_PASSWORD", SECRET)]);
    let out = both(&again);
    assert_eq!(again.status.code(), Some(1), "{rerun}\n{out}");
    assert!(out.contains("FAIL local.b.teapot [MUST]"), "{out}");
    assert!(out.contains("1 cases: 0 passed, 1 failed"), "{out}");
    assert!(!out.contains(SECRET), "{out}");
    // A passing case's rerun passes.
    let pass = result(&report, "local.c.after")["rerun"].as_str().unwrap();
    let again = shell(pass, &[("TOUCHSTONE_PASSWORD", SECRET)]);
    assert_eq!(again.status.code(), Some(0), "{pass}\n{}", both(&again));
    assert!(text(&again.stdout).contains("PASS  local.c.after"));
    rt.block_on(mock.shutdown());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_password_file_or_flag_is_never_printed_and_the_rerun_names_the_file() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = secret_mock(&rt);
    let dir = temp_dir("file");
    let pw = dir.join("pw");
    // A file as `echo` writes it: the line ending is not part of the password.
    std::fs::write(&pw, format!("{SECRET}\n")).unwrap();
    let url = mock.url();
    let base = [
        "check",
        "--target",
        &url,
        "--user",
        "admin",
        "--filter",
        "wsman.core.relates-to",
    ];
    let mut args = base.to_vec();
    let pw_arg = pw.display().to_string();
    args.extend(["--password-file", &pw_arg]);
    let json = dir.join("r.json").display().to_string();
    args.extend(["--json", &json]);
    let o = touchstone(&args, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert!(!both(&o).contains(SECRET));
    let report = read_json(&dir.join("r.json"));
    let rerun = result(&report, "wsman.core.relates-to")["rerun"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        rerun.contains(&format!("--password-file {}", pw.display())),
        "{rerun}"
    );
    assert!(!rerun.contains('#'), "nothing to set: {rerun}");
    // Run as printed, with no variable at all.
    let again = shell(&rerun, &[]);
    assert_eq!(again.status.code(), Some(0), "{rerun}\n{}", both(&again));
    assert!(text(&again.stdout).contains("PASS  wsman.core.relates-to"));

    // On the command line: accepted, still never printed, and the rerun relies on the
    // variable instead.
    let mut args = base.to_vec();
    args.extend(["--password", SECRET, "--json", &json]);
    let o = touchstone(&args, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let raw = std::fs::read_to_string(dir.join("r.json")).unwrap();
    assert!(!raw.contains(SECRET) && !both(&o).contains(SECRET));
    assert!(
        raw.contains("TOUCHSTONE_PASSWORD set in the environment"),
        "{raw}"
    );
    // Both a flag and a file: which one was meant is unclear, so neither is taken.
    let mut args = base.to_vec();
    args.extend(["--password", "x", "--password-file", &pw_arg]);
    assert_eq!(touchstone(&args, &[]).status.code(), Some(2));
    // A file that cannot be read is a usage error naming it.
    let mut args = base.to_vec();
    args.extend(["--password-file", "/nonexistent/pw"]);
    let o = touchstone(&args, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("/nonexistent/pw"), "{}", both(&o));
    rt.block_on(mock.shutdown());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_wrong_password_is_one_authentication_verdict_exit_3_with_reports() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = secret_mock(&rt);
    let dir = temp_dir("auth");
    let url = mock.url();
    let mut args: Vec<String> = ["check", "--target", &url, "--profile", "transfer"]
        .map(String::from)
        .to_vec();
    args.extend(report_args(&dir));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let wrong = "not-the-Zq9-password";
    let o = touchstone(
        &argv,
        &[("TOUCHSTONE_USER", "admin"), ("TOUCHSTONE_PASSWORD", wrong)],
    );
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(3), "{}", both(&o));
    // One verdict naming every scheme the target offered and what each one tried got,
    // said once; no case ran, so no wall of 401s.
    let verdict = "authentication failed for user `admin` (Digest, Basic and Negotiate \
                   offered; 401 for Basic and Digest; Negotiate not tried";
    assert_eq!(err.matches(verdict).count(), 1, "{err}");
    assert!(!out.contains("FAIL") && !out.contains("got:"), "{out}");
    assert!(!both(&o).contains(wrong));
    // Every report written, every selected case an error with the reason.
    let [json, junit, html] = reports(&dir);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let results = report["results"].as_array().unwrap();
    assert!(results.len() >= 5, "{report}");
    for r in results {
        assert_eq!(r["outcome"], "error", "{r}");
        assert!(r["message"].as_str().unwrap().contains(verdict), "{r}");
    }
    let doc = roxmltree::Document::parse(&junit).unwrap();
    let errors: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("error"))
        .collect();
    assert_eq!(errors.len(), results.len(), "{junit}");
    assert!(
        errors.iter().all(
            |e| e.attribute("message").unwrap_or_default().contains(verdict)
                || e.text().unwrap_or_default().contains(verdict)
        ),
        "{junit}"
    );
    assert!(
        html.contains("authentication failed for user"),
        "no reason in the HTML"
    );
    for r in [&json, &junit, &html] {
        assert!(!r.contains(wrong));
    }

    // No credentials at all: the same exit code, and what to give.
    let o = touchstone(&["check", "--target", &url, "--profile", "transfer"], &[]);
    assert_eq!(o.status.code(), Some(3), "{}", both(&o));
    let err = text(&o.stderr);
    assert!(
        err.contains(
            "authentication failed: no credentials were given (Digest, Basic and Negotiate offered)"
        ),
        "{err}"
    );
    assert!(err.contains("TOUCHSTONE_PASSWORD"), "{err}");
    rt.block_on(mock.shutdown());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn fail_fast_stops_after_the_first_required_failure_and_reports_the_rest_skipped() {
    let dir = temp_dir("ff");
    let suites = teapot_suite(&dir);
    let s = suites.display().to_string();
    let json = dir.join("r.json").display().to_string();
    let args = [
        "check",
        "--suites",
        &s,
        "--jobs",
        "1",
        "--fail-fast",
        "--json",
        &json,
    ];
    let o = touchstone(&args, &[]);
    let out = both(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let report = read_json(&dir.join("r.json"));
    assert_eq!(result(&report, "local.a.first")["outcome"], "pass");
    assert_eq!(result(&report, "local.b.teapot")["outcome"], "fail");
    for id in [
        "local.c.after",
        "local.d.after",
        "local.e.after",
        "local.f.missing",
    ] {
        let r = result(&report, id);
        assert_eq!(r["outcome"], "skip", "{r}");
        assert_eq!(r["message"], "not run: --fail-fast", "{r}");
    }
    assert!(
        out.contains("--fail-fast: stopped after the first required failure; 4 case(s) not run"),
        "{out}"
    );
    assert!(
        out.contains("6 cases: 1 passed, 1 failed, 0 warned, 4 skipped"),
        "{out}"
    );
    // Without it every case runs.
    let o = touchstone(
        &args[..5]
            .iter()
            .chain(&args[6..])
            .copied()
            .collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    let report = read_json(&dir.join("r.json"));
    assert_eq!(result(&report, "local.e.after")["outcome"], "pass");
    let r = result(&report, "local.f.missing");
    assert_eq!(r["outcome"], "skip", "{r}");
    assert_ne!(r["message"], "not run: --fail-fast", "{r}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn list_format_json_lists_every_case_with_its_fields() {
    let o = touchstone(&["check", "--list", "--format", "json"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    let cases = doc.as_array().expect("an array");
    // The same cases as the text list, in the same order.
    let t = touchstone(&["check", "--list"], &[]);
    let ids: Vec<String> = text(&t.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    let json_ids: Vec<&str> = cases.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(json_ids, ids);
    assert!(ids.len() > 100, "{}", ids.len());
    assert!(json_ids.iter().any(|i| i.starts_with("ipmi.")));
    for c in cases {
        assert!(c["title"].as_str().is_some_and(|t| !t.is_empty()), "{c}");
        assert!(
            ["MUST", "SHOULD", "MAY"].contains(&c["level"].as_str().unwrap()),
            "{c}"
        );
        assert!(
            c["profiles"].as_array().is_some_and(|p| !p.is_empty()),
            "{c}"
        );
        assert!(c["requires"].is_array(), "{c}");
        assert!(c["clause"]["spec"].as_str().is_some(), "{c}");
        assert!(c["clause"]["section"].as_str().is_some(), "{c}");
    }
    // `--format` is for `--list` only.
    let o = touchstone(&["check", "--format", "json"], &[]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn filter_and_skip_are_repeatable() {
    let list = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["check", "--list"];
        a.extend_from_slice(args);
        let o = touchstone(&a, &[]);
        assert_eq!(o.status.code(), Some(0), "{}", both(&o));
        text(&o.stdout)
            .lines()
            .map(|l| l.split_whitespace().next().unwrap().to_owned())
            .collect()
    };
    let two = list(&[
        "--filter",
        "wsman.identify.answered",
        "--filter",
        "wsman.core.relates-to",
    ]);
    // Suite order, whatever the order of the filters.
    let all = list(&[]);
    let pos = |id: &str| all.iter().position(|i| i == id).unwrap();
    let mut expected = vec!["wsman.identify.answered", "wsman.core.relates-to"];
    expected.sort_by_key(|id| pos(id));
    assert_eq!(two, expected);
    // A glob and an exact ID left out.
    let core = list(&["--profile", "core"]);
    let some_core = core.iter().find(|i| !i.starts_with("wsman.core.")).cloned();
    let kept = list(&[
        "--profile",
        "core",
        "--skip",
        "wsman.core.*",
        "--skip",
        "wsman.core.relates-to",
    ]);
    assert!(
        kept.iter().all(|i| !i.starts_with("wsman.core.")),
        "{kept:?}"
    );
    assert_eq!(
        kept.len(),
        core.iter()
            .filter(|i| !i.starts_with("wsman.core."))
            .count()
    );
    if let Some(other) = some_core {
        assert!(kept.contains(&other));
    }
    // Filter and skip together, in a run.
    let o = touchstone(
        &[
            "check",
            "--filter",
            "wsman.identify.answered",
            "--filter",
            "wsman.core.relates-to",
            "--skip",
            "wsman.identify.answered",
        ],
        &[],
    );
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert!(out.contains("1 cases: 1 passed"), "{out}");
    assert!(out.contains("PASS  wsman.core.relates-to"), "{out}");
    // Everything skipped: nothing to run is a usage error.
    let o = touchstone(
        &["check", "--filter", "wsman.core.*", "--skip", "wsman.*"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", both(&o));
}

#[test]
fn skips_say_why_on_their_console_line_and_quiet_keeps_only_failures_and_the_summary() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mocks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mocks");
    let mock = rt
        .block_on(
            mock::MockServer::builder()
                .scenario_file(mocks.join("minimal-resource.toml"))
                .unwrap()
                .start(),
        )
        .unwrap();
    let url = mock.url();
    let base = [
        "check",
        "--target",
        &url,
        "--user",
        "admin",
        "--password",
        "admin",
        "--profile",
        "core",
    ];
    let o = touchstone(&base, &[]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let skips: Vec<&str> = out.lines().filter(|l| l.starts_with("SKIP ")).collect();
    assert!(!skips.is_empty(), "{out}");
    for l in &skips {
        // `SKIP  ID (reason)` with a reason of some words.
        let (_, why) = l
            .split_once(" (")
            .unwrap_or_else(|| panic!("no reason: {l}"));
        assert!(why.ends_with(')') && why.len() > 10, "{l}");
    }
    // Quiet: no per-case lines, no discovery, no table; the totals line stays.
    let mut q = base.to_vec();
    q.push("--quiet");
    let o = touchstone(&q, &[]);
    let quiet = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert!(
        !quiet.contains("SKIP") && !quiet.contains("PASS"),
        "{quiet}"
    );
    assert!(
        !quiet.contains("discovery:") && !quiet.contains("profile "),
        "{quiet}"
    );
    assert!(quiet.contains(" skipped, 0 errors"), "{quiet}");
    assert!(quiet.lines().count() < 6, "{quiet}");
    rt.block_on(mock.shutdown());

    // Quiet with a failure: the failure's block is printed.
    let dir = temp_dir("quiet");
    let suites = teapot_suite(&dir);
    let s = suites.display().to_string();
    let o = touchstone(&["check", "--suites", &s, "-q"], &[]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(out.contains("FAIL local.b.teapot [MUST]"), "{out}");
    assert!(out.contains("rerun:    touchstone check --suites"), "{out}");
    assert!(!out.contains("PASS"), "{out}");
    assert!(text(&o.stderr).is_empty(), "{}", text(&o.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

/// The console of `check --suites SUITES` on a failure and a skip, plus `extra`, in a
/// pseudo-terminal (`script`), so that `--color auto` sees a TTY (and the bar shows).
fn on_a_tty(suites: &Path, extra: &str, envs: &[(&str, &str)]) -> String {
    let line = format!(
        "{} check --suites {} --filter local.b.teapot --filter local.f.missing {extra}",
        env!("CARGO_BIN_EXE_touchstone"),
        suites.display()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qefc", &line, "/dev/null"]);
    let o = finish(cmd, envs);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    text(&o.stdout)
}

#[test]
fn colour_follows_the_flag_the_terminal_and_no_color() {
    let esc = "\x1b[";
    let pass = "\x1b[32mPASS\x1b[0m";
    // Piped: no colour unless asked.
    let plain = touchstone(&["check", "--filter", "wsman.core.relates-to"], &[]);
    assert!(text(&plain.stdout).contains("PASS  wsman.core.relates-to"));
    assert!(!text(&plain.stdout).contains(esc));
    let always = touchstone(
        &[
            "check",
            "--filter",
            "wsman.core.relates-to",
            "--color",
            "always",
        ],
        &[("NO_COLOR", "1")],
    );
    assert!(
        text(&always.stdout).contains(&format!("{pass}  wsman.core.relates-to")),
        "{}",
        text(&always.stdout)
    );
    // On a terminal: colour by default, none with NO_COLOR or --color never.
    let dir = temp_dir("tty");
    let suites = teapot_suite(&dir);
    let fail = "\x1b[1;31mFAIL\x1b[0m local.b.teapot";
    let tty = on_a_tty(&suites, "", &[("TERM", "xterm")]);
    assert!(tty.contains(fail), "{tty:?}");
    // Under the bar too, a skip is a line with its reason.
    assert!(
        tty.contains("\x1b[36mSKIP\x1b[0m  local.f.missing (fault wsa:DestinationUnreachable"),
        "{tty:?}"
    );
    for (extra, envs) in [
        ("", &[("TERM", "xterm"), ("NO_COLOR", "1")][..]),
        ("--color never", &[("TERM", "xterm")][..]),
    ] {
        let tty = on_a_tty(&suites, extra, envs);
        assert!(tty.contains("FAIL local.b.teapot"), "{tty:?}");
        assert!(!tty.contains("\x1b[1;31m"), "{extra} {envs:?}: {tty:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ipmi_without_a_port_means_623_and_bracketed_ipv6_is_read() {
    // Nothing listens there (tests bind port 0): the verdict names the address tried.
    for (given, tried) in [
        ("127.0.0.1", "127.0.0.1:623"),
        ("[::1]", "[::1]:623"),
        ("::1", "[::1]:623"),
    ] {
        let o = touchstone(&["check", "--ipmi", given, "--ipmi-silence-ms", "100"], &[]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{given}: {}", both(&o));
        assert!(err.contains(tried), "{given}: {err}");
    }
    for bad in ["host:notaport", "[::1", "[]:623", ":623"] {
        let o = touchstone(&["check", "--ipmi", bad], &[]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", both(&o));
        assert!(
            text(&o.stderr).contains("expected HOST"),
            "{bad}: {}",
            both(&o)
        );
    }
}

#[test]
fn help_names_the_schemes_and_the_credential_sources() {
    let o = touchstone(&["check", "--help"], &[]);
    let help = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0));
    for want in [
        "Negotiate/NTLM",
        "TOUCHSTONE_PASSWORD",
        "--password-file",
        "TOUCHSTONE_IPMI_PASSWORD",
        "--fail-fast",
        "--quiet",
        "NO_COLOR",
        "authentication failed",
    ] {
        assert!(help.contains(want), "{want} missing from:\n{help}");
    }
}

/// A target that answers Identify to anyone and everything else with `refusal` whatever
/// the credentials: 401 as a BMC with a locked account does, 403 as one whose account
/// may not read anything but Identify. HTTP/1.1 on loopback, one thread per connection.
/// Returns its URL; it serves until the test process ends.
fn identify_only_target(refusal: &'static str) -> String {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/wsman", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(DEADLINE));
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut length = 0usize;
                    let mut first = true;
                    loop {
                        let mut line = String::new();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if !first {
                            if let Some((k, v)) = line.split_once(':') {
                                if k.eq_ignore_ascii_case("content-length") {
                                    length = v.trim().parse().unwrap_or(0);
                                }
                            }
                        }
                        first = false;
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let body = String::from_utf8_lossy(&body);
                    let answer = if body.contains("Identify") {
                        let xml = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
                                   xmlns:wsmid=\"http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd\">\
                                   <s:Header/><s:Body><wsmid:IdentifyResponse>\
                                   <wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd</wsmid:ProtocolVersion>\
                                   <wsmid:ProductVendor>Locked</wsmid:ProductVendor>\
                                   <wsmid:ProductVersion>1</wsmid:ProductVersion>\
                                   </wsmid:IdentifyResponse></s:Body></s:Envelope>";
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\n\
                             Content-Length: {}\r\n\r\n{xml}",
                            xml.len()
                        )
                    } else {
                        format!(
                            "HTTP/1.1 {refusal}\r\nWWW-Authenticate: Basic realm=\"locked\"\r\n\
                             Content-Length: 0\r\n\r\n"
                        )
                    };
                    if conn.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[test]
fn a_target_that_answers_identify_to_anyone_still_gets_the_authentication_verdict() {
    let url = identify_only_target("401 Unauthorized");
    let dir = temp_dir("locked");
    let json = dir.join("r.json").display().to_string();
    let o = touchstone(
        &[
            "check",
            "--target",
            &url,
            "--user",
            "admin",
            "--profile",
            "core",
            "--json",
            &json,
        ],
        &[("TOUCHSTONE_PASSWORD", "whatever")],
    );
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{}", both(&o));
    assert_eq!(
        err.matches("authentication failed for user `admin` (Basic offered; 401 for Basic)")
            .count(),
        1,
        "{err}"
    );
    let report = read_json(&dir.join("r.json"));
    let results = report["results"].as_array().unwrap();
    assert!(!results.is_empty());
    assert!(results.iter().all(|r| r["outcome"] == "error"), "{report}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A 403 to the preflight's authenticated Get is this account not being allowed that
/// class, not the credentials refused: the run goes on and the cases judge the target.
#[test]
fn a_403_to_the_preflight_get_is_not_an_authentication_verdict() {
    let url = identify_only_target("403 Forbidden");
    let dir = temp_dir("forbidden");
    let json = dir.join("r.json").display().to_string();
    let o = touchstone(
        &[
            "check",
            "--target",
            &url,
            "--user",
            "admin",
            "--profile",
            "core",
            "--json",
            &json,
        ],
        &[("TOUCHSTONE_PASSWORD", "whatever")],
    );
    assert!(!both(&o).contains("authentication failed"), "{}", both(&o));
    assert_ne!(o.status.code(), Some(3), "{}", both(&o));
    let report = read_json(&dir.join("r.json"));
    let results = report["results"].as_array().unwrap();
    assert!(
        results.iter().any(|r| r["outcome"] != "error"),
        "the cases ran: {report}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ipmi_credentials_come_from_the_environment_too_and_are_never_printed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let toml = mock::scenario::DEFAULT_TOML.replacen(
        "name = \"admin\"\npassword = \"admin\"",
        &format!("name = \"admin\"\npassword = \"{SECRET}\""),
        1,
    );
    let mock = rt
        .block_on(
            mock::MockServer::builder()
                .scenario_str(&toml)
                .unwrap()
                .http(false)
                .ipmi(true)
                .start(),
        )
        .unwrap();
    let addr = mock.ipmi_addr().expect("IPMI on").to_string();
    let dir = temp_dir("ipmi-env");
    let json = dir.join("r.json").display().to_string();
    let case = "ipmi.session.login-suite-3";
    let args = ["check", "--ipmi", &addr, "--filter", case, "--json", &json];
    let env = [
        ("TOUCHSTONE_IPMI_USER", "admin"),
        ("TOUCHSTONE_IPMI_PASSWORD", SECRET),
    ];
    let o = touchstone(&args, &env);
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    assert!(text(&o.stdout).contains(&format!("PASS  {case}")));
    let raw = std::fs::read_to_string(dir.join("r.json")).unwrap();
    assert!(!raw.contains(SECRET) && !both(&o).contains(SECRET));
    let report: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let rerun = result(&report, case)["rerun"].as_str().unwrap().to_owned();
    assert!(
        rerun.contains(&format!("--ipmi {addr} --ipmi-user admin")),
        "{rerun}"
    );
    assert!(
        rerun.ends_with("# with TOUCHSTONE_IPMI_PASSWORD set in the environment (not printed)"),
        "{rerun}"
    );
    let again = shell(&rerun, &[("TOUCHSTONE_IPMI_PASSWORD", SECRET)]);
    assert_eq!(again.status.code(), Some(0), "{rerun}\n{}", both(&again));
    assert!(text(&again.stdout).contains(&format!("PASS  {case}")));
    // The variable is what logged in: without it (admin/admin) the login fails.
    let o = touchstone(&args, &env[..1]);
    assert_ne!(o.status.code(), Some(0), "{}", both(&o));
    rt.block_on(mock.shutdown());
    std::fs::remove_dir_all(&dir).ok();
}

/// IPMI credentials the BMC refuses are one verdict too: a wrong password (the BMC's
/// RAKP2 code does not verify) and an unknown user (RAKP2 status 0x0D) each stop the
/// run with exit 3, one message naming the user and what the login saw, and reports in
/// which every case is an error with that reason: not 60 failed cases.
#[test]
fn refused_ipmi_credentials_are_one_authentication_verdict_exit_3_with_reports() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt
        .block_on(mock::MockServer::builder().http(false).ipmi(true).start())
        .unwrap();
    let addr = mock.ipmi_addr().expect("IPMI on").to_string();
    let dir = temp_dir("ipmi-auth");
    let json = dir.join("r.json").display().to_string();
    for (user, password, saw) in [
        (
            "admin",
            "not-the-password",
            "RAKP2 key exchange code does not verify",
        ),
        ("nobody", "admin", "status 0x0D (unauthorized name)"),
    ] {
        let args = [
            "check",
            "--ipmi",
            &addr,
            "--ipmi-user",
            user,
            "--ipmi-password",
            password,
            "--json",
            &json,
        ];
        let o = touchstone(&args, &[]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{}", both(&o));
        assert!(
            err.contains(&format!("authentication failed for user `{user}`")) && err.contains(saw),
            "{err}"
        );
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let results = report["results"].as_array().unwrap();
        assert!(results.len() > 50, "every selected case is in the report");
        for r in results {
            assert_eq!(r["outcome"], "error", "{r}");
            assert!(
                r["message"]
                    .as_str()
                    .unwrap()
                    .contains("authentication failed"),
                "{r}"
            );
        }
    }
    rt.block_on(mock.shutdown());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn event_sink_binds_where_told_and_subscriptions_name_it() {
    let dir = temp_dir("sink");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let json = dir.join("r.json");
    let o = touchstone(
        &[
            "check",
            "--filter",
            "wsman.eventing.push.reference-parameters",
            "--event-sink",
            &addr,
            "--json",
            json.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    let report = read_json(&json);
    let r = result(&report, "wsman.eventing.push.reference-parameters");
    assert_eq!(r["outcome"], "pass", "{r}");
    assert!(
        r["transcript"]
            .to_string()
            .contains(&format!("http://{addr}/sink/")),
        "no NotifyTo at {addr}: {r}"
    );
    // Not an address: refused before anything runs.
    let bad = touchstone(&["check", "--event-sink", "not-an-address"], &[]);
    assert_eq!(bad.status.code(), Some(2), "{}", both(&bad));
    assert!(text(&bad.stderr).contains("--event-sink"), "{}", both(&bad));
    std::fs::remove_dir_all(&dir).ok();
}
