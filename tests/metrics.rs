//! The HTTP side of real `keeper server` processes: the Prometheus endpoint (ZooKeeper's metric
//! names and types from every member of an ensemble, figures that follow what the ensemble
//! did, Debian's Prometheus scraping them and evaluating the shipped alert rules) and
//! ZooKeeper's AdminServer commands in JSON.

mod common;

use common::cluster::*;
use common::{four_letter, free_port, http_get, Ensemble};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use zookeeper_client as zk;

/// The value of an unlabelled series (or of the first one with these labels) in an exposition.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (name, v) = l.rsplit_once(' ')?;
        (name == series).then(|| v.parse().ok()).flatten()
    })
}

fn scrape(port: u16) -> String {
    let (code, body) = http_get(port, "/metrics").expect("GET /metrics");
    assert_eq!(code, 200, "{body}");
    body
}

fn writes_through(e: &Ensemble, id: u64, n: usize) {
    rt().block_on(async {
        let c = client_of(e, id).await;
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        for i in 0..n {
            c.create(&format!("/m{i}"), b"x", &opts)
                .await
                .expect("create");
            c.get_data(&format!("/m{i}")).await.expect("get");
        }
    });
}

#[test]
fn every_member_exposes_zookeepers_metrics_and_they_follow_the_writes() {
    let _serial = serial();
    let mut e = Ensemble::new(3, 0, &[]).with_http();
    e.start_all();
    let modes = e.wait_modes(Duration::from_secs(20));
    let leader = *modes.iter().find(|m| m.1 == "leader").expect("a leader").0;
    let follower = *modes
        .iter()
        .find(|m| m.1 == "follower")
        .expect("a follower")
        .0;
    writes_through(&e, follower, 20);
    // Figures reach the endpoint within a second (the tree hands its latencies over each
    // second, and on every scrape).
    std::thread::sleep(Duration::from_millis(300));
    let texts: BTreeMap<u64, String> = e
        .ids()
        .into_iter()
        .map(|id| (id, scrape(e.metrics_port(id))))
        .collect();
    for (id, t) in &texts {
        for ty in [
            "# TYPE znode_count gauge",
            "# TYPE avg_latency gauge",
            "# TYPE num_alive_connections gauge",
            "# TYPE approximate_data_size gauge",
            "# TYPE quorum_size gauge",
            "# TYPE fsynctime summary",
            "# TYPE snapshottime summary",
            "# TYPE election_time summary",
            "# TYPE readlatency summary",
            "# TYPE updatelatency summary",
            "# TYPE commit_count counter",
            "# TYPE looking_count counter",
            "# TYPE process_resident_memory_bytes gauge",
            "# TYPE process_cpu_seconds_total counter",
        ] {
            assert!(t.contains(ty), "server {id} lacks `{ty}`:\n{t}");
        }
        // 20 znodes and ZooKeeper's own (/, /zookeeper, /zookeeper/quota, /zookeeper/config).
        assert!(value(t, "znode_count").unwrap() >= 24.0, "server {id}");
        assert_eq!(value(t, "quorum_size"), Some(3.0), "server {id}");
        assert!(
            value(t, "election_time_count").unwrap() >= 1.0,
            "server {id}"
        );
        assert!(value(t, "fsynctime_count").unwrap() >= 20.0, "server {id}");
        assert!(
            value(t, "propagation_latency_count").unwrap() >= 20.0,
            "server {id}"
        );
        assert!(t.contains("fsynctime{quantile=\"0.5\"}"), "server {id}");
        assert!(
            t.contains("updatelatency{quantile=\"0.99\"}"),
            "server {id}"
        );
    }
    let l = &texts[&leader];
    assert!(value(l, "proposal_count").unwrap() >= 20.0, "{l}");
    assert!(value(l, "commit_count").unwrap() >= 20.0, "{l}");
    assert!(value(l, "quorum_ack_latency_count").unwrap() >= 20.0, "{l}");
    assert_eq!(value(l, "learners"), Some(2.0), "{l}");
    assert_eq!(value(l, "synced_followers"), Some(2.0), "{l}");
    assert!(l.contains("keeper_server_state{state=\"leader\"} 1"), "{l}");
    assert!(
        e.ids()
            .iter()
            .filter(|id| **id != leader)
            .any(|id| l.contains(&format!("ack_latency_count{{key=\"{id}\"}}"))),
        "{l}"
    );
    let f = &texts[&follower];
    assert!(value(f, "updatelatency_count").unwrap() >= 20.0, "{f}");
    assert!(value(f, "readlatency_count").unwrap() >= 20.0, "{f}");
    assert!(
        value(f, "learner_proposal_received_count").unwrap() >= 20.0,
        "{f}"
    );
    assert!(
        value(f, "learner_commit_received_count").unwrap() >= 1.0,
        "{f}"
    );
    assert_eq!(value(f, "follower_sync_time_count"), Some(1.0), "{f}");
    assert!(value(f, "bytes_received_count").unwrap() > 0.0, "{f}");
    assert!(
        f.contains("keeper_server_state{state=\"follower\"} 1"),
        "{f}"
    );
    // mntr has the same figures in the shape of ZooKeeper's default provider.
    let mntr = four_letter(e.client_port(follower), "mntr").unwrap();
    for row in [
        "zk_avg_fsynctime\t",
        "zk_cnt_updatelatency\t",
        "zk_p99_updatelatency\t",
        "zk_learner_proposal_received_count\t",
        "zk_cnt_follower_sync_time\t1\n",
    ] {
        assert!(mntr.contains(row), "mntr lacks `{row}`:\n{mntr}");
    }
    let (code, _) = http_get(e.metrics_port(leader), "/nothing").unwrap();
    assert_eq!(code, 404);
}

/// Where Debian's Prometheus is (installed by `make test`); None skips the test with a note.
fn prometheus() -> Option<(String, String)> {
    let find = |b: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {b}"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match (find("prometheus"), find("promtool")) {
        (Some(p), Some(t)) => Some((p, t)),
        _ => {
            eprintln!("SKIPPED: prometheus / promtool not installed (make test installs them)");
            None
        }
    }
}

fn query(port: u16, expr: &str) -> serde_json::Value {
    let q: String = expr
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (code, body) = http_get(port, &format!("/api/v1/query?query={q}")).expect("query");
    assert_eq!(code, 200, "{expr}: {body}");
    serde_json::from_str(&body).expect("json")
}

/// Instances (servers) a query returns series for.
fn instances(v: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = v["data"]["result"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["metric"]["instance"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

#[test]
fn prometheus_scrapes_an_ensemble_and_the_alert_rules_hold() {
    let Some((prom, promtool)) = prometheus() else {
        return;
    };
    let rules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/observability/prometheus/rules.yml"
    );
    let check = std::process::Command::new(&promtool)
        .args(["check", "rules", rules])
        .output()
        .expect("promtool");
    assert!(
        check.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let _serial = serial();
    let mut e = Ensemble::new(3, 0, &[]).with_http();
    e.start_all();
    let modes = e.wait_modes(Duration::from_secs(20));
    let follower = *modes
        .iter()
        .find(|m| m.1 == "follower")
        .expect("a follower")
        .0;
    writes_through(&e, follower, 10);
    let targets: Vec<String> = e
        .ids()
        .iter()
        .map(|id| format!("\"127.0.0.1:{}\"", e.metrics_port(*id)))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\n\
             scrape_configs:\n  - job_name: keeper\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        ),
    )
    .unwrap();
    let port = free_port();
    let child = std::process::Command::new(&prom)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
        .spawn()
        .expect("start prometheus");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _prometheus = Kill(child);
    // Every target scraped successfully (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = std::panic::catch_unwind(|| query(port, "up == 1")).ok();
        if up.as_ref().map(instances).map(|i| i.len()) == Some(3) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus did not scrape all three servers: {up:?}\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Let a few scrapes land, for the rate() and increase() queries.
    std::thread::sleep(Duration::from_secs(4));
    // The queries of ZooKeeper's alert rules and its Grafana dashboard's panels return a
    // series for every server.
    for expr in [
        "znode_count",
        "num_alive_connections",
        "approximate_data_size",
        "watch_count",
        "election_time_count",
        "open_file_descriptor_count",
        "max_file_descriptor_count",
        "rate(fsynctime_sum[1m])",
        "rate(snapshottime_sum[5m])",
        "avg_latency",
        "max_latency",
        "min_latency",
        "outstanding_requests",
        "packets_received",
        "packets_sent",
        "ephemerals_count",
        "global_sessions",
        "quorum_size",
        "readlatency",
        "updatelatency",
        "propagation_latency",
        "uptime",
        "process_resident_memory_bytes",
        "rate(process_cpu_seconds_total[1m])",
    ] {
        let r = query(port, expr);
        assert_eq!(instances(&r).len(), 3, "{expr}: {r}");
    }
    // Every query of the shipped Grafana dashboard (observability/grafana/dashboards) returns a
    // series for every server, with its variables as Grafana fills them.
    // The leader's own figures come from the leader alone.
    const LEADER_ONLY: [&str; 3] = ["learners", "synced_followers", "keeper_max_learner_lag"];
    let mut missing = Vec::new();
    for expr in dashboard_queries() {
        let q = expr
            .replace("$__rate_interval", "1m")
            .replace("$instance", ".+");
        let want = if LEADER_ONLY.iter().any(|m| expr.starts_with(m)) {
            1
        } else {
            3
        };
        let r = query(port, &q);
        if instances(&r).len() != want {
            missing.push(format!("{expr}: {r}"));
        }
    }
    assert!(
        missing.is_empty(),
        "dashboard queries:\n{}",
        missing.join("\n")
    );
    // Leader-only figures come from the leader, and one server leads.
    for expr in [
        "learners",
        "synced_followers",
        "proposal_count",
        "quorum_ack_latency_count",
    ] {
        assert!(!instances(&query(port, expr)).is_empty(), "{expr}");
    }
    let leading = query(port, "sum(keeper_server_state{state=\"leader\"})");
    assert_eq!(leading["data"]["result"][0]["value"][1], "1", "{leading}");
    // The rules were loaded and evaluated; none fires on a healthy ensemble.
    let (_, rules_json) = http_get(port, "/api/v1/rules").unwrap();
    let v: serde_json::Value = serde_json::from_str(&rules_json).unwrap();
    let loaded = v["data"]["groups"][0]["rules"]
        .as_array()
        .map_or(0, |r| r.len());
    assert_eq!(loaded, 12, "{rules_json}");
    let firing = query(
        port,
        "ALERTS{alertstate=\"firing\",alertname!=\"KeeperLeaderElection\"}",
    );
    assert!(instances(&firing).is_empty(), "{firing}");
}

/// The PromQL of every panel of the shipped Grafana dashboard, and of its variable.
fn dashboard_queries() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/observability/grafana/dashboards/keeper.json"
    );
    let d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("dashboard JSON");
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        // Every panel reads the provisioned Prometheus datasource.
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "prometheus", "{}", p["title"]);
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(t["expr"].as_str().unwrap().to_string());
        }
    }
    let var = d["templating"]["list"][0]["query"]["query"]
        .as_str()
        .unwrap();
    let metric = var
        .strip_prefix("label_values(")
        .and_then(|v| v.split(',').next())
        .unwrap();
    out.push(metric.to_string());
    assert!(out.len() > 30, "{} queries", out.len());
    out
}

/// What docker-compose.yml mounts exists, and Grafana's provisioning names the datasource uid
/// the dashboard reads (no Docker here: the files are what can be checked).
#[test]
fn the_compose_files_hold_together() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/observability");
    let compose = std::fs::read_to_string(format!("{dir}/docker-compose.yml")).unwrap();
    let mounts: Vec<&str> = compose
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- ./"))
        .map(|m| m.split(':').next().unwrap())
        .collect();
    assert!(mounts.len() >= 5, "{mounts:?}");
    for m in mounts {
        assert!(
            std::path::Path::new(&format!("{dir}/{m}")).exists(),
            "docker-compose.yml mounts {m}, which is not there"
        );
    }
    assert!(std::path::Path::new(&format!("{dir}/Dockerfile")).exists());
    let sources =
        std::fs::read_to_string(format!("{dir}/grafana/provisioning/datasources/keeper.yml"))
            .unwrap();
    assert!(sources.contains("uid: prometheus"), "{sources}");
    assert!(sources.contains("url: http://prometheus:9090"), "{sources}");
    let prom = std::fs::read_to_string(format!("{dir}/prometheus/prometheus.yml")).unwrap();
    for id in 1..=3 {
        assert!(
            compose.contains(&format!("keeper{id}:")),
            "service keeper{id}"
        );
        assert!(
            prom.contains(&format!("keeper{id}:7000")),
            "scrape of keeper{id}"
        );
    }
    let toml = std::fs::read_to_string(format!("{dir}/compose/keeper.toml")).unwrap();
    assert!(toml.contains("metrics_port = 7000"), "{toml}");
    dashboard_queries();
}

/// The first of `n` consecutive free loopback ports between 20000 and 32000 (below the
/// ephemeral range; none of this process's earlier picks).
fn port_run(n: u16) -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    if NEXT.load(Ordering::Relaxed) == 0 {
        let seed = (std::process::id() as u64 * 7919
            + std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos() as u64)
            % 10_000;
        let _ = NEXT.compare_exchange(
            0,
            20_000 + seed as u16,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
    for _ in 0..200 {
        let base = NEXT.fetch_add(n + 1, Ordering::Relaxed);
        let base = if base + n >= 32_000 {
            20_000 + base % 10_000
        } else {
            base
        };
        let free = (0..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no run of {n} free ports below 32000");
}

/// `make observe`: the script starts an ensemble, Prometheus scrapes all three servers and sees
/// the load it runs; stopped, it leaves nothing running.
#[test]
fn make_observe_runs_an_ensemble_under_prometheus_with_load() {
    if prometheus().is_none() {
        return;
    }
    let _serial = serial();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/observability/observe.sh");
    // The script takes runs of consecutive ports (server N: base + N - 1). They come from
    // below the kernel's ephemeral range, which the other tests' bind(0) ports come from.
    let client = port_run(3);
    let quorum = port_run(3);
    let election = port_run(3);
    let metrics = port_run(3);
    let prom = port_run(1);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("observe.out");
    let child = std::process::Command::new("bash")
        .arg(script)
        .env("KEEPER_BIN", env!("CARGO_BIN_EXE_keeper"))
        .env("OBSERVE_CLIENT_PORT", client.to_string())
        .env("OBSERVE_QUORUM_PORT", quorum.to_string())
        .env("OBSERVE_ELECTION_PORT", election.to_string())
        .env("OBSERVE_METRICS_PORT", metrics.to_string())
        .env("OBSERVE_PROMETHEUS_PORT", prom.to_string())
        .env("OBSERVE_SECONDS", "120")
        .env("OBSERVE_DIR", dir.path().join("run"))
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("observe.sh");
    // Stopped (as Ctrl-C does) however the test ends.
    struct Stop(Option<std::process::Child>);
    impl Drop for Stop {
        fn drop(&mut self) {
            if let Some(c) = self.0.as_mut() {
                // SAFETY: kill(2) of our own child, not yet reaped.
                unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
                let _ = c.wait();
            }
        }
    }
    let mut guard = Stop(Some(child));
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = serde_json::Value::Null;
    loop {
        let printed = std::fs::read_to_string(&out).unwrap_or_default();
        if printed.contains(&format!("http://127.0.0.1:{prom}")) {
            if let Ok(v) =
                std::panic::catch_unwind(|| query(prom, "increase(packets_received[30s]) > 0"))
            {
                let up = std::panic::catch_unwind(|| query(prom, "up == 1")).ok();
                if instances(&v).len() == 3
                    && up.as_ref().map(instances).map(|i| i.len()) == Some(3)
                {
                    break;
                }
                last = v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no load seen on all three servers through Prometheus: {last}\n{printed}"
        );
        if let Some(Ok(Some(s))) = guard.0.as_mut().map(|c| c.try_wait()) {
            panic!("observe.sh exited early ({s}):\n{printed}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let printed = std::fs::read_to_string(&out).unwrap();
    assert!(
        printed.contains(&format!("127.0.0.1:{client}")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("127.0.0.1:{metrics}/metrics")),
        "{printed}"
    );
    // SIGTERM (as Ctrl-C does): everything it started stops.
    let mut c = guard.0.take().unwrap();
    // SAFETY: kill(2) of our own child, not yet reaped.
    unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            guard.0 = Some(c);
            panic!("observe.sh did not stop");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for port in [client, client + 1, client + 2, metrics, prom] {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still answers after observe.sh stopped"
        );
    }
}

fn command(port: u16, name: &str) -> (u16, serde_json::Value) {
    let (code, body) = http_get(port, &format!("/commands/{name}")).expect("GET /commands");
    (
        code,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name}: {e}: {body}")),
    )
}

#[test]
fn the_admin_server_answers_zookeepers_commands_in_json() {
    let _serial = serial();
    let mut e = Ensemble::new(3, 0, &[]).with_http();
    e.start_all();
    let modes = e.wait_modes(Duration::from_secs(20));
    let leader = *modes.iter().find(|m| m.1 == "leader").expect("a leader").0;
    let follower = *modes
        .iter()
        .find(|m| m.1 == "follower")
        .expect("a follower")
        .0;
    writes_through(&e, follower, 3);
    let port = e.admin_port(follower);
    // Every name ZooKeeper gives a command answers, under its primary name.
    for (name, primary) in [
        ("ruok", "ruok"),
        ("mntr", "monitor"),
        ("monitor", "monitor"),
        ("srvr", "server_stats"),
        ("stat", "stats"),
        ("conf", "configuration"),
        ("envi", "environment"),
        ("cons", "connections"),
        ("wchs", "watch_summary"),
        ("dirs", "dirs"),
        ("lead", "leader"),
        ("voting_view", "voting_view"),
        ("isro", "is_read_only"),
        ("dump", "dump"),
        ("wchc", "watches"),
        ("wchp", "watches_by_path"),
        ("crst", "connection_stat_reset"),
        ("srst", "stat_reset"),
        ("zabstate", "zabstate"),
    ] {
        let (code, v) = command(port, name);
        assert_eq!(code, 200, "{name}: {v}");
        assert_eq!(v["command"], primary, "{name}: {v}");
        assert_eq!(v["error"], serde_json::Value::Null, "{name}: {v}");
    }
    let (_, m) = command(port, "mntr");
    assert_eq!(m["server_state"], "follower", "{m}");
    assert!(m["znode_count"].as_u64().unwrap() >= 7, "{m}");
    assert!(m["cnt_updatelatency"].as_u64().unwrap() >= 3, "{m}");
    let (_, s) = command(port, "srvr");
    assert_eq!(s["server_stats"]["server_state"], "follower", "{s}");
    assert!(s["node_count"].as_u64().unwrap() >= 7, "{s}");
    let (_, l) = command(port, "leader");
    assert_eq!(l["is_leader"], false, "{l}");
    assert_eq!(l["leader_id"], leader, "{l}");
    assert_eq!(l["leader_ip"], "127.0.0.1", "{l}");
    let (_, l) = command(e.admin_port(leader), "leader");
    assert_eq!(l["is_leader"], true, "{l}");
    let (_, c) = command(port, "conf");
    assert_eq!(c["clientPort"], e.client_port(follower), "{c}");
    assert_eq!(c["serverId"], follower, "{c}");
    let (_, v) = command(port, "voting_view");
    let view = v["current_config"].as_object().expect("members");
    assert_eq!(view.len(), 3, "{v}");
    assert_eq!(view["1"]["learner_type"], "participant", "{v}");
    let (_, r) = command(port, "isro");
    assert_eq!(r["read_only"], false);
    for (id, state) in [(follower, false), (leader, true)] {
        let (_, z) = command(e.admin_port(id), "zabstate");
        assert_eq!(z["myid"], id, "{z}");
        assert_eq!(z["is_leader"], state, "{z}");
        assert_eq!(z["voting"], true, "{z}");
        assert_eq!(z["zabstate"], "broadcast", "{z}");
        assert!(z["last_zxid"].as_str().unwrap().starts_with("0x"), "{z}");
        assert!(z["zab_counter"].as_u64().unwrap() >= 3, "{z}");
    }
    // A session with an ephemeral node and a watch, seen by dump, wchc and wchp.
    rt().block_on(async {
        let c = client_of(&e, follower).await;
        let opts = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
        c.create("/admin-eph", b"", &opts).await.expect("create");
        // Held: the client removes a watch whose watcher it drops.
        let (_, _, _watcher) = c.get_and_watch_data("/admin-eph").await.expect("watch");
        let sid = c.session_id().0;
        let (_, d) = command(port, "dump");
        let eph = &d["session_id_to_ephemeral_paths"][sid.to_string()];
        assert_eq!(eph, &serde_json::json!(["/admin-eph"]), "{d}");
        let (_, w) = command(port, "wchc");
        let paths = &w["session_id_to_watched_paths"][sid.to_string()];
        assert_eq!(paths, &serde_json::json!(["/admin-eph"]), "{w}");
        let (_, p) = command(port, "wchp");
        assert_eq!(
            p["path_to_session_ids"]["/admin-eph"],
            serde_json::json!([sid]),
            "{p}"
        );
    });
    let (code, u) = command(port, "no_such_command");
    assert_eq!(code, 404, "{u}");
    assert!(
        u["error"].as_str().unwrap().contains("Unknown command"),
        "{u}"
    );
}
