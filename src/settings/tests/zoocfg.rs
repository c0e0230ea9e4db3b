//! zoo.cfg: parsing, keys, myid, ZooKeeper's rules and the errors and warnings it gets.

use super::*;

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
    // The AdminServer is off, as Keeper has none; the Prometheus provider is Keeper's endpoint.
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let s = &loaded.settings;
    assert_eq!(s.telemetry.metrics_port, 7000);
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
        "localSessionsEnabled=true",
        "preAllocSize=65536",
        "snapSizeLimitInKb=4194304",
        "admin.forceHttps=true",
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
    assert!(w[2].ends_with("use storage.preallocate_size"), "{}", w[2]);
    assert!(w[3].ends_with("use storage.snap_size_limit"), "{}", w[3]);
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
    // The AdminServer keys are Keeper's own admin.* settings.
    assert!(!loaded.settings.admin.enabled);
    assert_eq!(loaded.settings.admin.port, 8081);
    assert_eq!(loaded.settings.admin.command_url, "/commands");
    assert!(!loaded.settings.quorum.listen_on_all_ips);

    // quorumListenOnAllIPs is Keeper's quorum.listen_on_all_ips.
    let all = write(
        dir.path(),
        "all.cfg",
        "dataDir=/tmp/zk
quorumListenOnAllIPs=true
",
    );
    let loaded = load_with(Some(&all), &[], &[]).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert!(loaded.settings.quorum.listen_on_all_ips);
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
fn zoo_cfg_prometheus_provider_opens_the_metrics_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let class = "metricsProvider.className=\
                 org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";
    let load = |text: &str| {
        let cfg = write(dir.path(), "zoo.cfg", &format!("dataDir=/tmp/zk\n{text}\n"));
        load_with(Some(&cfg), &[], &[]).unwrap()
    };
    // ZooKeeper's default port, whatever the order of the lines.
    let l = load(class);
    assert_eq!(l.settings.telemetry.metrics_port, 7000);
    assert_eq!(l.settings.telemetry.metrics_host, "0.0.0.0");
    let l = load(&format!(
        "metricsProvider.httpPort=7100\nmetricsProvider.httpHost=127.0.0.1\n{class}\n\
         metricsProvider.exportJvmInfo=false"
    ));
    assert_eq!(l.settings.telemetry.metrics_port, 7100);
    assert_eq!(l.settings.telemetry.metrics_host, "127.0.0.1");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    // Without the Prometheus provider there is no endpoint, and a port alone says so.
    let l = load("metricsProvider.httpPort=7100");
    assert_eq!(l.settings.telemetry.metrics_port, 0);
    assert!(
        l.warnings[0].contains("has an effect only with metricsProvider.className="),
        "{:?}",
        l.warnings
    );
    let l = load("metricsProvider.className=org.example.Mine");
    assert_eq!(l.settings.telemetry.metrics_port, 0);
    assert!(
        l.warnings[0].contains("unknown metrics provider"),
        "{:?}",
        l.warnings
    );
    let l =
        load("metricsProvider.className=org.apache.zookeeper.metrics.impl.DefaultMetricsProvider");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    // A bad port is an error naming the line.
    let cfg = write(
        dir.path(),
        "zoo.cfg",
        &format!("dataDir=/tmp/zk\n{class}\nmetricsProvider.httpPort=x\n"),
    );
    let err = load_with(Some(&cfg), &[], &[]).unwrap_err().to_string();
    assert!(
        err.contains("metricsProvider.httpPort") && err.contains("line 3"),
        "{err}"
    );
}

/// A Keeper TOML file that lists the members and not `server.id` is one file for every member:
/// each takes its id from `<data_dir>/myid`, as with a zoo.cfg.
#[test]
fn toml_ensemble_takes_its_id_from_myid() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("myid"), "2\n").unwrap();
    let cfg = write(
        dir.path(),
        "keeper.toml",
        &format!(
            "[storage]\ndata_dir = \"{}\"\n[quorum.members]\n\
             1 = \"127.0.0.1:2888:3888;2181\"\n2 = \"127.0.0.1:2889:3889;2182\"\n\
             3 = \"127.0.0.1:2890:3890;2183\"\n",
            data.display()
        ),
    );
    let loaded = load_with(Some(&cfg), &[], &[]).unwrap();
    assert_eq!(loaded.settings.server.id, 2);
    assert_eq!(loaded.settings.client.port, 2182);
    assert_eq!(
        loaded.origins["server.id"],
        data.join("myid").display().to_string()
    );
    // --set server.id wins, and then myid is not read.
    fs::remove_file(data.join("myid")).unwrap();
    let loaded = load_with(Some(&cfg), &[], &["server.id=3"]).unwrap();
    assert_eq!(loaded.settings.server.id, 3);
    // Without either: an error that names the myid file and server.id.
    let msg = err_text(load_with(Some(&cfg), &[], &[]));
    assert!(
        msg.contains(&data.join("myid").display().to_string()) && msg.contains("server.id"),
        "{msg}"
    );
    // A file that names the id itself needs no myid.
    let own = write(
        dir.path(),
        "one.toml",
        &format!(
            "[server]\nid = 1\n[storage]\ndata_dir = \"{}\"\n[quorum.members]\n\
             1 = \"127.0.0.1:2888:3888;2181\"\n2 = \"127.0.0.1:2889:3889;2182\"\n\
             3 = \"127.0.0.1:2890:3890;2183\"\n",
            data.display()
        ),
    );
    assert_eq!(
        load_with(Some(&own), &[], &[]).unwrap().settings.server.id,
        1
    );
}

/// ZooKeeper's TLS keys for the client port are Keeper's client.secure_* and tls.*; the x509
/// provider and Netty's factory are built in; what Keeper does not do warns.
#[test]
fn zoo_cfg_tls_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "zoo.cfg",
        "dataDir=/tmp/zk\nserverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
         secureClientPort=2281\nsecureClientPortAddress=10.0.0.1\n\
         ssl.keyStore.location=/etc/keeper/server.pem\nssl.keyStore.type=PEM\n\
         ssl.trustStore.location=/etc/keeper/ca.pem\nssl.trustStore.type=pem\n\
         ssl.trustStore.password=x\nssl.clientAuth=want\nssl.hostnameVerification=false\n\
         authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider\n\
         zookeeper.X509AuthenticationProvider.superUser=CN=admin,O=Example\n\
         client.certReload=false\nssl.protocol=TLSv1.3\n",
    );
    let loaded = load_with(Some(&cfg), &[], &[]).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let s = &loaded.settings;
    assert_eq!(
        (s.client.secure_port, s.client.secure_address.as_str()),
        (2281, "10.0.0.1")
    );
    assert_eq!(s.tls.key_store, "/etc/keeper/server.pem");
    assert_eq!(s.tls.trust_store, "/etc/keeper/ca.pem");
    assert_eq!(s.tls.client_auth, "want");
    assert_eq!(s.tls.x509_super_user, "CN=admin,O=Example");
    assert!(!s.tls.cert_reload);

    // A Java key store is refused with the way to convert it.
    let jks = write(
        dir.path(),
        "jks.cfg",
        "dataDir=/tmp/zk\nsecureClientPort=2281\nssl.keyStore.location=/k.jks\n\
         ssl.keyStore.type=JKS\nssl.trustStore.location=/t.jks\n",
    );
    let msg = err_text(load_with(Some(&jks), &[], &[]));
    assert!(
        msg.contains("ssl.keyStore.type") || msg.contains("key_store_type"),
        "{msg}"
    );
    assert!(msg.contains("PEM") && msg.contains("openssl"), "{msg}");
    // A secure port without a key store, or without a trust store to check clients against.
    let bare = write(
        dir.path(),
        "bare.cfg",
        "dataDir=/tmp/zk\nsecureClientPort=2281\n",
    );
    assert!(err_text(load_with(Some(&bare), &[], &[])).contains("ssl.keyStore.location"));
    let no_trust = write(
        dir.path(),
        "nt.cfg",
        "dataDir=/tmp/zk\nsecureClientPort=2281\nssl.keyStore.location=/k.pem\n",
    );
    let msg = err_text(load_with(Some(&no_trust), &[], &[]));
    assert!(
        msg.contains("ssl.trustStore.location") && msg.contains("ssl.clientAuth=none"),
        "{msg}"
    );
    let ok = write(
        dir.path(),
        "none.cfg",
        "dataDir=/tmp/zk\nsecureClientPort=2281\nssl.keyStore.location=/k.pem\nssl.clientAuth=none\n",
    );
    load_with(Some(&ok), &[], &[]).unwrap();
    // Quorum TLS: ZooKeeper's ssl.quorum.* keys; without its stores, an error naming them.
    let q = write(
        dir.path(),
        "q.cfg",
        "dataDir=/tmp/zk\nsslQuorum=true\nssl.quorum.keyStore.location=/q.pem\n\
         ssl.quorum.trustStore.location=/qca.pem\nssl.quorum.hostnameVerification=false\n\
         ssl.quorum.keyStore.type=PEM\nssl.protocol=TLSv1.2\n",
    );
    let loaded = load_with(Some(&q), &[], &[]).unwrap();
    let t = &loaded.settings.tls;
    assert!(t.quorum && !t.quorum_hostname_verification);
    assert_eq!(
        (t.quorum_key_store.as_str(), t.quorum_trust_store.as_str()),
        ("/q.pem", "/qca.pem")
    );
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].contains("ssl.protocol"),
        "{:?}",
        loaded.warnings
    );
    let bare = write(dir.path(), "qb.cfg", "dataDir=/tmp/zk\nsslQuorum=true\n");
    let msg = err_text(load_with(Some(&bare), &[], &[]));
    assert!(msg.contains("ssl.quorum.keyStore.location"), "{msg}");
}

/// ZooKeeper's SASL between the members: refused, naming mutual TLS, rather than run without
/// the peer authentication asked for.
#[test]
fn zoo_cfg_quorum_sasl_is_refused_naming_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "zoo.cfg",
        "dataDir=/tmp/zk\nquorum.auth.enableSasl=true\nquorum.auth.learnerRequireSasl=true\n",
    );
    let msg = err_text(load_with(Some(&cfg), &[], &[]));
    assert!(
        msg.contains("quorum.auth.enableSasl")
            && msg.contains("sslQuorum=true")
            && msg.contains("line 2"),
        "{msg}"
    );
    let off = write(
        dir.path(),
        "off.cfg",
        "dataDir=/tmp/zk\nquorum.auth.enableSasl=false\n",
    );
    assert!(load_with(Some(&off), &[], &[]).is_ok());
}
