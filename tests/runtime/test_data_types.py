"""CSV columns are read with the dtype the contract declares: declared dtypes x tricky values.

Each case writes a one-column CSV holding the tricky value next to an ordinary one (pandas'
guess depends on the whole column), then checks what the value was read as, and that the
data check passes, fails on `dtype` (naming the row and the text), or sees a missing value.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.runtime.data.command import main
from mlgen.runtime.data.contract import Contract
from mlgen.runtime.data.read import read_dataset

BAD, MISSING = object(), object()
ORDINARY = {"str": "plain", "category": "a", "int": "5", "float": "2.5", "bool": "true", "datetime": "2024-05-01"}

CASES: list[tuple[str, str, Any]] = [
    ("str", "01234", "01234"), ("str", "007", "007"), ("str", "1.50", "1.50"), ("str", "1e3", "1e3"),
    ("str", "NA", "NA"), ("str", "None", "None"), ("str", "null", "null"), ("str", "true", "true"),
    ("str", "", MISSING),
    ("category", "01", "01"), ("category", "NA", "NA"), ("category", "", MISSING),
    ("int", "01234", 1234), ("int", "+5", 5), ("int", "-7", -7), ("int", "3.0", 3), ("int", " 12 ", 12),
    ("int", "9007199254740993", 9007199254740993), ("int", "9223372036854775807", 2**63 - 1),
    ("int", "-9223372036854775808", -2**63), ("int", "9223372036854775808", BAD), ("int", "1.5", BAD),
    ("int", "1e3", BAD), ("int", "abc", BAD), ("int", "\u0661\u0662", BAD), ("int", "", MISSING), ("int", "NA", MISSING),
    ("float", "1.5", 1.5), ("float", "1e3", 1000.0), ("float", "01234", 1234.0), ("float", "-inf", float("-inf")),
    ("float", "abc", BAD), ("float", "", MISSING), ("float", "NaN", MISSING),
    ("bool", "TRUE", True), ("bool", "False", False), ("bool", "yes", True), ("bool", "No", False), ("bool", "1", True),
    ("bool", "0", False), ("bool", "maybe", BAD), ("bool", "2", BAD), ("bool", "", MISSING), ("bool", "NULL", MISSING),
    ("datetime", "2024-01-01", datetime(2024, 1, 1)), ("datetime", "2024-01-02T10:00:00", datetime(2024, 1, 2, 10)),
    ("datetime", "2024-01-02 10:30", datetime(2024, 1, 2, 10, 30)),
    ("datetime", "2024-01-02T10:00:00+02:00", datetime(2024, 1, 2, 8)), ("datetime", "2024-13-01", BAD),
    ("datetime", "yesterday", BAD), ("datetime", "", MISSING),
]


def write(tmp_path: Path, dtype: str, value: str, nullable: bool = True) -> None:
    (tmp_path / "c.yaml").write_text(f"columns:\n  v: {{dtype: {dtype}, nullable: {str(nullable).lower()}}}\n")
    quoted = '"' + value.replace('"', '""') + '"' if value else ""
    # a second column: a one-column CSV's empty field is a blank line, which CSV readers skip
    (tmp_path / "d.csv").write_text(f"v,k\n{ORDINARY[dtype]},x\n{quoted},y\n")


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["--contract", "c.yaml", "--junit", "r.xml", "--json", "r.json", "d.csv"])
    capsys.readouterr()
    findings = json.loads((tmp_path / "r.json").read_text())["files"]["d.csv"]["findings"]
    return code, {f["rule"]: f for f in findings}


@pytest.mark.parametrize(("dtype", "value", "expected"), CASES, ids=[f"{d}-{v!r}" for d, v, _ in CASES])
def test_each_value_is_read_as_the_declared_dtype(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  dtype: str, value: str, expected: Any) -> None:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    write(tmp_path, dtype, value)
    contract = Contract.model_validate({"columns": {"v": {"dtype": dtype, "nullable": True}}})
    read = read_dataset(tmp_path / "d.csv", contract).frame["v"].iloc[1]
    code, findings = check(tmp_path, capsys)
    if expected is BAD:
        assert code == 1 and set(findings) == {"dtype"}
        assert findings["dtype"]["rows"] == ["1"] and findings["dtype"]["values"] == [repr(value)]
        assert pd.isna(read)
    elif expected is MISSING:
        assert code == 0 and pd.isna(read)
    else:
        assert code == 0, findings
        assert read == expected and type(read.item() if hasattr(read, "item") else read) is not float or dtype == "float"
        if isinstance(expected, str):
            assert isinstance(read, str)


@pytest.mark.parametrize(("dtype", "value"), [(d, v) for d, v, e in CASES if e is BAD])
def test_a_value_that_does_not_convert_is_a_dtype_failure_not_a_missing_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], dtype: str, value: str) -> None:
    write(tmp_path, dtype, value, nullable=False)
    code, findings = check(tmp_path, capsys)
    assert code == 1 and set(findings) == {"dtype"}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)), min_size=1, max_size=30),
       st.integers(0, 3))
def test_ints_with_gaps_and_leading_zeros_are_exact(tmp_path_factory: pytest.TempPathFactory,
                                                     values: list[int | None], zeros: int) -> None:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    path = tmp_path_factory.mktemp("ints") / "d.csv"
    text = ["" if v is None else ("-" if v < 0 else "") + "0" * zeros + str(abs(v)) for v in values]
    path.write_text("v,k\n" + "".join(f"{t},x\n" for t in text))
    contract = Contract.model_validate({"columns": {"v": {"dtype": "int", "nullable": True}}})
    data = read_dataset(path, contract)
    assert not data.unconverted
    assert [None if pd.isna(v) else int(v) for v in data.frame["v"]] == values


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(st.characters(codec="utf-8", exclude_characters="\r\n\"\x00"), min_size=1, max_size=8),
                min_size=1, max_size=20))
def test_str_columns_keep_the_text_as_written(tmp_path_factory: pytest.TempPathFactory, values: list[str]) -> None:
    path = tmp_path_factory.mktemp("text") / "d.csv"
    path.write_text("v\n" + "".join(f'"{v}"\n' for v in values), encoding="utf-8")
    contract = Contract.model_validate({"columns": {"v": {"dtype": "str"}}})
    assert list(read_dataset(path, contract).frame["v"]) == values


def test_allowed_numbers_of_a_text_column_are_compared_as_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c.yaml").write_text("columns:\n  zip: {dtype: str, allowed: [1234, '01234']}\n"
                                     "  flag: {dtype: category, allowed: [0, 1]}\n")
    (tmp_path / "d.csv").write_text("zip,flag\n01234,0\n1234,1\n001234,01\n")
    code, findings = check(tmp_path, capsys)
    assert code == 1
    assert findings["allowed"]["rows"] == ["2"]  # only the third row: "001234" / "01" are other text


def test_parquet_keeps_its_own_types(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    pd.DataFrame({"zip": ["01234", "00501"], "n": [1, 2]}).to_parquet(tmp_path / "d.parquet")
    (tmp_path / "c.yaml").write_text("columns:\n  zip: {dtype: str, pattern: '[0-9]{5}'}\n  n: {dtype: str}\n")
    assert main(["--contract", "c.yaml", "--json", "r.json", "d.parquet"]) == 1
    capsys.readouterr()
    findings = json.loads((tmp_path / "r.json").read_text())["files"]["d.parquet"]["findings"]
    assert [(f["column"], f["rule"]) for f in findings] == [("n", "dtype")]  # integers stored as such are not text


def test_unclear_allowed_values_of_a_text_column_are_a_contract_error(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c.yaml").write_text("columns:\n  v: {dtype: str, allowed: [a, 1.0]}\n")
    (tmp_path / "d.csv").write_text("v\na\n")
    assert main(["--contract", "c.yaml", "d.csv"]) == 1
    assert "c.yaml:2:6: columns.v: `allowed` of a str column is text: quote 1.0" in capsys.readouterr().err


@pytest.mark.parametrize(("dtype", "value"), [(d, v) for d, v, e in CASES if e is MISSING])
def test_a_missing_value_of_any_dtype_is_shown_as_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          dtype: str, value: str) -> None:
    write(tmp_path, dtype, value, nullable=False)
    code, findings = check(tmp_path, capsys)
    assert code == 1 and set(findings) == {"nullable"}
    assert findings["nullable"]["rows"] == ["1"] and findings["nullable"]["values"] == ["missing"]
