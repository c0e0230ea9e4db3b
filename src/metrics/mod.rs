//! Metrics under ZooKeeper's names and types, so that ZooKeeper's Grafana dashboards and alert
//! rules work against Keeper unchanged.
//!
//! ZooKeeper 3.8 keeps three kinds (its `ServerMetrics` and `PrometheusMetricsProvider`):
//! counters, summaries (count, sum and quantiles over a sliding window: the median for
//! "basic" ones, 0.5 / 0.9 / 0.99 for "advanced" ones) and summary sets (one summary per
//! `key` label, e.g. per learner). Gauges (znode_count, ...) are sampled when scraped. The same
//! figures feed `mntr` in the shape of ZooKeeper's default provider (`zk_avg_fsynctime`, ...).
//!
//! Every figure here is bounded in memory: a summary's quantiles come from a log-linear
//! histogram (two significant digits) per age bucket, whatever the number of samples.

pub mod http;
mod server;

pub use server::{ServerMetrics, SERVER};

use hdrhistogram::Histogram;
use prometheus::proto::{
    Counter as PCounter, Gauge as PGauge, LabelPair, Metric, MetricFamily, MetricType, Quantile,
    Summary as PSummary,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How much of a summary's distribution its quantiles show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The median only.
    Basic,
    /// 0.5, 0.9 and 0.99 (and p50..p999 in mntr).
    Advanced,
}

/// A monotonic count.
pub struct Counter {
    pub name: &'static str,
    help: &'static str,
    v: AtomicU64,
}

impl Counter {
    pub const fn new(name: &'static str, help: &'static str) -> Counter {
        Counter {
            name,
            help,
            v: AtomicU64::new(0),
        }
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.v.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.v.load(Ordering::Relaxed)
    }

    fn family(&self) -> MetricFamily {
        let mut c = PCounter::default();
        c.set_value(self.get() as f64);
        let mut m = Metric::default();
        m.set_counter(c);
        family(self.name, self.help, MetricType::COUNTER, vec![m])
    }
}

/// The quantiles' window: as Prometheus's Java client by default (which ZooKeeper uses),
/// the last 10 minutes in 5 age buckets.
const AGE_BUCKETS: usize = 5;
const MAX_AGE: Duration = Duration::from_secs(600);

/// One distribution: all-time count, sum, min and max, and windowed quantiles.
struct Window {
    count: u64,
    sum: u64,
    min: u64,
    max: u64,
    /// Ring of histograms, each covering MAX_AGE / AGE_BUCKETS; made on first use.
    ages: Vec<Histogram<u64>>,
    current: usize,
    rotated: Instant,
}

impl Window {
    fn new() -> Window {
        Window {
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
            ages: Vec::new(),
            current: 0,
            rotated: Instant::now(),
        }
    }

    fn rotate(&mut self, now: Instant) {
        let step = MAX_AGE / AGE_BUCKETS as u32;
        while now.duration_since(self.rotated) >= step {
            self.rotated += step;
            self.current = (self.current + 1) % AGE_BUCKETS;
            if let Some(h) = self.ages.get_mut(self.current) {
                h.reset();
            }
            if self.ages.is_empty() {
                // Nothing recorded yet: no history to age out.
                self.rotated = now;
                break;
            }
        }
    }

    fn add(&mut self, v: u64, now: Instant) {
        self.count += 1;
        self.sum = self.sum.saturating_add(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.rotate(now);
        if self.ages.is_empty() {
            self.ages = (0..AGE_BUCKETS)
                .map(|_| Histogram::new(2).expect("two significant digits are valid"))
                .collect();
        }
        // Auto-resizing histograms take any u64.
        let _ = self.ages[self.current].record(v);
    }

    /// Values at the given quantiles over the window (NaN when it is empty, as Prometheus's
    /// Java client reports).
    fn quantiles(&mut self, qs: &[f64]) -> Vec<f64> {
        self.rotate(Instant::now());
        let mut merged: Option<Histogram<u64>> = None;
        for h in &self.ages {
            match &mut merged {
                None => merged = Some(h.clone()),
                Some(m) => {
                    let _ = m.add(h);
                }
            }
        }
        qs.iter()
            .map(|q| match &merged {
                Some(m) if !m.is_empty() => m.value_at_quantile(*q) as f64,
                _ => f64::NAN,
            })
            .collect()
    }

    fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            // ZooKeeper rounds to 4 decimals, half up.
            (self.sum as f64 / self.count as f64 * 10000.0).round() / 10000.0
        }
    }

    fn mntr_rows(&mut self, name: &str, detail: Detail, out: &mut Vec<(String, String)>) {
        out.push((
            format!("zk_avg_{name}"),
            crate::fourlw::java_double(self.avg()),
        ));
        let min = if self.count == 0 { 0 } else { self.min };
        out.push((format!("zk_min_{name}"), min.to_string()));
        out.push((format!("zk_max_{name}"), self.max.to_string()));
        out.push((format!("zk_cnt_{name}"), self.count.to_string()));
        out.push((format!("zk_sum_{name}"), self.sum.to_string()));
        if detail == Detail::Advanced {
            let q = self.quantiles(&[0.5, 0.95, 0.99, 0.999]);
            for (label, v) in ["p50", "p95", "p99", "p999"].iter().zip(q) {
                let v = if v.is_nan() { 0 } else { v as u64 };
                out.push((format!("zk_{label}_{name}"), v.to_string()));
            }
        }
    }

    fn metric(&mut self, detail: Detail, labels: Vec<LabelPair>) -> Metric {
        let qs: &[f64] = match detail {
            Detail::Basic => &[0.5],
            Detail::Advanced => &[0.5, 0.9, 0.99],
        };
        let values = self.quantiles(qs);
        let mut s = PSummary::default();
        s.set_sample_count(self.count);
        s.set_sample_sum(self.sum as f64);
        s.set_quantile(
            qs.iter()
                .zip(values)
                .map(|(q, v)| {
                    let mut x = Quantile::default();
                    x.set_quantile(*q);
                    x.set_value(v);
                    x
                })
                .collect(),
        );
        let mut m = Metric::from_label(labels);
        m.set_summary(s);
        m
    }
}

/// A distribution of values (milliseconds, sizes, counts), as ZooKeeper's `Summary`.
pub struct Summary {
    pub name: &'static str,
    help: &'static str,
    detail: Detail,
    w: Mutex<Option<Window>>,
}

impl Summary {
    pub const fn new(name: &'static str, help: &'static str, detail: Detail) -> Summary {
        Summary {
            name,
            help,
            detail,
            w: Mutex::new(None),
        }
    }

    pub fn add(&self, v: u64) {
        self.add_all(&[v]);
    }

    /// Several values under one lock (see [`Buffered`]).
    pub fn add_all(&self, vs: &[u64]) {
        let now = Instant::now();
        let mut g = self.w.lock().unwrap_or_else(|e| e.into_inner());
        let w = g.get_or_insert_with(Window::new);
        for v in vs {
            w.add(*v, now);
        }
    }

    /// (count, sum) so far.
    pub fn totals(&self) -> (u64, u64) {
        let g = self.w.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref().map_or((0, 0), |w| (w.count, w.sum))
    }

    fn with<R>(&self, f: impl FnOnce(&mut Window) -> R) -> R {
        let mut g = self.w.lock().unwrap_or_else(|e| e.into_inner());
        f(g.get_or_insert_with(Window::new))
    }

    fn family(&self) -> MetricFamily {
        let m = self.with(|w| w.metric(self.detail, Vec::new()));
        family(self.name, self.help, MetricType::SUMMARY, vec![m])
    }

    fn mntr_rows(&self, out: &mut Vec<(String, String)>) {
        self.with(|w| w.mntr_rows(self.name, self.detail, out));
    }
}

/// Summaries by a `key` label, as ZooKeeper's `SummarySet` (e.g. ACK latency per learner).
/// Keys are few and come from the configuration (server ids), never from clients.
pub struct SummarySet {
    pub name: &'static str,
    help: &'static str,
    detail: Detail,
    sets: Mutex<BTreeMap<String, Window>>,
}

/// Most keys a summary set holds; past it new keys are not recorded (a bound, not a limit any
/// ensemble reaches: keys are member ids).
const MAX_KEYS: usize = 256;

impl SummarySet {
    pub const fn new(name: &'static str, help: &'static str, detail: Detail) -> SummarySet {
        SummarySet {
            name,
            help,
            detail,
            sets: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn add(&self, key: &str, v: u64) {
        let now = Instant::now();
        let mut g = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        if !g.contains_key(key) && g.len() >= MAX_KEYS {
            return;
        }
        g.entry(key.to_string())
            .or_insert_with(Window::new)
            .add(v, now);
    }

    fn family(&self) -> Option<MetricFamily> {
        let mut g = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_empty() {
            return None;
        }
        let ms = g
            .iter_mut()
            .map(|(k, w)| w.metric(self.detail, vec![label("key", k)]))
            .collect();
        Some(family(self.name, self.help, MetricType::SUMMARY, ms))
    }

    fn mntr_rows(&self, out: &mut Vec<(String, String)>) {
        let mut g = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        for (k, w) in g.iter_mut() {
            w.mntr_rows(&format!("{k}_{}", self.name), self.detail, out);
        }
    }
}

/// Values gathered by one thread and handed to a shared [`Summary`] in batches: for figures
/// recorded per request on a hot thread (read and update latency), one lock per batch instead
/// of one per request. The owner calls [`Buffered::flush`] now and then (the tree does on its
/// tick) so that a quiet server's figures are current too.
pub struct Buffered {
    target: &'static Summary,
    buf: Vec<u64>,
}

const BUFFERED: usize = 256;

impl Buffered {
    pub fn new(target: &'static Summary) -> Buffered {
        Buffered {
            target,
            buf: Vec::new(),
        }
    }

    pub fn add(&mut self, v: u64) {
        self.buf.push(v);
        if self.buf.len() >= BUFFERED {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if !self.buf.is_empty() {
            self.target.add_all(&self.buf);
            self.buf.clear();
        }
    }
}

impl Drop for Buffered {
    fn drop(&mut self) {
        self.flush();
    }
}

pub fn label(name: &str, value: &str) -> LabelPair {
    let mut l = LabelPair::default();
    l.set_name(name.to_string());
    l.set_value(value.to_string());
    l
}

fn family(name: &str, help: &str, ty: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(ty);
    f.set_metric(metrics);
    f
}

/// A gauge family of one unlabelled value.
pub fn gauge(name: &str, help: &str, v: f64) -> MetricFamily {
    gauge_with(name, help, vec![(Vec::new(), v)])
}

/// A gauge family with labelled values.
pub fn gauge_with(name: &str, help: &str, values: Vec<(Vec<LabelPair>, f64)>) -> MetricFamily {
    let ms = values
        .into_iter()
        .map(|(labels, v)| {
            let mut g = PGauge::default();
            g.set_value(v);
            let mut m = Metric::from_label(labels);
            m.set_gauge(g);
            m
        })
        .collect();
    family(name, help, MetricType::GAUGE, ms)
}

/// A counter family sampled from elsewhere (e.g. the process's CPU seconds).
pub fn counter(name: &str, help: &str, v: f64) -> MetricFamily {
    let mut c = PCounter::default();
    c.set_value(v);
    let mut m = Metric::default();
    m.set_counter(c);
    family(name, help, MetricType::COUNTER, vec![m])
}

/// The text exposition format of these families (Prometheus's encoder writes it).
pub fn encode(families: &[MetricFamily]) -> String {
    use prometheus::Encoder;
    let mut out = Vec::new();
    if let Err(e) = prometheus::TextEncoder::new().encode(families, &mut out) {
        tracing::warn!("encoding the metrics failed: {e}");
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_reports_count_sum_and_quantiles_in_zookeepers_shape() {
        static S: Summary = Summary::new("fsynctime", "fsync time", Detail::Basic);
        for v in 1..=100 {
            S.add(v);
        }
        let text = encode(&[S.family()]);
        assert!(text.contains("# TYPE fsynctime summary"), "{text}");
        assert!(text.contains("fsynctime{quantile=\"0.5\"} 50"), "{text}");
        assert!(text.contains("fsynctime_sum 5050"), "{text}");
        assert!(text.contains("fsynctime_count 100"), "{text}");
        let mut rows = Vec::new();
        S.mntr_rows(&mut rows);
        let get = |k: &str| rows.iter().find(|r| r.0 == k).map(|r| r.1.clone());
        assert_eq!(get("zk_avg_fsynctime").as_deref(), Some("50.5"));
        assert_eq!(get("zk_min_fsynctime").as_deref(), Some("1"));
        assert_eq!(get("zk_max_fsynctime").as_deref(), Some("100"));
        assert_eq!(get("zk_cnt_fsynctime").as_deref(), Some("100"));
        assert_eq!(get("zk_sum_fsynctime").as_deref(), Some("5050"));
        assert_eq!(
            get("zk_p50_fsynctime"),
            None,
            "basic summaries have no percentiles"
        );
    }

    #[test]
    fn advanced_summaries_and_sets_show_more_quantiles_and_their_key() {
        static S: SummarySet = SummarySet::new("ack_latency", "ack latency", Detail::Advanced);
        S.add("2", 3);
        S.add("3", 7);
        let text = encode(&[S.family().unwrap()]);
        assert!(
            text.contains("ack_latency{key=\"2\",quantile=\"0.99\"} 3"),
            "{text}"
        );
        assert!(text.contains("ack_latency_count{key=\"3\"} 1"), "{text}");
        let mut rows = Vec::new();
        S.mntr_rows(&mut rows);
        assert!(rows.contains(&("zk_p99_3_ack_latency".into(), "7".into())));
    }

    #[test]
    fn an_empty_summary_has_nan_quantiles_and_zero_figures() {
        static S: Summary = Summary::new("snapshottime", "", Detail::Basic);
        let text = encode(&[S.family()]);
        assert!(
            text.contains("snapshottime{quantile=\"0.5\"} NaN"),
            "{text}"
        );
        assert!(text.contains("snapshottime_count 0"), "{text}");
    }

    #[test]
    fn old_samples_leave_the_quantile_window_but_not_the_totals() {
        let mut w = Window::new();
        let t0 = Instant::now();
        w.add(1000, t0);
        w.rotated = t0 - MAX_AGE; // as if the sample were 10 minutes old
        w.add(5, t0);
        // The ring turned over: only the fresh sample remains in the quantiles.
        assert_eq!(w.quantiles(&[0.99]), vec![5.0]);
        assert_eq!((w.count, w.sum, w.max), (2, 1005, 1000));
    }

    #[test]
    fn buffered_values_reach_the_summary_when_flushed() {
        static S: Summary = Summary::new("readlatency", "", Detail::Advanced);
        let mut b = Buffered::new(&S);
        b.add(4);
        assert_eq!(S.totals(), (0, 0));
        b.flush();
        assert_eq!(S.totals(), (1, 4));
    }
}
