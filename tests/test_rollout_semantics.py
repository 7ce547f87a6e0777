"""Semantics of the generated rollout, read from freshly compiled output for many canary shapes.

Every way a canary step can end badly (failure, timeout, cancellation, manual abort) must run
that step's rollback, exactly once per target mechanism, and a good ending must never run it.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlgen import compiler, header, yamlout
from mlgen.spec import Pipeline

STEP_LISTS = [[100], [50, 100], [10, 50, 100], [1, 2, 5, 25, 99, 100]]


def spec(steps: list[int], *, approval: bool = True, registry: str = "mlflow", **canary: Any) -> dict[str, Any]:
    return {
        "version": 1, "name": "roll", "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"},
        "secrets": ["MLFLOW_TRACKING_TOKEN"],
        "stages": [
            {"name": "train", "kind": "train", "run": "python train.py", "outputs": ["model/"]},
            {"name": "register", "kind": "register", "registry": registry, "model": "roll", "path": "model/"},
            {"name": "canary", "kind": "canary", "deploy": "./deploy.sh", "check": "./check.sh",
             "rollback": "./deploy.sh --rollback", "steps": steps, "approval": approval, **canary},
        ],
        "targets": {"github": {"path": "gh.yml"}, "gitlab": {"path": "gl.yml"}, "jenkins": {"path": "Jenkinsfile"}},
    }


def compile_spec(data: dict[str, Any]) -> dict[str, str]:
    outputs = compiler.compile_pipeline(Pipeline.model_validate(data), spec_name="mlgen.yaml", spec_bytes=b"")
    return {o.target: header.body(o.text) if o.target == "jenkins" else o.text for o in outputs}


CASES = [(steps, approval) for steps in STEP_LISTS for approval in (True, False)]


# -- GitHub: a job `if:` over the results of its needs ------------------------------------------

def _github_if(condition: str, result: str) -> bool:
    """The rollback's condition for one need with `result`, on a push to main (the branch test holds)."""
    branch = "github.event_name != 'pull_request' && (github.ref == 'refs/heads/main')"
    assert condition.endswith(" && " + branch), condition
    expr = condition.removesuffix(" && " + branch)
    expr = re.sub(r"contains\(needs\.\*\.result, '(\w+)'\)", lambda m: repr(m.group(1) == result), expr)
    expr = expr.replace("always()", "True").replace("&&", " and ").replace("||", " or ")
    return bool(eval(expr, {}))  # noqa: S307 - our own condition, translated token by token


@pytest.mark.parametrize(("steps", "approval"), CASES)
def test_github_rolls_back_a_step_that_failed_or_was_cancelled(steps: list[int], approval: bool) -> None:
    jobs = yamlout.load(compile_spec(spec(steps, approval=approval))["github"])["jobs"]
    for weight in steps:
        rollback = jobs[f"canary-{weight}-rollback"]
        assert rollback["needs"] == [f"canary-{weight}"]
        # needs.<job>.result is one of success, failure, cancelled, skipped (a timeout is a failure).
        ran = {result: _github_if(rollback["if"], result) for result in ("success", "failure", "cancelled", "skipped")}
        assert ran == {"success": False, "failure": True, "cancelled": True, "skipped": False}, rollback["if"]
        # always() also keeps the rollback from being cancelled together with the run.
        assert rollback["if"].startswith("always() && ")


# -- GitLab: on_failure rollback job plus the step's after_script on cancel ---------------------

def _stub_bin(folder: Path, log: Path) -> Path:
    """`python` and `mlgen` that only record how they were called."""
    folder.mkdir()
    for name in ("python", "mlgen"):
        path = folder / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def _after_script_rollbacks(job: dict[str, Any], status: str, tmp_path: Path) -> list[str]:
    log = tmp_path / f"{status}.log"
    stubs = _stub_bin(tmp_path / f"bin-{status}", log)
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "CI_JOB_STATUS": status}
    for line in job.get("after_script", []):
        subprocess.run(["bash", "-e", "-c", line], env=env, check=True)
    calls = log.read_text().splitlines() if log.is_file() else []
    return [c for c in calls if c.startswith("mlgen canary rollback")]


@pytest.mark.parametrize(("steps", "approval"), CASES)
def test_gitlab_rolls_back_a_step_once_whether_it_failed_or_was_cancelled(steps: list[int], approval: bool,
                                                                           tmp_path: Path) -> None:
    doc = yamlout.load(compile_spec(spec(steps, approval=approval))["gitlab"])
    for weight in steps:
        step, rollback = doc[f"canary-{weight}"], doc[f"canary-{weight}-rollback"]
        assert [r["when"] for r in rollback["rules"]] == ["on_failure"]
        assert rollback["needs"] == [{"job": f"canary-{weight}", "artifacts": False}]
        # $CI_JOB_STATUS in after_script: success, failed (also after a timeout) or canceled.
        by_status = {}
        for status in ("success", "failed", "canceled"):
            folder = tmp_path / f"{weight}"
            folder.mkdir(exist_ok=True)
            from_after_script = len(_after_script_rollbacks(step, status, folder))
            from_job = 1 if status == "failed" else 0  # when: on_failure
            by_status[status] = from_after_script + from_job
        assert by_status == {"success": 0, "failed": 1, "canceled": 1}
        assert rollback["script"][0] in step["after_script"][0], "the same rollback command"
        assert f"python -m pip install '{rollback['before_script'][0].split(chr(39))[1]}'" in step["after_script"][0]


# -- Jenkins: post conditions over the stage result ---------------------------------------------

POST_CONDITIONS = {  # Pipeline Syntax: post
    "always": {"SUCCESS", "UNSTABLE", "FAILURE", "ABORTED"}, "failure": {"FAILURE"}, "aborted": {"ABORTED"},
    "unstable": {"UNSTABLE"}, "success": {"SUCCESS"}, "unsuccessful": {"UNSTABLE", "FAILURE", "ABORTED"},
}


def _stage(text: str, name: str) -> str:
    start = text.index(f"stage('{name}')")
    depth, i = 0, text.index("{", start)
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[start:j + 1]
    raise AssertionError(name)


@pytest.mark.parametrize(("steps", "approval"), CASES)
def test_jenkins_rolls_back_a_step_that_failed_timed_out_or_was_aborted(steps: list[int], approval: bool) -> None:
    text = compile_spec(spec(steps, approval=approval))["jenkins"]
    for weight in steps:
        stage = _stage(text, f"canary {weight}%")
        post = stage[stage.index("post {"):]
        conditions = [c for c in re.findall(r"^\s+(\w+) \{$", post, re.MULTILINE) if c in POST_CONDITIONS]
        rollback_condition = [c for c in conditions if "mlgen canary rollback" in _block(post, c)]
        assert len(rollback_condition) == 1, post
        assert POST_CONDITIONS[rollback_condition[0]] >= {"FAILURE", "ABORTED"}
        # The step's timeout wraps its steps, never its post: a rollback after a timeout has time to run.
        assert "options {" not in stage or "timeout(" not in stage[stage.index("options {"):stage.index("steps {")]
        body = stage[stage.index("steps {"):stage.index("post {")]
        assert re.search(r"timeout\(time: \d+, unit: 'MINUTES'\) \{", body), body


def _block(text: str, condition: str) -> str:
    start = text.index(f"{condition} {{")
    depth = 0
    for j in range(text.index("{", start), len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[start:j + 1]
    raise AssertionError(condition)


@pytest.mark.parametrize(("steps", "approval"), CASES)
def test_jenkins_approval_is_a_stage_of_its_own_so_it_never_eats_a_step_timeout(steps: list[int], approval: bool) -> None:
    text = compile_spec(spec(steps, approval=approval, branches=["main"]))["jenkins"]
    canary = _stage(text, "canary")
    assert "lock('deploy-production')" in canary
    for weight in steps:
        assert "input {" not in _stage(text, f"canary {weight}%"), "a step's stage never waits for a person"
    names = re.findall(r"^\s*stage\('([^']*)'\)", canary, re.MULTILINE)
    if not approval:
        assert "input {" not in canary and names == ["canary", *(f"canary {w}%" for w in steps)]
        return
    assert names == ["canary", "canary approval", *(f"canary {w}%" for w in steps)]
    gate = _stage(text, "canary approval")
    # `when` before the input (pull requests and other branches are never asked), then the
    # approval's own timeout, which (entered before the input) bounds only the wait.
    assert re.search(r"when \{\n\s+beforeInput true\n\s+branch 'main'\n\s+\}", gate), gate
    assert gate.index("when {") < gate.index("options {") < gate.index("input {") < gate.index("steps {")
    minutes = int(re.search(r"timeout\(time: (\d+), unit: 'MINUTES'\)", gate).group(1))
    assert minutes >= 60
    assert "message 'Start the canary of roll in production?'" in gate
    assert "agent" not in gate, "waiting for a person holds no executor"
