//! Cipher suites and the crypto of IPMI 1.5 and RMCP+ sessions.
//!
//! RMCP+ (IPMI v2.0 section 13): the RAKP handshake proves both ends know the user's
//! key Kuid (the password, zero-padded to 20 bytes) with HMACs over the session IDs,
//! the random numbers Rm/Rc, the BMC GUID, the role byte and the user name; both then
//! derive the Session Integrity Key SIK = HMAC_Kg(Rm ‖ Rc ‖ role ‖ ulen ‖ name) (Kg is
//! the BMC key, or Kuid when none is set), K1 = HMAC_SIK(0x01 × 20) keys the per-packet
//! integrity AuthCode and the first 16 bytes of K2 = HMAC_SIK(0x02 × 20) key AES-CBC-128.
//! IPMI 1.5: the AuthCode is the 16-byte password (straight password) or
//! MD5(password ‖ session ID ‖ message ‖ sequence ‖ password).

use aes::Aes128;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use sha2::Sha256;
use thiserror::Error;

/// RAKP authentication algorithms (IPMI v2.0 table 13-17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthAlg {
    /// RAKP-none (0).
    None,
    /// RAKP-HMAC-SHA1 (1).
    HmacSha1,
    /// RAKP-HMAC-SHA256 (3).
    HmacSha256,
}

/// Integrity algorithms (IPMI v2.0 table 13-18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegrityAlg {
    /// None (0).
    None,
    /// HMAC-SHA1-96 (1).
    HmacSha1_96,
    /// HMAC-SHA256-128 (4).
    HmacSha256_128,
}

/// Confidentiality algorithms (IPMI v2.0 table 13-19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfAlg {
    /// None (0).
    None,
    /// AES-CBC-128 (1).
    AesCbc128,
}

impl AuthAlg {
    /// From the wire number; algorithms this crate does not implement are `None`.
    pub fn from_u8(v: u8) -> Option<AuthAlg> {
        Some(match v {
            0 => AuthAlg::None,
            1 => AuthAlg::HmacSha1,
            3 => AuthAlg::HmacSha256,
            _ => return None,
        })
    }
    /// The wire number.
    pub fn to_u8(self) -> u8 {
        match self {
            AuthAlg::None => 0,
            AuthAlg::HmacSha1 => 1,
            AuthAlg::HmacSha256 => 3,
        }
    }
    /// Length of the RAKP4 integrity check value (the truncated SIK HMAC).
    pub fn icv_len(self) -> usize {
        match self {
            AuthAlg::None => 0,
            AuthAlg::HmacSha1 => 12,
            AuthAlg::HmacSha256 => 16,
        }
    }
    /// Length of the full HMAC (RAKP2/RAKP3 codes, SIK, K1, K2).
    pub fn hmac_len(self) -> usize {
        match self {
            AuthAlg::None => 0,
            AuthAlg::HmacSha1 => 20,
            AuthAlg::HmacSha256 => 32,
        }
    }
}

impl IntegrityAlg {
    /// From the wire number; unimplemented algorithms are `None`.
    pub fn from_u8(v: u8) -> Option<IntegrityAlg> {
        Some(match v {
            0 => IntegrityAlg::None,
            1 => IntegrityAlg::HmacSha1_96,
            4 => IntegrityAlg::HmacSha256_128,
            _ => return None,
        })
    }
    /// The wire number.
    pub fn to_u8(self) -> u8 {
        match self {
            IntegrityAlg::None => 0,
            IntegrityAlg::HmacSha1_96 => 1,
            IntegrityAlg::HmacSha256_128 => 4,
        }
    }
    /// The AuthCode length this algorithm appends to each packet.
    pub fn code_len(self) -> usize {
        match self {
            IntegrityAlg::None => 0,
            IntegrityAlg::HmacSha1_96 => 12,
            IntegrityAlg::HmacSha256_128 => 16,
        }
    }
}

impl ConfAlg {
    /// From the wire number; unimplemented algorithms are `None`.
    pub fn from_u8(v: u8) -> Option<ConfAlg> {
        Some(match v {
            0 => ConfAlg::None,
            1 => ConfAlg::AesCbc128,
            _ => return None,
        })
    }
    /// The wire number.
    pub fn to_u8(self) -> u8 {
        match self {
            ConfAlg::None => 0,
            ConfAlg::AesCbc128 => 1,
        }
    }
}

/// A cipher suite: one algorithm of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CipherSuite {
    /// The suite ID (IPMI v2.0 table 22-20).
    pub id: u8,
    /// Authentication (RAKP) algorithm.
    pub auth: AuthAlg,
    /// Integrity algorithm.
    pub integrity: IntegrityAlg,
    /// Confidentiality algorithm.
    pub conf: ConfAlg,
}

/// The cipher suites this crate implements, in preference order of a console that asks
/// for "auto" (17, then 3) followed by the rest.
pub const SUITES: [CipherSuite; 5] = [
    CipherSuite {
        id: 17,
        auth: AuthAlg::HmacSha256,
        integrity: IntegrityAlg::HmacSha256_128,
        conf: ConfAlg::AesCbc128,
    },
    CipherSuite {
        id: 3,
        auth: AuthAlg::HmacSha1,
        integrity: IntegrityAlg::HmacSha1_96,
        conf: ConfAlg::AesCbc128,
    },
    CipherSuite {
        id: 2,
        auth: AuthAlg::HmacSha1,
        integrity: IntegrityAlg::HmacSha1_96,
        conf: ConfAlg::None,
    },
    CipherSuite {
        id: 1,
        auth: AuthAlg::HmacSha1,
        integrity: IntegrityAlg::None,
        conf: ConfAlg::None,
    },
    CipherSuite {
        id: 0,
        auth: AuthAlg::None,
        integrity: IntegrityAlg::None,
        conf: ConfAlg::None,
    },
];

impl CipherSuite {
    /// The suite with this ID, if implemented.
    pub fn by_id(id: u8) -> Option<CipherSuite> {
        SUITES.iter().copied().find(|s| s.id == id)
    }
    /// The implemented suite with exactly these algorithms.
    pub fn by_algorithms(auth: AuthAlg, integrity: IntegrityAlg, conf: ConfAlg) -> Option<Self> {
        SUITES
            .iter()
            .copied()
            .find(|s| s.auth == auth && s.integrity == integrity && s.conf == conf)
    }
}

/// A crypto failure on received data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// An encrypted payload shorter than IV + one block, or not a whole number of blocks.
    #[error("encrypted payload of {0} bytes is not IV plus whole AES blocks")]
    BadCiphertextLength(usize),
    /// The confidentiality pad after decryption is not 0x01 0x02 .. n, n.
    #[error("bad confidentiality pad")]
    BadPad,
}

type HmacSha1 = Hmac<Sha1>;
type HmacSha256 = Hmac<Sha256>;

/// HMAC over the concatenation of `parts` with the algorithm's hash (empty for none).
pub fn hmac(alg: AuthAlg, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match alg {
        AuthAlg::None => Vec::new(),
        AuthAlg::HmacSha1 => {
            let mut m = <HmacSha1 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }
        AuthAlg::HmacSha256 => {
            let mut m =
                <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }
    }
}

/// Compare two byte strings in time independent of where they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Kuid: a password as the RAKP key (truncated to 20 bytes; HMAC pads it with zeros,
/// so padding here changes nothing).
pub fn kuid(password: &[u8]) -> &[u8] {
    &password[..password.len().min(20)]
}

/// The inputs both ends share for the RAKP computations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RakpParams<'a> {
    /// The authentication algorithm.
    pub auth: AuthAlg,
    /// Remote console session ID (SIDm).
    pub console_sid: u32,
    /// Managed system (BMC) session ID (SIDc).
    pub bmc_sid: u32,
    /// Remote console random number Rm.
    pub rm: &'a [u8; 16],
    /// BMC random number Rc.
    pub rc: &'a [u8; 16],
    /// BMC GUID.
    pub guid: &'a [u8; 16],
    /// The role byte exactly as sent in RAKP1 (privilege and name-only bit).
    pub role: u8,
    /// The user name.
    pub name: &'a [u8],
}

impl RakpParams<'_> {
    fn name_len(&self) -> [u8; 1] {
        [self.name.len() as u8]
    }

    /// RAKP2 key exchange AuthCode: HMAC_Kuid(SIDm ‖ SIDc ‖ Rm ‖ Rc ‖ GUID ‖ role ‖ ulen ‖ name).
    pub fn rakp2(&self, kuid: &[u8]) -> Vec<u8> {
        hmac(
            self.auth,
            kuid,
            &[
                &self.console_sid.to_le_bytes(),
                &self.bmc_sid.to_le_bytes(),
                self.rm,
                self.rc,
                self.guid,
                &[self.role],
                &self.name_len(),
                self.name,
            ],
        )
    }

    /// RAKP3 key exchange AuthCode: HMAC_Kuid(Rc ‖ SIDm ‖ role ‖ ulen ‖ name).
    pub fn rakp3(&self, kuid: &[u8]) -> Vec<u8> {
        hmac(
            self.auth,
            kuid,
            &[
                self.rc,
                &self.console_sid.to_le_bytes(),
                &[self.role],
                &self.name_len(),
                self.name,
            ],
        )
    }

    /// The session integrity key: HMAC_(Kg or Kuid)(Rm ‖ Rc ‖ role ‖ ulen ‖ name).
    pub fn sik(&self, kg_or_kuid: &[u8]) -> Vec<u8> {
        hmac(
            self.auth,
            kg_or_kuid,
            &[self.rm, self.rc, &[self.role], &self.name_len(), self.name],
        )
    }

    /// RAKP4 integrity check value: HMAC_SIK(Rm ‖ SIDc ‖ GUID), truncated.
    pub fn rakp4(&self, sik: &[u8]) -> Vec<u8> {
        let mut v = hmac(
            self.auth,
            sik,
            &[self.rm, &self.bmc_sid.to_le_bytes(), self.guid],
        );
        v.truncate(self.auth.icv_len());
        v
    }
}

/// The keys of an established RMCP+ session.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// The suite.
    pub suite: CipherSuite,
    /// Session integrity key.
    pub sik: Vec<u8>,
    /// K1, the integrity key.
    pub k1: Vec<u8>,
    /// K2 (its first 16 bytes are the AES key).
    pub k2: Vec<u8>,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs and journals.
        f.debug_struct("SessionKeys")
            .field("suite", &self.suite.id)
            .finish_non_exhaustive()
    }
}

impl SessionKeys {
    /// Derive K1 and K2 from the SIK. The constants are 20 bytes of 0x01 / 0x02 for
    /// every algorithm: IPMI v2.0 defines them as 20 bytes, and ipmitool, freeipmi and
    /// OpenBMC keep 20 with HMAC-SHA256 too (32 would not interoperate).
    pub fn derive(suite: CipherSuite, sik: Vec<u8>) -> SessionKeys {
        let k1 = hmac(suite.auth, &sik, &[&[0x01; 20]]);
        let k2 = hmac(suite.auth, &sik, &[&[0x02; 20]]);
        SessionKeys { suite, sik, k1, k2 }
    }

    /// The integrity AuthCode over `covered` (auth type byte .. next header byte).
    pub fn auth_code(&self, covered: &[u8]) -> Vec<u8> {
        integrity_code(self.suite.integrity, &self.k1, covered)
    }

    /// Verify a received integrity AuthCode in constant time.
    pub fn verify(&self, covered: &[u8], code: &[u8]) -> bool {
        ct_eq(&self.auth_code(covered), code)
    }

    /// The AES-CBC-128 key.
    pub fn aes_key(&self) -> [u8; 16] {
        let mut k = [0u8; 16];
        let n = self.k2.len().min(16);
        k[..n].copy_from_slice(&self.k2[..n]);
        k
    }
}

/// The per-packet integrity AuthCode: HMAC_K1(covered) truncated to the algorithm's length.
pub fn integrity_code(alg: IntegrityAlg, k1: &[u8], covered: &[u8]) -> Vec<u8> {
    let mut v = match alg {
        IntegrityAlg::None => return Vec::new(),
        IntegrityAlg::HmacSha1_96 => hmac(AuthAlg::HmacSha1, k1, &[covered]),
        IntegrityAlg::HmacSha256_128 => hmac(AuthAlg::HmacSha256, k1, &[covered]),
    };
    v.truncate(alg.code_len());
    v
}

/// AES-CBC-128 encrypt a payload: IV ‖ E(data ‖ 01 02 .. n ‖ n).
pub fn aes_encrypt(key: &[u8; 16], iv: &[u8; 16], data: &[u8]) -> Vec<u8> {
    let pad = (16 - (data.len() + 1) % 16) % 16;
    let mut buf = Vec::with_capacity(16 + data.len() + pad + 1);
    buf.extend_from_slice(data);
    buf.extend((1..=pad).map(|i| i as u8));
    buf.push(pad as u8);
    let len = buf.len();
    let enc = cbc::Encryptor::<Aes128>::new(key.into(), iv.into());
    let ct = enc
        .encrypt_padded_mut::<NoPadding>(&mut buf, len)
        .expect("buffer is whole blocks")
        .to_vec();
    let mut out = iv.to_vec();
    out.extend_from_slice(&ct);
    out
}

/// AES-CBC-128 decrypt IV ‖ ciphertext and strip the confidentiality pad.
pub fn aes_decrypt(key: &[u8; 16], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if data.len() < 32 || data.len() % 16 != 0 {
        return Err(CryptoError::BadCiphertextLength(data.len()));
    }
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&data[..16]);
    let mut buf = data[16..].to_vec();
    let dec = cbc::Decryptor::<Aes128>::new(key.into(), (&iv).into());
    let pt = dec
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .map_err(|_| CryptoError::BadCiphertextLength(data.len()))?;
    let pad = *pt.last().ok_or(CryptoError::BadPad)? as usize;
    if pad > 15 || pad + 1 > pt.len() {
        return Err(CryptoError::BadPad);
    }
    let body = pt.len() - 1 - pad;
    if !pt[body..pt.len() - 1]
        .iter()
        .enumerate()
        .all(|(i, b)| *b as usize == i + 1)
    {
        return Err(CryptoError::BadPad);
    }
    Ok(pt[..body].to_vec())
}

/// A password as the IPMI 1.5 16-byte key (zero padded or truncated).
pub fn pad16(password: &[u8]) -> [u8; 16] {
    let mut k = [0u8; 16];
    let n = password.len().min(16);
    k[..n].copy_from_slice(&password[..n]);
    k
}

/// IPMI 1.5 MD5 AuthCode: MD5(password ‖ session ID ‖ message ‖ sequence ‖ password).
pub fn md5_auth_code(password: &[u8], session_id: u32, message: &[u8], seq: u32) -> [u8; 16] {
    let key = pad16(password);
    let mut h = Md5::new();
    h.update(key);
    h.update(session_id.to_le_bytes());
    h.update(message);
    h.update(seq.to_le_bytes());
    h.update(key);
    h.finalize().into()
}

/// The IPMI 1.5 AuthCode for an auth type (none/MD2/OEM give zeros; callers refuse them).
pub fn v15_auth_code(
    auth: crate::rmcp::AuthType,
    password: &[u8],
    session_id: u32,
    message: &[u8],
    seq: u32,
) -> [u8; 16] {
    use crate::rmcp::AuthType;
    match auth {
        AuthType::Md5 => md5_auth_code(password, session_id, message, seq),
        AuthType::Password => pad16(password),
        _ => [0; 16],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_round_trip_all_lengths() {
        let key = [7u8; 16];
        let iv = [9u8; 16];
        for n in 0..40 {
            let data: Vec<u8> = (0..n as u8).collect();
            let ct = aes_encrypt(&key, &iv, &data);
            assert_eq!(ct.len() % 16, 0);
            assert_eq!(aes_decrypt(&key, &ct).unwrap(), data);
        }
    }

    #[test]
    fn aes_rejects_bad_lengths_and_pads() {
        let key = [1u8; 16];
        assert!(aes_decrypt(&key, &[0; 20]).is_err());
        // A random block decrypts to a random last byte: the pad check must refuse it
        // (or, if it happens to look valid, the data must at least not panic).
        let _ = aes_decrypt(&key, &[0x55; 32]);
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
