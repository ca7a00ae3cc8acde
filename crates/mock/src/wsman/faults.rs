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
use wsman::{Envelope, ErrorKind, FaultKind, FaultSpec, ns};

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
/// WinRM's code for a resource URI it does not serve (ERROR_WSMAN_INVALID_RESOURCE_URI,
/// 0x80338012): what an unknown session configuration gets.
pub const INVALID_RESOURCE_URI_CODE: u32 = 0x8033_8012;
/// ERROR_ACCESS_DENIED.
pub const ACCESS_DENIED_CODE: u32 = 5;
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
    /// More `s:Detail` children (eventing's `wse:SupportedDeliveryMode` list).
    pub(super) detail_other: Option<Box<[wsman::Tree<'static>]>>,
}

impl From<FaultSpec> for Fail {
    fn from(spec: FaultSpec) -> Fail {
        Fail {
            spec,
            status: None,
            not_understood: None,
            wsman_code: None,
            detail_other: None,
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

/// The fault for a PowerShell Remoting error (`crate::remoting`).
pub fn psrp_fault_of(e: &crate::remoting::PsrpError) -> ShellFault {
    use crate::remoting::PsrpError;
    let reason = e.to_string();
    match e {
        PsrpError::UnknownShell(_) => ShellFault::new(
            FaultKind::InvalidSelectors,
            Some("InvalidValue"),
            SHELL_NOT_FOUND_CODE,
            reason,
        ),
        PsrpError::UnknownCommand(_) | PsrpError::BadCreation(_) | PsrpError::BadData(_) => {
            ShellFault::new(FaultKind::InvalidParameter, None, GENERIC_CODE, reason)
        }
        PsrpError::UnknownConfiguration(name) => ShellFault::new(
            FaultKind::DestinationUnreachable,
            Some("InvalidResourceURI"),
            INVALID_RESOURCE_URI_CODE,
            format!(
                "The WS-Management service cannot process the request. Cannot find the {name} session configuration in the WSMan: drive on the localhost computer."
            ),
        ),
        PsrpError::Disconnected(_) => {
            ShellFault::new(FaultKind::InvalidParameter, None, GENERIC_CODE, reason)
        }
        PsrpError::Internal(_) => {
            ShellFault::new(FaultKind::InternalError, None, GENERIC_CODE, reason)
        }
        PsrpError::AccessDenied { .. } => {
            ShellFault::new(FaultKind::AccessDenied, None, ACCESS_DENIED_CODE, reason)
        }
    }
}

impl From<crate::remoting::PsrpError> for Fail {
    fn from(e: crate::remoting::PsrpError) -> Fail {
        Fail::from(psrp_fault_of(&e))
    }
}

/// A fault of the catalogue with a reason (the named constructors below use it).
pub(super) fn fault(kind: FaultKind, reason: impl Into<String>) -> Fail {
    Fail::from(FaultSpec::new(kind, reason))
}

/// A fault of the catalogue with a `wsman:FaultDetail` token and a reason.
pub(super) fn fault_d(kind: FaultKind, detail: &'static str, reason: impl Into<String>) -> Fail {
    Fail::from(FaultSpec::new(kind, reason).with_detail(detail))
}

pub(super) type OpResult = Result<Envelope<'static>, Fail>;

/// The fault for a request the envelope checks refuse (the wsman catalogue's); a
/// header not understood is named in `s:NotUnderstood` (SOAP 1.2 §5.4.8).
pub(super) fn request_error(kind: ErrorKind) -> Fail {
    let mut f = Fail::from(kind.fault());
    if let ErrorKind::MustUnderstand { name, namespace } = &kind {
        let (prefix, local) = name.split_once(':').unwrap_or(("", name));
        let mut q = wsman::Name::new(namespace.clone(), local.to_owned());
        if !prefix.is_empty() {
            q = q.with_prefix(prefix.to_owned());
        }
        f.not_understood = Some(Box::new(q));
    }
    f
}

/// The fault for each of the machine's CIM errors, by variant.
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
        E::InvalidParameter { reason: why, .. } => {
            let detail = match why {
                cim::ParameterProblem::Missing => "MissingValues",
                cim::ParameterProblem::WrongType { .. } => "TypeMismatch",
                _ => "InvalidName",
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

/// The fault for a filter that cannot be used (its kind is the filter module's,
/// by variant).
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

/// The reason a scenario rule's fault gets when the rule gives none.
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
    if let (Some(more), Body::Fault(body)) = (f.detail_other, &mut env.body) {
        body.detail.other.extend(more.into_vec());
    }
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
    reply(status, env.to_xml_bytes(), SOAP_CT)
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

// ---------------------------------------------------------------- scenario rules

/// A rule's `fault` answer: its kind, detail token and status as the scenario wrote
/// them, and the default reason when it gave none.
pub(super) fn rule_fault(
    kind: FaultKind,
    detail: Option<&'static str>,
    reason: Option<String>,
    status: Option<u16>,
) -> Fail {
    let mut spec = FaultSpec::new(kind, reason.unwrap_or_else(|| default_reason(kind)));
    spec.detail = detail;
    Fail {
        status,
        ..Fail::from(spec)
    }
}

/// A rule script's `#{ fault: .. }` verdict: the fault named by qualified or local
/// name (an unknown name is the scenario's error: `wsman:InternalError`), with the
/// detail token only if the catalogue entry has it.
pub(super) fn script_fault(name: &str, detail: Option<String>, reason: Option<String>) -> Fail {
    let kind = FaultKind::from_qname(name).or_else(|| {
        FaultKind::ALL
            .iter()
            .copied()
            .find(|k| k.local_name() == name)
    });
    match kind {
        Some(kind) => {
            let mut spec = FaultSpec::new(kind, reason.unwrap_or_else(|| default_reason(kind)));
            spec.detail =
                detail.and_then(|t| kind.detail_tokens().iter().copied().find(|x| *x == t));
            Fail::from(spec)
        }
        None => script_error(format!("scenario script named an unknown fault `{name}`")),
    }
}

/// A rule script that failed to run.
pub(super) fn script_error(reason: impl Into<String>) -> Fail {
    fault(FaultKind::InternalError, reason)
}

// ---------------------------------------------------------------- request shape
//
// The faults for requests the operations cannot take as they are. Each names the
// catalogue entry and detail token once; the reason is the caller's.

/// Only Identify may come without credentials (`WSMANIDENTIFY: unauthenticated`): a
/// 401 AccessDenied fault, to which the HTTP layer adds its challenges.
pub(super) fn identify_only() -> Fail {
    Fail {
        status: Some(401),
        ..fault(
            FaultKind::AccessDenied,
            "only Identify is answered without credentials",
        )
    }
}

/// A UTF-16 request to a service that reads UTF-8 only.
pub(super) fn utf8_only() -> Fail {
    fault_d(
        FaultKind::EncodingLimit,
        "CharacterSet",
        "this service accepts UTF-8 only",
    )
}

/// A scripted delay longer than the request's OperationTimeout.
pub(super) fn operation_timed_out() -> Fail {
    fault(
        FaultKind::TimedOut,
        "the operation did not finish within the OperationTimeout",
    )
}

/// The body is not the element the operation takes.
pub(super) fn malformed_body(reason: impl Into<String>) -> Fail {
    fault(FaultKind::SchemaValidationError, reason)
}

/// An action the service, the resource or the body does not support.
pub(super) fn action_mismatch(reason: impl Into<String>) -> Fail {
    fault_d(FaultKind::ActionNotSupported, "ActionMismatch", reason)
}

/// A locale (marked mustUnderstand) the scenario does not list.
pub(super) fn unsupported_locale(reason: impl Into<String>) -> Fail {
    fault_d(FaultKind::UnsupportedFeature, "Locale", reason)
}

/// A FragmentTransfer (marked mustUnderstand) to a service without fragment access.
pub(super) fn no_fragment_access() -> Fail {
    fault_d(
        FaultKind::UnsupportedFeature,
        "FragmentLevelAccess",
        "this service has no fragment-level access",
    )
}

/// A MustComply option the service does not comply with.
pub(super) fn option_not_supported(reason: impl Into<String>) -> Fail {
    fault_d(FaultKind::InvalidOptions, "NotSupported", reason)
}

/// A resource URI that addresses nothing the service serves (or is absent).
pub(super) fn no_resource(reason: impl Into<String>) -> Fail {
    fault_d(
        FaultKind::DestinationUnreachable,
        "InvalidResourceURI",
        reason,
    )
}

/// A selector given twice.
pub(super) fn duplicate_selector(reason: impl Into<String>) -> Fail {
    fault_d(FaultKind::InvalidSelectors, "DuplicateSelectors", reason)
}

/// An endpoint-reference selector where the class takes text keys.
pub(super) fn selector_not_text(reason: impl Into<String>) -> Fail {
    fault_d(FaultKind::InvalidSelectors, "TypeMismatch", reason)
}

/// A `__cimnamespace` selector naming a namespace the scenario does not have.
pub(super) fn unknown_cim_namespace(reason: impl Into<String>) -> Fail {
    fault_d(FaultKind::InvalidSelectors, "InvalidValue", reason)
}

/// A Put or Create without the resource in its body.
pub(super) fn resource_missing(reason: impl Into<String>) -> Fail {
    fault_d(FaultKind::InvalidRepresentation, "MissingValues", reason)
}

/// A Put whose body is another class than the resource's.
pub(super) fn wrong_class(reason: impl Into<String>) -> Fail {
    fault_d(FaultKind::InvalidRepresentation, "InvalidNamespace", reason)
}

/// A fragment expression, or fragment body, the service cannot use.
pub(super) fn invalid_fragment(reason: impl Into<String>) -> Fail {
    fault_d(FaultKind::InvalidRepresentation, "InvalidFragment", reason)
}

/// A fragment dialect other than XPath.
pub(super) fn fragment_dialect(reason: impl Into<String>) -> Fail {
    fault(FaultKind::FragmentDialectNotSupported, reason)
}

/// An Expires that is not a positive duration.
pub(super) fn bad_expiry(reason: impl Into<String>) -> Fail {
    fault(FaultKind::UnsupportedExpirationType, reason)
}

/// An enumeration context that is unknown, ended or expired.
pub(super) fn unknown_context(ctx: &str) -> Fail {
    fault(
        FaultKind::InvalidEnumerationContext,
        format!("the enumeration context `{ctx}` is unknown or has expired"),
    )
}

/// An all-classes Enumerate without an association filter.
pub(super) fn filtering_required(reason: impl Into<String>) -> Fail {
    fault_d(FaultKind::UnsupportedFeature, "FilteringRequired", reason)
}

/// A filter sent to a service that filters nothing.
pub(super) fn filtering_not_supported() -> Fail {
    fault(
        FaultKind::FilteringNotSupported,
        "this service does not filter enumerations",
    )
}

/// A filter dialect the scenario does not offer.
pub(super) fn dialect_unavailable(reason: impl Into<String>) -> Fail {
    fault(FaultKind::FilterDialectRequestedUnavailable, reason)
}

/// An association filter that names no usable object.
pub(super) fn bad_association_filter(reason: impl Into<String>) -> Fail {
    fault(FaultKind::EnumerationCannotProcessFilter, reason)
}

// ---------------------------------------------------------------- eventing
//
// The faults of DSP0226 clause 10 and WS-Eventing 2004/08 (section 4), one function
// per error the eventing operations meet.

/// A delivery mode the source does not offer (WS-Eventing's Subscribe: the detail lists the
/// modes it does, as `wse:SupportedDeliveryMode`).
pub(super) fn delivery_mode_unavailable(mode: &str, offered: &[&str]) -> Fail {
    let mut f = fault(
        FaultKind::DeliveryModeRequestedUnavailable,
        format!(
            "the delivery mode `{mode}` is not offered (offered: {})",
            offered.join(", ")
        ),
    );
    let supported: Vec<wsman::Tree<'static>> = offered
        .iter()
        .map(|m| {
            wsman::Tree::leaf(
                wsman::Name::new(ns::WSE, "SupportedDeliveryMode"),
                (*m).to_owned(),
            )
        })
        .collect();
    f.detail_other = Some(supported.into_boxed_slice());
    f
}

/// An Expires that is not a positive duration or a future dateTime.
pub(super) fn invalid_expiration(reason: impl Into<String>) -> Fail {
    fault(FaultKind::InvalidExpirationTime, reason)
}

/// A push address this source will not deliver to (not http on loopback).
pub(super) fn unusable_address(reason: impl Into<String>) -> Fail {
    fault_d(FaultKind::UnsupportedFeature, "UnusableAddress", reason)
}

/// A heartbeat interval shorter than the source sends.
pub(super) fn heartbeats_unsupported(reason: impl Into<String>) -> Fail {
    fault_d(FaultKind::UnsupportedFeature, "Heartbeats", reason)
}

/// A filter dialect the source does not offer (WS-Eventing's Subscribe).
pub(super) fn event_filter_unavailable(reason: impl Into<String>) -> Fail {
    fault(FaultKind::FilteringRequestedUnavailable, reason)
}

/// A filter in an offered dialect that cannot be used.
pub(super) fn event_filter_invalid(reason: impl Into<String>) -> Fail {
    fault(FaultKind::CannotProcessFilter, reason)
}

/// A bookmark this source did not issue (or issued for an earlier machine).
pub(super) fn invalid_bookmark(reason: impl Into<String>) -> Fail {
    fault_d(FaultKind::InvalidBookmark, "Invalid", reason)
}

/// A bookmark older than the oldest event kept.
pub(super) fn expired_bookmark(reason: impl Into<String>) -> Fail {
    fault_d(FaultKind::InvalidBookmark, "Expired", reason)
}

/// A Subscribe, Renew, GetStatus or Unsubscribe that cannot be processed as sent.
pub(super) fn invalid_event_message(reason: impl Into<String>) -> Fail {
    fault(FaultKind::InvalidMessage, reason)
}

/// A Renew of a subscription that is unknown or has ended (WS-Eventing's Renew).
pub(super) fn unable_to_renew(reason: impl Into<String>) -> Fail {
    fault(FaultKind::UnableToRenew, reason)
}

/// GetStatus or Unsubscribe of a subscription that is unknown or has ended: no
/// endpoint has those reference parameters.
pub(super) fn unknown_subscription(id: &str) -> Fail {
    fault(
        FaultKind::DestinationUnreachable,
        format!("no subscription has the identifier `{id}` (unknown, unsubscribed or expired)"),
    )
}

/// More subscriptions than the scenario allows.
pub(super) fn subscription_quota(max: usize) -> Fail {
    fault(
        FaultKind::QuotaLimit,
        format!("this source keeps at most {max} subscriptions"),
    )
}

/// The source cannot deliver (no runtime to run delivery on).
pub(super) fn event_source_unable(reason: impl Into<String>) -> Fail {
    fault(FaultKind::EventSourceUnableToProcess, reason)
}

/// A Pull of events that found none within its MaxTime.
pub(super) fn no_events() -> Fail {
    fault(
        FaultKind::TimedOut,
        "no event arrived within the Pull's MaxTime",
    )
}

/// A shell request without a ShellId selector.
pub(super) fn no_shell_id() -> ShellFault {
    bad_request(
        FaultKind::InvalidSelectors,
        Some("InsufficientSelectors"),
        "the request names no shell (no ShellId selector)",
    )
}

/// A `WINRS_CODEPAGE` that is not a number.
pub(super) fn bad_codepage(reason: impl AsRef<str>) -> ShellFault {
    bad_request(
        FaultKind::InvalidOptions,
        Some("InvalidValue"),
        reason.as_ref(),
    )
}

/// A shell Create whose body is not `rsp:Shell`.
pub(super) fn invalid_shell_body(reason: impl Into<String>) -> Fail {
    fault_d(FaultKind::InvalidRepresentation, "InvalidValues", reason)
}

/// A Signal code the shell does not know.
pub(super) fn unknown_signal(reason: impl AsRef<str>) -> ShellFault {
    bad_request(
        FaultKind::InvalidParameter,
        Some("InvalidName"),
        reason.as_ref(),
    )
}
