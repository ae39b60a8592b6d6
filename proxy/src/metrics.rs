//! Prometheus metrics: lock-free counters and histograms the proxy updates as it works, and
//! the `/metrics` endpoint (`[admin] metrics`) that renders them, together with gauges read
//! from the live state (clients, servers, pools), in Prometheus' text format.
//!
//! Hooks for the session (cheap, callable per statement):
//! - [`Metrics::statement`]: one judged statement (decision, rule, duration, SQLSTATE); the
//!   audit sink calls it for every record it is handed;
//! - [`Metrics::masked_columns`]: output columns masked in a result;
//! - [`Metrics::policy_cache`]: whether a decision came from a cache.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;
use http_body_util::Full;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::MetricEncoder;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::shared::Shared;

type Labels = Vec<(&'static str, String)>;

/// A histogram updated with atomics only: the crate's own takes a lock per observation, and
/// these are observed per statement and per checkout.
#[derive(Clone, Debug)]
pub struct AtomicHistogram(Arc<HistogramCells>);

#[derive(Debug)]
pub struct HistogramCells {
    bounds: Vec<f64>,
    /// One per bound, plus +Inf.
    counts: Vec<AtomicU64>,
    sum_ns: AtomicU64,
}

impl AtomicHistogram {
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> AtomicHistogram {
        let bounds: Vec<f64> = bounds.into_iter().collect();
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        AtomicHistogram(Arc::new(HistogramCells {
            bounds,
            counts,
            sum_ns: AtomicU64::new(0),
        }))
    }

    pub fn observe(&self, d: std::time::Duration) {
        let cells = &self.0;
        let secs = d.as_secs_f64();
        let i = cells.bounds.partition_point(|b| *b < secs);
        if let Some(c) = cells.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        cells.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let cells = &self.0;
        let mut buckets: Vec<(f64, u64)> = Vec::with_capacity(cells.counts.len());
        for (i, c) in cells.counts.iter().enumerate() {
            let bound = cells.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, c.load(Ordering::Relaxed)));
        }
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = cells.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        encoder
            .encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Decision counts by (decision, rule): `rule` is empty for allowed statements.
pub type DecisionKey = (&'static str, &'static str);

pub struct Metrics {
    decisions: DashMap<DecisionKey, AtomicU64>,
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
            decisions: DashMap::new(),
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
        let key = match denied_by {
            Some(rule) => ("denied", rule),
            None => ("allowed", ""),
        };
        match self.decisions.get(&key) {
            Some(c) => {
                c.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                self.decisions
                    .entry(key)
                    .or_insert_with(|| AtomicU64::new(0))
                    .fetch_add(1, Ordering::Relaxed);
            }
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

    /// Statements by (decision, rule) since start, sorted.
    pub fn decisions(&self) -> Vec<(DecisionKey, u64)> {
        let mut v: Vec<_> = self
            .decisions
            .iter()
            .map(|e| (*e.key(), e.value().load(Ordering::Relaxed)))
            .collect();
        v.sort();
        v
    }
}

/// Values read from the live state at scrape time.
#[derive(Debug, Default)]
struct Live {
    clients: Vec<(&'static str, i64)>,
    servers: Vec<(&'static str, i64)>,
    pinned: i64,
    decisions: Vec<(DecisionKey, u64)>,
    bytes_received: u64,
    bytes_sent: u64,
    cache_entries: i64,
    cache_hit_ratio: Option<f64>,
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        gauge_family(
            &mut encoder,
            "clients",
            "Logged-in clients by state",
            &self.clients,
        )?;
        gauge_family(
            &mut encoder,
            "servers",
            "Server connections by state",
            &self.servers,
        )?;
        let pinned = ConstGauge::new(self.pinned);
        pinned.encode(encoder.encode_descriptor(
            "pinned_clients",
            "Clients holding a server outside a transaction (session mode or session state)",
            None,
            pinned.metric_type(),
        )?)?;
        let mut m = encoder.encode_descriptor(
            "statements",
            "Statements judged, by decision and rule",
            None,
            MetricType::Counter,
        )?;
        for ((decision, rule), n) in &self.decisions {
            let labels: Labels = vec![
                ("decision", decision.to_string()),
                ("rule", rule.to_string()),
            ];
            ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
        }
        let c = ConstCounter::new(self.bytes_received);
        c.encode(encoder.encode_descriptor(
            "client_received_bytes",
            "Bytes received from clients (TCP)",
            None,
            c.metric_type(),
        )?)?;
        let c = ConstCounter::new(self.bytes_sent);
        c.encode(encoder.encode_descriptor(
            "client_sent_bytes",
            "Bytes sent to clients (TCP, acknowledged)",
            None,
            c.metric_type(),
        )?)?;
        let g = ConstGauge::new(self.cache_entries);
        g.encode(encoder.encode_descriptor(
            "policy_cache_entries",
            "Decisions held in the policy cache",
            None,
            g.metric_type(),
        )?)?;
        // Only once the session reports lookups (Metrics::policy_cache): a ratio of nothing
        // would read as "never hits".
        if let Some(ratio) = self.cache_hit_ratio {
            let g = ConstGauge::new(ratio);
            g.encode(encoder.encode_descriptor(
                "policy_cache_hit_ratio",
                "Share of decisions served from a cache since start",
                None,
                g.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

fn gauge_family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: &[(&'static str, i64)],
) -> Result<(), std::fmt::Error> {
    let mut m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (state, n) in values {
        let labels: Labels = vec![("state", state.to_string())];
        ConstGauge::new(*n).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The whole exposition, as `/metrics` serves it.
pub fn render(shared: &Shared) -> String {
    let m = &shared.metrics;
    let mut clients = [("active", 0i64), ("waiting", 0), ("idle", 0)];
    let mut pinned = 0;
    for c in shared.clients.list() {
        let i = match c.state() {
            crate::clients::ClientState::Active => 0,
            crate::clients::ClientState::Waiting => 1,
            crate::clients::ClientState::Idle => 2,
        };
        clients[i].1 += 1;
        pinned += i64::from(c.pin_reason().is_some());
    }
    let (mut active, mut idle) = (0i64, 0i64);
    for p in shared.pools.list() {
        let s = p.stats();
        active += s.active as i64;
        idle += s.idle as i64;
    }
    let bytes = shared.clients.total_bytes();
    let hits = m.cache_hits.get();
    let lookups = hits + m.cache_misses.get();
    let live = Live {
        clients: clients.to_vec(),
        servers: vec![("active", active), ("idle", idle)],
        pinned,
        decisions: m.decisions(),
        bytes_received: bytes.received,
        bytes_sent: bytes.sent,
        cache_entries: shared.snapshot().engine.cached_decisions() as i64,
        cache_hit_ratio: (lookups > 0).then(|| hits as f64 / lookups as f64),
    };
    let mut registry = Registry::with_prefix("pgward");
    registry.register_collector(Box::new(live));
    registry.register(
        "errors",
        "Statements that ended with an error, by SQLSTATE",
        m.errors.clone(),
    );
    registry.register("logins", "Login attempts by result", m.logins.clone());
    registry.register(
        "cancel_requests",
        "Cancel requests by outcome",
        m.cancels.clone(),
    );
    registry.register(
        "query_duration_seconds",
        "Duration of allowed statements",
        m.query_duration.clone(),
    );
    registry.register(
        "pool_wait_seconds",
        "Time clients waited for a server connection",
        m.pool_wait.clone(),
    );
    registry.register("masked_columns", "Output columns masked", m.masked.clone());
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
        tracing::error!(error = %e, "cannot encode metrics");
    }
    out
}

/// Serve `/metrics` on `addr` until `stop` flips.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((tcp, _)) = accepted else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(respond(&shared, &req)) }
            });
            let io = hyper_util::rt::TokioIo::new(tcp);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
        });
    }
}

fn respond<B>(shared: &Shared, req: &hyper::Request<B>) -> hyper::Response<Full<Bytes>> {
    let (status, content_type, body) = if req.uri().path() == "/metrics" {
        (
            hyper::StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            render(shared),
        )
    } else {
        (
            hyper::StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: try /metrics\n".to_string(),
        )
    };
    let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

/// Bind the metrics address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn atomic_histogram_buckets_and_sum() {
        let h = AtomicHistogram::new([0.001, 0.01, 0.1]);
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_secs(2));
        let counts: Vec<u64> =
            h.0.counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect();
        assert_eq!(counts, vec![1, 2, 0, 1]);
        let mut registry = Registry::default();
        registry.register("wait_seconds", "test", h);
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).unwrap();
        assert!(out.contains("wait_seconds_bucket{le=\"0.01\"} 3"), "{out}");
        assert!(out.contains("wait_seconds_bucket{le=\"+Inf\"} 4"), "{out}");
        assert!(out.contains("wait_seconds_count 4"), "{out}");
        assert!(out.contains("wait_seconds_sum 2.0105"), "{out}");
    }
}
