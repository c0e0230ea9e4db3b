"""multi (opcode 14) through kazoo's TransactionRequest, and raw multi / multiRead framing."""

import pytest
from kazoo.exceptions import (
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import ZnodeStat

import rawzk
from servers import target
from rawzk import Reader, w_bool, w_int, w_string


def test_successful_transaction(zk, base):
    zk.create(base + "/old", b"o")
    zk.create(base + "/chk", b"c")
    t = zk.transaction()
    t.create(base + "/a", b"A")
    t.create(base + "/seq-", b"S", sequence=True)
    t.set_data(base + "/old", b"new")
    t.check(base + "/chk", 0)
    t.delete(base + "/chk")
    results = t.commit()
    assert len(results) == 5
    assert results[0] == base + "/a"
    assert results[1] == base + "/seq-0000000003"
    assert isinstance(results[2], ZnodeStat) and results[2].version == 1
    assert results[3] is True
    assert results[4] is True
    assert zk.get(base + "/old")[0] == b"new"
    assert zk.exists(base + "/chk") is None
    # all ops of a multi share one zxid
    a = zk.exists(base + "/a")
    s = zk.exists(base + "/seq-0000000003")
    assert a.czxid == s.czxid == results[2].mzxid
    assert zk.exists(base).pzxid == a.czxid


def test_failing_transaction_results(zk, base):
    zk.create(base + "/exists")
    t = zk.transaction()
    t.create(base + "/new1")
    t.create(base + "/exists")  # fails: NodeExists
    t.set_data(base + "/exists", b"x")
    t.delete(base + "/missing")
    results = t.commit()
    assert len(results) == 4
    assert isinstance(results[0], RolledBackError)
    assert isinstance(results[1], NodeExistsError)
    assert isinstance(results[2], RuntimeInconsistency)
    assert isinstance(results[3], RuntimeInconsistency)
    # atomic: nothing happened
    assert zk.exists(base + "/new1") is None
    assert zk.get(base + "/exists")[0] == b""


@pytest.mark.parametrize(
    "setup,ops,expected",
    [
        ("", [("check", "/n", 0)], NoNodeError),
        ("n", [("check", "/n", 3)], BadVersionError),
        ("n", [("set", "/n", 9)], BadVersionError),
        ("n", [("delete", "/n", 4)], BadVersionError),
        ("n/c", [("delete", "/n", -1)], NotEmptyError),
        ("", [("create", "/n/x", None)], NoNodeError),
    ],
    ids=["check-nonode", "check-badversion", "set-badversion", "delete-badversion", "delete-notempty", "create-noparent"],
)
def test_single_failing_op(zk, base, setup, ops, expected):
    if setup:
        zk.ensure_path(base + "/" + setup)
    t = zk.transaction()
    for op, path, arg in ops:
        if op == "check":
            t.check(base + path, arg)
        elif op == "set":
            t.set_data(base + path, b"v", version=arg)
        elif op == "delete":
            t.delete(base + path, version=arg)
        elif op == "create":
            t.create(base + path)
    results = t.commit()
    assert len(results) == 1
    assert isinstance(results[0], expected)


def test_transaction_sees_its_own_earlier_ops(zk, base):
    t = zk.transaction()
    t.create(base + "/p")
    t.create(base + "/p/c", b"child")
    t.check(base + "/p/c", 0)
    t.set_data(base + "/p/c", b"v1", version=0)
    t.delete(base + "/p/c", version=1)
    t.delete(base + "/p")
    results = t.commit()
    assert results[0] == base + "/p"
    assert results[1] == base + "/p/c"
    assert results[2] is True
    assert results[3].version == 1
    assert results[4] is True and results[5] is True
    assert zk.exists(base + "/p") is None
    # parent's cversion: 2 creates and 2 deletes happened under base
    assert zk.exists(base).cversion == 2


def _multi_request(ops):
    body = b""
    for opcode, rec in ops:
        body += w_int(opcode) + w_bool(False) + w_int(-1) + rec
    body += w_int(-1) + w_bool(True) + w_int(-1)
    return body


def _read_multi_response(r: Reader):
    out = []
    while True:
        typ, done, err = r.int(), r.bool(), r.int()
        if done:
            assert (typ, err) == (-1, -1)
            return out
        if typ == -1:
            out.append((typ, err, r.int()))
        elif typ == rawzk.OP_CREATE:
            out.append((typ, err, r.string()))
        elif typ == rawzk.OP_CREATE2:
            out.append((typ, err, r.string(), r.stat()))
        elif typ == rawzk.OP_SET_DATA:
            out.append((typ, err, r.stat()))
        elif typ == rawzk.OP_GET_DATA:
            out.append((typ, err, r.buffer(), r.stat()))
        elif typ == rawzk.OP_GET_CHILDREN:
            out.append((typ, err, sorted(r.strings())))
        else:  # delete, check: no body
            out.append((typ, err))


def create_rec(path, data=b"", flags=0):
    return w_string(path) + rawzk.w_buffer(data) + rawzk.w_acls(rawzk.OPEN_ACL_UNSAFE) + w_int(flags)


def test_raw_multi_failure_encoding(raw):
    c = raw()
    assert c.create("/rm-exists", b"").err == 0
    req = _multi_request(
        [
            (rawzk.OP_CREATE, create_rec("/rm-a")),
            (rawzk.OP_CREATE, create_rec("/rm-exists")),
            (rawzk.OP_DELETE, w_string("/rm-exists") + w_int(-1)),
        ]
    )
    rep = c.call(rawzk.OP_MULTI, req)
    # a failed multi still has err 0 in the reply header; errors are per op
    assert rep.err == 0
    results = _read_multi_response(rep.reader())
    assert results == [
        (-1, 0, 0),
        (-1, rawzk.NODE_EXISTS, rawzk.NODE_EXISTS),
        (-1, rawzk.RUNTIME_INCONSISTENCY, rawzk.RUNTIME_INCONSISTENCY),
    ]


def test_raw_multi_success_encoding(raw):
    c = raw()
    assert c.create("/rs-set", b"").err == 0
    req = _multi_request(
        [
            (rawzk.OP_CREATE, create_rec("/rs-a", b"x")),
            (rawzk.OP_CREATE2, create_rec("/rs-b", b"yy")),
            (rawzk.OP_SET_DATA, w_string("/rs-set") + rawzk.w_buffer(b"zzz") + w_int(0)),
            (rawzk.OP_CHECK, w_string("/rs-set") + w_int(1)),
            (rawzk.OP_DELETE, w_string("/rs-a") + w_int(0)),
        ]
    )
    rep = c.call(rawzk.OP_MULTI, req)
    assert rep.err == 0
    res = _read_multi_response(rep.reader())
    # ZooKeeper 3.8.0/3.8.1 answer a create2 sub-op with a plain create result (path only, no
    # Stat); 3.8.2+ (ZOOKEEPER-4026) and Keeper answer it as create2 with its Stat.
    create2_type = 1 if target() == "zookeeper" else 15
    assert [x[:2] for x in res] == [(1, 0), (create2_type, 0), (5, 0), (13, 0), (2, 0)]
    if create2_type == 15:
        assert res[1][3].dataLength == 2
    assert res[0][2] == "/rs-a"
    assert res[1][2] == "/rs-b"
    assert res[2][2].version == 1 and res[2][2].dataLength == 3
    # one zxid for the whole multi, also the reply header's zxid
    st = c.exists("/rs-b").reader().stat()
    assert st.czxid == res[2][2].mzxid == rep.zxid
    assert st.dataLength == 2


def test_raw_empty_multi(raw):
    c = raw()
    rep = c.call(rawzk.OP_MULTI, _multi_request([]))
    assert rep.err == 0
    assert _read_multi_response(rep.reader()) == []


def test_raw_multi_read(raw):
    c = raw()
    assert c.create("/mr", b"data").err == 0
    assert c.create("/mr/k1", b"").err == 0
    assert c.create("/mr/k2", b"").err == 0
    req = _multi_request(
        [
            (rawzk.OP_GET_DATA, w_string("/mr") + w_bool(False)),
            (rawzk.OP_GET_CHILDREN, w_string("/mr") + w_bool(False)),
            (rawzk.OP_GET_DATA, w_string("/mr-missing") + w_bool(False)),
            (rawzk.OP_GET_CHILDREN, w_string("/mr/k1") + w_bool(False)),
        ]
    )
    rep = c.call(rawzk.OP_MULTI_READ, req)
    assert rep.err == 0
    res = _read_multi_response(rep.reader())
    assert res[0][:3] == (4, 0, b"data")
    assert res[0][3].numChildren == 2
    assert res[1] == (8, 0, ["k1", "k2"])
    assert res[2] == (-1, rawzk.NO_NODE, rawzk.NO_NODE)
    assert res[3] == (8, 0, [])
