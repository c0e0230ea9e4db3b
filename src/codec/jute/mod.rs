//! The ZooKeeper client protocol: primitives, records, frames.
pub mod frame;
pub mod primitives;
pub mod records;

pub use primitives::{DecodeError, JuteWrite, Reader};
pub use records::*;
