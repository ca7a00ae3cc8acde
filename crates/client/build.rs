//! Probes for OpenIPMI's `ipmi_sim`, the third-party BMC of `tests/interop_ipmi_sim.rs`
//! (see `.ci/build_probe.rs`).

include!("../../.ci/build_probe.rs");

fn main() {
    probe_tools(&[Tool::Program("has_ipmi_sim", "ipmi_sim")]);
}
