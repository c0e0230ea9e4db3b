//! Recovery at start: the newest valid snapshot, then every logged txn after it.

use super::snapshot::{self, SnapNode, SnapshotWriter};
use super::txn_log::{self, LogError};
use crate::datatree::{DataTree, TreeConfig};
use std::fs;
use std::path::Path;

#[derive(Debug)]
pub struct Recovered {
    pub tree: DataTree,
    pub snapshot_zxid: i64,
    pub replayed: u64,
    /// The newest replayed txns (a leader's DIFF window), oldest first.
    pub recent: Vec<crate::datatree::Txn>,
}

/// Write a snapshot of a whole tree at once (first start, tests, tools).
pub fn write_full_snapshot(dir: &Path, tree: &DataTree) -> std::io::Result<std::path::PathBuf> {
    let mut w = SnapshotWriter::create(dir, tree.last_zxid)?;
    let mut sessions: Vec<(i64, i32)> = tree.sessions().iter().map(|(k, v)| (*k, *v)).collect();
    sessions.sort();
    w.sessions(sessions)?;
    let mut batch = Vec::new();
    walk(tree, |p, n| {
        batch.push(SnapNode {
            path: p.to_string(),
            data: n.data_vec(),
            acl: n.acl.clone(),
            stat: n.stat,
        })
    });
    for chunk in batch.chunks(1000) {
        w.nodes(chunk.to_vec())?;
    }
    w.finish()
}

/// Visit every node, parents before children.
pub fn walk(tree: &DataTree, mut f: impl FnMut(&str, &crate::datatree::node::Node)) {
    let Some(root) = tree.get("/") else { return };
    f("/", root);
    let mut stack: Vec<(String, Option<String>)> = vec![("/".into(), None)];
    while let Some((dir, last)) = stack.last().cloned() {
        match tree.next_child(&dir, last.as_deref()) {
            None => {
                stack.pop();
            }
            Some(name) => {
                if let Some(top) = stack.last_mut() {
                    top.1 = Some(name.clone());
                }
                let child = crate::datatree::path::join(&dir, &name);
                if let Some(n) = tree.get(&child) {
                    f(&child, n);
                }
                stack.push((child, None));
            }
        }
    }
}

fn tree_from(snap: snapshot::Snapshot, config: TreeConfig) -> Result<DataTree, String> {
    let zxid = snap.zxid;
    let nodes = snap
        .nodes
        .into_iter()
        .map(|n| (n.path, n.data, n.acl, n.stat))
        .collect();
    DataTree::from_parts(config, nodes, snap.sessions, zxid)
}

/// A crash during a snapshot leaves its temp file behind; it is never complete.
fn remove_unfinished_snapshots(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snapshot.") && name.ends_with(".tmp") {
            match fs::remove_file(e.path()) {
                Ok(()) => tracing::info!("removed unfinished snapshot {}", e.path().display()),
                Err(err) => tracing::warn!(
                    "cannot remove unfinished snapshot {}: {err}",
                    e.path().display()
                ),
            }
        }
    }
}

/// Apache ZooKeeper names its files as Keeper does (`version-2/snapshot.<zxid>`,
/// `log.<zxid>`): one of those is not damage, and no advice may start an empty tree over it.
fn zookeeper_file_check(path: &Path) -> Result<(), String> {
    let mut magic = [0u8; 4];
    let read = fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
    let what = match (read, &magic) {
        (Ok(()), b"ZKSN") => "snapshot",
        (Ok(()), b"ZKLG") => "transaction log",
        _ => return Ok(()),
    };
    Err(format!(
        "{} is an Apache ZooKeeper {what}, not a Keeper file: this is a ZooKeeper data directory,          which Keeper cannot read (there is no importer yet). Nothing was changed or removed.          Keep this directory for ZooKeeper, start Keeper with another storage.data_dir          (and storage.data_log_dir), and copy the znodes over with a client",
        path.display()
    ))
}

/// Whether `next` may follow `last` in the log: the next counter, or the first txn of a later
/// epoch.
fn follows(last: i64, next: i64) -> bool {
    next == last + 1 || ((next >> 32) > (last >> 32) && (next & 0xffff_ffff) == 1)
}

pub fn recover(data_dir: &Path, log_dir: &Path, config: TreeConfig) -> Result<Recovered, String> {
    for d in [data_dir, log_dir] {
        fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    remove_unfinished_snapshots(data_dir);
    let snaps =
        snapshot::list(data_dir).map_err(|e| format!("cannot list {}: {e}", data_dir.display()))?;
    let segs = txn_log::list_segments(log_dir)
        .map_err(|e| format!("cannot list {}: {e}", log_dir.display()))?;
    for (_, path) in snaps.iter().chain(segs.iter()) {
        zookeeper_file_check(path)?;
    }
    if snaps.is_empty() && segs.is_empty() {
        let tree = DataTree::new(config);
        write_full_snapshot(data_dir, &tree).map_err(|e| {
            format!(
                "cannot write the first snapshot in {}: {e}",
                data_dir.display()
            )
        })?;
        tracing::info!(
            "new data directory {}: wrote an empty snapshot",
            data_dir.display()
        );
        return Ok(Recovered {
            tree,
            snapshot_zxid: 0,
            replayed: 0,
            recent: Vec::new(),
        });
    }
    let started = std::time::Instant::now();
    let mut tree = None;
    for (zxid, path) in &snaps {
        match snapshot::load(path).and_then(|s| tree_from(s, config.clone())) {
            Ok(t) => {
                tracing::info!(
                    "loaded snapshot {} (zxid 0x{zxid:x}, {} nodes)",
                    path.display(),
                    t.node_count()
                );
                tree = Some(t);
                break;
            }
            Err(e) => tracing::warn!("skipping damaged snapshot: {e}; trying an older one"),
        }
    }
    let mut tree = match tree {
        Some(t) => t,
        None if segs.first().is_some_and(|(z, _)| *z <= 1) => {
            tracing::warn!("no usable snapshot; rebuilding from the whole transaction log");
            DataTree::new(config)
        }
        None => {
            return Err(format!(
                "no usable snapshot in {} and the transaction log in {} does not start at the first transaction: the data cannot be rebuilt",
                data_dir.display(),
                log_dir.display()
            ))
        }
    };
    let snapshot_zxid = tree.last_zxid;
    let snap_loaded = std::time::Instant::now();
    let (replayed, recent, _) = replay(&mut tree, &segs, true)?;
    let m = &crate::metrics::SERVER;
    let ms = |a: std::time::Instant, b: std::time::Instant| (b - a).as_millis() as u64;
    let done = std::time::Instant::now();
    m.startup_snap_load_time.add(ms(started, snap_loaded));
    m.startup_txns_load_time.add(ms(snap_loaded, done));
    m.startup_txns_loaded.add(replayed);
    m.dbinittime.add(ms(started, done));
    tracing::info!(
        "recovered to zxid 0x{:x}: snapshot 0x{snapshot_zxid:x} + {replayed} logged txns, {} sessions",
        tree.last_zxid,
        tree.sessions().len()
    );
    Ok(Recovered {
        tree,
        snapshot_zxid,
        replayed,
        recent,
    })
}

/// Bring a live tree up to the end of the log: apply every logged txn after its last zxid
/// (the logged-but-uncommitted tail, usually a handful), instead of rebuilding it from the
/// snapshot. The log writer must be idle (everything it was given is durable). Returns the
/// applied txns, oldest first.
pub fn replay_tail(
    tree: &mut DataTree,
    log_dir: &Path,
) -> Result<Vec<crate::datatree::Txn>, String> {
    let segs = txn_log::list_segments(log_dir)
        .map_err(|e| format!("cannot list {}: {e}", log_dir.display()))?;
    // The segment holding the tree's last txn and those after it.
    let from = segs
        .iter()
        .rposition(|(first, _)| *first <= tree.last_zxid)
        .unwrap_or(0);
    let base = tree.last_zxid;
    let (_, applied, log_end) = replay(tree, &segs[from..], false)?;
    if log_end < base {
        // The tree holds a committed txn this server never made durable (its log write
        // failed): only a rebuild from disk gives a tree that matches the log.
        return Err(format!(
            "the log ends at 0x{log_end:x}, before the tree's last txn 0x{base:x}"
        ));
    }
    Ok(applied)
}

/// Apply the txns of `segs` (oldest first) that come after the tree's last zxid. A torn
/// record at the tail of the newest segment is cut off when `repair` (at start), else left to
/// the next start. Returns how many were applied, the newest of them (up to the DIFF
/// window) and the last zxid the scanned segments hold (0 if none).
fn replay(
    tree: &mut DataTree,
    segs: &[(i64, std::path::PathBuf)],
    repair: bool,
) -> Result<(u64, Vec<crate::datatree::Txn>, i64), String> {
    let base = tree.last_zxid;
    let mut log_end = 0i64;
    let mut replayed = 0u64;
    let mut recent: std::collections::VecDeque<crate::datatree::Txn> = Default::default();
    let n = segs.len();
    for (i, (_, path)) in segs.iter().enumerate() {
        // Skip segments wholly covered by the tree.
        if i + 1 < n && segs[i + 1].0 - 1 <= base {
            continue;
        }
        let mut gap: Option<(i64, i64)> = None;
        let end = txn_log::scan_segment(path, i + 1 == n, |t| {
            log_end = log_end.max(t.zxid);
            if gap.is_some() || t.zxid <= tree.last_zxid {
                return;
            }
            if tree.last_zxid > 0 && !follows(tree.last_zxid, t.zxid) {
                gap = Some((tree.last_zxid, t.zxid));
                return;
            }
            tree.apply(&t);
            replayed += 1;
            recent.push_back(t);
            if recent.len() > crate::engine::RECENT_TXNS {
                recent.pop_front();
            }
        })
        .map_err(|e: LogError| e.to_string())?;
        if let Some((a, b)) = gap {
            return Err(format!(
                "transactions between 0x{a:x} and 0x{b:x} are missing from the log ({}): a log segment was lost",
                path.display()
            ));
        }
        match end.torn_at {
            Some(at) if repair => {
                tracing::warn!(
                    "{}: torn record at offset {at} (a write cut short by a crash, never acknowledged); truncating the log there",
                    path.display()
                );
                txn_log::truncate(path, at)
                    .map_err(|e| format!("cannot truncate {}: {e}", path.display()))?;
            }
            Some(at) => tracing::warn!(
                "{}: unreadable record at offset {at} after the last durable write; left for the next start",
                path.display()
            ),
            None => {}
        }
    }
    Ok((replayed, recent.into(), log_end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::jute::{op, Acl, CreateRequest, WriteOp};
    use crate::datatree::acl::AuthInfo;
    use crate::datatree::{Caller, Outstanding, Prep, Txn, TxnOp};
    use crate::storage::txn_log::LogWriter;

    fn create_txn(tree: &DataTree, path: &str, zxid: i64, flags: i32, session: i64) -> Txn {
        let auth = AuthInfo::for_ip("127.0.0.1");
        let mut o = Outstanding::default();
        let w = WriteOp::Create(CreateRequest {
            opcode: op::CREATE,
            path: path.into(),
            data: Some(path.as_bytes().to_vec()),
            acl: Acl::world_all(),
            flags,
            ttl: -1,
        });
        let op = Prep { tree, out: &mut o }.write(
            &w,
            &Caller {
                session,
                auth: &auth,
            },
            zxid,
            5,
        );
        Txn {
            session,
            cxid: 0,
            zxid,
            time: 5,
            op: op.into(),
        }
    }

    /// Apply txns to a tree and log them.
    fn log(dir: &Path, tree: &mut DataTree, txns: &[Txn]) {
        let mut w = LogWriter::new(dir.to_path_buf(), 4096, false);
        let mut buf = Vec::new();
        for t in txns {
            tree.apply(t);
        }
        w.append(txns, &mut buf).unwrap();
    }

    /// A ZooKeeper data directory is named as such and left as it is, never taken for damage.
    #[test]
    fn zookeeper_files_are_recognised_and_left_alone() {
        for (name, magic, what) in [
            ("snapshot.100000002", b"ZKSN", "Apache ZooKeeper snapshot"),
            ("log.100000001", b"ZKLG", "Apache ZooKeeper transaction log"),
        ] {
            let d = tempfile::tempdir().unwrap();
            let f = d.path().join(name);
            let mut body = magic.to_vec();
            body.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9]);
            fs::write(&f, &body).unwrap();
            let e = recover(d.path(), d.path(), TreeConfig::default()).unwrap_err();
            assert!(e.contains(what), "{e}");
            assert!(e.contains("Nothing was changed"), "{e}");
            assert_eq!(fs::read(&f).unwrap(), body, "the file is untouched");
            assert_eq!(
                fs::read_dir(d.path()).unwrap().count(),
                1,
                "nothing written"
            );
        }
    }

    #[test]
    fn fresh_then_snapshot_plus_log() {
        let d = tempfile::tempdir().unwrap();
        let r = recover(d.path(), d.path(), TreeConfig::default()).unwrap();
        assert_eq!(r.tree.last_zxid, 0);
        let mut tree = r.tree;
        let t1 = Txn {
            session: 9,
            cxid: 0,
            zxid: 1,
            time: 0,
            op: TxnOp::CreateSession { timeout: 5000 }.into(),
        };
        tree.apply(&t1);
        let t2 = create_txn(&tree, "/a", 2, 0, 9);
        tree.apply(&t2);
        let t3 = create_txn(&tree, "/a/e", 3, 1, 9);
        log(d.path(), &mut tree.clone(), &[t1, t2, t3.clone()]);
        tree.apply(&t3);
        let r = recover(d.path(), d.path(), TreeConfig::default()).unwrap();
        assert_eq!(r.replayed, 3);
        assert_eq!(r.tree.last_zxid, 3);
        assert_eq!(r.tree.get("/a").unwrap(), tree.get("/a").unwrap());
        assert_eq!(r.tree.ephemerals_of(9, "/"), vec!["/a/e".to_string()]);
        // A snapshot covering it all, then nothing to replay.
        write_full_snapshot(d.path(), &r.tree).unwrap();
        let again = recover(d.path(), d.path(), TreeConfig::default()).unwrap();
        assert_eq!(again.replayed, 0);
        assert_eq!(again.tree.get("/a/e"), tree.get("/a/e"));
        assert!(again.tree.has_session(9));
    }

    #[test]
    fn replay_tail_applies_only_what_the_live_tree_lacks() {
        let d = tempfile::tempdir().unwrap();
        let mut tree = recover(d.path(), d.path(), TreeConfig::default())
            .unwrap()
            .tree;
        let mut all = tree.clone();
        let mut w = LogWriter::new(d.path().to_path_buf(), 4096, false);
        let mut buf = Vec::new();
        for z in 1..=6 {
            let t = create_txn(&all, &format!("/n{z}"), z, 0, 0);
            all.apply(&t);
            w.append(std::slice::from_ref(&t), &mut buf).unwrap();
            if z == 3 {
                w.roll().unwrap();
            }
            // The live tree has the committed prefix only.
            if z <= 4 {
                tree.apply(&t);
            }
        }
        let applied = replay_tail(&mut tree, d.path()).unwrap();
        assert_eq!(applied.iter().map(|t| t.zxid).collect::<Vec<_>>(), [5, 6]);
        assert_eq!(tree.last_zxid, 6);
        for z in 1..=6 {
            let p = format!("/n{z}");
            assert_eq!(tree.get(&p), all.get(&p), "{p}");
        }
        // Up to date: nothing to apply.
        assert!(replay_tail(&mut tree, d.path()).unwrap().is_empty());
        // A tree ahead of its log (a committed txn whose local write failed) is refused.
        let mut ahead = tree.clone();
        let t7 = create_txn(&ahead, "/n7", 7, 0, 0);
        ahead.apply(&t7);
        let err = replay_tail(&mut ahead, d.path()).unwrap_err();
        assert!(err.contains("before the tree"), "{err}");
        // A tree that lost track (a segment is missing) is an error, not a silent gap.
        let mut behind = recover(d.path(), d.path(), TreeConfig::default())
            .unwrap()
            .tree;
        assert_eq!(behind.last_zxid, 6);
        for (first, path) in txn_log::list_segments(d.path()).unwrap() {
            if first == 1 {
                fs::remove_file(path).unwrap();
            }
        }
        behind.last_zxid = 2;
        let err = replay_tail(&mut behind, d.path()).unwrap_err();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn damaged_newest_snapshot_falls_back() {
        let d = tempfile::tempdir().unwrap();
        let mut tree = recover(d.path(), d.path(), TreeConfig::default())
            .unwrap()
            .tree;
        let t1 = create_txn(&tree, "/x", 1, 0, 0);
        log(d.path(), &mut tree, &[t1]);
        let p = write_full_snapshot(d.path(), &tree).unwrap();
        fs::write(&p, b"garbage").unwrap();
        let r = recover(d.path(), d.path(), TreeConfig::default()).unwrap();
        assert!(r.tree.get("/x").is_some());
        assert_eq!(r.snapshot_zxid, 0);
    }

    #[test]
    fn missing_snapshots_and_missing_history_refuse() {
        let d = tempfile::tempdir().unwrap();
        let tree = DataTree::default();
        let mut w = LogWriter::new(d.path().to_path_buf(), 4096, false);
        let t = create_txn(&tree, "/x", 5, 0, 0);
        w.append(&[t], &mut Vec::new()).unwrap();
        let e = recover(d.path(), d.path(), TreeConfig::default()).unwrap_err();
        assert!(e.contains("cannot be rebuilt"), "{e}");
    }

    #[test]
    fn gaps_in_the_log_refuse() {
        let d = tempfile::tempdir().unwrap();
        let mut tree = recover(d.path(), d.path(), TreeConfig::default())
            .unwrap()
            .tree;
        let t1 = create_txn(&tree, "/x", 1, 0, 0);
        let t3 = create_txn(&tree, "/y", 3, 0, 0);
        log(d.path(), &mut tree, &[t1, t3]);
        let e = recover(d.path(), d.path(), TreeConfig::default()).unwrap_err();
        assert!(e.contains("missing"), "{e}");
    }

    #[test]
    fn unfinished_snapshots_are_removed_at_start() {
        let d = tempfile::tempdir().unwrap();
        recover(d.path(), d.path(), TreeConfig::default()).unwrap();
        fs::write(d.path().join("snapshot.9.tmp"), b"partial").unwrap();
        recover(d.path(), d.path(), TreeConfig::default()).unwrap();
        assert!(!d.path().join("snapshot.9.tmp").exists());
    }

    #[test]
    fn walk_visits_parents_first() {
        let mut tree = DataTree::default();
        for (z, p) in [(1, "/b"), (2, "/a"), (3, "/a/c")] {
            let t = create_txn(&tree, p, z, 0, 0);
            tree.apply(&t);
        }
        let mut seen = Vec::new();
        walk(&tree, |p, _| seen.push(p.to_string()));
        assert_eq!(
            seen,
            [
                "/",
                "/a",
                "/a/c",
                "/b",
                "/zookeeper",
                "/zookeeper/config",
                "/zookeeper/quota"
            ]
        );
    }
}
