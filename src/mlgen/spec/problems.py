"""pydantic's validation errors as located problems: the key in the file, what is wrong, a hint.

Shared by every reader of a located document (YAML and Python specs); the wording of each error
kind is decided here, once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlgen.errors import Problem, suggestion
from mlgen.spec.source import KEY, Loc, Source

if TYPE_CHECKING:
    from pydantic import ValidationError


def problems_from_validation(exc: ValidationError, source: Source) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = _data_loc(source.data, tuple(error["loc"]))
        message, hint = _explain(error, source.data, loc)
        if error["type"] == "string_type" and isinstance(error.get("input"), float):
            hint = f"quote it: \"{_literal(source, loc, error['input'])}\""  # as the user wrote it: 3.10 reads as 3.1
        if error["type"] == "extra_forbidden":
            loc = (*loc, KEY)  # point at the unknown key, not at its value
        elif error["type"] == "union_tag_invalid":
            loc = (*loc, "kind")
        problems.append(source.problem(loc, message, hint))
    return problems


def _data_loc(data: Any, loc: tuple[Any, ...]) -> Loc:
    """pydantic's loc includes union tags (e.g. the stage kind); keep only real keys and indexes."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            out.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            out.append(part)
        elif isinstance(node, dict) and node.get("kind") == part:
            continue  # the discriminated union's tag: the stage itself, not a key in it
        elif isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue  # a validator step, not a place in the file
        elif isinstance(node, dict):
            out.append(part)  # a missing key: positions fall back to its parent
            break
    return tuple(out)


def _explain(error: Any, data: Any, loc: Loc) -> tuple[str, str]:
    kind, msg = error["type"], error["msg"]
    where = _dotted(loc)
    field = str(error["loc"][-1]) if error["loc"] else ""
    if kind == "extra_forbidden":
        allowed = _allowed_keys(data, loc)
        hint = suggestion(field, allowed) or (f"allowed keys here: {', '.join(sorted(allowed))}" if allowed else "remove it")
        return f"unknown key `{field}`", hint
    if kind == "missing":
        return f"`{where}` is required", _missing_hint(field)
    if kind == "too_short":
        return f"`{where}` must not be empty", ""
    if kind == "union_tag_invalid":
        from mlgen.spec.models import STAGE_KINDS

        given = error.get("input", {}).get("kind") if isinstance(error.get("input"), dict) else None
        hint = suggestion(str(given), STAGE_KINDS) or f"use one of: {', '.join(STAGE_KINDS)}"
        return f"`{where}.kind`: unknown stage kind `{given}`", hint
    if kind == "union_tag_not_found":
        from mlgen.spec.models import STAGE_KINDS

        return f"`{where}`: the stage has no `kind`", f"add `kind:` with one of: {', '.join(STAGE_KINDS)}"
    if kind == "string_pattern_mismatch":
        return f"`{where}`: {_show(error.get('input'))} is not allowed", _pattern_hint(str(error["ctx"]["pattern"]))
    if kind == "string_type" and isinstance(error.get("input"), float):
        return f"`{where}`: expected text, got the number {error['input']}", ""
    if kind == "mlgen_value":
        return f"`{where}`: {error['ctx']['message']}", error["ctx"]["hint"]
    if kind == "value_error":
        return f"`{where}`: {msg.removeprefix('Value error, ')}", ""
    return f"`{where}`: {msg[0].lower() + msg[1:]}", ""


def _literal(source: Source, loc: Loc, value: Any) -> str:
    """The value's text exactly as written in a YAML spec (YAML turns `3.10` into 3.1)."""
    line, col = source.positions.get(loc, (0, 0))
    if source.is_python or not line:
        return str(value)
    text = source.raw.decode("utf-8", "replace").splitlines()[line - 1][col - 1:]
    for stop in (",", "}", "]", " #", "\t#"):
        text = text.split(stop, 1)[0]
    return text.strip() or str(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


PATTERN_HINTS = {
    r"^[a-z][a-z0-9_-]{0,39}$": "names are 1-40 lowercase letters, digits, `-` or `_`, starting with a letter",
    r"^[A-Z_][A-Z0-9_]{0,99}$": "secret names are UPPER_CASE letters, digits and `_`",
    r"^[A-Za-z_][A-Za-z0-9_]{0,99}$": "environment variable names are letters, digits and `_`, not starting with a digit",
    r"^3\.\d{1,2}$": "write the Python version as quoted text, e.g. \"3.11\"",
}


def _pattern_hint(pattern: str) -> str:
    from mlgen import duration

    if pattern == duration.PATTERN:
        return duration.HINT
    if pattern in PATTERN_HINTS:
        return PATTERN_HINTS[pattern]
    if "/" in pattern and "." in pattern and "A-Za-z0-9_.@+" in pattern:
        return "paths are relative, made of letters, digits and `_ . @ + - /` (globs also allow `* ? [ ]`)"
    if "A-Za-z0-9_./" in pattern:
        return "branch names are letters, digits and `_ . / -`"
    return f"the value must match {pattern}"


def _missing_hint(field: str) -> str:
    return {"stages": "add a `stages:` list (validate, train, evaluate, register, canary)",
            "name": "add `name:` (lowercase letters, digits, `-`)"}.get(field, f"add `{field}:`")


def _allowed_keys(data: Any, loc: Loc) -> list[str]:
    """Field names of the model that sits at `loc` (the parent of the unknown key)."""
    from mlgen.spec import models as spec

    parent = loc[:-1]
    model: Any = spec.Pipeline
    node = data
    for part in parent:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int):
            node = node[part]
        else:
            node = None
        if isinstance(part, int):
            if model is _STAGE_MARKER:
                kind = node.get("kind") if isinstance(node, dict) else None
                model = _STAGE_BY_KIND().get(str(kind), spec.StageBase)
            continue
        model = _field_model(model, part)
        if model is None:
            return []
    if model is _STAGE_MARKER:
        return []
    return list(model.model_fields) if hasattr(model, "model_fields") else []


_STAGE_MARKER = object()


def _STAGE_BY_KIND() -> dict[str, Any]:  # noqa: N802 - a lazily built constant
    from mlgen.spec import models as spec

    return {"validate": spec.ValidateStage, "train": spec.TrainStage, "evaluate": spec.EvaluateStage,
            "register": spec.RegisterStage, "canary": spec.CanaryStage}


def _field_model(model: Any, name: Any) -> Any:
    import typing

    if name == "stages" and model.__name__ == "Pipeline":
        return _STAGE_MARKER
    field = getattr(model, "model_fields", {}).get(name)
    if field is None:
        return None
    for candidate in [field.annotation, *typing.get_args(field.annotation)]:
        if hasattr(candidate, "model_fields"):
            return candidate
    return None


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# -- checks that need the whole pipeline ------------------------------------------------------
