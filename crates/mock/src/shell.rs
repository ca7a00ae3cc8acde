//! The WinRM remote shell's wire side: what the service reads from shell requests
//! (Create options and body, Command, Send, Receive, Signal), the bodies it answers,
//! and which catalogue fault and WinRM error code each shell error gets. The shells
//! themselves live in the machine ([`machine::shell`]); waiting for output happens in
//! the service, without the machine lock.
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

use machine::shell::{Chunk, CommandStatus, ShellError, ShellInfo, ShellRequest, StreamName};
use wsman::body::{CommandState, ReceiveResponse, Shell, Stream};
use wsman::{Envelope, FaultKind, XsDuration, ns};

/// WinRM's code for "the shell was not found" (ERROR_WINRS_SHELL_NOT_FOUND-style).
pub const SHELL_NOT_FOUND_CODE: u32 = 2_150_858_843;
/// WinRM's code for "this user has reached the maximum number of concurrent shells".
pub const SHELL_QUOTA_CODE: u32 = 2_150_859_173;
/// WinRM's generic error base (0x80338000).
pub const GENERIC_CODE: u32 = 0x8033_8000;

/// The longest a Receive waits for output, whatever OperationTimeout asks (WinRM's
/// default MaxTimeoutms is 60 s).
pub const MAX_RECEIVE_WAIT_MS: u64 = 60_000;
/// How long a Receive waits when the request has no OperationTimeout.
pub const DEFAULT_RECEIVE_WAIT_MS: u64 = 60_000;

/// A shell fault: catalogue entry, detail token, WinRM code, reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellFault {
    /// The catalogue entry.
    pub kind: FaultKind,
    /// The `wsman:FaultDetail` token.
    pub detail: Option<&'static str>,
    /// The `WSManFault` Code.
    pub code: u32,
    /// The reason text.
    pub reason: String,
}

impl ShellFault {
    fn new(kind: FaultKind, detail: Option<&'static str>, code: u32, reason: String) -> Self {
        ShellFault {
            kind,
            detail,
            code,
            reason,
        }
    }
}

/// The fault for a shell error.
pub fn fault_of(e: &ShellError) -> ShellFault {
    let reason = e.to_string();
    match e {
        ShellError::UnknownShell(id) => ShellFault::new(
            FaultKind::InvalidSelectors,
            Some("InvalidValue"),
            SHELL_NOT_FOUND_CODE,
            format!(
                "The request for the Windows Remote Shell with ShellId {id} failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server."
            ),
        ),
        ShellError::UnknownCommand(_) | ShellError::UnknownStream(_) => {
            ShellFault::new(FaultKind::InvalidParameter, None, GENERIC_CODE, reason)
        }
        ShellError::Quota { .. } => {
            ShellFault::new(FaultKind::QuotaLimit, None, SHELL_QUOTA_CODE, reason)
        }
        ShellError::Codepage(_) => ShellFault::new(
            FaultKind::InvalidOptions,
            Some("InvalidValue"),
            GENERIC_CODE,
            reason,
        ),
        ShellError::DuplicateShell(_) | ShellError::DuplicateCommand(_) => {
            ShellFault::new(FaultKind::AlreadyExists, None, GENERIC_CODE, reason)
        }
    }
}

/// A fault for a malformed shell request.
pub fn bad_request(kind: FaultKind, detail: Option<&'static str>, reason: &str) -> ShellFault {
    let code = if kind == FaultKind::InvalidSelectors {
        SHELL_NOT_FOUND_CODE
    } else {
        GENERIC_CODE
    };
    ShellFault::new(kind, detail, code, reason.to_owned())
}

/// The Receive timeout fault clients retry on.
pub fn timed_out() -> ShellFault {
    ShellFault::new(
        FaultKind::TimedOut,
        None,
        ns::shell::RECEIVE_TIMEOUT_CODE,
        "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.".into(),
    )
}

/// The ShellId selector of a request.
pub fn shell_id<'e>(env: &'e Envelope<'_>) -> Result<&'e str, ShellFault> {
    env.header
        .selector("ShellId")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            bad_request(
                FaultKind::InvalidSelectors,
                Some("InsufficientSelectors"),
                "the request names no shell (no ShellId selector)",
            )
        })
}

fn ms_of(d: &XsDuration) -> Option<u64> {
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
            bad_request(
                FaultKind::InvalidOptions,
                Some("InvalidValue"),
                &format!("WINRS_CODEPAGE `{v}` is not a code page number"),
            )
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
