//! Latency histograms, error counts, the summary maths and the report (pure).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Highest latency recorded, in microseconds (one hour); larger values saturate.
const MAX_MICROS: u64 = 3_600_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

/// What one client (or the whole run, after merging) measured.
#[derive(Debug, Clone)]
pub struct Stats {
    /// All counted ops of the run (for `watch`: rounds, by notification latency).
    pub all: Histogram<u64>,
    /// By op name (read, write, create, delete, notify).
    pub by_op: BTreeMap<&'static str, Histogram<u64>>,
    /// Errors inside the measured window, by name.
    pub errors: BTreeMap<String, u64>,
    /// Errors during the warm-up, by name (not in the figures, reported apart).
    pub warmup_errors: BTreeMap<String, u64>,
    /// Watch notifications received in counted rounds.
    pub notifications: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            all: new_histogram(),
            by_op: BTreeMap::new(),
            errors: BTreeMap::new(),
            warmup_errors: BTreeMap::new(),
            notifications: 0,
        }
    }
}

impl Stats {
    /// Record one counted op: in the overall histogram and in its op's.
    pub fn record(&mut self, op: &'static str, micros: u64) {
        self.all.saturating_record(micros.max(1));
        self.record_op_only(op, micros);
    }

    /// Record an op only in its own histogram (e.g. the writes of a watch round).
    pub fn record_op_only(&mut self, op: &'static str, micros: u64) {
        self.by_op
            .entry(op)
            .or_insert_with(new_histogram)
            .saturating_record(micros.max(1));
    }

    pub fn error(&mut self, name: &str, in_window: bool, n: u64) {
        if n == 0 {
            return;
        }
        let map = if in_window {
            &mut self.errors
        } else {
            &mut self.warmup_errors
        };
        *map.entry(name.to_string()).or_insert(0) += n;
    }

    pub fn merge(&mut self, other: &Stats) {
        self.all.add(&other.all).expect("same histogram bounds");
        for (k, h) in &other.by_op {
            self.by_op
                .entry(k)
                .or_insert_with(new_histogram)
                .add(h)
                .expect("same histogram bounds");
        }
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &other.warmup_errors {
            *self.warmup_errors.entry(k.clone()).or_insert(0) += v;
        }
        self.notifications += other.notifications;
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

pub fn summarize(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary::default();
    }
    LatencySummary {
        min: h.min(),
        mean: (h.mean() * 10.0).round() / 10.0,
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpSummary {
    pub ops: u64,
    pub ops_per_sec: f64,
    pub latency_us: LatencySummary,
}

/// How the run was set up, for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    pub workload: String,
    pub targets: Vec<String>,
    pub clients: usize,
    pub outstanding: usize,
    pub value_size: usize,
    pub warmup_secs: f64,
    /// The measured window actually elapsed (normally the configured duration).
    pub duration_secs: f64,
}

/// The result of a run, as printed with `--json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub workload: String,
    pub targets: Vec<String>,
    pub clients: usize,
    pub outstanding: usize,
    pub value_size: usize,
    pub warmup_secs: f64,
    pub duration_secs: f64,
    /// Counted ops in the measured window (for `watch`: completed rounds).
    pub ops: u64,
    pub ops_per_sec: f64,
    /// Latency of the counted ops (for `watch`: write reply until the last session was notified).
    pub latency_us: LatencySummary,
    pub by_op: BTreeMap<String, OpSummary>,
    /// Errors in the measured window.
    pub errors: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    pub warmup_errors: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<u64>,
}

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        ((n as f64 / secs) * 10.0).round() / 10.0
    } else {
        0.0
    }
}

pub fn build_report(info: &RunInfo, stats: &Stats, watch: bool) -> Report {
    let ops = stats.all.len();
    Report {
        workload: info.workload.clone(),
        targets: info.targets.clone(),
        clients: info.clients,
        outstanding: info.outstanding,
        value_size: info.value_size,
        warmup_secs: info.warmup_secs,
        duration_secs: (info.duration_secs * 1000.0).round() / 1000.0,
        ops,
        ops_per_sec: rate(ops, info.duration_secs),
        latency_us: summarize(&stats.all),
        by_op: stats
            .by_op
            .iter()
            .map(|(k, h)| {
                (
                    k.to_string(),
                    OpSummary {
                        ops: h.len(),
                        ops_per_sec: rate(h.len(), info.duration_secs),
                        latency_us: summarize(h),
                    },
                )
            })
            .collect(),
        errors: stats.errors.values().sum(),
        errors_by_code: stats.errors.clone(),
        warmup_errors: stats.warmup_errors.values().sum(),
        rounds: watch.then_some(ops),
        notifications: watch.then_some(stats.notifications),
    }
}

fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

fn errors_line(total: u64, by: &BTreeMap<String, u64>) -> String {
    if total == 0 {
        return "0".into();
    }
    let parts: Vec<String> = by.iter().map(|(k, v)| format!("{k} x{v}")).collect();
    format!("{total}: {}", parts.join(", "))
}

/// The human-readable result.
pub fn render_table(r: &Report) -> String {
    let watch = r.rounds.is_some();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "keeper bench: workload {} against {}",
        r.workload,
        r.targets.join(",")
    );
    if watch {
        let _ = writeln!(
            s,
            "  {} watching sessions + 1 writer, {}-byte values, {:.1} s measured after {:.1} s warm-up",
            r.clients, r.value_size, r.duration_secs, r.warmup_secs
        );
    } else {
        let _ = writeln!(
            s,
            "  {} clients x {} outstanding, {}-byte values, {:.1} s measured after {:.1} s warm-up",
            r.clients, r.outstanding, r.value_size, r.duration_secs, r.warmup_secs
        );
    }
    let _ = writeln!(s);
    let header = [
        "op", "ops", "ops/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms",
    ];
    let mut rows: Vec<[String; 7]> = Vec::new();
    let row = |name: &str, ops: u64, rate: f64, l: &LatencySummary| -> [String; 7] {
        [
            name.to_string(),
            ops.to_string(),
            format!("{rate:.1}"),
            ms(l.p50),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
        ]
    };
    rows.push(row(
        if watch { "round" } else { "all" },
        r.ops,
        r.ops_per_sec,
        &r.latency_us,
    ));
    let show_ops = watch || r.by_op.len() > 1;
    if show_ops {
        // For watch, "notify" is the round row itself.
        for (k, o) in r
            .by_op
            .iter()
            .filter(|(k, _)| !(watch && k.as_str() == "notify"))
        {
            rows.push(row(k, o.ops, o.ops_per_sec, &o.latency_us));
        }
    }
    let mut widths = header.map(|h| h.len());
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let fmt_row = |cells: &[String]| -> String {
        let mut line = String::from(" ");
        for (i, c) in cells.iter().enumerate() {
            if i == 0 {
                let _ = write!(line, " {:<w$}", c, w = widths[i]);
            } else {
                let _ = write!(line, "  {:>w$}", c, w = widths[i]);
            }
        }
        line
    };
    let _ = writeln!(s, "{}", fmt_row(&header.map(String::from)));
    for r in &rows {
        let _ = writeln!(s, "{}", fmt_row(r));
    }
    let _ = writeln!(s);
    if watch {
        let _ = writeln!(
            s,
            "  round: write reply until every session was notified; notifications {}",
            r.notifications.unwrap_or(0)
        );
    }
    let _ = writeln!(s, "  errors {}", errors_line(r.errors, &r.errors_by_code));
    if r.warmup_errors > 0 {
        let _ = writeln!(
            s,
            "  errors during warm-up (not counted above) {}",
            r.warmup_errors
        );
    }
    s
}

/// The once-a-second progress line on stderr.
pub fn progress_line(
    elapsed_secs: f64,
    warming_up: bool,
    ops_in_last: u64,
    secs_in_last: f64,
    errors: u64,
) -> String {
    format!(
        "keeper bench: {:>5.1}s {:<8} {:>10.0} ops/s  errors {}",
        elapsed_secs,
        if warming_up { "warm-up" } else { "running" },
        if secs_in_last > 0.0 {
            ops_in_last as f64 / secs_in_last
        } else {
            0.0
        },
        errors
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RunInfo {
        RunInfo {
            workload: "mixed:50".into(),
            targets: vec!["127.0.0.1:2181".into()],
            clients: 2,
            outstanding: 4,
            value_size: 100,
            warmup_secs: 1.0,
            duration_secs: 2.0,
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v).unwrap();
        }
        let s = summarize(&h);
        assert_eq!(s.min, 1);
        assert_eq!(s.max, 1000);
        assert_eq!(s.p50, 500);
        assert_eq!(s.p90, 900);
        assert_eq!(s.p99, 990);
        assert_eq!(s.p999, 999);
        assert!((s.mean - 500.5).abs() < 0.2);
        assert_eq!(summarize(&new_histogram()), LatencySummary::default());
    }

    #[test]
    fn merge_adds_histograms_and_errors() {
        let mut a = Stats::default();
        a.record("read", 100);
        a.error("NoNode(-101)", true, 2);
        a.error("ConnectionLoss(-4)", false, 1);
        let mut b = Stats::default();
        b.record("write", 300);
        b.record("read", 200);
        b.error("NoNode(-101)", true, 1);
        b.error("Ignored", true, 0);
        b.notifications = 4;
        a.merge(&b);
        assert_eq!(a.all.len(), 3);
        assert_eq!(a.by_op["read"].len(), 2);
        assert_eq!(a.by_op["write"].len(), 1);
        assert_eq!(a.errors["NoNode(-101)"], 3);
        assert!(!a.errors.contains_key("Ignored"));
        assert_eq!(a.warmup_errors["ConnectionLoss(-4)"], 1);
        assert_eq!(a.notifications, 4);
    }

    #[test]
    fn report_rates_and_json_round_trip() {
        let mut s = Stats::default();
        for _ in 0..10 {
            s.record("read", 1000);
        }
        for _ in 0..30 {
            s.record("write", 3000);
        }
        s.error("BadVersion(-103)", true, 1);
        let r = build_report(&info(), &s, false);
        assert_eq!(r.ops, 40);
        assert_eq!(r.ops_per_sec, 20.0);
        assert_eq!(r.by_op["write"].ops_per_sec, 15.0);
        assert_eq!(r.errors, 1);
        assert_eq!(r.rounds, None);
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("rounds"));
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["latency_us"]["p99"], 3001);
        assert_eq!(v["errors_by_code"]["BadVersion(-103)"], 1);
    }

    #[test]
    fn zero_duration_does_not_divide_by_zero() {
        let mut i = info();
        i.duration_secs = 0.0;
        let r = build_report(&i, &Stats::default(), true);
        assert_eq!(r.ops_per_sec, 0.0);
        assert_eq!(r.rounds, Some(0));
        assert_eq!(r.notifications, Some(0));
    }

    #[test]
    fn table_lists_ops_and_errors() {
        let mut s = Stats::default();
        s.record("read", 1500);
        s.record("write", 2500);
        s.error("ConnectionLoss(-4)", true, 2);
        let t = render_table(&build_report(&info(), &s, false));
        assert!(
            t.contains("workload mixed:50 against 127.0.0.1:2181"),
            "{t}"
        );
        assert!(t.contains("2 clients x 4 outstanding"), "{t}");
        let all = t
            .lines()
            .find(|l| l.trim_start().starts_with("all"))
            .unwrap();
        assert!(all.contains(" 2 ") && all.contains("1.0"), "{all}");
        assert!(t.lines().any(|l| l.trim_start().starts_with("read")), "{t}");
        assert!(t.contains("errors 2: ConnectionLoss(-4) x2"), "{t}");
        let single = {
            let mut s = Stats::default();
            s.record("write", 10);
            render_table(&build_report(&info(), &s, false))
        };
        assert!(
            !single.lines().any(|l| l.trim_start().starts_with("write")),
            "{single}"
        );
        assert!(single.contains("errors 0"));
    }

    #[test]
    fn progress() {
        let l = progress_line(3.0, false, 500, 0.5, 2);
        assert!(
            l.contains("1000 ops/s") && l.contains("running") && l.contains("errors 2"),
            "{l}"
        );
        assert!(progress_line(0.5, true, 0, 0.0, 0).contains("warm-up"));
    }
}
