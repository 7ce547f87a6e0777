"""Smoke tests on the real CI engines: act runs the GitHub workflow, gitlab-ci-local the GitLab pipeline.

A small spec of our own is compiled in a temporary git repository. Its project is one script,
steps.py, whose steps leave evidence: each lists the files it sees (so artifacts can be traced),
training appends to a log outside the repository (so a cache hit shows as no new line), and
validate fails on request. Each engine runs the generated config three times:

  1. push to main: everything runs, training misses the cache;
  2. push to feature/x, same inputs: the cache hits, training is skipped, register (branch-only) is not run
     (on GitLab, feature/x is a protected branch here: GitLab keeps the caches of protected and
     unprotected refs apart by default, and the runner models that);
  3. push to main with validate failing: every job downstream is skipped.

tests/engines/README.md explains the runners and what the offline stand-ins emulate.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.engines.github.runner import EngineMissing as ActMissing
from tests.engines.github.runner import WorkflowRun, run_workflow
from tests.engines.gitlab.runner import EngineMissing as GitlabCiLocalMissing
from tests.engines.gitlab.runner import PipelineRun, plan_pipeline, run_pipeline
from tests.support import EXAMPLES, init_and_commit, run_mlgen

pytestmark = pytest.mark.engine

# `$`, `${...}` and `$$` must reach the job byte-exact (GitLab needs them escaped as `$$`).
LITERAL = "cost=$5 ${HOME} $$x"

SPEC = f"""\
version: 1
name: smoke
triggers: {{push: [main, feature/x], pull_request: true, manual: false}}
defaults: {{python: "3.11"}}
env: {{SMOKE_LITERAL: '{LITERAL}'}}
stages:
  - {{name: validate, kind: validate, run: python steps.py validate, outputs: [checked/]}}
  - name: train
    kind: train
    run: python steps.py train
    outputs: [model/]
    cache: {{key: ["data/**", steps.py]}}
    matrix: {{model: [gb, logreg]}}
  - {{name: package, kind: train, run: python steps.py package, outputs: [bundle/]}}
  - name: register
    kind: register
    registry: command
    command: {{register: "test -f bundle/manifest.txt"}}
    model: smoke
    path: bundle/
"""

STEPS = '''\
"""Stand-in project for the engine smoke tests: tiny steps that leave evidence."""
import os
import sys
from pathlib import Path

step = sys.argv[1]
print("SMOKE-LITERAL", os.environ.get("SMOKE_LITERAL"))
for path in sorted(Path(".").rglob("*")):
    if path.is_file() and path.parts[0] not in (".git", ".gitlab-ci-local"):
        print("SMOKE-SEEN", path.as_posix())
if step == "validate":
    Path("checked").mkdir(exist_ok=True)
    Path("checked/report.txt").write_text("rows ok\\n")
    sys.exit(1 if os.environ.get("SMOKE_FAIL") == "validate" else 0)
if step == "train":
    model = os.environ["MODEL"]
    Path("model", model).mkdir(parents=True, exist_ok=True)
    Path("model", model, "model.txt").write_text(model + "\\n")
    with open(os.environ["SMOKE_TRAIN_LOG"], "a") as log:
        log.write(model + "\\n")
if step == "package":
    Path("bundle").mkdir(exist_ok=True)
    models = sorted(p.as_posix() for p in Path(".").rglob("model.txt"))
    Path("bundle/manifest.txt").write_text("\\n".join(models) + "\\n")
'''

@dataclass
class Scenario:
    """One engine's three runs of the smoke pipeline, and the training log after each."""

    engine: str
    runs: dict[str, WorkflowRun | PipelineRun] = field(default_factory=dict)  # "main" | "feature" | "failing"
    trained: dict[str, list[str]] = field(default_factory=dict)  # run -> models trained so far

    def leg(self, model: str) -> str:
        return f"train ({model})" if self.engine == "github" else f"train: [{model}]"

    def seen(self, run: str, job: str) -> set[str]:
        return {line.split(" ", 1)[1] for line in self._output(run, job).splitlines() if line.startswith("SMOKE-SEEN ")}

    def literal(self, run: str, job: str) -> str:
        lines = [line for line in self._output(run, job).splitlines() if line.startswith("SMOKE-LITERAL ")]
        return lines[0].removeprefix("SMOKE-LITERAL ") if lines else "<not printed>"

    def _output(self, run: str, job: str) -> str:
        return str(self.runs[run].output(job))


def make_repo(folder: Path) -> Path:
    """The smoke project, compiled, committed on main in a fresh git repository."""
    folder.mkdir(parents=True)
    (folder / "mlgen.yaml").write_text(SPEC, encoding="utf-8")
    (folder / "steps.py").write_text(STEPS, encoding="utf-8")
    (folder / "data").mkdir()
    (folder / "data" / "train.csv").write_text("x,y\n1,0\n", encoding="utf-8")
    compiled = run_mlgen("compile", cwd=folder)
    assert compiled.code == 0, compiled.err
    init_and_commit(folder, "smoke project")
    return folder


def engine_env(train_log: Path, fail: str = "") -> dict[str, str]:
    # PIP_NO_INDEX: the generated `pip install mlgen==X` can only find the mlgen under test.
    return {"PIP_NO_INDEX": "1", "SMOKE_TRAIN_LOG": str(train_log), "SMOKE_FAIL": fail}


def trained(log: Path) -> list[str]:
    return sorted(log.read_text(encoding="utf-8").split()) if log.is_file() else []


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    base = tmp_path_factory.mktemp("github")
    repo, log = make_repo(base / "repo"), base / "trained.log"
    workflow = Path(".github/workflows/mlgen.yml")
    scenario = Scenario("github")
    plan = {"main": ("refs/heads/main", ""), "feature": ("refs/heads/feature/x", ""), "failing": ("refs/heads/main", "validate")}
    try:
        for name, (ref, fail) in plan.items():
            scenario.runs[name] = run_workflow(repo, workflow, ref=ref, env=engine_env(log, fail), timeout=300,
                                               cache_dir=base / "cache", artifact_dir=base / "artifacts")
            scenario.trained[name] = trained(log)
    except ActMissing as missing:
        pytest.fail(str(missing))
    return scenario


@pytest.fixture(scope="module")
def gitlab(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    base = tmp_path_factory.mktemp("gitlab")
    repo, log = make_repo(base / "repo"), base / "trained.log"
    scenario = Scenario("gitlab")
    plan = {"main": ("main", ""), "feature": ("feature/x", ""), "failing": ("main", "validate")}
    try:
        for name, (branch, fail) in plan.items():
            scenario.runs[name] = run_pipeline(repo, branch=branch, variables=engine_env(log, fail), timeout=300,
                                               protected_branches=("main", "feature/x"))
            scenario.trained[name] = trained(log)
    except GitlabCiLocalMissing as missing:
        pytest.fail(str(missing))
    return scenario


@pytest.fixture(params=["github", "gitlab"])
def scenario(request: pytest.FixtureRequest) -> Scenario:
    result: Scenario = request.getfixturevalue(request.param)
    return result


def test_everything_runs_on_main(scenario: Scenario) -> None:
    jobs = scenario.runs["main"].jobs
    assert jobs["validate"] == "passed", scenario.runs["main"].stdout[-3000:]
    assert jobs[scenario.leg("gb")] == jobs[scenario.leg("logreg")] == "passed"
    assert jobs["package"] == "passed"
    assert jobs["register"] == "passed", scenario.runs["main"].output("register")[-3000:]


def test_each_matrix_leg_trains_its_model(scenario: Scenario) -> None:
    assert scenario.trained["main"] == ["gb", "logreg"]


def test_artifacts_travel_between_jobs(scenario: Scenario) -> None:
    # Whatever folder they land in (see the next test), the files each job made reach the next one.
    assert {p for p in scenario.seen("main", scenario.leg("gb")) if p.endswith("report.txt")}
    models = {p for p in scenario.seen("main", "package") if p.endswith("model.txt")}
    assert {p.split("/")[-2] for p in models} == {"gb", "logreg"}, models


@pytest.mark.parametrize("engine", ["github", "gitlab"])
def test_artifacts_keep_their_paths(engine: str, request: pytest.FixtureRequest) -> None:
    scenario: Scenario = request.getfixturevalue(engine)
    assert "checked/report.txt" in scenario.seen("main", scenario.leg("gb"))
    assert {"model/gb/model.txt", "model/logreg/model.txt"} <= scenario.seen("main", "package")


def test_second_run_hits_the_cache_and_skips_training(scenario: Scenario) -> None:
    run = scenario.runs["feature"]
    assert run.jobs[scenario.leg("gb")] == run.jobs[scenario.leg("logreg")] == "passed", run.stdout[-3000:]
    assert scenario.trained["feature"] == scenario.trained["main"]  # no model trained again
    models = {p for p in scenario.seen("feature", "package") if p.endswith("model.txt")}
    assert len(models) == 2, "the cached outputs still travel to the next job"


def test_github_cache_hit_skips_the_train_step(github: Scenario) -> None:
    first, second = github.runs["main"], github.runs["feature"]
    assert isinstance(first, WorkflowRun) and isinstance(second, WorkflowRun)
    assert "train" in first.steps("train (gb)")
    assert "train" not in second.steps("train (gb)")  # if: steps.cache.outputs.cache-hit != 'true'


def test_gitlab_cache_hit_is_decided_by_mlgen_cache(gitlab: Scenario) -> None:
    assert "mlgen cache: miss" in gitlab.runs["main"].output("train: [gb]")
    assert "mlgen cache: hit" in gitlab.runs["feature"].output("train: [gb]")


def test_branch_only_job_does_not_run_on_a_feature_branch(scenario: Scenario) -> None:
    # GitHub creates the job and skips it (`if:`); GitLab's rules do not create it at all.
    assert scenario.runs["feature"].jobs["register"] == {"github": "skipped", "gitlab": "excluded"}[scenario.engine]
    assert scenario.runs["main"].jobs["register"] == "passed"


def test_a_failing_job_skips_its_dependants(scenario: Scenario) -> None:
    run = scenario.runs["failing"]
    assert run.returncode != 0
    assert run.jobs["validate"] == "failed"
    downstream = {k: v for k, v in run.jobs.items() if k != "validate"}
    assert set(downstream.values()) == {"skipped"}, downstream
    assert scenario.trained["failing"] == scenario.trained["feature"]


def test_env_values_arrive_byte_exact(scenario: Scenario) -> None:
    assert scenario.literal("main", "validate") == LITERAL


@pytest.fixture(scope="module")
def churn_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("churn") / "churn"
    shutil.copytree(EXAMPLES / "churn", repo)
    compiled = run_mlgen("compile", cwd=repo)  # the compiler's output now, not the committed files
    assert compiled.code == 0, compiled.err
    init_and_commit(repo, "churn")
    return repo


def test_churn_gitlab_rules(churn_repo: Path) -> None:
    """gitlab-ci-local accepts the churn pipeline (schema, rules) and plans it as GitLab would."""
    try:
        main = plan_pipeline(churn_repo, branch="main")
        merge_request = plan_pipeline(churn_repo, branch="feature/x", merge_request=True)
        feature_push = plan_pipeline(churn_repo, branch="feature/x")
    except GitlabCiLocalMissing as missing:
        pytest.fail(str(missing))
    assert main.jobs["register"] == "on_success"
    assert main.jobs["canary-10"] == "manual" and main.jobs["canary-50"] == "on_success"
    assert main.jobs["canary-50-rollback"] == "on_failure"
    assert merge_request.created and merge_request.jobs["evaluate"] == "on_success"
    assert {merge_request.jobs[j] for j in ("register", "canary-10", "canary-50-rollback")} == {"never"}
    assert not feature_push.created  # churn pushes run on main only
