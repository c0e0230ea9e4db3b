//! The socket side of a client connection, with the bounds that keep one client from growing the
//! server's memory: a write queue that knows how many bytes it holds, a gate that stops reading
//! requests, and the shared count of requests in flight (`server.global_outstanding_limit`).
//!
//! A client that pipelines requests and never reads the replies fills its socket, then this
//! queue; the connection then stops reading its requests (the kernel's buffers then stop the
//! client), and a client that still lets replies or watch events pile up past
//! `client.max_queued_bytes` is disconnected.

use bytes::{Buf, Bytes};
use futures::Stream;
use std::cell::Cell;
use std::collections::VecDeque;
use std::io::IoSlice;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Reading stops when this many bytes are queued and resumes below [`QUEUE_LOW`].
pub const QUEUE_HIGH: usize = 512 << 10;
pub const QUEUE_LOW: usize = 128 << 10;
/// Frames handed to one `writev`.
const MAX_IOV: usize = 64;

/// The limits of one server's client connections, shared by all of them.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_in_flight: usize,
    pub max_queued_bytes: usize,
    pub global_limit: usize,
    /// Requests in flight on all connections of this server.
    pub global: Arc<AtomicUsize>,
}

impl Limits {
    pub fn new(max_in_flight: u32, max_queued_bytes: u64, global_limit: u32) -> Self {
        Limits {
            max_in_flight: max_in_flight.max(1) as usize,
            max_queued_bytes: usize::try_from(max_queued_bytes).unwrap_or(usize::MAX),
            global_limit: global_limit.max(1) as usize,
            global: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// Frames waiting for the socket, oldest first; the first may be partly written.
#[derive(Default)]
pub struct Outbox {
    frames: VecDeque<Bytes>,
    bytes: usize,
    waker: Option<Waker>,
}

impl Outbox {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn push(&mut self, frame: Bytes) {
        if frame.is_empty() {
            return;
        }
        self.bytes += frame.len();
        self.frames.push_back(frame);
        self.wake();
    }

    /// Wake the writer (to notice a close).
    pub fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Drop everything queued (the connection is being torn down).
    pub fn clear(&mut self) {
        self.frames.clear();
        self.bytes = 0;
    }

    /// Wake the writer when something is pushed.
    pub fn wait(&mut self, w: &Waker) {
        self.waker = Some(w.clone());
    }

    /// Up to [`MAX_IOV`] slices of what is queued, for one vectored write.
    pub fn slices(&self) -> Vec<IoSlice<'_>> {
        self.frames
            .iter()
            .take(MAX_IOV)
            .map(|f| IoSlice::new(f))
            .collect()
    }

    /// `n` bytes were written.
    pub fn consume(&mut self, mut n: usize) {
        self.bytes = self.bytes.saturating_sub(n);
        while n > 0 {
            let Some(front) = self.frames.front_mut() else {
                break;
            };
            if n >= front.len() {
                n -= front.len();
                self.frames.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }
}

/// Whether a connection may read its next request. Hysteresis on the queued bytes keeps a
/// connection near the mark from flapping between reading and not.
pub fn may_read(
    was_open: bool,
    queued: usize,
    in_flight: usize,
    global_in_flight: usize,
    limits: &Limits,
) -> bool {
    let queue_ok = if was_open {
        queued < QUEUE_HIGH
    } else {
        queued < QUEUE_LOW
    };
    // A connection with nothing in flight may always send one request: the global limit slows
    // the busy clients, it never starves a quiet one.
    let global_ok = in_flight == 0 || global_in_flight < limits.global_limit;
    queue_ok && in_flight < limits.max_in_flight && global_ok
}

/// Opens and closes a stream of requests from the connection's side.
#[derive(Default)]
pub struct Gate {
    closed: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Gate {
    pub fn is_open(&self) -> bool {
        !self.closed.get()
    }

    pub fn set_open(&self, open: bool) {
        let was_open = self.is_open();
        self.closed.set(!open);
        if open && !was_open {
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        }
    }
}

/// A stream that yields nothing while its gate is closed. What the kernel holds meanwhile stays
/// in the kernel, and a client that keeps sending is stopped by TCP's flow control.
pub struct Gated<S> {
    inner: S,
    gate: Rc<Gate>,
}

impl<S> Gated<S> {
    pub fn new(inner: S, gate: Rc<Gate>) -> Self {
        Gated { inner, gate }
    }
}

impl<S: Stream + Unpin> Stream for Gated<S> {
    type Item = S::Item;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        if !self.gate.is_open() {
            self.gate.waker.set(Some(cx.waker().clone()));
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

/// Requests in flight on one connection, mirrored in the server-wide count.
#[derive(Debug)]
pub struct InFlight {
    mine: usize,
    global: Arc<AtomicUsize>,
}

impl InFlight {
    pub fn new(global: Arc<AtomicUsize>) -> Self {
        InFlight { mine: 0, global }
    }

    pub fn get(&self) -> usize {
        self.mine
    }

    pub fn global(&self) -> usize {
        self.global.load(Ordering::Relaxed)
    }

    pub fn start(&mut self) {
        self.mine += 1;
        self.global.fetch_add(1, Ordering::Relaxed);
    }

    pub fn done(&mut self) {
        if self.mine > 0 {
            self.mine -= 1;
            self.global.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for InFlight {
    /// Requests whose replies will never reach a closed connection leave the global count.
    fn drop(&mut self) {
        self.global.fetch_sub(self.mine, Ordering::Relaxed);
    }
}

/// The write side of a client socket: plain TCP, or TLS on the secure client port (whose
/// writes are buffered by the TLS session until flushed).
pub enum ClientSocket {
    Plain(tokio::net::tcp::OwnedWriteHalf),
    Tls(tokio::io::WriteHalf<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
}

impl tokio::io::AsyncWrite for ClientSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ClientSocket::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ClientSocket::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ClientSocket::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            ClientSocket::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ClientSocket::Plain(s) => s.is_write_vectored(),
            ClientSocket::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientSocket::Plain(s) => Pin::new(s).poll_flush(cx),
            ClientSocket::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientSocket::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ClientSocket::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::new(4, 1 << 20, 10)
    }

    #[test]
    fn the_outbox_counts_bytes_through_partial_writes() {
        let mut o = Outbox::default();
        o.push(Bytes::from_static(b"abcd"));
        o.push(Bytes::from_static(b""));
        o.push(Bytes::from_static(b"efgh"));
        assert_eq!(o.bytes(), 8);
        assert_eq!(o.slices().len(), 2);
        o.consume(3);
        assert_eq!(o.bytes(), 5);
        assert_eq!(&*o.slices()[0], b"d");
        o.consume(1);
        assert_eq!(o.slices().len(), 1);
        o.consume(4);
        assert!(o.is_empty());
        assert_eq!(o.bytes(), 0);
    }

    #[test]
    fn reading_stops_at_the_marks_and_resumes_below_the_low_one() {
        let l = limits();
        assert!(may_read(true, 0, 0, 0, &l));
        assert!(!may_read(true, QUEUE_HIGH, 0, 0, &l));
        // Closed: stays closed until under the low mark.
        assert!(!may_read(false, QUEUE_LOW, 0, 0, &l));
        assert!(may_read(false, QUEUE_LOW - 1, 0, 0, &l));
        // Per connection in flight.
        assert!(may_read(true, 0, 3, 3, &l));
        assert!(!may_read(true, 0, 4, 4, &l));
        // Global: a busy connection waits, a quiet one may send one.
        assert!(!may_read(true, 0, 1, 10, &l));
        assert!(may_read(true, 0, 0, 10, &l));
    }

    #[test]
    fn in_flight_requests_of_a_dropped_connection_leave_the_global_count() {
        let l = limits();
        let mut a = InFlight::new(l.global.clone());
        let mut b = InFlight::new(l.global.clone());
        a.start();
        a.start();
        b.start();
        a.done();
        assert_eq!(a.get(), 1);
        assert_eq!(b.global(), 2);
        b.done();
        b.done(); // an extra reply (none was in flight) does not go below zero
        assert_eq!(a.global(), 1);
        drop(a);
        assert_eq!(b.global(), 0);
    }

    #[test]
    fn the_gate_wakes_its_stream_when_it_opens() {
        use futures::task::noop_waker;
        let gate = Rc::new(Gate::default());
        let mut s = Gated::new(futures::stream::iter([1, 2]), gate.clone());
        let w = noop_waker();
        let mut cx = Context::from_waker(&w);
        gate.set_open(false);
        assert!(Pin::new(&mut s).poll_next(&mut cx).is_pending());
        gate.set_open(true);
        assert_eq!(Pin::new(&mut s).poll_next(&mut cx), Poll::Ready(Some(1)));
    }
}
