//! An ensemble on separate "hosts": each server in a network namespace of its own with a
//! private address, named by host name (`keeper1..3` in every host's /etc/hosts), with
//! ZooKeeper's default timing (tickTime 2000, initLimit 10, syncLimit 5) and the same ports on
//! every host, as on VMs; clients on a fourth host. See `common::netns`. Skipped, saying why,
//! where namespaces cannot be made (not root).
//!
//! 1. The leader's link goes down (silently: no reset reaches anyone) under writes through the
//!    followers: they elect a leader of their own and writes resume in about a second; the link
//!    back, the old leader follows and nothing acknowledged is lost.
//! 2. One way: the leader's packets to one follower are dropped. The leader and the other
//!    follower go on serving writes (no election among them); healed, the cut-off follower
//!    catches up.
//! 3. A host replaced under its name with a new address: its server starts there with an empty
//!    data directory; the others find it by its name (names are resolved on every connection
//!    attempt) and it catches up and serves.
//! 4. Under writes through every host: a follower killed (-9) and started again, the leader
//!    paused (SIGSTOP) for 3 s and continued, then a rolling restart (SIGTERM, followers first,
//!    the leader last): every acknowledged write on every host, the session never lost.

mod common;

use common::netns::Net;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zookeeper_client as zk;

const CLIENT: u16 = 2181;

static SERIAL: Mutex<()> = Mutex::new(());

static OPEN: &zk::CreateOptions<'static> =
    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

struct Hosts {
    procs: Vec<Option<Child>>,
    net: Net,
    dir: tempfile::TempDir,
}

/// The servers stop before their namespaces go (a child process outlives its handle).
impl Drop for Hosts {
    fn drop(&mut self) {
        for i in 1..=self.procs.len() {
            self.kill(i);
        }
    }
}

impl Hosts {
    fn start(n: usize) -> Option<Hosts> {
        let net = match Net::new(n) {
            Ok(net) => net,
            Err(e) => {
                println!("SKIPPED: cannot make network namespaces here ({e})");
                return None;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let mut members = String::new();
        for i in 1..=n {
            members.push_str(&format!("{i} = \"keeper{i}:2888:3888;{CLIENT}\"\n"));
        }
        // One file for every host, as on VMs: the id comes from each one's myid.
        let config = format!(
            "[server]\ntick_time = 2000\ninit_limit = 10\nsync_limit = 5\n\
             four_letter_words = \"*\"\n[quorum.members]\n{members}"
        );
        std::fs::write(dir.path().join("keeper.toml"), config).unwrap();
        let mut h = Hosts {
            procs: (0..n).map(|_| None).collect(),
            net,
            dir,
        };
        for i in 1..=n {
            h.start_server(i);
        }
        Some(h)
    }

    fn data(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("data-{i}"))
    }

    fn log(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("server-{i}.log"))
    }

    fn start_server(&mut self, i: usize) {
        let data = self.data(i);
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("myid"), format!("{i}\n")).unwrap();
        let args: Vec<String> = [
            "server",
            "--config",
            &self.dir.path().join("keeper.toml").display().to_string(),
            "--set",
            &format!("storage.data_dir={}", data.display()),
            "--set",
            "storage.preallocate_size=65536",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let child = self.net.spawn(
            i,
            Path::new(env!("CARGO_BIN_EXE_keeper")),
            &args,
            &self.log(i),
        );
        self.procs[i - 1] = Some(child);
    }

    fn signal(&self, i: usize, sig: i32) {
        let pid = self.procs[i - 1].as_ref().expect("running").id();
        // SAFETY: a signal to a child process of this test.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0);
    }

    /// SIGTERM, as an operator stops a server, and wait for it to exit.
    fn terminate(&mut self, i: usize) {
        self.signal(i, libc::SIGTERM);
        if let Some(mut c) = self.procs[i - 1].take() {
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Wait until host `i` serves in `mode`.
    fn wait_mode(&self, i: usize, mode: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.modes_of(&[i])[i - 1].as_deref() != Some(mode) {
            assert!(
                Instant::now() < deadline,
                "{what}: {:?}\n{}",
                self.modes(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i - 1].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn logs(&self) -> String {
        (1..=self.procs.len())
            .map(|i| {
                let text = std::fs::read_to_string(self.log(i)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                format!(
                    "--- server {i}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Each server's mode, asked from the client host (`None`: not serving or unreachable).
    fn modes(&self) -> Vec<Option<String>> {
        let all: Vec<usize> = (1..=self.procs.len()).collect();
        self.modes_of(&all)
    }

    /// The modes of `ids` only (a paused server would hold the question for seconds), at
    /// their places in a vector of every server.
    fn modes_of(&self, ids: &[usize]) -> Vec<Option<String>> {
        let n = self.procs.len();
        let asked: Vec<(usize, String)> = ids.iter().map(|&i| (i, self.net.addr(i))).collect();
        self.net.run_in(self.net.client_host(), move || {
            let mut modes = vec![None; n];
            for (i, a) in asked {
                modes[i - 1] = mode(&a);
            }
            modes
        })
    }

    /// Wait until exactly one of `ids` leads and the others follow; returns the leader.
    fn wait_leader_among(&self, ids: &[usize], within: Duration, what: &str) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let modes = self.modes_of(ids);
            let of: Vec<Option<&str>> = ids.iter().map(|&i| modes[i - 1].as_deref()).collect();
            let leaders: Vec<usize> = ids
                .iter()
                .copied()
                .filter(|&i| modes[i - 1].as_deref() == Some("leader"))
                .collect();
            if leaders.len() == 1 && of.iter().all(|m| m.is_some()) {
                return leaders[0];
            }
            assert!(
                Instant::now() < deadline,
                "{what}: modes {modes:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn connect_string(&self, ids: &[usize]) -> String {
        ids.iter()
            .map(|&i| format!("{}:{CLIENT}", self.net.addr(i)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Run async client code on the client host.
    fn client<T: Send + 'static, F>(&self, f: impl FnOnce() -> F + Send + 'static) -> T
    where
        F: std::future::Future<Output = T>,
    {
        self.net.run_in(self.net.client_host(), move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f())
        })
    }

    /// Every acknowledged write is on every host.
    fn assert_everywhere(&self, acked: Vec<(String, Instant, Instant)>) {
        let paths: Vec<String> = acked.into_iter().map(|a| a.0).collect();
        for i in 1..=self.procs.len() {
            let missing = self.missing_on(i, paths.clone());
            assert!(
                missing.is_empty(),
                "host {i} misses {} acknowledged writes",
                missing.len()
            );
        }
    }

    /// Every path in `paths` exists on server `i` (after a sync), else the missing ones.
    fn missing_on(&self, i: usize, paths: Vec<String>) -> Vec<String> {
        let addr = format!("{}:{CLIENT}", self.net.addr(i));
        self.client(move || async move {
            let c = session(&addr).await;
            c.sync("/").await.expect("sync");
            let mut missing = Vec::new();
            for p in paths {
                if c.check_stat(&p).await.expect("stat").is_none() {
                    missing.push(p);
                }
            }
            missing
        })
    }
}

fn mode(addr: &str) -> Option<String> {
    common::mode_at(addr, CLIENT)
}

async fn session(hosts: &str) -> zk::Client {
    tokio::time::timeout(
        Duration::from_secs(30),
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(30))
            .connect(hosts),
    )
    .await
    .unwrap_or_else(|_| panic!("no session with {hosts}"))
    .unwrap_or_else(|e| panic!("session with {hosts}: {e}"))
}

/// Writers on the client host through `hosts`, until stopped: every acknowledged path with
/// when it was sent and acknowledged.
struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(String, Instant, Instant)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writers {
    fn start(h: &Hosts, hosts: String, root: &'static str) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let (s, a) = (stop.clone(), acked.clone());
        let thread = h.net.spawn_in(h.net.client_host(), move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let c = session(&hosts).await;
                let _ = c.create(root, b"", OPEN).await;
                let mut n = 0u64;
                while !s.load(Ordering::Relaxed) {
                    let p = format!("{root}/n{n:06}");
                    n += 1;
                    let sent = Instant::now();
                    let r =
                        tokio::time::timeout(Duration::from_secs(5), c.create(&p, b"", OPEN)).await;
                    match r {
                        Ok(Ok(_)) => a.lock().unwrap().push((p, sent, Instant::now())),
                        _ => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            });
        });
        Writers {
            stop,
            acked,
            thread: Some(thread),
        }
    }

    fn count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    fn wait_more(&self, more: usize, within: Duration, what: &str) {
        let target = self.count() + more;
        let deadline = Instant::now() + within;
        while self.count() < target {
            assert!(
                Instant::now() < deadline,
                "{what}: {} acknowledged",
                self.count()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(mut self) -> Vec<(String, Instant, Instant)> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.acked.lock().unwrap())
    }
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_host_whose_link_dies_silently_is_replaced_in_about_a_second() {
    let _serial = serial();
    let Some(h) = Hosts::start(3) else { return };
    let leader = h.wait_leader_among(&[1, 2, 3], Duration::from_secs(60), "start");
    let followers: Vec<usize> = (1..=3).filter(|&i| i != leader).collect();
    let w = Writers::start(&h, h.connect_string(&followers), "/link");
    w.wait_more(100, Duration::from_secs(30), "writes before the cut");

    h.net.link(leader, false);
    // From the moment the link is down (writes acknowledged while `ip` ran were legitimate).
    let cut = Instant::now();
    let new = h.wait_leader_among(&followers, Duration::from_secs(30), "after the cut");
    let elected = cut.elapsed();
    w.wait_more(100, Duration::from_secs(30), "writes after the cut");
    let acked = w.stop();
    let resumed = acked
        .iter()
        .filter(|(_, sent, _)| *sent >= cut)
        .map(|(_, _, at)| at.duration_since(cut))
        .min()
        .expect("writes after the cut");
    println!(
        "host {leader} (the leader) lost its link silently: host {new} leads after {elected:?}, \
         writes through the other hosts resumed after {resumed:?} (syncLimit x tickTime = 10 s)"
    );
    assert!(
        resumed < Duration::from_secs(10),
        "writes resumed only after {resumed:?}\n{}",
        h.logs()
    );

    h.net.link(leader, true);
    h.wait_mode(leader, "follower", "the old leader rejoining");
    h.assert_everywhere(acked);
}

#[test]
fn a_one_way_cut_to_a_follower_leaves_the_others_serving() {
    let _serial = serial();
    let Some(h) = Hosts::start(3) else { return };
    let leader = h.wait_leader_among(&[1, 2, 3], Duration::from_secs(60), "start");
    let followers: Vec<usize> = (1..=3).filter(|&i| i != leader).collect();
    let (cut_off, other) = (followers[0], followers[1]);
    let w = Writers::start(&h, h.connect_string(&[other]), "/oneway");
    w.wait_more(50, Duration::from_secs(30), "writes before the cut");
    h.net.drop_route(leader, cut_off);
    // The leader and the other follower are a quorum: writes go on, the leader stays.
    std::thread::sleep(Duration::from_secs(3));
    w.wait_more(
        100,
        Duration::from_secs(10),
        "writes during the one-way cut",
    );
    let modes = h.modes();
    assert_eq!(modes[leader - 1].as_deref(), Some("leader"), "{modes:?}");
    assert_eq!(modes[other - 1].as_deref(), Some("follower"), "{modes:?}");
    h.net.heal_route(leader, cut_off);
    h.wait_mode(cut_off, "follower", "the cut-off follower rejoining");
    let acked = w.stop();
    println!(
        "one way cut from leader {leader} to follower {cut_off}: {} writes through {other}, \
         the leader stayed; healed, {cut_off} follows again",
        acked.len()
    );
    let missing = h.missing_on(cut_off, acked.into_iter().map(|a| a.0).collect());
    assert!(missing.is_empty(), "{} missing on {cut_off}", missing.len());
}

#[test]
fn a_host_replaced_under_its_name_with_a_new_address_rejoins() {
    let _serial = serial();
    let Some(mut h) = Hosts::start(3) else { return };
    let leader = h.wait_leader_among(&[1, 2, 3], Duration::from_secs(60), "start");
    let gone = (1..=3).find(|&i| i != leader).unwrap();
    let before = {
        let hosts = h.connect_string(&[leader]);
        h.client(move || async move {
            let c = session(&hosts).await;
            c.create("/moved", b"", OPEN).await.unwrap();
            let mut paths = Vec::new();
            for i in 0..50 {
                let p = format!("/moved/n{i}");
                c.create(&p, b"", OPEN).await.unwrap();
                paths.push(p);
            }
            paths
        })
    };
    // The VM dies; its replacement has the same name, a new address and an empty disk.
    h.kill(gone);
    std::fs::remove_dir_all(h.data(gone)).unwrap();
    h.net.readdress(gone, 50 + gone as u8);
    h.start_server(gone);
    h.wait_mode(gone, "follower", "the replaced host rejoining");
    let missing = h.missing_on(gone, before);
    assert!(
        missing.is_empty(),
        "{} missing on the new host",
        missing.len()
    );
    // And it takes writes at its new address.
    let hosts = h.connect_string(&[gone]);
    h.client(move || async move {
        let c = session(&hosts).await;
        c.create("/moved/via-new-address", b"", OPEN).await.unwrap();
    });
    println!(
        "host {gone} replaced at {}: found by name, synced, serving",
        h.net.addr(gone)
    );
}

#[test]
fn kill_pause_and_a_rolling_restart_on_hosts_lose_nothing() {
    let _serial = serial();
    let Some(mut h) = Hosts::start(3) else { return };
    let leader = h.wait_leader_among(&[1, 2, 3], Duration::from_secs(60), "start");
    let w = Writers::start(&h, h.connect_string(&[1, 2, 3]), "/faults");
    w.wait_more(50, Duration::from_secs(30), "writes at first");

    let follower = (1..=3).find(|&i| i != leader).unwrap();
    h.kill(follower);
    w.wait_more(50, Duration::from_secs(30), "writes with a follower killed");
    h.start_server(follower);
    h.wait_mode(follower, "follower", "the killed follower back");

    let paused = Instant::now();
    h.signal(leader, libc::SIGSTOP);
    let others: Vec<usize> = (1..=3).filter(|&i| i != leader).collect();
    let new = h.wait_leader_among(&others, Duration::from_secs(30), "the leader paused");
    let replaced = paused.elapsed();
    w.wait_more(50, Duration::from_secs(30), "writes with the leader paused");
    std::thread::sleep(Duration::from_secs(3).saturating_sub(paused.elapsed()));
    h.signal(leader, libc::SIGCONT);
    h.wait_mode(leader, "follower", "the paused leader continued");

    // Rolling restart: followers first, the leader last.
    let mut order: Vec<usize> = (1..=3).filter(|&i| i != new).collect();
    order.push(new);
    let mut leaderless = Duration::ZERO;
    for i in order {
        let t = Instant::now();
        h.terminate(i);
        h.start_server(i);
        h.wait_leader_among(&[1, 2, 3], Duration::from_secs(60), "the rolling restart");
        if i == new {
            leaderless = t.elapsed();
        }
        w.wait_more(
            20,
            Duration::from_secs(30),
            "writes during the rolling restart",
        );
    }
    let acked = w.stop();
    println!(
        "hosts: follower {follower} killed and back, leader {leader} paused (replaced by {new} \
         after {replaced:?}), rolling restart (the leader's SIGTERM to all serving under a new \
         one: {leaderless:?}): {} writes acknowledged",
        acked.len()
    );
    h.assert_everywhere(acked);
}
