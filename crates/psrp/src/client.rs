//! The client's side of the records: what a client sends (INIT_RUNSPACEPOOL,
//! CREATE_PIPELINE as [MS-PSRP] 2.2.2.2 and 2.2.2.10 lay them out, in the shape
//! pypsrp and PowerShell send them) and what it reads back (RUNSPACEPOOL_STATE,
//! PIPELINE_STATE, the informational records).
//!
//! The mock reads these messages with [`InitRunspacePool::from_value`] and
//! [`CreatePipeline::from_value`]; the conformance suite writes them here, so the two
//! directions are tested against each other and against pypsrp's own bytes
//! (`tests/pypsrp_fixtures.rs`).

use crate::clixml::{Obj, Value};
use crate::records::{
    Command, CreatePipeline, ErrorRecord, InitRunspacePool, Parameter, RecordError,
};

/// The host a client without a UI announces ([MS-PSRP] 2.2.3.14): every part null,
/// the runspace's own host used.
pub fn null_host_info() -> Value {
    Obj::default()
        .ext("_isHostNull", Value::Bool(true))
        .ext("_isHostUINull", Value::Bool(true))
        .ext("_isHostRawUINull", Value::Bool(true))
        .ext("_useRunspaceHost", Value::Bool(true))
        .into()
}

/// `ApartmentState` (2.2.3.7) by number: 0 STA, 1 MTA, anything else Unknown (2).
fn apartment_state(n: Option<i32>) -> Value {
    let (name, v) = match n {
        Some(0) => ("STA", 0),
        Some(1) => ("MTA", 1),
        _ => ("UNKNOWN", 2),
    };
    Obj::enumeration(
        "System.Management.Automation.Runspaces.ApartmentState",
        name,
        v,
    )
    .into()
}

/// `PipelineResultTypes` None (2.2.3.31): no stream merged.
fn no_merge() -> Value {
    Obj::enumeration(
        "System.Management.Automation.Runspaces.PipelineResultTypes",
        "None",
        0,
    )
    .into()
}

impl InitRunspacePool {
    /// The message's value: the runspace counts, thread options and apartment state as
    /// enum objects, a null host, and the application arguments as a
    /// `PSPrimitiveDictionary` (`<Nil/>` when there are none).
    pub fn to_value(&self) -> Value {
        let thread = self.thread_options.unwrap_or(0);
        let thread_name = match thread {
            1 => "UseNewThread",
            2 => "ReuseThread",
            3 => "UseCurrentThread",
            _ => "Default",
        };
        let arguments = if self.application_arguments.is_empty() {
            Value::Null
        } else {
            Obj::new([
                "System.Management.Automation.PSPrimitiveDictionary",
                "System.Collections.Hashtable",
                "System.Object",
            ])
            .with_base(Value::Dict(self.application_arguments.clone()))
            .into()
        };
        Obj::default()
            .ext("MinRunspaces", Value::I32(self.min_runspaces))
            .ext("MaxRunspaces", Value::I32(self.max_runspaces))
            .ext(
                "PSThreadOptions",
                Obj::enumeration(
                    "System.Management.Automation.Runspaces.PSThreadOptions",
                    thread_name,
                    thread,
                )
                .into(),
            )
            .ext("ApartmentState", apartment_state(self.apartment_state))
            .ext("HostInfo", null_host_info())
            .ext("ApplicationArguments", arguments)
            .into()
    }
}

/// The type names PowerShell gives the `Cmds`, `Args` and `ExtraCmds` lists.
const PSOBJECT_LIST: [&str; 2] = [
    "System.Collections.Generic.List`1[[System.Management.Automation.PSObject, System.Management.Automation, Version=1.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
    "System.Object",
];

fn list(items: Vec<Value>) -> Value {
    Obj::new(PSOBJECT_LIST).with_base(Value::List(items)).into()
}

fn command_value(c: &Command) -> Value {
    let args = c
        .parameters
        .iter()
        .map(|p: &Parameter| {
            Obj::default()
                .ext("N", p.name.as_deref().map_or(Value::Null, Value::string))
                .ext("V", p.value.clone())
                .into()
        })
        .collect();
    let mut o = Obj::default()
        .ext("Cmd", Value::string(&*c.command))
        .ext("IsScript", Value::Bool(c.is_script))
        .ext(
            "UseLocalScope",
            c.use_local_scope.map_or(Value::Null, Value::Bool),
        )
        .ext("MergeMyResult", no_merge())
        .ext("MergeToResult", no_merge())
        .ext("MergePreviousResults", no_merge())
        .ext("Args", list(args));
    for m in [
        "MergeError",
        "MergeWarning",
        "MergeVerbose",
        "MergeDebug",
        "MergeInformation",
    ] {
        o = o.ext(m, no_merge());
    }
    o.into()
}

fn cmds_value(cmds: &[Command]) -> Value {
    list(cmds.iter().map(command_value).collect())
}

impl CreatePipeline {
    /// The message's value: one statement as `PowerShell.Cmds`; several also as
    /// `PowerShell.ExtraCmds` (with the first in `Cmds`, as PowerShell sends it), a
    /// null host, remote stream options `AddInvocationInfo` (15) and an Unknown
    /// apartment state.
    pub fn to_value(&self) -> Value {
        let first = self.statements.first().map_or(&[][..], Vec::as_slice);
        let mut ps = Obj::default().ext("IsNested", Value::Bool(self.is_nested));
        if self.statements.len() > 1 {
            let extra = self
                .statements
                .iter()
                .map(|s| Obj::default().ext("Cmds", cmds_value(s)).into())
                .collect();
            ps = ps.ext("ExtraCmds", list(extra));
        }
        ps = ps
            .ext("Cmds", cmds_value(first))
            .ext("History", Value::Null)
            .ext("RedirectShellErrorOutputPipe", Value::Bool(false));
        Obj::default()
            .ext("NoInput", Value::Bool(self.no_input))
            .ext("ApartmentState", apartment_state(None))
            .ext(
                "RemoteStreamOptions",
                Obj::enumeration(
                    "System.Management.Automation.Runspaces.RemoteStreamOptions",
                    "AddInvocationInfo",
                    15,
                )
                .into(),
            )
            .ext("AddToHistory", Value::Bool(self.add_to_history))
            .ext("HostInfo", null_host_info())
            .ext("PowerShell", ps.into())
            .ext("IsNested", Value::Bool(self.is_nested))
            .into()
    }
}

/// A state message as read: the state's number and, when it carries one, the error
/// record (`ExceptionAsErrorRecord`) that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRead {
    /// The state's number (2.2.3.4 for a pool, 2.2.3.5 for a pipeline).
    pub state: i32,
    /// The error record that came with it.
    pub error: Option<ErrorRecord>,
}

fn read_state(
    v: &Value,
    record: &'static str,
    property: &'static str,
) -> Result<StateRead, RecordError> {
    let o = v.as_obj().ok_or(RecordError::NotAnObject { record })?;
    let state = match o.prop(property) {
        Some(Value::I32(i)) => *i,
        // Some servers send the enum object rather than its number.
        Some(Value::Obj(e)) => match &e.base {
            Some(Value::I32(i)) => *i,
            _ => {
                return Err(RecordError::WrongType {
                    record,
                    property,
                    expected: "32-bit integer",
                });
            }
        },
        Some(_) => {
            return Err(RecordError::WrongType {
                record,
                property,
                expected: "32-bit integer",
            });
        }
        None => return Err(RecordError::Missing { record, property }),
    };
    let error = match o.prop("ExceptionAsErrorRecord") {
        None | Some(Value::Null) => None,
        Some(e) => Some(ErrorRecord::from_value(e)?),
    };
    Ok(StateRead { state, error })
}

/// Reads RUNSPACEPOOL_STATE (2.2.2.9): `RunspaceState` and any error.
///
/// # Errors
/// [`RecordError`] when the state is missing or not a number, or the error record is
/// malformed.
pub fn read_runspace_pool_state(v: &Value) -> Result<StateRead, RecordError> {
    read_state(v, "RUNSPACEPOOL_STATE", "RunspaceState")
}

/// Reads PIPELINE_STATE (2.2.2.21): `PipelineState` and any error.
///
/// # Errors
/// As [`read_runspace_pool_state`].
pub fn read_pipeline_state(v: &Value) -> Result<StateRead, RecordError> {
    read_state(v, "PIPELINE_STATE", "PipelineState")
}

/// The text of an informational record (DEBUG/VERBOSE/WARNING_RECORD, 2.2.3.16):
/// `InformationalRecord_Message`, or the object's `ToString`, or a bare string.
pub fn informational_message(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Obj(o) => o
            .prop("InformationalRecord_Message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| o.to_string.clone()),
        _ => None,
    }
}

/// The text of an INFORMATION_RECORD (2.2.5.1.26): `MessageData` (a string, or an
/// object's `ToString`).
pub fn information_message(v: &Value) -> Option<String> {
    let o = v.as_obj()?;
    match o.prop("MessageData")? {
        Value::String(s) => Some(s.clone()),
        Value::Obj(m) => m.to_string.clone(),
        other => other.as_str().map(str::to_owned),
    }
}

/// The text of a PROGRESS_RECORD (2.2.5.1.25): `Activity` and `StatusDescription`.
pub fn progress_message(v: &Value) -> Option<String> {
    let o = v.as_obj()?;
    let activity = o.prop("Activity").and_then(Value::as_str).unwrap_or("");
    let status = o
        .prop("StatusDescription")
        .and_then(Value::as_str)
        .unwrap_or("");
    Some(format!("{activity}: {status}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clixml::{self, Limits};
    use crate::records::{PipelineState, RunspacePoolState, pipeline_state, runspace_pool_state};

    fn reread(v: &Value) -> Value {
        clixml::from_str(&clixml::to_string(v), &Limits::default()).unwrap()
    }

    /// What the client writes, the server side reads back as sent.
    #[test]
    fn init_runspace_pool_round_trips_through_the_server_reader() {
        let init = InitRunspacePool {
            min_runspaces: 1,
            max_runspaces: 4,
            thread_options: Some(0),
            apartment_state: Some(2),
            application_arguments: vec![(Value::string("k"), Value::string("v"))],
        };
        let back = InitRunspacePool::from_value(&reread(&init.to_value())).unwrap();
        assert_eq!(back, init);
        let bare = InitRunspacePool {
            application_arguments: vec![],
            ..init
        };
        assert_eq!(
            InitRunspacePool::from_value(&reread(&bare.to_value())).unwrap(),
            bare
        );
    }

    #[test]
    fn create_pipeline_round_trips_one_and_several_statements() {
        let cmd = |name: &str, script: bool, params: Vec<Parameter>| Command {
            command: name.into(),
            is_script: script,
            use_local_scope: if script { Some(true) } else { None },
            parameters: params,
        };
        let one = CreatePipeline {
            no_input: true,
            add_to_history: false,
            is_nested: false,
            statements: vec![vec![
                cmd(
                    "Get-Service",
                    false,
                    vec![
                        Parameter {
                            name: Some("Name".into()),
                            value: Value::string("winrm"),
                        },
                        Parameter {
                            name: None,
                            value: Value::I32(3),
                        },
                    ],
                ),
                cmd("Select-Object", false, vec![]),
            ]],
        };
        assert_eq!(
            CreatePipeline::from_value(&reread(&one.to_value())).unwrap(),
            one
        );
        let several = CreatePipeline {
            statements: vec![
                vec![cmd("Write-Output 'a'", true, vec![])],
                vec![cmd("Get-Date", false, vec![])],
            ],
            ..one
        };
        assert_eq!(
            CreatePipeline::from_value(&reread(&several.to_value())).unwrap(),
            several
        );
    }

    #[test]
    fn states_are_read_with_their_error_records() {
        let e = ErrorRecord::new(
            "no such command",
            "System.Management.Automation.CommandNotFoundException",
            "CommandNotFoundException",
            13,
        );
        let v = reread(&pipeline_state(PipelineState::Failed, Some(&e)));
        let s = read_pipeline_state(&v).unwrap();
        assert_eq!(s.state, PipelineState::Failed as i32);
        assert_eq!(
            s.error.unwrap().fully_qualified_error_id,
            "CommandNotFoundException"
        );
        let v = reread(&runspace_pool_state(RunspacePoolState::Opened, None));
        assert_eq!(
            read_runspace_pool_state(&v).unwrap(),
            StateRead {
                state: 2,
                error: None
            }
        );
        // A state as an enum object is read by its number; a missing or mistyped state
        // is an error naming the property.
        let as_enum: Value = Obj::default()
            .ext(
                "PipelineState",
                Obj::enumeration("x.PSInvocationState", "Stopped", 3).into(),
            )
            .into();
        assert_eq!(read_pipeline_state(&as_enum).unwrap().state, 3);
        let missing: Value = Obj::default().into();
        assert!(matches!(
            read_pipeline_state(&missing),
            Err(RecordError::Missing {
                property: "PipelineState",
                ..
            })
        ));
        let wrong: Value = Obj::default()
            .ext("RunspaceState", Value::string("Opened"))
            .into();
        assert!(matches!(
            read_runspace_pool_state(&wrong),
            Err(RecordError::WrongType { .. })
        ));
        assert!(read_pipeline_state(&Value::I32(4)).is_err());
    }

    #[test]
    fn informational_texts_are_found_wherever_they_are_kept() {
        use crate::records::{Informational, informational_record};
        let v = reread(&informational_record(Informational::Warning, "careful"));
        assert_eq!(informational_message(&v).as_deref(), Some("careful"));
        assert_eq!(
            informational_message(&Value::string("plain")).as_deref(),
            Some("plain")
        );
        assert_eq!(informational_message(&Value::I32(1)), None);
        let info: Value = Obj::default()
            .ext("MessageData", Value::string("hello"))
            .into();
        assert_eq!(information_message(&info).as_deref(), Some("hello"));
        let progress: Value = Obj::default()
            .ext("Activity", Value::string("Copying"))
            .ext("StatusDescription", Value::string("half"))
            .into();
        assert_eq!(
            progress_message(&progress).as_deref(),
            Some("Copying: half")
        );
        assert_eq!(information_message(&Value::Null), None);
    }
}
