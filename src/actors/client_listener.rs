//! ClientListener: accepts client sockets, enforces maxClientCnxns per IP, and starts one
//! ClientConnection per socket on one of the IO arbiters.

use super::client_connection::{ClientConnection, READ_BATCH};
use super::client_io::{Gate, Gated, Limits};
use super::data_tree::DataTreeActor;
use super::session_tracker::SessionTracker;
use crate::codec::jute::frame::FrameCodec;
use actix::prelude::*;
use futures::StreamExt;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;
use tokio_util::codec::FramedRead;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// A connection's first read buffer; it grows with what the client sends. Most requests are
/// well under 1 KiB, and an idle connection then holds little (the default 8 KiB made 10,000
/// idle connections cost 67 MB).
const READ_BUFFER: usize = 1024;

#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnClosed(pub IpAddr);

pub struct ClientListener {
    listener: Option<TcpListener>,
    tree: Addr<DataTreeActor>,
    tracker: Option<Addr<SessionTracker>>,
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: usize,
    per_ip: HashMap<IpAddr, u32>,
    max_per_ip: u32,
    max_buffer: u32,
    limits: Limits,
    tick_ms: u64,
}

impl ClientListener {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        listener: TcpListener,
        tree: Addr<DataTreeActor>,
        tracker: Option<Addr<SessionTracker>>,
        arbiters: Vec<ArbiterHandle>,
        max_per_ip: u32,
        max_buffer: u32,
        limits: Limits,
        tick_ms: u64,
    ) -> Self {
        ClientListener {
            listener: Some(listener),
            tree,
            tracker,
            arbiters,
            next_arbiter: 0,
            per_ip: HashMap::new(),
            max_per_ip,
            max_buffer,
            limits,
            tick_ms,
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Accepted(std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)>);

impl Actor for ClientListener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(l) = self.listener.take() {
            let accepts = futures::stream::unfold(l, |l| async move {
                let r = l.accept().await;
                Some((Accepted(r), l))
            });
            ctx.add_stream(accepts);
        }
    }
}

impl StreamHandler<Accepted> for ClientListener {
    fn handle(&mut self, item: Accepted, ctx: &mut Context<Self>) {
        let (stream, peer) = match item.0 {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                return;
            }
        };
        let ip = peer.ip();
        let count = self.per_ip.entry(ip).or_insert(0);
        if self.max_per_ip > 0 && *count >= self.max_per_ip {
            tracing::warn!(
                "too many connections from {ip} - max is {} (server.max_client_cnxns)",
                self.max_per_ip
            );
            drop(stream);
            crate::metrics::SERVER.connection_rejected.inc();
            return;
        }
        *count += 1;
        crate::metrics::SERVER.connection_request_count.inc();
        let _ = stream.set_nodelay(true);
        let std_stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot hand over connection from {peer}: {e}");
                return;
            }
        };
        let id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
        let tree = self.tree.clone();
        let tracker = self.tracker.clone();
        let me = ctx.address().recipient();
        let max = self.max_buffer;
        let tick = self.tick_ms;
        let limits = self.limits.clone();
        let arbiter = &self.arbiters[self.next_arbiter % self.arbiters.len().max(1)];
        self.next_arbiter += 1;
        arbiter.spawn_fn(move || {
            // Register the socket with this arbiter's reactor.
            let stream = match tokio::net::TcpStream::from_std(std_stream) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("cannot register connection from {peer}: {e}");
                    me.do_send(ConnClosed(peer.ip()));
                    return;
                }
            };
            let (r, w) = stream.into_split();
            ClientConnection::create(move |ctx| {
                let gate = Rc::new(Gate::default());
                ctx.add_stream(
                    Gated::new(
                        FramedRead::with_capacity(r, FrameCodec::new(max), READ_BUFFER),
                        gate.clone(),
                    )
                    .ready_chunks(READ_BATCH),
                );
                ClientConnection::new(id, peer, tree, tracker, me, w, gate, limits, tick)
            });
        });
    }
}

impl Handler<ConnClosed> for ClientListener {
    type Result = ();
    fn handle(&mut self, m: ConnClosed, _: &mut Context<Self>) {
        if let Some(c) = self.per_ip.get_mut(&m.0) {
            *c = c.saturating_sub(1);
            if *c == 0 {
                self.per_ip.remove(&m.0);
            }
        }
    }
}
