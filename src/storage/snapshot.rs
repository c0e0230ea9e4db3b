//! Snapshots: `snapshot.<hex zxid>`, a header, then CRC-framed chunks (sessions, batches of
//! nodes) and an end frame. A snapshot is fuzzy: it is named by the last applied zxid when it
//! started, and may already hold some later txns; replaying the log after that zxid fixes it up.
//! It is written to a temp file and renamed into place once complete and synced.

use super::{frame_at, fsync_dir, put_frame, FrameAt};
use crate::codec::jute::Acl;
use crate::datatree::node::StatPersisted;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const MAGIC: &[u8; 4] = b"KPSN";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapNode {
    pub path: String,
    #[serde(with = "serde_bytes")]
    pub data: Option<Vec<u8>>,
    pub acl: Arc<Vec<Acl>>,
    pub stat: StatPersisted,
}

#[derive(Debug, Serialize, Deserialize)]
enum Chunk {
    Header { zxid: i64 },
    Sessions(Vec<(i64, i32)>),
    Nodes(Vec<SnapNode>),
    End { nodes: u64 },
}

pub fn snapshot_name(zxid: i64) -> String {
    format!("snapshot.{zxid:x}")
}

pub fn parse_snapshot_name(name: &str) -> Option<i64> {
    i64::from_str_radix(name.strip_prefix("snapshot.")?, 16).ok()
}

/// Snapshots in a directory, newest first.
pub fn list(dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    let mut v = Vec::new();
    match fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                let e = e?;
                if let Some(z) = e.file_name().to_str().and_then(parse_snapshot_name) {
                    v.push((z, e.path()));
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    v.sort_by(|a, b| b.cmp(a));
    Ok(v)
}

pub struct SnapshotWriter {
    dir: PathBuf,
    tmp: PathBuf,
    zxid: i64,
    out: BufWriter<File>,
    nodes: u64,
    scratch: Vec<u8>,
}

impl SnapshotWriter {
    pub fn create(dir: &Path, zxid: i64) -> io::Result<Self> {
        let tmp = dir.join(format!("{}.tmp", snapshot_name(zxid)));
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let mut w = SnapshotWriter {
            dir: dir.to_path_buf(),
            tmp,
            zxid,
            out: BufWriter::with_capacity(1 << 20, f),
            nodes: 0,
            scratch: Vec::new(),
        };
        w.out.write_all(MAGIC)?;
        w.out.write_all(&FORMAT_VERSION.to_be_bytes())?;
        w.chunk(&Chunk::Header { zxid })?;
        Ok(w)
    }

    fn chunk(&mut self, c: &Chunk) -> io::Result<()> {
        let payload = rmp_serde::to_vec(c).map_err(io::Error::other)?;
        self.scratch.clear();
        put_frame(&mut self.scratch, &payload);
        self.out.write_all(&self.scratch)
    }

    pub fn sessions(&mut self, s: Vec<(i64, i32)>) -> io::Result<()> {
        self.chunk(&Chunk::Sessions(s))
    }

    pub fn nodes(&mut self, n: Vec<SnapNode>) -> io::Result<()> {
        self.nodes += n.len() as u64;
        self.chunk(&Chunk::Nodes(n))
    }

    /// Seal, sync and move into place. Returns the final path.
    pub fn finish(mut self) -> io::Result<PathBuf> {
        let nodes = self.nodes;
        self.chunk(&Chunk::End { nodes })?;
        let f = self.out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        let path = self.dir.join(snapshot_name(self.zxid));
        fs::rename(&self.tmp, &path)?;
        fsync_dir(&self.dir)?;
        Ok(path)
    }

    /// Give up (e.g. disk full): remove the temp file.
    pub fn abandon(self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

/// A loaded snapshot.
#[derive(Debug)]
pub struct Snapshot {
    pub zxid: i64,
    pub sessions: Vec<(i64, i32)>,
    pub nodes: Vec<SnapNode>,
}

/// Read and check a whole snapshot. Any damage (bad CRC, missing end) is an error.
pub fn load(path: &Path) -> Result<Snapshot, String> {
    let buf = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if buf.len() < 8 || &buf[..4] != MAGIC {
        return Err(format!("{} is not a snapshot (bad header)", path.display()));
    }
    let mut pos = 8;
    let mut snap = Snapshot {
        zxid: -1,
        sessions: Vec::new(),
        nodes: Vec::new(),
    };
    loop {
        match frame_at(&buf, pos) {
            FrameAt::Ok(payload, next) => {
                let c: Chunk = rmp_serde::from_slice(payload).map_err(|e| {
                    format!(
                        "{} offset {pos}: chunk does not decode: {e}",
                        path.display()
                    )
                })?;
                match c {
                    Chunk::Header { zxid } => snap.zxid = zxid,
                    Chunk::Sessions(s) => snap.sessions.extend(s),
                    Chunk::Nodes(n) => snap.nodes.extend(n),
                    Chunk::End { nodes } => {
                        if nodes != snap.nodes.len() as u64 {
                            return Err(format!(
                                "{}: end frame counts {nodes} nodes, found {}",
                                path.display(),
                                snap.nodes.len()
                            ));
                        }
                        if snap.zxid < 0 {
                            return Err(format!("{}: no header chunk", path.display()));
                        }
                        return Ok(snap);
                    }
                }
                pos = next;
            }
            FrameAt::End => {
                return Err(format!(
                    "{}: incomplete (no end frame at offset {pos})",
                    path.display()
                ))
            }
            FrameAt::Bad(what) => return Err(format!("{} offset {pos}: {what}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(p: &str) -> SnapNode {
        SnapNode {
            path: p.into(),
            data: Some(p.as_bytes().to_vec()),
            acl: Arc::new(Acl::world_all()),
            stat: StatPersisted::default(),
        }
    }

    #[test]
    fn write_load_and_damage() {
        let d = tempfile::tempdir().unwrap();
        let mut w = SnapshotWriter::create(d.path(), 0x42).unwrap();
        w.sessions(vec![(7, 30000)]).unwrap();
        w.nodes(vec![node("/"), node("/a")]).unwrap();
        w.nodes(vec![node("/a/b")]).unwrap();
        let p = w.finish().unwrap();
        assert_eq!(p.file_name().unwrap(), "snapshot.42");
        let s = load(&p).unwrap();
        assert_eq!((s.zxid, s.sessions.len(), s.nodes.len()), (0x42, 1, 3));
        assert_eq!(list(d.path()).unwrap()[0].0, 0x42);

        let b = fs::read(&p).unwrap();
        let mut flipped = b.clone();
        flipped[b.len() / 2] ^= 4;
        fs::write(&p, &flipped).unwrap();
        assert!(load(&p).is_err());
        fs::write(&p, &b[..b.len() - 5]).unwrap();
        assert!(load(&p).is_err());
        fs::write(&p, b"").unwrap();
        assert!(load(&p).is_err());
        fs::write(&p, vec![0u8; 64]).unwrap();
        assert!(load(&p).is_err());
    }

    #[test]
    fn unfinished_snapshots_are_not_listed() {
        let d = tempfile::tempdir().unwrap();
        let w = SnapshotWriter::create(d.path(), 9).unwrap();
        assert!(list(d.path()).unwrap().is_empty());
        w.abandon();
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }
}
