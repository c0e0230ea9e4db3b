//! Persister: the transaction log writer on its own thread, so fsync never blocks an event
//! loop. Group commit: every txn that arrives while a write+fsync is in flight goes into the
//! next one, so many writes share one fsync. It reports the highest durable zxid to the tree
//! actor, or the first zxid of a batch it could not make durable (then it drops everything
//! until the tree actor has failed those writes and says `resume`). It knows nothing of the
//! protocol: an append may carry an [`OnDurable`] hook, which it calls on its own thread right
//! after the fsync (a learner's ACKs and a leader's `Logged` go out that way, without waking
//! another thread).

use super::data_tree::{DataTreeActor, Durable, PersistFailed};
use crate::datatree::Txn;
use crate::storage::txn_log::{truncate_after, LogWriter};
use actix::Addr;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

/// Told on the log writer's thread, right after the fsync that made them durable, which txns of
/// its appends are on disk. Appends in a row with the same hook (the same `Arc`) are told in
/// one call per fsync.
pub trait OnDurable: Send + Sync {
    /// `zxids`: this hook's txns that one fsync made durable, in zxid order (never empty).
    fn durable(&self, zxids: &[i64]);
}

enum Cmd {
    /// Txns to log, and the hook to call once they are durable.
    Append(Vec<Txn>, Option<Arc<dyn OnDurable>>),
    /// Start a new segment with the next append (a snapshot began).
    Roll,
    /// The failed writes were answered: accept appends again.
    Resume,
    /// Drop logged txns after a zxid (-1: all), answering when done.
    Truncate(i64, tokio::sync::oneshot::Sender<Result<(), String>>),
    /// Answer once everything appended before is durable.
    Barrier(tokio::sync::oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct Persister {
    tx: Sender<Cmd>,
}

impl Persister {
    pub fn start(
        dir: PathBuf,
        preallocate: u64,
        force_sync: bool,
        tree: Addr<DataTreeActor>,
    ) -> std::io::Result<Persister> {
        let (tx, rx) = channel();
        let writer = LogWriter::new(dir.clone(), preallocate, force_sync);
        std::thread::Builder::new()
            .name("keeper-log".into())
            .spawn(move || run(rx, dir, writer, tree))?;
        Ok(Persister { tx })
    }

    pub fn append(&self, txns: Vec<Txn>) {
        let _ = self.tx.send(Cmd::Append(txns, None));
    }

    /// Log, then call `hook` on this thread as soon as the txns are durable.
    pub fn append_then(&self, txns: Vec<Txn>, hook: Arc<dyn OnDurable>) {
        let _ = self.tx.send(Cmd::Append(txns, Some(hook)));
    }

    pub fn roll(&self) {
        let _ = self.tx.send(Cmd::Roll);
    }

    pub fn resume(&self) {
        let _ = self.tx.send(Cmd::Resume);
    }

    /// Drop logged txns after `zxid` (-1: everything).
    pub async fn truncate_after(&self, zxid: i64) -> Result<(), String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Cmd::Truncate(zxid, tx))
            .map_err(|_| "the log writer is gone".to_string())?;
        rx.await.map_err(|_| "the log writer is gone".to_string())?
    }

    /// Wait until everything appended so far is durable.
    pub async fn barrier(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Cmd::Barrier(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

struct Loop {
    dir: PathBuf,
    writer: LogWriter,
    tree: Addr<DataTreeActor>,
    failed: bool,
    /// The log's poisoning was logged (at error, once).
    poison_said: bool,
    buf: Vec<u8>,
    /// Hooks to call once the current batch is durable, with their txns, in order.
    hooks: Vec<(Arc<dyn OnDurable>, Vec<i64>)>,
}

impl Loop {
    fn add(&mut self, batch: &mut Vec<Txn>, txns: Vec<Txn>, hook: Option<Arc<dyn OnDurable>>) {
        if let (Some(hook), false) = (hook, txns.is_empty()) {
            let zxids = txns.iter().map(|t| t.zxid);
            match self.hooks.last_mut() {
                Some((h, z)) if Arc::ptr_eq(h, &hook) => z.extend(zxids),
                _ => self.hooks.push((hook, zxids.collect())),
            }
        }
        batch.extend(txns);
    }

    fn flush(&mut self, batch: &mut Vec<Txn>) {
        let (Some(first), Some(last)) =
            (batch.first().map(|t| t.zxid), batch.last().map(|t| t.zxid))
        else {
            return;
        };
        let mark = self.writer.mark();
        let started = Instant::now();
        let mut synced = started;
        let r = self.writer.append(batch, &mut self.buf).and_then(|_| {
            synced = Instant::now();
            self.writer.sync()
        });
        match r {
            Ok(()) => {
                // ZooKeeper's fsynctime is the fsync alone, in ms.
                let m = &crate::metrics::SERVER;
                m.fsynctime.add(synced.elapsed().as_millis() as u64);
                m.sync_processor_batch_size.add(batch.len() as u64);
                for (hook, zxids) in self.hooks.drain(..) {
                    hook.durable(&zxids);
                }
                let took = started.elapsed();
                if took.as_millis() > 1000 {
                    tracing::warn!("fsync of the transaction log took {} ms", took.as_millis());
                }
                self.tree.do_send(Durable {
                    zxid: last,
                    txns: batch.len() as u64,
                    log_bytes: self.writer.bytes_since_roll,
                });
            }
            Err(e) => {
                self.writer.undo(mark);
                self.failed = true;
                let fatal = self.writer.poisoned().map(str::to_string);
                match &fatal {
                    // Said once; every later write fails at once with the same reason.
                    Some(_) if self.poison_said => {
                        tracing::debug!("failing {} writes from zxid 0x{first:x}: {e}", batch.len())
                    }
                    Some(why) => {
                        self.poison_said = true;
                        tracing::error!(
                            "{why}: the transaction log is not written any more (a failed \
                             fsync is never retried: the data it could not write may be gone \
                             from memory too); failing {} writes from zxid 0x{first:x}. A \
                             standalone server keeps serving reads and fails every write; \
                             restart it once the disk is fixed: every acknowledged write is \
                             on disk",
                            batch.len()
                        );
                    }
                    None => tracing::error!(
                        "writing the transaction log failed ({e}); failing {} writes from \
                         zxid 0x{first:x}; nothing of them stays in the log, and the next \
                         write tries again (a full disk: free space and writes resume)",
                        batch.len()
                    ),
                }
                self.tree.do_send(PersistFailed { zxid: first, fatal });
            }
        }
        batch.clear();
        self.hooks.clear();
    }
}

fn run(rx: Receiver<Cmd>, dir: PathBuf, writer: LogWriter, tree: Addr<DataTreeActor>) {
    let mut l = Loop {
        dir,
        writer,
        tree,
        failed: false,
        poison_said: false,
        buf: Vec::with_capacity(1 << 16),
        hooks: Vec::new(),
    };
    let mut batch = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(cmd) = next.take().or_else(|| rx.try_recv().ok()) {
            match cmd {
                Cmd::Append(t, hook) if !l.failed => l.add(&mut batch, t, hook),
                Cmd::Append(..) => {}
                Cmd::Resume => l.failed = false,
                Cmd::Roll => {
                    l.flush(&mut batch);
                    if let Err(e) = l.writer.roll() {
                        tracing::error!("closing the log segment failed: {e}");
                    }
                }
                Cmd::Truncate(zxid, done) => {
                    l.flush(&mut batch);
                    let r = l
                        .writer
                        .roll()
                        .map_err(|e| e.to_string())
                        .and_then(|_| truncate_after(&l.dir, zxid).map_err(|e| e.to_string()));
                    let _ = done.send(r);
                }
                Cmd::Barrier(done) => {
                    l.flush(&mut batch);
                    let _ = done.send(());
                }
            }
        }
        l.flush(&mut batch);
    }
}
