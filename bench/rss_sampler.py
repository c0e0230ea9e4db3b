#!/usr/bin/env python3
"""Peak resident memory of a set of processes, sampled every 200 ms until killed.

Usage: rss_sampler.py OUT PID...  -- keeps "PEAK_SUM PEAK_MAX" (KiB of VmRSS) in OUT.

One process that sleeps between samples: a shell loop forks several processes per sample,
and that CPU lands on the latency runs it samples.
"""
import signal
import sys
import time


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    out, pids = sys.argv[1], sys.argv[2:]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    peak_sum = peak_max = 0
    while True:
        values = [rss_kib(p) for p in pids]
        total, top = sum(values), max(values, default=0)
        if total > peak_sum or top > peak_max:
            peak_sum, peak_max = max(peak_sum, total), max(peak_max, top)
            with open(out, "w") as f:
                f.write(f"{peak_sum} {peak_max}\n")
        time.sleep(0.2)


if __name__ == "__main__":
    main()
