#!/usr/bin/env bash
# Keeper vs Apache ZooKeeper 3.8, each as a standalone server on a free loopback port with
# equivalent settings, under the same `keeper bench` loads, one run at a time.
#
# Usage: bench/compare.sh            (what `make bench-compare` runs)
#
# Measures, for each system: throughput by read ratio (0/50/90/100 %), latency of writes with
# 1 client x 1 outstanding and with many clients, create+delete throughput, watch fan-out
# latency, resident memory (VmRSS) idle and peak under load, and the time from process start to
# the first accepted write. Prints one table (Keeper, ZooKeeper, Keeper/ZooKeeper) and writes
# bench/out/{table.txt,results.json,throughput.dat,throughput_vs_read_ratio.png} plus every raw
# `keeper bench --json` report under bench/out/runs/.
#
# Environment:
#   BENCH_DURATION       measured seconds per run (default 8)
#   BENCH_WARMUP         warm-up seconds per run (default 1)
#   BENCH_CLIENTS        clients of the throughput runs (default 16)
#   BENCH_OUTSTANDING    requests in flight per client in the throughput runs (default 16)
#   BENCH_MANY_CLIENTS   clients of the many-clients write-latency run (default 32)
#   BENCH_WATCHERS       watching sessions of the watch fan-out run (default 16)
#   BENCH_VALUE_SIZE     bytes per znode value (default 100)
#   BENCH_OUT            output directory (default bench/out)
#   BENCH_KEEPER_BIN     keeper binary to use instead of building target/release/keeper
#   JAVA, ZK_CLASSPATH   how ZooKeeper is started (default: java and Debian's jars)
#   ZK_HEAP_MB           ZooKeeper's -Xmx in MiB (default 1000, as zkServer.sh)
#
# Installs what it needs with apt-get when missing: zookeeper (Debian's 3.8 package, with a
# JRE) and gnuplot-nox for the plot. Refuses to run while another run holds bench/out/.lock.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/bench"
OUT="${BENCH_OUT:-$BENCH_DIR/out}"
DURATION="${BENCH_DURATION:-8}"
WARMUP="${BENCH_WARMUP:-1}"
CLIENTS="${BENCH_CLIENTS:-16}"
OUTSTANDING="${BENCH_OUTSTANDING:-16}"
MANY="${BENCH_MANY_CLIENTS:-32}"
WATCHERS="${BENCH_WATCHERS:-16}"
VALUE_SIZE="${BENCH_VALUE_SIZE:-100}"
JAVA="${JAVA:-java}"
ZK_CLASSPATH_GIVEN="${ZK_CLASSPATH:+yes}"
ZK_CLASSPATH="${ZK_CLASSPATH:-/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-simple.jar}"
ZK_HEAP_MB="${ZK_HEAP_MB:-1000}"
TICK_TIME=2000
SESSION_TIMEOUT=10000
MAX_CNXNS=60

log() { printf 'compare: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

for v in DURATION WARMUP; do
    [[ "${!v}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "BENCH_$v must be a number of seconds, got '${!v}'"
done
for v in CLIENTS OUTSTANDING MANY WATCHERS VALUE_SIZE ZK_HEAP_MB; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
((MANY + 2 <= MAX_CNXNS && WATCHERS + 3 <= MAX_CNXNS && CLIENTS + 2 <= MAX_CNXNS)) ||
    die "client counts must stay below maxClientCnxns=$MAX_CNXNS per address"

# ----- one run at a time ------------------------------------------------------------------
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock -n 9 || die "another benchmark run holds $OUT/.lock; wait for it to finish"

# ----- cleanup ----------------------------------------------------------------------------
SERVER_PID=""
SAMPLER_PID=""
TMP_DIRS=()
cleanup() {
    if [[ -n "$SAMPLER_PID" ]]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    for d in "${TMP_DIRS[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ----- tools ------------------------------------------------------------------------------
as_root() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "root is needed to run: $*"
    fi
}
APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand"
    if [[ "$APT_UPDATED" == 0 ]]; then
        log "apt-get update"
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v python3 >/dev/null 2>&1 || apt_install python3
if [[ -z "$ZK_CLASSPATH_GIVEN" ]] && [[ ! -f /usr/share/java/zookeeper.jar ]]; then
    apt_install zookeeper
fi
command -v "$JAVA" >/dev/null 2>&1 || apt_install default-jre-headless
command -v gnuplot >/dev/null 2>&1 || apt_install gnuplot-nox

if [[ -z "${BENCH_KEEPER_BIN:-}" ]]; then
    log "building keeper (release)"
    (cd "$ROOT" && cargo build --release --bin keeper)
    BENCH_KEEPER_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/keeper"
fi
[[ -x "$BENCH_KEEPER_BIN" ]] || die "keeper binary $BENCH_KEEPER_BIN not found"
bench_help=$("$BENCH_KEEPER_BIN" bench --help 2>&1 || true)
[[ "$bench_help" == *--workload* ]] || die "$BENCH_KEEPER_BIN has no 'bench' subcommand (is it wired into src/main.rs?)"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
now() { date +%s.%N; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
json_field() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d.get(sys.argv[2]))' "$1" "$2"; }

# Peak VmRSS of $1, sampled every 200 ms, kept in file $2 until killed.
sample_rss() {
    local pid=$1 file=$2 max=0 v
    while kill -0 "$pid" 2>/dev/null; do
        v=$(rss_kb "$pid")
        if ((v > max)); then
            max=$v
            echo "$max" >"$file"
        fi
        sleep 0.2
    done
}

# ----- servers ----------------------------------------------------------------------------
# start_server SYSTEM DIR PORT: sets SERVER_PID (the server process itself, not a wrapper).
start_server() {
    local sys=$1 dir=$2 port=$3
    mkdir -p "$dir/data"
    case "$sys" in
    keeper)
        "$BENCH_KEEPER_BIN" server \
            --set "client.port=$port" \
            --set client.address=127.0.0.1 \
            --set "storage.data_dir=$dir/data" \
            --set storage.force_sync=true \
            --set "server.tick_time=$TICK_TIME" \
            --set "server.max_client_cnxns=$MAX_CNXNS" \
            >"$dir/server.log" 2>&1 &
        SERVER_PID=$!
        ;;
    zookeeper)
        cat >"$dir/zoo.cfg" <<EOF
tickTime=$TICK_TIME
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=$MAX_CNXNS
forceSync=yes
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok
EOF
        "$JAVA" "-Xmx${ZK_HEAP_MB}m" \
            -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
            -Dzookeeper.admin.enableServer=false \
            -cp "$ZK_CLASSPATH" org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" \
            >"$dir/server.log" 2>&1 &
        SERVER_PID=$!
        ;;
    esac
}

stop_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# bench SYSTEM PORT NAME ARGS...: one `keeper bench --json` run into runs/SYSTEM/NAME.json.
bench() {
    local sys=$1 port=$2 name=$3
    shift 3
    local file="$OUT/runs/$sys/$name.json"
    if "$BENCH_KEEPER_BIN" bench --connect "127.0.0.1:$port" --value-size "$VALUE_SIZE" \
        --duration "$DURATION" --warmup "$WARMUP" --session-timeout "$SESSION_TIMEOUT" \
        --prefix /keeper-bench --json --quiet "$@" >"$file.tmp"; then
        mv "$file.tmp" "$file"
        log "  $sys $name: $(json_field "$file" ops_per_sec) ops/s, errors $(json_field "$file" errors)"
    else
        log "  warning: $sys $name failed (see above); it is left out of the table"
        rm -f "$file.tmp"
    fi
}

run_system() {
    local sys=$1 dir port t0 startup_s rss_idle rss_load notes=()
    dir=$(mktemp -d "/tmp/keeper-compare-$sys.XXXXXX")
    TMP_DIRS+=("$dir")
    port=$(free_port)
    mkdir -p "$OUT/runs/$sys"
    rm -f "$OUT/runs/$sys"/*.json

    log "$sys: starting on 127.0.0.1:$port"
    t0=$(now)
    start_server "$sys" "$dir" "$port"
    if ! startup_s=$(python3 "$BENCH_DIR/probe_write.py" 127.0.0.1 "$port" "$t0" 90); then
        sed 's/^/    /' "$dir/server.log" >&2 || true
        die "$sys did not accept a write within 90 s"
    fi
    log "$sys: first write accepted ${startup_s}s after start"
    sleep 2
    rss_idle=$(rss_kb "$SERVER_PID")

    sample_rss "$SERVER_PID" "$dir/rss_peak" &
    SAMPLER_PID=$!
    for ratio in 0 50 90 100; do
        bench "$sys" "$port" "mixed-$ratio" --workload "mixed:$ratio" --clients "$CLIENTS" --outstanding "$OUTSTANDING"
    done
    bench "$sys" "$port" write-1x1 --workload write --clients 1 --outstanding 1
    bench "$sys" "$port" write-many --workload write --clients "$MANY" --outstanding 1
    bench "$sys" "$port" create-delete --workload create-delete --clients "$CLIENTS" --outstanding "$OUTSTANDING"
    bench "$sys" "$port" watch --workload watch --clients "$WATCHERS"
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
    rss_load=$(cat "$dir/rss_peak" 2>/dev/null || echo 0)

    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        notes+=("the server exited during the runs")
    fi
    if grep -q "in-memory persistence" "$dir/server.log" 2>/dev/null; then
        notes+=("this build keeps data in memory only (its log says: in-memory persistence), so its writes are not fsynced although storage.force_sync=true")
    fi
    stop_server

    local version
    case "$sys" in
    keeper) version=$("$BENCH_KEEPER_BIN" --version 2>/dev/null | awk '{print $2}') ;;
    zookeeper) version=$(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null || echo "3.8") ;;
    esac
    python3 - "$OUT/runs/$sys/meta.json" "$version" "$startup_s" "$rss_idle" "$rss_load" "${notes[@]}" <<'EOF'
import json, sys
path, version, startup, idle, load, *notes = sys.argv[1:]
json.dump({"version": version, "startup_ms": round(float(startup) * 1000, 1),
           "rss_idle_kb": int(idle), "rss_load_kb": int(load), "notes": notes},
          open(path, "w"), indent=2)
EOF
}

# ----- the comparison ---------------------------------------------------------------------
log "runs of ${DURATION}s after ${WARMUP}s warm-up; throughput ${CLIENTS}x${OUTSTANDING}; write latency 1x1 and ${MANY}x1"
python3 - "$OUT/params.json" <<EOF
import json, sys
json.dump({"duration": $DURATION, "warmup": $WARMUP, "clients": $CLIENTS, "outstanding": $OUTSTANDING,
           "many_clients": $MANY, "watchers": $WATCHERS, "value_size": $VALUE_SIZE,
           "tick_time": $TICK_TIME, "session_timeout": $SESSION_TIMEOUT, "max_client_cnxns": $MAX_CNXNS,
           "zk_heap_mb": $ZK_HEAP_MB, "force_sync": True},
          open(sys.argv[1], "w"), indent=2)
EOF
for sys in keeper zookeeper; do
    run_system "$sys"
done

echo
python3 "$BENCH_DIR/report.py" "$OUT"

TERMINAL=png
if gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo; then TERMINAL=pngcairo; fi
gnuplot <<EOF
set terminal $TERMINAL size 900,560
set output "$OUT/throughput_vs_read_ratio.png"
set title "Throughput by read ratio: ${CLIENTS} clients x ${OUTSTANDING} outstanding, ${VALUE_SIZE}-byte values, standalone, loopback"
set xlabel "reads (%)"
set ylabel "ops/s"
set xrange [-5:105]
set xtics 0,10,100
set yrange [0:*]
set grid
set key left top
plot "$OUT/throughput.dat" using 1:2 with linespoints lw 2 pt 7 title "Keeper", \
     "$OUT/throughput.dat" using 1:3 with linespoints lw 2 pt 5 title "ZooKeeper 3.8"
EOF
log "wrote $OUT/table.txt, $OUT/results.json and $OUT/throughput_vs_read_ratio.png"
