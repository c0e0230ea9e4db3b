//! Votes of fast leader election and their total order: peer epoch, then zxid, then server id.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Vote {
    /// Proposed leader.
    pub leader: u64,
    /// The proposed leader's last logged zxid.
    pub zxid: i64,
    /// The proposed leader's current epoch.
    pub peer_epoch: u64,
}

impl Ord for Vote {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.peer_epoch, self.zxid, self.leader).cmp(&(other.peer_epoch, other.zxid, other.leader))
    }
}

impl PartialOrd for Vote {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Peer states, with their wire ordinals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PeerState {
    Looking = 0,
    Following = 1,
    Leading = 2,
    Observing = 3,
}

impl PeerState {
    pub fn name(self) -> &'static str {
        match self {
            PeerState::Looking => "LOOKING",
            PeerState::Following => "FOLLOWING",
            PeerState::Leading => "LEADING",
            PeerState::Observing => "OBSERVING",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(leader: u64, zxid: i64, peer_epoch: u64) -> Vote {
        Vote {
            leader,
            zxid,
            peer_epoch,
        }
    }

    #[test]
    fn epoch_then_zxid_then_id() {
        assert!(v(1, 0, 2) > v(9, 100, 1));
        assert!(v(1, 5, 1) > v(9, 4, 1));
        assert!(v(2, 5, 1) > v(1, 5, 1));
        assert_eq!(v(2, 5, 1).max(v(1, 5, 1)).leader, 2);
    }
}
