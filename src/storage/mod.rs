//! Files: the transaction log (segments of CRC-framed txns, group-committed), fuzzy snapshots,
//! small atomically-replaced state files, recovery at start and retention.
pub mod dump;
pub mod epoch;
pub mod faults;
pub mod lock;
pub mod recovery;
pub mod repair;
pub mod retention;
pub mod snapshot;
pub mod txn_log;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Files live in `<dir>/version-2`, as ZooKeeper's do.
pub const VERSION_DIR: &str = "version-2";

pub fn version_dir(dir: &str) -> PathBuf {
    Path::new(dir).join(VERSION_DIR)
}

/// Make a directory entry (a new or renamed file) durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Largest record we accept when reading: anything bigger is corruption.
pub const MAX_RECORD: u32 = 256 << 20;

/// Frame a payload: `u32 len, u32 crc32(payload), payload`.
pub fn put_frame(buf: &mut Vec<u8>, payload: &[u8]) {
    buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    buf.extend_from_slice(&crc32fast::hash(payload).to_be_bytes());
    buf.extend_from_slice(payload);
}

/// What one frame at an offset is.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameAt<'a> {
    /// A valid frame and the offset after it.
    Ok(&'a [u8], usize),
    /// Zeros where a frame would start: the written part ends here.
    End,
    /// Not a valid frame (short, bad length or bad CRC).
    Bad(&'static str),
}

pub fn frame_at(buf: &[u8], pos: usize) -> FrameAt<'_> {
    if pos >= buf.len() {
        return FrameAt::End;
    }
    if pos + 8 > buf.len() {
        return if buf[pos..].iter().all(|b| *b == 0) {
            FrameAt::End
        } else {
            FrameAt::Bad("truncated frame header")
        };
    }
    let len = u32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]);
    let crc = u32::from_be_bytes([buf[pos + 4], buf[pos + 5], buf[pos + 6], buf[pos + 7]]);
    if len == 0 && crc == 0 {
        return FrameAt::End;
    }
    if len > MAX_RECORD || pos + 8 + len as usize > buf.len() {
        return FrameAt::Bad("frame length runs past the end of the file");
    }
    let payload = &buf[pos + 8..pos + 8 + len as usize];
    if crc32fast::hash(payload) != crc {
        return FrameAt::Bad("CRC mismatch");
    }
    FrameAt::Ok(payload, pos + 8 + len as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_detect_damage() {
        let mut b = Vec::new();
        put_frame(&mut b, b"hello");
        put_frame(&mut b, b"world");
        b.extend_from_slice(&[0; 16]);
        let FrameAt::Ok(p, next) = frame_at(&b, 0) else {
            panic!()
        };
        assert_eq!(p, b"hello");
        let FrameAt::Ok(p, next) = frame_at(&b, next) else {
            panic!()
        };
        assert_eq!(p, b"world");
        assert_eq!(frame_at(&b, next), FrameAt::End);
        let mut flipped = b.clone();
        flipped[9] ^= 1;
        assert_eq!(frame_at(&flipped, 0), FrameAt::Bad("CRC mismatch"));
        assert!(matches!(frame_at(&b[..10], 0), FrameAt::Bad(_)));
        assert_eq!(frame_at(&[0, 0, 0], 0), FrameAt::End);
        assert!(matches!(frame_at(&[0xff; 12], 0), FrameAt::Bad(_)));
    }
}
