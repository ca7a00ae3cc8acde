//! The WS-Management fault catalogue (DSP0226 annex and the addressing, transfer,
//! enumeration and eventing specifications) as one enum, and the typed `s:Fault` body.
//!
//! Every fault a Touchstone component answers or expects is a [`FaultKind`]: its SOAP
//! Code, its Subcode QName, the action URI of the fault message, the HTTP status a
//! DSP0226 service answers it with, and the detail tokens the specification allows
//! with it.
//!
//! HTTP statuses follow the SOAP 1.2 HTTP binding (SOAP 1.2 Part 2 §7.5.2.2): an
//! `env:Sender` fault is a client error, every other code (`env:Receiver`,
//! `env:MustUnderstand`, `env:VersionMismatch`, `env:DataEncodingUnknown`) is 500.
//! Within the 4xx a Sender fault may take, the catalogue keeps openwsman's choices
//! where they are client errors (401 AccessDenied, 413 EncodingLimit, 409 Concurrency,
//! 422 CannotProcessFilter); where openwsman answers a Sender fault with a server
//! error (503 DestinationUnreachable, 501 ActionNotSupported and the unavailable
//! filter dialects) the catalogue says 400, as the binding does, so that the mock
//! passes the suite's `wsman.rule.fault-status-class`.

use std::borrow::Cow;

use crate::ns;
use crate::tree::{Name, Tree};

/// The SOAP 1.2 fault code (`s:Code/s:Value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultCode {
    /// `s:Sender`: the request was wrong.
    Sender,
    /// `s:Receiver`: the service failed.
    Receiver,
    /// `s:MustUnderstand`: a mandatory header was not understood.
    MustUnderstand,
    /// `s:VersionMismatch`: not a SOAP 1.2 envelope.
    VersionMismatch,
    /// `s:DataEncodingUnknown`.
    DataEncodingUnknown,
}

impl FaultCode {
    /// The local name of the code in the SOAP namespace.
    pub fn local_name(self) -> &'static str {
        match self {
            FaultCode::Sender => "Sender",
            FaultCode::Receiver => "Receiver",
            FaultCode::MustUnderstand => "MustUnderstand",
            FaultCode::VersionMismatch => "VersionMismatch",
            FaultCode::DataEncodingUnknown => "DataEncodingUnknown",
        }
    }

    /// The code named by a local name in the SOAP namespace.
    pub fn from_local_name(name: &str) -> Option<FaultCode> {
        Some(match name {
            "Sender" => FaultCode::Sender,
            "Receiver" => FaultCode::Receiver,
            "MustUnderstand" => FaultCode::MustUnderstand,
            "VersionMismatch" => FaultCode::VersionMismatch,
            "DataEncodingUnknown" => FaultCode::DataEncodingUnknown,
            _ => return None,
        })
    }
}

macro_rules! catalogue {
    ($( $(#[$doc:meta])* $kind:ident => $code:ident, $ns:expr, $local:expr, $action:expr, $http:expr, [$($tok:expr),*]; )*) => {
        /// One fault of the catalogue.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum FaultKind {
            $( $(#[$doc])* $kind, )*
        }

        impl FaultKind {
            /// Every fault of the catalogue, in catalogue order.
            pub const ALL: &'static [FaultKind] = &[$(FaultKind::$kind),*];

            /// The SOAP Code.
            pub fn code(self) -> FaultCode {
                match self { $(FaultKind::$kind => FaultCode::$code,)* }
            }

            /// The Subcode as (namespace, local name); `None` for the SOAP-level faults
            /// whose Code says it all (MustUnderstand, VersionMismatch).
            pub fn subcode(self) -> Option<(&'static str, &'static str)> {
                match self { $(FaultKind::$kind => {
                    let ns: &'static str = $ns;
                    if ns.is_empty() { None } else { Some((ns, $local)) }
                })* }
            }

            /// The action URI of the fault message.
            pub fn action(self) -> &'static str {
                match self { $(FaultKind::$kind => $action,)* }
            }

            /// The HTTP status a DSP0226-style service answers: 500 for every code but
            /// `s:Sender` (SOAP 1.2 Part 2 §7.5.2.2), openwsman's mapping for Sender
            /// faults (WinRM answers 500 for every fault).
            pub fn http_status(self) -> u16 {
                match self { $(FaultKind::$kind => $http,)* }
            }

            /// The `wsman:FaultDetail` tokens the specification pairs with this fault.
            pub fn detail_tokens(self) -> &'static [&'static str] {
                match self { $(FaultKind::$kind => &[$($tok),*],)* }
            }

            /// A stable short name, `prefix:Local` (for reports and scenario files).
            pub fn qname(self) -> &'static str {
                match self { $(FaultKind::$kind => concat!($local),)* }
            }
        }
    };
}

use ns::action::{
    ADDRESSING_FAULT as A, CIMBINDING_FAULT as B, ENUMERATION_FAULT as N, EVENTING_FAULT as E,
    TRANSFER_FAULT as T, WSMAN_FAULT as M,
};

catalogue! {
    /// A mandatory header was not understood (`s:MustUnderstand`, no subcode).
    MustUnderstand => MustUnderstand, "", "s:MustUnderstand", A, 500, [];
    /// The envelope is not SOAP 1.2 (`s:VersionMismatch`, no subcode).
    VersionMismatch => VersionMismatch, "", "s:VersionMismatch", A, 500, [];
    /// No such resource or endpoint.
    DestinationUnreachable => Sender, ns::WSA, "wsa:DestinationUnreachable", A, 400, ["InvalidResourceURI"];
    /// The action is not supported by the resource.
    ActionNotSupported => Sender, ns::WSA, "wsa:ActionNotSupported", A, 400, ["ActionMismatch"];
    /// The endpoint cannot serve the request now.
    EndpointUnavailable => Receiver, ns::WSA, "wsa:EndpointUnavailable", A, 500, [];
    /// An addressing header is malformed or duplicated.
    InvalidMessageInformationHeader => Sender, ns::WSA, "wsa:InvalidMessageInformationHeader", A, 400, [];
    /// A required addressing header is missing.
    MessageInformationHeaderRequired => Sender, ns::WSA, "wsa:MessageInformationHeaderRequired", A, 400, [];
    /// The sender is not allowed to do this.
    AccessDenied => Sender, ns::WSMAN, "wsman:AccessDenied", M, 401, [];
    /// Create of an instance that exists.
    AlreadyExists => Sender, ns::WSMAN, "wsman:AlreadyExists", M, 400, [];
    /// The filter cannot be processed.
    CannotProcessFilter => Sender, ns::WSMAN, "wsman:CannotProcessFilter", M, 422, [];
    /// A concurrent change conflicted.
    Concurrency => Sender, ns::WSMAN, "wsman:Concurrency", M, 409, [];
    /// A size, count or encoding limit was exceeded.
    EncodingLimit => Sender, ns::WSMAN, "wsman:EncodingLimit", M, 413, ["MaxEnvelopeSize", "MinimumEnvelopeLimit", "ServiceEnvelopeLimit", "SelectorLimit", "OptionLimit", "CharacterSet", "UnreportableSuccess", "Whitespace", "EncodingType"];
    /// The fragment dialect is not supported.
    FragmentDialectNotSupported => Receiver, ns::WSMAN, "wsman:FragmentDialectNotSupported", M, 500, [];
    /// The service failed.
    InternalError => Receiver, ns::WSMAN, "wsman:InternalError", M, 500, [];
    /// An option is not valid.
    InvalidOptions => Sender, ns::WSMAN, "wsman:InvalidOptions", M, 400, ["NotSupported", "InvalidName", "InvalidValue"];
    /// A method or operation parameter is not valid.
    InvalidParameter => Sender, ns::WSMAN, "wsman:InvalidParameter", M, 400, ["TypeMismatch", "InvalidName", "MissingValues"];
    /// The selectors do not identify an instance.
    InvalidSelectors => Sender, ns::WSMAN, "wsman:InvalidSelectors", M, 400, ["InsufficientSelectors", "UnexpectedSelectors", "DuplicateSelectors", "AmbiguousSelectors", "TypeMismatch", "InvalidValue"];
    /// A quota was exceeded.
    QuotaLimit => Sender, ns::WSMAN, "wsman:QuotaLimit", M, 400, [];
    /// The message violates the schema (or is not well-formed XML).
    SchemaValidationError => Sender, ns::WSMAN, "wsman:SchemaValidationError", M, 400, [];
    /// The operation did not finish within OperationTimeout.
    TimedOut => Receiver, ns::WSMAN, "wsman:TimedOut", M, 500, [];
    /// A requested feature is not supported.
    UnsupportedFeature => Sender, ns::WSMAN, "wsman:UnsupportedFeature", M, 400, ["AddressingMode", "Ack", "AsynchronousRequest", "Bookmark", "CharacterSet", "DeliveryRetries", "DuplicateSelectors", "EncodingType", "EnumerationMode", "ExpirationTime", "Expired", "FilteringRequired", "FormatMismatch", "FormatSecurityToken", "FragmentLevelAccess", "Heartbeats", "InsecureAddress", "InsufficientSelectors", "Invalid", "InvalidAddress", "InvalidFormat", "InvalidFragment", "InvalidName", "InvalidNamespace", "InvalidResourceURI", "InvalidSelectorAssignment", "InvalidSystem", "InvalidTimeout", "InvalidValue", "InvalidValues", "Locale", "MaxElements", "MaxEnvelopePolicy", "MaxEnvelopeSize", "MaxTime", "MinimumEnvelopeLimit", "MissingValues", "NotSupported", "OperationTimeout", "OptionLimit", "OptionSet", "ReadOnly", "ResourceOffline", "Rename", "SelectorLimit", "ServiceEnvelopeLimit", "TargetAlreadyExists", "TypeMismatch", "UnexpectedSelectors", "UnreportableSuccess", "UnsupportedAddressingMode", "UnusableAddress", "URILimitExceeded", "Whitespace"];
    /// Event delivery was refused.
    DeliveryRefused => Receiver, ns::WSMAN, "wsman:DeliveryRefused", M, 500, [];
    /// The eventing bookmark is not valid.
    InvalidBookmark => Sender, ns::WSMAN, "wsman:InvalidBookmark", M, 400, ["Expired", "Invalid"];
    /// The enumeration context is unknown or expired.
    InvalidEnumerationContext => Receiver, ns::WSEN, "wsen:InvalidEnumerationContext", N, 500, [];
    /// No items before the Pull's MaxTime.
    EnumerationTimedOut => Receiver, ns::WSEN, "wsen:TimedOut", N, 500, [];
    /// The filter dialect is not offered.
    FilterDialectRequestedUnavailable => Sender, ns::WSEN, "wsen:FilterDialectRequestedUnavailable", N, 400, [];
    /// The enumeration does not filter at all.
    FilteringNotSupported => Sender, ns::WSEN, "wsen:FilteringNotSupported", N, 400, [];
    /// The enumeration filter cannot be processed.
    EnumerationCannotProcessFilter => Sender, ns::WSEN, "wsen:CannotProcessFilter", N, 422, [];
    /// The Expires type is not supported.
    UnsupportedExpirationType => Receiver, ns::WSEN, "wsen:UnsupportedExpirationType", N, 500, [];
    /// The representation sent with Put/Create is not valid.
    InvalidRepresentation => Sender, ns::WXF, "wxf:InvalidRepresentation", T, 400, ["InvalidValues", "MissingValues", "InvalidNamespace", "InvalidFragment"];
    /// The subscription expiration is not valid.
    InvalidExpirationTime => Sender, ns::WSE, "wse:InvalidExpirationTime", E, 400, [];
    /// The delivery mode is not offered.
    DeliveryModeRequestedUnavailable => Sender, ns::WSE, "wse:DeliveryModeRequestedUnavailable", E, 400, [];
    /// The event source does not filter.
    EventFilteringNotSupported => Sender, ns::WSE, "wse:FilteringNotSupported", E, 400, [];
    /// The eventing message is not valid.
    InvalidMessage => Sender, ns::WSE, "wse:InvalidMessage", E, 400, [];
    /// The event source does not offer the requested filter dialect.
    FilteringRequestedUnavailable => Sender, ns::WSE, "wse:FilteringRequestedUnavailable", E, 400, [];
    /// The event source cannot process the subscription.
    EventSourceUnableToProcess => Receiver, ns::WSE, "wse:EventSourceUnableToProcess", E, 500, [];
    /// The subscription cannot be renewed (unknown or ended).
    UnableToRenew => Receiver, ns::WSE, "wse:UnableToRenew", E, 500, [];
    /// The polymorphism mode is not supported.
    PolymorphismModeNotSupported => Receiver, ns::WSMB, "wsmb:PolymorphismModeNotSupported", B, 500, [];
}

impl FaultKind {
    /// The catalogue entry with this Subcode (namespace and local name), or with this
    /// Code when there is no subcode.
    pub fn from_subcode(code: FaultCode, subcode: Option<(&str, &str)>) -> Option<FaultKind> {
        match subcode {
            None => match code {
                FaultCode::MustUnderstand => Some(FaultKind::MustUnderstand),
                FaultCode::VersionMismatch => Some(FaultKind::VersionMismatch),
                _ => None,
            },
            Some((ns, local)) => FaultKind::ALL
                .iter()
                .copied()
                .find(|k| k.subcode().is_some_and(|(kns, _)| kns == ns) && k.local_name() == local),
        }
    }

    /// The kind named `prefix:Local` as [`FaultKind::qname`] spells it.
    pub fn from_qname(qname: &str) -> Option<FaultKind> {
        FaultKind::ALL.iter().copied().find(|k| k.qname() == qname)
    }

    /// The local name of the subcode (or of the code for subcode-less faults).
    pub fn local_name(self) -> &'static str {
        local_part(self.qname())
    }

    /// Whether `token` is one of the detail tokens the catalogue allows here.
    pub fn allows_detail(self, token: &str) -> bool {
        self.detail_tokens().contains(&token)
    }
}

fn local_part(qname: &str) -> &str {
    qname.rsplit(':').next().unwrap_or(qname)
}

/// A fault to answer: the catalogue entry, an optional detail token and a human reason.
/// This is what [`crate::Error::fault`] produces and what a server turns into a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpec {
    /// The catalogue entry.
    pub kind: FaultKind,
    /// The `wsman:FaultDetail` token, one of [`FaultKind::detail_tokens`].
    pub detail: Option<&'static str>,
    /// The English reason text.
    pub reason: String,
}

impl FaultSpec {
    /// A fault of `kind` with a reason and no detail.
    pub fn new(kind: FaultKind, reason: impl Into<String>) -> FaultSpec {
        FaultSpec {
            kind,
            detail: None,
            reason: reason.into(),
        }
    }

    /// The same fault with a detail token.
    pub fn with_detail(mut self, token: &'static str) -> FaultSpec {
        debug_assert!(
            self.kind.allows_detail(token),
            "{token} not allowed for {:?}",
            self.kind
        );
        self.detail = Some(token);
        self
    }

    /// The full `wsman:FaultDetail` URI, if there is a detail token.
    pub fn detail_uri(&self) -> Option<String> {
        self.detail
            .map(|t| format!("{}{t}", ns::FAULT_DETAIL_PREFIX))
    }

    /// The `s:Fault` body for this fault.
    pub fn to_fault(&self) -> Fault<'static> {
        Fault {
            code: self.kind.code(),
            subcode: self
                .kind
                .subcode()
                .map(|(ns, local)| Name::new(ns, local_part(local))),
            reason: Cow::Owned(self.reason.clone()),
            reason_lang: Cow::Borrowed("en-US"),
            detail: FaultDetail {
                fault_detail: self.detail_uri().map(Cow::Owned),
                ..FaultDetail::default()
            },
        }
    }
}

/// The typed `s:Fault` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault<'a> {
    /// `s:Code/s:Value`.
    pub code: FaultCode,
    /// `s:Code/s:Subcode/s:Value`, resolved to its namespace.
    pub subcode: Option<Name<'a>>,
    /// `s:Reason/s:Text` (the first one).
    pub reason: Cow<'a, str>,
    /// Its `xml:lang`.
    pub reason_lang: Cow<'a, str>,
    /// `s:Detail`.
    pub detail: FaultDetail<'a>,
}

impl Fault<'_> {
    /// The catalogue entry this fault is, if it is one.
    pub fn kind(&self) -> Option<FaultKind> {
        FaultKind::from_subcode(
            self.code,
            self.subcode
                .as_ref()
                .map(|n| (n.ns.as_ref(), n.local.as_ref())),
        )
    }

    /// The detail token (the part of the `wsman:FaultDetail` URI after the prefix).
    pub fn detail_token(&self) -> Option<&str> {
        self.detail
            .fault_detail
            .as_deref()
            .map(|uri| uri.strip_prefix(ns::FAULT_DETAIL_PREFIX).unwrap_or(uri))
    }
}

/// The content of `s:Detail`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FaultDetail<'a> {
    /// `wsman:FaultDetail` (a URI).
    pub fault_detail: Option<Cow<'a, str>>,
    /// WinRM's `f:WSManFault`.
    pub wsman_fault: Option<WsmanFault<'a>>,
    /// Any other detail elements.
    pub other: Vec<Tree<'a>>,
}

/// WinRM's `f:WSManFault` detail element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WsmanFault<'a> {
    /// The `Code` attribute (a Windows error number, e.g. 2150858793).
    pub code: Cow<'a, str>,
    /// The `Machine` attribute.
    pub machine: Option<Cow<'a, str>>,
    /// `f:Message` text (nested provider messages are flattened to their text).
    pub message: Cow<'a, str>,
}

impl WsmanFault<'_> {
    /// The numeric code, if it is one.
    pub fn code_number(&self) -> Option<u32> {
        self.code.trim().parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOAP 1.2 Part 2 §7.5.2.2: every fault code but `env:Sender` is answered 500;
    /// a Sender fault keeps a status of its own (never 2xx or 3xx).
    #[test]
    fn non_sender_faults_are_500() {
        for &kind in FaultKind::ALL {
            let status = kind.http_status();
            if kind.code() == FaultCode::Sender {
                assert!(
                    (400..600).contains(&status),
                    "{kind:?}: Sender fault with status {status}"
                );
            } else {
                assert_eq!(status, 500, "{kind:?} is {:?}", kind.code());
            }
        }
    }
}
