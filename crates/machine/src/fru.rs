//! FRU inventory: the spec's chassis, board and product areas, and their encoding in
//! the IPMI Platform Management FRU Information Storage Definition v1.0 binary format
//! (common header, then chassis, board and product info areas, each a multiple of 8
//! bytes ending in a zero-sum checksum; fields are type/length bytes followed by data).
//!
//! Strings are encoded as 8-bit ASCII (type/length `0xC0 | len`, at most 63 bytes;
//! longer strings are cut, and [`crate::MachineSpec::validate`] refuses them). A
//! one-byte string would encode as `0xC1`, the end-of-fields marker, so it is padded
//! with a space to two bytes.

use serde::{Deserialize, Serialize};

/// The FRU inventory of the machine (`[machine.fru]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FruSpec {
    /// Chassis info area (`[machine.fru.chassis]`).
    pub chassis: ChassisArea,
    /// Board info area (`[machine.fru.board]`).
    pub board: BoardArea,
    /// Product info area (`[machine.fru.product]`).
    pub product: ProductArea,
}

/// Chassis info area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChassisArea {
    /// SMBIOS chassis type (0x17 rack mount chassis).
    pub chassis_type: u8,
    /// Chassis part number.
    pub part_number: String,
    /// Chassis serial number.
    pub serial_number: String,
    /// Custom fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
}

/// Board info area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BoardArea {
    /// Manufacturing date and time, minutes since 1996-01-01 00:00 (24 bits).
    pub mfg_date_minutes: u32,
    /// Board manufacturer.
    pub manufacturer: String,
    /// Board product name.
    pub product_name: String,
    /// Board serial number.
    pub serial_number: String,
    /// Board part number.
    pub part_number: String,
    /// FRU file id.
    pub fru_file_id: String,
    /// Custom fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
}

/// Product info area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProductArea {
    /// Manufacturer name.
    pub manufacturer: String,
    /// Product name.
    pub name: String,
    /// Part / model number.
    pub part_number: String,
    /// Product version.
    pub version: String,
    /// Product serial number.
    pub serial_number: String,
    /// Asset tag.
    pub asset_tag: String,
    /// FRU file id.
    pub fru_file_id: String,
    /// Custom fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
}

impl Default for FruSpec {
    fn default() -> FruSpec {
        FruSpec {
            chassis: ChassisArea {
                chassis_type: 0x17,
                part_number: "TS-CH-2U-01".into(),
                serial_number: "TSCH000001".into(),
                extra: Vec::new(),
            },
            board: BoardArea {
                // 2025-06-02 08:00 UTC.
                mfg_date_minutes: 15_473_280,
                manufacturer: "Touchstone".into(),
                product_name: "TS-MB-1000".into(),
                serial_number: "TSMB000001".into(),
                part_number: "TS-MB-1000-A1".into(),
                fru_file_id: String::new(),
                extra: Vec::new(),
            },
            product: ProductArea {
                manufacturer: "Touchstone".into(),
                name: "Touchstone Simulated Server".into(),
                part_number: "TS-1000".into(),
                version: "A1".into(),
                serial_number: "TS0000001".into(),
                asset_tag: "ASSET-0001".into(),
                fru_file_id: String::new(),
                extra: Vec::new(),
            },
        }
    }
}

impl Default for ChassisArea {
    fn default() -> Self {
        FruSpec::default().chassis
    }
}

impl Default for BoardArea {
    fn default() -> Self {
        FruSpec::default().board
    }
}

impl Default for ProductArea {
    fn default() -> Self {
        FruSpec::default().product
    }
}

/// The longest string a type/length byte can carry.
pub const MAX_FIELD_LEN: usize = 63;

/// The language code written in board and product areas (0 = English).
const LANGUAGE_ENGLISH: u8 = 0;

impl FruSpec {
    /// The inventory as the `ipmi` crate's FRU type (8-bit ASCII fields).
    pub fn to_inventory(&self) -> ipmi::fru::Inventory {
        use ipmi::fru::{BoardInfo, ChassisInfo, Field, Inventory, ProductInfo};
        let f = |s: &String| Field::ascii(s);
        let all = |v: &Vec<String>| v.iter().map(|s| Field::ascii(s)).collect();
        let (c, b, p) = (&self.chassis, &self.board, &self.product);
        Inventory {
            chassis: Some(ChassisInfo {
                chassis_type: c.chassis_type,
                part_number: f(&c.part_number),
                serial_number: f(&c.serial_number),
                custom: all(&c.extra),
            }),
            board: Some(BoardInfo {
                language: LANGUAGE_ENGLISH,
                mfg_minutes: b.mfg_date_minutes.min(0x00FF_FFFF),
                manufacturer: f(&b.manufacturer),
                product_name: f(&b.product_name),
                serial_number: f(&b.serial_number),
                part_number: f(&b.part_number),
                fru_file_id: f(&b.fru_file_id),
                custom: all(&b.extra),
            }),
            product: Some(ProductInfo {
                language: LANGUAGE_ENGLISH,
                manufacturer: f(&p.manufacturer),
                name: f(&p.name),
                part_number: f(&p.part_number),
                version: f(&p.version),
                serial_number: f(&p.serial_number),
                asset_tag: f(&p.asset_tag),
                fru_file_id: f(&p.fru_file_id),
                custom: all(&p.extra),
            }),
            ..Default::default()
        }
    }
}

/// Encodes the FRU inventory (with [`ipmi::fru::Inventory::encode`]): an 8-byte common
/// header (format version 1, offsets in 8-byte units, no internal-use or multi-record
/// area) followed by the chassis, board and product areas.
pub fn encode(spec: &FruSpec) -> Vec<u8> {
    spec.to_inventory().encode()
}

/// Checks a string for a FRU field: ASCII, at most [`MAX_FIELD_LEN`] bytes.
pub(crate) fn check_field(s: &str) -> Result<(), String> {
    if !s.is_ascii() {
        return Err("is not ASCII".into());
    }
    if s.len() > MAX_FIELD_LEN {
        return Err(format!(
            "is {} bytes long; a FRU field holds at most {MAX_FIELD_LEN}",
            s.len()
        ));
    }
    Ok(())
}

impl FruSpec {
    /// Every string field with its name (`board.manufacturer`), for validation.
    pub(crate) fn fields(&self) -> Vec<(String, &str)> {
        let c = &self.chassis;
        let b = &self.board;
        let p = &self.product;
        let mut v: Vec<(String, &str)> = vec![
            ("chassis.part_number".into(), &c.part_number),
            ("chassis.serial_number".into(), &c.serial_number),
            ("board.manufacturer".into(), &b.manufacturer),
            ("board.product_name".into(), &b.product_name),
            ("board.serial_number".into(), &b.serial_number),
            ("board.part_number".into(), &b.part_number),
            ("board.fru_file_id".into(), &b.fru_file_id),
            ("product.manufacturer".into(), &p.manufacturer),
            ("product.name".into(), &p.name),
            ("product.part_number".into(), &p.part_number),
            ("product.version".into(), &p.version),
            ("product.serial_number".into(), &p.serial_number),
            ("product.asset_tag".into(), &p.asset_tag),
            ("product.fru_file_id".into(), &p.fru_file_id),
        ];
        for (area, extra) in [
            ("chassis", &c.extra),
            ("board", &b.extra),
            ("product", &p.extra),
        ] {
            for (i, e) in extra.iter().enumerate() {
                v.push((format!("{area}.extra[{i}]"), e));
            }
        }
        v
    }
}
