//! Checking a request before it is answered: what the scenario's strictness requires
//! of the envelope ([`check`], before the rules), and what the scenario's service
//! offers at all ([`offered`]: locales, fragment access, operations, options; after
//! the rules, which may script answers for anything).

use wsman::validate::{Finding, Warning};
use wsman::{Envelope, ErrorKind, HeaderName, ns};

use super::faults::{self, Fail};
use super::operation_name;
use super::shell::{is_shell, understood_option};
use crate::scenario::Scenario;

/// Checks what the scenario's strictness requires of a request.
pub(super) fn check(env: &Envelope<'_>, scenario: &Scenario) -> Result<(), Fail> {
    for f in wsman::validate::check_request(
        env,
        &[
            (ns::MSWSMAN, "SessionId"),
            (ns::MSWSMAN, "OperationID"),
            (ns::MSWSMAN, "SequenceId"),
            // The subscription manager's reference parameter (WS-Eventing's Identifier).
            (ns::WSE, "Identifier"),
        ],
    ) {
        match f {
            Finding::Error(kind, _) => {
                return Err(faults::request_error(kind));
            }
            Finding::Warning(w, _) => {
                if scenario.lenient(w.name()) {
                    continue;
                }
                let kind = match w {
                    Warning::MissingMustUnderstand(h) => ErrorKind::InvalidHeader {
                        name: h.qname(),
                        reason: "must carry s:mustUnderstand=\"true\"".into(),
                    },
                    Warning::RelativeTo => ErrorKind::InvalidHeader {
                        name: HeaderName::To.qname(),
                        reason: "not an absolute URI".into(),
                    },
                    Warning::NonUuidMessageId => ErrorKind::InvalidHeader {
                        name: HeaderName::MessageId.qname(),
                        reason: "not a uuid: URI".into(),
                    },
                    _ => continue,
                };
                return Err(faults::request_error(kind));
            }
        }
    }
    Ok(())
}

/// Checks a request against what the scenario's service offers: its locales, fragment
/// access, operations and options. Resources (`classes`, `resources`) and filter
/// dialects are checked where they are resolved.
pub(super) fn offered(env: &Envelope<'_>, scenario: &Scenario) -> Result<(), Fail> {
    let w = &scenario.wsman;
    if let (Some(tag), Some((true, _)), false) = (
        env.header.locale.as_deref(),
        env.meta.header(HeaderName::Locale),
        scenario.defect("ignore_locale"),
    ) {
        if !w.supports_locale(tag) {
            return Err(faults::unsupported_locale(format!(
                "the locale `{tag}` is not supported (supported: {})",
                w.locales.join(", ")
            )));
        }
    }
    if env.header.fragment_transfer.is_some()
        && !w.fragments
        && !scenario.defect("ignore_fragment_transfer")
    {
        // Only a FragmentTransfer marked mustUnderstand gets here: the service drops
        // one that is not before the request is handled.
        return Err(faults::no_fragment_access());
    }
    if let Some(op) = capability_of(env) {
        if !w.offers_operation(op) {
            let action = env.header.action.as_deref().unwrap_or("Identify");
            return Err(faults::action_mismatch(format!(
                "the action `{action}` is not supported by this service"
            )));
        }
    }
    if let Some(o) = env
        .header
        .options
        .iter()
        .find(|o| o.must_comply && !understood_option(env, o))
        .filter(|_| !scenario.defect("ignore_must_comply"))
    {
        return Err(faults::option_not_supported(format!(
            "the option `{}` is marked MustComply but is not supported here",
            o.name
        )));
    }
    Ok(())
}

/// The `[wsman] operations` name of the operation a request asks for, if it is one.
pub(super) fn capability_of(env: &Envelope<'_>) -> Option<&'static str> {
    if is_shell(env) {
        return Some("shell");
    }
    Some(match operation_name(env) {
        "Identify" => "identify",
        "Get" => "get",
        "Put" => "put",
        "Create" => "create",
        "Delete" => "delete",
        "Enumerate" | "Pull" | "Release" | "Renew" | "GetStatus" => "enumerate",
        "Invoke" => "invoke",
        "Subscribe" | "Unsubscribe" | "SubscriptionRenew" | "SubscriptionGetStatus" => "subscribe",
        _ => return None,
    })
}
