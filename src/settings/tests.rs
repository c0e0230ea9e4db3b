//! Tests of loading and layering, zoo.cfg, members, validation and `keeper config` output.

use std::fs;
use std::path::{Path, PathBuf};

use super::keys::{section_of, SPECS};
use super::layers::{builtin_layer, has_key, merge, toml_layer};
use super::members::parse_member;
use super::zoocfg::parse_properties;
use super::*;

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
    // The AdminServer is off, as Keeper has none; metrics providers are not implemented.
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].starts_with("zoo.cfg key `metricsProvider.className=")
            && loaded.warnings[0].contains("line 22")
            && loaded.warnings[0].contains("not implemented yet"),
        "{:?}",
        loaded.warnings
    );
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
        &format!("dataDir=/tmp/zk\nextendedTypesEnabled=true\nDigestAuthenticationProvider.superDigest={digest}\njute.maxbuffer=4096\n"),
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
        "dataDir=/tmp/zk\nclientPort=2181\nserver.1=127.0.0.1:2888:3888;2182\n",
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
        "dataDir=/tmp/zk\nclientPort=2182\nserver.1=127.0.0.1:2888:3888;2182\n",
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
        load_with(Some(&b), &[], &["storage.data_dir=/tmp/zk"])
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
fn zoo_cfg_without_data_dir_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "zoo.cfg", "tickTime=2000\nclientPort=2181\n");
    let err = load_with(Some(&cfg), &[], &[]).unwrap_err();
    assert!(matches!(err, SettingsError::MissingKey { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("`dataDir` is not set in {}", cfg.display()))
            && msg.contains("dataDir is not set")
            && msg.contains("storage.data_dir"),
        "{msg}"
    );
    // A higher layer may name the directory instead.
    for (env_vars, set_args) in [
        (vec![("KEEPER_STORAGE__DATA_DIR", "/tmp/zk")], vec![]),
        (vec![], vec!["storage.data_dir=/tmp/zk"]),
    ] {
        let loaded = load_with(Some(&cfg), &env_vars, &set_args).unwrap();
        assert_eq!(loaded.settings.storage.data_dir, "/tmp/zk");
    }
    // Keeper TOML files keep the documented default.
    let toml_file = write(dir.path(), "k.toml", "[server]\ntick_time = 2000\n");
    let loaded = load_with(Some(&toml_file), &[], &[]).unwrap();
    assert_eq!(loaded.settings.storage.data_dir, "./data");
}

#[test]
fn zoo_cfg_keys_not_implemented_yet_warn() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        "reconfigEnabled=true",
        "quorumListenOnAllIPs=true",
        "localSessionsEnabled=true",
        "preAllocSize=65536",
        "snapSizeLimitInKb=4194304",
        "admin.serverPort=8081",
        "metricsProvider.httpPort=7000",
        "zookeeper.digest.enabled=true",
        "electionAlg=1",
        "standaloneEnabled=false",
    ];
    let cfg = write(
        dir.path(),
        "zoo.cfg",
        &format!("dataDir=/tmp/zk\n{}\n", lines.join("\n")),
    );
    let loaded = load_with(Some(&cfg), &[], &[]).unwrap();
    let w = &loaded.warnings;
    assert_eq!(w.len(), lines.len(), "{w:?}");
    for (i, line) in lines.iter().enumerate() {
        assert!(
            w[i].starts_with(&format!(
                "zoo.cfg key `{line}` (from {}, line {})",
                cfg.display(),
                i + 2
            )) && w[i].contains("implemented"),
            "{line}: {w:?}"
        );
    }
    assert!(w[0].ends_with(
        "dynamic reconfiguration is not implemented yet; \
         reconfig requests are refused with ReconfigDisabled"
    ));
    assert!(w[1].ends_with(
        "not implemented yet; quorum and election ports listen on the member's address"
    ));
    assert!(w[3].ends_with("use storage.preallocate_size"), "{}", w[3]);
    assert!(w[4].ends_with("use storage.snap_size_limit"), "{}", w[4]);
    // Nothing else changed.
    assert_eq!(loaded.settings.storage.preallocate_size, 64 << 20);

    // Values that leave the feature off (as in Keeper), and keys meaningless for Keeper,
    // do not warn.
    let quiet = write(
        dir.path(),
        "quiet.cfg",
        "dataDir=/tmp/zk\nreconfigEnabled=false\nquorumListenOnAllIPs=false\n\
         localSessionsEnabled=false\nstandaloneEnabled=true\nelectionAlg=3\n\
         admin.enableServer=false\nadmin.serverPort=8081\nserverCnxnFactory=x.Netty\n\
         jvm.pause.info-threshold.ms=1000\nmaxBatchSize=1000\n",
    );
    let loaded = load_with(Some(&quiet), &[], &[]).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn zoo_cfg_value_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let head = "# zoo.cfg\ndataDir=/tmp/zk\nclientPort=2181\n\n# timing\ninitLimit=10\n";
    let cases = [
        (
            "tickTime=abc",
            "invalid value `abc` for `tickTime` (from {}, line 7): expected a positive integer \
             (milliseconds)",
        ),
        // Range checks run after merging; the value still names its line.
        (
            "tickTime=0",
            "invalid value `0` for `server.tick_time` (from {}, line 7: tickTime=0): expected a \
             positive integer (milliseconds)",
        ),
        (
            "server.x=h:1:2",
            "invalid value `h:1:2` for `server.x` (from {}, line 7): expected a key of the form \
             server.<numeric id>",
        ),
        (
            "server.1=h:1",
            "invalid value `h:1` for `quorum.members.1` (from {}, line 7: server.1=h:1): expected \
             host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort] \
             (missing election port)",
        ),
    ];
    for (line, expected) in cases {
        let cfg = write(dir.path(), "zoo.cfg", &format!("{head}{line}\n"));
        let expected = expected.replace("{}", &cfg.display().to_string());
        let args: &[&str] = if line.starts_with("server.") {
            &["server.id=1"]
        } else {
            &[]
        };
        assert_eq!(
            err_text(load_with(Some(&cfg), &[], args)),
            expected,
            "{line}"
        );
    }
    // A value overridden by a higher layer is reported with that layer, without a line.
    let cfg = write(dir.path(), "zoo.cfg", &format!("{head}tickTime=3000\n"));
    assert_eq!(
        err_text(load_with(Some(&cfg), &[], &["server.tick_time=0"])),
        "invalid value `0` for `server.tick_time` (from --set): expected a positive integer \
         (milliseconds)"
    );
}

#[test]
fn zoo_cfg_small_snap_retain_count_is_raised_like_zookeeper() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "zoo.cfg",
        "dataDir=/tmp/zk\nautopurge.snapRetainCount=1\n",
    );
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
        "tickTime=2000\ndataDir=/tmp/zk\nfrobnicate=yes\nsecureClientPort=2281\n",
    );
    let loaded = load_with(Some(&zoo), &[], &[]).unwrap();
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("`frobnicate`"));
    assert!(loaded.warnings[1].contains("`secureClientPort`"));
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
    // Without a server id the ensemble file is rejected with a clear error.
    let msg = err_text(load_with(Some(&example("ensemble-3.toml")), &[], &[]));
    assert!(msg.contains("`server.id`"), "{msg}");
}
