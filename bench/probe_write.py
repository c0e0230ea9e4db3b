#!/usr/bin/env python3
"""Wait until a ZooKeeper-protocol server accepts a write; print the seconds since START.

Usage: probe_write.py HOST PORT START_EPOCH_SECONDS LIMIT_SECONDS

Standard library only. Each attempt opens a session, creates an ephemeral znode (a write that
goes through the server's full write path, fsync included) and closes the session, which also
removes the znode. Exits 1 if no write was accepted within LIMIT seconds of START.
"""

import os
import socket
import struct
import sys
import time


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


def try_write(host, port, path):
    with socket.create_connection((host, port), timeout=1.0) as s:
        s.settimeout(2.0)
        # ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly
        s.sendall(frame(struct.pack(">iqiq", 0, 0, 10000, 0) + struct.pack(">i", 16) + b"\0" * 16 + b"\0"))
        resp = recv_frame(s)
        (_, timeout) = struct.unpack(">ii", resp[:8])
        if timeout <= 0:
            return False
        # create(path, "x", world:anyone ALL, EPHEMERAL)
        body = ustr(path) + struct.pack(">i", 1) + b"x" + struct.pack(">i", 1)
        body += struct.pack(">i", 31) + ustr("world") + ustr("anyone") + struct.pack(">i", 1)
        s.sendall(frame(struct.pack(">ii", 1, 1) + body))
        while True:
            reply = recv_frame(s)
            xid, _zxid, err = struct.unpack(">iqi", reply[:16])
            if xid == 1:
                break
        # closeSession; the reply is not needed
        s.sendall(frame(struct.pack(">ii", 2, -11)))
        return err in (0, -110)


def main():
    host, port, start, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    path = f"/keeper-bench-probe-{os.getpid()}"
    while time.time() - start < limit:
        try:
            if try_write(host, port, path):
                print(f"{time.time() - start:.3f}")
                return 0
        except (OSError, ConnectionError, struct.error):
            pass
        time.sleep(0.01)
    print(f"probe_write: no write accepted by {host}:{port} within {limit} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
