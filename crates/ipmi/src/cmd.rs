//! Command request and response codecs (one type per command of the reference table).
