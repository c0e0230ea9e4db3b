//! `keeper ensemble` as a place to try failover: a killed leader is replaced while the others
//! keep running, the failover is printed as it happens, and a member restarts on command.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The first of `n` consecutive free loopback ports.
fn consecutive_free(n: u16, avoid: &[u16]) -> u16 {
    for _ in 0..200 {
        let base = common::free_port();
        if base > 65000 || avoid.iter().any(|a| base.abs_diff(*a) < 8) {
            continue;
        }
        if (0..n).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports");
}

/// `keeper ensemble --size 3` on free ports, once it says it started; tried again on new ports
/// when a port was taken meanwhile (it then stops at once, saying why).
fn start(dir: &std::path::Path) -> (std::process::Child, mpsc::Receiver<String>) {
    for attempt in 0..5 {
        let client = consecutive_free(3, &[]);
        let quorum = consecutive_free(3, &[client]);
        let election = consecutive_free(3, &[client, quorum]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_keeper"))
            .args(["ensemble", "--size", "3", "--dir"])
            .arg(dir.join(format!("e{attempt}")))
            .args(["--client-port", &client.to_string()])
            .args(["--quorum-port", &quorum.to_string()])
            .args(["--election-port", &election.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("keeper ensemble");
        let (tx, rx) = mpsc::channel::<String>();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) if l.contains("started; connect string") => return (child, rx),
            other => {
                eprintln!("attempt {attempt}: {other:?}");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    panic!("keeper ensemble did not start in 5 attempts");
}

#[test]
fn a_killed_leader_is_replaced_and_restarts_on_command() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, rx) = start(dir.path());
    let mut seen: Vec<String> = Vec::new();
    let mut wait_for = |what: &str, f: &dyn Fn(&str) -> bool| -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => {
                    seen.push(l.clone());
                    if f(&l) {
                        return l;
                    }
                }
                Err(_) => panic!("no line {what} within 60 s; seen:\n{}", seen.join("\n")),
            }
        }
    };
    // The status lines: `server N (127.0.0.1:P, pid X): mode`.
    let leader = wait_for("naming the leader", &|l| {
        l.starts_with("server ") && l.ends_with("): leader")
    });
    let id: u32 = leader["server ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let pid: i32 = leader
        .split("pid ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    wait_for("listing the commands", &|l| l.starts_with("commands:"));
    // SAFETY: kill(2) of a server process the ensemble started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    wait_for("about the leader's exit", &|l| {
        l.starts_with(&format!("server {id} exited")) && l.contains("the others keep running")
    });
    let new = wait_for("naming a new leader", &|l| {
        l.contains(" leads, ") && l.contains("without a leader")
    });
    assert!(!new.starts_with(&format!("server {id} ")), "{new}");
    let stdin = child.stdin.as_mut().unwrap();
    writeln!(stdin, "start {id}").unwrap();
    wait_for("about the restart", &|l| {
        l.starts_with(&format!("server {id} started"))
    });
    wait_for("with the old leader following", &|l| {
        l.starts_with(&format!("server {id}: ")) && l.ends_with("-> follower")
    });
    writeln!(child.stdin.as_mut().unwrap(), "quit").unwrap();
    wait_for("saying it stopped", &|l| l == "ensemble stopped");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}
