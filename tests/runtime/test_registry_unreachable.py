"""An MLflow server that is down or never answers fails the job soon, naming the server.

MLflow's own defaults retry for minutes without a word; mlgen bounds them (unless the user set
them) and says what it waits for. Only the outcome is asserted, with a generous process timeout.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.conftest import free_port, run_cli


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


@pytest.mark.parametrize("kind", ["closed port", "never answers"])
@pytest.mark.parametrize("command", [["registry", "show"], ["registry", "promote"],
                                     ["canary", "rollback", "--rollback", "true"]])
def test_unreachable_server_fails_soon_naming_it(kind: str, command: list[str], tmp_path: Path,
                                                 request: pytest.FixtureRequest) -> None:
    uri = f"http://127.0.0.1:{free_port()}" if kind == "closed port" else request.getfixturevalue("silent_server")
    result = run_cli(*command, "--model", "churn", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri}, timeout=150)
    assert result.code == 1, result.err
    assert f"registry: MLflow at {uri}" in result.err  # said before waiting
    assert f"error: {uri}: " in result.err and "Traceback" not in result.err


def test_the_users_own_retry_settings_are_kept(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    env = {"MLFLOW_TRACKING_URI": uri, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}
    result = run_cli("registry", "show", "--model", "churn", cwd=tmp_path, env=env, timeout=150)
    assert result.code == 1
    assert "each request waits up to 3s, 0 retries" in result.err
