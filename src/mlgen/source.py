"""Read a spec file into plain data plus a map of where every value sits in the file.

YAML specs keep positions (ruamel.yaml's round-trip loader records them); Python specs are
executed and must leave a `Pipeline` behind. Errors here become `Problem`s with file:line:col.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgen.errors import Problem, SpecError

Loc = tuple[str | int, ...]
KEY = "\x00key"  # suffix of a Loc that means "the key itself", not its value


@dataclass
class Source:
    """A spec as read from disk: its text, its data and the position of each value."""

    path: Path
    display: str  # the path as the user should see it in messages
    raw: bytes
    data: Any = None
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    pipeline: Any = None  # set for Python specs, which build the model themselves

    @property
    def is_python(self) -> bool:
        return self.path.suffix == ".py"

    def where(self, loc: Loc) -> tuple[int, int]:
        """Best known (line, col) for a location: the value itself, else its closest parent."""
        while True:
            if loc in self.positions:
                return self.positions[loc]
            if not loc:
                return (0, 0)
            loc = loc[:-1]

    def problem(self, loc: Loc, message: str, hint: str = "") -> Problem:
        line, col = self.where(loc)
        return Problem(self.display, line, col, message, hint)


def display_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def read(path: Path) -> Source:
    display = display_path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError([Problem(display, 0, 0, "spec file not found", "run `mlgen init` to create a starter mlgen.yaml")]) from None
    except OSError as exc:
        raise SpecError([Problem(display, 0, 0, f"cannot read the spec: {exc.strerror}")]) from None
    source = Source(path=path, display=display, raw=raw)
    if source.is_python:
        from mlgen.pyspec import run_python_spec

        source.pipeline = run_python_spec(source)
    else:
        source.data, source.positions = parse_yaml(raw, display)
    return source


def parse_yaml(raw: bytes, display: str) -> tuple[Any, dict[Loc, tuple[int, int]]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([Problem(display, 0, 0, f"the spec is not UTF-8 text (byte {exc.start})", "save the file as UTF-8")]) from None
    fast = _parse_plain_yaml(text)
    return fast if fast is not None else _parse_round_trip(text, display)


def _parse_round_trip(text: str, display: str) -> tuple[Any, dict[Loc, tuple[int, int]]]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")  # round-trip nodes carry line/column; YAML 1.2 keeps `on`/`no` as strings
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        hint = "fix the YAML syntax at this position"
        if "duplicate key" in message:
            hint = "each key may appear only once in a mapping; remove or rename one of them"
        raise SpecError([Problem(display, line, col, f"invalid YAML: {message}", hint)]) from None
    except YAMLError as exc:
        raise SpecError([Problem(display, 0, 0, f"invalid YAML: {exc}")]) from None
    positions: dict[Loc, tuple[int, int]] = {}
    plain = plain_with_positions(data, (), positions)
    if data is None:
        raise SpecError([Problem(display, 1, 1, "the spec is empty", "run `mlgen init` to see a starter spec")])
    if not isinstance(plain, dict):
        raise SpecError([Problem(display, 1, 1, f"the spec must be a YAML mapping, not a {type(plain).__name__}",
                                 "start from `mlgen init`: the top level holds keys such as `version`, `name`, `stages`")])
    positions.setdefault((), (1, 1))
    return plain, positions


_PLAIN_TAGS = {"tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "map", "seq")}


def _parse_plain_yaml(text: str) -> tuple[dict[str, Any], dict[Loc, tuple[int, int]]] | None:
    """`parse_yaml` for the common spec, through ruamel's C parser (seconds faster on big specs).

    The same data and positions as the round-trip path, which remains the reference: it takes
    over (returns None) for anything this does not handle the same way - an error (its messages
    are the ones users know), a duplicate key, anchors and merge keys, tags, directives,
    non-string keys, dates. tests/test_source_fast.py compares the two on generated specs.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    if text.startswith("%") or "\n%" in text:  # a directive (`%YAML 1.1` changes resolution)
        return None
    if any(ch in text for ch in "\t\r\x85\u2028\u2029"):
        return None  # libyaml accepts some tabs ruamel rejects, and counts lines on other breaks
    yaml = YAML(typ="safe")  # YAML 1.2 resolution, as the round-trip loader
    try:
        loader, _ = yaml.get_constructor_parser(text)
        root = loader.get_single_node()
        if root is None or root.tag != "tag:yaml.org,2002:map":
            return None
        positions: dict[Loc, tuple[int, int]] = {}
        data = _plain_node(loader, root, (), positions, set())
        positions[()] = (1, 1)
    except (YAMLError, _NotPlain):
        return None
    return data, positions


class _NotPlain(Exception):
    """The spec uses YAML the fast reader leaves to the round-trip reader."""


def _plain_node(loader: Any, node: Any, loc: Loc, positions: dict[Loc, tuple[int, int]], seen: set[int]) -> Any:
    if node.tag not in _PLAIN_TAGS or id(node) in seen:  # a custom tag, a merge key, an alias
        raise _NotPlain
    seen.add(id(node))
    if node.tag.endswith(":map"):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _plain_node(loader, key_node, loc, {}, seen)
            if type(key) is not str or key in out:
                raise _NotPlain
            child: Loc = (*loc, key)
            positions[child] = (value_node.start_mark.line + 1, value_node.start_mark.column + 1)
            positions[(*child, KEY)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _plain_node(loader, value_node, child, positions, seen)
        return out
    if node.tag.endswith(":seq"):
        items = []
        for index, item in enumerate(node.value):
            positions[(*loc, index)] = (item.start_mark.line + 1, item.start_mark.column + 1)
            items.append(_plain_node(loader, item, (*loc, index), positions, seen))
        return items
    if node.value == "" and node.tag.endswith(":null"):
        raise _NotPlain  # an empty value: the parsers place its mark differently
    value = loader.construct_object(node)
    if type(value) not in (str, int, float, bool, type(None)):
        raise _NotPlain
    return value


def plain_with_positions(node: Any, loc: Loc, positions: dict[Loc, tuple[int, int]]) -> Any:
    """Turn ruamel's commented nodes into dict/list/scalars, recording positions on the way."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key in node:
            line, col = node.lc.value(key) if node.lc.data and key in node.lc.data else (node.lc.line, node.lc.col)
            child: Loc = (*loc, key if isinstance(key, (str, int)) else str(key))
            positions[child] = (line + 1, col + 1)
            if node.lc.data and key in node.lc.data:
                key_line, key_col = node.lc.key(key)
                positions[(*child, KEY)] = (key_line + 1, key_col + 1)
            out[key if isinstance(key, (str, int)) else str(key)] = plain_with_positions(node[key], child, positions)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            line, col = node.lc.item(index) if node.lc.data and index in node.lc.data else (node.lc.line, node.lc.col)
            positions[(*loc, index)] = (line + 1, col + 1)
            items.append(plain_with_positions(item, (*loc, index), positions))
        return items
    return _scalar(node)


def _scalar(value: Any) -> Any:
    """Drop ruamel's scalar subclasses so pydantic and equality see plain Python values."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return str(value)  # dates and other YAML types: keep them as text so validation can explain


def locate(source: Source | None, loc: Loc, message: str, hint: str = "") -> Problem:
    """A problem at `loc` in the spec; Python specs and in-memory pipelines have no positions."""
    if source is None:
        return Problem("<pipeline>", 0, 0, message, hint)
    return source.problem(loc, message, hint)
