//! What all sessions share: the current policy snapshot (config + engine, swapped whole on
//! reload), the pools, the cancel keys, the audit sink, the connected clients and the metrics.
//! No globals: one `Shared` per proxy.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
    /// Unique in the process: a statement judged under another snapshot is judged again.
    pub id: u64,
}

/// Snapshots made so far.
static SNAPSHOTS: AtomicU64 = AtomicU64::new(0);

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
        let id = SNAPSHOTS.fetch_add(1, Ordering::Relaxed) + 1;
        Arc::new(Snapshot { config, engine, id })
    }
}

/// The catalog snapshot in force: the database it was read from and its contents.
type LoadedCatalog = Option<(String, Arc<Catalog>)>;

pub struct Shared {
    /// Read on every statement: lock-free (`arc-swap`), swapped whole on reload.
    current: arc_swap::ArcSwap<Snapshot>,
    /// `current`'s id, for the per-message checks that need only it (no guard taken).
    current_id: AtomicU64,
    /// Held while a snapshot is installed, so `current_id` is always `current`'s.
    installing: std::sync::Mutex<()>,
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
    /// Reloads of the catalog asked for so far (DDL, a config reload, a miss).
    catalog_requests: AtomicU64,
    /// How many of those requests the newest snapshot covers (it was read after them), and
    /// when it was installed. A load that began before a request does not answer it.
    catalog_loads: tokio::sync::watch::Sender<(u64, Option<std::time::Instant>)>,
    /// Wakes the refresher at once (a statement met a relation the snapshot lacks).
    pub catalog_wanted: tokio::sync::Notify,
    /// The last load of the one database in use failed: the engine judges without the
    /// snapshot it should have (not the several-databases case, which has none by design).
    pub catalog_failed: std::sync::atomic::AtomicBool,
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
        set_budgets(&config.listen);
        let first = Snapshot::new(config);
        Arc::new(Shared {
            current_id: AtomicU64::new(first.id),
            installing: std::sync::Mutex::new(()),
            current: arc_swap::ArcSwap::new(first),
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
            catalog_requests: AtomicU64::new(0),
            catalog_loads: tokio::sync::watch::channel((0, None)).0,
            catalog_wanted: tokio::sync::Notify::new(),
            catalog_failed: std::sync::atomic::AtomicBool::new(false),
            builtin_functions: arc_swap::ArcSwapOption::empty(),
        })
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The id of the snapshot in force (an atomic read: set just after each swap).
    pub fn snapshot_id(&self) -> u64 {
        self.current_id.load(Ordering::Acquire)
    }

    /// Swap in a new config (SIGHUP). Sessions pick it up at their next statement; the
    /// catalog is reloaded soon after.
    pub fn replace(&self, config: Config) {
        let snap = Snapshot::with_catalog(config, self.current_catalog());
        self.install(snap);
        self.catalog_changed();
    }

    fn install(&self, snap: Arc<Snapshot>) {
        set_budgets(&snap.config.listen);
        let _installing = self.installing.lock().unwrap_or_else(|p| p.into_inner());
        let id = snap.id;
        self.current.store(snap);
        self.current_id.store(id, Ordering::Release);
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

    /// Install a snapshot whose reading began when `covers` reloads had been asked for
    /// ([`Shared::catalog_requests`]).
    pub fn set_catalog(&self, catalog: LoadedCatalog, covers: u64) {
        // A refresh that read what the snapshot already has keeps it, with its decisions
        // cached: statements are judged again only when the catalog changed.
        let unchanged = {
            let current = self.catalog.read().unwrap_or_else(|p| p.into_inner());
            match (&*current, &catalog) {
                (None, None) => true,
                (Some((was, old)), Some((now, new))) => was == now && old.same_rows(new),
                _ => false,
            }
        };
        if !unchanged {
            let engine_catalog = catalog.as_ref().map(|(_, c)| Arc::clone(c));
            match self.catalog.write() {
                Ok(mut g) => *g = catalog,
                Err(p) => *p.into_inner() = catalog,
            }
            let config = self.snapshot().config.clone();
            self.install(Snapshot::with_catalog(config, engine_catalog));
        }
        self.catalog_loads.send_modify(|(n, at)| {
            *n = (*n).max(covers);
            *at = Some(std::time::Instant::now());
        });
    }

    /// A statement named a relation the catalog snapshot lacks: have it reloaded now and
    /// wait (up to 3 s) for a snapshot read after the miss. True when one arrived (and the
    /// load did not fail).
    pub async fn reload_catalog_for_miss(&self) -> bool {
        let mut loads = self.catalog_loads.subscribe();
        let wanted = self.catalog_changed();
        self.catalog_wanted.notify_one();
        let waited = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            loads.wait_for(|(n, _)| *n >= wanted),
        )
        .await;
        matches!(waited, Ok(Ok(_))) && !self.catalog_failed.load(Ordering::Acquire)
    }

    /// A statement that changes the catalog (DDL, SELECT INTO, DO, CALL) has run: reload
    /// the snapshot soon rather than at the periodic refresh.
    /// Returns the request's number: a snapshot covering it was read after it.
    pub fn catalog_changed(&self) -> u64 {
        self.catalog_requests.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Reloads asked for so far: a load records this before it reads.
    pub fn catalog_requests(&self) -> u64 {
        self.catalog_requests.load(Ordering::Acquire)
    }

    /// The catalog should be reloaded now (config reloaded, or a statement changed it, since
    /// the newest snapshot began to be read).
    pub fn catalog_stale(&self) -> bool {
        self.catalog_requests() > self.catalog_loads.borrow().0
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

/// The process-wide memory budgets, from `[listen]` (a reload changes them for later charges).
fn set_budgets(listen: &crate::config::ListenSettings) {
    use crate::protocol::budget::{KEPT_STATEMENTS, LARGE_MESSAGES};
    LARGE_MESSAGES.set_limit(listen.large_message_memory);
    KEPT_STATEMENTS.set_limit(listen.kept_statement_memory);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Arc<Shared> {
        let text = "[upstream]\nhost = \"127.0.0.1\"\nport = 1\ntls = \"disable\"\n\
                    [logins.l]\nuser = \"l\"\npassword = \"x\"\n[roles.r]\nlogin = \"l\"\n";
        let config = Config::from_toml(text).unwrap_or_else(|e| panic!("config: {e}"));
        Shared::new(config, crate::audit::AuditSink::disabled())
    }

    #[test]
    fn a_refresh_that_read_the_same_catalog_keeps_the_snapshot() {
        let s = shared();
        let catalog = |name: &str| {
            Some((
                "db".to_string(),
                Arc::new(Catalog::new(pgward_policy::catalog::CatalogParts {
                    schemas: vec![pgward_policy::catalog::Schema {
                        oid: 2200,
                        name: name.into(),
                    }],
                    ..Default::default()
                })),
            ))
        };
        s.set_catalog(catalog("public"), s.catalog_requests());
        let id = s.snapshot_id();
        let wanted = s.catalog_changed();
        s.set_catalog(catalog("public"), s.catalog_requests());
        assert_eq!(s.snapshot_id(), id, "the same rows: the same snapshot");
        assert!(
            s.catalog_loads.borrow().0 >= wanted,
            "the load still answers requests"
        );
        s.set_catalog(catalog("app"), s.catalog_requests());
        assert_ne!(s.snapshot_id(), id, "other rows: a new snapshot");
    }

    #[test]
    fn a_load_that_began_before_a_request_does_not_answer_it() {
        let s = shared();
        assert!(!s.catalog_stale());
        let began = s.catalog_requests(); // a load starts reading
        let wanted = s.catalog_changed(); // DDL, or a miss, meanwhile
        s.set_catalog(None, began); // that load ends
        assert!(s.catalog_stale(), "the request is still open");
        assert!(s.catalog_loads.borrow().0 < wanted);
        let began = s.catalog_requests();
        s.set_catalog(None, began);
        assert!(!s.catalog_stale());
        assert!(s.catalog_loads.borrow().0 >= wanted);
    }
}
