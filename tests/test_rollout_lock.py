"""One rollout, one lock, one version (issue 14 section 1), on the generated text of every target.

Table-driven over step lists, approval on or off, and the registry kind: register, every canary
step and every rollback share the rollout's lock; each step and rollback reads the version the
register job recorded; a rollback's set-up is retried, its command never.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.compile.plan import ROLLBACK_SETUP_RETRIES, rollout_lock
from mlgen.spec.fieldtypes import MODEL_PATTERN
from mlgen.spec.models import CanaryStage
from mlgen.targets import yamlout
from tests.support import flat_github
from tests.test_rollout_semantics import STEP_LISTS, _stage, compile_spec, spec

CASES = [(steps, approval, registry) for steps in STEP_LISTS for approval in (True, False)
         for registry in ("mlflow", "command")]
IDS = [f"{'-'.join(map(str, s))}-{'approval' if a else 'direct'}-{r}" for s, a, r in CASES]
COMMANDS = {"register": "reg {model}", "promote": "pro {model} {version}", "rollback": "rb {model}", "baseline": "base {model}"}
RECORD = ".mlgen/registered-roll.json"
CHILD = "gitlab-child:.gitlab/mlgen-register.yml"  # the rollout's child config, as compile_spec keys it


def _spec(steps: list[int], approval: bool, registry: str) -> dict[str, Any]:
    data = spec(steps, approval=approval, registry=registry)
    if registry == "command":
        data["stages"][1]["command"] = COMMANDS
    return data


def _rollout_jobs(steps: list[int]) -> list[str]:
    return ["register", *(f"canary-{w}{end}" for w in steps for end in ("", "-rollback"))]


@pytest.mark.parametrize(("steps", "approval", "registry"), CASES, ids=IDS)
def test_github_the_whole_rollout_runs_inside_one_locked_call(steps: list[int], approval: bool, registry: str) -> None:
    outputs = compile_spec(_spec(steps, approval, registry))
    main = yamlout.load(outputs["github"])["jobs"]
    called = yamlout.load(outputs["github-rollout"])
    calls = {job_id: job for job_id, job in main.items() if "uses" in job}
    assert list(calls) == ["rollout-register"], "one job calls the rollout"
    call = calls["rollout-register"]
    # queue: a newly queued rollout never cancels a pending one (a waiting rollback included)
    assert call["concurrency"] == {"group": "deploy/production/roll", "cancel-in-progress": False, "queue": "max"}
    assert call["uses"].startswith("./.github/workflows/") and call["uses"].endswith("-rollout-register.yml")
    inside = _rollout_jobs(steps) + ([f"canary-{steps[0]}-approval"] if approval else [])
    assert sorted(called["jobs"]) == sorted(inside), "register, the approval, every step and rollback run in the call"
    assert not set(inside) & set(main), "no rollout job runs outside the lock"
    assert call["needs"] and not set(call["needs"]) & set(inside)
    # the call holds the lock: a job inside taking it too would wait for its own call forever
    assert all("concurrency" not in job for job in called["jobs"].values())
    assert all("concurrency" not in job for job_id, job in main.items() if job_id not in calls), "only the rollout holds the lock"
    assert "workflow_call" in called["on"] and list(called["on"]) == ["workflow_call"]


@pytest.mark.parametrize(("steps", "approval", "registry"), CASES, ids=IDS)
def test_gitlab_one_trigger_job_holds_the_lock_for_the_whole_rollout(steps: list[int], approval: bool,
                                                                     registry: str) -> None:
    """Register, every step and every rollback run in one child pipeline; only its trigger job,
    which waits for the child (`strategy: depend`), holds the resource group: no other pipeline's
    register or step can run between two steps of this rollout."""
    outputs = compile_spec(_spec(steps, approval, registry))
    parent, child = yamlout.load(outputs["gitlab"]), yamlout.load(outputs[CHILD])
    holders = {k: v["resource_group"] for k, v in parent.items() if isinstance(v, dict) and "resource_group" in v}
    assert holders == {"rollout:register": "deploy/production/roll"}, "one lock, on the trigger job alone"
    trigger = parent["rollout:register"]
    assert trigger["trigger"]["include"] == [{"local": ".gitlab/mlgen-register.yml"}]
    assert trigger["trigger"]["strategy"] == "depend", "the lock is held until the child pipeline ended"
    assert trigger["interruptible"] is False
    jobs = [k for k, v in child.items() if isinstance(v, dict) and "script" in v]
    assert jobs == _rollout_jobs(steps), "every rollout job sits in the child, in order"
    assert not [j for j in jobs if "resource_group" in child[j]], "no rollout job takes a lock of its own"
    assert not set(jobs) & set(parent), "no rollout job is left in the parent"
    assert child["workflow"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "parent_pipeline"'}]


@pytest.mark.parametrize(("steps", "approval", "registry"), CASES, ids=IDS)
def test_jenkins_one_lock_holds_register_and_every_step(steps: list[int], approval: bool, registry: str) -> None:
    text = compile_spec(_spec(steps, approval, registry))["jenkins"]
    assert text.count("lock(") == 1, "one lock per rollout, never one per step"
    rollout = _stage(text, "canary")
    head = rollout[:rollout.index("stages {")]
    # the branch test comes before the lock: builds of other branches never wait for it
    assert re.search(r"when \{\n\s+beforeAgent true\n\s+beforeOptions true\n\s+branch 'main'\n\s+\}\n\s+options \{\n\s+lock\('deploy/production/roll'\)",
                     head), head
    names = re.findall(r"^\s*stage\('([^']*)'\)", rollout, re.MULTILINE)
    assert names == ["canary", "register", *(["canary approval"] if approval else []), *(f"canary {w}%" for w in steps)]
    assert "stage('register')" not in text.replace(rollout, ""), "register runs only inside the lock"
    options = text[text.index("options {"):text.index("}", text.index("options {"))]
    assert "disableConcurrentBuilds()" in options


def _runtime_calls(text: str, verb: str) -> list[list[str]]:
    calls = []
    for line in text.splitlines():
        line = line.strip().removeprefix("- ").removeprefix("run: ").removesuffix("'''")  # a Jenkins sh body ends
        if line.startswith(f"mlgen canary {verb}"):
            calls.append(shlex.split(line))
    return calls


@pytest.mark.parametrize(("steps", "approval", "registry"), CASES, ids=IDS)
def test_every_step_and_rollback_gets_the_registered_version(steps: list[int], approval: bool, registry: str) -> None:
    outputs = compile_spec(_spec(steps, approval, registry))
    texts = {t: outputs["github"] + outputs["github-rollout"] if t == "github" else text  # the rollout has its own workflow
             for t, text in outputs.items() if t != "github-rollout"}
    for target, text in texts.items():
        if target == "gitlab":  # the GitLab rollout runs in its child config, below
            assert not any(_runtime_calls(text, verb) for verb in ("step", "promote", "rollback"))
            continue
        for verb, count in (("step", len(steps)), ("promote", 1), ("rollback", len(steps))):
            calls = _runtime_calls(text, verb)
            assert len(calls) >= count, (target, verb)
            for call in calls:
                assert call[call.index("--version-from") + 1] == RECORD, (target, call)
        if target == "github":
            jobs = flat_github(outputs)["jobs"]
            for job_id in _rollout_jobs(steps)[1:]:
                downloads = [s["with"] for s in jobs[job_id]["steps"] if "download-artifact" in s.get("uses", "")]
                assert {"name": "register", "path": ".mlgen"} in downloads, job_id  # upload-artifact strips .mlgen/
            register = jobs["register"]["steps"]
            assert any(s.get("with", {}).get("path") == RECORD for s in register if "upload-artifact" in s.get("uses", ""))
        if target == CHILD:
            doc = yamlout.load(text)
            assert doc["register"]["artifacts"]["paths"] == [RECORD]
            for job_id in _rollout_jobs(steps)[1:]:
                assert {"job": "register", "artifacts": True} in doc[job_id]["needs"], job_id
        if target == "jenkins":
            assert f"stash name: 'register', includes: '{RECORD}'" in text
            for weight in steps:
                assert "unstash 'register'" in _stage(text, f"canary {weight}%")


@pytest.mark.parametrize(("steps", "approval", "registry"), CASES[:4], ids=IDS[:4])
def test_a_rollback_retries_its_set_up_and_never_its_command(steps: list[int], approval: bool, registry: str) -> None:
    outputs = compile_spec(_spec(steps, approval, registry))
    attempts = f"seq 1 {ROLLBACK_SETUP_RETRIES + 1}"
    client = "mlgen-ci[mlflow]" if registry == "mlflow" else "mlgen-ci=="  # the registry client: mlflow-skinny
    jobs = flat_github(outputs)["jobs"]
    gl = yamlout.load(outputs[CHILD])
    for weight in steps:
        run = {s["name"]: s["run"] for s in jobs[f"canary-{weight}-rollback"]["steps"] if "run" in s}
        assert attempts in run["Install mlgen"] and client in run["Install mlgen"]
        assert run["rollback"].startswith("mlgen canary rollback"), "the rollback command runs once"
        before = gl[f"canary-{weight}-rollback"]["before_script"]
        assert all(attempts in line for line in before)
        assert gl[f"canary-{weight}-rollback"]["script"][0].startswith("mlgen canary rollback")
        assert "retry" not in gl[f"canary-{weight}-rollback"], "no job-level retry around a deploy"
        assert attempts in gl[f"canary-{weight}"]["after_script"][0], "the cancel path retries its install too"
        post = _stage(outputs["jenkins"], f"canary {weight}%")
        post = post[post.index("unsuccessful {"):]
        retried = post[post.index(f"retry({ROLLBACK_SETUP_RETRIES + 1}) {{"):post.index("mlgen canary rollback")]
        assert f"pip install '{client}" in retried
        assert post.count("retry(") == 1, "the rollback command is outside the retry"


@pytest.mark.parametrize("side_needs", [["train"], ["register"]])
def test_jenkins_a_stage_between_register_and_canary_keeps_its_own_branches(side_needs: list[str]) -> None:
    """A stage listed between register and canary joins the rollout's lock only if it waits for
    register; otherwise it runs before the rollout, on every branch its own condition allows."""
    data = spec([10, 100], approval=False)
    side = {"name": "side", "kind": "validate", "run": "true", "needs": side_needs}
    data["stages"].insert(2, side)
    data["stages"][3]["needs"] = ["register"]  # the canary
    text = compile_spec(data)["jenkins"]
    from tests.condeval import jenkins_when

    rollout = _stage(text, "canary")
    inside = "stage('side')" in rollout
    assert inside == (side_needs == ["register"])
    runs_on_feature = jenkins_when(text, "side", branch="feature/x")
    assert runs_on_feature == (side_needs == ["train"]), "only what waits for register is limited to its branches"
    assert text.index("stage('side')") < text.index("stage('canary 10%')")


# -- one lock per model and environment ----------------------------------------------------------------

# the spec's own patterns, whatever they become
_ENV = st.from_regex(next(m.pattern for m in CanaryStage.model_fields["environment"].metadata), fullmatch=True)
_MODEL = st.from_regex(MODEL_PATTERN, fullmatch=True)
# GitLab: "letters, digits, '-', '_', '/', '$', '{', '}', '.', and spaces, but it cannot start or end with '/'"
_GITLAB_RESOURCE_GROUP = re.compile(r"[A-Za-z0-9_/${}. -]+")


@settings(max_examples=300, deadline=None)
@given(_ENV, _MODEL, _ENV, _MODEL)
def test_rollouts_share_a_lock_exactly_when_model_and_environment_are_the_same(env1: str, model1: str, env2: str,
                                                                               model2: str) -> None:
    lock1, lock2 = rollout_lock(env1, model1), rollout_lock(env2, model2)
    assert (lock1 == lock2) == ((env1, model1) == (env2, model2))
    assert _GITLAB_RESOURCE_GROUP.fullmatch(lock1) and not lock1.startswith("/") and not lock1.endswith("/")


@pytest.mark.parametrize(("models", "environments"), [(("a", "b"), ("production", "production")),
                                                      (("a", "a"), ("staging", "production")),
                                                      (("a", "b"), ("staging", "production"))])
def test_two_rollouts_in_one_pipeline_never_wait_for_each_other_unless_they_deploy_the_same_model_to_one_place(
        models: tuple[str, str], environments: tuple[str, str]) -> None:
    stages: list[dict[str, Any]] = [{"name": "train", "kind": "train", "run": "python train.py", "outputs": ["model/"]}]
    for i, (model, env) in enumerate(zip(models, environments)):
        stages += [{"name": f"r{i}", "kind": "register", "registry": "mlflow", "model": model, "path": "model/", "needs": ["train"]},
                   {"name": f"c{i}", "kind": "canary", "deploy": "./d.sh", "check": "./c.sh", "rollback": "./r.sh", "steps": [100],
                    "approval": False, "environment": env, "needs": [f"r{i}"]}]
    data = {"version": 1, "name": "two", "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}, "stages": stages,
            "targets": {"github": {"path": ".github/workflows/mlgen.yml"}, "gitlab": {"path": ".gitlab-ci.yml"},
                        "jenkins": {"path": "Jenkinsfile"}}}
    outputs = compile_spec(data)
    groups = sorted(job["concurrency"]["group"] for job in yamlout.load(outputs["github"])["jobs"].values() if "concurrency" in job)
    parent = yamlout.load(outputs["gitlab"])
    resource_groups = sorted(v["resource_group"] for v in parent.values() if isinstance(v, dict) and "resource_group" in v)
    jenkins_locks = sorted(re.findall(r"lock\('([^']*)'\)", outputs["jenkins"]))
    expected = sorted(f"deploy/{env}/{model}" for model, env in zip(models, environments))
    assert groups == resource_groups == jenkins_locks == expected
