//! What the IPMI v2.0 specification requires of each command a BMC may be asked: its
//! section, and whether a BMC must implement it (the M/O columns of the specification's
//! command tables), possibly only when it advertises the device the command belongs to
//! (Get Device ID's "additional device support" byte).
//!
//! The conformance suite reads this table to decide whether a 0xC1 (invalid command)
//! answer is a failure (a mandatory command) or a skip (an optional one, or one of a
//! device the BMC does not claim), and cites the section in its verdicts.

/// Whether a BMC must implement a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// "M": mandatory (for its device, when the command belongs to one).
    Mandatory,
    /// "O": optional.
    Optional,
}

impl Support {
    /// The letter the specification's tables use.
    pub fn letter(self) -> &'static str {
        match self {
            Support::Mandatory => "M",
            Support::Optional => "O",
        }
    }
}

/// A logical device of Get Device ID's additional device support byte (IPMI v2.0
/// 20.1, byte 6 of the response data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Device {
    /// Bit 0: sensor device.
    Sensor,
    /// Bit 1: SDR repository device.
    Sdr,
    /// Bit 2: SEL device.
    Sel,
    /// Bit 3: FRU inventory device.
    Fru,
    /// Bit 4: IPMB event receiver.
    EventReceiver,
    /// Bit 5: IPMB event generator.
    EventGenerator,
    /// Bit 6: bridge.
    Bridge,
    /// Bit 7: chassis device.
    Chassis,
}

impl Device {
    /// Every device, in bit order.
    pub const ALL: [Device; 8] = [
        Device::Sensor,
        Device::Sdr,
        Device::Sel,
        Device::Fru,
        Device::EventReceiver,
        Device::EventGenerator,
        Device::Bridge,
        Device::Chassis,
    ];

    /// The device's bit in the additional device support byte.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The name a requirement uses (`ipmi:sdr`).
    pub fn key(self) -> &'static str {
        match self {
            Device::Sensor => "sensor",
            Device::Sdr => "sdr",
            Device::Sel => "sel",
            Device::Fru => "fru",
            Device::EventReceiver => "event-receiver",
            Device::EventGenerator => "event-generator",
            Device::Bridge => "bridge",
            Device::Chassis => "chassis",
        }
    }

    /// The name as the specification writes it.
    pub fn name(self) -> &'static str {
        match self {
            Device::Sensor => "sensor device",
            Device::Sdr => "SDR repository device",
            Device::Sel => "SEL device",
            Device::Fru => "FRU inventory device",
            Device::EventReceiver => "IPMB event receiver",
            Device::EventGenerator => "IPMB event generator",
            Device::Bridge => "bridge",
            Device::Chassis => "chassis device",
        }
    }

    /// The devices a support byte advertises.
    pub fn from_byte(b: u8) -> Vec<Device> {
        Device::ALL
            .iter()
            .copied()
            .filter(|d| b & d.bit() != 0)
            .collect()
    }
}

/// One command (the entries live in [`crate::commands`], the one command table).
pub use crate::commands::{COMMANDS, Command};

/// The specification's entry for a request NetFn (odd response NetFns are accepted too)
/// and command: [`crate::commands::lookup`] without the group-extension commands, which
/// other specifications define.
pub fn lookup(netfn: u8, cmd: u8) -> Option<&'static Command> {
    crate::commands::lookup(netfn, cmd).filter(|c| c.in_ipmi_spec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ipmi_command_has_a_section() {
        assert!(COMMANDS.iter().filter(|c| c.in_ipmi_spec()).count() > 50);
        assert!(lookup(0x2C, 0x00).is_none(), "PICMG defines its commands");
    }

    #[test]
    fn every_command_is_listed_once() {
        for (i, a) in COMMANDS.iter().enumerate() {
            assert_eq!(a.netfn & 1, 0, "{}: a request NetFn is even", a.name);
            for b in &COMMANDS[i + 1..] {
                assert!(
                    (a.netfn, a.cmd) != (b.netfn, b.cmd),
                    "{} and {} share NetFn {:#04x} cmd {:#04x}",
                    a.name,
                    b.name,
                    a.netfn,
                    a.cmd
                );
            }
        }
    }

    #[test]
    fn lookup_accepts_response_netfns() {
        assert_eq!(lookup(0x07, 0x01).map(|c| c.name), Some("Get Device ID"));
        assert_eq!(
            lookup(0x01, 0x04).map(|c| c.support),
            Some(Support::Optional)
        );
        assert!(lookup(0x2E, 0x01).is_none());
    }

    #[test]
    fn device_bits_follow_the_byte() {
        assert_eq!(Device::from_byte(0x80), vec![Device::Chassis]);
        assert_eq!(
            Device::from_byte(0x0F),
            vec![Device::Sensor, Device::Sdr, Device::Sel, Device::Fru]
        );
        assert_eq!(
            lookup(0x00, 0x04).map(|c| c.citation()),
            Some("Chassis Identify (IPMI v2.0 28.5, O for the chassis device)".into())
        );
    }

    /// Entries checked against the sources in the trace notes: section numbers as
    /// numbered in IPMI v2.0 rev. 1.1 and the M/O columns of the command tables.
    #[test]
    fn verified_entries() {
        let want: &[(u8, u8, &str, Support, Option<Device>)] = &[
            (0x06, 0x01, "20.1", Support::Mandatory, None),
            (0x06, 0x04, "20.4", Support::Mandatory, None),
            (0x06, 0x25, "27.7", Support::Mandatory, None),
            (0x06, 0x37, "22.14", Support::Optional, None),
            (0x06, 0x54, "22.15", Support::Optional, None),
            (0x06, 0x39, "22.16", Support::Optional, None),
            (0x06, 0x58, "22.14a", Support::Optional, None),
            (0x06, 0x59, "22.14b", Support::Optional, None),
            (0x06, 0x4E, "24.8", Support::Optional, None),
            (
                0x00,
                0x01,
                "28.2",
                Support::Mandatory,
                Some(Device::Chassis),
            ),
            (0x00, 0x04, "28.5", Support::Optional, Some(Device::Chassis)),
            (
                0x00,
                0x09,
                "28.13",
                Support::Optional,
                Some(Device::Chassis),
            ),
            (
                0x00,
                0x0F,
                "28.14",
                Support::Optional,
                Some(Device::Chassis),
            ),
            (0x04, 0x27, "35.9", Support::Optional, Some(Device::Sensor)),
            (
                0x04,
                0x2D,
                "35.14",
                Support::Mandatory,
                Some(Device::Sensor),
            ),
            (0x0A, 0x11, "34.2", Support::Mandatory, Some(Device::Fru)),
            (0x0A, 0x23, "33.12", Support::Mandatory, Some(Device::Sdr)),
            (0x0A, 0x42, "31.4", Support::Optional, Some(Device::Sel)),
            (0x0A, 0x47, "31.9", Support::Mandatory, Some(Device::Sel)),
        ];
        for &(netfn, cmd, section, support, device) in want {
            let c = lookup(netfn, cmd)
                .unwrap_or_else(|| panic!("NetFn {netfn:#04x} cmd {cmd:#04x} is listed"));
            assert_eq!(
                (c.section, c.support, c.device),
                (section, support, device),
                "{}",
                c.name
            );
        }
    }

    /// Every command the mock's `id` module names has an entry.
    #[test]
    fn the_mock_commands_are_listed() {
        use crate::cmd::id;
        for (netfn, cmd) in [
            id::GET_DEVICE_ID,
            id::COLD_RESET,
            id::WARM_RESET,
            id::GET_SELF_TEST,
            id::GET_DEVICE_GUID,
            id::RESET_WATCHDOG,
            id::GET_WATCHDOG,
            id::GET_SYSTEM_GUID,
            id::GET_CHANNEL_ACCESS,
            id::GET_CHANNEL_INFO,
            id::SET_USER_ACCESS,
            id::GET_USER_ACCESS,
            id::SET_USER_NAME,
            id::GET_USER_NAME,
            id::SET_USER_PASSWORD,
            id::GET_SYSTEM_INFO,
            id::GET_CHASSIS_CAPABILITIES,
            id::GET_CHASSIS_STATUS,
            id::CHASSIS_CONTROL,
            id::CHASSIS_IDENTIFY,
            id::SET_BOOT_OPTIONS,
            id::GET_BOOT_OPTIONS,
            id::GET_POH_COUNTER,
            id::GET_SENSOR_HYSTERESIS,
            id::GET_SENSOR_THRESHOLDS,
            id::GET_SENSOR_EVENT_ENABLE,
            id::GET_SENSOR_READING,
            id::GET_FRU_INFO,
            id::READ_FRU,
            id::GET_SDR_INFO,
            id::RESERVE_SDR,
            id::GET_SDR,
            id::GET_SEL_INFO,
            id::RESERVE_SEL,
            id::GET_SEL_ENTRY,
            id::ADD_SEL_ENTRY,
            id::DELETE_SEL_ENTRY,
            id::CLEAR_SEL,
            id::GET_SEL_TIME,
            id::SET_SEL_TIME,
            id::SET_LAN_CONFIG,
            id::GET_LAN_CONFIG,
            id::SET_SOL_CONFIG,
            id::GET_SOL_CONFIG,
        ] {
            assert!(
                lookup(netfn, cmd).is_some(),
                "NetFn {netfn:#04x} cmd {cmd:#04x} has no entry"
            );
        }
    }
}
