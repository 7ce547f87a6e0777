"""`mlgen plan`: what the compiler would make of a spec, as text for people or a graph for tools."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlgen import __version__, targets
from mlgen.compile import plan

if TYPE_CHECKING:
    from mlgen.spec.models import Pipeline
    from mlgen.spec.source import Source


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
