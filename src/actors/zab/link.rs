//! The quorum links: one `ZabLink` actor per TCP connection on the quorum port, reading and
//! decoding peer messages in batches for the ZabActor, and the `Link` handle it sends through.

use super::*;

/// Marks messages of a role that has since ended.
pub(super) type Gen = u64;
/// The generation of links accepted before this server knew its role.
pub(super) const PARKED: Gen = u64::MAX;

// ---------------------------------------------------------------- links

/// One TCP link of the quorum port (either end).
pub struct ZabLink {
    pub(super) owner: Addr<ZabActor>,
    pub(super) id: u64,
    pub(super) gen: Gen,
    pub(super) writer: Arc<LinkWriter>,
    /// Accepted links must say something (their Hello) within [`HELLO_TIMEOUT`]: a socket that
    /// sends nothing is not a server and must not be held forever.
    pub(super) accepted: bool,
    pub(super) heard: bool,
    /// The socket could not be set up on its thread: stop at once.
    pub(super) broken: bool,
}

/// How long an accepted quorum link may stay silent before its Hello.
pub(super) const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

impl Actor for ZabLink {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.broken {
            ctx.stop();
            return;
        }
        if self.accepted {
            ctx.run_later(HELLO_TIMEOUT, |act, ctx| {
                if !act.heard {
                    tracing::warn!(
                        "quorum link {}: no Hello within {HELLO_TIMEOUT:?}; closing it",
                        act.id
                    );
                    ctx.stop();
                }
            });
        }
        let w = self.writer.clone();
        ctx.spawn(
            async move { w.flush().await }
                .into_actor(self)
                .map(|r, act, ctx| {
                    if let Err(e) = r {
                        tracing::warn!("quorum link {}: {e}; closing it", act.id);
                    }
                    ctx.stop();
                }),
        );
    }
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.writer.close();
        self.owner.do_send(LinkClosed {
            link: self.id,
            gen: self.gen,
        });
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct LinkMsg {
    pub(super) link: u64,
    pub(super) gen: Gen,
    pub(super) msgs: Vec<PeerMessage>,
}

/// The ZAB actor's side of its links, in the order they happened.
pub(super) enum LinkEvent {
    Msg(u64, Gen, PeerMessage),
    Closed(u64, Gen),
}

/// Go on with the link events that waited behind a `ctx.wait`.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct DrainLinks;

#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct LinkClosed {
    pub(super) link: u64,
    pub(super) gen: Gen,
}

#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct CloseLink;

/// What a link read in one go: every message its socket had ready, in order.
pub(super) type ReadBatch = Vec<Result<PeerMessage, PeerCodecError>>;

/// Messages read at once travel to the ZAB actor as one batch: under load a socket read holds
/// several ACKs or REQUESTs, and one hand-over between threads per read costs less than one
/// per message.
pub(super) const MAX_BATCH: usize = 64;

impl StreamHandler<ReadBatch> for ZabLink {
    fn handle(&mut self, batch: ReadBatch, ctx: &mut Context<Self>) {
        self.heard = true;
        let mut msgs = Vec::with_capacity(batch.len());
        let mut failed = None;
        for item in batch {
            match item {
                Ok(m) => msgs.push(m),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if !msgs.is_empty() {
            self.owner.do_send(LinkMsg {
                link: self.id,
                gen: self.gen,
                msgs,
            });
        }
        if let Some(e) = failed {
            tracing::warn!("quorum link {}: {e}; closing it", self.id);
            ctx.stop();
        }
    }
    fn finished(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<CloseLink> for ZabLink {
    type Result = ();
    fn handle(&mut self, _: CloseLink, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// A quorum link as the ZAB actor holds it: the actor that reads it (and closes it) and its
/// sending side, which the actor and the log writer write to directly.
#[derive(Clone)]
pub(super) struct Link {
    pub(super) addr: Addr<ZabLink>,
    pub(super) writer: Arc<LinkWriter>,
    /// The peer protocol version its Hello named (0 until then).
    pub(super) version: u32,
}

impl Link {
    pub(super) fn send(&self, m: PeerMessage) {
        self.writer.queue(m);
    }

    pub(super) fn close(&self) {
        self.addr.do_send(CloseLink);
    }
}

/// Messages the leader sends alike to several learners, by kind and zxid: within one batch of
/// actions a zxid names one txn, so equal keys are equal messages.
pub(super) fn broadcast_key(m: &PeerMessage) -> Option<(u8, i64)> {
    match m {
        PeerMessage::Proposal { txn, .. } => Some((0, txn.zxid)),
        PeerMessage::Commit { zxid, .. } => Some((1, *zxid)),
        PeerMessage::Inform { txn, .. } => Some((2, txn.zxid)),
        _ => None,
    }
}

/// Start the actor of one quorum link: on `thread` (one of `quorum.io_threads`) when given, else
/// on the caller's. Either way the returned [`Link`] can be sent to at once.
pub(super) fn spawn_link(
    stream: TcpStream,
    owner: Addr<ZabActor>,
    id: u64,
    gen: Gen,
    accepted: bool,
    thread: Option<ArbiterHandle>,
) -> Link {
    let _ = stream.set_nodelay(true);
    let writer = Arc::new(LinkWriter::detached());
    let shared = writer.clone();
    let link = move |ctx: &mut Context<ZabLink>, stream: std::io::Result<TcpStream>| {
        let mut broken = false;
        match stream {
            Ok(stream) => {
                let (r, w) = stream.into_split();
                writer.attach(w);
                ctx.add_stream(FramedRead::new(r, PeerCodec).ready_chunks(MAX_BATCH));
            }
            Err(e) => {
                tracing::warn!("quorum link {id}: cannot move it to its IO thread: {e}");
                broken = true;
            }
        }
        ZabLink {
            owner,
            id,
            gen,
            writer,
            accepted,
            heard: false,
            broken,
        }
    };
    let addr = match (thread, stream.into_std()) {
        (Some(thread), Ok(std_stream)) => ZabLink::start_in_arbiter(&thread, move |ctx| {
            // Registered with this thread's reactor: its reads and writes happen here.
            link(ctx, TcpStream::from_std(std_stream))
        }),
        (None, Ok(std_stream)) => {
            ZabLink::create(move |ctx| link(ctx, TcpStream::from_std(std_stream)))
        }
        (_, Err(e)) => ZabLink::create(move |ctx| link(ctx, Err(e))),
    };
    Link {
        addr,
        writer: shared,
        version: 0,
    }
}

// ---------------------------------------------------------------- the actor
