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
