//! ZabActor: a server's role in an ensemble. It runs the election actor, and after each
//! election the pure leader or learner machine (proto::zab) over TCP links on the quorum port,
//! carrying out what the machines ask: persisting epochs, logging proposals through the
//! Persister, committing into the tree actor, streaming snapshots. Losing the leader or the
//! quorum sends it back to election, after bringing the tree to the end of the log.

use super::data_tree::{
    ApplyCommitted, CatchUp, Commit, DataTreeActor, FromTree, InstallSnapshot, LearnerSyncDone,
    Reload, RemoteCreateSession, RemoteRequest, RemoteSync, RevalidateSession, Revalidated,
    SetRole, SetServing, Touches, TreeSnapshot, Window, WriteSnapshot,
};
use super::election::{start_election, Elected, ElectionActor, Established, LookForLeader};
use super::link_writer::{LinkWriter, SharedFrame};
use super::persister::Persister;
use super::quorum_hooks::{AckWhenDurable, AnnounceWhenDurable};
use super::session_tracker::{SessionTracker, TakeTouches};
use crate::codec::jute::op;
use crate::codec::peer::{
    supported_version, PeerCodec, PeerCodecError, PeerMessage, CUMULATIVE_SINCE, LOGGED_SINCE,
    PROTOCOL_VERSION,
};
use crate::datatree::acl::AuthInfo;
use crate::engine::{Forward, Role};
use crate::error::Fatal;
use crate::proto::quorum::QuorumVerifier;
use crate::proto::vote::{PeerState, Vote};
use crate::proto::zab::leader::{self, Leader};
use crate::proto::zab::learner::{self, Learner};
use crate::proto::zab::sync::make_zxid;
use crate::settings::{Member, Settings};
use crate::storage::epoch::{read_epoch, write_epoch};
use crate::storage::{snapshot, version_dir};
use actix::prelude::*;
use futures::StreamExt;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::FramedRead;

/// Marks messages of a role that has since ended.
type Gen = u64;
/// The generation of links accepted before this server knew its role.
const PARKED: Gen = u64::MAX;

// ---------------------------------------------------------------- links

/// One TCP link of the quorum port (either end).
pub struct ZabLink {
    owner: Addr<ZabActor>,
    id: u64,
    gen: Gen,
    writer: Arc<LinkWriter>,
    /// Accepted links must say something (their Hello) within [`HELLO_TIMEOUT`]: a socket that
    /// sends nothing is not a server and must not be held forever.
    accepted: bool,
    heard: bool,
    /// The socket could not be set up on its thread: stop at once.
    broken: bool,
}

/// How long an accepted quorum link may stay silent before its Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

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
struct LinkMsg {
    link: u64,
    gen: Gen,
    msgs: Vec<PeerMessage>,
}

/// The ZAB actor's side of its links, in the order they happened.
enum LinkEvent {
    Msg(u64, Gen, PeerMessage),
    Closed(u64, Gen),
}

/// Go on with the link events that waited behind a `ctx.wait`.
#[derive(Message)]
#[rtype(result = "()")]
struct DrainLinks;

#[derive(Message)]
#[rtype(result = "()")]
struct LinkClosed {
    link: u64,
    gen: Gen,
}

#[derive(Message)]
#[rtype(result = "()")]
struct CloseLink;

/// What a link read in one go: every message its socket had ready, in order.
type ReadBatch = Vec<Result<PeerMessage, PeerCodecError>>;

/// Messages read at once travel to the ZAB actor as one batch: under load a socket read holds
/// several ACKs or REQUESTs, and one hand-over between threads per read costs less than one
/// per message.
const MAX_BATCH: usize = 64;

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
struct Link {
    addr: Addr<ZabLink>,
    writer: Arc<LinkWriter>,
    /// The peer protocol version its Hello named (0 until then).
    version: u32,
}

impl Link {
    fn send(&self, m: PeerMessage) {
        self.writer.queue(m);
    }

    fn close(&self) {
        self.addr.do_send(CloseLink);
    }
}

/// Messages the leader sends alike to several learners, by kind and zxid: within one batch of
/// actions a zxid names one txn, so equal keys are equal messages.
fn broadcast_key(m: &PeerMessage) -> Option<(u8, i64)> {
    match m {
        PeerMessage::Proposal { txn, .. } => Some((0, txn.zxid)),
        PeerMessage::Commit { zxid, .. } => Some((1, *zxid)),
        PeerMessage::Inform { txn, .. } => Some((2, txn.zxid)),
        _ => None,
    }
}

/// Start the actor of one quorum link: on `thread` (one of `quorum.io_threads`) when given, else
/// on the caller's. Either way the returned [`Link`] can be sent to at once.
fn spawn_link(
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

/// A snapshot being received from the leader: zxid, sessions, nodes.
type IncomingSnapshot = (
    i64,
    Vec<(i64, i32)>,
    Vec<crate::storage::snapshot::SnapNode>,
);

enum State {
    Looking,
    Leading {
        machine: Box<Leader>,
        /// link id -> server id, once the learner said Hello.
        learners: HashMap<u64, u64>,
        links: HashMap<u64, Link>,
        /// The log writer's `Logged` to the learners, after each fsync.
        announce: Arc<AnnounceWhenDurable>,
    },
    Learning {
        machine: Box<Learner>,
        leader: u64,
        link: Option<Link>,
        snap: Option<IncomingSnapshot>,
        /// The log writer's ACKs on the leader link, after each fsync.
        acks: Option<Arc<AckWhenDurable>>,
    },
}

pub struct ZabActor {
    me: u64,
    members: Vec<Member>,
    quorum: QuorumVerifier,
    settings: Settings,
    tree: Addr<DataTreeActor>,
    tracker: Addr<SessionTracker>,
    persister: Persister,
    election: Option<Addr<ElectionActor>>,
    state: State,
    gen: Gen,
    next_link: u64,
    /// Where quorum links run (`quorum.io_threads`); empty = on this actor's thread.
    link_threads: Vec<ArbiterHandle>,
    next_thread: usize,
    /// Link events not handled yet (see [`ZabActor::drain_links`]).
    link_events: std::collections::VecDeque<LinkEvent>,
    accepted_epoch: u32,
    current_epoch: u32,
    epoch_dir: PathBuf,
    started: Instant,
    /// The clock read once for a whole drain of link events (a read per message showed).
    drain_now: Option<u64>,
    vote: Option<Vote>,
    /// The quorum port, bound before start; registered with the arbiter's reactor once the
    /// actor runs there.
    listener: Option<std::net::TcpListener>,
    /// Links learners opened before this server knew it leads: kept, with what they sent,
    /// until it does (or follows someone else).
    parked: HashMap<u64, Link>,
    parked_msgs: Vec<(u64, PeerMessage)>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Accepted(std::io::Result<(TcpStream, std::net::SocketAddr)>);

#[derive(Message)]
#[rtype(result = "()")]
struct Tick;

impl ZabActor {
    /// Run quorum links on these threads, round robin (none: on this actor's thread).
    pub fn with_link_threads(mut self, threads: Vec<ArbiterHandle>) -> Self {
        self.link_threads = threads;
        self
    }

    fn link_thread(&mut self) -> Option<ArbiterHandle> {
        if self.link_threads.is_empty() {
            return None;
        }
        self.next_thread = self.next_thread.wrapping_add(1);
        Some(self.link_threads[self.next_thread % self.link_threads.len()].clone())
    }

    pub fn new(
        settings: Settings,
        members: Vec<Member>,
        tree: Addr<DataTreeActor>,
        tracker: Addr<SessionTracker>,
        persister: Persister,
        listener: std::net::TcpListener,
    ) -> Result<ZabActor, String> {
        let me = settings.server.id;
        let quorum = QuorumVerifier::new(
            members.iter().filter(|m| !m.observer).map(|m| m.id),
            members.iter().filter(|m| m.observer).map(|m| m.id),
        );
        let epoch_dir = version_dir(&settings.storage.data_dir);
        let accepted_epoch = read_epoch(&epoch_dir.join("acceptedEpoch"))?.unwrap_or(0) as u32;
        let current_epoch = read_epoch(&epoch_dir.join("currentEpoch"))?.unwrap_or(0) as u32;
        if accepted_epoch < current_epoch {
            return Err(format!(
                "acceptedEpoch {accepted_epoch} is older than currentEpoch {current_epoch} in {}: refusing to start",
                epoch_dir.display()
            ));
        }
        Ok(ZabActor {
            me,
            members,
            quorum,
            settings,
            tree,
            tracker,
            persister,
            election: None,
            state: State::Looking,
            gen: 0,
            next_link: 0,
            link_threads: Vec::new(),
            next_thread: 0,
            link_events: Default::default(),
            accepted_epoch,
            current_epoch,
            epoch_dir,
            started: Instant::now(),
            drain_now: None,
            vote: None,
            listener: Some(listener),
            parked: HashMap::new(),
            parked_msgs: Vec::new(),
        })
    }

    fn now(&self) -> u64 {
        if let Some(now) = self.drain_now {
            return now;
        }
        self.started.elapsed().as_millis() as u64
    }

    fn tick_ms(&self) -> u64 {
        self.settings.server.tick_time
    }

    fn persist_epoch(&mut self, name: &str, e: u32) -> bool {
        match write_epoch(&self.epoch_dir.join(name), e as u64) {
            Ok(()) => true,
            Err(err) => {
                tracing::error!("cannot write {name} {e}: {err}");
                false
            }
        }
    }

    /// Back to election: drop the role, bring the tree to the log's end, vote with it.
    fn look(&mut self, why: &str, ctx: &mut Context<Self>) {
        tracing::info!("LOOKING: {why}");
        self.gen += 1;
        self.close_links();
        self.state = State::Looking;
        self.tree.do_send(SetRole {
            role: Role::Learner,
            zab: None,
            mode: "looking",
        });
        let tree = self.tree.clone();
        let election = self.election.clone();
        let epoch = self.current_epoch;
        let persister = self.persister.clone();
        ctx.wait(
            async move {
                // The vote must carry the log's durable end, and the tree must not read a
                // segment the writer is still appending to.
                persister.barrier().await;
                let last = tree
                    .send(CatchUp)
                    .await
                    .ok()
                    .and_then(|r| r.ok())
                    .unwrap_or(0);
                if let Some(e) = election {
                    e.do_send(LookForLeader {
                        last_zxid: last,
                        current_epoch: epoch as u64,
                    });
                }
            }
            .into_actor(self),
        );
    }

    fn close_links(&mut self) {
        match &mut self.state {
            State::Leading { links, .. } => {
                for l in links.values() {
                    l.close();
                }
                links.clear();
            }
            State::Learning { link, .. } => {
                if let Some(l) = link.take() {
                    l.close();
                }
            }
            State::Looking => {}
        }
    }

    fn lead(&mut self, vote: Vote, ctx: &mut Context<Self>) {
        self.gen += 1;
        self.close_links();
        let me = ctx.address();
        self.tree.do_send(SetRole {
            role: Role::Leader,
            zab: Some(me.recipient()),
            mode: "leader",
        });
        let tree = self.tree.clone();
        ctx.wait(
            // The tree already holds the whole log: look() (or start-up recovery) rebuilt it
            // from disk and nothing has been applied since.
            async move { tree.send(Window).await.unwrap_or_default() }
                .into_actor(self)
                .map(move |(window, last), act, ctx| {
                    let init = act.tick_ms() * act.settings.server.init_limit as u64;
                    let sync = act.tick_ms() * act.settings.server.sync_limit as u64;
                    let machine = Leader::new(
                        act.me,
                        act.quorum.clone(),
                        act.accepted_epoch,
                        act.current_epoch,
                        last,
                        window,
                        act.now(),
                        init,
                        sync,
                    );
                    act.state = State::Leading {
                        machine: Box::new(machine),
                        learners: HashMap::new(),
                        links: std::mem::take(&mut act.parked),
                        announce: Arc::default(),
                    };
                    act.vote = Some(vote);
                    tracing::info!("LEADING: waiting for followers (last zxid 0x{last:x})");
                    for (link, msg) in std::mem::take(&mut act.parked_msgs) {
                        act.on_leader_link(link, msg, ctx);
                    }
                }),
        );
    }

    fn follow(&mut self, leader: u64, vote: Vote, ctx: &mut Context<Self>) {
        self.gen += 1;
        self.close_links();
        for (_, l) in self.parked.drain() {
            l.close();
        }
        self.parked_msgs.clear();
        let observer = self.quorum.is_observer(self.me);
        self.tree.do_send(SetRole {
            role: Role::Learner,
            zab: Some(ctx.address().recipient()),
            mode: if observer { "observer" } else { "follower" },
        });
        self.vote = Some(vote);
        let Some(addr) = self
            .members
            .iter()
            .find(|m| m.id == leader)
            .map(|m| m.quorum_addr())
        else {
            self.look("the elected leader is not in the configuration", ctx);
            return;
        };
        let tree = self.tree.clone();
        let gen = self.gen;
        let init = self.tick_ms() * self.settings.server.init_limit as u64;
        let dial = addr.clone();
        ctx.wait(
            async move {
                let addr = dial;
                let last = tree.send(Window).await.map(|w| w.1).unwrap_or(0);
                let deadline = Instant::now() + Duration::from_millis(init);
                loop {
                    match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&addr))
                        .await
                    {
                        Ok(Ok(s)) => return (last, Ok(s)),
                        Ok(Err(e)) if Instant::now() >= deadline => {
                            return (last, Err(e.to_string()))
                        }
                        Err(_) if Instant::now() >= deadline => {
                            return (last, Err("timed out".into()))
                        }
                        _ => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            }
            .into_actor(self)
            .map(move |(last, conn), act, ctx| {
                if act.gen != gen {
                    return;
                }
                let stream = match conn {
                    Ok(s) => s,
                    Err(e) => {
                        act.look(&format!("cannot reach leader {leader} at {addr}: {e}"), ctx);
                        return;
                    }
                };
                act.next_link += 1;
                let link = spawn_link(
                    stream,
                    ctx.address(),
                    act.next_link,
                    gen,
                    false,
                    act.link_thread(),
                );
                link.send(PeerMessage::Hello {
                    version: PROTOCOL_VERSION,
                    sid: act.me,
                });
                let init = act.tick_ms() * act.settings.server.init_limit as u64;
                let sync = act.tick_ms() * act.settings.server.sync_limit as u64;
                let mut machine = Learner::new(
                    act.me,
                    observer,
                    act.accepted_epoch,
                    act.current_epoch,
                    last,
                    act.now(),
                    init,
                    sync,
                )
                .with_leader(&act.quorum, leader);
                let actions = machine.start();
                let acks = AckWhenDurable::new(link.writer.clone());
                act.state = State::Learning {
                    machine: Box::new(machine),
                    leader,
                    link: Some(link),
                    snap: None,
                    acks: Some(acks),
                };
                tracing::info!(
                    "{}: connected to leader {leader}",
                    if observer { "OBSERVING" } else { "FOLLOWING" }
                );
                act.learner_actions(actions, ctx);
            }),
        );
    }

    fn leader_actions(&mut self, actions: Vec<leader::Action>, ctx: &mut Context<Self>) {
        let mut rest = actions.into_iter();
        // The machine sends each PROPOSAL / COMMIT / INFORM to its learners one after another:
        // they share one frame, encoded once.
        let mut shared: Option<((u8, i64), Arc<SharedFrame>)> = None;
        while let Some(a) = rest.next() {
            match a {
                leader::Action::Send(sid, m) => match broadcast_key(&m) {
                    Some(key) => {
                        let frame = match &shared {
                            Some((k, f)) if *k == key => f.clone(),
                            _ => {
                                let f = SharedFrame::new(m);
                                shared = Some((key, f.clone()));
                                f
                            }
                        };
                        if let Some(l) = self.learner_link(sid) {
                            l.writer.queue_shared(frame);
                        }
                    }
                    None => self.send_to_learner(sid, m),
                },
                leader::Action::PersistAcceptedEpoch(e) => {
                    if self.persist_epoch("acceptedEpoch", e) {
                        self.accepted_epoch = e;
                    }
                }
                leader::Action::PersistCurrentEpoch(e) => {
                    if self.persist_epoch("currentEpoch", e) {
                        self.current_epoch = e;
                    }
                }
                leader::Action::SendSnapshot(sid) => {
                    // Stream the tree, then go on with the actions after it, in order.
                    let tree = self.tree.clone();
                    let remaining: Vec<leader::Action> = rest.collect();
                    let gen = self.gen;
                    ctx.wait(
                        tree.send(TreeSnapshot)
                            .into_actor(self)
                            .map(move |r, act, ctx| {
                                if act.gen != gen {
                                    return;
                                }
                                if let Ok((zxid, sessions, nodes)) = r {
                                    act.send_to_learner(sid, PeerMessage::Snap { zxid });
                                    act.send_to_learner(sid, PeerMessage::SnapSessions(sessions));
                                    // Chunks of a few MiB, whatever the node sizes.
                                    let mut chunk = Vec::new();
                                    let mut bytes = 0;
                                    for n in nodes {
                                        bytes += n.path.len()
                                            + n.data.as_ref().map_or(0, |d| d.len())
                                            + 128;
                                        chunk.push(n);
                                        if bytes > (4 << 20) || chunk.len() >= 10_000 {
                                            let c = std::mem::take(&mut chunk);
                                            act.send_to_learner(sid, PeerMessage::SnapChunk(c));
                                            bytes = 0;
                                        }
                                    }
                                    if !chunk.is_empty() {
                                        act.send_to_learner(sid, PeerMessage::SnapChunk(chunk));
                                    }
                                }
                                act.leader_actions(remaining, ctx);
                            }),
                    );
                    return;
                }
                leader::Action::LogProposal { txns, tell } => {
                    if let State::Leading { announce, .. } = &self.state {
                        announce.set_learners(self.logged_links(&tell));
                        self.persister.append_then(txns, announce.clone());
                    }
                }
                leader::Action::Commit(z) => self.tree.do_send(Commit(z)),
                leader::Action::Established(e) => {
                    tracing::info!(
                        "LEADING - epoch {e} established with a quorum; serving clients"
                    );
                    self.tree
                        .do_send(super::data_tree::StartEpoch(make_zxid(e, 0)));
                    self.tree.do_send(SetServing(true));
                    if let (Some(el), Some(v)) = (&self.election, self.vote) {
                        el.do_send(Established {
                            state: PeerState::Leading,
                            vote: Vote {
                                peer_epoch: e as u64,
                                ..v
                            },
                        });
                    }
                }
                leader::Action::Disconnect(sid) => {
                    if let State::Leading {
                        learners, links, ..
                    } = &mut self.state
                    {
                        let ids: Vec<u64> = learners
                            .iter()
                            .filter(|(_, s)| **s == sid)
                            .map(|(l, _)| *l)
                            .collect();
                        for l in ids {
                            learners.remove(&l);
                            if let Some(a) = links.remove(&l) {
                                a.close();
                            }
                        }
                    }
                }
                leader::Action::StepDown(why) => {
                    self.look(&why, ctx);
                    return;
                }
            }
        }
    }

    /// The links of the learners `sids` whose peer version understands `Logged`: the log
    /// writer tells them when the leader's own log has a proposal on disk.
    fn logged_links(&self, sids: &[u64]) -> Vec<Arc<LinkWriter>> {
        let State::Leading {
            learners, links, ..
        } = &self.state
        else {
            return Vec::new();
        };
        learners
            .iter()
            .filter(|(_, sid)| sids.contains(sid))
            .filter_map(|(link, _)| links.get(link))
            .filter(|l| l.version >= LOGGED_SINCE)
            .map(|l| l.writer.clone())
            .collect()
    }

    fn learner_link(&self, sid: u64) -> Option<&Link> {
        let State::Leading {
            learners, links, ..
        } = &self.state
        else {
            return None;
        };
        let (link, _) = learners.iter().find(|(_, s)| **s == sid)?;
        links.get(link)
    }

    fn send_to_learner(&self, sid: u64, m: PeerMessage) {
        if let Some(l) = self.learner_link(sid) {
            l.send(m);
        }
    }

    fn report_status(&self) {
        let voters = self.quorum.voters().len();
        let info = match &self.state {
            State::Leading {
                machine, learners, ..
            } => {
                let synced = machine.synced_learners();
                crate::fourlw::QuorumInfo {
                    peer_state: if machine.is_established() {
                        "leading - broadcast".into()
                    } else {
                        "leading - synchronization".into()
                    },
                    voters,
                    synced_followers: synced.iter().filter(|(_, o)| !o).count(),
                    synced_observers: synced.iter().filter(|(_, o)| *o).count(),
                    learners: learners.len(),
                    epoch: self.current_epoch,
                    lags: machine.learner_lags(),
                }
            }
            State::Learning { machine, .. } => crate::fourlw::QuorumInfo {
                peer_state: format!(
                    "{} - {}",
                    if self.quorum.is_observer(self.me) {
                        "observing"
                    } else {
                        "following"
                    },
                    if machine.is_serving() {
                        "broadcast"
                    } else {
                        "synchronization"
                    }
                ),
                voters,
                epoch: self.current_epoch,
                ..Default::default()
            },
            State::Looking => crate::fourlw::QuorumInfo {
                peer_state: "looking".into(),
                voters,
                epoch: self.current_epoch,
                ..Default::default()
            },
        };
        self.tree.do_send(super::data_tree::QuorumStatus(info));
    }

    fn send_to_leader(&self, m: PeerMessage) {
        if let State::Learning { link: Some(l), .. } = &self.state {
            l.send(m);
        }
    }

    fn learner_actions(&mut self, actions: Vec<learner::Action>, ctx: &mut Context<Self>) {
        let mut rest = actions.into_iter();
        while let Some(a) = rest.next() {
            let gen = self.gen;
            match a {
                learner::Action::Send(m) => self.send_to_leader(m),
                learner::Action::PersistAcceptedEpoch(e) => {
                    if self.persist_epoch("acceptedEpoch", e) {
                        self.accepted_epoch = e;
                    }
                }
                learner::Action::PersistCurrentEpoch(e) => {
                    if self.persist_epoch("currentEpoch", e) {
                        self.current_epoch = e;
                    }
                }
                learner::Action::Truncate(z) => {
                    let p = self.persister.clone();
                    let tree = self.tree.clone();
                    let dir = self.epoch_dir.clone();
                    let remaining: Vec<learner::Action> = rest.collect();
                    ctx.wait(
                        async move {
                            p.truncate_after(z).await?;
                            // A snapshot past the cut would bring the dropped txns back.
                            for (sz, path) in snapshot::list(&dir).unwrap_or_default() {
                                if sz > z {
                                    let _ = std::fs::remove_file(path);
                                }
                            }
                            tree.send(Reload)
                                .await
                                .map_err(|e| e.to_string())?
                                .map(|_| ())
                        }
                        .into_actor(self)
                        .map(move |r: Result<(), String>, act, ctx| {
                            if act.gen != gen {
                                return;
                            }
                            match r {
                                Ok(()) => act.learner_actions(remaining, ctx),
                                Err(e) => act.look(&format!("truncating the log failed: {e}"), ctx),
                            }
                        }),
                    );
                    return;
                }
                learner::Action::BeginSnapshot(z) => {
                    if let State::Learning { snap, .. } = &mut self.state {
                        *snap = Some((z, Vec::new(), Vec::new()));
                    }
                    // Only what lies past the snapshot goes (it cannot be committed: the leader
                    // holds every committed txn). The rest stays until the snapshot is on disk
                    // and supersedes it: a SNAP cut short (the leader dies) must not leave this
                    // server with an empty history, or a quorum of such servers loses writes.
                    let p = self.persister.clone();
                    let remaining: Vec<learner::Action> = rest.collect();
                    ctx.wait(
                        async move { p.truncate_after(z).await }
                            .into_actor(self)
                            .map(move |r, act, ctx| {
                                if act.gen != gen {
                                    return;
                                }
                                match r {
                                    Ok(()) => act.learner_actions(remaining, ctx),
                                    Err(e) => {
                                        act.look(&format!("clearing the log failed: {e}"), ctx)
                                    }
                                }
                            }),
                    );
                    return;
                }
                learner::Action::LogProposal(t) => self.persister.append(vec![t]),
                learner::Action::LogAndAck(t) => match &self.state {
                    State::Learning {
                        acks: Some(acks), ..
                    } => self.persister.append_then(vec![t], acks.clone()),
                    _ => self.persister.append(vec![t]),
                },
                learner::Action::SyncLog => {
                    let p = self.persister.clone();
                    let remaining: Vec<learner::Action> = rest.collect();
                    ctx.wait(async move { p.barrier().await }.into_actor(self).map(
                        move |_, act, ctx| {
                            if act.gen == gen {
                                act.learner_actions(remaining, ctx);
                            }
                        },
                    ));
                    return;
                }
                learner::Action::TakeSnapshot => {
                    let tree = self.tree.clone();
                    let remaining: Vec<learner::Action> = rest.collect();
                    ctx.wait(
                        tree.send(WriteSnapshot)
                            .into_actor(self)
                            .map(move |r, act, ctx| {
                                if act.gen != gen {
                                    return;
                                }
                                match r {
                                    Ok(Ok(())) => act.learner_actions(remaining, ctx),
                                    Ok(Err(e)) => act.look(&e, ctx),
                                    Err(e) => act.look(&e.to_string(), ctx),
                                }
                            }),
                    );
                    return;
                }
                learner::Action::Commit(t) => self.tree.do_send(ApplyCommitted(t)),
                learner::Action::Serve => {
                    tracing::info!("up to date with the leader; serving clients");
                    self.tree.do_send(SetServing(true));
                    if let (Some(el), Some(v)) = (&self.election, self.vote) {
                        let state = if self.quorum.is_observer(self.me) {
                            PeerState::Observing
                        } else {
                            PeerState::Following
                        };
                        el.do_send(Established {
                            state,
                            vote: Vote {
                                peer_epoch: self.current_epoch as u64,
                                ..v
                            },
                        });
                    }
                }
                learner::Action::Abandon(why) => {
                    self.look(&why, ctx);
                    return;
                }
            }
        }
    }

    fn on_leader_link(&mut self, link: u64, msg: PeerMessage, ctx: &mut Context<Self>) {
        let now = self.now();
        let State::Leading {
            machine,
            learners,
            links,
            ..
        } = &mut self.state
        else {
            return;
        };
        if let PeerMessage::Hello { version, sid } = msg {
            if !supported_version(version) || !self.quorum.is_member(sid) || sid == self.me {
                tracing::warn!("refusing quorum link from server {sid} (protocol {version})");
                if let Some(a) = links.remove(&link) {
                    a.close();
                }
                return;
            }
            // A learner reconnecting replaces its older link.
            let old: Vec<u64> = learners
                .iter()
                .filter(|(_, s)| **s == sid)
                .map(|(l, _)| *l)
                .collect();
            for l in old {
                learners.remove(&l);
                if let Some(a) = links.remove(&l) {
                    a.close();
                }
            }
            learners.insert(link, sid);
            if let Some(l) = links.get_mut(&link) {
                l.version = version;
                // This leader's own version, for the learner to know how to ACK (a learner of
                // protocol 2 or older ignores it).
                l.send(PeerMessage::Hello {
                    version: PROTOCOL_VERSION,
                    sid: self.me,
                });
            }
            machine.disconnected(sid);
            return;
        }
        let Some(&sid) = learners.get(&link) else {
            return;
        };
        machine.heard(sid, now);
        let actions = match msg {
            PeerMessage::LearnerInfo {
                observer,
                accepted_epoch,
                last_zxid,
                ..
            } => {
                let cumulative = links
                    .get(&link)
                    .is_some_and(|l| l.version >= CUMULATIVE_SINCE);
                machine.learner_info(sid, observer, accepted_epoch, last_zxid, cumulative, now)
            }
            PeerMessage::AckEpoch {
                current_epoch,
                last_zxid,
            } => machine.ack_epoch(sid, current_epoch, last_zxid, now),
            PeerMessage::Ack { zxid } => machine.ack(sid, zxid, now),
            PeerMessage::Request {
                session,
                cxid,
                opcode,
                body,
                auth,
                is_super,
                ..
            } => {
                if opcode == op::CREATE_SESSION {
                    let timeout = body
                        .get(..4)
                        .map_or(0, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                    self.tree.do_send(RemoteCreateSession {
                        server: sid,
                        session,
                        timeout,
                    });
                } else {
                    self.tree.do_send(RemoteRequest {
                        server: sid,
                        session,
                        cxid,
                        opcode,
                        body,
                        auth: AuthInfo {
                            ids: auth,
                            is_super,
                        },
                    });
                }
                Vec::new()
            }
            PeerMessage::Revalidate { session, .. } => {
                let tree = self.tree.clone();
                let gen = self.gen;
                ctx.spawn(
                    tree.send(RevalidateSession {
                        server: sid,
                        session,
                    })
                    .into_actor(self)
                    .map(move |r, act, _| {
                        if act.gen == gen {
                            let valid = r.unwrap_or(false);
                            act.send_to_learner(
                                sid,
                                PeerMessage::RevalidateReply { session, valid },
                            );
                        }
                    }),
                );
                Vec::new()
            }
            PeerMessage::Sync { session } => {
                self.tree.do_send(RemoteSync {
                    server: sid,
                    session,
                });
                Vec::new()
            }
            PeerMessage::Ping { touches, .. } => {
                if !touches.is_empty() {
                    self.tree.do_send(Touches(touches));
                }
                Vec::new()
            }
            _ => Vec::new(),
        };
        self.leader_actions(actions, ctx);
    }

    fn on_learner_link(&mut self, msg: PeerMessage, ctx: &mut Context<Self>) {
        let now = self.now();
        let State::Learning {
            machine,
            snap,
            acks,
            ..
        } = &mut self.state
        else {
            return;
        };
        match msg {
            PeerMessage::Hello { version, .. } => {
                if let Some(a) = acks {
                    a.set_cumulative(version >= CUMULATIVE_SINCE);
                }
            }
            PeerMessage::SnapSessions(s) => {
                if let Some((_, sessions, _)) = snap {
                    sessions.extend(s);
                }
            }
            PeerMessage::SnapChunk(n) => {
                if let Some((_, _, nodes)) = snap {
                    nodes.extend(n);
                }
            }
            PeerMessage::RevalidateReply { session, valid } => {
                self.tree.do_send(Revalidated { session, valid })
            }
            PeerMessage::SyncDone { session } => self.tree.do_send(LearnerSyncDone(session)),
            PeerMessage::NewLeader { .. } if snap.is_some() => {
                // Install the snapshot the leader streamed before going on with NEWLEADER.
                let Some((zxid, sessions, nodes)) = snap.take() else {
                    return;
                };
                let tree = self.tree.clone();
                let gen = self.gen;
                ctx.wait(
                    tree.send(InstallSnapshot {
                        zxid,
                        sessions,
                        nodes,
                    })
                    .into_actor(self)
                    .map(move |r, act, ctx| {
                        if act.gen != gen {
                            return;
                        }
                        if !matches!(r, Ok(Ok(()))) {
                            act.look("installing the leader's snapshot failed", ctx);
                            return;
                        }
                        if let State::Learning { machine, .. } = &mut act.state {
                            let a =
                                machine.on_message(msg, act.started.elapsed().as_millis() as u64);
                            act.learner_actions(a, ctx);
                        }
                    }),
                );
            }
            other => {
                let a = machine.on_message(other, now);
                self.learner_actions(a, ctx);
            }
        }
    }
}

impl Actor for ZabActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(l) = self.listener.take() {
            let l = match TcpListener::from_std(l) {
                Ok(l) => l,
                Err(e) => {
                    crate::error::stop_server(Fatal::io("the quorum port", e));
                    return;
                }
            };
            let accepts = futures::stream::unfold(l, |l| async move {
                let r = l.accept().await;
                Some((Accepted(r), l))
            });
            ctx.add_stream(accepts);
        }
        ctx.run_interval(
            Duration::from_millis((self.tick_ms() / 2).clamp(10, 1000)),
            |_, ctx| ctx.notify(Tick),
        );
        let me = self.me;
        let members = self.members.clone();
        let epoch = self.current_epoch;
        let tree = self.tree.clone();
        let addr = ctx.address();
        ctx.wait(
            async move {
                let last = tree.send(Window).await.map(|w| w.1).unwrap_or(0);
                start_election(me, &members, last, epoch as u64, addr.recipient()).await
            }
            .into_actor(self)
            .map(|r, act, _| match r {
                Ok(e) => act.election = Some(e),
                Err(e) => {
                    crate::error::stop_server(Fatal::io("the election port", e));
                }
            }),
        );
    }
}

impl StreamHandler<Accepted> for ZabActor {
    fn handle(&mut self, item: Accepted, ctx: &mut Context<Self>) {
        let Ok((stream, _peer)) = item.0 else { return };
        self.next_link += 1;
        let id = self.next_link;
        let thread = self.link_thread();
        match &mut self.state {
            State::Leading { links, .. } => {
                let link = spawn_link(stream, ctx.address(), id, self.gen, true, thread.clone());
                links.insert(id, link);
            }
            // A learner may decide before we do: keep its link until we know our role.
            _ => {
                let link = spawn_link(stream, ctx.address(), id, PARKED, true, thread.clone());
                self.parked.insert(id, link);
            }
        }
    }
}

impl Handler<LinkMsg> for ZabActor {
    type Result = ();
    fn handle(&mut self, m: LinkMsg, ctx: &mut Context<Self>) {
        let (link, gen) = (m.link, m.gen);
        self.link_events
            .extend(m.msgs.into_iter().map(|msg| LinkEvent::Msg(link, gen, msg)));
        self.drain_links(ctx);
    }
}

impl Handler<DrainLinks> for ZabActor {
    type Result = ();
    fn handle(&mut self, _: DrainLinks, ctx: &mut Context<Self>) {
        self.drain_links(ctx);
    }
}

impl ZabActor {
    /// Handle queued link events in order. A message may make this actor wait (`ctx.wait`: a
    /// snapshot to stream, a sync step): the events after it then wait too, exactly as the
    /// next mailbox message would.
    fn drain_links(&mut self, ctx: &mut Context<Self>) {
        self.drain_now = None;
        self.drain_now = Some(self.now());
        self.drain_events(ctx);
        self.drain_now = None;
    }

    fn drain_events(&mut self, ctx: &mut Context<Self>) {
        while !ctx.waiting() {
            match self.link_events.pop_front() {
                // ACKs count cumulatively: of a learner's ACKs in a row only the last one
                // matters (NEWLEADER's ACK, counter 0, is a step of its own).
                Some(LinkEvent::Msg(link, gen, PeerMessage::Ack { zxid }))
                    if zxid & 0xffff_ffff != 0
                        && matches!(self.link_events.front(),
                            Some(LinkEvent::Msg(l, g, PeerMessage::Ack { zxid: next }))
                                if *l == link && *g == gen && *next > zxid) => {}
                Some(LinkEvent::Msg(link, gen, msg)) => self.link_msg(link, gen, msg, ctx),
                Some(LinkEvent::Closed(link, gen)) => self.link_closed(link, gen, ctx),
                None => return,
            }
        }
        if !self.link_events.is_empty() {
            // Runs once the wait is over.
            ctx.notify(DrainLinks);
        }
    }

    fn link_msg(&mut self, link: u64, gen: Gen, msg: PeerMessage, ctx: &mut Context<Self>) {
        if gen == PARKED {
            if self.parked.contains_key(&link) {
                self.parked_msgs.push((link, msg));
            } else if let State::Leading { links, .. } = &self.state {
                if links.contains_key(&link) {
                    self.on_leader_link(link, msg, ctx);
                }
            }
            return;
        }
        if gen != self.gen {
            return;
        }
        match self.state {
            State::Leading { .. } => self.on_leader_link(link, msg, ctx),
            State::Learning { .. } => self.on_learner_link(msg, ctx),
            State::Looking => {}
        }
    }
}

impl Handler<LinkClosed> for ZabActor {
    type Result = ();
    fn handle(&mut self, m: LinkClosed, ctx: &mut Context<Self>) {
        // Behind the messages the link read before it closed.
        self.link_events.push_back(LinkEvent::Closed(m.link, m.gen));
        self.drain_links(ctx);
    }
}

impl ZabActor {
    fn link_closed(&mut self, link: u64, gen: Gen, ctx: &mut Context<Self>) {
        let m = LinkClosed { link, gen };
        if m.gen == PARKED {
            self.parked.remove(&m.link);
            self.parked_msgs.retain(|(l, _)| *l != m.link);
            if let State::Leading {
                machine,
                learners,
                links,
                ..
            } = &mut self.state
            {
                if links.remove(&m.link).is_some() {
                    if let Some(sid) = learners.remove(&m.link) {
                        machine.disconnected(sid);
                    }
                }
            }
            return;
        }
        if m.gen != self.gen {
            return;
        }
        match &mut self.state {
            State::Leading {
                machine,
                learners,
                links,
                ..
            } => {
                links.remove(&m.link);
                if let Some(sid) = learners.remove(&m.link) {
                    tracing::info!("follower {sid} disconnected");
                    machine.disconnected(sid);
                }
            }
            State::Learning { leader, .. } => {
                let l = *leader;
                self.look(&format!("lost the connection to leader {l}"), ctx);
            }
            State::Looking => {}
        }
    }
}

impl Handler<Elected> for ZabActor {
    type Result = ();
    fn handle(&mut self, m: Elected, ctx: &mut Context<Self>) {
        match m.state {
            PeerState::Leading => self.lead(m.vote, ctx),
            PeerState::Following | PeerState::Observing => self.follow(m.vote.leader, m.vote, ctx),
            PeerState::Looking => {}
        }
    }
}

impl Handler<FromTree> for ZabActor {
    type Result = ();
    fn handle(&mut self, m: FromTree, ctx: &mut Context<Self>) {
        match (&mut self.state, m) {
            (State::Leading { machine, .. }, FromTree::Propose(txns)) => {
                let a = machine.propose_all(txns);
                self.leader_actions(a, ctx);
            }
            (State::Leading { machine, .. }, FromTree::Logged(z)) => {
                let a = machine.logged(z);
                self.leader_actions(a, ctx);
            }
            (State::Leading { .. }, FromTree::SyncDone { server, session }) => {
                self.send_to_learner(server, PeerMessage::SyncDone { session });
            }
            (State::Learning { machine, .. }, FromTree::Logged(z)) => {
                let a = machine.logged(z);
                self.learner_actions(a, ctx);
            }
            (State::Learning { .. }, FromTree::Forward(f)) => {
                let msg = match f {
                    Forward::CreateSession { session, timeout } => PeerMessage::Request {
                        session,
                        cxid: 0,
                        opcode: op::CREATE_SESSION,
                        body: timeout.to_be_bytes().to_vec(),
                        auth: Vec::new(),
                        is_super: false,
                        trace: String::new(),
                    },
                    Forward::Request {
                        session,
                        cxid,
                        opcode,
                        body,
                        auth,
                    } => PeerMessage::Request {
                        session,
                        cxid,
                        opcode,
                        body: body.to_vec(),
                        auth: auth.ids,
                        is_super: auth.is_super,
                        trace: String::new(),
                    },
                    Forward::Sync { session } => PeerMessage::Sync { session },
                };
                self.send_to_leader(msg);
            }
            (State::Learning { .. }, FromTree::Revalidate { session, timeout }) => {
                self.send_to_leader(PeerMessage::Revalidate { session, timeout });
            }
            (_, FromTree::LogFailed) => self.look("writing the transaction log failed", ctx),
            _ => {}
        }
    }
}

impl Handler<Tick> for ZabActor {
    type Result = ();
    fn handle(&mut self, _: Tick, ctx: &mut Context<Self>) {
        let now = self.now();
        self.report_status();
        match &mut self.state {
            State::Leading {
                machine, learners, ..
            } => {
                let zxid = 0;
                let ids: Vec<u64> = learners.values().copied().collect();
                let a = machine.tick(now);
                for sid in ids {
                    self.send_to_learner(
                        sid,
                        PeerMessage::Ping {
                            zxid,
                            touches: Vec::new(),
                        },
                    );
                }
                self.leader_actions(a, ctx);
            }
            State::Learning { machine, .. } => {
                let a = machine.tick(now);
                // Tell the leader which sessions our clients kept alive.
                let tracker = self.tracker.clone();
                let gen = self.gen;
                ctx.spawn(
                    tracker
                        .send(TakeTouches)
                        .into_actor(self)
                        .map(move |r, act, _| {
                            if act.gen == gen {
                                let touches = r
                                    .unwrap_or_default()
                                    .into_iter()
                                    .map(|id| (id, 0))
                                    .collect();
                                act.send_to_leader(PeerMessage::Ping { zxid: 0, touches });
                            }
                        }),
                );
                self.learner_actions(a, ctx);
            }
            State::Looking => {}
        }
    }
}
