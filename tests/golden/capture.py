#!/usr/bin/env python3
"""Capture golden wire fixtures from a real Apache ZooKeeper 3.8 standalone server.

Starts ZooKeeperServerMain (Debian `zookeeper` package jars) on a free 127.0.0.1 port
with a throw-away dataDir, talks the jute client protocol to it over raw sockets, and
writes every request / response frame (hex, including the 4-byte length prefix) to
tests/golden/zk38.txt.  See tests/golden/README.md for the file format.

Standard library only.  Usage:

    python3 tests/golden/capture.py [--out PATH] [--keep-tmp]

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

    def _take(self, n, name, var):
        if self.o + n > len(self.b):
            raise ValueError("short frame reading %s" % name)
        start = self.o
        self.o += n
        if var:
            self.vary.append((name, start, self.o))
        return self.b[start:self.o]

    def int(self, name, var=False):
        return struct.unpack(">i", self._take(4, name, var))[0]

    def long(self, name, var=False):
        return struct.unpack(">q", self._take(8, name, var))[0]

    def bool(self, name):
        return self._take(1, name, False)[0]

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


def decode_reply(data, body_decoder, expect_xid, zxid_fixed=False):
    r = R(data)
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
        text += " " + body_decoder(r)
    if r.rest():
        text += " +%d more bytes: %s" % (r.rest(), data[r.o:].hex())
    return text, r.vary, xid


def decode_connect_resp(data):
    r = R(data)
    proto = r.int("protocolVersion")
    timeout = r.int("timeOut")
    sid_start = r.o
    sid = r.long("sessionId")
    pw = r.buf("passwd")
    if sid != 0:
        r.vary.append(("sessionId", sid_start, sid_start + 8))
    if pw and any(pw):
        r.vary.append(("passwd", sid_start + 12, sid_start + 12 + len(pw)))
    text = "ConnectResponse{protocolVersion=%d timeOut=%d sessionId=%#x passwd=%s" % (
        proto, timeout, sid, pw.hex() if pw is not None else "null")
    if r.rest() >= 1:
        text += " readOnly=%d" % r.bool("readOnly")
    text += "}"
    if r.rest():
        text += " +%d more bytes" % r.rest()
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


def four_letter(port, word, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
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
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5.0)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rbuf = b""
        self.xid = 0
        self.eof = False
        self.session_id = 0
        self.passwd = b""

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
                    raise ValueError("EOF inside a frame: %s" % self.rbuf.hex())
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


class Capture:
    def __init__(self, port):
        self.port = port
        self.blocks = []
        self.log = []

    def conn(self):
        return Conn(self.port)

    # ---- handshakes --------------------------------------------------------------

    def connect(self, c, name=None, note=None, expect_reply=True, record=True, req_vary=None, **kw):
        data = connect_req(**kw)
        b = Block(name or "connect")
        if note:
            b.note(note)
        b.add(">", data, vary=req_vary,
              decode="ConnectRequest{lastZxidSeen=%#x timeOut=%d sessionId=%#x readOnly=%s} body=%d bytes"
              % (kw.get("last_zxid", 0), kw.get("timeout", 30000), kw.get("session_id", 0),
                 kw.get("read_only", False), len(data) - 4))
        c.send(data)
        resp = None
        try:
            resp = c.read_frame(5.0 if expect_reply else 3.0)
        except Closed:
            b.closed = True
        if resp is not None:
            text, vary = decode_connect_resp(resp)
            b.add("<", resp, vary=vary, decode=text)
            r = R(resp)
            r.int("p")
            r.int("t")
            c.session_id = r.long("s")
            c.passwd = r.buf("pw") or b""
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
        assert c.session_id != 0
        return c

    # ---- generic exchange ------------------------------------------------------

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
                b.closed = True
                return
            if f is None:
                return
            text, vary, _ = decode_reply(f, None, None)
            b.add("<", f, vary=vary, decode=text + " (arrived after the reply)")

    def exchange(self, c, name, note, xid, op, body=b"", decoder=None, expect_close=False,
                 req_vary=None, record=True, linger=0.1, zxid_fixed=False, no_reply_note=None):
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
                b.closed = True
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
        out = four_letter(self.port, word)
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "zk38.txt"))
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (server log, data)")
    args = ap.parse_args()

    srv = Server(keep_tmp=args.keep_tmp)
    try:
        srv.start()
        cap = Capture(srv.port)
        srvr = four_letter(srv.port, "srvr").decode("utf-8", "replace").splitlines()
        version = srvr[0] if srvr else "?"
        try:
            deb = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "zookeeper"], capture_output=True,
                                 text=True, timeout=10).stdout.strip()
            if deb:
                version += " (Debian package zookeeper %s)" % deb
        except (OSError, subprocess.SubprocessError):
            pass
        run(cap)
    finally:
        srv.stop()
        if args.keep_tmp:
            print("server temp dir kept at", srv.tmp, file=sys.stderr)

    header = (
        "# Golden wire fixtures captured from a real Apache ZooKeeper server.\n"
        "# server: %s\n"
        "# generated by tests/golden/capture.py (format: tests/golden/README.md)\n"
        "# frames are hex of the full frame INCLUDING the 4-byte length prefix; `# vary:` ranges are\n"
        "# half-open byte offsets [start..end) into the frame on the line just above it.\n"
        % version)
    cap.write(args.out, header)
    print("wrote %d blocks to %s" % (len(cap.blocks), args.out))


if __name__ == "__main__":
    main()
