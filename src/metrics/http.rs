//! The Prometheus endpoint (`GET /metrics`), as ZooKeeper's PrometheusMetricsProvider serves
//! it on `metricsProvider.httpHost:httpPort`.

use super::{counter, encode, gauge, gauge_with, label, MetricFamily, SERVER};
use crate::actors::data_tree::{DataTreeActor, MetricGauges};
use actix::Addr;
use actix_web::{web, App, HttpResponse, HttpServer};

/// Help text of the gauges ZooKeeper registers (sampled from the tree when scraped).
fn gauge_help(name: &str) -> &'static str {
    match name {
        "avg_latency" => "Average request latency since the last reset, ms",
        "max_latency" => "Largest request latency since the last reset, ms",
        "min_latency" => "Smallest request latency since the last reset, ms",
        "packets_received" => "Client packets received",
        "packets_sent" => "Client packets sent",
        "num_alive_connections" => "Open client connections",
        "outstanding_requests" => "Client requests received and not yet answered",
        "uptime" => "Time this server has been serving in its current role, ms",
        "znode_count" => "Znodes in the tree",
        "watch_count" => "Watches set by clients of this server",
        "ephemerals_count" => "Ephemeral znodes",
        "approximate_data_size" => "Bytes of paths and data in the tree",
        "global_sessions" => "Sessions in the ensemble",
        "local_sessions" => "Local sessions",
        "open_file_descriptor_count" => "Open file descriptors",
        "max_file_descriptor_count" => "File descriptor limit",
        "connection_drop_probability" => "Probability of dropping a new connection",
        "last_client_response_size" => "Size of the last reply, bytes",
        "max_client_response_size" => "Largest reply, bytes",
        "min_client_response_size" => "Smallest reply, bytes",
        "outstanding_tls_handshake" => "TLS handshakes in progress",
        "auth_failed_count" => "Failed authentications",
        "non_mtls_remote_conn_count" => "Remote connections without mutual TLS",
        "non_mtls_local_conn_count" => "Local connections without mutual TLS",
        "quorum_size" => "Voting members of the ensemble",
        "learners" => "Learners connected to this leader",
        "synced_followers" => "Followers synced with this leader",
        "synced_non_voting_followers" => "Non-voting followers synced with this leader",
        "synced_observers" => "Observers synced with this leader",
        "pending_syncs" => "Learner syncs in progress",
        _ => "",
    }
}

/// mntr's sampled rows as gauges: ZooKeeper's under their own names, the rest Keeper's own.
pub fn gauge_families(rows: &[(String, String)]) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    for (k, v) in rows {
        let name = k.strip_prefix("zk_").unwrap_or(k);
        match name {
            "version" => out.push(gauge_with(
                "keeper_build_info",
                "The version this server runs (value 1)",
                vec![(vec![label("version", v)], 1.0)],
            )),
            "server_state" => out.push(gauge_with(
                "keeper_server_state",
                "This server's role (value 1): standalone, leader, follower, observer",
                vec![(vec![label("state", v)], 1.0)],
            )),
            // The process figures below say it under Prometheus's standard names.
            "resident_memory_bytes" | "peer_state" => {}
            "current_epoch" | "max_learner_lag" | "last_zxid" => {
                if let Ok(x) = v.parse::<f64>() {
                    let help = match name {
                        "current_epoch" => "The epoch this server is in",
                        "max_learner_lag" => "Largest lag of a learner behind the leader, txns",
                        _ => "The last transaction this server applied",
                    };
                    out.push(gauge(&format!("keeper_{name}"), help, x));
                }
            }
            _ => {
                if let Ok(x) = v.parse::<f64>() {
                    out.push(gauge(name, gauge_help(name), x));
                }
            }
        }
    }
    out
}

/// Prometheus's standard process figures (as every client library exports them).
fn process_families() -> Vec<MetricFamily> {
    let mut out = vec![
        gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            crate::fourlw::rss_bytes() as f64,
        ),
        gauge(
            "process_open_fds",
            "Number of open file descriptors",
            crate::fourlw::open_fds() as f64,
        ),
        gauge(
            "process_max_fds",
            "Maximum number of open file descriptors",
            crate::fourlw::max_fds() as f64,
        ),
    ];
    // /proc/self/stat: fields after the command's closing parenthesis.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // Indexes from field 3 (state) on: utime 14, stime 15, num_threads 20, starttime 22, vsize 23.
    if let (Some(u), Some(s)) = (field(11), field(12)) {
        out.push(counter(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds",
            (u + s) / ticks,
        ));
    }
    if let Some(t) = field(17) {
        out.push(gauge("process_threads", "Number of OS threads", t));
    }
    if let (Some(start), Some(boot)) = (field(19), boot_time()) {
        out.push(gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            boot + start / ticks,
        ));
    }
    if let Some(v) = field(20) {
        out.push(gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            v,
        ));
    }
    out
}

fn boot_time() -> Option<f64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

async fn metrics(tree: web::Data<Addr<DataTreeActor>>) -> HttpResponse {
    let rows = tree.send(MetricGauges).await.unwrap_or_default();
    let mut families = gauge_families(&rows);
    families.extend(SERVER.families());
    families.extend(process_families());
    families.push(counter(
        "keeper_trace_spans_dropped",
        "Trace spans dropped because the export queue was full (collector slow or unreachable)",
        crate::telemetry::dropped_spans() as f64,
    ));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(encode(&families))
}

/// Serve `/metrics` on `host:port` for the life of the process. An address that cannot be
/// bound is an error: the operator asked for the endpoint.
pub fn start(host: &str, port: u16, tree: Addr<DataTreeActor>) -> std::io::Result<()> {
    let data = web::Data::new(tree);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(metrics))
    })
    // One worker: a scrape every few seconds needs no more, and each worker is a thread.
    .workers(1)
    .disable_signals()
    .bind((host, port))
    .map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot open the metrics endpoint on {host}:{port} \
                 (telemetry.metrics_host, telemetry.metrics_port): {e}"
            ),
        )
    })?
    .run();
    tracing::info!("metrics endpoint at http://{host}:{port}/metrics");
    actix::spawn(server);
    Ok(())
}
