//! The pure replicated state machine: znodes, Stat, ACLs, txns and watches. No IO.
pub mod acl;
pub mod node;
pub mod path;
pub mod prep;
pub mod tree;
pub mod txn;
pub mod watch;

pub use prep::{Caller, Outstanding, Prep};
pub use tree::{DataTree, OpResult, TreeConfig, Trigger};
pub use txn::{Txn, TxnOp};
