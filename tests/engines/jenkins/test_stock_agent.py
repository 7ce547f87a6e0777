"""The harness runs `sh` on a stock Debian agent, so the Jenkinsfiles mlgen emits must bring their own Python.

Table-driven: what a stock agent refuses (pip into the system Python, a bare `python`), what it
allows (a venv of its `python3.X`), then a generated Jenkinsfile run end to end on it, and the
Jenkinsfile of an earlier mlgen (system pip, bare `python`) failing there as on a real agent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.engines.jenkins.agent import STOCK_PATH, externally_managed_marker
from tests.engines.jenkins.runner import run_jenkinsfile
from tests.gitrepo import init_and_commit
from tests.support import run_mlgen

pytestmark = pytest.mark.engine

PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
STEPS = {
    # stage name: (script, must pass)
    "no bare python": ("python --version", False),
    "no pip into the system python": ("python3 -m pip install --no-index --quiet mlgen-ci", False),
    "no test-process environment": (('test -z "${PYTHONPATH:-}${VIRTUAL_ENV:-}"\n'
                                     f'test "$PATH" = "{STOCK_PATH}"'), True),
    "a venv of the agent's python": ((f"python{PYTHON} -m venv v\nv/bin/python -m pip install --quiet 'mlgen-ci'\n"
                                      "v/bin/mlgen --help >/dev/null"), True),
}


def test_the_agent_python_is_externally_managed() -> None:
    assert externally_managed_marker() is not None


@pytest.mark.parametrize("stage", sorted(STEPS))
def test_what_a_stock_agent_allows(tmp_path: Path, stage: str) -> None:
    script, ok = STEPS[stage]
    path = tmp_path / "Jenkinsfile"
    path.write_text(f"pipeline {{\n  agent any\n  stages {{\n    stage('s') {{ steps {{ sh '''#!/bin/bash -xe\n{script}''' }} }}\n"
                    "  }\n}\n", encoding="utf-8")
    run = run_jenkinsfile(path, tmp_path, env={"PIP_NO_INDEX": "1"}, timeout=300)
    assert run.result == ("SUCCESS" if ok else "FAILURE"), run.log
    if stage == "no pip into the system python":
        assert "externally-managed-environment" in run.log
    if stage == "no bare python":
        assert "python: command not found" in run.log


SPEC = f"""\
version: 1
name: stock
defaults: {{python: "{PYTHON}", setup: "python -m pip install --quiet -r requirements.txt", requirements: [requirements.txt]}}
stages:
  - {{name: validate, kind: validate, run: "python -c 'import typing_extensions' && test \\"$(command -v python)\\" = \\"$WORKSPACE/.venv/bin/python\\""}}
  - {{name: train, kind: train, run: "python -c 'import typing_extensions' && mkdir -p model && echo m > model/m.txt", outputs: [model/],
     cache: {{key: [requirements.txt]}}}}
  - {{name: evaluate, kind: evaluate, run: "echo '{{\\"auc\\": 0.9}}' > m.json", metrics: m.json, gates: {{auc: {{min: 0.5}}}}}}
targets:
  jenkins: {{path: Jenkinsfile}}
"""


def _project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "mlgen.yaml").write_text(SPEC, encoding="utf-8")
    # the project's own dependency, which the agent's system Python does not have: set-up puts it in the venv
    (folder / "requirements.txt").write_text("typing_extensions\n", encoding="utf-8")
    compiled = run_mlgen("compile", cwd=folder)
    assert compiled.code == 0, compiled.err
    init_and_commit(folder)
    return folder


def test_a_generated_jenkinsfile_runs_on_a_stock_agent_and_an_old_one_does_not(tmp_path: Path) -> None:
    repo = _project(tmp_path / "repo")
    env = {"PIP_NO_INDEX": "1"}
    run = run_jenkinsfile(repo / "Jenkinsfile", repo, env=env, agent_workspaces=tmp_path / "agents",
                          stash_dir=tmp_path / "stash", timeout=600)
    assert run.result == "SUCCESS", run.log[-6000:]
    assert run.statuses() == {"validate": "passed", "train": "passed", "evaluate": "passed"}
    # each stage made its own venv in its own workspace
    assert sorted(p.parent.name for p in (tmp_path / "agents").glob("*/*/.venv")) == ["evaluate", "train", "validate"]
    # the Jenkinsfile an earlier mlgen wrote: pip into the agent's Python, then bare `python`
    old = (repo / "Jenkinsfile").read_text(encoding="utf-8")
    old = old.replace('export VIRTUAL_ENV="$WORKSPACE/.venv" PATH="$WORKSPACE/.venv/bin:$PATH"\n', "")
    old = old.replace("python -m pip install 'mlgen-ci", "python3 -m pip install 'mlgen-ci")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "Jenkinsfile").write_text(old, encoding="utf-8")
    refused = run_jenkinsfile(tmp_path / "old" / "Jenkinsfile", repo, env=env, agent_workspaces=tmp_path / "old-agents",
                              stash_dir=tmp_path / "old-stash", timeout=600)
    assert refused.result == "FAILURE", refused.log[-4000:]
    assert "externally-managed-environment" in refused.log or "python: command not found" in refused.log
