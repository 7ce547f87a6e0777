"""What this workspace's run did to the registry: .mlgen/canary-state.json and .mlgen/registered*.json.

The registry records promotions itself (tags on the MLflow version); these files are the fallback
for local runs without a CI run id, and the only record a `command` registry has. A promotion is
saved as incomplete before the registry is touched, so a half-done one is still on record.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from mlgen import layout
from mlgen.runtime import reports
from mlgen.runtime.registry import Promotion

STATE = Path(layout.CANARY_STATE)


def save(promotion: Promotion, path: Path = STATE) -> None:
    reports.write_json(path, asdict(promotion))


def load(path: Path = STATE) -> Promotion | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Promotion(**data)
    except (OSError, ValueError, TypeError):
        return None  # no record (or a damaged one) means "this run promoted nothing we know of"


def clear(path: Path = STATE) -> None:
    path.unlink(missing_ok=True)


REGISTERED = Path(layout.REGISTERED)


def registered_path(model: str) -> Path:
    return Path(layout.registered(model))


def registered_version(model: str) -> str:
    """The version `mlgen registry register` recorded in this workspace for `model`, or ""."""
    for path in (registered_path(model), REGISTERED):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("model") == model and record.get("version"):
            return str(record["version"])
    return ""
