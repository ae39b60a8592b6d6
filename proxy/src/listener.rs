//! Accepting clients: the connection limit, the startup deadline, and handing each client to
//! its own session task (inside a `client` span carrying its session id). Cancel requests are
//! served here too (forwarded to the owning `[peers]` member when the key is not ours); the
//! admin console's database goes to `admin`. The connect and disconnect lines are logged here.

use crate::sqlstate;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use tracing::Instrument;

use crate::clients::{ClientEntry, EndReason, CURRENT_CLIENT};
use crate::config::{Config, PoolMode, PoolSettings};
use crate::pool::{Pool, PoolKey};
use crate::protocol::backend::{self, PgError};
use crate::server::ConnectSpec;
use crate::session::Session;
use crate::shared::Shared;
use crate::startup::{negotiate, Negotiated, StartupError, StartupInfo};

/// Decrements the client count when a client task ends, however it ends.
struct ClientSlot(Arc<Shared>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.clients_open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Accept until `shutdown` flips; each client runs in its own task.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        let session = shared.allocate_session_id();
        // Every line about this client, from startup to disconnect, carries its session id
        // (the audit records' `session`).
        let span = tracing::info_span!("client", session, %peer);
        tokio::spawn(handle_client(tcp, peer, shared, session).instrument(span));
    }
}

async fn refuse(mut tcp: TcpStream, err: PgError) {
    let mut out = BytesMut::new();
    backend::error_response(&err, &mut out);
    let _ = tcp.write_all(&out).await;
    let _ = tcp.shutdown().await;
}

async fn handle_client(tcp: TcpStream, peer: SocketAddr, shared: Arc<Shared>, session: u64) {
    let snap = shared.snapshot();
    let max = snap.config.listen.max_client_connections;
    let count = shared.clients_open.fetch_add(1, Ordering::AcqRel) + 1;
    let _slot = ClientSlot(shared.clone());
    if count > max {
        tracing::warn!(max, "refused: too many client connections");
        Box::pin(refuse(
            tcp,
            PgError::fatal(
                sqlstate::TOO_MANY_CONNECTIONS,
                "pgward: too many client connections",
            )
            .with_detail(format!("listen.max_client_connections is {max}")),
        ))
        .await;
        return;
    }
    // A second handle on the socket for its byte counts after the session closed it, while
    // descriptors are plentiful (a client then holds two).
    let raw_fd = std::os::fd::AsRawFd::as_raw_fd(&tcp);
    let socket = if shared.clients.may_dup(count) {
        socket2::SockRef::from(&tcp).try_clone().ok()
    } else {
        None
    };
    let deadline = snap.config.listen.startup_timeout;
    // Boxed with its timer: the startup's state is large and over once the client is in.
    let negotiated = Box::pin(tokio::time::timeout(
        deadline,
        negotiate(tcp, &snap.config, &snap.engine),
    ))
    .await;
    let (client, info) = match negotiated {
        Err(_) => {
            tracing::info!("startup timed out");
            return;
        }
        Ok(Err(StartupError::AuthFailed { user, reason })) => {
            shared.metrics.login(if reason == "unknown user" {
                "unknown_user"
            } else {
                "wrong_password"
            });
            tracing::warn!(%user, reason, "login failed");
            return;
        }
        Ok(Err(StartupError::Closed)) => {
            tracing::debug!("client closed the connection during startup");
            return;
        }
        Ok(Err(e)) => {
            shared.metrics.login("refused");
            tracing::info!(error = %e, "startup failed");
            return;
        }
        Ok(Ok(Negotiated::Cancel { pid, secret })) => {
            // Boxed, like every rare path here, so a client's task stays small while it idles.
            Box::pin(
                shared
                    .cancels
                    .cancel(pid, secret, snap.config.peers.as_ref()),
            )
            .await;
            return;
        }
        Ok(Ok(Negotiated::Session(client, info))) => (client, info),
    };
    shared.metrics.login("ok");
    if info.database == crate::admin::DATABASE {
        Box::pin(crate::admin::serve(
            *client, info, peer, shared, session, socket, raw_fd,
        ))
        .await;
        return;
    }
    let (entry, mut run) = start_session(
        &shared,
        &snap.config,
        *client,
        info,
        peer,
        session,
        socket,
        raw_fd,
    );
    drop(snap);
    // Biased, the session first: this select is polled on every wake-up of the client's task,
    // and a kill or shutdown is seen at the next one either way.
    let forced = tokio::select! {
        biased;
        _ = &mut run => None,
        reason = entry.ended() => Some(reason),
    };
    if let Some(reason) = forced {
        // The session is stopped: no longer polled, then dropped below (its server, if any,
        // is closed, not pooled). Its socket is still open for the last word.
        let err = match reason {
            EndReason::Killed => PgError::fatal(
                sqlstate::ADMIN_SHUTDOWN,
                "terminating connection due to administrator command",
            )
            .with_detail("pgward: KILL_CLIENT from the admin console"),
            EndReason::Shutdown => PgError::fatal(
                sqlstate::ADMIN_SHUTDOWN,
                "terminating connection due to administrator command",
            )
            .with_detail("pgward is shutting down"),
        };
        let mut out = BytesMut::new();
        backend::error_response(&err, &mut out);
        entry.send_final(&out);
        tracing::info!(reason = ?reason, "client terminated");
    }
    drop(run);
    log_disconnect(&shared, &entry);
}

/// The client is in: register it and build its session (a plain function, so nothing it
/// builds from stays in the client's task while the session runs).
#[allow(clippy::too_many_arguments)]
fn start_session(
    shared: &Arc<Shared>,
    config: &Config,
    client: crate::protocol::FramedConn<crate::stream::ClientStream>,
    info: StartupInfo,
    peer: SocketAddr,
    session: u64,
    socket: Option<socket2::Socket>,
    raw_fd: std::os::fd::RawFd,
) -> (
    Arc<ClientEntry>,
    std::pin::Pin<Box<impl std::future::Future<Output = ()>>>,
) {
    let pool = pool_for(shared, config, &info);
    let mode = config.pool.mode;
    let entry = Arc::new(ClientEntry::new(
        session,
        info.user.clone(),
        info.role.clone(),
        info.database.clone(),
        peer,
        info.application_name.clone(),
        info.tls,
        false,
        socket,
        raw_fd,
        Some(pool.clone()),
    ));
    if mode == PoolMode::Session {
        entry.set_pin(Some("pool.mode = session"));
    }
    shared.clients.insert(entry.clone());
    tracing::info!(user = %info.user, role = %info.role, database = %info.database, application_name = %info.application_name, tls = info.tls, "client connected");
    // The session is built inside the scope: it takes its id (audit records) from there. It
    // is boxed before its future is made, so that future holds a pointer, not the Session.
    let session = CURRENT_CLIENT.sync_scope(entry.clone(), || {
        Box::new(Session::new(
            client,
            info,
            peer,
            shared.clone(),
            pool,
            mode,
            std::time::Instant::now(),
        ))
    });
    let run = Box::pin(CURRENT_CLIENT.scope(entry.clone(), session.run()));
    (entry, run)
}

/// The disconnect line: who, how long, how much.
pub fn log_disconnect(shared: &Shared, entry: &ClientEntry) {
    let bytes = shared.clients.remove(entry.id);
    tracing::info!(
        user = %entry.user,
        role = %entry.role,
        database = %entry.database,
        duration = %humantime::format_duration(std::time::Duration::from_millis(
            entry.started.elapsed().as_millis() as u64
        )),
        statements = entry.statements.load(Ordering::Relaxed),
        transactions = entry.transactions.load(Ordering::Relaxed),
        bytes_received = bytes.received,
        bytes_sent = bytes.sent,
        "client disconnected"
    );
}

/// The pool this client's role uses for its database.
pub fn pool_for(shared: &Shared, config: &Config, info: &StartupInfo) -> Arc<Pool> {
    let role = config.roles.get(&info.role);
    let login_name = role.map(|r| r.login.clone()).unwrap_or_default();
    let read_only = role.is_none_or(|r| r.rules.access == pgward_policy::Access::ReadOnly);
    let statement_timeout_ms = role.and_then(|r| r.rules.statement_timeout_ms);
    let key = PoolKey {
        database: info.database.clone(),
        login: login_name,
        read_only,
        statement_timeout_ms,
    };
    shared
        .pools
        .get_or_create(key.clone(), || pool_spec(config, &key))
}

/// How a pool connects and its settings under `config` (also applied on reload).
pub fn pool_spec(config: &Config, key: &PoolKey) -> (ConnectSpec, PoolSettings) {
    let login = config.logins.get(&key.login);
    let mut options = String::from("-c standard_conforming_strings=on");
    if key.read_only {
        // The second lock: even a statement the parser misjudged cannot write.
        options.push_str(" -c default_transaction_read_only=on");
    }
    if let Some(ms) = key.statement_timeout_ms {
        options.push_str(&format!(" -c statement_timeout={ms}"));
    }
    let spec = ConnectSpec {
        host: config.upstream.host.clone(),
        port: config.upstream.port,
        tls_mode: config.upstream.tls_mode,
        tls: config.upstream.tls.clone(),
        connect_timeout: config.upstream.connect_timeout,
        user: login.map(|l| l.user.clone()).unwrap_or_default(),
        password: login.and_then(|l| l.password.clone()),
        database: key.database.clone(),
        params: vec![
            ("options".into(), options),
            ("client_encoding".into(), "UTF8".into()),
            ("application_name".into(), "pgward".into()),
        ],
    };
    (spec, config.pool.clone())
}

/// After a reload: every pool takes the new size and settings in place.
pub fn reconfigure_pools(shared: &Shared, config: &Config) {
    for pool in shared.pools.list() {
        let (spec, settings) = pool_spec(config, pool.key());
        pool.reconfigure(spec, settings);
    }
}
