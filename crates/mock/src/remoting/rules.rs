//! `[[psrp.rules]]`: faults a scenario injects into PowerShell Remoting, matched on
//! the PSRP messages a client sends (not on the WS-Man envelope, which `[[rules]]`
//! already matches).
//!
//! ```toml
//! [[psrp.rules]]
//! name = "pool-breaks-on-get-service"   # optional, named in errors and records
//! message = "CREATE_PIPELINE"           # a message a client sends (MS-PSRP 2.2.1)
//! command = "Get-Service"               # optional, CREATE_PIPELINE only: a command
//!                                       # of the pipeline (or a script naming it)
//! configuration = "JEAMaint"            # optional: the session configuration
//! action = "break_pool"                 # break_pool | bad_fragment | stall
//! delay_ms = 5000                       # stall only: end this late; absent: never
//! times = 1                             # how many matching messages; absent: all
//! ```
//!
//! - `break_pool`: the message is not acted on; the pool goes Broken and says so
//!   (RUNSPACEPOOL_STATE Broken with an error record, [MS-PSRP] 3.2.5.4.9), and every
//!   pipeline that has not ended, the one a CREATE_PIPELINE was creating included,
//!   ends PIPELINE_STATE Stopped with the same error.
//! - `bad_fragment`: the message is acted on, and the next ReceiveResponse for its
//!   target (the pipeline for pipeline messages, else the pool) carries a fragment
//!   whose BlobLength claims one byte more than follows ([MS-PSRP] 2.2.4).
//! - `stall`: CREATE_PIPELINE only: the pipeline runs, but its final PIPELINE_STATE
//!   never comes (a Signal still stops it) or comes `delay_ms` late.
//!
//! The first rule that matches acts; `times` counts over the scenario's life (a
//! reloaded scenario counts afresh).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use psrp::MessageType;
use psrp::records::CreatePipeline;
use serde::Deserialize;

/// The messages a client sends, by the names `message` accepts.
pub const CLIENT_MESSAGES: [MessageType; 14] = [
    MessageType::SESSION_CAPABILITY,
    MessageType::INIT_RUNSPACEPOOL,
    MessageType::PUBLIC_KEY,
    MessageType::CONNECT_RUNSPACEPOOL,
    MessageType::RESET_RUNSPACE_STATE,
    MessageType::SET_MAX_RUNSPACES,
    MessageType::SET_MIN_RUNSPACES,
    MessageType::CREATE_PIPELINE,
    MessageType::GET_AVAILABLE_RUNSPACES,
    MessageType::GET_COMMAND_METADATA,
    MessageType::RUNSPACEPOOL_HOST_RESPONSE,
    MessageType::PIPELINE_INPUT,
    MessageType::END_OF_PIPELINE_INPUT,
    MessageType::PIPELINE_HOST_RESPONSE,
];

/// The `[psrp]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PsrpSettings {
    /// `[[psrp.rules]]`, first match wins.
    pub rules: Vec<PsrpRule>,
}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PsrpAction {
    /// The pool goes Broken; its pipelines stop.
    BreakPool,
    /// The next ReceiveResponse for the message's target carries a corrupt fragment.
    BadFragment,
    /// The pipeline does not end (or ends `delay_ms` late).
    Stall,
}

/// One `[[psrp.rules]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PsrpRule {
    /// Named in errors and in the broken pool's error record.
    pub name: Option<String>,
    /// The message type's name (`CREATE_PIPELINE`), as [MS-PSRP] 2.2.1 spells it.
    pub message: String,
    /// CREATE_PIPELINE only: a command of the pipeline, or a word of its script.
    pub command: Option<String>,
    /// The session configuration (`Microsoft.PowerShell` is the default one); absent:
    /// any.
    pub configuration: Option<String>,
    /// What it does.
    pub action: PsrpAction,
    /// For `stall`: how late the pipeline ends; absent: never.
    pub delay_ms: Option<u64>,
    /// How many matching messages it acts on; absent: every one.
    pub times: Option<u32>,
    /// How many it has acted on (shared by the scenario's clones).
    #[serde(skip)]
    hits: Arc<AtomicU32>,
}

/// What the first matching rule says about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub action: PsrpAction,
    pub delay_ms: Option<u64>,
    pub rule: String,
}

impl PsrpSettings {
    /// Checks the rules: (key path, message, what is expected, hint).
    pub fn check(&self) -> Result<(), (String, String, String, Option<String>)> {
        for (i, r) in self.rules.iter().enumerate() {
            let path = |key: &str| format!("psrp.rules[{i}].{key}");
            let Some(kind) = message_type(&r.message) else {
                let names: Vec<&str> = CLIENT_MESSAGES.iter().filter_map(|m| m.name()).collect();
                let server = MessageType::ALL.iter().any(|m| {
                    m.name()
                        .is_some_and(|n| n.eq_ignore_ascii_case(r.message.trim()))
                });
                return Err((
                    path("message"),
                    if server {
                        format!(
                            "psrp.rules[{i}].message names `{}`, which the server sends, not the client",
                            r.message
                        )
                    } else {
                        format!(
                            "psrp.rules[{i}].message names `{}`, which is not a PSRP message",
                            r.message
                        )
                    },
                    format!("one of {}", names.join(", ")),
                    None,
                ));
            };
            let pipeline = kind == MessageType::CREATE_PIPELINE;
            if r.command.is_some() && !pipeline {
                return Err((
                    path("command"),
                    format!("psrp.rules[{i}] names a command, which only CREATE_PIPELINE carries"),
                    "message = \"CREATE_PIPELINE\" with command, or no command".into(),
                    None,
                ));
            }
            let empty_command = r.command.as_deref().is_some_and(|c| c.trim().is_empty());
            if empty_command
                || r.configuration
                    .as_deref()
                    .is_some_and(|c| c.trim().is_empty())
            {
                return Err((
                    path(if empty_command {
                        "command"
                    } else {
                        "configuration"
                    }),
                    format!("psrp.rules[{i}] matches an empty name"),
                    "a cmdlet name (Get-Service) or a configuration (Microsoft.PowerShell)".into(),
                    None,
                ));
            }
            if r.action == PsrpAction::Stall && !pipeline {
                return Err((
                    path("action"),
                    format!(
                        "psrp.rules[{i}] stalls `{}`, which starts no pipeline",
                        r.message
                    ),
                    "action = \"stall\" with message = \"CREATE_PIPELINE\"".into(),
                    None,
                ));
            }
            if r.delay_ms.is_some() && r.action != PsrpAction::Stall {
                return Err((
                    path("delay_ms"),
                    format!("psrp.rules[{i}] has delay_ms, which only a stall uses"),
                    "delay_ms with action = \"stall\"".into(),
                    None,
                ));
            }
            if r.times == Some(0) {
                return Err((
                    path("times"),
                    format!("psrp.rules[{i}] acts 0 times"),
                    "times above 0, or no times (every match)".into(),
                    None,
                ));
            }
        }
        Ok(())
    }

    /// The first rule that matches `kind` in a pool of `configuration` (`None`: the
    /// default one) and, for CREATE_PIPELINE, `pipeline`; counts it.
    pub(crate) fn verdict(
        &self,
        kind: MessageType,
        configuration: Option<&str>,
        pipeline: Option<&CreatePipeline>,
    ) -> Option<Verdict> {
        let config = configuration.unwrap_or(super::DEFAULT_CONFIGURATION);
        for (i, r) in self.rules.iter().enumerate() {
            if message_type(&r.message) != Some(kind)
                || r.configuration
                    .as_deref()
                    .is_some_and(|c| !c.trim().eq_ignore_ascii_case(config))
                || r.command
                    .as_deref()
                    .is_some_and(|c| !pipeline.is_some_and(|p| names(p, c.trim())))
            {
                continue;
            }
            if let Some(t) = r.times {
                // Counted only while below `times`, so it cannot wrap.
                let took = r
                    .hits
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                        (h < t).then_some(h + 1)
                    })
                    .is_ok();
                if !took {
                    continue;
                }
            }
            return Some(Verdict {
                action: r.action,
                delay_ms: r.delay_ms,
                rule: r.name.clone().unwrap_or_else(|| format!("psrp.rules[{i}]")),
            });
        }
        None
    }
}

/// The client message a rule's `message` names.
fn message_type(name: &str) -> Option<MessageType> {
    let name = name.trim();
    CLIENT_MESSAGES
        .iter()
        .copied()
        .find(|m| m.name().is_some_and(|n| n.eq_ignore_ascii_case(name)))
}

/// Whether the pipeline runs `command`: a command of that name, or a script that
/// names it (case-insensitive).
fn names(p: &CreatePipeline, command: &str) -> bool {
    let lower = command.to_ascii_lowercase();
    p.statements.iter().flatten().any(|c| {
        if c.is_script {
            c.command.to_ascii_lowercase().contains(&lower)
        } else {
            c.command.trim().eq_ignore_ascii_case(command)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use psrp::records::Command;

    fn settings(toml_text: &str) -> PsrpSettings {
        #[derive(Deserialize)]
        struct F {
            psrp: PsrpSettings,
        }
        toml::from_str::<F>(toml_text).unwrap().psrp
    }

    fn pipeline(cmd: &str, is_script: bool) -> CreatePipeline {
        CreatePipeline {
            no_input: true,
            add_to_history: false,
            is_nested: false,
            statements: vec![vec![Command {
                command: cmd.into(),
                is_script,
                use_local_scope: None,
                parameters: Vec::new(),
            }]],
        }
    }

    #[test]
    fn rules_match_message_command_configuration_and_count() {
        let s = settings(
            r#"
            [[psrp.rules]]
            message = "create_pipeline"
            command = "Get-Service"
            action = "stall"
            times = 1
            [[psrp.rules]]
            name = "jea"
            message = "INIT_RUNSPACEPOOL"
            configuration = "JEA"
            action = "break_pool"
            "#,
        );
        s.check().unwrap();
        let svc = pipeline("get-service", false);
        let other = pipeline("Get-Process", false);
        let script = pipeline("Get-Service -Name x | Select -First 1", true);
        assert_eq!(
            s.verdict(MessageType::CREATE_PIPELINE, None, Some(&other)),
            None
        );
        let v = s
            .verdict(MessageType::CREATE_PIPELINE, None, Some(&script))
            .unwrap();
        assert_eq!(
            (v.action, v.rule.as_str()),
            (PsrpAction::Stall, "psrp.rules[0]")
        );
        // times = 1: spent.
        assert_eq!(
            s.verdict(MessageType::CREATE_PIPELINE, None, Some(&svc)),
            None
        );
        assert_eq!(s.verdict(MessageType::INIT_RUNSPACEPOOL, None, None), None);
        let v = s
            .verdict(MessageType::INIT_RUNSPACEPOOL, Some("jea"), None)
            .unwrap();
        assert_eq!((v.action, v.rule.as_str()), (PsrpAction::BreakPool, "jea"));
    }

    #[test]
    fn bad_rules_are_refused_with_their_key() {
        for (text, key, says) in [
            (
                "message = \"PIPELINE_OUTPUT\"\naction = \"break_pool\"",
                "psrp.rules[0].message",
                "which the server sends",
            ),
            (
                "message = \"NOPE\"\naction = \"break_pool\"",
                "psrp.rules[0].message",
                "not a PSRP message",
            ),
            (
                "message = \"INIT_RUNSPACEPOOL\"\ncommand = \"x\"\naction = \"break_pool\"",
                "psrp.rules[0].command",
                "only CREATE_PIPELINE",
            ),
            (
                "message = \"INIT_RUNSPACEPOOL\"\naction = \"stall\"",
                "psrp.rules[0].action",
                "starts no pipeline",
            ),
            (
                "message = \"CREATE_PIPELINE\"\naction = \"bad_fragment\"\ndelay_ms = 5",
                "psrp.rules[0].delay_ms",
                "only a stall",
            ),
            (
                "message = \"CREATE_PIPELINE\"\naction = \"stall\"\ntimes = 0",
                "psrp.rules[0].times",
                "0 times",
            ),
            (
                "message = \"CREATE_PIPELINE\"\ncommand = \" \"\naction = \"break_pool\"",
                "psrp.rules[0].command",
                "an empty name",
            ),
            (
                "message = \"CREATE_PIPELINE\"\ncommand = \"Get-Date\"\nconfiguration = \"\"\naction = \"break_pool\"",
                "psrp.rules[0].configuration",
                "an empty name",
            ),
        ] {
            let s = settings(&format!("[[psrp.rules]]\n{text}\n"));
            let (path, message, _, _) = s.check().unwrap_err();
            assert_eq!(path, key, "{text}");
            assert!(message.contains(says), "{message}");
        }
    }

    #[test]
    fn the_scenario_loader_names_file_and_line_of_a_bad_rule() {
        let text = "[scenario]\nname = \"x\"\n\n[[psrp.rules]]\nmessage = \"CREATE_PIPELINE\"\naction = \"bad_fragment\"\n\n[[psrp.rules]]\nmessage = \"INIT_RUNSPACEPOOL\"\naction = \"stall\"\n";
        let e = crate::scenario::Scenario::from_toml(text, "rules.toml").unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("rules.toml", 10), "{e}");
        assert!(e.message.contains("starts no pipeline"), "{e}");
        let text = "[[psrp.rules]]\nmessage = \"CREATE_PIPELINE\"\naction = \"explode\"\n";
        let e = crate::scenario::Scenario::from_toml(text, "rules.toml").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        let ok = "[[psrp.rules]]\nmessage = \"CREATE_PIPELINE\"\naction = \"stall\"\n";
        let s = crate::scenario::Scenario::from_toml(ok, "ok.toml").unwrap();
        assert_eq!(s.psrp.rules.len(), 1);
    }
}
