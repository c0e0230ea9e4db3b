//! Transactions: the deterministic result of preparing a write. Applying the same txns in the
//! same order to the same tree gives the same tree on every server and after every replay.

use crate::codec::jute::Acl;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    pub session: i64,
    pub cxid: i32,
    pub zxid: i64,
    /// Wall-clock ms when the txn was prepared (ctime / mtime).
    pub time: i64,
    /// Shared, not copied: the leader hands one txn to its log, to every learner's proposal
    /// and to the DIFF window (serialised as the op itself, so the formats do not change).
    pub op: Arc<TxnOp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp {
    CreateSession {
        timeout: i32,
    },
    CloseSession,
    Create {
        path: String,
        // As one MessagePack bin, not a sequence of integers (also reads the latter).
        #[serde(with = "serde_bytes")]
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        ephemeral_owner: i64,
        /// The parent's stored cversion after this create.
        parent_cversion: i32,
        /// Opcode of the request, which decides the shape of the reply.
        opcode: i32,
    },
    Delete {
        path: String,
    },
    SetData {
        path: String,
        #[serde(with = "serde_bytes")]
        data: Option<Vec<u8>>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    /// A write that failed validation: it still takes a zxid, as in ZooKeeper.
    Error {
        err: i32,
    },
    Multi(Vec<TxnOp>),
}

impl TxnOp {
    pub fn is_error(&self) -> bool {
        matches!(self, TxnOp::Error { .. })
    }

    /// The txn type as ZooKeeper's log tools name it (for traces).
    pub fn name(&self) -> &'static str {
        match self {
            TxnOp::CreateSession { .. } => "createSession",
            TxnOp::CloseSession => "closeSession",
            TxnOp::Create { .. } => "create",
            TxnOp::Delete { .. } => "delete",
            TxnOp::SetData { .. } => "setData",
            TxnOp::SetAcl { .. } => "setACL",
            TxnOp::Check { .. } => "check",
            TxnOp::Error { .. } => "error",
            TxnOp::Multi(_) => "multi",
        }
    }

    /// The path a txn writes (the first one of a multi), if any.
    pub fn path(&self) -> Option<&str> {
        match self {
            TxnOp::Create { path, .. }
            | TxnOp::Delete { path }
            | TxnOp::SetData { path, .. }
            | TxnOp::SetAcl { path, .. }
            | TxnOp::Check { path, .. } => Some(path),
            TxnOp::Multi(ops) => ops.iter().find_map(|o| o.path()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same shapes as before data became one bin: data as a sequence of integers.
    #[derive(Serialize)]
    struct OldTxn {
        session: i64,
        cxid: i32,
        zxid: i64,
        time: i64,
        op: OldOp,
    }

    #[derive(Serialize)]
    #[allow(dead_code)]
    enum OldOp {
        CreateSession {
            timeout: i32,
        },
        CloseSession,
        Create {
            path: String,
            data: Option<Vec<u8>>,
            acl: Vec<Acl>,
            ephemeral_owner: i64,
            parent_cversion: i32,
            opcode: i32,
        },
        Delete {
            path: String,
        },
        SetData {
            path: String,
            data: Option<Vec<u8>>,
            version: i32,
        },
    }

    #[test]
    fn data_is_one_bin_and_older_logs_still_read() {
        let data: Vec<u8> = (0..=255).collect();
        let txn = Txn {
            session: 1,
            cxid: 2,
            zxid: 3,
            time: 4,
            op: TxnOp::SetData {
                path: "/a".into(),
                data: Some(data.clone()),
                version: 5,
            }
            .into(),
        };
        let new = rmp_serde::to_vec(&txn).unwrap();
        let old = rmp_serde::to_vec(&OldTxn {
            session: 1,
            cxid: 2,
            zxid: 3,
            time: 4,
            op: OldOp::SetData {
                path: "/a".into(),
                data: Some(data.clone()),
                version: 5,
            },
        })
        .unwrap();
        // 256 bytes as a bin: a 3-byte header; as integers, 128 of them take 2 bytes each.
        assert!(
            new.len() + 100 < old.len(),
            "{} vs {}",
            new.len(),
            old.len()
        );
        assert_eq!(rmp_serde::from_slice::<Txn>(&new).unwrap(), txn);
        assert_eq!(rmp_serde::from_slice::<Txn>(&old).unwrap(), txn);

        for data in [None, Some(Vec::new())] {
            let create = Txn {
                op: TxnOp::Create {
                    path: "/b".into(),
                    data: data.clone(),
                    acl: Acl::world_all(),
                    ephemeral_owner: 0,
                    parent_cversion: 1,
                    opcode: 1,
                }
                .into(),
                ..txn.clone()
            };
            let old = rmp_serde::to_vec(&OldTxn {
                session: 1,
                cxid: 2,
                zxid: 3,
                time: 4,
                op: OldOp::Create {
                    path: "/b".into(),
                    data,
                    acl: Acl::world_all(),
                    ephemeral_owner: 0,
                    parent_cversion: 1,
                    opcode: 1,
                },
            })
            .unwrap();
            let new = rmp_serde::to_vec(&create).unwrap();
            assert_eq!(rmp_serde::from_slice::<Txn>(&new).unwrap(), create);
            assert_eq!(rmp_serde::from_slice::<Txn>(&old).unwrap(), create);
        }
    }
}
