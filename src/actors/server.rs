//! Wiring of a server (standalone or an ensemble member): the tree actor with its session
//! tracker and the ZAB actor on one arbiter, the log writer on its own thread, client
//! connections on IO arbiters or, with `client.io_threads = 0`, on the tree's arbiter.

use super::client_io::Limits;
use super::client_listener::ClientListener;
use super::data_tree::{now_ms, DataTreeActor, GetPersister, GetTracker};
use super::session_tracker::SessionTracker;
use super::zab::ZabActor;
use crate::datatree::TreeConfig;
use crate::engine::{Engine, EngineConfig};
use crate::settings::Member;
use crate::settings::Settings;
use crate::storage::{lock, recovery, version_dir};
use std::sync::Mutex;

/// The directory locks, held for the life of the process.
static HELD_LOCKS: Mutex<Vec<lock::DirLock>> = Mutex::new(Vec::new());
use actix::prelude::*;
use tokio::net::TcpListener;

/// An arbiter whose thread carries a name, so per-thread CPU reports (`bench/threads.py`, top -H,
/// perf) say what each thread is.
fn named_arbiter(name: String) -> Arbiter {
    let a = Arbiter::new();
    a.spawn_fn(move || name_this_thread(&name));
    a
}

/// Set the calling thread's name (at most 15 bytes are kept by the kernel).
pub fn name_this_thread(name: &str) {
    let mut bytes: Vec<u8> = name.bytes().take(15).collect();
    bytes.push(0);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes from a live buffer.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, bytes.as_ptr() as libc::c_ulong, 0, 0, 0);
    }
}

pub fn engine_config(s: &Settings) -> EngineConfig {
    EngineConfig {
        server_id: s.server.id,
        min_session_timeout: s.min_session_timeout_ms(),
        max_session_timeout: s.max_session_timeout_ms(),
        super_digest: s.server.super_digest.clone(),
        extended_types: s.server.extended_types_enabled,
    }
}

/// Start a standalone server inside the running actix System. Returns the bound address.
pub async fn start_standalone(settings: Settings) -> std::io::Result<std::net::SocketAddr> {
    start(settings, Vec::new()).await
}

/// Start a server: standalone when `members` is empty, else a member of that ensemble.
pub async fn start(
    settings: Settings,
    members: Vec<Member>,
) -> std::io::Result<std::net::SocketAddr> {
    let ensemble = !members.is_empty();
    // Before anything reads or writes the directories: a second server on them must stop here.
    let locks = lock::lock_storage(&settings.storage.data_dir, settings.data_log_dir())
        .map_err(std::io::Error::other)?;
    HELD_LOCKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(locks);
    if ensemble && settings.tls.quorum {
        let t = crate::tls::quorum::QuorumTls::new(&settings.tls, &members)
            .map_err(std::io::Error::other)?;
        crate::tls::quorum::install(t);
        tracing::info!("quorum and election ports: mutual TLS (sslQuorum)");
    }
    let quorum_listener = match members.iter().find(|m| m.id == settings.server.id) {
        Some(me) if ensemble => {
            let addr = me.listen_addr(me.quorum_port, settings.quorum.listen_on_all_ips);
            Some(TcpListener::bind(&addr).await.map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot listen on {addr} (quorum port of quorum.members.{}): {e}",
                        me.id
                    ),
                )
            })?)
        }
        None if ensemble => {
            return Err(std::io::Error::other(format!(
                "server id {} (server.id / myid) is not in quorum.members",
                settings.server.id
            )))
        }
        _ => None,
    };
    let bind = format!("{}:{}", settings.client.address, settings.client.port);
    let listener = TcpListener::bind(&bind).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {bind} (client.address, client.port): {e}"),
        )
    })?;
    let local = listener.local_addr()?;
    // The secure client port: its TLS files are read now, so that a bad one stops the server
    // with a message naming it rather than failing every client later.
    let secure = if settings.client.secure_port != 0 {
        let tls = crate::tls::ClientTls::new(&settings.tls).map_err(std::io::Error::other)?;
        let address = if settings.client.secure_address.is_empty() {
            &settings.client.address
        } else {
            &settings.client.secure_address
        };
        let bind = format!("{address}:{}", settings.client.secure_port);
        let l = TcpListener::bind(&bind).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot listen on {bind} (client.secure_address, client.secure_port): {e}"),
            )
        })?;
        tracing::info!(
            "secure client port {} (TLS, client certificates: {})",
            l.local_addr()?,
            settings.tls.client_auth
        );
        Some((l, std::sync::Arc::new(tls)))
    } else {
        None
    };
    let config = TreeConfig {
        extended_types: settings.server.extended_types_enabled,
    };
    let data_dir = version_dir(&settings.storage.data_dir);
    let log_dir = version_dir(settings.data_log_dir());
    let recovered =
        recovery::recover(&data_dir, &log_dir, config).map_err(std::io::Error::other)?;
    // As ZooKeeper does at start, a snapshot of the recovered state when the log had to be
    // replayed, so that the next start does not replay it again; but taken in the background
    // once the server serves (ZooKeeper writes it before serving: 2.3 of the 3.5 s a million
    // znodes took to recover). The log it covers stays until the snapshot is complete.
    let snapshot_at_start = recovered.replayed > 0;
    if !settings.storage.force_sync {
        tracing::warn!(
            "storage.force_sync is false: the transaction log is NOT fsynced, acknowledged writes can be lost on power failure"
        );
    }
    let engine = Engine::with_tree(engine_config(&settings), recovered.tree, now_ms());
    let tree_arbiter = named_arbiter("keeper-tree".into());
    let tick = settings.server.tick_time;
    let s2 = settings.clone();
    let tree = DataTreeActor::start_in_arbiter(&tree_arbiter.handle(), move |ctx| {
        let tracker = SessionTracker::new(tick, ctx.address(), now_ms()).start();
        let mut actor = DataTreeActor::new(engine, s2, tracker);
        actor.snapshot_at_start = snapshot_at_start;
        if ensemble {
            actor.for_ensemble()
        } else {
            actor
        }
    });
    if settings.telemetry.metrics_port != 0 {
        crate::metrics::http::start(
            &settings.telemetry.metrics_host,
            settings.telemetry.metrics_port,
            tree.clone(),
        )?;
    }
    crate::admin::start(&settings, tree.clone());
    let tracker = tree.send(GetTracker).await.ok().flatten();
    if let (Some(listener), Some(tracker)) = (quorum_listener, tracker.clone()) {
        let persister = tree
            .send(GetPersister)
            .await
            .ok()
            .flatten()
            .ok_or_else(|| std::io::Error::other("the transaction log writer did not start"))?;
        let zab = ZabActor::new(
            settings.clone(),
            members,
            tree.clone(),
            tracker,
            persister,
            listener.into_std()?,
        )
        .map_err(std::io::Error::other)?;
        // The quorum links' reading, decoding, encoding and sending on threads of their own,
        // so that the tree's thread keeps only the tree and the protocol's decisions.
        let link_threads = (0..settings.quorum_io_threads())
            .map(|i| named_arbiter(format!("keeper-peer-{i}")).handle())
            .collect();
        let zab = zab.with_link_threads(link_threads);
        // On the tree's thread: the commit path goes tree -> ZAB -> tree several times per
        // write, and a message between actors of one arbiter needs no thread wake-up.
        ZabActor::start_in_arbiter(&tree_arbiter.handle(), move |_| zab);
    }
    let io_threads = settings.client_io_threads();
    let arbiters = if io_threads == 0 {
        vec![tree_arbiter.handle()]
    } else {
        (0..io_threads)
            .map(|i| named_arbiter(format!("keeper-io-{i}")).handle())
            .collect()
    };
    let limits = Limits::new(
        settings.client.max_in_flight,
        settings.client.max_queued_bytes,
        settings.server.global_outstanding_limit,
    );
    let client_listener = |l| {
        ClientListener::new(
            l,
            tree.clone(),
            tracker.clone(),
            arbiters.clone(),
            settings.server.max_client_cnxns,
            settings.server.jute_max_buffer,
            limits.clone(),
            tick,
        )
    };
    client_listener(listener).start();
    if let Some((l, tls)) = secure {
        // Its own per-IP count, as ZooKeeper's secure connection factory keeps.
        client_listener(l).with_tls(tls).start();
    }
    // The arbiters live as long as the process.
    std::mem::forget(tree_arbiter);
    Ok(local)
}
