//! Cipher suites and the crypto of IPMI 1.5 and RMCP+ sessions.
