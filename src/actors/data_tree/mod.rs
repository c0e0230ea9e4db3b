//! DataTreeActor: the shell around the request engine. It owns the tree, feeds it requests in
//! arrival order, hands txns to the Persister and forwards the engine's ordered outputs to the
//! connections.

use super::persister::Persister;
use super::session_tracker::{Buckets, SessionTracker, SetExpiring, Track, Untrack};
use crate::codec::jute::{ConnectRequest, Request};
use crate::datatree::acl::AuthInfo;
use crate::datatree::watch::ConnId;
use crate::datatree::Txn;
use crate::engine::{Engine, Forward, Out, Role};
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

mod snapshots;
mod traces;
use snapshots::*;

fn settings_snap_count(s: &Settings) -> u64 {
    s.storage.snap_count.max(2)
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What a connection is told by the tree actor, in order: everything one turn of the tree
/// actor has for a connection travels as one message (one hand-over between threads, and one
/// write to the socket, however many replies and events a group commit produced for it).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct ToClients(pub Vec<ToClient>);

#[derive(Debug)]
pub enum ToClient {
    /// A frame that answers nothing: the connect response, a watch event.
    Frame(Bytes),
    /// The answer to one request the connection sent.
    Reply(Bytes),
    Close,
    Session(i64),
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Register {
    pub conn: ConnId,
    pub addr: String,
    pub client: Recipient<ToClients>,
    /// A TLS client's certificate identity: its `x509` id (and super user).
    pub x509: Option<crate::tls::X509Peer>,
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

/// Requests of one connection, in order: everything one socket read held.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ClientRequests(pub Vec<ClientRequest>);

pub struct ClientRequest {
    pub conn: ConnId,
    pub xid: i32,
    pub opcode: i32,
    pub req: Request,
    /// The raw request body, which a learner forwards to the leader.
    pub body: Bytes,
}

/// The persister made everything up to `zxid` durable.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Durable {
    pub zxid: i64,
    pub txns: u64,
    /// Bytes in the current log segment.
    pub log_bytes: u64,
}

/// The persister could not make the batch starting at `zxid` durable.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PersistFailed {
    pub zxid: i64,
    /// Set when the log cannot be written any more (a failed fsync, an I/O error): why.
    pub fatal: Option<String>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct ExpireSessions(pub Vec<i64>);

#[derive(Message)]
#[rtype(result = "String")]
pub struct FourLetter(pub String);

/// An AdminServer command by its primary name: its JSON fields.
#[derive(Message)]
#[rtype(result = "serde_json::Map<String, serde_json::Value>")]
pub struct AdminCommand(pub String);

/// mntr's sampled figures (and the last applied zxid), for the metrics endpoint.
#[derive(Message)]
#[rtype(result = "Vec<(String, String)>")]
pub struct MetricGauges;

#[derive(Message)]
#[rtype(result = "Option<Addr<SessionTracker>>")]
pub struct GetTracker;

/// What the tree actor hands to the ZAB actor of a leader or learner.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum FromTree {
    /// Leader: propose the txns the engine prepared in one turn, in zxid order, with the trace
    /// context of those that this server's clients sent in a sampled trace (zxid, traceparent).
    Propose(Vec<Txn>, Vec<(i64, String)>),
    /// The local log has everything up to this zxid on disk.
    Logged(i64),
    /// Learner: to the leader, with the trace context of a sampled write (or empty).
    Forward(Forward, String),
    Revalidate {
        session: i64,
        timeout: i32,
    },
    /// Leader: a learner's sync is done.
    SyncDone {
        server: u64,
        session: i64,
    },
    /// Writing the log failed: this server cannot take part.
    LogFailed,
}

/// Take a role in an ensemble (or go back to not serving while LOOKING).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetRole {
    pub role: Role,
    pub zab: Option<Recipient<FromTree>>,
    pub mode: &'static str,
}

/// Serve clients (after sync) or refuse them.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetServing(pub bool);

/// Leader: proposals up to this zxid are committed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Commit(pub i64, pub Vec<(i64, String)>);

/// Learner: a committed txn to apply, with its trace context when it is traced.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyCommitted(pub Txn, pub Option<String>);

/// Leader: a learner's client write.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RemoteRequest {
    /// The learner the request came through.
    pub server: u64,
    pub session: i64,
    pub cxid: i32,
    pub opcode: i32,
    pub body: Vec<u8>,
    pub auth: AuthInfo,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct RemoteCreateSession {
    pub server: u64,
    pub session: i64,
    pub timeout: i32,
}

#[derive(Message)]
#[rtype(result = "bool")]
pub struct RevalidateSession {
    pub server: u64,
    pub session: i64,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct RemoteSync {
    pub server: u64,
    pub session: i64,
}

/// Learner: the leader's answers.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Revalidated {
    pub session: i64,
    pub valid: bool,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct LearnerSyncDone(pub i64);

/// Leader: sessions a learner's clients touched.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Touches(pub Vec<(i64, i32)>);

/// The whole tree, for a learner synced by SNAP: (zxid, sessions, nodes parents first).
#[derive(Message)]
#[rtype(result = "(i64, Vec<(i64, i32)>, Vec<SnapNode>)")]
pub struct TreeSnapshot;

/// Learner: replace the tree with a snapshot from the leader.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct InstallSnapshot {
    pub zxid: i64,
    pub sessions: Vec<(i64, i32)>,
    pub nodes: Vec<SnapNode>,
}

/// Rebuild the tree from disk (role change, TRUNC): returns the last zxid.
#[derive(Message)]
#[rtype(result = "Result<i64, String>")]
pub struct Reload;

/// Going LOOKING with the log writer idle: apply the logged tail the tree lacks (a full
/// rebuild from disk if that fails). Returns the last zxid.
#[derive(Message)]
#[rtype(result = "Result<i64, String>")]
pub struct CatchUp;

/// Write a snapshot of the tree now.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct WriteSnapshot;

/// The newest applied txns (a new leader's DIFF window) and the last zxid.
#[derive(Message)]
#[rtype(result = "(Vec<Txn>, i64)")]
pub struct Window;

/// The persister handle, for the ZAB actors.
#[derive(Message)]
#[rtype(result = "Option<Persister>")]
pub struct GetPersister;

impl Handler<GetTracker> for DataTreeActor {
    type Result = Option<Addr<SessionTracker>>;
    fn handle(&mut self, _: GetTracker, _: &mut Context<Self>) -> Self::Result {
        self.tracker.clone()
    }
}

pub struct DataTreeActor {
    engine: Engine,
    settings: Settings,
    clients: HashMap<ConnId, Recipient<ToClients>>,
    /// What this turn has for each connection, sent at the end of [`DataTreeActor::run`].
    outgoing: HashMap<ConnId, Vec<ToClient>>,
    tracker: Option<Addr<SessionTracker>>,
    persister: Option<Persister>,
    /// Take a snapshot as soon as the log writer runs (recovery replayed the log).
    pub snapshot_at_start: bool,
    batch: Vec<Txn>,
    started_ms: i64,
    snap: Option<SnapJob>,
    snap_seq: u64,
    policy: SnapPolicy,
    /// The ZAB actor of a leader or learner.
    zab: Option<Recipient<FromTree>>,
    /// Standalone servers always serve; ensemble members only once synced.
    serving: bool,
    mode: &'static str,
    quorum_info: Option<fourlw::QuorumInfo>,
    /// Sampled client writes of this server's connections, until their reply.
    roots: traces::Roots,
    /// Traced txns (zxid, traceparent) that the next `run` proposes, besides the roots'.
    traced_next: Vec<(i64, String)>,
}

impl DataTreeActor {
    pub fn new(engine: Engine, settings: Settings, tracker: Addr<SessionTracker>) -> Self {
        let s_snap = settings.clone();
        DataTreeActor {
            engine,
            settings,
            clients: HashMap::new(),
            outgoing: HashMap::new(),
            tracker: Some(tracker),
            persister: None,
            snapshot_at_start: false,
            batch: Vec::new(),
            started_ms: now_ms(),
            snap: None,
            snap_seq: 0,
            policy: SnapPolicy::new(settings_snap_count(&s_snap), s_snap.storage.snap_size_limit),
            zab: None,
            serving: true,
            mode: "standalone",
            quorum_info: None,
            roots: traces::Roots::default(),
            traced_next: Vec::new(),
        }
    }

    /// An ensemble member starts out not serving.
    pub fn for_ensemble(mut self) -> Self {
        self.serving = false;
        self.mode = "looking";
        self
    }

    fn close_all_clients(&mut self) {
        for r in self.clients.values() {
            r.do_send(ToClients(vec![ToClient::Close]));
        }
    }

    fn run(&mut self, outs: Vec<Out>) {
        // A leader's proposals of this turn go to the ZAB actor as one batch (one log append,
        // one step of the machine), ahead of anything else this turn sends it, in order.
        let mut proposals = Vec::new();
        let mut traced = std::mem::take(&mut self.traced_next);
        for o in outs {
            if !proposals.is_empty()
                && matches!(
                    o,
                    Out::Forward(_) | Out::Revalidate { .. } | Out::SyncDone { .. }
                )
            {
                self.propose(std::mem::take(&mut proposals), std::mem::take(&mut traced));
            }
            match o {
                Out::Send(c, b) => self.queue_for(c, ToClient::Frame(b)),
                Out::Reply(c, b) => {
                    if !self.roots.is_empty() {
                        self.roots.replied(c, &b);
                    }
                    self.queue_for(c, ToClient::Reply(b))
                }
                Out::Close(c) => self.queue_for(c, ToClient::Close),
                Out::Session(c, id) => self.queue_for(c, ToClient::Session(id)),
                Out::Persist(t) => match (&self.zab, self.engine.role()) {
                    (Some(_), Role::Leader) => {
                        if !self.roots.is_empty() {
                            if let Some(tp) = self.roots.proposed(&t) {
                                traced.push((t.zxid, tp));
                            }
                        }
                        proposals.push(t)
                    }
                    _ => {
                        if !self.roots.is_empty() {
                            self.roots.logging(&t);
                        }
                        self.batch.push(t)
                    }
                },
                Out::Forward(f) => {
                    let trace = match &f {
                        Forward::Request { session, cxid, .. } if !self.roots.is_empty() => {
                            let leader = self.quorum_info.as_ref().and_then(|q| q.leader);
                            self.roots.forwarded(*session, *cxid, leader)
                        }
                        _ => String::new(),
                    };
                    if let Some(z) = &self.zab {
                        z.do_send(FromTree::Forward(f, trace));
                    }
                }
                Out::Revalidate { session, timeout } => {
                    if let Some(z) = &self.zab {
                        z.do_send(FromTree::Revalidate { session, timeout });
                    }
                }
                Out::SyncDone { server, session } => {
                    if let Some(z) = &self.zab {
                        z.do_send(FromTree::SyncDone { server, session });
                    }
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
        self.propose(proposals, traced);
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            if let Some(p) = &self.persister {
                p.append(batch);
            }
        }
        for (c, items) in self.outgoing.drain() {
            if let Some(r) = self.clients.get(&c) {
                r.do_send(ToClients(items));
            }
        }
    }

    fn propose(&self, txns: Vec<Txn>, traced: Vec<(i64, String)>) {
        if let (false, Some(z)) = (txns.is_empty(), &self.zab) {
            z.do_send(FromTree::Propose(txns, traced));
        }
    }

    fn queue_for(&mut self, conn: ConnId, item: ToClient) {
        if self.clients.contains_key(&conn) {
            self.outgoing.entry(conn).or_default().push(item);
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
                crate::error::stop_server(crate::error::Fatal::io("the transaction log writer", e));
                return;
            }
        }
        if self.snapshot_at_start {
            self.start_snapshot(ctx);
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
        // A quiet server's latency figures are current within a second too.
        ctx.run_interval(Duration::from_secs(1), |act, _| {
            act.engine.latencies.flush();
            act.roots.expire(false);
        });
    }
}

impl Handler<Register> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: Register, _: &mut Context<Self>) {
        self.engine.connected(m.conn, &m.addr, now_ms());
        if let Some(x) = &m.x509 {
            self.engine.authenticated_x509(m.conn, &x.dn, x.is_super);
        }
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
        if !self.serving {
            // As ZooKeeper: a server that is not serving closes new sessions at once.
            if let Some(r) = self.clients.get(&m.conn) {
                r.do_send(ToClients(vec![ToClient::Close]));
            }
            return;
        }
        let outs = self.engine.connect(m.conn, &m.req, now_ms());
        self.run(outs);
    }
}

impl Handler<ClientRequests> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: ClientRequests, _: &mut Context<Self>) {
        let now = now_ms();
        let mut outs = Vec::new();
        for r in m.0 {
            if crate::telemetry::enabled() {
                let c = self.engine.conns.get(&r.conn);
                let session = c.map_or(0, |c| c.session);
                let peer = c.map(|c| c.addr.as_str());
                self.roots.arrive(r.conn, r.xid, &r.req, session, peer);
            }
            outs.extend(
                self.engine
                    .request_with_body(r.conn, r.xid, r.opcode, r.req, r.body, now),
            );
        }
        self.run(outs);
    }
}

impl Handler<Durable> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: Durable, ctx: &mut Context<Self>) {
        if self.engine.role() != Role::Standalone {
            // In an ensemble, durable means logged: the ZAB actor acks, commits come later.
            if let Some(z) = &self.zab {
                z.do_send(FromTree::Logged(m.zxid));
            }
        } else {
            if !self.roots.is_empty() {
                self.roots.durable(m.zxid);
            }
            let outs = self.engine.durable(m.zxid, now_ms());
            self.run(outs);
        }
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
        if let (Some(why), false) = (&m.fatal, self.engine.role() == Role::Standalone) {
            // As ZooKeeper's sync thread does on an I/O error: the member stops. Every write
            // it acknowledged is on a quorum's disks; a member that cannot log cannot vote.
            crate::metrics::SERVER.unrecoverable_error_count.inc();
            tracing::error!(
                "the transaction log cannot be written any more: {why}; this member stops \
                 (the others hold every acknowledged write). Fix or replace the disk, then \
                 restart it: it recovers what is on its disk and syncs with the leader"
            );
            std::process::exit(1);
        }
        if self.engine.role() != Role::Standalone {
            if let Some(z) = &self.zab {
                z.do_send(FromTree::LogFailed);
            }
            if let Some(p) = &self.persister {
                p.resume();
            }
            return;
        }
        let outs = self.engine.failed(m.zxid, Code::SystemError, now_ms());
        self.run(outs);
        if let Some(p) = &self.persister {
            p.resume();
        }
    }
}

impl Handler<ExpireSessions> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: ExpireSessions, _: &mut Context<Self>) {
        let outs = self.engine.expire(&m.0, now_ms());
        // Traced as a whole: the closeSession proposals, on every server, are its children.
        let span = crate::telemetry::start_span(
            "session expiry",
            opentelemetry::trace::SpanKind::Internal,
            crate::telemetry::Parent::Root,
            None,
            vec![
                opentelemetry::KeyValue::new("keeper.sessions", m.0.len() as i64),
                opentelemetry::KeyValue::new(
                    "zk.sessions",
                    m.0.iter()
                        .map(|id| format!("0x{id:x}"))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
            ],
        );
        if let Some(mut span) = span {
            use opentelemetry::trace::Span as _;
            if self.engine.role() == Role::Leader {
                let tp = crate::telemetry::traceparent(&span);
                for o in &outs {
                    if let Out::Persist(t) = o {
                        self.traced_next.push((t.zxid, tp.clone()));
                    }
                }
            }
            self.run(outs);
            span.end();
        } else {
            self.run(outs);
        }
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
                if !act.serving && !matches!(word.as_str(), "ruok" | "envi" | "conf" | "isro") {
                    return "This ZooKeeper instance is not currently serving requests\n"
                        .to_string();
                }
                act.engine.latencies.flush();
                let info = fourlw::ServerInfo {
                    quorum: act.quorum_info.clone(),
                    settings: &act.settings,
                    mode: act.mode,
                    started_ms: act.started_ms,
                    now_ms: now_ms(),
                    buckets,
                };
                fourlw::answer(&word, &mut act.engine, &info)
            }),
        )
    }
}

impl Handler<AdminCommand> for DataTreeActor {
    type Result = MessageResult<AdminCommand>;
    fn handle(&mut self, m: AdminCommand, _: &mut Context<Self>) -> Self::Result {
        let needs_serving = crate::admin::lookup(&m.0).is_none_or(|(_, s)| s);
        if needs_serving && !self.serving {
            let mut f = serde_json::Map::new();
            f.insert(
                "error".into(),
                "This ZooKeeper instance is not currently serving requests".into(),
            );
            return MessageResult(f);
        }
        self.engine.latencies.flush();
        let info = fourlw::ServerInfo {
            quorum: self.quorum_info.clone(),
            settings: &self.settings,
            mode: self.mode,
            started_ms: self.started_ms,
            now_ms: now_ms(),
            buckets: Vec::new(),
        };
        MessageResult(crate::admin::answer(&m.0, &mut self.engine, &info))
    }
}

impl Handler<MetricGauges> for DataTreeActor {
    type Result = Vec<(String, String)>;
    fn handle(&mut self, _: MetricGauges, _: &mut Context<Self>) -> Self::Result {
        self.engine.latencies.flush();
        let info = fourlw::ServerInfo {
            quorum: self.quorum_info.clone(),
            settings: &self.settings,
            mode: self.mode,
            started_ms: self.started_ms,
            now_ms: now_ms(),
            buckets: Vec::new(),
        };
        let mut rows: Vec<(String, String)> = fourlw::mntr_gauges(&self.engine, &info)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        rows.push(("last_zxid".into(), self.engine.last_zxid().to_string()));
        rows
    }
}

impl Handler<GetPersister> for DataTreeActor {
    type Result = Option<Persister>;
    fn handle(&mut self, _: GetPersister, _: &mut Context<Self>) -> Self::Result {
        self.persister.clone()
    }
}

impl Handler<SetRole> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: SetRole, _: &mut Context<Self>) {
        // As ZooKeeper restarts its server on a role change: every client reconnects.
        self.close_all_clients();
        self.roots.expire(true);
        self.engine.set_role(m.role);
        self.zab = m.zab;
        self.serving = false;
        self.mode = m.mode;
        if let Some(t) = &self.tracker {
            let leads = m.role == Role::Leader;
            t.do_send(SetExpiring(leads));
            if leads {
                for (id, timeout) in self.engine.session_timeouts() {
                    t.do_send(Track(id, timeout.max(0) as u64));
                }
            }
        }
    }
}

impl Handler<SetServing> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: SetServing, _: &mut Context<Self>) {
        self.serving = m.0;
        if m.0 && self.engine.role() == Role::Leader {
            // Every session of the synced tree starts its timeout afresh at the new leader.
            if let Some(t) = &self.tracker {
                for (id, timeout) in self.engine.session_timeouts() {
                    t.do_send(Track(id, timeout.max(0) as u64));
                }
            }
        }
    }
}

impl Handler<Commit> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: Commit, ctx: &mut Context<Self>) {
        let before = self.engine.applied;
        // A traced txn is applied on its own, so that its span holds its apply and the watch
        // events it fired and nothing else's.
        for (zxid, parent) in m.1 {
            if zxid > m.0 {
                break;
            }
            let outs = self.engine.durable(zxid - 1, now_ms());
            self.run(outs);
            let span = traces::apply_span(zxid, &parent);
            let outs = self.engine.durable(zxid, now_ms());
            traces::applied(span, &outs);
            self.run(outs);
        }
        let outs = self.engine.durable(m.0, now_ms());
        self.run(outs);
        self.count_for_snapshot(before, ctx);
    }
}

impl Handler<ApplyCommitted> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: ApplyCommitted, ctx: &mut Context<Self>) {
        let before = self.engine.applied;
        let span = m.1.and_then(|p| traces::apply_span(m.0.zxid, &p));
        let outs = self.engine.committed(&m.0, now_ms());
        traces::applied(span, &outs);
        self.run(outs);
        self.count_for_snapshot(before, ctx);
    }
}

impl Handler<RemoteRequest> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: RemoteRequest, _: &mut Context<Self>) {
        let req = crate::codec::jute::Request::read(m.opcode, &m.body).unwrap_or_else(|e| {
            tracing::info!("malformed forwarded request (opcode {}): {e}", m.opcode);
            crate::codec::jute::Request::Malformed(m.opcode)
        });
        let outs = self
            .engine
            .remote_request(m.server, m.session, m.cxid, req, &m.auth, now_ms());
        self.run(outs);
    }
}

impl Handler<RemoteCreateSession> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: RemoteCreateSession, _: &mut Context<Self>) {
        let outs = self
            .engine
            .remote_create_session(m.server, m.session, m.timeout, now_ms());
        self.run(outs);
    }
}

impl Handler<RevalidateSession> for DataTreeActor {
    type Result = bool;
    fn handle(&mut self, m: RevalidateSession, _: &mut Context<Self>) -> bool {
        let valid = self.engine.revalidate(m.server, m.session);
        if valid {
            if let Some(t) = &self.tracker {
                t.do_send(super::session_tracker::Touch(m.session));
            }
        }
        valid
    }
}

impl Handler<RemoteSync> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: RemoteSync, _: &mut Context<Self>) {
        let outs = self.engine.sync_request(m.server, m.session);
        self.run(outs);
    }
}

impl Handler<Revalidated> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: Revalidated, _: &mut Context<Self>) {
        let outs = self.engine.revalidated(m.session, m.valid, now_ms());
        self.run(outs);
    }
}

impl Handler<LearnerSyncDone> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: LearnerSyncDone, _: &mut Context<Self>) {
        let outs = self.engine.sync_done(m.0, now_ms());
        self.run(outs);
    }
}

impl Handler<Touches> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: Touches, _: &mut Context<Self>) {
        if let Some(t) = &self.tracker {
            for (id, _) in m.0 {
                t.do_send(super::session_tracker::Touch(id));
            }
        }
    }
}

impl Handler<TreeSnapshot> for DataTreeActor {
    type Result = MessageResult<TreeSnapshot>;
    fn handle(&mut self, _: TreeSnapshot, _: &mut Context<Self>) -> Self::Result {
        let tree = &self.engine.tree;
        let mut nodes = Vec::with_capacity(tree.node_count());
        crate::storage::recovery::walk(tree, |p, n| {
            nodes.push(SnapNode {
                path: p.to_string(),
                data: n.data_vec(),
                acl: n.acl.clone(),
                stat: n.stat,
            })
        });
        MessageResult((tree.last_zxid, self.engine.session_timeouts(), nodes))
    }
}

impl Handler<InstallSnapshot> for DataTreeActor {
    type Result = Result<(), String>;
    fn handle(&mut self, m: InstallSnapshot, _: &mut Context<Self>) -> Self::Result {
        let config = self.engine.tree.config.clone();
        let nodes = m
            .nodes
            .into_iter()
            .map(|n| (n.path, n.data, n.acl, n.stat))
            .collect();
        let tree = crate::datatree::DataTree::from_parts(config, nodes, m.sessions, m.zxid)?;
        self.replace_tree(tree);
        Ok(())
    }
}

impl Handler<Reload> for DataTreeActor {
    type Result = Result<i64, String>;
    fn handle(&mut self, _: Reload, _: &mut Context<Self>) -> Self::Result {
        let data_dir = version_dir(&self.settings.storage.data_dir);
        let log_dir = version_dir(self.settings.data_log_dir());
        let config = self.engine.tree.config.clone();
        let r = crate::storage::recovery::recover(&data_dir, &log_dir, config)?;
        let last = r.tree.last_zxid;
        self.replace_tree(r.tree);
        self.engine.recent = r.recent.into();
        Ok(last)
    }
}

impl Handler<CatchUp> for DataTreeActor {
    type Result = Result<i64, String>;
    fn handle(&mut self, _: CatchUp, ctx: &mut Context<Self>) -> Self::Result {
        // The tree holds only committed txns, a prefix of the log, so applying the log's tail
        // gives what a rebuild from disk would, in time proportional to the tail.
        let log_dir = version_dir(self.settings.data_log_dir());
        let config = self.engine.tree.config.clone();
        let mut tree = std::mem::replace(
            &mut self.engine.tree,
            crate::datatree::DataTree::new(config),
        );
        let mut recent = std::mem::take(&mut self.engine.recent);
        match crate::storage::recovery::replay_tail(&mut tree, &log_dir) {
            Ok(applied) => {
                if !applied.is_empty() {
                    tracing::info!(
                        "applied {} logged txns after 0x{:x}",
                        applied.len(),
                        applied[0].zxid - 1
                    );
                }
                let last = tree.last_zxid;
                recent.extend(applied);
                while recent.len() > crate::engine::RECENT_TXNS {
                    recent.pop_front();
                }
                self.replace_tree(tree);
                self.engine.recent = recent;
                Ok(last)
            }
            Err(e) => {
                tracing::warn!("cannot apply the log's tail ({e}); rebuilding the tree from disk");
                self.handle(Reload, ctx)
            }
        }
    }
}

impl Handler<WriteSnapshot> for DataTreeActor {
    type Result = Result<(), String>;
    fn handle(&mut self, _: WriteSnapshot, _: &mut Context<Self>) -> Self::Result {
        let data_dir = version_dir(&self.settings.storage.data_dir);
        let started = std::time::Instant::now();
        crate::storage::recovery::write_full_snapshot(&data_dir, &self.engine.tree)
            .map(|_| {
                crate::metrics::SERVER
                    .snapshottime
                    .add(started.elapsed().as_millis() as u64)
            })
            .map_err(|e| format!("cannot write a snapshot in {}: {e}", data_dir.display()))
    }
}

impl Handler<Window> for DataTreeActor {
    type Result = MessageResult<Window>;
    fn handle(&mut self, _: Window, _: &mut Context<Self>) -> Self::Result {
        MessageResult((
            self.engine.recent.iter().cloned().collect(),
            self.engine.last_zxid(),
        ))
    }
}

impl DataTreeActor {
    /// A new tree (from disk or a leader): the engine restarts around it in the same role.
    fn replace_tree(&mut self, tree: crate::datatree::DataTree) {
        // A snapshot walking the old tree must not continue on the new one.
        if self.snap.take().is_some() {
            tracing::info!("abandoning the snapshot in progress: the tree is being replaced");
        }
        self.close_all_clients();
        let role = self.engine.role();
        let cfg = super::server::engine_config(&self.settings);
        let mut engine = Engine::with_tree(cfg, tree, now_ms());
        engine.set_role(role);
        // Connections stay registered until their actors stop.
        for (id, _) in self.clients.iter() {
            engine.connected(*id, "0.0.0.0", now_ms());
        }
        self.engine = engine;
    }
}

/// Leader: zxids of the new epoch start after this one.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StartEpoch(pub i64);

impl Handler<StartEpoch> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: StartEpoch, _: &mut Context<Self>) {
        self.engine
            .set_last_assigned(m.0.max(self.engine.last_zxid()));
    }
}

/// The ZAB side's view of the ensemble, for srvr / mntr.
#[derive(Message)]
#[rtype(result = "()")]
pub struct QuorumStatus(pub fourlw::QuorumInfo);

impl Handler<QuorumStatus> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: QuorumStatus, _: &mut Context<Self>) {
        self.quorum_info = Some(m.0);
    }
}
