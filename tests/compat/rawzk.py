"""A tiny synchronous ZooKeeper wire-protocol client, for what kazoo cannot do.

Frames are built with `struct` (big-endian jute encoding).  Used for persistent
watches (addWatch, opcode 106), container / TTL creation, getEphemerals,
getAllChildrenNumber, whoAmI, and the bad-input tests (oversized frames,
garbage, unknown opcodes).
"""

from __future__ import annotations

import socket
import struct
import time
from collections import deque
from dataclasses import dataclass

# opcodes
OP_NOTIFICATION = 0
OP_CREATE = 1
OP_DELETE = 2
OP_EXISTS = 3
OP_GET_DATA = 4
OP_SET_DATA = 5
OP_GET_ACL = 6
OP_SET_ACL = 7
OP_GET_CHILDREN = 8
OP_SYNC = 9
OP_PING = 11
OP_GET_CHILDREN2 = 12
OP_CHECK = 13
OP_MULTI = 14
OP_CREATE2 = 15
OP_CHECK_WATCHES = 17
OP_REMOVE_WATCHES = 18
OP_CREATE_CONTAINER = 19
OP_CREATE_TTL = 21
OP_MULTI_READ = 22
OP_AUTH = 100
OP_SET_WATCHES = 101
OP_GET_EPHEMERALS = 103
OP_GET_ALL_CHILDREN_NUMBER = 104
OP_SET_WATCHES2 = 105
OP_ADD_WATCH = 106
OP_WHO_AM_I = 107
OP_CLOSE = -11

# error codes
OK = 0
RUNTIME_INCONSISTENCY = -2
MARSHALLING_ERROR = -5
UNIMPLEMENTED = -6
BAD_ARGUMENTS = -8
NO_NODE = -101
NO_AUTH = -102
BAD_VERSION = -103
NO_CHILDREN_FOR_EPHEMERALS = -108
NODE_EXISTS = -110
NOT_EMPTY = -111
SESSION_EXPIRED = -112
INVALID_ACL = -114
AUTH_FAILED = -115
NO_WATCHER = -121

# watcher event types
EV_NODE_CREATED = 1
EV_NODE_DELETED = 2
EV_NODE_DATA_CHANGED = 3
EV_NODE_CHILDREN_CHANGED = 4

# create modes
PERSISTENT = 0
EPHEMERAL = 1
PERSISTENT_SEQUENTIAL = 2
EPHEMERAL_SEQUENTIAL = 3
CONTAINER = 4
PERSISTENT_WITH_TTL = 5
PERSISTENT_SEQUENTIAL_WITH_TTL = 6

# addWatch modes
ADD_WATCH_PERSISTENT = 0
ADD_WATCH_PERSISTENT_RECURSIVE = 1

OPEN_ACL_UNSAFE = [(31, "world", "anyone")]


class ConnectionClosed(Exception):
    pass


# ---- encoding -------------------------------------------------------------
def w_int(v: int) -> bytes:
    return struct.pack(">i", v)


def w_long(v: int) -> bytes:
    return struct.pack(">q", v)


def w_bool(v: bool) -> bytes:
    return b"\x01" if v else b"\x00"


def w_buffer(b: bytes | None) -> bytes:
    if b is None:
        return w_int(-1)
    return w_int(len(b)) + b


def w_string(s: str | None) -> bytes:
    if s is None:
        return w_int(-1)
    return w_buffer(s.encode("utf-8"))


def w_acls(acls) -> bytes:
    out = w_int(len(acls))
    for perms, scheme, ident in acls:
        out += w_int(perms) + w_string(scheme) + w_string(ident)
    return out


def frame(payload: bytes) -> bytes:
    return w_int(len(payload)) + payload


class Reader:
    def __init__(self, data: bytes, off: int = 0):
        self.data = data
        self.off = off

    def remaining(self) -> int:
        return len(self.data) - self.off

    def int(self) -> int:
        (v,) = struct.unpack_from(">i", self.data, self.off)
        self.off += 4
        return v

    def long(self) -> int:
        (v,) = struct.unpack_from(">q", self.data, self.off)
        self.off += 8
        return v

    def bool(self) -> bool:
        v = self.data[self.off]
        self.off += 1
        return v != 0

    def buffer(self) -> bytes | None:
        n = self.int()
        if n < 0:
            return None
        v = self.data[self.off : self.off + n]
        self.off += n
        return v

    def string(self) -> str | None:
        b = self.buffer()
        return None if b is None else b.decode("utf-8")

    def strings(self) -> list[str]:
        n = self.int()
        return [self.string() for _ in range(max(n, 0))]

    def stat(self) -> "Stat":
        return Stat(
            czxid=self.long(),
            mzxid=self.long(),
            ctime=self.long(),
            mtime=self.long(),
            version=self.int(),
            cversion=self.int(),
            aversion=self.int(),
            ephemeralOwner=self.long(),
            dataLength=self.int(),
            numChildren=self.int(),
            pzxid=self.long(),
        )


@dataclass
class Stat:
    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int
    dataLength: int
    numChildren: int
    pzxid: int


@dataclass
class Reply:
    xid: int
    zxid: int
    err: int
    body: bytes

    def reader(self) -> Reader:
        return Reader(self.body)


@dataclass
class Event:
    type: int
    state: int
    path: str
    zxid: int = 0  # the notification's ReplyHeader zxid


class RawZK:
    """One TCP connection / session.  Not thread-safe."""

    def __init__(self, host: str, port: int, timeout_ms: int = 10000, session_id: int = 0,
                 passwd: bytes = b"\x00" * 16, last_zxid: int = 0, connect: bool = True,
                 io_timeout: float = 10.0):
        self.host, self.port = host, port
        self.sock = socket.create_connection((host, port), timeout=io_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.io_timeout = io_timeout
        self.xid = 0
        self.events: deque[Event] = deque()
        self.session_id = 0
        self.passwd = b""
        self.negotiated_timeout = 0
        self._buf = b""
        if connect:
            self.handshake(timeout_ms, session_id, passwd, last_zxid)

    # ---- low level ---------------------------------------------------------
    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def _recv_exact(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"timed out waiting for {n} bytes (have {len(self._buf)})")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout as e:
                raise TimeoutError("timed out reading from server") from e
            except (ConnectionResetError, BrokenPipeError) as e:
                raise ConnectionClosed(str(e)) from e
            if not chunk:
                raise ConnectionClosed("server closed the connection")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def recv_frame(self, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (self.io_timeout if timeout is None else timeout)
        (n,) = struct.unpack(">i", self._recv_exact(4, deadline))
        return self._recv_exact(n, deadline)

    def handshake(self, timeout_ms=10000, session_id=0, passwd=b"\x00" * 16, last_zxid=0, read_only=False):
        body = w_int(0) + w_long(last_zxid) + w_int(timeout_ms) + w_long(session_id) + w_buffer(passwd) + w_bool(read_only)
        self.send_raw(frame(body))
        r = Reader(self.recv_frame())
        r.int()  # protocol version
        self.negotiated_timeout = r.int()
        self.session_id = r.long()
        self.passwd = r.buffer() or b""
        return self.negotiated_timeout, self.session_id, self.passwd

    def next_xid(self) -> int:
        self.xid += 1
        return self.xid

    def send_request(self, opcode: int, body: bytes = b"", xid: int | None = None) -> int:
        if xid is None:
            xid = self.next_xid()
        self.send_raw(frame(w_int(xid) + w_int(opcode) + body))
        return xid

    def read_reply(self, xid: int, timeout: float | None = None) -> Reply:
        """Read frames until the reply for xid arrives; notifications are queued in self.events."""
        deadline = time.monotonic() + (self.io_timeout if timeout is None else timeout)
        while True:
            data = self.recv_frame(max(0.0, deadline - time.monotonic()))
            r = Reader(data)
            rxid, zxid, err = r.int(), r.long(), r.int()
            if rxid == -1:
                self.events.append(Event(r.int(), r.int(), r.string(), zxid))
                continue
            if rxid == xid:
                return Reply(rxid, zxid, err, data[16:])
            if rxid == -2:  # ping reply
                continue
            raise AssertionError(f"unexpected reply xid {rxid} (waiting for {xid}), err={err}")

    def call(self, opcode: int, body: bytes = b"", xid: int | None = None, timeout: float | None = None) -> Reply:
        return self.read_reply(self.send_request(opcode, body, xid), timeout)

    def wait_event(self, timeout: float = 5.0) -> Event:
        deadline = time.monotonic() + timeout
        while not self.events:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no watch event")
            data = self.recv_frame(left)
            r = Reader(data)
            rxid, zxid, _err = r.int(), r.long(), r.int()
            if rxid == -1:
                self.events.append(Event(r.int(), r.int(), r.string(), zxid))
        return self.events.popleft()

    def drain_events(self, quiet: float = 0.3) -> list[Event]:
        """Collect events until none arrives for `quiet` seconds."""
        out = []
        while True:
            try:
                out.append(self.wait_event(quiet))
            except TimeoutError:
                return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def is_closed_by_server(self, timeout: float = 5.0) -> bool:
        """True if the server closes the connection within timeout (any pending frames are discarded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            except OSError:
                return True
            if not chunk:
                return True
        return False

    # ---- operations ----------------------------------------------------------
    def ping(self) -> Reply:
        return self.call(OP_PING, xid=-2)

    def close_session(self) -> Reply:
        rep = self.call(OP_CLOSE)
        self.close()
        return rep

    def create(self, path: str, data: bytes = b"", flags: int = PERSISTENT, acl=OPEN_ACL_UNSAFE,
               ttl: int | None = None, opcode: int | None = None) -> Reply:
        if opcode is None:
            if ttl is not None:
                opcode = OP_CREATE_TTL
            elif flags == CONTAINER:
                opcode = OP_CREATE_CONTAINER
            else:
                opcode = OP_CREATE2
        body = w_string(path) + w_buffer(data) + w_acls(acl) + w_int(flags)
        if opcode == OP_CREATE_TTL:
            body += w_long(-1 if ttl is None else ttl)
        return self.call(opcode, body)

    def delete(self, path: str, version: int = -1) -> Reply:
        return self.call(OP_DELETE, w_string(path) + w_int(version))

    def exists(self, path: str, watch: bool = False) -> Reply:
        return self.call(OP_EXISTS, w_string(path) + w_bool(watch))

    def get_data(self, path: str, watch: bool = False) -> Reply:
        return self.call(OP_GET_DATA, w_string(path) + w_bool(watch))

    def set_data(self, path: str, data: bytes, version: int = -1) -> Reply:
        return self.call(OP_SET_DATA, w_string(path) + w_buffer(data) + w_int(version))

    def get_children(self, path: str, watch: bool = False) -> Reply:
        return self.call(OP_GET_CHILDREN, w_string(path) + w_bool(watch))

    def get_children2(self, path: str, watch: bool = False) -> Reply:
        return self.call(OP_GET_CHILDREN2, w_string(path) + w_bool(watch))

    def add_watch(self, path: str, mode: int) -> Reply:
        return self.call(OP_ADD_WATCH, w_string(path) + w_int(mode))

    def remove_watches(self, path: str, watcher_type: int) -> Reply:
        return self.call(OP_REMOVE_WATCHES, w_string(path) + w_int(watcher_type))

    def check_watches(self, path: str, watcher_type: int) -> Reply:
        return self.call(OP_CHECK_WATCHES, w_string(path) + w_int(watcher_type))

    def get_ephemerals(self, prefix: str = "/") -> Reply:
        return self.call(OP_GET_EPHEMERALS, w_string(prefix))

    def get_all_children_number(self, path: str) -> Reply:
        return self.call(OP_GET_ALL_CHILDREN_NUMBER, w_string(path))

    def who_am_i(self) -> Reply:
        return self.call(OP_WHO_AM_I)

    def add_auth(self, scheme: str, auth: bytes) -> Reply:
        return self.call(OP_AUTH, w_int(0) + w_string(scheme) + w_buffer(auth), xid=-4)

    def sync(self, path: str) -> Reply:
        return self.call(OP_SYNC, w_string(path))
