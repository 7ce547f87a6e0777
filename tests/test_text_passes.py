"""The passes over a written workflow give what their line-by-line definitions give.

`_version_comments` (a version comment after each pinned `uses:`) and `mark_calls` (zizmor's
note after each call of a reusable workflow) scan the text once with a regular expression; the
definitions here loop over every line, as the passes did before. Lines are drawn from what makes
the rules differ: a second `uses: ` on a line, text after the pin, indentation of every kind of
whitespace, scripts that mention `uses:`, line breaks other than `\\n`.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.targets import github, github_rollout
from mlgen.targets import pins as pinning

PINS = pinning.resolve({})
USES = sorted({pin.uses for pin in PINS.values()})
CALL = f"uses: ./{github_rollout.WORKFLOWS}/mlgen-rollout-a.yml"


def _version_comments_by_line(text: str) -> str:
    by_uses = {pin.uses: pin.version for pin in PINS.values()}
    lines = []
    for line in text.split("\n"):
        uses = line.partition("uses: ")[2]
        lines.append(f"{line}  # {by_uses[uses]}" if uses in by_uses else line)
    return "\n".join(lines)


def _mark_calls_by_line(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        called = line.lstrip().startswith(f"uses: ./{github_rollout.WORKFLOWS}/")
        lines.append(f"{line}  {github_rollout._KEEP_RELATIVE}" if called else line)
    return "\n".join(lines)


PIECES = [*(f"uses: {u}" for u in USES), CALL, "uses: ", "- ", "  ", "\t", "\u3000", "\xa0", "\x0b", "\r", "\x85", "\u2028",
          "x", "run: echo ", " # note", "@v1", "uses: ./", ".github/workflows/", USES[0][:-1], "'", ":"]
LINES = st.lists(st.sampled_from(PIECES), max_size=5).map("".join)
TEXTS = st.lists(LINES, max_size=8).map("\n".join)


@settings(max_examples=1500, deadline=None)
@given(TEXTS)
def test_version_comments_follow_the_line_rule(text: str) -> None:
    assert github._version_comments(text, PINS) == _version_comments_by_line(text)


@settings(max_examples=1500, deadline=None)
@given(TEXTS)
def test_calls_are_marked_by_the_line_rule(text: str) -> None:
    assert github_rollout.mark_calls(text) == _mark_calls_by_line(text)


def test_the_table_of_edges() -> None:
    pin = USES[0]
    cases = [f"      uses: {pin}", f"uses: {pin}", f"- uses: {pin}", f"a uses: b uses: {pin}", f"uses: {pin} ", f"uses: {pin}\n",
             f"  uses: {pin}\nuses: {pin}", f"  {CALL}", f"\t\u3000{CALL}", f"x {CALL}", f"{CALL}\n  {CALL} x\n", "", "\n\n"]
    for text in cases:
        assert github._version_comments(text, PINS) == _version_comments_by_line(text), text
        assert github_rollout.mark_calls(text) == _mark_calls_by_line(text), text
