//! Fleets: many simulated machines in one process (`touchstone serve --fleet N`).
//!
//! [`plan`] says, without IO, what each machine is (identity, scenario, chaos,
//! addresses). [`Fleet`] runs it: every machine is an ordinary [`Mock`], built the first
//! time something reaches it (a connection, a datagram, the admin API), from a
//! scenario shared by all the machines of its mix entry and its chaos, with the
//! machine's own identity, passwords and sensor seeds written over it. Until then a
//! machine costs its entry in the plan and, with IPMI, one UDP socket.
//!
//! Listeners: with the `per-ip` plan, one TCP listener per protocol serves the whole
//! fleet: it is bound to the wildcard address *and to the loopback device*
//! (`SO_BINDTODEVICE lo`), so only connections to 127.0.0.0/8 reach it, and each
//! connection goes to the machine of the local address it came in on. Where the
//! system refuses that, and with the `port-range` plan, each machine has its own
//! listener. IPMI needs the reply to leave from the address the request went to, so
//! each machine has its own UDP socket. The process raises its open-file limit as far
//! as the hard limit allows and refuses a fleet that would not fit.

pub mod admin;
pub mod inventory;
pub mod plan;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::Mock;
use crate::http::server::{self, Endpoint, Running, ServerConfig, TlsSource};
use crate::journal::Journal;
use crate::scenario::Scenario;
pub use plan::{AddressPlan, Chaos, ChaosSpec, FleetSpec, Member, MixEntry};

/// What to run.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The table (its `size` is the number of machines).
    pub spec: FleetSpec,
    /// The scenario that holds the table: what machines run when there is no mix.
    pub base: Scenario,
    /// The TOML text of `base` (chaos variants are made from it).
    pub base_text: String,
    /// Where mix entries' relative paths start (the base scenario's directory).
    pub dir: Option<PathBuf>,
    /// The HTTPS certificate.
    pub tls: TlsSource,
    /// The fleet admin API's address, if any.
    pub admin: Option<SocketAddr>,
}

impl FleetConfig {
    /// A fleet of `size` machines of `base` (its own `[fleet]` table, or the defaults).
    pub fn new(base: Scenario, base_text: String, size: usize) -> FleetConfig {
        let mut spec = base.fleet.clone().unwrap_or_default();
        spec.size = size;
        FleetConfig {
            spec,
            base,
            base_text,
            dir: None,
            tls: TlsSource::default(),
            admin: None,
        }
    }
}

/// Why a fleet cannot start.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The table or the plan is refused.
    #[error("{0}")]
    Plan(String),
    /// A scenario of the mix cannot be loaded.
    #[error("{0}")]
    Scenario(String),
    /// More descriptors than the system allows.
    #[error("{0}")]
    Limits(String),
    /// A socket cannot be bound.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A machine once built.
pub(crate) struct Built {
    pub(crate) mock: Mock,
    endpoint: Endpoint,
}

/// What the listeners, the admin API and the timers share.
pub(crate) struct Shared {
    pub(crate) spec: FleetSpec,
    pub(crate) members: Vec<Member>,
    /// The mix's scenario names, by entry (`default` when there is no mix).
    pub(crate) scenario_names: Vec<String>,
    /// Per mix entry: the scenario, and the same with the `slow` rules added.
    variants: Vec<[Arc<Scenario>; 2]>,
    /// Each machine once built (or why it could not be: the start checks every kind, so
    /// only a bug gets there, and that machine is then unreachable, not the fleet).
    machines: Vec<OnceLock<Result<Built, String>>>,
    server: ServerConfig,
    /// `per-ip`: machine by address (the index is the address minus the first one).
    first_ip: u32,
    pub(crate) started: Instant,
    /// How many machines have been built.
    pub(crate) built: std::sync::atomic::AtomicUsize,
    /// The addresses bound, by index (the plan's, with port 0 replaced).
    pub(crate) bound: OnceLock<Vec<Bound>>,
}

/// A machine's bound addresses: HTTP, HTTPS, IPMI.
pub(crate) type Bound = (Option<SocketAddr>, Option<SocketAddr>, Option<SocketAddr>);

impl Shared {
    /// Machine `index`, built now if it was not (`None` past the end).
    pub(crate) fn machine(&self, index: usize) -> Option<&Built> {
        let slot = self.machines.get(index)?;
        slot.get_or_init(|| {
            self.build(index)
                .inspect_err(|e| tracing::error!("fleet: {e}"))
        })
        .as_ref()
        .ok()
    }

    /// Machine `index` if it has been built.
    pub(crate) fn built(&self, index: usize) -> Option<&Built> {
        self.machines.get(index)?.get()?.as_ref().ok()
    }

    fn scenario_of(&self, member: &Member) -> Scenario {
        let slow = usize::from(member.chaos == Some(Chaos::Slow));
        let mut scenario = Scenario::clone(&self.variants[member.scenario][slow]);
        personalise(&mut scenario, &self.spec, member);
        scenario
    }

    fn build(&self, index: usize) -> Result<Built, String> {
        let member = &self.members[index];
        let scenario = self.scenario_of(member);
        let journal = Arc::new(Journal::new(self.spec.journal_capacity.max(1)));
        let mock = Mock::new(scenario, journal.clone())
            .map_err(|e| format!("machine {} cannot be built: {e}", member.id))?;
        let id = member.identity.clone();
        mock.with_machine(|m, _| m.set_lan_identity(id.ip.octets(), id.mac));
        if let Some(ipmi) = member.ipmi {
            mock.set_ipmi_port(ipmi.port());
        }
        let shared = Arc::new(mock.clone());
        let endpoint = Endpoint::new(
            &self.server,
            shared.clone(),
            shared.clone(),
            shared,
            journal,
        );
        self.built
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Built { mock, endpoint })
    }

    /// Builds one machine of every (scenario, chaos) kind the plan has and drops it:
    /// a combination that cannot be built is refused at the start, not on first contact.
    fn check_kinds(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for member in &self.members {
            if seen.insert((member.scenario, member.chaos)) {
                machine::Machine::new(self.scenario_of(member).machine, 0).map_err(|e| {
                    format!(
                        "the fleet's {} machines{} cannot be built: {e}",
                        self.scenario_names[member.scenario],
                        member
                            .chaos
                            .map(|c| format!(" with {} chaos", c.name()))
                            .unwrap_or_default()
                    )
                })?;
            }
        }
        Ok(())
    }

    /// The machine a connection to `local` is for.
    fn route(&self, local: SocketAddr) -> Option<usize> {
        let index = match (self.spec.plan, local.ip()) {
            (AddressPlan::PerIp, IpAddr::V4(v4)) => {
                u32::from(v4).checked_sub(self.first_ip)? as usize
            }
            _ => return None,
        };
        let member = self.members.get(index)?;
        (member.chaos != Some(Chaos::Unreachable)).then_some(index)
    }
}

/// Writes the member's identity, passwords, sensor seeds and breakage over its scenario.
fn personalise(scenario: &mut Scenario, spec: &FleetSpec, member: &Member) {
    let m = &mut scenario.machine;
    m.identity.hostname = member.identity.hostname.clone();
    m.identity.serial_number = member.identity.serial_number.clone();
    m.identity.guid = member.identity.guid.clone();
    let mut rng = plan::SplitMix::new(spec.seed ^ ((member.index as u64) << 20));
    for s in &mut m.sensors {
        if let Some(w) = &mut s.random_walk {
            w.seed = rng.next_u64();
        }
    }
    scenario.meta.name = format!("{} ({})", scenario.meta.name, member.id);
    match member.chaos {
        Some(Chaos::WrongCredentials) => {
            for u in &mut scenario.machine.users {
                u.password = format!("not-{}-{}", u.password, member.id);
            }
        }
        Some(Chaos::FailingSensors) => {
            for s in &mut scenario.machine.sensors {
                let t = s.thresholds;
                let over = t
                    .upper_non_recoverable
                    .or(t.upper_critical)
                    .or(t.upper_non_critical)
                    .or(s.max_readable);
                if let Some(v) = over {
                    let v =
                        (v + s.resolution.abs().max(1.0)).min(s.max_readable.unwrap_or(f64::MAX));
                    s.constant = Some(v);
                    s.sequence = None;
                    s.step_ms = None;
                    s.random_walk = None;
                    s.expr = None;
                }
            }
        }
        _ => {}
    }
}

/// A running fleet. Dropping it stops everything without waiting.
pub struct Fleet {
    shared: Arc<Shared>,
    http: Vec<Running>,
    ipmi: Vec<crate::ipmi::Listener>,
    admin: Option<Running>,
    timers: Vec<tokio::task::JoinHandle<()>>,
    /// How the TCP listeners were laid out (for the console line).
    pub layout: &'static str,
}

/// Built-in scenarios a mix may name.
pub fn builtin_scenario(name: &str) -> Option<&'static str> {
    crate::scenario::BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

fn load_entry(entry: &MixEntry, dir: Option<&Path>) -> Result<(String, String), FleetError> {
    if let Some(text) = builtin_scenario(&entry.scenario) {
        return Ok((text.to_owned(), format!("<built-in {}>", entry.scenario)));
    }
    let path = match dir {
        Some(d) => d.join(&entry.scenario),
        None => PathBuf::from(&entry.scenario),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        let names: Vec<&str> = crate::scenario::BUILTIN.iter().map(|(n, _)| *n).collect();
        FleetError::Scenario(format!(
            "fleet.mix: `{}` is neither a built-in scenario ({}) nor a readable file ({}: {e})",
            entry.scenario,
            names.join(", "),
            path.display()
        ))
    })?;
    Ok((text, path.display().to_string()))
}

/// The text of a scenario with every answer late by `ms` (WS-Man and IPMI).
fn slow_text(text: &str, ms: u64) -> String {
    format!(
        "{text}\n\n# Added by the fleet: this machine is slow.\n\
         [[rules]]\nname = \"fleet chaos: slow\"\nanswer = {{ delay_ms = {ms} }}\n\n\
         [[ipmi.rules]]\nname = \"fleet chaos: slow\"\nmatch = {{ payload = \"command\" }}\n\
         action = {{ delay_ms = {ms} }}\n"
    )
}

/// Descriptors a fleet needs beyond its listeners (the runtime, the admin API, clients'
/// connections in flight).
const SPARE_DESCRIPTORS: u64 = 512;

/// Raises the soft open-file limit to the hard one; answers the limit in force.
fn raise_nofile() -> u64 {
    #[cfg(unix)]
    {
        if let Ok((soft, hard)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
            if soft < hard && rlimit::setrlimit(rlimit::Resource::NOFILE, hard, hard).is_ok() {
                return hard;
            }
            return soft;
        }
    }
    u64::MAX
}

impl Fleet {
    /// Plans the fleet, binds every listener and starts serving. Machines are built
    /// when first reached.
    pub async fn start(config: FleetConfig) -> Result<Fleet, FleetError> {
        let spec = config.spec.clone();
        spec.validate()
            .map_err(|(path, message)| FleetError::Plan(format!("{path}: {message}")))?;
        let members = plan::plan(&spec, spec.size).map_err(|e| FleetError::Plan(e.to_string()))?;
        // The scenarios: one per mix entry, and its slow variant.
        let entries: Vec<(String, String, String)> = if spec.mix.is_empty() {
            vec![(
                config.base.meta.name.clone(),
                config.base_text.clone(),
                config.base.source.clone(),
            )]
        } else {
            spec.mix
                .iter()
                .map(|e| {
                    load_entry(e, config.dir.as_deref())
                        .map(|(text, source)| (e.scenario.clone(), text, source))
                })
                .collect::<Result<_, _>>()?
        };
        let mut variants = Vec::new();
        for (_, text, source) in &entries {
            let plain = Scenario::from_toml(text, source)
                .map_err(|e| FleetError::Scenario(e.to_string()))?;
            let slow = Scenario::from_toml(&slow_text(text, spec.chaos.slow_ms), source)
                .map_err(|e| FleetError::Scenario(e.to_string()))?;
            variants.push([Arc::new(plain), Arc::new(slow)]);
        }
        let http_wanted = spec.http_port.is_some() || spec.https_port.is_some();
        let ipmi_sockets = if spec.ipmi_port.is_some() {
            members.len() as u64
        } else {
            0
        };
        let limit = raise_nofile();
        let shared_tcp = spec.plan == AddressPlan::PerIp && http_wanted;
        let server = ServerConfig {
            tls: config.tls.clone(),
            max_request_bytes: config.base.http.max_request_bytes,
            body_read_timeout: std::time::Duration::from_millis(
                config.base.http.body_timeout_ms.max(1),
            ),
            max_connections: 65_536,
            shutdown_grace: std::time::Duration::from_millis(500),
            ..ServerConfig::default()
        };
        let shared = Arc::new(Shared {
            first_ip: u32::from(spec.first_ip),
            scenario_names: entries.iter().map(|(n, _, _)| n.clone()).collect(),
            spec: spec.clone(),
            members,
            variants,
            machines: (0..spec.size).map(|_| OnceLock::new()).collect(),
            server: server.clone(),
            started: Instant::now(),
            built: Default::default(),
            bound: OnceLock::new(),
        });
        shared.check_kinds().map_err(FleetError::Scenario)?;
        let mut bound: Vec<Bound> = shared
            .members
            .iter()
            .map(|m| (m.http, m.https, m.ipmi))
            .collect();

        // TCP: shared listeners bound to the loopback device, or one per machine.
        let mut http = Vec::new();
        let mut layout = "none";
        if http_wanted {
            let mut done = false;
            if shared_tcp {
                match bind_shared(&spec) {
                    Ok(listeners) => {
                        let s = shared.clone();
                        let router: server::Router = Arc::new(move |local: SocketAddr| {
                            let index = s.route(local)?;
                            Some(s.machine(index)?.endpoint.clone())
                        });
                        let running = server::start_routed(&server, listeners, router).await?;
                        for b in &mut bound {
                            b.0 =
                                b.0.zip(running.http)
                                    .map(|(a, p)| SocketAddr::new(a.ip(), p.port()));
                            b.1 =
                                b.1.zip(running.https)
                                    .map(|(a, p)| SocketAddr::new(a.ip(), p.port()));
                        }
                        http.push(running);
                        layout = "one listener per protocol on the loopback device";
                        done = true;
                    }
                    Err(e) => {
                        tracing::info!("fleet: shared listener refused ({e}); one per machine")
                    }
                }
            }
            if !done {
                let per_machine =
                    u64::from(spec.http_port.is_some()) + u64::from(spec.https_port.is_some());
                let need =
                    per_machine * shared.members.len() as u64 + ipmi_sockets + SPARE_DESCRIPTORS;
                if need > limit {
                    return Err(FleetError::Limits(too_many(
                        shared.members.len(),
                        need,
                        limit,
                    )));
                }
                for member in &shared.members {
                    if member.chaos == Some(Chaos::Unreachable) {
                        continue;
                    }
                    let mut listeners = Vec::new();
                    for (addr, tls) in [(member.http, false), (member.https, true)] {
                        if let Some(addr) = addr {
                            let l = std::net::TcpListener::bind(addr).map_err(|e| {
                                std::io::Error::new(
                                    e.kind(),
                                    format!("binding {addr} for {}: {e}", member.id),
                                )
                            })?;
                            l.set_nonblocking(true)?;
                            listeners.push((l, tls));
                        }
                    }
                    let s = shared.clone();
                    let index = member.index;
                    let router: server::Router =
                        Arc::new(move |_| Some(s.machine(index)?.endpoint.clone()));
                    let running = server::start_routed(&server, listeners, router).await?;
                    bound[index].0 = running.http;
                    bound[index].1 = running.https;
                    http.push(running);
                }
                layout = "one listener per machine";
            }
        }
        if ipmi_sockets + SPARE_DESCRIPTORS > limit {
            return Err(FleetError::Limits(too_many(
                shared.members.len(),
                ipmi_sockets + SPARE_DESCRIPTORS,
                limit,
            )));
        }
        // UDP: a socket per machine, so replies leave from the address asked.
        let mut ipmi = Vec::new();
        if spec.ipmi_port.is_some() {
            let mut port0: Option<u16> = None;
            for member in &shared.members {
                let Some(mut addr) = member.ipmi else {
                    continue;
                };
                if member.chaos == Some(Chaos::Unreachable) {
                    continue;
                }
                // Port 0 with one address per machine: the first machine's free port
                // is every machine's.
                if spec.plan == AddressPlan::PerIp && addr.port() == 0 {
                    if let Some(p) = port0 {
                        addr.set_port(p);
                    }
                }
                let s = shared.clone();
                let index = member.index;
                let make: crate::ipmi::MockSource =
                    Arc::new(move || s.machine(index).map(|b| b.mock.clone()));
                let listener = crate::ipmi::start_lazy(addr, make).await.map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!("binding UDP {addr} for {}: {e}", member.id),
                    )
                })?;
                port0.get_or_insert(listener.addr.port());
                bound[index].2 = Some(listener.addr);
                ipmi.push(listener);
            }
            // Unreachable machines have no socket; they are listed at the fleet's port.
            if let Some(p) = port0 {
                for (b, m) in bound.iter_mut().zip(&shared.members) {
                    if m.chaos == Some(Chaos::Unreachable) && spec.plan == AddressPlan::PerIp {
                        b.2 = b.2.map(|a| SocketAddr::new(a.ip(), p));
                    }
                }
            }
        }
        let _ = shared.bound.set(bound);
        let admin = match config.admin {
            Some(addr) => Some(admin::start(addr, shared.clone()).await?),
            None => None,
        };
        let timers = flapping(&shared);
        Ok(Fleet {
            shared,
            http,
            ipmi,
            admin,
            timers,
            layout,
        })
    }

    /// The plan.
    pub fn members(&self) -> &[Member] {
        &self.shared.members
    }

    /// The addresses machines listen on, by index: (http, https, ipmi). Port 0 in
    /// the plan is replaced by the port bound.
    pub fn bound(&self) -> Vec<Bound> {
        self.shared.bound.get().cloned().unwrap_or_default()
    }

    /// The inventory (what `check --targets` and the user's tools read).
    pub fn inventory(&self) -> inventory::Inventory {
        inventory::Inventory::of(&self.shared, &self.bound())
    }

    /// Machine `index`'s mock, built now if it was not.
    pub fn machine(&self, index: usize) -> Option<&Mock> {
        self.shared.machine(index).map(|b| &b.mock)
    }

    /// How many machines have been built so far.
    pub fn built(&self) -> usize {
        self.shared.built.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The fleet admin API's address.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|r| r.admin)
    }

    /// The HTTPS certificate (PEM), when one was generated.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.http.iter().find_map(|r| r.cert_pem.as_deref())
    }

    /// Stops every listener and timer.
    pub async fn shutdown(self) {
        for t in &self.timers {
            t.abort();
        }
        for l in self.ipmi {
            l.shutdown().await;
        }
        for r in self.http {
            r.shutdown().await;
        }
        if let Some(a) = self.admin {
            a.shutdown().await;
        }
    }
}

fn too_many(machines: usize, need: u64, limit: u64) -> String {
    format!(
        "a fleet of {machines} machines needs about {need} open files here, and this process may \
         open {limit} (the hard limit, `ulimit -Hn`); raise the hard limit, serve fewer machines, \
         or leave out a protocol"
    )
}

/// The shared listeners of the `per-ip` plan: the wildcard address on the fleet's
/// ports, bound to the loopback device so that nothing from another interface reaches
/// them.
fn bind_shared(spec: &FleetSpec) -> std::io::Result<Vec<(std::net::TcpListener, bool)>> {
    let mut out = Vec::new();
    for (port, tls) in [(spec.http_port, false), (spec.https_port, true)] {
        let Some(port) = port else { continue };
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        socket.bind_device(Some(b"lo"))?;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        return Err(std::io::Error::other(
            "binding to the loopback device needs Linux",
        ));
        socket.set_reuse_address(true)?;
        socket.bind(&SocketAddr::from(([0, 0, 0, 0], port)).into())?;
        socket.listen(4096)?;
        socket.set_nonblocking(true)?;
        out.push((socket.into(), tls));
    }
    Ok(out)
}

/// Timers of the `flapping-power` machines: each toggles its power every period,
/// starting at a point of the period its index picks.
fn flapping(shared: &Arc<Shared>) -> Vec<tokio::task::JoinHandle<()>> {
    let period = std::time::Duration::from_millis(shared.spec.chaos.flap_every_ms.max(100));
    let flappers: Vec<usize> = shared
        .members
        .iter()
        .filter(|m| m.chaos == Some(Chaos::FlappingPower))
        .map(|m| m.index)
        .collect();
    if flappers.is_empty() {
        return Vec::new();
    }
    let shared = shared.clone();
    vec![tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            for &i in &flappers {
                if let Some(b) = shared.machine(i) {
                    let on = b.mock.with_machine(|m, now| m.power_state(now).is_on());
                    let _ = crate::admin::AdminOps::power(&b.mock, if on { "off" } else { "on" });
                }
            }
        }
    })]
}
