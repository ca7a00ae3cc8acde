//! The client side of the handshake (MS-NLMP 3.1.5). Besides logging in to real
//! servers, it lets tests craft the AUTHENTICATE variants a server must judge: without
//! a MIC (no `MsvAvFlags`), with the TARGET_INFO flag cleared, with a wrong password;
//! a tampered MIC is a byte flip at [`MIC_OFFSET`] of the result.

use rand_core::RngCore;

use crate::Error;
use crate::crypto::{hmac_md5, ntowfv2, rc4k};
use crate::messages::{
    Authenticate, AvPair, Challenge, DEFAULT_VERSION, MIC_OFFSET, Negotiate, NtV2Response, av,
    flags,
};
use crate::session::{Role, Session};

/// Who logs in, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiatorConfig {
    /// User name.
    pub user: String,
    /// Domain (empty for a local account).
    pub domain: String,
    /// Password.
    pub password: String,
    /// Workstation name sent in AUTHENTICATE.
    pub workstation: String,
    /// Flags requested in NEGOTIATE (and kept in AUTHENTICATE where the server agreed).
    pub flags: u32,
    /// Announce a MIC in the AV pairs and send one (what current clients do).
    pub mic: bool,
    /// `MsvAvChannelBindings` to send (MD5 of the GSS channel bindings), if any.
    pub channel_bindings: Option<[u8; 16]>,
}

impl InitiatorConfig {
    /// The flags pyspnego and Windows clients request: Unicode, NTLM, sign, seal,
    /// always sign, extended session security, target info, version, 128/56-bit keys,
    /// key exchange, request target.
    pub const DEFAULT_FLAGS: u32 = flags::NEGOTIATE_UNICODE
        | flags::REQUEST_TARGET
        | flags::NEGOTIATE_SIGN
        | flags::NEGOTIATE_SEAL
        | flags::NEGOTIATE_NTLM
        | flags::NEGOTIATE_ALWAYS_SIGN
        | flags::NEGOTIATE_EXTENDED_SESSIONSECURITY
        | flags::NEGOTIATE_TARGET_INFO
        | flags::NEGOTIATE_VERSION
        | flags::NEGOTIATE_128
        | flags::NEGOTIATE_KEY_EXCH
        | flags::NEGOTIATE_56;

    /// A local-account login with the default flags and a MIC.
    pub fn new(user: &str, password: &str) -> InitiatorConfig {
        InitiatorConfig {
            user: user.into(),
            domain: String::new(),
            password: password.into(),
            workstation: "TOUCHSTONE-CLIENT".into(),
            flags: Self::DEFAULT_FLAGS,
            mic: true,
            channel_bindings: None,
        }
    }
}

/// One login attempt, client side.
#[derive(Debug)]
pub struct Initiator {
    config: InitiatorConfig,
    negotiate: Option<Vec<u8>>,
}

impl Initiator {
    /// A fresh initiator.
    pub fn new(config: InitiatorConfig) -> Initiator {
        Initiator {
            config,
            negotiate: None,
        }
    }

    /// The NEGOTIATE message to send first.
    pub fn negotiate(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        Negotiate {
            flags: self.config.flags,
            domain: Vec::new(),
            workstation: Vec::new(),
            version: Some(DEFAULT_VERSION),
        }
        .encode(&mut out);
        self.negotiate = Some(out.clone());
        out
    }

    /// Reads the server's CHALLENGE and returns the AUTHENTICATE to send and the
    /// session. `now_filetime` is used only when the server sent no `MsvAvTimestamp`.
    pub fn authenticate(
        &mut self,
        challenge: &[u8],
        rng: &mut dyn RngCore,
        now_filetime: u64,
    ) -> Result<(Vec<u8>, Session), Error> {
        let negotiate = self.negotiate.take().ok_or(Error::OutOfSequence)?;
        let ch = Challenge::decode(challenge)?;
        let cfg = &self.config;
        // Keep what both sides agreed to (Unicode is required either way).
        let negotiated = (cfg.flags & ch.flags) | flags::NEGOTIATE_UNICODE;
        let mut pairs = ch.target_info.clone();
        let timestamp = pairs.timestamp().unwrap_or(now_filetime);
        pairs
            .0
            .retain(|p| p.id != av::FLAGS && p.id != av::CHANNEL_BINDINGS);
        if cfg.mic {
            pairs.0.push(AvPair {
                id: av::FLAGS,
                value: av::FLAG_MIC_PRESENT.to_le_bytes().to_vec(),
            });
        }
        if let Some(cb) = cfg.channel_bindings {
            pairs.0.push(AvPair {
                id: av::CHANNEL_BINDINGS,
                value: cb.to_vec(),
            });
        }
        let mut client_challenge = [0u8; 8];
        rng.fill_bytes(&mut client_challenge);
        let blob = NtV2Response::build_blob(timestamp, &client_challenge, &pairs);
        let key = ntowfv2(&cfg.password, &cfg.user, &cfg.domain);
        let proof = hmac_md5(&key, &[&ch.server_challenge, &blob]);
        let mut nt_response = proof.to_vec();
        nt_response.extend_from_slice(&blob);
        let session_base_key = hmac_md5(&key, &[&proof]);
        let (exported, encrypted_session_key) = if negotiated & flags::NEGOTIATE_KEY_EXCH != 0 {
            let mut random = [0u8; 16];
            rng.fill_bytes(&mut random);
            (random, rc4k(&session_base_key, &random))
        } else {
            (session_base_key, Vec::new())
        };
        let msg = Authenticate {
            flags: negotiated,
            // With a server timestamp the LM response is 24 zero bytes (MS-NLMP 3.1.5.1.2).
            lm_response: vec![0; 24],
            nt_response,
            domain: cfg.domain.clone(),
            user: cfg.user.clone(),
            workstation: cfg.workstation.clone(),
            encrypted_session_key,
            version: Some(DEFAULT_VERSION),
            mic: cfg.mic.then_some([0; 16]),
        };
        let mut out = Vec::new();
        msg.encode(&mut out);
        if cfg.mic {
            let mic = hmac_md5(&exported, &[&negotiate, challenge, &out]);
            out[MIC_OFFSET..MIC_OFFSET + 16].copy_from_slice(&mic);
        }
        Ok((out, Session::new(&exported, negotiated, Role::Initiator)))
    }
}
