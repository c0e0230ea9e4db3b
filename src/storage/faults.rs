//! Fault injection for tests of a failing or stalling disk, in a real server process: the
//! environment variable `KEEPER_FAULTS` (comma-separated) makes the transaction log's fsyncs
//! fail or stall. Unset, as outside such tests, it costs one read of a `OnceLock` per fsync.
//!
//! - `fsync_eio_at=N`: the N-th fsync of the log (1-based) fails with EIO, once; the ones after
//!   it would succeed again, as on a disk with a transient error, which is what makes retrying
//!   after a failed fsync unsafe (the pages it could not write may be gone).
//! - `fsync_stall_ms=M`: each fsync first waits M ms, as on a stalling disk;
//!   `fsync_stall_after=N`: only the fsyncs after the first N do.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Faults {
    pub fsync_eio_at: Option<u64>,
    pub fsync_stall_ms: u64,
    pub fsync_stall_after: u64,
}

static FAULTS: OnceLock<Option<Faults>> = OnceLock::new();
static FSYNCS: AtomicU64 = AtomicU64::new(0);

/// `KEEPER_FAULTS`'s value read: None when it is empty.
pub fn parse(spec: &str) -> Result<Option<Faults>, String> {
    let mut f = Faults::default();
    let mut any = false;
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("KEEPER_FAULTS: `{item}` is not key=value"))?;
        let n: u64 = v
            .parse()
            .map_err(|_| format!("KEEPER_FAULTS: `{item}`: {v} is not a number"))?;
        match k {
            "fsync_eio_at" => f.fsync_eio_at = Some(n),
            "fsync_stall_ms" => f.fsync_stall_ms = n,
            "fsync_stall_after" => f.fsync_stall_after = n,
            _ => return Err(format!("KEEPER_FAULTS: unknown fault `{k}`")),
        }
        any = true;
    }
    Ok(any.then_some(f))
}

/// The faults this process injects, read from the environment once (and said in the log).
fn faults() -> Option<&'static Faults> {
    FAULTS
        .get_or_init(|| {
            let spec = std::env::var("KEEPER_FAULTS").ok()?;
            match parse(&spec) {
                Ok(f) => {
                    if let Some(f) = &f {
                        tracing::warn!("fault injection is on (KEEPER_FAULTS={spec}): {f:?}");
                    }
                    f
                }
                Err(e) => {
                    tracing::error!("{e}; no fault is injected");
                    None
                }
            }
        })
        .as_ref()
}

/// Called before each fsync of the log: the injected stall or failure, if any.
pub fn before_fsync() -> io::Result<()> {
    let Some(f) = faults() else {
        return Ok(());
    };
    let n = FSYNCS.fetch_add(1, Ordering::Relaxed) + 1;
    if f.fsync_stall_ms > 0 && n > f.fsync_stall_after {
        std::thread::sleep(Duration::from_millis(f.fsync_stall_ms));
    }
    if f.fsync_eio_at == Some(n) {
        return Err(io::Error::from_raw_os_error(libc::EIO));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_mistakes_are_named() {
        assert_eq!(parse("").unwrap(), None);
        let f = parse("fsync_eio_at=3, fsync_stall_ms=500,fsync_stall_after=2")
            .unwrap()
            .unwrap();
        assert_eq!(f.fsync_eio_at, Some(3));
        assert_eq!((f.fsync_stall_ms, f.fsync_stall_after), (500, 2));
        assert!(parse("fsync_eio").unwrap_err().contains("key=value"));
        assert!(parse("fsync_eio_at=x")
            .unwrap_err()
            .contains("not a number"));
        assert!(parse("disk_on_fire=1")
            .unwrap_err()
            .contains("unknown fault"));
    }
}
