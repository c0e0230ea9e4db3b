//! The ZAB part of a sampled write's trace, on every server it reaches.
//!
//! Leader: a `propose` span (child of the client's request span, which arrived in the
//! REQUEST's trace context or from this server's own tree) with `log append + fsync` and
//! `quorum wait` (one event per ACK) under it, ended when the write commits. Its context goes
//! out in the PROPOSAL / COMMIT / INFORM of that zxid. Follower: a `proposal` span under the
//! leader's with its own `log append + fsync` and an `ACK sent` event, ended when the commit is
//! handed to the tree. Observer: an `inform` span.
//!
//! Only sampled writes are here, so every map is empty (and every hook one `is_empty` check)
//! when tracing is off or no write is sampled. Entries are bounded in number and age.

use crate::codec::peer::PeerMessage;
use crate::datatree::Txn;
use crate::telemetry::{self, session_attr, zxid_attr, Parent, Span};
use opentelemetry::trace::{Span as _, SpanKind, Status};
use opentelemetry::KeyValue;
use std::collections::{BTreeMap, HashMap};
use std::time::{Instant, SystemTime};

/// At most this many writes or requests traced at once; more are not traced.
const MAX_TRACED: usize = 4096;
/// A request not proposed within this long (refused at prep, or lost in a failover) is
/// forgotten.
const REQUEST_TTL_SECS: u64 = 30;

struct Pending {
    from: u64,
    traceparent: String,
    arrived: SystemTime,
    at: Instant,
}

struct Write {
    span: Span,
    /// This span's context, sent on in the peer messages of its zxid.
    traceparent: String,
    log: Option<Span>,
    quorum: Option<Span>,
    at: Instant,
}

/// A write ends once it is both committed and in the local log. Both come in zxid order, so
/// two watermarks say which writes a call touches: each call visits only the writes it
/// changes, never the whole map (a trace of every write keeps hundreds in flight).
#[derive(Default)]
pub(super) struct ZabTraces {
    /// Forwarded requests by (session, cxid).
    requests: HashMap<(i64, i32), Pending>,
    writes: BTreeMap<i64, Write>,
    /// Everything up to here is committed (leader) or handed to the tree (learner).
    committed_to: i64,
    /// Everything up to here is in the local log.
    logged_to: i64,
}

impl ZabTraces {
    pub(super) fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.writes.is_empty()
    }

    /// Leader: a learner forwarded a traced request; its proposal follows from the tree.
    pub(super) fn request(&mut self, from: u64, session: i64, cxid: i32, traceparent: String) {
        if traceparent.is_empty() || self.requests.len() >= MAX_TRACED {
            return;
        }
        self.requests.insert(
            (session, cxid),
            Pending {
                from,
                traceparent,
                arrived: SystemTime::now(),
                at: Instant::now(),
            },
        );
    }

    /// Leader: the tree proposes `txns`; `local` are the traced ones of this server's clients.
    pub(super) fn propose(&mut self, txns: &[Txn], local: &[(i64, String)], learners: &[u64]) {
        if (self.requests.is_empty() && local.is_empty()) || self.writes.len() >= MAX_TRACED {
            return;
        }
        for t in txns {
            let (parent, arrived, from) =
                if let Some((_, tp)) = local.iter().find(|(z, _)| *z == t.zxid) {
                    (tp.clone(), None, None)
                } else if let Some(p) = self.requests.remove(&(t.session, t.cxid)) {
                    (p.traceparent, Some(p.arrived), Some(p.from))
                } else {
                    continue;
                };
            let mut attrs = txn_attrs(t);
            if let Some(f) = from {
                attrs.push(KeyValue::new("keeper.forwarded_by", f as i64));
            }
            attrs.push(KeyValue::new("keeper.voters_sent", format!("{learners:?}")));
            let Some(mut span) = telemetry::start_span(
                "propose",
                if from.is_some() {
                    SpanKind::Server
                } else {
                    SpanKind::Internal
                },
                Parent::Remote(&parent),
                arrived,
                attrs,
            ) else {
                continue;
            };
            span.add_event("proposal sent to the voters", vec![]);
            let log = telemetry::start_span(
                "log append + fsync",
                SpanKind::Internal,
                Parent::Local(&span),
                None,
                vec![zxid_attr(t.zxid)],
            );
            let quorum = telemetry::start_span(
                "quorum wait",
                SpanKind::Internal,
                Parent::Local(&span),
                None,
                vec![zxid_attr(t.zxid)],
            );
            self.insert(t.zxid, span, log, quorum);
        }
    }

    /// Follower: a traced PROPOSAL; observer: a traced INFORM.
    pub(super) fn received(&mut self, txn: &Txn, traceparent: &str, leader: u64, inform: bool) {
        if traceparent.is_empty() || self.writes.len() >= MAX_TRACED {
            return;
        }
        let mut attrs = txn_attrs(txn);
        attrs.push(KeyValue::new("keeper.leader", leader as i64));
        let name = if inform { "inform" } else { "proposal" };
        let Some(span) = telemetry::start_span(
            name,
            SpanKind::Consumer,
            Parent::Remote(traceparent),
            None,
            attrs,
        ) else {
            return;
        };
        let log = (!inform)
            .then(|| {
                telemetry::start_span(
                    "log append + fsync",
                    SpanKind::Internal,
                    Parent::Local(&span),
                    None,
                    vec![zxid_attr(txn.zxid)],
                )
            })
            .flatten();
        self.insert(txn.zxid, span, log, None);
    }

    fn insert(&mut self, zxid: i64, span: Span, mut log: Option<Span>, quorum: Option<Span>) {
        let traceparent = telemetry::traceparent(&span);
        if zxid <= self.logged_to {
            // Already on disk (a proposal seen again after a reconnection).
            if let Some(mut l) = log.take() {
                l.end();
            }
        }
        self.writes.insert(
            zxid,
            Write {
                span,
                traceparent,
                log,
                quorum,
                at: Instant::now(),
            },
        );
    }

    /// The trace context to send in a PROPOSAL / COMMIT / INFORM of a traced zxid.
    pub(super) fn fill(&self, m: &mut PeerMessage) {
        if self.writes.is_empty() {
            return;
        }
        let (zxid, trace) = match m {
            PeerMessage::Proposal { txn, trace } | PeerMessage::Inform { txn, trace } => {
                (txn.zxid, trace)
            }
            PeerMessage::Commit { zxid, trace } => (*zxid, trace),
            _ => return,
        };
        if let Some(w) = self.writes.get(&zxid) {
            *trace = w.traceparent.clone();
        }
    }

    /// Everything up to `zxid` is in the local log; `acked`: a follower's ACK went with it.
    pub(super) fn logged(&mut self, zxid: i64, acked: bool) {
        if zxid <= self.logged_to {
            return;
        }
        for (_, w) in self.writes.range_mut(self.logged_to + 1..=zxid) {
            if let Some(mut l) = w.log.take() {
                l.end();
                if acked {
                    w.span.add_event("ACK sent", vec![]);
                }
            }
        }
        self.logged_to = zxid;
        self.finish_done();
    }

    /// Leader: `sid` acknowledged everything up to `zxid`.
    pub(super) fn ack(&mut self, sid: u64, zxid: i64) {
        if zxid <= self.committed_to {
            return;
        }
        for (_, w) in self.writes.range_mut(self.committed_to + 1..=zxid) {
            if let Some(q) = &mut w.quorum {
                q.add_event("ACK", vec![KeyValue::new("keeper.from", sid as i64)]);
            }
        }
    }

    /// Everything up to `zxid` is committed (leader) or handed to the tree to apply (learner).
    /// The traced ones, in zxid order, with the context of their span for the tree's `apply`.
    pub(super) fn committed(&mut self, zxid: i64) -> Vec<(i64, String)> {
        if zxid <= self.committed_to {
            return Vec::new();
        }
        let mut traced = Vec::new();
        for (z, w) in self.writes.range_mut(self.committed_to + 1..=zxid) {
            if let Some(mut q) = w.quorum.take() {
                q.add_event("quorum reached", vec![]);
                q.end();
            }
            w.span.add_event("committed", vec![]);
            traced.push((*z, w.traceparent.clone()));
        }
        self.committed_to = zxid;
        self.finish_done();
        traced
    }

    /// End the writes that are committed and on disk here (an observer logs no INFORM span).
    fn finish_done(&mut self) {
        while let Some(e) = self.writes.first_entry() {
            let done = *e.key() <= self.committed_to
                && (e.get().log.is_none() || *e.key() <= self.logged_to);
            if !done {
                break;
            }
            e.remove().finish();
        }
    }

    /// The role ended (election) or time passed: what is left will never finish.
    pub(super) fn abandon(&mut self, why: &str) {
        self.requests.clear();
        // The next role starts its own count (a new leader's zxids may repeat lower ones).
        self.committed_to = 0;
        self.logged_to = 0;
        for (_, w) in std::mem::take(&mut self.writes) {
            finish_abandoned(w, why);
        }
    }

    /// Forget requests never proposed and writes never committed, after a while.
    pub(super) fn expire(&mut self) {
        if self.is_empty() {
            return;
        }
        let old = |at: &Instant| at.elapsed().as_secs() >= REQUEST_TTL_SECS;
        self.requests.retain(|_, p| !old(&p.at));
        let stale: Vec<i64> = self
            .writes
            .iter()
            .filter(|(_, w)| old(&w.at))
            .map(|(z, _)| *z)
            .collect();
        for z in stale {
            if let Some(w) = self.writes.remove(&z) {
                finish_abandoned(w, "not committed in time");
            }
        }
    }
}

impl Write {
    fn finish(mut self) {
        self.span.end();
    }
}

fn finish_abandoned(mut w: Write, why: &str) {
    for mut s in [w.log.take(), w.quorum.take()].into_iter().flatten() {
        s.end();
    }
    w.span.set_status(Status::error(why.to_string()));
    w.span.end();
}

fn txn_attrs(t: &Txn) -> Vec<KeyValue> {
    let mut v = vec![
        zxid_attr(t.zxid),
        session_attr(t.session),
        KeyValue::new("zk.cxid", i64::from(t.cxid)),
        KeyValue::new("zk.txn", t.op.name()),
    ];
    if let Some(p) = t.op.path() {
        v.push(KeyValue::new("zk.path", p.to_string()));
    }
    v
}
