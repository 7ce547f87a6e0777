"""Read a spec file into plain data plus a map of where every value sits in the file.

YAML specs keep positions (ruamel.yaml's round-trip loader records them); Python specs are
executed and must leave a `Pipeline` behind. Errors here become `Problem`s with file:line:col.
"""

from __future__ import annotations

import functools
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
    if not source.is_python:  # a Python spec is run by `load`, in a child process
        source.data, source.positions = parse_yaml(raw, display)
    return source


MAX_DEPTH = 64  # nesting levels; a spec needs fewer than ten
MAX_ALIASED = 100_000  # values that aliases may add to the spec: plenty for `<<: *defaults`, not a "billion laughs"


def parse_yaml(raw: bytes, display: str) -> tuple[Any, dict[Loc, tuple[int, int]]]:
    text = _decode(raw, display)
    fast = _parse_plain_yaml(text)
    return fast if fast is not None else _parse_round_trip(text, display)


def _parse_round_trip(text: str, display: str) -> tuple[Any, dict[Loc, tuple[int, int]]]:
    from ruamel.yaml import YAML
    from ruamel.yaml.composer import MaxDepthExceededError
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")  # round-trip nodes carry line/column; YAML 1.2 keeps `on`/`no` as strings
    yaml.allow_duplicate_keys = False
    yaml.max_depth = MAX_DEPTH  # bounded before any recursion (composer, walker, models) could overflow
    yaml.Composer = _bounded_composer()
    try:
        data = yaml.load(text)
    except MaxDepthExceededError as exc:
        line, col = _mark(exc)
        raise SpecError([Problem(display, line, col, f"the spec nests deeper than {MAX_DEPTH} levels here",
                                 "no mlgen setting needs more than a few levels; flatten this value")]) from None
    except _TooManyAliased as exc:
        raise SpecError([Problem(display, exc.line, exc.col, f"aliases expand the spec beyond {MAX_ALIASED:,} values "
                                 f"at `*{exc.anchor}`", "use fewer or smaller `*alias` references; repeated "
                                 "aliases of aliases grow exponentially")]) from None
    except MarkedYAMLError as exc:
        line, col = _mark(exc)
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        hint = "fix the YAML syntax at this position"
        if "duplicate key" in message:
            hint = "each key may appear only once in a mapping; remove or rename one of them"
        raise SpecError([Problem(display, line, col, f"invalid YAML: {message}", hint)]) from None
    except YAMLError as exc:
        raise SpecError([Problem(display, 0, 0, f"invalid YAML: {exc}")]) from None
    positions: dict[Loc, tuple[int, int]] = {}
    odd: list[tuple[Loc, str, str]] = []
    plain = plain_with_positions(data, (), positions, odd)
    if odd:
        raise SpecError([Problem(display, *_where(positions, loc), message, hint) for loc, message, hint in odd])
    if data is None:
        raise SpecError([Problem(display, 1, 1, "the spec is empty", "run `mlgen init` to see a starter spec")])
    if not isinstance(plain, dict):
        raise SpecError([Problem(display, 1, 1, f"the spec must be a YAML mapping, not a {type(plain).__name__}",
                                 "start from `mlgen init`: the top level holds keys such as `version`, `name`, `stages`")])
    positions.setdefault((), (1, 1))
    return plain, positions


_STR_TAG, _MAP_TAG, _SEQ_TAG, _NULL_TAG = ("tag:yaml.org,2002:" + t for t in ("str", "map", "seq", "null"))
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
    if _maybe_deep(text):
        return None  # the round-trip reader bounds the depth with a located error
    yaml = YAML(typ="safe")  # YAML 1.2 resolution, as the round-trip loader
    yaml.Resolver = _resolver_of_one_version()
    loader, _ = yaml.get_constructor_parser(text)
    try:
        root = loader.get_single_node()
        if root is None or root.tag != "tag:yaml.org,2002:map":
            return None
        positions: dict[Loc, tuple[int, int]] = {}
        data = _plain_node(loader, root, (), positions, set())
        positions[()] = (1, 1)
    except (YAMLError, _NotPlain):
        return None
    finally:
        # The loader refers to itself, so only the cycle collector frees it, and it keeps every
        # node it constructed (with two marks each) until then: let them go with this function.
        loader.constructed_objects.clear()
    return data, positions


@functools.cache
def _resolver_of_one_version() -> Any:
    """ruamel's resolver, looking up the YAML version's table once instead of once per scalar.

    Its lookup tries the scanner, the loader and the serializer for a version (a raised and caught
    AttributeError each, for every scalar of the spec). The version is always the default here:
    a spec with a `%YAML` directive is left to the round-trip reader.
    """
    from ruamel.yaml.resolver import VersionedResolver

    class Resolver(VersionedResolver):
        _table: Any = None

        @property
        def versioned_resolver(self) -> Any:
            if self._table is None:
                self._table = super().versioned_resolver
            return self._table

    return Resolver


class _NotPlain(Exception):
    """The spec uses YAML the fast reader leaves to the round-trip reader."""


def _maybe_deep(text: str) -> bool:
    """Whether the spec might nest near MAX_DEPTH: deep indentation or many open flow brackets."""
    if max((len(line) - len(line.lstrip(" ")) for line in text.splitlines()), default=0) >= MAX_DEPTH:
        return True
    depth = 0
    for ch in text:
        depth += (ch in "[{") - (ch in "]}")
        if depth >= MAX_DEPTH // 2:
            return True
    return False


def _plain_node(loader: Any, node: Any, loc: Loc, positions: dict[Loc, tuple[int, int]], seen: set[int]) -> Any:
    tag = node.tag  # a property that formats the node's Tag object: read it once
    if tag not in _PLAIN_TAGS or id(node) in seen:  # a custom tag, a merge key, an alias
        raise _NotPlain
    seen.add(id(node))
    if tag == _MAP_TAG:
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
    if tag == _SEQ_TAG:
        items = []
        for index, item in enumerate(node.value):
            positions[(*loc, index)] = (item.start_mark.line + 1, item.start_mark.column + 1)
            items.append(_plain_node(loader, item, (*loc, index), positions, seen))
        return items
    if tag == _STR_TAG and type(node.value) is str:
        return node.value  # what the constructor makes of a string scalar, without its bookkeeping
    if node.value == "" and tag == _NULL_TAG:
        raise _NotPlain  # an empty value: the parsers place its mark differently
    value = loader.construct_object(node)
    if type(value) not in (str, int, float, bool, type(None)):
        raise _NotPlain
    return value


def _decode(raw: bytes, display: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError([Problem(display, line, col, f"the spec is not UTF-8 text: {exc.reason} (byte 0x{raw[exc.start]:02x})",
                                 "save the file as UTF-8")]) from None


def _mark(exc: Any) -> tuple[int, int]:
    mark = exc.problem_mark or exc.context_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


def _where(positions: dict[Loc, tuple[int, int]], loc: Loc) -> tuple[int, int]:
    while loc not in positions and loc:
        loc = loc[:-1]
    return positions.get(loc, (0, 0))


class _TooManyAliased(Exception):
    def __init__(self, anchor: str, line: int, col: int) -> None:
        super().__init__(anchor)
        self.anchor, self.line, self.col = anchor, line, col


def _bounded_composer() -> Any:
    """ruamel's composer, counting what each alias adds to the document (aliases share nodes, so a
    470-byte file can stand for billions of values once anything walks it)."""
    from ruamel.yaml.composer import Composer
    from ruamel.yaml.events import AliasEvent

    class BoundedComposer(Composer):
        def __init__(self, loader: Any = None) -> None:
            super().__init__(loader)
            self.aliased = 0
            self.sizes: dict[int, int] = {}

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.parser.check_event(AliasEvent):
                event = self.parser.peek_event()
                node = self.anchors.get(event.anchor)
                if node is not None:
                    self.aliased += _size(node, self.sizes)
                    if self.aliased > MAX_ALIASED:
                        mark = event.start_mark
                        raise _TooManyAliased(str(event.anchor), mark.line + 1, mark.column + 1)
            return super().compose_node(parent, index)

    return BoundedComposer


def _size(node: Any, memo: dict[int, int]) -> int:
    """Values under a composed node once aliases are expanded (memoised: aliases share nodes)."""
    key = id(node)
    if key not in memo:
        value = node.value
        if isinstance(value, list):
            children = [c for pair in value for c in (pair if isinstance(pair, tuple) else (pair,))]
            memo[key] = 1 + sum(_size(c, memo) for c in children)
        else:
            memo[key] = 1
    return memo[key]


def plain_with_positions(node: Any, loc: Loc, positions: dict[Loc, tuple[int, int]],
                         odd: list[tuple[Loc, str, str]] | None = None) -> Any:
    """Turn ruamel's commented nodes into dict/list/scalars, recording positions on the way.

    With `odd`, values that are not plain YAML (tags, binary, timestamps, sets, keys that are not
    text) are reported there instead of being turned into text nobody wrote.
    """
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if odd is not None:
        _check_tag(node, loc, odd)
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key in node:
            line, col = node.lc.value(key) if node.lc.data and key in node.lc.data else (node.lc.line, node.lc.col)
            child: Loc = (*loc, key if isinstance(key, (str, int)) else str(key))
            positions[child] = (line + 1, col + 1)
            if node.lc.data and key in node.lc.data:
                key_line, key_col = node.lc.key(key)
                positions[(*child, KEY)] = (key_line + 1, key_col + 1)
            if odd is not None and (isinstance(key, bool) or not isinstance(key, (str, int))):
                odd.append(((*child, KEY), f"`{_dotted(loc) or '(top level)'}`: the key `{_show_key(key)}` is not text",
                            f"keys are names; quote it if you mean the text: \"{_show_key(key)}\""))
            out[key if isinstance(key, (str, int)) else str(key)] = plain_with_positions(node[key], child, positions, odd)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            line, col = node.lc.item(index) if node.lc.data and index in node.lc.data else (node.lc.line, node.lc.col)
            positions[(*loc, index)] = (line + 1, col + 1)
            items.append(plain_with_positions(item, (*loc, index), positions, odd))
        return items
    found = _odd_scalar(node) if odd is not None else None
    if odd is not None and found is not None:
        odd.append((loc, f"`{_dotted(loc)}`: {found[0]} is not allowed in a spec", found[1]))
    return _scalar(node)


def _check_tag(node: Any, loc: Loc, odd: list[tuple[Loc, str, str]]) -> None:
    tag = getattr(getattr(node, "tag", None), "value", None)
    if isinstance(tag, str) and tag.startswith("!") and not tag.startswith("!!"):
        odd.append((loc, f"`{_dotted(loc) or '(top level)'}`: the YAML tag `{tag}` is not allowed in a spec",
                    "remove the tag; a spec holds plain mappings, lists, text, numbers and booleans"))


def _odd_scalar(value: Any) -> tuple[str, str] | None:
    import datetime

    from ruamel.yaml.comments import TaggedScalar

    if isinstance(value, TaggedScalar):
        return None  # its tag is reported by _check_tag; `!!str 3` is plain text
    if isinstance(value, (bytes, bytearray)):
        return "a `!!binary` value", "write it as plain text, without `!!binary`"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"the timestamp {value.isoformat()}", f"quote it if you mean the text: \"{value}\""
    if value is None or isinstance(value, (str, int, float)):
        return None
    if isinstance(value, list):  # `!!pairs` and `!!omap` as lists of tuples
        return "a `!!pairs` value", "use a plain mapping"
    return f"a YAML {type(value).__name__.removeprefix('Commented').lower()}", "use a plain mapping, list, text or number"


def _show_key(key: Any) -> str:
    if key is None:
        return "~"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _scalar(value: Any) -> Any:
    """Drop ruamel's scalar subclasses so pydantic and equality see plain Python values."""
    from ruamel.yaml.comments import TaggedScalar

    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, TaggedScalar):
        return str(value.value)
    return str(value)  # dates and other YAML types: keep them as text so validation can explain


def locate(source: Source | None, loc: Loc, message: str, hint: str = "") -> Problem:
    """A problem at `loc` in the spec; Python specs and in-memory pipelines have no positions."""
    if source is None:
        return Problem("<pipeline>", 0, 0, message, hint)
    return source.problem(loc, message, hint)
