//! FRU inventory (IPMI Platform Management FRU Information Storage Definition v1.0):
//! the common header, the chassis, board and product info areas, type/length-encoded
//! fields and zero-sum checksums; encoded and decoded.
//!
//! Layout: an 8-byte common header (format version 1; offsets of the internal-use,
//! chassis, board, product and multi-record areas in 8-byte units, 0 for none; a pad
//! byte; the checksum), then each area: version 1, its length in 8-byte units, the
//! fixed fields, type/length fields, the end marker 0xC1, zero padding and a checksum
//! that makes the area sum to zero. A type/length byte has the type in bits 7:6 (00
//! binary, 01 BCD plus, 10 6-bit packed ASCII, 11 8-bit ASCII + Latin 1 in English)
//! and the byte count in bits 5:0.
//!
//! The encoder writes 8-bit ASCII fields; a one-byte string would read as 0xC1, the end
//! marker, so [`Field::ascii`] pads it with a space to two bytes (the decoder reports
//! what is on the wire). Internal-use and multi-record areas are neither written nor
//! parsed (their offsets are reported).

use crate::cmd::DecodeError;

/// The longest field a type/length byte can carry.
pub const MAX_FIELD_LEN: usize = 63;

/// The zero-sum checksum of some bytes (what makes their sum 0 modulo 256).
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |a, b| a.wrapping_add(*b))
        .wrapping_neg()
}

/// Text of a type/length-encoded value: `kind` is the two type bits.
pub fn decode_text(kind: u8, bytes: &[u8]) -> String {
    match kind & 3 {
        0 => {
            if bytes.iter().all(|b| (0x20..0x7F).contains(b)) {
                bytes.iter().map(|&b| char::from(b)).collect()
            } else {
                bytes
                    .iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        }
        1 => bytes
            .iter()
            .flat_map(|b| [b & 0x0F, b >> 4])
            .map(|n| match n {
                0..=9 => char::from(b'0' + n),
                0xA => ' ',
                0xB => '-',
                0xC => '.',
                _ => '?',
            })
            .collect(),
        2 => {
            let n = bytes.len() * 8 / 6;
            (0..n)
                .map(|i| {
                    let bit = i * 6;
                    let lo = u16::from(bytes[bit / 8]);
                    let hi = bytes.get(bit / 8 + 1).map_or(0, |&b| u16::from(b));
                    let v = ((lo | (hi << 8)) >> (bit % 8)) & 0x3F;
                    char::from(0x20 + v as u8)
                })
                .collect()
        }
        _ => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Packs text as 6-bit ASCII (characters 0x20..=0x5F; others become `?`).
pub fn pack_six_bit(s: &str) -> Vec<u8> {
    let vals: Vec<u8> = s
        .bytes()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if (0x20..=0x5F).contains(&c) {
                c - 0x20
            } else {
                b'?' - 0x20
            }
        })
        .collect();
    let mut out = vec![0u8; (vals.len() * 6).div_ceil(8)];
    for (i, v) in vals.iter().enumerate() {
        let bit = i * 6;
        let w = u16::from(*v) << (bit % 8);
        out[bit / 8] |= (w & 0xFF) as u8;
        if w > 0xFF {
            if let Some(b) = out.get_mut(bit / 8 + 1) {
                *b |= (w >> 8) as u8;
            }
        }
    }
    out
}

/// One type/length-encoded field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Field {
    /// The type bits (0 binary, 1 BCD plus, 2 6-bit ASCII, 3 8-bit ASCII).
    pub kind: u8,
    /// The bytes (at most 63).
    pub bytes: Vec<u8>,
}

impl Field {
    /// An 8-bit ASCII field (cut to 63 bytes; one byte padded with a space).
    pub fn ascii(s: &str) -> Field {
        let b = s.as_bytes();
        let mut bytes = b[..b.len().min(MAX_FIELD_LEN)].to_vec();
        if bytes.len() == 1 {
            bytes.push(b' ');
        }
        Field { kind: 3, bytes }
    }

    /// The field as text.
    pub fn text(&self) -> String {
        decode_text(self.kind, &self.bytes)
    }

    fn write(&self, out: &mut Vec<u8>) {
        let n = self.bytes.len().min(MAX_FIELD_LEN);
        out.push((self.kind << 6) | n as u8);
        out.extend_from_slice(&self.bytes[..n]);
    }
}

/// Chassis info area.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ChassisInfo {
    /// SMBIOS chassis type.
    pub chassis_type: u8,
    /// Part number.
    pub part_number: Field,
    /// Serial number.
    pub serial_number: Field,
    /// Custom fields.
    pub custom: Vec<Field>,
}

/// Board info area.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct BoardInfo {
    /// Language code (0 English).
    pub language: u8,
    /// Manufacturing date/time: minutes since 1996-01-01 00:00 (24 bits).
    pub mfg_minutes: u32,
    /// Manufacturer.
    pub manufacturer: Field,
    /// Product name.
    pub product_name: Field,
    /// Serial number.
    pub serial_number: Field,
    /// Part number.
    pub part_number: Field,
    /// FRU file ID.
    pub fru_file_id: Field,
    /// Custom fields.
    pub custom: Vec<Field>,
}

/// Product info area.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ProductInfo {
    /// Language code.
    pub language: u8,
    /// Manufacturer name.
    pub manufacturer: Field,
    /// Product name.
    pub name: Field,
    /// Part / model number.
    pub part_number: Field,
    /// Version.
    pub version: Field,
    /// Serial number.
    pub serial_number: Field,
    /// Asset tag.
    pub asset_tag: Field,
    /// FRU file ID.
    pub fru_file_id: Field,
    /// Custom fields.
    pub custom: Vec<Field>,
}

/// A FRU inventory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Inventory {
    /// Chassis info area.
    pub chassis: Option<ChassisInfo>,
    /// Board info area.
    pub board: Option<BoardInfo>,
    /// Product info area.
    pub product: Option<ProductInfo>,
    /// Offset (8-byte units) of an internal-use area, when decoding (not written).
    pub internal_use_offset: u8,
    /// Offset (8-byte units) of the multi-record area, when decoding (not written).
    pub multirecord_offset: u8,
}

fn finish_area(mut area: Vec<u8>) -> Vec<u8> {
    area.push(0xC1);
    while (area.len() + 1) % 8 != 0 {
        area.push(0);
    }
    area[1] = ((area.len() + 1) / 8).min(255) as u8;
    let sum = checksum(&area);
    area.push(sum);
    area
}

impl ChassisInfo {
    fn encode(&self) -> Vec<u8> {
        let mut a = vec![0x01, 0, self.chassis_type];
        self.part_number.write(&mut a);
        self.serial_number.write(&mut a);
        for f in &self.custom {
            f.write(&mut a);
        }
        finish_area(a)
    }
}

impl BoardInfo {
    fn encode(&self) -> Vec<u8> {
        let m = self.mfg_minutes.min(0x00FF_FFFF).to_le_bytes();
        let mut a = vec![0x01, 0, self.language, m[0], m[1], m[2]];
        for f in [
            &self.manufacturer,
            &self.product_name,
            &self.serial_number,
            &self.part_number,
            &self.fru_file_id,
        ] {
            f.write(&mut a);
        }
        for f in &self.custom {
            f.write(&mut a);
        }
        finish_area(a)
    }
}

impl ProductInfo {
    fn encode(&self) -> Vec<u8> {
        let mut a = vec![0x01, 0, self.language];
        for f in [
            &self.manufacturer,
            &self.name,
            &self.part_number,
            &self.version,
            &self.serial_number,
            &self.asset_tag,
            &self.fru_file_id,
        ] {
            f.write(&mut a);
        }
        for f in &self.custom {
            f.write(&mut a);
        }
        finish_area(a)
    }
}

fn invalid(what: &'static str) -> DecodeError {
    DecodeError::Invalid(what)
}

/// Reads the area at `off` (bytes): checks version, length and checksum; returns the
/// area's bytes without the checksum.
fn area<'a>(data: &'a [u8], off: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
    let hdr = data.get(off..off + 2).ok_or(DecodeError::Short {
        need: off + 2,
        got: data.len(),
    })?;
    if hdr[0] & 0x0F != 1 {
        return Err(invalid(what));
    }
    let len = usize::from(hdr[1]) * 8;
    if len < 8 {
        return Err(invalid(what));
    }
    let a = data.get(off..off + len).ok_or(DecodeError::Short {
        need: off + len,
        got: data.len(),
    })?;
    if checksum(a) != 0 {
        return Err(DecodeError::Checksum(what));
    }
    Ok(&a[..len - 1])
}

/// Reads type/length fields from `at` to the end marker.
fn fields(a: &[u8], mut at: usize) -> Result<Vec<Field>, DecodeError> {
    let mut out = Vec::new();
    loop {
        let tl = *a.get(at).ok_or(invalid("FRU area has no end marker"))?;
        if tl == 0xC1 {
            return Ok(out);
        }
        let len = usize::from(tl & 0x3F);
        let bytes = a
            .get(at + 1..at + 1 + len)
            .ok_or(invalid("FRU field runs past its area"))?;
        out.push(Field {
            kind: tl >> 6,
            bytes: bytes.to_vec(),
        });
        at += 1 + len;
    }
}

fn take<const N: usize>(v: &mut Vec<Field>, what: &'static str) -> Result<[Field; N], DecodeError> {
    if v.len() < N {
        return Err(invalid(what));
    }
    let rest = v.split_off(N);
    let first = std::mem::replace(v, rest);
    first.try_into().map_err(|_| invalid(what))
}

impl Inventory {
    /// Encodes the inventory: common header, then chassis, board and product areas.
    pub fn encode(&self) -> Vec<u8> {
        let chassis = self.chassis.as_ref().map(ChassisInfo::encode);
        let board = self.board.as_ref().map(BoardInfo::encode);
        let product = self.product.as_ref().map(ProductInfo::encode);
        let mut next = 1usize;
        let mut offsets = [0u8; 3];
        for (o, a) in offsets.iter_mut().zip([&chassis, &board, &product]) {
            if let Some(a) = a {
                *o = next.min(255) as u8;
                next += a.len() / 8;
            }
        }
        let mut out = vec![0x01, 0x00, offsets[0], offsets[1], offsets[2], 0x00, 0x00];
        let sum = checksum(&out);
        out.push(sum);
        for a in [chassis, board, product].into_iter().flatten() {
            out.extend_from_slice(&a);
        }
        out
    }

    /// Decodes an inventory (checksums verified).
    pub fn decode(data: &[u8]) -> Result<Inventory, DecodeError> {
        let h = data.get(..8).ok_or(DecodeError::Short {
            need: 8,
            got: data.len(),
        })?;
        if h[0] & 0x0F != 1 {
            return Err(invalid("FRU common header format version is not 1"));
        }
        if checksum(h) != 0 {
            return Err(DecodeError::Checksum("FRU common header"));
        }
        let mut inv = Inventory {
            internal_use_offset: h[1],
            multirecord_offset: h[5],
            ..Inventory::default()
        };
        if h[2] != 0 {
            let a = area(data, usize::from(h[2]) * 8, "FRU chassis area")?;
            let ty = *a.get(2).ok_or(invalid("FRU chassis area"))?;
            let mut f = fields(a, 3)?;
            let [part_number, serial_number] = take(&mut f, "FRU chassis area fields")?;
            inv.chassis = Some(ChassisInfo {
                chassis_type: ty,
                part_number,
                serial_number,
                custom: f,
            });
        }
        if h[3] != 0 {
            let a = area(data, usize::from(h[3]) * 8, "FRU board area")?;
            let fixed = a.get(2..6).ok_or(invalid("FRU board area"))?;
            let mut f = fields(a, 6)?;
            let [
                manufacturer,
                product_name,
                serial_number,
                part_number,
                fru_file_id,
            ] = take(&mut f, "FRU board area fields")?;
            inv.board = Some(BoardInfo {
                language: fixed[0],
                mfg_minutes: u32::from_le_bytes([fixed[1], fixed[2], fixed[3], 0]),
                manufacturer,
                product_name,
                serial_number,
                part_number,
                fru_file_id,
                custom: f,
            });
        }
        if h[4] != 0 {
            let a = area(data, usize::from(h[4]) * 8, "FRU product area")?;
            let language = *a.get(2).ok_or(invalid("FRU product area"))?;
            let mut f = fields(a, 3)?;
            let [
                manufacturer,
                name,
                part_number,
                version,
                serial_number,
                asset_tag,
                fru_file_id,
            ] = take(&mut f, "FRU product area fields")?;
            inv.product = Some(ProductInfo {
                language,
                manufacturer,
                name,
                part_number,
                version,
                serial_number,
                asset_tag,
                fru_file_id,
                custom: f,
            });
        }
        Ok(inv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_types() {
        assert_eq!(decode_text(1, &[0x21, 0xB3]), "123-");
        // "IPMI" in 6-bit packed ASCII: I=0x29, P=0x30, M=0x2D, I=0x29.
        let packed = pack_six_bit("IPMI");
        assert_eq!(packed, vec![0x29, 0xDC, 0xA6]);
        assert_eq!(decode_text(2, &packed), "IPMI");
        assert_eq!(decode_text(3, b"abc"), "abc");
        assert_eq!(decode_text(0, &[1, 2]), "01 02");
    }

    #[test]
    fn small_inventory_by_hand() {
        let inv = Inventory {
            chassis: Some(ChassisInfo {
                chassis_type: 0x17,
                part_number: Field::ascii("AB"),
                serial_number: Field::ascii("X"),
                custom: vec![],
            }),
            ..Default::default()
        };
        let b = inv.encode();
        // header: version 1, chassis at offset 1 (8 bytes), no others, checksum.
        assert_eq!(&b[..8], &[1, 0, 1, 0, 0, 0, 0, 0xFE]);
        // chassis area: 01 len 17 C2 'A' 'B' C2 'X' ' ' C1 pad.. checksum, 16 bytes.
        assert_eq!(b.len(), 8 + 16);
        assert_eq!(
            &b[8..19],
            &[1, 2, 0x17, 0xC2, b'A', b'B', 0xC2, b'X', b' ', 0xC1, 0]
        );
        assert_eq!(checksum(&b[8..24]), 0);
        let back = Inventory::decode(&b).unwrap();
        assert_eq!(back, inv);
        let mut bad = b.clone();
        bad[12] ^= 1;
        assert_eq!(
            Inventory::decode(&bad),
            Err(DecodeError::Checksum("FRU chassis area"))
        );
    }

    fn arb_field() -> impl Strategy<Value = Field> {
        "[ -~]{0,63}".prop_map(|s| Field::ascii(&s))
    }

    proptest! {
        #[test]
        fn inventory_round_trip(f in proptest::collection::vec(arb_field(), 14), ty: u8, minutes in 0u32..0x100_0000,
                                custom in proptest::collection::vec(arb_field(), 0..3), which in 0u8..8) {
            let inv = Inventory {
                chassis: (which & 1 != 0).then(|| ChassisInfo { chassis_type: ty, part_number: f[0].clone(), serial_number: f[1].clone(), custom: custom.clone() }),
                board: (which & 2 != 0).then(|| BoardInfo { language: 0, mfg_minutes: minutes, manufacturer: f[2].clone(), product_name: f[3].clone(),
                    serial_number: f[4].clone(), part_number: f[5].clone(), fru_file_id: f[6].clone(), custom: custom.clone() }),
                product: (which & 4 != 0).then(|| ProductInfo { language: 0, manufacturer: f[7].clone(), name: f[8].clone(), part_number: f[9].clone(),
                    version: f[10].clone(), serial_number: f[11].clone(), asset_tag: f[12].clone(), fru_file_id: f[13].clone(), custom }),
                ..Default::default()
            };
            prop_assert_eq!(Inventory::decode(&inv.encode()).unwrap(), inv);
        }

        #[test]
        fn six_bit_round_trip(s in "[ -_]{0,40}") {
            let packed = pack_six_bit(&s);
            let text = decode_text(2, &packed);
            prop_assert!(text.starts_with(&s));
        }

        #[test]
        fn decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Inventory::decode(&b);
        }
    }
}
