//! How a new leader brings a learner up to date (ZooKeeper's LearnerHandler.syncFollower):
//! from the learner's last logged zxid, the leader's last processed zxid and the zxids of the
//! committed proposals the leader still holds in memory, choose DIFF, TRUNC then DIFF, or SNAP.

/// How many committed txns a server keeps to sync a learner by DIFF (older: SNAP). The
/// leader's window and every server's recent-txn list use this one number.
pub const DIFF_WINDOW: usize = 500;

pub fn epoch_of(zxid: i64) -> u32 {
    ((zxid as u64) >> 32) as u32
}

pub fn counter_of(zxid: i64) -> u32 {
    (zxid as u64 & 0xffff_ffff) as u32
}

pub fn make_zxid(epoch: u32, counter: u32) -> i64 {
    (((epoch as u64) << 32) | counter as u64) as i64
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPlan {
    /// Send the committed proposals at these indexes of the window (possibly none).
    Diff { send_from: usize },
    /// The learner holds txns the new epoch never committed: drop everything after `to`, then
    /// send the proposals from `send_from`.
    TruncDiff { to: i64, send_from: usize },
    /// Ship the whole tree.
    Snap,
}

/// `window`: zxids of the committed proposals held in memory, ascending, gap-free.
pub fn plan(peer_last: i64, leader_last: i64, window: &[i64]) -> SyncPlan {
    let n = window.len();
    if peer_last == leader_last {
        return SyncPlan::Diff { send_from: n };
    }
    let (Some(&min), Some(&max)) = (window.first(), window.last()) else {
        // Nothing in memory: only an exact match or a learner ahead can avoid a snapshot.
        return if peer_last > leader_last && counter_of(peer_last) != 0 {
            SyncPlan::TruncDiff {
                to: leader_last,
                send_from: 0,
            }
        } else {
            SyncPlan::Snap
        };
    };
    if peer_last > max {
        if counter_of(peer_last) != 0 {
            return SyncPlan::TruncDiff {
                to: max,
                send_from: n,
            };
        }
        return SyncPlan::Snap;
    }
    if peer_last < min {
        return SyncPlan::Snap;
    }
    // Inside the window.
    match window.binary_search(&peer_last) {
        Ok(i) => SyncPlan::Diff { send_from: i + 1 },
        Err(i) => {
            // First entry above the learner's last zxid is window[i]; the learner's tail
            // diverges after window[i-1].
            if counter_of(peer_last) == 0 {
                // The learner only saw the start of a new epoch: nothing to drop.
                return SyncPlan::Diff { send_from: i };
            }
            let prev = if i == 0 {
                return SyncPlan::Snap;
            } else {
                window[i - 1]
            };
            if epoch_of(prev) != epoch_of(peer_last) {
                // Never truncate across an epoch boundary.
                return SyncPlan::Snap;
            }
            SyncPlan::TruncDiff {
                to: prev,
                send_from: i,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn z(e: u32, c: u32) -> i64 {
        make_zxid(e, c)
    }

    #[test]
    fn zxid_layout() {
        assert_eq!(z(0xf, 2), 0xf_0000_0002);
        assert_eq!(epoch_of(0xf_0000_0002), 0xf);
        assert_eq!(counter_of(0xf_0000_0002), 2);
    }

    #[test]
    fn up_to_date_and_behind_within_the_window() {
        let w = [z(1, 1), z(1, 2), z(1, 3), z(2, 1)];
        assert_eq!(plan(z(2, 1), z(2, 1), &w), SyncPlan::Diff { send_from: 4 });
        assert_eq!(plan(z(1, 2), z(2, 1), &w), SyncPlan::Diff { send_from: 2 });
        assert_eq!(plan(z(1, 1), z(2, 1), &w), SyncPlan::Diff { send_from: 1 });
    }

    #[test]
    fn far_behind_needs_a_snapshot() {
        let w = [z(3, 5), z(3, 6)];
        assert_eq!(plan(z(3, 1), z(3, 6), &w), SyncPlan::Snap);
        assert_eq!(plan(z(1, 1), z(3, 6), &[]), SyncPlan::Snap);
    }

    #[test]
    fn ahead_is_truncated() {
        // An old leader logged z(1,4) that the new epoch never committed.
        let w = [z(1, 1), z(1, 2), z(1, 3)];
        assert_eq!(
            plan(z(1, 4), z(1, 3), &w),
            SyncPlan::TruncDiff {
                to: z(1, 3),
                send_from: 3
            }
        );
        assert_eq!(
            plan(z(1, 4), z(1, 3), &[]),
            SyncPlan::TruncDiff {
                to: z(1, 3),
                send_from: 0
            }
        );
    }

    #[test]
    fn divergent_tail_inside_the_window() {
        // The learner has z(1,3) but the committed history went z(1,2) -> z(2,1).
        let w = [z(1, 1), z(1, 2), z(2, 1), z(2, 2)];
        assert_eq!(
            plan(z(1, 3), z(2, 2), &w),
            SyncPlan::TruncDiff {
                to: z(1, 2),
                send_from: 2
            }
        );
        // Across an epoch boundary: snapshot instead.
        let w2 = [z(1, 1), z(2, 5), z(2, 6)];
        assert_eq!(plan(z(2, 2), z(2, 6), &w2), SyncPlan::Snap);
        // A learner at a bare epoch start just gets what follows.
        assert_eq!(plan(z(2, 0), z(2, 6), &w2), SyncPlan::Diff { send_from: 1 });
    }
}
