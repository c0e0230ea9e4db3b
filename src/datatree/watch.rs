//! Watches: per-connection registrations on paths, in a data table and a child table, with
//! ZooKeeper 3.8's trigger rules for one-shot, persistent and persistent-recursive modes.

use super::path;
use super::tree::Trigger;
use crate::codec::jute::event;
use std::collections::{HashMap, HashSet};

pub type ConnId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Standard,
    Persistent,
    PersistentRecursive,
}

/// RemoveWatches / CheckWatches kinds (WatcherType).
pub const KIND_CHILDREN: i32 = 1;
pub const KIND_DATA: i32 = 2;
pub const KIND_ANY: i32 = 3;

#[derive(Default, Debug)]
struct Table {
    by_path: HashMap<String, HashMap<ConnId, Mode>>,
    by_conn: HashMap<ConnId, HashSet<String>>,
    recursive: usize,
}

impl Table {
    fn add(&mut self, p: &str, conn: ConnId, mode: Mode) {
        let prev = self.by_path.entry(p.to_string()).or_default().insert(conn, mode);
        if prev == Some(Mode::PersistentRecursive) {
            self.recursive -= 1;
        }
        if mode == Mode::PersistentRecursive {
            self.recursive += 1;
        }
        self.by_conn.entry(conn).or_default().insert(p.to_string());
    }

    fn remove(&mut self, p: &str, conn: ConnId) -> bool {
        let Some(m) = self.by_path.get_mut(p) else {
            return false;
        };
        let Some(mode) = m.remove(&conn) else {
            return false;
        };
        if mode == Mode::PersistentRecursive {
            self.recursive -= 1;
        }
        if m.is_empty() {
            self.by_path.remove(p);
        }
        if let Some(s) = self.by_conn.get_mut(&conn) {
            s.remove(p);
            if s.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
        true
    }

    fn has(&self, p: &str, conn: ConnId) -> bool {
        self.by_path.get(p).is_some_and(|m| m.contains_key(&conn))
    }

    fn remove_conn(&mut self, conn: ConnId) {
        if let Some(paths) = self.by_conn.remove(&conn) {
            for p in paths {
                if let Some(m) = self.by_path.get_mut(&p) {
                    if m.remove(&conn) == Some(Mode::PersistentRecursive) {
                        self.recursive -= 1;
                    }
                    if m.is_empty() {
                        self.by_path.remove(&p);
                    }
                }
            }
        }
    }

    /// Connections to notify for `ev` on `p`, removing fired one-shot watches.
    fn trigger(&mut self, p: &str, ev: i32, out: &mut Vec<ConnId>, skip: &HashSet<ConnId>) {
        let mut fired_standard = Vec::new();
        if let Some(m) = self.by_path.get(p) {
            for (&c, &mode) in m {
                if mode == Mode::PersistentRecursive && ev == event::NODE_CHILDREN_CHANGED {
                    continue;
                }
                if !skip.contains(&c) && !out.contains(&c) {
                    out.push(c);
                }
                if mode == Mode::Standard {
                    fired_standard.push(c);
                }
            }
        }
        for c in fired_standard {
            self.remove(p, c);
        }
        if self.recursive > 0 && ev != event::NODE_CHILDREN_CHANGED {
            let mut cur = p;
            while let Some(parent) = path::parent(cur) {
                if let Some(m) = self.by_path.get(parent) {
                    for (&c, &mode) in m {
                        if mode == Mode::PersistentRecursive && !skip.contains(&c) && !out.contains(&c) {
                            out.push(c);
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
        self.data.add(p, conn, Mode::Standard);
    }

    pub fn add_child(&mut self, p: &str, conn: ConnId) {
        self.child.add(p, conn, Mode::Standard);
    }

    /// addWatch: a persistent mode on both tables (3.8 registers recursive ones on both too).
    pub fn add_persistent(&mut self, p: &str, conn: ConnId, recursive: bool) {
        let mode = if recursive {
            Mode::PersistentRecursive
        } else {
            Mode::Persistent
        };
        self.data.add(p, conn, mode);
        self.child.add(p, conn, mode);
    }

    pub fn remove_conn(&mut self, conn: ConnId) {
        self.data.remove_conn(conn);
        self.child.remove_conn(conn);
    }

    /// removeWatches: true if anything was removed.
    pub fn remove(&mut self, p: &str, conn: ConnId, kind: i32) -> bool {
        let mut any = false;
        if kind == KIND_CHILDREN || kind == KIND_ANY {
            any |= self.child.remove(p, conn);
        }
        if kind == KIND_DATA || kind == KIND_ANY {
            any |= self.data.remove(p, conn);
        }
        any
    }

    pub fn check(&self, p: &str, conn: ConnId, kind: i32) -> bool {
        (kind == KIND_CHILDREN || kind == KIND_ANY) && self.child.has(p, conn)
            || (kind == KIND_DATA || kind == KIND_ANY) && self.data.has(p, conn)
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
                event::NODE_CHILDREN_CHANGED => self.child.trigger(&t.path, t.event, &mut conns, &none),
                _ => {}
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
        (self.data.by_conn.len(), self.data.by_path.len(), self.data.count())
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
        Trigger { path: p.into(), event: e }
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
        let d = w.fire(&[t("/a/b", event::NODE_CREATED), t("/a", event::NODE_CHILDREN_CHANGED)]);
        assert_eq!(
            d,
            vec![
                Delivery { conn: 2, event: event::NODE_CREATED, path: "/a/b".into() },
                Delivery { conn: 1, event: event::NODE_CHILDREN_CHANGED, path: "/a".into() },
            ]
        );
        let d = w.fire(&[t("/a", event::NODE_DATA_CHANGED)]);
        assert_eq!(d.len(), 2);
        assert_eq!(w.total(), 4);
        assert!(w.remove("/a", 1, KIND_ANY));
        assert!(!w.remove("/a", 1, KIND_ANY));
        w.remove_conn(2);
        assert_eq!(w.total(), 0);
    }
}
