//! Helpers shared by the ensemble and partition suites: clients of members, bounded waits,
//! whole-tree dumps and their comparison.

use super::Ensemble;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use zookeeper_client as zk;

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
