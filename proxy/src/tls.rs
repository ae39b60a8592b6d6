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
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use rustls::CertificateError;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A CA and a leaf for `db.example.com` signed by it, written as PEM files.
    struct Pki {
        dir: tempfile::TempDir,
    }

    impl Pki {
        fn new() -> Pki {
            let ca_key = KeyPair::generate().unwrap();
            let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
            ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let ca = ca_params.self_signed(&ca_key).unwrap();
            let key = KeyPair::generate().unwrap();
            let params = CertificateParams::new(vec!["db.example.com".to_owned()]).unwrap();
            let leaf = params.signed_by(&key, &ca, &ca_key).unwrap();
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
            let chain = format!("{}{}", leaf.pem(), ca.pem());
            std::fs::write(dir.path().join("server.crt"), chain).unwrap();
            std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
            Pki { dir }
        }
        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }
        fn server(&self) -> Arc<ServerConfig> {
            server_config(&self.path("server.crt"), &self.path("server.key")).unwrap()
        }
    }

    /// Handshakes over an in-memory pipe and echoes one byte; returns the negotiated ALPN.
    async fn handshake(
        server: Arc<ServerConfig>,
        client: Arc<ClientConfig>,
        host: &str,
    ) -> Result<Option<Vec<u8>>, std::io::Error> {
        let (c, s) = tokio::io::duplex(64 * 1024);
        let acceptor = tokio_rustls::TlsAcceptor::from(server);
        let server_task = tokio::spawn(async move {
            let mut tls = acceptor.accept(s).await?;
            let mut b = [0u8; 1];
            tls.read_exact(&mut b).await?;
            tls.write_all(&b).await?;
            tls.flush().await
        });
        let connector = tokio_rustls::TlsConnector::from(client);
        let mut tls = connector.connect(server_name(host).unwrap(), c).await?;
        tls.write_all(b"x").await?;
        let mut b = [0u8; 1];
        tls.read_exact(&mut b).await?;
        assert_eq!(&b, b"x");
        server_task.await.unwrap()?;
        Ok(tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec))
    }

    /// The certificate complaint inside a failed handshake's io::Error.
    fn cert_error(e: &std::io::Error) -> Option<CertificateError> {
        match e.get_ref()?.downcast_ref::<rustls::Error>()? {
            rustls::Error::InvalidCertificate(c) => Some(c.clone()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn require_accepts_any_certificate() {
        let pki = Pki::new();
        for mode in [UpstreamTlsMode::Require, UpstreamTlsMode::Prefer] {
            let client = client_config(mode, None).unwrap().unwrap();
            // Wrong name and an unknown CA: still encrypted, as with libpq's sslmode=require.
            let alpn = handshake(pki.server(), client, "other.example.org")
                .await
                .unwrap();
            assert_eq!(alpn.as_deref(), Some(ALPN_POSTGRESQL));
        }
    }

    #[tokio::test]
    async fn verify_full_checks_chain_and_name() {
        let pki = Pki::new();
        let ca = pki.path("ca.pem");
        let client = client_config(UpstreamTlsMode::VerifyFull, Some(&ca))
            .unwrap()
            .unwrap();
        handshake(pki.server(), client.clone(), "db.example.com")
            .await
            .unwrap();
        let err = handshake(pki.server(), client, "other.example.com")
            .await
            .unwrap_err();
        assert!(
            matches!(
                cert_error(&err),
                Some(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{err}"
        );
        // Without a CA file the public roots are used, which do not know our CA.
        let client = client_config(UpstreamTlsMode::VerifyFull, None)
            .unwrap()
            .unwrap();
        let err = handshake(pki.server(), client, "db.example.com")
            .await
            .unwrap_err();
        assert!(
            matches!(cert_error(&err), Some(CertificateError::UnknownIssuer)),
            "{err}"
        );
    }

    #[tokio::test]
    async fn server_accepts_clients_without_alpn() {
        let pki = Pki::new();
        let ca = pki.path("ca.pem");
        let mut client = client_config(UpstreamTlsMode::VerifyFull, Some(&ca))
            .unwrap()
            .unwrap();
        Arc::make_mut(&mut client).alpn_protocols.clear();
        let alpn = handshake(pki.server(), client, "db.example.com")
            .await
            .unwrap();
        assert_eq!(alpn, None);
    }

    #[test]
    fn disable_means_no_config() {
        assert!(client_config(UpstreamTlsMode::Disable, None)
            .unwrap()
            .is_none());
    }

    #[test]
    fn errors_name_the_file() {
        let pki = Pki::new();
        let missing = pki.path("missing.pem");
        let err = server_config(&missing, &pki.path("server.key")).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
        // A key file where the certificate belongs, and the other way round.
        let err = server_config(&pki.path("server.key"), &pki.path("server.key")).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        let err = server_config(&pki.path("server.crt"), &pki.path("ca.pem")).unwrap_err();
        assert!(matches!(&err, TlsError::NoPrivateKey { path } if path.ends_with("ca.pem")));
        let err = client_config(UpstreamTlsMode::VerifyFull, Some(&missing)).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
        assert!(matches!(
            server_name("bad name!"),
            Err(TlsError::InvalidHostName(_))
        ));
        assert!(server_name("10.0.0.1").is_ok());
    }

    #[test]
    fn modes_deserialize_from_config_names() {
        #[derive(Deserialize)]
        struct C {
            up: UpstreamTlsMode,
            cl: ClientTlsMode,
        }
        let c: C = serde_json::from_str(r#"{"up":"verify-full","cl":"require"}"#).unwrap();
        assert_eq!(
            (c.up, c.cl),
            (UpstreamTlsMode::VerifyFull, ClientTlsMode::Require)
        );
        for (s, m) in [
            ("disable", UpstreamTlsMode::Disable),
            ("prefer", UpstreamTlsMode::Prefer),
            ("require", UpstreamTlsMode::Require),
        ] {
            let v: UpstreamTlsMode = serde_json::from_str(&format!("{s:?}")).unwrap();
            assert_eq!(v, m);
        }
        let v: ClientTlsMode = serde_json::from_str("\"allow\"").unwrap();
        assert_eq!(v, ClientTlsMode::Allow);
        assert!(serde_json::from_str::<UpstreamTlsMode>("\"verify_full\"").is_err());
    }
}
