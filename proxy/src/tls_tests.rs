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
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
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
