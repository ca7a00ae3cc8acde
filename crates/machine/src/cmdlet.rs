//! The PowerShell side of the machine as a scenario writes it: the `[[machine.cmdlets]]`
//! table (what a cmdlet run over PowerShell Remoting answers: output objects, records
//! on the other streams, errors, delays) and the `[[machine.session_configurations]]`
//! (the endpoints besides `Microsoft.PowerShell`, e.g. JEA ones that show only some
//! cmdlets).
//!
//! These are plain data: turning them into CLIXML and running pipelines is the mock's
//! business (`crates/mock/src/psrp`), which keeps this crate free of wire formats.

use serde::{Deserialize, Serialize};

use crate::spec::OrderedMap;

/// A value as a scenario writes it in TOML: the output objects of a cmdlet and the
/// parameter values it matches. A table becomes a `PSCustomObject` with its keys as
/// properties, in the order written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Data {
    /// `true`/`false`.
    Bool(bool),
    /// An integer (a PowerShell `Int32` when it fits, else `Int64`).
    Int(i64),
    /// A float (`Double`).
    Float(f64),
    /// A string.
    Str(String),
    /// An array (`Object[]`).
    List(Vec<Data>),
    /// A table (`PSCustomObject`).
    Map(OrderedMap<Data>),
}

impl Data {
    /// The value as PowerShell would compare it with a parameter given as text.
    pub fn as_text(&self) -> String {
        match self {
            Data::Bool(true) => "True".into(),
            Data::Bool(false) => "False".into(),
            Data::Int(i) => i.to_string(),
            Data::Float(f) => f.to_string(),
            Data::Str(s) => s.clone(),
            Data::List(l) => l.iter().map(Data::as_text).collect::<Vec<_>>().join(" "),
            Data::Map(_) => "System.Management.Automation.PSCustomObject".into(),
        }
    }
}

/// An error record a cmdlet writes (`errors = [{ message = "...", ... }]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    /// The exception's message.
    pub message: String,
    /// `FullyQualifiedErrorId` (default: the exception's short type name).
    #[serde(default)]
    pub id: Option<String>,
    /// The error category by name (`ObjectNotFound`, `PermissionDenied`, ...; default
    /// `NotSpecified`).
    #[serde(default)]
    pub category: Option<String>,
    /// The exception's .NET type (default
    /// `Microsoft.PowerShell.Commands.WriteErrorException`).
    #[serde(default)]
    pub exception: Option<String>,
    /// The target object's name.
    #[serde(default)]
    pub target: Option<String>,
}

/// A progress record (`progress = [{ activity = "...", status = "...", percent = 50 }]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgressSpec {
    /// The activity.
    pub activity: String,
    /// The status line.
    #[serde(default)]
    pub status: Option<String>,
    /// Percent complete (-1 when unknown).
    #[serde(default = "minus_one")]
    pub percent: i32,
}

fn minus_one() -> i32 {
    -1
}

/// How a cmdlet's pipeline ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndState {
    /// `Completed` (non-terminating errors, if any, were written to the error stream).
    #[default]
    Completed,
    /// `Failed`: the first of `errors` is the terminating error (the others are
    /// written first).
    Failed,
    /// Never ends on its own: runs until the client stops the pipeline.
    Running,
}

/// One `[[machine.cmdlets]]` entry: what running cmdlet `name` answers. The first
/// entry whose name and parameters match wins; the built-ins come after the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CmdletSpec {
    /// The cmdlet name, compared case-insensitively (`Get-Widget`).
    pub name: String,
    /// Parameters that must be given with these values (compared as text,
    /// case-insensitively); parameters not named here may be given or not.
    #[serde(default)]
    pub parameters: OrderedMap<Data>,
    /// The .NET type names of the output tables, most derived first (default: a
    /// `PSCustomObject`).
    #[serde(default)]
    pub type_names: Vec<String>,
    /// Output objects, in order.
    #[serde(default)]
    pub output: Vec<Data>,
    /// Error records (see [`EndState::Failed`] for a terminating one).
    #[serde(default)]
    pub errors: Vec<ErrorSpec>,
    /// Warning records.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Verbose records.
    #[serde(default)]
    pub verbose: Vec<String>,
    /// Debug records.
    #[serde(default)]
    pub debug: Vec<String>,
    /// Information records (PowerShell 5's information stream).
    #[serde(default)]
    pub information: Vec<String>,
    /// Progress records.
    #[serde(default)]
    pub progress: Vec<ProgressSpec>,
    /// Milliseconds before each output object (and before the end).
    #[serde(default)]
    pub delay_ms: u64,
    /// How the pipeline ends.
    #[serde(default)]
    pub state: EndState,
}

impl CmdletSpec {
    /// Whether the entry answers cmdlet `name` called with `given` (name, value as
    /// text) parameters.
    pub fn matches(&self, name: &str, given: &[(String, String)]) -> bool {
        self.name.eq_ignore_ascii_case(name)
            && self.parameters.0.iter().all(|(k, want)| {
                given.iter().any(|(n, v)| {
                    n.eq_ignore_ascii_case(k) && v.eq_ignore_ascii_case(&want.as_text())
                })
            })
    }
}

/// The language a session configuration allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LanguageMode {
    /// Scripts run (`Microsoft.PowerShell`).
    #[default]
    FullLanguage,
    /// Commands only, no script text (JEA's default).
    NoLanguage,
}

/// A session configuration (`[[machine.session_configurations]]`): a PowerShell
/// endpoint at `http://schemas.microsoft.com/powershell/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfigSpec {
    /// The configuration name (`JEAMaintenance`).
    pub name: String,
    /// The cmdlets it shows (besides those every restricted endpoint has:
    /// `Get-Command`, `Select-Object`, `Measure-Object`, `Out-Default`, `Exit-PSSession`,
    /// `Get-FormatData`, `Get-Help`, `Clear-Host`). Empty: every cmdlet.
    #[serde(default)]
    pub visible_cmdlets: Vec<String>,
    /// The language mode.
    #[serde(default)]
    pub language_mode: LanguageMode,
    /// Users allowed to connect (empty: every user).
    #[serde(default)]
    pub users: Vec<String>,
}

/// The cmdlets a restricted (JEA) endpoint always shows.
pub const RESTRICTED_DEFAULTS: [&str; 8] = [
    "Clear-Host",
    "Exit-PSSession",
    "Get-Command",
    "Get-FormatData",
    "Get-Help",
    "Measure-Object",
    "Out-Default",
    "Select-Object",
];

impl SessionConfigSpec {
    /// Whether a cmdlet is visible in this configuration.
    pub fn shows(&self, cmdlet: &str) -> bool {
        self.visible_cmdlets.is_empty()
            || self
                .visible_cmdlets
                .iter()
                .map(String::as_str)
                .chain(RESTRICTED_DEFAULTS)
                .any(|c| c.eq_ignore_ascii_case(cmdlet))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cmdlet_matches_on_name_and_the_parameters_it_names() {
        let spec: CmdletSpec = toml::from_str(
            r#"name = "Get-Widget"
parameters = { Name = "w1", Count = 3 }
output = [{ Name = "w1", Size = 3 }, "text"]"#,
        )
        .unwrap();
        let p = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert!(spec.matches(
            "get-widget",
            &p(&[("name", "W1"), ("Count", "3"), ("x", "y")])
        ));
        assert!(!spec.matches("Get-Widget", &p(&[("Name", "w1")])));
        assert!(!spec.matches("Get-Other", &p(&[("Name", "w1"), ("Count", "3")])));
        let Data::Map(m) = &spec.output[0] else {
            panic!("{:?}", spec.output)
        };
        assert_eq!(m.0[0], ("Name".into(), Data::Str("w1".into())));
        assert_eq!(m.0[1], ("Size".into(), Data::Int(3)));
    }

    #[test]
    fn a_restricted_configuration_shows_its_cmdlets_and_the_defaults() {
        let c = SessionConfigSpec {
            name: "JEA".into(),
            visible_cmdlets: vec!["Get-Service".into()],
            language_mode: LanguageMode::NoLanguage,
            users: Vec::new(),
        };
        assert!(c.shows("get-service"));
        assert!(c.shows("Get-Command"));
        assert!(!c.shows("Get-Process"));
        let open = SessionConfigSpec {
            visible_cmdlets: Vec::new(),
            ..c
        };
        assert!(open.shows("Get-Process"));
    }
}
