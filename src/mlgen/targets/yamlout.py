"""The one YAML factory. Output is deterministic and safe for YAML 1.1 readers.

Two emitters produce the same bytes. ruamel.yaml's round-trip dumper defines the output; it is
pure Python and takes seconds on the configs of a thousand-stage pipeline. Generated configs use
a small subset of YAML (block mappings and sequences of plain data), so `_FastEmitter` writes that
subset directly and styles each distinct string by ruamel's own rules (`yamlstyle`). Anything outside
the subset (a float, a list in a list, a container reached twice, a line near the width limit, a
string ruamel would double-quote) makes it give up, and the document goes through ruamel.
tests/test_yamlout.py checks the two agree on every example and on generated documents.
"""

from __future__ import annotations

import functools
import io
import re
from typing import Any

from mlgen.targets.escape import yaml_needs_quotes
from mlgen.targets.yamlstyle import BREAKS, analyze

WIDTH = 4096  # never fold long commands: folding changes nothing semantically but hurts diffs
_STR = "tag:yaml.org,2002:str"


def dump(data: Any) -> str:
    try:
        return _FastEmitter().document(data)
    except _Unsupported:
        return dump_ruamel(data)


def dump_ruamel(data: Any) -> str:
    """The reference emitter: ruamel's round-trip dumper with mlgen's string styles."""
    from ruamel.yaml import YAML
    from ruamel.yaml.representer import RoundTripRepresenter

    class _Representer(RoundTripRepresenter):
        pass

    def represent_str(rep: Any, value: str) -> Any:
        return rep.represent_scalar(_STR, value, style=_requested_style(value))

    _Representer.add_representer(str, represent_str)
    _Representer.add_representer(dict, RoundTripRepresenter.represent_dict)
    yaml = YAML(typ="rt")
    yaml.Representer = _Representer
    yaml.width = WIDTH
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.default_flow_style = False
    yaml.allow_unicode = True  # keep non-ASCII readable instead of \u escapes; the file is UTF-8
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _requested_style(value: str) -> str | None:
    """mlgen's choice: block literals for scripts, quotes for YAML 1.1 traps, else ruamel decides."""
    if "\x85" in value or "\u2028" in value or "\u2029" in value:
        return '"'  # a YAML reader folds these line breaks inside single quotes: escape them
    if "\n" in value and _literal_safe(value):
        return "|"
    if value == "" or yaml_needs_quotes(value):
        return "'"
    return None


def _literal_safe(value: str) -> bool:
    """Block literals cannot carry trailing spaces on lines, tabs after breaks or some controls.

    When they cannot represent the text exactly, the emitter falls back to a quoted scalar.
    """
    if _SPACE_BEFORE_BREAK.search(value):
        return False
    if value.startswith((" ", "\n")) or "\r" in value or "\t" in value:
        return False
    return value.replace("\n", "").isprintable()


# A line ending in a space or tab (the same test as `line != line.rstrip(" \t")` on every line).
_SPACE_BEFORE_BREAK = re.compile(r"[ \t](?:\n|\Z)")


class _Unsupported(Exception):
    """The document leaves the subset the fast emitter writes; ruamel writes it instead."""


class _FastEmitter:
    """Block style with mapping indent 2, sequence indent 4 and dash offset 2, as `dump_ruamel`.

    A large config is hundreds of thousands of lines, so the loops below inline the common
    case (a string value whose written form is cached) instead of a call per scalar.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.seen: set[int] = set()

    def document(self, data: Any) -> str:
        if type(data) is not dict or not data:
            raise _Unsupported
        self.mapping(data, 0, "")
        self.lines.append("")
        return "\n".join(self.lines)

    def container(self, node: Any) -> None:
        # ruamel writes a container reached twice as an anchor and an alias.
        if id(node) in self.seen:
            raise _Unsupported
        self.seen.add(id(node))

    def mapping(self, node: dict[Any, Any], col: int, first: str) -> None:
        """Keys at `col`; the first key goes after `first` (a sequence dash) when given."""
        if id(node) in self.seen:  # as `container`, inline: this runs for every mapping
            raise _Unsupported
        self.seen.add(id(node))
        pad = " " * col
        lead = first or pad
        lines = self.lines
        for key, value in node.items():
            if type(key) is not str:
                raise _Unsupported
            kind = type(value)
            if kind is str:
                written = _written(value)
                if written is not None:
                    line = f"{lead}{_key(key)} {written}"
                    if len(line) > _FOLD_NEAR:
                        raise _Unsupported
                    lines.append(line)
                    lead = pad
                    continue
            head = lead + _key(key)
            lead = pad
            if kind is dict and value:
                lines.append(head)
                self.mapping(value, col + 2, "")
            elif kind is list and value:
                lines.append(head)
                self.sequence(value, col + 2)
            else:
                self.scalar(value, col + 2, head + " ")

    def sequence(self, node: list[Any], col: int) -> None:
        """Dashes at `col`, item content at `col + 2`."""
        self.container(node)
        dash = " " * col + "- "
        for item in node:
            if type(item) is dict and item:
                self.mapping(item, col + 2, dash)
            elif type(item) is list and item:
                raise _Unsupported
            else:
                self.scalar(item, col + 2, dash)

    def scalar(self, node: Any, indent: int, head: str) -> None:
        written = _written(node) if type(node) is str else _scalar(node, False)
        if written is None:
            self.literal(node, indent, head)
            return
        line = head + written
        if len(line) > _FOLD_NEAR:
            raise _Unsupported
        self.lines.append(line)

    def literal(self, text: str, indent: int, head: str) -> None:
        self.lines.append(head + ("|" if text.endswith("\n") else "|-"))
        pad = " " * indent
        body = text.rstrip("\n")
        if "\n\n" in body:  # an empty line is written empty, without the indent
            self.lines.extend(pad + line if line else "" for line in body.split("\n"))
        else:  # the lines are joined with breaks anyway: indent them in one pass
            self.lines.append(pad + body.replace("\n", "\n" + pad))


_FOLD_NEAR = WIDTH - 96  # ruamel may fold a line near the width; keep clear of its rules


@functools.lru_cache(maxsize=65536)
def _written(text: str) -> str | None:
    """A string value as written after its key or dash, or None when it is a block literal."""
    if "\n" in text and _style(text, False) == "|":
        if text.endswith("\n\n"):
            raise _Unsupported  # a keep (`|+`) literal may end the document with `...`: ruamel's rules
        return None
    return _scalar(text, False)


@functools.lru_cache(maxsize=65536)
def _key(key: str) -> str:
    """`key:` as written; configs repeat a few hundred keys many thousand times."""
    if len(key) > 100 or any(br in key for br in BREAKS):
        raise _Unsupported  # ruamel writes long and multi-line keys as complex `? ` keys
    return _scalar(key, True) + ":"


def _scalar(node: Any, key: bool) -> str:
    if type(node) is str:
        style = _style(node, key)
        if style == "":
            return node
        if style == "'" and not any(br in node for br in BREAKS):
            return "'" + node.replace("'", "''") + "'"
        if style == '"':
            return _double_quoted(node)
        raise _Unsupported  # multi-line single quotes fold lines: ruamel's rules
    if type(node) is bool:
        return "true" if node else "false"
    if type(node) is int:
        return str(node)
    if type(node) is dict and not node and not key:
        return "{}"
    if type(node) is list and not node and not key:
        return "[]"
    raise _Unsupported


_ESCAPES = {"\0": "0", "\x07": "a", "\x08": "b", "\t": "t", "\n": "n", "\x0b": "v", "\x0c": "f", "\r": "r",
            "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\u2028": "L", "\u2029": "P"}


def _double_quoted(text: str) -> str:
    """ruamel's double-quoted scalar (allow_unicode) for text that needs no folding."""
    out = []
    for ch in text:
        printable = "\x20" <= ch <= "\x7e" or "\xa0" <= ch <= "\ud7ff" or "\ue000" <= ch <= "\ufffd" or ch >= "\U00010000"
        if printable and ch not in '"\\\x85\u2028\u2029\ufeff':
            out.append(ch)
        elif ch in _ESCAPES:
            out.append("\\" + _ESCAPES[ch])
        elif ch <= "\xff":
            out.append(f"\\x{ord(ch):02X}")
        elif ch <= "\uffff":
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(f"\\U{ord(ch):08X}")
    return '"' + "".join(out) + '"'


@functools.lru_cache(maxsize=65536)
def _style(text: str, key: bool) -> str:
    """The style ruamel's emitter picks for `text` in block context: "", "'", '"' or "|".

    The same decision as ruamel's Emitter.choose_scalar_style, fed with ruamel's analysis of the
    text (`yamlstyle.analyze`) and its own tag resolution; a key is a simple key.
    """
    analysis = analyze(text)
    requested = _requested_style(text)
    if requested == '"':
        return '"'
    if requested is None and _resolves_to_str(text):
        if not (key and (analysis.empty or analysis.multiline)) and analysis.allow_block_plain:
            return ""
    if requested == "|" and not key:
        return "|"
    # ruamel allows double quotes for every string, so that verdict is not consulted
    if requested is None and ("'" in text or "\n" in text):
        return '"'
    if requested in (None, "'") and analysis.allow_single_quoted and not (key and analysis.multiline):
        return "'"
    return '"'


@functools.cache
def _resolver() -> Any:
    from ruamel.yaml.resolver import VersionedResolver

    return VersionedResolver()


def _resolves_to_str(text: str) -> bool:
    """A plain scalar reads back as a string (the emitter's `implicit[0]`) under YAML 1.2.

    ruamel's `Resolver.resolve` for a plain scalar: the resolvers filed under its first
    character (and under None), the first whose pattern matches gives the tag, else str.
    """
    table = _implicit_resolvers()
    for tag, pattern in [*table.get(text[:1], ()), *table.get(None, ())]:
        if pattern.match(text):
            return bool(tag == _STR)
    return True


@functools.cache
def _implicit_resolvers() -> dict[Any, list[tuple[str, Any]]]:
    # ruamel recomputes the version's table on every lookup; it depends only on the version
    return dict(_resolver().versioned_resolver)


def as_read_back(data: Any, text: str) -> Any:
    """What a reader of `text` (the dump of `data`) gets: `data` itself when it holds only plain
    types, which dump and read back unchanged, else the parse of `text`. Lets validation check
    the document it already has instead of parsing tens of thousands of lines again."""
    return data if _plain(data) else load(text)


_LEAVES = (str, int, bool)


def _plain(node: Any) -> bool:
    """Only dicts with string keys, lists, strings, ints and bools: one call per container."""
    kind = type(node)
    if kind is dict:
        for key, value in node.items():
            if type(key) is not str:
                return False
            if type(value) not in _LEAVES and not _plain(value):
                return False
        return True
    if kind is list:
        return all(type(item) in _LEAVES or _plain(item) for item in node)
    return kind in _LEAVES


def load(text: str) -> Any:
    """Parse generated YAML back (tests and checks): plain, safe, YAML 1.2.

    The C parser (ruamel.yaml.clib) is used when present: it is several times faster on the
    large configs of big pipelines, and the resolution rules are ruamel's either way.
    """
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(text)
