"""Validate generated configs against the SchemaStore schemas that ship inside check-jsonschema.

We locate the JSON files without importing check_jsonschema itself (its CLI imports are heavy).
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

from mlgen.errors import MlgenError


@functools.cache
def _validator(name: str) -> Any:
    import jsonschema

    spec = importlib.util.find_spec("check_jsonschema")
    if spec is None or not spec.submodule_search_locations:
        raise MlgenError("check-jsonschema is not installed; it ships the CI schemas mlgen validates against "
                         "(pip install check-jsonschema)")
    path = Path(spec.submodule_search_locations[0]) / "builtin_schemas" / "vendor" / f"{name}.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate(name: str, document: Any) -> list[str]:
    errors = sorted(_validator(name).iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{e.json_path}: {_short(e)}" for e in errors]


def _short(error: Any) -> str:
    # anyOf/oneOf failures carry the most specific reason in their context; show that one.
    best = error
    while best.context:
        best = min(best.context, key=lambda e: (len(e.context), -len(e.absolute_path)))
    text = best.message if best is not error else error.message
    return text if len(text) < 300 else text[:297] + "..."
