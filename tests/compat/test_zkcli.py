"""ZooKeeper's own command-line clients against the server under test, compared live with
Apache ZooKeeper 3.8 started in the same test run.

* zkCli.sh (Java, org.apache.zookeeper.ZooKeeperMain): one-shot `-server HOST:PORT cmd args`
  calls and a few stdin batches (one session for several commands).
* cli_mt (the C client's shell, from zookeeper-bin): commands fed on stdin one by one.

Each scenario runs first against the reference ZooKeeper, then against the subject
(COMPAT_TARGET: keeper by default; with COMPAT_TARGET=zookeeper a second ZooKeeper, which
checks that the normalisation is stable). Output is normalised (ports, dates, zxids, session
ids, timings, child order, asynchronous watcher lines) and must be identical.

Environment: ZKCLI (default /usr/share/zookeeper/bin/zkCli.sh), CLI_MT (default
/usr/lib/zookeeper/bin/cli_mt).
"""

from __future__ import annotations

import base64
import concurrent.futures
import difflib
import hashlib
import os
import re
import select
import subprocess
import time

import pytest

from servers import Server, ServerOptions, target

ZKCLI = os.environ.get("ZKCLI", "/usr/share/zookeeper/bin/zkCli.sh")
CLI_MT = os.environ.get("CLI_MT", "/usr/lib/zookeeper/bin/cli_mt")
OPTS = ServerOptions(extended_types=True)

DIGEST_U_P = "u:" + base64.b64encode(hashlib.sha1(b"u:p").digest()).decode()


@pytest.fixture(scope="module")
def pair():
    if not os.path.exists(ZKCLI):
        pytest.fail(f"zkCli.sh not found at {ZKCLI} (apt-get install zookeeper, or set ZKCLI)")
    ref = Server("zookeeper", OPTS, name="zkcli-reference")
    subject = Server(target(), OPTS, name="zkcli-subject")
    try:
        ref.start()
        subject.start()
        yield ref, subject
    finally:
        subject.stop()
        ref.stop()


# ---- normalisation ------------------------------------------------------------------

JAVA_DATE = re.compile(r"\b[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d [A-Z]{2,5} \d{4}\b")
C_DATE = re.compile(r"\b[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\b")
NOISE = re.compile(r"^(SLF4J:|log4j:|WATCHER::$|Welcome to ZooKeeper!$|JLine support is |Connecting to \S+$)")


class ZxidMap:
    def __init__(self):
        self.m: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        v = value.lower()
        v = v[2:] if v.startswith("0x") else v
        v = v.lstrip("0") or "0"
        if v == "0":
            return "0"
        return self.m.setdefault(v, f"Z{len(self.m) + 1}")


def normalise_zkcli(text: str) -> tuple[list[str], list[str]]:
    """Returns (lines, sorted watch events)."""
    zx = ZxidMap()
    lines, events = [], []
    for line in text.splitlines():
        line = line.rstrip()
        if not line or NOISE.match(line):
            continue
        line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line)
        if "Thu Jan 01 00:00:00 UTC 1970" not in line:
            line = JAVA_DATE.sub("<DATE>", line)
        line = re.sub(r"^(cZxid|mZxid|pZxid) = (0x[0-9a-f]+)$", lambda m: f"{m.group(1)} = {zx(m.group(2))}", line)
        line = re.sub(r"^ephemeralOwner = 0x[0-9a-f]*[1-9a-f][0-9a-f]*$", "ephemeralOwner = <SID>", line)
        if line.startswith("WatchedEvent "):
            if "type:None" not in line:
                events.append(line)
            continue
        # lists printed as [a, b, c] (getEphemerals, ls) come in server order, which
        # ZooKeeper leaves unspecified (hash sets): compare them sorted
        m = re.fullmatch(r"\[(.+)\]", line)
        if m:
            line = "[" + ", ".join(sorted(m.group(1).split(", "))) + "]"
        lines.append(line)
    # whoami: the ids after "Auth scheme: User" come from a hash set too
    out, i = [], 0
    while i < len(lines):
        out.append(lines[i])
        if lines[i] == "Auth scheme: User":
            j = i + 1
            while j < len(lines) and re.fullmatch(r"[a-z0-9]+: \S+", lines[j]):
                j += 1
            out.extend(sorted(lines[i + 1 : j]))
            i = j
        else:
            i += 1
    return out, sorted(events)


def normalise_climt(text: str) -> tuple[list[str], list[str]]:
    zx = ZxidMap()
    lines, events = [], []
    for line in text.splitlines():
        line = line.rstrip()
        if not line or re.match(r"^time = -?\d+ msec$", line):
            continue
        if line.startswith("Watcher "):
            # asynchronous watcher callbacks: order relative to replies is not defined
            if "SESSION_EVENT" not in line:
                events.append(line)
            continue
        if re.match(r"^(Got a new session id: 0x|session Id = )[0-9a-f]+$", line):
            continue
        line = C_DATE.sub(lambda m: m.group(0) if m.group(0).endswith("1970") else "<DATE>", line)
        line = re.sub(r"\b(czxid|mzxid)=([0-9a-f]+)\b", lambda m: f"{m.group(1)}={zx(m.group(2))}", line)
        line = re.sub(r"^(\s*ephemeralOwner = )[0-9a-f]*[1-9a-f][0-9a-f]*$", r"\1<SID>", line)
        lines.append(line)
    # child names (tab-indented lines without '=') come in server order: sort each run
    out, run = [], []
    for line in lines + [None]:
        if line is not None and line.startswith("\t") and "=" not in line:
            run.append(line)
            continue
        out.extend(sorted(run))
        run = []
        if line is not None:
            out.append(line)
    return out, sorted(events)


# ---- runners ------------------------------------------------------------------------


def zkcli_env():
    env = dict(os.environ)
    env.setdefault("CLIENT_JVMFLAGS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto")
    return env


def zkcli(server: Server, *args: str, stdin_cmds: list[str] | None = None, sort_lines=False):
    """One-shot call (args) or a batch of commands on stdin (stdin_cmds)."""
    cmd = ["bash", ZKCLI, "-server", server.hosts, *args]
    inp = None
    if stdin_cmds is not None:
        inp = "\n".join([*stdin_cmds, "quit"]) + "\n"
    p = subprocess.run(cmd, input=inp, capture_output=True, text=True, timeout=90, env=zkcli_env())
    out, out_ev = normalise_zkcli(p.stdout)
    err, err_ev = normalise_zkcli(p.stderr)
    if sort_lines:
        out = sorted(out)
    return {"rc": p.returncode, "stdout": out, "stderr": err, "events": sorted(out_ev + err_ev)}


def climt(server: Server, cmds: list[str]):
    """Feed cli_mt one command at a time.  After each command a synchronous `exists` of a
    missing marker node is sent: its "Error -101" line proves that every earlier reply (and
    watcher callback) has been printed, since the server answers in order."""
    p = subprocess.Popen(
        [CLI_MT, server.hosts],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    buf = bytearray()

    def read_until(marker: bytes, timeout: float, settle: float = 0.15):
        deadline = time.monotonic() + timeout
        while True:
            if marker in buf:
                # the marker's reply came after every earlier reply on the wire, but the C client
                # prints async completions from another thread: give it a moment to settle
                r, _, _ = select.select([p.stdout], [], [], settle)
                if not r:
                    return
                data = os.read(p.stdout.fileno(), 65536)
                if not data:
                    return
                buf.extend(data)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"cli_mt: {marker!r} not seen in {timeout}s; output so far:\n{buf.decode(errors='replace')}")
            r, _, _ = select.select([p.stdout], [], [], left)
            if r:
                data = os.read(p.stdout.fileno(), 65536)
                if not data:
                    raise AssertionError(f"cli_mt exited early; output:\n{buf.decode(errors='replace')}")
                buf.extend(data)

    try:
        read_until(b"Got a new session id", 15)
        for i, c in enumerate(cmds):
            buf.extend(f"> {c}\n".encode())
            marker = f"/zz-cli-mt-marker-{i}"
            p.stdin.write(f"{c}\nexists {marker}\n".encode())
            p.stdin.flush()
            read_until(f"Error -101 for {marker}\n".encode(), 15)
        buf.extend(b"> quit\n")
        p.stdin.write(b"quit\n")
        p.stdin.flush()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.monotonic()))
            data = os.read(p.stdout.fileno(), 65536) if r else b""
            if not data:
                break
            buf.extend(data)
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    text = re.sub(r"Error -101 for /zz-cli-mt-marker-\d+\n", "", buf.decode("utf-8", "replace"))
    lines, events = normalise_climt(text)
    return {"rc": p.returncode, "out": lines, "events": events}


REFERENCE_FILE = os.path.join(os.path.dirname(__file__), "..", "reference", "zkcli-zookeeper-3.8.txt")


def record_reference(fn, args, kw, result):
    """COMPAT_RECORD_REFERENCE=1: append ZooKeeper's normalised output to tests/reference/
    (documentation for server authors; the tests themselves always compare live)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0].split("::")[-1]
    if fn is zkcli:
        what = "zkCli.sh " + (" ".join(args) if args else "<stdin> " + " ; ".join(kw.get("stdin_cmds") or []))
    else:
        what = "cli_mt <stdin> " + " ; ".join(args[0])
    lines = [f"### {test}: {what}", f"rc: {result['rc']}"]
    for key in ("stdout", "stderr", "out", "events"):
        if key in result and result[key]:
            lines.append(f"{key}:")
            lines += ["  " + x for x in result[key]]
    with open(REFERENCE_FILE, "a") as f:
        f.write("\n".join(lines) + "\n\n")


def both(pair, fn, *args, **kw):
    ref, subject = pair
    # the two servers are independent: run the client against both at once (halves the JVM wait)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        f_ref = pool.submit(fn, ref, *args, **kw)
        f_subject = pool.submit(fn, subject, *args, **kw)
        expected = f_ref.result()
        actual = f_subject.result()
    if os.environ.get("COMPAT_RECORD_REFERENCE"):
        record_reference(fn, args, kw, expected)
    if actual != expected:
        diff = []
        for key in expected:
            e, a = expected[key], actual.get(key)
            if e == a:
                continue
            if isinstance(e, list) and isinstance(a, list):
                diff += [f"--- {key}: zookeeper / +++ {target()}"]
                diff += list(difflib.unified_diff(e, a, "zookeeper", target(), lineterm="", n=2))[2:]
            else:
                diff += [f"{key}: zookeeper={e!r} {target()}={a!r}"]
        pytest.fail(f"{target()} differs from ZooKeeper 3.8 for {args!r}:\n" + "\n".join(diff), pytrace=False)
    return expected


# ---- zkCli.sh scenarios ---------------------------------------------------------------


def test_zkcli_create_variants(pair):
    r = both(pair, zkcli, "create", "/zc", "hello")
    assert r["stderr"] == ["Created /zc"] and r["rc"] == 0
    r = both(pair, zkcli, "create", "-s", "/zc/s-", "x")
    assert r["stderr"] == ["Created /zc/s-0000000000"]
    r = both(pair, zkcli, "create", "-c", "/zc-ctr")
    assert r["stderr"] == ["Created /zc-ctr"]
    r = both(pair, zkcli, "create", "-t", "600000", "/zc-ttl", "t")
    assert r["stderr"] == ["Created /zc-ttl"]
    r = both(pair, zkcli, "create", "-s", "-t", "600000", "/zc/ts-", "x")
    assert r["stderr"] == ["Created /zc/ts-0000000001"]
    r = both(pair, zkcli, "create", "/zc", "again")
    assert r["stderr"] == ["Node already exists: /zc"] and r["rc"] != 0


def test_zkcli_ephemeral_lives_with_its_session(pair):
    # (a one-shot zkCli exits without closing its session, so use a batch: `quit` closes it)
    r = both(pair, zkcli, stdin_cmds=["create -e /zc/e x", "ls /zc"])
    assert r["stderr"] == ["Created /zc/e"]
    assert r["stdout"] == ["[e, s-0000000000, ts-0000000001]"]
    r = both(pair, zkcli, "ls", "/zc")
    assert r["stdout"] == ["[s-0000000000, ts-0000000001]"]


def test_zkcli_get_s(pair):
    r = both(pair, zkcli, "get", "-s", "/zc")
    assert r["stdout"][0] == "hello"
    assert "numChildren = 2" in r["stdout"]
    assert "cversion = 4" in r["stdout"]


def test_zkcli_ls_s_and_stat_root(pair):
    r = both(pair, zkcli, "ls", "-s", "/")
    assert r["stdout"][0] == "[zc, zc-ctr, zc-ttl, zookeeper]"
    r = both(pair, zkcli, "stat", "/")
    assert "cZxid = 0" in r["stdout"]


def test_zkcli_ls_recursive(pair):
    # ls -R lists breadth-first in server child order: compare as a set of lines
    r = both(pair, zkcli, "ls", "-R", "/zc", sort_lines=True)
    assert r["stdout"] == ["/zc", "/zc/s-0000000000", "/zc/ts-0000000001"]


def test_zkcli_set_versions_and_stat(pair):
    r = both(pair, zkcli, "set", "-v", "0", "/zc", "v1")
    assert r["rc"] == 0
    r = both(pair, zkcli, "set", "-v", "0", "/zc", "v2")
    assert r["stderr"] == ["version No is not valid : /zc"]
    r = both(pair, zkcli, "stat", "/zc")
    assert "dataVersion = 1" in r["stdout"] and "dataLength = 2" in r["stdout"]


def test_zkcli_delete_and_deleteall(pair):
    r = both(pair, zkcli, "delete", "-v", "7", "/zc/s-0000000000")
    assert r["stderr"] == ["version No is not valid : /zc/s-0000000000"]
    r = both(pair, zkcli, "delete", "/zc")
    assert r["stderr"] == ["Node not empty: /zc"]
    r = both(pair, zkcli, "delete", "-v", "0", "/zc/s-0000000000")
    assert r["rc"] == 0 and r["stderr"] == []
    r = both(pair, zkcli, stdin_cmds=["deleteall /zc", "stat /zc"])
    assert r["stderr"] == ["Node does not exist: /zc"]


def test_zkcli_acls(pair):
    r = both(pair, zkcli, "getAcl", "/")
    assert r["stdout"] == ["'world,'anyone", ": cdrwa"]
    both(pair, zkcli, "create", "/zc-acl", "secret")
    r = both(pair, zkcli, "setAcl", "/zc-acl", f"digest:{DIGEST_U_P}:cdrwa,world:anyone:r")
    assert r["rc"] == 0
    # world can read: getAcl masks the digest (no ADMIN)
    r = both(pair, zkcli, "getAcl", "/zc-acl")
    assert r["stdout"] == ["'digest,'u:x", ": cdrwa", "'world,'anyone", ": r"]
    r = both(pair, zkcli, "set", "/zc-acl", "nope")
    assert r["stderr"] == ["Insufficient permission : /zc-acl"]
    r = both(
        pair,
        zkcli,
        stdin_cmds=["addauth digest u:p", "getAcl /zc-acl", "set /zc-acl changed", "get /zc-acl", "whoami"],
    )
    assert f"'digest,'{DIGEST_U_P}" in r["stdout"]
    assert "changed" in r["stdout"]
    assert r["stdout"][-3:] == ["Auth scheme: User", "digest: u", "ip: 127.0.0.1"]


def test_zkcli_whoami_one_shot(pair):
    r = both(pair, zkcli, "whoami")
    assert r["stdout"] == ["Auth scheme: User", "ip: 127.0.0.1"]


def test_zkcli_ephemerals_and_children_number(pair):
    r = both(
        pair,
        zkcli,
        stdin_cmds=[
            "create /zc-tree",
            "create /zc-tree/a",
            "create /zc-tree/a/b",
            "create -e /zc-tree/e1",
            "create -e -s /zc-tree/e-",
            "getEphemerals",
            "getEphemerals /zc-tree/e-",
            "getAllChildrenNumber /zc-tree",
            "getAllChildrenNumber /zc-tree/a/b",
            "sync /zc-tree",
        ],
    )
    assert r["stdout"] == [
        "[/zc-tree/e-0000000002, /zc-tree/e1]",  # (sorted by the normalisation)
        "[/zc-tree/e-0000000002]",
        "4",
        "0",
        "Sync is OK",
    ]


def test_zkcli_watch_fires(pair):
    r = both(pair, zkcli, stdin_cmds=["create /zc-w a", "get -w /zc-w", "set /zc-w b", "ls -w /zc-w", "create /zc-w/c"])
    assert r["events"] == [
        "WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/zc-w",
        "WatchedEvent state:SyncConnected type:NodeDataChanged path:/zc-w",
    ]


def test_zkcli_errors(pair):
    r = both(pair, zkcli, "get", "/zc-missing")
    assert r["stderr"] == ["Node does not exist: /zc-missing"] and r["rc"] != 0
    r = both(pair, zkcli, "create", "/zc-missing/child")
    assert r["stderr"] == ["Node does not exist: /zc-missing/child"]


def test_zkcli_special_nodes(pair):
    r = both(pair, zkcli, "get", "-s", "/zookeeper/config")
    assert "aclVersion = -1" in r["stdout"]


# ---- cli_mt (C client) scenarios --------------------------------------------------------


@pytest.fixture(scope="module")
def cli_mt_available():
    if not os.path.exists(CLI_MT):
        pytest.fail(f"cli_mt not found at {CLI_MT} (apt-get install zookeeper-bin, or set CLI_MT)")


def test_climt_crud(pair, cli_mt_available):
    r = both(
        pair,
        climt,
        [
            "create /cm",
            "create +s /cm/s",
            "create +s /cm/s",
            "create +e /cm/e",
            "create2 /cm/c2",
            "set /cm hello",
            "get /cm",
            "ls /cm",
            "ls2 /cm",
            "exists /cm",
            "exists /cm-missing",
            "get /cm-missing",
            "delete /cm",
            "create /cm",
            "delete /cm/e",
            "sync /cm",
        ],
    )
    out = r["out"]
    assert "[/cm/s]: rc = 0" in out
    assert "\tname = /cm/s0000000001" in out
    assert "/cm: rc = -111" in out
    assert "[/cm]: rc = -110" in out
    assert "Error -101 for /cm-missing" in out
    assert "hello" in out


def test_climt_special_modes_and_watches(pair, cli_mt_available):
    r = both(
        pair,
        climt,
        [
            "create +c /cm-ctr",
            "create +t=600000 /cm-ttl",
            "create +e /cm-eph",
            "create /cm-eph/child",
            "wexists /cm-w",
            "create /cm-w",
            "ls /cm-w",
            "create /cm-w/k",
            "config",
        ],
    )
    out = r["out"]
    assert "Creating [/cm-ctr] node (mode: 4)" in out
    assert "Creating [/cm-ttl] node (mode: 5)" in out
    assert "[/cm-eph/child]: rc = -108" in out
    assert "\tversion=0\taversion=ffffffff" in out
    assert r["events"] == [
        "Watcher CHILD_EVENT state = CONNECTED_STATE for path /cm-w",
        "Watcher CREATED_EVENT state = CONNECTED_STATE for path /cm-w",
    ]


def test_climt_auth(pair, cli_mt_available):
    both(pair, zkcli, stdin_cmds=["create /cm-acl x", f"setAcl /cm-acl digest:{DIGEST_U_P}:cdrwa"])
    r = both(pair, climt, ["get /cm-acl", "addauth digest u:p", "get /cm-acl", "delete /cm-acl"])
    out = r["out"]
    assert "/cm-acl: rc = -102" in out
    assert "/cm-acl: rc = 0" in out
