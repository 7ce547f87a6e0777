"""Trust boundaries of the generated workflow on act: fork pull requests never reach a
self-hosted runner, and the approval job lets a rollout start only when its environment has
required reviewers (the REST API is the runner's loopback stand-in)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import run_mlgen
from tests.engines.github.runner import WorkflowRun, run_workflow
from tests.gitrepo import init_and_commit

pytestmark = [pytest.mark.engine, pytest.mark.slow]

PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
SPEC = f"""\
version: 1
name: trust
triggers: {{push: [main], pull_request: true, manual: false}}
defaults: {{python: "{PYTHON}"}}
credentials: {{write: REG_WRITE, variable: REG_TOKEN}}
stages:
  - {{name: validate, kind: validate, run: "true"}}
  - {{name: train, kind: train, run: "mkdir -p model && echo m > model/w", outputs: [model/], runner: gpu}}
  - name: register
    kind: register
    registry: command
    model: m
    path: model/
    command: {{register: 'echo "register $REG_TOKEN" >> "$DEPLOY_LOG"', promote: "true", rollback: "true"}}
  - name: canary
    kind: canary
    deploy: echo "$MLGEN_CANARY_WEIGHT" >> "$DEPLOY_LOG"
    steps: [100]
    bake: 1s
    interval: 1s
    check: "true"
    rollback: echo rollback >> "$DEPLOY_LOG"
targets:
  github: {{path: .github/workflows/mlgen.yml}}
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trust") / "repo"
    folder.mkdir()
    (folder / "mlgen.yaml").write_text(SPEC, encoding="utf-8")
    compiled = run_mlgen("compile", cwd=folder)
    assert compiled.code == 0, compiled.err
    init_and_commit(folder)
    return folder


def _run(repo: Path, tmp_path: Path, **kw: object) -> tuple[WorkflowRun, list[str]]:
    log = tmp_path / "deploy.log"
    run = run_workflow(repo, Path(".github/workflows/mlgen.yml"), env={"PIP_NO_INDEX": "1", "DEPLOY_LOG": str(log)},
                       secrets={"REG_WRITE": "w-token"}, cache_dir=tmp_path / "cache", artifact_dir=tmp_path / "art",
                       timeout=600, **kw)  # type: ignore[arg-type]
    return run, (log.read_text().splitlines() if log.is_file() else [])


@pytest.mark.parametrize(("fork", "train"), [(False, "passed"), (True, "skipped")], ids=["same-repository", "fork"])
def test_a_fork_pull_request_never_reaches_the_self_hosted_runner(repo: Path, tmp_path: Path, fork: bool, train: str) -> None:
    run, log = _run(repo, tmp_path, event="pull_request", ref="refs/pull/1/merge", fork=fork)
    assert run.result("validate") == "passed", run.stdout[-3000:]
    assert run.result("train") == train, run.stdout[-3000:]
    assert run.result("register") == "skipped" and log == []


@pytest.mark.parametrize(("unreviewed", "approval", "deployed"), [
    ((), "passed", ["register w-token", "100"]),
    (("production-approval",), "failed", ["register w-token"]),
], ids=["reviewers", "no-reviewers"])
def test_the_rollout_starts_only_behind_required_reviewers(repo: Path, tmp_path: Path, unreviewed: tuple[str, ...],
                                                           approval: str, deployed: list[str]) -> None:
    run, log = _run(repo, tmp_path, unreviewed_environments=unreviewed)
    assert run.result("canary-100-approval") == approval, run.stdout[-4000:]
    assert log == deployed, run.stdout[-4000:]
    if unreviewed:
        assert "has no required reviewers" in run.output("canary-100-approval")
        assert run.result("canary-100") == "skipped"
