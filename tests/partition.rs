//! Network partitions between the members of an ensemble, made with in-process TCP proxies.
//!
//! Every server has its own configuration file in which each OTHER member's quorum and
//! election ports are those of a proxy dedicated to that ordered pair: server `i` reaches `j`'s
//! quorum port through proxy `(i, j, Quorum)` and its election port through `(i, j, Election)`.
//! Its own entry has its real ports. Clients talk to the client ports directly, so a server
//! cut off from its peers is still reachable by clients.
//!
//! Cutting the pair `{i, j}` switches the four proxies `(i, j, *)` and `(j, i, *)`:
//! - `cut`: every open connection is closed and new ones are accepted and dropped at once (the
//!   peers see resets and refusals);
//! - `blackhole`: connections stay open (new ones are accepted and held) but no byte passes (a
//!   silent partition: only timeouts tell);
//! - `heal`: traffic passes again; connections that lost bytes in a blackhole are closed first.
//!
//! Scenarios (three or five voters, tick 200 ms, syncLimit 5 ticks):
//! 1. the leader isolated from both followers: the followers elect a leader and take writes,
//!    the old leader stops serving; healed, it follows and has every acknowledged write;
//! 2. five voters, {4,5} cut from {1,2,3}: the majority serves, the minority neither elects
//!    nor writes; healed, all five converge;
//! 3. an old leader with an uncommitted proposal (silent partition, write through it at once)
//!    rejoins and loses that txn (TRUNC), on every server and on its disk;
//! 4. a follower's links flapping (cut/heal every 300 ms, 10 times) under a write load;
//! 5. the same with silent drops (blackhole 300 ms, below syncLimit) while the other
//!    follower's links are delayed by 30 ms.
//!
//! On a failure the ensemble's files (configs, data dirs, one log per server) are kept and
//! their path printed; `KEEP_ENSEMBLE_FILES=1` keeps them after passing runs too.

mod common;

use common::cluster::*;
use common::Ensemble;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zookeeper_client as zk;

/// Bound of the waits for an election (start, failover, rejoin).
const ELECTION: Duration = Duration::from_secs(20);
/// Bound for a leader cut from its quorum to stop serving: syncLimit is 5 ticks of 200 ms (1 s);
/// this allows ten times that.
const STEP_DOWN: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- the proxy

const OPEN_MODE: u8 = 0;
const CUT_MODE: u8 = 1;
const BLACKHOLE_MODE: u8 = 2;

/// The sockets of one proxied connection (clones, for closing them from outside).
struct Conn {
    inbound: TcpStream,
    outbound: Option<TcpStream>,
}

impl Conn {
    fn close(&self) {
        let _ = self.inbound.shutdown(Shutdown::Both);
        if let Some(o) = &self.outbound {
            let _ = o.shutdown(Shutdown::Both);
        }
    }
}

struct ProxyShared {
    /// OPEN_MODE, CUT_MODE or BLACKHOLE_MODE; changed only with `conns` locked.
    mode: AtomicU8,
    delay_ms: AtomicU64,
    stop: AtomicBool,
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Conn>>,
    /// Connections accepted, refused (cut) and held (blackhole), for the failure messages.
    accepted: AtomicU64,
    refused: AtomicU64,
}

/// A loopback TCP proxy from `port` to `target` that can be cut, blackholed, healed or delayed.
pub struct Proxy {
    pub port: u16,
    pub target: u16,
    shared: Arc<ProxyShared>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// A proxy listening on a fresh loopback port.
    pub fn start(target: u16) -> Proxy {
        Proxy::start_on(
            TcpListener::bind("127.0.0.1:0").expect("proxy listen"),
            target,
        )
    }

    /// A proxy on a bound `listener` (bound before the servers' ports are chosen, so that
    /// no proxy takes a port meant for a server).
    pub fn start_on(listener: TcpListener, target: u16) -> Proxy {
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(ProxyShared {
            mode: AtomicU8::new(OPEN_MODE),
            delay_ms: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            next: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let sh = shared.clone();
        let accept = std::thread::Builder::new()
            .name(format!("proxy-{port}-{target}"))
            .spawn(move || accept_loop(listener, target, sh))
            .expect("proxy thread");
        Proxy {
            port,
            target,
            shared,
            accept: Some(accept),
        }
    }

    fn set_mode(&self, mode: u8, close_all: bool) {
        let mut conns = self.shared.conns.lock().unwrap();
        self.shared.mode.store(mode, Ordering::SeqCst);
        if close_all {
            for c in conns.values() {
                c.close();
            }
            conns.clear();
        }
    }

    /// Close every open connection and drop new ones as soon as they are accepted.
    pub fn cut(&self) {
        self.set_mode(CUT_MODE, true);
    }

    /// Keep connections open (and accept new ones) but let no byte through, either way.
    pub fn blackhole(&self) {
        self.set_mode(BLACKHOLE_MODE, false);
    }

    /// Forward again. Connections that may have lost bytes in a blackhole are closed (their
    /// streams are corrupt); the peers reconnect.
    pub fn heal(&self) {
        let was = self.shared.mode.load(Ordering::SeqCst);
        self.set_mode(OPEN_MODE, was == BLACKHOLE_MODE);
    }

    /// Hold every chunk of data this long before forwarding it (0: no delay).
    pub fn delay(&self, ms: u64) {
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    pub fn stats(&self) -> String {
        format!(
            "proxy {}->{}: mode {}, {} open, {} accepted, {} refused",
            self.port,
            self.target,
            self.shared.mode.load(Ordering::SeqCst),
            self.shared.conns.lock().unwrap().len(),
            self.shared.accepted.load(Ordering::SeqCst),
            self.shared.refused.load(Ordering::SeqCst)
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.set_mode(CUT_MODE, true);
        // Wake the accept loop.
        let _ =
            TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, target: u16, sh: Arc<ProxyShared>) {
    for inbound in listener.incoming() {
        if sh.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(inbound) = inbound else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let _ = inbound.set_nodelay(true);
        // Dial the target first (only when forwarding), then register under the lock, where
        // the mode cannot change.
        let outbound = if sh.mode.load(Ordering::SeqCst) == OPEN_MODE {
            match TcpStream::connect_timeout(
                &([127, 0, 0, 1], target).into(),
                Duration::from_secs(2),
            ) {
                Ok(o) => {
                    let _ = o.set_nodelay(true);
                    Some(o)
                }
                Err(_) => {
                    // The target does not listen: refuse like it would.
                    let _ = inbound.shutdown(Shutdown::Both);
                    continue;
                }
            }
        } else {
            None
        };
        let mut conns = sh.conns.lock().unwrap();
        let mode = sh.mode.load(Ordering::SeqCst);
        if mode == CUT_MODE || (mode == OPEN_MODE && outbound.is_none()) {
            sh.refused.fetch_add(1, Ordering::SeqCst);
            let _ = inbound.shutdown(Shutdown::Both);
            if let Some(o) = outbound {
                let _ = o.shutdown(Shutdown::Both);
            }
            continue;
        }
        sh.accepted.fetch_add(1, Ordering::SeqCst);
        let id = sh.next.fetch_add(1, Ordering::SeqCst);
        let conn = Conn {
            inbound: inbound.try_clone().expect("clone"),
            outbound: outbound.as_ref().map(|o| o.try_clone().expect("clone")),
        };
        conns.insert(id, conn);
        drop(conns);
        // Both directions; the last pump to finish unregisters the connection.
        let left = Arc::new(AtomicU8::new(if outbound.is_some() { 2 } else { 1 }));
        match outbound {
            Some(o) => {
                let (i2, o2) = (
                    inbound.try_clone().expect("clone"),
                    o.try_clone().expect("clone"),
                );
                spawn_pump(inbound, Some(o), id, left.clone(), sh.clone());
                spawn_pump(o2, Some(i2), id, left, sh.clone());
            }
            None => spawn_pump(inbound, None, id, left, sh.clone()),
        }
    }
}

/// Copy `from` to `to` while the proxy forwards (discard while blackholed; without `to`,
/// discard everything). EOF is passed on as a half close.
fn spawn_pump(
    mut from: TcpStream,
    mut to: Option<TcpStream>,
    id: u64,
    left: Arc<AtomicU8>,
    sh: Arc<ProxyShared>,
) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let delay = sh.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                std::thread::sleep(Duration::from_millis(delay));
            }
            match sh.mode.load(Ordering::SeqCst) {
                OPEN_MODE => {
                    if let Some(t) = to.as_mut() {
                        if t.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
                BLACKHOLE_MODE => {}
                _ => break,
            }
        }
        if sh.mode.load(Ordering::SeqCst) == BLACKHOLE_MODE {
            // Nothing passes a blackhole, not even the end of a stream: the connection stays
            // registered (and open) until `heal` or `cut` closes it.
            left.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        match &to {
            Some(t) => {
                let _ = t.shutdown(Shutdown::Write);
            }
            None => {
                let _ = from.shutdown(Shutdown::Both);
            }
        }
        if left.fetch_sub(1, Ordering::SeqCst) == 1 {
            // Both directions are done: close both sockets and forget the connection.
            let _ = from.shutdown(Shutdown::Both);
            if let Some(t) = &to {
                let _ = t.shutdown(Shutdown::Both);
            }
            sh.conns.lock().unwrap().remove(&id);
        }
    });
}

// ---------------------------------------------------------------- a partitionable ensemble

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Quorum,
    Election,
}

/// The proxies between the members: `(from, to, kind)` forwards to `to`'s real `kind` port.
struct Net {
    proxies: BTreeMap<(u64, u64, Kind), Proxy>,
}

impl Net {
    fn pair(&self, a: u64, b: u64) -> impl Iterator<Item = &Proxy> {
        self.proxies
            .iter()
            .filter(move |((f, t, _), _)| (*f == a && *t == b) || (*f == b && *t == a))
            .map(|(_, p)| p)
    }

    /// Cut the links between `a` and `b` (both directions, both ports).
    fn cut(&self, a: u64, b: u64) {
        self.pair(a, b).for_each(|p| p.cut());
    }

    fn blackhole(&self, a: u64, b: u64) {
        self.pair(a, b).for_each(|p| p.blackhole());
    }

    fn heal(&self, a: u64, b: u64) {
        self.pair(a, b).for_each(|p| p.heal());
    }

    /// Cut every pair with one member in `side` and the other in `other`.
    fn cut_between(&self, side: &[u64], other: &[u64]) {
        for &a in side {
            for &b in other {
                self.cut(a, b);
            }
        }
    }

    fn blackhole_between(&self, side: &[u64], other: &[u64]) {
        for &a in side {
            for &b in other {
                self.blackhole(a, b);
            }
        }
    }

    fn heal_all(&self) {
        self.proxies.values().for_each(|p| p.heal());
    }

    fn stats(&self) -> String {
        self.proxies
            .iter()
            .map(|((f, t, k), p)| format!("  {f}->{t} {k:?}: {}\n", p.stats()))
            .collect()
    }
}

/// An ensemble of `voters` whose peer links all go through proxies, started, with a leader.
struct Cluster {
    // Dropped first: the servers stop before their proxies.
    e: Ensemble,
    net: Net,
}

impl Cluster {
    fn start(voters: usize) -> Cluster {
        Cluster::start_with(voters, &[])
    }

    /// With more `--set` settings for every member (over its own file's tick 200 ms etc.).
    fn start_with(voters: usize, extra: &[&str]) -> Cluster {
        // The proxies' ports are held before the ensemble chooses (and releases) the servers'
        // ports: a proxy bound afterwards could get a port a server is about to bind.
        let mut listeners: Vec<TcpListener> = (0..2 * voters * (voters - 1))
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("proxy listen"))
            .collect();
        let mut e = Ensemble::new(voters, 0, extra);
        let mut proxies = BTreeMap::new();
        for a in &e.members {
            for b in &e.members {
                if a.id != b.id {
                    let q = listeners.pop().expect("a listener");
                    let el = listeners.pop().expect("a listener");
                    proxies.insert(
                        (a.id, b.id, Kind::Quorum),
                        Proxy::start_on(q, b.quorum_port),
                    );
                    proxies.insert(
                        (a.id, b.id, Kind::Election),
                        Proxy::start_on(el, b.election_port),
                    );
                }
            }
        }
        for id in e.ids() {
            e.write_own_config(id, |m| {
                (
                    proxies[&(id, m.id, Kind::Quorum)].port,
                    proxies[&(id, m.id, Kind::Election)].port,
                )
            });
        }
        e.start_all_own_config();
        e.wait_modes(ELECTION);
        Cluster {
            e,
            net: Net { proxies },
        }
    }

    /// The others of `id`.
    fn others(&self, id: u64) -> Vec<u64> {
        self.e.ids().into_iter().filter(|&i| i != id).collect()
    }

    fn wait_modes_of(&self, ids: &[u64], what: &str) -> BTreeMap<u64, String> {
        let deadline = Instant::now() + ELECTION;
        loop {
            let mut modes = BTreeMap::new();
            for &id in ids {
                if let Some(m) = self.e.mode(id) {
                    modes.insert(id, m);
                }
            }
            let leaders = modes.values().filter(|m| *m == "leader").count();
            if modes.len() == ids.len() && leaders == 1 {
                return modes;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{what}: after {ELECTION:?} the modes of {ids:?} are {modes:?}\n{}\n{}",
                    self.net.stats(),
                    self.e.log_tails(40)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn leader_of(modes: &BTreeMap<u64, String>) -> u64 {
        *modes
            .iter()
            .find(|(_, m)| *m == "leader")
            .expect("a leader")
            .0
    }
}

// ---------------------------------------------------------------- clients

/// A session with member `id` must not be established (it does not serve).
async fn assert_no_session(e: &Ensemble, id: u64, why: &str) {
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        zk::Client::connector()
            .with_session_timeout(SESSION)
            .with_fail_eagerly()
            .connect(&e.addr(id)),
    )
    .await;
    assert!(
        !matches!(r, Ok(Ok(_))),
        "server {id} established a session {why}"
    );
}

/// A create through `c` must not be acknowledged. Returns what it answered.
async fn assert_write_fails(c: &zk::Client, path: &str, why: &str) -> String {
    let r = tokio::time::timeout(Duration::from_secs(10), c.create(path, b"", OPEN)).await;
    assert!(!matches!(r, Ok(Ok(_))), "{path} was acknowledged {why}");
    match r {
        Ok(Err(e)) => format!("{e:?}"),
        _ => "timeout".into(),
    }
}

/// Every member in `ids` has the same tree as `reference` (after a sync on each).
async fn assert_all_same_tree(e: &Ensemble, reference: u64, ids: &[u64]) {
    let want = dump_on(e, reference, "/").await;
    for &id in ids {
        assert_same_tree(
            &format!("server {id} against server {reference}"),
            &want,
            &dump_on(e, id, "/").await,
        );
    }
}

/// Every path of `paths` is on member `id` (after a sync).
async fn assert_has_all(e: &Ensemble, id: u64, paths: &[String], what: &str) {
    let tree = dump_on(e, id, "/").await;
    let missing: Vec<&String> = paths.iter().filter(|p| !tree.contains_key(*p)).collect();
    assert!(
        missing.is_empty(),
        "server {id} lacks {} of {} {what}, e.g. {:?}",
        missing.len(),
        paths.len(),
        &missing[..missing.len().min(10)]
    );
}

// ---------------------------------------------------------------- logs

/// `text` without ANSI colour sequences.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(ch);
        }
    }
    out
}

/// How many lines of member `id`'s log (all its starts) contain `needle`.
fn count_log_lines(e: &Ensemble, id: u64, needle: &str) -> usize {
    plain(&e.log(id))
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

/// `keeper log-dump` of every transaction log segment of member `id`.
fn logged_txns(e: &Ensemble, id: u64) -> String {
    let dir = e.data_dir(id).join("version-2");
    let mut segs: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|x| x.ok())
                .map(|x| x.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("log."))
                })
                .collect()
        })
        .unwrap_or_default();
    segs.sort();
    let mut out = String::new();
    for p in segs {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_keeper"))
            .arg("log-dump")
            .arg(&p)
            .output()
            .expect("keeper log-dump");
        out.push_str(&format!("== {}\n", p.display()));
        out.push_str(&String::from_utf8_lossy(&o.stdout));
        out.push_str(&String::from_utf8_lossy(&o.stderr));
    }
    out
}

// ---------------------------------------------------------------- scenarios

/// Scenario 1: the leader of three voters cut from both followers (clients still reach it):
/// the followers elect a new leader and take writes; the old leader stops serving within a
/// bound and takes no writes; healed, it rejoins as a follower with every acknowledged write.
#[test]
fn isolated_leader_steps_down_and_rejoins_as_follower() {
    let _serial = serial();
    let c = Cluster::start(3);
    let e = &c.e;
    let old = Cluster::leader_of(&c.wait_modes_of(&e.ids(), "start"));
    let followers = c.others(old);
    let rt = rt();
    let (before, old_client) = rt.block_on(async {
        let cl = client_of(e, old).await;
        cl.create("/t1", b"", OPEN).await.unwrap();
        let before = create_many(&cl, "/t1", "before", 0..100).await;
        (before, cl)
    });

    let cut_at = Instant::now();
    c.net.cut_between(&[old], &followers);
    // A write through the old leader right after the cut can never be acknowledged.
    let answer = rt.block_on(assert_write_fails(
        &old_client,
        "/t1/via-old-leader",
        "by a leader cut from its followers",
    ));
    let modes = c.wait_modes_of(&followers, "the followers electing after the cut");
    let new = Cluster::leader_of(&modes);
    println!(
        "leader {old} cut: {new} leads after {:?}; a write through {old} answered {answer}",
        cut_at.elapsed()
    );
    e.wait_not_serving(old, STEP_DOWN);
    println!("{old} stopped serving after {:?}", cut_at.elapsed());
    assert_eq!(e.mode(old), None);

    let during = rt.block_on(async {
        let cn = connect(&e.connect_string(&followers)).await;
        let during = create_many(&cn, "/t1", "during", 0..100).await;
        assert_no_session(e, old, "while cut from its followers").await;
        assert_write_fails(&old_client, "/t1/via-old-leader-2", "while cut").await;
        during
    });
    // Still cut off and still not serving a while later.
    std::thread::sleep(Duration::from_secs(1));
    assert!(e.not_serving(old), "{:?}", e.srvr(old));
    drop(old_client);

    let healed_at = Instant::now();
    c.net.heal_all();
    let modes = c.wait_modes_of(&e.ids(), "everybody after the heal");
    println!("healed: {modes:?} after {:?}", healed_at.elapsed());
    assert_eq!(modes[&old], "follower", "{modes:?}");
    assert_eq!(modes[&new], "leader", "{modes:?}");
    rt.block_on(async {
        // And the ensemble takes writes through the old leader again.
        let cl = client_of(e, old).await;
        within(
            20,
            "a write through the old leader",
            cl.create("/t1/after", b"", OPEN),
        )
        .await
        .unwrap();
        for id in e.ids() {
            assert_has_all(e, id, &before, "writes acknowledged before the cut").await;
            assert_has_all(e, id, &during, "writes acknowledged by the majority").await;
        }
        let tree = dump_on(e, old, "/t1").await;
        assert!(!tree.contains_key("/t1/via-old-leader"));
        assert!(!tree.contains_key("/t1/via-old-leader-2"));
        assert!(tree.contains_key("/t1/after"));
        assert_all_same_tree(e, new, &e.ids()).await;
    });
}

/// Scenario 2: five voters, {4,5} cut from {1,2,3}: the majority elects (if needed) and serves
/// writes; the minority stops serving, never elects and takes no writes; healed, all five
/// converge to the same tree with every acknowledged write.
#[test]
fn minority_partition_of_five_does_not_serve_and_converges_after_heal() {
    let _serial = serial();
    let c = Cluster::start(5);
    let e = &c.e;
    let first = Cluster::leader_of(&c.wait_modes_of(&e.ids(), "start"));
    let (majority, minority) = (vec![1u64, 2, 3], vec![4u64, 5]);
    let rt = rt();
    let (before, minority_clients) = rt.block_on(async {
        let cl = connect(&e.connect_string_all()).await;
        cl.create("/t2", b"", OPEN).await.unwrap();
        cl.create("/t2/load", b"", OPEN).await.unwrap();
        let before = create_many(&cl, "/t2", "before", 0..100).await;
        let mut mc = Vec::new();
        for &id in &minority {
            mc.push((id, client_of(e, id).await));
        }
        (before, mc)
    });
    let load = Load::start(
        &rt,
        &e.connect_string(&majority),
        "/t2/load",
        "",
        2,
        Duration::from_millis(10),
    );
    rt.block_on(load.progress(20, 20, "writes before the partition"));

    let cut_at = Instant::now();
    c.net.cut_between(&majority, &minority);
    let modes = c.wait_modes_of(&majority, "the majority after the partition");
    println!(
        "first leader {first}; {{4,5}} cut: majority {modes:?} after {:?}",
        cut_at.elapsed()
    );
    for &id in &minority {
        e.wait_not_serving(id, STEP_DOWN);
    }
    rt.block_on(load.progress(50, 30, "majority writes during the partition"));
    rt.block_on(async {
        for (id, cl) in &minority_clients {
            assert_write_fails(cl, &format!("/t2/via-{id}"), "by the minority").await;
            assert_no_session(e, *id, "in the minority").await;
        }
    });
    // For three more seconds the minority never reports a mode (no leader, no follower).
    let watch_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch_until {
        for &id in &minority {
            let m = e.mode(id);
            assert!(
                m.is_none(),
                "server {id} of the minority reports mode {m:?}: {:?}\n{}",
                e.srvr(id),
                e.log_tails(30)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(minority_clients);

    let healed_at = Instant::now();
    c.net.heal_all();
    let modes = c.wait_modes_of(&e.ids(), "all five after the heal");
    println!("healed: {modes:?} after {:?}", healed_at.elapsed());
    rt.block_on(load.progress(50, 30, "writes after the heal"));
    let ledger = rt.block_on(load.stop());
    println!(
        "load: {} acknowledged, {} uncertain, errors {:?}",
        ledger.acked.len(),
        ledger.uncertain.len(),
        ledger.errors
    );
    let leader = Cluster::leader_of(&c.wait_modes_of(&e.ids(), "all five at the end"));
    rt.block_on(async {
        let cl = connect(&e.connect_string(&minority)).await;
        within(
            20,
            "a write through the minority",
            cl.create("/t2/after", b"", OPEN),
        )
        .await
        .unwrap();
        check_ledger(e, &e.ids(), "/t2/load", &ledger).await;
        for id in e.ids() {
            assert_has_all(e, id, &before, "writes acknowledged before the partition").await;
        }
        let tree = dump_on(e, leader, "/t2").await;
        for id in &minority {
            assert!(!tree.contains_key(&format!("/t2/via-{id}")));
        }
        assert_all_same_tree(e, leader, &e.ids()).await;
    });
}

/// Scenario 3: the leader silently cut from both followers (blackholed links: it notices only
/// by syncLimit) takes a write at once: the proposal is logged on the old leader but can never
/// commit, and the write is never acknowledged. The followers elect and take writes; healed,
/// the old leader rejoins and its uncommitted txn is gone everywhere (TRUNC), also from its
/// disk, while every acknowledged write is present.
#[test]
fn old_leader_uncommitted_proposal_is_truncated_on_rejoin() {
    let _serial = serial();
    let c = Cluster::start(3);
    let e = &c.e;
    let old = Cluster::leader_of(&c.wait_modes_of(&e.ids(), "start"));
    let followers = c.others(old);
    let rt = rt();
    let (before, old_client) = rt.block_on(async {
        let cl = client_of(e, old).await;
        cl.create("/t3", b"", OPEN).await.unwrap();
        let mut before = create_many(&cl, "/t3", "before", 0..50).await;
        for &f in &followers {
            let cf = client_of(e, f).await;
            before.extend(create_many(&cf, "/t3", &format!("via{f}"), 0..20).await);
        }
        (before, cl)
    });

    const UNCOMMITTED: &str = "/t3/uncommitted";
    c.net.blackhole_between(&[old], &followers);
    let answer = rt.block_on(assert_write_fails(
        &old_client,
        UNCOMMITTED,
        "by a leader whose followers cannot hear it",
    ));
    println!("the write through the cut leader {old} answered {answer}");
    let modes = c.wait_modes_of(&followers, "the followers electing after the cut");
    let new = Cluster::leader_of(&modes);
    e.wait_not_serving(old, STEP_DOWN);
    let during = rt.block_on(async {
        let cn = connect(&e.connect_string(&followers)).await;
        create_many(&cn, "/t3", "during", 0..100).await
    });
    drop(old_client);
    // The scenario needs the proposal logged by the old leader (else nothing is truncated).
    let logged = logged_txns(e, old);
    assert!(
        logged.contains(&format!("'{UNCOMMITTED},")),
        "precondition: the old leader {old} did not log the proposal of {UNCOMMITTED}:\n{}\n{}",
        &logged[logged.len().saturating_sub(2000)..],
        e.log_tails(30)
    );
    for &f in &followers {
        assert!(
            !logged_txns(e, f).contains(UNCOMMITTED),
            "follower {f} logged {UNCOMMITTED} it could not have received"
        );
    }

    let old_log_len = e.log(old).len();
    c.net.heal_all();
    let modes = c.wait_modes_of(&e.ids(), "everybody after the heal");
    println!("healed: {modes:?}");
    assert_eq!(modes[&old], "follower", "{modes:?}");
    assert_eq!(modes[&new], "leader", "{modes:?}");
    let rejoin_log = plain(&e.log(old)[old_log_len..]);
    let recovery: Vec<&str> = rejoin_log
        .lines()
        .filter(|l| {
            let l = l.to_lowercase();
            l.contains("truncat") || l.contains("snap") || l.contains("recovered to")
        })
        .collect();
    println!("old leader {old} while rejoining: {recovery:#?}");
    rt.block_on(async {
        let cl = client_of(e, old).await;
        within(
            20,
            "a write through the old leader",
            cl.create("/t3/after", b"", OPEN),
        )
        .await
        .unwrap();
        for id in e.ids() {
            assert_has_all(e, id, &before, "writes acknowledged before the cut").await;
            assert_has_all(e, id, &during, "writes acknowledged by the new majority").await;
            let tree = dump_on(e, id, "/").await;
            assert!(
                !tree.contains_key(UNCOMMITTED),
                "server {id} has the uncommitted {UNCOMMITTED}: {:?}",
                tree.get(UNCOMMITTED)
            );
        }
        assert_all_same_tree(e, new, &e.ids()).await;
    });
    // Gone from the old leader's disk as well: a restart there cannot bring it back.
    let logged = logged_txns(e, old);
    assert!(
        !logged.contains(&format!("'{UNCOMMITTED},")),
        "the uncommitted {UNCOMMITTED} is still in the old leader's log after it rejoined:\n{}",
        logged
            .lines()
            .filter(|l| l.starts_with("==") || l.contains(UNCOMMITTED))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Scenario 4: a follower's links flap (cut 300 ms, healed 300 ms, ten times) under a light
/// write load through every member: no acknowledged write is lost and all trees are equal.
#[test]
fn flapping_follower_link_loses_no_acknowledged_write() {
    let _serial = serial();
    let c = Cluster::start(3);
    let e = &c.e;
    let leader = Cluster::leader_of(&c.wait_modes_of(&e.ids(), "start"));
    let flapper = c.others(leader)[0];
    let rt = rt();
    rt.block_on(async {
        let cl = connect(&e.connect_string_all()).await;
        cl.create("/t4", b"", OPEN).await.unwrap();
    });
    let load = Load::start(
        &rt,
        &e.connect_string_all(),
        "/t4",
        "",
        3,
        Duration::from_millis(10),
    );
    rt.block_on(load.progress(30, 20, "writes before the flapping"));
    let others = c.others(flapper);
    for round in 0..10 {
        c.net.cut_between(&[flapper], &others);
        std::thread::sleep(Duration::from_millis(300));
        for &o in &others {
            c.net.heal(flapper, o);
        }
        std::thread::sleep(Duration::from_millis(300));
        println!(
            "round {round}: acked {} modes {:?}",
            load.acked_count(),
            e.ids().iter().map(|&i| (i, e.mode(i))).collect::<Vec<_>>()
        );
    }
    let modes = c.wait_modes_of(&e.ids(), "everybody after the flapping");
    let lost = count_log_lines(e, flapper, "LOOKING: lost the connection to leader");
    println!("after the flapping: {modes:?}; follower {flapper} lost its leader {lost} times");
    // Precondition: the cuts reached the follower.
    assert!(
        lost >= 1,
        "follower {flapper} never lost its leader\n{}",
        e.log_tails(30)
    );
    rt.block_on(load.progress(50, 30, "writes after the flapping"));
    let ledger = rt.block_on(load.stop());
    println!(
        "load: {} acknowledged, {} uncertain, errors {:?}",
        ledger.acked.len(),
        ledger.uncertain.len(),
        ledger.errors
    );
    let leader = Cluster::leader_of(&c.wait_modes_of(&e.ids(), "everybody at the end"));
    rt.block_on(async {
        check_ledger(e, &e.ids(), "/t4", &ledger).await;
        assert_all_same_tree(e, leader, &e.ids()).await;
    });
}

/// Scenario 5: silent flapping: a follower's links blackholed 300 ms (below syncLimit: nobody
/// notices by timeout, but proposals, acks and pings in flight are lost) then healed (which
/// closes the connections that lost bytes), ten times, while the other follower's links are
/// slowed by 30 ms; under a write load through every member: no acknowledged write is lost and
/// all trees are equal.
#[test]
fn silently_flapping_follower_link_loses_no_acknowledged_write() {
    let _serial = serial();
    let c = Cluster::start(3);
    let e = &c.e;
    let leader = Cluster::leader_of(&c.wait_modes_of(&e.ids(), "start"));
    let followers = c.others(leader);
    let (flapper, slow) = (followers[0], followers[1]);
    let rt = rt();
    rt.block_on(async {
        let cl = connect(&e.connect_string_all()).await;
        cl.create("/t5", b"", OPEN).await.unwrap();
    });
    let load = Load::start(
        &rt,
        &e.connect_string_all(),
        "/t5",
        "",
        3,
        Duration::from_millis(10),
    );
    rt.block_on(load.progress(30, 20, "writes before the flapping"));
    for o in c.others(slow) {
        c.net.pair(slow, o).for_each(|p| p.delay(30));
    }
    let others = c.others(flapper);
    for round in 0..10 {
        c.net.blackhole_between(&[flapper], &others);
        std::thread::sleep(Duration::from_millis(300));
        for &o in &others {
            c.net.heal(flapper, o);
        }
        std::thread::sleep(Duration::from_millis(300));
        println!(
            "round {round}: acked {} modes {:?}",
            load.acked_count(),
            e.ids().iter().map(|&i| (i, e.mode(i))).collect::<Vec<_>>()
        );
    }
    for o in c.others(slow) {
        c.net.pair(slow, o).for_each(|p| p.delay(0));
    }
    let modes = c.wait_modes_of(&e.ids(), "everybody after the flapping");
    let lost = count_log_lines(e, flapper, "LOOKING: lost the connection to leader");
    println!("after the flapping: {modes:?}; follower {flapper} lost its leader {lost} times");
    rt.block_on(load.progress(50, 30, "writes after the flapping"));
    let ledger = rt.block_on(load.stop());
    println!(
        "load: {} acknowledged, {} uncertain, errors {:?}",
        ledger.acked.len(),
        ledger.uncertain.len(),
        ledger.errors
    );
    let leader = Cluster::leader_of(&c.wait_modes_of(&e.ids(), "everybody at the end"));
    rt.block_on(async {
        check_ledger(e, &e.ids(), "/t5", &ledger).await;
        assert_all_same_tree(e, leader, &e.ids()).await;
    });
}

/// Scenario 6, with ZooKeeper's default timing (tickTime 2000, syncLimit 5: 10 s): the
/// leader's links die silently (no reset, no FIN: a host whose network vanished) while clients
/// write through the two followers. `quorum.peer_timeout` (1 s by default) has the followers
/// give it up and elect a leader of their own in about a second, where syncLimit alone took
/// 10 s; the old leader stops serving as soon; nothing acknowledged is lost.
#[test]
fn a_silently_vanished_leader_is_replaced_in_about_a_second() {
    let _serial = serial();
    let c = Cluster::start_with(3, &["server.tick_time=2000"]);
    let e = &c.e;
    let old = Cluster::leader_of(&c.wait_modes_of(&e.ids(), "start"));
    let followers = c.others(old);
    let rt = rt();
    rt.block_on(async {
        let cl = client_of(e, followers[0]).await;
        cl.create("/v", b"", OPEN).await.unwrap();
    });
    let load = Load::start(
        &rt,
        &e.connect_string(&followers),
        "/v",
        "",
        4,
        Duration::ZERO,
    );
    rt.block_on(load.progress(200, 20, "writes before the cut"));

    let cut = Instant::now();
    c.net.blackhole_between(&[old], &followers);
    let modes = c.wait_modes_of(&followers, "the followers electing after the silent cut");
    let elected = cut.elapsed();
    let new = Cluster::leader_of(&modes);
    rt.block_on(load.progress(200, 20, "writes after the cut"));
    e.wait_not_serving(old, STEP_DOWN);
    let stepped_down = cut.elapsed();
    let ledger = rt.block_on(load.stop());
    // Writes resumed: the first acknowledged write that was sent after the cut.
    let resumed = ledger
        .acked
        .iter()
        .filter(|(_, sent, _)| *sent >= cut)
        .map(|(_, _, acked)| acked.duration_since(cut))
        .min()
        .expect("writes after the cut");
    println!(
        "leader {old}'s links silently dead: {new} elected after {elected:?}, writes through \
         the followers resumed after {resumed:?}, {old} stopped serving after {stepped_down:?} \
         (syncLimit x tickTime = 10 s); {} writes acknowledged, errors {:?}",
        ledger.acked.len(),
        ledger.errors
    );
    // Not a timing assertion: a bound that syncLimit alone could not meet, so that it fails
    // only if the peer timeout is not what ends the old leadership.
    let sync_limit = Duration::from_secs(10);
    assert!(
        resumed < sync_limit && stepped_down < sync_limit,
        "writes resumed after {resumed:?}, the old leader stopped after {stepped_down:?}"
    );

    c.net.heal_all();
    let modes = c.wait_modes_of(&e.ids(), "everybody after the heal");
    assert_eq!(modes[&old], "follower", "{modes:?}");
    let acked: Vec<String> = ledger.acked.iter().map(|a| a.0.clone()).collect();
    rt.block_on(async {
        for id in e.ids() {
            assert_has_all(e, id, &acked, "writes acknowledged around the cut").await;
        }
        assert_all_same_tree(e, new, &e.ids()).await;
    });
}
