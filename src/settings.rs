//! Layered configuration.
//!
//! Layers, lowest priority first (each one overrides the ones before it):
//!
//! 1. built-in defaults, compiled in (layer `default`);
//! 2. `config/default.toml`, embedded in the binary (layer `config/default.toml`);
//!    it documents every key and holds the same values as the built-in defaults;
//! 3. `--config FILE` (layer = the file path): Keeper TOML, or an Apache
//!    ZooKeeper `zoo.cfg` (Java properties), recognised by its extension
//!    (`.cfg`, `.properties`) or by its content;
//! 4. environment variables `KEEPER_<SECTION>__<KEY>`, e.g.
//!    `KEEPER_CLIENT__PORT=2182` (layer `env KEEPER_CLIENT__PORT`);
//! 5. `--set key=value`, e.g. `--set client.port=2182` (layer `--set`).
//!
//! The layers are merged with the `config` crate; every value remembers the
//! layer it came from ([`Loaded::origins`]) so that errors and
//! `keeper config` ([`render_effective`]) can say where a value was set.
//! Every layer is type-checked as it is read; ranges and cross-key rules are
//! checked once, after merging ([`Settings::validate`]). Unknown keys are
//! reported in [`Loaded::warnings`], not rejected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `config/default.toml`, embedded in the binary.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Layer name of the compiled-in defaults.
pub const DEFAULT_LAYER: &str = "default";
/// Layer name of the embedded `config/default.toml`.
pub const DEFAULT_TOML_LAYER: &str = "config/default.toml";
/// Layer name of `--set key=value` arguments.
pub const SET_LAYER: &str = "--set";
/// Prefix of the environment variables that are read.
pub const ENV_PREFIX: &str = "KEEPER_";

/// Sections of the configuration, in rendering order.
const SECTIONS: &[&str] = &["server", "client", "storage", "quorum", "telemetry"];

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

/// The effective configuration. All times are in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Settings {
    pub server: ServerSettings,
    pub client: ClientSettings,
    pub storage: StorageSettings,
    pub quorum: QuorumSettings,
    pub telemetry: TelemetrySettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    /// This server's id (ZooKeeper myid); 0 = standalone default.
    pub id: u64,
    pub tick_time: u64,
    pub init_limit: u32,
    pub sync_limit: u32,
    /// 0 => 2 * tick_time, see [`Settings::min_session_timeout_ms`].
    pub min_session_timeout: u64,
    /// 0 => 20 * tick_time, see [`Settings::max_session_timeout_ms`].
    pub max_session_timeout: u64,
    /// Per client IP; 0 = unlimited.
    pub max_client_cnxns: u32,
    pub jute_max_buffer: u32,
    /// TTL nodes.
    pub extended_types_enabled: bool,
    /// Empty, or `name:base64(sha1(name:password))`.
    pub super_digest: String,
    /// Comma-separated list; `*` = all. See [`Settings::four_letter_word_allowed`].
    pub four_letter_words: String,
    pub container_check_interval: u64,
    pub global_outstanding_limit: u32,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            id: 0,
            tick_time: 2000,
            init_limit: 10,
            sync_limit: 5,
            min_session_timeout: 0,
            max_session_timeout: 0,
            max_client_cnxns: 60,
            jute_max_buffer: 1_048_575,
            extended_types_enabled: false,
            super_digest: String::new(),
            four_letter_words: "ruok,srvr,stat,mntr,conf,envi,isro,wchs,cons,dirs".to_string(),
            container_check_interval: 60_000,
            global_outstanding_limit: 1000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientSettings {
    pub port: u16,
    pub address: String,
    /// `auto` or a count; see [`Settings::client_io_threads`].
    pub io_threads: String,
    /// Requests of one connection the server works on at once; past it that connection is not
    /// read until replies go out.
    pub max_in_flight: u32,
    /// Replies and watch events queued for one connection that its client has not read: past
    /// half a MiB the connection is not read; past this many bytes it is closed.
    pub max_queued_bytes: u64,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            port: 2181,
            address: "0.0.0.0".to_string(),
            io_threads: "auto".to_string(),
            max_in_flight: 128,
            max_queued_bytes: 64 << 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageSettings {
    pub data_dir: String,
    /// "" => same as data_dir, see [`Settings::data_log_dir`].
    pub data_log_dir: String,
    pub force_sync: bool,
    pub snap_count: u64,
    pub snap_retain_count: u32,
    /// Hours; 0 = autopurge disabled.
    pub purge_interval: u32,
    /// Bytes of transaction log after which a snapshot is taken (randomised per server).
    pub snap_size_limit: u64,
    /// Bytes by which log segments grow at a time (zeroed ahead of the writes).
    pub preallocate_size: u64,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            data_dir: "./data".to_string(),
            data_log_dir: String::new(),
            force_sync: true,
            snap_count: 100_000,
            snap_retain_count: 3,
            purge_interval: 0,
            snap_size_limit: 4 << 30,
            preallocate_size: 64 << 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct QuorumSettings {
    /// server id -> "host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]".
    /// See [`Settings::members`].
    pub members: BTreeMap<u64, String>,
    /// "participant" or "observer".
    pub peer_type: String,
    /// `auto` or a count; see [`Settings::quorum_io_threads`].
    pub io_threads: String,
}

impl Default for QuorumSettings {
    fn default() -> Self {
        QuorumSettings {
            members: BTreeMap::new(),
            peer_type: "participant".to_string(),
            io_threads: "auto".to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetrySettings {
    pub log_level: String,
    /// Empty = no export.
    pub otlp_endpoint: String,
    pub service_name: String,
    /// 0 = no metrics endpoint.
    pub metrics_port: u16,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            log_level: "info".to_string(),
            otlp_endpoint: String::new(),
            service_name: "keeper".to_string(),
            metrics_port: 0,
        }
    }
}

/// One ensemble member, parsed from a `quorum.members` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: u64,
    /// Host name or IP address, without IPv6 brackets.
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    pub observer: bool,
    /// `(clientHost, clientPort)` from the `;[clientHost:]clientPort` part;
    /// the host is `0.0.0.0` when only a port is given.
    pub client: Option<(String, u16)>,
}

impl Member {
    /// `host:quorum_port` (IPv6 hosts in brackets).
    pub fn quorum_addr(&self) -> String {
        join_host_port(&self.host, self.quorum_port)
    }

    /// `host:election_port` (IPv6 hosts in brackets).
    pub fn election_addr(&self) -> String {
        join_host_port(&self.host, self.election_port)
    }

    /// `clientHost:clientPort`, when the entry has a client part.
    pub fn client_addr(&self) -> Option<String> {
        self.client.as_ref().map(|(h, p)| join_host_port(h, *p))
    }
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl Settings {
    /// Threads that run client connections; 0 = on the data tree's thread. `auto` is 0 on
    /// machines with up to 2 cores (every hop between threads is a wake-up that waits for a
    /// core there), else one per core beyond the tree's and the log writer's, at most 8.
    pub fn client_io_threads(&self) -> usize {
        match self.client.io_threads.parse::<usize>() {
            Ok(n) => n,
            Err(_) => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                if cores <= 2 {
                    0
                } else {
                    (cores - 2).min(8)
                }
            }
        }
    }

    /// Threads that run the quorum links (reading, decoding and encoding PROPOSAL / ACK /
    /// COMMIT / ...) of an ensemble member with `peers` other members; 0 = on the data tree's
    /// thread. `auto` is 0 for now: measured on a 16-core machine (3 servers, 32x16 setData),
    /// links on threads of their own cost more in hand-overs between threads (a wake-up per
    /// message each way, ~15 us of CPU per write on each link thread) than they take off the
    /// tree's thread, and writes/s fell from 71k to 30k. They stay available to measure.
    pub fn quorum_io_threads(&self, peers: usize) -> usize {
        let _ = peers;
        self.quorum.io_threads.parse::<usize>().unwrap_or(0)
    }

    /// Smallest negotiable session timeout: `min_session_timeout`, or
    /// `2 * tick_time` when it is 0.
    pub fn min_session_timeout_ms(&self) -> u64 {
        match self.server.min_session_timeout {
            0 => self.server.tick_time.saturating_mul(2),
            v => v,
        }
    }

    /// Largest negotiable session timeout: `max_session_timeout`, or
    /// `20 * tick_time` when it is 0.
    pub fn max_session_timeout_ms(&self) -> u64 {
        match self.server.max_session_timeout {
            0 => self.server.tick_time.saturating_mul(20),
            v => v,
        }
    }

    /// Transaction log directory: `storage.data_log_dir`, or
    /// `storage.data_dir` when it is empty.
    pub fn data_log_dir(&self) -> &str {
        if self.storage.data_log_dir.is_empty() {
            &self.storage.data_dir
        } else {
            &self.storage.data_log_dir
        }
    }

    /// Whether the four-letter word `w` may be answered.
    pub fn four_letter_word_allowed(&self, w: &str) -> bool {
        self.server
            .four_letter_words
            .split(',')
            .map(str::trim)
            .any(|x| x == "*" || x == w)
    }

    /// The parsed `quorum.members`, ordered by id. Empty for a standalone server.
    pub fn members(&self) -> Result<Vec<Member>, SettingsError> {
        self.members_from(&|_| "settings".to_string())
    }

    fn members_from(&self, origin: &dyn Fn(&str) -> String) -> Result<Vec<Member>, SettingsError> {
        self.quorum
            .members
            .iter()
            .map(|(id, raw)| {
                parse_member(*id, raw).map_err(|reason| {
                    let key = format!("quorum.members.{id}");
                    SettingsError::InvalidValue {
                        value: raw.clone(),
                        layer: origin(&key),
                        key,
                        reason,
                    }
                })
            })
            .collect()
    }

    /// Range and consistency checks on merged settings. `origins` (dotted key
    /// -> layer) is used to name the layer of a bad value in the error; keys
    /// missing from it are reported as coming from `default`.
    pub fn validate(&self, origins: &BTreeMap<String, String>) -> Result<(), SettingsError> {
        let origin = |k: &str| {
            origins
                .get(k)
                .cloned()
                .unwrap_or_else(|| DEFAULT_LAYER.to_string())
        };
        for spec in SPECS {
            let value = (spec.get)(self);
            let ok = match (spec.ty, &value) {
                (Ty::Int { min, max }, Typed::Int(n)) => (min..=max).contains(n),
                (Ty::Str(check), Typed::Str(s)) => check(s),
                _ => true,
            };
            if !ok {
                return Err(SettingsError::InvalidValue {
                    key: spec.key.to_string(),
                    value: value.raw(),
                    layer: origin(spec.key),
                    reason: format!("expected {}", spec.expect),
                });
            }
        }

        let (min, max) = (self.min_session_timeout_ms(), self.max_session_timeout_ms());
        if min > max {
            let min_key = "server.min_session_timeout";
            let max_key = "server.max_session_timeout";
            let describe = |key: &str, set: u64, eff: u64, factor: u32| {
                if set == 0 {
                    format!(
                        "{key} = 0 => {factor} * server.tick_time = {eff} ms, from {}",
                        origin(key)
                    )
                } else {
                    format!("{key} = {eff} ms, from {}", origin(key))
                }
            };
            let min_desc = describe(min_key, self.server.min_session_timeout, min, 2);
            let max_desc = describe(max_key, self.server.max_session_timeout, max, 20);
            // Blame the explicitly set bound when the other one is derived.
            let (key, value, reason) =
                if self.server.min_session_timeout == 0 && self.server.max_session_timeout != 0 {
                    (
                        max_key,
                        self.server.max_session_timeout,
                        format!("the maximum session timeout is below the minimum ({min_desc})"),
                    )
                } else {
                    (
                        min_key,
                        self.server.min_session_timeout,
                        format!("the minimum session timeout exceeds the maximum ({max_desc})"),
                    )
                };
            return Err(SettingsError::InvalidValue {
                key: key.to_string(),
                value: value.to_string(),
                layer: origin(key),
                reason,
            });
        }

        let members = self.members_from(&origin)?;
        if !members.is_empty() && !members.iter().any(|m| m.id == self.server.id) {
            let ids: Vec<String> = members.iter().map(|m| m.id.to_string()).collect();
            return Err(SettingsError::InvalidValue {
                key: "server.id".to_string(),
                value: self.server.id.to_string(),
                layer: origin("server.id"),
                reason: format!(
                    "this server's id must be one of the quorum.members ids ({})",
                    ids.join(", ")
                ),
            });
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Public loading API
// ---------------------------------------------------------------------------

/// What to load: the `--config` file, the `--set` arguments and the process
/// environment (passed in so that tests are hermetic; `main` passes
/// `std::env::vars().collect()`).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub config_file: Option<PathBuf>,
    pub sets: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// Result of [`load`].
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    /// Dotted key (`client.port`, `quorum.members.1`) -> name of the layer
    /// that set it.
    pub origins: BTreeMap<String, String>,
    /// Unknown or unsupported keys and similar non-fatal problems.
    pub warnings: Vec<String>,
}

#[derive(thiserror::Error, Debug)]
pub enum SettingsError {
    /// A value that does not parse or is out of range.
    #[error("invalid value `{value}` for `{key}` (from {layer}): {reason}")]
    InvalidValue {
        key: String,
        value: String,
        layer: String,
        reason: String,
    },
    #[error("cannot read config file `{}`: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot parse config file `{}`{}: {message}",
        path.display(),
        line.map(|l| format!(" at line {l}")).unwrap_or_default()
    )]
    ParseFile {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("invalid --set argument `{arg}`: {reason}")]
    BadSetArgument { arg: String, reason: String },
    #[error("cannot use myid file `{}`: {reason}", path.display())]
    MyId { path: PathBuf, reason: String },
    #[error("cannot merge configuration layers: {0}")]
    Merge(String),
}

/// Reads and merges all layers, then validates the result.
pub fn load(opts: &LoadOptions) -> Result<Loaded, SettingsError> {
    let mut warnings = Vec::new();

    let defaults = builtin_layer(&Settings::default(), DEFAULT_LAYER);
    let embedded = toml_layer(
        DEFAULT_TOML,
        Path::new(DEFAULT_TOML_LAYER),
        DEFAULT_TOML_LAYER,
        &mut warnings,
    )?;
    let mut file = match &opts.config_file {
        Some(path) => Some(file_layer(path, &mut warnings)?),
        None => None,
    };
    let env = env_layer(&opts.env, &mut warnings)?;
    let sets = set_layer(&opts.sets, &mut warnings)?;

    // A zoo.cfg with server.N lines takes this server's id from dataDir/myid,
    // unless a higher layer sets server.id.
    if let Some(f) = file.as_mut() {
        if f.needs_myid && !has_key(&env, "server.id") && !has_key(&sets, "server.id") {
            let data_dir = [&sets, &env, &f.entries]
                .iter()
                .find_map(|layer| last_str(layer, "storage.data_dir"))
                .unwrap_or_else(|| StorageSettings::default().data_dir);
            f.entries.push(read_myid(Path::new(&data_dir))?);
        }
    }

    let mut layers = vec![defaults, embedded];
    if let Some(f) = file {
        layers.push(f.entries);
    }
    layers.push(env);
    layers.push(sets);

    let (mut settings, mut origins) = merge(layers)?;
    apply_member_entry(&mut settings, &mut origins, &mut warnings)?;
    settings.validate(&origins)?;
    Ok(Loaded {
        settings,
        origins,
        warnings,
    })
}

/// Every key with its effective value and layer, TOML-looking, for
/// `keeper config`.
pub fn render_effective(loaded: &Loaded) -> String {
    let s = &loaded.settings;
    let origin = |k: &str| {
        loaded
            .origins
            .get(k)
            .map(String::as_str)
            .unwrap_or(DEFAULT_LAYER)
            .to_string()
    };
    let mut out = String::from(
        "# Effective keeper configuration: `key = value   # layer it came from`\n\
         # (layers, lowest first: default < config/default.toml < --config file < KEEPER_* env < --set)\n",
    );
    for section in SECTIONS {
        let mut rows: Vec<(String, String)> = Vec::new();
        for spec in SPECS.iter().filter(|sp| section_of(sp.key) == *section) {
            let value = (spec.get)(s);
            let field = &spec.key[section.len() + 1..];
            let mut note = origin(spec.key);
            match spec.key {
                "server.min_session_timeout" if s.server.min_session_timeout == 0 => {
                    note.push_str(&format!(" (effective {})", s.min_session_timeout_ms()))
                }
                "server.max_session_timeout" if s.server.max_session_timeout == 0 => {
                    note.push_str(&format!(" (effective {})", s.max_session_timeout_ms()))
                }
                "storage.data_log_dir" if s.storage.data_log_dir.is_empty() => {
                    note.push_str(&format!(" (effective {:?})", s.data_log_dir()))
                }
                _ => {}
            }
            rows.push((format!("{field} = {}", value.render()), note));
        }
        out.push_str(&format!("\n[{section}]\n"));
        push_rows(&mut out, &rows);
        if *section == "quorum" {
            out.push_str("\n[quorum.members]\n");
            if s.quorum.members.is_empty() {
                out.push_str("# (none: standalone)\n");
            }
            let rows: Vec<(String, String)> = s
                .quorum
                .members
                .iter()
                .map(|(id, m)| {
                    (
                        format!("{id} = {}", Typed::Str(m.clone()).render()),
                        origin(&format!("quorum.members.{id}")),
                    )
                })
                .collect();
            push_rows(&mut out, &rows);
        }
    }
    out
}

fn push_rows(out: &mut String, rows: &[(String, String)]) {
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0).min(60);
    for (line, note) in rows {
        out.push_str(&format!("{line:<width$}   # {note}\n"));
    }
}

// ---------------------------------------------------------------------------
// Key schema
// ---------------------------------------------------------------------------

/// A typed value of one key.
#[derive(Debug, Clone, PartialEq)]
enum Typed {
    Int(u64),
    Bool(bool),
    Str(String),
}

impl Typed {
    fn to_kind(&self) -> config::ValueKind {
        match self {
            Typed::Int(n) => config::ValueKind::U64(*n),
            Typed::Bool(b) => config::ValueKind::Boolean(*b),
            Typed::Str(s) => config::ValueKind::String(s.clone()),
        }
    }

    /// As written in TOML.
    fn render(&self) -> String {
        match self {
            Typed::Int(n) => n.to_string(),
            Typed::Bool(b) => b.to_string(),
            Typed::Str(s) => toml::Value::String(s.clone()).to_string(),
        }
    }

    /// As shown in error messages.
    fn raw(&self) -> String {
        match self {
            Typed::Int(n) => n.to_string(),
            Typed::Bool(b) => b.to_string(),
            Typed::Str(s) => s.clone(),
        }
    }
}

#[derive(Clone, Copy)]
enum Ty {
    /// Unsigned integer; `max` is also the width of the field's type.
    Int {
        min: u64,
        max: u64,
    },
    Bool,
    /// String with a validity check.
    Str(fn(&str) -> bool),
}

struct Spec {
    key: &'static str,
    ty: Ty,
    /// What a valid value looks like ("expected ...").
    expect: &'static str,
    get: fn(&Settings) -> Typed,
}

const U16: u64 = u16::MAX as u64;
const U32: u64 = u32::MAX as u64;
const U64: u64 = u64::MAX;
const BOOL_EXPECT: &str = "a boolean (true or false)";

static SPECS: &[Spec] = &[
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
        key: "telemetry.service_name",
        ty: Ty::Str(check_non_empty),
        expect: "a non-empty string",
        get: |s| Typed::Str(s.telemetry.service_name.clone()),
    },
    Spec {
        key: "telemetry.metrics_port",
        ty: Ty::Int { min: 0, max: U16 },
        expect: "an integer 0..=65535 (0 = disabled)",
        get: |s| Typed::Int(s.telemetry.metrics_port.into()),
    },
];

const MEMBER_EXPECT: &str =
    "host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]";

fn section_of(key: &str) -> &str {
    key.split('.').next().unwrap_or("")
}

fn check_any(_: &str) -> bool {
    true
}

fn check_io_threads(s: &str) -> bool {
    s == "auto" || s.parse::<u32>().is_ok_and(|n| n <= 64)
}

fn check_non_empty(s: &str) -> bool {
    !s.trim().is_empty()
}

fn check_peer_type(s: &str) -> bool {
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

fn check_otlp_endpoint(s: &str) -> bool {
    s.is_empty()
        || ["http://", "https://"]
            .iter()
            .any(|p| s.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
}

/// What a dotted key refers to.
#[derive(Clone, Copy)]
enum Target {
    Spec(&'static Spec),
    /// `quorum.members.<id>`.
    Member,
}

/// `Ok(None)` for unknown keys; `Err` for a `quorum.members.X` with a bad id.
fn lookup(key: &str, layer: &str) -> Result<Option<Target>, SettingsError> {
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

fn unknown_key(key: &str, layer: &str) -> String {
    format!("unknown key `{key}` (from {layer}), ignored")
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
fn convert_text(key: &str, target: Target, raw: &str, layer: &str) -> Result<Typed, SettingsError> {
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
fn convert_toml(
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

// ---------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------

/// One value of one layer.
#[derive(Debug, Clone)]
struct Entry {
    key: String,
    value: Typed,
    origin: String,
}

fn has_key(entries: &[Entry], key: &str) -> bool {
    entries.iter().any(|e| e.key == key)
}

fn last_str(entries: &[Entry], key: &str) -> Option<String> {
    entries
        .iter()
        .rev()
        .find(|e| e.key == key)
        .map(|e| e.value.raw())
}

fn builtin_layer(settings: &Settings, layer: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = SPECS
        .iter()
        .map(|spec| Entry {
            key: spec.key.to_string(),
            value: (spec.get)(settings),
            origin: layer.to_string(),
        })
        .collect();
    entries.extend(settings.quorum.members.iter().map(|(id, m)| Entry {
        key: format!("quorum.members.{id}"),
        value: Typed::Str(m.clone()),
        origin: layer.to_string(),
    }));
    entries
}

fn toml_error(path: &Path, content: &str, err: &toml::de::Error) -> SettingsError {
    let line = err.span().map(|span| {
        content[..span.start.min(content.len())]
            .matches('\n')
            .count()
            + 1
    });
    SettingsError::ParseFile {
        path: path.to_path_buf(),
        line,
        message: err.message().trim().to_string(),
    }
}

/// A Keeper TOML document as a layer.
fn toml_layer(
    content: &str,
    path: &Path,
    layer: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<Entry>, SettingsError> {
    let table: toml::Table = toml::from_str(content).map_err(|e| toml_error(path, content, &e))?;
    let mut entries = Vec::new();
    let mut push =
        |key: String, target: Target, value: &toml::Value| -> Result<(), SettingsError> {
            let typed = convert_toml(&key, target, value, layer)?;
            entries.push(Entry {
                key,
                value: typed,
                origin: layer.to_string(),
            });
            Ok(())
        };
    let expected_table = |key: &str, value: &toml::Value| SettingsError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        layer: layer.to_string(),
        reason: "expected a table".to_string(),
    };
    for (section, value) in &table {
        if !SECTIONS.contains(&section.as_str()) {
            warnings.push(unknown_key(section, layer));
            continue;
        }
        let toml::Value::Table(fields) = value else {
            return Err(expected_table(section, value));
        };
        for (field, value) in fields {
            let key = format!("{section}.{field}");
            if key == "quorum.members" {
                let toml::Value::Table(members) = value else {
                    return Err(expected_table(&key, value));
                };
                for (id, value) in members {
                    let key = format!("quorum.members.{id}");
                    if let Some(target) = lookup(&key, layer)? {
                        push(key, target, value)?;
                    }
                }
                continue;
            }
            match lookup(&key, layer)? {
                Some(target) => push(key, target, value)?,
                None => warnings.push(unknown_key(&key, layer)),
            }
        }
    }
    Ok(entries)
}

/// `KEEPER_<SECTION>__<KEY>` variables, in name order; each is its own layer
/// `env NAME`.
fn env_layer(
    env: &[(String, String)],
    warnings: &mut Vec<String>,
) -> Result<Vec<Entry>, SettingsError> {
    let mut vars: Vec<&(String, String)> = env
        .iter()
        // Only KEEPER_<SECTION>__<KEY> names are settings (KEEPER_BIN and the like are not).
        .filter(|(name, _)| name.starts_with(ENV_PREFIX) && name.contains("__"))
        .collect();
    vars.sort();
    let mut entries = Vec::new();
    for (name, value) in vars {
        let layer = format!("env {name}");
        let key = name[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
            .join(".");
        match lookup(&key, &layer)? {
            Some(target) => entries.push(Entry {
                value: convert_text(&key, target, value, &layer)?,
                key,
                origin: layer,
            }),
            None => warnings.push(format!(
                "{} (environment variables are named KEEPER_<SECTION>__<KEY>, e.g. KEEPER_CLIENT__PORT)",
                unknown_key(&key, &layer)
            )),
        }
    }
    Ok(entries)
}

/// `--set key=value` arguments, in order (a later one wins).
fn set_layer(sets: &[String], warnings: &mut Vec<String>) -> Result<Vec<Entry>, SettingsError> {
    let mut entries = Vec::new();
    for arg in sets {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(SettingsError::BadSetArgument {
                arg: arg.clone(),
                reason: "expected key=value, e.g. --set client.port=2182".to_string(),
            });
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(SettingsError::BadSetArgument {
                arg: arg.clone(),
                reason: "the key before `=` is empty".to_string(),
            });
        }
        let value = value.trim();
        let value = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        match lookup(key, SET_LAYER)? {
            Some(target) => entries.push(Entry {
                key: key.to_string(),
                value: convert_text(key, target, value, SET_LAYER)?,
                origin: SET_LAYER.to_string(),
            }),
            None => warnings.push(unknown_key(key, SET_LAYER)),
        }
    }
    Ok(entries)
}

/// The `--config` layer.
struct FileLayer {
    entries: Vec<Entry>,
    /// A zoo.cfg with server.N entries: the server id comes from dataDir/myid.
    needs_myid: bool,
}

fn file_layer(path: &Path, warnings: &mut Vec<String>) -> Result<FileLayer, SettingsError> {
    let content = std::fs::read_to_string(path).map_err(|source| SettingsError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    let layer = path.display().to_string();
    if is_zoo_cfg(path, &content) {
        zoo_layer(&content, &layer, warnings)
    } else {
        Ok(FileLayer {
            entries: toml_layer(&content, path, &layer, warnings)?,
            needs_myid: false,
        })
    }
}

/// Whether a `--config` file is a ZooKeeper zoo.cfg rather than Keeper TOML:
/// by extension (`.cfg`, `.properties` vs `.toml`), else by content.
fn is_zoo_cfg(path: &Path, content: &str) -> bool {
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

// ---------------------------------------------------------------------------
// zoo.cfg
// ---------------------------------------------------------------------------

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
struct Property {
    key: String,
    value: String,
    line: usize,
}

/// Java `Properties.load` syntax: `#`/`!` comments, `=`, `:` or whitespace
/// separators, backslash line continuations and escapes. Values are trimmed
/// (as ZooKeeper does). A later duplicate key wins when applied.
fn parse_properties(content: &str) -> Vec<Property> {
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

fn zoo_layer(
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
    })
}

/// `server.id` from `<data_dir>/myid`; the entry's origin is the myid path.
fn read_myid(data_dir: &Path) -> Result<Entry, SettingsError> {
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

// ---------------------------------------------------------------------------
// Merging (config crate)
// ---------------------------------------------------------------------------

/// A layer as a `config` source; every value carries its origin.
#[derive(Debug, Clone)]
struct LayerSource(Vec<Entry>);

impl config::Source for LayerSource {
    fn clone_into_box(&self) -> Box<dyn config::Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<config::Map<String, config::Value>, config::ConfigError> {
        let mut map = config::Map::new();
        for e in &self.0 {
            map.insert(
                e.key.clone(),
                config::Value::new(Some(&e.origin), e.value.to_kind()),
            );
        }
        Ok(map)
    }
}

fn collect_origins(prefix: &str, value: &config::Value, origins: &mut BTreeMap<String, String>) {
    match &value.kind {
        config::ValueKind::Table(table) => {
            for (k, v) in table {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                collect_origins(&key, v, origins);
            }
        }
        _ => {
            origins.insert(
                prefix.to_string(),
                value.origin().unwrap_or(DEFAULT_LAYER).to_string(),
            );
        }
    }
}

/// Merges the layers (lowest first) into settings and per-key origins.
fn merge(layers: Vec<Vec<Entry>>) -> Result<(Settings, BTreeMap<String, String>), SettingsError> {
    let builder = layers
        .into_iter()
        .fold(config::Config::builder(), |b, layer| {
            b.add_source(LayerSource(layer))
        });
    let merged = builder
        .build()
        .map_err(|e| SettingsError::Merge(e.to_string()))?;
    let mut origins = BTreeMap::new();
    collect_origins("", &merged.cache, &mut origins);
    let settings: Settings = merged
        .try_deserialize()
        .map_err(|e| SettingsError::Merge(e.to_string()))?;
    Ok((settings, origins))
}

fn is_default_layer(origin: Option<&String>) -> bool {
    origin.is_none_or(|o| o == DEFAULT_LAYER || o == DEFAULT_TOML_LAYER)
}

fn is_wildcard(addr: &str) -> bool {
    matches!(addr, "0.0.0.0" | "::" | "[::]")
}

/// Applies this server's `quorum.members` entry, as ZooKeeper does: its
/// `;[clientHost:]clientPort` part gives the client port (and address) unless
/// they are set explicitly (a different explicit port is an error), and its
/// type wins over `quorum.peer_type` (with a warning).
fn apply_member_entry(
    settings: &mut Settings,
    origins: &mut BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<(), SettingsError> {
    let id = settings.server.id;
    let Some(raw) = settings.quorum.members.get(&id) else {
        return Ok(());
    };
    // A bad entry is reported by validate().
    let Ok(member) = parse_member(id, raw) else {
        return Ok(());
    };
    let member_key = format!("quorum.members.{id}");
    let member_layer = origins
        .get(&member_key)
        .cloned()
        .unwrap_or_else(|| DEFAULT_LAYER.to_string());
    let derived = format!("{member_layer} ({member_key})");

    if let Some((host, port)) = &member.client {
        if is_default_layer(origins.get("client.port")) {
            settings.client.port = *port;
            origins.insert("client.port".to_string(), derived.clone());
        } else if settings.client.port != *port {
            return Err(SettingsError::InvalidValue {
                key: "client.port".to_string(),
                value: settings.client.port.to_string(),
                layer: origins["client.port"].clone(),
                reason: format!(
                    "this server's entry {member_key} (from {member_layer}) has client port {port}"
                ),
            });
        }
        if !is_wildcard(host) && *host != settings.client.address {
            if is_default_layer(origins.get("client.address"))
                || is_wildcard(&settings.client.address)
            {
                settings.client.address = host.clone();
                origins.insert("client.address".to_string(), derived.clone());
            } else {
                return Err(SettingsError::InvalidValue {
                    key: "client.address".to_string(),
                    value: settings.client.address.clone(),
                    layer: origins["client.address"].clone(),
                    reason: format!(
                        "this server's entry {member_key} (from {member_layer}) has client address {host}"
                    ),
                });
            }
        }
    }

    let member_type = if member.observer {
        "observer"
    } else {
        "participant"
    };
    if check_peer_type(&settings.quorum.peer_type) && settings.quorum.peer_type != member_type {
        let peer_type_layer = origins
            .get("quorum.peer_type")
            .map(String::as_str)
            .unwrap_or(DEFAULT_LAYER);
        // Only a peer_type someone set can disagree; the default just follows the entry.
        let set_by_user = peer_type_layer != DEFAULT_LAYER && peer_type_layer != DEFAULT_TOML_LAYER;
        if set_by_user {
            warnings.push(format!(
            "quorum.peer_type `{}` (from {}) does not match the type `{member_type}` of this server's entry \
             {member_key} (from {member_layer}); using `{member_type}`",
            settings.quorum.peer_type, peer_type_layer,
        ));
        }
        settings.quorum.peer_type = member_type.to_string();
        origins.insert("quorum.peer_type".to_string(), derived);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Member strings
// ---------------------------------------------------------------------------

/// Splits `host:rest` where host may be a bracketed IPv6 address.
fn split_host(s: &str) -> Option<(&str, &str)> {
    if let Some(bracketed) = s.strip_prefix('[') {
        let (host, rest) = bracketed.split_once(']')?;
        Some((host, rest.strip_prefix(':')?))
    } else {
        s.split_once(':')
    }
}

fn parse_port(s: &str, what: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{what} `{}` is not an integer 1..=65535", s.trim())),
    }
}

/// Parses `host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]`.
fn parse_member(id: u64, raw: &str) -> Result<Member, String> {
    parse_member_inner(id, raw.trim()).map_err(|why| format!("expected {MEMBER_EXPECT} ({why})"))
}

fn parse_member_inner(id: u64, s: &str) -> Result<Member, String> {
    let (addr, client) = match s.split_once(';') {
        Some((a, c)) => (a.trim(), Some(c.trim())),
        None => (s, None),
    };
    if addr.contains('|') {
        return Err("multiple addresses separated by `|` are not supported".to_string());
    }
    let (host, rest) = split_host(addr).ok_or("missing `:quorumPort:electionPort`")?;
    if host.trim().is_empty() {
        return Err("empty host".to_string());
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let (quorum_port, election_port, observer) = match parts.as_slice() {
        [q, e] => (q, e, false),
        [q, e, t] => match t.trim() {
            "participant" => (q, e, false),
            "observer" => (q, e, true),
            other => return Err(format!("unknown server type `{other}`")),
        },
        [_] => return Err("missing election port".to_string()),
        _ => return Err("too many `:`-separated fields".to_string()),
    };
    let quorum_port = parse_port(quorum_port, "quorum port")?;
    let election_port = parse_port(election_port, "election port")?;
    let client = match client {
        None => None,
        Some("") => return Err("empty client part after `;`".to_string()),
        Some(c) => {
            // `port`, `host:port` or `[v6]:port`.
            let (chost, cport) = if c.contains(':') {
                let (h, p) = if c.starts_with('[') {
                    split_host(c).ok_or("malformed client address")?
                } else {
                    c.rsplit_once(':').ok_or("malformed client address")?
                };
                if h.trim().is_empty() {
                    return Err("empty client host".to_string());
                }
                (h.trim().to_string(), p)
            } else {
                ("0.0.0.0".to_string(), c)
            };
            Some((chost, parse_port(cport, "client port")?))
        }
    };
    Ok(Member {
        id,
        host: host.trim().to_string(),
        quorum_port,
        election_port,
        observer,
        client,
    })
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sets(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, content).unwrap();
        path
    }

    fn load_with(
        file: Option<&Path>,
        env_vars: &[(&str, &str)],
        set_args: &[&str],
    ) -> Result<Loaded, SettingsError> {
        load(&LoadOptions {
            config_file: file.map(Path::to_path_buf),
            sets: sets(set_args),
            env: env(env_vars),
        })
    }

    #[test]
    fn client_io_threads() {
        let auto = load_with(None, &[], &[]).unwrap().settings;
        assert_eq!(auto.client.io_threads, "auto");
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let expect = if cores <= 2 { 0 } else { (cores - 2).min(8) };
        assert_eq!(auto.client_io_threads(), expect);
        for (v, n) in [("0", 0), ("3", 3), ("64", 64)] {
            let s = load_with(None, &[], &[&format!("client.io_threads={v}")])
                .unwrap()
                .settings;
            assert_eq!(s.client_io_threads(), n);
        }
        for bad in ["65", "-1", "many", ""] {
            let msg = err_text(load_with(None, &[], &[&format!("client.io_threads={bad}")]));
            assert!(
                msg.contains("client.io_threads") && msg.contains("--set"),
                "{bad}: {msg}"
            );
        }
    }

    fn err_text(r: Result<Loaded, SettingsError>) -> String {
        match r {
            Ok(l) => panic!("expected an error, got {:?}", l.settings),
            Err(e) => e.to_string(),
        }
    }

    fn example(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("config/examples")
            .join(name)
    }

    #[test]
    fn defaults_only() {
        let loaded = load(&LoadOptions::default()).unwrap();
        assert_eq!(loaded.settings, Settings::default());
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        for spec in SPECS {
            assert_eq!(loaded.origins[spec.key], DEFAULT_TOML_LAYER, "{}", spec.key);
        }
        assert_eq!(loaded.settings.min_session_timeout_ms(), 4000);
        assert_eq!(loaded.settings.max_session_timeout_ms(), 40000);
        assert_eq!(loaded.settings.data_log_dir(), "./data");
        assert!(loaded.settings.members().unwrap().is_empty());
    }

    #[test]
    fn builtin_layer_is_named_default() {
        let (settings, origins) =
            merge(vec![builtin_layer(&Settings::default(), DEFAULT_LAYER)]).unwrap();
        assert_eq!(settings, Settings::default());
        assert_eq!(origins.len(), SPECS.len());
        assert!(origins.values().all(|o| o == DEFAULT_LAYER));
    }

    #[test]
    fn embedded_default_toml_equals_builtin_defaults() {
        let mut warnings = Vec::new();
        let entries = toml_layer(
            DEFAULT_TOML,
            Path::new(DEFAULT_TOML_LAYER),
            DEFAULT_TOML_LAYER,
            &mut warnings,
        )
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        // Every key is present in the file...
        for spec in SPECS {
            assert!(
                has_key(&entries, spec.key),
                "config/default.toml lacks {}",
                spec.key
            );
        }
        // ...and the file alone gives exactly the built-in defaults.
        let (settings, origins) = merge(vec![entries]).unwrap();
        assert_eq!(settings, Settings::default());
        assert!(origins.values().all(|o| o == DEFAULT_TOML_LAYER));
        // Also via plain serde.
        let direct: Settings = toml::from_str(DEFAULT_TOML).unwrap();
        assert_eq!(direct, Settings::default());
    }

    #[test]
    fn embedded_default_toml_documents_every_key() {
        let lines: Vec<&str> = DEFAULT_TOML.lines().collect();
        let mut section = String::new();
        let mut documented = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let line = line.trim();
            if line.starts_with('[') {
                section = line.trim_matches(|c| c == '[' || c == ']').to_string();
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let field = line.split('=').next().unwrap().trim();
            let key = format!("{section}.{field}");
            assert!(
                i > 0 && lines[i - 1].trim_start().starts_with('#'),
                "key {key} in config/default.toml has no comment above it"
            );
            documented.push(key);
        }
        for spec in SPECS {
            assert!(
                documented.iter().any(|k| k == spec.key),
                "{} undocumented",
                spec.key
            );
        }
        assert!(DEFAULT_TOML.contains("[quorum.members]"));
    }

    #[test]
    fn each_layer_overrides_the_previous_and_origins_say_which() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "keeper.toml",
            "[client]\nport = 3000\n[server]\ntick_time = 1000\nsync_limit = 3\n[storage]\ndata_dir = \"/var/lib/keeper\"\n",
        );
        let file_layer = file.display().to_string();

        let only_file = load_with(Some(&file), &[], &[]).unwrap();
        assert_eq!(only_file.settings.client.port, 3000);
        assert_eq!(only_file.origins["client.port"], file_layer);
        assert_eq!(only_file.settings.server.tick_time, 1000);
        assert_eq!(only_file.origins["client.address"], DEFAULT_TOML_LAYER);

        let env_vars = [
            ("KEEPER_CLIENT__PORT", "3001"),
            ("KEEPER_SERVER__SYNC_LIMIT", "7"),
            ("PATH", "/usr/bin"),
        ];
        let with_env = load_with(Some(&file), &env_vars, &[]).unwrap();
        assert_eq!(with_env.settings.client.port, 3001);
        assert_eq!(with_env.origins["client.port"], "env KEEPER_CLIENT__PORT");
        assert_eq!(with_env.settings.server.sync_limit, 7);
        assert_eq!(
            with_env.origins["server.sync_limit"],
            "env KEEPER_SERVER__SYNC_LIMIT"
        );
        assert_eq!(with_env.origins["server.tick_time"], file_layer);

        let with_set = load_with(
            Some(&file),
            &env_vars,
            &["client.port=3002", "storage.force_sync=false"],
        )
        .unwrap();
        let s = &with_set.settings;
        assert_eq!(s.client.port, 3002);
        assert_eq!(with_set.origins["client.port"], SET_LAYER);
        assert!(!s.storage.force_sync);
        assert_eq!(with_set.origins["storage.force_sync"], SET_LAYER);
        assert_eq!(s.server.sync_limit, 7);
        assert_eq!(s.server.tick_time, 1000);
        assert_eq!(s.storage.data_dir, "/var/lib/keeper");
        assert_eq!(s.min_session_timeout_ms(), 2000);
        assert!(with_set.warnings.is_empty(), "{:?}", with_set.warnings);

        // A later --set wins over an earlier one.
        let twice = load_with(None, &[], &["client.port=1", "client.port=2"]).unwrap();
        assert_eq!(twice.settings.client.port, 2);
    }

    #[test]
    fn env_and_set_can_define_members() {
        let loaded = load_with(
            None,
            &[("KEEPER_QUORUM__MEMBERS__1", "127.0.0.1:2888:3888;2181")],
            &["quorum.members.2=127.0.0.1:2889:3889;2182", "server.id=2"],
        )
        .unwrap();
        assert_eq!(loaded.settings.quorum.members.len(), 2);
        assert_eq!(
            loaded.origins["quorum.members.1"],
            "env KEEPER_QUORUM__MEMBERS__1"
        );
        assert_eq!(loaded.origins["quorum.members.2"], SET_LAYER);
        assert_eq!(loaded.settings.client.port, 2182);
        assert_eq!(loaded.origins["client.port"], "--set (quorum.members.2)");
    }

    #[test]
    fn zoo_cfg_standalone() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(
            dir.path(),
            "zoo.cfg",
            "# The number of milliseconds of each tick\n\
             tickTime=3000  \n\
             initLimit=10\n\
             syncLimit=5\n\
             dataDir=zkdata\n\
             dataLogDir = /var/log/zk \n\
             clientPort=2191\n\
             clientPortAddress=127.0.0.1\n\
             maxClientCnxns=0\n\
             minSessionTimeout=-1\n\
             maxSessionTimeout=90000\n\
             autopurge.snapRetainCount=5\n\
             autopurge.purgeInterval=1\n\
             snapCount=5000\n\
             4lw.commands.whitelist=stat, ruok, conf\n\
             forceSync=no\n\
             globalOutstandingLimit=2000\n\
             znode.container.checkIntervalMs=1000\n\
             admin.enableServer=false\n\
             admin.serverPort=8080\n\
             standaloneEnabled=true\n\
             metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
             metricsProvider.httpPort=7000\n\
             audit.enable=false\n",
        );
        let loaded = load_with(Some(&cfg), &[], &[]).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let s = &loaded.settings;
        assert_eq!(s.server.tick_time, 3000);
        assert_eq!(s.storage.data_dir, "zkdata");
        assert_eq!(s.data_log_dir(), "/var/log/zk");
        assert_eq!(s.client.port, 2191);
        assert_eq!(s.client.address, "127.0.0.1");
        assert_eq!(s.server.max_client_cnxns, 0);
        assert_eq!(s.min_session_timeout_ms(), 6000);
        assert_eq!(s.max_session_timeout_ms(), 90000);
        assert_eq!(s.storage.snap_retain_count, 5);
        assert_eq!(s.storage.purge_interval, 1);
        assert_eq!(s.storage.snap_count, 5000);
        assert!(!s.storage.force_sync);
        assert_eq!(s.server.global_outstanding_limit, 2000);
        assert_eq!(s.server.container_check_interval, 1000);
        assert!(s.four_letter_word_allowed("ruok"));
        assert!(s.four_letter_word_allowed("conf"));
        assert!(!s.four_letter_word_allowed("mntr"));
        assert_eq!(s.server.id, 0);
        let layer = cfg.display().to_string();
        assert_eq!(loaded.origins["client.port"], layer);
        assert_eq!(loaded.origins["server.tick_time"], layer);
        assert_eq!(loaded.origins["server.jute_max_buffer"], DEFAULT_TOML_LAYER);
    }

    #[test]
    fn zoo_cfg_prefixed_properties() {
        let dir = tempfile::tempdir().unwrap();
        let digest = "super:xQJmxLMiHGwaqBvst5y6rkB6HQs=";
        let cfg = write(
            dir.path(),
            "zoo.cfg",
            &format!(
                "tickTime=2000\n\
                 dataDir=/tmp/zk\n\
                 zookeeper.extendedTypesEnabled=true\n\
                 zookeeper.DigestAuthenticationProvider.superDigest={digest}\n\
                 zookeeper.4lw.commands.whitelist=*\n\
                 zookeeper.jute.maxbuffer=0x200000\n\
                 zookeeper.snapCount=10\n\
                 zookeeper.admin.enableServer=false\n"
            ),
        );
        let loaded = load_with(Some(&cfg), &[], &[]).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let s = &loaded.settings;
        assert!(s.server.extended_types_enabled);
        assert_eq!(s.server.super_digest, digest);
        assert!(s.four_letter_word_allowed("wchp"));
        assert_eq!(s.server.jute_max_buffer, 0x200000);
        assert_eq!(s.storage.snap_count, 10);

        // Unprefixed names work too.
        let cfg2 = write(
            dir.path(),
            "zoo2.cfg",
            &format!("extendedTypesEnabled=true\nDigestAuthenticationProvider.superDigest={digest}\njute.maxbuffer=4096\n"),
        );
        let s2 = load_with(Some(&cfg2), &[], &[]).unwrap().settings;
        assert!(s2.server.extended_types_enabled);
        assert_eq!(s2.server.super_digest, digest);
        assert_eq!(s2.server.jute_max_buffer, 4096);
    }

    #[test]
    fn zoo_cfg_ensemble_with_myid() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir(&data).unwrap();
        fs::write(data.join("myid"), "2\n").unwrap();
        let cfg = write(
            dir.path(),
            "zoo.cfg",
            &format!(
                "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\n\
                 server.1=127.0.0.1:2888:3888;2181\n\
                 server.2=127.0.0.1:2889:3889;2182 \n\
                 server.3=127.0.0.1:2890:3890:observer;127.0.0.1:2183\n",
                data.display()
            ),
        );
        let loaded = load_with(Some(&cfg), &[], &[]).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let s = &loaded.settings;
        assert_eq!(s.server.id, 2);
        assert_eq!(
            loaded.origins["server.id"],
            data.join("myid").display().to_string()
        );
        assert_eq!(
            s.client.port, 2182,
            "clientPort from this server's server.N entry"
        );
        assert_eq!(
            loaded.origins["client.port"],
            format!("{} (quorum.members.2)", cfg.display())
        );
        let members = s.members().unwrap();
        assert_eq!(members.len(), 3);
        assert_eq!(
            members[1],
            Member {
                id: 2,
                host: "127.0.0.1".into(),
                quorum_port: 2889,
                election_port: 3889,
                observer: false,
                client: Some(("0.0.0.0".into(), 2182)),
            }
        );
        assert!(members[2].observer);
        assert_eq!(members[2].client_addr().as_deref(), Some("127.0.0.1:2183"));
        assert_eq!(members[0].quorum_addr(), "127.0.0.1:2888");
        assert_eq!(members[0].election_addr(), "127.0.0.1:3888");

        // Server 3 is an observer by its entry.
        fs::write(data.join("myid"), "3").unwrap();
        let loaded = load_with(Some(&cfg), &[], &[]).unwrap();
        assert_eq!(loaded.settings.quorum.peer_type, "observer");
        assert_eq!(loaded.settings.client.port, 2183);
        assert_eq!(loaded.settings.client.address, "127.0.0.1");
        // The default peer type just follows the entry, silently.
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

        // A higher layer's server.id wins over myid, and then myid is not needed.
        fs::remove_file(data.join("myid")).unwrap();
        let loaded = load_with(Some(&cfg), &[("KEEPER_SERVER__ID", "1")], &[]).unwrap();
        assert_eq!(loaded.settings.server.id, 1);
        assert_eq!(loaded.origins["server.id"], "env KEEPER_SERVER__ID");
        assert_eq!(loaded.settings.client.port, 2181);
        let loaded = load_with(Some(&cfg), &[], &["server.id=3"]).unwrap();
        assert_eq!(loaded.settings.server.id, 3);

        // Missing myid: an error naming the file.
        let msg = err_text(load_with(Some(&cfg), &[], &[]));
        assert!(
            msg.contains(&data.join("myid").display().to_string()),
            "{msg}"
        );

        // Malformed myid.
        fs::write(data.join("myid"), "two\n").unwrap();
        let msg = err_text(load_with(Some(&cfg), &[], &[]));
        assert!(msg.contains("myid") && msg.contains("`two`"), "{msg}");

        // myid not among the servers.
        fs::write(data.join("myid"), "9").unwrap();
        let msg = err_text(load_with(Some(&cfg), &[], &[]));
        assert!(
            msg.contains("`server.id`") && msg.contains("`9`") && msg.contains("myid"),
            "{msg}"
        );

        // myid is read from the effective data dir.
        let other = dir.path().join("other");
        fs::create_dir(&other).unwrap();
        fs::write(other.join("myid"), "1").unwrap();
        let loaded = load_with(
            Some(&cfg),
            &[],
            &[&format!("storage.data_dir={}", other.display())],
        )
        .unwrap();
        assert_eq!(loaded.settings.server.id, 1);
    }

    #[test]
    fn zoo_cfg_client_port_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(
            dir.path(),
            "zoo.cfg",
            "clientPort=2181\nserver.1=127.0.0.1:2888:3888;2182\n",
        );
        let msg = err_text(load_with(Some(&cfg), &[], &["server.id=1"]));
        assert!(
            msg.contains("`client.port`") && msg.contains("2182"),
            "{msg}"
        );
        // Same port: fine.
        let cfg = write(
            dir.path(),
            "ok.cfg",
            "clientPort=2182\nserver.1=127.0.0.1:2888:3888;2182\n",
        );
        assert_eq!(
            load_with(Some(&cfg), &[], &["server.id=1"])
                .unwrap()
                .settings
                .client
                .port,
            2182
        );
    }

    #[test]
    fn zoo_cfg_recognised_by_content() {
        let dir = tempfile::tempdir().unwrap();
        // Not valid TOML (bare path value).
        let a = write(
            dir.path(),
            "zk.conf",
            "tickTime=2500\ndataDir=/var/lib/zookeeper\nclientPort=2200\n",
        );
        let s = load_with(Some(&a), &[], &[]).unwrap().settings;
        assert_eq!((s.server.tick_time, s.client.port), (2500, 2200));
        assert_eq!(s.storage.data_dir, "/var/lib/zookeeper");
        // Valid TOML too, but only zoo.cfg keys.
        let b = write(dir.path(), "zk.conf2", "tickTime=2600\n");
        assert_eq!(
            load_with(Some(&b), &[], &[])
                .unwrap()
                .settings
                .server
                .tick_time,
            2600
        );
        // Keeper TOML without extension.
        let c = write(dir.path(), "keeper", "[server]\ntick_time = 2700\n");
        assert_eq!(
            load_with(Some(&c), &[], &[])
                .unwrap()
                .settings
                .server
                .tick_time,
            2700
        );
    }

    #[test]
    fn zoo_cfg_small_snap_retain_count_is_raised_like_zookeeper() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(dir.path(), "zoo.cfg", "autopurge.snapRetainCount=1\n");
        let loaded = load_with(Some(&cfg), &[], &[]).unwrap();
        assert_eq!(loaded.settings.storage.snap_retain_count, 3);
        assert_eq!(loaded.warnings.len(), 1);
    }

    #[test]
    fn properties_syntax() {
        let props = parse_properties(
            "# comment\n! also a comment\n  key1 = value one  \nkey2:v2\nkey3 v3\nkey4=a\\\n    b\nkey\\=5=x\nempty\n",
        );
        let kv: Vec<(&str, &str)> = props
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            kv,
            vec![
                ("key1", "value one"),
                ("key2", "v2"),
                ("key3", "v3"),
                ("key4", "ab"),
                ("key=5", "x"),
                ("empty", ""),
            ]
        );
        assert_eq!(props[0].line, 3);
    }

    #[test]
    fn invalid_values_name_key_value_and_layer() {
        let dir = tempfile::tempdir().unwrap();

        assert_eq!(
            err_text(load_with(None, &[], &["client.port=abc"])),
            "invalid value `abc` for `client.port` (from --set): expected an integer 1..=65535"
        );
        assert_eq!(
            err_text(load_with(None, &[("KEEPER_CLIENT__PORT", "abc")], &[])),
            "invalid value `abc` for `client.port` (from env KEEPER_CLIENT__PORT): expected an integer 1..=65535"
        );
        let toml_file = write(dir.path(), "bad.toml", "[client]\nport = \"abc\"\n");
        assert_eq!(
            err_text(load_with(Some(&toml_file), &[], &[])),
            format!(
                "invalid value `abc` for `client.port` (from {}): expected an integer 1..=65535",
                toml_file.display()
            )
        );
        let big = write(dir.path(), "big.toml", "[client]\nport = 70000\n");
        assert!(err_text(load_with(Some(&big), &[], &[])).contains("`70000` for `client.port`"));
        let zoo = write(dir.path(), "zoo.cfg", "clientPort=abc\n");
        assert_eq!(
            err_text(load_with(Some(&zoo), &[], &[])),
            format!(
                "invalid value `abc` for `clientPort` (from {}): expected an integer 1..=65535",
                zoo.display()
            )
        );
        let zoo_bool = write(dir.path(), "zoo2.cfg", "forceSync=maybe\n");
        assert!(err_text(load_with(Some(&zoo_bool), &[], &[])).contains("`maybe` for `forceSync`"));

        // Range errors are found after merging and name the layer.
        assert_eq!(
            err_text(load_with(None, &[], &["client.port=0"])),
            "invalid value `0` for `client.port` (from --set): expected an integer 1..=65535"
        );
        let zero_tick = write(dir.path(), "tick.toml", "[server]\ntick_time = 0\n");
        let msg = err_text(load_with(Some(&zero_tick), &[], &[]));
        assert!(
            msg.contains("`server.tick_time`") && msg.contains(&zero_tick.display().to_string()),
            "{msg}"
        );
        // ...so a bad value overridden by a higher layer is fine.
        let ok = load_with(None, &[("KEEPER_CLIENT__PORT", "0")], &["client.port=2190"]).unwrap();
        assert_eq!(ok.settings.client.port, 2190);

        let cases: &[(&str, &str)] = &[
            ("server.jute_max_buffer=0", "`server.jute_max_buffer`"),
            ("quorum.peer_type=leader", "`leader` for `quorum.peer_type`"),
            (
                "telemetry.log_level=loud",
                "`loud` for `telemetry.log_level`",
            ),
            (
                "server.super_digest=nocolon",
                "`nocolon` for `server.super_digest`",
            ),
            (
                "server.super_digest=super:not-base64!",
                "`server.super_digest`",
            ),
            (
                "server.four_letter_words=ruok,toolong",
                "`server.four_letter_words`",
            ),
            (
                "storage.force_sync=perhaps",
                "`perhaps` for `storage.force_sync`",
            ),
            (
                "telemetry.otlp_endpoint=localhost:4317",
                "`telemetry.otlp_endpoint`",
            ),
            ("quorum.members.x=127.0.0.1:1:2", "`quorum.members.x`"),
        ];
        for (arg, needle) in cases {
            let msg = err_text(load_with(None, &[], &[arg]));
            assert!(
                msg.contains(needle) && msg.contains("(from --set)"),
                "{arg}: {msg}"
            );
        }
        // Valid variants of the same keys.
        let ok = load_with(
            None,
            &[],
            &[
                "telemetry.log_level=info,keeper::datatree=debug",
                "server.super_digest=super:xQJmxLMiHGwaqBvst5y6rkB6HQs=",
                "telemetry.otlp_endpoint=http://localhost:4317",
                "quorum.peer_type=observer",
            ],
        );
        assert!(ok.is_ok(), "{:?}", ok.err());
    }

    #[test]
    fn session_timeout_bounds_are_checked_after_derivation() {
        assert_eq!(
            err_text(load_with(None, &[], &["server.max_session_timeout=3000"])),
            "invalid value `3000` for `server.max_session_timeout` (from --set): the maximum session \
             timeout is below the minimum (server.min_session_timeout = 0 => 2 * server.tick_time \
             = 4000 ms, from config/default.toml)"
        );
        let msg = err_text(load_with(
            None,
            &[("KEEPER_SERVER__MIN_SESSION_TIMEOUT", "50000")],
            &[],
        ));
        assert!(
            msg.contains("env KEEPER_SERVER__MIN_SESSION_TIMEOUT") && msg.contains("40000"),
            "{msg}"
        );
        let ok = load_with(
            None,
            &[],
            &[
                "server.min_session_timeout=3000",
                "server.max_session_timeout=3000",
            ],
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn member_errors() {
        let msg = err_text(load_with(None, &[], &["quorum.members.1=127.0.0.1:2888"]));
        assert!(
            msg.contains("`quorum.members.1`")
                && msg.contains("(from --set)")
                && msg.contains("election port"),
            "{msg}"
        );
        let msg = err_text(load_with(
            None,
            &[],
            &["quorum.members.1=127.0.0.1:2888:3888:voter"],
        ));
        assert!(msg.contains("voter"), "{msg}");
        // server.id (0) not among the members.
        let msg = err_text(load_with(
            None,
            &[],
            &["quorum.members.1=127.0.0.1:2888:3888"],
        ));
        assert!(
            msg.starts_with("invalid value `0` for `server.id` (from config/default.toml)"),
            "{msg}"
        );
    }

    #[test]
    fn member_parsing() {
        let m = parse_member(4, " [::1]:2888:3888:observer;[::1]:2181 ").unwrap();
        assert_eq!(m.host, "::1");
        assert!(m.observer);
        assert_eq!(m.client, Some(("::1".into(), 2181)));
        assert_eq!(m.quorum_addr(), "[::1]:2888");
        let m = parse_member(1, "zk1.example.com:2888:3888:participant;0.0.0.0:2181").unwrap();
        assert_eq!((m.host.as_str(), m.observer), ("zk1.example.com", false));
        let m = parse_member(1, "zk1:2888:3888").unwrap();
        assert_eq!(m.client, None);
        for bad in [
            "zk1",
            "zk1:2888",
            "zk1:0:3888",
            "zk1:2888:3888;",
            ":2888:3888",
            "a:1:2|b:1:2",
            "zk1:2888:3888;x",
        ] {
            assert!(parse_member(1, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_keys_warn() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "k.toml",
            "[client]\nprot = 1\n[bogus]\nx = 1\ntoplevel = 2\n",
        );
        let loaded = load_with(
            Some(&file),
            &[("KEEPER_CLIENT__PROT", "1"), ("KEEPER_LOG", "x")],
            &["client.prot=1"],
        )
        .unwrap();
        let w = loaded.warnings.join("\n");
        let layer = file.display().to_string();
        assert!(
            w.contains(&format!("unknown key `client.prot` (from {layer})")),
            "{w}"
        );
        assert!(
            w.contains(&format!("unknown key `bogus` (from {layer})")),
            "{w}"
        );
        assert!(
            w.contains("unknown key `client.prot` (from env KEEPER_CLIENT__PROT)"),
            "{w}"
        );
        // KEEPER_LOG is not of the KEEPER_<SECTION>__<KEY> form: not a setting at all.
        assert!(!w.contains("KEEPER_LOG"), "{w}");
        assert!(w.contains("unknown key `client.prot` (from --set)"), "{w}");
        assert_eq!(loaded.warnings.len(), 4, "{w}");

        let zoo = write(
            dir.path(),
            "zoo.cfg",
            "tickTime=2000\nfrobnicate=yes\nsecureClientPort=2281\n",
        );
        let loaded = load_with(Some(&zoo), &[], &[]).unwrap();
        assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains("`frobnicate`"));
        assert!(loaded.warnings[1].contains("`secureClientPort`"));
    }

    #[test]
    fn set_argument_without_equals_is_an_error() {
        let msg = err_text(load_with(None, &[], &["client.port"]));
        assert!(
            msg.contains("`client.port`") && msg.contains("key=value"),
            "{msg}"
        );
        assert!(err_text(load_with(None, &[], &["=5"])).contains("`=5`"));
        // Quotes around a --set value are removed.
        let loaded = load_with(None, &[], &["client.address=\"127.0.0.1\""]).unwrap();
        assert_eq!(loaded.settings.client.address, "127.0.0.1");
    }

    #[test]
    fn file_errors_name_the_path_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        let msg = err_text(load_with(Some(&missing), &[], &[]));
        assert!(
            msg.contains(&missing.display().to_string()) && msg.starts_with("cannot read"),
            "{msg}"
        );

        let bad = write(
            dir.path(),
            "bad.toml",
            "[server]\ntick_time = 2000\nid = = 3\n",
        );
        let err = load_with(Some(&bad), &[], &[]).unwrap_err();
        match &err {
            SettingsError::ParseFile { path, line, .. } => {
                assert_eq!(path, &bad);
                assert_eq!(*line, Some(3));
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("at line 3"), "{err}");
    }

    #[test]
    fn render_effective_shows_layers() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "k.toml", "[server]\ntick_time = 1000\n");
        let loaded = load_with(
            Some(&file),
            &[("KEEPER_STORAGE__DATA_DIR", "/srv/keeper")],
            &["client.port=2182"],
        )
        .unwrap();
        let out = render_effective(&loaded);
        let line = |prefix: &str| {
            out.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in\n{out}"))
                .to_string()
        };
        assert!(line("port = 2182").ends_with("# --set"));
        assert!(line("tick_time = 1000").ends_with(&format!("# {}", file.display())));
        assert!(line("data_dir = \"/srv/keeper\"").ends_with("# env KEEPER_STORAGE__DATA_DIR"));
        assert!(line("address = \"0.0.0.0\"").ends_with("# config/default.toml"));
        assert!(line("min_session_timeout = 0").contains("effective 2000"));
        for section in SECTIONS {
            assert!(out.contains(&format!("[{section}]\n")), "{out}");
        }
        assert!(out.contains("[quorum.members]"));
        for spec in SPECS {
            let field = &spec.key[section_of(spec.key).len() + 1..];
            assert!(
                out.lines().any(|l| l.starts_with(&format!("{field} = "))),
                "{}",
                spec.key
            );
        }
    }

    #[test]
    fn helpers() {
        let mut s = Settings::default();
        s.server.tick_time = 500;
        assert_eq!(
            (s.min_session_timeout_ms(), s.max_session_timeout_ms()),
            (1000, 10000)
        );
        s.server.min_session_timeout = 1500;
        s.server.max_session_timeout = 60000;
        assert_eq!(
            (s.min_session_timeout_ms(), s.max_session_timeout_ms()),
            (1500, 60000)
        );
        s.storage.data_log_dir = "/log".into();
        assert_eq!(s.data_log_dir(), "/log");
        assert!(s.four_letter_word_allowed("ruok"));
        assert!(!s.four_letter_word_allowed("wchp"));
        s.server.four_letter_words = "*".into();
        assert!(s.four_letter_word_allowed("wchp"));
        s.quorum.members.insert(1, "bad".into());
        let err = s.members().unwrap_err().to_string();
        assert!(
            err.contains("`quorum.members.1`") && err.contains("`bad`"),
            "{err}"
        );
    }

    #[test]
    fn example_files_load() {
        let zoo = load_with(Some(&example("zoo.cfg")), &[], &[]).unwrap();
        assert!(zoo.warnings.is_empty(), "{:?}", zoo.warnings);
        assert!(zoo.settings.members().unwrap().is_empty());
        assert_eq!(zoo.settings.client.port, 2181);

        for id in 1..=3u16 {
            let loaded = load_with(
                Some(&example("ensemble-3.toml")),
                &[],
                &[&format!("server.id={id}")],
            )
            .unwrap();
            assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
            assert_eq!(loaded.settings.client.port, 2180 + id);
            assert_eq!(loaded.settings.members().unwrap().len(), 3);
        }
        // Without a server id the ensemble file is rejected with a clear error.
        let msg = err_text(load_with(Some(&example("ensemble-3.toml")), &[], &[]));
        assert!(msg.contains("`server.id`"), "{msg}");
    }
}
