//! The parsed command line: [`Command`] and the enums of its fields.

/// Which local watches `removewatches` removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatcherType {
    Children,
    Data,
    Any,
}

/// `addWatch -m` modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddWatchMode {
    Persistent,
    PersistentRecursive,
}

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Create {
        path: String,
        data: Option<String>,
        acl: Option<String>,
        ephemeral: bool,
        sequential: bool,
        container: bool,
        ttl: Option<i64>,
    },
    Ls {
        path: String,
        stat: bool,
        watch: bool,
        recursive: bool,
    },
    Get {
        path: String,
        stat: bool,
        watch: bool,
    },
    Set {
        path: String,
        data: String,
        version: Option<i32>,
        stat: bool,
    },
    Stat {
        path: String,
        watch: bool,
    },
    Delete {
        path: String,
        version: Option<i32>,
    },
    DeleteAll {
        path: String,
        batch: usize,
    },
    GetAcl {
        path: String,
        stat: bool,
    },
    SetAcl {
        path: String,
        acl: String,
        version: Option<i32>,
        stat: bool,
        recursive: bool,
    },
    AddAuth {
        scheme: String,
        auth: Option<String>,
    },
    Sync {
        path: String,
    },
    GetEphemerals {
        path: Option<String>,
    },
    GetAllChildrenNumber {
        path: String,
    },
    AddWatch {
        path: String,
        mode: AddWatchMode,
    },
    RemoveWatches {
        path: String,
        kind: WatcherType,
        local: bool,
    },
    WhoAmI,
    Version,
    Connect {
        host: Option<String>,
    },
    Close,
    Quit,
    Help,
    History,
    Redo {
        index: i64,
    },
    PrintWatches {
        on: Option<bool>,
    },
}
