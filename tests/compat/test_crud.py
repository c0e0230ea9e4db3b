"""CRUD through kazoo with exact Stat fields; sequential and ephemeral nodes."""

import time

import pytest
from kazoo.exceptions import NoNodeError

from conftest import wait_until


def test_fresh_server_special_nodes(zk):
    # Must run before anything else creates nodes at the root of this module's server.
    root = zk.exists("/")
    assert (root.czxid, root.mzxid, root.ctime, root.mtime) == (0, 0, 0, 0)
    assert (root.version, root.aversion, root.ephemeralOwner, root.dataLength) == (0, 0, 0, 0)
    assert root.pzxid == 0
    # only /zookeeper below the root; the client-visible cversion is 2*creations - numChildren
    assert zk.get_children("/") == ["zookeeper"]
    assert root.numChildren == 1
    assert root.cversion == -1

    zkn = zk.exists("/zookeeper")
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]
    assert zkn.numChildren == 2
    assert zkn.cversion == -2
    assert (zkn.czxid, zkn.mzxid, zkn.ctime, zkn.pzxid, zkn.version) == (0, 0, 0, 0, 0)

    data, quota = zk.get("/zookeeper/quota")
    assert data == b""
    assert (quota.czxid, quota.version, quota.cversion, quota.aversion, quota.numChildren) == (0, 0, 0, 0, 0)
    data, cfg = zk.get("/zookeeper/config")
    assert cfg.czxid == 0
    assert cfg.aversion == -1  # sic: ZooKeeper 3.8 reports aversion -1 for /zookeeper/config


def test_root_cversion_counts_creates_and_deletes(zk):
    before = zk.exists("/")
    zk.create("/rootprobe")
    mid = zk.exists("/")
    zk.delete("/rootprobe")
    after = zk.exists("/")
    assert mid.cversion == before.cversion + 1
    assert after.cversion == before.cversion + 2
    assert mid.numChildren == before.numChildren + 1
    assert after.numChildren == before.numChildren


def test_create_stat(zk, base):
    t0 = int(time.time() * 1000)
    path = zk.create(base + "/n", b"hello")
    assert path == base + "/n"
    st = zk.exists(path)
    assert st.version == 0
    assert st.cversion == 0
    assert st.aversion == 0
    assert st.numChildren == 0
    assert st.dataLength == 5
    assert st.ephemeralOwner == 0
    assert st.czxid == st.mzxid == st.pzxid
    assert st.czxid > 0
    assert st.ctime == st.mtime
    assert abs(st.ctime - t0) < 60_000, "ctime is wall clock milliseconds"

    data, st2 = zk.get(path)
    assert data == b"hello"
    assert st2 == st


def test_create_returns_stat_via_create2(zk, base):
    # kazoo's include_data=True uses create2 (opcode 15) and returns (path, stat)
    path, st = zk.create(base + "/c2", b"abc", include_data=True)
    assert path == base + "/c2"
    assert st == zk.exists(path)
    assert st.dataLength == 3


def test_empty_data(zk, base):
    zk.create(base + "/empty")
    data, st = zk.get(base + "/empty")
    assert data == b""
    assert st.dataLength == 0


def test_set_data_stat(zk, base):
    p = zk.create(base + "/s", b"v0")
    st0 = zk.exists(p)
    st1 = zk.set(p, b"value-1")
    assert st1.version == 1
    assert st1.czxid == st0.czxid
    assert st1.mzxid > st0.mzxid
    assert st1.pzxid == st0.pzxid, "setData does not touch pzxid"
    assert st1.ctime == st0.ctime
    assert st1.mtime >= st0.mtime
    assert st1.dataLength == 7
    assert st1.cversion == 0 and st1.aversion == 0
    assert zk.exists(p) == st1
    # setting identical bytes still bumps the version
    st2 = zk.set(p, b"value-1")
    assert st2.version == 2
    assert st2.mzxid > st1.mzxid
    assert zk.get(p) == (b"value-1", st2)


def test_versioned_set_and_delete(zk, base):
    p = zk.create(base + "/v", b"a")
    st = zk.set(p, b"b", version=0)
    assert st.version == 1
    st = zk.set(p, b"c", version=1)
    assert st.version == 2
    zk.delete(p, version=2)
    assert zk.exists(p) is None


def test_children_stat(zk, base):
    parent0 = zk.exists(base)
    c1 = zk.create(base + "/c1")
    c1st = zk.exists(c1)
    p1 = zk.exists(base)
    assert p1.cversion == parent0.cversion + 1
    assert p1.numChildren == 1
    assert p1.pzxid == c1st.czxid
    assert p1.mzxid == parent0.mzxid, "adding a child does not change the parent's mzxid"
    assert p1.version == parent0.version

    zk.create(base + "/c2")
    p2 = zk.exists(base)
    assert p2.cversion == parent0.cversion + 2
    assert p2.numChildren == 2
    assert sorted(zk.get_children(base)) == ["c1", "c2"]

    zk.delete(c1)
    p3 = zk.exists(base)
    assert p3.cversion == parent0.cversion + 3, "the client-visible cversion counts deletions too"
    assert p3.numChildren == 1
    assert p3.pzxid > p2.pzxid, "deleting a child moves pzxid to the delete's zxid"
    # zxids are consecutive for the writes of a single client on a standalone server
    probe = zk.create(base + "/probe")
    assert zk.exists(probe).czxid == p3.pzxid + 1


def test_get_children_include_data(zk, base):
    zk.create(base + "/a")
    zk.create(base + "/b")
    children, st = zk.get_children(base, include_data=True)
    assert sorted(children) == ["a", "b"]
    assert st == zk.exists(base)
    assert st.numChildren == 2


def test_failed_write_consumes_a_zxid(zk, base):
    # ZooKeeper turns a failed write into an error txn that still takes a zxid.
    a = zk.exists(zk.create(base + "/z1")).czxid
    with pytest.raises(Exception):
        zk.create(base + "/z1")
    b = zk.exists(zk.create(base + "/z2")).czxid
    assert b == a + 2


def test_large_data(zk, base):
    blob = bytes(range(256)) * 2048  # 512 KiB
    zk.create(base + "/big", blob)
    data, st = zk.get(base + "/big")
    assert data == blob
    assert st.dataLength == len(blob)


def test_unicode_path_and_binary_data(zk, base):
    p = zk.create(base + "/\u00e9t\u00e9-\u65e5\u672c", b"\x00\x01\xff")
    assert zk.get(p)[0] == b"\x00\x01\xff"
    assert "\u00e9t\u00e9-\u65e5\u672c" in zk.get_children(base)


def test_sequential_suffix(zk, base):
    a = zk.create(base + "/seq-", b"", sequence=True)
    b = zk.create(base + "/seq-", b"", sequence=True)
    assert a == base + "/seq-0000000000"
    assert b == base + "/seq-0000000001"
    # the counter is the parent's number of child creations, whatever the name
    zk.create(base + "/plain")
    c = zk.create(base + "/other-", sequence=True)
    assert c == base + "/other-0000000003"
    # deleting does not give numbers back
    zk.delete(a)
    zk.delete(c)
    d = zk.create(base + "/seq-", sequence=True)
    assert d == base + "/seq-0000000004"
    # a sequential name may end in a slash: the suffix is the whole last segment
    e = zk.create(base + "/", sequence=True)
    assert e == base + "/0000000005"


def test_sequential_with_makepath(zk, base):
    p = zk.create(base + "/deep/er/x-", b"d", sequence=True, makepath=True)
    assert p == base + "/deep/er/x-0000000000"
    assert zk.get(p)[0] == b"d"


def test_ephemeral_stat_and_removal(make_client, base):
    owner = make_client()
    other = make_client()
    p = owner.create(base + "/eph", b"e", ephemeral=True)
    st = other.exists(p)
    assert st.ephemeralOwner == owner.client_id[0]
    assert st.ephemeralOwner != 0
    q = owner.create(base + "/eph-seq-", ephemeral=True, sequence=True)
    assert q == base + "/eph-seq-0000000001"
    assert sorted(other.get_children(base)) == ["eph", "eph-seq-0000000001"]
    owner.stop()  # closeSession: ephemerals go at once
    assert other.exists(p) is None
    assert other.exists(q) is None
    assert other.get_children(base) == []
    assert other.exists(base).cversion == 4


def test_ephemeral_removed_when_session_closes_watch(make_client, base):
    owner = make_client()
    watcher = make_client()
    owner.create(base + "/e", ephemeral=True)
    events = []
    watcher.exists(base + "/e", watch=events.append)
    owner.stop()
    wait_until(lambda: events, 10, msg="NodeDeleted for the ephemeral")
    assert events[0].type == "DELETED"
    assert events[0].path == base + "/e"


def test_ensure_path_and_recursive_delete(zk, base):
    zk.ensure_path(base + "/x/y/z")
    assert zk.exists(base + "/x/y/z")
    zk.delete(base + "/x", recursive=True)
    assert zk.exists(base + "/x") is None
    with pytest.raises(NoNodeError):
        zk.get(base + "/x/y")


def test_sync(zk, base):
    assert zk.sync(base) == base
