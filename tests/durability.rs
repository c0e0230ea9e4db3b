//! Durability of the real `keeper` binary: kill -9 under load and check every acknowledged write,
//! sessions across a restart, snapshots and retention, damaged files, a full disk.
//!
//! On a failure the server's files (data dir and the logs of every start) are copied to
//! `$TMPDIR/keeper-durability-<test>-<pid>` and the path is printed.
//! The crash tests print their seed; `KEEPER_DURABILITY_SEED=<seed>` repeats the kill delays.

mod common;

use common::Server;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zookeeper_client as zk;

static OPEN: &zk::CreateOptions<'static> =
    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
static EPHEMERAL: &zk::CreateOptions<'static> =
    &zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
static SEQUENTIAL: &zk::CreateOptions<'static> =
    &zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());

/// ZooKeeper's SystemError, which the client crate does not name.
const SYSTEM_ERROR: zk::Error = zk::Error::UnexpectedErrorCode(-1);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn within<T>(secs: u64, what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs} s waiting for {what}"))
}

async fn connect(addr: &str, timeout: Duration) -> zk::Client {
    within(
        20,
        "connect",
        zk::Client::connector()
            .with_session_timeout(timeout)
            .connect(addr),
    )
    .await
    .expect("connect")
}

/// Distinctive data for a write: its tag and a filler whose length depends on `n`.
fn payload(tag: &str, n: usize) -> Vec<u8> {
    let mut v = tag.as_bytes().to_vec();
    v.push(b'|');
    v.extend(std::iter::repeat_n(b'a' + (n % 26) as u8, n * 37 % 300));
    v
}

/// Read many nodes at once (requests pipelined). None for a missing node.
async fn read_nodes(c: &zk::Client, paths: &[String]) -> Vec<Option<(Vec<u8>, zk::Stat)>> {
    let mut out = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(256) {
        let futs: Vec<_> = chunk.iter().map(|p| c.get_data(p)).collect();
        for (p, r) in chunk
            .iter()
            .zip(within(30, "reads", futures::future::join_all(futs)).await)
        {
            match r {
                Ok(x) => out.push(Some(x)),
                Err(zk::Error::NoNode) => out.push(None),
                Err(e) => panic!("get_data {p}: {e}"),
            }
        }
    }
    out
}

async fn children(c: &zk::Client, path: &str) -> Vec<String> {
    within(20, "list children", c.list_children(path))
        .await
        .unwrap_or_else(|e| panic!("list_children {path}: {e}"))
}

/// Data and stat of every node under `root` (inclusive), read level by level.
async fn dump(
    c: &zk::Client,
    root: &str,
) -> std::collections::BTreeMap<String, (Vec<u8>, zk::Stat)> {
    let mut out = std::collections::BTreeMap::new();
    let mut level = vec![root.to_string()];
    while !level.is_empty() {
        let got = read_nodes(c, &level).await;
        let mut next = Vec::new();
        let lists: Vec<_> = level.iter().map(|p| c.list_children(p)).collect();
        let lists = within(30, "list children", futures::future::join_all(lists)).await;
        for ((p, node), kids) in level.iter().zip(got).zip(lists) {
            let Some(node) = node else { continue };
            out.insert(p.clone(), node);
            let mut kids = match kids {
                Ok(k) => k,
                Err(zk::Error::NoNode) => continue,
                Err(e) => panic!("list_children {p}: {e}"),
            };
            kids.sort();
            next.extend(kids.iter().map(|k| {
                if p == "/" {
                    format!("/{k}")
                } else {
                    format!("{p}/{k}")
                }
            }));
        }
        level = next;
    }
    out
}

/// The same nodes with the same data and stats (zxids, versions, cversion, pzxid, ...).
fn assert_same_tree(
    what: &str,
    before: &std::collections::BTreeMap<String, (Vec<u8>, zk::Stat)>,
    after: &std::collections::BTreeMap<String, (Vec<u8>, zk::Stat)>,
) {
    let mut diffs = Vec::new();
    for (p, b) in before {
        match after.get(p) {
            None => diffs.push(format!("{p}: missing")),
            Some(a) if a.0 != b.0 => diffs.push(format!(
                "{p}: data {:?} became {:?}",
                short(&b.0),
                short(&a.0)
            )),
            Some(a) if a.1 != b.1 => {
                diffs.push(format!("{p}: stat {:?}\n    became {:?}", b.1, a.1))
            }
            Some(_) => {}
        }
    }
    for p in after.keys().filter(|p| !before.contains_key(*p)) {
        diffs.push(format!("{p}: new"));
    }
    assert!(
        diffs.is_empty(),
        "{what}: {} of {} nodes differ: {:#?}",
        diffs.len(),
        before.len(),
        &diffs[..diffs.len().min(20)]
    );
}

/// Every `(path, data)` is there with exactly that data.
async fn expect_nodes(c: &zk::Client, nodes: &[(String, Vec<u8>)]) {
    let paths: Vec<String> = nodes.iter().map(|n| n.0.clone()).collect();
    let got = read_nodes(c, &paths).await;
    let mut bad = Vec::new();
    for ((p, want), g) in nodes.iter().zip(got) {
        match g {
            Some((d, _)) if &d == want => {}
            Some((d, _)) => bad.push(format!(
                "{p}: data {:?}, wrote {:?}",
                short(&d),
                short(want)
            )),
            None => bad.push(format!("{p}: missing")),
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} acknowledged nodes wrong: {:#?}",
        bad.len(),
        nodes.len(),
        &bad[..bad.len().min(20)]
    );
}

fn short(d: &[u8]) -> String {
    let s = String::from_utf8_lossy(d);
    s.chars().take(60).collect()
}

/// Keeps the server's files when the test fails: the temp dir is removed on drop otherwise.
struct KeepOnPanic {
    dirs: Vec<PathBuf>,
    name: &'static str,
}

impl KeepOnPanic {
    fn new(server: &Server, name: &'static str) -> Self {
        KeepOnPanic {
            dirs: vec![server.dir.path().to_path_buf()],
            name,
        }
    }
}

impl Drop for KeepOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let dest = std::env::temp_dir().join(format!(
            "keeper-durability-{}-{}",
            self.name,
            std::process::id()
        ));
        for (i, d) in self.dirs.iter().enumerate() {
            let _ = copy_dir(d, &dest.join(i.to_string()));
        }
        eprintln!(
            "server files (data dir, server.log*) kept in {}",
            dest.display()
        );
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), &target)?;
        }
    }
    Ok(())
}

/// Keep the stderr of the run that just ended next to it (every start overwrites server.log).
fn archive_log(server: &Server, label: &str) -> String {
    let log = server.log();
    let _ = std::fs::write(server.dir.path().join(format!("server.log.{label}")), &log);
    log
}

fn version_dir(server: &Server) -> PathBuf {
    server.data_dir().join("version-2")
}

/// Files `<prefix><hex>` in a directory (not `.tmp` ones), by zxid, oldest first.
fn files(dir: &Path, prefix: &str) -> Vec<(i64, PathBuf)> {
    let mut v: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                let z = i64::from_str_radix(name.strip_prefix(prefix)?, 16).ok()?;
                Some((z, e.path()))
            })
            .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn snapshots(dir: &Path) -> Vec<(i64, PathBuf)> {
    files(dir, "snapshot.")
}

fn segments(dir: &Path) -> Vec<(i64, PathBuf)> {
    files(dir, "log.")
}

fn tmp_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            })
            .count()
        })
        .unwrap_or(0)
}

/// The valid records of a log segment: (offset, payload length). The format: a 16-byte header,
/// then frames `u32 len, u32 crc32(payload), payload`; zeros end the written part.
fn records(buf: &[u8]) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    let mut pos = 16;
    while pos + 8 <= buf.len() {
        let len = u32::from_be_bytes(buf[pos..pos + 4].try_into().unwrap()) as usize;
        let crc = u32::from_be_bytes(buf[pos + 4..pos + 8].try_into().unwrap());
        if (len == 0 && crc == 0)
            || pos + 8 + len > buf.len()
            || crc32fast::hash(&buf[pos + 8..pos + 8 + len]) != crc
        {
            break;
        }
        v.push((pos, len));
        pos += 8 + len;
    }
    v
}

fn flip_byte(path: &Path, at: usize) -> u8 {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at as u64).unwrap();
    f.write_all_at(&[b[0] ^ 0x5a], at as u64).unwrap();
    f.sync_all().unwrap();
    b[0]
}

fn put_byte(path: &Path, at: usize, v: u8) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(&[v], at as u64).unwrap();
    f.sync_all().unwrap();
}

fn seed() -> u64 {
    std::env::var("KEEPER_DURABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

// ---------------------------------------------------------------------------------------------
// 1. kill -9 under load
// ---------------------------------------------------------------------------------------------

/// What is known about a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Sent, no reply (the kill came first): it may or may not be there, but not half.
    Pending,
    /// Acknowledged, or seen after a recovery: it must be there from now on.
    Present,
    /// In flight at a crash and not there after the recovery: it must never appear.
    Absent,
}

struct SeqWrite {
    client: usize,
    path: Option<String>,
    fate: Fate,
}

struct MultiWrite {
    a: Vec<u8>,
    b: Vec<u8>,
    fate: Fate,
}

/// A node rewritten by one task with version checks: value `k` has version `k`.
struct Chain {
    path: String,
    /// Acknowledged (or seen after recovery): the value is at least this new.
    floor: i32,
    /// Newest value sent.
    max: i32,
}

fn chain_value(path: &str, k: i32) -> Vec<u8> {
    payload(&format!("{path}={k}"), k as usize)
}

#[derive(Default)]
struct Ledger {
    /// Plain creates, by path: data and fate.
    plain: HashMap<String, (Vec<u8>, Fate)>,
    /// Sequential creates, by their (unique) data.
    seq: HashMap<Vec<u8>, SeqWrite>,
    /// Multis creating `/crash/m/<tag>-a` and `-b`, by tag.
    multi: HashMap<String, MultiWrite>,
    chains: Vec<Chain>,
    /// Error replies before the kill: the server failed a write it should have done.
    unexpected: Vec<String>,
    sent: u64,
    acked: u64,
}

type Shared = Arc<Mutex<Ledger>>;

fn lock(l: &Shared) -> std::sync::MutexGuard<'_, Ledger> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

fn failed(l: &Shared, killed: &AtomicBool, what: String) {
    if !killed.load(Ordering::SeqCst) {
        lock(l).unexpected.push(what);
    }
}

const CLIENTS: usize = 4;
const CHAINS_PER_CLIENT: usize = 2;
const ROUNDS: usize = 5;

async fn plain_writer(c: zk::Client, l: Shared, killed: Arc<AtomicBool>, tag: String) {
    let mut n = 0;
    while !killed.load(Ordering::SeqCst) {
        let path = format!("/crash/p/{tag}-{n}");
        let data = payload(&path, n);
        {
            let mut g = lock(&l);
            g.plain.insert(path.clone(), (data.clone(), Fate::Pending));
            g.sent += 1;
        }
        match c.create(&path, &data, OPEN).await {
            Ok(_) => {
                let mut g = lock(&l);
                g.plain.get_mut(&path).unwrap().1 = Fate::Present;
                g.acked += 1;
            }
            Err(e) => return failed(&l, &killed, format!("create {path}: {e}")),
        }
        n += 1;
    }
}

async fn seq_writer(c: zk::Client, l: Shared, killed: Arc<AtomicBool>, client: usize, tag: String) {
    let mut n = 0;
    let prefix = format!("/crash/s{client}/n-");
    while !killed.load(Ordering::SeqCst) {
        let data = payload(&format!("{tag}-{n}"), n);
        {
            let mut g = lock(&l);
            g.seq.insert(
                data.clone(),
                SeqWrite {
                    client,
                    path: None,
                    fate: Fate::Pending,
                },
            );
            g.sent += 1;
        }
        match c.create(&prefix, &data, SEQUENTIAL).await {
            Ok((_, seq)) => {
                let mut g = lock(&l);
                let w = g.seq.get_mut(&data).unwrap();
                w.path = Some(format!("{prefix}{seq}"));
                w.fate = Fate::Present;
                g.acked += 1;
            }
            Err(e) => return failed(&l, &killed, format!("create sequential {prefix}: {e}")),
        }
        n += 1;
    }
}

async fn multi_writer(c: zk::Client, l: Shared, killed: Arc<AtomicBool>, tag: String) {
    let mut n = 0;
    while !killed.load(Ordering::SeqCst) {
        let t = format!("{tag}-{n}");
        let (a, b) = (
            payload(&format!("{t}-a"), n),
            payload(&format!("{t}-b"), n + 1),
        );
        {
            let mut g = lock(&l);
            g.multi.insert(
                t.clone(),
                MultiWrite {
                    a: a.clone(),
                    b: b.clone(),
                    fate: Fate::Pending,
                },
            );
            g.sent += 1;
        }
        let mut m = c.new_multi_writer();
        m.add_create(&format!("/crash/m/{t}-a"), &a, OPEN).unwrap();
        m.add_create(&format!("/crash/m/{t}-b"), &b, OPEN).unwrap();
        match m.commit().await {
            Ok(r) if r.len() == 2 => {
                let mut g = lock(&l);
                g.multi.get_mut(&t).unwrap().fate = Fate::Present;
                g.acked += 1;
            }
            Ok(r) => return failed(&l, &killed, format!("multi {t}: {} results", r.len())),
            Err(e) => return failed(&l, &killed, format!("multi {t}: {e}")),
        }
        n += 1;
    }
}

async fn chain_writer(c: zk::Client, l: Shared, killed: Arc<AtomicBool>, idx: usize) {
    while !killed.load(Ordering::SeqCst) {
        let (path, k) = {
            let mut g = lock(&l);
            let ch = &mut g.chains[idx];
            ch.max += 1;
            let v = (ch.path.clone(), ch.max);
            g.sent += 1;
            v
        };
        match c.set_data(&path, &chain_value(&path, k), Some(k - 1)).await {
            Ok(stat) => {
                let mut g = lock(&l);
                if stat.version != k {
                    g.unexpected.push(format!(
                        "setData {path} -> version {}, expected {k}",
                        stat.version
                    ));
                }
                g.chains[idx].floor = k;
                g.acked += 1;
            }
            Err(e) => {
                return failed(
                    &l,
                    &killed,
                    format!("setData {path} (version {}): {e}", k - 1),
                )
            }
        }
    }
}

/// Check the recovered tree against the ledger; settle pending writes (seen: Present, else
/// Absent). Returns the violations.
async fn verify(c: &zk::Client, l: &Shared) -> (Vec<String>, usize) {
    let mut bad = Vec::new();
    let mut pending_seen = 0;
    // setData chains.
    let chain_paths: Vec<String> = lock(l).chains.iter().map(|ch| ch.path.clone()).collect();
    let got = read_nodes(c, &chain_paths).await;
    {
        let mut g = lock(l);
        for (ch, r) in g.chains.iter_mut().zip(got) {
            let Some((data, stat)) = r else {
                bad.push(format!("{}: chain node missing", ch.path));
                continue;
            };
            let k = stat.version;
            if data != chain_value(&ch.path, k) {
                bad.push(format!(
                    "{}: version {k} holds {:?}, which was not written as value {k}",
                    ch.path,
                    short(&data)
                ));
            } else if k < ch.floor || k > ch.max {
                bad.push(format!(
                    "{}: value {k} after recovery, acknowledged {} and sent up to {}",
                    ch.path, ch.floor, ch.max
                ));
            }
            if k > ch.floor {
                pending_seen += 1;
            }
            ch.floor = k;
            ch.max = k;
        }
    }
    // Plain creates.
    let names = children(c, "/crash/p").await;
    let paths: Vec<String> = names.iter().map(|n| format!("/crash/p/{n}")).collect();
    let got = read_nodes(c, &paths).await;
    let mut seen = HashSet::new();
    {
        let mut g = lock(l);
        for (p, r) in paths.iter().zip(got) {
            let Some((data, _)) = r else { continue };
            seen.insert(p.clone());
            match g.plain.get(p) {
                None => bad.push(format!("{p}: never written")),
                Some((_, Fate::Absent)) => bad.push(format!(
                    "{p}: reappeared after it was absent at an earlier recovery"
                )),
                Some((want, _)) if want != &data => bad.push(format!(
                    "{p}: data {:?}, wrote {:?}",
                    short(&data),
                    short(want)
                )),
                Some(_) => {}
            }
        }
        for (p, (_, fate)) in g.plain.iter_mut() {
            match (*fate, seen.contains(p)) {
                (Fate::Present, false) => bad.push(format!("{p}: acknowledged create lost")),
                (Fate::Pending, true) => {
                    *fate = Fate::Present;
                    pending_seen += 1
                }
                (Fate::Pending, false) => *fate = Fate::Absent,
                _ => {}
            }
        }
    }
    // Sequential creates.
    for client in 0..CLIENTS {
        let parent = format!("/crash/s{client}");
        let names = children(c, &parent).await;
        let paths: Vec<String> = names.iter().map(|n| format!("{parent}/{n}")).collect();
        let got = read_nodes(c, &paths).await;
        let mut g = lock(l);
        let mut seen: HashMap<Vec<u8>, String> = HashMap::new();
        for (p, r) in paths.iter().zip(got) {
            let Some((data, _)) = r else { continue };
            match g.seq.get(&data) {
                None => bad.push(format!("{p}: data {:?} never written", short(&data))),
                Some(w) if w.client != client => {
                    bad.push(format!("{p}: data written under /crash/s{}", w.client))
                }
                Some(w) if w.fate == Fate::Absent => {
                    bad.push(format!("{p}: {:?} reappeared", short(&data)))
                }
                Some(w) if w.path.as_ref().is_some_and(|q| q != p) => bad.push(format!(
                    "{p}: data {:?} was acknowledged at {}",
                    short(&data),
                    w.path.as_ref().unwrap()
                )),
                Some(_) => {}
            }
            if let Some(other) = seen.insert(data.clone(), p.clone()) {
                bad.push(format!(
                    "{p} and {other}: the same sequential create applied twice"
                ));
            }
        }
        for (data, w) in g.seq.iter_mut().filter(|(_, w)| w.client == client) {
            match (w.fate, seen.get(data)) {
                (Fate::Present, None) => bad.push(format!(
                    "{}: acknowledged sequential create lost",
                    w.path.as_deref().unwrap_or("?")
                )),
                (Fate::Pending, Some(p)) => {
                    w.fate = Fate::Present;
                    w.path = Some(p.clone());
                    pending_seen += 1;
                }
                (Fate::Pending, None) => w.fate = Fate::Absent,
                _ => {}
            }
        }
    }
    // Multis: both nodes or neither.
    let names = children(c, "/crash/m").await;
    let paths: Vec<String> = names.iter().map(|n| format!("/crash/m/{n}")).collect();
    let got = read_nodes(c, &paths).await;
    {
        let mut g = lock(l);
        let mut halves: HashMap<String, (bool, bool)> = HashMap::new();
        for ((name, p), r) in names.iter().zip(&paths).zip(got) {
            let Some((data, _)) = r else { continue };
            let (tag, a) = match (name.strip_suffix("-a"), name.strip_suffix("-b")) {
                (Some(t), _) => (t, true),
                (_, Some(t)) => (t, false),
                _ => {
                    bad.push(format!("{p}: never written"));
                    continue;
                }
            };
            match g.multi.get(tag) {
                None => bad.push(format!("{p}: never written")),
                Some(w) if w.fate == Fate::Absent => bad.push(format!("{p}: reappeared")),
                Some(w) if (if a { &w.a } else { &w.b }) != &data => {
                    bad.push(format!("{p}: data {:?} not written", short(&data)))
                }
                Some(_) => {}
            }
            let h = halves.entry(tag.to_string()).or_default();
            if a {
                h.0 = true
            } else {
                h.1 = true
            }
        }
        for (tag, w) in g.multi.iter_mut() {
            let h = halves.get(tag).copied().unwrap_or_default();
            if h.0 != h.1 {
                bad.push(format!(
                    "multi {tag}: half applied (a: {}, b: {})",
                    h.0, h.1
                ));
            }
            match (w.fate, h.0 || h.1) {
                (Fate::Present, false) => bad.push(format!("multi {tag}: acknowledged, lost")),
                (Fate::Pending, true) => {
                    w.fate = Fate::Present;
                    pending_seen += 1
                }
                (Fate::Pending, false) => w.fate = Fate::Absent,
                _ => {}
            }
        }
    }
    (bad, pending_seen)
}

/// Rounds of load, kill -9, restart, check on one data dir. Returns how many snapshots were
/// written during the loads.
fn crash_rounds(name: &'static str, extra: &[&str]) -> usize {
    let seed = seed();
    eprintln!("{name}: seed {seed} (KEEPER_DURABILITY_SEED={seed} to repeat the kill delays)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut opts = vec!["storage.preallocate_size=65536"];
    opts.extend_from_slice(extra);
    let mut server = Server::start(&opts);
    let _keep = KeepOnPanic::new(&server, name);
    let ledger: Shared = Arc::new(Mutex::new(Ledger::default()));
    let addr = server.addr();

    // The parents and the setData chains.
    {
        let r = rt();
        r.block_on(async {
            let c = connect(&addr, Duration::from_secs(10)).await;
            for p in ["/crash", "/crash/p", "/crash/m"] {
                c.create(p, b"", OPEN).await.unwrap();
            }
            for client in 0..CLIENTS {
                c.create(&format!("/crash/s{client}"), b"", OPEN)
                    .await
                    .unwrap();
                for j in 0..CHAINS_PER_CLIENT {
                    let path = format!("/crash/v{client}-{j}");
                    c.create(&path, &chain_value(&path, 0), OPEN).await.unwrap();
                    lock(&ledger).chains.push(Chain {
                        path,
                        floor: 0,
                        max: 0,
                    });
                }
            }
        });
        r.shutdown_background();
    }

    let mut snapshots_taken = 0;
    for round in 0..ROUNDS {
        let delay = rng.gen_range(50..=500u64);
        let killed = Arc::new(AtomicBool::new(false));
        let (sent0, acked0) = {
            let g = lock(&ledger);
            (g.sent, g.acked)
        };
        // The writers' runtime is shut down after the kill, so that no request of theirs can
        // reach the restarted server.
        let wrt = rt();
        wrt.block_on(async {
            let mut tasks = Vec::new();
            for client in 0..CLIENTS {
                let c = connect(&addr, Duration::from_secs(10)).await;
                let tag = |k: &str| format!("r{round}-c{client}-{k}");
                for j in 0..2 {
                    tasks.push(tokio::spawn(plain_writer(
                        c.clone(),
                        ledger.clone(),
                        killed.clone(),
                        tag(&format!("p{j}")),
                    )));
                }
                tasks.push(tokio::spawn(seq_writer(
                    c.clone(),
                    ledger.clone(),
                    killed.clone(),
                    client,
                    tag("s"),
                )));
                tasks.push(tokio::spawn(multi_writer(
                    c.clone(),
                    ledger.clone(),
                    killed.clone(),
                    tag("m"),
                )));
                for j in 0..CHAINS_PER_CLIENT {
                    tasks.push(tokio::spawn(chain_writer(
                        c.clone(),
                        ledger.clone(),
                        killed.clone(),
                        client * CHAINS_PER_CLIENT + j,
                    )));
                }
            }
            // The random moment counts from the first acknowledgment, so that every round has
            // load whatever the machine's speed.
            within(20, "the first acknowledged write of the round", async {
                while lock(&ledger).acked == acked0 && lock(&ledger).unexpected.is_empty() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
            .await;
            tokio::time::sleep(Duration::from_millis(delay)).await;
            killed.store(true, Ordering::SeqCst);
            server.kill();
            // Let the replies that made it (and the connection-loss errors) be recorded.
            let _ = tokio::time::timeout(Duration::from_secs(5), futures::future::join_all(tasks))
                .await;
        });
        wrt.shutdown_background();
        let log = archive_log(&server, &format!("round{round}"));
        snapshots_taken += log
            .lines()
            .filter(|l| l.contains("snapshot ") && l.ends_with(" written"))
            .count();
        {
            let g = lock(&ledger);
            assert!(
                g.unexpected.is_empty(),
                "round {round} (seed {seed}): writes failed before the kill: {:#?}",
                &g.unexpected[..g.unexpected.len().min(20)]
            );
        }
        // Every other round the first restart is killed too, a few ms in (during its recovery
        // or its start-up snapshot): recovery must survive a crash of itself.
        let early_kill = (round % 2 == 1).then(|| rng.gen_range(0..=40u64));
        if let Some(ms) = early_kill {
            server.spawn_no_wait();
            std::thread::sleep(Duration::from_millis(ms));
            server.kill();
            archive_log(&server, &format!("round{round}-killed-in-recovery"));
        }
        server.restart();
        let vrt = rt();
        let (bad, pending_seen) = vrt.block_on(async {
            let c = connect(&addr, Duration::from_secs(10)).await;
            verify(&c, &ledger).await
        });
        vrt.shutdown_background();
        let g = lock(&ledger);
        let vdir = version_dir(&server);
        eprintln!(
            "{name} round {round}: killed after {delay} ms{}; {} writes acknowledged, {} in flight ({pending_seen} of them applied); {} snapshots, {} log segments, {} temp files on disk",
            early_kill.map(|ms| format!(", restart killed after {ms} ms")).unwrap_or_default(),
            g.acked - acked0,
            (g.sent - sent0) - (g.acked - acked0),
            snapshots(&vdir).len(),
            segments(&vdir).len(),
            tmp_files(&vdir),
        );
        assert!(
            bad.is_empty(),
            "round {round} (seed {seed}): {} violations after recovery: {:#?}\nserver log:\n{}",
            bad.len(),
            &bad[..bad.len().min(30)],
            server.log()
        );
        assert!(
            g.acked > acked0,
            "round {round}: no write was acknowledged in {delay} ms"
        );
    }
    // One more kill -9 with no load: the recovered tree recovers to itself, stats and all.
    let vrt = rt();
    let before = vrt
        .block_on(async { dump(&connect(&addr, Duration::from_secs(10)).await, "/crash").await });
    vrt.shutdown_background();
    archive_log(&server, &format!("round{ROUNDS}"));
    server.restart();
    let vrt = rt();
    let after = vrt
        .block_on(async { dump(&connect(&addr, Duration::from_secs(10)).await, "/crash").await });
    vrt.shutdown_background();
    assert_same_tree("/crash after a restart without load", &before, &after);
    archive_log(&server, "last");
    eprintln!(
        "{name}: {ROUNDS} rounds in {:.1} s, {snapshots_taken} snapshots written during the loads",
        started.elapsed().as_secs_f64()
    );
    snapshots_taken
}

#[test]
fn kill9_under_load_keeps_acknowledged_writes() {
    crash_rounds("crash-log", &[]);
}

#[test]
fn kill9_under_load_with_snapshots_during_the_load() {
    let taken = crash_rounds("crash-snap", &["storage.snap_count=50"]);
    assert!(
        taken > 0,
        "no snapshot was taken during the loads: recovery never went through snapshot + log"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Sessions across a restart
// ---------------------------------------------------------------------------------------------

async fn wait_connected(c: &zk::Client, what: &str) {
    let mut w = c.state_watcher();
    within(15, what, async {
        loop {
            match c.state() {
                zk::SessionState::SyncConnected => return,
                s if s.is_terminated() => panic!("{what}: session ended: {s}"),
                _ => {
                    w.changed().await;
                }
            }
        }
    })
    .await
}

#[test]
fn sessions_survive_a_restart_and_lost_ones_expire() {
    // tick 200 ms: session timeouts from 400 ms to 4 s.
    let mut server = Server::start(&["server.tick_time=200", "storage.preallocate_size=65536"]);
    let _keep = KeepOnPanic::new(&server, "sessions");
    let addr = server.addr();
    rt().block_on(async {
        // A stays connected through the restart (the client reconnects by itself).
        let a = connect(&addr, Duration::from_secs(4)).await;
        assert_eq!(a.session_timeout(), Duration::from_secs(4));
        a.create("/eph-a", b"a", EPHEMERAL).await.unwrap();
        // B goes away (detached: its session stays open) and never comes back.
        let b = within(
            10,
            "connect b",
            zk::Client::connector()
                .with_session_timeout(Duration::from_secs(2))
                .with_detached()
                .connect(&addr),
        )
        .await
        .unwrap();
        assert_eq!(b.session_timeout(), Duration::from_secs(2));
        b.create("/eph-b", b"b", EPHEMERAL).await.unwrap();
        let (b_id, b_session) = (b.session_id(), b.session().clone());
        drop(b);
        // C goes away and resumes its session explicitly after the restart.
        let c = within(
            10,
            "connect c",
            zk::Client::connector()
                .with_session_timeout(Duration::from_secs(4))
                .with_detached()
                .connect(&addr),
        )
        .await
        .unwrap();
        c.create("/eph-c", b"c", EPHEMERAL).await.unwrap();
        let (c_id, c_session) = (c.session_id(), c.session().clone());
        drop(c);
        // D closes its session before the crash: its ephemeral must stay gone.
        let d = connect(&addr, Duration::from_secs(4)).await;
        d.create("/eph-d", b"d", EPHEMERAL).await.unwrap();
        let (_, gone_d) = a.check_and_watch_stat("/eph-d").await.unwrap();
        drop(d);
        within(10, "D's close to delete its ephemeral", gone_d.changed()).await;

        server.restart();
        let back = Instant::now();
        let probe = connect(&addr, Duration::from_secs(4)).await;
        let owners = read_nodes(&probe, &["/eph-a".into(), "/eph-b".into(), "/eph-c".into()]).await;
        let owner = |i: usize| owners[i].as_ref().map(|(_, st)| st.ephemeral_owner);
        assert_eq!(
            owner(0),
            Some(a.session_id().0),
            "A's ephemeral after the restart"
        );
        assert_eq!(owner(2), Some(c_id.0), "C's ephemeral after the restart");
        // B's session restarts its 2 s timeout with the server: its node is still there unless
        // this check came very late.
        if back.elapsed() < Duration::from_millis(1500) {
            assert_eq!(
                owner(1),
                Some(b_id.0),
                "B's ephemeral right after the restart"
            );
        } else {
            eprintln!(
                "note: B's ephemeral not checked right after the restart ({:?} late)",
                back.elapsed()
            );
        }

        // C resumes with its session id and password.
        let c = within(
            10,
            "resume c",
            zk::Client::connector()
                .with_session(c_session)
                .connect(&addr),
        )
        .await
        .expect("resume C's session after the restart");
        assert_eq!(c.session_id(), c_id);
        c.create("/eph-c2", b"", EPHEMERAL).await.unwrap();

        // A reconnected by itself and its session works.
        wait_connected(&a, "A to reconnect").await;
        let (st, _) = a.create("/eph-a2", b"", EPHEMERAL).await.unwrap();
        assert_eq!(st.ephemeral_owner, a.session_id().0);

        // B's session expires after the restart and its ephemeral goes.
        let gone = within(20, "B's session to expire", async {
            loop {
                match probe.check_and_watch_stat("/eph-b").await.unwrap() {
                    (None, _) => return Instant::now(),
                    (Some(_), w) => {
                        w.changed().await;
                    }
                }
            }
        })
        .await;
        eprintln!(
            "B's ephemeral went {:?} after the server was back",
            gone - back
        );
        let r = within(
            10,
            "resume expired B",
            zk::Client::connector()
                .with_session(b_session)
                .connect(&addr),
        )
        .await;
        assert!(
            matches!(r, Err(zk::Error::SessionExpired)),
            "resuming B's expired session: {r:?}"
        );

        // A and C were not taken with it.
        wait_connected(&a, "A").await;
        let nodes = read_nodes(
            &probe,
            &[
                "/eph-a".into(),
                "/eph-a2".into(),
                "/eph-c".into(),
                "/eph-c2".into(),
            ],
        )
        .await;
        let owners: Vec<Option<i64>> = nodes
            .iter()
            .map(|n| n.as_ref().map(|(_, st)| st.ephemeral_owner))
            .collect();
        assert_eq!(
            owners,
            vec![
                Some(a.session_id().0),
                Some(a.session_id().0),
                Some(c_id.0),
                Some(c_id.0)
            ]
        );

        // The expiry and the close were logged: another restart does not bring those back.
        archive_log(&server, "second");
        server.restart();
        let probe = connect(&addr, Duration::from_secs(4)).await;
        let nodes = read_nodes(
            &probe,
            &[
                "/eph-a".into(),
                "/eph-b".into(),
                "/eph-c".into(),
                "/eph-d".into(),
            ],
        )
        .await;
        let owners: Vec<Option<i64>> = nodes
            .iter()
            .map(|n| n.as_ref().map(|(_, st)| st.ephemeral_owner))
            .collect();
        assert_eq!(
            owners,
            vec![Some(a.session_id().0), None, Some(c_id.0), None]
        );
        wait_connected(&a, "A to reconnect after the second restart").await;
        wait_connected(&c, "C to reconnect after the second restart").await;
    });
    archive_log(&server, "last");
}

// ---------------------------------------------------------------------------------------------
// 3. Snapshots and retention
// ---------------------------------------------------------------------------------------------

async fn write_nodes(
    c: &zk::Client,
    parent: &str,
    range: std::ops::Range<usize>,
) -> Vec<(String, Vec<u8>)> {
    let nodes: Vec<(String, Vec<u8>)> = range
        .map(|i| {
            let p = format!("{parent}/n{i:05}");
            let d = payload(&p, i);
            (p, d)
        })
        .collect();
    for chunk in nodes.chunks(16) {
        let futs: Vec<_> = chunk.iter().map(|(p, d)| c.create(p, d, OPEN)).collect();
        for ((p, _), r) in chunk
            .iter()
            .zip(within(30, "creates", futures::future::join_all(futs)).await)
        {
            r.unwrap_or_else(|e| panic!("create {p}: {e}"));
        }
    }
    nodes
}

/// Wait until the snapshots on disk are at most `keep` and the log segments older than what
/// the oldest of them needs are gone; returns (snapshots, segments).
/// Files by the zxid in their names.
type Listing = Vec<(i64, PathBuf)>;

fn wait_retained(server: &Server, keep: usize) -> (Listing, Listing) {
    let dir = version_dir(server);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let snaps = snapshots(&dir);
        let segs = segments(&dir);
        let oldest = snaps.first().map(|s| s.0).unwrap_or(0);
        // A segment is needed if it may hold txns after `oldest`: the last one starting at or
        // before oldest + 1, and all later ones.
        let unneeded = segs
            .iter()
            .filter(|s| s.0 <= oldest + 1)
            .count()
            .saturating_sub(1);
        if snaps.len() <= keep && unneeded == 0 {
            return (snaps, segs);
        }
        if Instant::now() > deadline {
            panic!(
                "retention not reached: snapshots {:?}, segments {:?}\n{}",
                snaps
                    .iter()
                    .map(|s| format!("{:x}", s.0))
                    .collect::<Vec<_>>(),
                segs.iter()
                    .map(|s| format!("{:x}", s.0))
                    .collect::<Vec<_>>(),
                server.log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn snapshots_are_taken_and_old_files_purged() {
    let mut server = Server::start(&[
        "storage.snap_count=20",
        "storage.snap_retain_count=3",
        "storage.preallocate_size=65536",
    ]);
    let _keep = KeepOnPanic::new(&server, "retention");
    let addr = server.addr();
    let r = rt();
    let mut nodes = r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        c.create("/r", b"", OPEN).await.unwrap();
        write_nodes(&c, "/r", 0..300).await
    });
    let (snaps, segs) = wait_retained(&server, 3);
    let log = server.log();
    let written = log
        .lines()
        .filter(|l| l.contains("snapshot ") && l.ends_with(" written"))
        .count();
    eprintln!(
        "after 300 writes: {written} snapshots written; on disk: snapshots {:?}, segments {:?}",
        snaps
            .iter()
            .map(|s| format!("{:x}", s.0))
            .collect::<Vec<_>>(),
        segs.iter()
            .map(|s| format!("{:x}", s.0))
            .collect::<Vec<_>>()
    );
    assert!(
        written >= 5,
        "snap_count=20 and 300 writes, but {written} snapshots written:\n{log}"
    );
    assert!(snaps.len() >= 2, "{snaps:?}");
    assert!(log.contains("purged"), "{log}");
    assert!(
        snaps[0].0 > 0,
        "the first (empty) snapshot was not purged: {snaps:?}"
    );
    assert!(
        segs.first().is_some_and(|s| s.0 > 1),
        "log.1 was not purged: {segs:?}"
    );
    assert!(
        segs.len() <= 5,
        "{} log segments left: {segs:?}",
        segs.len()
    );

    let before =
        r.block_on(async { dump(&connect(&addr, Duration::from_secs(10)).await, "/r").await });
    archive_log(&server, "first");
    server.restart();
    nodes.extend(r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        expect_nodes(&c, &nodes).await;
        assert_same_tree(
            "/r after a restart (snapshot + log)",
            &before,
            &dump(&c, "/r").await,
        );
        write_nodes(&c, "/r", 300..400).await
    }));
    wait_retained(&server, 3);
    archive_log(&server, "second");
    server.restart();
    r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        expect_nodes(&c, &nodes).await;
        assert_eq!(children(&c, "/r").await.len(), 400);
    });
}

// ---------------------------------------------------------------------------------------------
// 4. Damaged files
// ---------------------------------------------------------------------------------------------

/// What `sixty_writes_then_kill` leaves: the nodes, the newest log segment and its records.
type Written = (Vec<(String, Vec<u8>)>, PathBuf, Vec<(usize, usize)>);

/// 60 nodes under /c, then kill -9.
fn sixty_writes_then_kill(server: &mut Server, r: &tokio::runtime::Runtime) -> Written {
    let addr = server.addr();
    let nodes = r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        c.create("/c", b"", OPEN).await.unwrap();
        write_nodes(&c, "/c", 0..60).await
    });
    server.kill();
    let segs = segments(&version_dir(server));
    let (_, seg) = segs.last().expect("a log segment").clone();
    let recs = records(&std::fs::read(&seg).unwrap());
    (nodes, seg, recs)
}

/// The way out of a damaged log, with the operator's consent: `keeper log-repair` shows what
/// truncating loses and changes nothing; `--truncate` keeps a copy and cuts there; the server
/// then starts with every write before the damage.
#[test]
fn log_repair_shows_the_loss_and_truncates_only_when_asked() {
    let mut server = Server::start(&["storage.preallocate_size=65536"]);
    let _keep = KeepOnPanic::new(&server, "log-repair");
    let addr = server.addr();
    let r = rt();
    let (nodes, seg, recs) = sixty_writes_then_kill(&mut server, &r);
    let (start, len) = recs[recs.len() / 2];
    flip_byte(&seg, start + 8 + len / 2);
    let damaged = std::fs::read(&seg).unwrap();
    let repair = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keeper"))
            .arg("log-repair")
            .arg(&seg)
            .args(extra)
            .output()
            .expect("keeper log-repair");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = repair(&[]);
    assert!(
        shown.contains(&format!("damaged at offset {start}")),
        "{shown}"
    );
    assert!(shown.contains("LOSES"), "{shown}");
    assert!(shown.contains("nothing changed"), "{shown}");
    assert_eq!(
        std::fs::read(&seg).unwrap(),
        damaged,
        "showing changes nothing"
    );
    let done = repair(&["--truncate"]);
    assert!(done.contains("the original is kept at"), "{done}");
    let backup = std::path::PathBuf::from(format!("{}.bak", seg.display()));
    assert_eq!(std::fs::read(&backup).unwrap(), damaged);
    server.restart();
    r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        let paths: Vec<String> = nodes.iter().map(|(p, _)| p.clone()).collect();
        let got = read_nodes(&c, &paths).await;
        let kept = got.iter().take_while(|n| n.is_some()).count();
        assert!(
            kept > 0 && kept < nodes.len(),
            "{kept} of {} nodes",
            nodes.len()
        );
        assert!(
            got[kept..].iter().all(Option::is_none),
            "a hole in what was kept"
        );
        for ((_, want), n) in nodes.iter().zip(&got).take(kept) {
            assert_eq!(&n.as_ref().unwrap().0, want);
        }
    });
}

#[test]
fn flipped_byte_in_the_middle_of_the_log_refuses_to_start() {
    let mut server = Server::start(&["storage.preallocate_size=65536"]);
    let _keep = KeepOnPanic::new(&server, "corrupt-log");
    let addr = server.addr();
    let r = rt();
    let (nodes, seg, recs) = sixty_writes_then_kill(&mut server, &r);
    archive_log(&server, "before");
    assert!(
        recs.len() > 60,
        "{} records in {}",
        recs.len(),
        seg.display()
    );
    let (start, len) = recs[recs.len() / 2];
    let at = start + 8 + len / 2;
    let old = flip_byte(&seg, at);

    server.spawn_no_wait();
    let status = server.wait_exit(Duration::from_secs(10));
    let log = archive_log(&server, "corrupt");
    let status = status.unwrap_or_else(|| {
        panic!("the server still runs 10 s after starting on a log with a flipped byte:\n{log}")
    });
    assert!(
        !status.success(),
        "exit status {status} with a corrupt log:\n{log}"
    );
    let name = seg.display().to_string();
    assert!(
        log.contains(&name) && log.contains(&format!("offset {start}")),
        "stderr does not name {name} and offset {start}:\n{log}"
    );

    // Refusing changed nothing: with the byte put back, everything is there.
    put_byte(&seg, at, old);
    server.restart();
    r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        expect_nodes(&c, &nodes).await;
    });
}

#[test]
fn damaged_newest_snapshot_falls_back_to_the_previous_one() {
    let mut server = Server::start(&["storage.snap_count=20", "storage.preallocate_size=65536"]);
    let _keep = KeepOnPanic::new(&server, "corrupt-snapshot");
    let addr = server.addr();
    let r = rt();
    let mut nodes = r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        c.create("/s", b"", OPEN).await.unwrap();
        write_nodes(&c, "/s", 0..150).await
    });
    let before =
        r.block_on(async { dump(&connect(&addr, Duration::from_secs(10)).await, "/s").await });
    // Let a snapshot in progress finish (bounded), so the newest one is complete.
    let dir = version_dir(&server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmp_files(&dir) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    archive_log(&server, "before");
    let snaps = snapshots(&dir);
    assert!(snaps.len() >= 2, "need two snapshots: {snaps:?}");
    let (newest_zxid, newest) = snaps.last().unwrap().clone();
    let previous = snaps[snaps.len() - 2].0;
    let size = std::fs::metadata(&newest).unwrap().len() as usize;
    flip_byte(&newest, size / 2);

    server.restart();
    let log = archive_log(&server, "after");
    assert!(log.contains("skipping damaged snapshot"), "{log}");
    assert!(
        log.contains(&format!("(zxid 0x{previous:x},")),
        "did not load snapshot 0x{previous:x} after 0x{newest_zxid:x}:\n{log}"
    );
    nodes.extend(r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        expect_nodes(&c, &nodes).await;
        assert_same_tree(
            "/s recovered from the previous snapshot",
            &before,
            &dump(&c, "/s").await,
        );
        write_nodes(&c, "/s", 150..160).await
    }));
    server.restart();
    r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        expect_nodes(&c, &nodes).await;
        assert_eq!(children(&c, "/s").await.len(), 160);
    });
}

/// The crash tore the last write: the file ends in the middle of its payload.
#[test]
fn torn_last_record_is_cut_and_the_rest_recovered() {
    torn("torn-truncated", |f, start, len| {
        f.set_len((start + 8 + len / 2) as u64).unwrap()
    });
}

/// The file ends in the middle of the last record's header.
#[test]
fn torn_last_record_header_is_cut_and_the_rest_recovered() {
    torn("torn-header", |f, start, _| {
        f.set_len((start + 5) as u64).unwrap()
    });
}

/// Preallocated file, length unchanged: the second half of the last record never made it
/// (zeros).
#[test]
fn zeroed_tail_of_the_last_record_is_cut_and_the_rest_recovered() {
    torn("torn-zeroed", |f, start, len| {
        f.write_all_at(&vec![0u8; len - len / 2], (start + 8 + len / 2) as u64)
            .unwrap()
    });
}

fn torn(name: &'static str, damage: fn(&std::fs::File, usize, usize)) {
    let mut server = Server::start(&["storage.preallocate_size=65536"]);
    let _keep = KeepOnPanic::new(&server, name);
    let addr = server.addr();
    let r = rt();
    let (c, mut nodes) = r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        c.create("/t", b"", OPEN).await.unwrap();
        let nodes = write_nodes(&c, "/t", 0..50).await;
        c.create("/t/last", &payload("/t/last", 99), OPEN)
            .await
            .unwrap();
        (c, nodes)
    });
    // The client outlives the server: dropped first, it would close its session, and that
    // closeSession, not the create of /t/last, could be the newest record when the kill lands.
    server.kill();
    r.block_on(async move { drop(c) });
    archive_log(&server, "before");
    let segs = segments(&version_dir(&server));
    let (_, seg) = segs.last().expect("a log segment").clone();
    let buf = std::fs::read(&seg).unwrap();
    let &(start, len) = records(&buf).last().expect("records");
    let last = &buf[start + 8..start + 8 + len];
    assert!(
        last.windows(7).any(|w| w == b"/t/last"),
        "the newest record of {} is not the create of /t/last",
        seg.display()
    );
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    damage(&f, start, len);
    f.sync_all().unwrap();
    drop(f);

    server.restart();
    let log = archive_log(&server, "torn");
    assert!(
        log.contains(&format!("torn record at offset {start}"))
            && log.contains(&seg.display().to_string()),
        "no torn-record warning for {} at offset {start}:\n{log}",
        seg.display()
    );
    nodes.extend(r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        expect_nodes(&c, &nodes).await;
        assert_eq!(
            c.check_stat("/t/last").await.unwrap(),
            None,
            "/t/last came back from a torn record"
        );
        write_nodes(&c, "/t", 50..60).await
    }));
    // Writes after the cut are recovered too (recovery of the recovery).
    server.restart();
    r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        expect_nodes(&c, &nodes).await;
        assert_eq!(c.check_stat("/t/last").await.unwrap(), None);
        assert_eq!(children(&c, "/t").await.len(), 60);
    });
}

// ---------------------------------------------------------------------------------------------
// 5. Disk full
// ---------------------------------------------------------------------------------------------

/// A small tmpfs, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                eprintln!(
                    "cannot mount a tmpfs: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .output();
    }
}

/// Fill a file system: write a file until ENOSPC.
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0x55u8; 4096];
    let mut n = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(k) => n += k as u64,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    n
}

#[test]
fn full_log_disk_fails_writes_and_recovers() {
    disk_full("full_log_disk_fails_writes_and_recovers", &[]);
}

/// With snapshots every 10-20 writes the log is also rolled to a new segment while the disk is
/// full.
#[test]
fn full_log_disk_with_log_rolls() {
    disk_full("full_log_disk_with_log_rolls", &["storage.snap_count=20"]);
}

fn disk_full(name: &'static str, extra: &[&str]) {
    let Some(fs) = Tmpfs::mount("2m") else {
        eprintln!("SKIPPED {name}: mounting a tmpfs is not permitted here");
        return;
    };
    let log_dir = fs.dir.path().to_path_buf();
    let log_dir_opt = format!("storage.data_log_dir={}", log_dir.display());
    let mut opts = vec![log_dir_opt.as_str(), "storage.preallocate_size=65536"];
    opts.extend_from_slice(extra);
    let mut server = Server::start(&opts);
    let mut keep = KeepOnPanic::new(&server, name);
    keep.dirs.push(log_dir.clone());
    let addr = server.addr();
    let r = rt();
    let filler = log_dir.join("filler");
    let mut acked = r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        c.create("/df", b"", OPEN).await.unwrap();
        let mut acked = write_nodes(&c, "/df", 0..10).await;
        let filled = fill(&filler);
        eprintln!("filled the log file system with {filled} bytes");

        // Writes go on until the preallocated part of the segment is used up, then fail.
        let mut failed = None;
        for i in 10..3000 {
            let p = format!("/df/n{i:05}");
            let d = vec![b'x'; 1000];
            match within(20, "a write on a full disk", c.create(&p, &d, OPEN)).await {
                Ok(_) => acked.push((p, d)),
                Err(e) => {
                    failed = Some((p, e));
                    break;
                }
            }
        }
        let (failed, e) = failed.expect("3000 writes of 1 KB succeeded on a full 2 MB file system");
        assert_eq!(e, SYSTEM_ERROR, "error reply to a write on a full disk");
        eprintln!(
            "{} writes acknowledged before the disk was full; {failed} failed: {e}",
            acked.len()
        );
        // Still full: writes keep failing, with an answer; reads work.
        let again = within(
            20,
            "a second write on a full disk",
            c.set_data("/df", b"full", None),
        )
        .await;
        assert_eq!(again, Err(SYSTEM_ERROR));
        assert_eq!(
            c.check_stat(&failed).await.unwrap(),
            None,
            "the failed create is visible"
        );
        assert_eq!(c.get_data(&acked[0].0).await.unwrap().0, acked[0].1);
        assert_eq!(children(&c, "/df").await.len(), acked.len());
        expect_nodes(&c, &acked).await;

        // A restart on the full disk: the server starts, the session comes back, reads work,
        // writes still fail.
        archive_log(&server, "full-before-restart");
        server.restart();
        wait_connected(
            &c,
            "the client to reconnect to the server restarted on a full disk",
        )
        .await;
        expect_nodes(&c, &acked).await;
        assert_eq!(
            c.check_stat(&failed).await.unwrap(),
            None,
            "the failed create is visible after the restart"
        );
        let again = within(
            20,
            "a write on a full disk after the restart",
            c.set_data("/df", b"full", None),
        )
        .await;
        assert_eq!(again, Err(SYSTEM_ERROR));

        // Space again: writes succeed.
        std::fs::remove_file(&filler).unwrap();
        let st = within(
            20,
            "a write after freeing space",
            c.set_data("/df", b"free", None),
        )
        .await
        .expect("write after space was freed");
        assert_eq!(st.version, 1, "the failed setData changed the version");
        let n = acked.len() + 1;
        acked.extend(write_nodes(&c, "/df", 5000..5000 + n).await);
        acked.push(("/df".into(), b"free".to_vec()));
        expect_nodes(&c, &acked).await;
        acked
    });
    // What was acknowledged is recovered; what failed is not.
    archive_log(&server, "full");
    server.restart();
    r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        expect_nodes(&c, &acked).await;
        assert_eq!(children(&c, "/df").await.len(), acked.len() - 1);
        acked.extend(write_nodes(&c, "/df", 9000..9010).await);
    });
    drop(r);
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
    drop(keep);
    drop(server);
    drop(fs);
}

/// Start `keeper server` on `data_dir` (and optionally a log dir) on a fresh port and wait for
/// it to exit: for starts that must be refused.
fn refused_start(data_dir: &Path, log_dir: Option<&Path>) -> (std::process::ExitStatus, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keeper"));
    cmd.arg("server")
        .args(["--set", &format!("client.port={}", common::free_port())])
        .args(["--set", "client.address=127.0.0.1"])
        .args(["--set", &format!("storage.data_dir={}", data_dir.display())]);
    if let Some(l) = log_dir {
        cmd.args(["--set", &format!("storage.data_log_dir={}", l.display())]);
    }
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start keeper");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            return (status, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "a second server on {} did not refuse to start",
                data_dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_server_on_the_same_directories_refuses_to_start_and_loses_nothing() {
    let log_dir = tempfile::tempdir().expect("tempdir");
    let log_set = format!("storage.data_log_dir={}", log_dir.path().display());
    let mut a = Server::start(&[&log_set]);
    let pid = a.pid().expect("pid");
    let rt = rt();
    rt.block_on(async {
        let c = connect(&a.addr(), Duration::from_secs(10)).await;
        c.create("/before", b"acknowledged", OPEN)
            .await
            .expect("create");
    });
    // Same data dir (and its own log dir): refused, naming the holder.
    let other_log = tempfile::tempdir().expect("tempdir");
    let (status, err) = refused_start(&a.data_dir(), Some(other_log.path()));
    assert!(!status.success(), "{err}");
    assert!(err.contains("storage.data_dir"), "{err}");
    assert!(err.contains(&format!("pid {pid}")), "{err}");
    // Its own data dir but the same log dir: refused too.
    let other_data = tempfile::tempdir().expect("tempdir");
    let (status, err) = refused_start(other_data.path(), Some(log_dir.path()));
    assert!(!status.success(), "{err}");
    assert!(err.contains("storage.data_log_dir"), "{err}");
    assert!(err.contains(&format!("pid {pid}")), "{err}");
    // The first server was not disturbed: it still serves and takes writes.
    rt.block_on(async {
        let c = connect(&a.addr(), Duration::from_secs(10)).await;
        c.create("/after", b"still", OPEN).await.expect("create");
    });
    // kill -9 leaves the lock file behind; the kernel released the lock, so a restart works and
    // finds every acknowledged write.
    a.restart();
    rt.block_on(async {
        let c = connect(&a.addr(), Duration::from_secs(10)).await;
        assert_eq!(c.get_data("/before").await.expect("get").0, b"acknowledged");
        assert_eq!(c.get_data("/after").await.expect("get").0, b"still");
    });
}

/// SIGTERM stops a server at once and says so; every acknowledged write is there after the
/// restart (nothing was held back for a clean stop).
#[test]
fn sigterm_stops_at_once_with_a_word_and_loses_nothing() {
    let mut server = Server::start(&[]);
    let rt = rt();
    rt.block_on(async {
        let c = connect(&server.addr(), Duration::from_secs(10)).await;
        for i in 0..20 {
            let path = format!("/term-{i}");
            c.create(
                &path,
                b"x",
                &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
            )
            .await
            .expect("create");
        }
    });
    let pid = server.pid().expect("running") as libc::pid_t;
    // SAFETY: a signal to the child process this test started.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("the server stops on SIGTERM");
    assert!(status.success(), "{status:?}: {}", server.log());
    assert!(
        server.log().contains("SIGTERM received: stopping"),
        "{}",
        server.log()
    );
    server.restart();
    rt.block_on(async {
        let c = connect(&server.addr(), Duration::from_secs(10)).await;
        for i in 0..20 {
            let path = format!("/term-{i}");
            assert!(c.check_stat(&path).await.expect("stat").is_some(), "{path}");
        }
    });
}

/// A failed fsync (EIO, injected once by `KEEPER_FAULTS`: the fsync after it would succeed, as
/// on a disk with a transient error) is never retried as if it worked: that batch's writes fail,
/// so does every later write, and reads go on. Restarted without the fault, the server has every
/// acknowledged write and none of the failed ones.
#[test]
fn a_failed_fsync_stops_the_writes_and_loses_no_acknowledged_one() {
    let mut server = Server::start_with_env(&[], &[("KEEPER_FAULTS", "fsync_eio_at=20")]);
    let _keep = KeepOnPanic::new(&server, "a_failed_fsync_stops_the_writes");
    let addr = server.addr();
    let r = rt();
    let (acked, failed) = r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        let (mut acked, mut failed) = (Vec::new(), Vec::new());
        // One write in flight at a time: one fsync each.
        for i in 0..40 {
            let p = format!("/eio{i:03}");
            match within(20, "a write", c.create(&p, p.as_bytes(), OPEN)).await {
                Ok(_) => {
                    assert!(failed.is_empty(), "{p} acknowledged after a failed fsync");
                    acked.push(p);
                }
                Err(e) => {
                    assert_eq!(e, SYSTEM_ERROR, "{p}");
                    failed.push(p);
                }
            }
        }
        // Reads go on.
        let (d, _) = within(20, "a read", c.get_data(&acked[0]))
            .await
            .expect("a read after the failure");
        assert_eq!(d, acked[0].as_bytes());
        (acked, failed)
    });
    assert!(
        acked.len() >= 10 && !failed.is_empty(),
        "{acked:?} {failed:?}"
    );
    let log = server.log();
    assert!(log.contains("never retried"), "{log}");
    assert_eq!(
        log.matches("the transaction log is not written any more")
            .count(),
        1,
        "said once: {log}"
    );

    server.env.clear();
    server.restart();
    r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        for p in &acked {
            let (d, _) = c.get_data(p).await.unwrap_or_else(|e| panic!("{p}: {e}"));
            assert_eq!(d, p.as_bytes());
        }
        for p in &failed {
            assert_eq!(c.get_data(p).await.unwrap_err(), zk::Error::NoNode, "{p}");
        }
        // And writes work again on the healthy disk.
        c.create("/after", b"", OPEN)
            .await
            .expect("a write after the restart");
    });
}

/// The backup of docs/deploy.md, made while the server runs: the newest snapshot and the log
/// segments, copied as they are. Restored into an empty data directory, the server starts with
/// exactly the tree of the moment of the copy (data and stats), and what was written after the
/// copy is not there.
#[test]
fn a_backup_copied_from_a_running_server_restores() {
    let mut server = Server::start(&["storage.snap_count=50", "storage.preallocate_size=65536"]);
    let _keep = KeepOnPanic::new(&server, "backup");
    let addr = server.addr();
    let r = rt();
    let backup = tempfile::tempdir().unwrap();
    let dir = version_dir(&server);
    let at_backup = r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        c.create("/b", b"", OPEN).await.unwrap();
        write_nodes(&c, "/b", 0..300).await;
        // A snapshot in progress finishes (bounded) before the copy, as `ls -t` would show.
        let deadline = Instant::now() + Duration::from_secs(10);
        while (tmp_files(&dir) > 0 || snapshots(&dir).len() < 2) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let tree = dump(&c, "/b").await;
        let (_, newest) = snapshots(&dir).last().cloned().expect("a snapshot");
        std::fs::copy(&newest, backup.path().join(newest.file_name().unwrap())).unwrap();
        for (_, seg) in segments(&dir) {
            std::fs::copy(&seg, backup.path().join(seg.file_name().unwrap())).unwrap();
        }
        // Written after the backup: not in it.
        write_nodes(&c, "/b", 300..350).await;
        tree
    });
    server.kill();
    // Restore: an empty data directory with the backup's files.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    for f in std::fs::read_dir(backup.path()).unwrap().flatten() {
        std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
    }
    server.restart();
    r.block_on(async {
        let c = connect(&addr, Duration::from_secs(10)).await;
        let restored = dump(&c, "/b").await;
        // Every node of the moment of the copy, with its stats, and nothing written after.
        let extra: Vec<&String> = restored
            .keys()
            .filter(|k| !at_backup.contains_key(*k))
            .collect();
        assert!(
            extra.is_empty(),
            "written after the copy, restored: {extra:?}"
        );
        for (path, node) in &at_backup {
            if path == "/b" {
                continue;
            }
            assert_eq!(restored.get(path), Some(node), "{path} after the restore");
        }
        assert!(restored.len() >= 301, "{} nodes restored", restored.len());
        println!(
            "restored {} nodes from a snapshot and {} log segments copied while the server ran",
            restored.len(),
            std::fs::read_dir(backup.path()).unwrap().count() - 1,
        );
    });
}
