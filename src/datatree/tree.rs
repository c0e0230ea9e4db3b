//! The replicated state: znodes, sessions and their ephemerals. `prep_*` validate a write against
//! the current tree and return a txn; `apply` executes a txn. Both are pure and deterministic.

use super::acl;
use super::node::{Node, NodeKind, StatPersisted};
use super::path;
use super::prep::SPECIAL;
use super::txn::{Txn, TxnOp};
use crate::codec::jute::{Acl, Stat};
use crate::error::Code;
use compact_str::CompactString;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Fewest distinct ACL lists kept before unused ones are purged.
const ACL_PURGE_MIN: usize = 64;

/// A watch trigger produced by applying a txn: event type on a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub path: String,
    pub event: i32,
}

/// Outcome of one applied operation, enough to build its reply.
#[derive(Debug, Clone, PartialEq)]
pub enum OpResult {
    Created {
        path: String,
        stat: Stat,
        opcode: i32,
    },
    Deleted,
    SetData {
        stat: Stat,
    },
    SetAcl {
        stat: Stat,
    },
    Checked,
    Error(i32),
    SessionCreated,
    SessionClosed,
    Multi(Vec<OpResult>),
}

/// Settings that change how writes are validated.
#[derive(Debug, Clone, Default)]
pub struct TreeConfig {
    pub extended_types: bool,
}

/// A node as stored in a snapshot: path, data, ACL, stat.
pub type NodeParts = (String, Option<Vec<u8>>, Arc<Vec<Acl>>, StatPersisted);

#[derive(Debug, Clone)]
pub struct DataTree {
    /// By path; paths of up to 24 bytes are stored inline.
    /// aHash, keyed per process (a client cannot choose colliding paths), instead of SipHash:
    /// every read and write hashes its path here.
    nodes: HashMap<CompactString, Node, ahash::RandomState>,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    sessions: HashMap<i64, i32>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    /// Every distinct ACL list in use, shared by the nodes that carry it (as ZooKeeper's ACL
    /// cache): most trees use a handful, and a list per node cost ~170 bytes each.
    /// Every distinct ACL once (nodes share them); hashed once per created or loaded node.
    acls: HashSet<Arc<Vec<Acl>>, ahash::RandomState>,
    /// Lists only this set still holds are dropped when it grows past this.
    acl_purge_at: usize,
    pub last_zxid: i64,
    pub config: TreeConfig,
    approx_data_size: i64,
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new(TreeConfig::default())
    }
}

impl DataTree {
    pub fn new(config: TreeConfig) -> Self {
        let mut t = DataTree {
            nodes: HashMap::default(),
            ephemerals: HashMap::new(),
            sessions: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            acls: HashSet::default(),
            acl_purge_at: ACL_PURGE_MIN,
            last_zxid: 0,
            config,
            approx_data_size: 0,
        };
        let world = t.intern_acl(&Acl::world_all());
        // The built-in nodes hold empty (not null) data, as in ZooKeeper.
        let mut root = Node::new(Some(Vec::new()), world.clone(), StatPersisted::default());
        root.children.insert("zookeeper");
        let mut zk = Node::new(Some(Vec::new()), world.clone(), StatPersisted::default());
        zk.children.insert("quota");
        zk.children.insert("config");
        t.nodes.insert("/".into(), root);
        t.nodes.insert("/zookeeper".into(), zk);
        t.nodes.insert(
            "/zookeeper/quota".into(),
            Node::new(Some(Vec::new()), world, StatPersisted::default()),
        );
        // ZooKeeper creates the config node with aversion -1.
        let config_stat = StatPersisted {
            aversion: -1,
            ..Default::default()
        };
        let read_only = t.intern_acl(&acl::read_unsafe());
        t.nodes.insert(
            "/zookeeper/config".into(),
            Node::new(Some(Vec::new()), read_only, config_stat),
        );
        t
    }

    // ---------- reads ----------

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn approximate_data_size(&self) -> i64 {
        self.approx_data_size
    }

    pub fn sessions(&self) -> &HashMap<i64, i32> {
        &self.sessions
    }

    pub fn has_session(&self, id: i64) -> bool {
        self.sessions.contains_key(&id)
    }

    pub fn ephemerals(&self) -> &HashMap<i64, BTreeSet<String>> {
        &self.ephemerals
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    pub fn ephemerals_of(&self, session: i64, prefix: &str) -> Vec<String> {
        let Some(set) = self.ephemerals.get(&session) else {
            return Vec::new();
        };
        if prefix.is_empty() || prefix == "/" {
            return set.iter().cloned().collect();
        }
        set.iter()
            .filter(|p| p.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Number of nodes below `path`, not counting it.
    pub fn descendants(&self, path: &str) -> usize {
        let mut count = 0;
        let mut stack = vec![path.to_string()];
        while let Some(p) = stack.pop() {
            if let Some(n) = self.nodes.get(p.as_str()) {
                for c in &n.children {
                    count += 1;
                    stack.push(path::join(&p, c));
                }
            }
        }
        count
    }

    /// Containers and TTL nodes that the reaper should delete now.
    pub fn reapable(&self, now: i64) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.containers {
            if let Some(n) = self.nodes.get(p.as_str()) {
                if n.children.is_empty() && n.stat.cversion > 0 {
                    out.push(p.clone());
                }
            }
        }
        if self.config.extended_types {
            for p in &self.ttls {
                if let Some(n) = self.nodes.get(p.as_str()) {
                    if let NodeKind::Ttl(ttl) = n.kind(true) {
                        if n.children.is_empty() && now - n.stat.mtime > ttl {
                            out.push(p.clone());
                        }
                    }
                }
            }
        }
        out
    }

    /// All nodes, for snapshots and dumps.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(p, n)| (p.as_str(), n))
    }

    /// Rebuild a tree from snapshot contents: nodes (parents before children), sessions and
    /// the zxid the snapshot covers.
    pub fn from_parts(
        config: TreeConfig,
        nodes: Vec<NodeParts>,
        sessions: Vec<(i64, i32)>,
        zxid: i64,
    ) -> Result<DataTree, String> {
        let mut t = DataTree::new(config);
        t.nodes.clear();
        // Sized once: a million nodes otherwise rehash the table some twenty times.
        t.nodes.reserve(nodes.len());
        t.approx_data_size = 0;
        for (p, data, acl, stat) in nodes {
            if p != "/" {
                let parent =
                    path::parent(&p).ok_or_else(|| format!("invalid path {p:?} in snapshot"))?;
                let pn = t
                    .nodes
                    .get_mut(parent)
                    .ok_or_else(|| format!("snapshot holds {p} but not its parent"))?;
                pn.children.insert(path::name(&p));
                t.index(&p, stat.ephemeral_owner);
            }
            let n = Node::new(data, t.intern_acl(&acl), stat);
            t.approx_data_size += (p.len() + n.data_len() as usize) as i64;
            t.nodes.insert(p.into(), n);
        }
        if !t.nodes.contains_key("/") {
            return Err("snapshot has no root node".into());
        }
        t.sessions = sessions.into_iter().collect();
        t.last_zxid = zxid;
        Ok(t)
    }

    /// The nodes below `dir` whose names come after `after`, in name order: a cursor for
    /// walking the tree in pieces while it changes (fuzzy snapshots).
    pub fn next_child(&self, dir: &str, after: Option<&str>) -> Option<String> {
        let n = self.nodes.get(dir)?;
        match after {
            None => n.children.iter().next().map(|c| c.to_string()),
            Some(a) => n.children.after(a).next().map(|c| c.to_string()),
        }
    }

    // ---------- apply ----------

    /// Apply a logged or replicated txn. Errors (e.g. replaying a create that is already there)
    /// are tolerated and reported in the result.
    pub fn apply(&mut self, txn: &Txn) -> (OpResult, Vec<Trigger>) {
        let mut triggers = Vec::new();
        let r = match &*txn.op {
            TxnOp::CreateSession { timeout } => {
                self.sessions.insert(txn.session, *timeout);
                OpResult::SessionCreated
            }
            TxnOp::CloseSession => {
                self.close_session(txn.session, txn.zxid, &mut triggers);
                OpResult::SessionClosed
            }
            op => self
                .apply_op(op, txn.zxid, txn.time, &mut triggers)
                .unwrap_or_else(|c| OpResult::Error(c.as_i32())),
        };
        self.last_zxid = self.last_zxid.max(txn.zxid);
        (r, triggers)
    }

    /// Remove a session and its ephemerals; returns the deleted paths' triggers.
    pub fn close_session(&mut self, session: i64, zxid: i64, triggers: &mut Vec<Trigger>) {
        self.sessions.remove(&session);
        if let Some(paths) = self.ephemerals.remove(&session) {
            for p in paths.iter().rev() {
                let _ = self.delete_node(p, zxid, triggers);
            }
        }
        self.last_zxid = self.last_zxid.max(zxid);
    }

    pub fn create_session(&mut self, session: i64, timeout: i32, zxid: i64) {
        self.sessions.insert(session, timeout);
        self.last_zxid = self.last_zxid.max(zxid);
    }

    fn apply_op(
        &mut self,
        op: &TxnOp,
        zxid: i64,
        time: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<OpResult, Code> {
        let result = match op {
            TxnOp::Create {
                path: p,
                data,
                acl,
                ephemeral_owner,
                parent_cversion,
                opcode,
            } => {
                let parent_path = path::parent(p).ok_or(Code::BadArguments)?;
                let exists = self.nodes.contains_key(p.as_str());
                let parent = self.nodes.get_mut(parent_path).ok_or(Code::NoNode)?;
                if exists {
                    // Replaying over a fuzzy snapshot: the node is there, but the parent may
                    // not have seen this create yet.
                    if *parent_cversion > parent.stat.cversion {
                        parent.stat.cversion = *parent_cversion;
                        parent.stat.pzxid = zxid;
                    }
                    return Err(Code::NodeExists);
                }
                parent.children.insert(path::name(p));
                if *parent_cversion > parent.stat.cversion {
                    parent.stat.cversion = *parent_cversion;
                    parent.stat.pzxid = zxid;
                }
                let stat = StatPersisted {
                    czxid: zxid,
                    mzxid: zxid,
                    ctime: time,
                    mtime: time,
                    version: 0,
                    cversion: 0,
                    aversion: 0,
                    ephemeral_owner: *ephemeral_owner,
                    pzxid: zxid,
                };
                let acl = self.intern_acl(acl);
                let node = Node::new(data.clone(), acl, stat);
                let client = node.client_stat();
                self.approx_data_size += (p.len() + node.data_len() as usize) as i64;
                self.index(p, *ephemeral_owner);
                self.nodes.insert(p.as_str().into(), node);
                triggers.push(Trigger {
                    path: p.clone(),
                    event: crate::codec::jute::event::NODE_CREATED,
                });
                triggers.push(Trigger {
                    path: parent_path.to_string(),
                    event: crate::codec::jute::event::NODE_CHILDREN_CHANGED,
                });
                OpResult::Created {
                    path: p.clone(),
                    stat: client,
                    opcode: *opcode,
                }
            }
            TxnOp::Delete { path: p } => {
                self.delete_node(p, zxid, triggers)?;
                OpResult::Deleted
            }
            TxnOp::SetData {
                path: p,
                data,
                version,
            } => {
                let n = self.nodes.get_mut(p.as_str()).ok_or(Code::NoNode)?;
                self.approx_data_size +=
                    data.as_ref().map_or(0, |d| d.len() as i64) - n.data_len() as i64;
                n.set_data(data.clone());
                n.stat.version = *version;
                n.stat.mzxid = zxid;
                n.stat.mtime = time;
                let stat = n.client_stat();
                triggers.push(Trigger {
                    path: p.clone(),
                    event: crate::codec::jute::event::NODE_DATA_CHANGED,
                });
                OpResult::SetData { stat }
            }
            TxnOp::SetAcl {
                path: p,
                acl,
                version,
            } => {
                // A list interned for a missing node is dropped with the next purge.
                let acl = self.intern_acl(acl);
                let n = self.nodes.get_mut(p.as_str()).ok_or(Code::NoNode)?;
                n.acl = acl;
                n.stat.aversion = *version;
                OpResult::SetAcl {
                    stat: n.client_stat(),
                }
            }
            TxnOp::Check { .. } => OpResult::Checked,
            TxnOp::Error { err } => OpResult::Error(*err),
            TxnOp::Multi(ops) => {
                let mut rs = Vec::with_capacity(ops.len());
                for o in ops {
                    rs.push(
                        self.apply_op(o, zxid, time, triggers)
                            .unwrap_or_else(|c| OpResult::Error(c.as_i32())),
                    );
                }
                OpResult::Multi(rs)
            }
            TxnOp::CreateSession { .. } | TxnOp::CloseSession => return Err(Code::BadArguments),
        };
        Ok(result)
    }

    fn index(&mut self, p: &str, owner: i64) {
        match NodeKind::from_owner(owner, self.config.extended_types) {
            NodeKind::Ephemeral(s) => {
                self.ephemerals.entry(s).or_default().insert(p.to_string());
            }
            NodeKind::Container => {
                self.containers.insert(p.to_string());
            }
            NodeKind::Ttl(_) => {
                self.ttls.insert(p.to_string());
            }
            NodeKind::Persistent => {}
        }
    }

    fn unindex(&mut self, p: &str, owner: i64) {
        match NodeKind::from_owner(owner, self.config.extended_types) {
            NodeKind::Ephemeral(s) => {
                if let Some(set) = self.ephemerals.get_mut(&s) {
                    set.remove(p);
                    if set.is_empty() {
                        self.ephemerals.remove(&s);
                    }
                }
            }
            NodeKind::Container => {
                self.containers.remove(p);
            }
            NodeKind::Ttl(_) => {
                self.ttls.remove(p);
            }
            NodeKind::Persistent => {}
        }
    }

    /// The shared copy of an ACL list.
    pub fn intern_acl(&mut self, acl: &Vec<Acl>) -> Arc<Vec<Acl>> {
        if let Some(a) = self.acls.get(acl) {
            return a.clone();
        }
        if self.acls.len() >= self.acl_purge_at {
            self.acls.retain(|a| Arc::strong_count(a) > 1);
            self.acl_purge_at = (self.acls.len() * 2).max(ACL_PURGE_MIN);
        }
        let a = Arc::new(acl.clone());
        self.acls.insert(a.clone());
        a
    }

    fn delete_node(
        &mut self,
        p: &str,
        zxid: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Node, Code> {
        let parent_path = path::parent(p).ok_or(Code::BadArguments)?;
        if SPECIAL.contains(&p) {
            return Err(Code::BadArguments);
        }
        let node = self.nodes.remove(p).ok_or(Code::NoNode)?;
        if let Some(parent) = self.nodes.get_mut(parent_path) {
            parent.children.remove(path::name(p));
            if zxid > parent.stat.pzxid {
                parent.stat.pzxid = zxid;
            }
        }
        self.approx_data_size -= (p.len() + node.data_len() as usize) as i64;
        self.unindex(p, node.stat.ephemeral_owner);
        triggers.push(Trigger {
            path: p.to_string(),
            event: crate::codec::jute::event::NODE_DELETED,
        });
        triggers.push(Trigger {
            path: parent_path.to_string(),
            event: crate::codec::jute::event::NODE_CHILDREN_CHANGED,
        });
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::jute::{op, perms, CreateRequest, WriteOp};
    use crate::datatree::acl::AuthInfo;
    use crate::datatree::prep::{Caller, Outstanding, Prep};

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

    fn prep_apply(t: &mut DataTree, w: &WriteOp, zxid: i64) -> (Txn, OpResult, Vec<Trigger>) {
        let auth = AuthInfo::for_ip("127.0.0.1");
        let c = Caller {
            session: 7,
            auth: &auth,
        };
        let mut o = Outstanding::default();
        let op = Prep {
            tree: t,
            out: &mut o,
        }
        .write(w, &c, zxid, 1000);
        let txn = Txn {
            session: 7,
            cxid: 1,
            zxid,
            time: 1000,
            op: op.into(),
        };
        let (r, trig) = t.apply(&txn);
        (txn, r, trig)
    }

    fn run(t: &mut DataTree, w: &WriteOp, zxid: i64) -> OpResult {
        prep_apply(t, w, zxid).1
    }

    #[test]
    fn fresh_tree_matches_zookeeper() {
        let t = DataTree::default();
        assert_eq!(t.node_count(), 4);
        assert_eq!(t.get("/").unwrap().client_stat().cversion, -1);
        assert_eq!(t.get("/zookeeper").unwrap().client_stat().num_children, 2);
        assert_eq!(t.descendants("/"), 3);
    }

    /// Nodes with equal ACL lists share one copy; lists no node uses any more are dropped.
    #[test]
    fn acl_lists_are_shared() {
        let mut t = DataTree::default();
        let digest = |i: usize| {
            vec![Acl {
                perms: perms::ALL,
                id: crate::codec::jute::Id {
                    scheme: "digest".into(),
                    id: format!("u{i}:x"),
                },
            }]
        };
        let mut zxid = 1;
        let mut mk = |t: &mut DataTree, p: &str, acl: Vec<Acl>| {
            zxid += 1;
            let (r, _) = t.apply(&Txn {
                session: 1,
                cxid: 0,
                zxid,
                time: 0,
                op: TxnOp::Create {
                    path: p.into(),
                    data: None,
                    acl,
                    ephemeral_owner: 0,
                    parent_cversion: 0,
                    opcode: op::CREATE,
                }
                .into(),
            });
            assert!(matches!(r, OpResult::Created { .. }), "{r:?}");
        };
        mk(&mut t, "/a", Acl::world_all());
        mk(&mut t, "/b", Acl::world_all());
        assert!(Arc::ptr_eq(
            &t.get("/a").unwrap().acl,
            &t.get("/b").unwrap().acl
        ));
        assert!(Arc::ptr_eq(
            &t.get("/a").unwrap().acl,
            &t.get("/").unwrap().acl
        ));
        // Many one-off lists, each deleted again: the set does not keep them all.
        for i in 0..1000 {
            let p = format!("/d{i}");
            mk(&mut t, &p, digest(i));
            let (r, _) = t.apply(&Txn {
                session: 1,
                cxid: 0,
                zxid: 10_000 + i as i64,
                time: 0,
                op: TxnOp::Delete { path: p }.into(),
            });
            assert_eq!(r, OpResult::Deleted);
        }
        assert!(t.acls.len() <= 2 * ACL_PURGE_MIN, "{}", t.acls.len());
        assert_eq!(t.get("/b").unwrap().acl.as_slice(), Acl::world_all());
    }

    #[test]
    fn create_stat_and_parent() {
        let mut t = DataTree::default();
        match run(&mut t, &create("/a", 0), 5) {
            OpResult::Created { path, stat, .. } => {
                assert_eq!(path, "/a");
                assert_eq!((stat.czxid, stat.mzxid, stat.pzxid), (5, 5, 5));
                assert_eq!(stat.data_length, 1);
            }
            r => panic!("{r:?}"),
        }
        let root = t.get("/").unwrap().client_stat();
        assert_eq!((root.cversion, root.pzxid, root.num_children), (0, 5, 2));
        assert_eq!(
            run(&mut t, &create("/a", 0), 6),
            OpResult::Error(Code::NodeExists.as_i32())
        );
        assert_eq!(
            run(&mut t, &create("/x/y", 0), 7),
            OpResult::Error(Code::NoNode.as_i32())
        );
        assert_eq!(
            run(&mut t, &create("/a/", 0), 8),
            OpResult::Error(Code::BadArguments.as_i32())
        );
        assert_eq!(
            run(&mut t, &create("/a", 9), 8),
            OpResult::Error(Code::BadArguments.as_i32())
        );
    }

    #[test]
    fn sequential_names_use_parent_cversion() {
        let mut t = DataTree::default();
        run(&mut t, &create("/q", 0), 1);
        run(&mut t, &create("/q/other", 0), 2);
        match run(&mut t, &create("/q/n-", 2), 3) {
            OpResult::Created { path, .. } => assert_eq!(path, "/q/n-0000000001"),
            r => panic!("{r:?}"),
        }
        match run(&mut t, &create("/q/", 2), 4) {
            OpResult::Created { path, .. } => assert_eq!(path, "/q/0000000002"),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn ephemerals_and_sessions() {
        let mut t = DataTree::default();
        t.create_session(7, 30000, 1);
        run(&mut t, &create("/e", 1), 2);
        assert_eq!(t.get("/e").unwrap().client_stat().ephemeral_owner, 7);
        assert_eq!(
            run(&mut t, &create("/e/c", 0), 3),
            OpResult::Error(Code::NoChildrenForEphemerals.as_i32())
        );
        assert_eq!(t.ephemerals_of(7, "/"), vec!["/e".to_string()]);
        let mut trig = Vec::new();
        t.close_session(7, 4, &mut trig);
        assert!(t.get("/e").is_none());
        assert_eq!(
            trig[0],
            Trigger {
                path: "/e".into(),
                event: 2
            }
        );
        assert!(!t.has_session(7));
    }

    #[test]
    fn delete_rules() {
        let mut t = DataTree::default();
        run(&mut t, &create("/a", 0), 1);
        run(&mut t, &create("/a/b", 0), 2);
        let del = |p: &str, v| WriteOp::Delete {
            path: p.into(),
            version: v,
        };
        assert_eq!(
            run(&mut t, &del("/a", -1), 3),
            OpResult::Error(Code::NotEmpty.as_i32())
        );
        assert_eq!(
            run(&mut t, &del("/a/b", 5), 4),
            OpResult::Error(Code::BadVersion.as_i32())
        );
        assert_eq!(run(&mut t, &del("/a/b", 0), 5), OpResult::Deleted);
        assert_eq!(
            run(&mut t, &del("/zookeeper", -1), 6),
            OpResult::Error(Code::BadArguments.as_i32())
        );
        let a = t.get("/a").unwrap().client_stat();
        assert_eq!((a.cversion, a.pzxid, a.num_children), (2, 5, 0));
    }

    #[test]
    fn set_data_versions() {
        let mut t = DataTree::default();
        run(&mut t, &create("/a", 0), 1);
        let set = |v| WriteOp::SetData {
            path: "/a".into(),
            data: None,
            version: v,
        };
        assert_eq!(
            run(&mut t, &set(3), 2),
            OpResult::Error(Code::BadVersion.as_i32())
        );
        match run(&mut t, &set(0), 3) {
            OpResult::SetData { stat } => {
                assert_eq!((stat.version, stat.mzxid, stat.data_length), (1, 3, 0))
            }
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn replay_is_idempotent() {
        let mut a = DataTree::default();
        let (t1, _, _) = prep_apply(&mut a, &create("/a", 0), 1);
        let (t2, _, _) = prep_apply(&mut a, &create("/a/b", 2), 2);
        let mut b = DataTree::default();
        for t in [&t1, &t2, &t1, &t2] {
            b.apply(t);
        }
        assert_eq!(a.get("/a").unwrap(), b.get("/a").unwrap());
        assert_eq!(a.node_count(), b.node_count());
    }

    #[test]
    fn containers_and_ttl_reaping() {
        let mut t = DataTree::new(TreeConfig {
            extended_types: true,
        });
        let mut c = match create("/c", 4) {
            WriteOp::Create(c) => c,
            _ => unreachable!(),
        };
        c.opcode = op::CREATE_CONTAINER;
        run(&mut t, &WriteOp::Create(c), 1);
        assert!(t.reapable(0).is_empty());
        run(&mut t, &create("/c/x", 0), 2);
        run(
            &mut t,
            &WriteOp::Delete {
                path: "/c/x".into(),
                version: -1,
            },
            3,
        );
        assert_eq!(t.reapable(0), vec!["/c".to_string()]);
        let ttl = WriteOp::Create(CreateRequest {
            opcode: op::CREATE_TTL,
            path: "/t".into(),
            data: None,
            acl: Acl::world_all(),
            flags: 5,
            ttl: 100,
        });
        run(&mut t, &ttl, 4);
        assert_eq!(t.get("/t").unwrap().client_stat().ephemeral_owner, 0);
        assert!(!t.reapable(1050).contains(&"/t".to_string()));
        assert!(t.reapable(1101).contains(&"/t".to_string()));
        let mut off = DataTree::default();
        assert_eq!(
            run(&mut off, &ttl, 1),
            OpResult::Error(Code::Unimplemented.as_i32())
        );
    }

    #[test]
    fn acl_enforced() {
        let mut t = DataTree::default();
        let ro = WriteOp::Create(CreateRequest {
            opcode: op::CREATE,
            path: "/ro".into(),
            data: None,
            acl: vec![Acl::new(perms::READ, "world", "anyone")],
            flags: 0,
            ttl: -1,
        });
        run(&mut t, &ro, 1);
        assert_eq!(
            run(&mut t, &create("/ro/x", 0), 2),
            OpResult::Error(Code::NoAuth.as_i32())
        );
        let set = WriteOp::SetData {
            path: "/ro".into(),
            data: None,
            version: -1,
        };
        assert_eq!(run(&mut t, &set, 3), OpResult::Error(Code::NoAuth.as_i32()));
    }
}
