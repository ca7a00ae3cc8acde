//! Runs a pipeline the way PowerShell 5.1 would answer it, from the scenario: each
//! command goes to the session configuration's visibility check (JEA), then the
//! `[[machine.cmdlets]]` table, then the built-ins (`builtins.rs`); script text goes
//! to the `[[machine.scripts]]` table, then is read statement by statement
//! (`script.rs`). What comes out is a schedule: stream records and output objects at
//! milliseconds after the start, and how the pipeline ends.
//!
//! Errors behave as in PowerShell: an unknown command run as a command (the PowerShell
//! API's `AddCommand`) fails the pipeline with CommandNotFoundException; inside a script
//! it is written to the error stream and the script goes on.

// A terminating error is a whole ErrorRecord, returned once per failed statement of a
// simulated pipeline: boxing it would buy nothing measurable.
#![allow(clippy::result_large_err)]

use machine::CommandSpec;
use machine::cmdlet::{CmdletSpec, Data, EndState, ErrorSpec, LanguageMode, SessionConfigSpec};
use psrp::Value;
use psrp::records::{Command, ErrorRecord};

use super::builtins;
use super::script::{self, Arg, Stage};

/// What a pipeline sees of the machine and the session.
pub(crate) struct Ctx<'a> {
    /// The machine's host name.
    pub hostname: &'a str,
    /// The user the pool runs as.
    pub user: &'a str,
    /// The machine's wall clock, Unix seconds.
    pub unix_now: u64,
    /// `[[machine.cmdlets]]`.
    pub cmdlets: &'a [CmdletSpec],
    /// `[[machine.scripts]]`.
    pub scripts: &'a [CommandSpec],
    /// The session configuration, `None` for `Microsoft.PowerShell`.
    pub config: Option<&'a SessionConfigSpec>,
}

/// One thing a pipeline writes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Emit {
    Output(Value),
    Error(ErrorRecord),
    Warning(String),
    Verbose(String),
    Debug(String),
    Information(Value),
    Progress(Value),
}

/// How a pipeline ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum End {
    Completed,
    Failed(ErrorRecord),
    /// Runs until stopped.
    Running,
}

/// A pipeline's schedule.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Run {
    /// What it writes, at milliseconds after its start, in order.
    pub items: Vec<(u64, Emit)>,
    /// How it ends, at `end_at`.
    pub end: End,
    /// Milliseconds after the start.
    pub end_at: u64,
}

/// An ErrorCategory by name (2.2.3.9), `NotSpecified` for an unknown one.
pub(crate) fn category(name: &str) -> i32 {
    const NAMES: [&str; 32] = [
        "NotSpecified",
        "OpenError",
        "CloseError",
        "DeviceError",
        "DeadlockDetected",
        "InvalidArgument",
        "InvalidData",
        "InvalidOperation",
        "InvalidResult",
        "InvalidType",
        "MetadataError",
        "NotImplemented",
        "NotInstalled",
        "ObjectNotFound",
        "OperationStopped",
        "OperationTimeout",
        "SyntaxError",
        "ParserError",
        "PermissionDenied",
        "ResourceBusy",
        "ResourceExists",
        "ResourceUnavailable",
        "ReadError",
        "WriteError",
        "FromStdErr",
        "SecurityError",
        "ProtocolError",
        "ConnectionError",
        "AuthenticationError",
        "LimitsExceeded",
        "QuotaExceeded",
        "NotEnabled",
    ];
    NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(name))
        .map_or(0, |i| i as i32)
}

/// The category name PowerShell prints (`ObjectNotFound`).
pub(crate) fn category_name(c: i32) -> &'static str {
    match c {
        13 => "ObjectNotFound",
        14 => "OperationStopped",
        17 => "ParserError",
        5 => "InvalidArgument",
        7 => "InvalidOperation",
        18 => "PermissionDenied",
        _ => "NotSpecified",
    }
}

/// An error record with PowerShell's category line (`ObjectNotFound: (x:String) [],
/// CommandNotFoundException`).
pub(crate) fn error(
    message: &str,
    exception: &str,
    id: &str,
    category: i32,
    target: Option<&str>,
) -> ErrorRecord {
    let mut e = ErrorRecord::new(message, exception, id, category);
    e.target_name = target.map(str::to_owned);
    e.target_type = target.map(|_| "String".to_owned());
    let reason = e.reason.clone().unwrap_or_default();
    e.category_message = Some(format!(
        "{}: ({}:{}) [], {reason}",
        category_name(category),
        target.unwrap_or(""),
        if target.is_some() { "String" } else { "" }
    ));
    e
}

/// PowerShell's error for a name that is no command.
pub(crate) fn command_not_found(name: &str) -> ErrorRecord {
    error(
        &format!(
            "The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."
        ),
        "System.Management.Automation.CommandNotFoundException",
        "CommandNotFoundException",
        13,
        Some(name),
    )
}

/// What a NoLanguage endpoint says to script text.
fn scripts_not_allowed() -> ErrorRecord {
    error(
        "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode.",
        "System.Management.Automation.ParseException",
        "ScriptsNotAllowed",
        17,
        None,
    )
}

/// The error a stopped pipeline ends with.
pub(crate) fn pipeline_stopped() -> ErrorRecord {
    error(
        "The pipeline has been stopped.",
        "System.Management.Automation.PipelineStoppedException",
        "PipelineStopped",
        14,
        None,
    )
}

/// A scenario's error as a record.
fn error_of(spec: &ErrorSpec) -> ErrorRecord {
    let exception = spec
        .exception
        .as_deref()
        .unwrap_or("Microsoft.PowerShell.Commands.WriteErrorException");
    let short = exception.rsplit('.').next().unwrap_or(exception);
    error(
        &spec.message,
        exception,
        spec.id.as_deref().unwrap_or(short),
        spec.category.as_deref().map_or(0, category),
        spec.target.as_deref(),
    )
}

/// A scenario value as CLIXML.
pub(crate) fn value_of(d: &Data, type_names: &[String]) -> Value {
    match d {
        Data::Bool(b) => Value::Bool(*b),
        Data::Int(i) => i32::try_from(*i).map_or(Value::I64(*i), Value::I32),
        Data::Float(f) => Value::Double(*f),
        Data::Str(s) => Value::string(s.as_str()),
        Data::List(l) => Value::List(l.iter().map(|d| value_of(d, &[])).collect()),
        Data::Map(m) => psrp::server::custom_object(
            m.0.iter()
                .map(|(k, v)| (k.clone(), value_of(v, &[])))
                .collect(),
            type_names,
        ),
    }
}

/// A value's text as PowerShell shows it in a string context.
pub(crate) fn text_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::String(s)
        | Value::Version(s)
        | Value::DateTime(s)
        | Value::Decimal(s)
        | Value::Uri(s) => s.clone(),
        Value::I32(i) => i.to_string(),
        Value::I64(i) => i.to_string(),
        Value::U32(i) => i.to_string(),
        Value::Double(d) => d.to_string(),
        Value::List(l) => l.iter().map(text_of).collect::<Vec<_>>().join(" "),
        Value::Obj(o) => o
            .to_string
            .clone()
            .or_else(|| o.base.as_ref().map(text_of))
            .unwrap_or_default(),
        other => format!("{other:?}"),
    }
}

/// A parameter's value by name (case-insensitive; a unique prefix is enough, as in
/// PowerShell).
pub(crate) fn param<'a>(args: &'a [Arg], name: &str) -> Option<&'a Value> {
    let lower = name.to_ascii_lowercase();
    args.iter()
        .find(|a| {
            a.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .or_else(|| {
            args.iter().find(|a| {
                a.name
                    .as_deref()
                    .is_some_and(|n| !n.is_empty() && lower.starts_with(&n.to_ascii_lowercase()))
            })
        })
        .map(|a| &a.value)
}

/// The positional arguments.
pub(crate) fn positional(args: &[Arg]) -> impl Iterator<Item = &Value> {
    args.iter().filter(|a| a.name.is_none()).map(|a| &a.value)
}

/// Whether a switch is present (and not `:$false`).
pub(crate) fn switch(args: &[Arg], name: &str) -> bool {
    param(args, name).is_some_and(|v| !matches!(v, Value::Bool(false)))
}

/// Runs one pipeline: collects what it writes and its time.
pub(crate) struct Runner<'c, 'a> {
    pub ctx: &'c Ctx<'a>,
    pub items: Vec<(u64, Emit)>,
    /// Milliseconds since the start.
    pub clock: u64,
    /// A command that never ends ran.
    pub endless: bool,
    /// The stage running is the last of a top-level statement: what it outputs is
    /// the pipeline's output, written as it comes rather than at the stage's end.
    pub direct: bool,
}

impl<'c, 'a> Runner<'c, 'a> {
    /// Writes a record now.
    pub fn emit(&mut self, e: Emit) {
        self.items.push((self.clock, e));
    }

    /// Runs the statements of a CREATE_PIPELINE, with `input` for the first command.
    pub fn run_statements(ctx: &Ctx<'_>, statements: &[Vec<Command>], input: Vec<Value>) -> Run {
        let mut r = Runner {
            ctx,
            items: Vec::new(),
            clock: 0,
            endless: false,
            direct: false,
        };
        let mut end = End::Completed;
        let mut input = Some(input);
        for statement in statements {
            let stages: Vec<(Stage, bool)> = statement
                .iter()
                .map(|c| {
                    let stage = Stage::Command {
                        name: c.command.clone(),
                        args: c
                            .parameters
                            .iter()
                            .map(|p| Arg {
                                name: p.name.clone(),
                                value: p.value.clone(),
                            })
                            .collect(),
                    };
                    (stage, c.is_script)
                })
                .collect();
            match r.pipeline(&stages, input.take().unwrap_or_default(), true) {
                Ok(out) => {
                    for v in out {
                        r.emit(Emit::Output(v));
                    }
                }
                Err(e) => {
                    end = End::Failed(e);
                    break;
                }
            }
            if r.endless {
                end = End::Running;
                break;
            }
        }
        Run {
            end_at: r.clock,
            items: r.items,
            end,
        }
    }

    /// Runs script text: each statement's terminating error is written to the error
    /// stream and the next statement runs. Gives the output objects.
    pub fn script(&mut self, text: &str, input: Vec<Value>) -> Result<Vec<Value>, ErrorRecord> {
        if self
            .ctx
            .config
            .is_some_and(|c| c.language_mode == LanguageMode::NoLanguage)
        {
            return Err(scripts_not_allowed());
        }
        let trimmed = text.trim();
        let direct = std::mem::take(&mut self.direct);
        let out = self.script_text(trimmed, input, direct);
        self.direct = direct;
        out
    }

    /// Output objects, or with `direct` the pipeline's output written now.
    fn put(&mut self, out: &mut Vec<Value>, v: Value, direct: bool) {
        if direct {
            self.emit(Emit::Output(v));
        } else {
            out.push(v);
        }
    }

    fn script_text(
        &mut self,
        trimmed: &str,
        input: Vec<Value>,
        direct: bool,
    ) -> Result<Vec<Value>, ErrorRecord> {
        if let Some(spec) = self.ctx.scripts.iter().find(|s| s.matches(trimmed)) {
            let mut out = Vec::new();
            for chunk in &spec.stdout {
                self.clock += spec.delay_ms;
                for l in chunk.lines() {
                    self.put(&mut out, Value::string(l.trim_end_matches('\r')), direct);
                }
            }
            for chunk in &spec.stderr {
                self.clock += spec.delay_ms;
                let e = error(
                    chunk.trim_end(),
                    "Microsoft.PowerShell.Commands.WriteErrorException",
                    "Microsoft.PowerShell.Commands.WriteErrorException",
                    0,
                    None,
                );
                self.emit(Emit::Error(e));
            }
            return Ok(out);
        }
        let mut out = Vec::new();
        let mut input = Some(input);
        for statement in script::parse(trimmed) {
            let stages: Vec<(Stage, bool)> = statement.into_iter().map(|s| (s, false)).collect();
            match self.pipeline(&stages, input.take().unwrap_or_default(), direct) {
                Ok(o) => {
                    for v in o {
                        self.put(&mut out, v, direct);
                    }
                }
                Err(e) => self.emit(Emit::Error(e)),
            }
            if self.endless {
                break;
            }
        }
        Ok(out)
    }

    /// Runs the stages of one pipeline, each fed the one before's output.
    fn pipeline(
        &mut self,
        stages: &[(Stage, bool)],
        input: Vec<Value>,
        direct: bool,
    ) -> Result<Vec<Value>, ErrorRecord> {
        let mut data = input;
        for (i, (stage, is_script)) in stages.iter().enumerate() {
            self.direct = direct && i + 1 == stages.len();
            data = match stage {
                Stage::Command { name, args } if *is_script => {
                    let _ = args;
                    self.script(name, data)?
                }
                Stage::Command { name, args } => self.command(name, args, data)?,
                Stage::Literal(v) => vec![v.clone()],
                Stage::Variable(v) => builtins::variable(self, v)?,
            };
            self.direct = false;
            if self.endless {
                break;
            }
        }
        Ok(data)
    }

    /// Runs one command: visibility, the scenario's table, the built-ins.
    fn command(
        &mut self,
        name: &str,
        args: &[Arg],
        input: Vec<Value>,
    ) -> Result<Vec<Value>, ErrorRecord> {
        if let Some(c) = self.ctx.config {
            if !c.shows(name) {
                return Err(command_not_found(name));
            }
        }
        let given: Vec<(String, String)> = args
            .iter()
            .filter_map(|a| a.name.as_ref().map(|n| (n.clone(), text_of(&a.value))))
            .collect();
        if let Some(spec) = self.ctx.cmdlets.iter().find(|c| c.matches(name, &given)) {
            return self.scripted(spec);
        }
        match builtins::run(self, name, args, input)? {
            Some(out) => Ok(out),
            None => Err(command_not_found(name)),
        }
    }

    /// A `[[machine.cmdlets]]` entry's answer.
    fn scripted(&mut self, spec: &CmdletSpec) -> Result<Vec<Value>, ErrorRecord> {
        for p in &spec.progress {
            let v = psrp::server::progress_record(
                &p.activity,
                p.status.as_deref().unwrap_or("Processing"),
                p.percent,
                false,
            );
            self.emit(Emit::Progress(v));
        }
        for w in &spec.verbose {
            self.emit(Emit::Verbose(w.clone()));
        }
        for w in &spec.debug {
            self.emit(Emit::Debug(w.clone()));
        }
        for w in &spec.warnings {
            self.emit(Emit::Warning(w.clone()));
        }
        for i in &spec.information {
            let v = builtins::information(self, i, &[], "Write-Information");
            self.emit(Emit::Information(v));
        }
        let direct = std::mem::take(&mut self.direct);
        let mut out = Vec::new();
        for o in &spec.output {
            self.clock += spec.delay_ms;
            self.put(&mut out, value_of(o, &spec.type_names), direct);
        }
        let (terminating, written) = match spec.state {
            EndState::Failed => (spec.errors.first(), spec.errors.get(1..).unwrap_or(&[])),
            _ => (None, &spec.errors[..]),
        };
        for e in written {
            self.emit(Emit::Error(error_of(e)));
        }
        if spec.output.is_empty() {
            self.clock += spec.delay_ms;
        }
        if spec.state == EndState::Running {
            self.endless = true;
        }
        match terminating {
            Some(e) => Err(error_of(e)),
            None => Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use psrp::records::Parameter;

    fn ctx<'a>(cmdlets: &'a [CmdletSpec], config: Option<&'a SessionConfigSpec>) -> Ctx<'a> {
        Ctx {
            hostname: "HOST",
            user: "admin",
            unix_now: 1_767_225_600,
            cmdlets,
            scripts: &[],
            config,
        }
    }

    fn cmd(name: &str, script: bool, params: &[(Option<&str>, Value)]) -> Command {
        Command {
            command: name.into(),
            is_script: script,
            use_local_scope: None,
            parameters: params
                .iter()
                .map(|(n, v)| Parameter {
                    name: n.map(str::to_owned),
                    value: v.clone(),
                })
                .collect(),
        }
    }

    #[test]
    fn an_unknown_command_fails_the_pipeline_but_not_a_script() {
        let c = ctx(&[], None);
        let run = Runner::run_statements(&c, &[vec![cmd("Get-Nothing", false, &[])]], vec![]);
        let End::Failed(e) = &run.end else {
            panic!("{run:?}")
        };
        assert_eq!(e.fully_qualified_error_id, "CommandNotFoundException");
        assert_eq!(e.category, 13);
        let run = Runner::run_statements(
            &c,
            &[vec![cmd("Get-Nothing; Write-Output after", true, &[])]],
            vec![],
        );
        assert_eq!(run.end, End::Completed);
        assert!(
            matches!(&run.items[0].1, Emit::Error(e) if e.target_name.as_deref() == Some("Get-Nothing"))
        );
        assert_eq!(run.items[1].1, Emit::Output(Value::string("after")));
    }

    #[test]
    fn the_table_matches_on_parameters_and_a_jea_endpoint_hides_the_rest() {
        let spec: CmdletSpec = toml::from_str(
            r#"name = "Get-Widget"
parameters = { Name = "w1" }
output = [{ Name = "w1" }]
warnings = ["careful"]
delay_ms = 5"#,
        )
        .unwrap();
        let table = [spec];
        let c = ctx(&table, None);
        let run = Runner::run_statements(
            &c,
            &[vec![cmd(
                "Get-Widget",
                false,
                &[(Some("Name"), Value::string("W1"))],
            )]],
            vec![],
        );
        assert_eq!(run.end, End::Completed);
        assert_eq!(run.items[0].1, Emit::Warning("careful".into()));
        assert!(
            matches!(&run.items[1], (5, Emit::Output(v)) if v.prop("Name") == Some(&Value::string("w1")))
        );
        let other = Runner::run_statements(&c, &[vec![cmd("Get-Widget", false, &[])]], vec![]);
        assert!(matches!(other.end, End::Failed(_)), "{other:?}");

        let jea = SessionConfigSpec {
            name: "JEA".into(),
            visible_cmdlets: vec!["Get-Widget".into()],
            language_mode: LanguageMode::NoLanguage,
            users: vec![],
        };
        let c = ctx(&table, Some(&jea));
        let hidden = Runner::run_statements(&c, &[vec![cmd("Get-Process", false, &[])]], vec![]);
        assert!(
            matches!(&hidden.end, End::Failed(e) if e.fully_qualified_error_id == "CommandNotFoundException")
        );
        let script = Runner::run_statements(&c, &[vec![cmd("Get-Widget", true, &[])]], vec![]);
        assert!(
            matches!(&script.end, End::Failed(e) if e.fully_qualified_error_id == "ScriptsNotAllowed")
        );
    }
}
