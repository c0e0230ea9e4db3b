//! ClientListener: accepts client sockets, enforces maxClientCnxns per IP, and starts one
//! ClientConnection per socket on one of the IO arbiters.

use super::client_connection::{ClientConnection, READ_BATCH};
use super::client_io::{ClientSocket, Gate, Gated, Limits};
use super::data_tree::DataTreeActor;
use super::session_tracker::SessionTracker;
use crate::codec::jute::frame::FrameCodec;
use crate::tls::{ClientTls, X509Peer};
use actix::prelude::*;
use futures::StreamExt;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
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
    /// The secure client port's TLS; `None` on the plain port.
    tls: Option<Arc<ClientTls>>,
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
            tls: None,
        }
    }

    /// This listener is the secure client port: every connection begins with a TLS handshake.
    pub fn with_tls(mut self, tls: Arc<ClientTls>) -> Self {
        self.tls = Some(tls);
        self
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
        let start = Start {
            id,
            peer,
            tree: self.tree.clone(),
            tracker: self.tracker.clone(),
            listener: ctx.address().recipient(),
            max_buffer: self.max_buffer,
            limits: self.limits.clone(),
            tick_ms: self.tick_ms,
        };
        let tls = self.tls.clone();
        let arbiter = &self.arbiters[self.next_arbiter % self.arbiters.len().max(1)];
        self.next_arbiter += 1;
        arbiter.spawn_fn(move || {
            // Register the socket with this arbiter's reactor.
            let stream = match tokio::net::TcpStream::from_std(std_stream) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("cannot register connection from {peer}: {e}");
                    start.listener.do_send(ConnClosed(peer.ip()));
                    return;
                }
            };
            let Some(tls) = tls else {
                let (r, w) = stream.into_split();
                start.run(r, ClientSocket::Plain(w), None);
                return;
            };
            // The TLS handshake, bounded in time as the connect request is: a client that
            // opens the secure port and says nothing holds nothing for long.
            let acceptor = tls.acceptor();
            actix::spawn(async move {
                let shake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                match shake.await {
                    Ok(Ok(stream)) => {
                        let x509 = tls.peer(stream.get_ref().1);
                        if let Some(x) = &x509 {
                            tracing::debug!("TLS client {peer} authenticated as x509 `{}`", x.dn);
                        }
                        let (r, w) = tokio::io::split(stream);
                        start.run(r, ClientSocket::Tls(w), x509);
                    }
                    Ok(Err(e)) => {
                        tracing::warn!("TLS handshake with {peer} failed: {e}");
                        crate::metrics::SERVER.unsuccessful_handshake.inc();
                        start.listener.do_send(ConnClosed(peer.ip()));
                    }
                    Err(_) => {
                        tracing::info!(
                            "TLS handshake with {peer} not done within {TLS_HANDSHAKE_TIMEOUT:?}, \
                             closed"
                        );
                        crate::metrics::SERVER.unsuccessful_handshake.inc();
                        start.listener.do_send(ConnClosed(peer.ip()));
                    }
                }
            });
        });
    }
}

/// A TLS client that has not finished its handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a new connection's actor is made of, but its socket.
struct Start {
    id: u64,
    peer: std::net::SocketAddr,
    tree: Addr<DataTreeActor>,
    tracker: Option<Addr<SessionTracker>>,
    listener: Recipient<ConnClosed>,
    max_buffer: u32,
    limits: Limits,
    tick_ms: u64,
}

impl Start {
    /// The connection's actor, on the calling arbiter.
    fn run<R>(self, r: R, w: ClientSocket, x509: Option<X509Peer>)
    where
        R: tokio::io::AsyncRead + Unpin + 'static,
    {
        ClientConnection::create(move |ctx| {
            let gate = Rc::new(Gate::default());
            ctx.add_stream(
                Gated::new(
                    FramedRead::with_capacity(r, FrameCodec::new(self.max_buffer), READ_BUFFER),
                    gate.clone(),
                )
                .ready_chunks(READ_BATCH),
            );
            ClientConnection::new(
                self.id,
                self.peer,
                self.tree,
                self.tracker,
                self.listener,
                w,
                x509,
                gate,
                self.limits,
                self.tick_ms,
            )
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
