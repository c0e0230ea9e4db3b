#!/usr/bin/env python3
"""Wait until a ZooKeeper-protocol server accepts a write; print the seconds since START.

Usage: probe_write.py HOST:PORT[,HOST:PORT...] START_EPOCH_SECONDS LIMIT_SECONDS
       probe_write.py HOST PORT START_EPOCH_SECONDS LIMIT_SECONDS

Standard library only. Each attempt opens a session, creates an ephemeral znode (a write that
goes through the server's full write path, fsync included; in an ensemble, a quorum commit) and
closes the session, which also removes the znode. With several servers, the attempts go to each
in turn and the first accepted write counts. Exits 1 if no write was accepted within LIMIT
seconds of START.

Also a module: bench/ensemble_probe.py uses its wire helpers.
"""

import os
import socket
import struct
import sys
import time

# Error codes a create may answer that still mean the server took the write path.
OK, NODE_EXISTS = 0, -110


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def ustr(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by the server")
        buf += chunk
    return buf


def recv_frame(sock):
    (n,) = struct.unpack(">i", recv_exact(sock, 4))
    return recv_exact(sock, n)


def parse_hosts(spec):
    """'h:p,h:p' -> [(h, p), ...]"""
    out = []
    for part in spec.split(","):
        host, _, port = part.strip().rpartition(":")
        out.append((host or "127.0.0.1", int(port)))
    return out


def connect_session(host, port, timeout_ms=10000, connect_timeout=1.0, io_timeout=2.0):
    """A socket with a fresh session on it; raises on refusal (e.g. a server not serving)."""
    s = socket.create_connection((host, port), timeout=connect_timeout)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(io_timeout)
        # ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly
        s.sendall(frame(struct.pack(">iqiq", 0, 0, timeout_ms, 0) + struct.pack(">i", 16) + b"\0" * 16 + b"\0"))
        resp = recv_frame(s)
        (_, timeout) = struct.unpack(">ii", resp[:8])
        if timeout <= 0:
            raise ConnectionError("session refused")
        return s
    except BaseException:
        s.close()
        raise


def create_request(xid, path, data=b"x", ephemeral=True):
    """The frame of create(path, data, world:anyone ALL)."""
    body = ustr(path) + struct.pack(">i", len(data)) + data + struct.pack(">i", 1)
    body += struct.pack(">i", 31) + ustr("world") + ustr("anyone") + struct.pack(">i", 1 if ephemeral else 0)
    return frame(struct.pack(">ii", xid, 1) + body)


def create(sock, xid, path, ephemeral=True):
    """create(path, "x", world:anyone ALL); returns the error code of the reply."""
    sock.sendall(create_request(xid, path, ephemeral=ephemeral))
    while True:
        reply = recv_frame(sock)
        rxid, _zxid, err = struct.unpack(">iqi", reply[:16])
        if rxid == xid:
            return err


def close_session(sock):
    try:
        sock.sendall(frame(struct.pack(">ii", 2, -11)))
    except OSError:
        pass
    sock.close()


def try_write(host, port, path):
    s = connect_session(host, port)
    try:
        err = create(s, 1, path)
    finally:
        close_session(s)
    return err in (OK, NODE_EXISTS)


def main():
    args = sys.argv[1:]
    if len(args) == 4:
        hosts = [(args[0], int(args[1]))]
        args = args[2:]
    elif len(args) == 3:
        hosts = parse_hosts(args[0])
        args = args[1:]
    else:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    start, limit = float(args[0]), float(args[1])
    path = f"/keeper-bench-probe-{os.getpid()}"
    i = 0
    while time.time() - start < limit:
        host, port = hosts[i % len(hosts)]
        i += 1
        try:
            if try_write(host, port, path):
                print(f"{time.time() - start:.3f}")
                return 0
        except (OSError, ConnectionError, struct.error):
            pass
        if i % len(hosts) == 0:
            time.sleep(0.01)
    names = ",".join(f"{h}:{p}" for h, p in hosts)
    print(f"probe_write: no write accepted by {names} within {limit} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
