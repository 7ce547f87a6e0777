"""tests/validators.shellcheck checks every script of a config in one run: each finding still
lands on the script it belongs to, and a clean script is never blamed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests import validators

CLEAN = 'echo "step {i}"'
FAULTY = 'echo "step {i}" $undefined_var_{i} "'  # an unterminated quote: a shellcheck error


def workflow(faulty: list[bool]) -> tuple[str, list[str]]:
    """A workflow with one run step per flag; returns it and the scripts that must be reported."""
    bodies = [(FAULTY if bad else CLEAN).format(i=i) for i, bad in enumerate(faulty)]
    steps = "".join(f"      - run: '{body}'\n" for body in bodies)
    text = f"on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n{steps}"
    return text, [body for body, bad in zip(bodies, faulty) if bad]


@settings(max_examples=25)  # each example is one shellcheck run
@given(st.lists(st.booleans(), min_size=1, max_size=8))
def test_findings_land_on_their_own_script(faulty: list[bool]) -> None:
    text, expected = workflow(faulty)
    problems = validators.shellcheck("github", text)
    assert [p.split("\n--- script ---\n")[1] for p in problems] == expected
    assert all(p.startswith("-:") for p in problems), problems


def test_no_scripts_no_findings() -> None:
    assert validators.shellcheck("github", "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: a/b@v1\n") == []
