//! The `psrp` profile's code cases: PowerShell Remoting ([MS-PSRP]) over WinRM, checked
//! from the client's side against the server rules of MS-PSRP 3.2.5.
//!
//! Capability-probed: discovery sends a Create to the default session configuration
//! (`http://schemas.microsoft.com/powershell/Microsoft.PowerShell`) and deletes the
//! shell it got (`shell:psrp`); a target without PowerShell remoting skips every case
//! with the Create's answer. The cases then open a runspace pool the way pypsrp does
//! (SESSION_CAPABILITY and INIT_RUNSPACEPOOL in `creationXml`), run pipelines of
//! cmdlets every Windows PowerShell session configuration has (`Write-Output`,
//! `Start-Sleep`), and close the pool; a session configuration that hides those cmdlets
//! (a JEA endpoint) skips the case with the error record it answered. Every wait has a
//! deadline under the case's own; each case deletes the pool it opened.

use std::time::{Duration, Instant};

use client::psrp::{PipelineOutput, Pool, PsrpError, StreamSeen};
use psrp::clixml::{self, Value};
use psrp::records::{Command, CreatePipeline, InitRunspacePool, Parameter};
use psrp::{Guid, Message, MessageType};
use rand::RngCore as _;
use wsman::Body;

use crate::code::{CodeFn, Ctx, Finding, reg, verdict};
use crate::eval::Mismatch;

/// The psrp code cases.
pub const REGISTRY: &[CodeFn] = reg![
    "wsman.psrp.pool.session-capability" => session_capability,
    "wsman.psrp.pool.application-private-data" => application_private_data,
    "wsman.psrp.pool.opened" => opened,
    "wsman.psrp.receive.stdout" => receive_stdout,
    "wsman.psrp.pipeline.output" => pipeline_output,
    "wsman.psrp.pipeline.unknown-command" => unknown_command,
    "wsman.psrp.pipeline.stop" => stop,
    "wsman.psrp.signal.unknown-pipeline" => signal_unknown_pipeline,
    "wsman.psrp.command.unknown-pool" => command_unknown_pool,
    "wsman.psrp.pool.delete" => delete,
];

/// How long a case waits for the pool to open or a pipeline to end.
const WAIT: Duration = Duration::from_secs(20);

/// The OperationTimeout of each Receive: short, so a case's deadline is checked often
/// (a server with nothing to send answers `wsman:TimedOut`, and the case asks again).
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(3);

/// What opening a pool brought: every message for the pool, in order, and the streams
/// they came in.
struct Opening {
    messages: Vec<Message>,
    streams: Vec<StreamSeen>,
}

impl Opening {
    fn kinds(&self) -> Vec<MessageType> {
        self.messages.iter().map(|m| m.kind).collect()
    }

    fn kind_names(&self) -> String {
        names(&self.kinds())
    }

    /// The RUNSPACEPOOL_STATE's state number, if one came.
    fn state(&self) -> Option<Result<i32, String>> {
        let m = self
            .messages
            .iter()
            .rev()
            .find(|m| m.kind == MessageType::RUNSPACEPOOL_STATE)?;
        Some(
            m.value(&clixml::Limits::default())
                .map_err(|e| e.to_string())
                .and_then(|v| psrp::client::read_runspace_pool_state(&v).map_err(|e| e.to_string()))
                .map(|s| s.state),
        )
    }
}

fn names(kinds: &[MessageType]) -> String {
    if kinds.is_empty() {
        return "no message".into();
    }
    kinds
        .iter()
        .map(|k| {
            k.name()
                .map_or_else(|| format!("{:#010x}", k.as_u32()), str::to_owned)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The session configuration the run targets.
fn uri(ctx: &Ctx) -> String {
    if ctx.caps.psrp_uri.is_empty() {
        client::psrp::RESOURCE_URI.to_owned()
    } else {
        ctx.caps.psrp_uri.clone()
    }
}

fn random_guid(ctx: &mut Ctx) -> Guid {
    let mut b = [0u8; 16];
    ctx.rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Guid(b)
}

fn request(ctx: &mut Ctx) -> client::build::Request {
    let uri = uri(ctx);
    ctx.request(&uri).0.operation_timeout(Some(RECEIVE_TIMEOUT))
}

/// A mismatch naming the step.
fn miss(what: &str, expected: impl Into<String>, got: impl Into<String>) -> Finding {
    Finding::mismatch(what, expected, got)
}

fn psrp_miss(step: &str, e: &PsrpError) -> Finding {
    miss(step, "an answer PSRP can read", e.to_string())
}

/// Whether an exchange is the `wsman:TimedOut` fault a Receive gets when nothing came
/// within its OperationTimeout (a retry, not an error).
fn timed_out(ex: &client::Exchange) -> bool {
    ex.fault()
        .and_then(|f| f.subcode)
        .is_some_and(|s| s.ends_with("TimedOut"))
}

/// Opens a pool: the Create, then Receives of the pool's messages until a
/// RUNSPACEPOOL_STATE came (or the server said Done, or [`WAIT`] passed).
async fn open(ctx: &mut Ctx) -> Result<(Pool, Opening), Finding> {
    let mut pool = Pool::new(random_guid(ctx), uri(ctx));
    let init = InitRunspacePool {
        min_runspaces: 1,
        max_runspaces: 1,
        thread_options: None,
        apartment_state: None,
        application_arguments: Vec::new(),
    };
    let req = request(ctx);
    let env = pool.create(req, &init);
    let ex = ctx.send(&env).await?;
    pool.created(&ex).map_err(|e| {
        miss(
            "Create of a runspace pool",
            "ResourceCreated",
            e.to_string(),
        )
    })?;
    let mut opening = Opening {
        messages: Vec::new(),
        streams: Vec::new(),
    };
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let req = request(ctx);
        let ex = ctx.send(&pool.receive(req, None)).await?;
        if timed_out(&ex) {
            continue;
        }
        let got = match pool.read_receive(&ex) {
            Ok(got) => got,
            Err(e) => {
                close(ctx, &pool).await;
                return Err(psrp_miss("Receive of the pool's messages", &e));
            }
        };
        opening.streams.extend(got.streams);
        opening.messages.extend(got.messages);
        if got.done
            || opening
                .messages
                .iter()
                .any(|m| m.kind == MessageType::RUNSPACEPOOL_STATE)
        {
            break;
        }
    }
    Ok((pool, opening))
}

/// Deletes the pool (clean-up; the answer is not judged here).
async fn close(ctx: &mut Ctx, pool: &Pool) {
    let req = request(ctx);
    let _ = ctx.send(&pool.delete(req)).await;
}

/// Opens a pool that must reach Opened for the case to go on.
async fn open_ready(ctx: &mut Ctx) -> Result<Pool, Finding> {
    let (pool, opening) = open(ctx).await?;
    match opening.state() {
        Some(Ok(2)) => Ok(pool),
        other => {
            close(ctx, &pool).await;
            Err(miss(
                "opening a runspace pool before the case's own steps",
                "RUNSPACEPOOL_STATE Opened (2)",
                match other {
                    Some(Ok(s)) => format!("state {s}"),
                    Some(Err(e)) => e,
                    None => format!("no RUNSPACEPOOL_STATE ({})", opening.kind_names()),
                },
            ))
        }
    }
}

/// One pipeline's run: its CommandId and everything it sent.
struct Run {
    command_id: String,
    out: PipelineOutput,
    streams: Vec<StreamSeen>,
    /// Every message's type, in order.
    kinds: Vec<MessageType>,
}

fn cmdlet(name: &str, params: &[(&str, Value)]) -> CreatePipeline {
    CreatePipeline {
        no_input: true,
        add_to_history: false,
        is_nested: false,
        statements: vec![vec![Command {
            command: name.into(),
            is_script: false,
            use_local_scope: None,
            parameters: params
                .iter()
                .map(|(n, v)| Parameter {
                    name: Some((*n).to_owned()),
                    value: v.clone(),
                })
                .collect(),
        }]],
    }
}

/// Starts a pipeline: the Command, and the CommandId its answer names.
async fn start(
    ctx: &mut Ctx,
    pool: &mut Pool,
    pipeline: &CreatePipeline,
) -> Result<String, Finding> {
    let pid = random_guid(ctx);
    let req = request(ctx);
    let ex = ctx.send(&pool.command(req, pid, pipeline)).await?;
    if let Some(f) = ex.fault() {
        return Err(miss(
            "Command carrying CREATE_PIPELINE",
            "rsp:CommandResponse",
            format!("a fault ({})", f.subcode.as_deref().unwrap_or(&f.code)),
        ));
    }
    match ex.envelope() {
        Some(Ok(env)) => match &env.body {
            Body::CommandResponse(c) if !c.command_id.trim().is_empty() => {
                Ok(c.command_id.trim().to_owned())
            }
            _ => Err(miss(
                "Command carrying CREATE_PIPELINE",
                "rsp:CommandResponse with an rsp:CommandId",
                "another body",
            )),
        },
        _ => Err(miss(
            "Command carrying CREATE_PIPELINE",
            "rsp:CommandResponse",
            "no readable envelope",
        )),
    }
}

/// Receives a pipeline's messages until its final PIPELINE_STATE (or Done, or the
/// deadline).
async fn finish(ctx: &mut Ctx, pool: &mut Pool, command_id: &str) -> Result<Run, Finding> {
    finish_within(ctx, pool, command_id, WAIT).await
}

/// [`finish`] with a wait of its own.
async fn finish_within(
    ctx: &mut Ctx,
    pool: &mut Pool,
    command_id: &str,
    wait: Duration,
) -> Result<Run, Finding> {
    let mut run = Run {
        command_id: command_id.to_owned(),
        out: PipelineOutput::default(),
        streams: Vec::new(),
        kinds: Vec::new(),
    };
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline && !run.out.finished() {
        let req = request(ctx);
        let ex = ctx.send(&pool.receive(req, Some(command_id))).await?;
        if timed_out(&ex) {
            continue;
        }
        let got = pool
            .read_receive(&ex)
            .map_err(|e| psrp_miss("Receive of the pipeline's messages", &e))?;
        run.streams.extend(got.streams);
        for m in &got.messages {
            run.kinds.push(m.kind);
            run.out
                .take(m)
                .map_err(|e| psrp_miss("a message of the pipeline", &e))?;
        }
        if got.done {
            break;
        }
    }
    Ok(run)
}

/// Runs `pipeline` to its end in a fresh pool, which is closed afterwards.
async fn run_in_pool(ctx: &mut Ctx, pipeline: &CreatePipeline) -> Result<Run, Finding> {
    let mut pool = open_ready(ctx).await?;
    let result = match start(ctx, &mut pool, pipeline).await {
        Ok(cid) => finish(ctx, &mut pool, &cid).await,
        Err(f) => Err(f),
    };
    close(ctx, &pool).await;
    result
}

/// The state a run ended in, in words.
fn state_text(run: &Run) -> String {
    match &run.out.state {
        None => format!("no PIPELINE_STATE (messages: {})", names(&run.kinds)),
        Some(s) => {
            let name = match s.state {
                0 => "NotStarted",
                1 => "Running",
                2 => "Stopping",
                3 => "Stopped",
                4 => "Completed",
                5 => "Failed",
                6 => "Disconnected",
                _ => "unknown",
            };
            format!("PIPELINE_STATE {name} ({})", s.state)
        }
    }
}

/// A case whose cmdlet the session configuration does not offer is skipped (a JEA
/// endpoint may hide it): the pipeline failed with CommandNotFoundException.
fn skip_if_not_offered(run: &Run, cmdlet: &str) -> Result<(), Finding> {
    let not_found = run
        .out
        .state
        .as_ref()
        .and_then(|s| s.error.as_ref())
        .into_iter()
        .chain(run.out.errors.iter())
        .any(|e| {
            e.fully_qualified_error_id
                .contains("CommandNotFoundException")
        });
    if not_found {
        return Err(Finding::Skip(format!(
            "the session configuration does not offer {cmdlet} (CommandNotFoundException)"
        )));
    }
    Ok(())
}

// ---- the cases ---------------------------------------------------------------------

/// 3.2.5.4.1.2: the server MUST answer the client's SESSION_CAPABILITY with its own,
/// to the pool.
async fn session_capability(ctx: &mut Ctx) -> Result<(), Finding> {
    let (pool, opening) = open(ctx).await?;
    close(ctx, &pool).await;
    let sc = opening
        .messages
        .iter()
        .find(|m| m.kind == MessageType::SESSION_CAPABILITY);
    let Some(sc) = sc else {
        return Err(miss(
            "messages for the pool after the Create",
            "a SESSION_CAPABILITY",
            opening.kind_names(),
        ));
    };
    let read = sc
        .value(&clixml::Limits::default())
        .map_err(|e| e.to_string())
        .and_then(|v| psrp::records::SessionCapability::from_value(&v).map_err(|e| e.to_string()));
    match read {
        Ok(_) => Ok(()),
        Err(e) => Err(miss(
            "the server's SESSION_CAPABILITY",
            "protocolversion, PSVersion and SerializationVersion as versions",
            e,
        )),
    }
}

/// 3.2.5.4.13: APPLICATION_PRIVATE_DATA MUST be sent when the server receives
/// INIT_RUNSPACEPOOL in NegotiationSucceeded.
async fn application_private_data(ctx: &mut Ctx) -> Result<(), Finding> {
    let (pool, opening) = open(ctx).await?;
    close(ctx, &pool).await;
    if opening
        .messages
        .iter()
        .any(|m| m.kind == MessageType::APPLICATION_PRIVATE_DATA)
    {
        Ok(())
    } else {
        Err(miss(
            "messages for the pool after INIT_RUNSPACEPOOL",
            "an APPLICATION_PRIVATE_DATA",
            opening.kind_names(),
        ))
    }
}

/// 3.2.5.4.9 / 3.2.5.4.2: RUNSPACEPOOL_STATE MUST be sent when the pool reaches Opened.
async fn opened(ctx: &mut Ctx) -> Result<(), Finding> {
    let (pool, opening) = open(ctx).await?;
    close(ctx, &pool).await;
    match opening.state() {
        Some(Ok(2)) => Ok(()),
        Some(Ok(s)) => Err(miss(
            "RUNSPACEPOOL_STATE after INIT_RUNSPACEPOOL",
            "Opened (2)",
            format!("state {s}"),
        )),
        Some(Err(e)) => Err(miss("RUNSPACEPOOL_STATE", "a readable state", e)),
        None => Err(miss(
            "messages for the pool within 20 s",
            "RUNSPACEPOOL_STATE Opened",
            opening.kind_names(),
        )),
    }
}

/// The Write-Output pipeline the output cases run, with a token of the case's own.
fn echo(ctx: &mut Ctx) -> (String, CreatePipeline) {
    let token = format!("touchstone-{:08x}", ctx.rng.next_u32());
    let p = cmdlet("Write-Output", &[("InputObject", Value::string(&*token))]);
    (token, p)
}

/// 3.2.5.3.8: every stream MUST be named `stdout`; a pipeline's streams carry its
/// CommandId (identical to the CommandResponse's), the pool's none.
async fn receive_stdout(ctx: &mut Ctx) -> Result<(), Finding> {
    let (pool, opening) = open(ctx).await?;
    close(ctx, &pool).await;
    let (_, p) = echo(ctx);
    let run = run_in_pool(ctx, &p).await?;
    skip_if_not_offered(&run, "Write-Output")?;
    let mut misses = Vec::new();
    for s in &opening.streams {
        if s.name != "stdout" || s.command_id.is_some() {
            misses.push(Mismatch {
                what: "a stream of the pool's ReceiveResponse".into(),
                expected: "Name=\"stdout\" without CommandId".into(),
                got: format!("Name={:?} CommandId={:?}", s.name, s.command_id),
            });
        }
    }
    for s in &run.streams {
        let same = s
            .command_id
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(&run.command_id));
        if s.name != "stdout" || !same {
            misses.push(Mismatch {
                what: "a stream of the pipeline's ReceiveResponse".into(),
                expected: format!("Name=\"stdout\" CommandId=\"{}\"", run.command_id),
                got: format!("Name={:?} CommandId={:?}", s.name, s.command_id),
            });
        }
    }
    if opening.streams.is_empty() || run.streams.is_empty() {
        misses.push(Mismatch {
            what: "ReceiveResponse streams".into(),
            expected: "streams for the pool and for the pipeline".into(),
            got: format!(
                "{} for the pool, {} for the pipeline",
                opening.streams.len(),
                run.streams.len()
            ),
        });
    }
    verdict(misses)
}

/// 3.2.5.4.21: a pipeline that ran MUST end with PIPELINE_STATE; Write-Output's object
/// comes as PIPELINE_OUTPUT first.
async fn pipeline_output(ctx: &mut Ctx) -> Result<(), Finding> {
    let (token, p) = echo(ctx);
    let run = run_in_pool(ctx, &p).await?;
    skip_if_not_offered(&run, "Write-Output")?;
    judge_output(&run, &token)
}

/// The verdict of [`pipeline_output`] on a finished run.
fn judge_output(run: &Run, token: &str) -> Result<(), Finding> {
    let mut misses = Vec::new();
    if !run.out.output_texts().iter().any(|t| t == token) {
        misses.push(Mismatch {
            what: "PIPELINE_OUTPUT of Write-Output -InputObject".into(),
            expected: format!("the object {token:?}"),
            got: format!("{:?}", run.out.output_texts()),
        });
    }
    if run.out.state.as_ref().map(|s| s.state) != Some(4) {
        misses.push(Mismatch {
            what: "the pipeline's end".into(),
            expected: "PIPELINE_STATE Completed (4)".into(),
            got: state_text(run),
        });
    }
    let last_output = run
        .kinds
        .iter()
        .rposition(|k| *k == MessageType::PIPELINE_OUTPUT);
    let state_at = run
        .kinds
        .iter()
        .position(|k| *k == MessageType::PIPELINE_STATE);
    if let (Some(o), Some(s)) = (last_output, state_at)
        && o > s
    {
        misses.push(Mismatch {
            what: "message order".into(),
            expected: "no message for the pipeline after its final PIPELINE_STATE (3.2.1.3.2)"
                .into(),
            got: names(&run.kinds),
        });
    }
    verdict(misses)
}

/// 3.2.5.4.21 (with 3.2.1.3.2): a pipeline that cannot run (its command does not
/// exist) ends with PIPELINE_STATE, Failed with the error, or with an ERROR_RECORD
/// before its end; never with a WS-Man fault or silence.
async fn unknown_command(ctx: &mut Ctx) -> Result<(), Finding> {
    let name = format!("Get-TouchstoneNoSuchCommand{:08x}", ctx.rng.next_u32());
    let run = run_in_pool(ctx, &cmdlet(&name, &[])).await?;
    judge_unknown(&run)
}

/// The verdict of [`unknown_command`].
fn judge_unknown(run: &Run) -> Result<(), Finding> {
    let Some(state) = &run.out.state else {
        return Err(miss(
            "the end of a pipeline whose command does not exist",
            "PIPELINE_STATE Failed (5), or an ERROR_RECORD and a final PIPELINE_STATE",
            state_text(run),
        ));
    };
    let reported = state.error.is_some() || !run.out.errors.is_empty();
    match state.state {
        5 if reported => Ok(()),
        3..=5 if !run.out.errors.is_empty() => Ok(()),
        _ => Err(miss(
            "the end of a pipeline whose command does not exist",
            "PIPELINE_STATE Failed (5) with the error, or an ERROR_RECORD and a final PIPELINE_STATE",
            format!(
                "{}; {} ERROR_RECORD(s), {} error in the state",
                state_text(run),
                run.out.errors.len(),
                if state.error.is_some() { "an" } else { "no" }
            ),
        )),
    }
}

/// 3.2.5.3.9: Signal `powershell/signal/crtl_c` to a running pipeline: the server
/// stops it, sends PIPELINE_STATE Stopped and answers SignalResponse.
async fn stop(ctx: &mut Ctx) -> Result<(), Finding> {
    let mut pool = open_ready(ctx).await?;
    let result = stop_in(ctx, &mut pool).await;
    close(ctx, &pool).await;
    result
}

async fn stop_in(ctx: &mut Ctx, pool: &mut Pool) -> Result<(), Finding> {
    let sleep = cmdlet("Start-Sleep", &[("Seconds", Value::I32(60))]);
    let cid = start(ctx, pool, &sleep).await?;
    let req = request(ctx);
    let ex = ctx.send(&pool.stop(req, &cid)).await?;
    let signal = match (ex.fault(), ex.envelope()) {
        (Some(f), _) => Err(format!(
            "a fault ({})",
            f.subcode.as_deref().unwrap_or(&f.code)
        )),
        (None, Some(Ok(env))) if matches!(env.body, Body::SignalResponse) => Ok(()),
        (None, Some(Ok(_))) => Err("another body".to_owned()),
        _ => Err("no readable envelope".to_owned()),
    };
    // A refused Signal leaves the pipeline running, so its end is not waited for long:
    // only long enough to see whether it had already failed (a cmdlet the session
    // configuration hides), which skips the case instead.
    let wait = if signal.is_ok() {
        WAIT
    } else {
        RECEIVE_TIMEOUT
    };
    let run = finish_within(ctx, pool, &cid, wait).await?;
    skip_if_not_offered(&run, "Start-Sleep")?;
    judge_stop(signal, &run)
}

/// The verdict of [`stop`]: the Signal answered without a fault, and the pipeline
/// ended Stopped.
fn judge_stop(signal: Result<(), String>, run: &Run) -> Result<(), Finding> {
    let mut misses = Vec::new();
    if let Err(got) = signal {
        misses.push(Mismatch {
            what: "Signal powershell/signal/crtl_c to a running pipeline".into(),
            expected: "rsp:SignalResponse".into(),
            got,
        });
    }
    if run.out.state.as_ref().map(|s| s.state) != Some(3) {
        misses.push(Mismatch {
            what: "the stopped pipeline's end".into(),
            expected: "PIPELINE_STATE Stopped (3)".into(),
            got: state_text(run),
        });
    }
    verdict(misses)
}

/// 3.2.5.3.9: a Signal for a pipeline the server does not have MUST be answered with
/// a fault.
async fn signal_unknown_pipeline(ctx: &mut Ctx) -> Result<(), Finding> {
    let mut pool = open_ready(ctx).await?;
    let cid = random_guid(ctx).to_string().to_uppercase();
    let req = request(ctx);
    let ex = ctx.send(&pool.stop(req, &cid)).await;
    close(ctx, &pool).await;
    pool.shell_id = None;
    let ex = ex?;
    expect_any_fault(&ex, "Signal for a CommandId the shell never gave")
}

/// 3.2.5.3.3: a Command for a RunspacePool the server does not have MUST be answered
/// with a fault.
async fn command_unknown_pool(ctx: &mut Ctx) -> Result<(), Finding> {
    let mut pool = Pool::new(random_guid(ctx), uri(ctx));
    pool.shell_id = Some(random_guid(ctx).to_string().to_uppercase());
    let (_, p) = echo(ctx);
    let pid = random_guid(ctx);
    let req = request(ctx);
    let ex = ctx.send(&pool.command(req, pid, &p)).await?;
    expect_any_fault(&ex, "Command for a ShellId the server never gave")
}

/// 3.2.5.3.11/12: Delete of an open pool is answered DeleteResponse; afterwards a
/// Command for it MUST be answered with a fault (3.2.5.3.3: no such pool).
async fn delete(ctx: &mut Ctx) -> Result<(), Finding> {
    let mut pool = open_ready(ctx).await?;
    let req = request(ctx);
    let ex = ctx.send(&pool.delete(req)).await?;
    if let Some(f) = ex.fault() {
        return Err(miss(
            "Delete of an open runspace pool",
            "DeleteResponse",
            format!("a fault ({})", f.subcode.as_deref().unwrap_or(&f.code)),
        ));
    }
    let (_, p) = echo(ctx);
    let pid = random_guid(ctx);
    let req = request(ctx);
    let ex = ctx.send(&pool.command(req, pid, &p)).await?;
    expect_any_fault(&ex, "Command for the deleted pool")
}

fn expect_any_fault(ex: &client::Exchange, what: &str) -> Result<(), Finding> {
    if ex.fault().is_some() {
        return Ok(());
    }
    Err(miss(
        what,
        "a fault (any)",
        format!(
            "HTTP {} without a fault",
            ex.status().map_or("none".into(), |s| s.to_string())
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use psrp::client::StateRead;
    use psrp::records::ErrorRecord;

    fn run(kinds: &[MessageType], state: Option<(i32, bool)>, errors: usize) -> Run {
        let err = || {
            ErrorRecord::new(
                "x",
                "System.Management.Automation.CommandNotFoundException",
                "CommandNotFoundException",
                13,
            )
        };
        Run {
            command_id: "C".into(),
            out: PipelineOutput {
                errors: (0..errors).map(|_| err()).collect(),
                state: state.map(|(s, e)| StateRead {
                    state: s,
                    error: e.then(err),
                }),
                ..PipelineOutput::default()
            },
            streams: Vec::new(),
            kinds: kinds.to_vec(),
        }
    }

    fn failed(r: Result<(), Finding>) -> bool {
        matches!(r, Err(Finding::Mismatch(_)))
    }

    /// PowerShell ends a pipeline whose command is unknown with Failed and the error;
    /// a server that sends the error as ERROR_RECORD and then ends (Completed, Failed or
    /// Stopped) is as right. Silence, a success with no error, or Failed with no error
    /// anywhere are not.
    #[test]
    fn unknown_command_verdict() {
        assert!(judge_unknown(&run(&[], Some((5, true)), 0)).is_ok());
        assert!(judge_unknown(&run(&[], Some((4, false)), 1)).is_ok());
        assert!(judge_unknown(&run(&[], Some((5, false)), 1)).is_ok());
        assert!(judge_unknown(&run(&[], Some((3, false)), 1)).is_ok());
        assert!(failed(judge_unknown(&run(&[], None, 1))));
        assert!(failed(judge_unknown(&run(&[], Some((4, false)), 0))));
        assert!(failed(judge_unknown(&run(&[], Some((5, false)), 0))));
        assert!(failed(judge_unknown(&run(&[], Some((1, false)), 1))));
    }

    #[test]
    fn output_verdict() {
        let mut ok = run(
            &[MessageType::PIPELINE_OUTPUT, MessageType::PIPELINE_STATE],
            Some((4, false)),
            0,
        );
        ok.out.output.push(Value::string("tok"));
        assert!(judge_output(&ok, "tok").is_ok());
        assert!(
            failed(judge_output(&ok, "other")),
            "the token must come back"
        );
        let mut late = ok.clone_shallow();
        late.kinds = vec![MessageType::PIPELINE_STATE, MessageType::PIPELINE_OUTPUT];
        assert!(failed(judge_output(&late, "tok")), "output after the end");
        let mut failed_state = ok.clone_shallow();
        failed_state.out.state = Some(StateRead {
            state: 5,
            error: None,
        });
        assert!(failed(judge_output(&failed_state, "tok")));
        let mut no_state = ok.clone_shallow();
        no_state.out.state = None;
        assert!(failed(judge_output(&no_state, "tok")));
    }

    #[test]
    fn stop_verdict() {
        let stopped = run(&[MessageType::PIPELINE_STATE], Some((3, false)), 0);
        assert!(judge_stop(Ok(()), &stopped).is_ok());
        assert!(failed(judge_stop(Err("a fault".into()), &stopped)));
        let completed = run(&[MessageType::PIPELINE_STATE], Some((4, false)), 0);
        assert!(failed(judge_stop(Ok(()), &completed)));
        assert!(failed(judge_stop(Ok(()), &run(&[], None, 0))));
    }

    #[test]
    fn a_hidden_cmdlet_skips() {
        let hidden = run(&[], Some((5, true)), 0);
        assert!(matches!(
            skip_if_not_offered(&hidden, "Start-Sleep"),
            Err(Finding::Skip(_))
        ));
        let as_record = run(&[], Some((4, false)), 1);
        assert!(matches!(
            skip_if_not_offered(&as_record, "Start-Sleep"),
            Err(Finding::Skip(_))
        ));
        assert!(skip_if_not_offered(&run(&[], Some((4, false)), 0), "x").is_ok());
    }

    impl Run {
        fn clone_shallow(&self) -> Run {
            Run {
                command_id: self.command_id.clone(),
                out: self.out.clone(),
                streams: self.streams.clone(),
                kinds: self.kinds.clone(),
            }
        }
    }
}
