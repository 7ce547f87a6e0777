"""`mlgen data check` over several files: one that cannot be read fails alone, the rest is still reported."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from mlgen.runtime.data.command import main

CONTRACT = "columns:\n  id: {dtype: int}\n  plan: {dtype: str, allowed: [basic, pro]}\ndrift: {psi: {max: 0.2}}\n"
GOOD = "id,plan\n" + "".join(f"{i},{'basic' if i % 3 else 'pro'}\n" for i in range(60))
BAD = "id,plan\n1,gold\n2,pro\n"


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    (tmp_path / "c.yaml").write_text(CONTRACT)
    code = main(["--contract", "c.yaml", "--junit", "r.xml", "--json", "r.json", "--summary", "s.md", *args])
    out, err = capsys.readouterr()
    return code, out, err


def junit_cases(tmp_path: Path) -> dict[tuple[str, str], str]:
    """(classname, test name) -> passed / failed / skipped."""
    root = ET.parse(tmp_path / "r.xml").getroot()
    status = {}
    for case in root.iter("testcase"):
        outcome = "failed" if case.find("failure") is not None else "skipped" if case.find("skipped") is not None else "passed"
        status[(case.get("classname", ""), case.get("name", ""))] = outcome
    return status


@pytest.mark.parametrize(("name", "content", "message"), [
    pytest.param("gone.csv", None, "dataset not found", id="missing"),
    pytest.param("d.txt", GOOD, "unknown dataset format", id="unknown-format"),
    pytest.param("bad.parquet", "not parquet", "cannot read the dataset", id="unreadable-parquet"),
    pytest.param("empty.csv", "", "cannot read the dataset", id="empty-csv"),
])
@pytest.mark.parametrize("position", [0, 1, 2])
def test_an_unreadable_file_fails_alone_and_the_others_are_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str | None, message: str,
        position: int) -> None:
    (tmp_path / "good.csv").write_text(GOOD)
    (tmp_path / "bad.csv").write_text(BAD)
    if content is not None:
        (tmp_path / name).write_text(content)
    files = ["good.csv", "bad.csv"]
    files.insert(position, name)
    code, out, err = run(tmp_path, capsys, *files)
    assert code == 1 and not err, err
    assert f"{name}: not read: FAILED (1 check)" in out and message in out
    assert "good.csv: 60 rows, 2 columns: ok" in out
    assert "bad.csv: 2 rows, 2 columns: FAILED" in out and "plan: allowed" in out
    cases = junit_cases(tmp_path)
    assert cases[("mlgen.data." + name.replace(".", "_"), "file")] == "failed"
    assert cases[("mlgen.data.good_csv", "plan: allowed")] == "passed"
    assert cases[("mlgen.data.bad_csv", "plan: allowed")] == "failed"
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["files"][name]["readable"] is False and result["files"][name]["findings"][0]["rule"] == "file"
    assert result["files"]["good.csv"]["passed"] is True
    summary = (tmp_path / "s.md").read_text()
    assert f"`{name}`: not read, FAILED" in summary and message in summary


def test_an_unreadable_reference_fails_drift_but_not_the_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.csv").write_text(GOOD)
    code, out, err = run(tmp_path, capsys, "good.csv", "--reference", "gone.csv")
    assert code == 1 and not err, err
    assert "FAIL (reference): reference gone.csv: dataset not found; check the path" in out
    cases = junit_cases(tmp_path)
    assert cases[("mlgen.data.good_csv", "(reference): drift read")] == "failed"
    assert cases[("mlgen.data.good_csv", "plan: allowed")] == "passed"


def test_every_file_readable_and_passing_still_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.csv").write_text(GOOD)
    (tmp_path / "more.csv").write_text(GOOD)
    code, out, _ = run(tmp_path, capsys, "good.csv", "more.csv")
    assert code == 0, out
    assert not any(name == "file" for _, name in junit_cases(tmp_path))
