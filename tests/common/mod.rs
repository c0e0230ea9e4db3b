//! Test harness: real `keeper` processes on free loopback ports with temporary data dirs.
#![allow(dead_code)]

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

pub struct Server {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    extra: Vec<String>,
}

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Server {
            port: free_port(),
            dir,
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
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
            .arg("server.four_letter_words=*");
        for e in &self.extra {
            cmd.arg("--set").arg(e);
        }
        let log = std::fs::File::create(self.dir.path().join("server.log")).expect("log file");
        cmd.stdout(Stdio::null()).stderr(Stdio::from(log));
        self.child = Some(cmd.spawn().expect("start keeper"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            // Any answer means the port serves (ruok may be off the whitelist).
            if four_letter(self.port, "ruok")
                .map(|r| !r.is_empty())
                .unwrap_or(false)
            {
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
            .arg("server.four_letter_words=*");
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
