//! Retention: keep the newest N snapshots and the log segments they need, delete the rest.

use super::{snapshot, txn_log};
use std::fs;
use std::io;
use std::path::Path;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub snapshots: usize,
    pub segments: usize,
}

pub fn purge(data_dir: &Path, log_dir: &Path, keep: usize) -> io::Result<Purged> {
    let keep = keep.max(1);
    let snaps = snapshot::list(data_dir)?;
    let mut out = Purged::default();
    if snaps.len() <= keep {
        return Ok(out);
    }
    for (_, p) in &snaps[keep..] {
        fs::remove_file(p)?;
        out.snapshots += 1;
    }
    // Replaying the oldest kept snapshot needs every txn after its zxid.
    let oldest = snaps[keep - 1].0;
    let segs = txn_log::list_segments(log_dir)?;
    for w in segs.windows(2) {
        // The segment holds txns up to (next segment's first zxid - 1).
        if w[1].0 <= oldest + 1 {
            fs::remove_file(&w[0].1)?;
            out.segments += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_the_oldest_kept_snapshot_needs() {
        let d = tempfile::tempdir().unwrap();
        for z in [0x10, 0x20, 0x30, 0x40] {
            fs::write(d.path().join(snapshot::snapshot_name(z)), b"x").unwrap();
        }
        for z in [0x1, 0x11, 0x21, 0x25, 0x31, 0x41] {
            fs::write(d.path().join(txn_log::segment_name(z)), b"x").unwrap();
        }
        let p = purge(d.path(), d.path(), 2).unwrap();
        assert_eq!(
            p,
            Purged {
                snapshots: 2,
                segments: 4
            }
        );
        let mut left: Vec<String> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        // Snapshot 0x30 needs txns from 0x31 on: log.31 onwards stays.
        assert_eq!(left, ["log.31", "log.41", "snapshot.30", "snapshot.40"]);
        assert_eq!(purge(d.path(), d.path(), 2).unwrap(), Purged::default());
    }
}
