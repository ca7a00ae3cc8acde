//! The PSRP messages a server-side mock builds and reads, as typed records over
//! [`Value`]: SESSION_CAPABILITY both ways, INIT_RUNSPACEPOOL and CREATE_PIPELINE read,
//! and the server's RUNSPACEPOOL_STATE, APPLICATION_PRIVATE_DATA, PIPELINE_STATE,
//! PIPELINE_OUTPUT, ERROR_RECORD and the informational (warning, verbose, debug) records
//! built ([MS-PSRP] 2.2.2 and 2.2.3).
//!
//! Readers are lenient where clients differ (a missing optional property is `None`) and
//! precise where they must not: a missing or mistyped required property is a
//! [`RecordError`] naming the record and the property.

use crate::clixml::{Obj, Value};

/// The protocol version this crate speaks (PowerShell 5.1's).
pub const PROTOCOL_VERSION: &str = "2.3";
/// The PowerShell version announced in SESSION_CAPABILITY.
pub const PS_VERSION: &str = "2.0";
/// The serialization version announced in SESSION_CAPABILITY.
pub const SERIALIZATION_VERSION: &str = "1.1.0.1";

/// A record whose properties are not what the message type requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The message's value is not an object.
    #[error("{record} is not an object")]
    NotAnObject {
        /// The record, by its message type name.
        record: &'static str,
    },
    /// A required property is absent.
    #[error("{record} has no {property} property")]
    Missing {
        /// The record.
        record: &'static str,
        /// The property.
        property: &'static str,
    },
    /// A property of the wrong type.
    #[error("{record}'s {property} is not a {expected}")]
    WrongType {
        /// The record.
        record: &'static str,
        /// The property.
        property: &'static str,
        /// What it should be.
        expected: &'static str,
    },
}

fn obj<'a>(v: &'a Value, record: &'static str) -> Result<&'a Obj, RecordError> {
    v.as_obj().ok_or(RecordError::NotAnObject { record })
}

fn required<'a>(
    o: &'a Obj,
    record: &'static str,
    property: &'static str,
) -> Result<&'a Value, RecordError> {
    o.prop(property)
        .ok_or(RecordError::Missing { record, property })
}

fn wrong(record: &'static str, property: &'static str, expected: &'static str) -> RecordError {
    RecordError::WrongType {
        record,
        property,
        expected,
    }
}

/// An optional boolean: absent or `<Nil/>` is `None`.
fn opt_bool(
    o: &Obj,
    record: &'static str,
    property: &'static str,
) -> Result<Option<bool>, RecordError> {
    match o.prop(property) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(wrong(record, property, "boolean")),
    }
}

// ---------------------------------------------------------------------------------------
// SESSION_CAPABILITY

/// SESSION_CAPABILITY (2.2.2.1): the versions each side speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCapability {
    /// `protocolversion`, e.g. `2.3`.
    pub protocol_version: String,
    /// `PSVersion`, e.g. `2.0`.
    pub ps_version: String,
    /// `SerializationVersion`, e.g. `1.1.0.1`.
    pub serialization_version: String,
    /// `TimeZone`: the client's serialized time zone, opaque here.
    pub time_zone: Option<Vec<u8>>,
}

impl Default for SessionCapability {
    /// The versions of [`PROTOCOL_VERSION`], [`PS_VERSION`] and [`SERIALIZATION_VERSION`].
    fn default() -> SessionCapability {
        SessionCapability {
            protocol_version: PROTOCOL_VERSION.into(),
            ps_version: PS_VERSION.into(),
            serialization_version: SERIALIZATION_VERSION.into(),
            time_zone: None,
        }
    }
}

impl SessionCapability {
    const RECORD: &'static str = "SESSION_CAPABILITY";

    /// The message's value.
    pub fn to_value(&self) -> Value {
        let mut o = Obj::default()
            .ext(
                "protocolversion",
                Value::Version(self.protocol_version.clone()),
            )
            .ext("PSVersion", Value::Version(self.ps_version.clone()))
            .ext(
                "SerializationVersion",
                Value::Version(self.serialization_version.clone()),
            );
        if let Some(tz) = &self.time_zone {
            o = o.ext("TimeZone", Value::Bytes(tz.clone()));
        }
        o.into()
    }

    /// Reads the message's value.
    ///
    /// # Errors
    /// [`RecordError`] for a missing or mistyped version.
    pub fn from_value(v: &Value) -> Result<SessionCapability, RecordError> {
        let o = obj(v, Self::RECORD)?;
        let version = |p: &'static str| match required(o, Self::RECORD, p)? {
            Value::Version(s) => Ok(s.clone()),
            _ => Err(wrong(Self::RECORD, p, "Version")),
        };
        let time_zone = match o.prop("TimeZone") {
            None | Some(Value::Null) => None,
            Some(Value::Bytes(b)) => Some(b.clone()),
            Some(_) => return Err(wrong(Self::RECORD, "TimeZone", "byte array")),
        };
        Ok(SessionCapability {
            protocol_version: version("protocolversion")?,
            ps_version: version("PSVersion")?,
            serialization_version: version("SerializationVersion")?,
            time_zone,
        })
    }
}

// ---------------------------------------------------------------------------------------
// INIT_RUNSPACEPOOL

/// INIT_RUNSPACEPOOL (2.2.2.2), the parts a server acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct InitRunspacePool {
    /// `MinRunspaces`.
    pub min_runspaces: i32,
    /// `MaxRunspaces`.
    pub max_runspaces: i32,
    /// `PSThreadOptions`, as its number (0 Default, 1 UseNewThread, ...), if sent.
    pub thread_options: Option<i32>,
    /// `ApartmentState`, as its number (0 STA, 1 MTA, 2 Unknown), if sent.
    pub apartment_state: Option<i32>,
    /// `ApplicationArguments` entries (a `PSPrimitiveDictionary`), if any.
    pub application_arguments: Vec<(Value, Value)>,
}

impl InitRunspacePool {
    const RECORD: &'static str = "INIT_RUNSPACEPOOL";

    /// Reads the message's value.
    ///
    /// # Errors
    /// [`RecordError`] when `MinRunspaces`/`MaxRunspaces` are missing or not `<I32>`.
    pub fn from_value(v: &Value) -> Result<InitRunspacePool, RecordError> {
        let o = obj(v, Self::RECORD)?;
        let int = |p: &'static str| match required(o, Self::RECORD, p)? {
            Value::I32(i) => Ok(*i),
            _ => Err(wrong(Self::RECORD, p, "32-bit integer")),
        };
        let application_arguments = match o.prop("ApplicationArguments") {
            None | Some(Value::Null) => Vec::new(),
            Some(a) => a
                .as_dict()
                .ok_or(wrong(Self::RECORD, "ApplicationArguments", "dictionary"))?
                .to_vec(),
        };
        Ok(InitRunspacePool {
            min_runspaces: int("MinRunspaces")?,
            max_runspaces: int("MaxRunspaces")?,
            thread_options: o.prop("PSThreadOptions").and_then(Value::as_i32),
            apartment_state: o.prop("ApartmentState").and_then(Value::as_i32),
            application_arguments,
        })
    }
}

// ---------------------------------------------------------------------------------------
// CREATE_PIPELINE

/// One parameter of a command (2.2.3.13): `N` is `None` for a positional argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// The parameter name, or `None` for a positional argument.
    pub name: Option<String>,
    /// The value (`Null` for a switch given without one).
    pub value: Value,
}

/// One command of a pipeline (2.2.3.12).
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// `Cmd`: the cmdlet name, or the script text when `is_script`.
    pub command: String,
    /// `IsScript`.
    pub is_script: bool,
    /// `UseLocalScope` (`None` when sent as `<Nil/>`).
    pub use_local_scope: Option<bool>,
    /// `Args`, in order.
    pub parameters: Vec<Parameter>,
}

/// CREATE_PIPELINE (2.2.2.10), the parts a server acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatePipeline {
    /// `NoInput`: no PIPELINE_INPUT will follow.
    pub no_input: bool,
    /// `AddToHistory`.
    pub add_to_history: bool,
    /// `IsNested`.
    pub is_nested: bool,
    /// The statements, each a pipeline of commands. One statement comes as
    /// `PowerShell.Cmds`; several as `PowerShell.ExtraCmds` (each with its own `Cmds`),
    /// which then take precedence over `Cmds`.
    pub statements: Vec<Vec<Command>>,
}

impl CreatePipeline {
    const RECORD: &'static str = "CREATE_PIPELINE";

    /// Reads the message's value.
    ///
    /// # Errors
    /// [`RecordError`] for a missing `PowerShell`, `Cmds` or `Cmd`, or mistyped fields.
    pub fn from_value(v: &Value) -> Result<CreatePipeline, RecordError> {
        const R: &str = CreatePipeline::RECORD;
        let o = obj(v, R)?;
        let ps = obj(required(o, R, "PowerShell")?, R)?;
        let statements = match ps.prop("ExtraCmds") {
            Some(extra) if !matches!(extra, Value::Null) => {
                let list = extra.as_list().ok_or(wrong(R, "ExtraCmds", "list"))?;
                list.iter()
                    .map(|s| commands(obj(s, R)?))
                    .collect::<Result<Vec<_>, _>>()?
            }
            _ => vec![commands(ps)?],
        };
        Ok(CreatePipeline {
            no_input: opt_bool(o, R, "NoInput")?.unwrap_or(false),
            add_to_history: opt_bool(o, R, "AddToHistory")?.unwrap_or(false),
            is_nested: opt_bool(o, R, "IsNested")?.unwrap_or(false),
            statements,
        })
    }
}

/// The `Cmds` list of a `PowerShell` or `ExtraCmds` entry.
fn commands(holder: &Obj) -> Result<Vec<Command>, RecordError> {
    const R: &str = CreatePipeline::RECORD;
    let cmds = required(holder, R, "Cmds")?
        .as_list()
        .ok_or(wrong(R, "Cmds", "list"))?;
    cmds.iter()
        .map(|c| {
            let c = obj(c, R)?;
            let command = required(c, R, "Cmd")?
                .as_str()
                .ok_or(wrong(R, "Cmd", "string"))?
                .to_owned();
            let parameters = match c.prop("Args") {
                None | Some(Value::Null) => Vec::new(),
                Some(args) => args
                    .as_list()
                    .ok_or(wrong(R, "Args", "list"))?
                    .iter()
                    .map(|a| {
                        let a = obj(a, R)?;
                        let name = match a.prop("N") {
                            None | Some(Value::Null) => None,
                            Some(Value::String(s)) => Some(s.clone()),
                            Some(_) => return Err(wrong(R, "N", "string")),
                        };
                        let value = a.prop("V").cloned().unwrap_or(Value::Null);
                        Ok(Parameter { name, value })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            };
            Ok(Command {
                command,
                is_script: opt_bool(c, R, "IsScript")?.unwrap_or(false),
                use_local_scope: opt_bool(c, R, "UseLocalScope")?,
                parameters,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Server messages

/// A runspace pool's state (2.2.3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum RunspacePoolState {
    BeforeOpen = 0,
    Opening = 1,
    Opened = 2,
    Closed = 3,
    Closing = 4,
    Broken = 5,
    NegotiationSent = 6,
    NegotiationSucceeded = 7,
    Connecting = 8,
    Disconnected = 9,
}

/// A pipeline's state (2.2.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum PipelineState {
    NotStarted = 0,
    Running = 1,
    Stopping = 2,
    Stopped = 3,
    Completed = 4,
    Failed = 5,
    Disconnected = 6,
}

/// RUNSPACEPOOL_STATE (2.2.2.9): the state, and for `Broken` the error that broke it.
pub fn runspace_pool_state(state: RunspacePoolState, error: Option<&ErrorRecord>) -> Value {
    let mut o = Obj::default().ext("RunspaceState", Value::I32(state as i32));
    if let Some(e) = error {
        o = o.ext("ExceptionAsErrorRecord", e.to_value());
    }
    o.into()
}

/// APPLICATION_PRIVATE_DATA (2.2.2.13): `ApplicationPrivateData` as a
/// `PSPrimitiveDictionary` of `entries` (Windows sends `DebugMode`, `DebugStop`,
/// `PSVersionTable` and the like; an empty one is valid).
pub fn application_private_data(entries: Vec<(Value, Value)>) -> Value {
    let dict = Obj::new([
        "System.Management.Automation.PSPrimitiveDictionary",
        "System.Collections.Hashtable",
        "System.Object",
    ])
    .with_base(Value::Dict(entries));
    Obj::default()
        .ext("ApplicationPrivateData", dict.into())
        .into()
}

/// PIPELINE_STATE (2.2.2.21): the state, and for `Failed` the error.
pub fn pipeline_state(state: PipelineState, error: Option<&ErrorRecord>) -> Value {
    let mut o = Obj::default().ext("PipelineState", Value::I32(state as i32));
    if let Some(e) = error {
        o = o.ext("ExceptionAsErrorRecord", e.to_value());
    }
    o.into()
}

/// PIPELINE_OUTPUT (2.2.2.18) of one string: the output object is the whole data.
pub fn pipeline_output_string(s: &str) -> Value {
    Value::string(s)
}

/// Which informational stream a record is for (2.2.2.22-2.2.2.24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Informational {
    /// DEBUG_RECORD.
    Debug,
    /// VERBOSE_RECORD.
    Verbose,
    /// WARNING_RECORD.
    Warning,
}

/// A DEBUG/VERBOSE/WARNING_RECORD (2.2.3.16): the message, without invocation info.
pub fn informational_record(kind: Informational, message: &str) -> Value {
    let t = match kind {
        Informational::Debug => "System.Management.Automation.DebugRecord",
        Informational::Verbose => "System.Management.Automation.VerboseRecord",
        Informational::Warning => "System.Management.Automation.WarningRecord",
    };
    Obj::new([
        t,
        "System.Management.Automation.InformationalRecord",
        "System.Object",
    ])
    .with_to_string(message)
    .ext("InformationalRecord_Message", Value::string(message))
    .ext(
        "InformationalRecord_SerializeInvocationInfo",
        Value::Bool(false),
    )
    .into()
}

/// An ErrorRecord (2.2.3.15), as ERROR_RECORD carries it and state messages embed it
/// as `ExceptionAsErrorRecord`. Invocation info is not serialized
/// (`SerializeExtendedInfo` is false).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRecord {
    /// The exception's message (also the record's `ToString`).
    pub message: String,
    /// The exception's .NET type, e.g. `System.Management.Automation.RuntimeException`.
    pub exception_type: String,
    /// `FullyQualifiedErrorId`.
    pub fully_qualified_error_id: String,
    /// `ErrorCategory_Category` (2.2.3.9: 0 NotSpecified, 13 ObjectNotFound, ...).
    pub category: i32,
    /// `ErrorCategory_Activity`.
    pub activity: Option<String>,
    /// `ErrorCategory_Reason` (usually the exception's short type name).
    pub reason: Option<String>,
    /// `ErrorCategory_TargetName`.
    pub target_name: Option<String>,
    /// `ErrorCategory_TargetType`.
    pub target_type: Option<String>,
    /// `ErrorCategory_Message`: the category line PowerShell prints.
    pub category_message: Option<String>,
}

impl ErrorRecord {
    const RECORD: &'static str = "ERROR_RECORD";

    /// A record for `message` thrown as `exception_type`, with `fully_qualified_error_id`
    /// and `category`; the reason is the exception type's last segment.
    pub fn new(
        message: &str,
        exception_type: &str,
        fully_qualified_error_id: &str,
        category: i32,
    ) -> ErrorRecord {
        let reason = exception_type.rsplit('.').next().unwrap_or(exception_type);
        ErrorRecord {
            message: message.into(),
            exception_type: exception_type.into(),
            fully_qualified_error_id: fully_qualified_error_id.into(),
            category,
            activity: None,
            reason: Some(reason.into()),
            target_name: None,
            target_type: None,
            category_message: None,
        }
    }

    /// The record's value.
    pub fn to_value(&self) -> Value {
        let mut exc_types = vec![self.exception_type.clone()];
        for t in ["System.Exception", "System.Object"] {
            if !exc_types.iter().any(|x| x == t) {
                exc_types.push(t.into());
            }
        }
        let exception = Obj::new(exc_types)
            .with_to_string(&format!("{}: {}", self.exception_type, self.message))
            .adapted("Message", Value::string(&*self.message))
            .adapted("InnerException", Value::Null)
            .adapted("HelpLink", Value::Null)
            .adapted("Source", Value::Null);
        let opt = |s: &Option<String>| s.as_deref().map_or(Value::Null, Value::string);
        Obj::new(["System.Management.Automation.ErrorRecord", "System.Object"])
            .with_to_string(&self.message)
            .ext("Exception", exception.into())
            .ext("TargetObject", Value::Null)
            .ext(
                "FullyQualifiedErrorId",
                Value::string(&*self.fully_qualified_error_id),
            )
            .ext("InvocationInfo", Value::Null)
            .ext("ErrorCategory_Category", Value::I32(self.category))
            .ext("ErrorCategory_Activity", opt(&self.activity))
            .ext("ErrorCategory_Reason", opt(&self.reason))
            .ext("ErrorCategory_TargetName", opt(&self.target_name))
            .ext("ErrorCategory_TargetType", opt(&self.target_type))
            .ext("ErrorCategory_Message", opt(&self.category_message))
            .ext("SerializeExtendedInfo", Value::Bool(false))
            .into()
    }

    /// Reads an error record (the message, the id and the category; the exception's
    /// type is its first type name, its message its `Message` property or, failing
    /// that, the record's `ToString`).
    ///
    /// # Errors
    /// [`RecordError`] for a missing `FullyQualifiedErrorId` or
    /// `ErrorCategory_Category`, or mistyped fields.
    pub fn from_value(v: &Value) -> Result<ErrorRecord, RecordError> {
        const R: &str = ErrorRecord::RECORD;
        let o = obj(v, R)?;
        let string = |p: &'static str| match o.prop(p) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(wrong(R, p, "string")),
        };
        let exception = o.prop("Exception").and_then(Value::as_obj);
        let message = exception
            .and_then(|e| e.prop("Message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| o.to_string.clone())
            .unwrap_or_default();
        Ok(ErrorRecord {
            message,
            exception_type: exception
                .and_then(|e| e.type_names.first().cloned())
                .unwrap_or_default(),
            fully_qualified_error_id: string("FullyQualifiedErrorId")?.ok_or(
                RecordError::Missing {
                    record: R,
                    property: "FullyQualifiedErrorId",
                },
            )?,
            category: match required(o, R, "ErrorCategory_Category")? {
                Value::I32(i) => *i,
                _ => return Err(wrong(R, "ErrorCategory_Category", "32-bit integer")),
            },
            activity: string("ErrorCategory_Activity")?,
            reason: string("ErrorCategory_Reason")?,
            target_name: string("ErrorCategory_TargetName")?,
            target_type: string("ErrorCategory_TargetType")?,
            category_message: string("ErrorCategory_Message")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clixml::{self, Limits};

    fn reread(v: &Value) -> Value {
        clixml::from_str(&clixml::to_string(v), &Limits::default()).unwrap()
    }

    #[test]
    fn session_capability_round_trips_and_names_what_is_missing() {
        let sc = SessionCapability::default();
        let v = reread(&sc.to_value());
        assert_eq!(SessionCapability::from_value(&v).unwrap(), sc);
        let s = clixml::to_string(&v);
        assert!(
            s.contains("<Version N=\"protocolversion\">2.3</Version>"),
            "{s}"
        );
        let no_ps = Obj::default()
            .ext("protocolversion", Value::Version("2.3".into()))
            .into();
        assert_eq!(
            SessionCapability::from_value(&no_ps),
            Err(RecordError::Missing {
                record: "SESSION_CAPABILITY",
                property: "PSVersion"
            })
        );
    }

    #[test]
    fn error_record_round_trips_through_clixml() {
        let mut e = ErrorRecord::new(
            "The term 'nope' is not recognized",
            "System.Management.Automation.CommandNotFoundException",
            "CommandNotFoundException",
            13,
        );
        e.target_name = Some("nope".into());
        let v = reread(&e.to_value());
        assert_eq!(ErrorRecord::from_value(&v).unwrap(), e);
        assert_eq!(e.reason.as_deref(), Some("CommandNotFoundException"));
        let state = reread(&pipeline_state(PipelineState::Failed, Some(&e)));
        assert_eq!(state.prop("PipelineState"), Some(&Value::I32(5)));
        assert_eq!(
            ErrorRecord::from_value(state.prop("ExceptionAsErrorRecord").unwrap()).unwrap(),
            e
        );
    }

    #[test]
    fn server_messages_carry_their_fields() {
        let v = reread(&runspace_pool_state(RunspacePoolState::Opened, None));
        assert_eq!(v.prop("RunspaceState"), Some(&Value::I32(2)));
        let apd = reread(&application_private_data(vec![(
            Value::string("DebugMode"),
            Value::I32(1),
        )]));
        let d = apd.prop("ApplicationPrivateData").unwrap();
        assert_eq!(
            d.as_obj().unwrap().type_names[0],
            "System.Management.Automation.PSPrimitiveDictionary"
        );
        assert_eq!(
            d.as_dict().unwrap(),
            [(Value::string("DebugMode"), Value::I32(1))]
        );
        let w = reread(&informational_record(Informational::Warning, "careful"));
        assert_eq!(
            w.prop("InformationalRecord_Message"),
            Some(&Value::string("careful"))
        );
        assert_eq!(
            w.as_obj().unwrap().type_names[0],
            "System.Management.Automation.WarningRecord"
        );
        assert_eq!(
            reread(&pipeline_output_string("a\r\nb")),
            Value::string("a\r\nb")
        );
    }

    #[test]
    fn create_pipeline_errors_name_the_property() {
        let v: Value = Obj::default().ext("NoInput", Value::Bool(true)).into();
        assert_eq!(
            CreatePipeline::from_value(&v),
            Err(RecordError::Missing {
                record: "CREATE_PIPELINE",
                property: "PowerShell"
            })
        );
        let v: Value = Obj::default()
            .ext(
                "PowerShell",
                Obj::default()
                    .ext(
                        "Cmds",
                        Value::List(vec![Obj::default().ext("Cmd", Value::I32(1)).into()]),
                    )
                    .into(),
            )
            .into();
        assert_eq!(
            CreatePipeline::from_value(&v),
            Err(RecordError::WrongType {
                record: "CREATE_PIPELINE",
                property: "Cmd",
                expected: "string"
            })
        );
        assert_eq!(
            InitRunspacePool::from_value(&Value::I32(1)),
            Err(RecordError::NotAnObject {
                record: "INIT_RUNSPACEPOOL"
            })
        );
    }
}
