"""Model registries behind one small interface, with an explicit name -> backend table.

`mlflow` talks to an MLflow tracking server or database; `command` runs the user's own shell
templates, for any other registry. Backends are imported only when chosen (mlflow is heavy).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mlgen.errors import UserError, did_you_mean
from mlgen.runtime.gate.rules import Baseline
from mlgen.runtime.settings import RegistrySettings

CHAMPION = "champion"
PREVIOUS = "previous-champion"
CHALLENGER = "challenger"
# A version whose canary failed keeps this alias (the latest such version) and the tag
# `mlgen.canary=failed`; promote refuses it.
FAILED = "canary-failed"


@dataclass(frozen=True)
class RegisterRequest:
    model: str
    path: Path
    alias: str
    tags: Mapping[str, str]  # commit, run URL, gate results
    metrics: Mapping[str, float]  # logged so this version can be a later gate's baseline
    gate_results: Path | None = None
    predictions: Path | None = None  # per-example predictions the gate decided on, kept for paired comparisons
    fingerprint: str = ""  # of the evaluation set those predictions were made on


@dataclass(frozen=True)
class Promotion:
    """What a promotion did; kept in .mlgen/canary-state.json so a rollback can undo it."""

    model: str
    version: str | None
    previous: str | None
    run_id: str | None
    registry: str
    changed: bool = True
    # False while a promotion is under way: written before the registry is touched, so that the
    # rollback job knows a promotion may have begun even when the promote job died half-way.
    complete: bool = True


@dataclass(frozen=True)
class Outcome:
    summary: str
    version: str | None = None
    details: dict[str, str] = field(default_factory=dict)


class Registry(Protocol):
    name: str

    def register(self, request: RegisterRequest) -> Outcome:
        """Store the model directory as a new version and point `request.alias` at it."""

    def promote(self, model: str, from_alias: str, run_id: str | None, version: str | None = None) -> Promotion:
        """Move `champion` to the version holding `from_alias`; the old champion becomes `previous-champion`.

        Refuses a version marked failed, and with `version`, any other version than that one. A retry
        after a crash at any point ends as one uninterrupted run would.
        """

    def rollback(self, model: str, version: str | None = None) -> Outcome:
        """Point `champion` back at `previous-champion` (with `version`: only if that version is the champion)."""

    def undo_promotion(self, model: str, run_id: str | None, record: Promotion | None,
                       from_alias: str = CHALLENGER, version: str | None = None) -> Outcome:
        """The rollback job: mark this run's candidate failed and undo its promotion, even a half-done one.

        Versions of other runs are left as they are.
        """

    def baseline(self, model: str, alias: str) -> Baseline:
        """The metrics of the version holding `alias`, or a Baseline with metrics=None if none does."""

    def baseline_predictions(self, model: str, alias: str, folder: Path) -> tuple[Path | None, str]:
        """The stored predictions of the version holding `alias`, fetched into `folder`, or (None, why not)."""

    def fetch_model(self, model: str, alias: str, folder: Path) -> tuple[Path | None, str]:
        """The model files of the version holding `alias`, fetched into `folder`, or (None, why not)."""

    def show(self, model: str) -> Outcome:
        """Aliases and versions, for people."""


REGISTRY_BY_NAME = {
    "mlflow": "mlgen.runtime.registry.mlflow_backend:MlflowRegistry",
    "command": "mlgen.runtime.registry.command_backend:CommandRegistry",
}


def open_registry(settings: RegistrySettings, *, tracking_uri: str | None = None) -> Registry:
    if settings.kind not in REGISTRY_BY_NAME:
        raise UserError(f"unknown registry `{settings.kind}`{did_you_mean(settings.kind, REGISTRY_BY_NAME)}",
                        hint=f"use one of: {', '.join(REGISTRY_BY_NAME)}")
    module, _, cls = REGISTRY_BY_NAME[settings.kind].partition(":")
    backend: Registry = getattr(importlib.import_module(module), cls)(settings, tracking_uri)
    return backend


def require_model(model: str | None, *, command: str) -> str:
    if not model:
        raise UserError(f"`{command}` needs the registered model's name",
                        hint="pass --model NAME, or --spec with a stage that names it (or a register stage before it)")
    return model
