use super::*;

/// A leader and a learner engine wired in memory: forwarded writes are prepared at the
/// leader, "committed" at once, and applied on both.
struct Pair {
    leader: Engine,
    learner: Engine,
}

impl Pair {
    fn new() -> Pair {
        let mut leader = engine();
        leader.set_role(Role::Leader);
        let mut learner = engine();
        learner.set_role(Role::Learner);
        Pair { leader, learner }
    }

    /// Run outputs until quiet; returns what reached clients of (leader, learner).
    fn pump(
        &mut self,
        mut from_leader: Vec<Out>,
        mut from_learner: Vec<Out>,
    ) -> (Vec<Out>, Vec<Out>) {
        let (mut to_l, mut to_f) = (Vec::new(), Vec::new());
        for _ in 0..20 {
            if from_leader.is_empty() && from_learner.is_empty() {
                break;
            }
            let mut next_l = Vec::new();
            let mut next_f = Vec::new();
            for o in from_learner.drain(..) {
                match o {
                    Out::Forward(Forward::CreateSession { session, timeout }) => {
                        next_l.extend(self.leader.remote_create_session(2, session, timeout, 0))
                    }
                    Out::Forward(Forward::Request {
                        session,
                        cxid,
                        opcode,
                        body,
                        auth,
                    }) => {
                        let req =
                            Request::read(opcode, &body).unwrap_or(Request::Malformed(opcode));
                        next_l.extend(self.leader.remote_request(2, session, cxid, req, &auth, 0))
                    }
                    Out::Forward(Forward::Sync { session }) => {
                        next_l.extend(self.leader.sync_request(2, session))
                    }
                    Out::Revalidate { session, .. } => {
                        let valid = self.leader.revalidate(2, session);
                        next_f.extend(self.learner.revalidated(session, valid, 0));
                    }
                    other => to_f.push(other),
                }
            }
            for o in from_leader.drain(..) {
                match o {
                    Out::Persist(t) => {
                        // Commit at once: apply at the leader and at the learner.
                        next_l.extend(self.leader.durable(t.zxid, 0));
                        next_f.extend(self.learner.committed(&t, 0));
                    }
                    Out::SyncDone { session, .. } => {
                        next_f.extend(self.learner.sync_done(session, 0))
                    }
                    other => to_l.push(other),
                }
            }
            from_leader = next_l;
            from_learner = next_f;
        }
        (to_l, to_f)
    }
}

fn connect_req() -> ConnectRequest {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout: 5000,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: None,
    }
}

fn create_body(path: &str, flags: i32) -> Bytes {
    let mut w = Vec::new();
    w.put_str(path);
    w.put_buffer(Some(b"x"));
    crate::codec::jute::write_acls(&mut w, &Acl::world_all());
    w.put_i32(flags);
    Bytes::from(w)
}

fn err_of(frame: &[u8]) -> i32 {
    Reader::new(&frame[16..20]).i32().unwrap()
}

#[test]
fn learner_forwards_writes_and_answers_after_commit() {
    let mut p = Pair::new();
    p.learner.connected(7, "127.0.0.1", 0);
    let outs = p.learner.connect(7, &connect_req(), 0);
    assert!(matches!(
        outs[..],
        [Out::Forward(Forward::CreateSession { .. })]
    ));
    let (_, f) = p.pump(vec![], outs);
    assert!(f.iter().any(|o| matches!(o, Out::Session(7, _))), "{f:?}");
    let session = p.learner.conns[&7].session;
    assert!(p.leader.tree.has_session(session));
    // A create, and a read right behind it that must wait for it.
    let req = Request::read(op::CREATE, &create_body("/f", 1)).unwrap();
    let outs = p
        .learner
        .request_with_body(7, 1, op::CREATE, req, create_body("/f", 1), 0);
    let outs2 = p.learner.request(
        7,
        2,
        op::EXISTS,
        Request::Exists {
            path: "/f".into(),
            watch: false,
        },
        0,
    );
    assert!(
        sends(&outs2).is_empty(),
        "the read waits behind the forwarded write"
    );
    let (_, f) = p.pump(vec![], outs);
    let s = sends(&f);
    assert_eq!(s.len(), 2);
    assert_eq!((err_of(&s[0].1), err_of(&s[1].1)), (0, 0));
    assert_eq!(
        p.learner.tree.get("/f").unwrap().stat.ephemeral_owner,
        session
    );
    assert_eq!(
        p.leader.tree.get("/f").unwrap().stat.ephemeral_owner,
        session
    );
    // A failing write comes back as an error txn.
    let req = Request::read(op::CREATE, &create_body("/f", 0)).unwrap();
    let outs = p
        .learner
        .request_with_body(7, 3, op::CREATE, req, create_body("/f", 0), 0);
    let (_, f) = p.pump(vec![], outs);
    assert_eq!(err_of(&sends(&f)[0].1), Code::NodeExists.as_i32());
    // sync, then close: the session goes everywhere.
    let outs = p
        .learner
        .request(7, 4, op::SYNC, Request::Sync { path: "/".into() }, 0);
    let (_, f) = p.pump(vec![], outs);
    assert_eq!(sends(&f).len(), 1);
    let outs = p.learner.request_with_body(
        7,
        5,
        op::CLOSE_SESSION,
        Request::CloseSession,
        Bytes::new(),
        0,
    );
    let (_, f) = p.pump(vec![], outs);
    assert!(f.contains(&Out::Close(7)));
    assert!(p.learner.tree.get("/f").is_none());
    assert!(!p.leader.tree.has_session(session));
}

/// A learner may answer a write before the leader counts its quorum: a sync at the
/// leader waits for everything proposed before it, so the reads after it see the write.
#[test]
fn a_sync_at_the_leader_waits_for_what_was_proposed() {
    let mut p = Pair::new();
    // Server 2, so that its sessions' ids differ from the leader's.
    p.learner = engine_of(2);
    p.learner.set_role(Role::Learner);
    p.leader.connected(3, "127.0.0.1", 0);
    let outs = p.leader.connect(3, &connect_req(), 0);
    p.pump(outs, vec![]);
    p.learner.connected(7, "127.0.0.1", 0);
    let outs = p.learner.connect(7, &connect_req(), 0);
    p.pump(vec![], outs);
    let sync = || Request::Sync { path: "/".into() };
    // Nothing outstanding: answered at once.
    let outs = p.leader.request(3, 1, op::SYNC, sync(), 0);
    assert_eq!(sends(&outs).len(), 1, "{outs:?}");
    // A learner's client writes; the leader has proposed it, not committed it.
    let session = p.learner.conns[&7].session;
    let req = Request::read(op::CREATE, &create_body("/w", 0)).unwrap();
    let outs = p
        .learner
        .request_with_body(7, 1, op::CREATE, req.clone(), create_body("/w", 0), 0);
    assert!(outs
        .iter()
        .any(|o| matches!(o, Out::Forward(Forward::Request { .. }))));
    let outs = p
        .leader
        .remote_request(2, session, 1, req, &AuthInfo::default(), 0);
    let zxid = outs
        .iter()
        .find_map(|o| match o {
            Out::Persist(t) => Some(t.zxid),
            _ => None,
        })
        .expect("proposed");
    let outs = p.leader.request(3, 2, op::SYNC, sync(), 0);
    assert!(sends(&outs).is_empty(), "{outs:?}");
    // A read after the sync waits behind it too.
    let read = Request::read(op::EXISTS, &{
        let mut w = Vec::new();
        w.put_str("/w");
        w.put_bool(false);
        w
    })
    .unwrap();
    assert!(sends(&p.leader.request(3, 3, op::EXISTS, read, 0)).is_empty());
    let outs = p.leader.durable(zxid, 0);
    let answers: Vec<i32> = sends(&outs)
        .iter()
        .filter(|(c, _)| *c == 3)
        .map(|(_, f)| err_of(f))
        .collect();
    assert_eq!(answers, vec![0, 0], "sync, then the read that finds /w");
}

#[test]
fn leader_expiry_closes_the_learners_connection_and_resume_revalidates() {
    let mut p = Pair::new();
    p.learner.connected(7, "127.0.0.1", 0);
    let outs = p.learner.connect(7, &connect_req(), 0);
    p.pump(vec![], outs);
    let session = p.learner.conns[&7].session;
    // The client moves to another connection on the learner: the leader vouches for it.
    p.learner.connected(8, "127.0.0.1", 0);
    let resume = ConnectRequest {
        session_id: session,
        passwd: session_password(session).to_vec(),
        ..connect_req()
    };
    let outs = p.learner.connect(8, &resume, 0);
    assert!(outs.contains(&Out::Close(7)));
    let (_, f) = p.pump(vec![], outs);
    assert!(f.contains(&Out::Session(8, session)));
    // The leader expires it: the learner closes the connection when it applies that.
    let outs = p.leader.expire(&[session], 0);
    let (_, f) = p.pump(outs, vec![]);
    assert!(f.contains(&Out::Close(8)), "{f:?}");
    // Resuming an expired session is refused.
    p.learner.connected(9, "127.0.0.1", 0);
    let outs = p.learner.connect(9, &resume, 0);
    let (_, f) = p.pump(vec![], outs);
    assert!(f.contains(&Out::Close(9)));
    assert_eq!(&sends(&f)[0].1[8..12], &[0, 0, 0, 0]);
}

#[test]
fn watches_fire_on_every_server() {
    let mut p = Pair::new();
    p.leader.connected(1, "127.0.0.1", 0);
    let outs = p.leader.connect(1, &connect_req(), 0);
    p.pump(outs, vec![]);
    p.leader.request(
        1,
        1,
        op::EXISTS,
        Request::Exists {
            path: "/w".into(),
            watch: true,
        },
        0,
    );
    p.learner.connected(7, "127.0.0.1", 0);
    let outs = p.learner.connect(7, &connect_req(), 0);
    p.pump(vec![], outs);
    p.learner.request(
        7,
        1,
        op::EXISTS,
        Request::Exists {
            path: "/w".into(),
            watch: true,
        },
        0,
    );
    let req = Request::read(op::CREATE, &create_body("/w", 0)).unwrap();
    let outs = p
        .learner
        .request_with_body(7, 2, op::CREATE, req, create_body("/w", 0), 0);
    let (l, f) = p.pump(vec![], outs);
    let note = |v: &[Out], conn| {
        sends(v)
            .iter()
            .any(|(c, b)| *c == conn && Reader::new(&b[4..8]).i32().unwrap() == -1)
    };
    assert!(note(&l, 1), "the leader's client hears of it");
    assert!(
        note(&f, 7),
        "the learner's client hears of it, before its reply"
    );
    assert_eq!(Reader::new(&sends(&f)[0].1[4..8]).i32().unwrap(), -1);
}

#[test]
fn a_moved_session_fences_its_old_connection() {
    let mut p = Pair::new();
    p.learner.connected(7, "127.0.0.1", 0);
    let outs = p.learner.connect(7, &connect_req(), 0);
    p.pump(vec![], outs);
    let session = p.learner.conns[&7].session;
    // The client moves to the leader; its old connection to the learner lingers.
    p.leader.connected(1, "127.0.0.1", 0);
    let resume = ConnectRequest {
        session_id: session,
        passwd: session_password(session).to_vec(),
        ..connect_req()
    };
    let outs = p.leader.connect(1, &resume, 0);
    assert!(outs.contains(&Out::Session(1, session)));
    // A write through the old connection is refused: the connection closes, unanswered.
    let req = Request::read(op::CREATE, &create_body("/stale", 0)).unwrap();
    let outs = p
        .learner
        .request_with_body(7, 9, op::CREATE, req, create_body("/stale", 0), 0);
    let (_, f) = p.pump(vec![], outs);
    assert!(f.contains(&Out::Close(7)), "{f:?}");
    assert!(
        sends(&f).iter().all(|(c, _)| *c != 7),
        "no reply on the stale connection"
    );
    assert!(p.leader.tree.get("/stale").is_none());
    // The new connection works.
    let req = Request::read(op::CREATE, &create_body("/fresh", 0)).unwrap();
    let outs = p
        .leader
        .request_with_body(1, 1, op::CREATE, req, create_body("/fresh", 0), 0);
    let (l, _) = p.pump(outs, vec![]);
    assert_eq!(err_of(&sends(&l)[0].1), 0);
}
