"""Each bad spec under tests/cases/negative/ must fail with exactly the text in its expected.txt."""

from __future__ import annotations

from pathlib import Path

import pytest

CASES = sorted(p for p in (Path(__file__).parent / "cases" / "negative").iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_negative_case(case: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(case)
    before = sorted(p.name for p in case.iterdir())
    result = cli("compile")
    assert result.code == 1
    assert result.err == (case / "expected.txt").read_text()
    assert "Traceback" not in result.err
    assert sorted(p.name for p in case.iterdir()) == before, "a failed compile must write nothing"
