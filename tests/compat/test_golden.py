"""Replay the golden wire scenario (tests/golden/capture.py) and compare byte for byte.

tests/golden/zk38.txt holds the request/response frames of a fixed scenario run against a
real ZooKeeper 3.8.0.  This module runs the same scenario against the server under test
(the `server` fixture: Keeper or ZooKeeper per COMPAT_TARGET) and checks every block of the
golden file, one test per block (the test id is the block name):

* jute blocks: the same response frames in the same order, each of the same length and
  byte-equal outside the union of both sides' `# vary:` ranges (zxids, times, session ids,
  passwords; child-name lists are sorted first), and the same `closed` flag;
* 4lw blocks: only the shape of the text (keys / line structure), see
  capture.fourletter_shape.

Against COMPAT_TARGET=zookeeper every block must match (this validates the comparator).
KEEPER_DEVIATIONS lists the blocks where Keeper deliberately differs from ZooKeeper 3.8.0
because of a ZooKeeper bug; for those, Keeper's own behaviour is asserted instead.

Run:
  COMPAT_TARGET=keeper KEEPER_BIN=target/debug/keeper .venv/bin/pytest -q tests/compat/test_golden.py
  COMPAT_TARGET=zookeeper .venv/bin/pytest -q tests/compat/test_golden.py
Standalone (prints every difference, against a server you started yourself):
  python3 tests/golden/capture.py --server 127.0.0.1:2181 --compare tests/golden/zk38.txt [--out /tmp/x.txt]
"""

from __future__ import annotations

import os
import struct
import sys

import pytest

from servers import ServerOptions, target

GOLDEN_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "golden"))
sys.path.insert(0, GOLDEN_DIR)

import capture  # noqa: E402  (tests/golden/capture.py)

GOLDEN_FILE = os.path.join(GOLDEN_DIR, "zk38.txt")

# The settings capture.py gives ZooKeeper: tickTime=2000, 4lw.commands.whitelist=*,
# extendedTypesEnabled=true (TTL nodes), admin.enableServer=false (always set by servers.py).
SERVER_OPTIONS = ServerOptions(tick_time=2000, extended_types=True, four_letter_words="*")

# Upper bound for one scenario run (~20 s against ZooKeeper, which withholds one reply for 5 s);
# beyond it the run is cut short and the remaining blocks fail as "not produced".
SCENARIO_BUDGET_S = 50

GOLDEN = capture.load_capture(GOLDEN_FILE)
GOLDEN_BY_NAME = {b.name: b for b in GOLDEN}


def _keeper_check_outside_multi(golden, got):
    """ZooKeeper 3.8.0 sends NO reply to a successful top-level check(13): the reply
    serialization hits a NullPointerException (SetDataResponse with a null Stat).  Keeper
    answers it: one reply with the request's xid and err 0, either a bare header or a
    header + Stat, and the connection stays open."""
    req = got.requests[0].data
    xid = struct.unpack(">i", req[4:8])[0]
    assert req == golden.requests[0].data, "scenario drift: the request differs from the golden one"
    assert len(got.responses) == 1, f"expected exactly one reply frame, got {len(got.responses)}: " + \
        "; ".join(f.decode or f.data.hex() for f in got.responses)
    f = got.responses[0].data
    assert len(f) in (20, 20 + 68), f"reply is neither a bare header nor header + Stat: {f.hex()}"
    rxid, _zxid, err = struct.unpack(">iqi", f[4:20])
    assert (rxid, err) == (xid, 0), f"reply xid/err {rxid}/{err}, expected {xid}/0 ({got.responses[0].decode})"
    assert not got.closed, "the server closed the connection after a successful top-level check"


def _keeper_mode_collision_2(golden, got):
    """ZOOKEEPER-4466 (fixed in 3.9): in 3.8 a one-shot watch registered on a path where the
    same connection holds a PERSISTENT watch overwrote it, so this second setData notified
    nobody.  Keeper keeps both modes, as 3.9 does: the persistent watch fires again, before
    the reply."""
    assert len(got.responses) == 2, [f.decode for f in got.responses]
    note = got.responses[0].data
    xid, zxid, err = struct.unpack(">iqi", note[4:20])
    etype, state, plen = struct.unpack(">iii", note[20:32])
    assert (xid, zxid, err, etype, state) == (-1, -1, 0, 3, 3)
    assert note[32:32 + plen] == b"/golden/late"
    reply = got.responses[1].data
    assert struct.unpack(">i", reply[16:20])[0] == 0
    assert len(reply) == len(golden.responses[0].data)


def _without_late_watch(kind):
    """wchc / wchp after the mode-collision blocks: Keeper still holds the PERSISTENT watch
    on /golden/late that ZooKeeper 3.8 lost (see above); apart from it the output must match."""
    def check(golden, got):
        text = b"".join(f.data for f in got.responses).decode()
        if kind == "wchp":
            groups, cur = [], []
            for line in text.split("\n"):
                if line and not line.startswith("\t") and cur:
                    groups.append(cur)
                    cur = []
                cur.append(line)
            groups.append(cur)
            filtered = "\n".join("\n".join(g) for g in groups if g[0] != "/golden/late")
        else:
            filtered = "\n".join(l for l in text.split("\n") if l != "\t/golden/late")
        assert filtered != text, "expected Keeper to list the persistent watch on /golden/late"
        got.responses[0].data = filtered.encode()
        del got.responses[1:]
        problems = capture.compare_block(golden, got)
        assert not problems, "\n".join(problems)
    return check


# The server gauges ZooKeeper 3.8 prints first in mntr; Keeper must print all of them. The
# ~450 per-processor summaries that follow in ZooKeeper (zk_avg_fsynctime, ...) are not
# exported by Keeper's mntr yet.
MNTR_GAUGES = """zk_version zk_server_state zk_avg_latency zk_max_latency zk_min_latency
zk_packets_received zk_packets_sent zk_num_alive_connections zk_outstanding_requests zk_uptime
zk_znode_count zk_watch_count zk_ephemerals_count zk_approximate_data_size zk_global_sessions
zk_local_sessions zk_open_file_descriptor_count zk_max_file_descriptor_count
zk_connection_drop_probability zk_last_client_response_size zk_max_client_response_size
zk_min_client_response_size zk_outstanding_tls_handshake zk_auth_failed_count
zk_non_mtls_remote_conn_count zk_non_mtls_local_conn_count""".split()


def _keeper_mntr(golden, got):
    text = b"".join(f.data for f in got.responses).decode()
    lines = [l for l in text.split("\n") if l]
    assert all(l.count("\t") == 1 and l.startswith("zk_") for l in lines), text
    keys = [l.split("\t")[0] for l in lines]
    assert keys[:2] == ["zk_version", "zk_server_state"], keys
    missing = [k for k in MNTR_GAUGES if k not in keys]
    assert not missing, f"mntr lacks {missing}"
    assert got.closed == golden.closed


def _keeper_multi_create2_has_stat(expected_types):
    """ZOOKEEPER-4026 (fixed in 3.8.2): 3.8.0 answers a create2 inside a multi with a plain
    create result (path only), so clients see no Stat. Keeper answers as 3.8.2+ does: create2,
    container and TTL creates come back as type 15 with path and Stat."""
    return lambda golden, got: _check_multi_types(golden, got, expected_types)


def _check_multi_types(golden, got, expected_types):
    assert len(got.responses) == 1 and not got.closed
    f = got.responses[0].data
    xid, _zxid, err = struct.unpack(">iqi", f[4:20])
    assert err == 0
    pos, types = 20, []
    while True:
        t, done, e = struct.unpack(">i?i", f[pos:pos + 9])
        pos += 9
        if done:
            break
        types.append(t)
        assert e == 0
        if t in (1, 15):
            (n,) = struct.unpack(">i", f[pos:pos + 4])
            pos += 4 + n + (68 if t == 15 else 0)
        elif t == 5:
            pos += 68
    assert types == expected_types, types
    assert pos == len(f)


# block name -> check replacing the golden comparison when the target is Keeper.
# ONLY for ZooKeeper 3.8.0 bugs that Keeper deliberately does not reproduce.
KEEPER_DEVIATIONS = {
    "check_outside_multi": _keeper_check_outside_multi,
    "setdata_mode_collision_2": _keeper_mode_collision_2,
    "4lw_wchc": _without_late_watch("wchc"),
    "4lw_wchp": _without_late_watch("wchp"),
    "4lw_mntr": _keeper_mntr,
    "multi_create_kind_from_flags": _keeper_multi_create2_has_stat([15, 15, 2, 2]),
    "multi_create2_container_ttl": _keeper_multi_create2_has_stat([15, 15, 15, 2, 2, 2]),
}


@pytest.fixture(scope="module")
def live(server):
    """The scenario's blocks recorded against the server under test, by name."""
    blocks = capture.to_parsed(capture.run_scenario(server.host, server.port, budget=SCENARIO_BUDGET_S))
    return {b.name: b for b in blocks}


def test_scenario_complete(live):
    """The run produced exactly the golden blocks (no abort, no extra or missing block)."""
    aborted = live.get(capture.ABORTED_BLOCK)
    assert aborted is None, "scenario aborted:\n" + "\n".join(aborted.notes)
    assert list(live) == [b.name for b in GOLDEN]


@pytest.mark.parametrize("name", [b.name for b in GOLDEN])
def test_block(name, live):
    golden = GOLDEN_BY_NAME[name]
    got = live.get(name)
    if got is None:
        aborted = live.get(capture.ABORTED_BLOCK)
        pytest.fail(f"block {name} was not produced" + (": " + "; ".join(aborted.notes[:1]) if aborted else ""))
    deviation = KEEPER_DEVIATIONS.get(name) if target() == "keeper" else None
    if deviation is not None:
        deviation(golden, got)
        return
    problems = capture.compare_block(golden, got)
    assert not problems, f"block {name} differs from ZooKeeper 3.8:\n" + "\n".join(problems)


def test_zxid_progression(live):
    """Zxids are masked above, but each txn (error txns included) must take exactly one zxid,
    as in ZooKeeper: the offset between the server's zxids and the golden ones must stay
    constant through the whole scenario (checked over every block both sides answered alike)."""
    deltas = capture.zxid_deltas(GOLDEN, list(live.values()))
    assert deltas, "no comparable zxid field"
    changes = []
    prev = deltas[0]
    for d in deltas[1:]:
        if d[4] != prev[4]:
            changes.append(f"offset {prev[4]} -> {d[4]} between {prev[0]} ({prev[1]} golden {prev[2]:#x}) "
                           f"and {d[0]} ({d[1]} golden {d[2]:#x}, got {d[3]:#x})")
        prev = d
    assert not changes, "the server consumed zxids differently from ZooKeeper 3.8:\n" + "\n".join(changes)
