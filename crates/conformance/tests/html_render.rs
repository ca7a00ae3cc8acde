//! The HTML report renders in a real browser: the suite runs against the embedded mock,
//! the report is written to a file and loaded in headless Chromium, and the DOM it
//! builds shows the summary numbers and every case ID. The page is self-contained: its
//! markup refers to no http(s) resource, and Chromium runs with every host name made
//! unresolvable so that any network use would fail visibly.
//!
//! Without `chromium` on PATH the test says so on stderr and passes, except under
//! `CI=true`, where it fails (`.ci/run` installs Chromium).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use conformance::case::Outcome;
use conformance::{RunOptions, Suite, Waivers};

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
    let mut found = Vec::new();
    for attr in ["src=", "href=", "action=", "url("] {
        for (i, _) in lower.match_indices(attr) {
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

async fn report_of_the_mock() -> conformance::Report {
    let mock = mock::MockServer::start().await.unwrap();
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

#[cfg_attr(
    not(has_chromium),
    ignore = "chromium is not installed: apt-get update && apt-get install -y chromium"
)]
#[test]
fn the_html_report_renders_in_headless_chromium() {
    let Some(exe) = chromium_or_skip() else {
        return;
    };
    let start = Instant::now();
    let report = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
        .block_on(report_of_the_mock());
    let suite_ids: Vec<String> = Suite::embedded()
        .unwrap()
        .cases
        .iter()
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(report.results.len(), suite_ids.len());

    let scratch = TempDir::new("html-render");
    let page = scratch.path().join("report.html");
    let html = conformance::report::html::to_string(&report);
    fs::write(&page, &html).unwrap();

    let refs = network_references(&html);
    assert!(
        refs.is_empty(),
        "the report refers to the network: {refs:?}"
    );

    let dom = chromium(
        &exe,
        &page,
        &["--dump-dom".to_owned()],
        scratch.path(),
        "dom",
    );
    assert!(
        dom.contains("<title>Touchstone conformance report</title>")
            && dom.contains("<h2>Summary</h2>"),
        "the dumped DOM is not the report:\n{}",
        &dom[..dom.len().min(2000)]
    );

    // The summary: the all-cases row and one row per profile, with every count.
    let counts = report.counts();
    let total: usize = counts.values().sum();
    assert_eq!(total, suite_ids.len());
    let mut all_row = String::from("<th>all cases</th>");
    for o in Outcome::ALL {
        all_row.push_str(&format!(
            "<th>{}</th>",
            counts.get(&o).copied().unwrap_or(0)
        ));
    }
    assert!(
        dom.contains(&all_row),
        "the DOM lacks the summary row {all_row}"
    );
    for (profile, m) in report.by_profile() {
        let mut row = format!("<td>{profile}</td>");
        for o in Outcome::ALL {
            row.push_str(&format!("<td>{}</td>", m.get(&o).copied().unwrap_or(0)));
        }
        assert!(dom.contains(&row), "the DOM lacks the profile row {row}");
    }

    // Every case, in a row of its own.
    let missing: Vec<&String> = suite_ids
        .iter()
        .filter(|id| !dom.contains(&format!("<td><code>{id}</code></td>")))
        .collect();
    assert!(
        missing.is_empty(),
        "case IDs missing from the DOM: {missing:?}"
    );
    let rows = dom.matches("class=\"case\"").count();
    assert_eq!(rows, suite_ids.len(), "case rows in the DOM");

    // What the browser built still loads nothing from the network.
    let refs = network_references(&dom);
    assert!(
        refs.is_empty(),
        "the rendered DOM refers to the network: {refs:?}"
    );

    // A screenshot: the page paints (a blank 1280x2000 PNG is a few kilobytes).
    let png = scratch.path().join("report.png");
    chromium(
        &exe,
        &page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,2000".to_owned(),
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
    eprintln!(
        "html_render: {} cases, screenshot {} bytes, {:?} in all",
        suite_ids.len(),
        bytes.len(),
        start.elapsed()
    );
}
