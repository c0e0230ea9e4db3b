//! Helpers shared by the ensemble and partition suites: clients of members, bounded waits,
//! whole-tree dumps and their comparison, and a write load that keeps a ledger of what was
//! acknowledged.

use super::Ensemble;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zookeeper_client as zk;

pub static OPEN: &zk::CreateOptions<'static> =
    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

/// Session timeout of the clients: the largest the servers grant (20 ticks of 200 ms).
pub const SESSION: Duration = Duration::from_secs(4);

/// Multi-process scenarios run one at a time.
pub static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

pub async fn within<T>(secs: u64, what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs} s waiting for {what}"))
}

pub async fn connect(addr: &str) -> zk::Client {
    within(
        20,
        &format!("a session with {addr}"),
        zk::Client::connector()
            .with_session_timeout(SESSION)
            .connect(addr),
    )
    .await
    .unwrap_or_else(|e| panic!("connect {addr}: {e}"))
}

/// A client of member `id` only.
pub async fn client_of(e: &Ensemble, id: u64) -> zk::Client {
    connect(&e.addr(id)).await
}

/// Data and stat of every node under `root` (inclusive), as member `id` has them after a sync.
pub async fn dump_on(e: &Ensemble, id: u64, root: &str) -> BTreeMap<String, (Vec<u8>, zk::Stat)> {
    let c = client_of(e, id).await;
    within(10, "sync", c.sync(root))
        .await
        .unwrap_or_else(|err| panic!("sync on server {id}: {err}"));
    let mut out = BTreeMap::new();
    let mut level = vec![root.to_string()];
    while !level.is_empty() {
        let mut next = Vec::new();
        for chunk in level.chunks(256) {
            let datas: Vec<_> = chunk.iter().map(|p| c.get_data(p)).collect();
            let lists: Vec<_> = chunk.iter().map(|p| c.list_children(p)).collect();
            let datas = within(30, "reads", futures::future::join_all(datas)).await;
            let lists = within(30, "lists", futures::future::join_all(lists)).await;
            for ((p, d), kids) in chunk.iter().zip(datas).zip(lists) {
                match d {
                    Ok(x) => {
                        out.insert(p.clone(), x);
                    }
                    Err(zk::Error::NoNode) => continue,
                    Err(err) => panic!("get_data {p} on server {id}: {err}"),
                }
                let mut kids = match kids {
                    Ok(k) => k,
                    Err(zk::Error::NoNode) => continue,
                    Err(err) => panic!("list {p} on server {id}: {err}"),
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
        }
        level = next;
    }
    out
}

/// The same nodes with the same data and stats.
pub fn assert_same_tree(
    what: &str,
    want: &BTreeMap<String, (Vec<u8>, zk::Stat)>,
    got: &BTreeMap<String, (Vec<u8>, zk::Stat)>,
) {
    let mut diffs = Vec::new();
    for (p, w) in want {
        match got.get(p) {
            None => diffs.push(format!("{p}: missing")),
            Some(g) if g.0 != w.0 => diffs.push(format!("{p}: data {:?} vs {:?}", w.0, g.0)),
            Some(g) if g.1 != w.1 => diffs.push(format!("{p}: stat {:?}\n   vs {:?}", w.1, g.1)),
            Some(_) => {}
        }
    }
    for p in got.keys().filter(|p| !want.contains_key(*p)) {
        diffs.push(format!("{p}: extra"));
    }
    assert!(
        diffs.is_empty(),
        "{what}: {} of {} nodes differ: {:#?}",
        diffs.len(),
        want.len(),
        &diffs[..diffs.len().min(20)]
    );
}

/// Children of `path` as member `id` has them after a `sync`.
pub async fn children_on(e: &Ensemble, id: u64, path: &str) -> BTreeSet<String> {
    let c = client_of(e, id).await;
    within(10, "sync", c.sync(path))
        .await
        .unwrap_or_else(|err| panic!("sync {path} on server {id}: {err}"));
    within(20, "list children", c.list_children(path))
        .await
        .unwrap_or_else(|err| panic!("list {path} on server {id}: {err}"))
        .into_iter()
        .collect()
}

/// Create `<parent>/<prefix>-<i>` for every `i` in `range` through `c`, pipelined; all must
/// be acknowledged. Returns the paths.
pub async fn create_many(
    c: &zk::Client,
    parent: &str,
    prefix: &str,
    range: std::ops::Range<usize>,
) -> Vec<String> {
    let paths: Vec<String> = range.map(|i| format!("{parent}/{prefix}-{i:06}")).collect();
    for chunk in paths.chunks(100) {
        let futs: Vec<_> = chunk
            .iter()
            .map(|p| c.create(p, p.as_bytes(), OPEN))
            .collect();
        for (p, r) in chunk
            .iter()
            .zip(within(60, "creates", futures::future::join_all(futs)).await)
        {
            r.unwrap_or_else(|err| panic!("create {p}: {err}"));
        }
    }
    paths
}

// ---------------------------------------------------------------- load with a ledger

/// What writers saw: acknowledged creates (with their start and ack times) and creates whose
/// outcome is unknown (an error other than a clean rejection).
#[derive(Default)]
pub struct Ledger {
    pub acked: Vec<(String, Instant, Instant)>,
    pub uncertain: Vec<String>,
    pub errors: BTreeMap<String, usize>,
}

/// Writers creating `<root>/<prefix>w<i>-<n>` through sessions on `connect_string` until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(
        rt: &tokio::runtime::Runtime,
        connect_string: &str,
        root: &str,
        prefix: &str,
        writers: usize,
        pause: Duration,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let tasks = (0..writers)
            .map(|w| {
                let (stop, ledger) = (stop.clone(), ledger.clone());
                let cs = connect_string.to_string();
                let root = root.to_string();
                let prefix = prefix.to_string();
                rt.spawn(async move {
                    let mut client: Option<zk::Client> = None;
                    let mut n = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let c = match &client {
                            Some(c) => c.clone(),
                            None => {
                                let r = tokio::time::timeout(
                                    Duration::from_secs(10),
                                    zk::Client::connector()
                                        .with_session_timeout(SESSION)
                                        .connect(&cs),
                                )
                                .await;
                                match r {
                                    Ok(Ok(c)) => {
                                        client = Some(c.clone());
                                        c
                                    }
                                    other => {
                                        let what = match other {
                                            Ok(Err(e)) => format!("connect: {e}"),
                                            _ => "connect: timeout".to_string(),
                                        };
                                        *ledger.lock().unwrap().errors.entry(what).or_default() +=
                                            1;
                                        tokio::time::sleep(Duration::from_millis(100)).await;
                                        continue;
                                    }
                                }
                            }
                        };
                        let path = format!("{root}/{prefix}w{w}-{n:06}");
                        n += 1;
                        let t0 = Instant::now();
                        let r = tokio::time::timeout(
                            Duration::from_secs(15),
                            c.create(&path, path.as_bytes(), OPEN),
                        )
                        .await;
                        let failed = !matches!(r, Ok(Ok(_)));
                        {
                            let mut l = ledger.lock().unwrap();
                            match r {
                                Ok(Ok(_)) => l.acked.push((path, t0, Instant::now())),
                                Ok(Err(e)) => {
                                    *l.errors.entry(format!("{e:?}")).or_default() += 1;
                                    l.uncertain.push(path);
                                    if matches!(
                                        e,
                                        zk::Error::SessionExpired
                                            | zk::Error::ClientClosed
                                            | zk::Error::SessionMoved
                                    ) {
                                        client = None;
                                    }
                                }
                                Err(_) => {
                                    *l.errors.entry("timeout".into()).or_default() += 1;
                                    l.uncertain.push(path);
                                    client = None;
                                }
                            }
                        }
                        if !pause.is_zero() {
                            tokio::time::sleep(pause).await;
                        } else if failed {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            ledger,
            tasks,
        }
    }

    /// The paths acknowledged so far (the load goes on).
    pub fn acked_paths(&self) -> Vec<String> {
        let l = self.ledger.lock().unwrap();
        l.acked.iter().map(|a| a.0.clone()).collect()
    }

    pub fn acked_count(&self) -> usize {
        self.ledger.lock().unwrap().acked.len()
    }

    /// Wait (bounded) until `more` further writes are acknowledged.
    pub async fn progress(&self, more: usize, secs: u64, what: &str) {
        let target = self.acked_count() + more;
        within(secs, what, async {
            while self.acked_count() < target {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
    }

    pub async fn stop(self) -> Ledger {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            within(30, "the writers to stop", t)
                .await
                .expect("writer task");
        }
        Arc::try_unwrap(self.ledger)
            .map_err(|_| "ledger still shared")
            .unwrap()
            .into_inner()
            .unwrap()
    }
}

/// Every member in `ids` has the same children of `root` after a sync, containing every
/// acknowledged write and nothing that was never attempted. Returns that set.
pub async fn check_ledger(e: &Ensemble, ids: &[u64], root: &str, l: &Ledger) -> BTreeSet<String> {
    let mut sets = BTreeMap::new();
    for &id in ids {
        sets.insert(id, children_on(e, id, root).await);
    }
    let first = sets.values().next().expect("a server").clone();
    for (id, s) in &sets {
        let missing: Vec<_> = first.difference(s).take(10).collect();
        let extra: Vec<_> = s.difference(&first).take(10).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "server {id} differs from server {}: lacks {missing:?}, has more {extra:?} \
             ({} vs {} nodes)",
            ids[0],
            s.len(),
            first.len()
        );
    }
    let name = |p: &str| p.rsplit('/').next().unwrap().to_string();
    let lost: Vec<&String> = l
        .acked
        .iter()
        .map(|a| &a.0)
        .filter(|p| !first.contains(&name(p)))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes are lost, e.g. {:?}",
        lost.len(),
        l.acked.len(),
        &lost[..lost.len().min(10)]
    );
    let attempted: BTreeSet<String> = l
        .acked
        .iter()
        .map(|a| name(&a.0))
        .chain(l.uncertain.iter().map(|p| name(p)))
        .collect();
    let phantom: Vec<_> = first.difference(&attempted).take(10).collect();
    assert!(phantom.is_empty(), "nodes nobody wrote: {phantom:?}");
    first
}
