//! Sensor Data Records (IPMI v2.0 chapter 43): the full sensor record (type 0x01), the
//! compact sensor record (0x02), the FRU device locator (0x11) and the management
//! controller device locator (0x12), encoded and decoded; other record types are kept
//! as opaque bodies. Also the Get SDR Repository Info answer (33.9).
//!
//! Every record starts with a 5-byte header: record ID (LS byte first), SDR version
//! (0x51), record type, and the number of bytes that follow.

use crate::cmd::DecodeError;
use crate::conv::{AnalogFormat, Linear};
use crate::fru::decode_text;

/// The SDR version this crate writes (IPMI 1.5 and 2.0: 0x51).
pub const SDR_VERSION: u8 = 0x51;

/// Record type codes.
pub mod kind {
    /// Full sensor record.
    pub const FULL: u8 = 0x01;
    /// Compact sensor record.
    pub const COMPACT: u8 = 0x02;
    /// FRU device locator.
    pub const FRU_LOCATOR: u8 = 0x11;
    /// Management controller device locator.
    pub const MC_LOCATOR: u8 = 0x12;
}

/// An ID string with its type/length byte (bits 7:6 the type: 00 Unicode, 01 BCD
/// plus, 10 6-bit packed ASCII, 11 8-bit ASCII + Latin 1; bits 4:0 the byte count).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct IdString {
    /// The type (0..=3).
    pub kind: u8,
    /// The bytes (at most 16 in sensor records and locators).
    pub bytes: Vec<u8>,
}

impl IdString {
    /// An 8-bit ASCII id string, cut to 16 bytes.
    pub fn ascii(s: &str) -> IdString {
        let b = s.as_bytes();
        IdString {
            kind: 3,
            bytes: b[..b.len().min(16)].to_vec(),
        }
    }

    /// The string as text (6-bit ASCII and BCD plus unpacked; Unicode bytes shown as
    /// Latin 1).
    pub fn text(&self) -> String {
        decode_text(self.kind, &self.bytes)
    }

    fn type_length(&self) -> u8 {
        (self.kind << 6) | (self.bytes.len().min(31) as u8)
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(self.type_length());
        out.extend_from_slice(&self.bytes[..self.bytes.len().min(31)]);
    }

    fn read(b: &[u8], at: usize) -> Result<IdString, DecodeError> {
        let tl = *b.get(at).ok_or(DecodeError::Short {
            need: at + 1,
            got: b.len(),
        })?;
        let len = usize::from(tl & 0x1F);
        let bytes = b.get(at + 1..at + 1 + len).ok_or(DecodeError::Short {
            need: at + 1 + len,
            got: b.len(),
        })?;
        Ok(IdString {
            kind: tl >> 6,
            bytes: bytes.to_vec(),
        })
    }
}

/// Sensor Units 1/2/3 of a sensor record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Units {
    /// Analog data format (bits 7:6 of Units 1).
    pub format: AnalogFormat,
    /// Rate unit (bits 5:3: 0 none, 1 per µs, ... 6 per day).
    pub rate: u8,
    /// Modifier unit use (bits 2:1: 0 none, 1 base/modifier, 2 base·modifier).
    pub modifier_use: u8,
    /// Percentage (bit 0).
    pub percentage: bool,
    /// Base unit code (table 43-15).
    pub base: u8,
    /// Modifier unit code.
    pub modifier: u8,
}

impl Units {
    fn units1(&self) -> u8 {
        (self.format.bits() << 6)
            | ((self.rate & 7) << 3)
            | ((self.modifier_use & 3) << 1)
            | u8::from(self.percentage)
    }

    fn from_bytes(u1: u8, base: u8, modifier: u8) -> Units {
        Units {
            format: AnalogFormat::from_bits(u1 >> 6),
            rate: (u1 >> 3) & 7,
            modifier_use: (u1 >> 1) & 3,
            percentage: u1 & 1 != 0,
            base,
            modifier,
        }
    }
}

/// The fields sensor records share (key and the first body bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SensorKey {
    /// Sensor owner ID (slave address, 0x20 for the BMC).
    pub owner_id: u8,
    /// Sensor owner LUN (channel in bits 7:4, LUN in 1:0).
    pub owner_lun: u8,
    /// Sensor number.
    pub number: u8,
    /// Entity ID.
    pub entity_id: u8,
    /// Entity instance.
    pub entity_instance: u8,
    /// Sensor initialization byte.
    pub init: u8,
    /// Sensor capabilities byte.
    pub capabilities: u8,
    /// Sensor type code.
    pub sensor_type: u8,
    /// Event/reading type code (0x01 threshold).
    pub event_reading_type: u8,
    /// Assertion event mask (threshold sensors: bits 14:12 the lower threshold reading
    /// mask).
    pub assertion_mask: u16,
    /// Deassertion event mask (threshold sensors: bits 14:12 the upper threshold reading
    /// mask).
    pub deassertion_mask: u16,
    /// Discrete reading mask, or for threshold sensors the readable thresholds (bits
    /// 5:0) and the settable thresholds (bits 13:8), each bit 0 LNC, 1 LC, 2 LNR, 3 UNC,
    /// 4 UC, 5 UNR.
    pub reading_mask: u16,
}

impl SensorKey {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[
            self.owner_id,
            self.owner_lun,
            self.number,
            self.entity_id,
            self.entity_instance,
            self.init,
            self.capabilities,
            self.sensor_type,
            self.event_reading_type,
        ]);
        out.extend_from_slice(&self.assertion_mask.to_le_bytes());
        out.extend_from_slice(&self.deassertion_mask.to_le_bytes());
        out.extend_from_slice(&self.reading_mask.to_le_bytes());
    }

    /// Reads bytes 5..20 of a sensor record (the caller checked the length).
    fn read(b: &[u8]) -> SensorKey {
        SensorKey {
            owner_id: b[5],
            owner_lun: b[6],
            number: b[7],
            entity_id: b[8],
            entity_instance: b[9],
            init: b[10],
            capabilities: b[11],
            sensor_type: b[12],
            event_reading_type: b[13],
            assertion_mask: u16::from_le_bytes([b[14], b[15]]),
            deassertion_mask: u16::from_le_bytes([b[16], b[17]]),
            reading_mask: u16::from_le_bytes([b[18], b[19]]),
        }
    }

    /// Readable thresholds (bit 0 LNC .. bit 5 UNR).
    pub fn readable_thresholds(&self) -> u8 {
        (self.reading_mask & 0x3F) as u8
    }

    /// Settable thresholds (bit 0 LNC .. bit 5 UNR).
    pub fn settable_thresholds(&self) -> u8 {
        ((self.reading_mask >> 8) & 0x3F) as u8
    }
}

/// A full sensor record (type 0x01, 43.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FullSensor {
    /// Key and common body fields.
    pub key: SensorKey,
    /// Units.
    pub units: Units,
    /// Linearization (0 linear).
    pub linearization: u8,
    /// M, B and exponents (the analog format is `units.format`).
    pub conv: Linear,
    /// Tolerance (6 bits, in +/- half raw counts).
    pub tolerance: u8,
    /// Accuracy (10 bits, in 1/100 percent scaled by 10^accuracy_exp).
    pub accuracy: u16,
    /// Accuracy exponent (2 bits).
    pub accuracy_exp: u8,
    /// Sensor direction (2 bits).
    pub direction: u8,
    /// Analog characteristic flags (bit 0 nominal, 1 normal max, 2 normal min given).
    pub analog_flags: u8,
    /// Nominal reading (raw).
    pub nominal: u8,
    /// Normal maximum (raw).
    pub normal_max: u8,
    /// Normal minimum (raw).
    pub normal_min: u8,
    /// Sensor maximum reading (raw).
    pub max_reading: u8,
    /// Sensor minimum reading (raw).
    pub min_reading: u8,
    /// Raw thresholds indexed by status bit: 0 LNC, 1 LC, 2 LNR, 3 UNC, 4 UC, 5 UNR
    /// (the record stores them UNR first).
    pub thresholds: [u8; 6],
    /// Positive-going threshold hysteresis (raw counts).
    pub hysteresis_pos: u8,
    /// Negative-going threshold hysteresis.
    pub hysteresis_neg: u8,
    /// OEM byte.
    pub oem: u8,
    /// The sensor's ID string.
    pub id: IdString,
}

impl FullSensor {
    /// A threshold's value (by status bit), if the record says it is readable.
    pub fn threshold_value(&self, bit: u8) -> Option<f64> {
        if bit < 6 && self.key.readable_thresholds() & (1 << bit) != 0 {
            Some(self.conv.value(self.thresholds[usize::from(bit)]))
        } else {
            None
        }
    }

    /// The conversion with the analog format of the record's units.
    pub fn linear(&self) -> Linear {
        Linear {
            format: self.units.format,
            ..self.conv
        }
    }
}

/// A compact sensor record (type 0x02, 43.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CompactSensor {
    /// Key and common body fields.
    pub key: SensorKey,
    /// Units.
    pub units: Units,
    /// Sensor record sharing bytes (ID string instance modifier, share count, ...).
    pub sharing: [u8; 2],
    /// Positive-going hysteresis.
    pub hysteresis_pos: u8,
    /// Negative-going hysteresis.
    pub hysteresis_neg: u8,
    /// OEM byte.
    pub oem: u8,
    /// The sensor's ID string.
    pub id: IdString,
}

/// A FRU device locator (type 0x11, 43.8).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FruLocator {
    /// Device access address (7-bit address in bits 7:1).
    pub access_address: u8,
    /// FRU device ID (logical devices) or slave address.
    pub fru_device_id: u8,
    /// Bit 7 logical device; bits 4:3 access LUN; bits 2:0 private bus.
    pub access: u8,
    /// Channel number in bits 7:4.
    pub channel: u8,
    /// Device type (0x10 for a logical FRU device).
    pub device_type: u8,
    /// Device type modifier.
    pub device_type_modifier: u8,
    /// FRU entity ID.
    pub entity_id: u8,
    /// FRU entity instance.
    pub entity_instance: u8,
    /// OEM byte.
    pub oem: u8,
    /// Device ID string.
    pub id: IdString,
}

/// A management controller device locator (type 0x12, 43.9).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct McLocator {
    /// Device slave address (7-bit address in bits 7:1; 0x20 the BMC).
    pub slave_address: u8,
    /// Channel number (bits 3:0).
    pub channel: u8,
    /// Power state notification and global initialization.
    pub power_state: u8,
    /// Device capabilities (bit 7 chassis, 6 bridge, 5 IPMB event generator, 4 event
    /// receiver, 3 FRU inventory, 2 SEL, 1 SDR repository, 0 sensor device).
    pub capabilities: u8,
    /// Entity ID.
    pub entity_id: u8,
    /// Entity instance.
    pub entity_instance: u8,
    /// OEM byte.
    pub oem: u8,
    /// Device ID string.
    pub id: IdString,
}

/// The body of a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Record {
    /// Type 0x01.
    Full(FullSensor),
    /// Type 0x02.
    Compact(CompactSensor),
    /// Type 0x11.
    FruLocator(FruLocator),
    /// Type 0x12.
    McLocator(McLocator),
    /// Any other type, its bytes after the header as they are.
    Other {
        /// Record type.
        record_type: u8,
        /// The bytes after the header.
        body: Vec<u8>,
    },
}

/// A whole record: header and body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sdr {
    /// Record ID.
    pub id: u16,
    /// SDR version (0x51).
    pub version: u8,
    /// The record.
    pub record: Record,
}

impl Record {
    /// The record type code.
    pub fn record_type(&self) -> u8 {
        match self {
            Record::Full(_) => kind::FULL,
            Record::Compact(_) => kind::COMPACT,
            Record::FruLocator(_) => kind::FRU_LOCATOR,
            Record::McLocator(_) => kind::MC_LOCATOR,
            Record::Other { record_type, .. } => *record_type,
        }
    }

    /// The sensor number, for sensor records.
    pub fn sensor_number(&self) -> Option<u8> {
        match self {
            Record::Full(f) => Some(f.key.number),
            Record::Compact(c) => Some(c.key.number),
            _ => None,
        }
    }

    /// The ID string, for the four known types.
    pub fn id_string(&self) -> Option<&IdString> {
        match self {
            Record::Full(f) => Some(&f.id),
            Record::Compact(c) => Some(&c.id),
            Record::FruLocator(l) => Some(&l.id),
            Record::McLocator(l) => Some(&l.id),
            Record::Other { .. } => None,
        }
    }
}

impl Sdr {
    /// The record's bytes (header included; the length byte is computed).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&self.id.to_le_bytes());
        out.push(self.version);
        out.push(self.record.record_type());
        out.push(0);
        match &self.record {
            Record::Full(f) => {
                f.key.write(&mut out);
                out.extend_from_slice(&[
                    f.units.units1(),
                    f.units.base,
                    f.units.modifier,
                    f.linearization,
                ]);
                out.extend_from_slice(&f.conv.encode_factors(
                    f.tolerance,
                    f.accuracy,
                    f.accuracy_exp,
                    f.direction,
                ));
                let t = f.thresholds;
                out.extend_from_slice(&[
                    f.analog_flags,
                    f.nominal,
                    f.normal_max,
                    f.normal_min,
                    f.max_reading,
                    f.min_reading,
                    t[5],
                    t[4],
                    t[3],
                    t[2],
                    t[1],
                    t[0],
                    f.hysteresis_pos,
                    f.hysteresis_neg,
                    0,
                    0,
                    f.oem,
                ]);
                f.id.write(&mut out);
            }
            Record::Compact(c) => {
                c.key.write(&mut out);
                out.extend_from_slice(&[
                    c.units.units1(),
                    c.units.base,
                    c.units.modifier,
                    c.sharing[0],
                    c.sharing[1],
                    c.hysteresis_pos,
                    c.hysteresis_neg,
                    0,
                    0,
                    0,
                    c.oem,
                ]);
                c.id.write(&mut out);
            }
            Record::FruLocator(l) => {
                out.extend_from_slice(&[
                    l.access_address,
                    l.fru_device_id,
                    l.access,
                    l.channel,
                    0,
                    l.device_type,
                    l.device_type_modifier,
                    l.entity_id,
                    l.entity_instance,
                    l.oem,
                ]);
                l.id.write(&mut out);
            }
            Record::McLocator(l) => {
                out.extend_from_slice(&[
                    l.slave_address,
                    l.channel,
                    l.power_state,
                    l.capabilities,
                    0,
                    0,
                    0,
                    l.entity_id,
                    l.entity_instance,
                    l.oem,
                ]);
                l.id.write(&mut out);
            }
            Record::Other { body, .. } => out.extend_from_slice(&body[..body.len().min(255)]),
        }
        out[4] = (out.len() - 5).min(255) as u8;
        out
    }

    /// Reads a record (bytes after the stated length are ignored).
    pub fn decode(b: &[u8]) -> Result<Sdr, DecodeError> {
        let need = |n: usize| -> Result<(), DecodeError> {
            if b.len() < n {
                Err(DecodeError::Short {
                    need: n,
                    got: b.len(),
                })
            } else {
                Ok(())
            }
        };
        need(5)?;
        let len = 5 + usize::from(b[4]);
        need(len)?;
        let b = &b[..len];
        // From here on a record's own length bounds it (not the buffer it came in).
        let need = |n: usize| -> Result<(), DecodeError> {
            if b.len() < n {
                Err(DecodeError::Short {
                    need: n,
                    got: b.len(),
                })
            } else {
                Ok(())
            }
        };
        let id = u16::from_le_bytes([b[0], b[1]]);
        let record = match b[3] {
            kind::FULL => {
                need(48)?;
                let (conv, (tolerance, accuracy, accuracy_exp, direction)) = Linear::decode_factors(
                    &[b[24], b[25], b[26], b[27], b[28], b[29]],
                    AnalogFormat::from_bits(b[20] >> 6),
                );
                Record::Full(FullSensor {
                    key: SensorKey::read(b),
                    units: Units::from_bytes(b[20], b[21], b[22]),
                    linearization: b[23],
                    conv,
                    tolerance,
                    accuracy,
                    accuracy_exp,
                    direction,
                    analog_flags: b[30],
                    nominal: b[31],
                    normal_max: b[32],
                    normal_min: b[33],
                    max_reading: b[34],
                    min_reading: b[35],
                    thresholds: [b[41], b[40], b[39], b[38], b[37], b[36]],
                    hysteresis_pos: b[42],
                    hysteresis_neg: b[43],
                    oem: b[46],
                    id: IdString::read(b, 47)?,
                })
            }
            kind::COMPACT => {
                need(32)?;
                Record::Compact(CompactSensor {
                    key: SensorKey::read(b),
                    units: Units::from_bytes(b[20], b[21], b[22]),
                    sharing: [b[23], b[24]],
                    hysteresis_pos: b[25],
                    hysteresis_neg: b[26],
                    oem: b[30],
                    id: IdString::read(b, 31)?,
                })
            }
            kind::FRU_LOCATOR => {
                need(16)?;
                Record::FruLocator(FruLocator {
                    access_address: b[5],
                    fru_device_id: b[6],
                    access: b[7],
                    channel: b[8],
                    device_type: b[10],
                    device_type_modifier: b[11],
                    entity_id: b[12],
                    entity_instance: b[13],
                    oem: b[14],
                    id: IdString::read(b, 15)?,
                })
            }
            kind::MC_LOCATOR => {
                need(16)?;
                Record::McLocator(McLocator {
                    slave_address: b[5],
                    channel: b[6],
                    power_state: b[7],
                    capabilities: b[8],
                    entity_id: b[12],
                    entity_instance: b[13],
                    oem: b[14],
                    id: IdString::read(b, 15)?,
                })
            }
            t => Record::Other {
                record_type: t,
                body: b[5..].to_vec(),
            },
        };
        Ok(Sdr {
            id,
            version: b[2],
            record,
        })
    }
}

/// The Get SDR Repository Info answer (33.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RepositoryInfo {
    /// SDR version (0x51).
    pub version: u8,
    /// Number of records.
    pub count: u16,
    /// Free space in bytes (0xFFFF unspecified).
    pub free: u16,
    /// Most recent addition (Unix seconds).
    pub last_add: u32,
    /// Most recent erase.
    pub last_erase: u32,
    /// Operation support (bit 7 overflow, bits 6:5 update modes, 3 delete, 2 partial
    /// add, 1 reserve, 0 get allocation info).
    pub support: u8,
}

impl RepositoryInfo {
    /// The 14 response bytes after the completion code.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.version];
        v.extend_from_slice(&self.count.to_le_bytes());
        v.extend_from_slice(&self.free.to_le_bytes());
        v.extend_from_slice(&self.last_add.to_le_bytes());
        v.extend_from_slice(&self.last_erase.to_le_bytes());
        v.push(self.support);
        v
    }

    /// Reads the response bytes.
    pub fn decode(b: &[u8]) -> Result<RepositoryInfo, DecodeError> {
        if b.len() < 14 {
            return Err(DecodeError::Short {
                need: 14,
                got: b.len(),
            });
        }
        Ok(RepositoryInfo {
            version: b[0],
            count: u16::from_le_bytes([b[1], b[2]]),
            free: u16::from_le_bytes([b[3], b[4]]),
            last_add: u32::from_le_bytes([b[5], b[6], b[7], b[8]]),
            last_erase: u32::from_le_bytes([b[9], b[10], b[11], b[12]]),
            support: b[13],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn full_record_layout_by_hand() {
        let f = FullSensor {
            key: SensorKey {
                owner_id: 0x20,
                owner_lun: 0,
                number: 0x30,
                entity_id: 0x03,
                entity_instance: 1,
                init: 0x7F,
                capabilities: 0x55,
                sensor_type: 0x01,
                event_reading_type: 0x01,
                assertion_mask: 0x7A95,
                deassertion_mask: 0x7A95,
                reading_mask: 0x3838,
            },
            units: Units {
                base: 1,
                ..Default::default()
            },
            conv: Linear::for_resolution(1.0, 0.0),
            thresholds: [0, 0, 0, 85, 95, 100],
            analog_flags: 1,
            nominal: 45,
            id: IdString::ascii("CPU1 Temp"),
            ..Default::default()
        };
        let sdr = Sdr {
            id: 0x0102,
            version: SDR_VERSION,
            record: Record::Full(f),
        };
        let b = sdr.encode();
        assert_eq!(b.len(), 48 + 9);
        assert_eq!(&b[..5], &[0x02, 0x01, 0x51, 0x01, 43 + 9]);
        assert_eq!(b[7], 0x30);
        assert_eq!(b[12], 0x01);
        assert_eq!(&b[18..20], &[0x38, 0x38]);
        assert_eq!(b[21], 1);
        assert_eq!(b[24], 1); // M = 1
        assert_eq!(b[29], 0x00); // Rexp 0, Bexp 0
        // UNR, UC, UNC, LNR, LC, LNC
        assert_eq!(&b[36..42], &[100, 95, 85, 0, 0, 0]);
        assert_eq!(b[47], 0xC9);
        assert_eq!(&b[48..], b"CPU1 Temp");
        let back = Sdr::decode(&b).unwrap();
        assert_eq!(back, sdr);
        let Record::Full(f) = &back.record else {
            panic!()
        };
        assert_eq!(f.threshold_value(4), Some(95.0));
        assert_eq!(f.threshold_value(0), None);
    }

    #[test]
    fn locators_by_hand() {
        let mc = Sdr {
            id: 1,
            version: SDR_VERSION,
            record: Record::McLocator(McLocator {
                slave_address: 0x20,
                capabilities: 0xAF,
                entity_id: 0x06,
                entity_instance: 1,
                id: IdString::ascii("BMC"),
                ..Default::default()
            }),
        };
        let b = mc.encode();
        assert_eq!(
            b,
            [
                1, 0, 0x51, 0x12, 14, 0x20, 0, 0, 0xAF, 0, 0, 0, 6, 1, 0, 0xC3, b'B', b'M', b'C'
            ]
        );
        assert_eq!(Sdr::decode(&b).unwrap(), mc);
        assert_eq!(mc.record.id_string().unwrap().text(), "BMC");
    }

    fn arb_key() -> impl Strategy<Value = SensorKey> {
        (any::<[u8; 9]>(), any::<[u16; 3]>()).prop_map(|(a, m)| SensorKey {
            owner_id: a[0],
            owner_lun: a[1],
            number: a[2],
            entity_id: a[3],
            entity_instance: a[4],
            init: a[5],
            capabilities: a[6],
            sensor_type: a[7],
            event_reading_type: a[8],
            assertion_mask: m[0],
            deassertion_mask: m[1],
            reading_mask: m[2],
        })
    }

    fn arb_id() -> impl Strategy<Value = IdString> {
        (0u8..4, proptest::collection::vec(any::<u8>(), 0..=16))
            .prop_map(|(kind, bytes)| IdString { kind, bytes })
    }

    proptest! {
        #[test]
        fn full_round_trip(key in arb_key(), id in arb_id(), raw in any::<[u8; 16]>(),
                           m in -512i16..=511, b in -512i16..=511, be in -8i8..=7, re in -8i8..=7,
                           fmt in 0u8..4, acc in 0u16..1024) {
            let format = AnalogFormat::from_bits(fmt);
            let f = FullSensor {
                key,
                units: Units { format, rate: raw[0] & 7, modifier_use: raw[1] & 3, percentage: raw[2] & 1 == 1, base: raw[3], modifier: raw[4] },
                linearization: raw[5],
                conv: Linear { m, b, b_exp: be, r_exp: re, format },
                tolerance: raw[6] & 0x3F,
                accuracy: acc,
                accuracy_exp: raw[7] & 3,
                direction: raw[8] & 3,
                analog_flags: raw[9],
                nominal: raw[10],
                normal_max: raw[11],
                normal_min: raw[12],
                max_reading: raw[13],
                min_reading: raw[14],
                thresholds: [raw[0], raw[1], raw[2], raw[3], raw[4], raw[5]],
                hysteresis_pos: raw[15],
                hysteresis_neg: raw[6],
                oem: raw[7],
                id,
            };
            let sdr = Sdr { id: u16::from(raw[8]) << 8 | u16::from(raw[9]), version: SDR_VERSION, record: Record::Full(f) };
            prop_assert_eq!(Sdr::decode(&sdr.encode()).unwrap(), sdr);
        }

        #[test]
        fn compact_and_fru_round_trip(key in arb_key(), id in arb_id(), raw in any::<[u8; 12]>()) {
            let c = Sdr { id: 7, version: SDR_VERSION, record: Record::Compact(CompactSensor {
                key, units: Units { base: raw[0], modifier: raw[1], ..Default::default() },
                sharing: [raw[2], raw[3]], hysteresis_pos: raw[4], hysteresis_neg: raw[5], oem: raw[6], id: id.clone() }) };
            prop_assert_eq!(Sdr::decode(&c.encode()).unwrap(), c);
            let l = Sdr { id: 8, version: SDR_VERSION, record: Record::FruLocator(FruLocator {
                access_address: raw[0], fru_device_id: raw[1], access: raw[2], channel: raw[3], device_type: raw[4],
                device_type_modifier: raw[5], entity_id: raw[6], entity_instance: raw[7], oem: raw[8], id }) };
            prop_assert_eq!(Sdr::decode(&l.encode()).unwrap(), l);
        }

        #[test]
        fn a_short_record_in_a_longer_buffer_is_refused(kind in prop::sample::select(vec![0x01u8, 0x02, 0x11, 0x12]), len in 0u8..11, tail in proptest::collection::vec(any::<u8>(), 60)) {
            // The record's length byte says it is shorter than its type needs; the bytes
            // after it belong to the next record and must not be read.
            let mut b = vec![1, 0, 0x51, kind, len];
            b.extend(tail);
            prop_assert!(Sdr::decode(&b).is_err());
        }

        #[test]
        fn decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Sdr::decode(&b);
            let _ = RepositoryInfo::decode(&b);
        }

        #[test]
        fn repository_info_round_trip(v: u8, c: u16, f: u16, a: u32, e: u32, s: u8) {
            let i = RepositoryInfo { version: v, count: c, free: f, last_add: a, last_erase: e, support: s };
            prop_assert_eq!(RepositoryInfo::decode(&i.encode()).unwrap(), i);
        }
    }
}
