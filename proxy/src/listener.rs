//! Accepting clients: the connection limit, the startup deadline, and handing each client to
//! its own session task. Cancel requests are served here too.

use crate::sqlstate;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::config::Config;
use crate::pool::{Pool, PoolKey};
use crate::protocol::backend::{self, PgError};
use crate::server::ConnectSpec;
use crate::session::Session;
use crate::shared::Shared;
use crate::startup::{negotiate, Negotiated, StartupInfo};

/// Decrements the client count when a client task ends, however it ends.
struct ClientSlot(Arc<Shared>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::AcqRel);
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
        tokio::spawn(async move { handle_client(tcp, peer, shared).await });
    }
}

async fn refuse(mut tcp: TcpStream, err: PgError) {
    let mut out = BytesMut::new();
    backend::error_response(&err, &mut out);
    let _ = tcp.write_all(&out).await;
    let _ = tcp.shutdown().await;
}

async fn handle_client(tcp: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let snap = shared.snapshot();
    let max = snap.config.listen.max_client_connections;
    let count = shared.clients.fetch_add(1, Ordering::AcqRel) + 1;
    let _slot = ClientSlot(shared.clone());
    if count > max {
        refuse(
            tcp,
            PgError::fatal(
                sqlstate::TOO_MANY_CONNECTIONS,
                "pgward: too many client connections",
            )
            .with_detail(format!("listen.max_client_connections is {max}")),
        )
        .await;
        return;
    }
    let deadline = snap.config.listen.startup_timeout;
    let negotiated =
        tokio::time::timeout(deadline, negotiate(tcp, &snap.config, &snap.engine)).await;
    let (client, info) = match negotiated {
        Err(_) => {
            tracing::debug!(%peer, "startup timed out");
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "startup failed");
            // The refusal itself is sent on the stream negotiate owned; see below.
            if let crate::startup::StartupError::Refused(_)
            | crate::startup::StartupError::Frame(_) = e
            {
                // negotiate could not send it (it owns the stream); nothing more to do here.
            }
            return;
        }
        Ok(Ok(Negotiated::Cancel { pid, secret })) => {
            shared.cancels.cancel(pid, secret).await;
            return;
        }
        Ok(Ok(Negotiated::Session(client, info))) => (client, info),
    };
    let pool = pool_for(&shared, &snap.config, &info);
    let mode = snap.config.pool.mode;
    tracing::info!(%peer, user = %info.user, role = %info.role, database = %info.database, "client connected");
    Session::new(*client, info, peer, shared, pool, mode)
        .run()
        .await;
}

/// The pool this client's role uses for its database.
pub fn pool_for(shared: &Shared, config: &Config, info: &StartupInfo) -> Arc<Pool> {
    let role = config.roles.get(&info.role);
    let login_name = role.map(|r| r.login.clone()).unwrap_or_default();
    let read_only = role.is_none_or(|r| r.rules.access == pgward_policy::Access::ReadOnly);
    let statement_timeout_ms = role.and_then(|r| r.rules.statement_timeout_ms);
    let key = PoolKey {
        database: info.database.clone(),
        login: login_name.clone(),
        read_only,
        statement_timeout_ms,
    };
    shared.pools.get_or_create(key, || {
        let login = config.logins.get(&login_name);
        let mut options = String::from("-c standard_conforming_strings=on");
        if read_only {
            // The second lock: even a statement the parser misjudged cannot write.
            options.push_str(" -c default_transaction_read_only=on");
        }
        if let Some(ms) = statement_timeout_ms {
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
            database: info.database.clone(),
            params: vec![
                ("options".into(), options),
                ("client_encoding".into(), "UTF8".into()),
                ("application_name".into(), "pgward".into()),
            ],
        };
        (spec, config.pool.clone())
    })
}
