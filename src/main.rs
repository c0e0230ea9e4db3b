//! `keeper`: parse the command line, load settings, start logging, start the actors.

use clap::{Args, Parser, Subcommand};
use keeper::settings::{self, LoadOptions, Loaded};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: a write allocates and frees small buffers on one thread
/// and frees some on another (the log writer, the link threads); glibc's arenas made malloc and
/// free a fifth of the leader's main thread under load. Built without transparent huge pages
/// (`no_thp`): with them an idle server's RSS doubled (2 MiB pages for a few KiB in use).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "keeper",
    version = concat!(
        env!("CARGO_PKG_VERSION"),
        " (commit ",
        env!("KEEPER_GIT_COMMIT"),
        ", built ",
        env!("KEEPER_BUILD_DATE"),
        ")"
    ),
    about = "A coordination service that speaks the ZooKeeper protocol"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct ConfigArgs {
    /// A Keeper TOML file or a ZooKeeper zoo.cfg.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override one setting, e.g. `--set client.port=2182` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a server.
    Server(ConfigArgs),
    /// Print the effective configuration, each value with the layer it came from.
    Config(ConfigArgs),
    /// A zkCli.sh-like client: `keeper cli -server host:port [command args...]`.
    #[command(disable_help_flag = true)]
    Cli {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a local ensemble on loopback for development (Ctrl-C stops it); with --hosts, write
    /// the files of an ensemble on those hosts instead (one directory per host: keeper.toml,
    /// myid, the systemd unit and, with --tls, its certificates).
    Ensemble {
        /// Hosts of the members, comma-separated, in id order (`host` or `host:observer`):
        /// write their files to --out rather than run anything.
        #[arg(long, value_delimiter = ',')]
        hosts: Vec<String>,
        /// Where --hosts writes.
        #[arg(long, default_value = "./deploy")]
        out: PathBuf,
        /// With --hosts: a TLS client port on every host, a cluster CA and certificates.
        #[arg(long)]
        tls: bool,
        /// With --tls: the TLS client port.
        #[arg(long, default_value_t = 2281)]
        secure_client_port: u16,
        /// Number of voting servers.
        #[arg(long, default_value_t = 3)]
        size: u32,
        /// Number of observers.
        #[arg(long, default_value_t = 0)]
        observers: u32,
        /// Where configuration, data and logs go.
        #[arg(long, default_value = "./ensemble")]
        dir: PathBuf,
        /// Client port of server 1 (the others follow).
        #[arg(long, default_value_t = 2181)]
        client_port: u16,
        /// Quorum port of server 1 (the others follow).
        #[arg(long, default_value_t = 2888)]
        quorum_port: u16,
        /// Election port of server 1 (the others follow).
        #[arg(long, default_value_t = 3888)]
        election_port: u16,
        /// Prometheus metrics port of server 1 (the others follow); 0: no metrics endpoint.
        #[arg(long, default_value_t = 0)]
        metrics_port: u16,
    },
    /// Print the txns of a transaction log segment (like ZooKeeper's LogFormatter).
    LogDump { path: PathBuf },
    /// Show where a damaged transaction log segment is damaged and what each way out loses;
    /// change it only with --truncate or --skip, after keeping a copy (like ZooKeeper's
    /// TxnLogToolkit). Stop the server that owns the file first.
    LogRepair {
        path: PathBuf,
        /// Cut the segment at the damage (everything from there on is lost; the report says
        /// how many txns that is).
        #[arg(long, conflicts_with = "skip")]
        truncate: bool,
        /// Drop the damaged bytes and keep the records after them (only when they held no
        /// txn, so that the log has no hole).
        #[arg(long)]
        skip: bool,
    },
    /// Print the nodes and sessions of a snapshot (like ZooKeeper's SnapshotFormatter).
    SnapshotDump { path: PathBuf },
    /// Make a cluster CA and TLS certificates for servers and clients: PEM files that
    /// tls.key_store / tls.trust_store (ssl.keyStore / ssl.trustStore.location) take as they
    /// are. A CA already in the directory signs the new ones (a new host joins the same trust).
    Certs {
        /// Where the files go.
        #[arg(long, default_value = "./certs")]
        out: PathBuf,
        /// Servers' host names or IP addresses, comma-separated: server-<host>.pem each, valid
        /// for that name, for serving clients and as a client of its peers.
        #[arg(long, value_delimiter = ',')]
        hosts: Vec<String>,
        /// Clients' names, comma-separated: client-<name>.pem each, with subject
        /// CN=<name>,O=<org> (its id in x509 ACLs).
        #[arg(long, value_delimiter = ',')]
        clients: Vec<String>,
        /// Organization in the subjects.
        #[arg(long, default_value = "Keeper")]
        org: String,
        /// Days the server and client certificates are valid (the CA: ten years).
        #[arg(long, default_value_t = 825)]
        days: u32,
    },
    /// Load generator for ZooKeeper-protocol servers: `keeper bench --help`.
    #[command(disable_help_flag = true)]
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn load(args: &ConfigArgs) -> Result<Loaded, ExitCode> {
    let opts = LoadOptions {
        config_file: args.config.clone(),
        sets: args.set.clone(),
        env: std::env::vars().collect(),
    };
    settings::load(&opts).map_err(|e| {
        eprintln!("keeper: configuration error: {e}");
        ExitCode::from(2)
    })
}

fn serve(args: ConfigArgs) -> ExitCode {
    let loaded = match load(&args) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let s = loaded.settings;
    let t = &s.telemetry;
    let trace = keeper::telemetry::resolve(
        &keeper::telemetry::TraceSettings {
            endpoint: &t.otlp_endpoint,
            protocol: &t.otlp_protocol,
            sampling_ratio: &t.sampling_ratio,
            service_name: &t.service_name,
        },
        &std::env::vars().collect(),
        s.server.id,
    );
    let trace = match trace {
        Ok(t) => t,
        Err(e) => {
            eprintln!("keeper: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    keeper::telemetry::init(&t.log_level, trace);
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    // As ZooKeeper with standaloneEnabled (its default): one voting member means standalone.
    let members = match s.members() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("keeper: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let voters = members.iter().filter(|m| !m.observer).count();
    let members = if voters <= 1 && members.len() <= 1 {
        if !members.is_empty() {
            tracing::info!("the configuration lists a single server: running standalone");
        }
        Vec::new()
    } else {
        members
    };
    if let Err(e) = std::fs::create_dir_all(&s.storage.data_dir) {
        eprintln!(
            "keeper: cannot create data directory {} (storage.data_dir): {e}",
            s.storage.data_dir
        );
        return ExitCode::from(2);
    }
    let sys = actix_rt::System::new();
    let started = sys.block_on(async move {
        let ensemble = !members.is_empty();
        match keeper::actors::server::start(s, members).await {
            Ok(addr) if ensemble => {
                tracing::info!(
                    "keeper {} listening for clients on {addr}; joining the ensemble",
                    env!("CARGO_PKG_VERSION")
                );
                true
            }
            Ok(addr) => {
                tracing::info!(
                    "keeper {} serving as a standalone server on {addr}",
                    env!("CARGO_PKG_VERSION")
                );
                true
            }
            Err(e) => {
                eprintln!("keeper: {e}");
                false
            }
        }
    });
    if !started {
        return ExitCode::from(1);
    }
    sys.block_on(async {
        // Dropping the handle detaches the task; it lives as long as the system.
        drop(actix_rt::spawn(stop_on_signal()));
    });
    let code = sys.run_with_code();
    keeper::telemetry::shutdown();
    match code {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("keeper: {e}");
            ExitCode::from(1)
        }
    }
}

/// SIGTERM or SIGINT: say so and stop at once. Nothing needs saving: a write is acknowledged
/// only once it is on disk, and an unacknowledged one may be lost as in any crash.
async fn stop_on_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot watch SIGTERM / SIGINT; they stop the server without a word");
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!("{name} received: stopping (every acknowledged write is already on disk)");
    actix_rt::System::current().stop();
}

fn certs(
    out: &std::path::Path,
    hosts: &[String],
    clients: &[String],
    org: &str,
    days: u32,
) -> Result<String, String> {
    if hosts.is_empty() && clients.is_empty() {
        return Err(
            "name the servers (--hosts h1,h2,h3) and/or the clients (--clients app)".into(),
        );
    }
    let w = keeper::tls::make::certs(out, hosts, clients, org, days)?;
    let mut text = format!(
        "{} CA {} (its key {}: keep it off the servers)\n",
        if w.ca_reused {
            "signed by the"
        } else {
            "made the"
        },
        w.ca.display(),
        out.join(keeper::tls::make::CA_KEY).display()
    );
    for f in &w.files {
        text += &format!("wrote {}\n", f.display());
    }
    if let Some(h) = hosts.first() {
        text += &format!(
            "\non each server (here {h}), in its TOML file:\n  [client]\n  secure_port = 2281\n  \
             [tls]\n  key_store = \"{}\"\n  trust_store = \"{}\"\nor in zoo.cfg: \
             secureClientPort=2281, ssl.keyStore.location=..., ssl.trustStore.location=...\n",
            out.join(format!("server-{h}.pem")).display(),
            w.ca.display()
        );
    }
    Ok(text)
}

fn print_or_fail(r: Result<String, String>) -> ExitCode {
    match r {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keeper: {e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Server(a) => serve(a),
        Cmd::Config(a) => match load(&a) {
            Ok(l) => {
                for w in &l.warnings {
                    eprintln!("warning: {w}");
                }
                print!("{}", settings::render_effective(&l));
                ExitCode::SUCCESS
            }
            Err(c) => c,
        },
        Cmd::Cli { args } => ExitCode::from(keeper::cli::main(args).clamp(0, 255) as u8),
        Cmd::Ensemble {
            hosts,
            out,
            tls,
            secure_client_port,
            client_port,
            quorum_port,
            election_port,
            metrics_port,
            ..
        } if !hosts.is_empty() => print_or_fail(keeper::deploy::run(&keeper::deploy::Options {
            hosts,
            out,
            client_port,
            quorum_port,
            election_port,
            secure_port: tls.then_some(secure_client_port),
            metrics_port,
        })),
        Cmd::Ensemble {
            size,
            observers,
            dir,
            client_port,
            quorum_port,
            election_port,
            metrics_port,
            ..
        } => ExitCode::from(
            keeper::devensemble::run(keeper::devensemble::Options {
                size,
                observers,
                dir,
                client_port,
                quorum_port,
                election_port,
                metrics_port,
            })
            .clamp(0, 255) as u8,
        ),
        Cmd::LogDump { path } => print_or_fail(keeper::storage::dump::log_dump(&path)),
        Cmd::LogRepair {
            path,
            truncate,
            skip,
        } => {
            use keeper::storage::repair::{run, Action};
            let action = match (truncate, skip) {
                (true, _) => Action::Truncate,
                (_, true) => Action::Skip,
                _ => Action::Show,
            };
            print_or_fail(run(&path, action))
        }
        Cmd::SnapshotDump { path } => print_or_fail(keeper::storage::dump::snapshot_dump(&path)),
        Cmd::Certs {
            out,
            hosts,
            clients,
            org,
            days,
        } => print_or_fail(certs(&out, &hosts, &clients, &org, days)),
        Cmd::Bench { args } => ExitCode::from(keeper::bench::main(args).clamp(0, 255) as u8),
    }
}
