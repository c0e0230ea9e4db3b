#!/usr/bin/env python3
"""How Keeper and ZooKeeper 3.8 grow with the data: standalone servers side by side (fsync on,
the same snapCount), filled with N znodes of 100 bytes, then killed (-9) and started again on
the same data directory. For each size: fill time, resident memory holding the data, time to
recover (start until a session is served) and memory after recovery, with Keeper / ZooKeeper
ratios, so that the table shows how each figure grows (issue 15's scale targets: recovery at
most a quarter of ZooKeeper's time, memory at most a quarter).

Usage: bench/scale.py [--sizes 100000,1000000] [--keeper target/release/keeper]
                      [--zk-heap 4g] [--json FILE]
The servers are the compatibility suite's (tests/compat/servers.py): Debian's ZooKeeper 3.8.
One server runs at a time.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "compat"))
from servers import Server, ServerOptions  # noqa: E402

sys.path.insert(0, HERE)
from rss_sampler import rss_kib  # noqa: E402


def fill(hosts, count):
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "ensemble_probe.py"), "fill", hosts, str(count),
         "--window", "1000"],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def measure(kind, size, args):
    opts = ServerOptions(
        tick_time=2000,
        zk_heap=args.zk_heap,
        extra_zk_cfg={"snapCount": 100000},
        extra_keeper_set={"storage.snap_count": 100000},
    )
    if kind == "keeper":
        os.environ["KEEPER_BIN"] = args.keeper
    srv = Server(kind, opts, name=f"scale-{kind}-{size}")
    try:
        srv.start(timeout=120)
        idle = rss_kib(srv.proc.pid)
        f = fill(srv.hosts, size)
        time.sleep(2)  # a snapshot in progress, the allocator settling
        held = rss_kib(srv.proc.pid)
        srv.proc.kill()
        srv.proc.wait()
        srv.proc = None
        t0 = time.monotonic()
        srv.start(timeout=600)  # same data directory; a new port
        recovered = time.monotonic() - t0
        after = rss_kib(srv.proc.pid)
        return {
            "kind": kind, "znodes": size, "fill_s": f["seconds"], "idle_kib": idle,
            "held_kib": held, "recovery_s": recovered, "after_kib": after,
        }
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--keeper", default=os.path.join(HERE, "..", "target", "release", "keeper"))
    ap.add_argument("--zk-heap", default="4g")
    ap.add_argument("--json")
    args = ap.parse_args()
    args.keeper = os.path.abspath(args.keeper)
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        pair = {}
        for kind in ("keeper", "zookeeper"):
            r = measure(kind, size, args)
            pair[kind] = r
            rows.append(r)
            print(f"{kind:9} {size:>9} znodes: filled in {r['fill_s']:.1f} s, RSS {r['held_kib'] / 1024:.0f} MiB "
                  f"holding them, recovery {r['recovery_s']:.2f} s, RSS {r['after_kib'] / 1024:.0f} MiB after",
                  flush=True)
        k, z = pair["keeper"], pair["zookeeper"]
        print(f"  ratios Keeper / ZooKeeper at {size}: memory holding {k['held_kib'] / z['held_kib']:.2f}, "
              f"recovery time {k['recovery_s'] / z['recovery_s']:.2f}, memory after recovery "
              f"{k['after_kib'] / z['after_kib']:.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
