"""A stand-in model service for local canary runs and tests (stdlib only).

    python service.py                        # healthy, on 127.0.0.1:$PORT (default 8765)
    python service.py --port 0 --mode failing

GET /healthz answers 200 "ok", or 503 when failing (503 Service Unavailable: what a load
balancer's readiness probe expects); GET /metrics serves Prometheus text with an error rate, a
p95 latency and the canary weight that deploy.sh recorded. The service fails when started with
--mode failing, when CANARY_FAIL=1, or while the flag file (--fail-flag, default
.mlgen/unhealthy) exists, so a test or a person can break it mid-bake: `touch .mlgen/unhealthy`.
It prints `listening on http://HOST:PORT` once it accepts connections (useful with --port 0).
"""

from __future__ import annotations

import argparse
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HEALTHY = {"http_errors_rate": 0.004, "http_request_duration_seconds_p95": 0.042}
FAILING = {"http_errors_rate": 0.31, "http_request_duration_seconds_p95": 1.9}


class Service:
    def __init__(self, mode: str, fail_flag: Path, state_dir: Path) -> None:
        self.mode, self.fail_flag, self.state_dir = mode, fail_flag, state_dir
        self.requests = {"200": 0, "503": 0}
        self.lock = threading.Lock()

    def failing(self) -> bool:
        return self.mode == "failing" or os.environ.get("CANARY_FAIL") == "1" or self.fail_flag.exists()

    def count(self, code: int) -> None:
        with self.lock:
            self.requests[str(code)] = self.requests.get(str(code), 0) + 1

    def weight(self) -> float:
        try:
            return float((self.state_dir / "canary-weight").read_text().strip())
        except (OSError, ValueError):
            return 0.0

    def metrics(self) -> str:
        values = FAILING if self.failing() else HEALTHY
        with self.lock:
            counts = dict(self.requests)
        lines = ["# HELP http_requests_total Health requests served, by status code.", "# TYPE http_requests_total counter"]
        lines += [f'http_requests_total{{code="{code}"}} {n}' for code, n in sorted(counts.items())]
        lines += ["# HELP http_errors_rate Share of failed requests over the last minute.", "# TYPE http_errors_rate gauge",
                  f"http_errors_rate {values['http_errors_rate']}",
                  "# HELP http_request_duration_seconds_p95 95th percentile request latency.",
                  "# TYPE http_request_duration_seconds_p95 gauge",
                  f"http_request_duration_seconds_p95 {values['http_request_duration_seconds_p95']}",
                  "# HELP churn_canary_weight Percent of traffic on the new model.", "# TYPE churn_canary_weight gauge",
                  f"churn_canary_weight {self.weight():g}"]
        return "\n".join(lines) + "\n"


def handler_for(service: Service) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            if self.path == "/healthz":
                code = 503 if service.failing() else 200
                service.count(code)
                self._send(code, "failing\n" if code == 503 else "ok\n", "text/plain")
            elif self.path == "/metrics":
                self._send(200, service.metrics(), "text/plain; version=0.0.4")
            else:
                self._send(404, "not found\n", "text/plain")

        def _send(self, code: int, body: str, content_type: str) -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            pass  # a request log per health check would drown the canary's own output

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=os.environ.get("PORT") or "8765",
                        help="default: $PORT or 8765; 0 picks a free port")  # argparse converts string defaults too
    parser.add_argument("--mode", choices=["healthy", "failing"], default="healthy")
    parser.add_argument("--fail-flag", type=Path, default=Path(".mlgen/unhealthy"), help="fail while this file exists")
    parser.add_argument("--state-dir", type=Path, default=Path(os.environ.get("MLGEN_STATE_DIR", ".mlgen")))
    args = parser.parse_args(argv)
    service = Service(args.mode, args.fail_flag, args.state_dir)
    server = ThreadingHTTPServer((args.host, args.port), handler_for(service))
    print(f"listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
