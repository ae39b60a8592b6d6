//! Server connection pools, one per (database, login, pinned settings): a bounded number of
//! connections, a fair FIFO wait queue with a checkout timeout, idle and lifetime limits, and a
//! health check before reuse. A connection comes back only idle and clean; anything else is
//! closed.
//!
//! `slots.rs`: the slots, the wait queue and the idle servers under one lock (a freed slot
//! goes straight to the first waiter; one sweeper per pool keeps the checkout timeout);
//! `lease.rs`: who holds a server (client links, SHOW SERVERS rows) and release;
//! `admin.rs`: what the console and metrics read and change (stats, PAUSE, resize on reload);
//! `registry.rs`: all pools.

mod admin;
mod lease;
mod registry;
#[cfg(any(test, feature = "fuzzing"))]
mod scripted;
mod slots;
mod terminate;

pub use admin::{PoolStats, ServerRow};
pub use registry::PoolRegistry;

use admin::{LiveRow, PoolCounters};
use lease::Lease;
use slots::{Slot, Slots};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clients::{ClientEntry, ClientState};
use crate::metrics::Metrics;
use crate::sqlstate;

use crate::config::PoolSettings;
use crate::protocol::backend::PgError;
use crate::server::{ConnectSpec, ServerConnection, ServerError};

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("no server connection available within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Server(#[from] ServerError),
}

impl PoolError {
    pub fn to_pg(&self) -> PgError {
        match self {
            PoolError::Timeout(_) => {
                PgError::error(sqlstate::TOO_MANY_CONNECTIONS, format!("pgward: {self}")).with_hint(
                    "the pool is busy: retry, or raise pool.size / pool.checkout_timeout",
                )
            }
            PoolError::Server(e) => e.to_pg(),
        }
    }
}

/// What makes two server connections interchangeable.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolKey {
    pub database: String,
    pub login: String,
    /// Upstream sessions pinned read-only (the second lock).
    pub read_only: bool,
    pub statement_timeout_ms: Option<u64>,
}

/// Reported parameters as a greeting told them: (name as PostgreSQL spells it, value).
pub type Greeting = Arc<[(Box<str>, Box<str>)]>;

pub struct Pool {
    key: PoolKey,
    spec: Mutex<Arc<ConnectSpec>>,
    settings: Mutex<PoolSettings>,
    /// Free slots, the wait queue, the idle servers and PAUSE.
    slots: Mutex<Slots>,
    /// The configured size (permits in circulation once a shrink has settled).
    size: AtomicUsize,
    /// What the last new server reported at startup (server_version, encodings, ...), so a
    /// client can be greeted without waiting for a free server.
    reported: Mutex<Option<BTreeMap<String, String>>>,
    /// The parameters the last client was greeted with: the next client told the same
    /// shares them instead of holding a copy (an idle client's memory).
    greeting: Mutex<Option<Greeting>>,
    /// The search_path the last new server started with (its configured defaults).
    default_search_path: Mutex<Option<String>>,
    /// Every open server connection of this pool, by id.
    servers: Mutex<BTreeMap<u64, Arc<LiveRow>>>,
    /// How many `servers` holds (read without its lock at every release).
    open: AtomicUsize,
    ids: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
    counters: PoolCounters,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

struct IdleServer {
    row: Arc<LiveRow>,
    server: Box<ServerConnection>,
}

/// A checked-out server connection. Give it back with [`Pool::release`] or drop it (closing).
pub struct PooledServer {
    /// Boxed once when connected, so a session holding none (or one) stays small and a
    /// checkout moves a pointer.
    pub server: Box<ServerConnection>,
    pub pool: Arc<Pool>,
    slot: Slot,
    lease: Lease,
}

impl Pool {
    pub fn new(
        key: PoolKey,
        spec: ConnectSpec,
        settings: PoolSettings,
        ids: Arc<AtomicU64>,
        metrics: Arc<Metrics>,
    ) -> Arc<Pool> {
        Arc::new(Pool {
            slots: Mutex::new(Slots::new(settings.size)),
            size: AtomicUsize::new(settings.size),
            key,
            spec: Mutex::new(Arc::new(spec)),
            settings: Mutex::new(settings),
            reported: Mutex::new(None),
            greeting: Mutex::new(None),
            default_search_path: Mutex::new(None),
            servers: Mutex::new(BTreeMap::new()),
            open: AtomicUsize::new(0),
            ids,
            metrics,
            counters: PoolCounters::default(),
        })
    }

    /// Servers of this pool connect with `default_transaction_read_only=on`.
    pub fn read_only(&self) -> bool {
        self.key.read_only
    }

    /// The upstream user its servers log in as.
    pub fn upstream_user(&self) -> String {
        self.spec
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .user
            .clone()
    }

    /// The parameters a fresh server of this pool reports, once one has connected.
    pub fn reported_params(&self) -> Option<BTreeMap<String, String>> {
        self.reported.lock().ok().and_then(|r| r.clone())
    }

    /// `told` (a greeting's parameters, as spelled, with their values), shared with the
    /// last client greeted the same.
    pub fn shared_greeting(&self, told: Vec<(Box<str>, Box<str>)>) -> Greeting {
        let mut last = self.greeting.lock().unwrap_or_else(|p| p.into_inner());
        match last.as_ref() {
            Some(g) if **g == *told => g.clone(),
            _ => last.insert(Greeting::from(told)).clone(),
        }
    }

    /// The search_path a fresh server of this pool starts with, once one has connected.
    pub fn default_search_path(&self) -> Option<String> {
        self.default_search_path.lock().ok().and_then(|r| r.clone())
    }

    pub fn key(&self) -> &PoolKey {
        &self.key
    }

    pub fn settings(&self) -> PoolSettings {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Past its lifetime or idle timeout at `now` (one clock read serves a whole checkout or
    /// release).
    fn expired(settings: &PoolSettings, s: &ServerConnection, now: Instant) -> bool {
        settings
            .lifetime
            .is_some_and(|l| now.saturating_duration_since(s.created) >= l)
            || settings
                .idle_timeout
                .is_some_and(|t| now.saturating_duration_since(s.last_used) >= t)
    }

    fn forget_server(&self, id: u64) {
        let mut rows = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        if rows.remove(&id).is_some() {
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Wait for a free slot (FIFO), then reuse a healthy idle connection or open a new one.
    pub async fn checkout(self: &Arc<Self>) -> Result<PooledServer, PoolError> {
        self.checkout_preferring(None).await
    }

    /// [`Pool::checkout`], taking the idle server of backend `prefer` if there is one (the
    /// server holding the client's sequence state, or the one it last gave back), else the
    /// most recently used.
    pub async fn checkout_preferring(
        self: &Arc<Self>,
        prefer: Option<i32>,
    ) -> Result<PooledServer, PoolError> {
        let client = crate::clients::current();
        let settings = self.settings();
        // A free slot with nobody queued and no PAUSE: no queue entry, no clock.
        if self.slots().take_free() {
            self.metrics.pool_wait(Duration::ZERO);
            self.counters.xacts.fetch_add(1, Ordering::Relaxed);
            return self.serve(self.slot(), client, settings, prefer).await;
        }
        if let Some(c) = &client {
            c.set_state(ClientState::Waiting);
        }
        let waiting = WaitingClient(client.as_ref());
        // PAUSE holds new work back until RESUME; the checkout timeout starts after it.
        let (slot, waited) = self.wait_for_slot(settings.checkout_timeout).await?;
        drop(waiting);
        self.metrics.pool_wait(waited);
        self.counters
            .wait_us
            .fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
        self.counters.xacts.fetch_add(1, Ordering::Relaxed);
        self.serve(slot, client, settings, prefer).await
    }

    /// A healthy idle server at once, when a slot is free, nobody queues and there is no
    /// PAUSE: the common checkout, with no future, timer or wait registration. `None`: wait
    /// with [`Pool::checkout_preferring`].
    pub fn checkout_idle_now(self: &Arc<Self>, prefer: Option<i32>) -> Option<PooledServer> {
        let mut settings = None;
        loop {
            let (IdleServer { row, mut server }, slot) = {
                let mut slots = self.slots();
                if slots.idle.is_empty() || !slots.take_free() {
                    return None;
                }
                let idle = take_idle_of(&mut slots.idle, prefer);
                drop(slots);
                // The slot is held from here: dropped, it goes back.
                let slot = self.slot();
                match idle {
                    Some(idle) => (idle, slot),
                    None => return None,
                }
            };
            let now = Instant::now();
            let settings = settings.get_or_insert_with(|| self.settings());
            if Self::expired(settings, &server, now) || !server.conn.is_healthy() {
                self.forget_server(row.id);
                tokio::spawn(server.terminate());
                continue; // the slot goes back as it drops
            }
            server.last_used = now;
            self.metrics.pool_wait(Duration::ZERO);
            self.counters.xacts.fetch_add(1, Ordering::Relaxed);
            return Some(self.lease(row, server, slot, crate::clients::current(), now));
        }
    }

    /// An idle server fit for reuse (the preferred backend's when idle); expired or broken
    /// ones met on the way are closed.
    fn take_reusable(
        &self,
        settings: &PoolSettings,
        mut prefer: Option<i32>,
    ) -> Option<(Arc<LiveRow>, Box<ServerConnection>, Instant)> {
        loop {
            // The lock is let go before the checks (a guard in the loop's head would live
            // through its body).
            let taken = take_idle_of(&mut self.slots().idle, prefer.take());
            let IdleServer { row, server: mut s } = taken?;
            let now = Instant::now();
            if Self::expired(settings, &s, now) || !s.conn.is_healthy() {
                self.forget_server(row.id);
                tokio::spawn(s.terminate());
                continue;
            }
            s.last_used = now;
            return Some((row, s, now));
        }
    }

    /// With a slot held: a healthy idle connection, or a new one.
    async fn serve(
        self: &Arc<Self>,
        slot: Slot,
        client: Option<Arc<ClientEntry>>,
        settings: PoolSettings,
        prefer: Option<i32>,
    ) -> Result<PooledServer, PoolError> {
        if let Some((row, s, now)) = self.take_reusable(&settings, prefer) {
            return Ok(self.lease(row, s, slot, client, now));
        }
        let spec = self.spec.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let server = match ServerConnection::connect(&spec).await {
            Ok(s) => Box::new(s),
            Err(e) => {
                // The upstream's own words, for whoever is on call (the client gets 08001).
                tracing::warn!(database = %self.key.database, login = %self.key.login, upstream = %spec.addr(), error = %e, "cannot open a server connection");
                return Err(e.into());
            }
        };
        let row = self.register(&server);
        self.counters.opened.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(database = %self.key.database, login = %self.key.login, server = row.id, "opened server connection");
        Ok(self.lease(row, server, slot, client, Instant::now()))
    }

    /// A new server connection joins the pool's rows (SHOW SERVERS); its parameters are
    /// what the pool reports to clients greeted without a server. Returns its row.
    fn register(&self, server: &ServerConnection) -> Arc<LiveRow> {
        if let Ok(mut r) = self.reported.lock() {
            *r = Some(server.params.clone());
        }
        if let (Ok(mut d), Some(path)) = (
            self.default_search_path.lock(),
            server.default_search_path(),
        ) {
            *d = Some(path.to_string());
        }
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let row = Arc::new(LiveRow::new(id, server.cancel.pid));
        self.servers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, row.clone());
        self.open.fetch_add(1, Ordering::Relaxed);
        row
    }

    /// Take every idle connection out of the pool, to be closed by the caller.
    pub fn take_all_idle(&self) -> Vec<Box<ServerConnection>> {
        let idle = std::mem::take(&mut self.slots().idle);
        idle.into_iter()
            .map(|s| {
                self.forget_server(s.row.id);
                s.server
            })
            .collect()
    }

    /// Close idle connections past idle_timeout or lifetime.
    pub fn reap(&self) {
        let settings = self.settings();
        let expired: Vec<IdleServer> = {
            let mut slots = self.slots();
            let idle = &mut slots.idle;
            let (keep, drop): (Vec<_>, Vec<_>) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|s| !Self::expired(&settings, &s.server, Instant::now()));
            *idle = keep;
            drop
        };
        for s in expired {
            self.forget_server(s.row.id);
            tokio::spawn(s.server.terminate());
        }
    }
}

/// The idle server of backend `prefer` if there is one, else the most recently used.
fn take_idle_of(idle: &mut Vec<IdleServer>, prefer: Option<i32>) -> Option<IdleServer> {
    let preferred = prefer.and_then(|pid| idle.iter().rposition(|s| s.server.cancel.pid == pid));
    match preferred {
        Some(at) => Some(idle.remove(at)),
        None => idle.pop(),
    }
}

/// A client shown as waiting (SHOW CLIENTS) until its wait ends, however it ends.
struct WaitingClient<'a>(Option<&'a Arc<ClientEntry>>);

impl Drop for WaitingClient<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.0 {
            if c.state() == ClientState::Waiting {
                c.set_state(ClientState::Idle);
            }
        }
    }
}
