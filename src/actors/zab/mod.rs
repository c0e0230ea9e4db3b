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
use super::election::{
    start_election_with, Elected, ElectionActor, ElectionOptions, Established, LookForLeader,
};
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

mod leading;
mod learning;
mod link;
mod traces;
use link::*;
use traces::ZabTraces;

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
        /// When the sync with this leader began (for follower_sync_time / observer_sync_time).
        since: Instant,
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
    /// Sampled writes in flight through this server's role.
    traces: ZabTraces,
    /// The trace of the sync after an election (leader: until established; learner: until
    /// it serves), a child of the election's; disabled while tracing is off.
    sync_span: tracing::Span,
    /// Proposals received while syncing (learner), for the sync's trace.
    sync_txns: u64,
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
            traces: ZabTraces::default(),
            sync_span: tracing::Span::none(),
            sync_txns: 0,
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

    /// How long a leader may go without hearing a quorum, and a learner without hearing its
    /// leader, once they broadcast: syncLimit ticks, or `quorum.peer_timeout` when shorter, so
    /// that a host whose link dies silently (no reset) is replaced in about a second rather
    /// than after syncLimit (10 s with ZooKeeper's defaults).
    fn liveness_ms(&self) -> u64 {
        self.settings.liveness_ms()
    }

    /// How often the machines are ticked and PINGs go both ways: half a tick, and at least
    /// four times within the liveness bound, so that a live peer is never taken for a dead one
    /// for want of a heartbeat.
    fn heartbeat_ms(&self) -> u64 {
        (self.tick_ms() / 2)
            .min(self.liveness_ms() / 4)
            .clamp(10, 1000)
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
        self.traces.abandon(why);
        if !self.sync_span.is_disabled() {
            self.sync_span
                .in_scope(|| tracing::debug!(target: crate::telemetry::TARGET, "abandoned: {why}"));
            self.sync_span = tracing::Span::none();
        }
        self.gen += 1;
        self.close_links();
        self.state = State::Looking;
        self.report_status();
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
                    let sync = act.liveness_ms();
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
        let Some((addr, member)) = self
            .members
            .iter()
            .find(|m| m.id == leader)
            .map(|m| (m.quorum_addr(), m.clone()))
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
                    let dialed = tokio::time::timeout(Duration::from_secs(2), async {
                        let s = TcpStream::connect(&addr).await?;
                        match crate::tls::quorum::get() {
                            Some(t) => t.dial(s, &member).await,
                            None => Ok(s),
                        }
                    });
                    match dialed.await {
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
                let sync = act.liveness_ms();
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
                    since: Instant::now(),
                };
                tracing::info!(
                    "{}: connected to leader {leader}",
                    if observer { "OBSERVING" } else { "FOLLOWING" }
                );
                act.learner_actions(actions, ctx);
            }),
        );
    }

    pub(super) fn report_status(&self) {
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
                    leader: Some(self.me),
                }
            }
            State::Learning {
                machine, leader, ..
            } => crate::fourlw::QuorumInfo {
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
                leader: Some(*leader),
                ..Default::default()
            },
            State::Looking => crate::fourlw::QuorumInfo {
                peer_state: "looking".into(),
                voters,
                epoch: self.current_epoch,
                ..Default::default()
            },
        };
        let role = match &self.state {
            State::Leading { .. } => "leading",
            State::Learning { .. } if self.quorum.is_observer(self.me) => "observing",
            State::Learning { .. } => "following",
            State::Looking => "looking",
        };
        crate::telemetry::set_role(role, self.current_epoch);
        self.tree.do_send(super::data_tree::QuorumStatus(info));
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
        ctx.run_interval(Duration::from_millis(self.heartbeat_ms()), |_, ctx| {
            ctx.notify(Tick)
        });
        let me = self.me;
        let members = self.members.clone();
        let epoch = self.current_epoch;
        let tree = self.tree.clone();
        let addr = ctx.address();
        let options = ElectionOptions {
            listen_on_all_ips: self.settings.quorum.listen_on_all_ips,
            ..ElectionOptions::default()
        };
        ctx.wait(
            async move {
                let last = tree.send(Window).await.map(|w| w.1).unwrap_or(0);
                start_election_with(options, me, &members, last, epoch as u64, addr.recipient())
                    .await
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
        let Ok((stream, peer)) = item.0 else { return };
        match crate::tls::quorum::get() {
            None => self.accepted_link(stream, ctx),
            Some(t) => {
                let t = t.clone();
                ctx.spawn(async move { t.accept(stream).await }.into_actor(self).map(
                    move |r, act, ctx| match r {
                        Ok(s) => act.accepted_link(s, ctx),
                        Err(e) => {
                            tracing::warn!("refusing quorum connection from {peer}: {e}")
                        }
                    },
                ));
            }
        }
    }
}

impl ZabActor {
    /// A quorum link accepted (and, with TLS, checked): parked until this server knows its
    /// role, or one of the leader's.
    fn accepted_link(&mut self, stream: TcpStream, ctx: &mut Context<Self>) {
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
        let name = match m.state {
            PeerState::Leading => "leader sync",
            _ => "learner sync",
        };
        self.sync_txns = 0;
        self.sync_span = tracing::debug_span!(
            target: crate::telemetry::TARGET,
            "sync",
            otel.name = name,
            keeper.server_id = self.me,
            keeper.leader = m.vote.leader,
            keeper.sync_mode = tracing::field::Empty,
            keeper.txns = tracing::field::Empty,
            keeper.snapshot_nodes = tracing::field::Empty,
            keeper.epoch = tracing::field::Empty,
        );
        m.trace.adopt(&self.sync_span);
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
            (
                State::Leading {
                    machine, learners, ..
                },
                FromTree::Propose(txns, local),
            ) => {
                if !local.is_empty() || !self.traces.is_empty() {
                    let mut sent: Vec<u64> = learners.values().copied().collect();
                    sent.sort_unstable();
                    self.traces.propose(&txns, &local, &sent);
                }
                let a = machine.propose_all(txns);
                self.leader_actions(a, ctx);
            }
            (State::Leading { machine, .. }, FromTree::Logged(z)) => {
                self.traces.logged(z, false);
                let a = machine.logged(z);
                self.leader_actions(a, ctx);
            }
            (State::Leading { .. }, FromTree::SyncDone { server, session }) => {
                self.send_to_learner(server, PeerMessage::SyncDone { session });
            }
            (State::Learning { machine, .. }, FromTree::Logged(z)) => {
                self.traces.logged(z, !self.quorum.is_observer(self.me));
                let a = machine.logged(z);
                self.learner_actions(a, ctx);
            }
            (State::Learning { .. }, FromTree::Forward(f, trace)) => {
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
                        trace,
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
        self.traces.expire();
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
