//! Scripted frames for the whole session, without a socket or a PostgreSQL: the test plays
//! the client on one in-memory pipe and the server on another, frame by frame, on tokio's
//! paused clock (virtual time: a timeout fires as soon as nothing else can run). The session
//! under test is the real one: its decision point, queue, guard, timers and pool.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::DuplexStream;

use crate::config::{Config, PoolMode};
use crate::protocol::backend;
use crate::protocol::FramedConn;
use crate::server::{ConnectSpec, ServerConnection};
use crate::shared::Shared;
use crate::startup::StartupInfo;
use crate::stream::MaybeTls;

/// The upstream login every scripted role uses.
const LOGIN: &str = "app";
/// The scripted server's backend pid.
pub const SERVER_PID: i32 = 4242;

/// One protocol message: its tag and body.
pub type Msg = (u8, Bytes);

/// [`Scripted::into_parts`]: the test's ends, the session's task, its pool, and what a
/// reload needs.
pub struct Parts {
    pub client: FramedConn<DuplexStream>,
    pub server: FramedConn<DuplexStream>,
    pub task: tokio::task::JoinHandle<()>,
    pub pool: std::sync::Arc<crate::pool::Pool>,
    pub shared: std::sync::Arc<Shared>,
}

/// A reload (SIGHUP) that gives role `tester` the rules `rules`.
pub fn reload(shared: &Shared, mode: PoolMode, rules: &str) {
    shared.replace(config(mode, rules));
}

/// A session under test, with the test's ends of its two connections.
pub struct Scripted {
    pub client: FramedConn<DuplexStream>,
    pub server: FramedConn<DuplexStream>,
    task: tokio::task::JoinHandle<()>,
    shared: std::sync::Arc<Shared>,
    mode: PoolMode,
    pool: std::sync::Arc<crate::pool::Pool>,
}

/// A config with one role, `tester`, whose rules are `rules` (TOML lines of `[roles.tester]`).
fn config(mode: PoolMode, rules: &str) -> Config {
    let mode = match mode {
        PoolMode::Transaction => "transaction",
        PoolMode::Session => "session",
    };
    let text = format!(
        r#"
[upstream]
host = "127.0.0.1"
port = 1
tls = "disable"
[logins.{LOGIN}]
user = "{LOGIN}"
password = "x"
[pool]
mode = "{mode}"
size = 1
checkout_timeout = "5s"
[roles.tester]
login = "{LOGIN}"
{rules}
"#
    );
    match Config::from_toml(&text) {
        Ok(c) => c,
        Err(e) => panic!("scripted config: {e}"),
    }
}

/// A catalog snapshot with one plain table, `public.t (id int, v int)`.
fn table_catalog() -> pgward_policy::catalog::Catalog {
    use pgward_policy::catalog::{CatalogParts, Column, Relation, RelationKind, Schema};
    let column = |name: &str, attnum| Column {
        name: name.into(),
        attnum,
        type_oid: 23,
        not_null: false,
    };
    pgward_policy::catalog::Catalog::new(CatalogParts {
        schemas: vec![Schema {
            oid: 2200,
            name: "public".into(),
        }],
        relations: vec![Relation {
            oid: 16384,
            schema: "public".into(),
            name: "t".into(),
            kind: RelationKind::Table,
            columns: vec![column("id", 1), column("v", 2)],
            view_definition: None,
            on_write: Default::default(),
        }],
        ..Default::default()
    })
}

impl Scripted {
    /// A session of role `tester` (`rules`) in `mode`, greeted and idle, over a pool of one
    /// scripted server (already started: its startup is scripted here).
    pub async fn start(mode: PoolMode, rules: &str) -> Scripted {
        let config = config(mode, rules);
        let read_only = config
            .roles
            .get("tester")
            .is_none_or(|r| r.rules.access == pgward_policy::Access::ReadOnly);
        let shared = Shared::new(config.clone(), crate::audit::AuditSink::disabled());
        // The scripted server's one table, as a catalog snapshot shows it: statements on it
        // run no user code.
        shared.set_catalog(
            Some(("db".into(), std::sync::Arc::new(table_catalog()))),
            shared.catalog_requests(),
        );
        let info = tester();
        let pool = crate::listener::pool_for(&shared, &config, &info);
        let (server_end, mut server) = duplex();
        let (spec, _) = crate::listener::pool_spec(&config, pool.key());
        let started = tokio::spawn(async move { start_server(server_end, &spec).await });
        script_startup(&mut server, read_only).await;
        let conn = match started.await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => panic!("scripted server startup: {e}"),
            Err(e) => panic!("scripted server startup: {e}"),
        };
        pool.add_idle(conn);
        let pool_kept = pool.clone();
        let (client, task) = spawn_session(&shared, pool, mode);
        let mut s = Scripted {
            client,
            server,
            task,
            shared,
            mode,
            pool: pool_kept,
        };
        if mode == PoolMode::Session {
            // The session checks its server out at once and greets with its parameters.
            assert!(s.server_reads().await.is_empty());
        }
        let greeting = s.client_until_ready().await;
        assert_eq!(greeting.last().map(|m| m.0), Some(b'Z'), "{greeting:?}");
        s
    }

    /// The test's ends of both connections, the session's task and its pool (for a driver
    /// that plays client and server concurrently).
    pub fn into_parts(self) -> Parts {
        Parts {
            client: self.client,
            server: self.server,
            task: self.task,
            pool: self.pool,
            shared: self.shared,
        }
    }

    /// A reload (SIGHUP) that gives role `tester` the rules `rules`.
    pub fn reload(&self, rules: &str) {
        reload(&self.shared, self.mode, rules);
    }

    /// Send the client's messages (one write, as a pipelining client does).
    pub async fn client_sends(&mut self, msgs: &[BytesMut]) {
        let mut out = BytesMut::new();
        for m in msgs {
            out.extend_from_slice(m);
        }
        if let Err(e) = self.client.send(&out).await {
            panic!("client write: {e}");
        }
    }

    /// What the client got, up to and including the next ReadyForQuery.
    pub async fn client_until_ready(&mut self) -> Vec<Msg> {
        let mut got = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(600), self.client.read_frame()).await {
                Ok(Ok(Some(f))) => {
                    let done = f.tag() == b'Z';
                    got.push((f.tag(), Bytes::copy_from_slice(f.body())));
                    if done {
                        return got;
                    }
                }
                other => panic!("client: no ReadyForQuery after {got:?}: {other:?}"),
            }
        }
    }

    /// What the client got until the session closed the connection.
    pub async fn client_until_closed(&mut self) -> Vec<Msg> {
        let mut got = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(600), self.client.read_frame()).await {
                Ok(Ok(Some(f))) => got.push((f.tag(), Bytes::copy_from_slice(f.body()))),
                Ok(Ok(None)) | Ok(Err(_)) => return got,
                Err(_) => panic!("client: the session did not close after {got:?}"),
            }
        }
    }

    /// Whatever the client got until the session went quiet.
    pub async fn client_reads(&mut self) -> Vec<Msg> {
        read_quiet(&mut self.client).await
    }

    /// Whatever pgward sent the server until the session went quiet (nothing else can run).
    pub async fn server_reads(&mut self) -> Vec<Msg> {
        read_quiet(&mut self.server).await
    }

    /// What pgward sends the server next, waiting up to `secs` of (virtual) time for it.
    pub async fn server_reads_within(&mut self, secs: u64) -> Vec<Msg> {
        match tokio::time::timeout(Duration::from_secs(secs), self.server.read_frame()).await {
            Ok(Ok(Some(f))) => {
                let mut got = vec![(f.tag(), Bytes::copy_from_slice(f.body()))];
                got.extend(read_quiet(&mut self.server).await);
                got
            }
            other => panic!("server: nothing within {secs} s: {other:?}"),
        }
    }

    /// The server answers (one write).
    /// What the client sent was refused inside pgward: the server sees only its Sync, which
    /// the client's own server answers in session mode; in transaction mode there is no server.
    pub async fn server_sees_only_the_sync(&mut self) {
        let up = self.server_reads().await;
        let tags: String = up.iter().map(|m| m.0 as char).collect();
        if self.mode == PoolMode::Session {
            assert_eq!(tags, "S", "{:?}", self.mode);
            self.server_sends(&[super::scripted_frames::ready(b'I')])
                .await;
        } else {
            assert!(up.is_empty(), "{:?}: {tags}", self.mode);
        }
    }

    pub async fn server_sends(&mut self, msgs: &[BytesMut]) {
        let mut out = BytesMut::new();
        for m in msgs {
            out.extend_from_slice(m);
        }
        if let Err(e) = self.server.send(&out).await {
            panic!("server write: {e}");
        }
    }

    /// The session task has ended (the client was told FATAL, or left).
    pub async fn ended(&mut self) -> bool {
        matches!(
            tokio::time::timeout(Duration::from_millis(1), &mut self.task).await,
            Ok(Ok(()))
        )
    }
}

fn tester() -> StartupInfo {
    StartupInfo {
        user: "tester".into(),
        database: "db".into(),
        role: "tester".into(),
        params: vec![],
        search_path: None,
        application_name: String::new(),
        tls: false,
    }
}

/// A session of role `tester` over `pool`, running: the test's end of its client
/// connection (the greeting still to be read) and its task.
pub fn spawn_session(
    shared: &std::sync::Arc<Shared>,
    pool: std::sync::Arc<crate::pool::Pool>,
    mode: PoolMode,
) -> (FramedConn<DuplexStream>, tokio::task::JoinHandle<()>) {
    let (client_end, client) = duplex();
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 5000));
    let session = Box::new(super::Session::new(
        FramedConn::new(MaybeTls::Memory(client_end), 1 << 20),
        tester(),
        peer,
        shared.clone(),
        pool,
        mode,
        tokio::time::Instant::now().into_std(),
    ));
    (client, tokio::spawn(session.run()))
}

/// pgward's end of an in-memory connection, and the test's end, framed.
fn duplex() -> (DuplexStream, FramedConn<DuplexStream>) {
    let (a, b) = tokio::io::duplex(1 << 20);
    (a, FramedConn::new(b, 1 << 24))
}

async fn start_server(
    pipe: DuplexStream,
    spec: &ConnectSpec,
) -> Result<ServerConnection, crate::server::ServerError> {
    ServerConnection::start_on(MaybeTls::Memory(pipe), spec).await
}

/// The server's side of startup: trust authentication, the parameters PostgreSQL reports
/// (with the pool's pins in force), a key, ReadyForQuery.
async fn script_startup(server: &mut FramedConn<DuplexStream>, read_only: bool) {
    match server.read_untyped().await {
        Ok(Some(_startup)) => {}
        other => panic!("expected a startup packet: {other:?}"),
    }
    let mut out = BytesMut::new();
    backend::auth_ok(&mut out);
    for (k, v) in [
        ("application_name", ""),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        (
            "default_transaction_read_only",
            if read_only { "on" } else { "off" },
        ),
        ("integer_datetimes", "on"),
        ("IntervalStyle", "postgres"),
        ("is_superuser", "off"),
        ("server_encoding", "UTF8"),
        ("server_version", "15.0"),
        ("session_authorization", LOGIN),
        ("standard_conforming_strings", "on"),
        ("TimeZone", "UTC"),
    ] {
        backend::parameter_status(k, v, &mut out);
    }
    backend::backend_key_data(SERVER_PID, 7, &mut out);
    backend::ready_for_query(b'I', &mut out);
    if let Err(e) = server.send(&out).await {
        panic!("server startup write: {e}");
    }
}

/// Frames until the peer has been silent for a moment of virtual time, which passes only
/// once every task is waiting. The connection must stay open.
async fn read_quiet(conn: &mut FramedConn<DuplexStream>) -> Vec<Msg> {
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(5), conn.read_frame()).await {
            Ok(Ok(Some(f))) => got.push((f.tag(), Bytes::copy_from_slice(f.body()))),
            Ok(other) => panic!("the session closed the connection after {got:?}: {other:?}"),
            Err(_) => return got,
        }
    }
}
