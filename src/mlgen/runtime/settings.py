"""A runtime command's settings: read from the spec (the only module that does), then the flags win.

Paths in the spec are relative to the spec's directory (the repository root in CI), so they are
resolved against it here; paths given as flags stay relative to the working directory.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mlgen import layout
from mlgen.errors import UserError, did_you_mean

DEFAULT_STAGE = {"validate": "validate", "evaluate": "evaluate", "register": "register", "canary": "canary"}


@dataclass(frozen=True)
class Commands:
    """Shell templates of a `command` registry."""

    register: str | None = None
    promote: str | None = None
    rollback: str | None = None
    baseline: str | None = None
    store_predictions: str | None = None
    baseline_predictions: str | None = None
    fetch_model: str | None = None


# The operations of a `command` registry, each a shell template: named once, here.
REGISTRY_OPERATIONS = tuple(f.name for f in fields(Commands))


def command_flag(operation: str) -> str:
    """The runtime flag that passes an operation's template, e.g. `--store-predictions-command`."""
    return f"--{operation.replace('_', '-')}-command"


@dataclass(frozen=True)
class RegistrySettings:
    kind: str = "mlflow"
    model: str | None = None
    alias: str = "challenger"  # the alias a new version gets, and the one promotion moves from
    commands: Commands = field(default_factory=Commands)


@dataclass(frozen=True)
class DataSettings:
    contract: Path | None
    data: list[Path]
    reference: Path | None


@dataclass(frozen=True)
class GateSettings:
    metrics: Path
    gates: dict[str, dict[str, Any]]
    baseline_file: Path | None
    baseline_registry: str | None
    on_missing: str
    registry: RegistrySettings
    predictions: Path | None = None
    on_different_eval_set: str = "unpaired"
    accepted: Path | None = None


@dataclass(frozen=True)
class RegisterSettings:
    path: Path
    gate_results: Path | None
    registry: RegistrySettings


@dataclass(frozen=True)
class CanarySettings:
    deploy: str
    steps: list[int]
    bake: str
    interval: str
    check: str | None
    check_url: str | None
    thresholds: dict[str, dict[str, float | None]]
    rollback: str
    registry: RegistrySettings
    failure_limit: int = 1


class StageView:
    """One stage of a loaded spec, with the pipeline around it."""

    def __init__(self, spec: Path, stage_name: str, kind: str) -> None:
        from mlgen import load_pipeline

        self.spec = spec
        self.root = spec.parent
        self.pipeline: Any = load_pipeline(spec)
        names = [s.name for s in self.pipeline.stages]
        if stage_name not in names:
            raise UserError(f"no stage named `{stage_name}`{did_you_mean(stage_name, names)}", where=str(spec),
                            hint=f"the stages are: {', '.join(names)}")
        self.stage: Any = self.pipeline.stage(stage_name)
        if self.stage.kind != kind:
            raise UserError(f"stage `{stage_name}` is a {self.stage.kind} stage, not a {kind} stage", where=str(spec),
                            hint=f"pass --stage with a {kind} stage: " + ", ".join(
                                s.name for s in self.pipeline.stages if s.kind == kind) or "(none)")

    def path(self, value: str | None) -> Path | None:
        return None if value is None else self.root / value

    def env(self) -> dict[str, str]:
        """Pipeline then stage env, as CI would export them."""
        return {**self.pipeline.env, **self.stage.env}

    def _earlier(self, kind: str) -> Any | None:
        """The closest stage of `kind` before this one (the one whose results this stage uses)."""
        found = None
        for stage in self.pipeline.stages:
            if stage.name == self.stage.name:
                return found
            if stage.kind == kind:
                found = stage
        return found

    def _any(self, kind: str) -> Any | None:
        return next((s for s in self.pipeline.stages if s.kind == kind), None)

    def registry(self, model: str | None, kind: str | None) -> RegistrySettings:
        # An evaluate stage runs before the register stage whose model it compares against.
        register = self.stage if self.stage.kind == "register" else self._earlier("register") or self._any("register")
        if register is None:
            return RegistrySettings(kind=kind or "mlflow", model=model)
        cmd = register.command
        commands = Commands() if cmd is None else Commands(cmd.register_cmd, cmd.promote, cmd.rollback, cmd.baseline,
                                                           cmd.store_predictions, cmd.baseline_predictions, cmd.fetch_model)
        return RegistrySettings(kind=kind or register.registry, model=model or register.model, alias=register.alias,
                                commands=commands)

    def data(self) -> DataSettings:
        return DataSettings(self.path(self.stage.contract), [self.root / d for d in self.stage.data],
                            self.path(self.stage.reference))

    def gate(self) -> GateSettings:
        s = self.stage
        gates = {name: {k: getattr(g, k) for k in ("min", "max", "max_drop", "max_rise", "confidence")}
                 for name, g in s.gates.items()}
        baseline = s.baseline
        return GateSettings(self.root / s.metrics, gates, self.path(baseline.file if baseline else None),
                            baseline.registry if baseline else None, s.on_missing_baseline, self.registry(s.model, None),
                            self.path(s.predictions), s.on_different_eval_set, self.path(s.accepted))

    def register(self) -> RegisterSettings:
        evaluate = self._earlier("evaluate")
        # where `mlgen gate` writes by default: the working directory, like every report
        gate_results = Path(layout.gate_result(evaluate.name)) if evaluate is not None else None
        return RegisterSettings(self.root / self.stage.path, gate_results, self.registry(self.stage.model, self.stage.registry))

    def canary(self) -> CanarySettings:
        s = self.stage
        thresholds = {name: {"min": t.min, "max": t.max} for name, t in s.thresholds.items()}
        return CanarySettings(s.deploy, list(s.steps), s.bake, s.interval, s.check, s.check_url, thresholds, s.rollback,
                              self.registry(s.model, s.registry), s.failure_limit)


def load_stage(spec: str | None, stage: str | None, kind: str) -> StageView | None:
    """The stage named by --spec/--stage, or None when the command runs from flags alone."""
    if spec is None:
        return None  # without a spec, --stage only names the reports
    path = Path(spec)
    if path.is_dir():
        path = path / "mlgen.yaml"
    return StageView(path, stage or DEFAULT_STAGE[kind], kind)


def apply_env(view: StageView | None) -> None:
    """Export the spec's env (e.g. MLFLOW_TRACKING_URI) unless the environment already sets it.

    In CI the generated config exports these itself; locally this makes `--spec` runs match.
    """
    if view is None:
        return
    for key, value in view.env().items():
        os.environ.setdefault(key, value)


# Merging a command's flags over the settings read from the spec: a flag always wins.


def registry_settings(args: argparse.Namespace, from_spec: RegistrySettings | None) -> RegistrySettings:
    base = from_spec or RegistrySettings()
    commands = base.commands
    for op in REGISTRY_OPERATIONS:
        value = getattr(args, f"{op}_command", None)
        if value is not None:
            commands = replace(commands, **{op: value})
    return RegistrySettings(kind=getattr(args, "registry", None) or base.kind,
                            model=getattr(args, "model", None) or base.model,
                            alias=getattr(args, "alias", None) or getattr(args, "from_alias", None) or base.alias,
                            commands=commands)


def required_path(flag_value: str | None, spec_value: Path | None, *, flag: str, spec_key: str) -> Path:
    if flag_value is not None:
        return Path(flag_value)
    if spec_value is not None:
        return spec_value
    raise UserError(f"no {spec_key} given",
                    hint=f"pass {flag} PATH, or --spec mlgen.yaml --stage NAME to read `{spec_key}` from the spec")
