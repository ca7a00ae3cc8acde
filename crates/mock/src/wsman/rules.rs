//! What a scenario rule's answer becomes: a fault, a template or raw body, a transport
//! failure, a delay before the default answer, or a script's verdict.

use std::borrow::Cow;
use std::time::Duration;

use wsman::Envelope;
use wsman::body::Body;

use super::SOAP_CT;
use super::faults::{rule_fault, script_error, script_fault};
use super::write::{new_uuid, reply, respond, timed};
use crate::http::{Outcome, Reply};
use crate::mock::Inner;
use crate::rules::{Answer, Decision, RequestView, ScriptAnswer, Transport};
use crate::scenario::Scenario;

pub(super) enum RuleOutcome {
    Done(Outcome),
    DelayThenDefault(Duration),
    Default,
}

impl Inner {
    pub(super) fn rule_outcome(
        &mut self,
        d: &Decision,
        view: &RequestView<'_>,
        env: &Envelope<'_>,
        scenario: &Scenario,
        _now: u64,
    ) -> RuleOutcome {
        let relates = env.header.message_id.as_deref();
        let with_delay = |delay: Option<Duration>, o: Outcome| match delay {
            Some(d) => timed(d, env, o, relates, scenario),
            None => o,
        };
        match &d.answer {
            Answer::DelayOnly(dur) => RuleOutcome::DelayThenDefault(*dur),
            Answer::Fault {
                kind,
                detail,
                reason,
                status,
                delay,
            } => {
                let o = self.fault_outcome(
                    rule_fault(*kind, *detail, reason.clone(), *status),
                    relates,
                    scenario,
                );
                RuleOutcome::Done(with_delay(*delay, o))
            }
            Answer::Template {
                template,
                status,
                content_type,
                delay,
            } => {
                let body = self.expand(template, env, view);
                let o = reply(
                    *status,
                    body.into_bytes(),
                    content_type_or_soap(content_type.as_deref()),
                );
                RuleOutcome::Done(with_delay(*delay, o))
            }
            Answer::Raw {
                body,
                status,
                content_type,
                delay,
            } => {
                let o = reply(
                    *status,
                    body.clone().into_bytes(),
                    content_type_or_soap(content_type.as_deref()),
                );
                RuleOutcome::Done(with_delay(*delay, o))
            }
            Answer::Transport { transport, delay } => {
                let o = match transport {
                    Transport::Reset => Outcome::Reset,
                    Transport::Close => Outcome::Close,
                    Transport::Garbage(g) => Outcome::Garbage(g.clone()),
                    Transport::Truncate { keep } | Transport::Slow { chunk: keep, .. } => {
                        // Cut short (or drip) the answer the mock would give anyway.
                        let base = match self.dispatch_default_for_transport(env, scenario) {
                            Outcome::Reply(r) => r,
                            _ => Reply {
                                status: 200,
                                headers: Vec::new(),
                                body: bytes::Bytes::new(),
                            },
                        };
                        match transport {
                            Transport::Slow { interval, .. } => Outcome::SlowDrip {
                                reply: base,
                                chunk: *keep,
                                interval: *interval,
                            },
                            _ => Outcome::Truncated {
                                keep: (*keep).min(base.body.len()),
                                reply: base,
                            },
                        }
                    }
                };
                RuleOutcome::Done(with_delay(*delay, o))
            }
            Answer::Script { ast, delay } => {
                match crate::rules::run_script(ast, view, d.hits, &mut self.rules) {
                    Ok(ScriptAnswer::Default) => match delay {
                        Some(d) => RuleOutcome::DelayThenDefault(*d),
                        None => RuleOutcome::Default,
                    },
                    Ok(ScriptAnswer::Body {
                        status,
                        body,
                        content_type,
                    }) => {
                        let body = self.expand(&body, env, view);
                        let o = reply(
                            status,
                            body.into_bytes(),
                            content_type_or_soap(content_type.as_deref()),
                        );
                        RuleOutcome::Done(with_delay(*delay, o))
                    }
                    Ok(ScriptAnswer::Fault {
                        fault: name,
                        detail,
                        reason,
                    }) => {
                        let f = script_fault(&name, detail, reason);
                        let o = self.fault_outcome(f, relates, scenario);
                        RuleOutcome::Done(with_delay(*delay, o))
                    }
                    Err(e) => {
                        let o = self.fault_outcome(
                            script_error(format!("scenario script failed: {e}")),
                            relates,
                            scenario,
                        );
                        RuleOutcome::Done(o)
                    }
                }
            }
        }
    }

    /// The answer a transport rule mangles: a well-formed fault-free placeholder body
    /// sized like a real answer (the rule is about the transport, not the content).
    pub(super) fn dispatch_default_for_transport(
        &mut self,
        env: &Envelope<'_>,
        scenario: &Scenario,
    ) -> Outcome {
        let relates = env.header.message_id.as_deref();
        let mut header = self.response_header(
            env,
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse",
        );
        header.relates_to = relates.map(|r| Cow::Owned(r.to_owned()));
        let e = respond(header, Body::Empty);
        let _ = scenario;
        reply(200, e.to_xml_bytes(), SOAP_CT)
    }

    pub(super) fn expand(
        &mut self,
        template: &str,
        env: &Envelope<'_>,
        view: &RequestView<'_>,
    ) -> String {
        let mut out = String::with_capacity(template.len() + 64);
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                out.push_str(&rest[start..]);
                return out;
            };
            let key = after[..end].trim();
            let value: String = match key {
                "message_id" | "relates_to" => {
                    env.header.message_id.as_deref().unwrap_or("").to_owned()
                }
                "uuid" | "new_message_id" => new_uuid(),
                "to" => env.header.to.as_deref().unwrap_or("").to_owned(),
                "action" => view.action.to_owned(),
                "resource_uri" => view.resource_uri.to_owned(),
                "user" => view.user.unwrap_or("").to_owned(),
                "operation" => view.operation.to_owned(),
                _ => match key.strip_prefix("selector:") {
                    Some(name) => view
                        .selectors
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| (*v).to_owned())
                        .unwrap_or_default(),
                    None => format!("{{{{{key}}}}}"),
                },
            };
            out.push_str(&xml_escape(&value));
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

pub(super) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A rule's content type, or the SOAP one (borrowed) when it gives none.
fn content_type_or_soap(given: Option<&str>) -> std::borrow::Cow<'static, str> {
    given.map_or(std::borrow::Cow::Borrowed(SOAP_CT), |c| c.to_owned().into())
}
