"""bench/report.py and bench/fsync_probe.py on made-up runs: which figure goes in which row, the
medians over rounds, the ratios, and what a missing run becomes. No server runs and no timing
is asserted (the benchmark itself is a tool, run by `make bench-compare`)."""

import json
import os
import subprocess
import sys

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)


def report(lat_us=None, ops=None, **extra):
    r = {"errors": 0, "warmup_errors": 0}
    if ops is not None:
        r["ops_per_sec"] = ops
    if lat_us is not None:
        r["latency_us"] = lat_us
    r.update(extra)
    return r


def make_run(out, rounds=3, disk=True, zookeeper_mixed_50=True):
    write(
        os.path.join(out, "params.json"),
        {
            "servers": 3, "duration": 8, "warmup": 1, "preload": 5, "clients": 16, "outstanding": 16,
            "many_clients": 32, "watchers": 16, "value_size": 100, "failover_runs": 2, "znodes": 1000,
            "duel_rounds": rounds, "duel_seconds": 3, "duel_preload": 30,
        },
    )
    for sys_name, scale in (("keeper", 1.0), ("zookeeper", 4.0)):
        runs = os.path.join(out, "runs", sys_name)
        for ratio in (0, 50, 90, 100):
            if sys_name == "zookeeper" and ratio == 50 and not zookeeper_mixed_50:
                continue
            write(os.path.join(runs, f"mixed-{ratio}.json"), report({"p99": 1000 * scale}, ops=40000 / scale))
        # Per-round p99s 300, 900, 600 (x scale): the median is the middle one, not the mean.
        for i, p99 in zip(range(1, rounds + 1), (300, 900, 600)):
            lat = {"p50": 100 * scale, "p99": p99 * scale, "p999": 2000 * scale}
            for name in ("duel-1x1", "duel-1x1-leader", "duel-many"):
                write(os.path.join(runs, f"{name}-{i}.json"), report(lat, ops=1000 / scale))
        write(
            os.path.join(runs, "watch.json"),
            report({"p50": 50, "p99": 90}, ops=500, by_op={"fanout": {"latency_us": {"p50": 70, "p99": 95}}}),
        )
        write(os.path.join(runs, "create-delete.json"), report(ops=2000, errors=3))
        write(
            os.path.join(runs, "meta.json"),
            {"version": "test", "startup_ms": 100 * scale, "rss_idle_kb": 10240 * scale, "rss_idle_max_kb": 4096,
             "rss_load_kb": 20480, "rss_load_max_kb": 8192, "rss_data_kb": 40960, "rss_data_max_kb": 16384},
        )
        for i, gap in ((1, 40 * scale), (2, 60 * scale)):
            write(os.path.join(runs, f"failover-{i}.json"), {"gap_ms": gap, "all_ms": gap + 5})
    if disk:
        for i, p99 in ((1, 400), (2, 800), (3, 500)):
            write(
                os.path.join(out, "runs", "disk", f"fsync-{i}.json"),
                {"writers": 3, "record_bytes": 150, "count": 100,
                 "latency_us": {"p50": 200, "p99": p99, "p999": 3000, "max": 9000}},
            )


def run_report(out):
    res = subprocess.run([sys.executable, os.path.join(BENCH, "report.py"), out], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    figures = {f["figure"]: f for f in results["figures"]}
    return res.stdout, results, figures


def test_figures_medians_and_ratios(tmp_path):
    out = str(tmp_path)
    make_run(out)
    text, results, figures = run_report(out)

    f = figures["throughput, 0% reads, 16x16 (ops/s)"]
    assert (f["keeper"], f["zookeeper"], f["ratio"]) == (40000, 10000, 4.0)
    for label in ("1x1 via a follower", "1x1 via the leader", "32x1"):
        f = figures[f"write latency p99, {label}, side by side (ms)"]
        assert f["keeper"] == 0.6 and f["zookeeper"] == 2.4
        assert abs(f["ratio"] - 0.25) < 1e-9
    assert figures["failover, kill -9 leader -> write accepted, median of 2 (ms)"]["keeper"] == 50
    assert figures["failover, kill -9 leader -> write accepted, run 2 (ms)"]["zookeeper"] == 240
    assert figures["RSS idle, sum of 3 servers (MiB)"]["keeper"] == 10.0
    assert figures["RSS holding 1000 znodes, max of 3 servers (MiB)"]["zookeeper"] == 16.0
    errors = figures["errors, all runs"]
    assert errors["keeper"] == 3 and errors["ratio"] is None
    # The table has the same figures, formatted, and says how the side-by-side rows were taken.
    row = next(line for line in text.splitlines() if line.startswith("write latency p99, 1x1 via the leader"))
    assert row.split()[-3:] == ["0.600", "2.400", "0.25"]
    assert "3 rounds of 3 s alternating" in text
    disk_line = next(line for line in text.splitlines() if line.startswith("disk alone"))
    assert "one writer per server (3)" in disk_line
    assert "p50 0.200, p99 0.500, p999 3.000 ms (median over 3 rounds)" in disk_line
    assert len(results["disk"]) == 3
    with open(os.path.join(out, "throughput.dat")) as f:
        dat = [line.split() for line in f if not line.startswith("#")]
    assert dat[0] == ["0", "40000.0", "10000.0"]


def test_missing_runs_are_not_available_not_zero(tmp_path):
    out = str(tmp_path)
    make_run(out, disk=False, zookeeper_mixed_50=False)
    text, _, figures = run_report(out)
    f = figures["throughput, 50% reads, 16x16 (ops/s)"]
    assert f["keeper"] == 40000 and f["zookeeper"] is None and f["ratio"] is None
    row = next(line for line in text.splitlines() if line.startswith("throughput, 50% reads"))
    assert row.split()[-2:] == ["n/a", "n/a"]
    assert "disk alone" not in text
    with open(os.path.join(out, "throughput.dat")) as f:
        assert "50 40000.0 NaN\n" in f.read()


def test_fsync_probe_reports_every_writer(tmp_path):
    res = subprocess.run(
        [sys.executable, os.path.join(BENCH, "fsync_probe.py"), str(tmp_path), "2", "0.2", "64"],
        capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["writers"] == 2 and rep["record_bytes"] == 64 and rep["count"] >= 2
    lat = rep["latency_us"]
    assert 0 < lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"]
    # Its files are gone.
    assert os.listdir(tmp_path) == []


def test_fsync_probe_usage():
    res = subprocess.run([sys.executable, os.path.join(BENCH, "fsync_probe.py")], capture_output=True, text=True)
    assert res.returncode == 2 and "Usage" in res.stderr


def test_tracing_cost_rows(tmp_path):
    """The tracing-cost table: medians over the rotating rounds and each configuration against
    tracing off; a tracing-only run prints that table alone."""
    out = str(tmp_path)
    write(os.path.join(out, "params.json"),
          {"servers": 3, "clients": 16, "outstanding": 16, "trace_rounds": 3, "trace_seconds": 5,
           "tracing_only": True})
    d = os.path.join(out, "runs", "keeper-tracing")
    per_round = {"off": (100000, 90000, 110000), "default": (97000, 99000, 96000), "full": (30000, 31000, None)}
    for cfg, values in per_round.items():
        for i, ops in enumerate(values, 1):
            if ops is not None:
                write(os.path.join(d, f"{cfg}-{i}.json"), report({"p50": 1000, "p99": 4000}, ops=ops))
    write(os.path.join(d, "sink.stats"), {"requests": 12, "bytes": 3456})
    stdout, results, _ = run_report(out)
    rows = {f["figure"]: f for f in results["tracing"]}
    assert rows["tracing off"]["ops_per_sec"] == 100000
    assert rows["tracing on, default sampling ratio"]["ops_per_sec"] == 97000
    assert abs(rows["tracing on, default sampling ratio"]["vs_off"] - 0.97) < 1e-9
    # A missing round is left out of the median, not counted as zero.
    assert rows["tracing on, ratio 1.0 (every write)"]["ops_per_sec"] == 30500
    assert stdout.startswith("The cost of tracing")
    assert "0.970" in stdout and "12 export requests" in stdout
    assert "Keeper vs Apache ZooKeeper" not in stdout


def test_no_tracing_rows_without_rounds(tmp_path):
    out = str(tmp_path)
    make_run(out)
    stdout, results, _ = run_report(out)
    assert results["tracing"] == []
    assert "The cost of tracing" not in stdout
