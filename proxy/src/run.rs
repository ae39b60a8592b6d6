//! Running the proxy: bind (optionally sharing the port with other instances), accept, serve
//! the metrics, reap idle servers, reload on SIGHUP (or the console's RELOAD), and on
//! SIGTERM/SIGINT stop accepting, end idle clients, give clients in a transaction until
//! `listen.shutdown_grace`, then end the rest with 57P01.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

use crate::audit::AuditSink;
use crate::clients::{ClientState, EndReason};
use crate::config::Config;
use crate::listener;
use crate::shared::Shared;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the audit log {path}: {source}")]
    Audit {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A started proxy: its address and the handle that stops it.
pub struct Running {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stop accepting; end idle clients at once and the others when their transaction ends
    /// or the grace period runs out (57P01); return once all are gone.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let grace = self.shared.snapshot().config.listen.shutdown_grace;
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let now = tokio::time::Instant::now();
            for c in self.shared.clients.list() {
                if now >= deadline || c.state() == ClientState::Idle {
                    c.end(EndReason::Shutdown);
                }
            }
            if self.shared.clients_open.load(Ordering::Acquire) == 0 {
                break;
            }
            if now >= deadline + Duration::from_secs(2) {
                tracing::warn!("clients still open after the grace period");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Bind `addr`; with `reuse_port`, other processes may bind it too (the kernel spreads new
/// connections across them).
fn bind(addr: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if reuse_port {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Bind and start serving in the background.
pub async fn start(config: Config) -> Result<Running, RunError> {
    for w in &config.warnings {
        tracing::warn!(warning = %w, "config");
    }
    let audit = match &config.audit.file {
        Some(path) => AuditSink::start(path).map_err(|source| RunError::Audit {
            path: path.clone(),
            source,
        })?,
        None => AuditSink::disabled(),
    };
    let addr = config.listen.address;
    let reuse_port = config.peers.as_ref().is_some_and(|p| p.reuse_port);
    let listener = bind(addr, reuse_port).map_err(|source| RunError::Bind { addr, source })?;
    let addr = listener.local_addr().unwrap_or(addr);
    let metrics_addr = config.admin.metrics;
    let shared = Shared::new(config, audit);
    let (stop, stop_rx) = watch::channel(false);
    if let Some(maddr) = metrics_addr {
        let l = crate::metrics::bind(maddr)
            .await
            .map_err(|source| RunError::Metrics {
                addr: maddr,
                source,
            })?;
        let bound = l.local_addr().unwrap_or(maddr);
        tokio::spawn(crate::metrics::serve(l, shared.clone(), stop_rx.clone()));
        tracing::info!(addr = %bound, "metrics at /metrics");
    }
    if let Some(own) = own_peer_address(&shared, addr) {
        // This instance's own address, where peers forward cancel requests (the shared port
        // could hand them to any instance).
        let l = bind(own, false).map_err(|source| RunError::Bind { addr: own, source })?;
        tokio::spawn(listener::serve(l, shared.clone(), stop_rx.clone()));
        tracing::info!(addr = %own, "listening for peers");
    }
    let task = tokio::spawn(listener::serve(listener, shared.clone(), stop_rx.clone()));
    tokio::spawn(reaper(shared.clone(), stop_rx.clone()));
    tokio::spawn(crate::catalog::refresher(shared.clone(), stop_rx));
    tracing::info!(%addr, reuse_port, "pgward listening");
    Ok(Running {
        addr,
        shared,
        stop,
        task,
    })
}

/// `[peers.members]` entry of this instance, when it differs from the main listen address.
fn own_peer_address(shared: &Shared, listening: SocketAddr) -> Option<SocketAddr> {
    let snap = shared.snapshot();
    let peers = snap.config.peers.as_ref()?;
    let own = *peers.members.get(&peers.self_id)?;
    // Already covered when it is the listen address, or its port on a wildcard address.
    let covered =
        |l: SocketAddr| l.port() == own.port() && (l.ip() == own.ip() || l.ip().is_unspecified());
    (!covered(listening) && !covered(snap.config.listen.address)).then_some(own)
}

/// Load the config file again and apply it: the policy snapshot for the next statement, the
/// pools' sizes and settings in place. A broken file changes nothing.
pub fn reload(shared: &Shared) -> Result<(), String> {
    let Some(path) = shared.config_path.get() else {
        return Err("pgward was not started from a config file".to_string());
    };
    match Config::load(path) {
        Ok(c) => {
            for w in &c.warnings {
                tracing::warn!(warning = %w, "config");
            }
            listener::reconfigure_pools(shared, &c);
            shared.replace(c);
            tracing::info!(path = %path.display(), "configuration reloaded");
            Ok(())
        }
        Err(e) => {
            for p in e.problems() {
                tracing::error!(problem = %p, "reload failed; keeping the old configuration");
            }
            Err(e.to_string())
        }
    }
}

async fn reaper(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => shared.pools.reap_all(),
            _ = stop.changed() => return,
        }
    }
}

/// `pgward run`: serve until SIGTERM/SIGINT; reload `config_path` on SIGHUP.
pub async fn run_until_signal(config: Config, config_path: PathBuf) -> Result<(), RunError> {
    use tokio::signal::unix::{signal, SignalKind};
    let running = start(config).await?;
    let _ = running.shared.config_path.set(config_path);
    let (mut term, mut int, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(t), Ok(i), Ok(h)) => (t, i, h),
        _ => {
            tracing::error!("cannot install signal handlers");
            running.shutdown().await;
            return Ok(());
        }
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = running.shared.shutdown_requested.notified() => break,
            _ = hup.recv() => {
                let _ = reload(&running.shared);
            }
        }
    }
    tracing::info!(
        clients = running.shared.clients.list().len(),
        "stopping: no new clients; transactions in flight may finish"
    );
    running.shutdown().await;
    Ok(())
}
