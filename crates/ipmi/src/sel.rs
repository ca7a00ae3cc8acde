//! SEL entries (16-byte records) and the SEL info.
