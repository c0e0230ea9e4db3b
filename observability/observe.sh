#!/usr/bin/env bash
# make observe: a local three-server Keeper ensemble with Debian's Prometheus scraping it and a
# light load running, to look at Keeper's metrics (and traces) without Docker. It prints where
# to look and runs until Ctrl-C (or for OBSERVE_SECONDS), then stops everything it started.
#
# Environment:
#   KEEPER_BIN               keeper binary (default: cargo build --release, target/release/keeper)
#   OBSERVE_CLIENT_PORT      client port of server 1, the others follow (default 2181)
#   OBSERVE_QUORUM_PORT      quorum port of server 1 (default 2888)
#   OBSERVE_ELECTION_PORT    election port of server 1 (default 3888)
#   OBSERVE_METRICS_PORT     Prometheus metrics port of server 1 (default 7001)
#   OBSERVE_PROMETHEUS_PORT  Prometheus's own port (default: the first free of 9090..9099)
#   OBSERVE_LOAD             `keeper bench` workload (default mixed:50; none: no load)
#   OBSERVE_SECONDS          stop after this many seconds (default 0: until Ctrl-C)
#   OBSERVE_DIR              where data, logs and Prometheus's database go (default: a new
#                            directory under /tmp, removed at the end unless OBSERVE_DIR is set)
#   OTEL_EXPORTER_OTLP_ENDPOINT and the other OTEL_* variables: passed to the servers, so that
#                            they export traces to your collector (e.g. Jaeger's binary on 4317)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLIENT_PORT="${OBSERVE_CLIENT_PORT:-2181}"
QUORUM_PORT="${OBSERVE_QUORUM_PORT:-2888}"
ELECTION_PORT="${OBSERVE_ELECTION_PORT:-3888}"
METRICS_PORT="${OBSERVE_METRICS_PORT:-7001}"
LOAD="${OBSERVE_LOAD:-mixed:50}"
LIMIT="${OBSERVE_SECONDS:-0}"
SIZE=3

say() { printf 'observe: %s\n' "$*"; }
die() {
    say "error: $*" >&2
    exit 1
}

for v in CLIENT_PORT QUORUM_PORT ELECTION_PORT METRICS_PORT LIMIT; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "OBSERVE_$v must be a number, got '${!v}'"
done
command -v prometheus >/dev/null 2>&1 ||
    die "prometheus is not installed (make observe installs Debian's package: apt-get install prometheus)"

# A port is taken when something accepts a connection on it.
taken() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [[ -n "${OBSERVE_PROMETHEUS_PORT:-}" ]]; then
    PROM_PORT=$OBSERVE_PROMETHEUS_PORT
    taken "$PROM_PORT" && die "port $PROM_PORT (OBSERVE_PROMETHEUS_PORT) is taken"
else
    PROM_PORT=""
    for p in $(seq 9090 9099); do
        if ! taken "$p"; then
            PROM_PORT=$p
            break
        fi
    done
    [[ -n "$PROM_PORT" ]] || die "ports 9090..9099 are all taken; set OBSERVE_PROMETHEUS_PORT"
fi
for ((i = 0; i < SIZE; i++)); do
    for p in $((CLIENT_PORT + i)) $((METRICS_PORT + i)); do
        taken "$p" && die "port $p is taken (set OBSERVE_CLIENT_PORT / OBSERVE_METRICS_PORT)"
    done
done

if [[ -z "${KEEPER_BIN:-}" ]]; then
    say "building keeper (release)"
    (cd "$ROOT" && cargo build --release --bin keeper)
    KEEPER_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/keeper"
fi
[[ -x "$KEEPER_BIN" ]] || die "keeper binary $KEEPER_BIN not found"

KEEP_DIR=1
if [[ -z "${OBSERVE_DIR:-}" ]]; then
    OBSERVE_DIR=$(mktemp -d /tmp/keeper-observe.XXXXXX)
    KEEP_DIR=0
fi
mkdir -p "$OBSERVE_DIR"

ENSEMBLE_PID="" PROM_PID="" LOAD_PID=""
stop() {
    trap - EXIT INT TERM
    say "stopping"
    # The load loop's running bench first, found before the loop goes (it would be orphaned).
    local bench=""
    [[ -n "$LOAD_PID" ]] && bench=$(pgrep -P "$LOAD_PID" || true)
    for pid in $LOAD_PID $bench $PROM_PID $ENSEMBLE_PID; do kill "$pid" 2>/dev/null || true; done
    for pid in $LOAD_PID $PROM_PID $ENSEMBLE_PID; do wait "$pid" 2>/dev/null || true; done
    if [[ "$KEEP_DIR" == 0 ]]; then
        rm -rf "$OBSERVE_DIR"
    else
        say "data, logs and Prometheus's database are kept in $OBSERVE_DIR"
    fi
}
trap stop EXIT
trap 'exit 0' INT TERM

# ----- the ensemble -----------------------------------------------------------------------
"$KEEPER_BIN" ensemble --size "$SIZE" --dir "$OBSERVE_DIR/ensemble" \
    --client-port "$CLIENT_PORT" --quorum-port "$QUORUM_PORT" --election-port "$ELECTION_PORT" \
    --metrics-port "$METRICS_PORT" </dev/null >"$OBSERVE_DIR/ensemble.out" 2>&1 &
ENSEMBLE_PID=$!
for _ in $(seq 600); do
    grep -q "started" "$OBSERVE_DIR/ensemble.out" && break
    kill -0 "$ENSEMBLE_PID" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q "started" "$OBSERVE_DIR/ensemble.out"; then
    cat "$OBSERVE_DIR/ensemble.out" >&2
    die "the ensemble did not start (logs under $OBSERVE_DIR/ensemble)"
fi
HOSTS=$(for ((i = 0; i < SIZE; i++)); do printf '127.0.0.1:%s,' $((CLIENT_PORT + i)); done)
HOSTS=${HOSTS%,}

# ----- Prometheus -------------------------------------------------------------------------
TARGETS=$(for ((i = 0; i < SIZE; i++)); do printf '"127.0.0.1:%s", ' $((METRICS_PORT + i)); done)
cat >"$OBSERVE_DIR/prometheus.yml" <<EOF
# Written by observability/observe.sh: the local ensemble, with Keeper's alert rules.
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
  - $ROOT/observability/prometheus/rules.yml
scrape_configs:
  - job_name: keeper
    static_configs:
      - targets: [${TARGETS%, }]
EOF
prometheus --config.file="$OBSERVE_DIR/prometheus.yml" \
    --storage.tsdb.path="$OBSERVE_DIR/prometheus" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$OBSERVE_DIR/prometheus.log" 2>&1 &
PROM_PID=$!
for _ in $(seq 300); do
    taken "$PROM_PORT" && break
    kill -0 "$PROM_PID" 2>/dev/null || break
    sleep 0.1
done
if ! taken "$PROM_PORT"; then
    tail -n 20 "$OBSERVE_DIR/prometheus.log" >&2
    die "Prometheus did not start"
fi

# ----- load -------------------------------------------------------------------------------
# One client per server, one request in flight each: a steady trickle, not a benchmark.
if [[ "$LOAD" != none ]]; then
    chunk=600
    ((LIMIT > 0)) && chunk=$LIMIT
    (
        while :; do
            "$KEEPER_BIN" bench --connect "$HOSTS" --workload "$LOAD" --clients "$SIZE" \
                --outstanding 1 --duration "$chunk" --warmup 0 --prefix /observe --quiet \
                >/dev/null 2>>"$OBSERVE_DIR/load.log" || sleep 2
        done
    ) &
    LOAD_PID=$!
fi

P="http://127.0.0.1:$PROM_PORT"
query() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }
cat <<EOF

Keeper ensemble of $SIZE servers: $HOSTS
  try:        $KEEPER_BIN cli -server $HOSTS
  4lw:        echo mntr | nc 127.0.0.1 $CLIENT_PORT
  metrics:    http://127.0.0.1:$METRICS_PORT/metrics (servers 2 and 3: $((METRICS_PORT + 1)), $((METRICS_PORT + 2)))
Prometheus:   $P
  targets:    $P/targets   alerts: $P/alerts
  writes/s:   $P/graph?g0.expr=$(query 'rate(commit_count[1m])')
  latency:    $P/graph?g0.expr=$(query 'updatelatency{quantile="0.99"}')
  fsync:      $P/graph?g0.expr=$(query 'rate(fsynctime_sum[1m]) / rate(fsynctime_count[1m])')
  the Grafana dashboard's queries: observability/grafana/dashboards/keeper.json (import it into
  a Grafana with this Prometheus as a datasource of uid "prometheus"; with Docker,
  observability/docker-compose.yml provisions both)
Load:         $LOAD ($SIZE clients x 1 outstanding; OBSERVE_LOAD=none for none)
Traces:       ${OTEL_EXPORTER_OTLP_ENDPOINT:+exported to $OTEL_EXPORTER_OTLP_ENDPOINT}${OTEL_EXPORTER_OTLP_ENDPOINT:-off: set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://127.0.0.1:4317 for a local Jaeger) before make observe}
Roles:        $OBSERVE_DIR/ensemble.out follows each server's mode (a failover as it happens)
Logs:         $OBSERVE_DIR
EOF
if ((LIMIT > 0)); then
    say "running for $LIMIT s"
    sleep "$LIMIT" &
    wait $! || true
else
    say "Ctrl-C stops everything"
    wait "$ENSEMBLE_PID" || true
fi
