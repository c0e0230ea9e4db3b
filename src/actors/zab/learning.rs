//! The learner's side of the ZabActor: what the learner machine asks (logging, ACKs through
//! the log writer, truncating, installing snapshots, applying commits) and what the leader
//! sends.

use super::*;

impl ZabActor {
    pub(super) fn send_to_leader(&self, m: PeerMessage) {
        if let State::Learning { link: Some(l), .. } = &self.state {
            l.send(m);
        }
    }

    pub(super) fn learner_actions(
        &mut self,
        actions: Vec<learner::Action>,
        ctx: &mut Context<Self>,
    ) {
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
                learner::Action::Commit(t) => {
                    let trace = self.traces.committed(t.zxid).pop().map(|(_, p)| p);
                    self.tree.do_send(ApplyCommitted(t, trace));
                }
                learner::Action::Serve => {
                    tracing::info!("up to date with the leader; serving clients");
                    self.sync_span.record("keeper.txns", self.sync_txns);
                    self.sync_span.record("keeper.epoch", self.current_epoch);
                    self.sync_span = tracing::Span::none();
                    // srvr / mntr / the admin commands say so from the first request on.
                    self.report_status();
                    if let State::Learning { since, .. } = &self.state {
                        let m = &crate::metrics::SERVER;
                        let took = since.elapsed().as_millis() as u64;
                        if self.quorum.is_observer(self.me) {
                            m.observer_sync_time.add(took);
                        } else {
                            m.follower_sync_time.add(took);
                        }
                    }
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

    pub(super) fn on_learner_link(&mut self, msg: PeerMessage, ctx: &mut Context<Self>) {
        let now = self.now();
        let State::Learning {
            machine,
            snap,
            acks,
            leader,
            ..
        } = &mut self.state
        else {
            return;
        };
        match msg {
            PeerMessage::Hello { version, sid } => {
                if let Some(a) = acks {
                    a.set_cumulative(version >= CUMULATIVE_SINCE);
                }
                // The machine learns from it which ACKEPOCH the leader understands.
                let a = machine.on_message(PeerMessage::Hello { version, sid }, now);
                self.learner_actions(a, ctx);
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
                self.sync_span
                    .record("keeper.snapshot_nodes", nodes.len() as u64);
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
                if !self.sync_span.is_disabled() {
                    let mode = match &other {
                        PeerMessage::Diff { .. } => Some("DIFF"),
                        PeerMessage::Trunc { .. } => Some("TRUNC"),
                        PeerMessage::Snap { .. } => Some("SNAP"),
                        _ => None,
                    };
                    if let Some(mode) = mode {
                        self.sync_span.record("keeper.sync_mode", mode);
                    }
                    if matches!(other, PeerMessage::Proposal { .. }) {
                        self.sync_txns += 1;
                    }
                }
                let m = &crate::metrics::SERVER;
                match &other {
                    PeerMessage::Proposal { txn, trace } => {
                        m.learner_proposal_received_count.inc();
                        self.traces.received(txn, trace, *leader, false);
                    }
                    PeerMessage::Inform { txn, trace } => {
                        m.learner_commit_received_count.inc();
                        self.traces.received(txn, trace, *leader, true);
                    }
                    PeerMessage::Commit { .. } => m.learner_commit_received_count.inc(),
                    _ => {}
                }
                let a = machine.on_message(other, now);
                self.learner_actions(a, ctx);
            }
        }
    }
}
