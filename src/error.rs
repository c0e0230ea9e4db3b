//! Two tiers of errors: `Code`, the ZooKeeper error a request gets (KeeperException.Code), and
//! `Fatal`, a condition after which this server must stop.

use thiserror::Error;

/// ZooKeeper error codes as they travel in ReplyHeader.err.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Code {
    Ok = 0,
    SystemError = -1,
    RuntimeInconsistency = -2,
    DataInconsistency = -3,
    MarshallingError = -5,
    Unimplemented = -6,
    BadArguments = -8,
    NewConfigNoQuorum = -13,
    NoNode = -101,
    NoAuth = -102,
    BadVersion = -103,
    NoChildrenForEphemerals = -108,
    NodeExists = -110,
    NotEmpty = -111,
    SessionExpired = -112,
    InvalidAcl = -114,
    AuthFailed = -115,
    SessionMoved = -118,
    NotReadOnly = -119,
    NoWatcher = -121,
    ReconfigDisabled = -123,
    QuotaExceeded = -125,
    ThrottledOp = -127,
}

impl Code {
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    pub fn from_i32(v: i32) -> Option<Code> {
        use Code::*;
        Some(match v {
            0 => Ok,
            -1 => SystemError,
            -2 => RuntimeInconsistency,
            -3 => DataInconsistency,
            -5 => MarshallingError,
            -6 => Unimplemented,
            -8 => BadArguments,
            -13 => NewConfigNoQuorum,
            -101 => NoNode,
            -102 => NoAuth,
            -103 => BadVersion,
            -108 => NoChildrenForEphemerals,
            -110 => NodeExists,
            -111 => NotEmpty,
            -112 => SessionExpired,
            -114 => InvalidAcl,
            -115 => AuthFailed,
            -118 => SessionMoved,
            -119 => NotReadOnly,
            -121 => NoWatcher,
            -123 => ReconfigDisabled,
            -125 => QuotaExceeded,
            -127 => ThrottledOp,
            _ => return None,
        })
    }
}

/// The node cannot go on: it must stop rather than serve wrong answers.
#[derive(Debug, Error)]
pub enum Fatal {
    #[error("I/O error on {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

impl Fatal {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Fatal {
        Fatal::Io {
            what: what.into(),
            source,
        }
    }
}

/// The one way a running server stops on a [`Fatal`] condition: log it, then stop the actor
/// system with exit code 1 (`keeper server` returns it), rather than `process::exit` from
/// wherever it was noticed.
pub fn stop_server(f: Fatal) {
    tracing::error!("this server must stop: {f}");
    crate::metrics::SERVER.unrecoverable_error_count.inc();
    match actix::System::try_current() {
        Some(sys) => sys.stop_with_code(1),
        // Not inside a running server (a test harness): nothing else can stop it.
        None => std::process::exit(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for v in -130..=0 {
            if let Some(c) = Code::from_i32(v) {
                assert_eq!(c.as_i32(), v);
            }
        }
        assert_eq!(Code::NoNode.as_i32(), -101);
    }
}
