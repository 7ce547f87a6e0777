"""However many rows fail, the report holds counts plus the first rows of each finding.

(How long a large check takes is measured in benchmarks/data_check.py, not here.)
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pandas as pd  # type: ignore[import-untyped,unused-ignore]
import pytest

from mlgen.runtime.data.command import main
from mlgen.runtime.data.read import EXAMPLES

CONTRACT = """\
columns:
  id: {dtype: int, unique: true}
  age: {dtype: int, min: 0, max: 120}
  email: {dtype: str, pattern: "[a-z]+@example[.]com"}
  n: {dtype: int}
"""


def frame(rows: int) -> pd.DataFrame:
    """Every row breaks `age: max` and `email: pattern`, most `id: unique`, every fifth `n: dtype`."""
    return pd.DataFrame({
        "id": [i - i % 3 for i in range(rows)],
        "age": [500] * rows,
        "email": [f"user{i}@example.org" for i in range(rows)],
        "n": ["x" if i % 5 == 0 else str(i) for i in range(rows)],
    })


@pytest.mark.parametrize("rows", [7, 4000])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_report_counts_every_failing_row_and_shows_the_first_few(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  rows: int, suffix: str) -> None:
    data = tmp_path / f"d{suffix}"
    df = frame(rows)
    df.to_csv(data, index=False) if suffix == ".csv" else df.to_parquet(data)
    (tmp_path / "c.yaml").write_text(CONTRACT)
    code = main(["--contract", "c.yaml", "--junit", "r.xml", "--json", "r.json", "--summary", "s.md", data.name])
    out = capsys.readouterr().out
    assert code == 1
    findings = {(f["column"], f["rule"]): f for f in json.loads((tmp_path / "r.json").read_text())["files"][data.name]["findings"]}
    assert findings[("age", "max")]["count"] == findings[("email", "pattern")]["count"] == rows
    assert findings[("n", "dtype")]["count"] == len(range(0, rows, 5))  # once per row, not once per pandera pass
    assert ("n", "nullable") not in findings  # a value that did not convert is not also "missing"
    for finding in findings.values():
        assert finding["rows"] == sorted(finding["rows"], key=int)[:EXAMPLES]  # the first rows, in file order
        assert len(finding["values"]) == len(finding["rows"]) <= EXAMPLES
    assert findings[("age", "max")]["rows"] == [str(i) for i in range(min(rows, EXAMPLES))]
    # text, JUnit and Markdown grow with the number of rules, not of rows
    assert len(out.splitlines()) < 20 and len(out) < 3000
    assert len((tmp_path / "r.xml").read_text()) < 6000
    assert len((tmp_path / "s.md").read_text()) < 3000
    if rows > EXAMPLES:
        assert f"... {rows - EXAMPLES} more" in out


def test_duplicates_count_every_row_of_a_repeated_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c.yaml").write_text("columns:\n  id: {dtype: str, unique: true}\n")
    (tmp_path / "d.csv").write_text("id\n" + "".join(f"{v}\n" for v in ["a", "b", "a", "c", "a", "b"]))
    assert main(["--contract", "c.yaml", "--json", "r.json", "d.csv"]) == 1
    capsys.readouterr()
    finding = json.loads((tmp_path / "r.json").read_text())["files"]["d.csv"]["findings"][0]
    assert (finding["rule"], finding["count"], finding["rows"]) == ("unique", 5, ["0", "1", "2", "4", "5"])
    root = ET.parse(tmp_path / ".mlgen/reports/validate-data.xml").getroot()
    assert root.find("testsuite") is not None
