"""Conventions every runtime command keeps: one parser style (error + hint, exit 1, never argparse's
2, which means "drift"), listed in `mlgen --help`, SIGTERM exits 143, and the cache guard's exit codes."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlgen import errhandler
from mlgen.__main__ import RUNTIME_COMMANDS
from mlgen.compile.plan import Cache, Command, Job
from mlgen.runtime.cache.command import MISS
from mlgen.runtime.cli import build_parser
from mlgen.targets.cacheguard import guard
from tests.runtime.conftest import subprocess_env


def _command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command the runtime parser knows, read from the parser itself."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [prefix]
    paths = [prefix] if prefix else []  # a group (`mlgen cache`) is a command line too
    for name, child in subs[0].choices.items():
        paths += _command_paths(child, (*prefix, name))
    return paths


PATHS = _command_paths(build_parser())


def mlgen(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlgen", *args], cwd=cwd, capture_output=True, text=True,
                          env=subprocess_env(), timeout=120)


def test_every_runtime_command_is_dispatched_and_listed(tmp_path: Path) -> None:
    assert {p[0] for p in PATHS} == set(RUNTIME_COMMANDS)
    assert ("cache", "hit") in PATHS and ("cache", "save") in PATHS
    help_text = mlgen("--help", cwd=tmp_path).stdout
    for name in RUNTIME_COMMANDS:
        assert f"\n  {name} " in help_text or f"\n│ {name} " in help_text, name


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) for p in PATHS])
@pytest.mark.parametrize("bad", [["--no-such-flag"], ["--stage"]], ids=["unknown flag", "flag without value"])
def test_a_usage_error_exits_1_with_error_and_hint(tmp_path: Path, path: tuple[str, ...], bad: list[str]) -> None:
    done = mlgen(*path, *bad, cwd=tmp_path)
    assert done.returncode == errhandler.USER_ERROR, (done.returncode, done.stderr)
    assert done.stderr.startswith("error: ") and "\n  hint: " in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "usage:" not in done.stderr


@pytest.mark.parametrize("args", [["gate", "--on-missing-baseline", "maybe"], ["canary", "step", "--weight", "ten"],
                                  ["cache", "hit", "--stage", "t", "--key", "!x", "--path", "m"],
                                  ["cache", "hit", "--stage", "t", "--key", "../x", "--path", "m"]])
def test_bad_values_exit_1_too(tmp_path: Path, args: list[str]) -> None:
    done = mlgen(*args, cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.startswith("error: ") and "hint: " in done.stderr, done.stderr


# --- SIGTERM (what CI sends on cancel or timeout) -------------------------------------------------

def _wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("where", ["deploy command", "bake"])
def test_sigterm_exits_143_without_a_traceback_and_stops_the_command(tmp_path: Path, where: str) -> None:
    pid_file, checked = tmp_path / "pid", tmp_path / "checked"
    deploy = f"echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && exec sleep 60" if where == "deploy command" else "true"
    args = ["canary", "step", "--weight", "10", "--deploy", deploy, "--bake", "60s", "--interval", "30s",
            "--check", f"touch {checked}"]
    proc = subprocess.Popen([sys.executable, "-m", "mlgen", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=subprocess_env())
    try:
        _wait_for(pid_file if where == "deploy command" else checked, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == errhandler.TERMINATED == 143, err
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    if where == "deploy command":
        assert not _alive(int(pid_file.read_text())), "the deploy command outlived the cancelled step"


# --- the generated cache guard, run by a real shell -----------------------------------------------

def _guard_script() -> str:
    job = Job(id="train", stage="train", kind="train", title="train", needs=(), runner=(), timeout_minutes=10, retries=0,
              commands=(Command("train", "echo trained >> trainings.log\nmkdir -p model && echo m > model/m.txt",
                                skip_on_cache_hit=True),),
              cache=Cache(prefix="p", key_files=("data/**",), paths=("model/",), guard_install="mlgen-ci"))
    return guard("echo trained >> trainings.log\nmkdir -p model && echo m > model/m.txt", job, None)


def _run_guard(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "mlgen"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mlgen "$@"\n')
    wrapper.chmod(0o755)
    env = {**subprocess_env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=tmp_path / "repo", capture_output=True, text=True,
                          env=env, timeout=120)


def test_the_guard_trains_on_a_miss_skips_on_a_hit_and_fails_on_an_error(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "train.csv").write_text("a\n1\n")
    script = _guard_script()
    trainings = repo / "trainings.log"
    assert _run_guard(tmp_path, script).returncode == 0  # no saved key: a miss
    assert trainings.read_text() == "trained\n"
    hit = _run_guard(tmp_path, script)
    assert hit.returncode == 0 and "reusing the cached outputs" in hit.stdout
    assert trainings.read_text() == "trained\n"
    (repo / "data" / "train.csv").write_text("a\n1\n2\n")
    assert _run_guard(tmp_path, script).returncode == 0
    assert trainings.read_text() == "trained\n" * 2
    (repo / "data" / "broken").symlink_to(repo / "nowhere")  # the key cannot be computed: an error, not a miss
    failed = _run_guard(tmp_path, script)
    assert failed.returncode == 1 and "broken symbolic link" in failed.stderr
    assert trainings.read_text() == "trained\n" * 2, "an error in `mlgen cache hit` must not retrain"


def test_a_miss_is_not_an_error_code() -> None:
    assert MISS not in (errhandler.OK, errhandler.USER_ERROR, errhandler.DRIFT, errhandler.BUG,
                        errhandler.INTERRUPTED, errhandler.TERMINATED)
