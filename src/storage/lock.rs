//! An exclusive lock on a data (or log) directory for the life of the process.
//!
//! Two servers writing one directory interleave log segments and snapshots, and one of them loses
//! acknowledged writes at the next start. The lock is `flock` on `<dir>/keeper.lock`: the kernel
//! drops it when the process dies however it dies (kill -9 included), so a stale file never
//! blocks a restart. The file holds the holder's pid, for the message the second server prints.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

pub const LOCK_FILE: &str = "keeper.lock";

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{dir} ({key}) is in use by another keeper server{holder}: two servers writing one directory lose acknowledged writes; stop that server or give this one a directory of its own")]
    Held {
        dir: String,
        key: &'static str,
        holder: String,
    },
    #[error("cannot lock {dir} ({key}): {source}")]
    Io {
        dir: String,
        key: &'static str,
        source: io::Error,
    },
}

/// Lock `dir` (created when missing). `key` names the setting the directory came from, for the
/// messages.
pub fn lock_dir(dir: &Path, key: &'static str) -> Result<DirLock, LockError> {
    let io_err = |source| LockError::Io {
        dir: dir.display().to_string(),
        key,
        source,
    };
    std::fs::create_dir_all(dir).map_err(io_err)?;
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err)?;
    // SAFETY: flock on a descriptor this function owns; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(LockError::Held {
                dir: dir.display().to_string(),
                key,
                holder: if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {pid})")
                },
            });
        }
        return Err(io_err(e));
    }
    // Ours now: record who holds it. A failure here does not weaken the lock itself.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = writeln!(file, "{}", std::process::id());
    let _ = file.sync_all();
    Ok(DirLock { _file: file, path })
}

/// Lock the data directory, and the log directory when it is another one.
pub fn lock_storage(data_dir: &str, log_dir: &str) -> Result<Vec<DirLock>, LockError> {
    let mut locks = vec![lock_dir(Path::new(data_dir), "storage.data_dir")?];
    let same = match (
        std::fs::canonicalize(data_dir),
        std::fs::create_dir_all(log_dir).and_then(|_| std::fs::canonicalize(log_dir)),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => data_dir == log_dir,
    };
    if !same {
        locks.push(lock_dir(Path::new(log_dir), "storage.data_log_dir")?);
    }
    Ok(locks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_directory_is_refused_with_the_holders_pid() {
        let d = tempfile::tempdir().unwrap();
        let first = lock_dir(d.path(), "storage.data_dir").unwrap();
        let err = lock_dir(d.path(), "storage.data_dir").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("storage.data_dir"), "{msg}");
        drop(first);
        // Released: it can be taken again.
        lock_dir(d.path(), "storage.data_dir").unwrap();
    }

    #[test]
    fn the_log_directory_is_locked_too_unless_it_is_the_data_directory() {
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        let log = d.path().join("log");
        let (data, log) = (data.to_str().unwrap(), log.to_str().unwrap());
        let held = lock_storage(data, log).unwrap();
        assert_eq!(held.len(), 2);
        // Another server with its own data dir but the same log dir is refused.
        let other = d.path().join("other");
        let err = lock_storage(other.to_str().unwrap(), log).unwrap_err();
        assert!(err.to_string().contains("storage.data_log_dir"), "{err}");
        drop(held);
        // One directory for both: one lock.
        assert_eq!(lock_storage(data, data).unwrap().len(), 1);
    }
}
