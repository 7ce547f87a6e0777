"""A pipeline the engine (or the platform) refuses must fail the test, never read as "all jobs skipped"."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import init_and_commit

pytestmark = pytest.mark.engine


def _repo(tmp_path: Path, name: str, text: str) -> Path:
    repo = tmp_path / "repo"
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text(text, encoding="utf-8")
    init_and_commit(repo, "refusal")
    return repo


def test_gitlab_invalid_pipeline_raises(tmp_path: Path) -> None:
    from tests.engines.gitlab.runner import PipelineError, run_pipeline

    repo = _repo(tmp_path, ".gitlab-ci.yml", "build:\n  script: [echo hi]\n  needs: [no-such-job]\n")
    with pytest.raises(PipelineError):
        run_pipeline(repo, timeout=120)


def test_gitlab_need_on_a_job_rules_leave_out_raises(tmp_path: Path) -> None:
    """gitlab-ci-local would run this; GitLab refuses to create the pipeline on a feature branch."""
    from tests.engines.gitlab.runner import PipelineError, plan_pipeline

    text = ("register:\n  script: [echo r]\n  rules:\n    - if: $CI_COMMIT_BRANCH == \"main\"\n"
            "after:\n  script: [echo a]\n  needs: [register]\n")
    repo = _repo(tmp_path, ".gitlab-ci.yml", text)
    assert plan_pipeline(repo, branch="main").jobs == {"register": "on_success", "after": "on_success"}
    with pytest.raises(PipelineError, match="'after' job needs 'register' job, but 'register' is not in any previous stage"):
        plan_pipeline(repo, branch="feature/x")


def test_github_invalid_workflow_raises(tmp_path: Path) -> None:
    from tests.engines.github.runner import WorkflowRefused, run_workflow

    text = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    needs: [no-such-job]\n    steps:\n      - run: echo hi\n"
    repo = _repo(tmp_path, ".github/workflows/w.yml", text)
    with pytest.raises(WorkflowRefused):
        run_workflow(repo, Path(".github/workflows/w.yml"), cache_dir=tmp_path / "c", artifact_dir=tmp_path / "a", timeout=120)


def test_jenkins_refused_pipeline_has_no_statuses(tmp_path: Path) -> None:
    from tests.engines.jenkins.runner import PipelineRefused, run_jenkinsfile

    jenkinsfile = tmp_path / "Jenkinsfile"
    jenkinsfile.write_text("pipeline {\n  agent any\n  stages {\n    stage('a') {\n      stepz { sh 'true' }\n    }\n  }\n}\n")
    run = run_jenkinsfile(jenkinsfile, tmp_path)
    assert run.result == "HARNESS_ERROR", run.log
    with pytest.raises(PipelineRefused):
        run.statuses()
