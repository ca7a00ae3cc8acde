//! Errors of reading an envelope, and the one function that maps each to the fault a
//! conforming service answers.
//!
//! Fatal syntax errors (the bytes are not well-formed XML in a supported encoding) and
//! answerable semantic errors (well-formed, but not a valid WS-Management message) are
//! both [`ErrorKind`]s; [`Error`] adds where it happened and the MessageID if it had
//! already been read, so that a server can still relate its fault.

use crate::fault::{FaultKind, FaultSpec};

/// What went wrong. Each variant maps to exactly one fault in [`Error::fault`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is not well-formed XML.
    #[error("malformed XML: {0}")]
    Syntax(String),
    /// A document type declaration was present; entities are never expanded.
    #[error("DOCTYPE is not allowed in a SOAP message")]
    Doctype,
    /// The bytes are not valid in the (declared or detected) character encoding, or the
    /// encoding is not UTF-8 or UTF-16.
    #[error("character encoding: {0}")]
    Encoding(String),
    /// Elements nest deeper than the caller's limit.
    #[error("elements nest deeper than the limit of {limit}")]
    TooDeep {
        /// The limit in force.
        limit: usize,
    },
    /// More elements than the caller's limit.
    #[error("more than {limit} elements")]
    TooManyElements {
        /// The limit in force.
        limit: usize,
    },
    /// An element has more attributes (namespace declarations included) than the
    /// caller's limit.
    #[error("an element has more than {limit} attributes")]
    TooManyAttributes {
        /// The limit in force.
        limit: usize,
    },
    /// The message is larger than the caller's limit.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The size of the message.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A prefix is used without a namespace declaration in scope.
    #[error("prefix `{prefix}` is not bound to a namespace")]
    UnboundPrefix {
        /// The prefix.
        prefix: String,
    },
    /// The document is not a SOAP envelope with one Body (after an optional Header).
    #[error("not a SOAP envelope: {0}")]
    NotAnEnvelope(String),
    /// The root is an Envelope of another SOAP version (SOAP 1.1 or unknown).
    #[error("envelope namespace `{namespace}` is not SOAP 1.2")]
    VersionMismatch {
        /// The envelope's namespace.
        namespace: String,
    },
    /// A required addressing header is absent.
    #[error("required header {name} is missing")]
    MissingHeader {
        /// The header's name, `prefix:Local`.
        name: &'static str,
    },
    /// A header that may appear once appears twice.
    #[error("header {name} appears more than once")]
    DuplicateHeader {
        /// The header's name, `prefix:Local`.
        name: &'static str,
    },
    /// A header's value is not valid.
    #[error("header {name} is not valid: {reason}")]
    InvalidHeader {
        /// The header's name, `prefix:Local`.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// `wsman:MaxEnvelopeSize` is below the 8192 octets every service must allow.
    #[error("MaxEnvelopeSize {value} is below the minimum of 8192")]
    EnvelopeTooSmall {
        /// The requested size.
        value: u64,
    },
    /// A header marked mustUnderstand is not understood.
    #[error("header {name} is marked mustUnderstand but is not understood")]
    MustUnderstand {
        /// The header's qualified name.
        name: String,
        /// Its namespace.
        namespace: String,
    },
    /// Two selectors with the same name.
    #[error("selector `{name}` appears more than once")]
    DuplicateSelector {
        /// The selector name.
        name: String,
    },
    /// `wsa:ReplyTo` (or FaultTo) is not the anonymous address.
    #[error("reply address `{address}` is not the anonymous address")]
    UnsupportedAddressing {
        /// The address given.
        address: String,
    },
    /// The resource URI header is missing where the operation needs one.
    #[error("wsman:ResourceURI is missing")]
    MissingResourceUri,
    /// The body is not valid for its kind.
    #[error("body element {element} is not valid: {reason}")]
    InvalidBody {
        /// The body element, `prefix:Local`.
        element: &'static str,
        /// Why.
        reason: String,
    },
}

impl ErrorKind {
    /// The stable snake_case name used in corpus expectations and `lint --json`.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::Syntax(_) => "syntax",
            ErrorKind::Doctype => "doctype",
            ErrorKind::Encoding(_) => "encoding",
            ErrorKind::TooDeep { .. } => "too_deep",
            ErrorKind::TooManyElements { .. } => "too_many_elements",
            ErrorKind::TooManyAttributes { .. } => "too_many_attributes",
            ErrorKind::TooLarge { .. } => "too_large",
            ErrorKind::UnboundPrefix { .. } => "unbound_prefix",
            ErrorKind::NotAnEnvelope(_) => "not_an_envelope",
            ErrorKind::VersionMismatch { .. } => "version_mismatch",
            ErrorKind::MissingHeader { .. } => "missing_header",
            ErrorKind::DuplicateHeader { .. } => "duplicate_header",
            ErrorKind::InvalidHeader { .. } => "invalid_header",
            ErrorKind::EnvelopeTooSmall { .. } => "envelope_too_small",
            ErrorKind::MustUnderstand { .. } => "must_understand",
            ErrorKind::DuplicateSelector { .. } => "duplicate_selector",
            ErrorKind::UnsupportedAddressing { .. } => "unsupported_addressing",
            ErrorKind::MissingResourceUri => "missing_resource_uri",
            ErrorKind::InvalidBody { .. } => "invalid_body",
        }
    }

    /// The fault a conforming service answers for this error. This is the one place
    /// where read errors become wire faults.
    pub fn fault(&self) -> FaultSpec {
        use FaultKind as F;
        let reason = self.to_string();
        match self {
            ErrorKind::Syntax(_)
            | ErrorKind::Doctype
            | ErrorKind::UnboundPrefix { .. }
            | ErrorKind::NotAnEnvelope(_)
            | ErrorKind::InvalidBody { .. } => FaultSpec::new(F::SchemaValidationError, reason),
            ErrorKind::Encoding(_) => {
                FaultSpec::new(F::EncodingLimit, reason).with_detail("CharacterSet")
            }
            ErrorKind::TooDeep { .. }
            | ErrorKind::TooManyElements { .. }
            | ErrorKind::TooManyAttributes { .. }
            | ErrorKind::TooLarge { .. } => {
                FaultSpec::new(F::EncodingLimit, reason).with_detail("ServiceEnvelopeLimit")
            }
            ErrorKind::VersionMismatch { .. } => FaultSpec::new(F::VersionMismatch, reason),
            ErrorKind::MissingHeader { .. } => {
                FaultSpec::new(F::MessageInformationHeaderRequired, reason)
            }
            ErrorKind::DuplicateHeader { .. } | ErrorKind::InvalidHeader { .. } => {
                FaultSpec::new(F::InvalidMessageInformationHeader, reason)
            }
            ErrorKind::EnvelopeTooSmall { .. } => {
                FaultSpec::new(F::EncodingLimit, reason).with_detail("MinimumEnvelopeLimit")
            }
            ErrorKind::MustUnderstand { .. } => FaultSpec::new(F::MustUnderstand, reason),
            ErrorKind::DuplicateSelector { .. } => {
                FaultSpec::new(F::InvalidSelectors, reason).with_detail("DuplicateSelectors")
            }
            ErrorKind::UnsupportedAddressing { .. } => {
                FaultSpec::new(F::UnsupportedFeature, reason).with_detail("AddressingMode")
            }
            ErrorKind::MissingResourceUri => {
                FaultSpec::new(F::DestinationUnreachable, reason).with_detail("InvalidResourceURI")
            }
        }
    }
}

/// An error reading an envelope: what, where, and the MessageID if it was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at byte {offset})")]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Byte offset where it was found: in the decoded text for parse errors, in the
    /// input bytes for [`ErrorKind::Encoding`] errors raised by [`crate::decode()`].
    pub offset: usize,
    /// The request's `wsa:MessageID`, if it had been read before the error.
    pub message_id: Option<String>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, offset: usize) -> Error {
        Error {
            kind,
            offset,
            message_id: None,
        }
    }

    /// The fault to answer (see [`ErrorKind::fault`]).
    pub fn fault(&self) -> FaultSpec {
        self.kind.fault()
    }
}

/// Line and column (both 1-based, column in characters) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}
