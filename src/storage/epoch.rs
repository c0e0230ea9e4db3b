//! Small state files (acceptedEpoch, currentEpoch, ...) replaced atomically: write a temp
//! file, fsync it, rename it over the old one, fsync the directory.

use super::fsync_dir;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    fsync_dir(dir)
}

/// Read an epoch file (decimal text). None if it does not exist.
pub fn read_epoch(path: &Path) -> Result<Option<u64>, String> {
    match fs::read_to_string(path) {
        Ok(s) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|e| format!("{} does not hold an epoch number: {e}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

pub fn write_epoch(path: &Path, epoch: u64) -> io::Result<()> {
    write_atomic(path, epoch.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_round_trip_atomically() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("currentEpoch");
        assert_eq!(read_epoch(&p).unwrap(), None);
        write_epoch(&p, 7).unwrap();
        assert_eq!(read_epoch(&p).unwrap(), Some(7));
        write_epoch(&p, 8).unwrap();
        assert_eq!(read_epoch(&p).unwrap(), Some(8));
        assert!(!d.path().join("currentEpoch.tmp").exists());
        fs::write(&p, "garbage").unwrap();
        assert!(read_epoch(&p).unwrap_err().contains("currentEpoch"));
    }
}
