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
    return [": ".join(_short(e)) for e in errors]


def _short(error: Any) -> tuple[str, str]:
    """anyOf/oneOf failures hide the real reason in their context: take the deepest leaf."""
    leaves, todo = [], [error]
    while todo:
        current = todo.pop()
        if current.context:
            todo.extend(current.context)
        else:
            leaves.append(current)
    best = max(leaves, key=lambda e: (len(e.absolute_path), e.validator != "required"))
    text = best.message if len(best.message) < 300 else best.message[:297] + "..."
    return best.json_path, text
