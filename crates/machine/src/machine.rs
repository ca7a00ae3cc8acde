//! The machine's state: what a spec becomes when the mock starts, and every operation
//! either protocol performs on it.
//!
//! Sensor readings are what the BMC reports: the source value quantized to the sensor's
//! raw byte (`raw = round((value - offset) / resolution)`, clamped to 0..=255, reading =
//! `raw * resolution + offset`), so that IPMI (raw byte + SDR conversion) and CIM
//! (`CurrentReading` scaled by `UnitModifier`) show exactly the same number. Thresholds
//! are compared in the raw domain, as a BMC does.
//!
//! Reading a numeric sensor "observes" it: when the observed threshold status differs
//! from the last observed one, threshold events (type 0x01; event data 1 = 0x50 |
//! offset, data 2 = raw reading, data 3 = raw threshold) are added to the SEL, one per
//! threshold asserted or deasserted (there is no hysteresis). Observation happens on
//! [`Machine::reading`], [`Machine::threshold_status`], [`Machine::tick`], overrides,
//! and CIM reads of sensors and the system; the status at start is taken as the
//! baseline without events.

use crate::Millis;
use crate::cim::Instance;
use crate::command::CommandSpec;
use crate::events::{EventKind, EventLog};
use crate::power::{Power, PowerAction, PowerState};
use crate::script;
use crate::sel::{EventDirection, Sel, SelEntry, SelInfo};
use crate::sensor::{self, SensorType, Threshold, ThresholdStatus, Thresholds, Unit, Walk};
use crate::shell::{
    Context, Received, ShellError, ShellInfo, ShellLimits, ShellRequest, Shells, Signal, StreamName,
};
use crate::spec::{self, DiscreteSensorSpec, Identity, MachineSpec, SensorSpec, SpecError, User};

/// Why an operation on the machine failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MachineError {
    /// No sensor of that kind has the id.
    #[error("no sensor has the id \"{id}\"")]
    UnknownSensor {
        /// The id.
        id: String,
    },
    /// A value is not acceptable.
    #[error("{what}: {reason}")]
    InvalidValue {
        /// What was being set.
        what: String,
        /// Why not.
        reason: String,
    },
    /// New thresholds are out of order, unsupported or do not fit the raw byte.
    #[error("sensor \"{id}\": {reason}")]
    InvalidThresholds {
        /// The sensor.
        id: String,
        /// Why.
        reason: String,
    },
    /// The power action is not possible in the present state (IPMI completion code
    /// 0xD5; CIM `ReturnValue` 4097 Invalid State Transition).
    #[error("cannot {action:?} while the machine is {state:?}")]
    PowerActionRefused {
        /// The action.
        action: PowerAction,
        /// The state.
        state: PowerState,
    },
    /// The SEL is full and its policy is `stop` (IPMI completion code 0xC4 out of
    /// space).
    #[error("the SEL is full")]
    SelFull,
    /// No SEL record has the id (IPMI completion code 0xCB).
    #[error("no SEL record has the id {id}")]
    SelRecordNotFound {
        /// The id.
        id: u16,
    },
}

#[derive(Debug, Clone)]
enum Source {
    Constant(f64),
    Sequence(Vec<f64>, u64),
    Walk(Walk),
    Expr(rhai::AST),
}

/// A numeric sensor's state.
#[derive(Debug, Clone)]
pub struct NumericSensor {
    spec: SensorSpec,
    name: String,
    number: u8,
    thresholds: Thresholds,
    override_value: Option<f64>,
    source: Source,
    last_good: Option<f64>,
    last_status: ThresholdStatus,
    last_raw: u8,
    /// The source's value at one millisecond: the same instant reads the same value
    /// without evaluating the source (a script) again.
    source_at: Option<(Millis, f64)>,
}

impl NumericSensor {
    /// The id.
    pub fn id(&self) -> &str {
        &self.spec.id
    }
    /// The current name (SDR id string, CIM `ElementName`; settable through CIM).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The IPMI sensor number.
    pub fn number(&self) -> u8 {
        self.number
    }
    /// The spec it came from.
    pub fn spec(&self) -> &SensorSpec {
        &self.spec
    }
    /// The type.
    pub fn sensor_type(&self) -> SensorType {
        self.spec.sensor_type
    }
    /// The unit.
    pub fn unit(&self) -> Unit {
        self.spec.unit()
    }
    /// The current thresholds.
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }
    /// The thresholds the spec gives (what RestoreDefaultThresholds restores; also the
    /// supported and settable set).
    pub fn default_thresholds(&self) -> &Thresholds {
        &self.spec.thresholds
    }
    /// The override set through [`Machine::set_sensor`], if any.
    pub fn override_value(&self) -> Option<f64> {
        self.override_value
    }
    /// Units per raw count.
    pub fn resolution(&self) -> f64 {
        self.spec.resolution
    }
    /// Value of raw 0.
    pub fn offset(&self) -> f64 {
        self.spec.offset
    }
    /// The IPMI entity id.
    pub fn entity_id(&self) -> u8 {
        self.spec.entity()
    }
    /// The IPMI entity instance.
    pub fn entity_instance(&self) -> u8 {
        self.spec.entity_instance
    }
    /// The CIM `UnitModifier` (see [`sensor::unit_modifier`]).
    pub fn unit_modifier(&self) -> i32 {
        sensor::unit_modifier(self.spec.resolution, self.spec.offset)
    }
    /// The raw byte of a value.
    pub fn to_raw(&self, value: f64) -> u8 {
        sensor::to_raw(value, self.spec.resolution, self.spec.offset)
    }
    /// A value quantized to the raw byte.
    pub fn quantize(&self, value: f64) -> f64 {
        sensor::from_raw(self.to_raw(value), self.spec.resolution, self.spec.offset)
    }
    /// The raw byte last observed.
    pub fn last_raw(&self) -> u8 {
        self.last_raw
    }
    /// The threshold status last observed.
    pub fn last_status(&self) -> ThresholdStatus {
        self.last_status
    }
    /// The status of a raw reading (raw thresholds compared with the raw reading).
    pub fn status_of_raw(&self, raw: u8) -> ThresholdStatus {
        let mut bits = 0u8;
        for (t, th) in self.thresholds.present() {
            let traw = self.to_raw(th);
            let crossed = if t.is_upper() {
                raw >= traw
            } else {
                raw <= traw
            };
            if crossed {
                bits |= 1 << t.bit();
            }
        }
        ThresholdStatus(bits)
    }

    fn nominal_or_zero(&self) -> f64 {
        self.spec.nominal.unwrap_or(0.0)
    }
}

/// A discrete sensor's state.
#[derive(Debug, Clone)]
pub struct DiscreteSensor {
    spec: DiscreteSensorSpec,
    name: String,
    number: u8,
    state: u16,
}

impl DiscreteSensor {
    /// The id.
    pub fn id(&self) -> &str {
        &self.spec.id
    }
    /// The current name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The IPMI sensor number.
    pub fn number(&self) -> u8 {
        self.number
    }
    /// The spec it came from.
    pub fn spec(&self) -> &DiscreteSensorSpec {
        &self.spec
    }
    /// The type.
    pub fn sensor_type(&self) -> SensorType {
        self.spec.sensor_type
    }
    /// The event/reading type code.
    pub fn event_reading_type(&self) -> u8 {
        self.spec.event_reading_type
    }
    /// The state bits.
    pub fn state(&self) -> u16 {
        self.state
    }
    /// Names of the state offsets.
    pub fn states(&self) -> &[String] {
        &self.spec.states
    }
    /// The name of offset `bit` ("State n" when the spec names none).
    pub fn state_name(&self, bit: u8) -> String {
        self.spec
            .states
            .get(usize::from(bit))
            .cloned()
            .unwrap_or_else(|| format!("State {bit}"))
    }
    /// Whether an alarm bit is asserted.
    pub fn is_alarm(&self) -> bool {
        self.state & self.spec.alarm_mask != 0
    }
    /// The IPMI entity id.
    pub fn entity_id(&self) -> u8 {
        self.spec.entity()
    }
    /// The IPMI entity instance.
    pub fn entity_instance(&self) -> u8 {
        self.spec.entity_instance
    }
}

/// The simulated machine. See the crate docs for the time and determinism rules.
#[derive(Debug)]
pub struct Machine {
    spec: MachineSpec,
    engine: rhai::Engine,
    power: Power,
    sensors: Vec<NumericSensor>,
    discrete: Vec<DiscreteSensor>,
    sel: Sel,
    users: Vec<User>,
    sel_clock_offset: i64,
    requested_state: u16,
    pub(crate) system_element_name: String,
    pub(crate) log_element_name: String,
    pub(crate) extra: Vec<Instance>,
    /// Lowercased names of the classes extra instances have had.
    pub(crate) extra_classes: Vec<String>,
    /// What the BMC keeps besides the machine (reservations, configuration
    /// parameters, boot options, Serial over LAN lines); see [`crate::ipmi`].
    pub(crate) bmc: crate::ipmi::BmcState,
    /// The open remote shells.
    shells: Shells,
    /// What happened, for event subscribers (see [`crate::events`]).
    events: EventLog,
    /// Numeric sensors' CIM instances as last handed out (see
    /// [`crate::cim::enumerate_shared`]).
    pub(crate) cim_shared: crate::cim::SharedInstances,
    /// The millisecond of the last [`Machine::tick`], while nothing a tick reads has
    /// changed since but by observing: each source is read once per millisecond, so a
    /// tick at the same millisecond would observe what the last one did (a Get of the
    /// computer system ticks, and a busy mock answers dozens in a millisecond).
    ticked_at: Option<Millis>,
}

/// What the shell model needs of the machine (fields, so that `self.shells` can be
/// borrowed mutably beside it).
fn shell_context<'a>(
    engine: &'a rhai::Engine,
    spec: &'a MachineSpec,
    sel_time: u32,
) -> Context<'a> {
    Context {
        engine,
        commands: &spec.commands,
        scripts: &spec.scripts,
        hostname: &spec.identity.hostname,
        unix_now: u64::from(sel_time),
    }
}

fn unknown(id: &str) -> MachineError {
    MachineError::UnknownSensor { id: id.into() }
}

impl Machine {
    /// Builds the machine from a spec at time `now` (validating it first).
    pub fn new(spec: MachineSpec, now: Millis) -> Result<Machine, SpecError> {
        spec.validate()?;
        let engine = script::engine();
        let (numbers, dnumbers) = spec::assign_numbers(&spec)?;
        let mut sensors = Vec::with_capacity(spec.sensors.len());
        for (i, s) in spec.sensors.iter().enumerate() {
            let source = if let Some(c) = s.constant {
                Source::Constant(c)
            } else if let Some(seq) = &s.sequence {
                Source::Sequence(
                    seq.clone(),
                    s.step_ms.unwrap_or_else(sensor::default_step_ms),
                )
            } else if let Some(w) = &s.random_walk {
                Source::Walk(Walk::new(w.clone()))
            } else if let Some(e) = &s.expr {
                let ast = script::compile_sensor_expr(&engine, e).map_err(|message| {
                    SpecError::Script {
                        item: spec::item("sensors", i, &s.id),
                        field: "expr",
                        message,
                    }
                })?;
                Source::Expr(ast)
            } else {
                Source::Constant(s.nominal.unwrap_or(0.0))
            };
            sensors.push(NumericSensor {
                name: s.display_name().to_owned(),
                number: numbers.get(i).copied().unwrap_or(0),
                thresholds: s.thresholds,
                override_value: None,
                source,
                last_good: None,
                last_status: ThresholdStatus::default(),
                last_raw: 0,
                source_at: None,
                spec: s.clone(),
            });
        }
        let discrete = spec
            .discrete_sensors
            .iter()
            .enumerate()
            .map(|(i, d)| DiscreteSensor {
                name: d.display_name().to_owned(),
                number: dnumbers.get(i).copied().unwrap_or(0),
                state: d.state,
                spec: d.clone(),
            })
            .collect();
        let mut m = Machine {
            power: Power::new(spec.power.clone(), now),
            sel: Sel::new(spec.sel_capacity, spec.sel_full),
            users: spec.users.clone(),
            sel_clock_offset: 0,
            requested_state: 5,
            system_element_name: spec.identity.hostname.clone(),
            log_element_name: "IPMI SEL".into(),
            extra: spec
                .instances
                .iter()
                .map(crate::cim::extra_instance)
                .collect(),
            extra_classes: Vec::new(),
            bmc: crate::ipmi::BmcState::new(&spec),
            shells: Shells::new(),
            events: EventLog::default(),
            cim_shared: Default::default(),
            ticked_at: None,
            engine,
            sensors,
            discrete,
            spec,
        };
        m.extra_classes = m
            .extra
            .iter()
            .map(|i| i.class.to_ascii_lowercase())
            .collect();
        m.extra_classes.sort();
        m.extra_classes.dedup();
        let initial: Vec<SelEntry> = m.spec.sel.iter().map(|e| m.initial_entry(e)).collect();
        for e in initial {
            // validate() has checked that the initial entries fit.
            let _ = m.sel.add_preserving(e);
        }
        for i in 0..m.sensors.len() {
            let raw = m.raw_at(i, now);
            let s = &mut m.sensors[i];
            s.last_status = s.status_of_raw(raw);
            s.last_raw = raw;
        }
        crate::cim::check_extras(&m)?;
        Ok(m)
    }

    fn initial_entry(&self, e: &spec::SelEntrySpec) -> SelEntry {
        let (mut st, mut sn) = (0u8, 0u8);
        if let Some(id) = &e.sensor {
            if let Some(s) = self.numeric_sensor(id) {
                (st, sn) = (s.sensor_type().ipmi_code(), s.number());
            } else if let Some(d) = self.discrete_sensor(id) {
                (st, sn) = (d.sensor_type().ipmi_code(), d.number());
            }
        }
        let mut data = [0xFFu8; 3];
        for (d, v) in data.iter_mut().zip(&e.data) {
            *d = *v;
        }
        let ts = (i64::from(self.spec.sel_epoch) + e.offset_s).clamp(0, i64::from(u32::MAX)) as u32;
        SelEntry {
            record_id: 0,
            record_type: e.record_type,
            timestamp: ts,
            generator_id: e.generator_id,
            evm_rev: 0x04,
            sensor_type: e.sensor_type.unwrap_or(st),
            sensor_number: e.sensor_number.unwrap_or(sn),
            direction: e.direction,
            event_type: e.event_type & 0x7F,
            data,
            description: e.description.clone(),
        }
    }

    /// The spec the machine was built from (runtime changes are not written back).
    pub fn spec(&self) -> &MachineSpec {
        &self.spec
    }

    /// The sandboxed Rhai engine (see [`crate::script`]), for command handlers.
    pub fn engine(&self) -> &rhai::Engine {
        &self.engine
    }

    // ---- identity ----

    /// The identity section.
    pub fn identity(&self) -> &Identity {
        &self.spec.identity
    }
    /// The host name.
    pub fn hostname(&self) -> &str {
        &self.spec.identity.hostname
    }
    /// The vendor.
    pub fn vendor(&self) -> &str {
        &self.spec.identity.vendor
    }
    /// The model.
    pub fn model(&self) -> &str {
        &self.spec.identity.model
    }
    /// The product name.
    pub fn product_name(&self) -> &str {
        &self.spec.identity.product_name
    }
    /// The system serial number.
    pub fn serial_number(&self) -> &str {
        &self.spec.identity.serial_number
    }
    /// The asset tag.
    pub fn asset_tag(&self) -> &str {
        &self.spec.identity.asset_tag
    }
    /// The GUID as text.
    pub fn guid(&self) -> &str {
        &self.spec.identity.guid
    }
    /// The GUID's 16 bytes in textual order (validated at load).
    pub fn guid_bytes(&self) -> [u8; 16] {
        spec::parse_guid(&self.spec.identity.guid).unwrap_or_default()
    }
    /// The BIOS / system firmware version.
    pub fn firmware_version(&self) -> &str {
        &self.spec.identity.firmware_version
    }
    /// The BMC firmware version.
    pub fn bmc_firmware_version(&self) -> &str {
        &self.spec.identity.bmc_firmware_version
    }
    /// The FRU inventory in IPMI binary format.
    pub fn fru_bytes(&self) -> Vec<u8> {
        crate::fru::encode(&self.spec.fru)
    }

    // ---- power ----

    /// The power state at `now`.
    pub fn power_state(&self, now: Millis) -> PowerState {
        self.power.state(now)
    }

    /// When the power state in effect at `now` began (ms since start).
    pub fn power_state_since(&self, now: Millis) -> Millis {
        self.power.since(now)
    }

    /// Milliseconds the machine has been powered ([`PowerState::is_on`]) since start.
    pub fn power_on_ms(&self, now: Millis) -> u64 {
        self.power.on_ms(now)
    }

    /// Whole hours powered (IPMI Get POH Counter with 60 minutes per count).
    pub fn power_on_hours(&self, now: Millis) -> u64 {
        self.power.on_ms(now) / 3_600_000
    }

    /// The CIM `RequestedState` of the system: 5 (No Change) until a power action, then
    /// the state the last accepted action asks for (2 on, 3 off, 4 soft off, 10 cycle,
    /// 11 reset), whichever protocol requested it.
    pub fn requested_state(&self) -> u16 {
        self.requested_state
    }

    /// Performs a chassis control action (see [`crate::power`] for what is accepted in
    /// which state). An action that changes state adds a SEL entry: power on deasserts
    /// and power off asserts Power Unit "Power Off/Power Down" (sensor type 0x09 offset
    /// 0), a cycle asserts Power Unit "Power Cycle" (offset 1), a hard reset asserts
    /// System Boot Initiated "Initiated by hard reset" (0x1D offset 1), and a diagnostic
    /// interrupt asserts Critical Interrupt "Front Panel NMI" (0x13 offset 0). Each is
    /// attributed to the first discrete sensor of that IPMI type, else sensor number 0.
    pub fn chassis_control(
        &mut self,
        action: PowerAction,
        now: Millis,
    ) -> Result<(), MachineError> {
        let changed = self
            .power
            .control(action, now)
            .map_err(|r| MachineError::PowerActionRefused { action, state: r.0 })?;
        let requested = match action {
            PowerAction::On => Some(2),
            PowerAction::Off => Some(3),
            PowerAction::SoftOff => Some(4),
            PowerAction::Cycle => Some(10),
            PowerAction::HardReset => Some(11),
            PowerAction::DiagnosticInterrupt => None,
        };
        if let Some(r) = requested {
            self.requested_state = r;
        }
        if !changed {
            return Ok(());
        }
        self.record(EventKind::Power { action }, now);
        let (stype, dir, offset, text) = match action {
            PowerAction::On => (
                0x09,
                EventDirection::Deassert,
                0,
                "Power Unit: Power Off/Power Down deasserted (power on)",
            ),
            PowerAction::Off => (
                0x09,
                EventDirection::Assert,
                0,
                "Power Unit: Power Off/Power Down asserted",
            ),
            PowerAction::SoftOff => (
                0x09,
                EventDirection::Assert,
                0,
                "Power Unit: Power Off/Power Down asserted (soft off)",
            ),
            PowerAction::Cycle => (
                0x09,
                EventDirection::Assert,
                1,
                "Power Unit: Power Cycle asserted",
            ),
            PowerAction::HardReset => (
                0x1D,
                EventDirection::Assert,
                1,
                "System Boot Initiated: Initiated by hard reset",
            ),
            PowerAction::DiagnosticInterrupt => (
                0x13,
                EventDirection::Assert,
                0,
                "Critical Interrupt: Front Panel NMI / Diagnostic Interrupt",
            ),
        };
        let number = self
            .discrete
            .iter()
            .find(|d| d.sensor_type().ipmi_code() == stype)
            .map_or(0, |d| d.number);
        self.log(
            SelEntry::system_event(stype, number, dir, 0x6F, [offset, 0xFF, 0xFF], text),
            now,
        );
        Ok(())
    }

    // ---- sensors ----

    /// Every sensor id, numeric sensors first, in spec order.
    pub fn sensor_ids(&self) -> Vec<&str> {
        self.sensors
            .iter()
            .map(|s| s.id())
            .chain(self.discrete.iter().map(|d| d.id()))
            .collect()
    }

    /// The numeric sensors.
    pub fn numeric_sensors(&self) -> &[NumericSensor] {
        &self.sensors
    }

    /// The discrete sensors.
    pub fn discrete_sensors(&self) -> &[DiscreteSensor] {
        &self.discrete
    }

    /// A numeric sensor by id.
    pub fn numeric_sensor(&self, id: &str) -> Option<&NumericSensor> {
        self.sensors.iter().find(|s| s.id() == id)
    }

    /// A discrete sensor by id.
    pub fn discrete_sensor(&self, id: &str) -> Option<&DiscreteSensor> {
        self.discrete.iter().find(|s| s.id() == id)
    }

    /// A numeric sensor by IPMI sensor number.
    pub fn numeric_sensor_by_number(&self, number: u8) -> Option<&NumericSensor> {
        self.sensors.iter().find(|s| s.number == number)
    }

    /// A discrete sensor by IPMI sensor number.
    pub fn discrete_sensor_by_number(&self, number: u8) -> Option<&DiscreteSensor> {
        self.discrete.iter().find(|s| s.number == number)
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.sensors.iter().position(|s| s.id() == id)
    }

    /// The unquantized value at `now` (override, else source).
    fn value_at(&mut self, i: usize, now: Millis) -> f64 {
        let engine = &self.engine;
        let Some(s) = self.sensors.get_mut(i) else {
            return 0.0;
        };
        if let Some(v) = s.override_value {
            return v;
        }
        if let Some((at, v)) = s.source_at {
            if at == now {
                return v;
            }
        }
        let nominal = s.nominal_or_zero();
        let v = match &mut s.source {
            Source::Constant(c) => *c,
            Source::Sequence(values, step) => {
                sensor::sequence_at(values, *step, now).unwrap_or(nominal)
            }
            Source::Walk(w) => w.value_at(now),
            Source::Expr(ast) => match script::eval_sensor_expr(engine, ast, now, nominal) {
                Ok(v) => {
                    s.last_good = Some(v);
                    v
                }
                Err(_) => s.last_good.unwrap_or(nominal),
            },
        };
        s.source_at = Some((now, v));
        v
    }

    fn raw_at(&mut self, i: usize, now: Millis) -> u8 {
        let v = self.value_at(i, now);
        self.sensors.get(i).map_or(0, |s| s.to_raw(v))
    }

    /// Reads sensor `i` at `now`, recording threshold crossings; returns the raw byte.
    fn observe(&mut self, i: usize, now: Millis) -> u8 {
        let raw = self.raw_at(i, now);
        let Some(s) = self.sensors.get_mut(i) else {
            return raw;
        };
        // Written only when it changes: a reading taken again (every Get of the
        // computer system reads every sensor) leaves the sensor's memory clean, so the
        // other worker's copy of it stays valid.
        if s.last_raw != raw {
            s.last_raw = raw;
        }
        let status = s.status_of_raw(raw);
        let before = s.last_status;
        if status == before {
            return raw;
        }
        s.last_status = status;
        let s = &self.sensors[i];
        let reading = sensor::from_raw(raw, s.resolution(), s.offset());
        let mut events = Vec::new();
        let mut crossings = Vec::new();
        for t in Threshold::ALL {
            let (was, is) = (before.is_crossed(t), status.is_crossed(t));
            if was == is {
                continue;
            }
            let th = s.thresholds.get(t).unwrap_or(reading);
            crossings.push(EventKind::Threshold {
                sensor: s.id().to_owned(),
                threshold: t,
                asserted: is,
                reading,
                limit: s.quantize(th),
            });
            let (dir, verb) = if is {
                (EventDirection::Assert, "asserted")
            } else {
                (EventDirection::Deassert, "deasserted")
            };
            let unit = s.unit().label();
            let text = format!(
                "{}: {} going {} {verb}, reading {} {unit}, threshold {} {unit}",
                s.name,
                t.state_name(),
                if t.is_upper() { "high" } else { "low" },
                reading,
                s.quantize(th),
            );
            events.push(SelEntry::system_event(
                s.sensor_type().ipmi_code(),
                s.number,
                dir,
                0x01,
                [0x50 | t.event_offset(), raw, s.to_raw(th)],
                text,
            ));
        }
        // Each crossing is heard before the SEL record that logs it.
        for (kind, e) in crossings.into_iter().zip(events) {
            self.record(kind, now);
            self.log(e, now);
        }
        raw
    }

    /// Observes numeric sensor `i` at `now` (as [`Machine::raw_reading`] does by id):
    /// its raw byte, or `None` when there is no such sensor.
    pub(crate) fn observe_numeric(&mut self, i: usize, now: Millis) -> Option<u8> {
        (i < self.sensors.len()).then(|| self.observe(i, now))
    }

    /// The reading of a numeric sensor at `now`, quantized to its raw byte (what the
    /// BMC reports through both protocols). Records threshold crossings in the SEL.
    pub fn reading(&mut self, id: &str, now: Millis) -> Option<f64> {
        let i = self.index(id)?;
        let raw = self.observe(i, now);
        let s = &self.sensors[i];
        Some(sensor::from_raw(raw, s.resolution(), s.offset()))
    }

    /// The raw byte of a numeric sensor at `now` (IPMI Get Sensor Reading). Records
    /// threshold crossings.
    pub fn raw_reading(&mut self, id: &str, now: Millis) -> Option<u8> {
        let i = self.index(id)?;
        Some(self.observe(i, now))
    }

    /// The unquantized source value (or override) at `now`; observes nothing.
    pub fn source_value(&mut self, id: &str, now: Millis) -> Option<f64> {
        let i = self.index(id)?;
        Some(self.value_at(i, now))
    }

    /// Which thresholds the sensor is at or beyond at `now`. Records crossings.
    pub fn threshold_status(&mut self, id: &str, now: Millis) -> Option<ThresholdStatus> {
        let i = self.index(id)?;
        let raw = self.observe(i, now);
        Some(self.sensors[i].status_of_raw(raw))
    }

    /// Observes every numeric sensor at `now` (and so records crossings). Again at the
    /// millisecond of the last tick, with no threshold or override changed since, it
    /// does nothing: every source gives what it gave then.
    pub fn tick(&mut self, now: Millis) {
        if self.ticked_at == Some(now) {
            return;
        }
        for i in 0..self.sensors.len() {
            self.observe(i, now);
        }
        self.ticked_at = Some(now);
    }

    /// Overrides a numeric sensor's value until [`Machine::clear_override`]; the new
    /// value is observed at `now`.
    pub fn set_sensor(&mut self, id: &str, value: f64, now: Millis) -> Result<(), MachineError> {
        let i = self.index(id).ok_or_else(|| unknown(id))?;
        if !value.is_finite() {
            return Err(MachineError::InvalidValue {
                what: format!("sensor \"{id}\""),
                reason: format!("{value} is not finite"),
            });
        }
        self.sensors[i].override_value = Some(value);
        self.ticked_at = None;
        self.observe(i, now);
        Ok(())
    }

    /// Removes an override; the source's value is observed at `now`.
    pub fn clear_override(&mut self, id: &str, now: Millis) -> Result<(), MachineError> {
        let i = self.index(id).ok_or_else(|| unknown(id))?;
        self.sensors[i].override_value = None;
        self.ticked_at = None;
        self.observe(i, now);
        Ok(())
    }

    /// Replaces a numeric sensor's thresholds. Only thresholds the spec defines may be
    /// set (they are the supported and settable set); the result must be ordered and fit
    /// the raw byte.
    pub fn set_thresholds(&mut self, id: &str, thresholds: Thresholds) -> Result<(), MachineError> {
        let i = self.index(id).ok_or_else(|| unknown(id))?;
        let s = &self.sensors[i];
        let bad = |reason: String| MachineError::InvalidThresholds {
            id: id.into(),
            reason,
        };
        for t in Threshold::ALL {
            if thresholds.get(t).is_some() && s.spec.thresholds.get(t).is_none() {
                return Err(bad(format!(
                    "{} is not a settable threshold of this sensor",
                    t.field()
                )));
            }
        }
        if let Err((a, va, b, vb)) = thresholds.check_order() {
            return Err(bad(if a == b {
                format!("{} = {va} is not finite", a.field())
            } else {
                format!("{} ({va}) is above {} ({vb})", a.field(), b.field())
            }));
        }
        for (t, v) in thresholds.present() {
            let raw = sensor::raw_unclamped(v, s.resolution(), s.offset());
            if !(0.0..=255.0).contains(&raw) {
                return Err(bad(format!(
                    "{} = {v} does not fit the raw byte",
                    t.field()
                )));
            }
        }
        self.sensors[i].thresholds = thresholds;
        // The thresholds a tick compares readings with.
        self.ticked_at = None;
        Ok(())
    }

    /// Restores the spec's thresholds.
    pub fn restore_default_thresholds(&mut self, id: &str) -> Result<(), MachineError> {
        let i = self.index(id).ok_or_else(|| unknown(id))?;
        self.sensors[i].thresholds = self.sensors[i].spec.thresholds;
        self.ticked_at = None;
        Ok(())
    }

    /// Renames a sensor (numeric or discrete): ASCII, 1 to 16 bytes (the SDR id string).
    pub fn set_sensor_name(&mut self, id: &str, name: &str) -> Result<(), MachineError> {
        if name.is_empty() || name.len() > 16 || !name.is_ascii() {
            return Err(MachineError::InvalidValue {
                what: format!("name of sensor \"{id}\""),
                reason: "must be ASCII, 1 to 16 bytes".into(),
            });
        }
        if let Some(s) = self.sensors.iter_mut().find(|s| s.spec.id == id) {
            s.name = name.into();
            return Ok(());
        }
        if let Some(d) = self.discrete.iter_mut().find(|d| d.spec.id == id) {
            d.name = name.into();
            return Ok(());
        }
        Err(unknown(id))
    }

    /// A discrete sensor's state bits.
    pub fn discrete_state(&self, id: &str) -> Option<u16> {
        self.discrete_sensor(id).map(|d| d.state)
    }

    /// Sets a discrete sensor's state bits (0..=14); each changed bit adds an assertion
    /// or deassertion event (event data 1 = the offset) to the SEL.
    pub fn set_discrete_state(
        &mut self,
        id: &str,
        state: u16,
        now: Millis,
    ) -> Result<(), MachineError> {
        let d = self
            .discrete
            .iter_mut()
            .find(|d| d.spec.id == id)
            .ok_or_else(|| unknown(id))?;
        if state & 0x8000 != 0 {
            return Err(MachineError::InvalidValue {
                what: format!("state of sensor \"{id}\""),
                reason: "bit 15 is not a state offset".into(),
            });
        }
        let before = d.state;
        d.state = state;
        let d = d.clone();
        for bit in 0..15u8 {
            let (was, is) = (before & (1 << bit) != 0, state & (1 << bit) != 0);
            if was == is {
                continue;
            }
            let (dir, verb) = if is {
                (EventDirection::Assert, "asserted")
            } else {
                (EventDirection::Deassert, "deasserted")
            };
            let text = format!("{}: {} {verb}", d.name, d.state_name(bit));
            let e = SelEntry::system_event(
                d.sensor_type().ipmi_code(),
                d.number,
                dir,
                d.event_reading_type(),
                [bit, 0xFF, 0xFF],
                text,
            );
            self.log(e, now);
        }
        Ok(())
    }

    // ---- SEL ----

    /// The SEL clock at `now`: `sel_epoch + now / 1000`, moved by [`Machine::set_sel_time`].
    pub fn sel_time(&self, now: Millis) -> u32 {
        let secs = i64::try_from(now / 1000).unwrap_or(i64::MAX);
        (i64::from(self.spec.sel_epoch)
            .saturating_add(secs)
            .saturating_add(self.sel_clock_offset))
        .clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Sets the SEL clock (IPMI Set SEL Time) so that `sel_time(now) == unix`.
    pub fn set_sel_time(&mut self, unix: u32, now: Millis) {
        self.sel_clock_offset = 0;
        self.sel_clock_offset = i64::from(unix) - i64::from(self.sel_time(now));
    }

    /// Adds an event generated by the machine; a full `stop` log drops it (and sets the
    /// overflow flag).
    fn log(&mut self, entry: SelEntry, now: Millis) {
        let ts = self.sel_time(now);
        if let Ok(record_id) = self.sel.add(entry, ts) {
            self.record(EventKind::SelRecord { record_id }, now);
        }
    }

    /// Appends to the event log (see [`crate::events`]).
    fn record(&mut self, kind: EventKind, now: Millis) -> u64 {
        let unix = self.sel_time(now);
        self.events.push(now, unix, kind)
    }

    /// What happened on the machine since it was built, for event subscribers.
    pub fn events(&self) -> &EventLog {
        &self.events
    }

    /// Records an event a scenario, script or the admin API raises (an indication of
    /// their making); returns its sequence number.
    pub fn raise_event(&mut self, kind: EventKind, now: Millis) -> u64 {
        self.record(kind, now)
    }

    /// The SEL, oldest first.
    pub fn sel_entries(&self) -> &[SelEntry] {
        self.sel.entries()
    }

    /// One SEL record.
    pub fn sel_entry(&self, id: u16) -> Option<&SelEntry> {
        let entries = self.sel.entries();
        // Ids ascend in insertion order until they wrap after 0xFFFE: try a binary
        // search first, then look at every entry.
        match entries.binary_search_by_key(&id, |e| e.record_id) {
            Ok(i) => entries.get(i),
            Err(_) => entries.iter().find(|e| e.record_id == id),
        }
    }

    /// Adds an entry (IPMI Add SEL Entry): the log assigns the record id and, for
    /// timestamped record types, the timestamp. Returns the record id.
    pub fn sel_add(&mut self, entry: SelEntry, now: Millis) -> Result<u16, MachineError> {
        let ts = self.sel_time(now);
        let record_id = self.sel.add(entry, ts).map_err(|_| MachineError::SelFull)?;
        self.record(EventKind::SelRecord { record_id }, now);
        Ok(record_id)
    }

    /// Deletes one record (IPMI Delete SEL Entry); updates the last erase time.
    pub fn sel_delete(&mut self, id: u16, now: Millis) -> Result<(), MachineError> {
        let ts = self.sel_time(now);
        if self.sel.delete(id, ts) {
            Ok(())
        } else {
            Err(MachineError::SelRecordNotFound { id })
        }
    }

    /// Clears the SEL (IPMI Clear SEL, CIM ClearLog) and the overflow flag. Record ids
    /// keep increasing.
    pub fn sel_clear(&mut self, now: Millis) {
        let ts = self.sel_time(now);
        self.sel.clear(ts);
    }

    /// Counts, capacity, timestamps and the overflow flag.
    pub fn sel_info(&self) -> SelInfo {
        self.sel.info()
    }

    // ---- users ----

    /// All users.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// A user by name.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// A user by IPMI user id.
    pub fn user_by_id(&self, id: u8) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// The enabled user with this name and password (compared in constant time).
    pub fn authenticate(&self, name: &str, password: &str) -> Option<&User> {
        self.users.iter().find(|u| {
            u.enabled
                && u.name == name
                && constant_time_eq(u.password.as_bytes(), password.as_bytes())
        })
    }

    /// Renames a user (IPMI Set User Name); creates a disabled User-level account
    /// without a password when the id has none. Names are ASCII, at most 16 bytes, and
    /// unique (an empty name is allowed: the null user).
    pub fn set_user_name(&mut self, id: u8, name: &str) -> Result<(), MachineError> {
        let bad = |reason: &str| MachineError::InvalidValue {
            what: format!("name of user {id}"),
            reason: reason.into(),
        };
        if name.len() > 16 || !name.is_ascii() {
            return Err(bad("must be ASCII, at most 16 bytes"));
        }
        if !name.is_empty() && self.users.iter().any(|u| u.id != id && u.name == name) {
            return Err(bad("another user has that name"));
        }
        self.user_slot(id)?.name = name.into();
        Ok(())
    }

    /// Sets a user's password (IPMI Set User Password; at most 20 bytes).
    pub fn set_user_password(&mut self, id: u8, password: &str) -> Result<(), MachineError> {
        if password.len() > 20 {
            return Err(MachineError::InvalidValue {
                what: format!("password of user {id}"),
                reason: "is longer than 20 bytes".into(),
            });
        }
        self.user_slot(id)?.password = password.into();
        Ok(())
    }

    /// Enables or disables a user.
    pub fn set_user_enabled(&mut self, id: u8, enabled: bool) -> Result<(), MachineError> {
        self.user_slot(id)?.enabled = enabled;
        Ok(())
    }

    /// Sets a user's maximum privilege.
    pub fn set_user_privilege(
        &mut self,
        id: u8,
        privilege: spec::Privilege,
    ) -> Result<(), MachineError> {
        self.user_slot(id)?.privilege = privilege;
        Ok(())
    }

    /// The user with this id, created (empty name and password, User privilege,
    /// disabled) when there is none; ids are 1..=15.
    fn user_slot(&mut self, id: u8) -> Result<&mut User, MachineError> {
        if !(1..=15).contains(&id) {
            return Err(MachineError::InvalidValue {
                what: "user id".into(),
                reason: format!("{id} is outside 1..=15"),
            });
        }
        let i = match self.users.iter().position(|u| u.id == id) {
            Some(i) => i,
            None => {
                let mut u = User::new(id, "", "", spec::Privilege::User);
                u.enabled = false;
                self.users.push(u);
                self.users.sort_by_key(|u| u.id);
                self.users.iter().position(|u| u.id == id).unwrap_or(0)
            }
        };
        Ok(&mut self.users[i])
    }

    // ---- commands ----

    /// The first command whose pattern matches the command line.
    pub fn find_command(&self, cmdline: &str) -> Option<&CommandSpec> {
        self.spec.commands.iter().find(|c| c.matches(cmdline))
    }

    // ---- remote shells (see crate::shell) ----

    /// The open shells.
    pub fn shells(&self) -> &Shells {
        &self.shells
    }

    /// Forgets shells whose idle timeout or lifetime has passed.
    pub fn shell_expire(&mut self, now: Millis) {
        self.shells.expire(now);
    }

    /// Opens a shell (see [`Shells::create`]).
    pub fn shell_create(
        &mut self,
        id: String,
        req: ShellRequest,
        limits: &ShellLimits,
        now: Millis,
    ) -> Result<ShellInfo, ShellError> {
        self.shells.create(id, req, limits, now)
    }

    /// Closes a shell.
    pub fn shell_delete(&mut self, shell_id: &str, now: Millis) -> Result<(), ShellError> {
        self.shells.delete(shell_id, now)
    }

    /// Starts a command in a shell (see [`Shells::command`]).
    pub fn shell_command(
        &mut self,
        shell_id: &str,
        command_id: String,
        command: &str,
        arguments: &[&str],
        now: Millis,
    ) -> Result<String, ShellError> {
        let ctx = shell_context(&self.engine, &self.spec, self.sel_time(now));
        let (result, raised) = script::collecting_events(|| {
            self.shells
                .command(shell_id, command_id, command, arguments, &ctx, now)
        });
        self.record_raised(raised, now);
        result
    }

    /// Runs one command line at once, outside any shell (see [`crate::shell::run_line`]).
    pub fn run_line(&mut self, cmdline: &str, user: &str, now: Millis) -> (String, i32) {
        let ctx = shell_context(&self.engine, &self.spec, self.sel_time(now));
        let (out, raised) =
            script::collecting_events(|| crate::shell::run_line(cmdline, user, &ctx));
        self.record_raised(raised, now);
        out
    }

    /// Records the indications a command handler raised (see [`crate::script`]).
    fn record_raised(&mut self, raised: Vec<script::RaisedEvent>, now: Millis) {
        for r in raised {
            self.record(
                EventKind::Custom {
                    class: r.class,
                    properties: r.properties,
                },
                now,
            );
        }
    }

    /// Feeds a command's standard input (see [`Shells::send`]).
    #[allow(clippy::too_many_arguments)]
    pub fn shell_send(
        &mut self,
        shell_id: &str,
        command_id: &str,
        stream: &str,
        bytes: &[u8],
        end: bool,
        now: Millis,
    ) -> Result<(), ShellError> {
        let ctx = shell_context(&self.engine, &self.spec, self.sel_time(now));
        let (result, raised) = script::collecting_events(|| {
            self.shells
                .send(shell_id, command_id, stream, bytes, end, &ctx, now)
        });
        self.record_raised(raised, now);
        result
    }

    /// Takes a command's due output (see [`Shells::receive`]).
    pub fn shell_receive(
        &mut self,
        shell_id: &str,
        command_id: &str,
        desired: &[StreamName],
        now: Millis,
    ) -> Result<Received, ShellError> {
        self.shells.receive(shell_id, command_id, desired, now)
    }

    /// Signals a command (see [`Shells::signal`]).
    pub fn shell_signal(
        &mut self,
        shell_id: &str,
        command_id: &str,
        signal: Signal,
        now: Millis,
    ) -> Result<(), ShellError> {
        self.shells.signal(shell_id, command_id, signal, now)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
