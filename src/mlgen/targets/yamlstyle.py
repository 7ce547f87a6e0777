"""What ruamel's emitter allows for a string, decided with a few regular expressions.

ruamel's `Emitter.analyze_scalar` walks a string one character at a time in pure Python; on the
long scripts of a large pipeline that walk was most of a compile. The fast emitter reads only
three of its verdicts, and each is a condition on characters and their neighbours that a regular
expression (C code) checks in one pass. The rules below follow ruamel's for block context, YAML
1.2 (no `%YAML 1.1` directive) and `allow_unicode`; tests/test_yamlstyle.py holds them equal to
`analyze_scalar` on tables of every rule's edge and on generated strings.
"""

from __future__ import annotations

import re
from typing import NamedTuple

BREAKS = "\n\x85\u2028\u2029"  # what YAML reads as a line break
# The characters ruamel counts as whitespace around indicators (`\0`, `\t`, `\r` are also special).
_WS = "\0 \t\r" + BREAKS

# Not printable for an emitter with allow_unicode, so escaped in double quotes: the complement of
# `\n`, ` `-`~`, U+0085, U+00A0-U+D7FF, U+E000-U+FFFD without the byte order mark U+FEFF (ruamel
# escapes it), and everything from U+10000. Written as the complement: it compiles much faster.
_SPECIAL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufeff\ufffe\uffff]")
# A space next to a line break: only a double-quoted (or block) scalar keeps it exact.
_SPACE_AT_BREAK = re.compile(f"[{BREAKS}] | [{BREAKS}]")
_LINE_BREAK = re.compile(f"[{BREAKS}]")
# Indicators inside the text: `: ` (or `:` at the end) after the first character, and ` #`.
_INNER_INDICATOR = re.compile(f"(?s).:(?:[{_WS}]|\\Z)|[{_WS}]#")
_LEADING_INDICATORS = "#,[]{}&*!|>'\"%@`"


class Analysis(NamedTuple):
    """The verdicts of ruamel's ScalarAnalysis that choosing a style reads."""

    empty: bool
    multiline: bool
    allow_block_plain: bool
    allow_single_quoted: bool


_EMPTY = Analysis(empty=True, multiline=False, allow_block_plain=True, allow_single_quoted=True)


def analyze(text: str) -> Analysis:
    """ruamel's `analyze_scalar(text)` as far as a block-context style choice needs it."""
    if not text:
        return _EMPTY
    special = _SPECIAL.search(text) is not None
    multiline = _LINE_BREAK.search(text) is not None
    # Without a line break no space can sit next to one; with one, plain style is out anyway.
    space_at_break = multiline and _SPACE_AT_BREAK.search(text) is not None
    single = not (special or space_at_break)
    plain = not (special or multiline or text[0] == " " or text[-1] == " ") and not _block_indicators(text)
    return Analysis(empty=False, multiline=multiline, allow_block_plain=plain, allow_single_quoted=single)


def _block_indicators(text: str) -> bool:
    """A character that would start a YAML construct if the text were written plain."""
    first = text[0]
    if first in _LEADING_INDICATORS or text.startswith(("---", "...")):
        return True
    if first in "?:-" and (len(text) == 1 or text[1] in _WS):
        return True
    return _INNER_INDICATOR.search(text) is not None
