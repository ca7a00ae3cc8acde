//! RMCP, ASF and the IPMI 1.5 / RMCP+ session wrappers.
