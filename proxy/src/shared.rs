//! What all sessions share: the current policy snapshot (config + engine, swapped whole on
//! reload), the pools, the cancel keys, the audit sink, the connected clients and the metrics.
//! No globals: one `Shared` per proxy.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use pgward_policy::{Catalog, Engine};

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
    /// Read on every statement: lock-free (`arc-swap`), swapped whole on reload.
    current: arc_swap::ArcSwap<Snapshot>,
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
    catalog: RwLock<LoadedCatalog>,
    catalog_stale: AtomicBool,
    /// Catalog snapshots installed so far, and when the last was (for reloads on a miss).
    catalog_loads: tokio::sync::watch::Sender<(u64, Option<std::time::Instant>)>,
    /// Wakes the refresher at once (a statement met a relation the snapshot lacks).
    pub catalog_wanted: tokio::sync::Notify,
    /// PostgreSQL's built-in functions by OID (schema, name): the same in every database, so
    /// kept when several databases are in use and the engine judges without a catalog (a
    /// FunctionCall by OID is named from it).
    builtin_functions: arc_swap::ArcSwapOption<BuiltinFunctions>,
}

/// Built-in functions by OID: (schema, name).
pub type BuiltinFunctions = std::collections::HashMap<u32, (String, String)>;

impl Shared {
    pub fn new(config: Config, audit: AuditSink) -> Arc<Shared> {
        let metrics = Arc::new(Metrics::default());
        let clients = Arc::new(ClientRegistry::new());
        let peer_id = config.peers.as_ref().map_or(0, |p| p.self_id);
        Arc::new(Shared {
            current: arc_swap::ArcSwap::new(Snapshot::new(config)),
            pools: PoolRegistry::new(metrics.clone()),
            cancels: Arc::new(CancelRegistry::new(peer_id, metrics.clone())),
            audit: audit.with_stats(metrics.clone(), clients.clone()),
            clients_open: AtomicUsize::new(0),
            next_session: AtomicU64::new(1),
            clients,
            metrics,
            config_path: std::sync::OnceLock::new(),
            shutdown_requested: tokio::sync::Notify::new(),
            catalog: RwLock::new(None),
            catalog_stale: AtomicBool::new(false),
            catalog_loads: tokio::sync::watch::channel((0, None)).0,
            catalog_wanted: tokio::sync::Notify::new(),
            builtin_functions: arc_swap::ArcSwapOption::empty(),
        })
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Swap in a new config (SIGHUP). Sessions pick it up at their next statement; the
    /// catalog is reloaded soon after.
    pub fn replace(&self, config: Config) {
        let snap = Snapshot::with_catalog(config, self.current_catalog());
        self.install(snap);
        self.catalog_stale.store(true, Ordering::Release);
    }

    fn install(&self, snap: Arc<Snapshot>) {
        self.current.store(snap);
    }

    fn current_catalog(&self) -> Option<Arc<Catalog>> {
        let guard = match self.catalog.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        guard.as_ref().map(|(_, c)| Arc::clone(c))
    }

    /// A new catalog snapshot (or none): a new engine with the same config.
    /// The built-in function of `oid`: (schema, name).
    pub fn builtin_function(&self, oid: u32) -> Option<(String, String)> {
        self.builtin_functions.load().as_ref()?.get(&oid).cloned()
    }

    pub fn has_builtin_functions(&self) -> bool {
        self.builtin_functions.load().is_some()
    }

    pub fn set_builtin_functions(&self, functions: BuiltinFunctions) {
        self.builtin_functions.store(Some(Arc::new(functions)));
    }

    pub fn set_catalog(&self, catalog: LoadedCatalog) {
        self.catalog_stale.store(false, Ordering::Release);
        let engine_catalog = catalog.as_ref().map(|(_, c)| Arc::clone(c));
        match self.catalog.write() {
            Ok(mut g) => *g = catalog,
            Err(p) => *p.into_inner() = catalog,
        }
        let config = self.snapshot().config.clone();
        self.install(Snapshot::with_catalog(config, engine_catalog));
        self.catalog_loads.send_modify(|(n, at)| {
            *n += 1;
            *at = Some(std::time::Instant::now());
        });
    }

    /// A statement named a relation the catalog snapshot lacks: have it reloaded now and
    /// wait (up to 3 s) for a snapshot read after the miss. True when one arrived.
    pub async fn reload_catalog_for_miss(&self) -> bool {
        let mut loads = self.catalog_loads.subscribe();
        let (seen, _) = *loads.borrow_and_update();
        self.catalog_changed();
        self.catalog_wanted.notify_one();
        let waited = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            loads.wait_for(|(n, _)| *n > seen),
        )
        .await;
        matches!(waited, Ok(Ok(_)))
    }

    /// A statement that changes the catalog (DDL, SELECT INTO, DO, CALL) has run: reload
    /// the snapshot soon rather than at the periodic refresh.
    pub fn catalog_changed(&self) {
        self.catalog_stale.store(true, Ordering::Release);
    }

    /// The catalog should be reloaded now (config reloaded, or a statement changed it).
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
