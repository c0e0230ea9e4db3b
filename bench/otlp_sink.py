#!/usr/bin/env python3
"""A minimal OTLP/HTTP trace sink for benchmarks: answers every POST /v1/traces with 200 and
counts the requests and bytes, so that a traced Keeper pays its real export cost (protobuf
encoding, HTTP) without a collector installed. Usage: otlp_sink.py PORT [--stats FILE]; on
SIGTERM or SIGINT it writes the counts as JSON to FILE and exits."""

import http.server
import json
import signal
import sys
import threading

stats = {"requests": 0, "bytes": 0}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        with lock:
            stats["requests"] += 1
            stats["bytes"] += n
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    port = int(sys.argv[1])
    out = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--stats" else None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True

    # A background process of a script ignores SIGINT: SIGTERM is how it is stopped there.
    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if out:
            with open(out, "w") as f:
                json.dump(stats, f)


if __name__ == "__main__":
    main()
