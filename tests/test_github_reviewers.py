"""The GitHub approval job fails closed: its first step, as generated into the churn example, run
against a loopback stand-in for the REST API's `GET /repos/{owner}/{repo}/environments/{name}`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlgen.targets import yamlout

EXAMPLE = Path(__file__).parents[1] / "examples" / "churn" / ".github" / "workflows" / "mlgen-rollout-register.yml"  # the rollout's jobs
REVIEWER = {"type": "User", "reviewer": {"login": "alice", "id": 1}}


class _Api:
    """What the stand-in answers next, and what it was asked."""

    def __init__(self) -> None:
        self.status, self.body = 200, b"{}"
        self.requests: list[tuple[str, dict[str, str]]] = []


@pytest.fixture()
def api() -> Iterator[tuple[_Api, str]]:
    state = _Api()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server interface)
            state.requests.append((self.path, dict(self.headers)))
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _check_step() -> dict[str, Any]:
    job = yamlout.load(EXAMPLE.read_text())["jobs"]["canary-10-approval"]
    step: dict[str, Any] = job["steps"][0]
    return step


def _run(url: str) -> subprocess.CompletedProcess[str]:
    step = _check_step()
    env = {"PATH": "/usr/bin:/bin", "GITHUB_API_URL": url, "GITHUB_REPOSITORY": "octo/churn", "GITHUB_TOKEN": "t0ken",
           "MLGEN_APPROVAL_ENVIRONMENT": step["env"]["MLGEN_APPROVAL_ENVIRONMENT"]}
    bash = shutil.which("bash")
    assert bash
    # `shell: bash` runs `bash --noprofile --norc -eo pipefail {0}`
    return subprocess.run([bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], env=env,
                          capture_output=True, text=True, timeout=60)


def _rules(*rules: dict[str, Any]) -> bytes:
    return json.dumps({"name": "production-approval", "protection_rules": list(rules)}).encode()


@pytest.mark.parametrize(("status", "body", "passes", "says"), [
    (200, _rules({"id": 1, "type": "required_reviewers", "prevent_self_review": True, "reviewers": [REVIEWER]}), True,
     "requires a reviewer's approval"),
    (200, _rules({"id": 2, "type": "branch_policy"}, {"id": 1, "type": "required_reviewers", "reviewers": [REVIEWER]}),
     True, "requires a reviewer's approval"),
    (200, _rules(), False, "has no required reviewers"),
    (200, b'{"name": "production-approval"}', False, "has no required reviewers"),
    (200, _rules({"id": 3, "type": "wait_timer", "wait_timer": 5}), False, "has no required reviewers"),
    (200, _rules({"id": 1, "type": "required_reviewers", "reviewers": []}), False, "has no required reviewers"),
    (200, b'{"protection_rules": "required_reviewers"}', False, "has no required reviewers"),
    (200, b"[]", False, "cannot read the protection rules"),
    (200, b"<html>not json</html>", False, "cannot read the protection rules"),
    (404, b'{"message": "Not Found"}', False, "cannot read the protection rules"),
    (403, b'{"message": "Resource not accessible by integration"}', False, "cannot read the protection rules"),
    (500, b"", False, "cannot read the protection rules"),
], ids=["reviewers", "reviewers-and-branch-policy", "no-rules", "rules-missing", "wait-timer-only", "no-reviewers-listed",
        "rules-not-a-list", "not-an-object", "not-json", "not-found", "forbidden", "server-error"])
def test_the_approval_fails_closed(api: tuple[_Api, str], status: int, body: bytes, passes: bool, says: str) -> None:
    state, url = api
    state.status, state.body = status, body
    done = _run(url)
    assert (done.returncode == 0) == passes, done.stderr
    assert says in (done.stdout + done.stderr)
    [(path, headers)] = state.requests
    assert path == "/repos/octo/churn/environments/production-approval"
    assert headers["Authorization"] == "Bearer t0ken"
    assert headers["Accept"] == "application/vnd.github+json"


def test_an_unreachable_api_fails_closed() -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = _run(f"http://127.0.0.1:{port}")
    assert done.returncode != 0
    assert "cannot read the protection rules" in done.stderr


def test_the_check_runs_in_the_reviewers_environment_before_anything_else() -> None:
    job = yamlout.load(EXAMPLE.read_text())["jobs"]["canary-10-approval"]
    assert job["environment"] == {"name": "production-approval"}
    assert job["steps"][0]["env"]["MLGEN_APPROVAL_ENVIRONMENT"] == "production-approval"
    assert job["permissions"] == {"actions": "read"}
