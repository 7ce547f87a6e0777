"""Spec file -> validated `Pipeline`, with every problem located and explained at once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgen.errors import Problem, SpecError, suggestion
from mlgen.spec.problems import problems_from_validation
from mlgen.spec.source import Source, read

if TYPE_CHECKING:

    from mlgen.spec.models import Pipeline


def load(path: str | Path) -> tuple[Source, Pipeline]:
    source = read(Path(path))
    if source.is_python:
        from mlgen.spec.pyspec import run_python_spec

        pipeline = run_python_spec(source)
    else:
        pipeline = from_data(source)
    problems = check_pipeline(pipeline, source)
    if problems:
        raise SpecError(problems)
    return source, pipeline


def load_pipeline(path: str | Path) -> Pipeline:
    """The runtime's entry point: a validated pipeline from a YAML or Python spec."""
    return load(path)[1]


def from_data(source: Source) -> Pipeline:
    from pydantic import ValidationError

    from mlgen.spec.models import Pipeline

    try:
        return Pipeline.model_validate(source.data)
    except ValidationError as exc:
        raise SpecError(problems_from_validation(exc, source)) from None


def check_pipeline(pipeline: Pipeline, source: Source) -> list[Problem]:
    from mlgen.spec import consistency, graph, tracking

    problems: list[Problem] = []
    index: dict[str, int] = {}
    for i, stage in enumerate(pipeline.stages):
        if stage.name in index:
            problems.append(source.problem(("stages", i, "name"), f"duplicate stage name `{stage.name}`",
                                           f"stage {index[stage.name] + 1} already uses it; stage names must be unique"))
        else:
            index[stage.name] = i
    declared = set(pipeline.declared_secrets())
    for i, stage in enumerate(pipeline.stages):
        for j, need in enumerate(stage.needs or ()):
            if need not in index:
                problems.append(source.problem(("stages", i, "needs", j), f"stage `{stage.name}` needs unknown stage `{need}`",
                                               suggestion(need, index) or f"known stages: {', '.join(index)}"))
            elif need == stage.name:
                problems.append(source.problem(("stages", i, "needs", j), f"stage `{stage.name}` needs itself", "remove it from `needs`"))
        for j, secret in enumerate(stage.secrets or ()):
            if secret not in declared:
                problems.append(source.problem(("stages", i, "secrets", j), f"secret `{secret}` is not declared",
                                               "add it to the top-level `secrets:` list"))
    if problems:
        return problems
    cycle = graph.find_cycle(graph.needs_map(pipeline))
    if cycle:
        first = index[cycle[0]]
        problems.append(source.problem(("stages", first, "needs"), f"the stages form a cycle: {' -> '.join(cycle)}",
                                       "remove one of these `needs` so the stages run in an order"))
        return problems
    problems += _check_references(pipeline, source, index)
    problems += consistency.check(pipeline, source)
    problems += _check_runners(pipeline, source)
    if not problems:  # the registry each stage works with resolves
        problems += tracking.check(pipeline, source)
    return problems


def _check_runners(pipeline: Pipeline, source: Source) -> list[Problem]:
    """An empty runner list would leave a job nowhere to run (GitHub's `runs-on: []` is invalid)."""
    problems = []
    if pipeline.defaults.runner == []:
        problems.append(source.problem(("defaults", "runner"), "`defaults.runner` is an empty list",
                                       "name at least one runner label, or leave `runner` out for each target's default"))
    for i, stage in enumerate(pipeline.stages):
        if stage.runner == []:
            problems.append(source.problem(("stages", i, "runner"), f"stage `{stage.name}`: `runner` is an empty list",
                                           "name at least one runner label, or leave `runner` out for the default"))
    for name, target in pipeline.enabled_targets().items():
        for label, mapped in target.runners.items():
            if not mapped:
                problems.append(source.problem(("targets", name, "runners", label), f"targets.{name}.runners.{label} is an empty list",
                                               f"map `{label}` to at least one {name} runner label"))
    return problems


def _check_references(pipeline: Pipeline, source: Source, index: dict[str, int]) -> list[Problem]:
    from mlgen.spec import graph

    problems = []
    the_graph = graph.Graph(pipeline)
    for i, stage in enumerate(pipeline.stages):
        for j, name in enumerate(stage.inputs):
            if not the_graph.is_ancestor(name, stage.name):
                problems.append(source.problem(("stages", i, "inputs", j), f"`{name}` is not an earlier stage that `{stage.name}` waits for",
                                               "inputs come from ancestors; add it to `needs` (directly or through another stage)"))
        if _uses_registry(stage):
            problems += _check_registry(the_graph, stage, source, i)
        if stage.kind == "evaluate" and stage.baseline is not None and stage.baseline.rescore and not stage.predictions:
            problems.append(source.problem(("stages", i, "baseline", "rescore"), f"stage `{stage.name}`: `rescore` needs "
                                           "`predictions` (the champion is re-scored to pair its predictions with the "
                                           "challenger's)", "add `predictions: <file the run command writes>`, or drop `rescore`"))
    return problems


def _uses_registry(stage: Any) -> bool:
    # A canary may promote a registered model; an evaluate stage asks the registry only for a registry baseline.
    if stage.kind == "canary":
        return True
    return stage.kind == "evaluate" and stage.baseline is not None and stage.baseline.registry is not None


def _rescores(stage: Any) -> bool:
    return stage.kind == "evaluate" and stage.baseline is not None and stage.baseline.rescore


# The command templates each registry-using stage runs with `registry: command`.
_TEMPLATES = {"evaluate": (("baseline", "baseline"),), "canary": (("promote", "promote"), ("rollback", "rollback"))}


def _check_registry(the_graph: Any, stage: Any, source: Source, i: int) -> list[Problem]:
    from mlgen.spec.graph import Ambiguous

    try:
        registry = the_graph.registry(stage)
    except Ambiguous as exc:
        return [source.problem(("stages", i, "name"), str(exc),
                               "set `model:` on this stage to the model it works with")]
    if registry.model is None:
        if stage.kind == "canary":
            return []  # a canary without a registered model only deploys
        return [source.problem(("stages", i, "baseline", "registry"), f"stage `{stage.name}` needs a registered model name",
                               "set `model:` on this stage, or add a register stage after it")]
    if registry.kind != "command":
        return []
    register = registry.register
    commands = getattr(register, "command", None)
    wanted = _TEMPLATES[stage.kind] + ((("fetch_model", "fetch_model"),) if _rescores(stage) else ())
    missing = [key for key, attr in wanted if commands is None or getattr(commands, attr) is None]
    if not missing:
        return []
    keys = " and ".join(f"`command.{m}`" for m in missing)
    if register is None:
        return [source.problem(("stages", i, "registry"), f"stage `{stage.name}` uses the command registry, but no register "
                               f"stage with command templates is {'above' if stage.kind == 'canary' else 'after'} it",
                               f"add a register stage with `registry: command` and {keys}, or use `registry: mlflow`")]
    at = the_graph.position[register.name]
    return [source.problem(("stages", at, "command"), f"register stage `{register.name}` has no {keys}, which stage "
                           f"`{stage.name}` runs with the command registry",
                           f"add {keys} to `command:` (placeholders such as {{model}} are filled in and shell-quoted)")]
