//! Pure protocol machines: no actix, no tokio, no IO, no wall clock.
pub mod election;
pub mod quorum;
pub mod session;
pub mod vote;
pub mod zab;
