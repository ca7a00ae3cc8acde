//! The three NTLM handshake messages (MS-NLMP 2.2.1.1-2.2.1.3), AV pairs (2.2.2.1) and
//! the NTLMv2 response (2.2.2.8), each with `encode` and `decode`. Decoding checks every
//! offset and length against the message and never panics; string fields are UTF-16LE
//! (OEM strings are read as Latin-1, only to be refused later).

use crate::Error;
use crate::crypto::utf16le;

/// `NTLMSSP\0`, the first eight bytes of every message.
pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// Negotiate flags (MS-NLMP 2.2.2.5).
pub mod flags {
    /// Strings are UTF-16LE.
    pub const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
    /// Strings are OEM.
    pub const NEGOTIATE_OEM: u32 = 0x0000_0002;
    /// The server should send its target name.
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    /// Message integrity.
    pub const NEGOTIATE_SIGN: u32 = 0x0000_0010;
    /// Message confidentiality.
    pub const NEGOTIATE_SEAL: u32 = 0x0000_0020;
    /// Connectionless mode.
    pub const NEGOTIATE_DATAGRAM: u32 = 0x0000_0040;
    /// LAN Manager session key.
    pub const NEGOTIATE_LM_KEY: u32 = 0x0000_0080;
    /// NTLM v1 session security.
    pub const NEGOTIATE_NTLM: u32 = 0x0000_0200;
    /// Anonymous connection.
    pub const ANONYMOUS: u32 = 0x0000_0800;
    /// The NEGOTIATE carries a domain name.
    pub const OEM_DOMAIN_SUPPLIED: u32 = 0x0000_1000;
    /// The NEGOTIATE carries a workstation name.
    pub const OEM_WORKSTATION_SUPPLIED: u32 = 0x0000_2000;
    /// Always sign.
    pub const NEGOTIATE_ALWAYS_SIGN: u32 = 0x0000_8000;
    /// The target name is a domain.
    pub const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
    /// The target name is a server.
    pub const TARGET_TYPE_SERVER: u32 = 0x0002_0000;
    /// Extended session security (NTLM2 session keys).
    pub const NEGOTIATE_EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    /// Identify level token.
    pub const NEGOTIATE_IDENTIFY: u32 = 0x0010_0000;
    /// Non-NT session key.
    pub const REQUEST_NON_NT_SESSION_KEY: u32 = 0x0040_0000;
    /// The CHALLENGE carries target info (AV pairs).
    pub const NEGOTIATE_TARGET_INFO: u32 = 0x0080_0000;
    /// The Version field is present.
    pub const NEGOTIATE_VERSION: u32 = 0x0200_0000;
    /// 128-bit session keys.
    pub const NEGOTIATE_128: u32 = 0x2000_0000;
    /// Explicit key exchange (EncryptedRandomSessionKey).
    pub const NEGOTIATE_KEY_EXCH: u32 = 0x4000_0000;
    /// 56-bit session keys.
    pub const NEGOTIATE_56: u32 = 0x8000_0000;
}

/// AV pair ids (MS-NLMP 2.2.2.1).
pub mod av {
    /// End of the list.
    pub const EOL: u16 = 0;
    /// NetBIOS computer name.
    pub const NB_COMPUTER_NAME: u16 = 1;
    /// NetBIOS domain name.
    pub const NB_DOMAIN_NAME: u16 = 2;
    /// DNS computer name.
    pub const DNS_COMPUTER_NAME: u16 = 3;
    /// DNS domain name.
    pub const DNS_DOMAIN_NAME: u16 = 4;
    /// DNS tree name.
    pub const DNS_TREE_NAME: u16 = 5;
    /// Flags (0x2: the AUTHENTICATE carries a MIC).
    pub const FLAGS: u16 = 6;
    /// FILETIME of the server.
    pub const TIMESTAMP: u16 = 7;
    /// Single host data.
    pub const SINGLE_HOST: u16 = 8;
    /// SPN of the target.
    pub const TARGET_NAME: u16 = 9;
    /// MD5 of the GSS channel bindings.
    pub const CHANNEL_BINDINGS: u16 = 10;
    /// `MsvAvFlags` bit: the message has a MIC.
    pub const FLAG_MIC_PRESENT: u32 = 0x2;
}

/// One AV pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvPair {
    /// The id (see [`av`]).
    pub id: u16,
    /// The raw value.
    pub value: Vec<u8>,
}

/// An AV pair list (without its MsvAvEOL, which `encode` adds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AvPairs(pub Vec<AvPair>);

impl AvPairs {
    /// The first pair with this id.
    pub fn get(&self, id: u16) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.value.as_slice())
    }

    /// `MsvAvFlags`, or 0.
    pub fn flags(&self) -> u32 {
        self.get(av::FLAGS)
            .and_then(|v| v.try_into().ok())
            .map(u32::from_le_bytes)
            .unwrap_or(0)
    }

    /// `MsvAvTimestamp`, if present and 8 bytes.
    pub fn timestamp(&self) -> Option<u64> {
        self.get(av::TIMESTAMP)
            .and_then(|v| v.try_into().ok())
            .map(u64::from_le_bytes)
    }

    /// Adds a string pair (UTF-16LE).
    pub fn push_str(&mut self, id: u16, s: &str) {
        self.0.push(AvPair {
            id,
            value: utf16le(s),
        });
    }

    /// Appends the list and its MsvAvEOL.
    pub fn encode(&self, out: &mut Vec<u8>) {
        for p in &self.0 {
            out.extend_from_slice(&p.id.to_le_bytes());
            // Values longer than u16 cannot be sent; the encoders here never build one.
            out.extend_from_slice(&(p.value.len().min(u16::MAX as usize) as u16).to_le_bytes());
            out.extend_from_slice(&p.value[..p.value.len().min(u16::MAX as usize)]);
        }
        out.extend_from_slice(&[0, 0, 0, 0]);
    }

    /// Reads a list up to its MsvAvEOL; returns it and how many bytes it took. Bytes
    /// after the EOL are the caller's business (NTLMv2 responses pad with zeros).
    pub fn decode(input: &[u8]) -> Result<(AvPairs, usize), Error> {
        let mut pairs = Vec::new();
        let mut at = 0usize;
        loop {
            let head = input.get(at..at + 4).ok_or(Error::InvalidAvPairs)?;
            let id = u16::from_le_bytes([head[0], head[1]]);
            let len = u16::from_le_bytes([head[2], head[3]]) as usize;
            at += 4;
            let value = input.get(at..at + len).ok_or(Error::InvalidAvPairs)?;
            at += len;
            if id == av::EOL {
                return Ok((AvPairs(pairs), at));
            }
            pairs.push(AvPair {
                id,
                value: value.to_vec(),
            });
        }
    }
}

/// The Version field: Windows 10 / Server 2016+ build 20348, NTLM revision 15.
pub const DEFAULT_VERSION: [u8; 8] = [10, 0, 0x7c, 0x4f, 0, 0, 0, 15];

fn u16_at(b: &[u8], at: usize, field: &'static str) -> Result<u16, Error> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or(Error::Truncated { field })
}

fn u32_at(b: &[u8], at: usize, field: &'static str) -> Result<u32, Error> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(Error::Truncated { field })
}

/// A payload field: (len u16, maxlen u16, offset u32) at `at`. Returns the bytes and
/// their offset (None for an empty field).
fn field_at<'a>(
    b: &'a [u8],
    at: usize,
    field: &'static str,
) -> Result<(&'a [u8], Option<usize>), Error> {
    let len = u16_at(b, at, field)? as usize;
    let offset = u32_at(b, at + 4, field)? as usize;
    if len == 0 {
        return Ok((&[], None));
    }
    let end = offset
        .checked_add(len)
        .ok_or(Error::FieldOutOfRange { field })?;
    let bytes = b.get(offset..end).ok_or(Error::FieldOutOfRange { field })?;
    Ok((bytes, Some(offset)))
}

fn header(b: &[u8], expected: u32) -> Result<(), Error> {
    if b.len() < 12 || &b[..8] != SIGNATURE {
        return Err(Error::NotNtlm);
    }
    let got = u32_at(b, 8, "MessageType")?;
    if got != expected {
        return Err(Error::UnexpectedType { expected, got });
    }
    Ok(())
}

/// The type (1, 2 or 3) of an NTLM message, if `b` is one.
pub fn message_type(b: &[u8]) -> Option<u32> {
    if b.len() >= 12 && &b[..8] == SIGNATURE {
        Some(u32::from_le_bytes([b[8], b[9], b[10], b[11]]))
    } else {
        None
    }
}

fn string(bytes: &[u8], unicode: bool, field: &'static str) -> Result<String, Error> {
    if unicode {
        if bytes.len() % 2 != 0 {
            return Err(Error::InvalidUtf16 { field });
        }
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).map_err(|_| Error::InvalidUtf16 { field })
    } else {
        Ok(bytes.iter().map(|&b| b as char).collect())
    }
}

/// Lays out a message: fixed part `fixed` (with placeholders for the field headers at
/// the given positions), then the payloads in order.
struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn new(msg_type: u32, fixed_len: usize) -> Writer {
        let mut out = Vec::with_capacity(fixed_len + 64);
        out.extend_from_slice(SIGNATURE);
        out.extend_from_slice(&msg_type.to_le_bytes());
        out.resize(fixed_len, 0);
        Writer { out }
    }

    fn put_u32(&mut self, at: usize, v: u32) {
        self.out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn put_bytes(&mut self, at: usize, v: &[u8]) {
        self.out[at..at + v.len()].copy_from_slice(v);
    }

    /// Appends `payload` and fills the field header at `at`.
    fn payload(&mut self, at: usize, payload: &[u8]) {
        let len = payload.len().min(u16::MAX as usize) as u16;
        let offset = self.out.len() as u32;
        self.out[at..at + 2].copy_from_slice(&len.to_le_bytes());
        self.out[at + 2..at + 4].copy_from_slice(&len.to_le_bytes());
        self.out[at + 4..at + 8].copy_from_slice(&offset.to_le_bytes());
        self.out.extend_from_slice(&payload[..len as usize]);
    }
}

/// NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiate {
    /// Requested flags.
    pub flags: u32,
    /// OEM domain name, if supplied.
    pub domain: Vec<u8>,
    /// OEM workstation name, if supplied.
    pub workstation: Vec<u8>,
    /// Version, when `NEGOTIATE_VERSION` is set.
    pub version: Option<[u8; 8]>,
}

impl Negotiate {
    /// Writes the message.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(1, 40);
        w.put_u32(12, self.flags);
        if let Some(v) = self.version {
            w.put_bytes(32, &v);
        }
        w.payload(16, &self.domain);
        w.payload(24, &self.workstation);
        out.extend_from_slice(&w.out);
    }

    /// Reads the message.
    pub fn decode(b: &[u8]) -> Result<Negotiate, Error> {
        header(b, 1)?;
        let flags = u32_at(b, 12, "NegotiateFlags")?;
        // Old clients stop after the flags; the field headers are optional then.
        let (domain, workstation) = if b.len() >= 32 {
            (
                field_at(b, 16, "DomainName")?.0.to_vec(),
                field_at(b, 24, "Workstation")?.0.to_vec(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let version = if flags & flags::NEGOTIATE_VERSION != 0 {
            b.get(32..40).and_then(|v| v.try_into().ok())
        } else {
            None
        };
        Ok(Negotiate {
            flags,
            domain,
            workstation,
            version,
        })
    }
}

/// CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The flags the server agrees to.
    pub flags: u32,
    /// The target name.
    pub target_name: String,
    /// The server's 8-byte nonce.
    pub server_challenge: [u8; 8],
    /// Target info.
    pub target_info: AvPairs,
    /// Version.
    pub version: Option<[u8; 8]>,
}

impl Challenge {
    /// Writes the message (target name in UTF-16LE).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(2, 56);
        w.put_u32(20, self.flags);
        w.put_bytes(24, &self.server_challenge);
        if let Some(v) = self.version {
            w.put_bytes(48, &v);
        }
        w.payload(12, &utf16le(&self.target_name));
        let mut info = Vec::new();
        self.target_info.encode(&mut info);
        w.payload(40, &info);
        out.extend_from_slice(&w.out);
    }

    /// Reads the message.
    pub fn decode(b: &[u8]) -> Result<Challenge, Error> {
        header(b, 2)?;
        let flags = u32_at(b, 20, "NegotiateFlags")?;
        let unicode = flags & flags::NEGOTIATE_UNICODE != 0;
        let target_name = string(field_at(b, 12, "TargetName")?.0, unicode, "TargetName")?;
        let server_challenge =
            b.get(24..32)
                .and_then(|c| c.try_into().ok())
                .ok_or(Error::Truncated {
                    field: "ServerChallenge",
                })?;
        let target_info = if b.len() >= 48 {
            let (raw, _) = field_at(b, 40, "TargetInfo")?;
            if raw.is_empty() {
                AvPairs::default()
            } else {
                AvPairs::decode(raw)?.0
            }
        } else {
            AvPairs::default()
        };
        let version = if flags & flags::NEGOTIATE_VERSION != 0 {
            b.get(48..56).and_then(|v| v.try_into().ok())
        } else {
            None
        };
        Ok(Challenge {
            flags,
            target_name,
            server_challenge,
            target_info,
            version,
        })
    }
}

/// Where the MIC sits in an AUTHENTICATE_MESSAGE that has one.
pub const MIC_OFFSET: usize = 72;

/// AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticate {
    /// The flags the client settled on.
    pub flags: u32,
    /// LmChallengeResponse.
    pub lm_response: Vec<u8>,
    /// NtChallengeResponse.
    pub nt_response: Vec<u8>,
    /// Domain.
    pub domain: String,
    /// User.
    pub user: String,
    /// Workstation.
    pub workstation: String,
    /// EncryptedRandomSessionKey (empty without key exchange).
    pub encrypted_session_key: Vec<u8>,
    /// Version.
    pub version: Option<[u8; 8]>,
    /// The MIC, when the message has the field (it sits at [`MIC_OFFSET`]).
    pub mic: Option<[u8; 16]>,
}

impl Authenticate {
    /// Writes the message. The layout has the Version field, and the MIC field when
    /// `mic` is `Some` (its value is written as given; see
    /// [`crate::initiator`] for how it is computed).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let fixed = if self.mic.is_some() { 88 } else { 72 };
        let mut w = Writer::new(3, fixed);
        w.put_u32(60, self.flags);
        w.put_bytes(64, &self.version.unwrap_or([0; 8]));
        if let Some(mic) = self.mic {
            w.put_bytes(MIC_OFFSET, &mic);
        }
        let unicode = self.flags & flags::NEGOTIATE_UNICODE != 0;
        let text = |s: &str| {
            if unicode {
                utf16le(s)
            } else {
                s.chars().map(|c| c as u32 as u8).collect()
            }
        };
        // Payload order as Windows writes it: domain, user, workstation, LM, NT, key.
        w.payload(28, &text(&self.domain));
        w.payload(36, &text(&self.user));
        w.payload(44, &text(&self.workstation));
        w.payload(12, &self.lm_response);
        w.payload(20, &self.nt_response);
        w.payload(52, &self.encrypted_session_key);
        out.extend_from_slice(&w.out);
    }

    /// Reads the message. The MIC field is taken to exist when every payload starts at
    /// or after byte 88 (the layout of clients that send one).
    pub fn decode(b: &[u8]) -> Result<Authenticate, Error> {
        header(b, 3)?;
        let flags = u32_at(b, 60, "NegotiateFlags")?;
        let unicode = flags & flags::NEGOTIATE_UNICODE != 0;
        let (lm, lm_at) = field_at(b, 12, "LmChallengeResponse")?;
        let (nt, nt_at) = field_at(b, 20, "NtChallengeResponse")?;
        let (domain, d_at) = field_at(b, 28, "DomainName")?;
        let (user, u_at) = field_at(b, 36, "UserName")?;
        let (ws, w_at) = field_at(b, 44, "Workstation")?;
        let (key, k_at) = field_at(b, 52, "EncryptedRandomSessionKey")?;
        let first_payload = [lm_at, nt_at, d_at, u_at, w_at, k_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(b.len());
        let version = if flags & flags::NEGOTIATE_VERSION != 0 && first_payload >= 72 {
            b.get(64..72).and_then(|v| v.try_into().ok())
        } else {
            None
        };
        let mic = if first_payload >= 88 {
            b.get(MIC_OFFSET..MIC_OFFSET + 16)
                .and_then(|m| m.try_into().ok())
        } else {
            None
        };
        Ok(Authenticate {
            flags,
            lm_response: lm.to_vec(),
            nt_response: nt.to_vec(),
            domain: string(domain, unicode, "DomainName")?,
            user: string(user, unicode, "UserName")?,
            workstation: string(ws, unicode, "Workstation")?,
            encrypted_session_key: key.to_vec(),
            version,
            mic,
        })
    }
}

/// An NTLMv2 response (MS-NLMP 2.2.2.8) split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtV2Response<'a> {
    /// NTProofStr.
    pub proof: [u8; 16],
    /// Everything after NTProofStr (the `temp` of MS-NLMP 3.3.2), which the proof covers.
    pub blob: &'a [u8],
    /// The client's timestamp.
    pub timestamp: u64,
    /// The client's challenge.
    pub client_challenge: [u8; 8],
    /// The client's AV pairs.
    pub av_pairs: AvPairs,
}

impl<'a> NtV2Response<'a> {
    /// Splits a response; an NTLMv1 (24-byte) response is refused.
    pub fn decode(nt: &'a [u8]) -> Result<NtV2Response<'a>, Error> {
        if nt.len() == 24 {
            return Err(Error::NtlmV1Refused);
        }
        // 16 proof + 28 fixed blob bytes + at least the 4-byte EOL.
        if nt.len() < 16 + 28 + 4 {
            return Err(Error::InvalidNtResponse);
        }
        let (proof, blob) = nt.split_at(16);
        if blob[0] != 1 || blob[1] != 1 {
            return Err(Error::InvalidNtResponse);
        }
        let timestamp = u64::from_le_bytes(
            blob[8..16]
                .try_into()
                .map_err(|_| Error::InvalidNtResponse)?,
        );
        let client_challenge = blob[16..24]
            .try_into()
            .map_err(|_| Error::InvalidNtResponse)?;
        let (av_pairs, _) = AvPairs::decode(&blob[28..])?;
        Ok(NtV2Response {
            proof: proof.try_into().map_err(|_| Error::InvalidNtResponse)?,
            blob,
            timestamp,
            client_challenge,
            av_pairs,
        })
    }

    /// The blob for `timestamp`, `client_challenge` and `av_pairs` (with its trailing
    /// four zero bytes).
    pub fn build_blob(timestamp: u64, client_challenge: &[u8; 8], av_pairs: &AvPairs) -> Vec<u8> {
        let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
        blob.extend_from_slice(&timestamp.to_le_bytes());
        blob.extend_from_slice(client_challenge);
        blob.extend_from_slice(&[0; 4]);
        av_pairs.encode(&mut blob);
        blob.extend_from_slice(&[0; 4]);
        blob
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_round_trip() {
        let mut info = AvPairs::default();
        info.push_str(av::NB_DOMAIN_NAME, "Domain");
        info.push_str(av::NB_COMPUTER_NAME, "Server");
        let c = Challenge {
            flags: 0xe28a_8233,
            target_name: "Server".into(),
            server_challenge: [1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
            target_info: info,
            version: Some(DEFAULT_VERSION),
        };
        let mut out = Vec::new();
        c.encode(&mut out);
        assert_eq!(Challenge::decode(&out).unwrap(), c);
        assert_eq!(message_type(&out), Some(2));
    }

    #[test]
    fn authenticate_round_trip_with_and_without_mic() {
        for mic in [None, Some([7u8; 16])] {
            let a = Authenticate {
                flags: flags::NEGOTIATE_UNICODE | flags::NEGOTIATE_VERSION,
                lm_response: vec![0; 24],
                nt_response: vec![9; 60],
                domain: "Dom".into(),
                user: "Üser".into(),
                workstation: "WS".into(),
                encrypted_session_key: vec![5; 16],
                version: Some(DEFAULT_VERSION),
                mic,
            };
            let mut out = Vec::new();
            a.encode(&mut out);
            assert_eq!(Authenticate::decode(&out).unwrap(), a);
        }
    }

    #[test]
    fn fields_pointing_outside_are_errors() {
        let mut out = Vec::new();
        Negotiate {
            flags: 1,
            domain: b"DOM".to_vec(),
            workstation: Vec::new(),
            version: None,
        }
        .encode(&mut out);
        out[20] = 0xff; // domain offset far away
        assert_eq!(
            Negotiate::decode(&out),
            Err(Error::FieldOutOfRange {
                field: "DomainName"
            })
        );
        assert_eq!(Negotiate::decode(b"NTLMSSP"), Err(Error::NotNtlm));
        assert_eq!(
            Challenge::decode(&out[..]).unwrap_err(),
            Error::UnexpectedType {
                expected: 2,
                got: 1
            }
        );
    }

    #[test]
    fn av_pairs_need_an_eol() {
        let mut raw = Vec::new();
        AvPairs(vec![AvPair {
            id: av::FLAGS,
            value: 2u32.to_le_bytes().to_vec(),
        }])
        .encode(&mut raw);
        let (p, used) = AvPairs::decode(&raw).unwrap();
        assert_eq!((p.flags(), used), (2, raw.len()));
        assert_eq!(
            AvPairs::decode(&raw[..raw.len() - 4]),
            Err(Error::InvalidAvPairs)
        );
    }
}
