//! Apache ZooKeeper's `zoo.cfg` as a `--config` layer: recognising one, the Java properties
//! syntax, the mapping of zoo.cfg keys to Keeper keys (and the keys ignored or unsupported),
//! `server.N` lines, and the server id from `dataDir/myid`.

use std::path::Path;

use super::keys::{convert_text, lookup, Target, Typed};
use super::layers::{Entry, FileLayer};
use super::SettingsError;

/// Whether a `--config` file is a ZooKeeper zoo.cfg rather than Keeper TOML:
/// by extension (`.cfg`, `.properties` vs `.toml`), else by content.
pub(super) fn is_zoo_cfg(path: &Path, content: &str) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("cfg" | "properties") => return true,
        Some("toml") => return false,
        _ => {}
    }
    match toml::from_str::<toml::Table>(content) {
        // Valid TOML such as `tickTime=2000`: a zoo.cfg only if it has no
        // sections and uses zoo.cfg keys.
        Ok(table) => {
            !table.values().any(toml::Value::is_table)
                && table.keys().any(|k| zoo_key_kind(k).is_some())
        }
        Err(_) => parse_properties(content)
            .iter()
            .any(|p| zoo_key_kind(&p.key).is_some()),
    }
}

/// zoo.cfg key -> Keeper key. Each is also accepted with a `zookeeper.` prefix
/// (ZooKeeper turns unknown zoo.cfg keys into `zookeeper.<key>` system properties).
const ZOO_KEYS: &[(&str, &str)] = &[
    ("tickTime", "server.tick_time"),
    ("initLimit", "server.init_limit"),
    ("syncLimit", "server.sync_limit"),
    ("dataDir", "storage.data_dir"),
    ("dataLogDir", "storage.data_log_dir"),
    ("clientPort", "client.port"),
    ("clientPortAddress", "client.address"),
    ("maxClientCnxns", "server.max_client_cnxns"),
    ("minSessionTimeout", "server.min_session_timeout"),
    ("maxSessionTimeout", "server.max_session_timeout"),
    ("autopurge.snapRetainCount", "storage.snap_retain_count"),
    ("autopurge.purgeInterval", "storage.purge_interval"),
    ("snapCount", "storage.snap_count"),
    ("4lw.commands.whitelist", "server.four_letter_words"),
    ("jute.maxbuffer", "server.jute_max_buffer"),
    ("forceSync", "storage.force_sync"),
    ("peerType", "quorum.peer_type"),
    ("extendedTypesEnabled", "server.extended_types_enabled"),
    (
        "DigestAuthenticationProvider.superDigest",
        "server.super_digest",
    ),
    (
        "znode.container.checkIntervalMs",
        "server.container_check_interval",
    ),
    ("globalOutstandingLimit", "server.global_outstanding_limit"),
];

/// ZooKeeper keys accepted and ignored (with a debug note): they configure
/// things that Keeper does not have or does not need. A trailing `*` matches
/// a prefix.
const ZOO_IGNORED: &[&str] = &[
    "admin.*",
    "standaloneEnabled",
    "reconfigEnabled",
    "quorumListenOnAllIPs",
    "electionAlg",
    "electionPortBindRetry",
    "audit.enable",
    "metricsProvider.*",
    "localSessionsEnabled",
    "localSessionsUpgradingEnabled",
    "syncEnabled",
    "leaderServes",
    "cnxTimeout",
    "connectToLearnerMasterLimit",
    "clientPortListenBacklog",
    "maxCnxns",
    "preAllocSize",
    "snapSizeLimitInKb",
    "txnLogSizeLimitInKb",
    "commitLogCount",
    "fsync.warningthresholdms",
    "serverCnxnFactory",
    "multiAddress.*",
    "jvm.pause.*",
    "digest.enabled",
    "snapshot.trust.empty",
    "snapshot.compression.method",
    "flushDelay",
    "maxWriteQueuePollTime",
    "maxBatchSize",
    "requestThrottleLimit",
    "requestThrottleStallTime",
    "requestThrottleDropStale",
    "learner.asyncSending",
    "leader.closeSocketAsync",
    "learner.closeSocketAsync",
    "quorum.cnxn.threads.size",
    "minClientPortAddress",
    "traceFile",
];

/// ZooKeeper features Keeper does not implement: accepted with a warning.
const ZOO_UNSUPPORTED: &[&str] = &[
    "secureClientPort",
    "secureClientPortAddress",
    "ssl.*",
    "sslQuorum",
    "sslQuorumReloadCertFiles",
    "client.portUnification",
    "portUnification",
    "authProvider.*",
    "quorum.auth.*",
    "kerberos.*",
    "skipACL",
    "dynamicConfigFile",
    "observerMasterPort",
    "group.*",
    "weight.*",
    "enforceAuthEnabled",
    "enforceAuthSchemes",
];

enum ZooKey {
    Mapped(&'static str),
    Server,
    Ignored,
    Unsupported,
}

fn pattern_matches(pattern: &str, key: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => pattern == key,
    }
}

fn zoo_key_kind_bare(key: &str) -> Option<ZooKey> {
    if let Some((_, ours)) = ZOO_KEYS.iter().find(|(zk, _)| *zk == key) {
        return Some(ZooKey::Mapped(ours));
    }
    if key.starts_with("server.") {
        return Some(ZooKey::Server);
    }
    if ZOO_IGNORED.iter().any(|p| pattern_matches(p, key)) {
        return Some(ZooKey::Ignored);
    }
    if ZOO_UNSUPPORTED.iter().any(|p| pattern_matches(p, key)) {
        return Some(ZooKey::Unsupported);
    }
    None
}

/// Classifies a zoo.cfg key, also with a `zookeeper.` prefix.
fn zoo_key_kind(key: &str) -> Option<ZooKey> {
    zoo_key_kind_bare(key).or_else(|| {
        key.strip_prefix("zookeeper.")
            .and_then(zoo_key_kind_bare)
            .filter(|k| !matches!(k, ZooKey::Server))
    })
}

/// One `key=value` of a Java properties file.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Property {
    pub(super) key: String,
    pub(super) value: String,
    pub(super) line: usize,
}

/// Java `Properties.load` syntax: `#`/`!` comments, `=`, `:` or whitespace
/// separators, backslash line continuations and escapes. Values are trimmed
/// (as ZooKeeper does). A later duplicate key wins when applied.
pub(super) fn parse_properties(content: &str) -> Vec<Property> {
    let mut props = Vec::new();
    let mut lines = content.lines().enumerate();
    while let Some((index, first)) = lines.next() {
        let first = first.trim_start();
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        // Join continuation lines (an odd number of trailing backslashes).
        let mut logical = first.to_string();
        while logical.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1 {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let chars: Vec<char> = logical.chars().collect();
        let mut i = 0;
        let mut key = String::new();
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' && i + 1 < chars.len() {
                key.push(chars[i + 1]);
                i += 2;
                continue;
            }
            if c == '=' || c == ':' || c.is_whitespace() {
                break;
            }
            key.push(c);
            i += 1;
        }
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i < chars.len() && (chars[i] == '=' || chars[i] == ':') {
            i += 1;
        }
        let rest: String = chars[i..].iter().collect();
        props.push(Property {
            key: unescape(&key),
            value: unescape(rest.trim()).trim().to_string(),
            line: index + 1,
        });
    }
    props
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Smallest autopurge.snapRetainCount ZooKeeper accepts (it raises smaller values).
const ZK_MIN_SNAP_RETAIN_COUNT: u64 = 3;

pub(super) fn zoo_layer(
    content: &str,
    layer: &str,
    warnings: &mut Vec<String>,
) -> Result<FileLayer, SettingsError> {
    let mut entries = Vec::new();
    let mut needs_myid = false;
    for prop in parse_properties(content) {
        let key = prop.key.as_str();
        let value = prop.value.as_str();
        match zoo_key_kind(key) {
            Some(ZooKey::Mapped(ours)) => {
                let Some(Target::Spec(spec)) = lookup(ours, layer)? else {
                    unreachable!("zoo.cfg mapping to unknown key {ours}");
                };
                // ZooKeeper's "unset" is -1 for the session timeout bounds.
                let value = match ours {
                    "server.min_session_timeout" | "server.max_session_timeout" if value == "-1" => "0",
                    _ => value,
                };
                let mut typed = convert_text(key, Target::Spec(spec), value, layer)?;
                if ours == "storage.snap_retain_count" {
                    if let Typed::Int(n) = typed {
                        if n < ZK_MIN_SNAP_RETAIN_COUNT {
                            warnings.push(format!(
                                "{key}={n} (from {layer}, line {}) is below ZooKeeper's minimum; using {ZK_MIN_SNAP_RETAIN_COUNT}",
                                prop.line
                            ));
                            typed = Typed::Int(ZK_MIN_SNAP_RETAIN_COUNT);
                        }
                    }
                }
                entries.push(Entry {
                    key: ours.to_string(),
                    value: typed,
                    origin: layer.to_string(),
                });
            }
            Some(ZooKey::Server) => {
                let id = key["server.".len()..].trim();
                let Ok(id) = id.parse::<u64>() else {
                    return Err(SettingsError::InvalidValue {
                        key: key.to_string(),
                        value: value.to_string(),
                        layer: layer.to_string(),
                        reason: "expected a key of the form server.<numeric id>".to_string(),
                    });
                };
                needs_myid = true;
                entries.push(Entry {
                    key: format!("quorum.members.{id}"),
                    value: Typed::Str(value.to_string()),
                    origin: layer.to_string(),
                });
            }
            Some(ZooKey::Ignored) => {
                tracing::debug!(key, value, layer, "zoo.cfg key has no effect in keeper, ignored");
            }
            Some(ZooKey::Unsupported) => warnings.push(format!(
                "zoo.cfg key `{key}` (from {layer}, line {}) configures a ZooKeeper feature keeper does not support, ignored",
                prop.line
            )),
            None => warnings.push(format!(
                "unknown key `{key}` (from {layer}, line {}), ignored",
                prop.line
            )),
        }
    }
    Ok(FileLayer {
        entries,
        needs_myid,
        zoo_cfg: true,
    })
}

/// `server.id` from `<data_dir>/myid`; the entry's origin is the myid path.
pub(super) fn read_myid(data_dir: &Path) -> Result<Entry, SettingsError> {
    let path = data_dir.join("myid");
    let text = std::fs::read_to_string(&path).map_err(|e| SettingsError::MyId {
        path: path.clone(),
        reason: format!(
            "{e} (a zoo.cfg with server.N entries needs this server's id in dataDir/myid, \
             or set server.id, e.g. --set server.id=1)"
        ),
    })?;
    let id = text
        .trim()
        .parse::<u64>()
        .map_err(|_| SettingsError::MyId {
            path: path.clone(),
            reason: format!(
                "expected a server id (a non-negative integer), found `{}`",
                text.trim()
            ),
        })?;
    Ok(Entry {
        key: "server.id".to_string(),
        value: Typed::Int(id),
        origin: path.display().to_string(),
    })
}
