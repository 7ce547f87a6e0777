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

from mlgen.compile import compiler
from mlgen.compile.plan import ROLLBACK_SETUP_RETRIES
from mlgen.drift import header
from mlgen.spec.models import Pipeline
from mlgen.targets import yamlout
from tests.support import flat_github, gitlab_doc, output_key

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
    return {output_key(o): header.body(o.text) if o.target == "jenkins" else o.text for o in outputs}


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
    jobs = flat_github(compile_spec(spec(steps, approval=approval)))["jobs"]
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
    doc = gitlab_doc(compile_spec(spec(steps, approval=approval)))
    for weight in steps:
        step, rollback = doc[f"canary-{weight}"], doc[f"canary-{weight}-rollback"]
        assert [r["when"] for r in rollback["rules"]] == ["on_failure"]
        # the register job's artifact: the version the rollback marks failed
        assert rollback["needs"] == [{"job": f"canary-{weight}", "artifacts": False},
                                     {"job": "register", "artifacts": True}]
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
        assert rollback["before_script"][0].rstrip("\n") in step["after_script"][0], "the same (retried) install"


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
    assert "lock('deploy/production/roll')" in canary
    for weight in steps:
        assert "input {" not in _stage(text, f"canary {weight}%"), "a step's stage never waits for a person"
    names = re.findall(r"^\s*stage\('([^']*)'\)", canary, re.MULTILINE)
    if not approval:
        assert "input {" not in canary and names == ["canary", "register", *(f"canary {w}%" for w in steps)]
        return
    assert names == ["canary", "register", "canary approval", *(f"canary {w}%" for w in steps)]
    gate = _stage(text, "canary approval")
    # `when` before the input (pull requests and other branches are never asked), then the
    # approval's own timeout, which (entered before the input) bounds only the wait.
    assert re.search(r"when \{\n\s+beforeAgent true\n\s+beforeInput true\n\s+branch 'main'\n\s+\}", gate), gate
    assert gate.index("when {") < gate.index("options {") < gate.index("input {") < gate.index("steps {")
    minutes = int(re.search(r"timeout\(time: (\d+), unit: 'MINUTES'\)", gate).group(1))
    assert minutes >= 60
    assert "message 'Start the canary of roll in production?'" in gate
    assert not re.search(r"^\s*agent\b", gate, re.MULTILINE), "waiting for a person holds no executor"


# -- retries repeat set-up and the user's commands, never a decision or a write -----------------

DECISIONS = re.compile(r"^mlgen (gate|data check|registry|canary)\b", re.MULTILINE)


def retry_spec(retries: int, cached: bool) -> dict[str, Any]:
    data = spec([50, 100])
    data["defaults"] = {"retries": retries, "setup": "python -m pip install -r requirements.txt"}
    train, register, canary = data["stages"]
    if cached:
        train["cache"] = {"key": ["data/**"]}
    evaluate = {"name": "evaluate", "kind": "evaluate", "run": "python evaluate.py", "metrics": "metrics.json",
                "gates": {"accuracy": {"min": 0.8}}, "baseline": {"registry": "champion"}}
    register["retries"] = retries
    data["stages"] = [{"name": "validate", "kind": "validate", "run": "python check.py"}, train, evaluate, register, canary]
    return data


RETRY_CASES = [(retries, cached) for retries in (1, 2) for cached in (False, True)]


@pytest.mark.parametrize(("retries", "cached"), RETRY_CASES)
def test_github_retries_never_repeat_a_decision_or_a_write(retries: int, cached: bool) -> None:
    jobs = flat_github(compile_spec(retry_spec(retries, cached)))["jobs"]
    decisions = users = 0
    for job in jobs.values():
        for step in job["steps"]:
            run = step.get("run", "")
            looped = run.startswith("for mlgen_attempt in ")
            if DECISIONS.search(run):
                decisions += 1
                assert not looped and "mlgen_attempt" not in run, step
            elif "environment" not in job and step["name"] in ("validate", "train", "evaluate", "Set up the project", "Install mlgen"):
                # (canary jobs run with no retries at all)
                users += 1
                assert looped and f"seq 1 {retries + 1}" in run, step
    assert decisions >= 5 and users >= 5


def _gitlab_job_script(job: dict[str, Any]) -> list[str]:
    return [*job.get("before_script", []), *job["script"]]


@pytest.mark.parametrize(("retries", "cached"), RETRY_CASES)
def test_gitlab_retries_only_infrastructure_failures_and_never_a_write(retries: int, cached: bool) -> None:
    doc = gitlab_doc(compile_spec(retry_spec(retries, cached)))
    jobs = {k: v for k, v in doc.items() if isinstance(v, dict) and "script" in v}
    # Failure reasons that mean the job's own script failed or may have run (CI YAML: retry:when).
    script_may_have_run = {"always", "script_failure", "unknown_failure", "job_execution_timeout", "data_integrity_failure"}
    for job_id, job in jobs.items():
        writes = job_id == "register" or "environment" in job
        if writes:
            assert "retry" not in job, job_id
            assert job["interruptible"] is False, job_id
        else:
            assert job["retry"]["max"] == retries
            assert job["retry"]["when"] and not set(job["retry"]["when"]) & script_may_have_run, job["retry"]
        for line in job["script"]:
            if DECISIONS.search(line) and "mlgen cache hit" not in line:
                assert "mlgen_attempt" not in line, (job_id, line)


def test_gitlab_a_flaky_user_command_is_retried_and_the_gate_after_it_runs_once(tmp_path: Path) -> None:
    job = gitlab_doc(compile_spec(retry_spec(2, False)))["evaluate"]
    log = tmp_path / "calls.log"
    stubs = tmp_path / "bin"
    stubs.mkdir()
    # `python evaluate.py` fails on its first call only; `python -m pip` and `mlgen` succeed.
    (stubs / "python").write_text(f'#!/bin/sh\necho "python $*" >> "{log}"\n'
                                  f'if [ "$1" = evaluate.py ] && [ ! -e "{tmp_path}/once" ]; then touch "{tmp_path}/once"; exit 3; fi\n')
    (stubs / "mlgen").write_text(f'#!/bin/sh\necho "mlgen $*" >> "{log}"\n')
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    # The runner joins before_script and script into one shell with errexit and pipefail.
    script = "\n".join(_gitlab_job_script(job))
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert calls.count("python evaluate.py") == 2
    assert sum(c.startswith("mlgen gate") for c in calls) == 1


@pytest.mark.parametrize(("retries", "cached"), RETRY_CASES)
def test_jenkins_retries_wrap_set_up_and_user_commands_only(retries: int, cached: bool) -> None:
    text = compile_spec(retry_spec(retries, cached))["jenkins"]
    assert "retry(" not in re.sub(r"retry\(\d+\) \{", "", text), "no stage-level retry option"
    blocks = _retry_blocks(text)
    assert blocks, "set-up and user commands are retried"
    for block in blocks:
        # a rollback's set-up has retries of its own (plan.ROLLBACK_SETUP_RETRIES)
        assert block.startswith((f"retry({retries + 1}) {{", f"retry({ROLLBACK_SETUP_RETRIES + 1}) {{"))
        assert not DECISIONS.search(block.replace("mlgen cache hit", "")), block
    outside = text
    for block in blocks:
        outside = outside.replace(block, "")
    assert "python check.py" not in outside and "python evaluate.py" not in outside
    assert re.search(r"^mlgen gate\b", outside, re.MULTILINE) and "mlgen registry register" in outside


def _retry_blocks(text: str) -> list[str]:
    out = []
    for match in re.finditer(r"retry\(\d+\) \{", text):
        depth = 0
        for j in range(match.end() - 1, len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                out.append(text[match.start():j + 1])
                break
    return out


# -- GitHub: workflow-level concurrency serialises pull requests only -----------------------------

def _github_expr(text: str, context: dict[str, str]) -> str:
    """`${{ a == 'b' && x || y }}` pieces of a value, for the operators and contexts mlgen emits."""
    def one(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        for name, value in context.items():
            expr = expr.replace(name, repr(value))
        python = expr.replace("&&", " and ").replace("||", " or ")
        return str(eval(python, {}))  # noqa: S307 - our own expression, token by token; and/or keep operand values as GitHub's do
    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


RUNS = {  # (event, ref, run id)
    "push main 1": ("push", "refs/heads/main", "101"), "push main 2": ("push", "refs/heads/main", "102"),
    "schedule": ("schedule", "refs/heads/main", "103"), "manual": ("workflow_dispatch", "refs/heads/main", "104"),
    "pr 7 a": ("pull_request", "refs/pull/7/merge", "105"), "pr 7 b": ("pull_request", "refs/pull/7/merge", "106"),
    "pr 8": ("pull_request", "refs/pull/8/merge", "107"),
}


@pytest.mark.parametrize("steps", STEP_LISTS)
def test_github_workflow_concurrency_never_queues_main_behind_a_rollout(steps: list[int]) -> None:
    workflow = yamlout.load(compile_spec(spec(steps))["github"])
    groups, cancels = {}, {}
    for name, (event, ref, run_id) in RUNS.items():
        context = {"github.event_name": event, "github.ref": ref, "github.run_id": run_id}
        groups[name] = _github_expr(workflow["concurrency"]["group"], context)
        cancels[name] = _github_expr(str(workflow["concurrency"]["cancel-in-progress"]), context)
    shared = {frozenset(n for n in groups if groups[n] == g) for g in groups.values()}
    # Only the runs of one pull request share a group (and the newer cancels the older).
    assert shared == {frozenset({"pr 7 a", "pr 7 b"}), *(frozenset({n}) for n in RUNS if not n.startswith("pr 7"))}
    assert cancels["pr 7 b"] == "True" and cancels["push main 1"] == "False"
    # The rollout is serialised by its own lock, which never cancels a running or pending rollout.
    (call,) = [job for job in workflow["jobs"].values() if "uses" in job]
    assert call["concurrency"] == {"group": "deploy/production/roll", "cancel-in-progress": False, "queue": "max"}


def test_github_workflow_concurrency_passes_actionlint(tmp_path: Path) -> None:
    from tests.support import require_tool

    workflow = tmp_path / ".github" / "workflows" / "mlgen.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(compile_spec(spec([50, 100]))["github"])
    done = subprocess.run([require_tool("actionlint"), str(workflow)], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
