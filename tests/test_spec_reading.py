"""Reading a YAML spec: bounded in depth and alias expansion, and nothing that is not plain YAML
silently turns into text (a `None` variable, a `b'hello'` command)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgen.errors import SpecError
from mlgen.spec import source

GOOD = "version: 1\nname: x\nstages:\n  - {name: train, kind: train, run: 'true'}\n"


def _problems(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    with pytest.raises(SpecError) as info:
        source.parse_yaml(raw, "mlgen.yaml")
    return info.value.render()


ODD = [  # (a line added to a good spec, the whole message)
    ("env: {~: x}", "mlgen.yaml:5:7: `env`: the key `~` is not text\n  hint: keys are names; quote it if you mean the text: \"~\""),
    ("env: {true: x}", "mlgen.yaml:5:7: `env`: the key `true` is not text\n  hint: keys are names; quote it if you mean the text: \"true\""),
    ("env: {1.5: x}", "mlgen.yaml:5:7: `env`: the key `1.5` is not text\n  hint: keys are names; quote it if you mean the text: \"1.5\""),
    ("env: {2024-01-01: x}", "mlgen.yaml:5:7: `env`: the key `2024-01-01` is not text\n"
                             "  hint: keys are names; quote it if you mean the text: \"2024-01-01\""),
    ("env: {A: !!binary aGVsbG8=}", "mlgen.yaml:5:10: `env.A`: a `!!binary` value is not allowed in a spec\n"
                                    "  hint: write it as plain text, without `!!binary`"),
    ("env: {A: 2024-01-01}", "mlgen.yaml:5:10: `env.A`: the timestamp 2024-01-01 is not allowed in a spec\n"
                             "  hint: quote it if you mean the text: \"2024-01-01\""),
    ("env: {A: !shell ls}", "mlgen.yaml:5:10: `env.A`: the YAML tag `!shell` is not allowed in a spec\n"
                            "  hint: remove the tag; a spec holds plain mappings, lists, text, numbers and booleans"),
    ("secrets: !custom [A]", "mlgen.yaml:5:10: `secrets`: the YAML tag `!custom` is not allowed in a spec\n"
                             "  hint: remove the tag; a spec holds plain mappings, lists, text, numbers and booleans"),
    ("secrets: !!set {A, B}", "mlgen.yaml:5:10: `secrets`: a YAML set is not allowed in a spec\n"
                              "  hint: use a plain mapping, list, text or number"),
    ("secrets: !!pairs [A: 1]", "mlgen.yaml:5:10: `secrets`: a `!!pairs` value is not allowed in a spec\n"
                                "  hint: use a plain mapping"),
]


@pytest.mark.parametrize(("line", "message"), ODD, ids=[line for line, _ in ODD])
def test_values_that_are_not_plain_yaml_are_refused(line: str, message: str) -> None:
    assert _problems(GOOD + line + "\n") == "error: the spec has 1 problem:\n" + message


def test_explicit_plain_tags_are_fine() -> None:
    data, _ = source.parse_yaml((GOOD + "env: {A: !!str 3, B: !!str yes}\n").encode(), "mlgen.yaml")
    assert data["env"] == {"A": "3", "B": "yes"}


@pytest.mark.parametrize(("raw", "where"), [(b"version: 1\nname: caf\xe9\n", "2:10"), (b"\xff\xfe", "1:1"),
                                            (b"a: 1\nb: 2\n  c: \xc3\n", "3:6")])
def test_non_utf8_is_located(raw: bytes, where: str) -> None:
    assert _problems(raw).startswith(f"error: the spec has 1 problem:\nmlgen.yaml:{where}: the spec is not UTF-8 text: ")


def _nested(depth: int, style: str) -> str:
    if style == "flow-seq":
        return "x: " + "[" * depth + "]" * depth + "\n"
    if style == "flow-map":
        return "x: " + "{a: " * depth + "1" + "}" * depth + "\n"
    return "x:\n" + "".join("  " * i + "- \n" if i < depth - 1 else "  " * i + "- 1\n" for i in range(1, depth))


@given(st.integers(1, 2000), st.sampled_from(["flow-seq", "flow-map", "block"]))
def test_nesting_is_bounded_with_a_located_error(depth: int, style: str) -> None:
    text = _nested(depth, style)
    try:
        source.parse_yaml(text.encode(), "mlgen.yaml")
    except SpecError as exc:
        rendered = exc.render()
        if "nests deeper" in rendered:
            assert depth > source.MAX_DEPTH - 2
            assert rendered.startswith("error: the spec has 1 problem:\nmlgen.yaml:") and "no mlgen setting needs" in rendered
            return
        raise
    assert depth <= source.MAX_DEPTH


def _laughs(width: int, levels: int) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


@given(st.integers(1, 12), st.integers(1, 12))
def test_alias_expansion_is_bounded_with_a_located_error(width: int, levels: int) -> None:
    expanded = sum(width ** (i + 1) + width ** i for i in range(levels))  # roughly what a walker would visit
    text = _laughs(width, levels)
    try:
        data, _ = source.parse_yaml(text.encode(), "mlgen.yaml")
    except SpecError as exc:
        rendered = exc.render()
        assert expanded > source.MAX_ALIASED // 2, rendered
        assert "aliases expand the spec beyond 100,000 values at `*a" in rendered and "mlgen.yaml:" in rendered
        return
    assert expanded <= 2 * source.MAX_ALIASED + 200
    assert len(data) == levels


def test_the_cli_reports_a_billion_laughs(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "mlgen.yaml").write_text(_laughs(9, 9))
    assert (tmp_path / "mlgen.yaml").stat().st_size < 500
    os.chdir(tmp_path)
    result = cli("validate")
    assert result.code == 1
    assert result.err == ("error: the spec has 1 problem:\nmlgen.yaml:6:10: aliases expand the spec beyond 100,000 values at `*a4`\n"
                          "  hint: use fewer or smaller `*alias` references; repeated aliases of aliases grow exponentially\n")


def test_merge_keys_still_work() -> None:
    text = ("version: 1\nname: x\nstages:\n  - &base {name: a, kind: train, run: 'true', timeout: 5m}\n"
            "  - {<<: *base, name: b}\n")
    data, _ = source.parse_yaml(text.encode(), "mlgen.yaml")
    assert data["stages"][1] == {"name": "b", "kind": "train", "run": "true", "timeout": "5m"}


@pytest.mark.parametrize("written", ["3.9", "3.10", "3.12", "3.100", "3.0", "3.", "03.10", "3.1e1", "3.10  # our runtime"])
def test_the_python_version_hint_echoes_what_was_written(cli, tmp_path: Path, written: str) -> None:  # type: ignore[no-untyped-def]
    spellings = [f"defaults:\n  python: {written}\n"] + ([f"defaults: {{python: {written}, timeout: 5m}}\n"] if "#" not in written else [])
    for spelling in spellings:
        (tmp_path / "mlgen.yaml").write_text(GOOD + spelling)
        os.chdir(tmp_path)
        result = cli("validate")
        literal = written.split("#")[0].strip()
        assert result.code == 1
        assert f"hint: quote it: \"{literal}\"\n" in result.err, result.err
        assert "`defaults.python`: expected text, got the number " in result.err
