//! The WinRM remote shell's wire side: what the service reads from shell requests
//! (Create options and body, Command, Send, Receive, Signal), the bodies it answers,
//! and which catalogue fault and WinRM error code each shell error gets. The shells
//! themselves live in the machine ([`machine::shell`]); waiting for output (`wait_for_output`) happens
//! here too, without the machine lock.
//!
//! Faults (every shell fault carries a `WSManFault` detail with a WinRM code, whatever
//! the scenario's flavour, because clients decide on that code):
//!
//! | error | fault | WSManFault Code |
//! |---|---|---|
//! | no output before the OperationTimeout | `wsman:TimedOut` | 2150858793 |
//! | unknown, deleted or expired ShellId | `wsman:InvalidSelectors` (InvalidValue) | 2150858843 (shell not found) |
//! | no ShellId selector | `wsman:InvalidSelectors` (InsufficientSelectors) | 2150858843 |
//! | unknown (or terminated) CommandId, input for a stream other than stdin | `wsman:InvalidParameter` | 2150858752 (WinRM's generic base; the exact code is not pinned down) |
//! | MaxShellsPerUser reached | `wsman:QuotaLimit` | 2150859173 |
//! | code page other than 437/65001 | `wsman:InvalidOptions` (InvalidValue) | 2150858752 |
//! | unknown signal code, missing CommandId | `wsman:InvalidParameter` | 2150858752 |

use std::borrow::Cow;
use std::time::{Duration, Instant};

use machine::shell::{
    Chunk, CommandStatus, Received, ShellInfo, ShellLimits, ShellRequest, Signal, StreamName,
};
use wsman::body::{Body, CommandState, ReceiveResponse, Shell, Stream};
use wsman::{Envelope, XsDuration, ns};

use super::faults::{self, Fail, OpResult, ShellFault, missing_command_id};
use super::psrp::is_psrp;
use super::write::respond;
use super::{Phase, new_uuid};
use crate::http::Request;
use crate::mock::{Inner, Mock};
use crate::scenario::Scenario;

/// The longest a Receive waits for output, whatever OperationTimeout asks (WinRM's
/// default MaxTimeoutms is 60 s).
pub const MAX_RECEIVE_WAIT_MS: u64 = 60_000;
/// How long a Receive waits when the request has no OperationTimeout.
pub const DEFAULT_RECEIVE_WAIT_MS: u64 = 60_000;

/// The ShellId selector of a request.
pub fn shell_id<'e>(env: &'e Envelope<'_>) -> Result<&'e str, ShellFault> {
    env.header
        .selector("ShellId")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(faults::no_shell_id)
}

pub(super) fn ms_of(d: &XsDuration) -> Option<u64> {
    d.to_std()
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether a WinRM option value is true (`TRUE`, `true`, `1`).
pub fn is_true(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1")
}

/// What a Create asks for: the body's fields and the `WINRS_*` options.
pub fn shell_request(
    env: &Envelope<'_>,
    user: &str,
    body: Option<&Shell<'_>>,
) -> Result<ShellRequest, ShellFault> {
    let codepage = match env.header.option("WINRS_CODEPAGE") {
        Some(v) => Some(v.trim().parse::<u32>().map_err(|_| {
            faults::bad_codepage(format!("WINRS_CODEPAGE `{v}` is not a code page number"))
        })?),
        None => None,
    };
    let mut req = ShellRequest {
        user: user.to_owned(),
        codepage,
        no_profile: env.header.option("WINRS_NOPROFILE").is_some_and(is_true),
        ..ShellRequest::default()
    };
    if let Some(s) = body {
        req.environment = s
            .environment
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        req.working_directory = s.working_directory.as_ref().map(|w| w.trim().to_owned());
        req.idle_timeout_ms = s.idle_timeout.as_ref().and_then(ms_of);
        req.lifetime_ms = s.lifetime.as_ref().and_then(ms_of);
    }
    Ok(req)
}

/// The `rsp:Shell` a Create answers with (after `ResourceCreated`), as Windows does.
pub fn shell_body(info: &ShellInfo, body: Option<&Shell<'_>>) -> Shell<'static> {
    let streams = |v: Option<&Cow<'_, str>>, default: &str| -> Cow<'static, str> {
        Cow::Owned(v.map_or(default.to_owned(), |s| s.to_string()))
    };
    Shell {
        shell_id: Some(Cow::Owned(info.id.clone())),
        input_streams: Some(streams(
            body.and_then(|b| b.input_streams.as_ref()),
            "stdin",
        )),
        output_streams: Some(streams(
            body.and_then(|b| b.output_streams.as_ref()),
            "stdout stderr",
        )),
        working_directory: Some(Cow::Owned(info.working_directory.clone())),
        environment: Vec::new(),
        lifetime: info
            .lifetime_ms
            .map(|l| XsDuration::from_std(std::time::Duration::from_millis(l))),
        idle_timeout: Some(XsDuration::from_std(std::time::Duration::from_millis(
            info.idle_timeout_ms,
        ))),
        other: Vec::new(),
    }
}

/// The streams a Receive asks for (`stdout stderr` when it names none it knows).
pub fn desired_streams(names: &str) -> Vec<StreamName> {
    let v: Vec<StreamName> = names
        .split_whitespace()
        .filter_map(StreamName::parse)
        .collect();
    if v.is_empty() {
        vec![StreamName::Stdout, StreamName::Stderr]
    } else {
        v
    }
}

/// The `rsp:ReceiveResponse` for some output.
pub fn receive_response(
    command_id: &str,
    chunks: Vec<Chunk>,
    status: CommandStatus,
) -> ReceiveResponse<'static> {
    let id = || Some(Cow::Owned(command_id.to_owned()));
    ReceiveResponse {
        streams: chunks
            .iter()
            .map(|c| Stream::with_bytes(c.stream.as_str(), id(), &c.bytes, c.end))
            .collect(),
        command_state: Some(match status {
            CommandStatus::Running => CommandState {
                command_id: id(),
                state: Cow::Borrowed(ns::shell::STATE_RUNNING),
                exit_code: None,
            },
            CommandStatus::Done(code) => CommandState {
                command_id: id(),
                state: Cow::Borrowed(ns::shell::STATE_DONE),
                exit_code: Some(i64::from(code)),
            },
        }),
    }
}

impl Mock {
    /// Waits, without the machine lock, until a shell Receive has something to answer:
    /// a timer until the next output is due (or the OperationTimeout), woken early when
    /// stdin, a signal or a delete changes the shells. Gives the phase to answer with;
    /// still `Phase::Wait` when the OperationTimeout ran out.
    pub(super) async fn wait_for_output(
        &self,
        env: &Envelope<'_>,
        user: Option<&str>,
        arrived: Instant,
        mut until: Option<u64>,
        mut rx: tokio::sync::watch::Receiver<u64>,
    ) -> Phase {
        let limit_ms = env
            .header
            .operation_timeout
            .and_then(|t| t.to_std())
            .map_or(DEFAULT_RECEIVE_WAIT_MS, |d| {
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
            })
            .min(MAX_RECEIVE_WAIT_MS);
        let deadline = arrived + Duration::from_millis(limit_ms);
        loop {
            let wake = until
                .map(|u| self.shared.started + Duration::from_millis(u))
                .map_or(deadline, |w| w.min(deadline));
            let sleep = tokio::time::sleep_until(wake.into());
            tokio::select! {
                _ = sleep => {}
                changed = rx.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep_until(wake.into()).await;
                    }
                }
            }
            let now = self.now_ms();
            let phase = {
                let mut inner = self.lock();
                inner.expire(now);
                inner.shell_receive_phase(env, user, now, None)
            };
            match phase {
                Phase::Wait(next, next_rx) => {
                    if Instant::now() >= deadline {
                        return Phase::Wait(next, next_rx);
                    }
                    until = next;
                    rx = next_rx;
                }
                other => return other,
            }
        }
    }
}

impl Inner {
    /// A shell Receive: the output due now, or `Phase::Wait` with when more is due.
    pub(super) fn shell_receive_phase(
        &mut self,
        env: &Envelope<'_>,
        user: Option<&str>,
        now: u64,
        delay: Option<Duration>,
    ) -> Phase {
        if is_psrp(env) {
            return self.psrp_receive_phase(env, user, now, delay);
        }
        let result = (|| -> Result<Result<Envelope<'static>, Option<u64>>, Fail> {
            let shell_id = shell_id(env)?;
            let Body::Receive(r) = &env.body else {
                return Err(faults::malformed_body(
                    "a shell Receive carries rsp:Receive",
                ));
            };
            let command_id = r
                .command_id
                .as_deref()
                .ok_or_else(|| missing_command_id("rsp:DesiredStream names no CommandId"))?;
            let desired = desired_streams(&r.desired_streams);
            match self
                .machine
                .shell_receive(shell_id, command_id, &desired, now)?
            {
                Received::Output { chunks, status } => {
                    let header = self.response_header(env, ns::action::RECEIVE_RESPONSE);
                    let body = receive_response(command_id, chunks, status);
                    Ok(Ok(respond(header, Body::ReceiveResponse(body))))
                }
                Received::Wait { until } => Ok(Err(until)),
            }
        })();
        match result {
            Ok(Ok(answer)) => Phase::Dispatched(Ok(answer), delay),
            Ok(Err(until)) => Phase::Wait(until, self.shell_wake.subscribe()),
            Err(f) => Phase::Dispatched(Err(f), delay),
        }
    }

    /// Wakes the Receives waiting for shell output (a change may be theirs to see) and
    /// answers `env` with `action` and `body`.
    pub(super) fn wake_and_respond(
        &mut self,
        env: &Envelope<'_>,
        action: &'static str,
        body: Body<'static>,
    ) -> Envelope<'static> {
        self.shell_wake.send_modify(|g| *g += 1);
        respond(self.response_header(env, action), body)
    }

    /// Create, Delete, Command, Send and Signal on the cmd shell resource.
    pub(super) fn shell_op(
        &mut self,
        env: &Envelope<'_>,
        req: &Request,
        scenario: &Scenario,
        now: u64,
    ) -> OpResult {
        if is_psrp(env) {
            return self.psrp_op(env, req, now);
        }
        let action = env.header.action.as_deref().unwrap_or("");
        let limits = ShellLimits {
            max_shells_per_user: scenario.wsman.max_shells_per_user,
            ..ShellLimits::default()
        };
        match action {
            ns::action::CREATE => {
                let body = match &env.body {
                    Body::Shell(s) => Some(s),
                    Body::Empty => None,
                    _ => {
                        return Err(faults::invalid_shell_body(
                            "a shell Create carries rsp:Shell",
                        ));
                    }
                };
                let user = req.user.as_deref().unwrap_or("anonymous");
                let request = shell_request(env, user, body)?;
                let id = shell_uuid();
                let info = self.machine.shell_create(id, request, &limits, now)?;
                let mut header = self.response_header(env, ns::action::CREATE_RESPONSE);
                header.resource_uri = None;
                let epr = wsman::Epr {
                    address: Cow::Owned(
                        env.header.to.as_deref().unwrap_or(ns::ANONYMOUS).to_owned(),
                    ),
                    resource_uri: Some(Cow::Borrowed(ns::SHELL_CMD)),
                    selectors: vec![wsman::Selector::text("ShellId", info.id.clone())],
                    other_parameters: Vec::new(),
                };
                let mut answer = respond(header, Body::ResourceCreated(epr));
                answer.extra.push(Body::Shell(shell_body(&info, body)));
                Ok(answer)
            }
            ns::action::DELETE => {
                let shell_id = shell_id(env)?;
                self.machine.shell_delete(shell_id, now)?;
                Ok(self.wake_and_respond(env, ns::action::DELETE_RESPONSE, Body::Empty))
            }
            ns::action::COMMAND => {
                let shell_id = shell_id(env)?;
                let Body::CommandLine(c) = &env.body else {
                    return Err(faults::malformed_body(
                        "a shell Command carries rsp:CommandLine",
                    ));
                };
                let args: Vec<&str> = c.arguments.iter().map(|a| a.as_ref()).collect();
                let id = shell_uuid();
                self.machine
                    .shell_command(shell_id, id.clone(), &c.command, &args, now)?;
                Ok(respond(
                    self.response_header(env, ns::action::COMMAND_RESPONSE),
                    Body::CommandResponse(wsman::body::CommandResponse {
                        command_id: Cow::Owned(id),
                    }),
                ))
            }
            ns::action::SEND => {
                let shell_id = shell_id(env)?;
                let Body::Send(send) = &env.body else {
                    return Err(faults::malformed_body("a shell Send carries rsp:Send"));
                };
                for stream in &send.streams {
                    let command_id = stream
                        .command_id
                        .as_deref()
                        .ok_or_else(|| missing_command_id("rsp:Stream names no CommandId"))?;
                    // The parser has checked the base64.
                    let bytes = stream.decode().unwrap_or_default();
                    self.machine.shell_send(
                        shell_id,
                        command_id,
                        &stream.name,
                        &bytes,
                        stream.end,
                        now,
                    )?;
                }
                Ok(self.wake_and_respond(env, ns::action::SEND_RESPONSE, Body::SendResponse))
            }
            ns::action::SIGNAL => {
                let shell_id = shell_id(env)?;
                let Body::Signal(sig) = &env.body else {
                    return Err(faults::malformed_body("a shell Signal carries rsp:Signal"));
                };
                let command_id = sig
                    .command_id
                    .as_deref()
                    .ok_or_else(|| missing_command_id("rsp:Signal names no CommandId"))?;
                let signal = Signal::parse(&sig.code).ok_or_else(|| {
                    Fail::from(faults::unknown_signal(format!(
                        "unknown signal code `{}`",
                        sig.code
                    )))
                })?;
                self.machine
                    .shell_signal(shell_id, command_id, signal, now)?;
                Ok(self.wake_and_respond(env, ns::action::SIGNAL_RESPONSE, Body::SignalResponse))
            }
            other => Err(faults::action_mismatch(format!(
                "the action `{other}` is not supported by the shell resource"
            ))),
        }
    }
}

/// Whether the request is for a WinRM shell: the cmd shell resource, or a PowerShell
/// session configuration (`psrp.rs`).
pub(super) fn is_shell(env: &Envelope<'_>) -> bool {
    is_psrp(env)
        || env
            .header
            .resource_uri
            .as_deref()
            .is_some_and(|u| u.trim().eq_ignore_ascii_case(ns::SHELL_CMD))
}

/// The WinRM shell options the mock complies with on the shell resource: the code page
/// and profile (read by the shell Create), stdin console mode and keep-alive (which
/// change nothing in the simulation), and not skipping cmd.exe (the simulated shell
/// always runs cmd.exe's built-ins, so only `WINRS_SKIP_CMD_SHELL=FALSE` is complied
/// with).
pub(super) fn understood_option(
    env: &Envelope<'_>,
    option: &wsman::addressing::OptionItem<'_>,
) -> bool {
    if !is_shell(env) {
        return false;
    }
    if is_psrp(env) {
        // The PSRP version (pypsrp marks it MustComply) and the shell options a
        // PowerShell Create or Receive carries.
        return matches!(
            option.name.as_ref(),
            "protocolversion"
                | "WINRS_NOPROFILE"
                | "WINRS_CODEPAGE"
                | "WINRS_SKIP_CMD_SHELL"
                | "WSMAN_CMDSHELL_OPTION_KEEPALIVE"
        );
    }
    match option.name.as_ref() {
        "WINRS_CODEPAGE"
        | "WINRS_NOPROFILE"
        | "WINRS_CONSOLEMODE_STDIN"
        | "WSMAN_CMDSHELL_OPTION_KEEPALIVE" => true,
        "WINRS_SKIP_CMD_SHELL" => !is_true(&option.value),
        _ => false,
    }
}

/// A new shell or command ID: a UUID without the `uuid:` prefix.
pub(super) fn shell_uuid() -> String {
    new_uuid().trim_start_matches("uuid:").to_owned()
}
