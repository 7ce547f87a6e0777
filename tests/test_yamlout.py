"""The fast emitter writes exactly what ruamel's dumper writes, and the text reads back as the data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.genspec import spec as scale_spec
from mlgen.targets import yamlout
from tests import hostile
from tests.support import arguments_while_compiling, example_specs

# Strings that stress the style rules: YAML 1.1 and 1.2 traps, indicators, quotes, scripts.
TRICKY = [*hostile.CORPUS, "", " ", "a ", " a", "true", "Null", "~", "0o17", "0x1F", "1e3", ".5", "-", "?", ":", "a:b",
          "a #b", "a# b", "%x", "@x", "|", ">", "a\n", "a\nb\n", "a\n\nb", "a\n\n", "a \nb", "\tb\nc", "x\r\ny", "é\u2028",
          "'", "''", '"', "- ", "---", "...", "a\n---\nb", "[", "{", "}", ",", "!", "&", "*", "=", "<<", "2026-12-01",
          "${{ matrix.model }}", "python -m pip install 'mlgen-ci[data]==0.1.0'"]

scalars = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12), st.integers(-10**6, 10**6), st.booleans())
keys = st.one_of(st.sampled_from(TRICKY), st.text(max_size=8))
documents = st.dictionaries(keys, st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
), min_size=1, max_size=5)


def _dumped_documents(spec: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every document the targets hand to `yamlout.dump` while compiling `spec`."""
    return arguments_while_compiling(yamlout, "dump", spec, monkeypatch)


def _scale(tmp_path: Path) -> Path:
    path = tmp_path / "mlgen.yaml"
    path.write_text(scale_spec(40), encoding="utf-8")
    return path


@pytest.mark.parametrize("spec", [*example_specs(), "scale"], ids=lambda s: str(s).split("/")[-2] if "/" in str(s) else s)
def test_generated_configs_take_the_fast_path_and_match_ruamel(spec: Path | str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = _scale(tmp_path) if spec == "scale" else Path(spec)
    documents_ = _dumped_documents(path, monkeypatch)
    assert documents_
    for data in documents_:
        fast = yamlout._FastEmitter().document(data)  # raises if the config leaves the fast subset
        assert fast == yamlout.dump_ruamel(data)
        assert yamlout.load(fast) == data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_document_is_written_byte_for_byte_as_ruamel_writes_it(data: dict[Any, Any]) -> None:
    assert yamlout.dump(data) == yamlout.dump_ruamel(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_document_reads_back_as_the_same_data(data: dict[Any, Any]) -> None:
    assert yamlout.load(yamlout.dump(data)) == data


@pytest.mark.parametrize("value", TRICKY)
@pytest.mark.parametrize("shape", ["value", "key", "item", "nested"])
def test_each_tricky_string_in_each_position(value: str, shape: str) -> None:
    data: dict[str, Any] = {
        "value": {"k": value},
        "key": {value: 1, "x": [value]},
        "item": {"k": [value, {"run": value, "n": 1}]},
        "nested": {"jobs": {"a": {"steps": [{"with": {"x": value}}], "if": value}}},
    }[shape]
    assert yamlout.dump(data) == yamlout.dump_ruamel(data)
    assert yamlout.load(yamlout.dump(data)) == data
