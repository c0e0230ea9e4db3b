//! Tests of loading and layering, zoo.cfg, members, validation and `keeper config` output.

use std::fs;
use std::path::{Path, PathBuf};

use super::keys::{section_of, SPECS};
use super::layers::{builtin_layer, has_key, merge, toml_layer};
use super::members::parse_member;
use super::zoocfg::parse_properties;
use super::*;

mod zoocfg;

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
            "invalid value `abc` for `clientPort` (from {}, line 1): expected an integer 1..=65535",
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
fn members_with_the_same_address_are_an_error() {
    let base = ["server.id=1", "quorum.members.1=zk1:2888:3888"];
    let cases = [
        (
            "zk1:2888:3889",
            "the quorum address zk1:2888 of server 2 is also the quorum address of server 1",
        ),
        (
            "ZK1:2889:3888",
            "the election address ZK1:3888 of server 2 is also the election address of server 1",
        ),
        (
            "zk1:3888:3890:observer",
            "the quorum address zk1:3888 of server 2 is also the election address of server 1",
        ),
    ];
    for (second, reason) in cases {
        let member2 = format!("quorum.members.2={second}");
        let msg = err_text(load_with(None, &[], &[base[0], base[1], &member2]));
        assert_eq!(
            msg,
            format!(
                "invalid value `{second}` for `quorum.members.2` (from --set): {reason} \
                 (quorum.members.1, from --set); each member needs its own quorum and election \
                 addresses"
            )
        );
    }
    // Other hosts, or other ports of the same host, are fine.
    for second in ["zk2:2888:3888", "zk1:2889:3889"] {
        let member2 = format!("quorum.members.2={second}");
        let loaded = load_with(None, &[], &[base[0], base[1], &member2]).unwrap();
        assert_eq!(loaded.settings.members().unwrap().len(), 2);
    }
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
    // KEEPER_LOG is not of the KEEPER_<SECTION>__<KEY> form: not a setting, said so.
    assert!(
        w.contains("environment variable KEEPER_LOG is not a setting, ignored"),
        "{w}"
    );
    assert!(w.contains("unknown key `client.prot` (from --set)"), "{w}");
    assert_eq!(loaded.warnings.len(), 5, "{w}");

    let zoo = write(
        dir.path(),
        "zoo.cfg",
        "tickTime=2000\ndataDir=/tmp/zk\nfrobnicate=yes\nkerberos.removeHostFromPrincipal=true\n",
    );
    let loaded = load_with(Some(&zoo), &[], &[]).unwrap();
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("`frobnicate`"));
    assert!(loaded.warnings[1].contains("`kerberos.removeHostFromPrincipal`"));
}

#[test]
fn unknown_keys_suggest_close_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "k.toml",
        "[sever]\nid = 1\n[storage]\ndatadir = \"/x\"\nfrobnicate = 1\n",
    );
    let loaded = load_with(
        Some(&file),
        &[("KEEPER_CLIENT__PROT", "1")],
        &["client.Port=2182", "server.tick=5"],
    )
    .unwrap();
    let w = &loaded.warnings;
    let layer = file.display().to_string();
    let expect = [
        format!("unknown key `sever` (from {layer}), ignored; did you mean `server`?"),
        format!(
            "unknown key `storage.datadir` (from {layer}), ignored; did you mean `storage.data_dir`?"
        ),
        format!("unknown key `storage.frobnicate` (from {layer}), ignored"),
        "unknown key `client.prot` (from env KEEPER_CLIENT__PROT), ignored (environment \
         variables are named KEEPER_<SECTION>__<KEY>, e.g. KEEPER_CLIENT__PORT); \
         did you mean KEEPER_CLIENT__PORT?"
            .to_string(),
        "unknown key `client.Port` (from --set), ignored; did you mean `client.port`?".to_string(),
        "unknown key `server.tick` (from --set), ignored".to_string(),
    ];
    assert_eq!(w, &expect);
    // Nothing was set from the misspelt keys.
    assert_eq!(loaded.settings, Settings::default());

    let zoo = write(
        dir.path(),
        "zoo.cfg",
        "dataDir=/tmp/zk\nticktime=3000\nclientPrt=2182\nfrobnicate=1\n",
    );
    let loaded = load_with(Some(&zoo), &[], &[]).unwrap();
    let zl = zoo.display().to_string();
    assert_eq!(
        loaded.warnings,
        vec![
            format!(
                "unknown key `ticktime` (from {zl}, line 2), ignored; did you mean `tickTime`?"
            ),
            format!(
                "unknown key `clientPrt` (from {zl}, line 3), ignored; did you mean `clientPort`?"
            ),
            format!("unknown key `frobnicate` (from {zl}, line 4), ignored"),
        ]
    );
    assert_eq!(loaded.settings.server.tick_time, 2000);
}

#[test]
fn env_variables_not_of_the_settings_form_warn_with_a_hint() {
    let loaded = load_with(
        None,
        &[
            ("KEEPER_CLIENT_PORT", "2182"),
            ("KEEPER_STORAGE_DATA_DIR", "/x"),
            ("KEEPER_QUORUM_MEMBERS_1", "h:1:2"),
            ("KEEPER_CLIENT__PORT", "2183"),
            ("KEEPER_HOME", "/opt"),
            ("KEEPER_BIN", "/usr/bin/keeper"),
            ("OTHER_CLIENT_PORT", "1"),
        ],
        &[],
    )
    .unwrap();
    let hint = |name: &str, suggestion: &str| {
        format!(
            "environment variable {name} is not a setting, ignored (settings are named \
             KEEPER_<SECTION>__<KEY>, with two underscores after the section, e.g. \
             KEEPER_CLIENT__PORT){suggestion}"
        )
    };
    assert_eq!(
        loaded.warnings,
        vec![
            hint("KEEPER_CLIENT_PORT", "; did you mean KEEPER_CLIENT__PORT?"),
            hint("KEEPER_HOME", ""),
            hint(
                "KEEPER_QUORUM_MEMBERS_1",
                "; did you mean KEEPER_QUORUM__MEMBERS__1?"
            ),
            hint(
                "KEEPER_STORAGE_DATA_DIR",
                "; did you mean KEEPER_STORAGE__DATA_DIR?"
            ),
        ]
    );
    // Only the well-formed variable was applied.
    assert_eq!(loaded.settings.client.port, 2183);
    assert_eq!(loaded.settings.storage.data_dir, "./data");
    assert!(loaded.settings.quorum.members.is_empty());
}

#[test]
fn edit_distance_and_closest() {
    use super::keys::{closest, edit_distance};
    assert_eq!(edit_distance("client.port", "client.port"), 0);
    assert_eq!(edit_distance("client.prot", "client.port"), 2);
    assert_eq!(edit_distance("tickTime", "ticktime"), 0);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    let keys = ["client.port", "client.address", "server.id"];
    assert_eq!(closest("client.prt", keys), Some("client.port"));
    assert_eq!(closest("CLIENT.PORT", keys), Some("client.port"));
    assert_eq!(closest("client.port", keys), None);
    assert_eq!(closest("client.bind", keys), None);
    assert_eq!(closest("ab", ["xy"]), None);
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
    // Without a server id (nor a myid in ./data) the ensemble file is rejected with a clear
    // error.
    let msg = err_text(load_with(Some(&example("ensemble-3.toml")), &[], &[]));
    assert!(msg.contains("server.id") && msg.contains("myid"), "{msg}");
}

#[test]
fn member_listen_addr() {
    let m = parse_member(1, "10.0.0.5:2888:3888").unwrap();
    assert_eq!(m.listen_addr(m.quorum_port, false), "10.0.0.5:2888");
    assert_eq!(m.listen_addr(m.election_port, true), "0.0.0.0:3888");
    let m = parse_member(2, "[fd00::5]:2888:3888").unwrap();
    assert_eq!(m.listen_addr(m.quorum_port, false), "[fd00::5]:2888");
    assert_eq!(m.listen_addr(m.quorum_port, true), "[::]:2888");
}

#[test]
fn liveness_is_the_peer_timeout_when_shorter_than_sync_limit() {
    let mut s = Settings::default();
    assert_eq!((s.server.tick_time, s.server.sync_limit), (2000, 5));
    assert_eq!(s.liveness_ms(), 1000);
    s.quorum.peer_timeout = 0;
    assert_eq!(s.liveness_ms(), 10_000, "0: syncLimit ticks, as ZooKeeper");
    s.quorum.peer_timeout = 30_000;
    assert_eq!(s.liveness_ms(), 10_000);
    s.server.tick_time = 100;
    s.quorum.peer_timeout = 1000;
    assert_eq!(s.liveness_ms(), 500);
}
