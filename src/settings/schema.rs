//! The settings: [`Settings`] and its sections, one struct per TOML table, with the built-in
//! defaults (the `default` layer; `config/default.toml` holds the same values).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The effective configuration. All times are in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Settings {
    pub server: ServerSettings,
    pub client: ClientSettings,
    pub storage: StorageSettings,
    pub quorum: QuorumSettings,
    pub telemetry: TelemetrySettings,
    pub admin: AdminSettings,
    pub tls: TlsSettings,
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
    /// TLS client port (zoo.cfg `secureClientPort`); 0 = none. See [`TlsSettings`].
    pub secure_port: u16,
    /// Its address (zoo.cfg `secureClientPortAddress`); "" = `address`.
    pub secure_address: String,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            port: 2181,
            address: "0.0.0.0".to_string(),
            io_threads: "auto".to_string(),
            max_in_flight: 128,
            max_queued_bytes: 64 << 20,
            secure_port: 0,
            secure_address: String::new(),
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
    /// Listen on the member's quorum and election ports on every address of the host (zoo.cfg
    /// `quorumListenOnAllIPs`), while peers still dial the address in the member entry.
    pub listen_on_all_ips: bool,
    /// Milliseconds without a word from the leader (a learner) or from a quorum (the leader)
    /// after which it is taken for gone, when shorter than syncLimit ticks; 0 = syncLimit only.
    /// Heartbeats go four times as often.
    pub peer_timeout: u64,
}

impl Default for QuorumSettings {
    fn default() -> Self {
        QuorumSettings {
            members: BTreeMap::new(),
            peer_type: "participant".to_string(),
            io_threads: "auto".to_string(),
            listen_on_all_ips: false,
            peer_timeout: 1000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetrySettings {
    pub log_level: String,
    /// Empty = `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`, else no export.
    pub otlp_endpoint: String,
    /// `grpc` or `http/protobuf`; empty = `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`, else by port.
    pub otlp_protocol: String,
    /// Share of client writes traced, 0..=1; empty = `OTEL_TRACES_SAMPLER[_ARG]`, else 0.001.
    pub sampling_ratio: String,
    /// Empty = `OTEL_SERVICE_NAME`, else `keeper`.
    pub service_name: String,
    /// 0 = no metrics endpoint.
    pub metrics_port: u16,
    pub metrics_host: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            log_level: "info".to_string(),
            otlp_endpoint: String::new(),
            otlp_protocol: String::new(),
            sampling_ratio: String::new(),
            service_name: String::new(),
            metrics_port: 0,
            metrics_host: "0.0.0.0".to_string(),
        }
    }
}

/// ZooKeeper's AdminServer: `/commands/<name>` answered in JSON over HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdminSettings {
    pub enabled: bool,
    pub address: String,
    pub port: u16,
    pub command_url: String,
}

impl Default for AdminSettings {
    fn default() -> Self {
        // ZooKeeper 3.8's defaults (admin.enableServer, serverAddress, serverPort, commandURL).
        AdminSettings {
            enabled: true,
            address: "0.0.0.0".to_string(),
            port: 8080,
            command_url: "/commands".to_string(),
        }
    }
}

/// TLS of the secure client port, with ZooKeeper's model (`ssl.*`): the server's key and
/// certificate chain in one PEM key store, the CAs that sign client certificates in a PEM
/// trust store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsSettings {
    /// PEM file with this server's private key and its certificate chain
    /// (`ssl.keyStore.location`).
    pub key_store: String,
    /// Password of an encrypted key (`ssl.keyStore.password`): refused with a clear error,
    /// Keeper reads unencrypted PEM keys.
    pub key_store_password: String,
    /// `PEM` or "" (`ssl.keyStore.type`); anything else is refused.
    pub key_store_type: String,
    /// PEM file with the CA certificates that client certificates must chain to
    /// (`ssl.trustStore.location`).
    pub trust_store: String,
    /// `PEM` or "" (`ssl.trustStore.type`).
    pub trust_store_type: String,
    /// `need` (ZooKeeper's default), `want` or `none` (`ssl.clientAuth`).
    pub client_auth: String,
    /// Subject DN of the client certificate that is the super user
    /// (`X509AuthenticationProvider.superUser`); "" = none.
    pub x509_super_user: String,
    /// Reload the key and trust stores when their files change, without a restart
    /// (`client.certReload`).
    pub cert_reload: bool,
    /// Mutual TLS on the quorum and election ports (`sslQuorum`).
    pub quorum: bool,
    /// The member's key store for its peers (`ssl.quorum.keyStore.location`); "" = `key_store`.
    pub quorum_key_store: String,
    /// CAs the peers' certificates must chain to (`ssl.quorum.trustStore.location`); "" =
    /// `trust_store`.
    pub quorum_trust_store: String,
    /// A peer's certificate must be valid for the host of the member it claims to be
    /// (`ssl.quorum.hostnameVerification`).
    pub quorum_hostname_verification: bool,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            key_store: String::new(),
            key_store_password: String::new(),
            key_store_type: String::new(),
            trust_store: String::new(),
            trust_store_type: String::new(),
            client_auth: "need".to_string(),
            x509_super_user: String::new(),
            cert_reload: true,
            quorum: false,
            quorum_key_store: String::new(),
            quorum_trust_store: String::new(),
            quorum_hostname_verification: true,
        }
    }
}
