"""Four-letter words, checked for the shape of ZooKeeper 3.8's answers; kazoo's command() and server_version()."""

import re

import pytest

from conftest import wait_until
from servers import four_letter

VERSION_LINE = r"Zookeeper version: (\d+)\.(\d+)\.(\d+)(-[^,\n]*)?, built on [^\n]+"
CONN_BRIEF = r" /127\.0\.0\.1:\d+\[[0-9a-f]+\]\(queued=\d+,recved=\d+,sent=\d+\)"
CONN_FULL = (
    r" /127\.0\.0\.1:\d+\[[0-9a-f]+\]\(queued=\d+,recved=\d+,sent=\d+"
    r"(,sid=0x[0-9a-f]+,lop=[A-Z]+,est=\d+,to=\d+(,lcxid=0x[0-9a-f]+)?,lzxid=0x[0-9a-f]+,lresp=\d+,"
    r"llat=\d+,minlat=\d+,avglat=\d+,maxlat=\d+)?\)"
)
STATS_TAIL = (
    r"Latency min/avg/max: \d+/\d+\.\d+/\d+\n"
    r"Received: \d+\n"
    r"Sent: \d+\n"
    r"Connections: \d+\n"
    r"Outstanding: \d+\n"
    r"Zxid: 0x[0-9a-f]+\n"
    r"Mode: standalone\n"
    r"Node count: \d+\n"
)


def word(server, w):
    return four_letter(server.host, server.port, w)


def field(text, name):
    m = re.search(rf"^{re.escape(name)}: ?(.*)$", text, re.M)
    assert m, f"{name} not in {text!r}"
    return m.group(1)


def test_ruok(server):
    assert word(server, "ruok") == "imok"


def test_isro(server):
    assert word(server, "isro") == "rw"


def test_srvr_shape(server, zk):
    out = word(server, "srvr")
    assert re.fullmatch(VERSION_LINE + r"\n" + STATS_TAIL, out), out
    assert field(out, "Zookeeper version").startswith("3.8.")


def test_srvr_counts(server, make_client, base):
    clients = [make_client() for _ in range(2)]  # + the zk fixture behind `base` = 3 sessions
    # Connections counts the 4lw connection itself too
    wait_until(lambda: int(field(word(server, "srvr"), "Connections")) == 4, 5, msg="Connections: 4")
    before = int(field(word(server, "srvr"), "Node count"))
    for i in range(3):
        clients[0].create(f"{base}/n{i}")
    out = word(server, "srvr")
    assert int(field(out, "Node count")) == before + 3
    # Zxid is the last zxid, in hex
    last = clients[0].exists(f"{base}/n2").czxid
    assert int(field(out, "Zxid"), 16) == last
    mntr = dict(line.split("\t", 1) for line in word(server, "mntr").splitlines())
    assert int(mntr["zk_znode_count"]) == before + 3


def test_node_count_counts_root_twice(server, zk):
    # ZooKeeper's node count includes the root twice (it is stored as "" and "/"):
    # a fresh 3.5+ server reports 5 for /, /zookeeper, /zookeeper/quota, /zookeeper/config.
    def walk(path):
        kids = zk.get_children(path)
        return 1 + sum(walk(path.rstrip("/") + "/" + k) for k in kids)

    nodes = walk("/")
    mntr = dict(line.split("\t", 1) for line in word(server, "mntr").splitlines())
    assert int(mntr["zk_znode_count"]) == nodes + 1
    assert int(field(word(server, "srvr"), "Node count")) == nodes + 1


def test_stat_shape(server, zk):
    out = word(server, "stat")
    pattern = VERSION_LINE + r"\nClients:\n(" + CONN_BRIEF + r"\n)+\n" + STATS_TAIL
    assert re.fullmatch(pattern, out), out


def test_cons_shape(server, zk):
    out = word(server, "cons")
    assert out.endswith("\n\n")
    lines = out[:-2].split("\n")
    for line in lines:
        assert re.fullmatch(CONN_FULL, line), line
    sid = zk.client_id[0]
    mine = [line for line in lines if f"sid=0x{sid:x}," in line]
    assert len(mine) == 1, out
    assert f",to={zk._session_timeout}," in mine[0]


def test_conf(server):
    out = word(server, "conf")
    conf = dict(line.split("=", 1) for line in out.strip().splitlines())
    for key in (
        "clientPort",
        "secureClientPort",
        "dataDir",
        "dataDirSize",
        "dataLogDir",
        "dataLogSize",
        "tickTime",
        "maxClientCnxns",
        "minSessionTimeout",
        "maxSessionTimeout",
        "clientPortListenBacklog",
        "serverId",
    ):
        assert key in conf, f"{key} missing from conf: {out!r}"
    tick = server.opts.tick_time
    assert int(conf["clientPort"]) == server.port
    assert conf["secureClientPort"] == "-1"
    assert int(conf["tickTime"]) == tick
    assert int(conf["minSessionTimeout"]) == 2 * tick
    assert int(conf["maxSessionTimeout"]) == 20 * tick
    assert conf["dataDir"].endswith("version-2")
    assert conf["serverId"] == "0"


ENVI_KEYS = [
    "zookeeper.version",
    "host.name",
    "java.version",
    "java.vendor",
    "java.home",
    "java.class.path",
    "java.library.path",
    "java.io.tmpdir",
    "java.compiler",
    "os.name",
    "os.arch",
    "os.version",
    "user.name",
    "user.home",
    "user.dir",
    "os.memory.free",
    "os.memory.max",
    "os.memory.total",
]


def test_envi(server):
    out = word(server, "envi")
    lines = out.splitlines()
    assert lines[0] == "Environment:"
    env = {}
    for line in lines[1:]:
        assert "=" in line, line
        k, v = line.split("=", 1)
        env[k] = v
    assert list(env) == ENVI_KEYS
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[^,]*)?, built on .+", env["zookeeper.version"])
    for k in ("os.memory.free", "os.memory.max", "os.memory.total"):
        assert re.fullmatch(r"\d+MB", env[k]), (k, env[k])


def test_kazoo_command_and_server_version(zk):
    assert zk.command(b"ruok") == "imok"
    version = zk.server_version()
    assert isinstance(version, tuple) and len(version) == 3
    assert version[:2] == (3, 8)


def test_mntr(server, make_client, base):
    c = make_client()
    c.create(base + "/e1", ephemeral=True)
    c.create(base + "/e2", ephemeral=True)
    c.get(base + "/e1", watch=lambda e: None)
    out = word(server, "mntr")
    lines = out.splitlines()
    assert out.endswith("\n")
    for line in lines:
        assert re.fullmatch(r"zk_[a-z0-9_]+\t\S.*", line), line
    assert lines[0].startswith("zk_version\t")
    assert lines[1] == "zk_server_state\tstandalone"
    m = dict(line.split("\t", 1) for line in lines)
    for key in (
        "zk_avg_latency",
        "zk_max_latency",
        "zk_min_latency",
        "zk_packets_received",
        "zk_packets_sent",
        "zk_num_alive_connections",
        "zk_outstanding_requests",
        "zk_znode_count",
        "zk_watch_count",
        "zk_ephemerals_count",
        "zk_approximate_data_size",
        "zk_open_file_descriptor_count",
        "zk_max_file_descriptor_count",
        "zk_global_sessions",
        "zk_uptime",
    ):
        assert key in m, key
        assert re.fullmatch(r"-?\d+(\.\d+)?", m[key]), (key, m[key])
    assert re.fullmatch(r"\d+\.\d+", m["zk_avg_latency"]), "avg latency is a double in 3.8"
    assert int(m["zk_ephemerals_count"]) == 2
    assert int(m["zk_watch_count"]) >= 1
    assert int(m["zk_outstanding_requests"]) == 0


def test_watch_words(server, make_client, base):
    c = make_client()
    c.create(base + "/w1")
    c.create(base + "/w2")
    c.get(base + "/w1", watch=lambda e: None)
    c.exists(base + "/w2", watch=lambda e: None)
    c.get_children(base + "/w1", watch=lambda e: None)  # child table: not counted by wchs in 3.8
    sid = f"0x{c.client_id[0]:x}"

    out = word(server, "wchs")
    m = re.fullmatch(r"(\d+) connections watching (\d+) paths\nTotal watches:(\d+)\n", out)
    assert m, out
    assert (int(m.group(1)), int(m.group(2)), int(m.group(3))) == (1, 2, 2)

    out = word(server, "wchc")
    assert out.endswith("\n\n")
    blocks = out.rstrip("\n").split("\n")
    assert blocks[0] == sid
    assert sorted(blocks[1:]) == sorted([f"\t{base}/w1", f"\t{base}/w2"])

    out = word(server, "wchp")
    assert out.endswith("\n\n")
    lines = out.rstrip("\n").split("\n")
    pairs = {lines[i]: lines[i + 1] for i in range(0, len(lines), 2)}
    assert pairs == {f"{base}/w1": f"\t{sid}", f"{base}/w2": f"\t{sid}"}

    mntr = dict(line.split("\t", 1) for line in word(server, "mntr").splitlines())
    assert int(mntr["zk_watch_count"]) == 3  # data + child tables


def test_dump(server, make_client, base):
    c = make_client()
    c.create(base + "/eph", ephemeral=True)
    sid = f"0x{c.client_id[0]:x}"
    out = word(server, "dump")
    assert out.startswith("SessionTracker dump:\n")
    assert re.search(r"^Session Sets \(\d+\)/\(\d+\):$", out, re.M), out
    assert re.search(rf"^\t{sid}$", out, re.M), "session listed in an expiry bucket"
    assert "\nephemeral nodes dump:\n" in out
    m = re.search(r"^Sessions with Ephemerals \((\d+)\):\n((?:.*\n)*?)Connections dump:", out, re.M)
    assert m, out
    assert int(m.group(1)) == 1
    assert m.group(2) == f"{sid}:\n\t{base}/eph\n"


def test_reset_and_dirs(server):
    assert word(server, "crst") == "Connection stats reset.\n"
    assert word(server, "srst") == "Server stats reset.\n"
    out = word(server, "srvr")
    assert field(out, "Latency min/avg/max") == "0/0.0/0"
    assert re.fullmatch(r"datadir_size: \d+\nlogdir_size: \d+\n", word(server, "dirs"))


def test_unknown_word_closes_connection(server, zk):
    # "abcd" is not a command: it is read as a frame length (too large) and the connection is closed
    assert word(server, "abcd") == ""
    assert zk.exists("/") is not None


@pytest.mark.parametrize("w", ["ruok", "srvr", "mntr"])
def test_word_during_session_traffic(server, zk, w):
    zk.create("/fw-" + w)
    assert word(server, w)
    assert zk.exists("/fw-" + w)
