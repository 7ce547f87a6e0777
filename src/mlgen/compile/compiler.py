"""The front end: pipeline -> plan -> one emitter per target -> validated, headed texts.

Pure: it returns texts and paths; `writer` is the only place that touches the disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgen import __version__, targets
from mlgen.compile import overrides, plan
from mlgen.drift import header
from mlgen.errors import MlgenError, OutputInvalid, SpecError
from mlgen.spec.source import locate
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
    faces = {name: _faces(targets.get(name), the_plan, settings, source)
             for name, settings in enabled.items() if not only or name in only or name in _COMPANION_OWNERS}
    companions = _companions(the_plan, enabled, faces, source)
    all_outputs = tuple((name, settings.path) for name, settings in enabled.items()) + tuple((c.target, c.path) for c, _ in companions)
    command = f"mlgen compile {sh_quote(spec_name)}"
    outputs = []
    for name, settings in enabled.items():
        if only and name not in only:
            continue
        target = targets.get(name)
        body, problems = _emit(target, the_plan, settings, faces[name], source)
        if problems:
            located = overrides.output_problems(name, problems, settings.overrides, source)
            if located:
                raise SpecError(located)
            raise OutputInvalid(name, settings.path, problems)
        text = header.render(name, body, version=__version__, spec=spec_name, spec_bytes=spec_bytes,
                             outputs=all_outputs, command=command)
        outputs.append(Output(name, settings.path, text))
    for companion, owner in companions:
        if only and owner not in only:
            continue
        text = header.render(companion.target, companion.text, version=__version__, spec=spec_name, spec_bytes=spec_bytes,
                             outputs=all_outputs, command=command)
        outputs.append(Output(companion.target, companion.path, text))
    return outputs


def output_paths(pipeline: Pipeline, source: Source | None = None) -> list[str]:
    """Every file the spec writes, whichever targets one compile asks for."""
    enabled = pipeline.enabled_targets()
    the_plan = plan.build(pipeline, __version__, source)
    faces = {name: _faces(targets.get(name), the_plan, enabled[name], source) for name in _COMPANION_OWNERS if name in enabled}
    return [t.path for t in enabled.values()] + [c.path for c, _ in _companions(the_plan, enabled, faces, source)]


# The targets that may write a file beside their config: their jobs are built even under `--target`,
# since every header lists every file the spec writes.
_COMPANION_OWNERS = ("github", "gitlab")


def _companions(the_plan: plan.Plan, enabled: dict[str, TargetSettings],
                faces: dict[str, dict[str, dict[str, Any]]], source: Source | None = None) -> list[tuple[Output, str]]:
    """Files a target writes beside its config, each with its owner: what the target's own
    `companions` hook returns (valid, or a SpecError/OutputInvalid like the config itself), and
    GitHub's `.github/actionlint.yaml` when the workflow (after overrides) runs on self-hosted labels
    for actionlint to learn."""
    from mlgen.targets import actionlint

    found: list[tuple[Output, str]] = []
    for name in _COMPANION_OWNERS:
        settings = enabled.get(name)
        if settings is None:
            continue
        made, problems = _made_beside(targets.get(name), the_plan, settings, faces[name], source)
        if problems:
            raise OutputInvalid(name, made[0].path if made else settings.path, problems)
        found += [(Output(c.kind, c.path, c.text), name) for c in made]
    github = enabled.get("github")
    if github is not None and actionlint.wanted(github, faces["github"]):
        found.append((Output(actionlint.NAME, actionlint.PATH, actionlint.emit(faces["github"])), "github"))
    return found


def _made_beside(target: targets.Target, the_plan: plan.Plan, settings: TargetSettings,
                 jobs: dict[str, dict[str, Any]], source: Source | None) -> tuple[list[targets.Companion], list[str]]:
    """The target's companion files, with faces it refuses located in the spec like `_emit` does."""
    with _located(target, source):
        return targets.companions(target, the_plan, settings, jobs)


@contextmanager
def _located(target: targets.Target, source: Source | None) -> Iterator[None]:
    """A face or setting the target refuses, as a spec error at the place in the spec that asked for it."""
    try:
        yield
    except overrides.Refused as refused:
        raise SpecError(overrides.located(target.NAME, refused.misfits, source)) from None
    except targets.SettingRefused as refused:
        raise SpecError([locate(source, refused.loc, refused.message, refused.hint)]) from None


def _faces(target: targets.Target, the_plan: plan.Plan, settings: TargetSettings,
           source: Source | None) -> dict[str, dict[str, Any]]:
    """The target's jobs by id with the user's overrides applied here, once."""
    try:
        jobs = target.jobs(the_plan, settings)
    except targets.SettingRefused as refused:
        raise SpecError([locate(source, refused.loc, refused.message, refused.hint)]) from None
    overrides.apply(target.NAME, jobs, settings.overrides, source)
    return jobs


def _emit(target: targets.Target, the_plan: plan.Plan, settings: TargetSettings,
          jobs: dict[str, dict[str, Any]], source: Source | None) -> tuple[str, list[str]]:
    """The target's text and its validator's problems, from the overridden jobs."""
    with _located(target, source):
        return target.emit_checked(the_plan, settings, jobs)
