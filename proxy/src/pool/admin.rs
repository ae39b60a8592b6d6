//! What the admin console and the metrics read from a pool and change in it: server rows,
//! totals, PAUSE/RESUME, and the resize a reload brings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::{IdleServer, Pool};
use crate::config::PoolSettings;
use crate::server::ConnectSpec;

/// One server connection as SHOW SERVERS lists it.
#[derive(Clone, Debug)]
pub struct ServerRow {
    pub id: u64,
    pub backend_pid: i32,
    pub connected_at: SystemTime,
    /// The client it serves, None while idle.
    pub client: Option<u64>,
    pub since: Instant,
}

/// A server's row as the pool keeps it. What changes at every checkout and release is
/// atomic, so neither takes the pool's lock for it (transaction mode does both each
/// transaction).
#[derive(Debug)]
pub(super) struct LiveRow {
    pub(super) id: u64,
    backend_pid: i32,
    connected_at: SystemTime,
    /// The client it serves plus one; 0 while idle.
    client: AtomicU64,
    /// Since when it serves that client or has been idle, in microseconds after `epoch`.
    since_us: AtomicU64,
    epoch: Instant,
}

impl LiveRow {
    pub(super) fn new(id: u64, backend_pid: i32) -> LiveRow {
        LiveRow {
            id,
            backend_pid,
            connected_at: SystemTime::now(),
            client: AtomicU64::new(0),
            since_us: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// From `now` it serves `client` (`None`: it is idle). Two stores: a SHOW SERVERS read
    /// between them may pair the new client with the old time, for that one listing.
    pub(super) fn serve(&self, client: Option<u64>, now: Instant) {
        let since = now.saturating_duration_since(self.epoch).as_micros();
        self.since_us
            .store(u64::try_from(since).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.client
            .store(client.map_or(0, |c| c.wrapping_add(1)), Ordering::Relaxed);
    }

    fn row(&self) -> ServerRow {
        let since = Duration::from_micros(self.since_us.load(Ordering::Relaxed));
        ServerRow {
            id: self.id,
            backend_pid: self.backend_pid,
            connected_at: self.connected_at,
            client: self.client.load(Ordering::Relaxed).checked_sub(1),
            since: self.epoch.checked_add(since).unwrap_or(self.epoch),
        }
    }
}

/// Totals since start (SHOW STATS).
#[derive(Default)]
pub(super) struct PoolCounters {
    pub(super) xacts: AtomicU64,
    pub(super) queries: AtomicU64,
    pub(super) wait_us: AtomicU64,
    pub(super) xact_us: AtomicU64,
    pub(super) opened: AtomicU64,
    pub(super) received: AtomicU64,
    pub(super) sent: AtomicU64,
}

impl Pool {
    /// Apply a reloaded configuration in place: new size (more slots at once; fewer as
    /// servers come back), timeouts and connection settings for new servers.
    pub fn reconfigure(self: &Arc<Self>, spec: ConnectSpec, settings: PoolSettings) {
        let (new, checkout_timeout) = (settings.size, settings.checkout_timeout);
        *self.spec.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(spec);
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = settings;
        let old = self.size.swap(new, Ordering::AcqRel);
        if new > old {
            {
                let mut slots = self.slots();
                let added = new - old;
                let repaid = added.min(slots.retiring);
                slots.retiring -= repaid;
                slots.available += added - repaid;
            }
            self.serve_waiters(checkout_timeout, false);
        } else if new < old {
            // Free slots go at once, held ones as they come back; idle servers past the new
            // size close now, busy ones when released (`release` closes a pool's extras).
            let extra: Vec<IdleServer> = {
                let mut slots = self.slots();
                let fewer = old - new;
                let now_free = fewer.min(slots.available);
                slots.available -= now_free;
                slots.retiring += fewer - now_free;
                let open = self.open.load(Ordering::Relaxed);
                let surplus = open.saturating_sub(new).min(slots.idle.len());
                let keep = slots.idle.len() - surplus;
                slots.idle.split_off(keep)
            };
            for s in extra {
                self.forget_server(s.row.id);
                tokio::spawn(s.server.terminate());
            }
        }
        if old != new {
            tracing::info!(database = %self.key.database, login = %self.key.login, old, new, "pool resized");
        }
    }

    pub fn pause(&self) {
        self.slots().pause();
    }

    pub fn resume(self: &Arc<Self>) {
        self.serve_waiters(self.settings().checkout_timeout, true);
    }

    pub fn is_paused(&self) -> bool {
        self.slots().paused
    }

    pub fn note_query(&self) {
        self.counters.queries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_client_bytes(&self, received: u64, sent: u64) {
        self.counters
            .received
            .fetch_add(received, Ordering::Relaxed);
        self.counters.sent.fetch_add(sent, Ordering::Relaxed);
    }

    pub fn servers(&self) -> Vec<ServerRow> {
        self.servers
            .lock()
            .map(|r| r.values().map(|r| r.row()).collect())
            .unwrap_or_default()
    }

    pub fn stats(&self) -> PoolStats {
        let (idle, waiting, oldest_wait, available_slots, paused) = {
            let slots = self.slots();
            // In arrival order: the first has waited longest.
            let oldest = slots.waiters.front().map(|w| w.since);
            (
                slots.idle.len(),
                slots.waiters.len(),
                oldest.map(|t| t.elapsed()),
                slots.available,
                slots.paused,
            )
        };
        let total = self.servers.lock().map(|r| r.len()).unwrap_or(0);
        let c = &self.counters;
        PoolStats {
            idle,
            active: total.saturating_sub(idle),
            waiting,
            max_wait: oldest_wait.unwrap_or_default(),
            size: self.size.load(Ordering::Relaxed),
            available_slots,
            paused,
            xacts: c.xacts.load(Ordering::Relaxed),
            queries: c.queries.load(Ordering::Relaxed),
            wait_us: c.wait_us.load(Ordering::Relaxed),
            xact_us: c.xact_us.load(Ordering::Relaxed),
            opened: c.opened.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            sent: c.sent.load(Ordering::Relaxed),
        }
    }
}

/// A pool's state and totals, as the admin console and the metrics show them.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolStats {
    pub idle: usize,
    pub active: usize,
    pub waiting: usize,
    pub max_wait: Duration,
    pub size: usize,
    pub available_slots: usize,
    pub paused: bool,
    pub xacts: u64,
    pub queries: u64,
    pub wait_us: u64,
    pub xact_us: u64,
    pub opened: u64,
    /// Bytes of this pool's clients that have disconnected.
    pub received: u64,
    pub sent: u64,
}
