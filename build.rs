//! Build facts for `keeper --version`, `srvr` and `envi`: the git commit the binary was built
//! from and when it was built (UTC), as ZooKeeper reports its own.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    // Rebuilt facts when the checked-out commit changes (the branch ref moves on commit).
    // Only files that exist: cargo reruns a script on every build for a missing one, and a
    // new build date each time would rebuild the crate each time.
    println!("cargo:rerun-if-changed=build.rs");
    let watch = |p: &str| {
        if std::path::Path::new(p).is_file() {
            println!("cargo:rerun-if-changed={p}");
        }
    };
    watch(".git/HEAD");
    if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
        if let Some(r) = head.strip_prefix("ref: ") {
            watch(&format!(".git/{}", r.trim()));
        }
    }
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    // Reproducible builds set SOURCE_DATE_EPOCH; otherwise the time of this build.
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!("cargo:rustc-env=KEEPER_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=KEEPER_BUILD_DATE={}", utc(secs));
}

/// `YYYY-MM-DD HH:MM UTC` from seconds since the epoch (days to civil date: Howard Hinnant's
/// algorithm).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02} UTC")
}
