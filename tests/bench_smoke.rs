//! Smoke test of `keeper bench`: start a real keeper server on a free loopback port, run every
//! workload briefly against it and check the JSON report (no timing assertions).

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEEPER: &str = env!("CARGO_BIN_EXE_keeper");

/// Kills the server when the test ends, however it ends.
struct Server {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ruok(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut out = String::new();
    s.write_all(b"ruok").is_ok() && s.read_to_string(&mut out).is_ok() && out == "imok"
}

fn start_server(dir: &Path) -> (Server, u16) {
    let port = free_port();
    let log = dir.join("server.log");
    let child = Command::new(KEEPER)
        .arg("server")
        .args(["--set", &format!("client.port={port}")])
        .args(["--set", "client.address=127.0.0.1"])
        .args([
            "--set",
            &format!("storage.data_dir={}", dir.join("data").display()),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start keeper server");
    let mut server = Server { child, log };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // A bare connect can succeed by connecting to itself on loopback: ask ruok.
        if ruok(port) {
            return (server, port);
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "keeper server exited early ({status}):\n{}",
                server.log_text()
            );
        }
        if Instant::now() > deadline {
            panic!(
                "keeper server did not accept connections on port {port} within 30 s:\n{}",
                server.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Run `keeper bench ARGS` with a time limit; (exit code, stdout, stderr).
fn run_bench(args: &[String], limit: Duration) -> (Option<i32>, String, String) {
    let mut child = Command::new(KEEPER)
        .arg("bench")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start keeper bench");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        status,
        out_reader.join().unwrap(),
        err_reader.join().unwrap(),
    )
}

#[test]
fn every_workload_runs_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = start_server(dir.path());
    for workload in ["write", "read", "mixed:50", "create-delete", "watch"] {
        let args: Vec<String> = [
            "--connect",
            &format!("127.0.0.1:{port}"),
            "--workload",
            workload,
            "--clients",
            "3",
            "--outstanding",
            "4",
            "--value-size",
            "64",
            "--duration",
            "1.5",
            "--warmup",
            "0.3",
            "--prefix",
            "/bench-smoke",
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (code, stdout, stderr) = run_bench(&args, Duration::from_secs(60));
        let context = format!(
            "workload {workload}: exit {code:?}\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
            server.log_text()
        );
        assert_eq!(code, Some(0), "{context}");
        let report: serde_json::Value =
            serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {context}"));
        assert_eq!(report["workload"], workload, "{context}");
        assert!(report["ops"].as_u64().unwrap_or(0) > 0, "{context}");
        assert!(
            report["ops_per_sec"].as_f64().unwrap_or(0.0) > 0.0,
            "{context}"
        );
        assert_eq!(report["errors"].as_u64(), Some(0), "{context}");
        assert!(report["latency_us"]["p99"].as_u64().is_some(), "{context}");
        assert!(
            report["latency_us"]["max"].as_u64() >= report["latency_us"]["p50"].as_u64(),
            "{context}"
        );
        if workload == "watch" {
            assert!(report["rounds"].as_u64().unwrap_or(0) > 0, "{context}");
            assert!(
                report["notifications"].as_u64().unwrap_or(0)
                    >= 3 * report["rounds"].as_u64().unwrap(),
                "{context}"
            );
        }
        if workload == "create-delete" {
            assert!(
                report["by_op"]["create"]["ops"].as_u64().unwrap_or(0) > 0,
                "{context}"
            );
            assert!(
                report["by_op"]["delete"]["ops"].as_u64().unwrap_or(0) > 0,
                "{context}"
            );
        }
    }
    // Everything under the prefix is removed at the end of each run.
    let (code, stdout, stderr) = run_cli(port, &["ls", "/"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(!stdout.contains("bench-smoke"), "leftover znodes: {stdout}");
}

#[test]
fn unreachable_server_is_a_clear_failure() {
    let port = free_port();
    let args: Vec<String> = [
        "--connect",
        &format!("127.0.0.1:{port}"),
        "--duration",
        "1",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (code, stdout, stderr) = run_bench(&args, Duration::from_secs(30));
    assert!(
        matches!(code, Some(c) if c != 0),
        "exit {code:?}: {stdout}{stderr}"
    );
    assert!(stderr.contains("cannot connect"), "{stderr}");
}

fn run_cli(port: u16, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(KEEPER)
        .arg("cli")
        .args(["-server", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run keeper cli");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
