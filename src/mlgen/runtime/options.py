"""Merging a command's flags over the settings read from the spec: a flag always wins."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from mlgen.runtime._specconfig import RegistrySettings
from mlgen.runtime.errors import UserError


def registry_settings(args: argparse.Namespace, from_spec: RegistrySettings | None) -> RegistrySettings:
    base = from_spec or RegistrySettings()
    commands = base.commands
    for op in ("register", "promote", "rollback", "baseline", "store_predictions", "baseline_predictions",
               "fetch_model"):
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
