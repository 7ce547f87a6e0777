"""The pip cache settings run on the engines: setup-python's `cache: pip` on act, the pip cache on gitlab-ci-local."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.engines.github.runner import run_workflow
from tests.engines.gitlab.runner import run_pipeline
from tests.support import init_and_commit, run_mlgen

pytestmark = [pytest.mark.engine, pytest.mark.slow]

SPEC = """\
version: 1
name: pipcache
defaults: {python: "3.11", setup: "python -m pip install -r requirements.txt", requirements: [requirements.txt]}
stages:
  - {name: check, kind: validate, run: 'python -c "print(123 * 3)"'}
"""


def _repo(folder: Path, with_requirements: bool) -> Path:
    folder.mkdir(parents=True)
    (folder / "mlgen.yaml").write_text(SPEC, encoding="utf-8")
    if with_requirements:
        (folder / "requirements.txt").write_text("# nothing to install\n", encoding="utf-8")
    compiled = run_mlgen("compile", cwd=folder)
    assert compiled.code == 0, compiled.err
    init_and_commit(folder)
    return folder


@pytest.mark.parametrize("with_requirements", [True, False], ids=["present", "missing"])
def test_github_setup_python_checks_the_requirement_files(tmp_path: Path, with_requirements: bool) -> None:
    repo = _repo(tmp_path / "repo", with_requirements)
    run = run_workflow(repo, Path(".github/workflows/mlgen.yml"), env={"PIP_NO_INDEX": "1"}, timeout=300,
                       cache_dir=tmp_path / "cache", artifact_dir=tmp_path / "artifacts")
    if with_requirements:
        assert run.result("check") == "passed", run.output("check")
        assert "369" in run.output("check")
    else:  # as on GitHub: setup-python fails when no file matches cache-dependency-path
        assert run.result("check") == "failed"
        assert "No file in" in run.output("check")


def test_gitlab_job_fills_the_pip_cache_inside_the_project(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo", True)
    run = run_pipeline(repo, variables={"PIP_NO_INDEX": "1"}, timeout=300)
    assert run.result("check") == "passed", run.stdout[-3000:]
    assert "369" in run.output("check")
    # keyed on the requirement file's content (key:files, with the Python version as prefix)
    # the runner keeps protected and unprotected caches apart, as GitLab does; main is protected
    caches = [p.name for p in (repo / ".gitlab-ci-local" / "cache-protected").iterdir()]
    assert any(re.fullmatch(r"\d+_pip-3\.11-[0-9a-f]{40}", name) for name in caches), caches
