//! DataTreeActor: the shell around the request engine. It owns the tree, feeds it requests in
//! arrival order, hands txns to the Persister and forwards the engine's ordered outputs to the
//! connections.

use super::persister::Persister;
use super::session_tracker::{Buckets, SessionTracker, Track, Untrack};
use crate::codec::jute::{ConnectRequest, Request};
use crate::datatree::watch::ConnId;
use crate::datatree::Txn;
use crate::engine::{Engine, Out};
use crate::error::Code;
use crate::fourlw;
use crate::settings::Settings;
use crate::storage::snapshot::{SnapNode, SnapshotWriter};
use crate::storage::{retention, version_dir};
use actix::prelude::*;
use bytes::Bytes;
use rand::Rng;
use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn settings_snap_count(s: &Settings) -> u64 {
    s.storage.snap_count.max(2)
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What a connection is told by the tree actor.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum ToClient {
    Frame(Bytes),
    Close,
    Session(i64),
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Register {
    pub conn: ConnId,
    pub addr: String,
    pub client: Recipient<ToClient>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Unregister(pub ConnId);

#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect {
    pub conn: ConnId,
    pub req: ConnectRequest,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct ClientRequest {
    pub conn: ConnId,
    pub xid: i32,
    pub opcode: i32,
    pub req: Request,
}

/// The persister made everything up to `zxid` durable.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Durable {
    pub zxid: i64,
    pub txns: u64,
    /// Bytes in the current log segment.
    pub log_bytes: u64,
    pub sync_micros: u64,
}

/// The persister could not make the batch starting at `zxid` durable.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PersistFailed {
    pub zxid: i64,
}

/// Walk the next piece of the tree for a snapshot in progress.
#[derive(Message)]
#[rtype(result = "()")]
struct SnapStep;

/// A snapshot finished (or failed) on its writer thread.
#[derive(Message)]
#[rtype(result = "()")]
struct SnapDone(Result<i64, String>);

enum SnapMsg {
    Nodes(Vec<SnapNode>),
    Finish,
}

/// A fuzzy snapshot being taken: the tree is walked a piece at a time between requests, and
/// the pieces are written by a thread of their own.
struct SnapJob {
    stack: Vec<(String, Option<String>)>,
    tx: mpsc::Sender<SnapMsg>,
}

/// When to snapshot: after a randomised number of txns or bytes of log, so that the servers
/// of an ensemble do not all snapshot at once.
struct SnapPolicy {
    txns: u64,
    bytes: u64,
    txn_threshold: u64,
    byte_threshold: u64,
}

impl SnapPolicy {
    fn new(snap_count: u64, size_limit: u64) -> Self {
        let mut rng = rand::thread_rng();
        SnapPolicy {
            txns: 0,
            bytes: 0,
            txn_threshold: snap_count / 2 + rng.gen_range(0..(snap_count / 2).max(1)),
            byte_threshold: size_limit / 2 + rng.gen_range(0..(size_limit / 2).max(1)),
        }
    }

    fn due(&self) -> bool {
        self.txns >= self.txn_threshold || self.bytes >= self.byte_threshold
    }
}

/// Fsync time statistics (mntr's fsynctime).
#[derive(Default, Clone, Copy)]
pub struct SyncStats {
    pub count: u64,
    pub total_micros: u64,
    pub max_micros: u64,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct ExpireSessions(pub Vec<i64>);

#[derive(Message)]
#[rtype(result = "String")]
pub struct FourLetter(pub String);

#[derive(Message)]
#[rtype(result = "Option<Addr<SessionTracker>>")]
pub struct GetTracker;

impl Handler<GetTracker> for DataTreeActor {
    type Result = Option<Addr<SessionTracker>>;
    fn handle(&mut self, _: GetTracker, _: &mut Context<Self>) -> Self::Result {
        self.tracker.clone()
    }
}

pub struct DataTreeActor {
    engine: Engine,
    settings: Settings,
    clients: HashMap<ConnId, Recipient<ToClient>>,
    tracker: Option<Addr<SessionTracker>>,
    persister: Option<Persister>,
    batch: Vec<Txn>,
    started_ms: i64,
    snap: Option<SnapJob>,
    policy: SnapPolicy,
    pub sync_stats: SyncStats,
}

impl DataTreeActor {
    pub fn new(engine: Engine, settings: Settings, tracker: Addr<SessionTracker>) -> Self {
        let s_snap = settings.clone();
        DataTreeActor {
            engine,
            settings,
            clients: HashMap::new(),
            tracker: Some(tracker),
            persister: None,
            batch: Vec::new(),
            started_ms: now_ms(),
            snap: None,
            policy: SnapPolicy::new(settings_snap_count(&s_snap), s_snap.storage.snap_size_limit),
            sync_stats: SyncStats::default(),
        }
    }

    fn start_snapshot(&mut self, ctx: &mut Context<Self>) {
        if self.snap.is_some() {
            return;
        }
        let zxid = self.engine.last_zxid();
        let data_dir = version_dir(&self.settings.storage.data_dir);
        let log_dir = version_dir(self.settings.data_log_dir());
        let keep = self.settings.storage.snap_retain_count as usize;
        if let Some(p) = &self.persister {
            p.roll();
        }
        let sessions = self.engine.session_timeouts();
        let (tx, rx) = mpsc::channel::<SnapMsg>();
        let me = ctx.address();
        let spawned = std::thread::Builder::new()
            .name("keeper-snapshot".into())
            .spawn(move || {
                let result = (|| -> std::io::Result<i64> {
                    // Even creating the file happens here, off the event loop.
                    let mut writer = SnapshotWriter::create(&data_dir, zxid)?;
                    let written = (|| {
                        writer.sessions(sessions)?;
                        loop {
                            match rx.recv() {
                                Ok(SnapMsg::Nodes(n)) => writer.nodes(n)?,
                                Ok(SnapMsg::Finish) => return Ok(()),
                                Err(_) => return Err(std::io::Error::other("snapshot abandoned")),
                            }
                        }
                    })();
                    if let Err(e) = written {
                        writer.abandon();
                        return Err(e);
                    }
                    let path = writer.finish()?;
                    tracing::info!("snapshot {} written", path.display());
                    let purged = retention::purge(&data_dir, &log_dir, keep)?;
                    if purged.snapshots + purged.segments > 0 {
                        tracing::info!(
                            "purged {} old snapshots and {} log segments",
                            purged.snapshots,
                            purged.segments
                        );
                    }
                    Ok(zxid)
                })();
                me.do_send(SnapDone(result.map_err(|e| e.to_string())));
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the snapshot thread: {e}");
            return;
        }
        tracing::info!("taking a snapshot at zxid 0x{zxid:x}");
        let mut first = Vec::new();
        if let Some(root) = self.engine.tree.get("/") {
            first.push(SnapNode {
                path: "/".into(),
                data: root.data.clone(),
                acl: root.acl.clone(),
                stat: root.stat,
            });
        }
        let _ = tx.send(SnapMsg::Nodes(first));
        self.snap = Some(SnapJob {
            stack: vec![("/".into(), None)],
            tx,
        });
        self.policy = SnapPolicy::new(
            settings_snap_count(&self.settings),
            self.settings.storage.snap_size_limit,
        );
        ctx.notify(SnapStep);
    }

    fn run(&mut self, outs: Vec<Out>) {
        for o in outs {
            match o {
                Out::Send(c, b) => {
                    if let Some(r) = self.clients.get(&c) {
                        r.do_send(ToClient::Frame(b));
                    }
                }
                Out::Close(c) => {
                    if let Some(r) = self.clients.get(&c) {
                        r.do_send(ToClient::Close);
                    }
                }
                Out::Session(c, id) => {
                    if let Some(r) = self.clients.get(&c) {
                        r.do_send(ToClient::Session(id));
                    }
                }
                Out::Persist(t) => self.batch.push(t),
                Out::Forward(_) | Out::Revalidate { .. } | Out::SyncDone { .. } => {
                    tracing::error!("a standalone server has no leader or learners to talk to");
                }
                Out::Track(id, to) => {
                    if let Some(t) = &self.tracker {
                        t.do_send(Track(id, to));
                    }
                }
                Out::Untrack(id) => {
                    if let Some(t) = &self.tracker {
                        t.do_send(Untrack(id));
                    }
                }
            }
        }
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            if let Some(p) = &self.persister {
                p.append(batch);
            }
        }
    }
}

impl Actor for DataTreeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let me = ctx.address();
        let st = &self.settings.storage;
        match Persister::start(
            version_dir(self.settings.data_log_dir()),
            st.preallocate_size,
            st.force_sync,
            me,
        ) {
            Ok(p) => self.persister = Some(p),
            Err(e) => {
                tracing::error!("cannot start the transaction log writer: {e}");
                std::process::exit(1);
            }
        }
        // Sessions restored from disk start their timeouts afresh.
        if let Some(t) = &self.tracker {
            for (id, timeout) in self.engine.session_timeouts() {
                t.do_send(Track(id, timeout.max(0) as u64));
            }
        }
        let every = Duration::from_millis(self.settings.server.container_check_interval.max(10));
        ctx.run_interval(every, |act, _| {
            let outs = act.engine.reap(now_ms());
            act.run(outs);
        });
    }
}

impl Handler<Register> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: Register, _: &mut Context<Self>) {
        self.engine.connected(m.conn, &m.addr, now_ms());
        self.clients.insert(m.conn, m.client);
    }
}

impl Handler<Unregister> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: Unregister, _: &mut Context<Self>) {
        self.engine.disconnected(m.0);
        self.clients.remove(&m.0);
    }
}

impl Handler<Connect> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: Connect, _: &mut Context<Self>) {
        let outs = self.engine.connect(m.conn, &m.req, now_ms());
        self.run(outs);
    }
}

impl Handler<ClientRequest> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: ClientRequest, _: &mut Context<Self>) {
        let outs = self
            .engine
            .request(m.conn, m.xid, m.opcode, m.req, now_ms());
        self.run(outs);
    }
}

impl Handler<Durable> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: Durable, ctx: &mut Context<Self>) {
        let outs = self.engine.durable(m.zxid, now_ms());
        self.run(outs);
        let s = &mut self.sync_stats;
        s.count += 1;
        s.total_micros += m.sync_micros;
        s.max_micros = s.max_micros.max(m.sync_micros);
        self.policy.txns += m.txns;
        self.policy.bytes = m.log_bytes;
        if self.policy.due() {
            self.start_snapshot(ctx);
        }
    }
}

impl Handler<PersistFailed> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: PersistFailed, _: &mut Context<Self>) {
        let outs = self.engine.failed(m.zxid, Code::SystemError, now_ms());
        self.run(outs);
        if let Some(p) = &self.persister {
            p.resume();
        }
    }
}

impl Handler<SnapStep> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, _: SnapStep, ctx: &mut Context<Self>) {
        let Some(job) = self.snap.as_mut() else {
            return;
        };
        let tree = &self.engine.tree;
        let mut chunk = Vec::with_capacity(1000);
        // Walk a bounded piece per turn so clients and pings are served in between.
        while chunk.len() < 1000 {
            let Some((dir, last)) = job.stack.last().cloned() else {
                break;
            };
            match tree.next_child(&dir, last.as_deref()) {
                None => {
                    job.stack.pop();
                }
                Some(name) => {
                    if let Some(top) = job.stack.last_mut() {
                        top.1 = Some(name.clone());
                    }
                    let child = crate::datatree::path::join(&dir, &name);
                    if let Some(n) = tree.get(&child) {
                        chunk.push(SnapNode {
                            path: child.clone(),
                            data: n.data.clone(),
                            acl: n.acl.clone(),
                            stat: n.stat,
                        });
                    }
                    job.stack.push((child, None));
                }
            }
        }
        if !chunk.is_empty() {
            let _ = job.tx.send(SnapMsg::Nodes(chunk));
        }
        if job.stack.is_empty() {
            let _ = job.tx.send(SnapMsg::Finish);
        } else {
            ctx.notify(SnapStep);
        }
    }
}

impl Handler<SnapDone> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: SnapDone, _: &mut Context<Self>) {
        self.snap = None;
        if let Err(e) = m.0 {
            tracing::error!("snapshot failed: {e}");
        }
    }
}

impl Handler<ExpireSessions> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: ExpireSessions, _: &mut Context<Self>) {
        let outs = self.engine.expire(&m.0, now_ms());
        self.run(outs);
    }
}

impl Handler<FourLetter> for DataTreeActor {
    type Result = ResponseActFuture<Self, String>;
    fn handle(&mut self, m: FourLetter, _: &mut Context<Self>) -> Self::Result {
        let tracker = self.tracker.clone();
        let word = m.0;
        if !self.settings.four_letter_word_allowed(&word) {
            let text = fourlw::not_allowed(&word);
            return Box::pin(async move { text }.into_actor(self));
        }
        let is_dump = word == "dump";
        Box::pin(
            async move {
                match (is_dump, tracker) {
                    (true, Some(t)) => t.send(Buckets).await.unwrap_or_default(),
                    _ => Vec::new(),
                }
            }
            .into_actor(self)
            .map(move |buckets, act, _| {
                let info = fourlw::ServerInfo {
                    settings: &act.settings,
                    mode: "standalone",
                    started_ms: act.started_ms,
                    now_ms: now_ms(),
                    buckets,
                };
                fourlw::answer(&word, &mut act.engine, &info)
            }),
        )
    }
}
