//! Running the built `touchstone` binary from tests, with a deadline: a run that hangs
//! is killed after a minute, so the test fails instead of hanging CI.

use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long one run of the binary may take.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `touchstone ARGS` with stdin closed and returns what it printed.
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub fn touchstone(args: &[&str]) -> Output {
    touchstone_with_env(args, &[])
}

/// [`touchstone`] with extra environment variables.
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub fn touchstone_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_touchstone"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let pid = child.id();
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(DEADLINE).is_err() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    });
    let out = child
        .wait_with_output()
        .expect("the binary's output is readable");
    let _ = done.send(());
    let _ = watchdog.join();
    out
}
