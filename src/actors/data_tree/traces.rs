//! The root span of a sampled client write, on the server the client is connected to: from
//! the request's arrival to its reply, with the write's zxid and result. Its context goes to
//! the leader in the forwarded REQUEST (learner) or along with the proposal (leader); a
//! standalone server adds its own `log append + fsync` span.
//!
//! Only sampled writes are held, so every hook is one `is_empty` check when none is.

use crate::codec::jute::{op, Request, WriteOp};
use crate::datatree::watch::ConnId;
use crate::datatree::Txn;
use crate::engine::Out;
use crate::telemetry::{self, session_attr, zxid_attr, Parent, Span};
use opentelemetry::trace::{Span as _, SpanKind, Status};
use opentelemetry::KeyValue;
use std::collections::HashMap;
use std::time::Instant;

/// At most this many client writes traced at once on a server; more are not traced.
const MAX_TRACED: usize = 4096;
/// A traced write with no reply after this long is ended as such (its connection went).
const TTL_SECS: u64 = 60;

struct Root {
    session: i64,
    span: Span,
    zxid: Option<i64>,
    /// Standalone: the log append + fsync of its txn.
    log: Option<Span>,
    at: Instant,
}

/// Keyed by connection and xid (the reply names them); `by_session` finds the same write by
/// session and cxid (the txn and the forwarded request name those).
#[derive(Default)]
pub(super) struct Roots {
    items: HashMap<(ConnId, i32), Root>,
    by_session: HashMap<(i64, i32), ConnId>,
}

impl Roots {
    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// A client request arrived: trace it if it is a write and the sampler says so.
    pub(super) fn arrive(
        &mut self,
        conn: ConnId,
        xid: i32,
        req: &Request,
        session: i64,
        peer: Option<&str>,
    ) {
        let (name, path, ops) = match req {
            Request::Write(w) => (write_name(w), w.path(), 1),
            Request::Multi(ws) => ("multi", ws.first().map_or("", |w| w.path()), ws.len()),
            _ => return,
        };
        if self.items.len() >= MAX_TRACED || !telemetry::sample_write() {
            return;
        }
        let mut attrs = vec![
            KeyValue::new("zk.op", name),
            KeyValue::new("zk.path", path.to_string()),
            session_attr(session),
            KeyValue::new("zk.xid", i64::from(xid)),
        ];
        if ops > 1 {
            attrs.push(KeyValue::new("zk.ops", ops as i64));
        }
        if let Some(p) = peer {
            attrs.push(KeyValue::new("client.address", p.to_string()));
        }
        let Some(span) = telemetry::start_span(name, SpanKind::Server, Parent::Root, None, attrs)
        else {
            return;
        };
        if let Some(old) = self.items.insert(
            (conn, xid),
            Root {
                session,
                span,
                zxid: None,
                log: None,
                at: Instant::now(),
            },
        ) {
            // A client reusing an xid still in flight: the earlier one gets no reply of its own.
            end_unanswered(old);
        }
        self.by_session.insert((session, xid), conn);
    }

    fn find(&mut self, session: i64, cxid: i32) -> Option<&mut Root> {
        let conn = self.by_session.get(&(session, cxid))?;
        self.items.get_mut(&(*conn, cxid))
    }

    /// Learner: the write goes to `leader`; the context to send with it.
    pub(super) fn forwarded(&mut self, session: i64, cxid: i32, leader: Option<u64>) -> String {
        let Some(r) = self.find(session, cxid) else {
            return String::new();
        };
        let attrs = leader
            .map(|l| vec![KeyValue::new("keeper.leader", l as i64)])
            .unwrap_or_default();
        r.span.add_event("forwarded to the leader", attrs);
        telemetry::traceparent(&r.span)
    }

    /// Leader: the engine prepared the write as `txn`; the context to propose it with.
    pub(super) fn proposed(&mut self, txn: &Txn) -> Option<String> {
        let r = self.find(txn.session, txn.cxid)?;
        r.zxid = Some(txn.zxid);
        r.span.add_event("prepared", vec![zxid_attr(txn.zxid)]);
        Some(telemetry::traceparent(&r.span))
    }

    /// Standalone: the txn goes to the log.
    pub(super) fn logging(&mut self, txn: &Txn) {
        if let Some(r) = self.find(txn.session, txn.cxid) {
            r.zxid = Some(txn.zxid);
            r.log = telemetry::start_span(
                "log append + fsync",
                SpanKind::Internal,
                Parent::Local(&r.span),
                None,
                vec![zxid_attr(txn.zxid)],
            );
        }
    }

    /// Standalone: everything up to `zxid` is on disk.
    pub(super) fn durable(&mut self, zxid: i64) {
        for r in self.items.values_mut() {
            if r.zxid.is_some_and(|z| z <= zxid) {
                if let Some(mut l) = r.log.take() {
                    l.end();
                }
            }
        }
    }

    /// A reply frame goes to `conn`: the end of the traced write it answers, if any.
    pub(super) fn replied(&mut self, conn: ConnId, frame: &[u8]) {
        // Frame: length, xid, zxid, err.
        let Some(h) = frame.get(4..20) else { return };
        let xid = i32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let Some(mut r) = self.items.remove(&(conn, xid)) else {
            return;
        };
        self.by_session.remove(&(r.session, xid));
        let mut z = [0u8; 8];
        z.copy_from_slice(&h[4..12]);
        let zxid = i64::from_be_bytes(z);
        let err = i32::from_be_bytes([h[12], h[13], h[14], h[15]]);
        if let Some(mut l) = r.log.take() {
            l.end();
        }
        r.span.set_attribute(zxid_attr(zxid));
        r.span
            .set_attribute(KeyValue::new("zk.err", i64::from(err)));
        if err != 0 {
            r.span
                .set_status(Status::error(format!("error code {err}")));
        }
        r.span.end();
    }

    /// Writes whose reply never came (the connection closed, the server changed role).
    pub(super) fn expire(&mut self, all: bool) {
        if self.items.is_empty() {
            return;
        }
        let gone: Vec<(ConnId, i32)> = self
            .items
            .iter()
            .filter(|(_, r)| all || r.at.elapsed().as_secs() >= TTL_SECS)
            .map(|(k, _)| *k)
            .collect();
        for k in gone {
            if let Some(r) = self.items.remove(&k) {
                self.by_session.remove(&(r.session, k.1));
                end_unanswered(r);
            }
        }
    }
}

fn end_unanswered(mut r: Root) {
    if let Some(mut l) = r.log.take() {
        l.end();
    }
    r.span
        .set_status(Status::error("no reply: the connection or the role ended"));
    r.span.end();
}

fn write_name(w: &WriteOp) -> &'static str {
    match w {
        WriteOp::Create(c) => match c.opcode {
            op::CREATE_CONTAINER => "createContainer",
            op::CREATE_TTL => "createTTL",
            _ => "create",
        },
        WriteOp::Delete { .. } => "delete",
        WriteOp::SetData { .. } => "setData",
        WriteOp::SetAcl { .. } => "setACL",
        WriteOp::Check { .. } => "check",
        WriteOp::DeleteContainer { .. } => "deleteContainer",
    }
}

/// A committed txn of a sampled write is applied to the tree: a child of its `propose`
/// (leader) or `proposal` / `inform` (learner) span.
pub(super) fn apply_span(zxid: i64, parent: &str) -> Option<Span> {
    telemetry::start_span(
        "apply + watches",
        SpanKind::Internal,
        Parent::Remote(parent),
        None,
        vec![zxid_attr(zxid)],
    )
}

/// The txn is applied: the watch events it fired (frames of xid -1) and the replies it freed.
pub(super) fn applied(span: Option<Span>, outs: &[Out]) {
    let Some(mut span) = span else { return };
    let (mut watches, mut replies) = (0i64, 0i64);
    for o in outs {
        match o {
            Out::Send(_, b) if b.get(4..8) == Some(&(-1i32).to_be_bytes()[..]) => watches += 1,
            Out::Reply(..) => replies += 1,
            _ => {}
        }
    }
    span.set_attribute(KeyValue::new("zk.watches_fired", watches));
    span.set_attribute(KeyValue::new("keeper.replies", replies));
    span.end();
}
