//! Command request and response codecs: one type per request or response layout of the
//! commands the application answers (the reference table), each with
//! [`Wire::encode`] and [`Wire::decode`], plus the command numbers in [`id`].
//!
//! Data is what follows the command byte in a request and the completion code in a
//! response. Decoders never panic: a short body is [`DecodeError::Short`], extra bytes
//! after a fixed layout are [`DecodeError::TooLong`] (completion code 0xC7 for a
//! request, see [`DecodeError::completion_code`]). Optional trailing fields are
//! `Option`s.

use crate::codes::cc;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the layout needs.
    #[error("{got} bytes, at least {need} needed")]
    Short {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// More bytes than the layout has.
    #[error("{got} bytes, at most {max} expected")]
    TooLong {
        /// The layout's length.
        max: usize,
        /// Bytes present.
        got: usize,
    },
    /// A field has a value the layout does not allow.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A checksum does not match.
    #[error("bad checksum in {0}")]
    Checksum(&'static str),
}

impl DecodeError {
    /// The completion code a responder answers a request that fails this way with
    /// (0xC7 request data length invalid, 0xCC invalid data field).
    pub fn completion_code(&self) -> u8 {
        match self {
            DecodeError::Short { .. } | DecodeError::TooLong { .. } => cc::DATA_LENGTH_INVALID,
            DecodeError::Invalid(_) | DecodeError::Checksum(_) => cc::INVALID_DATA_FIELD,
        }
    }
}

/// A request or response body.
pub trait Wire: Sized {
    /// The bytes.
    fn encode(&self) -> Vec<u8>;
    /// Reads the bytes.
    fn decode(b: &[u8]) -> Result<Self, DecodeError>;
}

/// Network function and command number of each command (request NetFn), from the
/// command table.
pub use crate::commands::id;

/// A cursor over bytes being decoded.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b, at: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let s = self.b.get(self.at..self.at + n).ok_or(DecodeError::Short {
            need: self.at + n,
            got: self.b.len(),
        })?;
        self.at += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u24(&mut self) -> Result<u32, DecodeError> {
        let [a, b, c] = self.array()?;
        Ok(u32::from_le_bytes([a, b, c, 0]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn opt<T>(
        &mut self,
        n: usize,
        f: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        if self.b.len() >= self.at + n {
            f(self).map(Some)
        } else {
            Ok(None)
        }
    }

    fn rest(&mut self) -> &'a [u8] {
        let s = self.b.get(self.at..).unwrap_or(&[]);
        self.at = self.b.len();
        s
    }

    fn end(&self) -> Result<(), DecodeError> {
        if self.at < self.b.len() {
            Err(DecodeError::TooLong {
                max: self.at,
                got: self.b.len(),
            })
        } else {
            Ok(())
        }
    }
}

/// Fixed-layout bodies: a struct with one field per wire field and its `Wire` impl.
macro_rules! wire {
    ($(#[$m:meta])* $name:ident { $( $(#[$fm:meta])* $f:ident : $k:ident ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name { $( $(#[$fm])* pub $f: wire!(@ty $k) ),* }
        impl Wire for $name {
            fn encode(&self) -> Vec<u8> {
                let mut w: Vec<u8> = Vec::with_capacity(16);
                $( wire!(@put w, self.$f, $k); )*
                w
            }
            fn decode(b: &[u8]) -> Result<Self, DecodeError> {
                let mut r = Reader::new(b);
                let v = $name { $( $f: wire!(@get r, $k), )* };
                r.end()?;
                Ok(v)
            }
        }
    };
    (@ty u8) => { u8 };
    (@ty u16) => { u16 };
    (@ty u24) => { u32 };
    (@ty u32) => { u32 };
    (@ty g16) => { [u8; 16] };
    (@ty a2) => { [u8; 2] };
    (@ty a4) => { [u8; 4] };
    (@ty a6) => { [u8; 6] };
    (@ty o8) => { Option<u8> };
    (@ty o16) => { Option<u16> };
    (@ty oa4) => { Option<[u8; 4]> };
    (@put $w:ident, $v:expr, u8) => { $w.push($v) };
    (@put $w:ident, $v:expr, u16) => { $w.extend_from_slice(&$v.to_le_bytes()) };
    (@put $w:ident, $v:expr, u24) => { $w.extend_from_slice(&$v.to_le_bytes()[..3]) };
    (@put $w:ident, $v:expr, u32) => { $w.extend_from_slice(&$v.to_le_bytes()) };
    (@put $w:ident, $v:expr, g16) => { $w.extend_from_slice(&$v) };
    (@put $w:ident, $v:expr, a2) => { $w.extend_from_slice(&$v) };
    (@put $w:ident, $v:expr, a4) => { $w.extend_from_slice(&$v) };
    (@put $w:ident, $v:expr, a6) => { $w.extend_from_slice(&$v) };
    (@put $w:ident, $v:expr, o8) => { if let Some(x) = $v { $w.push(x) } };
    (@put $w:ident, $v:expr, o16) => { if let Some(x) = $v { $w.extend_from_slice(&x.to_le_bytes()) } };
    (@put $w:ident, $v:expr, oa4) => { if let Some(x) = $v { $w.extend_from_slice(&x) } };
    (@get $r:ident, u8) => { $r.u8()? };
    (@get $r:ident, u16) => { $r.u16()? };
    (@get $r:ident, u24) => { $r.u24()? };
    (@get $r:ident, u32) => { $r.u32()? };
    (@get $r:ident, g16) => { $r.array()? };
    (@get $r:ident, a2) => { $r.array()? };
    (@get $r:ident, a4) => { $r.array()? };
    (@get $r:ident, a6) => { $r.array()? };
    (@get $r:ident, o8) => { $r.opt(1, |r| r.u8())? };
    (@get $r:ident, o16) => { $r.opt(2, |r| r.u16())? };
    (@get $r:ident, oa4) => { $r.opt(4, |r| r.array())? };
}

wire! {
    /// Get Device ID response (20.1).
    GetDeviceIdResp {
        /// Device ID.
        device_id: u8,
        /// Bit 7: provides device SDRs; bits 3:0 the revision.
        device_revision: u8,
        /// Bit 7: device unavailable (update in progress); bits 6:0 major firmware revision.
        firmware_major: u8,
        /// Minor firmware revision, BCD.
        firmware_minor: u8,
        /// IPMI version, BCD nibbles reversed (0x02 = 2.0).
        ipmi_version: u8,
        /// Bit 7 chassis, 6 bridge, 5 IPMB event generator, 4 event receiver, 3 FRU inventory, 2 SEL, 1 SDR repository, 0 sensor device.
        additional_support: u8,
        /// Manufacturer ID (IANA enterprise number, 20 bits).
        manufacturer_id: u24,
        /// Product ID.
        product_id: u16,
        /// Auxiliary firmware revision (optional).
        aux: oa4,
    }
}

wire! {
    /// Get Self Test Results response (20.4): 0x55 no error; 0x56 not implemented; 0x57 corrupted or inaccessible data; 0x58 fatal hardware error.
    SelfTestResp {
        /// Result code.
        result: u8,
        /// Detail byte.
        detail: u8,
    }
}

wire! {
    /// Get Watchdog Timer response (27.7).
    WatchdogResp {
        /// Timer use (bits 2:0), bit 6 running, bit 7 don't log.
        timer_use: u8,
        /// Timeout action and pre-timeout interrupt.
        actions: u8,
        /// Pre-timeout interval, seconds.
        pretimeout: u8,
        /// Timer use expiration flags.
        expiration_flags: u8,
        /// Initial countdown, 100 ms units.
        initial_countdown: u16,
        /// Present countdown, 100 ms units.
        present_countdown: u16,
    }
}

wire! {
    /// Get System GUID response (22.14) and Get Device GUID.
    GuidResp {
        /// The 16 GUID bytes as on the wire.
        guid: g16,
    }
}

wire! {
    /// A request that names a channel (bits 3:0; 0x0E = this channel) and, in bits 7:6, an access type (Get Channel Access: 01 non-volatile, 10 volatile); Get Channel Info.
    ChannelReq {
        /// The whole first byte.
        channel: u8,
    }
}

wire! {
    /// Get Channel Access request (22.23).
    ChannelAccessReq {
        /// Channel (bits 3:0).
        channel: u8,
        /// Bits 7:6: 01 non-volatile, 10 volatile.
        access_type: u8,
    }
}

wire! {
    /// Get Channel Access response (22.23).
    ChannelAccessResp {
        /// Bit 5 alerting disabled, 4 per-message auth disabled, 3 user-level auth disabled, 2:0 access mode (2 always available).
        access: u8,
        /// Channel privilege limit (bits 3:0).
        privilege_limit: u8,
    }
}

wire! {
    /// Get Channel Info response (22.24).
    ChannelInfoResp {
        /// Actual channel number.
        channel: u8,
        /// Channel medium type (0x04 802.3 LAN).
        medium: u8,
        /// Protocol type (0x01 IPMB-1.0).
        protocol: u8,
        /// Bits 7:6 session support (10 multi-session), 5:0 active sessions.
        session_support: u8,
        /// Protocol vendor ID (7154 for IPMI).
        vendor_id: u24,
        /// Auxiliary channel info.
        aux: a2,
    }
}

wire! {
    /// A request naming a channel and a user: Get User Access (22.27).
    UserReq {
        /// Channel (bits 3:0).
        channel: u8,
        /// User ID (bits 5:0).
        user_id: u8,
    }
}

wire! {
    /// Get User Access response (22.27).
    UserAccessResp {
        /// Maximum user IDs (bits 5:0).
        max_users: u8,
        /// Bits 7:6 user ID enable status (01 enabled, 10 disabled), 5:0 enabled user count.
        enabled: u8,
        /// User IDs with fixed names (bits 5:0).
        fixed_names: u8,
        /// Bit 6 callback only, 5 link auth, 4 IPMI messaging, 3:0 privilege limit (0x0F no access).
        access: u8,
    }
}

wire! {
    /// Set User Access request (22.26).
    SetUserAccessReq {
        /// Bit 7 change bits 6:4, 6 callback, 5 link auth, 4 IPMI messaging, 3:0 channel.
        flags: u8,
        /// User ID (bits 5:0).
        user_id: u8,
        /// Privilege limit (bits 3:0).
        privilege: u8,
        /// Session limit (optional).
        session_limit: o8,
    }
}

wire! {
    /// Get User Name request (22.29).
    UserIdReq {
        /// User ID (bits 5:0).
        user_id: u8,
    }
}

wire! {
    /// Get User Name response (22.29): 16 bytes, NUL padded.
    UserNameResp {
        /// The name.
        name: g16,
    }
}

wire! {
    /// Set User Name request (22.28).
    SetUserNameReq {
        /// User ID (bits 5:0).
        user_id: u8,
        /// The name, NUL padded.
        name: g16,
    }
}

wire! {
    /// Get Chassis Capabilities response (28.1).
    ChassisCapsResp {
        /// Bit 3 power interlock, 2 diagnostic interrupt, 1 front panel lockout, 0 intrusion sensor.
        flags: u8,
        /// FRU info device address.
        fru_address: u8,
        /// SDR device address.
        sdr_address: u8,
        /// SEL device address.
        sel_address: u8,
        /// System management device address.
        sm_address: u8,
        /// Bridge device address (optional).
        bridge_address: o8,
    }
}

wire! {
    /// Get Chassis Status response (28.2).
    ChassisStatusResp {
        /// Bit 0 power on, 1 overload, 2 interlock, 3 power fault, 4 control fault, 6:5 restore policy.
        power: u8,
        /// Bit 4 last power on by IPMI command, 3 fault, 2 interlock, 1 overload, 0 AC failed.
        last_event: u8,
        /// Bit 6 identify supported, 5:4 identify state, 3 fan fault, 2 drive fault, 1 lockout, 0 intrusion.
        misc: u8,
        /// Front panel button capabilities (optional).
        front_panel: o8,
    }
}

wire! {
    /// Chassis Control request (28.3).
    ChassisControlReq {
        /// 0 off, 1 on, 2 cycle, 3 hard reset, 4 diagnostic interrupt, 5 soft off (bits 3:0).
        action: u8,
    }
}

wire! {
    /// Get POH Counter response (28.14).
    PohResp {
        /// Minutes per count.
        minutes_per_count: u8,
        /// Counter.
        counter: u32,
    }
}

wire! {
    /// A request naming a sensor: Get Sensor Reading (35.14), Get Sensor Thresholds (35.9), Get Sensor Event Enable (35.11).
    SensorReq {
        /// Sensor number.
        number: u8,
    }
}

wire! {
    /// Get Sensor Hysteresis request (35.7).
    HysteresisReq {
        /// Sensor number.
        number: u8,
        /// Reserved (0xFF).
        mask: u8,
    }
}

wire! {
    /// Get Sensor Hysteresis response (35.7).
    HysteresisResp {
        /// Positive-going hysteresis.
        positive: u8,
        /// Negative-going hysteresis.
        negative: u8,
    }
}

wire! {
    /// Get Sensor Reading response (35.14).
    SensorReadingResp {
        /// Raw reading (threshold sensors).
        reading: u8,
        /// Bit 7 event messages enabled, 6 scanning enabled, 5 reading unavailable.
        flags: u8,
        /// Threshold status (bits 5:0: LNC, LC, LNR, UNC, UC, UNR) or discrete states 0-7.
        state1: o8,
        /// Discrete states 8-14 (optional).
        state2: o8,
    }
}

wire! {
    /// Get Sensor Thresholds response (35.9).
    ThresholdsResp {
        /// Readable thresholds (bit 0 LNC .. 5 UNR).
        readable: u8,
        /// Raw LNC, LC, LNR, UNC, UC, UNR.
        values: a6,
    }
}

wire! {
    /// Get Sensor Event Enable response (35.11).
    EventEnableResp {
        /// Bit 7 all event messages enabled, 6 scanning enabled.
        flags: u8,
        /// Assertion event enables (optional).
        assertion: o16,
        /// Deassertion event enables (optional).
        deassertion: o16,
    }
}

wire! {
    /// Get FRU Inventory Area Info request (34.1).
    FruDeviceReq {
        /// FRU device ID.
        device: u8,
    }
}

wire! {
    /// Get FRU Inventory Area Info response (34.1).
    FruInfoResp {
        /// Area size in bytes.
        size: u16,
        /// Bit 0: 1 word access.
        access: u8,
    }
}

wire! {
    /// Read FRU Data request (34.2).
    ReadFruReq {
        /// FRU device ID.
        device: u8,
        /// Offset.
        offset: u16,
        /// Count to read.
        count: u8,
    }
}

wire! {
    /// Reserve SDR Repository / Reserve SEL response.
    ReservationResp {
        /// Reservation ID.
        reservation: u16,
    }
}

wire! {
    /// Get SDR (33.12) and Get SEL Entry (31.5) request.
    GetRecordReq {
        /// Reservation ID (only needed for partial reads).
        reservation: u16,
        /// Record ID (0x0000 first, 0xFFFF last).
        record: u16,
        /// Offset into the record.
        offset: u8,
        /// Bytes to read (0xFF the whole record).
        count: u8,
    }
}

wire! {
    /// Add SEL Entry / Delete SEL Entry response.
    RecordIdResp {
        /// Record ID.
        record: u16,
    }
}

wire! {
    /// Delete SEL Entry request (31.8).
    DeleteSelReq {
        /// Reservation ID.
        reservation: u16,
        /// Record ID.
        record: u16,
    }
}

wire! {
    /// Clear SEL response (31.9).
    ClearSelResp {
        /// Bits 3:0: 0 erasure in progress, 1 erase completed.
        progress: u8,
    }
}

wire! {
    /// Get SEL Time response and Set SEL Time request (31.10, 31.11).
    SelTime {
        /// Unix seconds.
        time: u32,
    }
}

/// An empty body (requests without data, responses with only a completion code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Empty;

impl Wire for Empty {
    fn encode(&self) -> Vec<u8> {
        Vec::new()
    }
    fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        Reader::new(b).end().map(|_| Empty)
    }
}

/// Chassis Identify request (28.5): both bytes optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IdentifyReq {
    /// Identify interval in seconds (default 15; 0 turns identify off).
    pub interval: Option<u8>,
    /// Bit 0: force identify on indefinitely.
    pub force: Option<u8>,
}

impl Wire for IdentifyReq {
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        if let Some(i) = self.interval {
            v.push(i);
            if let Some(f) = self.force {
                v.push(f);
            }
        }
        v
    }
    fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let interval = r.opt(1, |r| r.u8())?;
        let force = r.opt(1, |r| r.u8())?;
        r.end()?;
        Ok(IdentifyReq { interval, force })
    }
}

/// A "get configuration parameter" request: Get LAN Configuration Parameters (23.2),
/// Get SOL Configuration Parameters (26.3), Get System Boot Options (28.13, without the
/// channel byte) and Get System Info Parameters (22.14a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GetParamReq {
    /// First byte: bit 7 get parameter revision only; bits 3:0 the channel (LAN, SOL,
    /// system info); absent for boot options.
    pub channel: Option<u8>,
    /// Parameter selector (bits 6:0).
    pub param: u8,
    /// Set selector.
    pub set: u8,
    /// Block selector.
    pub block: u8,
}

impl GetParamReq {
    /// Decodes the 4-byte form (with the channel/revision byte).
    pub fn decode_with_channel(b: &[u8]) -> Result<GetParamReq, DecodeError> {
        let mut r = Reader::new(b);
        let v = GetParamReq {
            channel: Some(r.u8()?),
            param: r.u8()?,
            set: r.u8()?,
            block: r.u8()?,
        };
        r.end()?;
        Ok(v)
    }

    /// Decodes the 3-byte form (boot options).
    pub fn decode_boot(b: &[u8]) -> Result<GetParamReq, DecodeError> {
        let mut r = Reader::new(b);
        let v = GetParamReq {
            channel: None,
            param: r.u8()?,
            set: r.u8()?,
            block: r.u8()?,
        };
        r.end()?;
        Ok(v)
    }

    /// Whether only the parameter revision is asked for.
    pub fn revision_only(&self) -> bool {
        self.channel.is_some_and(|c| c & 0x80 != 0)
    }

    /// The bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v: Vec<u8> = self.channel.into_iter().collect();
        v.extend_from_slice(&[self.param, self.set, self.block]);
        v
    }
}

/// A "set configuration parameter" request: Set LAN / SOL Configuration Parameters
/// (channel, parameter, data) and Set System Boot Options (parameter, data).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SetParamReq {
    /// Channel (bits 3:0); absent for boot options.
    pub channel: Option<u8>,
    /// Parameter selector (for boot options bit 7 marks the parameter invalid).
    pub param: u8,
    /// The parameter data.
    pub data: Vec<u8>,
}

impl SetParamReq {
    /// Decodes the form with a channel byte.
    pub fn decode_with_channel(b: &[u8]) -> Result<SetParamReq, DecodeError> {
        let mut r = Reader::new(b);
        Ok(SetParamReq {
            channel: Some(r.u8()?),
            param: r.u8()?,
            data: r.rest().to_vec(),
        })
    }

    /// Decodes the boot options form.
    pub fn decode_boot(b: &[u8]) -> Result<SetParamReq, DecodeError> {
        let mut r = Reader::new(b);
        Ok(SetParamReq {
            channel: None,
            param: r.u8()?,
            data: r.rest().to_vec(),
        })
    }

    /// The bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v: Vec<u8> = self.channel.into_iter().collect();
        v.push(self.param);
        v.extend_from_slice(&self.data);
        v
    }
}

/// A configuration parameter answer: revision (0x11) then the data; for boot options
/// the second byte is the parameter selector with bit 7 "invalid/locked".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ParamResp {
    /// Parameter revision.
    pub revision: u8,
    /// The data (boot options: the parameter byte first).
    pub data: Vec<u8>,
}

impl Wire for ParamResp {
    fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.revision];
        v.extend_from_slice(&self.data);
        v
    }
    fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        Ok(ParamResp {
            revision: r.u8()?,
            data: r.rest().to_vec(),
        })
    }
}

/// Set User Password request (22.30).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SetUserPasswordReq {
    /// User ID (bits 5:0).
    pub user_id: u8,
    /// Bit 7 of the first byte: the password field is 20 bytes (else 16).
    pub twenty: bool,
    /// Operation (bits 1:0): 0 disable user, 1 enable user, 2 set password, 3 test
    /// password.
    pub operation: u8,
    /// The password field as sent (16 or 20 bytes, NUL padded; empty for enable and
    /// disable).
    pub password: Vec<u8>,
}

impl SetUserPasswordReq {
    /// The password without its NUL padding.
    pub fn password_trimmed(&self) -> &[u8] {
        let end = self
            .password
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        &self.password[..end]
    }
}

impl Wire for SetUserPasswordReq {
    fn encode(&self) -> Vec<u8> {
        let mut v = vec![
            (self.user_id & 0x3F) | if self.twenty { 0x80 } else { 0 },
            self.operation & 3,
        ];
        v.extend_from_slice(&self.password);
        v
    }
    fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let first = r.u8()?;
        let op = r.u8()?;
        let rest = r.rest();
        let twenty = first & 0x80 != 0;
        if op & 3 >= 2 {
            let want = if twenty { 20 } else { 16 };
            if rest.len() != want {
                return Err(if rest.len() < want {
                    DecodeError::Short {
                        need: 2 + want,
                        got: b.len(),
                    }
                } else {
                    DecodeError::TooLong {
                        max: 2 + want,
                        got: b.len(),
                    }
                });
            }
        }
        Ok(SetUserPasswordReq {
            user_id: first & 0x3F,
            twenty,
            operation: op & 3,
            password: rest.to_vec(),
        })
    }
}

/// Read FRU Data response (34.2): the count returned, then the data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ReadFruResp {
    /// The bytes read.
    pub data: Vec<u8>,
}

impl Wire for ReadFruResp {
    fn encode(&self) -> Vec<u8> {
        let n = self.data.len().min(255);
        let mut v = vec![n as u8];
        v.extend_from_slice(&self.data[..n]);
        v
    }
    fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let n = usize::from(r.u8()?);
        let data = r.take(n)?.to_vec();
        r.end()?;
        Ok(ReadFruResp { data })
    }
}

/// Get SDR / Get SEL Entry response: the next record ID, then (part of) the record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct GetRecordResp {
    /// Next record ID (0xFFFF after the last).
    pub next: u16,
    /// The bytes read.
    pub data: Vec<u8>,
}

impl Wire for GetRecordResp {
    fn encode(&self) -> Vec<u8> {
        let mut v = self.next.to_le_bytes().to_vec();
        v.extend_from_slice(&self.data);
        v
    }
    fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        Ok(GetRecordResp {
            next: r.u16()?,
            data: r.rest().to_vec(),
        })
    }
}

/// Add SEL Entry request (31.6): a 16-byte record (the ID is assigned by the SEL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AddSelReq {
    /// The record.
    pub record: [u8; 16],
}

impl Wire for AddSelReq {
    fn encode(&self) -> Vec<u8> {
        self.record.to_vec()
    }
    fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let record = r.array()?;
        r.end()?;
        Ok(AddSelReq { record })
    }
}

/// Clear SEL request (31.9): reservation, the letters "CLR", then 0xAA (initiate) or
/// 0x00 (get erasure status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ClearSelReq {
    /// Reservation ID.
    pub reservation: u16,
    /// 0xAA initiate erase, 0x00 get status.
    pub action: u8,
}

impl Wire for ClearSelReq {
    fn encode(&self) -> Vec<u8> {
        let mut v = self.reservation.to_le_bytes().to_vec();
        v.extend_from_slice(b"CLR");
        v.push(self.action);
        v
    }
    fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let reservation = r.u16()?;
        if r.take(3)? != b"CLR" {
            return Err(DecodeError::Invalid("Clear SEL confirmation (not \"CLR\")"));
        }
        let action = r.u8()?;
        r.end()?;
        if action != 0xAA && action != 0x00 {
            return Err(DecodeError::Invalid("Clear SEL action"));
        }
        Ok(ClearSelReq {
            reservation,
            action,
        })
    }
}

/// The 16 bytes Get System GUID (IPMI v2.0 22.14) and Get Device GUID (20.8) send for a
/// GUID given in its textual byte order (`t[0]` the first two hex digits of
/// `xxxxxxxx-xxxx-...`): the fields least significant byte first and in reverse order,
/// node first, as ipmitool's GUID structure (which cites IPMI v2.0 rev. 1.1, 20.8) and
/// freeipmi's bmc-info read them. So the wire is the text reversed:
///
/// | wire bytes | field | text bytes |
/// |---|---|---|
/// | 0..6 | node, LS byte first | 15, 14, 13, 12, 11, 10 |
/// | 6..8 | clock_seq_low, clock_seq_hi_and_reserved | 9, 8 |
/// | 8..10 | time_hi_and_version, LS byte first | 7, 6 |
/// | 10..12 | time_mid, LS byte first | 5, 4 |
/// | 12..16 | time_low, LS byte first | 3, 2, 1, 0 |
///
/// ipmitool (`mc guid`, encoding "IPMI") and freeipmi (`bmc-info`) decode it back to
/// the same text. (The SMBIOS order, first three fields little endian and the rest as
/// written, is what ipmitool flags as an IPMI specification violation.)
pub fn guid_to_wire(t: [u8; 16]) -> [u8; 16] {
    let mut w = t;
    w.reverse();
    w
}

/// The textual byte order of a GUID as Get System/Device GUID sends it (the inverse of
/// [`guid_to_wire`]).
pub fn guid_from_wire(w: [u8; 16]) -> [u8; 16] {
    guid_to_wire(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decoding any bytes never panics, and whatever decodes re-encodes to bytes that
    /// decode to the same value.
    fn check<T: Wire + PartialEq + std::fmt::Debug>(b: &[u8]) -> Result<(), TestCaseError> {
        if let Ok(v) = T::decode(b) {
            let again = T::decode(&v.encode());
            prop_assert_eq!(again, Ok(v));
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn all_codecs_round_trip(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            check::<GetDeviceIdResp>(&b)?;
            check::<SelfTestResp>(&b)?;
            check::<WatchdogResp>(&b)?;
            check::<GuidResp>(&b)?;
            check::<ChannelReq>(&b)?;
            check::<ChannelAccessReq>(&b)?;
            check::<ChannelAccessResp>(&b)?;
            check::<ChannelInfoResp>(&b)?;
            check::<UserReq>(&b)?;
            check::<UserAccessResp>(&b)?;
            check::<SetUserAccessReq>(&b)?;
            check::<UserIdReq>(&b)?;
            check::<UserNameResp>(&b)?;
            check::<SetUserNameReq>(&b)?;
            check::<ChassisCapsResp>(&b)?;
            check::<ChassisStatusResp>(&b)?;
            check::<ChassisControlReq>(&b)?;
            check::<PohResp>(&b)?;
            check::<SensorReq>(&b)?;
            check::<HysteresisReq>(&b)?;
            check::<HysteresisResp>(&b)?;
            check::<SensorReadingResp>(&b)?;
            check::<ThresholdsResp>(&b)?;
            check::<EventEnableResp>(&b)?;
            check::<FruDeviceReq>(&b)?;
            check::<FruInfoResp>(&b)?;
            check::<ReadFruReq>(&b)?;
            check::<ReservationResp>(&b)?;
            check::<GetRecordReq>(&b)?;
            check::<RecordIdResp>(&b)?;
            check::<DeleteSelReq>(&b)?;
            check::<ClearSelResp>(&b)?;
            check::<SelTime>(&b)?;
            check::<Empty>(&b)?;
            check::<IdentifyReq>(&b)?;
            check::<ParamResp>(&b)?;
            check::<SetUserPasswordReq>(&b)?;
            check::<ReadFruResp>(&b)?;
            check::<GetRecordResp>(&b)?;
            check::<AddSelReq>(&b)?;
            check::<ClearSelReq>(&b)?;
            for f in [GetParamReq::decode_with_channel, GetParamReq::decode_boot] {
                if let Ok(v) = f(&b) { prop_assert_eq!(f(&v.encode()), Ok(v)); }
            }
            for f in [SetParamReq::decode_with_channel, SetParamReq::decode_boot] {
                if let Ok(v) = f(&b) { prop_assert_eq!(f(&v.encode()), Ok(v)); }
            }
        }

        #[test]
        fn device_id_round_trip(f in any::<[u8; 6]>(), m in 0u32..0x100_0000, p: u16, aux: Option<[u8; 4]>) {
            let v = GetDeviceIdResp { device_id: f[0], device_revision: f[1], firmware_major: f[2], firmware_minor: f[3],
                ipmi_version: f[4], additional_support: f[5], manufacturer_id: m, product_id: p, aux };
            prop_assert_eq!(GetDeviceIdResp::decode(&v.encode()), Ok(v));
        }
    }

    #[test]
    fn layouts_by_hand() {
        // Get Device ID of a BMC: id 0x20, rev 0x81 (SDRs), fw 2.10, IPMI 2.0, support
        // 0xBF, manufacturer 7154 (0x001BF2), product 0x1000.
        let v = GetDeviceIdResp {
            device_id: 0x20,
            device_revision: 0x81,
            firmware_major: 2,
            firmware_minor: 0x10,
            ipmi_version: 0x02,
            additional_support: 0xBF,
            manufacturer_id: 7154,
            product_id: 0x1000,
            aux: None,
        };
        assert_eq!(
            v.encode(),
            [
                0x20, 0x81, 0x02, 0x10, 0x02, 0xBF, 0xF2, 0x1B, 0x00, 0x00, 0x10
            ]
        );
        let req = GetRecordReq {
            reservation: 0x0102,
            record: 0xFFFF,
            offset: 5,
            count: 0xFF,
        };
        assert_eq!(req.encode(), [0x02, 0x01, 0xFF, 0xFF, 5, 0xFF]);
        assert_eq!(
            ClearSelReq::decode(&[1, 0, b'C', b'L', b'R', 0xAA]),
            Ok(ClearSelReq {
                reservation: 1,
                action: 0xAA
            })
        );
        assert!(matches!(
            ClearSelReq::decode(&[1, 0, b'C', b'L', b'X', 0xAA]),
            Err(DecodeError::Invalid(_))
        ));
        assert_eq!(
            SensorReadingResp::decode(&[0x2D, 0xC0]),
            Ok(SensorReadingResp {
                reading: 0x2D,
                flags: 0xC0,
                state1: None,
                state2: None
            })
        );
        assert_eq!(
            ChassisControlReq::decode(&[1, 2]),
            Err(DecodeError::TooLong { max: 1, got: 2 })
        );
        assert_eq!(
            SetUserPasswordReq::decode(&[0x82, 2, b'a']).map_err(|e| e.completion_code()),
            Err(cc::DATA_LENGTH_INVALID)
        );
        let t = [
            0x5a, 0x1d, 0x0c, 0x6e, 0x3e, 0x2b, 0x4f, 0x5a, 0x9b, 0x7c, 0, 0, 0, 0, 0, 1,
        ];
        // IPMI v2.0 20.8 order: the text's bytes reversed (node first, time_low last).
        let w = guid_to_wire(t);
        assert_eq!(&w[..6], &[1, 0, 0, 0, 0, 0]);
        assert_eq!(&w[12..], &[0x6e, 0x0c, 0x1d, 0x5a]);
        assert_eq!(guid_from_wire(w), t);
    }
}
