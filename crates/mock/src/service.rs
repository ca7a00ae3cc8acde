//! The WS-Man service's public names, kept where other crates look for them: the
//! service itself is `crate::wsman` (the request pipeline, one file per operation
//! family) and the mock's state and API are in `mock.rs`.

pub use crate::mock::Mock;
pub use crate::wsman::windows_code;
