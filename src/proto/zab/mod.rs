//! ZAB as pure machines. `sync`: how a new leader brings each learner up to date.
pub mod sync;
