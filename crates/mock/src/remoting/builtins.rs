//! The cmdlets and variables a remoting client meets before any scenario says
//! anything: the `Write-*` family (one per stream), `Get-Service`, `Get-Process`,
//! `Get-ComputerInfo` (from the machine's identity), `Get-Command` (what the session
//! configuration shows), `Get-Date`, `Get-Location`, `Start-Sleep`, `Invoke-Expression`
//! and the formatting tail evil-winrm-py puts on every line (`Out-String -Stream`),
//! `Select-Object`, `Measure-Object`, and the variables `$PSVersionTable`, `$pwd`,
//! `$env:...`, `$true`/`$false`/`$null`.

// A terminating error is a whole ErrorRecord, returned once per failed statement of a
// simulated pipeline: boxing it would buy nothing measurable.
#![allow(clippy::result_large_err)]

use psrp::clixml::Obj;
use psrp::records::ErrorRecord;
use psrp::{Value, server};

use super::engine::{Emit, Runner, command_not_found, error, param, positional, switch, text_of};
use super::script::Arg;

/// The Windows PowerShell the mock is (5.1 on Server 2019).
const PS_VERSION: &str = "5.1.17763.1";

/// (name, display name, running).
const SERVICES: [(&str, &str, bool); 6] = [
    ("Dnscache", "DNS Client", true),
    ("EventLog", "Windows Event Log", true),
    ("LanmanServer", "Server", true),
    ("Spooler", "Print Spooler", false),
    ("W32Time", "Windows Time", true),
    ("WinRM", "Windows Remote Management (WS-Management)", true),
];

/// (name, id, working set).
const PROCESSES: [(&str, i32, i64); 7] = [
    ("csrss", 412, 4_825_088),
    ("lsass", 628, 15_806_464),
    ("services", 612, 8_159_232),
    ("svchost", 784, 24_358_912),
    ("System", 4, 143_360),
    ("wininit", 500, 6_012_928),
    ("wsmprovhost", 3120, 68_911_104),
];

/// The cmdlets the built-ins answer (what `Get-Command` lists on a full endpoint, with
/// the scenario's).
pub(crate) const NAMES: [&str; 25] = [
    "Get-Command",
    "Get-ComputerInfo",
    "Get-Date",
    "Get-Location",
    "Get-Process",
    "Get-Service",
    "Invoke-Expression",
    "Measure-Object",
    "Out-Default",
    "Out-Null",
    "Out-String",
    "Select-Object",
    "Start-Sleep",
    "Write-Debug",
    "Write-Error",
    "Write-Host",
    "Write-Information",
    "Write-Output",
    "Write-Progress",
    "Write-Verbose",
    "Write-Warning",
    "hostname",
    "whoami",
    "Clear-Host",
    "Exit-PSSession",
];

/// An information record written by `source`.
pub(crate) fn information(r: &Runner<'_, '_>, message: &str, tags: &[&str], source: &str) -> Value {
    let from = server::InformationSource {
        source: source.into(),
        time_generated: datetime(r.ctx.unix_now + r.clock / 1000),
        user: format!("{}\\{}", r.ctx.hostname, r.ctx.user),
        computer: r.ctx.hostname.into(),
        process_id: 3120,
    };
    server::information_record(message, tags, &from)
}

/// A CLIXML dateTime as .NET writes one (`2026-01-01T00:00:00.0000000+00:00`).
fn datetime(unix: u64) -> String {
    let z = machine::format_datetime(unix);
    format!("{}.0000000+00:00", z.trim_end_matches('Z'))
}

/// The text of the first positional argument or of `-name`.
fn arg_text(args: &[Arg], name: &str) -> Option<String> {
    param(args, name)
        .or_else(|| positional(args).next())
        .map(text_of)
}

/// Whether `name` matches a PowerShell wildcard `pattern` (`*`, `?`), case-insensitively.
pub(crate) fn wildcard(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// Name filters of `-Name` (one value or a list), `None` for all.
fn name_filters(args: &[Arg]) -> Option<Vec<String>> {
    let v = param(args, "Name").or_else(|| positional(args).next())?;
    Some(match v {
        Value::List(l) => l.iter().map(text_of).collect(),
        other => vec![text_of(other)],
    })
}

fn service(name: &str, display: &str, running: bool) -> Value {
    let status = if running {
        Obj::enumeration(
            "System.ServiceProcess.ServiceControllerStatus",
            "Running",
            4,
        )
    } else {
        Obj::enumeration(
            "System.ServiceProcess.ServiceControllerStatus",
            "Stopped",
            1,
        )
    };
    let mut o = Obj::new([
        "System.ServiceProcess.ServiceController",
        "System.ComponentModel.Component",
        "System.MarshalByRefObject",
        "System.Object",
    ])
    .with_to_string("System.ServiceProcess.ServiceController");
    o = o
        .adapted("Name", Value::string(name))
        .adapted("DisplayName", Value::string(display))
        .adapted("ServiceName", Value::string(name))
        .adapted("Status", status.into())
        .adapted("MachineName", Value::string("."));
    o.into()
}

fn process(name: &str, id: i32, ws: i64) -> Value {
    Obj::new([
        "System.Diagnostics.Process",
        "System.ComponentModel.Component",
        "System.MarshalByRefObject",
        "System.Object",
    ])
    .with_to_string(&format!("System.Diagnostics.Process ({name})"))
    .adapted("ProcessName", Value::string(name))
    .adapted("Id", Value::I32(id))
    .adapted("WorkingSet64", Value::I64(ws))
    .ext("Name", Value::string(name))
    .into()
}

/// Matches `filters` against `names`; a filter without wildcards that matches nothing
/// is an error made by `missing`.
fn select<T: Copy>(
    r: &mut Runner<'_, '_>,
    all: &[T],
    name_of: impl Fn(&T) -> &str,
    filters: Option<Vec<String>>,
    missing: impl Fn(&str) -> ErrorRecord,
) -> Vec<T> {
    let Some(filters) = filters else {
        return all.to_vec();
    };
    let mut out = Vec::new();
    for f in filters {
        let hits: Vec<T> = all
            .iter()
            .filter(|x| wildcard(&f, name_of(x)))
            .copied()
            .collect();
        if hits.is_empty() && !f.contains(['*', '?']) {
            r.emit(Emit::Error(missing(&f)));
        }
        out.extend(hits);
    }
    out
}

/// The version table of Windows PowerShell 5.1 on Windows Server 2019, as
/// `$PSVersionTable` shows it (`compatible`: with PSCompatibleVersions) and as the
/// application private data carries it (without).
pub(crate) fn version_entries(compatible: bool) -> Vec<(Value, Value)> {
    let version = |name: &str, v: &str| (Value::string(name), Value::Version(v.into()));
    let mut entries = vec![
        version("PSVersion", PS_VERSION),
        (Value::string("PSEdition"), Value::string("Desktop")),
    ];
    if compatible {
        entries.push((
            Value::string("PSCompatibleVersions"),
            Value::List(
                ["1.0", "2.0", "3.0", "4.0", "5.0", PS_VERSION]
                    .iter()
                    .map(|v| Value::Version((*v).into()))
                    .collect(),
            ),
        ));
    }
    entries.extend([
        version("BuildVersion", "10.0.17763.1"),
        version("CLRVersion", "4.0.30319.42000"),
        version("WSManStackVersion", "3.0"),
        version("PSRemotingProtocolVersion", "2.3"),
        version("SerializationVersion", "1.1.0.1"),
    ]);
    entries
}

/// `$PSVersionTable`.
fn ps_version_table() -> Value {
    Obj::new(["System.Collections.Hashtable", "System.Object"])
        .with_base(Value::Dict(version_entries(true)))
        .into()
}

/// A variable expression (`$PSVersionTable.PSVersion`, `$pwd.Path`, `$env:NAME`).
pub(crate) fn variable(r: &mut Runner<'_, '_>, expr: &str) -> Result<Vec<Value>, ErrorRecord> {
    let lower = expr.to_ascii_lowercase();
    if let Some(name) = lower.strip_prefix("$env:") {
        let v = match name {
            "computername" => Some(r.ctx.hostname.to_owned()),
            "username" => Some(r.ctx.user.to_owned()),
            "userprofile" => Some(format!("C:\\Users\\{}", r.ctx.user)),
            "windir" | "systemroot" => Some("C:\\Windows".into()),
            _ => None,
        };
        return Ok(v.map(Value::string).into_iter().collect());
    }
    let (var, path) = lower.split_once('.').unwrap_or((&lower, ""));
    let base = match var {
        "$true" => Value::Bool(true),
        "$false" => Value::Bool(false),
        "$null" => return Ok(Vec::new()),
        "$psversiontable" => ps_version_table(),
        "$pwd" => location(r),
        "$host" => Obj::default()
            .with_to_string("ServerRemoteHost")
            .ext("Name", Value::string("ServerRemoteHost"))
            .into(),
        _ => return Ok(Vec::new()),
    };
    if path.is_empty() {
        return Ok(vec![base]);
    }
    Ok(member(&base, path).into_iter().collect())
}

/// A property (or hashtable key) of a value, by case-insensitive name.
fn member(v: &Value, name: &str) -> Option<Value> {
    let o = v.as_obj()?;
    if let Some(Value::Dict(d)) = &o.base {
        return d
            .iter()
            .find(|(k, _)| text_of(k).eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone());
    }
    o.extended
        .iter()
        .chain(&o.adapted)
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

fn location(r: &Runner<'_, '_>) -> Value {
    let path = format!("C:\\Users\\{}\\Documents", r.ctx.user);
    Obj::new(["System.Management.Automation.PathInfo", "System.Object"])
        .with_to_string(&path)
        .adapted("Drive", Value::string("C"))
        .adapted(
            "Provider",
            Value::string("Microsoft.PowerShell.Core\\FileSystem"),
        )
        .adapted("ProviderPath", Value::string(path.as_str()))
        .adapted("Path", Value::string(path.as_str()))
        .into()
}

/// A `CmdletInfo` as `Get-Command` lists it.
fn command_info(name: &str) -> Value {
    Obj::new([
        "System.Management.Automation.CmdletInfo",
        "System.Management.Automation.CommandInfo",
        "System.Object",
    ])
    .with_to_string(name)
    .adapted("Name", Value::string(name))
    .adapted(
        "CommandType",
        Obj::enumeration("System.Management.Automation.CommandTypes", "Cmdlet", 8).into(),
    )
    .adapted("Source", Value::string("Microsoft.PowerShell.Management"))
    .into()
}

/// The lines `Out-String` makes of an object.
fn lines_of(v: &Value) -> Vec<String> {
    match v {
        Value::Obj(o)
            if o.base.is_none()
                && o.to_string.as_deref().is_none_or(|t| {
                    t.starts_with("@{") || o.type_names.first().is_some_and(|n| n == t)
                }) =>
        {
            let props: Vec<&(String, Value)> = o.adapted.iter().chain(&o.extended).collect();
            if props.is_empty() {
                return vec![text_of(v)];
            }
            let width = props.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            props
                .iter()
                .map(|(k, v)| format!("{k:<width$} : {}", text_of(v)))
                .collect()
        }
        Value::Obj(o) if matches!(o.base, Some(Value::Dict(_))) => {
            let Some(Value::Dict(d)) = &o.base else {
                return Vec::new();
            };
            let width = d
                .iter()
                .map(|(k, _)| text_of(k).len())
                .max()
                .unwrap_or(4)
                .max(4);
            let mut out = vec![
                format!("{:<width$} Value", "Name"),
                format!("{:<width$} -----", "----"),
            ];
            out.extend(
                d.iter()
                    .map(|(k, v)| format!("{:<width$} {}", text_of(k), text_of(v))),
            );
            out
        }
        Value::List(l) => l.iter().flat_map(lines_of).collect(),
        other => text_of(other).lines().map(str::to_owned).collect(),
    }
}

/// Runs built-in `name`; `Ok(None)` when it is none.
pub(crate) fn run(
    r: &mut Runner<'_, '_>,
    name: &str,
    args: &[Arg],
    input: Vec<Value>,
) -> Result<Option<Vec<Value>>, ErrorRecord> {
    let lower = name.to_ascii_lowercase();
    let text = |n: &str| arg_text(args, n).unwrap_or_default();
    let out = match lower.as_str() {
        "write-output" | "echo" | "write" => {
            let mut out = input;
            out.extend(param(args, "InputObject").cloned());
            for v in positional(args) {
                match v {
                    Value::List(l) => out.extend(l.iter().cloned()),
                    v => out.push(v.clone()),
                }
            }
            out
        }
        "write-error" => {
            let message = text("Message");
            let category =
                param(args, "Category").map_or(0, |c| super::engine::category(&text_of(c)));
            let id = param(args, "ErrorId").map_or(
                "Microsoft.PowerShell.Commands.WriteErrorException".to_owned(),
                text_of,
            );
            let e = error(
                &message,
                "Microsoft.PowerShell.Commands.WriteErrorException",
                &id,
                category,
                None,
            );
            r.emit(Emit::Error(e));
            Vec::new()
        }
        "write-warning" => {
            r.emit(Emit::Warning(text("Message")));
            Vec::new()
        }
        "write-verbose" => {
            if switch(args, "Verbose") {
                r.emit(Emit::Verbose(text("Message")));
            }
            Vec::new()
        }
        "write-debug" => {
            if switch(args, "Debug") {
                r.emit(Emit::Debug(text("Message")));
            }
            Vec::new()
        }
        "write-information" => {
            let tags: Vec<String> = match param(args, "Tags") {
                Some(Value::List(l)) => l.iter().map(text_of).collect(),
                Some(v) => vec![text_of(v)],
                None => Vec::new(),
            };
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            let v = information(r, &text("MessageData"), &tags, "Write-Information");
            r.emit(Emit::Information(v));
            Vec::new()
        }
        "write-host" => {
            let message = param(args, "Object")
                .map(text_of)
                .unwrap_or_else(|| positional(args).map(text_of).collect::<Vec<_>>().join(" "));
            let v = information(r, &message, &["PSHOST"], "Write-Host");
            r.emit(Emit::Information(v));
            Vec::new()
        }
        "write-progress" => {
            let v = server::progress_record(
                &text("Activity"),
                &param(args, "Status").map_or("Processing".into(), text_of),
                match param(args, "PercentComplete") {
                    Some(Value::I32(p)) => *p,
                    _ => -1,
                },
                switch(args, "Completed"),
            );
            r.emit(Emit::Progress(v));
            Vec::new()
        }
        "get-service" => {
            let hits = select(
                r,
                &SERVICES,
                |s| s.0,
                name_filters(args),
                |n| {
                    error(
                        &format!("Cannot find any service with service name '{n}'."),
                        "Microsoft.PowerShell.Commands.ServiceCommandException",
                        "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand",
                        13,
                        Some(n),
                    )
                },
            );
            hits.iter().map(|(n, d, run)| service(n, d, *run)).collect()
        }
        "get-process" | "ps" => {
            let hits = select(
                r,
                &PROCESSES,
                |p| p.0,
                name_filters(args),
                |n| {
                    error(
                        &format!(
                            "Cannot find a process with the name \"{n}\". Verify the process name and call the cmdlet again."
                        ),
                        "Microsoft.PowerShell.Commands.ProcessCommandException",
                        "NoProcessFoundForGivenName,Microsoft.PowerShell.Commands.GetProcessCommand",
                        13,
                        Some(n),
                    )
                },
            );
            hits.iter()
                .map(|(n, id, ws)| process(n, *id, *ws))
                .collect()
        }
        "get-computerinfo" => {
            let c = r.ctx;
            vec![
                Obj::new([
                    "Microsoft.PowerShell.Commands.ComputerInfo",
                    "System.Object",
                ])
                .with_to_string("Microsoft.PowerShell.Commands.ComputerInfo")
                .adapted("CsName", Value::string(c.hostname))
                .adapted("CsDNSHostName", Value::string(c.hostname))
                .adapted(
                    "WindowsProductName",
                    Value::string("Windows Server 2019 Standard"),
                )
                .adapted(
                    "OsName",
                    Value::string("Microsoft Windows Server 2019 Standard"),
                )
                .adapted("OsVersion", Value::string("10.0.17763"))
                .adapted("OsBuildNumber", Value::string("17763"))
                .adapted("PowerShellVersion", Value::Version(PS_VERSION.into()))
                .into(),
            ]
        }
        "get-command" | "gcm" => {
            let mut names: Vec<String> = match r.ctx.config {
                Some(cfg) if !cfg.visible_cmdlets.is_empty() => cfg
                    .visible_cmdlets
                    .iter()
                    .cloned()
                    .chain(
                        machine::cmdlet::RESTRICTED_DEFAULTS
                            .iter()
                            .map(|s| (*s).to_owned()),
                    )
                    .collect(),
                _ => NAMES
                    .iter()
                    .map(|s| (*s).to_owned())
                    .chain(r.ctx.cmdlets.iter().map(|c| c.name.clone()))
                    .collect(),
            };
            names.sort_by_key(|n| n.to_ascii_lowercase());
            names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
            let filters = name_filters(args);
            let mut out = Vec::new();
            match filters {
                None => out.extend(names.iter().map(|n| command_info(n))),
                Some(fs) => {
                    for f in fs {
                        let hits: Vec<&String> = names.iter().filter(|n| wildcard(&f, n)).collect();
                        if hits.is_empty() && !f.contains(['*', '?']) {
                            let mut e = command_not_found(&f);
                            e.fully_qualified_error_id =
                                "CommandNotFoundException,Microsoft.PowerShell.Commands.GetCommandCommand".into();
                            r.emit(Emit::Error(e));
                        }
                        out.extend(hits.into_iter().map(|n| command_info(n)));
                    }
                }
            }
            out
        }
        "get-date" => vec![Value::DateTime(datetime(r.ctx.unix_now + r.clock / 1000))],
        "get-location" | "pwd" => vec![location(r)],
        "hostname" => vec![Value::string(r.ctx.hostname)],
        "whoami" => vec![Value::string(format!(
            "{}\\{}",
            r.ctx.hostname.to_ascii_lowercase(),
            r.ctx.user
        ))],
        "start-sleep" | "sleep" => {
            let ms = match (
                param(args, "Milliseconds"),
                param(args, "Seconds").or_else(|| positional(args).next()),
            ) {
                (Some(v), _) => text_of(v).parse::<u64>().unwrap_or(0),
                (None, Some(v)) => text_of(v).parse::<u64>().unwrap_or(0).saturating_mul(1000),
                (None, None) => 0,
            };
            r.clock = r.clock.saturating_add(ms);
            Vec::new()
        }
        "invoke-expression" | "iex" => {
            let command = text("Command");
            r.script(&command, input)?
        }
        "out-string" => {
            let lines: Vec<String> = input.iter().flat_map(lines_of).collect();
            if switch(args, "Stream") {
                lines.into_iter().map(Value::String).collect()
            } else if lines.is_empty() {
                Vec::new()
            } else {
                vec![Value::String(lines.join("\r\n") + "\r\n")]
            }
        }
        "out-null" => Vec::new(),
        "out-default" => input,
        "select-object" | "select" => {
            let first = param(args, "First").and_then(|v| text_of(v).parse::<usize>().ok());
            let mut out: Vec<Value> = match first {
                Some(n) => input.into_iter().take(n).collect(),
                None => input,
            };
            if let Some(p) = param(args, "ExpandProperty") {
                let p = text_of(p);
                out = out.iter().filter_map(|v| member(v, &p)).collect();
            }
            out
        }
        "measure-object" => vec![
            Obj::new([
                "Microsoft.PowerShell.Commands.GenericMeasureInfo",
                "System.Object",
            ])
            .with_to_string("Microsoft.PowerShell.Commands.GenericMeasureInfo")
            .adapted(
                "Count",
                Value::I32(i32::try_from(input.len()).unwrap_or(i32::MAX)),
            )
            .into(),
        ],
        "clear-host" | "cls" | "exit-pssession" | "exit" => Vec::new(),
        _ => return Ok(None),
    };
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_powershell() {
        assert!(wildcard("Get-*", "get-service"));
        assert!(wildcard("*Rm", "WinRM"));
        assert!(wildcard("W?nRM", "WinRM"));
        assert!(!wildcard("Get-*", "Set-Item"));
        assert!(wildcard("*", ""));
    }

    #[test]
    fn out_string_lists_an_objects_properties() {
        let v = server::custom_object(
            vec![
                ("Name".into(), Value::string("a")),
                ("LongName".into(), Value::I32(1)),
            ],
            &[],
        );
        assert_eq!(lines_of(&v), vec!["Name     : a", "LongName : 1"]);
        assert_eq!(lines_of(&Value::string("x\r\ny")), vec!["x", "y"]);
    }
}
