"""The KS drift statistic without scipy: the same number as scipy's test, and scipy stays unloaded.

A validate job pays for every import before it checks a row; scipy.stats alone took longer than
the churn example's whole check. It is loaded only when a contract asks for a p-value.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.runtime.data.drift import ks_pvalue, ks_statistic
from tests.runtime.conftest import CHURN, subprocess_env

# Small integer grids make ties (within and across samples) common, where a CDF gap is easy to get wrong.
SAMPLES = st.one_of(
    st.lists(st.integers(-5, 5), min_size=1, max_size=60),
    st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=60),
)


@settings(max_examples=300, deadline=None)
@given(SAMPLES, SAMPLES)
def test_statistic_matches_scipy(reference: list[float], current: list[float]) -> None:
    from scipy.stats import ks_2samp

    with warnings.catch_warnings():  # scipy's p-value warns on tiny or tied samples; the statistic is exact
        warnings.simplefilter("ignore")
        expected = float(ks_2samp(reference, current).statistic)
    assert ks_statistic(reference, current) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("reference", "current", "expected"), [
    ([1, 2, 3], [1, 2, 3], 0.0),
    ([1, 2, 3], [4, 5, 6], 1.0),
    ([1, 1, 2, 2], [1, 2, 2, 2], 0.25),  # ties across the samples: both CDFs step at once
    ([0.0], [0.0, 1.0], 0.5),
])
def test_statistic_by_hand(reference: list[float], current: list[float], expected: float) -> None:
    assert ks_statistic(reference, current) == pytest.approx(expected)


def test_pvalue_is_scipys() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=200), rng.normal(0.3, size=150)
    from scipy.stats import ks_2samp

    assert ks_pvalue(a, b) == pytest.approx(float(ks_2samp(a, b).pvalue))


PROBE = """\
import sys
from mlgen.runtime.data.command import main
code = main(sys.argv[1:])
print("SCIPY" if "scipy.stats" in sys.modules else "NO-SCIPY", code)
"""


@pytest.mark.parametrize(("ks", "loads_scipy"), [
    ({"max_statistic": 0.1}, False),
    ({"min_pvalue": 0.01}, True),
    ({"max_statistic": 0.1, "min_pvalue": 0.01}, True),
])
def test_scipy_loads_only_for_a_pvalue(tmp_path: Path, ks: dict[str, float], loads_scipy: bool) -> None:
    contract = (CHURN / "contracts" / "train.yaml").read_text().replace("ks: {max_statistic: 0.1}", f"ks: {json.dumps(ks)}")
    assert contract != (CHURN / "contracts" / "train.yaml").read_text()
    (tmp_path / "contract.yaml").write_text(contract)
    proc = subprocess.run([sys.executable, "-c", PROBE, "--contract", str(tmp_path / "contract.yaml"),
                           "--reference", str(CHURN / "data" / "reference.csv"), str(CHURN / "data" / "train.csv")],
                          cwd=tmp_path, capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == ("SCIPY 0" if loads_scipy else "NO-SCIPY 0"), proc.stdout
    assert "KS statistic" in proc.stdout or "p-value" in proc.stdout
