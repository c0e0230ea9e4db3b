//! Wire codecs. `jute`: the ZooKeeper client protocol.
pub mod jute;
