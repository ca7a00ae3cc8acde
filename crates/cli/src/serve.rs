//! `touchstone serve`: run the mock endpoint until SIGINT or SIGTERM.
//!
//! Prints one line per listener with its bound address (port 0 picks a free one), so
//! scripts can read the port: `http: http://127.0.0.1:41234/wsman`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use mock::http::{ServerConfig, TlsSource};
use mock::{MockServer, Scenario};

/// Arguments of `touchstone serve`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Run the mock WS-Management endpoint (a simulated server and its BMC)",
    long_about = "Run the mock WS-Management endpoint: a simulated server and its BMC behind \
                  WS-Man over HTTP and/or HTTPS, driven by a scenario file (the embedded \
                  default when none is given; user admin, password admin).\n\n\
                  With no listener option at all it listens on http://127.0.0.1:5985/wsman \
                  and serves IPMI over LAN (RMCP, IPMI 1.5, RMCP+) for the same machine \
                  on UDP 127.0.0.1:623, or on a free port when 623 cannot be bound (ports \
                  below 1024 need root); the printed `ipmi:` line says which. With any \
                  listener option only the listeners asked for run (--ipmi ADDR for IPMI).",
    after_help = "Exit codes: 0 stopped by a signal, 2 bad arguments, a broken scenario or a port that cannot be bound."
)]
pub struct Args {
    /// Scenario file (TOML); the embedded default (mocks/default.toml) when absent.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Plain HTTP listener address, `IP:PORT` or `localhost:PORT` (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    http: Option<SocketAddr>,
    /// HTTPS listener address (self-signed certificate unless --cert/--key).
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    https: Option<SocketAddr>,
    /// PEM certificate chain for HTTPS.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// IPMI over LAN (UDP) listener address, e.g. `127.0.0.1:623` or `127.0.0.1:0`
    /// (by default only when no listener option is given).
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    ipmi: Option<SocketAddr>,
    /// Admin API (JSON) listener address; keep it on loopback.
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    admin: Option<SocketAddr>,
    /// Write the generated HTTPS certificate (PEM) to this file, for clients to trust.
    #[arg(long, value_name = "FILE")]
    cert_out: Option<PathBuf>,
    /// Simulate N machines (a fleet; the scenario's `[fleet]` table says how). With
    /// --http/--https/--ipmi, their address is the first machine's and their port every
    /// machine's (`per-ip`) or the first of a range (`port-range`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=65536))]
    fleet: Option<u32>,
    /// The fleet's seed (identities, scenario mix, chaos); default the `[fleet]` table's.
    #[arg(long, value_name = "S", requires = "fleet")]
    fleet_seed: Option<u64>,
    /// How the fleet is addressed: `per-ip` (127.1.0.1, 127.1.0.2, ... at the same
    /// ports) or `port-range` (one address, consecutive ports).
    #[arg(long, value_name = "PLAN", requires = "fleet", value_parser = ["per-ip", "port-range"])]
    fleet_plan: Option<String>,
    /// Write the fleet's inventory here (JSON, or CSV for a `.csv` name; repeatable).
    #[arg(long, value_name = "FILE", requires = "fleet")]
    inventory: Vec<PathBuf>,
}

/// `preferred` if a UDP socket can be bound there right now, else the same IP with port
/// 0 (the system picks a free port when the listener binds).
fn udp_or_free_port(preferred: SocketAddr) -> SocketAddr {
    match std::net::UdpSocket::bind(preferred) {
        Ok(_) => preferred,
        Err(_) => SocketAddr::new(preferred.ip(), 0),
    }
}

/// `IP:PORT`, or a host name that resolves locally (`localhost:5985`: its first
/// address, IPv4 preferred).
fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("`{s}` is not IP:PORT or HOST:PORT ({e})"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("`{s}` resolves to no address"))
}

/// Runs the mock until a signal.
pub fn run(args: Args) -> ExitCode {
    let scenario = match &args.scenario {
        Some(path) => match Scenario::from_file(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("touchstone serve: {e}");
                return ExitCode::from(2);
            }
        },
        None => Scenario::default_scenario(),
    };
    // `--fleet N`, or a scenario whose `[fleet]` table gives a size.
    let size = args
        .fleet
        .map(|n| n as usize)
        .or_else(|| scenario.fleet.as_ref().map(|f| f.size).filter(|&n| n > 0));
    if let Some(n) = size {
        return fleet(args, scenario, n);
    }
    if let Some(a) = args.admin {
        if !a.ip().is_loopback() {
            eprintln!(
                "touchstone serve: warning: the admin API on {a} is reachable from other hosts and has no authentication"
            );
        }
    }
    let defaults = args.http.is_none() && args.https.is_none() && args.ipmi.is_none();
    // With no listener option, the standard ports; with any, only what was asked for
    // (`--ipmi ADDR` alone serves IPMI alone).
    let (http, https) = match (args.http, args.https) {
        (None, None) if defaults => (Some(SocketAddr::from(([127, 0, 0, 1], 5985))), None),
        other => other,
    };
    let ipmi = if defaults {
        let addr = udp_or_free_port(SocketAddr::from(([127, 0, 0, 1], 623)));
        if addr.port() == 0 {
            eprintln!(
                "touchstone serve: UDP 127.0.0.1:623 cannot be bound (ports below 1024 need \
                 root); IPMI listens on a free port instead (see the ipmi: line)"
            );
        }
        Some(addr)
    } else {
        args.ipmi
    };
    let tls = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => TlsSource::default(),
    };
    let config = ServerConfig {
        http,
        https,
        admin: args.admin,
        tls,
        max_request_bytes: scenario.http.max_request_bytes,
        body_read_timeout: std::time::Duration::from_millis(scenario.http.body_timeout_ms.max(1)),
        max_connections: scenario.http.max_connections.max(1),
        // A signal stops the process within a second whatever is in flight: requests
        // get this long to finish, the rest are aborted.
        shutdown_grace: SHUTDOWN_GRACE,
        ..ServerConfig::default()
    };
    let Some(runtime) = runtime() else {
        return ExitCode::from(2);
    };
    let code = runtime.block_on(async move {
        let mut signals = Signals::new();
        let name = scenario.meta.name.clone();
        let server = match MockServer::start_with_ipmi(scenario, config, ipmi).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("touchstone serve: {e}");
                return ExitCode::from(2);
            }
        };
        let (h, s, a) = server.addresses();
        println!("scenario: {name}");
        if let Some(h) = h {
            println!("http: http://{h}/wsman");
        }
        if let Some(s) = s {
            println!("https: https://{s}/wsman");
        }
        if let Some(a) = a {
            println!("admin: http://{a}/");
        }
        if let Some(i) = server.ipmi_addr() {
            println!("ipmi: {i}");
        }
        if let (Some(path), Some(pem)) = (&args.cert_out, server.certificate_pem()) {
            if let Err(e) = std::fs::write(path, pem) {
                eprintln!("touchstone serve: cannot write {}: {e}", path.display());
            }
        }
        until_signal_then(&mut signals, server.shutdown()).await;
        ExitCode::SUCCESS
    });
    // Work still running on the runtime's blocking threads (a large body being parsed)
    // is not waited for beyond this.
    runtime.shutdown_timeout(SHUTDOWN_SLACK);
    code
}

/// `serve --fleet N`.
fn fleet(args: Args, scenario: Scenario, size: usize) -> ExitCode {
    use mock::fleet::{AddressPlan, Fleet, FleetConfig};
    let text = match &args.scenario {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("touchstone serve: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => mock::scenario::DEFAULT_TOML.to_owned(),
    };
    let mut config = FleetConfig::new(scenario, text, size);
    config.dir = args
        .scenario
        .as_ref()
        .and_then(|p| p.parent().map(std::path::Path::to_path_buf));
    config.admin = args.admin;
    if let Some(a) = args.admin.filter(|a| !a.ip().is_loopback()) {
        eprintln!(
            "touchstone serve: warning: the fleet admin API on {a} is reachable from other hosts and has no authentication"
        );
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        config.tls = TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        };
    }
    let spec = &mut config.spec;
    if let Some(seed) = args.fleet_seed {
        spec.seed = seed;
    }
    if let Some(plan) = &args.fleet_plan {
        spec.plan = if plan == "port-range" {
            AddressPlan::PortRange
        } else {
            AddressPlan::PerIp
        };
    }
    let given: Vec<SocketAddr> = [args.http, args.https, args.ipmi]
        .into_iter()
        .flatten()
        .collect();
    if let Some(first) = given.first() {
        if given.iter().any(|a| a.ip() != first.ip()) {
            eprintln!(
                "touchstone serve: --http, --https and --ipmi give the first machine's address:                  use the same IP in all of them"
            );
            return ExitCode::from(2);
        }
        if !first.ip().is_loopback() {
            eprintln!(
                "touchstone serve: a fleet listens on loopback only; {} is not",
                first.ip()
            );
            return ExitCode::from(2);
        }
        match (spec.plan, first.ip()) {
            (AddressPlan::PerIp, std::net::IpAddr::V4(v4)) => spec.first_ip = v4,
            (AddressPlan::PerIp, _) => {
                eprintln!("touchstone serve: the per-ip plan needs IPv4 addresses (127.x.y.z)");
                return ExitCode::from(2);
            }
            (AddressPlan::PortRange, ip) => spec.ip = ip,
        }
        spec.http_port = args.http.map(|a| a.port());
        spec.https_port = args.https.map(|a| a.port());
        spec.ipmi_port = args.ipmi.map(|a| a.port());
    } else if spec.ipmi_port == Some(623) {
        let first = match spec.plan {
            AddressPlan::PerIp => std::net::IpAddr::V4(spec.first_ip),
            AddressPlan::PortRange => spec.ip,
        };
        if udp_or_free_port(SocketAddr::new(first, 623)).port() == 0 {
            eprintln!(
                "touchstone serve: UDP port 623 cannot be bound (ports below 1024 need root);                  the fleet's IPMI listens on a free port instead (see the inventory)"
            );
            spec.ipmi_port = Some(if spec.plan == AddressPlan::PerIp {
                0
            } else {
                6230
            });
        }
    }
    let Some(runtime) = runtime() else {
        return ExitCode::from(2);
    };
    let code = runtime.block_on(async move {
        let mut signals = Signals::new();
        let started = std::time::Instant::now();
        let fleet = match Fleet::start(config).await {
            Ok(f) => f,
            Err(e) => {
                eprintln!("touchstone serve: {e}");
                return ExitCode::from(2);
            }
        };
        let inventory = fleet.inventory();
        println!(
            "fleet: {} machines, seed {}, {} ({} ms)",
            inventory.machines.len(),
            inventory.seed,
            fleet.layout,
            started.elapsed().as_millis()
        );
        let show = |e: &mock::fleet::inventory::Entry| {
            let mut line = format!("{} {}", e.id, e.hostname);
            for (name, v) in [
                ("http", &e.wsman_url),
                ("https", &e.https_url),
                ("ipmi", &e.ipmi),
            ] {
                if let Some(v) = v {
                    line.push_str(&format!(" {name} {v}"));
                }
            }
            line
        };
        if let Some(first) = inventory.machines.first() {
            println!("first: {}", show(first));
        }
        if let Some(last) = inventory
            .machines
            .last()
            .filter(|_| inventory.machines.len() > 1)
        {
            println!("last: {}", show(last));
        }
        if let Some(a) = fleet.admin_addr() {
            println!("admin: http://{a}/");
        }
        for path in &args.inventory {
            match inventory.write(path) {
                Ok(()) => println!("inventory: {}", path.display()),
                Err(e) => {
                    eprintln!("touchstone serve: cannot write {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
        }
        if let (Some(path), Some(pem)) = (&args.cert_out, fleet.certificate_pem()) {
            if let Err(e) = std::fs::write(path, pem) {
                eprintln!("touchstone serve: cannot write {}: {e}", path.display());
            }
        }
        until_signal_then(&mut signals, fleet.shutdown()).await;
        ExitCode::SUCCESS
    });
    runtime.shutdown_timeout(SHUTDOWN_SLACK);
    code
}

/// The multi-threaded runtime `serve` runs on (`None`, said on stderr, if it cannot
/// start).
fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("touchstone serve: cannot start the runtime: {e}");
            None
        }
    }
}

/// Waits for SIGINT or SIGTERM, then runs `shutdown`. A second signal, or the grace
/// running out, ends the wait: the process must not outlive a signal by more than a
/// second.
async fn until_signal_then(signals: &mut Signals, shutdown: impl std::future::Future<Output = ()>) {
    signals.recv().await;
    eprintln!("touchstone serve: stopping");
    tokio::select! {
        _ = shutdown => {}
        _ = signals.recv() => eprintln!("touchstone serve: second signal, not waiting"),
        _ = tokio::time::sleep(SHUTDOWN_GRACE + SHUTDOWN_SLACK) => {
            eprintln!("touchstone serve: stopped before every connection finished");
        }
    }
}

/// How long requests in flight may take to finish after a signal.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(500);
/// What the listeners, sessions and worker threads get beyond the grace to stop.
const SHUTDOWN_SLACK: std::time::Duration = std::time::Duration::from_millis(200);

/// SIGINT and SIGTERM, listened for from the moment this is made: made before the
/// listener lines are printed, so a script that signals as soon as it reads them
/// never meets the default action (death without a word).
struct Signals {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                int: signal(SignalKind::interrupt()).ok(),
                term: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The next signal.
    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = one(&mut self.int) => {}
                _ = one(&mut self.term) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_udp_port_falls_back_to_a_free_one() {
        let busy = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = busy.local_addr().unwrap();
        let picked = udp_or_free_port(addr);
        assert_eq!(picked, SocketAddr::new(addr.ip(), 0), "{addr} is taken");
        drop(busy);
        // Once free, the preferred address is kept.
        assert_eq!(udp_or_free_port(addr), addr);
    }
}
