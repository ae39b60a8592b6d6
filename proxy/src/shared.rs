//! What all sessions share: the current policy snapshot (config + engine, swapped whole on
//! reload), the pools, the cancel keys, the audit sink, the connected clients and the metrics.
//! No globals: one `Shared` per proxy.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use pgward_policy::Engine;

use crate::audit::AuditSink;
use crate::cancel::CancelRegistry;
use crate::clients::ClientRegistry;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::pool::PoolRegistry;

/// One immutable policy snapshot: a statement is judged against exactly one of these.
pub struct Snapshot {
    pub config: Config,
    pub engine: Engine,
}

impl Snapshot {
    pub fn new(config: Config) -> Arc<Snapshot> {
        let engine = Engine::new(config.policy.clone());
        Arc::new(Snapshot { config, engine })
    }
}

pub struct Shared {
    current: RwLock<Arc<Snapshot>>,
    pub pools: PoolRegistry,
    pub cancels: Arc<CancelRegistry>,
    pub audit: AuditSink,
    /// Open client connections (the max_client_connections count).
    pub clients_open: AtomicUsize,
    next_session: AtomicU64,
    /// Logged-in clients (admin console, metrics).
    pub clients: Arc<ClientRegistry>,
    pub metrics: Arc<Metrics>,
    /// The console's SHUTDOWN (handled like SIGTERM).
    pub shutdown_requested: tokio::sync::Notify,
    /// Where the config came from (RELOAD reads it again).
    pub config_path: std::sync::OnceLock<std::path::PathBuf>,
}

impl Shared {
    pub fn new(config: Config, audit: AuditSink) -> Arc<Shared> {
        let metrics = Arc::new(Metrics::default());
        let clients = Arc::new(ClientRegistry::new());
        let peer_id = config.peers.as_ref().map_or(0, |p| p.self_id);
        Arc::new(Shared {
            current: RwLock::new(Snapshot::new(config)),
            pools: PoolRegistry::new(metrics.clone()),
            cancels: Arc::new(CancelRegistry::new(peer_id, metrics.clone())),
            audit: audit.with_stats(metrics.clone(), clients.clone()),
            clients_open: AtomicUsize::new(0),
            next_session: AtomicU64::new(1),
            clients,
            metrics,
            config_path: std::sync::OnceLock::new(),
            shutdown_requested: tokio::sync::Notify::new(),
        })
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Swap in a new config (SIGHUP). Sessions pick it up at their next statement.
    pub fn replace(&self, config: Config) {
        let snap = Snapshot::new(config);
        match self.current.write() {
            Ok(mut g) => *g = snap,
            Err(p) => *p.into_inner() = snap,
        }
    }

    /// The session id of the client on this task: the listener allocates it at accept (so
    /// log lines before login carry it too) and a session asking for one gets the same.
    pub fn next_session_id(&self) -> u64 {
        crate::clients::current()
            .map(|c| c.id)
            .unwrap_or_else(|| self.allocate_session_id())
    }

    pub fn allocate_session_id(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }
}
