//! The WS-Man side of PowerShell Remoting: the shell operations on the PowerShell
//! resource URIs (`http://schemas.microsoft.com/powershell/<configuration>`), read
//! from the envelope and handed to the runspace pools in [`crate::remoting`].
//!
//! - Create: the `rsp:Shell` carries `creationXml` (base64 fragments of
//!   SESSION_CAPABILITY and INIT_RUNSPACEPOOL); the answer is `ResourceCreated` with
//!   the ShellId (the runspace pool id) and the `rsp:Shell`, as Windows writes it.
//! - Command: `rsp:Arguments` carries the first fragment(s) of CREATE_PIPELINE; the
//!   CommandId is the pipeline id.
//! - Send: stream `stdin` (or `pr`, host responses) with more fragments, for the pool
//!   (no CommandId) or a pipeline.
//! - Receive: stream `stdout`, the messages due; a pipeline's last answer says
//!   CommandState `Done`. With nothing due it waits, as a cmd shell Receive does.
//! - Signal: `powershell/signal/crtl_c` stops a pipeline, `.../signal/Terminate`
//!   forgets it.
//! - Delete: closes the pool.
//! - Disconnect / Reconnect ([MS-PSRP] 3.2.5.3.16-19): a disconnected pool refuses
//!   every request but Reconnect and Delete; reconnected, it goes on where it was.

use std::borrow::Cow;
use std::time::Duration;

use base64::Engine as _;
use wsman::body::{Body, CommandState, ReceiveResponse, Shell, Stream};
use wsman::{Envelope, XsDuration, ns};

use super::Phase;
use super::faults::{self, Fail, OpResult, missing_command_id};
use super::shell::shell_id;
use super::write::respond;
use crate::http::Request;
use crate::mock::Inner;
use crate::remoting::{self, Received, World};

/// MS-PSRP's stop signal (3.1.5.4.5; its spelling) and the one pypsrp sends.
const PS_CTRL_C: [&str; 2] = ["powershell/signal/crtl_c", "powershell/signal/ctrl_c"];

/// WinRM's default MaxEnvelopeSize when a request names none.
const DEFAULT_MAX_ENVELOPE: usize = 153_600;

/// The namespace of `creationXml`, `connectXml` and `connectResponseXml`.
const PWSH: &str = "http://schemas.microsoft.com/powershell";

/// The shell resource that lists the shells (runspace pools) and is read by Get.
const SHELL_ROOT: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
/// The resource that lists the shells' commands (pipelines).
const SHELL_COMMANDS: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command";

/// The `connectXml` of a Connect's `rsp:Connect`.
fn connect_xml(body: &Body<'_>) -> Result<Vec<u8>, Fail> {
    let text = match body {
        Body::Instance(t) if t.root().name().local == "Connect" => t
            .root()
            .children()
            .find(|c| c.name().local == "connectXml")
            .map(|c| c.text().to_owned()),
        _ => None,
    };
    let text = text.ok_or_else(|| {
        Fail::from(remoting::PsrpError::BadCreation(
            "a PowerShell Connect carries rsp:Connect with connectXml".into(),
        ))
    })?;
    b64(&text, "connectXml")
}

/// XML text escaping for the values written into the shell listings.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A pool as `rsp:Shell`, as WinRM lists shells.
fn shell_xml(i: &remoting::ShellInfo) -> String {
    format!(
        "<rsp:Shell xmlns:rsp=\"{}\"><rsp:ShellId>{}</rsp:ShellId><rsp:ResourceUri>{}{}</rsp:ResourceUri><rsp:Owner>{}</rsp:Owner><rsp:State>{}</rsp:State><rsp:InputStreams>stdin pr</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams></rsp:Shell>",
        ns::RSP,
        esc(&i.id),
        remoting::RESOURCE_PREFIX,
        esc(&i.configuration),
        esc(&i.owner),
        if i.disconnected {
            "Disconnected"
        } else {
            "Connected"
        },
    )
}

/// Whether the request is for a PowerShell session configuration.
pub(super) fn is_psrp(env: &Envelope<'_>) -> bool {
    env.header
        .resource_uri
        .as_deref()
        .and_then(remoting::configuration_of)
        .is_some()
}

fn b64(text: &str, what: &str) -> Result<Vec<u8>, Fail> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean)
        .map_err(|_| {
            Fail::from(remoting::PsrpError::BadCreation(format!(
                "{what} is not base64"
            )))
        })
}

/// The `creationXml` of a Create's `rsp:Shell`.
fn creation_xml(shell: &Shell<'_>) -> Result<Vec<u8>, Fail> {
    let text = shell
        .other
        .iter()
        .map(|t| t.root())
        .find(|e| e.name().local == "creationXml")
        .map(|e| e.text().to_owned())
        .ok_or_else(|| {
            Fail::from(remoting::PsrpError::BadCreation(
                "the rsp:Shell of a PowerShell Create carries no creationXml".into(),
            ))
        })?;
    b64(&text, "creationXml")
}

impl Inner {
    /// A Get of the shell resource (pypsrp's `is_alive()`): the pool the ShellId
    /// selector names, as `rsp:Shell`; `None` for any other resource. Asked only after
    /// the CIM resources found nothing.
    pub(super) fn psrp_shell_get(
        &mut self,
        env: &Envelope<'_>,
        uri: &str,
        user: Option<&str>,
    ) -> Option<OpResult> {
        if !uri.trim().eq_ignore_ascii_case(SHELL_ROOT) {
            return None;
        }
        let user = user.unwrap_or("anonymous");
        let answer = (|| {
            let id = shell_id(env)?.to_ascii_uppercase();
            let info = self
                .psrp
                .shells(user)
                .into_iter()
                .find(|s| s.id == id)
                .ok_or_else(|| {
                    Fail::from(remoting::PsrpError::UnknownShell(format!(
                        "The request for the Windows Remote Shell with ShellId {id} failed because the shell was not found on the server."
                    )))
                })?;
            let header = self.response_header(env, ns::action::GET_RESPONSE);
            Ok(respond(header, Body::Xml(shell_xml(&info).into())))
        })();
        Some(answer)
    }

    /// The items of an Enumerate of the shell resource (the user's runspace pools,
    /// `rsp:Shell`) or of its commands (`rsp:Command`, filtered by a SelectorFilter on
    /// ShellId); `None` for any other resource. Asked only after the CIM resources
    /// found nothing.
    pub(super) fn psrp_shell_items(
        &self,
        uri: &str,
        filter: Option<&wsman::body::Filter<'_>>,
        user: &str,
    ) -> Option<Vec<String>> {
        let uri = uri.trim();
        let shells = if uri.eq_ignore_ascii_case(SHELL_ROOT) {
            return Some(self.psrp.shells(user).iter().map(shell_xml).collect());
        } else if uri.eq_ignore_ascii_case(SHELL_COMMANDS) {
            self.psrp.shells(user)
        } else {
            return None;
        };
        let wanted = filter.and_then(|f| match &f.content {
            wsman::body::FilterContent::Selectors(sel) => sel
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case("ShellId"))
                .and_then(|s| match &s.value {
                    wsman::addressing::SelectorValue::Text(t) => {
                        Some(t.trim().to_ascii_uppercase())
                    }
                    wsman::addressing::SelectorValue::Epr(_) => None,
                }),
            _ => None,
        });
        Some(
            shells
                .iter()
                .filter(|s| wanted.as_deref().is_none_or(|w| w == s.id))
                .flat_map(|s| s.commands.iter())
                .map(|c| {
                    format!(
                        "<rsp:Command xmlns:rsp=\"{}\"><rsp:CommandId>{}</rsp:CommandId></rsp:Command>",
                        ns::RSP,
                        esc(c)
                    )
                })
                .collect(),
        )
    }

    /// Create, Command, Send, Signal and Delete on a PowerShell resource.
    pub(super) fn psrp_op(&mut self, env: &Envelope<'_>, req: &Request, now: u64) -> OpResult {
        let action = env.header.action.as_deref().unwrap_or("");
        let user = req.user.as_deref().unwrap_or("anonymous");
        let uri = env.header.resource_uri.as_deref().unwrap_or("").trim();
        let config = remoting::configuration_of(uri).unwrap_or(remoting::DEFAULT_CONFIGURATION);
        let unix_now = u64::from(self.machine.sel_time(now));
        let defects = remoting::Defects::of(&self.scenario);
        let world = World {
            spec: self.machine.spec(),
            unix_now,
            defects,
            rules: &self.scenario.psrp,
        };
        let pools = &mut self.psrp;
        // What the operation did, answered once the pools are let go.
        let (reply, body): (&str, Body<'static>) = match action {
            ns::action::CREATE => {
                let Body::Shell(shell) = &env.body else {
                    return Err(faults::invalid_shell_body(
                        "a PowerShell Create carries rsp:Shell with creationXml",
                    ));
                };
                let creation = creation_xml(shell)?;
                let id = pools.create(config, user, &creation, now, &world)?;
                let epr = wsman::Epr {
                    address: Cow::Owned(
                        env.header.to.as_deref().unwrap_or(ns::ANONYMOUS).to_owned(),
                    ),
                    resource_uri: Some(Cow::Owned(uri.to_owned())),
                    selectors: vec![wsman::Selector::text("ShellId", id.clone())],
                    other_parameters: Vec::new(),
                };
                let mut header = self.response_header(env, ns::action::CREATE_RESPONSE);
                header.resource_uri = None;
                let mut answer = respond(header, Body::ResourceCreated(epr));
                answer.extra.push(Body::Shell(Shell {
                    shell_id: Some(Cow::Owned(id)),
                    input_streams: Some(Cow::Borrowed("stdin pr")),
                    output_streams: Some(Cow::Borrowed("stdout")),
                    working_directory: None,
                    environment: Vec::new(),
                    lifetime: None,
                    idle_timeout: Some(XsDuration::from_std(Duration::from_secs(7200))),
                    other: Vec::new(),
                }));
                self.shell_wake.send_modify(|g| *g += 1);
                return Ok(answer);
            }
            ns::action::DELETE => {
                pools.delete(shell_id(env)?, user)?;
                (ns::action::DELETE_RESPONSE, Body::Empty)
            }
            ns::action::DISCONNECT => {
                pools.disconnect(shell_id(env)?, user)?;
                (
                    ns::action::DISCONNECT_RESPONSE,
                    Body::Xml(std::sync::Arc::<str>::from(format!(
                        "<rsp:DisconnectResponse xmlns:rsp=\"{}\"/>",
                        ns::RSP
                    ))),
                )
            }
            ns::action::CONNECT => {
                let connect = connect_xml(&env.body)?;
                let answer = pools.connect(shell_id(env)?, user, &connect, &world, now)?;
                let text = base64::engine::general_purpose::STANDARD.encode(answer);
                (
                    ns::action::CONNECT_RESPONSE,
                    Body::Xml(std::sync::Arc::<str>::from(format!(
                        "<rsp:ConnectResponse xmlns:rsp=\"{}\"><pwsh:connectResponseXml xmlns:pwsh=\"{PWSH}\">{text}</pwsh:connectResponseXml></rsp:ConnectResponse>",
                        ns::RSP
                    ))),
                )
            }
            ns::action::RECONNECT => {
                pools.reconnect(shell_id(env)?, user)?;
                (
                    ns::action::RECONNECT_RESPONSE,
                    Body::Xml(std::sync::Arc::<str>::from(format!(
                        "<rsp:ReconnectResponse xmlns:rsp=\"{}\"/>",
                        ns::RSP
                    ))),
                )
            }
            ns::action::COMMAND => {
                let shell = shell_id(env)?;
                let Body::CommandLine(c) = &env.body else {
                    return Err(faults::malformed_body(
                        "a PowerShell Command carries rsp:CommandLine",
                    ));
                };
                let first = c.arguments.first().ok_or_else(|| {
                    Fail::from(remoting::PsrpError::BadCreation(
                        "a PowerShell Command carries CREATE_PIPELINE in rsp:Arguments".into(),
                    ))
                })?;
                let bytes = b64(first, "rsp:Arguments")?;
                let id = match pools.command(shell, user, &bytes, now, &world) {
                    // Seeded defect: a Command for no pool is taken as if it ran.
                    Err(remoting::PsrpError::UnknownShell(_))
                        if self.scenario.defect("psrp_unknown_shell_accepted") =>
                    {
                        remoting::pipeline_id_of(&bytes)
                            .unwrap_or_else(|| psrp::Guid::NIL.to_string().to_ascii_uppercase())
                    }
                    other => other?,
                };
                (
                    ns::action::COMMAND_RESPONSE,
                    Body::CommandResponse(wsman::body::CommandResponse {
                        command_id: Cow::Owned(id),
                    }),
                )
            }
            ns::action::SEND => {
                let shell = shell_id(env)?;
                let Body::Send(send) = &env.body else {
                    return Err(faults::malformed_body("a shell Send carries rsp:Send"));
                };
                for stream in &send.streams {
                    // The parser has checked the base64.
                    let bytes = stream.decode().unwrap_or_default();
                    pools.send(
                        shell,
                        user,
                        stream.command_id.as_deref(),
                        &bytes,
                        now,
                        &world,
                    )?;
                }
                (ns::action::SEND_RESPONSE, Body::SendResponse)
            }
            ns::action::SIGNAL => {
                let shell = shell_id(env)?;
                let Body::Signal(sig) = &env.body else {
                    return Err(faults::malformed_body("a shell Signal carries rsp:Signal"));
                };
                let command = sig
                    .command_id
                    .as_deref()
                    .ok_or_else(|| missing_command_id("rsp:Signal names no CommandId"))?;
                let code = sig.code.trim();
                let terminate = matches!(
                    machine::shell::Signal::parse(code),
                    Some(machine::shell::Signal::Terminate)
                );
                if !terminate && !PS_CTRL_C.iter().any(|c| c.eq_ignore_ascii_case(code)) {
                    return Err(Fail::from(faults::unknown_signal(format!(
                        "unknown signal code `{code}` for a PowerShell pipeline"
                    ))));
                }
                pools.signal(shell, user, command, terminate, now, defects)?;
                (ns::action::SIGNAL_RESPONSE, Body::SignalResponse)
            }
            other => {
                return Err(faults::action_mismatch(format!(
                    "the action `{other}` is not supported by the PowerShell resource"
                )));
            }
        };
        Ok(self.wake_and_respond(env, reply, body))
    }

    /// A Receive on a PowerShell resource: the messages due, or `Phase::Wait`.
    pub(super) fn psrp_receive_phase(
        &mut self,
        env: &Envelope<'_>,
        user: Option<&str>,
        now: u64,
        delay: Option<Duration>,
    ) -> Phase {
        let result = (|| -> Result<Result<Envelope<'static>, Option<u64>>, Fail> {
            let shell = shell_id(env)?;
            let Body::Receive(r) = &env.body else {
                return Err(faults::malformed_body(
                    "a shell Receive carries rsp:Receive",
                ));
            };
            let user = user.unwrap_or("anonymous");
            let command = r.command_id.as_deref();
            let max = env
                .header
                .max_envelope_size
                .map_or(DEFAULT_MAX_ENVELOPE, |m| {
                    usize::try_from(m).unwrap_or(usize::MAX)
                });
            match self.psrp.receive(shell, user, command, now, max)? {
                Received::Wait(until) => Ok(Err(until)),
                Received::Output { streams, done } => {
                    let id = || command.map(|c| Cow::Owned(c.to_owned()));
                    // Seeded defect: the streams do not say which pipeline they are for.
                    let stream_id = || {
                        if self.scenario.defect("psrp_streams_without_command_id") {
                            None
                        } else {
                            id()
                        }
                    };
                    let body = ReceiveResponse {
                        streams: streams
                            .iter()
                            .map(|b| Stream::with_bytes("stdout", stream_id(), b, false))
                            .collect(),
                        command_state: done.map(|d| CommandState {
                            command_id: id(),
                            state: Cow::Borrowed(if d {
                                ns::shell::STATE_DONE
                            } else {
                                ns::shell::STATE_RUNNING
                            }),
                            exit_code: None,
                        }),
                    };
                    let header = self.response_header(env, ns::action::RECEIVE_RESPONSE);
                    Ok(Ok(respond(header, Body::ReceiveResponse(body))))
                }
            }
        })();
        match result {
            Ok(Ok(answer)) => Phase::Dispatched(Ok(answer), delay),
            Ok(Err(until)) => Phase::Wait(until, self.shell_wake.subscribe()),
            Err(f) => Phase::Dispatched(Err(f), delay),
        }
    }
}
