"""Metrics files: JSON objects whose nested keys are addressed as `a.b`."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlgen.errors import UserError, did_you_mean


def load_json(path: Path, *, what: str, missing_hint: str) -> Any:
    """Parsed JSON from `path`, with clear errors for a missing file or bad JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what} not found", where=str(path), hint=missing_hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the {what}: {exc}", where=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"the {what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                        where=str(path), hint="write a JSON object such as {\"accuracy\": 0.91}") from None


def load_metrics(path: Path, *, what: str = "metrics file", missing_hint: str = "") -> dict[str, Any]:
    """Flattened metrics: {"eval": {"auc": 0.9}} gives {"eval.auc": 0.9}. Values are not checked yet."""
    data = load_json(path, what=what, missing_hint=missing_hint or "the evaluate step must write it before the gate runs")
    if not isinstance(data, dict):
        raise UserError(f"the {what} must hold a JSON object, not a {type(data).__name__}", where=str(path),
                        hint="write a JSON object such as {\"accuracy\": 0.91, \"eval\": {\"auc\": 0.88}}")
    return flatten(data)


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, list):
            flat.update(flatten({str(i): v for i, v in enumerate(value)}, name + "."))
        else:
            flat[name] = value
    return flat


def as_number(value: Any) -> float | str:
    """The value as a finite float, or a text saying why it is not one.

    Booleans and numeric strings are refused: a gate that quietly compared `true` as 1 would pass
    on a broken metrics file.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"is not a number ({json.dumps(value)})"
    number = float(value)
    if not math.isfinite(number):
        return f"is {value} (not a finite number)"
    return number


def numeric_only(flat: dict[str, Any]) -> dict[str, float]:
    """The finite numeric metrics, e.g. to log them to a registry."""
    return {k: v for k, raw in flat.items() if isinstance(v := as_number(raw), float)}


def missing_metric_message(name: str, available: Mapping[str, Any]) -> str:
    return f"metric `{name}` is missing{did_you_mean(name, available)}"
