//! The transaction log: segment files `log.<hex zxid of the first txn>` holding a 16-byte header
//! and then CRC-framed txns. Segments are extended with zeroed space ahead of the writes, so a
//! zero frame header marks where the written part ends.

use super::{frame_at, fsync_dir, put_frame, FrameAt};
use crate::datatree::Txn;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

pub const MAGIC: &[u8; 4] = b"KPLG";
pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_LEN: u64 = 16;

pub fn segment_name(first_zxid: i64) -> String {
    format!("log.{first_zxid:x}")
}

pub fn parse_segment_name(name: &str) -> Option<i64> {
    i64::from_str_radix(name.strip_prefix("log.")?, 16).ok()
}

/// Segments in a directory, oldest first.
pub fn list_segments(dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    let mut v = Vec::new();
    match fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                let e = e?;
                if let Some(z) = e.file_name().to_str().and_then(parse_segment_name) {
                    v.push((z, e.path()));
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    v.sort();
    Ok(v)
}

pub fn header() -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..4].copy_from_slice(MAGIC);
    h[4..8].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    h
}

pub fn encode(txn: &Txn, buf: &mut Vec<u8>) {
    // Serialising our own plain data types cannot fail.
    let payload = rmp_serde::to_vec(txn).unwrap_or_default();
    put_frame(buf, &payload);
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("transaction log {path} is corrupt at offset {offset}: {what}; refusing to start rather than lose acknowledged writes. Moving the file aside would start without every write in it from offset {offset} on and in every later log file (`keeper log-repair <file>` shows what can be saved and what each way out loses); in an ensemble whose other servers are healthy, this server can instead start on an empty storage directory and fetch the whole state from the leader")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: String,
    },
}

/// How a segment scan ended.
#[derive(Debug, PartialEq, Eq)]
pub struct ScanEnd {
    /// Offset just after the last valid record.
    pub valid_len: u64,
    /// A torn record at the tail of the newest segment, at this offset.
    pub torn_at: Option<u64>,
}

/// Read every txn of a segment in order. In the newest segment a bad record followed by
/// nothing valid is a torn write from a crash (its batch was never acknowledged): the scan ends
/// there. Anywhere else a bad record is corruption.
pub fn scan_segment(
    path: &Path,
    newest: bool,
    mut f: impl FnMut(Txn),
) -> Result<ScanEnd, LogError> {
    let io_err = |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Stream the written part (segments are mostly preallocated zeros); on anything unusual,
    // read the whole file and decide there.
    let file = File::open(path).map_err(io_err)?;
    let mut r = io::BufReader::with_capacity(1 << 20, file);
    let mut head = [0u8; HEADER_LEN as usize];
    if r.read_exact(&mut head).is_err() || &head[..4] != MAGIC {
        return scan_whole(path, 0, newest, f);
    }
    let mut pos = HEADER_LEN as usize;
    let mut payload = Vec::new();
    loop {
        let mut h = [0u8; 8];
        if r.read_exact(&mut h).is_err() {
            return scan_whole(path, pos, newest, f);
        }
        let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let crc = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        if len == 0 && crc == 0 {
            return Ok(ScanEnd {
                valid_len: pos as u64,
                torn_at: None,
            });
        }
        if len > super::MAX_RECORD {
            return scan_whole(path, pos, newest, f);
        }
        payload.resize(len as usize, 0);
        if r.read_exact(&mut payload).is_err() || crc32fast::hash(&payload) != crc {
            return scan_whole(path, pos, newest, f);
        }
        match rmp_serde::from_slice::<Txn>(&payload) {
            Ok(t) => f(t),
            Err(_) => return scan_whole(path, pos, newest, f),
        }
        pos += 8 + len as usize;
    }
}

/// The careful scan over the whole file, from `start` (0 = check the header too).
fn scan_whole(
    path: &Path,
    start: usize,
    newest: bool,
    mut f: impl FnMut(Txn),
) -> Result<ScanEnd, LogError> {
    let buf = fs::read(path).map_err(|source| LogError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let corrupt = |offset: usize, what: &str| LogError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        what: what.to_string(),
    };
    if start == 0 && (buf.len() < HEADER_LEN as usize || &buf[..4] != MAGIC) {
        // A crash right after creating the newest segment can leave it short or zeroed.
        if newest && buf.iter().all(|b| *b == 0) {
            return Ok(ScanEnd {
                valid_len: 0,
                torn_at: if buf.is_empty() { None } else { Some(0) },
            });
        }
        return Err(corrupt(0, "bad segment header"));
    }
    let mut pos = start.max(HEADER_LEN as usize);
    loop {
        match frame_at(&buf, pos) {
            FrameAt::End => {
                return Ok(ScanEnd {
                    valid_len: pos as u64,
                    torn_at: None,
                })
            }
            FrameAt::Ok(payload, next) => match rmp_serde::from_slice::<Txn>(payload) {
                Ok(t) => {
                    f(t);
                    pos = next;
                }
                Err(_) => return Err(corrupt(pos, "record does not decode")),
            },
            FrameAt::Bad(what) => {
                if newest && !valid_record_after(&buf, pos) {
                    return Ok(ScanEnd {
                        valid_len: pos as u64,
                        torn_at: Some(pos as u64),
                    });
                }
                return Err(corrupt(pos, what));
            }
        }
    }
}

/// Whether a valid record starts right after the (bad) record at `pos`.
fn valid_record_after(buf: &[u8], pos: usize) -> bool {
    if pos + 8 > buf.len() {
        return false;
    }
    let len = u32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
    let next = pos + 8 + len;
    matches!(frame_at(buf, next), FrameAt::Ok(p, _) if rmp_serde::from_slice::<Txn>(p).is_ok())
}

/// A full disk (or quota): an error that leaves what was written before intact and that
/// freeing space cures.
fn no_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// Cut a segment back to `len` bytes (dropping a torn tail or a failed batch) and make it so.
pub fn truncate(path: &Path, len: u64) -> io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(len)?;
    f.sync_all()
}

/// Appends to the newest segment; a new segment starts after `roll` and at open.
pub struct LogWriter {
    dir: PathBuf,
    file: Option<(File, PathBuf)>,
    pos: u64,
    allocated: u64,
    preallocate: u64,
    force_sync: bool,
    /// Bytes appended since the last roll.
    pub bytes_since_roll: u64,
    /// Why the log can no longer be written, once an I/O error left it in a state this process
    /// cannot vouch for: a failed fsync (the kernel may have dropped the pages it could not
    /// write, and a later fsync would succeed without them), a failed write other than a full
    /// disk, or a failed undo. Every later append and sync fails with it: the data on disk is
    /// what a restart recovers, never something written after such an error.
    poisoned: Option<String>,
}

fn preallocate(f: &File, from: u64, len: u64) -> io::Result<()> {
    // SAFETY: posix_fallocate only reads its integer arguments.
    let r =
        unsafe { libc::posix_fallocate(f.as_raw_fd(), from as libc::off_t, len as libc::off_t) };
    match r {
        0 => Ok(()),
        libc::EOPNOTSUPP | libc::EINVAL => f.set_len(from + len),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

impl LogWriter {
    pub fn new(dir: PathBuf, preallocate: u64, force_sync: bool) -> Self {
        LogWriter {
            dir,
            file: None,
            pos: 0,
            allocated: 0,
            preallocate: preallocate.max(4096),
            force_sync,
            bytes_since_roll: 0,
            poisoned: None,
        }
    }

    /// Why the log cannot be written any more (see the field), if it cannot.
    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    fn poison(&mut self, what: &str, e: &io::Error) -> io::Error {
        let why = format!("{what} failed ({e})");
        self.poisoned.get_or_insert(why.clone());
        io::Error::new(e.kind(), why)
    }

    fn check(&self) -> io::Result<()> {
        match &self.poisoned {
            Some(why) => Err(io::Error::other(format!(
                "the log is not written after an earlier I/O error: {why}"
            ))),
            None => Ok(()),
        }
    }

    pub fn current(&self) -> Option<&Path> {
        self.file.as_ref().map(|(_, p)| p.as_path())
    }

    fn open(&mut self, first_zxid: i64) -> io::Result<()> {
        let path = self.dir.join(segment_name(first_zxid));
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        // A full disk here leaves an empty new segment, which the next try truncates again.
        preallocate(&f, 0, self.preallocate)?;
        if let Err(e) = f.write_all_at(&header(), 0) {
            return Err(if no_space(&e) {
                e
            } else {
                self.poison("writing a new log segment's header", &e)
            });
        }
        if let Err(e) = f.sync_all().and_then(|_| fsync_dir(&self.dir)) {
            return Err(self.poison("fsync of a new log segment", &e));
        }
        self.allocated = self.preallocate;
        self.pos = HEADER_LEN;
        self.file = Some((f, path));
        Ok(())
    }

    /// Write txns (in zxid order) after the last ones; they are durable after `sync`.
    /// On error nothing of this call remains in the file.
    pub fn append(&mut self, txns: &[Txn], buf: &mut Vec<u8>) -> io::Result<()> {
        let Some(first) = txns.first() else {
            return Ok(());
        };
        self.check()?;
        if self.file.is_none() {
            self.open(first.zxid)?;
        }
        buf.clear();
        for t in txns {
            encode(t, buf);
        }
        let start = self.pos;
        let r = self.write_at_end(buf);
        if let Err(e) = r {
            // A full disk: nothing of this batch stays (the undo makes sure, or poisons).
            // Anything else (EIO): the file is not to be trusted with more.
            let e = if no_space(&e) {
                e
            } else {
                self.poison("writing the log", &e)
            };
            self.undo_to(start);
            return Err(e);
        }
        Ok(())
    }

    fn write_at_end(&mut self, buf: &[u8]) -> io::Result<()> {
        let Some((f, _)) = &self.file else {
            return Err(io::Error::other("no open log segment"));
        };
        let end = self.pos + buf.len() as u64;
        if end > self.allocated {
            let grow = (end - self.allocated).div_ceil(self.preallocate) * self.preallocate;
            preallocate(f, self.allocated, grow)?;
            self.allocated += grow;
        }
        f.write_all_at(buf, self.pos)?;
        self.pos = end;
        self.bytes_since_roll += buf.len() as u64;
        Ok(())
    }

    /// Forget everything written after `pos` (a batch that failed to write or sync).
    fn undo_to(&mut self, pos: u64) {
        if let Some((f, _)) = &self.file {
            // Cut the tail so no complete record of the failed batch can be read back; if
            // that cannot be made durable, a restart might read the batch back: no more
            // writes then (recovery will see what is there, and none of it was acknowledged).
            if let Err(e) = f.set_len(pos).and_then(|_| f.sync_all()) {
                self.poison("cutting a failed batch off the log", &e);
            }
            self.allocated = pos;
        }
        self.bytes_since_roll = self.bytes_since_roll.saturating_sub(self.pos - pos);
        self.pos = pos;
    }

    /// Make everything appended durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.check()?;
        if !self.force_sync {
            return Ok(());
        }
        let r = match &self.file {
            Some((f, _)) => super::faults::before_fsync().and_then(|_| f.sync_data()),
            None => Ok(()),
        };
        // Never retried: after a failed fsync the pages it could not write may be gone from
        // the page cache, and a second fsync would report success without them.
        r.map_err(|e| self.poison("fsync of the log", &e))
    }

    /// Position of the end of the written part, for `undo`.
    pub fn mark(&self) -> u64 {
        self.pos
    }

    /// Drop a batch that was written but could not be synced.
    pub fn undo(&mut self, mark: u64) {
        // Nothing written since (the append failed before writing): no I/O on a bad disk.
        if self.pos != mark {
            self.undo_to(mark);
        }
    }

    /// Close the current segment; the next append starts a new one.
    pub fn roll(&mut self) -> io::Result<()> {
        self.sync()?;
        self.file = None;
        self.bytes_since_roll = 0;
        Ok(())
    }
}

/// Drop every logged txn after `zxid` (a TRUNC from a new leader, or everything before a SNAP
/// with `zxid` = -1): later segments go, the one holding `zxid` is cut after it.
pub fn truncate_after(dir: &Path, zxid: i64) -> Result<(), LogError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LogError::Io { path, source }
    };
    let segs = list_segments(dir).map_err(io(dir))?;
    for (i, (first, path)) in segs.iter().enumerate() {
        if *first > zxid {
            fs::remove_file(path).map_err(io(path))?;
            continue;
        }
        let next_first = segs.get(i + 1).map(|s| s.0);
        if next_first.is_some_and(|nf| nf <= zxid + 1) {
            continue;
        }
        // This segment holds zxid: find where the records after it start.
        let mut cut = None;
        let mut pos = HEADER_LEN;
        let buf = fs::read(path).map_err(io(path))?;
        let mut at = HEADER_LEN as usize;
        while let FrameAt::Ok(payload, next) = frame_at(&buf, at) {
            match rmp_serde::from_slice::<Txn>(payload) {
                Ok(t) if t.zxid > zxid => {
                    cut = Some(at as u64);
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
            at = next;
            pos = next as u64;
        }
        truncate(path, cut.unwrap_or(pos)).map_err(io(path))?;
    }
    fsync_dir(dir).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datatree::TxnOp;

    #[test]
    fn truncate_after_keeps_what_is_at_or_before() {
        let d = tempfile::tempdir().unwrap();
        let mut w = LogWriter::new(d.path().to_path_buf(), 4096, false);
        let mut buf = Vec::new();
        w.append(&[txn(1), txn(2), txn(3)], &mut buf).unwrap();
        w.roll().unwrap();
        w.append(&[txn(4), txn(5)], &mut buf).unwrap();
        w.roll().unwrap();
        truncate_after(d.path(), 2).unwrap();
        let segs = list_segments(d.path()).unwrap();
        assert_eq!(segs.len(), 1);
        assert_eq!(read(&segs[0].1, true).0, vec![1, 2]);
        truncate_after(d.path(), -1).unwrap();
        assert!(list_segments(d.path()).unwrap().is_empty());
    }

    fn txn(zxid: i64) -> Txn {
        Txn {
            session: 1,
            cxid: zxid as i32,
            zxid,
            time: 0,
            op: TxnOp::Delete {
                path: format!("/n{zxid}"),
            }
            .into(),
        }
    }

    fn write(dir: &Path, zxids: std::ops::RangeInclusive<i64>) -> PathBuf {
        let mut w = LogWriter::new(dir.to_path_buf(), 4096, true);
        let mut buf = Vec::new();
        let txns: Vec<Txn> = zxids.map(txn).collect();
        w.append(&txns, &mut buf).unwrap();
        w.sync().unwrap();
        w.current().unwrap().to_path_buf()
    }

    fn read(p: &Path, newest: bool) -> (Vec<i64>, Result<ScanEnd, LogError>) {
        let mut got = Vec::new();
        let r = scan_segment(p, newest, |t| got.push(t.zxid));
        (got, r)
    }

    #[test]
    fn round_trip_with_preallocated_tail() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), 1..=100);
        assert_eq!(p.file_name().unwrap(), "log.1");
        assert!(fs::metadata(&p).unwrap().len() >= 4096);
        let (got, r) = read(&p, true);
        assert_eq!(got, (1..=100).collect::<Vec<_>>());
        assert_eq!(r.unwrap().torn_at, None);
        assert_eq!(list_segments(d.path()).unwrap(), vec![(1, p)]);
    }

    #[test]
    fn torn_tail_is_cut_only_in_the_newest_segment() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), 1..=3);
        let (_, end) = read(&p, true);
        let valid = end.unwrap().valid_len;
        // Damage the last record: as if the crash tore the final write.
        let mut b = fs::read(&p).unwrap();
        let last_start = {
            let mut pos = HEADER_LEN as usize;
            let mut last = pos;
            while let FrameAt::Ok(_, next) = frame_at(&b, pos) {
                last = pos;
                pos = next;
            }
            last
        };
        b[last_start + 9] ^= 0xff;
        fs::write(&p, &b).unwrap();
        let (got, r) = read(&p, true);
        assert_eq!(got, vec![1, 2]);
        assert_eq!(r.unwrap().torn_at, Some(last_start as u64));
        assert!((last_start as u64) < valid);
        assert!(matches!(read(&p, false).1, Err(LogError::Corrupt { .. })));
    }

    #[test]
    fn flipped_bit_in_the_middle_is_fatal_and_named() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), 1..=3);
        let mut b = fs::read(&p).unwrap();
        b[HEADER_LEN as usize + 10] ^= 1;
        fs::write(&p, &b).unwrap();
        match read(&p, true).1 {
            Err(LogError::Corrupt { path, offset, .. }) => {
                assert_eq!(path, p);
                assert_eq!(offset, HEADER_LEN);
                let msg = read(&p, true).1.unwrap_err().to_string();
                assert!(msg.contains("offset 16"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_zero_and_truncated_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log.5");
        fs::write(&p, b"").unwrap();
        assert_eq!(
            read(&p, true).1.unwrap(),
            ScanEnd {
                valid_len: 0,
                torn_at: None
            }
        );
        fs::write(&p, vec![0u8; 100]).unwrap();
        assert_eq!(read(&p, true).1.unwrap().torn_at, Some(0));
        assert!(read(&p, false).1.is_err());
        let q = write(d.path(), 1..=2);
        let b = fs::read(&q).unwrap();
        let (_, end) = read(&q, true);
        let cut = end.unwrap().valid_len as usize - 3;
        fs::write(&q, &b[..cut]).unwrap();
        let (got, r) = read(&q, true);
        assert_eq!(got, vec![1]);
        assert!(r.unwrap().torn_at.is_some());
    }

    #[test]
    fn roll_starts_a_new_segment_and_undo_forgets_a_batch() {
        let d = tempfile::tempdir().unwrap();
        let mut w = LogWriter::new(d.path().to_path_buf(), 4096, false);
        let mut buf = Vec::new();
        w.append(&[txn(1), txn(2)], &mut buf).unwrap();
        let mark = w.mark();
        w.append(&[txn(3)], &mut buf).unwrap();
        w.undo(mark);
        w.append(&[txn(3)], &mut buf).unwrap();
        w.roll().unwrap();
        w.append(&[txn(4)], &mut buf).unwrap();
        w.sync().unwrap();
        let segs = list_segments(d.path()).unwrap();
        assert_eq!(segs.iter().map(|s| s.0).collect::<Vec<_>>(), vec![1, 4]);
        assert_eq!(read(&segs[0].1, false).0, vec![1, 2, 3]);
        assert_eq!(read(&segs[1].1, true).0, vec![4]);
    }
}
