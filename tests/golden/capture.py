#!/usr/bin/env python3
"""Capture golden wire fixtures from a real Apache ZooKeeper 3.8 standalone server.

Starts ZooKeeperServerMain (Debian `zookeeper` package jars) on a free 127.0.0.1 port
with a throw-away dataDir, talks the jute client protocol to it over raw sockets, and
writes every request / response frame (hex, including the 4-byte length prefix) to
tests/golden/zk38.txt.  See tests/golden/README.md for the file format.

Standard library only.  Usage:

    python3 tests/golden/capture.py [--out PATH] [--keep-tmp]
    python3 tests/golden/capture.py --server HOST:PORT [--out PATH] [--compare tests/golden/zk38.txt]

With --server the scenario runs against an already running server (nothing is started and
zk38.txt is not written); --compare prints the blocks that differ from a golden capture.
Importable: run_scenario(), parse_capture()/load_capture()/to_parsed(), compare_block(),
compare_captures(), zxid_deltas() (used by tests/compat/test_golden.py).

Environment overrides: JAVA (java binary), ZK_CLASSPATH (full classpath),
ZK_JAR_DIRS (colon-separated extra dirs whose *.jar are appended).
"""

import argparse
import base64
import glob
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------------------
# jute encoding
# --------------------------------------------------------------------------------------


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def boolean(v):
    return b"\x01" if v else b"\x00"


def buf(b):
    return i32(-1) if b is None else i32(len(b)) + b


def ustr(s):
    return i32(-1) if s is None else buf(s.encode("utf-8"))


def vec(items, enc):
    return i32(len(items)) + b"".join(enc(x) for x in items)


def acl(perms, scheme, ident):
    return i32(perms) + ustr(scheme) + ustr(ident)


def acls(entries):
    return vec(entries, lambda e: acl(*e))


WORLD_ALL = [(31, "world", "anyone")]


def frame(payload):
    return i32(len(payload)) + payload


def request(xid, op, body=b""):
    return frame(i32(xid) + i32(op) + body)


def create_req(path, data, flags, acl_list=WORLD_ALL):
    return ustr(path) + buf(data) + acls(acl_list) + i32(flags)


def create_ttl_req(path, data, flags, ttl, acl_list=WORLD_ALL):
    return create_req(path, data, flags, acl_list) + i64(ttl)


def path_watch(path, watch):
    return ustr(path) + boolean(watch)


def multi_hdr(op, done, err):
    return i32(op) + boolean(done) + i32(err)


def multi(ops):
    out = b""
    for op, body in ops:
        out += multi_hdr(op, False, -1) + body
    return out + multi_hdr(-1, True, -1)


def connect_req(last_zxid=0, timeout=30000, session_id=0, passwd=b"\x00" * 16, read_only=False):
    body = i32(0) + i64(last_zxid) + i32(timeout) + i64(session_id) + buf(passwd)
    if read_only is not None:
        body += boolean(read_only)
    return frame(body)


# opcodes
CREATE, DELETE, EXISTS, GETDATA, SETDATA, GETACL, SETACL, GETCHILDREN, SYNC = 1, 2, 3, 4, 5, 6, 7, 8, 9
PING, GETCHILDREN2, CHECK, MULTI, CREATE2, CHECKWATCHES, REMOVEWATCHES = 11, 12, 13, 14, 15, 17, 18
CREATECONTAINER, CREATETTL, MULTIREAD = 19, 21, 22
AUTH, SETWATCHES, GETEPHEMERALS, GETALLCHILDRENNUMBER, SETWATCHES2, ADDWATCH, WHOAMI = (
    100, 101, 103, 104, 105, 106, 107)
CLOSESESSION = -11

# --------------------------------------------------------------------------------------
# jute decoding (for the `# decode:` / `# vary:` annotations)
# --------------------------------------------------------------------------------------


class R:
    """Walks a frame (offsets include the 4-byte length prefix) and records variable fields."""

    def __init__(self, data):
        self.b = data
        self.o = 4
        self.vary = []
        self.fields = []  # every field read: (name, start, end, kind)

    def _take(self, n, name, var, kind="bytes"):
        if self.o + n > len(self.b):
            raise ValueError("short frame reading %s" % name)
        start = self.o
        self.o += n
        if var:
            self.vary.append((name, start, self.o))
        self.fields.append((name, start, self.o, kind))
        return self.b[start:self.o]

    def int(self, name, var=False):
        return struct.unpack(">i", self._take(4, name, var, "int"))[0]

    def long(self, name, var=False):
        return struct.unpack(">q", self._take(8, name, var, "long"))[0]

    def bool(self, name):
        return self._take(1, name, False, "bool")[0]

    def buf(self, name, var=False):
        n = self.int(name + ".len")
        if n < 0:
            return None
        return self._take(n, name, var)

    def ustr(self, name):
        v = self.buf(name)
        return None if v is None else v.decode("utf-8", "replace")

    def stat(self, p="stat"):
        s = {}
        s["czxid"] = self.long(p + ".czxid", True)
        s["mzxid"] = self.long(p + ".mzxid", True)
        s["ctime"] = self.long(p + ".ctime", True)
        s["mtime"] = self.long(p + ".mtime", True)
        s["version"] = self.int(p + ".version")
        s["cversion"] = self.int(p + ".cversion")
        s["aversion"] = self.int(p + ".aversion")
        start = self.o
        owner = self.long(p + ".ephemeralOwner")
        if owner != 0:
            self.vary.append((p + ".ephemeralOwner", start, self.o))
        s["ephemeralOwner"] = owner
        s["dataLength"] = self.int(p + ".dataLength")
        s["numChildren"] = self.int(p + ".numChildren")
        s["pzxid"] = self.long(p + ".pzxid", True)
        return ("Stat{czxid=%#x mzxid=%#x ctime=%d mtime=%d version=%d cversion=%d aversion=%d "
                "ephemeralOwner=%#x dataLength=%d numChildren=%d pzxid=%#x}" % (
                    s["czxid"], s["mzxid"], s["ctime"], s["mtime"], s["version"], s["cversion"],
                    s["aversion"], s["ephemeralOwner"] & 0xFFFFFFFFFFFFFFFF, s["dataLength"],
                    s["numChildren"], s["pzxid"]))

    def rest(self):
        return len(self.b) - self.o


def show_bytes(b):
    if b is None:
        return "null"
    try:
        s = b.decode("ascii")
        if all(32 <= ord(c) < 127 for c in s):
            return '"%s"' % s
    except UnicodeDecodeError:
        pass
    return "0x" + b.hex()


def d_path(r):
    return 'path="%s"' % r.ustr("path")


def d_path_stat(r):
    return 'path="%s" %s' % (r.ustr("path"), r.stat())


def d_stat(r):
    return r.stat()


def d_getdata(r):
    data = r.buf("data")
    return "data=%s %s" % (show_bytes(data), r.stat())


def d_children(r):
    n = r.int("children.count")
    names = [r.ustr("child") for _ in range(max(n, 0))]
    return "children(%d)=%s" % (n, names)


def d_children2(r):
    return d_children(r) + " " + r.stat()


def d_acl(r):
    n = r.int("acl.count")
    items = []
    for _ in range(max(n, 0)):
        perms = r.int("perms")
        items.append("%d:%s:%s" % (perms, r.ustr("scheme"), r.ustr("id")))
    return "acl(%d)=%s %s" % (n, items, r.stat())


def d_int(r):
    return "int=%d" % r.int("value")


def d_whoami(r):
    n = r.int("clientInfo.count")
    items = []
    for _ in range(max(n, 0)):
        items.append("%s:%s" % (r.ustr("authScheme"), r.ustr("user")))
    return "clientInfo(%d)=%s" % (n, items)


def d_multi(r):
    parts = []
    while True:
        t = r.int("mh.type")
        done = r.bool("mh.done")
        err = r.int("mh.err")
        if done:
            parts.append("END{type=%d done=%d err=%d}" % (t, done, err))
            break
        if t == CREATE:
            body = d_path(r)
        elif t in (CREATE2, CREATECONTAINER, CREATETTL):
            body = d_path_stat(r)
        elif t in (DELETE, CHECK):
            body = ""
        elif t == SETDATA:
            body = r.stat()
        elif t == GETCHILDREN:
            body = d_children(r)
        elif t == GETDATA:
            body = d_getdata(r)
        elif t == -1:
            body = "ErrorResult{err=%d}" % r.int("errorResult.err")
        else:
            body = "?"
        parts.append("{type=%d done=%d err=%d %s}" % (t, done, err, body))
    return "MultiResponse[" + ", ".join(parts) + "]"


def d_event(r):
    et = r.int("event.type")
    st = r.int("event.state")
    return 'WatcherEvent{type=%d(%s) state=%d path="%s"}' % (
        et, EVENT_NAMES.get(et, "?"), st, r.ustr("event.path"))


EVENT_NAMES = {1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged", 4: "NodeChildrenChanged"}


def decode_reply_r(data, body_decoder, expect_xid, zxid_fixed=False):
    """Like decode_reply, but returns (text, R, xid); R.fields names every byte range read.

    Never raises on a malformed frame (a server under test may send one): the text then says
    "DECODE ERROR" and the variable ranges found up to that point are kept."""
    r = R(data)
    xid = None
    text = ""
    try:
        xid = r.int("xid")
        start = r.o
        zxid = r.long("zxid")
        end = r.o
        err = r.int("err")
        # notifications carry zxid -1 in 3.8 and auth replies zxid 0: those are fixed
        if xid not in (-1, -4) and not zxid_fixed:
            r.vary.append(("zxid", start, end))
        text = "ReplyHeader{xid=%d zxid=%#x err=%d}" % (xid, zxid & 0xFFFFFFFFFFFFFFFF, err)
        if xid == -1:
            text += " " + d_event(r)
        elif err == 0 and xid == expect_xid and body_decoder is not None:
            text += " " + body_decoder(r) if r.rest() > 0 else " (no body)"
    except (ValueError, struct.error) as e:
        text += " DECODE ERROR (%s)" % e
    if r.rest() > 0:
        text += " +%d more bytes: %s" % (r.rest(), data[r.o:].hex())
    return text, r, xid


def decode_reply(data, body_decoder, expect_xid, zxid_fixed=False):
    text, r, xid = decode_reply_r(data, body_decoder, expect_xid, zxid_fixed)
    return text, r.vary, xid


def decode_connect_resp_r(data):
    """Returns (text, R); never raises on a malformed frame (see decode_reply_r)."""
    r = R(data)
    text = "ConnectResponse{"
    try:
        proto = r.int("protocolVersion")
        timeout = r.int("timeOut")
        sid_start = r.o
        sid = r.long("sessionId")
        pw = r.buf("passwd")
        if sid != 0:
            r.vary.append(("sessionId", sid_start, sid_start + 8))
        if pw and any(pw):
            r.vary.append(("passwd", sid_start + 12, sid_start + 12 + len(pw)))
        text += "protocolVersion=%d timeOut=%d sessionId=%#x passwd=%s" % (
            proto, timeout, sid & 0xFFFFFFFFFFFFFFFF, pw.hex() if pw is not None else "null")
        if r.rest() >= 1:
            text += " readOnly=%d" % r.bool("readOnly")
        text += "}"
    except (ValueError, struct.error) as e:
        text += " DECODE ERROR (%s)" % e
    if r.rest() > 0:
        text += " +%d more bytes" % r.rest()
    return text, r


def decode_connect_resp(data):
    text, r = decode_connect_resp_r(data)
    return text, r.vary


# Variable fields of a ConnectRequest frame that carries a live session id (and its password).
REQ_VARY_SESSION = [("sessionId", 20, 28), ("passwd", 32, 48)]
REQ_VARY_SESSION_ID = [("sessionId", 20, 28)]


# --------------------------------------------------------------------------------------
# server management
# --------------------------------------------------------------------------------------


def find_java():
    if os.environ.get("JAVA"):
        return os.environ["JAVA"]
    if os.environ.get("JAVA_HOME"):
        cand = os.path.join(os.environ["JAVA_HOME"], "bin", "java")
        if os.path.exists(cand):
            return cand
    j = shutil.which("java")
    if not j:
        sys.exit("capture.py: no java found (install the Debian zookeeper package or set JAVA)")
    return j


def find_classpath():
    if os.environ.get("ZK_CLASSPATH"):
        return os.environ["ZK_CLASSPATH"]
    jars = []
    # Debian layout: /usr/share/java/zookeeper.jar whose manifest Class-Path pulls in the deps.
    for name in ("zookeeper.jar", "zookeeper-jute.jar"):
        p = os.path.join("/usr/share/java", name)
        if os.path.exists(p):
            jars.append(p)
    # Tarball-like layouts (lib/*.jar) and extra dirs.
    dirs = ["/usr/share/zookeeper", "/usr/share/zookeeper/lib"]
    dirs += [d for d in os.environ.get("ZK_JAR_DIRS", "").split(":") if d]
    for d in dirs:
        for p in sorted(glob.glob(os.path.join(d, "*.jar"))):
            if p not in jars:
                jars.append(p)
    if not any("zookeeper" in os.path.basename(j) for j in jars):
        sys.exit("capture.py: no zookeeper jar found in /usr/share/java or /usr/share/zookeeper")
    # A logging backend so that the server log (kept in the temp dir) is readable.
    if not any("slf4j-simple" in j or "slf4j-log4j" in j or "logback" in j for j in jars):
        p = "/usr/share/java/slf4j-simple.jar"
        if os.path.exists(p):
            jars.append(p)
    return ":".join(jars)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def four_letter(port, word, timeout=5.0, host="127.0.0.1"):
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(word.encode("ascii"))
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


class Server:
    def __init__(self, keep_tmp=False):
        self.keep_tmp = keep_tmp
        self.tmp = tempfile.mkdtemp(prefix="zk38-golden-")
        self.port = free_port()
        self.proc = None
        self.log_path = os.path.join(self.tmp, "server.log")

    def start(self):
        data_dir = os.path.join(self.tmp, "data")
        os.makedirs(data_dir)
        cfg = os.path.join(self.tmp, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write("tickTime=2000\n")
            f.write("clientPort=%d\n" % self.port)
            f.write("clientPortAddress=127.0.0.1\n")
            f.write("dataDir=%s\n" % data_dir)
            f.write("4lw.commands.whitelist=*\n")
            f.write("extendedTypesEnabled=true\n")
            f.write("admin.enableServer=false\n")
        java = find_java()
        cp = find_classpath()
        cmd = [java, "-Xmx256m", "-Djava.net.preferIPv4Stack=true",
               "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
               "-Dorg.slf4j.simpleLogger.showDateTime=true",
               "-cp", cp, "org.apache.zookeeper.server.ZooKeeperServerMain", cfg]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                sys.exit("capture.py: ZooKeeper exited early; log:\n" + open(self.log_path).read())
            try:
                if four_letter(self.port, "ruok", timeout=1.0) == b"imok":
                    # also wait until it actually serves requests
                    if b"Mode:" in four_letter(self.port, "srvr", timeout=1.0):
                        return
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        sys.exit("capture.py: ZooKeeper did not come up; log in " + self.log_path)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.log.close()
        if not self.keep_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------
# connections and recording
# --------------------------------------------------------------------------------------


class Closed(Exception):
    pass


class Conn:
    def __init__(self, port, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=5.0)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rbuf = b""
        self.xid = 0
        self.eof = False
        self.session_id = 0
        self.passwd = b""
        self.partial = b""  # bytes of a frame the server closed the connection in the middle of

    def next_xid(self):
        self.xid += 1
        return self.xid

    def send(self, data):
        self.sock.sendall(data)

    def read_frame(self, timeout):
        """Return a frame (with its length prefix), None on timeout; raises Closed on EOF."""
        deadline = time.time() + timeout
        while True:
            if len(self.rbuf) >= 4:
                n = struct.unpack(">i", self.rbuf[:4])[0]
                if len(self.rbuf) >= 4 + n:
                    f = self.rbuf[:4 + n]
                    self.rbuf = self.rbuf[4 + n:]
                    return f
            if self.eof:
                raise Closed()
            left = deadline - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                self.eof = True
                if self.rbuf:
                    # EOF inside a frame: keep the bytes for the record (Capture._closed)
                    self.partial, self.rbuf = self.rbuf, b""
            self.rbuf += chunk

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Block:
    def __init__(self, name, kind="jute"):
        self.name = name
        self.kind = kind
        self.notes = []
        self.lines = []  # (dir, payload-string, vary list, decode string, text lines)
        self.closed = False

    def note(self, text):
        self.notes.append(text)
        return self

    def add(self, direction, data, vary=None, decode=None, text_lines=None, raw=False):
        self.lines.append((direction, data, vary or [], decode, text_lines, raw))

    def render(self):
        out = ["# name: " + self.name, "# kind: " + self.kind]
        for n in self.notes:
            out.append("# note: " + n)
        out.append("# closed: " + ("yes" if self.closed else "no"))
        for direction, data, vary, decode, text_lines, raw in self.lines:
            out.append("%s %s" % (direction, data.decode("ascii") if raw else data.hex()))
            if vary:
                out.append("# vary: " + " ".join("%s@%d..%d" % v for v in vary))
            if decode:
                out.append("# decode: " + decode)
            if text_lines is not None:
                for t in text_lines:
                    out.append("# text: " + t)
        return "\n".join(out) + "\n"


class ScenarioTimeout(Exception):
    pass


class Capture:
    def __init__(self, port, host="127.0.0.1", deadline=None):
        self.host = host
        self.port = port
        self.blocks = []
        self.log = []
        self.deadline = deadline  # time.time() value after which the scenario is aborted

    def _check_deadline(self):
        if self.deadline is not None and time.time() > self.deadline:
            raise ScenarioTimeout("scenario time budget exhausted")

    def conn(self):
        return Conn(self.port, self.host)

    # ---- handshakes --------------------------------------------------------------

    def connect(self, c, name=None, note=None, expect_reply=True, record=True, req_vary=None, **kw):
        self._check_deadline()
        data = connect_req(**kw)
        b = Block(name or "connect")
        if note:
            b.note(note)
        b.add(">", data, vary=req_vary,
              decode="ConnectRequest{lastZxidSeen=%#x timeOut=%d sessionId=%#x readOnly=%s} body=%d bytes"
              % (kw.get("last_zxid", 0), kw.get("timeout", 30000), kw.get("session_id", 0),
                 kw.get("read_only", False), len(data) - 4))
        try:
            c.send(data)
        except OSError:
            b.note("sending failed: the connection was already closed by the server")
        resp = None
        try:
            resp = c.read_frame(5.0 if expect_reply else 3.0)
        except Closed:
            self._closed(c, b)
        if resp is not None:
            text, vary = decode_connect_resp(resp)
            b.add("<", resp, vary=vary, decode=text)
            r = R(resp)
            try:
                r.int("p")
                r.int("t")
                c.session_id = r.long("s")
                c.passwd = r.buf("pw") or b""
            except ValueError:
                c.session_id, c.passwd = 0, b""
        self._drain(c, b, 3.0 if not expect_reply or (resp is not None and c.session_id == 0) else 0.1)
        if record:
            self.blocks.append(b)
        return b

    def close_quietly(self, c):
        """closeSession(-11) that is not recorded, then close the socket."""
        self.exchange(c, "unrecorded", None, c.next_xid(), CLOSESESSION, record=False, expect_close=True)
        c.close()

    def new_session(self, timeout=30000):
        c = self.conn()
        self.connect(c, record=False, timeout=timeout)
        if c.session_id == 0:
            raise RuntimeError("could not open a session (the handshake gave no session id)")
        return c

    # ---- generic exchange ------------------------------------------------------

    @staticmethod
    def _closed(c, b):
        """The server closed connection c during block b (record an incomplete last frame)."""
        b.closed = True
        if c.partial:
            b.add("<", c.partial, decode="INCOMPLETE FRAME: the server closed the connection inside it")
            c.partial = b""

    def _drain(self, c, b, linger):
        if b.closed:
            return
        deadline = time.time() + linger
        while True:
            left = deadline - time.time()
            if left <= 0:
                return
            try:
                f = c.read_frame(left)
            except Closed:
                self._closed(c, b)
                return
            if f is None:
                return
            text, vary, _ = decode_reply(f, None, None)
            b.add("<", f, vary=vary, decode=text + " (arrived after the reply)")

    def exchange(self, c, name, note, xid, op, body=b"", decoder=None, expect_close=False,
                 req_vary=None, record=True, linger=0.1, zxid_fixed=False, no_reply_note=None):
        self._check_deadline()
        data = request(xid, op, body)
        b = Block(name)
        if note:
            b.note(note)
        b.add(">", data, vary=req_vary, decode="RequestHeader{xid=%d type=%d} + %d body bytes"
              % (xid, op, len(body)))
        try:
            c.send(data)
        except OSError:
            b.note("sending failed: the connection was already closed by the server")
        got_reply = False
        deadline = time.time() + 5.0
        while not got_reply:
            try:
                f = c.read_frame(max(0.0, deadline - time.time()))
            except Closed:
                self._closed(c, b)
                break
            if f is None:
                b.note(no_reply_note or "NO REPLY within 5 s")
                break
            text, vary, fxid = decode_reply(f, decoder, xid, zxid_fixed)
            b.add("<", f, vary=vary, decode=text)
            if fxid == xid:
                got_reply = True
        self._drain(c, b, 3.0 if expect_close else linger)
        if expect_close and not b.closed:
            b.note("server did NOT close the connection within 3 s")
        if record:
            self.blocks.append(b)
        return b

    def op(self, c, name, note, op, body=b"", decoder=None, **kw):
        return self.exchange(c, name, note, c.next_xid(), op, body, decoder, **kw)

    def notifications(self, c, name, note, linger=0.5):
        """A block with only `<` lines: frames that arrived unsolicited on connection c."""
        b = Block(name)
        b.note(note)
        self._drain(c, b, linger)
        self.blocks.append(b)
        return b

    def fourletter(self, word, note=None):
        out = four_letter(self.port, word, host=self.host)
        b = Block("4lw_" + word, kind="4lw")
        b.note(note or "four-letter word; the whole output is one `<` line (the server writes text, "
                       "then closes); most content (counts, latencies, ids, paths, times) is variable")
        b.closed = True
        text = out.decode("utf-8", "replace")
        lines = text.split("\n")
        if text.endswith("\n"):
            lines = lines[:-1]
            b.note("output ends with a newline (%d bytes)" % len(out))
        else:
            b.note("output does NOT end with a newline (%d bytes)" % len(out))
        b.add(">", word.encode("ascii"), raw=True)
        b.add("<", out, text_lines=[l.replace("\t", "\\t") for l in lines])
        self.blocks.append(b)
        return out

    def write(self, path, header):
        with open(path, "w") as f:
            f.write(header)
            for b in self.blocks:
                f.write("\n")
                f.write(b.render())


# --------------------------------------------------------------------------------------
# the scenario
# --------------------------------------------------------------------------------------

DIGEST_USER = "golden"
DIGEST_PASS = "secret"
DIGEST_ID = DIGEST_USER + ":" + base64.b64encode(
    hashlib.sha1((DIGEST_USER + ":" + DIGEST_PASS).encode()).digest()).decode()


def run(cap):
    HDR = "offsets in `# vary:` are byte ranges of the full frame (length prefix included)"

    # ---- session A: handshake variants ------------------------------------------
    a = cap.conn()
    cap.connect(a, "connect_new_session",
                "new session: 45-byte body (protocolVersion 0, lastZxidSeen 0, timeOut 30000, sessionId 0, "
                "passwd 16x00, readOnly 0); reply has 37-byte body incl. trailing readOnly byte; "
                "session id / password are variable", timeout=30000)

    old = cap.conn()
    cap.connect(old, "connect_old_client_no_readonly",
                "\"old client\" ConnectRequest: 44-byte body without the trailing readOnly byte; "
                "server answers with a 36-byte body (no readOnly byte)", timeout=30000, read_only=None)
    cap.close_quietly(old)

    lo = cap.conn()
    cap.connect(lo, "connect_timeout_clamped_low",
                "requested timeOut 1000 < minSessionTimeout (2*tickTime = 4000): negotiated 4000",
                timeout=1000)
    cap.close_quietly(lo)
    hi = cap.conn()
    cap.connect(hi, "connect_timeout_clamped_high",
                "requested timeOut 100000 > maxSessionTimeout (20*tickTime = 40000): negotiated 40000",
                timeout=100000)
    cap.close_quietly(hi)

    cap.exchange(a, "ping", "ping: xid -2, type 11, no body; reply is a bare ReplyHeader with the "
                 "server's last zxid", -2, PING)

    # ---- creates -----------------------------------------------------------------
    cap.op(a, "create_persistent", "create(1) /golden data \"golden\" acl [31 world:anyone] flags 0 "
           "-> CreateResponse(path)", CREATE, create_req("/golden", b"golden", 0), d_path)
    cap.op(a, "create2_persistent", "create2(15) /golden/c2 data \"c2\" flags 0 -> Create2Response(path, stat)",
           CREATE2, create_req("/golden/c2", b"c2", 0), d_path_stat)
    cap.op(a, "create_null_data", "create(1) /golden/nulldata with data buffer length -1 (null)",
           CREATE, create_req("/golden/nulldata", None, 0), d_path)
    cap.op(a, "create2_ephemeral", "create2(15) /golden/eph flags 1 (EPHEMERAL): stat.ephemeralOwner = "
           "this session id", CREATE2, create_req("/golden/eph", b"eph", 1), d_path_stat)
    cap.op(a, "create_sequential", "create(1) /golden/seq- flags 2 (PERSISTENT_SEQUENTIAL): suffix is "
           "%010d of the parent's child-creation counter before this create (3 children created so far)",
           CREATE, create_req("/golden/seq-", b"seq", 2), d_path)
    cap.op(a, "create2_ephemeral_sequential", "create2(15) /golden/eseq- flags 3 (EPHEMERAL_SEQUENTIAL)",
           CREATE2, create_req("/golden/eseq-", b"", 3), d_path_stat)
    cap.op(a, "create_container", "createContainer(19) /golden/container, empty (length 0) data, flags 4; "
           "reply is Create2Response; ephemeralOwner shows 0",
           CREATECONTAINER, create_req("/golden/container", b"", 4), d_path_stat)
    cap.op(a, "create_ttl", "createTTL(21) /golden/ttl flags 5 (PERSISTENT_WITH_TTL) ttl 3600000 ms; "
           "reply is Create2Response; ephemeralOwner shows 0",
           CREATETTL, create_ttl_req("/golden/ttl", b"ttl", 5, 3600000), d_path_stat)
    cap.op(a, "create_ttl_zero", "createTTL(21) /golden/ttl0 flags 5 with ttl 0 (out of range)",
           CREATETTL, create_ttl_req("/golden/ttl0", b"", 5, 0), d_path_stat)
    cap.op(a, "create_invalid_path_trailing_slash", "create(1) \"/golden/\" (trailing slash, not sequential; "
           "parent /golden exists) -> BadArguments (-8)", CREATE, create_req("/golden/", b"", 0), d_path)
    cap.op(a, "create_invalid_path_missing_parent", "create(1) \"/golden/bad/\" (trailing slash; its 'parent' "
           "/golden/bad does not exist): 3.8 looks the parent up BEFORE validating the path -> NoNode (-101), "
           "not BadArguments", CREATE, create_req("/golden/bad/", b"", 0), d_path)
    cap.op(a, "create_invalid_path_dot", "create(1) \"/golden/./x\" ('.' segment; parent \"/golden/.\" missing)",
           CREATE, create_req("/golden/./x", b"", 0), d_path)
    cap.op(a, "create_invalid_path_dot_last", "create(1) \"/golden/.\" ('.' as last segment, parent exists)",
           CREATE, create_req("/golden/.", b"", 0), d_path)
    cap.op(a, "create_invalid_path_relative", "create(1) \"golden\" (no leading slash)",
           CREATE, create_req("golden", b"", 0), d_path)
    cap.op(a, "create_invalid_flags", "create(1) /golden/flags7 with flags 7 (no such CreateMode)",
           CREATE, create_req("/golden/flags7", b"", 7), d_path)
    cap.op(a, "create_node_exists", "create(1) /golden again -> NodeExists (-110), bare header",
           CREATE, create_req("/golden", b"again", 0), d_path)
    cap.op(a, "create_no_parent", "create(1) /golden/missing/child -> NoNode (-101), bare header",
           CREATE, create_req("/golden/missing/child", b"", 0), d_path)
    cap.op(a, "create_empty_acl", "create(1) /golden/noacl with an empty ACL vector",
           CREATE, create_req("/golden/noacl", b"", 0, acl_list=[]), d_path)

    # ---- exists / watches ----------------------------------------------------------
    cap.op(a, "exists_existing", "exists(3) /golden watch=false -> Stat", EXISTS,
           path_watch("/golden", False), d_stat)
    cap.op(a, "exists_missing_watch", "exists(3) /golden/watched watch=true on a missing node -> NoNode "
           "(-101) bare header; the exist watch IS registered", EXISTS, path_watch("/golden/watched", True), d_stat)
    cap.op(a, "create_fires_nodecreated", "create(1) /golden/watched on the connection holding the exist "
           "watch: the notification (xid -1, zxid -1, NodeCreated, state 3) arrives BEFORE the create reply",
           CREATE, create_req("/golden/watched", b"w0", 0), d_path)

    # ---- getData / setData ---------------------------------------------------------
    cap.op(a, "getdata", "getData(4) /golden watch=false", GETDATA, path_watch("/golden", False), d_getdata)
    cap.op(a, "getdata_null_data", "getData(4) /golden/nulldata: node created with null data -> data "
           "buffer length -1, dataLength 0", GETDATA, path_watch("/golden/nulldata", False), d_getdata)
    cap.op(a, "getdata_empty_data", "getData(4) /golden/container: node created with empty (length 0) data",
           GETDATA, path_watch("/golden/container", False), d_getdata)
    cap.op(a, "getdata_missing", "getData(4) /golden/nope -> NoNode", GETDATA,
           path_watch("/golden/nope", False), d_getdata)
    cap.op(a, "setdata_ok", "setData(5) /golden \"golden-v1\" version 0 -> Stat (version 1)", SETDATA,
           ustr("/golden") + buf(b"golden-v1") + i32(0), d_stat)
    cap.op(a, "setdata_bad_version", "setData(5) /golden \"x\" version 5 -> BadVersion (-103)", SETDATA,
           ustr("/golden") + buf(b"x") + i32(5), d_stat)
    cap.op(a, "setdata_missing", "setData(5) /golden/nope version -1 -> NoNode", SETDATA,
           ustr("/golden/nope") + buf(b"x") + i32(-1), d_stat)
    cap.op(a, "getdata_watch", "getData(4) /golden/watched watch=true (sets a data watch)", GETDATA,
           path_watch("/golden/watched", True), d_getdata)
    cap.op(a, "setdata_fires_nodedatachanged", "setData(5) /golden/watched version -1: NodeDataChanged "
           "notification then the reply", SETDATA, ustr("/golden/watched") + buf(b"w1") + i32(-1), d_stat)

    # ---- children ------------------------------------------------------------------
    cap.op(a, "getchildren", "getChildren(8) /golden watch=false; child ORDER is Java HashSet order "
           "(unspecified) - compare as a set", GETCHILDREN, path_watch("/golden", False), d_children)
    cap.op(a, "getchildren2", "getChildren2(12) /golden watch=false -> children + Stat (children order "
           "unspecified)", GETCHILDREN2, path_watch("/golden", False), d_children2)
    cap.op(a, "getchildren_watch", "getChildren(8) /golden/watched watch=true (no children yet)",
           GETCHILDREN, path_watch("/golden/watched", True), d_children)
    cap.op(a, "create_fires_nodechildrenchanged", "create(1) /golden/watched/kid: NodeChildrenChanged on "
           "/golden/watched then the reply", CREATE, create_req("/golden/watched/kid", b"", 0), d_path)
    cap.op(a, "exists_watch_existing", "exists(3) /golden/watched/kid watch=true -> Stat",
           EXISTS, path_watch("/golden/watched/kid", True), d_stat)
    cap.op(a, "delete_fires_nodedeleted", "delete(2) /golden/watched/kid: NodeDeleted then the bare reply",
           DELETE, ustr("/golden/watched/kid") + i32(-1))

    cap.op(a, "getdata_missing_watch", "getData(4) /golden/late watch=true on a missing node -> NoNode; "
           "unlike exists, NO watch is left behind", GETDATA, path_watch("/golden/late", True), d_getdata)
    cap.op(a, "create_after_getdata_missing_watch_silent", "create /golden/late -> no notification (the getData "
           "watch was not registered)", CREATE, create_req("/golden/late", b"", 0), d_path)
    cap.op(a, "exists_watch_dup", "exists(3) /golden/late watch=true", EXISTS, path_watch("/golden/late", True), d_stat)
    cap.op(a, "getdata_watch_dup", "getData(4) /golden/late watch=true (same connection, same path, same table)",
           GETDATA, path_watch("/golden/late", True), d_getdata)
    cap.op(a, "setdata_fires_once", "setData /golden/late: exactly ONE NodeDataChanged although both exists and "
           "getData set a watch", SETDATA, ustr("/golden/late") + buf(b"l1") + i32(-1), d_stat)
    cap.op(a, "addwatch_persistent_mode_collision", "addWatch(106) /golden/late mode 0 (PERSISTENT)", ADDWATCH,
           ustr("/golden/late") + i32(0), d_int)
    cap.op(a, "exists_watch_over_persistent", "exists(3) /golden/late watch=true on the same connection/path that "
           "holds the PERSISTENT watch (3.8: the standard mode overwrites the persistent one)", EXISTS,
           path_watch("/golden/late", True), d_stat)
    cap.op(a, "setdata_mode_collision_1", "setData /golden/late: NodeDataChanged", SETDATA,
           ustr("/golden/late") + buf(b"l2") + i32(-1), d_stat)
    cap.op(a, "setdata_mode_collision_2", "setData /golden/late again: NO event - in 3.8 the one-shot exists "
           "watch replaced the PERSISTENT mode for (connection, path) in the data table, and it has now fired "
           "(ZOOKEEPER-4466, fixed in 3.9)", SETDATA, ustr("/golden/late") + buf(b"l3") + i32(-1), d_stat)

    # ---- ACLs ------------------------------------------------------------------------
    cap.op(a, "getacl", "getACL(6) /golden -> [31 world:anyone] + Stat", GETACL, ustr("/golden"), d_acl)
    cap.op(a, "create_for_acl", "create(1) /golden/acl (world:anyone ALL)", CREATE,
           create_req("/golden/acl", b"acl", 0), d_path)
    new_acl = [(1, "world", "anyone"), (31, "digest", DIGEST_ID)]
    cap.op(a, "setacl_bad_version", "setACL(7) /golden/acl version 5 (aversion is 0) -> BadVersion (-103)",
           SETACL, ustr("/golden/acl") + acls(new_acl) + i32(5), d_stat)
    cap.op(a, "setacl", "setACL(7) /golden/acl [1 world:anyone, 31 digest:%s] version 0 -> Stat "
           "(aversion 1)" % DIGEST_ID, SETACL, ustr("/golden/acl") + acls(new_acl) + i32(0), d_stat)
    cap.op(a, "setacl_noauth", "setACL(7) /golden/acl version 5 again, now without ADMIN permission: the ACL "
           "check comes before the version check -> NoAuth (-102)", SETACL,
           ustr("/golden/acl") + acls(new_acl) + i32(5), d_stat)
    cap.op(a, "getacl_unauthenticated", "getACL(6) /golden/acl from an unauthenticated connection (has READ "
           "via world, not ADMIN): digest id masked?", GETACL, ustr("/golden/acl"), d_acl)
    cap.op(a, "setdata_noauth", "setData(5) /golden/acl without WRITE permission -> NoAuth (-102)", SETDATA,
           ustr("/golden/acl") + buf(b"x") + i32(-1), d_stat)

    # ---- delete / sync / check -----------------------------------------------------
    cap.op(a, "delete_ok", "delete(2) /golden/c2 version -1 -> bare header err 0", DELETE,
           ustr("/golden/c2") + i32(-1))
    cap.op(a, "delete_not_empty", "delete(2) /golden -> NotEmpty (-111)", DELETE, ustr("/golden") + i32(-1))
    cap.op(a, "delete_bad_version", "delete(2) /golden/nulldata version 7 -> BadVersion (-103)", DELETE,
           ustr("/golden/nulldata") + i32(7))
    cap.op(a, "delete_missing", "delete(2) /golden/nope -> NoNode (-101)", DELETE, ustr("/golden/nope") + i32(-1))
    cap.op(a, "delete_root", "delete(2) / -> ?", DELETE, ustr("/") + i32(-1))
    cap.op(a, "sync", "sync(9) /golden -> SyncResponse(path)", SYNC, ustr("/golden"), d_path)
    cap.op(a, "check_outside_multi", "check(13) /golden version 1 sent as a top-level request (documented as "
           "only valid inside multi)", CHECK, ustr("/golden") + i32(1), d_stat,
           no_reply_note="NO REPLY AT ALL (waited 5 s): the check is processed as a txn (it consumes a zxid), "
           "then FinalRequestProcessor serializes SetDataResponse(stat=null) and hits a NullPointerException "
           "(logged 'Unexpected exception. Destruction averted.'); the connection stays open and later requests "
           "are answered normally (the connection's outstanding count stays at 1: `cons` shows queued=1)")
    cap.op(a, "check_outside_multi_bad_version", "check(13) /golden version 9 top-level", CHECK,
           ustr("/golden") + i32(9), d_stat)

    # ---- multi ---------------------------------------------------------------------------
    cap.op(a, "multi_all_ok", "multi(14): create /golden/m1 \"m1\", setData /golden/m1 \"m1-v1\" v0, "
           "check /golden/m1 v1, delete /golden/m1 v1 -> results create(path) setData(stat) check() delete()",
           MULTI, multi([(CREATE, create_req("/golden/m1", b"m1", 0)),
                         (SETDATA, ustr("/golden/m1") + buf(b"m1-v1") + i32(0)),
                         (CHECK, ustr("/golden/m1") + i32(1)),
                         (DELETE, ustr("/golden/m1") + i32(1))]), d_multi)
    cap.op(a, "multi_second_fails", "multi(14): create /golden/m2 (ok), delete /golden/nope (NoNode), "
           "setData /golden -1 -> per-op results type -1 with err 0 / -101 / -2",
           MULTI, multi([(CREATE, create_req("/golden/m2", b"m2", 0)),
                         (DELETE, ustr("/golden/nope") + i32(-1)),
                         (SETDATA, ustr("/golden") + buf(b"never") + i32(-1))]), d_multi)
    cap.op(a, "multi_check_fails", "multi(14): check /golden version 9 (BadVersion) then create /golden/m3",
           MULTI, multi([(CHECK, ustr("/golden") + i32(9)),
                         (CREATE, create_req("/golden/m3", b"", 0))]), d_multi)
    cap.op(a, "multi_create2_container_ttl", "multi(14): create2 /golden/m4, createContainer /golden/m5, "
           "createTTL /golden/m6 ttl 3600000, then delete all three. NOTE the create2 sub-op result is type 1 "
           "(CreateResponse, path only), not 15; container/TTL results are type 15 (path + Stat)",
           MULTI, multi([(CREATE2, create_req("/golden/m4", b"", 0)),
                         (CREATECONTAINER, create_req("/golden/m5", b"", 4)),
                         (CREATETTL, create_ttl_req("/golden/m6", b"", 5, 3600000)),
                         (DELETE, ustr("/golden/m4") + i32(-1)),
                         (DELETE, ustr("/golden/m5") + i32(-1)),
                         (DELETE, ustr("/golden/m6") + i32(-1))]), d_multi)
    cap.op(a, "multi_create_kind_from_flags", "multi(14): create(1) /golden/m7 with flags 4 (CONTAINER), "
           "create2(15) /golden/m8 flags 0: the server rebuilds each sub-op from its flags (Op.create), so the "
           "container one answers type 15 + Stat and the create2 one answers type 1 (path only)",
           MULTI, multi([(CREATE, create_req("/golden/m7", b"", 4)),
                         (CREATE2, create_req("/golden/m8", b"", 0)),
                         (DELETE, ustr("/golden/m7") + i32(-1)),
                         (DELETE, ustr("/golden/m8") + i32(-1))]), d_multi)
    cap.op(a, "multi_empty", "multi(14) with no ops (terminator only)", MULTI, multi([]), d_multi)
    cap.op(a, "multiread", "multiRead(22): getData /golden, getChildren /golden/watched, getData /golden/missing "
           "(-> error result -101); children order unspecified",
           MULTIREAD, multi([(GETDATA, path_watch("/golden", False)),
                             (GETCHILDREN, path_watch("/golden/watched", False)),
                             (GETDATA, path_watch("/golden/missing", False))]), d_multi)

    # ---- 3.6+ extras --------------------------------------------------------------
    cap.op(a, "get_ephemerals_prefix", "getEphemerals(103) prefix \"/golden\" -> this session's ephemerals "
           "under it (order unspecified)", GETEPHEMERALS, ustr("/golden"), d_children)
    cap.op(a, "get_ephemerals_root", "getEphemerals(103) prefix \"/\"", GETEPHEMERALS, ustr("/"), d_children)
    cap.op(a, "get_all_children_number", "getAllChildrenNumber(104) /golden -> int (all descendants)",
           GETALLCHILDRENNUMBER, ustr("/golden"), d_int)
    cap.op(a, "get_all_children_number_missing", "getAllChildrenNumber(104) /golden/nope",
           GETALLCHILDRENNUMBER, ustr("/golden/nope"), d_int)

    # ---- addWatch persistent ---------------------------------------------------------
    cap.op(a, "addwatch_persistent", "addWatch(106) /golden/pw mode 0 (PERSISTENT); node does not exist yet",
           ADDWATCH, ustr("/golden/pw") + i32(0), d_int)
    cap.op(a, "persistent_create_fires", "create /golden/pw -> NodeCreated (persistent watch) then reply",
           CREATE, create_req("/golden/pw", b"", 0), d_path)
    cap.op(a, "persistent_setdata_fires", "setData /golden/pw -> NodeDataChanged then reply",
           SETDATA, ustr("/golden/pw") + buf(b"x") + i32(-1), d_stat)
    cap.op(a, "persistent_child_create_fires", "create /golden/pw/kid -> NodeChildrenChanged /golden/pw then reply",
           CREATE, create_req("/golden/pw/kid", b"", 0), d_path)
    cap.op(a, "persistent_grandchild_setdata_silent", "setData /golden/pw/kid -> no event (not recursive)",
           SETDATA, ustr("/golden/pw/kid") + buf(b"y") + i32(-1), d_stat)
    cap.op(a, "persistent_setdata_fires_again", "setData /golden/pw again -> still fires (not one-shot)",
           SETDATA, ustr("/golden/pw") + buf(b"z") + i32(-1), d_stat)

    cap.op(a, "addwatch_persistent_recursive", "addWatch(106) /golden/prw mode 1 (PERSISTENT_RECURSIVE)",
           ADDWATCH, ustr("/golden/prw") + i32(1), d_int)
    cap.op(a, "recursive_create_fires", "create /golden/prw -> NodeCreated", CREATE,
           create_req("/golden/prw", b"", 0), d_path)
    cap.op(a, "recursive_child_create_fires", "create /golden/prw/a -> NodeCreated /golden/prw/a (and no "
           "NodeChildrenChanged?)", CREATE, create_req("/golden/prw/a", b"", 0), d_path)
    cap.op(a, "recursive_child_setdata_fires", "setData /golden/prw/a -> NodeDataChanged", SETDATA,
           ustr("/golden/prw/a") + buf(b"a1") + i32(-1), d_stat)
    cap.op(a, "recursive_child_delete_fires", "delete /golden/prw/a -> NodeDeleted", DELETE,
           ustr("/golden/prw/a") + i32(-1))
    cap.op(a, "addwatch_bad_mode", "addWatch(106) /golden mode 7 (invalid)", ADDWATCH, ustr("/golden") + i32(7), d_int)

    # ---- checkWatches / removeWatches -----------------------------------------------------
    cap.op(a, "exists_set_data_watch", "exists(3) /golden watch=true (data watch on existing node)", EXISTS,
           path_watch("/golden", True), d_stat)
    cap.op(a, "checkwatches_data_present", "checkWatches(17) /golden type 2 (DATA) -> ok", CHECKWATCHES,
           ustr("/golden") + i32(2))
    cap.op(a, "checkwatches_children_absent", "checkWatches(17) /golden type 1 (CHILDREN) -> NoWatcher (-121)",
           CHECKWATCHES, ustr("/golden") + i32(1))
    cap.op(a, "checkwatches_any_present", "checkWatches(17) /golden type 3 (ANY)", CHECKWATCHES,
           ustr("/golden") + i32(3))
    cap.op(a, "removewatches_data_present", "removeWatches(18) /golden type 2 -> ok (no event is sent by the "
           "server)", REMOVEWATCHES, ustr("/golden") + i32(2))
    cap.op(a, "removewatches_data_absent", "removeWatches(18) /golden type 2 again -> NoWatcher (-121)",
           REMOVEWATCHES, ustr("/golden") + i32(2))
    cap.op(a, "checkwatches_missing_path", "checkWatches(17) /golden/nope type 3 -> NoWatcher",
           CHECKWATCHES, ustr("/golden/nope") + i32(3))
    cap.op(a, "checkwatches_persistent_any", "checkWatches(17) /golden/pw type 3 (ANY) where a PERSISTENT "
           "watch is registered", CHECKWATCHES, ustr("/golden/pw") + i32(3))
    cap.op(a, "checkwatches_persistent_data", "checkWatches(17) /golden/pw type 2 (DATA) on a persistent watch",
           CHECKWATCHES, ustr("/golden/pw") + i32(2))
    cap.op(a, "removewatches_persistent_any", "removeWatches(18) /golden/pw type 3 (ANY) removes the "
           "persistent watch", REMOVEWATCHES, ustr("/golden/pw") + i32(3))
    cap.op(a, "setdata_after_remove_silent", "setData /golden/pw after removal -> no notification",
           SETDATA, ustr("/golden/pw") + buf(b"q") + i32(-1), d_stat)
    cap.op(a, "checkwatches_bad_type", "checkWatches(17) /golden type 9 (invalid WatcherType)",
           CHECKWATCHES, ustr("/golden") + i32(9))

    cap.op(a, "whoami_anonymous", "whoAmI(107), no body, on an unauthenticated connection -> [ip:127.0.0.1]",
           WHOAMI, b"", d_whoami)

    # ---- auth --------------------------------------------------------------------------
    d = cap.new_session()
    cap.exchange(d, "auth_digest", "auth(100) xid -4: AuthPacket{type 0, scheme \"digest\", auth "
                 "\"golden:secret\"} -> bare header, zxid 0", -4, AUTH,
                 i32(0) + ustr("digest") + buf(b"golden:secret"))
    cap.op(d, "whoami_digest", "whoAmI(107) after digest auth (fresh connection, xid 1)", WHOAMI, b"", d_whoami)
    cap.op(d, "getacl_authenticated", "getACL(6) /golden/acl from the digest-authenticated connection (ADMIN)",
           GETACL, ustr("/golden/acl"), d_acl)
    cap.op(d, "setdata_authenticated", "setData(5) /golden/acl as golden -> ok", SETDATA,
           ustr("/golden/acl") + buf(b"acl-v1") + i32(-1), d_stat)
    cap.op(d, "create_auth_acl", "create(1) /golden/authacl with ACL [31 auth:\"\"] (expands to the "
           "caller's digest id)", CREATE, create_req("/golden/authacl", b"", 0, acl_list=[(31, "auth", "")]), d_path)
    cap.op(d, "getacl_auth_expanded", "getACL(6) /golden/authacl", GETACL, ustr("/golden/authacl"), d_acl)
    cap.op(a, "create_auth_acl_unauthenticated", "create(1) /golden/authacl2 with ACL [31 auth:\"\"] from an "
           "unauthenticated connection -> InvalidACL (-114)", CREATE,
           create_req("/golden/authacl2", b"", 0, acl_list=[(31, "auth", "")]), d_path)

    e = cap.new_session()
    cap.exchange(e, "auth_unknown_scheme", "auth(100) xid -4 with scheme \"nosuchscheme\" -> err -115 "
                 "(AuthFailed), then the server closes the connection", -4, AUTH,
                 i32(0) + ustr("nosuchscheme") + buf(b"whatever"), expect_close=True)
    e.close()

    f = cap.new_session()
    cap.op(f, "unknown_opcode", "request type 999 (unknown), no body -> ReplyHeader{xid, zxid -1, err -6 "
           "(Unimplemented)}, then the server closes the connection", 999, b"", expect_close=True, zxid_fixed=True)
    f.close()

    f2 = cap.new_session()
    cap.op(f2, "reconfig_standalone", "reconfig(16) with all-null strings and curConfigId -1 on a standalone "
           "server with reconfigEnabled=false (default) -> ReconfigDisabled (-123); it is an error txn (consumes "
           "a zxid)", 16, ustr(None) + ustr(None) + ustr(None) + i64(-1), d_getdata, expect_close=False)
    cap.close_quietly(f2)

    # ---- reconnect / setWatches --------------------------------------------------------
    c = cap.new_session()
    c.close()
    time.sleep(0.2)
    c2 = cap.conn()
    cap.connect(c2, "connect_resume_session",
                "reconnect on a new TCP connection with the session id + password from a previous handshake "
                "(lastZxidSeen 0, readOnly 0): same id/password come back. Request sessionId@20..28 and "
                "passwd@32..48 are variable", timeout=30000, session_id=c.session_id, passwd=c.passwd,
                req_vary=REQ_VARY_SESSION)
    cap.exchange(c2, "setwatches_on_reconnect",
                 "setWatches(101) xid -8 relativeZxid 1: data [/golden (mzxid>1 -> NodeDataChanged), "
                 "/golden/gone (missing -> NodeDeleted), /zookeeper (mzxid 0 -> registered)], exist [/golden "
                 "(exists -> NodeCreated), /golden/notyet (registered)], child [/golden (pzxid>1 -> "
                 "NodeChildrenChanged), /zookeeper (registered), /golden/gone2 (missing -> NodeDeleted)]; "
                 "catch-up notifications precede the xid -8 reply", -8, SETWATCHES,
                 i64(1) + vec(["/golden", "/golden/gone", "/zookeeper"], ustr)
                 + vec(["/golden", "/golden/notyet"], ustr)
                 + vec(["/golden", "/zookeeper", "/golden/gone2"], ustr), linger=0.3)
    cap.exchange(c2, "setwatches2_on_reconnect",
                 "setWatches2(105) xid -8 relativeZxid 1: data [], exist [], child [], persistent "
                 "[/golden/sw2p], persistentRecursive [/golden/sw2r]", -8, SETWATCHES2,
                 i64(1) + vec([], ustr) + vec([], ustr) + vec([], ustr)
                 + vec(["/golden/sw2p"], ustr) + vec(["/golden/sw2r"], ustr), linger=0.3)
    cap.op(c2, "create_fires_restored_exist_watch", "create /golden/notyet on the resumed connection: the exist "
           "watch registered via setWatches fires", CREATE, create_req("/golden/notyet", b"", 0), d_path)
    cap.op(c2, "create_fires_restored_persistent_watch", "create /golden/sw2p: persistent watch from setWatches2",
           CREATE, create_req("/golden/sw2p", b"", 0), d_path)
    cap.op(c2, "create_fires_restored_recursive_watch", "create /golden/sw2r then /golden/sw2r/x is below; "
           "here just /golden/sw2r", CREATE, create_req("/golden/sw2r", b"", 0), d_path)

    # ---- bad reconnects ----------------------------------------------------------------
    g = cap.new_session()
    h = cap.conn()
    cap.connect(h, "connect_wrong_password",
                "reconnect with a live session id (its connection is still open) and a wrong password "
                "(\"badpassword_0123\"): expired answer timeOut 0, sessionId 0, 16 zero bytes, readOnly 0; "
                "request sessionId@20..28 variable", timeout=30000, session_id=g.session_id,
                passwd=b"badpassword_0123", req_vary=REQ_VARY_SESSION_ID)
    h.close()
    cap.exchange(g, "ping_original_after_wrong_password",
                 "ping on the ORIGINAL connection of the session after the wrong-password attempt "
                 "(shows whether the bad attempt kicked the live connection): the server had already closed it "
                 "(processConnectRequest closes the session's other connection before checking the password)",
                 -2, PING, expect_close=True)
    g.close()
    g2 = cap.conn()
    cap.connect(g2, "connect_resume_after_wrong_password",
                "resume the same session with the CORRECT password after the wrong-password attempt: the session "
                "itself was not harmed", timeout=30000, session_id=g.session_id, passwd=g.passwd,
                req_vary=REQ_VARY_SESSION)
    cap.close_quietly(g2)
    u = cap.conn()
    cap.connect(u, "connect_unknown_session",
                "reconnect with a session id the server never issued (0x00000000deadbeef) "
                "and 16 zero password bytes -> expired answer", timeout=30000, session_id=0xDEADBEEF)
    u.close()
    z = cap.conn()
    cap.connect(z, "connect_client_ahead",
                "new-session ConnectRequest with lastZxidSeen 0x7fffffffffffffff (far ahead of the server): "
                "the server refuses the session and closes the socket without any reply",
                expect_reply=False, last_zxid=0x7FFFFFFFFFFFFFFF, timeout=30000)
    z.close()

    # ---- four letter words (sessions A, D, C2 are alive) ---------------------------------
    for w in ["ruok", "srvr", "stat", "envi", "conf", "mntr", "cons", "wchs", "wchc", "wchp", "isro", "dump",
              "dirs"]:
        cap.fourletter(w)

    # ---- close ----------------------------------------------------------------------
    cap.op(a, "close_session", "closeSession(-11), no body -> bare header, then the server closes the socket; "
           "the session's ephemerals are deleted", CLOSESESSION, b"", expect_close=True)
    for conn in (a, d, c2):
        conn.close()
    # show that the closed session's ephemerals are gone
    v = cap.new_session()
    cap.op(v, "get_children_after_close", "getChildren(8) /golden on a new session after session A closed "
           "(ephemerals /golden/eph and /golden/eseq-... are gone; order unspecified)", GETCHILDREN,
           path_watch("/golden", False), d_children)
    cap.op(v, "close_session_2", "closeSession(-11) on a fresh connection (xid 2)", CLOSESESSION, b"",
           expect_close=True)
    v.close()


def run_scenario(host, port, budget=None):
    """Run the scenario against a server that is already running at host:port.

    Returns the list of recorded Blocks (render them with Block.render, or turn them into
    ParsedBlocks with to_parsed).  Never raises because of the server's behaviour: if the
    scenario cannot go on (no session, time budget of `budget` seconds exhausted, unexpected
    socket error), the blocks recorded so far are returned followed by a block named
    ABORTED_BLOCK whose note says why."""
    cap = Capture(port, host=host, deadline=None if budget is None else time.time() + budget)
    try:
        run(cap)
    except Exception as e:  # noqa: BLE001 - reported as a block, see the docstring
        import traceback
        b = Block(ABORTED_BLOCK)
        b.note("the scenario aborted: %s: %s" % (type(e).__name__, e))
        for line in traceback.format_exc().rstrip().splitlines()[-6:]:
            b.note(line)
        cap.blocks.append(b)
    return cap.blocks


ABORTED_BLOCK = "scenario_aborted"


# --------------------------------------------------------------------------------------
# reading capture files and comparing two captures
# --------------------------------------------------------------------------------------


class Frame:
    def __init__(self, data, vary=None, decode=None, raw=False):
        self.data = data      # bytes (hex-decoded; a raw 4lw word for `>` lines of 4lw blocks)
        self.vary = vary or []  # [(name, start, end)]
        self.decode = decode  # the `# decode:` text, if any
        self.raw = raw


class ParsedBlock:
    def __init__(self, name):
        self.name = name
        self.kind = "jute"
        self.notes = []
        self.closed = False
        self.requests = []   # [Frame] (`>` lines)
        self.responses = []  # [Frame] (`<` lines)

    def __repr__(self):
        return "ParsedBlock(%s, %d>, %d<, closed=%s)" % (
            self.name, len(self.requests), len(self.responses), self.closed)


def parse_capture(text):
    """Parse a capture file (format: README.md) into a list of ParsedBlocks, in file order."""
    blocks = []
    cur = None
    last = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("# name: "):
            cur = ParsedBlock(line[len("# name: "):].strip())
            blocks.append(cur)
            last = None
            continue
        if cur is None or not line.strip():
            continue
        if line.startswith("# kind: "):
            cur.kind = line[len("# kind: "):].strip()
        elif line.startswith("# note: "):
            cur.notes.append(line[len("# note: "):])
        elif line.startswith("# closed: "):
            cur.closed = line[len("# closed: "):].strip() == "yes"
        elif line.startswith("# vary: "):
            if last is None:
                raise ValueError("line %d: `# vary:` before any frame" % lineno)
            for item in line[len("# vary: "):].split():
                name, rng = item.rsplit("@", 1)
                a, b = rng.split("..")
                last.vary.append((name, int(a), int(b)))
        elif line.startswith("# decode: "):
            if last is not None:
                last.decode = line[len("# decode: "):]
        elif line.startswith("#"):
            pass  # `# text:` and anything else informational
        elif line[:2] in ("> ", "< ") or line in (">", "<"):
            payload = line[2:].strip()
            if line[0] == ">" and cur.kind == "4lw":
                last = Frame(payload.encode("ascii"), raw=True)
            else:
                last = Frame(bytes.fromhex(payload))
            (cur.requests if line[0] == ">" else cur.responses).append(last)
        else:
            raise ValueError("line %d: unexpected line %r" % (lineno, line[:80]))
    return blocks


def load_capture(path):
    with open(path) as f:
        return parse_capture(f.read())


def to_parsed(blocks):
    """Recorded Blocks -> ParsedBlocks (through the file format, so both sides are treated alike)."""
    return parse_capture("\n".join(b.render() for b in blocks))


# reply body decoders by request opcode, used to name the fields of differing bytes
REPLY_DECODERS = {
    CREATE: d_path, CREATE2: d_path_stat, CREATECONTAINER: d_path_stat, CREATETTL: d_path_stat,
    EXISTS: d_stat, SETDATA: d_stat, SETACL: d_stat, CHECK: d_stat, GETDATA: d_getdata, GETACL: d_acl,
    GETCHILDREN: d_children, GETCHILDREN2: d_children2, SYNC: d_path, MULTI: d_multi, MULTIREAD: d_multi,
    GETEPHEMERALS: d_children, GETALLCHILDRENNUMBER: d_int, ADDWATCH: d_int, WHOAMI: d_whoami,
    16: d_getdata,  # reconfig
}

# `# vary:` names that are only marked when the value is non-zero (README): a range marked on
# one side only is NOT masked, so that zero vs non-zero (e.g. ephemeralOwner of a persistent
# node, an expired ConnectResponse) is still compared.
CONDITIONAL_VARY = ("ephemeralOwner", "sessionId", "passwd")


def _is_conditional(name):
    return any(name == c or name.endswith("." + c) for c in CONDITIONAL_VARY)


def _request_info(block):
    """(is_connect, opcode, xid) of the block's first request frame (None values if unknown)."""
    if not block.requests or block.kind != "jute":
        return False, None, None
    req = block.requests[0]
    if req.decode and req.decode.startswith("ConnectRequest"):
        return True, None, None
    if len(req.data) >= 12:
        xid, op = struct.unpack(">ii", req.data[4:12])
        return False, op, xid
    return False, None, None


def _sorted_children(b, o):
    """Sort the jute vector<ustring> at offset o of bytearray b in place; returns the end offset."""
    n = struct.unpack(">i", bytes(b[o:o + 4]))[0]
    p = o + 4
    names = []
    for _ in range(max(n, 0)):
        ln = struct.unpack(">i", bytes(b[p:p + 4]))[0]
        if ln < 0 or p + 4 + ln > len(b):
            raise ValueError("bad child name")
        names.append(bytes(b[p:p + 4 + ln]))
        p += 4 + ln
    b[o + 4:p] = b"".join(sorted(names, key=lambda x: x[4:]))
    return p


def canonical_response(op, xid, data):
    """Child-name vectors (getChildren/getChildren2/getEphemerals, getChildren results of a
    multiRead) are in Java HashSet order in ZooKeeper: sort them.  Sorting keeps every other
    field at its offset, so `# vary:` ranges stay valid.  Anything unparsable is returned as is."""
    if op not in (GETCHILDREN, GETCHILDREN2, GETEPHEMERALS, MULTIREAD) or len(data) < 20:
        return data
    rxid, _zxid, err = struct.unpack(">iqi", data[4:20])
    if rxid != xid or err != 0:
        return data
    b = bytearray(data)
    try:
        if op != MULTIREAD:
            _sorted_children(b, 20)
            return bytes(b)
        o = 20
        while o + 9 <= len(b):
            t, done, _err = struct.unpack(">i?i", bytes(b[o:o + 9]))
            o += 9
            if done:
                break
            if t == GETCHILDREN:
                o = _sorted_children(b, o)
            elif t == GETDATA:
                ln = struct.unpack(">i", bytes(b[o:o + 4]))[0]
                o += 4 + max(ln, 0) + 68  # data + Stat
            elif t == -1:
                o += 4
            else:
                return data
    except (ValueError, struct.error):
        return data
    return bytes(b)


def frame_fields(is_connect, op, xid, data):
    """[(name, start, end, kind)] for every field of a response frame, best effort."""
    if is_connect:
        return decode_connect_resp_r(data)[1].fields
    return decode_reply_r(data, REPLY_DECODERS.get(op), xid)[1].fields


def _field_value(data, start, end, kind):
    chunk = data[start:end]
    if len(chunk) != end - start:
        return "<missing>"
    if kind == "int":
        return str(struct.unpack(">i", chunk)[0])
    if kind == "long":
        return "%#x" % (struct.unpack(">q", chunk)[0] & 0xFFFFFFFFFFFFFFFF)
    if kind == "bool":
        return str(chunk[0])
    return show_bytes(chunk)


def _mask(golden, got):
    """Byte offsets excluded from comparison for one pair of frames."""
    gset = {tuple(v) for v in golden.vary}
    oset = {tuple(v) for v in got.vary}
    masked = set()
    for v in gset | oset:
        name, a, b = v
        if _is_conditional(name) and not (v in gset and v in oset):
            continue
        masked.update(range(a, b))
    return masked


def _runs(offsets):
    """Sorted offsets -> [(start, end)] half-open runs."""
    out = []
    for o in sorted(offsets):
        if out and out[-1][1] == o:
            out[-1][1] = o + 1
        else:
            out.append([o, o + 1])
    return [tuple(r) for r in out]


def _describe_diff(exp, got, diffs, fields_exp):
    """Name the fields covering the differing offsets, with expected / got values."""
    out = []
    seen = set()
    for a, b in _runs(diffs):
        named = False
        for name, s, e, kind in fields_exp:
            if s < b and a < e and (name, s, e) not in seen:
                seen.add((name, s, e))
                # the value at the same offset in the other frame, read as the same type
                out.append("%s@%d..%d: expected %s, got %s" % (
                    name, s, e, _field_value(exp, s, e, kind), _field_value(got, s, e, kind)))
                named = True
                if name.endswith((".len", ".count")):
                    out.append("(a length differs: the layouts diverge from here on, see the decodes)")
                    return out
        if not named:
            out.append("bytes@%d..%d: expected %s, got %s" % (a, b, exp[a:b].hex() or "-", got[a:b].hex() or "-"))
    return out


def _compare_frames(label, exp, got, is_connect, op, xid, canon):
    """Problems (list of str) between an expected and an actual frame."""
    e = canonical_response(op, xid, exp.data) if canon else exp.data
    g = canonical_response(op, xid, got.data) if canon else got.data
    masked = _mask(exp, got)
    diffs = {i for i in range(min(len(e), len(g))) if i not in masked and e[i] != g[i]}
    if len(e) == len(g) and not diffs:
        return []
    if len(e) != len(g):
        head = "%s: frame length %d, expected %d" % (label, len(g), len(e))
    else:
        head = "%s: %d byte(s) differ outside the vary ranges" % (label, len(diffs))
    lines = [head]
    if canon:
        fe = frame_fields(is_connect, op, xid, e)
        fg = frame_fields(is_connect, op, xid, g)
        if len(e) != len(g):
            # compare field by field while the layouts agree (same names at the same offsets)
            shared = {(f[0], f[1], f[2]) for f in fg}
            diffs = {i for f in fe if (f[0], f[1], f[2]) in shared
                     for i in range(f[1], f[2]) if i not in masked and e[i] != g[i]}
        lines += ["  " + d for d in _describe_diff(e, g, diffs, fe)]
    lines.append("  expected: %s" % e.hex())
    lines.append("  got:      %s" % g.hex())
    lines.append("  expected decode: %s" % (exp.decode or "-"))
    lines.append("  got decode:      %s" % (got.decode or "-"))
    return lines


# -- four-letter words: shape only -----------------------------------------------------

def _num(s):
    """Mask numbers: hex 0x.. -> 0x#, digit runs -> #."""
    import re
    return re.sub(r"\d+", "#", re.sub(r"0x[0-9a-fA-F]+", "0x#", s))


def _conn_shape(line):
    """A cons/stat connection line with its values dropped:
    " /127.0.0.1:4242[1](queued=0,recved=7,...)" -> " /#.#.#.#:#[#](queued,recved,...)"."""
    import re
    return re.sub(r"=[^,)]*", "", _num(line))


def _key(line, seps):
    for sep in seps:
        if sep in line:
            return line.split(sep, 1)[0] + sep
    return line


def fourletter_shape(word, text):
    """A comparable 'shape' of a four-letter word's output; values are dropped.

    ruok/isro: the exact text.  srvr/conf/envi/dirs: the ordered key list.  stat: keys plus
    the connection lines' shapes (address masked, key names only; sorted).  mntr: the sorted
    set of keys (ZooKeeper prints them in hash-map order) and that every line is key<TAB>value.
    cons: the connection lines' shapes, sorted.  wchs: numbers masked.  wchc/wchp:
    lines with session ids masked, sorted (which paths are watched by how many sessions).
    dump: the section headers (numbers masked) and the sorted ephemeral paths; the session
    expiry buckets are timing dependent and are not compared.
    Plus, for every word, whether the output ends with a newline."""
    lines = text.split("\n")
    nl = text.endswith("\n")
    if nl:
        lines = lines[:-1]
    if word in ("ruok", "isro"):
        return {"text": text}
    shape = {"ends_with_newline": nl}
    if word in ("srvr", "conf", "envi", "dirs"):
        shape["keys"] = [_key(l, (": ", "=", ":")) for l in lines]
    elif word == "stat":
        shape["keys"] = [_key(l, (": ", ":")) for l in lines if not l.startswith(" ")]
        shape["clients"] = sorted(_conn_shape(l) for l in lines if l.startswith(" "))
    elif word == "mntr":
        shape["keys"] = sorted(l.split("\t", 1)[0] for l in lines)
        shape["malformed"] = [l for l in lines if "\t" not in l]
    elif word == "cons":
        shape["lines"] = sorted(_conn_shape(l) for l in lines)
    elif word == "wchs":
        shape["lines"] = [_num(l) for l in lines]
    elif word in ("wchc", "wchp"):
        shape["lines"] = sorted(_num(l) if "0x" in l else l for l in lines)
    elif word == "dump":
        shape["headers"] = [_num(l) for l in lines if l and not l[0].isdigit() and not l[0].isspace()]
        shape["ephemerals"] = sorted(l for l in lines if l.startswith("\t/"))
    else:
        shape["lines"] = [_num(l) for l in lines]
    return shape


def _compare_4lw(golden, got):
    word = golden.requests[0].data.decode("ascii") if golden.requests else "?"
    if len(got.responses) != 1:
        return ["4lw %s: %d output frame(s), expected 1" % (word, len(got.responses))]
    exp_text = golden.responses[0].data.decode("utf-8", "replace") if golden.responses else ""
    got_text = got.responses[0].data.decode("utf-8", "replace")
    se, sg = fourletter_shape(word, exp_text), fourletter_shape(word, got_text)
    out = []
    for k in se:
        if se[k] != sg.get(k):
            ev, gv = se[k], sg.get(k)
            if isinstance(ev, list) and isinstance(gv, list):
                missing = [x for x in ev if x not in gv]
                extra = [x for x in gv if x not in ev]

                def cut(xs, n=25):
                    return repr(xs[:n])[:-1] + (", ... %d more]" % (len(xs) - n) if len(xs) > n else "]")
                out.append("4lw %s %s differ: %d missing %s, %d unexpected %s%s" % (
                    word, k, len(missing), cut(missing), len(extra), cut(extra),
                    "" if missing or extra else " (order/count differs: expected %r, got %r)" % (ev, gv)))
            else:
                out.append("4lw %s %s: expected %r, got %r" % (word, k, ev, gv))
    if out:
        out.append("  got output: %r" % got_text[:2000])
    return out


def compare_block(golden, got):
    """Problems (list of str, empty = match) between a golden ParsedBlock and a live one.

    jute blocks: same request frames (the scenario itself must not have drifted), the same
    number of response frames, each of the same length and equal outside the union of the
    `# vary:` ranges of both sides (except CONDITIONAL_VARY ranges marked on one side only),
    with child-name lists sorted first (canonical_response); the same `closed` flag.
    4lw blocks: fourletter_shape() of the outputs must be equal, and `closed` too."""
    out = []
    if golden.kind != got.kind:
        return ["kind %s, expected %s" % (got.kind, golden.kind)]
    if golden.kind == "4lw":
        out += _compare_4lw(golden, got)
    else:
        if len(golden.requests) != len(got.requests):
            out.append("scenario drift: %d request frames, golden has %d" % (len(got.requests), len(golden.requests)))
        for i, (e, g) in enumerate(zip(golden.requests, got.requests)):
            out += _compare_frames("scenario drift: request frame %d" % i, e, g, False, None, None, False)
        is_connect, op, xid = _request_info(golden)
        if len(golden.responses) != len(got.responses):
            out.append("%d response frame(s), expected %d" % (len(got.responses), len(golden.responses)))
            for i, f in enumerate(golden.responses):
                out.append("  expected[%d]: %s  (%s)" % (i, f.data.hex(), f.decode or "-"))
            for i, f in enumerate(got.responses):
                out.append("  got[%d]:      %s  (%s)" % (i, f.data.hex(), f.decode or "-"))
        else:
            for i, (e, g) in enumerate(zip(golden.responses, got.responses)):
                out += _compare_frames("response frame %d" % i, e, g, is_connect, op, xid, True)
    if golden.closed != got.closed:
        out.append("closed: %s, expected %s" % ("yes" if got.closed else "no", "yes" if golden.closed else "no"))
    return out


def compare_captures(golden_blocks, got_blocks):
    """{block name: problems} for every golden block (plus unexpected extra blocks)."""
    got = {b.name: b for b in got_blocks}
    aborted = got.get(ABORTED_BLOCK)
    result = {}
    for gb in golden_blocks:
        if gb.name in got:
            result[gb.name] = compare_block(gb, got[gb.name])
        else:
            why = "; ".join(aborted.notes[:1]) if aborted else "the scenario has no such block"
            result[gb.name] = ["block not produced (%s)" % why]
    names = {b.name for b in golden_blocks}
    for b in got_blocks:
        if b.name not in names:
            result[b.name] = ["unexpected block (not in the golden file): %s" % "; ".join(b.notes)]
    return result


def zxid_deltas(golden_blocks, got_blocks):
    """[(block, field, golden value, got value, got - golden)] for every zxid field (`# vary:`
    names zxid / stat.*zxid) marked at the same offsets on both sides, in scenario order.

    The zxids themselves are masked by compare_block, but their progression is not arbitrary:
    every txn (including error txns) takes the next zxid.  Against a server that consumes zxids
    exactly like the golden one, got - golden is one constant (the txns made before the
    scenario, e.g. by a readiness probe)."""
    got = {b.name: b for b in got_blocks}
    out = []
    for gb in golden_blocks:
        ob = got.get(gb.name)
        if ob is None or gb.kind != "jute" or len(ob.responses) != len(gb.responses):
            continue
        for ef, of in zip(gb.responses, ob.responses):
            shared = {v for v in ef.vary if "zxid" in v[0]} & {v for v in of.vary if "zxid" in v[0]}
            for name, a, b in sorted(shared, key=lambda v: v[1]):
                if b - a != 8 or len(ef.data) < b or len(of.data) < b:
                    continue
                x = struct.unpack(">q", ef.data[a:b])[0]
                y = struct.unpack(">q", of.data[a:b])[0]
                out.append((gb.name, name, x, y, y - x))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None,
                    help="write the capture here (default: tests/golden/zk38.txt when ZooKeeper is started "
                         "by this script; nothing with --server)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (server log, data)")
    ap.add_argument("--server", metavar="HOST:PORT",
                    help="run the scenario against this already running server instead of starting ZooKeeper")
    ap.add_argument("--compare", metavar="GOLDEN",
                    help="compare the new capture with this capture file and print the differences "
                         "(exit status 1 if any)")
    args = ap.parse_args()

    if args.server:
        if not args.out and not args.compare:
            ap.error("--server needs --out and/or --compare")
        host, _, port = args.server.rpartition(":")
        host, port = host or "127.0.0.1", int(port)
        srvr = four_letter(port, "srvr", host=host).decode("utf-8", "replace").splitlines()
        version = "%s (live server at %s:%d, --server)" % (srvr[0] if srvr else "?", host, port)
        blocks = run_scenario(host, port)
    else:
        if not args.out:
            args.out = os.path.join(HERE, "zk38.txt")
        srv = Server(keep_tmp=args.keep_tmp)
        try:
            srv.start()
            srvr = four_letter(srv.port, "srvr").decode("utf-8", "replace").splitlines()
            version = srvr[0] if srvr else "?"
            try:
                deb = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "zookeeper"], capture_output=True,
                                     text=True, timeout=10).stdout.strip()
                if deb:
                    version += " (Debian package zookeeper %s)" % deb
            except (OSError, subprocess.SubprocessError):
                pass
            cap = Capture(srv.port)
            run(cap)
            blocks = cap.blocks
        finally:
            srv.stop()
            if args.keep_tmp:
                print("server temp dir kept at", srv.tmp, file=sys.stderr)

    first = ("# Wire capture from a live server (capture.py --server); NOT a golden file.\n" if args.server
             else "# Golden wire fixtures captured from a real Apache ZooKeeper server.\n")
    header = first + (
        "# server: %s\n"
        "# generated by tests/golden/capture.py (format: tests/golden/README.md)\n"
        "# frames are hex of the full frame INCLUDING the 4-byte length prefix; `# vary:` ranges are\n"
        "# half-open byte offsets [start..end) into the frame on the line just above it.\n"
        % version)
    if args.out:
        with open(args.out, "w") as f:
            f.write(header)
            for b in blocks:
                f.write("\n")
                f.write(b.render())
        print("wrote %d blocks to %s" % (len(blocks), args.out))
    if args.compare:
        result = compare_captures(load_capture(args.compare), to_parsed(blocks))
        bad = [n for n, p in result.items() if p]
        for n in bad:
            print("=== %s" % n)
            for line in result[n]:
                print("  " + line)
        print("%d of %d blocks differ%s" % (len(bad), len(result), (": " + " ".join(bad)) if bad else ""))
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
