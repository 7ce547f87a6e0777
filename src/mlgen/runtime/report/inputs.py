"""Reading what earlier jobs left in the workspace, where the runtime commands write it.

Every reader returns the parsed JSON or a `Missing` that says why not: an input that is absent,
unreadable or damaged only empties its own section of the report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlgen import layout
from mlgen.layout import TRAINING_RECORDS  # `mlgen cache hit` writes one per stage and matrix leg
from mlgen.runtime import state
from mlgen.runtime.gate.metrics import flatten
from mlgen.runtime.report.build import Missing

DATA_RESULTS = layout.DATA_RESULTS


def read_json(path: Path, what: str) -> Mapping[str, Any] | Missing:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Missing(what, f"{path} not found")
    except (OSError, UnicodeDecodeError) as exc:
        return Missing(what, f"{path} cannot be read ({exc})")
    except json.JSONDecodeError as exc:
        return Missing(what, f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})")
    if not isinstance(data, dict):
        return Missing(what, f"{path} does not hold a JSON object")
    return data


def gate_result(stage: str, path: Path | None = None) -> Mapping[str, Any] | Missing:
    found = read_json(path or Path(layout.gate_result(stage)), "gate result")
    if isinstance(found, Missing):
        return found
    if not isinstance(found.get("gates"), dict):
        return Missing("gate result", f"{path or layout.gate_result(stage)} is not a result of `mlgen gate`")
    return found


def metrics_file(gate: Mapping[str, Any] | Missing) -> Mapping[str, Any] | None:
    """The metrics file the gate read, flattened, if this workspace has it (its text values too)."""
    name = gate.get("metrics_file") if not isinstance(gate, Missing) else None
    found = read_json(Path(name), "metrics file") if isinstance(name, str) and name else None
    return flatten(dict(found)) if found is not None and not isinstance(found, Missing) else None


def data_results(root: Path = Path(".")) -> tuple[list[tuple[str, Mapping[str, Any]]], str]:
    """Every data check result in the workspace, by file name; and why there is none."""
    found, problems = [], []
    for path in sorted(root.glob(DATA_RESULTS)):
        data = read_json(path, "data check result")
        if isinstance(data, Missing):
            problems.append(data.why)
        elif isinstance(data.get("files"), dict):
            found.append((path.name, data))
    why = "; ".join(problems) or f"no {DATA_RESULTS} (the data check did not run, or its result was not passed on)"
    return found, why


def training_records(root: Path = Path(".")) -> list[Mapping[str, Any]]:
    records = []
    for path in sorted((root / TRAINING_RECORDS).glob("*.json")):
        data = read_json(path, "training record")
        if not isinstance(data, Missing) and data.get("stage") and data.get("cache") in ("hit", "miss"):
            records.append(data)
    return records


def registered_version(model: str | None) -> str:
    return state.registered_version(model) if model else ""


def graph(path: Path | None) -> tuple[str | None, str]:
    """The Mermaid text of `--graph`, or None and why (the section is then left out)."""
    if path is None:
        return None, ""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"the graph {path} cannot be read ({exc.__class__.__name__}); the report leaves it out"
    return (text or None), "" if text else f"the graph {path} is empty; the report leaves it out"
