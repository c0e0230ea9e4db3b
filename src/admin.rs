//! ZooKeeper's AdminServer: `GET <command_url>/<name>` answers a command in JSON, in the shape
//! ZooKeeper 3.8 gives it (snake_case keys, `command` and `error` in every answer), for the
//! scripts and monitors written against it. The figures come from the same places as the
//! four-letter words'.

use crate::actors::data_tree::{AdminCommand, DataTreeActor};
use crate::engine::Engine;
use crate::fourlw::{self, ServerInfo};
use crate::settings::Settings;
use actix::Addr;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Map, Value};

/// Each command: its primary name (what `command` says), its other names, and whether it needs
/// a serving server (as ZooKeeper's `CommandBase`).
const COMMANDS: &[(&str, &[&str], bool)] = &[
    ("configuration", &["conf", "config"], true),
    ("connection_stat_reset", &["crst"], true),
    ("connections", &["cons"], true),
    ("dirs", &[], true),
    ("dump", &[], true),
    ("environment", &["env", "envi"], false),
    ("get_trace_mask", &["gtmk"], false),
    ("is_read_only", &["isro"], true),
    ("leader", &["lead"], true),
    ("monitor", &["mntr"], false),
    ("ruok", &[], true),
    ("server_stats", &["srvr"], true),
    ("stat_reset", &["srst"], true),
    ("stats", &["stat"], true),
    ("voting_view", &[], true),
    ("watch_summary", &["wchs"], true),
    ("watches", &["wchc"], true),
    ("watches_by_path", &["wchp"], true),
    ("zabstate", &[], false),
];

/// The primary name of a command and whether it needs a serving server.
pub fn lookup(name: &str) -> Option<(&'static str, bool)> {
    COMMANDS
        .iter()
        .find(|(p, aliases, _)| *p == name || aliases.contains(&name))
        .map(|(p, _, serving)| (*p, *serving))
}

/// A figure as JSON: a number when it is one, else the text.
fn figure(v: &str) -> Value {
    if let Ok(n) = v.parse::<i64>() {
        return json!(n);
    }
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() => json!(x),
        _ => json!(v),
    }
}

/// `key=value` lines of a four-letter word's answer as a map.
fn key_values(text: &str, numbers: bool) -> Map<String, Value> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = if numbers { figure(v) } else { json!(v) };
            (k.to_string(), v)
        })
        .collect()
}

fn connection(c: &crate::engine::ConnState) -> Value {
    let avg = if c.count == 0 {
        0
    } else {
        c.total_latency / c.count as i64
    };
    json!({
        "remote_socket_address": c.addr,
        "interest_ops": 1,
        "outstanding_requests": c.outstanding,
        "packets_received": c.received,
        "packets_sent": c.sent,
        "session_id": format!("{:x}", c.session),
        "last_operation": c.last_op,
        "established": fourlw::java_date(c.established),
        "session_timeout": c.timeout,
        "last_cxid": format!("0x{:x}", c.last_cxid),
        "last_zxid": format!("0x{:x}", c.last_zxid),
        "last_response_time": c.last_response,
        "last_latency": c.last_latency,
        "min_latency": c.min_latency,
        "avg_latency": avg,
        "max_latency": c.max_latency,
    })
}

fn server_stats(e: &Engine, info: &ServerInfo, out: &mut Map<String, Value>) {
    let s = &e.stats;
    let st = info.settings;
    out.insert("version".into(), json!(fourlw::version_string()));
    out.insert("read_only".into(), json!(false));
    out.insert(
        "server_stats".into(),
        json!({
            "packets_sent": s.sent,
            "packets_received": s.received,
            "fsync_threshold_exceed_count": 0,
            "client_response_stats": {
                "last_buffer_size": s.last_response_size,
                "min_buffer_size": s.min_response_size,
                "max_buffer_size": s.max_response_size,
            },
            "provider_null": false,
            "server_state": info.mode,
            "avg_latency": (s.avg_latency() * 10000.0).round() / 10000.0,
            "max_latency": s.max_latency,
            "min_latency": s.min_latency,
            "outstanding_requests": e.outstanding(),
            "num_alive_client_connections": e.conns.len(),
            "last_processed_zxid": e.last_zxid(),
            "data_dir_size": fourlw::dir_size(&st.storage.data_dir),
            "log_dir_size": fourlw::dir_size(st.data_log_dir()),
            "uptime": (info.now_ms - info.started_ms).max(0),
            "auth_failed_count": s.auth_failed,
            "non_mtls_remote_conn_count": 0,
            "non_mtls_local_conn_count": 0,
        }),
    );
    out.insert(
        "client_response".into(),
        json!({
            "last_buffer_size": s.last_response_size,
            "min_buffer_size": s.min_response_size,
            "max_buffer_size": s.max_response_size,
        }),
    );
    out.insert("node_count".into(), json!(e.tree.node_count() + 1));
}

/// The answer of the command whose primary name is `name`: its fields, without `command` and
/// `error`.
pub fn answer(name: &str, e: &mut Engine, info: &ServerInfo) -> Map<String, Value> {
    let mut out = Map::new();
    match name {
        "ruok" => {}
        "monitor" => {
            let gauges = fourlw::mntr_gauges(e, info)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v));
            for (k, v) in gauges.chain(crate::metrics::SERVER.mntr_rows()) {
                let k = k.strip_prefix("zk_").unwrap_or(&k).to_string();
                out.insert(k, figure(&v));
            }
        }
        "server_stats" => server_stats(e, info, &mut out),
        "stats" => {
            server_stats(e, info, &mut out);
            let conns: Vec<Value> = e.conns.values().map(connection).collect();
            out.insert("connections".into(), json!(conns));
            out.insert("secure_connections".into(), json!([]));
        }
        "connections" => {
            let conns: Vec<Value> = e.conns.values().map(connection).collect();
            out.insert("connections".into(), json!(conns));
            out.insert("secure_connections".into(), json!([]));
        }
        "configuration" => out = key_values(&fourlw::answer("conf", e, info), true),
        "environment" => out = key_values(&fourlw::answer("envi", e, info), false),
        "dirs" => {
            let st = info.settings;
            out.insert(
                "datadir_size".into(),
                json!(fourlw::dir_size(&st.storage.data_dir)),
            );
            out.insert(
                "logdir_size".into(),
                json!(fourlw::dir_size(st.data_log_dir())),
            );
        }
        "get_trace_mask" => {
            out.insert("tracemask".into(), json!(0));
        }
        "is_read_only" => {
            out.insert("read_only".into(), json!(false));
        }
        "connection_stat_reset" => {
            fourlw::answer("crst", e, info);
        }
        "stat_reset" => {
            fourlw::answer("srst", e, info);
        }
        "dump" => {
            // Keys as ZooKeeper's maps of longs give them: decimal strings.
            let mut expiry = Map::new();
            for (deadline, ids) in &info.buckets {
                expiry.insert(deadline.to_string(), json!(ids));
            }
            let mut eph = Map::new();
            let ephemerals = e.tree.ephemerals();
            let mut ids: Vec<_> = ephemerals.keys().copied().collect();
            ids.sort();
            for id in ids {
                eph.insert(id.to_string(), json!(ephemerals[&id]));
            }
            out.insert("expiry_time_to_session_ids".into(), Value::Object(expiry));
            out.insert("session_id_to_ephemeral_paths".into(), Value::Object(eph));
        }
        "watches" => {
            let mut by_session = Map::new();
            for (conn, paths) in e.watches.data_by_conn() {
                let sid = e.conns.get(&conn).map_or(0, |c| c.session);
                by_session.insert(sid.to_string(), json!(paths));
            }
            out.insert(
                "session_id_to_watched_paths".into(),
                Value::Object(by_session),
            );
        }
        "watches_by_path" => {
            let mut by_path = Map::new();
            for (p, conns) in e.watches.data_by_path() {
                let sids: Vec<i64> = conns
                    .iter()
                    .map(|c| e.conns.get(c).map_or(0, |c| c.session))
                    .collect();
                by_path.insert(p.to_string(), json!(sids));
            }
            out.insert("path_to_session_ids".into(), Value::Object(by_path));
        }
        "zabstate" => zab_state(e, info, &mut out),
        "watch_summary" => {
            let (conns, paths, total) = e.watches.data_summary();
            out.insert("num_connections".into(), json!(conns));
            out.insert("num_paths".into(), json!(paths));
            out.insert("num_total_watches".into(), json!(total));
        }
        "leader" => match &info.quorum {
            Some(q) => {
                let leader = q.leader.unwrap_or(0);
                let ip = info
                    .settings
                    .members()
                    .ok()
                    .and_then(|ms| ms.into_iter().find(|m| m.id == leader))
                    .map_or(String::new(), |m| m.host);
                out.insert("is_leader".into(), json!(info.mode == "leader"));
                out.insert("leader_id".into(), json!(leader));
                out.insert("leader_ip".into(), json!(ip));
            }
            None => {
                out.insert("error".into(), json!("server is not initialized"));
            }
        },
        "voting_view" => {
            let mut view = Map::new();
            if info.quorum.is_some() {
                for m in info.settings.members().unwrap_or_default() {
                    let host = if m.host.contains(':') {
                        format!("[{}]", m.host)
                    } else {
                        m.host.clone()
                    };
                    view.insert(
                        m.id.to_string(),
                        json!({
                            "server_addresses": [format!("{host}:{}", m.quorum_port)],
                            "election_addresses": [format!("{host}:{}", m.election_port)],
                            "client_address": m
                                .client
                                .as_ref()
                                .map_or(String::new(), |(h, p)| format!("{h}:{p}")),
                            "learner_type": if m.observer { "observer" } else { "participant" },
                        }),
                    );
                }
            }
            out.insert("current_config".into(), Value::Object(view));
        }
        _ => {}
    }
    out
}

/// ZooKeeper's `zabstate`: this member's addresses, whether it votes, its last zxid and the
/// phase of ZAB it is in (`election`, `discovery`, `synchronization`, `broadcast`); a
/// standalone server does not vote and has no phase.
fn zab_state(e: &Engine, info: &ServerInfo, out: &mut Map<String, Value>) {
    let st = info.settings;
    let me = info
        .quorum
        .as_ref()
        .and_then(|_| st.members().ok())
        .and_then(|ms| ms.into_iter().find(|m| m.id == st.server.id));
    let Some(m) = me else {
        out.insert("voting".into(), json!(false));
        out.insert("zabstate".into(), json!(""));
        return;
    };
    let q = info.quorum.as_ref().expect("a member has a quorum view");
    let host = if m.host.contains(':') {
        format!("[{}]", m.host)
    } else {
        m.host.clone()
    };
    let zxid = e.tree.last_zxid;
    let phase = match q.peer_state.split_once(" - ") {
        Some((_, phase)) => phase.to_string(),
        None => "election".to_string(),
    };
    out.insert("myid".into(), json!(st.server.id));
    out.insert("is_leader".into(), json!(info.mode == "leader"));
    out.insert(
        "quorum_address".into(),
        json!(format!("{host}:{}", m.quorum_port)),
    );
    out.insert(
        "election_address".into(),
        json!(format!("{host}:{}", m.election_port)),
    );
    out.insert(
        "client_address".into(),
        json!(m
            .client
            .as_ref()
            .map_or(String::new(), |(h, p)| format!("{h}:{p}"))),
    );
    out.insert("voting".into(), json!(!m.observer));
    out.insert("last_zxid".into(), json!(format!("0x{zxid:x}")));
    out.insert("zab_epoch".into(), json!(zxid >> 32));
    out.insert("zab_counter".into(), json!(zxid & 0xffff_ffff));
    out.insert("zabstate".into(), json!(phase));
}

/// The JSON document of an answer: `command`, `error` (null when none) and the fields.
pub fn document(command: &str, fields: Map<String, Value>) -> String {
    let mut doc = Map::new();
    doc.insert("command".into(), json!(command));
    let error = fields.get("error").cloned().unwrap_or(Value::Null);
    doc.insert("error".into(), error);
    for (k, v) in fields {
        if k != "error" {
            doc.insert(k, v);
        }
    }
    serde_json::to_string_pretty(&Value::Object(doc)).unwrap_or_default()
}

async fn run_command(
    name: web::Path<String>,
    tree: web::Data<Addr<DataTreeActor>>,
) -> HttpResponse {
    let name = name.into_inner();
    let Some((primary, _)) = lookup(&name) else {
        let mut f = Map::new();
        f.insert("error".into(), json!(format!("Unknown command: {name}")));
        return HttpResponse::NotFound()
            .content_type("application/json")
            .body(document(&name, f));
    };
    let fields = tree
        .send(AdminCommand(primary.to_string()))
        .await
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document(primary, fields))
}

async fn list(url: web::Data<String>) -> HttpResponse {
    let mut html = String::from("<html><body><h1>Keeper AdminServer commands</h1>\n");
    for (name, _, _) in COMMANDS {
        html.push_str(&format!(
            "<a href=\"{url}/{name}\">{name}</a><br/>\n",
            url = url.get_ref()
        ));
    }
    html.push_str("</body></html>\n");
    HttpResponse::Ok().content_type("text/html").body(html)
}

/// Start the AdminServer when enabled. As ZooKeeper, a port that cannot be bound only warns:
/// the server runs on without it.
pub fn start(settings: &Settings, tree: Addr<DataTreeActor>) {
    let a = &settings.admin;
    if !a.enabled {
        return;
    }
    let url = a.command_url.trim_end_matches('/').to_string();
    let data = web::Data::new(tree);
    let url_data = web::Data::new(url.clone());
    let route = url.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(url_data.clone())
            .route(&format!("{route}/{{name}}"), web::get().to(run_command))
            .route(&route, web::get().to(list))
    })
    .workers(1)
    .disable_signals()
    .bind((a.address.as_str(), a.port));
    match server {
        Ok(s) => {
            tracing::info!(
                "AdminServer at http://{}:{}{url}/<command>",
                a.address,
                a.port
            );
            actix::spawn(s.run());
        }
        Err(e) => tracing::warn!(
            "AdminServer not started: cannot listen on {}:{} (admin.address, admin.port): {e}; \
             the server runs on without it (set admin.enabled = false to silence this)",
            a.address,
            a.port
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_answer_under_every_name_of_zookeeper() {
        assert_eq!(lookup("mntr"), Some(("monitor", false)));
        assert_eq!(lookup("srvr"), Some(("server_stats", true)));
        assert_eq!(lookup("isro"), Some(("is_read_only", true)));
        assert_eq!(lookup("conf"), Some(("configuration", true)));
        assert_eq!(lookup("kill"), None);
    }

    #[test]
    fn a_document_has_command_and_error_and_numbers_as_numbers() {
        let mut f = Map::new();
        f.insert("znode_count".into(), figure("5"));
        f.insert("avg_latency".into(), figure("0.5"));
        f.insert("server_state".into(), figure("leader"));
        let d: Value = serde_json::from_str(&document("monitor", f)).unwrap();
        assert_eq!(d["command"], "monitor");
        assert_eq!(d["error"], Value::Null);
        assert_eq!(d["znode_count"], 5);
        assert_eq!(d["avg_latency"], 0.5);
        assert_eq!(d["server_state"], "leader");
    }
}
