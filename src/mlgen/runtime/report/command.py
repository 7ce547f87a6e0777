"""`mlgen report`: flags and spec -> settings -> read the workspace, build, write, post.

The report job must never fail the pipeline because of the report: missing inputs become
sections that say so, and a comment that cannot be posted is a warning. Only a bad flag or an
unreadable spec (a broken config, not a broken run) exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlgen import layout
from mlgen.errors import UserError
from mlgen.runtime import cienv, reports, state
from mlgen.runtime.report import build, inputs, markdown, post, registered
from mlgen.runtime.settings import apply_env, load_stage

DEFAULT_OUT_DIR = Path(layout.REPORT_DIR)
DEFAULT_PIPELINE = "pipeline"  # the marker's name without a spec or --pipeline
TRACKING_URI = "MLFLOW_TRACKING_URI"  # where MLflow's client, and so `mlgen registry`, finds the server


@dataclass(frozen=True)
class Settings:
    stage: str
    pipeline: str
    out_dir: Path
    post: str
    token_env: str | None
    timeout: float
    run_url: str | None
    registry_version: str | None
    graph: Path | None
    model: str | None = None
    matrix: dict[str, list[str]] = field(default_factory=dict)
    registry: str | None = None  # the model's registry kind, when the spec is at hand


def run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    env = os.environ
    if args.registered:  # the register job: the version it registered, beside the report
        return registered.run(Path(args.registered), env.get(TRACKING_URI), settings.out_dir, settings.pipeline, settings.stage)
    report = build.build(_inputs(settings, env))
    text = markdown.render(report)
    _write(settings.out_dir, report, text)
    summary = _summary(text)
    print(f"mlgen report: wrote {settings.out_dir / 'report.md'} and report.json" + (" and the job summary" if summary else ""))
    _post(settings, report, text, env)
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    view = load_stage(args.spec, args.stage, "evaluate")
    apply_env(view)
    pipeline, model, kind = args.pipeline, args.model, None
    matrix: dict[str, list[str]] = {}
    if view is not None:
        pipeline = pipeline or view.pipeline.name
        registry = view.registry(getattr(view.stage, "model", None), None)
        model, kind = model or registry.model, registry.kind
        # every train stage's matrix: the metrics may name the leg of any of them
        for stage in view.pipeline.stages:
            for key, values in (getattr(stage, "matrix", None) or {}).items():
                matrix.setdefault(key.upper(), []).extend(str(v) for v in values)
    return Settings(args.stage or "evaluate", pipeline or DEFAULT_PIPELINE, Path(args.out_dir or DEFAULT_OUT_DIR), args.post,
                    args.token_env, args.http_timeout, args.run_url, args.registry_version,
                    Path(args.graph) if args.graph else None, model, matrix, kind)


def _inputs(settings: Settings, env: Mapping[str, str]) -> build.Inputs:
    data, data_missing = inputs.data_results()
    graph, graph_note = inputs.graph(settings.graph)
    if graph_note:
        print(f"mlgen report: {graph_note}")
    version = settings.registry_version or _registered(settings.model)
    gate = inputs.gate_result(settings.stage)
    return build.Inputs(pipeline=settings.pipeline, stage=settings.stage, gate=gate, data=data, data_missing=data_missing,
                        training=inputs.training_records(), matrix=settings.matrix, graph=graph,
                        metrics_file=inputs.metrics_file(gate), run_url=settings.run_url or cienv.run_url(env),
                        artifacts_url=cienv.artifacts_url(env), model=settings.model, registry_version=version or None,
                        registry_url=_registry_url(settings, version, env))


def _registry_url(settings: Settings, version: str, env: Mapping[str, str]) -> str | None:
    if settings.registry != "mlflow" or not settings.model or not version:
        return None  # only MLflow's UI has a page per version
    return registered.model_version_url(env.get(TRACKING_URI), settings.model, version)


def _summary(text: str) -> Path | None:
    try:
        return reports.append_step_summary(text)
    except UserError as exc:  # the report files are written: a summary that cannot be is not worth failing for
        print(f"mlgen report: warning: {exc}", file=sys.stderr)
        return None


def _registered(model: str | None) -> str:
    if model:
        return state.registered_version(model)
    record = inputs.read_json(state.REGISTERED, "registered version")
    return "" if isinstance(record, build.Missing) else str(record.get("version") or "")


def _write(out_dir: Path, report: build.Report, text: str) -> None:
    reports.write_text(out_dir / "report.md", text)
    reports.write_json(out_dir / "report.json", build.to_json(report))
    # Jenkins sets this line as the build description (archived with the report)
    reports.write_text(out_dir / "description.txt", description(report) + "\n")


def description(report: build.Report) -> str:
    line = f"mlgen {report.pipeline}/{report.stage}: {report.headline}"
    return " ".join(line.split())[:200]


def _post(settings: Settings, report: build.Report, text: str, env: Mapping[str, str]) -> None:
    where = post.destination(settings.post, env, settings.token_env)
    if isinstance(where, post.NoPost):
        print(f"mlgen report: not posting a comment: {where.reason}")
        return
    try:
        action = post.publish(where, report.marker, markdown.fit(text), timeout=settings.timeout)
    except post.PostError as exc:
        print(f"mlgen report: warning: could not post the report on the {where.describe()}: {exc}; "
              f"it is in {settings.out_dir / 'report.md'} (and the job summary on GitHub)", file=sys.stderr)
        return
    print(f"mlgen report: {action} the comment on the {where.describe()}")
