//! The IPMI message (addresses, NetFn/LUN, sequence, command, data) and its checksums.
//!
//! On the wire a LAN request is `rsAddr, netFn<<2|rsLUN, chk1, rqAddr, rqSeq<<2|rqLUN,
//! cmd, data.., chk2` and the response swaps the address pairs; a response's first data
//! byte is the completion code. One type serves both directions: the fields are named
//! after their position (destination first).

use thiserror::Error;

/// The BMC's slave address (responder in requests from a remote console).
pub const BMC_ADDR: u8 = 0x20;
/// The remote console software ID ipmitool and most consoles use.
pub const CONSOLE_ADDR: u8 = 0x81;

/// A malformed IPMI message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MsgError {
    /// Shorter than the 7 bytes of an empty message.
    #[error("IPMI message of {0} bytes is shorter than 7")]
    Truncated(usize),
    /// The header checksum (byte 3) is wrong.
    #[error("IPMI header checksum mismatch")]
    HeaderChecksum,
    /// The data checksum (last byte) is wrong.
    #[error("IPMI data checksum mismatch")]
    DataChecksum,
}

/// An IPMI message on a LAN channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Destination address (rsAddr in a request, rqAddr in a response).
    pub dst_addr: u8,
    /// Network function (6 bits; odd for responses).
    pub netfn: u8,
    /// Destination LUN (2 bits).
    pub dst_lun: u8,
    /// Source address (rqAddr in a request, rsAddr in a response).
    pub src_addr: u8,
    /// Request sequence number (6 bits), echoed in the response.
    pub seq: u8,
    /// Source LUN (2 bits).
    pub src_lun: u8,
    /// Command number.
    pub cmd: u8,
    /// Data (in a response, starts with the completion code).
    pub data: Vec<u8>,
}

/// The two's complement checksum IPMI uses: the bytes plus the checksum sum to zero.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |acc, b| acc.wrapping_add(*b))
        .wrapping_neg()
}

impl Message {
    /// A request from a remote console to the BMC.
    pub fn request(netfn: u8, cmd: u8, seq: u8, data: Vec<u8>) -> Message {
        Message {
            dst_addr: BMC_ADDR,
            netfn: netfn & 0x3F,
            dst_lun: 0,
            src_addr: CONSOLE_ADDR,
            seq: seq & 0x3F,
            src_lun: 0,
            cmd,
            data,
        }
    }

    /// The response to this request with a completion code and data.
    pub fn response(&self, completion: u8, data: &[u8]) -> Message {
        let mut d = Vec::with_capacity(1 + data.len());
        d.push(completion);
        d.extend_from_slice(data);
        Message {
            dst_addr: self.src_addr,
            netfn: (self.netfn | 1) & 0x3F,
            dst_lun: self.src_lun,
            src_addr: self.dst_addr,
            seq: self.seq,
            src_lun: self.dst_lun,
            cmd: self.cmd,
            data: d,
        }
    }

    /// Whether this is a response (odd NetFn).
    pub fn is_response(&self) -> bool {
        self.netfn & 1 == 1
    }

    /// A response's completion code (None if the data is empty).
    pub fn completion(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// A response's data after the completion code.
    pub fn response_data(&self) -> &[u8] {
        self.data.get(1..).unwrap_or(&[])
    }

    /// Append the wire bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(self.dst_addr);
        out.push((self.netfn << 2) | (self.dst_lun & 3));
        out.push(checksum(&out[start..start + 2]));
        let body = out.len();
        out.push(self.src_addr);
        out.push((self.seq << 2) | (self.src_lun & 3));
        out.push(self.cmd);
        out.extend_from_slice(&self.data);
        let c = checksum(&out[body..]);
        out.push(c);
    }

    /// The wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(7 + self.data.len());
        self.encode(&mut v);
        v
    }

    /// Parse and verify both checksums.
    pub fn decode(b: &[u8]) -> Result<Message, MsgError> {
        if b.len() < 7 {
            return Err(MsgError::Truncated(b.len()));
        }
        if checksum(&b[..2]) != b[2] {
            return Err(MsgError::HeaderChecksum);
        }
        let last = b.len() - 1;
        if checksum(&b[3..last]) != b[last] {
            return Err(MsgError::DataChecksum);
        }
        Ok(Message {
            dst_addr: b[0],
            netfn: b[1] >> 2,
            dst_lun: b[1] & 3,
            src_addr: b[3],
            seq: b[4] >> 2,
            src_lun: b[4] & 3,
            cmd: b[5],
            data: b[6..last].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_channel_auth_caps_request_matches_a_known_capture() {
        // Get Channel Authentication Capabilities, rqSeq 0x25, channel 0x8E, priv 4,
        // as freeipmi prints it: checksum1 0xC8.
        let m = Message::request(0x06, 0x38, 0x25, vec![0x8E, 0x04]);
        let b = m.to_bytes();
        assert_eq!(&b[..3], &[0x20, 0x18, 0xC8]);
        assert_eq!(Message::decode(&b).unwrap(), m);
    }

    #[test]
    fn checksums_are_verified() {
        let mut b = Message::request(0x06, 0x01, 1, vec![]).to_bytes();
        b[6] ^= 1;
        assert_eq!(Message::decode(&b), Err(MsgError::DataChecksum));
        b[2] ^= 1;
        assert_eq!(Message::decode(&b), Err(MsgError::HeaderChecksum));
        assert_eq!(Message::decode(&b[..3]), Err(MsgError::Truncated(3)));
    }

    #[test]
    fn response_swaps_addresses() {
        let rq = Message::request(0x06, 0x01, 9, vec![]);
        let rs = rq.response(0, &[1, 2]);
        assert_eq!(rs.netfn, 0x07);
        assert_eq!(rs.dst_addr, CONSOLE_ADDR);
        assert_eq!(rs.seq, 9);
        assert_eq!(rs.completion(), Some(0));
        assert_eq!(rs.response_data(), &[1, 2]);
    }
}
