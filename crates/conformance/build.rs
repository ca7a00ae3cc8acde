//! Probes for the tools of `tests/html_render.rs` (Chromium) and `tests/ipmi_sim.rs`
//! (OpenIPMI's `ipmi_sim` and `sdrcomp`); see `.ci/build_probe.rs`.

include!("../../.ci/build_probe.rs");

fn main() {
    probe_tools(&[
        Tool::Program("has_chromium", "chromium"),
        Tool::Program("has_ipmi_sim", "ipmi_sim"),
        Tool::Program("has_sdrcomp", "sdrcomp"),
    ]);
}
