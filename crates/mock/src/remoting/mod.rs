//! PowerShell Remoting (MS-PSRP) in the mock: the runspace pools that live in WinRM
//! shells at `http://schemas.microsoft.com/powershell/<configuration>`, and their
//! pipelines. This module is the state and the PSRP side (fragments in, messages out,
//! queued until a Receive takes them); `crate::wsman::psrp` (wsman/psrp.rs) reads the WS-Man requests
//! and calls it, and `engine` runs a pipeline's commands from the scenario.
//!
//! What a pool answers, in the order Windows does ([MS-PSRP] 3.1.4, 3.2.4):
//! - on Create (SESSION_CAPABILITY + INIT_RUNSPACEPOOL in `creationXml`):
//!   SESSION_CAPABILITY, APPLICATION_PRIVATE_DATA, RUNSPACEPOOL_STATE `Opened`, taken by
//!   a Receive without CommandId;
//! - on Command (CREATE_PIPELINE in the first argument, more fragments by Send): the
//!   pipeline's records and output, then PIPELINE_STATE `Completed` (or `Failed` with
//!   its error), taken by Receives with the pipeline's CommandId, the last one saying
//!   CommandState `Done`;
//! - SET_MAX/MIN_RUNSPACES, GET_AVAILABLE_RUNSPACES (pypsrp's keep-alive) and
//!   RESET_RUNSPACE_STATE: RUNSPACE_AVAILABILITY with the call id;
//! - Signal `powershell/signal/crtl_c` (MS-PSRP's spelling; pypsrp's `ctrl_c` too):
//!   PIPELINE_STATE `Stopped` with a PipelineStoppedException.
//!
//! Messages wait in an `Outbox` (`outbox.rs`) with the time they are due; a Receive
//! takes what is due, cut into fragments that fit the client's MaxEnvelopeSize.

pub(crate) mod builtins;
pub(crate) mod connect;
pub(crate) mod defects;
pub(crate) mod engine;
pub mod journal;
pub(crate) mod outbox;
pub mod rules;
pub(crate) mod script;

use std::collections::HashMap;

use machine::MachineSpec;
use psrp::fragment::{self, Defragmenter, Fragment};
use psrp::records::{
    self, CreatePipeline, Informational, InitRunspacePool, PipelineState, RunspacePoolState,
    SessionCapability,
};
use psrp::server::{Availability, PoolRequest};
use psrp::{Destination, Guid, Message, MessageType, Value, clixml};

pub(crate) use connect::ShellInfo;
pub(crate) use defects::{Defects, pipeline_id_of};
use engine::{Ctx, Emit, End, Runner};
pub(crate) use outbox::Outbox;
use rules::{PsrpAction, PsrpSettings};

/// The PowerShell resource URIs' common prefix.
pub(crate) const RESOURCE_PREFIX: &str = "http://schemas.microsoft.com/powershell/";
/// The configuration every Windows server has.
pub(crate) const DEFAULT_CONFIGURATION: &str = "Microsoft.PowerShell";

/// Why a PSRP request cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PsrpError {
    /// No pool with this ShellId (or it is another user's).
    #[error("{0}")]
    UnknownShell(String),
    /// No pipeline with this CommandId in the pool.
    #[error("the command {0} was not found in the runspace pool")]
    UnknownCommand(String),
    /// The configuration the resource URI names does not exist.
    #[error("the session configuration {0} was not found")]
    UnknownConfiguration(String),
    /// The configuration does not let this user in.
    #[error("user {user} may not connect to the session configuration {config}")]
    AccessDenied { user: String, config: String },
    /// The Create carries no `creationXml`, or it is not base64.
    #[error("{0}")]
    BadCreation(String),
    /// Fragments or messages that cannot be read: the pool is broken.
    #[error("the PSRP data cannot be read: {0}")]
    BadData(String),
    /// The pool is disconnected ([MS-PSRP] 3.2.5.3.16: every request about it but a
    /// Reconnect or Delete is refused until it is reconnected), or a Reconnect found
    /// it connected.
    #[error("{0}")]
    Disconnected(String),
    /// A server-side failure (seeded by the `psrp_unknown_command_fault` defect).
    #[error("{0}")]
    Internal(String),
}

/// A pipeline of a pool.
struct Pipeline {
    pid: Guid,
    /// Input objects received so far, while waiting for END_OF_PIPELINE_INPUT.
    input: Vec<Value>,
    /// The CREATE_PIPELINE, kept until the pipeline can run (its input has ended).
    waiting: Option<CreatePipeline>,
    /// The final state is queued.
    ended: bool,
    /// Messages for Receives with this CommandId.
    outbox: Outbox,
    /// A `stall` rule matched its CREATE_PIPELINE: the end comes this many ms late,
    /// or (`Some(None)`) never.
    stall: Option<Option<u64>>,
}

/// A runspace pool.
pub(crate) struct Pool {
    rpid: Guid,
    owner: String,
    /// The session configuration, `None` for `Microsoft.PowerShell`.
    config: Option<String>,
    state: RunspacePoolState,
    min: i32,
    max: i32,
    defrag: Defragmenter,
    next_object: u64,
    outbox: Outbox,
    /// By CommandId, upper case.
    pipelines: HashMap<String, Pipeline>,
    /// A fault the Command being read must answer (`psrp_unknown_command_fault`).
    fault: Option<String>,
    /// Disconnected by a Disconnect, until a Reconnect.
    disconnected: bool,
}

/// What a Receive gets.
pub(crate) enum Received {
    /// Stream payloads, and for a pipeline whether it is done.
    Output {
        streams: Vec<Vec<u8>>,
        done: Option<bool>,
    },
    /// Nothing yet; more is due at this machine time (or when something changes).
    Wait(Option<u64>),
}

/// What a pipeline reads of the machine.
pub(crate) struct World<'a> {
    pub spec: &'a MachineSpec,
    pub unix_now: u64,
    pub defects: Defects,
    /// `[[psrp.rules]]`.
    pub rules: &'a PsrpSettings,
}

/// The configuration a resource URI names (`Microsoft.PowerShell`, `JEAMaint`).
pub(crate) fn configuration_of(uri: &str) -> Option<&str> {
    let uri = uri.trim();
    let prefix = uri.get(..RESOURCE_PREFIX.len())?;
    prefix
        .eq_ignore_ascii_case(RESOURCE_PREFIX)
        .then(|| &uri[RESOURCE_PREFIX.len()..])
        .filter(|c| !c.is_empty() && !c.contains('/'))
}

/// Every runspace pool of the mock.
#[derive(Default)]
pub(crate) struct Pools {
    pools: HashMap<String, Pool>,
}

fn limits() -> clixml::Limits {
    clixml::Limits::default()
}

impl Pool {
    fn message(&mut self, kind: MessageType, pid: Guid, value: &Value) -> (u64, Vec<u8>) {
        let m = Message::with_value(Destination::Client, kind, self.rpid, pid, value);
        self.next_object += 1;
        (self.next_object, m.to_bytes())
    }

    fn queue_for_pool(&mut self, now: u64, kind: MessageType, value: &Value) {
        let (id, bytes) = self.message(kind, Guid::NIL, value);
        self.outbox.push(now, id, bytes, false);
    }

    fn pipeline_mut(&mut self, command_id: &str) -> Result<&mut Pipeline, PsrpError> {
        self.pipelines
            .get_mut(&command_id.trim().to_ascii_uppercase())
            .ok_or_else(|| PsrpError::UnknownCommand(command_id.to_owned()))
    }

    /// Takes fragments (back to back) and acts on every message they complete.
    fn take_fragments(
        &mut self,
        bytes: &[u8],
        now: u64,
        world: &World<'_>,
    ) -> Result<(), PsrpError> {
        let mut done = Vec::new();
        let pushed = self.defrag.push_stream(bytes, &mut done);
        for m in done {
            self.on_message(&m, now, world)?;
        }
        pushed.map_err(|e| self.broken(now, e.to_string()))
    }

    /// Marks the pool broken (telling the client) and gives the error.
    fn broken(&mut self, now: u64, why: String) -> PsrpError {
        self.set_broken(
            now,
            &format!("The PSRP data sent to the runspace pool cannot be read: {why}"),
            "System.Management.Automation.Remoting.PSRemotingDataStructureException",
            "PSRemotingDataStructureException",
        );
        PsrpError::BadData(why)
    }

    /// The pool goes Broken: RUNSPACEPOOL_STATE Broken with the error, and every
    /// pipeline that has not ended ends Stopped with it (at most once).
    fn set_broken(&mut self, now: u64, message: &str, exception: &str, error_id: &str) {
        if self.state == RunspacePoolState::Broken {
            return;
        }
        self.state = RunspacePoolState::Broken;
        let e = engine::error(message, exception, error_id, 26, None);
        let v = records::runspace_pool_state(RunspacePoolState::Broken, Some(&e));
        self.queue_for_pool(now, MessageType::RUNSPACEPOOL_STATE, &v);
        let state = records::pipeline_state(PipelineState::Stopped, Some(&e));
        let mut pending: Vec<(String, Guid)> = self
            .pipelines
            .iter()
            // Not ended, or its end is not due yet.
            .filter(|(_, p)| !p.ended || p.outbox.q.back().is_some_and(|m| m.due > now))
            .map(|(id, p)| (id.clone(), p.pid))
            .collect();
        pending.sort();
        for (id, pid) in pending {
            let (oid, bytes) = self.message(MessageType::PIPELINE_STATE, pid, &state);
            if let Some(p) = self.pipelines.get_mut(&id) {
                p.outbox.q.retain(|m| m.due <= now && !m.last);
                p.waiting = None;
                p.ended = true;
                p.outbox.push(now, oid, bytes, true);
            }
        }
    }

    /// What `[[psrp.rules]]` says about message `m` (with its value), and the
    /// rule's name.
    fn rule_for(
        &self,
        m: &Message,
        value: Option<&Value>,
        world: &World<'_>,
    ) -> Option<rules::Verdict> {
        if world.rules.rules.is_empty() {
            return None;
        }
        let create = match (m.kind, value) {
            (MessageType::CREATE_PIPELINE, Some(v)) => CreatePipeline::from_value(v).ok(),
            _ => None,
        };
        world
            .rules
            .verdict(m.kind, self.config.as_deref(), create.as_ref())
    }

    /// Carries out a `break_pool` rule on message `m`: a CREATE_PIPELINE's pipeline is
    /// made (so its Command is answered) and stopped with the others.
    fn break_by_rule(&mut self, m: &Message, rule: &str, now: u64) {
        if m.kind == MessageType::CREATE_PIPELINE && !m.pid.is_nil() {
            let id = m.pid.to_string().to_ascii_uppercase();
            self.pipelines.entry(id).or_insert_with(|| Pipeline {
                pid: m.pid,
                input: Vec::new(),
                waiting: None,
                ended: false,
                outbox: Outbox::default(),
                stall: None,
            });
        }
        self.set_broken(
            now,
            &format!(
                "The runspace pool is broken: the scenario rule `{rule}` broke it on {}.",
                m.kind.name().unwrap_or("a message")
            ),
            "System.Management.Automation.Runspaces.InvalidRunspacePoolStateException",
            "InvalidRunspacePoolStateException",
        );
    }

    fn on_message(&mut self, bytes: &[u8], now: u64, world: &World<'_>) -> Result<(), PsrpError> {
        let m = Message::decode(bytes).map_err(|e| self.broken(now, e.to_string()))?;
        let value = m
            .value(&limits())
            .map_err(|e| self.broken(now, e.to_string()));
        let verdict = self.rule_for(&m, value.as_ref().ok(), world);
        let mut stall = None;
        match verdict.as_ref().map(|v| v.action) {
            Some(PsrpAction::BreakPool) => {
                let rule = verdict.map(|v| v.rule).unwrap_or_default();
                self.break_by_rule(&m, &rule, now);
                return Ok(());
            }
            Some(PsrpAction::Stall) => stall = Some(verdict.as_ref().and_then(|v| v.delay_ms)),
            Some(PsrpAction::BadFragment) | None => {}
        }
        self.act_on(&m, value, stall, now, world)?;
        if verdict.is_some_and(|v| v.action == PsrpAction::BadFragment) {
            let id = m.pid.to_string().to_ascii_uppercase();
            match self.pipelines.get_mut(&id) {
                Some(p) if !m.pid.is_nil() => p.outbox.corrupt_next = true,
                _ => self.outbox.corrupt_next = true,
            }
        }
        Ok(())
    }

    /// Acts on one message (the rules have had their say).
    fn act_on(
        &mut self,
        m: &Message,
        value: Result<Value, PsrpError>,
        stall: Option<Option<u64>>,
        now: u64,
        world: &World<'_>,
    ) -> Result<(), PsrpError> {
        let kind = m.kind;
        match kind {
            MessageType::SESSION_CAPABILITY => {
                SessionCapability::from_value(&value?)
                    .map_err(|e| self.broken(now, e.to_string()))?;
                let v = SessionCapability::default().to_value();
                self.queue_for_pool(now, MessageType::SESSION_CAPABILITY, &v);
            }
            MessageType::INIT_RUNSPACEPOOL => {
                let init = InitRunspacePool::from_value(&value?)
                    .map_err(|e| self.broken(now, e.to_string()))?;
                self.min = init.min_runspaces;
                self.max = init.max_runspaces;
                if !world.defects.no_application_private_data {
                    let apd = application_private_data();
                    self.queue_for_pool(now, MessageType::APPLICATION_PRIVATE_DATA, &apd);
                }
                self.state = RunspacePoolState::Opened;
                let v = records::runspace_pool_state(RunspacePoolState::Opened, None);
                self.queue_for_pool(now, MessageType::RUNSPACEPOOL_STATE, &v);
            }
            MessageType::CREATE_PIPELINE => {
                let create = CreatePipeline::from_value(&value?)
                    .map_err(|e| self.broken(now, e.to_string()))?;
                let id = m.pid.to_string().to_ascii_uppercase();
                let no_input = create.no_input;
                let p = self
                    .pipelines
                    .entry(id.clone())
                    .or_insert_with(|| Pipeline {
                        pid: m.pid,
                        input: Vec::new(),
                        waiting: None,
                        ended: false,
                        outbox: Outbox::default(),
                        stall: None,
                    });
                p.waiting = Some(create);
                p.stall = stall;
                if no_input {
                    self.start(&id, now, world);
                }
            }
            MessageType::PIPELINE_INPUT => {
                let v = value?;
                let id = m.pid.to_string();
                self.pipeline_mut(&id)?.input.push(v);
            }
            MessageType::END_OF_PIPELINE_INPUT => {
                let id = m.pid.to_string().to_ascii_uppercase();
                self.pipeline_mut(&id)?;
                self.start(&id, now, world);
            }
            MessageType::SET_MAX_RUNSPACES
            | MessageType::SET_MIN_RUNSPACES
            | MessageType::GET_AVAILABLE_RUNSPACES
            | MessageType::RESET_RUNSPACE_STATE => {
                let name = kind.name().unwrap_or("");
                let req = PoolRequest::from_value(name, &value?)
                    .map_err(|e| self.broken(now, e.to_string()))?;
                let answer = match req {
                    Some(PoolRequest::SetMax { max, .. }) => {
                        let ok = max >= self.min && max >= 1;
                        if ok {
                            self.max = max;
                        }
                        Availability::Done(ok)
                    }
                    Some(PoolRequest::SetMin { min, .. }) => {
                        let ok = min >= 1 && min <= self.max;
                        if ok {
                            self.min = min;
                        }
                        Availability::Done(ok)
                    }
                    Some(PoolRequest::GetAvailable { .. }) => {
                        let busy = self.pipelines.values().filter(|p| !p.ended).count();
                        Availability::Available(i64::from(self.max) - busy as i64)
                    }
                    Some(PoolRequest::Reset { .. }) | None => Availability::Done(true),
                };
                let ci = req.map_or(0, |r| r.ci());
                let v = psrp::server::runspace_availability(answer, ci);
                self.queue_for_pool(now, MessageType::RUNSPACE_AVAILABILITY, &v);
            }
            // Host responses, the key exchange and anything newer: nothing to answer.
            _ => {}
        }
        Ok(())
    }

    /// Runs a pipeline whose input has ended and queues what it writes.
    fn start(&mut self, id: &str, now: u64, world: &World<'_>) {
        let config = self.config.as_deref().and_then(|c| {
            world
                .spec
                .session_configurations
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(c))
        });
        let ctx = Ctx {
            hostname: &world.spec.identity.hostname,
            user: &self.owner,
            unix_now: world.unix_now,
            cmdlets: &world.spec.cmdlets,
            scripts: &world.spec.scripts,
            config,
        };
        let Some(p) = self.pipelines.get_mut(id) else {
            return;
        };
        let Some(create) = p.waiting.take() else {
            return;
        };
        let input = std::mem::take(&mut p.input);
        let pid = p.pid;
        let stall = p.stall;
        let run = Runner::run_statements(&ctx, &create.statements, input);
        if world.defects.unknown_command_fault
            && matches!(&run.end, End::Failed(e) if e.fully_qualified_error_id == "CommandNotFoundException")
        {
            self.pipelines.remove(id);
            self.fault = Some(
                "The WS-Management service cannot process the request: the pipeline could not be created."
                    .into(),
            );
            return;
        }
        let mut queued = Vec::new();
        for (at, emit) in run.items {
            let (kind, v) = match emit {
                Emit::Output(v) => (MessageType::PIPELINE_OUTPUT, v),
                Emit::Error(e) => (MessageType::ERROR_RECORD, e.to_value()),
                Emit::Warning(s) => (
                    MessageType::WARNING_RECORD,
                    records::informational_record(Informational::Warning, &s),
                ),
                Emit::Verbose(s) => (
                    MessageType::VERBOSE_RECORD,
                    records::informational_record(Informational::Verbose, &s),
                ),
                Emit::Debug(s) => (
                    MessageType::DEBUG_RECORD,
                    records::informational_record(Informational::Debug, &s),
                ),
                Emit::Information(v) => (MessageType::INFORMATION_RECORD, v),
                Emit::Progress(v) => (MessageType::PROGRESS_RECORD, v),
            };
            queued.push((now + at, kind, v, false));
        }
        let end = match (&run.end, stall) {
            // A `stall` rule without delay: the end never comes.
            (_, Some(None)) | (End::Running, _) => None,
            (End::Completed, _) => Some(records::pipeline_state(PipelineState::Completed, None)),
            (End::Failed(e), _) => Some(records::pipeline_state(PipelineState::Failed, Some(e))),
        };
        let ended = end.is_some();
        if let Some(v) = end {
            let late = stall.flatten().unwrap_or(0);
            queued.push((
                now + run.end_at.saturating_add(late),
                MessageType::PIPELINE_STATE,
                v,
                true,
            ));
        }
        let mut out = Vec::new();
        for (due, kind, v, last) in queued {
            let (oid, bytes) = self.message(kind, pid, &v);
            out.push((due, oid, bytes, last));
        }
        if let Some(p) = self.pipelines.get_mut(id) {
            p.ended = ended;
            for (due, oid, bytes, last) in out {
                p.outbox.push(due, oid, bytes, last);
            }
        }
    }

    /// Stops a pipeline: what was due is kept, the rest never happens, and it ends
    /// `Stopped`.
    fn stop(&mut self, command_id: &str, now: u64, defects: Defects) -> Result<(), PsrpError> {
        let pid = {
            let p = self.pipeline_mut(command_id)?;
            if p.ended && p.outbox.q.back().is_some_and(|m| m.due <= now) {
                // It had already finished: nothing to stop.
                return Ok(());
            }
            p.outbox.q.retain(|m| m.due <= now && !m.last);
            p.waiting = None;
            p.ended = true;
            p.pid
        };
        let v = if defects.stop_completes {
            records::pipeline_state(PipelineState::Completed, None)
        } else {
            records::pipeline_state(PipelineState::Stopped, Some(&engine::pipeline_stopped()))
        };
        let (oid, bytes) = self.message(MessageType::PIPELINE_STATE, pid, &v);
        self.pipeline_mut(command_id)?
            .outbox
            .push(now, oid, bytes, true);
        Ok(())
    }
}

/// APPLICATION_PRIVATE_DATA as Windows PowerShell 5.1 sends it.
fn application_private_data() -> Value {
    use psrp::clixml::Obj;
    let versions = Obj::new([
        "System.Management.Automation.PSPrimitiveDictionary",
        "System.Collections.Hashtable",
        "System.Object",
    ])
    .with_base(Value::Dict(builtins::version_entries(false)));
    records::application_private_data(vec![
        (Value::string("DebugMode"), Value::I32(1)),
        (Value::string("DebugStop"), Value::Bool(false)),
        (Value::string("PSVersionTable"), versions.into()),
        (Value::string("DebugBreakpointCount"), Value::I32(0)),
    ])
}

impl Pools {
    /// A connected pool (the one a request other than Delete, Disconnect or Reconnect
    /// is about).
    fn pool_mut(&mut self, shell_id: &str, user: &str) -> Result<&mut Pool, PsrpError> {
        let pool = self.any_pool_mut(shell_id, user)?;
        if pool.disconnected {
            return Err(PsrpError::Disconnected(format!(
                "The request for the runspace pool {} failed because the shell is disconnected: reconnect to it first.",
                shell_id.trim()
            )));
        }
        Ok(pool)
    }

    fn any_pool_mut(&mut self, shell_id: &str, user: &str) -> Result<&mut Pool, PsrpError> {
        let not_found = || {
            PsrpError::UnknownShell(format!(
                "The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server."
            ))
        };
        let pool = self
            .pools
            .get_mut(&shell_id.trim().to_ascii_uppercase())
            .ok_or_else(not_found)?;
        if !pool.owner.eq_ignore_ascii_case(user) {
            return Err(not_found());
        }
        Ok(pool)
    }

    /// Creates a pool for `configuration` from the Create's `creationXml` (fragments):
    /// gives its ShellId (the RPID, upper case, as Windows answers).
    pub(crate) fn create(
        &mut self,
        configuration: &str,
        user: &str,
        creation: &[u8],
        now: u64,
        world: &World<'_>,
    ) -> Result<String, PsrpError> {
        let config = if configuration.eq_ignore_ascii_case(DEFAULT_CONFIGURATION) {
            None
        } else {
            let c = world
                .spec
                .session_configurations
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(configuration))
                .ok_or_else(|| PsrpError::UnknownConfiguration(configuration.to_owned()))?;
            if !c.users.is_empty() && !c.users.iter().any(|u| u.eq_ignore_ascii_case(user)) {
                return Err(PsrpError::AccessDenied {
                    user: user.to_owned(),
                    config: c.name.clone(),
                });
            }
            Some(c.name.clone())
        };
        let mut pool = Pool {
            rpid: Guid::NIL,
            owner: user.to_owned(),
            config,
            state: RunspacePoolState::Opening,
            min: 1,
            max: 1,
            defrag: Defragmenter::new(fragment::Limits::default()),
            next_object: 0,
            outbox: Outbox::default(),
            pipelines: HashMap::new(),
            fault: None,
            disconnected: false,
        };
        // The RPID is in every message; read it from the first fragment's message.
        let first = Fragment::decode_prefix(creation)
            .map_err(|e| PsrpError::BadCreation(format!("creationXml: {e}")))?
            .0;
        let m = Message::decode(&first.blob)
            .map_err(|e| PsrpError::BadCreation(format!("creationXml: {e}")))?;
        if m.rpid.is_nil() {
            return Err(PsrpError::BadCreation(
                "creationXml: the runspace pool id is nil".into(),
            ));
        }
        pool.rpid = m.rpid;
        pool.take_fragments(creation, now, world)?;
        // Opened, or Broken by a `break_pool` rule (the client reads why).
        if pool.state == RunspacePoolState::Opening {
            return Err(PsrpError::BadCreation(
                "creationXml carries no INIT_RUNSPACEPOOL".into(),
            ));
        }
        let id = pool.rpid.to_string().to_ascii_uppercase();
        self.pools.insert(id.clone(), pool);
        Ok(id)
    }

    /// A Command: the first fragment(s) of a CREATE_PIPELINE; gives the CommandId (the
    /// pipeline id, upper case).
    pub(crate) fn command(
        &mut self,
        shell_id: &str,
        user: &str,
        first: &[u8],
        now: u64,
        world: &World<'_>,
    ) -> Result<String, PsrpError> {
        let pool = self.pool_mut(shell_id, user)?;
        let (f, _) = Fragment::decode_prefix(first).map_err(|e| pool.broken(now, e.to_string()))?;
        let pid = if f.start {
            Message::decode(&f.blob)
                .map_err(|e| pool.broken(now, e.to_string()))?
                .pid
        } else {
            Guid::NIL
        };
        if pid.is_nil() {
            return Err(pool.broken(now, "a Command's first fragment names no pipeline".into()));
        }
        let id = pid.to_string().to_ascii_uppercase();
        pool.pipelines
            .entry(id.clone())
            .or_insert_with(|| Pipeline {
                pid,
                input: Vec::new(),
                waiting: None,
                ended: false,
                outbox: Outbox::default(),
                stall: None,
            });
        pool.take_fragments(first, now, world)?;
        if let Some(why) = pool.fault.take() {
            return Err(PsrpError::Internal(why));
        }
        Ok(id)
    }

    /// A Send: fragments for the pool (no CommandId) or a pipeline.
    pub(crate) fn send(
        &mut self,
        shell_id: &str,
        user: &str,
        command_id: Option<&str>,
        bytes: &[u8],
        now: u64,
        world: &World<'_>,
    ) -> Result<(), PsrpError> {
        let pool = self.pool_mut(shell_id, user)?;
        if let Some(c) = command_id {
            pool.pipeline_mut(c)?;
        }
        pool.take_fragments(bytes, now, world)
    }

    /// A Signal: stop (`ctrl_c`) or forget (`Terminate`) a pipeline.
    pub(crate) fn signal(
        &mut self,
        shell_id: &str,
        user: &str,
        command_id: &str,
        terminate: bool,
        now: u64,
        defects: Defects,
    ) -> Result<(), PsrpError> {
        let pool = self.pool_mut(shell_id, user)?;
        if terminate {
            pool.pipelines
                .remove(&command_id.trim().to_ascii_uppercase())
                .map(|_| ())
                .ok_or_else(|| PsrpError::UnknownCommand(command_id.to_owned()))
        } else {
            pool.stop(command_id, now, defects)
        }
    }

    /// A Delete: the pool and its pipelines are gone.
    pub(crate) fn delete(&mut self, shell_id: &str, user: &str) -> Result<(), PsrpError> {
        self.any_pool_mut(shell_id, user)?;
        self.pools.remove(&shell_id.trim().to_ascii_uppercase());
        Ok(())
    }

    /// A Receive: what is due for the pool or the pipeline.
    pub(crate) fn receive(
        &mut self,
        shell_id: &str,
        user: &str,
        command_id: Option<&str>,
        now: u64,
        max_envelope: usize,
    ) -> Result<Received, PsrpError> {
        let pool = self.pool_mut(shell_id, user)?;
        let Some(c) = command_id else {
            let (streams, _) = pool.outbox.take(now, max_envelope);
            return Ok(if streams.is_empty() {
                Received::Wait(pool.outbox.next_due())
            } else {
                Received::Output {
                    streams,
                    done: None,
                }
            });
        };
        let p = pool.pipeline_mut(c)?;
        let (streams, finished) = p.outbox.take(now, max_envelope);
        if finished {
            pool.pipelines.remove(&c.trim().to_ascii_uppercase());
        } else if streams.is_empty() {
            return Ok(Received::Wait(p.outbox.next_due()));
        }
        Ok(Received::Output {
            streams,
            done: Some(finished),
        })
    }
}

#[cfg(test)]
mod tests;
