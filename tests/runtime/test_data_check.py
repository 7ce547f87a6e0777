"""`mlgen data check`: contracts on CSV and Parquet, drift, and broken contracts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.runtime.conftest import CHURN, Result

Run = Callable[..., Result]
CONTRACT = str(CHURN / "contracts/train.yaml")
TRAIN = str(CHURN / "data/train.csv")
REFERENCE = str(CHURN / "data/reference.csv")
BROKEN = str(CHURN / "data/broken.csv")


def findings(tmp_path: Path, data: str, stage: str = "validate") -> set[tuple[str | None, str, tuple[str, ...]]]:
    result = json.loads((tmp_path / f".mlgen/data-{stage}.json").read_text())
    return {(f["column"], f["rule"], tuple(f["rows"])) for f in result["files"][data]["findings"]}


def write_contract(tmp_path: Path, text: str) -> str:
    path = tmp_path / "contract.yaml"
    path.write_text(text)
    return str(path)


def test_churn_data_passes_with_drift_checked(runtime: Run, tmp_path: Path) -> None:
    result = runtime("data", "check", "--contract", CONTRACT, TRAIN, "--reference", REFERENCE)
    assert result.code == 0, result.out + result.err
    assert "2000 rows, 6 columns: ok" in result.out
    assert "ok   tenure: PSI" in result.out and "ok   tenure: KS statistic" in result.out
    suite = ET.parse(tmp_path / ".mlgen/reports/validate-data.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    names = {c.get("name") for c in suite.iter("testcase")}
    assert {"tenure: min", "contract: allowed", "customer_id: unique", "rows.min", "strict",
            "tenure: drift psi", "tenure: drift ks", "contract: drift psi"} <= names
    assert "contract: drift ks" not in names  # KS is for numbers only


def test_broken_data_names_every_planted_violation(runtime: Run, tmp_path: Path) -> None:
    result = runtime("data", "check", "--contract", CONTRACT, BROKEN)
    assert result.code == 1
    assert findings(tmp_path, BROKEN) == {
        ("tenure", "min", ("4", "57")),
        ("contract", "allowed", ("10",)),
        ("monthly_charges", "nullable", ("20", "21")),
        ("customer_id", "unique", ("30", "31")),
        ("support_calls", "max", ("40",)),
    }
    assert "tenure: min: 2 value(s) below 0; at rows 4 (-3), 57 (-3)" in result.out
    assert "contract: allowed: 1 value(s) outside ['month-to-month', 'one-year', 'two-year']; at rows 10 ('weekly')" in result.out
    suite = ET.parse(tmp_path / ".mlgen/reports/validate-data.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "5"


def test_parquet_is_checked_like_csv(runtime: Run, tmp_path: Path) -> None:
    import pandas as pd

    pd.read_csv(TRAIN).to_parquet(tmp_path / "train.parquet")
    pd.read_csv(BROKEN).to_parquet(tmp_path / "broken.parquet")
    assert runtime("data", "check", "--contract", CONTRACT, "train.parquet").code == 0
    assert runtime("data", "check", "--contract", CONTRACT, "broken.parquet").code == 1
    assert ("support_calls", "max", ("40",)) in findings(tmp_path, "broken.parquet")


def test_each_file_is_reported_separately(runtime: Run, tmp_path: Path) -> None:
    result = runtime("data", "check", "--contract", CONTRACT, TRAIN, BROKEN)
    assert result.code == 1
    data = json.loads((tmp_path / ".mlgen/data-validate.json").read_text())
    assert data["files"][TRAIN]["passed"] is True and data["files"][BROKEN]["passed"] is False


SMALL = """\
rows: {min: 2, max: 3}
strict: true
columns:
  id: {dtype: str, unique: true, pattern: "u[0-9]+"}
  age: {dtype: int, min: 0, max: 130}
  score: {dtype: float, nullable: true}
  joined: {dtype: datetime}
  vip: {dtype: bool, required: false}
"""


@pytest.mark.parametrize(("csv", "expected"), [
    ("id,age,score,joined\nu1,30,0.5,2024-01-02\nu2,41,,2024-03-04\n", set()),
    ("id,age,score,joined\nu1,thirty,0.5,2024-01-02\nu2,4.5,0.1,2024-03-04\n", {("age", "dtype", ("0", "1"))}),
    ("id,age,score,joined\nu1,30,0.5,yesterday\nu2,41,0.1,2024-03-04\n", {("joined", "dtype", ("0",))}),
    ("id,age,score,joined\nx1,30,0.5,2024-01-02\nu2x,41,0.1,2024-03-04\n", {("id", "pattern", ("0", "1"))}),
    ("id,age,score\nu1,30,0.5\nu2,41,0.1\n", {("joined", "required", ())}),
    ("id,age,score,joined,extra\nu1,30,0.5,2024-01-02,1\nu2,41,0.1,2024-03-04,2\n", {("extra", "strict", ())}),
    ("id,age,score,joined\nu1,30,0.5,2024-01-02\n", {(None, "rows.min", ())}),
    ("id,age,score,joined\n" + "".join(f"u{i},30,0.5,2024-01-02\n" for i in range(4)), {(None, "rows.max", ())}),
    ("id,age,score,joined\nu1,30,0.5,2024-01-02\nu2,,0.1,2024-03-04\n", {("age", "nullable", ("1",))}),
])
def test_contract_rules(runtime: Run, tmp_path: Path, csv: str, expected: set[tuple[str | None, str, tuple[str, ...]]]) -> None:
    contract = write_contract(tmp_path, SMALL)
    (tmp_path / "d.csv").write_text(csv)
    result = runtime("data", "check", "--contract", contract, "d.csv")
    assert result.code == (1 if expected else 0), result.out + result.err
    assert findings(tmp_path, "d.csv") == expected


def drifted(tmp_path: Path) -> str:
    import pandas as pd

    df = pd.read_csv(REFERENCE)
    df["tenure"] = (df["tenure"] + 25).clip(upper=120)  # customers stay much longer
    df.loc[df.index % 3 == 0, "contract"] = "two-year"  # and sign long contracts
    df.to_csv(tmp_path / "drifted.csv", index=False)
    return "drifted.csv"


def test_drift_fails_with_psi_and_ks_per_column(runtime: Run, tmp_path: Path) -> None:
    result = runtime("data", "check", "--contract", CONTRACT, drifted(tmp_path), "--reference", REFERENCE)
    assert result.code == 1
    drift = json.loads((tmp_path / ".mlgen/data-validate.json").read_text())["files"]["drifted.csv"]["drift"]
    failed = {(d["column"], d["method"]) for d in drift if not d["passed"]}
    assert failed == {("tenure", "psi"), ("tenure", "ks"), ("contract", "psi")}
    assert "FAIL tenure: PSI" in result.out


def test_reference_without_drift_block_uses_default_psi(runtime: Run, tmp_path: Path) -> None:
    contract = write_contract(tmp_path, "columns:\n  tenure: {dtype: int}\n  contract: {dtype: str}\n")
    result = runtime("data", "check", "--contract", contract, drifted(tmp_path), "--reference", REFERENCE)
    assert result.code == 1
    assert "PSI" in result.out and "<= 0.2" not in result.out.split("FAIL tenure")[1].splitlines()[0]


def test_psi_values() -> None:
    import numpy as np

    from mlgen.runtime.data.drift import psi_categorical, psi_numeric

    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, 5000)
    assert psi_numeric(ref, rng.normal(0, 1, 5000), 10) < 0.02
    assert 0.1 < psi_numeric(ref, rng.normal(0.5, 1, 5000), 10) < 0.5
    assert psi_numeric(ref, rng.normal(3, 1, 5000), 10) > 2
    assert psi_numeric(ref, ref, 10) == pytest.approx(0.0)
    assert psi_categorical(["a"] * 50 + ["b"] * 50, ["a"] * 50 + ["b"] * 50) == pytest.approx(0.0)
    assert psi_categorical(["a"] * 50 + ["b"] * 50, ["a"] * 90 + ["b"] * 10) > 0.4
    # A category never seen in the reference is a finite, large drift (not inf)
    assert 1 < psi_categorical(["a"] * 100, ["c"] * 100) < 50


@pytest.mark.parametrize(("text", "message"), [
    ("columns:\n  age: {dtype: int, mn: 0}\n", "2:21: columns.age.mn: unknown key `mn` (did you mean 'min'?)"),
    ("columns:\n  age: {dtype: integer}\n", "2:16: columns.age.dtype: Input should be"),
    ("columns:\n  age: {min: 5, max: 1}\n", "`min` (5.0) is above `max` (1.0)"),
    ("columns:\n  name: {dtype: str, min: 1}\n", "`min`/`max` need a numeric dtype"),
    ("columns:\n  name: {pattern: '(['}\n", "not a valid regular expression"),
    ("columns:\n  a: {}\ndrift: {columns: [b], psi: {max: 0.2}}\n", "drift column `b` is not in `columns`"),
    ("columns:\n  a: {}\ndrift: {bins: 5}\n", "`drift` needs `psi` and/or `ks`"),
    ("colums:\n  a: {}\n", "unknown key `colums` (did you mean 'columns'?)"),
    ("columns: {}\n", "columns: Dictionary should have at least 1 item"),
    ("columns:\n  a: {dtype: int\n", "invalid YAML"),
    ("- a\n- b\n", "a data contract is a YAML mapping with a `columns` key"),
    ("", "a data contract is a YAML mapping"),
])
def test_malformed_contract_is_located(runtime: Run, tmp_path: Path, text: str, message: str) -> None:
    contract = write_contract(tmp_path, text)
    result = runtime("data", "check", "--contract", contract, TRAIN)
    assert result.code == 1
    assert "error: the data contract has" in result.err
    assert message in result.err, result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize(("args", "message"), [
    (["--contract", "nope.yaml", TRAIN], "nope.yaml: data contract not found"),
    (["--contract", CONTRACT], "no dataset given"),
    ([TRAIN], "no contract given"),
])
def test_missing_inputs_are_clear_errors(runtime: Run, args: list[str], message: str) -> None:
    result = runtime("data", "check", *args)
    assert result.code == 1
    assert message in result.err


def test_unreadable_dataset_is_a_failed_check(runtime: Run, tmp_path: Path) -> None:
    (tmp_path / "data.json").write_text("{}")
    (tmp_path / "bad.parquet").write_text("not parquet")
    result = runtime("data", "check", "--contract", CONTRACT, "data.json")
    assert result.code == 1 and "data.json: not read: FAILED" in result.out and "unknown dataset format" in result.out
    result = runtime("data", "check", "--contract", CONTRACT, "bad.parquet")
    assert result.code == 1 and "cannot read the dataset" in result.out and not result.err


SPEC = """\
version: 1
name: demo
stages:
  - name: check-data
    kind: validate
    contract: contracts/train.yaml
    data: [data/train.csv, data/broken.csv]
  - {name: train, kind: train, run: python train.py}
"""


def test_settings_come_from_the_spec(runtime: Run, tmp_path: Path) -> None:
    import shutil

    project = tmp_path / "project"
    shutil.copytree(CHURN / "contracts", project / "contracts")
    shutil.copytree(CHURN / "data", project / "data")
    (project / "mlgen.yaml").write_text(SPEC)
    result = runtime("data", "check", "--spec", str(project / "mlgen.yaml"), "--stage", "check-data")
    assert result.code == 1
    assert f"{project / 'data/train.csv'}: 2000 rows, 6 columns: ok" in result.out
    assert f"{project / 'data/broken.csv'}: 2000 rows, 6 columns: FAILED (5 checks)" in result.out
    assert (tmp_path / ".mlgen/reports/check-data-data.xml").exists()
    # DATA arguments replace the stage's datasets
    assert runtime("data", "check", "--spec", str(project), "--stage", "check-data", str(project / "data/train.csv")).code == 0
