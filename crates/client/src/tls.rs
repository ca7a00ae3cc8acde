//! The rustls client configuration: HTTP/1.1 by ALPN, trusting either exactly the
//! certificates of a PEM bundle or (with `insecure`) any certificate at all.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;

use crate::error::ClientError;
use crate::{CaPem, TlsOptions};

/// Builds the client configuration for `opts`.
pub(crate) fn config(opts: &TlsOptions) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    let provider = crypto_provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::TlsConfig(e.to_string()))?;
    let mut config = if opts.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(danger::AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        if let Some(pem) = &opts.ca_pem {
            for cert in read_pem(pem)? {
                roots
                    .add(cert)
                    .map_err(|e| ClientError::TlsConfig(format!("CA certificate: {e}")))?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificates of a PEM bundle; a bundle with none is an error (it would make
/// every handshake fail with a far less helpful message).
fn read_pem(pem: &CaPem) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let (text, what) = match pem {
        CaPem::Path(p) => (
            std::fs::read(p).map_err(|e| {
                ClientError::TlsConfig(format!("reading CA file {}: {e}", p.display()))
            })?,
            p.display().to_string(),
        ),
        CaPem::Text(t) => (t.as_bytes().to_vec(), "the CA PEM".to_owned()),
    };
    let certs = rustls_pemfile::certs(&mut text.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::TlsConfig(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(ClientError::TlsConfig(format!(
            "{what} holds no CERTIFICATE block"
        )));
    }
    Ok(certs)
}

/// Certificate checks switched off, for `--insecure`. Kept in a module of its own so
/// that every use reads `danger::`.
pub(crate) mod danger {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, Error, SignatureScheme};

    use super::CryptoProvider;

    /// Accepts every server certificate, for every name, whoever issued it. The
    /// handshake signature is still verified against the certificate's key, so the
    /// peer must hold the key of the certificate it shows.
    #[derive(Debug)]
    pub(crate) struct AcceptAnyCertificate(pub(crate) Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
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
