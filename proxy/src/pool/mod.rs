//! Server connection pools, one per (database, login, pinned settings): a bounded number of
//! connections, a fair FIFO wait queue with a checkout timeout, idle and lifetime limits, and a
//! health check before reuse. A connection comes back only idle and clean; anything else is
//! closed.
//!
//! `lease.rs`: who holds a server (client links, SHOW SERVERS rows), who waits, and release;
//! `admin.rs`: what the console and metrics read and change (stats, PAUSE, resize on reload);
//! `registry.rs`: all pools.

mod admin;
mod lease;
mod registry;
#[cfg(test)]
mod scripted;

pub use admin::{PoolStats, ServerRow};
pub use registry::PoolRegistry;

use admin::PoolCounters;
use lease::{Lease, WaitTicket};

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

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
    idle: Mutex<Vec<IdleServer>>,
    permits: Arc<Semaphore>,
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
    /// PAUSE: checkouts wait until RESUME.
    paused: watch::Sender<bool>,
    /// Clients waiting for a server: (ticket, since when), about in arrival order (the
    /// one leaving is almost always near the front: no tree node per wait).
    waiters: Mutex<VecDeque<(u64, Instant)>>,
    /// Every open server connection of this pool, by id.
    servers: Mutex<BTreeMap<u64, ServerRow>>,
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
    id: u64,
    server: Box<ServerConnection>,
}

/// A checked-out server connection. Give it back with [`Pool::release`] or drop it (closing).
pub struct PooledServer {
    /// Boxed once when connected, so a session holding none (or one) stays small and a
    /// checkout moves a pointer.
    pub server: Box<ServerConnection>,
    pub pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
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
            permits: Arc::new(Semaphore::new(settings.size)),
            size: AtomicUsize::new(settings.size),
            key,
            spec: Mutex::new(Arc::new(spec)),
            settings: Mutex::new(settings),
            idle: Mutex::new(Vec::new()),
            reported: Mutex::new(None),
            greeting: Mutex::new(None),
            default_search_path: Mutex::new(None),
            paused: watch::Sender::new(false),
            waiters: Mutex::new(VecDeque::new()),
            servers: Mutex::new(BTreeMap::new()),
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

    fn take_idle(&self, prefer: Option<i32>) -> Option<IdleServer> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let preferred =
            prefer.and_then(|pid| idle.iter().rposition(|s| s.server.cancel.pid == pid));
        match preferred {
            Some(at) => Some(idle.remove(at)),
            None => idle.pop(),
        }
    }

    fn forget_server(&self, id: u64) {
        let mut rows = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        rows.remove(&id);
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
        // A free slot with nobody queued (a queued waiter holds every free permit) and no
        // PAUSE: no wait ticket, no clock, no queue bookkeeping.
        if !*self.paused.borrow() {
            if let Ok(permit) = self.permits.clone().try_acquire_owned() {
                self.metrics.pool_wait(Duration::ZERO);
                self.counters.xacts.fetch_add(1, Ordering::Relaxed);
                return self.serve(permit, client, settings, prefer).await;
            }
        }
        let started = Instant::now();
        let ticket = self.ids.fetch_add(1, Ordering::Relaxed);
        let wait = WaitTicket {
            pool: self,
            ticket,
            client: client.as_ref(),
        };
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back((ticket, started));
        if let Some(c) = &client {
            c.set_state(ClientState::Waiting);
        }
        // PAUSE holds new work back until RESUME; the checkout timeout starts after it.
        let mut paused = self.paused.subscribe();
        let _ = paused.wait_for(|p| !*p).await;
        let acquire = self.permits.clone().acquire_owned();
        let permit = match settings.checkout_timeout {
            Some(t) => tokio::time::timeout(t, acquire)
                .await
                .map_err(|_| PoolError::Timeout(t))?,
            None => acquire.await,
        }
        .map_err(|_| PoolError::Timeout(Duration::ZERO))?;
        let waited = started.elapsed();
        drop(wait);
        self.metrics.pool_wait(waited);
        self.counters
            .wait_us
            .fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
        self.counters.xacts.fetch_add(1, Ordering::Relaxed);
        self.serve(permit, client, settings, prefer).await
    }

    /// A healthy idle server at once, when a slot is free, nobody queues and there is no
    /// PAUSE: the common checkout, with no future, timer or wait registration. `None`: wait
    /// with [`Pool::checkout_preferring`].
    pub fn checkout_idle_now(self: &Arc<Self>, prefer: Option<i32>) -> Option<PooledServer> {
        if *self.paused.borrow() {
            return None;
        }
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        let settings = self.settings();
        let (id, server, now) = self.take_reusable(&settings, prefer)?;
        self.metrics.pool_wait(Duration::ZERO);
        self.counters.xacts.fetch_add(1, Ordering::Relaxed);
        Some(self.lease(id, server, permit, crate::clients::current(), now))
    }

    /// An idle server fit for reuse (the preferred backend's when idle); expired or broken
    /// ones met on the way are closed.
    fn take_reusable(
        &self,
        settings: &PoolSettings,
        mut prefer: Option<i32>,
    ) -> Option<(u64, Box<ServerConnection>, Instant)> {
        while let Some(IdleServer { id, server: mut s }) = self.take_idle(prefer.take()) {
            let now = Instant::now();
            if Self::expired(settings, &s, now) || !s.conn.is_healthy() {
                self.forget_server(id);
                tokio::spawn(s.terminate());
                continue;
            }
            s.last_used = now;
            return Some((id, s, now));
        }
        None
    }

    /// With a slot held: a healthy idle connection, or a new one.
    async fn serve(
        self: &Arc<Self>,
        permit: OwnedSemaphorePermit,
        client: Option<Arc<ClientEntry>>,
        settings: PoolSettings,
        prefer: Option<i32>,
    ) -> Result<PooledServer, PoolError> {
        if let Some((id, s, now)) = self.take_reusable(&settings, prefer) {
            return Ok(self.lease(id, s, permit, client, now));
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
        let id = self.register(&server);
        self.counters.opened.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(database = %self.key.database, login = %self.key.login, server = id, "opened server connection");
        Ok(self.lease(id, server, permit, client, Instant::now()))
    }

    /// A new server connection joins the pool's rows (SHOW SERVERS); its parameters are
    /// what the pool reports to clients greeted without a server. Returns its id.
    fn register(&self, server: &ServerConnection) -> u64 {
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
        self.servers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id,
                ServerRow {
                    id,
                    backend_pid: server.cancel.pid,
                    connected_at: SystemTime::now(),
                    client: None,
                    since: Instant::now(),
                },
            );
        id
    }

    /// Take every idle connection out of the pool, to be closed by the caller.
    pub fn take_all_idle(&self) -> Vec<Box<ServerConnection>> {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        idle.into_iter()
            .map(|s| {
                self.forget_server(s.id);
                s.server
            })
            .collect()
    }

    /// Close idle connections past idle_timeout or lifetime.
    pub fn reap(&self) {
        let settings = self.settings();
        let expired: Vec<IdleServer> = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let (keep, drop): (Vec<_>, Vec<_>) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|s| !Self::expired(&settings, &s.server, Instant::now()));
            *idle = keep;
            drop
        };
        for s in expired {
            self.forget_server(s.id);
            tokio::spawn(s.server.terminate());
        }
    }
}
