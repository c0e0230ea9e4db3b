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
//!    `KEEPER_CLIENT__PORT=2182` (layer `env KEEPER_CLIENT__PORT`); other `KEEPER_*`
//!    variables (`KEEPER_CLIENT_PORT`) are warned about, with the likely intended name;
//! 5. `--set key=value`, e.g. `--set client.port=2182` (layer `--set`).
//!
//! The layers are merged with the `config` crate; every value remembers the
//! layer it came from ([`Loaded::origins`]) so that errors and
//! `keeper config` ([`render_effective`]) can say where a value was set.
//! Every layer is type-checked as it is read; ranges and cross-key rules are
//! checked once, after merging ([`Settings::validate`]). Unknown keys are
//! reported in [`Loaded::warnings`], not rejected.
//!
//! Files:
//! - `mod.rs`     re-exports, [`SettingsError`], [`Settings`]' derived values and checks
//! - `schema.rs`  [`Settings`] and its sections, with the built-in defaults
//! - `keys.rs`    the key table (type, range, check of every dotted key), value conversion
//! - `layers.rs`  [`load`]: reading each layer, merging them with their origins
//! - `zoocfg.rs`  ZooKeeper zoo.cfg: properties syntax, key mapping, `server.N`, myid
//! - `members.rs` [`Member`]: `quorum.members` entries; this server's entry applied
//! - `render.rs`  [`render_effective`]: the effective configuration for `keeper config`

mod keys;
mod layers;
mod members;
mod render;
mod schema;
mod zoocfg;

use std::collections::BTreeMap;
use std::path::PathBuf;

use keys::{Ty, Typed, SPECS};
pub use layers::{load, LoadOptions, Loaded};
use members::parse_member;
pub use members::Member;
pub use render::render_effective;
pub use schema::{
    ClientSettings, QuorumSettings, ServerSettings, Settings, StorageSettings, TelemetrySettings,
    TlsSettings,
};

/// `config/default.toml`, embedded in the binary.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Layer name of the compiled-in defaults.
pub const DEFAULT_LAYER: &str = "default";
/// Layer name of the embedded `config/default.toml`.
pub const DEFAULT_TOML_LAYER: &str = "config/default.toml";
/// Layer name of `--set key=value` arguments.
pub const SET_LAYER: &str = "--set";
/// Prefix of the environment variables that are read.
pub const ENV_PREFIX: &str = "KEEPER_";

/// Sections of the configuration, in rendering order.
const SECTIONS: &[&str] = &[
    "server",
    "client",
    "storage",
    "quorum",
    "telemetry",
    "admin",
    "tls",
];

impl Settings {
    /// How long an established leader may go without hearing a quorum of its followers, and a
    /// follower without hearing its leader: `server.sync_limit` ticks, or `quorum.peer_timeout`
    /// when that is shorter (and not 0).
    pub fn liveness_ms(&self) -> u64 {
        let sync = self.server.tick_time * self.server.sync_limit as u64;
        match self.quorum.peer_timeout {
            0 => sync,
            t => t.min(sync),
        }
    }

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
    /// COMMIT / ...); 0 = on the data tree's thread. `auto` is 0 for now: measured on a 16-core
    /// machine (3 servers, 32x16 setData), links on threads of their own cost more in
    /// hand-overs between threads (a wake-up per message each way, ~15 us of CPU per write on
    /// each link thread) than they take off the tree's thread, and writes/s fell from 71k to
    /// 30k. A count still runs them on that many threads, to measure.
    pub fn quorum_io_threads(&self) -> usize {
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

        if self.tls.quorum {
            let key = "tls.quorum";
            let store = |q: &str, c: &str| if q.is_empty() { c.is_empty() } else { false };
            if store(&self.tls.quorum_key_store, &self.tls.key_store)
                || store(&self.tls.quorum_trust_store, &self.tls.trust_store)
            {
                return Err(SettingsError::InvalidValue {
                    key: key.to_string(),
                    value: "true".to_string(),
                    layer: origin(key),
                    reason: "TLS between the members (sslQuorum) needs tls.quorum_key_store and \
                             tls.quorum_trust_store (ssl.quorum.keyStore.location, \
                             ssl.quorum.trustStore.location), or tls.key_store and \
                             tls.trust_store for both"
                        .to_string(),
                });
            }
        }
        if self.client.secure_port != 0 {
            let key = "client.secure_port";
            let needs = |what: &str| SettingsError::InvalidValue {
                key: key.to_string(),
                value: self.client.secure_port.to_string(),
                layer: origin(key),
                reason: format!("a TLS client port needs {what}"),
            };
            if self.tls.key_store.is_empty() {
                return Err(needs(
                    "tls.key_store (ssl.keyStore.location): a PEM file with the server's key \
                     and certificate chain (`keeper certs` makes one)",
                ));
            }
            if self.tls.trust_store.is_empty() && !self.tls.client_auth.eq_ignore_ascii_case("none")
            {
                return Err(needs(
                    "tls.trust_store (ssl.trustStore.location) to check client certificates \
                     against, or tls.client_auth = none (ssl.clientAuth=none)",
                ));
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
        // Two members on one address (host:port, quorum or election) cannot both listen there.
        let mut taken: BTreeMap<(String, u16), (&Member, &str)> = BTreeMap::new();
        for m in &members {
            for (what, port) in [("quorum", m.quorum_port), ("election", m.election_port)] {
                let addr = (m.host.to_ascii_lowercase(), port);
                match taken.get(&addr) {
                    Some((other, other_what)) if other.id != m.id => {
                        let key = format!("quorum.members.{}", m.id);
                        let other_key = format!("quorum.members.{}", other.id);
                        let shown = if what == "quorum" {
                            m.quorum_addr()
                        } else {
                            m.election_addr()
                        };
                        return Err(SettingsError::InvalidValue {
                            value: self.quorum.members[&m.id].clone(),
                            layer: origin(&key),
                            reason: format!(
                                "the {what} address {shown} of server {} is also the \
                                 {other_what} address of server {} ({other_key}, from {}); \
                                 each member needs its own quorum and election addresses",
                                m.id,
                                other.id,
                                origin(&other_key)
                            ),
                            key,
                        });
                    }
                    Some(_) => {}
                    None => {
                        taken.insert(addr, (m, what));
                    }
                }
            }
        }
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
    /// A key that must be set (a zoo.cfg's `dataDir`).
    #[error("`{key}` is not set in {layer}: {reason}")]
    MissingKey {
        key: String,
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

#[cfg(test)]
mod tests;
