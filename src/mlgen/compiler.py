"""The front end: pipeline -> plan -> one emitter per target -> validated, headed texts.

Pure: it returns texts and paths; `writer` is the only place that touches the disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgen import __version__, header, overrides, plan, targets
from mlgen.errors import MlgenError, OutputInvalid, SpecError
from mlgen.escape import sh_quote

if TYPE_CHECKING:
    from mlgen.source import Source
    from mlgen.spec import Pipeline


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
    companions = _companions(the_plan, enabled, source)
    all_outputs = tuple((name, settings.path) for name, settings in enabled.items()) + tuple((c, p) for c, p, _ in companions)
    command = f"mlgen compile {sh_quote(spec_name)}"
    outputs = []
    for name, settings in enabled.items():
        if only and name not in only:
            continue
        target = targets.get(name)
        body, problems = target.emit_checked(the_plan, settings, source)
        if problems:
            located = overrides.output_problems(name, problems, settings.overrides, source)
            if located:
                raise SpecError(located)
            raise OutputInvalid(name, settings.path, problems)
        text = header.render(name, body, version=__version__, spec=spec_name, spec_bytes=spec_bytes,
                             outputs=all_outputs, command=command)
        outputs.append(Output(name, settings.path, text))
    for companion, path, owner in companions:
        if only and owner.name not in only:
            continue
        body = targets.get(companion).emit(the_plan, owner.value, source)
        outputs.append(Output(companion, path, header.render(companion, body, version=__version__, spec=spec_name,
                                                             spec_bytes=spec_bytes, outputs=all_outputs, command=command)))
    return outputs


@dataclass(frozen=True)
class _Owner:
    name: str  # the target whose settings the companion file follows
    value: Any


def output_paths(pipeline: Pipeline, source: Source | None = None) -> list[str]:
    """Every file the spec writes, whichever targets one compile asks for."""
    enabled = pipeline.enabled_targets()
    the_plan = plan.build(pipeline, __version__, source)
    return [t.path for t in enabled.values()] + [path for _, path, _ in _companions(the_plan, enabled, source)]


def _companions(the_plan: plan.Plan, enabled: dict[str, Any], source: Source | None) -> list[tuple[str, str, _Owner]]:
    """Files a target writes beside its config: GitHub's `.github/actionlint.yaml`, when the
    workflow uses self-hosted runner labels for actionlint to learn."""
    from mlgen.targets import actionlint

    github = enabled.get("github")
    if github is None or not actionlint.wanted(the_plan, github, source):
        return []
    return [(actionlint.NAME, actionlint.PATH, _Owner("github", github))]


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
