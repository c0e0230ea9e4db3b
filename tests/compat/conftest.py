"""pytest fixtures for the compatibility suites.

Each test module gets a fresh server (Keeper or ZooKeeper, see servers.py) on a
free 127.0.0.1 port with a temporary data dir.  A module may define
SERVER_OPTIONS = ServerOptions(...) to change tick time, extended types, ...
"""

from __future__ import annotations

import os
import re
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from kazoo.client import KazooClient  # noqa: E402

import rawzk  # noqa: E402
from servers import ServerOptions, Server, target  # noqa: E402


def pytest_report_header(config):
    from servers import keeper_bin

    t = target()
    extra = f" KEEPER_BIN={keeper_bin()}" if t == "keeper" else ""
    return f"compat target: {t}{extra}"


def wait_until(cond, timeout: float = 10.0, interval: float = 0.05, msg: str = "condition"):
    """Poll cond() until truthy; return its value or fail after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {msg} (last value: {last!r})")


@pytest.fixture(scope="module")
def server(request):
    opts = getattr(request.module, "SERVER_OPTIONS", None) or ServerOptions()
    srv = Server(target(), opts, name=request.module.__name__)
    try:
        srv.start()
    except Exception:
        srv.stop()
        raise
    yield srv
    srv.stop()


@pytest.fixture
def make_client(server):
    clients = []

    def _make(start: bool = True, hosts: str | None = None, **kw):
        kw.setdefault("timeout", 10.0)
        c = KazooClient(hosts=hosts or server.hosts, **kw)
        clients.append(c)
        if start:
            c.start(timeout=15)
        return c

    yield _make
    for c in clients:
        try:
            c.stop()
        except Exception:
            pass
        try:
            c.close()
        except Exception:
            pass


@pytest.fixture
def zk(make_client):
    return make_client()


@pytest.fixture
def raw(server):
    conns = []

    def _make(**kw):
        c = rawzk.RawZK(server.host, server.port, **kw)
        conns.append(c)
        return c

    yield _make
    for c in conns:
        c.close()


@pytest.fixture
def base(zk, request):
    """A fresh persistent node unique to the test: /<testname>."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:80]
    path = "/" + name
    if zk.exists(path):
        zk.delete(path, recursive=True)
    zk.create(path)
    return path
