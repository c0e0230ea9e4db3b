//! Watches: per-connection registrations on paths, in a data table and a child table, with
//! ZooKeeper 3.8's trigger rules for one-shot, persistent and persistent-recursive modes.

use super::path;
use super::tree::Trigger;
use crate::codec::jute::event;
use std::collections::{HashMap, HashSet};

pub type ConnId = u64;

// Modes a connection holds on one path of one table. They coexist, as in ZooKeeper 3.9
// (ZOOKEEPER-4466): 3.8 let a later registration overwrite an earlier mode, losing events.
const STANDARD: u8 = 1;
const PERSISTENT: u8 = 2;
const RECURSIVE: u8 = 4;

/// RemoveWatches / CheckWatches kinds (WatcherType).
pub const KIND_CHILDREN: i32 = 1;
pub const KIND_DATA: i32 = 2;
pub const KIND_ANY: i32 = 3;
pub const KIND_PERSISTENT: i32 = 4;
pub const KIND_PERSISTENT_RECURSIVE: i32 = 5;

#[derive(Default, Debug)]
struct Table {
    by_path: HashMap<String, HashMap<ConnId, u8>>,
    by_conn: HashMap<ConnId, HashSet<String>>,
    recursive: usize,
}

impl Table {
    fn add(&mut self, p: &str, conn: ConnId, mode: u8) {
        let flags = self
            .by_path
            .entry(p.to_string())
            .or_default()
            .entry(conn)
            .or_insert(0);
        if mode == RECURSIVE && *flags & RECURSIVE == 0 {
            self.recursive += 1;
        }
        *flags |= mode;
        self.by_conn.entry(conn).or_default().insert(p.to_string());
    }

    /// Clear `modes` of a connection on a path; true if any was set.
    fn remove(&mut self, p: &str, conn: ConnId, modes: u8) -> bool {
        let Some(m) = self.by_path.get_mut(p) else {
            return false;
        };
        let Some(flags) = m.get_mut(&conn) else {
            return false;
        };
        let had = *flags & modes;
        if had & RECURSIVE != 0 {
            self.recursive -= 1;
        }
        *flags &= !modes;
        if *flags == 0 {
            m.remove(&conn);
            if m.is_empty() {
                self.by_path.remove(p);
            }
            if let Some(s) = self.by_conn.get_mut(&conn) {
                s.remove(p);
                if s.is_empty() {
                    self.by_conn.remove(&conn);
                }
            }
        }
        had != 0
    }

    fn has(&self, p: &str, conn: ConnId, modes: u8) -> bool {
        self.by_path
            .get(p)
            .and_then(|m| m.get(&conn))
            .is_some_and(|f| f & modes != 0)
    }

    /// Give back the room of watches that are gone: a hash map keeps its largest size, so a
    /// client that set a million watches and left would otherwise leave their table behind.
    fn shrink(&mut self) {
        fn fit<K, V>(m: &mut HashMap<K, V>)
        where
            K: std::hash::Hash + Eq,
        {
            if m.capacity() > 4096 && m.capacity() > 4 * m.len() {
                m.shrink_to(2 * m.len());
            }
        }
        fit(&mut self.by_path);
        fit(&mut self.by_conn);
    }

    fn remove_conn(&mut self, conn: ConnId) {
        if let Some(paths) = self.by_conn.remove(&conn) {
            for p in paths {
                if let Some(m) = self.by_path.get_mut(&p) {
                    if m.remove(&conn).is_some_and(|f| f & RECURSIVE != 0) {
                        self.recursive -= 1;
                    }
                    if m.is_empty() {
                        self.by_path.remove(&p);
                    }
                }
            }
            self.shrink();
        }
    }

    /// Connections to notify for an event on `p`, removing fired one-shot watches. Recursive
    /// watches on `p` and its ancestors see every event but NodeChildrenChanged.
    fn trigger(&mut self, p: &str, ev: i32, out: &mut Vec<ConnId>, skip: &HashSet<ConnId>) {
        let children_event = ev == event::NODE_CHILDREN_CHANGED;
        let mut fired_standard = Vec::new();
        // Who is in `out` already, made when a first watcher is found: a path watched by a
        // hundred thousand sessions must not cost a scan of `out` per watcher.
        let mut seen: Option<HashSet<ConnId>> = None;
        let mut add = |c: ConnId, out: &mut Vec<ConnId>| {
            let seen = seen.get_or_insert_with(|| out.iter().copied().collect());
            if !skip.contains(&c) && seen.insert(c) {
                out.push(c);
            }
        };
        if let Some(m) = self.by_path.get(p) {
            for (&c, &flags) in m {
                let fires = flags & (STANDARD | PERSISTENT) != 0
                    || (flags & RECURSIVE != 0 && !children_event);
                if !fires {
                    continue;
                }
                add(c, out);
                if flags & STANDARD != 0 {
                    fired_standard.push(c);
                }
            }
        }
        if !fired_standard.is_empty() {
            for c in fired_standard {
                self.remove(p, c, STANDARD);
            }
            self.shrink();
        }
        if self.recursive > 0 && !children_event {
            let mut cur = p;
            while let Some(parent) = path::parent(cur) {
                if let Some(m) = self.by_path.get(parent) {
                    for (&c, &flags) in m {
                        if flags & RECURSIVE != 0 {
                            add(c, out);
                        }
                    }
                }
                cur = parent;
            }
        }
    }

    fn count(&self) -> usize {
        self.by_path.values().map(|m| m.len()).sum()
    }
}

/// A notification to deliver: connection, event type, path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub conn: ConnId,
    pub event: i32,
    pub path: String,
}

#[derive(Default, Debug)]
pub struct WatchManager {
    data: Table,
    child: Table,
}

impl WatchManager {
    pub fn add_data(&mut self, p: &str, conn: ConnId) {
        self.data.add(p, conn, STANDARD);
    }

    pub fn add_child(&mut self, p: &str, conn: ConnId) {
        self.child.add(p, conn, STANDARD);
    }

    /// addWatch: persistent watches sit in both tables; recursive ones only in the data table
    /// (they never see NodeChildrenChanged).
    pub fn add_persistent(&mut self, p: &str, conn: ConnId, recursive: bool) {
        if recursive {
            self.data.add(p, conn, RECURSIVE);
        } else {
            self.data.add(p, conn, PERSISTENT);
            self.child.add(p, conn, PERSISTENT);
        }
    }

    pub fn remove_conn(&mut self, conn: ConnId) {
        self.data.remove_conn(conn);
        self.child.remove_conn(conn);
    }

    /// (child-table modes, data-table modes) a WatcherType selects.
    fn modes(kind: i32) -> (u8, u8) {
        let all = STANDARD | PERSISTENT | RECURSIVE;
        match kind {
            KIND_CHILDREN => (all, 0),
            KIND_DATA => (0, all),
            KIND_ANY => (all, all),
            KIND_PERSISTENT => (PERSISTENT, PERSISTENT),
            KIND_PERSISTENT_RECURSIVE => (0, RECURSIVE),
            _ => (0, 0),
        }
    }

    /// removeWatches: true if anything was removed.
    pub fn remove(&mut self, p: &str, conn: ConnId, kind: i32) -> bool {
        let (c, d) = Self::modes(kind);
        let a = c != 0 && self.child.remove(p, conn, c);
        let b = d != 0 && self.data.remove(p, conn, d);
        a || b
    }

    pub fn check(&self, p: &str, conn: ConnId, kind: i32) -> bool {
        let (c, d) = Self::modes(kind);
        (c != 0 && self.child.has(p, conn, c)) || (d != 0 && self.data.has(p, conn, d))
    }

    /// Turn a txn's triggers into deliveries, in order.
    pub fn fire(&mut self, triggers: &[Trigger]) -> Vec<Delivery> {
        let mut out = Vec::new();
        let none = HashSet::new();
        for t in triggers {
            let mut conns = Vec::new();
            match t.event {
                event::NODE_CREATED | event::NODE_DATA_CHANGED => {
                    self.data.trigger(&t.path, t.event, &mut conns, &none)
                }
                event::NODE_DELETED => {
                    self.data.trigger(&t.path, t.event, &mut conns, &none);
                    let seen: HashSet<ConnId> = conns.iter().copied().collect();
                    let mut more = Vec::new();
                    self.child.trigger(&t.path, t.event, &mut more, &seen);
                    conns.extend(more);
                }
                event::NODE_CHILDREN_CHANGED => {
                    self.child.trigger(&t.path, t.event, &mut conns, &none)
                }
                _ => {}
            }
            // As ZooKeeper: how many watches each event fired, when it fired any.
            if !conns.is_empty() {
                let m = &crate::metrics::SERVER;
                let s = match t.event {
                    event::NODE_CREATED => Some(&m.node_created_watch_count),
                    event::NODE_DELETED => Some(&m.node_deleted_watch_count),
                    event::NODE_DATA_CHANGED => Some(&m.node_changed_watch_count),
                    event::NODE_CHILDREN_CHANGED => Some(&m.node_children_watch_count),
                    _ => None,
                };
                if let Some(s) = s {
                    s.add(conns.len() as u64);
                }
            }
            out.extend(conns.into_iter().map(|conn| Delivery {
                conn,
                event: t.event,
                path: t.path.clone(),
            }));
        }
        out
    }

    /// (connections, paths, watches) of the data table, as `wchs` reports in 3.8.
    pub fn data_summary(&self) -> (usize, usize, usize) {
        (
            self.data.by_conn.len(),
            self.data.by_path.len(),
            self.data.count(),
        )
    }

    pub fn total(&self) -> usize {
        self.data.count() + self.child.count()
    }

    /// path -> connections of the data table (wchp).
    pub fn data_by_path(&self) -> Vec<(String, Vec<ConnId>)> {
        let mut v: Vec<_> = self
            .data
            .by_path
            .iter()
            .map(|(p, m)| {
                let mut c: Vec<_> = m.keys().copied().collect();
                c.sort();
                (p.clone(), c)
            })
            .collect();
        v.sort();
        v
    }

    /// connection -> paths of the data table (wchc).
    pub fn data_by_conn(&self) -> Vec<(ConnId, Vec<String>)> {
        let mut v: Vec<_> = self
            .data
            .by_conn
            .iter()
            .map(|(c, s)| {
                let mut p: Vec<_> = s.iter().cloned().collect();
                p.sort();
                (*c, p)
            })
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: &str, e: i32) -> Trigger {
        Trigger {
            path: p.into(),
            event: e,
        }
    }

    #[test]
    fn one_shot_fires_once() {
        let mut w = WatchManager::default();
        w.add_data("/a", 1);
        w.add_data("/a", 1);
        let d = w.fire(&[t("/a", event::NODE_DATA_CHANGED)]);
        assert_eq!(d.len(), 1);
        assert!(w.fire(&[t("/a", event::NODE_DATA_CHANGED)]).is_empty());
    }

    #[test]
    fn delete_notifies_once_per_connection() {
        let mut w = WatchManager::default();
        w.add_data("/a", 1);
        w.add_child("/a", 1);
        w.add_child("/a", 2);
        let d = w.fire(&[t("/a", event::NODE_DELETED)]);
        assert_eq!(d.iter().filter(|d| d.conn == 1).count(), 1);
        assert_eq!(d.iter().filter(|d| d.conn == 2).count(), 1);
        assert_eq!(w.total(), 0);
    }

    #[test]
    fn persistent_and_recursive() {
        let mut w = WatchManager::default();
        w.add_persistent("/a", 1, false);
        w.add_persistent("/a", 2, true);
        let d = w.fire(&[
            t("/a/b", event::NODE_CREATED),
            t("/a", event::NODE_CHILDREN_CHANGED),
        ]);
        assert_eq!(
            d,
            vec![
                Delivery {
                    conn: 2,
                    event: event::NODE_CREATED,
                    path: "/a/b".into()
                },
                Delivery {
                    conn: 1,
                    event: event::NODE_CHILDREN_CHANGED,
                    path: "/a".into()
                },
            ]
        );
        let d = w.fire(&[t("/a", event::NODE_DATA_CHANGED)]);
        assert_eq!(d.len(), 2);
        assert_eq!(w.total(), 3);
        assert!(w.remove("/a", 1, KIND_ANY));
        assert!(!w.remove("/a", 1, KIND_ANY));
        w.remove_conn(2);
        assert_eq!(w.total(), 0);
    }

    #[test]
    fn modes_coexist() {
        let mut w = WatchManager::default();
        w.add_child("/a", 1);
        w.add_persistent("/a", 1, true);
        let d = w.fire(&[t("/a", event::NODE_CHILDREN_CHANGED)]);
        assert_eq!(
            d.len(),
            1,
            "the one-shot child watch survives the recursive registration"
        );
        w.add_data("/a", 1);
        w.fire(&[t("/a", event::NODE_DATA_CHANGED)]);
        assert!(
            w.check("/a", 1, KIND_PERSISTENT_RECURSIVE),
            "recursive stays after the one-shot fired"
        );
        assert!(!w.check("/a", 1, KIND_PERSISTENT));
        assert!(w.remove("/a", 1, KIND_PERSISTENT_RECURSIVE));
        assert_eq!(w.total(), 0);
    }
}
