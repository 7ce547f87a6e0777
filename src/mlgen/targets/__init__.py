"""One module per target behind one small interface, and the table that names them."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mlgen.compile.plan import Plan
    from mlgen.spec.models import Target as TargetSettings


class SettingRefused(Exception):
    """A target setting the target cannot honour. Targets see no source: the compiler locates it at `loc`."""

    def __init__(self, loc: tuple[str, ...], message: str, hint: str = "") -> None:
        super().__init__(message)
        self.loc, self.message, self.hint = loc, message, hint


class Target(Protocol):
    NAME: str
    TITLE: str

    # The overridable face of each job, by job id: what `targets.<name>.overrides` patches.
    def jobs(self, plan: Plan, settings: TargetSettings) -> dict[str, dict[str, Any]]: ...

    # The config text (no header) from the plan and the patched faces, and the problems a real
    # validator finds in it (empty list: valid). Raises `overrides.Refused` for faces it refuses.
    def emit_checked(self, plan: Plan, settings: TargetSettings, jobs: dict[str, dict[str, Any]]) -> tuple[str, list[str]]: ...

    # Problems a real validator finds in the emitted text (empty list: valid).
    def validate(self, text: str) -> list[str]: ...

    # How spec features without a native construct are emulated on this target, for `mlgen plan`.
    def notes(self, plan: Plan) -> list[str]: ...


@dataclass(frozen=True)
class Companion:
    """A file a target writes beside its config (a reusable workflow, a child pipeline): `kind` is the
    header kind it is sealed with (its comment syntax), `path` relative to the repository root, `text`
    without the header."""

    kind: str
    path: str
    text: str


def companions(target: Target, plan: Plan, settings: TargetSettings,
               jobs: dict[str, dict[str, Any]]) -> tuple[list[Companion], list[str]]:
    """The files the target writes beside its config and the problems a real validator finds in them.
    A target module opts in by defining `companions(plan, settings, jobs)` with this signature."""
    hook = getattr(target, "companions", None)
    if hook is None:
        return [], []
    made: tuple[list[Companion], list[str]] = hook(plan, settings, jobs)
    return made


# `actionlint` is no target: the compiler writes its file beside the GitHub workflow.
MODULES = {"github": "mlgen.targets.github", "gitlab": "mlgen.targets.gitlab", "jenkins": "mlgen.targets.jenkins"}


def get(name: str) -> Target:
    module: Any = importlib.import_module(MODULES[name])
    return module  # type: ignore[no-any-return]
