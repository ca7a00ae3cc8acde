//! What a fleet is, without IO: the `[fleet]` table of a scenario, and the plan made
//! from it: for each machine its index, id, identity (host name, serial number, GUID,
//! MAC), scenario, chaos and addresses, all derived from the seed and the index, so the
//! same table and seed always give the same fleet.
//!
//! Scenario weights and chaos fractions are honoured exactly, not on average: the
//! counts are apportioned first (largest remainder), then dealt to the machines in an
//! order shuffled by the seed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// Most machines one process simulates.
pub const MAX_FLEET: usize = 65_536;

/// The `[fleet]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetSpec {
    /// How many machines (`serve --fleet N` overrides it).
    pub size: usize,
    /// Seed of everything derived (identities, the scenario and chaos deal, sensor walks).
    pub seed: u64,
    /// How machines are addressed.
    pub plan: AddressPlan,
    /// `per-ip`: the first machine's address; machine `i` is this plus `i`.
    pub first_ip: Ipv4Addr,
    /// `port-range`: the one address every machine listens on.
    pub ip: IpAddr,
    /// WS-Man over HTTP: the port (`per-ip`), or the first machine's (`port-range`:
    /// machine `i` at `http_port + i`). 0 picks a free port. `None`: no HTTP (the
    /// table's default is 5985; `serve` sets `None` for a protocol its options leave out).
    pub http_port: Option<u16>,
    /// WS-Man over HTTPS, as `http_port`. `None` (the default): no HTTPS.
    pub https_port: Option<u16>,
    /// IPMI over LAN (UDP), as `http_port` (default 623). `None`: no IPMI.
    pub ipmi_port: Option<u16>,
    /// Host names are this plus the index in five digits (`node-00007`).
    pub hostname_prefix: String,
    /// Requests each machine's journal keeps.
    pub journal_capacity: usize,
    /// The scenarios machines run, by weight (`[[fleet.mix]]`); empty: all run the
    /// scenario that holds this table.
    pub mix: Vec<MixEntry>,
    /// Machines broken on purpose (`[fleet.chaos]`).
    pub chaos: ChaosSpec,
}

impl Default for FleetSpec {
    fn default() -> Self {
        FleetSpec {
            size: 0,
            seed: 1,
            plan: AddressPlan::PerIp,
            first_ip: Ipv4Addr::new(127, 1, 0, 1),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            http_port: Some(5985),
            https_port: None,
            ipmi_port: Some(623),
            hostname_prefix: "node-".into(),
            journal_capacity: 64,
            mix: Vec::new(),
            chaos: ChaosSpec::default(),
        }
    }
}

/// How machines are addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressPlan {
    /// One loopback address per machine, every machine on the same ports (the layout
    /// fleet tools expect: `127.1.0.7:5985`, `127.1.0.7:623`).
    PerIp,
    /// One address, a port per machine.
    PortRange,
}

/// One `[[fleet.mix]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixEntry {
    /// A built-in scenario (`default`, `amt-like`, `windows-server`, ...) or a file,
    /// relative to the scenario that holds the table.
    pub scenario: String,
    /// Its share, relative to the other entries' weights.
    pub weight: u32,
}

/// `[fleet.chaos]`: the fraction of the fleet given each kind of breakage (each
/// machine at most one; the fractions add up to at most 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChaosSpec {
    /// Listens nowhere: connections are closed at once, datagrams are not answered.
    pub unreachable: f64,
    /// Every WS-Man answer and every IPMI reply is `slow_ms` late.
    pub slow: f64,
    /// The accounts' passwords are not the ones the inventory lists.
    pub wrong_credentials: f64,
    /// The power toggles every `flap_every_ms`.
    pub flapping_power: f64,
    /// Every numeric sensor reads above its upper critical threshold.
    pub failing_sensors: f64,
    /// The delay of `slow` machines.
    pub slow_ms: u64,
    /// The period of `flapping_power`.
    pub flap_every_ms: u64,
}

impl Default for ChaosSpec {
    fn default() -> Self {
        ChaosSpec {
            unreachable: 0.0,
            slow: 0.0,
            wrong_credentials: 0.0,
            flapping_power: 0.0,
            failing_sensors: 0.0,
            slow_ms: 2000,
            flap_every_ms: 10_000,
        }
    }
}

/// A kind of breakage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Chaos {
    /// See [`ChaosSpec::unreachable`].
    Unreachable,
    /// See [`ChaosSpec::slow`].
    Slow,
    /// See [`ChaosSpec::wrong_credentials`].
    WrongCredentials,
    /// See [`ChaosSpec::flapping_power`].
    FlappingPower,
    /// See [`ChaosSpec::failing_sensors`].
    FailingSensors,
}

impl Chaos {
    /// Every kind, in the order fractions are dealt.
    pub const ALL: [Chaos; 5] = [
        Chaos::Unreachable,
        Chaos::Slow,
        Chaos::WrongCredentials,
        Chaos::FlappingPower,
        Chaos::FailingSensors,
    ];

    /// The name in the inventory and the admin API (`wrong-credentials`).
    pub fn name(self) -> &'static str {
        match self {
            Chaos::Unreachable => "unreachable",
            Chaos::Slow => "slow",
            Chaos::WrongCredentials => "wrong-credentials",
            Chaos::FlappingPower => "flapping-power",
            Chaos::FailingSensors => "failing-sensors",
        }
    }

    /// The kind of this name.
    pub fn from_name(name: &str) -> Option<Chaos> {
        Chaos::ALL.into_iter().find(|c| c.name() == name)
    }

    fn key(self) -> &'static str {
        match self {
            Chaos::Unreachable => "unreachable",
            Chaos::Slow => "slow",
            Chaos::WrongCredentials => "wrong_credentials",
            Chaos::FlappingPower => "flapping_power",
            Chaos::FailingSensors => "failing_sensors",
        }
    }
}

impl ChaosSpec {
    /// The fraction given to `kind`.
    pub fn fraction(&self, kind: Chaos) -> f64 {
        match kind {
            Chaos::Unreachable => self.unreachable,
            Chaos::Slow => self.slow,
            Chaos::WrongCredentials => self.wrong_credentials,
            Chaos::FlappingPower => self.flapping_power,
            Chaos::FailingSensors => self.failing_sensors,
        }
    }
}

/// A refusal of the table: the dotted path of the value (`fleet.chaos.slow`) and why.
pub type Refusal = (String, String);

impl FleetSpec {
    /// Checks the table (the size is checked by [`plan`], since `--fleet` may set it).
    pub fn validate(&self) -> Result<(), Refusal> {
        let mut total = 0.0;
        for kind in Chaos::ALL {
            let f = self.chaos.fraction(kind);
            if !(0.0..=1.0).contains(&f) {
                return Err((
                    format!("fleet.chaos.{}", kind.key()),
                    format!("{f} is not a fraction between 0 and 1"),
                ));
            }
            total += f;
        }
        if total > 1.0 + 1e-9 {
            return Err((
                "fleet.chaos".into(),
                format!("the fractions add up to {total}, more than the whole fleet (1)"),
            ));
        }
        if self.chaos.flapping_power > 0.0 && self.chaos.flap_every_ms < 100 {
            return Err((
                "fleet.chaos.flap_every_ms".into(),
                format!(
                    "{} ms is too short a period (at least 100)",
                    self.chaos.flap_every_ms
                ),
            ));
        }
        for (i, m) in self.mix.iter().enumerate() {
            if m.weight == 0 {
                return Err((
                    format!("fleet.mix[{i}].weight"),
                    "a weight must be above 0".into(),
                ));
            }
            if m.scenario.trim().is_empty() {
                return Err((
                    format!("fleet.mix[{i}].scenario"),
                    "names no scenario".into(),
                ));
            }
        }
        if self.http_port.is_none() && self.https_port.is_none() && self.ipmi_port.is_none() {
            return Err((
                "fleet".into(),
                "no protocol: give http_port, https_port or ipmi_port".into(),
            ));
        }
        if self.plan == AddressPlan::PerIp && !self.first_ip.is_loopback() {
            return Err((
                "fleet.first_ip".into(),
                format!("{} is not a loopback address (127.0.0.0/8)", self.first_ip),
            ));
        }
        if self.plan == AddressPlan::PortRange && !self.ip.is_loopback() {
            return Err((
                "fleet.ip".into(),
                format!("{} is not a loopback address", self.ip),
            ));
        }
        Ok(())
    }
}

/// One machine of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its position, from 0.
    pub index: usize,
    /// `m00007`.
    pub id: String,
    /// Which mix entry's scenario it runs (0 when there is no mix).
    pub scenario: usize,
    /// Its breakage, if any.
    pub chaos: Option<Chaos>,
    /// Who it is.
    pub identity: FleetIdentity,
    /// Where it listens (a protocol the fleet does not serve is `None`).
    pub http: Option<SocketAddr>,
    /// See `http`.
    pub https: Option<SocketAddr>,
    /// See `http`.
    pub ipmi: Option<SocketAddr>,
}

/// The identity a member gets on top of its scenario's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetIdentity {
    /// `node-00007`.
    pub hostname: String,
    /// Unique in the fleet.
    pub serial_number: String,
    /// A version-4-shaped GUID, unique in the fleet.
    pub guid: String,
    /// A locally administered MAC, unique in the fleet.
    pub mac: [u8; 6],
    /// The BMC's LAN address (LAN parameter 3).
    pub ip: Ipv4Addr,
}

/// SplitMix64: the one generator here (small, fast, and good enough to deal cards).
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Counts for `weights` that add up to `n`, each as close to its share as integers
/// allow (largest remainder; ties to the earlier entry).
pub fn apportion(n: usize, weights: &[f64]) -> Vec<usize> {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| w / total * n as f64).collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut left = n.saturating_sub(counts.iter().sum());
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.partial_cmp(&ra)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    });
    for i in order {
        if left == 0 {
            break;
        }
        if weights[i] > 0.0 {
            counts[i] += 1;
            left -= 1;
        }
    }
    counts
}

/// `0..n` in an order shuffled by `rng` (Fisher-Yates).
fn shuffled(n: usize, rng: &mut SplitMix) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.below(i + 1);
        v.swap(i, j);
    }
    v
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// No machines, or more than [`MAX_FLEET`].
    #[error("a fleet of {0} machines: give 1 to {MAX_FLEET}")]
    Size(usize),
    /// The addresses run out of 127.0.0.0/8 or the ports out of 65535.
    #[error("{0}")]
    Addresses(String),
}

/// The plan for `size` machines of `spec` (`mix_len` scenarios in the mix; 0 for none).
pub fn plan(spec: &FleetSpec, size: usize) -> Result<Vec<Member>, PlanError> {
    if size == 0 || size > MAX_FLEET {
        return Err(PlanError::Size(size));
    }
    let mut rng = SplitMix::new(spec.seed ^ 0x746F_7563_6873_746E);
    // Scenarios, dealt exactly by weight.
    let mut scenario_of = vec![0usize; size];
    if !spec.mix.is_empty() {
        let weights: Vec<f64> = spec.mix.iter().map(|m| f64::from(m.weight)).collect();
        let counts = apportion(size, &weights);
        let order = shuffled(size, &mut rng);
        let mut k = 0;
        for (entry, count) in counts.iter().enumerate() {
            for &machine in &order[k..k + count] {
                scenario_of[machine] = entry;
            }
            k += count;
        }
    }
    // Chaos, dealt exactly by fraction (rounded to whole machines), disjoint.
    let mut chaos_of = vec![None; size];
    let mut weights: Vec<f64> = Chaos::ALL.iter().map(|&c| spec.chaos.fraction(c)).collect();
    let broken: f64 = weights.iter().sum();
    weights.push((1.0 - broken).max(0.0));
    let counts = apportion(size, &weights);
    let order = shuffled(size, &mut rng);
    let mut k = 0;
    for (kind, count) in Chaos::ALL.iter().zip(&counts) {
        for &machine in &order[k..k + count] {
            chaos_of[machine] = Some(*kind);
        }
        k += count;
    }
    let last = u32::from(spec.first_ip) as u64 + size as u64 - 1;
    if spec.plan == AddressPlan::PerIp
        && last > u64::from(u32::from(Ipv4Addr::new(127, 255, 255, 254)))
    {
        return Err(PlanError::Addresses(format!(
            "{size} machines from {} run past 127.255.255.254",
            spec.first_ip
        )));
    }
    let port_at = |base: Option<u16>, i: usize| -> Result<Option<u16>, PlanError> {
        match (spec.plan, base) {
            (_, None) => Ok(None),
            (AddressPlan::PerIp, Some(p)) | (AddressPlan::PortRange, Some(p @ 0)) => Ok(Some(p)),
            (AddressPlan::PortRange, Some(p)) => u16::try_from(usize::from(p) + i)
                .map(Some)
                .map_err(|_| PlanError::Addresses(format!("{size} ports from {p} run past 65535"))),
        }
    };
    let mut members = Vec::with_capacity(size);
    for i in 0..size {
        let ip = match spec.plan {
            AddressPlan::PerIp => IpAddr::V4(Ipv4Addr::from(u32::from(spec.first_ip) + i as u32)),
            AddressPlan::PortRange => spec.ip,
        };
        let at = |p: Option<u16>| p.map(|p| SocketAddr::new(ip, p));
        members.push(Member {
            index: i,
            id: member_id(i),
            scenario: scenario_of[i],
            chaos: chaos_of[i],
            identity: identity(spec, i),
            http: at(port_at(spec.http_port, i)?),
            https: at(port_at(spec.https_port, i)?),
            ipmi: at(port_at(spec.ipmi_port, i)?),
        });
    }
    Ok(members)
}

/// `m00007`: the id of machine 7 (the admin API's `/machines/m00007/...`).
pub fn member_id(index: usize) -> String {
    format!("m{index:05}")
}

/// The index of an id made by [`member_id`] (also a bare number).
pub fn member_index(id: &str) -> Option<usize> {
    id.strip_prefix('m').unwrap_or(id).parse().ok()
}

/// The identity of machine `index`: unique within the fleet by construction (the
/// index is part of every field), varied by the seed.
pub fn identity(spec: &FleetSpec, index: usize) -> FleetIdentity {
    let mut rng = SplitMix::new(spec.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ index as u64);
    let a = rng.next_u64();
    let b = rng.next_u64();
    let mut g = [0u8; 16];
    g[..8].copy_from_slice(&a.to_be_bytes());
    g[8..12].copy_from_slice(&b.to_be_bytes()[..4]);
    g[12..].copy_from_slice(&(index as u32).to_be_bytes());
    g[6] = (g[6] & 0x0F) | 0x40;
    g[8] = (g[8] & 0x3F) | 0x80;
    let hex: String = g.iter().map(|x| format!("{x:02x}")).collect();
    let guid = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    let i = index as u32;
    // 02:xx: locally administered, unicast; "TS" then the index.
    let mac = [0x02, 0x54, 0x53, (i >> 16) as u8, (i >> 8) as u8, i as u8];
    let ip = match spec.plan {
        AddressPlan::PerIp => Ipv4Addr::from(u32::from(spec.first_ip).wrapping_add(i)),
        AddressPlan::PortRange => match spec.ip {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
        },
    };
    FleetIdentity {
        hostname: format!("{}{index:05}", spec.hostname_prefix),
        serial_number: format!("TS{:06X}{index:05}", (a >> 40) as u32),
        guid,
        mac,
        ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashSet};

    fn spec(seed: u64) -> FleetSpec {
        FleetSpec {
            seed,
            ..FleetSpec::default()
        }
    }

    #[test]
    fn identities_are_unique_and_the_same_for_the_same_seed() {
        let a = plan(&spec(7), 5000).unwrap();
        assert_eq!(a, plan(&spec(7), 5000).unwrap(), "reproducible");
        let b = plan(&spec(8), 5000).unwrap();
        for (field, get) in [
            (
                "hostname",
                (|m: &Member| m.identity.hostname.clone()) as fn(&Member) -> String,
            ),
            ("serial", |m| m.identity.serial_number.clone()),
            ("guid", |m| m.identity.guid.clone()),
            ("mac", |m| format!("{:?}", m.identity.mac)),
            ("ip", |m| m.identity.ip.to_string()),
            ("http", |m| format!("{:?}", m.http)),
            ("id", |m| m.id.clone()),
        ] {
            let set: HashSet<String> = a.iter().map(get).collect();
            assert_eq!(set.len(), a.len(), "{field} unique");
        }
        // Another seed, other GUIDs and serial numbers (host names follow the index).
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.identity.guid != y.identity.guid)
        );
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.identity.serial_number != y.identity.serial_number)
        );
        let g = &a[3].identity.guid;
        assert_eq!(g.len(), 36);
        assert_eq!(&g[14..15], "4", "version 4: {g}");
        assert!("89ab".contains(&g[19..20]), "RFC 4122 variant: {g}");
        assert_eq!(
            a[3].identity.mac[0] & 0x03,
            0x02,
            "locally administered unicast"
        );
        assert_eq!(a[3].identity.ip, Ipv4Addr::new(127, 1, 0, 4));
    }

    #[test]
    fn weights_and_fractions_are_honoured_exactly() {
        let mut s = spec(3);
        s.mix = vec![
            MixEntry {
                scenario: "default".into(),
                weight: 70,
            },
            MixEntry {
                scenario: "amt-like".into(),
                weight: 20,
            },
            MixEntry {
                scenario: "windows-server".into(),
                weight: 10,
            },
        ];
        s.chaos.unreachable = 0.01;
        s.chaos.slow = 0.02;
        s.chaos.failing_sensors = 0.05;
        let p = plan(&s, 1000).unwrap();
        let mut by_scenario = BTreeMap::new();
        let mut by_chaos = BTreeMap::new();
        for m in &p {
            *by_scenario.entry(m.scenario).or_insert(0) += 1;
            *by_chaos.entry(m.chaos).or_insert(0) += 1;
        }
        assert_eq!(by_scenario, BTreeMap::from([(0, 700), (1, 200), (2, 100)]));
        assert_eq!(
            by_chaos,
            BTreeMap::from([
                (None, 920),
                (Some(Chaos::Unreachable), 10),
                (Some(Chaos::Slow), 20),
                (Some(Chaos::FailingSensors), 50),
            ])
        );
        // Dealt in a shuffled order, not in runs of the index.
        let first_hundred = p[..100].iter().filter(|m| m.scenario == 0).count();
        assert!((40..100).contains(&first_hundred), "{first_hundred}");
    }

    #[test]
    fn bad_tables_are_refused_naming_the_value() {
        let mut s = spec(1);
        s.chaos.slow = 1.5;
        assert_eq!(s.validate().unwrap_err().0, "fleet.chaos.slow");
        let mut s = spec(1);
        s.chaos.slow = 0.6;
        s.chaos.unreachable = 0.6;
        assert_eq!(s.validate().unwrap_err().0, "fleet.chaos");
        let mut s = spec(1);
        s.mix = vec![MixEntry {
            scenario: "default".into(),
            weight: 0,
        }];
        assert_eq!(s.validate().unwrap_err().0, "fleet.mix[0].weight");
        let mut s = spec(1);
        s.first_ip = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(s.validate().unwrap_err().0, "fleet.first_ip");
        let mut s = spec(1);
        s.http_port = None;
        s.ipmi_port = None;
        assert_eq!(s.validate().unwrap_err().0, "fleet");
        assert!(spec(1).validate().is_ok());
        assert_eq!(plan(&spec(1), 0).unwrap_err(), PlanError::Size(0));
        let mut s = spec(1);
        s.first_ip = Ipv4Addr::new(127, 255, 255, 250);
        assert!(matches!(plan(&s, 10), Err(PlanError::Addresses(_))));
    }

    #[test]
    fn ids_round_trip() {
        assert_eq!(member_id(7), "m00007");
        assert_eq!(member_index("m00007"), Some(7));
        assert_eq!(member_index("12"), Some(12));
        assert_eq!(member_index("mx"), None);
    }

    proptest! {
        #[test]
        fn apportion_adds_up_and_stays_within_one(n in 0usize..5000, w in proptest::collection::vec(0u32..100, 1..6)) {
            let weights: Vec<f64> = w.iter().map(|&x| f64::from(x)).collect();
            let counts = apportion(n, &weights);
            let total: f64 = weights.iter().sum();
            if total > 0.0 {
                prop_assert_eq!(counts.iter().sum::<usize>(), n);
                for (c, w) in counts.iter().zip(&weights) {
                    let exact = w / total * n as f64;
                    prop_assert!((*c as f64 - exact).abs() < 1.0 + 1e-9, "{} vs {}", c, exact);
                }
            }
        }
    }
}
