"""Error codes: NoNode, NodeExists, BadVersion, NotEmpty, NoChildrenForEphemerals, BadArguments, ...

The server of this module runs WITHOUT extended types (so TTL creation is Unimplemented).
"""

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)

import rawzk


def test_no_node(zk, base):
    with pytest.raises(NoNodeError):
        zk.get(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.set(base + "/missing", b"x")
    with pytest.raises(NoNodeError):
        zk.delete(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.get_children(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.get_acls(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.create(base + "/missing/child")
    assert zk.exists(base + "/missing") is None


def test_node_exists(zk, base):
    zk.create(base + "/x")
    with pytest.raises(NodeExistsError):
        zk.create(base + "/x")
    with pytest.raises(NodeExistsError):
        zk.create(base + "/x", ephemeral=True)


def test_bad_version(zk, base):
    zk.create(base + "/x", b"1")
    with pytest.raises(BadVersionError):
        zk.set(base + "/x", b"2", version=5)
    with pytest.raises(BadVersionError):
        zk.delete(base + "/x", version=1)
    with pytest.raises(BadVersionError):
        zk.set_acls(base + "/x", zk.get_acls(base + "/x")[0], version=3)
    # nothing changed
    data, st = zk.get(base + "/x")
    assert (data, st.version, st.aversion) == (b"1", 0, 0)


def test_not_empty(zk, base):
    zk.create(base + "/p/c", makepath=True)
    with pytest.raises(NotEmptyError):
        zk.delete(base + "/p")
    # version is checked before children
    with pytest.raises(BadVersionError):
        zk.delete(base + "/p", version=7)
    assert zk.exists(base + "/p/c")


def test_no_children_for_ephemerals(zk, base):
    zk.create(base + "/e", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(base + "/e/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(base + "/e/seq-", sequence=True)


def test_reserved_nodes_cannot_be_deleted(zk):
    for p in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"]:
        with pytest.raises(BadArgumentsError):
            zk.delete(p)


RAW_PATH_CASES = [
    ("/a/", rawzk.BAD_ARGUMENTS),
    ("/a/.", rawzk.BAD_ARGUMENTS),
    ("/a/..", rawzk.BAD_ARGUMENTS),
    ("a", rawzk.BAD_ARGUMENTS),
    ("", rawzk.BAD_ARGUMENTS),
    ("/a\x00b", rawzk.BAD_ARGUMENTS),
    ("/a\x01b", rawzk.BAD_ARGUMENTS),
    # the parent "/errpath//" is looked up before the path is validated
    ("/errpath//b", rawzk.NO_NODE),
]


@pytest.mark.parametrize("path,code", RAW_PATH_CASES, ids=[repr(p) for p, _ in RAW_PATH_CASES])
def test_invalid_paths(raw, zk, path, code):
    zk.ensure_path("/errpath")
    path = path.replace("/a", "/errpath")
    c = raw()
    assert c.create(path, b"").err == code


def test_invalid_create_flags(raw):
    c = raw()
    assert c.create("/flags7", b"", flags=7).err == rawzk.BAD_ARGUMENTS
    assert c.create("/flagsneg", b"", flags=-1).err == rawzk.BAD_ARGUMENTS
    assert c.exists("/flags7").err == rawzk.NO_NODE


def test_ttl_needs_extended_types(raw):
    c = raw()
    rep = c.create("/ttl-off", b"", flags=rawzk.PERSISTENT_WITH_TTL, ttl=1000)
    assert rep.err == rawzk.UNIMPLEMENTED
    assert c.exists("/ttl-off").err == rawzk.NO_NODE


def test_error_reply_has_only_header(raw, zk):
    c = raw()
    rep = c.get_data("/definitely-missing")
    assert rep.err == rawzk.NO_NODE
    assert rep.body == b""
    assert rep.zxid > 0  # the last processed zxid, not -1
    rep = c.delete("/definitely-missing")
    assert rep.err == rawzk.NO_NODE
    assert rep.body == b""


def test_raw_ops_after_errors_keep_working(raw):
    c = raw()
    for _ in range(3):
        assert c.get_data("/nope").err == rawzk.NO_NODE
    rep = c.create("/after-errors", b"ok")
    assert rep.err == 0
    assert rep.reader().string() == "/after-errors"


def test_nodes_below_zookeeper_are_allowed(zk):
    # only the special nodes themselves are protected; ordinary children of /zookeeper are not
    zk.create("/zookeeper/user-node", b"u")
    assert zk.get("/zookeeper/user-node")[0] == b"u"
    zk.delete("/zookeeper/user-node")
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]
