//! Network functions, command numbers, completion codes and privilege levels (IPMI v2.0
//! tables 5-1, 5-2, 6-1 and appendix G).

/// Network functions (requests; the response NetFn is the request's + 1).
pub mod netfn {
    /// Chassis.
    pub const CHASSIS: u8 = 0x00;
    /// Bridge.
    pub const BRIDGE: u8 = 0x02;
    /// Sensor/Event.
    pub const SENSOR_EVENT: u8 = 0x04;
    /// Application.
    pub const APP: u8 = 0x06;
    /// Firmware.
    pub const FIRMWARE: u8 = 0x08;
    /// Storage (FRU, SDR, SEL).
    pub const STORAGE: u8 = 0x0A;
    /// Transport (LAN, SOL configuration).
    pub const TRANSPORT: u8 = 0x0C;
    /// Group extension (PICMG 0x00, DCMI 0xDC as the first data byte).
    pub const GROUP_EXT: u8 = 0x2C;
    /// OEM/Group.
    pub const OEM_GROUP: u8 = 0x2E;
}

/// Completion codes (IPMI v2.0 table 5-2).
pub mod cc {
    /// Command completed normally.
    pub const OK: u8 = 0x00;
    /// Node busy.
    pub const NODE_BUSY: u8 = 0xC0;
    /// Invalid command (not implemented).
    pub const INVALID_COMMAND: u8 = 0xC1;
    /// Command invalid for the given LUN.
    pub const INVALID_FOR_LUN: u8 = 0xC2;
    /// Timeout while processing the command.
    pub const TIMEOUT: u8 = 0xC3;
    /// Out of space.
    pub const OUT_OF_SPACE: u8 = 0xC4;
    /// Reservation cancelled or invalid reservation ID.
    pub const RESERVATION_CANCELLED: u8 = 0xC5;
    /// Request data truncated.
    pub const DATA_TRUNCATED: u8 = 0xC6;
    /// Request data length invalid.
    pub const DATA_LENGTH_INVALID: u8 = 0xC7;
    /// Request data field length limit exceeded.
    pub const DATA_TOO_LONG: u8 = 0xC8;
    /// Parameter out of range.
    pub const PARAMETER_OUT_OF_RANGE: u8 = 0xC9;
    /// Cannot return the number of requested data bytes.
    pub const CANNOT_RETURN_BYTES: u8 = 0xCA;
    /// Requested sensor, data or record not present.
    pub const NOT_PRESENT: u8 = 0xCB;
    /// Invalid data field in the request.
    pub const INVALID_DATA_FIELD: u8 = 0xCC;
    /// Command illegal for the specified sensor or record type.
    pub const ILLEGAL_FOR_SENSOR: u8 = 0xCD;
    /// Command response could not be provided.
    pub const CANNOT_RESPOND: u8 = 0xCE;
    /// Cannot execute a duplicated request.
    pub const DUPLICATE_REQUEST: u8 = 0xCF;
    /// SDR repository in update mode.
    pub const SDR_IN_UPDATE: u8 = 0xD0;
    /// Device in firmware update mode.
    pub const FIRMWARE_UPDATE: u8 = 0xD1;
    /// BMC initialisation in progress.
    pub const INIT_IN_PROGRESS: u8 = 0xD2;
    /// Destination unavailable.
    pub const DESTINATION_UNAVAILABLE: u8 = 0xD3;
    /// Insufficient privilege level.
    pub const INSUFFICIENT_PRIVILEGE: u8 = 0xD4;
    /// Command not supported in the present state.
    pub const NOT_SUPPORTED_IN_STATE: u8 = 0xD5;
    /// Command sub-function disabled or unavailable.
    pub const SUBFUNCTION_DISABLED: u8 = 0xD6;
    /// Unspecified error.
    pub const UNSPECIFIED: u8 = 0xFF;
}

/// A completion code's meaning in a few words (IPMI v2.0 table 5-2), for messages:
/// `invalid command` for 0xC1; `None` for codes the table does not define (OEM and
/// command-specific codes 0x01-0x7E, 0x80-0xBE).
pub fn completion_name(cc: u8) -> Option<&'static str> {
    Some(match cc {
        0x00 => "completed normally",
        0xC0 => "node busy",
        0xC1 => "invalid command",
        0xC2 => "invalid for the given LUN",
        0xC3 => "timeout while processing",
        0xC4 => "out of space",
        0xC5 => "reservation cancelled or invalid",
        0xC6 => "request data truncated",
        0xC7 => "request data length invalid",
        0xC8 => "request data field length limit exceeded",
        0xC9 => "parameter out of range",
        0xCA => "cannot return number of requested data bytes",
        0xCB => "requested sensor, data or record not present",
        0xCC => "invalid data field in request",
        0xCD => "illegal for the sensor or record type",
        0xCE => "response could not be provided",
        0xCF => "cannot execute duplicated request",
        0xD0 => "SDR repository in update mode",
        0xD1 => "device in firmware update mode",
        0xD2 => "BMC initialization in progress",
        0xD3 => "destination unavailable",
        0xD4 => "insufficient privilege level",
        0xD5 => "not supported in present state",
        0xD6 => "sub-function disabled or unavailable",
        0xFF => "unspecified error",
        _ => return None,
    })
}

/// A session privilege level (IPMI v2.0 table 22-?, "privilege level" encodings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Privilege {
    /// Callback (1).
    Callback = 1,
    /// User (2).
    User = 2,
    /// Operator (3).
    Operator = 3,
    /// Administrator (4).
    Administrator = 4,
    /// OEM proprietary (5).
    Oem = 5,
}

impl Privilege {
    /// From the 4-bit wire encoding (1..=5); 0 and others are `None`.
    pub fn from_u8(v: u8) -> Option<Privilege> {
        Some(match v {
            1 => Privilege::Callback,
            2 => Privilege::User,
            3 => Privilege::Operator,
            4 => Privilege::Administrator,
            5 => Privilege::Oem,
            _ => return None,
        })
    }

    /// The wire encoding.
    pub fn to_u8(self) -> u8 {
        self as u8
    }

    /// The name ipmitool prints (`ADMINISTRATOR`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Privilege::Callback => "CALLBACK",
            Privilege::User => "USER",
            Privilege::Operator => "OPERATOR",
            Privilege::Administrator => "ADMINISTRATOR",
            Privilege::Oem => "OEM",
        }
    }
}
