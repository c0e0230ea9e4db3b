//! In-memory scenarios of a leader and learners exchanging ZAB messages, with each server's
//! log and applied history modelled, to check that every server applies the same sequence.

use super::leader::{self, Leader};
use super::learner::{self, Learner};
use super::sync::make_zxid;
use crate::codec::peer::{PeerMessage, EPOCH_ALREADY_ACCEPTED};
use crate::datatree::{Txn, TxnOp};
use crate::proto::quorum::QuorumVerifier;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A txn for the in-memory tests (also the simulation's).
pub(super) fn txn(zxid: i64) -> Txn {
    Txn {
        session: 1,
        cxid: 0,
        zxid,
        time: 0,
        op: TxnOp::Delete {
            path: format!("/t{zxid:x}"),
        }
        .into(),
    }
}

#[derive(Default, Debug, Clone)]
struct Disk {
    log: Vec<i64>,
    applied: Vec<i64>,
    accepted_epoch: u32,
    current_epoch: u32,
}

struct Net {
    leader_id: u64,
    leader: Leader,
    learners: BTreeMap<u64, Learner>,
    disks: BTreeMap<u64, Disk>,
    to_leader: VecDeque<(u64, PeerMessage)>,
    to_learner: VecDeque<(u64, PeerMessage)>,
    down: BTreeSet<u64>,
    established: Option<u32>,
    stepped_down: Option<String>,
    serving: BTreeSet<u64>,
    /// Learners take a COMMIT as committing everything up to it (peer protocol 3).
    cumulative: bool,
}

impl Net {
    /// `histories`: each server's logged zxids (all applied), epochs from the last one.
    fn new(
        voters: &[u64],
        observers: &[u64],
        leader_id: u64,
        histories: &[(u64, Vec<i64>)],
    ) -> Net {
        let q = QuorumVerifier::new(voters.iter().copied(), observers.iter().copied());
        let mut disks = BTreeMap::new();
        for (id, h) in histories {
            let e = h.last().map_or(0, |z| super::sync::epoch_of(*z));
            disks.insert(
                *id,
                Disk {
                    log: h.clone(),
                    applied: h.clone(),
                    accepted_epoch: e,
                    current_epoch: e,
                },
            );
        }
        let ld = disks[&leader_id].clone();
        let window: Vec<Txn> = ld.log.iter().map(|z| txn(*z)).collect();
        let leader = Leader::new(
            leader_id,
            q.clone(),
            ld.accepted_epoch,
            ld.current_epoch,
            ld.log.last().copied().unwrap_or(0),
            window,
            0,
            10_000,
            5_000,
        );
        let mut learners = BTreeMap::new();
        for (id, d) in &disks {
            if *id == leader_id {
                continue;
            }
            learners.insert(
                *id,
                Learner::new(
                    *id,
                    q.is_observer(*id),
                    d.accepted_epoch,
                    d.current_epoch,
                    d.log.last().copied().unwrap_or(0),
                    0,
                    10_000,
                    5_000,
                )
                .with_leader(&q, leader_id),
            );
        }
        Net {
            leader_id,
            leader,
            learners,
            disks,
            to_leader: VecDeque::new(),
            to_learner: VecDeque::new(),
            down: BTreeSet::new(),
            established: None,
            stepped_down: None,
            serving: BTreeSet::new(),
            cumulative: false,
        }
    }

    fn start(&mut self) {
        let ids: Vec<u64> = self.learners.keys().copied().collect();
        for id in ids {
            if self.down.contains(&id) {
                continue;
            }
            let a = self.learners.get_mut(&id).unwrap().start();
            self.learner_actions(id, a);
        }
        self.run();
    }

    fn leader_actions(&mut self, actions: Vec<leader::Action>) {
        let me = self.leader_id;
        let mut queue: VecDeque<leader::Action> = actions.into();
        while let Some(a) = queue.pop_front() {
            match a {
                leader::Action::Send(to, m) => self.to_learner.push_back((to, m)),
                leader::Action::PersistAcceptedEpoch(e) => {
                    self.disks.get_mut(&me).unwrap().accepted_epoch = e
                }
                leader::Action::PersistCurrentEpoch(e) => {
                    self.disks.get_mut(&me).unwrap().current_epoch = e
                }
                leader::Action::SendSnapshot(to) => {
                    let applied = self.disks[&me].applied.clone();
                    let z = applied.last().copied().unwrap_or(0);
                    self.to_learner
                        .push_back((to, PeerMessage::Snap { zxid: z }));
                    // The snapshot content, modelled as the applied history.
                    self.to_learner.push_back((
                        to,
                        PeerMessage::SnapSessions(applied.iter().map(|z| (*z, 0)).collect()),
                    ));
                }
                // The log writer tells the voting learners, then reports the fsync.
                leader::Action::LogProposal { txns, tell } => {
                    let last = txns.last().map_or(0, |t| t.zxid);
                    for t in &txns {
                        self.disks.get_mut(&me).unwrap().log.push(t.zxid);
                    }
                    for id in tell {
                        self.to_learner
                            .push_back((id, PeerMessage::Logged { zxid: last }));
                    }
                    queue.extend(self.leader.logged(last));
                }
                leader::Action::Commit(z) => {
                    let d = self.disks.get_mut(&me).unwrap();
                    for lz in d.log.clone() {
                        if lz <= z && d.applied.last().is_none_or(|a| lz > *a) {
                            d.applied.push(lz);
                        }
                    }
                }
                leader::Action::Established(e) => self.established = Some(e),
                leader::Action::Disconnect(_) => {}
                leader::Action::StepDown(why) => self.stepped_down = Some(why),
            }
        }
    }

    fn learner_actions(&mut self, id: u64, actions: Vec<learner::Action>) {
        let mut queue: VecDeque<learner::Action> = actions.into();
        while let Some(a) = queue.pop_front() {
            let d = self.disks.get_mut(&id).unwrap();
            match a {
                learner::Action::Send(m) => self.to_leader.push_back((id, m)),
                learner::Action::PersistAcceptedEpoch(e) => d.accepted_epoch = e,
                learner::Action::PersistCurrentEpoch(e) => d.current_epoch = e,
                learner::Action::Truncate(z) => {
                    d.log.retain(|x| *x <= z);
                    d.applied.retain(|x| *x <= z);
                }
                learner::Action::BeginSnapshot(_) => {}
                learner::Action::LogProposal(t) => {
                    d.log.push(t.zxid);
                    let more = self.learners.get_mut(&id).unwrap().logged(t.zxid);
                    queue.extend(more);
                }
                // The log writer ACKs on the link itself, then reports the fsync.
                learner::Action::LogAndAck(t) => {
                    d.log.push(t.zxid);
                    self.to_leader
                        .push_back((id, PeerMessage::Ack { zxid: t.zxid }));
                    let more = self.learners.get_mut(&id).unwrap().logged(t.zxid);
                    queue.extend(more);
                }
                learner::Action::SyncLog | learner::Action::TakeSnapshot => {}
                learner::Action::Commit(t) => {
                    if d.applied.last().is_none_or(|a| t.zxid > *a) {
                        d.applied.push(t.zxid);
                    }
                }
                learner::Action::Serve => {
                    self.serving.insert(id);
                }
                learner::Action::Abandon(why) => panic!("learner {id} abandoned: {why}"),
            }
        }
    }

    fn run(&mut self) {
        for _ in 0..10_000 {
            if let Some((from, m)) = self.to_leader.pop_front() {
                if self.down.contains(&from) {
                    continue;
                }
                let a = match m {
                    PeerMessage::LearnerInfo {
                        sid,
                        observer,
                        accepted_epoch,
                        last_zxid,
                    } => self.leader.learner_info(
                        sid,
                        observer,
                        accepted_epoch,
                        last_zxid,
                        self.cumulative,
                        0,
                    ),
                    PeerMessage::AckEpoch {
                        current_epoch,
                        last_zxid,
                    } => self.leader.ack_epoch(from, current_epoch, last_zxid, 0),
                    PeerMessage::Ack { zxid } => self.leader.ack(from, zxid, 0),
                    _ => Vec::new(),
                };
                self.leader_actions(a);
                continue;
            }
            if let Some((to, m)) = self.to_learner.pop_front() {
                if self.down.contains(&to) {
                    continue;
                }
                if let PeerMessage::SnapSessions(h) = &m {
                    // The snapshot replaces the learner's state.
                    let d = self.disks.get_mut(&to).unwrap();
                    d.applied = h.iter().map(|(z, _)| *z).collect();
                    d.log = d.applied.clone();
                    continue;
                }
                let a = self.learners.get_mut(&to).unwrap().on_message(m, 0);
                self.learner_actions(to, a);
                continue;
            }
            return;
        }
        panic!("no quiescence");
    }

    fn propose(&mut self, n: u32) {
        let e = self.established.expect("established");
        for _ in 0..n {
            let last = *self.disks[&self.leader_id].log.last().unwrap_or(&0);
            let z = if super::sync::epoch_of(last) == e {
                last + 1
            } else {
                make_zxid(e, 1)
            };
            let a = self.leader.propose(txn(z));
            self.leader_actions(a);
            self.run();
        }
    }

    fn applied(&self, id: u64) -> Vec<i64> {
        self.disks[&id].applied.clone()
    }
}

fn z(e: u32, c: u32) -> i64 {
    make_zxid(e, c)
}

#[test]
fn fresh_ensemble_agrees_on_an_epoch_and_commits_everywhere() {
    let mut net = Net::new(&[1, 2, 3], &[], 3, &[(1, vec![]), (2, vec![]), (3, vec![])]);
    net.start();
    assert_eq!(net.established, Some(1));
    assert_eq!(net.serving, [1, 2].into_iter().collect());
    for id in [1, 2, 3] {
        assert_eq!(
            (net.disks[&id].accepted_epoch, net.disks[&id].current_epoch),
            (1, 1),
            "server {id}"
        );
    }
    net.propose(5);
    let want: Vec<i64> = (1..=5).map(|c| z(1, c)).collect();
    for id in [1, 2, 3] {
        assert_eq!(net.applied(id), want, "server {id}");
    }
}

#[test]
fn behind_learner_gets_a_diff() {
    let h = vec![z(1, 1), z(1, 2), z(1, 3), z(1, 4)];
    let mut net = Net::new(
        &[1, 2, 3],
        &[],
        3,
        &[(1, h[..2].to_vec()), (2, h.clone()), (3, h.clone())],
    );
    net.start();
    assert_eq!(net.established, Some(2));
    assert_eq!(net.applied(1), h);
    net.propose(2);
    let mut want = h.clone();
    want.extend([z(2, 1), z(2, 2)]);
    for id in [1, 2, 3] {
        assert_eq!(net.applied(id), want, "server {id}");
    }
}

#[test]
fn uncommitted_tail_is_truncated() {
    // Server 1 led epoch 1 and logged z(1,3) that nobody else got; 3 leads now.
    let mut net = Net::new(
        &[1, 2, 3],
        &[],
        3,
        &[
            (1, vec![z(1, 1), z(1, 2), z(1, 3)]),
            (2, vec![z(1, 1), z(1, 2)]),
            (3, vec![z(1, 1), z(1, 2)]),
        ],
    );
    // It comes back after the new epoch is established (had it been up, it would have won
    // the election with its higher zxid).
    net.down.insert(1);
    net.start();
    net.propose(1);
    net.down.remove(&1);
    let a = net.learners.get_mut(&1).unwrap().start();
    net.learner_actions(1, a);
    net.run();
    let want = vec![z(1, 1), z(1, 2), z(2, 1)];
    for id in [1, 2, 3] {
        assert_eq!(net.applied(id), want, "server {id}");
    }
    assert!(!net.disks[&1].log.contains(&z(1, 3)));
}

#[test]
fn far_behind_learner_gets_a_snapshot() {
    let mut net = Net::new(&[1, 2, 3], &[], 3, &[(1, vec![]), (2, vec![]), (3, vec![])]);
    net.down.insert(1);
    net.start();
    net.propose(3);
    // Forget the window so that server 1 can only be synced by SNAP.
    let mut net2 = Net::new(
        &[1, 2, 3],
        &[],
        3,
        &[(1, vec![]), (2, net.applied(2)), (3, net.applied(3))],
    );
    net2.leader = Leader::new(
        3,
        QuorumVerifier::new([1, 2, 3], []),
        1,
        1,
        z(1, 3),
        vec![],
        0,
        10_000,
        5_000,
    );
    net2.start();
    assert_eq!(net2.applied(1), net.applied(3));
}

#[test]
fn observers_learn_but_do_not_count() {
    let mut net = Net::new(
        &[1, 2, 3],
        &[9],
        3,
        &[(1, vec![]), (2, vec![]), (3, vec![]), (9, vec![])],
    );
    net.start();
    net.propose(2);
    assert_eq!(net.applied(9), vec![z(1, 1), z(1, 2)]);
    // With both followers gone, the observer's presence does not make a quorum.
    net.down.extend([1, 2]);
    let before = net.applied(3);
    net.propose(1);
    assert_eq!(
        net.applied(3),
        before,
        "nothing commits without a quorum of voters"
    );
}

#[test]
fn leader_without_a_quorum_steps_down() {
    let mut net = Net::new(&[1, 2, 3], &[], 3, &[(1, vec![]), (2, vec![]), (3, vec![])]);
    net.start();
    assert!(net.leader.tick(4_000).is_empty());
    net.leader.heard(1, 4_000);
    assert!(
        net.leader.tick(8_000).is_empty(),
        "server 1 was heard recently"
    );
    assert!(matches!(
        net.leader.tick(20_000)[..],
        [leader::Action::StepDown(_)]
    ));
    let mut stale = Net::new(&[1, 2, 3], &[], 3, &[(1, vec![]), (2, vec![]), (3, vec![])]);
    assert!(matches!(
        stale.leader.tick(20_000)[..],
        [leader::Action::StepDown(_)]
    ));
}

#[test]
fn learner_abandons_a_silent_leader_and_a_commit_of_what_it_never_got() {
    let mut l = Learner::new(1, false, 0, 0, 0, 0, 1_000, 500);
    l.start();
    assert!(matches!(l.tick(2_000)[..], [learner::Action::Abandon(_)]));
    let mut l = Learner::new(1, false, 0, 0, 0, 0, 1_000, 500);
    l.start();
    l.on_message(PeerMessage::LeaderInfo { new_epoch: 1 }, 0);
    l.on_message(PeerMessage::Diff { zxid: 0 }, 0);
    l.on_message(
        PeerMessage::Proposal {
            txn: txn(z(1, 1)),
            trace: String::new(),
        },
        0,
    );
    let a = l.on_message(
        PeerMessage::Commit {
            zxid: z(1, 2),
            trace: String::new(),
        },
        0,
    );
    assert!(matches!(a[..], [learner::Action::Abandon(_)]));
    let mut old = Learner::new(1, false, 5, 5, 0, 0, 1_000, 500);
    old.start();
    assert!(matches!(
        old.on_message(PeerMessage::LeaderInfo { new_epoch: 4 }, 0)[..],
        [learner::Action::Abandon(_)]
    ));
}

#[test]
fn learners_still_syncing_get_the_commits_of_that_time() {
    let mut net = Net::new(
        &[1, 2, 3],
        &[9],
        3,
        &[(1, vec![]), (2, vec![]), (3, vec![]), (9, vec![])],
    );
    net.down.extend([2, 9]);
    net.start();
    assert_eq!(net.established, Some(1));
    // 2 and 9 come back: the leader answers their epoch acks with the sync stream, but the
    // learners have not acked NEWLEADER yet when the next txn commits.
    let l = &mut net.leader;
    l.learner_info(2, false, 0, 0, false, 0);
    l.learner_info(9, true, 0, 0, false, 0);
    l.ack_epoch(2, 0, 0, 0);
    l.ack_epoch(9, 0, 0, 0);
    let mut actions = l.propose(txn(z(1, 1)));
    actions.extend(l.logged(z(1, 1)));
    actions.extend(l.ack(1, z(1, 1), 0));
    let to = |id: u64| {
        actions
            .iter()
            .filter(move |a| matches!(a, leader::Action::Send(t, _) if *t == id))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(to(2)
        .iter()
        .any(|a| matches!(a, leader::Action::Send(_, PeerMessage::Commit { .. }))));
    assert!(to(9)
        .iter()
        .any(|a| matches!(a, leader::Action::Send(_, PeerMessage::Inform { .. }))));
}

#[test]
fn an_exhausted_zxid_counter_forces_a_new_epoch() {
    let mut net = Net::new(&[1, 2, 3], &[], 3, &[(1, vec![]), (2, vec![]), (3, vec![])]);
    net.start();
    let a = net.leader.propose(txn(make_zxid(1, 0xffff_fffe)));
    assert!(matches!(a[..], [leader::Action::StepDown(_)]));
}

/// Proposals of the sync stream and before UPTODATE are ACKed by the machine once logged; in
/// broadcast the log writer ACKs them, so the machine never sends a second ACK. Observers never
/// ACK.
#[test]
fn who_acks_a_proposal() {
    let prop = |n| PeerMessage::Proposal {
        txn: txn(z(1, n)),
        trace: String::new(),
    };
    let acks = |a: &[learner::Action]| {
        a.iter()
            .filter_map(|a| match a {
                learner::Action::Send(PeerMessage::Ack { zxid }) => Some(*zxid),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    for observer in [false, true] {
        let mut l = Learner::new(2, observer, 0, 0, 0, 0, 1_000, 500);
        l.start();
        l.on_message(PeerMessage::LeaderInfo { new_epoch: 1 }, 0);
        l.on_message(PeerMessage::Diff { zxid: 0 }, 0);
        let a = l.on_message(prop(1), 0);
        assert!(matches!(a[..], [learner::Action::LogProposal(_)]));
        let a = l.on_message(
            PeerMessage::NewLeader {
                zxid: Learner::newleader_zxid(1),
            },
            0,
        );
        // NEWLEADER's ACK, then (voters only) the sync stream's proposal.
        let want = if observer {
            vec![Learner::newleader_zxid(1)]
        } else {
            vec![Learner::newleader_zxid(1), z(1, 1)]
        };
        assert_eq!(acks(&a), want);
        // Between NEWLEADER and UPTODATE: logged, ACKed by the machine.
        let a = l.on_message(prop(2), 0);
        assert!(matches!(a[..], [learner::Action::LogProposal(_)]));
        l.on_message(PeerMessage::UpToDate, 0);
        // Broadcast: the log writer ACKs (observers only log).
        let a = l.on_message(prop(3), 0);
        if observer {
            assert!(matches!(a[..], [learner::Action::LogProposal(_)]));
        } else {
            assert!(matches!(a[..], [learner::Action::LogAndAck(_)]));
        }
        let a = l.logged(z(1, 3));
        assert_eq!(acks(&a), if observer { vec![] } else { vec![z(1, 2)] });
        assert!(acks(&l.logged(z(1, 3))).is_empty());
    }
}

/// With the leader a quorum (3 voters), a learner applies a proposal once both copies are
/// durable, in either order, and ignores the COMMIT that follows; otherwise (5 voters,
/// observers) it waits for the COMMIT.
#[test]
fn learner_and_leader_as_a_quorum_commit_without_the_commit_hop() {
    // Leader 1 and learner 2: a quorum of 3 voters, not of 5.
    let voters = |three: bool| {
        let n = if three { 3 } else { 5 };
        QuorumVerifier::new(1..=n, std::iter::empty())
    };
    let broadcasting = |observer: bool, leader_quorum: bool| {
        let mut l = Learner::new(2, observer, 0, 0, 0, 0, 1_000, 500)
            .with_leader(&voters(leader_quorum), 1);
        l.start();
        l.on_message(PeerMessage::LeaderInfo { new_epoch: 1 }, 0);
        l.on_message(PeerMessage::Diff { zxid: 0 }, 0);
        l.on_message(
            PeerMessage::NewLeader {
                zxid: Learner::newleader_zxid(1),
            },
            0,
        );
        l.on_message(PeerMessage::UpToDate, 0);
        l
    };
    let prop = |n| PeerMessage::Proposal {
        txn: txn(z(1, n)),
        trace: String::new(),
    };
    let commit = |n| PeerMessage::Commit {
        zxid: z(1, n),
        trace: String::new(),
    };
    let commits = |a: &[learner::Action]| {
        a.iter()
            .filter_map(|a| match a {
                learner::Action::Commit(t) => Some(t.zxid),
                learner::Action::Abandon(why) => panic!("abandoned: {why}"),
                _ => None,
            })
            .collect::<Vec<_>>()
    };

    let mut l = broadcasting(false, true);
    l.on_message(prop(1), 0);
    l.on_message(prop(2), 0);
    // Own copy first, then the leader's.
    assert!(commits(&l.logged(z(1, 2))).is_empty());
    assert_eq!(
        commits(&l.on_message(PeerMessage::Logged { zxid: z(1, 1) }, 0)),
        vec![z(1, 1)]
    );
    assert_eq!(
        commits(&l.on_message(PeerMessage::Logged { zxid: z(1, 2) }, 0)),
        vec![z(1, 2)]
    );
    // The COMMITs come later and change nothing.
    assert!(commits(&l.on_message(commit(1), 0)).is_empty());
    assert!(commits(&l.on_message(commit(2), 0)).is_empty());
    // The leader's copy first (its Logged may overtake the PROPOSAL), then ours.
    assert!(commits(&l.on_message(PeerMessage::Logged { zxid: z(1, 3) }, 0)).is_empty());
    l.on_message(prop(3), 0);
    assert_eq!(commits(&l.logged(z(1, 3))), vec![z(1, 3)]);
    assert!(commits(&l.on_message(commit(3), 0)).is_empty());
    // A COMMIT ahead of anything proposed is still refused.
    assert!(matches!(
        l.on_message(commit(9), 0)[..],
        [learner::Action::Abandon(_)]
    ));

    // Not a quorum with the leader (5 voters), or an observer: only COMMIT applies.
    for (observer, leader_quorum) in [(false, false), (true, true)] {
        let mut l = broadcasting(observer, leader_quorum);
        l.on_message(prop(1), 0);
        assert!(commits(&l.logged(z(1, 1))).is_empty());
        assert!(commits(&l.on_message(PeerMessage::Logged { zxid: z(1, 1) }, 0)).is_empty());
        assert_eq!(commits(&l.on_message(commit(1), 0)), vec![z(1, 1)]);
    }
}

/// A follower logs in zxid order and ACKs after its fsync, so its ACK of a proposal covers the
/// ones before it: one ACK per batch commits the whole batch, in order, once a quorum has it.
#[test]
fn acks_count_cumulatively() {
    let mut net = Net::new(
        &[1, 2, 3, 4, 5],
        &[],
        1,
        &[
            (1, vec![]),
            (2, vec![]),
            (3, vec![]),
            (4, vec![]),
            (5, vec![]),
        ],
    );
    net.start();
    assert_eq!(net.established, Some(1));
    for c in 1..=3 {
        net.leader.propose(txn(z(1, c)));
    }
    let commits = |a: &[leader::Action]| {
        a.iter()
            .filter_map(|a| match a {
                leader::Action::Commit(z) => Some(*z),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // The leader and one follower of five voters: no quorum yet.
    assert!(commits(&net.leader.logged(z(1, 3))).is_empty());
    assert!(commits(&net.leader.ack(2, z(1, 3), 0)).is_empty());
    // A third voter with only the first two: those two commit, the third waits.
    let a = net.leader.ack(3, z(1, 2), 0);
    assert_eq!(commits(&a), vec![z(1, 2)]);
    let to_4: Vec<i64> = a
        .iter()
        .filter_map(|a| match a {
            leader::Action::Send(4, PeerMessage::Commit { zxid, .. }) => Some(*zxid),
            _ => None,
        })
        .collect();
    assert_eq!(to_4, vec![z(1, 1), z(1, 2)]);
    assert_eq!(commits(&net.leader.ack(4, z(1, 3), 0)), vec![z(1, 3)]);
    // A late, smaller ACK changes nothing.
    assert!(commits(&net.leader.ack(5, z(1, 1), 0)).is_empty());
}

/// Peer protocol 3: a leader sends one COMMIT per batch to learners that take it as
/// committing everything up to it; every server still applies the same sequence.
#[test]
fn one_commit_per_batch_to_learners_that_take_it_cumulatively() {
    let mut net = Net::new(
        &[1, 2, 3, 4, 5],
        &[9],
        5,
        &[
            (1, vec![]),
            (2, vec![]),
            (3, vec![]),
            (4, vec![]),
            (5, vec![]),
            (9, vec![]),
        ],
    );
    net.cumulative = true;
    net.start();
    assert_eq!(net.established, Some(1));
    let a = net
        .leader
        .propose_all((1..=4).map(|c| txn(z(1, c))).collect());
    let proposals = a
        .iter()
        .filter(|a| matches!(a, leader::Action::Send(1, PeerMessage::Proposal { .. })))
        .count();
    assert_eq!(proposals, 4, "one PROPOSAL per txn to each voting learner");
    assert_eq!(
        a.iter()
            .filter(|a| matches!(a, leader::Action::LogProposal { .. }))
            .count(),
        1,
        "one log append for the batch"
    );
    net.leader_actions(a);
    net.run();
    let want: Vec<i64> = (1..=4).map(|c| z(1, c)).collect();
    for id in [1, 2, 3, 4, 5, 9] {
        assert_eq!(net.applied(id), want, "server {id}");
    }
    // A learner given the batch's proposals commits them all with the one COMMIT.
    let mut l = Learner::new(2, false, 0, 0, 0, 0, 1_000, 500);
    l.start();
    l.on_message(PeerMessage::LeaderInfo { new_epoch: 1 }, 0);
    l.on_message(PeerMessage::Diff { zxid: 0 }, 0);
    for c in 1..=3 {
        l.on_message(
            PeerMessage::Proposal {
                txn: txn(z(1, c)),
                trace: String::new(),
            },
            0,
        );
    }
    let a = l.on_message(
        PeerMessage::Commit {
            zxid: z(1, 2),
            trace: String::new(),
        },
        0,
    );
    let committed: Vec<i64> = a
        .iter()
        .filter_map(|a| match a {
            learner::Action::Commit(t) => Some(t.zxid),
            _ => None,
        })
        .collect();
    assert_eq!(committed, vec![z(1, 1), z(1, 2)]);
}

/// Found by the simulation: proposals after a SNAP were logged before the snapshot was on
/// disk, so a restart in between rebuilt a tree with a hole. They wait for NEWLEADER now,
/// and are logged after the snapshot is taken.
#[test]
fn a_snap_sync_logs_proposals_only_after_the_snapshot() {
    let mut l = Learner::new(2, false, 0, 0, 0, 0, 1_000, 500);
    l.start();
    l.on_message(PeerMessage::LeaderInfo { new_epoch: 2 }, 0);
    l.on_message(PeerMessage::Snap { zxid: z(1, 4) }, 0);
    let a = l.on_message(
        PeerMessage::Proposal {
            txn: txn(z(1, 5)),
            trace: String::new(),
        },
        0,
    );
    assert!(a.is_empty(), "nothing logged before the snapshot: {a:?}");
    let a = l.on_message(
        PeerMessage::NewLeader {
            zxid: Learner::newleader_zxid(2),
        },
        0,
    );
    let order: Vec<&str> = a
        .iter()
        .filter_map(|a| match a {
            learner::Action::TakeSnapshot => Some("snapshot"),
            learner::Action::LogProposal(_) => Some("log"),
            learner::Action::SyncLog => Some("sync"),
            _ => None,
        })
        .collect();
    assert_eq!(order, vec!["snapshot", "log", "sync"]);
}

/// Found by the simulation: a leader synced a learner (which then took the epoch as its
/// current one) before a quorum had agreed the epoch, and a learner that had accepted an epoch
/// counted again for another leader proposing the same epoch: two leaders of one epoch.
#[test]
fn nobody_is_synced_before_a_quorum_agrees_the_epoch_and_nobody_counts_twice() {
    let q = QuorumVerifier::new(1..=5, std::iter::empty());
    let mut l = Leader::new(1, q, 3, 3, z(3, 7), Vec::new(), 0, 10_000, 5_000);
    let newleaders = |a: &[leader::Action]| {
        a.iter()
            .filter(|a| matches!(a, leader::Action::Send(_, PeerMessage::NewLeader { .. })))
            .count()
    };
    for sid in [2, 3] {
        l.learner_info(sid, false, 3, z(3, 7), true, 0);
    }
    assert_eq!(l.epoch(), Some(4));
    // 2 acknowledges: 1 and 2 are no quorum of 5; nothing is synced yet.
    assert_eq!(newleaders(&l.ack_epoch(2, 3, z(3, 7), 0)), 0);
    // 3 had accepted epoch 4 before (from another leader): it follows, uncounted.
    let a = l.ack_epoch(3, EPOCH_ALREADY_ACCEPTED, z(3, 7), 0);
    assert_eq!(newleaders(&a), 0);
    // 4 makes the quorum (1, 2, 4): all three waiting learners are synced now.
    l.learner_info(4, false, 3, z(3, 7), true, 0);
    let a = l.ack_epoch(4, 3, z(3, 7), 0);
    assert!(a
        .iter()
        .any(|a| matches!(a, leader::Action::PersistCurrentEpoch(4))));
    assert_eq!(newleaders(&a), 3);
    // And a learner asked again for an epoch it accepted does not count again.
    let mut f = Learner::new(5, false, 4, 3, z(3, 7), 0, 1_000, 500);
    f.start();
    f.on_message(
        PeerMessage::Hello {
            version: crate::codec::peer::PROTOCOL_VERSION,
            sid: 1,
        },
        0,
    );
    let a = f.on_message(PeerMessage::LeaderInfo { new_epoch: 4 }, 0);
    assert!(a.iter().any(|a| matches!(
        a,
        learner::Action::Send(PeerMessage::AckEpoch {
            current_epoch: EPOCH_ALREADY_ACCEPTED,
            ..
        })
    )));
    // A leader older than protocol 3 (no Hello) gets the current epoch instead.
    let mut f = Learner::new(5, false, 4, 3, z(3, 7), 0, 1_000, 500);
    f.start();
    let a = f.on_message(PeerMessage::LeaderInfo { new_epoch: 4 }, 0);
    assert!(a.iter().any(|a| matches!(
        a,
        learner::Action::Send(PeerMessage::AckEpoch {
            current_epoch: 3,
            ..
        })
    )));
}
