//! The NTLM primitives of MS-NLMP 3.3.2 and 3.4.5: NTOWFv2, HMAC-MD5, RC4 with a one-off
//! key, the signing and sealing key derivations, and a constant-time comparison.

use hmac::{Hmac, Mac as _};
use md4::Md4;
use md5::{Digest as _, Md5};
use rc4::{KeyInit as _, Rc4, StreamCipher as _, consts::U16};

use crate::messages::flags;

/// UTF-16LE bytes of `s`.
pub fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// MD4 of the UTF-16LE password: the "NT hash" (NTOWFv1).
pub fn nt_hash(password: &str) -> [u8; 16] {
    Md4::digest(utf16le(password)).into()
}

/// HMAC-MD5 of the concatenation of `parts`.
pub fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match <Hmac<Md5> as hmac::Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// MD5 of the concatenation of `parts`.
pub fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// NTOWFv2 (MS-NLMP 3.3.2): `HMAC_MD5(MD4(UTF-16LE(password)), UTF-16LE(UPPER(user) ‖
/// domain))`.
pub fn ntowfv2(password: &str, user: &str, domain: &str) -> [u8; 16] {
    ntowfv2_from_hash(&nt_hash(password), user, domain)
}

/// NTOWFv2 from an NT hash.
pub fn ntowfv2_from_hash(nt_hash: &[u8; 16], user: &str, domain: &str) -> [u8; 16] {
    let mut who = user.to_uppercase();
    who.push_str(domain);
    hmac_md5(nt_hash, &[&utf16le(&who)])
}

/// RC4 with a fresh 16-byte key over `data` (RC4K of MS-NLMP 6).
pub fn rc4k(key: &[u8; 16], data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    Rc4::<U16>::new(key.into()).apply_keystream(&mut out);
    out
}

/// Which way a key protects messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    ClientToServer,
    /// Server to client.
    ServerToClient,
}

/// SIGNKEY (MS-NLMP 3.4.5.2), with extended session security.
pub fn sign_key(exported_session_key: &[u8; 16], dir: Direction) -> [u8; 16] {
    let magic: &[u8] = match dir {
        Direction::ClientToServer => {
            b"session key to client-to-server signing key magic constant\0"
        }
        Direction::ServerToClient => {
            b"session key to server-to-client signing key magic constant\0"
        }
    };
    md5(&[exported_session_key, magic])
}

/// SEALKEY (MS-NLMP 3.4.5.3), with extended session security: the key is cut to 16, 7
/// or 5 bytes by `NEGOTIATE_128` / `NEGOTIATE_56` before hashing.
pub fn seal_key(exported_session_key: &[u8; 16], negotiated: u32, dir: Direction) -> [u8; 16] {
    let len = if negotiated & flags::NEGOTIATE_128 != 0 {
        16
    } else if negotiated & flags::NEGOTIATE_56 != 0 {
        7
    } else {
        5
    };
    let magic: &[u8] = match dir {
        Direction::ClientToServer => {
            b"session key to client-to-server sealing key magic constant\0"
        }
        Direction::ServerToClient => {
            b"session key to server-to-client sealing key magic constant\0"
        }
    };
    md5(&[&exported_session_key[..len], magic])
}

/// Compares two secrets without an early exit. Lengths are not secret here (they are
/// fixed by the protocol), so different lengths simply compare unequal.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn ms_nlmp_4_2_4_1_1_ntowfv2() {
        assert_eq!(
            ntowfv2("Password", "User", "Domain").to_vec(),
            hex("0c868a403bfd7a93a3001ef22ef02e3f")
        );
    }

    #[test]
    fn ms_nlmp_4_2_2_1_2_nt_hash() {
        // NTOWFv1("Password") of MS-NLMP 4.2.2.1.2.
        assert_eq!(
            nt_hash("Password").to_vec(),
            hex("a4f49c406510bdcab6824ee7c30fd852")
        );
    }

    #[test]
    fn ct_eq_is_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }
}
