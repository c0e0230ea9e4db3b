"""Sessions: reconnect to the same session, client_id reuse, wrong password, expiry,
timeout negotiation, pings, closeSession, getEphemerals.

The server runs with tickTime=200 ms: sessions may last 400..4000 ms.
"""

import struct
import threading
import time

import pytest
from kazoo.protocol.states import KazooState

import rawzk
from conftest import wait_until
from proxy import Proxy
from servers import ServerOptions

TICK = 200
SERVER_OPTIONS = ServerOptions(tick_time=TICK)
FAST_RETRY = dict(max_tries=-1, delay=0.05, backoff=1.5, max_delay=0.5)


class States:
    def __init__(self, client):
        self.states = []
        self.cv = threading.Condition()
        client.add_listener(self)

    def __call__(self, state):
        with self.cv:
            self.states.append(state)
            self.cv.notify_all()

    def wait_for(self, state, count=1, timeout=15):
        with self.cv:
            ok = self.cv.wait_for(lambda: self.states.count(state) >= count, timeout)
        assert ok, f"state {state} x{count} not seen, states so far: {self.states}"


@pytest.fixture
def proxy(server):
    p = Proxy(server.host, server.port)
    yield p
    p.close()


def test_timeout_negotiation(raw):
    assert raw(timeout_ms=1).negotiated_timeout == 2 * TICK
    assert raw(timeout_ms=10**6).negotiated_timeout == 20 * TICK
    assert raw(timeout_ms=1234).negotiated_timeout == 1234


def test_handshake_response_shape(server):
    import socket

    s = socket.create_connection((server.host, server.port), timeout=5)
    try:
        body = struct.pack(">iqiqi", 0, 0, 3000, 0, 16) + b"\x00" * 16 + b"\x00"
        s.sendall(struct.pack(">i", len(body)) + body)
        data = b""
        deadline = time.monotonic() + 5
        while len(data) < 41 and time.monotonic() < deadline:
            chunk = s.recv(1024)
            if not chunk:
                break
            data += chunk
        # the C client reads exactly 41 bytes: len + proto + timeout + sid + passwd(4+16) + readOnly
        assert len(data) == 41
        n, proto, to, sid, plen = struct.unpack(">iiiqi", data[:24])
        assert (n, proto, to, plen) == (37, 0, 3000, 16)
        assert sid != 0
        assert data[40] == 0  # readOnly false
    finally:
        s.close()


def test_handshake_without_read_only_byte(server):
    """A pre-3.4 style ConnectRequest (no readOnly byte) gets a response without it."""
    import socket

    s = socket.create_connection((server.host, server.port), timeout=5)
    try:
        body = struct.pack(">iqiqi", 0, 0, 3000, 0, 16) + b"\x00" * 16
        s.sendall(struct.pack(">i", len(body)) + body)
        head = s.recv(4, socket.MSG_WAITALL)
        (n,) = struct.unpack(">i", head)
        assert n == 36
    finally:
        s.close()


def test_session_ids_distinct_and_passwords_16_bytes(raw):
    a, b = raw(), raw()
    assert a.session_id != b.session_id
    assert len(a.passwd) == 16 and len(b.passwd) == 16
    # sic: a standalone ZooKeeper puts server id 1 (not 0) in the top byte
    assert a.session_id >> 56 == 1
    assert b.session_id >> 56 == 1


def test_pipelined_request_after_connect(server):
    c = rawzk.RawZK(server.host, server.port, connect=False)
    try:
        connect = rawzk.w_int(0) + rawzk.w_long(0) + rawzk.w_int(3000) + rawzk.w_long(0)
        connect += rawzk.w_buffer(b"\x00" * 16) + rawzk.w_bool(False)
        req = rawzk.w_int(1) + rawzk.w_int(rawzk.OP_EXISTS) + rawzk.w_string("/") + rawzk.w_bool(False)
        c.send_raw(rawzk.frame(connect) + rawzk.frame(req))
        r = rawzk.Reader(c.recv_frame())
        r.int()
        assert r.int() == 3000
        rep = c.read_reply(1)
        assert rep.err == 0
    finally:
        c.close()


def test_close_session_reply_then_close(raw, zk):
    c = raw()
    assert c.create("/close-eph", b"", flags=rawzk.EPHEMERAL).err == 0
    xid = c.send_request(rawzk.OP_CLOSE)
    rep = c.read_reply(xid)
    assert rep.err == 0
    assert c.is_closed_by_server(5)
    assert zk.exists("/close-eph") is None


def test_requests_after_close_session_expired(server):
    c = rawzk.RawZK(server.host, server.port)
    sid, pw = c.session_id, c.passwd
    c.close_session()
    again = rawzk.RawZK(server.host, server.port, session_id=sid, passwd=pw, connect=False)
    try:
        to, new_sid, new_pw = again.handshake(3000, sid, pw)
        assert (to, new_sid, new_pw) == (0, 0, b"\x00" * 16)
        assert again.is_closed_by_server(5)
    finally:
        again.close()


def test_wrong_password_gets_expired(raw, zk):
    a = raw(timeout_ms=4000)
    assert a.create("/wrongpw-eph", b"", flags=rawzk.EPHEMERAL).err == 0
    b = raw(connect=False)
    to, sid, pw = b.handshake(4000, a.session_id, b"\x01" * 16)
    assert (to, sid, pw) == (0, 0, b"\x00" * 16)
    assert b.is_closed_by_server(5)
    # the real session is untouched (ZooKeeper may close a's connection, but not its session)
    assert zk.exists("/wrongpw-eph").ephemeralOwner == a.session_id
    c = raw(connect=False)
    assert c.handshake(4000, a.session_id, a.passwd)[:2] == (4000, a.session_id)
    assert c.get_data("/wrongpw-eph").err == 0


def test_kazoo_wrong_password_gets_new_session(make_client, zk, base):
    zk.create(base + "/e", ephemeral=True)
    sid = zk.client_id[0]
    bad = make_client(start=False, client_id=(sid, b"\x00" * 16), connection_retry=FAST_RETRY)
    bad.start(timeout=15)  # the expired answer makes kazoo fall back to a new session
    assert bad.client_id[0] not in (0, sid)
    wait_until(lambda: zk.connected, 10, msg="original client connected")
    assert zk.exists(base + "/e").ephemeralOwner == sid


def test_unknown_session_id_gets_expired(raw):
    c = raw(connect=False)
    to, sid, _pw = c.handshake(3000, 0x0123456789AB, b"\x00" * 16)
    assert (to, sid) == (0, 0)


def test_raw_session_expires_and_ephemerals_go(raw, zk):
    c = raw(timeout_ms=800)
    assert c.negotiated_timeout == 800
    assert c.create("/exp-eph", b"", flags=rawzk.EPHEMERAL).err == 0
    events = []
    zk.exists("/exp-eph", watch=events.append)
    t0 = time.monotonic()
    # no pings: the session must expire after ~800 ms (+ up to a tick of rounding)
    wait_until(lambda: zk.exists("/exp-eph") is None, 6, msg="ephemeral removed by expiry")
    elapsed = time.monotonic() - t0
    assert elapsed > 0.5, f"session expired too early ({elapsed:.2f}s)"
    wait_until(lambda: events, 5, msg="NodeDeleted event")
    assert events[0].type == "DELETED"
    # the server closes the expired session's connection
    assert c.is_closed_by_server(5)
    again = raw(connect=False)
    assert again.handshake(800, c.session_id, c.passwd)[0] == 0


def test_pings_keep_session_alive(raw, zk):
    c = raw(timeout_ms=800)
    assert c.create("/ping-eph", b"", flags=rawzk.EPHEMERAL).err == 0
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        rep = c.ping()
        assert (rep.xid, rep.err) == (-2, 0)
        time.sleep(0.15)
    assert zk.exists("/ping-eph") is not None


def test_resume_session_on_new_connection(raw, zk):
    a = raw(timeout_ms=4000)
    assert a.create("/resume-eph", b"", flags=rawzk.EPHEMERAL).err == 0
    b = raw(connect=False)
    to, sid, pw = b.handshake(4000, a.session_id, a.passwd)
    assert (to, sid, pw) == (4000, a.session_id, a.passwd)
    # the old connection of the session is closed by the server
    assert a.is_closed_by_server(5)
    assert b.get_data("/resume-eph").err == 0
    assert zk.exists("/resume-eph").ephemeralOwner == a.session_id
    assert b.delete("/resume-eph").err == 0


def test_kazoo_reconnect_keeps_session(make_client, proxy, zk, base):
    c = make_client(start=False, hosts=proxy.hosts, timeout=3.0, connection_retry=FAST_RETRY)
    states = States(c)
    c.start(timeout=15)
    sid = c.client_id[0]
    c.create(base + "/eph", b"e", ephemeral=True)
    proxy.drop_all()
    states.wait_for(KazooState.SUSPENDED)
    states.wait_for(KazooState.CONNECTED, count=2)
    assert KazooState.LOST not in states.states
    assert c.client_id[0] == sid
    assert proxy.accepted >= 2
    assert zk.exists(base + "/eph").ephemeralOwner == sid
    assert c.get(base + "/eph")[0] == b"e"


def test_set_watches_on_reconnect(raw):
    """What a client does after reconnecting (kazoo 2.11 drops its watches instead, so raw):
    setWatches(relativeZxid, data, exist, child) -> catch-up events, or registration."""
    w = raw()
    for p in ("/sw-data", "/sw-del", "/sw-child", "/sw-same"):
        assert w.create(p, b"").err == 0
    c = raw(timeout_ms=4000)
    last_zxid = c.exists("/sw-data").zxid
    sid, pw = c.session_id, c.passwd
    c.close()  # TCP gone, session alive
    assert w.set_data("/sw-data", b"changed").err == 0
    assert w.delete("/sw-del").err == 0
    assert w.create("/sw-new", b"").err == 0
    assert w.create("/sw-child/k", b"").err == 0

    c2 = raw(connect=False)
    assert c2.handshake(4000, sid, pw, last_zxid=last_zxid)[1] == sid
    body = rawzk.w_long(last_zxid)
    body += rawzk.w_int(3) + rawzk.w_string("/sw-data") + rawzk.w_string("/sw-del") + rawzk.w_string("/sw-same")
    body += rawzk.w_int(2) + rawzk.w_string("/sw-new") + rawzk.w_string("/sw-later")
    body += rawzk.w_int(1) + rawzk.w_string("/sw-child")
    rep = c2.call(rawzk.OP_SET_WATCHES, body, xid=-8)
    assert (rep.xid, rep.err) == (-8, 0)
    got = [(e.type, e.path) for e in c2.drain_events(0.5)]  # (includes events queued before the reply)
    assert sorted(got) == sorted(
        [
            (rawzk.EV_NODE_DATA_CHANGED, "/sw-data"),
            (rawzk.EV_NODE_DELETED, "/sw-del"),
            (rawzk.EV_NODE_CREATED, "/sw-new"),
            (rawzk.EV_NODE_CHILDREN_CHANGED, "/sw-child"),
        ]
    )
    # unchanged / still missing paths got registered instead
    assert w.set_data("/sw-same", b"x").err == 0
    assert w.create("/sw-later", b"").err == 0
    got = sorted((e.type, e.path) for e in c2.drain_events(0.5))
    assert got == [(rawzk.EV_NODE_CREATED, "/sw-later"), (rawzk.EV_NODE_DATA_CHANGED, "/sw-same")]


def test_second_client_takes_over_session(make_client, proxy, zk, base):
    first = make_client(start=False, hosts=proxy.hosts, timeout=4.0, connection_retry=FAST_RETRY)
    first.start(timeout=15)
    sid, pw = first.client_id
    first.create(base + "/owned", b"x", ephemeral=True)
    proxy.block()  # first can no longer reach the server (its session lives on)
    second = make_client(client_id=(sid, pw), timeout=4.0)
    assert second.client_id[0] == sid
    assert zk.exists(base + "/owned").ephemeralOwner == sid
    assert second.get(base + "/owned")[0] == b"x"
    second.delete(base + "/owned")
    second.create(base + "/owned2", ephemeral=True)
    second.stop()  # closes the session
    assert zk.exists(base + "/owned2") is None
    states = States(first)
    proxy.unblock()
    states.wait_for(KazooState.LOST)


def test_kazoo_session_expiry_via_partition(make_client, proxy, zk, base):
    c = make_client(start=False, hosts=proxy.hosts, timeout=1.0, connection_retry=FAST_RETRY)
    states = States(c)
    c.start(timeout=15)
    old_sid = c.client_id[0]
    c.create(base + "/gone", ephemeral=True)
    proxy.block()
    wait_until(lambda: zk.exists(base + "/gone") is None, 8, msg="ephemeral gone after expiry")
    proxy.unblock()
    states.wait_for(KazooState.LOST)
    wait_until(lambda: c.connected, 10, msg="kazoo reconnected with a new session")
    assert c.client_id[0] != old_sid
    assert zk.exists(base + "/gone") is None


def test_get_ephemerals(raw):
    a, b = raw(), raw()
    for p in ("/ge", "/ge/x", "/ge/y", "/other"):
        assert a.create(p, b"").err in (0, rawzk.NODE_EXISTS)
    assert a.create("/ge/x/e1", b"", flags=rawzk.EPHEMERAL).err == 0
    assert a.create("/ge/y/e2", b"", flags=rawzk.EPHEMERAL).err == 0
    assert a.create("/other/e3", b"", flags=rawzk.EPHEMERAL).err == 0
    assert b.create("/ge/x/b1", b"", flags=rawzk.EPHEMERAL).err == 0

    def eph(conn, prefix):
        rep = conn.get_ephemerals(prefix)
        assert rep.err == 0
        return sorted(rep.reader().strings())

    assert eph(a, "/") == ["/ge/x/e1", "/ge/y/e2", "/other/e3"]
    assert eph(a, "/ge") == ["/ge/x/e1", "/ge/y/e2"]
    # the prefix is a plain string prefix, not a path
    assert eph(a, "/ge/x/e") == ["/ge/x/e1"]
    assert eph(a, "/nothing") == []
    assert eph(b, "/") == ["/ge/x/b1"]


def test_get_all_children_number(raw):
    c = raw()
    for p in ("/acn", "/acn/a", "/acn/a/b", "/acn/a/c", "/acn/d"):
        assert c.create(p, b"").err == 0
    rep = c.get_all_children_number("/acn")
    assert rep.err == 0 and rep.reader().int() == 4
    assert c.get_all_children_number("/acn/d").reader().int() == 0
    assert c.get_all_children_number("/acn-missing").err == rawzk.NO_NODE
