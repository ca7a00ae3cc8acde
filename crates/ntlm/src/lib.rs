//! NTLMv2 as MS-NLMP specifies it, sans-IO: the three handshake messages, an acceptor
//! (the server side, as the mock uses it), an initiator (the client side, for clients
//! and for tests that craft good and deliberately broken logins), message sealing and
//! signing with extended session security, and the `multipart/encrypted` framing WinRM
//! wraps sealed SOAP in.
//!
//! Nothing here reads a clock or draws randomness on its own: the current time comes in
//! as a Windows FILETIME (100 ns ticks since 1601-01-01 UTC) and randomness through an
//! injected [`rand_core::RngCore`], so every exchange is reproducible in tests.
//!
//! Only NTLMv2 is accepted. LM and NTLMv1 responses and anonymous logins are refused;
//! the password is always proven by the NTProofStr, compared in constant time, and the
//! MIC is checked whenever the client's AV pairs say it sent one.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod acceptor;
pub mod crypto;
mod error;
pub mod initiator;
pub mod messages;
pub mod session;
pub mod spnego;
pub mod winrm;

pub use acceptor::{Accepted, Acceptor, AcceptorConfig};
pub use error::Error;
pub use initiator::{Initiator, InitiatorConfig};
pub use session::{Role, Session};
pub use winrm::FrameError;

/// Converts a Unix time in milliseconds to a Windows FILETIME (100 ns ticks since
/// 1601-01-01 UTC), the unit of `MsvAvTimestamp`.
pub fn filetime_from_unix_ms(unix_ms: u64) -> u64 {
    const EPOCH_DIFF_S: u64 = 11_644_473_600;
    unix_ms
        .saturating_mul(10_000)
        .saturating_add(EPOCH_DIFF_S * 10_000_000)
}
