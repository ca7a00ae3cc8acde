//! The CIM projection of the machine: classes, instances and their properties, as the
//! DMTF profiles and the Windows IPMI provider expose a BMC. The WS-Man layer turns
//! these into XML; this module knows nothing of XML.
//!
//! The API is free functions over a [`Machine`] ([`enumerate`], [`get`], [`put`],
//! [`invoke`], [`create`], [`delete`], [`associations`]) plus the static schema
//! ([`classes`], [`class`], [`is_subclass`]). Instances are built from the machine's
//! state at the `now` they are asked for; only [`enumerate_shared`] hands out a numeric
//! sensor's instance built before, while what it is built from is unchanged (see
//! `cim/shared.rs`).
//!
//! What the machine looks like in CIM:
//! - one `CIM_ComputerSystem` (`Name` = host name; `EnabledState` 2 on, 3 off, 4
//!   shutting down, 10 starting; `HealthState` the worst of all sensors);
//! - a `CIM_NumericSensor` per numeric sensor and a `CIM_Sensor` per discrete sensor
//!   (`DeviceID` = sensor id), a `CIM_Fan` per fan-type numeric sensor (`DeviceID`
//!   `Fan:<sensor id>`), a `CIM_PowerSupply` per power-supply entity (IPMI entity id 10)
//!   instance among the sensors (`DeviceID` `PSU:<instance>`);
//! - the SEL as one `CIM_RecordLog` (`InstanceID` `IPMI:SEL`) and a `CIM_LogRecord` per
//!   entry (`RecordID` = the IPMI record id, `RecordData` = the 16 bytes in hex);
//! - `CIM_SoftwareIdentity` for the BMC firmware and the BIOS, `CIM_RegisteredProfile`
//!   for each profile in [`PROFILES`];
//! - associations `CIM_SystemDevice`, `CIM_UseOfLog`, `CIM_LogManagesRecord`,
//!   `CIM_ElementConformsToProfile` (every profile to the computer system),
//!   `CIM_InstalledSoftwareIdentity`;
//! - the spec's extra instances (`[[machine.instances]]`) and those created by clients.
//!
//! Reading convention: numeric values are CIM integers scaled by `UnitModifier`, which
//! is minus the number of decimals of the sensor's resolution and offset (resolution
//! 0.01 → `UnitModifier` -2). `CurrentReading = round(reading · 10^-UnitModifier)` where
//! the reading is already quantized to the SDR resolution, so `CurrentReading ·
//! 10^UnitModifier` is exactly the reading IPMI gives (raw · M + B). Thresholds,
//! `NominalReading`, `NormalMin/Max`, `Min/MaxReadable` and `Resolution` use the same
//! scale.
//!
//! Keys in [`Instance::keys`] are text; a reference-valued key (associations) is the
//! referenced instance's object path ([`Reference::object_path`]), and its property
//! holds the [`Value::Ref`].
//!
//! Why one file of ~2,000 lines: every class's instance builder, its Put/Invoke rules
//! and the association traversal read the same private object model (`Obj`, `Device`)
//! and helpers. Apart are the schema table (`cim/schema.rs`, plain data) and the shared
//! instances (`cim/shared.rs`, a cache over this model rather than part of it).

mod schema;
mod shared;

use std::borrow::Cow;
use std::collections::HashSet;

pub use schema::{CimType, ClassInfo};
pub(crate) use shared::SharedInstances;
pub use shared::{enumerate_shared, get_shared, get_shared_borrowed};

use crate::machine::MachineError;
use crate::power::PowerAction;
use crate::sel::SelFullPolicy;
use crate::sensor::{self, SensorType, Threshold, Thresholds};
use crate::spec::{InstanceSpec, PropValue, SpecError};
use crate::time::format_datetime;
use crate::{Machine, Millis, NumericSensor};

/// A CIM property value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value (`xsi:nil`).
    Null,
    /// A string.
    Str(String),
    /// A signed integer (sint8..sint64).
    Int(i64),
    /// An unsigned integer (uint8..uint64).
    UInt(u64),
    /// A real (real32/real64).
    Real(f64),
    /// A boolean.
    Bool(bool),
    /// A CIM datetime, already formatted as `xs:dateTime` (`2026-11-24T08:00:00Z`).
    DateTime(String),
    /// An array property (written as repeated elements).
    Array(Vec<Value>),
    /// A reference to another instance (an embedded EPR).
    Ref(Reference),
}

/// A reference to an instance: the class resource URI and its keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The class name (`CIM_ComputerSystem`).
    pub class: String,
    /// The key properties as (name, value), in the class's key order.
    pub keys: Vec<(String, String)>,
}

/// One property of an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    /// Property name (`CurrentReading`).
    pub name: std::borrow::Cow<'static, str>,
    /// Its value.
    pub value: Value,
}

/// A CIM instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The class name (`CIM_NumericSensor`).
    pub class: String,
    /// Key properties as (name, value), in the class's key order; they are also present
    /// in `properties`.
    pub keys: Vec<(String, String)>,
    /// All properties, in schema order.
    pub properties: Vec<Property>,
}

impl Instance {
    /// The value of a property.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.properties
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.value)
    }

    /// A reference to this instance.
    pub fn reference(&self) -> Reference {
        Reference {
            class: self.class.clone(),
            keys: self.keys.clone(),
        }
    }
}

impl Reference {
    /// The reference as a CIM object path (`CIM_ComputerSystem.CreationClassName="CIM_ComputerSystem",Name="host"`),
    /// the text form used for reference-valued keys in [`Instance::keys`].
    pub fn object_path(&self) -> String {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        format!("{}.{}", self.class, keys.join(","))
    }

    /// Parses [`Reference::object_path`]'s format.
    pub fn parse_object_path(s: &str) -> Option<Reference> {
        let (class, rest) = s.split_once('.')?;
        if class.is_empty() || !class.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        let mut keys = Vec::new();
        let chars: Vec<char> = rest.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let start = i;
            while i < chars.len() && chars[i] != '=' {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            if name.is_empty() || chars.get(i + 1) != Some(&'"') {
                return None;
            }
            i += 2;
            let mut value = String::new();
            loop {
                match chars.get(i) {
                    None => return None,
                    Some('\\') => {
                        value.push(*chars.get(i + 1)?);
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        value.push(*c);
                        i += 1;
                    }
                }
            }
            keys.push((name, value));
            match chars.get(i) {
                None => break,
                Some(',') => i += 1,
                Some(_) => return None,
            }
        }
        Some(Reference {
            class: class.to_owned(),
            keys,
        })
    }

    /// Whether two references name the same instance: classes equal or related by
    /// inheritance (case-insensitively), and equal key sets (names case-insensitive,
    /// values exact; reference-valued keys compared as references).
    pub fn same_instance(&self, other: &Reference) -> bool {
        if !(is_subclass(&self.class, &other.class) || is_subclass(&other.class, &self.class)) {
            return false;
        }
        self.keys.len() == other.keys.len()
            && self.keys.iter().all(|(k, v)| {
                other
                    .keys
                    .iter()
                    .any(|(k2, v2)| k.eq_ignore_ascii_case(k2) && key_value_eq(k, v, v2))
            })
    }
}

/// Compares two key values: exactly, class names (keys ending in `CreationClassName`)
/// case-insensitively, and object paths as references.
fn key_value_eq(name: &str, a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    if names_a_class(name) {
        return a.eq_ignore_ascii_case(b);
    }
    match (
        Reference::parse_object_path(a),
        Reference::parse_object_path(b),
    ) {
        (Some(x), Some(y)) => x.same_instance(&y),
        _ => false,
    }
}

/// Whether a key's name ends in `CreationClassName` (any case): its value is a class
/// name, compared without regard to case.
fn names_a_class(key: &str) -> bool {
    const SUFFIX: &str = "creationclassname";
    key.len() >= SUFFIX.len()
        && key.as_bytes()[key.len() - SUFFIX.len()..].eq_ignore_ascii_case(SUFFIX.as_bytes())
}

/// The built-in classes (abstract ones included, superclasses first).
pub fn classes() -> &'static [ClassInfo] {
    schema::CLASSES
}

/// A built-in class by name (case-insensitive, as CIM class names are).
pub fn class(name: &str) -> Option<&'static ClassInfo> {
    schema::CLASSES
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
}

/// Whether `class` is `of` or one of its subclasses (reflexive, case-insensitive;
/// classes the mock does not know are related only to themselves).
pub fn is_subclass(class: &str, of: &str) -> bool {
    if class.eq_ignore_ascii_case(of) {
        return true;
    }
    schema::CLASSES
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case(class))
        .is_some_and(|i| inherits(i, of))
}

/// Whether one of the superclasses of the built-in class at `index` is `of`
/// (case-insensitive).
fn inherits(index: usize, of: &str) -> bool {
    superclass_chains()[index]
        .iter()
        .any(|c| c.eq_ignore_ascii_case(of))
}

/// Each built-in class's superclasses by name, nearest first (computed once: asking
/// whether a class inherits from another is on every Get's and Enumerate's way).
fn superclass_chains() -> &'static [Vec<&'static str>] {
    static CHAINS: std::sync::OnceLock<Vec<Vec<&'static str>>> = std::sync::OnceLock::new();
    CHAINS.get_or_init(|| {
        schema::CLASSES
            .iter()
            .map(|c| superclass_chain(c, schema::CLASSES))
            .collect()
    })
}

/// `info`'s superclasses by name as `table` describes them, nearest first: a
/// superclass the table does not describe ends the chain after itself, and so does the
/// 33rd (a cycle in the table would otherwise never end).
fn superclass_chain(info: &ClassInfo, table: &[ClassInfo]) -> Vec<&'static str> {
    let mut chain = Vec::new();
    let mut cur = info.superclass;
    while let Some(c) = cur {
        chain.push(c);
        if chain.len() > 32 {
            break;
        }
        // The schema names superclasses exactly as it names the classes.
        cur = table
            .iter()
            .find(|i| i.name == c)
            .or_else(|| table.iter().find(|i| i.name.eq_ignore_ascii_case(c)))
            .and_then(|i| i.superclass);
    }
    chain
}

/// Why a method parameter was refused (the detail of [`CimError::InvalidParameter`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParameterProblem {
    /// A required parameter is absent (`MissingValues`).
    Missing,
    /// The value is not of the parameter's type (`TypeMismatch`).
    WrongType {
        /// The value as sent.
        value: String,
        /// The CIM type it should have been (`uint16`).
        expected: &'static str,
    },
    /// The method has no parameter of that name (`InvalidName`).
    Unknown,
}

impl std::fmt::Display for ParameterProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParameterProblem::Missing => f.write_str("is missing"),
            ParameterProblem::WrongType { value, expected } => {
                write!(f, "\"{value}\" is not a {expected}")
            }
            ParameterProblem::Unknown => f.write_str("the method has no such parameter"),
        }
    }
}

/// Why a CIM operation failed. The WS-Man layer maps each to one fault; the intended
/// mapping is given per variant.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CimError {
    /// The class is neither built in nor the class of an extra instance
    /// (`wsa:DestinationUnreachable`, detail `InvalidResourceURI`).
    #[error("the class {class} is not known")]
    UnknownClass {
        /// The class.
        class: String,
    },
    /// No instance has these keys (`wsa:DestinationUnreachable`, or as WinRM does,
    /// `wsman:InvalidSelectors` with detail `InvalidValue`).
    #[error("no {class} instance has the keys {}", fmt_keys(selectors))]
    NotFound {
        /// The class asked for.
        class: String,
        /// The selectors given.
        selectors: Vec<(String, String)>,
    },
    /// A key is missing from the selectors (`wsman:InvalidSelectors`, detail
    /// `InsufficientSelectors`).
    #[error("the selectors for {class} lack the key {missing}")]
    InsufficientSelectors {
        /// The class.
        class: String,
        /// The first missing key.
        missing: String,
    },
    /// A selector is not a key of the class (`wsman:InvalidSelectors`, detail
    /// `UnexpectedSelectors`).
    #[error("{name} is not a key of {class}")]
    UnexpectedSelectors {
        /// The class.
        class: String,
        /// The selector.
        name: String,
    },
    /// A selector is given twice (`wsman:InvalidSelectors`, detail
    /// `DuplicateSelectors`).
    #[error("the selector {name} is given twice")]
    DuplicateSelectors {
        /// The selector.
        name: String,
    },
    /// A selector's value cannot be right whatever the instances (an unknown class in
    /// `CreationClassName`, a malformed reference) (`wsman:InvalidSelectors`, detail
    /// `InvalidValue`).
    #[error("selector {name} = \"{value}\": {reason}")]
    InvalidSelectorValue {
        /// The selector.
        name: String,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
    /// A Put tries to change a read-only or key property (`wxf:InvalidRepresentation`,
    /// detail `InvalidValues`).
    #[error("{prop} is not writable")]
    NotWritable {
        /// The property.
        prop: String,
    },
    /// A Put or Create gives a value that is not acceptable, or names a property the
    /// class does not have (`wxf:InvalidRepresentation`, detail `InvalidValues`).
    #[error("{prop}: {reason}")]
    InvalidValue {
        /// The property.
        prop: String,
        /// Why.
        reason: String,
    },
    /// The class has no such method (`wsa:ActionNotSupported`).
    #[error("{class} has no method {method}")]
    UnknownMethod {
        /// The class.
        class: String,
        /// The method.
        method: String,
    },
    /// A method parameter is missing, unknown or of the wrong type
    /// (`wsman:InvalidParameter`: detail `MissingValues`, `InvalidName` or
    /// `TypeMismatch`).
    #[error("parameter {name}: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: String,
        /// Why.
        reason: ParameterProblem,
    },
    /// A Create names an instance that exists (`wsman:AlreadyExists`).
    #[error("{} already exists", reference.object_path())]
    AlreadyExists {
        /// The existing instance.
        reference: Reference,
    },
    /// Create or Delete of a built-in class: the machine's own instances come from its
    /// state, not from clients (`wsa:ActionNotSupported`).
    #[error("{operation} is not supported for {class}")]
    NotSupported {
        /// The class.
        class: String,
        /// `Create` or `Delete`.
        operation: &'static str,
    },
}

fn fmt_keys(keys: &[(String, String)]) -> String {
    let v: Vec<String> = keys.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    v.join(", ")
}

// ---- the objects of the projection ----

const CS: &str = "CIM_ComputerSystem";
/// `InstanceID` of the SEL's CIM_RecordLog.
pub const LOG_INSTANCE_ID: &str = "IPMI:SEL";
/// `Name` of the SEL's CIM_RecordLog (and `LogName` of its records).
pub const LOG_NAME: &str = "IPMI SEL";

/// The DMTF profiles the mock advertises: (registered name, version).
pub const PROFILES: &[(&str, &str)] = &[
    ("Profile Registration", "1.0.0"),
    ("Base Server", "1.0.0"),
    ("Power State Management", "1.0.0"),
    ("Sensors", "1.1.0"),
    ("Record Log", "2.0.0"),
    ("Fan", "1.0.0"),
    ("Power Supply", "1.1.0"),
    ("Software Inventory", "1.0.1"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Device {
    Numeric(usize),
    Discrete(usize),
    Fan(usize),
    Psu(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sw {
    Bmc,
    Bios,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Obj {
    System,
    Device(Device),
    Log,
    Record(u16),
    Software(Sw),
    Profile(usize),
    SystemDevice(Device),
    UseOfLog,
    Manages(u16),
    Conforms(usize),
    Installed(Sw),
    Extra(usize),
}

/// IPMI entity id of power supplies.
const PSU_ENTITY: u8 = 0x0A;

fn psu_instances(m: &Machine) -> Vec<u8> {
    let mut v: Vec<u8> = m
        .numeric_sensors()
        .iter()
        .filter(|s| s.entity_id() == PSU_ENTITY)
        .map(|s| s.entity_instance())
        .chain(
            m.discrete_sensors()
                .iter()
                .filter(|d| d.entity_id() == PSU_ENTITY)
                .map(|d| d.entity_instance()),
        )
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn devices(m: &Machine) -> Vec<Device> {
    let mut v: Vec<Device> = (0..m.numeric_sensors().len())
        .map(Device::Numeric)
        .collect();
    v.extend((0..m.discrete_sensors().len()).map(Device::Discrete));
    v.extend(fan_indices(m).into_iter().map(Device::Fan));
    v.extend(psu_instances(m).into_iter().map(Device::Psu));
    v
}

fn fan_indices(m: &Machine) -> Vec<usize> {
    m.numeric_sensors()
        .iter()
        .enumerate()
        .filter(|(_, s)| s.sensor_type() == SensorType::Fan)
        .map(|(i, _)| i)
        .collect()
}

fn record_ids(m: &Machine) -> Vec<u16> {
    m.sel_entries().iter().map(|e| e.record_id).collect()
}

/// The objects of exactly one concrete built-in class.
fn concrete_objects(m: &Machine, class: &str) -> Vec<Obj> {
    match class {
        "CIM_ComputerSystem" => vec![Obj::System],
        "CIM_NumericSensor" => (0..m.numeric_sensors().len())
            .map(|i| Obj::Device(Device::Numeric(i)))
            .collect(),
        "CIM_Sensor" => (0..m.discrete_sensors().len())
            .map(|i| Obj::Device(Device::Discrete(i)))
            .collect(),
        "CIM_Fan" => fan_indices(m)
            .into_iter()
            .map(|i| Obj::Device(Device::Fan(i)))
            .collect(),
        "CIM_PowerSupply" => psu_instances(m)
            .into_iter()
            .map(|n| Obj::Device(Device::Psu(n)))
            .collect(),
        "CIM_RecordLog" => vec![Obj::Log],
        "CIM_LogRecord" => record_ids(m).into_iter().map(Obj::Record).collect(),
        "CIM_SoftwareIdentity" => vec![Obj::Software(Sw::Bmc), Obj::Software(Sw::Bios)],
        "CIM_RegisteredProfile" => (0..PROFILES.len()).map(Obj::Profile).collect(),
        "CIM_SystemDevice" => devices(m).into_iter().map(Obj::SystemDevice).collect(),
        "CIM_UseOfLog" => vec![Obj::UseOfLog],
        "CIM_LogManagesRecord" => record_ids(m).into_iter().map(Obj::Manages).collect(),
        "CIM_ElementConformsToProfile" => (0..PROFILES.len()).map(Obj::Conforms).collect(),
        "CIM_InstalledSoftwareIdentity" => vec![Obj::Installed(Sw::Bmc), Obj::Installed(Sw::Bios)],
        _ => Vec::new(),
    }
}

fn class_matches(candidate: &str, class: &str, polymorphic: bool) -> bool {
    candidate.eq_ignore_ascii_case(class) || (polymorphic && is_subclass(candidate, class))
}

/// The objects of a class (and its subclasses when `polymorphic`), built-in first.
fn objects(m: &Machine, class: &str, polymorphic: bool) -> Vec<Obj> {
    let mut out = Vec::new();
    for i in concrete_classes(class, polymorphic) {
        out.extend(concrete_objects(m, schema::CLASSES[i].name));
    }
    for (i, e) in m.extra.iter().enumerate() {
        if class_matches(&e.class, class, polymorphic) {
            out.push(Obj::Extra(i));
        }
    }
    out
}

/// The concrete built-in classes (by index, in table order) that are `class` or, when
/// `polymorphic`, inherit from it: the class's kept family when the table knows it.
fn concrete_classes(class: &str, polymorphic: bool) -> Vec<usize> {
    match schema::CLASSES
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case(class))
    {
        Some(j) if polymorphic => families()[j].clone(),
        Some(j) if !schema::CLASSES[j].is_abstract => vec![j],
        Some(_) => Vec::new(),
        None => concrete_classes_by_scan(class, polymorphic),
    }
}

/// What [`concrete_classes`] answers, by asking every class.
fn concrete_classes_by_scan(class: &str, polymorphic: bool) -> Vec<usize> {
    (0..schema::CLASSES.len())
        .filter(|&i| {
            let c = &schema::CLASSES[i];
            !c.is_abstract
                && (c.name.eq_ignore_ascii_case(class) || (polymorphic && inherits(i, class)))
        })
        .collect()
}

/// For each built-in class, the concrete classes that are it or inherit from it
/// (computed once).
fn families() -> &'static [Vec<usize>] {
    static FAMILIES: std::sync::OnceLock<Vec<Vec<usize>>> = std::sync::OnceLock::new();
    FAMILIES.get_or_init(|| {
        schema::CLASSES
            .iter()
            .map(|c| concrete_classes_by_scan(c.name, true))
            .collect()
    })
}

fn is_known(m: &Machine, class: &str) -> bool {
    self::class(class).is_some()
        || m.extra_classes
            .iter()
            .any(|c| c.eq_ignore_ascii_case(class))
}

fn sys_ref(m: &Machine) -> Reference {
    Reference {
        class: CS.into(),
        keys: sys_keys(m)
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// The computer system's keys, borrowed ([`sys_ref`]'s).
fn sys_keys(m: &Machine) -> [(&'static str, &str); 2] {
    [("CreationClassName", CS), ("Name", m.hostname())]
}

fn device_class(d: Device) -> &'static str {
    match d {
        Device::Numeric(_) => "CIM_NumericSensor",
        Device::Discrete(_) => "CIM_Sensor",
        Device::Fan(_) => "CIM_Fan",
        Device::Psu(_) => "CIM_PowerSupply",
    }
}

fn device_id(m: &Machine, d: Device) -> String {
    match d {
        Device::Numeric(i) => m
            .numeric_sensors()
            .get(i)
            .map_or_else(String::new, |s| s.id().to_owned()),
        Device::Discrete(i) => m
            .discrete_sensors()
            .get(i)
            .map_or_else(String::new, |s| s.id().to_owned()),
        Device::Fan(i) => format!("Fan:{}", m.numeric_sensors().get(i).map_or("", |s| s.id())),
        Device::Psu(n) => format!("PSU:{n}"),
    }
}

fn device_ref(m: &Machine, d: Device) -> Reference {
    Reference {
        class: device_class(d).into(),
        keys: device_keys(m, d)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_owned()))
            .collect(),
    }
}

/// A device's keys, in key order, borrowed where they can be: what [`device_ref`]
/// holds, and what [`resolve`] compares selectors with without building it.
fn device_keys(m: &Machine, d: Device) -> [(&'static str, Cow<'_, str>); 4] {
    let id = match d {
        Device::Numeric(i) => Cow::Borrowed(m.numeric_sensors().get(i).map_or("", |s| s.id())),
        Device::Discrete(i) => Cow::Borrowed(m.discrete_sensors().get(i).map_or("", |s| s.id())),
        Device::Fan(_) | Device::Psu(_) => Cow::Owned(device_id(m, d)),
    };
    [
        ("CreationClassName", Cow::Borrowed(device_class(d))),
        ("DeviceID", id),
        ("SystemCreationClassName", Cow::Borrowed(CS)),
        ("SystemName", Cow::Borrowed(m.hostname())),
    ]
}

fn log_ref() -> Reference {
    Reference {
        class: "CIM_RecordLog".into(),
        keys: vec![("InstanceID".into(), LOG_INSTANCE_ID.into())],
    }
}

fn record_ref(m: &Machine, id: u16) -> Reference {
    let ts = m.sel_entry(id).map(|e| e.datetime()).unwrap_or_default();
    Reference {
        class: "CIM_LogRecord".into(),
        keys: vec![
            ("LogCreationClassName".into(), "CIM_RecordLog".into()),
            ("LogName".into(), LOG_NAME.into()),
            ("CreationClassName".into(), "CIM_LogRecord".into()),
            ("RecordID".into(), id.to_string()),
            ("MessageTimestamp".into(), ts),
        ],
    }
}

fn sw_id(sw: Sw) -> &'static str {
    match sw {
        Sw::Bmc => "SoftwareIdentity:BMC",
        Sw::Bios => "SoftwareIdentity:BIOS",
    }
}

fn sw_ref(sw: Sw) -> Reference {
    Reference {
        class: "CIM_SoftwareIdentity".into(),
        keys: vec![("InstanceID".into(), sw_id(sw).into())],
    }
}

fn profile_id(i: usize) -> String {
    let (name, version) = PROFILES.get(i).copied().unwrap_or(("", ""));
    format!("DMTF:{name}:{version}")
}

fn profile_ref(i: usize) -> Reference {
    Reference {
        class: "CIM_RegisteredProfile".into(),
        keys: vec![("InstanceID".into(), profile_id(i))],
    }
}

/// An association's class and its two ends (role, reference).
fn assoc_parts(m: &Machine, obj: Obj) -> Option<(&'static str, [(&'static str, Reference); 2])> {
    Some(match obj {
        Obj::SystemDevice(d) => (
            "CIM_SystemDevice",
            [
                ("GroupComponent", sys_ref(m)),
                ("PartComponent", device_ref(m, d)),
            ],
        ),
        Obj::UseOfLog => (
            "CIM_UseOfLog",
            [("Antecedent", log_ref()), ("Dependent", sys_ref(m))],
        ),
        Obj::Manages(id) => (
            "CIM_LogManagesRecord",
            [("Log", log_ref()), ("Record", record_ref(m, id))],
        ),
        Obj::Conforms(i) => (
            "CIM_ElementConformsToProfile",
            [
                ("ConformantStandard", profile_ref(i)),
                ("ManagedElement", sys_ref(m)),
            ],
        ),
        Obj::Installed(sw) => (
            "CIM_InstalledSoftwareIdentity",
            [("System", sys_ref(m)), ("InstalledSoftware", sw_ref(sw))],
        ),
        _ => return None,
    })
}

fn reference(m: &Machine, obj: Obj) -> Reference {
    match obj {
        Obj::System => sys_ref(m),
        Obj::Device(d) => device_ref(m, d),
        Obj::Log => log_ref(),
        Obj::Record(id) => record_ref(m, id),
        Obj::Software(sw) => sw_ref(sw),
        Obj::Profile(i) => profile_ref(i),
        Obj::Extra(i) => m.extra.get(i).map_or_else(
            || Reference {
                class: String::new(),
                keys: Vec::new(),
            },
            Instance::reference,
        ),
        other => match assoc_parts(m, other) {
            Some((class, [(r1, a), (r2, b)])) => Reference {
                class: class.into(),
                keys: vec![(r1.into(), a.object_path()), (r2.into(), b.object_path())],
            },
            None => Reference {
                class: String::new(),
                keys: Vec::new(),
            },
        },
    }
}

/// The text of a key value in [`Instance::keys`].
fn key_text(v: &Value) -> String {
    match v {
        Value::Str(s) | Value::DateTime(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Real(r) => r.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Ref(r) => r.object_path(),
        Value::Null | Value::Array(_) => String::new(),
    }
}

/// Builds an instance of a built-in class: properties in schema order, `Null` for
/// those not given.
fn build(class_name: &'static str, values: Vec<(&'static str, Value)>) -> Instance {
    let Some(info) = self::class(class_name) else {
        return Instance {
            class: class_name.into(),
            keys: Vec::new(),
            properties: Vec::new(),
        };
    };
    debug_assert!(
        values
            .iter()
            .all(|(n, _)| info.properties.iter().any(|(p, _)| p == n)),
        "a value for a property {class_name} does not have"
    );
    debug_assert!(
        values
            .iter()
            .enumerate()
            .all(|(i, (n, _))| values[..i].iter().all(|(m, _)| m != n)),
        "two values for one property of {class_name}"
    );
    // Values are moved, not cloned, into their schema slots. Callers mostly list them in
    // the class's property order, so each value's slot is searched from the one after
    // the last slot filled: one pass over the schema for the whole instance when the
    // order holds (a value out of order costs one more turn), and the properties given
    // no value are never searched for.
    let schema = info.properties;
    let mut properties: Vec<Property> = schema
        .iter()
        .map(|(name, _)| Property {
            name: std::borrow::Cow::Borrowed(*name),
            value: Value::Null,
        })
        .collect();
    let mut next = 0;
    for (name, value) in values {
        let len = schema.len();
        if let Some(i) = (0..len)
            .map(|k| (next + k) % len)
            .find(|&i| schema[i].0 == name)
        {
            properties[i].value = value;
            next = i + 1;
        }
    }
    let keys = info
        .keys
        .iter()
        .map(|k| {
            let v = properties
                .iter()
                .find(|p| p.name == *k)
                .map_or_else(String::new, |p| key_text(&p.value));
            ((*k).to_owned(), v)
        })
        .collect();
    Instance {
        class: class_name.into(),
        keys,
        properties,
    }
}

fn s(x: impl Into<String>) -> Value {
    Value::Str(x.into())
}

fn u(x: u64) -> Value {
    Value::UInt(x)
}

fn u16s(v: impl IntoIterator<Item = u16>) -> Value {
    Value::Array(v.into_iter().map(|x| Value::UInt(u64::from(x))).collect())
}

fn strs<S: Into<String>>(v: impl IntoIterator<Item = S>) -> Value {
    Value::Array(v.into_iter().map(|x| Value::Str(x.into())).collect())
}

fn operational_for_health(h: u16) -> u16 {
    match h {
        5 => 2,
        15 => 3,
        20 => 6,
        _ => 7,
    }
}

fn discrete_health(alarm: bool) -> u16 {
    if alarm { 20 } else { 5 }
}

fn device_common(
    m: &Machine,
    d: Device,
    caption: &str,
    description: String,
    name: &str,
    health: u16,
) -> Vec<(&'static str, Value)> {
    vec![
        ("Caption", s(caption)),
        ("Description", s(description)),
        ("ElementName", s(name)),
        ("OperationalStatus", u16s([operational_for_health(health)])),
        ("HealthState", u(u64::from(health))),
        ("EnabledState", u(2)),
        ("RequestedState", u(12)),
        ("EnabledDefault", u(2)),
        ("SystemCreationClassName", s(CS)),
        ("SystemName", s(m.hostname())),
        ("CreationClassName", s(device_class(d))),
        ("DeviceID", s(device_id(m, d))),
    ]
}

/// Version numbers `major.minor.revision.build` (missing or non-numeric parts are
/// `Null`).
fn version_parts(v: &str) -> [Value; 4] {
    let mut parts = v.split(['.', '-', '_']).map(|p| {
        p.parse::<u16>()
            .ok()
            .map_or(Value::Null, |n| u(u64::from(n)))
    });
    [
        parts.next().unwrap_or(Value::Null),
        parts.next().unwrap_or(Value::Null),
        parts.next().unwrap_or(Value::Null),
        parts.next().unwrap_or(Value::Null),
    ]
}

/// What the computer system's instance is built from that changes while the machine
/// runs (its identity and element name aside): read at `now`, which observes every
/// sensor (its health is theirs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SystemState {
    health: u16,
    enabled: u16,
    requested: u16,
    changed: u32,
}

fn system_state(m: &mut Machine, now: Millis) -> SystemState {
    m.tick(now);
    let mut health = 5u16;
    for sn in m.numeric_sensors() {
        health = health.max(sn.last_status().health_state());
    }
    for d in m.discrete_sensors() {
        health = health.max(discrete_health(d.is_alarm()));
    }
    SystemState {
        health,
        enabled: m.power_state(now).cim_enabled_state(),
        requested: m.requested_state(),
        changed: m.sel_time(m.power_state_since(now)),
    }
}

/// The computer system's instance: built from `state`, the machine's identity and
/// its element name only (so [`shared`] can keep it while those are unchanged).
fn system_instance(m: &Machine, state: SystemState) -> Instance {
    let id = m.identity();
    let health = state.health;
    build(
        CS,
        vec![
            ("Caption", s("Computer System")),
            (
                "Description",
                s(format!("{} {} ({})", id.vendor, id.model, id.product_name)),
            ),
            ("ElementName", s(m.system_element_name.clone())),
            ("OperationalStatus", u16s([operational_for_health(health)])),
            ("HealthState", u(u64::from(health))),
            ("EnabledState", u(u64::from(state.enabled))),
            ("RequestedState", u(u64::from(state.requested))),
            ("EnabledDefault", u(2)),
            (
                "TimeOfLastStateChange",
                Value::DateTime(format_datetime(u64::from(state.changed))),
            ),
            ("CreationClassName", s(CS)),
            ("Name", s(id.hostname.clone())),
            ("NameFormat", s("Other")),
            (
                "IdentifyingDescriptions",
                strs(["CIM:GUID", "CIM:Model:SerialNumber"]),
            ),
            (
                "OtherIdentifyingInfo",
                strs([
                    id.guid.clone(),
                    format!("{}:{}", id.model, id.serial_number),
                ]),
            ),
            ("Dedicated", u16s([0])),
            ("ResetCapability", u(4)),
        ],
    )
}

/// The instance of an object at `now` (reading sensors observes them).
fn instance(m: &mut Machine, obj: Obj, now: Millis) -> Instance {
    match obj {
        Obj::System => {
            let state = system_state(m, now);
            system_instance(m, state)
        }
        Obj::Device(d @ Device::Numeric(i)) => {
            let Some(id) = m.numeric_sensors().get(i).map(|s| s.id().to_owned()) else {
                return build("CIM_NumericSensor", Vec::new());
            };
            let _ = m.reading(&id, now);
            let Some(sn) = m.numeric_sensors().get(i) else {
                return build("CIM_NumericSensor", Vec::new());
            };
            numeric_instance(m, d, sn)
        }
        Obj::Device(d @ Device::Discrete(i)) => {
            let Some(ds) = m.discrete_sensors().get(i) else {
                return build("CIM_Sensor", Vec::new());
            };
            let health = discrete_health(ds.is_alarm());
            let st = ds.sensor_type();
            let mut v = device_common(
                m,
                d,
                ds.name(),
                format!(
                    "{} sensor, IPMI sensor number 0x{:02X}",
                    st.description(),
                    ds.number()
                ),
                ds.name(),
                health,
            );
            let asserted: Vec<String> = (0..15u8)
                .filter(|b| ds.state() & (1 << b) != 0)
                .map(|b| ds.state_name(b))
                .collect();
            let current = if asserted.is_empty() {
                "Normal".to_owned()
            } else {
                asserted.join(", ")
            };
            v.extend([
                ("SensorType", u(u64::from(st.cim_code()))),
                (
                    "OtherSensorTypeDescription",
                    if st.cim_code() == 1 {
                        s(st.description())
                    } else {
                        Value::Null
                    },
                ),
                ("PossibleStates", strs(ds.states().iter().cloned())),
                ("CurrentState", s(current)),
            ]);
            build("CIM_Sensor", v)
        }
        Obj::Device(d @ Device::Fan(i)) => {
            let Some(id) = m.numeric_sensors().get(i).map(|s| s.id().to_owned()) else {
                return build("CIM_Fan", Vec::new());
            };
            let _ = m.reading(&id, now);
            let Some(sn) = m.numeric_sensors().get(i) else {
                return build("CIM_Fan", Vec::new());
            };
            let health = sn.last_status().health_state();
            let mut v = device_common(
                m,
                d,
                "Fan",
                format!("Fan cooled by the {} sensor", sn.id()),
                sn.name(),
                health,
            );
            v.extend([
                ("ActiveCooling", Value::Bool(true)),
                ("VariableSpeed", Value::Bool(true)),
                (
                    "DesiredSpeed",
                    u(sn.spec().nominal.unwrap_or(0.0).max(0.0).round() as u64),
                ),
            ]);
            build("CIM_Fan", v)
        }
        Obj::Device(d @ Device::Psu(n)) => {
            m.tick(now);
            let mut health = 5u16;
            for sn in m
                .numeric_sensors()
                .iter()
                .filter(|s| s.entity_id() == PSU_ENTITY && s.entity_instance() == n)
            {
                health = health.max(sn.last_status().health_state());
            }
            for ds in m
                .discrete_sensors()
                .iter()
                .filter(|s| s.entity_id() == PSU_ENTITY && s.entity_instance() == n)
            {
                health = health.max(discrete_health(ds.is_alarm()));
            }
            let name = format!("Power Supply {n}");
            let mut v = device_common(
                m,
                d,
                "Power Supply",
                format!("Power supply, IPMI entity 10.{n}"),
                &name,
                health,
            );
            v.extend([("IsSwitchingSupply", Value::Bool(true))]);
            build("CIM_PowerSupply", v)
        }
        Obj::Log => {
            let info = m.sel_info();
            build(
                "CIM_RecordLog",
                vec![
                    ("InstanceID", s(LOG_INSTANCE_ID)),
                    ("Caption", s("System Event Log")),
                    ("Description", s("IPMI System Event Log")),
                    ("ElementName", s(m.log_element_name.clone())),
                    ("OperationalStatus", u16s([2])),
                    ("HealthState", u(5)),
                    ("EnabledState", u(2)),
                    ("RequestedState", u(12)),
                    ("EnabledDefault", u(2)),
                    ("Name", s(LOG_NAME)),
                    ("MaxNumberOfRecords", u(u64::from(info.capacity))),
                    ("CurrentNumberOfRecords", u(u64::from(info.count))),
                    (
                        "OverwritePolicy",
                        u(match info.policy {
                            SelFullPolicy::Overwrite => 2,
                            SelFullPolicy::Stop => 7,
                        }),
                    ),
                    ("LogState", u(2)),
                ],
            )
        }
        Obj::Record(id) => {
            let Some(e) = m.sel_entry(id) else {
                return build("CIM_LogRecord", Vec::new());
            };
            build(
                "CIM_LogRecord",
                vec![
                    ("Caption", s("SEL Record")),
                    ("Description", s(e.description.clone())),
                    ("ElementName", s(format!("SEL Record {id}"))),
                    ("LogCreationClassName", s("CIM_RecordLog")),
                    ("LogName", s(LOG_NAME)),
                    ("CreationClassName", s("CIM_LogRecord")),
                    ("RecordID", s(id.to_string())),
                    ("MessageTimestamp", Value::DateTime(e.datetime())),
                    (
                        "RecordFormat",
                        s("IPMI SEL record: 16 bytes as hex (IPMI 2.0 section 32.1)"),
                    ),
                    ("RecordData", s(e.hex())),
                ],
            )
        }
        Obj::Software(sw) => {
            let (name, version, class) = match sw {
                Sw::Bmc => ("BMC Firmware", m.bmc_firmware_version().to_owned(), 10),
                Sw::Bios => ("System BIOS", m.firmware_version().to_owned(), 11),
            };
            let [major, minor, rev, build_no] = version_parts(&version);
            build(
                "CIM_SoftwareIdentity",
                vec![
                    ("InstanceID", s(sw_id(sw))),
                    ("Caption", s(name)),
                    ("Description", s(name)),
                    ("ElementName", s(name)),
                    ("Name", s(name)),
                    ("Manufacturer", s(m.vendor())),
                    ("VersionString", s(version.clone())),
                    ("MajorVersion", major),
                    ("MinorVersion", minor),
                    ("RevisionNumber", rev),
                    ("BuildNumber", build_no),
                    ("IsEntity", Value::Bool(true)),
                    ("Classifications", u16s([class])),
                ],
            )
        }
        Obj::Profile(i) => {
            let (name, version) = PROFILES.get(i).copied().unwrap_or(("", ""));
            build(
                "CIM_RegisteredProfile",
                vec![
                    ("InstanceID", s(profile_id(i))),
                    ("Caption", s(name)),
                    ("Description", s(format!("DMTF {name} profile"))),
                    ("ElementName", s(name)),
                    ("RegisteredOrganization", u(2)),
                    ("RegisteredName", s(name)),
                    ("RegisteredVersion", s(version)),
                    ("AdvertiseTypes", u16s([2])),
                ],
            )
        }
        Obj::Extra(i) => m.extra.get(i).cloned().unwrap_or(Instance {
            class: String::new(),
            keys: Vec::new(),
            properties: Vec::new(),
        }),
        other => match assoc_parts(m, other) {
            Some((class, [(r1, a), (r2, b)])) => {
                build(class, vec![(r1, Value::Ref(a)), (r2, Value::Ref(b))])
            }
            None => Instance {
                class: String::new(),
                keys: Vec::new(),
                properties: Vec::new(),
            },
        },
    }
}

fn numeric_instance(m: &Machine, d: Device, sn: &NumericSensor) -> Instance {
    let k = sn.unit_modifier();
    let q = |v: f64| Value::Int(sensor::to_cim_integer(sn.quantize(v), k));
    let status = sn.last_status();
    let reading = sensor::from_raw(sn.last_raw(), sn.resolution(), sn.offset());
    let health = status.health_state();
    let st = sn.sensor_type();
    let th = sn.thresholds();
    let supported: Vec<u16> = sn
        .default_thresholds()
        .present()
        .map(|(t, _)| t.cim_code())
        .collect();
    let enabled: Vec<u16> = th.present().map(|(t, _)| t.cim_code()).collect();
    let mut possible = vec!["Normal"];
    for t in [
        Threshold::UpperNonCritical,
        Threshold::UpperCritical,
        Threshold::UpperNonRecoverable,
        Threshold::LowerNonCritical,
        Threshold::LowerCritical,
        Threshold::LowerNonRecoverable,
    ] {
        if sn.default_thresholds().get(t).is_some() {
            possible.push(t.state_name());
        }
    }
    let spec = sn.spec();
    let mut v = device_common(
        m,
        d,
        sn.name(),
        format!(
            "{} sensor, IPMI sensor number 0x{:02X}",
            st.description(),
            sn.number()
        ),
        sn.name(),
        health,
    );
    let normal_max = th.upper_non_critical.unwrap_or_else(|| spec.max_readable());
    let normal_min = th.lower_non_critical.unwrap_or_else(|| spec.min_readable());
    v.extend([
        ("SensorType", u(u64::from(st.cim_code()))),
        (
            "OtherSensorTypeDescription",
            if st.cim_code() == 1 {
                s(st.description())
            } else {
                Value::Null
            },
        ),
        ("PossibleStates", strs(possible)),
        ("CurrentState", s(status.current_state())),
        ("BaseUnits", u(u64::from(sn.unit().cim_base_units()))),
        ("UnitModifier", Value::Int(i64::from(k))),
        ("RateUnits", u(0)),
        (
            "CurrentReading",
            Value::Int(sensor::to_cim_integer(reading, k)),
        ),
        ("NominalReading", spec.nominal.map_or(Value::Null, q)),
        ("NormalMax", q(normal_max)),
        ("NormalMin", q(normal_min)),
        ("MaxReadable", q(spec.max_readable())),
        ("MinReadable", q(spec.min_readable())),
        (
            "Resolution",
            u(sensor::to_cim_integer(sn.resolution(), k).max(0) as u64),
        ),
        ("IsLinear", Value::Bool(true)),
    ]);
    for t in Threshold::ALL {
        v.push((t.cim_property(), th.get(t).map_or(Value::Null, q)));
    }
    v.extend([
        ("SupportedThresholds", u16s(supported.clone())),
        ("EnabledThresholds", u16s(enabled)),
        ("SettableThresholds", u16s(supported)),
    ]);
    build(
        if matches!(d, Device::Numeric(_)) {
            "CIM_NumericSensor"
        } else {
            "CIM_Sensor"
        },
        v,
    )
}

// ---- operations ----

/// All instances of a class at `now`; with `polymorphic`, of its subclasses too (as
/// WinRM enumerates `CIM_Sensor`: discrete and numeric sensors). Built-in instances
/// come first, in a fixed order, then extra instances in spec/creation order. Reading
/// sensors observes them (threshold crossings reach the SEL). An abstract class
/// enumerated without `polymorphic` has no instances.
pub fn enumerate(
    m: &mut Machine,
    class: &str,
    now: Millis,
    polymorphic: bool,
) -> Result<Vec<Instance>, CimError> {
    if !is_known(m, class) {
        return Err(CimError::UnknownClass {
            class: class.into(),
        });
    }
    let objs = objects(m, class, polymorphic);
    Ok(objs.into_iter().map(|o| instance(m, o, now)).collect())
}

/// The key names selectors must give for a class.
fn key_names<'m>(m: &'m Machine, class: &str) -> Vec<&'m str> {
    if let Some(info) = self::class(class) {
        return info.keys.to_vec();
    }
    m.extra
        .iter()
        .find(|e| e.class.eq_ignore_ascii_case(class))
        .map(|e| e.keys.iter().map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default()
}

/// Whether one of `keys` is the selector `name` = `value` (the name in any case, the
/// value as [`key_value_eq`] compares it).
fn has_key<'k>(
    mut keys: impl Iterator<Item = (&'k str, &'k str)>,
    name: &str,
    value: &str,
) -> bool {
    keys.any(|(k, kv)| k.eq_ignore_ascii_case(name) && key_value_eq(k, kv, value))
}

/// Finds the object that selectors name (see [`get`] for the rules).
fn resolve<K: AsRef<str>, V: AsRef<str>>(
    m: &Machine,
    class: &str,
    selectors: &[(K, V)],
) -> Result<Obj, CimError> {
    if !is_known(m, class) {
        return Err(CimError::UnknownClass {
            class: class.into(),
        });
    }
    let keys = key_names(m, class);
    let sels: Vec<(&str, &str)> = selectors
        .iter()
        .map(|(n, v)| (n.as_ref(), v.as_ref()))
        .filter(|(n, _)| !n.starts_with("__"))
        .collect();
    for (i, (n, _)) in sels.iter().enumerate() {
        if sels[..i].iter().any(|(p, _)| p.eq_ignore_ascii_case(n)) {
            return Err(CimError::DuplicateSelectors {
                name: (*n).to_owned(),
            });
        }
        if !keys.iter().any(|k| k.eq_ignore_ascii_case(n)) {
            return Err(CimError::UnexpectedSelectors {
                class: class.into(),
                name: (*n).to_owned(),
            });
        }
    }
    let candidates = objects(m, class, true);
    if sels.is_empty() && candidates.len() == 1 {
        return Ok(candidates[0]);
    }
    if let Some(missing) = keys
        .iter()
        .find(|k| !sels.iter().any(|(n, _)| n.eq_ignore_ascii_case(k)))
    {
        return Err(CimError::InsufficientSelectors {
            class: class.into(),
            missing: (*missing).to_owned(),
        });
    }
    for (n, v) in &sels {
        if names_a_class(n) && !is_known(m, v) {
            return Err(CimError::InvalidSelectorValue {
                name: (*n).to_owned(),
                value: (*v).to_owned(),
                reason: "is not a known class".into(),
            });
        }
    }
    for c in candidates {
        // The common cases, a sensor or the computer system: no reference built.
        let all = match c {
            Obj::Device(d) => {
                let keys = device_keys(m, d);
                sels.iter()
                    .all(|(n, v)| has_key(keys.iter().map(|(k, kv)| (*k, &**kv)), n, v))
            }
            Obj::System => {
                let keys = sys_keys(m);
                sels.iter()
                    .all(|(n, v)| has_key(keys.iter().copied(), n, v))
            }
            _ => {
                let r = reference(m, c);
                sels.iter().all(|(n, v)| {
                    has_key(r.keys.iter().map(|(k, kv)| (k.as_str(), kv.as_str())), n, v)
                })
            }
        };
        if all {
            return Ok(c);
        }
    }
    Err(CimError::NotFound {
        class: class.into(),
        selectors: owned_pairs(selectors),
    })
}

/// Selectors as the owned pairs an error carries.
fn owned_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
        .collect()
}

/// The instance that the selectors name, at `now`.
///
/// Selector names are matched case-insensitively against the class's keys; names
/// starting with `__` (`__cimnamespace`) are ignored. An unknown name is
/// `UnexpectedSelectors`, a missing key `InsufficientSelectors` (except that a class
/// with exactly one instance may be addressed with no selectors at all, as DSP0226
/// allows). The instance may be of a subclass (a `CIM_Sensor` Get finds a numeric
/// sensor by its keys). Reference-valued keys (associations) are given as object paths
/// ([`Reference::object_path`]).
pub fn get(
    m: &mut Machine,
    class: &str,
    selectors: &[(String, String)],
    now: Millis,
) -> Result<Instance, CimError> {
    let obj = resolve(m, class, selectors)?;
    Ok(instance(m, obj, now))
}

fn parse_int(prop: &str, v: &str) -> Result<i64, CimError> {
    v.trim().parse::<i64>().map_err(|_| CimError::InvalidValue {
        prop: prop.into(),
        reason: format!("\"{v}\" is not an integer"),
    })
}

/// Parses text into a value of the same kind as `like`.
fn parse_like(prop: &str, like: &Value, text: &str) -> Result<Value, CimError> {
    let bad = |what: &str| CimError::InvalidValue {
        prop: prop.into(),
        reason: format!("\"{text}\" is not {what}"),
    };
    let t = text.trim();
    Ok(match like {
        Value::Int(_) => Value::Int(t.parse().map_err(|_| bad("an integer"))?),
        Value::UInt(_) => Value::UInt(t.parse().map_err(|_| bad("an unsigned integer"))?),
        Value::Real(_) => Value::Real(t.parse().map_err(|_| bad("a number"))?),
        Value::Bool(_) => match t.to_ascii_lowercase().as_str() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(bad("a boolean")),
        },
        Value::DateTime(_) => Value::DateTime(text.into()),
        Value::Ref(_) => {
            Value::Ref(Reference::parse_object_path(t).ok_or_else(|| bad("an object path"))?)
        }
        Value::Array(_) => {
            return Err(CimError::InvalidValue {
                prop: prop.into(),
                reason: "array properties cannot be set".into(),
            });
        }
        Value::Null | Value::Str(_) => Value::Str(text.into()),
    })
}

/// Changes properties of an instance and returns it as it is afterwards. All changes
/// are checked before any is applied.
///
/// Writable: `ElementName` of CIM_ComputerSystem, CIM_RecordLog and sensors (for
/// sensors, the SDR name too: ASCII, 1 to 16 bytes); the six thresholds of
/// CIM_NumericSensor, as CIM integers scaled by `UnitModifier`, among those the spec
/// defines (`SettableThresholds`), ordered and fitting the raw byte; every non-key
/// property of extra instances (parsed as the type it has). Keys and other properties
/// are `NotWritable`; names the class does not have are `InvalidValue`.
pub fn put(
    m: &mut Machine,
    class: &str,
    selectors: &[(String, String)],
    changes: &[(String, String)],
    now: Millis,
) -> Result<Instance, CimError> {
    let obj = resolve(m, class, selectors)?;
    if let Obj::Extra(i) = obj {
        let Some(inst) = m.extra.get(i) else {
            return Err(CimError::NotFound {
                class: class.into(),
                selectors: owned_pairs(selectors),
            });
        };
        let mut updated = inst.clone();
        for (name, text) in changes {
            if inst.keys.iter().any(|(k, _)| k.eq_ignore_ascii_case(name)) {
                return Err(CimError::NotWritable { prop: name.clone() });
            }
            let Some(p) = updated
                .properties
                .iter_mut()
                .find(|p| p.name.eq_ignore_ascii_case(name))
            else {
                return Err(CimError::InvalidValue {
                    prop: name.clone(),
                    reason: format!("{} has no such property", inst.class),
                });
            };
            p.value = parse_like(name, &p.value, text)?;
        }
        m.extra[i] = updated.clone();
        return Ok(updated);
    }
    let concrete = reference(m, obj).class;
    let Some(info) = self::class(&concrete) else {
        return Err(CimError::UnknownClass { class: concrete });
    };
    let mut element_name: Option<String> = None;
    let mut thresholds: Option<Thresholds> = None;
    for (name, text) in changes {
        let Some((prop, _)) = info
            .properties
            .iter()
            .find(|(p, _)| p.eq_ignore_ascii_case(name))
        else {
            return Err(CimError::InvalidValue {
                prop: name.clone(),
                reason: format!("{} has no such property", info.name),
            });
        };
        if !info.writable.contains(prop) {
            return Err(CimError::NotWritable {
                prop: (*prop).into(),
            });
        }
        if *prop == "ElementName" {
            element_name = Some(text.clone());
            continue;
        }
        let Obj::Device(Device::Numeric(i)) = obj else {
            return Err(CimError::NotWritable {
                prop: (*prop).into(),
            });
        };
        let Some(sn) = m.numeric_sensors().get(i) else {
            return Err(CimError::NotFound {
                class: class.into(),
                selectors: owned_pairs(selectors),
            });
        };
        let Some(t) = Threshold::ALL
            .into_iter()
            .find(|t| t.cim_property() == *prop)
        else {
            return Err(CimError::NotWritable {
                prop: (*prop).into(),
            });
        };
        if sn.default_thresholds().get(t).is_none() {
            return Err(CimError::NotWritable {
                prop: (*prop).into(),
            });
        }
        let n = parse_int(prop, text)?;
        let th = thresholds.get_or_insert(*sn.thresholds());
        th.set(t, Some(sensor::from_cim_integer(n, sn.unit_modifier())));
    }
    if let (Some(th), Obj::Device(Device::Numeric(i))) = (thresholds, obj) {
        let id = m
            .numeric_sensors()
            .get(i)
            .map(|s| s.id().to_owned())
            .unwrap_or_default();
        m.set_thresholds(&id, th).map_err(|e| {
            let prop = changes
                .iter()
                .find(|(n, _)| n.to_ascii_lowercase().contains("threshold"))
                .map_or_else(String::new, |(n, _)| n.clone());
            let reason = match e {
                MachineError::InvalidThresholds { reason, .. } => reason,
                other => other.to_string(),
            };
            CimError::InvalidValue { prop, reason }
        })?;
    }
    if let Some(name) = element_name {
        let bad = |reason: String| CimError::InvalidValue {
            prop: "ElementName".into(),
            reason,
        };
        match obj {
            Obj::System => m.system_element_name = name,
            Obj::Log => m.log_element_name = name,
            Obj::Device(Device::Numeric(i)) | Obj::Device(Device::Fan(i)) => {
                let id = m
                    .numeric_sensors()
                    .get(i)
                    .map(|s| s.id().to_owned())
                    .unwrap_or_default();
                m.set_sensor_name(&id, &name)
                    .map_err(|e| bad(e.to_string()))?;
            }
            Obj::Device(Device::Discrete(i)) => {
                let id = m
                    .discrete_sensors()
                    .get(i)
                    .map(|s| s.id().to_owned())
                    .unwrap_or_default();
                m.set_sensor_name(&id, &name)
                    .map_err(|e| bad(e.to_string()))?;
            }
            _ => {
                return Err(CimError::NotWritable {
                    prop: "ElementName".into(),
                });
            }
        }
    }
    Ok(instance(m, obj, now))
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn only_params(params: &[(String, String)], allowed: &[&str]) -> Result<(), CimError> {
    match params
        .iter()
        .find(|(n, _)| !allowed.iter().any(|a| a.eq_ignore_ascii_case(n)))
    {
        Some((n, _)) => Err(CimError::InvalidParameter {
            name: n.clone(),
            reason: ParameterProblem::Unknown,
        }),
        None => Ok(()),
    }
}

fn return_value(v: u64) -> Vec<(String, Value)> {
    vec![("ReturnValue".into(), Value::UInt(v))]
}

/// Invokes an extrinsic method; returns the output parameters, `ReturnValue` first.
///
/// - `CIM_ComputerSystem.RequestStateChange(RequestedState, TimeoutPeriod)`: the
///   EnabledState values of DSP1052/CIM_EnabledLogicalElement: 2 Enabled → power on,
///   3 Disabled → hard power off, 4 Shut Down → soft off, 10 Reboot → power cycle, 11
///   Reset → hard reset. ReturnValue 0 when accepted (the change completes after the
///   power delays, no job is created), 4097 (Invalid State Transition) when the power
///   rules refuse it, 1 (Not Supported) for 6 Offline, 7 Test, 8 Defer and 9 Quiesce,
///   5 (Invalid Parameter) for other values. A missing or non-integer RequestedState is
///   `InvalidParameter`.
/// - `CIM_RecordLog.ClearLog()`: clears the SEL; ReturnValue 0.
/// - `CIM_NumericSensor.RestoreDefaultThresholds()`: the spec's thresholds; ReturnValue
///   0.
///
/// The method must be defined by `class` or a superclass; unknown parameters are
/// `InvalidParameter`.
pub fn invoke(
    m: &mut Machine,
    class: &str,
    selectors: &[(String, String)],
    method: &str,
    params: &[(String, String)],
    now: Millis,
) -> Result<Vec<(String, Value)>, CimError> {
    if !is_known(m, class) {
        return Err(CimError::UnknownClass {
            class: class.into(),
        });
    }
    let mut defined: Option<&'static str> = None;
    let mut cur = self::class(class);
    while let Some(info) = cur {
        if let Some(mm) = info
            .methods
            .iter()
            .find(|mm| mm.eq_ignore_ascii_case(method))
        {
            defined = Some(mm);
            break;
        }
        cur = info.superclass.and_then(self::class);
    }
    let Some(method_name) = defined else {
        return Err(CimError::UnknownMethod {
            class: class.into(),
            method: method.into(),
        });
    };
    let obj = resolve(m, class, selectors)?;
    match (method_name, obj) {
        ("RequestStateChange", Obj::System) => {
            only_params(params, &["RequestedState", "TimeoutPeriod"])?;
            let Some(text) = param(params, "RequestedState") else {
                return Err(CimError::InvalidParameter {
                    name: "RequestedState".into(),
                    reason: ParameterProblem::Missing,
                });
            };
            let value: u16 = text
                .trim()
                .parse()
                .map_err(|_| CimError::InvalidParameter {
                    name: "RequestedState".into(),
                    reason: ParameterProblem::WrongType {
                        value: text.to_owned(),
                        expected: "uint16",
                    },
                })?;
            let action = match value {
                2 => PowerAction::On,
                3 => PowerAction::Off,
                4 => PowerAction::SoftOff,
                10 => PowerAction::Cycle,
                11 => PowerAction::HardReset,
                6..=9 => return Ok(return_value(1)),
                _ => return Ok(return_value(5)),
            };
            Ok(match m.chassis_control(action, now) {
                Ok(()) => return_value(0),
                Err(MachineError::PowerActionRefused { .. }) => return_value(4097),
                Err(_) => return_value(2),
            })
        }
        ("ClearLog", Obj::Log) => {
            only_params(params, &[])?;
            m.sel_clear(now);
            Ok(return_value(0))
        }
        ("RestoreDefaultThresholds", Obj::Device(Device::Numeric(i))) => {
            only_params(params, &[])?;
            let id = m
                .numeric_sensors()
                .get(i)
                .map(|s| s.id().to_owned())
                .unwrap_or_default();
            Ok(return_value(if m.restore_default_thresholds(&id).is_ok() {
                0
            } else {
                2
            }))
        }
        _ => Err(CimError::UnknownMethod {
            class: class.into(),
            method: method.into(),
        }),
    }
}

fn is_builtin_concrete(class: &str) -> bool {
    self::class(class).is_some()
}

/// Creates an extra instance (WS-Transfer Create) and returns its reference.
///
/// Built-in classes (including CIM_LogRecord: SEL entries are made by the BMC, or
/// through IPMI Add SEL Entry) are refused with `NotSupported`. Any other class name
/// is accepted. The keys are those of existing instances of the class, else
/// `InstanceID`; each key must be given. Values are parsed as the type the class's
/// existing instances have for that property, else kept as strings. An instance with
/// the same keys is `AlreadyExists`.
pub fn create(
    m: &mut Machine,
    class: &str,
    properties: &[(String, String)],
) -> Result<Reference, CimError> {
    if is_builtin_concrete(class) {
        return Err(CimError::NotSupported {
            class: class.into(),
            operation: "Create",
        });
    }
    if class.is_empty() || !class.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(CimError::UnknownClass {
            class: class.into(),
        });
    }
    let template = m
        .extra
        .iter()
        .find(|e| e.class.eq_ignore_ascii_case(class))
        .cloned();
    let key_names: Vec<String> = match &template {
        Some(t) => t.keys.iter().map(|(k, _)| k.clone()).collect(),
        None => vec!["InstanceID".into()],
    };
    let class_name = template
        .as_ref()
        .map_or_else(|| class.to_owned(), |t| t.class.clone());
    let mut props: Vec<Property> = Vec::new();
    for (name, text) in properties {
        if props.iter().any(|p| p.name.eq_ignore_ascii_case(name)) {
            return Err(CimError::InvalidValue {
                prop: name.clone(),
                reason: "is given twice".into(),
            });
        }
        let like = template.as_ref().and_then(|t| {
            t.properties
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case(name))
        });
        let value = match like {
            Some(p) => parse_like(name, &p.value, text)?,
            None => Value::Str(text.clone()),
        };
        let name = like.map_or_else(|| name.clone(), |p| p.name.to_string());
        props.push(Property {
            name: name.into(),
            value,
        });
    }
    let mut keys = Vec::new();
    for k in &key_names {
        let Some(p) = props.iter().find(|p| p.name.eq_ignore_ascii_case(k)) else {
            return Err(CimError::InvalidValue {
                prop: k.clone(),
                reason: format!("the key {k} of {class_name} is missing"),
            });
        };
        keys.push((k.clone(), key_text(&p.value)));
    }
    let inst = Instance {
        class: class_name,
        keys,
        properties: props,
    };
    let r = inst.reference();
    if let Some(existing) = m.extra.iter().find(|e| e.reference().same_instance(&r)) {
        return Err(CimError::AlreadyExists {
            reference: existing.reference(),
        });
    }
    let lower = inst.class.to_ascii_lowercase();
    if !m.extra_classes.contains(&lower) {
        m.extra_classes.push(lower);
    }
    m.extra.push(inst);
    Ok(r)
}

/// Deletes an extra instance (WS-Transfer Delete). Built-in instances are refused with
/// `NotSupported` (clear the SEL with ClearLog instead of deleting records).
pub fn delete(
    m: &mut Machine,
    class: &str,
    selectors: &[(String, String)],
) -> Result<(), CimError> {
    match resolve(m, class, selectors)? {
        Obj::Extra(i) if i < m.extra.len() => {
            m.extra.remove(i);
            Ok(())
        }
        other => Err(CimError::NotSupported {
            class: reference(m, other).class,
            operation: "Delete",
        }),
    }
}

/// The references an association instance holds: (property name, reference).
fn refs_of(inst: &Instance) -> Vec<(String, Reference)> {
    inst.properties
        .iter()
        .filter_map(|p| match &p.value {
            Value::Ref(r) => Some((p.name.to_string(), r.clone())),
            _ => None,
        })
        .collect()
}

fn find_object(m: &Machine, r: &Reference) -> Option<Obj> {
    // SEL records are many: find one by its RecordID rather than by comparing them all.
    if r.class.eq_ignore_ascii_case("CIM_LogRecord") {
        let id = r
            .keys
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("RecordID"))?
            .1
            .parse()
            .ok()?;
        m.sel_entry(id)?;
        let obj = Obj::Record(id);
        if reference(m, obj).same_instance(r) {
            return Some(obj);
        }
    }
    objects(m, &r.class, true)
        .into_iter()
        .find(|o| reference(m, *o).same_instance(r))
}

/// Association traversal (DSP0227 8.2, the CIM Associators operation's rules): from
/// `object`, through association instances of `association_class` (or a subclass;
/// any association when `None`) that refer to it through the property `role` (any
/// when `None`), to the instances their other reference properties (`result_role`, or
/// any other) refer to, when those are of `result_class` or a subclass.
///
/// Returns the association instances that lead to at least one result, and the
/// results (each once, in order of first appearance). Association instances are the
/// built-in associations and every extra instance with a reference-valued property.
/// The object must exist (`NotFound`); unknown class names are `UnknownClass`;
/// dangling references are skipped.
#[allow(clippy::too_many_arguments)]
pub fn associations(
    m: &mut Machine,
    object: &Reference,
    association_class: Option<&str>,
    role: Option<&str>,
    result_class: Option<&str>,
    result_role: Option<&str>,
    now: Millis,
) -> Result<(Vec<Instance>, Vec<Instance>), CimError> {
    for c in [Some(object.class.as_str()), association_class, result_class]
        .into_iter()
        .flatten()
    {
        if !is_known(m, c) {
            return Err(CimError::UnknownClass { class: c.into() });
        }
    }
    if find_object(m, object).is_none() {
        return Err(CimError::NotFound {
            class: object.class.clone(),
            selectors: object.keys.clone(),
        });
    }
    let mut assoc_objs: Vec<Obj> = Vec::new();
    for c in schema::CLASSES
        .iter()
        .filter(|c| c.is_association && !c.is_abstract)
    {
        if association_class.is_none_or(|a| is_subclass(c.name, a)) {
            assoc_objs.extend(concrete_objects(m, c.name));
        }
    }
    for (i, e) in m.extra.iter().enumerate() {
        let has_ref = e
            .properties
            .iter()
            .any(|p| matches!(p.value, Value::Ref(_)));
        if has_ref && association_class.is_none_or(|a| is_subclass(&e.class, a)) {
            assoc_objs.push(Obj::Extra(i));
        }
    }
    let mut assocs: Vec<Instance> = Vec::new();
    let mut results: Vec<Instance> = Vec::new();
    // Results are concrete instances, whose references are canonical: exact equality
    // finds repeats.
    let mut result_refs: HashSet<Reference> = HashSet::new();
    for a in assoc_objs {
        let inst = instance(m, a, now);
        let refs = refs_of(&inst);
        let mut used = false;
        for (name, r) in &refs {
            if !r.same_instance(object) || role.is_some_and(|x| !x.eq_ignore_ascii_case(name)) {
                continue;
            }
            for (other_name, other) in &refs {
                if other_name == name
                    || result_role.is_some_and(|x| !x.eq_ignore_ascii_case(other_name))
                {
                    continue;
                }
                let Some(target) = find_object(m, other) else {
                    continue;
                };
                let target_ref = reference(m, target);
                if result_class.is_some_and(|c| !is_subclass(&target_ref.class, c)) {
                    continue;
                }
                used = true;
                if result_refs.insert(target_ref) {
                    results.push(instance(m, target, now));
                }
            }
        }
        if used {
            assocs.push(inst);
        }
    }
    Ok((assocs, results))
}

// ---- extra instances ----

fn prop_value(v: &PropValue) -> Value {
    match v {
        PropValue::Bool(b) => Value::Bool(*b),
        PropValue::Int(i) if *i >= 0 => Value::UInt(*i as u64),
        PropValue::Int(i) => Value::Int(*i),
        PropValue::Float(f) => Value::Real(*f),
        PropValue::Str(s) => Value::Str(s.clone()),
        PropValue::Array(a) => Value::Array(a.iter().map(prop_value).collect()),
        PropValue::Ref(r) => Value::Ref(Reference {
            class: r.class.clone(),
            keys: r.keys.0.clone(),
        }),
    }
}

/// The instance an `[[machine.instances]]` entry describes.
pub(crate) fn extra_instance(spec: &InstanceSpec) -> Instance {
    let properties: Vec<Property> = spec
        .properties
        .0
        .iter()
        .map(|(k, v)| Property {
            name: k.clone().into(),
            value: prop_value(v),
        })
        .collect();
    let keys = spec
        .keys
        .iter()
        .map(|k| {
            (
                k.clone(),
                properties
                    .iter()
                    .find(|p| &p.name == k)
                    .map_or_else(String::new, |p| key_text(&p.value)),
            )
        })
        .collect();
    Instance {
        class: spec.class.clone(),
        keys,
        properties,
    }
}

/// The reference of an `[[machine.instances]]` entry.
pub(crate) fn extra_reference(spec: &InstanceSpec) -> Reference {
    extra_instance(spec).reference()
}

/// Refuses extra instances that collide with built-in ones.
pub(crate) fn check_extras(m: &Machine) -> Result<(), SpecError> {
    for (i, e) in m.extra.iter().enumerate() {
        if !is_builtin_concrete(&e.class) {
            continue;
        }
        let r = e.reference();
        let clash = schema::CLASSES
            .iter()
            .filter(|c| !c.is_abstract && c.name.eq_ignore_ascii_case(&e.class))
            .flat_map(|c| concrete_objects(m, c.name))
            .any(|o| reference(m, o).same_instance(&r));
        if clash {
            return Err(SpecError::InvalidInstance {
                item: crate::spec::item("instances", i, &e.class),
                reason: "has the same keys as a built-in instance".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk `inherits` made before the chains were kept: one class at a time by
    /// name, at most 33 hops.
    fn walk(info: &ClassInfo, of: &str) -> bool {
        let mut cur = info.superclass;
        let mut hops = 0;
        while let Some(c) = cur {
            if c.eq_ignore_ascii_case(of) {
                return true;
            }
            cur = schema::CLASSES
                .iter()
                .find(|i| i.name == c)
                .or_else(|| class(c))
                .and_then(|i| i.superclass);
            hops += 1;
            if hops > 32 {
                break;
            }
        }
        false
    }

    #[test]
    fn kept_chains_answer_as_the_walk_did() {
        let mut names: Vec<String> = vec!["CIM_Nothing".into(), String::new(), "cim".into()];
        for c in schema::CLASSES {
            names.extend([
                c.name.to_owned(),
                c.name.to_ascii_lowercase(),
                c.name.to_ascii_uppercase(),
            ]);
        }
        let mut related = 0;
        for (i, info) in schema::CLASSES.iter().enumerate() {
            for of in &names {
                assert_eq!(inherits(i, of), walk(info, of), "{} of {of}", info.name);
                related += usize::from(walk(info, of));
            }
        }
        assert!(
            related > 3 * schema::CLASSES.len(),
            "the check saw relations"
        );
        // A chain through a superclass the table does not describe stops after it.
        let orphan = ClassInfo {
            superclass: Some("Vendor_Base"),
            ..schema::CLASSES[0]
        };
        assert_eq!(superclass_chain(&orphan, schema::CLASSES), ["Vendor_Base"]);
        // A table with a cycle (A's superclass is b, B's is A): the chain stops at 33
        // names, as the walk stopped after 33 hops.
        let a = ClassInfo {
            name: "A",
            superclass: Some("b"),
            ..schema::CLASSES[0]
        };
        let b = ClassInfo {
            name: "B",
            superclass: Some("A"),
            ..schema::CLASSES[0]
        };
        let chain = superclass_chain(&a, &[a, b]);
        assert_eq!(chain.len(), 33);
        assert_eq!(chain[..3], ["b", "A", "b"]);
    }

    #[test]
    fn reference_keys_compare_as_the_instances_they_name() {
        let path = |keys: &[(&str, &str)]| {
            Reference {
                class: "CIM_NumericSensor".into(),
                keys: keys
                    .iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect(),
            }
            .object_path()
        };
        let one = path(&[
            ("CreationClassName", "CIM_NumericSensor"),
            ("DeviceID", "T1"),
        ]);
        let reordered = path(&[
            ("DeviceID", "T1"),
            ("CreationClassName", "cim_numericsensor"),
        ]);
        let other = path(&[
            ("CreationClassName", "CIM_NumericSensor"),
            ("DeviceID", "T2"),
        ]);
        assert_ne!(one, reordered, "different text");
        assert!(
            key_value_eq("Element", &one, &reordered),
            "the same instance"
        );
        assert!(!key_value_eq("Element", &one, &other));
        assert!(!key_value_eq("Element", &one, "not a path"));
        assert!(key_value_eq("SystemCreationClassName", "CIM_A", "cim_a"));
        assert!(
            !key_value_eq("DeviceID", "T1", "t1"),
            "other keys are exact"
        );
    }

    #[test]
    fn kept_families_are_what_asking_every_class_gives() {
        let mut names: Vec<String> = vec!["CIM_Nothing".into(), String::new()];
        for c in schema::CLASSES {
            names.extend([c.name.to_owned(), c.name.to_ascii_uppercase()]);
        }
        let mut members = 0;
        for class in &names {
            for polymorphic in [false, true] {
                let scan = concrete_classes_by_scan(class, polymorphic);
                assert_eq!(concrete_classes(class, polymorphic), scan, "{class}");
                members += scan.len();
            }
        }
        assert!(
            members > 2 * schema::CLASSES.len(),
            "the check saw families"
        );
        let sensor = |name: &str| concrete_classes(name, true).len();
        assert!(sensor("CIM_Sensor") > sensor("CIM_NumericSensor"));
    }

    #[test]
    fn class_keys_are_recognised_in_any_case() {
        for key in [
            "CreationClassName",
            "SystemCreationClassName",
            "LOGCREATIONCLASSNAME",
            "creationclassname",
        ] {
            assert!(names_a_class(key), "{key}");
        }
        for key in [
            "DeviceID",
            "CreationClassNam",
            "reationClassName",
            "",
            "Name",
        ] {
            assert!(!names_a_class(key), "{key}");
        }
    }

    /// Every device found by the keys of its own reference, in any case of the key
    /// names and of the class names (what `resolve` compares without a reference),
    /// and not by another device's DeviceID.
    #[test]
    fn every_device_is_resolved_by_its_reference_keys() {
        let m = Machine::new(crate::MachineSpec::default(), 0).expect("a machine");
        let found = devices(&m);
        assert!(found.len() > 5, "the default machine has devices");
        for d in found {
            let r = device_ref(&m, d);
            let sels: Vec<(String, String)> = r.keys.clone();
            assert_eq!(resolve(&m, &r.class, &sels), Ok(Obj::Device(d)), "{r:?}");
            let shouting: Vec<(String, String)> = r
                .keys
                .iter()
                .map(|(k, v)| {
                    let v = if names_a_class(k) {
                        v.to_ascii_uppercase()
                    } else {
                        v.clone()
                    };
                    (k.to_ascii_lowercase(), v)
                })
                .collect();
            assert_eq!(resolve(&m, &r.class, &shouting), Ok(Obj::Device(d)));
            let mut wrong = sels.clone();
            wrong[1].1.push('X');
            assert!(matches!(
                resolve(&m, &r.class, &wrong),
                Err(CimError::NotFound { .. })
            ));
        }
    }
}
