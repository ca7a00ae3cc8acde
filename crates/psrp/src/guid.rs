//! GUIDs as PSRP carries them: 16 bytes in the message header, in .NET's mixed-endian
//! byte order, and the hyphenated text form inside CLIXML (`<G>`).
//!
//! The value is kept in the textual (RFC 4122) byte order; [`Guid::from_dotnet_bytes`]
//! and [`Guid::to_dotnet_bytes`] convert at the wire, because .NET's `Guid.ToByteArray`
//! stores the first three groups little-endian.

use std::fmt;
use std::str::FromStr;

/// A GUID, stored in the order its text form reads.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid(pub [u8; 16]);

/// Why a string is not a GUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a GUID (expected 8-4-4-4-12 hexadecimal digits)")]
pub struct GuidError {
    /// The rejected text, cut to 64 characters.
    pub text: String,
}

impl Guid {
    /// The all-zero GUID, which PSRP uses for "no pipeline" (and for "no runspace
    /// pool" in SESSION_CAPABILITY before one exists).
    pub const NIL: Guid = Guid([0; 16]);

    /// Whether this is the all-zero GUID.
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }

    /// Reads the 16 header bytes as .NET writes them (`Guid.ToByteArray`): the first
    /// group of 4 bytes, then the two groups of 2, little-endian; the last 8 as they are.
    pub fn from_dotnet_bytes(b: [u8; 16]) -> Guid {
        let mut o = b;
        o[0..4].reverse();
        o[4..6].reverse();
        o[6..8].reverse();
        Guid(o)
    }

    /// The 16 header bytes in .NET order (the inverse of [`Guid::from_dotnet_bytes`]).
    pub fn to_dotnet_bytes(&self) -> [u8; 16] {
        // The permutation is its own inverse.
        Guid::from_dotnet_bytes(self.0).0
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

impl FromStr for Guid {
    type Err = GuidError;

    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, optionally in braces, either case.
    fn from_str(s: &str) -> Result<Guid, GuidError> {
        let err = || GuidError {
            text: s.chars().take(64).collect(),
        };
        let t = s.trim();
        let t = t
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(t);
        let bytes = t.as_bytes();
        if bytes.len() != 36 {
            return Err(err());
        }
        let mut out = [0u8; 16];
        let mut n = 0;
        let mut i = 0;
        while i < bytes.len() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if bytes[i] != b'-' {
                    return Err(err());
                }
                i += 1;
                continue;
            }
            let hi = hex(bytes[i]).ok_or_else(err)?;
            let lo = bytes.get(i + 1).copied().and_then(hex).ok_or_else(err)?;
            if n >= 16 {
                return Err(err());
            }
            out[n] = hi << 4 | lo;
            n += 1;
            i += 2;
        }
        if n != 16 {
            return Err(err());
        }
        Ok(Guid(out))
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotnet_byte_order_swaps_the_first_three_groups() {
        let g: Guid = "00112233-4455-6677-8899-aabbccddeeff".parse().unwrap();
        assert_eq!(
            g.to_dotnet_bytes(),
            [
                0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
                0xee, 0xff
            ]
        );
        assert_eq!(Guid::from_dotnet_bytes(g.to_dotnet_bytes()), g);
        assert_eq!(g.to_string(), "00112233-4455-6677-8899-aabbccddeeff");
    }

    #[test]
    fn parse_accepts_braces_and_upper_case_and_rejects_the_rest() {
        let g: Guid = "{00112233-4455-6677-8899-AABBCCDDEEFF}".parse().unwrap();
        assert_eq!(g.to_string(), "00112233-4455-6677-8899-aabbccddeeff");
        for bad in [
            "",
            "00112233445566778899aabbccddeeff",
            "00112233-4455-6677-8899-aabbccddeefg",
            "00112233-4455-6677-8899_aabbccddeeff",
            "0011223-34455-6677-8899-aabbccddeeff",
            "00112233-4455-6677-8899-aabbccddeeff0",
        ] {
            assert!(bad.parse::<Guid>().is_err(), "{bad:?} parsed");
        }
    }
}
