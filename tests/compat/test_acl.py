"""ACLs: world, digest (add_auth), ip, auth, super; NoAuth, InvalidACL, getACL, setACL."""

import base64
import hashlib

import pytest
from kazoo.exceptions import (
    AuthFailedError,
    BadVersionError,
    InvalidACLError,
    NoAuthError,
)
from kazoo.security import ACL, Id, Permissions, make_acl, make_digest_acl, make_digest_acl_credential

import rawzk
from servers import ServerOptions


def digest(user: str, password: str) -> str:
    return user + ":" + base64.b64encode(hashlib.sha1(f"{user}:{password}".encode()).digest()).decode()


SERVER_OPTIONS = ServerOptions(super_digest=digest("super", "s3cret"))

OPEN = ACL(Permissions.ALL, Id("world", "anyone"))


def test_digest_credential_format():
    # the id format the server must compute for scheme digest
    assert make_digest_acl_credential("user", "pw") == digest("user", "pw")


def test_default_acl_is_world_anyone_all(zk, base):
    zk.create(base + "/n")
    acls, st = zk.get_acls(base + "/n")
    assert acls == [OPEN]
    assert st == zk.exists(base + "/n")
    assert st.aversion == 0


def test_digest_acl_enforced(make_client, base):
    owner = make_client()
    owner.add_auth("digest", "alice:pw")
    acl = make_digest_acl("alice", "pw", all=True)
    owner.create(base + "/secret", b"s", acl=[acl])
    assert owner.get(base + "/secret")[0] == b"s"

    anon = make_client()
    with pytest.raises(NoAuthError):
        anon.get(base + "/secret")
    with pytest.raises(NoAuthError):
        anon.set(base + "/secret", b"x")
    with pytest.raises(NoAuthError):
        anon.get_children(base + "/secret")
    with pytest.raises(NoAuthError):
        anon.create(base + "/secret/child")
    # exists does not need any permission
    assert anon.exists(base + "/secret").dataLength == 1

    wrong = make_client()
    wrong.add_auth("digest", "alice:wrong")  # digest auth itself never fails
    with pytest.raises(NoAuthError):
        wrong.get(base + "/secret")

    right = make_client()
    right.add_auth("digest", "alice:pw")
    assert right.get(base + "/secret")[0] == b"s"
    right.set(base + "/secret", b"t")
    assert owner.get(base + "/secret")[0] == b"t"


def test_get_acl_returns_digest_id(make_client, base):
    owner = make_client()
    owner.add_auth("digest", "bob:pw")
    owner.create(base + "/n", acl=[make_digest_acl("bob", "pw", all=True)])
    acls, st = owner.get_acls(base + "/n")
    assert acls == [ACL(Permissions.ALL, Id("digest", digest("bob", "pw")))]
    # getACL needs READ or ADMIN: an unauthenticated client gets NoAuth
    anon = make_client()
    with pytest.raises(NoAuthError):
        anon.get_acls(base + "/n")


def test_get_acl_with_read_only_masks_digest(make_client, base):
    owner = make_client()
    owner.add_auth("digest", "carol:pw")
    owner.create(
        base + "/n",
        acl=[make_digest_acl("carol", "pw", all=True), ACL(Permissions.READ, Id("world", "anyone"))],
    )
    anon = make_client()
    acls, _ = anon.get_acls(base + "/n")
    # without ADMIN, digest ids are masked as user:x
    assert ACL(Permissions.ALL, Id("digest", "carol:x")) in acls
    assert ACL(Permissions.READ, Id("world", "anyone")) in acls
    full, _ = owner.get_acls(base + "/n")
    assert ACL(Permissions.ALL, Id("digest", digest("carol", "pw"))) in full


def test_permission_bits(make_client, base):
    zk = make_client()
    read_only = [ACL(Permissions.READ, Id("world", "anyone"))]
    zk.create(base + "/ro", b"r", acl=read_only)
    assert zk.get(base + "/ro")[0] == b"r"
    with pytest.raises(NoAuthError):
        zk.set(base + "/ro", b"w")
    with pytest.raises(NoAuthError):
        zk.create(base + "/ro/child")
    with pytest.raises(NoAuthError):
        zk.set_acls(base + "/ro", [OPEN])

    # CREATE without DELETE: children can be made but not removed
    zk.create(base + "/cr", acl=[make_acl("world", "anyone", read=True, create=True)])
    zk.create(base + "/cr/child")
    with pytest.raises(NoAuthError):
        zk.delete(base + "/cr/child")
    # deleting a node needs DELETE on its parent, not on itself
    zk.create(base + "/nodel", acl=[make_acl("world", "anyone", read=True)])
    zk.delete(base + "/nodel")
    assert zk.exists(base + "/nodel") is None


def test_ip_acl(zk, base):
    zk.create(base + "/local", b"l", acl=[ACL(Permissions.ALL, Id("ip", "127.0.0.1"))])
    assert zk.get(base + "/local")[0] == b"l"
    zk.create(base + "/cidr", b"c", acl=[ACL(Permissions.ALL, Id("ip", "127.0.0.0/8"))])
    assert zk.get(base + "/cidr")[0] == b"c"
    zk.create(base + "/far", b"f", acl=[ACL(Permissions.ALL, Id("ip", "10.1.2.3"))])
    with pytest.raises(NoAuthError):
        zk.get(base + "/far")
    zk.create(base + "/farnet", b"f", acl=[ACL(Permissions.ALL, Id("ip", "10.0.0.0/8"))])
    with pytest.raises(NoAuthError):
        zk.get(base + "/farnet")


def test_auth_scheme_expands_to_authenticated_ids(make_client, base):
    zk = make_client()
    with pytest.raises(InvalidACLError):
        zk.create(base + "/noauth", acl=[ACL(Permissions.ALL, Id("auth", ""))])
    zk.add_auth("digest", "dave:pw")
    zk.create(base + "/auth", acl=[ACL(Permissions.ALL, Id("auth", ""))])
    acls, _ = zk.get_acls(base + "/auth")
    assert acls == [ACL(Permissions.ALL, Id("digest", digest("dave", "pw")))]


@pytest.mark.parametrize(
    "acl",
    [
        [ACL(Permissions.ALL, Id("nosuchscheme", "x"))],
        [ACL(Permissions.ALL, Id("digest", "no-colon"))],
        [ACL(Permissions.ALL, Id("ip", "not-an-ip"))],
    ],
    ids=["unknown-scheme", "digest-without-colon", "bad-ip"],
)
def test_invalid_acl(zk, base, acl):
    with pytest.raises(InvalidACLError):
        zk.create(base + "/bad", acl=acl)
    assert zk.exists(base + "/bad") is None


def test_empty_acl_is_invalid(raw):
    # (kazoo silently replaces an empty list by world:anyone, so send it raw)
    c = raw()
    assert c.create("/empty-acl", b"", acl=[], opcode=rawzk.OP_CREATE).err == rawzk.INVALID_ACL
    assert c.create("/empty-acl", b"", acl=[]).err == rawzk.INVALID_ACL
    assert c.create("/empty-acl", b"").err == 0
    rep = c.call(rawzk.OP_SET_ACL, rawzk.w_string("/empty-acl") + rawzk.w_acls([]) + rawzk.w_int(-1))
    assert rep.err == rawzk.INVALID_ACL


def test_set_acl_versions(zk, base):
    zk.create(base + "/n")
    st = zk.set_acls(base + "/n", [ACL(Permissions.READ | Permissions.ADMIN, Id("world", "anyone"))])
    assert st.aversion == 1
    assert st.version == 0
    with pytest.raises(BadVersionError):
        zk.set_acls(base + "/n", [OPEN], version=0)
    st = zk.set_acls(base + "/n", [OPEN], version=1)
    assert st.aversion == 2
    acls, st2 = zk.get_acls(base + "/n")
    assert acls == [OPEN]
    assert st2.aversion == 2
    # setACL does not change mzxid / version
    assert st2.mzxid == st2.czxid


def test_duplicate_acl_entries_are_removed(zk, base):
    zk.create(base + "/dup", acl=[OPEN, OPEN])
    assert zk.get_acls(base + "/dup")[0] == [OPEN]


def test_super_digest(make_client, base):
    owner = make_client()
    owner.add_auth("digest", "erin:pw")
    owner.create(base + "/locked", b"L", acl=[make_digest_acl("erin", "pw", all=True)])
    admin = make_client()
    admin.add_auth("digest", "super:s3cret")
    assert admin.get(base + "/locked")[0] == b"L"
    admin.set_acls(base + "/locked", [OPEN])
    anon = make_client()
    assert anon.get(base + "/locked")[0] == b"L"


def test_unknown_auth_scheme_fails_and_closes(raw):
    c = raw()
    rep = c.add_auth("nosuchscheme", b"x")
    assert rep.xid == -4
    assert rep.err == rawzk.AUTH_FAILED
    assert c.is_closed_by_server(5)


def test_kazoo_auth_failed(make_client):
    zk = make_client()
    with pytest.raises(AuthFailedError):
        zk.add_auth("nosuchscheme", "x")


def test_who_am_i(raw):
    c = raw()
    rep = c.who_am_i()
    assert rep.err == 0
    r = rep.reader()
    n = r.int()
    ids = [(r.string(), r.string()) for _ in range(n)]
    assert ids == [("ip", "127.0.0.1")]
    auth = c.add_auth("digest", b"frank:pw")
    assert (auth.xid, auth.err, auth.zxid) == (-4, 0, 0)
    r = c.who_am_i().reader()
    n = r.int()
    ids = [(r.string(), r.string()) for _ in range(n)]
    # (ZooKeeper keeps the ids in a hash set: the order is not defined)
    assert sorted(ids) == [("digest", "frank"), ("ip", "127.0.0.1")]
