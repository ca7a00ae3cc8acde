//! RMCP, ASF and the IPMI 1.5 / RMCP+ session wrappers.
//!
//! Every datagram on UDP 623 starts with the 4-byte RMCP header. Class 6 (ASF) carries
//! the presence ping/pong that `ipmitool -I lan` sends first; class 7 carries IPMI,
//! either in the IPMI 1.5 session wrapper (auth type 0/1/2/4/5) or in the RMCP+ wrapper
//! (auth type 6). The decoders here only split the bytes into fields; they never check
//! AuthCodes (that needs session keys, see [`crate::session`]) and never panic.

use thiserror::Error;

/// RMCP version byte (RMCP 1.0 as IPMI uses it).
pub const RMCP_VERSION: u8 = 0x06;
/// RMCP sequence number meaning "no RMCP ACK wanted".
pub const RMCP_SEQ_NO_ACK: u8 = 0xFF;
/// RMCP message class ASF.
pub const CLASS_ASF: u8 = 0x06;
/// RMCP message class IPMI.
pub const CLASS_IPMI: u8 = 0x07;
/// The ASF IANA enterprise number (4542).
pub const ASF_IANA: u32 = 4542;
/// ASF message type: presence ping.
pub const ASF_PING: u8 = 0x80;
/// ASF message type: presence pong.
pub const ASF_PONG: u8 = 0x40;
/// The auth type byte that marks an RMCP+ (IPMI 2.0) session header.
pub const AUTH_RMCPP: u8 = 0x06;
/// The RMCP+ "next header" byte that ends an authenticated trailer.
pub const NEXT_HEADER: u8 = 0x07;

/// RMCP+ payload types (the low 6 bits of the payload type byte).
pub mod payload {
    /// An IPMI message.
    pub const IPMI: u8 = 0x00;
    /// Serial over LAN.
    pub const SOL: u8 = 0x01;
    /// OEM explicit (carries an IANA and an OEM payload ID).
    pub const OEM: u8 = 0x02;
    /// RMCP+ Open Session Request.
    pub const OPEN_SESSION_REQUEST: u8 = 0x10;
    /// RMCP+ Open Session Response.
    pub const OPEN_SESSION_RESPONSE: u8 = 0x11;
    /// RAKP message 1.
    pub const RAKP1: u8 = 0x12;
    /// RAKP message 2.
    pub const RAKP2: u8 = 0x13;
    /// RAKP message 3.
    pub const RAKP3: u8 = 0x14;
    /// RAKP message 4.
    pub const RAKP4: u8 = 0x15;
}

/// The IPMI 1.5 authentication types (the session header's first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// No AuthCode (0).
    None,
    /// MD2 (1; recognised, not implemented).
    Md2,
    /// MD5 (2).
    Md5,
    /// Straight password (4).
    Password,
    /// OEM proprietary (5; recognised, not implemented).
    Oem,
}

impl AuthType {
    /// From the wire byte (bits 3:0); 6 (RMCP+) and unknown values are `None`.
    pub fn from_u8(v: u8) -> Option<AuthType> {
        Some(match v & 0x0F {
            0 => AuthType::None,
            1 => AuthType::Md2,
            2 => AuthType::Md5,
            4 => AuthType::Password,
            5 => AuthType::Oem,
            _ => return None,
        })
    }

    /// The wire byte.
    pub fn to_u8(self) -> u8 {
        match self {
            AuthType::None => 0,
            AuthType::Md2 => 1,
            AuthType::Md5 => 2,
            AuthType::Password => 4,
            AuthType::Oem => 5,
        }
    }

    /// The bit of this type in Get Channel Authentication Capabilities' type mask.
    pub fn mask_bit(self) -> u8 {
        1 << self.to_u8()
    }
}

/// A framing error: the datagram is not a well-formed RMCP/ASF/IPMI packet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Fewer bytes than the field being read needs.
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        /// Which structure was being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The RMCP version byte is not 6.
    #[error("RMCP version {0:#04x} is not 0x06")]
    BadVersion(u8),
    /// An RMCP class other than ASF (6) and IPMI (7), or an RMCP ACK.
    #[error("unsupported RMCP class byte {0:#04x}")]
    UnsupportedClass(u8),
    /// An ASF message that is not from IANA 4542 or of an unexpected type.
    #[error("unexpected ASF message (IANA {iana}, type {msg_type:#04x})")]
    UnexpectedAsf {
        /// The IANA number found.
        iana: u32,
        /// The ASF message type found.
        msg_type: u8,
    },
    /// An unknown IPMI 1.5 authentication type.
    #[error("unknown authentication type {0:#04x}")]
    UnknownAuthType(u8),
    /// Bytes follow the declared payload where none may.
    #[error("{0} trailing bytes after the payload")]
    TrailingBytes(usize),
    /// The RMCP+ integrity trailer is malformed (pad, pad length, next header).
    #[error("malformed RMCP+ integrity trailer")]
    BadTrailer,
}

/// The result of splitting a datagram at the RMCP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// An ASF presence ping with its message tag.
    Ping {
        /// ASF message tag (echoed in the pong).
        tag: u8,
    },
    /// An ASF presence pong.
    Pong(Pong),
    /// An IPMI 1.5 session packet.
    V15(V15Packet<'a>),
    /// An RMCP+ session packet.
    V20(V20Packet<'a>),
}

/// The fields of an ASF presence pong that matter to a console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pong {
    /// ASF message tag (the ping's).
    pub tag: u8,
    /// Supported entities (bit 7: IPMI supported; bits 3:0 ASF version).
    pub entities: u8,
    /// Supported interactions (bit 5: RMCP security extensions).
    pub interactions: u8,
}

/// An IPMI 1.5 session packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V15Packet<'a> {
    /// The authentication type.
    pub auth_type: AuthType,
    /// Session sequence number.
    pub seq: u32,
    /// Session ID.
    pub session_id: u32,
    /// The AuthCode (present unless the auth type is none).
    pub auth_code: Option<[u8; 16]>,
    /// The IPMI message bytes.
    pub message: &'a [u8],
}

/// An RMCP+ session packet, trailer not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V20Packet<'a> {
    /// Payload type (bits 5:0).
    pub payload_type: u8,
    /// Bit 7 of the payload type byte: the payload is encrypted.
    pub encrypted: bool,
    /// Bit 6 of the payload type byte: the packet carries an AuthCode.
    pub authenticated: bool,
    /// OEM IANA and OEM payload ID (payload type 2 only).
    pub oem: Option<(u32, u16)>,
    /// Session ID.
    pub session_id: u32,
    /// Session sequence number.
    pub seq: u32,
    /// The payload bytes (still encrypted if `encrypted`).
    pub payload: &'a [u8],
    /// Everything after the payload (integrity pad, pad length, next header, AuthCode).
    pub trailer: &'a [u8],
    /// Offset of the trailer in the whole datagram.
    pub trailer_offset: usize,
}

fn need(what: &'static str, buf: &[u8], n: usize) -> Result<(), FrameError> {
    if buf.len() < n {
        Err(FrameError::Truncated {
            what,
            need: n,
            have: buf.len(),
        })
    } else {
        Ok(())
    }
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Split a datagram into its RMCP class and session wrapper.
pub fn decode(datagram: &[u8]) -> Result<Frame<'_>, FrameError> {
    need("RMCP header", datagram, 4)?;
    if datagram[0] != RMCP_VERSION {
        return Err(FrameError::BadVersion(datagram[0]));
    }
    match datagram[3] {
        CLASS_ASF => decode_asf(&datagram[4..]),
        CLASS_IPMI => {
            need("IPMI session header", datagram, 5)?;
            if datagram[4] == AUTH_RMCPP {
                decode_v20(datagram).map(Frame::V20)
            } else {
                decode_v15(&datagram[4..]).map(Frame::V15)
            }
        }
        other => Err(FrameError::UnsupportedClass(other)),
    }
}

fn decode_asf(b: &[u8]) -> Result<Frame<'_>, FrameError> {
    need("ASF header", b, 8)?;
    let iana = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let msg_type = b[4];
    let tag = b[5];
    let len = b[7] as usize;
    if iana != ASF_IANA {
        return Err(FrameError::UnexpectedAsf { iana, msg_type });
    }
    need("ASF data", b, 8 + len)?;
    if b.len() > 8 + len {
        return Err(FrameError::TrailingBytes(b.len() - 8 - len));
    }
    match msg_type {
        ASF_PING => Ok(Frame::Ping { tag }),
        ASF_PONG => {
            need("ASF pong data", b, 8 + 10)?;
            Ok(Frame::Pong(Pong {
                tag,
                entities: b[16],
                interactions: b[17],
            }))
        }
        _ => Err(FrameError::UnexpectedAsf { iana, msg_type }),
    }
}

fn decode_v15(b: &[u8]) -> Result<V15Packet<'_>, FrameError> {
    need("IPMI 1.5 session header", b, 10)?;
    let auth_type = AuthType::from_u8(b[0])
        .filter(|_| b[0] & 0xF0 == 0)
        .ok_or(FrameError::UnknownAuthType(b[0]))?;
    let seq = u32_le(&b[1..5]);
    let session_id = u32_le(&b[5..9]);
    let (auth_code, rest) = if auth_type == AuthType::None {
        (None, &b[9..])
    } else {
        need("IPMI 1.5 AuthCode", b, 9 + 16 + 1)?;
        let mut code = [0u8; 16];
        code.copy_from_slice(&b[9..25]);
        (Some(code), &b[25..])
    };
    let len = rest[0] as usize;
    need("IPMI 1.5 message", &rest[1..], len)?;
    let extra = rest.len() - 1 - len;
    // IPMI 1.5 senders may append one legacy pad byte; anything more is garbage.
    if extra > 1 {
        return Err(FrameError::TrailingBytes(extra));
    }
    Ok(V15Packet {
        auth_type,
        seq,
        session_id,
        auth_code,
        message: &rest[1..1 + len],
    })
}

fn decode_v20(d: &[u8]) -> Result<V20Packet<'_>, FrameError> {
    need("RMCP+ session header", d, 4 + 2)?;
    let pt = d[5];
    let payload_type = pt & 0x3F;
    let mut off = 6;
    let oem = if payload_type == payload::OEM {
        need("RMCP+ OEM header", d, off + 6)?;
        let iana = u32_le(&d[off..off + 4]);
        let id = u16::from_le_bytes([d[off + 4], d[off + 5]]);
        off += 6;
        Some((iana, id))
    } else {
        None
    };
    need("RMCP+ session header", d, off + 10)?;
    let session_id = u32_le(&d[off..off + 4]);
    let seq = u32_le(&d[off + 4..off + 8]);
    let len = u16::from_le_bytes([d[off + 8], d[off + 9]]) as usize;
    off += 10;
    need("RMCP+ payload", d, off + len)?;
    Ok(V20Packet {
        payload_type,
        encrypted: pt & 0x80 != 0,
        authenticated: pt & 0x40 != 0,
        oem,
        session_id,
        seq,
        payload: &d[off..off + len],
        trailer: &d[off + len..],
        trailer_offset: off + len,
    })
}

/// Check an RMCP+ integrity trailer of a datagram whose trailer starts at
/// `trailer_offset` and whose AuthCode is `code_len` bytes. Returns the bytes the
/// AuthCode covers (from the auth type byte through the next header byte) and the
/// AuthCode.
pub fn split_trailer(
    datagram: &[u8],
    trailer_offset: usize,
    code_len: usize,
) -> Result<(&[u8], &[u8]), FrameError> {
    let end = datagram.len();
    if end < trailer_offset + 2 + code_len || trailer_offset < 4 {
        return Err(FrameError::BadTrailer);
    }
    let code_at = end - code_len;
    if datagram[code_at - 1] != NEXT_HEADER {
        return Err(FrameError::BadTrailer);
    }
    let pad_len = datagram[code_at - 2] as usize;
    if trailer_offset + pad_len + 2 != code_at {
        return Err(FrameError::BadTrailer);
    }
    if (code_at - 4) % 4 != 0 {
        return Err(FrameError::BadTrailer);
    }
    Ok((&datagram[4..code_at], &datagram[code_at..]))
}

/// Encode an ASF presence ping.
pub fn encode_ping(tag: u8) -> Vec<u8> {
    let mut out = vec![RMCP_VERSION, 0, RMCP_SEQ_NO_ACK, CLASS_ASF];
    out.extend_from_slice(&ASF_IANA.to_be_bytes());
    out.extend_from_slice(&[ASF_PING, tag, 0, 0]);
    out
}

/// Encode the ASF presence pong a BMC answers a ping with: IPMI supported, ASF 1.0
/// entities (0x81) and no security extensions / DASH interactions (0x00).
pub fn encode_pong(tag: u8) -> Vec<u8> {
    let mut out = vec![RMCP_VERSION, 0, RMCP_SEQ_NO_ACK, CLASS_ASF];
    out.extend_from_slice(&ASF_IANA.to_be_bytes());
    out.extend_from_slice(&[ASF_PONG, tag, 0, 0x10]);
    out.extend_from_slice(&ASF_IANA.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // OEM-defined
    out.push(0x81); // supported entities: IPMI, ASF version 1.0
    out.push(0x00); // supported interactions
    out.extend_from_slice(&[0; 6]);
    out
}

/// Encode an IPMI 1.5 session packet (RMCP header included).
pub fn encode_v15(
    auth_type: AuthType,
    seq: u32,
    session_id: u32,
    auth_code: Option<&[u8; 16]>,
    message: &[u8],
) -> Vec<u8> {
    let mut out = vec![
        RMCP_VERSION,
        0,
        RMCP_SEQ_NO_ACK,
        CLASS_IPMI,
        auth_type.to_u8(),
    ];
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&session_id.to_le_bytes());
    if auth_type != AuthType::None {
        out.extend_from_slice(auth_code.unwrap_or(&[0; 16]));
    }
    out.push(message.len().min(255) as u8);
    out.extend_from_slice(&message[..message.len().min(255)]);
    out
}

/// Encode an RMCP+ session packet header and payload (RMCP header included). When
/// `integrity_code_len` is `Some`, the authenticated bit is set and the integrity pad,
/// pad length and next header are appended; the caller computes the AuthCode over
/// `out[4..]` and appends it (see [`crate::crypto`]).
pub fn encode_v20_unsigned(
    payload_type: u8,
    encrypted: bool,
    authenticated: bool,
    session_id: u32,
    seq: u32,
    payload_bytes: &[u8],
) -> Vec<u8> {
    let mut pt = payload_type & 0x3F;
    if encrypted {
        pt |= 0x80;
    }
    if authenticated {
        pt |= 0x40;
    }
    let mut out = vec![RMCP_VERSION, 0, RMCP_SEQ_NO_ACK, CLASS_IPMI, AUTH_RMCPP, pt];
    out.extend_from_slice(&session_id.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    let len = payload_bytes.len().min(u16::MAX as usize);
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&payload_bytes[..len]);
    if authenticated {
        // Pad so that auth type .. next header is a multiple of 4 bytes.
        let covered = out.len() - 4 + 2;
        let pad = (4 - covered % 4) % 4;
        out.extend(std::iter::repeat_n(0xFF, pad));
        out.push(pad as u8);
        out.push(NEXT_HEADER);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_pong_round_trip() {
        assert_eq!(decode(&encode_ping(7)).unwrap(), Frame::Ping { tag: 7 });
        match decode(&encode_pong(9)).unwrap() {
            Frame::Pong(p) => {
                assert_eq!(p.tag, 9);
                assert_eq!(p.entities, 0x81);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn v15_round_trip_with_auth_code() {
        let code = [3u8; 16];
        let d = encode_v15(AuthType::Md5, 5, 0x1234, Some(&code), &[1, 2, 3]);
        match decode(&d).unwrap() {
            Frame::V15(p) => {
                assert_eq!(p.auth_type, AuthType::Md5);
                assert_eq!(p.seq, 5);
                assert_eq!(p.session_id, 0x1234);
                assert_eq!(p.auth_code, Some(code));
                assert_eq!(p.message, &[1, 2, 3]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn v20_trailer_is_padded_to_four() {
        let mut d = encode_v20_unsigned(0, false, true, 9, 1, &[1, 2, 3, 4, 5]);
        d.extend_from_slice(&[0xAA; 12]);
        let Frame::V20(p) = decode(&d).unwrap() else {
            panic!()
        };
        assert!(p.authenticated && !p.encrypted);
        let (covered, code) = split_trailer(&d, p.trailer_offset, 12).unwrap();
        assert_eq!(covered.len() % 4, 0);
        assert_eq!(code, &[0xAA; 12]);
        assert!(split_trailer(&d, p.trailer_offset, 16).is_err());
    }
}
