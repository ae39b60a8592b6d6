//! A histogram updated with atomics only, encoded by prometheus-client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;

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

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;
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
