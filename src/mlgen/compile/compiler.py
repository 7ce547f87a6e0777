"""The front end: pipeline -> plan -> one emitter per target -> validated, headed texts.

Pure: it returns texts and paths; `writer` is the only place that touches the disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlgen import __version__, targets
from mlgen.compile import overrides, plan
from mlgen.drift import header
from mlgen.errors import MlgenError, OutputInvalid, SpecError
from mlgen.targets.escape import sh_quote

if TYPE_CHECKING:
    from mlgen.spec.models import Pipeline
    from mlgen.spec.models import Target as TargetSettings
    from mlgen.spec.source import Source


@dataclass(frozen=True)
class Output:
    target: str
    path: str  # relative to the spec's directory (the repository root)
    text: str


def compile_pipeline(pipeline: Pipeline, *, spec_name: str, spec_bytes: bytes,
                     only: tuple[str, ...] = (), source: Source | None = None) -> list[Output]:
    enabled = pipeline.enabled_targets()
    unknown = [t for t in only if t not in enabled]
    if unknown:
        raise MlgenError(f"target `{unknown[0]}` is not enabled in the spec's `targets:` "
                         f"(enabled: {', '.join(enabled) or 'none'})")
    the_plan = plan.build(pipeline, __version__, source)
    all_outputs = tuple((name, settings.path) for name, settings in enabled.items())
    command = f"mlgen compile {sh_quote(spec_name)}"
    outputs = []
    for name, settings in enabled.items():
        if only and name not in only:
            continue
        target = targets.get(name)
        body, problems = _emit(target, the_plan, settings, source)
        if problems:
            located = overrides.output_problems(name, problems, settings.overrides, source)
            if located:
                raise SpecError(located)
            raise OutputInvalid(name, settings.path, problems)
        text = header.render(name, body, version=__version__, spec=spec_name, spec_bytes=spec_bytes,
                             outputs=all_outputs, command=command)
        outputs.append(Output(name, settings.path, text))
    return outputs


def _emit(target: targets.Target, the_plan: plan.Plan, settings: TargetSettings,
          source: Source | None) -> tuple[str, list[str]]:
    """The target's text and its validator's problems, with the user's overrides applied here, once."""
    jobs = target.jobs(the_plan, settings)
    overrides.apply(target.NAME, jobs, settings.overrides, source)
    try:
        return target.emit_checked(the_plan, settings, jobs)
    except overrides.Refused as refused:
        raise SpecError(overrides.located(target.NAME, refused.misfits, source)) from None
PLAN_FORMATS = ("text", "mermaid", "dot", "json")


def render_plan(pipeline: Pipeline, spec_name: str, fmt: str, source: Source | None = None) -> str:
    """`mlgen plan --format`: the text description, or the job graph as Mermaid, DOT or JSON."""
    from mlgen.compile import graphviews

    if fmt == "text":
        return describe(pipeline, spec_name, source)
    return graphviews.RENDERERS[fmt](plan.build(pipeline, __version__, source))


def describe(pipeline: Pipeline, spec_name: str, source: Source | None = None) -> str:
    """`mlgen plan`: the job graph and, per target, how non-native features are emulated."""
    the_plan = plan.build(pipeline, __version__, source)
    lines = [f"pipeline {the_plan.name} (mlgen {__version__})", "", "jobs:"]
    for job in the_plan.jobs:
        facts = [job.kind]
        if job.needs:
            facts.append("after " + ", ".join(job.needs))
        if job.when.branch_only:
            branches = [*job.when.branches, *(["<default branch>"] if job.when.default_branch else [])]
            inherited = f" (as it waits for {', '.join(job.when.inherited_from)})" if job.when.inherited_from else ""
            facts.append("only on " + ", ".join(branches) + inherited + ", never on pull requests")
        if job.when.on_failure_of:
            facts.append("only when " + " or ".join(job.when.on_failure_of) + " failed")
        if job.when.despite_failure:
            facts.append("also when " + ", ".join(job.needs) + " failed or did not run")
        if job.report:
            facts.append("comments on the pull/merge request")
        if job.approval:
            facts.append(f"waits for approval ({job.environment})")
        if job.lock:
            facts.append(f"serialised by {job.lock}")
        if job.matrix:
            facts.append("matrix " + " x ".join(f"{k}={'/'.join(v)}" for k, v in job.matrix))
        if job.cache:
            facts.append("skips training when " + ", ".join(job.cache.key_files) + " are unchanged")
        if job.upload:
            facts.append("hands on " + ", ".join(job.upload.paths))
        if job.secrets:
            facts.append("secrets " + ", ".join(job.secrets))
        facts.append(f"timeout {job.timeout_minutes}m")
        lines.append(f"  {job.id}: " + "; ".join(facts))
    for name in pipeline.enabled_targets():
        target = targets.get(name)
        notes = target.notes(the_plan)
        lines += ["", f"{target.TITLE}:"] + [f"  - {n}" for n in notes or ["every feature maps to a native construct"]]
    return "\n".join(lines) + "\n"
