//! The SPNEGO (RFC 4178, MS-SPNG) wrapping of NTLM tokens, as far as an NTLM-only
//! acceptor needs it: read the client's `NegTokenInit` and `NegTokenResp`, write the
//! server's `NegTokenResp`s. pyspnego sends these under `Negotiate` when asked for the
//! `negotiate` protocol (pypsrp's `auth="negotiate"`), and then exchanges
//! `mechListMIC`s: each side signs the DER `MechTypeList` with the NTLM session
//! ([`crate::Session::sign`]) and restarts that direction's RC4 stream afterwards.
//!
//! Only definite-length DER is read, nesting is bounded by the structure, and every
//! length is checked against the input.

use crate::Error;

/// DER of the SPNEGO OID 1.3.6.1.5.5.2 (tag and length included).
const SPNEGO_OID: &[u8] = &[0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// DER of the NTLMSSP OID 1.3.6.1.4.1.311.2.2.10 (tag and length included).
pub const NTLM_OID: &[u8] = &[
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a,
];

/// `negState` values.
pub mod neg_state {
    /// accept-completed.
    pub const ACCEPT_COMPLETED: u8 = 0;
    /// accept-incomplete.
    pub const ACCEPT_INCOMPLETE: u8 = 1;
    /// reject.
    pub const REJECT: u8 = 2;
}

/// A client's first token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegTokenInit {
    /// The DER `MechTypeList` (SEQUENCE OF OID), as the mechListMIC covers it.
    pub mech_type_list: Vec<u8>,
    /// Each mechanism OID (DER, tag and length included), in preference order.
    pub mech_types: Vec<Vec<u8>>,
    /// The optimistic token of the first mechanism.
    pub mech_token: Option<Vec<u8>>,
}

/// A later token of either side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NegTokenResp {
    /// `negState`.
    pub neg_state: Option<u8>,
    /// `supportedMech` (DER OID).
    pub supported_mech: Option<Vec<u8>>,
    /// `responseToken`.
    pub response_token: Option<Vec<u8>>,
    /// `mechListMIC`.
    pub mech_list_mic: Option<Vec<u8>>,
}

/// A client token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// The first one.
    Init(NegTokenInit),
    /// A later one.
    Resp(NegTokenResp),
}

/// One DER element.
#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    /// Tag, length and contents.
    whole: &'a [u8],
    contents: &'a [u8],
}

/// Reads one element; returns it and what follows.
fn tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), Error> {
    let bad = || Error::InvalidSpnego;
    let tag = *input.first().ok_or_else(bad)?;
    let first = *input.get(1).ok_or_else(bad)?;
    let (len, head) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return Err(bad());
        }
        let bytes = input.get(2..2 + n).ok_or_else(bad)?;
        (
            bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize),
            2 + n,
        )
    };
    let end = head.checked_add(len).ok_or_else(bad)?;
    let contents = input.get(head..end).ok_or_else(bad)?;
    let t = Tlv {
        tag,
        whole: &input[..end],
        contents,
    };
    Ok((t, &input[end..]))
}

/// The TLVs inside `contents`.
fn children(mut contents: &[u8]) -> Result<Vec<Tlv<'_>>, Error> {
    let mut out = Vec::new();
    while !contents.is_empty() {
        let (t, rest) = tlv(contents)?;
        out.push(t);
        contents = rest;
    }
    Ok(out)
}

/// Exactly one element of type `tag` in `input`; its contents.
fn only(input: &[u8], tag: u8) -> Result<Tlv<'_>, Error> {
    let (t, rest) = tlv(input)?;
    if t.tag != tag || !rest.is_empty() {
        return Err(Error::InvalidSpnego);
    }
    Ok(t)
}

fn octet_string(explicit: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(only(explicit, 0x04)?.contents.to_vec())
}

/// Whether `token` looks like SPNEGO rather than raw NTLM.
pub fn is_spnego(token: &[u8]) -> bool {
    matches!(token.first(), Some(0x60) | Some(0xa1))
}

/// Reads a client token.
pub fn decode(token: &[u8]) -> Result<Token, Error> {
    let (outer, rest) = tlv(token)?;
    if !rest.is_empty() {
        return Err(Error::InvalidSpnego);
    }
    match outer.tag {
        0x60 => {
            let inner = outer.contents;
            let oid_len = SPNEGO_OID.len();
            if inner.get(..oid_len) != Some(SPNEGO_OID) {
                return Err(Error::InvalidSpnego);
            }
            let init = only(&inner[oid_len..], 0xa0)?;
            let seq = only(init.contents, 0x30)?;
            let mut out = NegTokenInit {
                mech_type_list: Vec::new(),
                mech_types: Vec::new(),
                mech_token: None,
            };
            for field in children(seq.contents)? {
                match field.tag {
                    0xa0 => {
                        let list = only(field.contents, 0x30)?;
                        out.mech_type_list = list.whole.to_vec();
                        for oid in children(list.contents)? {
                            if oid.tag != 0x06 {
                                return Err(Error::InvalidSpnego);
                            }
                            out.mech_types.push(oid.whole.to_vec());
                        }
                    }
                    0xa2 => out.mech_token = Some(octet_string(field.contents)?),
                    _ => {}
                }
            }
            if out.mech_types.is_empty() {
                return Err(Error::InvalidSpnego);
            }
            Ok(Token::Init(out))
        }
        0xa1 => {
            let seq = only(outer.contents, 0x30)?;
            let mut out = NegTokenResp::default();
            for field in children(seq.contents)? {
                match field.tag {
                    0xa0 => {
                        let state = only(field.contents, 0x0a)?;
                        let [v] = state.contents else {
                            return Err(Error::InvalidSpnego);
                        };
                        out.neg_state = Some(*v);
                    }
                    0xa1 => out.supported_mech = Some(only(field.contents, 0x06)?.whole.to_vec()),
                    0xa2 => out.response_token = Some(octet_string(field.contents)?),
                    0xa3 => out.mech_list_mic = Some(octet_string(field.contents)?),
                    _ => {}
                }
            }
            Ok(Token::Resp(out))
        }
        _ => Err(Error::InvalidSpnego),
    }
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn wrap_tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    push_len(&mut out, contents.len());
    out.extend_from_slice(contents);
    out
}

impl NegTokenResp {
    /// Writes the token (`[1] NegTokenResp`).
    pub fn encode(&self) -> Vec<u8> {
        let mut seq = Vec::new();
        if let Some(s) = self.neg_state {
            seq.extend(wrap_tlv(0xa0, &[0x0a, 0x01, s]));
        }
        if let Some(m) = &self.supported_mech {
            seq.extend(wrap_tlv(0xa1, m));
        }
        if let Some(t) = &self.response_token {
            seq.extend(wrap_tlv(0xa2, &wrap_tlv(0x04, t)));
        }
        if let Some(m) = &self.mech_list_mic {
            seq.extend(wrap_tlv(0xa3, &wrap_tlv(0x04, m)));
        }
        wrap_tlv(0xa1, &wrap_tlv(0x30, &seq))
    }
}

impl NegTokenInit {
    /// Writes the token (`[APPLICATION 0]` with the SPNEGO OID), for clients and tests.
    pub fn encode(&self) -> Vec<u8> {
        let mut seq = wrap_tlv(0xa0, &self.mech_type_list);
        if let Some(t) = &self.mech_token {
            seq.extend(wrap_tlv(0xa2, &wrap_tlv(0x04, t)));
        }
        let mut inner = SPNEGO_OID.to_vec();
        inner.extend(wrap_tlv(0xa0, &wrap_tlv(0x30, &seq)));
        wrap_tlv(0x60, &inner)
    }

    /// An NTLM-only NegTokenInit carrying `negotiate`.
    pub fn ntlm(negotiate: Vec<u8>) -> NegTokenInit {
        NegTokenInit {
            mech_type_list: wrap_tlv(0x30, NTLM_OID),
            mech_types: vec![NTLM_OID.to_vec()],
            mech_token: Some(negotiate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyspnego_negtokeninit_is_read() {
        // pyspnego 0.12's first token for pypsrp auth="negotiate" (NTLM only), captured
        // from the mock's journal.
        let hex = "604806062b0601050502a03e303ca00e300c060a2b06010401823702020aa22a04284e544c4d5353500001000000378208e200000000280000000000000028000000000c04000000000f";
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let Token::Init(init) = decode(&bytes).unwrap() else {
            panic!("not a NegTokenInit")
        };
        assert_eq!(init.mech_types, [NTLM_OID.to_vec()]);
        assert_eq!(init.mech_type_list, [&[0x30, 0x0c][..], NTLM_OID].concat());
        let token = init.mech_token.clone().unwrap();
        assert_eq!(crate::messages::message_type(&token), Some(1));
        // Writing it back gives the same bytes.
        assert_eq!(NegTokenInit::ntlm(token).encode(), bytes);
    }

    #[test]
    fn negtokenresp_round_trip_with_long_lengths() {
        let resp = NegTokenResp {
            neg_state: Some(neg_state::ACCEPT_INCOMPLETE),
            supported_mech: Some(NTLM_OID.to_vec()),
            response_token: Some(vec![7; 300]),
            mech_list_mic: Some(vec![1; 16]),
        };
        assert_eq!(decode(&resp.encode()).unwrap(), Token::Resp(resp));
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            &[0x60u8][..],
            &[0x60, 0x85, 1, 1, 1, 1, 1],
            &[0xa1, 0x02, 0x30, 0x05],
            &[0x30, 0],
        ] {
            assert_eq!(decode(bad), Err(Error::InvalidSpnego), "{bad:?}");
        }
    }
}
