//! ElectionActor: a thin shell around the fast leader election machine
//! (`proto::election::Election`). It ticks the machine with a monotonic millisecond clock,
//! sends what the machine says through the election transport (`PeerListener`), logs every
//! notification (debug) and state change (info), and tells the owner of the server's role when
//! an election is decided. It keeps running in every state: while this server leads, follows
//! or observes, the machine answers LOOKING peers with the established vote, which is how
//! newcomers find the leader.

use super::peer_listener::{
    bind_election_port, GetLinks, LinkInfo, PeerListener, SendNotification, StopTransport,
    TransportConfig,
};
use crate::proto::election::{Action, Election, Notification};
use crate::proto::quorum::QuorumVerifier;
use crate::proto::vote::{PeerState, Vote};
use crate::settings::Member;
use actix::dev::MessageResponse;
use actix::prelude::*;
use std::io;
use std::time::{Duration, Instant};

/// Timing of the election; the defaults are ZooKeeper's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionOptions {
    /// How often the machine is ticked.
    pub tick: Duration,
    /// Longest interval between two resends of our notifications while nothing arrives
    /// (ZooKeeper's `maxNotificationInterval`, 60 s).
    pub max_resend_ms: u64,
    pub transport: TransportConfig,
    /// `quorum.listen_on_all_ips`: bind the election port on every address of the host.
    pub listen_on_all_ips: bool,
}

impl Default for ElectionOptions {
    fn default() -> Self {
        ElectionOptions {
            tick: Duration::from_millis(20),
            max_resend_ms: 60_000,
            transport: TransportConfig::default(),
            listen_on_all_ips: false,
        }
    }
}

/// Sent to the `on_decided` recipient when an election is decided: LEADING, FOLLOWING or
/// OBSERVING, and the vote of the leader.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct Elected {
    pub state: PeerState,
    pub vote: Vote,
    /// The election's trace, for the sync that follows it.
    pub trace: crate::telemetry::TraceRef,
}

/// Start a new round with this server's own vote: at start (done by [`start_election`]) and
/// whenever the role ends.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct LookForLeader {
    pub last_zxid: i64,
    pub current_epoch: u64,
}

/// After sync: from now on answer LOOKING peers with this state and vote (whose peer epoch is
/// the new epoch), so all members report the same vote. `state` is LEADING, FOLLOWING or
/// OBSERVING.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Established {
    pub state: PeerState,
    pub vote: Vote,
}

/// A notification that arrived from a peer (sent by the transport).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct PeerNotification(pub Notification);

/// The election connection with a peer opened (`up`) or closed (sent by the transport).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct PeerConnected {
    pub sid: u64,
    pub up: bool,
}

/// Stop the election actor and its transport (closes the election port).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Shutdown;

/// Where the election stands.
#[derive(Message, Debug)]
#[rtype(result = "ElectionStatus")]
pub struct GetStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, MessageResponse)]
pub struct ElectionStatus {
    pub state: PeerState,
    /// The current proposal while LOOKING, the leader's vote otherwise.
    pub vote: Vote,
    pub round: u64,
}

/// The connections of the election transport (for status pages and tests).
#[derive(Message, Debug)]
#[rtype(result = "Vec<LinkInfo>")]
pub struct GetPeerLinks;

pub struct ElectionActor {
    me: u64,
    machine: Election,
    transport: Addr<PeerListener>,
    on_decided: Recipient<Elected>,
    clock: Instant,
    tick: Duration,
    /// Own vote to start the first round with, when the actor starts.
    first: Option<(i64, u64)>,
    /// The state (and leader) last logged.
    shown: Option<(PeerState, u64)>,
    looking_since: u64,
    /// LOOKING and not decided yet: the decision's time goes into `election_time`.
    timing: bool,
    /// The trace of the current LOOKING period (disabled while tracing is off).
    span: tracing::Span,
    notifications: u64,
}

/// Bind this server's election port and start looking for a leader, with ZooKeeper's timing.
/// `members` is the whole configuration (`Settings::members()`); `me` must be in it.
pub async fn start_election(
    me: u64,
    members: &[Member],
    last_zxid: i64,
    current_epoch: u64,
    on_decided: Recipient<Elected>,
) -> io::Result<Addr<ElectionActor>> {
    start_election_with(
        ElectionOptions::default(),
        me,
        members,
        last_zxid,
        current_epoch,
        on_decided,
    )
    .await
}

/// [`start_election`] with explicit timing.
pub async fn start_election_with(
    options: ElectionOptions,
    me: u64,
    members: &[Member],
    last_zxid: i64,
    current_epoch: u64,
    on_decided: Recipient<Elected>,
) -> io::Result<Addr<ElectionActor>> {
    let mine = members.iter().find(|m| m.id == me).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("server id {me} (server.id) is not in quorum.members"),
        )
    })?;
    let listener = bind_election_port(mine, options.listen_on_all_ips).await?;
    let quorum = QuorumVerifier::new(
        members.iter().filter(|m| !m.observer).map(|m| m.id),
        members.iter().filter(|m| m.observer).map(|m| m.id),
    );
    let machine =
        Election::new(me, quorum, last_zxid, current_epoch).with_max_resend(options.max_resend_ms);
    let members = members.to_vec();
    Ok(ElectionActor::create(move |ctx| {
        let transport = PeerListener::new(
            me,
            &members,
            listener,
            options.transport,
            ctx.address().recipient(),
            ctx.address().recipient(),
        )
        .start();
        ElectionActor {
            me,
            machine,
            transport,
            on_decided,
            clock: Instant::now(),
            tick: options.tick,
            first: Some((last_zxid, current_epoch)),
            shown: None,
            looking_since: 0,
            timing: false,
            span: tracing::Span::none(),
            notifications: 0,
        }
    }))
}

impl ElectionActor {
    fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    fn look(&mut self, last_zxid: i64, current_epoch: u64) {
        let now = self.now_ms();
        self.looking_since = now;
        self.timing = true;
        crate::metrics::SERVER.looking_count.inc();
        // One trace per LOOKING period: its notifications as events, the decision at its end.
        self.notifications = 0;
        self.span = tracing::debug_span!(
            target: crate::telemetry::TARGET,
            "election",
            otel.kind = "internal",
            keeper.server_id = self.me,
            keeper.last_zxid = format!("0x{last_zxid:x}"),
            keeper.current_epoch = current_epoch,
            keeper.outcome = tracing::field::Empty,
            keeper.leader = tracing::field::Empty,
            keeper.leader_zxid = tracing::field::Empty,
            keeper.leader_epoch = tracing::field::Empty,
            keeper.rounds = tracing::field::Empty,
            keeper.notifications = tracing::field::Empty,
            keeper.took_ms = tracing::field::Empty,
        );
        let actions = self.machine.start(last_zxid, current_epoch, now);
        self.shown = None;
        self.execute(actions);
    }

    fn execute(&mut self, actions: Vec<Action>) {
        let mut decided = Vec::new();
        for a in actions {
            match a {
                Action::Send(to, notification) => {
                    self.transport
                        .do_send(SendNotification { to, notification });
                }
                Action::Decided(state, vote) => {
                    let took = self.now_ms().saturating_sub(self.looking_since);
                    if std::mem::take(&mut self.timing) {
                        crate::metrics::SERVER.election_time.add(took);
                    }
                    let trace = self.decided_trace(state, vote, took);
                    decided.push(Elected { state, vote, trace })
                }
            }
        }
        self.show();
        for e in decided {
            self.on_decided.do_send(e);
        }
    }

    /// Close the election's trace with who won and why; the reference is for the sync after it.
    fn decided_trace(
        &mut self,
        state: PeerState,
        vote: Vote,
        took: u64,
    ) -> crate::telemetry::TraceRef {
        let span = std::mem::replace(&mut self.span, tracing::Span::none());
        if span.is_disabled() {
            return crate::telemetry::TraceRef::default();
        }
        let outcome = match state {
            PeerState::Leading => "LEADING",
            PeerState::Following => "FOLLOWING",
            PeerState::Observing => "OBSERVING",
            PeerState::Looking => "LOOKING",
        };
        span.record("keeper.outcome", outcome);
        span.record("keeper.leader", vote.leader);
        span.record("keeper.leader_zxid", format!("0x{:x}", vote.zxid));
        span.record("keeper.leader_epoch", vote.peer_epoch);
        span.record("keeper.rounds", self.machine.round());
        span.record("keeper.notifications", self.notifications);
        span.record("keeper.took_ms", took);
        span.in_scope(|| {
            tracing::debug!(
                target: crate::telemetry::TARGET,
                "decided: {outcome}, leader {} (its vote has the highest (epoch, zxid, id) = \
                 ({}, 0x{:x}, {}) among those a quorum agreed on)",
                vote.leader,
                vote.peer_epoch,
                vote.zxid,
                vote.leader
            )
        });
        crate::telemetry::TraceRef::of(&span)
    }

    /// Log the state when it (or the leader) changed since the last line.
    fn show(&mut self) {
        let state = self.machine.state();
        let vote = self.machine.vote();
        let leader = if state == PeerState::Looking {
            0
        } else {
            vote.leader
        };
        if self.shown == Some((state, leader)) {
            return;
        }
        self.shown = Some((state, leader));
        let me = self.me;
        let round = self.machine.round();
        let zxid = format!("0x{:x}", vote.zxid);
        let took_ms = self.now_ms().saturating_sub(self.looking_since);
        match state {
            PeerState::Looking => tracing::info!(myid = me, round, "LOOKING"),
            decided => {
                let what = match decided {
                    PeerState::Leading => "LEADING".to_string(),
                    PeerState::Following => format!("FOLLOWING - leader is {leader}"),
                    _ => format!("OBSERVING - leader is {leader}"),
                };
                tracing::info!(
                    myid = me,
                    round,
                    zxid,
                    peer_epoch = vote.peer_epoch,
                    took_ms,
                    "{what}"
                )
            }
        }
    }
}

impl Actor for ElectionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.tick, |act, _| {
            let actions = act.machine.tick(act.now_ms());
            if !actions.is_empty() {
                act.execute(actions);
            }
        });
        if let Some((zxid, epoch)) = self.first.take() {
            self.look(zxid, epoch);
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        tracing::debug!(myid = self.me, "election stopped");
        self.transport.do_send(StopTransport);
    }
}

impl Handler<PeerNotification> for ElectionActor {
    type Result = ();
    fn handle(&mut self, m: PeerNotification, _: &mut Context<Self>) {
        tracing::debug!(myid = self.me, "{}", m.0.describe(self.machine.state()));
        if !self.span.is_disabled() {
            self.notifications += 1;
            let state = self.machine.state();
            self.span.in_scope(
                || tracing::debug!(target: crate::telemetry::TARGET, "{}", m.0.describe(state)),
            );
        }
        let now = self.now_ms();
        let actions = self.machine.on_notification(m.0, now);
        self.execute(actions);
    }
}

impl Handler<PeerConnected> for ElectionActor {
    type Result = ();
    fn handle(&mut self, m: PeerConnected, _: &mut Context<Self>) {
        let actions = self.machine.set_connected(m.sid, m.up);
        self.execute(actions);
    }
}

impl Handler<LookForLeader> for ElectionActor {
    type Result = ();
    fn handle(&mut self, m: LookForLeader, _: &mut Context<Self>) {
        self.look(m.last_zxid, m.current_epoch);
    }
}

impl Handler<Established> for ElectionActor {
    type Result = ();
    fn handle(&mut self, m: Established, _: &mut Context<Self>) {
        if m.state == PeerState::Looking {
            tracing::warn!(
                myid = self.me,
                "ignoring Established with state LOOKING (use LookForLeader)"
            );
            return;
        }
        self.machine.set_established(m.state, m.vote);
        self.show();
    }
}

impl Handler<Shutdown> for ElectionActor {
    type Result = ();
    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<GetStatus> for ElectionActor {
    type Result = ElectionStatus;
    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> ElectionStatus {
        ElectionStatus {
            state: self.machine.state(),
            vote: self.machine.vote(),
            round: self.machine.round(),
        }
    }
}

impl Handler<GetPeerLinks> for ElectionActor {
    type Result = ResponseFuture<Vec<LinkInfo>>;
    fn handle(&mut self, _: GetPeerLinks, _: &mut Context<Self>) -> Self::Result {
        let f = self.transport.send(GetLinks);
        Box::pin(async move { f.await.unwrap_or_default() })
    }
}
