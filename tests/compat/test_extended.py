"""Container and TTL nodes (server started with extended types and a fast container reaper).

kazoo 2.11 cannot create containers or TTL nodes, so these are sent raw
(createContainer = opcode 19, createTTL = opcode 21).
"""

import time

import pytest

import rawzk
from conftest import wait_until
from servers import ServerOptions

REAP_MS = 300
SERVER_OPTIONS = ServerOptions(extended_types=True, container_check_interval_ms=REAP_MS)


def stat_of(conn, path):
    rep = conn.exists(path)
    return rep.reader().stat() if rep.err == 0 else None


def test_create_container_stat(raw, zk):
    c = raw()
    rep = c.create("/ctr", b"cd", flags=rawzk.CONTAINER)
    assert rep.err == 0
    r = rep.reader()
    assert r.string() == "/ctr"
    st = r.stat()
    assert st.ephemeralOwner == 0  # the container marker is not shown to clients
    assert (st.version, st.cversion, st.numChildren, st.dataLength) == (0, 0, 0, 2)
    assert st.czxid == st.mzxid == st.pzxid == rep.zxid
    assert zk.get("/ctr")[0] == b"cd"


def test_container_deleted_after_last_child_goes(raw, zk):
    c = raw()
    assert c.create("/ctr2", b"", flags=rawzk.CONTAINER).err == 0
    assert c.create("/ctr2/a", b"").err == 0
    assert c.create("/ctr2/b", b"").err == 0
    assert zk.exists("/ctr2").numChildren == 2
    time.sleep(3 * REAP_MS / 1000)
    assert zk.exists("/ctr2") is not None, "a container with children stays"
    zk.delete("/ctr2/a")
    time.sleep(3 * REAP_MS / 1000)
    assert zk.exists("/ctr2") is not None
    events = []
    zk.exists("/ctr2", watch=events.append)
    zk.delete("/ctr2/b")
    wait_until(lambda: zk.exists("/ctr2") is None, 10, msg="empty container reaped")
    wait_until(lambda: events, 5, msg="NodeDeleted for the reaped container")
    assert events[0].type == "DELETED"


def test_never_used_container_is_kept(raw, zk):
    c = raw()
    assert c.create("/ctr-unused", b"", flags=rawzk.CONTAINER).err == 0
    time.sleep(4 * REAP_MS / 1000)
    assert zk.exists("/ctr-unused") is not None, "containers that never had a child are not reaped"


def test_container_sequential_children_and_kazoo_recipes(raw, zk):
    c = raw()
    assert c.create("/ctr3", b"", flags=rawzk.CONTAINER).err == 0
    p = zk.create("/ctr3/item-", sequence=True, ephemeral=True)
    assert p == "/ctr3/item-0000000000"
    zk.delete(p)
    wait_until(lambda: zk.exists("/ctr3") is None, 10, msg="container reaped")


def test_ttl_node_stat_and_expiry(raw, zk):
    c = raw()
    rep = c.create("/ttl", b"t", flags=rawzk.PERSISTENT_WITH_TTL, ttl=500)
    assert rep.err == 0
    r = rep.reader()
    assert r.string() == "/ttl"
    st = r.stat()
    assert st.ephemeralOwner == 0  # the TTL encoding is not shown to clients
    assert (st.version, st.dataLength) == (0, 1)
    t0 = time.monotonic()
    wait_until(lambda: zk.exists("/ttl") is None, 10, msg="TTL node reaped")
    assert time.monotonic() - t0 >= 0.4, "reaped before its TTL"


def test_ttl_node_with_children_is_kept(raw, zk):
    c = raw()
    assert c.create("/ttlp", b"", flags=rawzk.PERSISTENT_WITH_TTL, ttl=200).err == 0
    assert c.create("/ttlp/child", b"").err == 0
    time.sleep(4 * REAP_MS / 1000)
    assert zk.exists("/ttlp") is not None
    zk.delete("/ttlp/child")
    wait_until(lambda: zk.exists("/ttlp") is None, 10, msg="TTL node reaped once childless")


def test_ttl_refreshed_by_set_data(raw, zk):
    c = raw()
    assert c.create("/ttlr", b"", flags=rawzk.PERSISTENT_WITH_TTL, ttl=1500).err == 0
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        assert c.set_data("/ttlr", b"touch").err == 0  # mtime moves, so it is not expired
        time.sleep(0.25)
    assert zk.exists("/ttlr") is not None
    wait_until(lambda: zk.exists("/ttlr") is None, 10, msg="TTL node reaped after touches stop")


def test_ttl_sequential(raw):
    c = raw()
    assert c.create("/ttls", b"").err == 0
    rep = c.create("/ttls/s-", b"", flags=rawzk.PERSISTENT_SEQUENTIAL_WITH_TTL, ttl=60000)
    assert rep.err == 0
    assert rep.reader().string() == "/ttls/s-0000000000"


@pytest.mark.parametrize(
    "flags,ttl,opcode",
    [
        (rawzk.PERSISTENT_WITH_TTL, 0, rawzk.OP_CREATE_TTL),
        (rawzk.PERSISTENT_WITH_TTL, -5, rawzk.OP_CREATE_TTL),
        (rawzk.PERSISTENT_WITH_TTL, 1 << 40, rawzk.OP_CREATE_TTL),
        (rawzk.PERSISTENT, 1000, rawzk.OP_CREATE_TTL),
        (rawzk.EPHEMERAL, 1000, rawzk.OP_CREATE_TTL),
        (rawzk.PERSISTENT_WITH_TTL, None, rawzk.OP_CREATE2),
    ],
    ids=["ttl-zero", "ttl-negative", "ttl-too-big", "persistent-flag", "ephemeral-flag", "ttl-flag-via-create2"],
)
def test_ttl_bad_arguments(raw, flags, ttl, opcode):
    c = raw()
    rep = c.create("/ttlbad", b"", flags=flags, ttl=ttl, opcode=opcode)
    assert rep.err == rawzk.BAD_ARGUMENTS
    assert c.exists("/ttlbad").err == rawzk.NO_NODE


def test_ttl_max_is_accepted(raw):
    c = raw()
    rep = c.create("/ttlmax", b"", flags=rawzk.PERSISTENT_WITH_TTL, ttl=(1 << 40) - 1)
    assert rep.err == 0
