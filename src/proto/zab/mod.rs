//! ZAB as pure machines: `leader` (discovery, sync, broadcast, liveness), `learner` (its
//! follower / observer side) and `sync` (the DIFF / TRUNC / SNAP decision).
pub mod leader;
pub mod learner;
pub mod sync;

#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod sim;
