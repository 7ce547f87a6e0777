"""Graph semantics: conditions travel down `needs`, and each stage resolves its own register stage.

Property tests generate stage graphs with branch-restricted stages anywhere; for every job the
rules each target emits must never admit a pipeline in which one of its needs is left out.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.compile import describe, plan
from mlgen.errors import SpecError
from mlgen.runtime.cli import build_parser
from mlgen.spec.models import Pipeline
from mlgen.targets import yamlout
from tests.support import checked_pipeline, compile_model

# (event, branch): the pipelines a job may or may not be part of.
EVENTS = [("merge_request_event", "feature"), ("push", "feature"), ("push", "main"), ("push", "release"),
          ("schedule", "main"), ("web", "release")]
BRANCH_SETS = [None, ["main"], ["release"], ["main", "release"]]


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(2, 7))
    stages: list[dict[str, Any]] = []
    for i in range(count):
        name = f"s{i}"
        # s0 is a validate stage that produces the model: every later stage waits for it, directly or not
        kind = "validate" if i == 0 else draw(st.sampled_from(["validate", "register", "canary"]))
        stage: dict[str, Any] = {"name": name, "kind": kind}
        if i and draw(st.booleans()):
            stage["needs"] = draw(st.lists(st.sampled_from([f"s{j}" for j in range(i)]), min_size=1, max_size=3, unique=True))
        if kind == "validate":
            stage.update(run="true", outputs=["model/"])
        if kind == "register":
            stage.update(model=f"m{i}", path="model/")
        if kind == "canary":
            stage.update(deploy="true", check="true", rollback="true", steps=[50, 100], model="m")
        branches = draw(st.sampled_from(BRANCH_SETS))
        if kind in ("register", "canary") and branches is not None:
            stage["branches"] = branches
        stages.append(stage)
    return {"version": 1, "name": "graph", "triggers": {"push": ["main", "release"]}, "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}, "stages": stages}


def _gitlab_admits(rules: list[dict[str, Any]] | None, event: str, branch: str) -> bool:
    """GitLab's rules for our rule shapes: first matching `if` decides; no rules means always."""
    if not rules:
        return True
    vars_ = {"CI_PIPELINE_SOURCE": event, "CI_DEFAULT_BRANCH": "main",
             "CI_COMMIT_BRANCH": None if event == "merge_request_event" else branch}
    for rule in rules:
        condition = rule.get("if")
        if condition is None or _eval(condition, vars_):
            return rule.get("when") != "never"
    return False


def _eval(expression: str, vars_: dict[str, str | None]) -> bool:
    python = re.sub(r"\$([A-Z_]+)", lambda m: repr(vars_.get(m.group(1))), expression)
    python = python.replace("&&", " and ").replace("||", " or ")
    return bool(eval(python, {}))  # noqa: S307 - our own rule text, translated token by token


def _github_admits(condition: str | None, event: str, branch: str) -> bool:
    if condition is None:
        return True
    condition = re.sub(r"^always\(\) && \(contains\(needs\.\*\.result, 'failure'\) \|\| "
                       r"contains\(needs\.\*\.result, 'cancelled'\)\) && ", "", condition)
    github_event = "pull_request" if event == "merge_request_event" else event
    python = (condition.replace("github.event_name", repr(github_event)).replace("github.ref", repr(f"refs/heads/{branch}"))
              .replace("&&", " and ").replace("||", " or "))
    return bool(eval(python, {}))  # noqa: S307


def _compile(spec: dict[str, Any]) -> dict[str, str] | SpecError:
    try:
        return compile_model(spec)
    except SpecError as exc:
        return exc


@settings(max_examples=25)
@given(graphs())
def test_no_job_runs_in_a_pipeline_without_its_needs(spec: dict[str, Any]) -> None:
    result = _compile(spec)
    if isinstance(result, SpecError):
        assert all("can never run" in p.message for p in result.problems), result.render()
        return
    gitlab, github = yamlout.load(result["gitlab"]), yamlout.load(result["github"])["jobs"]
    for job_id, job in github.items():
        for need in job.get("needs", []):
            for event, branch in EVENTS:
                if _github_admits(job.get("if"), event, branch):
                    assert _github_admits(github[need].get("if"), event, branch), (job_id, need, event, branch)
    for job_id, job in gitlab.items():
        if not isinstance(job, dict) or "script" not in job:
            continue
        for need in job["needs"]:
            for event, branch in EVENTS:
                if _gitlab_admits(job.get("rules"), event, branch):
                    assert _gitlab_admits(gitlab[need["job"]].get("rules"), event, branch), (job_id, need, event, branch)


@settings(max_examples=15)
@given(graphs())
def test_jenkins_stages_carry_the_inherited_branch_conditions(spec: dict[str, Any]) -> None:
    pipeline = Pipeline.model_validate(spec)
    try:
        the_plan = plan.build(pipeline, "0")
    except SpecError:
        return
    text = _compile(spec)["jenkins"]  # type: ignore[index]
    for job in the_plan.jobs:
        if job.when.branch_only and job.kind not in ("canary", "rollback"):
            block = text[text.index(f"stage('{job.title}')"):]
            block = block[:block.index("steps {")]
            for branch in job.when.branches:
                assert f"branch '{branch}'" in block, (job.id, block)


def test_a_stage_after_register_runs_only_where_register_runs() -> None:
    spec = {"version": 1, "name": "p", "stages": [
        {"name": "train", "kind": "train", "run": "true", "outputs": ["model/"]},
        {"name": "register", "kind": "register", "model": "m", "path": "model/"},
        {"name": "notify", "kind": "validate", "run": "true"}]}
    out = _compile(spec)
    assert not isinstance(out, SpecError)
    gitlab = yamlout.load(out["gitlab"])
    assert gitlab["notify"]["rules"] == gitlab["register"]["rules"]
    assert yamlout.load(out["github"])["jobs"]["notify"]["if"] == yamlout.load(out["github"])["jobs"]["register"]["if"]
    jenkins = out["jenkins"]
    notify = jenkins[jenkins.index("stage('notify')"):]
    assert "when {\n        beforeAgent true\n        branch 'main'\n      }" in notify
    described = describe.describe(Pipeline.model_validate(spec), "mlgen.yaml")
    assert "notify: validate; after register; only on <default branch> (as it waits for register), never on pull requests" in described


def test_a_stage_that_can_never_run_is_refused() -> None:
    spec = {"version": 1, "name": "p", "stages": [
        {"name": "train", "kind": "train", "run": "true", "outputs": ["model/"]},
        {"name": "register", "kind": "register", "model": "m", "path": "model/", "branches": ["release"]},
        {"name": "canary", "kind": "canary", "deploy": "true", "check": "true", "rollback": "true", "branches": ["main"]}]}
    out = _compile(spec)
    assert isinstance(out, SpecError)
    assert out.render() == (
        "error: the spec has 1 problem:\n"
        "<pipeline>: stage `canary` can never run: it runs only on main, but it waits for `register`, which runs only on release\n"
        "  hint: give both stages a common branch in `branches:`, or make this stage wait for another one")


# -- each stage resolves its own register stage ---------------------------------------------------

def _two_chains(canary_model: str | None = None, evaluate_model: str | None = None) -> dict[str, Any]:
    stages: list[dict[str, Any]] = []
    for model in ("retriever", "ranker"):
        evaluate: dict[str, Any] = {"name": f"eval-{model}", "kind": "evaluate", "run": "true", "metrics": "m.json",
                                    "gates": {"auc": {"max_drop": 0.01}}, "baseline": {"registry": "champion"}}
        if model == "ranker":
            evaluate["needs"] = []
        stages += [evaluate,
                   {"name": f"register-{model}", "kind": "register", "model": model, "path": "m.json"},
                   {"name": f"canary-{model}", "kind": "canary", "deploy": "true", "check": "true", "rollback": "true"}]
    return {"version": 1, "name": "two", "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}, "stages": stages}


def _runtime_args(command: str) -> Any:
    import shlex

    words = shlex.split(command.split("\n")[-1])
    return build_parser().parse_args(words[1:])


@pytest.mark.parametrize("model", ["retriever", "ranker"])
def test_every_stage_works_with_its_own_model(model: str) -> None:
    the_plan = plan.build(Pipeline.model_validate(_two_chains()), "0")
    promote = next(c for c in the_plan.job(f"canary-{model}-100").commands if c.name == "promote")
    assert _runtime_args(promote.script).model == model
    rollback = the_plan.job(f"canary-{model}-100-rollback").commands[0]
    assert _runtime_args(rollback.script).model == model
    gate = next(c for c in the_plan.job(f"eval-{model}").commands if c.name == "gate")
    assert _runtime_args(gate.script).model == model


def test_a_canary_after_two_register_stages_is_ambiguous() -> None:
    spec = _two_chains()
    spec["stages"][-1]["needs"] = ["register-retriever", "register-ranker"]
    with pytest.raises(SpecError) as info:
        checked_pipeline(spec)
    assert [p.message for p in info.value.problems] == [
        "stage `canary-ranker` could work with the model of several register stages above it: "
        "`register-retriever` (model retriever), `register-ranker` (model ranker)"]
    assert info.value.problems[0].hint == "set `model:` on this stage to the model it works with"
    spec["stages"][-1]["model"] = "ranker"
    checked_pipeline(spec)  # naming the model resolves it


# -- the command registry: each stage gets the templates it runs ------------------------------------

COMMANDS = {"register": "reg {model}", "promote": "pro {model}", "rollback": "rb {model}", "baseline": "base {model}"}


def _command_spec(**commands: str) -> dict[str, Any]:
    return {"version": 1, "name": "cmd", "stages": [
        {"name": "evaluate", "kind": "evaluate", "run": "true", "metrics": "m.json", "gates": {"auc": {"max_drop": 0.01}},
         "baseline": {"registry": "champion"}},
        {"name": "register", "kind": "register", "registry": "command", "model": "m", "path": "m.json", "command": commands},
        {"name": "canary", "kind": "canary", "deploy": "true", "check": "true", "rollback": "true"}]}


def test_each_runtime_call_gets_the_template_it_runs() -> None:
    the_plan = plan.build(checked_pipeline(_command_spec(**COMMANDS)), "0")
    calls = {"gate": the_plan.job("evaluate").commands[-1], "register": the_plan.job("register").commands[0],
             "promote": the_plan.job("canary-100").commands[-1], "rollback": the_plan.job("canary-100-rollback").commands[0]}
    for name, command in calls.items():
        args = _runtime_args(command.script)
        operation = "baseline" if name == "gate" else name
        assert getattr(args, f"{operation}_command") == COMMANDS[operation], name
        assert args.registry == "command" and args.model == "m"


@pytest.mark.parametrize("missing", ["promote", "rollback", "baseline"])
def test_a_missing_template_is_a_located_error(missing: str) -> None:
    commands = {k: v for k, v in COMMANDS.items() if k != missing}
    with pytest.raises(SpecError) as info:
        checked_pipeline(_command_spec(**commands))
    user = "evaluate" if missing == "baseline" else "canary"
    assert [p.message for p in info.value.problems] == [
        f"register stage `register` has no `command.{missing}`, which stage `{user}` runs with the command registry"]


# -- narrowing, row by row: (own, need) -> result (None: the job can never run) --------------------------

ANY, DEFAULT = ((), False), ((), True)
NARROW = [
    (ANY, ANY, ANY),
    (ANY, DEFAULT, DEFAULT),
    (DEFAULT, ANY, DEFAULT),
    (DEFAULT, DEFAULT, DEFAULT),
    (DEFAULT, (("main",), False), (("main",), False)),  # explicit wins: never wider than the parent on any target
    ((("main",), False), DEFAULT, (("main",), False)),
    ((("main", "dev"), False), (("dev", "release"), False), (("dev",), False)),
    (DEFAULT, (("release",), False), None),
    ((("dev",), True), (("dev", "x"), False), (("dev",), False)),
]


@pytest.mark.parametrize(("own", "need", "result"), NARROW)
def test_narrow(own: Any, need: Any, result: Any) -> None:
    from mlgen.spec.conditions import NeverRuns, When, narrow

    mine, theirs = When(*own), When(*need)
    if result is None:
        with pytest.raises(NeverRuns):
            narrow(mine, theirs, "need", "main")
        return
    got = narrow(mine, theirs, "need", "main")
    assert (got.branches, got.default_branch) == result
    assert got.inherited_from == (() if (got.branches, got.default_branch) == own else ("need",))
