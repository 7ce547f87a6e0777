"""Validate generated configs against the SchemaStore schemas that ship inside check-jsonschema.

We locate the JSON files without importing check_jsonschema itself (its CLI imports are heavy).

Two validators, one verdict. jsonschema-rs (compiled; milliseconds on the workflow of a
thousand-stage pipeline, where `jsonschema` takes over a second) says whether a document is
valid. Only when it is not does `jsonschema` run, to report the errors with the messages and
paths users know; if `jsonschema` finds none, its word stands. tests/test_schemas.py runs both
on valid and broken documents and checks they agree.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

from mlgen.errors import MlgenError


@functools.cache
def _schema(name: str) -> Any:
    spec = importlib.util.find_spec("check_jsonschema")
    if spec is None or not spec.submodule_search_locations:
        raise MlgenError("check-jsonschema is not installed; it ships the CI schemas mlgen validates against "
                         "(pip install check-jsonschema)")
    path = Path(spec.submodule_search_locations[0]) / "builtin_schemas" / "vendor" / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))


@functools.cache
def _validator(name: str) -> Any:
    """The reference validator, built once per process (and the schema itself checked once)."""
    import jsonschema

    schema = _schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@functools.cache
def _fast_validator(name: str) -> Any:
    """The compiled validator, or None where jsonschema-rs has no wheel (then jsonschema does it all).

    Formats are checked, so it never passes a document for lack of a check `jsonschema` makes;
    offline, because both schemas are self-contained.
    """
    try:
        import jsonschema_rs
    except ImportError:
        return None
    return jsonschema_rs.validator_for(_schema(name), validate_formats=True, offline=True)


def validate(name: str, document: Any) -> list[str]:
    fast = _fast_validator(name)
    if fast is not None and fast.is_valid(document):
        return []
    return reference_validate(name, document)


def reference_validate(name: str, document: Any) -> list[str]:
    """Every error `jsonschema` finds, deepest reason first, sorted by location."""
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
