"""GitHub: every rollout (register, approval, each canary step and its rollback) runs in a reusable
workflow of its own, called by one job that holds the rollout's lock, for many spec shapes: one or
two rollouts, the same or different environments, chained or side by side, overrides by job id."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from mlgen.compile.compiler import compile_pipeline
from mlgen.drift import header
from mlgen.errors import SpecError
from mlgen.spec.models import Pipeline
from mlgen.targets import yamlout
from tests import validators
from tests.support import EXAMPLES, plan_of, run_mlgen

LOCK = {"cancel-in-progress": False, "queue": "max"}


def _chain(name: str, model: str, env: str, steps: list[int], approval: bool, needs: list[str], runner: str | None) -> list[dict[str, Any]]:
    canary: dict[str, Any] = {"name": f"{name}-canary", "kind": "canary", "deploy": "./deploy.sh", "check": "./check.sh",
                              "rollback": "./deploy.sh --rollback", "steps": steps, "approval": approval,
                              "environment": env, "needs": [f"{name}-register"]}
    if runner:
        canary["runner"] = runner
    return [{"name": f"{name}-register", "kind": "register", "registry": "mlflow", "model": model, "path": "model/", "needs": needs},
            canary]


def _spec(shape: str, approval: bool = True, runner: str | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    stages: list[dict[str, Any]] = [{"name": "train", "kind": "train", "run": "python train.py", "outputs": ["model/"]}]
    if shape == "one":
        stages += _chain("a", "a", "production", [10, 100], approval, ["train"], runner)
    elif shape == "side-by-side":  # two models, two environments, independent
        stages += _chain("a", "a", "staging", [50, 100], approval, ["train"], runner)
        stages += _chain("b", "b", "production", [100], approval, ["train"], runner)
    elif shape == "same-environment":  # two models deployed to one environment: a lock each
        stages += _chain("a", "a", "production", [50, 100], approval, ["train"], runner)
        stages += _chain("b", "b", "production", [10, 100], False, ["train"], runner)
    elif shape == "chained":  # b's rollout starts once a's has finished
        stages += _chain("a", "a", "staging", [100], approval, ["train"], runner)
        stages += _chain("b", "b", "production", [10, 100], approval, ["a-canary"], runner)
    return {"version": 1, "name": "multi", "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"},
            "secrets": ["MLFLOW_TRACKING_TOKEN"], "stages": stages,
            "targets": {"github": {"path": ".github/workflows/mlgen.yml", "overrides": overrides or {}}}}


def _outputs(spec: dict[str, Any]) -> dict[str, str]:
    """path -> body of every file the spec writes."""
    return {o.path: header.body(o.text) for o in compile_pipeline(Pipeline.model_validate(spec), spec_name="mlgen.yaml", spec_bytes=b"")}


SHAPES = ["one", "side-by-side", "same-environment", "chained"]
CASES = [(shape, approval, runner) for shape in SHAPES for approval in (True, False) for runner in (None, "gpu")]


@pytest.mark.parametrize(("shape", "approval", "runner"), CASES)
def test_every_rollout_job_runs_inside_the_one_call_that_holds_its_lock(shape: str, approval: bool, runner: str | None) -> None:
    spec = _spec(shape, approval, runner)
    plan = plan_of(spec)
    files = _outputs(spec)
    main = yamlout.load(files[".github/workflows/mlgen.yml"])["jobs"]
    calls = {job_id: job for job_id, job in main.items() if "uses" in job}
    called = {job_id: yamlout.load(files[job["uses"].removeprefix("./")]) for job_id, job in calls.items()}
    assert len(calls) == sum(1 for j in plan.jobs if j.kind == "canary" and j.id.endswith("-100")), "one call per rollout"
    for job in plan.jobs:
        ids = [i for i in (job.id, job.approval_id) if i]
        if job.lock is None:
            assert job.id in main and "concurrency" not in main[job.id], job.id
            continue
        for job_id in ids:
            holders = [c for c, workflow in called.items() if job_id in workflow["jobs"]]
            assert len(holders) == 1 and job_id not in main, f"{job_id} runs in exactly one locked call, never outside"
            assert calls[holders[0]]["concurrency"] == {"group": job.lock, **LOCK}, job_id
    for workflow in called.values():
        assert list(workflow["on"]) == ["workflow_call"]
        # a job inside that took the lock too would wait for its own call forever
        assert all("concurrency" not in job for job in workflow["jobs"].values())
        assert all(n in workflow["jobs"] for job in workflow["jobs"].values() for n in job.get("needs", []))
        assert workflow["env"] == {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}, "the caller's env does not reach it"
    for call_id, call in calls.items():
        inner = called[call_id]["jobs"].values()
        # the call grants what its jobs ask for (a called job gets at most what its caller has)
        asked = {scope for job in inner for scope in job["permissions"]}
        assert set(call["permissions"]) == asked and "write" not in call["permissions"].values()
        assert call["secrets"] == {"MLFLOW_TRACKING_TOKEN": "${{ secrets.MLFLOW_TRACKING_TOKEN }}"}, "named, never inherit"
        assert set(called[call_id]["on"]["workflow_call"]["secrets"]) == {"MLFLOW_TRACKING_TOKEN"}
        assert call["if"] == "github.event_name != 'pull_request' && (github.ref == 'refs/heads/main')"
        assert not set(call["needs"]) & set(called[call_id]["jobs"])
        if runner:
            assert all(job["runs-on"] == ["self-hosted", "gpu"] for job_id, job in called[call_id]["jobs"].items()
                       if not job_id.endswith("-approval") and "register" not in job_id)


@pytest.mark.parametrize("shape", SHAPES)
def test_the_workflow_and_its_rollouts_pass_actionlint_zizmor_and_the_schema(shape: str) -> None:
    files = _outputs(_spec(shape, runner="gpu"))
    main = files.pop(".github/workflows/mlgen.yml")
    beside = {p: t for p, t in files.items() if p.startswith(".github/workflows/")}
    assert ".github/actionlint.yaml" in files and "gpu" in files[".github/actionlint.yaml"]
    # actionlint checks each call against the file it calls (needs, secrets, permissions)
    assert validators.actionlint(main, ["gpu"], beside) == ""
    assert validators.zizmor(main, beside) == ""
    for text in [main, *beside.values()]:
        assert validators.check_jsonschema("github", text) == ""
        assert validators.shellcheck("github", text) == []


def test_chained_rollouts_wait_for_each_other_through_their_calls() -> None:
    main = yamlout.load(_outputs(_spec("chained"))[".github/workflows/mlgen.yml"])["jobs"]
    assert main["rollout-a-register"]["needs"] == ["train"]
    assert main["rollout-b-register"]["needs"] == ["rollout-a-register"]


def test_overrides_by_job_id_reach_jobs_inside_the_rollout() -> None:
    files = _outputs(_spec("one", overrides={"a-canary-100": {"timeout-minutes": 45}, "a-register": {"runs-on": "ubuntu-24.04"}}))
    inner = yamlout.load(files[".github/workflows/mlgen-rollout-a-register.yml"])["jobs"]
    assert inner["a-canary-100"]["timeout-minutes"] == 45 and inner["a-register"]["runs-on"] == "ubuntu-24.04"


def test_an_override_that_locks_a_job_inside_its_own_rollout_is_refused() -> None:
    spec = _spec("one", overrides={"a-canary-10": {"concurrency": "deploy/production/a"}})
    with pytest.raises(SpecError) as refused:
        _outputs(spec)
    (problem,) = refused.value.problems
    assert problem.message.startswith("targets.github.overrides.a-canary-10.concurrency: the job runs inside its rollout")
    assert "wait for itself" in problem.message


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES / "quickstart", tmp_path, dirs_exist_ok=True)
    return tmp_path


ROLLOUT = ".github/workflows/mlgen-rollout-register.yml"


def test_check_sees_the_rollout_as_generated(project: Path) -> None:
    parsed = header.parse((project / ROLLOUT).read_text())
    assert parsed is not None and ("github-rollout", ROLLOUT) in parsed.outputs
    assert run_mlgen("check", "mlgen.yaml", cwd=project).code == 0


@pytest.mark.parametrize("change", ["edit", "delete"])
def test_check_finds_a_hand_edited_or_deleted_rollout(project: Path, change: str) -> None:
    path = project / ROLLOUT
    if change == "edit":
        path.write_text(path.read_text().replace("timeout-minutes: 30", "timeout-minutes: 31", 1))
    else:
        path.unlink()
    result = run_mlgen("check", "mlgen.yaml", cwd=project)
    assert result.code == 2
    assert f"{ROLLOUT}: {'hand-edited' if change == 'edit' else 'missing'}" in result.err


def test_a_register_without_a_canary_takes_no_lock_and_stays_in_the_workflow() -> None:
    spec = _spec("one")
    spec["stages"] = spec["stages"][:2]  # train, register: nothing deploys
    files = _outputs(spec)
    assert list(files) == [".github/workflows/mlgen.yml"], "no rollout, no reusable workflow"
    main = yamlout.load(files[".github/workflows/mlgen.yml"])["jobs"]
    assert "uses" not in main["a-register"] and "concurrency" not in main["a-register"]


def test_rollouts_that_interleave_are_refused_with_a_hint() -> None:
    """production 100% -> staging 100% -> production 100%: the staging rollout would run inside the
    production one's lock and hold a lock of its own, which one call per rollout cannot express."""
    def canary(name: str, env: str, needs: str) -> dict[str, Any]:
        return {"name": name, "kind": "canary", "deploy": "./d.sh", "check": "./c.sh", "rollback": "./r.sh", "steps": [100],
                "approval": False, "environment": env, "needs": [needs], "model": "a"}

    spec = _spec("one")
    spec["stages"] = [spec["stages"][0], {"name": "r", "kind": "register", "registry": "mlflow", "model": "a", "path": "model/"},
                      canary("p1", "production", "r"), canary("s", "staging", "p1"), canary("p2", "production", "s")]
    with pytest.raises(SpecError) as refused:
        _outputs(spec)
    (problem,) = refused.value.problems
    assert "`deploy/production/a` and `deploy/staging/a` interleave at job `s-100`" in problem.message
    assert problem.hint.startswith("let one rollout finish")


def test_actionlint_checks_each_call_against_the_file_it_calls() -> None:
    """The validators are wired right: a call whose file is missing, or which does not pass a secret
    the called workflow requires, is reported."""
    files = _outputs(_spec("one"))
    main = files.pop(".github/workflows/mlgen.yml")
    assert "could not read reusable workflow file" in validators.actionlint(main, [], {})
    (path, called), = files.items()
    required = called.replace("    secrets:\n", "    secrets:\n      OTHER:\n        required: true\n", 1)
    assert 'secret "OTHER" is required' in validators.actionlint(main, [], {path: required})


def test_jobs_around_a_rollout_wait_for_its_call_and_jobs_between_its_steps_run_inside() -> None:
    spec = _spec("one")
    spec["stages"].insert(2, {"name": "smoke", "kind": "validate", "run": "true", "needs": ["a-register"]})  # between
    spec["stages"][3]["needs"] = ["a-register", "smoke"]  # the canary waits for it
    spec["stages"].append({"name": "after", "kind": "validate", "run": "true", "needs": ["a-canary"]})  # after
    files = _outputs(spec)
    main = yamlout.load(files[".github/workflows/mlgen.yml"])["jobs"]
    inner = yamlout.load(files[".github/workflows/mlgen-rollout-a-register.yml"])["jobs"]
    assert "smoke" in inner and "smoke" not in main, "a job between two rollout jobs runs inside the call"
    assert main["after"]["needs"] == ["rollout-a-register"], "a job after the rollout waits for the whole call"
    assert list(main).index("rollout-a-register") < list(main).index("after")


def test_the_call_runs_whenever_the_job_that_starts_the_rollout_would() -> None:
    files = _outputs(_spec("one", overrides={"a-register": {"if": "${{ !cancelled() }}"}}))
    main = yamlout.load(files[".github/workflows/mlgen.yml"])["jobs"]
    assert main["rollout-a-register"]["if"] == "${{ !cancelled() }}"
