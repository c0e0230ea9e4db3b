//! The standalone request engine: a pure machine between decoded client requests and encoded
//! replies. It validates and applies writes to the tree at once (so later requests see them), but
//! every output is released strictly in arrival order and only once every txn before it is
//! durable, so no client ever sees a write that a crash could lose. The DataTreeActor feeds it
//! events and carries out the `Out` actions it returns.
//!
//! Files:
//! - `mod.rs`      `Engine`, its outputs (`Out`, `Forward`), `Role`, config, txn origins
//! - `conns`       connections and their counters (`ConnState`, `Stats`), sending and accounting
//! - `sessions`    connect, resume, expiry of sessions; the session password
//! - `requests`    a client request's way in: session checks, forwarding, write prep or a read
//! - `reads`       reads, in their turn behind the connection's outstanding writes
//! - `writes`      proposals, durable and failed txns, applying them and answering for them
//! - `learner`     between learners and the leader: forwarded writes, revalidation, syncs, commits
//! - `replies`     encoding of reply frames and watch notifications

mod conns;
mod learner;
mod reads;
mod replies;
mod requests;
mod sessions;
mod writes;

pub use conns::{ConnState, Latencies, Latency, Stats};
pub use sessions::session_password;

use crate::codec::jute::Request;
use crate::datatree::acl::AuthInfo;
use crate::datatree::watch::{ConnId, WatchManager};
use crate::datatree::{DataTree, Outstanding, TreeConfig, Txn};
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
    /// Read and update latencies on their way to the shared figures.
    pub latencies: Latencies,
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
pub const RECENT_TXNS: usize = crate::proto::zab::sync::DIFF_WINDOW;

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
            latencies: Latencies::new(),
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
}

#[cfg(test)]
mod tests;
