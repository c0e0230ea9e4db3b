//! Between learners and their leader: at the leader, forwarded writes and sessions, revalidation
//! and syncs; on a learner, committed txns, the leader's answers, and syncs held until done.

use super::replies::reply;
use super::Latency;
use super::{Engine, Origin, Out, Queued, CREATE_SESSION_CXID};
use crate::codec::jute::{op, JuteWrite, Request};
use crate::datatree::acl::AuthInfo;
use crate::datatree::watch::ConnId;
use crate::datatree::{Caller, OpResult, Prep, Txn, TxnOp};
use crate::error::Code;

impl Engine {
    /// Learner: a txn the leader committed. Apply it, and answer the local client that asked
    /// for it, if any.
    pub fn committed(&mut self, txn: &Txn, now: i64) -> Vec<Out> {
        let mut outs = Vec::new();
        if txn.zxid <= self.tree.last_zxid {
            return outs;
        }
        let (result, triggers) = self.tree.apply(txn);
        self.remember(txn);
        self.latencies
            .propagation
            .add((now - txn.time).max(0) as u64);
        self.deliver(&triggers, &mut outs);
        let key = match *txn.op {
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
            op: op.into(),
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
            op: TxnOp::CreateSession { timeout }.into(),
        };
        self.propose(txn, Origin::Remote, &mut outs);
        outs
    }

    /// Leader: whether a session is alive (a client resumes it on a learner).
    pub fn revalidate(&mut self, server: u64, session: i64) -> bool {
        crate::metrics::SERVER.revalidate_count.inc();
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
    pub(super) fn hold_sync(&mut self, conn: ConnId, session: i64, xid: i32, path: &str, now: i64) {
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
        self.send_reply(conn, r, arrived, now, Latency::Update, &mut outs);
        self.write_done(conn, tag, now, &mut outs);
        outs
    }
}
