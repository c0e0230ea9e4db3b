//! A client's request on its way in: session checks, forwarding on a learner, syncs held behind
//! proposals, then write prep and a proposal, or a read in its turn.

use super::replies::reply;
use super::Latency;
use super::{Engine, Forward, Origin, Out, Queued, Role};
use crate::codec::jute::{is_write_opcode, op, Request};
use crate::datatree::watch::ConnId;
use crate::datatree::{Caller, Prep, Txn, TxnOp};
use crate::error::Code;
use bytes::Bytes;

impl Engine {
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
            self.send_reply(conn, r, now, now, Latency::Update, &mut outs);
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
                op: op.into(),
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
}
