//! PowerShell Remoting Protocol ([MS-PSRP]) codecs, sans-IO: what the mock needs to speak
//! PSRP inside a WinRM shell (`http://schemas.microsoft.com/powershell/...`), and what
//! tests need to check it.
//!
//! Four layers, each a pure function of its input:
//! - [`fragment`]: the 21-byte-header fragments WinRM streams carry, cutting a message to
//!   a maximum size and reassembling per object id within [`fragment::Limits`];
//! - [`message`]: the message inside a reassembled object (destination, type, runspace
//!   pool and pipeline GUIDs, data);
//! - [`clixml`]: the serialized PowerShell objects in a message's data, read within
//!   [`clixml::Limits`] and written with `RefId`s and shared type names;
//! - [`records`]: the handful of messages a server-side mock builds or reads
//!   (SESSION_CAPABILITY, INIT_RUNSPACEPOOL, CREATE_PIPELINE, states, output, errors),
//!   and [`server`], the pool-level requests and their answers and the stream records
//!   PowerShell 5 added (information, progress).
//!
//! Nothing here does IO, reads a clock or draws randomness; no input makes it panic
//! (proptests feed arbitrary bytes to every decoder), and every size it holds is
//! bounded by limits the caller passes.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod client;
pub mod clixml;
pub mod fragment;
pub mod guid;
pub mod message;
pub mod records;
pub mod server;

pub use clixml::{Obj, Value};
pub use fragment::{Defragmenter, Fragment};
pub use guid::Guid;
pub use message::{Destination, Message, MessageType};
