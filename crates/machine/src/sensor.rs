//! Sensor vocabulary shared by the spec, the machine and both projections: sensor types
//! and units (with their IPMI and CIM codes), thresholds and threshold status, and the
//! deterministic value sources (sequence, seeded random walk).

use serde::{Deserialize, Serialize};

use crate::Millis;

/// What a sensor measures, with its IPMI sensor type code (IPMI 2.0 table 42-3) and the
/// CIM `SensorType` value (`CIM_Sensor.SensorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SensorType {
    /// Temperature (IPMI 0x01, CIM 2).
    Temperature,
    /// Voltage (IPMI 0x02, CIM 3).
    Voltage,
    /// Current (IPMI 0x03, CIM 4).
    Current,
    /// Fan speed (IPMI 0x04, CIM 5 Tachometer).
    Fan,
    /// Physical security, chassis intrusion (IPMI 0x05, CIM 16 Intrusion).
    PhysicalSecurity,
    /// Platform security violation attempt (IPMI 0x06, CIM 1 Other).
    PlatformSecurity,
    /// Processor (IPMI 0x07, CIM 1 Other).
    Processor,
    /// Power supply status and presence (IPMI 0x08, CIM 1 Other).
    PowerSupply,
    /// Power unit (IPMI 0x09, CIM 1 Other).
    PowerUnit,
    /// Cooling device (IPMI 0x0A, CIM 1 Other).
    CoolingDevice,
    /// Power draw in watts: IPMI "Other Units-based Sensor" (0x0B), as most BMCs report
    /// input power, CIM 13 Power Consumption.
    Power,
    /// Memory (IPMI 0x0C, CIM 1 Other).
    Memory,
    /// Drive slot (IPMI 0x0D, CIM 1 Other).
    DriveSlot,
    /// System firmware progress (IPMI 0x0F, CIM 1 Other).
    SystemFirmwareProgress,
    /// Event logging disabled (IPMI 0x10, CIM 1 Other).
    EventLoggingDisabled,
    /// System event (IPMI 0x12, CIM 1 Other).
    SystemEvent,
    /// Critical interrupt (IPMI 0x13, CIM 1 Other).
    CriticalInterrupt,
    /// Button or switch (IPMI 0x14, CIM 7 Switch).
    Button,
    /// System boot or restart initiated (IPMI 0x1D, CIM 1 Other).
    SystemBoot,
    /// OS boot (IPMI 0x1F, CIM 1 Other).
    OsBoot,
    /// OS stop or shutdown (IPMI 0x20, CIM 1 Other).
    OsStop,
    /// System ACPI power state (IPMI 0x22, CIM 1 Other).
    SystemAcpiPowerState,
    /// Watchdog 2 (IPMI 0x23, CIM 1 Other).
    Watchdog,
    /// Entity presence (IPMI 0x25, CIM 11 Presence).
    EntityPresence,
    /// Management subsystem health (IPMI 0x28, CIM 1 Other).
    ManagementSubsystemHealth,
    /// Battery (IPMI 0x29, CIM 1 Other).
    Battery,
    /// Anything else (IPMI 0x0B Other Units-based, CIM 1 Other).
    Other,
}

impl SensorType {
    /// The IPMI sensor type code.
    pub fn ipmi_code(self) -> u8 {
        use SensorType::*;
        match self {
            Temperature => 0x01,
            Voltage => 0x02,
            Current => 0x03,
            Fan => 0x04,
            PhysicalSecurity => 0x05,
            PlatformSecurity => 0x06,
            Processor => 0x07,
            PowerSupply => 0x08,
            PowerUnit => 0x09,
            CoolingDevice => 0x0A,
            Power | Other => 0x0B,
            Memory => 0x0C,
            DriveSlot => 0x0D,
            SystemFirmwareProgress => 0x0F,
            EventLoggingDisabled => 0x10,
            SystemEvent => 0x12,
            CriticalInterrupt => 0x13,
            Button => 0x14,
            SystemBoot => 0x1D,
            OsBoot => 0x1F,
            OsStop => 0x20,
            SystemAcpiPowerState => 0x22,
            Watchdog => 0x23,
            EntityPresence => 0x25,
            ManagementSubsystemHealth => 0x28,
            Battery => 0x29,
        }
    }

    /// The CIM `SensorType` value (1 = Other for types CIM has no value for; then
    /// [`SensorType::description`] fills `OtherSensorTypeDescription`).
    pub fn cim_code(self) -> u16 {
        use SensorType::*;
        match self {
            Temperature => 2,
            Voltage => 3,
            Current => 4,
            Fan => 5,
            Button => 7,
            EntityPresence => 11,
            Power => 13,
            PhysicalSecurity => 16,
            _ => 1,
        }
    }

    /// A human name ("Temperature", "Power Supply"), as IPMI tools print it.
    pub fn description(self) -> &'static str {
        use SensorType::*;
        match self {
            Temperature => "Temperature",
            Voltage => "Voltage",
            Current => "Current",
            Fan => "Fan",
            PhysicalSecurity => "Physical Security",
            PlatformSecurity => "Platform Security",
            Processor => "Processor",
            PowerSupply => "Power Supply",
            PowerUnit => "Power Unit",
            CoolingDevice => "Cooling Device",
            Power => "Power",
            Memory => "Memory",
            DriveSlot => "Drive Slot",
            SystemFirmwareProgress => "System Firmware Progress",
            EventLoggingDisabled => "Event Logging Disabled",
            SystemEvent => "System Event",
            CriticalInterrupt => "Critical Interrupt",
            Button => "Button",
            SystemBoot => "System Boot Initiated",
            OsBoot => "OS Boot",
            OsStop => "OS Stop",
            SystemAcpiPowerState => "System ACPI Power State",
            Watchdog => "Watchdog",
            EntityPresence => "Entity Presence",
            ManagementSubsystemHealth => "Management Subsystem Health",
            Battery => "Battery",
            Other => "Other",
        }
    }

    /// The IPMI entity id a sensor of this type belongs to when the spec names none
    /// (0x1D fan, 0x0A power supply, 0x03 processor, 0x20 memory, 0x17 chassis, 0x13
    /// power unit, otherwise 0x07 system board).
    pub fn default_entity_id(self) -> u8 {
        use SensorType::*;
        match self {
            Fan => 0x1D,
            Power | PowerSupply => 0x0A,
            Processor => 0x03,
            Memory => 0x20,
            PhysicalSecurity => 0x17,
            PowerUnit => 0x13,
            _ => 0x07,
        }
    }

    /// The unit a numeric sensor of this type has when the spec names none.
    pub fn default_unit(self) -> Unit {
        match self {
            SensorType::Temperature => Unit::DegreesC,
            SensorType::Voltage => Unit::Volts,
            SensorType::Current => Unit::Amps,
            SensorType::Fan => Unit::Rpm,
            SensorType::Power => Unit::Watts,
            _ => Unit::Unspecified,
        }
    }
}

/// A numeric sensor's unit, with its IPMI base unit code (IPMI 2.0 table 43-15) and its
/// CIM `BaseUnits` value (which for these units is the IPMI code plus one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Unit {
    /// No unit (IPMI 0, CIM 0 Unknown).
    Unspecified,
    /// Degrees Celsius (IPMI 1, CIM 2).
    DegreesC,
    /// Degrees Fahrenheit (IPMI 2, CIM 3).
    DegreesF,
    /// Kelvin (IPMI 3, CIM 4).
    Kelvin,
    /// Volts (IPMI 4, CIM 5).
    Volts,
    /// Amperes (IPMI 5, CIM 6).
    Amps,
    /// Watts (IPMI 6, CIM 7).
    Watts,
    /// Joules (IPMI 7, CIM 8).
    Joules,
    /// Volt-amperes (IPMI 9, CIM 10).
    Va,
    /// Cubic feet per minute (IPMI 17, CIM 18).
    Cfm,
    /// Revolutions per minute (IPMI 18, CIM 19).
    Rpm,
    /// Hertz (IPMI 19, CIM 20).
    Hertz,
    /// Seconds (IPMI 22, CIM 21).
    Seconds,
    /// Percent (IPMI: base unit 0 with the percentage bit of Sensor Units 1; CIM 65).
    Percent,
}

impl Unit {
    /// The IPMI base unit code.
    pub fn ipmi_code(self) -> u8 {
        match self {
            Unit::Unspecified | Unit::Percent => 0,
            Unit::DegreesC => 1,
            Unit::DegreesF => 2,
            Unit::Kelvin => 3,
            Unit::Volts => 4,
            Unit::Amps => 5,
            Unit::Watts => 6,
            Unit::Joules => 7,
            Unit::Va => 9,
            Unit::Cfm => 17,
            Unit::Rpm => 18,
            Unit::Hertz => 19,
            Unit::Seconds => 22,
        }
    }

    /// Whether IPMI marks the reading as a percentage (Sensor Units 1, bit 0).
    pub fn ipmi_percentage(self) -> bool {
        self == Unit::Percent
    }

    /// The CIM `BaseUnits` value.
    pub fn cim_base_units(self) -> u16 {
        match self {
            Unit::Unspecified => 0,
            Unit::Percent => 65,
            other => u16::from(other.ipmi_code()) + 1,
        }
    }

    /// The unit as IPMI tools print it ("degrees C", "Volts", "RPM").
    pub fn label(self) -> &'static str {
        match self {
            Unit::Unspecified => "unspecified",
            Unit::DegreesC => "degrees C",
            Unit::DegreesF => "degrees F",
            Unit::Kelvin => "degrees K",
            Unit::Volts => "Volts",
            Unit::Amps => "Amps",
            Unit::Watts => "Watts",
            Unit::Joules => "Joules",
            Unit::Va => "VA",
            Unit::Cfm => "CFM",
            Unit::Rpm => "RPM",
            Unit::Hertz => "Hz",
            Unit::Seconds => "seconds",
            Unit::Percent => "percent",
        }
    }
}

/// The six IPMI thresholds of a numeric sensor, each optional. CIM calls the
/// non-recoverable ones "Fatal".
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Lower non-recoverable (CIM `LowerThresholdFatal`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_non_recoverable: Option<f64>,
    /// Lower critical (CIM `LowerThresholdCritical`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_critical: Option<f64>,
    /// Lower non-critical (CIM `LowerThresholdNonCritical`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_non_critical: Option<f64>,
    /// Upper non-critical (CIM `UpperThresholdNonCritical`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper_non_critical: Option<f64>,
    /// Upper critical (CIM `UpperThresholdCritical`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper_critical: Option<f64>,
    /// Upper non-recoverable (CIM `UpperThresholdFatal`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper_non_recoverable: Option<f64>,
}

/// One of the six thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Threshold {
    /// Lower non-recoverable.
    LowerNonRecoverable,
    /// Lower critical.
    LowerCritical,
    /// Lower non-critical.
    LowerNonCritical,
    /// Upper non-critical.
    UpperNonCritical,
    /// Upper critical.
    UpperCritical,
    /// Upper non-recoverable.
    UpperNonRecoverable,
}

impl Threshold {
    /// All six, from the lowest to the highest.
    pub const ALL: [Threshold; 6] = [
        Threshold::LowerNonRecoverable,
        Threshold::LowerCritical,
        Threshold::LowerNonCritical,
        Threshold::UpperNonCritical,
        Threshold::UpperCritical,
        Threshold::UpperNonRecoverable,
    ];

    /// The spec field name (`upper_critical`).
    pub fn field(self) -> &'static str {
        match self {
            Threshold::LowerNonRecoverable => "lower_non_recoverable",
            Threshold::LowerCritical => "lower_critical",
            Threshold::LowerNonCritical => "lower_non_critical",
            Threshold::UpperNonCritical => "upper_non_critical",
            Threshold::UpperCritical => "upper_critical",
            Threshold::UpperNonRecoverable => "upper_non_recoverable",
        }
    }

    /// The CIM property name (`UpperThresholdCritical`).
    pub fn cim_property(self) -> &'static str {
        match self {
            Threshold::LowerNonRecoverable => "LowerThresholdFatal",
            Threshold::LowerCritical => "LowerThresholdCritical",
            Threshold::LowerNonCritical => "LowerThresholdNonCritical",
            Threshold::UpperNonCritical => "UpperThresholdNonCritical",
            Threshold::UpperCritical => "UpperThresholdCritical",
            Threshold::UpperNonRecoverable => "UpperThresholdFatal",
        }
    }

    /// The CIM `SupportedThresholds` code (0 LowerNonCritical, 1 UpperNonCritical, 2
    /// LowerCritical, 3 UpperCritical, 4 LowerFatal, 5 UpperFatal).
    pub fn cim_code(self) -> u16 {
        match self {
            Threshold::LowerNonCritical => 0,
            Threshold::UpperNonCritical => 1,
            Threshold::LowerCritical => 2,
            Threshold::UpperCritical => 3,
            Threshold::LowerNonRecoverable => 4,
            Threshold::UpperNonRecoverable => 5,
        }
    }

    /// The CIM state name when this is the most severe crossed threshold.
    pub fn state_name(self) -> &'static str {
        match self {
            Threshold::LowerNonRecoverable => "Lower Fatal",
            Threshold::LowerCritical => "Lower Critical",
            Threshold::LowerNonCritical => "Lower Non-Critical",
            Threshold::UpperNonCritical => "Upper Non-Critical",
            Threshold::UpperCritical => "Upper Critical",
            Threshold::UpperNonRecoverable => "Upper Fatal",
        }
    }

    /// Whether this is an upper threshold (crossed going high).
    pub fn is_upper(self) -> bool {
        matches!(
            self,
            Threshold::UpperNonCritical | Threshold::UpperCritical | Threshold::UpperNonRecoverable
        )
    }

    /// The bit of this threshold in the IPMI Get Sensor Reading status byte (and in
    /// [`ThresholdStatus::bits`]): 0 LNC, 1 LC, 2 LNR, 3 UNC, 4 UC, 5 UNR.
    pub fn bit(self) -> u8 {
        match self {
            Threshold::LowerNonCritical => 0,
            Threshold::LowerCritical => 1,
            Threshold::LowerNonRecoverable => 2,
            Threshold::UpperNonCritical => 3,
            Threshold::UpperCritical => 4,
            Threshold::UpperNonRecoverable => 5,
        }
    }

    /// The IPMI threshold event offset for the crossing direction that asserts it
    /// (lower thresholds going low, upper thresholds going high).
    pub fn event_offset(self) -> u8 {
        match self {
            Threshold::LowerNonCritical => 0x00,
            Threshold::LowerCritical => 0x02,
            Threshold::LowerNonRecoverable => 0x04,
            Threshold::UpperNonCritical => 0x07,
            Threshold::UpperCritical => 0x09,
            Threshold::UpperNonRecoverable => 0x0B,
        }
    }

    /// Severity: 1 non-critical, 2 critical, 3 non-recoverable.
    pub fn severity(self) -> u8 {
        match self {
            Threshold::LowerNonCritical | Threshold::UpperNonCritical => 1,
            Threshold::LowerCritical | Threshold::UpperCritical => 2,
            Threshold::LowerNonRecoverable | Threshold::UpperNonRecoverable => 3,
        }
    }
}

impl Thresholds {
    /// The value of one threshold.
    pub fn get(&self, t: Threshold) -> Option<f64> {
        match t {
            Threshold::LowerNonRecoverable => self.lower_non_recoverable,
            Threshold::LowerCritical => self.lower_critical,
            Threshold::LowerNonCritical => self.lower_non_critical,
            Threshold::UpperNonCritical => self.upper_non_critical,
            Threshold::UpperCritical => self.upper_critical,
            Threshold::UpperNonRecoverable => self.upper_non_recoverable,
        }
    }

    /// Sets one threshold.
    pub fn set(&mut self, t: Threshold, v: Option<f64>) {
        let slot = match t {
            Threshold::LowerNonRecoverable => &mut self.lower_non_recoverable,
            Threshold::LowerCritical => &mut self.lower_critical,
            Threshold::LowerNonCritical => &mut self.lower_non_critical,
            Threshold::UpperNonCritical => &mut self.upper_non_critical,
            Threshold::UpperCritical => &mut self.upper_critical,
            Threshold::UpperNonRecoverable => &mut self.upper_non_recoverable,
        };
        *slot = v;
    }

    /// The thresholds that are set, lowest first.
    pub fn present(&self) -> impl Iterator<Item = (Threshold, f64)> + '_ {
        Threshold::ALL
            .into_iter()
            .filter_map(|t| self.get(t).map(|v| (t, v)))
    }

    /// Checks that every value is finite and that present thresholds are ordered
    /// `lnr <= lc <= lnc <= unc <= uc <= unr`. On failure names the first pair out of
    /// order (lower field, its value, upper field, its value), or a non-finite one as
    /// `(field, value, field, value)`.
    pub fn check_order(&self) -> Result<(), (Threshold, f64, Threshold, f64)> {
        let present: Vec<(Threshold, f64)> = self.present().collect();
        for &(t, v) in &present {
            if !v.is_finite() {
                return Err((t, v, t, v));
            }
        }
        for (i, &(a, va)) in present.iter().enumerate() {
            for &(b, vb) in &present[i + 1..] {
                if va > vb {
                    return Err((a, va, b, vb));
                }
            }
        }
        Ok(())
    }

    /// Which thresholds `value` is at or beyond (upper: `value >= threshold`; lower:
    /// `value <= threshold`).
    pub fn status(&self, value: f64) -> ThresholdStatus {
        let mut bits = 0u8;
        for (t, th) in self.present() {
            let crossed = if t.is_upper() {
                value >= th
            } else {
                value <= th
            };
            if crossed {
                bits |= 1 << t.bit();
            }
        }
        ThresholdStatus(bits)
    }
}

/// The set of thresholds a reading is at or beyond, as the IPMI Get Sensor Reading
/// status bits (bit 0 LNC, 1 LC, 2 LNR, 3 UNC, 4 UC, 5 UNR).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ThresholdStatus(pub u8);

impl ThresholdStatus {
    /// The raw bits.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether a threshold is crossed.
    pub fn is_crossed(self, t: Threshold) -> bool {
        self.0 & (1 << t.bit()) != 0
    }

    /// The crossed thresholds, lowest first.
    pub fn crossed(self) -> impl Iterator<Item = Threshold> {
        Threshold::ALL
            .into_iter()
            .filter(move |t| self.is_crossed(*t))
    }

    /// The most severe crossed threshold.
    pub fn worst(self) -> Option<Threshold> {
        self.crossed().max_by_key(|t| (t.severity(), t.is_upper()))
    }

    /// The CIM `CurrentState` ("Normal", "Upper Non-Critical", ...).
    pub fn current_state(self) -> &'static str {
        self.worst().map_or("Normal", Threshold::state_name)
    }

    /// The CIM `HealthState`: 5 OK, 15 minor (non-critical), 20 major (critical), 25
    /// critical failure (non-recoverable).
    pub fn health_state(self) -> u16 {
        match self.worst().map(Threshold::severity) {
            None => 5,
            Some(1) => 15,
            Some(2) => 20,
            Some(_) => 25,
        }
    }

    /// The CIM `OperationalStatus` value: 2 OK, 3 Degraded, 6 Error, 7 Non-Recoverable
    /// Error.
    pub fn operational_status(self) -> u16 {
        match self.worst().map(Threshold::severity) {
            None => 2,
            Some(1) => 3,
            Some(2) => 6,
            Some(_) => 7,
        }
    }
}

/// A seeded random walk (`random_walk = { start, step, seed, step_ms, min, max }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomWalkSpec {
    /// The value at t = 0.
    pub start: f64,
    /// The largest change per step (each step adds `step * u`, u uniform in [-1, 1)).
    pub step: f64,
    /// The PRNG seed.
    #[serde(default)]
    pub seed: u64,
    /// Milliseconds per step.
    #[serde(default = "default_step_ms")]
    pub step_ms: u64,
    /// Lower bound (the walk is clamped).
    pub min: f64,
    /// Upper bound (the walk is clamped).
    pub max: f64,
}

pub(crate) fn default_step_ms() -> u64 {
    1000
}

/// splitmix64: a tiny, well-known PRNG, written here so that walks never depend on a
/// crate version.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Walks longer than this stop moving: it bounds the work of one read (about a second
/// in the worst case) whatever `now` is, so a read never hangs.
pub const MAX_WALK_STEPS: u64 = 100_000_000;

/// The state of a random walk, caching its last position so that reads cost the steps
/// since the last read. The value at a time is a pure function of the spec and the time.
#[derive(Debug, Clone)]
pub(crate) struct Walk {
    spec: RandomWalkSpec,
    steps: u64,
    value: f64,
    rng: u64,
}

impl Walk {
    pub(crate) fn new(spec: RandomWalkSpec) -> Walk {
        let value = spec.start.clamp(spec.min, spec.max);
        Walk {
            rng: spec.seed,
            steps: 0,
            value,
            spec,
        }
    }

    pub(crate) fn value_at(&mut self, now: Millis) -> f64 {
        let target = (now / self.spec.step_ms.max(1)).min(MAX_WALK_STEPS);
        if target < self.steps {
            *self = Walk::new(self.spec.clone());
        }
        while self.steps < target {
            let u = (splitmix64(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64;
            self.value =
                (self.value + self.spec.step * (2.0 * u - 1.0)).clamp(self.spec.min, self.spec.max);
            self.steps += 1;
        }
        self.value
    }
}

/// The value of a `sequence` source at a time: `seq[(now / step_ms) % len]`.
pub(crate) fn sequence_at(values: &[f64], step_ms: u64, now: Millis) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let i = (now / step_ms.max(1)) % values.len() as u64;
    values.get(i as usize).copied()
}

/// The SDR linear conversion used throughout: `raw = round((value - offset) /
/// resolution)`, clamped to a byte.
pub fn to_raw(value: f64, resolution: f64, offset: f64) -> u8 {
    let r = ((value - offset) / resolution).round();
    if r.is_nan() {
        0
    } else {
        r.clamp(0.0, 255.0) as u8
    }
}

/// The raw value without clamping (to check that a value fits a byte).
pub(crate) fn raw_unclamped(value: f64, resolution: f64, offset: f64) -> f64 {
    ((value - offset) / resolution).round()
}

/// The reading a raw byte stands for: `raw * resolution + offset`.
pub fn from_raw(raw: u8, resolution: f64, offset: f64) -> f64 {
    f64::from(raw) * resolution + offset
}

/// The CIM `UnitModifier` for a sensor: minus the number of decimals needed to write
/// its resolution and offset exactly (at most 6), so that every quantized reading is an
/// integer multiple of `10^UnitModifier`.
pub fn unit_modifier(resolution: f64, offset: f64) -> i32 {
    for k in 0..=6 {
        let scale = 10f64.powi(k);
        let exact = |x: f64| {
            let s = x * scale;
            (s - s.round()).abs() <= 1e-6 * s.abs().max(1.0)
        };
        if exact(resolution) && exact(offset) {
            return -k;
        }
    }
    -6
}

/// A value as the CIM integer for a unit modifier: `round(value * 10^-modifier)`,
/// saturated to sint32.
pub fn to_cim_integer(value: f64, modifier: i32) -> i64 {
    let v = (value * 10f64.powi(-modifier)).round();
    if v.is_nan() {
        0
    } else {
        v.clamp(i32::MIN as f64, i32::MAX as f64) as i64
    }
}

/// The inverse of [`to_cim_integer`].
pub fn from_cim_integer(v: i64, modifier: i32) -> f64 {
    v as f64 * 10f64.powi(modifier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_codes() {
        assert_eq!(Unit::DegreesC.cim_base_units(), 2);
        assert_eq!(Unit::Rpm.cim_base_units(), 19);
        assert_eq!(Unit::Volts.ipmi_code(), 4);
        assert_eq!(Unit::Percent.cim_base_units(), 65);
    }

    #[test]
    fn modifier_and_scaling() {
        assert_eq!(unit_modifier(1.0, 0.0), 0);
        assert_eq!(unit_modifier(0.01, 0.0), -2);
        assert_eq!(unit_modifier(0.5, 0.0), -1);
        assert_eq!(unit_modifier(60.0, 0.0), 0);
        assert_eq!(unit_modifier(0.1, 0.05), -2);
        assert_eq!(to_cim_integer(12.06, -2), 1206);
        assert_eq!(from_cim_integer(1206, -2), 12.06);
        assert_eq!(to_raw(300.0, 1.0, 0.0), 255);
        assert_eq!(to_raw(-3.0, 1.0, 0.0), 0);
    }

    #[test]
    fn status_and_state() {
        let t = Thresholds {
            upper_non_critical: Some(75.0),
            upper_critical: Some(85.0),
            ..Default::default()
        };
        assert_eq!(t.status(50.0).current_state(), "Normal");
        assert_eq!(t.status(80.0).current_state(), "Upper Non-Critical");
        assert_eq!(t.status(85.0).current_state(), "Upper Critical");
        assert_eq!(t.status(85.0).health_state(), 20);
        assert_eq!(t.status(85.0).bits(), 0b0001_1000);
    }
}
