//! The one error type of the crate.

/// Why a message could not be read, or a login or a sealed message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes do not start with `NTLMSSP\0`.
    #[error("not an NTLM message (no NTLMSSP signature)")]
    NotNtlm,
    /// A message of another type than the one expected at this step.
    #[error("expected NTLM message type {expected}, got {got}")]
    UnexpectedType {
        /// The type wanted.
        expected: u32,
        /// The type read.
        got: u32,
    },
    /// The message ends inside a fixed field.
    #[error("NTLM message truncated in {field}")]
    Truncated {
        /// The field.
        field: &'static str,
    },
    /// A payload field points outside the message.
    #[error("NTLM field {field} points outside the message")]
    FieldOutOfRange {
        /// The field.
        field: &'static str,
    },
    /// A string field is not valid UTF-16LE.
    #[error("NTLM field {field} is not valid UTF-16")]
    InvalidUtf16 {
        /// The field.
        field: &'static str,
    },
    /// The AV pair list is malformed (no MsvAvEOL, or a pair runs past the end).
    #[error("malformed AV pair list")]
    InvalidAvPairs,
    /// The NT response is not a well-formed NTLMv2 response.
    #[error("malformed NTLMv2 response")]
    InvalidNtResponse,
    /// The client did not negotiate Unicode.
    #[error("the client did not negotiate Unicode (OEM strings are not supported)")]
    UnicodeRequired,
    /// An LM or NTLMv1 response: only NTLMv2 is accepted.
    #[error("LM and NTLMv1 responses are refused; only NTLMv2 is accepted")]
    NtlmV1Refused,
    /// An anonymous login (empty user and responses).
    #[error("anonymous NTLM logins are refused")]
    AnonymousRefused,
    /// The user is not known (or is disabled).
    #[error("unknown user {user:?}")]
    UnknownUser {
        /// The user name as sent.
        user: String,
    },
    /// The NTProofStr does not match: a wrong password (or user or domain).
    #[error("the NTLMv2 response does not match the password")]
    WrongPassword,
    /// The client said it sent a MIC (MsvAvFlags 0x2) but the message has no MIC field.
    #[error("the AV pairs announce a MIC but the message has none")]
    MicMissing,
    /// The MIC does not match the three handshake messages.
    #[error("the MIC does not match the handshake messages")]
    MicMismatch,
    /// `NEGOTIATE_KEY_EXCH` was negotiated but the encrypted session key is not 16 bytes.
    #[error("key exchange negotiated without a 16-byte encrypted session key")]
    BadSessionKey,
    /// A call out of order (an AUTHENTICATE before a CHALLENGE was sent, a second
    /// AUTHENTICATE for one challenge).
    #[error("NTLM message out of sequence")]
    OutOfSequence,
    /// A sealed message's signature does not verify (wrong key, tampering, reordering).
    #[error("the message signature does not verify")]
    BadSignature,
    /// A signature of the wrong size (NTLM signatures are 16 bytes).
    #[error("NTLM signatures are 16 bytes, got {got}")]
    SignatureLength {
        /// The size received.
        got: usize,
    },
    /// A SPNEGO token that is not well-formed DER of the expected shape.
    #[error("malformed SPNEGO token")]
    InvalidSpnego,
    /// SPNEGO offered no NTLM token to work with.
    #[error("SPNEGO without an NTLM token (only NTLM is supported)")]
    SpnegoWithoutNtlm,
    /// The SPNEGO mechListMIC does not verify.
    #[error("the SPNEGO mechListMIC does not verify")]
    MechListMicMismatch,
    /// A previous signature failure broke the session: the RC4 streams are out of step.
    #[error("the session is broken by an earlier signature failure")]
    SessionBroken,
}
