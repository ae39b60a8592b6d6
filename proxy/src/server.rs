//! One connection to the upstream PostgreSQL: connect (TLS negotiation, startup, auth), the
//! server's reported parameters and cancel key, and pgward's own housekeeping queries.

use crate::sqlstate;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::auth::upstream::UpstreamAuth;
use crate::protocol::backend::PgError;
use crate::protocol::decode::{self, Cursor};
use crate::protocol::frame::MAX_SERVER_FRAME;
use crate::protocol::{frontend, FramedConn};
use crate::stream::{MaybeTls, ServerStream};
use crate::tls::UpstreamTlsMode;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("could not connect to the upstream server at {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("timed out connecting to the upstream server at {0}")]
    ConnectTimeout(String),
    #[error("upstream TLS: {0}")]
    Tls(String),
    #[error("upstream authentication failed: {0}")]
    Auth(String),
    #[error("upstream server refused the connection: {message}")]
    Refused { code: String, message: String },
    #[error("upstream connection lost: {0}")]
    Lost(String),
    #[error("unexpected message from the upstream: {0}")]
    Protocol(String),
    #[error("upstream query failed: {code} {message}")]
    Query { code: String, message: String },
}

impl ServerError {
    /// How the client sees it.
    pub fn to_pg(&self) -> PgError {
        match self {
            ServerError::Refused { code, message }
                if code == sqlstate::TOO_MANY_CONNECTIONS
                    || code == sqlstate::CANNOT_CONNECT_NOW =>
            {
                PgError::error(
                    sqlstate::TOO_MANY_CONNECTIONS,
                    format!("pgward: upstream refused the connection: {message}"),
                )
            }
            ServerError::Lost(_) => {
                PgError::error(sqlstate::CONNECTION_FAILURE, format!("pgward: {self}"))
            }
            _ => PgError::error(
                sqlstate::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                format!("pgward: {self}"),
            ),
        }
    }
}

impl From<crate::protocol::FrameError> for ServerError {
    fn from(e: crate::protocol::FrameError) -> Self {
        ServerError::Lost(e.to_string())
    }
}

impl From<std::io::Error> for ServerError {
    fn from(e: std::io::Error) -> Self {
        ServerError::Lost(e.to_string())
    }
}

/// Everything needed to open a server connection for one pool.
#[derive(Clone)]
pub struct ConnectSpec {
    pub host: String,
    pub port: u16,
    pub tls_mode: UpstreamTlsMode,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub connect_timeout: Option<Duration>,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    /// Extra startup parameters (`options` pinning settings, application_name, ...).
    pub params: Vec<(String, String)>,
}

impl ConnectSpec {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Where to send a CancelRequest for a running query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelTarget {
    pub host: String,
    pub port: u16,
    pub pid: i32,
    pub secret: i32,
}

pub struct ServerConnection {
    pub conn: FramedConn<ServerStream>,
    /// The server's current reported parameters (ParameterStatus).
    pub params: BTreeMap<String, String>,
    /// Shared with the client's cancel slot (set at every checkout in transaction mode).
    pub cancel: Arc<CancelTarget>,
    pub created: Instant,
    pub last_used: Instant,
    /// Session state changed (SET, PREPARE, LISTEN, ...): reset before another client.
    pub dirty: bool,
    /// The session whose state made it dirty: that session may have it back as it is; any
    /// other is given it reset (0: reset before anyone has it).
    pub dirty_owner: u64,
    /// User code ran here (it may have called setseed, which DISCARD ALL keeps): the reset
    /// reseeds the random generator.
    pub reseed: bool,
    /// Named statements pgward prepared here for transaction-mode clients.
    pub statements: crate::server_state::ServerStatements,
    /// Session-level settings in force here beyond the connection's own.
    pub settings: crate::server_state::AppliedSettings,
    /// NotificationResponses that arrived while pgward ran its own statements: the client's,
    /// forwarded once pgward is done.
    pub held_notifications: Vec<bytes::Bytes>,
    /// The session whose units last ran here (0: none since it was opened or reset): the
    /// sequence state here (`currval`, `lastval`) is that session's.
    pub sequence_user: u64,
    /// The names SQL PREPARE made here, as the last pin check found them: only the client
    /// pinned here by them can have made them (`own_statements.rs`).
    pub sql_prepared: Vec<Box<str>>,
    /// The transaction status of its last ReadyForQuery: a server goes back to the pool
    /// only at 'I', whoever thought it idle.
    pub status: u8,
}

async fn open_stream(spec: &ConnectSpec) -> Result<ServerStream, ServerError> {
    let addr = spec.addr();
    let mut tcp = TcpStream::connect(&addr)
        .await
        .map_err(|source| ServerError::Connect {
            addr: addr.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    let Some(tls) = &spec.tls else {
        return Ok(MaybeTls::Plain(tcp));
    };
    tcp.write_all(&frontend::ssl_request()).await?;
    let answer = tcp.read_u8().await?;
    match answer {
        b'S' => {
            let name = ServerName::try_from(spec.host.clone())
                .map_err(|e| ServerError::Tls(format!("invalid host name {:?}: {e}", spec.host)))?;
            let stream = tokio_rustls::TlsConnector::from(tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| ServerError::Tls(e.to_string()))?;
            Ok(MaybeTls::Tls(Box::new(stream)))
        }
        b'N' if spec.tls_mode == UpstreamTlsMode::Prefer => Ok(MaybeTls::Plain(tcp)),
        b'N' => Err(ServerError::Tls(
            "the upstream server does not support TLS, and upstream.tls requires it".into(),
        )),
        other => Err(ServerError::Protocol(format!(
            "answer {other:#x} to SSLRequest"
        ))),
    }
}

mod internal;
pub use internal::close_statement_message;

impl ServerConnection {
    pub async fn connect(spec: &ConnectSpec) -> Result<ServerConnection, ServerError> {
        let fut = Self::connect_inner(spec);
        match spec.connect_timeout {
            Some(t) => tokio::time::timeout(t, fut)
                .await
                .map_err(|_| ServerError::ConnectTimeout(spec.addr()))?,
            None => fut.await,
        }
    }

    async fn connect_inner(spec: &ConnectSpec) -> Result<ServerConnection, ServerError> {
        let stream = open_stream(spec).await?;
        let mut server = Self::start_on(stream, spec).await?;
        // The search_path a session starts with comes from the server's configuration, the
        // database's or the login's defaults (ALTER ROLE/DATABASE ... SET): PostgreSQL 15
        // does not report it, so it is asked, once per connection.
        if !server.settings.initial.contains_key("search_path") {
            let path = server.show("search_path").await?;
            server.settings.initial.insert("search_path".into(), path);
        }
        Ok(server)
    }

    /// The search_path this connection had when it connected (its defaults), when known.
    pub fn default_search_path(&self) -> Option<&str> {
        self.settings.initial.get("search_path").map(String::as_str)
    }

    /// The startup exchange on an open stream: startup packet, authentication, the
    /// parameters and key the server reports, up to its first ReadyForQuery.
    pub(crate) async fn start_on(
        stream: ServerStream,
        spec: &ConnectSpec,
    ) -> Result<ServerConnection, ServerError> {
        let mut conn = FramedConn::new(stream, MAX_SERVER_FRAME);
        let mut params: Vec<(&str, &str)> =
            vec![("user", &spec.user), ("database", &spec.database)];
        params.extend(spec.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        conn.send(&frontend::startup(&params)).await?;

        let mut auth = UpstreamAuth::new(&spec.user, spec.password.as_deref().unwrap_or(""));
        let mut reported = BTreeMap::new();
        let mut key = (0, 0);
        loop {
            let frame = conn
                .read_frame()
                .await?
                .ok_or_else(|| ServerError::Lost("closed during startup".into()))?;
            let body = frame.body();
            match frame.tag() {
                b'R' => {
                    let mut c = Cursor::new(body);
                    let code = c.i32().map_err(|e| ServerError::Protocol(e.to_string()))?;
                    if code != 0 && spec.password.is_none() {
                        return Err(ServerError::Auth(format!(
                            "the upstream asks for a password for user {:?} and the login has none",
                            spec.user
                        )));
                    }
                    let reply = auth
                        .respond(code, c.rest())
                        .map_err(|e| ServerError::Auth(e.to_string()))?;
                    if let Some(bytes) = reply {
                        conn.send(&bytes).await?;
                    }
                }
                b'S' => {
                    let (k, v) = decode::parameter_status(body)
                        .map_err(|e| ServerError::Protocol(e.to_string()))?;
                    reported.insert(k.to_string(), v.to_string());
                }
                b'K' => {
                    let mut c = Cursor::new(body);
                    let pid = c.i32().map_err(|e| ServerError::Protocol(e.to_string()))?;
                    let secret = c.i32().map_err(|e| ServerError::Protocol(e.to_string()))?;
                    key = (pid, secret);
                }
                b'N' => {}
                b'E' => {
                    let code = decode::error_field(body, b'C').unwrap_or_default();
                    let message = decode::error_field(body, b'M').unwrap_or_default();
                    if code == sqlstate::INVALID_PASSWORD
                        || code == sqlstate::INVALID_AUTHORIZATION_SPECIFICATION
                    {
                        return Err(ServerError::Auth(message));
                    }
                    return Err(ServerError::Refused { code, message });
                }
                b'Z' => break,
                b'v' => {
                    // NegotiateProtocolVersion: the server speaks 3.0 minor 0; fine.
                }
                other => {
                    return Err(ServerError::Protocol(format!(
                        "message {:?} during startup",
                        other as char
                    )))
                }
            }
        }
        let now = Instant::now();
        let settings = crate::server_state::AppliedSettings::new(
            reported
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
        );
        Ok(ServerConnection {
            conn,
            params: reported,
            statements: Default::default(),
            settings,
            held_notifications: Vec::new(),
            cancel: Arc::new(CancelTarget {
                host: spec.host.clone(),
                port: spec.port,
                pid: key.0,
                secret: key.1,
            }),
            created: now,
            last_used: now,
            dirty: false,
            dirty_owner: 0,
            reseed: false,
            sequence_user: 0,
            sql_prepared: Vec::new(),
            status: b'I',
        })
    }

    /// Record a ParameterStatus the server sent.
    pub fn note_parameter(&mut self, body: &[u8]) {
        if let Ok((k, v)) = decode::parameter_status(body) {
            self.params.insert(k.to_string(), v.to_string());
        }
    }

    pub async fn terminate(mut self) {
        let mut out = BytesMut::new();
        frontend::terminate(&mut out);
        self.conn.queue(&out);
        self.conn.shutdown().await;
    }
}

/// Send a CancelRequest for the query running on `target` (a new short connection, as libpq
/// does). Errors are only logged: a cancel is best effort by protocol design.
pub async fn send_cancel(target: &CancelTarget) {
    let addr = format!("{}:{}", target.host, target.port);
    let attempt = async {
        let mut tcp = TcpStream::connect(&addr).await?;
        tcp.write_all(&frontend::cancel_request(target.pid, target.secret))
            .await?;
        // The server closes the connection when done; wait for that so the cancel is delivered.
        let mut buf = [0u8; 1];
        let _ = tcp.read(&mut buf).await;
        Ok::<_, std::io::Error>(())
    };
    match tokio::time::timeout(Duration::from_secs(5), attempt).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cancel request to upstream failed"),
        Err(_) => tracing::warn!("cancel request to upstream timed out"),
    }
}
