//! The key table: every dotted key (`client.port`, ...) with its type, range or check, what a
//! valid value looks like, and how to read it from [`Settings`]; and the conversion of a
//! textual or TOML value to a key's type.

use super::{Settings, SettingsError};

/// A typed value of one key.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Typed {
    Int(u64),
    Bool(bool),
    Str(String),
}

impl Typed {
    pub(super) fn to_kind(&self) -> config::ValueKind {
        match self {
            Typed::Int(n) => config::ValueKind::U64(*n),
            Typed::Bool(b) => config::ValueKind::Boolean(*b),
            Typed::Str(s) => config::ValueKind::String(s.clone()),
        }
    }

    /// As written in TOML.
    pub(super) fn render(&self) -> String {
        match self {
            Typed::Int(n) => n.to_string(),
            Typed::Bool(b) => b.to_string(),
            Typed::Str(s) => toml::Value::String(s.clone()).to_string(),
        }
    }

    /// As shown in error messages.
    pub(super) fn raw(&self) -> String {
        match self {
            Typed::Int(n) => n.to_string(),
            Typed::Bool(b) => b.to_string(),
            Typed::Str(s) => s.clone(),
        }
    }
}

#[derive(Clone, Copy)]
pub(super) enum Ty {
    /// Unsigned integer; `max` is also the width of the field's type.
    Int {
        min: u64,
        max: u64,
    },
    Bool,
    /// String with a validity check.
    Str(fn(&str) -> bool),
}

pub(super) struct Spec {
    pub(super) key: &'static str,
    pub(super) ty: Ty,
    /// What a valid value looks like ("expected ...").
    pub(super) expect: &'static str,
    pub(super) get: fn(&Settings) -> Typed,
}

const U16: u64 = u16::MAX as u64;
const U32: u64 = u32::MAX as u64;
const U64: u64 = u64::MAX;
const BOOL_EXPECT: &str = "a boolean (true or false)";

pub(super) static SPECS: &[Spec] = &[
    Spec {
        key: "server.id",
        ty: Ty::Int { min: 0, max: U64 },
        expect: "a server id (a non-negative integer)",
        get: |s| Typed::Int(s.server.id),
    },
    Spec {
        key: "server.tick_time",
        ty: Ty::Int { min: 1, max: U64 },
        expect: "a positive integer (milliseconds)",
        get: |s| Typed::Int(s.server.tick_time),
    },
    Spec {
        key: "server.init_limit",
        ty: Ty::Int { min: 1, max: U32 },
        expect: "an integer 1..=4294967295 (ticks)",
        get: |s| Typed::Int(s.server.init_limit.into()),
    },
    Spec {
        key: "server.sync_limit",
        ty: Ty::Int { min: 1, max: U32 },
        expect: "an integer 1..=4294967295 (ticks)",
        get: |s| Typed::Int(s.server.sync_limit.into()),
    },
    Spec {
        key: "server.min_session_timeout",
        ty: Ty::Int { min: 0, max: U64 },
        expect: "a non-negative integer (milliseconds, 0 = 2 * tick_time)",
        get: |s| Typed::Int(s.server.min_session_timeout),
    },
    Spec {
        key: "server.max_session_timeout",
        ty: Ty::Int { min: 0, max: U64 },
        expect: "a non-negative integer (milliseconds, 0 = 20 * tick_time)",
        get: |s| Typed::Int(s.server.max_session_timeout),
    },
    Spec {
        key: "server.max_client_cnxns",
        ty: Ty::Int { min: 0, max: U32 },
        expect: "an integer 0..=4294967295 (0 = unlimited)",
        get: |s| Typed::Int(s.server.max_client_cnxns.into()),
    },
    Spec {
        key: "server.jute_max_buffer",
        ty: Ty::Int { min: 1, max: U32 },
        expect: "an integer 1..=4294967295 (bytes)",
        get: |s| Typed::Int(s.server.jute_max_buffer.into()),
    },
    Spec {
        key: "server.extended_types_enabled",
        ty: Ty::Bool,
        expect: BOOL_EXPECT,
        get: |s| Typed::Bool(s.server.extended_types_enabled),
    },
    Spec {
        key: "server.super_digest",
        ty: Ty::Str(check_super_digest),
        expect: "an empty string or `name:base64(sha1(name:password))`",
        get: |s| Typed::Str(s.server.super_digest.clone()),
    },
    Spec {
        key: "server.four_letter_words",
        ty: Ty::Str(check_four_letter_words),
        expect: "`*` or a comma-separated list of four-letter words",
        get: |s| Typed::Str(s.server.four_letter_words.clone()),
    },
    Spec {
        key: "server.container_check_interval",
        ty: Ty::Int { min: 1, max: U64 },
        expect: "a positive integer (milliseconds)",
        get: |s| Typed::Int(s.server.container_check_interval),
    },
    Spec {
        key: "server.global_outstanding_limit",
        ty: Ty::Int { min: 1, max: U32 },
        expect: "an integer 1..=4294967295",
        get: |s| Typed::Int(s.server.global_outstanding_limit.into()),
    },
    Spec {
        key: "client.port",
        ty: Ty::Int { min: 1, max: U16 },
        expect: "an integer 1..=65535",
        get: |s| Typed::Int(s.client.port.into()),
    },
    Spec {
        key: "client.address",
        ty: Ty::Str(check_non_empty),
        expect: "a host name or IP address",
        get: |s| Typed::Str(s.client.address.clone()),
    },
    Spec {
        key: "client.secure_port",
        ty: Ty::Int { min: 0, max: U16 },
        expect: "an integer 0..=65535 (0 = no TLS client port)",
        get: |s| Typed::Int(s.client.secure_port.into()),
    },
    Spec {
        key: "client.secure_address",
        ty: Ty::Str(check_any),
        expect: "a host name or IP address, or empty for client.address",
        get: |s| Typed::Str(s.client.secure_address.clone()),
    },
    Spec {
        key: "client.io_threads",
        ty: Ty::Str(check_io_threads),
        expect: "`auto` or an integer 0..=64 (0 = connections share the data tree's thread)",
        get: |s| Typed::Str(s.client.io_threads.clone()),
    },
    Spec {
        key: "client.max_in_flight",
        ty: Ty::Int { min: 1, max: U32 },
        expect: "an integer 1..=4294967295 (requests)",
        get: |s| Typed::Int(s.client.max_in_flight.into()),
    },
    Spec {
        key: "client.max_queued_bytes",
        ty: Ty::Int {
            min: 1 << 20,
            max: U64,
        },
        expect: "an integer of at least 1048576 (bytes)",
        get: |s| Typed::Int(s.client.max_queued_bytes),
    },
    Spec {
        key: "storage.data_dir",
        ty: Ty::Str(check_non_empty),
        expect: "a non-empty directory path",
        get: |s| Typed::Str(s.storage.data_dir.clone()),
    },
    Spec {
        key: "storage.data_log_dir",
        ty: Ty::Str(check_any),
        expect: "a directory path (empty = storage.data_dir)",
        get: |s| Typed::Str(s.storage.data_log_dir.clone()),
    },
    Spec {
        key: "storage.force_sync",
        ty: Ty::Bool,
        expect: BOOL_EXPECT,
        get: |s| Typed::Bool(s.storage.force_sync),
    },
    Spec {
        key: "storage.snap_count",
        ty: Ty::Int { min: 1, max: U64 },
        expect: "a positive integer (transactions)",
        get: |s| Typed::Int(s.storage.snap_count),
    },
    Spec {
        key: "storage.snap_retain_count",
        ty: Ty::Int { min: 1, max: U32 },
        expect: "an integer 1..=4294967295",
        get: |s| Typed::Int(s.storage.snap_retain_count.into()),
    },
    Spec {
        key: "storage.purge_interval",
        ty: Ty::Int { min: 0, max: U32 },
        expect: "an integer 0..=4294967295 (hours, 0 = disabled)",
        get: |s| Typed::Int(s.storage.purge_interval.into()),
    },
    Spec {
        key: "storage.snap_size_limit",
        ty: Ty::Int { min: 1, max: U64 },
        expect: "a positive integer (bytes of log between snapshots)",
        get: |s| Typed::Int(s.storage.snap_size_limit),
    },
    Spec {
        key: "storage.preallocate_size",
        ty: Ty::Int {
            min: 4096,
            max: U64,
        },
        expect: "an integer >= 4096 (bytes)",
        get: |s| Typed::Int(s.storage.preallocate_size),
    },
    Spec {
        key: "quorum.peer_type",
        ty: Ty::Str(check_peer_type),
        expect: "`participant` or `observer`",
        get: |s| Typed::Str(s.quorum.peer_type.clone()),
    },
    Spec {
        key: "quorum.io_threads",
        ty: Ty::Str(check_io_threads),
        expect: "`auto` or an integer 0..=64 (0 = quorum links share the data tree's thread)",
        get: |s| Typed::Str(s.quorum.io_threads.clone()),
    },
    Spec {
        key: "quorum.peer_timeout",
        ty: Ty::Int {
            min: 0,
            max: 3_600_000,
        },
        expect: "milliseconds, 0..=3600000 (0 = syncLimit ticks only)",
        get: |s| Typed::Int(s.quorum.peer_timeout),
    },
    Spec {
        key: "quorum.listen_on_all_ips",
        ty: Ty::Bool,
        expect: BOOL_EXPECT,
        get: |s| Typed::Bool(s.quorum.listen_on_all_ips),
    },
    Spec {
        key: "telemetry.log_level",
        ty: Ty::Str(check_log_level),
        expect: "a log filter: trace, debug, info, warn, error or off, \
                 optionally with `target=level` directives (e.g. `info,keeper=debug`)",
        get: |s| Typed::Str(s.telemetry.log_level.clone()),
    },
    Spec {
        key: "telemetry.otlp_endpoint",
        ty: Ty::Str(check_otlp_endpoint),
        expect: "an empty string or an http:// or https:// URL",
        get: |s| Typed::Str(s.telemetry.otlp_endpoint.clone()),
    },
    Spec {
        key: "telemetry.otlp_protocol",
        ty: Ty::Str(check_otlp_protocol),
        expect: "`grpc`, `http/protobuf` or empty (from OTEL_EXPORTER_OTLP_PROTOCOL, else by port)",
        get: |s| Typed::Str(s.telemetry.otlp_protocol.clone()),
    },
    Spec {
        key: "telemetry.sampling_ratio",
        ty: Ty::Str(check_sampling_ratio),
        expect: "a number 0..=1 (the share of client writes traced) or empty",
        get: |s| Typed::Str(s.telemetry.sampling_ratio.clone()),
    },
    Spec {
        key: "telemetry.service_name",
        ty: Ty::Str(check_any),
        expect: "a string (empty: OTEL_SERVICE_NAME, else keeper)",
        get: |s| Typed::Str(s.telemetry.service_name.clone()),
    },
    Spec {
        key: "telemetry.metrics_port",
        ty: Ty::Int { min: 0, max: U16 },
        expect: "an integer 0..=65535 (0 = disabled)",
        get: |s| Typed::Int(s.telemetry.metrics_port.into()),
    },
    Spec {
        key: "admin.enabled",
        ty: Ty::Bool,
        expect: "true or false",
        get: |s| Typed::Bool(s.admin.enabled),
    },
    Spec {
        key: "admin.address",
        ty: Ty::Str(check_non_empty),
        expect: "an address to listen on, e.g. 0.0.0.0 or 127.0.0.1",
        get: |s| Typed::Str(s.admin.address.clone()),
    },
    Spec {
        key: "admin.port",
        ty: Ty::Int { min: 1, max: U16 },
        expect: "an integer 1..=65535",
        get: |s| Typed::Int(s.admin.port.into()),
    },
    Spec {
        key: "admin.command_url",
        ty: Ty::Str(check_command_url),
        expect: "a URL path starting with /, e.g. /commands",
        get: |s| Typed::Str(s.admin.command_url.clone()),
    },
    Spec {
        key: "tls.key_store",
        ty: Ty::Str(check_any),
        expect: "the path of a PEM file with the private key and certificate chain",
        get: |s| Typed::Str(s.tls.key_store.clone()),
    },
    Spec {
        key: "tls.key_store_password",
        ty: Ty::Str(check_any),
        expect: "a password",
        get: |s| Typed::Str(s.tls.key_store_password.clone()),
    },
    Spec {
        key: "tls.key_store_type",
        ty: Ty::Str(check_store_type),
        expect: STORE_TYPE_EXPECT,
        get: |s| Typed::Str(s.tls.key_store_type.clone()),
    },
    Spec {
        key: "tls.trust_store",
        ty: Ty::Str(check_any),
        expect: "the path of a PEM file with CA certificates",
        get: |s| Typed::Str(s.tls.trust_store.clone()),
    },
    Spec {
        key: "tls.trust_store_type",
        ty: Ty::Str(check_store_type),
        expect: STORE_TYPE_EXPECT,
        get: |s| Typed::Str(s.tls.trust_store_type.clone()),
    },
    Spec {
        key: "tls.client_auth",
        ty: Ty::Str(check_client_auth),
        expect: "`need`, `want` or `none`",
        get: |s| Typed::Str(s.tls.client_auth.clone()),
    },
    Spec {
        key: "tls.x509_super_user",
        ty: Ty::Str(check_any),
        expect: "a certificate subject, e.g. CN=admin,O=Example",
        get: |s| Typed::Str(s.tls.x509_super_user.clone()),
    },
    Spec {
        key: "tls.cert_reload",
        ty: Ty::Bool,
        expect: BOOL_EXPECT,
        get: |s| Typed::Bool(s.tls.cert_reload),
    },
    Spec {
        key: "tls.quorum",
        ty: Ty::Bool,
        expect: BOOL_EXPECT,
        get: |s| Typed::Bool(s.tls.quorum),
    },
    Spec {
        key: "tls.quorum_key_store",
        ty: Ty::Str(check_any),
        expect: "the path of a PEM file with the private key and certificate chain",
        get: |s| Typed::Str(s.tls.quorum_key_store.clone()),
    },
    Spec {
        key: "tls.quorum_trust_store",
        ty: Ty::Str(check_any),
        expect: "the path of a PEM file with CA certificates",
        get: |s| Typed::Str(s.tls.quorum_trust_store.clone()),
    },
    Spec {
        key: "tls.quorum_hostname_verification",
        ty: Ty::Bool,
        expect: BOOL_EXPECT,
        get: |s| Typed::Bool(s.tls.quorum_hostname_verification),
    },
    Spec {
        key: "telemetry.metrics_host",
        ty: Ty::Str(check_non_empty),
        expect: "an address to listen on, e.g. 0.0.0.0 or 127.0.0.1",
        get: |s| Typed::Str(s.telemetry.metrics_host.clone()),
    },
];

pub(super) const MEMBER_EXPECT: &str =
    "host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]";

pub(super) fn section_of(key: &str) -> &str {
    key.split('.').next().unwrap_or("")
}

fn check_any(_: &str) -> bool {
    true
}

const STORE_TYPE_EXPECT: &str = "`PEM` (or empty): Keeper reads PEM files; convert a JKS or \
     PKCS12 store with `keytool -importkeystore` and `openssl pkcs12 -nodes`";

fn check_store_type(s: &str) -> bool {
    s.is_empty() || s.eq_ignore_ascii_case("pem")
}

fn check_client_auth(s: &str) -> bool {
    matches!(s.to_ascii_lowercase().as_str(), "need" | "want" | "none")
}

fn check_io_threads(s: &str) -> bool {
    s == "auto" || s.parse::<u32>().is_ok_and(|n| n <= 64)
}

fn check_command_url(s: &str) -> bool {
    s.starts_with('/') && !s.contains(char::is_whitespace)
}

fn check_non_empty(s: &str) -> bool {
    !s.trim().is_empty()
}

pub(super) fn check_peer_type(s: &str) -> bool {
    matches!(s, "participant" | "observer")
}

fn is_level(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "trace" | "debug" | "info" | "warn" | "error" | "off"
    )
}

fn check_log_level(s: &str) -> bool {
    let directives: Vec<&str> = s.split(',').map(str::trim).collect();
    !s.trim().is_empty()
        && directives.iter().all(|d| match d.split_once('=') {
            None => is_level(d),
            Some((target, level)) => {
                !target.trim().is_empty()
                    && !target.contains(char::is_whitespace)
                    && is_level(level.trim())
            }
        })
}

fn check_super_digest(s: &str) -> bool {
    use base64::Engine as _;
    if s.is_empty() {
        return true;
    }
    match s.split_once(':') {
        Some((name, digest)) if !name.is_empty() => base64::engine::general_purpose::STANDARD
            .decode(digest)
            .is_ok_and(|bytes| bytes.len() == 20),
        _ => false,
    }
}

fn check_four_letter_words(s: &str) -> bool {
    s.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .all(|w| w == "*" || (w.len() == 4 && w.chars().all(|c| c.is_ascii_alphabetic())))
}

fn check_otlp_protocol(s: &str) -> bool {
    matches!(s, "" | "grpc" | "http/protobuf")
}

fn check_sampling_ratio(s: &str) -> bool {
    s.is_empty() || crate::telemetry::parse_ratio(s).is_some()
}

fn check_otlp_endpoint(s: &str) -> bool {
    s.is_empty()
        || ["http://", "https://"]
            .iter()
            .any(|p| s.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
}

/// What a dotted key refers to.
#[derive(Clone, Copy)]
pub(super) enum Target {
    Spec(&'static Spec),
    /// `quorum.members.<id>`.
    Member,
}

/// `Ok(None)` for unknown keys; `Err` for a `quorum.members.X` with a bad id.
pub(super) fn lookup(key: &str, layer: &str) -> Result<Option<Target>, SettingsError> {
    if let Some(id) = key.strip_prefix("quorum.members.") {
        return match id.parse::<u64>() {
            Ok(_) => Ok(Some(Target::Member)),
            Err(_) => Err(SettingsError::InvalidValue {
                key: key.to_string(),
                value: id.to_string(),
                layer: layer.to_string(),
                reason: "expected a numeric server id after `quorum.members.`".to_string(),
            }),
        };
    }
    Ok(SPECS.iter().find(|s| s.key == key).map(Target::Spec))
}

/// `unknown key ... ignored`, with a suggestion among the Keeper keys and sections when one
/// is close (see [`closest`]).
pub(super) fn unknown_key(key: &str, layer: &str) -> String {
    let candidates = SPECS
        .iter()
        .map(|s| s.key)
        .chain(super::SECTIONS.iter().copied());
    with_suggestion(
        format!("unknown key `{key}` (from {layer}), ignored"),
        closest(key, candidates).map(|k| format!("`{k}`")),
    )
}

/// `message`, then `; did you mean X?` when there is a suggestion.
pub(super) fn with_suggestion(message: String, suggestion: Option<String>) -> String {
    match suggestion {
        Some(s) => format!("{message}; did you mean {s}?"),
        None => message,
    }
}

/// Levenshtein distance between `a` and `b`, ignoring ASCII case.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `key` when it is close: at most 2 edits apart, ignoring case
/// (and fewer edits than `key` has characters), the first of equally close ones; `None` for
/// an exact match.
pub(super) fn closest<'a>(
    key: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|c| *c != key)
        .map(|c| (edit_distance(key, c), c))
        .filter(|(d, _)| *d <= 2 && *d < key.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn parse_uint(text: &str) -> Option<u64> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => t.parse::<u64>().ok(),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn expectation(target: Target) -> String {
    match target {
        Target::Spec(spec) => format!("expected {}", spec.expect),
        Target::Member => format!("expected {MEMBER_EXPECT}"),
    }
}

/// Converts a textual value (env, --set, zoo.cfg) to the key's type.
/// `key` is the name shown in errors.
pub(super) fn convert_text(
    key: &str,
    target: Target,
    raw: &str,
    layer: &str,
) -> Result<Typed, SettingsError> {
    let text = raw.trim();
    let ty = match target {
        Target::Spec(spec) => spec.ty,
        Target::Member => Ty::Str(check_any),
    };
    let typed = match ty {
        Ty::Int { max, .. } => parse_uint(text).filter(|n| *n <= max).map(Typed::Int),
        Ty::Bool => parse_bool(text).map(Typed::Bool),
        Ty::Str(_) => Some(Typed::Str(text.to_string())),
    };
    typed.ok_or_else(|| SettingsError::InvalidValue {
        key: key.to_string(),
        value: raw.to_string(),
        layer: layer.to_string(),
        reason: expectation(target),
    })
}

/// Converts a TOML value to the key's type (no string-to-number coercion).
pub(super) fn convert_toml(
    key: &str,
    target: Target,
    value: &toml::Value,
    layer: &str,
) -> Result<Typed, SettingsError> {
    let ty = match target {
        Target::Spec(spec) => spec.ty,
        Target::Member => Ty::Str(check_any),
    };
    let typed = match (ty, value) {
        (Ty::Int { max, .. }, toml::Value::Integer(i)) => {
            u64::try_from(*i).ok().filter(|n| *n <= max).map(Typed::Int)
        }
        (Ty::Bool, toml::Value::Boolean(b)) => Some(Typed::Bool(*b)),
        (Ty::Str(_), toml::Value::String(s)) => Some(Typed::Str(s.trim().to_string())),
        _ => None,
    };
    typed.ok_or_else(|| SettingsError::InvalidValue {
        key: key.to_string(),
        value: match value {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        },
        layer: layer.to_string(),
        reason: expectation(target),
    })
}
