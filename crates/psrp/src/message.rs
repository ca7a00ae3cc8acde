//! The PSRP message ([MS-PSRP] 2.2.1): what a reassembled fragment object holds.
//!
//! `Destination` (u32, little-endian: 1 client, 2 server), `MessageType` (u32,
//! little-endian, 2.2.2's table), the runspace pool id and the pipeline id (GUIDs in
//! .NET byte order), then the data: for almost every type a CLIXML object in UTF-8,
//! which Windows prefixes with a byte order mark and pypsrp does not.

use crate::clixml::{self, Value};
use crate::guid::Guid;

/// Bytes before the data: destination, message type and the two GUIDs.
pub const HEADER_LEN: usize = 4 + 4 + 16 + 16;

/// The UTF-8 byte order mark Windows writes before a message's CLIXML.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Who a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Destination {
    /// 0x00000001: the client.
    Client,
    /// 0x00000002: the server.
    Server,
}

impl Destination {
    /// The wire value.
    pub fn as_u32(self) -> u32 {
        match self {
            Destination::Client => 1,
            Destination::Server => 2,
        }
    }

    /// The destination a wire value names, if any.
    pub fn from_u32(v: u32) -> Option<Destination> {
        match v {
            1 => Some(Destination::Client),
            2 => Some(Destination::Server),
            _ => None,
        }
    }
}

macro_rules! message_types {
    ($( $(#[$doc:meta])* $name:ident = $value:literal, )*) => {
        /// A message type ([MS-PSRP] 2.2.1 and 2.2.2). A value the table does not name
        /// is kept as [`MessageType::Unknown`], so a message can be decoded, logged and
        /// refused precisely rather than lost.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        pub enum MessageType {
            $( $(#[$doc])* $name, )*
            /// A value not in the table.
            Unknown(u32),
        }

        impl MessageType {
            /// Every named type, in table order.
            pub const ALL: &'static [MessageType] = &[$(MessageType::$name),*];

            /// The wire value.
            pub fn as_u32(self) -> u32 {
                match self {
                    $( MessageType::$name => $value, )*
                    MessageType::Unknown(v) => v,
                }
            }

            /// The type a wire value names (or [`MessageType::Unknown`]).
            pub fn from_u32(v: u32) -> MessageType {
                match v {
                    $( $value => MessageType::$name, )*
                    other => MessageType::Unknown(other),
                }
            }

            /// The specification's name (`SESSION_CAPABILITY`), or `None` when unknown.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $( MessageType::$name => Some(stringify!($name)), )*
                    MessageType::Unknown(_) => None,
                }
            }
        }
    };
}

message_types! {
    /// Client and server: protocol and serialization versions.
    SESSION_CAPABILITY = 0x0001_0002,
    /// Client: open a runspace pool (min/max runspaces, host info, arguments).
    INIT_RUNSPACEPOOL = 0x0001_0004,
    /// Client: the client's public key for session key exchange.
    PUBLIC_KEY = 0x0001_0005,
    /// Server: the session key, encrypted with the client's public key.
    ENCRYPTED_SESSION_KEY = 0x0001_0006,
    /// Server: asks the client for its public key.
    PUBLIC_KEY_REQUEST = 0x0001_0007,
    /// Client: connect to a disconnected runspace pool.
    CONNECT_RUNSPACEPOOL = 0x0001_0008,
    /// Server: the pool's min/max runspaces after a connect.
    RUNSPACEPOOL_INIT_DATA = 0x0002_100B,
    /// Client: reset the runspace state.
    RESET_RUNSPACE_STATE = 0x0002_100C,
    /// Client: set the pool's maximum runspaces.
    SET_MAX_RUNSPACES = 0x0002_1002,
    /// Client: set the pool's minimum runspaces.
    SET_MIN_RUNSPACES = 0x0002_1003,
    /// Server: the answer to a SET_*/GET_AVAILABLE_RUNSPACES call.
    RUNSPACE_AVAILABILITY = 0x0002_1004,
    /// Server: the runspace pool's state.
    RUNSPACEPOOL_STATE = 0x0002_1005,
    /// Client: run a pipeline.
    CREATE_PIPELINE = 0x0002_1006,
    /// Client: how many runspaces are available.
    GET_AVAILABLE_RUNSPACES = 0x0002_1007,
    /// Server: a PowerShell event for the client.
    USER_EVENT = 0x0002_1008,
    /// Server: the application private data (`$PSSenderInfo.ApplicationArguments` peer).
    APPLICATION_PRIVATE_DATA = 0x0002_1009,
    /// Client: command metadata query (`Get-Command` for implicit remoting).
    GET_COMMAND_METADATA = 0x0002_100A,
    /// Server: a host call on the pool's host.
    RUNSPACEPOOL_HOST_CALL = 0x0002_1100,
    /// Client: the answer to a pool host call.
    RUNSPACEPOOL_HOST_RESPONSE = 0x0002_1101,
    /// Client: one input object of a pipeline.
    PIPELINE_INPUT = 0x0004_1002,
    /// Client: no more pipeline input.
    END_OF_PIPELINE_INPUT = 0x0004_1003,
    /// Server: one output object.
    PIPELINE_OUTPUT = 0x0004_1004,
    /// Server: one error record.
    ERROR_RECORD = 0x0004_1005,
    /// Server: the pipeline's state.
    PIPELINE_STATE = 0x0004_1006,
    /// Server: a debug record.
    DEBUG_RECORD = 0x0004_1007,
    /// Server: a verbose record.
    VERBOSE_RECORD = 0x0004_1008,
    /// Server: a warning record.
    WARNING_RECORD = 0x0004_1009,
    /// Server: a progress record.
    PROGRESS_RECORD = 0x0004_1010,
    /// Server: an information record (PowerShell 5 and later).
    INFORMATION_RECORD = 0x0004_1011,
    /// Server: a host call on the pipeline's host.
    PIPELINE_HOST_CALL = 0x0004_1100,
    /// Client: the answer to a pipeline host call.
    PIPELINE_HOST_RESPONSE = 0x0004_1101,
}

/// A PSRP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who the message is for.
    pub destination: Destination,
    /// What it is.
    pub kind: MessageType,
    /// The runspace pool id.
    pub rpid: Guid,
    /// The pipeline id ([`Guid::NIL`] for pool-level messages).
    pub pid: Guid,
    /// The data, exactly as carried (a BOM, if any, is kept).
    pub data: Vec<u8>,
}

/// A message that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Fewer bytes than the 40-byte header.
    #[error("a PSRP message needs a {HEADER_LEN}-byte header; got {len} byte(s)")]
    Short {
        /// The bytes given.
        len: usize,
    },
    /// The destination is neither 1 (client) nor 2 (server). The message type is kept.
    #[error("destination {value:#010x} is neither client (1) nor server (2)")]
    BadDestination {
        /// The wire value.
        value: u32,
        /// The message type that followed it.
        kind: MessageType,
    },
    /// The data is not UTF-8 text (asked for by [`Message::text`]).
    #[error("the data of {kind:?} is not UTF-8 at byte {offset}")]
    NotUtf8 {
        /// The message type.
        kind: MessageType,
        /// The offset of the first bad byte, in the data after any BOM.
        offset: usize,
    },
    /// The data is not the CLIXML expected (asked for by [`Message::value`]).
    #[error("the data of {kind:?}: {source}")]
    Clixml {
        /// The message type.
        kind: MessageType,
        /// What is wrong with the XML.
        source: clixml::Error,
    },
}

impl Message {
    /// A message whose data is `value` as CLIXML (without a BOM, as pypsrp writes).
    pub fn with_value(
        destination: Destination,
        kind: MessageType,
        rpid: Guid,
        pid: Guid,
        value: &Value,
    ) -> Message {
        Message {
            destination,
            kind,
            rpid,
            pid,
            data: clixml::to_string(value).into_bytes(),
        }
    }

    /// Appends the wire form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(HEADER_LEN + self.data.len());
        out.extend_from_slice(&self.destination.as_u32().to_le_bytes());
        out.extend_from_slice(&self.kind.as_u32().to_le_bytes());
        out.extend_from_slice(&self.rpid.to_dotnet_bytes());
        out.extend_from_slice(&self.pid.to_dotnet_bytes());
        out.extend_from_slice(&self.data);
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Reads a whole message (a reassembled fragment object): everything after the
    /// header is the data.
    ///
    /// # Errors
    /// [`MessageError::Short`], [`MessageError::BadDestination`].
    pub fn decode(input: &[u8]) -> Result<Message, MessageError> {
        let Some((header, data)) = input.split_first_chunk::<HEADER_LEN>() else {
            return Err(MessageError::Short { len: input.len() });
        };
        let u32_at =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let guid_at = |i: usize| {
            let mut b = [0u8; 16];
            b.copy_from_slice(&header[i..i + 16]);
            Guid::from_dotnet_bytes(b)
        };
        let kind = MessageType::from_u32(u32_at(4));
        let value = u32_at(0);
        let destination =
            Destination::from_u32(value).ok_or(MessageError::BadDestination { value, kind })?;
        Ok(Message {
            destination,
            kind,
            rpid: guid_at(8),
            pid: guid_at(24),
            data: data.to_vec(),
        })
    }

    /// The data as text, without a leading BOM.
    ///
    /// # Errors
    /// [`MessageError::NotUtf8`].
    pub fn text(&self) -> Result<&str, MessageError> {
        let body = self.data.strip_prefix(UTF8_BOM).unwrap_or(&self.data);
        std::str::from_utf8(body).map_err(|e| MessageError::NotUtf8 {
            kind: self.kind,
            offset: e.valid_up_to(),
        })
    }

    /// The data read as one CLIXML value, within `limits`.
    ///
    /// # Errors
    /// [`MessageError::NotUtf8`], [`MessageError::Clixml`].
    pub fn value(&self, limits: &clixml::Limits) -> Result<Value, MessageError> {
        clixml::from_str(self.text()?, limits).map_err(|source| MessageError::Clixml {
            kind: self.kind,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_types_round_trip_and_unknown_values_are_kept() {
        for t in MessageType::ALL {
            assert_eq!(MessageType::from_u32(t.as_u32()), *t);
            assert!(t.name().is_some());
        }
        assert_eq!(MessageType::ALL.len(), 31);
        assert_eq!(
            MessageType::from_u32(0x0004_1010),
            MessageType::PROGRESS_RECORD
        );
        assert_eq!(
            MessageType::from_u32(0x0009_9999),
            MessageType::Unknown(0x0009_9999)
        );
        assert_eq!(MessageType::Unknown(7).as_u32(), 7);
    }

    #[test]
    fn header_layout_is_little_endian_with_dotnet_guids() {
        let rpid: Guid = "00112233-4455-6677-8899-aabbccddeeff".parse().unwrap();
        let m = Message {
            destination: Destination::Server,
            kind: MessageType::SESSION_CAPABILITY,
            rpid,
            pid: Guid::NIL,
            data: b"<x/>".to_vec(),
        };
        let b = m.to_bytes();
        assert_eq!(&b[0..8], &[2, 0, 0, 0, 2, 0, 1, 0]);
        assert_eq!(&b[8..12], &[0x33, 0x22, 0x11, 0x00]);
        assert_eq!(&b[40..], b"<x/>");
        assert_eq!(Message::decode(&b).unwrap(), m);
    }

    #[test]
    fn decode_errors_keep_what_was_read() {
        assert_eq!(
            Message::decode(&[0; 39]),
            Err(MessageError::Short { len: 39 })
        );
        let mut b = [0u8; 40];
        b[0] = 3;
        b[4..8].copy_from_slice(&0x0002_1006u32.to_le_bytes());
        assert_eq!(
            Message::decode(&b),
            Err(MessageError::BadDestination {
                value: 3,
                kind: MessageType::CREATE_PIPELINE
            })
        );
    }

    #[test]
    fn text_strips_a_bom_and_reports_bad_utf8() {
        let mut m = Message {
            destination: Destination::Client,
            kind: MessageType::PIPELINE_OUTPUT,
            rpid: Guid::NIL,
            pid: Guid::NIL,
            data: b"\xEF\xBB\xBF<S>hi</S>".to_vec(),
        };
        assert_eq!(m.text().unwrap(), "<S>hi</S>");
        assert_eq!(
            m.value(&clixml::Limits::default()).unwrap(),
            Value::String("hi".into())
        );
        m.data = b"<S>\xff</S>".to_vec();
        assert_eq!(
            m.text(),
            Err(MessageError::NotUtf8 {
                kind: MessageType::PIPELINE_OUTPUT,
                offset: 3
            })
        );
    }
}
