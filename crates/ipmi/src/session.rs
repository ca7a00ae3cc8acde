//! The BMC side of LAN sessions.
