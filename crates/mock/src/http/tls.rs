//! TLS for the HTTPS listener: a self-signed certificate made at start-up (so that
//! `touchstone serve` needs no files), or a PEM certificate chain and key from disk.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Where the HTTPS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// A fresh self-signed certificate for these names (DNS names or IP addresses).
    Generate {
        /// Subject alternative names.
        names: Vec<String>,
    },
    /// A PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 RSA
    /// or SEC1 EC).
    Files {
        /// The certificate chain file.
        cert: PathBuf,
        /// The private key file.
        key: PathBuf,
    },
}

impl Default for TlsSource {
    /// Self-signed for `localhost`, `127.0.0.1` and `::1`.
    fn default() -> Self {
        TlsSource::Generate {
            names: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
        }
    }
}

/// A ready TLS server configuration, and the PEM of the leaf certificate when it was
/// generated (so that clients and tests can trust it).
pub(crate) struct Loaded {
    pub(crate) config: Arc<rustls::ServerConfig>,
    pub(crate) cert_pem: Option<String>,
}

/// Builds the server configuration (HTTP/1.1 only, offered by ALPN).
pub(crate) fn load(source: &TlsSource) -> io::Result<Loaded> {
    let (chain, key, cert_pem) = match source {
        TlsSource::Generate { names } => {
            let ck = rcgen::generate_simple_self_signed(names.clone()).map_err(|e| {
                io::Error::other(format!("generating a self-signed certificate: {e}"))
            })?;
            let key =
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
            let pem = ck.cert.pem();
            (vec![ck.cert.der().clone()], key, Some(pem))
        }
        TlsSource::Files { cert, key } => (read_chain(cert)?, read_key(key)?, None),
    };
    let provider = crypto_provider();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("TLS certificate and key do not make a usable pair: {e}"),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Loaded {
        config: Arc::new(config),
        cert_pem,
    })
}

fn open(path: &Path, what: &str) -> io::Result<io::BufReader<std::fs::File>> {
    std::fs::File::open(path)
        .map(io::BufReader::new)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("opening TLS {what} {}: {e}", path.display()),
            )
        })
}

fn read_chain(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let mut reader = open(path, "certificate")?;
    let chain = rustls_pemfile::certs(&mut reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("reading TLS certificate {}: {e}", path.display()),
            )
        })?;
    if chain.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no PEM certificate in {}", path.display()),
        ));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    let mut reader = open(path, "key")?;
    rustls_pemfile::private_key(&mut reader)
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("reading TLS key {}: {e}", path.display()),
            )
        })?
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "no PEM private key (PKCS#8, RSA or EC) in {}",
                    path.display()
                ),
            )
        })
}

/// The crypto provider: the process default when the application installed one
/// (`CryptoProvider::install_default`, e.g. aws-lc-rs with post-quantum key exchange),
/// else *ring*, the provider this crate is built with.
///
/// rustls 0.23.48 deprecates `ring::default_provider` ("no support for post-quantum
/// algorithms") without a *ring* replacement; the only other built-in provider,
/// aws-lc-rs, needs a C toolchain and CMake to build. The deprecation is allowed here,
/// in this one place, so the crate builds warning-free with rustls before and after
/// 0.23.48.
pub(crate) fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    if let Some(installed) = rustls::crypto::CryptoProvider::get_default() {
        return installed.clone();
    }
    #[allow(deprecated)]
    let ring = rustls::crypto::ring::default_provider();
    Arc::new(ring)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_loads_and_is_exposed() {
        let loaded = load(&TlsSource::default()).unwrap();
        assert!(
            loaded
                .cert_pem
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
    }

    #[test]
    fn missing_files_name_the_file() {
        let err = load(&TlsSource::Files {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        })
        .err()
        .unwrap();
        assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
    }

    #[test]
    fn files_round_trip_and_bad_key_is_named() {
        let dir = std::env::temp_dir().join(format!("touchstone-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        assert!(
            load(&TlsSource::Files {
                cert: cert.clone(),
                key: key.clone()
            })
            .is_ok()
        );
        std::fs::write(&key, "not a key").unwrap();
        let err = load(&TlsSource::Files {
            cert,
            key: key.clone(),
        })
        .err()
        .unwrap();
        assert!(
            err.to_string().contains(&key.display().to_string()),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
