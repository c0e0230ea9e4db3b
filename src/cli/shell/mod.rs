//! The thin client layer of `keeper cli`: runs parsed [`Command`]s against a
//! `zookeeper_client::Client`, tracks the watches this shell set, and reports watch
//! and session events.
//!
//! Files:
//! - `mod.rs`        re-exports, [`Shell`]
//! - `connection.rs` opening and closing the session, connection state
//! - `run.rs`        [`Shell::run`]: executing one command, [`Flow`], [`command_path`]
//! - `tree.rs`       subtree walks (`ls -R`, `setAcl -R`, `deleteall`)
//! - `watches.rs`    [`WatchKind`], the watch table and the tasks waiting on watches
//! - `events.rs`     [`EventSink`]: printing watch and session events
//! - `output.rs`     [`Output`], [`Stream`]: a command's ordered stdout/stderr text
//! - `convert.rs`    permissions, ACLs and errors to and from `zookeeper_client`
//! - `tests.rs`      unit tests
//!
//! [`Command`]: super::parse::Command

mod connection;
mod convert;
mod events;
mod output;
mod run;
mod tree;
mod watches;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zookeeper_client::Client;

pub use events::EventSink;
pub use output::{Output, Stream};
pub use run::{command_path, Flow};
pub use watches::WatchKind;

use watches::WatchTable;

/// Connection settings and state of the shell.
pub struct Shell {
    host: String,
    timeout: Duration,
    readonly: bool,
    client: Option<Client>,
    /// False after `close` until `connect`: commands print `Not connected`.
    want_connected: bool,
    events: Arc<EventSink>,
    watches: Arc<Mutex<WatchTable>>,
    /// The live client for tab completion; cleared before the session is closed so
    /// that this clone never keeps a session open.
    shared: Arc<Mutex<Option<Client>>>,
    /// Set while this shell closes the session, so that `disconnect` (not the state
    /// task) reports the `Closed` event, before the next prompt.
    closing: Arc<AtomicBool>,
}

#[cfg(test)]
mod tests;
