//! The leader's side of ZAB as a pure machine: discovery (a new epoch agreed by a quorum),
//! synchronisation of each learner (DIFF / TRUNC / SNAP, then NEWLEADER), broadcast (PROPOSAL,
//! quorum of ACKs, COMMIT in zxid order, INFORM to observers) and liveness (step down when a
//! quorum of voters has not been heard for `sync_limit` ms).
//!
//! The shell persists what `Action::PersistAcceptedEpoch` / `PersistCurrentEpoch` ask before
//! sending anything after them, streams snapshots for `SendSnapshot`, logs proposals for
//! `LogProposal` and reports the fsync with `logged`.

use super::sync::{self, SyncPlan};
use crate::codec::peer::{PeerMessage, EPOCH_ALREADY_ACCEPTED};
use crate::datatree::Txn;
use crate::proto::quorum::QuorumVerifier;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Send(u64, PeerMessage),
    /// Make `acceptedEpoch` durable, then continue with the actions after it.
    PersistAcceptedEpoch(u32),
    /// Make `currentEpoch` durable.
    PersistCurrentEpoch(u32),
    /// Stream the whole tree to a learner (SNAP), then the actions after it.
    SendSnapshot(u64),
    /// Log and fsync proposals locally (one append); report with `logged`. Once they are on
    /// disk, tell the voting learners in `tell` (those they were sent to) with `Logged`.
    LogProposal {
        txns: Vec<Txn>,
        tell: Vec<u64>,
    },
    /// Everything up to this zxid is committed: apply it.
    Commit(i64),
    /// A quorum synced with the new epoch: start serving clients.
    Established(u32),
    /// Drop this learner's connection.
    Disconnect(u64),
    /// Leadership is lost; go back to election.
    StepDown(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Sent LEADERINFO, waiting for ACKEPOCH.
    Epoch,
    /// ACKEPOCH received; synced once a quorum of voters has agreed the epoch.
    EpochAcked,
    /// Sync stream and NEWLEADER sent, waiting for its ACK.
    Syncing,
    /// In broadcast.
    Synced,
}

#[derive(Debug)]
struct Learner {
    observer: bool,
    accepted_epoch: u32,
    last_zxid: i64,
    /// Highest proposal it acknowledged (followers) or was sent committed (observers).
    acked: i64,
    /// Voters: the highest proposal of this epoch it acknowledged in broadcast. A follower
    /// logs in zxid order and acknowledges after the fsync, so this ACK covers every earlier
    /// proposal too: ACKs count cumulatively, as Raft's match index does.
    logged: i64,
    /// It takes a COMMIT as committing every proposal up to it (peer protocol 3 on): one
    /// COMMIT per batch instead of one per proposal.
    cumulative: bool,
    phase: Option<Phase>,
    heard: u64,
}

#[derive(Debug)]
pub struct Leader {
    me: u64,
    quorum: QuorumVerifier,
    accepted_epoch: u32,
    current_epoch: u32,
    last_zxid: i64,
    /// The epoch this leader leads, once chosen.
    epoch: Option<u32>,
    learners: HashMap<u64, Learner>,
    /// Committed txns kept for DIFF, oldest first.
    window: VecDeque<Txn>,
    window_max: usize,
    /// Proposals not yet committed, in zxid order.
    outstanding: BTreeMap<i64, Txn>,
    /// Everything up to this zxid is on the leader's own disk.
    self_logged: i64,
    last_committed: i64,
    established: bool,
    /// Voters that acknowledged NEWLEADER (self included once its epoch is current).
    newleader_acks: BTreeSet<u64>,
    /// Voters that acknowledged the new epoch (self included).
    epoch_acks: BTreeSet<u64>,
    started: u64,
    init_limit: u64,
    sync_limit: u64,
}

impl Leader {
    /// `window`: the newest committed txns this server holds (for DIFF), oldest first.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        me: u64,
        quorum: QuorumVerifier,
        accepted_epoch: u32,
        current_epoch: u32,
        last_zxid: i64,
        window: Vec<Txn>,
        now: u64,
        init_limit_ms: u64,
        sync_limit_ms: u64,
    ) -> Leader {
        Leader {
            me,
            quorum,
            accepted_epoch,
            current_epoch,
            last_zxid,
            epoch: None,
            learners: HashMap::new(),
            window: window.into(),
            window_max: super::sync::DIFF_WINDOW,
            outstanding: BTreeMap::new(),
            self_logged: last_zxid,
            last_committed: last_zxid,
            established: false,
            newleader_acks: BTreeSet::new(),
            epoch_acks: [me].into_iter().collect(),
            started: now,
            init_limit: init_limit_ms,
            sync_limit: sync_limit_ms,
        }
    }

    /// Keep at most `n` committed txns for DIFF (tests: a small window makes SNAP common).
    pub fn with_diff_window(mut self, n: usize) -> Leader {
        self.window_max = n;
        while self.window.len() > n {
            self.window.pop_front();
        }
        self
    }

    pub fn epoch(&self) -> Option<u32> {
        self.epoch
    }

    pub fn is_established(&self) -> bool {
        self.established
    }

    /// Learners in broadcast, for `srvr` / `mntr` (sid, observer).
    pub fn synced_learners(&self) -> Vec<(u64, bool)> {
        let mut v: Vec<(u64, bool)> = self
            .learners
            .iter()
            .filter(|(_, l)| l.phase == Some(Phase::Synced))
            .map(|(id, l)| (*id, l.observer))
            .collect();
        v.sort();
        v
    }

    /// Per synced learner: (sid, observer, how many txns it is behind the last proposal).
    pub fn learner_lags(&self) -> Vec<(u64, bool, i64)> {
        let mut v: Vec<(u64, bool, i64)> = self
            .learners
            .iter()
            .filter(|(_, l)| l.phase == Some(Phase::Synced))
            .map(|(id, l)| {
                let seen = if l.observer {
                    self.last_committed
                } else {
                    l.acked
                };
                (*id, l.observer, (self.last_zxid - seen).max(0))
            })
            .collect();
        v.sort();
        v
    }

    fn voters_with(&self, f: impl Fn(&Learner) -> bool) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .learners
            .iter()
            .filter(|(_, l)| !l.observer && f(l))
            .map(|(id, _)| *id)
            .collect();
        ids.push(self.me);
        ids
    }

    /// A learner connected and said who it is (FOLLOWERINFO / OBSERVERINFO); `cumulative`:
    /// it takes a COMMIT as committing everything up to it.
    #[allow(clippy::too_many_arguments)]
    pub fn learner_info(
        &mut self,
        sid: u64,
        observer: bool,
        accepted_epoch: u32,
        last_zxid: i64,
        cumulative: bool,
        now: u64,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.quorum.is_member(sid) || sid == self.me || observer != self.quorum.is_observer(sid)
        {
            return out;
        }
        self.learners.insert(
            sid,
            Learner {
                observer,
                accepted_epoch,
                last_zxid,
                acked: last_zxid,
                logged: 0,
                cumulative,
                phase: None,
                heard: now,
            },
        );
        match self.epoch {
            None => {
                // Choose the epoch once a quorum of voters has reported.
                let reported = self.voters_with(|_| true);
                if self.quorum.contains_quorum(&reported) {
                    let max = self
                        .learners
                        .values()
                        .map(|l| l.accepted_epoch)
                        .chain(std::iter::once(self.accepted_epoch))
                        .max()
                        .unwrap_or(0);
                    let e = max + 1;
                    self.epoch = Some(e);
                    self.accepted_epoch = e;
                    out.push(Action::PersistAcceptedEpoch(e));
                    let ids: Vec<u64> = self.learners.keys().copied().collect();
                    for id in ids {
                        self.send_leader_info(id, e, &mut out);
                    }
                }
            }
            Some(e) => self.send_leader_info(sid, e, &mut out),
        }
        out
    }

    fn send_leader_info(&mut self, sid: u64, e: u32, out: &mut Vec<Action>) {
        if let Some(l) = self.learners.get_mut(&sid) {
            l.phase = Some(Phase::Epoch);
            out.push(Action::Send(sid, PeerMessage::LeaderInfo { new_epoch: e }));
        }
    }

    /// ACKEPOCH: the learner took the epoch; sync it.
    pub fn ack_epoch(
        &mut self,
        sid: u64,
        current_epoch: u32,
        last_zxid: i64,
        now: u64,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(e) = self.epoch else { return out };
        let Some(l) = self.learners.get_mut(&sid) else {
            return out;
        };
        if l.phase != Some(Phase::Epoch) {
            return out;
        }
        l.heard = now;
        let counts = current_epoch != EPOCH_ALREADY_ACCEPTED;
        let agreed = self.current_epoch >= e;
        // While the epoch is being agreed, a learner whose history is ahead of the leader's
        // means this leader should not lead (as ZooKeeper's waitForEpochAck); once agreed, a
        // learner ahead is truncated by its sync.
        if !agreed && counts && (current_epoch, last_zxid) > (self.current_epoch, self.last_zxid) {
            self.learners.remove(&sid);
            out.push(Action::Disconnect(sid));
            return out;
        }
        l.last_zxid = last_zxid;
        l.phase = Some(Phase::EpochAcked);
        if !l.observer && counts {
            self.epoch_acks.insert(sid);
        }
        if !agreed && self.quorum.contains_quorum(&self.epoch_acks) {
            // A quorum took the epoch: it is now this server's current epoch, and the leader
            // counts as having acknowledged its own NEWLEADER.
            self.current_epoch = e;
            out.push(Action::PersistCurrentEpoch(e));
            self.newleader_acks.insert(self.me);
        }
        if self.current_epoch >= e {
            // Nobody is synced (and so takes the epoch as current) before a quorum agreed it:
            // else a learner could adopt an epoch that another leader then also gets.
            let mut waiting: Vec<u64> = self
                .learners
                .iter()
                .filter(|(_, l)| l.phase == Some(Phase::EpochAcked))
                .map(|(id, _)| *id)
                .collect();
            waiting.sort_unstable();
            for id in waiting {
                self.sync_learner(id, e, &mut out);
            }
        }
        self.check_established(&mut out);
        out
    }

    /// The sync stream of one learner (DIFF, TRUNC+DIFF or SNAP), the proposals still
    /// outstanding, then NEWLEADER.
    fn sync_learner(&mut self, sid: u64, e: u32, out: &mut Vec<Action>) {
        let Some(l) = self.learners.get_mut(&sid) else {
            return;
        };
        l.phase = Some(Phase::Syncing);
        let last_zxid = l.last_zxid;
        let window: Vec<i64> = self.window.iter().map(|t| t.zxid).collect();
        let leader_last = self.last_committed.max(self.last_zxid);
        match sync::plan(last_zxid, leader_last, &window) {
            SyncPlan::Diff { send_from } => {
                out.push(Action::Send(sid, PeerMessage::Diff { zxid: leader_last }));
                self.queue_window(sid, send_from, out);
            }
            SyncPlan::TruncDiff { to, send_from } => {
                out.push(Action::Send(sid, PeerMessage::Trunc { zxid: to }));
                self.queue_window(sid, send_from, out);
            }
            SyncPlan::Snap => out.push(Action::SendSnapshot(sid)),
        }
        // Proposals still outstanding follow, then NEWLEADER (after the sync stream).
        let observer = self.quorum.is_observer(sid);
        for txn in self.outstanding.values() {
            if !observer {
                out.push(Action::Send(
                    sid,
                    PeerMessage::Proposal {
                        txn: txn.clone(),
                        trace: String::new(),
                    },
                ));
            }
        }
        out.push(Action::Send(
            sid,
            PeerMessage::NewLeader {
                zxid: sync::make_zxid(e, 0),
            },
        ));
    }

    fn queue_window(&self, sid: u64, from: usize, out: &mut Vec<Action>) {
        for t in self.window.iter().skip(from) {
            out.push(Action::Send(
                sid,
                PeerMessage::Proposal {
                    txn: t.clone(),
                    trace: String::new(),
                },
            ));
            out.push(Action::Send(
                sid,
                PeerMessage::Commit {
                    zxid: t.zxid,
                    trace: String::new(),
                },
            ));
        }
    }

    fn check_established(&mut self, out: &mut Vec<Action>) {
        if self.established {
            return;
        }
        let Some(e) = self.epoch else { return };
        if self.newleader_acks.contains(&self.me)
            && self.quorum.contains_quorum(&self.newleader_acks)
        {
            self.established = true;
            out.push(Action::Established(e));
            let synced: Vec<u64> = self
                .learners
                .iter()
                .filter(|(_, l)| l.phase == Some(Phase::Synced))
                .map(|(id, _)| *id)
                .collect();
            for id in synced {
                out.push(Action::Send(id, PeerMessage::UpToDate));
            }
        }
    }

    /// ACK from a learner: of NEWLEADER (zxid = epoch << 32) or of a proposal.
    pub fn ack(&mut self, sid: u64, zxid: i64, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(e) = self.epoch else { return out };
        let Some(l) = self.learners.get_mut(&sid) else {
            return out;
        };
        l.heard = now;
        if l.phase == Some(Phase::Syncing) && zxid == sync::make_zxid(e, 0) {
            l.phase = Some(Phase::Synced);
            let observer = l.observer;
            if !observer {
                self.newleader_acks.insert(sid);
            }
            if self.established {
                out.push(Action::Send(sid, PeerMessage::UpToDate));
            } else {
                self.check_established(&mut out);
            }
            return out;
        }
        if l.phase != Some(Phase::Synced) || l.observer {
            return out;
        }
        l.acked = l.acked.max(zxid);
        l.logged = l.logged.max(zxid);
        self.try_commit(&mut out);
        out
    }

    /// Propose a txn prepared by the engine (zxids in order, in this epoch).
    pub fn propose(&mut self, txn: Txn) -> Vec<Action> {
        self.propose_all(vec![txn])
    }

    /// Propose the txns the engine prepared in one turn (zxids in order, in this epoch): a
    /// PROPOSAL each to every voting learner, and one log append for them all.
    pub fn propose_all(&mut self, txns: Vec<Txn>) -> Vec<Action> {
        let mut out = Vec::new();
        let ids: Vec<u64> = self
            .learners
            .iter()
            .filter(|(_, l)| {
                !l.observer && matches!(l.phase, Some(Phase::Syncing) | Some(Phase::Synced))
            })
            .map(|(id, _)| *id)
            .collect();
        let mut log = Vec::with_capacity(txns.len());
        let mut exhausted = false;
        for txn in txns {
            if sync::counter_of(txn.zxid) >= 0xffff_fffe {
                exhausted = true;
                break;
            }
            for &id in &ids {
                out.push(Action::Send(
                    id,
                    PeerMessage::Proposal {
                        txn: txn.clone(),
                        trace: String::new(),
                    },
                ));
            }
            self.last_zxid = self.last_zxid.max(txn.zxid);
            self.outstanding.insert(txn.zxid, txn.clone());
            log.push(txn);
        }
        if !log.is_empty() {
            out.push(Action::LogProposal {
                txns: log,
                tell: ids,
            });
        }
        if exhausted {
            // The counter would wrap: a new election starts a new epoch (ZOOKEEPER-1277).
            out.push(Action::StepDown(
                "zxid counter exhausted; a new epoch is needed".into(),
            ));
        }
        out
    }

    /// When the proposal `zxid` was made (its txn's wall-clock time), while it is outstanding
    /// or in the recent window: for the ACK latency figures.
    pub fn proposal_time(&self, zxid: i64) -> Option<i64> {
        if let Some(t) = self.outstanding.get(&zxid) {
            return Some(t.time);
        }
        let i = self.window.partition_point(|t| t.zxid < zxid);
        self.window
            .get(i)
            .filter(|t| t.zxid == zxid)
            .map(|t| t.time)
    }

    /// The leader's own log has everything up to `zxid` on disk: that is its own ACK.
    pub fn logged(&mut self, zxid: i64) -> Vec<Action> {
        let mut out = Vec::new();
        self.self_logged = self.self_logged.max(zxid);
        self.try_commit(&mut out);
        out
    }

    /// Commit, strictly in zxid order, every proposal a quorum of voters has logged.
    fn try_commit(&mut self, out: &mut Vec<Action>) {
        let Some(upto) = self.quorum_logged() else {
            return;
        };
        if self.outstanding.keys().next().is_none_or(|&z| z > upto) {
            return;
        }
        // Learners still syncing got these proposals (followers) or their predecessors in the
        // sync stream: they need the commits too, or they miss them for good.
        let mut targets: Vec<(u64, bool, bool)> = self
            .learners
            .iter()
            .filter(|(_, l)| matches!(l.phase, Some(Phase::Syncing) | Some(Phase::Synced)))
            .map(|(id, l)| (*id, l.observer, l.cumulative))
            .collect();
        targets.sort();
        let mut committed = None;
        while let Some(entry) = self.outstanding.first_entry() {
            if *entry.key() > upto {
                break;
            }
            let (z, txn) = entry.remove_entry();
            for &(id, observer, cumulative) in &targets {
                if observer {
                    out.push(Action::Send(
                        id,
                        PeerMessage::Inform {
                            txn: txn.clone(),
                            trace: String::new(),
                        },
                    ));
                } else if !cumulative {
                    out.push(Action::Send(
                        id,
                        PeerMessage::Commit {
                            zxid: z,
                            trace: String::new(),
                        },
                    ));
                }
            }
            self.window.push_back(txn);
            while self.window.len() > self.window_max {
                self.window.pop_front();
            }
            self.last_committed = z;
            committed = Some(z);
        }
        if let Some(z) = committed {
            // One COMMIT for the lot to the followers that take it as committing everything
            // up to it.
            for &(id, observer, cumulative) in &targets {
                if !observer && cumulative {
                    out.push(Action::Send(
                        id,
                        PeerMessage::Commit {
                            zxid: z,
                            trace: String::new(),
                        },
                    ));
                }
            }
            out.push(Action::Commit(z));
        }
    }

    /// The highest zxid that a quorum of voters (the leader with its own log, followers in
    /// broadcast with their cumulative ACKs) has on disk, if any outstanding proposal is.
    fn quorum_logged(&self) -> Option<i64> {
        let first = *self.outstanding.keys().next()?;
        let mut logged: Vec<(i64, u64)> = self
            .learners
            .iter()
            .filter(|(_, l)| !l.observer && l.phase == Some(Phase::Synced) && l.logged >= first)
            .map(|(id, l)| (l.logged, *id))
            .collect();
        if self.self_logged >= first {
            logged.push((self.self_logged, self.me));
        }
        // Highest first: the first prefix that is a quorum names the quorum's zxid.
        logged.sort_unstable_by(|a, b| b.cmp(a));
        let ids: Vec<u64> = logged.iter().map(|(_, id)| *id).collect();
        (1..=ids.len())
            .find(|&n| self.quorum.contains_quorum(&ids[..n]))
            .map(|n| logged[n - 1].0)
    }

    pub fn heard(&mut self, sid: u64, now: u64) {
        if let Some(l) = self.learners.get_mut(&sid) {
            l.heard = now;
        }
    }

    pub fn disconnected(&mut self, sid: u64) {
        self.learners.remove(&sid);
        self.newleader_acks.remove(&sid);
    }

    /// Liveness: before establishment a quorum must sync within `init_limit`; afterwards a
    /// quorum of voters must have been heard within `sync_limit`.
    pub fn tick(&mut self, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.established {
            if now.saturating_sub(self.started) > self.init_limit {
                out.push(Action::StepDown(
                    "no quorum of followers synced within initLimit".into(),
                ));
            }
            return out;
        }
        let limit = self.sync_limit;
        let alive = self.voters_with(|l| {
            l.phase == Some(Phase::Synced) && now.saturating_sub(l.heard) <= limit
        });
        if !self.quorum.contains_quorum(&alive) {
            out.push(Action::StepDown(
                "lost the quorum of followers for syncLimit".into(),
            ));
        }
        out
    }
}
