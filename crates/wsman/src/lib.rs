//! # wsman: WS-Management envelopes, sans IO
//!
//! Reads and writes every WS-Management (DMTF DSP0226) message Touchstone's mock, client
//! and conformance suite handle: SOAP 1.2 envelopes with typed addressing and
//! WS-Management headers, typed bodies for Identify, transfer, enumeration, eventing,
//! Invoke and the WinRM remote shell, faults, and a generic element tree for resource
//! instances. It does no IO and reads no clock: bytes go in, values come out.
//!
//! ```
//! let xml = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
//!     xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"
//!     xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">
//!   <s:Header>
//!     <a:To>http://127.0.0.1:5985/wsman</a:To>
//!     <a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action>
//!     <a:MessageID>uuid:3D5F4F5E-0000-4000-8000-000000000001</a:MessageID>
//!     <w:ResourceURI s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem</w:ResourceURI>
//!     <w:OperationTimeout>PT1M30.5S</w:OperationTimeout>
//!   </s:Header>
//!   <s:Body/>
//! </s:Envelope>"#;
//! let env = wsman::parse(xml, &wsman::Limits::default()).unwrap();
//! assert_eq!(env.header.action.as_deref(), Some(wsman::ns::action::GET));
//! assert_eq!(env.header.operation_timeout.unwrap().to_std().unwrap().as_millis(), 90_500);
//! assert!(matches!(env.body, wsman::Body::Empty));
//! ```
//!
//! Safety properties: a DOCTYPE is refused (no entity is ever expanded); depth, element
//! count, attributes per element and size are bounded by [`Limits`], and checking an
//! element's attributes costs time linear in their number; SOAP 1.1 is answered with VersionMismatch;
//! no input makes it panic (a proptest and a fuzz target check this).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod addressing;
pub mod body;
mod cursor;
pub mod decode;
pub mod duration;
pub mod envelope;
pub mod error;
pub mod fault;
pub mod memo;
pub mod ns;
pub mod tree;
pub mod validate;
pub mod write;

pub use addressing::{Epr, OptionItem, Selector, SelectorValue};
pub use body::Body;
pub use decode::{Charset, decode};
pub use duration::XsDuration;
pub use envelope::{Envelope, Header, HeaderName, HeaderOnly, Meta, parse, parse_header};
pub use error::{Error, ErrorKind, line_col};
pub use fault::{Fault, FaultCode, FaultKind, FaultSpec};
pub use memo::ParseMemo;
pub use tree::{Element, Name, Tree, TreeBuilder};

/// Bounds on what the parser accepts. The maximum is the caller's: a server sets it from
/// its configured envelope size, a linter from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted message, in bytes of decoded text.
    pub max_bytes: usize,
    /// Deepest element nesting (the Envelope is depth 1).
    pub max_depth: usize,
    /// Most elements in one message.
    pub max_elements: usize,
    /// Most attributes on one element, namespace declarations included.
    pub max_attributes: usize,
}

impl Default for Limits {
    /// 4 MiB, 100 levels, 200,000 elements, 256 attributes per element: far above what
    /// real servers send (WinRM's default MaxEnvelopeSizekb is 500; a WS-Management
    /// element carries a handful of attributes) and far below what could exhaust memory.
    fn default() -> Limits {
        Limits {
            max_bytes: 4 << 20,
            max_depth: 100,
            max_elements: 200_000,
            max_attributes: 256,
        }
    }
}
