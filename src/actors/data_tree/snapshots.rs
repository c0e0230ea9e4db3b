//! Snapshots of the tree actor: when one is due (a randomised count of txns or bytes of log),
//! and the fuzzy snapshot itself, walked a piece at a time between requests on the tree's
//! thread and written by a `keeper-snapshot` thread.

use super::*;

/// Walk the next piece of the tree for a snapshot in progress.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct SnapStep;

/// A snapshot finished (or failed) on its writer thread.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct SnapDone(u64, Result<i64, String>);

pub(super) enum SnapMsg {
    Nodes(Vec<SnapNode>),
    Finish,
}

/// A fuzzy snapshot being taken: the tree is walked a piece at a time between requests, and
/// the pieces are written by a thread of their own.
pub(super) struct SnapJob {
    pub(super) id: u64,
    pub(super) stack: Vec<(String, Option<String>)>,
    pub(super) tx: mpsc::Sender<SnapMsg>,
}

/// When to snapshot: after a randomised number of txns or bytes of log, so that the servers
/// of an ensemble do not all snapshot at once.
pub(super) struct SnapPolicy {
    pub(super) txns: u64,
    pub(super) bytes: u64,
    pub(super) txn_threshold: u64,
    pub(super) byte_threshold: u64,
}

impl SnapPolicy {
    pub(super) fn new(snap_count: u64, size_limit: u64) -> Self {
        let mut rng = rand::thread_rng();
        SnapPolicy {
            txns: 0,
            bytes: 0,
            txn_threshold: snap_count / 2 + rng.gen_range(0..(snap_count / 2).max(1)),
            byte_threshold: size_limit / 2 + rng.gen_range(0..(size_limit / 2).max(1)),
        }
    }

    pub(super) fn due(&self) -> bool {
        self.txns >= self.txn_threshold || self.bytes >= self.byte_threshold
    }
}

impl DataTreeActor {
    pub(super) fn start_snapshot(&mut self, ctx: &mut Context<Self>) {
        if self.snap.is_some() {
            return;
        }
        let zxid = self.engine.last_zxid();
        self.snap_seq += 1;
        let job = self.snap_seq;
        let data_dir = version_dir(&self.settings.storage.data_dir);
        let log_dir = version_dir(self.settings.data_log_dir());
        let keep = self.settings.storage.snap_retain_count as usize;
        if let Some(p) = &self.persister {
            p.roll();
        }
        let sessions = self.engine.session_timeouts();
        let (tx, rx) = mpsc::channel::<SnapMsg>();
        let me = ctx.address();
        let spawned = std::thread::Builder::new()
            .name("keeper-snapshot".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let mut span = crate::telemetry::start_span(
                    "snapshot",
                    opentelemetry::trace::SpanKind::Internal,
                    crate::telemetry::Parent::Root,
                    None,
                    vec![
                        crate::telemetry::zxid_attr(zxid),
                        opentelemetry::KeyValue::new("keeper.sessions", sessions.len() as i64),
                    ],
                );
                let result = (|| -> std::io::Result<i64> {
                    // Even creating the file happens here, off the event loop.
                    let mut writer = SnapshotWriter::create(&data_dir, zxid)?;
                    let written = (|| {
                        writer.sessions(sessions)?;
                        loop {
                            match rx.recv() {
                                Ok(SnapMsg::Nodes(n)) => writer.nodes(n)?,
                                Ok(SnapMsg::Finish) => return Ok(()),
                                Err(_) => return Err(std::io::Error::other("snapshot abandoned")),
                            }
                        }
                    })();
                    if let Err(e) = written {
                        writer.abandon();
                        return Err(e);
                    }
                    let path = writer.finish()?;
                    if let Some(s) = &mut span {
                        use opentelemetry::trace::Span as _;
                        s.set_attribute(opentelemetry::KeyValue::new(
                            "keeper.file",
                            path.display().to_string(),
                        ));
                        if let Ok(m) = std::fs::metadata(&path) {
                            s.set_attribute(opentelemetry::KeyValue::new(
                                "keeper.bytes",
                                m.len() as i64,
                            ));
                        }
                    }
                    crate::metrics::SERVER
                        .snapshottime
                        .add(started.elapsed().as_millis() as u64);
                    tracing::info!("snapshot {} written", path.display());
                    let purged = retention::purge(&data_dir, &log_dir, keep)?;
                    if purged.snapshots + purged.segments > 0 {
                        tracing::info!(
                            "purged {} old snapshots and {} log segments",
                            purged.snapshots,
                            purged.segments
                        );
                    }
                    Ok(zxid)
                })();
                if let Some(mut s) = span {
                    use opentelemetry::trace::Span as _;
                    if let Err(e) = &result {
                        s.set_status(opentelemetry::trace::Status::error(e.to_string()));
                    }
                    s.end();
                }
                me.do_send(SnapDone(job, result.map_err(|e| e.to_string())));
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the snapshot thread: {e}");
            return;
        }
        tracing::info!("taking a snapshot at zxid 0x{zxid:x}");
        let mut first = Vec::new();
        if let Some(root) = self.engine.tree.get("/") {
            first.push(SnapNode {
                path: "/".into(),
                data: root.data_vec(),
                acl: root.acl.clone(),
                stat: root.stat,
            });
        }
        let _ = tx.send(SnapMsg::Nodes(first));
        self.snap = Some(SnapJob {
            id: job,
            stack: vec![("/".into(), None)],
            tx,
        });
        self.policy = SnapPolicy::new(
            settings_snap_count(&self.settings),
            self.settings.storage.snap_size_limit,
        );
        ctx.notify(SnapStep);
    }

    pub(super) fn count_for_snapshot(&mut self, before: u64, ctx: &mut Context<Self>) {
        let applied = self.engine.applied.saturating_sub(before);
        self.policy.txns += applied;
        if self.policy.due() {
            self.start_snapshot(ctx);
        }
    }
}

impl Handler<SnapStep> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, _: SnapStep, ctx: &mut Context<Self>) {
        let Some(job) = self.snap.as_mut() else {
            return;
        };
        let tree = &self.engine.tree;
        let mut chunk = Vec::with_capacity(1000);
        // Walk a bounded piece per turn so clients and pings are served in between.
        while chunk.len() < 1000 {
            let Some((dir, last)) = job.stack.last().cloned() else {
                break;
            };
            match tree.next_child(&dir, last.as_deref()) {
                None => {
                    job.stack.pop();
                }
                Some(name) => {
                    if let Some(top) = job.stack.last_mut() {
                        top.1 = Some(name.clone());
                    }
                    let child = crate::datatree::path::join(&dir, &name);
                    if let Some(n) = tree.get(&child) {
                        chunk.push(SnapNode {
                            path: child.clone(),
                            data: n.data_vec(),
                            acl: n.acl.clone(),
                            stat: n.stat,
                        });
                    }
                    job.stack.push((child, None));
                }
            }
        }
        if !chunk.is_empty() {
            let _ = job.tx.send(SnapMsg::Nodes(chunk));
        }
        if job.stack.is_empty() {
            let _ = job.tx.send(SnapMsg::Finish);
        } else {
            ctx.notify(SnapStep);
        }
    }
}

impl Handler<SnapDone> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: SnapDone, _: &mut Context<Self>) {
        if self.snap.as_ref().is_some_and(|j| j.id == m.0) {
            self.snap = None;
        }
        if let Err(e) = m.1 {
            tracing::warn!("snapshot not written: {e}");
        }
    }
}
