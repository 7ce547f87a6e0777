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
from mlgen.errors import UserError
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


def recorded_version(path: Path, model: str | None, *, missing_ok: bool = False) -> str | None:
    """The version in a record `mlgen registry register` wrote (for `--version-from`), checked.

    Generated jobs pin every canary step, promote and rollback to the version their own register
    job created; without the record they would act on whatever holds the alias now, which may be
    another pipeline's model, so a missing or foreign record is an error (None with `missing_ok`).
    """
    hint = "the register job writes it and hands it on; run `mlgen registry register` first"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if missing_ok:
            print(f"mlgen: {path} is missing: the version this run registered is unknown", flush=True)
            return None
        raise UserError("the record of the registered version is missing", where=str(path), hint=hint) from None
    except (OSError, ValueError) as exc:
        raise UserError(f"the record of the registered version is unreadable ({exc})", where=str(path), hint=hint) from None
    if not isinstance(record, dict) or "version" not in record or not record.get("model"):
        raise UserError("this is not a record written by `mlgen registry register`", where=str(path), hint=hint)
    if model is not None and record["model"] != model:
        raise UserError(f"the record is for model `{record['model']}`, not `{model}`", where=str(path),
                        hint="pass the record of this model: .mlgen/registered-<model>.json")
    version = str(record["version"] or "")
    if not version:  # a `command` registry whose register command printed no version: nothing to pin
        print(f"mlgen: {path} names no version (the register command printed none): nothing is pinned", flush=True)
        return None
    if record.get("registry") == "mlflow" and not (version.isdigit() and int(version) > 0):
        raise UserError(f"the recorded MLflow version `{version}` is not a version number", where=str(path), hint=hint)
    return version
