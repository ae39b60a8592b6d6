//! Server connection pools, one per (database, login, pinned settings): a bounded number of
//! connections, a fair FIFO wait queue with a checkout timeout, idle and lifetime limits, and a
//! health check before reuse. A connection comes back only idle and clean; anything else is
//! closed.

use crate::sqlstate;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

pub struct Pool {
    key: PoolKey,
    spec: ConnectSpec,
    settings: PoolSettings,
    idle: Mutex<Vec<ServerConnection>>,
    permits: Arc<Semaphore>,
    /// What the last new server reported at startup (server_version, encodings, ...), so a
    /// client can be greeted without waiting for a free server.
    reported: Mutex<Option<BTreeMap<String, String>>>,
}

/// A checked-out server connection. Give it back with [`Pool::release`] or drop it (closing).
pub struct PooledServer {
    pub server: ServerConnection,
    pub pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    pub fn new(key: PoolKey, spec: ConnectSpec, settings: PoolSettings) -> Arc<Pool> {
        Arc::new(Pool {
            permits: Arc::new(Semaphore::new(settings.size)),
            key,
            spec,
            settings,
            idle: Mutex::new(Vec::new()),
            reported: Mutex::new(None),
        })
    }

    /// The parameters a fresh server of this pool reports, once one has connected.
    /// Servers of this pool connect with `default_transaction_read_only=on`.
    pub fn read_only(&self) -> bool {
        self.key.read_only
    }

    /// The upstream user its servers log in as.
    pub fn upstream_user(&self) -> &str {
        &self.spec.user
    }

    pub fn reported_params(&self) -> Option<BTreeMap<String, String>> {
        self.reported.lock().ok().and_then(|r| r.clone())
    }

    pub fn key(&self) -> &PoolKey {
        &self.key
    }

    fn expired(&self, s: &ServerConnection) -> bool {
        self.settings.lifetime.is_some_and(|l| s.age() >= l)
            || self
                .settings
                .idle_timeout
                .is_some_and(|t| s.idle_for() >= t)
    }

    fn take_idle(&self) -> Option<ServerConnection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.pop()
    }

    /// Wait for a free slot (FIFO), then reuse a healthy idle connection or open a new one.
    pub async fn checkout(self: &Arc<Self>) -> Result<PooledServer, PoolError> {
        let acquire = self.permits.clone().acquire_owned();
        let permit = match self.settings.checkout_timeout {
            Some(t) => tokio::time::timeout(t, acquire)
                .await
                .map_err(|_| PoolError::Timeout(t))?,
            None => acquire.await,
        }
        .map_err(|_| PoolError::Timeout(Duration::ZERO))?;
        while let Some(mut s) = self.take_idle() {
            if self.expired(&s) || !s.conn.is_healthy() {
                tokio::spawn(s.terminate());
                continue;
            }
            s.last_used = Instant::now();
            return Ok(PooledServer {
                server: s,
                pool: self.clone(),
                _permit: permit,
            });
        }
        let server = ServerConnection::connect(&self.spec).await?;
        if let Ok(mut r) = self.reported.lock() {
            *r = Some(server.params.clone());
        }
        tracing::debug!(database = %self.key.database, login = %self.key.login, "opened server connection");
        Ok(PooledServer {
            server,
            pool: self.clone(),
            _permit: permit,
        })
    }

    /// Return a server that is idle (ReadyForQuery 'I') and clean.
    pub fn release(&self, mut pooled: PooledServer) {
        pooled.server.last_used = Instant::now();
        if self.expired(&pooled.server) {
            tokio::spawn(pooled.server.terminate());
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.push(pooled.server);
    }

    /// Close idle connections past idle_timeout or lifetime.
    pub fn reap(&self) {
        let expired: Vec<ServerConnection> = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let (keep, drop): (Vec<_>, Vec<_>) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|s| !self.expired(s));
            *idle = keep;
            drop
        };
        for s in expired {
            tokio::spawn(s.terminate());
        }
    }

    pub fn stats(&self) -> PoolStats {
        let idle = self.idle.lock().map(|v| v.len()).unwrap_or(0);
        PoolStats {
            idle,
            available_slots: self.permits.available_permits(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct PoolStats {
    pub idle: usize,
    pub available_slots: usize,
}

/// All pools, created on first use.
#[derive(Default)]
pub struct PoolRegistry {
    pools: DashMap<PoolKey, Arc<Pool>>,
}

impl PoolRegistry {
    pub fn get_or_create(
        &self,
        key: PoolKey,
        make: impl FnOnce() -> (ConnectSpec, PoolSettings),
    ) -> Arc<Pool> {
        if let Some(p) = self.pools.get(&key) {
            return p.clone();
        }
        self.pools
            .entry(key.clone())
            .or_insert_with(|| {
                let (spec, settings) = make();
                Pool::new(key, spec, settings)
            })
            .clone()
    }

    pub fn reap_all(&self) {
        for p in self.pools.iter() {
            p.reap();
        }
    }

    pub fn snapshot(&self) -> BTreeMap<PoolKey, PoolStats> {
        self.pools
            .iter()
            .map(|p| (p.key().clone(), p.stats()))
            .collect()
    }
}
