//! Message confidentiality and integrity after a login (MS-NLMP 3.4.3, 3.4.4.2 and
//! GSS_WrapEx 3.4.6), with extended session security as NTLMv2 clients negotiate it.
//!
//! Each direction has its signing key, one RC4 state that lives for the whole session
//! (connection-oriented NTLM never re-keys) and a sequence number starting at 0. A
//! sealed message is `RC4(message)`; its signature is `version 1 ‖ checksum ‖ seq`,
//! where the checksum is the first 8 bytes of `HMAC_MD5(SignKey, seq ‖ message)`,
//! itself passed through the same RC4 state when key exchange was negotiated.

use rc4::{KeyInit as _, Rc4, StreamCipher as _, consts::U16};

use crate::Error;
use crate::crypto::{Direction, hmac_md5, seal_key, sign_key};
use crate::messages::flags;

/// Which end of the session this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The client.
    Initiator,
    /// The server.
    Acceptor,
}

struct Half {
    sign_key: [u8; 16],
    seal_key: [u8; 16],
    rc4: Rc4<U16>,
    seq: u32,
}

impl Half {
    fn new(session_key: &[u8; 16], negotiated: u32, dir: Direction) -> Half {
        let seal = seal_key(session_key, negotiated, dir);
        Half {
            sign_key: sign_key(session_key, dir),
            seal_key: seal,
            rc4: Rc4::new((&seal).into()),
            seq: 0,
        }
    }

    /// The checksum of `plain` at the current sequence number, RC4'd when
    /// `key_exch`; advances the RC4 state (but not the sequence number).
    fn checksum(&mut self, plain: &[u8], key_exch: bool) -> [u8; 8] {
        let mac = hmac_md5(&self.sign_key, &[&self.seq.to_le_bytes(), plain]);
        let mut checksum = [0u8; 8];
        checksum.copy_from_slice(&mac[..8]);
        if key_exch {
            self.rc4.apply_keystream(&mut checksum);
        }
        checksum
    }
}

/// An established NTLM session: seals what this end sends and opens what it receives.
pub struct Session {
    send: Half,
    recv: Half,
    key_exch: bool,
    negotiated: u32,
    broken: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs.
        f.debug_struct("Session")
            .field("negotiated", &format_args!("{:#010x}", self.negotiated))
            .field("send_seq", &self.send.seq)
            .field("recv_seq", &self.recv.seq)
            .field("broken", &self.broken)
            .finish()
    }
}

impl Session {
    /// A session from the exported session key and the negotiated flags.
    pub fn new(exported_session_key: &[u8; 16], negotiated: u32, role: Role) -> Session {
        let (out, inn) = match role {
            Role::Initiator => (Direction::ClientToServer, Direction::ServerToClient),
            Role::Acceptor => (Direction::ServerToClient, Direction::ClientToServer),
        };
        Session {
            send: Half::new(exported_session_key, negotiated, out),
            recv: Half::new(exported_session_key, negotiated, inn),
            key_exch: negotiated & flags::NEGOTIATE_KEY_EXCH != 0,
            negotiated,
            broken: false,
        }
    }

    /// The flags the session was established with.
    pub fn negotiated(&self) -> u32 {
        self.negotiated
    }

    /// GSS_WrapEx: seals `plain`; returns the 16-byte signature and the sealed bytes
    /// (as long as `plain`).
    pub fn wrap(&mut self, plain: &[u8]) -> ([u8; 16], Vec<u8>) {
        let mut sealed = plain.to_vec();
        self.send.rc4.apply_keystream(&mut sealed);
        let checksum = self.send.checksum(plain, self.key_exch);
        let sig = signature(&checksum, self.send.seq);
        self.send.seq = self.send.seq.wrapping_add(1);
        (sig, sealed)
    }

    /// GSS_GetMIC: the signature of `data` (which is not sealed); uses the send
    /// direction's sequence number and RC4 state like [`Session::wrap`].
    pub fn sign(&mut self, data: &[u8]) -> [u8; 16] {
        let checksum = self.send.checksum(data, self.key_exch);
        let sig = signature(&checksum, self.send.seq);
        self.send.seq = self.send.seq.wrapping_add(1);
        sig
    }

    /// GSS_VerifyMIC: checks the peer's signature of `data`. A failure breaks the
    /// session like a bad [`Session::unwrap`].
    pub fn verify(&mut self, data: &[u8], signature_bytes: &[u8]) -> Result<(), Error> {
        if self.broken {
            return Err(Error::SessionBroken);
        }
        let checksum = self.recv.checksum(data, self.key_exch);
        let expected = signature(&checksum, self.recv.seq);
        if !crate::crypto::ct_eq(&expected, signature_bytes) {
            self.broken = true;
            return Err(Error::BadSignature);
        }
        self.recv.seq = self.recv.seq.wrapping_add(1);
        Ok(())
    }

    /// Restarts the send direction's RC4 stream from its key (sequence numbers go
    /// on). SPNEGO does this after the mechListMIC (MS-SPNG 3.3.5.1), on both sides.
    pub fn reset_send_rc4(&mut self) {
        self.send.rc4 = Rc4::new((&self.send.seal_key).into());
    }

    /// Restarts the receive direction's RC4 stream from its key.
    pub fn reset_recv_rc4(&mut self) {
        self.recv.rc4 = Rc4::new((&self.recv.seal_key).into());
    }

    /// GSS_UnwrapEx: opens `sealed` and checks `signature` (including the sequence
    /// number). A failure breaks the session for good: the RC4 stream has moved on.
    pub fn unwrap(&mut self, signature_bytes: &[u8], sealed: &[u8]) -> Result<Vec<u8>, Error> {
        if self.broken {
            return Err(Error::SessionBroken);
        }
        if signature_bytes.len() != 16 {
            self.broken = true;
            return Err(Error::SignatureLength {
                got: signature_bytes.len(),
            });
        }
        let mut plain = sealed.to_vec();
        self.recv.rc4.apply_keystream(&mut plain);
        let checksum = self.recv.checksum(&plain, self.key_exch);
        let expected = signature(&checksum, self.recv.seq);
        if !crate::crypto::ct_eq(&expected, signature_bytes) {
            self.broken = true;
            return Err(Error::BadSignature);
        }
        self.recv.seq = self.recv.seq.wrapping_add(1);
        Ok(plain)
    }
}

fn signature(checksum: &[u8; 8], seq: u32) -> [u8; 16] {
    let mut sig = [0u8; 16];
    sig[..4].copy_from_slice(&1u32.to_le_bytes());
    sig[4..12].copy_from_slice(checksum);
    sig[12..].copy_from_slice(&seq.to_le_bytes());
    sig
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::utf16le;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// MS-NLMP 4.2.4.4: GSS_WrapEx of "Plaintext" with the random session key 0x55 * 16
    /// and the flags of the example's CHALLENGE (0xe28a8233).
    #[test]
    fn ms_nlmp_4_2_4_4_gss_wrapex() {
        let mut client = Session::new(&[0x55; 16], 0xe28a_8233, Role::Initiator);
        let (sig, sealed) = client.wrap(&utf16le("Plaintext"));
        assert_eq!(sealed, hex("54e50165bf1936dc996020c1811b0f06fb5f"));
        assert_eq!(sig.to_vec(), hex("010000007fb38ec5c55d497600000000"));

        let mut server = Session::new(&[0x55; 16], 0xe28a_8233, Role::Acceptor);
        assert_eq!(server.unwrap(&sig, &sealed).unwrap(), utf16le("Plaintext"));
    }

    #[test]
    fn tampering_breaks_the_session() {
        let key = [3u8; 16];
        let f = 0xe28a_8233;
        let mut c = Session::new(&key, f, Role::Initiator);
        let mut s = Session::new(&key, f, Role::Acceptor);
        let (sig, mut sealed) = c.wrap(b"hello");
        sealed[0] ^= 1;
        assert_eq!(s.unwrap(&sig, &sealed), Err(Error::BadSignature));
        let (sig, sealed) = c.wrap(b"again");
        assert_eq!(s.unwrap(&sig, &sealed), Err(Error::SessionBroken));
    }

    #[test]
    fn both_directions_count_from_zero() {
        let key = [9u8; 16];
        let f = 0xe28a_8233;
        let mut c = Session::new(&key, f, Role::Initiator);
        let mut s = Session::new(&key, f, Role::Acceptor);
        for i in 0..3u32 {
            let (sig, sealed) = c.wrap(format!("req {i}").as_bytes());
            assert_eq!(&sig[12..], &i.to_le_bytes());
            assert_eq!(
                s.unwrap(&sig, &sealed).unwrap(),
                format!("req {i}").as_bytes()
            );
            let (sig, sealed) = s.wrap(format!("resp {i}").as_bytes());
            assert_eq!(
                c.unwrap(&sig, &sealed).unwrap(),
                format!("resp {i}").as_bytes()
            );
        }
    }
}
