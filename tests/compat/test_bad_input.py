"""Bad input on the wire: oversized / negative / garbage frames, malformed bodies, unknown opcodes.
Each must affect only the offending connection."""

import socket
import struct
import time

import pytest

import rawzk
from rawzk import frame, w_acls, w_buffer, w_int, w_string

MAX_BUFFER = 0xFFFFF  # jute.maxbuffer default: 1048575


def plain_socket(server):
    s = socket.create_connection((server.host, server.port), timeout=5)
    return s


def closed_without_reply(sock, timeout=5.0):
    """True if the server closes the socket without sending anything."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                return data == b""
            data += chunk
    except ConnectionResetError:
        return data == b""
    except socket.timeout:
        return False
    return False


@pytest.fixture
def bystander(make_client, base):
    """A kazoo client with an ephemeral node that must survive everything in this module."""
    c = make_client()
    c.create(base + "/bystander", b"alive", ephemeral=True)
    sid = c.client_id[0]
    yield c
    assert c.connected
    assert c.client_id[0] == sid
    assert c.get(base + "/bystander")[0] == b"alive"
    c.set(base + "/bystander", b"still")


@pytest.mark.parametrize(
    "length",
    [MAX_BUFFER + 1, 2 << 20, 0x7FFFFFFF, -1, -0x80000000],
    ids=["maxbuffer+1", "2MiB", "int-max", "minus-one", "int-min"],
)
def test_bad_length_after_handshake_closes_connection(raw, bystander, length):
    c = raw()
    c.send_raw(struct.pack(">i", length) + b"\x00" * 64)
    assert c.is_closed_by_server(5)


def test_bad_length_before_handshake_closes_connection(server, bystander):
    s = plain_socket(server)
    try:
        s.sendall(struct.pack(">i", 2 << 20) + b"\x00" * 128)
        assert closed_without_reply(s)
    finally:
        s.close()


def test_oversized_set_data_closes_connection(raw, bystander):
    c = raw()
    body = w_int(1) + w_int(rawzk.OP_SET_DATA) + w_string("/") + w_buffer(b"x" * 1_500_000) + w_int(-1)
    try:
        c.send_raw(frame(body))
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert c.is_closed_by_server(5)


def test_just_below_max_buffer_is_accepted(raw, bystander, base):
    c = raw()
    data = b"y" * (MAX_BUFFER - 200)
    rep = c.create(base + "/nearly-max", data)
    assert rep.err == 0
    rep = c.get_data(base + "/nearly-max")
    assert rep.err == 0
    assert rep.reader().buffer() == data


def test_garbage_before_handshake(server, bystander):
    s = plain_socket(server)
    try:
        s.sendall(frame(b"hello, world"))
        assert closed_without_reply(s)
    finally:
        s.close()


def test_random_bytes_before_handshake(server, bystander):
    s = plain_socket(server)
    try:
        s.sendall(b"\x00\x00\x00\x2d" + bytes(range(200, 245)))  # 45-byte "ConnectRequest" of noise
        s.settimeout(5)
        # the server either answers nonsense with a refusal-free close, or closes: it must not hang
        # forever nor crash; another connection keeps working (checked by the bystander)
        try:
            while s.recv(65536):
                pass
        except (socket.timeout, ConnectionResetError):
            pass
    finally:
        s.close()


@pytest.mark.parametrize("payload", [b"", b"abc", b"\x00\x00\x00\x01\x00\x00"], ids=["empty", "3-bytes", "6-bytes"])
def test_short_frame_after_handshake_closes_connection(raw, bystander, payload):
    c = raw()
    c.send_raw(frame(payload))
    assert c.is_closed_by_server(5)


@pytest.mark.parametrize(
    "body",
    [
        w_int(rawzk.OP_CREATE) + b"\x00\x00\x00\x10abc",  # truncated path
        w_int(rawzk.OP_GET_DATA) + b"\x7f\xff\xff\xff/abc\x00",  # absurd string length
        w_int(rawzk.OP_GET_DATA) + w_string("/"),  # missing watch flag
    ],
    ids=["truncated-create", "absurd-string-length", "missing-field"],
)
def test_malformed_body_gets_marshalling_error(raw, bystander, body):
    c = raw()
    rep = c.read_reply(_send(c, body))
    assert rep.err == rawzk.MARSHALLING_ERROR
    assert rep.body == b""
    # the connection stays usable
    assert c.exists("/").err == 0


def _send(c, body_after_xid):
    xid = c.next_xid()
    c.send_raw(frame(w_int(xid) + body_after_xid))
    return xid


@pytest.mark.parametrize("opcode", [999, 10, 0, -3, 0x7FFFFFFF], ids=["999", "10", "0", "-3", "int-max"])
def test_unknown_opcode(raw, bystander, opcode):
    c = raw(timeout_ms=5000)
    xid = c.send_request(opcode, b"")
    rep = c.read_reply(xid)
    assert rep.xid == xid
    assert rep.err == rawzk.UNIMPLEMENTED
    assert rep.zxid == -1
    assert rep.body == b""
    # ...and the server closes that connection, but not the session
    assert c.is_closed_by_server(5)
    again = raw(connect=False)
    assert again.handshake(5000, c.session_id, c.passwd)[1] == c.session_id
    assert again.exists("/").err == 0


def test_delete_container_opcode_is_internal(raw, bystander):
    c = raw()
    assert c.create("/dc-probe", b"", flags=rawzk.CONTAINER).err == 0
    rep = c.call(20, w_string("/dc-probe"))
    assert rep.err == rawzk.BAD_ARGUMENTS
    assert c.exists("/dc-probe").err == 0


def test_many_bad_connections_then_good_one(server, bystander, raw):
    for i in range(10):
        s = plain_socket(server)
        try:
            s.sendall(struct.pack(">i", -1 - i))
        finally:
            s.close()
    c = raw()
    assert c.exists("/").err == 0


def test_client_closes_mid_frame(server, bystander, raw):
    c = raw()
    body = w_int(1) + w_int(rawzk.OP_CREATE) + w_string("/mid") + w_buffer(b"z" * 100) + w_acls(rawzk.OPEN_ACL_UNSAFE)
    c.send_raw(struct.pack(">i", len(body) + 4) + body[: len(body) // 2])
    c.close()
    d = raw()
    assert d.exists("/mid").err == rawzk.NO_NODE
