//! Cross-protocol cases (profile `cross`): a BMC that speaks WS-Management and IPMI
//! must tell the same story through each.

use crate::code::CodeFn;

/// The cross-protocol code cases.
pub const REGISTRY: &[CodeFn] = &[];
