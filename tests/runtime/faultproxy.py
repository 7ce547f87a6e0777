"""An HTTP proxy on loopback that forwards to a real server and fails one chosen request.

`mode` says when the chosen request fails: "before" (the server never sees it) or "after" (the
server did the work, but the client gets a 500 anyway, like a connection lost on the way back).
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "te", "upgrade"}


@dataclass
class FaultPlan:
    fail_at: int | None = None  # 0-based index of the request to fail
    mode: str = "before"
    calls: list[str] = field(default_factory=list)  # "METHOD /path" of every request, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self, fail_at: int | None = None, mode: str = "before") -> None:
        with self.lock:
            self.fail_at, self.mode, self.calls = fail_at, mode, []

    def next_call(self, name: str) -> bool:
        """Record a request; True if it is the one to fail."""
        with self.lock:
            self.calls.append(name)
            return len(self.calls) - 1 == self.fail_at


def _handler(upstream: str, plan: FaultPlan) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _forward(self) -> None:
            body = self._body()
            fail = plan.next_call(f"{self.command} {self.path.split('?')[0]}")
            if fail and plan.mode == "before":
                return self._fault()
            conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
            conn.close()
            if fail:
                return self._fault()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _fault(self) -> None:
            data = json.dumps({"error_code": "INTERNAL_ERROR", "message": "injected fault"}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
            pass

    return Handler


@contextmanager
def fault_proxy(upstream: str) -> Iterator[tuple[str, FaultPlan]]:
    plan = FaultPlan()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream, plan))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", plan
    finally:
        server.shutdown()
        server.server_close()
