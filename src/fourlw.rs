//! Four-letter words, in ZooKeeper 3.8's output formats so that existing tools read them.

use crate::engine::{ConnState, Engine};
use crate::settings::Settings;
use std::fmt::Write;

/// The version we report: the ZooKeeper line we are compatible with, then our own and the
/// commit it was built from, and when (the shape of ZooKeeper's
/// `3.8.4-<commit>, built on <date> UTC`, which clients parse for the first three numbers).
pub fn version_string() -> String {
    format!(
        "3.8.4-keeper-{}-{}, built on {}",
        env!("CARGO_PKG_VERSION"),
        env!("KEEPER_GIT_COMMIT"),
        env!("KEEPER_BUILD_DATE")
    )
}

/// Facts of the server that the engine does not hold.
pub struct ServerInfo<'a> {
    pub settings: &'a Settings,
    pub mode: &'a str,
    pub started_ms: i64,
    pub now_ms: i64,
    /// Session expiry buckets: (deadline wall-clock ms, sessions).
    pub buckets: Vec<(i64, Vec<i64>)>,
    /// In an ensemble: what the ZAB side reports.
    pub quorum: Option<QuorumInfo>,
}

/// An ensemble member's view, for srvr / mntr.
#[derive(Debug, Clone, Default)]
pub struct QuorumInfo {
    /// e.g. `leading - broadcast`, `following - broadcast`, `looking`.
    pub peer_state: String,
    pub voters: usize,
    /// Leader only: synced (followers, observers).
    pub synced_followers: usize,
    pub synced_observers: usize,
    pub learners: usize,
    pub epoch: u32,
    /// Leader only: (server id, observer, txns behind the last proposal).
    pub lags: Vec<(u64, bool, i64)>,
    /// The leader this server leads or follows (None while looking).
    pub leader: Option<u64>,
}

pub fn not_allowed(word: &str) -> String {
    format!("{word} is not executed because it is not in the whitelist.\n")
}

/// A Java Date's toString in UTC, e.g. `Sat Nov 21 16:09:25 UTC 2026`.
pub fn java_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86400);
    let tod = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{wd} {mon} {d:02} {:02}:{:02}:{:02} UTC {y}",
        tod / 3600,
        (tod / 60) % 60,
        tod % 60
    )
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn conn_line(id: u64, c: &ConnState, full: bool, out: &mut String) {
    let _ = write!(
        out,
        " /{}[1](queued={},recved={},sent={}",
        c.addr, c.outstanding, c.received, c.sent
    );
    let _ = id;
    if full && c.session != 0 {
        let _ = write!(
            out,
            ",sid=0x{:x},lop={},est={},to={}",
            c.session, c.last_op, c.established, c.timeout
        );
        if c.last_cxid >= 0 {
            let _ = write!(out, ",lcxid=0x{:x}", c.last_cxid);
        }
        let avg = if c.count == 0 {
            0
        } else {
            c.total_latency / c.count as i64
        };
        let _ = write!(
            out,
            ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
            c.last_zxid, c.last_response, c.last_latency, c.min_latency, avg, c.max_latency
        );
    }
    out.push_str(")\n");
}

fn summary(e: &Engine, info: &ServerInfo, out: &mut String) {
    let s = &e.stats;
    let avg = java_double((s.avg_latency() * 10000.0).round() / 10000.0);
    let _ = writeln!(
        out,
        "Latency min/avg/max: {}/{avg}/{}",
        s.min_latency, s.max_latency
    );
    let _ = writeln!(out, "Received: {}", s.received);
    let _ = writeln!(out, "Sent: {}", s.sent);
    let _ = writeln!(out, "Connections: {}", e.conns.len());
    let _ = writeln!(out, "Outstanding: {}", e.outstanding());
    let _ = writeln!(out, "Zxid: 0x{:x}", e.last_zxid());
    let _ = writeln!(out, "Mode: {}", info.mode);
    // ZooKeeper counts the root twice (it is stored under "" and "/").
    let _ = writeln!(out, "Node count: {}", e.tree.node_count() + 1);
    if info.mode == "leader" {
        out.push_str("Proposal sizes last/min/max: -1/-1/-1\n");
    }
    if let Some(q) = &info.quorum {
        // Keeper's own lines (after ZooKeeper's): the epoch, and the leader's learners.
        let _ = writeln!(out, "Epoch: {}", q.epoch);
        for (sid, observer, lag) in &q.lags {
            let kind = if *observer { "observer" } else { "follower" };
            let _ = writeln!(out, "Learner {sid}: {kind}, {lag} txns behind");
        }
    }
}

fn sorted_conns(e: &Engine) -> Vec<(&u64, &ConnState)> {
    let mut v: Vec<_> = e.conns.iter().collect();
    v.sort_by_key(|(id, _)| **id);
    v
}

pub fn java_double(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Answer a word that needs the engine (everything but `ruok`).
pub fn answer(word: &str, e: &mut Engine, info: &ServerInfo) -> String {
    let mut out = String::new();
    let st = info.settings;
    match word {
        "ruok" => out.push_str("imok"),
        "isro" => out.push_str("rw"),
        "srvr" => {
            let _ = writeln!(out, "Zookeeper version: {}", version_string());
            summary(e, info, &mut out);
        }
        "stat" => {
            let _ = writeln!(out, "Zookeeper version: {}", version_string());
            out.push_str("Clients:\n");
            for (id, c) in sorted_conns(e) {
                conn_line(*id, c, false, &mut out);
            }
            out.push('\n');
            summary(e, info, &mut out);
        }
        "cons" => {
            for (id, c) in sorted_conns(e) {
                conn_line(*id, c, true, &mut out);
            }
            out.push('\n');
        }
        "crst" => {
            for c in e.conns.values_mut() {
                c.received = 0;
                c.sent = 0;
                c.min_latency = 0;
                c.max_latency = 0;
                c.total_latency = 0;
                c.count = 0;
            }
            out.push_str("Connection stats reset.\n");
        }
        "srst" => {
            e.reset_stats();
            out.push_str("Server stats reset.\n");
        }
        "conf" => {
            let _ = writeln!(out, "clientPort={}", st.client.port);
            let _ = writeln!(out, "secureClientPort=-1");
            let _ = writeln!(out, "dataDir={}/version-2", st.storage.data_dir);
            let _ = writeln!(out, "dataDirSize={}", dir_size(&st.storage.data_dir));
            let _ = writeln!(out, "dataLogDir={}/version-2", st.data_log_dir());
            let _ = writeln!(out, "dataLogSize={}", dir_size(st.data_log_dir()));
            let _ = writeln!(out, "tickTime={}", st.server.tick_time);
            let _ = writeln!(out, "maxClientCnxns={}", st.server.max_client_cnxns);
            let _ = writeln!(out, "minSessionTimeout={}", st.min_session_timeout_ms());
            let _ = writeln!(out, "maxSessionTimeout={}", st.max_session_timeout_ms());
            let _ = writeln!(out, "clientPortListenBacklog=-1");
            let _ = writeln!(out, "serverId={}", st.server.id);
        }
        "envi" => {
            out.push_str("Environment:\n");
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            let cwd = std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let user = std::env::var("USER").unwrap_or_default();
            let home = std::env::var("HOME").unwrap_or_default();
            let rows = [
                ("zookeeper.version", version_string()),
                ("host.name", host.trim().to_string()),
                ("java.version", "none".into()),
                ("java.vendor", "none".into()),
                ("java.home", "none".into()),
                ("java.class.path", "none".into()),
                ("java.library.path", "none".into()),
                ("java.io.tmpdir", std::env::temp_dir().display().to_string()),
                ("java.compiler", "<NA>".into()),
                ("os.name", "Linux".into()),
                ("os.arch", std::env::consts::ARCH.into()),
                ("os.version", os_release()),
                ("user.name", user),
                ("user.home", home),
                ("user.dir", cwd),
                (
                    "os.memory.free",
                    format!("{}MB", meminfo_kb("MemAvailable:") / 1024),
                ),
                (
                    "os.memory.max",
                    format!("{}MB", meminfo_kb("MemTotal:") / 1024),
                ),
                (
                    "os.memory.total",
                    format!("{}MB", rss_bytes() / (1024 * 1024)),
                ),
            ];
            for (k, v) in rows {
                let _ = writeln!(out, "{k}={v}");
            }
        }
        "wchs" => {
            let (c, p, w) = e.watches.data_summary();
            let _ = writeln!(out, "{c} connections watching {p} paths");
            let _ = writeln!(out, "Total watches:{w}");
        }
        "wchc" => {
            for (conn, paths) in e.watches.data_by_conn() {
                let sid = e.conns.get(&conn).map(|c| c.session).unwrap_or(0);
                let _ = writeln!(out, "0x{sid:x}");
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
            out.push('\n');
        }
        "wchp" => {
            for (p, conns) in e.watches.data_by_path() {
                let _ = writeln!(out, "{p}");
                for conn in conns {
                    let sid = e.conns.get(&conn).map(|c| c.session).unwrap_or(0);
                    let _ = writeln!(out, "\t0x{sid:x}");
                }
            }
            out.push('\n');
        }
        "dump" => {
            out.push_str("SessionTracker dump:\n");
            let total: usize = info.buckets.iter().map(|(_, s)| s.len()).sum();
            let _ = writeln!(out, "Session Sets ({})/({}):", info.buckets.len(), total);
            for (deadline, ids) in &info.buckets {
                let _ = writeln!(out, "{} expire at {}:", ids.len(), java_date(*deadline));
                for id in ids {
                    let _ = writeln!(out, "\t0x{id:x}");
                }
            }
            out.push_str("ephemeral nodes dump:\n");
            let eph = e.tree.ephemerals();
            let _ = writeln!(out, "Sessions with Ephemerals ({}):", eph.len());
            let mut ids: Vec<_> = eph.keys().copied().collect();
            ids.sort();
            for id in ids {
                let _ = writeln!(out, "0x{id:x}:");
                for p in &eph[&id] {
                    let _ = writeln!(out, "\t{p}");
                }
            }
            out.push_str("Connections dump:\n");
            // Connections expire with their sessions: group them by their session's bucket.
            let mut sets: std::collections::BTreeMap<i64, Vec<(String, i64)>> = Default::default();
            for (_, c) in sorted_conns(e) {
                let deadline = info
                    .buckets
                    .iter()
                    .find(|(_, ids)| ids.contains(&c.session))
                    .map_or(info.now_ms, |(d, _)| *d);
                sets.entry(deadline)
                    .or_default()
                    .push((c.addr.clone(), c.session));
            }
            let _ = writeln!(
                out,
                "Connections Sets ({})/({}):",
                sets.len(),
                e.conns.len()
            );
            for (deadline, conns) in sets {
                let _ = writeln!(out, "{} expire at {}:", conns.len(), java_date(deadline));
                for (addr, sid) in conns {
                    let _ = writeln!(out, "\tip: /{addr} sessionId: 0x{sid:x}");
                }
            }
        }
        "dirs" => {
            let _ = writeln!(out, "datadir_size: {}", dir_size(&st.storage.data_dir));
            let _ = writeln!(out, "logdir_size: {}", dir_size(st.data_log_dir()));
        }
        "gtmk" => out.push_str("0\n"),
        "mntr" => {
            let mut rows: Vec<(String, String)> = mntr_gauges(e, info)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            rows.extend(crate::metrics::SERVER.mntr_rows());
            for (k, v) in rows {
                let _ = writeln!(out, "{k}\t{v}");
            }
        }
        _ => {}
    }
    out
}

/// Bytes of snapshots or log segments in `<dir>/version-2`.
/// The figures of `mntr` that are sampled, not accumulated (ZooKeeper's gauges): also what the
/// metrics endpoint exports, under the same names without `zk_`.
pub fn mntr_gauges(e: &Engine, info: &ServerInfo) -> Vec<(&'static str, String)> {
    let s = &e.stats;
    let mut rows: Vec<(&'static str, String)> = vec![
        ("zk_version", version_string()),
        ("zk_server_state", info.mode.to_string()),
        (
            "zk_avg_latency",
            java_double((s.avg_latency() * 10000.0).round() / 10000.0),
        ),
        ("zk_max_latency", s.max_latency.to_string()),
        ("zk_min_latency", s.min_latency.to_string()),
        ("zk_packets_received", s.received.to_string()),
        ("zk_packets_sent", s.sent.to_string()),
        ("zk_num_alive_connections", e.conns.len().to_string()),
        ("zk_outstanding_requests", e.outstanding().to_string()),
        (
            "zk_uptime",
            (info.now_ms - info.started_ms).max(0).to_string(),
        ),
        ("zk_znode_count", (e.tree.node_count() + 1).to_string()),
        ("zk_watch_count", e.watches.total().to_string()),
        ("zk_ephemerals_count", e.tree.ephemeral_count().to_string()),
        (
            "zk_approximate_data_size",
            e.tree.approximate_data_size().to_string(),
        ),
        ("zk_global_sessions", e.tree.sessions().len().to_string()),
        ("zk_local_sessions", "0".into()),
        ("zk_open_file_descriptor_count", open_fds().to_string()),
        ("zk_max_file_descriptor_count", max_fds().to_string()),
        ("zk_connection_drop_probability", "0.0".into()),
        (
            "zk_last_client_response_size",
            s.last_response_size.to_string(),
        ),
        (
            "zk_max_client_response_size",
            s.max_response_size.to_string(),
        ),
        (
            "zk_min_client_response_size",
            s.min_response_size.to_string(),
        ),
        ("zk_outstanding_tls_handshake", "0".into()),
        ("zk_auth_failed_count", s.auth_failed.to_string()),
        ("zk_non_mtls_remote_conn_count", "0".into()),
        ("zk_non_mtls_local_conn_count", "0".into()),
        ("zk_resident_memory_bytes", rss_bytes().to_string()),
    ];
    if let Some(q) = &info.quorum {
        rows.insert(2, ("zk_peer_state", q.peer_state.clone()));
        rows.push(("zk_quorum_size", q.voters.to_string()));
        if info.mode == "leader" {
            rows.push(("zk_learners", q.learners.to_string()));
            rows.push(("zk_synced_followers", q.synced_followers.to_string()));
            rows.push(("zk_synced_non_voting_followers", "0".into()));
            rows.push(("zk_synced_observers", q.synced_observers.to_string()));
            rows.push(("zk_pending_syncs", "0".into()));
            rows.push((
                "zk_max_learner_lag",
                q.lags.iter().map(|l| l.2).max().unwrap_or(0).to_string(),
            ));
        }
        rows.push(("zk_current_epoch", q.epoch.to_string()));
    }
    rows
}

pub fn dir_size(dir: &str) -> u64 {
    std::fs::read_dir(crate::storage::version_dir(dir))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn meminfo_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn os_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

pub fn max_fds() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
        r.rlim_cur
    } else {
        0
    }
}

/// Resident memory of this process in bytes.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_dates() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(1_795_277_365_000), "Sat Nov 21 16:09:25 UTC 2026");
    }

    #[test]
    fn doubles_like_java() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(1.5), "1.5");
    }
}
