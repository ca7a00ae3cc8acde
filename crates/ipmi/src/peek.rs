//! What a datagram is, before the session layer runs: [`classify`] reads the RMCP
//! class, the session wrapper and (where it is in the clear) the IPMI message or the
//! handshake fields a listener wants to know about, without touching any session state
//! and without decrypting anything.
//!
//! The mock's listener calls it once per datagram, for its scenario rules (which match
//! on the [`Kind`], the command and the user) and for the journal's kind of a datagram
//! the session layer drops.

use crate::msg::Message;
use crate::rmcp::{self, AuthType, FrameError, payload};

/// The kind of a datagram, as the scenario rules and the journal name it.
///
/// It is read from the header bytes alone (the RMCP class, the authentication type
/// byte, the payload type and the session ID), so a malformed datagram still gets the
/// kind its header claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An ASF message (a presence ping, or anything else of class ASF).
    Ping,
    /// A sessionless IPMI command (session ID 0) in IPMI 1.5 framing.
    Sessionless,
    /// A sessionless IPMI command (session ID 0) in RMCP+ framing.
    SessionlessRmcpp,
    /// RMCP+ Open Session Request.
    OpenSession,
    /// RAKP message 1.
    Rakp1,
    /// RAKP message 3.
    Rakp3,
    /// A command in an IPMI 1.5 session (the login's Activate Session included).
    Ipmi15,
    /// A command in an RMCP+ session.
    Rmcpp,
    /// A Serial over LAN packet.
    Sol,
    /// Anything else: shorter than an RMCP header plus the authentication type byte,
    /// or an RMCP+ payload type the BMC does not take.
    Other,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 10] = [
        Kind::Ping,
        Kind::Sessionless,
        Kind::SessionlessRmcpp,
        Kind::OpenSession,
        Kind::Rakp1,
        Kind::Rakp3,
        Kind::Ipmi15,
        Kind::Rmcpp,
        Kind::Sol,
        Kind::Other,
    ];

    /// The name a scenario rule's `payload` and the journal use.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ping => "ping",
            Kind::Sessionless => "sessionless15",
            Kind::SessionlessRmcpp => "sessionless_rmcpp",
            Kind::OpenSession => "open_session",
            Kind::Rakp1 => "rakp1",
            Kind::Rakp3 => "rakp3",
            Kind::Ipmi15 => "ipmi15",
            Kind::Rmcpp => "rmcpp",
            Kind::Sol => "sol",
            Kind::Other => "other",
        }
    }

    /// A command inside an established (or being established, for IPMI 1.5's
    /// Activate Session) session: the session layer must check it before anything
    /// can be said about its content.
    pub fn in_session(self) -> bool {
        matches!(self, Kind::Ipmi15 | Kind::Rmcpp)
    }

    /// The kind the header bytes claim.
    fn of_header(d: &[u8]) -> Kind {
        if d.len() < 5 {
            return Kind::Other;
        }
        if d[3] == rmcp::CLASS_ASF {
            return Kind::Ping;
        }
        if d[4] == rmcp::AUTH_RMCPP {
            let Some(pt) = d.get(5) else {
                return Kind::Other;
            };
            let sid = d.get(6..10).map_or(0, u32_at);
            return match pt & 0x3F {
                payload::OPEN_SESSION_REQUEST => Kind::OpenSession,
                payload::RAKP1 => Kind::Rakp1,
                payload::RAKP3 => Kind::Rakp3,
                payload::SOL => Kind::Sol,
                payload::IPMI if sid == 0 => Kind::SessionlessRmcpp,
                payload::IPMI => Kind::Rmcpp,
                _ => Kind::Other,
            };
        }
        if d.get(9..13).map_or(0, u32_at) == 0 {
            Kind::Sessionless
        } else {
            Kind::Ipmi15
        }
    }
}

fn u32_at(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The session wrapper of a well-framed datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wrapper {
    /// An ASF presence ping.
    Ping {
        /// The message tag (echoed in the pong).
        tag: u8,
    },
    /// An ASF presence pong (a BMC does not expect one).
    Pong,
    /// IPMI 1.5 session wrapper.
    Ipmi15 {
        /// The authentication type.
        auth: AuthType,
        /// The session ID (0: sessionless; otherwise a session or a pending login).
        session_id: u32,
        /// The session sequence number.
        seq: u32,
    },
    /// RMCP+ session wrapper.
    Rmcpp {
        /// The payload type (bits 5:0).
        payload_type: u8,
        /// The session ID (0 outside a session).
        session_id: u32,
        /// The session sequence number.
        seq: u32,
        /// The payload is encrypted.
        encrypted: bool,
        /// The packet carries an integrity AuthCode.
        authenticated: bool,
    },
}

/// The RMCP+ handshake fields a listener may want before the session layer runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handshake {
    /// Open Session Request.
    OpenSession {
        /// The console's session ID (0 when too short to hold one).
        console_id: u32,
    },
    /// RAKP message 1.
    Rakp1 {
        /// The BMC session ID it continues.
        bmc_session_id: u32,
        /// The user name it logs in as (as many bytes as the name length says and
        /// the message holds; None when the message is too short for the length).
        user: Option<Vec<u8>>,
    },
    /// RAKP message 3.
    Rakp3 {
        /// The BMC session ID it continues.
        bmc_session_id: u32,
    },
}

/// What [`classify`] says about one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The kind the header claims (a malformed datagram included).
    pub kind: Kind,
    /// The session wrapper, or why the datagram is not well framed.
    pub frame: Result<Wrapper, FrameError>,
    /// The IPMI message when it travels in the clear (IPMI 1.5, or an unencrypted
    /// RMCP+ IPMI payload) and decodes (length and checksums); in a session it is
    /// not authenticated yet.
    pub message: Option<Message>,
    /// The handshake fields of an Open Session Request, RAKP 1 or RAKP 3.
    pub handshake: Option<Handshake>,
}

impl Datagram {
    /// The session ID the wrapper carries (0 when none or malformed).
    pub fn session_id(&self) -> u32 {
        match &self.frame {
            Ok(Wrapper::Ipmi15 { session_id, .. } | Wrapper::Rmcpp { session_id, .. }) => {
                *session_id
            }
            _ => 0,
        }
    }

    /// The request NetFn and command of the clear IPMI message.
    pub fn command(&self) -> Option<(u8, u8)> {
        self.message.as_ref().map(|m| (m.netfn, m.cmd))
    }

    /// A sessionless request in the clear (IPMI 1.5 or RMCP+ framing, session ID 0).
    pub fn sessionless_request(&self) -> Option<&Message> {
        match self.kind {
            Kind::Sessionless | Kind::SessionlessRmcpp => self.message.as_ref(),
            _ => None,
        }
    }
}

/// Says what `datagram` is. Never panics and changes nothing; it reads what the
/// session layer's own decoder ([`rmcp::decode`]) reads.
pub fn classify(datagram: &[u8]) -> Datagram {
    let kind = Kind::of_header(datagram);
    let mut out = Datagram {
        kind,
        frame: Err(FrameError::BadTrailer),
        message: None,
        handshake: None,
    };
    out.frame = match rmcp::decode(datagram) {
        Err(e) => Err(e),
        Ok(rmcp::Frame::Ping { tag }) => Ok(Wrapper::Ping { tag }),
        Ok(rmcp::Frame::Pong(_)) => Ok(Wrapper::Pong),
        Ok(rmcp::Frame::V15(p)) => {
            out.message = Message::decode(p.message).ok();
            Ok(Wrapper::Ipmi15 {
                auth: p.auth_type,
                session_id: p.session_id,
                seq: p.seq,
            })
        }
        Ok(rmcp::Frame::V20(p)) => {
            let b = p.payload;
            match p.payload_type {
                payload::IPMI if !p.encrypted => out.message = Message::decode(b).ok(),
                payload::OPEN_SESSION_REQUEST => {
                    out.handshake = Some(Handshake::OpenSession {
                        console_id: b.get(4..8).map_or(0, u32_at),
                    });
                }
                payload::RAKP1 => {
                    // Tag, status/reserved (3), BMC session ID (4), Rm (16), role,
                    // reserved (2), name length, name.
                    if let Some(id) = b.get(4..8) {
                        let user = b
                            .get(27)
                            .and_then(|&len| b.get(28..28 + usize::from(len)))
                            .map(<[u8]>::to_vec);
                        out.handshake = Some(Handshake::Rakp1 {
                            bmc_session_id: u32_at(id),
                            user,
                        });
                    }
                }
                payload::RAKP3 => {
                    if let Some(id) = b.get(4..8) {
                        out.handshake = Some(Handshake::Rakp3 {
                            bmc_session_id: u32_at(id),
                        });
                    }
                }
                _ => {}
            }
            Ok(Wrapper::Rmcpp {
                payload_type: p.payload_type,
                session_id: p.session_id,
                seq: p.seq,
                encrypted: p.encrypted,
                authenticated: p.authenticated,
            })
        }
    };
    out
}

/// Where a datagram's AuthCode has a byte to spoil, for tests of a console's checks:
/// the first byte of an IPMI 1.5 AuthCode (authentication type other than none), the
/// last byte of an authenticated RMCP+ packet's trailer. None when it carries none.
pub fn auth_code_byte(datagram: &[u8]) -> Option<usize> {
    if datagram.len() < 5 || datagram[3] != rmcp::CLASS_IPMI {
        return None;
    }
    if datagram[4] == rmcp::AUTH_RMCPP {
        let authenticated = datagram.get(5).is_some_and(|p| p & 0x40 != 0);
        return authenticated.then(|| datagram.len() - 1);
    }
    (datagram[4] & 0x0F != 0 && datagram.len() > 13).then_some(13)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{BMC_ADDR, CONSOLE_ADDR};

    fn get_device_id() -> Vec<u8> {
        Message {
            dst_addr: BMC_ADDR,
            netfn: 0x06,
            dst_lun: 0,
            src_addr: CONSOLE_ADDR,
            seq: 1,
            src_lun: 0,
            cmd: 0x01,
            data: Vec::new(),
        }
        .to_bytes()
    }

    /// The kind each RMCP+ payload type claims in the header, in or out of a session,
    /// and which kinds are in a session.
    #[test]
    fn every_payload_type_has_its_kind() {
        let header = |pt: u8, sid: u32| {
            let mut d = vec![0x06, 0x00, 0xFF, rmcp::CLASS_IPMI, rmcp::AUTH_RMCPP, pt];
            d.extend_from_slice(&sid.to_le_bytes());
            d.extend_from_slice(&[0; 8]);
            d
        };
        for (pt, sid, kind) in [
            (payload::OPEN_SESSION_REQUEST, 0, Kind::OpenSession),
            (payload::RAKP1, 0, Kind::Rakp1),
            (payload::RAKP3, 0, Kind::Rakp3),
            (payload::SOL, 7, Kind::Sol),
            (payload::IPMI, 0, Kind::SessionlessRmcpp),
            (payload::IPMI, 7, Kind::Rmcpp),
            (0x3E, 7, Kind::Other),
        ] {
            assert_eq!(
                classify(&header(pt, sid)).kind,
                kind,
                "payload type {pt:#04x}"
            );
            // The encrypted and authenticated flags do not change the kind.
            assert_eq!(
                classify(&header(pt | 0xC0, sid)).kind,
                kind,
                "{pt:#04x} flagged"
            );
        }
        for kind in [
            Kind::Ping,
            Kind::Sessionless,
            Kind::SessionlessRmcpp,
            Kind::OpenSession,
            Kind::Rakp1,
            Kind::Rakp3,
            Kind::Sol,
            Kind::Other,
        ] {
            assert!(!kind.in_session(), "{kind:?}");
        }
        assert!(Kind::Ipmi15.in_session() && Kind::Rmcpp.in_session());
    }

    /// Four bytes are no header; five are (the authentication type byte is read).
    #[test]
    fn the_header_needs_five_bytes() {
        let asf = [0x06, 0x00, 0xFF, rmcp::CLASS_ASF, 0x00];
        assert_eq!(classify(&asf[..4]).kind, Kind::Other);
        assert_eq!(classify(&asf).kind, Kind::Ping);
        let ipmi = [0x06, 0x00, 0xFF, rmcp::CLASS_IPMI, 0x00];
        assert_eq!(classify(&ipmi).kind, Kind::Sessionless);
    }

    /// The AuthCode byte of an IPMI 1.5 packet is byte 13, and only when the packet
    /// is long enough to have it; an unauthenticated or short packet has none.
    #[test]
    fn the_auth_code_byte_is_inside_the_packet() {
        let mut d = vec![0x06, 0x00, 0xFF, rmcp::CLASS_IPMI, 0x02];
        d.resize(13, 0);
        assert_eq!(auth_code_byte(&d), None, "13 bytes end before the AuthCode");
        d.push(0xAA);
        assert_eq!(auth_code_byte(&d), Some(13));
        d[4] = 0x00;
        assert_eq!(auth_code_byte(&d), None, "authentication type none");
        let mut rmcpp = vec![0x06, 0x00, 0xFF, rmcp::CLASS_IPMI, rmcp::AUTH_RMCPP, 0x40];
        rmcpp.resize(40, 0);
        assert_eq!(auth_code_byte(&rmcpp), Some(39));
        rmcpp[5] = 0x00;
        assert_eq!(auth_code_byte(&rmcpp), None, "not authenticated");
    }

    #[test]
    fn a_ping_is_a_ping() {
        let d = classify(&rmcp::encode_ping(9));
        assert_eq!(d.kind, Kind::Ping);
        assert_eq!(d.frame, Ok(Wrapper::Ping { tag: 9 }));
        assert_eq!(d.session_id(), 0);
    }

    #[test]
    fn sessionless_commands_in_both_framings() {
        let msg = get_device_id();
        let v15 = classify(&rmcp::encode_v15(AuthType::None, 0, 0, None, &msg));
        assert_eq!(v15.kind, Kind::Sessionless);
        assert_eq!(v15.command(), Some((0x06, 0x01)));
        assert!(v15.sessionless_request().is_some());
        let v20 = classify(&rmcp::encode_v20_unsigned(
            payload::IPMI,
            false,
            false,
            0,
            0,
            &msg,
        ));
        assert_eq!(v20.kind, Kind::SessionlessRmcpp);
        assert_eq!(v20.command(), Some((0x06, 0x01)));
    }

    #[test]
    fn in_session_packets_carry_their_session() {
        let msg = get_device_id();
        let v15 = classify(&rmcp::encode_v15(
            AuthType::Md5,
            7,
            0x1234,
            Some(&[0; 16]),
            &msg,
        ));
        assert_eq!(v15.kind, Kind::Ipmi15);
        assert!(v15.kind.in_session());
        assert_eq!(v15.session_id(), 0x1234);
        assert_eq!(v15.command(), Some((0x06, 0x01)));
        assert!(v15.sessionless_request().is_none());
        let enc = classify(&rmcp::encode_v20_unsigned(
            payload::IPMI,
            true,
            false,
            0xAB,
            3,
            &[0; 32],
        ));
        assert_eq!(enc.kind, Kind::Rmcpp);
        assert_eq!(
            enc.frame,
            Ok(Wrapper::Rmcpp {
                payload_type: payload::IPMI,
                session_id: 0xAB,
                seq: 3,
                encrypted: true,
                authenticated: false,
            })
        );
        assert_eq!(enc.command(), None, "an encrypted payload is not read");
        let sol = classify(&rmcp::encode_v20_unsigned(
            payload::SOL,
            false,
            false,
            5,
            1,
            &[1, 0, 0, 0],
        ));
        assert_eq!((sol.kind, sol.session_id()), (Kind::Sol, 5));
    }

    #[test]
    fn handshake_fields() {
        let mut rakp1 = vec![0u8, 0, 0, 0];
        rakp1.extend_from_slice(&0x0102_0304u32.to_le_bytes());
        rakp1.extend_from_slice(&[0; 16]);
        rakp1.extend_from_slice(&[0x14, 0, 0, 5]);
        rakp1.extend_from_slice(b"admin");
        let d = classify(&rmcp::encode_v20_unsigned(
            payload::RAKP1,
            false,
            false,
            0,
            0,
            &rakp1,
        ));
        assert_eq!(d.kind, Kind::Rakp1);
        assert_eq!(
            d.handshake,
            Some(Handshake::Rakp1 {
                bmc_session_id: 0x0102_0304,
                user: Some(b"admin".to_vec())
            })
        );
        let d = classify(&rmcp::encode_v20_unsigned(
            payload::RAKP3,
            false,
            false,
            0,
            0,
            &rakp1[..8],
        ));
        assert_eq!(
            d.handshake,
            Some(Handshake::Rakp3 {
                bmc_session_id: 0x0102_0304
            })
        );
        let mut open = vec![0u8; 32];
        open[4..8].copy_from_slice(&77u32.to_le_bytes());
        let d = classify(&rmcp::encode_v20_unsigned(
            payload::OPEN_SESSION_REQUEST,
            false,
            false,
            0,
            0,
            &open,
        ));
        assert_eq!(d.kind, Kind::OpenSession);
        assert_eq!(d.handshake, Some(Handshake::OpenSession { console_id: 77 }));
    }

    #[test]
    fn malformed_datagrams_keep_their_header_kind_and_say_why() {
        let d = classify(&[6]);
        assert_eq!(d.kind, Kind::Other);
        assert!(matches!(d.frame, Err(FrameError::Truncated { .. })));
        let d = classify(&[6, 0, 0xFF, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(d.kind, Kind::Sessionless);
        assert!(d.frame.is_err());
        let d = classify(&[6, 0, 0xFF, 7, 6, 0x10, 0, 0, 0, 0]);
        assert_eq!(d.kind, Kind::OpenSession);
        assert!(matches!(d.frame, Err(FrameError::Truncated { .. })));
        let d = classify(&[5, 0, 0xFF, 7, 6, 0xC0, 1, 0, 0, 0]);
        assert_eq!(d.kind, Kind::Rmcpp);
        assert_eq!(d.frame, Err(FrameError::BadVersion(5)));
        assert_eq!(classify(&[6, 0, 0xFF, 7, 6, 0x3F]).kind, Kind::Other);
    }

    #[test]
    fn the_auth_code_byte_is_found_where_there_is_one() {
        let msg = get_device_id();
        let md5 = rmcp::encode_v15(AuthType::Md5, 1, 9, Some(&[0xAA; 16]), &msg);
        assert_eq!(auth_code_byte(&md5), Some(13));
        assert_eq!(md5[13], 0xAA);
        let none = rmcp::encode_v15(AuthType::None, 0, 0, None, &msg);
        assert_eq!(auth_code_byte(&none), None);
        let mut signed = rmcp::encode_v20_unsigned(payload::IPMI, false, true, 1, 1, &msg);
        signed.extend_from_slice(&[0xFF, 0x02, 0x07, 1, 2, 3]);
        assert_eq!(auth_code_byte(&signed), Some(signed.len() - 1));
        let unsigned = rmcp::encode_v20_unsigned(payload::IPMI, false, false, 0, 0, &msg);
        assert_eq!(auth_code_byte(&unsigned), None);
        assert_eq!(auth_code_byte(&rmcp::encode_ping(1)), None);
        assert_eq!(auth_code_byte(&[]), None);
    }

    #[test]
    fn kind_names_are_distinct() {
        for (i, a) in Kind::ALL.iter().enumerate() {
            for b in &Kind::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
        }
    }
}
