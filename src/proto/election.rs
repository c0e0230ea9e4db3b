//! Fast leader election as a pure machine: notifications and ticks (logical ms) in, actions out.
//! Votes are ordered by peer epoch, zxid, server id; a majority of voters decides; a server that
//! finds an established leader follows it without a new round; observers never vote.

use super::quorum::QuorumVerifier;
use super::vote::{PeerState, Vote};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Notification message format version we send.
pub const VERSION: u32 = 2;
/// How long a quorum must stay unchallenged before deciding (ZooKeeper's finalizeWait is
/// 200 ms; a better vote arrives within a round trip, so a shorter wait only speeds up
/// failover — timers never affect safety).
pub const FINALIZE_WAIT_MS: u64 = 50;
/// First resend interval; doubles while nothing arrives, up to `max_resend_ms`.
pub const RESEND_START_MS: u64 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub version: u32,
    pub vote: Vote,
    /// The sender's election round (logical clock).
    pub round: u64,
    pub state: PeerState,
    pub sid: u64,
}

impl Notification {
    /// The debug line ZooKeeper operators know.
    pub fn describe(&self, my_state: PeerState) -> String {
        format!(
            "Notification: {} (message format version), {} (n.leader), 0x{:x} (n.zxid), 0x{:x} (n.round), {} (n.state), {} (n.sid), 0x{:x} (n.peerEpoch) {} (my state)",
            self.version,
            self.vote.leader,
            self.vote.zxid,
            self.round,
            self.state.name(),
            self.sid,
            self.vote.peer_epoch,
            my_state.name()
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send(u64, Notification),
    /// The election is over: this server's new state and the leader's vote.
    Decided(PeerState, Vote),
}

#[derive(Debug)]
pub struct Election {
    me: u64,
    quorum: QuorumVerifier,
    own: Vote,
    round: u64,
    proposal: Vote,
    state: PeerState,
    /// Votes of the current round, by sender.
    recv: HashMap<u64, Vote>,
    /// Votes of servers that already follow or lead, by sender.
    out_of_election: HashMap<u64, (Vote, PeerState)>,
    finalize_at: Option<u64>,
    /// Peers whose election connection is known to be down. A quorum that every other voter
    /// has joined needs no finalize wait: nobody who could send a better vote is there.
    disconnected: std::collections::HashSet<u64>,
    resend_at: u64,
    resend_every: u64,
    max_resend_ms: u64,
}

impl Election {
    /// A server's election state. `last_zxid` and `current_epoch` make its own vote.
    pub fn new(me: u64, quorum: QuorumVerifier, last_zxid: i64, current_epoch: u64) -> Self {
        let own = Vote {
            leader: me,
            zxid: last_zxid,
            peer_epoch: current_epoch,
        };
        Election {
            me,
            quorum,
            own,
            round: 0,
            proposal: own,
            state: PeerState::Looking,
            recv: HashMap::new(),
            out_of_election: HashMap::new(),
            finalize_at: None,
            disconnected: Default::default(),
            resend_at: 0,
            resend_every: RESEND_START_MS,
            max_resend_ms: 60_000,
        }
    }

    pub fn with_max_resend(mut self, ms: u64) -> Self {
        self.max_resend_ms = ms.max(RESEND_START_MS);
        self
    }

    pub fn state(&self) -> PeerState {
        self.state
    }

    pub fn round(&self) -> u64 {
        self.round
    }

    pub fn vote(&self) -> Vote {
        self.proposal
    }

    fn voter(&self) -> bool {
        self.quorum.is_voter(self.me)
    }

    fn notification(&self) -> Notification {
        Notification {
            version: VERSION,
            vote: self.proposal,
            round: self.round,
            state: self.state,
            sid: self.me,
        }
    }

    fn broadcast(&mut self, now: u64, out: &mut Vec<Action>) {
        let n = self.notification();
        if self.voter() {
            self.recv.insert(self.me, self.proposal);
        }
        // Voters tell every member; an observer only needs the voters to answer it.
        let targets: Vec<u64> = if self.voter() {
            self.quorum.others(self.me).collect()
        } else {
            self.quorum
                .voters()
                .iter()
                .copied()
                .filter(|&id| id != self.me)
                .collect()
        };
        for id in targets {
            out.push(Action::Send(id, n));
        }
        self.resend_at = now + self.resend_every;
    }

    /// Start (or restart) looking for a leader, with an updated own vote.
    pub fn start(&mut self, last_zxid: i64, current_epoch: u64, now: u64) -> Vec<Action> {
        self.own = Vote {
            leader: self.me,
            zxid: last_zxid,
            peer_epoch: current_epoch,
        };
        self.round += 1;
        self.state = PeerState::Looking;
        self.proposal = self.own;
        self.recv.clear();
        self.out_of_election.clear();
        self.finalize_at = None;
        self.resend_every = RESEND_START_MS;
        let mut out = Vec::new();
        self.broadcast(now, &mut out);
        out
    }

    /// After a successful sync every member reports the same vote (ZOOKEEPER-1732).
    pub fn set_established(&mut self, state: PeerState, vote: Vote) {
        self.state = state;
        self.proposal = vote;
        self.finalize_at = None;
    }

    /// The election connection with `sid` opened (`up`) or closed.
    pub fn set_connected(&mut self, sid: u64, up: bool) -> Vec<Action> {
        let mut out = Vec::new();
        if up {
            self.disconnected.remove(&sid);
        } else {
            self.disconnected.insert(sid);
            self.decide_if_settled(&mut out);
        }
        out
    }

    /// Decide before the finalize wait when a quorum agrees and every other voter we can hear
    /// from already sent that same vote in this round (ZooKeeper ends the wait early when all
    /// voters answered; a closed connection means nobody is there to answer).
    fn decide_if_settled(&mut self, out: &mut Vec<Action>) {
        if self.state != PeerState::Looking || self.finalize_at.is_none() {
            return;
        }
        let v = self.proposal;
        let settled = self.quorum.voters().iter().all(|id| {
            *id == self.me || self.recv.get(id) == Some(&v) || self.disconnected.contains(id)
        });
        if settled {
            self.decide(v, out);
        }
    }

    fn agree_looking(&self, v: &Vote) -> bool {
        let ids: Vec<u64> = self
            .recv
            .iter()
            .filter(|(_, x)| *x == v)
            .map(|(id, _)| *id)
            .collect();
        self.quorum.contains_quorum(&ids)
    }

    fn quorum_backs(set: &HashMap<u64, Vote>, quorum: &QuorumVerifier, v: &Vote) -> bool {
        let ids: Vec<u64> = set
            .iter()
            .filter(|(_, x)| x.leader == v.leader && x.peer_epoch == v.peer_epoch)
            .map(|(id, _)| *id)
            .collect();
        quorum.contains_quorum(&ids)
    }

    fn decide(&mut self, vote: Vote, out: &mut Vec<Action>) {
        self.proposal = vote;
        self.finalize_at = None;
        self.state = if !self.voter() {
            PeerState::Observing
        } else if vote.leader == self.me {
            PeerState::Leading
        } else {
            PeerState::Following
        };
        out.push(Action::Decided(self.state, vote));
    }

    pub fn on_notification(&mut self, n: Notification, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.quorum.is_member(n.sid) || n.sid == self.me {
            return out;
        }
        if self.round == 0 {
            // Not started.
            return out;
        }
        if self.state != PeerState::Looking {
            // Answer whoever is still looking with the established vote, so it can join.
            if n.state == PeerState::Looking {
                out.push(Action::Send(n.sid, self.notification()));
            }
            return out;
        }
        if !self.quorum.is_voter(n.sid) {
            // Observers do not vote; tell them where we stand.
            if self.voter() {
                out.push(Action::Send(n.sid, self.notification()));
            }
            return out;
        }
        if !self.quorum.is_voter(n.vote.leader) {
            return out;
        }
        match n.state {
            PeerState::Looking => {
                if !self.voter() {
                    return out;
                }
                if n.round > self.round {
                    self.round = n.round;
                    self.recv.clear();
                    self.proposal = n.vote.max(self.own);
                    self.finalize_at = None;
                    self.broadcast(now, &mut out);
                } else if n.round < self.round {
                    // A laggard: it catches up from our answer.
                    out.push(Action::Send(n.sid, self.notification()));
                    return out;
                } else if n.vote > self.proposal {
                    self.proposal = n.vote;
                    self.finalize_at = None;
                    self.broadcast(now, &mut out);
                } else if self.recv.get(&n.sid) != Some(&n.vote) {
                    // First word from this peer in this round: it may have missed ours (say it
                    // reached it while it still followed a leader), so answer it directly rather
                    // than leave it to the resend timer. Once per new vote, so it cannot echo.
                    out.push(Action::Send(n.sid, self.notification()));
                }
                self.recv.insert(n.sid, n.vote);
                if self.agree_looking(&self.proposal) {
                    if self.finalize_at.is_none() {
                        self.finalize_at = Some(now + FINALIZE_WAIT_MS);
                    }
                    self.decide_if_settled(&mut out);
                } else {
                    self.finalize_at = None;
                }
            }
            PeerState::Observing => {}
            PeerState::Following | PeerState::Leading => {
                if n.round == self.round {
                    self.recv.insert(n.sid, n.vote);
                    if self.agree_established(n.vote, n.round, n.sid, n.state, true) {
                        self.decide(n.vote, &mut out);
                        return out;
                    }
                }
                self.out_of_election.insert(n.sid, (n.vote, n.state));
                if self.agree_established(n.vote, n.round, n.sid, n.state, false) {
                    self.round = n.round;
                    self.decide(n.vote, &mut out);
                }
            }
        }
        out
    }

    /// Whether a quorum backs an established leader, and the leader itself says it leads.
    fn agree_established(
        &self,
        v: Vote,
        round: u64,
        _sid: u64,
        _state: PeerState,
        in_round: bool,
    ) -> bool {
        let mut set: HashMap<u64, Vote> = if in_round {
            self.recv.clone()
        } else {
            self.out_of_election
                .iter()
                .map(|(id, (v, _))| (*id, *v))
                .collect()
        };
        if !in_round {
            set.remove(&self.me);
        }
        if !Self::quorum_backs(&set, &self.quorum, &v) {
            return false;
        }
        if v.leader == self.me {
            return round == self.round;
        }
        self.out_of_election
            .get(&v.leader)
            .is_some_and(|(lv, st)| *st == PeerState::Leading && lv.leader == v.leader)
    }

    /// Time passes: decide once a quorum held long enough; resend while nothing moves.
    pub fn tick(&mut self, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state != PeerState::Looking || self.round == 0 {
            return out;
        }
        if let Some(at) = self.finalize_at {
            if now >= at {
                let v = self.proposal;
                self.decide(v, &mut out);
                return out;
            }
        }
        if now >= self.resend_at {
            self.resend_every = (self.resend_every * 2).min(self.max_resend_ms);
            self.broadcast(now, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet, VecDeque};

    /// An in-memory network of election machines with cuttable links.
    struct Net {
        nodes: BTreeMap<u64, Election>,
        queue: VecDeque<(u64, u64, Notification)>,
        down: BTreeSet<u64>,
        cut: BTreeSet<(u64, u64)>,
        decided: BTreeMap<u64, (PeerState, Vote)>,
        now: u64,
    }

    impl Net {
        fn new(voters: &[u64], observers: &[u64], zxids: &[(u64, i64, u64)]) -> Net {
            let q = QuorumVerifier::new(voters.iter().copied(), observers.iter().copied());
            let mut nodes = BTreeMap::new();
            for &(id, zxid, epoch) in zxids {
                nodes.insert(
                    id,
                    Election::new(id, q.clone(), zxid, epoch).with_max_resend(1000),
                );
            }
            Net {
                nodes,
                queue: VecDeque::new(),
                down: BTreeSet::new(),
                cut: BTreeSet::new(),
                decided: BTreeMap::new(),
                now: 0,
            }
        }

        fn route(&mut self, from: u64, actions: Vec<Action>) {
            for a in actions {
                match a {
                    Action::Send(to, n) => self.queue.push_back((from, to, n)),
                    Action::Decided(s, v) => {
                        self.decided.insert(from, (s, v));
                    }
                }
            }
        }

        fn start(&mut self, ids: &[u64]) {
            for &id in ids {
                let e = self.nodes.get_mut(&id).unwrap();
                let (z, ep) = (e.own.zxid, e.own.peer_epoch);
                let a = e.start(z, ep, self.now);
                self.route(id, a);
            }
        }

        /// Deliver every queued message, without time passing.
        fn deliver(&mut self) {
            while let Some((from, to, n)) = self.queue.pop_front() {
                if self.down.contains(&to)
                    || self.down.contains(&from)
                    || self.cut.contains(&(from, to))
                {
                    continue;
                }
                let now = self.now;
                if let Some(e) = self.nodes.get_mut(&to) {
                    let a = e.on_notification(n, now);
                    self.route(to, a);
                }
            }
        }

        /// Deliver messages and tick until quiet or `ms` elapse.
        fn run(&mut self, ms: u64) {
            let end = self.now + ms;
            while self.now < end {
                self.deliver();
                self.now += 10;
                let ids: Vec<u64> = self
                    .nodes
                    .keys()
                    .copied()
                    .filter(|id| !self.down.contains(id))
                    .collect();
                for id in ids {
                    let now = self.now;
                    let a = self.nodes.get_mut(&id).unwrap().tick(now);
                    self.route(id, a);
                }
            }
        }

        fn leader_of(&self, id: u64) -> Option<u64> {
            self.decided.get(&id).map(|(_, v)| v.leader)
        }
    }

    #[test]
    fn all_voters_agreeing_decide_without_the_finalize_wait() {
        let mut net = Net::new(&[1, 2, 3], &[], &[(1, 5, 1), (2, 5, 1), (3, 5, 1)]);
        net.start(&[1, 2, 3]);
        net.deliver();
        for id in [1, 2, 3] {
            assert_eq!(net.leader_of(id), Some(3), "server {id}");
        }
        assert_eq!(net.now, 0);
    }

    #[test]
    fn a_closed_connection_ends_the_finalize_wait() {
        // Server 3 is gone. While 1 and 2 cannot tell, they wait before deciding.
        let mut net = Net::new(&[1, 2, 3], &[], &[(1, 5, 1), (2, 5, 1), (3, 5, 1)]);
        net.down.insert(3);
        net.start(&[1, 2]);
        net.deliver();
        assert!(net.decided.is_empty());
        net.run(FINALIZE_WAIT_MS + 20);
        assert_eq!(net.leader_of(1), Some(2));
        assert_eq!(net.leader_of(2), Some(2));

        // Once they know its connection is closed, a quorum of the rest decides at once,
        // whichever comes first: the closed connection or the last vote.
        let mut net = Net::new(&[1, 2, 3], &[], &[(1, 5, 1), (2, 5, 1), (3, 5, 1)]);
        net.down.insert(3);
        let a = net.nodes.get_mut(&2).unwrap().set_connected(3, false);
        assert!(a.is_empty(), "nothing to decide before a round");
        net.start(&[1, 2]);
        net.deliver();
        assert_eq!(net.leader_of(2), Some(2));
        assert_eq!(net.decided[&2].0, PeerState::Leading);
        assert_eq!(net.leader_of(1), None, "1 still waits for 3");
        let a = net.nodes.get_mut(&1).unwrap().set_connected(3, false);
        net.route(1, a);
        assert_eq!(net.leader_of(1), Some(2));
        assert_eq!(net.decided[&1].0, PeerState::Following);
        assert_eq!(net.now, 0);

        // A connection that opens again brings the wait back.
        let mut net = Net::new(&[1, 2, 3], &[], &[(1, 5, 1), (2, 5, 1), (3, 5, 1)]);
        net.down.insert(3);
        for id in [1, 2] {
            let e = net.nodes.get_mut(&id).unwrap();
            assert!(e.set_connected(3, false).is_empty());
            assert!(e.set_connected(3, true).is_empty());
        }
        net.start(&[1, 2]);
        net.deliver();
        assert!(net.decided.is_empty());
    }

    #[test]
    fn a_better_vote_from_a_connected_voter_still_counts() {
        // 3 has the newest log but answers late; 1 and 2 must not settle on 2 while 3 is
        // connected.
        let mut net = Net::new(&[1, 2, 3], &[], &[(1, 5, 1), (2, 5, 1), (3, 9, 1)]);
        net.start(&[1, 2]);
        net.deliver();
        assert!(net.decided.is_empty());
        net.start(&[3]);
        net.run(FINALIZE_WAIT_MS + 100);
        for id in [1, 2, 3] {
            assert_eq!(net.leader_of(id), Some(3), "server {id}");
        }
    }

    #[test]
    fn highest_zxid_wins_then_highest_id() {
        let mut net = Net::new(&[1, 2, 3], &[], &[(1, 10, 1), (2, 12, 1), (3, 11, 1)]);
        net.start(&[1, 2, 3]);
        net.run(2000);
        for id in [1, 2, 3] {
            assert_eq!(net.leader_of(id), Some(2), "server {id}");
        }
        assert_eq!(net.decided[&2].0, PeerState::Leading);
        assert_eq!(net.decided[&1].0, PeerState::Following);

        let mut tie = Net::new(&[1, 2, 3], &[], &[(1, 5, 1), (2, 5, 1), (3, 5, 1)]);
        tie.start(&[1, 2, 3]);
        tie.run(2000);
        assert!([1, 2, 3].iter().all(|id| tie.leader_of(*id) == Some(3)));
    }

    #[test]
    fn epoch_beats_zxid() {
        let mut net = Net::new(
            &[1, 2, 3],
            &[],
            &[(1, 0x1_0000_0009, 1), (2, 0x2_0000_0001, 2), (3, 0, 0)],
        );
        net.start(&[1, 2, 3]);
        net.run(2000);
        assert!([1, 2, 3].iter().all(|id| net.leader_of(*id) == Some(2)));
    }

    #[test]
    fn majority_is_enough_and_minority_never_decides() {
        let mut net = Net::new(
            &[1, 2, 3, 4, 5],
            &[],
            &[(1, 1, 1), (2, 1, 1), (3, 1, 1), (4, 9, 1), (5, 9, 1)],
        );
        net.down.extend([4, 5]);
        net.start(&[1, 2, 3]);
        net.run(3000);
        assert!([1, 2, 3].iter().all(|id| net.leader_of(*id) == Some(3)));

        let mut minority = Net::new(
            &[1, 2, 3, 4, 5],
            &[],
            &[(1, 1, 1), (2, 1, 1), (3, 1, 1), (4, 1, 1), (5, 1, 1)],
        );
        minority.down.extend([3, 4, 5]);
        minority.start(&[1, 2]);
        minority.run(5000);
        assert!(minority.decided.is_empty());
    }

    #[test]
    fn late_joiner_follows_the_established_leader() {
        let mut net = Net::new(&[1, 2, 3], &[], &[(1, 5, 1), (2, 5, 1), (3, 100, 1)]);
        net.down.insert(3);
        net.start(&[1, 2]);
        net.run(2000);
        assert_eq!(net.leader_of(1), Some(2));
        // Server 3 has a higher zxid, but 1 and 2 already established 2: 3 joins without a new
        // election.
        net.down.remove(&3);
        net.start(&[3]);
        net.run(2000);
        assert_eq!(net.leader_of(3), Some(2));
        assert_eq!(net.decided[&3].0, PeerState::Following);
        assert_eq!(net.decided[&2].0, PeerState::Leading);
    }

    #[test]
    fn observers_never_lead_and_find_the_leader() {
        let mut net = Net::new(
            &[1, 2, 3],
            &[9],
            &[(1, 1, 1), (2, 1, 1), (3, 1, 1), (9, 1000, 9)],
        );
        net.start(&[1, 2, 3, 9]);
        net.run(3000);
        assert!([1, 2, 3].iter().all(|id| net.leader_of(*id) == Some(3)));
        assert_eq!(
            net.decided.get(&9),
            Some(&(PeerState::Observing, net.decided[&3].1))
        );
    }

    #[test]
    fn lost_messages_are_resent() {
        let mut net = Net::new(&[1, 2, 3], &[], &[(1, 1, 1), (2, 2, 1), (3, 3, 1)]);
        // 3's first round of notifications is lost.
        net.cut.extend([(3, 1), (3, 2)]);
        net.start(&[1, 2, 3]);
        net.run(100);
        net.cut.clear();
        net.run(5000);
        // 1 and 2 settle on 2 before 3's resent vote arrives; 3 then joins them.
        let leader = net.leader_of(1).expect("decided");
        assert!([2, 3].iter().all(|id| net.leader_of(*id) == Some(leader)));
        assert_eq!(net.decided[&leader].0, PeerState::Leading);
    }

    #[test]
    fn strangers_are_ignored_and_lines_read_like_zookeepers() {
        let q = QuorumVerifier::new([1, 2, 3], []);
        let mut e = Election::new(1, q, 0, 0);
        e.start(0, 0, 0);
        let stranger = Notification {
            version: 2,
            vote: Vote {
                leader: 7,
                zxid: 99,
                peer_epoch: 9,
            },
            round: 9,
            state: PeerState::Looking,
            sid: 7,
        };
        assert!(e.on_notification(stranger, 0).is_empty());
        let n = Notification {
            version: 1,
            vote: Vote {
                leader: 5,
                zxid: 0xf00000002,
                peer_epoch: 0xf,
            },
            round: 1,
            state: PeerState::Looking,
            sid: 5,
        };
        assert_eq!(
            n.describe(PeerState::Looking),
            "Notification: 1 (message format version), 5 (n.leader), 0xf00000002 (n.zxid), 0x1 (n.round), LOOKING (n.state), 5 (n.sid), 0xf (n.peerEpoch) LOOKING (my state)"
        );
    }
}
