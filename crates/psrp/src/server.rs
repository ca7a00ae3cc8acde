//! More of what a server builds and reads ([MS-PSRP] 2.2.2): the pool-level requests a
//! client sends after the pool is open (SET_MAX/MIN_RUNSPACES, GET_AVAILABLE_RUNSPACES,
//! RESET_RUNSPACE_STATE, each carrying a call id `ci`) and their RUNSPACE_AVAILABILITY
//! answer, RUNSPACEPOOL_INIT_DATA (a connect's answer), and the PowerShell 5 stream
//! records (INFORMATION_RECORD, PROGRESS_RECORD).

use crate::clixml::{Obj, Value};
use crate::records::RecordError;

/// A pool-level request with its call id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolRequest {
    /// SET_MAX_RUNSPACES (2.2.2.6).
    SetMax {
        /// `MaxRunspaces`.
        max: i32,
        /// The call id.
        ci: i64,
    },
    /// SET_MIN_RUNSPACES (2.2.2.7).
    SetMin {
        /// `MinRunspaces`.
        min: i32,
        /// The call id.
        ci: i64,
    },
    /// GET_AVAILABLE_RUNSPACES (2.2.2.11), also pypsrp's keep-alive.
    GetAvailable {
        /// The call id.
        ci: i64,
    },
    /// RESET_RUNSPACE_STATE (2.2.2.31).
    Reset {
        /// The call id.
        ci: i64,
    },
}

fn prop_ci(v: &Value, record: &'static str) -> Result<i64, RecordError> {
    let o = v.as_obj().ok_or(RecordError::NotAnObject { record })?;
    // MS-PSRP writes `ci`; pypsrp's SET_MAX/MIN_RUNSPACES write `CI`.
    let ci = o
        .prop("ci")
        .or_else(|| o.prop("CI"))
        .ok_or(RecordError::Missing {
            record,
            property: "ci",
        })?;
    match ci {
        Value::I64(i) => Ok(*i),
        Value::I32(i) => Ok(i64::from(*i)),
        _ => Err(RecordError::WrongType {
            record,
            property: "ci",
            expected: "64-bit integer",
        }),
    }
}

fn prop_i32(v: &Value, record: &'static str, property: &'static str) -> Result<i32, RecordError> {
    match v.prop(property) {
        Some(Value::I32(i)) => Ok(*i),
        None => Err(RecordError::Missing { record, property }),
        Some(_) => Err(RecordError::WrongType {
            record,
            property,
            expected: "32-bit integer",
        }),
    }
}

impl PoolRequest {
    /// Reads the request of message type `kind` (its name, e.g. `SET_MAX_RUNSPACES`);
    /// `Ok(None)` for a type that is not one of these.
    ///
    /// # Errors
    /// [`RecordError`] for a missing or mistyped `ci` or count.
    pub fn from_value(kind: &str, v: &Value) -> Result<Option<PoolRequest>, RecordError> {
        Ok(Some(match kind {
            "SET_MAX_RUNSPACES" => PoolRequest::SetMax {
                max: prop_i32(v, "SET_MAX_RUNSPACES", "MaxRunspaces")?,
                ci: prop_ci(v, "SET_MAX_RUNSPACES")?,
            },
            "SET_MIN_RUNSPACES" => PoolRequest::SetMin {
                min: prop_i32(v, "SET_MIN_RUNSPACES", "MinRunspaces")?,
                ci: prop_ci(v, "SET_MIN_RUNSPACES")?,
            },
            "GET_AVAILABLE_RUNSPACES" => PoolRequest::GetAvailable {
                ci: prop_ci(v, "GET_AVAILABLE_RUNSPACES")?,
            },
            "RESET_RUNSPACE_STATE" => PoolRequest::Reset {
                ci: prop_ci(v, "RESET_RUNSPACE_STATE")?,
            },
            _ => return Ok(None),
        }))
    }

    /// The call id.
    pub fn ci(&self) -> i64 {
        match *self {
            PoolRequest::SetMax { ci, .. }
            | PoolRequest::SetMin { ci, .. }
            | PoolRequest::GetAvailable { ci }
            | PoolRequest::Reset { ci } => ci,
        }
    }
}

/// What RUNSPACE_AVAILABILITY (2.2.2.8) answers: a set or reset succeeded (or not), or
/// how many runspaces are free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// The answer to SET_MAX/MIN_RUNSPACES and RESET_RUNSPACE_STATE.
    Done(bool),
    /// The answer to GET_AVAILABLE_RUNSPACES.
    Available(i64),
}

/// RUNSPACE_AVAILABILITY (2.2.2.8) for call id `ci`.
pub fn runspace_availability(answer: Availability, ci: i64) -> Value {
    let response = match answer {
        Availability::Done(b) => Value::Bool(b),
        Availability::Available(n) => Value::I64(n),
    };
    Obj::default()
        .ext("SetMinMaxRunspacesResponse", response)
        .ext("ci", Value::I64(ci))
        .into()
}

/// RUNSPACEPOOL_INIT_DATA (2.2.2.25): the pool's sizes, sent on connect.
pub fn runspacepool_init_data(min: i32, max: i32) -> Value {
    Obj::default()
        .ext("MinRunspaces", Value::I32(min))
        .ext("MaxRunspaces", Value::I32(max))
        .into()
}

/// Where an information record comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InformationSource {
    /// `Source`: the command that wrote it (`Write-Information`).
    pub source: String,
    /// `TimeGenerated` as an XML Schema dateTime.
    pub time_generated: String,
    /// `User` (`DOMAIN\user`).
    pub user: String,
    /// `Computer`.
    pub computer: String,
    /// `ProcessId`.
    pub process_id: u32,
}

/// INFORMATION_RECORD (2.2.2.26) with `message` as its `MessageData` and `tags`.
pub fn information_record(message: &str, tags: &[&str], from: &InformationSource) -> Value {
    Obj::new([
        "System.Management.Automation.InformationRecord",
        "System.Object",
    ])
    .with_to_string(message)
    .ext("MessageData", Value::string(message))
    .ext("Source", Value::string(&*from.source))
    .ext(
        "TimeGenerated",
        Value::DateTime(from.time_generated.clone()),
    )
    .ext(
        "Tags",
        Value::List(tags.iter().map(|t| Value::string(*t)).collect()),
    )
    .ext("User", Value::string(&*from.user))
    .ext("Computer", Value::string(&*from.computer))
    .ext("ProcessId", Value::U32(from.process_id))
    .ext("NativeThreadId", Value::U32(1))
    .ext("ManagedThreadId", Value::U32(1))
    .into()
}

/// PROGRESS_RECORD (2.2.2.27).
pub fn progress_record(activity: &str, status: &str, percent: i32, completed: bool) -> Value {
    let kind = if completed {
        Obj::enumeration(
            "System.Management.Automation.ProgressRecordType",
            "Completed",
            1,
        )
    } else {
        Obj::enumeration(
            "System.Management.Automation.ProgressRecordType",
            "Processing",
            0,
        )
    };
    Obj::default()
        .ext("Activity", Value::string(activity))
        .ext("ActivityId", Value::I32(0))
        .ext("StatusDescription", Value::string(status))
        .ext("CurrentOperation", Value::Null)
        .ext("ParentActivityId", Value::I32(-1))
        .ext("PercentComplete", Value::I32(percent))
        .ext("Type", kind.into())
        .ext("SecondsRemaining", Value::I32(-1))
        .into()
}

/// A `PSCustomObject` with these note properties, in order (what `[pscustomobject]@{}`
/// serializes to).
pub fn custom_object(props: Vec<(String, Value)>, type_names: &[String]) -> Value {
    let mut names: Vec<String> = type_names.to_vec();
    for t in [
        "System.Management.Automation.PSCustomObject",
        "System.Object",
    ] {
        if !names.iter().any(|n| n == t) {
            names.push(t.into());
        }
    }
    let mut o = Obj::new(names);
    let text = props
        .iter()
        .map(|(k, v)| format!("{k}={}", short_text(v)))
        .collect::<Vec<_>>()
        .join("; ");
    o.to_string = Some(format!("@{{{text}}}"));
    o.extended = props;
    o.into()
}

/// How PowerShell shows a value inside `@{...}`.
fn short_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::I32(i) => i.to_string(),
        Value::I64(i) => i.to_string(),
        Value::Double(d) => d.to_string(),
        Value::String(s) => s.clone(),
        Value::List(l) => l.iter().map(short_text).collect::<Vec<_>>().join(" "),
        Value::Obj(o) => o.to_string.clone().unwrap_or_default(),
        other => format!("{other:?}"),
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
    fn pool_requests_read_their_call_id_in_either_spelling() {
        let set = Obj::default()
            .ext("MaxRunspaces", Value::I32(4))
            .ext("CI", Value::I64(7))
            .into();
        assert_eq!(
            PoolRequest::from_value("SET_MAX_RUNSPACES", &reread(&set)).unwrap(),
            Some(PoolRequest::SetMax { max: 4, ci: 7 })
        );
        let get = Obj::default().ext("ci", Value::I64(9)).into();
        let r = PoolRequest::from_value("GET_AVAILABLE_RUNSPACES", &get)
            .unwrap()
            .unwrap();
        assert_eq!(r.ci(), 9);
        assert_eq!(
            PoolRequest::from_value("GET_AVAILABLE_RUNSPACES", &Value::I32(1)),
            Err(RecordError::NotAnObject {
                record: "GET_AVAILABLE_RUNSPACES"
            })
        );
        assert_eq!(
            PoolRequest::from_value("SET_MIN_RUNSPACES", &get),
            Err(RecordError::Missing {
                record: "SET_MIN_RUNSPACES",
                property: "MinRunspaces"
            })
        );
        assert_eq!(PoolRequest::from_value("PUBLIC_KEY", &get), Ok(None));
    }

    #[test]
    fn server_records_carry_their_fields() {
        let a = reread(&runspace_availability(Availability::Available(3), 2));
        assert_eq!(a.prop("SetMinMaxRunspacesResponse"), Some(&Value::I64(3)));
        assert_eq!(a.prop("ci"), Some(&Value::I64(2)));
        let from = InformationSource {
            source: "Write-Information".into(),
            time_generated: "2026-01-01T00:00:00Z".into(),
            user: "HOST\\admin".into(),
            computer: "HOST".into(),
            process_id: 4242,
        };
        let i = reread(&information_record("hello", &["PSHOST"], &from));
        assert_eq!(i.prop("MessageData"), Some(&Value::string("hello")));
        assert_eq!(
            i.prop("Tags").and_then(Value::as_list).map(<[Value]>::len),
            Some(1)
        );
        let p = reread(&progress_record("Copying", "half", 50, false));
        assert_eq!(p.prop("PercentComplete"), Some(&Value::I32(50)));
        assert_eq!(
            p.prop("Type")
                .and_then(Value::as_obj)
                .and_then(|o| o.to_string.clone()),
            Some("Processing".into())
        );
        let c = reread(&custom_object(
            vec![
                ("Name".into(), Value::string("w")),
                ("Size".into(), Value::I32(3)),
            ],
            &[],
        ));
        let o = c.as_obj().unwrap();
        assert_eq!(
            o.type_names[0],
            "System.Management.Automation.PSCustomObject"
        );
        assert_eq!(o.to_string.as_deref(), Some("@{Name=w; Size=3}"));
        assert_eq!(c.prop("Size"), Some(&Value::I32(3)));
    }
}
