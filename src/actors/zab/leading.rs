//! The leader's side of the ZabActor: what the leader machine asks (sending to learners,
//! logging proposals, streaming snapshots, committing into the tree) and what learners send.

use super::*;

impl ZabActor {
    pub(super) fn leader_actions(&mut self, actions: Vec<leader::Action>, ctx: &mut Context<Self>) {
        let mut rest = actions.into_iter();
        // The machine sends each PROPOSAL / COMMIT / INFORM to its learners one after another:
        // they share one frame, encoded once.
        let mut shared: Option<((u8, i64), Arc<SharedFrame>)> = None;
        while let Some(mut a) = rest.next() {
            let metrics = &crate::metrics::SERVER;
            if !self.sync_span.is_disabled() {
                let what = match &a {
                    leader::Action::Send(sid, PeerMessage::Diff { zxid }) => {
                        Some(format!("DIFF to server {sid} up to 0x{zxid:x}"))
                    }
                    leader::Action::Send(sid, PeerMessage::Trunc { zxid }) => {
                        Some(format!("TRUNC of server {sid} to 0x{zxid:x}, then DIFF"))
                    }
                    leader::Action::SendSnapshot(sid) => Some(format!("SNAP to server {sid}")),
                    leader::Action::Send(sid, PeerMessage::NewLeader { .. }) => {
                        Some(format!("NEWLEADER to server {sid}"))
                    }
                    _ => None,
                };
                if let Some(w) = what {
                    self.sync_span
                        .in_scope(|| tracing::debug!(target: crate::telemetry::TARGET, "{w}"));
                }
            }
            match &a {
                leader::Action::Send(_, PeerMessage::Diff { .. }) => metrics.diff_count.inc(),
                leader::Action::Send(_, PeerMessage::Trunc { .. }) => {
                    // ZooKeeper counts a TRUNC (and the DIFF after it) as a DIFF.
                    metrics.diff_count.inc();
                    metrics.trunc_count.inc();
                }
                leader::Action::SendSnapshot(_) => metrics.snap_count.inc(),
                leader::Action::LogProposal { txns, .. } => {
                    metrics.proposal_count.add(txns.len() as u64)
                }
                _ => {}
            }
            if let leader::Action::Send(_, m) = &mut a {
                self.traces.fill(m);
            }
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
                leader::Action::Commit(z) => {
                    let traced = self.traces.committed(z);
                    self.tree.do_send(Commit(z, traced));
                }
                leader::Action::Established(e) => {
                    self.sync_span.record("keeper.epoch", e);
                    self.sync_span = tracing::Span::none();
                    self.report_status();
                    tracing::info!(
                        "LEADING - epoch {e} established with a quorum; serving clients"
                    );
                    self.tree
                        .do_send(crate::actors::data_tree::StartEpoch(make_zxid(e, 0)));
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
    pub(super) fn logged_links(&self, sids: &[u64]) -> Vec<Arc<LinkWriter>> {
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

    pub(super) fn learner_link(&self, sid: u64) -> Option<&Link> {
        let State::Leading {
            learners, links, ..
        } = &self.state
        else {
            return None;
        };
        let (link, _) = learners.iter().find(|(_, s)| **s == sid)?;
        links.get(link)
    }

    pub(super) fn send_to_learner(&self, sid: u64, m: PeerMessage) {
        if let Some(l) = self.learner_link(sid) {
            l.send(m);
        }
    }

    pub(super) fn on_leader_link(&mut self, link: u64, msg: PeerMessage, ctx: &mut Context<Self>) {
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
            PeerMessage::Ack { zxid } => {
                if !self.traces.is_empty() {
                    self.traces.ack(sid, zxid);
                }
                if let Some(t) = machine.proposal_time(zxid) {
                    let took = (crate::actors::data_tree::now_ms() - t).max(0) as u64;
                    crate::metrics::SERVER
                        .ack_latency
                        .add(&sid.to_string(), took);
                }
                machine.ack(sid, zxid, now)
            }
            PeerMessage::Request {
                session,
                cxid,
                opcode,
                body,
                auth,
                is_super,
                trace,
            } => {
                self.traces.request(sid, session, cxid, trace);
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
}
