"""The generated rollout on the Jenkins harness: a step that times out is rolled back, and a slow
approval never eats a step's bake.

The Jenkinsfile is compiled from a small spec; its minute timeouts are then read as seconds
(`unit: 'SECONDS'`) so the runs take seconds. Nothing else in the file is changed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from mlgen import __version__
from tests.engines.jenkins.agent import warm_venv
from tests.engines.jenkins.runner import run_jenkinsfile
from tests.support import run_mlgen

pytestmark = [pytest.mark.engine]

PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
SPEC = f"""\
version: 1
name: roll
defaults: {{python: "{PYTHON}", timeout: {{STEP_TIMEOUT}}m}}
stages:
  - {{name: validate, kind: validate, run: "true"}}
  - name: canary
    kind: canary
    registry: command
    deploy: ./deploy.sh "$MLGEN_CANARY_WEIGHT"
    steps: [50, 100]
    bake: {{BAKE}}s
    interval: 1s
    check: "true"
    rollback: ./deploy.sh rollback
targets:
  jenkins: {{path: Jenkinsfile}}
"""
DEPLOY = '#!/bin/sh\necho "$1" >> "$DEPLOY_LOG"\n'


def _project(folder: Path, step_timeout: int, bake: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "mlgen.yaml").write_text(SPEC.replace("{STEP_TIMEOUT}", str(step_timeout)).replace("{BAKE}", str(bake)))
    deploy = folder / "deploy.sh"
    deploy.write_text(DEPLOY)
    deploy.chmod(0o755)
    compiled = run_mlgen("compile", cwd=folder)
    assert compiled.code == 0, compiled.err
    warm_venv(folder, PYTHON, f"mlgen-ci=={__version__}")  # as an earlier build left it: see warm_venv
    jenkinsfile = folder / "Jenkinsfile"
    # Minutes read as seconds: the timeouts keep their ratios, the run takes seconds.
    text, count = re.subn(r"unit: 'MINUTES'", "unit: 'SECONDS'", jenkinsfile.read_text())
    assert count, "the compiled Jenkinsfile has no timeout"
    jenkinsfile.write_text(text)
    return jenkinsfile


def _run(jenkinsfile: Path, tmp_path: Path, **env: str):
    log = tmp_path / "deploy.log"
    result = run_jenkinsfile(jenkinsfile, jenkinsfile.parent, env={"PIP_NO_INDEX": "1", "DEPLOY_LOG": str(log), **env},
                             stash_dir=tmp_path / "stash", timeout=240)
    return result, (log.read_text().split() if log.is_file() else [])


# The timeouts leave a loaded machine (three test workers on two cores) room for a step's set-up
# (a warm venv's check, seconds there), so the timeout fires where each test means it to.
def test_a_step_that_times_out_mid_bake_is_rolled_back(tmp_path: Path) -> None:
    jenkinsfile = _project(tmp_path / "p", step_timeout=30, bake=120)
    result, deployed = _run(jenkinsfile, tmp_path)
    assert result.result == "ABORTED", result.log
    assert deployed == ["50", "rollback"], result.log


def test_a_slow_approval_leaves_the_bake_its_whole_timeout(tmp_path: Path) -> None:
    # The person answers after 28 s; the step has 30 s for its set-up and a 5 s bake. Were the
    # approval in the step's stage, its wait would count against those 30 s and abort the bake.
    jenkinsfile = _project(tmp_path / "p", step_timeout=30, bake=5)
    result, deployed = _run(jenkinsfile, tmp_path, MLGEN_HARNESS_INPUT_WAIT_MS="28000")
    assert "Waiting 28000 ms for a person" in result.log
    assert result.result == "SUCCESS", result.log
    assert deployed == ["50", "100"], result.log


INPUT_UNDER_TIMEOUT = """\
pipeline {
  agent none
  stages {
    stage('slow') {
      options { timeout(time: 1, unit: 'SECONDS') }
      input { message 'Go?' }
      steps { echo 'approved in time' }
    }
  }
}
"""


@pytest.mark.parametrize(("wait_ms", "expected"), [("3000", "ABORTED"), ("0", "SUCCESS")])
def test_the_harness_counts_an_input_wait_against_the_stage_timeout(tmp_path: Path, wait_ms: str, expected: str) -> None:
    jenkinsfile = tmp_path / "Jenkinsfile"
    jenkinsfile.write_text(INPUT_UNDER_TIMEOUT)
    (tmp_path / "ws").mkdir()
    result = run_jenkinsfile(jenkinsfile, tmp_path / "ws", env={"MLGEN_HARNESS_INPUT_WAIT_MS": wait_ms},
                             stash_dir=tmp_path / "stash", timeout=120)
    assert result.result == expected, result.log
    assert ("approved in time" in result.log) == (expected == "SUCCESS")


def test_retries_repeat_a_flaky_user_command_on_the_harness(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "mlgen.yaml").write_text(f"""\
version: 1
name: flaky
defaults: {{python: "{PYTHON}", retries: 1}}
stages:
  - {{name: validate, kind: validate, run: 'echo attempt >> attempts.txt; test -e once || {{ touch once; exit 1; }}'}}
targets:
  jenkins: {{path: Jenkinsfile}}
""")
    compiled = run_mlgen("compile", cwd=folder)
    assert compiled.code == 0, compiled.err
    result = run_jenkinsfile(folder / "Jenkinsfile", folder, env={"PIP_NO_INDEX": "1"}, stash_dir=tmp_path / "stash", timeout=120)
    assert result.result == "SUCCESS", result.log
    assert (folder / "attempts.txt").read_text().split() == ["attempt", "attempt"]
