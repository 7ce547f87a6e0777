"""One shell on every target: bash, with errexit and pipefail, checked on the real engines.

Table-driven: each row is a script and whether the job must pass. A failing command in the middle
of a pipe must fail the job on act (GitHub), gitlab-ci-local (GitLab) and the Jenkins harness alike,
and bash-only syntax (`source`, `[[ ]]`, arrays) must work on all three.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.engines.github.runner import run_workflow
from tests.engines.gitlab.runner import run_pipeline
from tests.engines.jenkins.runner import run_jenkinsfile
from tests.support import init_and_commit, run_mlgen

pytestmark = pytest.mark.engine

SCRIPTS = {
    # name: (script, must pass)
    "pipe-fails-in-the-middle": ("false | cat\necho 'after the pipe'", False),
    "pipe-fails-at-the-end": ("echo hi | false\necho 'after the pipe'", False),
    "errexit": ("false\necho 'after false'", False),
    "bash-only-syntax": ("printf 'X=1\\n' > vars.sh\nsource ./vars.sh\n[[ $X == 1 ]]\nA=(a b)\n"
                         "test \"${#A[@]}\" = 2\necho hi | cat", True),
}


def _spec(names: list[str]) -> str:
    stages = "".join(f"  - {{name: {name}, kind: validate, needs: [], run: {_yaml(SCRIPTS[name][0])}}}\n" for name in names)
    return f"version: 1\nname: shell\ntriggers: {{push: [main], pull_request: false, manual: false}}\nstages:\n{stages}"


def _yaml(text: str) -> str:
    import json

    return json.dumps(text)  # JSON strings are YAML flow scalars


def _repo(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mlgen.yaml").write_text(_spec(names), encoding="utf-8")
    compiled = run_mlgen("compile", cwd=folder)
    assert compiled.code == 0, compiled.err
    init_and_commit(folder)
    return folder


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _repo(tmp_path_factory.mktemp("shell"), list(SCRIPTS))


def _expected() -> dict[str, str]:
    return {name: "passed" if ok else "failed" for name, (_, ok) in SCRIPTS.items()}


def test_github(repo: Path, tmp_path: Path) -> None:
    run = run_workflow(repo, Path(".github/workflows/mlgen.yml"), cache_dir=tmp_path / "cache", artifact_dir=tmp_path / "art")
    assert {name: run.jobs.get(name) for name in SCRIPTS} == _expected(), run.stdout[-3000:]


def test_gitlab(repo: Path, tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(repo, copy)
    run = run_pipeline(copy)
    assert {name: run.result(name) for name in SCRIPTS} == _expected(), run.stdout[-3000:]


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_jenkins(name: str, tmp_path: Path) -> None:
    # Jenkins runs stages one after another and skips the rest after a failure: one stage per build.
    repo = _repo(tmp_path / "repo", [name])
    run = run_jenkinsfile(repo / "Jenkinsfile", repo)
    status = run.statuses().get(name)
    assert status == _expected()[name], run.stdout[-3000:]
