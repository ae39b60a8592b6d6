//! Throwaway TLS certificates (rcgen, self-signed for `localhost` and `127.0.0.1`).

use std::path::PathBuf;

pub struct TestCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
    /// Files holding the PEMs (in `dir`).
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestCert {
    pub fn new() -> TestCert {
        let ck = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .expect("generating a self-signed certificate");
        let cert_pem = ck.cert.pem();
        let cert_der = ck.cert.der().to_vec();
        let key_pem = ck.key_pair.serialize_pem();
        let dir = tempfile::tempdir().unwrap();
        let cert_path = dir.path().join("server.crt");
        let key_path = dir.path().join("server.key");
        std::fs::write(&cert_path, &cert_pem).unwrap();
        std::fs::write(&key_path, &key_pem).unwrap();
        TestCert {
            cert_pem,
            key_pem,
            cert_der,
            cert_path,
            key_path,
            _dir: dir,
        }
    }

    /// A rustls client config that trusts only this certificate.
    pub fn client_config(&self) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(
                self.cert_der.clone(),
            ))
            .expect("adding the test CA");
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
    }
}

impl Default for TestCert {
    fn default() -> Self {
        Self::new()
    }
}
