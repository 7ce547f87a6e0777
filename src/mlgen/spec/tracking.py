"""Stages that talk to an MLflow registry need to know where it is.

The MLflow client finds its server through `MLFLOW_TRACKING_URI`; without it the runtime refuses
to run, on every pipeline, after training. This check refuses the spec up front instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlgen.spec import access, graph

if TYPE_CHECKING:
    from mlgen.errors import Problem
    from mlgen.spec.models import Pipeline
    from mlgen.spec.source import Source

URI_VARIABLE = "MLFLOW_TRACKING_URI"


def check(pipeline: Pipeline, source: Source) -> list[Problem]:
    the_graph = graph.Graph(pipeline)
    problems = []
    for i, stage in enumerate(pipeline.stages):
        why = _uses_mlflow(stage, the_graph)
        if why and not _uri_reaches(stage, pipeline):
            loc = ("stages", i, "registry") if getattr(stage, "registry", None) else ("stages", i, "name")
            problems.append(source.problem(
                loc, f"stage `{stage.name}` {why}, but no `{URI_VARIABLE}` reaches it, so MLflow cannot find the server",
                f"add `{URI_VARIABLE}: https://mlflow.example.com` (your server) to the top-level `env:` or the stage's "
                f"`env:`, or list a secret named `{URI_VARIABLE}` under `secrets:`"))
    return problems


def _uses_mlflow(stage: Any, the_graph: graph.Graph) -> str | None:
    """What the stage does with an MLflow registry, or None."""
    if stage.kind == "register":
        return "registers to MLflow" if stage.registry == "mlflow" else None
    if stage.kind == "evaluate" and (stage.baseline is None or stage.baseline.registry is None):
        return None
    if stage.kind not in ("evaluate", "canary"):
        return None
    try:
        registry = the_graph.registry(stage)
    except graph.Ambiguous:
        return None  # reported by the reference checks
    if registry.kind != "mlflow" or (stage.kind == "canary" and not registry.model):
        return None
    return "reads the champion from MLflow" if stage.kind == "evaluate" else "promotes and rolls back in MLflow"


def _uri_reaches(stage: Any, pipeline: Pipeline) -> bool:
    """Spec `env`, the stage's `env`, or a secret of that name the stage receives (its own
    `secrets:` list; without one, register and canary get every declared secret, evaluate none)."""
    if URI_VARIABLE in pipeline.env or URI_VARIABLE in stage.env:
        return True
    return URI_VARIABLE in access.stage_secrets(stage, pipeline, default_all=stage.kind in ("register", "canary"))
