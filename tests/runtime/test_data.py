"""`mlgen.runtime.data.command.main`: the `mlgen data check` entry point, on real CSV and Parquet files.

Each rule of a small contract is broken once, and the test checks the exit code, the JUnit
test case that fails and the offending rows the report names (rows count data rows from 0).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from mlgen.runtime.data.command import main
from tests.runtime.conftest import CHURN, Result, subprocess_env

Check = Callable[..., Result]

CONTRACT = """\
rows: {min: 3}
strict: true
columns:
  id: {dtype: int, unique: true}
  age: {dtype: int, min: 0, max: 120}
  plan: {dtype: category, allowed: [basic, pro]}
  email: {dtype: str, nullable: true, pattern: "[a-z]+@example[.]com"}
  score: {dtype: float}
"""
HEADER = "id,age,plan,email,score\n"
GOOD = ["1,30,basic,ann@example.com,0.5", "2,41,pro,,0.7", "3,25,basic,bob@example.com,0.1", "4,67,pro,cy@example.com,0.9"]


def csv(*changes: tuple[int, str]) -> str:
    """The good rows, with some replaced: (row index, new line)."""
    rows = list(GOOD)
    for index, line in changes:
        rows[index] = line
    return HEADER + "".join(row + "\n" for row in rows)


@pytest.fixture
def check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Check:
    """Run `mlgen data check` in-process with the small contract (or another given as text)."""
    def run(*args: str, contract: str = CONTRACT) -> Result:
        (tmp_path / "contract.yaml").write_text(contract)
        code = main(["--contract", "contract.yaml", "--junit", "report.xml", *args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def junit(tmp_path: Path) -> dict[str, str | None]:
    """Test case name -> failure text (None when the case passed)."""
    cases = ET.parse(tmp_path / "report.xml").getroot().iter("testcase")
    return {c.get("name", ""): (f.text if (f := c.find("failure")) is not None else None) for c in cases}


def failures(tmp_path: Path) -> dict[str, str]:
    return {name: text or "" for name, text in junit(tmp_path).items() if text is not None}


def test_good_csv_passes_every_rule(check: Check, tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text(csv())
    result = check("d.csv")
    assert result.code == 0, result.out + result.err
    assert "d.csv: 4 rows, 5 columns: ok" in result.out and "data check passed" in result.out
    assert failures(tmp_path) == {}
    # one JUnit test case per (column, rule), plus the table-wide ones
    assert {"rows.min", "strict", "id: unique", "age: min", "age: max", "plan: allowed", "email: pattern",
            "score: dtype", "score: nullable"} <= set(junit(tmp_path))
    assert "email: nullable" not in junit(tmp_path)  # nullable: true states no rule to check


@pytest.mark.parametrize(("data", "failed", "shown"), [
    pytest.param(csv((1, "2,forty,pro,,0.7")), {"age: dtype"}, "at rows 1 ('forty')", id="wrong-dtype"),
    pytest.param(csv((2, "3,25,basic,bob@example.com,")), {"score: nullable"}, "at rows 2 (missing)", id="null"),
    pytest.param(csv((0, "1,-1,basic,ann@example.com,0.5"), (3, "4,130,pro,cy@example.com,0.9")),
                 {"age: min", "age: max"}, "at rows 0 (-1)", id="out-of-range"),
    pytest.param(csv((3, "4,67,enterprise,cy@example.com,0.9")), {"plan: allowed"}, "at rows 3 ('enterprise')",
                 id="disallowed-value"),
    pytest.param(csv((3, "3,67,pro,cy@example.com,0.9")), {"id: unique"}, "at rows 2 (3), 3 (3)", id="duplicates"),
    pytest.param(csv((0, "1,30,basic,ANN@example.org,0.5")), {"email: pattern"}, "at rows 0 ('ANN@example.org')",
                 id="pattern"),
    pytest.param(HEADER + "".join(row + "\n" for row in GOOD[:2]), {"rows.min"}, "2 rows; the contract wants at least 3",
                 id="too-few-rows"),
    pytest.param(HEADER.replace("\n", ",extra\n") + "".join(r + ",x\n" for r in GOOD), {"extra: strict"},
                 "not in the contract", id="extra-column-strict"),
    pytest.param(HEADER.replace(",score", "") + "".join(r.rsplit(",", 1)[0] + "\n" for r in GOOD), {"score: required"},
                 "the column is missing", id="missing-column"),
])
def test_each_broken_rule_fails_with_its_rows(check: Check, tmp_path: Path, data: str, failed: set[str], shown: str) -> None:
    (tmp_path / "d.csv").write_text(data)
    result = check("d.csv")
    assert result.code == 1, result.out + result.err
    assert set(failures(tmp_path)) == failed
    assert any(shown in text for text in failures(tmp_path).values()), failures(tmp_path)
    assert shown in result.out and "data check FAILED" in result.out


def test_offending_rows_are_capped_at_five(check: Check, tmp_path: Path) -> None:
    rows = [f"{i},{-i - 1},basic,,0.5" for i in range(8)]
    (tmp_path / "d.csv").write_text(HEADER + "".join(r + "\n" for r in rows))
    assert check("d.csv").code == 1
    assert failures(tmp_path)["age: min"].endswith("8 value(s) below 0; at rows 0 (-1), 1 (-2), 2 (-3), 3 (-4), 4 (-5), ... 3 more")


def test_parquet_passes_and_fails_like_csv(check: Check, tmp_path: Path) -> None:
    import pandas as pd

    (tmp_path / "good.csv").write_text(csv())
    (tmp_path / "bad.csv").write_text(csv((1, "2,41,gold,,0.7")))
    for name in ("good", "bad"):
        pd.read_csv(tmp_path / f"{name}.csv").to_parquet(tmp_path / f"{name}.parquet")
    assert check("good.parquet").code == 0
    result = check("bad.parquet")
    assert result.code == 1 and failures(tmp_path) == {"plan: allowed": failures(tmp_path)["plan: allowed"]}
    assert "at rows 1 ('gold')" in failures(tmp_path)["plan: allowed"]


def test_churn_data_meets_its_contract_and_broken_data_does_not(check: Check, tmp_path: Path) -> None:
    contract = (CHURN / "contracts/train.yaml").read_text()
    data = CHURN / "data"
    assert check(str(data / "train.csv"), "--reference", str(data / "reference.csv"), contract=contract).code == 0
    assert check(str(data / "reference.csv"), contract=contract).code == 0
    result = check(str(data / "broken.csv"), contract=contract)
    assert result.code == 1
    assert set(failures(tmp_path)) == {"tenure: min", "contract: allowed", "monthly_charges: nullable",
                                       "customer_id: unique", "support_calls: max"}


DRIFT = """\
columns:
  x: {dtype: float}
  kind: {dtype: str}
drift: {psi: {max: 0.2}, ks: {min_pvalue: 0.01}}
"""


def write_sample(path: Path, shift: float, seed: int, kinds: tuple[float, float] = (0.5, 0.5)) -> str:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    pd.DataFrame({"x": rng.normal(shift, 1.0, 1500), "kind": rng.choice(["a", "b"], 1500, p=list(kinds))}).to_csv(path, index=False)
    return path.name


def test_no_drift_between_samples_of_one_distribution(check: Check, tmp_path: Path) -> None:
    reference = write_sample(tmp_path / "ref.csv", 0.0, seed=1)
    result = check(write_sample(tmp_path / "new.csv", 0.0, seed=2), "--reference", reference, contract=DRIFT)
    assert result.code == 0, result.out
    assert {"x: drift psi", "x: drift ks", "kind: drift psi"} <= set(junit(tmp_path))
    assert "kind: drift ks" not in junit(tmp_path)  # KS compares numbers only


def test_drift_is_a_failed_check(check: Check, tmp_path: Path) -> None:
    reference = write_sample(tmp_path / "ref.csv", 0.0, seed=1)
    result = check(write_sample(tmp_path / "new.csv", 0.6, seed=2, kinds=(0.9, 0.1)), "--reference", reference,
                   contract=DRIFT)
    assert result.code == 1
    assert set(failures(tmp_path)) == {"x: drift psi", "x: drift ks", "kind: drift psi"}
    assert "FAIL x: PSI" in result.out and "FAIL x: p-value" in result.out


@pytest.mark.parametrize(("contract", "message"), [
    pytest.param("columns:\n  a: {dtype: int\n", "contract.yaml:3:1: invalid YAML", id="yaml-syntax"),
    pytest.param("columns:\n  a: {dtype: decimal}\n", "contract.yaml:2:14: columns.a.dtype: Input should be", id="unknown-dtype"),
    pytest.param("columns:\n  a: {dtype: int, maximum: 3}\n", "unknown key `maximum`", id="unknown-key"),
])
def test_malformed_contract_is_one_clear_error(check: Check, tmp_path: Path, contract: str, message: str) -> None:
    (tmp_path / "d.csv").write_text(csv())
    result = check("d.csv", contract=contract)
    assert result.code == 1
    assert message in result.err, result.err
    assert "Traceback" not in result.err and result.out == ""
    assert not (tmp_path / "report.xml").exists()  # no report claims a check ran


# An unreadable data file is a failed check in the report (tests/runtime/test_data_files.py)
@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["d.csv", "--contarct", "x"], "unrecognized arguments --contarct x (did you mean '--contract'?)", id="bad-flag"),
])
def test_bad_input_is_one_clear_error(check: Check, tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "d.csv").write_text(csv())
    (tmp_path / "d.txt").write_text(csv())
    (tmp_path / "bad.parquet").write_text("not parquet")
    result = check(*args)
    assert result.code == 1
    assert message in result.err and "hint:" in result.err, result.err
    assert "Traceback" not in result.err


def test_missing_contract_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.csv").write_text(csv())
    assert main(["--contract", "contracts/none.yaml", "d.csv"]) == 1
    assert "contracts/none.yaml: data contract not found" in capsys.readouterr().err


def test_summary_goes_to_the_given_file_only_for_that_call(check: Check, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "github.md"))
    (tmp_path / "d.csv").write_text(csv((1, "2,41,gold,,0.7")))
    assert check("d.csv", "--summary", "out/summary.md").code == 1
    summary = (tmp_path / "out/summary.md").read_text()
    assert summary.startswith("### ❌ mlgen data check `validate`") and "at rows 1 ('gold')" in summary
    assert not (tmp_path / "github.md").exists()
    assert os.environ["GITHUB_STEP_SUMMARY"] == str(tmp_path / "github.md")
    check("d.csv")  # without the flag, GitHub's summary file gets it as usual
    assert "at rows 1 ('gold')" in (tmp_path / "github.md").read_text()


def test_help_and_lazy_imports_in_a_real_process(tmp_path: Path) -> None:
    # The console script when installed; `python -m mlgen` is the same entry point otherwise.
    mlgen = [shutil.which("mlgen")] if shutil.which("mlgen") else [sys.executable, "-m", "mlgen"]
    proc = subprocess.run([*mlgen, "data", "check", "--help"], capture_output=True, text=True, env=subprocess_env(),
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: mlgen data check") and "--contract FILE" in proc.stdout
    probe = ("import sys; from mlgen.runtime.data.command import main; "
             "assert not {'pandas', 'pandera', 'scipy'} & set(sys.modules), 'heavy import at module load'; "
             "raise SystemExit(main(['--help']))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=subprocess_env(),
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--summary PATH" in proc.stdout and "--reference FILE" in proc.stdout
