//! System Event Log records and the Get SEL Info answer (IPMI v2.0 chapters 31 and 32).
//!
//! A record is 16 bytes: record ID (2, LS first), record type, then for type 0x02
//! (system event) the timestamp (4), generator ID (2), EvM revision, sensor type,
//! sensor number, event dir (bit 7, 1 = deassertion) / event type (bits 6:0) and event
//! data 1-3; OEM timestamped types (0xC0-0xDF) carry a timestamp, a manufacturer ID (3)
//! and 6 OEM bytes; non-timestamped OEM types (0xE0-0xFF) carry 13 OEM bytes.

use crate::cmd::DecodeError;

/// A SEL record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SelRecord {
    /// Type 0x02 (and 0x00-0xBF, which IPMI treats alike): a system event.
    System(SystemEvent),
    /// 0xC0-0xDF: OEM timestamped.
    OemTimestamped {
        /// Record ID.
        id: u16,
        /// Record type.
        record_type: u8,
        /// Unix seconds.
        timestamp: u32,
        /// Manufacturer ID (IANA, 3 bytes).
        manufacturer: u32,
        /// OEM data.
        data: [u8; 6],
    },
    /// 0xE0-0xFF: OEM, no timestamp.
    Oem {
        /// Record ID.
        id: u16,
        /// Record type.
        record_type: u8,
        /// OEM data.
        data: [u8; 13],
    },
}

/// A system event record (table 32-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SystemEvent {
    /// Record ID.
    pub id: u16,
    /// Record type (0x02).
    pub record_type: u8,
    /// Unix seconds.
    pub timestamp: u32,
    /// Generator ID (0x0020 the BMC).
    pub generator: u16,
    /// Event message format revision (0x04).
    pub evm_rev: u8,
    /// Sensor type code.
    pub sensor_type: u8,
    /// Sensor number.
    pub sensor_number: u8,
    /// Deassertion (bit 7 of the event dir/type byte).
    pub deassertion: bool,
    /// Event/reading type code (7 bits).
    pub event_type: u8,
    /// Event data 1-3.
    pub data: [u8; 3],
}

impl SelRecord {
    /// The record ID.
    pub fn id(&self) -> u16 {
        match self {
            SelRecord::System(e) => e.id,
            SelRecord::OemTimestamped { id, .. } | SelRecord::Oem { id, .. } => *id,
        }
    }

    /// The record type.
    pub fn record_type(&self) -> u8 {
        match self {
            SelRecord::System(e) => e.record_type,
            SelRecord::OemTimestamped { record_type, .. } | SelRecord::Oem { record_type, .. } => {
                *record_type
            }
        }
    }

    /// The 16 bytes.
    pub fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..2].copy_from_slice(&self.id().to_le_bytes());
        b[2] = self.record_type();
        match self {
            SelRecord::System(e) => {
                b[3..7].copy_from_slice(&e.timestamp.to_le_bytes());
                b[7..9].copy_from_slice(&e.generator.to_le_bytes());
                b[9] = e.evm_rev;
                b[10] = e.sensor_type;
                b[11] = e.sensor_number;
                b[12] = (e.event_type & 0x7F) | if e.deassertion { 0x80 } else { 0 };
                b[13..16].copy_from_slice(&e.data);
            }
            SelRecord::OemTimestamped {
                timestamp,
                manufacturer,
                data,
                ..
            } => {
                b[3..7].copy_from_slice(&timestamp.to_le_bytes());
                b[7..10].copy_from_slice(&manufacturer.to_le_bytes()[..3]);
                b[10..16].copy_from_slice(data);
            }
            SelRecord::Oem { data, .. } => b[3..16].copy_from_slice(data),
        }
        b
    }

    /// Reads a record from its first 16 bytes.
    pub fn decode(b: &[u8]) -> Result<SelRecord, DecodeError> {
        let b: &[u8; 16] =
            b.get(..16)
                .and_then(|s| s.try_into().ok())
                .ok_or(DecodeError::Short {
                    need: 16,
                    got: b.len(),
                })?;
        let id = u16::from_le_bytes([b[0], b[1]]);
        let ts = u32::from_le_bytes([b[3], b[4], b[5], b[6]]);
        Ok(match b[2] {
            0xC0..=0xDF => SelRecord::OemTimestamped {
                id,
                record_type: b[2],
                timestamp: ts,
                manufacturer: u32::from_le_bytes([b[7], b[8], b[9], 0]),
                data: [b[10], b[11], b[12], b[13], b[14], b[15]],
            },
            0xE0..=0xFF => {
                let mut data = [0u8; 13];
                data.copy_from_slice(&b[3..16]);
                SelRecord::Oem {
                    id,
                    record_type: b[2],
                    data,
                }
            }
            t => SelRecord::System(SystemEvent {
                id,
                record_type: t,
                timestamp: ts,
                generator: u16::from_le_bytes([b[7], b[8]]),
                evm_rev: b[9],
                sensor_type: b[10],
                sensor_number: b[11],
                deassertion: b[12] & 0x80 != 0,
                event_type: b[12] & 0x7F,
                data: [b[13], b[14], b[15]],
            }),
        })
    }
}

/// The Get SEL Info answer (31.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SelInfo {
    /// SEL version (0x51).
    pub version: u8,
    /// Number of entries.
    pub entries: u16,
    /// Free space in bytes.
    pub free: u16,
    /// Most recent addition (Unix seconds; 0xFFFFFFFF none).
    pub last_add: u32,
    /// Most recent erase (0xFFFFFFFF none).
    pub last_erase: u32,
    /// Operation support: bit 7 overflow, 3 delete, 2 partial add, 1 reserve, 0 get
    /// allocation info.
    pub support: u8,
}

impl SelInfo {
    /// The 14 response bytes after the completion code (the layout of Get SDR
    /// Repository Info, with the entry count in place of the record count).
    pub fn encode(&self) -> Vec<u8> {
        crate::sdr::RepositoryInfo {
            version: self.version,
            count: self.entries,
            free: self.free,
            last_add: self.last_add,
            last_erase: self.last_erase,
            support: self.support,
        }
        .encode()
    }

    /// Reads the response bytes.
    pub fn decode(b: &[u8]) -> Result<SelInfo, DecodeError> {
        let r = crate::sdr::RepositoryInfo::decode(b)?;
        Ok(SelInfo {
            version: r.version,
            entries: r.count,
            free: r.free,
            last_add: r.last_add,
            last_erase: r.last_erase,
            support: r.support,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn system_event_by_hand() {
        let e = SelRecord::System(SystemEvent {
            id: 0x1234,
            record_type: 2,
            timestamp: 0x6955_B900,
            generator: 0x20,
            evm_rev: 4,
            sensor_type: 1,
            sensor_number: 0x30,
            deassertion: true,
            event_type: 1,
            data: [0x59, 0x50, 0x4B],
        });
        let b = e.encode();
        assert_eq!(
            b,
            [
                0x34, 0x12, 0x02, 0x00, 0xB9, 0x55, 0x69, 0x20, 0x00, 0x04, 0x01, 0x30, 0x81, 0x59,
                0x50, 0x4B
            ]
        );
        assert_eq!(SelRecord::decode(&b).unwrap(), e);
        assert!(SelRecord::decode(&b[..15]).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip(b in any::<[u8; 16]>()) {
            let r = SelRecord::decode(&b).unwrap();
            prop_assert_eq!(r.encode(), b);
        }

        #[test]
        fn info_round_trip(v: u8, e: u16, f: u16, a: u32, x: u32, s: u8) {
            let i = SelInfo { version: v, entries: e, free: f, last_add: a, last_erase: x, support: s };
            prop_assert_eq!(SelInfo::decode(&i.encode()).unwrap(), i);
        }

        #[test]
        fn decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..20)) {
            let _ = SelRecord::decode(&b);
            let _ = SelInfo::decode(&b);
        }
    }
}
