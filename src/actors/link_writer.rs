//! The sending side of a quorum link, shared by the link's event loop and the log writer's
//! thread. A learner's log writer sends its ACKs itself right after the fsync, as ZooKeeper's
//! follower does from its sync thread: handing them to the event loop first would add a thread
//! wake-up to every write's commit path.
//!
//! Frames are only ever appended whole under one lock, so the two writers never interleave
//! bytes. `queue` (event loop) appends and lets the link's flush task write at the end of the
//! loop's turn, one syscall for everything queued in it; `send_now` (any thread) appends and
//! writes at once, leaving what the socket does not take to the flush task.

use crate::codec::peer::{PeerCodec, PeerMessage};
use bytes::BytesMut;
use std::io::ErrorKind;
use std::sync::Mutex;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;
use tokio_util::codec::Encoder;

pub struct LinkWriter {
    half: OwnedWriteHalf,
    state: Mutex<State>,
    wake: Notify,
}

#[derive(Default)]
struct State {
    /// Bytes accepted but not yet written, whole frames from the first unwritten byte on.
    pending: Vec<u8>,
    /// Closed by its link, or a write failed: everything sent from now on is dropped.
    closed: bool,
    error: Option<std::io::Error>,
}

impl LinkWriter {
    pub fn new(half: OwnedWriteHalf) -> LinkWriter {
        LinkWriter {
            half,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
        }
    }

    fn encode(msgs: impl IntoIterator<Item = PeerMessage>) -> Vec<u8> {
        let mut buf = BytesMut::new();
        for m in msgs {
            if let Err(e) = PeerCodec.encode(m, &mut buf) {
                // Only an oversized message fails; senders split snapshots below the limit.
                tracing::error!("cannot encode a quorum message: {e}");
            }
        }
        buf.to_vec()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Append for the flush task (the link's event loop writes it at the end of this turn).
    pub fn queue(&self, m: PeerMessage) {
        let frame = Self::encode([m]);
        let mut st = self.lock();
        if st.closed {
            return;
        }
        st.pending.extend_from_slice(&frame);
        drop(st);
        self.wake.notify_one();
    }

    /// Append and write now, from any thread; the flush task takes what the socket refused.
    pub fn send_now(&self, msgs: impl IntoIterator<Item = PeerMessage>) {
        let frames = Self::encode(msgs);
        let mut st = self.lock();
        if st.closed {
            return;
        }
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
        drop(st);
        self.wake.notify_one();
    }

    /// Write as much of `pending` as the socket takes without blocking.
    fn write_some(&self, st: &mut State) -> std::io::Result<()> {
        let mut done = 0;
        while done < st.pending.len() {
            match self.half.try_write(&st.pending[done..]) {
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
                    if let Err(e) = self.write_some(&mut st) {
                        st.closed = true;
                        return Err(e);
                    }
                    if st.pending.is_empty() {
                        break;
                    }
                }
                self.half.writable().await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
                    },
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
