"""Parse each churn output and assert what the stages mean: order, branches, approvals, rollback.

Every fixture compiles examples/churn/mlgen.yaml afresh, in this process: a test that read the
committed outputs (or asked `mlgen check`, which answers from their headers) would keep passing
after the compiler changed, until someone regenerated the examples.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mlgen.drift import header
from mlgen.targets import yamlout
from mlgen.targets.install import install_line, project_setup
from tests.support import compile_spec, flat_github, gitlab_doc

CHURN = Path(__file__).parents[1] / "examples" / "churn"


@pytest.fixture(scope="module")
def fresh() -> dict[str, str]:
    return compile_spec(CHURN / "mlgen.yaml")


@pytest.fixture(scope="module")
def gh(fresh: dict[str, str]) -> dict[str, Any]:
    return flat_github(fresh)


@pytest.fixture(scope="module")
def gl(fresh: dict[str, str]) -> dict[str, Any]:
    return gitlab_doc(fresh)  # the parent's jobs and the rollout's child jobs


@pytest.fixture(scope="module")
def jf(fresh: dict[str, str]) -> str:
    return header.body(fresh["jenkins"])


# -- GitHub Actions -----------------------------------------------------------------------------

def test_github_order(gh: dict[str, Any]) -> None:
    jobs = gh["jobs"]
    assert "needs" not in jobs["validate"]
    assert jobs["train"]["needs"] == ["validate"]
    assert jobs["evaluate"]["needs"] == ["train"]
    assert jobs["register"]["needs"] == ["evaluate"]
    assert jobs["canary-10"]["needs"] == ["register", "canary-10-approval"]
    assert jobs["canary-50"]["needs"] == ["canary-10"]
    assert jobs["canary-100"]["needs"] == ["canary-50"]
    for weight in (10, 50, 100):
        assert jobs[f"canary-{weight}-rollback"]["needs"] == [f"canary-{weight}"]


def test_github_branches_and_pull_requests(gh: dict[str, Any]) -> None:
    jobs = gh["jobs"]
    for job in ("validate", "evaluate"):
        assert "if" not in jobs[job], "validate/train/evaluate run on pull requests too"
    # train runs on the self-hosted `gpu` runner: on pull requests only from this repository, never a fork
    assert jobs["train"]["if"] == ("(github.event_name != 'pull_request' || "
                                   "github.event.pull_request.head.repo.full_name == github.repository)")
    for job in ("register", "canary-10", "canary-50", "canary-100"):
        assert jobs[job]["if"] == "github.event_name != 'pull_request' && (github.ref == 'refs/heads/main')"
    assert gh["on"]["push"] == {"branches": ["main"]}
    assert gh["on"]["schedule"] == [{"cron": "17 3 * * 1"}]
    assert "pull_request_target" not in gh["on"]


def test_github_approval_environment_and_serialised_deploys(gh: dict[str, Any], fresh: dict[str, str]) -> None:
    for job in ("canary-10", "canary-50", "canary-100", "canary-50-rollback"):
        assert gh["jobs"][job]["environment"] == {"name": "production"}
        assert "concurrency" not in gh["jobs"][job], "the call holds the lock for the whole rollout"
    # register references the environment only for the write credential that lives there
    assert gh["jobs"]["register"]["environment"] == {"name": "production"}
    main = yamlout.load(fresh["github"])["jobs"]
    assert main["rollout-register"]["concurrency"] == {"group": "deploy/production/churn", "cancel-in-progress": False, "queue": "max"}
    assert not {"register", "canary-10", "canary-100-rollback"} & set(main), "the rollout starts with register, inside the call"


def test_github_asks_for_approval_once_and_never_for_a_rollback(gh: dict[str, Any]) -> None:
    approvals = {job_id: job for job_id, job in gh["jobs"].items() if job.get("environment", {}).get("name") == "production-approval"}
    assert list(approvals) == ["canary-10-approval"], "only the approval job references the reviewers' environment"
    gate = approvals["canary-10-approval"]
    assert gate["needs"] == ["register"] and gate["if"] == gh["jobs"]["canary-10"]["if"]
    # it reads its environment's protection rules (actions: read) and runs no action
    assert gate["permissions"] == {"actions": "read"} and all("uses" not in step for step in gate["steps"])
    assert gh["jobs"]["canary-10"]["needs"] == ["register", "canary-10-approval"]


def test_github_rollback_runs_only_on_a_failed_or_cancelled_step(gh: dict[str, Any]) -> None:
    condition = gh["jobs"]["canary-50-rollback"]["if"]
    assert condition.startswith("always() && (contains(needs.*.result, 'failure') || contains(needs.*.result, 'cancelled'))")
    run = gh["jobs"]["canary-50-rollback"]["steps"][-1]["run"]
    assert run.startswith("mlgen canary rollback --rollback './deploy.sh --rollback'")


def test_github_security_posture(gh: dict[str, Any]) -> None:
    from mlgen.targets.pins import ACTIONS

    assert gh["permissions"] == {}
    pinned = {p.uses for p in ACTIONS.values()}
    for job_id, job in gh["jobs"].items():
        # the report job alone may write, to comment on the pull request (tests/test_report_job.py);
        # the approval job reads its environment's protection rules
        report = {"contents": "read", "pull-requests": "write"}
        assert job["permissions"] == ({"actions": "read"} if job_id.endswith("-approval") else report if job_id.endswith("-report")
                                      else {"contents": "read"})
        for step in job["steps"]:
            if "uses" in step:
                assert step["uses"] in pinned
            if "run" in step:
                assert "${{" not in step["run"]
            for value in step.get("env", {}).values():
                assert not value.startswith("${{ secrets.") or job["name"] in ("evaluate", "register") or "canary" in job["name"]
        checkouts = [step for step in job["steps"] if "actions/checkout@" in step.get("uses", "")]
        assert [c["with"] for c in checkouts] == ([] if job_id.endswith("-approval") else [{"persist-credentials": False}])
    # secrets only in step env, only where needed
    validate_env = [s.get("env", {}) for s in gh["jobs"]["validate"]["steps"]]
    assert all("MLFLOW_TRACKING_TOKEN" not in e for e in validate_env)


def test_github_version_comments(fresh: dict[str, str]) -> None:
    for line in (fresh["github"] + fresh["github-rollout"]).splitlines():
        if "uses: ./.github/workflows/" in line:  # the rollout's own workflow, at the caller's commit
            assert line.endswith(".yml  # zizmor: ignore[self-repository]"), line
        elif "uses: " in line:
            assert re.search(r"@[0-9a-f]{40}  # v\d+\.\d+\.\d+$", line), line


def test_github_train_cache_skips_training_and_artifacts_travel(gh: dict[str, Any]) -> None:
    steps = {s["name"]: s for s in gh["jobs"]["train"]["steps"]}
    assert steps["Restore training outputs"]["id"] == "cache"
    assert "hashFiles('data/**', 'churn/**', 'params.yaml', 'requirements.txt')" in steps["Restore training outputs"]["with"]["key"]
    assert steps["train"]["if"] == "steps.cache.outputs.cache-hit != 'true'"
    # a hit needs neither the project's set-up nor mlgen (actions/cache keys on contents itself)
    assert steps["Set up the project"]["if"] == "steps.cache.outputs.cache-hit != 'true'"
    assert "Install mlgen" not in steps
    assert steps["Upload train outputs"]["with"]["name"] == "train~${{ matrix.model }}"
    assert gh["jobs"]["train"]["strategy"]["matrix"] == {"model": ["gb", "logreg"]}
    assert gh["jobs"]["train"]["strategy"]["fail-fast"] is False, "one failing leg must not cancel the others"
    upload = {s["name"]: s for s in gh["jobs"]["evaluate"]["steps"]}["Upload evaluate outputs"]["with"]
    assert ".mlgen/gate-evaluate.json" in upload["path"].split()
    assert upload["include-hidden-files"] is True, "`.mlgen/` is hidden: upload-artifact leaves it out otherwise"
    evaluate = {s["name"]: s for s in gh["jobs"]["evaluate"]["steps"]}
    assert evaluate["Download train outputs"]["with"] == {"pattern": "train~*", "merge-multiple": True, "path": "model"}
    assert gh["jobs"]["train"]["runs-on"] == ["self-hosted", "gpu"]
    assert gh["jobs"]["train"]["timeout-minutes"] == 120


# -- GitLab CI ----------------------------------------------------------------------------------

def test_gitlab_order_and_artifacts(gl: dict[str, Any]) -> None:
    assert gl["train"]["needs"] == [{"job": "validate", "artifacts": False}]
    assert gl["evaluate"]["needs"] == [{"job": "train", "artifacts": True}]
    # register runs in the rollout's child pipeline: the parent's files come by pipeline id, per matrix leg
    assert gl["register"]["needs"] == [{"pipeline": "$PARENT_PIPELINE_ID", "job": job}
                                       for job in ("evaluate", "train: [gb]", "train: [logreg]")]
    assert gl["rollout:register"]["needs"] == [{"job": "evaluate", "artifacts": False}, {"job": "train", "artifacts": False}]
    assert gl["rollout:register"]["variables"] == {"PARENT_PIPELINE_ID": "$CI_PIPELINE_ID"}
    # every step and rollback reads the version register recorded (issue 14: version pinned end to end)
    assert gl["canary-50-rollback"]["needs"] == [{"job": "canary-50", "artifacts": False},
                                                 {"job": "register", "artifacts": True}]
    assert gl["evaluate"]["artifacts"]["reports"] == {"junit": ".mlgen/reports/evaluate-*.xml"}
    assert gl["evaluate"]["artifacts"]["when"] == "always"


def test_gitlab_rules(gl: dict[str, Any]) -> None:
    main_only = '$CI_PIPELINE_SOURCE != "merge_request_event" && $CI_COMMIT_BRANCH == "main"'
    assert gl["register"]["rules"] == [{"if": main_only}]
    # the canary waits for register, so it runs only where register runs (its branch, named as register names it)
    assert gl["canary-10"]["rules"] == [{"if": main_only, "when": "manual", "allow_failure": False}]
    assert gl["canary-50-rollback"]["rules"][0]["when"] == "on_failure"
    assert "rules" not in gl["validate"]
    assert {"if": "$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS", "when": "never"} in gl["workflow"]["rules"]


def test_gitlab_deploys_serialised_and_not_interruptible(fresh: dict[str, str]) -> None:
    parent, child = yamlout.load(fresh["gitlab"]), yamlout.load(fresh["gitlab-child:.gitlab/mlgen-register.yml"])
    # one lock for the whole rollout: the trigger job holds it until its child pipeline ended
    trigger = parent["rollout:register"]
    assert trigger["resource_group"] == "deploy/production/churn" and trigger["interruptible"] is False
    assert trigger["trigger"] == {"include": [{"local": ".gitlab/mlgen-register.yml"}], "strategy": "depend",
                                  "forward": {"yaml_variables": True, "pipeline_variables": True}}
    for job in ("register", "canary-10", "canary-50", "canary-100", "canary-100-rollback"):
        assert job not in parent and "resource_group" not in child[job], job
        assert child[job]["environment"]["name"] == "production"
        assert child[job]["interruptible"] is False


def test_gitlab_cache_and_matrix(gl: dict[str, Any]) -> None:
    assert gl["train"]["parallel"] == {"matrix": [{"MODEL": ["gb", "logreg"]}]}
    assert gl["train"]["cache"][0]["key"].endswith("-$MODEL")
    assert "mlgen cache hit" in gl["train"]["script"][0]
    # the project is set up only on a miss, inside the guard, right before training
    assert gl["train"]["before_script"] == [install_line("mlgen-ci==0.1.0", "pip")]
    miss = gl["train"]["script"][0].split("\nelse\n")[1]
    assert miss.startswith(project_setup("python -m pip install -r requirements.txt", "pip") + "\npython -m churn.train")
    assert gl["train"]["tags"] == ["gpu"]
    assert gl["train"]["timeout"] == "120 minutes"


# -- Jenkins ------------------------------------------------------------------------------------

def _stage_names(text: str) -> list[str]:
    return re.findall(r"^\s*stage\('([^']*)'\)", text, re.MULTILINE)


def test_jenkins_order(jf: str) -> None:
    # register is the first stage of the rollout: inside the rollout's stage and its lock
    assert _stage_names(jf) == ["validate", "train", "train", "evaluate", "canary", "register",
                                "canary approval", "canary 10%", "canary 50%", "canary 100%"]


def test_jenkins_approval_lock_and_rollback(jf: str) -> None:
    canary = jf[jf.index("stage('canary')"):]
    # the branch is decided before the lock is taken (beforeOptions): other branches never wait for it
    when = canary.index("when {\n        beforeAgent true\n        beforeOptions true\n        branch 'main'")
    assert when < canary.index("lock('deploy/production/churn')") < canary.index("stage('register')") < canary.index("input {")
    assert "disableConcurrentBuilds()" in jf[:jf.index("stages {")]
    approval = canary[canary.index("stage('canary approval')"):canary.index("stage('canary 10%')")]
    assert "input {" in approval
    assert "input {" not in canary[canary.index("stage('canary 10%')"):]
    for step in ("canary 10%", "canary 50%", "canary 100%"):
        body = canary[canary.index(f"stage('{step}')"):]
        post = body[body.index("post {"):body.index("post {") + 1200]
        assert post.index("unsuccessful {") < post.index("mlgen canary rollback")
    assert re.search(r"^  agent none$", jf, re.MULTILINE)


def test_jenkins_secrets_never_interpolated(jf: str) -> None:
    assert "withCredentials([string(credentialsId: 'MLFLOW_TRACKING_TOKEN', variable: 'MLFLOW_TRACKING_TOKEN')])" in jf
    assert '"${MLFLOW' not in jf and "sh \"" not in jf
    validate = jf[jf.index("stage('validate')"):jf.index("stage('train')")]
    assert "withCredentials" not in validate


def test_jenkins_gate_reports_and_stash(jf: str) -> None:
    evaluate = jf[jf.index("stage('evaluate')"):jf.index("stage('register')")]
    assert "junit testResults: '.mlgen/reports/evaluate-*.xml'" in evaluate
    assert "unstash 'train~gb'" in evaluate and "unstash 'train~logreg'" in evaluate
    assert 'stash name: "train~${env.MODEL}"' in jf
    rollout = jf[jf.index("stage('canary')"):jf.index("stage('register')")]
    assert "branch 'main'" in rollout  # register runs inside the rollout's stage, on its branches


def test_only_deployments_and_registry_writes_are_protected_from_cancellation(gh: dict[str, Any], gl: dict[str, Any]) -> None:
    for job in ("validate", "train", "evaluate"):
        assert "interruptible" not in gl[job], "jobs inherit `default: interruptible: true`"
        assert "concurrency" not in gh["jobs"][job] and "resource_group" not in gl[job]
    assert gl["register"]["interruptible"] is False, "a registry write is never cancelled half-way"
    assert gl["default"]["interruptible"] is True


def test_canary_jobs_get_the_registry_where_they_use_it(gh: dict[str, Any], gl: dict[str, Any]) -> None:
    # Only promoting (the last step) and rolling back touch the MLflow registry: only those get the
    # write credential and install mlgen's MLflow extra.
    for job, mlflow in (("canary-10", False), ("canary-50", False), ("canary-100", True), ("canary-50-rollback", True)):
        assert any(step.get("env", {}).get("MLFLOW_TRACKING_TOKEN") == "${{ secrets.MLFLOW_TRACKING_TOKEN }}"
                   for step in gh["jobs"][job]["steps"]) == mlflow, job
        installs = [line for line in gl[job]["before_script"] if "mlgen-ci" in line]
        if job.endswith("-rollback"):  # a rollback's install is retried: `'` is quoted for `bash -c` there
            assert len(installs) == 1 and "seq 1 3" in installs[0] and "mlgen-ci[mlflow]==0.1.0" in installs[0], job
            continue
        assert installs == [install_line(f"mlgen-ci{'[mlflow]' if mlflow else ''}==0.1.0", "pip")], job
