#!/usr/bin/env python3
"""Ensemble helpers for bench/compare.sh: roles of the servers, and leader failover time.

Usage:
  ensemble_probe.py modes HOSTS
      One line per server: HOST:PORT and its `srvr` Mode (leader, follower, standalone, ...),
      `not-serving` or `down`.
  ensemble_probe.py wait-ready HOSTS TIMEOUT_SECONDS
      Wait until one server of HOSTS says `Mode: leader` and every other one `Mode: follower`;
      print the leader's position in HOSTS, counting from 1. Exits 1 on timeout.
  ensemble_probe.py failover --kill-pid PID --servers HOSTS [--warmup S] [--limit S]
                             [--conns N] [--request-timeout S]
      Write load through HOSTS (the servers that survive): N connections per server (default 2),
      each in a tight closed loop of create(ephemeral znode) with one request in flight, opening a
      new session whenever its connection is lost or refused. After --warmup seconds of accepted
      writes it sends SIGKILL to PID (the leader) and keeps writing until every server in HOSTS
      has accepted a write *sent after the kill*, or --limit seconds passed. Prints one JSON
      object: gap_ms = kill -> first such write accepted (by any survivor), all_ms = kill -> the
      last survivor's first such write, outage_ms = last write accepted before the kill -> first
      accepted after, and counts. Exits 1 if no write was accepted before the kill or after it.

  ensemble_probe.py fill HOSTS COUNT [--value-size B] [--parent PATH] [--window N]
      Create COUNT persistent znodes of B bytes (default 100) under PARENT (default
      /keeper-bench-fill), through the first server of HOSTS, N requests in flight (default 500).
      Prints one JSON object: created, errors, seconds. Exits 1 if any create failed.

HOSTS is HOST:PORT[,HOST:PORT...]. Standard library only.
"""

import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probe_write import (  # noqa: E402
    NODE_EXISTS,
    OK,
    close_session,
    connect_session,
    create,
    create_request,
    parse_hosts,
    recv_frame,
)


def four_letter(host, port, word, timeout=1.0):
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(word.encode())
        buf = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    return buf.decode(errors="replace")


def mode(host, port):
    try:
        text = four_letter(host, port, "srvr")
    except OSError:
        return "down"
    for line in text.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return "not-serving"


def cmd_modes(args):
    for h, p in parse_hosts(args.hosts):
        print(f"{h}:{p} {mode(h, p)}")
    return 0


def cmd_wait_ready(args):
    hosts = parse_hosts(args.hosts)
    deadline = time.time() + args.timeout
    modes = []
    while time.time() < deadline:
        modes = [mode(h, p) for h, p in hosts]
        if modes.count("leader") == 1 and modes.count("follower") == len(hosts) - 1:
            print(modes.index("leader") + 1)
            return 0
        time.sleep(0.1)
    desc = ", ".join(f"{h}:{p} {m}" for (h, p), m in zip(hosts, modes))
    print(f"ensemble_probe: no leader with {len(hosts) - 1} followers within {args.timeout} s: {desc}", file=sys.stderr)
    return 1


def cmd_fill(args):
    host, port = parse_hosts(args.hosts)[0]
    sock = connect_session(host, port, io_timeout=60.0)
    t0 = time.time()
    errors = 0
    try:
        if create(sock, 1, args.parent, ephemeral=False) not in (OK, NODE_EXISTS):
            errors += 1
        value = b"v" * args.value_size
        done, xid = 0, 1
        while done < args.count:
            k = min(args.window, args.count - done)
            batch = []
            for i in range(k):
                xid += 1
                batch.append(create_request(xid, f"{args.parent}/n{done + i:010d}", value, ephemeral=False))
            sock.sendall(b"".join(batch))
            for _ in range(k):
                reply = recv_frame(sock)
                (_xid, _zxid, err) = struct.unpack(">iqi", reply[:16])
                if err != OK:
                    errors += 1
            done += k
    finally:
        close_session(sock)
    print(json.dumps({"created": args.count, "errors": errors, "seconds": round(time.time() - t0, 3)}))
    return 1 if errors else 0


class Shared:
    def __init__(self, servers):
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.t_kill = None  # set by the main thread just before the kill
        self.last_before = None  # completion time of the last write accepted before the kill
        self.first_after = {s: None for s in servers}  # per server: first post-kill write accepted
        self.before = 0
        self.after = 0
        self.errors = 0
        self.reconnects = 0


def worker(shared, host, port, wid, request_timeout):
    key = f"{host}:{port}"
    prefix = f"/keeper-bench-failover-{os.getpid()}-{wid}-"
    sock = None
    n = 0
    while not shared.stop.is_set():
        try:
            if sock is None:
                sock = connect_session(host, port, connect_timeout=request_timeout, io_timeout=request_timeout)
                with shared.lock:
                    shared.reconnects += 1
            n += 1
            t_send = time.time()
            err = create(sock, n, f"{prefix}{n}")
            t_done = time.time()
            with shared.lock:
                if err in (OK, NODE_EXISTS):
                    t_kill = shared.t_kill
                    if t_kill is None or t_send < t_kill:
                        shared.before += 1
                        if t_kill is None or t_done <= t_kill:
                            shared.last_before = max(shared.last_before or 0, t_done)
                    else:
                        shared.after += 1
                        if shared.first_after[key] is None or t_done < shared.first_after[key]:
                            shared.first_after[key] = t_done
                else:
                    shared.errors += 1
            if err not in (OK, NODE_EXISTS):
                # e.g. connection loss / session moved: start over on a new session
                close_session(sock)
                sock = None
                time.sleep(0.005)
        except (OSError, ConnectionError, struct.error):
            with shared.lock:
                shared.errors += 1
            if sock is not None:
                sock.close()
                sock = None
            time.sleep(0.005)
    if sock is not None:
        close_session(sock)


def cmd_failover(args):
    hosts = parse_hosts(args.servers)
    keys = [f"{h}:{p}" for h, p in hosts]
    shared = Shared(keys)
    threads = []
    for i, (h, p) in enumerate(hosts):
        for c in range(args.conns):
            t = threading.Thread(target=worker, args=(shared, h, p, i * args.conns + c, args.request_timeout), daemon=True)
            t.start()
            threads.append(t)
    time.sleep(args.warmup)
    with shared.lock:
        before = shared.before
    result = {"killed_pid": args.kill_pid, "servers": keys, "conns_per_server": args.conns}
    if before == 0:
        shared.stop.set()
        result["error"] = f"no write accepted in the {args.warmup} s before the kill; not killing"
        print(json.dumps(result))
        return 1
    with shared.lock:
        shared.t_kill = time.time()
    os.kill(args.kill_pid, signal.SIGKILL)
    t_kill = shared.t_kill
    while time.time() - t_kill < args.limit:
        with shared.lock:
            if all(v is not None for v in shared.first_after.values()):
                break
        time.sleep(0.005)
    shared.stop.set()
    for t in threads:
        t.join(timeout=args.request_timeout + 1)
    with shared.lock:
        firsts = {k: (None if v is None else round((v - t_kill) * 1000, 1)) for k, v in shared.first_after.items()}
        got = [v for v in firsts.values() if v is not None]
        result.update(
            {
                "gap_ms": min(got) if got else None,
                "all_ms": max(got) if len(got) == len(firsts) else None,
                "per_server_ms": firsts,
                "outage_ms": round((min(v for v in shared.first_after.values() if v is not None) - shared.last_before) * 1000, 1)
                if got and shared.last_before
                else None,
                "writes_before_kill": shared.before,
                "writes_after_kill": shared.after,
                "errors": shared.errors,
                "sessions": shared.reconnects,
                "limit_s": args.limit,
            }
        )
    print(json.dumps(result))
    return 0 if got else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("modes")
    p.add_argument("hosts")
    p.set_defaults(fn=cmd_modes)
    p = sub.add_parser("fill")
    p.add_argument("hosts")
    p.add_argument("count", type=int)
    p.add_argument("--value-size", type=int, default=100)
    p.add_argument("--parent", default="/keeper-bench-fill")
    p.add_argument("--window", type=int, default=500)
    p.set_defaults(fn=cmd_fill)
    p = sub.add_parser("wait-ready")
    p.add_argument("hosts")
    p.add_argument("timeout", type=float)
    p.set_defaults(fn=cmd_wait_ready)
    p = sub.add_parser("failover")
    p.add_argument("--kill-pid", type=int, required=True)
    p.add_argument("--servers", required=True)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--limit", type=float, default=60.0)
    p.add_argument("--conns", type=int, default=2)
    p.add_argument("--request-timeout", type=float, default=2.0)
    p.set_defaults(fn=cmd_failover)
    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
