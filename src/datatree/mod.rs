//! The pure replicated state machine: znodes, Stat, ACLs, txns and watches. No IO.
pub mod acl;
pub mod node;
pub mod path;
pub mod tree;
pub mod txn;
pub mod watch;

pub use tree::{Caller, DataTree, OpResult, TreeConfig, Trigger};
pub use txn::{Txn, TxnOp};
