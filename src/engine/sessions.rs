//! Sessions: a connection's first request (a new session, or one resumed), expiry.

use super::{Engine, Forward, Origin, Out, Queued, Role, CREATE_SESSION_CXID};
use crate::codec::jute::frame::{finish_frame, start_frame};
use crate::codec::jute::{ConnectRequest, ConnectResponse};
use crate::datatree::watch::ConnId;
use crate::datatree::{Prep, Txn, TxnOp};

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

impl Engine {
    /// The connection now holds `session`: tell the shell, then send the connect response.
    pub(super) fn established(
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
    pub(super) fn refuse_session(
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
                op: TxnOp::CreateSession { timeout }.into(),
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

    /// Sessions whose time ran out: close them as ZooKeeper does, with a closeSession txn.
    pub fn expire(&mut self, sessions: &[i64], now: i64) -> Vec<Out> {
        let mut outs = Vec::new();
        for &id in sessions {
            if !self.outstanding.session_alive(&self.tree, id) {
                outs.push(Out::Untrack(id));
                continue;
            }
            tracing::info!("expiring session 0x{id:x}");
            crate::metrics::SERVER.sessions_expired.inc();
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
                op: TxnOp::CloseSession.into(),
            };
            self.propose(txn, Origin::Expire, &mut outs);
        }
        outs
    }

    /// Sessions currently owned by a connection of this server: (session, timeout).
    pub fn session_timeouts(&self) -> Vec<(i64, i32)> {
        let mut v: Vec<(i64, i32)> = self.tree.sessions().iter().map(|(k, v)| (*k, *v)).collect();
        v.sort();
        v
    }
}
