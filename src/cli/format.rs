//! Pure output formatting for `keeper cli`, byte-compatible with zkCli.sh 3.8:
//! stats with Java `Date.toString()` times, ACLs, child lists, watch events and
//! error messages.

use zookeeper_client::{Error, EventType, SessionState, Stat};

/// Permission bits (`ZooDefs.Perms`).
pub const PERM_READ: i32 = 1;
pub const PERM_WRITE: i32 = 2;
pub const PERM_CREATE: i32 = 4;
pub const PERM_DELETE: i32 = 8;
pub const PERM_ADMIN: i32 = 16;
pub const PERM_ALL: i32 = 31;

/// One ACL entry as the CLI sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclEntry {
    pub scheme: String,
    pub id: String,
    pub perms: i32,
}

impl AclEntry {
    pub fn new(scheme: &str, id: &str, perms: i32) -> Self {
        AclEntry {
            scheme: scheme.to_string(),
            id: id.to_string(),
            perms,
        }
    }
}

/// Parses `scheme:id:perms[,scheme:id:perms...]` like zkCli's `AclParser`: the id is
/// everything between the first and the last colon (so `digest:user:hash:cdrwa` and
/// IPv6 ids work). Malformed entries, unknown permission letters and entries that grant
/// nothing each produce a warning line; an entry that grants nothing is dropped. Callers
/// refuse an ACL with warnings (zkCli applies what it could parse: `world:anyone:zz` became
/// permissions 0 and locked the node for good).
pub fn parse_acl(acl: &str) -> (Vec<AclEntry>, Vec<String>) {
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    // Java's String.split drops trailing empty strings.
    let mut parts: Vec<&str> = acl.split(',').collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    for a in parts {
        let (Some(first), Some(last)) = (a.find(':'), a.rfind(':')) else {
            warnings.push(format!("{a} does not have the form scheme:id:perm"));
            continue;
        };
        if first == last {
            warnings.push(format!("{a} does not have the form scheme:id:perm"));
            continue;
        }
        let mut perms = 0;
        for c in a[last + 1..].chars() {
            match c {
                'r' => perms |= PERM_READ,
                'w' => perms |= PERM_WRITE,
                'c' => perms |= PERM_CREATE,
                'd' => perms |= PERM_DELETE,
                'a' => perms |= PERM_ADMIN,
                other => warnings.push(format!("Unknown perm type: {other}")),
            }
        }
        if perms == 0 {
            warnings.push(format!(
                "{a} grants no permission (permissions are letters of cdrwa)"
            ));
            continue;
        }
        entries.push(AclEntry::new(&a[..first], &a[first + 1..last], perms));
    }
    (entries, warnings)
}

/// `ZKUtil.getPermString`: letters in the order `cdrwa`.
pub fn perm_string(perms: i32) -> String {
    [
        (PERM_CREATE, 'c'),
        (PERM_DELETE, 'd'),
        (PERM_READ, 'r'),
        (PERM_WRITE, 'w'),
        (PERM_ADMIN, 'a'),
    ]
    .iter()
    .filter(|(bit, _)| perms & bit != 0)
    .map(|(_, c)| *c)
    .collect()
}

/// Jute `ToStringOutputArchive` string escaping: a leading `'`, and `\0 \n \r , } %`
/// percent-encoded.
pub fn jute_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\0' => out.push_str("%00"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            ',' => out.push_str("%2C"),
            '}' => out.push_str("%7D"),
            '%' => out.push_str("%25"),
            c => out.push(c),
        }
    }
    out
}

/// `getAcl` output: per entry `Id.toString()` (which ends with a newline) then `: perms`.
pub fn format_acl(acl: &[AclEntry]) -> String {
    let mut out = String::new();
    for a in acl {
        out.push_str(&jute_string(&a.scheme));
        out.push(',');
        out.push_str(&jute_string(&a.id));
        out.push_str("\n: ");
        out.push_str(&perm_string(a.perms));
        out.push('\n');
    }
    out
}

/// `ls` output: children sorted, `[a, b, c]`.
pub fn format_children(children: &[String]) -> String {
    let mut sorted: Vec<&String> = children.iter().collect();
    sorted.sort();
    format!(
        "[{}]\n",
        sorted
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Java `List.toString()`, in the given order (used by `getEphemerals`).
pub fn format_list(items: &[String]) -> String {
    format!("[{}]\n", items.join(", "))
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Java `Date.toString()` (`EEE MMM dd HH:mm:ss zzz yyyy`) for epoch milliseconds,
/// given the zone's UTC offset (seconds) and short name at that instant.
pub fn java_date(millis: i64, offset_secs: i64, zone: &str) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = millis.div_euclid(1000) + offset_secs;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} {} {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        zone,
        y
    )
}

/// The local time zone's UTC offset and abbreviation at `millis` (from the C library,
/// which honours `TZ` and `/etc/localtime` like the JVM does).
pub fn local_zone(millis: i64) -> (i64, String) {
    #[cfg(unix)]
    {
        // SAFETY: tzset/localtime_r are given valid pointers; tm_zone points to static
        // storage owned by libc and is copied out immediately.
        unsafe {
            extern "C" {
                fn tzset();
            }
            tzset();
            let t: libc::time_t = millis.div_euclid(1000) as libc::time_t;
            let mut tm: libc::tm = std::mem::zeroed();
            if !libc::localtime_r(&t, &mut tm).is_null() {
                let name = if tm.tm_zone.is_null() {
                    String::new()
                } else {
                    std::ffi::CStr::from_ptr(tm.tm_zone)
                        .to_string_lossy()
                        .into_owned()
                };
                let offset = tm.tm_gmtoff as i64;
                let name = if name.is_empty() {
                    gmt_offset_name(offset)
                } else {
                    name
                };
                return (offset, name);
            }
        }
    }
    #[allow(unreachable_code)]
    (0, "UTC".to_string())
}

/// Java's name for a zone without an abbreviation: `GMT+05:30`.
fn gmt_offset_name(offset: i64) -> String {
    if offset == 0 {
        return "GMT".into();
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.abs();
    format!("GMT{sign}{:02}:{:02}", a / 3600, (a / 60) % 60)
}

/// A `Date.toString()` in the local zone.
pub fn local_java_date(millis: i64) -> String {
    let (offset, zone) = local_zone(millis);
    java_date(millis, offset, &zone)
}

/// Java `Long.toHexString`: two's complement for negatives.
fn hex(v: i64) -> String {
    format!("{:x}", v as u64)
}

/// `StatPrinter.print` with a caller supplied date formatter.
pub fn format_stat_with(stat: &Stat, date: impl Fn(i64) -> String) -> String {
    format!(
        "cZxid = 0x{}\nctime = {}\nmZxid = 0x{}\nmtime = {}\npZxid = 0x{}\ncversion = {}\n\
         dataVersion = {}\naclVersion = {}\nephemeralOwner = 0x{}\ndataLength = {}\nnumChildren = {}\n",
        hex(stat.czxid),
        date(stat.ctime),
        hex(stat.mzxid),
        date(stat.mtime),
        hex(stat.pzxid),
        stat.cversion,
        stat.version,
        stat.aversion,
        hex(stat.ephemeral_owner),
        stat.data_length,
        stat.num_children
    )
}

/// `StatPrinter.print` in the local time zone.
pub fn format_stat(stat: &Stat) -> String {
    format_stat_with(stat, local_java_date)
}

/// Java `Watcher.Event.KeeperState` name.
pub fn keeper_state_name(state: SessionState) -> &'static str {
    match state {
        SessionState::Disconnected => "Disconnected",
        SessionState::SyncConnected => "SyncConnected",
        SessionState::AuthFailed => "AuthFailed",
        SessionState::ConnectedReadOnly => "ConnectedReadOnly",
        SessionState::Expired => "Expired",
        SessionState::Closed => "Closed",
    }
}

/// Java `ZooKeeper.States` name, as shown in the prompt.
pub fn zk_state_name(state: Option<SessionState>) -> &'static str {
    match state {
        None => "CLOSED",
        Some(SessionState::SyncConnected) => "CONNECTED",
        Some(SessionState::ConnectedReadOnly) => "CONNECTEDREADONLY",
        Some(SessionState::Disconnected) => "CONNECTING",
        Some(SessionState::AuthFailed) => "AUTH_FAILED",
        Some(SessionState::Expired) | Some(SessionState::Closed) => "CLOSED",
    }
}

/// Java `Watcher.Event.EventType` name.
pub fn event_type_name(t: EventType) -> &'static str {
    match t {
        EventType::Session => "None",
        EventType::NodeCreated => "NodeCreated",
        EventType::NodeDeleted => "NodeDeleted",
        EventType::NodeDataChanged => "NodeDataChanged",
        EventType::NodeChildrenChanged => "NodeChildrenChanged",
    }
}

/// `WatchedEvent.toString()`; `path` is `None` for session events (printed `null`).
pub fn format_event(state: &str, event_type: &str, path: Option<&str>) -> String {
    format!(
        "WatchedEvent state:{state} type:{event_type} path:{}",
        path.unwrap_or("null")
    )
}

/// What zkCli's default watcher prints for an event: two `printMessage` calls,
/// each a blank line followed by the text.
pub fn watcher_block(event: &str) -> String {
    format!("\nWATCHER::\n\n{event}\n")
}

/// Java `KeeperException.getCodeMessage` for a client library error, or `None` for
/// errors that are not ZooKeeper result codes.
fn code_message(err: &Error) -> Option<String> {
    Some(
        match err {
            Error::ConnectionLoss | Error::NoHosts => "ConnectionLoss",
            Error::Timeout => "OperationTimeout",
            Error::NoNode => "NoNode",
            Error::NoAuth => "NoAuth",
            Error::BadVersion => "BadVersion",
            Error::NoChildrenForEphemerals => "NoChildrenForEphemerals",
            Error::NodeExists => "NodeExists",
            Error::NotEmpty => "Directory not empty",
            Error::SessionExpired | Error::ClientClosed => "Session expired",
            Error::InvalidAcl => "InvalidACL",
            Error::AuthFailed => "AuthFailed",
            Error::SessionMoved => "Session moved",
            Error::NotReadOnly => "Not a read-only call",
            Error::NoWatcher => "No such watcher",
            Error::QuotaExceeded => "Quota has exceeded",
            Error::Throttled => "Op throttled due to high load",
            Error::MarshallingError => "MarshallingError",
            Error::Unimplemented => "Unimplemented",
            Error::ReconfigDisabled => "Reconfig is disabled",
            Error::RuntimeInconsistent => "RuntimeInconsistency",
            Error::BadArguments(_) => "BadArguments",
            Error::UnexpectedErrorCode(code) => return Some(format!("Unknown error {code}")),
            _ => return None,
        }
        .to_string(),
    )
}

/// `KeeperException.getMessage()`: `KeeperErrorCode = <code> for <path>`.
pub fn keeper_error_message(err: &Error, path: &str) -> String {
    match code_message(err) {
        Some(code) if path.is_empty() => format!("KeeperErrorCode = {code}"),
        Some(code) => format!("KeeperErrorCode = {code} for {path}"),
        None => err.to_string(),
    }
}

/// The message zkCli's `CliWrapperException` prints for a failed operation on `path`.
pub fn error_message(err: &Error, path: &str) -> String {
    match err {
        Error::NoNode => format!("Node does not exist: {path}"),
        Error::NoChildrenForEphemerals => format!("Ephemerals cannot have children: {path}"),
        Error::NodeExists => format!("Node already exists: {path}"),
        Error::NotEmpty => format!("Node not empty: {path}"),
        Error::NotReadOnly => format!("Not a read-only call: {path}"),
        Error::InvalidAcl => format!("Acl is not valid : {path}"),
        Error::NoAuth => format!("Insufficient permission : {path}"),
        Error::BadArguments(_) => format!("Arguments are not valid : {path}"),
        Error::BadVersion => format!("version No is not valid : {path}"),
        Error::QuotaExceeded => format!("Quota has exceeded : {path}"),
        Error::AuthFailed => format!("Authentication is not valid : {path}"),
        other => keeper_error_message(other, path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat() -> Stat {
        Stat {
            czxid: 3,
            mzxid: 0x1_0000_0004,
            pzxid: 3,
            ctime: 1_795_795_765_000,
            mtime: 0,
            version: 2,
            cversion: 1,
            aversion: 0,
            ephemeral_owner: 0x1000_0a8f_c3d0_0001,
            data_length: 5,
            num_children: 0,
        }
    }

    #[test]
    fn stat_format() {
        let s = format_stat_with(&stat(), |ms| java_date(ms, 0, "UTC"));
        assert_eq!(
            s,
            "cZxid = 0x3\n\
             ctime = Fri Nov 27 16:09:25 UTC 2026\n\
             mZxid = 0x100000004\n\
             mtime = Thu Jan 01 00:00:00 UTC 1970\n\
             pZxid = 0x3\n\
             cversion = 1\n\
             dataVersion = 2\n\
             aclVersion = 0\n\
             ephemeralOwner = 0x10000a8fc3d00001\n\
             dataLength = 5\n\
             numChildren = 0\n"
        );
    }

    #[test]
    fn stat_negative_hex() {
        let mut st = stat();
        st.ephemeral_owner = -1;
        let s = format_stat_with(&st, |_| String::new());
        assert!(s.contains("ephemeralOwner = 0xffffffffffffffff\n"));
    }

    #[test]
    fn java_dates() {
        assert_eq!(java_date(0, 0, "UTC"), "Thu Jan 01 00:00:00 UTC 1970");
        // zkCli printed this for a node created on 2026-11-21.
        assert_eq!(
            java_date(1_795_277_359_000, 0, "UTC"),
            "Sat Nov 21 16:09:19 UTC 2026"
        );
        assert_eq!(
            java_date(951_782_400_000, 0, "UTC"),
            "Tue Feb 29 00:00:00 UTC 2000"
        );
        assert_eq!(java_date(-1000, 0, "UTC"), "Wed Dec 31 23:59:59 UTC 1969");
        assert_eq!(java_date(0, 3600, "CET"), "Thu Jan 01 01:00:00 CET 1970");
        assert_eq!(
            java_date(0, -5 * 3600, "EST"),
            "Wed Dec 31 19:00:00 EST 1969"
        );
        assert_eq!(gmt_offset_name(19800), "GMT+05:30");
        assert_eq!(gmt_offset_name(-3600), "GMT-01:00");
    }

    #[test]
    fn acl_parsing() {
        let (acl, warn) = parse_acl("world:anyone:cdrwa,digest:u:hash=:r,ip:10.0.0.0/8:rw");
        assert!(warn.is_empty());
        assert_eq!(
            acl,
            vec![
                AclEntry::new("world", "anyone", PERM_ALL),
                AclEntry::new("digest", "u:hash=", PERM_READ),
                AclEntry::new("ip", "10.0.0.0/8", PERM_READ | PERM_WRITE),
            ]
        );
        let (acl, warn) = parse_acl("auth::cdrwa");
        assert_eq!(acl, vec![AclEntry::new("auth", "", PERM_ALL)]);
        assert!(warn.is_empty());
        let (acl, warn) = parse_acl("world:anyone,world:anyone:rx,");
        assert_eq!(acl, vec![AclEntry::new("world", "anyone", PERM_READ)]);
        assert_eq!(
            warn,
            vec![
                "world:anyone does not have the form scheme:id:perm".to_string(),
                "Unknown perm type: x".to_string()
            ]
        );
        let (acl, warn) = parse_acl("bogus");
        assert!(acl.is_empty());
        assert_eq!(warn.len(), 1);
        let (acl, warn) = parse_acl("world:anyone:zz");
        assert!(acl.is_empty());
        assert_eq!(
            warn,
            vec![
                "Unknown perm type: z".to_string(),
                "Unknown perm type: z".to_string(),
                "world:anyone:zz grants no permission (permissions are letters of cdrwa)"
                    .to_string()
            ]
        );
        let (acl, _) = parse_acl("ip:::1:r");
        assert_eq!(acl, vec![AclEntry::new("ip", "::1", PERM_READ)]);
    }

    #[test]
    fn acl_formatting() {
        assert_eq!(perm_string(PERM_ALL), "cdrwa");
        assert_eq!(perm_string(PERM_READ | PERM_ADMIN), "ra");
        assert_eq!(perm_string(0), "");
        assert_eq!(
            format_acl(&[AclEntry::new("world", "anyone", PERM_ALL)]),
            "'world,'anyone\n: cdrwa\n"
        );
        assert_eq!(
            format_acl(&[
                AclEntry::new("digest", "u:x,y%", PERM_READ),
                AclEntry::new("auth", "", PERM_WRITE)
            ]),
            "'digest,'u:x%2Cy%25\n: r\n'auth,'\n: w\n"
        );
    }

    #[test]
    fn children_and_lists() {
        let c = vec!["zookeeper".to_string(), "b".into(), "a".into()];
        assert_eq!(format_children(&c), "[a, b, zookeeper]\n");
        assert_eq!(format_children(&[]), "[]\n");
        assert_eq!(format_list(&["/e2".into(), "/e1".into()]), "[/e2, /e1]\n");
    }

    #[test]
    fn events() {
        assert_eq!(
            format_event(
                keeper_state_name(SessionState::SyncConnected),
                event_type_name(EventType::NodeDataChanged),
                Some("/x")
            ),
            "WatchedEvent state:SyncConnected type:NodeDataChanged path:/x"
        );
        assert_eq!(
            format_event("SyncConnected", event_type_name(EventType::Session), None),
            "WatchedEvent state:SyncConnected type:None path:null"
        );
        assert_eq!(watcher_block("E"), "\nWATCHER::\n\nE\n");
        assert_eq!(
            zk_state_name(Some(SessionState::SyncConnected)),
            "CONNECTED"
        );
        assert_eq!(zk_state_name(None), "CLOSED");
    }

    #[test]
    fn errors() {
        assert_eq!(
            error_message(&Error::NoNode, "/x"),
            "Node does not exist: /x"
        );
        assert_eq!(
            error_message(&Error::NodeExists, "/x"),
            "Node already exists: /x"
        );
        assert_eq!(
            error_message(&Error::BadVersion, "/x"),
            "version No is not valid : /x"
        );
        assert_eq!(error_message(&Error::NotEmpty, "/x"), "Node not empty: /x");
        assert_eq!(
            error_message(&Error::NoAuth, "/x"),
            "Insufficient permission : /x"
        );
        assert_eq!(
            error_message(&Error::AuthFailed, "/x"),
            "Authentication is not valid : /x"
        );
        assert_eq!(
            error_message(&Error::InvalidAcl, "/x"),
            "Acl is not valid : /x"
        );
        assert_eq!(
            error_message(&Error::NoChildrenForEphemerals, "/x"),
            "Ephemerals cannot have children: /x"
        );
        assert_eq!(
            error_message(&Error::ConnectionLoss, "/"),
            "KeeperErrorCode = ConnectionLoss for /"
        );
        assert_eq!(
            error_message(&Error::NoWatcher, "/w"),
            "KeeperErrorCode = No such watcher for /w"
        );
        assert_eq!(
            error_message(&Error::Unimplemented, "/w"),
            "KeeperErrorCode = Unimplemented for /w"
        );
        assert_eq!(
            keeper_error_message(&Error::InvalidAcl, ""),
            "KeeperErrorCode = InvalidACL"
        );
        assert_eq!(
            error_message(&Error::UnexpectedErrorCode(-999), "/w"),
            "KeeperErrorCode = Unknown error -999 for /w"
        );
    }
}
