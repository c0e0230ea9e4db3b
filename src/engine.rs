//! The standalone request engine: a pure machine between decoded client requests and encoded
//! replies. It validates and applies writes to the tree at once (so later requests see them), but
//! every output is released strictly in arrival order and only once every txn before it is
//! durable, so no client ever sees a write that a crash could lose. The DataTreeActor feeds it
//! events and carries out the `Out` actions it returns.

use crate::codec::jute::frame::{finish_frame, start_frame};
use crate::codec::jute::{
    event, is_write_opcode, op, perms, write_acls, write_multi_header, write_reply_header,
    write_watcher_event, xid, ConnectRequest, ConnectResponse, JuteWrite, ReadOp, Request,
    SetWatches, Stat,
};
use crate::datatree::acl::{self, AuthInfo};
use crate::datatree::watch::{ConnId, WatchManager};
use crate::datatree::{
    Caller, DataTree, OpResult, Outstanding, Prep, TreeConfig, Trigger, Txn, TxnOp,
};
use crate::error::Code;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};

/// What the engine asks its shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// Write an encoded frame to a connection: the connect response or a watch event.
    Send(ConnId, Bytes),
    /// Write the answer to one of the connection's requests (each request gets exactly one,
    /// which the shell counts to bound the requests in flight).
    Reply(ConnId, Bytes),
    /// Close a connection after what was sent before.
    Close(ConnId),
    /// Make a txn durable, then call `durable(zxid)`.
    Persist(Txn),
    /// Start (or refresh) expiry tracking of a session.
    Track(i64, u64),
    /// Stop tracking a session.
    Untrack(i64),
    /// The connection now serves this session (sent just before its connect response).
    Session(ConnId, i64),
    /// Learner: hand a write to the leader.
    Forward(Forward),
    /// Learner: ask the leader whether a session a client resumes here is alive.
    Revalidate { session: i64, timeout: i32 },
    /// Leader: everything proposed before a learner's `sync` is committed.
    SyncDone { server: u64, session: i64 },
}

/// What a learner hands to the leader.
#[derive(Debug, Clone, PartialEq)]
pub enum Forward {
    CreateSession {
        session: i64,
        timeout: i32,
    },
    Request {
        session: i64,
        cxid: i32,
        opcode: i32,
        body: Bytes,
        auth: AuthInfo,
    },
    Sync {
        session: i64,
    },
}

/// Where writes are prepared: here (standalone, leader) or at the leader (learner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Standalone,
    Leader,
    Learner,
}

/// A learner client's `sync`: connection, xid, path, arrival, queue tag.
type PendingSync = (ConnId, i32, String, i64, i64);

/// `awaiting` key of a forwarded createSession (no client xid can be this).
const CREATE_SESSION_CXID: i32 = i32::MIN;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub server_id: u64,
    pub min_session_timeout: u64,
    pub max_session_timeout: u64,
    pub super_digest: String,
    pub extended_types: bool,
}

/// Per-connection state and the counters `cons` and `stat` show.
#[derive(Debug, Clone)]
pub struct ConnState {
    pub addr: String,
    pub auth: AuthInfo,
    pub session: i64,
    pub timeout: i32,
    pub read_only: Option<bool>,
    pub established: i64,
    pub received: u64,
    pub sent: u64,
    pub outstanding: u64,
    pub last_op: &'static str,
    pub last_cxid: i32,
    pub last_zxid: i64,
    pub last_response: i64,
    pub last_latency: i64,
    pub min_latency: i64,
    pub max_latency: i64,
    pub total_latency: i64,
    pub count: u64,
}

/// Server-wide counters for srvr / stat / mntr.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub received: u64,
    pub sent: u64,
    pub min_latency: i64,
    pub max_latency: i64,
    pub total_latency: i64,
    pub count: u64,
    pub auth_failed: u64,
    /// Sizes of replies in bytes (-1 until the first one).
    pub last_response_size: i64,
    pub min_response_size: i64,
    pub max_response_size: i64,
}

impl Stats {
    pub fn new() -> Self {
        Stats {
            last_response_size: -1,
            min_response_size: -1,
            max_response_size: -1,
            ..Default::default()
        }
    }

    pub fn avg_latency(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total_latency as f64 / self.count as f64
        }
    }
}

/// Where a txn came from, which decides what happens when it is applied.
#[derive(Debug)]
enum Origin {
    /// A client request: reply on this connection.
    Client {
        conn: ConnId,
        xid: i32,
        opcode: i32,
        arrived: i64,
    },
    /// A new session: send the connect response.
    Connect {
        conn: ConnId,
        read_only: Option<bool>,
    },
    /// Session expiry: close the connection that holds the session, if any.
    Expire,
    /// A learner's request: the learner answers its client when it applies the txn.
    Remote,
    /// Internal (container / TTL reaping).
    Internal,
}

#[derive(Debug)]
struct PendingTxn {
    txn: Txn,
    origin: Origin,
}

/// A connection's requests that wait behind its own outstanding writes.
#[derive(Debug)]
enum Queued {
    Write(i64),
    Read {
        xid: i32,
        opcode: i32,
        req: Request,
        arrived: i64,
    },
}

pub struct Engine {
    pub tree: DataTree,
    pub watches: WatchManager,
    pub conns: HashMap<ConnId, ConnState>,
    owner: HashMap<i64, ConnId>,
    cfg: EngineConfig,
    next_session: i64,
    outstanding: Outstanding,
    /// Highest zxid handed out.
    last_assigned: i64,
    /// Validated txns waiting to be durable, in zxid order.
    pending: VecDeque<PendingTxn>,
    queues: HashMap<ConnId, VecDeque<Queued>>,
    pub stats: Stats,
    role: Role,
    /// Learner: local requests waiting for their txn to come back committed, by
    /// (session, cxid), with the tag that marks them in their connection's queue.
    awaiting: HashMap<(i64, i32), (Origin, i64)>,
    /// Learner: resumed sessions waiting for the leader's word.
    revalidating: HashMap<i64, (ConnId, i32, Option<bool>, i64)>,
    /// Learner: client `sync`s forwarded to the leader, per session in order.
    learner_syncs: HashMap<i64, VecDeque<PendingSync>>,
    /// Leader: learners' `sync`s, answered once the zxid is committed.
    leader_syncs: VecDeque<(i64, u64, i64)>,
    next_tag: i64,
    /// The newest applied txns, for a leader's DIFF window.
    pub recent: VecDeque<Txn>,
    /// Txns applied since start.
    pub applied: u64,
    /// Leader: which server holds each session's connection (absent: unknown, e.g. after a
    /// failover, until the session is revalidated). A request for a session from any other
    /// server is refused with SessionMoved.
    owners: HashMap<i64, u64>,
}

/// How many applied txns a server keeps for syncing learners by DIFF.
pub const RECENT_TXNS: usize = 500;

/// ZooKeeper's session password: java.util.Random seeded with id ^ 0xB3415C00, 16 bytes.
pub fn session_password(id: i64) -> [u8; 16] {
    let mut seed = ((id ^ 0xB341_5C00) ^ 0x5DEE_CE66D) & ((1 << 48) - 1);
    let mut next_int = || {
        seed = (seed.wrapping_mul(0x5DEE_CE66D).wrapping_add(0xB)) & ((1 << 48) - 1);
        (seed >> 16) as i32
    };
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        let mut rnd = next_int();
        let n = (16 - i).min(4);
        for _ in 0..n {
            out[i] = rnd as u8;
            rnd >>= 8;
            i += 1;
        }
    }
    out
}

fn reply(xid: i32, zxid: i64, err: i32, body: impl FnOnce(&mut Vec<u8>)) -> Bytes {
    let mut w = start_frame();
    write_reply_header(&mut w, xid, zxid, err);
    if err == 0 {
        body(&mut w);
    }
    finish_frame(w)
}

fn notification(ev: i32, path: &str) -> Bytes {
    let mut w = start_frame();
    write_reply_header(&mut w, xid::NOTIFICATION, -1, 0);
    write_watcher_event(&mut w, ev, event::STATE_SYNC_CONNECTED, path);
    finish_frame(w)
}

fn write_stat(w: &mut Vec<u8>, s: &Stat) {
    s.write(w)
}

impl Engine {
    pub fn new(cfg: EngineConfig, now_ms: i64) -> Self {
        let tree = DataTree::new(TreeConfig {
            extended_types: cfg.extended_types,
        });
        Self::with_tree(cfg, tree, now_ms)
    }

    pub fn with_tree(cfg: EngineConfig, tree: DataTree, now_ms: i64) -> Self {
        // Session ids: server id in the top byte, then 40 bits of clock, then a counter.
        let base = (((now_ms as u64) << 24) >> 8) as i64;
        // A standalone ZooKeeper uses 1 for the top byte too.
        let sid = if cfg.server_id == 0 {
            1
        } else {
            cfg.server_id as i64
        };
        let next_session = (sid << 56) | base;
        let last_assigned = tree.last_zxid;
        Engine {
            tree,
            watches: WatchManager::default(),
            conns: HashMap::new(),
            owner: HashMap::new(),
            cfg,
            next_session,
            outstanding: Outstanding::default(),
            last_assigned,
            pending: VecDeque::new(),
            queues: HashMap::new(),
            stats: Stats::new(),
            role: Role::Standalone,
            awaiting: HashMap::new(),
            revalidating: HashMap::new(),
            learner_syncs: HashMap::new(),
            leader_syncs: VecDeque::new(),
            next_tag: 0,
            recent: VecDeque::new(),
            applied: 0,
            owners: HashMap::new(),
        }
    }

    fn me(&self) -> u64 {
        self.cfg.server_id
    }

    fn remember(&mut self, txn: &Txn) {
        self.applied += 1;
        self.recent.push_back(txn.clone());
        while self.recent.len() > RECENT_TXNS {
            self.recent.pop_front();
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Take a role: outstanding work of the previous role is dropped (its connections are
    /// closed by the shell, as ZooKeeper restarts its server on a role change).
    pub fn set_role(&mut self, role: Role) {
        self.role = role;
        self.outstanding.clear();
        self.pending.clear();
        self.queues.clear();
        self.awaiting.clear();
        self.revalidating.clear();
        self.learner_syncs.clear();
        self.leader_syncs.clear();
        self.owners.clear();
        self.last_assigned = self.tree.last_zxid;
    }

    /// Zxids continue from here (a new epoch starts at `epoch << 32`).
    pub fn set_last_assigned(&mut self, zxid: i64) {
        self.last_assigned = zxid;
    }

    fn tag(&mut self) -> i64 {
        // Negative, so a tag never equals a zxid in a connection's queue.
        self.next_tag -= 1;
        self.next_tag
    }

    /// Every connection with a session (for closing them on a role change).
    pub fn connection_ids(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    /// Last applied zxid: what reads see.
    pub fn last_zxid(&self) -> i64 {
        self.tree.last_zxid
    }

    /// Last zxid handed to a txn (applied or not).
    pub fn last_assigned(&self) -> i64 {
        self.last_assigned
    }

    /// Requests waiting: outstanding txns and reads queued behind them.
    pub fn outstanding(&self) -> usize {
        self.pending.len() + self.queues.values().map(|q| q.len()).sum::<usize>()
    }

    fn assign(&mut self) -> i64 {
        self.last_assigned += 1;
        self.last_assigned
    }

    fn propose(&mut self, txn: Txn, origin: Origin, outs: &mut Vec<Out>) {
        outs.push(Out::Persist(txn.clone()));
        self.pending.push_back(PendingTxn { txn, origin });
    }

    fn send(&mut self, conn: ConnId, b: Bytes, outs: &mut Vec<Out>) {
        self.stats.sent += 1;
        outs.push(Out::Send(conn, b));
    }

    /// Send a reply and account its latency and size.
    fn send_reply(&mut self, conn: ConnId, b: Bytes, arrived: i64, now: i64, outs: &mut Vec<Out>) {
        let lat = (now - arrived).max(0);
        let n = b.len() as i64 - 4;
        let s = &mut self.stats;
        if s.count == 0 || lat < s.min_latency {
            s.min_latency = lat;
        }
        s.max_latency = s.max_latency.max(lat);
        s.total_latency += lat;
        s.count += 1;
        s.last_response_size = n;
        s.min_response_size = if s.min_response_size < 0 {
            n
        } else {
            s.min_response_size.min(n)
        };
        s.max_response_size = s.max_response_size.max(n);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.sent += 1;
            c.outstanding = c.outstanding.saturating_sub(1);
            c.last_response = now;
            c.last_latency = lat;
            if c.count == 0 || lat < c.min_latency {
                c.min_latency = lat;
            }
            c.max_latency = c.max_latency.max(lat);
            c.total_latency += lat;
            c.count += 1;
        }
        self.stats.sent += 1;
        outs.push(Out::Reply(conn, b));
    }

    /// The connection now holds `session`: tell the shell, then send the connect response.
    fn established(
        &mut self,
        conn: ConnId,
        session: i64,
        timeout: i32,
        read_only: Option<bool>,
        outs: &mut Vec<Out>,
    ) {
        outs.push(Out::Session(conn, session));
        let resp = ConnectResponse {
            timeout,
            session_id: session,
            passwd: session_password(session),
            read_only: read_only.map(|_| false),
        };
        let mut w = start_frame();
        resp.write(&mut w);
        self.send(conn, finish_frame(w), outs);
    }

    /// The session is unknown, expired or its password wrong: the "expired" answer, then close.
    fn refuse_session(
        &mut self,
        conn: ConnId,
        session: i64,
        read_only: Option<bool>,
        outs: &mut Vec<Out>,
    ) {
        tracing::info!("invalid session 0x{session:x} for client, probably expired");
        let mut w = start_frame();
        ConnectResponse::expired(read_only).write(&mut w);
        self.send(conn, finish_frame(w), outs);
        outs.push(Out::Close(conn));
    }

    /// Everything up to `zxid` is durable: apply it, notify watchers, reply, and run the reads
    /// that waited behind it.
    pub fn durable(&mut self, zxid: i64, now: i64) -> Vec<Out> {
        let mut outs = Vec::new();
        while self.pending.front().is_some_and(|p| p.txn.zxid <= zxid) {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            self.apply(p, now, &mut outs);
        }
        while self
            .leader_syncs
            .front()
            .is_some_and(|(z, _, _)| *z <= zxid)
        {
            if let Some((_, server, session)) = self.leader_syncs.pop_front() {
                if server == self.me() {
                    outs.extend(self.sync_done(session, now));
                } else {
                    outs.push(Out::SyncDone { server, session });
                }
            }
        }
        outs
    }

    /// Txns from `zxid` on could not be made durable: they fail with `code` and never apply.
    pub fn failed(&mut self, zxid: i64, code: Code, now: i64) -> Vec<Out> {
        let mut outs = Vec::new();
        self.outstanding.rollback(zxid);
        let failed: Vec<PendingTxn> = self
            .pending
            .iter()
            .position(|p| p.txn.zxid >= zxid)
            .map_or_else(Vec::new, |i| self.pending.drain(i..).collect());
        self.last_assigned = zxid - 1;
        for p in failed {
            match p.origin {
                Origin::Client {
                    conn, xid, arrived, ..
                } => {
                    let r = reply(xid, self.tree.last_zxid, code.as_i32(), |_| {});
                    self.send_reply(conn, r, arrived, now, &mut outs);
                    self.write_done(conn, p.txn.zxid, now, &mut outs);
                }
                Origin::Connect { conn, .. } => {
                    self.owner.remove(&p.txn.session);
                    outs.push(Out::Close(conn));
                }
                Origin::Expire => {
                    // Try again at the next tick.
                    outs.push(Out::Track(p.txn.session, 0));
                }
                Origin::Remote | Origin::Internal => {}
            }
        }
        outs
    }

    fn apply(&mut self, p: PendingTxn, now: i64, outs: &mut Vec<Out>) {
        let (result, triggers) = self.tree.apply(&p.txn);
        if self.role != Role::Standalone {
            self.remember(&p.txn);
        }
        self.outstanding.applied(p.txn.zxid);
        self.deliver(&triggers, outs);
        self.settle(&p.txn, p.origin, &result, now, outs);
    }

    /// After a txn is applied: answer whoever asked for it here, and follow session changes.
    fn settle(
        &mut self,
        txn: &Txn,
        origin: Origin,
        result: &OpResult,
        now: i64,
        outs: &mut Vec<Out>,
    ) {
        let zxid = txn.zxid;
        match origin {
            Origin::Client { conn, .. }
                if *result == OpResult::Error(Code::SessionMoved.as_i32()) =>
            {
                // As ZooKeeper: the session lives on another server now; this connection is
                // closed instead of answered.
                tracing::info!(
                    "session 0x{:x} moved to another server; closing its old connection",
                    txn.session
                );
                self.queues.remove(&conn);
                if self.owner.get(&txn.session) == Some(&conn) {
                    self.owner.remove(&txn.session);
                }
                outs.push(Out::Close(conn));
                return;
            }
            Origin::Client {
                conn,
                xid,
                opcode,
                arrived,
            } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.last_zxid = zxid;
                }
                let r = match result {
                    OpResult::Multi(_) => reply(xid, zxid, 0, |w| encode_multi(w, result)),
                    OpResult::SessionClosed => reply(xid, zxid, 0, |_| {}),
                    _ => encode_write_result(xid, zxid, opcode, result),
                };
                self.send_reply(conn, r, arrived, now, outs);
                if !matches!(txn.op, TxnOp::CloseSession) {
                    self.write_done(conn, zxid, now, outs);
                }
            }
            Origin::Connect { conn, read_only } => {
                let id = txn.session;
                let timeout = match txn.op {
                    TxnOp::CreateSession { timeout } => timeout,
                    _ => 0,
                };
                self.established(conn, id, timeout, read_only, outs);
                self.write_done(conn, zxid, now, outs);
            }
            Origin::Expire | Origin::Remote | Origin::Internal => {}
        }
        match txn.op {
            TxnOp::CreateSession { timeout } if self.role != Role::Learner => {
                outs.push(Out::Track(txn.session, timeout.max(0) as u64));
            }
            TxnOp::CloseSession => {
                if self.role != Role::Learner {
                    outs.push(Out::Untrack(txn.session));
                }
                // Closed here, at the leader or by expiry: the connection holding it goes.
                if let Some(conn) = self.owner.remove(&txn.session) {
                    self.queues.remove(&conn);
                    outs.push(Out::Close(conn));
                }
            }
            _ => {}
        }
    }

    /// Learner: a txn the leader committed. Apply it, and answer the local client that asked
    /// for it, if any.
    pub fn committed(&mut self, txn: &Txn, now: i64) -> Vec<Out> {
        let mut outs = Vec::new();
        if txn.zxid <= self.tree.last_zxid {
            return outs;
        }
        let (result, triggers) = self.tree.apply(txn);
        self.remember(txn);
        self.deliver(&triggers, &mut outs);
        let key = match txn.op {
            TxnOp::CreateSession { .. } => (txn.session, CREATE_SESSION_CXID),
            _ => (txn.session, txn.cxid),
        };
        match self.awaiting.remove(&key) {
            Some((origin, tag)) => {
                let conn = match &origin {
                    Origin::Client { conn, .. } | Origin::Connect { conn, .. } => Some(*conn),
                    _ => None,
                };
                // Replies and queue markers use the local tag, not the zxid.
                self.settle_tagged(txn, origin, &result, tag, conn, now, &mut outs);
            }
            None => self.settle(txn, Origin::Remote, &result, now, &mut outs),
        }
        outs
    }

    #[allow(clippy::too_many_arguments)]
    fn settle_tagged(
        &mut self,
        txn: &Txn,
        origin: Origin,
        result: &OpResult,
        tag: i64,
        conn: Option<ConnId>,
        now: i64,
        outs: &mut Vec<Out>,
    ) {
        // Swap the queue marker from the tag to the zxid, then settle as usual.
        if let Some(conn) = conn {
            if let Some(q) = self.queues.get_mut(&conn) {
                for item in q.iter_mut() {
                    if let Queued::Write(z) = item {
                        if *z == tag {
                            *z = txn.zxid;
                            break;
                        }
                    }
                }
            }
        }
        self.settle(txn, origin, result, now, outs);
    }

    /// The write at `zxid` of a connection is answered: run the reads queued behind it.
    fn write_done(&mut self, conn: ConnId, zxid: i64, now: i64, outs: &mut Vec<Out>) {
        let Some(q) = self.queues.get_mut(&conn) else {
            return;
        };
        if let Some(Queued::Write(z)) = q.front() {
            if *z == zxid {
                q.pop_front();
            }
        }
        loop {
            let Some(q) = self.queues.get_mut(&conn) else {
                return;
            };
            match q.front() {
                Some(Queued::Read { .. }) => {
                    if let Some(Queued::Read {
                        xid,
                        opcode,
                        req,
                        arrived,
                    }) = q.pop_front()
                    {
                        self.run_read(conn, xid, opcode, req, arrived, now, outs);
                    }
                }
                Some(Queued::Write(_)) => return,
                None => {
                    self.queues.remove(&conn);
                    return;
                }
            }
        }
    }

    /// A new TCP connection.
    pub fn connected(&mut self, conn: ConnId, ip: &str, now: i64) {
        self.conns.insert(
            conn,
            ConnState {
                addr: ip.to_string(),
                auth: AuthInfo::for_ip(ip.split(':').next().unwrap_or(ip)),
                session: 0,
                timeout: 0,
                read_only: None,
                established: now,
                received: 0,
                sent: 0,
                outstanding: 0,
                last_op: "NA",
                last_cxid: -1,
                last_zxid: -1,
                last_response: 0,
                last_latency: 0,
                min_latency: 0,
                max_latency: 0,
                total_latency: 0,
                count: 0,
            },
        );
    }

    /// The TCP connection went away: its watches go, its session stays until it expires.
    pub fn disconnected(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            if self.owner.get(&c.session) == Some(&conn) {
                self.owner.remove(&c.session);
            }
        }
        self.watches.remove_conn(conn);
    }

    fn negotiate(&self, requested: i32) -> i32 {
        (requested.max(0) as u64).clamp(self.cfg.min_session_timeout, self.cfg.max_session_timeout)
            as i32
    }

    /// The first request of a connection.
    pub fn connect(&mut self, conn: ConnId, req: &ConnectRequest, now: i64) -> Vec<Out> {
        let mut outs = Vec::new();
        if req.last_zxid_seen > self.tree.last_zxid {
            tracing::info!(
                "refusing session request for client {} as it has seen zxid 0x{:x}, our last zxid is 0x{:x}; client must try another server",
                self.conns.get(&conn).map(|c| c.addr.as_str()).unwrap_or("?"),
                req.last_zxid_seen,
                self.tree.last_zxid
            );
            outs.push(Out::Close(conn));
            return outs;
        }
        let timeout = self.negotiate(req.timeout);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.timeout = timeout;
            c.read_only = req.read_only;
            c.last_op = "SESS";
        }
        if req.session_id == 0 {
            let id = self.next_session;
            self.next_session += 1;
            if self.role == Role::Learner {
                // Sessions are global: the leader creates it; we answer once it is committed.
                let tag = self.tag();
                self.owner.insert(id, conn);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.session = id;
                }
                self.queues
                    .entry(conn)
                    .or_default()
                    .push_back(Queued::Write(tag));
                let origin = Origin::Connect {
                    conn,
                    read_only: req.read_only,
                };
                self.awaiting
                    .insert((id, CREATE_SESSION_CXID), (origin, tag));
                outs.push(Out::Forward(Forward::CreateSession {
                    session: id,
                    timeout,
                }));
                return outs;
            }
            let zxid = self.assign();
            Prep {
                tree: &self.tree,
                out: &mut self.outstanding,
            }
            .create_session(id, zxid);
            self.owner.insert(id, conn);
            if self.role == Role::Leader {
                self.owners.insert(id, self.me());
            }
            if let Some(c) = self.conns.get_mut(&conn) {
                c.session = id;
            }
            self.queues
                .entry(conn)
                .or_default()
                .push_back(Queued::Write(zxid));
            let txn = Txn {
                session: id,
                cxid: 0,
                zxid,
                time: now,
                op: TxnOp::CreateSession { timeout },
            };
            self.propose(
                txn,
                Origin::Connect {
                    conn,
                    read_only: req.read_only,
                },
                &mut outs,
            );
            return outs;
        }
        let id = req.session_id;
        // As ZooKeeper does, a reconnect first closes the session's other connection on this
        // server, whether or not the password then proves right.
        if let Some(old) = self.owner.remove(&id) {
            if old != conn {
                self.watches.remove_conn(old);
                self.queues.remove(&old);
                if let Some(c) = self.conns.get_mut(&old) {
                    c.session = 0;
                }
                outs.push(Out::Close(old));
            }
        }
        if self.role == Role::Learner && req.passwd.as_slice() == session_password(id) {
            // Only the leader knows whether the session is still alive.
            let tag = self.tag();
            self.owner.insert(id, conn);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.session = id;
            }
            self.queues
                .entry(conn)
                .or_default()
                .push_back(Queued::Write(tag));
            self.revalidating
                .insert(id, (conn, timeout, req.read_only, tag));
            outs.push(Out::Revalidate {
                session: id,
                timeout,
            });
            return outs;
        }
        let valid = req.passwd.as_slice() == session_password(id)
            && self.outstanding.session_alive(&self.tree, id);
        if !valid {
            self.refuse_session(conn, id, req.read_only, &mut outs);
            return outs;
        }
        self.owner.insert(id, conn);
        if self.role == Role::Leader {
            self.owners.insert(id, self.me());
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session = id;
        }
        outs.push(Out::Track(id, timeout as u64));
        self.established(conn, id, timeout, req.read_only, &mut outs);
        outs
    }

    fn deliver(&mut self, triggers: &[Trigger], outs: &mut Vec<Out>) {
        if triggers.is_empty() {
            return;
        }
        for d in self.watches.fire(triggers) {
            self.send(d.conn, notification(d.event, &d.path), outs);
        }
    }

    /// Sessions whose time ran out: close them as ZooKeeper does, with a closeSession txn.
    pub fn expire(&mut self, sessions: &[i64], now: i64) -> Vec<Out> {
        let mut outs = Vec::new();
        for &id in sessions {
            if !self.outstanding.session_alive(&self.tree, id) {
                outs.push(Out::Untrack(id));
                continue;
            }
            tracing::info!("expiring session 0x{id:x}");
            let zxid = self.assign();
            Prep {
                tree: &self.tree,
                out: &mut self.outstanding,
            }
            .close_session(id, zxid);
            let txn = Txn {
                session: id,
                cxid: 0,
                zxid,
                time: now,
                op: TxnOp::CloseSession,
            };
            self.propose(txn, Origin::Expire, &mut outs);
        }
        outs
    }

    /// Delete empty containers and expired TTL nodes (ContainerManager).
    pub fn reap(&mut self, now: i64) -> Vec<Out> {
        let mut outs = Vec::new();
        for p in self.tree.reapable(now) {
            let zxid = self.last_assigned + 1;
            let op = Prep {
                tree: &self.tree,
                out: &mut self.outstanding,
            }
            .reap(&p, zxid, now);
            if let Some(op) = op {
                self.assign();
                let txn = Txn {
                    session: 0,
                    cxid: 0,
                    zxid,
                    time: now,
                    op,
                };
                self.propose(txn, Origin::Internal, &mut outs);
            }
        }
        outs
    }

    /// One decoded request from a connection.
    pub fn request(
        &mut self,
        conn: ConnId,
        xid: i32,
        opcode: i32,
        req: Request,
        now: i64,
    ) -> Vec<Out> {
        self.request_with_body(conn, xid, opcode, req, Bytes::new(), now)
    }

    /// A request with its raw body, which a learner forwards to the leader.
    pub fn request_with_body(
        &mut self,
        conn: ConnId,
        xid: i32,
        opcode: i32,
        req: Request,
        body: Bytes,
        now: i64,
    ) -> Vec<Out> {
        let mut outs = Vec::new();
        let Some(c) = self.conns.get_mut(&conn) else {
            return outs;
        };
        let session = c.session;
        c.received += 1;
        c.outstanding += 1;
        c.last_op = op::tag(opcode);
        if xid > 0 {
            c.last_cxid = xid;
        }
        self.stats.received += 1;
        let alive =
            self.role == Role::Learner || self.outstanding.session_alive(&self.tree, session);
        if session == 0 || !alive {
            if self.queues.get(&conn).is_some_and(|q| !q.is_empty()) {
                // The session's close (or expiry) is ahead in this connection's queue: its reply
                // goes first and the connection closes after it; this request gets no answer.
                return outs;
            }
            let r = reply(
                xid,
                self.tree.last_zxid,
                Code::SessionExpired.as_i32(),
                |_| {},
            );
            self.send_reply(conn, r, now, now, &mut outs);
            outs.push(Out::Close(conn));
            return outs;
        }
        if self.role == Role::Leader && self.owners.get(&session).is_some_and(|o| *o != self.me()) {
            // The session moved to a learner's connection: this one is stale (SessionMoved).
            tracing::info!(
                "session 0x{session:x} moved to another server; closing its old connection"
            );
            self.queues.remove(&conn);
            self.owner.remove(&session);
            outs.push(Out::Close(conn));
            return outs;
        }
        let auth = self.conns[&conn].auth.clone();
        if self.role == Role::Learner {
            let forward = match &req {
                Request::Write(_) | Request::Multi(_) | Request::CloseSession => true,
                Request::Malformed(code) => is_write_opcode(*code),
                Request::Unsupported(code) => *code == op::RECONFIG,
                _ => false,
            };
            if forward {
                let tag = self.tag();
                self.queues
                    .entry(conn)
                    .or_default()
                    .push_back(Queued::Write(tag));
                let origin = Origin::Client {
                    conn,
                    xid,
                    opcode,
                    arrived: now,
                };
                self.awaiting.insert((session, xid), (origin, tag));
                outs.push(Out::Forward(Forward::Request {
                    session,
                    cxid: xid,
                    opcode,
                    body,
                    auth,
                }));
                return outs;
            }
            if let Request::Sync { path } = &req {
                // Answered once this server has applied everything the leader had proposed.
                self.hold_sync(conn, session, xid, path, now);
                outs.push(Out::Forward(Forward::Sync { session }));
                return outs;
            }
        }
        if self.role == Role::Leader && !self.pending.is_empty() {
            if let Request::Sync { path } = &req {
                // A learner may apply a txn before this leader has counted the quorum that
                // committed it (proto::zab::learner), so a client there may have had its
                // answer already: a sync here waits, as a learner's does, for everything
                // proposed so far, so that the reads after it see such a write.
                self.hold_sync(conn, session, xid, path, now);
                let me = self.me();
                self.leader_syncs
                    .push_back((self.last_assigned, me, session));
                return outs;
            }
        }
        let caller = Caller {
            session,
            auth: &auth,
        };
        let op = match req {
            Request::Write(w) => {
                let zxid = self.last_assigned + 1;
                Some(
                    Prep {
                        tree: &self.tree,
                        out: &mut self.outstanding,
                    }
                    .write(&w, &caller, zxid, now),
                )
            }
            Request::Multi(ops) => {
                let zxid = self.last_assigned + 1;
                Some(
                    Prep {
                        tree: &self.tree,
                        out: &mut self.outstanding,
                    }
                    .multi(&ops, &caller, zxid, now),
                )
            }
            Request::CloseSession => {
                let zxid = self.last_assigned + 1;
                Prep {
                    tree: &self.tree,
                    out: &mut self.outstanding,
                }
                .close_session(session, zxid);
                Some(TxnOp::CloseSession)
            }
            Request::Malformed(code) if is_write_opcode(code) => Some(TxnOp::Error {
                err: Code::MarshallingError.as_i32(),
            }),
            // A refused reconfig is still a write: it becomes an error txn with a zxid.
            Request::Unsupported(op::RECONFIG) => Some(TxnOp::Error {
                err: Code::ReconfigDisabled.as_i32(),
            }),
            Request::Unsupported(op::SASL) => {
                self.enqueue_read(
                    conn,
                    xid,
                    opcode,
                    Request::Unsupported(op::SASL),
                    now,
                    &mut outs,
                );
                return outs;
            }
            Request::Unsupported(code) => {
                tracing::info!(
                    "unsupported opcode {code} from {}; closing the connection",
                    self.conns[&conn].addr
                );
                // ZooKeeper answers an unknown opcode with zxid -1, after what came before it.
                self.enqueue_read(
                    conn,
                    xid,
                    opcode,
                    Request::Unsupported(code),
                    now,
                    &mut outs,
                );
                return outs;
            }
            Request::Auth { scheme, auth: data } => {
                // Credentials count from now on for later requests; the reply keeps its turn.
                let res = self
                    .conns
                    .get_mut(&conn)
                    .map(|c| c.auth.add(&scheme, &data, &self.cfg.super_digest))
                    .unwrap_or(Ok(()));
                let req = match res {
                    Ok(()) => Request::Auth {
                        scheme,
                        auth: Vec::new(),
                    },
                    Err(_) => {
                        self.stats.auth_failed += 1;
                        tracing::info!("authentication with unknown scheme `{scheme}` failed; closing the connection");
                        Request::Unsupported(op::AUTH)
                    }
                };
                self.enqueue_read(conn, xid, opcode, req, now, &mut outs);
                return outs;
            }
            read => {
                self.enqueue_read(conn, xid, opcode, read, now, &mut outs);
                return outs;
            }
        };
        if let Some(op) = op {
            let zxid = self.assign();
            self.queues
                .entry(conn)
                .or_default()
                .push_back(Queued::Write(zxid));
            let txn = Txn {
                session,
                cxid: xid,
                zxid,
                time: now,
                op,
            };
            self.propose(
                txn,
                Origin::Client {
                    conn,
                    xid,
                    opcode,
                    arrived: now,
                },
                &mut outs,
            );
        }
        outs
    }

    /// Leader: a write a learner forwarded. It is prepared like a local one; the learner answers
    /// its client once it applies the committed txn.
    pub fn remote_request(
        &mut self,
        server: u64,
        session: i64,
        cxid: i32,
        req: Request,
        auth: &AuthInfo,
        now: i64,
    ) -> Vec<Out> {
        let mut outs = Vec::new();
        let zxid = self.last_assigned + 1;
        let moved = self.owners.get(&session).is_some_and(|o| *o != server);
        let op = if moved {
            TxnOp::Error {
                err: Code::SessionMoved.as_i32(),
            }
        } else if !self.outstanding.session_alive(&self.tree, session) {
            TxnOp::Error {
                err: Code::SessionExpired.as_i32(),
            }
        } else {
            let caller = Caller { session, auth };
            let mut prep = Prep {
                tree: &self.tree,
                out: &mut self.outstanding,
            };
            match req {
                Request::Write(w) => prep.write(&w, &caller, zxid, now),
                Request::Multi(ops) => prep.multi(&ops, &caller, zxid, now),
                Request::CloseSession => {
                    prep.close_session(session, zxid);
                    TxnOp::CloseSession
                }
                Request::Malformed(_) => TxnOp::Error {
                    err: Code::MarshallingError.as_i32(),
                },
                Request::Unsupported(op::RECONFIG) => TxnOp::Error {
                    err: Code::ReconfigDisabled.as_i32(),
                },
                // Only writes are forwarded.
                _ => return outs,
            }
        };
        self.assign();
        let txn = Txn {
            session,
            cxid,
            zxid,
            time: now,
            op,
        };
        self.propose(txn, Origin::Remote, &mut outs);
        outs
    }

    /// Leader: a session a learner's client opened.
    pub fn remote_create_session(
        &mut self,
        server: u64,
        session: i64,
        timeout: i32,
        now: i64,
    ) -> Vec<Out> {
        let mut outs = Vec::new();
        self.owners.insert(session, server);
        let zxid = self.assign();
        Prep {
            tree: &self.tree,
            out: &mut self.outstanding,
        }
        .create_session(session, zxid);
        let txn = Txn {
            session,
            cxid: 0,
            zxid,
            time: now,
            op: TxnOp::CreateSession { timeout },
        };
        self.propose(txn, Origin::Remote, &mut outs);
        outs
    }

    /// Leader: whether a session is alive (a client resumes it on a learner).
    pub fn revalidate(&mut self, server: u64, session: i64) -> bool {
        let valid = self.outstanding.session_alive(&self.tree, session);
        if valid {
            self.owners.insert(session, server);
        }
        valid
    }

    /// Leader: a learner's `sync`, answered once everything proposed so far is committed.
    pub fn sync_request(&mut self, server: u64, session: i64) -> Vec<Out> {
        if self.pending.is_empty() {
            return vec![Out::SyncDone { server, session }];
        }
        self.leader_syncs
            .push_back((self.last_assigned, server, session));
        Vec::new()
    }

    /// Learner: the leader's answer about a resumed session.
    pub fn revalidated(&mut self, session: i64, valid: bool, now: i64) -> Vec<Out> {
        let mut outs = Vec::new();
        let Some((conn, timeout, read_only, tag)) = self.revalidating.remove(&session) else {
            return outs;
        };
        if !valid {
            self.owner.remove(&session);
            self.queues.remove(&conn);
            self.refuse_session(conn, session, read_only, &mut outs);
            return outs;
        }
        self.established(conn, session, timeout, read_only, &mut outs);
        self.write_done(conn, tag, now, &mut outs);
        outs
    }

    /// Hold a client's `sync` (and the connection's later requests) until `sync_done`.
    fn hold_sync(&mut self, conn: ConnId, session: i64, xid: i32, path: &str, now: i64) {
        let tag = self.tag();
        self.queues
            .entry(conn)
            .or_default()
            .push_back(Queued::Write(tag));
        self.learner_syncs.entry(session).or_default().push_back((
            conn,
            xid,
            path.to_string(),
            now,
            tag,
        ));
    }

    /// Learner: the leader has sent everything before this session's `sync`.
    pub fn sync_done(&mut self, session: i64, now: i64) -> Vec<Out> {
        let mut outs = Vec::new();
        let Some((conn, xid, path, arrived, tag)) = self
            .learner_syncs
            .get_mut(&session)
            .and_then(|q| q.pop_front())
        else {
            return outs;
        };
        let r = reply(xid, self.tree.last_zxid, 0, |w| w.put_str(&path));
        self.send_reply(conn, r, arrived, now, &mut outs);
        self.write_done(conn, tag, now, &mut outs);
        outs
    }

    /// A read runs now, unless earlier writes of the same connection are still outstanding.
    fn enqueue_read(
        &mut self,
        conn: ConnId,
        xid: i32,
        opcode: i32,
        req: Request,
        now: i64,
        outs: &mut Vec<Out>,
    ) {
        match self.queues.get_mut(&conn) {
            Some(q) if !q.is_empty() => q.push_back(Queued::Read {
                xid,
                opcode,
                req,
                arrived: now,
            }),
            _ => self.run_read(conn, xid, opcode, req, now, now, outs),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run_read(
        &mut self,
        conn: ConnId,
        xid: i32,
        _opcode: i32,
        req: Request,
        arrived: i64,
        now: i64,
        outs: &mut Vec<Out>,
    ) {
        let last = self.tree.last_zxid;
        match req {
            Request::Unsupported(op::AUTH) => {
                let r = reply(xid, 0, Code::AuthFailed.as_i32(), |_| {});
                self.send_reply(conn, r, arrived, now, outs);
                outs.push(Out::Close(conn));
            }
            Request::Unsupported(op::SASL) => {
                // As ZooKeeper without SASL configured: an empty answer, the session goes on.
                tracing::warn!("SASL authentication requested, but SASL is not configured");
                let r = reply(xid, 0, 0, |w| w.put_buffer(None));
                self.send_reply(conn, r, arrived, now, outs);
            }
            Request::Unsupported(_) => {
                let r = reply(xid, -1, Code::Unimplemented.as_i32(), |_| {});
                self.send_reply(conn, r, arrived, now, outs);
                outs.push(Out::Close(conn));
            }
            // The reply echoes the request's xid (-4 from most clients, not all).
            Request::Auth { .. } => {
                let r = reply(xid, 0, 0, |_| {});
                self.send_reply(conn, r, arrived, now, outs);
            }
            Request::Malformed(_) => {
                let r = reply(xid, last, Code::MarshallingError.as_i32(), |_| {});
                self.send_reply(conn, r, arrived, now, outs);
            }
            Request::SetWatches(sw) => {
                self.set_watches(conn, &sw, outs);
                let r = reply(xid, last, 0, |_| {});
                self.send_reply(conn, r, arrived, now, outs);
            }
            other => {
                let session = self.conns.get(&conn).map_or(0, |c| c.session);
                let auth = self
                    .conns
                    .get(&conn)
                    .map(|c| c.auth.clone())
                    .unwrap_or_default();
                let r = self.read(conn, session, &auth, xid, other);
                self.send_reply(conn, r, arrived, now, outs);
            }
        }
    }

    fn set_watches(&mut self, conn: ConnId, sw: &SetWatches, outs: &mut Vec<Out>) {
        let rel = sw.relative_zxid;
        let mut events = Vec::new();
        for p in &sw.data {
            match self.tree.get(p) {
                None => events.push((event::NODE_DELETED, p.clone())),
                Some(n) if n.stat.mzxid > rel => events.push((event::NODE_DATA_CHANGED, p.clone())),
                Some(_) => self.watches.add_data(p, conn),
            }
        }
        for p in &sw.exist {
            match self.tree.get(p) {
                Some(_) => events.push((event::NODE_CREATED, p.clone())),
                None => self.watches.add_data(p, conn),
            }
        }
        for p in &sw.child {
            match self.tree.get(p) {
                None => events.push((event::NODE_DELETED, p.clone())),
                Some(n) if n.stat.pzxid > rel => {
                    events.push((event::NODE_CHILDREN_CHANGED, p.clone()))
                }
                Some(_) => self.watches.add_child(p, conn),
            }
        }
        for p in &sw.persistent {
            self.watches.add_persistent(p, conn, false);
        }
        for p in &sw.persistent_recursive {
            self.watches.add_persistent(p, conn, true);
        }
        for (ev, p) in events {
            self.send(conn, notification(ev, &p), outs);
        }
    }

    fn read(
        &mut self,
        conn: ConnId,
        session: i64,
        auth: &AuthInfo,
        xid: i32,
        req: Request,
    ) -> Bytes {
        let last = self.tree.last_zxid;
        let err = |c: Code| reply(xid, last, c.as_i32(), |_| {});
        let readable = |n: &crate::datatree::node::Node| acl::check(&n.acl, perms::READ, auth);
        match req {
            Request::Ping => reply(xid, last, 0, |_| {}),
            // exists needs no permission in ZooKeeper 3.8.0.
            Request::Exists { path, watch } => match self.tree.get(&path) {
                Some(n) => {
                    let s = n.client_stat();
                    if watch {
                        self.watches.add_data(&path, conn);
                    }
                    reply(xid, last, 0, |w| write_stat(w, &s))
                }
                None => {
                    if watch {
                        self.watches.add_data(&path, conn);
                    }
                    err(Code::NoNode)
                }
            },
            Request::GetData { path, watch } => match self.tree.get(&path) {
                None => err(Code::NoNode),
                Some(n) if !readable(n) => err(Code::NoAuth),
                Some(n) => {
                    let r = reply(xid, last, 0, |w| {
                        w.put_buffer(n.data.as_deref());
                        write_stat(w, &n.client_stat());
                    });
                    if watch {
                        self.watches.add_data(&path, conn);
                    }
                    r
                }
            },
            Request::GetChildren {
                path,
                watch,
                with_stat,
            } => match self.tree.get(&path) {
                None => err(Code::NoNode),
                Some(n) if !readable(n) => err(Code::NoAuth),
                Some(n) => {
                    let r = reply(xid, last, 0, |w| {
                        w.put_i32(n.children.len() as i32);
                        for c in &n.children {
                            w.put_str(c);
                        }
                        if with_stat {
                            write_stat(w, &n.client_stat());
                        }
                    });
                    if watch {
                        self.watches.add_child(&path, conn);
                    }
                    r
                }
            },
            Request::GetAcl { path } => match self.tree.get(&path) {
                None => err(Code::NoNode),
                Some(n) if !acl::check(&n.acl, perms::READ | perms::ADMIN, auth) => {
                    err(Code::NoAuth)
                }
                Some(n) => {
                    let list = if acl::check(&n.acl, perms::ADMIN, auth) {
                        n.acl.as_ref().clone()
                    } else {
                        acl::mask_digests(&n.acl)
                    };
                    reply(xid, last, 0, |w| {
                        write_acls(w, &list);
                        write_stat(w, &n.client_stat());
                    })
                }
            },
            Request::Sync { path } => reply(xid, last, 0, |w| w.put_str(&path)),
            Request::MultiRead(ops) => reply(xid, last, 0, |w| {
                for o in &ops {
                    let (opcode, p) = match o {
                        ReadOp::GetData { path } => (op::GET_DATA, path),
                        ReadOp::GetChildren { path } => (op::GET_CHILDREN, path),
                    };
                    match self.tree.get(p) {
                        None => {
                            write_multi_header(w, op::ERROR, false, Code::NoNode.as_i32());
                            w.put_i32(Code::NoNode.as_i32());
                        }
                        Some(n) if !readable(n) => {
                            write_multi_header(w, op::ERROR, false, Code::NoAuth.as_i32());
                            w.put_i32(Code::NoAuth.as_i32());
                        }
                        Some(n) => {
                            write_multi_header(w, opcode, false, 0);
                            if opcode == op::GET_DATA {
                                w.put_buffer(n.data.as_deref());
                                write_stat(w, &n.client_stat());
                            } else {
                                w.put_i32(n.children.len() as i32);
                                for c in &n.children {
                                    w.put_str(c);
                                }
                            }
                        }
                    }
                }
                write_multi_header(w, -1, true, -1);
            }),
            Request::AddWatch { path, mode } => {
                if mode != 0 && mode != 1 {
                    return err(Code::MarshallingError);
                }
                self.watches.add_persistent(&path, conn, mode == 1);
                reply(xid, last, 0, |w| w.put_i32(0))
            }
            Request::CheckWatches { kind, .. } | Request::RemoveWatches { kind, .. }
                if !(1..=5).contains(&kind) =>
            {
                err(Code::MarshallingError)
            }
            Request::CheckWatches { path, kind } => {
                if self.watches.check(&path, conn, kind) {
                    reply(xid, last, 0, |_| {})
                } else {
                    err(Code::NoWatcher)
                }
            }
            Request::RemoveWatches { path, kind } => {
                if self.watches.remove(&path, conn, kind) {
                    reply(xid, last, 0, |_| {})
                } else {
                    err(Code::NoWatcher)
                }
            }
            Request::GetEphemerals { prefix } => {
                let list = self.tree.ephemerals_of(session, &prefix);
                reply(xid, last, 0, |w| w.put_strings(&list))
            }
            Request::GetAllChildrenNumber { path } => match self.tree.get(&path) {
                None => err(Code::NoNode),
                Some(n) if !readable(n) => err(Code::NoAuth),
                Some(_) => {
                    let count = self.tree.descendants(&path) as i32;
                    reply(xid, last, 0, |w| w.put_i32(count))
                }
            },
            Request::WhoAmI => {
                let ids: Vec<(String, String)> = acl::java_set_order(&auth.ids)
                    .into_iter()
                    .map(|id| {
                        let user = if id.scheme == "digest" {
                            id.id.split(':').next().unwrap_or("").to_string()
                        } else {
                            id.id.clone()
                        };
                        (id.scheme.clone(), user)
                    })
                    .collect();
                reply(xid, last, 0, |w| {
                    w.put_i32(ids.len() as i32);
                    for (s, u) in &ids {
                        w.put_str(s);
                        w.put_str(u);
                    }
                })
            }
            // Writes and session requests are handled before reads.
            _ => err(Code::Unimplemented),
        }
    }

    /// Sessions currently owned by a connection of this server: (session, timeout).
    pub fn session_timeouts(&self) -> Vec<(i64, i32)> {
        let mut v: Vec<(i64, i32)> = self.tree.sessions().iter().map(|(k, v)| (*k, *v)).collect();
        v.sort();
        v
    }

    pub fn reset_stats(&mut self) {
        self.stats = Stats::new();
    }
}

fn encode_write_result(xid: i32, zxid: i64, opcode: i32, r: &OpResult) -> Bytes {
    match r {
        OpResult::Error(e) => reply(xid, zxid, *e, |_| {}),
        OpResult::Created { path, stat, .. } => reply(xid, zxid, 0, |w| {
            w.put_str(path);
            if opcode != op::CREATE {
                write_stat(w, stat);
            }
        }),
        OpResult::SetData { stat } | OpResult::SetAcl { stat } => {
            reply(xid, zxid, 0, |w| write_stat(w, stat))
        }
        _ => reply(xid, zxid, 0, |_| {}),
    }
}

fn encode_multi(w: &mut Vec<u8>, r: &OpResult) {
    if let OpResult::Multi(rs) = r {
        for r in rs {
            match r {
                OpResult::Created { path, stat, opcode } => {
                    // Inside a multi a plain create answers with its path only; create2 and
                    // container / TTL creates add the Stat (ZooKeeper 3.8.2+, ZOOKEEPER-4026).
                    if *opcode == op::CREATE {
                        write_multi_header(w, op::CREATE, false, 0);
                        w.put_str(path);
                    } else {
                        write_multi_header(w, op::CREATE2, false, 0);
                        w.put_str(path);
                        write_stat(w, stat);
                    }
                }
                OpResult::Deleted => write_multi_header(w, op::DELETE, false, 0),
                OpResult::SetData { stat } => {
                    write_multi_header(w, op::SET_DATA, false, 0);
                    write_stat(w, stat);
                }
                OpResult::Checked => write_multi_header(w, op::CHECK, false, 0),
                OpResult::Error(e) => {
                    write_multi_header(w, op::ERROR, false, *e);
                    w.put_i32(*e);
                }
                _ => {}
            }
        }
    }
    write_multi_header(w, -1, true, -1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::jute::{Acl, CreateRequest, Reader, WriteOp};

    fn engine() -> Engine {
        engine_of(0)
    }

    fn engine_of(server_id: u64) -> Engine {
        Engine::new(
            EngineConfig {
                server_id,
                min_session_timeout: 4000,
                max_session_timeout: 40000,
                super_digest: String::new(),
                extended_types: false,
            },
            1_700_000_000_000,
        )
    }

    fn connect(e: &mut Engine, conn: ConnId) -> i64 {
        e.connected(conn, "127.0.0.1", 0);
        let outs = e.connect(
            conn,
            &ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 0,
                timeout: 1000,
                session_id: 0,
                passwd: vec![0; 16],
                read_only: Some(false),
            },
            0,
        );
        assert!(matches!(outs[..], [Out::Persist(_)]));
        let outs = e.durable(e.last_assigned(), 0);
        outs.iter()
            .find_map(|o| match o {
                Out::Track(id, 4000) => Some(*id),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{outs:?}"))
    }

    fn sends(outs: &[Out]) -> Vec<(ConnId, Vec<u8>)> {
        outs.iter()
            .filter_map(|o| match o {
                Out::Send(c, b) | Out::Reply(c, b) => Some((*c, b.to_vec())),
                _ => None,
            })
            .collect()
    }

    fn create(path: &str) -> Request {
        Request::Write(WriteOp::Create(CreateRequest {
            opcode: op::CREATE,
            path: path.into(),
            data: None,
            acl: Acl::world_all(),
            flags: 0,
            ttl: -1,
        }))
    }

    #[test]
    fn password_is_javas_random() {
        // Deterministic and distinct per session.
        assert_eq!(session_password(1), session_password(1));
        assert_ne!(session_password(1), session_password(2));
    }

    #[test]
    fn writes_apply_when_durable_and_reads_wait_for_their_session_only() {
        let mut e = engine();
        connect(&mut e, 1);
        connect(&mut e, 2);
        let outs = e.request(1, 1, op::CREATE, create("/a"), 0);
        assert!(sends(&outs).is_empty());
        let z = e.last_assigned();
        // Another session reads at once, and does not see the outstanding write.
        let outs = e.request(
            2,
            1,
            op::EXISTS,
            Request::Exists {
                path: "/a".into(),
                watch: false,
            },
            0,
        );
        let s = sends(&outs);
        assert_eq!(s.len(), 1);
        assert_eq!(
            Reader::new(&s[0].1[16..20]).i32().unwrap(),
            Code::NoNode.as_i32()
        );
        // The writer's own read waits behind its write.
        let outs = e.request(
            1,
            2,
            op::EXISTS,
            Request::Exists {
                path: "/a".into(),
                watch: false,
            },
            0,
        );
        assert!(sends(&outs).is_empty());
        let s = sends(&e.durable(z, 1));
        assert_eq!(s.len(), 2);
        assert!(s.iter().all(|(c, _)| *c == 1));
        let mut r = Reader::new(&s[1].1[4..]);
        assert_eq!(r.i32().unwrap(), 2);
        assert_eq!(r.i64().unwrap(), z);
        assert_eq!(r.i32().unwrap(), 0);
    }

    #[test]
    fn outstanding_writes_validate_against_each_other() {
        let mut e = engine();
        connect(&mut e, 1);
        e.request(1, 1, op::CREATE, create("/a"), 0);
        e.request(1, 2, op::CREATE, create("/a"), 0);
        let s = sends(&e.durable(e.last_assigned(), 0));
        assert_eq!(s.len(), 2);
        assert_eq!(Reader::new(&s[0].1[16..20]).i32().unwrap(), 0);
        assert_eq!(
            Reader::new(&s[1].1[16..20]).i32().unwrap(),
            Code::NodeExists.as_i32()
        );
    }

    #[test]
    fn failed_persistence_fails_the_writes_and_keeps_serving() {
        let mut e = engine();
        connect(&mut e, 1);
        let before = e.last_assigned();
        e.request(1, 1, op::CREATE, create("/a"), 0);
        e.request(
            1,
            2,
            op::GET_DATA,
            Request::GetData {
                path: "/".into(),
                watch: false,
            },
            0,
        );
        let s = sends(&e.failed(before + 1, Code::ThrottledOp, 0));
        assert_eq!(
            s.len(),
            2,
            "the failed write is answered, then the read behind it"
        );
        assert_eq!(
            Reader::new(&s[0].1[16..20]).i32().unwrap(),
            Code::ThrottledOp.as_i32()
        );
        assert_eq!(Reader::new(&s[1].1[16..20]).i32().unwrap(), 0);
        assert!(e.tree.get("/a").is_none());
        assert_eq!(e.last_assigned(), before);
        // The same create goes through afterwards.
        e.request(1, 3, op::CREATE, create("/a"), 0);
        e.durable(e.last_assigned(), 0);
        assert!(e.tree.get("/a").is_some());
    }

    #[test]
    fn requests_behind_close_session_wait_for_its_reply() {
        let mut e = engine();
        connect(&mut e, 1);
        e.request(1, 6, op::CLOSE_SESSION, Request::CloseSession, 0);
        let outs = e.request(
            1,
            7,
            op::GET_DATA,
            Request::GetData {
                path: "/".into(),
                watch: false,
            },
            0,
        );
        assert!(outs.is_empty(), "nothing overtakes the close: {outs:?}");
        let outs = e.durable(e.last_assigned(), 0);
        let s = sends(&outs);
        assert_eq!(s.len(), 1);
        assert_eq!(Reader::new(&s[0].1[4..8]).i32().unwrap(), 6);
        assert_eq!(outs.last(), Some(&Out::Close(1)));
    }

    #[test]
    fn sasl_without_configuration_answers_empty() {
        let mut e = engine();
        connect(&mut e, 1);
        let s = sends(&e.request(1, 3, op::SASL, Request::Unsupported(op::SASL), 0));
        assert_eq!(s[0].1.len(), 4 + 16 + 4);
        assert_eq!(Reader::new(&s[0].1[16..20]).i32().unwrap(), 0);
    }

    #[test]
    fn watch_event_precedes_reply() {
        let mut e = engine();
        connect(&mut e, 1);
        let outs = e.request(
            1,
            1,
            op::EXISTS,
            Request::Exists {
                path: "/w".into(),
                watch: true,
            },
            0,
        );
        assert_eq!(sends(&outs).len(), 1);
        e.request(1, 2, op::CREATE, create("/w"), 0);
        let s = sends(&e.durable(e.last_assigned(), 0));
        assert_eq!(s.len(), 2);
        let mut r = Reader::new(&s[0].1[4..]);
        assert_eq!(r.i32().unwrap(), -1);
    }

    #[test]
    fn resume_and_expired_session() {
        let mut e = engine();
        let id = connect(&mut e, 1);
        e.connected(2, "127.0.0.1", 0);
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout: 5000,
            session_id: id,
            passwd: session_password(id).to_vec(),
            read_only: None,
        };
        let outs = e.connect(2, &req, 0);
        assert!(outs.contains(&Out::Close(1)));
        e.connected(3, "127.0.0.1", 0);
        let bad = ConnectRequest {
            passwd: vec![1; 16],
            ..req.clone()
        };
        let outs = e.connect(3, &bad, 0);
        let s = sends(&outs);
        assert_eq!(&s[0].1[4..12], &[0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(outs.contains(&Out::Close(3)));
        let ahead = ConnectRequest {
            last_zxid_seen: 99,
            ..req
        };
        e.connected(4, "127.0.0.1", 0);
        assert_eq!(e.connect(4, &ahead, 0), vec![Out::Close(4)]);
    }

    #[test]
    fn expiry_removes_ephemerals_and_closes() {
        let mut e = engine();
        let id = connect(&mut e, 1);
        let mut req = create("/eph");
        if let Request::Write(WriteOp::Create(c)) = &mut req {
            c.flags = 1;
        }
        e.request(1, 1, op::CREATE, req, 0);
        let outs = e.expire(&[id], 10);
        assert!(outs
            .iter()
            .any(|o| matches!(o, Out::Persist(t) if t.op == TxnOp::CloseSession)));
        let outs = e.durable(e.last_assigned(), 10);
        assert!(e.tree.get("/eph").is_none());
        assert!(outs.contains(&Out::Close(1)));
    }

    /// A leader and a learner engine wired in memory: forwarded writes are prepared at the
    /// leader, "committed" at once, and applied on both.
    struct Pair {
        leader: Engine,
        learner: Engine,
    }

    impl Pair {
        fn new() -> Pair {
            let mut leader = engine();
            leader.set_role(Role::Leader);
            let mut learner = engine();
            learner.set_role(Role::Learner);
            Pair { leader, learner }
        }

        /// Run outputs until quiet; returns what reached clients of (leader, learner).
        fn pump(
            &mut self,
            mut from_leader: Vec<Out>,
            mut from_learner: Vec<Out>,
        ) -> (Vec<Out>, Vec<Out>) {
            let (mut to_l, mut to_f) = (Vec::new(), Vec::new());
            for _ in 0..20 {
                if from_leader.is_empty() && from_learner.is_empty() {
                    break;
                }
                let mut next_l = Vec::new();
                let mut next_f = Vec::new();
                for o in from_learner.drain(..) {
                    match o {
                        Out::Forward(Forward::CreateSession { session, timeout }) => {
                            next_l.extend(self.leader.remote_create_session(2, session, timeout, 0))
                        }
                        Out::Forward(Forward::Request {
                            session,
                            cxid,
                            opcode,
                            body,
                            auth,
                        }) => {
                            let req =
                                Request::read(opcode, &body).unwrap_or(Request::Malformed(opcode));
                            next_l
                                .extend(self.leader.remote_request(2, session, cxid, req, &auth, 0))
                        }
                        Out::Forward(Forward::Sync { session }) => {
                            next_l.extend(self.leader.sync_request(2, session))
                        }
                        Out::Revalidate { session, .. } => {
                            let valid = self.leader.revalidate(2, session);
                            next_f.extend(self.learner.revalidated(session, valid, 0));
                        }
                        other => to_f.push(other),
                    }
                }
                for o in from_leader.drain(..) {
                    match o {
                        Out::Persist(t) => {
                            // Commit at once: apply at the leader and at the learner.
                            next_l.extend(self.leader.durable(t.zxid, 0));
                            next_f.extend(self.learner.committed(&t, 0));
                        }
                        Out::SyncDone { session, .. } => {
                            next_f.extend(self.learner.sync_done(session, 0))
                        }
                        other => to_l.push(other),
                    }
                }
                from_leader = next_l;
                from_learner = next_f;
            }
            (to_l, to_f)
        }
    }

    fn connect_req() -> ConnectRequest {
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout: 5000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: None,
        }
    }

    fn create_body(path: &str, flags: i32) -> Bytes {
        let mut w = Vec::new();
        w.put_str(path);
        w.put_buffer(Some(b"x"));
        crate::codec::jute::write_acls(&mut w, &Acl::world_all());
        w.put_i32(flags);
        Bytes::from(w)
    }

    fn err_of(frame: &[u8]) -> i32 {
        Reader::new(&frame[16..20]).i32().unwrap()
    }

    #[test]
    fn learner_forwards_writes_and_answers_after_commit() {
        let mut p = Pair::new();
        p.learner.connected(7, "127.0.0.1", 0);
        let outs = p.learner.connect(7, &connect_req(), 0);
        assert!(matches!(
            outs[..],
            [Out::Forward(Forward::CreateSession { .. })]
        ));
        let (_, f) = p.pump(vec![], outs);
        assert!(f.iter().any(|o| matches!(o, Out::Session(7, _))), "{f:?}");
        let session = p.learner.conns[&7].session;
        assert!(p.leader.tree.has_session(session));
        // A create, and a read right behind it that must wait for it.
        let req = Request::read(op::CREATE, &create_body("/f", 1)).unwrap();
        let outs = p
            .learner
            .request_with_body(7, 1, op::CREATE, req, create_body("/f", 1), 0);
        let outs2 = p.learner.request(
            7,
            2,
            op::EXISTS,
            Request::Exists {
                path: "/f".into(),
                watch: false,
            },
            0,
        );
        assert!(
            sends(&outs2).is_empty(),
            "the read waits behind the forwarded write"
        );
        let (_, f) = p.pump(vec![], outs);
        let s = sends(&f);
        assert_eq!(s.len(), 2);
        assert_eq!((err_of(&s[0].1), err_of(&s[1].1)), (0, 0));
        assert_eq!(
            p.learner.tree.get("/f").unwrap().stat.ephemeral_owner,
            session
        );
        assert_eq!(
            p.leader.tree.get("/f").unwrap().stat.ephemeral_owner,
            session
        );
        // A failing write comes back as an error txn.
        let req = Request::read(op::CREATE, &create_body("/f", 0)).unwrap();
        let outs = p
            .learner
            .request_with_body(7, 3, op::CREATE, req, create_body("/f", 0), 0);
        let (_, f) = p.pump(vec![], outs);
        assert_eq!(err_of(&sends(&f)[0].1), Code::NodeExists.as_i32());
        // sync, then close: the session goes everywhere.
        let outs = p
            .learner
            .request(7, 4, op::SYNC, Request::Sync { path: "/".into() }, 0);
        let (_, f) = p.pump(vec![], outs);
        assert_eq!(sends(&f).len(), 1);
        let outs = p.learner.request_with_body(
            7,
            5,
            op::CLOSE_SESSION,
            Request::CloseSession,
            Bytes::new(),
            0,
        );
        let (_, f) = p.pump(vec![], outs);
        assert!(f.contains(&Out::Close(7)));
        assert!(p.learner.tree.get("/f").is_none());
        assert!(!p.leader.tree.has_session(session));
    }

    /// A learner may answer a write before the leader counts its quorum: a sync at the
    /// leader waits for everything proposed before it, so the reads after it see the write.
    #[test]
    fn a_sync_at_the_leader_waits_for_what_was_proposed() {
        let mut p = Pair::new();
        // Server 2, so that its sessions' ids differ from the leader's.
        p.learner = engine_of(2);
        p.learner.set_role(Role::Learner);
        p.leader.connected(3, "127.0.0.1", 0);
        let outs = p.leader.connect(3, &connect_req(), 0);
        p.pump(outs, vec![]);
        p.learner.connected(7, "127.0.0.1", 0);
        let outs = p.learner.connect(7, &connect_req(), 0);
        p.pump(vec![], outs);
        let sync = || Request::Sync { path: "/".into() };
        // Nothing outstanding: answered at once.
        let outs = p.leader.request(3, 1, op::SYNC, sync(), 0);
        assert_eq!(sends(&outs).len(), 1, "{outs:?}");
        // A learner's client writes; the leader has proposed it, not committed it.
        let session = p.learner.conns[&7].session;
        let req = Request::read(op::CREATE, &create_body("/w", 0)).unwrap();
        let outs =
            p.learner
                .request_with_body(7, 1, op::CREATE, req.clone(), create_body("/w", 0), 0);
        assert!(outs
            .iter()
            .any(|o| matches!(o, Out::Forward(Forward::Request { .. }))));
        let outs = p
            .leader
            .remote_request(2, session, 1, req, &AuthInfo::default(), 0);
        let zxid = outs
            .iter()
            .find_map(|o| match o {
                Out::Persist(t) => Some(t.zxid),
                _ => None,
            })
            .expect("proposed");
        let outs = p.leader.request(3, 2, op::SYNC, sync(), 0);
        assert!(sends(&outs).is_empty(), "{outs:?}");
        // A read after the sync waits behind it too.
        let read = Request::read(op::EXISTS, &{
            let mut w = Vec::new();
            w.put_str("/w");
            w.put_bool(false);
            w
        })
        .unwrap();
        assert!(sends(&p.leader.request(3, 3, op::EXISTS, read, 0)).is_empty());
        let outs = p.leader.durable(zxid, 0);
        let answers: Vec<i32> = sends(&outs)
            .iter()
            .filter(|(c, _)| *c == 3)
            .map(|(_, f)| err_of(f))
            .collect();
        assert_eq!(answers, vec![0, 0], "sync, then the read that finds /w");
    }

    #[test]
    fn leader_expiry_closes_the_learners_connection_and_resume_revalidates() {
        let mut p = Pair::new();
        p.learner.connected(7, "127.0.0.1", 0);
        let outs = p.learner.connect(7, &connect_req(), 0);
        p.pump(vec![], outs);
        let session = p.learner.conns[&7].session;
        // The client moves to another connection on the learner: the leader vouches for it.
        p.learner.connected(8, "127.0.0.1", 0);
        let resume = ConnectRequest {
            session_id: session,
            passwd: session_password(session).to_vec(),
            ..connect_req()
        };
        let outs = p.learner.connect(8, &resume, 0);
        assert!(outs.contains(&Out::Close(7)));
        let (_, f) = p.pump(vec![], outs);
        assert!(f.contains(&Out::Session(8, session)));
        // The leader expires it: the learner closes the connection when it applies that.
        let outs = p.leader.expire(&[session], 0);
        let (_, f) = p.pump(outs, vec![]);
        assert!(f.contains(&Out::Close(8)), "{f:?}");
        // Resuming an expired session is refused.
        p.learner.connected(9, "127.0.0.1", 0);
        let outs = p.learner.connect(9, &resume, 0);
        let (_, f) = p.pump(vec![], outs);
        assert!(f.contains(&Out::Close(9)));
        assert_eq!(&sends(&f)[0].1[8..12], &[0, 0, 0, 0]);
    }

    #[test]
    fn watches_fire_on_every_server() {
        let mut p = Pair::new();
        p.leader.connected(1, "127.0.0.1", 0);
        let outs = p.leader.connect(1, &connect_req(), 0);
        p.pump(outs, vec![]);
        p.leader.request(
            1,
            1,
            op::EXISTS,
            Request::Exists {
                path: "/w".into(),
                watch: true,
            },
            0,
        );
        p.learner.connected(7, "127.0.0.1", 0);
        let outs = p.learner.connect(7, &connect_req(), 0);
        p.pump(vec![], outs);
        p.learner.request(
            7,
            1,
            op::EXISTS,
            Request::Exists {
                path: "/w".into(),
                watch: true,
            },
            0,
        );
        let req = Request::read(op::CREATE, &create_body("/w", 0)).unwrap();
        let outs = p
            .learner
            .request_with_body(7, 2, op::CREATE, req, create_body("/w", 0), 0);
        let (l, f) = p.pump(vec![], outs);
        let note = |v: &[Out], conn| {
            sends(v)
                .iter()
                .any(|(c, b)| *c == conn && Reader::new(&b[4..8]).i32().unwrap() == -1)
        };
        assert!(note(&l, 1), "the leader's client hears of it");
        assert!(
            note(&f, 7),
            "the learner's client hears of it, before its reply"
        );
        assert_eq!(Reader::new(&sends(&f)[0].1[4..8]).i32().unwrap(), -1);
    }

    #[test]
    fn a_moved_session_fences_its_old_connection() {
        let mut p = Pair::new();
        p.learner.connected(7, "127.0.0.1", 0);
        let outs = p.learner.connect(7, &connect_req(), 0);
        p.pump(vec![], outs);
        let session = p.learner.conns[&7].session;
        // The client moves to the leader; its old connection to the learner lingers.
        p.leader.connected(1, "127.0.0.1", 0);
        let resume = ConnectRequest {
            session_id: session,
            passwd: session_password(session).to_vec(),
            ..connect_req()
        };
        let outs = p.leader.connect(1, &resume, 0);
        assert!(outs.contains(&Out::Session(1, session)));
        // A write through the old connection is refused: the connection closes, unanswered.
        let req = Request::read(op::CREATE, &create_body("/stale", 0)).unwrap();
        let outs = p
            .learner
            .request_with_body(7, 9, op::CREATE, req, create_body("/stale", 0), 0);
        let (_, f) = p.pump(vec![], outs);
        assert!(f.contains(&Out::Close(7)), "{f:?}");
        assert!(
            sends(&f).iter().all(|(c, _)| *c != 7),
            "no reply on the stale connection"
        );
        assert!(p.leader.tree.get("/stale").is_none());
        // The new connection works.
        let req = Request::read(op::CREATE, &create_body("/fresh", 0)).unwrap();
        let outs = p
            .leader
            .request_with_body(1, 1, op::CREATE, req, create_body("/fresh", 0), 0);
        let (l, _) = p.pump(outs, vec![]);
        assert_eq!(err_of(&sends(&l)[0].1), 0);
    }
}
