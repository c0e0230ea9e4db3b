#!/usr/bin/env bash
# Keeper vs Apache ZooKeeper 3.8 under the same `keeper bench` loads, one system at a time, with
# equivalent settings (fsync on, tickTime 2000, initLimit 10, syncLimit 5, maxClientCnxns 60,
# 10 s sessions), on loopback. By default each system runs as a 3-server ensemble (Keeper: three
# `keeper server` processes; ZooKeeper: three QuorumPeerMain JVMs, each with its own dataDir and
# myid) and the loads go through all three servers (clients round-robin over the client ports);
# BENCH_TOPOLOGY=standalone compares single standalone servers instead.
#
# Usage: bench/compare.sh            (what `make bench-compare` runs)
#
# Measures, for each system: throughput by read ratio (0/50/90/100 %), latency of writes with
# 1 client x 1 outstanding (ensemble: through a follower, and through the leader) and with many
# clients (both measured with the two systems running at once, in short runs that alternate
# between them), create+delete throughput, watch fan-out latency, resident memory (VmRSS) idle and
# peak under load (ensemble: sum and max over the three servers), the time from the start of the
# process(es) to the first accepted write, and
# (ensemble only) failover time: SIGKILL of the leader (found with `srvr`) while a write load
# runs through the two other servers, from the kill until a write sent after it is accepted;
# BENCH_FAILOVER_RUNS times (the killed server is restarted and rejoins between runs), each
# reported and their median. In each round of the side-by-side runs it also measures the disk
# alone (bench/fsync_probe.py: one append + fdatasync loop per server, all at once), the floor
# under any system's write latency on this machine, printed under the table. Prints one table (Keeper, ZooKeeper, Keeper/ZooKeeper) and writes
# bench/out/{table.txt,results.json,throughput.dat,throughput_vs_read_ratio.png} plus every raw
# `keeper bench --json` report, failover probe report and server log under bench/out/runs/.
#
# Environment:
#   BENCH_TOPOLOGY       ensemble (default: 3 servers per system) or standalone
#   BENCH_DURATION       measured seconds per run (default 8)
#   BENCH_WARMUP         warm-up seconds per run (default 1)
#   BENCH_PRELOAD        seconds of unmeasured mixed:50 load before the first run of each system,
#                        after the idle memory reading, so that the JVM's JIT has compiled the hot
#                        paths before ZooKeeper's first measured run (default 5; 0 = none)
#   BENCH_CLIENTS        clients of the throughput runs (default 16)
#   BENCH_OUTSTANDING    requests in flight per client in the throughput runs (default 16)
#   BENCH_MANY_CLIENTS   clients of the many-clients write-latency run (default 32)
#   BENCH_WATCHERS       watching sessions of the watch fan-out run (default 16)
#   BENCH_VALUE_SIZE     bytes per znode value (default 100)
#   BENCH_FAILOVER_RUNS  leader kills per system, ensemble only (default 3; 0 = none)
#   BENCH_ZNODES         znodes of BENCH_VALUE_SIZE bytes created after the load runs, to measure
#                        the memory that holding data costs (default 100000; 0 = none)
#   BENCH_DUEL_ROUNDS    rounds of the write-latency runs (1x1 and many x1), with both systems
#                        running at once and the runs alternating between them (default 6; 0 = none)
#   BENCH_DUEL_SECONDS   measured seconds of each of those runs (default 3)
#   BENCH_DUEL_PRELOAD   seconds of unmeasured mixed:50 load on each system before those runs, so
#                        that the fresh JVMs have compiled their hot paths (default 30; 0 = none)
#   BENCH_TRACE_ROUNDS   rounds of the tracing-cost runs (default 5; 0 = none): three Keeper
#                        ensembles at once, with tracing off, at the default sampling ratio and at
#                        ratio 1.0, exporting to bench/otlp_sink.py; write runs alternate between them
#   BENCH_TRACE_SECONDS  measured seconds of each of those runs (default 5)
#   BENCH_TRACING_ONLY   1: only the tracing-cost runs (no ZooKeeper needed)
#   BENCH_OUT            output directory (default bench/out)
#   BENCH_KEEPER_BIN     keeper binary to use instead of building target/release/keeper
#   JAVA, ZK_CLASSPATH   how ZooKeeper is started (default: java and Debian's jars)
#   ZK_HEAP_MB           each ZooKeeper JVM's -Xmx in MiB (default 1000, as zkServer.sh)
#
# Installs what it needs with apt-get when missing: zookeeper (Debian's 3.8 package, with a
# JRE) and gnuplot-nox for the plot. Refuses to run while another run holds bench/out/.lock.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/bench"
OUT="${BENCH_OUT:-$BENCH_DIR/out}"
TOPOLOGY="${BENCH_TOPOLOGY:-ensemble}"
DURATION="${BENCH_DURATION:-8}"
WARMUP="${BENCH_WARMUP:-1}"
PRELOAD="${BENCH_PRELOAD:-5}"
CLIENTS="${BENCH_CLIENTS:-16}"
OUTSTANDING="${BENCH_OUTSTANDING:-16}"
MANY="${BENCH_MANY_CLIENTS:-32}"
WATCHERS="${BENCH_WATCHERS:-16}"
VALUE_SIZE="${BENCH_VALUE_SIZE:-100}"
FAILOVER_RUNS="${BENCH_FAILOVER_RUNS:-3}"
ZNODES="${BENCH_ZNODES:-100000}"
DUEL_ROUNDS="${BENCH_DUEL_ROUNDS:-6}"
DUEL_SECONDS="${BENCH_DUEL_SECONDS:-3}"
DUEL_PRELOAD="${BENCH_DUEL_PRELOAD:-30}"
TRACE_ROUNDS="${BENCH_TRACE_ROUNDS:-5}"
TRACE_SECONDS="${BENCH_TRACE_SECONDS:-5}"
TRACING_ONLY="${BENCH_TRACING_ONLY:-0}"
if [[ "$TRACING_ONLY" == 1 ]]; then DUEL_ROUNDS=0 FAILOVER_RUNS=0; fi
JAVA="${JAVA:-java}"
ZK_CLASSPATH_GIVEN="${ZK_CLASSPATH:+yes}"
ZK_CLASSPATH="${ZK_CLASSPATH:-/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-simple.jar}"
ZK_HEAP_MB="${ZK_HEAP_MB:-1000}"
TICK_TIME=2000
INIT_LIMIT=10
SYNC_LIMIT=5
SESSION_TIMEOUT=10000
MAX_CNXNS=60
FAILOVER_WARMUP=2    # seconds of accepted writes before the kill
FAILOVER_LIMIT=60    # seconds after the kill before a failover run counts as failed
READY_LIMIT=90       # seconds for an ensemble to elect a leader with all followers

log() { printf 'compare: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

case "$TOPOLOGY" in
ensemble) SIZE=3 ;;
standalone) SIZE=1 ;;
*) die "BENCH_TOPOLOGY must be ensemble or standalone, got '$TOPOLOGY'" ;;
esac
for v in DURATION WARMUP PRELOAD DUEL_PRELOAD; do
    [[ "${!v}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "BENCH_$v must be a number of seconds, got '${!v}'"
done
for v in CLIENTS OUTSTANDING MANY WATCHERS VALUE_SIZE FAILOVER_RUNS ZNODES DUEL_ROUNDS DUEL_SECONDS ZK_HEAP_MB \
    TRACE_ROUNDS TRACE_SECONDS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
# maxClientCnxns counts per client address per server; with one server every client lands on it.
((MANY + 2 <= MAX_CNXNS && WATCHERS + 3 <= MAX_CNXNS && CLIENTS + 2 <= MAX_CNXNS)) ||
    die "client counts must stay below maxClientCnxns=$MAX_CNXNS per address"

# ----- one run at a time ------------------------------------------------------------------
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock -n 9 || die "another benchmark run holds $OUT/.lock; wait for it to finish"

# ----- cleanup ----------------------------------------------------------------------------
SERVER_PIDS=()   # index = server id (1..SIZE); empty = not running
DUEL_PIDS=()     # both systems' servers during the side-by-side one-client runs
SAMPLER_PID=""
SINK_PID=""
TMP_DIRS=()
cleanup() {
    if [[ -n "$SAMPLER_PID" ]]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
    if [[ -n "$SINK_PID" ]]; then kill "$SINK_PID" 2>/dev/null || true; fi
    local pid
    for pid in "${SERVER_PIDS[@]}" "${DUEL_PIDS[@]}"; do
        [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
    done
    for pid in "${SERVER_PIDS[@]}" "${DUEL_PIDS[@]}"; do
        [[ -n "$pid" ]] && wait "$pid" 2>/dev/null || true
    done
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
if [[ "$TRACING_ONLY" != 1 ]]; then
    if [[ -z "$ZK_CLASSPATH_GIVEN" ]] && [[ ! -f /usr/share/java/zookeeper.jar ]]; then
        apt_install zookeeper
    fi
    command -v "$JAVA" >/dev/null 2>&1 || apt_install default-jre-headless
    command -v gnuplot >/dev/null 2>&1 || apt_install gnuplot-nox
fi
# The servers' tracing is what the tracing-cost runs set, not what this shell's OTEL_* say.
for v in "${!OTEL_@}"; do unset "$v"; done

if [[ -z "${BENCH_KEEPER_BIN:-}" ]]; then
    log "building keeper (release)"
    (cd "$ROOT" && cargo build --release --bin keeper)
    BENCH_KEEPER_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/keeper"
fi
[[ -x "$BENCH_KEEPER_BIN" ]] || die "keeper binary $BENCH_KEEPER_BIN not found"
bench_help=$("$BENCH_KEEPER_BIN" bench --help 2>&1 || true)
[[ "$bench_help" == *--workload* ]] || die "$BENCH_KEEPER_BIN has no 'bench' subcommand (is it wired into src/main.rs?)"

# free_ports N: N distinct free loopback ports, space-separated (all bound at once, then freed).
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}
now() { date +%s.%N; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# json_field FILE KEY...: the value at that key path.
json_field() {
    python3 -c 'import functools, json, sys; print(functools.reduce(lambda d, k: (d or {}).get(k), sys.argv[2:], json.load(open(sys.argv[1]))))' "$@"
}

# "SUM MAX" of the VmRSS (KiB) of the running servers.
rss_sum_max() {
    local sum=0 max=0 v pid
    for pid in "${SERVER_PIDS[@]}"; do
        [[ -n "$pid" ]] || continue
        v=$(rss_kb "$pid")
        v=${v:-0}
        sum=$((sum + v))
        ((v > max)) && max=$v
    done
    echo "$sum $max"
}

# ----- servers ----------------------------------------------------------------------------
# Ports of the current system: CLIENT_PORTS[id], QUORUM_PORTS[id], ELECTION_PORTS[id].
CLIENT_PORTS=()
QUORUM_PORTS=()
ELECTION_PORTS=()
HOSTS=""   # the client connect string, 127.0.0.1:P1,127.0.0.1:P2,...

# configure SYSTEM DIR: picks ports and writes every member's configuration under DIR/<id>/.
configure() {
    local sys=$1 dir=$2 ports id i
    read -r -a ports < <(free_ports $((SIZE * 3)))
    CLIENT_PORTS=("") QUORUM_PORTS=("") ELECTION_PORTS=("")
    for ((i = 0; i < SIZE; i++)); do
        CLIENT_PORTS+=("${ports[i]}")
        QUORUM_PORTS+=("${ports[SIZE + i]}")
        ELECTION_PORTS+=("${ports[2 * SIZE + i]}")
    done
    HOSTS=$(for ((id = 1; id <= SIZE; id++)); do printf '127.0.0.1:%s,' "${CLIENT_PORTS[id]}"; done)
    HOSTS=${HOSTS%,}
    for ((id = 1; id <= SIZE; id++)); do mkdir -p "$dir/$id/data"; done
    case "$sys" in
    keeper)
        [[ "$TOPOLOGY" == ensemble ]] || return 0
        {
            cat <<EOT
[server]
tick_time = $TICK_TIME
init_limit = $INIT_LIMIT
sync_limit = $SYNC_LIMIT
max_client_cnxns = $MAX_CNXNS
four_letter_words = "ruok,srvr,stat,mntr"

[client]
address = "127.0.0.1"

[storage]
force_sync = true

[quorum.members]
EOT
            for ((id = 1; id <= SIZE; id++)); do
                echo "$id = \"127.0.0.1:${QUORUM_PORTS[id]}:${ELECTION_PORTS[id]};127.0.0.1:${CLIENT_PORTS[id]}\""
            done
        } >"$dir/keeper.toml"
        ;;
    zookeeper)
        for ((id = 1; id <= SIZE; id++)); do
            cat >"$dir/$id/zoo.cfg" <<EOT
tickTime=$TICK_TIME
initLimit=$INIT_LIMIT
syncLimit=$SYNC_LIMIT
dataDir=$dir/$id/data
clientPort=${CLIENT_PORTS[id]}
clientPortAddress=127.0.0.1
maxClientCnxns=$MAX_CNXNS
forceSync=yes
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok,mntr
EOT
            if [[ "$TOPOLOGY" == ensemble ]]; then
                local j
                for ((j = 1; j <= SIZE; j++)); do
                    echo "server.$j=127.0.0.1:${QUORUM_PORTS[j]}:${ELECTION_PORTS[j]}" >>"$dir/$id/zoo.cfg"
                done
                echo "$id" >"$dir/$id/data/myid"
            fi
        done
        ;;
    esac
}

KEEPER_EXTRA=()   # more `--set key=value` for Keeper's servers (the tracing-cost runs)

# start_member SYSTEM DIR ID: starts server ID (again, after a kill: same data directory) and
# sets SERVER_PIDS[ID] to the server process itself, not a wrapper. Logs append to DIR/ID/server.log.
start_member() {
    local sys=$1 dir=$2 id=$3
    case "$sys" in
    keeper)
        if [[ "$TOPOLOGY" == ensemble ]]; then
            "$BENCH_KEEPER_BIN" server --config "$dir/keeper.toml" \
                --set "server.id=$id" \
                --set "storage.data_dir=$dir/$id/data" \
                "${KEEPER_EXTRA[@]}" \
                >>"$dir/$id/server.log" 2>&1 &
        else
            "$BENCH_KEEPER_BIN" server \
                --set "client.port=${CLIENT_PORTS[id]}" \
                --set client.address=127.0.0.1 \
                --set "storage.data_dir=$dir/$id/data" \
                --set storage.force_sync=true \
                --set "server.tick_time=$TICK_TIME" \
                --set "server.max_client_cnxns=$MAX_CNXNS" \
                "${KEEPER_EXTRA[@]}" \
                >>"$dir/$id/server.log" 2>&1 &
        fi
        ;;
    zookeeper)
        local main=org.apache.zookeeper.server.ZooKeeperServerMain
        [[ "$TOPOLOGY" == ensemble ]] && main=org.apache.zookeeper.server.quorum.QuorumPeerMain
        "$JAVA" "-Xmx${ZK_HEAP_MB}m" \
            -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
            -Dzookeeper.admin.enableServer=false \
            -cp "$ZK_CLASSPATH" "$main" "$dir/$id/zoo.cfg" \
            >>"$dir/$id/server.log" 2>&1 &
        ;;
    esac
    SERVER_PIDS[id]=$!
}

stop_all() {
    local id pid
    for id in "${!SERVER_PIDS[@]}"; do
        pid=${SERVER_PIDS[id]}
        [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
    done
    for id in "${!SERVER_PIDS[@]}"; do
        pid=${SERVER_PIDS[id]}
        [[ -n "$pid" ]] || continue
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    SERVER_PIDS=()
}

show_logs() {
    local dir=$1 id
    for ((id = 1; id <= SIZE; id++)); do
        log "server $id log (last 30 lines):"
        tail -n 30 "$dir/$id/server.log" 2>/dev/null | sed 's/^/    /' >&2 || true
    done
}

# bench SYSTEM NAME ARGS...: one `keeper bench --json` run over HOSTS (or CONNECT, when set) into
# runs/SYSTEM/NAME.json; RUN_DURATION / RUN_WARMUP override the run's length.
bench() {
    local sys=$1 name=$2
    shift 2
    local file="$OUT/runs/$sys/$name.json"
    if "$BENCH_KEEPER_BIN" bench --connect "${CONNECT:-$HOSTS}" --value-size "$VALUE_SIZE" \
        --duration "${RUN_DURATION:-$DURATION}" --warmup "${RUN_WARMUP:-$WARMUP}" \
        --session-timeout "$SESSION_TIMEOUT" \
        --prefix /keeper-bench --json --quiet "$@" >"$file.tmp"; then
        mv "$file.tmp" "$file"
        log "  $sys $name: $(json_field "$file" ops_per_sec) ops/s, errors $(json_field "$file" errors)"
    else
        log "  warning: $sys $name failed (see above); it is left out of the table"
        rm -f "$file.tmp"
    fi
}

# failover SYSTEM DIR: BENCH_FAILOVER_RUNS leader kills; reports in runs/SYSTEM/failover-N.json.
failover() {
    local sys=$1 dir=$2 run leader pid survivors id file
    for ((run = 1; run <= FAILOVER_RUNS; run++)); do
        if ! leader=$(python3 "$BENCH_DIR/ensemble_probe.py" wait-ready "$HOSTS" "$READY_LIMIT"); then
            NOTES+=("failover run $run skipped: the ensemble had no leader with two followers within ${READY_LIMIT} s")
            show_logs "$dir"
            return 0
        fi
        pid=${SERVER_PIDS[leader]}
        survivors=$(for ((id = 1; id <= SIZE; id++)); do
            ((id == leader)) || printf '127.0.0.1:%s,' "${CLIENT_PORTS[id]}"
        done)
        survivors=${survivors%,}
        file="$OUT/runs/$sys/failover-$run.json"
        log "  $sys failover $run: kill -9 of the leader, server $leader (pid $pid), writes through $survivors"
        # stderr goes to a file: bash would also print its "Killed" notice for the leader there.
        if ! { python3 "$BENCH_DIR/ensemble_probe.py" failover --kill-pid "$pid" --servers "$survivors" \
            --warmup "$FAILOVER_WARMUP" --limit "$FAILOVER_LIMIT" >"$file"; } 2>"$dir/failover-$run.err"; then
            NOTES+=("failover run $run: $(cat "$file")")
            log "  warning: $sys failover $run did not recover: $(cat "$file")"
            grep -v ' Killed ' "$dir/failover-$run.err" | sed 's/^/    /' >&2 || true
        else
            log "  $sys failover $run: writes accepted again $(json_field "$file" gap_ms) ms after the kill (both survivors: $(json_field "$file" all_ms) ms)"
        fi
        wait "$pid" 2>/dev/null || true
        SERVER_PIDS[leader]=""
        printf '\n---- restarted after kill -9 (failover run %s) ----\n' "$run" >>"$dir/$leader/server.log"
        start_member "$sys" "$dir" "$leader"
    done
    # The last killed server must come back too.
    if ! python3 "$BENCH_DIR/ensemble_probe.py" wait-ready "$HOSTS" "$READY_LIMIT" >/dev/null; then
        NOTES+=("after the failover runs the restarted server did not rejoin within ${READY_LIMIT} s")
        show_logs "$dir"
    fi
}

# start_system SYSTEM DIR: configures and starts every member, waits for the first accepted write
# (STARTUP_S: seconds since the start) and, in an ensemble, for a leader with all followers
# (LEADER: its position in HOSTS; 0 standalone).
start_system() {
    local sys=$1 dir=$2 t0 id
    configure "$sys" "$dir"
    log "$sys: starting $SIZE server(s), client ports $HOSTS"
    t0=$(now)
    for ((id = 1; id <= SIZE; id++)); do start_member "$sys" "$dir" "$id"; done
    if ! STARTUP_S=$(python3 "$BENCH_DIR/probe_write.py" "$HOSTS" "$t0" 90); then
        show_logs "$dir"
        die "$sys did not accept a write within 90 s"
    fi
    log "$sys: first write accepted ${STARTUP_S}s after start"
    LEADER=0
    if [[ "$TOPOLOGY" == ensemble ]]; then
        if ! LEADER=$(python3 "$BENCH_DIR/ensemble_probe.py" wait-ready "$HOSTS" "$READY_LIMIT"); then
            show_logs "$dir"
            die "$sys: no leader with $((SIZE - 1)) followers within ${READY_LIMIT} s"
        fi
        log "$sys: server $LEADER leads, the others follow"
    fi
}

run_system() {
    local sys=$1 dir startup_s idle_sum idle_max load_sum load_max
    NOTES=()
    dir=$(mktemp -d "/tmp/keeper-compare-$sys.XXXXXX")
    TMP_DIRS+=("$dir")
    mkdir -p "$OUT/runs/$sys"
    rm -f "$OUT/runs/$sys"/*.json
    start_system "$sys" "$dir"
    startup_s=$STARTUP_S
    sleep 2
    read -r idle_sum idle_max < <(rss_sum_max)

    local pids=()
    for pid in "${SERVER_PIDS[@]}"; do [[ -n "$pid" ]] && pids+=("$pid"); done
    python3 "$BENCH_DIR/rss_sampler.py" "$dir/rss_peak" "${pids[@]}" &
    SAMPLER_PID=$!
    if [[ "$PRELOAD" != 0 ]]; then
        if "$BENCH_KEEPER_BIN" bench --connect "$HOSTS" --value-size "$VALUE_SIZE" \
            --duration "$PRELOAD" --warmup 0 --session-timeout "$SESSION_TIMEOUT" \
            --prefix /keeper-bench --json --quiet --workload mixed:50 \
            --clients "$CLIENTS" --outstanding "$OUTSTANDING" >"$dir/preload.json"; then
            log "  $sys preload (not measured): $(json_field "$dir/preload.json" ops_per_sec) ops/s"
        else
            log "  warning: $sys preload failed"
        fi
    fi
    for ratio in 0 50 90 100; do
        bench "$sys" "mixed-$ratio" --workload "mixed:$ratio" --clients "$CLIENTS" --outstanding "$OUTSTANDING"
    done
    bench "$sys" create-delete --workload create-delete --clients "$CLIENTS" --outstanding "$OUTSTANDING"
    bench "$sys" watch --workload watch --clients "$WATCHERS"
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
    read -r load_sum load_max < <(cat "$dir/rss_peak" 2>/dev/null || echo "0 0")
    # Memory that holding data costs: ZNODES znodes of VALUE_SIZE bytes, created through one server.
    local data_sum=0 data_max=0
    if ((ZNODES > 0)); then
        if python3 "$BENCH_DIR/ensemble_probe.py" fill "$HOSTS" "$ZNODES" --value-size "$VALUE_SIZE" \
            >"$OUT/runs/$sys/fill.json"; then
            sleep 2
            read -r data_sum data_max < <(rss_sum_max)
            log "  $sys: $ZNODES znodes created in $(json_field "$OUT/runs/$sys/fill.json" seconds) s"
        else
            NOTES+=("creating $ZNODES znodes failed: $(cat "$OUT/runs/$sys/fill.json" 2>/dev/null)")
        fi
    fi

    for ((id = 1; id <= SIZE; id++)); do
        if ! kill -0 "${SERVER_PIDS[id]}" 2>/dev/null; then
            NOTES+=("server $id exited during the runs")
        fi
    done
    if grep -q "in-memory persistence" "$dir"/*/server.log 2>/dev/null; then
        NOTES+=("this build keeps data in memory only (its log says: in-memory persistence), so its writes are not fsynced although storage.force_sync=true")
    fi
    if [[ "$TOPOLOGY" == ensemble ]] && ((FAILOVER_RUNS > 0)); then
        failover "$sys" "$dir"
    fi
    stop_all
    rm -f "$OUT/runs/$sys"/server-*.log
    for ((id = 1; id <= SIZE; id++)); do
        cp "$dir/$id/server.log" "$OUT/runs/$sys/server-$id.log" 2>/dev/null || true
    done

    local version
    case "$sys" in
    keeper) version=$("$BENCH_KEEPER_BIN" --version 2>/dev/null | awk '{print $2}') ;;
    zookeeper) version=$(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null || echo "3.8") ;;
    esac
    python3 - "$OUT/runs/$sys/meta.json" "$version" "$SIZE" "$startup_s" "$idle_sum" "$idle_max" \
        "$load_sum" "$load_max" "$data_sum" "$data_max" "${NOTES[@]}" <<'PY'
import json, sys
path, version, size, startup, idle_sum, idle_max, load_sum, load_max, data_sum, data_max, *notes = sys.argv[1:]
json.dump({"version": version, "servers": int(size), "startup_ms": round(float(startup) * 1000, 1),
           "rss_idle_kb": int(idle_sum), "rss_load_kb": int(load_sum),
           "rss_idle_max_kb": int(idle_max), "rss_load_max_kb": int(load_max),
           "rss_data_kb": int(data_sum) or None, "rss_data_max_kb": int(data_max) or None, "notes": notes},
          open(path, "w"), indent=2)
PY
}

# ----- the comparison ---------------------------------------------------------------------
log "$TOPOLOGY ($SIZE server(s) per system); runs of ${DURATION}s after ${WARMUP}s warm-up; throughput ${CLIENTS}x${OUTSTANDING}; write latency 1x1 and ${MANY}x1"
python3 - "$OUT/params.json" <<EOF
import json, sys
json.dump({"topology": "$TOPOLOGY", "servers": $SIZE, "duration": $DURATION, "warmup": $WARMUP, "preload": $PRELOAD,
           "clients": $CLIENTS, "outstanding": $OUTSTANDING,
           "many_clients": $MANY, "watchers": $WATCHERS, "value_size": $VALUE_SIZE,
           "tick_time": $TICK_TIME, "init_limit": $INIT_LIMIT, "sync_limit": $SYNC_LIMIT,
           "session_timeout": $SESSION_TIMEOUT, "max_client_cnxns": $MAX_CNXNS,
           "zk_heap_mb": $ZK_HEAP_MB, "force_sync": True,
           "failover_runs": $FAILOVER_RUNS if "$TOPOLOGY" == "ensemble" else 0,
           "failover_warmup": $FAILOVER_WARMUP, "failover_limit": $FAILOVER_LIMIT, "znodes": $ZNODES,
           "duel_rounds": $DUEL_ROUNDS, "duel_seconds": $DUEL_SECONDS, "duel_preload": $DUEL_PRELOAD,
           "trace_rounds": $TRACE_ROUNDS, "trace_seconds": $TRACE_SECONDS,
           "tracing_only": "$TRACING_ONLY" == "1"},
          open(sys.argv[1], "w"), indent=2)
EOF
SYSTEMS_RUN=(keeper zookeeper)
[[ "$TRACING_ONLY" == 1 ]] && SYSTEMS_RUN=()
for sys in "${SYSTEMS_RUN[@]}"; do
    run_system "$sys"
done

# ----- write latency, both systems at once ------------------------------------------------
# Write latency is a fraction of a millisecond to a few, and this machine's noise changes from
# minute to minute, so run after run it would compare two different machines. Here both systems
# run at the same time and short runs alternate between them (the order flips every round): one
# client, and MANY clients through all servers; the table shows the median over the rounds. In
# an ensemble the one client goes through a follower (where most clients are) and, in separate
# runs, through the leader: its latency depends on its server's role, and these are the same
# roles in both systems.
declare -A DUEL_FOLLOWER DUEL_LEADER DUEL_HOSTS
start_for_duel() {
    local sys=$1 dir hosts_list
    dir=$(mktemp -d "/tmp/keeper-duel-$sys.XXXXXX")
    TMP_DIRS+=("$dir")
    SERVER_PIDS=()
    start_system "$sys" "$dir"
    DUEL_PIDS+=("${SERVER_PIDS[@]}")
    SERVER_PIDS=()
    DUEL_FOLLOWER[$sys]=$HOSTS
    DUEL_HOSTS[$sys]=$HOSTS
    if ((LEADER > 0)); then
        IFS=, read -r -a hosts_list <<<"$HOSTS"
        DUEL_LEADER[$sys]=${hosts_list[LEADER - 1]}
        DUEL_FOLLOWER[$sys]=${hosts_list[$((LEADER % SIZE))]}
    fi
    if [[ "$DUEL_PRELOAD" != 0 ]]; then
        RUN_DURATION=$DUEL_PRELOAD RUN_WARMUP=0 CONNECT=$HOSTS bench "$sys" duel-preload \
            --workload mixed:50 --clients "$CLIENTS" --outstanding "$OUTSTANDING"
        rm -f "$OUT/runs/$sys/duel-preload.json"
    fi
}
# disk_probe ROUND: the disk's own floor in this round, one fsyncing writer per server, nothing
# else running but the idle servers (see bench/fsync_probe.py).
disk_probe() {
    local file="$OUT/runs/disk/fsync-$1.json" dir
    dir=$(mktemp -d "/tmp/keeper-disk.XXXXXX")
    TMP_DIRS+=("$dir")
    mkdir -p "$OUT/runs/disk"
    if python3 "$BENCH_DIR/fsync_probe.py" "$dir" "$SIZE" "$DUEL_SECONDS" "$((VALUE_SIZE + 50))" >"$file.tmp"; then
        mv "$file.tmp" "$file"
        log "  disk, $SIZE writers at once: append + fdatasync p50 $(json_field "$file" latency_us p50) us, p99 $(json_field "$file" latency_us p99) us"
    else
        log "  warning: the disk probe failed; it is left out of the table"
        rm -f "$file.tmp"
    fi
}
rm -rf "$OUT/runs/disk"
if ((DUEL_ROUNDS > 0)); then
    log "write latency, both systems at once: $DUEL_ROUNDS alternating rounds of ${DUEL_SECONDS}s"
    for sys in keeper zookeeper; do start_for_duel "$sys"; done
    for ((round = 1; round <= DUEL_ROUNDS; round++)); do
        order=(keeper zookeeper)
        ((round % 2 == 0)) && order=(zookeeper keeper)
        for sys in "${order[@]}"; do
            RUN_DURATION=$DUEL_SECONDS RUN_WARMUP=0.5 CONNECT=${DUEL_FOLLOWER[$sys]} \
                bench "$sys" "duel-1x1-$round" --workload write --clients 1 --outstanding 1
            if [[ "$TOPOLOGY" == ensemble ]]; then
                RUN_DURATION=$DUEL_SECONDS RUN_WARMUP=0.5 CONNECT=${DUEL_LEADER[$sys]} \
                    bench "$sys" "duel-1x1-leader-$round" --workload write --clients 1 --outstanding 1
            fi
            RUN_DURATION=$DUEL_SECONDS RUN_WARMUP=0.5 CONNECT=${DUEL_HOSTS[$sys]} \
                bench "$sys" "duel-many-$round" --workload write --clients "$MANY" --outstanding 1
        done
        disk_probe "$round"
    done
    for pid in "${DUEL_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${DUEL_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    DUEL_PIDS=()
fi

# ----- the cost of tracing, Keeper alone ---------------------------------------------------
# Three Keeper ensembles run at once: tracing off, on at the default sampling ratio, and on at
# ratio 1.0 (every write traced). The traced two export over OTLP/HTTP to bench/otlp_sink.py,
# which accepts and counts, so the servers pay the whole of it (spans, batching, protobuf,
# HTTP) while no collector's own work weighs on this machine. Short write runs alternate
# between the three, the order rotating each round, so the machine's drift falls on all alike;
# the table shows the median over the rounds.
TRACE_CONFIGS=(off default full)
declare -A TRACE_HOSTS TRACE_DIRS
tracing_cost() {
    local sink_port dir cfg round i n=${#TRACE_CONFIGS[@]}
    rm -rf "$OUT/runs/keeper-tracing"
    mkdir -p "$OUT/runs/keeper-tracing"
    read -r sink_port < <(free_ports 1)
    python3 "$BENCH_DIR/otlp_sink.py" "$sink_port" --stats "$OUT/runs/keeper-tracing/sink.stats" &
    SINK_PID=$!
    local endpoint=(--set "telemetry.otlp_endpoint=http://127.0.0.1:$sink_port"
        --set telemetry.otlp_protocol=http/protobuf)
    for cfg in "${TRACE_CONFIGS[@]}"; do
        case "$cfg" in
        off) KEEPER_EXTRA=() ;;
        default) KEEPER_EXTRA=("${endpoint[@]}") ;;
        full) KEEPER_EXTRA=("${endpoint[@]}" --set telemetry.sampling_ratio=1.0) ;;
        esac
        dir=$(mktemp -d "/tmp/keeper-tracing-$cfg.XXXXXX")
        TMP_DIRS+=("$dir")
        SERVER_PIDS=()
        log "tracing cost: Keeper with tracing $cfg"
        start_system keeper "$dir"
        DUEL_PIDS+=("${SERVER_PIDS[@]}")
        SERVER_PIDS=()
        TRACE_HOSTS[$cfg]=$HOSTS
        TRACE_DIRS[$cfg]=$dir
    done
    KEEPER_EXTRA=()
    for ((round = 1; round <= TRACE_ROUNDS; round++)); do
        for ((i = 0; i < n; i++)); do
            cfg=${TRACE_CONFIGS[$(((round - 1 + i) % n))]}
            RUN_DURATION=$TRACE_SECONDS RUN_WARMUP=1 CONNECT=${TRACE_HOSTS[$cfg]} \
                bench keeper-tracing "$cfg-$round" --workload mixed:0 \
                --clients "$CLIENTS" --outstanding "$OUTSTANDING"
        done
    done
    for pid in "${DUEL_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${DUEL_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    DUEL_PIDS=()
    kill "$SINK_PID" 2>/dev/null || true
    wait "$SINK_PID" 2>/dev/null || true
    SINK_PID=""
    for cfg in "${TRACE_CONFIGS[@]}"; do
        for ((i = 1; i <= SIZE; i++)); do
            cp "${TRACE_DIRS[$cfg]}/$i/server.log" "$OUT/runs/keeper-tracing/server-$cfg-$i.log" 2>/dev/null || true
        done
    done
    log "tracing cost: the sink received $(cat "$OUT/runs/keeper-tracing/sink.stats" 2>/dev/null || echo nothing)"
}
if ((TRACE_ROUNDS > 0)); then
    log "tracing cost: $TRACE_ROUNDS rotating rounds of ${TRACE_SECONDS}s, writes ${CLIENTS}x${OUTSTANDING}"
    tracing_cost
fi

echo
python3 "$BENCH_DIR/report.py" "$OUT"
[[ "$TRACING_ONLY" == 1 ]] && exit 0

if [[ "$TOPOLOGY" == ensemble ]]; then
    PLOT_TOPOLOGY="3-server ensembles"
else
    PLOT_TOPOLOGY="standalone"
fi
TERMINAL=png
if gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo; then TERMINAL=pngcairo; fi
gnuplot <<EOF
set terminal $TERMINAL size 900,560
set output "$OUT/throughput_vs_read_ratio.png"
set title "Throughput by read ratio: ${CLIENTS} clients x ${OUTSTANDING} outstanding, ${VALUE_SIZE}-byte values, ${PLOT_TOPOLOGY}, loopback"
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
