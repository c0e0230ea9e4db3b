//! Writes after their prep: proposals, txns made durable (applied, watches fired, answered) or
//! failed, and the reaping of containers and TTL nodes.

use super::replies::{encode_multi, encode_write_result, notification, reply};
use super::Latency;
use super::{Engine, Origin, Out, PendingTxn, Role, RECENT_TXNS};
use crate::datatree::{OpResult, Prep, Trigger, Txn, TxnOp};
use crate::error::Code;

impl Engine {
    pub(super) fn assign(&mut self) -> i64 {
        self.last_assigned += 1;
        self.last_assigned
    }

    pub(super) fn propose(&mut self, txn: Txn, origin: Origin, outs: &mut Vec<Out>) {
        outs.push(Out::Persist(txn.clone()));
        self.pending.push_back(PendingTxn { txn, origin });
    }

    pub(super) fn remember(&mut self, txn: &Txn) {
        self.applied += 1;
        self.recent.push_back(txn.clone());
        while self.recent.len() > RECENT_TXNS {
            self.recent.pop_front();
        }
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
                    self.send_reply(conn, r, arrived, now, Latency::Update, &mut outs);
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
            // From the proposal (the leader made the txn) to a quorum's ACKs and this apply.
            let took = (now - p.txn.time).max(0) as u64;
            self.latencies.quorum_ack.add(took);
            self.latencies.propagation.add(took);
            crate::metrics::SERVER.commit_count.inc();
        }
        self.outstanding.applied(p.txn.zxid);
        self.deliver(&triggers, outs);
        self.settle(&p.txn, p.origin, &result, now, outs);
    }

    /// After a txn is applied: answer whoever asked for it here, and follow session changes.
    pub(super) fn settle(
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
                self.send_reply(conn, r, arrived, now, Latency::Update, outs);
                if !matches!(*txn.op, TxnOp::CloseSession) {
                    self.write_done(conn, zxid, now, outs);
                }
            }
            Origin::Connect { conn, read_only } => {
                let id = txn.session;
                let timeout = match *txn.op {
                    TxnOp::CreateSession { timeout } => timeout,
                    _ => 0,
                };
                self.established(conn, id, timeout, read_only, outs);
                self.write_done(conn, zxid, now, outs);
            }
            Origin::Expire | Origin::Remote | Origin::Internal => {}
        }
        match *txn.op {
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

    pub(super) fn deliver(&mut self, triggers: &[Trigger], outs: &mut Vec<Out>) {
        if triggers.is_empty() {
            return;
        }
        for d in self.watches.fire(triggers) {
            self.send(d.conn, notification(d.event, &d.path), outs);
        }
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
                    op: op.into(),
                };
                self.propose(txn, Origin::Internal, &mut outs);
            }
        }
        outs
    }
}
