//! The standalone request engine: a pure machine between decoded client requests and encoded
//! replies. It validates and applies writes to the tree at once (so later requests see them), but
//! every output is released strictly in arrival order and only once every txn before it is
//! durable, so no client ever sees a write that a crash could lose. The DataTreeActor feeds it
//! events and carries out the `Out` actions it returns.

use crate::codec::jute::frame::{finish_frame, start_frame};
use crate::codec::jute::{
    event, op, perms, write_acls, write_multi_header, write_reply_header, write_watcher_event, xid,
    is_write_opcode, ConnectRequest, ConnectResponse, JuteWrite, ReadOp, Request, SetWatches, Stat,
};
use crate::datatree::acl::{self, AuthInfo};
use crate::datatree::watch::{ConnId, WatchManager};
use crate::datatree::{Caller, DataTree, OpResult, TreeConfig, Trigger, Txn, TxnOp};
use crate::error::Code;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};

/// What the engine asks its shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// Write an encoded frame to a connection.
    Send(ConnId, Bytes),
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
}

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

struct Pending {
    needed: i64,
    out: Out,
    /// For replies: (connection, arrival time, opcode) to account latency on release.
    reply: Option<(ConnId, i64)>,
}

pub struct Engine {
    pub tree: DataTree,
    pub watches: WatchManager,
    pub conns: HashMap<ConnId, ConnState>,
    owner: HashMap<i64, ConnId>,
    cfg: EngineConfig,
    next_session: i64,
    durable: i64,
    queue: VecDeque<Pending>,
    pub stats: Stats,
}

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
        let sid = if cfg.server_id == 0 { 1 } else { cfg.server_id as i64 };
        let next_session = (sid << 56) | base;
        let durable = tree.last_zxid;
        Engine {
            tree,
            watches: WatchManager::default(),
            conns: HashMap::new(),
            owner: HashMap::new(),
            cfg,
            next_session,
            durable,
            queue: VecDeque::new(),
            stats: Stats::new(),
        }
    }

    pub fn last_zxid(&self) -> i64 {
        self.tree.last_zxid
    }

    pub fn outstanding(&self) -> usize {
        self.queue.len()
    }

    fn next_zxid(&mut self) -> i64 {
        self.tree.last_zxid + 1
    }

    fn push(&mut self, needed: i64, out: Out, reply: Option<(ConnId, i64)>, outs: &mut Vec<Out>) {
        if let Out::Persist(_) | Out::Track(..) | Out::Untrack(_) = out {
            // Side effects that do not reach a client need no ordering behind durability.
            outs.push(out);
            return;
        }
        self.queue.push_back(Pending { needed, out, reply });
        self.release(outs);
    }

    /// Everything up to `zxid` is on disk: release the outputs that waited for it.
    pub fn durable(&mut self, zxid: i64, now: i64) -> Vec<Out> {
        self.durable = self.durable.max(zxid);
        let mut outs = Vec::new();
        self.release_at(&mut outs, now);
        outs
    }

    fn release(&mut self, outs: &mut Vec<Out>) {
        self.release_at(outs, -1)
    }

    fn release_at(&mut self, outs: &mut Vec<Out>, now: i64) {
        while let Some(p) = self.queue.front() {
            if p.needed > self.durable {
                break;
            }
            let Some(p) = self.queue.pop_front() else { break };
            if let Out::Send(_, b) = &p.out {
                self.stats.sent += 1;
                if p.reply.is_some() {
                    let n = b.len() as i64 - 4;
                    let s = &mut self.stats;
                    s.last_response_size = n;
                    s.min_response_size = if s.min_response_size < 0 { n } else { s.min_response_size.min(n) };
                    s.max_response_size = s.max_response_size.max(n);
                }
            }
            if let Some((conn, arrived)) = p.reply {
                let at = if now >= 0 { now } else { arrived };
                let lat = (at - arrived).max(0);
                let s = &mut self.stats;
                if s.count == 0 || lat < s.min_latency {
                    s.min_latency = lat;
                }
                s.max_latency = s.max_latency.max(lat);
                s.total_latency += lat;
                s.count += 1;
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.sent += 1;
                    c.outstanding = c.outstanding.saturating_sub(1);
                    c.last_response = at;
                    c.last_latency = lat;
                    if c.count == 0 || lat < c.min_latency {
                        c.min_latency = lat;
                    }
                    c.max_latency = c.max_latency.max(lat);
                    c.total_latency += lat;
                    c.count += 1;
                }
            }
            outs.push(p.out);
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
        (requested.max(0) as u64).clamp(self.cfg.min_session_timeout, self.cfg.max_session_timeout) as i32
    }

    /// The first request of a connection. Returns None if the connection must be closed at once
    /// without an answer (client ahead of this server).
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
        let last = self.tree.last_zxid;
        if req.session_id == 0 {
            let id = self.next_session;
            self.next_session += 1;
            let zxid = self.next_zxid();
            let txn = Txn {
                session: id,
                cxid: 0,
                zxid,
                time: now,
                op: TxnOp::CreateSession { timeout },
            };
            self.tree.apply(&txn);
            self.owner.insert(id, conn);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.session = id;
                c.timeout = timeout;
                c.read_only = req.read_only;
                c.last_op = "SESS";
            }
            outs.push(Out::Persist(txn));
            outs.push(Out::Track(id, timeout as u64));
            let resp = ConnectResponse {
                timeout,
                session_id: id,
                passwd: session_password(id),
                read_only: req.read_only.map(|_| false),
            };
            let mut w = start_frame();
            resp.write(&mut w);
            self.push(zxid, Out::Session(conn, id), None, &mut outs);
            self.push(zxid, Out::Send(conn, finish_frame(w)), None, &mut outs);
            return outs;
        }
        let id = req.session_id;
        // As ZooKeeper does, a reconnect first closes the session's other connection on this
        // server, whether or not the password then proves right.
        if let Some(old) = self.owner.remove(&id) {
            if old != conn {
                self.watches.remove_conn(old);
                if let Some(c) = self.conns.get_mut(&old) {
                    c.session = 0;
                }
                self.push(last, Out::Close(old), None, &mut outs);
            }
        }
        let valid = req.passwd.as_slice() == session_password(id) && self.tree.has_session(id);
        if !valid {
            tracing::info!("invalid session 0x{id:x} for client, probably expired");
            let mut w = start_frame();
            ConnectResponse::expired(req.read_only).write(&mut w);
            self.push(last, Out::Send(conn, finish_frame(w)), None, &mut outs);
            self.push(last, Out::Close(conn), None, &mut outs);
            return outs;
        }
        self.owner.insert(id, conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session = id;
            c.timeout = timeout;
            c.read_only = req.read_only;
            c.last_op = "SESS";
        }
        outs.push(Out::Track(id, timeout as u64));
        let resp = ConnectResponse {
            timeout,
            session_id: id,
            passwd: session_password(id),
            read_only: req.read_only.map(|_| false),
        };
        let mut w = start_frame();
        resp.write(&mut w);
        self.push(last, Out::Session(conn, id), None, &mut outs);
        self.push(last, Out::Send(conn, finish_frame(w)), None, &mut outs);
        outs
    }

    fn deliver(&mut self, triggers: &[Trigger], needed: i64, outs: &mut Vec<Out>) {
        if triggers.is_empty() {
            return;
        }
        for d in self.watches.fire(triggers) {
            self.push(needed, Out::Send(d.conn, notification(d.event, &d.path)), None, outs);
        }
    }

    /// Sessions whose time ran out: close them as ZooKeeper does, with a closeSession txn.
    pub fn expire(&mut self, sessions: &[i64], now: i64) -> Vec<Out> {
        let mut outs = Vec::new();
        for &id in sessions {
            outs.push(Out::Untrack(id));
            if !self.tree.has_session(id) {
                continue;
            }
            tracing::info!("expiring session 0x{id:x}");
            let zxid = self.close_session_txn(id, 0, now, &mut outs);
            if let Some(conn) = self.owner.remove(&id) {
                self.push(zxid, Out::Close(conn), None, &mut outs);
            }
        }
        outs
    }

    fn close_session_txn(&mut self, id: i64, cxid: i32, now: i64, outs: &mut Vec<Out>) -> i64 {
        let zxid = self.next_zxid();
        let txn = Txn {
            session: id,
            cxid,
            zxid,
            time: now,
            op: TxnOp::CloseSession,
        };
        let (_, triggers) = self.tree.apply(&txn);
        outs.push(Out::Persist(txn));
        self.deliver(&triggers, zxid, outs);
        zxid
    }

    /// Delete empty containers and expired TTL nodes (ContainerManager).
    pub fn reap(&mut self, now: i64) -> Vec<Out> {
        let mut outs = Vec::new();
        for p in self.tree.reapable(now) {
            if let Some(op) = self.tree.prep_reap(&p, now) {
                let zxid = self.next_zxid();
                let txn = Txn {
                    session: 0,
                    cxid: 0,
                    zxid,
                    time: now,
                    op,
                };
                let (_, triggers) = self.tree.apply(&txn);
                outs.push(Out::Persist(txn));
                self.deliver(&triggers, zxid, &mut outs);
            }
        }
        outs
    }

    /// One decoded request from a connection that has a session.
    pub fn request(&mut self, conn: ConnId, xid: i32, opcode: i32, req: Request, now: i64) -> Vec<Out> {
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
        let arrived = Some((conn, now));
        if session == 0 || !self.tree.has_session(session) {
            let r = reply(xid, self.tree.last_zxid, Code::SessionExpired.as_i32(), |_| {});
            let last = self.tree.last_zxid;
            self.push(last, Out::Send(conn, r), arrived, &mut outs);
            self.push(last, Out::Close(conn), None, &mut outs);
            return outs;
        }
        let auth = self.conns[&conn].auth.clone();
        match req {
            Request::Write(w) => {
                let zxid = self.next_zxid();
                let caller = Caller { session, auth: &auth };
                let (txn, result, triggers) = self.tree.execute_write(&w, &caller, zxid, xid, now);
                outs.push(Out::Persist(txn));
                self.deliver(&triggers, zxid, &mut outs);
                let r = encode_write_result(xid, zxid, opcode, &result);
                self.set_last_zxid(conn, zxid);
                self.push(zxid, Out::Send(conn, r), arrived, &mut outs);
            }
            Request::Multi(ops) => {
                let zxid = self.next_zxid();
                let caller = Caller { session, auth: &auth };
                let (txn, result, triggers) = self.tree.execute_multi(&ops, &caller, zxid, xid, now);
                outs.push(Out::Persist(txn));
                self.deliver(&triggers, zxid, &mut outs);
                let r = reply(xid, zxid, 0, |w| encode_multi(w, &result));
                self.set_last_zxid(conn, zxid);
                self.push(zxid, Out::Send(conn, r), arrived, &mut outs);
            }
            Request::CloseSession => {
                let zxid = self.close_session_txn(session, xid, now, &mut outs);
                outs.push(Out::Untrack(session));
                self.owner.remove(&session);
                let r = reply(xid, zxid, 0, |_| {});
                self.push(zxid, Out::Send(conn, r), arrived, &mut outs);
                self.push(zxid, Out::Close(conn), None, &mut outs);
            }
            Request::Auth { scheme, auth: data } => {
                let last = self.tree.last_zxid;
                let res = self
                    .conns
                    .get_mut(&conn)
                    .map(|c| c.auth.add(&scheme, &data, &self.cfg.super_digest))
                    .unwrap_or(Ok(()));
                match res {
                    // The reply echoes the request's xid (-4 from most clients, not all).
                    Ok(()) => {
                        let r = reply(xid, 0, 0, |_| {});
                        self.push(last, Out::Send(conn, r), arrived, &mut outs);
                    }
                    Err(code) => {
                        self.stats.auth_failed += 1;
                        tracing::info!("authentication with unknown scheme `{scheme}` failed; closing the connection");
                        let r = reply(xid, 0, code.as_i32(), |_| {});
                        self.push(last, Out::Send(conn, r), arrived, &mut outs);
                        self.push(last, Out::Close(conn), None, &mut outs);
                    }
                }
            }
            Request::SetWatches(sw) => {
                let last = self.tree.last_zxid;
                self.set_watches(conn, &sw, &mut outs);
                let r = reply(xid, last, 0, |_| {});
                self.push(last, Out::Send(conn, r), arrived, &mut outs);
            }
            Request::Malformed(code) if is_write_opcode(code) => {
                self.error_txn(conn, session, xid, Code::MarshallingError, now, arrived, &mut outs);
            }
            Request::Malformed(_) => {
                let last = self.tree.last_zxid;
                let r = reply(xid, last, Code::MarshallingError.as_i32(), |_| {});
                self.push(last, Out::Send(conn, r), arrived, &mut outs);
            }
            Request::Unsupported(code) => {
                let last = self.tree.last_zxid;
                if code == op::RECONFIG {
                    // A refused reconfig is still a write: it becomes an error txn with a zxid.
                    self.error_txn(conn, session, xid, Code::ReconfigDisabled, now, arrived, &mut outs);
                } else {
                    tracing::info!("unsupported opcode {code} from {}; closing the connection", self.conns[&conn].addr);
                    // ZooKeeper answers an unknown opcode with zxid -1.
                    let r = reply(xid, -1, Code::Unimplemented.as_i32(), |_| {});
                    self.push(last, Out::Send(conn, r), arrived, &mut outs);
                    self.push(last, Out::Close(conn), None, &mut outs);
                }
            }
            read => {
                let last = self.tree.last_zxid;
                let r = self.read(conn, session, &auth, xid, read);
                self.push(last, Out::Send(conn, r), arrived, &mut outs);
            }
        }
        outs
    }

    /// A write refused before it reached the tree still takes a zxid, as in ZooKeeper.
    #[allow(clippy::too_many_arguments)]
    fn error_txn(
        &mut self,
        conn: ConnId,
        session: i64,
        xid: i32,
        code: Code,
        now: i64,
        arrived: Option<(ConnId, i64)>,
        outs: &mut Vec<Out>,
    ) {
        let zxid = self.next_zxid();
        let txn = Txn {
            session,
            cxid: xid,
            zxid,
            time: now,
            op: TxnOp::Error { err: code.as_i32() },
        };
        self.tree.apply(&txn);
        outs.push(Out::Persist(txn));
        let r = reply(xid, zxid, code.as_i32(), |_| {});
        self.push(zxid, Out::Send(conn, r), arrived, outs);
    }

    fn set_last_zxid(&mut self, conn: ConnId, zxid: i64) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_zxid = zxid;
        }
    }

    fn set_watches(&mut self, conn: ConnId, sw: &SetWatches, outs: &mut Vec<Out>) {
        let rel = sw.relative_zxid;
        let last = self.tree.last_zxid;
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
                Some(n) if n.stat.pzxid > rel => events.push((event::NODE_CHILDREN_CHANGED, p.clone())),
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
            self.push(last, Out::Send(conn, notification(ev, &p)), None, outs);
        }
    }

    fn read(&mut self, conn: ConnId, session: i64, auth: &AuthInfo, xid: i32, req: Request) -> Bytes {
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
            Request::GetChildren { path, watch, with_stat } => match self.tree.get(&path) {
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
                Some(n) if !acl::check(&n.acl, perms::READ | perms::ADMIN, auth) => err(Code::NoAuth),
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
            Request::CheckWatches { kind, .. } | Request::RemoveWatches { kind, .. } if !(1..=5).contains(&kind) => {
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
        OpResult::SetData { stat } | OpResult::SetAcl { stat } => reply(xid, zxid, 0, |w| write_stat(w, stat)),
        _ => reply(xid, zxid, 0, |_| {}),
    }
}

fn encode_multi(w: &mut Vec<u8>, r: &OpResult) {
    if let OpResult::Multi(rs) = r {
        for r in rs {
            match r {
                OpResult::Created { path, stat, opcode } => {
                    // Inside a multi the result follows the node's kind: containers and TTL
                    // nodes answer as create2, every other create as create (path only).
                    if *opcode != op::CREATE_CONTAINER && *opcode != op::CREATE_TTL {
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
        Engine::new(
            EngineConfig {
                server_id: 0,
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
        let z = e.last_zxid();
        e.durable(z, 0);
        match &outs[1] {
            Out::Track(id, 4000) => *id,
            o => panic!("{o:?}"),
        }
    }

    fn sends(outs: &[Out]) -> Vec<(ConnId, Vec<u8>)> {
        outs.iter()
            .filter_map(|o| match o {
                Out::Send(c, b) => Some((*c, b.to_vec())),
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
    fn replies_wait_for_durability_in_order() {
        let mut e = engine();
        connect(&mut e, 1);
        connect(&mut e, 2);
        let outs = e.request(1, 1, op::CREATE, create("/a"), 0);
        assert!(sends(&outs).is_empty());
        let z = e.last_zxid();
        // A read by another session arrives after the write: it waits too.
        let outs = e.request(2, 1, op::EXISTS, Request::Exists { path: "/a".into(), watch: false }, 0);
        assert!(sends(&outs).is_empty());
        let outs = e.durable(z, 1);
        let s = sends(&outs);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].0, 1);
        assert_eq!(s[1].0, 2);
        let mut r = Reader::new(&s[1].1[4..]);
        assert_eq!(r.i32().unwrap(), 1);
        assert_eq!(r.i64().unwrap(), z);
        assert_eq!(r.i32().unwrap(), 0);
    }

    #[test]
    fn watch_event_precedes_reply() {
        let mut e = engine();
        connect(&mut e, 1);
        let outs = e.request(1, 1, op::EXISTS, Request::Exists { path: "/w".into(), watch: true }, 0);
        assert_eq!(sends(&outs).len(), 1);
        e.request(1, 2, op::CREATE, create("/w"), 0);
        let z = e.last_zxid();
        let s = sends(&e.durable(z, 0));
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
        let bad = ConnectRequest { passwd: vec![1; 16], ..req.clone() };
        let outs = e.connect(3, &bad, 0);
        let s = sends(&outs);
        assert_eq!(&s[0].1[4..12], &[0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(outs.contains(&Out::Close(3)));
        let ahead = ConnectRequest { last_zxid_seen: 99, ..req };
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
        assert!(outs.iter().any(|o| matches!(o, Out::Persist(t) if t.op == TxnOp::CloseSession)));
        assert!(e.tree.get("/eph").is_none());
        let z = e.last_zxid();
        assert!(e.durable(z, 10).contains(&Out::Close(1)));
    }
}
