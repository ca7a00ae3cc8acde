//! The IPMI message (addresses, NetFn/LUN, sequence, command, data) and its checksums.
