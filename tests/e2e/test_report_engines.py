"""The review report on the three real engines: one comment per pull/merge request, edited in place.

A small project (one evaluate stage) is compiled into all three configs. Each engine runs a
pull/merge request pipeline three times against a loopback stand-in of the GitHub or GitLab API
(`tests/runtime/fakeapi.py`, which checks every request against the published API description):

1. the gate passes: the report job posts exactly one comment;
2. a new commit makes the gate fail: the report job still runs, and edits that comment;
3. a fork-like run (no token; on Jenkins, no such credential): nothing is posted, and the report
   job itself does not fail.

No request leaves loopback: every API address the runtime could use points at the stand-in.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gitrepo import git, init_and_commit
from tests.runtime.fakeapi import FakeApi, serve

pytestmark = [pytest.mark.engine, pytest.mark.e2e]

MARKER = "<!-- mlgen-report:rep:evaluate -->"
SPEC = """\
version: 1
name: rep
defaults: {python: "3.11"}
stages:
  - {name: evaluate, kind: evaluate, run: python eval.py, metrics: metrics.json, gates: {auc: {min: 0.5}}}
report: {gitlab_token: MR_NOTES_TOKEN, jenkins_credential: report-token}
"""
EVAL = """\
import json, pathlib
score = float(pathlib.Path("score.txt").read_text())
pathlib.Path("metrics.json").write_text(json.dumps({"auc": score, "rows": 100}))
"""
BASE_ENV = {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@dataclass
class Outcome:
    evaluate: str  # passed / failed
    report: str  # passed / failed / skipped
    log: str


def project(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir(parents=True)
    (repo / "mlgen.yaml").write_text(SPEC)
    (repo / "eval.py").write_text(EVAL)
    (repo / "score.txt").write_text("0.8\n")
    subprocess.run([sys.executable, "-m", "mlgen", "compile"], cwd=repo, check=True, capture_output=True)
    init_and_commit(repo, "report")
    git(repo, "checkout", "-qb", "feature/model")
    return repo


def regress(repo: Path) -> None:
    (repo / "score.txt").write_text("0.3\n")
    git(repo, "commit", "-qam", "a worse model")


# -- one function per engine: run the merge request pipeline once ----------------------------

def run_github(repo: Path, api: FakeApi, token: str | None, root: Path) -> Outcome:
    from tests.engines.github.runner import run_workflow

    env = {**BASE_ENV, "GITHUB_API_URL": api.api}
    run = run_workflow(repo, Path(".github/workflows/mlgen.yml"), event="pull_request", ref="refs/heads/feature/model",
                       secrets={"GITHUB_TOKEN": token} if token else {}, env=env,
                       cache_dir=root / "gh-cache", artifact_dir=root / "gh-artifacts", timeout=600)
    return Outcome(run.result("evaluate"), run.result("evaluate-report"), run.stdout[-8000:])


def run_gitlab(repo: Path, api: FakeApi, token: str | None, root: Path) -> Outcome:
    from tests.engines.gitlab.runner import run_pipeline

    # GitLab sets GITLAB_CI=true in every job; gitlab-ci-local does not, so the test does.
    variables = {**BASE_ENV, "GITLAB_CI": "true", "CI_API_V4_URL": api.api, "MR_NOTES_TOKEN": token or ""}
    run = run_pipeline(repo, branch="feature/model", merge_request=True, variables=variables, timeout=600)
    return Outcome(run.result("evaluate"), run.result("evaluate-report"), run.stdout[-8000:])


def run_jenkins(repo: Path, api: FakeApi, token: str | None, root: Path) -> Outcome:
    from tests.engines.jenkins.runner import run_jenkinsfile

    # A multibranch build of a GitHub pull request: CHANGE_URL names it, the API is the stand-in.
    env = {**BASE_ENV, "CHANGE_URL": "https://github.com/mlgen-tests/repo/pull/1", "GITHUB_API_URL": api.api}
    run = run_jenkinsfile(repo / "Jenkinsfile", repo, branch="feature/model", change_request=True,
                          credentials={"report-token": token} if token else {}, env=env, stash_dir=root / "stash", timeout=600)
    evaluate = run.statuses().get("evaluate", "skipped")
    # The report is the evaluate stage's post: it ran when it printed, and failed if the stage's post did.
    report = "passed" if "mlgen report: wrote" in run.stdout else "skipped"
    post = run.stage("evaluate").get("post", {}).get("always")
    if post == "failed":
        report = "failed"
    return Outcome(evaluate, report, run.log[-8000:])


ENGINES: dict[str, tuple[Callable[[Path, FakeApi, str | None, Path], Outcome], Callable[[], FakeApi]]] = {
    "github": (run_github, lambda: FakeApi("github")),
    "gitlab": (run_gitlab, lambda: FakeApi("gitlab", prefix="/api/v4")),
    "jenkins": (run_jenkins, lambda: FakeApi("github", prefix="/api/v3")),
}


@pytest.mark.parametrize("engine", list(ENGINES))
def test_one_comment_per_request_edited_in_place_and_a_fork_falls_back(engine: str, tmp_path: Path) -> None:
    run, make_api = ENGINES[engine]
    api = make_api()
    repo = project(tmp_path)
    with serve(api):
        first = run(repo, api, api.token, tmp_path)
        assert (first.evaluate, first.report) == ("passed", "passed"), first.log
        assert [c.method for c in api.writes()] == ["POST"], first.log
        assert len(api.comments) == 1 and api.comments[0]["body"].startswith(MARKER)
        body = api.comments[0]["body"]

        regress(repo)
        second = run(repo, api, api.token, tmp_path)
        # a failed gate is exactly what the reviewer must see: the report runs and edits its comment
        assert (second.evaluate, second.report) == ("failed", "passed"), second.log
        assert [c.method for c in api.writes()] == ["POST", "PATCH" if api.kind == "github" else "PUT"], second.log
        assert len(api.comments) == 1 and api.comments[0]["body"] != body
        assert "0.3" in api.comments[0]["body"]

        calls = len(api.calls)
        fork = run(repo, api, None, tmp_path)
        assert fork.report == "passed", fork.log  # no token: the report falls back, it never fails
        assert len(api.calls) == calls, "a run without a token asked the API"
        assert len(api.comments) == 1
    assert api.violations == []

