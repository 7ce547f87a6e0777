"""`defaults.installer: uv` runs on gitlab-ci-local: the jobs install mlgen with `uv pip install` into
their own Python, run the project's set-up after uv is there, and fill uv's cache inside the project."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import run_mlgen
from tests.engines.gitlab.runner import run_pipeline
from tests.gitrepo import init_and_commit

pytestmark = [pytest.mark.engine, pytest.mark.slow]

SPEC = """\
version: 1
name: uvrun
defaults:
  python: "3.11"
  installer: uv
  setup: python -m uv pip install --system -r requirements.txt
  requirements: [requirements.txt]
stages:
  - {name: check, kind: validate, run: 'python -c "import mlgen, six; print(123 * 3)"', contract: contract.yaml, data: [data.csv]}
"""

CONTRACT = """\
columns:
  x: {dtype: int, min: 0}
"""


def test_gitlab_jobs_install_with_uv_and_keep_its_cache_in_the_project(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "mlgen.yaml").write_text(SPEC, encoding="utf-8")
    (repo / "requirements.txt").write_text("six\n", encoding="utf-8")  # installed here already: uv audits it offline
    (repo / "contract.yaml").write_text(CONTRACT, encoding="utf-8")
    (repo / "data.csv").write_text("x\n1\n2\n", encoding="utf-8")
    compiled = run_mlgen("compile", cwd=repo)
    assert compiled.code == 0, compiled.err
    init_and_commit(repo)
    # Offline, as in the other engine runs: mlgen-ci and its extras are installed on this host, so uv
    # only checks them; a missing package would fail the job rather than download.
    run = run_pipeline(repo, variables={"UV_OFFLINE": "1", "PIP_NO_INDEX": "1"}, timeout=300)
    log = run.output("check")
    assert run.result("check") == "passed", run.stdout[-3000:]
    assert "369" in log
    # gitlab-ci-local shows a multi-line entry by its first line. The mlgen install asks first whether
    # mlgen-ci[data] is current (it is, on this host: uv is not even needed for it); the set-up
    # brings uv and runs it into the job's interpreter.
    assert "$ if ! python -m mlgen.runtime.current 'mlgen-ci[data]==" in log, log[-2000:]
    assert log.count("-m uv --version >/dev/null 2>&1 || python -m pip install 'uv==") == 1, log[-2000:]
    assert "Using Python 3.11" in log  # uv's own words: the set-up went into the job's interpreter
    assert "Collecting" not in log and "Requirement already satisfied" not in log  # pip never ran
    caches = [p.name for p in (repo / ".gitlab-ci-local" / "cache-protected").iterdir()]
    assert any(re.fullmatch(r"\d+_uv-3\.11-[0-9a-f]{40}", name) for name in caches), caches
