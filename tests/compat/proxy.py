"""A small TCP proxy on 127.0.0.1 used to cut a client's connection without closing its session."""

from __future__ import annotations

import select
import socket
import threading


class Proxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.blocked = False
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        self.stopped = False
        self.accepted = 0
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept_loop(self):
        while not self.stopped:
            try:
                r, _, _ = select.select([self.lsock], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                client, _ = self.lsock.accept()
            except OSError:
                return
            if self.blocked:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, upstream))
                self.accepted += 1
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket):
        socks = [a, b]
        try:
            while not self.stopped:
                r, _, _ = select.select(socks, [], [], 0.1)
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            self._close_pair(a, b)

    def _close_pair(self, a, b):
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        with self.lock:
            self.pairs = [p for p in self.pairs if p[0] is not a]

    def drop_all(self):
        """Cut every proxied connection (both sides see a closed TCP connection)."""
        with self.lock:
            pairs = list(self.pairs)
        for a, b in pairs:
            self._close_pair(a, b)

    def block(self):
        """Refuse (accept-and-close) new connections and cut the current ones."""
        self.blocked = True
        self.drop_all()

    def unblock(self):
        self.blocked = False

    def close(self):
        self.stopped = True
        self.drop_all()
        try:
            self.lsock.close()
        except OSError:
            pass
