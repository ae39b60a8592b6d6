//! Running the proxy: bind, accept, reap idle servers, reload on SIGHUP, and on SIGTERM/SIGINT
//! stop accepting and give in-flight sessions a bounded grace period.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::audit::AuditSink;
use crate::config::Config;
use crate::listener;
use crate::shared::Shared;

/// How long in-flight sessions get after a stop signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
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
    /// Stop accepting, wait for sessions to end (bounded), return.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        while self.shared.clients.load(Ordering::Acquire) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
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
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Bind { addr, source })?;
    let addr = listener.local_addr().unwrap_or(addr);
    let shared = Shared::new(config, audit);
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(listener::serve(listener, shared.clone(), stop_rx.clone()));
    tokio::spawn(reaper(shared.clone(), stop_rx.clone()));
    tokio::spawn(crate::catalog::refresher(shared.clone(), stop_rx));
    tracing::info!(%addr, "pgward listening");
    Ok(Running {
        addr,
        shared,
        stop,
        task,
    })
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
            _ = hup.recv() => match Config::load(&config_path) {
                Ok(c) => {
                    running.shared.replace(c);
                    tracing::info!("configuration reloaded");
                }
                Err(e) => tracing::error!(error = %e, "reload failed; keeping the old configuration"),
            },
        }
    }
    tracing::info!("stopping: no new clients, waiting for sessions to finish");
    running.shutdown().await;
    Ok(())
}
