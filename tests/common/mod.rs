//! Test harness: real `keeper` processes on free loopback ports with temporary data dirs.
#![allow(dead_code)]

pub mod cluster;
pub mod netns;
pub mod otlp;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Send a four-letter word and read the whole answer.
pub fn four_letter(port: u16, word: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(word.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// A four-letter word to `ip:port` (another loopback address, a namespace's host), with short
/// timeouts: a host that is down or paused answers `None` quickly.
pub fn four_letter_at(ip: &str, port: u16, word: &str) -> Option<String> {
    let to = std::net::SocketAddr::new(ip.parse().ok()?, port);
    let mut s = TcpStream::connect_timeout(&to, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The `Mode:` line of `srvr` at `ip:port`.
pub fn mode_at(ip: &str, port: u16) -> Option<String> {
    four_letter_at(ip, port, "srvr")?
        .lines()
        .find_map(|l| l.strip_prefix("Mode: ").map(str::to_string))
}

/// A plain HTTP/1.0 GET on loopback: (status code, body).
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, body.to_string()))
}

/// Whether a `ruok` answer comes from a keeper server: `imok`, or the whitelist refusal. A
/// connection to a port nobody listens on can connect to itself on loopback and read back its
/// own `ruok`: that is not an answer.
pub fn is_serving_answer(r: std::io::Result<String>) -> bool {
    r.map(|r| r == "imok" || r.contains("is not executed because it is not in the whitelist"))
        .unwrap_or(false)
}

pub struct Server {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    extra: Vec<String>,
    /// Environment of the next starts (e.g. `KEEPER_FAULTS`).
    pub env: Vec<(String, String)>,
}

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        Server::start_with_env(extra, &[])
    }

    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Server {
            port: free_port(),
            dir,
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        s.spawn();
        s
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keeper"));
        cmd.arg("server")
            .arg("--set")
            .arg(format!("client.port={}", self.port))
            .arg("--set")
            .arg("client.address=127.0.0.1")
            .arg("--set")
            .arg(format!("storage.data_dir={}", self.data_dir().display()))
            .arg("--set")
            .arg("server.four_letter_words=*")
            // Parallel tests would all try port 8080; a test that wants it turns it on.
            .arg("--set")
            .arg("admin.enabled=false");
        for e in &self.extra {
            cmd.arg("--set").arg(e);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let log = std::fs::File::create(self.dir.path().join("server.log")).expect("log file");
        cmd.stdout(Stdio::null()).stderr(Stdio::from(log));
        self.child = Some(cmd.spawn().expect("start keeper"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if is_serving_answer(four_letter(self.port, "ruok")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("keeper did not start on port {}: {}", self.port, self.log());
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The running process's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts that are expected to fail (durability tests: corrupt files).
impl Server {
    /// Path of the current process's stderr (overwritten at every start).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Kill the process if it runs, then start it again on the same port and data dir
    /// without waiting for it to serve: for starts that are expected to fail.
    pub fn spawn_no_wait(&mut self) {
        self.kill();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keeper"));
        cmd.arg("server")
            .arg("--set")
            .arg(format!("client.port={}", self.port))
            .arg("--set")
            .arg("client.address=127.0.0.1")
            .arg("--set")
            .arg(format!("storage.data_dir={}", self.data_dir().display()))
            .arg("--set")
            .arg("server.four_letter_words=*")
            // Parallel tests would all try port 8080; a test that wants it turns it on.
            .arg("--set")
            .arg("admin.enabled=false");
        for e in &self.extra {
            cmd.arg("--set").arg(e);
        }
        let log = std::fs::File::create(self.log_path()).expect("log file");
        cmd.stdout(Stdio::null()).stderr(Stdio::from(log));
        self.child = Some(cmd.spawn().expect("start keeper"));
    }

    /// Wait up to `within` for the process to exit. Its exit status, or None if it still runs
    /// (it is left running; `kill` or drop stops it).
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            let c = self.child.as_mut()?;
            match c.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Some(status);
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => return None,
            }
        }
    }
}

// ---------------------------------------------------------------- ensembles

/// One member of an [`Ensemble`]: its id and loopback ports.
#[derive(Debug, Clone)]
pub struct EnsembleMember {
    pub id: u64,
    pub quorum_port: u16,
    pub election_port: u16,
    pub client_port: u16,
    pub observer: bool,
}

/// A quorum of real `keeper server` processes on loopback: voters get ids `1..=voters`,
/// observers the ids after them. Every member has its data dir `data-<id>` and its log
/// `server-<id>.log` (the stderr of every start, appended, each start after a `=== start` line)
/// in one temp dir. Dropping it kills every process; when the thread panics (or after
/// [`Ensemble::keep_files`], or with `KEEP_ENSEMBLE_FILES` set) the temp dir is kept and its
/// path printed.
pub struct Ensemble {
    pub dir: tempfile::TempDir,
    pub members: Vec<EnsembleMember>,
    extra: Vec<String>,
    procs: std::collections::BTreeMap<u64, Child>,
    paused: std::collections::BTreeSet<u64>,
    starts: std::collections::BTreeMap<u64, u32>,
    keep: bool,
    /// Each member's (metrics, AdminServer) ports, once [`Ensemble::with_http`] chose them.
    http: std::collections::BTreeMap<u64, (u16, u16)>,
    /// Environment variables of every member's process.
    envs: Vec<(String, String)>,
    /// And of one member's (e.g. `KEEPER_FAULTS`), for its next starts.
    member_envs: std::collections::BTreeMap<u64, Vec<(String, String)>>,
    /// Another `keeper` binary for a member's next starts (an upgrade from an earlier build).
    bins: std::collections::BTreeMap<u64, PathBuf>,
}

impl Ensemble {
    /// Choose ports and write the configuration; nothing runs yet. `extra` are more
    /// `--set key=value` settings for every member.
    pub fn new(voters: usize, observers: usize, extra: &[&str]) -> Ensemble {
        let n = voters + observers;
        // Hold every probe socket until all ports are chosen, so no port repeats.
        let probes: Vec<TcpListener> = (0..3 * n)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("free port"))
            .collect();
        let port = |i: usize| probes[i].local_addr().expect("addr").port();
        let members: Vec<EnsembleMember> = (0..n)
            .map(|i| EnsembleMember {
                id: i as u64 + 1,
                quorum_port: port(3 * i),
                election_port: port(3 * i + 1),
                client_port: port(3 * i + 2),
                observer: i >= voters,
            })
            .collect();
        drop(probes);
        let dir = tempfile::Builder::new()
            .prefix("keeper-ensemble-")
            .tempdir()
            .expect("tempdir");
        let e = Ensemble {
            dir,
            members,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            procs: Default::default(),
            paused: Default::default(),
            starts: Default::default(),
            keep: false,
            http: Default::default(),
            envs: Vec::new(),
            member_envs: Default::default(),
            bins: std::collections::BTreeMap::new(),
        };
        std::fs::write(e.config_path(), e.config_text()).expect("write config");
        e
    }

    /// Give every member a Prometheus endpoint and an AdminServer on ports of its own (before
    /// starting them). Without it the AdminServer is off (every member would try port 8080).
    pub fn with_http(mut self) -> Ensemble {
        let probes: Vec<TcpListener> = (0..2 * self.members.len())
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("free port"))
            .collect();
        let port = |i: usize| probes[i].local_addr().expect("addr").port();
        for (i, id) in self.ids().into_iter().enumerate() {
            self.http.insert(id, (port(2 * i), port(2 * i + 1)));
        }
        self
    }

    /// Set an environment variable for every member's process (before starting them).
    pub fn with_env(mut self, key: &str, value: &str) -> Ensemble {
        self.envs.push((key.to_string(), value.to_string()));
        self
    }

    /// Run member `id`'s next starts with `bin` (None: this build's `keeper`).
    pub fn set_member_binary(&mut self, id: u64, bin: Option<PathBuf>) {
        match bin {
            Some(b) => self.bins.insert(id, b),
            None => self.bins.remove(&id),
        };
    }

    /// Stop member `id` as an operator does (SIGTERM), waiting for it to exit (kill -9 after
    /// 30 s).
    pub fn terminate(&mut self, id: u64) {
        if let Some(mut c) = self.procs.remove(&id) {
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    self.paused.remove(&id);
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.paused.remove(&id);
    }

    /// Set (Some) or clear (None) an environment variable of member `id`'s next starts.
    pub fn set_member_env(&mut self, id: u64, key: &str, value: Option<&str>) {
        let vars = self.member_envs.entry(id).or_default();
        vars.retain(|(k, _)| k != key);
        if let Some(v) = value {
            vars.push((key.to_string(), v.to_string()));
        }
    }

    /// Member `id`'s exit status once its process has ended by itself (it is reaped then).
    pub fn exited(&mut self, id: u64) -> Option<std::process::ExitStatus> {
        let status = self.procs.get_mut(&id)?.try_wait().ok()??;
        self.procs.remove(&id);
        Some(status)
    }

    pub fn metrics_port(&self, id: u64) -> u16 {
        self.http[&id].0
    }

    pub fn admin_port(&self, id: u64) -> u16 {
        self.http[&id].1
    }

    /// [`Ensemble::new`], start every member, and wait until all serve with one leader.
    pub fn start(voters: usize, observers: usize, extra: &[&str]) -> Ensemble {
        let mut e = Ensemble::new(voters, observers, extra);
        e.start_all();
        e.wait_modes(Duration::from_secs(30));
        e
    }

    fn config_text(&self) -> String {
        let mut t = String::from(
            "[server]\ntick_time = 200\ninit_limit = 10\nsync_limit = 5\n\
             four_letter_words = \"*\"\n[client]\naddress = \"127.0.0.1\"\n[quorum.members]\n",
        );
        for m in &self.members {
            t.push_str(&format!(
                "{} = \"127.0.0.1:{}:{}{};{}\"\n",
                m.id,
                m.quorum_port,
                m.election_port,
                if m.observer { ":observer" } else { "" },
                m.client_port
            ));
        }
        t
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("ensemble.toml")
    }

    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("data-{id}"))
    }

    pub fn log_path(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("server-{id}.log"))
    }

    /// Everything member `id` logged, over all its starts.
    pub fn log(&self, id: u64) -> String {
        std::fs::read_to_string(self.log_path(id)).unwrap_or_default()
    }

    /// The last `lines` lines of every member's log, for failure messages.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for m in &self.members {
            let log = self.log(m.id);
            let all: Vec<&str> = log.lines().collect();
            out.push_str(&format!("--- server {} (last {lines} lines)\n", m.id));
            for l in &all[all.len().saturating_sub(lines)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    pub fn ids(&self) -> Vec<u64> {
        self.members.iter().map(|m| m.id).collect()
    }

    pub fn voters(&self) -> Vec<u64> {
        self.members
            .iter()
            .filter(|m| !m.observer)
            .map(|m| m.id)
            .collect()
    }

    pub fn observers(&self) -> Vec<u64> {
        self.members
            .iter()
            .filter(|m| m.observer)
            .map(|m| m.id)
            .collect()
    }

    pub fn member(&self, id: u64) -> &EnsembleMember {
        self.members
            .iter()
            .find(|m| m.id == id)
            .unwrap_or_else(|| panic!("no member {id}"))
    }

    pub fn client_port(&self, id: u64) -> u16 {
        self.member(id).client_port
    }

    /// `127.0.0.1:<client port>` of member `id`.
    pub fn addr(&self, id: u64) -> String {
        format!("127.0.0.1:{}", self.client_port(id))
    }

    /// A connect string of the client ports of `ids`.
    pub fn connect_string(&self, ids: &[u64]) -> String {
        ids.iter()
            .map(|&id| self.addr(id))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A connect string of every member's client port.
    pub fn connect_string_all(&self) -> String {
        self.connect_string(&self.ids())
    }

    /// Start every member that is not running, then wait until each answers on its client port.
    pub fn start_all(&mut self) {
        for id in self.ids() {
            if !self.procs.contains_key(&id) {
                self.spawn(id);
            }
        }
        for id in self.ids() {
            self.wait_listening(id);
        }
    }

    /// Start member `id` (same ports and data dir as before) and wait until its client port
    /// answers (it may still be electing or syncing).
    pub fn start_one(&mut self, id: u64) {
        assert!(!self.procs.contains_key(&id), "server {id} already runs");
        self.spawn(id);
        self.wait_listening(id);
    }

    fn spawn(&mut self, id: u64) {
        self.spawn_as(id, self.config_path(), false);
    }

    fn wait_listening(&mut self, id: u64) {
        let port = self.client_port(id);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if is_serving_answer(four_letter(port, "ruok")) {
                return;
            }
            if let Some(c) = self.procs.get_mut(&id) {
                if let Ok(Some(status)) = c.try_wait() {
                    self.procs.remove(&id);
                    panic!(
                        "server {id} exited at start ({status}):\n{}",
                        self.log_tails(40)
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "server {id} did not listen on {port}:\n{}",
            self.log_tails(40)
        );
    }

    /// kill -9 member `id` (running or paused) and reap it.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut c) = self.procs.remove(&id) {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.paused.remove(&id);
    }

    /// kill -9 member `id`, then start it again on the same ports and data dir.
    pub fn restart(&mut self, id: u64) {
        self.kill(id);
        self.start_one(id);
    }

    fn signal(&self, id: u64, sig: i32) {
        let c = self
            .procs
            .get(&id)
            .unwrap_or_else(|| panic!("server {id} does not run"));
        let rc = unsafe { libc::kill(c.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", c.id());
    }

    /// SIGSTOP member `id`: its sockets stay open but nothing answers.
    pub fn pause(&mut self, id: u64) {
        self.signal(id, libc::SIGSTOP);
        self.paused.insert(id);
    }

    /// SIGCONT member `id`.
    pub fn resume(&mut self, id: u64) {
        self.signal(id, libc::SIGCONT);
        self.paused.remove(&id);
    }

    /// The process of `id` exists (possibly paused).
    /// The pid of a running member.
    pub fn pid(&self, id: u64) -> Option<u32> {
        self.procs.get(&id).map(|c| c.id())
    }

    pub fn is_running(&self, id: u64) -> bool {
        self.procs.contains_key(&id)
    }

    pub fn is_paused(&self, id: u64) -> bool {
        self.paused.contains(&id)
    }

    /// Members whose process runs and is not paused.
    pub fn running(&self) -> Vec<u64> {
        self.ids()
            .into_iter()
            .filter(|id| self.is_running(*id) && !self.is_paused(*id))
            .collect()
    }

    /// The `srvr` answer of member `id`, None when it cannot be reached.
    pub fn srvr(&self, id: u64) -> Option<String> {
        four_letter(self.client_port(id), "srvr").ok()
    }

    /// `leader`, `follower` or `observer`; None while it does not serve (or cannot be reached).
    pub fn mode(&self, id: u64) -> Option<String> {
        let s = self.srvr(id)?;
        s.lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(|m| m.trim().to_string())
    }

    /// The last zxid `srvr` reports, None while it does not serve.
    pub fn zxid(&self, id: u64) -> Option<i64> {
        let s = self.srvr(id)?;
        s.lines()
            .find_map(|l| l.strip_prefix("Zxid: 0x"))
            .and_then(|z| i64::from_str_radix(z.trim(), 16).ok())
    }

    /// Whether member `id` answers `srvr` with "not currently serving".
    pub fn not_serving(&self, id: u64) -> bool {
        self.srvr(id)
            .map(|s| s.contains("not currently serving"))
            .unwrap_or(false)
    }

    /// Session ids connected to member `id`, from `cons`.
    pub fn sessions_on(&self, id: u64) -> Vec<i64> {
        let cons = four_letter(self.client_port(id), "cons").unwrap_or_default();
        cons.lines()
            .filter_map(|l| {
                let s = l.split("sid=0x").nth(1)?;
                let hex: String = s.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
                u64::from_str_radix(&hex, 16).ok().map(|v| v as i64)
            })
            .collect()
    }

    /// The member a session is connected to, if any running one lists it in `cons`.
    pub fn server_of_session(&self, session: i64) -> Option<u64> {
        self.running()
            .into_iter()
            .find(|&id| self.sessions_on(id).contains(&session))
    }

    /// Modes of the running (unpaused) members, once each of them reports one (exactly one
    /// leader, the others following or observing). Panics with the logs after `within`.
    pub fn wait_modes(&self, within: Duration) -> std::collections::BTreeMap<u64, String> {
        self.wait_modes_of(&self.running(), within)
    }

    /// As [`Ensemble::wait_modes`], for the members `ids` only.
    pub fn wait_modes_of(
        &self,
        ids: &[u64],
        within: Duration,
    ) -> std::collections::BTreeMap<u64, String> {
        let deadline = Instant::now() + within;
        let mut modes = std::collections::BTreeMap::new();
        loop {
            modes.clear();
            for &id in ids {
                if let Some(m) = self.mode(id) {
                    modes.insert(id, m);
                }
            }
            let leaders = modes.values().filter(|m| *m == "leader").count();
            if modes.len() == ids.len() && leaders == 1 {
                return modes;
            }
            if Instant::now() >= deadline {
                panic!(
                    "after {within:?} the modes of {ids:?} are {modes:?}\n{}",
                    self.log_tails(30)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The leader, once every running member reports a mode.
    pub fn wait_leader(&self, within: Duration) -> u64 {
        let modes = self.wait_modes(within);
        *modes
            .iter()
            .find(|(_, m)| *m == "leader")
            .map(|(id, _)| id)
            .expect("a leader")
    }

    /// The running member that reports `Mode: leader` now, if any.
    pub fn leader(&self) -> Option<u64> {
        self.running()
            .into_iter()
            .find(|&id| self.mode(id).as_deref() == Some("leader"))
    }

    /// The running members reporting `Mode: follower` now.
    pub fn followers(&self) -> Vec<u64> {
        self.running()
            .into_iter()
            .filter(|&id| self.mode(id).as_deref() == Some("follower"))
            .collect()
    }

    /// Wait until member `id` says it is not serving; panics with the logs after `within`.
    pub fn wait_not_serving(&self, id: u64, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.not_serving(id) {
            if Instant::now() >= deadline {
                panic!(
                    "server {id} still serves after {within:?}: {:?}\n{}",
                    self.srvr(id),
                    self.log_tails(30)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Keep the temp dir when dropped (its path is printed then).
    pub fn keep_files(&mut self) {
        self.keep = true;
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for id in self.ids() {
            if self.paused.contains(&id) {
                self.signal(id, libc::SIGCONT);
            }
            self.kill(id);
        }
        let keep_all = std::env::var_os("KEEP_ENSEMBLE_FILES").is_some();
        if self.keep || keep_all || std::thread::panicking() {
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
            let path = dir.keep();
            eprintln!(
                "ensemble files (config, data-<id>, server-<id>.log) kept in {}",
                path.display()
            );
        }
    }
}

// ---------------------------------------------------------------- one configuration per member

/// Ensembles where every member has its own configuration file (`ensemble-<id>.toml`), e.g. to
/// route its links to the other members through proxies: the same ids, client ports and
/// observer flags for all, only the other members' quorum and election ports differ.
impl Ensemble {
    /// Path of member `id`'s own configuration file.
    pub fn own_config_path(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("ensemble-{id}.toml"))
    }

    /// Write member `id`'s own configuration: its own entry has its real ports (it binds
    /// them), every other member `m` the `(quorum port, election port)` of `peer_ports(m)`.
    pub fn write_own_config(&self, id: u64, peer_ports: impl Fn(&EnsembleMember) -> (u16, u16)) {
        let mut t = String::from(
            "[server]\ntick_time = 200\ninit_limit = 10\nsync_limit = 5\n\
             four_letter_words = \"*\"\n[client]\naddress = \"127.0.0.1\"\n[quorum.members]\n",
        );
        for m in &self.members {
            let (q, el) = if m.id == id {
                (m.quorum_port, m.election_port)
            } else {
                peer_ports(m)
            };
            t.push_str(&format!(
                "{} = \"127.0.0.1:{q}:{el}{};{}\"\n",
                m.id,
                if m.observer { ":observer" } else { "" },
                m.client_port
            ));
        }
        std::fs::write(self.own_config_path(id), t).expect("write own config");
    }

    /// Start member `id` with its own configuration file (see [`Ensemble::write_own_config`])
    /// and wait until its client port answers.
    pub fn start_one_own_config(&mut self, id: u64) {
        assert!(!self.procs.contains_key(&id), "server {id} already runs");
        self.spawn_with_config(id, self.own_config_path(id));
        self.wait_listening(id);
    }

    /// Start every member that is not running with its own configuration file, then wait until
    /// each answers on its client port.
    pub fn start_all_own_config(&mut self) {
        for id in self.ids() {
            if !self.procs.contains_key(&id) {
                self.spawn_with_config(id, self.own_config_path(id));
            }
        }
        for id in self.ids() {
            self.wait_listening(id);
        }
    }

    /// kill -9 member `id`, then start it again with its own configuration file.
    pub fn restart_own_config(&mut self, id: u64) {
        self.kill(id);
        self.start_one_own_config(id);
    }

    fn spawn_with_config(&mut self, id: u64, config: PathBuf) {
        self.spawn_as(id, config, true);
    }

    /// Start member `id` with `config` (named in its log's start line when `name_config`).
    fn spawn_as(&mut self, id: u64, config: PathBuf, name_config: bool) {
        let n = {
            let n = self.starts.entry(id).or_insert(0);
            *n += 1;
            *n
        };
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(id))
            .expect("log file");
        if name_config {
            let _ = writeln!(log, "=== start {n} of server {id} ({})", config.display());
        } else {
            let _ = writeln!(log, "=== start {n} of server {id}");
        }
        let bin = self
            .bins
            .get(&id)
            .cloned()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_keeper")));
        let mut cmd = Command::new(bin);
        cmd.arg("server")
            .arg("--config")
            .arg(&config)
            .arg("--set")
            .arg(format!("server.id={id}"))
            .arg("--set")
            .arg(format!("storage.data_dir={}", self.data_dir(id).display()))
            .arg("--set")
            .arg("storage.preallocate_size=65536");
        for e in &self.extra {
            cmd.arg("--set").arg(e);
        }
        match self.http.get(&id) {
            Some((metrics, admin)) => {
                for s in [
                    format!("telemetry.metrics_port={metrics}"),
                    "telemetry.metrics_host=127.0.0.1".to_string(),
                    format!("admin.port={admin}"),
                    "admin.address=127.0.0.1".to_string(),
                ] {
                    cmd.arg("--set").arg(s);
                }
            }
            None => {
                cmd.arg("--set").arg("admin.enabled=false");
            }
        }
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        if let Some(vars) = self.member_envs.get(&id) {
            cmd.envs(vars.iter().map(|(k, v)| (k, v)));
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::from(log));
        let child = cmd.spawn().expect("start keeper");
        self.procs.insert(id, child);
        self.paused.remove(&id);
    }
}
