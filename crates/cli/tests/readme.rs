//! README.md keeps its promises (issue #14): one test per shell example and per usage
//! block, as a libtest-mimic harness so that an example that cannot run here is
//! reported as ignored with the reason.
//!
//! - `readme::usage::<cmd>`: the usage block of `touchstone <cmd>` (a plain fenced block
//!   whose first line starts with `touchstone <cmd> `) names exactly the long options
//!   that `touchstone <cmd> --help` lists (clap's own `--help`/`--version` aside).
//! - `readme::example::line_<N>`: every fenced `sh`/`bash` block (N is its fence's line)
//!   runs verbatim in `bash -e -o pipefail` from the repository's root, with the
//!   `touchstone` just built first on `PATH`, in its own process group (killed
//!   afterwards, so a background `touchstone serve` never outlives it), within
//!   [`DEADLINE`], and must exit 0. The loopback ports the examples name (5985, 5990,
//!   6230) are replaced by free ones the system hands out for port 0 (a block that
//!   fails because one was taken before it bound it runs again with others, at most
//!   [`PORT_ATTEMPTS`] times in all); blocks still run one at a time. A block preceded by `<!-- readme-test: skip (why) -->` is ignored with that
//!   reason (installs, the test command itself, a real target, an interactive console);
//!   a block that needs a tool that is not installed (curl, ipmitool, bmc-info) is
//!   ignored with the install command, except under `CI=true`, where it fails.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

/// The loopback ports README's examples name (WS-Man HTTP, the admin API, IPMI on UDP).
const README_PORTS: [(&str, bool); 3] = [("5985", false), ("5990", false), ("6230", true)];

/// `text` with each port README's examples name replaced by one the system just gave
/// out for port 0 (TCP, or UDP for IPMI): the examples stay copyable as written, and
/// the test never depends on a fixed port being free (another `touchstone serve`, a
/// real WinRM on 5985).
fn with_free_ports(text: &str) -> String {
    let mut out = text.to_owned();
    for (port, udp) in README_PORTS {
        if !out.contains(port) {
            continue;
        }
        let free = if udp {
            std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr())
        } else {
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|s| s.local_addr())
        }
        .expect("a free loopback port")
        .port()
        .to_string();
        out = replace_number(&out, port, &free);
    }
    out
}

/// `text` with every occurrence of the number `from` that is not part of a longer
/// number (`:6230`, `-p 6230`, but not `62301`) replaced by `to`.
fn replace_number(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(from) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + from.len()..].chars().next();
        let alone = !before.is_some_and(|c| c.is_ascii_digit())
            && !after.is_some_and(|c| c.is_ascii_digit());
        out.push_str(&rest[..i]);
        out.push_str(if alone { to } else { from });
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

/// How long one example may run before its process group is killed.
const DEADLINE: Duration = Duration::from_secs(300);

/// The commands whose usage blocks are checked.
const COMMANDS: [&str; 3] = ["check", "serve", "lint"];

/// Tools examples may use: the program and how to install it.
const TOOLS: [(&str, &str); 4] = [
    ("curl", "apt-get install -y curl"),
    (
        "evil-winrm-py",
        "bash .ci/run (links it in ~/.cache/touchstone/bin) or pipx install evil-winrm-py==1.7.0",
    ),
    ("ipmitool", "apt-get install -y ipmitool"),
    ("bmc-info", "apt-get install -y freeipmi-tools"),
];

/// Examples run one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md is readable")
}

fn touchstone() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_touchstone"))
}

fn in_ci() -> bool {
    std::env::var("CI")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// A fenced block of the README.
#[derive(Debug, Clone)]
struct Block {
    /// The line of the opening fence (1-based).
    line: usize,
    /// The info string (`sh`, `python`, empty).
    tag: String,
    /// The lines between the fences.
    text: String,
    /// The reason of a `<!-- readme-test: skip (...) -->` just above the fence.
    skip: Option<String>,
}

fn blocks(readme: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(tag) = lines[i].trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let start = i;
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && lines[i].trim_start() != "```" {
            body.push(lines[i]);
            i += 1;
        }
        out.push(Block {
            line: start + 1,
            tag: tag.trim().to_owned(),
            text: body.join("\n") + "\n",
            skip: skip_reason(&lines[..start]),
        });
        i += 1;
    }
    out
}

/// The skip marker that ends just above a fence: `<!-- readme-test: skip (why) -->`,
/// possibly over several lines.
fn skip_reason(before: &[&str]) -> Option<String> {
    let last = before.iter().rposition(|l| !l.trim().is_empty())?;
    if !before[last].trim_end().ends_with("-->") {
        return None;
    }
    let first = before[..=last].iter().rposition(|l| l.contains("<!--"))?;
    let comment = before[first..=last].join(" ");
    let inner = comment.split_once("<!--")?.1.rsplit_once("-->")?.0.trim();
    let rest = inner.strip_prefix("readme-test: skip")?.trim();
    let why = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(rest);
    Some(why.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Long options (`--name`) named in `text`.
fn long_options(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i + 2 < b.len() {
        let starts = b[i] == b'-'
            && b[i + 1] == b'-'
            && b[i + 2].is_ascii_lowercase()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'-'));
        if starts {
            let mut j = i + 2;
            while j < b.len()
                && (b[j].is_ascii_lowercase() || b[j].is_ascii_digit() || b[j] == b'-')
            {
                j += 1;
            }
            out.insert(text[i..j].trim_end_matches('-').to_owned());
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// The long options `touchstone <cmd> --help` lists (its option lines only).
fn help_options(cmd: &str) -> Result<BTreeSet<String>, String> {
    let out = Command::new(touchstone())
        .args([cmd, "--help"])
        .output()
        .map_err(|e| format!("cannot run touchstone {cmd} --help: {e}"))?;
    if !out.status.success() {
        return Err(format!("touchstone {cmd} --help: {}", out.status));
    }
    let help = String::from_utf8_lossy(&out.stdout);
    let mut options = BTreeSet::new();
    for line in help.lines() {
        let t = line.trim_start();
        // An option line: `-x, --long <V>` or `--long <V>`, then its help.
        let head = if let Some(rest) = t.strip_prefix('-').filter(|r| !r.starts_with('-')) {
            rest.split_once(", ").map(|(_, h)| h)
        } else {
            Some(t).filter(|t| t.starts_with("--"))
        };
        if let Some(head) = head {
            let name: String = head
                .chars()
                .take_while(|c| *c == '-' || c.is_ascii_alphanumeric())
                .collect();
            if name.len() > 2 {
                options.insert(name);
            }
        }
    }
    options.remove("--help");
    options.remove("--version");
    Ok(options)
}

fn check_usage(cmd: &str) -> Result<(), Failed> {
    let text = readme();
    let prefix = format!("touchstone {cmd} ");
    let block = blocks(&text)
        .into_iter()
        .find(|b| b.tag.is_empty() && b.text.trim_start().starts_with(&prefix))
        .ok_or_else(|| format!("README.md has no usage block starting with `{prefix}`"))?;
    let documented = long_options(&block.text);
    let actual = help_options(cmd)?;
    let missing: Vec<_> = actual.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&actual).collect();
    if missing.is_empty() && stale.is_empty() {
        return Ok(());
    }
    Err(format!(
        "README.md line {}: the usage block of `touchstone {cmd}` and `touchstone {cmd} --help` \
         differ\n  in --help, not in the README: {missing:?}\n  in the README, not in --help: \
         {stale:?}",
        block.line
    )
    .into())
}

/// Why an example cannot run here, if it cannot.
fn unrunnable(block: &Block) -> Option<String> {
    if let Some(why) = &block.skip {
        return Some(format!("README.md line {}: {why}", block.line));
    }
    let words: BTreeSet<&str> = block
        .text
        .split(|c: char| c.is_whitespace() || c == ';' || c == '(' || c == '|')
        .collect();
    let missing: Vec<String> = TOOLS
        .iter()
        .filter(|(tool, _)| words.contains(tool) && !on_path(tool))
        .map(|(tool, install)| format!("{tool} is not installed: {install}"))
        .collect();
    (!missing.is_empty() && !in_ci()).then(|| missing.join("; "))
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// How many times an example runs when a port it was given was taken before it bound
/// it: the ports are free when the system hands them out for port 0, and anything on
/// the machine may take one before the example's server binds it.
const PORT_ATTEMPTS: usize = 3;

fn run_example(block: &Block) -> Result<(), Failed> {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut attempt = 1;
    loop {
        match run_example_once(block) {
            Err(failure)
                if attempt < PORT_ATTEMPTS && failure.contains("Address already in use") =>
            {
                eprintln!(
                    "README.md line {}: a port given to the example was taken before it \
                     bound it; running it again with other ports",
                    block.line
                );
                attempt += 1;
            }
            end => return end.map_err(Failed::from),
        }
    }
}

fn run_example_once(block: &Block) -> Result<(), String> {
    let bin_dir = touchstone().parent().expect("a directory").to_owned();
    let path = std::env::join_paths(
        std::iter::once(bin_dir).chain(
            std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .unwrap_or_default(),
        ),
    )
    .expect("a PATH");
    let text = with_free_ports(&block.text);
    let mut cmd = Command::new("bash");
    cmd.args(["-e", "-o", "pipefail", "-c", &text])
        .current_dir(root())
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so that everything it starts can be ended with it.
    // SAFETY: setpgid is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setpgid(0, 0) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot run bash: {e}"))?;
    let group = child.id() as i32;
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < DEADLINE => {
                std::thread::sleep(Duration::from_millis(50))
            }
            _ => break None,
        }
    };
    // End the group (a background server the block started and did not stop, or the
    // whole block at its deadline): only processes this test started.
    // SAFETY: kill(2) on the group this test created.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
    let _ = child.wait();
    // The pipes close once every process of the group is gone.
    let (stdout, stderr) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    let took = started.elapsed();
    match status {
        Some(s) if s.success() => {
            eprintln!("README.md line {}: ran in {took:.1?}", block.line);
            Ok(())
        }
        end => Err(format!(
            "README.md line {}: {}\n--- block\n{}--- stdout\n{stdout}\n--- stderr\n{stderr}",
            block.line,
            match end {
                Some(s) => format!("{s} after {took:.1?}"),
                None => format!("killed at the {DEADLINE:?} deadline"),
            },
            block.text
        )),
    }
}

fn main() {
    let args = Arguments::from_args();
    let text = readme();
    let mut trials: Vec<Trial> = COMMANDS
        .iter()
        .map(|cmd| Trial::test(format!("usage::{cmd}"), move || check_usage(cmd)))
        .collect();
    for block in blocks(&text)
        .into_iter()
        .filter(|b| matches!(b.tag.as_str(), "sh" | "bash"))
    {
        let name = format!("example::line_{}", block.line);
        trials.push(Trial::ignorable_test(name, move || {
            match unrunnable(&block) {
                Some(why) => Ok(Completion::ignored_with(why)),
                None => run_example(&block).map(|()| Completion::Completed),
            }
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}
