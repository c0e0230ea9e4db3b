use super::*;

#[test]
fn password_is_javas_random() {
    // Deterministic and distinct per session.
    assert_eq!(session_password(1), session_password(1));
    assert_ne!(session_password(1), session_password(2));
}

#[test]
fn writes_apply_when_durable_and_reads_wait_for_their_session_only() {
    let mut e = engine();
    connect(&mut e, 1);
    connect(&mut e, 2);
    let outs = e.request(1, 1, op::CREATE, create("/a"), 0);
    assert!(sends(&outs).is_empty());
    let z = e.last_assigned();
    // Another session reads at once, and does not see the outstanding write.
    let outs = e.request(
        2,
        1,
        op::EXISTS,
        Request::Exists {
            path: "/a".into(),
            watch: false,
        },
        0,
    );
    let s = sends(&outs);
    assert_eq!(s.len(), 1);
    assert_eq!(
        Reader::new(&s[0].1[16..20]).i32().unwrap(),
        Code::NoNode.as_i32()
    );
    // The writer's own read waits behind its write.
    let outs = e.request(
        1,
        2,
        op::EXISTS,
        Request::Exists {
            path: "/a".into(),
            watch: false,
        },
        0,
    );
    assert!(sends(&outs).is_empty());
    let s = sends(&e.durable(z, 1));
    assert_eq!(s.len(), 2);
    assert!(s.iter().all(|(c, _)| *c == 1));
    let mut r = Reader::new(&s[1].1[4..]);
    assert_eq!(r.i32().unwrap(), 2);
    assert_eq!(r.i64().unwrap(), z);
    assert_eq!(r.i32().unwrap(), 0);
}

#[test]
fn outstanding_writes_validate_against_each_other() {
    let mut e = engine();
    connect(&mut e, 1);
    e.request(1, 1, op::CREATE, create("/a"), 0);
    e.request(1, 2, op::CREATE, create("/a"), 0);
    let s = sends(&e.durable(e.last_assigned(), 0));
    assert_eq!(s.len(), 2);
    assert_eq!(Reader::new(&s[0].1[16..20]).i32().unwrap(), 0);
    assert_eq!(
        Reader::new(&s[1].1[16..20]).i32().unwrap(),
        Code::NodeExists.as_i32()
    );
}

#[test]
fn failed_persistence_fails_the_writes_and_keeps_serving() {
    let mut e = engine();
    connect(&mut e, 1);
    let before = e.last_assigned();
    e.request(1, 1, op::CREATE, create("/a"), 0);
    e.request(
        1,
        2,
        op::GET_DATA,
        Request::GetData {
            path: "/".into(),
            watch: false,
        },
        0,
    );
    let s = sends(&e.failed(before + 1, Code::ThrottledOp, 0));
    assert_eq!(
        s.len(),
        2,
        "the failed write is answered, then the read behind it"
    );
    assert_eq!(
        Reader::new(&s[0].1[16..20]).i32().unwrap(),
        Code::ThrottledOp.as_i32()
    );
    assert_eq!(Reader::new(&s[1].1[16..20]).i32().unwrap(), 0);
    assert!(e.tree.get("/a").is_none());
    assert_eq!(e.last_assigned(), before);
    // The same create goes through afterwards.
    e.request(1, 3, op::CREATE, create("/a"), 0);
    e.durable(e.last_assigned(), 0);
    assert!(e.tree.get("/a").is_some());
}

#[test]
fn requests_behind_close_session_wait_for_its_reply() {
    let mut e = engine();
    connect(&mut e, 1);
    e.request(1, 6, op::CLOSE_SESSION, Request::CloseSession, 0);
    let outs = e.request(
        1,
        7,
        op::GET_DATA,
        Request::GetData {
            path: "/".into(),
            watch: false,
        },
        0,
    );
    assert!(outs.is_empty(), "nothing overtakes the close: {outs:?}");
    let outs = e.durable(e.last_assigned(), 0);
    let s = sends(&outs);
    assert_eq!(s.len(), 1);
    assert_eq!(Reader::new(&s[0].1[4..8]).i32().unwrap(), 6);
    assert_eq!(outs.last(), Some(&Out::Close(1)));
}

#[test]
fn sasl_without_configuration_answers_empty() {
    let mut e = engine();
    connect(&mut e, 1);
    let s = sends(&e.request(1, 3, op::SASL, Request::Unsupported(op::SASL), 0));
    assert_eq!(s[0].1.len(), 4 + 16 + 4);
    assert_eq!(Reader::new(&s[0].1[16..20]).i32().unwrap(), 0);
}

#[test]
fn watch_event_precedes_reply() {
    let mut e = engine();
    connect(&mut e, 1);
    let outs = e.request(
        1,
        1,
        op::EXISTS,
        Request::Exists {
            path: "/w".into(),
            watch: true,
        },
        0,
    );
    assert_eq!(sends(&outs).len(), 1);
    e.request(1, 2, op::CREATE, create("/w"), 0);
    let s = sends(&e.durable(e.last_assigned(), 0));
    assert_eq!(s.len(), 2);
    let mut r = Reader::new(&s[0].1[4..]);
    assert_eq!(r.i32().unwrap(), -1);
}

#[test]
fn resume_and_expired_session() {
    let mut e = engine();
    let id = connect(&mut e, 1);
    e.connected(2, "127.0.0.1", 0);
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout: 5000,
        session_id: id,
        passwd: session_password(id).to_vec(),
        read_only: None,
    };
    let outs = e.connect(2, &req, 0);
    assert!(outs.contains(&Out::Close(1)));
    e.connected(3, "127.0.0.1", 0);
    let bad = ConnectRequest {
        passwd: vec![1; 16],
        ..req.clone()
    };
    let outs = e.connect(3, &bad, 0);
    let s = sends(&outs);
    assert_eq!(&s[0].1[4..12], &[0, 0, 0, 0, 0, 0, 0, 0]);
    assert!(outs.contains(&Out::Close(3)));
    let ahead = ConnectRequest {
        last_zxid_seen: 99,
        ..req
    };
    e.connected(4, "127.0.0.1", 0);
    assert_eq!(e.connect(4, &ahead, 0), vec![Out::Close(4)]);
}

#[test]
fn expiry_removes_ephemerals_and_closes() {
    let mut e = engine();
    let id = connect(&mut e, 1);
    let mut req = create("/eph");
    if let Request::Write(WriteOp::Create(c)) = &mut req {
        c.flags = 1;
    }
    e.request(1, 1, op::CREATE, req, 0);
    let outs = e.expire(&[id], 10);
    assert!(outs
        .iter()
        .any(|o| matches!(o, Out::Persist(t) if t.op == TxnOp::CloseSession.into())));
    let outs = e.durable(e.last_assigned(), 10);
    assert!(e.tree.get("/eph").is_none());
    assert!(outs.contains(&Out::Close(1)));
}
