//! `keeper log-repair`: what to do about a damaged transaction log segment, as ZooKeeper's
//! TxnLogToolkit does. It shows where the damage is and what each way out loses; it changes
//! the file only when asked (`--truncate` or `--skip`), and only after copying it aside.
//!
//! - truncate at the damage: every record from the damage on is lost;
//! - skip the damaged bytes: only possible when the records after them go on where those
//!   before stopped (the damaged bytes held no txn); otherwise the log would have a hole that
//!   a server refuses to replay;
//! - in an ensemble whose other servers are healthy: start this server on an empty storage
//!   directory instead, and it fetches the whole state from the leader.

use super::txn_log::{HEADER_LEN, MAGIC};
use super::{frame_at, FrameAt};
use crate::datatree::Txn;
use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

/// What a scan of a segment found.
#[derive(Debug, PartialEq, Eq)]
pub struct Damage {
    /// Valid records before the damage, and their last zxid.
    pub before: usize,
    pub last_before: Option<i64>,
    /// Where the damage starts, and what is wrong there.
    pub offset: usize,
    pub what: &'static str,
    /// The first offset after it from which valid records chain to the end of the written
    /// part, with those records' zxids (first, last) and count. `None`: nothing valid follows.
    pub resume: Option<(usize, i64, i64, usize)>,
}

fn txn_of(payload: &[u8]) -> Option<Txn> {
    rmp_serde::from_slice(payload).ok()
}

/// Valid records chained from `pos`: (count, first zxid, last zxid, end offset), or `None`
/// if a bad record comes before the written part ends.
fn chain(buf: &[u8], mut pos: usize) -> Option<(usize, Option<i64>, Option<i64>, usize)> {
    let (mut n, mut first, mut last) = (0, None, None);
    loop {
        match frame_at(buf, pos) {
            FrameAt::End => return Some((n, first, last, pos)),
            FrameAt::Bad(_) => return None,
            FrameAt::Ok(payload, next) => {
                let t = txn_of(payload)?;
                first.get_or_insert(t.zxid);
                last = Some(t.zxid);
                n += 1;
                pos = next;
            }
        }
    }
}

/// Find the first damage in a segment's bytes; `Ok(None)`: none.
pub fn find_damage(buf: &[u8]) -> Result<Option<Damage>, String> {
    if buf.len() < HEADER_LEN as usize || &buf[..4] != MAGIC {
        return Err("not a Keeper transaction log segment (bad header)".into());
    }
    let (mut pos, mut before, mut last_before) = (HEADER_LEN as usize, 0, None);
    loop {
        let what = match frame_at(buf, pos) {
            FrameAt::End => return Ok(None),
            FrameAt::Ok(payload, next) => match txn_of(payload) {
                Some(t) => {
                    before += 1;
                    last_before = Some(t.zxid);
                    pos = next;
                    continue;
                }
                None => "a record that is not a txn",
            },
            FrameAt::Bad(what) => what,
        };
        let resume = (pos + 1..buf.len())
            .filter(|&p| matches!(frame_at(buf, p), FrameAt::Ok(..)))
            .find_map(|p| match chain(buf, p) {
                Some((n, Some(first), Some(last), _)) if n > 0 => Some((p, first, last, n)),
                _ => None,
            });
        return Ok(Some(Damage {
            before,
            last_before,
            offset: pos,
            what,
            resume,
        }));
    }
}

/// Whether `next` continues right after `last` (the next counter, or the first txn of a later
/// epoch), as recovery requires.
fn continues(last: Option<i64>, next: i64) -> bool {
    match last {
        None => true,
        Some(last) => {
            next == last + 1 || ((next >> 32) > (last >> 32) && (next & 0xffff_ffff) == 1)
        }
    }
}

/// The report: where the damage is and what each way out loses.
pub fn report(path: &Path, d: &Damage) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: damaged at offset {} ({}) after {} valid txns{}",
        path.display(),
        d.offset,
        d.what,
        d.before,
        d.last_before
            .map_or(String::new(), |z| format!(" (last zxid 0x{z:x})"))
    );
    match d.resume {
        None => {
            let _ = writeln!(out, "nothing valid follows the damage.");
            let _ = writeln!(
                out,
                "--truncate: cut the file at offset {}; loses nothing that can still be read \
                 (the damaged bytes held at most the txn being written)",
                d.offset
            );
        }
        Some((at, first, last, n)) => {
            let _ = writeln!(
                out,
                "{n} valid txns follow from offset {at} (zxids 0x{first:x} to 0x{last:x})"
            );
            let _ = writeln!(
                out,
                "--truncate: cut the file at offset {}; LOSES those {n} txns",
                d.offset
            );
            if continues(d.last_before, first) {
                let _ = writeln!(
                    out,
                    "--skip: drop bytes {}..{at}; they held no txn (the txns on both sides \
                     follow each other), so nothing is lost",
                    d.offset
                );
            } else {
                let _ = writeln!(
                    out,
                    "--skip: not possible: the damaged bytes held the txns between 0x{:x} and \
                     0x{first:x}, and a log with that hole is refused at start",
                    d.last_before.unwrap_or(0)
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "in an ensemble whose other servers are healthy, starting this server on an empty \
         storage directory instead loses nothing: it fetches the whole state from the leader"
    );
    let _ = writeln!(
        out,
        "a later segment (log.<zxid> with a higher zxid) after a truncated one is refused at \
         start for the hole: move later segments aside too, knowing they are lost"
    );
    out
}

/// A free name for the copy kept before a change: `<file>.bak`, `<file>.bak.1`, ...
fn backup_path(path: &Path) -> PathBuf {
    let base = format!("{}.bak", path.display());
    let mut p = PathBuf::from(&base);
    let mut i = 1;
    while p.exists() {
        p = PathBuf::from(format!("{base}.{i}"));
        i += 1;
    }
    p
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Show,
    Truncate,
    Skip,
}

/// Run `keeper log-repair`: the report, and the change asked for (after a backup).
pub fn run(path: &Path, action: Action) -> Result<String, String> {
    let buf = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let Some(d) = find_damage(&buf).map_err(|e| format!("{}: {e}", path.display()))? else {
        return Ok(format!(
            "{}: no damage found; nothing to do\n",
            path.display()
        ));
    };
    let mut out = report(path, &d);
    let fixed: Vec<u8> = match action {
        Action::Show => {
            out.push_str("nothing changed (add --truncate or --skip to act)\n");
            return Ok(out);
        }
        Action::Truncate => buf[..d.offset].to_vec(),
        Action::Skip => match d.resume {
            Some((at, first, _, _)) if continues(d.last_before, first) => {
                let mut v = buf[..d.offset].to_vec();
                v.extend_from_slice(&buf[at..]);
                v
            }
            _ => return Err(format!("{out}--skip refused: see above; nothing changed")),
        },
    };
    let backup = backup_path(path);
    fs::copy(path, &backup).map_err(|e| {
        format!(
            "cannot keep a copy at {}: {e}; nothing changed",
            backup.display()
        )
    })?;
    let tmp = PathBuf::from(format!("{}.repair", path.display()));
    let write = || -> std::io::Result<()> {
        fs::write(&tmp, &fixed)?;
        fs::File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            super::fsync_dir(dir)?;
        }
        Ok(())
    };
    write().map_err(|e| {
        format!(
            "rewriting {} failed: {e}; the original is at {}",
            path.display(),
            backup.display()
        )
    })?;
    let _ = writeln!(
        out,
        "{} {}; the original is kept at {}",
        if action == Action::Truncate {
            "truncated"
        } else {
            "skipped the damaged bytes of"
        },
        path.display(),
        backup.display()
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datatree::TxnOp;
    use crate::storage::put_frame;

    fn segment(zxids: &[i64]) -> (Vec<u8>, Vec<usize>) {
        let mut buf = crate::storage::txn_log::header().to_vec();
        let mut starts = Vec::new();
        for &zxid in zxids {
            starts.push(buf.len());
            let t = Txn {
                session: 1,
                cxid: 1,
                zxid,
                time: 0,
                op: TxnOp::Delete {
                    path: format!("/n{zxid}"),
                }
                .into(),
            };
            put_frame(&mut buf, &rmp_serde::to_vec(&t).unwrap());
        }
        (buf, starts)
    }

    #[test]
    fn shows_the_damage_and_truncates_only_when_asked_keeping_a_copy() {
        let d = tempfile::tempdir().unwrap();
        let (mut buf, starts) = segment(&[1, 2, 3, 4, 5]);
        // A flipped bit in txn 3's payload: 4 and 5 follow but 3 is gone.
        buf[starts[2] + 12] ^= 0x40;
        let p = d.path().join("log.1");
        fs::write(&p, &buf).unwrap();
        let shown = run(&p, Action::Show).unwrap();
        assert!(
            shown.contains("after 2 valid txns (last zxid 0x2)"),
            "{shown}"
        );
        assert!(shown.contains("2 valid txns follow"), "{shown}");
        assert!(shown.contains("LOSES those 2 txns"), "{shown}");
        assert!(shown.contains("--skip: not possible"), "{shown}");
        assert_eq!(fs::read(&p).unwrap(), buf, "showing changes nothing");
        assert!(run(&p, Action::Skip).is_err());
        assert_eq!(fs::read(&p).unwrap(), buf, "a refused skip changes nothing");
        let done = run(&p, Action::Truncate).unwrap();
        assert!(done.contains("the original is kept at"), "{done}");
        assert_eq!(fs::read(&p).unwrap(), buf[..starts[2]].to_vec());
        assert_eq!(fs::read(d.path().join("log.1.bak")).unwrap(), buf);
        assert!(run(&p, Action::Show).unwrap().contains("no damage found"));
    }

    #[test]
    fn skips_damaged_bytes_that_held_no_txn() {
        let d = tempfile::tempdir().unwrap();
        let (buf, starts) = segment(&[1, 2, 3]);
        let mut bad = buf[..starts[2]].to_vec();
        bad.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5]);
        bad.extend_from_slice(&buf[starts[2]..]);
        let p = d.path().join("log.1");
        fs::write(&p, &bad).unwrap();
        let shown = run(&p, Action::Show).unwrap();
        assert!(shown.contains("they held no txn"), "{shown}");
        run(&p, Action::Skip).unwrap();
        assert_eq!(fs::read(&p).unwrap(), buf);
        let mut seen = Vec::new();
        crate::storage::txn_log::scan_segment(&p, false, |t| seen.push(t.zxid)).unwrap();
        assert_eq!(seen, vec![1, 2, 3]);
    }
}
