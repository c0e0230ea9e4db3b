//! The VM path, on one machine: the systemd unit passes `systemd-analyze verify` and scores
//! OK in `systemd-analyze security --offline`; `keeper ensemble --hosts --tls` writes three
//! hosts' files, and three servers, each on its own loopback address (127.0.0.1-3) with the
//! same ports as on three VMs, started from those files as they are (only the paths moved),
//! form an ensemble that serves TLS and plain clients.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zookeeper_client as zk;

const UNIT: &str = include_str!("../packaging/keeper.service");

fn analyze(args: &[&str]) -> Option<std::process::Output> {
    match Command::new("systemd-analyze").args(args).output() {
        Ok(o) => Some(o),
        Err(e) => {
            println!("systemd-analyze cannot run here ({e}): the unit is not checked");
            None
        }
    }
}

/// The unit as installed, with this build's binary in ExecStart (verify checks that it exists).
fn unit_here(dir: &Path) -> PathBuf {
    let path = dir.join("keeper.service");
    let text = UNIT.replace("/usr/bin/keeper", env!("CARGO_BIN_EXE_keeper"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_here(dir.path());
    let unit = unit.to_str().unwrap();
    let Some(v) = analyze(&["verify", unit]) else {
        return;
    };
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(
        v.status.success() && said.trim().is_empty(),
        "verify: {said}"
    );
    let s = analyze(&["security", "--offline=true", unit]).unwrap();
    let out = String::from_utf8_lossy(&s.stdout).into_owned();
    let err = String::from_utf8_lossy(&s.stderr).into_owned();
    assert!(
        s.status.success() && err.trim().is_empty(),
        "security: {err}\n{out}"
    );
    let level = out
        .lines()
        .find_map(|l| l.split("Overall exposure level for keeper.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{out}"));
    println!("systemd-analyze security: exposure {level} of 10");
    // systemd calls up to 2.0 "OK"; what is left open is the network (the service's job), the
    // host's root and the clock device that ProtectClock allows.
    assert!(level <= 2.0, "exposure {level}:\n{out}");
}

fn mode(ip: &str, port: u16) -> Option<String> {
    common::mode_at(ip, port)
}

struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Three {
    // Held for its Drop, and dropped first: the servers stop before their files go.
    _procs: Procs,
    dir: tempfile::TempDir,
    out: PathBuf,
    client: u16,
    election: u16,
    secure: u16,
    /// More `--set` settings of every server.
    extra: Vec<String>,
}

const IPS: [&str; 3] = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];

impl Three {
    fn logs(&self) -> String {
        IPS.iter()
            .map(|ip| {
                let l = std::fs::read_to_string(self.dir.path().join(format!("{ip}.log")))
                    .unwrap_or_default();
                format!(
                    "--- {ip}\n{}",
                    l.lines().rev().take(15).collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn log(&self, ip: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{ip}.log"))).unwrap_or_default()
    }

    /// The leader's address, once one of the three leads and the others follow.
    fn wait_leader(&self) -> &'static str {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let modes: Vec<Option<String>> = IPS.iter().map(|ip| mode(ip, self.client)).collect();
            let leaders: Vec<usize> = (0..3)
                .filter(|&i| modes[i].as_deref() == Some("leader"))
                .collect();
            if leaders.len() == 1 && modes.iter().all(|m| m.is_some()) {
                return IPS[leaders[0]];
            }
            assert!(
                Instant::now() < deadline,
                "no ensemble: {modes:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `keeper ensemble --hosts 127.0.0.1,127.0.0.2,127.0.0.3 --tls`, then a server per address
/// from its directory's files (the data and TLS paths moved into the test's directory).
fn three_from_generated_files(extra: &[&str]) -> Three {
    let ports: Vec<u16> = (0..4).map(|_| common::free_port()).collect();
    let (client, quorum, election, secure) = (ports[0], ports[1], ports[2], ports[3]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deploy");
    let made = Command::new(env!("CARGO_BIN_EXE_keeper"))
        .args(["ensemble", "--hosts", &IPS.join(","), "--tls", "--out"])
        .arg(&out)
        .args(["--client-port", &client.to_string()])
        .args(["--quorum-port", &quorum.to_string()])
        .args(["--election-port", &election.to_string()])
        .args(["--secure-client-port", &secure.to_string()])
        .output()
        .expect("keeper ensemble --hosts");
    assert!(made.status.success(), "{made:?}");
    let mut t = Three {
        _procs: Procs(Vec::new()),
        dir,
        out,
        client,
        election,
        secure,
        extra: extra.iter().map(|s| s.to_string()).collect(),
    };
    for (i, ip) in IPS.iter().enumerate() {
        // What the install steps do: myid into the data directory; the rest stays in place.
        let data = t.dir.path().join(format!("data-{ip}"));
        std::fs::create_dir_all(&data).unwrap();
        std::fs::copy(t.out.join(ip).join("myid"), data.join("myid")).unwrap();
        let child = t.spawn(i);
        t._procs.0.push(child);
    }
    t
}

impl Three {
    /// Start the server of `IPS[i]` from its host's files (its log appended).
    fn spawn(&self, i: usize) -> Child {
        let ip = IPS[i];
        let host = self.out.join(ip);
        let data = self.dir.path().join(format!("data-{ip}"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{ip}.log")))
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keeper"));
        cmd.arg("server")
            .arg("--config")
            .arg(host.join("keeper.toml"))
            .args(["--set", &format!("client.address={ip}")])
            .args(["--set", &format!("storage.data_dir={}", data.display())])
            .args([
                "--set",
                &format!("tls.key_store={}", host.join("tls/server.pem").display()),
            ])
            .args([
                "--set",
                &format!("tls.trust_store={}", host.join("tls/ca.pem").display()),
            ])
            // The AdminServer's port would be shared by the three; the four-letter words serve.
            .args(["--set", "admin.enabled=false"]);
        for e in &self.extra {
            cmd.args(["--set", e]);
        }
        cmd.stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("keeper server")
    }

    /// kill -9 the server of `IPS[i]` and start it again.
    fn restart(&mut self, i: usize) {
        let _ = self._procs.0[i].kill();
        let _ = self._procs.0[i].wait();
        self._procs.0[i] = self.spawn(i);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Write through 127.0.0.2's TLS port with the operator's certificate, read through
/// 127.0.0.3's plain port.
fn write_tls_read_plain(t: &Three, path: &'static str) {
    write_via(t, "127.0.0.2", path)
}

/// Write through `via`'s TLS port with the operator's certificate, read through 127.0.0.3's
/// plain port.
fn write_via(t: &Three, via: &'static str, path: &'static str) {
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (secure, client) = (t.secure, t.client);
    let out = t.out.clone();
    let logs = t.logs();
    runtime().block_on(async move {
        let ca = std::fs::read_to_string(out.join("ca/ca.pem")).unwrap();
        let admin = std::fs::read_to_string(out.join("ca/client-admin.pem")).unwrap();
        let tls = zk::TlsOptions::new()
            .with_pem_ca(&ca)
            .unwrap()
            .with_pem_identity(&admin, &admin)
            .unwrap();
        // The certificate of 127.0.0.2 is valid for that address: host names are verified.
        let c = zk::Client::connector()
            .with_tls(tls)
            .with_session_timeout(Duration::from_secs(10))
            .connect(&format!("tcp+tls://{via}:{secure}"))
            .await
            .unwrap_or_else(|e| panic!("TLS client: {e}\n{logs}"));
        c.create(
            path,
            b"on three hosts",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
        )
        .await
        .unwrap();
        let plain = zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(&format!("127.0.0.3:{client}"))
            .await
            .expect("plain client");
        plain.sync(path).await.unwrap();
        assert_eq!(plain.get_data(path).await.unwrap().0, b"on three hosts");
    });
}

#[test]
fn three_hosts_from_generated_files_form_a_tls_ensemble() {
    let t = three_from_generated_files(&[]);
    t.wait_leader();
    write_tls_read_plain(&t, "/deployed");
}

/// A rogue peer: TLS to `ip`'s election port with the certificate in `pem`, then a Hello that
/// claims server `sid`. Whether the other side answered (a refused peer is closed without an
/// answer).
fn hello_over_tls(t: &Three, ip: &str, pem: &Path, sid: u64) -> bool {
    use keeper::codec::peer::{encode_frame, PeerMessage, PROTOCOL_VERSION};
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(t.out.join("ca/ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pem)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(pem).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    let (ip, port) = (ip.to_string(), t.election);
    runtime().block_on(async move {
        let tcp = tokio::net::TcpStream::connect((ip.as_str(), port))
            .await
            .unwrap();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = ServerName::try_from(ip.clone()).unwrap();
        let Ok(mut tls) = connector.connect(name, tcp).await else {
            return false;
        };
        let mut frame = Vec::new();
        encode_frame(
            &PeerMessage::Hello {
                version: PROTOCOL_VERSION,
                sid,
            },
            &mut frame,
        )
        .unwrap();
        if tls.write_all(&frame).await.is_err() {
            return false;
        }
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await,
            Ok(Ok(n)) if n > 0
        )
    })
}

/// Mutual TLS between the members (sslQuorum): the ensemble forms and replicates over it; a
/// peer with a valid certificate of one host that claims another member's id is refused and
/// said so in the log; a peer of another CA, or in plain text, cannot even finish a handshake.
#[test]
fn peers_prove_who_they_are_with_mutual_tls() {
    let t = three_from_generated_files(&["tls.quorum=true"]);
    let leader = t.wait_leader();
    write_tls_read_plain(&t, "/over-quorum-tls");
    for ip in IPS {
        assert!(t.log(ip).contains("mutual TLS (sslQuorum)"), "{}", t.logs());
    }
    // 127.0.0.2's certificate, claiming to be server 3 (127.0.0.3), to the leader.
    let cert2 = t.out.join("127.0.0.2/tls/server.pem");
    let target = if leader == "127.0.0.3" {
        "127.0.0.1"
    } else {
        leader
    };
    assert!(
        !hello_over_tls(&t, target, &cert2, 3),
        "a member posing as another was answered"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !t
        .log(target)
        .contains("certificate is not valid for 127.0.0.3")
    {
        assert!(
            Instant::now() < deadline,
            "no log line for the impostor:\n{}",
            t.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A certificate of another CA: no handshake.
    let foreign = tempfile::tempdir().unwrap();
    let made = Command::new(env!("CARGO_BIN_EXE_keeper"))
        .args(["certs", "--hosts", "127.0.0.2", "--out"])
        .arg(foreign.path())
        .output()
        .unwrap();
    assert!(made.status.success());
    assert!(!hello_over_tls(
        &t,
        target,
        &foreign.path().join("server-127.0.0.2.pem"),
        2
    ));
    // Plain text on the election port: refused, the ensemble unchanged.
    let mut plain = TcpStream::connect((target, t.election)).unwrap();
    let mut frame = Vec::new();
    keeper::codec::peer::encode_frame(
        &keeper::codec::peer::PeerMessage::Hello {
            version: keeper::codec::peer::PROTOCOL_VERSION,
            sid: 2,
        },
        &mut frame,
    )
    .unwrap();
    let _ = plain.write_all(&frame);
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = plain.read(&mut buf).unwrap_or(0);
    assert!(
        n == 0 || buf[0] == 0x15,
        "a plain-text peer was answered: {:?}",
        &buf[..n]
    );
    assert_eq!(t.wait_leader(), leader);
    write_tls_read_plain(&t, "/after-the-impostors");
}

/// What the package installs loads as it is, and its maintainer scripts parse.
#[test]
fn the_package_files_are_sound() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_keeper"))
        .arg("config")
        .arg("--config")
        .arg(root.join("packaging/keeper.toml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("data_dir = \"/var/lib/keeper\""), "{text}");
    for script in ["postinst", "postrm"] {
        let s = Command::new("sh")
            .arg("-n")
            .arg(root.join("packaging/debian").join(script))
            .status()
            .unwrap();
        assert!(s.success(), "{script} does not parse");
    }
    // The unit runs what the package installs, with the configuration it installs.
    assert!(UNIT.contains("ExecStart=/usr/bin/keeper server --config /etc/keeper/keeper.toml"));
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("\"packaging/keeper.toml\", \"etc/keeper/keeper.toml\""));
}

/// Certificates rotated on every host without a restart (a new CA: the hard case): the files
/// replaced in place, the running members take them for new links; a member started afresh
/// with the new files joins the two that never restarted, over mutual TLS, and clients with a
/// certificate of the new CA are served by them.
#[test]
fn rotated_certificates_are_taken_without_a_restart() {
    let mut t = three_from_generated_files(&["tls.quorum=true"]);
    let leader = t.wait_leader();
    let rotated = tempfile::tempdir().unwrap();
    let made = Command::new(env!("CARGO_BIN_EXE_keeper"))
        .args([
            "certs",
            "--hosts",
            &IPS.join(","),
            "--clients",
            "admin",
            "--out",
        ])
        .arg(rotated.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    for ip in IPS {
        let tls = t.out.join(ip).join("tls");
        std::fs::copy(
            rotated.path().join(format!("server-{ip}.pem")),
            tls.join("server.pem"),
        )
        .unwrap();
        std::fs::copy(rotated.path().join("ca.pem"), tls.join("ca.pem")).unwrap();
    }
    for f in ["ca.pem", "client-admin.pem"] {
        std::fs::copy(rotated.path().join(f), t.out.join("ca").join(f)).unwrap();
    }
    // Reloads are looked for at most once a second, when a connection comes.
    std::thread::sleep(Duration::from_millis(1200));
    // A follower restarts: it has only the new certificates; the two others must have
    // reloaded theirs to let it in.
    let follower = (0..3).find(|&i| IPS[i] != leader).unwrap();
    t.restart(follower);
    let deadline = Instant::now() + Duration::from_secs(30);
    while mode(IPS[follower], t.client).as_deref() != Some("follower") {
        assert!(
            Instant::now() < deadline,
            "the restarted member did not rejoin:\n{}",
            t.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(t.wait_leader(), leader, "the leader never restarted");
    for ip in IPS.iter().filter(|ip| **ip != IPS[follower]) {
        assert!(
            t.log(ip).contains("key / trust store changed"),
            "{}",
            t.logs()
        );
    }
    // Clients with a certificate of the new CA, served by a member that never restarted.
    let kept = IPS.iter().find(|ip| **ip != IPS[follower]).unwrap();
    write_via(&t, kept, "/after-the-rotation");
}
