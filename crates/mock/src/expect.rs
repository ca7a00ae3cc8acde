//! Mounted mocks and their expectations: the registry a [`MockServer`] keeps, the
//! verification report, the [`MockGuard`] of a scoped mock, and the typed view of the
//! journal ([`ReceivedRequest`]).
//!
//! Counts come from the rules' own counters (bumped when a rule decides, before the
//! answer is sent, so a request whose answer a client has seen is always counted);
//! the list of requests in a report comes from the journal.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::given::{Def, Definition, MountError, Times};
use crate::journal::{Entry, OutcomeKind};
use crate::mock::Mock;

#[cfg(doc)]
use crate::MockServer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Wsman,
    Ipmi,
}

#[derive(Debug, Clone)]
struct Mounted {
    id: u64,
    rule: String,
    description: String,
    protocol: Protocol,
    index: usize,
    expect: Option<Times>,
    /// Final count, once unmounted (a scoped mock's guard was dropped).
    retired: Option<u32>,
    /// Already verified by its guard (not again by the server).
    verified: bool,
}

/// The mocks mounted on one server.
pub(crate) struct Registry {
    mock: Mock,
    mounted: Mutex<Vec<Mounted>>,
    next_id: Mutex<u64>,
}

/// One mock's expectation, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The mock's description (its name, or what it matches).
    pub mock: String,
    /// The rule name it has in the scenario and the journal.
    pub rule: String,
    /// What was expected.
    pub expected: Times,
    /// How many requests it matched.
    pub received: u32,
    /// Whether a scenario load (admin API) removed it before it was checked.
    pub unmounted_by_load: bool,
}

impl Check {
    /// Whether the expectation holds.
    pub fn ok(&self) -> bool {
        self.expected.allows(self.received)
    }
}

/// Expectations that failed, with what the server received: its `Display` is the
/// message a failing test prints.
#[derive(Debug, Clone)]
pub struct VerificationError {
    /// The failed expectations.
    pub failed: Vec<Check>,
    /// Every request the journal kept, oldest first.
    pub received: Vec<ReceivedRequest>,
}

impl std::error::Error for VerificationError {}

impl fmt::Display for VerificationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.failed.len();
        writeln!(
            f,
            "{n} mock expectation{} not met:",
            if n == 1 { " was" } else { "s were" }
        )?;
        for c in &self.failed {
            writeln!(
                f,
                "- mock `{}`: expected {}, received {}{}",
                c.mock,
                c.expected,
                c.received,
                if c.unmounted_by_load {
                    " (a scenario load removed it)"
                } else {
                    ""
                }
            )?;
        }
        if self.received.is_empty() {
            writeln!(f, "The server received no request.")?;
        } else {
            writeln!(
                f,
                "The server received {} request{} (`<-` marks the failed mocks' matches):",
                self.received.len(),
                if self.received.len() == 1 { "" } else { "s" }
            )?;
            for r in &self.received {
                let mine = r
                    .rule()
                    .is_some_and(|rule| self.failed.iter().any(|c| c.rule == rule));
                writeln!(f, "{}{r}", if mine { "  <- " } else { "     " })?;
            }
        }
        Ok(())
    }
}

impl Registry {
    pub(crate) fn new(mock: Mock) -> Registry {
        Registry {
            mock,
            mounted: Mutex::new(Vec::new()),
            next_id: Mutex::new(1),
        }
    }

    fn list(&self) -> MutexGuard<'_, Vec<Mounted>> {
        // Every mutation is a push or a field store: a poisoned lock is still sound.
        self.mounted.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Mounts `def`; returns its id.
    pub(crate) fn mount(&self, def: Definition) -> Result<u64, MountError> {
        let id = {
            let mut next = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
            let id = *next;
            *next += 1;
            id
        };
        let (description, given) = match &def.0 {
            Def::Wsman(m) => (m.description(), m.given_name().map(str::to_owned)),
            Def::Ipmi(m) => (m.description(), m.given_name().map(str::to_owned)),
        };
        let rule = match given {
            Some(name) => format!("{name} (mock #{id})"),
            None => format!("mock #{id}: {description}"),
        };
        let mut index = 0;
        let (protocol, expect) = match def.0 {
            Def::Wsman(m) => {
                let compiled = m.compile(rule.clone())?;
                self.mock.edit_rules(|rules, _| {
                    index = rules.len();
                    rules.push(compiled);
                });
                (Protocol::Wsman, m.expectation())
            }
            Def::Ipmi(m) => {
                let compiled = m.compile(rule.clone())?;
                self.mock.edit_rules(|_, rules| {
                    index = rules.len();
                    rules.push(compiled);
                });
                (Protocol::Ipmi, m.expectation())
            }
        };
        self.list().push(Mounted {
            id,
            rule,
            description,
            protocol,
            index,
            expect,
            retired: None,
            verified: false,
        });
        Ok(id)
    }

    /// How often the mounted rule `m` matched, and whether it is still in the
    /// scenario (a scenario load replaces the rules).
    fn count(&self, m: &Mounted, hits: &(Vec<u32>, Vec<u32>)) -> (u32, bool) {
        if let Some(n) = m.retired {
            return (n, true);
        }
        let scenario = self.mock.scenario();
        let present = match m.protocol {
            Protocol::Wsman => scenario
                .rules
                .rules()
                .get(m.index)
                .is_some_and(|r| r.name == m.rule),
            Protocol::Ipmi => scenario
                .ipmi
                .rules
                .get(m.index)
                .is_some_and(|r| r.name == m.rule),
        };
        if !present {
            return (0, false);
        }
        let counters = match m.protocol {
            Protocol::Wsman => &hits.0,
            Protocol::Ipmi => &hits.1,
        };
        (counters.get(m.index).copied().unwrap_or(0), true)
    }

    /// Unmounts mock `id` (its rule stops matching; its count is kept).
    pub(crate) fn retire(&self, id: u64) {
        let hits = self.mock.rule_hits();
        let mut list = self.list();
        let Some(pos) = list.iter().position(|m| m.id == id) else {
            return;
        };
        let (n, present) = self.count(&list[pos], &hits);
        let m = &mut list[pos];
        if m.retired.is_some() {
            return;
        }
        m.retired = Some(n);
        if present {
            let (protocol, index) = (m.protocol, m.index);
            // `times = 0` never matches: the rule stays in place so that the counters
            // of the rules after it keep their positions.
            self.mock.edit_rules(|rules, ipmi| match protocol {
                Protocol::Wsman => {
                    if let Some(r) = rules.get_mut(index) {
                        r.times = Some(0);
                    }
                }
                Protocol::Ipmi => {
                    if let Some(r) = ipmi.get_mut(index) {
                        r.times = Some(0);
                        r.skip = 0;
                    }
                }
            });
        }
    }

    /// Checks the expectations of the mocks `which` selects that were not verified
    /// yet, marking them verified.
    fn check(&self, which: impl Fn(&Mounted) -> bool, mark: bool) -> Vec<Check> {
        let hits = self.mock.rule_hits();
        let mut list = self.list();
        let mut out = Vec::new();
        for m in list.iter_mut().filter(|m| !m.verified && which(m)) {
            let Some(expected) = m.expect else { continue };
            let (received, present) = self.count(m, &hits);
            out.push(Check {
                mock: m.description.clone(),
                rule: m.rule.clone(),
                expected,
                received,
                unmounted_by_load: !present,
            });
            if mark {
                m.verified = true;
            }
        }
        out
    }

    fn report(&self, checks: Vec<Check>) -> Result<(), VerificationError> {
        let failed: Vec<Check> = checks.into_iter().filter(|c| !c.ok()).collect();
        if failed.is_empty() {
            return Ok(());
        }
        Err(VerificationError {
            failed,
            received: received_requests(&self.mock.journal().entries()),
        })
    }

    /// Checks every expectation not verified by a guard yet.
    pub(crate) fn verify(&self) -> Result<(), VerificationError> {
        self.report(self.check(|_| true, false))
    }

    /// Checks, once, every expectation not verified yet (the server's drop).
    pub(crate) fn verify_once(&self) -> Result<(), VerificationError> {
        self.report(self.check(|_| true, true))
    }

    /// Checks mock `id`'s expectation, once.
    fn verify_one(&self, id: u64) -> Result<(), VerificationError> {
        self.report(self.check(|m| m.id == id, true))
    }

    /// Unmounts every mock and forgets their expectations.
    pub(crate) fn reset(&self) {
        let ids: Vec<u64> = self.list().iter().map(|m| m.id).collect();
        for id in ids {
            self.retire(id);
        }
        self.list().clear();
    }

    /// The number of requests each mounted mock matched so far, by rule name.
    pub(crate) fn counts(&self) -> Vec<(String, u32)> {
        let hits = self.mock.rule_hits();
        let list = self.list();
        list.iter()
            .map(|m| (m.rule.clone(), self.count(m, &hits).0))
            .collect()
    }
}

/// Keeps a scoped mock mounted. When dropped it unmounts the mock and verifies its
/// expectation, panicking with the report if it failed (unless the thread is already
/// panicking).
#[must_use = "the mock is unmounted when the guard is dropped"]
pub struct MockGuard {
    registry: Arc<Registry>,
    id: u64,
}

impl MockGuard {
    pub(crate) fn new(registry: Arc<Registry>, id: u64) -> MockGuard {
        MockGuard { registry, id }
    }

    /// How many requests the mock matched so far.
    pub fn received(&self) -> u32 {
        let hits = self.registry.mock.rule_hits();
        let list = self.registry.list();
        list.iter()
            .find(|m| m.id == self.id)
            .map_or(0, |m| self.registry.count(m, &hits).0)
    }

    /// The journal entries of the requests the mock answered so far.
    pub fn received_requests(&self) -> Vec<ReceivedRequest> {
        let rule = {
            let list = self.registry.list();
            list.iter()
                .find(|m| m.id == self.id)
                .map(|m| m.rule.clone())
        };
        received_requests(&self.registry.mock.journal().entries())
            .into_iter()
            .filter(|r| rule.is_some() && r.rule() == rule.as_deref())
            .collect()
    }

    /// Unmounts the mock and verifies its expectation, returning the report instead
    /// of panicking.
    pub fn verify_and_unmount(self) -> Result<(), VerificationError> {
        self.registry.retire(self.id);
        let r = self.registry.verify_one(self.id);
        // Already verified: the drop that follows finds nothing to check.
        drop(self);
        r
    }
}

impl Drop for MockGuard {
    fn drop(&mut self) {
        self.registry.retire(self.id);
        if let Err(e) = self.registry.verify_one(self.id) {
            if !std::thread::panicking() {
                panic!("{e}");
            }
        }
    }
}

impl fmt::Debug for MockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockGuard").field("id", &self.id).finish()
    }
}

// ------------------------------------------------------------------ typed journal

/// A request the server received, from the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceivedRequest {
    /// An HTTP request (WS-Man or not).
    Wsman(WsmanRequest),
    /// An IPMI datagram.
    Ipmi(IpmiRequest),
}

impl ReceivedRequest {
    /// The rule (mounted mock or scenario rule) that answered it, if any.
    pub fn rule(&self) -> Option<&str> {
        match self {
            ReceivedRequest::Wsman(w) => w.rule.as_deref(),
            ReceivedRequest::Ipmi(i) => i.rule.as_deref(),
        }
    }

    /// The WS-Man request, if it is one.
    pub fn wsman(&self) -> Option<&WsmanRequest> {
        match self {
            ReceivedRequest::Wsman(w) => Some(w),
            ReceivedRequest::Ipmi(_) => None,
        }
    }

    /// The IPMI request, if it is one.
    pub fn ipmi(&self) -> Option<&IpmiRequest> {
        match self {
            ReceivedRequest::Ipmi(i) => Some(i),
            ReceivedRequest::Wsman(_) => None,
        }
    }
}

/// An HTTP request as the journal kept it, with its WS-Man addressing read from the
/// envelope (when the body is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsmanRequest {
    /// Journal sequence number.
    pub seq: u64,
    /// Whether it came over HTTPS.
    pub tls: bool,
    /// HTTP method.
    pub method: String,
    /// Request target.
    pub path: String,
    /// The authenticated user.
    pub user: Option<String>,
    /// `wsa:Action`.
    pub action: Option<String>,
    /// The operation as the service understood it (`Get`, `Enumerate`, ...).
    pub operation: Option<String>,
    /// `wsman:ResourceURI`.
    pub resource_uri: Option<String>,
    /// Text selectors, in order.
    pub selectors: Vec<(String, String)>,
    /// The request body (plain SOAP, even when it came sealed), as text.
    pub body: String,
    /// The rule that answered.
    pub rule: Option<String>,
    /// The response status, when one was sent.
    pub status: Option<u16>,
    /// What the server did.
    pub outcome: OutcomeKind,
}

/// An IPMI datagram as the journal kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiRequest {
    /// Journal sequence number.
    pub seq: u64,
    /// Datagram kind (`ping`, `sessionless`, `rmcpp`, ...).
    pub kind: String,
    /// The session's (or login's) user.
    pub user: Option<String>,
    /// Request NetFn.
    pub netfn: Option<u8>,
    /// Command.
    pub cmd: Option<u8>,
    /// The command's name (`get_device_id`).
    pub command: Option<String>,
    /// Request data.
    pub data: Vec<u8>,
    /// The answer's completion code.
    pub completion_code: Option<u8>,
    /// The answer's data.
    pub response: Vec<u8>,
    /// The rule that acted.
    pub rule: Option<String>,
}

impl fmt::Display for ReceivedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReceivedRequest::Wsman(w) => {
                write!(f, "#{} {} ", w.seq, if w.tls { "https" } else { "http" })?;
                match (&w.operation, &w.action) {
                    (Some(op), _) => write!(f, "{op}")?,
                    (None, Some(a)) => write!(f, "{a}")?,
                    (None, None) => write!(f, "{} {}", w.method, w.path)?,
                }
                if let Some(r) = &w.resource_uri {
                    write!(f, " {r}")?;
                }
                if !w.selectors.is_empty() {
                    let s: Vec<String> = w
                        .selectors
                        .iter()
                        .map(|(n, v)| format!("{n}={v}"))
                        .collect();
                    write!(f, " {{{}}}", s.join(", "))?;
                }
                write!(f, " user {}", w.user.as_deref().unwrap_or("-"))?;
                match w.status {
                    Some(s) => write!(f, " -> {s}")?,
                    None => write!(f, " -> {:?}", w.outcome)?,
                }
                if let Some(r) = &w.rule {
                    write!(f, " (rule `{r}`)")?;
                }
                Ok(())
            }
            ReceivedRequest::Ipmi(i) => {
                write!(f, "#{} ipmi {}", i.seq, i.kind)?;
                if let (Some(n), Some(c)) = (i.netfn, i.cmd) {
                    write!(
                        f,
                        " {} ({n:#04x}:{c:#04x})",
                        i.command.as_deref().unwrap_or("?")
                    )?;
                }
                write!(f, " user {}", i.user.as_deref().unwrap_or("-"))?;
                if let Some(cc) = i.completion_code {
                    write!(f, " -> cc {cc:#04x}")?;
                }
                if let Some(r) = &i.rule {
                    write!(f, " (rule `{r}`)")?;
                }
                Ok(())
            }
        }
    }
}

/// The journal's entries as typed requests (free-form entries are left out).
pub fn received_requests(entries: &[Entry]) -> Vec<ReceivedRequest> {
    entries.iter().filter_map(typed).collect()
}

fn typed(e: &Entry) -> Option<ReceivedRequest> {
    if let Some(h) = e.http() {
        let bytes = h.request_body.bytes();
        let text = wsman::decode::decode(&bytes, None)
            .map(|t| t.into_owned())
            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
        let mut req = WsmanRequest {
            seq: e.seq,
            tls: h.tls,
            method: h.method.to_string(),
            path: h.path.clone(),
            user: h.user.as_deref().map(str::to_owned),
            action: None,
            operation: h.operation.as_deref().map(str::to_owned),
            resource_uri: None,
            selectors: Vec::new(),
            body: String::new(),
            rule: h.rule.clone(),
            status: h.status,
            outcome: h.outcome,
        };
        if let Ok(env) = wsman::parse_header(&text, &wsman::Limits::default()) {
            let header = env.header;
            req.action = header.action.map(|a| a.into_owned());
            req.resource_uri = header.resource_uri.map(|r| r.into_owned());
            req.selectors = header
                .selectors
                .iter()
                .filter_map(|s| match &s.value {
                    wsman::SelectorValue::Text(t) => Some((s.name.to_string(), t.to_string())),
                    _ => None,
                })
                .collect();
        }
        req.body = text;
        return Some(ReceivedRequest::Wsman(req));
    }
    let i = e.ipmi()?;
    Some(ReceivedRequest::Ipmi(IpmiRequest {
        seq: e.seq,
        kind: i.kind.clone(),
        user: i.user.clone(),
        netfn: i.netfn,
        cmd: i.cmd,
        command: i.command.clone(),
        data: unhex(&i.request_hex),
        completion_code: i.completion_code,
        response: unhex(&i.response_hex),
        rule: i.rule.clone(),
    }))
}

fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks_exact(2)
        .filter_map(|p| std::str::from_utf8(p).ok())
        .filter_map(|p| u8::from_str_radix(p, 16).ok())
        .collect()
}
