//! Probes for the clients the interop tests drive (see `.ci/build_probe.rs`).

include!("../../.ci/build_probe.rs");

fn main() {
    probe_tools(&[
        Tool::Python("has_pypsrp", "pypsrp"),
        Tool::Python("has_pywinrm", "winrm"),
        Tool::Python("has_pyghmi", "pyghmi"),
        Tool::Python("has_pyipmi", "pyipmi"),
        Tool::Program("has_ipmitool", "ipmitool"),
        Tool::Program("has_freeipmi", "bmc-info"),
        Tool::Ipv6Loopback("has_ipv6_loopback"),
        Tool::Cached(
            "has_evil_winrm_py",
            "EVIL_WINRM_PY",
            "touchstone/evil-winrm-py-venv/bin/evil-winrm-py",
        ),
    ]);
}
