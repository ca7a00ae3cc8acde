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
                  With no HTTP/HTTPS option it listens on http://127.0.0.1:5985/wsman. \
                  IPMI over LAN (RMCP, IPMI 1.5, RMCP+) serves the same machine with \
                  --ipmi ADDR.",
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
    /// (off unless given).
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    ipmi: Option<SocketAddr>,
    /// Admin API (JSON) listener address; keep it on loopback.
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    admin: Option<SocketAddr>,
    /// Write the generated HTTPS certificate (PEM) to this file, for clients to trust.
    #[arg(long, value_name = "FILE")]
    cert_out: Option<PathBuf>,
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
    if let Some(a) = args.admin {
        if !a.ip().is_loopback() {
            eprintln!(
                "touchstone serve: warning: the admin API on {a} is reachable from other hosts and has no authentication"
            );
        }
    }
    let (http, https) = match (args.http, args.https) {
        (None, None) => (Some(SocketAddr::from(([127, 0, 0, 1], 5985))), None),
        other => other,
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
        ..ServerConfig::default()
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("touchstone serve: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        let name = scenario.meta.name.clone();
        let server = match MockServer::start_with_ipmi(scenario, config, args.ipmi).await {
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
        wait_for_signal().await;
        eprintln!("touchstone serve: stopping");
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
