//! Persister: the transaction log writer on its own thread, so fsync never blocks an event
//! loop. Group commit: every txn that arrives while a write+fsync is in flight goes into the
//! next one, so many writes share one fsync. It reports the highest durable zxid to the tree
//! actor, or the first zxid of a batch it could not make durable (then it drops everything
//! until the tree actor has failed those writes and says `resume`). On a learner it also sends
//! the ACKs of broadcast proposals itself, on the leader link, right after their fsync.

use super::data_tree::{DataTreeActor, Durable, PersistFailed};
use super::link_writer::LinkWriter;
use crate::codec::peer::PeerMessage;
use crate::datatree::Txn;
use crate::storage::txn_log::{truncate_after, LogWriter};
use actix::Addr;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

/// Who hears from the log writer itself, right after the fsync, that txns are durable.
enum Tell {
    Nobody,
    /// A learner's leader link: an ACK for each txn, or (`true`: a leader that counts ACKs
    /// cumulatively) one for the last txn of each fsync.
    Acks(Arc<LinkWriter>, bool),
    /// A leader's voting learners: `Logged` with the batch's last zxid.
    Learners(Vec<Arc<LinkWriter>>),
}

enum Cmd {
    /// Txns to log, and whom to tell once they are durable.
    Append(Vec<Txn>, Tell),
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
        let _ = self.tx.send(Cmd::Append(txns, Tell::Nobody));
    }

    /// Log, then ACK on `link` as soon as the txns are durable: each of them, or with
    /// `cumulative` only the last one of each fsync.
    pub fn append_and_ack(&self, txns: Vec<Txn>, link: Arc<LinkWriter>, cumulative: bool) {
        let _ = self
            .tx
            .send(Cmd::Append(txns, Tell::Acks(link, cumulative)));
    }

    /// Log, then tell `learners` (`Logged`) as soon as the txns are durable.
    pub fn append_and_announce(&self, txns: Vec<Txn>, learners: Vec<Arc<LinkWriter>>) {
        let tell = if learners.is_empty() {
            Tell::Nobody
        } else {
            Tell::Learners(learners)
        };
        let _ = self.tx.send(Cmd::Append(txns, tell));
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
    buf: Vec<u8>,
    /// ACKs owed once the current batch is durable, by link, in zxid order, and whether
    /// the last one stands for all.
    acks: Vec<(Arc<LinkWriter>, Vec<i64>, bool)>,
    /// Learners to tell (`Logged`) once the current batch is durable: the latest list.
    announce: Vec<Arc<LinkWriter>>,
}

impl Loop {
    fn add(&mut self, batch: &mut Vec<Txn>, txns: Vec<Txn>, tell: Tell) {
        match tell {
            Tell::Nobody => {}
            Tell::Acks(link, cumulative) => {
                let zxids = txns.iter().map(|t| t.zxid);
                match self.acks.last_mut() {
                    Some((l, z, c)) if Arc::ptr_eq(l, &link) && *c == cumulative => z.extend(zxids),
                    _ => self.acks.push((link, zxids.collect(), cumulative)),
                }
            }
            Tell::Learners(l) => self.announce = l,
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
        let r = self
            .writer
            .append(batch, &mut self.buf)
            .and_then(|_| self.writer.sync());
        match r {
            Ok(()) => {
                for (link, zxids, cumulative) in self.acks.drain(..) {
                    if cumulative {
                        let last = zxids.last().map(|&zxid| PeerMessage::Ack { zxid });
                        link.send_now(last);
                    } else {
                        link.send_now(zxids.into_iter().map(|zxid| PeerMessage::Ack { zxid }));
                    }
                }
                for link in self.announce.drain(..) {
                    link.send_now([PeerMessage::Logged { zxid: last }]);
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
                tracing::error!(
                    "writing the transaction log failed ({e}); failing {} writes from zxid 0x{first:x}; the server stays up for reads and retries with the next write",
                    batch.len()
                );
                self.tree.do_send(PersistFailed { zxid: first });
            }
        }
        batch.clear();
        self.acks.clear();
        self.announce.clear();
    }
}

fn run(rx: Receiver<Cmd>, dir: PathBuf, writer: LogWriter, tree: Addr<DataTreeActor>) {
    let mut l = Loop {
        dir,
        writer,
        tree,
        failed: false,
        buf: Vec::with_capacity(1 << 16),
        acks: Vec::new(),
        announce: Vec::new(),
    };
    let mut batch = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(cmd) = next.take().or_else(|| rx.try_recv().ok()) {
            match cmd {
                Cmd::Append(t, tell) if !l.failed => l.add(&mut batch, t, tell),
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
