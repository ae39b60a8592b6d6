//! What all sessions share: the current policy snapshot (config + engine, swapped whole on
//! reload), the pools, the cancel keys and the audit sink. No globals: one `Shared` per proxy.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use pgward_policy::Engine;

use crate::audit::AuditSink;
use crate::cancel::CancelRegistry;
use crate::config::Config;
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
    pub clients: AtomicUsize,
    next_session: AtomicU64,
}

impl Shared {
    pub fn new(config: Config, audit: AuditSink) -> Arc<Shared> {
        Arc::new(Shared {
            current: RwLock::new(Snapshot::new(config)),
            pools: PoolRegistry::default(),
            cancels: Arc::new(CancelRegistry::default()),
            audit,
            clients: AtomicUsize::new(0),
            next_session: AtomicU64::new(1),
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

    pub fn next_session_id(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }
}
