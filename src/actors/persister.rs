//! Persister: makes txns durable and reports the highest durable zxid. This one keeps them in
//! memory only (no crash durability yet); the file-backed one takes its place behind the same
//! messages.

use super::data_tree::{DataTreeActor, Durable};
use crate::datatree::Txn;
use actix::prelude::*;

/// Append txns, in zxid order; answered by `Durable` to the tree actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Append(pub Vec<Txn>);

pub struct MemoryPersister {
    tree: Addr<DataTreeActor>,
    log_len: u64,
}

impl MemoryPersister {
    pub fn new(tree: Addr<DataTreeActor>) -> Self {
        MemoryPersister { tree, log_len: 0 }
    }
}

impl Actor for MemoryPersister {
    type Context = Context<Self>;
}

impl Handler<Append> for MemoryPersister {
    type Result = ();
    fn handle(&mut self, msg: Append, _: &mut Context<Self>) {
        self.log_len += msg.0.len() as u64;
        if let Some(last) = msg.0.last() {
            self.tree.do_send(Durable(last.zxid));
        }
    }
}
