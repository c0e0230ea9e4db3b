#!/usr/bin/env bash
# fuzz/run.sh TARGET SECONDS: run one cargo-fuzz target (no sanitizer: stable Rust) from its
# seeds (fuzz/seeds, written by `make fuzz-seeds`) and its corpus (fuzz/corpus, kept between
# runs), for SECONDS. Prints the final figures; on a finding, where the input is and what to do.
set -euo pipefail
target=$1 seconds=$2
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p "fuzz/corpus/$target" fuzz/logs
log="fuzz/logs/$target.log"
if cargo fuzz run --sanitizer none -O "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
    -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    echo "fuzz: $target: ${runs:-?} runs in $seconds s, no finding ($(grep -o 'cov: [0-9]*' "$log" | tail -1))"
else
    tail -n 40 "$log"
    echo "fuzz: $target FOUND A FAILURE (log: $log); the input is under fuzz/artifacts/$target/."
    echo "      Fix it, then copy the input to fuzz/regressions/$target/ so that cargo test replays it."
    exit 1
fi
