//! Loading: the layers (built-in defaults, the embedded `config/default.toml`, `--config`,
//! `KEEPER_*` environment variables, `--set`), each read into typed entries, and their merge
//! with the `config` crate into [`Settings`] and per-key origins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::keys::{
    closest, convert_text, convert_toml, lookup, unknown_key, with_suggestion, Target, Typed, SPECS,
};
use super::members::apply_member_entry;
use super::zoocfg::{is_zoo_cfg, read_myid, zoo_layer};
use super::{
    Settings, SettingsError, StorageSettings, DEFAULT_LAYER, DEFAULT_TOML, DEFAULT_TOML_LAYER,
    ENV_PREFIX, SECTIONS, SET_LAYER,
};

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

    // As ZooKeeper ("dataDir is not set"), a zoo.cfg must name its data directory, unless
    // a higher layer does; Keeper TOML files keep the default `./data`.
    if let (Some(f), Some(path)) = (file.as_ref(), opts.config_file.as_ref()) {
        if f.zoo_cfg
            && !has_key(&f.entries, "storage.data_dir")
            && !has_key(&env, "storage.data_dir")
            && !has_key(&sets, "storage.data_dir")
        {
            return Err(SettingsError::MissingKey {
                key: "dataDir".to_string(),
                layer: path.display().to_string(),
                reason: "a zoo.cfg must set the data directory, as ZooKeeper requires \
                         (\"dataDir is not set\"); add e.g. `dataDir=/var/lib/keeper`, or set \
                         storage.data_dir (--set storage.data_dir=DIR or KEEPER_STORAGE__DATA_DIR)"
                    .to_string(),
            });
        }
    }

    // A file with the member list (zoo.cfg's server.N lines, a TOML's quorum.members) and no
    // server.id takes this server's id from dataDir/myid, unless a higher layer sets it.
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
    let mut file_lines = (String::new(), BTreeMap::new());
    if let Some(f) = file {
        let path = opts.config_file.as_ref().map(|p| p.display().to_string());
        file_lines = (path.unwrap_or_default(), f.lines);
        layers.push(f.entries);
    }
    layers.push(env);
    layers.push(sets);

    let (mut settings, mut origins) = merge(layers)?;
    apply_member_entry(&mut settings, &mut origins, &mut warnings)?;
    settings
        .validate(&origins)
        .map_err(|e| with_zoo_line(e, &file_lines.0, &file_lines.1))?;
    Ok(Loaded {
        settings,
        origins,
        warnings,
    })
}

/// An invalid value that came from a zoo.cfg names the line it was written on.
fn with_zoo_line(
    err: SettingsError,
    path: &str,
    lines: &BTreeMap<String, String>,
) -> SettingsError {
    match err {
        SettingsError::InvalidValue {
            key,
            value,
            layer,
            reason,
        } if layer == path && lines.contains_key(&key) => SettingsError::InvalidValue {
            layer: lines[&key].clone(),
            key,
            value,
            reason,
        },
        other => other,
    }
}

/// One value of one layer.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) key: String,
    pub(super) value: Typed,
    pub(super) origin: String,
}

pub(super) fn has_key(entries: &[Entry], key: &str) -> bool {
    entries.iter().any(|e| e.key == key)
}

fn last_str(entries: &[Entry], key: &str) -> Option<String> {
    entries
        .iter()
        .rev()
        .find(|e| e.key == key)
        .map(|e| e.value.raw())
}

pub(super) fn builtin_layer(settings: &Settings, layer: &str) -> Vec<Entry> {
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
pub(super) fn toml_layer(
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
        .filter(|(name, _)| name.starts_with(ENV_PREFIX) && !TOOL_VARS.contains(&name.as_str()))
        .collect();
    vars.sort();
    let mut entries = Vec::new();
    for (name, value) in vars {
        // Only KEEPER_<SECTION>__<KEY> names are settings; any other KEEPER_* variable is
        // most likely a misspelt one (KEEPER_CLIENT_PORT for KEEPER_CLIENT__PORT).
        if !name.contains("__") {
            warnings.push(with_suggestion(
                format!(
                    "environment variable {name} is not a setting, ignored (settings are \
                     named KEEPER_<SECTION>__<KEY>, with two underscores after the section, \
                     e.g. KEEPER_CLIENT__PORT)"
                ),
                closest_env_name(name),
            ));
            continue;
        }
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
            None => warnings.push(with_suggestion(
                format!(
                    "unknown key `{key}` (from {layer}), ignored (environment variables are \
                     named KEEPER_<SECTION>__<KEY>, e.g. KEEPER_CLIENT__PORT)"
                ),
                closest_env_name(name),
            )),
        }
    }
    Ok(entries)
}

/// The environment variable of a dotted key: `client.port` -> `KEEPER_CLIENT__PORT`.
pub(super) fn env_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

/// `KEEPER_*` variables that are not settings: those of this repository's test and bench
/// tools, which are in the server's environment when the tools start it.
const TOOL_VARS: &[&str] = &[
    "KEEPER_BIN",
    "KEEPER_BASE_BIN",
    "KEEPER_CLI_TEST_SERVER",
    "KEEPER_CONFIG_MODE",
    "KEEPER_CONTAINER_CHECK_KEY",
    "KEEPER_DEVIATIONS",
    "KEEPER_EXTRA_ARGS",
    // The storage's fault injection, which tests switch on (src/storage/faults.rs).
    "KEEPER_FAULTS",
    // Set by cargo for the processes its tests start (build.rs's facts).
    "KEEPER_BUILD_DATE",
    "KEEPER_GIT_COMMIT",
];

/// The variable of a known key that `name` was probably meant to be: the closest (see
/// [`closest`]), or the one with the same name but for its underscores
/// (`KEEPER_QUORUM_MEMBERS_1` -> `KEEPER_QUORUM__MEMBERS__1`).
fn closest_env_name(name: &str) -> Option<String> {
    let squash = |s: &str| s.replace('_', "").to_ascii_uppercase();
    let members = format!("{ENV_PREFIX}QUORUM__MEMBERS__");
    let squashed = squash(name);
    if let Some(id) = squashed.strip_prefix(&squash(&members)) {
        if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
            return Some(format!("{members}{id}")).filter(|n| n != name);
        }
    }
    let names: Vec<String> = SPECS.iter().map(|s| env_name(s.key)).collect();
    closest(name, names.iter().map(String::as_str))
        .or_else(|| {
            names
                .iter()
                .find(|n| *n != name && squash(n) == squashed)
                .map(String::as_str)
        })
        .map(str::to_string)
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
pub(super) struct FileLayer {
    pub(super) entries: Vec<Entry>,
    /// A zoo.cfg with server.N entries: the server id comes from dataDir/myid.
    pub(super) needs_myid: bool,
    /// The file is a zoo.cfg (which must set dataDir).
    pub(super) zoo_cfg: bool,
    /// zoo.cfg: Keeper key -> where its value was written (`PATH, line N: zooKey=value`),
    /// to name the line in errors about the merged value.
    pub(super) lines: BTreeMap<String, String>,
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
        let entries = toml_layer(&content, path, &layer, warnings)?;
        // As with a zoo.cfg: a file that lists the members and not which one this server is
        // leaves the id to `<data_dir>/myid`, so one file serves every member.
        let needs_myid = entries.iter().any(|e| e.key.starts_with("quorum.members."))
            && !has_key(&entries, "server.id");
        Ok(FileLayer {
            entries,
            needs_myid,
            zoo_cfg: false,
            lines: BTreeMap::new(),
        })
    }
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
pub(super) fn merge(
    layers: Vec<Vec<Entry>>,
) -> Result<(Settings, BTreeMap<String, String>), SettingsError> {
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
