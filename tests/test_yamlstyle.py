"""`yamlstyle.analyze` gives ruamel's `analyze_scalar` verdicts, and `_literal_safe` its slow definition.

The emitter's output rests on these verdicts, so they are checked against ruamel itself: on a
table that puts every character class at every position a rule looks at, on the tricky strings
of the emitter's tests, and on generated strings built from the characters the rules name.
"""

from __future__ import annotations

import io
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml.emitter import Emitter

from mlgen.targets import yamlout
from mlgen.targets.yamlstyle import analyze
from tests.test_yamlout import TRICKY


class _Reference(Emitter):
    """ruamel's emitter as the fast emitter's styles assume it: YAML 1.2, allow_unicode."""

    class serializer:  # noqa: N801 - analyze_scalar reads the YAML version from here
        use_version = None


_REF = _Reference(io.StringIO(), allow_unicode=True, width=yamlout.WIDTH)


def _ruamel(text: str) -> tuple[bool, bool, bool, bool]:
    a: Any = _REF.analyze_scalar(text)
    assert a.allow_double_quoted  # the emitter relies on it without asking
    return (a.empty, a.multiline, a.allow_block_plain, a.allow_single_quoted)


# One or two of each class the rules tell apart: indicators, whitespace kinds, breaks, controls,
# printable and non-printable unicode (the BOM, a surrogate, the edges of each printable range).
CHARS = ["a", "0", " ", "\t", "\r", "\0", "\n", "\x85", "\u2028", "\u2029", ":", "#", "-", "?", ".", ",", "[", "]",
         "{", "}", "&", "*", "!", "|", ">", "'", '"', "%", "@", "`", "\x7f", "\x9f", "\xa0", "é", "\ud7ff", "\ud800",
         "\ue000", "\ufeff", "\ufffd", "\ufffe", "\U0001f600", "\x1b", "\x0b", "~", "=",
         # the edges of each range the analysis tells apart
         "\x1f", "\x84", "\x86", "\udfff", "\ufefe", "\uff00", "\uffff", "\U00010000", "\U0010ffff"]


def _cases() -> list[str]:
    """Every character alone, in every pair, and each pair at the start, middle and end of a word."""
    cases = [*TRICKY, "", "---x", "...x", "--", "..", "a: b", "a:", "a :", "x #y", "x# y", "#", "a\n b", "a \nb"]
    cases += CHARS
    for a, b in itertools.product(CHARS, repeat=2):
        pair = a + b
        cases += [pair, pair + "x", "x" + pair, "x" + pair + "x"]
    return cases


def test_analysis_matches_ruamel_on_every_character_pair_in_every_position() -> None:
    wrong = [text for text in _cases() if tuple(analyze(text)) != _ruamel(text)]
    assert wrong == []


texts = st.text(alphabet=st.sampled_from(CHARS), max_size=12) | st.text(max_size=20) | st.lists(
    st.sampled_from([*CHARS, "run ", "echo 'x'", "\n  ", " \n", "- ", ": ", " #", "---", "..."]), max_size=8,
).map("".join)


@settings(max_examples=1500, deadline=None)
@given(texts)
def test_analysis_matches_ruamel_on_generated_strings(text: str) -> None:
    assert tuple(analyze(text)) == _ruamel(text)


def test_a_long_script_is_analysed_like_ruamel() -> None:
    script = "\n".join(f"python step{i}.py --flag 'a: b' # note {i}" for i in range(400)) + "\n"
    for text in (script, script + " ", " " + script, script.replace("\n", " \n", 1), script + "\t"):
        assert tuple(analyze(text)) == _ruamel(text)


def _literal_safe_by_definition(value: str) -> bool:
    """The rule spelled out line by line and character by character."""
    if any(line != line.rstrip(" \t") for line in value.split("\n")):
        return False
    if value.startswith((" ", "\n")) or "\r" in value or "\t" in value:
        return False
    return all(ch == "\n" or ch.isprintable() for ch in value)


def test_literal_safe_follows_its_definition_on_the_table() -> None:
    # one test over the table's ~12,000 strings (a parametrized case each costs more to schedule than to run)
    wrong = [text for text in _cases() if yamlout._literal_safe(text) != _literal_safe_by_definition(text)]
    assert wrong == []


@settings(max_examples=800, deadline=None)
@given(texts)
def test_literal_safe_follows_its_definition(text: str) -> None:
    assert yamlout._literal_safe(text) == _literal_safe_by_definition(text)


def _ruamel_resolves_to_str(text: str) -> bool:
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.resolver import VersionedResolver

    return bool(VersionedResolver().resolve(ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str")


RESOLVABLE = [*TRICKY, "", "0", "1.5", "-1", "+1", "0x1f", "0o7", ".inf", "-.inf", ".NaN", "null", "NULL", "Null", "~", "true",
              "True", "FALSE", "yes", "no", "on", "2026-12-01", "2026-12-01T10:00:00Z", "2026-12-01 10:00", "<<", "=", "1_000",
              "1e3", "1E3", "1.", "12:30", "!x", "&a", "*a", "tr", "nul", "f", "n", "t", "T", "F", "N"]


@pytest.mark.parametrize("text", RESOLVABLE)
def test_tag_resolution_matches_ruamel_on_the_table(text: str) -> None:
    assert yamlout._resolves_to_str(text) == _ruamel_resolves_to_str(text)


@settings(max_examples=800, deadline=None)
@given(texts | st.from_regex(r"[-+.0-9a-zA-Z:_~<=!&*]{0,10}", fullmatch=True))
def test_tag_resolution_matches_ruamel(text: str) -> None:
    assert yamlout._resolves_to_str(text) == _ruamel_resolves_to_str(text)
