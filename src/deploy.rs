//! `keeper ensemble --hosts h1,h2,h3 --out DIR`: the files of an ensemble on VMs, one directory
//! per host, ready to copy: its `keeper.toml` (the member list by host name, FHS paths, no
//! server id: that is in `myid`, as ZooKeeper keeps it), `myid`, the hardened systemd unit and,
//! with `--tls`, its TLS key store and the cluster CA (made by `keeper certs`; the CA's key
//! stays in `DIR/ca`, off the servers), plus a client certificate for the operator; the
//! members then also talk to each other over mutual TLS.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The systemd unit the package installs, and that each host directory gets.
pub const UNIT: &str = include_str!("../packaging/keeper.service");

pub struct Options {
    /// `host` or `host:observer`, in member-id order (the first is server 1).
    pub hosts: Vec<String>,
    pub out: PathBuf,
    pub client_port: u16,
    pub quorum_port: u16,
    pub election_port: u16,
    /// The TLS client port, with certificates for every host; `None`: plain only.
    pub secure_port: Option<u16>,
    /// Prometheus endpoint on every host; 0: none.
    pub metrics_port: u16,
}

struct Host {
    id: usize,
    name: String,
    observer: bool,
}

fn parse_hosts(specs: &[String]) -> Result<Vec<Host>, String> {
    let mut hosts: Vec<Host> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let spec = spec.trim();
        let (name, observer) = match spec.strip_suffix(":observer") {
            Some(n) => (n, true),
            None => (spec, false),
        };
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !valid {
            return Err(format!(
                "`{spec}` is not a host name or IPv4 address (optionally with :observer)"
            ));
        }
        if hosts.iter().any(|h| h.name.eq_ignore_ascii_case(name)) {
            return Err(format!("host `{name}` is named twice"));
        }
        hosts.push(Host {
            id: i + 1,
            name: name.to_string(),
            observer,
        });
    }
    let voters = hosts.iter().filter(|h| !h.observer).count();
    if voters == 0 {
        return Err("an ensemble needs at least one voting member".into());
    }
    if voters % 2 == 0 {
        eprintln!(
            "keeper: note: {voters} voters survive no more failures than {} (a quorum is a \
             majority): an odd number is usual",
            voters - 1
        );
    }
    Ok(hosts)
}

fn config(o: &Options, hosts: &[Host], me: &Host) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Keeper on {}: server {} of the ensemble {} (made by `keeper ensemble --hosts`).\n\
         # Goes to /etc/keeper/keeper.toml; this server's id is in /var/lib/keeper/myid.\n\
         # `keeper config --config /etc/keeper/keeper.toml` shows every effective value.\n",
        me.name,
        me.id,
        hosts
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        t,
        "[server]\ntick_time = 2000\ninit_limit = 10\nsync_limit = 5\n\
         four_letter_words = \"ruok,srvr,stat,mntr,conf,envi,isro,wchs,cons,dirs\"\n"
    );
    let _ = writeln!(
        t,
        "[client]\nport = {}\naddress = \"0.0.0.0\"",
        o.client_port
    );
    if let Some(p) = o.secure_port {
        let _ = writeln!(t, "secure_port = {p}");
    }
    let _ = writeln!(
        t,
        "\n[storage]\ndata_dir = \"/var/lib/keeper\"\n# Put the transaction log on a disk of \
         its own when there is one:\n# data_log_dir = \"/var/lib/keeper-log\"\n"
    );
    if let Some(_p) = o.secure_port {
        let _ = writeln!(
            t,
            "[tls]\nkey_store = \"/etc/keeper/tls/server.pem\"\n\
             trust_store = \"/etc/keeper/tls/ca.pem\"\nclient_auth = \"need\"\n\
             # The members prove who they are to each other with the same certificates.\n\
             quorum = true\n"
        );
    }
    if o.metrics_port != 0 {
        let _ = writeln!(t, "[telemetry]\nmetrics_port = {}\n", o.metrics_port);
    }
    let _ = writeln!(t, "[quorum.members]");
    for h in hosts {
        let _ = writeln!(
            t,
            "{} = \"{}:{}:{}{};{}\"",
            h.id,
            h.name,
            o.quorum_port,
            o.election_port,
            if h.observer { ":observer" } else { "" },
            o.client_port
        );
    }
    t
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))
}

/// Write the files; the text says what was written and how to install it.
pub fn run(o: &Options) -> Result<String, String> {
    let hosts = parse_hosts(&o.hosts)?;
    std::fs::create_dir_all(&o.out)
        .map_err(|e| format!("cannot create {}: {e}", o.out.display()))?;
    let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let ca_dir = o.out.join("ca");
    if o.secure_port.is_some() {
        crate::tls::make::certs(&ca_dir, &names, &["admin".to_string()], "Keeper", 825)?;
    }
    let mut report = String::new();
    for h in &hosts {
        let dir = o.out.join(&h.name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        write(&dir.join("keeper.toml"), &config(o, &hosts, h), 0o640)?;
        write(&dir.join("myid"), &format!("{}\n", h.id), 0o640)?;
        write(&dir.join("keeper.service"), UNIT, 0o644)?;
        if o.secure_port.is_some() {
            let tls = dir.join("tls");
            std::fs::create_dir_all(&tls)
                .map_err(|e| format!("cannot create {}: {e}", tls.display()))?;
            let copy = |from: PathBuf, to: &str, mode: u32| {
                let text = std::fs::read_to_string(&from)
                    .map_err(|e| format!("cannot read {}: {e}", from.display()))?;
                write(&tls.join(to), &text, mode)
            };
            copy(
                ca_dir.join(format!("server-{}.pem", h.name)),
                "server.pem",
                0o600,
            )?;
            copy(ca_dir.join(crate::tls::make::CA_CERT), "ca.pem", 0o644)?;
        }
        let _ = writeln!(
            report,
            "{}: server {}{}",
            dir.display(),
            h.id,
            if h.observer { " (observer)" } else { "" }
        );
    }
    let _ = write!(
        report,
        "\non each host, from its directory (the keeper binary in /usr/bin, a `keeper` user):\n\
         \x20 install -d -o keeper -g keeper -m 0750 /etc/keeper /var/lib/keeper\n\
         \x20 install -o keeper -g keeper -m 0640 keeper.toml /etc/keeper/keeper.toml\n\
         \x20 install -o keeper -g keeper -m 0640 myid /var/lib/keeper/myid\n"
    );
    if o.secure_port.is_some() {
        let _ = write!(
            report,
            "\x20 install -d -o keeper -g keeper -m 0750 /etc/keeper/tls\n\
             \x20 install -o keeper -g keeper -m 0600 tls/server.pem tls/ca.pem /etc/keeper/tls/\n"
        );
    }
    let _ = write!(
        report,
        "\x20 install -m 0644 keeper.service /etc/systemd/system/keeper.service  # (the .deb \
         installs it)\n\x20 systemctl daemon-reload && systemctl enable --now keeper\n\
         ports to open between the hosts: {} (quorum), {} (election); for clients: {}{}{}\n",
        o.quorum_port,
        o.election_port,
        o.client_port,
        o.secure_port
            .map(|p| format!(", {p} (TLS)"))
            .unwrap_or_default(),
        if o.metrics_port != 0 {
            format!("; for Prometheus: {}", o.metrics_port)
        } else {
            String::new()
        }
    );
    if o.secure_port.is_some() {
        let _ = writeln!(
            report,
            "the cluster CA and its key: {} (keep the key off the servers); a client \
             certificate for you: {}",
            ca_dir.display(),
            ca_dir.join("client-admin.pem").display()
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{load, LoadOptions};

    #[test]
    fn every_host_gets_a_config_that_loads_with_its_myid() {
        let dir = tempfile::tempdir().unwrap();
        let o = Options {
            hosts: vec![
                "zk1.example.com".into(),
                "zk2.example.com".into(),
                "zk3.example.com".into(),
                "zk4.example.com:observer".into(),
            ],
            out: dir.path().to_path_buf(),
            client_port: 2181,
            quorum_port: 2888,
            election_port: 3888,
            secure_port: Some(2281),
            metrics_port: 7000,
        };
        let report = run(&o).unwrap();
        assert!(report.contains("systemctl enable --now keeper"), "{report}");
        for (id, host) in ["zk1", "zk2", "zk3", "zk4"].iter().enumerate() {
            let hd = dir.path().join(format!("{host}.example.com"));
            let myid = std::fs::read_to_string(hd.join("myid")).unwrap();
            assert_eq!(myid.trim(), (id + 1).to_string());
            // As on the host: its data directory holds myid; TLS files where the config says.
            let data = dir.path().join(format!("data-{host}"));
            std::fs::create_dir_all(&data).unwrap();
            std::fs::copy(hd.join("myid"), data.join("myid")).unwrap();
            let loaded = load(&LoadOptions {
                config_file: Some(hd.join("keeper.toml")),
                sets: vec![format!("storage.data_dir={}", data.display())],
                env: Vec::new(),
            })
            .unwrap_or_else(|e| panic!("{host}: {e}"));
            assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
            let s = &loaded.settings;
            assert_eq!(s.server.id, id as u64 + 1);
            assert_eq!(s.members().unwrap().len(), 4);
            assert_eq!(
                s.quorum.peer_type,
                if id == 3 { "observer" } else { "participant" }
            );
            assert_eq!(s.client.secure_port, 2281);
            assert_eq!(s.tls.key_store, "/etc/keeper/tls/server.pem");
            assert!(s.tls.quorum);
            assert!(hd.join("tls/server.pem").exists() && hd.join("tls/ca.pem").exists());
            assert_eq!(
                std::fs::read_to_string(hd.join("keeper.service")).unwrap(),
                UNIT
            );
        }
        // The CA's key is not in any host's directory.
        assert!(dir.path().join("ca/ca-key.pem").exists());
        let stray = walk(dir.path())
            .into_iter()
            .filter(|p| p.ends_with("ca-key.pem") && !p.starts_with(dir.path().join("ca")))
            .count();
        assert_eq!(stray, 0);
    }

    fn walk(p: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    #[test]
    fn bad_host_lists_are_refused() {
        for (hosts, why) in [
            (vec!["a", "a"], "twice"),
            (vec!["a:observer"], "voting"),
            (vec!["a b"], "host name"),
        ] {
            let o = Options {
                hosts: hosts.iter().map(|s| s.to_string()).collect(),
                out: PathBuf::from("/nonexistent-never-written"),
                client_port: 2181,
                quorum_port: 2888,
                election_port: 3888,
                secure_port: None,
                metrics_port: 0,
            };
            let err = run(&o).unwrap_err();
            assert!(err.contains(why), "{hosts:?}: {err}");
        }
    }
}
