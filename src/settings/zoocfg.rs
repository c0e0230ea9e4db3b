//! Apache ZooKeeper's `zoo.cfg` as a `--config` layer: recognising one, the Java properties
//! syntax, the mapping of zoo.cfg keys to Keeper keys (and the keys ignored or unsupported),
//! `server.N` lines, and the server id from `dataDir/myid`.

use std::collections::BTreeMap;
use std::path::Path;

use super::keys::{closest, convert_text, lookup, with_suggestion, Target, Typed};
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
    ("quorumListenOnAllIPs", "quorum.listen_on_all_ips"),
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
    ("admin.enableServer", "admin.enabled"),
    ("admin.serverAddress", "admin.address"),
    ("admin.serverPort", "admin.port"),
    ("admin.commandURL", "admin.command_url"),
    ("secureClientPort", "client.secure_port"),
    ("secureClientPortAddress", "client.secure_address"),
    ("ssl.keyStore.location", "tls.key_store"),
    ("ssl.keyStore.password", "tls.key_store_password"),
    ("ssl.keyStore.type", "tls.key_store_type"),
    ("ssl.trustStore.location", "tls.trust_store"),
    ("ssl.trustStore.type", "tls.trust_store_type"),
    ("ssl.clientAuth", "tls.client_auth"),
    (
        "X509AuthenticationProvider.superUser",
        "tls.x509_super_user",
    ),
    ("client.certReload", "tls.cert_reload"),
    ("sslQuorum", "tls.quorum"),
    ("ssl.quorum.keyStore.location", "tls.quorum_key_store"),
    ("ssl.quorum.trustStore.location", "tls.quorum_trust_store"),
    (
        "ssl.quorum.hostnameVerification",
        "tls.quorum_hostname_verification",
    ),
    ("sslQuorumReloadCertFiles", "tls.cert_reload"),
];

/// ZooKeeper keys that mean nothing for Keeper: accepted and ignored with a debug note.
/// A trailing `*` matches a prefix. Each is here for the reason in its comment; every
/// other ZooKeeper setting Keeper does not implement is in [`ZOO_NOT_IMPLEMENTED`].
const ZOO_IGNORED: &[&str] = &[
    // Jetty's connection tuning for the AdminServer: Keeper's HTTP server has its own.
    "admin.idleTimeout",
    "admin.httpVersion",
    // The Java class of the client connection layer (NIO or Netty): Keeper has its own.
    "serverCnxnFactory",
    // The JVM pause monitor: there is no JVM.
    "jvm.pause.*",
    // How the Java server sends to and closes its sockets (threads): Keeper's own design.
    "learner.asyncSending",
    "leader.closeSocketAsync",
    "learner.closeSocketAsync",
    // Threads for quorum SASL authentication (`quorum.auth.*` is unsupported, with a warning).
    "quorum.cnxn.threads.size",
    // Only with multiAddress.enabled=true, which warns.
    "multiAddress.reachabilityCheckEnabled",
    "multiAddress.reachabilityCheckTimeoutMs",
    // Only with localSessionsEnabled=true, which warns.
    "localSessionsUpgradingEnabled",
    // Only with requestThrottleLimit > 0, which warns.
    "requestThrottleStallTime",
    "requestThrottleDropStale",
    // Batching of the Java SyncRequestProcessor: Keeper's log writer group-commits all
    // that is queued (flushDelay, which changes when writes are answered, warns).
    "maxWriteQueuePollTime",
    "maxBatchSize",
    // A PEM trust store has no password.
    "ssl.trustStore.password",
    "ssl.quorum.trustStore.password",
    // For the client port ZooKeeper does not check client host names either.
    "ssl.hostnameVerification",
    // The x509 provider is built in and is the one TLS connections authenticate with.
    "ssl.authProvider",
    // The Netty handshake detection of port unification (which warns).
    "ssl.handshakeDetectionTimeoutMillis",
];

/// A ZooKeeper setting Keeper does not implement yet. Its key (a trailing `*` matches a
/// prefix) is accepted with a warning that says what Keeper does instead, unless its value
/// is one of `same`: values under which ZooKeeper behaves as Keeper does (the feature off).
struct NotImplemented {
    pattern: &'static str,
    same: &'static [&'static str],
    instead: &'static str,
}

const fn not_yet(
    pattern: &'static str,
    same: &'static [&'static str],
    instead: &'static str,
) -> NotImplemented {
    NotImplemented {
        pattern,
        same,
        instead,
    }
}

const ZOO_NOT_IMPLEMENTED: &[NotImplemented] = &[
    not_yet(
        "ssl.protocol",
        &["TLSv1.3"],
        "not implemented yet; the secure client port offers TLSv1.3 and TLSv1.2",
    ),
    not_yet(
        "ssl.enabledProtocols",
        &["TLSv1.3,TLSv1.2", "TLSv1.2,TLSv1.3"],
        "not implemented yet; the secure client port offers TLSv1.3 and TLSv1.2",
    ),
    not_yet(
        "ssl.ciphersuites",
        &[],
        "not implemented yet; the secure client port offers rustls's default cipher suites \
         (AEAD only, forward secrecy only)",
    ),
    not_yet(
        "ssl.crl",
        &["false"],
        "certificate revocation lists are not implemented yet; revoked client certificates \
         are accepted until they expire",
    ),
    not_yet(
        "ssl.ocsp",
        &["false"],
        "OCSP is not implemented yet; revoked client certificates are accepted until they \
         expire",
    ),
    not_yet(
        "ssl.quorum.keyStore.type",
        &["PEM", ""],
        "Keeper reads PEM key stores only; convert with keytool / openssl",
    ),
    not_yet(
        "ssl.quorum.trustStore.type",
        &["PEM", ""],
        "Keeper reads PEM trust stores only; convert with keytool / openssl",
    ),
    not_yet(
        "ssl.quorum.keyStore.password",
        &[""],
        "Keeper reads unencrypted PEM keys only; decrypt with `openssl pkey`",
    ),
    not_yet(
        "ssl.quorum.*",
        &[],
        "not implemented for the quorum ports; ignored",
    ),
    not_yet(
        "client.portUnification",
        &["false"],
        "not implemented yet; the client port speaks plain TCP, the secure client port TLS",
    ),
    not_yet(
        "admin.forceHttps",
        &["false"],
        "TLS is not implemented yet; the AdminServer answers over plain HTTP",
    ),
    not_yet(
        "admin.portUnification",
        &["false"],
        "TLS is not implemented yet; the AdminServer answers over plain HTTP",
    ),
    not_yet(
        "reconfigEnabled",
        &["false"],
        "dynamic reconfiguration is not implemented yet; reconfig requests are refused \
         with ReconfigDisabled",
    ),
    not_yet(
        "standaloneEnabled",
        &["true"],
        "not implemented yet; a configuration with a single voting member runs standalone \
         (as with standaloneEnabled=true)",
    ),
    not_yet(
        "localSessionsEnabled",
        &["false"],
        "local sessions are not implemented yet; every session is global (created through \
         the leader)",
    ),
    not_yet(
        "electionAlg",
        &["3"],
        "only fast leader election (electionAlg=3) is implemented; it is used",
    ),
    not_yet(
        "electionPortBindRetry",
        &[],
        "not implemented yet; the election port is bound once, without retries",
    ),
    not_yet(
        "cnxTimeout",
        &["5000"],
        "not implemented yet; election connections time out after 5000 ms (ZooKeeper's default)",
    ),
    not_yet(
        "connectToLearnerMasterLimit",
        &[],
        "not implemented yet; server.init_limit (initLimit) applies",
    ),
    not_yet(
        "syncEnabled",
        &["true"],
        "not implemented yet; observers write the transaction log like the other members",
    ),
    not_yet(
        "leaderServes",
        &["yes", "true"],
        "not implemented yet; the leader serves clients (as with leaderServes=yes)",
    ),
    not_yet(
        "audit.enable",
        &["false"],
        "audit logging is not implemented yet; no audit log is written",
    ),
    not_yet(
        "clientPortListenBacklog",
        &["-1"],
        "not implemented yet; the client port listens with a backlog of 1024",
    ),
    not_yet(
        "maxCnxns",
        &["0"],
        "not implemented yet; connections are limited per client IP only \
         (server.max_client_cnxns, maxClientCnxns)",
    ),
    not_yet(
        "preAllocSize",
        &[],
        "not implemented yet (in KB); log segments grow by storage.preallocate_size bytes \
         (64 MiB by default): use storage.preallocate_size",
    ),
    not_yet(
        "snapSizeLimitInKb",
        &[],
        "not implemented yet (in KB); a snapshot is taken after storage.snap_size_limit bytes \
         of log (4 GiB by default): use storage.snap_size_limit",
    ),
    not_yet(
        "txnLogSizeLimitInKb",
        &["-1"],
        "not implemented yet; the size of a log file is not limited",
    ),
    not_yet("commitLogCount", &[], "not implemented yet; ignored"),
    not_yet(
        "fsync.warningthresholdms",
        &["1000"],
        "not implemented yet; log fsyncs over 1000 ms are logged (ZooKeeper's default)",
    ),
    not_yet(
        "multiAddress.*",
        &["false"],
        "not implemented yet; server.N entries with several addresses (`|`) are refused",
    ),
    not_yet(
        "digest.enabled",
        &["false"],
        "not implemented yet; no digest of the data tree is computed or checked",
    ),
    not_yet(
        "snapshot.trust.empty",
        &["false"],
        "not implemented yet; ignored",
    ),
    not_yet(
        "snapshot.compression.method",
        &["", "none"],
        "not implemented yet; snapshots are written uncompressed",
    ),
    not_yet(
        "flushDelay",
        &["0"],
        "not implemented yet; the log is fsynced as soon as writes are queued (group commit)",
    ),
    not_yet(
        "requestThrottleLimit",
        &["0"],
        "not implemented yet; server.global_outstanding_limit (globalOutstandingLimit) \
         throttles requests",
    ),
    not_yet("minClientPortAddress", &[], "not implemented yet; ignored"),
    not_yet(
        "traceFile",
        &[""],
        "not implemented yet; no request trace file is written",
    ),
];

/// ZooKeeper features Keeper does not implement: accepted with a warning.
const ZOO_UNSUPPORTED: &[&str] = &[
    "ssl.*",
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
    NotImplemented(&'static NotImplemented),
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
    if let Some(n) = ZOO_NOT_IMPLEMENTED
        .iter()
        .find(|n| pattern_matches(n.pattern, key))
    {
        return Some(ZooKey::NotImplemented(n));
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

/// The zoo.cfg key (without wildcards) that `key` was probably meant to be.
fn closest_zoo_key(key: &str) -> Option<&'static str> {
    let key = key.strip_prefix("zookeeper.").unwrap_or(key);
    let names = ZOO_KEYS
        .iter()
        .map(|(zk, _)| *zk)
        .chain(ZOO_IGNORED.iter().copied())
        .chain(ZOO_NOT_IMPLEMENTED.iter().map(|n| n.pattern))
        .chain(ZOO_UNSUPPORTED.iter().copied())
        .filter(|k| !k.ends_with('*'));
    closest(key, names)
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
    let props = parse_properties(content);
    let prometheus = metrics_provider_is_prometheus(&props);
    let mut lines = BTreeMap::new();
    for prop in props {
        let key = prop.key.as_str();
        let value = prop.value.as_str();
        let line_layer = format!("{layer}, line {}", prop.line);
        let bare = key.strip_prefix("zookeeper.").unwrap_or(key);
        if let Some(what) = bare.strip_prefix("metricsProvider.") {
            metrics_provider_key(
                what,
                key,
                value,
                prometheus,
                &line_layer,
                layer,
                warnings,
                &mut entries,
                &mut lines,
            )?;
            continue;
        }
        let bare = key.trim_start_matches("zookeeper.");
        if matches!(
            bare,
            "quorum.auth.enableSasl"
                | "quorum.auth.learnerRequireSasl"
                | "quorum.auth.serverRequireSasl"
        ) && value.eq_ignore_ascii_case("true")
        {
            // Running on without the peer authentication the operator asked for would be
            // worse than not starting.
            return Err(SettingsError::InvalidValue {
                key: key.to_string(),
                value: value.to_string(),
                layer: line_layer,
                reason: "SASL between the members is not supported; authenticate them with \
                         mutual TLS instead: sslQuorum=true with ssl.quorum.keyStore.location and \
                         ssl.quorum.trustStore.location (`keeper certs` makes the certificates)"
                    .to_string(),
            });
        }
        if bare.starts_with("authProvider.") && value.ends_with(".X509AuthenticationProvider") {
            // What ZooKeeper needs to authenticate TLS clients by certificate: built in here.
            tracing::debug!(key, value, "the x509 provider is built in");
            continue;
        }
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
                let mut typed = convert_text(key, Target::Spec(spec), value, &line_layer)?;
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
                lines.insert(
                    ours.to_string(),
                    format!("{line_layer}: {key}={}", prop.value),
                );
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
                        layer: line_layer,
                        reason: "expected a key of the form server.<numeric id>".to_string(),
                    });
                };
                needs_myid = true;
                lines.insert(
                    format!("quorum.members.{id}"),
                    format!("{line_layer}: {key}={value}"),
                );
                entries.push(Entry {
                    key: format!("quorum.members.{id}"),
                    value: Typed::Str(value.to_string()),
                    origin: layer.to_string(),
                });
            }
            Some(ZooKey::Ignored) => {
                tracing::debug!(key, value, layer, "zoo.cfg key has no effect in keeper, ignored");
            }
            Some(ZooKey::NotImplemented(n)) => {
                if n.same.iter().any(|v| v.eq_ignore_ascii_case(value)) {
                    tracing::debug!(key, value, layer, "zoo.cfg key has no effect in keeper, ignored");
                } else {
                    warnings.push(format!(
                        "zoo.cfg key `{key}={value}` (from {layer}, line {}): {}",
                        prop.line, n.instead
                    ));
                }
            }
            Some(ZooKey::Unsupported) => warnings.push(format!(
                "zoo.cfg key `{key}` (from {layer}, line {}) configures a ZooKeeper feature keeper does not support, ignored",
                prop.line
            )),
            None => warnings.push(with_suggestion(
                format!(
                    "unknown key `{key}` (from {layer}, line {}), ignored",
                    prop.line
                ),
                closest_zoo_key(key).map(|k| format!("`{k}`")),
            )),
        }
    }
    Ok(FileLayer {
        entries,
        needs_myid,
        zoo_cfg: true,
        lines,
    })
}

/// ZooKeeper's Prometheus provider, the one whose endpoint Keeper serves.
const PROMETHEUS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";
/// ZooKeeper's port for it when `metricsProvider.httpPort` is not set.
const PROMETHEUS_DEFAULT_PORT: u64 = 7000;

/// Whether `metricsProvider.className` (the last one wins) names the Prometheus provider.
fn metrics_provider_is_prometheus(props: &[Property]) -> bool {
    props.iter().rev().find_map(|p| {
        let key = p.key.strip_prefix("zookeeper.").unwrap_or(&p.key);
        (key == "metricsProvider.className").then(|| p.value == PROMETHEUS_PROVIDER)
    }) == Some(true)
}

/// One `metricsProvider.<what>` key: with the Prometheus provider, its endpoint is
/// `telemetry.metrics_host:metrics_port`; ZooKeeper's other providers open no endpoint (mntr
/// has their figures).
#[allow(clippy::too_many_arguments)]
fn metrics_provider_key(
    what: &str,
    key: &str,
    value: &str,
    prometheus: bool,
    line_layer: &str,
    layer: &str,
    warnings: &mut Vec<String>,
    entries: &mut Vec<Entry>,
    lines: &mut BTreeMap<String, String>,
) -> Result<(), SettingsError> {
    let mut set = |ours: &str, raw: &str| -> Result<(), SettingsError> {
        let Some(Target::Spec(spec)) = lookup(ours, layer)? else {
            unreachable!("zoo.cfg mapping to unknown key {ours}");
        };
        let typed = convert_text(key, Target::Spec(spec), raw, line_layer)?;
        lines.insert(ours.to_string(), format!("{line_layer}: {key}={value}"));
        entries.push(Entry {
            key: ours.to_string(),
            value: typed,
            origin: layer.to_string(),
        });
        Ok(())
    };
    match what {
        "className" if prometheus => {
            // httpPort, if given, comes as its own entry and overrides this default whatever
            // the order of the lines: a later entry wins.
            set("telemetry.metrics_port", &PROMETHEUS_DEFAULT_PORT.to_string())?;
            if let Some(e) = entries.pop() {
                entries.insert(0, e);
            }
        }
        "className"
            if value.ends_with(".DefaultMetricsProvider") || value.ends_with(".NullMetricsProvider") =>
        {
            tracing::debug!(key, value, "no metrics endpoint, as with ZooKeeper's provider");
        }
        "className" => warnings.push(format!(
            "zoo.cfg key `{key}={value}` (from {line_layer}): unknown metrics provider; Keeper serves \
             ZooKeeper's Prometheus metrics with metricsProvider.className={PROMETHEUS_PROVIDER}, \
             and mntr has every figure"
        )),
        "httpPort" | "httpHost" if prometheus => {
            let ours = if what == "httpPort" {
                "telemetry.metrics_port"
            } else {
                "telemetry.metrics_host"
            };
            set(ours, value)?;
        }
        "httpPort" | "httpHost" => warnings.push(format!(
            "zoo.cfg key `{key}={value}` (from {line_layer}): has an effect only with \
             metricsProvider.className={PROMETHEUS_PROVIDER}; no metrics endpoint is opened"
        )),
        // The JVM's figures and the Java provider's worker pool have no counterpart.
        "exportJvmInfo" | "numWorkerThreads" | "maxQueueSize" | "workerShutdownTimeoutMs" => {
            tracing::debug!(key, value, "zoo.cfg key has no effect in keeper, ignored");
        }
        _ => warnings.push(format!(
            "unknown key `{key}` (from {line_layer}), ignored (metricsProvider keys Keeper knows: \
             className, httpHost, httpPort)"
        )),
    }
    Ok(())
}

/// `server.id` from `<data_dir>/myid`; the entry's origin is the myid path.
pub(super) fn read_myid(data_dir: &Path) -> Result<Entry, SettingsError> {
    let path = data_dir.join("myid");
    let text = std::fs::read_to_string(&path).map_err(|e| SettingsError::MyId {
        path: path.clone(),
        reason: format!(
            "{e} (a configuration that lists the members (zoo.cfg's server.N, \
             quorum.members) without server.id needs this server's id in dataDir/myid; \
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
