"""One module per target behind one small interface, and the table that names them."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mlgen.plan import Plan
    from mlgen.source import Source
    from mlgen.spec import Target as TargetSettings


class Target(Protocol):
    NAME: str
    TITLE: str

    # The config text for the plan (no header), with the user's overrides applied.
    def emit(self, plan: Plan, settings: TargetSettings, source: Source | None) -> str: ...

    # Problems a real validator finds in the emitted text (empty list: valid).
    def validate(self, text: str) -> list[str]: ...

    # emit and validate in one: YAML targets validate the document the text was written from.
    def emit_checked(self, plan: Plan, settings: TargetSettings, source: Source | None) -> tuple[str, list[str]]: ...

    # How spec features without a native construct are emulated on this target, for `mlgen plan`.
    def notes(self, plan: Plan) -> list[str]: ...


MODULES = {"github": "mlgen.targets.github", "gitlab": "mlgen.targets.gitlab", "jenkins": "mlgen.targets.jenkins",
           "actionlint": "mlgen.targets.actionlint"}  # the last: a file the GitHub target writes beside its workflow


def get(name: str) -> Target:
    module: Any = importlib.import_module(MODULES[name])
    return module  # type: ignore[no-any-return]
