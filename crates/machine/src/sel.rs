//! The System Event Log: 16-byte IPMI records with a capacity, a full policy and the
//! bookkeeping IPMI Get SEL Info reports.
//!
//! Record ids start at 1 and increase by one per added record for the whole life of a
//! [`crate::Machine`]: a clear does not reset them, so a client never sees an id reused
//! for a different record within a run. After 0xFFFE they wrap to 1, skipping ids still
//! in the log (0x0000 and 0xFFFF are reserved by IPMI for "first" and "last").

use serde::{Deserialize, Serialize};

use crate::time::format_datetime;

/// What happens when an entry is added to a full SEL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelFullPolicy {
    /// Refuse the new entry (IPMI's usual behaviour; CIM `OverwritePolicy` 7 "Never
    /// Overwrites").
    #[default]
    Stop,
    /// Drop the oldest entry to make room (CIM `OverwritePolicy` 2 "Wraps When Full").
    Overwrite,
}

/// Whether an event asserts or deasserts its state (bit 7 of the event dir/type byte).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventDirection {
    /// Assertion (bit 7 clear).
    #[default]
    Assert,
    /// Deassertion (bit 7 set).
    Deassert,
}

/// One SEL record. For record type 0x02 (system event) the fields are those of IPMI 2.0
/// table 32-1; for OEM types the same byte positions hold OEM data and round-trip
/// unchanged through [`SelEntry::to_bytes`] and [`SelEntry::from_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelEntry {
    /// Record id (assigned by the log when added).
    pub record_id: u16,
    /// Record type: 0x02 system event; 0xC0-0xDF OEM timestamped; 0xE0-0xFF OEM.
    pub record_type: u8,
    /// Unix seconds (assigned by the log when added, for timestamped types).
    pub timestamp: u32,
    /// Generator id (0x0020: the BMC).
    pub generator_id: u16,
    /// Event message format revision (0x04 for IPMI 2.0).
    pub evm_rev: u8,
    /// IPMI sensor type code.
    pub sensor_type: u8,
    /// Sensor number.
    pub sensor_number: u8,
    /// Assertion or deassertion.
    pub direction: EventDirection,
    /// Event/reading type code (0x01 threshold, 0x6F sensor-specific, ...), 7 bits.
    pub event_type: u8,
    /// Event data 1-3.
    pub data: [u8; 3],
    /// A human description (not part of the IPMI record; CIM `Description`).
    pub description: String,
}

impl SelEntry {
    /// A system event record (type 0x02, generator 0x0020, EvM rev 0x04); the log
    /// assigns the id and timestamp.
    pub fn system_event(
        sensor_type: u8,
        sensor_number: u8,
        direction: EventDirection,
        event_type: u8,
        data: [u8; 3],
        description: impl Into<String>,
    ) -> SelEntry {
        SelEntry {
            record_id: 0,
            record_type: 0x02,
            timestamp: 0,
            generator_id: 0x0020,
            evm_rev: 0x04,
            sensor_type,
            sensor_number,
            direction,
            event_type: event_type & 0x7F,
            data,
            description: description.into(),
        }
    }

    /// Whether the log stamps this record with the time when it is added (every type
    /// below 0xE0).
    pub fn is_timestamped(&self) -> bool {
        self.record_type < 0xE0
    }

    /// The 16-byte IPMI record (little-endian multi-byte fields).
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..2].copy_from_slice(&self.record_id.to_le_bytes());
        b[2] = self.record_type;
        b[3..7].copy_from_slice(&self.timestamp.to_le_bytes());
        b[7..9].copy_from_slice(&self.generator_id.to_le_bytes());
        b[9] = self.evm_rev;
        b[10] = self.sensor_type;
        b[11] = self.sensor_number;
        b[12] = (self.event_type & 0x7F)
            | if self.direction == EventDirection::Deassert {
                0x80
            } else {
                0
            };
        b[13..16].copy_from_slice(&self.data);
        b
    }

    /// Parses a 16-byte record (as IPMI Add SEL Entry carries it); the description is
    /// empty.
    pub fn from_bytes(b: &[u8; 16]) -> SelEntry {
        SelEntry {
            record_id: u16::from_le_bytes([b[0], b[1]]),
            record_type: b[2],
            timestamp: u32::from_le_bytes([b[3], b[4], b[5], b[6]]),
            generator_id: u16::from_le_bytes([b[7], b[8]]),
            evm_rev: b[9],
            sensor_type: b[10],
            sensor_number: b[11],
            direction: if b[12] & 0x80 != 0 {
                EventDirection::Deassert
            } else {
                EventDirection::Assert
            },
            event_type: b[12] & 0x7F,
            data: [b[13], b[14], b[15]],
            description: String::new(),
        }
    }

    /// The record as uppercase hex (CIM `RecordData`).
    pub fn hex(&self) -> String {
        self.to_bytes().iter().map(|b| format!("{b:02X}")).collect()
    }

    /// The timestamp as an `xs:dateTime` (CIM `MessageTimestamp`).
    pub fn datetime(&self) -> String {
        format_datetime(u64::from(self.timestamp))
    }
}

/// What IPMI Get SEL Info and CIM_RecordLog report about the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelInfo {
    /// Entries in the log.
    pub count: u16,
    /// Maximum number of entries.
    pub capacity: u16,
    /// Free space in bytes (16 per free entry).
    pub free_bytes: u16,
    /// Unix time of the most recent addition, if any.
    pub last_add: Option<u32>,
    /// Unix time of the most recent erase (delete or clear), if any.
    pub last_erase: Option<u32>,
    /// An entry was lost because the log was full (dropped with `stop`, overwritten
    /// with `overwrite`); cleared by a clear.
    pub overflow: bool,
    /// The full policy.
    pub policy: SelFullPolicy,
}

/// Why an entry could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

/// The log itself.
#[derive(Debug, Clone)]
pub(crate) struct Sel {
    entries: Vec<SelEntry>,
    capacity: u16,
    policy: SelFullPolicy,
    next_id: u16,
    last_add: Option<u32>,
    last_erase: Option<u32>,
    overflow: bool,
}

impl Sel {
    pub(crate) fn new(capacity: u16, policy: SelFullPolicy) -> Sel {
        Sel {
            entries: Vec::new(),
            capacity: capacity.max(1),
            policy,
            next_id: 1,
            last_add: None,
            last_erase: None,
            overflow: false,
        }
    }

    pub(crate) fn entries(&self) -> &[SelEntry] {
        &self.entries
    }

    fn take_id(&mut self) -> u16 {
        // At most 4095 entries are ever in the log, so a free id is always found.
        for _ in 0..=u16::MAX {
            let id = self.next_id;
            self.next_id = if id >= 0xFFFE { 1 } else { id + 1 };
            if !self.entries.iter().any(|e| e.record_id == id) {
                return id;
            }
        }
        self.next_id
    }

    /// Adds an entry stamped with `timestamp` (for timestamped types); returns its id.
    pub(crate) fn add(&mut self, mut entry: SelEntry, timestamp: u32) -> Result<u16, Full> {
        if self.entries.len() >= usize::from(self.capacity) {
            self.overflow = true;
            match self.policy {
                SelFullPolicy::Stop => return Err(Full),
                SelFullPolicy::Overwrite => {
                    let excess = self.entries.len() + 1 - usize::from(self.capacity);
                    self.entries.drain(..excess);
                }
            }
        }
        entry.record_id = self.take_id();
        if entry.is_timestamped() {
            entry.timestamp = timestamp;
        }
        self.last_add = Some(timestamp);
        let id = entry.record_id;
        self.entries.push(entry);
        Ok(id)
    }

    /// Adds an entry keeping its own timestamp (initial entries from the spec).
    pub(crate) fn add_preserving(&mut self, entry: SelEntry) -> Result<u16, Full> {
        let ts = entry.timestamp;
        let id = self.add(entry, ts)?;
        self.last_add = Some(ts);
        Ok(id)
    }

    pub(crate) fn delete(&mut self, id: u16, now: u32) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.record_id != id);
        let removed = self.entries.len() != before;
        if removed {
            self.last_erase = Some(now);
        }
        removed
    }

    pub(crate) fn clear(&mut self, now: u32) {
        self.entries.clear();
        self.last_erase = Some(now);
        self.overflow = false;
    }

    pub(crate) fn info(&self) -> SelInfo {
        let count = self.entries.len().min(usize::from(u16::MAX)) as u16;
        SelInfo {
            count,
            capacity: self.capacity,
            free_bytes: self.capacity.saturating_sub(count).saturating_mul(16),
            last_add: self.last_add,
            last_erase: self.last_erase,
            overflow: self.overflow,
            policy: self.policy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_layout() {
        let mut e = SelEntry::system_event(
            0x01,
            0x30,
            EventDirection::Deassert,
            0x01,
            [0x59, 0x50, 0x4B],
            "x",
        );
        e.record_id = 0x1234;
        e.timestamp = 0x6955_B900;
        let b = e.to_bytes();
        assert_eq!(
            b,
            [
                0x34, 0x12, 0x02, 0x00, 0xB9, 0x55, 0x69, 0x20, 0x00, 0x04, 0x01, 0x30, 0x81, 0x59,
                0x50, 0x4B
            ]
        );
        let back = SelEntry::from_bytes(&b);
        assert_eq!(back.to_bytes(), b);
        assert_eq!(e.hex().len(), 32);
    }
}
