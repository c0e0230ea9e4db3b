#!/usr/bin/env python3
"""Summarise a bench/compare.sh run: one table (Keeper, ZooKeeper, ratio), results.json and the
data file of the throughput plot.

Usage: report.py OUT_DIR

Reads OUT_DIR/params.json, OUT_DIR/runs/<system>/meta.json, OUT_DIR/runs/<system>/<load>.json
(each one `keeper bench --json` report) and, for ensembles, OUT_DIR/runs/<system>/failover-<n>.json
(each one `ensemble_probe.py failover` report), and OUT_DIR/runs/disk/fsync-<round>.json (each one
`fsync_probe.py` report, the disk's own floor in a round of the side-by-side runs), and
OUT_DIR/runs/keeper-tracing/<config>-<round>.json (the tracing-cost runs: Keeper with tracing off,
at the default sampling ratio and at ratio 1.0). Writes OUT_DIR/results.json, OUT_DIR/table.txt
and OUT_DIR/throughput.dat, and prints the tables. Standard library only.
"""

import json
import os
import statistics
import sys

SYSTEMS = ["keeper", "zookeeper"]
READ_RATIOS = [0, 50, 90, 100]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def ms(us):
    return None if us is None else us / 1000.0


def mib(kb):
    return None if kb is None else kb / 1024.0


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def rows(params, runs, meta, failover):
    many = params.get("many_clients")
    cl, out = params.get("clients"), params.get("outstanding")
    watchers = params.get("watchers")
    r = []
    for ratio in READ_RATIOS:
        r.append(
            (
                f"throughput, {ratio}% reads, {cl}x{out} (ops/s)",
                lambda s, ratio=ratio: get(runs[s].get(f"mixed-{ratio}"), "ops_per_sec"),
                "{:.0f}",
            )
        )
    for ratio in (0, 100):
        r.append(
            (
                f"latency p99, {ratio}% reads, {cl}x{out} (ms)",
                lambda s, ratio=ratio: ms(get(runs[s].get(f"mixed-{ratio}"), "latency_us", "p99")),
                "{:.3f}",
            )
        )
    ensemble = params.get("servers", 1) > 1
    rounds = params.get("duel_rounds") or 0

    def over_rounds(name, *keys):
        return lambda s: median([get(runs[s].get(f"{name}-{i}"), *keys) for i in range(1, rounds + 1)])

    side_by_side = [("duel-1x1", "1x1 via a follower" if ensemble else "1x1")]
    if ensemble:
        side_by_side.append(("duel-1x1-leader", "1x1 via the leader"))
    side_by_side.append(("duel-many", f"{many}x1"))
    for name, label in side_by_side if rounds else []:
        for pct in ("p50", "p99", "p999"):
            latency = over_rounds(name, "latency_us", pct)
            r.append(
                (
                    f"write latency {pct}, {label}, side by side (ms)",
                    lambda s, latency=latency: ms(latency(s)),
                    "{:.3f}",
                )
            )
        r.append((f"write throughput, {label}, side by side (ops/s)", over_rounds(name, "ops_per_sec"), "{:.0f}"))
    r.append(
        (
            f"create+delete, {cl}x{out} (ops/s)",
            lambda s: get(runs[s].get("create-delete"), "ops_per_sec"),
            "{:.0f}",
        )
    )
    for pct in ("p50", "p99"):
        r.append(
            (
                f"watch, write reply -> {watchers} notified, {pct} (ms)",
                lambda s, pct=pct: ms(get(runs[s].get("watch"), "latency_us", pct)),
                "{:.3f}",
            )
        )
    for pct in ("p50", "p99"):
        r.append(
            (
                f"watch, write sent -> {watchers} notified, {pct} (ms)",
                lambda s, pct=pct: ms(get(runs[s].get("watch"), "by_op", "fanout", "latency_us", pct)),
                "{:.3f}",
            )
        )
    r.append(("watch rounds (per s)", lambda s: get(runs[s].get("watch"), "ops_per_sec"), "{:.0f}"))
    n = params.get("servers") or 1
    if n > 1:
        r.append((f"RSS idle, sum of {n} servers (MiB)", lambda s: mib(get(meta[s], "rss_idle_kb")), "{:.1f}"))
        r.append((f"RSS idle, max of {n} servers (MiB)", lambda s: mib(get(meta[s], "rss_idle_max_kb")), "{:.1f}"))
        r.append(
            (f"RSS under load, peak sum of {n} servers (MiB)", lambda s: mib(get(meta[s], "rss_load_kb")), "{:.1f}")
        )
        r.append(
            (f"RSS under load, peak max of {n} servers (MiB)", lambda s: mib(get(meta[s], "rss_load_max_kb")), "{:.1f}")
        )
        if params.get("znodes"):
            z = params["znodes"]
            r.append((f"RSS holding {z} znodes, sum of {n} servers (MiB)", lambda s: mib(get(meta[s], "rss_data_kb")), "{:.1f}"))
            r.append((f"RSS holding {z} znodes, max of {n} servers (MiB)", lambda s: mib(get(meta[s], "rss_data_max_kb")), "{:.1f}"))
        r.append(("start of processes to first accepted write (ms)", lambda s: get(meta[s], "startup_ms"), "{:.0f}"))
    else:
        r.append(("RSS idle (MiB)", lambda s: mib(get(meta[s], "rss_idle_kb")), "{:.1f}"))
        r.append(("RSS under load, peak (MiB)", lambda s: mib(get(meta[s], "rss_load_kb")), "{:.1f}"))
        if params.get("znodes"):
            z = params["znodes"]
            r.append((f"RSS holding {z} znodes (MiB)", lambda s: mib(get(meta[s], "rss_data_kb")), "{:.1f}"))
        r.append(("start to first accepted write (ms)", lambda s: get(meta[s], "startup_ms"), "{:.0f}"))
    runs_n = params.get("failover_runs") or 0
    if n > 1 and runs_n:
        for i in range(runs_n):
            r.append(
                (
                    f"failover, kill -9 leader -> write accepted, run {i + 1} (ms)",
                    lambda s, i=i: get(failover[s][i], "gap_ms") if i < len(failover[s]) else None,
                    "{:.0f}",
                )
            )
        r.append(
            (
                f"failover, kill -9 leader -> write accepted, median of {runs_n} (ms)",
                lambda s: median([get(f, "gap_ms") for f in failover[s]]),
                "{:.0f}",
            )
        )
        r.append(
            (
                f"failover, kill -9 leader -> both survivors write, median (ms)",
                lambda s: median([get(f, "all_ms") for f in failover[s]]),
                "{:.0f}",
            )
        )
    r.append(
        (
            "errors, all runs",
            lambda s: sum((get(v, "errors") or 0) + (get(v, "warmup_errors") or 0) for v in runs[s].values())
            if runs[s]
            else None,
            "{:.0f}",
            False,  # counts, not a figure to compare as a ratio
        )
    )
    return r


TRACE_CONFIGS = [("off", "tracing off"), ("default", "tracing on, default sampling ratio"),
                 ("full", "tracing on, ratio 1.0 (every write)")]


def tracing_table(params, out_dir):
    """The tracing-cost rows: median throughput and latency over the rounds, and each
    configuration's throughput relative to tracing off (the same run, the same machine)."""
    d = os.path.join(out_dir, "runs", "keeper-tracing")
    rounds = params.get("trace_rounds") or 0
    if not rounds or not os.path.isdir(d):
        return [], []
    figures, table = [], [("Keeper, writes " f"{params.get('clients')}x{params.get('outstanding')}",
                           "ops/s", "p50 (ms)", "p99 (ms)", "vs off")]
    reps = {c: [load(os.path.join(d, f"{c}-{i}.json")) for i in range(1, rounds + 1)] for c, _ in TRACE_CONFIGS}
    base = median([get(r, "ops_per_sec") for r in reps["off"]])
    for c, label in TRACE_CONFIGS:
        ops = median([get(r, "ops_per_sec") for r in reps[c]])
        p50 = ms(median([get(r, "latency_us", "p50") for r in reps[c]]))
        p99 = ms(median([get(r, "latency_us", "p99") for r in reps[c]]))
        errors = sum((get(r, "errors") or 0) for r in reps[c] if r)
        rel = ops / base if (ops is not None and base) else None
        figures.append({"figure": label, "ops_per_sec": ops, "p50_ms": p50, "p99_ms": p99,
                        "vs_off": rel, "errors": errors,
                        "per_round": [get(r, "ops_per_sec") for r in reps[c]]})
        table.append((label, fmt(ops, "{:.0f}"), fmt(p50, "{:.3f}"), fmt(p99, "{:.3f}"), fmt(rel, "{:.3f}")))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    lines = ["", "The cost of tracing (Keeper alone)"]
    for i, row in enumerate(table):
        lines.append("  ".join([row[0].ljust(widths[0])] + [row[j].rjust(widths[j]) for j in range(1, 5)]))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(
        f"three ensembles running at once, {rounds} rounds of {params.get('trace_seconds')} s rotating between "
        "them; medians over the rounds; the traced ones export over OTLP/HTTP to a local sink that accepts "
        "and counts (bench/otlp_sink.py)"
    )
    errs = [f"{f['figure']}: {f['errors']}" for f in figures if f["errors"]]
    if errs:
        lines.append("errors: " + ", ".join(errs))
    stats = load(os.path.join(d, "sink.stats"))
    if stats:
        lines.append(f"the sink received {stats.get('requests')} export requests, {stats.get('bytes')} bytes")
    return lines, figures


def fmt(v, f):
    return "n/a" if v is None else f.format(v)


def main():
    out_dir = sys.argv[1]
    params = load(os.path.join(out_dir, "params.json")) or {}
    runs, meta, failover = {}, {}, {}
    for s in SYSTEMS:
        d = os.path.join(out_dir, "runs", s)
        runs[s], failover[s] = {}, []
        if os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                if name.startswith("failover-") and name.endswith(".json"):
                    continue
                if name.endswith(".json") and name != "meta.json":
                    rep = load(os.path.join(d, name))
                    if rep is not None:
                        runs[s][name[: -len(".json")]] = rep
            for i in range(1, (params.get("failover_runs") or 0) + 1):
                failover[s].append(load(os.path.join(d, f"failover-{i}.json")))
        meta[s] = load(os.path.join(d, "meta.json")) or {}

    disk_dir = os.path.join(out_dir, "runs", "disk")
    disk = []
    if os.path.isdir(disk_dir):
        for name in sorted(os.listdir(disk_dir)):
            rep = load(os.path.join(disk_dir, name)) if name.endswith(".json") else None
            if rep is not None:
                disk.append(rep)

    figures = []
    table = [("figure", "keeper", "zookeeper", "keeper/zk")]
    for label, fn, f, *comparable in rows(params, runs, meta, failover):
        k, z = fn("keeper"), fn("zookeeper")
        ratio = k / z if (comparable != [False] and k is not None and z not in (None, 0)) else None
        figures.append({"figure": label, "keeper": k, "zookeeper": z, "ratio": ratio})
        table.append((label, fmt(k, f), fmt(z, f), fmt(ratio, "{:.2f}")))

    widths = [max(len(row[i]) for row in table) for i in range(4)]
    lines = []
    n = params.get("servers") or 1
    topology = f"{n}-server ensembles (loads through all {n})" if n > 1 else "standalone"
    title = (
        f"Keeper vs Apache ZooKeeper {meta['zookeeper'].get('version', '3.8')}, {topology}, loopback; "
        f"{params.get('duration')} s per run after {params.get('warmup')} s warm-up "
        f"(and {params.get('preload', 0)} s of unmeasured load before the first), "
        f"{params.get('value_size')}-byte values"
    )
    lines.append(title)
    for i, row in enumerate(table):
        cells = [row[0].ljust(widths[0])] + [row[j].rjust(widths[j]) for j in range(1, 4)]
        lines.append("  ".join(cells))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    if params.get("duel_rounds"):
        lines.append(
            f"side by side: both systems running at once, each after {params.get('duel_preload')} s of "
            f"unmeasured load, {params['duel_rounds']} rounds of {params.get('duel_seconds')} s alternating "
            "between them; each figure is the median over the rounds"
        )
    if disk:
        n_disk = disk[0].get("writers")
        floor = ", ".join(
            f"{pct} {fmt(ms(median([get(d, 'latency_us', pct) for d in disk])), '{:.3f}')}" for pct in ("p50", "p99", "p999")
        )
        lines.append(
            f"disk alone, in the same rounds with both systems idle: append of {disk[0].get('record_bytes')} bytes + "
            f"fdatasync, one writer per server ({n_disk}) at once, as the servers' logs do for each write: {floor} ms "
            f"(median over {len(disk)} rounds)"
            + ("; a write through the leader waits for two of these" if (n_disk or 0) > 1 else "")
        )
    if any(failover[s] for s in SYSTEMS):
        lines.append(
            "failover: SIGKILL of the leader (srvr Mode: leader) while 2 connections per surviving server "
            "create znodes in a closed loop (1 in flight each, new session when a connection is lost); "
            "time from the kill to the first accepted write sent after it"
        )
    for s in SYSTEMS:
        for note in meta[s].get("notes", []):
            lines.append(f"note ({s}): {note}")
    trace_lines, trace_figures = tracing_table(params, out_dir)
    if params.get("tracing_only"):
        lines = trace_lines[1:]
    else:
        lines += trace_lines
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "table.txt"), "w") as f:
        f.write(text)
    sys.stdout.write(text)

    with open(os.path.join(out_dir, "throughput.dat"), "w") as f:
        f.write("# read_percent keeper_ops_per_sec zookeeper_ops_per_sec\n")
        for ratio in READ_RATIOS:
            vals = [get(runs[s].get(f"mixed-{ratio}"), "ops_per_sec") for s in SYSTEMS]
            f.write(f"{ratio} " + " ".join("NaN" if v is None else f"{v:.1f}" for v in vals) + "\n")

    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"params": params, "meta": meta, "figures": figures, "runs": runs, "failover": failover,
                   "disk": disk, "tracing": trace_figures}, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
