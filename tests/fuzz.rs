//! Replays, with plain `cargo test`, what the fuzz targets (`make fuzz`, `fuzz/`) start from and
//! every input that once crashed one: the seeds (the server's own encodings, and the client
//! frames a real ZooKeeper 3.8 exchanged, `tests/golden/zk38.txt`) and the files under
//! `fuzz/regressions/<target>/`. Each target must return on each (no panic, no hang).
//!
//! `cargo test --test fuzz -- --ignored write_seeds` writes the seeds to `fuzz/seeds/<target>/`
//! for cargo-fuzz (`make fuzz` does it first).

use keeper::fuzzing::{run, seeds, TARGETS};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The client-port seeds: every request stream of the golden capture, one per scenario (its
/// request frames in order), each led by the byte that says how the stream is cut.
fn golden_streams() -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(root().join("tests/golden/zk38.txt")).expect("golden");
    let mut out = Vec::new();
    let mut stream: Vec<u8> = Vec::new();
    for line in text.lines() {
        if line.starts_with("# name:") && !stream.is_empty() {
            out.push(std::mem::take(&mut stream));
        }
        if let Some(hex) = line.strip_prefix("> ") {
            if stream.is_empty() {
                stream.push(out.len() as u8);
            }
            let bytes: Option<Vec<u8>> = (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
                .collect();
            // Four-letter words are written as text, not hex.
            match bytes {
                Some(b) if hex.len() % 2 == 0 => stream.extend(b),
                _ => stream.extend_from_slice(hex.as_bytes()),
            }
        }
    }
    if !stream.is_empty() {
        out.push(stream);
    }
    out
}

fn all_seeds(target: &str) -> Vec<Vec<u8>> {
    let mut s = seeds(target);
    if target == "client_frames" {
        s.extend(golden_streams());
    }
    s
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(PathBuf, Vec<u8>)> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_target_has_seeds_and_takes_them() {
    for t in TARGETS {
        let s = all_seeds(t);
        assert!(!s.is_empty(), "no seeds for {t}");
        for input in &s {
            run(t, input);
        }
    }
    assert!(golden_streams().len() > 20);
}

#[test]
fn every_input_that_once_crashed_a_target_is_handled() {
    let mut n = 0;
    for t in TARGETS {
        for (path, input) in files(&root().join("fuzz/regressions").join(t)) {
            eprintln!("{t}: {}", path.display());
            run(t, &input);
            n += 1;
        }
    }
    eprintln!("{n} regression inputs replayed");
}

#[test]
#[ignore = "writes fuzz/seeds for `make fuzz`"]
fn write_seeds() {
    for t in TARGETS {
        let dir = root().join("fuzz/seeds").join(t);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in all_seeds(t).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:03}")), s).unwrap();
        }
    }
}
