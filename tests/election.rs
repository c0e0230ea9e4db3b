//! Fast leader election over real loopback TCP: several `ElectionActor`s (each with its election
//! transport) in one actix System per test, on free ports.
//!
//! `RUST_LOG=keeper=debug cargo test --test election -- --nocapture` shows every notification.

use actix::prelude::*;
use futures::{SinkExt, StreamExt};
use keeper::actors::election::{
    start_election, Elected, ElectionActor, Established, GetPeerLinks, GetStatus, LookForLeader,
    Shutdown,
};
use keeper::codec::peer::{PeerCodec, PeerMessage, PROTOCOL_VERSION};
use keeper::proto::vote::{PeerState, Vote};
use keeper::settings::Member;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};

/// Bound of every wait: generous, a healthy election takes a few hundred ms.
const WAIT: Duration = Duration::from_secs(10);

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// `(id, observer)` -> members on free loopback ports.
fn members(spec: &[(u64, bool)]) -> Vec<Member> {
    // Hold every probe socket until all ports are chosen, so no port repeats.
    let probes: Vec<std::net::TcpListener> = spec
        .iter()
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("free port"))
        .collect();
    spec.iter()
        .zip(&probes)
        .map(|(&(id, observer), l)| Member {
            id,
            host: "127.0.0.1".to_string(),
            quorum_port: 1,
            election_port: l.local_addr().expect("addr").port(),
            observer,
            client: None,
        })
        .collect()
}

fn voters(ids: &[u64]) -> Vec<Member> {
    members(&ids.iter().map(|&id| (id, false)).collect::<Vec<_>>())
}

/// Forwards what one server's election decides, tagged with its id.
struct Decisions {
    id: u64,
    tx: mpsc::UnboundedSender<(u64, Elected)>,
}

impl Actor for Decisions {
    type Context = Context<Self>;
}

impl Handler<Elected> for Decisions {
    type Result = ();
    fn handle(&mut self, m: Elected, _: &mut Context<Self>) {
        let _ = self.tx.send((self.id, m));
    }
}

/// The servers of one test and the decisions they report.
struct Cluster {
    members: Vec<Member>,
    servers: BTreeMap<u64, Addr<ElectionActor>>,
    tx: mpsc::UnboundedSender<(u64, Elected)>,
    rx: mpsc::UnboundedReceiver<(u64, Elected)>,
    /// Latest decision per server.
    decided: BTreeMap<u64, Elected>,
}

impl Cluster {
    fn new(members: Vec<Member>) -> Cluster {
        let (tx, rx) = mpsc::unbounded_channel();
        Cluster {
            members,
            servers: BTreeMap::new(),
            tx,
            rx,
            decided: BTreeMap::new(),
        }
    }

    async fn start(&mut self, id: u64, last_zxid: i64, current_epoch: u64) {
        let sink = Decisions {
            id,
            tx: self.tx.clone(),
        }
        .start();
        // A port just released by a stopped server may take a moment to come back.
        let mut tries = 0;
        let addr = loop {
            match start_election(
                id,
                &self.members,
                last_zxid,
                current_epoch,
                sink.clone().recipient(),
            )
            .await
            {
                Ok(a) => break a,
                Err(e) if tries < 50 => {
                    tries += 1;
                    eprintln!("starting server {id}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("starting server {id}: {e}"),
            }
        };
        self.servers.insert(id, addr);
    }

    fn addr(&self, id: u64) -> &Addr<ElectionActor> {
        &self.servers[&id]
    }

    fn election_port(&self, id: u64) -> u16 {
        self.members
            .iter()
            .find(|m| m.id == id)
            .expect("member")
            .election_port
    }

    /// Wait until every server in `ids` has a decision (clear `decided` to wait for new ones).
    async fn wait_decided(&mut self, ids: &[u64]) -> BTreeMap<u64, Elected> {
        let all = tokio::time::timeout(WAIT, async {
            while !ids.iter().all(|id| self.decided.contains_key(id)) {
                let (id, e) = self.rx.recv().await.expect("decision channel");
                self.decided.insert(id, e);
            }
        })
        .await;
        if all.is_err() {
            panic!(
                "after {WAIT:?} only these of {ids:?} decided: {:?}",
                self.decided
            );
        }
        ids.iter().map(|id| (*id, self.decided[id])).collect()
    }

    /// Decisions reported since the last call (without waiting).
    fn drain(&mut self) -> Vec<(u64, Elected)> {
        let mut v = Vec::new();
        while let Ok(x) = self.rx.try_recv() {
            self.decided.insert(x.0, x.1);
            v.push(x);
        }
        v
    }

    async fn status(&self, id: u64) -> keeper::actors::election::ElectionStatus {
        self.addr(id).send(GetStatus).await.expect("status")
    }

    /// As the roles do after sync: every member reports the leader's vote with the new epoch.
    fn establish(&self, ids: &[u64], leader: Vote, new_epoch: u64) {
        let vote = Vote {
            peer_epoch: new_epoch,
            ..leader
        };
        for &id in ids {
            let state = if id == leader.leader {
                PeerState::Leading
            } else if self.members.iter().any(|m| m.id == id && m.observer) {
                PeerState::Observing
            } else {
                PeerState::Following
            };
            self.addr(id).do_send(Established { state, vote });
        }
    }
}

/// Every server in `ids` agrees on `leader`, which leads; the others follow (or observe).
fn assert_one_leader(decided: &BTreeMap<u64, Elected>, leader: u64, observers: &[u64]) {
    let vote = decided[&leader].vote;
    for (id, e) in decided {
        assert_eq!(e.vote.leader, leader, "server {id} decided {e:?}");
        assert_eq!(e.vote, vote, "server {id} decided {e:?}");
        let want = if *id == leader {
            PeerState::Leading
        } else if observers.contains(id) {
            PeerState::Observing
        } else {
            PeerState::Following
        };
        assert_eq!(e.state, want, "server {id} decided {e:?}");
    }
}

fn zxid(epoch: u64, counter: u64) -> i64 {
    ((epoch << 32) | counter) as i64
}

#[actix_rt::test]
async fn three_voters_elect_the_highest_zxid_over_one_connection_per_pair() {
    init_logs();
    let mut c = Cluster::new(voters(&[1, 2, 3]));
    c.start(1, zxid(1, 5), 1).await;
    c.start(2, zxid(1, 7), 1).await;
    c.start(3, zxid(1, 6), 1).await;
    let d = c.wait_decided(&[1, 2, 3]).await;
    assert_one_leader(&d, 2, &[]);
    assert_eq!(
        d[&2].vote,
        Vote {
            leader: 2,
            zxid: zxid(1, 5 + 2),
            peer_epoch: 1
        }
    );
    for id in [1, 2, 3] {
        let s = c.status(id).await;
        assert_eq!(s.vote.leader, 2);
        assert_eq!(s.state, d[&id].state);
    }

    // One connection per pair, initiated by the larger id: both ends see the same socket pair.
    let mut links = HashMap::new();
    tokio::time::timeout(WAIT, async {
        loop {
            links.clear();
            for id in [1u64, 2, 3] {
                links.insert(id, c.addr(id).send(GetPeerLinks).await.expect("links"));
            }
            if links.values().all(|l| l.len() == 2) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("links never settled: {links:?}"));
    for (&id, ls) in &links {
        for l in ls {
            assert_eq!(l.initiated, id > l.sid, "{id}: {l:?}");
            let other = links[&l.sid]
                .iter()
                .find(|o| o.sid == id)
                .expect("the other end");
            assert_eq!((other.local, other.remote), (l.remote, l.local));
        }
    }

    // Equal zxids: the highest id wins.
    let mut tie = Cluster::new(voters(&[1, 2, 3]));
    for id in [1, 2, 3] {
        tie.start(id, zxid(2, 9), 2).await;
    }
    let d = tie.wait_decided(&[1, 2, 3]).await;
    assert_one_leader(&d, 3, &[]);
    // The epoch counts before the zxid.
    let mut epochs = Cluster::new(voters(&[1, 2, 3]));
    epochs.start(1, zxid(1, 100), 1).await;
    epochs.start(2, zxid(2, 1), 2).await;
    epochs.start(3, zxid(1, 99), 1).await;
    let d = epochs.wait_decided(&[1, 2, 3]).await;
    assert_one_leader(&d, 2, &[]);
}

#[actix_rt::test]
async fn five_voters_elect_with_two_of_them_down() {
    init_logs();
    let mut c = Cluster::new(voters(&[1, 2, 3, 4, 5]));
    // 4 and 5 (the highest ids) never start; their ports refuse connections.
    for id in [1, 2, 3] {
        c.start(id, zxid(1, 3), 1).await;
    }
    let d = c.wait_decided(&[1, 2, 3]).await;
    assert_one_leader(&d, 3, &[]);
}

#[actix_rt::test]
async fn an_observer_finds_the_leader_and_observes() {
    init_logs();
    let mut c = Cluster::new(members(&[(1, false), (2, false), (3, false), (4, true)]));
    // The observer has the newest history and the highest id: it still never leads.
    c.start(4, zxid(9, 1000), 9).await;
    for id in [1, 2, 3] {
        c.start(id, zxid(1, 1), 1).await;
    }
    let d = c.wait_decided(&[1, 2, 3, 4]).await;
    assert_one_leader(&d, 3, &[4]);
    assert_eq!(c.status(4).await.state, PeerState::Observing);
}

#[actix_rt::test]
async fn a_late_server_joins_the_established_leader() {
    init_logs();
    let mut c = Cluster::new(voters(&[1, 2, 3]));
    c.start(1, zxid(1, 5), 1).await;
    c.start(2, zxid(1, 5), 1).await;
    let d = c.wait_decided(&[1, 2]).await;
    assert_one_leader(&d, 2, &[]);
    c.establish(&[1, 2], d[&2].vote, 2);

    // 3 has the newest history and the highest id: a new election would make it the leader.
    c.start(3, zxid(1, 50), 1).await;
    let d = c.wait_decided(&[3]).await;
    assert_eq!(d[&3].state, PeerState::Following);
    assert_eq!(d[&3].vote.leader, 2);
    assert_eq!(d[&3].vote.peer_epoch, 2);
    // Nobody else decided again; 2 still leads and 1 still follows it.
    assert_eq!(c.drain().iter().filter(|(id, _)| *id != 3).count(), 0);
    assert_eq!(c.status(2).await.state, PeerState::Leading);
    let s1 = c.status(1).await;
    assert_eq!((s1.state, s1.vote.leader), (PeerState::Following, 2));
}

/// Connect to an election port and send `bytes`; true when the server closes the connection
/// within the bound, having sent nothing.
async fn refused(port: u16, bytes: &[u8]) -> bool {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut buf = [0u8; 256];
    let closed = async {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => {}
            // A refused peer gets nothing, not even a Hello.
            Ok(n) => panic!("refused peer received {n} bytes"),
        }
    };
    tokio::time::timeout(WAIT, closed).await.is_ok()
}

fn frame(m: PeerMessage) -> Vec<u8> {
    use tokio_util::codec::Encoder;
    let mut b = bytes::BytesMut::new();
    PeerCodec.encode(m, &mut b).expect("encode");
    b.to_vec()
}

#[actix_rt::test]
async fn strangers_and_bad_frames_are_refused() {
    init_logs();
    let mut c = Cluster::new(voters(&[1, 2, 3]));
    c.start(1, zxid(1, 1), 1).await;
    let port = c.election_port(1);

    let hello = |version, sid| frame(PeerMessage::Hello { version, sid });
    assert!(
        refused(port, &hello(PROTOCOL_VERSION, 99)).await,
        "unknown id"
    );
    assert!(refused(port, &hello(PROTOCOL_VERSION, 1)).await, "own id");
    assert!(
        refused(port, &hello(PROTOCOL_VERSION + 1, 3)).await,
        "version"
    );
    assert!(
        refused(port, &frame(PeerMessage::UpToDate)).await,
        "not a Hello"
    );
    assert!(refused(port, &[0, 0, 0, 2, 0xc1, 0xc1]).await, "garbage");

    // A known larger id is answered with a Hello and the notifications waiting for it; a bad
    // frame afterwards closes that connection only.
    let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (r, w) = s.into_split();
    let mut read = FramedRead::new(r, PeerCodec);
    let mut write = FramedWrite::new(w, PeerCodec);
    write
        .send(PeerMessage::Hello {
            version: PROTOCOL_VERSION,
            sid: 3,
        })
        .await
        .expect("hello");
    let first = tokio::time::timeout(WAIT, read.next())
        .await
        .expect("answer");
    assert!(
        matches!(
            first,
            Some(Ok(PeerMessage::Hello {
                version: PROTOCOL_VERSION,
                sid: 1
            }))
        ),
        "{first:?}"
    );
    let second = tokio::time::timeout(WAIT, read.next()).await.expect("vote");
    match second {
        Some(Ok(PeerMessage::Notification(n))) => {
            assert_eq!((n.sid, n.state, n.vote.leader), (1, PeerState::Looking, 1))
        }
        other => panic!("expected a notification, got {other:?}"),
    }
    let mut w = write.into_inner();
    w.write_all(&[0, 0, 0, 2, 0xc1, 0xc1]).await.expect("junk");
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match read.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a bad frame must close the connection");

    // The server still works: with 2 and 3 it elects 3.
    c.start(2, zxid(1, 1), 1).await;
    c.start(3, zxid(1, 1), 1).await;
    let d = c.wait_decided(&[1, 2, 3]).await;
    assert_one_leader(&d, 3, &[]);
}

#[actix_rt::test]
async fn losing_the_leader_elects_a_new_one_and_it_rejoins_as_follower() {
    init_logs();
    let mut c = Cluster::new(voters(&[1, 2, 3]));
    for id in [1, 2, 3] {
        c.start(id, zxid(1, 8), 1).await;
    }
    let d = c.wait_decided(&[1, 2, 3]).await;
    assert_one_leader(&d, 3, &[]);
    c.establish(&[1, 2, 3], d[&3].vote, 2);

    // The leader's election stops (its port closes); the followers' roles end and they look
    // again, with the history of epoch 2.
    c.addr(3).do_send(Shutdown);
    c.servers.remove(&3);
    c.decided.clear();
    for id in [1, 2] {
        c.addr(id).do_send(LookForLeader {
            last_zxid: zxid(2, 0),
            current_epoch: 2,
        });
    }
    let d = c.wait_decided(&[1, 2]).await;
    assert_one_leader(&d, 2, &[]);
    assert!(c.status(1).await.round > 1);
    c.establish(&[1, 2], d[&2].vote, 3);

    // The old leader comes back with the highest id: it follows 2 instead of taking over.
    c.start(3, zxid(2, 0), 2).await;
    let d = c.wait_decided(&[3]).await;
    assert_eq!((d[&3].state, d[&3].vote.leader), (PeerState::Following, 2));
    assert_eq!(c.status(2).await.state, PeerState::Leading);
}

type PeerRead = FramedRead<tokio::net::tcp::OwnedReadHalf, PeerCodec>;
type PeerWrite = FramedWrite<tokio::net::tcp::OwnedWriteHalf, PeerCodec>;

/// Accept the next connection on a fake peer's election port and read its Hello.
async fn accept_hello(l: &tokio::net::TcpListener) -> (PeerRead, PeerWrite, u64) {
    let (s, _) = tokio::time::timeout(WAIT, l.accept())
        .await
        .expect("a dial within the bound")
        .expect("accept");
    let (r, w) = s.into_split();
    let mut read = FramedRead::new(r, PeerCodec);
    let write = FramedWrite::new(w, PeerCodec);
    match tokio::time::timeout(WAIT, read.next())
        .await
        .expect("hello")
    {
        Some(Ok(PeerMessage::Hello { version, sid })) => {
            assert_eq!(version, PROTOCOL_VERSION);
            (read, write, sid)
        }
        other => panic!("expected Hello, got {other:?}"),
    }
}

/// Read frames until one matches (bounded).
async fn read_until(read: &mut PeerRead, what: &str, f: impl Fn(&PeerMessage) -> bool) {
    tokio::time::timeout(WAIT, async {
        loop {
            match read.next().await {
                Some(Ok(m)) if f(&m) => return,
                Some(Ok(_)) => {}
                other => panic!("connection ended waiting for {what}: {other:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"));
}

#[actix_rt::test]
async fn a_smaller_peer_is_dialed_checked_probed_and_redialed() {
    init_logs();
    let mut c = Cluster::new(voters(&[1, 2, 3]));
    // Server 1 is a fake listening on its port; only 2 runs.
    let fake = tokio::net::TcpListener::bind(("127.0.0.1", c.election_port(1)))
        .await
        .expect("bind the fake server 1");
    c.start(2, zxid(1, 1), 1).await;

    // 2 dials the smaller id. A peer answering with another id is dropped, and dialed again.
    let (mut read, mut write, sid) = accept_hello(&fake).await;
    assert_eq!(sid, 2);
    write
        .send(PeerMessage::Hello {
            version: PROTOCOL_VERSION,
            sid: 7,
        })
        .await
        .expect("wrong hello");
    assert!(
        matches!(
            tokio::time::timeout(WAIT, read.next()).await,
            Ok(None | Some(Err(_)))
        ),
        "a wrong identity must close the dialed connection"
    );

    let (mut read, mut write, sid) = accept_hello(&fake).await;
    assert_eq!(sid, 2);
    write
        .send(PeerMessage::Hello {
            version: PROTOCOL_VERSION,
            sid: 1,
        })
        .await
        .expect("hello");
    read_until(&mut read, "2's vote", |m| match m {
        PeerMessage::Notification(n) => n.sid == 2 && n.state == PeerState::Looking,
        _ => false,
    })
    .await;

    // 1 asks to be dialed (connect, Hello, hang up): 2 closes that connection and, having
    // one already, probes it with a Hello.
    let request = frame(PeerMessage::Hello {
        version: PROTOCOL_VERSION,
        sid: 1,
    });
    assert!(refused(c.election_port(2), &request).await);
    read_until(&mut read, "a probe", |m| {
        matches!(m, PeerMessage::Hello { sid: 2, .. })
    })
    .await;

    // The connection dies: 2 dials again.
    drop((read, write));
    let (_read, _write, sid) = accept_hello(&fake).await;
    assert_eq!(sid, 2);
}
