//! `keeper bench`: a load generator that speaks the ZooKeeper client protocol over raw TCP
//! (pipelined, async), so it measures Keeper and Apache ZooKeeper alike.
//!
//! - `proto`     pure request frames and reply parsing (on `codec::jute`)
//! - `workload`  pure workload names and the choice of the next op
//! - `stats`     pure histograms, percentiles, the report and its table
//! - `conn`      thin IO: a TCP connection with a session
//! - `run`       the load: pipelined clients, the watch fan-out, setup and teardown
pub mod conn;
pub mod proto;
pub mod run;
pub mod stats;
pub mod workload;

use clap::Parser;
use run::{Live, Plan};
use stats::{build_report, progress_line, render_table, RunInfo, Stats};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use workload::Workload;

/// Grace after the measured window for replies still in flight.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// Extra time after the drain before stuck tasks are abandoned.
const HARD_GRACE: Duration = Duration::from_secs(2);
/// Bound on setup and on teardown.
const ADMIN_LIMIT: Duration = Duration::from_secs(15);
const TEARDOWN_LIMIT: Duration = Duration::from_secs(3);

#[derive(Parser, Debug, Clone)]
#[command(
    name = "keeper bench",
    about = "Load generator for ZooKeeper-protocol servers (Keeper or Apache ZooKeeper)",
    after_help = "Workloads:\n  write          setData on one znode per client\n  read           getData on one znode per client\n  mixed:R        R percent getData (0..100), the rest setData, chosen at random per request\n  create-delete  create a sequential znode, then delete it (both count as ops)\n  watch          --clients sessions watch one znode (exists/getData), one more session writes it;\n                 latency = write reply until every session was notified, one op per round"
)]
pub struct BenchArgs {
    /// Servers, HOST:PORT[,HOST:PORT...]; clients are spread round-robin over them.
    #[arg(long, default_value = "127.0.0.1:2181")]
    pub connect: String,
    /// write | read | mixed:R | create-delete | watch
    #[arg(long, default_value = "write")]
    pub workload: Workload,
    /// Sessions (for watch: watching sessions).
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Pipelined requests in flight per client.
    #[arg(long, default_value_t = 8)]
    pub outstanding: usize,
    /// Bytes of data per znode write.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before measuring (not counted).
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Requested session timeout in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub session_timeout: u32,
    /// Root of the znodes the run uses (created at setup, removed at the end).
    #[arg(long, default_value = "/keeper-bench")]
    pub prefix: String,
    /// No progress line on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

impl BenchArgs {
    /// Check the arguments; the server list on success.
    pub fn validate(&self) -> Result<Vec<String>, String> {
        let hosts: Vec<String> = self
            .connect
            .split(',')
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .collect();
        if hosts.is_empty() {
            return Err("--connect needs at least one HOST:PORT".into());
        }
        for h in &hosts {
            let port = h.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(p)) if p > 0) {
                return Err(format!("--connect: {h:?} is not HOST:PORT"));
            }
        }
        if self.clients == 0 {
            return Err("--clients must be at least 1".into());
        }
        if self.outstanding == 0 {
            return Err("--outstanding must be at least 1".into());
        }
        if !(self.duration.is_finite() && self.duration > 0.0 && self.duration <= 86_400.0) {
            return Err("--duration must be a number of seconds in (0, 86400]".into());
        }
        if !(self.warmup.is_finite() && self.warmup >= 0.0 && self.warmup <= 86_400.0) {
            return Err("--warmup must be a number of seconds in [0, 86400]".into());
        }
        if self.value_size > 16 << 20 {
            return Err("--value-size must be at most 16 MiB".into());
        }
        if self.session_timeout == 0 || self.session_timeout > i32::MAX as u32 {
            return Err("--session-timeout must be a positive number of milliseconds".into());
        }
        proto::validate_prefix(&self.prefix)?;
        Ok(hosts)
    }
}

/// Entry point of `keeper bench ARGS...`; returns the exit code.
pub fn main(args: Vec<String>) -> i32 {
    let opts =
        match BenchArgs::try_parse_from(std::iter::once("keeper bench".to_string()).chain(args)) {
            Ok(o) => o,
            Err(e) => {
                let _ = e.print();
                return if e.use_stderr() { 2 } else { 0 };
            }
        };
    let hosts = match opts.validate() {
        Ok(h) => h,
        Err(msg) => {
            eprintln!("keeper bench: {msg}");
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keeper bench: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let code = runtime.block_on(bench(opts, hosts));
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

fn value_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

async fn bench(opts: BenchArgs, hosts: Vec<String>) -> i32 {
    let warmup = Duration::from_secs_f64(opts.warmup);
    let duration = Duration::from_secs_f64(opts.duration);
    let make_plan = |start: Instant| Plan {
        workload: opts.workload,
        hosts: hosts.clone(),
        clients: opts.clients,
        outstanding: opts.outstanding,
        value: value_bytes(opts.value_size),
        session_timeout_ms: opts.session_timeout as i32,
        prefix: opts.prefix.clone(),
        measure_start: start + warmup,
        measure_end: start + warmup + duration,
        drain_until: start + warmup + duration + DRAIN_GRACE,
    };
    let setup_plan = make_plan(Instant::now());
    match tokio::time::timeout(ADMIN_LIMIT, run::setup(&setup_plan)).await {
        Ok(Ok(())) => {}
        Ok(Err(msg)) => {
            eprintln!("keeper bench: {msg}");
            return 2;
        }
        Err(_) => {
            eprintln!(
                "keeper bench: setup of {} on {} did not finish within {} s",
                opts.prefix,
                hosts.join(","),
                ADMIN_LIMIT.as_secs()
            );
            return 2;
        }
    }

    let start = Instant::now();
    let plan = Arc::new(make_plan(start));
    let live = Arc::new(Live::default());
    let progress =
        (!opts.quiet).then(|| tokio::spawn(progress_loop(plan.clone(), live.clone(), start)));

    let hard_end = plan.drain_until + HARD_GRACE;
    let mut stats = Stats::default();
    if opts.workload == Workload::Watch {
        let task = tokio::spawn(run::watch_run(plan.clone(), live.clone()));
        match tokio::time::timeout_at(hard_end, task).await {
            Ok(Ok(s)) => stats.merge(&s),
            _ => stats.error("OperationTimeout(-7)", true, 1),
        }
    } else {
        let tasks: Vec<_> = (0..opts.clients)
            .map(|i| tokio::spawn(run::pipelined_client(i, plan.clone(), live.clone())))
            .collect();
        for t in tasks {
            let abort = t.abort_handle();
            match tokio::time::timeout_at(hard_end, t).await {
                Ok(Ok(s)) => stats.merge(&s),
                Ok(Err(_)) => stats.error("ClientFailed", true, 1),
                Err(_) => {
                    abort.abort();
                    stats.error("OperationTimeout(-7)", true, 1);
                }
            }
        }
    }
    if let Some(p) = progress {
        p.abort();
    }
    let _ = tokio::time::timeout(TEARDOWN_LIMIT, run::teardown(&plan)).await;

    let info = RunInfo {
        workload: opts.workload.to_string(),
        targets: hosts.clone(),
        clients: opts.clients,
        outstanding: if opts.workload == Workload::Watch {
            1
        } else {
            opts.outstanding
        },
        value_size: opts.value_size,
        warmup_secs: opts.warmup,
        duration_secs: opts.duration,
    };
    let report = build_report(&info, &stats, opts.workload == Workload::Watch);
    if opts.json {
        match serde_json::to_string(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("keeper bench: cannot encode the report: {e}");
                return 1;
            }
        }
    } else {
        print!("{}", render_table(&report));
    }
    if report.ops == 0 {
        eprintln!(
            "keeper bench: no operation succeeded against {} ({} errors)",
            hosts.join(","),
            report.errors + report.warmup_errors
        );
        return 1;
    }
    0
}

async fn progress_loop(plan: Arc<Plan>, live: Arc<Live>, start: Instant) {
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    let (mut last_ops, mut last_at) = (0u64, start);
    loop {
        let now = tick.tick().await;
        if now > plan.measure_end + Duration::from_millis(500) {
            return;
        }
        let ops = live.ops.load(Ordering::Relaxed);
        let errors = live.errors.load(Ordering::Relaxed);
        eprintln!(
            "{}",
            progress_line(
                (now - start).as_secs_f64(),
                now < plan.measure_start,
                ops - last_ops,
                (now - last_at).as_secs_f64(),
                errors
            )
        );
        (last_ops, last_at) = (ops, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        BenchArgs::try_parse_from(std::iter::once("keeper bench").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_and_flags() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.workload, Workload::Write);
        assert_eq!(a.prefix, "/keeper-bench");
        assert_eq!(a.validate().unwrap(), vec!["127.0.0.1:2181"]);
        let a = parse(&[
            "--connect",
            "127.0.0.1:1,localhost:2",
            "--workload",
            "mixed:90",
            "--clients",
            "3",
            "--outstanding",
            "5",
            "--value-size",
            "10",
            "--duration",
            "1.5",
            "--warmup",
            "0",
            "--json",
            "--session-timeout",
            "4000",
            "--prefix",
            "/x/y",
        ])
        .unwrap();
        assert_eq!(a.workload, Workload::Mixed { read_pct: 90 });
        assert_eq!(a.validate().unwrap(), vec!["127.0.0.1:1", "localhost:2"]);
        assert!(a.json && a.duration == 1.5 && a.clients == 3 && a.outstanding == 5);
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&["--workload", "mixed:200"]).is_err());
        assert!(parse(&["--clients", "-1"]).is_err());
        for bad in [
            &["--connect", "nohost"][..],
            &["--connect", ","],
            &["--connect", "h:0"],
            &["--clients", "0"],
            &["--outstanding", "0"],
            &["--duration", "0"],
            &["--warmup=-1"],
            &["--prefix", "/"],
            &["--session-timeout", "0"],
        ] {
            assert!(parse(bad).unwrap().validate().is_err(), "{bad:?}");
        }
        assert_eq!(main(vec!["--no-such-flag".into()]), 2);
        assert_eq!(main(vec!["--clients".into(), "0".into()]), 2);
    }

    #[test]
    fn cannot_connect_exits_non_zero() {
        // A port nobody listens on: bind, note the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let code = main(vec![
            "--connect".into(),
            format!("127.0.0.1:{port}"),
            "--duration".into(),
            "1".into(),
            "--quiet".into(),
        ]);
        assert_eq!(code, 2);
    }

    #[test]
    fn values_have_the_requested_size() {
        assert_eq!(value_bytes(0).len(), 0);
        assert_eq!(&value_bytes(28)[..3], b"abc");
        assert_eq!(value_bytes(28).len(), 28);
    }

    /// Manual run against a live server: `BENCH_ARGS="--connect 127.0.0.1:2181 --workload read"
    /// cargo test --lib bench::tests::manual -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn manual() {
        let args = std::env::var("BENCH_ARGS").unwrap_or_default();
        let code = main(args.split_whitespace().map(String::from).collect());
        assert_eq!(code, 0);
    }
}
