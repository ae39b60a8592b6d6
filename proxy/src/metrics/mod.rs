//! Prometheus metrics: lock-free counters and histograms the proxy updates as it works, and
//! the `/metrics` endpoint (`[admin] metrics`) that renders them, together with gauges read
//! from the live state (clients, servers, pools), in Prometheus' text format.
//!
//! Hooks for the session (cheap, callable per statement):
//! - [`Metrics::statement`]: one judged statement (decision, rule, duration, SQLSTATE); the
//!   audit sink calls it for every record it is handed;
//! - [`Metrics::masked_columns`]: output columns masked in a result;
//! - [`Metrics::policy_cache`]: whether a decision came from a cache.
//!
//! `histogram.rs`: a lock-free histogram; `exposition.rs`: the text a scrape gets (counters
//! plus gauges read from the live state); `http.rs`: the endpoint.

mod exposition;
mod histogram;
mod http;

pub use exposition::render;
pub use histogram::AtomicHistogram;
pub use http::{bind, serve};

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::exponential_buckets;

type Labels = Vec<(&'static str, String)>;

/// Decision counts by (decision, rule): `rule` is empty for allowed statements.
pub type DecisionKey = (&'static str, &'static str);

pub struct Metrics {
    /// Allowed statements (the hot path: one atomic add, no map).
    allowed: AtomicU64,
    /// Denied statements by rule.
    denied: DashMap<&'static str, AtomicU64>,
    errors: Family<Labels, Counter>,
    logins: Family<Labels, Counter>,
    query_duration: AtomicHistogram,
    pool_wait: AtomicHistogram,
    masked: Counter,
    cache_hits: Counter,
    cache_misses: Counter,
    cache_lookups: Family<Labels, Counter>,
    cancels: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            allowed: AtomicU64::new(0),
            denied: DashMap::new(),
            errors: Family::default(),
            logins: Family::default(),
            // 100 µs .. ~52 s
            query_duration: AtomicHistogram::new(exponential_buckets(0.0001, 2.0, 20)),
            // 10 µs .. ~5 s
            pool_wait: AtomicHistogram::new(exponential_buckets(0.00001, 2.0, 20)),
            masked: Counter::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            cache_lookups: Family::default(),
            cancels: Family::default(),
        }
    }
}

impl Metrics {
    /// One judged statement. `rule` is the denying rule (None when allowed); `sqlstate` the
    /// error it ended with, if any.
    pub fn statement(
        &self,
        denied_by: Option<&'static str>,
        duration: std::time::Duration,
        sqlstate: Option<&str>,
    ) {
        match denied_by {
            None => {
                self.allowed.fetch_add(1, Ordering::Relaxed);
            }
            Some(rule) => match self.denied.get(rule) {
                Some(c) => {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    self.denied
                        .entry(rule)
                        .or_insert_with(|| AtomicU64::new(0))
                        .fetch_add(1, Ordering::Relaxed);
                }
            },
        }
        if denied_by.is_none() {
            self.query_duration.observe(duration);
        }
        if let Some(code) = sqlstate {
            self.errors
                .get_or_create(&vec![("sqlstate", code.to_string())])
                .inc();
        }
    }

    pub fn masked_columns(&self, n: u64) {
        self.masked.inc_by(n);
    }

    pub fn policy_cache(&self, hit: bool) {
        let (counter, result) = if hit {
            (&self.cache_hits, "hit")
        } else {
            (&self.cache_misses, "miss")
        };
        counter.inc();
        self.cache_lookups
            .get_or_create(&vec![("result", result.to_string())])
            .inc();
    }

    /// A login attempt: `result` is "ok" or a failure reason such as "wrong_password".
    pub fn login(&self, result: &'static str) {
        self.logins
            .get_or_create(&vec![("result", result.to_string())])
            .inc();
    }

    /// A cancel request: "local", "forwarded" or "unknown".
    pub fn cancel(&self, outcome: &'static str) {
        self.cancels
            .get_or_create(&vec![("outcome", outcome.to_string())])
            .inc();
    }

    pub fn pool_wait(&self, waited: std::time::Duration) {
        self.pool_wait.observe(waited);
    }

    /// Statements by (decision, rule) since start, sorted (allowed ones only once any ran).
    pub fn decisions(&self) -> Vec<(DecisionKey, u64)> {
        let mut v: Vec<_> = self
            .denied
            .iter()
            .map(|e| (("denied", *e.key()), e.value().load(Ordering::Relaxed)))
            .collect();
        let allowed = self.allowed.load(Ordering::Relaxed);
        if allowed > 0 {
            v.push((("allowed", ""), allowed));
        }
        v.sort();
        v
    }
}
