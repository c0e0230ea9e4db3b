//! TLS on the secure client port, with real processes and the Rust `zookeeper-client` over
//! rustls: certificates made by `keeper certs`, plain and TLS ports side by side on one tree,
//! client certificates as `x509` ACL ids (and the x509 super user), strangers refused with a
//! clear log line and nothing changed, and certificate files replaced without a restart.

mod common;

use common::{free_port, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use zookeeper_client as zk;

static OPEN: &zk::CreateOptions<'static> =
    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The test client's rustls has two crypto providers compiled in (its own and the server's):
/// name one for the process.
fn crypto() {
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `keeper certs` into `dir`.
fn certs(dir: &Path, hosts: &str, clients: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_keeper"))
        .arg("certs")
        .arg("--out")
        .arg(dir)
        .args(["--hosts", hosts, "--clients", clients])
        .output()
        .expect("keeper certs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A client of the secure port with the identity in `pem` (key + certificate, as `keeper
/// certs` writes them), trusting the CA in `ca`.
async fn tls_client(port: u16, ca: &Path, pem: Option<&Path>) -> Result<zk::Client, zk::Error> {
    let mut tls = zk::TlsOptions::new().with_pem_ca(&read(ca))?;
    if let Some(p) = pem {
        let text = read(p);
        tls = tls.with_pem_identity(&text, &text)?;
    }
    zk::Client::connector()
        .with_tls(tls)
        .with_session_timeout(Duration::from_secs(10))
        .with_connection_timeout(Duration::from_secs(5))
        .with_fail_eagerly()
        .connect(&format!("tcp+tls://127.0.0.1:{port}"))
        .await
}

async fn plain_client(addr: &str) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(addr)
        .await
        .expect("plain client")
}

struct Secure {
    server: Server,
    port: u16,
    dir: tempfile::TempDir,
}

impl Secure {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn start(extra: &[&str]) -> Secure {
    crypto();
    let dir = tempfile::tempdir().unwrap();
    certs(dir.path(), "127.0.0.1", "app,other,admin");
    let port = free_port();
    let mut sets = vec![
        format!("client.secure_port={port}"),
        format!(
            "tls.key_store={}",
            dir.path().join("server-127.0.0.1.pem").display()
        ),
        format!("tls.trust_store={}", dir.path().join("ca.pem").display()),
        "tls.x509_super_user=CN=admin,O=Keeper".to_string(),
    ];
    sets.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = sets.iter().map(String::as_str).collect();
    let server = Server::start(&refs);
    Secure { server, port, dir }
}

/// Plain and TLS ports side by side on one tree; a client certificate is an `x509` id that
/// ACLs name, and the x509 super user passes every ACL; watches and large replies go through
/// TLS as through TCP.
#[test]
fn tls_clients_are_known_by_their_certificates() {
    let s = start(&[]);
    let app = s.path("client-app.pem");
    let ca = s.path("ca.pem");
    rt().block_on(async {
        let c = tls_client(s.port, &ca, Some(&app))
            .await
            .expect("TLS client");
        // Who it is: its address and its certificate's subject.
        let ids = c.list_auth_users().await.expect("whoAmI");
        let x509: Vec<_> = ids.iter().filter(|a| a.scheme() == "x509").collect();
        assert_eq!(x509.len(), 1, "{ids:?}");
        assert_eq!(x509[0].user(), "CN=app,O=Keeper");

        // A node only the app's certificate may use.
        let acl = vec![zk::Acl::new(
            zk::Permission::ALL,
            zk::AuthId::new("x509", "CN=app,O=Keeper"),
        )];
        let only_app = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&acl));
        c.create("/app", b"secret", &only_app)
            .await
            .expect("create");
        assert_eq!(c.get_data("/app").await.expect("read").0, b"secret");
        // The `auth` scheme names the certificate too.
        let auth = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
        c.create("/app-auth", b"x", &auth)
            .await
            .expect("create auth");
        let (acls, _) = c.get_acl("/app-auth").await.expect("acl");
        assert!(
            acls.iter()
                .any(|a| a.scheme() == "x509" && a.id() == "CN=app,O=Keeper"),
            "{acls:?}"
        );

        // Another certificate, and the plain port: no access.
        let other = tls_client(s.port, &ca, Some(&s.path("client-other.pem")))
            .await
            .expect("other");
        assert!(matches!(
            other.get_data("/app").await,
            Err(zk::Error::NoAuth)
        ));
        let plain = plain_client(&s.server.addr()).await;
        assert!(matches!(
            plain.get_data("/app").await,
            Err(zk::Error::NoAuth)
        ));
        // The super user's certificate passes.
        let admin = tls_client(s.port, &ca, Some(&s.path("client-admin.pem")))
            .await
            .expect("admin");
        assert_eq!(admin.get_data("/app").await.expect("super").0, b"secret");

        // A watch set over TLS fires on a write through the plain port.
        plain.create("/w", b"0", OPEN).await.unwrap();
        let (_, _, watch) = c.get_and_watch_data("/w").await.unwrap();
        plain.set_data("/w", b"1", None).await.unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(10), watch.changed())
            .await
            .expect("watch event over TLS");
        assert_eq!(ev.event_type, zk::EventType::NodeDataChanged);

        // Replies larger than a TLS record, many at once.
        let big = vec![7u8; 900 * 1024];
        plain.create("/big", &big, OPEN).await.unwrap();
        let reads: Vec<_> = (0..8).map(|_| c.get_data("/big")).collect();
        for r in futures::future::join_all(reads).await {
            assert_eq!(r.expect("big read").0.len(), big.len());
        }
    });
    // The server said where its TLS port is.
    let log = s.server.log();
    assert!(log.contains("secure client port"), "{log}");
}

/// Plain text, garbage, no certificate, a certificate of another CA: each refused with a clear
/// line in the server's log, and the server serves on as before.
#[test]
fn strangers_on_the_secure_port_are_refused_and_change_nothing() {
    let s = start(&[]);
    let ca = s.path("ca.pem");
    // Another cluster's CA and client.
    let foreign = tempfile::tempdir().unwrap();
    certs(foreign.path(), "127.0.0.1", "app");
    rt().block_on(async {
        // No certificate: the handshake is refused.
        assert!(tls_client(s.port, &ca, None).await.is_err());
        // A certificate this server's CA did not sign.
        assert!(
            tls_client(s.port, &ca, Some(&foreign.path().join("client-app.pem")))
                .await
                .is_err()
        );
    });
    // The ZooKeeper protocol in plain text, and garbage.
    for bytes in [
        &b"\x00\x00\x00\x2c\x00\x00\x00\x00"[..],
        b"ruok",
        &[0xffu8; 64][..],
    ] {
        let mut t = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = t.write_all(bytes);
        let mut buf = [0u8; 256];
        // Refused: an alert or the end of the stream, never a ZooKeeper answer.
        let n = t.read(&mut buf).unwrap_or(0);
        assert!(
            n == 0 || buf[0] == 0x15,
            "answer to a stranger: {:?}",
            &buf[..n]
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = s.server.log();
        if log.matches("TLS handshake with").count() >= 5 || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        log.contains("peer sent no certificates"),
        "no line for the client without a certificate:\n{log}"
    );
    assert!(
        log.matches("TLS handshake with").count() >= 5,
        "a refused stranger without a log line:\n{log}"
    );
    // Nothing changed: the real clients are served on both ports.
    rt().block_on(async {
        let c = tls_client(s.port, &ca, Some(&s.path("client-app.pem")))
            .await
            .expect("TLS client after the strangers");
        c.create("/after", b"", OPEN).await.unwrap();
        let plain = plain_client(&s.server.addr()).await;
        assert!(plain.check_stat("/after").await.unwrap().is_some());
    });
}

/// The key and trust store replaced on disk (a new CA, as after a rotation): new connections
/// use the new files without a restart; a broken file keeps the last good ones.
#[test]
fn replaced_certificates_are_used_without_a_restart() {
    let s = start(&[]);
    let old = tempfile::tempdir().unwrap();
    for f in ["ca.pem", "client-app.pem"] {
        std::fs::copy(s.path(f), old.path().join(f)).unwrap();
    }
    rt().block_on(async {
        tls_client(s.port, &s.path("ca.pem"), Some(&s.path("client-app.pem")))
            .await
            .expect("before");
    });
    // A new CA and certificates in the same files.
    for f in ["ca.pem", "ca-key.pem"] {
        std::fs::remove_file(s.path(f)).unwrap();
    }
    certs(s.dir.path(), "127.0.0.1", "app");
    let deadline = Instant::now() + Duration::from_secs(15);
    rt().block_on(async {
        loop {
            let new = tls_client(s.port, &s.path("ca.pem"), Some(&s.path("client-app.pem"))).await;
            if new.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the new certificates are not used"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // The old CA's clients are refused now.
        assert!(tls_client(
            s.port,
            &old.path().join("ca.pem"),
            Some(&old.path().join("client-app.pem"))
        )
        .await
        .is_err());
    });
    let log = s.server.log();
    assert!(log.contains("TLS key / trust store changed"), "{log}");
    // A broken key store: the server keeps the last good one and says so.
    std::fs::write(s.path("server-127.0.0.1.pem"), "not a key").unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    rt().block_on(async {
        tls_client(s.port, &s.path("ca.pem"), Some(&s.path("client-app.pem")))
            .await
            .expect("the last good certificates stay in use");
    });
    assert!(
        s.server
            .log()
            .contains("cannot be loaded, the previous one stays in use"),
        "{}",
        s.server.log()
    );
}

/// Bad TLS settings stop the server at start with a message that names the file and the key.
#[test]
fn bad_tls_settings_stop_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    certs(dir.path(), "127.0.0.1", "app");
    let run = |sets: &[String]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keeper"));
        cmd.arg("server")
            .args([
                "--set",
                "client.address=127.0.0.1",
                "--set",
                "admin.enabled=false",
            ])
            .arg("--set")
            .arg(format!("client.port={}", free_port()))
            .arg("--set")
            .arg(format!(
                "storage.data_dir={}",
                dir.path().join("data").display()
            ));
        for s in sets {
            cmd.arg("--set").arg(s);
        }
        let out = cmd.output().expect("keeper server");
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let port = format!("client.secure_port={}", free_port());
    let ks = |p: &str| format!("tls.key_store={}", dir.path().join(p).display());
    let ts = format!("tls.trust_store={}", dir.path().join("ca.pem").display());
    let err = run(std::slice::from_ref(&port));
    assert!(err.contains("tls.key_store"), "{err}");
    let err = run(&[port.clone(), ks("server-127.0.0.1.pem")]);
    assert!(
        err.contains("tls.trust_store") && err.contains("client_auth"),
        "{err}"
    );
    let err = run(&[port.clone(), ks("missing.pem"), ts.clone()]);
    assert!(
        err.contains("missing.pem") && err.contains("key store"),
        "{err}"
    );
    // A trust store in the key store's place: certificates and no key.
    let err = run(&[port.clone(), ks("ca.pem"), ts.clone()]);
    assert!(err.contains("no private key"), "{err}");
    let err = run(&[
        port.clone(),
        ks("server-127.0.0.1.pem"),
        ts,
        "tls.key_store_type=JKS".into(),
    ]);
    assert!(
        err.contains("tls.key_store_type") && err.contains("PEM"),
        "{err}"
    );
}
