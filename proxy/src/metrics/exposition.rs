//! The exposition a scrape gets: the counters and histograms, and gauges read from the live
//! state (clients, servers, pools, the policy cache) at scrape time.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::{DecisionKey, Labels};
use crate::shared::Shared;

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
