// Shared by the build scripts of `mock`, `client` and `conformance` (included with
// `include!`): probes for the third-party tools their interop tests drive and emits
// `cargo:rustc-cfg=has_<tool>` for each one found, so a test whose tool is missing is
// marked `#[cfg_attr(not(has_<tool>), ignore = "<tool> is not installed: <how>")]` and
// libtest shows it as ignored with that reason instead of passing it silently.
//
// Under `CI=true` every cfg is emitted: nothing is ignored, and a missing tool fails its
// test (CI installs them: `.ci/run`). The probes re-run when `PATH` or `CI` changes and
// when a directory on `PATH` changes (a tool installed or removed there).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A tool an interop test needs: the cfg name and how to probe for it.
pub enum Tool {
    /// A program on PATH: `(cfg, program)`.
    Program(&'static str, &'static str),
    /// A Python module importable by `python3`: `(cfg, module)`.
    Python(&'static str, &'static str),
    /// A UDP socket can be bound to the IPv6 loopback `[::1]:0`: `(cfg)`.
    Ipv6Loopback(&'static str),
    /// An executable named by an environment variable or, without it, at a path under
    /// the user's cache directory (`${XDG_CACHE_HOME:-$HOME/.cache}/<path>`), where
    /// `.ci/run` installs tools that need a virtualenv of their own: `(cfg, variable,
    /// path)`.
    Cached(&'static str, &'static str, &'static str),
}

/// Where a [`Tool::Cached`] executable is: `$variable`, or `path` under the cache
/// directory.
pub fn cached_tool(variable: &str, path: &str) -> Option<std::path::PathBuf> {
    if let Some(v) = std::env::var_os(variable).filter(|v| !v.is_empty()) {
        return Some(v.into());
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))?;
    Some(cache.join(path))
}

/// How long one probe may take before it counts as "not installed".
const PROBE_DEADLINE: Duration = Duration::from_secs(20);

fn in_ci() -> bool {
    std::env::var("CI")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

fn on_path(program: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let p = dir.join(program);
        p.is_file()
            && std::fs::metadata(&p).is_ok_and(|m| {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    m.permissions().mode() & 0o111 != 0
                }
                #[cfg(not(unix))]
                {
                    let _ = m;
                    true
                }
            })
    })
}

/// Runs `cmd` (no input or output) and says whether it exited 0 within the deadline.
fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let Ok(mut child) = cmd.spawn() else {
        return false;
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if started.elapsed() < PROBE_DEADLINE => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// Probes each tool and prints the cargo directives.
pub fn probe_tools(tools: &[Tool]) {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=../../.ci/build_probe.rs");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=CI");
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path).filter(|d| d.is_dir()) {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
    let ci = in_ci();
    for tool in tools {
        let (cfg, found) = match *tool {
            Tool::Program(cfg, program) => (cfg, ci || on_path(program)),
            Tool::Python(cfg, module) => (
                cfg,
                ci || succeeds(
                    Command::new("python3")
                        .env("PYTHONDONTWRITEBYTECODE", "1")
                        .arg("-c")
                        .arg(format!("import {module}")),
                ),
            ),
            Tool::Cached(cfg, variable, path) => {
                println!("cargo::rerun-if-env-changed={variable}");
                println!("cargo::rerun-if-env-changed=XDG_CACHE_HOME");
                println!("cargo::rerun-if-env-changed=HOME");
                let file = cached_tool(variable, path);
                // Watch the nearest directory that exists, so an install is noticed.
                if let Some(dir) = file
                    .as_deref()
                    .and_then(|f| f.ancestors().skip(1).find(|d| d.is_dir()))
                {
                    println!("cargo::rerun-if-changed={}", dir.display());
                }
                (cfg, ci || file.is_some_and(|f| f.is_file()))
            }
            Tool::Ipv6Loopback(cfg) => (
                cfg,
                ci || std::net::UdpSocket::bind((std::net::Ipv6Addr::LOCALHOST, 0)).is_ok(),
            ),
        };
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if found {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
