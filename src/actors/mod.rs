//! Thin actix shells around the pure machines; one actor per file, each file owns the messages
//! it receives.
pub mod client_connection;
pub mod client_io;
pub mod client_listener;
pub mod data_tree;
pub mod election;
pub mod link_writer;
pub mod peer_listener;
pub mod persister;
pub mod quorum_hooks;
pub mod server;
pub mod session_tracker;
pub mod zab;
