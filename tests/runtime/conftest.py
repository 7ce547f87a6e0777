"""Fixtures of the runtime tests: a real MLflow (SQLite, and one real server), a real HTTP service.

MLflow's first use of a database runs its migrations (seconds), so one migrated database is
made per session and each test gets a fresh copy of it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ROOT, Result, die_with_parent, tied  # Result re-exported: the runtime tests import it from here

CHURN = ROOT / "examples" / "churn"
SRC = ROOT / "src"
# Variables a CI system sets; a test run inside CI must not see its own pipeline's values.
CI_VARIABLES = ("GITHUB_", "CI_", "GIT_COMMIT", "BUILD_URL", "BUILD_TAG", "MLGEN_RUN_ID", "MLFLOW_")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own directory (reports go to ./.mlgen) with no CI variables."""
    for name in list(os.environ):
        if name.startswith(CI_VARIABLES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def runtime(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run the runtime CLI in-process (fast: MLflow and pandas are imported once per session)."""
    from mlgen.runtime.cli import main

    def run(*args: str) -> Result:
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CI_VARIABLES)}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    return {**env, **(extra or {})}


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> Result:
    """The runtime as CI runs it: a separate process (exit codes, no tracebacks, real env)."""
    proc = subprocess.run([sys.executable, "-m", "mlgen.runtime", *args], cwd=cwd, capture_output=True, text=True,
                          env=subprocess_env(env), timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


# --- MLflow ----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    uri = f"sqlite:///{path}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments()  # creates and migrates the schema
    return path


@pytest.fixture
def mlflow_uri(tmp_path: Path, mlflow_template: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite tracking + registry store in tmp_path (artifacts under tmp_path/mlruns)."""
    db = tmp_path / "mlflow.db"
    shutil.copy(mlflow_template, db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """Stop a process we started in its own session, with everything it spawned."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 (SQLite behind it, artifacts proxied by the server)."""
    import urllib.request

    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        tied([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
              "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240  # MLflow 3's server takes over a minute to start on a busy 2-core machine
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start:\n{(root / 'server.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        _stop(proc)
        log.close()


# --- the churn service -----------------------------------------------------------------------

@dataclass
class Service:
    url: str
    fail_flag: Path
    state_dir: Path

    def fail(self) -> None:
        self.fail_flag.touch()

    def heal(self) -> None:
        self.fail_flag.unlink(missing_ok=True)

    def fail_after(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self.fail)
        timer.start()
        return timer


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """examples/churn/service.py on a free loopback port; healthy until its flag file exists."""
    root = tmp_path_factory.mktemp("service")
    proc = subprocess.Popen([sys.executable, str(CHURN / "service.py"), "--port", "0", "--fail-flag", str(root / "failing"),
                             "--state-dir", str(root)], stdout=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=die_with_parent)
    try:
        assert proc.stdout is not None
        line = _first_line(proc, timeout=20)
        assert line.startswith("listening on "), line
        yield Service(line.removeprefix("listening on ").strip(), root / "failing", root)
    finally:
        _stop(proc)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def healthy(service: Service) -> Iterator[Service]:
    service.heal()
    yield service
    service.heal()


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline() if proc.stdout else ""), daemon=True)
    reader.start()
    reader.join(timeout)
    if not lines:
        pytest.fail("the churn service printed nothing within its startup time")
    return lines[0]
