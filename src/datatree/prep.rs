//! Validating writes before they are durable (ZooKeeper's PrepRequestProcessor). A write is
//! checked against the committed tree as changed by the writes still outstanding before it,
//! which this module keeps as an overlay of per-path change records. A validated write becomes
//! a txn; the overlay entry goes away once the txn is applied to the tree, or is rolled back if
//! the txn never becomes durable.

use super::acl::{self, AuthInfo};
use super::node::{NodeKind, StatPersisted, CONTAINER_OWNER, MAX_TTL, TTL_MARK};
use super::path;
use super::tree::DataTree;
use super::txn::TxnOp;
use crate::codec::jute::{op, perms, Acl, WriteOp};
use crate::error::Code;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// Paths that cannot be deleted.
pub const SPECIAL: &[&str] = &["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

/// What prep needs to know of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub stat: StatPersisted,
    pub children: i32,
    pub acl: Arc<Vec<Acl>>,
}

/// Who asks, for ACL checks and ephemeral ownership.
pub struct Caller<'a> {
    pub session: i64,
    pub auth: &'a AuthInfo,
}

/// A path's outstanding changes, oldest first: (zxid, the node after it; `None`: deleted).
type Changes = Vec<(i64, Option<Record>)>;

/// Changes of txns that are validated but not yet applied, newest last per path.
#[derive(Debug, Default)]
pub struct Outstanding {
    /// One allocation of the path, shared with `by_zxid`; aHash (keyed per process, so a
    /// client cannot pick colliding paths) instead of SipHash: prep hashes every write's path.
    changes: HashMap<Arc<str>, Changes, ahash::RandomState>,
    /// The paths each outstanding txn changed, in zxid order (txns are prepared in order).
    by_zxid: VecDeque<(i64, Vec<Arc<str>>)>,
    /// Sessions created / closed by outstanding txns.
    sessions: BTreeMap<i64, (i64, bool)>,
}

impl Outstanding {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.sessions.is_empty()
    }

    fn record(&self, tree: &DataTree, p: &str) -> Option<Record> {
        if let Some(v) = self.changes.get(p).and_then(|v| v.last()) {
            return v.1.clone();
        }
        tree.get(p).map(|n| Record {
            stat: n.stat,
            children: n.children.len() as i32,
            acl: n.acl.clone(),
        })
    }

    fn put(&mut self, zxid: i64, p: &str, r: Option<Record>) {
        let key: Arc<str> = match self.changes.get_key_value(p) {
            Some((k, _)) => k.clone(),
            None => Arc::from(p),
        };
        self.changes.entry(key.clone()).or_default().push((zxid, r));
        match self.by_zxid.back_mut() {
            Some((z, paths)) if *z == zxid => paths.push(key),
            Some((z, _)) if *z > zxid => {
                // Not expected (zxids are prepared in order); kept sorted all the same.
                let at = self.by_zxid.partition_point(|(z, _)| *z <= zxid);
                match self.by_zxid.get_mut(at.wrapping_sub(1)) {
                    Some((z, paths)) if *z == zxid => paths.push(key),
                    _ => self.by_zxid.insert(at, (zxid, vec![key])),
                }
            }
            _ => self.by_zxid.push_back((zxid, vec![key])),
        }
    }

    /// Whether a session exists once the outstanding txns are applied.
    pub fn session_alive(&self, tree: &DataTree, id: i64) -> bool {
        match self.sessions.get(&id) {
            Some((_, alive)) => *alive,
            None => tree.has_session(id),
        }
    }

    /// The txn at `zxid` was applied to the tree: its changes are now visible there.
    pub fn applied(&mut self, zxid: i64) {
        while self.by_zxid.front().is_some_and(|(z, _)| *z <= zxid) {
            let Some((_, paths)) = self.by_zxid.pop_front() else {
                break;
            };
            for p in paths {
                if let Some(v) = self.changes.get_mut(&p) {
                    v.retain(|(cz, _)| *cz > zxid);
                    if v.is_empty() {
                        self.changes.remove(&p);
                    }
                }
            }
        }
        if !self.sessions.is_empty() {
            self.sessions.retain(|_, (z, _)| *z > zxid);
        }
    }

    /// Forget every change at or after `zxid` (a failed multi, or txns that could not be made
    /// durable).
    pub fn rollback(&mut self, zxid: i64) {
        while self.by_zxid.back().is_some_and(|(z, _)| *z >= zxid) {
            let Some((_, paths)) = self.by_zxid.pop_back() else {
                break;
            };
            for p in paths {
                if let Some(v) = self.changes.get_mut(&p) {
                    v.retain(|(cz, _)| *cz < zxid);
                    if v.is_empty() {
                        self.changes.remove(&p);
                    }
                }
            }
        }
        self.sessions.retain(|_, (z, _)| *z < zxid);
    }

    pub fn clear(&mut self) {
        *self = Outstanding::default();
    }
}

/// Prep against a tree and its outstanding changes.
pub struct Prep<'a> {
    pub tree: &'a DataTree,
    pub out: &'a mut Outstanding,
}

impl Prep<'_> {
    fn get(&self, p: &str) -> Option<Record> {
        self.out.record(self.tree, p)
    }

    fn node(&self, p: &str) -> Result<Record, Code> {
        self.get(p).ok_or(Code::NoNode)
    }

    fn check_perm(r: &Record, perm: i32, caller: &Caller) -> Result<(), Code> {
        if acl::check(&r.acl, perm, caller.auth) {
            Ok(())
        } else {
            Err(Code::NoAuth)
        }
    }

    fn check_version(current: i32, expected: i32) -> Result<i32, Code> {
        if expected != -1 && expected != current {
            return Err(Code::BadVersion);
        }
        Ok(current.wrapping_add(1))
    }

    fn extended(&self) -> bool {
        self.tree.config.extended_types
    }

    /// Validate one write at `zxid` and record its changes. On error nothing is recorded.
    pub fn op(
        &mut self,
        w: &WriteOp,
        caller: &Caller,
        zxid: i64,
        time: i64,
    ) -> Result<TxnOp, Code> {
        match w {
            WriteOp::Create(c) => {
                let (ephemeral, sequential, container, ttl_mode) = match c.flags {
                    0 => (false, false, false, false),
                    1 => (true, false, false, false),
                    2 => (false, true, false, false),
                    3 => (true, true, false, false),
                    4 => (false, false, true, false),
                    5 => (false, false, false, true),
                    6 => (false, true, false, true),
                    _ => return Err(Code::BadArguments),
                };
                if ttl_mode && !self.extended() {
                    return Err(Code::Unimplemented);
                }
                if ttl_mode {
                    if c.ttl <= 0 || c.ttl > MAX_TTL {
                        return Err(Code::BadArguments);
                    }
                } else if c.ttl >= 0 && c.opcode == op::CREATE_TTL {
                    return Err(Code::BadArguments);
                }
                let parent_path = match c.path.rfind('/') {
                    Some(0) => "/",
                    Some(i) => &c.path[..i],
                    None => return Err(Code::BadArguments),
                };
                if c.path.contains('\0') {
                    return Err(Code::BadArguments);
                }
                let acl = acl::fixup(&c.acl, caller.auth)?;
                let parent = self.node(parent_path)?;
                Self::check_perm(&parent, perms::CREATE, caller)?;
                let parent_cversion = parent.stat.cversion;
                let full = if sequential {
                    format!("{}{:010}", c.path, parent_cversion)
                } else {
                    c.path.clone()
                };
                path::validate(&full).map_err(|_| Code::BadArguments)?;
                if self.get(&full).is_some() {
                    return Err(Code::NodeExists);
                }
                if let NodeKind::Ephemeral(_) =
                    NodeKind::from_owner(parent.stat.ephemeral_owner, self.extended())
                {
                    return Err(Code::NoChildrenForEphemerals);
                }
                let ephemeral_owner = if ephemeral {
                    caller.session
                } else if container {
                    CONTAINER_OWNER
                } else if ttl_mode {
                    TTL_MARK | c.ttl
                } else {
                    0
                };
                // The txn's type follows the mode, as ZooKeeper's txn types do.
                let opcode = if container {
                    op::CREATE_CONTAINER
                } else if ttl_mode {
                    op::CREATE_TTL
                } else if c.opcode == op::CREATE_CONTAINER || c.opcode == op::CREATE_TTL {
                    op::CREATE2
                } else {
                    c.opcode
                };
                let mut p2 = parent;
                p2.stat.cversion = parent_cversion.wrapping_add(1);
                p2.stat.pzxid = zxid;
                p2.children += 1;
                self.out.put(zxid, parent_path, Some(p2));
                let acl_arc = Arc::new(acl.clone());
                self.out.put(
                    zxid,
                    &full,
                    Some(Record {
                        stat: StatPersisted {
                            czxid: zxid,
                            mzxid: zxid,
                            ctime: time,
                            mtime: time,
                            version: 0,
                            cversion: 0,
                            aversion: 0,
                            ephemeral_owner,
                            pzxid: zxid,
                        },
                        children: 0,
                        acl: acl_arc,
                    }),
                );
                Ok(TxnOp::Create {
                    path: full,
                    data: c.data.clone(),
                    acl,
                    ephemeral_owner,
                    parent_cversion: parent_cversion.wrapping_add(1),
                    opcode,
                })
            }
            WriteOp::Delete { path: p, version } => {
                let parent_path = path::parent(p).ok_or(Code::BadArguments)?;
                if p.contains('\0') || SPECIAL.contains(&p.as_str()) {
                    return Err(Code::BadArguments);
                }
                let parent = self.node(parent_path)?;
                Self::check_perm(&parent, perms::DELETE, caller)?;
                let node = self.node(p)?;
                Self::check_version(node.stat.version, *version)?;
                if node.children > 0 {
                    return Err(Code::NotEmpty);
                }
                self.record_delete(zxid, p, parent_path, parent);
                Ok(TxnOp::Delete { path: p.clone() })
            }
            WriteOp::DeleteContainer { path: p } => {
                if p.contains('\0') || SPECIAL.contains(&p.as_str()) {
                    return Err(Code::BadArguments);
                }
                let parent_path = path::parent(p).ok_or(Code::BadArguments)?;
                let node = self.node(p)?;
                if node.children > 0 {
                    return Err(Code::NotEmpty);
                }
                match NodeKind::from_owner(node.stat.ephemeral_owner, self.extended()) {
                    NodeKind::Container | NodeKind::Ttl(_) => {}
                    _ => return Err(Code::BadArguments),
                }
                let parent = self.node(parent_path)?;
                self.record_delete(zxid, p, parent_path, parent);
                Ok(TxnOp::Delete { path: p.clone() })
            }
            WriteOp::SetData {
                path: p,
                data,
                version,
            } => {
                path::validate(p).map_err(|_| Code::BadArguments)?;
                let mut node = self.node(p)?;
                Self::check_perm(&node, perms::WRITE, caller)?;
                let v = Self::check_version(node.stat.version, *version)?;
                node.stat.version = v;
                node.stat.mzxid = zxid;
                node.stat.mtime = time;
                self.out.put(zxid, p, Some(node));
                Ok(TxnOp::SetData {
                    path: p.clone(),
                    data: data.clone(),
                    version: v,
                })
            }
            WriteOp::SetAcl {
                path: p,
                acl: a,
                version,
            } => {
                path::validate(p).map_err(|_| Code::BadArguments)?;
                let fixed = acl::fixup(a, caller.auth)?;
                let mut node = self.node(p)?;
                Self::check_perm(&node, perms::ADMIN, caller)?;
                let v = Self::check_version(node.stat.aversion, *version)?;
                node.stat.aversion = v;
                node.acl = Arc::new(fixed.clone());
                self.out.put(zxid, p, Some(node));
                Ok(TxnOp::SetAcl {
                    path: p.clone(),
                    acl: fixed,
                    version: v,
                })
            }
            WriteOp::Check { path: p, version } => {
                path::validate(p).map_err(|_| Code::BadArguments)?;
                let node = self.node(p)?;
                Self::check_perm(&node, perms::READ, caller)?;
                let v = Self::check_version(node.stat.version, *version)?;
                Ok(TxnOp::Check {
                    path: p.clone(),
                    version: v,
                })
            }
        }
    }

    fn record_delete(&mut self, zxid: i64, p: &str, parent_path: &str, mut parent: Record) {
        parent.children -= 1;
        if zxid > parent.stat.pzxid {
            parent.stat.pzxid = zxid;
        }
        self.out.put(zxid, parent_path, Some(parent));
        self.out.put(zxid, p, None);
    }

    /// A single write: its txn op, or the error txn of a failed validation.
    pub fn write(&mut self, w: &WriteOp, caller: &Caller, zxid: i64, time: i64) -> TxnOp {
        match self.op(w, caller, zxid, time) {
            Ok(op) => op,
            Err(c) => {
                self.out.rollback(zxid);
                TxnOp::Error { err: c.as_i32() }
            }
        }
    }

    /// A multi: every op validated against the state the earlier ops leave; if one fails, the
    /// whole multi becomes error results (0 before, the error, RuntimeInconsistency after).
    pub fn multi(&mut self, ops: &[WriteOp], caller: &Caller, zxid: i64, time: i64) -> TxnOp {
        let mut txn_ops = Vec::with_capacity(ops.len());
        for (k, w) in ops.iter().enumerate() {
            match self.op(w, caller, zxid, time) {
                Ok(op) => txn_ops.push(op),
                Err(code) => {
                    self.out.rollback(zxid);
                    let errs = (0..ops.len()).map(|i| TxnOp::Error {
                        err: match i.cmp(&k) {
                            std::cmp::Ordering::Less => 0,
                            std::cmp::Ordering::Equal => code.as_i32(),
                            std::cmp::Ordering::Greater => Code::RuntimeInconsistency.as_i32(),
                        },
                    });
                    return TxnOp::Multi(errs.collect());
                }
            }
        }
        TxnOp::Multi(txn_ops)
    }

    pub fn create_session(&mut self, id: i64, zxid: i64) {
        self.out.sessions.insert(id, (zxid, true));
    }

    /// Close a session: its ephemerals (committed or outstanding) are deleted by the txn.
    pub fn close_session(&mut self, id: i64, zxid: i64) {
        let mut paths: HashSet<String> = self
            .tree
            .ephemerals()
            .get(&id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for (p, v) in &self.out.changes {
            if let Some((_, Some(r))) = v.last() {
                if r.stat.ephemeral_owner == id {
                    paths.insert(p.to_string());
                }
            }
        }
        let mut paths: Vec<String> = paths
            .into_iter()
            .filter(|p| self.get(p).is_some_and(|r| r.stat.ephemeral_owner == id))
            .collect();
        paths.sort();
        for p in paths.iter().rev() {
            if let Some(pp) = path::parent(p) {
                if let Some(parent) = self.get(pp) {
                    self.record_delete(zxid, p, pp, parent);
                }
            }
        }
        self.out.sessions.insert(id, (zxid, false));
    }

    /// An internal deletion of an empty container or expired TTL node, if it still qualifies.
    pub fn reap(&mut self, p: &str, zxid: i64, now: i64) -> Option<TxnOp> {
        let r = self.get(p)?;
        if r.children > 0 {
            return None;
        }
        let due = match NodeKind::from_owner(r.stat.ephemeral_owner, self.extended()) {
            NodeKind::Container => r.stat.cversion > 0,
            NodeKind::Ttl(ttl) => now - r.stat.mtime > ttl,
            _ => false,
        };
        if !due {
            return None;
        }
        let parent_path = path::parent(p)?;
        let parent = self.get(parent_path)?;
        self.record_delete(zxid, p, parent_path, parent);
        Some(TxnOp::Delete {
            path: p.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::jute::CreateRequest;
    use crate::datatree::tree::{OpResult, TreeConfig};
    use crate::datatree::txn::Txn;

    fn create(path: &str, flags: i32) -> WriteOp {
        WriteOp::Create(CreateRequest {
            opcode: op::CREATE2,
            path: path.into(),
            data: Some(b"d".to_vec()),
            acl: Acl::world_all(),
            flags,
            ttl: -1,
        })
    }

    fn txn(zxid: i64, op: TxnOp) -> Txn {
        Txn {
            session: 7,
            cxid: 0,
            zxid,
            time: 1000,
            op: op.into(),
        }
    }

    /// Prep at `zxid` and apply at once.
    fn run(t: &mut DataTree, o: &mut Outstanding, w: &WriteOp, zxid: i64) -> OpResult {
        let auth = AuthInfo::for_ip("127.0.0.1");
        let c = Caller {
            session: 7,
            auth: &auth,
        };
        let op = Prep { tree: t, out: o }.write(w, &c, zxid, 1000);
        let r = t.apply(&txn(zxid, op)).0;
        o.applied(zxid);
        r
    }

    #[test]
    fn outstanding_changes_are_seen_by_later_writes() {
        let t = DataTree::default();
        let mut o = Outstanding::default();
        let auth = AuthInfo::for_ip("127.0.0.1");
        let c = Caller {
            session: 7,
            auth: &auth,
        };
        let mut p = Prep {
            tree: &t,
            out: &mut o,
        };
        assert!(matches!(
            p.write(&create("/a", 0), &c, 1, 0),
            TxnOp::Create { .. }
        ));
        // Not applied yet: a second create of /a must fail, a child of /a must succeed.
        assert_eq!(
            p.write(&create("/a", 0), &c, 2, 0),
            TxnOp::Error { err: -110 }
        );
        assert!(matches!(
            p.write(&create("/a/b", 0), &c, 3, 0),
            TxnOp::Create { .. }
        ));
        let del = WriteOp::Delete {
            path: "/a".into(),
            version: -1,
        };
        assert_eq!(p.write(&del, &c, 4, 0), TxnOp::Error { err: -111 });
        match p.write(&create("/a/s-", 2), &c, 5, 0) {
            TxnOp::Create { path, .. } => assert_eq!(path, "/a/s-0000000001"),
            other => panic!("{other:?}"),
        }
        o.rollback(3);
        let mut p = Prep {
            tree: &t,
            out: &mut o,
        };
        assert!(matches!(p.write(&del, &c, 3, 0), TxnOp::Delete { .. }));
    }

    #[test]
    fn applied_changes_leave_the_overlay() {
        let mut t = DataTree::default();
        let mut o = Outstanding::default();
        run(&mut t, &mut o, &create("/a", 0), 1);
        assert!(o.is_empty());
        assert!(t.get("/a").is_some());
    }

    #[test]
    fn multi_validates_in_sequence_and_rolls_back() {
        let t = DataTree::default();
        let mut o = Outstanding::default();
        let auth = AuthInfo::for_ip("127.0.0.1");
        let c = Caller {
            session: 7,
            auth: &auth,
        };
        let mut p = Prep {
            tree: &t,
            out: &mut o,
        };
        let ops = vec![
            create("/m", 0),
            create("/m/1", 0),
            WriteOp::Check {
                path: "/m".into(),
                version: 5,
            },
        ];
        assert_eq!(
            p.multi(&ops, &c, 1, 0),
            TxnOp::Multi(vec![
                TxnOp::Error { err: 0 },
                TxnOp::Error { err: 0 },
                TxnOp::Error { err: -103 }
            ])
        );
        assert!(o.is_empty());
        let mut p = Prep {
            tree: &t,
            out: &mut o,
        };
        let ops = vec![
            create("/m", 0),
            create("/m/1", 0),
            WriteOp::Check {
                path: "/m".into(),
                version: 0,
            },
        ];
        assert!(
            matches!(p.multi(&ops, &c, 2, 0), TxnOp::Multi(v) if v.len() == 3 && !v[0].is_error())
        );
    }

    #[test]
    fn close_session_deletes_outstanding_ephemerals() {
        let mut t = DataTree::default();
        t.create_session(7, 30000, 1);
        let mut o = Outstanding::default();
        run(&mut t, &mut o, &create("/e1", 1), 2);
        let auth = AuthInfo::for_ip("127.0.0.1");
        let c = Caller {
            session: 7,
            auth: &auth,
        };
        let mut p = Prep {
            tree: &t,
            out: &mut o,
        };
        p.write(&create("/e2", 1), &c, 3, 0);
        p.close_session(7, 4);
        assert!(!o.session_alive(&t, 7));
        let p = Prep {
            tree: &t,
            out: &mut o,
        };
        assert!(p.get("/e1").is_none());
        assert!(p.get("/e2").is_none());
        assert_eq!(p.get("/").unwrap().children, 1);
    }

    #[test]
    fn ttl_needs_extended_types() {
        let mut t = DataTree::new(TreeConfig {
            extended_types: false,
        });
        let mut o = Outstanding::default();
        let ttl = WriteOp::Create(CreateRequest {
            opcode: op::CREATE_TTL,
            path: "/t".into(),
            data: None,
            acl: Acl::world_all(),
            flags: 5,
            ttl: 100,
        });
        assert_eq!(
            run(&mut t, &mut o, &ttl, 1),
            OpResult::Error(Code::Unimplemented.as_i32())
        );
    }
}
