#!/usr/bin/env python3
"""The disk's own floor under a replicated write: WRITERS processes at once, each appending
RECORD-byte records to its own preallocated file in DIR and fdatasync-ing after every append,
as each server's transaction log does for a write with one client. Prints one JSON object with
the latency of append + fdatasync (microseconds, over all writers).

Usage: fsync_probe.py DIR WRITERS SECONDS [RECORD_BYTES]

In a 3-server ensemble on one machine, a write through the leader needs two of the three servers'
fsyncs, which reach the same disk at nearly the same time; no system's write latency on that
machine can be below what this measures. Standard library only.
"""

import json
import multiprocessing as mp
import os
import sys
import time


def writer(path, seconds, record, start, out):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.posix_fallocate(fd, 0, 16 << 20)
        os.fsync(fd)
        rec = b"x" * record
        lat, off = [], 0
        start.wait()
        end = time.monotonic() + seconds
        while time.monotonic() < end and off + record <= 16 << 20:
            t = time.perf_counter()
            os.pwrite(fd, rec, off)
            os.fdatasync(fd)
            lat.append(time.perf_counter() - t)
            off += record
        out.put(lat)
    finally:
        os.close(fd)
        os.unlink(path)


def pct(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def main():
    if len(sys.argv) not in (4, 5):
        sys.stderr.write(__doc__)
        return 2
    directory, writers, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    record = int(sys.argv[4]) if len(sys.argv) == 5 else 150
    start, out = mp.Barrier(writers), mp.Queue()
    procs = [
        mp.Process(target=writer, args=(os.path.join(directory, f"fsync-probe-{os.getpid()}-{i}"), seconds, record, start, out))
        for i in range(writers)
    ]
    for p in procs:
        p.start()
    lat = []
    for _ in procs:
        lat.extend(out.get(timeout=seconds + 60))
    for p in procs:
        p.join()
    lat.sort()
    us = lambda v: round(v * 1e6, 1)
    json.dump(
        {
            "writers": writers,
            "record_bytes": record,
            "count": len(lat),
            "latency_us": {"p50": us(pct(lat, 0.5)), "p99": us(pct(lat, 0.99)), "p999": us(pct(lat, 0.999)), "max": us(lat[-1])},
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
