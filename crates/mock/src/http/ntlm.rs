//! NTLM over HTTP, per connection: the `Negotiate` (or `NTLM`) handshake, the user it
//! authenticates for the rest of the connection, and WinRM message encryption with the
//! session's sealing keys.
//!
//! NTLM authenticates a TCP connection, not a request: the NEGOTIATE and AUTHENTICATE
//! legs must arrive on the same connection, and once they succeed, later requests on it
//! without an `Authorization` header are that user (requests_ntlm and pywinrm rely on
//! this). Each connection therefore owns a [`ConnAuth`].
//!
//! The tokens are raw NTLM messages (what requests_ntlm, and so pywinrm, sends) or NTLM
//! wrapped in SPNEGO (what pyspnego sends for pypsrp's `auth="negotiate"`): a
//! `NegTokenInit` whose first mechanism is NTLM, then a `NegTokenResp` with the
//! AUTHENTICATE and a `mechListMIC`, which is checked and answered with the server's own
//! in the `WWW-Authenticate` header of the response that completes the login. SPNEGO
//! offering only Kerberos is refused with 401 and a message that says so.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ntlm::messages::message_type;
use ntlm::spnego::{self, NegTokenResp};
use ntlm::{Acceptor, AcceptorConfig, FrameError, Session};

use super::Credentials;

/// The NTLM state of one connection.
/// The authenticated user, the session keys, the SPNEGO MechTypeList (when wrapped)
/// and whether the NTLM MIC was checked.
type NtlmSession = (Arc<str>, Session, Option<Vec<u8>>, bool);

#[derive(Debug, Default)]
pub(crate) struct ConnAuth {
    /// A handshake between its NEGOTIATE and AUTHENTICATE legs, and the SPNEGO
    /// MechTypeList when the client wrapped its tokens.
    pending: Option<(Acceptor, Option<Vec<u8>>)>,
    /// The authenticated user, the session keys, the SPNEGO MechTypeList (when
    /// wrapped) and whether the NTLM MIC was checked.
    session: Option<NtlmSession>,
    /// The Basic `Authorization` header this connection last proved, its user and the
    /// credentials' generation then (see [`crate::http::Credentials::generation`]).
    pub(crate) basic: Option<BasicMemo>,
}

/// A Basic `Authorization` header a connection has proved.
#[derive(Debug)]
pub(crate) struct BasicMemo {
    pub(crate) header: String,
    pub(crate) user: Arc<str>,
    pub(crate) generation: u64,
}

impl BasicMemo {
    /// The user, when `header` is the proved one and the credentials have not changed
    /// since. The headers are compared in constant time for equal lengths, without
    /// `auth::ct_eq`'s hashing (the cost this memo saves): a different length only
    /// tells the sender the length of a header its own connection sent before.
    pub(crate) fn user_for(&self, header: &str, generation: Option<u64>) -> Option<&Arc<str>> {
        let same = generation == Some(self.generation)
            && header.len() == self.header.len()
            && std::hint::black_box(
                header
                    .bytes()
                    .zip(self.header.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b)),
            ) == 0;
        same.then_some(&self.user)
    }
}

/// What one `Authorization: Negotiate ...` header leads to.
#[derive(Debug)]
pub(crate) enum Step {
    /// Answer 401 with this token (the CHALLENGE, SPNEGO-wrapped if the client wraps).
    Challenge(Vec<u8>),
    /// The connection is now this user's; with SPNEGO, the final token to send in
    /// `WWW-Authenticate` with the answer.
    Accepted(Arc<str>, Option<Vec<u8>>),
    /// Refused: answer 401 with fresh challenges; the text says why.
    Refused {
        /// Why, for the answer body.
        why: String,
        /// The header could not even be read (vs. wrong credentials).
        malformed: bool,
    },
}

/// If `authorization` uses the `Negotiate` or `NTLM` scheme, its scheme name and token.
pub(crate) fn ntlm_token(authorization: &str) -> Option<(&str, &str)> {
    let h = authorization.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    (scheme.eq_ignore_ascii_case("negotiate") || scheme.eq_ignore_ascii_case("ntlm"))
        .then(|| (scheme, rest.trim()))
}

impl ConnAuth {
    /// The user this connection authenticated as with NTLM, if any.
    pub(crate) fn user(&self) -> Option<&Arc<str>> {
        self.session.as_ref().map(|(u, ..)| u)
    }

    /// One handshake leg: the base64 `token` from the `Authorization` header. Tokens to
    /// send back come out raw; [`header_value`] makes them a header.
    pub(crate) fn step(&mut self, token: &str, creds: &dyn Credentials) -> Step {
        let refused = |why: String, malformed: bool| Step::Refused { why, malformed };
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(token) else {
            self.pending = None;
            return refused("the Negotiate token is not base64".into(), true);
        };
        if spnego::is_spnego(&raw) {
            return self.spnego_step(&raw, creds);
        }
        self.ntlm_step(&raw, None, creds)
    }

    /// One leg of SPNEGO-wrapped NTLM.
    fn spnego_step(&mut self, raw: &[u8], creds: &dyn Credentials) -> Step {
        let refused = |why: String, malformed: bool| Step::Refused { why, malformed };
        match spnego::decode(raw) {
            Ok(spnego::Token::Init(init)) => {
                let ntlm_first =
                    init.mech_types.first().map(Vec::as_slice) == Some(spnego::NTLM_OID);
                let Some(token) = init
                    .mech_token
                    .filter(|t| ntlm_first && message_type(t) == Some(1))
                else {
                    self.pending = None;
                    return refused(
                        "SPNEGO without an NTLM token: only NTLM is supported (no Kerberos)".into(),
                        true,
                    );
                };
                match self.ntlm_step(&token, Some(init.mech_type_list), creds) {
                    Step::Challenge(challenge) => {
                        let resp = NegTokenResp {
                            neg_state: Some(spnego::neg_state::ACCEPT_INCOMPLETE),
                            supported_mech: Some(spnego::NTLM_OID.to_vec()),
                            response_token: Some(challenge),
                            mech_list_mic: None,
                        };
                        Step::Challenge(resp.encode())
                    }
                    other => other,
                }
            }
            Ok(spnego::Token::Resp(resp)) => {
                let Some(token) = resp.response_token else {
                    self.pending = None;
                    return refused("SPNEGO NegTokenResp without a token".into(), true);
                };
                if !self
                    .pending
                    .as_ref()
                    .is_some_and(|(_, list)| list.is_some())
                {
                    self.pending = None;
                    return refused(
                        "SPNEGO NegTokenResp without a NegTokenInit first".into(),
                        true,
                    );
                }
                let step = self.ntlm_step(&token, None, creds);
                let Step::Accepted(user, _) = step else {
                    return step;
                };
                self.finish_spnego(user, resp.mech_list_mic)
            }
            Err(e) => {
                self.pending = None;
                refused(format!("bad SPNEGO token: {e}"), true)
            }
        }
    }

    /// Checks the client's mechListMIC and makes the final token.
    fn finish_spnego(&mut self, user: Arc<str>, client_mic: Option<Vec<u8>>) -> Step {
        let Some((_, session, Some(mech_list), mic_checked)) = self
            .session
            .as_mut()
            .map(|s| (&s.0, &mut s.1, s.2.clone(), s.3))
        else {
            return Step::Refused {
                why: "no NTLM session after the AUTHENTICATE".into(),
                malformed: true,
            };
        };
        let mut resp = NegTokenResp {
            neg_state: Some(spnego::neg_state::ACCEPT_COMPLETED),
            ..NegTokenResp::default()
        };
        match client_mic {
            Some(mic) => {
                if session.verify(&mech_list, &mic).is_err() {
                    self.session = None;
                    return Step::Refused {
                        why: "NTLM login refused: the SPNEGO mechListMIC does not verify".into(),
                        malformed: false,
                    };
                }
                session.reset_recv_rc4();
                resp.mech_list_mic = Some(session.sign(&mech_list).to_vec());
                session.reset_send_rc4();
            }
            // MS-SPNG 3.3.5.1: with an NTLM MIC the mechListMIC is mandatory.
            None if mic_checked => {
                self.session = None;
                return Step::Refused {
                    why: "NTLM login refused: SPNEGO without the mandatory mechListMIC".into(),
                    malformed: true,
                };
            }
            None => {}
        }
        Step::Accepted(user, Some(resp.encode()))
    }

    /// One leg of raw NTLM (`mech_list`: the SPNEGO MechTypeList, on the first leg of a
    /// wrapped exchange).
    fn ntlm_step(
        &mut self,
        raw: &[u8],
        mech_list: Option<Vec<u8>>,
        creds: &dyn Credentials,
    ) -> Step {
        let refused = |why: String, malformed: bool| Step::Refused { why, malformed };
        match message_type(raw) {
            Some(1) => {
                // A new handshake replaces whatever the connection had.
                self.session = None;
                let mut acceptor = Acceptor::new(AcceptorConfig::default());
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0);
                match acceptor.challenge(raw, &mut rand::rng(), ntlm::filetime_from_unix_ms(now)) {
                    Ok(challenge) => {
                        self.pending = Some((acceptor, mech_list));
                        Step::Challenge(challenge)
                    }
                    Err(e) => {
                        self.pending = None;
                        refused(format!("NTLM NEGOTIATE refused: {e}"), true)
                    }
                }
            }
            Some(3) => {
                let Some((mut acceptor, mech_list)) = self.pending.take() else {
                    return refused(
                        "NTLM AUTHENTICATE without a NEGOTIATE on this connection".into(),
                        true,
                    );
                };
                match acceptor.authenticate(raw, &|user| creds.password(user)) {
                    Ok(accepted) => {
                        let user: Arc<str> = accepted.user.into();
                        self.session = Some((
                            user.clone(),
                            accepted.session,
                            mech_list,
                            accepted.mic_checked,
                        ));
                        Step::Accepted(user, None)
                    }
                    Err(e) => {
                        let malformed = !matches!(
                            e,
                            ntlm::Error::WrongPassword
                                | ntlm::Error::UnknownUser { .. }
                                | ntlm::Error::MicMismatch
                        );
                        refused(format!("NTLM login refused: {e}"), malformed)
                    }
                }
            }
            Some(t) => {
                self.pending = None;
                refused(format!("unexpected NTLM message type {t}"), true)
            }
            None => {
                self.pending = None;
                refused("the Negotiate token is not an NTLM message".into(), true)
            }
        }
    }

    /// Opens a WinRM-encrypted body; None when the connection has no NTLM session.
    pub(crate) fn open(
        &mut self,
        content_type: &str,
        body: &[u8],
    ) -> Option<Result<(String, Vec<u8>), FrameError>> {
        let (_, session, ..) = self.session.as_mut()?;
        Some(ntlm::winrm::open(session, content_type, body))
    }

    /// Seals an answer body; None when the connection has no NTLM session.
    pub(crate) fn seal(&mut self, original_type: &str, plain: &[u8]) -> Option<Vec<u8>> {
        let (_, session, ..) = self.session.as_mut()?;
        Some(ntlm::winrm::seal(session, original_type, plain))
    }
}

/// `WWW-Authenticate` value for a token under `scheme`.
pub(crate) fn header_value(scheme: &str, token: &[u8]) -> String {
    format!(
        "{scheme} {}",
        base64::engine::general_purpose::STANDARD.encode(token)
    )
}

#[cfg(test)]
mod basic_memo_tests {
    use super::BasicMemo;

    #[test]
    fn a_memo_answers_only_its_own_header_in_its_own_generation() {
        let memo = BasicMemo {
            header: "Basic YWRtaW46YWRtaW4=".into(),
            user: "admin".into(),
            generation: 7,
        };
        assert_eq!(
            memo.user_for("Basic YWRtaW46YWRtaW4=", Some(7))
                .map(|u| &**u),
            Some("admin")
        );
        // Two characters off by the same bit (their differences would cancel in an
        // XOR accumulator), one character off, same length; a prefix; a longer one.
        assert_eq!(memo.user_for("Basic XWRtaW46XWRtaW4=", Some(7)), None);
        assert_eq!(memo.user_for("Basic YWRtaW46YWRtaW5=", Some(7)), None);
        assert_eq!(memo.user_for("Basic YWRtaW46YWRta", Some(7)), None);
        assert_eq!(memo.user_for("Basic YWRtaW46YWRtaW4=x", Some(7)), None);
        // Another generation, or none.
        assert_eq!(memo.user_for("Basic YWRtaW46YWRtaW4=", Some(8)), None);
        assert_eq!(memo.user_for("Basic YWRtaW46YWRtaW4=", None), None);
    }
}
