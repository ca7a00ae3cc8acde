//! Support shared by the interop tests (`tests/interop_*.rs`), which drive the mock with
//! real third-party clients (pypsrp, pywinrm, ipmitool, ...) run as child processes.
//! The clients' scripts live beside this file.
//!
//! Three things every such test needs:
//! - Whether the client is installed. The crate's build script (`build.rs`, with
//!   `.ci/build_probe.rs`) probes for each client and sets `has_<client>`; a test whose
//!   client is missing is `#[cfg_attr(not(has_<client>), ignore = "<why and how to
//!   install>")]`, so `cargo test` lists it as ignored with that reason. Under `CI=true`
//!   the build script sets every `has_*`: nothing is ignored and a missing client fails
//!   (CI installs them: `.ci/run`). [`Requirement::check`] checks again when the test
//!   runs and fails it with the reason if the client went missing since the build.
//! - [`run_with_deadline`]: a child process that is killed when its deadline passes, so
//!   a client that hangs fails the test instead of hanging it.
//! - [`TempFile`]: a file (a certificate to trust, a config) under cargo's per-target
//!   temporary directory, removed when dropped.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long one client run may take before it is killed.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// How long probing for a client (`python3 -c "import x"`) may take.
const PROBE_DEADLINE: Duration = Duration::from_secs(30);

/// Whether this run is CI's: `CI=true` (as CI services and `.ci/run`'s caller set it).
pub fn in_ci() -> bool {
    std::env::var("CI")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// Something an interop test needs from the machine, and how a developer gets it.
pub struct Requirement {
    /// What is missing when the probe fails, e.g. `pypsrp is not installed`.
    missing: String,
    /// How to install it, e.g. `pip install pypsrp`.
    install: String,
    /// A command that exits 0 when the requirement is met.
    probe: Command,
}

impl Requirement {
    /// A Python module importable by `python3`.
    pub fn python_module(module: &str, install: &str) -> Requirement {
        let mut probe = python3();
        probe.arg("-c").arg(format!("import {module}"));
        Requirement {
            missing: format!("{module} is not installed"),
            install: install.to_owned(),
            probe,
        }
    }

    /// A program on `PATH` that answers `program args...` with exit status 0 (e.g.
    /// `ipmitool -V`).
    pub fn program(program: &str, args: &[&str], install: &str) -> Requirement {
        let mut probe = Command::new(program);
        probe.args(args);
        Requirement {
            missing: format!("{program} is not installed"),
            install: install.to_owned(),
            probe,
        }
    }

    /// Why the requirement is not met, or `None` when it is.
    pub fn unmet(&mut self) -> Option<String> {
        let program = self.probe.get_program().to_string_lossy().into_owned();
        let ran = run_with_deadline(&mut self.probe, PROBE_DEADLINE);
        match ran.spawn_error {
            Some(e) => Some(format!(
                "{} ({program}: {e}) ({})",
                self.missing, self.install
            )),
            None if ran.success() => None,
            None => Some(format!("{} ({})", self.missing, self.install)),
        }
    }

    /// Checks the requirement when `test` runs; see [`verdict`]. Returns `true` (the
    /// test goes on) or panics with the reason.
    pub fn check(mut self, test: &str) -> bool {
        match verdict(test, self.unmet(), in_ci()) {
            Verdict::Run => true,
            Verdict::Fail(message) => panic!("{message}"),
        }
    }
}

/// What a test does about a requirement when it runs.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It is met: run.
    Run,
    /// Not met: fail with this message.
    Fail(String),
}

/// The rule when a test runs: a test whose client the build script did not find is
/// ignored before it runs (with the reason), so a test that runs and misses its client
/// fails: under CI an install step is missing; elsewhere the client went missing after
/// the build (the message says how to rebuild).
pub fn verdict(test: &str, unmet: Option<String>, ci: bool) -> Verdict {
    match unmet {
        None => Verdict::Run,
        Some(why) if ci => Verdict::Fail(format!(
            "{test}: {why}; with CI=true a missing interop client is a failure (.ci/run installs it)"
        )),
        Some(why) => Verdict::Fail(format!(
            "{test}: {why}; it was found when the tests were built: reinstall it, or \
             rebuild (`touch crates/mock/build.rs`) so that the test is ignored"
        )),
    }
}

/// `python3`, unbuffered (so a killed run still shows what it printed) and writing no
/// bytecode into the source tree.
pub fn python3() -> Command {
    let mut c = Command::new("python3");
    c.env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    c
}

/// The path of a script in `tests/interop/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("interop")
        .join(name)
}

/// How a child process ended.
#[derive(Debug)]
pub struct Finished {
    /// The command line, for messages.
    pub command: String,
    /// The exit status; `None` if it could not be started or was killed at the deadline.
    pub status: Option<ExitStatus>,
    /// Why it could not be started.
    pub spawn_error: Option<std::io::Error>,
    /// Whether it was killed because the deadline passed.
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Finished {
    /// Whether it ran to the end and exited 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The lines it printed on stdout.
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Everything known about the run, for an assertion message.
    pub fn report(&self) -> String {
        let end = match (&self.spawn_error, self.timed_out, self.status) {
            (Some(e), _, _) => format!("could not start: {e}"),
            (None, true, _) => format!("killed after the {} s deadline", self.elapsed.as_secs()),
            (None, false, Some(s)) => format!("{s} after {} ms", self.elapsed.as_millis()),
            (None, false, None) => "no exit status".to_owned(),
        };
        format!(
            "$ {}\n{end}\n--- stdout\n{}--- stderr\n{}---",
            self.command, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` (stdin closed, stdout and stderr captured) and kills it if it has not
/// exited when `deadline` has passed. Blocking: from async code, call it in
/// `tokio::task::spawn_blocking`.
pub fn run_with_deadline(cmd: &mut Command, deadline: Duration) -> Finished {
    run_with_input(cmd, None, deadline)
}

/// [`run_with_deadline`], with `input` written to the child's stdin (then closed) when
/// given.
pub fn run_with_input(cmd: &mut Command, input: Option<&[u8]>, deadline: Duration) -> Finished {
    let command = format!("{cmd:?}");
    let started = Instant::now();
    let mut finished = Finished {
        command,
        status: None,
        spawn_error: None,
        timed_out: false,
        stdout: String::new(),
        stderr: String::new(),
        elapsed: Duration::ZERO,
    };
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            finished.spawn_error = Some(e);
            return finished;
        }
    };
    if let (Some(bytes), Some(mut stdin)) = (input.map(<[u8]>::to_vec), child.stdin.take()) {
        // From a thread, so that a child that does not read cannot block the deadline.
        thread::spawn(move || {
            use std::io::Write as _;
            let _ = stdin.write_all(&bytes);
        });
    }
    // Drain both pipes while waiting, so a chatty child cannot block on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                finished.status = Some(status);
                break;
            }
            Ok(None) if started.elapsed() >= deadline => {
                // Only this child, by its handle; it started nothing that outlives it.
                let _ = child.kill();
                let _ = child.wait();
                finished.timed_out = true;
                break;
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                finished.spawn_error = Some(e);
                break;
            }
        }
    }
    finished.stdout = out.join().unwrap_or_default();
    finished.stderr = err.join().unwrap_or_default();
    finished.elapsed = started.elapsed();
    finished
}

/// A file under cargo's per-target temporary directory, removed when dropped.
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// Writes `contents` to a new file named `<stem>-<unique><ext>`.
    pub fn new(stem: &str, ext: &str, contents: &str) -> TempFile {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let unique = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{stem}-{unique}{ext}"));
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        TempFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub mod ipmi;
