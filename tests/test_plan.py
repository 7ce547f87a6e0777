"""The plan, tested directly: every ML decision `plan.build` makes, asserted on the IR, not on YAML.

Each table row is a small spec built here and the decision it must produce. The emitters only
translate these fields, so a changed decision shows up here first, named, before any snapshot.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgen.compile.plan import LEG_SEPARATOR, ROLLBACK_SETUP_RETRIES, Plan
from mlgen.errors import SpecError
from mlgen.spec.conditions import When
from tests.support import plan_of

VERSION = "0.0.0"
TRACKING = {"MLFLOW_TRACKING_URI": "https://mlflow.invalid"}


def validate(name: str = "validate", **kw: Any) -> dict[str, Any]:
    return {"name": name, "kind": "validate", "run": f"./{name}.sh", **kw}


def train(name: str = "train", **kw: Any) -> dict[str, Any]:
    return {"name": name, "kind": "train", "run": f"python {name}.py", "outputs": ["model/"], **kw}


def evaluate(name: str = "evaluate", **kw: Any) -> dict[str, Any]:
    return {"name": name, "kind": "evaluate", "run": "python eval.py", "metrics": "metrics.json",
            "gates": {"auc": {"min": 0.5}}, **kw}


def register(name: str = "register", **kw: Any) -> dict[str, Any]:
    return {"name": name, "kind": "register", "model": "m", "path": "model/", **kw}


def canary(name: str = "canary", **kw: Any) -> dict[str, Any]:
    return {"name": name, "kind": "canary", "deploy": "./deploy.sh", "check": "./check.sh", "rollback": "./rollback.sh", **kw}


def pipeline(*stages: dict[str, Any], **top: Any) -> Plan:
    spec = {"version": 1, "name": "p", "env": dict(TRACKING), "secrets": ["TOKEN", "OTHER"], "stages": list(stages), **top}
    return plan_of(spec, VERSION)


def ids(the_plan: Plan) -> list[str]:
    return [j.id for j in the_plan.jobs]


# -- one job per stage; a canary is one job per step plus one rollback per step -----------------

@pytest.mark.parametrize("steps", [[100], [50, 100], [10, 50, 100], [1, 2, 3, 100]])
def test_canary_makes_a_job_and_a_rollback_per_step(steps: list[int]) -> None:
    the_plan = pipeline(train(), register(), canary(steps=steps))
    expected = ["train", "register", *itertools.chain.from_iterable((f"canary-{w}", f"canary-{w}-rollback") for w in steps)]
    assert ids(the_plan) == expected
    kinds = {j.id: j.kind for j in the_plan.jobs}
    assert [kinds[f"canary-{w}"] for w in steps] == ["canary"] * len(steps)
    assert [kinds[f"canary-{w}-rollback"] for w in steps] == ["rollback"] * len(steps)
    assert [the_plan.job(f"canary-{w}").title for w in steps] == [f"canary {w}%" for w in steps]


@pytest.mark.parametrize(("stages", "kinds"), [
    ([validate()], ["validate"]),
    ([validate(), train(), evaluate()], ["validate", "train", "evaluate"]),
    ([train(), evaluate(), register()], ["train", "evaluate", "register"]),
])
def test_every_other_kind_is_one_job_named_after_its_stage(stages: list[dict[str, Any]], kinds: list[str]) -> None:
    the_plan = pipeline(*stages)
    own = [j for j in the_plan.jobs if j.report is None]  # an evaluate stage's report job: tests/test_report_job.py
    assert [(j.id, j.stage, j.kind, j.title) for j in own] == [(k, k, k, k) for k in kinds]


# -- needs and ordering ----------------------------------------------------------------------------

Stages = list[dict[str, Any]]

NEEDS_CASES: dict[str, tuple[Stages, dict[str, tuple[str, ...]]]] = {
    "a chain waits for the previous stage": (
        [validate(), train(), evaluate()],
        {"validate": (), "train": ("validate",), "evaluate": ("train",)}),
    "fan-out from one stage, fan-in to one": (
        [validate(), train("a", needs=["validate"]), train("b", needs=["validate"]), evaluate(needs=["a", "b"])],
        {"validate": (), "a": ("validate",), "b": ("validate",), "evaluate": ("a", "b")}),
    "explicit needs in the order written, duplicates once": (
        [validate("x"), validate("y", needs=[]), evaluate(needs=["y", "x", "y"])],
        {"x": (), "y": (), "evaluate": ("y", "x")}),
    "a stage after a canary waits for its last step, not a rollback": (
        [train(), register(), canary(steps=[20, 100]), validate("smoke")],
        {"canary-20": ("register",), "canary-100": ("canary-20",), "smoke": ("canary-100",)}),
}


@pytest.mark.parametrize("case", NEEDS_CASES, ids=str)
def test_needs(case: str) -> None:
    stages, expected = NEEDS_CASES[case]
    the_plan = pipeline(*stages)
    assert {k: the_plan.job(k).needs for k in expected} == expected


def test_jobs_come_after_their_needs_and_keep_spec_order_otherwise() -> None:
    # `late` is written first but waits for `early`: the plan puts it after; the rest keep spec order.
    the_plan = pipeline(validate("late", needs=["early"]), validate("early", needs=[]), validate("other", needs=[]))
    assert ids(the_plan) == ["early", "late", "other"]
    seen: set[str] = set()
    for job in the_plan.jobs:
        assert set(job.needs) <= seen, job.id
        seen.add(job.id)


# -- matrix legs and artifact names ----------------------------------------------------------------

@pytest.mark.parametrize("matrix", [{"model": ["gb"]}, {"model": ["gb", "lr"]}, {"model": ["a", "b"], "seed": ["1", "2", "3"]},
                                    {"zeta": ["z"], "alpha": ["x", "y"]}])
def test_matrix_legs_and_their_artifact_names(matrix: dict[str, list[str]]) -> None:
    job = pipeline(train(matrix=matrix)).job("train")
    assert job.matrix == tuple((k.upper(), tuple(v)) for k, v in matrix.items())  # spec order, upper-case names
    assert job.upload is not None and job.upload.matrix == job.matrix
    legs = [LEG_SEPARATOR.join(["train", *values]) for values in itertools.product(*matrix.values())]
    assert list(job.upload.leg_names) == legs
    assert job.upload.leg_pattern == f"train{LEG_SEPARATOR}*"
    assert len(set(legs)) == len(legs)


def test_without_a_matrix_the_artifact_is_named_after_the_stage() -> None:
    job = pipeline(train()).job("train")
    assert job.matrix == () and job.upload is not None
    assert job.upload.leg_names == ("train",) and job.upload.paths == ("model/",)


def test_a_matrix_artifact_travels_to_the_next_stage_whole() -> None:
    the_plan = pipeline(train(matrix={"model": ["a", "b"]}), evaluate())
    (download,) = the_plan.job("evaluate").downloads
    assert download.producer == "train" and download.leg_names == ("train~a", "train~b")


# -- what each job hands on, and to whom -----------------------------------------------------------

UPLOAD_CASES: dict[str, tuple[dict[str, Any], tuple[str, ...] | None]] = {
    "train: its outputs": (train(outputs=["model/", "vocab.txt"]), ("model/", "vocab.txt")),
    "validate without outputs: nothing": (validate(), None),
    "evaluate: metrics and gate results": (evaluate(), ("metrics.json", ".mlgen/gate-evaluate.json")),
    "evaluate with predictions: those too": (evaluate(predictions="preds.csv"),
                                             ("metrics.json", ".mlgen/gate-evaluate.json", "preds.csv")),
    "evaluate listing its metrics as an output: once": (evaluate(outputs=["metrics.json"]),
                                                        ("metrics.json", ".mlgen/gate-evaluate.json")),
}


@pytest.mark.parametrize("case", UPLOAD_CASES, ids=str)
def test_uploads(case: str) -> None:
    stage, paths = UPLOAD_CASES[case]
    the_plan = pipeline(stage) if stage["kind"] != "evaluate" else pipeline(train(), stage)
    upload = the_plan.job(stage["name"]).upload
    assert (upload.paths if upload else None) == paths


def test_canary_jobs_hand_nothing_on_and_only_the_first_step_downloads() -> None:
    the_plan = pipeline(train(), evaluate(), register(), canary(steps=[10, 100], outputs=["deployed.txt"], inputs=["train"]))
    canaries = [j for j in the_plan.jobs if j.stage == "canary"]
    assert all(j.upload is None for j in canaries)
    assert sorted(a.producer for a in the_plan.job("canary-10").downloads) == ["register", "train"]
    # every later step and every rollback reads only the version register recorded
    assert all([a.producer for a in j.downloads] == ["register"] for j in canaries if j.id != "canary-10")


REGISTER_PATH_CASES: dict[str, tuple[Stages, list[str]]] = {
    "the producer two stages up, plus the evaluate stage above": (
        [train(), evaluate(), register()], ["evaluate", "train"]),
    "a folder below an output folder": (
        [train(outputs=["artifacts/"]), evaluate(), register(path="artifacts/model")], ["evaluate", "train"]),
    "the nearest of two producers": (
        [train("old"), train("new", needs=["old"]), evaluate(), register()], ["evaluate", "new"]),
    "the gate results of the evaluate stage above, when another stage sits between": (
        [train(), evaluate(), validate("docs"), register()], ["evaluate", "train"]),
    "not a sibling that produced other files": (
        [train(), train("side", outputs=["side/"], needs=["train"]), evaluate(needs=["side"]), register()],
        ["evaluate", "train"]),
}


@pytest.mark.parametrize("case", REGISTER_PATH_CASES, ids=str)
def test_register_downloads_the_stage_that_produced_its_path(case: str) -> None:
    stages, producers = REGISTER_PATH_CASES[case]
    job = pipeline(*stages).job("register")
    assert sorted(a.producer for a in job.downloads) == producers
    assert "--gate-results .mlgen/gate-evaluate.json" in job.commands[0].script


def test_inputs_bring_an_ancestors_files_as_well() -> None:
    the_plan = pipeline(train("features", outputs=["features/"]), train(), evaluate(inputs=["features"]))
    assert [a.producer for a in the_plan.job("evaluate").downloads] == ["train", "features"]
    assert [a.producer for a in the_plan.job("train").downloads] == ["features"]


# -- the training cache -------------------------------------------------------------------------------

def _cache(**changes: Any) -> Any:
    top = changes.pop("top", {})
    changes.setdefault("cache", {"key": ["data/**"]})
    stage = train(**changes)
    job = pipeline(stage, **top).job("train")
    assert job.cache is not None
    return job.cache


def test_cache_fields() -> None:
    cache = _cache(cache={"key": ["data/**", "params.yaml"]}, top={"defaults": {"requirements": ["requirements.txt", "params.yaml"]}})
    assert cache.prefix.startswith("mlgen-train-") and len(cache.prefix) == len("mlgen-train-") + 10
    # the stage's key, then the requirement files (a dependency bump retrains), each once
    assert cache.key_files == ("data/**", "params.yaml", "requirements.txt")
    assert cache.paths == ("model/",)  # the outputs by default
    assert cache.guard_install == f"mlgen-ci=={VERSION}"


@pytest.mark.parametrize(("change", "retrains"), [
    ({"run": "python other.py"}, True),
    ({"cache": {"key": ["data/**"], "paths": ["model/weights/"]}}, True),
    ({"top": {"defaults": {"python": "3.12"}}}, True),
    ({"cache": {"key": ["data/**", "params.yaml"]}}, False),  # the key files are hashed at run time, not here
    ({"timeout": "3h"}, False),
    ({"env": {"SEED": "1"}}, False),
])
def test_cache_prefix_changes_exactly_when_a_cached_model_would_be_stale(change: dict[str, Any], retrains: bool) -> None:
    assert (_cache(**change).prefix != _cache().prefix) is retrains


def test_a_cached_train_command_is_skipped_on_a_hit_and_an_uncached_one_never() -> None:
    assert [c.skip_on_cache_hit for c in pipeline(train(cache={"key": ["data/**"]})).job("train").commands] == [True]
    job = pipeline(train()).job("train")
    assert job.cache is None and [c.skip_on_cache_hit for c in job.commands] == [False]


def test_cache_paths_replace_the_outputs_when_given() -> None:
    assert _cache(cache={"key": ["d/*"], "paths": ["model/a/", "model/b/"]}).paths == ("model/a/", "model/b/")


# -- conditions: branches, pull requests, inheritance down `needs` -----------------------------------

WHEN_CASES: dict[str, tuple[Stages, dict[str, When]]] = {
    "validate, train and evaluate run on every pipeline": (
        [validate(), train(), evaluate()], {"validate": When(), "train": When(), "evaluate": When()}),
    "register runs on the default branch by default": (
        [train(), register()], {"register": When(default_branch=True)}),
    "register on listed branches": (
        [train(), register(branches=["main", "release-1"])], {"register": When(branches=("main", "release-1"))}),
    "a canary on the default branch after a register on two branches: the common one, named": (
        [train(), register(branches=["main", "release"]), canary(steps=[100])],
        {"canary-100": When(branches=("main",), inherited_from=("register",)),
         "canary-100-rollback": When(branches=("main",), on_failure_of=("canary-100",), inherited_from=("canary-100",))}),
    "a stage after a branch-only one becomes branch-only": (
        [train(), register(), validate("after")],
        {"after": When(default_branch=True, inherited_from=("register",))}),
    "a rollback runs only when its step failed": (
        [train(), register(), canary(steps=[100])],
        {"canary-100-rollback": When(default_branch=True, on_failure_of=("canary-100",))}),
}


@pytest.mark.parametrize("case", WHEN_CASES, ids=str)
def test_when(case: str) -> None:
    stages, expected = WHEN_CASES[case]
    the_plan = pipeline(*stages)
    assert {k: the_plan.job(k).when for k in expected} == expected


def test_a_stage_that_could_never_run_is_refused() -> None:
    with pytest.raises(SpecError) as refused:
        pipeline(train(), register(branches=["release"]), canary(steps=[100], branches=["main"]))
    assert [p.message for p in refused.value.problems] == [
        "stage `canary` can never run: it runs only on main, but it waits for `register`, which runs only on release"]


@pytest.mark.parametrize(("triggers", "expected"), [
    ({}, (("main",), True, None, True)),
    ({"push": ["main", "dev"], "pull_request": False}, (("main", "dev"), False, None, True)),
    ({"schedule": "0 4 * * *", "manual": False}, (("main",), True, "0 4 * * *", False)),
])
def test_triggers(triggers: dict[str, Any], expected: tuple[Any, ...]) -> None:
    t = pipeline(validate(), triggers=triggers).triggers
    assert (t.push, t.pull_request, t.schedule, t.manual) == expected


def test_push_defaults_to_the_default_branch() -> None:
    assert pipeline(validate(), defaults={"branch": "trunk"}).triggers.push == ("trunk",)


# -- secrets: which job gets which, and which command inside it ---------------------------------------

SECRET_CASES: dict[str, tuple[Stages, dict[str, tuple[str, ...]]]] = {
    "validate, train, evaluate get none by default": (
        [validate(), train(), evaluate()], {"validate": (), "train": (), "evaluate": ()}),
    "register and canary get every declared secret": (
        [train(), register(), canary(steps=[100])],
        {"register": ("TOKEN", "OTHER"), "canary-100": ("TOKEN", "OTHER"), "canary-100-rollback": ("TOKEN", "OTHER")}),
    "a stage's own list replaces the default": (
        [train(secrets=["OTHER"]), register(secrets=["TOKEN"])], {"train": ("OTHER",), "register": ("TOKEN",)}),
    "an empty list gives none": ([train(), register(secrets=[])], {"register": ()}),
}


@pytest.mark.parametrize("case", SECRET_CASES, ids=str)
def test_secrets_per_job(case: str) -> None:
    stages, expected = SECRET_CASES[case]
    the_plan = pipeline(*stages)
    assert {k: the_plan.job(k).secrets for k in expected} == expected
    assert the_plan.secrets == ("TOKEN", "OTHER")


def test_the_gate_gets_no_declared_secret_unless_its_stage_lists_one() -> None:
    # The gate runs on pull/merge requests: the declared secrets (the write token among them)
    # never reach it by default; it reads the champion with `credentials.read` (tests/test_trust.py).
    job = pipeline(train(), evaluate(baseline={"registry": "champion"}), register()).job("evaluate")
    assert {c.name: (c.secrets, c.credential) for c in job.commands} == {"evaluate": ((), None), "gate": ((), None)}
    listed = pipeline(train(), evaluate(baseline={"registry": "champion"}, secrets=["OTHER"]), register()).job("evaluate")
    assert {c.name: c.secrets for c in listed.commands} == {"evaluate": ("OTHER",), "gate": ("OTHER",)}
    reader = pipeline(train(), evaluate(baseline={"registry": "champion"}), register(),
                      credentials={"read": "READ_TOKEN", "write": "WRITE_TOKEN"}).job("evaluate")
    assert {c.name: (c.secrets, c.credential) for c in reader.commands} == {
        "evaluate": ((), None), "gate": ((), ("MLFLOW_TRACKING_TOKEN", "READ_TOKEN"))}
    file_baseline = pipeline(train(), evaluate(baseline={"file": "base.json"})).job("evaluate")
    assert {c.name: c.secrets for c in file_baseline.commands} == {"evaluate": (), "gate": ()}


def test_a_validate_stage_with_secrets_gives_them_to_its_command_and_data_check() -> None:
    job = pipeline(validate(secrets=["TOKEN"], contract="c.yaml", data=["d.csv"])).job("validate")
    assert {c.name: c.secrets for c in job.commands} == {"validate": ("TOKEN",), "data check": ("TOKEN",)}


# -- approvals, environments and locks --------------------------------------------------------------

@pytest.mark.parametrize("approval", [True, False])
@pytest.mark.parametrize("steps", [[100], [25, 100], [10, 50, 100]])
def test_only_the_first_step_waits_for_approval(approval: bool, steps: list[int]) -> None:
    the_plan = pipeline(train(), register(), canary(steps=steps, approval=approval, environment="staging"))
    first = f"canary-{steps[0]}"
    for job in the_plan.jobs:
        if job.stage != "canary":  # register starts the rollout: it holds the same lock
            assert job.approval is None and not job.deploys
            assert job.lock == ("deploy/staging/m" if job.kind == "register" else None)
            continue
        wants = approval and job.id == first
        assert job.approval == ("Start the canary of m in staging?" if wants else None), job.id
        assert job.approval_id == (f"{first}-approval" if wants else None)
        retries = ROLLBACK_SETUP_RETRIES if job.kind == "rollback" else 0  # a rollback retries its set-up only
        assert (job.environment, job.lock, job.deploys, job.retries) == ("staging", "deploy/staging/m", True, retries)


def test_the_approval_names_the_pipeline_when_no_model_is_registered() -> None:
    job = pipeline(train(), canary(steps=[100])).job("canary-100")
    assert job.approval == "Start the canary of p in production?"


# -- rollback jobs and promotion ----------------------------------------------------------------------

@pytest.mark.parametrize("steps", [[100], [10, 100], [5, 20, 60, 100]])
def test_each_step_has_its_own_rollback(steps: list[int]) -> None:
    the_plan = pipeline(train(), register(), canary(steps=steps))
    for weight in steps:
        rollback = the_plan.job(f"canary-{weight}-rollback")
        assert rollback.needs == (f"canary-{weight}",)
        assert rollback.when.on_failure_of == (f"canary-{weight}",)
        assert [c.name for c in rollback.commands] == ["rollback"]
        assert rollback.commands[0].script.startswith("mlgen canary rollback --rollback ./rollback.sh")
        assert rollback.install == f"mlgen-ci[mlflow]=={VERSION}"  # it resets the registry alias
        assert rollback.approval is None and [a.producer for a in rollback.downloads] == ["register"]


@pytest.mark.parametrize(("registry", "install"), [("mlflow", "mlgen-ci[mlflow]"), ("command", "mlgen-ci")])
def test_only_the_full_traffic_step_promotes(registry: str, install: str) -> None:
    commands = {"register": "reg {model}", "promote": "prom {model}", "rollback": "rb {model}"}
    reg = register(registry=registry, command=commands) if registry == "command" else register(registry=registry)
    the_plan = pipeline(train(), reg, canary(steps=[10, 50, 100]))
    assert [c.name for c in the_plan.job("canary-10").commands] == ["canary 10%"]
    assert [c.name for c in the_plan.job("canary-50").commands] == ["canary 50%"]
    assert [c.name for c in the_plan.job("canary-100").commands] == ["canary 100%", "promote"]
    assert the_plan.job("canary-10").install == f"mlgen-ci=={VERSION}"
    assert the_plan.job("canary-100").install == f"{install}=={VERSION}"
    promote = the_plan.job("canary-100").commands[1]
    assert promote.runs_project_code is (registry == "command")
    assert f"--registry {registry} --model m" in promote.script and "--from-alias challenger" in promote.script


def test_a_canary_without_a_registered_model_only_deploys() -> None:
    the_plan = pipeline(train(), canary(steps=[100]))
    assert [c.name for c in the_plan.job("canary-100").commands] == ["canary 100%"]
    assert "--model" not in the_plan.job("canary-100-rollback").commands[0].script


# -- runtime commands: which job runs which, installing what --------------------------------------------

COMMAND_CASES: dict[str, tuple[Stages, str, list[str], str | None, str | None]] = {
    "validate with a contract: its command, then the data check": (
        [validate(contract="c.yaml", data=["a.csv", "b.csv"], reference="r.csv")], "validate",
        ["validate", "data check"], "mlgen-ci[data]",
        "mlgen data check --contract c.yaml --reference r.csv --junit .mlgen/reports/validate-data.xml -- a.csv b.csv"),
    "validate without a contract: no runtime": ([validate()], "validate", ["validate"], None, None),
    "evaluate: its command, then the gate": (
        [train(), evaluate()], "evaluate", ["evaluate", "gate"], "mlgen-ci",
        "mlgen gate --metrics metrics.json --gate auc:min=0.5 --on-missing-baseline absolute "
        "--junit .mlgen/reports/evaluate-gate.xml --json .mlgen/gate-evaluate.json"),
    "evaluate on predictions installs the data extra": (
        [train(), evaluate(predictions="p.csv")], "evaluate", ["evaluate", "gate"], "mlgen-ci[data]", None),
    "evaluate against an MLflow champion installs its client": (
        [train(), evaluate(baseline={"registry": "champion"}), register()], "evaluate", ["evaluate", "gate"],
        "mlgen-ci[mlflow]", None),
    "register with MLflow": (
        [train(), register(alias="cand")], "register", ["register"], "mlgen-ci[mlflow]",
        "mlgen registry register --registry mlflow --model m --path model/ --alias cand"),
    "train: the user's command only": ([train()], "train", ["train"], None, None),
}


@pytest.mark.parametrize("case", COMMAND_CASES, ids=str)
def test_commands_and_installs(case: str) -> None:
    stages, job_id, names, install, runtime_line = COMMAND_CASES[case]
    job = pipeline(*stages).job(job_id)
    assert [c.name for c in job.commands] == names
    assert job.install == (f"{install}=={VERSION}" if install else None)
    if runtime_line is not None:
        assert job.commands[-1].script == runtime_line


def test_only_user_commands_may_be_retried_and_only_they_need_the_project() -> None:
    the_plan = pipeline(validate(contract="c.yaml", data=["d.csv"]), train(), evaluate(), register(), canary(steps=[100]))
    retryable = {(j.id, c.name) for j in the_plan.jobs for c in j.commands if c.retryable}
    assert retryable == {("validate", "validate"), ("train", "train"), ("evaluate", "evaluate")}
    assert {j.id: j.needs_project_setup for j in the_plan.jobs if j.kind in ("validate", "register")} == \
        {"validate": True, "register": False}


def test_reports_come_from_the_runtime_jobs() -> None:
    the_plan = pipeline(validate(contract="c.yaml", data=["d.csv"]), validate("plain", needs=[]), train(), evaluate())
    assert {j.id: j.junit for j in the_plan.jobs} == {
        "validate": ".mlgen/reports/validate-*.xml", "plain": None,
        "train": None, "evaluate": ".mlgen/reports/evaluate-*.xml", "evaluate-report": None}


# -- timeouts, retries, runners, env ------------------------------------------------------------------

@pytest.mark.parametrize(("defaults", "stage", "expected"), [
    ({}, validate(), 30), ({}, train(), 120), ({"timeout": "45m"}, validate(), 45), ({"train_timeout": "5h"}, train(), 300),
    ({}, train(timeout="1h30m"), 90), ({"timeout": "1h"}, evaluate(), 60),
])
def test_timeouts(defaults: dict[str, Any], stage: dict[str, Any], expected: int) -> None:
    stages = [stage] if stage["kind"] != "evaluate" else [train(), stage]
    assert pipeline(*stages, defaults=defaults).job(stage["name"]).timeout_minutes == expected


def test_retries_runners_and_env() -> None:
    the_plan = pipeline(train(retries=2, runner=["gpu", "linux"], env={"B": "2", "A": "1"}), evaluate(),
                        register(), canary(steps=[100]), defaults={"retries": 1, "runner": "cpu"})
    assert [(j.id, j.retries, j.runner) for j in the_plan.jobs] == [
        ("train", 2, ("gpu", "linux")), ("evaluate", 1, ("cpu",)), ("evaluate-report", 1, ("cpu",)), ("register", 1, ("cpu",)),
        # a deployment is never repeated; a rollback retries only its set-up (ROLLBACK_SETUP_RETRIES)
        ("canary-100", 0, ("cpu",)), ("canary-100-rollback", ROLLBACK_SETUP_RETRIES, ("cpu",))]
    assert the_plan.job("train").env == (("A", "1"), ("B", "2"))
    assert the_plan.env == tuple(TRACKING.items())


# -- generated graphs: needs and order hold for any DAG ------------------------------------------------

@st.composite
def dags(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Up to 8 validate stages, each waiting for some earlier ones. Either some are left to the
    default `needs` (the stage written before), or every stage names its needs and the stages are
    written in any order, which the plan must put right."""
    count = draw(st.integers(1, 8))
    shuffle = draw(st.booleans())
    stages = []
    for i in range(count):
        stage = validate(f"s{i}")
        if shuffle or (i and draw(st.booleans())):
            stage["needs"] = draw(st.lists(st.sampled_from([f"s{j}" for j in range(i)]), max_size=3)) if i else []
        stages.append(stage)
    return draw(st.permutations(stages)) if shuffle else stages


@given(dags())
def test_needs_follow_the_spec_and_jobs_follow_their_needs(stages: list[dict[str, Any]]) -> None:
    the_plan = pipeline(*stages)
    previous: str | None = None
    for stage in stages:  # in spec order: no `needs` means the stage written before it
        default = (previous,) if previous else ()
        assert the_plan.job(stage["name"]).needs == tuple(dict.fromkeys(stage.get("needs", default))), stage
        previous = stage["name"]
    position = {job_id: i for i, job_id in enumerate(ids(the_plan))}
    assert sorted(position) == sorted(s["name"] for s in stages)
    for job in the_plan.jobs:
        assert all(position[n] < position[job.id] for n in job.needs), job.id
