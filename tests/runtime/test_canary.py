"""`mlgen canary` against a real HTTP service on loopback with a healthy and a failing mode."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlgen.runtime.canary import main, prometheus_values
from mlgen.runtime.common import RuntimeFailure, seconds


class Service:
    def __init__(self) -> None:
        self.healthy = True
        self.fail_after = 10**9  # requests served before turning unhealthy
        self.requests = 0
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's API
                service.requests += 1
                ok = service.healthy and service.requests <= service.fail_after
                if self.path == "/healthz":
                    self.send_response(200 if ok else 503)
                    body = b"ok" if ok else b"unhealthy"
                else:
                    self.send_response(200)
                    errors = 0.0 if ok else 0.4
                    body = (f"# TYPE http_request_errors_ratio gauge\nhttp_request_errors_ratio {errors}\n"
                            f'http_request_duration_p95_seconds{{route="/predict"}} 0.08\n').encode()
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def service() -> Iterator[Service]:
    svc = Service()
    thread = threading.Thread(target=svc.server.serve_forever, daemon=True)
    thread.start()
    yield svc
    svc.server.shutdown()
    svc.server.server_close()


def _deploy(tmp_path: Path) -> str:
    return f'echo "weight=$MLGEN_CANARY_WEIGHT" >> {tmp_path}/deploy.log'


def test_healthy_step_bakes_and_checks_repeatedly(service: Service, tmp_path: Path) -> None:
    code = main(["step", "--weight", "10", "--deploy", _deploy(tmp_path), "--bake", "600ms", "--interval", "100ms",
                 "--check-url", f"{service.url}/healthz"])
    assert code == 0
    assert (tmp_path / "deploy.log").read_text() == "weight=10\n"
    assert service.requests >= 4, "the check runs repeatedly during the bake"


def test_fails_fast_on_the_first_bad_check(service: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    service.fail_after = 2
    code = main(["step", "--weight", "50", "--deploy", _deploy(tmp_path), "--bake", "30s", "--interval", "50ms",
                 "--check-url", f"{service.url}/healthz"])
    assert code == 1
    assert service.requests == 3, "stops at the first failing check, long before the bake ends"
    assert "answered HTTP 503" in capsys.readouterr().err


def test_prometheus_thresholds(service: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["step", "--weight", "100", "--deploy", _deploy(tmp_path), "--bake", "100ms", "--interval", "50ms",
            "--check-url", f"{service.url}/metrics", "--threshold", "http_request_errors_ratio:max=0.05",
            "--threshold", "http_request_duration_p95_seconds:max=0.1"]
    assert main(args) == 0
    service.healthy = False
    assert main(args) == 1
    assert "http_request_errors_ratio = 0.4 is above 0.05" in capsys.readouterr().err
    service.healthy = True
    assert main([*args[:-4], "--threshold", "http_errors:max=1"]) == 1
    assert "did you mean `http_request_errors_ratio`?" in capsys.readouterr().err


def test_check_command_and_failed_deploy(tmp_path: Path) -> None:
    flag = tmp_path / "bad"
    check = f"test ! -e {flag}"
    assert main(["step", "--weight", "10", "--deploy", "true", "--bake", "50ms", "--interval", "10ms", "--check", check]) == 0
    flag.touch()
    assert main(["step", "--weight", "10", "--deploy", "true", "--bake", "50ms", "--interval", "10ms", "--check", check]) == 1
    assert main(["step", "--weight", "10", "--deploy", "exit 3", "--bake", "50ms", "--check", "true"]) == 1


def test_rollback_runs_the_command(tmp_path: Path) -> None:
    assert main(["rollback", "--rollback", f"echo rolled >> {tmp_path}/log"]) == 0
    assert (tmp_path / "log").read_text() == "rolled\n"
    assert main(["rollback", "--rollback", "exit 1"]) == 1


def test_inputs() -> None:
    assert seconds("1h30m") == 5400 and seconds("200ms") == 0.2 and seconds("1.5s") == 1.5
    with pytest.raises(RuntimeFailure, match="not a duration"):
        seconds("ten minutes")
    assert prometheus_values('a 1\nb{x="1 2"} 2\nb{x="3"} 3\n# c 9\n') == {"a": 1.0, "b": 5.0}
    with pytest.raises(RuntimeFailure, match="needs a health signal"):
        main(["step", "--weight", "10", "--deploy", "true"])
