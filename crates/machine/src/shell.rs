//! The WinRM remote shell, sans-IO: shells, the commands running in them, their output
//! schedule, standard input and signals. No clock and no IO: every call takes `now`,
//! and identifiers come from the caller (the mock makes UUIDs), so the same calls at
//! the same times give the same output.
//!
//! A command line is answered, in this order, by:
//! 1. the scenario's command table ([`crate::CommandSpec`], first match wins): canned
//!    chunks with a delay before each, an exit code, an echo of stdin, chunks cycled
//!    until a signal (`repeat`), or a Rhai handler;
//! 2. cmd.exe built-ins: `echo`, `cd` (no argument), `exit [/b] N`;
//! 3. `powershell [-flags] -EncodedCommand <base64 UTF-16LE>` (or `-Command ...`): the
//!    script is matched against the scenario's script table, then a few PowerShell
//!    built-ins ([`powershell`]), and anything else is PowerShell's CommandNotFound
//!    error as CLIXML on stderr with exit code 1;
//! 4. anything else is cmd.exe's `'NAME' is not recognized ...` on stderr, exit 9009.
//!
//! `%NAME%` in a command line is expanded from the shell's environment (the Create
//! request's variables, then COMPUTERNAME, USERNAME, USERDOMAIN, USERPROFILE, OS,
//! SystemRoot), case-insensitively, before matching; an unknown name stays as written.
//!
//! Output text becomes bytes in the shell's code page (437: CP437, unmappable
//! characters become `?`; 65001: UTF-8). Echoed stdin is passed through as sent.

use std::collections::{BTreeMap, VecDeque};

use rhai::Dynamic;

use crate::Millis;
use crate::command::CommandSpec;
use crate::script;

pub mod powershell;

/// The exit code of a command stopped by Ctrl+C or Ctrl+Break: `STATUS_CONTROL_C_EXIT`
/// (0xC000013A) as a signed 32-bit number, as cmd.exe reports it.
pub const CTRL_C_EXIT: i32 = -1_073_741_510;

/// cmd.exe's exit code for a command it cannot find.
pub const NOT_FOUND_EXIT: i32 = 9009;

/// WinRM's default shell idle timeout (`winrm/config/winrs` IdleTimeout, 2 hours).
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 7_200_000;

/// The output streams of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamName {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl StreamName {
    /// `stdout` / `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamName::Stdout => "stdout",
            StreamName::Stderr => "stderr",
        }
    }

    /// The stream called `name` (case-insensitive).
    pub fn parse(name: &str) -> Option<StreamName> {
        match name.to_ascii_lowercase().as_str() {
            "stdout" => Some(StreamName::Stdout),
            "stderr" => Some(StreamName::Stderr),
            _ => None,
        }
    }
}

/// One piece of output as a Receive carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The stream.
    pub stream: StreamName,
    /// The bytes (in the shell's code page); may be empty on the closing chunk.
    pub bytes: Vec<u8>,
    /// The last chunk of this stream (`End="true"`).
    pub end: bool,
}

/// Where a command is, as a Receive reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandStatus {
    /// Still running (`.../CommandState/Running`).
    Running,
    /// Finished with this exit code (`.../CommandState/Done`).
    Done(i32),
}

/// The answer to a Receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Output is ready, or the command has finished.
    Output {
        /// The chunks, in the order they were produced.
        chunks: Vec<Chunk>,
        /// The command's state after these chunks.
        status: CommandStatus,
    },
    /// Nothing yet: ask again at `until` (when the next output is due), or after
    /// something else happens (stdin, a signal) when `None`.
    Wait {
        /// When the next output is due, if that is known.
        until: Option<Millis>,
    },
}

/// A signal a client can send to a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `.../signal/terminate`: the command is stopped and forgotten.
    Terminate,
    /// `.../signal/ctrl_c`.
    CtrlC,
    /// `.../signal/ctrl_break`.
    CtrlBreak,
}

impl Signal {
    /// The signal a `rsp:Code` names: the full URI or its last segment.
    pub fn parse(code: &str) -> Option<Signal> {
        let last = code.trim().rsplit('/').next().unwrap_or("");
        match last.to_ascii_lowercase().as_str() {
            "terminate" => Some(Signal::Terminate),
            "ctrl_c" => Some(Signal::CtrlC),
            "ctrl_break" => Some(Signal::CtrlBreak),
            _ => None,
        }
    }
}

/// What a Create asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShellRequest {
    /// The authenticated user that owns the shell.
    pub user: String,
    /// `WINRS_CODEPAGE` (None: 437, the OEM code page of an en-US server).
    pub codepage: Option<u32>,
    /// `rsp:Environment` variables.
    pub environment: Vec<(String, String)>,
    /// `rsp:WorkingDirectory`.
    pub working_directory: Option<String>,
    /// `rsp:IdleTimeOut` in milliseconds.
    pub idle_timeout_ms: Option<u64>,
    /// `rsp:Lifetime` in milliseconds.
    pub lifetime_ms: Option<u64>,
    /// `WINRS_NOPROFILE`.
    pub no_profile: bool,
}

/// Limits the service puts on shells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShellLimits {
    /// Most shells one user may have open (WinRM's MaxShellsPerUser, default 30).
    pub max_shells_per_user: usize,
    /// Idle timeout of a shell that asks for none.
    pub default_idle_timeout_ms: u64,
}

impl Default for ShellLimits {
    fn default() -> Self {
        ShellLimits {
            max_shells_per_user: 30,
            default_idle_timeout_ms: DEFAULT_IDLE_TIMEOUT_MS,
        }
    }
}

/// Why a shell operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    /// No such shell (never created, deleted, or expired).
    #[error("the shell `{0}` was not found (it never existed, was deleted or expired)")]
    UnknownShell(String),
    /// No such command in the shell.
    #[error("the shell has no command `{0}` (it never existed or was terminated)")]
    UnknownCommand(String),
    /// The user has as many shells as allowed.
    #[error("user `{user}` already has the maximum of {max} concurrent shells")]
    Quota {
        /// The user.
        user: String,
        /// The limit.
        max: usize,
    },
    /// A code page other than 437 and 65001.
    #[error("code page {0} is not supported (437 and 65001 are)")]
    Codepage(u32),
    /// The shell id is taken.
    #[error("a shell `{0}` exists already")]
    DuplicateShell(String),
    /// The command id is taken.
    #[error("a command `{0}` exists already")]
    DuplicateCommand(String),
    /// Input for a stream other than stdin.
    #[error("the command has no input stream `{0}`")]
    UnknownStream(String),
}

/// What the shell knows about itself (the Create answer, and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellInfo {
    /// The ShellId.
    pub id: String,
    /// The owner.
    pub user: String,
    /// The code page in force.
    pub codepage: u32,
    /// The working directory.
    pub working_directory: String,
    /// The idle timeout in force.
    pub idle_timeout_ms: u64,
    /// The lifetime, if one was asked for.
    pub lifetime_ms: Option<u64>,
    /// When it was created.
    pub created: Millis,
}

/// What the command table and built-ins need from the machine.
pub struct Context<'a> {
    /// The Rhai engine for handlers.
    pub engine: &'a rhai::Engine,
    /// The command table.
    pub commands: &'a [CommandSpec],
    /// The PowerShell script table.
    pub scripts: &'a [CommandSpec],
    /// The machine's host name.
    pub hostname: &'a str,
    /// Unix seconds now (for `Get-Date`).
    pub unix_now: u64,
}

#[derive(Debug, Clone)]
struct Event {
    at: Millis,
    stream: StreamName,
    bytes: Vec<u8>,
}

/// How a command produces output beyond its initial schedule.
#[derive(Debug, Clone)]
enum Mode {
    /// Everything is scheduled at start.
    Fixed,
    /// Stdin is copied to stdout; done when stdin ends.
    Echo,
    /// A handler that wants all of stdin runs when stdin ends.
    HandlerAtEof { handler: String },
    /// Chunks cycled every `delay` until a signal.
    Repeat {
        chunks: Vec<(StreamName, Vec<u8>)>,
        delay: Millis,
        next: usize,
        next_at: Millis,
    },
}

#[derive(Debug, Clone)]
struct Command {
    cmdline: String,
    events: VecDeque<Event>,
    /// When the command finishes (None: waits for stdin or a signal).
    done_at: Option<Millis>,
    exit_code: i32,
    stdin: Vec<u8>,
    stdin_closed: bool,
    mode: Mode,
}

#[derive(Debug, Clone)]
struct Shell {
    info: ShellInfo,
    environment: Vec<(String, String)>,
    last_activity: Millis,
    commands: BTreeMap<String, Command>,
}

/// All open shells.
#[derive(Debug, Clone, Default)]
pub struct Shells {
    shells: BTreeMap<String, Shell>,
}

/// An output plan: chunks (stream, text) with a delay before each, and an exit code.
#[derive(Debug, Clone, Default, PartialEq)]
struct Plan {
    chunks: Vec<(StreamName, String)>,
    delay: Millis,
    exit_code: i32,
}

impl Plan {
    fn stdout(text: impl Into<String>) -> Plan {
        Plan {
            chunks: vec![(StreamName::Stdout, text.into())],
            ..Plan::default()
        }
    }

    fn stderr(text: impl Into<String>, exit_code: i32) -> Plan {
        Plan {
            chunks: vec![(StreamName::Stderr, text.into())],
            exit_code,
            ..Plan::default()
        }
    }

    fn of_spec(spec: &CommandSpec) -> Plan {
        let mut chunks: Vec<(StreamName, String)> = spec
            .stdout
            .iter()
            .map(|s| (StreamName::Stdout, s.clone()))
            .collect();
        chunks.extend(spec.stderr.iter().map(|s| (StreamName::Stderr, s.clone())));
        Plan {
            chunks,
            delay: spec.delay_ms,
            exit_code: spec.exit_code,
        }
    }
}

impl Shells {
    /// No shells.
    pub fn new() -> Shells {
        Shells::default()
    }

    /// Forgets shells whose idle timeout or lifetime has passed.
    pub fn expire(&mut self, now: Millis) {
        self.shells.retain(|_, s| {
            let idle_ok = now < s.last_activity.saturating_add(s.info.idle_timeout_ms);
            let life_ok = s
                .info
                .lifetime_ms
                .is_none_or(|l| now < s.info.created.saturating_add(l));
            idle_ok && life_ok
        });
    }

    /// How many shells are open.
    pub fn len(&self) -> usize {
        self.shells.len()
    }

    /// Whether no shell is open.
    pub fn is_empty(&self) -> bool {
        self.shells.is_empty()
    }

    /// A shell's description.
    pub fn info(&self, shell_id: &str) -> Option<&ShellInfo> {
        self.shells.get(shell_id).map(|s| &s.info)
    }

    /// The ids of a shell's commands.
    pub fn command_ids(&self, shell_id: &str) -> Vec<String> {
        self.shells
            .get(shell_id)
            .map(|s| s.commands.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Opens a shell called `id` for `req.user`.
    pub fn create(
        &mut self,
        id: String,
        req: ShellRequest,
        limits: &ShellLimits,
        now: Millis,
    ) -> Result<ShellInfo, ShellError> {
        self.expire(now);
        let codepage = req.codepage.unwrap_or(437);
        if codepage != 437 && codepage != 65001 {
            return Err(ShellError::Codepage(codepage));
        }
        if self.shells.contains_key(&id) {
            return Err(ShellError::DuplicateShell(id));
        }
        let owned = self
            .shells
            .values()
            .filter(|s| s.info.user == req.user)
            .count();
        if owned >= limits.max_shells_per_user {
            return Err(ShellError::Quota {
                user: req.user,
                max: limits.max_shells_per_user,
            });
        }
        let info = ShellInfo {
            id: id.clone(),
            working_directory: req
                .working_directory
                .filter(|w| !w.trim().is_empty())
                .unwrap_or_else(|| format!("C:\\Users\\{}", req.user)),
            user: req.user,
            codepage,
            idle_timeout_ms: req
                .idle_timeout_ms
                .filter(|t| *t > 0)
                .unwrap_or(limits.default_idle_timeout_ms),
            lifetime_ms: req.lifetime_ms.filter(|t| *t > 0),
            created: now,
        };
        self.shells.insert(
            id,
            Shell {
                info: info.clone(),
                environment: req.environment,
                last_activity: now,
                commands: BTreeMap::new(),
            },
        );
        Ok(info)
    }

    /// Closes a shell and everything running in it.
    pub fn delete(&mut self, shell_id: &str, now: Millis) -> Result<(), ShellError> {
        self.expire(now);
        self.shells
            .remove(shell_id)
            .map(|_| ())
            .ok_or_else(|| ShellError::UnknownShell(shell_id.to_owned()))
    }

    fn shell_mut(&mut self, shell_id: &str, now: Millis) -> Result<&mut Shell, ShellError> {
        self.expire(now);
        let s = self
            .shells
            .get_mut(shell_id)
            .ok_or_else(|| ShellError::UnknownShell(shell_id.to_owned()))?;
        s.last_activity = now;
        Ok(s)
    }

    /// Starts `command` with `arguments` (joined with spaces, as cmd.exe sees them) as
    /// command `command_id`; returns the command line as matched (after `%VAR%`
    /// expansion).
    pub fn command(
        &mut self,
        shell_id: &str,
        command_id: String,
        command: &str,
        arguments: &[&str],
        ctx: &Context<'_>,
        now: Millis,
    ) -> Result<String, ShellError> {
        let shell = self.shell_mut(shell_id, now)?;
        if shell.commands.contains_key(&command_id) {
            return Err(ShellError::DuplicateCommand(command_id));
        }
        let mut raw = command.trim().to_owned();
        for a in arguments {
            raw.push(' ');
            raw.push_str(a);
        }
        let env = environment(shell, ctx.hostname);
        let cmdline = expand_vars(raw.trim(), &env);
        let codepage = shell.info.codepage;
        let mut cmd = Command {
            cmdline: cmdline.clone(),
            events: VecDeque::new(),
            done_at: None,
            exit_code: 0,
            stdin: Vec::new(),
            stdin_closed: false,
            mode: Mode::Fixed,
        };
        let run = Run {
            ctx,
            env: &env,
            user: &shell.info.user,
            cwd: &shell.info.working_directory,
        };
        match ctx.commands.iter().find(|c| c.matches(&cmdline)) {
            Some(spec) if spec.echo_stdin && spec.handler.is_some() => {
                cmd.mode = Mode::HandlerAtEof {
                    handler: spec.handler.clone().unwrap_or_default(),
                };
                schedule(&mut cmd, &Plan::of_spec(spec), codepage, now, false);
            }
            Some(spec) if spec.echo_stdin => {
                cmd.mode = Mode::Echo;
                schedule(&mut cmd, &Plan::of_spec(spec), codepage, now, false);
            }
            Some(spec) if spec.repeat => {
                let plan = Plan::of_spec(spec);
                let chunks: Vec<(StreamName, Vec<u8>)> = plan
                    .chunks
                    .iter()
                    .map(|(s, t)| (*s, encode(t, codepage)))
                    .collect();
                if chunks.is_empty() {
                    schedule(&mut cmd, &plan, codepage, now, true);
                } else {
                    let delay = spec.delay_ms.max(1);
                    cmd.mode = Mode::Repeat {
                        chunks,
                        delay,
                        next: 0,
                        next_at: now.saturating_add(delay),
                    };
                }
            }
            Some(spec) => {
                let plan = match &spec.handler {
                    Some(h) => run.handler(h, &cmdline, ""),
                    None => Plan::of_spec(spec),
                };
                schedule(&mut cmd, &plan, codepage, now, true);
            }
            None => {
                let plan = run.builtin(&cmdline);
                schedule(&mut cmd, &plan, codepage, now, true);
            }
        }
        shell.commands.insert(command_id, cmd);
        Ok(cmdline)
    }

    /// Feeds standard input to a command; `end` closes it.
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &mut self,
        shell_id: &str,
        command_id: &str,
        stream: &str,
        bytes: &[u8],
        end: bool,
        ctx: &Context<'_>,
        now: Millis,
    ) -> Result<(), ShellError> {
        let shell = self.shell_mut(shell_id, now)?;
        if !stream.eq_ignore_ascii_case("stdin") {
            return Err(ShellError::UnknownStream(stream.to_owned()));
        }
        let env = environment(shell, ctx.hostname);
        let codepage = shell.info.codepage;
        let run = Run {
            ctx,
            env: &env,
            user: &shell.info.user,
            cwd: &shell.info.working_directory,
        };
        let cmd = shell
            .commands
            .get_mut(command_id)
            .ok_or_else(|| ShellError::UnknownCommand(command_id.to_owned()))?;
        if cmd.stdin_closed {
            // cmd.exe ignores input after end of file; so does the mock.
            return Ok(());
        }
        cmd.stdin.extend_from_slice(bytes);
        match cmd.mode.clone() {
            Mode::Echo if cmd.done_at.is_none() => {
                if !bytes.is_empty() {
                    let at = cmd.events.back().map_or(now, |e| e.at.max(now));
                    cmd.events.push_back(Event {
                        at,
                        stream: StreamName::Stdout,
                        bytes: bytes.to_vec(),
                    });
                }
                if end {
                    let last = cmd.events.back().map_or(now, |e| e.at.max(now));
                    cmd.done_at = Some(last);
                }
            }
            Mode::HandlerAtEof { handler } if end && cmd.done_at.is_none() => {
                let stdin = String::from_utf8_lossy(&cmd.stdin).into_owned();
                let plan = run.handler(&handler, &cmd.cmdline, &stdin);
                let start = cmd.events.back().map_or(now, |e| e.at.max(now));
                schedule(cmd, &plan, codepage, start, true);
            }
            _ => {}
        }
        if end {
            cmd.stdin_closed = true;
        }
        Ok(())
    }

    /// Takes the output of a command that is due at `now` (only of the `desired`
    /// streams; output of other streams is dropped as it is delivered).
    pub fn receive(
        &mut self,
        shell_id: &str,
        command_id: &str,
        desired: &[StreamName],
        now: Millis,
    ) -> Result<Received, ShellError> {
        let shell = self.shell_mut(shell_id, now)?;
        let cmd = shell
            .commands
            .get_mut(command_id)
            .ok_or_else(|| ShellError::UnknownCommand(command_id.to_owned()))?;
        advance_repeat(cmd, now);
        let mut chunks = Vec::new();
        while cmd.events.front().is_some_and(|e| e.at <= now) {
            if let Some(e) = cmd.events.pop_front() {
                if desired.contains(&e.stream) {
                    chunks.push(Chunk {
                        stream: e.stream,
                        bytes: e.bytes,
                        end: false,
                    });
                }
            }
        }
        let done = cmd.events.is_empty() && cmd.done_at.is_some_and(|d| d <= now);
        if done {
            for s in desired {
                match chunks.iter_mut().rev().find(|c| c.stream == *s) {
                    Some(c) => c.end = true,
                    None => chunks.push(Chunk {
                        stream: *s,
                        bytes: Vec::new(),
                        end: true,
                    }),
                }
            }
            return Ok(Received::Output {
                chunks,
                status: CommandStatus::Done(cmd.exit_code),
            });
        }
        if !chunks.is_empty() {
            return Ok(Received::Output {
                chunks,
                status: CommandStatus::Running,
            });
        }
        Ok(Received::Wait {
            until: next_due(cmd),
        })
    }

    /// When the command's next output (or its end) is due, if that is known.
    pub fn next_due(&self, shell_id: &str, command_id: &str) -> Option<Millis> {
        self.shells
            .get(shell_id)
            .and_then(|s| s.commands.get(command_id))
            .and_then(next_due)
    }

    /// Sends a signal to a command. Terminate forgets the command; Ctrl+C and
    /// Ctrl+Break stop a running command with [`CTRL_C_EXIT`] (a finished command keeps
    /// its exit code).
    pub fn signal(
        &mut self,
        shell_id: &str,
        command_id: &str,
        signal: Signal,
        now: Millis,
    ) -> Result<(), ShellError> {
        let shell = self.shell_mut(shell_id, now)?;
        if !shell.commands.contains_key(command_id) {
            return Err(ShellError::UnknownCommand(command_id.to_owned()));
        }
        match signal {
            Signal::Terminate => {
                shell.commands.remove(command_id);
            }
            Signal::CtrlC | Signal::CtrlBreak => {
                if let Some(cmd) = shell.commands.get_mut(command_id) {
                    advance_repeat(cmd, now);
                    let finished = cmd.done_at.is_some_and(|d| d <= now);
                    if !finished {
                        // Output already produced stays readable; the rest never comes.
                        cmd.events.retain(|e| e.at <= now);
                        cmd.mode = Mode::Fixed;
                        cmd.done_at = Some(now);
                        cmd.exit_code = CTRL_C_EXIT;
                        cmd.stdin_closed = true;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The shell's variables: the Create request's first, then the machine's.
fn environment(shell: &Shell, hostname: &str) -> Vec<(String, String)> {
    let user = &shell.info.user;
    let mut env = shell.environment.clone();
    env.extend(
        [
            ("COMPUTERNAME", hostname.to_uppercase()),
            ("USERNAME", user.clone()),
            ("USERDOMAIN", hostname.to_uppercase()),
            ("USERPROFILE", format!("C:\\Users\\{user}")),
            ("OS", "Windows_NT".into()),
            ("SystemRoot", "C:\\Windows".into()),
            ("CD", shell.info.working_directory.clone()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    env
}

fn lookup<'e>(env: &'e [(String, String)], name: &str) -> Option<&'e str> {
    env.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Expands `%NAME%` as cmd.exe does; unknown names and lone `%` stay as written.
pub fn expand_vars(line: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('%') {
            Some(end) if end > 0 => match lookup(env, &after[..end]) {
                Some(v) => {
                    out.push_str(v);
                    rest = &after[end + 1..];
                }
                None => {
                    out.push('%');
                    out.push_str(&after[..end]);
                    rest = &after[end..];
                }
            },
            _ => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn schedule(cmd: &mut Command, plan: &Plan, codepage: u32, start: Millis, finish: bool) {
    let mut at = start;
    for (stream, text) in &plan.chunks {
        at = at.saturating_add(plan.delay);
        cmd.events.push_back(Event {
            at,
            stream: *stream,
            bytes: encode(text, codepage),
        });
    }
    if plan.chunks.is_empty() {
        at = at.saturating_add(plan.delay);
    }
    cmd.exit_code = plan.exit_code;
    if finish {
        cmd.done_at = Some(at);
    }
}

fn advance_repeat(cmd: &mut Command, now: Millis) {
    if let Mode::Repeat {
        chunks,
        delay,
        next,
        next_at,
    } = &mut cmd.mode
    {
        // Bounded: at most one full cycle of output per call is materialised beyond
        // what a reader would keep anyway.
        let mut produced = 0usize;
        while *next_at <= now && produced < 10_000 {
            let (stream, bytes) = &chunks[*next % chunks.len()];
            cmd.events.push_back(Event {
                at: *next_at,
                stream: *stream,
                bytes: bytes.clone(),
            });
            *next += 1;
            *next_at = next_at.saturating_add(*delay);
            produced += 1;
        }
        if produced == 10_000 {
            *next_at = now.saturating_add(*delay);
        }
    }
}

fn next_due(cmd: &Command) -> Option<Millis> {
    let event = cmd.events.front().map(|e| e.at);
    let repeat = match &cmd.mode {
        Mode::Repeat { next_at, .. } => Some(*next_at),
        _ => None,
    };
    [event, repeat, cmd.done_at].into_iter().flatten().min()
}

/// Runs one command line to completion at once, outside any shell: delays are
/// ignored, standard input is empty and a repeating command prints its chunks once.
/// Returns the output (stdout and stderr interleaved as the command writes them) and
/// the exit code. The Serial over LAN console uses it.
pub fn run_line(cmdline: &str, user: &str, ctx: &Context<'_>) -> (String, i32) {
    let env = vec![
        ("COMPUTERNAME".to_owned(), ctx.hostname.to_owned()),
        ("USERNAME".to_owned(), user.to_owned()),
    ];
    let cmdline = expand_vars(cmdline.trim(), &env);
    let run = Run {
        ctx,
        env: &env,
        user,
        cwd: "C:\\",
    };
    let plan = match ctx.commands.iter().find(|c| c.matches(&cmdline)) {
        Some(spec) => match &spec.handler {
            Some(h) => run.handler(h, &cmdline, ""),
            None => Plan::of_spec(spec),
        },
        None => run.builtin(&cmdline),
    };
    let text = plan.chunks.into_iter().map(|(_, t)| t).collect();
    (text, plan.exit_code)
}

/// Running one command line: what the handlers and built-ins see.
struct Run<'a> {
    ctx: &'a Context<'a>,
    env: &'a [(String, String)],
    user: &'a str,
    cwd: &'a str,
}

impl Run<'_> {
    /// Runs a Rhai handler; a failing handler reports on stderr with exit code 1.
    fn handler(&self, source: &str, cmdline: &str, stdin: &str) -> Plan {
        match self.eval(source, cmdline, stdin) {
            Ok(plan) => plan,
            Err(e) => Plan::stderr(
                format!("touchstone: the command handler failed: {e}\r\n"),
                1,
            ),
        }
    }

    fn eval(&self, source: &str, cmdline: &str, stdin: &str) -> Result<Plan, String> {
        let engine = self.ctx.engine;
        let mut scope = script::handler_scope(cmdline, stdin);
        scope.set_value("user", self.user.to_owned());
        scope.set_value("hostname", self.ctx.hostname.to_owned());
        let mut env = rhai::Map::new();
        for (k, v) in self.env {
            env.entry(k.as_str().into())
                .or_insert_with(|| Dynamic::from(v.clone()));
        }
        scope.set_value("env", env);
        let ast = engine
            .compile_with_scope(&scope, source)
            .map_err(|e| e.to_string())?;
        let v: Dynamic = engine
            .eval_ast_with_scope(&mut scope, &ast)
            .map_err(|e| e.to_string())?;
        plan_of(v)
    }

    /// cmd.exe: built-ins, PowerShell, or "not recognized".
    fn builtin(&self, cmdline: &str) -> Plan {
        let (name, rest) = split_word(cmdline);
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "" => Plan::default(),
            "echo" => {
                if rest.trim().is_empty() {
                    Plan::stdout("ECHO is on.\r\n")
                } else {
                    Plan::stdout(format!("{rest}\r\n"))
                }
            }
            "echo." => Plan::stdout("\r\n"),
            "cd" | "chdir" if rest.trim().is_empty() => Plan::stdout(format!("{}\r\n", self.cwd)),
            "exit" => {
                let arg = rest.trim();
                let arg = arg
                    .strip_prefix("/b")
                    .or_else(|| arg.strip_prefix("/B"))
                    .unwrap_or(arg);
                Plan {
                    exit_code: arg.trim().parse().unwrap_or(0),
                    ..Plan::default()
                }
            }
            _ if is_powershell(&lower) => self.powershell(rest),
            _ => Plan::stderr(
                format!(
                    "'{name}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
                ),
                NOT_FOUND_EXIT,
            ),
        }
    }

    fn powershell(&self, args: &str) -> Plan {
        let script = match powershell::script_of(args) {
            Ok(Some(s)) => s,
            Ok(None) => return Plan::default(),
            Err(message) => return Plan::stderr(message, 1),
        };
        let text = script.trim();
        if let Some(spec) = self.ctx.scripts.iter().find(|c| c.matches(text)) {
            return match &spec.handler {
                Some(h) => self.handler(h, text, ""),
                None => Plan::of_spec(spec),
            };
        }
        let ps = powershell::Env {
            hostname: self.ctx.hostname,
            env: self.env,
            unix_now: self.ctx.unix_now,
        };
        let out = powershell::run(text, &ps);
        let mut plan = Plan {
            exit_code: out.exit_code,
            ..Plan::default()
        };
        if !out.stdout.is_empty() {
            plan.chunks.push((StreamName::Stdout, out.stdout));
        }
        if !out.stderr.is_empty() {
            plan.chunks.push((StreamName::Stderr, out.stderr));
        }
        plan
    }
}

fn is_powershell(word: &str) -> bool {
    let base = word.rsplit(['\\', '/']).next().unwrap_or(word);
    matches!(
        base.trim_matches('"'),
        "powershell" | "powershell.exe" | "pwsh" | "pwsh.exe"
    )
}

/// The first word (up to whitespace) and the rest after one separator.
pub(crate) fn split_word(line: &str) -> (&str, &str) {
    let line = line.trim_start();
    match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, ""),
    }
}

/// A handler's value as an output plan: a string is stdout; a map may give `stdout`
/// and `stderr` (a string or an array of chunks), `exit_code` and `delay_ms`; `()` is
/// no output.
fn plan_of(v: Dynamic) -> Result<Plan, String> {
    if v.is_unit() {
        return Ok(Plan::default());
    }
    if v.is_string() {
        return Ok(Plan::stdout(v.into_string().unwrap_or_default()));
    }
    let Some(map) = v.clone().try_cast::<rhai::Map>() else {
        return Err(format!(
            "the handler returned a {}, not a string or a map",
            v.type_name()
        ));
    };
    let mut plan = Plan::default();
    for (key, value) in map {
        match key.as_str() {
            "stdout" | "stderr" => {
                let stream = if key.as_str() == "stdout" {
                    StreamName::Stdout
                } else {
                    StreamName::Stderr
                };
                if value.is_string() {
                    plan.chunks
                        .push((stream, value.into_string().unwrap_or_default()));
                } else if let Some(items) = value.clone().try_cast::<rhai::Array>() {
                    for item in items {
                        let text = item
                            .into_string()
                            .map_err(|t| format!("`{key}` holds a {t}, not a string"))?;
                        plan.chunks.push((stream, text));
                    }
                } else {
                    return Err(format!("`{key}` must be a string or an array of strings"));
                }
            }
            "exit_code" => {
                let n = value
                    .as_int()
                    .map_err(|t| format!("`exit_code` is a {t}, not an integer"))?;
                plan.exit_code = i32::try_from(n).map_err(|_| "`exit_code` is out of range")?;
            }
            "delay_ms" => {
                let n = value
                    .as_int()
                    .map_err(|t| format!("`delay_ms` is a {t}, not an integer"))?;
                plan.delay = u64::try_from(n)
                    .ok()
                    .filter(|d| *d <= 3_600_000)
                    .ok_or("`delay_ms` must be 0..=3600000")?;
            }
            other => return Err(format!("unknown key `{other}` in the handler's map")),
        }
    }
    // stdout chunks before stderr chunks, as for a table entry.
    plan.chunks.sort_by_key(|(s, _)| *s);
    Ok(plan)
}

/// The upper half of code page 437 (0x80..=0xFF).
const CP437_HIGH: [char; 128] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', //
    'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', //
    'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»', //
    '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐', //
    '└', '┴', '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', //
    '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘', '┌', '█', '▄', '▌', '▐', '▀', //
    'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞', 'φ', 'ε', '∩', //
    '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', '\u{A0}',
];

/// Text as bytes in a code page: 65001 is UTF-8; 437 (and anything else) is CP437, with
/// `?` for characters it cannot represent.
pub fn encode(text: &str, codepage: u32) -> Vec<u8> {
    if codepage == 65001 {
        return text.as_bytes().to_vec();
    }
    text.chars()
        .map(|c| {
            if c.is_ascii() {
                c as u8
            } else {
                CP437_HIGH
                    .iter()
                    .position(|x| *x == c)
                    .map_or(b'?', |i| 0x80 + i as u8)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp437() {
        assert_eq!(encode("abc", 437), b"abc");
        assert_eq!(encode("é½█", 437), [0x82, 0xAB, 0xDB]);
        assert_eq!(encode("€", 437), b"?");
        assert_eq!(encode("é", 65001), "é".as_bytes());
        assert_eq!(CP437_HIGH[0x7F], '\u{A0}');
        assert_eq!(CP437_HIGH[0xE1 - 0x80], 'ß');
    }

    #[test]
    fn vars() {
        let env = vec![("FOO".to_owned(), "bar".to_owned())];
        assert_eq!(expand_vars("echo %foo%", &env), "echo bar");
        assert_eq!(expand_vars("echo %NOPE% 50%", &env), "echo %NOPE% 50%");
        assert_eq!(expand_vars("%FOO%%FOO%", &env), "barbar");
        assert_eq!(expand_vars("100%% %FOO%", &env), "100%% bar");
    }

    #[test]
    fn signals() {
        assert_eq!(
            Signal::parse("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_c"),
            Some(Signal::CtrlC)
        );
        assert_eq!(Signal::parse("terminate"), Some(Signal::Terminate));
        assert_eq!(Signal::parse(".../signal/kill"), None);
    }
}
