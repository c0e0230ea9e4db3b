//! OpenTelemetry traces from real `keeper server` processes, collected by an OTLP receiver in
//! the test (tests/common/otlp.rs): one sampled write through a follower is one trace with
//! spans from every server it touched, correctly parented and naming its zxid; elections and
//! syncs give their traces; a server configured by the standard `OTEL_*` variables alone
//! exports over gRPC; a dead collector changes nothing for clients.

mod common;

use common::cluster::*;
use common::otlp::{RSpan, Receiver};
use common::{free_port, http_get, Ensemble};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;
use zookeeper_client as zk;

fn traced(receiver: &Receiver) -> Vec<String> {
    vec![
        format!("telemetry.otlp_endpoint={}", receiver.url()),
        "telemetry.otlp_protocol=http/protobuf".into(),
        "telemetry.sampling_ratio=1".into(),
    ]
}

fn create_through(e: &Ensemble, id: u64, path: &str) -> i64 {
    rt().block_on(async {
        let c = client_of(e, id).await;
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        let (stat, _) = c.create(path, b"x", &opts).await.expect("create");
        stat.czxid
    })
}

fn by_id(spans: &[RSpan]) -> BTreeMap<String, RSpan> {
    spans
        .iter()
        .map(|s| (s.span_id.clone(), s.clone()))
        .collect()
}

#[test]
fn one_write_through_a_follower_is_one_trace_across_every_server() {
    let _serial = serial();
    let receiver = Receiver::http();
    let extra = traced(&receiver);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut e = Ensemble::new(3, 1, &extra)
        .with_http()
        .with_env("OTEL_BSP_SCHEDULE_DELAY", "100");
    e.start_all();
    let modes = e.wait_modes(Duration::from_secs(30));
    let leader = *modes.iter().find(|m| m.1 == "leader").expect("a leader").0;
    let follower = *modes
        .iter()
        .find(|m| m.1 == "follower")
        .expect("a follower")
        .0;
    let observer = *modes
        .iter()
        .find(|m| m.1 == "observer")
        .expect("an observer")
        .0;
    let other = *modes
        .iter()
        .find(|m| m.1 == "follower" && *m.0 != follower)
        .expect("a second follower")
        .0;

    // A client of the second follower watches the path: the write fires its watch there.
    let watch_rt = rt();
    let (_watching, watch) = watch_rt.block_on(async {
        let c = client_of(&e, other).await;
        let (stat, w) = c.check_and_watch_stat("/traced").await.expect("exists");
        assert!(stat.is_none());
        (c, w)
    });
    let zxid = create_through(&e, follower, "/traced");
    watch_rt.block_on(async {
        let ev = tokio::time::timeout(Duration::from_secs(10), watch.changed())
            .await
            .expect("the watch fires");
        assert_eq!(ev.path, "/traced");
    });
    let hex = format!("0x{zxid:x}");
    let root_of = |s: &[RSpan]| {
        s.iter()
            .find(|x| {
                x.name == "create" && x.attrs.get("zk.path").map(String::as_str) == Some("/traced")
            })
            .cloned()
    };
    let spans = receiver.wait_for(Duration::from_secs(15), |s| {
        root_of(s).is_some_and(|r| {
            let in_trace: BTreeSet<&str> = s
                .iter()
                .filter(|x| x.trace_id == r.trace_id)
                .map(|x| x.name.as_str())
                .collect();
            [
                "propose",
                "proposal",
                "inform",
                "quorum wait",
                "apply + watches",
            ]
            .iter()
            .all(|n| in_trace.contains(n))
                && s.iter()
                    .filter(|x| x.trace_id == r.trace_id && x.name == "apply + watches")
                    .count()
                    >= 4
                && s.iter()
                    .filter(|x| x.trace_id == r.trace_id && x.name == "proposal")
                    .count()
                    >= 2
        })
    });
    let root = root_of(&spans).unwrap_or_else(|| panic!("no root span for the write: {spans:#?}"));
    let trace: Vec<RSpan> = spans
        .iter()
        .filter(|s| s.trace_id == root.trace_id)
        .cloned()
        .collect();
    let ids = by_id(&trace);
    let summary: Vec<String> = trace
        .iter()
        .map(|s| format!("{} on {} (parent {})", s.name, s.instance, s.parent))
        .collect();

    // The root: on the follower the client used, no parent, with the write's zxid and path.
    assert_eq!(root.instance, follower.to_string(), "{summary:#?}");
    assert_eq!(root.parent, "", "{summary:#?}");
    assert_eq!(root.service, "keeper");
    assert_eq!(root.attrs.get("zk.zxid"), Some(&hex), "{:?}", root.attrs);
    assert_eq!(
        root.attrs.get("keeper.role").map(String::as_str),
        Some("following")
    );
    assert!(
        root.events.iter().any(|e| e == "forwarded to the leader"),
        "{:?}",
        root.events
    );

    // The leader's propose span hangs under the root; its log and quorum spans under it.
    let propose: Vec<&RSpan> = trace.iter().filter(|s| s.name == "propose").collect();
    assert_eq!(propose.len(), 1, "{summary:#?}");
    let propose = propose[0];
    assert_eq!(propose.instance, leader.to_string(), "{summary:#?}");
    assert_eq!(propose.parent, root.span_id, "{summary:#?}");
    assert_eq!(propose.attrs.get("zk.zxid"), Some(&hex));
    assert_eq!(
        propose.attrs.get("keeper.role").map(String::as_str),
        Some("leading")
    );
    for child in ["log append + fsync", "quorum wait"] {
        assert!(
            trace.iter().any(|s| s.name == child
                && s.instance == leader.to_string()
                && s.parent == propose.span_id),
            "no {child} under the leader's propose: {summary:#?}"
        );
    }
    let quorum = trace
        .iter()
        .find(|s| s.name == "quorum wait")
        .expect("quorum wait");
    assert!(
        quorum.events.iter().any(|e| e == "ACK"),
        "{:?}",
        quorum.events
    );
    assert!(
        quorum.events.iter().any(|e| e == "quorum reached"),
        "{:?}",
        quorum.events
    );

    // Each follower: a proposal span under the leader's, with its own log append and ACK.
    for f in [follower, other] {
        let p = trace
            .iter()
            .find(|s| s.name == "proposal" && s.instance == f.to_string())
            .unwrap_or_else(|| panic!("no proposal span on follower {f}: {summary:#?}"));
        assert_eq!(p.parent, propose.span_id, "{summary:#?}");
        assert_eq!(p.attrs.get("zk.zxid"), Some(&hex));
        assert!(p.events.iter().any(|e| e == "ACK sent"), "{:?}", p.events);
        assert!(
            trace
                .iter()
                .any(|s| s.name == "log append + fsync" && s.parent == p.span_id),
            "no log span under follower {f}'s proposal: {summary:#?}"
        );
    }
    // The observer: an inform span under the leader's.
    let inform = trace
        .iter()
        .find(|s| s.name == "inform")
        .unwrap_or_else(|| panic!("no inform span: {summary:#?}"));
    assert_eq!(inform.instance, observer.to_string());
    assert_eq!(inform.parent, propose.span_id);

    // Every server applied it under its own span of the write; the watch fired on one.
    for id in e.ids() {
        let apply = trace
            .iter()
            .find(|s| s.name == "apply + watches" && s.instance == id.to_string())
            .unwrap_or_else(|| panic!("no apply span on server {id}: {summary:#?}"));
        let parent = &ids[&apply.parent];
        assert_eq!(parent.instance, id.to_string(), "{summary:#?}");
        assert_eq!(apply.attrs.get("zk.zxid"), Some(&hex));
        let fired = apply.attrs.get("zk.watches_fired").map(String::as_str);
        let want = if id == other { "1" } else { "0" };
        assert_eq!(fired, Some(want), "server {id}: {:?}", apply.attrs);
    }

    // Every span's parent is in the trace (nothing dangles), and every server is in it.
    for s in &trace {
        assert!(
            s.parent.is_empty() || ids.contains_key(&s.parent),
            "{summary:#?}"
        );
        assert!(s.end_ns >= s.start_ns);
    }
    let servers: BTreeSet<String> = trace.iter().map(|s| s.instance.clone()).collect();
    let all: BTreeSet<String> = e.ids().iter().map(|i| i.to_string()).collect();
    assert_eq!(servers, all, "{summary:#?}");

    // Each server traced the election that formed the ensemble, and the sync after it.
    let spans = receiver.spans();
    for id in e.ids() {
        election_then_sync(&spans, id, leader);
    }

    // The metrics say nothing was dropped.
    let (_, m) = http_get(e.metrics_port(leader), "/metrics").expect("metrics");
    assert!(m.contains("keeper_trace_spans_dropped 0"), "{m}");
}

#[test]
fn a_failover_is_traced_as_an_election_and_a_sync() {
    let _serial = serial();
    let receiver = Receiver::http();
    let extra = traced(&receiver);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut e = Ensemble::new(3, 0, &extra).with_env("OTEL_BSP_SCHEDULE_DELAY", "100");
    e.start_all();
    let leader = e.wait_leader(Duration::from_secs(30));
    create_through(&e, leader, "/before");
    let before = receiver.spans().len();
    e.kill(leader);
    let new_leader = e.wait_leader(Duration::from_secs(30));
    assert_ne!(new_leader, leader);
    let survivors: Vec<u64> = e.ids().into_iter().filter(|i| *i != leader).collect();
    let spans = receiver.wait_for(Duration::from_secs(10), |s| {
        let later = &s[before.min(s.len())..];
        survivors.iter().all(|id| {
            later
                .iter()
                .any(|x| x.name.ends_with(" sync") && x.instance == id.to_string())
        })
    });
    let later = &spans[before.min(spans.len())..];
    for id in survivors {
        let sync = election_then_sync(later, id, new_leader);
        let want = if id == new_leader {
            "leader sync"
        } else {
            "learner sync"
        };
        assert_eq!(sync.name, want);
        if id != new_leader {
            assert!(
                sync.attrs.contains_key("keeper.sync_mode"),
                "{:?}",
                sync.attrs
            );
        }
    }
}

/// Server `id` traced an election that chose `leader` (with its outcome), and under it, in the
/// same trace, the sync that followed.
fn election_then_sync(spans: &[RSpan], id: u64, leader: u64) -> RSpan {
    let me = id.to_string();
    let elections: Vec<&RSpan> = spans
        .iter()
        .filter(|s| {
            s.name == "election"
                && s.instance == me
                && s.attrs.get("keeper.leader") == Some(&leader.to_string())
        })
        .collect();
    assert!(
        !elections.is_empty(),
        "no election of {leader} traced by {id}: {spans:#?}"
    );
    for el in &elections {
        assert!(el.attrs.contains_key("keeper.outcome"), "{:?}", el.attrs);
        assert!(el.attrs.contains_key("keeper.rounds"), "{:?}", el.attrs);
    }
    spans
        .iter()
        .find(|s| {
            s.name.ends_with(" sync")
                && s.instance == me
                && elections
                    .iter()
                    .any(|el| s.parent == el.span_id && s.trace_id == el.trace_id)
        })
        .cloned()
        .unwrap_or_else(|| panic!("no sync under {id}'s election: {spans:#?}"))
}

/// A server started from a plain zoo.cfg is traced by the standard environment variables
/// alone, here over OTLP/gRPC; a standalone write has its log append under it.
#[test]
fn the_otel_environment_alone_traces_a_zoo_cfg_server_over_grpc() {
    let _serial = serial();
    let receiver = Receiver::grpc();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    std::fs::write(
        dir.path().join("zoo.cfg"),
        format!(
            "tickTime=2000\nclientPort={port}\nclientPortAddress=127.0.0.1\ndataDir={}\n\
             admin.enableServer=false\n4lw.commands.whitelist=*\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_keeper"))
        .args(["server", "--config"])
        .arg(dir.path().join("zoo.cfg"))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .env("OTEL_TRACES_SAMPLER", "parentbased_always_on")
        .env("OTEL_SERVICE_NAME", "zk-by-env")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start keeper");
    let addr = format!("127.0.0.1:{port}");
    rt().block_on(async {
        let c = connect(&addr).await;
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        c.create("/env", b"x", &opts).await.expect("create");
    });
    let spans = receiver.wait_for(Duration::from_secs(15), |s| {
        s.iter().any(|x| x.name == "create") && s.iter().any(|x| x.name == "log append + fsync")
    });
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    let root = spans
        .iter()
        .find(|s| s.name == "create")
        .unwrap_or_else(|| panic!("no create span over gRPC: {spans:#?}\n{log}"));
    assert_eq!(root.service, "zk-by-env");
    assert_eq!(root.attrs.get("zk.path").map(String::as_str), Some("/env"));
    assert_eq!(
        root.attrs.get("keeper.role").map(String::as_str),
        Some("standalone")
    );
    let fsync = spans
        .iter()
        .find(|s| s.name == "log append + fsync")
        .expect("log span");
    assert_eq!(fsync.parent, root.span_id);
}

/// A collector that is not there: every write still succeeds, the export queue stays bounded
/// (what does not fit is dropped and counted), and the log says so once.
#[test]
fn a_dead_collector_changes_nothing_for_clients() {
    let _serial = serial();
    // Accepts connections (the kernel does) but never answers: every export hangs until its
    // timeout, the worst a collector can do.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!(
        "http://127.0.0.1:{}",
        blackhole.local_addr().unwrap().port()
    );
    let mut e = Ensemble::new(
        3,
        0,
        &[
            &format!("telemetry.otlp_endpoint={dead}"),
            "telemetry.otlp_protocol=http/protobuf",
            "telemetry.sampling_ratio=1",
        ],
    )
    .with_http()
    .with_env("OTEL_BSP_MAX_QUEUE_SIZE", "64")
    .with_env("OTEL_BSP_SCHEDULE_DELAY", "100");
    e.start_all();
    let modes = e.wait_modes(Duration::from_secs(30));
    let follower = *modes
        .iter()
        .find(|m| m.1 == "follower")
        .expect("a follower")
        .0;
    rt().block_on(async {
        let c = client_of(&e, follower).await;
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        for i in 0..300 {
            within(10, "create", c.create(&format!("/d{i}"), b"x", &opts))
                .await
                .expect("create");
        }
        let (children, _) = c.get_children("/").await.expect("children");
        assert!(children.len() >= 300);
    });
    let (_, m) = http_get(e.metrics_port(follower), "/metrics").expect("metrics");
    let dropped: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix("keeper_trace_spans_dropped "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no keeper_trace_spans_dropped: {m}"));
    assert!(dropped > 0.0, "{m}");
    let log = e.log(follower);
    assert_eq!(
        log.matches("the export queue is full").count(),
        1,
        "logged once:\n{log}"
    );
}
