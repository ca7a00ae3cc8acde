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

/// One command of the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    /// The request NetFn (even).
    pub netfn: u8,
    /// The command number.
    pub cmd: u8,
    /// The name as the specification writes it.
    pub name: &'static str,
    /// The section that defines it, as numbered in IPMI v2.0 rev. 1.1.
    pub section: &'static str,
    /// Whether a BMC must implement it.
    pub support: Support,
    /// The device it belongs to, when its support depends on one (`None`: the BMC
    /// itself, or the LAN channel).
    pub device: Option<Device>,
}

impl Command {
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

use Device as D;
use Support::{Mandatory as M, Optional as O};

const fn c(
    netfn: u8,
    cmd: u8,
    name: &'static str,
    section: &'static str,
    support: Support,
    device: Option<Device>,
) -> Command {
    Command {
        netfn,
        cmd,
        name,
        section,
        support,
        device,
    }
}

/// The commands, by NetFn and number.
pub const COMMANDS: &[Command] = &[
    c(0x06, 0x01, "Get Device ID", "20.1", M, None),
    c(0x00, 0x04, "Chassis Identify", "28.5", O, Some(D::Chassis)),
];

/// The specification's entry for a request NetFn (odd response NetFns are accepted too)
/// and command.
pub fn lookup(netfn: u8, cmd: u8) -> Option<&'static Command> {
    COMMANDS
        .iter()
        .find(|c| c.netfn == netfn & !1 && c.cmd == cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            COMMANDS[1].citation(),
            "Chassis Identify (IPMI v2.0 28.5, O for the chassis device)"
        );
    }
}
