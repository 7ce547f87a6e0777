"""The C-parser spec reader gives the same data and positions as the round-trip reader, or defers to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.genspec import spec as scale_spec
from mlgen.spec import source
from mlgen.targets import yamlout
from tests import hostile
from tests.support import EXAMPLES, ROOT

SPECS = sorted([*EXAMPLES.glob("*/mlgen.yaml"), *(ROOT / "tests" / "cases").glob("*/*/mlgen.yaml")])


def _agree(text: str) -> bool:
    """True when the fast reader answered (and agreed); False when it deferred."""
    fast = source._parse_plain_yaml(text)
    if fast is None:
        return False
    assert fast == source._parse_round_trip(text, "mlgen.yaml")
    return True


@pytest.mark.parametrize("path", SPECS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_spec_files(path: Path) -> None:
    _agree(path.read_text(encoding="utf-8"))


def test_examples_and_large_specs_take_the_fast_path() -> None:
    assert all(_agree(p.read_text(encoding="utf-8")) for p in EXAMPLES.glob("*/mlgen.yaml"))
    assert _agree(scale_spec(60))


@pytest.mark.parametrize("value", hostile.CORPUS)
@pytest.mark.parametrize("field", list(hostile.FIELDS))
def test_hostile_specs(field: Any, value: str) -> None:
    _agree(yamlout.dump(hostile.spec_with(field, value)))


# Hand-written YAML shapes where the two parsers could place marks differently.
SHAPES = [
    "a:\nb: 1\n", "a: \n  - \n  - x\n", "a: {b: , c: 1}\n", "a: [1, , 2]\n", "a: [x, {y: z}]\n", "- 1\n", "",
    "# c\n\na: 1  # t\n", "a: |\n  x\n  y\nb: >-\n  f\n  g\n", "a: 'q''x'\nb: \"d\\tq\"\n", "a:\n- x\n- y\n",
    "a: &x 1\nb: *x\n", "a: {<<: {b: 1}}\n", "%YAML 1.1\n---\na: on\n", "a: !!str 1\nb: !t x\n", "a: 2026-12-01\n",
    "a: 1\na: 2\n", "a: [\n", "a: 'x\n", "? [a]\n: 1\n", "1: x\n", "null: x\n", "a: ü\nbü: 日本\n", "\ufeffa: 1\n",
    "a:\t1\n", "a: 0o17\nb: 0x1F\nc: 1_000\nd: .inf\ne: 1e3\nf: ~\ng: True\nh: on\n", "---\na: 1\n...\n", "a: 1\n---\nb: 2\n",
    "a:\n  b:\n    - c: 1\n      d:\n      e: [f]\n", "a: -\n", "- - x\n", "a: \"\"\n", "a: ''\n",
]


@pytest.mark.parametrize("text", SHAPES)
def test_yaml_shapes(text: str) -> None:
    _agree(text)


words = st.one_of(st.sampled_from(["on", "1", "x y", "a: b", "-", "1.5", "null", "", "é", "#", "'", '"']), st.text(max_size=6))
trees = st.recursive(st.one_of(words, st.integers(), st.booleans(), st.none()),
                     lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(words, inner, max_size=3)), max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(words, trees, min_size=1, max_size=4), st.booleans())
def test_generated_documents(data: dict[str, Any], flow: bool) -> None:
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = flow
    out = io.StringIO()
    yaml.dump(data, out)
    _agree(out.getvalue())


CHURN = (EXAMPLES / "churn" / "mlgen.yaml").read_text(encoding="utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(CHURN)), st.sampled_from([":", "-", " ", "  ", "\n", "[", "]", "{", "}", "'", '"', "#",
                                                                     "?", ",", "|", ">", "*", "@", "`", "x"])), min_size=1, max_size=3))
def test_broken_specs_defer_to_the_round_trip_reader(edits: list[tuple[int, str]]) -> None:
    """Mangled YAML: where the round-trip reader rejects the text, the fast reader must not answer."""
    text = CHURN
    for position, insert in edits:
        text = text[:position] + insert + text[position:]
    try:
        reference = source._parse_round_trip(text, "mlgen.yaml")
    except Exception:  # the reference rejects it (SpecError): the fast reader must defer
        assert source._parse_plain_yaml(text) is None
        return
    fast = source._parse_plain_yaml(text)
    assert fast is None or fast == reference
