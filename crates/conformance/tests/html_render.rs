//! The HTML report as a user sees it, in a real browser: a failing run (the whole suite
//! against the embedded mock seeded with one defect from `mocks/defects/`) and a report
//! with every outcome are written to files and loaded in headless Chromium. The DOM it
//! builds must show the verdict banner and the counts, list the failures and errors
//! first, link every problem to an element that exists, list every case, and show XML
//! transcripts indented; a screenshot of the failing run must paint. The page is
//! self-contained: its markup refers to no http(s) resource, and Chromium runs with
//! every host name made unresolvable so that any network use would fail visibly.
//!
//! Set `TOUCHSTONE_HTML_SCREENSHOT=path.png` to keep the screenshot of the failing run
//! (and, next to it, both pages).
//!
//! Without `chromium` on PATH the test says so on stderr and passes, except under
//! `CI=true`, where it fails (`.ci/run` installs Chromium).

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use conformance::case::Outcome;
use conformance::report::WireLeg;
use conformance::{CaseResult, Clause, Level, Report, RunOptions, Suite, Waivers};

const SKIP_MESSAGE: &str = "chromium is not installed (apt-get install chromium)";
/// How long one Chromium invocation may take before it is killed.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(60);

/// `chromium` on PATH, or `None` after reporting the skip (a panic under `CI=true`).
fn chromium_or_skip() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("html_render: {SKIP_MESSAGE} (CI=true: the test may not be skipped)");
        }
        // Straight to the process's stderr: libtest captures eprintln! of passing tests.
        let _ = writeln!(std::io::stderr(), "SKIPPED html_render: {SKIP_MESSAGE}");
    }
    found
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("touchstone-{tag}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs headless Chromium on `page` with `extra` arguments and a fresh profile, killing
/// it after [`CHROMIUM_DEADLINE`]. Returns its stdout; panics (with stderr) on failure.
fn chromium(exe: &Path, page: &Path, extra: &[String], scratch: &Path, name: &str) -> String {
    let profile = scratch.join(format!("{name}-profile"));
    fs::create_dir_all(&profile).unwrap();
    let out_path = scratch.join(format!("{name}.stdout"));
    let err_path = scratch.join(format!("{name}.stderr"));
    let mut cmd = Command::new(exe);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null())
    // Files, not pipes: a chatty Chromium cannot block on a full pipe we do not read.
    .stdout(fs::File::create(&out_path).unwrap())
    .stderr(fs::File::create(&err_path).unwrap());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("chromium starts");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > CHROMIUM_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium ({name}) did not finish within {CHROMIUM_DEADLINE:?}; stderr:\n{}",
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = fs::read_to_string(&out_path).unwrap_or_default();
    assert!(
        status.success(),
        "chromium ({name}) exited with {status}; stderr:\n{}",
        fs::read_to_string(&err_path).unwrap_or_default()
    );
    eprintln!("html_render: chromium {name} took {:?}", start.elapsed());
    stdout
}

/// `attr=` values in `html` that point at a network resource.
fn network_references(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    // Only markup counts: in the serialised DOM a text node's `<` is `&lt;`, so a
    // transcript that shows `Action="http://..."` (a wsman:Event's attribute) is text
    // outside every `<...>`, not a reference.
    let mut in_tag = vec![false; lower.len()];
    let mut open = None;
    for (i, b) in lower.bytes().enumerate() {
        match b {
            b'<' => open = Some(i),
            b'>' => {
                if let Some(o) = open.take() {
                    in_tag[o..=i].iter_mut().for_each(|x| *x = true);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    for attr in ["src=", "href=", "action=", "url("] {
        // `url(` is CSS: it counts in a style element's text too.
        let markup_only = attr != "url(";
        for (i, _) in lower
            .match_indices(attr)
            .filter(|(i, _)| !markup_only || in_tag[*i])
        {
            let value = lower[i + attr.len()..].trim_start_matches(['"', '\'', ' ']);
            if ["http://", "https://", "//"]
                .iter()
                .any(|p| value.starts_with(p))
            {
                found.push(html[i..(i + 80).min(html.len())].to_owned());
            }
        }
    }
    if lower.contains("@import") {
        found.push("@import".to_owned());
    }
    found
}

/// The seeded defect of the failing run: Get answered with the PutResponse action.
const DEFECT: &str = "get-wrong-action.toml";

/// The whole embedded suite against the mock seeded with [`DEFECT`] (no IPMI target:
/// the IPMI and cross cases skip with the reason).
async fn failing_run() -> Report {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../mocks/defects")
        .join(DEFECT);
    let mock = mock::MockServer::builder()
        .scenario_file(&scenario)
        .unwrap_or_else(|e| panic!("{}: {e}", scenario.display()))
        .start()
        .await
        .unwrap();
    let suite = Suite::embedded().unwrap();
    let waivers = Waivers::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/mock-waivers.toml"
    )))
    .unwrap();
    let client =
        client::Client::new(client::Target::new(mock.url()).credentials("admin", "admin")).unwrap();
    let opts = RunOptions {
        jobs: 8,
        waivers,
        ..RunOptions::default()
    };
    let report = conformance::run::run(client, &suite.cases, opts, |_| {})
        .await
        .unwrap();
    mock.shutdown().await;
    report
}

/// A report with every outcome, in suite order pass, skip, warn, error, fail, a MUST
/// rule broken by a passing case, and a waived failure.
fn every_outcome() -> Report {
    let soap = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Header>\
                <a:Action xmlns:a=\"urn:a\">urn:get</a:Action></s:Header><s:Body/></s:Envelope>";
    let case = |id: &str, outcome: Outcome, level: Level| CaseResult {
        id: id.into(),
        name: id.replace(['.', '-'], "_"),
        title: format!("title of {id}"),
        clause: Clause {
            spec: "DSP0226 1.3".into(),
            section: "7.1 Get".into(),
            requirement: "a Get is answered with GetResponse".into(),
            id: Some("R7.1-1".into()),
            keyword: Some("shall".into()),
            verified: None,
        },
        level,
        profiles: vec!["core".into()],
        outcome,
        message: (outcome != Outcome::Pass).then(|| format!("{} of {id}", outcome.as_str())),
        expected: (outcome == Outcome::Fail).then(|| "GetResponse".into()),
        got: (outcome == Outcome::Fail).then(|| "PutResponse".into()),
        duration_us: 2_000,
        transcript: vec![WireLeg {
            request: format!("POST /wsman HTTP/1.1\nContent-Type: application/soap+xml\n\n{soap}"),
            response: Some(format!("HTTP/1.1 200 OK\n\n{soap}")),
            status: Some(200),
            error: None,
        }],
        waiver: None,
        rerun: format!("touchstone check --filter {id}"),
        findings: Vec::new(),
        changes: Vec::new(),
    };
    let mut ruled = case("t.pass-but-rule", Outcome::Pass, Level::Must);
    let rule = conformance::rules::FAULT_NOT_2XX;
    ruled.findings.push(conformance::rules::RuleFinding {
        rule: rule.id.into(),
        title: rule.title.into(),
        clause: rule.clause(),
        level: Level::Must,
        outcome: Outcome::Fail,
        message: "a fault came with HTTP 200".into(),
        count: 1,
        waiver: None,
    });
    let mut waived = case("t.waived", Outcome::Fail, Level::Must);
    waived.waiver = Some(conformance::waiver::WaiverNote {
        pattern: "t.waived".into(),
        reason: "known vendor deviation".into(),
        stale: false,
    });
    Report {
        tool: "touchstone test".into(),
        target: "http://127.0.0.1:5985/wsman".into(),
        product: Some("Example BMC 1.0".into()),
        discovery: Vec::new(),
        seed: 7,
        jobs: 2,
        duration_us: 1_500_000,
        results: vec![
            case("t.pass", Outcome::Pass, Level::Must),
            case("t.skip", Outcome::Skip, Level::May),
            case("t.warn", Outcome::Warn, Level::Should),
            case("t.error", Outcome::Error, Level::Must),
            case("t.fail", Outcome::Fail, Level::Must),
            ruled,
            waived,
        ],
        target_lost: None,
    }
}

/// The `class="case KIND" id="ID"` blocks of a DOM, in document order.
fn case_blocks(dom: &str) -> Vec<(String, String)> {
    dom.match_indices("<div class=\"case ")
        .map(|(i, m)| {
            let rest = &dom[i + m.len()..];
            let kind = rest[..rest.find('"').unwrap()].to_owned();
            let id_at = rest.find("id=\"").unwrap() + 4;
            let id = rest[id_at..id_at + rest[id_at..].find('"').unwrap()].to_owned();
            (kind, id)
        })
        .collect()
}

/// `href` values of a DOM.
fn links(dom: &str) -> Vec<String> {
    dom.match_indices("href=\"")
        .map(|(i, m)| {
            let v = &dom[i + m.len()..];
            v[..v.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// The page's fragment ID of a case.
fn anchor(id: &str) -> String {
    format!("c-{id}")
}

/// What a user must see in the DOM Chromium built from `report`'s HTML: the verdict and
/// counts up top, the failures and errors first and each linked from the problems list
/// to an element that exists, every case once. Returns the DOM.
fn check_dom(exe: &Path, report: &Report, scratch: &Path, name: &str) -> (PathBuf, String) {
    let page = scratch.join(format!("{name}.html"));
    let html = conformance::report::html::to_string(report);
    fs::write(&page, &html).unwrap();
    let refs = network_references(&html);
    assert!(
        refs.is_empty(),
        "the report refers to the network: {refs:?}"
    );

    let dom = chromium(exe, &page, &["--dump-dom".to_owned()], scratch, name);
    assert!(
        dom.contains("<title>Touchstone conformance report</title>"),
        "the dumped DOM is not the report:\n{}",
        &dom[..dom.len().min(2000)]
    );
    assert!(
        !dom.contains("<script"),
        "the page needs no script to be read"
    );

    // The banner: verdict, exit code, and the counts as big numbers.
    let code = report.exit_code();
    let word = ["PASS", "FAIL", "ERROR", "TARGET UNREACHABLE"][usize::from(code)];
    let banner =
        format!("<p class=\"verdict\">{word}</p><p class=\"exit\"><b>exit code {code}</b>");
    let banner_at = dom
        .find(&banner)
        .unwrap_or_else(|| panic!("{name}: no banner {banner}"));
    let counts = report.counts();
    for o in Outcome::ALL {
        let n = counts[&o];
        let shown = format!("id=\"count-{}\"><b>{n}</b>", o.as_str());
        assert!(dom.contains(&shown), "{name}: the banner lacks {shown}");
    }

    // Failures, then errors, first; the problems list links each of them in that order.
    let blocks = case_blocks(&dom);
    assert_eq!(blocks.len(), report.results.len(), "{name}: case blocks");
    let ids: BTreeSet<String> = report.results.iter().map(|r| anchor(&r.id)).collect();
    let shown: BTreeSet<String> = blocks.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(shown, ids, "{name}: every case has its block");
    let failing = |o: Outcome| {
        report
            .results
            .iter()
            .filter(|r| {
                (r.waiver.is_none() && r.outcome == o)
                    || (o == Outcome::Fail
                        && r.findings
                            .iter()
                            .any(|f| f.waiver.is_none() && f.outcome == o))
            })
            .map(|r| anchor(&r.id))
            .collect::<BTreeSet<_>>()
    };
    let (fails, errors) = (failing(Outcome::Fail), failing(Outcome::Error));
    let head: Vec<&(String, String)> = blocks.iter().take(fails.len() + errors.len()).collect();
    let (head_fails, head_errors) = head.split_at(fails.len());
    assert!(
        head_fails
            .iter()
            .all(|(k, id)| k == "fail" && fails.contains(id))
            && head_errors
                .iter()
                .all(|(k, id)| k == "error" && errors.contains(id)),
        "{name}: the first case blocks are not the failures then the errors: {head:?}"
    );
    let rank = |k: &str| {
        ["fail", "error", "warn", "waived", "skip", "pass"]
            .iter()
            .position(|x| *x == k)
    };
    let ranks: Vec<usize> = blocks
        .iter()
        .map(|(k, _)| rank(k).expect("a known kind"))
        .collect();
    assert!(ranks.is_sorted(), "{name}: blocks out of order: {blocks:?}");

    let problems_at = dom.find("id=\"problems\"").expect("a problems section");
    let cases_at = dom.find("<div class=\"case ").expect("case blocks");
    assert!(banner_at < problems_at && problems_at < cases_at);
    let listed: Vec<String> = links(&dom[problems_at..cases_at])
        .into_iter()
        .map(|l| l.trim_start_matches('#').to_owned())
        .collect();
    let expected: Vec<String> = head.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(
        &listed[..expected.len().min(listed.len())],
        &expected[..],
        "{name}: the problems list starts with every failure and error, in page order"
    );
    // Every link of the page goes to an element of the page.
    for l in links(&dom) {
        let frag = l
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{name}: link {l} leaves the page"));
        assert!(
            dom.contains(&format!("id=\"{frag}\"")),
            "{name}: link {l} goes nowhere"
        );
    }
    let refs = network_references(&dom);
    assert!(
        refs.is_empty(),
        "{name}: the DOM refers to the network: {refs:?}"
    );
    (page, dom)
}

#[cfg_attr(
    not(has_chromium),
    ignore = "chromium is not installed: apt-get update && apt-get install -y chromium"
)]
#[test]
fn a_failing_run_reads_failures_first_in_headless_chromium() {
    let Some(exe) = chromium_or_skip() else {
        return;
    };
    let start = Instant::now();
    let scratch = TempDir::new("html-render");

    // Every outcome, made here: the order of all six groups.
    let all = every_outcome();
    let (all_page, dom) = check_dom(&exe, &all, scratch.path(), "every-outcome");
    if let Some(keep) = std::env::var_os("TOUCHSTONE_HTML_SCREENSHOT") {
        let keep = Path::new(&keep).with_extension("every-outcome.html");
        fs::copy(&all_page, keep).expect("the page is kept");
    }
    let order: Vec<String> = case_blocks(&dom).into_iter().map(|(_, id)| id).collect();
    assert_eq!(
        order,
        [
            "c-t.fail",
            "c-t.pass-but-rule",
            "c-t.error",
            "c-t.warn",
            "c-t.waived",
            "c-t.skip",
            "c-t.pass"
        ],
    );
    // XML on the wire is shown indented (the browser serializes `<` as `&lt;`).
    assert!(
        dom.contains("\n\n&lt;s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"&gt;\n  &lt;s:Header&gt;\n    &lt;a:Action xmlns:a=\"urn:a\"&gt;urn:get&lt;/a:Action&gt;"),
        "the transcript XML is not indented"
    );

    // A real failing run.
    let report = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
        .block_on(failing_run());
    let suite_len = Suite::embedded().unwrap().cases.len();
    assert_eq!(report.results.len(), suite_len);
    assert_eq!(report.exit_code(), 1, "{DEFECT} makes MUST cases fail");
    let (page, dom) = check_dom(&exe, &report, scratch.path(), "failing-run");
    // The first failure as the defect shows it: the wrong action, its rerun command,
    // and its transcript indented.
    let first = report
        .results
        .iter()
        .find(|r| r.id == "wsman.transfer.get.response-action")
        .expect("the case the defect breaks");
    assert_eq!(first.outcome, Outcome::Fail);
    let card_at = dom.find(&format!("id=\"{}\"", anchor(&first.id))).unwrap();
    let card = &dom[card_at..];
    let card = &card[..card.find("<div class=\"case ").unwrap_or(card.len())];
    assert!(card.contains(&first.rerun), "the rerun command is shown");
    assert!(card.contains("PutResponse"), "the wrong action is shown");
    assert!(
        card.contains("\n  &lt;s:Header"),
        "the answer is indented:\n{card}"
    );

    // A screenshot: the page paints (a blank 1280x1400 PNG is a few kilobytes).
    let png = scratch.path().join("report.png");
    chromium(
        &exe,
        &page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,1400".to_owned(),
            "--hide-scrollbars".to_owned(),
        ],
        scratch.path(),
        "screenshot",
    );
    let bytes = fs::read(&png).expect("chromium wrote the screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the screenshot is not a PNG"
    );
    assert!(
        bytes.len() > 20_000,
        "the screenshot is suspiciously small ({} bytes)",
        bytes.len()
    );
    if let Some(keep) = std::env::var_os("TOUCHSTONE_HTML_SCREENSHOT") {
        fs::copy(&png, &keep).expect("the screenshot is kept");
        fs::copy(&page, Path::new(&keep).with_extension("html")).expect("the page is kept");
    }
    eprintln!(
        "html_render: {} cases, screenshot {} bytes, {:?} in all",
        suite_len,
        bytes.len(),
        start.elapsed()
    );
}
