//! The remote-console side of a LAN session.
