//! The one place errors become faults. Every error the operations meet (the machine's
//! [`cim::CimError`], a shell error, a filter error, a scenario rule's fault, a request
//! the envelope checks refuse) is turned into a catalogue fault ([`Fail`]) by exactly
//! one function per error type, matched by variant; [`fault_answer`] writes a fault as
//! the wire answer, in the scenario's flavour.
//!
//! Shell faults carry a `WSManFault` detail with a WinRM code whatever the flavour,
//! because clients decide on that code (see `shell.rs` for the table).

use std::borrow::Cow;

use machine::cim;
use machine::shell::ShellError;
use wsman::body::Body;
use wsman::{Envelope, FaultKind, FaultSpec, ns};

use super::SOAP_CT;
use super::write::{new_uuid, reply};
use crate::filter;
use crate::http::Outcome;
use crate::mock::Inner;
use crate::scenario::{Flavour, Scenario};

/// WinRM's code for "the shell was not found" (ERROR_WINRS_SHELL_NOT_FOUND-style).
pub const SHELL_NOT_FOUND_CODE: u32 = 2_150_858_843;
/// WinRM's code for "this user has reached the maximum number of concurrent shells".
pub const SHELL_QUOTA_CODE: u32 = 2_150_859_173;
/// WinRM's generic error base (0x80338000).
pub const GENERIC_CODE: u32 = 0x8033_8000;

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
    pub(super) fn new(
        kind: FaultKind,
        detail: Option<&'static str>,
        code: u32,
        reason: String,
    ) -> Self {
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

/// A fault being answered: the spec plus what the flavour adds.
pub(super) struct Fail {
    pub(super) spec: FaultSpec,
    pub(super) status: Option<u16>,
    /// The header an `s:MustUnderstand` fault names in `s:NotUnderstood`.
    /// (Boxed: it is rare, and keeps every `Result<_, Fail>` small.)
    pub(super) not_understood: Option<Box<wsman::Name<'static>>>,
    /// A WinRM `WSManFault` code to send whatever the flavour (shell faults: clients
    /// decide on it).
    pub(super) wsman_code: Option<u32>,
}

impl From<FaultSpec> for Fail {
    fn from(spec: FaultSpec) -> Fail {
        Fail {
            spec,
            status: None,
            not_understood: None,
            wsman_code: None,
        }
    }
}

impl From<ShellFault> for Fail {
    fn from(f: ShellFault) -> Fail {
        let mut spec = FaultSpec::new(f.kind, f.reason);
        if let Some(d) = f.detail {
            spec = spec.with_detail(d);
        }
        Fail {
            wsman_code: Some(f.code),
            ..Fail::from(spec)
        }
    }
}

impl From<machine::shell::ShellError> for Fail {
    fn from(e: machine::shell::ShellError) -> Fail {
        Fail::from(fault_of(&e))
    }
}

pub(super) fn fault(kind: FaultKind, reason: impl Into<String>) -> Fail {
    Fail::from(FaultSpec::new(kind, reason))
}

pub(super) fn fault_d(kind: FaultKind, detail: &'static str, reason: impl Into<String>) -> Fail {
    Fail::from(FaultSpec::new(kind, reason).with_detail(detail))
}

pub(super) type OpResult = Result<Envelope<'static>, Fail>;

pub(super) fn cim_fault(e: cim::CimError) -> Fail {
    use cim::CimError as E;
    let reason = e.to_string();
    match e {
        E::UnknownClass { .. } => fault_d(
            FaultKind::DestinationUnreachable,
            "InvalidResourceURI",
            reason,
        ),
        E::NotFound { .. } => fault_d(FaultKind::InvalidSelectors, "InvalidValue", reason),
        E::InsufficientSelectors { .. } => {
            fault_d(FaultKind::InvalidSelectors, "InsufficientSelectors", reason)
        }
        E::UnexpectedSelectors { .. } => {
            fault_d(FaultKind::InvalidSelectors, "UnexpectedSelectors", reason)
        }
        E::InvalidSelectorValue { .. } => {
            fault_d(FaultKind::InvalidSelectors, "InvalidValue", reason)
        }
        E::NotWritable { .. } => fault_d(FaultKind::InvalidRepresentation, "InvalidValues", reason),
        E::InvalidValue { .. } => {
            fault_d(FaultKind::InvalidRepresentation, "InvalidValues", reason)
        }
        E::UnknownMethod { .. } => fault_d(FaultKind::ActionNotSupported, "ActionMismatch", reason),
        E::InvalidParameter {
            reason: ref why, ..
        } => {
            // CimError gives the reason as text only: "is missing", "\"x\" is not a
            // uint16"; anything else names a parameter the method does not have.
            let detail = if why.starts_with("is missing") {
                "MissingValues"
            } else if why.contains(" is not a") {
                "TypeMismatch"
            } else {
                "InvalidName"
            };
            fault_d(FaultKind::InvalidParameter, detail, reason)
        }
        E::AlreadyExists { .. } => fault(FaultKind::AlreadyExists, reason),
        E::DuplicateSelectors { .. } => {
            fault_d(FaultKind::InvalidSelectors, "DuplicateSelectors", reason)
        }
        E::NotSupported { .. } => fault_d(FaultKind::ActionNotSupported, "ActionMismatch", reason),
        _ => fault(FaultKind::InternalError, reason),
    }
}

pub(super) fn filter_fault(e: filter::FilterError) -> Fail {
    fault(e.fault_kind(), e.to_string())
}

/// The fault for a shell request that names no CommandId where it needs one.
pub(super) fn missing_command_id(what: &str) -> Fail {
    Fail::from(bad_request(
        FaultKind::InvalidParameter,
        Some("MissingValues"),
        what,
    ))
}

pub(super) fn default_reason(kind: FaultKind) -> String {
    format!("{} (answered by a scenario rule)", kind.qname())
}

/// The WSManFault code WinRM puts in its detail. Only the Receive timeout's code is
/// relied upon by clients (pywinrm retries on it); the rest use WinRM's generic base.
pub fn windows_code(kind: FaultKind) -> u32 {
    match kind {
        FaultKind::TimedOut => ns::shell::RECEIVE_TIMEOUT_CODE,
        FaultKind::AccessDenied => 5,
        _ => 0x8033_8000,
    }
}

/// The one place a fault becomes a wire answer, in the scenario's flavour.
pub(super) fn fault_answer(f: Fail, relates: Option<&str>, scenario: &Scenario) -> Outcome {
    let id = new_uuid();
    let mut env = f.spec.to_envelope(relates, &id);
    env.header.not_understood = f.not_understood.map(|n| *n);
    if f.spec.kind == FaultKind::VersionMismatch {
        // SOAP 1.2 §5.4.7: say which envelope version is understood. The writer
        // binds `s` to the SOAP 1.2 namespace on the Envelope, so the qname resolves.
        let mut b = wsman::TreeBuilder::with_capacity(2);
        b.start(wsman::Name::new(ns::SOAP, "Upgrade").with_prefix("s"));
        b.start(wsman::Name::new(ns::SOAP, "SupportedEnvelope").with_prefix("s"));
        b.attr(wsman::Name::new("", "qname"), "s:Envelope");
        b.end();
        b.end();
        env.header.other.push(wsman::envelope::OtherHeader {
            must_understand: false,
            element: b.finish(),
        });
    }
    let windows = scenario.wsman.flavour == Flavour::Windows;
    if windows || f.wsman_code.is_some() {
        if let Body::Fault(body) = &mut env.body {
            body.detail.wsman_fault = Some(wsman::fault::WsmanFault {
                code: Cow::Owned(
                    f.wsman_code
                        .unwrap_or_else(|| windows_code(f.spec.kind))
                        .to_string(),
                ),
                machine: Some(Cow::Owned(
                    scenario
                        .wsman
                        .fault_machine
                        .clone()
                        .unwrap_or_else(|| scenario.machine.identity.hostname.clone()),
                )),
                message: Cow::Owned(f.spec.reason.clone()),
            });
        }
    }
    let status = if windows {
        f.status.unwrap_or(500)
    } else {
        f.status.unwrap_or(f.spec.kind.http_status())
    };
    reply(status, env.to_xml().into_bytes(), SOAP_CT)
}

impl Inner {
    /// Writes an answer and holds it to the client's MaxEnvelopeSize.
    pub(super) fn fault_outcome(
        &mut self,
        f: Fail,
        relates: Option<&str>,
        scenario: &Scenario,
    ) -> Outcome {
        fault_answer(f, relates, scenario)
    }
}
