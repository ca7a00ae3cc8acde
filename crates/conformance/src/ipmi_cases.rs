//! IPMI code cases (profile `ipmi-lan`): the multi-step logic that data steps cannot
//! express (logins that must fail, packets that must be dropped, walks and cross-checks).

use crate::code::CodeFn;

/// The IPMI code cases.
pub const REGISTRY: &[CodeFn] = &[];
