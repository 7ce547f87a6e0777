"""The training-cache guard that GitLab and Jenkins jobs run, executed: it reuses outputs only for
unchanged key-file *contents*.

GitLab's and Jenkins' caches restore by a fixed key, so the generated script itself decides hit or
miss (`mlgen cache hit`). The script is taken from freshly compiled output and run with the
target's shell in a scratch workspace that plays consecutive pipeline runs (the restored cache
is the workspace left by the previous run).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlgen.drift import header
from mlgen.targets import yamlout
from tests import validators
from tests.support import compile_dict


def spec(data_key: str = "data/*.csv") -> dict[str, Any]:
    return {"version": 1, "name": "cached",
            "stages": [{"name": "train", "kind": "train", "outputs": ["model/"], "cache": {"key": [data_key, "params.yaml"]},
                        "run": 'mkdir -p model && cat data/*.csv > model/model.txt && echo trained >> "$TRAIN_LOG"'}]}


# `data/**` is the form the README and examples use. On Python < 3.13, Path.glob("data/**")
# yields only directories, so `mlgen cache` hashed no data file at all.
KEYS = ["data/*.csv", "data/*", "data/**"]


def guard_script(target: str, tmp_path: Path, data_key: str) -> str:
    outputs = compile_dict(spec(data_key), tmp_path / "spec")
    text = header.body(outputs[target]) if target == "jenkins" else outputs[target]
    scripts = [s for s in validators.shell_bodies(target, text) if "mlgen cache hit" in s]
    assert len(scripts) == 1, scripts
    return scripts[0]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "data").mkdir(parents=True)
    (ws / "data" / "a.csv").write_text("x,y\n1,0\n")
    (ws / "params.yaml").write_text("depth: 3\n")
    (ws / "README.md").write_text("not a key file\n")
    bin_dir = tmp_path / "bin"  # `mlgen` as the job would find it: the package under test
    bin_dir.mkdir()
    (bin_dir / "mlgen").write_text(f'#!/bin/sh\nexec {sys.executable} -m mlgen "$@"\n')
    (bin_dir / "mlgen").chmod(0o755)
    return ws


@pytest.mark.parametrize("data_key", KEYS)
@pytest.mark.parametrize("target", ["gitlab", "jenkins"])
def test_guard_reuses_outputs_only_for_unchanged_contents(target: str, data_key: str, workspace: Path, tmp_path: Path) -> None:
    script = guard_script(target, tmp_path, data_key)
    # GitLab runs scripts with bash; Jenkins' `sh` runs `/bin/sh -xe` unless the script names its
    # interpreter on a shebang line, as every generated body does.
    first = script.splitlines()[0]
    shell = (["bash", "-eo", "pipefail", "-c"] if target == "gitlab"
             else [*first[2:].split(), "-c"] if first.startswith("#!") else ["sh", "-xe", "-c"])
    log = tmp_path / "train.log"
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "TRAIN_LOG": str(log)}

    def run() -> int:
        proc = subprocess.run([*shell, script], cwd=workspace, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return len(log.read_text().splitlines()) if log.is_file() else 0

    assert run() == 1, "first run: nothing cached, it trains"
    assert run() == 1, "same inputs: a hit, no training"
    (workspace / "README.md").write_text("edited, but not a key file\n")
    assert run() == 1, "a file outside the key does not invalidate the cache"
    (workspace / "data" / "a.csv").write_text("x,y\n1,1\n")  # same size, same name, other contents
    assert run() == 2, "changed data contents must retrain"
    assert (workspace / "model" / "model.txt").read_text() == "x,y\n1,1\n"
    assert run() == 2
    (workspace / "params.yaml").write_text("depth: 4\n")
    assert run() == 3, "each key pattern counts"
    (workspace / "data" / "b.csv").write_text("x,y\n")
    assert run() == 4, "a new file under a key glob counts"
    shutil.rmtree(workspace / "model")
    assert run() == 5, "missing outputs cannot be reused"


def test_gitlab_cache_key_separates_matrix_legs(tmp_path: Path) -> None:
    matrix = spec()
    matrix["stages"][0]["matrix"] = {"model": ["gb", "lr"]}
    job = yamlout.load(compile_dict(matrix, tmp_path)["gitlab"])["train"]
    caches = job["cache"] if isinstance(job["cache"], list) else [job["cache"]]  # the training cache, then pip's
    assert re.fullmatch(r"[\w.-]+-\$MODEL", caches[0]["key"]), caches[0]["key"]
    assert "--matrix-env MODEL" in job["script"][0]
