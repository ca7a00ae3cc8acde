//! The one table of IPMI commands: every command the session layer, the simulated
//! machine, the mock's scenario rules and journal, and the conformance suite know, with
//! its NetFn and number, the snake_case key scenarios and the journal use, the name and
//! section of the IPMI v2.0 specification, whether a BMC must implement it, the lowest
//! privilege that may run it (appendix G) and who answers it in this workspace.
//!
//! Adding a command is one line here plus its handler (an arm in the machine's
//! dispatch for a [`Handler::Machine`] command); the constant ([`id`]), the privilege
//! check, the scenario and journal name and the conformance suite's M/O verdicts
//! follow from the entry.
//!
//! The specification's text was not at hand; sections and M/O markings were checked
//! against sources that reproduce its command tables or cite its sections, an entry
//! being taken when two of them agree: the O/M tables of python-ipmi's documentation
//! (kontron/python-ipmi, docs/source/*_cmd.rst), the command support tables of vendor
//! BMC manuals (Advantech MIC-3392 and PCE series, Quanta QSSC-S99K, Intel MPCBL0001),
//! and the section citations in go-ipmi (bougou/go-ipmi, cmd_*.go) and gopacket's
//! RMCP+ layers. Get LAN Configuration Parameters is M in the vendor tables (python-ipmi
//! lists it O). Entries marked "suite's reading" could not be traced: the marking is the
//! lenient one (O), so a 0xC1 answer is a skip. Minimum privileges of commands nothing
//! here implements follow appendix G as the same sources cite it.

use crate::codes::Privilege;
use crate::codes::netfn::{APP, CHASSIS, GROUP_EXT, SENSOR_EVENT, STORAGE, TRANSPORT};
use crate::spec::{Device, Support};

/// Who answers a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// The session layer ([`crate::session::Bmc`]) answers it itself.
    Session,
    /// The application behind the session layer (the simulated machine) answers it.
    Machine,
    /// Nothing here implements it: known for its name and the specification's
    /// requirements only (the machine answers 0xC1, invalid command).
    Nobody,
}

/// One command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    /// The request NetFn (even).
    pub netfn: u8,
    /// The command number.
    pub cmd: u8,
    /// The snake_case name scenario rules match and the journal shows (`None`: no
    /// name, the journal shows `0xNN:0xMM`; every command of the table has one).
    pub key: Option<&'static str>,
    /// The name as the specification writes it.
    pub name: &'static str,
    /// The section of IPMI v2.0 rev. 1.1 that defines it (empty for group-extension
    /// commands, which other specifications define).
    pub section: &'static str,
    /// Whether a BMC must implement it.
    pub support: Support,
    /// The device it belongs to, when its support depends on one (`None`: the BMC
    /// itself, or the LAN channel).
    pub device: Option<Device>,
    /// The lowest session privilege that may run it (IPMI v2.0 appendix G; Callback
    /// for the commands of a login).
    pub privilege: Privilege,
    /// Who answers it.
    pub handler: Handler,
}

impl Command {
    /// NetFn and command number.
    pub const fn id(&self) -> (u8, u8) {
        (self.netfn, self.cmd)
    }

    /// Whether the IPMI v2.0 specification defines it.
    pub fn in_ipmi_spec(&self) -> bool {
        !self.section.is_empty()
    }

    /// "Chassis Identify (IPMI v2.0 28.5, O for the chassis device)".
    pub fn citation(&self) -> String {
        let whose = match self.device {
            Some(d) => format!(" for the {}", d.name()),
            None => String::new(),
        };
        format!(
            "{} (IPMI v2.0 {}, {}{whose})",
            self.name,
            self.section,
            self.support.letter()
        )
    }
}

/// One line per command: `IDENT = netfn, cmd, key, name, section, M/O, device,
/// privilege, handler;` makes the constant `id::IDENT` and the table entry.
macro_rules! commands {
    ($(
        $ident:ident = $netfn:expr, $cmd:expr, $key:expr, $name:expr, $section:expr,
        $support:ident, $device:expr, $privilege:ident, $handler:ident;
    )*) => {
        /// NetFn and command number of each command, by name (derived from
        /// [`COMMANDS`]).
        pub mod id {
            #[allow(unused_imports)]
            use crate::codes::netfn::{APP, CHASSIS, GROUP_EXT, SENSOR_EVENT, STORAGE, TRANSPORT};

            $(
                #[doc = $name]
                pub const $ident: (u8, u8) = ($netfn, $cmd);
            )*
        }

        /// Every command, grouped by chapter.
        pub const COMMANDS: &[Command] = &[
            $(Command {
                netfn: $netfn,
                cmd: $cmd,
                key: $key,
                name: $name,
                section: $section,
                support: $support,
                device: $device,
                privilege: Privilege::$privilege,
                handler: Handler::$handler,
            },)*
        ];
    };
}

use Support::{Mandatory as M, Optional as O};

#[rustfmt::skip]
commands! {
    // IPM device "global" commands (chapter 20).
    GET_DEVICE_ID = APP, 0x01, Some("get_device_id"), "Get Device ID", "20.1", M, None, User, Machine;
    COLD_RESET = APP, 0x02, Some("cold_reset"), "Cold Reset", "20.2", O, None, Administrator, Machine;
    WARM_RESET = APP, 0x03, Some("warm_reset"), "Warm Reset", "20.3", O, None, Administrator, Machine;
    GET_SELF_TEST = APP, 0x04, Some("get_self_test_results"), "Get Self Test Results", "20.4", M, None, User, Machine;
    GET_DEVICE_GUID = APP, 0x08, Some("get_device_guid"), "Get Device GUID", "20.8", O, None, User, Nobody;
    // BMC watchdog timer commands (chapter 27).
    RESET_WATCHDOG = APP, 0x22, Some("reset_watchdog_timer"), "Reset Watchdog Timer", "27.5", M, None, Operator, Nobody;
    SET_WATCHDOG = APP, 0x24, Some("set_watchdog_timer"), "Set Watchdog Timer", "27.6", M, None, Operator, Nobody;
    GET_WATCHDOG = APP, 0x25, Some("get_watchdog_timer"), "Get Watchdog Timer", "27.7", M, None, User, Machine;
    // BMC device and messaging commands (chapter 22).
    GET_SYSTEM_GUID = APP, 0x37, Some("get_system_guid"), "Get System GUID", "22.14", O, None, User, Machine;
    GET_CHANNEL_AUTH_CAPS = APP, 0x38, Some("get_channel_auth_capabilities"), "Get Channel Authentication Capabilities", "22.13", O, None, Callback, Session;
    GET_SESSION_CHALLENGE = APP, 0x39, Some("get_session_challenge"), "Get Session Challenge", "22.16", O, None, Callback, Session;
    ACTIVATE_SESSION = APP, 0x3A, Some("activate_session"), "Activate Session", "22.17", O, None, Callback, Session;
    SET_SESSION_PRIVILEGE = APP, 0x3B, Some("set_session_privilege"), "Set Session Privilege Level", "22.18", O, None, User, Session;
    CLOSE_SESSION = APP, 0x3C, Some("close_session"), "Close Session", "22.19", O, None, Callback, Session;
    GET_SESSION_INFO = APP, 0x3D, Some("get_session_info"), "Get Session Info", "22.20", O, None, User, Session;
    GET_CHANNEL_ACCESS = APP, 0x41, Some("get_channel_access"), "Get Channel Access", "22.23", O, None, User, Machine;
    GET_CHANNEL_INFO = APP, 0x42, Some("get_channel_info"), "Get Channel Info", "22.24", O, None, User, Machine;
    SET_USER_ACCESS = APP, 0x43, Some("set_user_access"), "Set User Access", "22.26", O, None, Administrator, Machine;
    GET_USER_ACCESS = APP, 0x44, Some("get_user_access"), "Get User Access", "22.27", O, None, Operator, Machine;
    SET_USER_NAME = APP, 0x45, Some("set_user_name"), "Set User Name", "22.28", O, None, Administrator, Machine;
    GET_USER_NAME = APP, 0x46, Some("get_user_name"), "Get User Name", "22.29", O, None, Operator, Machine;
    SET_USER_PASSWORD = APP, 0x47, Some("set_user_password"), "Set User Password", "22.30", O, None, Administrator, Machine;
    GET_CHANNEL_CIPHER_SUITES = APP, 0x54, Some("get_channel_cipher_suites"), "Get Channel Cipher Suites", "22.15", O, None, Callback, Session;
    SET_SYSTEM_INFO = APP, 0x58, Some("set_system_info_parameters"), "Set System Info Parameters", "22.14a", O, None, Administrator, Nobody;
    GET_SYSTEM_INFO = APP, 0x59, Some("get_system_info_parameters"), "Get System Info Parameters", "22.14b", O, None, User, Machine;
    // RMCP+ payload commands (chapter 24); M/O: suite's reading.
    ACTIVATE_PAYLOAD = APP, 0x48, Some("activate_payload"), "Activate Payload", "24.1", O, None, User, Session;
    DEACTIVATE_PAYLOAD = APP, 0x49, Some("deactivate_payload"), "Deactivate Payload", "24.2", O, None, User, Session;
    PAYLOAD_ACTIVATION_STATUS = APP, 0x4A, Some("get_payload_activation_status"), "Get Payload Activation Status", "24.4", O, None, User, Session;
    PAYLOAD_INSTANCE_INFO = APP, 0x4B, Some("get_payload_instance_info"), "Get Payload Instance Info", "24.5", O, None, User, Session;
    CHANNEL_PAYLOAD_SUPPORT = APP, 0x4E, Some("get_channel_payload_support"), "Get Channel Payload Support", "24.8", O, None, User, Session;
    CHANNEL_PAYLOAD_VERSION = APP, 0x4F, Some("get_channel_payload_version"), "Get Channel Payload Version", "24.9", O, None, User, Session;
    // Chassis device commands (chapter 28).
    GET_CHASSIS_CAPABILITIES = CHASSIS, 0x00, Some("get_chassis_capabilities"), "Get Chassis Capabilities", "28.1", M, Some(Device::Chassis), User, Machine;
    GET_CHASSIS_STATUS = CHASSIS, 0x01, Some("get_chassis_status"), "Get Chassis Status", "28.2", M, Some(Device::Chassis), User, Machine;
    CHASSIS_CONTROL = CHASSIS, 0x02, Some("chassis_control"), "Chassis Control", "28.3", M, Some(Device::Chassis), Operator, Machine;
    CHASSIS_IDENTIFY = CHASSIS, 0x04, Some("chassis_identify"), "Chassis Identify", "28.5", O, Some(Device::Chassis), Operator, Machine;
    SET_BOOT_OPTIONS = CHASSIS, 0x08, Some("set_system_boot_options"), "Set System Boot Options", "28.12", O, Some(Device::Chassis), Operator, Machine;
    GET_BOOT_OPTIONS = CHASSIS, 0x09, Some("get_system_boot_options"), "Get System Boot Options", "28.13", O, Some(Device::Chassis), Operator, Machine;
    GET_POH_COUNTER = CHASSIS, 0x0F, Some("get_poh_counter"), "Get POH Counter", "28.14", O, Some(Device::Chassis), User, Machine;
    // Sensor device commands (chapter 35).
    GET_SENSOR_HYSTERESIS = SENSOR_EVENT, 0x25, Some("get_sensor_hysteresis"), "Get Sensor Hysteresis", "35.7", O, Some(Device::Sensor), User, Machine;
    GET_SENSOR_THRESHOLDS = SENSOR_EVENT, 0x27, Some("get_sensor_thresholds"), "Get Sensor Threshold", "35.9", O, Some(Device::Sensor), User, Machine;
    GET_SENSOR_EVENT_ENABLE = SENSOR_EVENT, 0x29, Some("get_sensor_event_enable"), "Get Sensor Event Enable", "35.11", O, Some(Device::Sensor), User, Machine;
    GET_SENSOR_READING = SENSOR_EVENT, 0x2D, Some("get_sensor_reading"), "Get Sensor Reading", "35.14", M, Some(Device::Sensor), User, Machine;
    // FRU inventory device commands (chapter 34).
    GET_FRU_INFO = STORAGE, 0x10, Some("get_fru_inventory_area_info"), "Get FRU Inventory Area Info", "34.1", M, Some(Device::Fru), User, Machine;
    READ_FRU = STORAGE, 0x11, Some("read_fru_data"), "Read FRU Data", "34.2", M, Some(Device::Fru), User, Machine;
    // SDR repository device commands (chapter 33).
    GET_SDR_INFO = STORAGE, 0x20, Some("get_sdr_repository_info"), "Get SDR Repository Info", "33.9", M, Some(Device::Sdr), User, Machine;
    RESERVE_SDR = STORAGE, 0x22, Some("reserve_sdr_repository"), "Reserve SDR Repository", "33.11", M, Some(Device::Sdr), User, Machine;
    GET_SDR = STORAGE, 0x23, Some("get_sdr"), "Get SDR", "33.12", M, Some(Device::Sdr), User, Machine;
    // SEL device commands (chapter 31).
    GET_SEL_INFO = STORAGE, 0x40, Some("get_sel_info"), "Get SEL Info", "31.2", M, Some(Device::Sel), User, Machine;
    RESERVE_SEL = STORAGE, 0x42, Some("reserve_sel"), "Reserve SEL", "31.4", O, Some(Device::Sel), User, Machine;
    GET_SEL_ENTRY = STORAGE, 0x43, Some("get_sel_entry"), "Get SEL Entry", "31.5", M, Some(Device::Sel), User, Machine;
    ADD_SEL_ENTRY = STORAGE, 0x44, Some("add_sel_entry"), "Add SEL Entry", "31.6", M, Some(Device::Sel), Operator, Machine;
    // Delete SEL Entry: M/O suite's reading.
    DELETE_SEL_ENTRY = STORAGE, 0x46, Some("delete_sel_entry"), "Delete SEL Entry", "31.8", O, Some(Device::Sel), Operator, Machine;
    CLEAR_SEL = STORAGE, 0x47, Some("clear_sel"), "Clear SEL", "31.9", M, Some(Device::Sel), Operator, Machine;
    GET_SEL_TIME = STORAGE, 0x48, Some("get_sel_time"), "Get SEL Time", "31.10", M, Some(Device::Sel), User, Machine;
    SET_SEL_TIME = STORAGE, 0x49, Some("set_sel_time"), "Set SEL Time", "31.11", M, Some(Device::Sel), Operator, Machine;
    // LAN device commands (chapter 23): mandatory for a BMC with a LAN channel, which
    // is every BMC this suite can reach.
    SET_LAN_CONFIG = TRANSPORT, 0x01, Some("set_lan_configuration_parameters"), "Set LAN Configuration Parameters", "23.1", M, None, Administrator, Machine;
    GET_LAN_CONFIG = TRANSPORT, 0x02, Some("get_lan_configuration_parameters"), "Get LAN Configuration Parameters", "23.2", M, None, Operator, Machine;
    // SOL commands (chapter 26).
    SET_SOL_CONFIG = TRANSPORT, 0x21, Some("set_sol_configuration_parameters"), "Set SOL Configuration Parameters", "26.2", O, None, Administrator, Machine;
    GET_SOL_CONFIG = TRANSPORT, 0x22, Some("get_sol_configuration_parameters"), "Get SOL Configuration Parameters", "26.3", O, None, User, Machine;
    // Group extensions (not IPMI v2.0 commands: no section; PICMG and DCMI define them).
    PICMG_GET_PROPERTIES = GROUP_EXT, 0x00, Some("picmg_get_properties"), "PICMG Get Properties", "", O, None, User, Nobody;
    DCMI_GET_CAPABILITIES = GROUP_EXT, 0x01, Some("dcmi_get_capabilities"), "DCMI Get DCMI Capabilities Info", "", O, None, User, Nobody;
}

/// The entry for a request NetFn (an odd response NetFn is taken as its request) and
/// command.
pub fn lookup(netfn: u8, cmd: u8) -> Option<&'static Command> {
    COMMANDS
        .iter()
        .find(|c| c.netfn == netfn & !1 && c.cmd == cmd)
}

/// The entry whose key is `key` (ASCII case ignored).
pub fn by_key(key: &str) -> Option<&'static Command> {
    COMMANDS
        .iter()
        .find(|c| c.key.is_some_and(|k| k.eq_ignore_ascii_case(key)))
}

/// Every key, in table order.
pub fn keys() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().filter_map(|c| c.key)
}

/// The lowest privilege that may run a command the application answers (`None`: the
/// application does not implement it).
pub fn machine_privilege(netfn: u8, cmd: u8) -> Option<Privilege> {
    lookup(netfn, cmd)
        .filter(|c| c.handler == Handler::Machine)
        .map(|c| c.privilege)
}

/// NetFn names (request NetFns), as scenarios and the journal write them.
pub const NETFNS: [(u8, &str); 9] = [
    (0x00, "chassis"),
    (0x02, "bridge"),
    (0x04, "sensor"),
    (0x06, "app"),
    (0x08, "firmware"),
    (0x0A, "storage"),
    (0x0C, "transport"),
    (0x2C, "group_ext"),
    (0x2E, "oem_group"),
];

/// The name of a NetFn (request or response), or its number in hex.
pub fn netfn_name(netfn: u8) -> String {
    NETFNS
        .iter()
        .find(|(v, _)| *v == netfn & !1)
        .map_or_else(|| format!("{netfn:#04x}"), |(_, n)| (*n).to_owned())
}

/// The NetFn a name stands for (ASCII case ignored).
pub fn netfn_by_name(s: &str) -> Option<u8> {
    NETFNS
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(s))
        .map(|(v, _)| *v)
}

/// The key of a command (request or response NetFn), or `0xNN:0xMM` (the request
/// NetFn) when it has none.
pub fn command_name(netfn: u8, cmd: u8) -> String {
    lookup(netfn, cmd)
        .and_then(|c| c.key)
        .map_or_else(|| format!("{:#04x}:{cmd:#04x}", netfn & !1), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `keys` lists every named command once, in table order.
    #[test]
    fn keys_are_the_named_entries_in_order() {
        let keys: Vec<&str> = keys().collect();
        let named: Vec<&str> = COMMANDS.iter().filter_map(|c| c.key).collect();
        assert_eq!(keys, named);
        assert!(keys.len() >= 20, "{keys:?}");
        assert!(
            keys.contains(&"get_device_id") && keys.contains(&"get_sdr"),
            "{keys:?}"
        );
    }

    #[test]
    fn no_two_entries_share_a_number_key_or_name() {
        for (i, a) in COMMANDS.iter().enumerate() {
            assert_eq!(a.netfn & 1, 0, "{}: a request NetFn is even", a.name);
            for b in &COMMANDS[i + 1..] {
                assert_ne!(a.id(), b.id(), "{} and {}", a.name, b.name);
                assert_ne!(a.name, b.name);
                if let (Some(x), Some(y)) = (a.key, b.key) {
                    assert_ne!(x, y);
                }
            }
            if let Some(k) = a.key {
                assert!(
                    k.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'),
                    "{k} is snake_case"
                );
            }
        }
    }

    #[test]
    fn the_session_layer_answers_the_session_commands() {
        use crate::session::cmd as s;
        let session: Vec<u8> = COMMANDS
            .iter()
            .filter(|c| c.handler == Handler::Session)
            .map(|c| {
                assert_eq!(c.netfn, APP, "{}", c.name);
                c.cmd
            })
            .collect();
        let mut want = vec![
            s::GET_CHANNEL_AUTH_CAPS,
            s::GET_SESSION_CHALLENGE,
            s::ACTIVATE_SESSION,
            s::SET_SESSION_PRIVILEGE,
            s::CLOSE_SESSION,
            s::GET_SESSION_INFO,
            s::ACTIVATE_PAYLOAD,
            s::DEACTIVATE_PAYLOAD,
            s::PAYLOAD_ACTIVATION_STATUS,
            s::PAYLOAD_INSTANCE_INFO,
            s::CHANNEL_PAYLOAD_SUPPORT,
            s::CHANNEL_PAYLOAD_VERSION,
            s::GET_CHANNEL_CIPHER_SUITES,
        ];
        let mut got = session.clone();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn names_resolve_both_ways() {
        assert_eq!(by_key("Get_SDR").map(Command::id), Some(id::GET_SDR));
        assert_eq!(command_name(0x0B, 0x23), "get_sdr");
        assert_eq!(command_name(0x30, 0x01), "0x30:0x01");
        assert_eq!(command_name(0x06, 0x03), "warm_reset");
        assert_eq!(command_name(0x06, 0x58), "set_system_info_parameters");
        // Every command the IPMI v2.0 table lists has a key (only vendor and
        // unlisted numbers are shown as NetFn:command).
        for c in COMMANDS {
            assert!(c.key.is_some(), "{} has no key", c.name);
        }
        assert_eq!(netfn_name(0x07), "app");
        assert_eq!(netfn_by_name("STORAGE"), Some(0x0A));
        assert_eq!(machine_privilege(0x00, 0x02), Some(Privilege::Operator));
        assert_eq!(
            machine_privilege(0x06, 0x3B),
            None,
            "a session-layer command"
        );
        assert_eq!(
            machine_privilege(0x06, 0x03),
            Some(Privilege::Administrator),
            "Warm Reset"
        );
        assert_eq!(machine_privilege(0x06, 0x24), None, "not implemented");
    }
}
