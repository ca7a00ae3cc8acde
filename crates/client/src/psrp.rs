//! PowerShell Remoting ([MS-PSRP]) over a WinRM shell, the client's side, without IO:
//! the envelopes that open a runspace pool (Create with `creationXml`), run a pipeline
//! (Command with the CREATE_PIPELINE in `rsp:Arguments`), fetch what the server sends
//! (Receive), stop a pipeline (Signal `powershell/signal/crtl_c`) and close the pool
//! (Delete); and [`Pool::read_receive`], which turns ReceiveResponses back into PSRP
//! messages (base64, fragments reassembled per pool and per pipeline).
//!
//! The caller sends the envelopes however it likes (the conformance suite through its
//! recording context), so every round trip stays in its transcript.
//!
//! ```
//! use client::{build, psrp::Pool};
//! use psrp::records::InitRunspacePool;
//! let mut pool = Pool::new(psrp::Guid([7; 16]), client::psrp::RESOURCE_URI);
//! let init = InitRunspacePool { min_runspaces: 1, max_runspaces: 1, thread_options: None,
//!     apartment_state: None, application_arguments: vec![] };
//! let env = pool.create(build::Request::new("http://127.0.0.1:5985/wsman", client::psrp::RESOURCE_URI), &init);
//! assert!(env.to_xml().contains("creationXml"));
//! ```

use std::borrow::Cow;
use std::collections::HashMap;

use base64::Engine as _;
use psrp::clixml::{self, Value};
use psrp::fragment::{self, Defragmenter};
use psrp::records::{CreatePipeline, ErrorRecord, InitRunspacePool, SessionCapability};
use psrp::{Destination, Guid, Message, MessageType};
use wsman::body::{CommandLine, Receive, Shell, Signal};
use wsman::tree::{Name, Tree};
use wsman::{Body, Envelope, OptionItem, ns};

use crate::{Exchange, build};

/// The resource URI of Windows' default session configuration.
pub const RESOURCE_URI: &str = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell";

/// The prefix of every PowerShell session configuration's resource URI.
pub const RESOURCE_PREFIX: &str = "http://schemas.microsoft.com/powershell/";

/// The resource URI of session configuration `name` (`None`: [`RESOURCE_URI`]). A name
/// that is already a URI is kept as it is.
pub fn resource_uri(name: Option<&str>) -> String {
    match name {
        None => RESOURCE_URI.to_owned(),
        Some(n) if n.contains("://") => n.to_owned(),
        Some(n) => format!("{RESOURCE_PREFIX}{n}"),
    }
}

/// The namespace of `creationXml`.
pub const NS_POWERSHELL: &str = "http://schemas.microsoft.com/powershell";

/// The signal that stops a pipeline ([MS-PSRP] 3.1.5.3.9; the spelling is the
/// protocol's).
pub const SIGNAL_STOP: &str = "powershell/signal/crtl_c";

/// The `protocolversion` option a Create carries (3.1.5.3.1; pypsrp sends 2.3).
pub const PROTOCOL_VERSION: &str = "2.3";

/// The fragment size the client cuts its own messages to: well under any
/// MaxEnvelopeSize once base64 and the envelope are added (pypsrp uses about the same).
pub const CLIENT_FRAGMENT: usize = 32 * 1024;

/// What went wrong reading a server's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PsrpError {
    /// The answer is not a WS-Man envelope of the expected kind.
    #[error("{0}")]
    Envelope(String),
    /// A stream's text is not base64.
    #[error("an rsp:Stream is not base64: {0}")]
    Base64(String),
    /// The fragments do not reassemble.
    #[error("the PSRP fragments do not reassemble: {0}")]
    Fragments(String),
    /// A reassembled object is not a PSRP message.
    #[error("a reassembled object is not a PSRP message: {0}")]
    Message(String),
    /// A message's data is not the record its type says.
    #[error("{0}")]
    Record(String),
}

/// One `rsp:Stream` of a ReceiveResponse, as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSeen {
    /// Its `Name`.
    pub name: String,
    /// Its `CommandId`, if any.
    pub command_id: Option<String>,
    /// Its decoded length in bytes.
    pub len: usize,
}

/// What one ReceiveResponse brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    /// The PSRP messages completed by this answer, in order.
    pub messages: Vec<Message>,
    /// The streams, as they came.
    pub streams: Vec<StreamSeen>,
    /// `rsp:CommandState` said Done.
    pub done: bool,
    /// The `rsp:CommandState`'s CommandId, if it had one.
    pub state_command_id: Option<String>,
}

/// A runspace pool: its id, its shell once created, and the reassembly state of what
/// the server sent to it and to its pipelines.
#[derive(Debug)]
pub struct Pool {
    /// The runspace pool id (RPID), also sent as the shell's `ShellId`.
    pub rpid: Guid,
    /// The session configuration's resource URI.
    pub resource_uri: String,
    /// The shell id the server named in ResourceCreated.
    pub shell_id: Option<String>,
    next_object: u64,
    pool_defrag: Defragmenter,
    pipeline_defrag: HashMap<String, Defragmenter>,
}

impl Pool {
    /// A pool not yet created, with id `rpid`, on the session configuration at
    /// `resource_uri`.
    pub fn new(rpid: Guid, resource_uri: impl Into<String>) -> Pool {
        Pool {
            rpid,
            resource_uri: resource_uri.into(),
            shell_id: None,
            next_object: 1,
            pool_defrag: Defragmenter::new(fragment::Limits::default()),
            pipeline_defrag: HashMap::new(),
        }
    }

    /// The fragments of `messages`, back to back, each message a new object.
    fn fragments(&mut self, messages: &[Message]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            let id = self.next_object;
            self.next_object += 1;
            // CLIENT_FRAGMENT is far above the header: split cannot fail.
            if let Ok(bytes) = fragment::split_encoded(id, &m.to_bytes(), CLIENT_FRAGMENT) {
                out.extend_from_slice(&bytes);
            }
        }
        out
    }

    /// The request builder for this pool's shell (its ShellId selector once known).
    pub fn shell_request(&self, req: build::Request) -> build::Request {
        match &self.shell_id {
            Some(id) => req.selector("ShellId", id.clone()),
            None => req,
        }
    }

    /// The Create that opens the pool: SESSION_CAPABILITY and INIT_RUNSPACEPOOL in
    /// `creationXml`, `protocolversion` (MustComply), input streams `stdin pr`, output
    /// `stdout`. `req` should address [`Pool::resource_uri`].
    pub fn create(&mut self, req: build::Request, init: &InitRunspacePool) -> Envelope<'static> {
        let to_server = |kind, v: &Value| {
            Message::with_value(Destination::Server, kind, self.rpid, Guid::NIL, v)
        };
        let msgs = [
            to_server(
                MessageType::SESSION_CAPABILITY,
                &SessionCapability::default().to_value(),
            ),
            to_server(MessageType::INIT_RUNSPACEPOOL, &init.to_value()),
        ];
        let payload = self.fragments(&msgs);
        let creation = Tree::leaf(
            Name::new(NS_POWERSHELL, "creationXml"),
            base64::engine::general_purpose::STANDARD.encode(payload),
        );
        let shell = Shell {
            input_streams: Some("stdin pr".into()),
            output_streams: Some("stdout".into()),
            other: vec![creation],
            ..Shell::default()
        };
        let mut version = OptionItem::new("protocolversion", PROTOCOL_VERSION);
        version.must_comply = true;
        req.option_item(version)
            .envelope(ns::action::CREATE, Body::Shell(shell))
    }

    /// Reads the Create's answer: the ShellId selector of `wxf:ResourceCreated` (or a
    /// `rsp:Shell` body's `rsp:ShellId`), which later requests carry.
    ///
    /// # Errors
    /// [`PsrpError::Envelope`] for a fault or an answer that names no shell.
    pub fn created(&mut self, ex: &Exchange) -> Result<String, PsrpError> {
        let env = envelope(ex, "the Create")?;
        let id = match &env.body {
            Body::ResourceCreated(epr) => epr
                .selectors
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case("ShellId"))
                .and_then(|s| s.as_text())
                .map(str::to_owned),
            Body::Shell(s) => s.shell_id.as_deref().map(str::to_owned),
            _ => None,
        };
        let id = id.ok_or_else(|| {
            PsrpError::Envelope("the Create was answered without a ShellId selector".into())
        })?;
        self.shell_id = Some(id.clone());
        Ok(id)
    }

    /// A Receive of the pool's messages (no CommandId) or a pipeline's, with
    /// `WSMAN_CMDSHELL_OPTION_KEEPALIVE` as pypsrp sends it.
    pub fn receive(&self, req: build::Request, command_id: Option<&str>) -> Envelope<'static> {
        let body = Receive {
            desired_streams: "stdout".into(),
            command_id: command_id.map(|c| Cow::Owned(c.to_owned())),
        };
        self.shell_request(req)
            .option("WSMAN_CMDSHELL_OPTION_KEEPALIVE", "TRUE")
            .envelope(ns::action::RECEIVE, Body::Receive(body))
    }

    /// The Command that starts pipeline `pid`: CREATE_PIPELINE, base64, as the
    /// command's `rsp:Arguments` (the command itself empty, as PowerShell sends it).
    pub fn command(
        &mut self,
        req: build::Request,
        pid: Guid,
        pipeline: &CreatePipeline,
    ) -> Envelope<'static> {
        let msg = Message::with_value(
            Destination::Server,
            MessageType::CREATE_PIPELINE,
            self.rpid,
            pid,
            &pipeline.to_value(),
        );
        let payload = self.fragments(std::slice::from_ref(&msg));
        let body = CommandLine {
            command: Cow::Borrowed(""),
            arguments: vec![Cow::Owned(
                base64::engine::general_purpose::STANDARD.encode(payload),
            )],
        };
        self.shell_request(req)
            .envelope(ns::action::COMMAND, Body::CommandLine(body))
    }

    /// The Signal that stops the pipeline the server knows as `command_id`.
    pub fn stop(&self, req: build::Request, command_id: &str) -> Envelope<'static> {
        self.signal(req, command_id, SIGNAL_STOP)
    }

    /// A Signal with any code (for cases that check a server refuses other codes).
    pub fn signal(&self, req: build::Request, command_id: &str, code: &str) -> Envelope<'static> {
        let body = Signal {
            command_id: Some(Cow::Owned(command_id.to_owned())),
            code: Cow::Owned(code.to_owned()),
        };
        self.shell_request(req)
            .envelope(ns::action::SIGNAL, Body::Signal(body))
    }

    /// The Delete that closes the pool.
    pub fn delete(&self, req: build::Request) -> Envelope<'static> {
        self.shell_request(req).delete()
    }

    /// Reads a ReceiveResponse: each stream's base64 decoded and its fragments fed to
    /// the pool's reassembly (no CommandId) or the pipeline's (by CommandId); every
    /// message completed is returned, framed.
    ///
    /// # Errors
    /// A fault or another body ([`PsrpError::Envelope`]), bad base64, fragments that do
    /// not reassemble, or an object that is not a message.
    pub fn read_receive(&mut self, ex: &Exchange) -> Result<Received, PsrpError> {
        let env = envelope(ex, "the Receive")?;
        let Body::ReceiveResponse(r) = &env.body else {
            return Err(PsrpError::Envelope(format!(
                "the Receive was answered with {}",
                body_name(&env.body)
            )));
        };
        let mut got = Received {
            done: r.command_state.as_ref().is_some_and(|s| s.is_done()),
            state_command_id: r
                .command_state
                .as_ref()
                .and_then(|s| s.command_id.as_deref().map(str::to_owned)),
            ..Received::default()
        };
        for s in &r.streams {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.data.trim())
                .map_err(|e| PsrpError::Base64(e.to_string()))?;
            let command_id = s.command_id.as_deref().map(str::to_owned);
            got.streams.push(StreamSeen {
                name: s.name.to_string(),
                command_id: command_id.clone(),
                len: bytes.len(),
            });
            let defrag = match &command_id {
                None => &mut self.pool_defrag,
                Some(c) => self
                    .pipeline_defrag
                    .entry(c.to_ascii_uppercase())
                    .or_insert_with(|| Defragmenter::new(fragment::Limits::default())),
            };
            let mut whole = Vec::new();
            defrag
                .push_stream(&bytes, &mut whole)
                .map_err(|e| PsrpError::Fragments(e.to_string()))?;
            for w in whole {
                got.messages
                    .push(Message::decode(&w).map_err(|e| PsrpError::Message(e.to_string()))?);
            }
        }
        Ok(got)
    }
}

fn envelope<'e>(ex: &'e Exchange, what: &str) -> Result<Envelope<'e>, PsrpError> {
    if let Some(f) = ex.fault() {
        return Err(PsrpError::Envelope(format!(
            "{what} was answered with a fault ({})",
            f.subcode.as_deref().unwrap_or(&f.code)
        )));
    }
    match ex.envelope() {
        Some(Ok(env)) => Ok(env),
        Some(Err(e)) => Err(PsrpError::Envelope(format!(
            "{what} was answered with an unreadable envelope: {e}"
        ))),
        None => Err(PsrpError::Envelope(format!(
            "{what} was answered (HTTP {}) without an envelope",
            ex.status().map_or("none".to_owned(), |s| s.to_string())
        ))),
    }
}

fn body_name(b: &Body<'_>) -> &'static str {
    match b {
        Body::Empty => "an empty body",
        Body::Fault(_) => "a fault",
        Body::CommandResponse(_) => "a CommandResponse",
        Body::SendResponse => "a SendResponse",
        Body::ResourceCreated(_) => "ResourceCreated",
        _ => "another body",
    }
}

/// Everything a pipeline sent, sorted by stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PipelineOutput {
    /// PIPELINE_OUTPUT objects.
    pub output: Vec<Value>,
    /// ERROR_RECORDs.
    pub errors: Vec<ErrorRecord>,
    /// WARNING_RECORD texts.
    pub warnings: Vec<String>,
    /// VERBOSE_RECORD texts.
    pub verbose: Vec<String>,
    /// DEBUG_RECORD texts.
    pub debug: Vec<String>,
    /// INFORMATION_RECORD texts.
    pub information: Vec<String>,
    /// PROGRESS_RECORD texts.
    pub progress: Vec<String>,
    /// The last PIPELINE_STATE.
    pub state: Option<psrp::client::StateRead>,
    /// Message types nobody asked for (host calls and the like), by name or number.
    pub other: Vec<String>,
}

/// The PSInvocationState numbers that end a pipeline (2.2.3.5): Stopped, Completed,
/// Failed.
pub const FINAL_PIPELINE_STATES: [i32; 3] = [3, 4, 5];

impl PipelineOutput {
    /// Files one message of the pipeline.
    ///
    /// # Errors
    /// [`PsrpError::Record`] for data that is not the record its type says.
    pub fn take(&mut self, m: &Message) -> Result<(), PsrpError> {
        let limits = clixml::Limits::default();
        let value = |m: &Message| {
            m.value(&limits)
                .map_err(|e| PsrpError::Record(e.to_string()))
        };
        let text = |v: Option<String>, what: &str| {
            v.ok_or_else(|| PsrpError::Record(format!("a {what} without its text")))
        };
        match m.kind {
            MessageType::PIPELINE_OUTPUT => self.output.push(value(m)?),
            MessageType::ERROR_RECORD => self.errors.push(
                ErrorRecord::from_value(&value(m)?)
                    .map_err(|e| PsrpError::Record(e.to_string()))?,
            ),
            MessageType::WARNING_RECORD => self.warnings.push(text(
                psrp::client::informational_message(&value(m)?),
                "WARNING_RECORD",
            )?),
            MessageType::VERBOSE_RECORD => self.verbose.push(text(
                psrp::client::informational_message(&value(m)?),
                "VERBOSE_RECORD",
            )?),
            MessageType::DEBUG_RECORD => self.debug.push(text(
                psrp::client::informational_message(&value(m)?),
                "DEBUG_RECORD",
            )?),
            MessageType::INFORMATION_RECORD => self.information.push(text(
                psrp::client::information_message(&value(m)?),
                "INFORMATION_RECORD",
            )?),
            MessageType::PROGRESS_RECORD => self.progress.push(text(
                psrp::client::progress_message(&value(m)?),
                "PROGRESS_RECORD",
            )?),
            MessageType::PIPELINE_STATE => {
                self.state = Some(
                    psrp::client::read_pipeline_state(&value(m)?)
                        .map_err(|e| PsrpError::Record(e.to_string()))?,
                );
            }
            other => self.other.push(
                other
                    .name()
                    .map_or_else(|| format!("{:#010x}", other.as_u32()), str::to_owned),
            ),
        }
        Ok(())
    }

    /// Whether a final PIPELINE_STATE (Stopped, Completed or Failed) came.
    pub fn finished(&self) -> bool {
        self.state
            .as_ref()
            .is_some_and(|s| FINAL_PIPELINE_STATES.contains(&s.state))
    }

    /// Every output object's text: a string as it is, an object by its `ToString`.
    pub fn output_texts(&self) -> Vec<String> {
        self.output
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                Value::Obj(o) => o
                    .to_string
                    .clone()
                    .or_else(|| o.base.as_ref().and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or_default(),
                other => format!("{other:?}"),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use psrp::records::{Command, Parameter, PipelineState, pipeline_state, runspace_pool_state};
    use wsman::body::{CommandState, ReceiveResponse, Stream};

    fn req() -> build::Request {
        build::Request::new("http://127.0.0.1:5985/wsman", RESOURCE_URI)
    }

    fn init() -> InitRunspacePool {
        InitRunspacePool {
            min_runspaces: 1,
            max_runspaces: 2,
            thread_options: Some(0),
            apartment_state: Some(2),
            application_arguments: vec![],
        }
    }

    /// The server's view of a request: the envelope parsed back.
    fn reparse(env: &Envelope<'_>) -> String {
        let xml = env.to_xml();
        wsman::parse(&xml, &wsman::Limits::default()).expect("the request parses");
        xml
    }

    fn decode_payload(b64: &str) -> Vec<Message> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let mut d = Defragmenter::new(fragment::Limits::default());
        let mut out = Vec::new();
        d.push_stream(&bytes, &mut out).unwrap();
        out.iter().map(|m| Message::decode(m).unwrap()).collect()
    }

    #[test]
    fn create_carries_both_opening_messages_and_the_protocol_version() {
        let mut pool = Pool::new(Guid([9; 16]), RESOURCE_URI);
        let env = pool.create(req(), &init());
        let xml = reparse(&env);
        assert!(xml.contains("protocolversion"), "{xml}");
        assert!(xml.contains("MustComply=\"true\""), "{xml}");
        let Body::Shell(shell) = &env.body else {
            panic!("not a Shell body")
        };
        assert_eq!(shell.input_streams.as_deref(), Some("stdin pr"));
        let creation = shell.other[0].root();
        assert!(creation.is(NS_POWERSHELL, "creationXml"));
        let msgs = decode_payload(creation.text());
        let kinds: Vec<_> = msgs.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            [
                MessageType::SESSION_CAPABILITY,
                MessageType::INIT_RUNSPACEPOOL
            ]
        );
        assert!(msgs.iter().all(|m| m.rpid == Guid([9; 16])));
        let v = msgs[1].value(&clixml::Limits::default()).unwrap();
        assert_eq!(InitRunspacePool::from_value(&v).unwrap(), init());
    }

    #[test]
    fn command_carries_the_pipeline_and_later_requests_name_the_shell() {
        let mut pool = Pool::new(Guid([1; 16]), RESOURCE_URI);
        pool.shell_id = Some("SHELL-1".into());
        let cp = CreatePipeline {
            no_input: true,
            add_to_history: false,
            is_nested: false,
            statements: vec![vec![Command {
                command: "Write-Output".into(),
                is_script: false,
                use_local_scope: None,
                parameters: vec![Parameter {
                    name: Some("InputObject".into()),
                    value: Value::string("x"),
                }],
            }]],
        };
        let env = pool.command(req(), Guid([2; 16]), &cp);
        let xml = reparse(&env);
        assert!(xml.contains("SHELL-1"), "{xml}");
        let Body::CommandLine(c) = &env.body else {
            panic!("not a CommandLine")
        };
        let msgs = decode_payload(&c.arguments[0]);
        assert_eq!(msgs[0].kind, MessageType::CREATE_PIPELINE);
        assert_eq!(msgs[0].pid, Guid([2; 16]));
        let v = msgs[0].value(&clixml::Limits::default()).unwrap();
        assert_eq!(CreatePipeline::from_value(&v).unwrap(), cp);
        let stop = reparse(&pool.stop(req(), "CMD-1"));
        assert!(
            stop.contains(SIGNAL_STOP) && stop.contains("CMD-1"),
            "{stop}"
        );
        let rcv = reparse(&pool.receive(req(), Some("CMD-1")));
        assert!(rcv.contains("WSMAN_CMDSHELL_OPTION_KEEPALIVE"), "{rcv}");
        assert!(reparse(&pool.delete(req())).contains("SHELL-1"));
    }

    /// A server's answer with `body`, as the client would have received it.
    fn answer(body: Body<'static>) -> Exchange {
        let xml = req().envelope("urn:answer", body).to_xml();
        let t = crate::Transcript {
            method: "POST".into(),
            url: "http://h/wsman".into(),
            target: "/wsman".into(),
            headers: Vec::new(),
            body: bytes::Bytes::new(),
            started: std::time::Duration::ZERO,
            connection: 1,
            reused: false,
        };
        let r = crate::ResponseTranscript {
            status: 200,
            reason: None,
            version: "HTTP/1.1".into(),
            headers: vec![(
                "Content-Type".into(),
                "application/soap+xml;charset=UTF-8".into(),
            )],
            body: bytes::Bytes::from(xml.into_bytes()),
            elapsed: std::time::Duration::ZERO,
        };
        Exchange::new(t, Some(r), None, Vec::new(), std::time::Duration::ZERO)
    }

    fn stream(cid: Option<&str>, msgs: &[Message], max: usize) -> Stream<'static> {
        let mut bytes = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            bytes.extend(fragment::split_encoded(i as u64 + 1, &m.to_bytes(), max).unwrap());
        }
        Stream::with_bytes(
            "stdout",
            cid.map(|c| Cow::Owned(c.to_owned())),
            &bytes,
            false,
        )
    }

    #[test]
    fn receive_reassembles_pool_and_pipeline_messages_across_answers() {
        let mut pool = Pool::new(Guid([3; 16]), RESOURCE_URI);
        let opened = Message::with_value(
            Destination::Client,
            MessageType::RUNSPACEPOOL_STATE,
            Guid([3; 16]),
            Guid::NIL,
            &runspace_pool_state(psrp::records::RunspacePoolState::Opened, None),
        );
        let done = Message::with_value(
            Destination::Client,
            MessageType::PIPELINE_STATE,
            Guid([3; 16]),
            Guid([4; 16]),
            &pipeline_state(PipelineState::Completed, None),
        );
        // The pipeline's message in 30-byte fragments, split over two answers.
        let whole = stream(Some("cmd-a"), std::slice::from_ref(&done), 30);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(whole.data.as_ref())
            .unwrap();
        let (a, b) = bytes.split_at(60);
        let first = ReceiveResponse {
            streams: vec![
                stream(None, std::slice::from_ref(&opened), 4096),
                Stream::with_bytes("stdout", Some("CMD-A".into()), a, false),
            ],
            command_state: None,
        };
        let got = pool
            .read_receive(&answer(Body::ReceiveResponse(first)))
            .unwrap();
        assert_eq!(got.messages, [opened]);
        assert!(!got.done);
        assert_eq!(got.streams[1].command_id.as_deref(), Some("CMD-A"));
        let second = ReceiveResponse {
            streams: vec![Stream::with_bytes("stdout", Some("cmd-a".into()), b, false)],
            command_state: Some(CommandState {
                command_id: Some("cmd-a".into()),
                state: ns::shell::STATE_DONE.into(),
                exit_code: None,
            }),
        };
        let got = pool
            .read_receive(&answer(Body::ReceiveResponse(second)))
            .unwrap();
        assert_eq!(
            got.messages,
            std::slice::from_ref(&done),
            "CommandId case does not matter"
        );
        assert!(got.done);
        let mut out = PipelineOutput::default();
        out.take(&got.messages[0]).unwrap();
        assert!(out.finished());
    }

    #[test]
    fn bad_receive_answers_are_errors_that_say_what_is_wrong() {
        let mut pool = Pool::new(Guid([3; 16]), RESOURCE_URI);
        let not_b64 = ReceiveResponse {
            streams: vec![Stream {
                name: "stdout".into(),
                command_id: None,
                end: false,
                data: "@@@".into(),
            }],
            command_state: None,
        };
        assert!(matches!(
            pool.read_receive(&answer(Body::ReceiveResponse(not_b64))),
            Err(PsrpError::Base64(_))
        ));
        // A fragment that is not the start of its object.
        let mut frag = Vec::new();
        psrp::Fragment {
            object_id: 5,
            fragment_id: 1,
            start: false,
            end: true,
            blob: vec![1, 2, 3],
        }
        .encode(&mut frag)
        .unwrap();
        let orphan = ReceiveResponse {
            streams: vec![Stream::with_bytes("stdout", None, &frag, false)],
            command_state: None,
        };
        assert!(matches!(
            pool.read_receive(&answer(Body::ReceiveResponse(orphan))),
            Err(PsrpError::Fragments(_))
        ));
        let other = pool.read_receive(&answer(Body::SendResponse)).unwrap_err();
        assert!(other.to_string().contains("SendResponse"), "{other}");
        assert!(matches!(
            pool.created(&answer(Body::Empty)),
            Err(PsrpError::Envelope(_))
        ));
    }

    #[test]
    fn pipeline_output_files_every_stream() {
        use psrp::records::{Informational, informational_record};
        let msg = |kind, v: &Value| {
            Message::with_value(Destination::Client, kind, Guid::NIL, Guid([1; 16]), v)
        };
        let mut out = PipelineOutput::default();
        let err = ErrorRecord::new("boom", "System.Exception", "Boom", 0);
        for m in [
            msg(MessageType::PIPELINE_OUTPUT, &Value::string("o")),
            msg(MessageType::ERROR_RECORD, &err.to_value()),
            msg(
                MessageType::WARNING_RECORD,
                &informational_record(Informational::Warning, "w"),
            ),
            msg(
                MessageType::VERBOSE_RECORD,
                &informational_record(Informational::Verbose, "v"),
            ),
            msg(
                MessageType::DEBUG_RECORD,
                &informational_record(Informational::Debug, "d"),
            ),
            msg(MessageType::RUNSPACEPOOL_HOST_CALL, &Value::Null),
        ] {
            out.take(&m).unwrap();
        }
        assert_eq!(out.output_texts(), ["o"]);
        assert_eq!(out.errors[0].fully_qualified_error_id, "Boom");
        assert_eq!(
            (
                out.warnings.as_slice(),
                out.verbose.as_slice(),
                out.debug.as_slice()
            ),
            (
                &["w".to_owned()][..],
                &["v".to_owned()][..],
                &["d".to_owned()][..]
            )
        );
        assert_eq!(out.other, ["RUNSPACEPOOL_HOST_CALL"]);
        assert!(!out.finished());
        let bad = msg(MessageType::ERROR_RECORD, &Value::I32(1));
        assert!(matches!(out.take(&bad), Err(PsrpError::Record(_))));
    }
}
