//! All pools, created on first use, and what applies to all of them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

use super::{Pool, PoolKey, PoolStats};
use crate::config::PoolSettings;
use crate::metrics::Metrics;
use crate::server::ConnectSpec;

/// All pools, created on first use.
#[derive(Default)]
pub struct PoolRegistry {
    pools: DashMap<PoolKey, Arc<Pool>>,
    ids: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
    /// PAUSE without a database: pools created meanwhile start paused too.
    all_paused: AtomicBool,
}

impl PoolRegistry {
    pub fn new(metrics: Arc<Metrics>) -> PoolRegistry {
        PoolRegistry {
            pools: DashMap::new(),
            ids: Arc::new(AtomicU64::new(1)),
            metrics,
            all_paused: AtomicBool::new(false),
        }
    }

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
                let pool = Pool::new(key, spec, settings, self.ids.clone(), self.metrics.clone());
                if self.all_paused.load(Ordering::Acquire) {
                    pool.pause();
                }
                pool
            })
            .clone()
    }

    /// PAUSE / RESUME for every pool, present and future.
    pub fn set_all_paused(&self, paused: bool) {
        self.all_paused.store(paused, Ordering::Release);
        for p in self.pools.iter() {
            if paused {
                p.pause();
            } else {
                p.resume();
            }
        }
    }

    /// Every idle server connected to `database`, out of its pool (CREATE DATABASE with it
    /// as the template, or DROP DATABASE, needs no other session there). Servers in use stay.
    pub fn take_idle_to(&self, database: &str) -> Vec<Box<crate::server::ServerConnection>> {
        self.pools
            .iter()
            .filter(|p| p.key().database == database)
            .flat_map(|p| p.take_all_idle())
            .collect()
    }

    pub fn reap_all(&self) {
        for p in self.pools.iter() {
            p.reap();
        }
    }

    /// Every pool, ordered by key.
    pub fn list(&self) -> Vec<Arc<Pool>> {
        let mut v: Vec<_> = self.pools.iter().map(|p| p.clone()).collect();
        v.sort_by(|a, b| a.key().cmp(b.key()));
        v
    }

    /// Whether every pool serves `database` (and there is at least one).
    pub fn only_database(&self, database: &str) -> bool {
        let mut any = false;
        for p in self.pools.iter() {
            if p.key().database != database {
                return false;
            }
            any = true;
        }
        any
    }

    pub fn snapshot(&self) -> BTreeMap<PoolKey, PoolStats> {
        self.pools
            .iter()
            .map(|p| (p.key().clone(), p.stats()))
            .collect()
    }
}
