"""Spec file -> validated `Pipeline`, with every problem located and explained at once."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgen.errors import Problem, SpecError
from mlgen.source import KEY, Loc, Source, read

if TYPE_CHECKING:
    from pydantic import ValidationError

    from mlgen.spec import Pipeline


def load(path: str | Path) -> tuple[Source, Pipeline]:
    source = read(Path(path))
    if source.pipeline is not None:
        pipeline = source.pipeline
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

    from mlgen.spec import Pipeline

    try:
        return Pipeline.model_validate(source.data)
    except ValidationError as exc:
        raise SpecError(problems_from_validation(exc, source)) from None


def problems_from_validation(exc: ValidationError, source: Source) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = _data_loc(source.data, tuple(error["loc"]))
        message, hint = _explain(error, source.data, loc)
        if error["type"] == "string_type" and isinstance(error.get("input"), float):
            hint = f"quote it: \"{_literal(source, loc, error['input'])}\""  # as the user wrote it: 3.10 reads as 3.1
        if error["type"] == "extra_forbidden":
            loc = (*loc, KEY)  # point at the unknown key, not at its value
        elif error["type"] == "union_tag_invalid":
            loc = (*loc, "kind")
        problems.append(source.problem(loc, message, hint))
    return problems


def _data_loc(data: Any, loc: tuple[Any, ...]) -> Loc:
    """pydantic's loc includes union tags (e.g. the stage kind); keep only real keys and indexes."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            out.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            out.append(part)
        elif isinstance(node, dict) and node.get("kind") == part:
            continue  # the discriminated union's tag: the stage itself, not a key in it
        elif isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue  # a validator step, not a place in the file
        elif isinstance(node, dict):
            out.append(part)  # a missing key: positions fall back to its parent
            break
    return tuple(out)


def _explain(error: Any, data: Any, loc: Loc) -> tuple[str, str]:
    kind, msg = error["type"], error["msg"]
    where = _dotted(loc)
    field = str(error["loc"][-1]) if error["loc"] else ""
    if kind == "extra_forbidden":
        allowed = _allowed_keys(data, loc)
        close = difflib.get_close_matches(field, allowed, n=1)
        hint = f"did you mean `{close[0]}`?" if close else (f"allowed keys here: {', '.join(sorted(allowed))}" if allowed else "remove it")
        return f"unknown key `{field}`", hint
    if kind == "missing":
        return f"`{where}` is required", _missing_hint(field)
    if kind == "too_short":
        return f"`{where}` must not be empty", ""
    if kind == "union_tag_invalid":
        from mlgen.spec import STAGE_KINDS

        given = error.get("input", {}).get("kind") if isinstance(error.get("input"), dict) else None
        close = difflib.get_close_matches(str(given), STAGE_KINDS, n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"use one of: {', '.join(STAGE_KINDS)}"
        return f"`{where}.kind`: unknown stage kind `{given}`", hint
    if kind == "union_tag_not_found":
        from mlgen.spec import STAGE_KINDS

        return f"`{where}`: the stage has no `kind`", f"add `kind:` with one of: {', '.join(STAGE_KINDS)}"
    if kind == "string_pattern_mismatch":
        return f"`{where}`: {_show(error.get('input'))} is not allowed", _pattern_hint(str(error["ctx"]["pattern"]))
    if kind == "string_type" and isinstance(error.get("input"), float):
        return f"`{where}`: expected text, got the number {error['input']}", ""
    if kind == "mlgen_value":
        return f"`{where}`: {error['ctx']['message']}", error["ctx"]["hint"]
    if kind == "value_error":
        return f"`{where}`: {msg.removeprefix('Value error, ')}", ""
    return f"`{where}`: {msg[0].lower() + msg[1:]}", ""


def _literal(source: Source, loc: Loc, value: Any) -> str:
    """The value's text exactly as written in a YAML spec (YAML turns `3.10` into 3.1)."""
    line, col = source.positions.get(loc, (0, 0))
    if source.is_python or not line:
        return str(value)
    text = source.raw.decode("utf-8", "replace").splitlines()[line - 1][col - 1:]
    for stop in (",", "}", "]", " #", "\t#"):
        text = text.split(stop, 1)[0]
    return text.strip() or str(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


PATTERN_HINTS = {
    r"^[a-z][a-z0-9_-]{0,39}$": "names are 1-40 lowercase letters, digits, `-` or `_`, starting with a letter",
    r"^[A-Z_][A-Z0-9_]{0,99}$": "secret names are UPPER_CASE letters, digits and `_`",
    r"^[A-Za-z_][A-Za-z0-9_]{0,99}$": "environment variable names are letters, digits and `_`, not starting with a digit",
    r"^3\.\d{1,2}$": "write the Python version as quoted text, e.g. \"3.11\"",
}


def _pattern_hint(pattern: str) -> str:
    from mlgen.runtime import duration

    if pattern == duration.PATTERN:
        return duration.HINT
    if pattern in PATTERN_HINTS:
        return PATTERN_HINTS[pattern]
    if "/" in pattern and "." in pattern and "A-Za-z0-9_.@+" in pattern:
        return "paths are relative, made of letters, digits and `_ . @ + - /` (globs also allow `* ? [ ]`)"
    if "A-Za-z0-9_./" in pattern:
        return "branch names are letters, digits and `_ . / -`"
    return f"the value must match {pattern}"


def _missing_hint(field: str) -> str:
    return {"stages": "add a `stages:` list (validate, train, evaluate, register, canary)",
            "name": "add `name:` (lowercase letters, digits, `-`)"}.get(field, f"add `{field}:`")


def _allowed_keys(data: Any, loc: Loc) -> list[str]:
    """Field names of the model that sits at `loc` (the parent of the unknown key)."""
    from mlgen import spec

    parent = loc[:-1]
    model: Any = spec.Pipeline
    node = data
    for part in parent:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int):
            node = node[part]
        else:
            node = None
        if isinstance(part, int):
            if model is _STAGE_MARKER:
                kind = node.get("kind") if isinstance(node, dict) else None
                model = _STAGE_BY_KIND().get(str(kind), spec.StageBase)
            continue
        model = _field_model(model, part)
        if model is None:
            return []
    if model is _STAGE_MARKER:
        return []
    return list(model.model_fields) if hasattr(model, "model_fields") else []


_STAGE_MARKER = object()


def _STAGE_BY_KIND() -> dict[str, Any]:  # noqa: N802 - a lazily built constant
    from mlgen import spec

    return {"validate": spec.ValidateStage, "train": spec.TrainStage, "evaluate": spec.EvaluateStage,
            "register": spec.RegisterStage, "canary": spec.CanaryStage}


def _field_model(model: Any, name: Any) -> Any:
    import typing

    if name == "stages" and model.__name__ == "Pipeline":
        return _STAGE_MARKER
    field = getattr(model, "model_fields", {}).get(name)
    if field is None:
        return None
    for candidate in [field.annotation, *typing.get_args(field.annotation)]:
        if hasattr(candidate, "model_fields"):
            return candidate
    return None


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# -- checks that need the whole pipeline ------------------------------------------------------

def check_pipeline(pipeline: Pipeline, source: Source) -> list[Problem]:
    from mlgen import consistency, graph, tracking

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
                close = difflib.get_close_matches(need, list(index), n=1)
                problems.append(source.problem(("stages", i, "needs", j), f"stage `{stage.name}` needs unknown stage `{need}`",
                                               f"did you mean `{close[0]}`?" if close else f"known stages: {', '.join(index)}"))
            elif need == stage.name:
                problems.append(source.problem(("stages", i, "needs", j), f"stage `{stage.name}` needs itself", "remove it from `needs`"))
        for j, secret in enumerate(stage.secrets or ()):
            if secret not in declared:
                problems.append(source.problem(("stages", i, "secrets", j), f"secret `{secret}` is not declared",
                                               f"add it to the top-level `secrets:` list"))
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
    from mlgen import graph

    problems = []
    the_graph = graph.Graph(pipeline)
    for i, stage in enumerate(pipeline.stages):
        for j, name in enumerate(stage.inputs):
            if not the_graph.is_ancestor(name, stage.name):
                problems.append(source.problem(("stages", i, "inputs", j), f"`{name}` is not an earlier stage that `{stage.name}` waits for",
                                               "inputs come from ancestors; add it to `needs` (directly or through another stage)"))
        if _uses_registry(stage):
            problems += _check_registry(the_graph, stage, source, i)
    return problems


def _uses_registry(stage: Any) -> bool:
    # A canary may promote a registered model; an evaluate stage asks the registry only for a registry baseline.
    if stage.kind == "canary":
        return True
    return stage.kind == "evaluate" and stage.baseline is not None and stage.baseline.registry is not None


# The command templates each registry-using stage runs with `registry: command`.
_TEMPLATES = {"evaluate": (("baseline", "baseline"),), "canary": (("promote", "promote"), ("rollback", "rollback"))}


def _check_registry(the_graph: Any, stage: Any, source: Source, i: int) -> list[Problem]:
    from mlgen.graph import Ambiguous

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
    missing = [key for key, attr in _TEMPLATES[stage.kind] if commands is None or getattr(commands, attr) is None]
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
