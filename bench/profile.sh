#!/usr/bin/env bash
# Where a Keeper ensemble spends its CPU under one `keeper bench` load: starts a 3-server
# ensemble on loopback (fsync on), runs the load through all three servers, records every server
# process with `perf record --call-graph dwarf` for a few seconds in the middle of it, and writes
# a flame graph (inferno) plus perf's flat profile by thread and by symbol.
#
# Usage: bench/profile.sh            (what `make profile` runs)
#
# Environment:
#   PROFILE_WORKLOAD     keeper bench workload (default write)
#   PROFILE_CLIENTS      clients (default 32)
#   PROFILE_OUTSTANDING  requests in flight per client (default 1)
#   PROFILE_SECONDS      seconds recorded (default 5)
#   PROFILE_FREQ         samples per second per CPU (default 499)
#   PROFILE_OUT          output directory (default bench/out/profile)
#   BENCH_KEEPER_BIN     keeper binary to use instead of building target/release/keeper
#
# Needs perf (Debian: linux-perf; installed with apt-get when missing) and inferno (installed
# with cargo into .cache/tools when missing). Do not run it beside other heavy work.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKLOAD="${PROFILE_WORKLOAD:-write}"
CLIENTS="${PROFILE_CLIENTS:-32}"
OUTSTANDING="${PROFILE_OUTSTANDING:-1}"
SECONDS_RECORDED="${PROFILE_SECONDS:-5}"
FREQ="${PROFILE_FREQ:-499}"
OUT="${PROFILE_OUT:-$ROOT/bench/out/profile}"
TOOLS="$ROOT/.cache/tools"
SUDO=$([[ "$(id -u)" == 0 ]] || echo sudo)

log() { echo "profile: $*" >&2; }
die() {
    log "$*"
    exit 1
}

if ! command -v perf >/dev/null 2>&1; then
    log "installing linux-perf"
    $SUDO apt-get update -q && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q linux-perf ||
        die "perf is missing and linux-perf could not be installed"
fi
if [[ ! -x "$TOOLS/bin/inferno-flamegraph" ]]; then
    log "installing inferno into $TOOLS"
    cargo install --quiet inferno --root "$TOOLS" || die "cannot install inferno"
fi
if [[ -n "${BENCH_KEEPER_BIN:-}" ]]; then
    KEEPER="$BENCH_KEEPER_BIN"
else
    (cd "$ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
    KEEPER="$ROOT/target/release/keeper"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/keeper-profile.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

read -r -a PORTS < <(python3 - <<'PY'
import socket
socks = []
for _ in range(9):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)
{
    printf '[client]\naddress = "127.0.0.1"\n\n[storage]\nforce_sync = true\n\n[quorum.members]\n'
    for id in 1 2 3; do
        echo "$id = \"127.0.0.1:${PORTS[id + 2]}:${PORTS[id + 5]};127.0.0.1:${PORTS[id - 1]}\""
    done
} >"$WORK/keeper.toml"
for id in 1 2 3; do
    "$KEEPER" server --config "$WORK/keeper.toml" --set "server.id=$id" \
        --set "storage.data_dir=$WORK/$id" >"$WORK/server-$id.log" 2>&1 &
    PIDS+=($!)
done
HOSTS="127.0.0.1:${PORTS[0]},127.0.0.1:${PORTS[1]},127.0.0.1:${PORTS[2]}"

# Serving once every server answers srvr with a mode.
srvr_mode() {
    local port=$1
    exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null || return 1
    echo srvr >&3
    timeout 1 cat <&3 | sed -n 's/^Mode: //p'
    exec 3<&-
}
for _ in $(seq 100); do
    modes=""
    for i in 0 1 2; do modes+="$(srvr_mode "${PORTS[i]}" 2>/dev/null || true) "; done
    [[ "$modes" =~ leader ]] && [[ $(grep -o follower <<<"$modes" | wc -l) == 2 ]] && break
    sleep 0.2
done
[[ "$modes" =~ leader ]] || die "the ensemble did not form (server logs in $WORK)"
log "ensemble serving (modes: $modes); load: $WORKLOAD, ${CLIENTS}x${OUTSTANDING}"

mkdir -p "$OUT"
WARMUP=2
"$KEEPER" bench --connect "$HOSTS" --workload "$WORKLOAD" --clients "$CLIENTS" \
    --outstanding "$OUTSTANDING" --duration $((SECONDS_RECORDED + 2)) --warmup "$WARMUP" \
    --json --quiet >"$OUT/bench.json" &
BENCH=$!
sleep $((WARMUP + 1))
server_pids=$(IFS=,; echo "${PIDS[*]}")
perf record -q -F "$FREQ" --call-graph dwarf,16384 -o "$OUT/perf.data" -p "$server_pids" \
    -- sleep "$SECONDS_RECORDED" 2>"$OUT/perf-record.log" || die "perf record failed: $(cat "$OUT/perf-record.log")"
wait "$BENCH" || log "warning: keeper bench failed"

perf script -i "$OUT/perf.data" 2>/dev/null | "$TOOLS/bin/inferno-collapse-perf" >"$OUT/stacks.folded"
"$TOOLS/bin/inferno-flamegraph" --title "keeper: $WORKLOAD ${CLIENTS}x${OUTSTANDING}, 3 servers" \
    <"$OUT/stacks.folded" >"$OUT/flamegraph.svg"
{
    echo "# load: $WORKLOAD ${CLIENTS}x${OUTSTANDING}; keeper bench: $(python3 -c \
        'import json,sys; d=json.load(open(sys.argv[1])); print(d["ops_per_sec"], "ops/s, p50", d["latency_us"]["p50"], "us, p99", d["latency_us"]["p99"], "us")' \
        "$OUT/bench.json" 2>/dev/null || echo "no report")"
    echo "# CPU by thread"
    perf report -i "$OUT/perf.data" --no-children --sort comm -g none 2>/dev/null | grep -v '^#' | grep -v '^$'
    echo "# hottest symbols"
    perf report -i "$OUT/perf.data" --no-children --sort sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | sed -n 1,40p
} >"$OUT/report.txt"
cat "$OUT/report.txt"
log "wrote $OUT/flamegraph.svg, $OUT/report.txt and $OUT/perf.data"
