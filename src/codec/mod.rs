//! Wire codecs. `jute`: the ZooKeeper client protocol. `peer`: messages between servers.
pub mod jute;
pub mod peer;
