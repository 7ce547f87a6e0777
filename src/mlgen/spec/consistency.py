"""Checks of spec values against each other: things each field allows alone, but not together.

Each would otherwise compile and then fail on every run: a register stage whose model directory
no earlier stage produces, a canary that checks health less often than once per bake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlgen import layout
from mlgen.errors import Problem
from mlgen.spec import graph
from mlgen.spec.fieldtypes import duration_seconds

if TYPE_CHECKING:
    from mlgen.spec.models import Pipeline
    from mlgen.spec.source import Source


def check(pipeline: Pipeline, source: Source) -> list[Problem]:
    needs = graph.needs_map(pipeline)
    problems: list[Problem] = []
    for i, stage in enumerate(pipeline.stages):
        if stage.kind == "register":
            problems += _register_path(pipeline, source, needs, i, stage)
        elif stage.kind == "canary":
            problems += _canary_timing(source, i, stage)
        problems += _bare_dashes(source, i, stage)
        problems += _hosted_timeout(pipeline, source, i, stage)
    return problems


HOSTED_MAX_MINUTES = 360  # GitHub stops a job on its hosted runners after 6 hours


def _hosted_timeout(pipeline: Pipeline, source: Source, i: int, stage: Any) -> list[Problem]:
    """A timeout above 6h on a GitHub-hosted runner would be cut short there, whatever the spec says."""
    from mlgen.targets.github import DEFAULT_RUNNER, HOSTED

    target = pipeline.targets.github
    if target is None:
        return []
    labels = stage.runner if stage.runner is not None else pipeline.defaults.runner
    labels = [labels] if isinstance(labels, str) else list(labels or [DEFAULT_RUNNER])
    mapped = [native for label in labels for native in target.runners.get(label, [label])]
    if not all(HOSTED.match(label) for label in mapped):
        return []
    key = "train_timeout" if stage.kind == "train" else "timeout"
    timeout = stage.timeout or getattr(pipeline.defaults, key)
    if duration_seconds(timeout) / 60 <= HOSTED_MAX_MINUTES:
        return []
    loc = ("stages", i, "timeout") if stage.timeout else ("defaults", key)
    return [source.problem(loc, f"stage `{stage.name}` runs on GitHub-hosted `{', '.join(mapped)}` with timeout {timeout}, "
                                "but GitHub stops jobs on its hosted runners after 6h",
                           "use at most 6h, or a self-hosted runner label (mapped in `targets.github.runners`)")]


# Fields passed as arguments to `mlgen ...` in the generated jobs.
RUNTIME_FIELDS = {"validate": ("contract", "reference", "data"), "evaluate": ("metrics", "baseline.file"),
                  "register": ("path", "command.register_cmd", "command.promote", "command.rollback", "command.baseline"),
                  "canary": ("deploy", "check", "rollback")}
_SPEC_KEY = {"register_cmd": "register"}


def _bare_dashes(source: Source, i: int, stage: Any) -> list[Problem]:
    """argparse drops a bare `--` even as an option's value, so the runtime would never see it."""
    problems = []
    for dotted in RUNTIME_FIELDS.get(stage.kind, ()):
        value: Any = stage
        for part in dotted.split("."):
            value = getattr(value, part, None)
        items = value if isinstance(value, list) else [value]
        keys = tuple(_SPEC_KEY.get(p, p) for p in dotted.split("."))
        for j, item in enumerate(items):
            if item == "--":
                loc = ("stages", i, *keys, *((j,) if isinstance(value, list) else ()))
                problems.append(source.problem(loc, f"stage `{stage.name}`: `{'.'.join(keys)}` is `--`, which mlgen's runtime "
                                               "cannot receive (its option parser drops a bare `--`)", "use another name or command"))
    return problems


def produced_paths(stage: Any) -> tuple[str, ...]:
    """What a stage hands on to later stages: its outputs (and an evaluate stage's results)."""
    extra = (stage.metrics, layout.gate_result(stage.name)) if stage.kind == "evaluate" else ()
    return (*stage.outputs, *extra)


def contains(output: str, path: str) -> bool:
    """Whether `path` is the output itself or lies inside it (an output may be a directory)."""
    out, want = output.rstrip("/"), path.rstrip("/")
    return want == out or want.startswith(out + "/")


def _register_path(pipeline: Pipeline, source: Source, needs: dict[str, list[str]], i: int, stage: Any) -> list[Problem]:
    # Nearest first, stopping at the first producer: the walk the plan makes to download it.
    queue, seen, available = list(needs[stage.name]), set(), []
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        ancestor = pipeline.stage(name)
        outputs = produced_paths(ancestor)
        if any(contains(out, stage.path) for out in outputs):
            return []
        if ancestor.outputs:
            available.append(f"{name} ({', '.join(ancestor.outputs)})")
        queue.extend(needs[name])
    hint = (f"stages before it hand on: {'; '.join(available)}" if available
            else "no stage before it has `outputs`; add the model directory to the `outputs` of the stage that writes it")
    return [source.problem(("stages", i, "path"),
                           f"register stage `{stage.name}`: no earlier stage produces `{stage.path}`", hint)]


def _canary_timing(source: Source, i: int, stage: Any) -> list[Problem]:
    bake, interval = duration_seconds(stage.bake), duration_seconds(stage.interval)
    if interval <= bake:
        return []
    key = "interval" if "interval" in stage.model_fields_set else "bake"
    default = "" if "interval" in stage.model_fields_set else " (the default)"
    return [source.problem(("stages", i, key),
                           f"canary `{stage.name}`: `interval` {stage.interval}{default} is longer than `bake` {stage.bake}, "
                           "so health would be checked only at the start and the end of each step",
                           f"set `interval` to at most {stage.bake}")]
