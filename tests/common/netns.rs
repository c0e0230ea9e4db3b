//! Hosts with addresses of their own, on one machine: Linux network namespaces that the test
//! makes and removes itself (root needed). A "switch" namespace holds a bridge; each host
//! namespace is wired to it by a veth pair and has a private address (10.77.0.0/24) that exists
//! only inside these namespaces, its own loopback and its own `/etc/hosts` (`ip netns exec`
//! mounts `/etc/netns/<name>/hosts` over it), so members can be named by host name. Servers
//! run inside their host's namespace; the test's clients run on threads that entered the client
//! host's namespace. Faults are made with `ip` inside a namespace: a link down (silent: no reset
//! reaches anyone), routes that drop (`blackhole`) or refuse (`prohibit`) one destination.
//!
//! Everything is named after the test process's pid and removed on drop; namespaces left by a
//! test process that died are removed by the next one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const SUBNET: &str = "10.77.0";

/// `ip` with arguments; Err with its stderr when it fails.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(args: &[&str]) {
    ip(args).unwrap_or_else(|e| panic!("{e}"));
}

/// Remove what earlier test processes that died left behind.
fn sweep() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("kt") else {
            continue;
        };
        let pid: Option<u32> = rest.split('-').next().and_then(|p| p.parse().ok());
        if let Some(pid) = pid {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = ip(&["netns", "del", name]);
                let _ = std::fs::remove_dir_all(format!("/etc/netns/{name}"));
            }
        }
    }
}

pub struct Net {
    prefix: String,
    /// Host i (1-based) has the address `SUBNET.i` unless moved.
    pub hosts: usize,
    names: Vec<(String, String)>,
}

impl Net {
    /// `hosts` hosts plus a client host (the last, `hosts + 1`), or Err with the reason this
    /// machine cannot make them (not root, no `ip`, no namespaces).
    pub fn new(hosts: usize) -> Result<Net, String> {
        sweep();
        let prefix = format!("kt{}", std::process::id());
        let mut net = Net {
            prefix,
            hosts,
            names: Vec::new(),
        };
        let sw = net.switch();
        ip(&["netns", "add", &sw])?;
        must(&["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        must(&["-n", &sw, "link", "set", "br0", "up"]);
        for i in 1..=hosts + 1 {
            let ns = net.ns(i);
            must(&["netns", "add", &ns]);
            let port = format!("p{i}");
            must(&[
                "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ]);
            must(&["-n", &sw, "link", "set", &port, "master", "br0", "up"]);
            must(&["-n", &ns, "link", "set", "lo", "up"]);
            must(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{SUBNET}.{i}/24"),
                "dev",
                "eth0",
            ]);
            must(&["-n", &ns, "link", "set", "eth0", "up"]);
        }
        for i in 1..=hosts {
            net.names
                .push((format!("keeper{i}"), format!("{SUBNET}.{i}")));
        }
        net.write_hosts_files();
        Ok(net)
    }

    fn switch(&self) -> String {
        format!("{}-sw", self.prefix)
    }

    /// The namespace of host `i` (the client host is `hosts + 1`).
    pub fn ns(&self, i: usize) -> String {
        format!("{}-h{i}", self.prefix)
    }

    pub fn client_host(&self) -> usize {
        self.hosts + 1
    }

    /// Host `i`'s current address.
    pub fn addr(&self, i: usize) -> String {
        self.names
            .get(i - 1)
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| format!("{SUBNET}.{i}"))
    }

    /// Every host's `/etc/hosts`: `keeper<i>` for each server host. Rewritten in place, so
    /// that processes already running (whose /etc/hosts is a bind mount of it) see the change.
    fn write_hosts_files(&self) {
        let mut text = String::from("127.0.0.1 localhost\n");
        for (name, addr) in &self.names {
            text.push_str(&format!("{addr} {name}\n"));
        }
        for i in 1..=self.hosts + 1 {
            let dir = PathBuf::from(format!("/etc/netns/{}", self.ns(i)));
            std::fs::create_dir_all(&dir).expect("/etc/netns");
            let path = dir.join("hosts");
            // Truncate and write the same file (not a rename): a bind mount follows the inode.
            std::fs::write(&path, &text).expect("hosts file");
        }
    }

    /// Give host `i` a new address (the old one goes), and say so in every hosts file: a VM
    /// replaced under the same name.
    pub fn readdress(&mut self, i: usize, last_octet: u8) {
        let ns = self.ns(i);
        let old = format!("{}/24", self.addr(i));
        let new = format!("{SUBNET}.{last_octet}");
        // The old one first: deleting a primary address takes the secondaries of its subnet
        // with it.
        must(&["-n", &ns, "addr", "del", &old, "dev", "eth0"]);
        must(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{new}/24"),
            "dev",
            "eth0",
        ]);
        self.names[i - 1].1 = new;
        self.write_hosts_files();
    }

    /// Host `i`'s link down (or up): nothing it sends leaves, nothing reaches it, and nobody
    /// gets a reset.
    pub fn link(&self, i: usize, up: bool) {
        must(&[
            "-n",
            &self.ns(i),
            "link",
            "set",
            "eth0",
            if up { "up" } else { "down" },
        ]);
    }

    /// Packets from host `from` to host `to` are dropped silently (one way).
    pub fn drop_route(&self, from: usize, to: usize) {
        must(&[
            "-n",
            &self.ns(from),
            "route",
            "add",
            "blackhole",
            &format!("{}/32", self.addr(to)),
        ]);
    }

    pub fn heal_route(&self, from: usize, to: usize) {
        let _ = ip(&[
            "-n",
            &self.ns(from),
            "route",
            "del",
            "blackhole",
            &format!("{}/32", self.addr(to)),
        ]);
    }

    /// Start `program args` inside host `i`'s namespace.
    pub fn spawn(&self, i: usize, program: &Path, args: &[String], log: &Path) -> Child {
        // Appended: the lines of every start stay.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        Command::new("ip")
            .args(["netns", "exec", &self.ns(i)])
            .arg(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("ip netns exec")
    }

    /// Run `f` on a thread inside host `i`'s namespace (sockets it opens live there).
    pub fn run_in<T: Send + 'static>(&self, i: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.ns(i));
        std::thread::spawn(move || {
            enter(&path);
            f()
        })
        .join()
        .expect("thread in a namespace")
    }

    /// A thread inside host `i`'s namespace, left running.
    pub fn spawn_in(
        &self,
        i: usize,
        f: impl FnOnce() + Send + 'static,
    ) -> std::thread::JoinHandle<()> {
        let path = format!("/run/netns/{}", self.ns(i));
        std::thread::spawn(move || {
            enter(&path);
            f()
        })
    }
}

/// Move the calling thread into the network namespace at `path`.
pub fn enter(path: &str) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // SAFETY: setns on an open namespace file; it changes only this thread's namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

impl Drop for Net {
    fn drop(&mut self) {
        for i in 1..=self.hosts + 1 {
            let ns = self.ns(i);
            let _ = ip(&["netns", "del", &ns]);
            let _ = std::fs::remove_dir_all(format!("/etc/netns/{ns}"));
        }
        let _ = ip(&["netns", "del", &self.switch()]);
    }
}
