"""GitLab: every rollout is one child pipeline behind one trigger job that holds its lock (issue 14).

Generated specs (one or two rollouts, to one or two environments, register with or without a
canary, a stage after the canary, credentials) are compiled and the rule is checked on the text:
only trigger jobs hold a resource group; every job that deploys or registers for a rollout sits
in exactly one child config and nowhere else; a child job needs jobs of its own child or, for
files, the parent's jobs by pipeline id; the trigger waits for every parent job its child reads,
from a stage no earlier than theirs. Overrides by job id, `--target` and `mlgen check` treat the
child configs as outputs of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.compile import plan as planner
from mlgen.compile.compiler import compile_pipeline
from mlgen.spec.models import Pipeline
from mlgen.targets import gitlab_rollout, yamlout
from tests.support import output_key, run_mlgen

GLOBAL = ("workflow", "stages", "default", "variables")


def _spec(rollouts: list[tuple[str, list[int], bool]], *, register_only: bool, after: bool, approval: bool) -> dict[str, Any]:
    """One train stage, then per (environment, steps, with register) a rollout of its own model."""
    stages: list[dict[str, Any]] = [{"name": "train", "kind": "train", "run": "python train.py", "outputs": ["model/"]}]
    for i, (environment, steps, register) in enumerate(rollouts):
        if register:
            stages.append({"name": f"reg{i}", "kind": "register", "model": f"m{i}", "path": "model/", "needs": ["train"]})
        stages.append({"name": f"can{i}", "kind": "canary", "environment": environment, "deploy": "./deploy.sh",
                       "check": "./check.sh", "rollback": "./deploy.sh --rollback", "steps": steps, "approval": approval,
                       "needs": [f"reg{i}" if register else "train"], **({} if register else {"model": f"m{i}"})})
    if register_only:
        stages.append({"name": "archive", "kind": "register", "model": "archived", "path": "model/", "needs": ["train"]})
    if after:
        stages.append({"name": "notify", "kind": "validate", "run": "./notify.sh", "needs": [stages[-1]["name"]]})
    return {"version": 1, "name": "roll", "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"},
            "credentials": {"read": "MLFLOW_READ_TOKEN", "write": "MLFLOW_TRACKING_TOKEN"}, "stages": stages,
            "targets": {"gitlab": {"path": ".gitlab-ci.yml"}}}


def _compile(data: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    pipeline = Pipeline.model_validate(data)
    outputs = compile_pipeline(pipeline, spec_name="mlgen.yaml", spec_bytes=b"")
    return planner.build(pipeline, "0.1.0"), {output_key(o): o.text for o in outputs}


def _jobs(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in doc.items() if k not in GLOBAL and isinstance(v, dict)}


def _check_the_rule(the_plan: Any, texts: dict[str, str]) -> None:
    parent = _jobs(yamlout.load(texts["gitlab"]))
    stages = yamlout.load(texts["gitlab"])["stages"]
    children = {k.split(":", 1)[1]: yamlout.load(v) for k, v in texts.items() if k.startswith("gitlab-child:")}
    triggers = {k: v for k, v in parent.items() if "trigger" in v}
    by_id = {j.id: j for j in the_plan.jobs}
    # only trigger jobs hold a lock, and each starts one child config with `strategy: depend`
    assert {k for k, v in parent.items() if "resource_group" in v} == set(triggers)
    assert sorted(t["trigger"]["include"][0]["local"] for t in triggers.values()) == sorted(children)
    placed: dict[str, str] = {}
    for name, trigger in triggers.items():
        path = trigger["trigger"]["include"][0]["local"]
        child = children[path]
        assert trigger["trigger"]["strategy"] == "depend" and trigger["interruptible"] is False
        assert child["workflow"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "parent_pipeline"'}]
        jobs = _jobs(child)
        assert not [j for j in jobs.values() if "resource_group" in j], "no job in a child takes a lock of its own"
        for job_id, job in jobs.items():
            assert job_id not in placed, f"{job_id} in two child configs"
            placed[job_id] = name
            for need in job.get("needs", []):
                if "pipeline" in need:  # a parent job's files, by pipeline id, per matrix leg
                    assert need["pipeline"] == "$PARENT_PIPELINE_ID"
                    producer = need["job"].split(": [", 1)[0]
                    assert producer in parent and need["job"] in gitlab_rollout.leg_names(by_id[producer])
                    assert producer in [n["job"] for n in trigger["needs"]], "the trigger waits for what its child reads"
                else:
                    assert need["job"] in jobs, f"{job_id} needs {need['job']} outside its child"
        for need in trigger["needs"]:
            assert need["job"] in parent and stages.index(parent[need["job"]]["stage"]) <= stages.index(trigger["stage"])
    locked = {j.id for j in the_plan.jobs if j.lock}
    assert locked <= set(placed), "every job that holds a rollout's lock runs inside a child"
    assert not locked & set(parent), "no such job is left in the parent"
    assert set(placed) | (set(parent) - set(triggers)) == set(by_id), "no job lost, none duplicated"
    assert not set(placed) & set(parent)


ENVIRONMENTS = st.sampled_from(["production", "staging"])
STEPS = st.sampled_from([[100], [25, 100], [10, 50, 100]])


@settings(max_examples=40, deadline=None)
@given(rollouts=st.lists(st.tuples(ENVIRONMENTS, STEPS, st.booleans()), min_size=1, max_size=2),
       register_only=st.booleans(), after=st.booleans(), approval=st.booleans())
def test_every_rollout_runs_in_one_child_behind_one_lock(rollouts: list[tuple[str, list[int], bool]], register_only: bool,
                                                        after: bool, approval: bool) -> None:
    the_plan, texts = _compile(_spec(rollouts, register_only=register_only, after=after, approval=approval))
    _check_the_rule(the_plan, texts)
    assert len([k for k in texts if k.startswith("gitlab-child:")]) == len(rollouts)
    parent = yamlout.load(texts["gitlab"])
    if register_only:  # a register stage no canary follows holds no lock and stays in the parent
        assert "archive" in parent and "resource_group" not in parent["archive"]


def test_a_stage_after_the_canary_runs_in_the_rollout() -> None:
    the_plan, texts = _compile(_spec([("production", [10, 100], True)], register_only=False, after=True, approval=True))
    child = yamlout.load(texts["gitlab-child:.gitlab/mlgen-reg0.yml"])
    assert "notify" in child and child["notify"]["needs"] == [{"job": "can0-100", "artifacts": False}]
    assert "notify" not in yamlout.load(texts["gitlab"])


def test_overrides_by_job_id_reach_the_moved_jobs() -> None:
    data = _spec([("production", [10, 100], True)], register_only=False, after=False, approval=True)
    data["targets"]["gitlab"]["overrides"] = {"can0-10": {"timeout": "5 minutes"}, "reg0": {"tags": ["deployer"]},
                                              "train": {"tags": ["gpu"]}}
    _, texts = _compile(data)
    parent, child = yamlout.load(texts["gitlab"]), yamlout.load(texts["gitlab-child:.gitlab/mlgen-reg0.yml"])
    assert child["can0-10"]["timeout"] == "5 minutes" and child["reg0"]["tags"] == ["deployer"]
    assert parent["train"]["tags"] == ["gpu"]


def test_the_write_credential_stays_in_the_environment_inside_the_child() -> None:
    _, texts = _compile(_spec([("production", [100], True)], register_only=False, after=False, approval=False))
    parent, child = yamlout.load(texts["gitlab"]), yamlout.load(texts["gitlab-child:.gitlab/mlgen-reg0.yml"])
    assert "MLFLOW_TRACKING_TOKEN" not in yamlout.dump(parent["rollout:reg0"]), "the trigger job forwards no credential"
    for job_id, job in _jobs(child).items():
        if "MLFLOW_TRACKING_TOKEN" in yamlout.dump(job):
            assert job["environment"]["name"] == "production", job_id


@pytest.mark.parametrize(("only", "child"), [(("gitlab",), True), (("github",), False), ((), True)])
def test_the_child_goes_with_the_gitlab_config_under_target(only: tuple[str, ...], child: bool) -> None:
    data = _spec([("production", [100], True)], register_only=False, after=False, approval=False)
    data["targets"]["github"] = {"path": ".github/workflows/mlgen.yml"}
    outputs = compile_pipeline(Pipeline.model_validate(data), spec_name="mlgen.yaml", spec_bytes=b"", only=only)
    assert (gitlab_rollout.KIND in {o.target for o in outputs}) == child


def test_check_sees_the_child_as_generated(tmp_path: Path) -> None:
    spec = tmp_path / "mlgen.yaml"
    spec.write_text(yamlout.dump(_spec([("production", [10, 100], True)], register_only=False, after=False, approval=True)))
    assert run_mlgen("compile", "mlgen.yaml", cwd=tmp_path).code == 0
    child = tmp_path / ".gitlab" / "mlgen-reg0.yml"
    assert f"{gitlab_rollout.KIND}:.gitlab/mlgen-reg0.yml" in (tmp_path / ".gitlab-ci.yml").read_text().splitlines()[3]
    assert run_mlgen("check", "mlgen.yaml", cwd=tmp_path).code == 0
    original = child.read_text()
    child.write_text(original.replace("timeout: 30 minutes", "timeout: 300 minutes", 1))
    edited = run_mlgen("check", "mlgen.yaml", cwd=tmp_path)
    assert edited.code == 2 and ".gitlab/mlgen-reg0.yml: hand-edited" in edited.err
    child.unlink()
    missing = run_mlgen("check", "mlgen.yaml", cwd=tmp_path)
    assert missing.code == 2 and ".gitlab/mlgen-reg0.yml: missing" in missing.err
    child.write_text(original)
    assert run_mlgen("check", "mlgen.yaml", cwd=tmp_path).code == 0


def test_plan_notes_name_the_child_the_trigger_and_the_group() -> None:
    from mlgen.targets import gitlab

    the_plan, _ = _compile(_spec([("production", [10, 100], True), ("staging", [100], True)], register_only=False,
                                 after=False, approval=True))
    notes = [n for n in gitlab.notes(the_plan) if n.startswith("rollout:")]
    assert len(notes) == 2
    assert "`.gitlab/mlgen-reg0.yml`" in notes[0] and "`rollout:reg0`" in notes[0] and "`deploy/production/m0`" in notes[0]
    assert "`.gitlab/mlgen-reg1.yml`" in notes[1] and "`deploy/staging/m1`" in notes[1] and "`oldest_first`" in notes[1]
