//! The seeded PowerShell Remoting defects the pools carry out (`[wsman] defects`,
//! `crate::scenario::WSMAN_DEFECTS`), read once per PSRP request.

use psrp::Message;
use psrp::fragment::Fragment;

/// The seeded defects (`[wsman] defects`, `crate::scenario::WSMAN_DEFECTS`) the pools
/// carry out; those about the WS-Man envelope are `wsman/psrp.rs`'s.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Defects {
    /// `psrp_no_application_private_data`: INIT_RUNSPACEPOOL is answered without
    /// APPLICATION_PRIVATE_DATA.
    pub no_application_private_data: bool,
    /// `psrp_stop_completes`: a stopped pipeline ends Completed.
    pub stop_completes: bool,
    /// `psrp_unknown_command_fault`: a pipeline whose command does not exist makes its
    /// Command a fault instead of ending Failed.
    pub unknown_command_fault: bool,
}

impl Defects {
    /// The defects `scenario` switches on.
    pub(crate) fn of(scenario: &crate::scenario::Scenario) -> Defects {
        Defects {
            no_application_private_data: scenario.defect("psrp_no_application_private_data"),
            stop_completes: scenario.defect("psrp_stop_completes"),
            unknown_command_fault: scenario.defect("psrp_unknown_command_fault"),
        }
    }
}

/// The pipeline id (upper case) a Command's first fragment names, if it can be read.
pub(crate) fn pipeline_id_of(first: &[u8]) -> Option<String> {
    let (f, _) = Fragment::decode_prefix(first).ok()?;
    let m = Message::decode(&f.blob).ok()?;
    (!m.pid.is_nil()).then(|| m.pid.to_string().to_ascii_uppercase())
}
