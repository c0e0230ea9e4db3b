"""Start and stop a server under test: Keeper (our binary) or Apache ZooKeeper 3.8.

Selected by COMPAT_TARGET=keeper|zookeeper (default keeper).

Environment:
  COMPAT_TARGET        keeper (default) or zookeeper
  KEEPER_BIN           path of the keeper binary (default: <repo>/target/debug/keeper)
  KEEPER_CONFIG_MODE   "set" (default): keeper server --set key=value ...
                       "zoocfg": keeper server --config <generated zoo.cfg> (same file ZooKeeper gets)
  KEEPER_EXTRA_ARGS    extra arguments appended to the keeper command line (shell-split)
  ZK_CLASSPATH         classpath for ZooKeeper (default: Debian's /usr/share/java jars)
  JAVA                 java executable (default: java)
  COMPAT_LOG_DIR       if set, server logs are copied there when a server stops
  KEEPER_CONTAINER_CHECK_KEY  keeper --set key for the container/TTL reaper interval
                       (default server.container_check_interval, in ms; empty: not passed)
  COMPAT_START_TIMEOUT seconds to wait for `ruok` -> `imok` (default 40)
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

DEFAULT_ZK_CLASSPATH = ":".join(
    [
        "/usr/share/java/zookeeper.jar",
        "/usr/share/java/zookeeper-jute.jar",
        # a logging backend so ZooKeeper writes its log to stderr (optional)
        "/usr/share/java/slf4j-simple.jar",
    ]
)


# keeper's --set key for ZooKeeper's znode.container.checkIntervalMs ("" = do not pass it)
CONTAINER_KEY = os.environ.get("KEEPER_CONTAINER_CHECK_KEY", "server.container_check_interval")


def target() -> str:
    t = os.environ.get("COMPAT_TARGET", "keeper").strip().lower()
    if t not in ("keeper", "zookeeper"):
        raise ValueError(f"COMPAT_TARGET must be keeper or zookeeper, not {t!r}")
    return t


def keeper_bin() -> str:
    b = os.environ.get("KEEPER_BIN", os.path.join(REPO_ROOT, "target", "debug", "keeper"))
    if not os.path.isabs(b):
        b = os.path.join(REPO_ROOT, b)
    return b


def _die_with_parent():
    """preexec_fn: ask Linux to SIGTERM the server if the test process dies (no leaked servers)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except Exception:  # noqa: BLE001 - best effort only
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def four_letter(host: str, port: int, word: str, timeout: float = 5.0) -> str:
    """Send a four-letter word and return the whole answer (server closes after it)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(word.encode("ascii"))
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks).decode("utf-8", "replace")


@dataclass
class ServerOptions:
    tick_time: int = 500  # ms
    extended_types: bool = False  # TTL nodes
    super_digest: str | None = None  # "super:<base64 sha1>"
    four_letter_words: str = "*"
    container_check_interval_ms: int | None = None  # how often containers/TTL nodes are reaped
    max_client_cnxns: int | None = None
    extra_zk_cfg: dict = field(default_factory=dict)
    extra_keeper_set: dict = field(default_factory=dict)
    # more jars for ZooKeeper (e.g. Netty, which its TLS port needs)
    zk_classpath_extra: list = field(default_factory=list)
    # ZooKeeper's heap (-Xmx): its whole tree lives there
    zk_heap: str = "256m"


class Server:
    def __init__(self, kind: str, opts: ServerOptions | None = None, name: str = "server"):
        self.kind = kind
        self.opts = opts or ServerOptions()
        self.name = name
        self.host = "127.0.0.1"
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.tmpdir = tempfile.mkdtemp(prefix=f"compat-{kind}-")
        self.data_dir = os.path.join(self.tmpdir, "data")
        os.makedirs(self.data_dir)
        self.log_path = os.path.join(self.tmpdir, "server.log")
        self.cfg_path = os.path.join(self.tmpdir, "zoo.cfg")
        self._log = None

    # -- helpers -----------------------------------------------------------
    @property
    def hosts(self) -> str:
        return f"{self.host}:{self.port}"

    def zoo_cfg(self) -> str:
        o = self.opts
        lines = [
            f"tickTime={o.tick_time}",
            f"dataDir={self.data_dir}",
            f"clientPort={self.port}",
            f"clientPortAddress={self.host}",
            f"4lw.commands.whitelist={o.four_letter_words}",
            "admin.enableServer=false",
        ]
        if o.extended_types:
            lines.append("extendedTypesEnabled=true")
        if o.super_digest:
            lines.append(f"DigestAuthenticationProvider.superDigest={o.super_digest}")
        if o.max_client_cnxns is not None:
            lines.append(f"maxClientCnxns={o.max_client_cnxns}")
        for k, v in o.extra_zk_cfg.items():
            lines.append(f"{k}={v}")
        return "\n".join(lines) + "\n"

    def command(self) -> list[str]:
        o = self.opts
        if self.kind == "zookeeper":
            java = os.environ.get("JAVA", "java")
            cp = os.environ.get("ZK_CLASSPATH", DEFAULT_ZK_CLASSPATH)
            if o.zk_classpath_extra:
                cp = ":".join([cp, *o.zk_classpath_extra])
            props = [
                f"-Xmx{o.zk_heap}",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-Dzookeeper.admin.enableServer=false",
            ]
            if o.container_check_interval_ms is not None:
                props.append(f"-Dznode.container.checkIntervalMs={o.container_check_interval_ms}")
            return [java, *props, "-cp", cp, "org.apache.zookeeper.server.ZooKeeperServerMain", self.cfg_path]
        # keeper
        cmd = [keeper_bin(), "server"]
        if os.environ.get("KEEPER_CONFIG_MODE", "set") == "zoocfg":
            cmd += ["--config", self.cfg_path]
            if o.container_check_interval_ms is not None and CONTAINER_KEY:
                cmd += ["--set", f"{CONTAINER_KEY}={o.container_check_interval_ms}"]
        else:
            sets = {
                "client.port": self.port,
                "client.address": self.host,
                "storage.data_dir": self.data_dir,
                "server.tick_time": o.tick_time,
                "server.four_letter_words": o.four_letter_words,
            }
            if o.extended_types:
                sets["server.extended_types_enabled"] = "true"
            if o.super_digest:
                sets["server.super_digest"] = o.super_digest
            if o.container_check_interval_ms is not None and CONTAINER_KEY:
                sets[CONTAINER_KEY] = o.container_check_interval_ms
            if o.max_client_cnxns is not None:
                sets["server.max_client_cnxns"] = o.max_client_cnxns
            sets.update(o.extra_keeper_set)
            for k, v in sets.items():
                cmd += ["--set", f"{k}={v}"]
        cmd += shlex.split(os.environ.get("KEEPER_EXTRA_ARGS", ""))
        return cmd

    # -- lifecycle ---------------------------------------------------------
    def start(self, timeout: float | None = None) -> "Server":
        if timeout is None:
            timeout = float(os.environ.get("COMPAT_START_TIMEOUT", "40"))
        if self.kind == "keeper" and not os.access(keeper_bin(), os.X_OK):
            raise RuntimeError(f"keeper binary not found at {keeper_bin()} (set KEEPER_BIN or run cargo build)")
        last_err = None
        for _attempt in range(3):  # the free port can be raced away; retry with a new one
            self.port = free_port()
            with open(self.cfg_path, "w") as f:
                f.write(self.zoo_cfg())
            self._log = open(self.log_path, "ab")
            env = dict(os.environ)
            env.setdefault("RUST_LOG", "info")
            env.setdefault("RUST_BACKTRACE", "1")
            self.proc = subprocess.Popen(
                self.command(),
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.tmpdir,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            try:
                self.wait_ready(timeout)
                return self
            except RuntimeError as e:
                last_err = e
                self.stop(keep_tmp=True)
                if "exited" not in str(e) or "ddress already in use" not in self.log_tail():
                    break
        raise last_err  # type: ignore[misc]

    def wait_ready(self, timeout: float):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} exited with code {self.proc.returncode} before answering ruok; "
                    f"command: {shlex.join(self.command())}\nlog tail:\n{self.log_tail()}"
                )
            try:
                if four_letter(self.host, self.port, "ruok", timeout=2.0) == "imok":
                    # ZooKeeper answers ruok before it serves sessions: also wait
                    # for a successful handshake, then close that session cleanly.
                    if self._session_ok():
                        return
                    last = "ruok ok but no session could be opened"
                else:
                    last = "ruok did not answer imok"
            except OSError as e:
                last = e
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.kind} did not answer ruok with imok on {self.hosts} within {timeout}s ({last}); "
            f"command: {shlex.join(self.command())}\nlog tail:\n{self.log_tail()}"
        )

    def _session_ok(self) -> bool:
        import rawzk

        try:
            c = rawzk.RawZK(self.host, self.port, timeout_ms=4000, io_timeout=3.0)
        except (OSError, rawzk.ConnectionClosed, TimeoutError, struct.error):
            return False
        try:
            if c.negotiated_timeout <= 0:
                return False
            c.close_session()
            return True
        except (OSError, rawzk.ConnectionClosed, TimeoutError, struct.error):
            return True
        finally:
            c.close()

    def log_tail(self, n: int = 4000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
            return data[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def pause(self):
        """SIGSTOP the server process (simulates a hung server)."""
        if self.proc:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        if self.proc:
            os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self, keep_tmp: bool = False):
        p = self.proc
        if p is not None and p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGCONT)
            except OSError:
                pass
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None
        log_dir = os.environ.get("COMPAT_LOG_DIR")
        if log_dir and os.path.exists(self.log_path):
            os.makedirs(log_dir, exist_ok=True)
            dest = os.path.join(log_dir, f"{self.name}-{self.kind}-{int(time.time()*1000)}.log")
            shutil.copy(self.log_path, dest)
        if not keep_tmp:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def start_server(kind: str | None = None, opts: ServerOptions | None = None, name: str = "server") -> Server:
    return Server(kind or target(), opts, name=name).start()
