//! The built-in CIM classes: names, superclasses, keys, properties in schema order with
//! their CIM types, methods and writable properties. A subset of the DMTF CIM schema
//! (2.x), as the Base Server, Sensors, Record Log, Fan, Power Supply, Software
//! Inventory and Profile Registration profiles use it.

/// A CIM property type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CimType {
    /// boolean
    Boolean,
    /// string
    String,
    /// uint8
    Uint8,
    /// uint16
    Uint16,
    /// uint32
    Uint32,
    /// uint64
    Uint64,
    /// sint8
    Sint8,
    /// sint16
    Sint16,
    /// sint32
    Sint32,
    /// sint64
    Sint64,
    /// real32
    Real32,
    /// real64
    Real64,
    /// datetime
    DateTime,
    /// A reference (`REF`).
    Reference,
    /// string[]
    StringArray,
    /// uint16[]
    Uint16Array,
}

impl CimType {
    /// The MOF name (`uint16[]`, `ref`).
    pub fn name(self) -> &'static str {
        match self {
            CimType::Boolean => "boolean",
            CimType::String => "string",
            CimType::Uint8 => "uint8",
            CimType::Uint16 => "uint16",
            CimType::Uint32 => "uint32",
            CimType::Uint64 => "uint64",
            CimType::Sint8 => "sint8",
            CimType::Sint16 => "sint16",
            CimType::Sint32 => "sint32",
            CimType::Sint64 => "sint64",
            CimType::Real32 => "real32",
            CimType::Real64 => "real64",
            CimType::DateTime => "datetime",
            CimType::Reference => "ref",
            CimType::StringArray => "string[]",
            CimType::Uint16Array => "uint16[]",
        }
    }

    /// Whether this is an array type.
    pub fn is_array(self) -> bool {
        matches!(self, CimType::StringArray | CimType::Uint16Array)
    }
}

/// What the mock knows of a CIM class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassInfo {
    /// The class name (`CIM_NumericSensor`).
    pub name: &'static str,
    /// Key property names, in key order.
    pub keys: &'static [&'static str],
    /// The direct superclass.
    pub superclass: Option<&'static str>,
    /// Whether instances are associations (their keys are references).
    pub is_association: bool,
    /// Whether the class is abstract (no instances of exactly this class).
    pub is_abstract: bool,
    /// Properties in schema order (inherited first), with their types.
    pub properties: &'static [(&'static str, CimType)],
    /// Extrinsic methods (`RequestStateChange`).
    pub methods: &'static [&'static str],
    /// Properties a Put may change.
    pub writable: &'static [&'static str],
}

use CimType::*;

const ME: &[(&str, CimType)] = &[
    ("Caption", String),
    ("Description", String),
    ("ElementName", String),
];

const ELE: &[(&str, CimType)] = &[
    ("Caption", String),
    ("Description", String),
    ("ElementName", String),
    ("OperationalStatus", Uint16Array),
    ("HealthState", Uint16),
    ("EnabledState", Uint16),
    ("RequestedState", Uint16),
    ("EnabledDefault", Uint16),
];

const DEVICE_KEYS: &[&str] = &[
    "CreationClassName",
    "DeviceID",
    "SystemCreationClassName",
    "SystemName",
];

const DEVICE: &[(&str, CimType)] = &[
    ("Caption", String),
    ("Description", String),
    ("ElementName", String),
    ("OperationalStatus", Uint16Array),
    ("HealthState", Uint16),
    ("EnabledState", Uint16),
    ("RequestedState", Uint16),
    ("EnabledDefault", Uint16),
    ("SystemCreationClassName", String),
    ("SystemName", String),
    ("CreationClassName", String),
    ("DeviceID", String),
];

const SENSOR: &[(&str, CimType)] = &[
    ("Caption", String),
    ("Description", String),
    ("ElementName", String),
    ("OperationalStatus", Uint16Array),
    ("HealthState", Uint16),
    ("EnabledState", Uint16),
    ("RequestedState", Uint16),
    ("EnabledDefault", Uint16),
    ("SystemCreationClassName", String),
    ("SystemName", String),
    ("CreationClassName", String),
    ("DeviceID", String),
    ("SensorType", Uint16),
    ("OtherSensorTypeDescription", String),
    ("PossibleStates", StringArray),
    ("CurrentState", String),
];

const NUMERIC_SENSOR: &[(&str, CimType)] = &[
    ("Caption", String),
    ("Description", String),
    ("ElementName", String),
    ("OperationalStatus", Uint16Array),
    ("HealthState", Uint16),
    ("EnabledState", Uint16),
    ("RequestedState", Uint16),
    ("EnabledDefault", Uint16),
    ("SystemCreationClassName", String),
    ("SystemName", String),
    ("CreationClassName", String),
    ("DeviceID", String),
    ("SensorType", Uint16),
    ("OtherSensorTypeDescription", String),
    ("PossibleStates", StringArray),
    ("CurrentState", String),
    ("BaseUnits", Uint16),
    ("UnitModifier", Sint32),
    ("RateUnits", Uint16),
    ("CurrentReading", Sint32),
    ("NominalReading", Sint32),
    ("NormalMax", Sint32),
    ("NormalMin", Sint32),
    ("MaxReadable", Sint32),
    ("MinReadable", Sint32),
    ("Resolution", Uint32),
    ("IsLinear", Boolean),
    ("LowerThresholdNonCritical", Sint32),
    ("UpperThresholdNonCritical", Sint32),
    ("LowerThresholdCritical", Sint32),
    ("UpperThresholdCritical", Sint32),
    ("LowerThresholdFatal", Sint32),
    ("UpperThresholdFatal", Sint32),
    ("SupportedThresholds", Uint16Array),
    ("EnabledThresholds", Uint16Array),
    ("SettableThresholds", Uint16Array),
];

const FAN: &[(&str, CimType)] = &[
    ("Caption", String),
    ("Description", String),
    ("ElementName", String),
    ("OperationalStatus", Uint16Array),
    ("HealthState", Uint16),
    ("EnabledState", Uint16),
    ("RequestedState", Uint16),
    ("EnabledDefault", Uint16),
    ("SystemCreationClassName", String),
    ("SystemName", String),
    ("CreationClassName", String),
    ("DeviceID", String),
    ("ActiveCooling", Boolean),
    ("VariableSpeed", Boolean),
    ("DesiredSpeed", Uint64),
];

const POWER_SUPPLY: &[(&str, CimType)] = &[
    ("Caption", String),
    ("Description", String),
    ("ElementName", String),
    ("OperationalStatus", Uint16Array),
    ("HealthState", Uint16),
    ("EnabledState", Uint16),
    ("RequestedState", Uint16),
    ("EnabledDefault", Uint16),
    ("SystemCreationClassName", String),
    ("SystemName", String),
    ("CreationClassName", String),
    ("DeviceID", String),
    ("IsSwitchingSupply", Boolean),
    ("TotalOutputPower", Uint32),
];

const SYSTEM: &[(&str, CimType)] = &[
    ("Caption", String),
    ("Description", String),
    ("ElementName", String),
    ("OperationalStatus", Uint16Array),
    ("HealthState", Uint16),
    ("EnabledState", Uint16),
    ("RequestedState", Uint16),
    ("EnabledDefault", Uint16),
    ("TimeOfLastStateChange", DateTime),
    ("CreationClassName", String),
    ("Name", String),
    ("NameFormat", String),
    ("IdentifyingDescriptions", StringArray),
    ("OtherIdentifyingInfo", StringArray),
];

const COMPUTER_SYSTEM: &[(&str, CimType)] = &[
    ("Caption", String),
    ("Description", String),
    ("ElementName", String),
    ("OperationalStatus", Uint16Array),
    ("HealthState", Uint16),
    ("EnabledState", Uint16),
    ("RequestedState", Uint16),
    ("EnabledDefault", Uint16),
    ("TimeOfLastStateChange", DateTime),
    ("CreationClassName", String),
    ("Name", String),
    ("NameFormat", String),
    ("IdentifyingDescriptions", StringArray),
    ("OtherIdentifyingInfo", StringArray),
    ("Dedicated", Uint16Array),
    ("ResetCapability", Uint16),
];

const RECORD_LOG: &[(&str, CimType)] = &[
    ("InstanceID", String),
    ("Caption", String),
    ("Description", String),
    ("ElementName", String),
    ("OperationalStatus", Uint16Array),
    ("HealthState", Uint16),
    ("EnabledState", Uint16),
    ("RequestedState", Uint16),
    ("EnabledDefault", Uint16),
    ("Name", String),
    ("MaxNumberOfRecords", Uint64),
    ("CurrentNumberOfRecords", Uint64),
    ("OverwritePolicy", Uint16),
    ("LogState", Uint16),
];

const LOG_RECORD: &[(&str, CimType)] = &[
    ("Caption", String),
    ("Description", String),
    ("ElementName", String),
    ("LogCreationClassName", String),
    ("LogName", String),
    ("CreationClassName", String),
    ("RecordID", String),
    ("MessageTimestamp", DateTime),
    ("RecordFormat", String),
    ("RecordData", String),
];

const SOFTWARE_IDENTITY: &[(&str, CimType)] = &[
    ("InstanceID", String),
    ("Caption", String),
    ("Description", String),
    ("ElementName", String),
    ("Name", String),
    ("Manufacturer", String),
    ("VersionString", String),
    ("MajorVersion", Uint16),
    ("MinorVersion", Uint16),
    ("RevisionNumber", Uint16),
    ("BuildNumber", Uint16),
    ("IsEntity", Boolean),
    ("Classifications", Uint16Array),
];

const REGISTERED_PROFILE: &[(&str, CimType)] = &[
    ("InstanceID", String),
    ("Caption", String),
    ("Description", String),
    ("ElementName", String),
    ("RegisteredOrganization", Uint16),
    ("OtherRegisteredOrganization", String),
    ("RegisteredName", String),
    ("RegisteredVersion", String),
    ("AdvertiseTypes", Uint16Array),
];

const fn class(
    name: &'static str,
    superclass: Option<&'static str>,
    keys: &'static [&'static str],
    properties: &'static [(&'static str, CimType)],
) -> ClassInfo {
    ClassInfo {
        name,
        keys,
        superclass,
        is_association: false,
        is_abstract: false,
        properties,
        methods: &[],
        writable: &[],
    }
}

const fn abstract_class(
    name: &'static str,
    superclass: Option<&'static str>,
    keys: &'static [&'static str],
    properties: &'static [(&'static str, CimType)],
) -> ClassInfo {
    ClassInfo {
        is_abstract: true,
        ..class(name, superclass, keys, properties)
    }
}

const fn association(
    name: &'static str,
    superclass: Option<&'static str>,
    keys: &'static [&'static str],
    properties: &'static [(&'static str, CimType)],
    is_abstract: bool,
) -> ClassInfo {
    ClassInfo {
        is_association: true,
        is_abstract,
        ..class(name, superclass, keys, properties)
    }
}

/// The built-in classes, superclasses before subclasses.
pub(crate) static CLASSES: &[ClassInfo] = &[
    abstract_class("CIM_ManagedElement", None, &[], ME),
    abstract_class(
        "CIM_ManagedSystemElement",
        Some("CIM_ManagedElement"),
        &[],
        ME,
    ),
    abstract_class(
        "CIM_LogicalElement",
        Some("CIM_ManagedSystemElement"),
        &[],
        ME,
    ),
    abstract_class(
        "CIM_EnabledLogicalElement",
        Some("CIM_LogicalElement"),
        &[],
        ELE,
    ),
    abstract_class(
        "CIM_System",
        Some("CIM_EnabledLogicalElement"),
        &["CreationClassName", "Name"],
        SYSTEM,
    ),
    ClassInfo {
        methods: &["RequestStateChange"],
        writable: &["ElementName"],
        ..class(
            "CIM_ComputerSystem",
            Some("CIM_System"),
            &["CreationClassName", "Name"],
            COMPUTER_SYSTEM,
        )
    },
    abstract_class(
        "CIM_LogicalDevice",
        Some("CIM_EnabledLogicalElement"),
        DEVICE_KEYS,
        DEVICE,
    ),
    ClassInfo {
        writable: &["ElementName"],
        ..class("CIM_Sensor", Some("CIM_LogicalDevice"), DEVICE_KEYS, SENSOR)
    },
    ClassInfo {
        methods: &["RestoreDefaultThresholds"],
        writable: &[
            "ElementName",
            "LowerThresholdNonCritical",
            "UpperThresholdNonCritical",
            "LowerThresholdCritical",
            "UpperThresholdCritical",
            "LowerThresholdFatal",
            "UpperThresholdFatal",
        ],
        ..class(
            "CIM_NumericSensor",
            Some("CIM_Sensor"),
            DEVICE_KEYS,
            NUMERIC_SENSOR,
        )
    },
    abstract_class(
        "CIM_CoolingDevice",
        Some("CIM_LogicalDevice"),
        DEVICE_KEYS,
        DEVICE,
    ),
    class("CIM_Fan", Some("CIM_CoolingDevice"), DEVICE_KEYS, FAN),
    class(
        "CIM_PowerSupply",
        Some("CIM_LogicalDevice"),
        DEVICE_KEYS,
        POWER_SUPPLY,
    ),
    abstract_class(
        "CIM_Log",
        Some("CIM_EnabledLogicalElement"),
        &["InstanceID"],
        RECORD_LOG,
    ),
    ClassInfo {
        methods: &["ClearLog"],
        writable: &["ElementName"],
        ..class(
            "CIM_RecordLog",
            Some("CIM_Log"),
            &["InstanceID"],
            RECORD_LOG,
        )
    },
    abstract_class("CIM_RecordForLog", Some("CIM_ManagedElement"), &[], ME),
    class(
        "CIM_LogRecord",
        Some("CIM_RecordForLog"),
        &[
            "LogCreationClassName",
            "LogName",
            "CreationClassName",
            "RecordID",
            "MessageTimestamp",
        ],
        LOG_RECORD,
    ),
    class(
        "CIM_SoftwareIdentity",
        Some("CIM_LogicalElement"),
        &["InstanceID"],
        SOFTWARE_IDENTITY,
    ),
    class(
        "CIM_RegisteredProfile",
        Some("CIM_ManagedElement"),
        &["InstanceID"],
        REGISTERED_PROFILE,
    ),
    association(
        "CIM_Component",
        None,
        &["GroupComponent", "PartComponent"],
        &[("GroupComponent", Reference), ("PartComponent", Reference)],
        true,
    ),
    association(
        "CIM_SystemComponent",
        Some("CIM_Component"),
        &["GroupComponent", "PartComponent"],
        &[("GroupComponent", Reference), ("PartComponent", Reference)],
        true,
    ),
    association(
        "CIM_SystemDevice",
        Some("CIM_SystemComponent"),
        &["GroupComponent", "PartComponent"],
        &[("GroupComponent", Reference), ("PartComponent", Reference)],
        false,
    ),
    association(
        "CIM_Dependency",
        None,
        &["Antecedent", "Dependent"],
        &[("Antecedent", Reference), ("Dependent", Reference)],
        true,
    ),
    association(
        "CIM_UseOfLog",
        Some("CIM_Dependency"),
        &["Antecedent", "Dependent"],
        &[("Antecedent", Reference), ("Dependent", Reference)],
        false,
    ),
    association(
        "CIM_LogManagesRecord",
        None,
        &["Log", "Record"],
        &[("Log", Reference), ("Record", Reference)],
        false,
    ),
    association(
        "CIM_ElementConformsToProfile",
        None,
        &["ConformantStandard", "ManagedElement"],
        &[
            ("ConformantStandard", Reference),
            ("ManagedElement", Reference),
        ],
        false,
    ),
    association(
        "CIM_InstalledSoftwareIdentity",
        None,
        &["System", "InstalledSoftware"],
        &[("System", Reference), ("InstalledSoftware", Reference)],
        false,
    ),
];
