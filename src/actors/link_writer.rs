//! The sending side of a quorum link, shared by the link's event loop and the log writer's
//! thread. A learner's log writer sends its ACKs itself right after the fsync, as ZooKeeper's
//! follower does from its sync thread: handing them to the event loop first would add a thread
//! wake-up to every write's commit path.
//!
//! Frames are only ever appended whole under one lock, so the two writers never interleave
//! bytes. `queue` (event loop) hands over the message unencoded: the link's flush task encodes
//! and writes it, one syscall for everything queued meanwhile, on the link's own thread
//! (`quorum.io_threads`), so the tree's thread does not spend its time in MessagePack and
//! `send`. `send_now` (any thread) first encodes what is queued, then its own messages, and
//! writes at once, leaving what the socket does not take to the flush task: the order of
//! everything sent through one writer is the order of the calls.
//!
//! A writer may be made before its socket is (`detached`): the link's socket is registered on
//! its IO thread, and what is sent until then waits in the writer.

use crate::codec::peer::{encode_frame, PeerMessage};
use std::io::ErrorKind;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

/// One message for several links (a PROPOSAL or COMMIT to every learner): encoded once, by
/// whichever link's flush gets to it first, and the same bytes written on every link.
pub struct SharedFrame {
    msg: PeerMessage,
    frame: OnceLock<Vec<u8>>,
}

impl SharedFrame {
    pub fn new(msg: PeerMessage) -> Arc<SharedFrame> {
        Arc::new(SharedFrame {
            msg,
            frame: OnceLock::new(),
        })
    }
}

/// What the event loop queued: a message of this link's own, or one shared with other links.
enum Queued {
    Own(PeerMessage),
    Shared(Arc<SharedFrame>),
}

pub struct LinkWriter {
    half: OnceLock<OwnedWriteHalf>,
    state: Mutex<State>,
    wake: Notify,
}

#[derive(Default)]
struct State {
    /// Messages queued by the event loop, not yet encoded; they go before anything sent later.
    queued: Vec<Queued>,
    /// Bytes accepted but not yet written, whole frames from the first unwritten byte on.
    pending: Vec<u8>,
    /// Closed by its link, or a write failed: everything sent from now on is dropped.
    closed: bool,
    error: Option<std::io::Error>,
}

impl LinkWriter {
    pub fn new(half: OwnedWriteHalf) -> LinkWriter {
        let w = LinkWriter::detached();
        w.attach(half);
        w
    }

    /// A writer whose socket comes later ([`LinkWriter::attach`]).
    pub fn detached() -> LinkWriter {
        LinkWriter {
            half: OnceLock::new(),
            state: Mutex::new(State::default()),
            wake: Notify::new(),
        }
    }

    /// Give the writer its socket (once; later calls are ignored).
    pub fn attach(&self, half: OwnedWriteHalf) {
        let _ = self.half.set(half);
        self.wake.notify_one();
    }

    fn encode_one(buf: &mut Vec<u8>, m: &PeerMessage) {
        if let Err(e) = encode_frame(m, buf) {
            // Only an oversized message fails; senders split snapshots below the limit.
            tracing::error!("cannot encode a quorum message: {e}");
        }
    }

    fn encode_into(buf: &mut Vec<u8>, msgs: impl IntoIterator<Item = PeerMessage>) {
        for m in msgs {
            Self::encode_one(buf, &m);
        }
    }

    fn encode_queued_into(buf: &mut Vec<u8>, items: impl IntoIterator<Item = Queued>) {
        for q in items {
            match q {
                Queued::Own(m) => Self::encode_one(buf, &m),
                Queued::Shared(s) => {
                    let frame = s.frame.get_or_init(|| {
                        let mut f = Vec::new();
                        Self::encode_one(&mut f, &s.msg);
                        f
                    });
                    buf.extend_from_slice(frame);
                }
            }
        }
    }

    fn encode(msgs: impl IntoIterator<Item = PeerMessage>) -> Vec<u8> {
        let mut buf = Vec::new();
        Self::encode_into(&mut buf, msgs);
        buf
    }

    /// Encode what the event loop queued onto the end of `pending`, in place.
    fn encode_queued(st: &mut State) {
        if st.queued.is_empty() {
            return;
        }
        let State {
            queued, pending, ..
        } = st;
        Self::encode_queued_into(pending, queued.drain(..));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hand a message to the flush task, which encodes and writes it on the link's thread.
    pub fn queue(&self, m: PeerMessage) {
        self.push(Queued::Own(m));
    }

    /// Like [`LinkWriter::queue`], for a message that other links send too.
    pub fn queue_shared(&self, m: Arc<SharedFrame>) {
        self.push(Queued::Shared(m));
    }

    fn push(&self, q: Queued) {
        let mut st = self.lock();
        if st.closed {
            return;
        }
        st.queued.push(q);
        let first = st.queued.len() == 1;
        drop(st);
        if first {
            self.wake.notify_one();
        }
    }

    /// Append and write now, from any thread; the flush task takes what the socket refused.
    pub fn send_now(&self, msgs: impl IntoIterator<Item = PeerMessage>) {
        let frames = Self::encode(msgs);
        let mut st = self.lock();
        if st.closed {
            return;
        }
        Self::encode_queued(&mut st);
        st.pending.extend_from_slice(&frames);
        if let Err(e) = self.write_some(&mut st) {
            st.closed = true;
            st.error = Some(e);
        }
        let left = !st.pending.is_empty() || st.error.is_some();
        drop(st);
        if left {
            self.wake.notify_one();
        }
    }

    /// Drop whatever is sent from now on (the link is gone or being replaced).
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.pending.clear();
        st.queued.clear();
        drop(st);
        self.wake.notify_one();
    }

    /// Write as much of `pending` as the socket takes without blocking.
    fn write_some(&self, st: &mut State) -> std::io::Result<()> {
        let Some(half) = self.half.get() else {
            return Ok(()); // not attached yet: the flush task writes it once it is
        };
        let mut done = 0;
        while done < st.pending.len() {
            match half.try_write(&st.pending[done..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        st.pending.drain(..done);
        Ok(())
    }

    /// The link's flush task: writes what was queued, waiting for the socket when it is full.
    /// Ends with the first write error, or with `Ok` once the writer is closed.
    pub async fn flush(&self) -> std::io::Result<()> {
        loop {
            self.wake.notified().await;
            loop {
                {
                    let mut st = self.lock();
                    if let Some(e) = st.error.take() {
                        return Err(e);
                    }
                    if st.closed {
                        return Ok(());
                    }
                    Self::encode_queued(&mut st);
                    if let Err(e) = self.write_some(&mut st) {
                        st.closed = true;
                        return Err(e);
                    }
                    if st.pending.is_empty() {
                        break;
                    }
                }
                match self.half.get() {
                    Some(half) => half.writable().await?,
                    None => break, // attach wakes this task again
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::peer::PeerCodec;
    use crate::datatree::{Txn, TxnOp};
    use futures::StreamExt;
    use std::sync::Arc;
    use tokio_util::codec::FramedRead;

    type Reader = FramedRead<tokio::net::TcpStream, PeerCodec>;

    /// A writer, the reader at the other end, and the writer's own read half (kept open).
    async fn pair() -> (Arc<LinkWriter>, Reader, tokio::net::tcp::OwnedReadHalf) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (a, b) = tokio::join!(tokio::net::TcpStream::connect(addr), l.accept());
        let (r, w) = a.unwrap().into_split();
        (
            Arc::new(LinkWriter::new(w)),
            FramedRead::new(b.unwrap().0, PeerCodec),
            r,
        )
    }

    /// Frames from the event loop and from another thread arrive whole and each in its order,
    /// also when the socket is full and the flush task has to wait for it.
    #[tokio::test]
    async fn two_writers_never_interleave() {
        let (w, mut r, _keep) = pair().await;
        let flusher = tokio::spawn({
            let w = w.clone();
            async move { w.flush().await }
        });
        let big = vec![7u8; 256 << 10];
        let other = {
            let w = w.clone();
            std::thread::spawn(move || {
                for z in 0..2000 {
                    w.send_now([PeerMessage::Ack { zxid: z }]);
                }
            })
        };
        for i in 0..40u64 {
            w.queue(PeerMessage::Hello { version: 1, sid: i });
            // Big enough to fill the socket now and then.
            w.queue(PeerMessage::Proposal {
                txn: Txn {
                    session: 1,
                    cxid: 1,
                    zxid: i as i64,
                    time: 0,
                    op: TxnOp::SetData {
                        path: "/a".into(),
                        data: Some(big.clone()),
                        version: -1,
                    }
                    .into(),
                },
                trace: String::new(),
            });
            tokio::task::yield_now().await;
        }
        other.join().unwrap();
        let (mut acks, mut hellos) = (0, 0);
        while acks < 2000 || hellos < 40 {
            match r.next().await.unwrap().unwrap() {
                PeerMessage::Ack { zxid } => {
                    assert_eq!(zxid, acks);
                    acks += 1;
                }
                PeerMessage::Hello { sid, .. } => {
                    assert_eq!(sid, hellos);
                    hellos += 1;
                }
                PeerMessage::Proposal { txn, .. } => assert_eq!(txn.zxid, hellos as i64 - 1),
                m => panic!("unexpected {m:?}"),
            }
        }
        w.close();
        assert!(flusher.await.unwrap().is_ok());
        // Closed: nothing more goes out.
        w.send_now([PeerMessage::Ack { zxid: -1 }]);
    }
}
