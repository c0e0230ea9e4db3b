//! A follower's or observer's side of ZAB as a pure machine: announce itself, take the new
//! epoch, follow the sync stream (DIFF / TRUNC / SNAP), persist before acknowledging NEWLEADER,
//! then log and ACK proposals in zxid order and apply commits in order.
//!
//! A proposal is committed once a quorum of voters has it on disk; COMMIT only tells the
//! learners so. Where this learner and the leader alone are a quorum (3 voters), the learner
//! applies a proposal as soon as its own copy is durable and the leader said (`Logged`) that
//! its copy is, which spares every write through this learner the wait for the COMMIT hop.

use super::sync::{epoch_of, make_zxid};
use crate::codec::peer::{PeerMessage, CUMULATIVE_SINCE, EPOCH_ALREADY_ACCEPTED};
use crate::datatree::Txn;
use crate::proto::quorum::QuorumVerifier;
use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Send(PeerMessage),
    PersistAcceptedEpoch(u32),
    PersistCurrentEpoch(u32),
    /// Drop logged txns after this zxid and rebuild the tree from disk.
    Truncate(i64),
    /// A snapshot (of the leader's history up to this zxid) follows: drop what the log holds
    /// past it, empty the tree, load the chunks. The rest of the log stays until the snapshot
    /// is on disk (`TakeSnapshot`).
    BeginSnapshot(i64),
    /// Log a proposal (fsync batched); report with `logged`.
    LogProposal(Txn),
    /// Log a proposal and have the log writer send its ACK on the leader link right after the
    /// fsync (broadcast phase: nothing else has to precede it); still report with `logged`.
    LogAndAck(Txn),
    /// Make everything logged durable now (before acknowledging NEWLEADER).
    SyncLog,
    /// Write a snapshot of the tree now (after a SNAP or TRUNC sync).
    TakeSnapshot,
    /// Apply a committed txn.
    Commit(Txn),
    /// Up to date: serve clients.
    Serve,
    /// Give up on this leader and look for another.
    Abandon(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Announced,
    Syncing,
    /// NEWLEADER acknowledged, waiting for UPTODATE.
    Synced,
    Broadcast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Diff,
    Trunc,
    Snap,
}

#[derive(Debug)]
pub struct Learner {
    me: u64,
    observer: bool,
    accepted_epoch: u32,
    current_epoch: u32,
    last_zxid: i64,
    phase: Phase,
    mode: Mode,
    /// Logged proposals not yet committed, in zxid order, with whether they were acked.
    pending: VecDeque<(Txn, bool)>,
    /// SNAP sync: proposals to log once the snapshot is on disk (at NEWLEADER). Logged
    /// earlier, they would follow a log the SNAP emptied with nothing under them: a restart
    /// in between would rebuild a tree with a hole where the snapshot should be.
    held: Vec<Txn>,
    logged_up_to: i64,
    /// This learner and the leader form a quorum of voters.
    leader_quorum: bool,
    /// The leader said (in a Hello of its own) it speaks peer protocol 3 or later: it takes
    /// `EPOCH_ALREADY_ACCEPTED`. Older leaders send no Hello.
    leader_v3: bool,
    /// The leader's log is durable up to here (`Logged`).
    leader_logged: i64,
    heard: u64,
    init_limit: u64,
    sync_limit: u64,
}

impl Learner {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        me: u64,
        observer: bool,
        accepted_epoch: u32,
        current_epoch: u32,
        last_zxid: i64,
        now: u64,
        init_limit_ms: u64,
        sync_limit_ms: u64,
    ) -> Learner {
        Learner {
            me,
            observer,
            accepted_epoch,
            current_epoch,
            last_zxid,
            phase: Phase::Announced,
            mode: Mode::Diff,
            pending: VecDeque::new(),
            held: Vec::new(),
            logged_up_to: last_zxid,
            leader_quorum: false,
            leader_v3: false,
            leader_logged: 0,
            heard: now,
            init_limit: init_limit_ms,
            sync_limit: sync_limit_ms,
        }
    }

    /// Follow `leader` under `quorum`: when this learner and the leader together are a quorum
    /// of voters, it applies what both have logged without waiting for COMMIT. Observers never
    /// are part of one.
    pub fn with_leader(mut self, quorum: &QuorumVerifier, leader: u64) -> Learner {
        self.leader_quorum = !self.observer && quorum.contains_quorum(&[self.me, leader]);
        self
    }

    pub fn is_serving(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    pub fn start(&mut self) -> Vec<Action> {
        vec![Action::Send(PeerMessage::LearnerInfo {
            sid: self.me,
            observer: self.observer,
            accepted_epoch: self.accepted_epoch,
            last_zxid: self.last_zxid,
        })]
    }

    fn abandon(why: impl Into<String>) -> Vec<Action> {
        vec![Action::Abandon(why.into())]
    }

    pub fn on_message(&mut self, m: PeerMessage, now: u64) -> Vec<Action> {
        self.heard = now;
        let mut out = Vec::new();
        match m {
            PeerMessage::Hello { version, .. } => self.leader_v3 = version >= CUMULATIVE_SINCE,
            PeerMessage::LeaderInfo { new_epoch } => {
                if self.phase != Phase::Announced {
                    return Self::abandon("LEADERINFO out of order");
                }
                if new_epoch < self.accepted_epoch {
                    return Self::abandon(format!(
                        "leader proposed epoch {new_epoch}, older than our accepted epoch {}",
                        self.accepted_epoch
                    ));
                }
                // An epoch accepted before (from this leader or another) is followed but not
                // acknowledged again: counted twice, two leaders could each gather a quorum
                // for the same epoch. A leader older than protocol 3 would take the marker for
                // a newer epoch and drop the learner: it gets the current epoch, as it always did.
                let current_epoch = if new_epoch > self.accepted_epoch {
                    self.accepted_epoch = new_epoch;
                    out.push(Action::PersistAcceptedEpoch(new_epoch));
                    self.current_epoch
                } else if self.leader_v3 {
                    EPOCH_ALREADY_ACCEPTED
                } else {
                    self.current_epoch
                };
                self.phase = Phase::Syncing;
                out.push(Action::Send(PeerMessage::AckEpoch {
                    current_epoch,
                    last_zxid: self.last_zxid,
                }));
            }
            PeerMessage::Diff { .. } if self.phase == Phase::Syncing => self.mode = Mode::Diff,
            PeerMessage::Trunc { zxid } if self.phase == Phase::Syncing => {
                self.mode = Mode::Trunc;
                self.last_zxid = zxid;
                self.logged_up_to = zxid;
                out.push(Action::Truncate(zxid));
            }
            PeerMessage::Snap { zxid } if self.phase == Phase::Syncing => {
                self.mode = Mode::Snap;
                self.last_zxid = zxid;
                self.logged_up_to = zxid;
                out.push(Action::BeginSnapshot(zxid));
            }
            PeerMessage::Proposal { txn, .. } => {
                if self.phase == Phase::Announced {
                    return Self::abandon("PROPOSAL before the epoch was agreed");
                }
                if txn.zxid <= self.last_zxid {
                    // Already have it (a DIFF overlapping what we logged).
                    return out;
                }
                self.last_zxid = txn.zxid;
                if self.phase == Phase::Broadcast && !self.observer {
                    self.pending.push_back((txn.clone(), true));
                    out.push(Action::LogAndAck(txn));
                } else {
                    self.pending.push_back((txn.clone(), false));
                    self.log(txn, &mut out);
                }
            }
            // Commits everything up to it: a leader of peer protocol 3 on sends one COMMIT per
            // batch, older ones one per proposal, in order (each then commits just its own).
            PeerMessage::Commit { zxid, .. } => {
                if zxid > self.last_zxid {
                    return Self::abandon(format!(
                        "COMMIT 0x{zxid:x} of a proposal never received"
                    ));
                }
                while self.pending.front().is_some_and(|(t, _)| t.zxid <= zxid) {
                    if let Some((t, _)) = self.pending.pop_front() {
                        out.push(Action::Commit(t));
                    }
                }
            }
            PeerMessage::Inform { txn, .. } if txn.zxid > self.last_zxid => {
                self.last_zxid = txn.zxid;
                self.log(txn.clone(), &mut out);
                out.push(Action::Commit(txn));
            }
            PeerMessage::NewLeader { zxid } => {
                if self.phase != Phase::Syncing {
                    return Self::abandon("NEWLEADER out of order");
                }
                let e = epoch_of(zxid);
                if self.mode != Mode::Diff {
                    out.push(Action::TakeSnapshot);
                }
                out.extend(self.held.drain(..).map(Action::LogProposal));
                out.push(Action::SyncLog);
                self.current_epoch = e;
                out.push(Action::PersistCurrentEpoch(e));
                out.push(Action::Send(PeerMessage::Ack { zxid }));
                self.phase = Phase::Synced;
                // Everything logged during the sync is durable now: ACK it after NEWLEADER.
                self.logged_up_to = self.last_zxid;
                self.ack_logged(&mut out);
            }
            PeerMessage::UpToDate => {
                if self.phase != Phase::Synced {
                    return Self::abandon("UPTODATE out of order");
                }
                self.phase = Phase::Broadcast;
                out.push(Action::Serve);
                self.commit_known(&mut out);
            }
            PeerMessage::Logged { zxid } => {
                self.leader_logged = self.leader_logged.max(zxid);
                self.commit_known(&mut out);
            }
            PeerMessage::Ping { zxid, .. } => out.push(Action::Send(PeerMessage::Ping {
                zxid,
                touches: Vec::new(),
            })),
            _ => {}
        }
        out
    }

    fn log(&mut self, txn: Txn, out: &mut Vec<Action>) {
        if self.mode == Mode::Snap && self.phase == Phase::Syncing {
            self.held.push(txn);
        } else {
            out.push(Action::LogProposal(txn));
        }
    }

    fn ack_logged(&mut self, out: &mut Vec<Action>) {
        if self.observer || self.phase == Phase::Syncing || self.phase == Phase::Announced {
            return;
        }
        for (t, acked) in self.pending.iter_mut() {
            if t.zxid > self.logged_up_to {
                break;
            }
            if !*acked {
                *acked = true;
                out.push(Action::Send(PeerMessage::Ack { zxid: t.zxid }));
            }
        }
    }

    /// Everything up to `zxid` is on disk: ACK the proposals, in order.
    pub fn logged(&mut self, zxid: i64) -> Vec<Action> {
        let mut out = Vec::new();
        self.logged_up_to = self.logged_up_to.max(zxid);
        self.ack_logged(&mut out);
        self.commit_known(&mut out);
        out
    }

    /// Apply, in order, the proposals that this learner and the leader both have on disk when
    /// the two are a quorum: they are committed whether or not the COMMIT has arrived (which is
    /// then ignored). Their ACKs have gone out already (`ack_logged` runs first; the log
    /// writer ACKs broadcast proposals before reporting them logged).
    fn commit_known(&mut self, out: &mut Vec<Action>) {
        if !self.leader_quorum || self.phase != Phase::Broadcast {
            return;
        }
        let upto = self.logged_up_to.min(self.leader_logged);
        while self.pending.front().is_some_and(|(t, _)| t.zxid <= upto) {
            if let Some((t, _)) = self.pending.pop_front() {
                out.push(Action::Commit(t));
            }
        }
    }

    pub fn tick(&mut self, now: u64) -> Vec<Action> {
        let limit = if self.phase == Phase::Broadcast {
            self.sync_limit
        } else {
            self.init_limit
        };
        if now.saturating_sub(self.heard) > limit {
            return Self::abandon(format!("nothing heard from the leader for {limit} ms"));
        }
        Vec::new()
    }

    /// The zxid a new epoch's NEWLEADER carries.
    pub fn newleader_zxid(epoch: u32) -> i64 {
        make_zxid(epoch, 0)
    }
}
