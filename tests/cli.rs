//! `keeper cli` (the zkCli.sh-compatible client) run as a process against a real
//! `keeper server`.
//!
//! Each test starts its own server on a free port and works below its own chroot.
//! Set `KEEPER_CLI_TEST_SERVER=host:port` to run the same tests against an already
//! running server instead (e.g. Apache ZooKeeper, to check the expectations).

mod common;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(30);

struct Target {
    _server: Option<common::Server>,
    /// `host:port` of the server.
    addr: String,
    /// `host:port/chroot` private to the test.
    base: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn target(name: &str) -> Target {
    let (server, addr) = match std::env::var("KEEPER_CLI_TEST_SERVER") {
        Ok(addr) if !addr.is_empty() => (None, addr),
        _ => {
            let s = common::Server::start(&[]);
            let addr = s.addr();
            (Some(s), addr)
        }
    };
    let root = format!(
        "/cli-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let out = run(&addr, &["create", &root]);
    assert_eq!(out.code, 0, "creating {root}: {out:?}");
    Target {
        _server: server,
        base: format!("{addr}{root}"),
        addr,
    }
}

struct Out {
    stdout: String,
    stderr: String,
    code: i32,
}

/// Failure messages show at most the first 3000 characters of each stream.
impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cut = |s: &str| -> String {
            match s.char_indices().nth(3000) {
                Some((i, _)) => format!("{}... ({} bytes)", &s[..i], s.len()),
                None => s.to_string(),
            }
        };
        f.debug_struct("Out")
            .field("code", &self.code)
            .field("stdout", &cut(&self.stdout))
            .field("stderr", &cut(&self.stderr))
            .finish()
    }
}

fn wait_bounded(mut child: Child) -> Out {
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("keeper cli did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Out {
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
        code: status.code().unwrap_or(-1),
    }
}

fn cli_command(server: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keeper"));
    c.arg("cli")
        .arg("-server")
        .arg(server)
        .arg("-timeout")
        .arg("10000")
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// One-shot `keeper cli -server <server> args...`.
fn run(server: &str, args: &[&str]) -> Out {
    wait_bounded(
        cli_command(server)
            .args(args)
            .spawn()
            .expect("spawn keeper cli"),
    )
}

/// Interactive session fed from stdin; `steps` are lines or pauses (`None`: 500 ms,
/// then `between(step index)`, then 500 ms more for asynchronous watch events).
fn interactive(server: &str, steps: &[Option<&str>], between: impl Fn(usize)) -> Out {
    let mut child = cli_command(server)
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn keeper cli");
    let mut stdin = child.stdin.take().unwrap();
    for (i, step) in steps.iter().enumerate() {
        match step {
            Some(line) => {
                stdin.write_all(line.as_bytes()).unwrap();
                stdin.write_all(b"\n").unwrap();
                stdin.flush().unwrap();
            }
            None => {
                std::thread::sleep(Duration::from_millis(500));
                between(i);
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    drop(stdin);
    wait_bounded(child)
}

fn assert_stat(text: &str) {
    let keys = [
        "cZxid = 0x",
        "ctime = ",
        "mZxid = 0x",
        "mtime = ",
        "pZxid = 0x",
        "cversion = ",
        "dataVersion = ",
        "aclVersion = ",
        "ephemeralOwner = 0x",
        "dataLength = ",
        "numChildren = ",
    ];
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("cZxid = 0x"))
        .unwrap_or_else(|| panic!("no stat in {text:?}"));
    for (i, k) in keys.iter().enumerate() {
        assert!(
            lines.get(start + i).is_some_and(|l| l.starts_with(k)),
            "line {} of stat should start with {k:?}: {text}",
            start + i
        );
    }
    // Java Date.toString(): "Sat Nov 21 16:09:25 UTC 2026".
    let ctime = &lines[start + 1]["ctime = ".len()..];
    let parts: Vec<&str> = ctime.split(' ').collect();
    assert_eq!(parts.len(), 6, "ctime {ctime:?}");
    assert_eq!(parts[3].len(), 8, "ctime {ctime:?}");
}

#[test]
fn one_shot_crud_and_errors() {
    let t = target("crud");
    let b = t.base.as_str();

    let o = run(b, &["create", "/a", "hello"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, "Created /a\n"), "{o:?}");
    let o = run(b, &["create", "/a", "again"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Node already exists: /a\n")
    );
    assert_eq!(run(b, &["create", "/a/z"]).code, 0);
    assert_eq!(run(b, &["create", "/a/b", "x"]).code, 0);

    let o = run(b, &["get", "/a"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "hello\n"));
    let o = run(b, &["get", "-s", "/a"]);
    assert!(o.stdout.starts_with("hello\ncZxid = 0x"), "{o:?}");
    assert_stat(&o.stdout);
    assert!(
        o.stdout.contains("\ndataLength = 5\nnumChildren = 2\n"),
        "{o:?}"
    );

    let o = run(b, &["ls", "/a"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "[b, z]\n"));
    let o = run(b, &["ls", "-s", "/a"]);
    assert!(o.stdout.starts_with("[b, z]\ncZxid"), "{o:?}");
    let o = run(b, &["ls", "-R", "/"]);
    assert_eq!(o.stdout, "/\n/a\n/a/b\n/a/z\n");

    let o = run(b, &["set", "-s", "/a", "world"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("dataVersion = 1\n"), "{o:?}");
    let o = run(b, &["set", "-v", "7", "/a", "x"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "version No is not valid : /a\n")
    );
    assert_eq!(run(b, &["set", "-v", "1", "/a", "v2"]).code, 0);

    let o = run(b, &["stat", "/a"]);
    assert_eq!(o.code, 0);
    assert_stat(&o.stdout);
    assert!(o.stdout.contains("dataVersion = 2\n"));
    let o = run(b, &["stat", "/nope"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Node does not exist: /nope\n")
    );
    let o = run(b, &["get", "/nope"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Node does not exist: /nope\n")
    );
    let o = run(b, &["ls", "/nope"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Node does not exist: /nope\n")
    );

    let o = run(b, &["delete", "/a"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "Node not empty: /a\n"));
    let o = run(b, &["delete", "-v", "3", "/a/b"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "version No is not valid : /a/b\n")
    );
    assert_eq!(run(b, &["delete", "-v", "0", "/a/b"]).code, 0);
    let o = run(b, &["getAllChildrenNumber", "/"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "2\n"));
    assert_eq!(run(b, &["deleteall", "/a"]).code, 0);
    assert_eq!(run(b, &["ls", "/"]).stdout, "[]\n");

    let o = run(b, &["sync", "/"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "Sync is OK\n"));
}

#[test]
fn one_shot_usage_and_parse_errors() {
    let t = target("usage");
    let b = t.base.as_str();
    let o = run(b, &["bogus"]);
    assert_eq!(o.code, 127);
    assert!(o.stderr.starts_with("ZooKeeper -server host:port"), "{o:?}");
    assert!(o
        .stderr
        .ends_with("Command not found: Command not found bogus\n"));
    let o = run(b, &["ls"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, "ls [-s] [-w] [-R] path\n"));
    let o = run(b, &["ls", "-x", "/"]);
    assert_eq!(o.code, 1);
    assert_eq!(o.stderr, "Unrecognized option: -x\n");
    let o = run(b, &["create", "noslash"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Path must start with / character\n")
    );
    let o = run(b, &["create", "-c", "-e", "/x"]);
    assert_eq!(o.code, 1);
    let o = run(b, &["removewatches", "/"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "KeeperErrorCode = No such watcher for /\n")
    );
    let o = run(b, &["help"]);
    assert_eq!(o.code, 0);
    assert!(o
        .stdout
        .contains("\tcreate [-s] [-e] [-c] [-t ttl] path [data] [acl]\n"));
}

#[test]
fn one_shot_connection_refused() {
    let port = common::free_port();
    let o = run(&format!("127.0.0.1:{port}"), &["ls", "/"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "KeeperErrorCode = ConnectionLoss for /\n")
    );
}

#[test]
fn node_modes_and_chroot() {
    let t = target("modes");
    let b = t.base.as_str();
    assert_eq!(run(b, &["create", "/q"]).code, 0);
    let o = run(b, &["create", "-s", "/q/n-", "x"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (0, "Created /q/n-0000000000\n")
    );
    let o = run(b, &["create", "-s", "/q/n-"]);
    assert_eq!(o.stderr, "Created /q/n-0000000001\n");
    let o = run(b, &["create", "-c", "/box"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, "Created /box\n"));

    // An ephemeral node lives as long as the one-shot session.
    let o = run(b, &["create", "-e", "/eph"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, "Created /eph\n"));
    assert_eq!(run(b, &["ls", "/"]).stdout, "[box, q]\n");

    // The chroot applies to every path: the same nodes seen from the real root.
    let root = &b[t.addr.len()..];
    let o = run(&t.addr, &["ls", root]);
    assert_eq!(o.stdout, "[box, q]\n");
    let o = run(&t.addr, &["get", &format!("{root}/q/n-0000000000")]);
    assert_eq!(o.stdout, "x\n");
}

#[test]
fn acls_and_errors() {
    let t = target("acl");
    let b = t.base.as_str();
    let o = run(b, &["getAcl", "/"]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "'world,'anyone\n: cdrwa\n")
    );

    assert_eq!(run(b, &["create", "/ro", "x", "world:anyone:r"]).code, 0);
    let o = run(b, &["getAcl", "-s", "/ro"]);
    assert!(o.stdout.starts_with("'world,'anyone\n: r\ncZxid"), "{o:?}");
    assert_stat(&o.stdout);
    let o = run(b, &["set", "/ro", "y"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Insufficient permission : /ro\n")
    );
    let o = run(b, &["create", "/ro/child"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Insufficient permission : /ro/child\n")
    );
    let o = run(b, &["setAcl", "/ro", "world:anyone:cdrwa"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Insufficient permission : /ro\n")
    );

    // Bad ACL strings: what is wrong, then a refusal before anything reaches the server (zkCli
    // applies what it could parse: `world:anyone:zz` locked a node with permissions 0).
    let refused = |acl: &str| {
        format!(
            "ACL '{acl}' not applied, nothing changed: each entry is scheme:id:perms with perms \
             made of the letters cdrwa\n"
        )
    };
    let o = run(b, &["create", "/bad", "x", "bogus"]);
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        format!(
            "bogus does not have the form scheme:id:perm\n{}",
            refused("bogus")
        )
    );
    assert_eq!(run(b, &["stat", "/bad"]).code, 1, "not created");
    assert_eq!(run(b, &["create", "/w"]).code, 0);
    let o = run(b, &["setAcl", "/w", "world:anyone:zz"]);
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        format!(
            "Unknown perm type: z\nUnknown perm type: z\n\
             world:anyone:zz grants no permission (permissions are letters of cdrwa)\n{}",
            refused("world:anyone:zz")
        )
    );
    let o = run(b, &["getAcl", "/w"]);
    assert_eq!(
        o.stdout, "'world,'anyone\n: cdrwa\n",
        "the node keeps its ACL"
    );

    let o = run(b, &["setAcl", "-s", "/", "world:anyone:cdrwa"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("aclVersion = 1\n"), "{o:?}");

    // -R applies the ACL to the whole subtree.
    assert_eq!(run(b, &["create", "/t"]).code, 0);
    assert_eq!(run(b, &["create", "/t/a"]).code, 0);
    assert_eq!(run(b, &["create", "/t/a/b"]).code, 0);
    let o = run(
        b,
        &["setAcl", "-R", "/t", "world:anyone:cdr,ip:127.0.0.1:a"],
    );
    assert_eq!(o.code, 0, "{o:?}");
    let o = run(b, &["getAcl", "/t/a/b"]);
    assert_eq!(o.stdout, "'world,'anyone\n: cdr\n'ip,'127.0.0.1\n: a\n");
}

#[test]
fn digest_auth_in_a_session() {
    let t = target("auth");
    let b = t.base.as_str();
    // digest: only the authenticated session may read. sha1("u:p") in base64:
    let digest = "digest:u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=:cdrwa";
    assert_eq!(run(b, &["create", "/sec", "s3", digest]).code, 0);
    let o = run(b, &["get", "/sec"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Insufficient permission : /sec\n")
    );
    let o = interactive(
        b,
        &[
            Some("addauth digest u:p"),
            Some("get /sec"),
            Some("getAcl /sec"),
            Some("whoami"),
            Some("create /mine x auth::cdrwa"),
            Some("getAcl /mine"),
        ],
        |_| {},
    );
    assert!(o.stdout.contains("\ns3\n"), "{o:?}");
    assert!(
        o.stdout
            .contains("'digest,'u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=\n: cdrwa\n"),
        "{o:?}"
    );
    assert!(o.stdout.contains("Auth scheme: User\n"), "{o:?}");
    assert!(o.stdout.contains("digest: u\n"), "{o:?}");
    assert_eq!(o.code, 0, "{o:?}");
}

#[test]
fn interactive_session_prints_watches() {
    let t = target("watch");
    let b = t.base.to_string();
    let bump = |i: usize| {
        let data = format!("v{i}");
        let o = run(&b, &["set", "/w", &data]);
        assert_eq!(o.code, 0, "{o:?}");
    };
    let o = interactive(
        &b,
        &[
            Some("create /w x"),
            Some("get -w /w"),
            None, // set /w v2: NodeDataChanged
            Some("ls -w /"),
            Some("create -e /e"),
            Some("getEphemerals"),
            None, // set /w (no watch left)
            Some("addWatch /w"),
            None, // set /w: persistent recursive watch fires
            Some("removewatches /w"),
            Some("history"),
            Some("close"),
            Some("ls /"),
            Some("quit"),
        ],
        bump,
    );
    assert_eq!(o.code, 0, "{o:?}");
    let s = &o.stdout;
    assert!(s.starts_with("Connecting to "), "{o:?}");
    assert!(
        s.contains("WATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n"),
        "{o:?}"
    );
    let changed = "WATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/w\n";
    assert_eq!(s.matches(changed).count(), 2, "{o:?}");
    assert!(
        s.contains("WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/\n"),
        "{o:?}"
    );
    assert!(s.contains("[/e]\n"), "{o:?}");
    assert!(
        s.contains("WatchedEvent state:SyncConnected type:PersistentWatchRemoved path:/w\n"),
        "{o:?}"
    );
    assert!(s.contains("6 - removewatches /w\n7 - history\n"), "{o:?}");
    assert!(
        s.contains("WatchedEvent state:Closed type:None path:null\nNot connected\n"),
        "{o:?}"
    );
    assert!(o.stderr.contains("Created /w\n"), "{o:?}");

    // The ephemeral node went away with the session.
    assert_eq!(run(&b, &["ls", "/"]).stdout, "[w]\n");
}

// ---------------------------------------------------------------------------
// Configuration mistakes, caught by `keeper server` and `keeper config`
// ---------------------------------------------------------------------------

/// `keeper <args>` run in `dir` with the given `KEEPER_*` variables only (those of this
/// process are removed), stdin closed.
fn keeper_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keeper"));
    c.args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars() {
        if name.starts_with("KEEPER_") {
            c.env_remove(name);
        }
    }
    for (name, value) in env {
        c.env(name, value);
    }
    wait_bounded(c.spawn().expect("spawn keeper"))
}

#[test]
fn zoo_cfg_without_data_dir_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    std::fs::write(
        dir.path().join("zoo.cfg"),
        format!("tickTime=2000\nclientPort={port}\nclientPortAddress=127.0.0.1\n"),
    )
    .unwrap();
    for cmd in ["server", "config"] {
        let o = keeper_in(dir.path(), &[cmd, "--config", "zoo.cfg"], &[]);
        assert_eq!(o.code, 2, "{cmd}: {o:?}");
        assert!(
            o.stderr
                .contains("keeper: configuration error: `dataDir` is not set in zoo.cfg")
                && o.stderr.contains("storage.data_dir"),
            "{cmd}: {o:?}"
        );
    }
    // Nothing was written to the default ./data.
    assert!(!dir.path().join("data").exists());
}

#[test]
fn config_warns_of_misspelt_environment_and_keys_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("zoo.cfg"),
        "dataDir=zk\nticktime=3000\nreconfigEnabled=true\n",
    )
    .unwrap();
    let o = keeper_in(
        dir.path(),
        &["config", "--config", "zoo.cfg", "--set", "client.prot=2183"],
        &[("KEEPER_CLIENT_PORT", "2182")],
    );
    assert_eq!(o.code, 0, "{o:?}");
    for expected in [
        "warning: unknown key `ticktime` (from zoo.cfg, line 2), ignored; did you mean `tickTime`?",
        "warning: zoo.cfg key `reconfigEnabled=true` (from zoo.cfg, line 3): dynamic \
         reconfiguration is not implemented yet; reconfig requests are refused with ReconfigDisabled",
        "warning: environment variable KEEPER_CLIENT_PORT is not a setting, ignored",
        "did you mean KEEPER_CLIENT__PORT?",
        "warning: unknown key `client.prot` (from --set), ignored; did you mean `client.port`?",
    ] {
        assert!(o.stderr.contains(expected), "{expected}: {o:?}");
    }
    // The effective configuration is the documented default for the misspelt keys.
    assert!(o.stdout.contains("port = 2181"), "{o:?}");
    assert!(o.stdout.contains("tick_time = 2000"), "{o:?}");
}

#[test]
fn members_on_the_same_address_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--set",
        "server.id=1",
        "--set",
        "storage.data_dir=data",
        "--set",
        "quorum.members.1=127.0.0.1:2888:3888;2181",
        "--set",
        "quorum.members.3=127.0.0.1:2889:3888;2182",
    ];
    for cmd in ["server", "config"] {
        let mut all = vec![cmd];
        all.extend(args);
        let o = keeper_in(dir.path(), &all, &[]);
        assert_eq!(o.code, 2, "{cmd}: {o:?}");
        assert!(
            o.stderr.contains(
                "keeper: configuration error: invalid value `127.0.0.1:2889:3888;2182` for \
                 `quorum.members.3` (from --set): the election address 127.0.0.1:3888 of server 3 \
                 is also the election address of server 1 (quorum.members.1, from --set)"
            ),
            "{cmd}: {o:?}"
        );
    }
    assert!(!dir.path().join("data").exists());
}

#[test]
fn zoo_cfg_value_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("zoo.cfg"),
        "# zoo.cfg\ndataDir=zk\nclientPort=2181\n\n# timing\ninitLimit=10\ntickTime=abc\n",
    )
    .unwrap();
    for cmd in ["server", "config"] {
        let o = keeper_in(dir.path(), &[cmd, "--config", "zoo.cfg"], &[]);
        assert_eq!(o.code, 2, "{cmd}: {o:?}");
        assert!(
            o.stderr.contains(
                "keeper: configuration error: invalid value `abc` for `tickTime` \
                 (from zoo.cfg, line 7): expected a positive integer (milliseconds)"
            ),
            "{cmd}: {o:?}"
        );
    }
    assert!(!dir.path().join("zk").exists());
}
