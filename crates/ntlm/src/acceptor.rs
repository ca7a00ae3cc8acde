//! The server side of the handshake (MS-NLMP 3.2.5): answer a NEGOTIATE with a
//! CHALLENGE, then judge the AUTHENTICATE.
//!
//! The password is proven by recomputing the NTProofStr from the stored password and
//! comparing it in constant time, whether or not the client sent a MIC; a client that
//! announces a MIC (`MsvAvFlags` 0x2) must also send a matching one. Windows accepts the
//! NTOWFv2 key computed with the domain as sent and with an empty domain; so does this.

use rand_core::RngCore;

use crate::Error;
use crate::crypto::{ct_eq, hmac_md5, ntowfv2, rc4k};
use crate::messages::{
    Authenticate, AvPairs, Challenge, DEFAULT_VERSION, MIC_OFFSET, Negotiate, NtV2Response, av,
    flags,
};
use crate::session::{Role, Session};

/// What the server says about itself in the CHALLENGE's target info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptorConfig {
    /// NetBIOS computer name (`MsvAvNbComputerName`).
    pub nb_computer_name: String,
    /// NetBIOS domain name (`MsvAvNbDomainName`; a workgroup server names itself).
    pub nb_domain_name: String,
    /// DNS computer name.
    pub dns_computer_name: String,
    /// DNS domain name.
    pub dns_domain_name: String,
}

impl Default for AcceptorConfig {
    fn default() -> Self {
        AcceptorConfig {
            nb_computer_name: "TOUCHSTONE".into(),
            nb_domain_name: "TOUCHSTONE".into(),
            dns_computer_name: "touchstone".into(),
            dns_domain_name: "touchstone".into(),
        }
    }
}

/// A successful login.
#[derive(Debug)]
pub struct Accepted {
    /// The user as sent.
    pub user: String,
    /// The domain as sent.
    pub domain: String,
    /// The workstation as sent.
    pub workstation: String,
    /// The flags the client settled on.
    pub flags: u32,
    /// Whether a MIC was present and checked.
    pub mic_checked: bool,
    /// `MsvAvChannelBindings` from the client, if it sent any (not checked here).
    pub channel_bindings: Option<Vec<u8>>,
    /// The sealing and signing session.
    pub session: Session,
}

enum State {
    Initial,
    Challenged {
        negotiate: Vec<u8>,
        challenge: Vec<u8>,
        server_challenge: [u8; 8],
    },
    Done,
}

/// One login attempt, server side.
pub struct Acceptor {
    config: AcceptorConfig,
    state: State,
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Initial => "initial",
            State::Challenged { .. } => "challenged",
            State::Done => "done",
        };
        f.debug_struct("Acceptor").field("state", &state).finish()
    }
}

/// The flags the acceptor agrees to when the client asks for them.
const ECHOED: u32 = flags::NEGOTIATE_SIGN
    | flags::NEGOTIATE_SEAL
    | flags::NEGOTIATE_ALWAYS_SIGN
    | flags::NEGOTIATE_EXTENDED_SESSIONSECURITY
    | flags::NEGOTIATE_128
    | flags::NEGOTIATE_56
    | flags::NEGOTIATE_KEY_EXCH
    | flags::NEGOTIATE_IDENTIFY;

impl Acceptor {
    /// A fresh acceptor.
    pub fn new(config: AcceptorConfig) -> Acceptor {
        Acceptor {
            config,
            state: State::Initial,
        }
    }

    /// Reads the client's NEGOTIATE and returns the CHALLENGE to send, with a random
    /// server challenge from `rng` and `MsvAvTimestamp` = `now_filetime` (which makes
    /// clients send a MIC).
    pub fn challenge(
        &mut self,
        negotiate: &[u8],
        rng: &mut dyn RngCore,
        now_filetime: u64,
    ) -> Result<Vec<u8>, Error> {
        if !matches!(self.state, State::Initial) {
            return Err(Error::OutOfSequence);
        }
        let neg = Negotiate::decode(negotiate)?;
        if neg.flags & flags::NEGOTIATE_UNICODE == 0 {
            return Err(Error::UnicodeRequired);
        }
        if neg.flags & flags::ANONYMOUS != 0 {
            return Err(Error::AnonymousRefused);
        }
        let mut server_challenge = [0u8; 8];
        rng.fill_bytes(&mut server_challenge);
        let mut info = AvPairs::default();
        let c = &self.config;
        info.push_str(av::NB_DOMAIN_NAME, &c.nb_domain_name);
        info.push_str(av::NB_COMPUTER_NAME, &c.nb_computer_name);
        info.push_str(av::DNS_DOMAIN_NAME, &c.dns_domain_name);
        info.push_str(av::DNS_COMPUTER_NAME, &c.dns_computer_name);
        info.0.push(crate::messages::AvPair {
            id: av::TIMESTAMP,
            value: now_filetime.to_le_bytes().to_vec(),
        });
        let chosen = flags::NEGOTIATE_UNICODE
            | flags::NEGOTIATE_NTLM
            | flags::NEGOTIATE_TARGET_INFO
            | flags::NEGOTIATE_VERSION
            | (neg.flags & ECHOED)
            | if neg.flags & flags::REQUEST_TARGET != 0 {
                flags::REQUEST_TARGET | flags::TARGET_TYPE_SERVER
            } else {
                0
            };
        let msg = Challenge {
            flags: chosen,
            target_name: c.nb_domain_name.clone(),
            server_challenge,
            target_info: info,
            version: Some(DEFAULT_VERSION),
        };
        let mut out = Vec::new();
        msg.encode(&mut out);
        self.state = State::Challenged {
            negotiate: negotiate.to_vec(),
            challenge: out.clone(),
            server_challenge,
        };
        Ok(out)
    }

    /// Judges the client's AUTHENTICATE; `password` gives the password of a user (None:
    /// unknown or disabled). One attempt per challenge: afterwards the acceptor is spent.
    pub fn authenticate(
        &mut self,
        message: &[u8],
        password: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Accepted, Error> {
        let State::Challenged {
            negotiate,
            challenge,
            server_challenge,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(Error::OutOfSequence);
        };
        let auth = Authenticate::decode(message)?;
        if auth.flags & flags::ANONYMOUS != 0
            || (auth.user.is_empty() && auth.nt_response.is_empty())
        {
            return Err(Error::AnonymousRefused);
        }
        if auth.flags & flags::NEGOTIATE_UNICODE == 0 {
            return Err(Error::UnicodeRequired);
        }
        if auth.nt_response.is_empty() {
            // Only an LM response: LM authentication.
            return Err(Error::NtlmV1Refused);
        }
        let resp = NtV2Response::decode(&auth.nt_response)?;
        let Some(pw) = password(&auth.user) else {
            return Err(Error::UnknownUser { user: auth.user });
        };
        let mut key = None;
        for domain in [auth.domain.as_str(), ""] {
            let k = ntowfv2(&pw, &auth.user, domain);
            let proof = hmac_md5(&k, &[&server_challenge, resp.blob]);
            if ct_eq(&proof, &resp.proof) {
                key = Some(k);
                break;
            }
            if domain.is_empty() {
                break;
            }
        }
        let Some(key) = key else {
            return Err(Error::WrongPassword);
        };
        let session_base_key = hmac_md5(&key, &[&resp.proof]);
        // KXKEY for NTLMv2 is the session base key (MS-NLMP 3.4.5.1).
        let exported = if auth.flags & flags::NEGOTIATE_KEY_EXCH != 0 {
            let enc: [u8; 16] = auth
                .encrypted_session_key
                .as_slice()
                .try_into()
                .map_err(|_| Error::BadSessionKey)?;
            let mut k = [0u8; 16];
            k.copy_from_slice(&rc4k(&session_base_key, &enc));
            k
        } else {
            session_base_key
        };
        let mic_announced = resp.av_pairs.flags() & av::FLAG_MIC_PRESENT != 0;
        if mic_announced {
            let Some(mic) = auth.mic else {
                return Err(Error::MicMissing);
            };
            let mut zeroed = message.to_vec();
            zeroed[MIC_OFFSET..MIC_OFFSET + 16].fill(0);
            let expected = hmac_md5(&exported, &[&negotiate, &challenge, &zeroed]);
            if !ct_eq(&expected, &mic) {
                return Err(Error::MicMismatch);
            }
        }
        Ok(Accepted {
            session: Session::new(&exported, auth.flags, Role::Acceptor),
            channel_bindings: resp.av_pairs.get(av::CHANNEL_BINDINGS).map(<[u8]>::to_vec),
            user: auth.user,
            domain: auth.domain,
            workstation: auth.workstation,
            flags: auth.flags,
            mic_checked: mic_announced,
        })
    }
}
