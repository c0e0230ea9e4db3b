//! Workload names and the choice of the next operation (pure).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// setData on per-client znodes.
    Write,
    /// getData on per-client znodes.
    Read,
    /// `read_pct` percent getData, the rest setData, chosen at random per request.
    Mixed { read_pct: u8 },
    /// create a sequential znode, then delete it; both count.
    CreateDelete,
    /// N sessions watch one znode, one writer changes it; latency until all are notified.
    Watch,
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "write" => Ok(Workload::Write),
            "read" => Ok(Workload::Read),
            "create-delete" => Ok(Workload::CreateDelete),
            "watch" => Ok(Workload::Watch),
            _ => {
                let Some(r) = s.strip_prefix("mixed:") else {
                    return Err(format!(
                        "unknown workload {s:?}: expected write, read, mixed:R (R = read percent 0..100), create-delete or watch"
                    ));
                };
                match r.parse::<u8>() {
                    Ok(p) if p <= 100 => Ok(Workload::Mixed { read_pct: p }),
                    _ => Err(format!(
                        "mixed:R needs a read percentage R in 0..=100, got {r:?}"
                    )),
                }
            }
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Workload::Write => write!(f, "write"),
            Workload::Read => write!(f, "read"),
            Workload::Mixed { read_pct } => write!(f, "mixed:{read_pct}"),
            Workload::CreateDelete => write!(f, "create-delete"),
            Workload::Watch => write!(f, "watch"),
        }
    }
}

/// The kind of a request in flight, also the key of its latency histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    Read,
    Write,
    Create,
    Delete,
    Ping,
    Close,
}

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Create => "create",
            OpKind::Delete => "delete",
            OpKind::Ping => "ping",
            OpKind::Close => "close",
        }
    }
    /// Whether a completed op of this kind counts in the figures.
    pub fn counts(self) -> bool {
        !matches!(self, OpKind::Ping | OpKind::Close)
    }
}

/// The next op of a pipelined client. `roll` is uniform in 0..100; `pending_delete` tells
/// whether a created node waits to be deleted (create-delete deletes it first).
pub fn next_op(w: Workload, roll: u32, pending_delete: bool) -> OpKind {
    match w {
        Workload::Write => OpKind::Write,
        Workload::Read => OpKind::Read,
        Workload::Mixed { read_pct } => {
            if roll < read_pct as u32 {
                OpKind::Read
            } else {
                OpKind::Write
            }
        }
        Workload::CreateDelete => {
            if pending_delete {
                OpKind::Delete
            } else {
                OpKind::Create
            }
        }
        // The watch workload is not pipelined; its writer only writes.
        Workload::Watch => OpKind::Write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for s in [
            "write",
            "read",
            "mixed:0",
            "mixed:50",
            "mixed:100",
            "create-delete",
            "watch",
        ] {
            let w: Workload = s.parse().unwrap();
            assert_eq!(w.to_string(), s);
        }
        assert_eq!(
            "mixed:90".parse::<Workload>().unwrap(),
            Workload::Mixed { read_pct: 90 }
        );
        for bad in [
            "",
            "mixed",
            "mixed:",
            "mixed:101",
            "mixed:-1",
            "mixed:x",
            "WRITE",
            "delete",
        ] {
            assert!(bad.parse::<Workload>().is_err(), "{bad}");
        }
    }

    #[test]
    fn mixed_ratio_follows_roll() {
        let w = Workload::Mixed { read_pct: 90 };
        let reads = (0..100)
            .filter(|r| next_op(w, *r, false) == OpKind::Read)
            .count();
        assert_eq!(reads, 90);
        let none = Workload::Mixed { read_pct: 0 };
        assert!((0..100).all(|r| next_op(none, r, false) == OpKind::Write));
        let all = Workload::Mixed { read_pct: 100 };
        assert!((0..100).all(|r| next_op(all, r, false) == OpKind::Read));
    }

    #[test]
    fn create_delete_alternates_on_pending() {
        assert_eq!(next_op(Workload::CreateDelete, 0, false), OpKind::Create);
        assert_eq!(next_op(Workload::CreateDelete, 0, true), OpKind::Delete);
        assert_eq!(next_op(Workload::Write, 5, true), OpKind::Write);
        assert_eq!(next_op(Workload::Read, 5, true), OpKind::Read);
        assert!(!OpKind::Ping.counts() && OpKind::Delete.counts());
    }
}
