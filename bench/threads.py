#!/usr/bin/env python3
"""Where each server thread's CPU goes, per operation: the measure of a serial bottleneck.

Starts a 3-server Keeper ensemble on loopback (fsync on), runs `keeper bench` loads through all
three servers, and reads every server thread's CPU time (/proc/<pid>/task/*/stat, utime + stime)
just before and after each load. It prints, per load, each server's threads by name with their
share of a core and their CPU microseconds per operation, and the busiest thread of any server:
the one that caps the ensemble when it reaches 100 %.

Usage: bench/threads.py [--keeper BIN] [--loads write:32x16,read:32x16] [--duration S]
                        [--json FILE] [--set key=value ...]
Only the standard library; runs wherever the keeper binary and python3 do (no ZooKeeper needed).
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def four_letter(port, word, timeout=1.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(word.encode())
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
            return out.decode(errors="replace")
    except OSError:
        return ""


def mode(port):
    for line in four_letter(port, "srvr").splitlines():
        if line.startswith("Mode: "):
            return line[6:].strip()
    return None


def wait_ready(ports, timeout):
    """The modes (srvr) of the servers at these client ports as soon as one leads and all the
    others follow, or None after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        modes = [mode(p) for p in ports]
        if modes.count("leader") == 1 and modes.count("follower") == len(ports) - 1:
            return modes
        time.sleep(0.2)
    return None


def thread_times(pid):
    """{tid: (name, cpu seconds)} of a process's threads."""
    out = {}
    base = f"/proc/{pid}/task"
    try:
        tids = os.listdir(base)
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"{base}/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm is in parentheses and may hold spaces; the fields after it are fixed.
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2 :].split()
        utime, stime = int(rest[11]), int(rest[12])
        out[tid] = (name, (utime + stime) / CLK_TCK)
    return out


def by_name(before, after):
    """CPU seconds per thread name between two samples (threads of one name are summed; a
    thread born in between counts from zero)."""
    names = {}
    for tid, (name, t) in after.items():
        t0 = before.get(tid, (name, 0.0))[1]
        names[name] = names.get(name, 0.0) + max(0.0, t - t0)
    return names


def by_thread(before, after):
    """{tid: (name, CPU seconds)} of each thread between two samples (a thread born in between
    counts from zero); unlike by_name, threads that share a name stay apart, so that a pool of
    workers (Java truncates names to 15 characters: NIOWorkerThread-1..N all read
    `NIOWorkerThread`) does not pass for one busy thread."""
    return {tid: (name, max(0.0, t - before.get(tid, (name, 0.0))[1]))
            for tid, (name, t) in after.items()}


class Ensemble:
    def __init__(self, keeper, extra):
        self.keeper = keeper
        self.dir = tempfile.mkdtemp(prefix="keeper-threads-")
        ports = free_ports(9)
        self.client = ports[0:3]
        cfg = ['[client]\naddress = "127.0.0.1"\n\n[storage]\nforce_sync = true\n\n[quorum.members]\n']
        for i in range(3):
            cfg.append(f'{i + 1} = "127.0.0.1:{ports[3 + i]}:{ports[6 + i]};127.0.0.1:{ports[i]}"\n')
        with open(os.path.join(self.dir, "keeper.toml"), "w") as f:
            f.write("".join(cfg))
        self.procs = []
        for i in range(3):
            cmd = [keeper, "server", "--config", os.path.join(self.dir, "keeper.toml"),
                   "--set", f"server.id={i + 1}",
                   "--set", f"storage.data_dir={self.dir}/data-{i + 1}",
                   "--set", "server.four_letter_words=*"]
            for e in extra:
                cmd += ["--set", e]
            log = open(os.path.join(self.dir, f"server-{i + 1}.log"), "wb")
            self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
        self.modes = wait_ready(self.client, 60)
        if self.modes is None:
            self.stop()
            sys.exit(f"threads: the ensemble did not form (logs in {self.dir})")

    def hosts(self):
        return ",".join(f"127.0.0.1:{p}" for p in self.client)

    def stop(self):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def run_load(ens, workload, clients, outstanding, duration):
    cmd = [ens.keeper, "bench", "--connect", ens.hosts(), "--workload", workload,
           "--clients", str(clients), "--outstanding", str(outstanding),
           "--duration", str(duration), "--warmup", "0", "--json", "--quiet"]
    before = [thread_times(p.pid) for p in ens.procs]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    after = [thread_times(p.pid) for p in ens.procs]
    if r.returncode != 0:
        sys.exit(f"threads: keeper bench failed: {r.stderr.strip()}")
    report = json.loads(r.stdout)
    ops = report.get("ops", 0) or int(report["ops_per_sec"] * duration)
    servers = []
    for i, (b, a) in enumerate(zip(before, after)):
        names = by_name(b, a)
        threads = [
            {"thread": n, "cpu_s": round(s, 3), "core_pct": round(100 * s / wall, 1),
             "us_per_op": round(1e6 * s / ops, 2) if ops else None}
            for n, s in sorted(names.items(), key=lambda kv: -kv[1]) if s > 0
        ]
        servers.append({"server": i + 1, "mode": ens.modes[i], "threads": threads,
                        "total_cpu_s": round(sum(names.values()), 3)})
    busiest = max(
        ((s["server"], s["mode"], t) for s in servers for t in s["threads"]),
        key=lambda x: x[2]["cpu_s"], default=None)
    return {"load": f"{workload}:{clients}x{outstanding}", "ops": ops,
            "ops_per_sec": report["ops_per_sec"], "wall_s": round(wall, 2),
            "latency_us": report.get("latency_us"), "errors": report.get("errors"),
            "servers": servers,
            "busiest": {"server": busiest[0], "mode": busiest[1], **busiest[2]} if busiest else None}


def measure_load(bench, hosts, pids, modes, workload, clients, outstanding, duration, warmup=2.0,
                 extra=(), on_start=None, skip=()):
    """One `BENCH bench --json --quiet` run over HOSTS with a warm-up, and the CPU of every thread
    of the server processes PIDS (in the order of MODES) inside its measured window only: the
    samples are taken `margin` after the warm-up ends and `margin` before the window closes
    (the bench's connection setup before its warm-up must take less than `margin`). Per-op and
    per-core figures divide by that sampled window. Never exits: a failed or hung bench (killed
    after warm-up + duration + 60 s) gives a result with "error" set. ON_START(popen) is called
    once the bench runs (to record its pid for a cleanup elsewhere). "busiest" is the busiest
    single thread of any server whose name does not start with one of SKIP (e.g. a JVM's JIT
    compiler and GC threads); "busiest_any" the busiest of all."""
    cmd = [bench, "bench", "--connect", hosts, "--workload", workload,
           "--clients", str(clients), "--outstanding", str(outstanding),
           "--duration", str(duration), "--warmup", str(warmup), "--json", "--quiet", *extra]
    margin = min(0.5, duration / 4)
    res = {"load": f"{workload}:{clients}x{outstanding}", "workload": workload,
           "clients": clients, "outstanding": outstanding, "duration": duration, "warmup": warmup}
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if on_start:
        on_start(p)
    try:
        time.sleep(max(0.0, t0 + warmup + margin - time.time()))
        before = [thread_times(pid) for pid in pids]
        t1 = time.time()
        try:
            p.wait(timeout=max(0.0, t0 + warmup + duration - margin - time.time()))
        except subprocess.TimeoutExpired:
            pass
        after = [thread_times(pid) for pid in pids]
        window = time.time() - t1
        out, err = p.communicate(timeout=warmup + duration + 60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        res["error"] = f"keeper bench did not finish within {warmup + duration + 60:.0f} s"
        return res
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    if p.returncode != 0:
        res["error"] = f"keeper bench exited with {p.returncode}: {err.strip()[-2000:]}"
        return res
    try:
        report = json.loads(out)
    except ValueError:
        res["error"] = f"keeper bench printed no JSON: {out.strip()[-500:]} {err.strip()[-500:]}"
        return res
    ops_per_sec = report.get("ops_per_sec") or 0.0
    lat = report.get("latency_us") or {}
    res.update({"ops": report.get("ops"), "ops_per_sec": ops_per_sec,
                "p50_us": lat.get("p50"), "p99_us": lat.get("p99"), "latency_us": lat,
                "errors": report.get("errors"), "warmup_errors": report.get("warmup_errors"),
                "errors_by_code": report.get("errors_by_code"), "cpu_window_s": round(window, 3)})
    if p.returncode == 0 and window < duration / 2:
        res["note"] = f"the bench ended early: CPU sampled over {window:.2f} s only"

    def per_op(s):
        return round(1e6 * s / (ops_per_sec * window), 2) if ops_per_sec and window else None

    servers, busiest, busiest_any = [], None, None
    for i, (b, a) in enumerate(zip(before, after)):
        names, counts = {}, {}
        for tid, (name, s) in by_thread(b, a).items():
            names[name] = names.get(name, 0.0) + s
            counts[name] = counts.get(name, 0) + 1
            t = {"server": i + 1, "mode": modes[i], "thread": name, "tid": tid, "cpu_s": s}
            if busiest_any is None or s > busiest_any["cpu_s"]:
                busiest_any = t
            if not name.startswith(tuple(skip)) and (busiest is None or s > busiest["cpu_s"]):
                busiest = t
        total = sum(names.values())
        servers.append({
            "server": i + 1, "mode": modes[i], "pid": pids[i], "total_cpu_s": round(total, 3),
            "cores": round(total / window, 2) if window else None,
            "us_per_op": per_op(total),
            "threads": [{"thread": n, "count": counts[n], "cpu_s": round(s, 3),
                         "core_pct": round(100 * s / window, 1) if window else None,
                         "us_per_op": per_op(s)}
                        for n, s in sorted(names.items(), key=lambda kv: -kv[1]) if s > 0]})
    res["servers"] = servers
    for b in {id(b): b for b in (busiest, busiest_any) if b}.values():
        s = b["cpu_s"]
        b.update({"cpu_s": round(s, 3), "us_per_op": per_op(s),
                  "core_pct": round(100 * s / window, 1) if window else None})
    res["busiest"] = busiest
    res["busiest_any"] = busiest_any
    return res


def print_result(res):
    print(f"\n== {res['load']}: {res['ops_per_sec']:.0f} ops/s over {res['wall_s']} s "
          f"({res['ops']} ops, errors {res['errors']})")
    for s in res["servers"]:
        print(f"  server {s['server']} ({s['mode']}), {s['total_cpu_s']:.2f} CPU s in all")
        for t in s["threads"][:8]:
            print(f"    {t['thread']:<16} {t['core_pct']:6.1f} % of a core  {t['us_per_op']:8.2f} us/op")
    b = res["busiest"]
    if b:
        print(f"  busiest thread: server {b['server']} ({b['mode']}) {b['thread']}: "
              f"{b['us_per_op']} us/op, {b['core_pct']} % of a core")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keeper", default=os.environ.get("BENCH_KEEPER_BIN", "target/release/keeper"))
    ap.add_argument("--loads", default="write:32x16,read:32x16")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--json", help="write the results here as JSON")
    ap.add_argument("--set", action="append", default=[], help="more server settings")
    args = ap.parse_args()
    loads = []
    for spec in args.loads.split(","):
        workload, shape = spec.rsplit(":", 1)
        c, o = shape.split("x")
        loads.append((workload, int(c), int(o)))
    ens = Ensemble(args.keeper, args.set)
    results = []
    try:
        print(f"threads: ensemble modes {ens.modes}, {os.cpu_count()} cores")
        for workload, c, o in loads:
            res = run_load(ens, workload, c, o, args.duration)
            print_result(res)
            results.append(res)
    finally:
        ens.stop()
        ens.cleanup()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cores": os.cpu_count(), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
