//! The machine as a BMC: [`ipmi::app::Application`] for [`Machine`], so the IPMI session
//! layer can hand it every command that is not about sessions.
//!
//! What IPMI reads is the machine's own state: sensor readings are the raw bytes of
//! [`Machine::raw_reading`], the SDR repository is generated from the sensors (full
//! records with M, B and exponents from each sensor's resolution and offset, compact
//! records for discrete sensors, a FRU device locator and the BMC's management
//! controller locator), SEL entries are the machine's SEL, FRU data is
//! [`Machine::fru_bytes`], chassis control is [`Machine::chassis_control`] and users
//! are the machine's users. What only a BMC has (reservations, LAN, SOL and boot
//! configuration parameters, the identify light, Serial over LAN line buffers) is kept
//! in `BmcState`, inside the machine, so the mock needs one lock for both protocols.
//!
//! Privileges follow IPMI v2.0 appendix G; a command a session's privilege does not
//! reach is answered 0xD4, a command not implemented 0xC1 (whatever its privilege).

use std::collections::{BTreeMap, HashMap};

use ipmi::app::{Application, Request, Response, UserRecord};
use ipmi::cmd::{self, DecodeError, Wire, id};
use ipmi::codes::{Privilege as Priv, cc};
use ipmi::conv::{AnalogFormat, Linear};
use ipmi::sdr::{
    CompactSensor, FruLocator, FullSensor, IdString, McLocator, Record, RepositoryInfo,
    SDR_VERSION, Sdr, SensorKey, Units,
};
use serde::{Deserialize, Serialize};

use crate::machine::{DiscreteSensor, Machine, MachineError, NumericSensor};
use crate::power::PowerAction;
use crate::sel::SelEntry;
use crate::spec::{MachineSpec, Privilege, User};
use crate::{Millis, SensorType};

/// The BMC's IPMB slave address (sensor owner, device addresses).
pub const BMC_ADDRESS: u8 = 0x20;
/// The LAN channel number.
pub const LAN_CHANNEL: u8 = 1;
/// IANA enterprise number reported as manufacturer: 32473, the number RFC 5612 reserves
/// for documentation and examples (this is a simulated BMC).
pub const MANUFACTURER_ID: u32 = 32473;
/// Product ID in Get Device ID.
pub const PRODUCT_ID: u16 = 0x1000;
/// The most bytes one Read FRU Data, Get SDR or Get SEL Entry returns; a larger count
/// is answered 0xCA (clients retry with less).
pub const MAX_READ: usize = 128;
/// Highest user ID.
pub const MAX_USERS: u8 = 15;
/// The default cipher suites in LAN parameters 22-24 (RMCP+ suites 3 and 17).
pub const DEFAULT_CIPHER_SUITES: [u8; 2] = [3, 17];

/// The Serial over LAN console of the machine (`[machine.sol]`): what it shows when a
/// console attaches, how it logs a user in, and how it answers typed lines.
///
/// With a `login_prompt` (the default), the console behaves like a serial getty: it
/// shows the banner and `login_prompt`, takes a user name, then shows
/// `password_prompt` and takes the password without echoing it. A name and password of
/// an enabled user of the scenario (`[[machine.users]]`) logs in and shows `prompt`;
/// anything else answers `Login incorrect` and asks again from the user name. Once
/// logged in, each line typed is answered from the command table as that user. An empty
/// `login_prompt` skips the login: the prompt follows the banner and lines run as
/// `root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SolSpec {
    /// Printed when the SOL payload is activated (before the login prompt).
    pub banner: String,
    /// Asks for the user name; empty: no login.
    pub login_prompt: String,
    /// Asks for the password (typed characters are not echoed).
    pub password_prompt: String,
    /// Printed after a successful login and after every line typed; `{user}` is
    /// replaced by the logged-in user's name.
    pub prompt: String,
    /// Whether typed characters are echoed back (never those of a password).
    pub echo: bool,
}

impl Default for SolSpec {
    fn default() -> SolSpec {
        SolSpec {
            banner: "\r\nTouchstone Simulated Server ttyS0\r\n\r\n".into(),
            login_prompt: "touchstone-sim login: ".into(),
            password_prompt: "Password: ".into(),
            prompt: "{user}@touchstone-sim:~$ ".into(),
            echo: true,
        }
    }
}

impl SolSpec {
    /// The shell prompt for `user`.
    pub fn prompt_for(&self, user: &str) -> String {
        self.prompt.replace("{user}", user)
    }
}

/// Where one SOL console session is: typing a user name, a password, or commands.
#[derive(Debug, Clone, Default)]
enum SolStage {
    /// At `login:`.
    #[default]
    Login,
    /// At `Password:`, for this user name.
    Password(String),
    /// Logged in as this user.
    Shell(String),
}

/// The line being typed on one SOL console session.
#[derive(Debug, Clone, Default)]
struct SolTerm {
    stage: SolStage,
    line: Vec<u8>,
    /// The last byte was a CR (a following LF ends nothing).
    after_cr: bool,
}

/// How this BMC implementation behaves where IPMI v2.0 leaves a choice (or, for the
/// seeded defects, where it does not): which devices it has, how much it reads at
/// once, which optional commands it implements. The mock sets it from the scenario's
/// `[ipmi]` table ([`Machine::set_ipmi_profile`]); the default is the full BMC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiProfile {
    /// Get Device ID's additional device support byte (IPMI v2.0 20.1, response byte 7
    /// counting the completion code: bit 0 sensor device, 1 SDR repository, 2 SEL,
    /// 3 FRU inventory, 4 IPMB event receiver, 5 IPMB event generator, 6 bridge,
    /// 7 chassis); also the MC locator record's device capabilities.
    pub device_support: u8,
    /// The most data bytes one Get SDR or Read FRU Data returns. A larger count, or a
    /// "whole record" Get SDR (0xFF) whose remaining bytes are more than this, is
    /// answered 0xCA (cannot return number of requested data bytes); clients then
    /// read in smaller pieces.
    pub max_read: usize,
    /// Whether Serial over LAN is implemented: off, Get/Set SOL Configuration
    /// Parameters answer 0xC1 (the payload commands are the session layer's).
    pub sol: bool,
    /// Put the management controller locator record first in the SDR repository
    /// (record IDs still 1, 2, ... in repository order).
    pub mc_locator_first: bool,
    /// Commands answered 0xC1 (invalid command), as by a BMC that does not implement
    /// them: (request NetFn, command), or (NetFn, None) for a whole NetFn.
    pub unsupported: Vec<(u8, Option<u8>)>,
    /// Seeded defect: SEL and SDR reservation IDs are not checked (Get SDR and Get
    /// SEL Entry partial reads, Delete SEL Entry and Clear SEL accept any reservation,
    /// 0x0000 and superseded ones included).
    pub ignore_reservations: bool,
}

impl Default for IpmiProfile {
    fn default() -> IpmiProfile {
        IpmiProfile {
            device_support: DEVICE_SUPPORT,
            max_read: MAX_READ,
            sol: true,
            mc_locator_first: false,
            unsupported: Vec::new(),
            ignore_reservations: false,
        }
    }
}

impl IpmiProfile {
    /// Whether `netfn`/`cmd` is one the profile says the BMC does not implement.
    pub fn is_unsupported(&self, netfn: u8, cmd: u8) -> bool {
        let netfn = netfn & !1;
        let sol_cmd = netfn == id::GET_SOL_CONFIG.0
            && (cmd == id::GET_SOL_CONFIG.1 || cmd == id::SET_SOL_CONFIG.1);
        (!self.sol && sol_cmd)
            || self
                .unsupported
                .iter()
                .any(|(n, c)| *n == netfn && c.is_none_or(|c| c == cmd))
    }
}

/// What the BMC keeps besides the machine.
#[derive(Debug, Clone)]
pub(crate) struct BmcState {
    profile: IpmiProfile,
    next_reservation: u16,
    sdr_reservation: Option<u16>,
    sel_reservation: Option<u16>,
    /// The reservation a Clear SEL used: status polls with it stay valid.
    sel_cleared_with: Option<u16>,
    lan: BTreeMap<u8, Vec<u8>>,
    lan_in_progress: bool,
    sol: BTreeMap<u8, Vec<u8>>,
    sol_in_progress: bool,
    boot: BTreeMap<u8, Vec<u8>>,
    boot_mailbox: BTreeMap<u8, [u8; 16]>,
    boot_invalid: u8,
    boot_in_progress: bool,
    identify_until: Option<Millis>,
    identify_forever: bool,
    power_on_by_ipmi: bool,
    no_access: Vec<u8>,
    sol_lines: HashMap<u32, SolTerm>,
}

fn lan_defaults() -> BTreeMap<u8, Vec<u8>> {
    let mut community = b"public".to_vec();
    community.resize(18, 0);
    BTreeMap::from([
        (1, vec![0x15]),
        (2, vec![0x14, 0x14, 0x14, 0x14, 0x00]),
        (3, vec![127, 0, 0, 1]),
        (4, vec![0x01]),
        (5, vec![0x02, 0x00, 0x5E, 0x10, 0x00, 0x01]),
        (6, vec![255, 0, 0, 0]),
        (7, vec![0x40, 0x40, 0x10]),
        (10, vec![0x00]),
        (11, vec![0x00]),
        (12, vec![127, 0, 0, 1]),
        (13, vec![0; 6]),
        (14, vec![0; 4]),
        (15, vec![0; 6]),
        (16, community),
        (17, vec![0x00]),
        (20, vec![0x00, 0x00]),
        (21, vec![0x00]),
    ])
}

/// LAN parameters a Set may change (the others are read-only: 0x82).
const LAN_WRITABLE: [u8; 14] = [3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 20, 21];

fn sol_defaults() -> BTreeMap<u8, Vec<u8>> {
    BTreeMap::from([
        (1, vec![0x01]),
        (2, vec![0x02]),
        (3, vec![0x0C, 0x60]),
        (4, vec![0x07, 0x32]),
        (5, vec![0x0A]),
        (6, vec![0x0A]),
        (7, vec![LAN_CHANNEL]),
        (8, 623u16.to_le_bytes().to_vec()),
    ])
}

const SOL_WRITABLE: [u8; 6] = [1, 2, 3, 4, 5, 6];

fn boot_defaults() -> BTreeMap<u8, Vec<u8>> {
    BTreeMap::from([
        (1, vec![0x00]),
        (2, vec![0x00]),
        (3, vec![0x00]),
        (4, vec![0x00, 0x00]),
        (5, vec![0x00; 5]),
        (6, vec![0x00; 9]),
    ])
}

impl BmcState {
    pub(crate) fn new(_spec: &MachineSpec) -> BmcState {
        let mut s = BmcState {
            profile: IpmiProfile::default(),
            next_reservation: 1,
            sdr_reservation: None,
            sel_reservation: None,
            sel_cleared_with: None,
            lan: lan_defaults(),
            lan_in_progress: false,
            sol: sol_defaults(),
            sol_in_progress: false,
            boot: boot_defaults(),
            boot_mailbox: BTreeMap::new(),
            boot_invalid: 0,
            boot_in_progress: false,
            identify_until: None,
            identify_forever: false,
            power_on_by_ipmi: false,
            no_access: Vec::new(),
            sol_lines: HashMap::new(),
        };
        s.set_cipher_suites(&DEFAULT_CIPHER_SUITES);
        s
    }

    fn reserve(&mut self) -> u16 {
        let r = self.next_reservation;
        self.next_reservation = self.next_reservation.checked_add(1).unwrap_or(1).max(1);
        r
    }

    fn set_cipher_suites(&mut self, suites: &[u8]) {
        let suites = &suites[..suites.len().min(16)];
        self.lan.insert(22, vec![suites.len() as u8]);
        let mut entries = vec![0x00];
        entries.extend_from_slice(suites);
        self.lan.insert(23, entries);
        let mut levels = vec![0u8; 9];
        for i in 0..suites.len() {
            let admin = Priv::Administrator.to_u8();
            levels[1 + i / 2] |= if i % 2 == 0 { admin } else { admin << 4 };
        }
        self.lan.insert(24, levels);
    }
}

/// The minimum privilege of each implemented command (appendix G), from the command
/// table; `None` for commands the application does not implement.
fn required(netfn: u8, cmd: u8) -> Option<Priv> {
    ipmi::commands::machine_privilege(netfn, cmd)
}

fn to_ipmi_priv(p: Privilege) -> Priv {
    match p {
        Privilege::Callback => Priv::Callback,
        Privilege::User => Priv::User,
        Privilege::Operator => Priv::Operator,
        Privilege::Administrator => Priv::Administrator,
    }
}

fn decode<T: Wire>(b: &[u8]) -> Result<T, Response> {
    T::decode(b).map_err(|e: DecodeError| Response::cc(e.completion_code()))
}

fn ok<T: Wire>(v: T) -> Response {
    Response::ok(v.encode())
}

type Answer = Result<Response, Response>;

/// Whether a channel byte names the LAN channel (its number or 0x0E "this channel").
fn is_lan(channel: u8) -> bool {
    matches!(channel & 0x0F, LAN_CHANNEL | 0x0E)
}

/// Why a resolution and offset cannot be told to IPMI clients through SDR factors
/// (M and B are 10-bit signed, the exponents 4-bit): `None` when the factors
/// [`Linear::for_resolution`] picks reproduce every reading within half a resolution.
pub(crate) fn sdr_conversion_error(resolution: f64, offset: f64) -> Option<String> {
    let lin = Linear::for_resolution(resolution, offset);
    let worst = [0u8, 255]
        .iter()
        .map(|&raw| (lin.value(raw) - (f64::from(raw) * resolution + offset)).abs())
        .fold(0.0, f64::max);
    let tolerance = resolution / 2.0 + 1e-9 * (offset.abs() + 255.0 * resolution);
    (worst > tolerance).then(|| {
        format!(
            "= {offset} with resolution {resolution} cannot be expressed as IPMI SDR factors \
             (nearest: M = {}, B = {}, B exponent {}, result exponent {}; B is a 10-bit signed \
             number); use an offset with fewer significant digits",
            lin.m, lin.b, lin.b_exp, lin.r_exp
        )
    })
}

/// The SDR of a numeric sensor (full record).
pub fn full_record(s: &NumericSensor, record_id: u16) -> Sdr {
    let lin = Linear::for_resolution(s.resolution(), s.offset());
    let mut assertion = 0u16;
    let mut deassertion = 0u16;
    let mut readable = 0u16;
    let mut values = [0u8; 6];
    for (t, v) in s.thresholds().present() {
        let ev = 1u16 << t.event_offset();
        assertion |= ev;
        deassertion |= ev;
        readable |= 1 << t.bit();
        values[usize::from(t.bit())] = s.to_raw(v);
        // Threshold comparisons returned: lower ones in the assertion mask, upper ones
        // in the deassertion mask (bits 12 NC, 13 C, 14 NR).
        let cmp = 1u16 << (11 + t.severity());
        if t.is_upper() {
            deassertion |= cmp;
        } else {
            assertion |= cmp;
        }
    }
    let spec = s.spec();
    let unit = s.unit();
    Sdr {
        id: record_id,
        version: SDR_VERSION,
        record: Record::Full(FullSensor {
            key: SensorKey {
                owner_id: BMC_ADDRESS,
                owner_lun: 0,
                number: s.number(),
                entity_id: s.entity_id(),
                entity_instance: s.entity_instance(),
                init: 0x7F,
                // Auto re-arm, hysteresis readable, thresholds readable, entire-sensor
                // event control.
                capabilities: 0x40 | 0x10 | 0x04 | 0x01,
                sensor_type: s.sensor_type().ipmi_code(),
                event_reading_type: 0x01,
                assertion_mask: assertion,
                deassertion_mask: deassertion,
                reading_mask: readable,
            },
            units: Units {
                format: AnalogFormat::Unsigned,
                percentage: unit.ipmi_percentage(),
                base: unit.ipmi_code(),
                ..Units::default()
            },
            linearization: 0,
            conv: lin,
            analog_flags: u8::from(spec.nominal.is_some()),
            nominal: spec.nominal.map_or(0, |n| s.to_raw(n)),
            max_reading: s.to_raw(spec.max_readable()),
            min_reading: s.to_raw(spec.min_readable()),
            thresholds: values,
            id: IdString::ascii(s.name()),
            ..FullSensor::default()
        }),
    }
}

/// The SDR of a discrete sensor (compact record).
pub fn compact_record(d: &DiscreteSensor, record_id: u16) -> Sdr {
    let n = d.states().len().clamp(1, 15);
    let states = ((1u32 << n) - 1) as u16;
    Sdr {
        id: record_id,
        version: SDR_VERSION,
        record: Record::Compact(CompactSensor {
            key: SensorKey {
                owner_id: BMC_ADDRESS,
                owner_lun: 0,
                number: d.number(),
                entity_id: d.entity_id(),
                entity_instance: d.entity_instance(),
                init: 0x67,
                capabilities: 0x40 | 0x01,
                sensor_type: d.sensor_type().ipmi_code(),
                event_reading_type: d.event_reading_type(),
                assertion_mask: states,
                deassertion_mask: states,
                reading_mask: states,
            },
            units: Units {
                format: AnalogFormat::None,
                ..Units::default()
            },
            id: IdString::ascii(d.name()),
            ..CompactSensor::default()
        }),
    }
}

/// Device capabilities of the BMC (Get Device ID additional device support and the MC
/// locator): chassis, FRU inventory, SEL, SDR repository, sensor device.
pub const DEVICE_SUPPORT: u8 = 0x80 | 0x08 | 0x04 | 0x02 | 0x01;

pub use ipmi::cmd::{guid_from_wire, guid_to_wire};

impl Machine {
    /// The SDR repository: full records for numeric sensors, compact records for
    /// discrete ones, the FRU device locator (FRU device 0) and the BMC's management
    /// controller locator (first instead of last when the profile says
    /// `mc_locator_first`); record IDs 1, 2, ... in repository order.
    pub fn sdr_repository(&self) -> Vec<Sdr> {
        let mut out = Vec::new();
        for s in self.numeric_sensors() {
            out.push(full_record(s, 0));
        }
        for d in self.discrete_sensors() {
            out.push(compact_record(d, 0));
        }
        out.push(Sdr {
            id: 0,
            version: SDR_VERSION,
            record: Record::FruLocator(FruLocator {
                access_address: BMC_ADDRESS,
                fru_device_id: 0,
                access: 0x80,
                channel: 0,
                device_type: 0x10,
                device_type_modifier: 0,
                entity_id: 0x07,
                entity_instance: 1,
                oem: 0,
                id: IdString::ascii("Builtin FRU"),
            }),
        });
        let mc = Sdr {
            id: 0,
            version: SDR_VERSION,
            record: Record::McLocator(McLocator {
                slave_address: BMC_ADDRESS,
                channel: 0,
                power_state: 0,
                capabilities: self.bmc.profile.device_support,
                entity_id: 0x06,
                entity_instance: 1,
                oem: 0,
                id: IdString::ascii("BMC"),
            }),
        };
        if self.bmc.profile.mc_locator_first {
            out.insert(0, mc);
        } else {
            out.push(mc);
        }
        for (i, r) in out.iter_mut().enumerate() {
            r.id = u16::try_from(i + 1).unwrap_or(u16::MAX);
        }
        out
    }

    /// Sets how this BMC behaves where implementations differ ([`IpmiProfile`]).
    pub fn set_ipmi_profile(&mut self, profile: IpmiProfile) {
        self.bmc.profile = profile;
    }

    /// The BMC's [`IpmiProfile`].
    pub fn ipmi_profile(&self) -> &IpmiProfile {
        &self.bmc.profile
    }

    /// Sets the RMCP+ cipher suite IDs LAN parameters 22-24 report (at most 16; each
    /// with Administrator as its maximum privilege). The mock passes the suites its
    /// session layer enables.
    pub fn set_ipmi_cipher_suites(&mut self, suites: &[u8]) {
        self.bmc.set_cipher_suites(suites);
    }

    /// Sets the LAN channel's IP address (LAN parameter 3) and MAC address (parameter
    /// 5): a fleet gives each of its machines its own.
    pub fn set_lan_identity(&mut self, ip: [u8; 4], mac: [u8; 6]) {
        self.bmc.lan.insert(3, ip.to_vec());
        self.bmc.lan.insert(5, mac.to_vec());
    }

    fn user_record(&self, u: &User) -> UserRecord {
        UserRecord {
            id: u.id,
            name: u.name.as_bytes().to_vec(),
            password: u.password.as_bytes().to_vec(),
            max_privilege: to_ipmi_priv(u.privilege),
            enabled: u.enabled && !self.bmc.no_access.contains(&u.id),
        }
    }

    fn dispatch(&mut self, req: &Request<'_>, now: Millis) -> Answer {
        let d = req.data;
        match (req.netfn, req.cmd) {
            id::GET_DEVICE_ID => {
                decode::<cmd::Empty>(d)?;
                Ok(ok(self.device_id()))
            }
            id::COLD_RESET => {
                decode::<cmd::Empty>(d)?;
                self.bmc.sdr_reservation = None;
                self.bmc.sel_reservation = None;
                Ok(Response::ok(Vec::new()))
            }
            // IPMI v2.0 20.3: the interface restarts, sensors and their settings stay;
            // a reservation does not survive the reset. The session the request came
            // in stays open (the simulated BMC does not drop off the network).
            id::WARM_RESET => {
                decode::<cmd::Empty>(d)?;
                self.bmc.sdr_reservation = None;
                self.bmc.sel_reservation = None;
                Ok(Response::ok(Vec::new()))
            }
            id::GET_SELF_TEST => {
                decode::<cmd::Empty>(d)?;
                Ok(ok(cmd::SelfTestResp {
                    result: 0x55,
                    detail: 0x00,
                }))
            }
            id::GET_WATCHDOG => {
                decode::<cmd::Empty>(d)?;
                Ok(ok(cmd::WatchdogResp {
                    timer_use: 0x04,
                    actions: 0x00,
                    pretimeout: 0,
                    expiration_flags: 0,
                    initial_countdown: 0,
                    present_countdown: 0,
                }))
            }
            id::GET_SYSTEM_GUID => {
                decode::<cmd::Empty>(d)?;
                Ok(ok(cmd::GuidResp {
                    guid: Application::guid(self),
                }))
            }
            id::GET_CHANNEL_ACCESS => self.channel_access(d),
            id::GET_CHANNEL_INFO => self.channel_info(d, req),
            id::GET_USER_ACCESS => self.get_user_access(d),
            id::SET_USER_ACCESS => self.set_user_access(d),
            id::GET_USER_NAME => self.get_user_name(d),
            id::SET_USER_NAME => self.set_user_name_cmd(d),
            id::SET_USER_PASSWORD => self.set_user_password_cmd(d),
            id::GET_SYSTEM_INFO => self.system_info(d),
            id::GET_CHASSIS_CAPABILITIES => {
                decode::<cmd::Empty>(d)?;
                Ok(ok(cmd::ChassisCapsResp {
                    flags: 0x01 | 0x04,
                    fru_address: BMC_ADDRESS,
                    sdr_address: BMC_ADDRESS,
                    sel_address: BMC_ADDRESS,
                    sm_address: BMC_ADDRESS,
                    bridge_address: None,
                }))
            }
            id::GET_CHASSIS_STATUS => {
                decode::<cmd::Empty>(d)?;
                Ok(ok(self.chassis_status(now)))
            }
            id::CHASSIS_CONTROL => self.chassis_control_cmd(d, now),
            id::CHASSIS_IDENTIFY => {
                let r: cmd::IdentifyReq = decode(d)?;
                let force = r.force.unwrap_or(0) & 1 != 0;
                let interval = r.interval.unwrap_or(15);
                self.bmc.identify_forever = force;
                self.bmc.identify_until =
                    (!force && interval > 0).then(|| now + u64::from(interval) * 1000);
                Ok(Response::ok(Vec::new()))
            }
            id::SET_BOOT_OPTIONS => self.set_boot_option(d),
            id::GET_BOOT_OPTIONS => self.get_boot_option(d),
            id::GET_POH_COUNTER => {
                decode::<cmd::Empty>(d)?;
                Ok(ok(cmd::PohResp {
                    minutes_per_count: 60,
                    counter: self.power_on_hours(now).min(u64::from(u32::MAX)) as u32,
                }))
            }
            id::GET_SENSOR_READING => self.sensor_reading(d, now),
            id::GET_SENSOR_THRESHOLDS => {
                let r: cmd::SensorReq = decode(d)?;
                let s = self.numeric_for(r.number)?;
                let mut values = [0u8; 6];
                let mut readable = 0u8;
                for (t, v) in s.thresholds().present() {
                    values[usize::from(t.bit())] = s.to_raw(v);
                    readable |= 1 << t.bit();
                }
                Ok(ok(cmd::ThresholdsResp { readable, values }))
            }
            id::GET_SENSOR_HYSTERESIS => {
                let r: cmd::HysteresisReq = decode(d)?;
                self.numeric_for(r.number)?;
                Ok(ok(cmd::HysteresisResp {
                    positive: 0,
                    negative: 0,
                }))
            }
            id::GET_SENSOR_EVENT_ENABLE => {
                let r: cmd::SensorReq = decode(d)?;
                let key = self
                    .sdr_repository()
                    .into_iter()
                    .find_map(|s| match s.record {
                        Record::Full(f) if f.key.number == r.number => Some(f.key),
                        Record::Compact(c) if c.key.number == r.number => Some(c.key),
                        _ => None,
                    })
                    .ok_or(Response::cc(cc::NOT_PRESENT))?;
                Ok(ok(cmd::EventEnableResp {
                    flags: 0xC0,
                    assertion: Some(key.assertion_mask & 0x0FFF),
                    deassertion: Some(key.deassertion_mask & 0x0FFF),
                }))
            }
            id::GET_FRU_INFO => {
                let r: cmd::FruDeviceReq = decode(d)?;
                if r.device != 0 {
                    return Err(Response::cc(cc::NOT_PRESENT));
                }
                Ok(ok(cmd::FruInfoResp {
                    size: self.fru_bytes().len().min(0xFFFF) as u16,
                    access: 0,
                }))
            }
            id::READ_FRU => {
                let r: cmd::ReadFruReq = decode(d)?;
                if r.device != 0 {
                    return Err(Response::cc(cc::NOT_PRESENT));
                }
                if usize::from(r.count) > self.bmc.profile.max_read {
                    return Err(Response::cc(cc::CANNOT_RETURN_BYTES));
                }
                let fru = self.fru_bytes();
                let off = usize::from(r.offset);
                if off > fru.len() {
                    return Err(Response::cc(cc::PARAMETER_OUT_OF_RANGE));
                }
                let end = (off + usize::from(r.count)).min(fru.len());
                Ok(ok(cmd::ReadFruResp {
                    data: fru[off..end].to_vec(),
                }))
            }
            id::GET_SDR_INFO => {
                decode::<cmd::Empty>(d)?;
                let count = self.sdr_repository().len().min(0xFFFF) as u16;
                Ok(Response::ok(
                    RepositoryInfo {
                        version: SDR_VERSION,
                        count,
                        free: 0,
                        last_add: 0,
                        last_erase: 0,
                        // Non-modal update supported (01b in bits 6:5), reserve supported.
                        support: 0x20 | 0x02,
                    }
                    .encode(),
                ))
            }
            id::RESERVE_SDR => {
                decode::<cmd::Empty>(d)?;
                let r = self.bmc.reserve();
                self.bmc.sdr_reservation = Some(r);
                Ok(ok(cmd::ReservationResp { reservation: r }))
            }
            id::GET_SDR => self.get_sdr(d),
            id::GET_SEL_INFO => {
                decode::<cmd::Empty>(d)?;
                let i = self.sel_info();
                Ok(Response::ok(
                    ipmi::sel::SelInfo {
                        version: 0x51,
                        entries: i.count,
                        free: i.free_bytes,
                        last_add: i.last_add.unwrap_or(0xFFFF_FFFF),
                        last_erase: i.last_erase.unwrap_or(0xFFFF_FFFF),
                        support: if i.overflow { 0x80 } else { 0 } | 0x08 | 0x02,
                    }
                    .encode(),
                ))
            }
            id::RESERVE_SEL => {
                decode::<cmd::Empty>(d)?;
                let r = self.bmc.reserve();
                self.bmc.sel_reservation = Some(r);
                self.bmc.sel_cleared_with = None;
                Ok(ok(cmd::ReservationResp { reservation: r }))
            }
            id::GET_SEL_ENTRY => self.get_sel_entry(d),
            id::ADD_SEL_ENTRY => {
                let r: cmd::AddSelReq = decode(d)?;
                match self.sel_add(SelEntry::from_bytes(&r.record), now) {
                    Ok(id) => Ok(ok(cmd::RecordIdResp { record: id })),
                    Err(_) => Err(Response::cc(cc::OUT_OF_SPACE)),
                }
            }
            id::DELETE_SEL_ENTRY => {
                let r: cmd::DeleteSelReq = decode(d)?;
                self.check_sel_reservation(r.reservation)?;
                let target = self
                    .resolve_sel_id(r.record)
                    .ok_or(Response::cc(cc::NOT_PRESENT))?;
                match self.sel_delete(target, now) {
                    Ok(()) => {
                        self.bmc.sel_reservation = None;
                        Ok(ok(cmd::RecordIdResp { record: target }))
                    }
                    Err(_) => Err(Response::cc(cc::NOT_PRESENT)),
                }
            }
            id::CLEAR_SEL => {
                let r: cmd::ClearSelReq = decode(d)?;
                let polling = r.action == 0x00 && self.bmc.sel_cleared_with == Some(r.reservation);
                if !polling {
                    self.check_sel_reservation(r.reservation)?;
                }
                if r.action == 0xAA {
                    self.sel_clear(now);
                    self.bmc.sel_reservation = None;
                    self.bmc.sel_cleared_with = Some(r.reservation);
                }
                Ok(ok(cmd::ClearSelResp { progress: 0x01 }))
            }
            id::GET_SEL_TIME => {
                decode::<cmd::Empty>(d)?;
                Ok(ok(cmd::SelTime {
                    time: self.sel_time(now),
                }))
            }
            id::SET_SEL_TIME => {
                let r: cmd::SelTime = decode(d)?;
                self.set_sel_time(r.time, now);
                Ok(Response::ok(Vec::new()))
            }
            id::GET_LAN_CONFIG => {
                let r = cmd::GetParamReq::decode_with_channel(d)
                    .map_err(|e| Response::cc(e.completion_code()))?;
                let ch = r.channel.unwrap_or(0);
                if !is_lan(ch) {
                    return Err(Response::cc(cc::INVALID_DATA_FIELD));
                }
                get_param(&self.bmc.lan, self.bmc.lan_in_progress, &r)
            }
            id::SET_LAN_CONFIG => {
                let r = cmd::SetParamReq::decode_with_channel(d)
                    .map_err(|e| Response::cc(e.completion_code()))?;
                if !is_lan(r.channel.unwrap_or(0)) {
                    return Err(Response::cc(cc::INVALID_DATA_FIELD));
                }
                let bmc = &mut self.bmc;
                set_param(&mut bmc.lan, &mut bmc.lan_in_progress, &LAN_WRITABLE, &r)
            }
            id::GET_SOL_CONFIG => {
                let r = cmd::GetParamReq::decode_with_channel(d)
                    .map_err(|e| Response::cc(e.completion_code()))?;
                if !is_lan(r.channel.unwrap_or(0)) {
                    return Err(Response::cc(cc::INVALID_DATA_FIELD));
                }
                get_param(&self.bmc.sol, self.bmc.sol_in_progress, &r)
            }
            id::SET_SOL_CONFIG => {
                let r = cmd::SetParamReq::decode_with_channel(d)
                    .map_err(|e| Response::cc(e.completion_code()))?;
                if !is_lan(r.channel.unwrap_or(0)) {
                    return Err(Response::cc(cc::INVALID_DATA_FIELD));
                }
                let bmc = &mut self.bmc;
                set_param(&mut bmc.sol, &mut bmc.sol_in_progress, &SOL_WRITABLE, &r)
            }
            _ => Err(Response::cc(cc::INVALID_COMMAND)),
        }
    }

    fn device_id(&self) -> cmd::GetDeviceIdResp {
        let mut parts = self
            .bmc_firmware_version()
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let major = parts.next().unwrap_or(0).min(0x7F) as u8;
        let minor = parts.next().unwrap_or(0).min(99) as u8;
        cmd::GetDeviceIdResp {
            device_id: BMC_ADDRESS,
            device_revision: 0x01,
            firmware_major: major,
            firmware_minor: ((minor / 10) << 4) | (minor % 10),
            ipmi_version: 0x02,
            additional_support: self.bmc.profile.device_support,
            manufacturer_id: MANUFACTURER_ID,
            product_id: PRODUCT_ID,
            aux: None,
        }
    }

    fn channel_access(&self, d: &[u8]) -> Answer {
        let r: cmd::ChannelAccessReq = decode(d)?;
        let access_type = r.access_type >> 6;
        if !is_lan(r.channel) || !(1..=2).contains(&access_type) {
            return Err(Response::cc(cc::INVALID_DATA_FIELD));
        }
        Ok(ok(cmd::ChannelAccessResp {
            access: 0x02,
            privilege_limit: Priv::Administrator.to_u8(),
        }))
    }

    fn channel_info(&self, d: &[u8], req: &Request<'_>) -> Answer {
        let r: cmd::ChannelReq = decode(d)?;
        let ch = r.channel & 0x0F;
        let resp = match ch {
            LAN_CHANNEL | 0x0E => cmd::ChannelInfoResp {
                channel: LAN_CHANNEL,
                medium: 0x04,
                protocol: 0x01,
                session_support: 0x80 | u8::from(req.session.is_some()),
                vendor_id: 7154,
                aux: [0, 0],
            },
            0 => cmd::ChannelInfoResp {
                channel: 0,
                medium: 0x01,
                protocol: 0x01,
                session_support: 0x00,
                vendor_id: 7154,
                aux: [0, 0],
            },
            _ => return Err(Response::cc(cc::INVALID_DATA_FIELD)),
        };
        Ok(ok(resp))
    }

    fn user_id_checked(id: u8) -> Result<u8, Response> {
        let id = id & 0x3F;
        if (1..=MAX_USERS).contains(&id) {
            Ok(id)
        } else {
            Err(Response::cc(cc::INVALID_DATA_FIELD))
        }
    }

    fn get_user_access(&self, d: &[u8]) -> Answer {
        let r: cmd::UserReq = decode(d)?;
        if !is_lan(r.channel) {
            return Err(Response::cc(cc::INVALID_DATA_FIELD));
        }
        let uid = Self::user_id_checked(r.user_id)?;
        let enabled_count = self.users().iter().filter(|u| u.enabled).count() as u8;
        let user = self.user_by_id(uid);
        let status = match user {
            Some(u) if u.enabled => 0x40,
            Some(_) => 0x80,
            None => 0x00,
        };
        let access = match user {
            Some(_) if self.bmc.no_access.contains(&uid) => 0x0F,
            Some(u) => 0x30 | u.privilege.ipmi_code(),
            None => 0x0F,
        };
        Ok(ok(cmd::UserAccessResp {
            max_users: MAX_USERS,
            enabled: status | (enabled_count & 0x3F),
            fixed_names: 0,
            access,
        }))
    }

    fn set_user_access(&mut self, d: &[u8]) -> Answer {
        let r: cmd::SetUserAccessReq = decode(d)?;
        if !is_lan(r.flags) {
            return Err(Response::cc(cc::INVALID_DATA_FIELD));
        }
        let uid = Self::user_id_checked(r.user_id)?;
        match r.privilege & 0x0F {
            0x0F => {
                self.user_slot_exists(uid)?;
                if !self.bmc.no_access.contains(&uid) {
                    self.bmc.no_access.push(uid);
                }
            }
            p => {
                let p = Privilege::from_ipmi(p).ok_or(Response::cc(cc::INVALID_DATA_FIELD))?;
                self.set_user_privilege(uid, p).map_err(machine_cc)?;
                self.bmc.no_access.retain(|&u| u != uid);
            }
        }
        Ok(Response::ok(Vec::new()))
    }

    fn user_slot_exists(&mut self, uid: u8) -> Result<(), Response> {
        if self.user_by_id(uid).is_none() {
            self.set_user_enabled(uid, false).map_err(machine_cc)?;
        }
        Ok(())
    }

    fn get_user_name(&self, d: &[u8]) -> Answer {
        let r: cmd::UserIdReq = decode(d)?;
        let uid = Self::user_id_checked(r.user_id)?;
        let mut name = [0u8; 16];
        if let Some(u) = self.user_by_id(uid) {
            let b = u.name.as_bytes();
            let n = b.len().min(16);
            name[..n].copy_from_slice(&b[..n]);
        }
        Ok(ok(cmd::UserNameResp { name }))
    }

    fn set_user_name_cmd(&mut self, d: &[u8]) -> Answer {
        let r: cmd::SetUserNameReq = decode(d)?;
        let uid = Self::user_id_checked(r.user_id)?;
        let end = r.name.iter().position(|&b| b == 0).unwrap_or(16);
        let name = std::str::from_utf8(&r.name[..end])
            .map_err(|_| Response::cc(cc::INVALID_DATA_FIELD))?;
        self.set_user_name(uid, name).map_err(machine_cc)?;
        Ok(Response::ok(Vec::new()))
    }

    fn set_user_password_cmd(&mut self, d: &[u8]) -> Answer {
        let r: cmd::SetUserPasswordReq = decode(d)?;
        let uid = Self::user_id_checked(r.user_id)?;
        match r.operation {
            0 | 1 => self
                .set_user_enabled(uid, r.operation == 1)
                .map_err(machine_cc)?,
            2 => {
                let pw = std::str::from_utf8(r.password_trimmed())
                    .map_err(|_| Response::cc(cc::INVALID_DATA_FIELD))?;
                self.set_user_password(uid, pw).map_err(machine_cc)?;
            }
            _ => {
                let Some(u) = self.user_by_id(uid) else {
                    return Err(Response::cc(0x80));
                };
                let stored = u.password.as_bytes();
                // A 20-byte password tested with the 16-byte form: wrong size (0x81).
                if !r.twenty && stored.len() > 16 {
                    return Err(Response::cc(0x81));
                }
                if stored != r.password_trimmed() {
                    return Err(Response::cc(0x80));
                }
            }
        }
        Ok(Response::ok(Vec::new()))
    }

    fn system_info(&self, d: &[u8]) -> Answer {
        let r = cmd::GetParamReq::decode_with_channel(d)
            .map_err(|e| Response::cc(e.completion_code()))?;
        if r.revision_only() {
            return Ok(Response::ok(vec![0x11]));
        }
        let text = match r.param {
            0 => return Ok(Response::ok(vec![0x11, 0x00])),
            1 => self.firmware_version().to_owned(),
            2 => self.hostname().to_owned(),
            _ => return Err(Response::cc(0x80)),
        };
        let bytes = text.as_bytes();
        let mut block = [0u8; 16];
        if r.set == 0 {
            block[0] = 0; // ASCII+Latin 1
            block[1] = bytes.len().min(255) as u8;
            let n = bytes.len().min(14);
            block[2..2 + n].copy_from_slice(&bytes[..n]);
        } else {
            let start = 14 + (usize::from(r.set) - 1) * 16;
            if start < bytes.len() {
                let chunk = &bytes[start..bytes.len().min(start + 16)];
                block[..chunk.len()].copy_from_slice(chunk);
            }
        }
        let mut data = vec![0x11, r.set];
        data.extend_from_slice(&block);
        Ok(Response::ok(data))
    }

    fn chassis_status(&self, now: Millis) -> cmd::ChassisStatusResp {
        let on = self.power_state(now).is_on();
        let identify = if self.bmc.identify_forever {
            0x20
        } else if self.bmc.identify_until.is_some_and(|t| t > now) {
            0x10
        } else {
            0
        };
        let intrusion = self
            .discrete_sensors()
            .iter()
            .any(|d| d.sensor_type() == SensorType::PhysicalSecurity && d.state() & 1 != 0);
        let fan_fault = self
            .numeric_sensors()
            .iter()
            .any(|s| s.sensor_type() == SensorType::Fan && s.last_status().worst().is_some());
        cmd::ChassisStatusResp {
            // Power restore policy "previous state" (01b in bits 6:5).
            power: u8::from(on) | 0x20,
            last_event: if self.bmc.power_on_by_ipmi { 0x10 } else { 0 },
            misc: 0x40 | identify | if fan_fault { 0x08 } else { 0 } | u8::from(intrusion),
            front_panel: None,
        }
    }

    fn chassis_control_cmd(&mut self, d: &[u8], now: Millis) -> Answer {
        let r: cmd::ChassisControlReq = decode(d)?;
        let action =
            PowerAction::from_ipmi(r.action).ok_or(Response::cc(cc::INVALID_DATA_FIELD))?;
        if r.action & 0xF0 != 0 {
            return Err(Response::cc(cc::INVALID_DATA_FIELD));
        }
        self.chassis_control(action, now).map_err(machine_cc)?;
        if matches!(action, PowerAction::On | PowerAction::Cycle) {
            self.bmc.power_on_by_ipmi = true;
        }
        Ok(Response::ok(Vec::new()))
    }

    fn set_boot_option(&mut self, d: &[u8]) -> Answer {
        let r = cmd::SetParamReq::decode_boot(d).map_err(|e| Response::cc(e.completion_code()))?;
        let param = r.param & 0x7F;
        let invalid = r.param & 0x80 != 0;
        let bmc = &mut self.bmc;
        match param {
            0 => {
                let [v] = r.data[..] else {
                    return Err(Response::cc(cc::DATA_LENGTH_INVALID));
                };
                match v & 3 {
                    0 | 2 => bmc.boot_in_progress = false,
                    1 if bmc.boot_in_progress => return Err(Response::cc(0x81)),
                    1 => bmc.boot_in_progress = true,
                    _ => return Err(Response::cc(cc::INVALID_DATA_FIELD)),
                }
            }
            7 => {
                let Some((&set, rest)) = r.data.split_first() else {
                    return Err(Response::cc(cc::DATA_LENGTH_INVALID));
                };
                let block: [u8; 16] = rest
                    .try_into()
                    .map_err(|_| Response::cc(cc::DATA_LENGTH_INVALID))?;
                bmc.boot_mailbox.insert(set, block);
            }
            p => {
                let Some(cur) = bmc.boot.get_mut(&p) else {
                    return Err(Response::cc(0x80));
                };
                if r.data.len() != cur.len() {
                    return Err(Response::cc(cc::DATA_LENGTH_INVALID));
                }
                *cur = r.data.clone();
            }
        }
        if param < 8 {
            if invalid {
                bmc.boot_invalid |= 1 << param;
            } else {
                bmc.boot_invalid &= !(1 << param);
            }
        }
        Ok(Response::ok(Vec::new()))
    }

    fn get_boot_option(&self, d: &[u8]) -> Answer {
        let r = cmd::GetParamReq::decode_boot(d).map_err(|e| Response::cc(e.completion_code()))?;
        let param = r.param & 0x7F;
        let bmc = &self.bmc;
        let data = match param {
            0 => vec![u8::from(bmc.boot_in_progress)],
            7 => {
                let mut v = vec![r.set];
                v.extend_from_slice(&bmc.boot_mailbox.get(&r.set).copied().unwrap_or([0; 16]));
                v
            }
            p => bmc.boot.get(&p).cloned().ok_or(Response::cc(0x80))?,
        };
        let invalid = if param < 8 && bmc.boot_invalid & (1 << param) != 0 {
            0x80
        } else {
            0
        };
        let mut out = vec![0x01, param | invalid];
        out.extend_from_slice(&data);
        Ok(Response::ok(out))
    }

    fn numeric_for(&self, number: u8) -> Result<&NumericSensor, Response> {
        if let Some(s) = self.numeric_sensor_by_number(number) {
            return Ok(s);
        }
        if self.discrete_sensor_by_number(number).is_some() {
            return Err(Response::cc(cc::ILLEGAL_FOR_SENSOR));
        }
        Err(Response::cc(cc::NOT_PRESENT))
    }

    fn sensor_reading(&mut self, d: &[u8], now: Millis) -> Answer {
        let r: cmd::SensorReq = decode(d)?;
        if let Some(s) = self.numeric_sensor_by_number(r.number) {
            let id = s.id().to_owned();
            let raw = self
                .raw_reading(&id, now)
                .ok_or(Response::cc(cc::NOT_PRESENT))?;
            let status = self
                .numeric_sensor(&id)
                .map_or(0, |s| s.status_of_raw(raw).bits());
            return Ok(ok(cmd::SensorReadingResp {
                reading: raw,
                flags: 0xC0,
                state1: Some(status),
                state2: None,
            }));
        }
        if let Some(ds) = self.discrete_sensor_by_number(r.number) {
            let st = ds.state();
            return Ok(ok(cmd::SensorReadingResp {
                reading: 0,
                flags: 0xC0,
                state1: Some((st & 0xFF) as u8),
                state2: Some(((st >> 8) & 0x7F) as u8 | 0x80),
            }));
        }
        Err(Response::cc(cc::NOT_PRESENT))
    }

    fn get_sdr(&self, d: &[u8]) -> Answer {
        let r: cmd::GetRecordReq = decode(d)?;
        if r.offset != 0
            && self.bmc.sdr_reservation != Some(r.reservation)
            && !self.bmc.profile.ignore_reservations
        {
            return Err(Response::cc(cc::RESERVATION_CANCELLED));
        }
        let repo = self.sdr_repository();
        let i = match r.record {
            0x0000 => 0,
            0xFFFF => repo.len().saturating_sub(1),
            id => repo
                .iter()
                .position(|s| s.id == id)
                .ok_or(Response::cc(cc::NOT_PRESENT))?,
        };
        let rec = repo.get(i).ok_or(Response::cc(cc::NOT_PRESENT))?;
        let next = repo.get(i + 1).map_or(0xFFFF, |s| s.id);
        let bytes = rec.encode();
        Ok(ok(cmd::GetRecordResp {
            next,
            data: slice(&bytes, r.offset, r.count, self.bmc.profile.max_read)?,
        }))
    }

    fn resolve_sel_id(&self, id: u16) -> Option<u16> {
        let e = self.sel_entries();
        match id {
            0x0000 => e.first().map(|e| e.record_id),
            0xFFFF => e.last().map(|e| e.record_id),
            id => self.sel_entry(id).map(|e| e.record_id),
        }
    }

    fn check_sel_reservation(&self, r: u16) -> Result<(), Response> {
        if self.bmc.sel_reservation == Some(r) || self.bmc.profile.ignore_reservations {
            Ok(())
        } else {
            Err(Response::cc(cc::RESERVATION_CANCELLED))
        }
    }

    fn get_sel_entry(&self, d: &[u8]) -> Answer {
        let r: cmd::GetRecordReq = decode(d)?;
        if r.offset != 0 {
            self.check_sel_reservation(r.reservation)?;
        }
        let entries = self.sel_entries();
        let i = match r.record {
            0x0000 if !entries.is_empty() => 0,
            0xFFFF if !entries.is_empty() => entries.len() - 1,
            id => entries
                .iter()
                .position(|e| e.record_id == id)
                .ok_or(Response::cc(cc::NOT_PRESENT))?,
        };
        let next = entries.get(i + 1).map_or(0xFFFF, |e| e.record_id);
        let bytes = entries[i].to_bytes();
        Ok(ok(cmd::GetRecordResp {
            next,
            data: slice(&bytes, r.offset, r.count, MAX_READ)?,
        }))
    }
}

/// Bytes `offset..offset+count` of a record (count 0xFF: to the end; cut at the end);
/// 0xCA when more than `max` bytes are asked for (a count above `max`, or 0xFF with
/// more than `max` bytes left), 0xC9 when the offset is past the end.
fn slice(bytes: &[u8], offset: u8, count: u8, max: usize) -> Result<Vec<u8>, Response> {
    let off = usize::from(offset);
    if off > bytes.len() {
        return Err(Response::cc(cc::PARAMETER_OUT_OF_RANGE));
    }
    let end = if count == 0xFF {
        if bytes.len() - off > max {
            return Err(Response::cc(cc::CANNOT_RETURN_BYTES));
        }
        bytes.len()
    } else {
        if usize::from(count) > max {
            return Err(Response::cc(cc::CANNOT_RETURN_BYTES));
        }
        (off + usize::from(count)).min(bytes.len())
    };
    Ok(bytes[off..end].to_vec())
}

fn get_param(store: &BTreeMap<u8, Vec<u8>>, in_progress: bool, r: &cmd::GetParamReq) -> Answer {
    if r.revision_only() {
        return Ok(Response::ok(vec![0x11]));
    }
    let data = match r.param & 0x7F {
        0 => vec![u8::from(in_progress)],
        p => store.get(&p).cloned().ok_or(Response::cc(0x80))?,
    };
    let mut out = vec![0x11];
    out.extend_from_slice(&data);
    Ok(Response::ok(out))
}

fn set_param(
    store: &mut BTreeMap<u8, Vec<u8>>,
    in_progress: &mut bool,
    writable: &[u8],
    r: &cmd::SetParamReq,
) -> Answer {
    let p = r.param & 0x7F;
    if p == 0 {
        let [v] = r.data[..] else {
            return Err(Response::cc(cc::DATA_LENGTH_INVALID));
        };
        match v & 3 {
            0 | 2 => *in_progress = false,
            1 if *in_progress => return Err(Response::cc(0x81)),
            1 => *in_progress = true,
            _ => return Err(Response::cc(cc::INVALID_DATA_FIELD)),
        }
        return Ok(Response::ok(Vec::new()));
    }
    let Some(cur) = store.get_mut(&p) else {
        return Err(Response::cc(0x80));
    };
    if !writable.contains(&p) {
        return Err(Response::cc(0x82));
    }
    if r.data.len() != cur.len() {
        return Err(Response::cc(cc::DATA_LENGTH_INVALID));
    }
    *cur = r.data.clone();
    Ok(Response::ok(Vec::new()))
}

/// The completion code for a machine error.
fn machine_cc(e: MachineError) -> Response {
    Response::cc(match e {
        MachineError::PowerActionRefused { .. } => cc::NOT_SUPPORTED_IN_STATE,
        MachineError::SelFull => cc::OUT_OF_SPACE,
        MachineError::SelRecordNotFound { .. } | MachineError::UnknownSensor { .. } => {
            cc::NOT_PRESENT
        }
        _ => cc::INVALID_DATA_FIELD,
    })
}

impl Application for Machine {
    fn user_by_name(&self, name: &[u8]) -> Option<UserRecord> {
        self.users()
            .iter()
            .find(|u| u.name.as_bytes() == name)
            .map(|u| self.user_record(u))
    }

    fn user_by_id(&self, id: u8) -> Option<UserRecord> {
        Machine::user_by_id(self, id).map(|u| self.user_record(u))
    }

    /// The GUID as Get System GUID sends it ([`guid_to_wire`] of
    /// [`Machine::guid_bytes`]).
    fn guid(&self) -> [u8; 16] {
        guid_to_wire(self.guid_bytes())
    }

    fn handle(&mut self, req: &Request<'_>, now_ms: u64) -> Response {
        let Some(need) = required(req.netfn, req.cmd) else {
            return Response::cc(cc::INVALID_COMMAND);
        };
        if self.bmc.profile.is_unsupported(req.netfn, req.cmd) {
            return Response::cc(cc::INVALID_COMMAND);
        }
        let have = req.session.map_or(Priv::User, |s| s.privilege);
        if have < need {
            return Response::cc(cc::INSUFFICIENT_PRIVILEGE);
        }
        match self.dispatch(req, now_ms) {
            Ok(r) | Err(r) => r,
        }
    }

    fn sol_activated(&mut self, session: u32, _now_ms: u64) -> Vec<u8> {
        let sol = &self.spec().sol;
        let term = if sol.login_prompt.is_empty() {
            SolTerm {
                stage: SolStage::Shell("root".into()),
                ..SolTerm::default()
            }
        } else {
            SolTerm::default()
        };
        let mut out = sol.banner.as_bytes().to_vec();
        out.extend_from_slice(self.sol_stage_prompt(&term.stage).as_bytes());
        self.bmc.sol_lines.insert(session, term);
        out
    }

    fn sol_input(&mut self, session: u32, data: &[u8], now_ms: u64) -> Vec<u8> {
        let echo = self.spec().sol.echo;
        let mut term = self.bmc.sol_lines.remove(&session).unwrap_or_default();
        let mut out = Vec::new();
        for &b in data {
            // Password characters are never echoed.
            let echo_now = echo && !matches!(term.stage, SolStage::Password(_));
            match b {
                b'\n' if term.after_cr => term.after_cr = false,
                b'\r' | b'\n' => {
                    term.after_cr = b == b'\r';
                    if echo || matches!(term.stage, SolStage::Password(_)) {
                        out.extend_from_slice(b"\r\n");
                    }
                    // A password is taken as typed; names and commands trimmed.
                    let text = String::from_utf8_lossy(&term.line);
                    let typed = if matches!(term.stage, SolStage::Password(_)) {
                        text.into_owned()
                    } else {
                        text.trim().to_owned()
                    };
                    term.line.clear();
                    term.stage = self.sol_line(term.stage, &typed, now_ms, &mut out);
                    out.extend_from_slice(self.sol_stage_prompt(&term.stage).as_bytes());
                }
                0x08 | 0x7F => {
                    term.after_cr = false;
                    if term.line.pop().is_some() && echo_now {
                        out.extend_from_slice(b"\x08 \x08");
                    }
                }
                _ => {
                    term.after_cr = false;
                    if term.line.len() < 4096 {
                        term.line.push(b);
                    }
                    if echo_now {
                        out.push(b);
                    }
                }
            }
        }
        self.bmc.sol_lines.insert(session, term);
        out
    }
}

impl Machine {
    /// What the SOL console shows when it waits in `stage`.
    fn sol_stage_prompt(&self, stage: &SolStage) -> String {
        let sol = &self.spec().sol;
        match stage {
            SolStage::Login => sol.login_prompt.clone(),
            SolStage::Password(_) => sol.password_prompt.clone(),
            SolStage::Shell(user) => sol.prompt_for(user),
        }
    }

    /// A line typed at the SOL console in `stage`: its answer goes to `out`; returns the
    /// next stage.
    fn sol_line(
        &mut self,
        stage: SolStage,
        typed: &str,
        now_ms: u64,
        out: &mut Vec<u8>,
    ) -> SolStage {
        match stage {
            // An empty user name asks again, as getty does.
            SolStage::Login if typed.is_empty() => SolStage::Login,
            SolStage::Login => SolStage::Password(typed.to_owned()),
            SolStage::Password(name) => {
                let ok = self.users().iter().any(|u| {
                    u.enabled && !u.name.is_empty() && u.name == name && u.password == typed
                });
                if ok {
                    SolStage::Shell(name)
                } else {
                    out.extend_from_slice(b"\r\nLogin incorrect\r\n");
                    SolStage::Login
                }
            }
            SolStage::Shell(user) => {
                if !typed.is_empty() {
                    let (text, _) = self.run_line(typed, &user, now_ms);
                    out.extend_from_slice(text.as_bytes());
                }
                SolStage::Shell(user)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensor::Threshold;
    use ipmi::codes::netfn;

    #[test]
    fn every_implemented_command_has_a_privilege_and_groups_are_refused() {
        assert_eq!(required(netfn::GROUP_EXT, 0x00), None);
        assert_eq!(required(netfn::APP, 0x38), None);
        assert_eq!(
            required(id::CLEAR_SEL.0, id::CLEAR_SEL.1),
            Some(Priv::Operator)
        );
        assert_eq!(
            required(id::SET_USER_PASSWORD.0, id::SET_USER_PASSWORD.1),
            Some(Priv::Administrator)
        );
    }

    /// The machine's dispatch and the command table agree: every command it handles
    /// is a `Handler::Machine` entry of the table, and every such entry is handled
    /// (anything else falls through to 0xC1, invalid command).
    #[test]
    fn dispatch_handles_exactly_the_table_s_machine_commands() {
        use ipmi::commands::{Handler, lookup};
        let mut m = Machine::new(crate::MachineSpec::default(), 0).unwrap();
        let name = b"admin".to_vec();
        for netfn in (0u8..0x40).step_by(2) {
            for cmd in 0..=u8::MAX {
                let req = Request {
                    netfn,
                    cmd,
                    lun: 0,
                    data: &[],
                    session: Some(ipmi::app::SessionView {
                        id: 1,
                        handle: 1,
                        user_id: 2,
                        user: &name,
                        privilege: Priv::Administrator,
                        channel: LAN_CHANNEL,
                    }),
                };
                let handled = match m.dispatch(&req, 0) {
                    Ok(r) | Err(r) => r.completion != cc::INVALID_COMMAND,
                };
                let listed = lookup(netfn, cmd).is_some_and(|c| c.handler == Handler::Machine);
                assert_eq!(handled, listed, "NetFn {netfn:#04x} cmd {cmd:#04x}");
            }
        }
    }

    #[test]
    fn threshold_names_line_up() {
        // The SDR's comparison bits: severity 1..3 map to bits 12..14.
        assert_eq!(
            1u16 << (11 + Threshold::LowerNonCritical.severity()),
            1 << 12
        );
        assert_eq!(
            1u16 << (11 + Threshold::UpperNonRecoverable.severity()),
            1 << 14
        );
    }
}
