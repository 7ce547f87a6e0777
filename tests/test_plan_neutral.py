"""The plan says what a job needs, never how a target does it; each target then says it its own way.

`Job.project_setup` is the plan's one statement of when the project's set-up runs. For generated
specs, every target must agree with it: GitHub puts the set-up step behind the cache-miss
condition, GitLab and Jenkins run it inside the cache guard instead of before the job's commands.
"""

from __future__ import annotations

import typing
from typing import Any

from hypothesis import HealthCheck, given, settings

from mlgen.compile import plan
from mlgen.spec.models import AnyStage, Pipeline
from mlgen.targets import github, gitlab, jenkins
from tests.test_fuzz import valid_specs

SETUP = "echo project-setup-marker"
TARGETS = {"github": {"path": "gh.yml"}, "gitlab": {"path": "gl.yml"}, "jenkins": {"path": "Jenkinsfile"}}


def test_every_stage_kind_has_one_builder() -> None:
    kinds = {arg for stage in typing.get_args(AnyStage) for arg in typing.get_args(stage.model_fields["kind"].annotation)}
    assert set(plan._JOBS_BY_KIND) == kinds


def _plan(spec: dict[str, Any]) -> tuple[plan.Plan, Pipeline]:
    spec = {**spec, "defaults": {**spec.get("defaults", {}), "setup": SETUP}, "targets": TARGETS}
    pipeline = Pipeline.model_validate(spec)
    return plan.build(pipeline, "0"), pipeline


def _expected(job: plan.Job) -> str:
    if not any(c.runs_project_code for c in job.commands):
        return "never"
    cached = job.cache is not None and all(c.skip_on_cache_hit for c in job.commands)
    return "on cache miss" if cached else "always"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs())
def test_targets_run_the_project_setup_when_the_plan_says(spec: dict[str, Any]) -> None:
    the_plan, pipeline = _plan(spec)
    enabled = pipeline.enabled_targets()
    gh = github.jobs(the_plan, enabled["github"])
    gl = gitlab.jobs(the_plan, enabled["gitlab"])
    for job in the_plan.jobs:
        assert job.project_setup == _expected(job), job.id
        if job.kind == "rollback":
            continue
        steps = [s for s in gh[job.id]["steps"] if s.get("name") == "Set up the project"]
        before = "\n".join(gl[job.id].get("before_script", []))
        guarded = "\n".join(gl[job.id]["script"])
        prepare = jenkins._prepare(job, the_plan)
        if job.project_setup == "never":
            assert not steps and SETUP not in before and SETUP not in prepare, job.id
        elif job.project_setup == "always":
            assert [s.get("if") for s in steps] == [None] and SETUP in before and SETUP in prepare, job.id
        else:  # only a miss runs it: GitHub by a step condition, the others inside the guard
            assert [s.get("if") for s in steps] == [github.MISS], job.id
            assert SETUP not in before and SETUP not in prepare and SETUP in guarded, job.id


def test_emitters_get_the_plan_and_never_the_spec_source() -> None:
    """Overrides are applied and located by the compiler, so no target function needs the spec's text."""
    import importlib
    import inspect

    from mlgen import targets

    for name in targets.MODULES:
        module = importlib.import_module(targets.MODULES[name])
        for function in (f for _, f in inspect.getmembers(module, inspect.isfunction) if f.__module__ == module.__name__):
            assert "source" not in inspect.signature(function).parameters, f"{name}: {function.__name__}"
