//! Reads: run at once, or queued behind the connection's own outstanding writes and run when
//! the write before them is answered.

use super::replies::{notification, reply, write_stat};
use super::Latency;
use super::{Engine, Out, Queued};
use crate::codec::jute::{
    event, op, perms, write_acls, write_multi_header, JuteWrite, ReadOp, Request, SetWatches,
};
use crate::datatree::acl::{self, AuthInfo};
use crate::datatree::watch::ConnId;
use crate::error::Code;
use bytes::Bytes;

impl Engine {
    /// The write at `zxid` of a connection is answered: run the reads queued behind it.
    pub(super) fn write_done(&mut self, conn: ConnId, zxid: i64, now: i64, outs: &mut Vec<Out>) {
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

    /// A read runs now, unless earlier writes of the same connection are still outstanding.
    pub(super) fn enqueue_read(
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
                self.send_reply(conn, r, arrived, now, Latency::Read, outs);
                outs.push(Out::Close(conn));
            }
            Request::Unsupported(op::SASL) => {
                // As ZooKeeper without SASL configured: an empty answer, the session goes on.
                tracing::warn!("SASL authentication requested, but SASL is not configured");
                let r = reply(xid, 0, 0, |w| w.put_buffer(None));
                self.send_reply(conn, r, arrived, now, Latency::Read, outs);
            }
            Request::Unsupported(_) => {
                let r = reply(xid, -1, Code::Unimplemented.as_i32(), |_| {});
                self.send_reply(conn, r, arrived, now, Latency::Read, outs);
                outs.push(Out::Close(conn));
            }
            // The reply echoes the request's xid (-4 from most clients, not all).
            Request::Auth { .. } => {
                let r = reply(xid, 0, 0, |_| {});
                self.send_reply(conn, r, arrived, now, Latency::Read, outs);
            }
            Request::Malformed(_) => {
                let r = reply(xid, last, Code::MarshallingError.as_i32(), |_| {});
                self.send_reply(conn, r, arrived, now, Latency::Read, outs);
            }
            Request::SetWatches(sw) => {
                self.set_watches(conn, &sw, outs);
                let r = reply(xid, last, 0, |_| {});
                self.send_reply(conn, r, arrived, now, Latency::Read, outs);
            }
            other => {
                let session = self.conns.get(&conn).map_or(0, |c| c.session);
                let auth = self
                    .conns
                    .get(&conn)
                    .map(|c| c.auth.clone())
                    .unwrap_or_default();
                let r = self.read(conn, session, &auth, xid, other);
                self.send_reply(conn, r, arrived, now, Latency::Read, outs);
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
}
