"""The documented default drift rule, PSI <= 0.2, decides: data on either side of 0.2 passes or fails.

Each dataset's PSI is computed first with the drift module itself and asserted to lie where the
case needs it, so the case keeps meaning what it says if the data generator changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlgen.runtime.data.drift import psi_numeric
from tests.runtime.conftest import Result

Run = Callable[..., Result]
DEFAULT_MAX = 0.2  # documented in mlgen/runtime/data.py: "With `--reference` and no `drift` block, PSI <= 0.2 is used"
BINS = 10

# shift of the current data's mean (reference: N(0, 1)) -> the PSI window it must land in
CASES = {
    "no shift": (0.0, (0.0, 0.05)),
    "small shift passes": (0.25, (0.03, 0.19)),
    "shift past the default fails": (0.6, (0.21, 1.4)),  # would pass a looser default such as 1.5
    "large shift fails": (1.5, (1.5, 50.0)),
}


def write(tmp_path: Path, shift: float) -> tuple[str, str, float]:
    rng = np.random.default_rng(7)
    reference = rng.normal(0, 1, 4000)
    current = rng.normal(shift, 1, 4000)
    pd.DataFrame({"x": reference}).to_csv(tmp_path / "reference.csv", index=False)
    pd.DataFrame({"x": current}).to_csv(tmp_path / "current.csv", index=False)
    return "reference.csv", "current.csv", psi_numeric(reference, current, BINS)


@pytest.mark.parametrize("case", sorted(CASES))
def test_default_psi_threshold(case: str, runtime: Run, tmp_path: Path) -> None:
    shift, (low, high) = CASES[case]
    reference, current, psi = write(tmp_path, shift)
    assert low <= psi <= high, f"the data for {case!r} has PSI {psi:.3f}, outside [{low}, {high}]"
    (tmp_path / "contract.yaml").write_text("columns:\n  x: {dtype: float}\n")
    result = runtime("data", "check", "--contract", "contract.yaml", current, "--reference", reference)
    drift = json.loads((tmp_path / ".mlgen/data-validate.json").read_text())["files"][current]["drift"]
    assert [(d["column"], d["method"]) for d in drift] == [("x", "psi")], "the default checks PSI only"
    assert drift[0]["value"] == pytest.approx(psi, rel=1e-6)
    should_pass = psi <= DEFAULT_MAX
    assert drift[0]["passed"] is should_pass
    assert result.code == (0 if should_pass else 1), result.out + result.err
    assert f"PSI {psi:.4f} {'<=' if should_pass else '>'} 0.2" in result.out
