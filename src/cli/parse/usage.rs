//! The command table ([`USAGE`]) and the usage text built from it.

/// Command names and their option synopsis, as zkCli's usage prints them (plus `help`).
pub const USAGE: &[(&str, &str)] = &[
    (
        "addWatch",
        "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE",
    ),
    ("addauth", "scheme auth"),
    ("close", ""),
    ("connect", "host:port"),
    ("create", "[-s] [-e] [-c] [-t ttl] path [data] [acl]"),
    ("delete", "[-v version] path"),
    ("deleteall", "path [-b batch size]"),
    ("get", "[-s] [-w] path"),
    ("getAcl", "[-s] path"),
    ("getAllChildrenNumber", "path"),
    ("getEphemerals", "path"),
    ("help", ""),
    ("history", ""),
    ("ls", "[-s] [-w] [-R] path"),
    ("printwatches", "on|off"),
    ("quit", ""),
    ("redo", "cmdno"),
    ("removewatches", "path [-c|-d|-a] [-l]"),
    ("set", "[-s] [-v version] path data"),
    ("setAcl", "[-s] [-v version] [-R] path acl"),
    ("stat", "[-w] path"),
    ("sync", "path"),
    ("version", ""),
    ("whoami", ""),
];

/// The usage text zkCli prints for an unknown command.
pub fn usage_text() -> String {
    let mut s = String::from("ZooKeeper -server host:port -timeout ms -r cmd args\n");
    for (cmd, opts) in USAGE {
        s.push('\t');
        s.push_str(cmd);
        s.push(' ');
        s.push_str(opts);
        s.push('\n');
    }
    s
}

/// `"cmd options"` usage line of one command.
pub fn usage_of(cmd: &str) -> String {
    let opts = USAGE
        .iter()
        .find(|(c, _)| *c == cmd)
        .map(|(_, o)| *o)
        .unwrap_or("");
    format!("{cmd} {opts}")
}
