"""Servers the tests start stop when the test process dies, even by SIGKILL (`tests.support.tied`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support import ROOT

# A test process that starts a "server" (which starts a worker of its own, as `mlflow server` does),
# prints both pids, and waits to be killed.
TEST_PROCESS = """
import subprocess, sys, time
from tests.support import die_with_parent, tied
server = [sys.executable, "-c", "import subprocess, time; w = subprocess.Popen(['sleep', '300']); print(w.pid, flush=True); time.sleep(300)"]
proc = subprocess.Popen(tied(server) if sys.argv[1] == "tied" else server, stdout=subprocess.PIPE, text=True,
                        start_new_session=True, preexec_fn=die_with_parent if sys.argv[1] == "tied" else None)
print(proc.pid, proc.stdout.readline().strip(), flush=True)
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        state = next(line for line in status.read_text().splitlines() if line.startswith("State:"))
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "zombie" not in state


def _orphans_after_kill(mode: str, wait: float) -> list[int]:
    test = subprocess.Popen([sys.executable, "-c", TEST_PROCESS, mode], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert test.stdout is not None
    pids = [int(p) for p in test.stdout.readline().split()]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    test.kill()  # SIGKILL: no atexit, no fixture teardown
    test.wait()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if _alive(p)]
    for pid in left:
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    return left


def test_a_tied_server_and_its_workers_stop_when_the_test_process_is_killed() -> None:
    assert _orphans_after_kill("tied", wait=20) == []


def test_without_it_they_outlive_the_test_process() -> None:
    """The control: what `tied` prevents does happen (so the test above can fail)."""
    assert len(_orphans_after_kill("plain", wait=2)) == 2
