//! Keeper: a coordination service that speaks the Apache ZooKeeper client protocol.
//!
//! Module map:
//! - `settings`   layered configuration (defaults < default.toml < file < env < --set), zoo.cfg
//! - `error`      API errors (ZooKeeper codes) and fatal errors
//! - `codec`      bytes <-> frames <-> typed records (jute client protocol)
//! - `datatree`   pure replicated state machine: znodes, Stat, ACLs, watches, txns
//! - `proto`      pure protocol machines (session expiry)
//! - `engine`     pure request pipeline of every role: requests in, ordered replies and txns out
//! - `storage`    transaction log, snapshots, recovery, retention (files)
//! - `fourlw`     four-letter-word answers
//! - `tls`        the secure client port's TLS (rustls, PEM stores), x509 ids, `keeper certs`
//! - `admin`      ZooKeeper's AdminServer: /commands/<name> in JSON
//! - `metrics`    ZooKeeper-named counters, summaries and gauges; the Prometheus endpoint
//! - `actors`     thin actix shells that do the IO around the pure machines
//! - `cli`        `keeper cli`, a zkCli-like client
//! - `devensemble` `keeper ensemble`: a local ensemble for development
//! - `deploy`     `keeper ensemble --hosts`: the files of an ensemble on VMs
//! - `bench`      `keeper bench`: a load generator for any ZooKeeper-protocol server
pub mod actors;
pub mod admin;
pub mod bench;
pub mod cli;
pub mod codec;
pub mod datatree;
pub mod deploy;
pub mod devensemble;
pub mod engine;
pub mod error;
pub mod fourlw;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
pub mod proto;
pub mod settings;
pub mod storage;
pub mod telemetry;
pub mod tls;
