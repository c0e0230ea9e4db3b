//! ClientConnection: one actor per client socket. It frames and decodes what the client sends,
//! forwards it to the tree actor in order, and writes back the frames it is given. A bad frame
//! closes this connection only.

use super::client_listener::ConnClosed;
use super::data_tree::{
    ClientRequest, Connect, DataTreeActor, FourLetter, Register, ToClient, Unregister,
};
use super::session_tracker::{SessionTracker, Touch};
use crate::codec::jute::frame::{Frame, FrameCodec, FrameError};
use crate::codec::jute::{op, ConnectRequest, Reader, Request};
use crate::datatree::watch::ConnId;
use actix::io::{FramedWrite, WriteHandler};
use actix::prelude::*;
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::tcp::OwnedWriteHalf;

pub struct ClientConnection {
    id: ConnId,
    peer: SocketAddr,
    tree: Addr<DataTreeActor>,
    tracker: Option<Addr<SessionTracker>>,
    listener: Recipient<ConnClosed>,
    writer: FramedWrite<Bytes, OwnedWriteHalf, FrameCodec>,
    handshake_done: bool,
    session: i64,
    last_touch: Instant,
    touch_every: Duration,
    closing: bool,
}

impl ClientConnection {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: ConnId,
        peer: SocketAddr,
        tree: Addr<DataTreeActor>,
        tracker: Option<Addr<SessionTracker>>,
        listener: Recipient<ConnClosed>,
        writer: FramedWrite<Bytes, OwnedWriteHalf, FrameCodec>,
        tick_ms: u64,
    ) -> Self {
        ClientConnection {
            id,
            peer,
            tree,
            tracker,
            listener,
            writer,
            handshake_done: false,
            session: 0,
            last_touch: Instant::now(),
            // Touching more often than a fraction of a tick changes no deadline.
            touch_every: Duration::from_millis((tick_ms / 4).max(1)),
            closing: false,
        }
    }

    fn close(&mut self, ctx: &mut Context<Self>) {
        if !self.closing {
            self.closing = true;
            self.writer.close();
            // If the peer never reads, do not wait for the flush forever.
            ctx.run_later(Duration::from_secs(5), |_, ctx| ctx.stop());
        }
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
        match Request::read(opcode, &body) {
            Ok(req) => self.tree.do_send(ClientRequest {
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
                self.tree.do_send(ClientRequest {
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
        self.tree.do_send(Register {
            conn: self.id,
            addr: self.peer.to_string(),
            client: ctx.address().recipient(),
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.tree.do_send(Unregister(self.id));
        self.listener.do_send(ConnClosed(self.peer.ip()));
    }
}

impl StreamHandler<Result<Frame, FrameError>> for ClientConnection {
    fn handle(&mut self, item: Result<Frame, FrameError>, ctx: &mut Context<Self>) {
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
                        if let Ok(text) = res {
                            act.writer.write(Bytes::from(text));
                        }
                        act.closing = false;
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

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The client closed its side.
        ctx.stop();
    }
}

impl Handler<ToClient> for ClientConnection {
    type Result = ();
    fn handle(&mut self, m: ToClient, ctx: &mut Context<Self>) {
        match m {
            ToClient::Frame(b) => {
                if !self.closing {
                    self.writer.write(b);
                }
            }
            ToClient::Close => self.close(ctx),
            ToClient::Session(id) => {
                self.session = id;
                self.last_touch = Instant::now();
            }
        }
    }
}

impl WriteHandler<FrameError> for ClientConnection {
    fn error(&mut self, err: FrameError, _: &mut Self::Context) -> Running {
        tracing::debug!("write to {} failed: {err}", self.peer);
        Running::Stop
    }
}
