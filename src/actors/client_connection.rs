//! ClientConnection: one actor per client socket. It frames and decodes what the client sends,
//! forwards it to the tree actor in order, and writes back the frames it is given. A bad frame
//! closes this connection only.
//!
//! What one client can make the server hold is bounded (see `client_io`): requests in flight
//! (`client.max_in_flight`, `server.global_outstanding_limit`) and bytes queued for it
//! (`client.max_queued_bytes`). Past the soft marks the connection stops reading; past the hard
//! one it is closed.

use super::client_io::{may_read, ClientSocket, Gate, InFlight, Limits, Outbox};
use super::client_listener::ConnClosed;
use super::data_tree::{
    ClientRequest, ClientRequests, Connect, DataTreeActor, FourLetter, Register, ToClient,
    ToClients, Unregister,
};
use super::session_tracker::{SessionTracker, Touch};
use crate::codec::jute::frame::{Frame, FrameError};
use crate::codec::jute::{op, ConnectRequest, Reader, Request};
use crate::datatree::watch::ConnId;
use crate::tls::X509Peer;
use actix::prelude::*;
use bytes::Bytes;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::io::AsyncWrite;

/// A connection that has not sent its connect request by then is closed (ZooKeeper's
/// `zookeeper.nio.sessionlessCnxnTimeout` is the same 10 s): idle sockets hold no session and
/// should not hold the server's memory either.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct ClientConnection {
    id: ConnId,
    peer: SocketAddr,
    tree: Addr<DataTreeActor>,
    tracker: Option<Addr<SessionTracker>>,
    listener: Recipient<ConnClosed>,
    /// Taken by the writer future when it starts.
    sock: Option<ClientSocket>,
    /// The client certificate's identity (TLS), given to the tree with the connection.
    x509: Option<X509Peer>,
    out: Outbox,
    gate: Rc<Gate>,
    in_flight: InFlight,
    limits: Limits,
    handshake_done: bool,
    session: i64,
    last_touch: Instant,
    touch_every: Duration,
    /// No more frames are queued; the write side shuts down once the queue is written.
    closing: bool,
    /// Requests decoded from the current read, handed to the tree together at its end.
    batch: Vec<ClientRequest>,
}

impl ClientConnection {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: ConnId,
        peer: SocketAddr,
        tree: Addr<DataTreeActor>,
        tracker: Option<Addr<SessionTracker>>,
        listener: Recipient<ConnClosed>,
        sock: ClientSocket,
        x509: Option<X509Peer>,
        gate: Rc<Gate>,
        limits: Limits,
        tick_ms: u64,
    ) -> Self {
        ClientConnection {
            id,
            peer,
            tree,
            tracker,
            listener,
            sock: Some(sock),
            x509,
            out: Outbox::default(),
            gate,
            in_flight: InFlight::new(limits.global.clone()),
            limits,
            handshake_done: false,
            session: 0,
            last_touch: Instant::now(),
            batch: Vec::new(),
            // Touching more often than a fraction of a tick changes no deadline.
            touch_every: Duration::from_millis((tick_ms / 4).max(1)),
            closing: false,
        }
    }

    fn close(&mut self, ctx: &mut Context<Self>) {
        if !self.closing {
            self.closing = true;
            // Reading goes on (what arrives is dropped) so that no unread request makes the
            // kernel answer the close with a reset.
            self.gate.set_open(true);
            // The writer shuts the socket down once the queue is written.
            self.out.wake();
            // If the peer never reads, do not wait for the flush forever.
            ctx.run_later(Duration::from_secs(5), |_, ctx| ctx.stop());
        }
    }

    /// Queue a frame for the client; a client that lets too much pile up is disconnected.
    fn send(&mut self, frame: Bytes, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        self.out.push(frame);
        if self.out.bytes() > self.limits.max_queued_bytes {
            tracing::warn!(
                "closing connection from {} (session 0x{:x}): {} bytes of replies and watch events queued that the client does not read (client.max_queued_bytes = {})",
                self.peer,
                self.session,
                self.out.bytes(),
                self.limits.max_queued_bytes
            );
            // It does not read, so it would not read a graceful close either.
            self.out.clear();
            ctx.stop();
            return;
        }
        self.update_gate();
    }

    /// Open or close the request stream after anything that changes the bounds.
    fn update_gate(&mut self) {
        if self.closing {
            return;
        }
        self.gate.set_open(may_read(
            self.gate.is_open(),
            self.out.bytes(),
            self.in_flight.get(),
            self.in_flight.global(),
            &self.limits,
        ));
    }

    fn touch(&mut self) {
        if self.session != 0 && self.last_touch.elapsed() >= self.touch_every {
            self.last_touch = Instant::now();
            if let Some(t) = &self.tracker {
                t.do_send(Touch(self.session));
            }
        }
    }

    fn packet(&mut self, buf: Bytes, ctx: &mut Context<Self>) {
        if !self.handshake_done {
            self.handshake_done = true;
            match ConnectRequest::read(&buf) {
                Ok(req) => self.tree.do_send(Connect { conn: self.id, req }),
                Err(e) => {
                    tracing::warn!(
                        "closing connection from {}: malformed connect request: {e}",
                        self.peer
                    );
                    self.close(ctx);
                }
            }
            return;
        }
        self.touch();
        let mut r = Reader::new(&buf);
        let header = r.i32().and_then(|xid| Ok((xid, r.i32()?)));
        let (xid, opcode) = match header {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(
                    "closing connection from {}: malformed request header: {e}",
                    self.peer
                );
                self.close(ctx);
                return;
            }
        };
        let body = buf.slice(8..);
        self.in_flight.start();
        self.update_gate();
        match Request::read(opcode, &body) {
            Ok(req) => self.batch.push(ClientRequest {
                conn: self.id,
                xid,
                opcode,
                req,
                body,
            }),
            Err(e) => {
                // As ZooKeeper does: answer MarshallingError and keep the connection.
                tracing::info!(
                    "malformed {} request from {} (session 0x{:x}): {e}",
                    op::tag(opcode),
                    self.peer,
                    self.session
                );
                self.batch.push(ClientRequest {
                    conn: self.id,
                    xid,
                    opcode,
                    req: Request::Malformed(opcode),
                    body,
                });
            }
        }
    }
}

impl Actor for ClientConnection {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(sock) = self.sock.take() {
            ctx.spawn(Flush { sock });
        }
        ctx.run_later(HANDSHAKE_TIMEOUT, |act, ctx| {
            if !act.handshake_done {
                tracing::debug!(
                    "closing connection from {}: no connect request within {:?}",
                    act.peer,
                    HANDSHAKE_TIMEOUT
                );
                act.close(ctx);
            }
        });
        self.tree.do_send(Register {
            conn: self.id,
            addr: self.peer.to_string(),
            client: ctx.address().recipient(),
            x509: self.x509.take(),
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.tree.do_send(Unregister(self.id));
        self.listener.do_send(ConnClosed(self.peer.ip()));
    }
}

/// The frames one socket read held (at most [`READ_BATCH`]).
pub type ReadBatch = Vec<Result<Frame, FrameError>>;

/// Frames taken from one read before the requests go to the tree together.
pub const READ_BATCH: usize = 16;

impl StreamHandler<ReadBatch> for ClientConnection {
    fn handle(&mut self, items: ReadBatch, ctx: &mut Context<Self>) {
        let bytes: usize = items
            .iter()
            .map(|i| match i {
                Ok(Frame::Packet(b)) => b.len() + 4,
                Ok(Frame::FourLetter(_)) => 4,
                Err(_) => 0,
            })
            .sum();
        crate::metrics::SERVER
            .bytes_received_count
            .add(bytes as u64);
        for item in items {
            self.frame(item, ctx);
        }
        if !self.batch.is_empty() {
            self.tree
                .do_send(ClientRequests(std::mem::take(&mut self.batch)));
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The client closed its side.
        ctx.stop();
    }
}

impl ClientConnection {
    fn frame(&mut self, item: Result<Frame, FrameError>, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        match item {
            Ok(Frame::Packet(b)) => self.packet(b, ctx),
            Ok(Frame::FourLetter(word)) => {
                self.handshake_done = true;
                self.closing = true;
                self.tree
                    .send(FourLetter(word))
                    .into_actor(self)
                    .map(|res, act, ctx| {
                        act.closing = false;
                        if let Ok(text) = res {
                            act.send(Bytes::from(text), ctx);
                        }
                        act.close(ctx);
                    })
                    .wait(ctx);
            }
            Err(FrameError::TooLarge { len, max }) => {
                tracing::warn!(
                    "closing connection from {} (session 0x{:x}): packet of {len} bytes exceeds jute.maxbuffer = {max} (set server.jute_max_buffer to raise it)",
                    self.peer,
                    self.session
                );
                self.close(ctx);
            }
            Err(FrameError::Io(e)) => {
                tracing::debug!("connection from {} failed: {e}", self.peer);
                ctx.stop();
            }
        }
    }
}

impl Handler<ToClients> for ClientConnection {
    type Result = ();
    fn handle(&mut self, m: ToClients, ctx: &mut Context<Self>) {
        for item in m.0 {
            self.deliver(item, ctx);
        }
    }
}

impl ClientConnection {
    fn deliver(&mut self, m: ToClient, ctx: &mut Context<Self>) {
        match m {
            ToClient::Frame(b) => self.send(b, ctx),
            ToClient::Reply(b) => {
                self.in_flight.done();
                self.send(b, ctx);
            }
            ToClient::Close => self.close(ctx),
            ToClient::Session(id) => {
                self.session = id;
                self.last_touch = Instant::now();
            }
        }
    }
}

/// Writes the queued frames, several per `writev`, as long as the socket takes them; once the
/// connection closes and the queue is written, shuts the write side down.
struct Flush {
    sock: ClientSocket,
}

impl ActorFuture<ClientConnection> for Flush {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut ClientConnection,
        ctx: &mut Context<ClientConnection>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if act.out.is_empty() {
                // TLS keeps what was written in its session until flushed (plain: a no-op).
                match Pin::new(&mut this.sock).poll_flush(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Pending => {
                        act.out.wait(cx.waker());
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(_)) => {
                        tracing::debug!("write to {} failed", act.peer);
                        ctx.stop();
                        return Poll::Ready(());
                    }
                }
                if act.closing {
                    // Everything is written: the client sees the end of the stream after the
                    // last reply, and the connection is done.
                    if Pin::new(&mut this.sock).poll_shutdown(cx).is_pending() {
                        return Poll::Pending;
                    }
                    ctx.stop();
                    return Poll::Ready(());
                }
                act.out.wait(cx.waker());
                return Poll::Pending;
            }
            let written = {
                let slices = act.out.slices();
                Pin::new(&mut this.sock).poll_write_vectored(cx, &slices)
            };
            match written {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    tracing::debug!("write to {} failed", act.peer);
                    act.out.clear();
                    ctx.stop();
                    return Poll::Ready(());
                }
                Poll::Ready(Ok(n)) => {
                    act.out.consume(n);
                    act.update_gate();
                }
            }
        }
    }
}
