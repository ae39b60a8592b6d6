//! What all sessions share: the current policy snapshot (config + engine, swapped whole on
//! reload), the pools, the cancel keys and the audit sink. No globals: one `Shared` per proxy.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use pgward_policy::{Catalog, Engine};

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
        Self::with_catalog(config, None)
    }

    /// A snapshot whose engine judges with `catalog` (a new engine: its cache starts empty).
    pub fn with_catalog(config: Config, catalog: Option<Arc<Catalog>>) -> Arc<Snapshot> {
        let engine = match catalog {
            Some(c) => Engine::with_catalog(config.policy.clone(), c),
            None => Engine::new(config.policy.clone()),
        };
        Arc::new(Snapshot { config, engine })
    }
}

/// The catalog snapshot in force: the database it was read from and its contents.
type LoadedCatalog = Option<(String, Arc<Catalog>)>;

pub struct Shared {
    current: RwLock<Arc<Snapshot>>,
    pub pools: PoolRegistry,
    pub cancels: Arc<CancelRegistry>,
    pub audit: AuditSink,
    pub clients: AtomicUsize,
    next_session: AtomicU64,
    catalog: RwLock<LoadedCatalog>,
    catalog_stale: AtomicBool,
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
            catalog: RwLock::new(None),
            catalog_stale: AtomicBool::new(false),
        })
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Swap in a new config (SIGHUP). Sessions pick it up at their next statement; the
    /// catalog is reloaded soon after.
    pub fn replace(&self, config: Config) {
        let snap = Snapshot::with_catalog(config, self.current_catalog());
        self.install(snap);
        self.catalog_stale.store(true, Ordering::Release);
    }

    fn install(&self, snap: Arc<Snapshot>) {
        match self.current.write() {
            Ok(mut g) => *g = snap,
            Err(p) => *p.into_inner() = snap,
        }
    }

    fn current_catalog(&self) -> Option<Arc<Catalog>> {
        let guard = match self.catalog.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        guard.as_ref().map(|(_, c)| Arc::clone(c))
    }

    /// A new catalog snapshot (or none): a new engine with the same config.
    pub fn set_catalog(&self, catalog: LoadedCatalog) {
        self.catalog_stale.store(false, Ordering::Release);
        let engine_catalog = catalog.as_ref().map(|(_, c)| Arc::clone(c));
        match self.catalog.write() {
            Ok(mut g) => *g = catalog,
            Err(p) => *p.into_inner() = catalog,
        }
        let config = self.snapshot().config.clone();
        self.install(Snapshot::with_catalog(config, engine_catalog));
    }

    /// The catalog should be reloaded now (config reloaded).
    pub fn catalog_stale(&self) -> bool {
        self.catalog_stale.load(Ordering::Acquire)
    }

    /// The database the engine's catalog was read from, if it has one.
    pub fn catalog_database(&self) -> Option<String> {
        let guard = match self.catalog.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        guard.as_ref().map(|(db, _)| db.clone())
    }

    pub fn next_session_id(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }
}
