//! A znode: data, ACL, the persisted stat and its children.

use crate::codec::jute::{Acl, Stat};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub data: Option<Vec<u8>>,
    pub acl: Arc<Vec<Acl>>,
    pub stat: StatPersisted,
    pub children: BTreeSet<String>,
}

impl Node {
    pub fn new(data: Option<Vec<u8>>, acl: Arc<Vec<Acl>>, stat: StatPersisted) -> Self {
        Node {
            data,
            acl,
            stat,
            children: BTreeSet::new(),
        }
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
    fn client_cversion_counts_deletions() {
        let mut n = Node::new(None, Arc::new(vec![]), StatPersisted::default());
        n.stat.cversion = 2;
        n.children.insert("a".into());
        assert_eq!(n.client_stat().cversion, 3);
        n.children.clear();
        assert_eq!(n.client_stat().cversion, 4);
    }
}
