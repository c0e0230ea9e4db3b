//! Pure parsing for `keeper cli`: program flags, interactive line tokenizing, and
//! every zkCli command with its flags (mirroring Apache Commons CLI's `DefaultParser`,
//! which is what zkCli.sh 3.8 uses).
//!
//! Files:
//! - `mod.rs`           re-exports
//! - `options.rs`       [`CliOptions`], [`parse_options`]: program level flags
//! - `tokenize.rs`      [`tokenize`]: an interactive line into words
//! - `command.rs`       [`Command`], [`WatcherType`], [`AddWatchMode`]: a parsed command
//! - `error.rs`         [`CliError`]: a command failure, its message and exit code
//! - `usage.rs`         [`USAGE`], [`usage_text`], [`usage_of`]: the command table, help text
//! - `flags.rs`         Commons-CLI style option parsing of one command's arguments
//! - `numbers.rs`       Java's `Integer.parseInt` / `Integer.decode`
//! - `parse_command.rs` [`parse_command`]: each command's flags and arguments, [`MAX_TTL`]
//! - `path.rs`          [`validate_path`]: the Java client's znode path checks
//! - `tests.rs`         unit tests

mod command;
mod error;
mod flags;
mod numbers;
mod options;
mod parse_command;
mod path;
mod tokenize;
mod usage;

pub use command::{AddWatchMode, Command, WatcherType};
pub use error::CliError;
pub use options::{parse_options, CliOptions, DEFAULT_SERVER, DEFAULT_TIMEOUT_MS};
pub use parse_command::{parse_command, MAX_TTL};
pub use path::validate_path;
pub use tokenize::tokenize;
pub use usage::{usage_of, usage_text, USAGE};

#[cfg(test)]
mod tests;
