//! The remote-console side of a LAN session (what ipmitool or freeipmi do), sans-IO.
//!
//! A [`Console`] produces datagrams and consumes the BMC's answers; the caller moves
//! the bytes (a UDP socket in the conformance client, a [`crate::session::Bmc`] in
//! memory in the tests). Each method that starts an exchange returns the first datagram
//! to send; [`Console::receive`] returns an [`Event`]: [`Event::Send`] while a multi-step
//! exchange (a login) goes on, then the outcome. [`Faults`] makes the console misbehave
//! on purpose for negative tests, and the [`Transcript`] keeps every packet decrypted.

use rand_core::RngCore;
use thiserror::Error;

use crate::codes::{Privilege, cc, netfn};
use crate::crypto::{self, CipherSuite, ConfAlg, IntegrityAlg, RakpParams, SessionKeys};
use crate::msg::{Message, MsgError};
use crate::rmcp::{self, AuthType, Frame, FrameError, Pong, payload};
use crate::session::{self, cmd};

/// Which cipher suite an RMCP+ login proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuiteChoice {
    /// Like ipmitool without `-C`: suite 17, then 3 if the BMC refuses 17.
    Auto,
    /// Exactly this suite.
    Id(u8),
}

/// Login parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    /// User name (at most 16 bytes).
    pub username: Vec<u8>,
    /// Password (Kuid; at most 20 bytes, 16 for IPMI 1.5).
    pub password: Vec<u8>,
    /// The BMC key Kg, if the BMC has one.
    pub kg: Option<Vec<u8>>,
    /// The privilege to log in with (raised with Set Session Privilege after login).
    pub privilege: Privilege,
    /// The RMCP+ cipher suite.
    pub suite: SuiteChoice,
}

impl ConsoleConfig {
    /// A configuration for `user`/`password` at Administrator level, suite auto.
    pub fn new(user: &str, password: &str) -> ConsoleConfig {
        ConsoleConfig {
            username: user.as_bytes().to_vec(),
            password: password.as_bytes().to_vec(),
            kg: None,
            privilege: Privilege::Administrator,
            suite: SuiteChoice::Auto,
        }
    }
}

/// Deliberate protocol violations for negative tests. One-shot fields are consumed by
/// the next packet they apply to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Use this session sequence number for the next session packet (one-shot; the
    /// normal counter is not advanced).
    pub next_seq: Option<u32>,
    /// Flip a bit of the next session packet's AuthCode (one-shot).
    pub corrupt_auth_code: bool,
    /// Propose these raw algorithm numbers (auth, integrity, confidentiality) in Open
    /// Session instead of the chosen suite's.
    pub open_session_algorithms: Option<(u8, u8, u8)>,
    /// Send this raw requested-privilege byte in Open Session (e.g. 0: "highest").
    pub open_session_privilege: Option<u8>,
    /// Send this raw role byte in RAKP1 instead of the configured privilege.
    pub rakp1_role: Option<u8>,
    /// Compute the RAKP3 AuthCode with a wrong key.
    pub rakp3_wrong_key: bool,
    /// Do not check the BMC's RAKP2 HMAC (to reach RAKP3 with a wrong password).
    pub skip_rakp2_check: bool,
}

/// Why an exchange failed on the console side.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// The datagram is not a well-formed RMCP packet.
    #[error("malformed frame: {0}")]
    Frame(#[from] FrameError),
    /// The IPMI message is malformed.
    #[error("malformed IPMI message: {0}")]
    Message(#[from] MsgError),
    /// The BMC's packet AuthCode does not verify.
    #[error("AuthCode of the BMC's packet does not verify")]
    BadAuthCode,
    /// The BMC's payload does not decrypt.
    #[error("decryption failed: {0}")]
    Decrypt(#[from] crypto::CryptoError),
    /// A handshake step answered with a non-zero RMCP+/RAKP status code.
    #[error("{stage} refused with status {status:#04x}")]
    Refused {
        /// Open Session, RAKP2 or RAKP4.
        stage: &'static str,
        /// The status code.
        status: u8,
    },
    /// A login command answered with a non-zero completion code.
    #[error("{stage} failed with completion code {completion:#04x}")]
    Completion {
        /// Which command.
        stage: &'static str,
        /// The completion code.
        completion: u8,
    },
    /// The RAKP2 HMAC does not verify (wrong password, or not the BMC we think).
    #[error("RAKP2 key exchange AuthCode mismatch")]
    Rakp2Mismatch,
    /// The RAKP4 integrity check value does not verify.
    #[error("RAKP4 integrity check value mismatch")]
    Rakp4Mismatch,
    /// A packet that fits no exchange in progress.
    #[error("unexpected packet: {0}")]
    Unexpected(&'static str),
    /// A command needs a session and there is none.
    #[error("not logged in")]
    NotLoggedIn,
}

/// A Serial over LAN packet from the BMC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolPacket {
    /// Packet sequence number (0: an acknowledgement only).
    pub seq: u8,
    /// The console packet it acknowledges.
    pub ack: u8,
    /// Characters of that packet the BMC accepted.
    pub accepted: u8,
    /// Status bits.
    pub status: u8,
    /// Characters from the serial port.
    pub data: Vec<u8>,
}

/// What a received datagram meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The exchange goes on: send this datagram.
    Send(Vec<u8>),
    /// An ASF presence pong.
    Pong(Pong),
    /// A command response (sessionless or in the session).
    Response(Message),
    /// The login completed.
    LoggedIn {
        /// The BMC's session ID.
        session_id: u32,
        /// The session's privilege now.
        privilege: Privilege,
        /// The maximum privilege the BMC granted in Open Session (RMCP+) or Activate
        /// Session (IPMI 1.5).
        max_privilege: Option<Privilege>,
        /// The RMCP+ cipher suite (None for IPMI 1.5).
        suite: Option<u8>,
    },
    /// A Serial over LAN packet; `ack` is the acknowledgement to send back, if the
    /// packet carried characters.
    Sol {
        /// The packet.
        packet: SolPacket,
        /// The acknowledgement to send.
        ack: Option<Vec<u8>>,
    },
}

/// Direction of a transcript entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Console to BMC.
    Sent,
    /// BMC to console.
    Received,
}

/// One packet, decrypted and described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptEntry {
    /// Direction.
    pub direction: Direction,
    /// Console time.
    pub at_ms: u64,
    /// The session header in one line.
    pub header: String,
    /// The decoded payload in one line.
    pub message: String,
}

/// Every packet the console sent and received.
pub type Transcript = Vec<TranscriptEntry>;

#[derive(Debug, Clone)]
enum Login {
    Idle,
    Open {
        tag: u8,
        suite: CipherSuite,
    },
    Rakp2 {
        rm: [u8; 16],
        role: u8,
    },
    Rakp4 {
        rm: [u8; 16],
        role: u8,
        rc: [u8; 16],
        guid: [u8; 16],
        sik: Vec<u8>,
    },
    Challenge {
        auth: AuthType,
    },
    Activate {
        auth: AuthType,
    },
    SetPrivilege,
}

#[derive(Debug, Clone)]
enum Link {
    None,
    V15 { auth: AuthType, id: u32 },
    V20 { keys: Option<SessionKeys> },
}

/// The remote console state machine.
#[derive(Debug)]
pub struct Console {
    config: ConsoleConfig,
    /// Deliberate misbehaviour for negative tests.
    pub faults: Faults,
    login: Login,
    link: Link,
    suite: Option<CipherSuite>,
    console_id: u32,
    bmc_id: u32,
    max_privilege: Option<Privilege>,
    privilege: Privilege,
    out_seq: u32,
    rq_seq: u8,
    tag: u8,
    tried_fallback: bool,
    logged_in: bool,
    sol_seq: u8,
    closing: bool,
    last_sent: Vec<u8>,
    transcript: Transcript,
}

impl Console {
    /// A console that is not logged in.
    pub fn new(config: ConsoleConfig) -> Console {
        Console {
            config,
            faults: Faults::default(),
            login: Login::Idle,
            link: Link::None,
            suite: None,
            console_id: 0,
            bmc_id: 0,
            max_privilege: None,
            privilege: Privilege::User,
            out_seq: 1,
            rq_seq: 0,
            tag: 0,
            tried_fallback: false,
            logged_in: false,
            sol_seq: 0,
            closing: false,
            last_sent: Vec::new(),
            transcript: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ConsoleConfig {
        &self.config
    }

    /// Every packet so far.
    pub fn transcript(&self) -> &[TranscriptEntry] {
        &self.transcript
    }

    /// The last datagram produced (to replay it).
    pub fn last_sent(&self) -> &[u8] {
        &self.last_sent
    }

    /// Whether a session is established.
    pub fn logged_in(&self) -> bool {
        self.logged_in
    }

    /// The BMC's session ID of the current session (0 if none).
    pub fn session_id(&self) -> u32 {
        self.bmc_id
    }

    /// The current session privilege.
    pub fn privilege(&self) -> Privilege {
        self.privilege
    }

    /// The negotiated cipher suite.
    pub fn suite(&self) -> Option<u8> {
        self.suite.map(|s| s.id)
    }

    /// The request sequence number (rqSeq) of the last IPMI request produced, to match
    /// its response.
    pub fn rq_seq(&self) -> u8 {
        self.rq_seq
    }

    /// The next session sequence number the console will use.
    pub fn next_seq(&self) -> u32 {
        self.out_seq
    }

    fn sent(&mut self, now_ms: u64, header: String, message: String, bytes: Vec<u8>) -> Vec<u8> {
        self.transcript.push(TranscriptEntry {
            direction: Direction::Sent,
            at_ms: now_ms,
            header,
            message,
        });
        self.last_sent = bytes.clone();
        bytes
    }

    fn received(&mut self, now_ms: u64, header: String, message: String) {
        self.transcript.push(TranscriptEntry {
            direction: Direction::Received,
            at_ms: now_ms,
            header,
            message,
        });
    }

    fn next_rq_seq(&mut self) -> u8 {
        self.rq_seq = (self.rq_seq + 1) & 0x3F;
        self.rq_seq
    }

    /// An ASF presence ping.
    pub fn ping(&mut self, now_ms: u64) -> Vec<u8> {
        self.tag = self.tag.wrapping_add(1);
        let b = rmcp::encode_ping(self.tag);
        self.sent(now_ms, "ASF".into(), "presence ping".into(), b)
    }

    /// A sessionless command, in RMCP+ framing (`v20`) or IPMI 1.5 framing.
    pub fn sessionless(
        &mut self,
        netfn: u8,
        command: u8,
        data: &[u8],
        v20: bool,
        now_ms: u64,
    ) -> Vec<u8> {
        let seq = self.next_rq_seq();
        let m = Message::request(netfn, command, seq, data.to_vec());
        let bytes = m.to_bytes();
        let (b, h) = if v20 {
            (
                rmcp::encode_v20_unsigned(payload::IPMI, false, false, 0, 0, &bytes),
                "RMCP+ sessionless".to_string(),
            )
        } else {
            (
                rmcp::encode_v15(AuthType::None, 0, 0, None, &bytes),
                "IPMI 1.5 sessionless".to_string(),
            )
        };
        self.sent(now_ms, h, describe(&m), b)
    }

    /// Get Channel Authentication Capabilities (`v20`: RMCP+ framing and the
    /// extended-data bit).
    pub fn auth_caps(&mut self, v20: bool, now_ms: u64) -> Vec<u8> {
        let ch = if v20 { 0x8E } else { 0x0E };
        let p = self.config.privilege.to_u8();
        self.sessionless(
            netfn::APP,
            cmd::GET_CHANNEL_AUTH_CAPS,
            &[ch, p],
            v20,
            now_ms,
        )
    }

    /// Get Channel Cipher Suites, list by suite, page `index`.
    pub fn cipher_suites(&mut self, index: u8, now_ms: u64) -> Vec<u8> {
        self.sessionless(
            netfn::APP,
            cmd::GET_CHANNEL_CIPHER_SUITES,
            &[0x0E, 0x00, 0x80 | (index & 0x3F)],
            true,
            now_ms,
        )
    }

    /// Start an RMCP+ login: the Open Session Request.
    pub fn login_v20(&mut self, now_ms: u64, rng: &mut dyn RngCore) -> Vec<u8> {
        let id = match self.config.suite {
            SuiteChoice::Auto => 17,
            SuiteChoice::Id(id) => id,
        };
        self.tried_fallback = false;
        self.open_session(id, now_ms, rng)
    }

    fn open_session(&mut self, suite_id: u8, now_ms: u64, rng: &mut dyn RngCore) -> Vec<u8> {
        let suite = CipherSuite::by_id(suite_id).unwrap_or(crypto::SUITES[0]);
        self.tag = self.tag.wrapping_add(1);
        self.console_id = loop {
            let v = rng.next_u32();
            if v != 0 {
                break v;
            }
        };
        self.logged_in = false;
        self.link = Link::None;
        self.out_seq = 1;
        let (a, i, c) = self.faults.open_session_algorithms.unwrap_or((
            suite.auth.to_u8(),
            suite.integrity.to_u8(),
            suite.conf.to_u8(),
        ));
        let p = self
            .faults
            .open_session_privilege
            .unwrap_or(self.config.privilege.to_u8());
        let mut d = vec![self.tag, p, 0, 0];
        d.extend_from_slice(&self.console_id.to_le_bytes());
        d.extend_from_slice(&[0, 0, 0, 8, a, 0, 0, 0]);
        d.extend_from_slice(&[1, 0, 0, 8, i, 0, 0, 0]);
        d.extend_from_slice(&[2, 0, 0, 8, c, 0, 0, 0]);
        self.login = Login::Open {
            tag: self.tag,
            suite,
        };
        let b = rmcp::encode_v20_unsigned(payload::OPEN_SESSION_REQUEST, false, false, 0, 0, &d);
        self.sent(
            now_ms,
            "RMCP+ Open Session Request".into(),
            format!("priv {p} algorithms auth {a} integrity {i} conf {c}"),
            b,
        )
    }

    /// Start an IPMI 1.5 login: Get Session Challenge for `auth`.
    pub fn login_v15(&mut self, auth: AuthType, now_ms: u64) -> Vec<u8> {
        self.logged_in = false;
        self.link = Link::None;
        self.login = Login::Challenge { auth };
        let mut d = vec![auth.to_u8()];
        let mut name = [0u8; 16];
        let n = self.config.username.len().min(16);
        name[..n].copy_from_slice(&self.config.username[..n]);
        d.extend_from_slice(&name);
        self.sessionless(netfn::APP, cmd::GET_SESSION_CHALLENGE, &d, false, now_ms)
    }

    /// A command in the session.
    pub fn command(
        &mut self,
        netfn: u8,
        command: u8,
        data: &[u8],
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Result<Vec<u8>, ConsoleError> {
        if matches!(self.link, Link::None) {
            return Err(ConsoleError::NotLoggedIn);
        }
        let seq = self.next_rq_seq();
        let m = Message::request(netfn, command, seq, data.to_vec());
        Ok(self.seal(payload::IPMI, &m.to_bytes(), describe(&m), now_ms, rng))
    }

    /// Close Session for the current session.
    pub fn close(&mut self, now_ms: u64, rng: &mut dyn RngCore) -> Result<Vec<u8>, ConsoleError> {
        let id = self.bmc_id.to_le_bytes();
        let b = self.command(netfn::APP, cmd::CLOSE_SESSION, &id, now_ms, rng)?;
        self.closing = true;
        Ok(b)
    }

    /// Activate Payload for SOL instance 1 (`encrypt`: ask for encryption).
    pub fn activate_sol(
        &mut self,
        encrypt: bool,
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Result<Vec<u8>, ConsoleError> {
        let aux = if encrypt { 0xC0 } else { 0x00 };
        self.command(
            netfn::APP,
            cmd::ACTIVATE_PAYLOAD,
            &[payload::SOL, 1, aux, 0, 0, 0],
            now_ms,
            rng,
        )
    }

    /// Send characters over Serial over LAN.
    pub fn sol_send(
        &mut self,
        data: &[u8],
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Result<Vec<u8>, ConsoleError> {
        if !matches!(self.link, Link::V20 { keys: Some(_) }) {
            return Err(ConsoleError::NotLoggedIn);
        }
        self.sol_seq = self.sol_seq % 15 + 1;
        let mut p = vec![self.sol_seq, 0, 0, 0];
        p.extend_from_slice(data);
        let desc = format!("SOL seq {} data {}", self.sol_seq, hex(data));
        Ok(self.seal(payload::SOL, &p, desc, now_ms, rng))
    }

    fn take_seq(&mut self) -> u32 {
        if let Some(s) = self.faults.next_seq.take() {
            return s;
        }
        let s = self.out_seq;
        self.out_seq = self.out_seq.wrapping_add(1).max(1);
        s
    }

    fn seal(
        &mut self,
        payload_type: u8,
        plain: &[u8],
        desc: String,
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Vec<u8> {
        let corrupt = std::mem::take(&mut self.faults.corrupt_auth_code);
        match self.link.clone() {
            Link::V15 { auth, id } => {
                let seq = self.take_seq();
                let mut code = crypto::v15_auth_code(auth, &self.config.password, id, plain, seq);
                if corrupt {
                    code[0] ^= 1;
                }
                let b = rmcp::encode_v15(auth, seq, id, Some(&code), plain);
                self.sent(
                    now_ms,
                    format!("IPMI 1.5 auth {auth:?} session {id:#010x} seq {seq}"),
                    desc,
                    b,
                )
            }
            Link::V20 { keys } => {
                let keys = keys.expect("seal is only called on established links");
                let (enc, auth, body) = session::seal_body(&keys, plain, rng);
                let seq = self.take_seq();
                let mut b =
                    rmcp::encode_v20_unsigned(payload_type, enc, auth, self.bmc_id, seq, &body);
                if auth {
                    let mut code = keys.auth_code(&b[4..]);
                    if corrupt {
                        if let Some(x) = code.last_mut() {
                            *x ^= 1;
                        }
                    }
                    b.extend_from_slice(&code);
                }
                let header = format!(
                    "RMCP+ payload {payload_type:#04x} session {:#010x} seq {seq}{}{}",
                    self.bmc_id,
                    if enc { " encrypted" } else { "" },
                    if auth { " authenticated" } else { "" }
                );
                self.sent(now_ms, header, desc, b)
            }
            Link::None => Vec::new(),
        }
    }

    /// Consume a datagram from the BMC.
    pub fn receive(
        &mut self,
        datagram: &[u8],
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Result<Event, ConsoleError> {
        match rmcp::decode(datagram)? {
            Frame::Pong(p) => {
                self.received(now_ms, "ASF".into(), format!("presence pong {p:?}"));
                Ok(Event::Pong(p))
            }
            Frame::Ping { .. } => Err(ConsoleError::Unexpected("ASF ping from the BMC")),
            Frame::V15(p) => {
                if p.auth_type != AuthType::None {
                    let expect = crypto::v15_auth_code(
                        p.auth_type,
                        &self.config.password,
                        p.session_id,
                        p.message,
                        p.seq,
                    );
                    if !crypto::ct_eq(&expect, &p.auth_code.unwrap_or([0; 16])) {
                        return Err(ConsoleError::BadAuthCode);
                    }
                }
                let m = Message::decode(p.message)?;
                self.received(
                    now_ms,
                    format!(
                        "IPMI 1.5 auth {:?} session {:#010x} seq {}",
                        p.auth_type, p.session_id, p.seq
                    ),
                    describe(&m),
                );
                self.on_message(m, now_ms, rng)
            }
            Frame::V20(p) => match p.payload_type {
                payload::OPEN_SESSION_RESPONSE => {
                    self.received(now_ms, "RMCP+ Open Session Response".into(), hex(p.payload));
                    self.on_open_response(p.payload, now_ms, rng)
                }
                payload::RAKP2 => {
                    self.received(now_ms, "RAKP2".into(), hex(p.payload));
                    self.on_rakp2(p.payload, now_ms)
                }
                payload::RAKP4 => {
                    self.received(now_ms, "RAKP4".into(), hex(p.payload));
                    self.on_rakp4(p.payload, now_ms, rng)
                }
                payload::IPMI | payload::SOL => {
                    let plain = if p.session_id == 0 {
                        p.payload.to_vec()
                    } else {
                        self.unseal(datagram, &p)?
                    };
                    let header = format!(
                        "RMCP+ payload {:#04x} session {:#010x} seq {}{}{}",
                        p.payload_type,
                        p.session_id,
                        p.seq,
                        if p.encrypted { " encrypted" } else { "" },
                        if p.authenticated {
                            " authenticated"
                        } else {
                            ""
                        }
                    );
                    if p.payload_type == payload::SOL {
                        if plain.len() < 4 {
                            return Err(ConsoleError::Unexpected("short SOL packet"));
                        }
                        let packet = SolPacket {
                            seq: plain[0] & 0x0F,
                            ack: plain[1] & 0x0F,
                            accepted: plain[2],
                            status: plain[3],
                            data: plain[4..].to_vec(),
                        };
                        self.received(
                            now_ms,
                            header,
                            format!(
                                "SOL seq {} ack {} accepted {} data {}",
                                packet.seq,
                                packet.ack,
                                packet.accepted,
                                hex(&packet.data)
                            ),
                        );
                        let ack = if packet.seq != 0 {
                            let a = vec![0, packet.seq, packet.data.len().min(255) as u8, 0];
                            let desc = format!("SOL ack {}", packet.seq);
                            Some(self.seal(payload::SOL, &a, desc, now_ms, rng))
                        } else {
                            None
                        };
                        return Ok(Event::Sol { packet, ack });
                    }
                    let m = Message::decode(&plain)?;
                    self.received(now_ms, header, describe(&m));
                    self.on_message(m, now_ms, rng)
                }
                _ => Err(ConsoleError::Unexpected("payload type")),
            },
        }
    }

    fn unseal(&self, datagram: &[u8], p: &rmcp::V20Packet<'_>) -> Result<Vec<u8>, ConsoleError> {
        let Link::V20 { keys: Some(keys) } = &self.link else {
            return Err(ConsoleError::Unexpected("session packet without a session"));
        };
        if p.authenticated {
            let (covered, code) =
                rmcp::split_trailer(datagram, p.trailer_offset, keys.suite.integrity.code_len())?;
            if !keys.verify(covered, code) {
                return Err(ConsoleError::BadAuthCode);
            }
        }
        if p.encrypted {
            Ok(crypto::aes_decrypt(&keys.aes_key(), p.payload)?)
        } else {
            Ok(p.payload.to_vec())
        }
    }

    fn on_open_response(
        &mut self,
        d: &[u8],
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Result<Event, ConsoleError> {
        let Login::Open { tag, suite } = self.login.clone() else {
            return Err(ConsoleError::Unexpected("Open Session Response"));
        };
        // A refusal may be cut short after the status byte (OpenIPMI's ipmi_sim sends
        // only the tag and the status): read the status before asking for the rest.
        if d.len() < 2 {
            return Err(ConsoleError::Unexpected("Open Session Response length"));
        }
        if d[0] != tag {
            return Err(ConsoleError::Unexpected("Open Session Response tag"));
        }
        if d[1] != 0 {
            self.login = Login::Idle;
            if self.config.suite == SuiteChoice::Auto && suite.id == 17 && !self.tried_fallback {
                self.tried_fallback = true;
                return Ok(Event::Send(self.open_session(3, now_ms, rng)));
            }
            return Err(ConsoleError::Refused {
                stage: "Open Session",
                status: d[1],
            });
        }
        if d.len() != 36 {
            return Err(ConsoleError::Unexpected("Open Session Response length"));
        }
        self.max_privilege = Privilege::from_u8(d[2] & 0x0F);
        self.bmc_id = u32::from_le_bytes([d[8], d[9], d[10], d[11]]);
        let got = CipherSuite::by_algorithms(
            crypto::AuthAlg::from_u8(d[16]).ok_or(ConsoleError::Unexpected("auth algorithm"))?,
            IntegrityAlg::from_u8(d[24]).ok_or(ConsoleError::Unexpected("integrity algorithm"))?,
            ConfAlg::from_u8(d[32]).ok_or(ConsoleError::Unexpected("confidentiality"))?,
        );
        let suite = got.ok_or(ConsoleError::Unexpected("no such suite"))?;
        self.suite = Some(suite);
        let mut rm = [0u8; 16];
        rng.fill_bytes(&mut rm);
        let role = self
            .faults
            .rakp1_role
            .unwrap_or(0x10 | self.config.privilege.to_u8());
        let mut p = vec![self.tag, 0, 0, 0];
        p.extend_from_slice(&self.bmc_id.to_le_bytes());
        p.extend_from_slice(&rm);
        p.extend_from_slice(&[role, 0, 0]);
        let n = self.config.username.len().min(16);
        p.push(n as u8);
        p.extend_from_slice(&self.config.username[..n]);
        self.login = Login::Rakp2 { rm, role };
        let b = rmcp::encode_v20_unsigned(payload::RAKP1, false, false, 0, 0, &p);
        Ok(Event::Send(self.sent(
            now_ms,
            "RAKP1".into(),
            format!(
                "role {role:#04x} user {}",
                String::from_utf8_lossy(&self.config.username)
            ),
            b,
        )))
    }

    /// Checks a RAKP answer's length and status; a refusal ends the login.
    fn rakp_status(
        &mut self,
        d: &[u8],
        short: &'static str,
        stage: &'static str,
    ) -> Result<(), ConsoleError> {
        // A refusal may stop after the status byte (see `on_open_response`).
        if d.len() < 2 || (d[1] == 0 && d.len() < 8) {
            return Err(ConsoleError::Unexpected(short));
        }
        if d[1] != 0 {
            self.login = Login::Idle;
            return Err(ConsoleError::Refused {
                stage,
                status: d[1],
            });
        }
        Ok(())
    }

    fn on_rakp2(&mut self, d: &[u8], now_ms: u64) -> Result<Event, ConsoleError> {
        let Login::Rakp2 { rm, role } = self.login.clone() else {
            return Err(ConsoleError::Unexpected("RAKP2"));
        };
        self.rakp_status(d, "short RAKP2", "RAKP2")?;
        let suite = self.suite.ok_or(ConsoleError::Unexpected("RAKP2"))?;
        if d.len() != 40 + suite.auth.hmac_len() {
            return Err(ConsoleError::Unexpected("RAKP2 length"));
        }
        let mut rc = [0u8; 16];
        rc.copy_from_slice(&d[8..24]);
        let mut guid = [0u8; 16];
        guid.copy_from_slice(&d[24..40]);
        let n = self.config.username.len().min(16);
        let name = self.config.username[..n].to_vec();
        let params = RakpParams {
            auth: suite.auth,
            console_sid: self.console_id,
            bmc_sid: self.bmc_id,
            rm: &rm,
            rc: &rc,
            guid: &guid,
            role,
            name: &name,
        };
        let kuid = crypto::kuid(&self.config.password).to_vec();
        if !self.faults.skip_rakp2_check && !crypto::ct_eq(&params.rakp2(&kuid), &d[40..]) {
            self.login = Login::Idle;
            return Err(ConsoleError::Rakp2Mismatch);
        }
        let key3 = if self.faults.rakp3_wrong_key {
            b"not-the-password".to_vec()
        } else {
            kuid.clone()
        };
        let code = params.rakp3(&key3);
        let sik = params.sik(self.config.kg.as_deref().unwrap_or(&kuid));
        let mut p = vec![self.tag, 0, 0, 0];
        p.extend_from_slice(&self.bmc_id.to_le_bytes());
        p.extend_from_slice(&code);
        self.login = Login::Rakp4 {
            rm,
            role,
            rc,
            guid,
            sik,
        };
        let b = rmcp::encode_v20_unsigned(payload::RAKP3, false, false, 0, 0, &p);
        Ok(Event::Send(self.sent(now_ms, "RAKP3".into(), hex(&p), b)))
    }

    fn on_rakp4(
        &mut self,
        d: &[u8],
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Result<Event, ConsoleError> {
        let Login::Rakp4 {
            rm,
            role,
            rc,
            guid,
            sik,
        } = self.login.clone()
        else {
            return Err(ConsoleError::Unexpected("RAKP4"));
        };
        self.rakp_status(d, "short RAKP4", "RAKP4")?;
        let suite = self.suite.ok_or(ConsoleError::Unexpected("RAKP4"))?;
        let n = self.config.username.len().min(16);
        let name = self.config.username[..n].to_vec();
        let params = RakpParams {
            auth: suite.auth,
            console_sid: self.console_id,
            bmc_sid: self.bmc_id,
            rm: &rm,
            rc: &rc,
            guid: &guid,
            role,
            name: &name,
        };
        if !crypto::ct_eq(&params.rakp4(&sik), &d[8..]) {
            self.login = Login::Idle;
            return Err(ConsoleError::Rakp4Mismatch);
        }
        self.link = Link::V20 {
            keys: Some(SessionKeys::derive(suite, sik)),
        };
        self.out_seq = 1;
        let granted = Privilege::from_u8(role & 0x0F).unwrap_or(Privilege::User);
        self.privilege = granted.min(Privilege::User);
        self.after_activation(now_ms, rng)
    }

    fn after_activation(
        &mut self,
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Result<Event, ConsoleError> {
        if self.config.privilege > self.privilege {
            self.login = Login::SetPrivilege;
            let p = self.config.privilege.to_u8();
            let b = self.command(netfn::APP, cmd::SET_SESSION_PRIVILEGE, &[p], now_ms, rng)?;
            return Ok(Event::Send(b));
        }
        self.login = Login::Idle;
        self.logged_in = true;
        Ok(self.logged_in_event())
    }

    fn logged_in_event(&self) -> Event {
        Event::LoggedIn {
            session_id: self.bmc_id,
            privilege: self.privilege,
            max_privilege: self.max_privilege,
            suite: match self.link {
                Link::V20 { .. } => self.suite.map(|s| s.id),
                _ => None,
            },
        }
    }

    fn on_message(
        &mut self,
        m: Message,
        now_ms: u64,
        rng: &mut dyn RngCore,
    ) -> Result<Event, ConsoleError> {
        if m.netfn != netfn::APP + 1 {
            return Ok(Event::Response(m));
        }
        let completion = m.completion().unwrap_or(cc::UNSPECIFIED);
        match (self.login.clone(), m.cmd) {
            (Login::Challenge { auth }, cmd::GET_SESSION_CHALLENGE) => {
                let d = m.response_data();
                if completion != cc::OK || d.len() != 20 {
                    self.login = Login::Idle;
                    return Err(ConsoleError::Completion {
                        stage: "Get Session Challenge",
                        completion,
                    });
                }
                let temp_id = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
                let mut data = vec![auth.to_u8(), self.config.privilege.to_u8()];
                data.extend_from_slice(&d[4..20]);
                let initial = rng.next_u32().max(1);
                data.extend_from_slice(&initial.to_le_bytes());
                self.login = Login::Activate { auth };
                self.link = Link::V15 { auth, id: temp_id };
                self.bmc_id = temp_id;
                let seq = self.next_rq_seq();
                let msg = Message::request(netfn::APP, cmd::ACTIVATE_SESSION, seq, data);
                self.faults.next_seq.get_or_insert(0);
                let b = self.seal(payload::IPMI, &msg.to_bytes(), describe(&msg), now_ms, rng);
                Ok(Event::Send(b))
            }
            (Login::Activate { auth }, cmd::ACTIVATE_SESSION) => {
                let d = m.response_data();
                if completion != cc::OK || d.len() != 10 {
                    self.login = Login::Idle;
                    self.link = Link::None;
                    return Err(ConsoleError::Completion {
                        stage: "Activate Session",
                        completion,
                    });
                }
                let id = u32::from_le_bytes([d[1], d[2], d[3], d[4]]);
                self.bmc_id = id;
                self.out_seq = u32::from_le_bytes([d[5], d[6], d[7], d[8]]).max(1);
                self.max_privilege = Privilege::from_u8(d[9] & 0x0F);
                let auth = AuthType::from_u8(d[0]).unwrap_or(auth);
                self.link = Link::V15 { auth, id };
                self.privilege = self
                    .max_privilege
                    .unwrap_or(Privilege::User)
                    .min(Privilege::User);
                self.after_activation(now_ms, rng)
            }
            (Login::SetPrivilege, cmd::SET_SESSION_PRIVILEGE) => {
                self.login = Login::Idle;
                if completion != cc::OK {
                    return Err(ConsoleError::Completion {
                        stage: "Set Session Privilege",
                        completion,
                    });
                }
                if let Some(p) = m
                    .response_data()
                    .first()
                    .and_then(|b| Privilege::from_u8(*b))
                {
                    self.privilege = p;
                }
                self.logged_in = true;
                Ok(self.logged_in_event())
            }
            (_, cmd::CLOSE_SESSION) if completion == cc::OK && self.closing => {
                self.closing = false;
                self.logged_in = false;
                self.link = Link::None;
                Ok(Event::Response(m))
            }
            (_, cmd::SET_SESSION_PRIVILEGE) if completion == cc::OK => {
                if let Some(p) = m
                    .response_data()
                    .first()
                    .and_then(|b| Privilege::from_u8(*b))
                {
                    self.privilege = p;
                }
                Ok(Event::Response(m))
            }
            _ => Ok(Event::Response(m)),
        }
    }
}

/// A message in one line: NetFn, command, sequence, completion code, data.
pub fn describe(m: &Message) -> String {
    if m.is_response() {
        format!(
            "response NetFn {:#04x} cmd {:#04x} seq {} cc {:#04x} data [{}]",
            m.netfn,
            m.cmd,
            m.seq,
            m.completion().unwrap_or(0xFF),
            hex(m.response_data())
        )
    } else {
        format!(
            "request NetFn {:#04x} cmd {:#04x} seq {} data [{}]",
            m.netfn,
            m.cmd,
            m.seq,
            hex(&m.data)
        )
    }
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
