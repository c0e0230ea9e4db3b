//! Transactions: the deterministic result of preparing a write. Applying the same txns in the
//! same order to the same tree gives the same tree on every server and after every replay.

use crate::codec::jute::Acl;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    pub session: i64,
    pub cxid: i32,
    pub zxid: i64,
    /// Wall-clock ms when the txn was prepared (ctime / mtime).
    pub time: i64,
    pub op: TxnOp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp {
    CreateSession {
        timeout: i32,
    },
    CloseSession,
    Create {
        path: String,
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
}
