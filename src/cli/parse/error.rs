//! [`CliError`]: a command failure with zkCli's message and exit code.

use std::fmt;

/// A command failure, carrying zkCli's message and exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliError {
    /// Bad flags or arguments; the message is printed as is.
    Parse(String),
    /// Semantically malformed command (`MalformedCommandException`).
    Malformed(String),
    /// Invalid znode path (`MalformedPathException`).
    MalformedPath(String),
    /// Unknown command name (printed after the usage text, exit code 127).
    NotFound(String),
    /// A failure reported by the server or the client library, already rendered.
    Keeper(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::NotFound(_) => 127,
            _ => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Parse(m) | CliError::Malformed(m) | CliError::MalformedPath(m) => {
                f.write_str(m)
            }
            CliError::Keeper(m) => f.write_str(m),
            CliError::NotFound(cmd) => write!(f, "Command not found: Command not found {cmd}"),
        }
    }
}
