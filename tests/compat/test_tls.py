"""TLS on the secure client port with kazoo (use_ssl): ZooKeeper's zoo.cfg keys
(secureClientPort, ssl.keyStore.* / ssl.trustStore.* as PEM, ssl.clientAuth,
authProvider.x509), certificates made by `keeper certs`, a client certificate as
an x509 ACL id, plain and TLS ports side by side on one tree, and Debian's zkCli.sh
over TLS (Netty's client socket).

Against ZooKeeper the same zoo.cfg runs with the Netty connection factory (its
TLS needs Netty's jars; the module is skipped where Debian's are missing).
"""

from __future__ import annotations

import glob
import os
import subprocess
import tempfile
import threading

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.security import ACL, Id, Permissions

from servers import ServerOptions, free_port, keeper_bin, target

CERTS = tempfile.mkdtemp(prefix="compat-tls-")
SECURE_PORT = free_port()
APP_DN = "CN=app,O=Keeper"


def _certs(out: str) -> None:
    subprocess.run(
        [keeper_bin(), "certs", "--out", out, "--hosts", "127.0.0.1", "--clients", "app,other"],
        check=True,
        capture_output=True,
    )


def _netty_jars() -> list[str]:
    # Debian's unversioned Netty jars (its netty-all is empty of classes).
    return sorted(
        j
        for j in glob.glob("/usr/share/java/netty-*.jar")
        if not j[-5].isdigit() and not j.endswith("netty-all.jar")
    )


if not os.access(keeper_bin(), os.X_OK):
    pytest.skip("the certificates are made with `keeper certs`: build keeper first", allow_module_level=True)
if target() == "zookeeper" and not _netty_jars():
    pytest.skip("ZooKeeper's TLS port needs Netty's jars (Debian libnetty-java)", allow_module_level=True)

_certs(CERTS)
CA = os.path.join(CERTS, "ca.pem")

SERVER_OPTIONS = ServerOptions(
    extra_zk_cfg={
        "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
        "secureClientPort": SECURE_PORT,
        "secureClientPortAddress": "127.0.0.1",
        "ssl.keyStore.location": os.path.join(CERTS, "server-127.0.0.1.pem"),
        "ssl.keyStore.type": "PEM",
        "ssl.trustStore.location": CA,
        "ssl.trustStore.type": "PEM",
        "ssl.clientAuth": "need",
        "authProvider.x509": "org.apache.zookeeper.server.auth.X509AuthenticationProvider",
    },
    extra_keeper_set={
        "client.secure_port": SECURE_PORT,
        "client.secure_address": "127.0.0.1",
        "tls.key_store": os.path.join(CERTS, "server-127.0.0.1.pem"),
        "tls.trust_store": CA,
    },
    zk_classpath_extra=_netty_jars(),
)

OPEN = ACL(Permissions.ALL, Id("world", "anyone"))


@pytest.fixture
def tls_client(server):
    clients = []

    def _make(name: str | None = "app", start: bool = True, ca: str = CA, pem: str | None = None, **kw):
        if pem is None and name:
            pem = os.path.join(CERTS, f"client-{name}.pem")
        c = KazooClient(
            hosts=f"127.0.0.1:{SECURE_PORT}",
            use_ssl=True,
            verify_certs=True,
            ca=ca,
            certfile=pem,
            keyfile=pem,
            timeout=10.0,
            **kw,
        )
        clients.append(c)
        if start:
            c.start(timeout=15)
        return c

    yield _make
    for c in clients:
        try:
            c.stop()
            c.close()
        except Exception:  # noqa: BLE001
            pass


def test_a_certificate_is_an_x509_id(tls_client, make_client):
    app = tls_client("app")
    app.ensure_path("/tls")
    app.create("/tls/app", b"secret", acl=[ACL(Permissions.ALL, Id("x509", APP_DN))])
    assert app.get("/tls/app")[0] == b"secret"
    assert app.get_acls("/tls/app")[0] == [ACL(Permissions.ALL, Id("x509", APP_DN))]
    # Another certificate, and the plain port: no access.
    other = tls_client("other")
    with pytest.raises(NoAuthError):
        other.get("/tls/app")
    plain = make_client()
    with pytest.raises(NoAuthError):
        plain.get("/tls/app")
    # The auth scheme expands to the certificate's id.
    app.create("/tls/creator", b"", acl=[ACL(Permissions.ALL, Id("auth", ""))])
    assert Id("x509", APP_DN) in [a.id for a in app.get_acls("/tls/creator")[0]]


def test_plain_and_tls_ports_share_one_tree_and_watches(tls_client, make_client):
    app = tls_client("app")
    plain = make_client()
    plain.ensure_path("/tls-w")
    fired = threading.Event()
    events = []

    def watch(ev):
        events.append(ev)
        fired.set()

    app.get("/tls-w", watch=watch)
    plain.set("/tls-w", b"from plain")
    assert fired.wait(10), "no watch event over TLS"
    assert events[0].type == "CHANGED"
    assert app.get("/tls-w")[0] == b"from plain"
    # Large replies over TLS.
    plain.create("/tls-big", b"x" * (900 * 1024))
    assert len(app.get("/tls-big")[0]) == 900 * 1024


def test_a_client_without_a_certificate_is_refused(tls_client, make_client):
    with pytest.raises(KazooTimeoutError):
        tls_client(None, start=False).start(timeout=3)
    # The server serves on.
    assert make_client().exists("/") is not None


def test_a_certificate_of_another_ca_is_refused(tls_client):
    foreign = tempfile.mkdtemp(prefix="compat-tls-foreign-")
    _certs(foreign)
    c = tls_client(None, start=False, pem=os.path.join(foreign, "client-app.pem"))
    with pytest.raises(KazooTimeoutError):
        c.start(timeout=3)


ZKCLI = os.environ.get("ZKCLI", "/usr/share/zookeeper/bin/zkCli.sh")


def zkcli_tls(name: str, *args: str) -> subprocess.CompletedProcess:
    """zkCli.sh over TLS with client-<name>.pem: Netty's client socket, whose jars Debian's
    zkCli.sh classpath lacks (a later -cp in CLIENT_JVMFLAGS wins)."""
    pem = os.path.join(CERTS, f"client-{name}.pem")
    cp = ":".join(["/etc/zookeeper/conf", "/usr/share/java/zookeeper.jar", *_netty_jars()])
    flags = [
        "-XX:TieredStopAtLevel=1",
        "-XX:+UseSerialGC",
        f"-cp {cp}",
        "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
        "-Dzookeeper.client.secure=true",
        f"-Dzookeeper.ssl.keyStore.location={pem}",
        "-Dzookeeper.ssl.keyStore.type=PEM",
        f"-Dzookeeper.ssl.trustStore.location={CA}",
        "-Dzookeeper.ssl.trustStore.type=PEM",
    ]
    env = dict(os.environ, CLIENT_JVMFLAGS=" ".join(flags))
    return subprocess.run(
        ["bash", ZKCLI, "-server", f"127.0.0.1:{SECURE_PORT}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )


def test_zkcli_over_tls_is_known_by_its_certificate(tls_client):
    if not os.path.exists(ZKCLI) or not _netty_jars():
        pytest.skip("needs Debian's zkCli.sh and Netty's jars")
    app = tls_client("app")
    app.ensure_path("/tls")
    app.create("/tls/cli", b"for app only", acl=[ACL(Permissions.ALL, Id("x509", APP_DN))])
    who = zkcli_tls("app", "whoami")
    assert f"x509: {APP_DN}" in who.stdout, who.stdout + who.stderr
    got = zkcli_tls("app", "get", "/tls/cli")
    assert "for app only" in got.stdout, got.stdout + got.stderr
    refused = zkcli_tls("other", "get", "/tls/cli")
    assert "for app only" not in refused.stdout
    assert "Insufficient permission" in refused.stdout + refused.stderr, refused.stdout + refused.stderr
