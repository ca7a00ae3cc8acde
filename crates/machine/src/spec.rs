//! The machine spec: the `[machine]` table of a scenario file, as plain serde types.
//!
//! Every section has a default, that of the embedded default server
//! ([`MachineSpec::default`]): a field or section a scenario leaves out keeps the default
//! server's value, and a list the scenario gives (`[[machine.sensors]]`, ...) replaces
//! the default list as a whole. Unknown fields are errors, so a typo never silently
//! falls back to a default. [`MachineSpec::validate`] checks what serde cannot (unique
//! ids, ordered thresholds, ...) and names the offending item in its error.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::command::CommandSpec;
use crate::fru::{self, FruSpec};
use crate::power::PowerSpec;
use crate::script;
use crate::sel::{EventDirection, SelFullPolicy};
use crate::sensor::{self, RandomWalkSpec, SensorType, Thresholds, Unit};

/// The simulated machine (`[machine]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MachineSpec {
    /// SEL capacity in entries (1..=4095; IPMI reports free space in 16-byte units in a
    /// u16).
    pub sel_capacity: u16,
    /// What a full SEL does with a new entry.
    pub sel_full: SelFullPolicy,
    /// Unix time of the mock's start as the SEL clock sees it: an entry added at `now`
    /// is stamped `sel_epoch + now / 1000` (default 2026-01-01T00:00:00Z).
    pub sel_epoch: u32,
    /// Identity (`[machine.identity]`).
    pub identity: Identity,
    /// Power (`[machine.power]`).
    pub power: PowerSpec,
    /// FRU inventory (`[machine.fru]`).
    pub fru: FruSpec,
    /// Numeric (threshold) sensors (`[[machine.sensors]]`).
    pub sensors: Vec<SensorSpec>,
    /// Discrete sensors (`[[machine.discrete_sensors]]`).
    pub discrete_sensors: Vec<DiscreteSensorSpec>,
    /// Initial SEL entries (`[[machine.sel]]`), oldest first.
    pub sel: Vec<SelEntrySpec>,
    /// Users (`[[machine.users]]`).
    pub users: Vec<User>,
    /// Remote-shell command table (`[[machine.commands]]`), first match wins.
    pub commands: Vec<CommandSpec>,
    /// PowerShell script table (`[[machine.scripts]]`): matched against the script of
    /// a `powershell -EncodedCommand` command line, first match wins (`echo_stdin` and
    /// `repeat` do not apply).
    pub scripts: Vec<CommandSpec>,
    /// PowerShell Remoting cmdlet table (`[[machine.cmdlets]]`), first match wins,
    /// before the built-ins.
    pub cmdlets: Vec<crate::cmdlet::CmdletSpec>,
    /// PowerShell session configurations besides `Microsoft.PowerShell`
    /// (`[[machine.session_configurations]]`).
    pub session_configurations: Vec<crate::cmdlet::SessionConfigSpec>,
    /// Extra CIM instances (`[[machine.instances]]`).
    pub instances: Vec<InstanceSpec>,
    /// The scripted Serial over LAN console (`[machine.sol]`).
    pub sol: crate::ipmi::SolSpec,
}

/// Who the machine is (`[machine.identity]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Identity {
    /// Manufacturer.
    pub vendor: String,
    /// Model.
    pub model: String,
    /// Product name.
    pub product_name: String,
    /// System serial number.
    pub serial_number: String,
    /// Asset tag.
    pub asset_tag: String,
    /// System GUID, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex).
    pub guid: String,
    /// Host name (also the CIM `Name` of the computer system).
    pub hostname: String,
    /// BIOS / system firmware version.
    pub firmware_version: String,
    /// BMC firmware version.
    pub bmc_firmware_version: String,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            vendor: "Touchstone".into(),
            model: "TS-1000".into(),
            product_name: "Touchstone Simulated Server".into(),
            serial_number: "TS0000001".into(),
            asset_tag: "ASSET-0001".into(),
            guid: "5a1d0c6e-3e2b-4f5a-9b7c-2d1e0f3a4b5c".into(),
            hostname: "touchstone-sim".into(),
            firmware_version: "1.4.2".into(),
            bmc_firmware_version: "2.10.0".into(),
        }
    }
}

/// A numeric (threshold-based) sensor (`[[machine.sensors]]`).
///
/// Its value comes from at most one source: `constant`, `sequence` (with `step_ms`),
/// `random_walk` or `expr`; with none, it reads its `nominal` (or 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorSpec {
    /// Unique id (also the CIM `DeviceID`).
    pub id: String,
    /// Display name: the SDR id string and CIM `ElementName` (ASCII, at most 16 bytes);
    /// the id when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// What it measures.
    #[serde(rename = "type")]
    pub sensor_type: SensorType,
    /// Its unit; the type's usual unit when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Unit>,
    /// Thresholds (`thresholds = { upper_critical = 85.0, ... }`).
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Nominal reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nominal: Option<f64>,
    /// Lowest readable value; `offset` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_readable: Option<f64>,
    /// Highest readable value; `offset + 255 * resolution` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_readable: Option<f64>,
    /// Units per raw count (SDR M), > 0.
    #[serde(default = "one")]
    pub resolution: f64,
    /// Value of raw 0 (SDR B): `raw = round((value - offset) / resolution)` must fit a
    /// byte for thresholds, nominal and the readable range.
    #[serde(default)]
    pub offset: f64,
    /// IPMI sensor number (unique; the lowest free number from 1 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor_number: Option<u8>,
    /// IPMI entity id; from the type when absent (see
    /// [`SensorType::default_entity_id`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<u8>,
    /// IPMI entity instance.
    #[serde(default = "one_u8")]
    pub entity_instance: u8,
    /// Source: a constant value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant: Option<f64>,
    /// Source: values cycled through, `sequence[(t / step_ms) % len]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<Vec<f64>>,
    /// Milliseconds per `sequence` value (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_ms: Option<u64>,
    /// Source: a seeded random walk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_walk: Option<RandomWalkSpec>,
    /// Source: a Rhai expression of `t` (seconds since start, f64); also sees `t_ms`
    /// and `nominal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expr: Option<String>,
}

fn one() -> f64 {
    1.0
}

fn one_u8() -> u8 {
    1
}

impl SensorSpec {
    /// A sensor with a constant value and no thresholds.
    pub fn new(id: &str, name: &str, sensor_type: SensorType, value: f64) -> SensorSpec {
        SensorSpec {
            id: id.into(),
            name: name.into(),
            sensor_type,
            units: None,
            thresholds: Thresholds::default(),
            nominal: Some(value),
            min_readable: None,
            max_readable: None,
            resolution: 1.0,
            offset: 0.0,
            sensor_number: None,
            entity_id: None,
            entity_instance: 1,
            constant: Some(value),
            sequence: None,
            step_ms: None,
            random_walk: None,
            expr: None,
        }
    }

    /// The display name (the id when no name is given).
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.id
        } else {
            &self.name
        }
    }

    /// The unit (the type's usual unit when none is given).
    pub fn unit(&self) -> Unit {
        self.units
            .unwrap_or_else(|| self.sensor_type.default_unit())
    }

    /// The entity id (from the type when none is given).
    pub fn entity(&self) -> u8 {
        self.entity_id
            .unwrap_or_else(|| self.sensor_type.default_entity_id())
    }

    /// The lowest readable value.
    pub fn min_readable(&self) -> f64 {
        self.min_readable.unwrap_or(self.offset)
    }

    /// The highest readable value.
    pub fn max_readable(&self) -> f64 {
        self.max_readable
            .unwrap_or(self.offset + 255.0 * self.resolution)
    }
}

/// A discrete sensor (`[[machine.discrete_sensors]]`): a state bit field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscreteSensorSpec {
    /// Unique id (also the CIM `DeviceID`; unique among numeric sensors too).
    pub id: String,
    /// Display name (ASCII, at most 16 bytes); the id when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// What it reports.
    #[serde(rename = "type")]
    pub sensor_type: SensorType,
    /// IPMI sensor number (unique across all sensors; assigned when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor_number: Option<u8>,
    /// IPMI event/reading type code (0x6F sensor-specific, 0x03 digital, 0x08
    /// presence, ...).
    #[serde(default = "sensor_specific")]
    pub event_reading_type: u8,
    /// Initial state bits (bit n = offset n asserted; bits 0..=14).
    #[serde(default)]
    pub state: u16,
    /// Names of the state offsets, bit 0 first (CIM `PossibleStates`).
    #[serde(default)]
    pub states: Vec<String>,
    /// State bits that mean trouble: when one is asserted, CIM `HealthState` is 20
    /// (major failure) and `OperationalStatus` 6 (Error).
    #[serde(default)]
    pub alarm_mask: u16,
    /// IPMI entity id; from the type when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<u8>,
    /// IPMI entity instance.
    #[serde(default = "one_u8")]
    pub entity_instance: u8,
}

fn sensor_specific() -> u8 {
    0x6F
}

impl DiscreteSensorSpec {
    /// The display name (the id when no name is given).
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.id
        } else {
            &self.name
        }
    }

    /// The entity id (from the type when none is given).
    pub fn entity(&self) -> u8 {
        self.entity_id
            .unwrap_or_else(|| self.sensor_type.default_entity_id())
    }
}

/// An initial SEL entry (`[[machine.sel]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelEntrySpec {
    /// Seconds relative to `sel_epoch` (the mock's start); negative is before it.
    #[serde(default)]
    pub offset_s: i64,
    /// The sensor it is about (numeric or discrete id): gives sensor type and number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor: Option<String>,
    /// IPMI sensor type code (overrides the sensor's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor_type: Option<u8>,
    /// Sensor number (overrides the sensor's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor_number: Option<u8>,
    /// Record type (0x02 system event; 0xC0-0xFF OEM).
    #[serde(default = "system_event")]
    pub record_type: u8,
    /// Event/reading type code (0x01 threshold, 0x6F sensor-specific).
    #[serde(default = "sensor_specific")]
    pub event_type: u8,
    /// Assertion or deassertion.
    #[serde(default)]
    pub direction: EventDirection,
    /// Event data 1-3 (missing bytes are 0xFF).
    #[serde(default)]
    pub data: Vec<u8>,
    /// Generator id (0x0020: the BMC).
    #[serde(default = "bmc_generator")]
    pub generator_id: u16,
    /// Description (CIM `Description` of the log record).
    #[serde(default)]
    pub description: String,
}

fn system_event() -> u8 {
    0x02
}

fn bmc_generator() -> u16 {
    0x0020
}

/// A user privilege level (IPMI codes 1-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Privilege {
    /// Callback (1).
    Callback,
    /// User (2).
    User,
    /// Operator (3).
    Operator,
    /// Administrator (4).
    Administrator,
}

impl Privilege {
    /// The IPMI privilege level code.
    pub fn ipmi_code(self) -> u8 {
        match self {
            Privilege::Callback => 1,
            Privilege::User => 2,
            Privilege::Operator => 3,
            Privilege::Administrator => 4,
        }
    }

    /// The privilege for an IPMI code (1-4).
    pub fn from_ipmi(code: u8) -> Option<Privilege> {
        Some(match code {
            1 => Privilege::Callback,
            2 => Privilege::User,
            3 => Privilege::Operator,
            4 => Privilege::Administrator,
            _ => return None,
        })
    }
}

/// A user account (`[[machine.users]]`), for both IPMI and WS-Man.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// IPMI user id, 1..=15, unique.
    pub id: u8,
    /// Login name (at most 16 bytes, unique).
    pub name: String,
    /// Password (at most 20 bytes, the IPMI 2.0 limit).
    pub password: String,
    /// Maximum privilege.
    pub privilege: Privilege,
    /// Whether the account may log in.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// RMCP+ BMC key K_G: `0x` followed by hex, or plain ASCII; at most 20 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipmi_kg: Option<String>,
}

fn yes() -> bool {
    true
}

impl User {
    /// A new enabled user.
    pub fn new(id: u8, name: &str, password: &str, privilege: Privilege) -> User {
        User {
            id,
            name: name.into(),
            password: password.into(),
            privilege,
            enabled: true,
            ipmi_kg: None,
        }
    }

    /// K_G as bytes (hex after `0x`, otherwise the ASCII bytes), if set and valid.
    pub fn kg_bytes(&self) -> Option<Vec<u8>> {
        let kg = self.ipmi_kg.as_deref()?;
        match kg.strip_prefix("0x").or_else(|| kg.strip_prefix("0X")) {
            Some(hex) => parse_hex(hex),
            None => Some(kg.as_bytes().to_vec()),
        }
    }
}

fn parse_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// An extra CIM instance (`[[machine.instances]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    /// The class name (any name, built-in or not).
    pub class: String,
    /// The key property names, in key order (each must be in `properties`). Empty for a
    /// singleton: the one instance of its class, addressed without selectors (as
    /// WinRM's configuration resources are).
    #[serde(default)]
    pub keys: Vec<String>,
    /// The properties (`properties = { InstanceID = "x", EnabledState = 2 }`).
    #[serde(default)]
    pub properties: OrderedMap<PropValue>,
}

/// A property value in the spec: TOML strings, integers, floats, booleans, arrays of
/// those, or a reference `{ class = "...", keys = { Name = "..." } }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PropValue {
    /// A boolean.
    Bool(bool),
    /// An integer (non-negative becomes a CIM unsigned integer).
    Int(i64),
    /// A real.
    Float(f64),
    /// A string.
    Str(String),
    /// An array.
    Array(Vec<PropValue>),
    /// A reference to another instance.
    Ref(RefSpec),
}

/// A reference in the spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefSpec {
    /// The class.
    pub class: String,
    /// Its keys.
    pub keys: OrderedMap<String>,
}

/// A string-keyed map that keeps the order the document gives.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<V> OrderedMap<V> {
    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = a.next_entry::<String, V>()? {
                    v.push((k, val));
                }
                Ok(OrderedMap(v))
            }
        }
        d.deserialize_map(V2(std::marker::PhantomData))
    }
}

/// Why a spec is not valid. Each variant names the offending item as it appears in the
/// spec (`sensors[3] ("FAN2")`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// Two sensors (numeric or discrete) share an id.
    #[error("{item}: sensor id \"{id}\" is already used by {first}")]
    DuplicateSensorId {
        /// The second item.
        item: String,
        /// The id.
        id: String,
        /// The first item with it.
        first: String,
    },
    /// A sensor id is empty.
    #[error("{item}: the sensor id is empty")]
    EmptyId {
        /// The item.
        item: String,
    },
    /// Two sensors share an IPMI sensor number.
    #[error("{item}: sensor number {number:#04x} is already used by {first}")]
    DuplicateSensorNumber {
        /// The second item.
        item: String,
        /// The number.
        number: u8,
        /// The first item with it.
        first: String,
    },
    /// Sensor number 0xFF is reserved, or no number is left to assign.
    #[error("{item}: {reason}")]
    SensorNumber {
        /// The item.
        item: String,
        /// What is wrong.
        reason: String,
    },
    /// Thresholds out of order (`lnr <= lc <= lnc <= unc <= uc <= unr`) or not finite.
    #[error(
        "{item}: threshold {lower} ({lower_value}) is above {upper} ({upper_value}); thresholds must be ordered lower_non_recoverable <= lower_critical <= lower_non_critical <= upper_non_critical <= upper_critical <= upper_non_recoverable"
    )]
    ThresholdOrder {
        /// The item.
        item: String,
        /// The lower-named threshold.
        lower: &'static str,
        /// Its value.
        lower_value: f64,
        /// The upper-named threshold.
        upper: &'static str,
        /// Its value.
        upper_value: f64,
    },
    /// A value does not fit the raw byte: `round((value - offset) / resolution)` is
    /// outside 0..=255.
    #[error(
        "{item}: {field} = {value} does not fit the sensor's raw byte (raw {raw}; raw = round((value - offset) / resolution) must be 0..=255)"
    )]
    RawRange {
        /// The item.
        item: String,
        /// The field.
        field: String,
        /// The value.
        value: f64,
        /// The raw value it would need.
        raw: f64,
    },
    /// A field has a bad value.
    #[error("{item}: {field} {reason}")]
    InvalidField {
        /// The item.
        item: String,
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The value source is missing pieces or has several.
    #[error("{item}: {reason}")]
    InvalidSource {
        /// The item.
        item: String,
        /// What is wrong.
        reason: String,
    },
    /// A Rhai expression or script does not compile.
    #[error("{item}: the {field} does not compile: {message}")]
    Script {
        /// The item.
        item: String,
        /// `expr` or `handler`.
        field: &'static str,
        /// Rhai's message.
        message: String,
    },
    /// The GUID is not `8-4-4-4-12` hex digits.
    #[error("identity.guid \"{value}\" is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex)")]
    InvalidGuid {
        /// The value.
        value: String,
    },
    /// A user id is outside 1..=15.
    #[error("{item}: user id {id} is outside 1..=15")]
    UserId {
        /// The item.
        item: String,
        /// The id.
        id: u8,
    },
    /// Two users share an id or a name.
    #[error("{item}: user {what} is already used by {first}")]
    DuplicateUser {
        /// The second item.
        item: String,
        /// `id 3` or `name "admin"`.
        what: String,
        /// The first item with it.
        first: String,
    },
    /// An initial SEL entry names a sensor that does not exist.
    #[error("{item}: no sensor has the id \"{sensor}\"")]
    UnknownSensor {
        /// The item.
        item: String,
        /// The id.
        sensor: String,
    },
    /// More initial SEL entries than the capacity.
    #[error("sel: {count} initial entries do not fit sel_capacity = {capacity}")]
    SelOverCapacity {
        /// Initial entries.
        count: usize,
        /// Capacity.
        capacity: u16,
    },
    /// An extra CIM instance is malformed or duplicated.
    #[error("{item}: {reason}")]
    InvalidInstance {
        /// The item.
        item: String,
        /// What is wrong.
        reason: String,
    },
    /// A command pattern is invalid.
    #[error("{item}: the pattern does not parse: {reason}")]
    InvalidPattern {
        /// The item.
        item: String,
        /// What is wrong.
        reason: String,
    },
}

/// Names a list item: `sensors[3] ("FAN2")`.
pub(crate) fn item(list: &str, i: usize, name: &str) -> String {
    format!("{list}[{i}] (\"{name}\")")
}

/// Whether a string is a GUID in `8-4-4-4-12` hex form.
pub fn is_guid(s: &str) -> bool {
    parse_guid(s).is_some()
}

/// The 16 bytes of a GUID in `8-4-4-4-12` form, in textual order.
pub fn parse_guid(s: &str) -> Option<[u8; 16]> {
    let groups: Vec<&str> = s.split('-').collect();
    if groups.iter().map(|g| g.len()).collect::<Vec<_>>() != [8, 4, 4, 4, 12] {
        return None;
    }
    let hex: String = groups.concat();
    let bytes = parse_hex(&hex)?;
    bytes.try_into().ok()
}

/// The sensor numbers the machine uses: explicit ones, and for the others the lowest
/// free number from 1, numeric sensors first, in spec order.
pub(crate) fn assign_numbers(spec: &MachineSpec) -> Result<(Vec<u8>, Vec<u8>), SpecError> {
    let mut used: BTreeMap<u8, String> = BTreeMap::new();
    let explicit = spec
        .sensors
        .iter()
        .enumerate()
        .map(|(i, s)| (item("sensors", i, &s.id), s.sensor_number))
        .chain(
            spec.discrete_sensors
                .iter()
                .enumerate()
                .map(|(i, s)| (item("discrete_sensors", i, &s.id), s.sensor_number)),
        )
        .collect::<Vec<_>>();
    for (it, n) in &explicit {
        if let Some(n) = n {
            if *n == 0xFF {
                return Err(SpecError::SensorNumber {
                    item: it.clone(),
                    reason: "sensor number 0xff is reserved".into(),
                });
            }
            if let Some(first) = used.get(n) {
                return Err(SpecError::DuplicateSensorNumber {
                    item: it.clone(),
                    number: *n,
                    first: first.clone(),
                });
            }
            used.insert(*n, it.clone());
        }
    }
    let mut next = 1u8;
    let mut out = Vec::with_capacity(explicit.len());
    for (it, n) in &explicit {
        match n {
            Some(n) => out.push(*n),
            None => {
                while used.contains_key(&next) {
                    if next >= 0xFE {
                        return Err(SpecError::SensorNumber {
                            item: it.clone(),
                            reason: "no free sensor number is left".into(),
                        });
                    }
                    next += 1;
                }
                used.insert(next, it.clone());
                out.push(next);
            }
        }
    }
    let discrete = out.split_off(spec.sensors.len());
    Ok((out, discrete))
}

fn check_name(item: &str, field: &str, name: &str, max: usize) -> Result<(), SpecError> {
    if !name.is_ascii() || name.len() > max {
        return Err(SpecError::InvalidField {
            item: item.into(),
            field: field.into(),
            reason: format!("\"{name}\" must be ASCII and at most {max} bytes"),
        });
    }
    Ok(())
}

fn check_raw(item: &str, field: &str, value: f64, s: &SensorSpec) -> Result<(), SpecError> {
    let raw = sensor::raw_unclamped(value, s.resolution, s.offset);
    if !(0.0..=255.0).contains(&raw) || !value.is_finite() {
        return Err(SpecError::RawRange {
            item: item.into(),
            field: field.into(),
            value,
            raw,
        });
    }
    Ok(())
}

fn check_sensor(it: &str, s: &SensorSpec, engine: &rhai::Engine) -> Result<(), SpecError> {
    check_name(it, "name", s.display_name(), 16)?;
    if !(s.resolution.is_finite() && s.resolution > 0.0) {
        return Err(SpecError::InvalidField {
            item: it.into(),
            field: "resolution".into(),
            reason: format!("= {} must be a finite number above 0", s.resolution),
        });
    }
    if !s.offset.is_finite() {
        return Err(SpecError::InvalidField {
            item: it.into(),
            field: "offset".into(),
            reason: "must be finite".into(),
        });
    }
    if let Some(reason) = crate::ipmi::sdr_conversion_error(s.resolution, s.offset) {
        return Err(SpecError::InvalidField {
            item: it.into(),
            field: "offset".into(),
            reason,
        });
    }
    if let Err((a, va, b, vb)) = s.thresholds.check_order() {
        if a == b {
            return Err(SpecError::InvalidField {
                item: it.into(),
                field: format!("thresholds.{}", a.field()),
                reason: format!("= {va} is not finite"),
            });
        }
        return Err(SpecError::ThresholdOrder {
            item: it.into(),
            lower: a.field(),
            lower_value: va,
            upper: b.field(),
            upper_value: vb,
        });
    }
    for (t, v) in s.thresholds.present() {
        check_raw(it, &format!("thresholds.{}", t.field()), v, s)?;
    }
    for (field, v) in [
        ("nominal", s.nominal),
        ("min_readable", s.min_readable),
        ("max_readable", s.max_readable),
    ] {
        if let Some(v) = v {
            check_raw(it, field, v, s)?;
        }
    }
    if s.min_readable() > s.max_readable() {
        return Err(SpecError::InvalidField {
            item: it.into(),
            field: "min_readable".into(),
            reason: format!(
                "= {} is above max_readable = {}",
                s.min_readable(),
                s.max_readable()
            ),
        });
    }
    let sources = [
        s.constant.is_some(),
        s.sequence.is_some(),
        s.random_walk.is_some(),
        s.expr.is_some(),
    ];
    if sources.iter().filter(|x| **x).count() > 1 {
        return Err(SpecError::InvalidSource {
            item: it.into(),
            reason: "give at most one of constant, sequence, random_walk and expr".into(),
        });
    }
    if s.step_ms.is_some() && s.sequence.is_none() {
        return Err(SpecError::InvalidSource {
            item: it.into(),
            reason: "step_ms belongs to a sequence (a random_walk has its own step_ms)".into(),
        });
    }
    if s.step_ms == Some(0) {
        return Err(SpecError::InvalidSource {
            item: it.into(),
            reason: "step_ms must be at least 1".into(),
        });
    }
    if let Some(c) = s.constant {
        if !c.is_finite() {
            return Err(SpecError::InvalidSource {
                item: it.into(),
                reason: "constant must be finite".into(),
            });
        }
    }
    if let Some(seq) = &s.sequence {
        if seq.is_empty() || seq.iter().any(|v| !v.is_finite()) {
            return Err(SpecError::InvalidSource {
                item: it.into(),
                reason: "sequence must hold at least one finite value".into(),
            });
        }
    }
    if let Some(w) = &s.random_walk {
        let finite = [w.start, w.step, w.min, w.max]
            .iter()
            .all(|v| v.is_finite());
        if !finite || w.min > w.max || w.step < 0.0 || w.step_ms == 0 {
            return Err(SpecError::InvalidSource {
                item: it.into(),
                reason: "random_walk needs finite start, step >= 0, min <= max and step_ms >= 1"
                    .into(),
            });
        }
    }
    if let Some(e) = &s.expr {
        script::compile_sensor_expr(engine, e).map_err(|message| SpecError::Script {
            item: it.into(),
            field: "expr",
            message,
        })?;
    }
    Ok(())
}

impl MachineSpec {
    /// Checks everything serde cannot: unique sensor ids and numbers, ordered thresholds
    /// that fit the raw byte, value sources (Rhai expressions compile), the GUID, user
    /// ids 1..=15 and unique names, SEL references and capacity, FRU field lengths,
    /// command patterns and handlers, and extra instances.
    pub fn validate(&self) -> Result<(), SpecError> {
        let engine = script::engine();
        let id = &self.identity;
        if !is_guid(&id.guid) {
            return Err(SpecError::InvalidGuid {
                value: id.guid.clone(),
            });
        }
        if self.sel_capacity == 0 || self.sel_capacity > 4095 {
            return Err(SpecError::InvalidField {
                item: "machine".into(),
                field: "sel_capacity".into(),
                reason: format!("= {} must be 1..=4095", self.sel_capacity),
            });
        }
        let mut ids: BTreeMap<&str, String> = BTreeMap::new();
        let all = self
            .sensors
            .iter()
            .enumerate()
            .map(|(i, s)| (item("sensors", i, &s.id), s.id.as_str()))
            .chain(
                self.discrete_sensors
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (item("discrete_sensors", i, &s.id), s.id.as_str())),
            );
        for (it, sid) in all {
            if sid.is_empty() {
                return Err(SpecError::EmptyId { item: it });
            }
            if let Some(first) = ids.get(sid) {
                return Err(SpecError::DuplicateSensorId {
                    item: it,
                    id: sid.into(),
                    first: first.clone(),
                });
            }
            ids.insert(sid, it);
        }
        assign_numbers(self)?;
        for (i, s) in self.sensors.iter().enumerate() {
            check_sensor(&item("sensors", i, &s.id), s, &engine)?;
        }
        for (i, d) in self.discrete_sensors.iter().enumerate() {
            let it = item("discrete_sensors", i, &d.id);
            check_name(&it, "name", d.display_name(), 16)?;
            if d.state & 0x8000 != 0 || d.alarm_mask & 0x8000 != 0 {
                return Err(SpecError::InvalidField {
                    item: it,
                    field: "state".into(),
                    reason: "uses bit 15; discrete offsets are 0..=14".into(),
                });
            }
            if d.states.len() > 15 {
                return Err(SpecError::InvalidField {
                    item: it,
                    field: "states".into(),
                    reason: format!("names {} states; at most 15", d.states.len()),
                });
            }
            if d.event_reading_type == 0 || d.event_reading_type > 0x7F {
                return Err(SpecError::InvalidField {
                    item: it,
                    field: "event_reading_type".into(),
                    reason: format!("= {:#04x} must be 0x01..=0x7f", d.event_reading_type),
                });
            }
        }
        if self.sel.len() > usize::from(self.sel_capacity) {
            return Err(SpecError::SelOverCapacity {
                count: self.sel.len(),
                capacity: self.sel_capacity,
            });
        }
        for (i, e) in self.sel.iter().enumerate() {
            let it = format!("sel[{i}]");
            if let Some(s) = &e.sensor {
                if !ids.contains_key(s.as_str()) {
                    return Err(SpecError::UnknownSensor {
                        item: it,
                        sensor: s.clone(),
                    });
                }
            }
            if e.data.len() > 3 {
                return Err(SpecError::InvalidField {
                    item: it,
                    field: "data".into(),
                    reason: format!("has {} bytes; event data is at most 3", e.data.len()),
                });
            }
            if e.event_type > 0x7F {
                return Err(SpecError::InvalidField {
                    item: it,
                    field: "event_type".into(),
                    reason: format!("= {:#04x} must be at most 0x7f", e.event_type),
                });
            }
        }
        let mut user_ids: BTreeMap<u8, String> = BTreeMap::new();
        let mut user_names: BTreeMap<&str, String> = BTreeMap::new();
        for (i, u) in self.users.iter().enumerate() {
            let it = item("users", i, &u.name);
            if !(1..=15).contains(&u.id) {
                return Err(SpecError::UserId { item: it, id: u.id });
            }
            if let Some(first) = user_ids.get(&u.id) {
                return Err(SpecError::DuplicateUser {
                    item: it,
                    what: format!("id {}", u.id),
                    first: first.clone(),
                });
            }
            user_ids.insert(u.id, it.clone());
            check_name(&it, "name", &u.name, 16)?;
            if !u.name.is_empty() {
                if let Some(first) = user_names.get(u.name.as_str()) {
                    return Err(SpecError::DuplicateUser {
                        item: it,
                        what: format!("name \"{}\"", u.name),
                        first: first.clone(),
                    });
                }
                user_names.insert(&u.name, it.clone());
            }
            if u.password.len() > 20 {
                return Err(SpecError::InvalidField {
                    item: it,
                    field: "password".into(),
                    reason: format!(
                        "is {} bytes; IPMI 2.0 passwords hold at most 20",
                        u.password.len()
                    ),
                });
            }
            if u.ipmi_kg.is_some() && u.kg_bytes().is_none_or(|k| k.len() > 20) {
                return Err(SpecError::InvalidField {
                    item: it,
                    field: "ipmi_kg".into(),
                    reason: "must be at most 20 bytes: 0x followed by hex digits, or ASCII".into(),
                });
            }
        }
        for (name, value) in self.fru.fields() {
            fru::check_field(value).map_err(|reason| SpecError::InvalidField {
                item: "fru".into(),
                field: name,
                reason,
            })?;
        }
        if self.fru.board.mfg_date_minutes > 0x00FF_FFFF {
            return Err(SpecError::InvalidField {
                item: "fru".into(),
                field: "board.mfg_date_minutes".into(),
                reason: "must fit 24 bits".into(),
            });
        }
        let tables = [("commands", &self.commands), ("scripts", &self.scripts)];
        for (i, c, list) in tables
            .iter()
            .flat_map(|(list, t)| t.iter().enumerate().map(move |(i, c)| (i, c, *list)))
        {
            let it = item(list, i, &c.pattern);
            c.check_pattern()
                .map_err(|reason| SpecError::InvalidPattern {
                    item: it.clone(),
                    reason,
                })?;
            if let Some(h) = &c.handler {
                script::compile_script(&engine, h).map_err(|message| SpecError::Script {
                    item: it.clone(),
                    field: "handler",
                    message,
                })?;
            }
        }
        self.check_instances()?;
        self.check_powershell()?;
        Ok(())
    }

    fn check_powershell(&self) -> Result<(), SpecError> {
        for (i, c) in self.cmdlets.iter().enumerate() {
            let it = item("cmdlets", i, &c.name);
            if c.name.trim().is_empty() || c.name.chars().any(char::is_whitespace) {
                return Err(SpecError::InvalidField {
                    item: it,
                    field: "name".into(),
                    reason: "must be one cmdlet name (no spaces)".into(),
                });
            }
            if c.state == crate::cmdlet::EndState::Failed && c.errors.is_empty() {
                return Err(SpecError::InvalidField {
                    item: it,
                    field: "state".into(),
                    reason: "`failed` needs an entry in `errors` (the terminating error)".into(),
                });
            }
        }
        let mut names: HashSet<String> = HashSet::new();
        for (i, c) in self.session_configurations.iter().enumerate() {
            let it = item("session_configurations", i, &c.name);
            let lower = c.name.to_ascii_lowercase();
            if c.name.is_empty()
                || !c
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "._-".contains(ch))
            {
                return Err(SpecError::InvalidField {
                    item: it,
                    field: "name".into(),
                    reason: "must be letters, digits, `.`, `_` or `-`".into(),
                });
            }
            if lower == "microsoft.powershell" || !names.insert(lower) {
                return Err(SpecError::InvalidField {
                    item: it,
                    field: "name".into(),
                    reason: "is already a session configuration".into(),
                });
            }
        }
        Ok(())
    }

    fn check_instances(&self) -> Result<(), SpecError> {
        let mut seen: HashSet<crate::cim::Reference> = HashSet::new();
        for (i, inst) in self.instances.iter().enumerate() {
            let it = item("instances", i, &inst.class);
            let bad = |reason: String| SpecError::InvalidInstance {
                item: it.clone(),
                reason,
            };
            if inst.class.is_empty()
                || !inst
                    .class
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(bad(format!(
                    "class \"{}\" is not a CIM class name",
                    inst.class
                )));
            }
            if inst.keys.is_empty() {
                // A keyless instance is a singleton: it must be the only instance of
                // its class, built in or not, or it could not be told apart.
                let others = self
                    .instances
                    .iter()
                    .filter(|o| o.class.eq_ignore_ascii_case(&inst.class))
                    .count();
                if others > 1 || crate::cim::class(&inst.class).is_some() {
                    return Err(bad(
                        "names no key properties, and is not the only instance of its class".into(),
                    ));
                }
            }
            for k in &inst.keys {
                match inst.properties.get(k) {
                    None => return Err(bad(format!("key {k} has no value in properties"))),
                    Some(PropValue::Array(_)) => return Err(bad(format!("key {k} is an array"))),
                    Some(_) => {}
                }
            }
            let mut names = HashSet::new();
            for (k, _) in &inst.properties.0 {
                if !names.insert(k.to_ascii_lowercase()) {
                    return Err(bad(format!("property {k} is given twice")));
                }
            }
            if let Some(class) = crate::cim::class(&inst.class) {
                let mut want: Vec<String> =
                    class.keys.iter().map(|k| k.to_ascii_lowercase()).collect();
                let mut got: Vec<String> =
                    inst.keys.iter().map(|k| k.to_ascii_lowercase()).collect();
                want.sort();
                got.sort();
                if want != got {
                    return Err(bad(format!(
                        "{} has the keys {}",
                        class.name,
                        class.keys.join(", ")
                    )));
                }
            }
            let r = crate::cim::extra_reference(inst);
            if !seen.insert(r) {
                return Err(bad("another instance has the same class and keys".into()));
            }
        }
        Ok(())
    }
}

impl Default for MachineSpec {
    /// The default server: two CPUs, inlet and exhaust temperatures, three fans, three
    /// voltage rails, PSU input power, a PSU status and a chassis intrusion sensor, a
    /// few SEL entries, a filled FRU, and the users admin/admin (administrator),
    /// operator/operator (operator) and user/user (user).
    fn default() -> Self {
        use SensorType::*;
        let temp =
            |id: &str, name: &str, nominal: f64, unc: f64, uc: f64, unr: f64, walk_seed: u64| {
                SensorSpec {
                    thresholds: Thresholds {
                        upper_non_critical: Some(unc),
                        upper_critical: Some(uc),
                        upper_non_recoverable: Some(unr),
                        ..Default::default()
                    },
                    min_readable: Some(0.0),
                    max_readable: Some(127.0),
                    constant: None,
                    random_walk: Some(RandomWalkSpec {
                        start: nominal,
                        step: 0.5,
                        seed: walk_seed,
                        step_ms: 5000,
                        min: nominal - 4.0,
                        max: nominal + 4.0,
                    }),
                    ..SensorSpec::new(id, name, Temperature, nominal)
                }
            };
        let fan = |n: u8, rpm: f64| SensorSpec {
            thresholds: Thresholds {
                lower_non_recoverable: Some(300.0),
                lower_critical: Some(600.0),
                lower_non_critical: Some(1200.0),
                ..Default::default()
            },
            resolution: 60.0,
            entity_instance: n,
            ..SensorSpec::new(&format!("FAN{n}"), &format!("FAN{n}"), Fan, rpm)
        };
        let volt = |id: &str, name: &str, nominal: f64, res: f64, t: [f64; 4]| SensorSpec {
            thresholds: Thresholds {
                lower_critical: Some(t[0]),
                lower_non_critical: Some(t[1]),
                upper_non_critical: Some(t[2]),
                upper_critical: Some(t[3]),
                ..Default::default()
            },
            resolution: res,
            ..SensorSpec::new(id, name, Voltage, nominal)
        };
        let cpu2 = SensorSpec {
            random_walk: None,
            expr: Some("43.0 + 3.0 * sin(t / 60.0)".into()),
            ..temp("CPU2_TEMP", "CPU2 Temp", 43.0, 85.0, 95.0, 100.0, 0)
        };
        let sensors = vec![
            SensorSpec {
                entity_id: Some(0x03),
                ..temp("CPU1_TEMP", "CPU1 Temp", 45.0, 85.0, 95.0, 100.0, 1)
            },
            SensorSpec {
                entity_id: Some(0x03),
                entity_instance: 2,
                ..cpu2
            },
            SensorSpec {
                random_walk: None,
                constant: Some(24.0),
                thresholds: Thresholds {
                    lower_critical: Some(3.0),
                    lower_non_critical: Some(8.0),
                    upper_non_critical: Some(38.0),
                    upper_critical: Some(42.0),
                    ..Default::default()
                },
                ..temp("INLET_TEMP", "Inlet Temp", 24.0, 38.0, 42.0, 45.0, 0)
            },
            SensorSpec {
                random_walk: None,
                sequence: Some(vec![34.0, 35.0, 36.0, 35.0]),
                step_ms: Some(10_000),
                ..temp("EXHAUST_TEMP", "Exhaust Temp", 35.0, 60.0, 70.0, 75.0, 0)
            },
            fan(1, 5400.0),
            fan(2, 5460.0),
            fan(3, 5340.0),
            volt("P12V", "12V", 12.06, 0.06, [10.8, 11.4, 12.6, 13.2]),
            volt("P5V", "5V", 5.04, 0.03, [4.5, 4.74, 5.25, 5.49]),
            volt("P3V3", "3.3V", 3.3, 0.02, [2.96, 3.12, 3.46, 3.64]),
            SensorSpec {
                thresholds: Thresholds {
                    upper_non_critical: Some(900.0),
                    upper_critical: Some(1000.0),
                    ..Default::default()
                },
                resolution: 5.0,
                random_walk: Some(RandomWalkSpec {
                    start: 280.0,
                    step: 10.0,
                    seed: 7,
                    step_ms: 2000,
                    min: 240.0,
                    max: 340.0,
                }),
                constant: None,
                ..SensorSpec::new("PSU1_INPUT", "PSU1 Input Power", Power, 280.0)
            },
        ];
        let discrete_sensors = vec![
            DiscreteSensorSpec {
                id: "PSU1_STATUS".into(),
                name: "PSU1 Status".into(),
                sensor_type: PowerSupply,
                sensor_number: None,
                event_reading_type: 0x6F,
                state: 0x0001,
                states: vec![
                    "Presence detected".into(),
                    "Power Supply Failure detected".into(),
                    "Predictive Failure".into(),
                    "Power Supply input lost (AC/DC)".into(),
                ],
                alarm_mask: 0x000E,
                entity_id: None,
                entity_instance: 1,
            },
            DiscreteSensorSpec {
                id: "INTRUSION".into(),
                name: "Chassis Intru".into(),
                sensor_type: PhysicalSecurity,
                sensor_number: None,
                event_reading_type: 0x6F,
                state: 0,
                states: vec!["General Chassis Intrusion".into()],
                alarm_mask: 0x0001,
                entity_id: None,
                entity_instance: 1,
            },
        ];
        let ev = |offset_s: i64,
                  sensor: Option<&str>,
                  st: Option<u8>,
                  et: u8,
                  dir: EventDirection,
                  data: Vec<u8>,
                  d: &str| {
            SelEntrySpec {
                offset_s,
                sensor: sensor.map(Into::into),
                sensor_type: st,
                sensor_number: None,
                record_type: 0x02,
                event_type: et,
                direction: dir,
                data,
                generator_id: 0x0020,
                description: d.into(),
            }
        };
        use EventDirection::*;
        let sel = vec![
            ev(
                -259_200,
                None,
                Some(0x10),
                0x6F,
                Assert,
                vec![0x02, 0xFF, 0xFF],
                "Event Logging Disabled: Log area reset/cleared",
            ),
            ev(
                -172_800,
                Some("PSU1_STATUS"),
                None,
                0x6F,
                Assert,
                vec![0x00, 0xFF, 0xFF],
                "PSU1 Status: Presence detected asserted",
            ),
            ev(
                -7_200,
                Some("FAN2"),
                None,
                0x01,
                Assert,
                vec![0x52, 0x09, 0x0A],
                "FAN2: Lower Critical going low asserted, reading 540 RPM, threshold 600 RPM",
            ),
            ev(
                -7_140,
                Some("FAN2"),
                None,
                0x01,
                Deassert,
                vec![0x52, 0x5B, 0x0A],
                "FAN2: Lower Critical going low deasserted, reading 5460 RPM, threshold 600 RPM",
            ),
            ev(
                -3_600,
                Some("INTRUSION"),
                None,
                0x6F,
                Assert,
                vec![0x00, 0xFF, 0xFF],
                "Chassis Intru: General Chassis Intrusion asserted",
            ),
            ev(
                -3_540,
                Some("INTRUSION"),
                None,
                0x6F,
                Deassert,
                vec![0x00, 0xFF, 0xFF],
                "Chassis Intru: General Chassis Intrusion deasserted",
            ),
        ];
        MachineSpec {
            sel_capacity: 512,
            sel_full: SelFullPolicy::Stop,
            sel_epoch: 1_767_225_600,
            identity: Identity::default(),
            power: PowerSpec::default(),
            fru: FruSpec::default(),
            sensors,
            discrete_sensors,
            sel,
            users: vec![
                User::new(2, "admin", "admin", Privilege::Administrator),
                User::new(3, "operator", "operator", Privilege::Operator),
                User::new(4, "user", "user", Privilege::User),
            ],
            commands: crate::command::default_commands(),
            scripts: crate::command::default_scripts(),
            cmdlets: Vec::new(),
            session_configurations: Vec::new(),
            instances: Vec::new(),
            sol: crate::ipmi::SolSpec::default(),
        }
    }
}
