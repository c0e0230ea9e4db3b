//! Pure protocol machines: no actix, no tokio, no IO, no wall clock.
pub mod session;
