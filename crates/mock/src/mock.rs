//! The mock itself: one simulated machine and its scenario behind a lock, the state
//! WS-Man requests share (open enumerations, the rules' counters, the shell wake-up
//! channel, the IPMI session layer), and the public API that the admin API, the
//! library ([`crate::MockServer`]) and tests use. Answering WS-Man requests is
//! [`crate::wsman`]'s; the IPMI entry points are in `ipmi_bridge.rs`, the admin
//! operations in `admin_ops.rs`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::Instant;

use machine::Machine;

use crate::journal::Journal;
use crate::rules::RuleState;
use crate::scenario::Scenario;
use crate::wsman::Enumeration;

/// The mock: one simulated machine behind WS-Man, driven by a scenario.
#[derive(Clone)]
pub struct Mock {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) inner: Mutex<Inner>,
    /// What the HTTP layer asks on every request, kept out of `inner` so that
    /// authentication never waits for another request's WS-Man work.
    pub(crate) auth: std::sync::RwLock<Arc<AuthSnapshot>>,
    /// `auth`'s generation and whether its policy offers no scheme at all, stored after
    /// it is replaced: what every request asks, read without the lock and without a
    /// count on the snapshot (both lines every worker would write).
    pub(crate) auth_generation: std::sync::atomic::AtomicU64,
    pub(crate) auth_open: std::sync::atomic::AtomicBool,
    /// The scenario in force, as `Inner::scenario` (both are replaced together, under
    /// the machine lock): a request reads it here before it needs the machine, so it
    /// takes the contended machine lock once, not twice.
    pub(crate) scenario: std::sync::RwLock<Arc<Scenario>>,
    pub(crate) journal: Arc<Journal>,
    pub(crate) started: Instant,
}

pub(crate) struct Inner {
    pub(crate) scenario: Arc<Scenario>,
    pub(crate) machine: Machine,
    pub(crate) rules: RuleState,
    pub(crate) enumerations: HashMap<String, Enumeration>,
    /// Bumped (under the lock) whenever shell state changes in a way a waiting Receive
    /// may care about: stdin, a signal, a delete, a new scenario.
    pub(crate) shell_wake: tokio::sync::watch::Sender<u64>,
    /// The IPMI session layer (sessions, rule counters) in front of the same machine.
    pub(crate) ipmi: crate::ipmi::State,
    /// When the scenario in force was loaded (`now_ms`; 0 for the first): where its
    /// `[[events]]` schedules count from.
    pub(crate) loaded_at: u64,
    /// The IPMI listener's port (0 until one listens).
    pub(crate) ipmi_port: u16,
    /// The Identify answer's body as written, to an anonymous ([0]) and to an
    /// authenticated ([1]) client: it depends on the scenario only.
    pub(crate) identify_answers: [Option<std::sync::Arc<str>>; 2],
    /// Instances written before and their XML (see [`crate::xml_memo::XmlMemo`]).
    pub(crate) xml_memo: crate::xml_memo::XmlMemo,
    /// WS-Eventing subscriptions (`machine::subscriptions` with the mock's
    /// `crate::eventing::Delivery` part).
    pub(crate) subscriptions: crate::eventing::Subscriptions,
    /// Tells delivery tasks and waiting Pulls that events may be waiting.
    pub(crate) event_wake: crate::eventing::Wake,
    /// How often each `[[eventing.delivery_faults]]` rule applied, by position.
    pub(crate) delivery_fault_hits: Vec<u32>,
    /// Subscriptions made under the lock whose delivery task starts once it is released.
    pub(crate) subscriptions_to_start: Vec<String>,
    /// PowerShell runspace pools (`crate::remoting`).
    pub(crate) psrp: crate::remoting::Pools,
}

/// The scenario's authentication policy and the enabled users' passwords.
pub(crate) struct AuthSnapshot {
    pub(crate) policy: Arc<crate::http::AuthPolicy>,
    pub(crate) passwords: HashMap<String, String>,
    /// Distinct for every snapshot the process makes ([`crate::http::Credentials::generation`]).
    pub(crate) generation: u64,
}

impl AuthSnapshot {
    fn of(scenario: &Scenario) -> AuthSnapshot {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        AuthSnapshot {
            generation: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            policy: Arc::new(scenario.auth_policy()),
            passwords: scenario
                .machine
                .users
                .iter()
                .filter(|u| u.enabled)
                .map(|u| (u.name.clone(), u.password.clone()))
                .collect(),
        }
    }
}

impl Mock {
    /// A mock of `scenario`, with a journal.
    pub fn new(scenario: Scenario, journal: Arc<Journal>) -> Result<Mock, String> {
        let started = Instant::now();
        let mut machine = Machine::new(scenario.machine.clone(), 0).map_err(|e| e.to_string())?;
        let auth = AuthSnapshot::of(&scenario);
        let (auth_generation, auth_open) = (auth.generation, !auth.policy.offers_any());
        let auth = std::sync::RwLock::new(Arc::new(auth));
        let ipmi = crate::ipmi::State::new(&scenario.ipmi, &mut machine, 0);
        let scenario = Arc::new(scenario);
        Ok(Mock {
            shared: Arc::new(Shared {
                auth,
                auth_generation: auth_generation.into(),
                auth_open: auth_open.into(),
                scenario: std::sync::RwLock::new(scenario.clone()),
                inner: Mutex::new(Inner {
                    scenario,
                    machine,
                    rules: RuleState::default(),
                    enumerations: HashMap::new(),
                    shell_wake: tokio::sync::watch::Sender::new(0),
                    psrp: crate::remoting::Pools::default(),
                    ipmi,
                    loaded_at: 0,
                    ipmi_port: 0,
                    identify_answers: Default::default(),
                    xml_memo: Default::default(),
                    subscriptions: crate::eventing::Subscriptions::new(crate::eventing::new_epoch()),
                    event_wake: Default::default(),
                    delivery_fault_hits: Vec::new(),
                    subscriptions_to_start: Vec::new(),
                }),
                journal,
                started,
            }),
        })
    }

    /// The journal.
    pub fn journal(&self) -> &Arc<Journal> {
        &self.shared.journal
    }

    pub(crate) fn lock(&self) -> Locked<'_> {
        // A panic while holding the lock would be a bug; keep serving rather than
        // poisoning every later request.
        for _ in 0..LOCK_TRIES {
            match self.shared.inner.try_lock() {
                Ok(guard) => return Locked(guard),
                Err(TryLockError::Poisoned(p)) => return Locked(p.into_inner()),
                Err(TryLockError::WouldBlock) => std::hint::spin_loop(),
            }
        }
        Locked(self.shared.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Milliseconds since the mock started: the machine's clock.
    pub fn now_ms(&self) -> u64 {
        self.shared.started.elapsed().as_millis() as u64
    }

    /// The scenario in force.
    pub fn scenario(&self) -> Arc<Scenario> {
        self.shared
            .scenario
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Puts `scenario` in force, with the machine lock held (`inner`).
    fn set_scenario(&self, inner: &mut Inner, scenario: Scenario) {
        let scenario = Arc::new(scenario);
        inner.scenario = scenario.clone();
        *self
            .shared
            .scenario
            .write()
            .unwrap_or_else(|p| p.into_inner()) = scenario;
    }

    /// Replaces the scenario (and the machine with it).
    pub fn load(&self, scenario: Scenario) -> Result<(), String> {
        let now = self.now_ms();
        let mut machine = Machine::new(scenario.machine.clone(), now).map_err(|e| e.to_string())?;
        let snapshot = Arc::new(AuthSnapshot::of(&scenario));
        let mut inner = self.lock();
        // A new machine means new users and keys: the IPMI sessions go with the old one.
        inner.ipmi = crate::ipmi::State::new(&scenario.ipmi, &mut machine, inner.ipmi_port);
        inner.machine = machine;
        inner.loaded_at = now;
        self.set_scenario(&mut inner, scenario);
        let (generation, open) = (snapshot.generation, !snapshot.policy.offers_any());
        *self.shared.auth.write().unwrap_or_else(|p| p.into_inner()) = snapshot;
        self.shared.auth_open.store(open, Ordering::Release);
        self.shared
            .auth_generation
            .store(generation, Ordering::Release);
        inner.rules = RuleState::default();
        inner.enumerations.clear();
        inner.identify_answers = Default::default();
        inner.xml_memo.clear();
        // A new machine has a new event log: subscriptions to the old one end
        // (delivery tasks end when they find theirs gone), and bookmarks of the old
        // machine become unknown.
        inner.subscriptions.reset(crate::eventing::new_epoch());
        inner.delivery_fault_hits.clear();
        inner.event_wake.bump();
        // Receives waiting on the old machine's shells find them gone.
        inner.shell_wake.send_modify(|g| *g += 1);
        Ok(())
    }

    /// Runs `f` on the machine at the current time (for the admin API and tests).
    pub fn with_machine<R>(&self, f: impl FnOnce(&mut Machine, u64) -> R) -> R {
        let now = self.now_ms();
        let mut inner = self.lock();
        f(&mut inner.machine, now)
    }

    /// Changes the rules in force (WS-Man and IPMI) without touching the machine, the
    /// sessions or the rules' counters: how [`crate::MockServer`] mounts mocks. The
    /// counters are kept by position, so `f` may append rules or change them in place
    /// but must not remove or reorder them.
    pub fn edit_rules(
        &self,
        f: impl FnOnce(&mut Vec<crate::rules::Rule>, &mut Vec<crate::ipmi::rules::IpmiRule>),
    ) {
        let mut inner = self.lock();
        let mut scenario = Scenario::clone(&inner.scenario);
        let mut rules = scenario.rules.rules().to_vec();
        f(&mut rules, &mut scenario.ipmi.rules);
        scenario.rules = crate::rules::RuleSet::new(rules);
        self.set_scenario(&mut inner, scenario);
    }

    /// Removes the rules at the end of the lists whose name starts with `prefix` (a
    /// fleet's injected faults, always appended last), with their counters; answers
    /// how many went.
    pub fn remove_trailing_rules(&self, prefix: &str) -> usize {
        let mut inner = self.lock();
        let mut scenario = Scenario::clone(&inner.scenario);
        let mut rules = scenario.rules.rules().to_vec();
        let before = rules.len() + scenario.ipmi.rules.len();
        while rules.last().is_some_and(|r| r.name.starts_with(prefix)) {
            rules.pop();
        }
        while scenario
            .ipmi
            .rules
            .last()
            .is_some_and(|r| r.name.starts_with(prefix))
        {
            scenario.ipmi.rules.pop();
        }
        let (w, i) = (rules.len(), scenario.ipmi.rules.len());
        let removed = before - w - i;
        scenario.rules = crate::rules::RuleSet::new(rules);
        self.set_scenario(&mut inner, scenario);
        inner.rules.truncate_hits(w);
        inner.ipmi.truncate_hits(i);
        removed
    }

    /// How often each WS-Man rule and each IPMI rule has matched since the scenario
    /// was loaded, by position (counted when the rule decides, before the answer).
    pub fn rule_hits(&self) -> (Vec<u32>, Vec<u32>) {
        let inner = self.lock();
        (inner.rules.hits().to_vec(), inner.ipmi.rule_hits().to_vec())
    }

    /// The accounts and authentication policy in force.
    /// Whether the policy in force offers no authentication scheme (anyone may ask
    /// anything).
    pub(crate) fn auth_open(&self) -> bool {
        self.shared.auth_open.load(Ordering::Acquire)
    }

    pub(crate) fn auth(&self) -> Arc<AuthSnapshot> {
        self.shared
            .auth
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Inner {
    pub(crate) fn expire(&mut self, now: u64) {
        self.enumerations.retain(|_, e| e.expires_at > now);
        self.machine.shell_expire(now);
    }
}

impl crate::http::Credentials for Mock {
    fn password(&self, user: &str) -> Option<String> {
        self.auth().passwords.get(user).cloned()
    }

    fn policy(&self) -> Arc<crate::http::AuthPolicy> {
        self.auth().policy.clone()
    }

    fn generation(&self) -> Option<u64> {
        Some(self.shared.auth_generation.load(Ordering::Acquire))
    }

    /// The policy changes only with the whole snapshot.
    fn policy_generation(&self) -> Option<u64> {
        self.generation()
    }
}

/// How many times [`Mock::lock`] tries the machine lock, spinning, before it sleeps on
/// it. The lock is held for one operation's dispatch, a few microseconds; when the
/// other worker holds it, sleeping and being woken (two system calls and two context
/// switches) costs more than waiting, and std's mutex spins only briefly before it
/// sleeps. On the throughput bench (two workers, 64 connections) 1,000 tries cut the
/// futex calls of a Get or Enumerate load by two thirds to three quarters and the
/// context switches by a third to a half, for 5-6% more requests served; 4,000 did no
/// better. A holder that is not running (preempted) costs the waiter at most these
/// tries, tens of microseconds.
const LOCK_TRIES: usize = 1000;

/// The machine lock held. Whatever was done under it (a WS-Man or IPMI request, the
/// admin API, a schedule, a test's `with_machine`), releasing it tells the event
/// deliveries when the machine's event log grew, so a push subscriber hears of an
/// event as soon as the lock that recorded it is released.
pub(crate) struct Locked<'a>(MutexGuard<'a, Inner>);

impl std::ops::Deref for Locked<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.0
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let last = self.0.machine.events().last_seq();
        self.0.event_wake.notify(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Credentials as _;

    /// Loading a scenario makes a new credentials generation (so connections that
    /// proved a Basic header prove it again); reading them does not.
    #[test]
    fn loading_a_scenario_changes_the_credentials_generation() {
        let mock = Mock::new(Scenario::default_scenario(), Arc::new(Journal::default())).unwrap();
        let first = mock.generation();
        assert!(first.is_some());
        assert_eq!(mock.generation(), first);
        mock.load(Scenario::default_scenario()).unwrap();
        let second = mock.generation();
        assert!(second.is_some());
        assert_ne!(second, first);
    }

    /// What the HTTP layer and the handler read on every request without the lock
    /// follows a loaded scenario: the policy generation with the snapshot, and
    /// whether the policy offers any scheme.
    #[test]
    fn the_lock_free_auth_reads_follow_a_loaded_scenario() {
        let mock = Mock::new(Scenario::default_scenario(), Arc::new(Journal::default())).unwrap();
        assert!(mock.policy().offers_any());
        assert!(!mock.auth_open());
        assert_eq!(mock.policy_generation(), mock.generation());
        let before = mock.policy_generation();
        let mut open = Scenario::default_scenario();
        open.http.auth.clear();
        mock.load(open).unwrap();
        assert!(!mock.policy().offers_any());
        assert!(mock.auth_open());
        assert_ne!(mock.policy_generation(), before);
        assert_eq!(mock.policy_generation(), mock.generation());
        mock.load(Scenario::default_scenario()).unwrap();
        assert!(!mock.auth_open());
    }

    /// A new machine starts its eventing afresh: no subscriptions, no delivery fault
    /// rule applied yet, bookmarks of the old machine unknown.
    #[test]
    fn loading_a_scenario_resets_eventing() {
        let mock = Mock::new(Scenario::default_scenario(), Arc::new(Journal::default())).unwrap();
        let old_bookmark = {
            let mut inner = mock.lock();
            inner.delivery_fault_hits = vec![2, 1];
            inner.subscriptions.bookmark(5)
        };
        assert_eq!(
            mock.lock().subscriptions.read_bookmark(&old_bookmark),
            Some(5)
        );
        mock.load(Scenario::default_scenario()).unwrap();
        let inner = mock.lock();
        assert!(inner.delivery_fault_hits.is_empty());
        assert!(inner.subscriptions.is_empty());
        assert_eq!(inner.subscriptions.read_bookmark(&old_bookmark), None);
    }

    /// The machine lock stays usable after a panic under it, whether it is found free
    /// (the spinning tries) or taken (the sleeping wait), and a waiter gets it only
    /// when the holder lets go.
    #[test]
    fn the_machine_lock_survives_a_panic_and_waits_for_its_holder() {
        let mock = Mock::new(Scenario::default_scenario(), Arc::new(Journal::default())).unwrap();
        let m = mock.clone();
        let panicked = std::thread::spawn(move || {
            let mut inner = m.lock();
            inner.delivery_fault_hits = vec![7];
            panic!("a bug under the lock");
        })
        .join();
        assert!(panicked.is_err());
        assert!(mock.shared.inner.is_poisoned());
        assert_eq!(mock.lock().delivery_fault_hits, vec![7]);

        // Held elsewhere: the waiter neither gets it early nor gives up.
        let held = mock.lock();
        let (got, acquired) = std::sync::mpsc::channel();
        let m = mock.clone();
        let waiter = std::thread::spawn(move || {
            let inner = m.lock();
            got.send(inner.delivery_fault_hits.clone()).unwrap();
        });
        assert_eq!(
            acquired.recv_timeout(std::time::Duration::from_millis(50)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout),
            "the lock was taken while held"
        );
        let mut held = held;
        held.delivery_fault_hits = vec![8];
        drop(held);
        assert_eq!(acquired.recv().unwrap(), vec![8]);
        waiter.join().unwrap();
    }
}
