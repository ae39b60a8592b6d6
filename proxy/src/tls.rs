//! rustls configurations: the client-facing server config and the upstream client config.
//!
//! Both are built with the ring provider passed explicitly, so nothing depends on (or fights
//! over) a process-wide default provider.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use serde::Deserialize;

/// ALPN protocol name PostgreSQL 17 uses for direct TLS connections.
pub const ALPN_POSTGRESQL: &[u8] = b"postgresql";

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no PEM certificate found", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: no PEM private key found (expected PKCS#8, RSA or SEC1)", path.display())]
    NoPrivateKey { path: PathBuf },
    #[error("{}: certificate not usable as a trust anchor: {source}", path.display())]
    BadCaCertificate {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("certificate {} and key {} do not form a usable pair: {source}", cert.display(), key.display())]
    BadCertKeyPair {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("invalid TLS host name {0:?}")]
    InvalidHostName(String),
    #[error("TLS configuration error: {0}")]
    Rustls(#[from] rustls::Error),
}

/// `[upstream] tls`: how pgward protects its connections to PostgreSQL (libpq's sslmode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamTlsMode {
    /// Plain TCP.
    Disable,
    /// TLS if the server offers it, without verifying its certificate.
    #[default]
    Prefer,
    /// TLS or fail, without verifying the certificate (protects against passive snooping only).
    Require,
    /// TLS with the certificate chain and the host name verified.
    VerifyFull,
}

/// `[listen] client_tls`: whether clients may, or must, use TLS towards pgward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientTlsMode {
    /// Refuse SSLRequest (answer 'N').
    Disable,
    /// TLS if the client asks for it.
    #[default]
    Allow,
    /// Reject clients that do not use TLS.
    Require,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn open(path: &Path) -> Result<BufReader<File>, TlsError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
}

/// All certificates in a PEM file, in order (leaf first for a chain).
fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    rustls_pemfile::private_key(&mut open(path)?)
        .map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })?
        .ok_or_else(|| TlsError::NoPrivateKey {
            path: path.to_owned(),
        })
}

/// The config for TLS towards clients, from `[listen] tls_cert` / `tls_key`.
pub fn server_config(
    cert_pem_path: &Path,
    key_pem_path: &Path,
) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = load_certs(cert_pem_path)?;
    let key = load_key(key_pem_path)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|source| TlsError::BadCertKeyPair {
            cert: cert_pem_path.to_owned(),
            key: key_pem_path.to_owned(),
            source,
        })?;
    // Clients that send no ALPN (all before PostgreSQL 17) are still accepted; rustls only
    // refuses clients that offer ALPN without "postgresql", as PostgreSQL 17 does.
    config.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];
    Ok(Arc::new(config))
}

/// The config for TLS towards the upstream, or `None` for [`UpstreamTlsMode::Disable`].
/// `ca_pem` is the trust anchor file for verify-full; without it the webpki roots are used.
pub fn client_config(
    mode: UpstreamTlsMode,
    ca_pem: Option<&Path>,
) -> Result<Option<Arc<ClientConfig>>, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = match mode {
        UpstreamTlsMode::Disable => return Ok(None),
        UpstreamTlsMode::Prefer | UpstreamTlsMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoCertificateVerification(provider)))
            .with_no_client_auth(),
        UpstreamTlsMode::VerifyFull => {
            let mut roots = RootCertStore::empty();
            match ca_pem {
                Some(path) => {
                    for cert in load_certs(path)? {
                        roots
                            .add(cert)
                            .map_err(|source| TlsError::BadCaCertificate {
                                path: path.to_owned(),
                                source,
                            })?;
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    // Harmless for older servers (they ignore ALPN), required by PostgreSQL 17 direct TLS.
    config.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];
    Ok(Some(Arc::new(config)))
}

/// The name to present (SNI) and, under verify-full, to check: `[upstream] host`.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_owned()).map_err(|_| TlsError::InvalidHostName(host.to_owned()))
}

/// sslmode=require semantics: any certificate is accepted, but the handshake signatures are
/// still checked so the session keys really belong to whoever holds that certificate.
struct NoCertificateVerification(Arc<CryptoProvider>);

impl fmt::Debug for NoCertificateVerification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NoCertificateVerification")
    }
}

impl ServerCertVerifier for NoCertificateVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
