"""bench/threads.py's measure_load (what bench/bigbox.sh runs per load) and by_thread, with a fake
`bench` that prints a made-up report: no server runs and no timing is asserted."""

import os
import stat
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import threads  # noqa: E402

REPORT = ('{"ops": 2000, "ops_per_sec": 1000.0, "errors": 0, "warmup_errors": 0, '
          '"errors_by_code": {}, "latency_us": {"p50": 150, "p99": 900}}')


def fake_bench(tmp_path, body):
    path = tmp_path / "keeper"
    path.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_by_thread_keeps_threads_of_one_name_apart():
    before = {"1": ("NIOWorkerThread", 1.0), "2": ("NIOWorkerThread", 1.0)}
    after = {"1": ("NIOWorkerThread", 1.5), "2": ("NIOWorkerThread", 3.0), "3": ("SyncThread:1", 0.25)}
    assert threads.by_thread(before, after) == {
        "1": ("NIOWorkerThread", 0.5), "2": ("NIOWorkerThread", 2.0), "3": ("SyncThread:1", 0.25)}


def test_measure_load_reads_the_report_and_the_threads_in_the_window(tmp_path):
    bench = fake_bench(tmp_path, f"assert sys.argv[1] == 'bench'\ntime.sleep(1.2)\nprint('{REPORT}')")
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            sum(range(1000))

    t = threading.Thread(target=spin, name="spinner")
    t.start()
    started = []
    try:
        res = threads.measure_load(bench, "127.0.0.1:1", [os.getpid()], ["leader"], "mixed:90", 4, 2,
                                   duration=1.0, warmup=0.2, on_start=lambda p: started.append(p.pid),
                                   skip=("no-such-thread",))
    finally:
        stop.set()
        t.join()
    assert "error" not in res, res
    assert started and res["load"] == "mixed:90:4x2"
    assert (res["ops_per_sec"], res["p50_us"], res["p99_us"], res["errors"]) == (1000.0, 150, 900, 0)
    assert 0 < res["cpu_window_s"] < 1.2
    (server,) = res["servers"]
    assert server["mode"] == "leader" and server["total_cpu_s"] > 0 and server["cores"] > 0
    assert res["busiest"]["cpu_s"] > 0 and res["busiest"]["us_per_op"] > 0
    assert res["busiest_any"]["cpu_s"] >= res["busiest"]["cpu_s"]


def test_measure_load_leaves_skipped_threads_out_of_busiest(tmp_path):
    bench = fake_bench(tmp_path, f"time.sleep(0.6)\nprint('{REPORT}')")
    names = {n for n, _ in threads.thread_times(os.getpid()).values()}
    res = threads.measure_load(bench, "127.0.0.1:1", [os.getpid()], ["follower"], "write", 1, 1,
                               duration=0.5, warmup=0.0, skip=tuple(names))
    assert "error" not in res, res
    assert res["busiest"] is None


def test_a_failed_bench_gives_an_error_and_no_exit(tmp_path):
    bench = fake_bench(tmp_path, "sys.stderr.write('connection refused\\n')\nsys.exit(1)")
    res = threads.measure_load(bench, "127.0.0.1:1", [os.getpid()], ["leader"], "write", 1, 1,
                               duration=0.5, warmup=0.0)
    assert "connection refused" in res["error"]
    assert "servers" not in res
