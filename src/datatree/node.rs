//! A znode: data, ACL, the persisted stat and its children.

use crate::codec::jute::{Acl, Stat};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::collections::{btree_set, BTreeSet};
use std::sync::Arc;

/// ephemeralOwner of a container node.
pub const CONTAINER_OWNER: i64 = i64::MIN;
/// Top byte that marks a TTL node's ephemeralOwner (the low 40 bits hold the TTL).
pub const TTL_MARK: i64 = 0xFF00_0000_0000_0000u64 as i64;
pub const MAX_TTL: i64 = (1i64 << 40) - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Persistent,
    Ephemeral(i64),
    Container,
    Ttl(i64),
}

impl NodeKind {
    pub fn from_owner(owner: i64, extended_types: bool) -> NodeKind {
        if owner == 0 {
            NodeKind::Persistent
        } else if owner == CONTAINER_OWNER {
            NodeKind::Container
        } else if extended_types && (owner & TTL_MARK) == TTL_MARK {
            NodeKind::Ttl(owner & MAX_TTL)
        } else {
            NodeKind::Ephemeral(owner)
        }
    }
}

/// The stat as stored: cversion counts child creations only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatPersisted {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub pzxid: i64,
}

/// Kept small: a tree holds one per znode (data as a boxed slice, not a Vec with capacity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub data: Option<Box<[u8]>>,
    /// Shared by every node with the same list (DataTree::intern_acl).
    pub acl: Arc<Vec<Acl>>,
    pub stat: StatPersisted,
    pub children: Children,
}

/// Child names, in order. Most znodes are leaves, so the set is boxed and absent when empty
/// (8 bytes per node instead of 24); names of up to 24 bytes, as most are, are stored inline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(clippy::box_collection)] // the box is the point: 8 bytes in every node, not 24
pub struct Children(Option<Box<BTreeSet<CompactString>>>);

impl Children {
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |s| s.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> ChildIter<'_> {
        fn names(s: &BTreeSet<CompactString>) -> btree_set::Iter<'_, CompactString> {
            s.iter()
        }
        self.0.as_deref().into_iter().flat_map(names)
    }

    /// Names after `after`, in order.
    pub fn after<'a>(&'a self, after: &'a str) -> impl Iterator<Item = &'a CompactString> + 'a {
        self.0.iter().flat_map(move |s| {
            s.range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
        })
    }

    pub fn insert(&mut self, name: &str) -> bool {
        self.0
            .get_or_insert_with(Default::default)
            .insert(name.into())
    }

    pub fn remove(&mut self, name: &str) -> bool {
        let Some(s) = &mut self.0 else { return false };
        let removed = s.remove(name);
        if s.is_empty() {
            self.0 = None;
        }
        removed
    }
}

pub type ChildIter<'a> = std::iter::FlatMap<
    std::option::IntoIter<&'a BTreeSet<CompactString>>,
    btree_set::Iter<'a, CompactString>,
    fn(&'a BTreeSet<CompactString>) -> btree_set::Iter<'a, CompactString>,
>;

impl<'a> IntoIterator for &'a Children {
    type Item = &'a CompactString;
    type IntoIter = ChildIter<'a>;
    fn into_iter(self) -> ChildIter<'a> {
        self.iter()
    }
}

impl Node {
    pub fn new(data: Option<Vec<u8>>, acl: Arc<Vec<Acl>>, stat: StatPersisted) -> Self {
        Node {
            data: data.map(Vec::into_boxed_slice),
            acl,
            stat,
            children: Children::default(),
        }
    }

    pub fn set_data(&mut self, data: Option<Vec<u8>>) {
        self.data = data.map(Vec::into_boxed_slice);
    }

    /// A copy of the data, as the records outside the tree hold it.
    pub fn data_vec(&self) -> Option<Vec<u8>> {
        self.data.as_deref().map(<[u8]>::to_vec)
    }

    pub fn kind(&self, extended_types: bool) -> NodeKind {
        NodeKind::from_owner(self.stat.ephemeral_owner, extended_types)
    }

    pub fn data_len(&self) -> i32 {
        self.data.as_ref().map_or(0, |d| d.len() as i32)
    }

    /// The Stat clients see (DataNode.copyStat).
    pub fn client_stat(&self) -> Stat {
        let s = &self.stat;
        let n = self.children.len() as i32;
        let owner = match NodeKind::from_owner(s.ephemeral_owner, true) {
            NodeKind::Ephemeral(o) => o,
            _ => 0,
        };
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            // Stored cversion counts creations; clients see creations + deletions.
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(n),
            aversion: s.aversion,
            ephemeral_owner: owner,
            data_length: self.data_len(),
            num_children: n,
            pzxid: s.pzxid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(NodeKind::from_owner(0, true), NodeKind::Persistent);
        assert_eq!(
            NodeKind::from_owner(CONTAINER_OWNER, true),
            NodeKind::Container
        );
        assert_eq!(
            NodeKind::from_owner(TTL_MARK | 500, true),
            NodeKind::Ttl(500)
        );
        assert_eq!(
            NodeKind::from_owner(TTL_MARK | 500, false),
            NodeKind::Ephemeral(TTL_MARK | 500)
        );
        assert_eq!(
            NodeKind::from_owner(0x100, true),
            NodeKind::Ephemeral(0x100)
        );
    }

    #[test]
    fn children_in_order_and_nothing_kept_when_empty() {
        let mut c = Children::default();
        assert!(c.is_empty() && c.iter().next().is_none());
        for n in ["b", "a", "a-much-longer-name-than-twenty-four-bytes", "c"] {
            assert!(c.insert(n));
        }
        assert!(!c.insert("a"));
        let names: Vec<&str> = c.iter().map(|n| n.as_str()).collect();
        assert_eq!(
            names,
            ["a", "a-much-longer-name-than-twenty-four-bytes", "b", "c"]
        );
        let after: Vec<&str> = c.after("b").map(|n| n.as_str()).collect();
        assert_eq!(after, ["c"]);
        for n in ["a", "b", "c", "a-much-longer-name-than-twenty-four-bytes"] {
            assert!(c.remove(n));
        }
        assert!(!c.remove("a"));
        assert_eq!(c, Children::default());
        assert_eq!(std::mem::size_of::<Children>(), 8);
    }

    #[test]
    fn client_cversion_counts_deletions() {
        let mut n = Node::new(None, Arc::new(vec![]), StatPersisted::default());
        n.stat.cversion = 2;
        n.children.insert("a");
        assert_eq!(n.client_stat().cversion, 3);
        n.children.remove("a");
        assert_eq!(n.client_stat().cversion, 4);
    }
}
