"""Distribution drift between a reference dataset and new data: PSI and the two-sample KS test.

PSI compares bucket shares: numeric columns use quantile buckets of the reference (so every
bucket starts with about the same share), categorical columns one bucket per value. Empty buckets
get a small floor, since ln(0) would make one unseen category an infinite drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_FLOOR = 1e-4


@dataclass(frozen=True)
class DriftResult:
    column: str
    method: str  # "psi" or "ks"
    value: float  # PSI, or the KS statistic
    passed: bool
    detail: str


def psi_numeric(reference: Any, current: Any, bins: int) -> float:
    import numpy as np

    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    # searchsorted against inner edges gives bucket ids 0..len(edges): open-ended outer buckets
    # catch new data outside the reference's range instead of dropping it.
    expected = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / len(ref)
    actual = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1) / len(cur)
    return _psi(expected, actual)


def psi_categorical(reference: Any, current: Any) -> float:
    from collections import Counter

    import numpy as np

    ref = Counter(str(v) for v in reference)
    cur = Counter(str(v) for v in current)
    categories = sorted(set(ref) | set(cur))
    expected = np.array([ref[c] for c in categories], dtype=float) / max(1, sum(ref.values()))
    actual = np.array([cur[c] for c in categories], dtype=float) / max(1, sum(cur.values()))
    return _psi(expected, actual)


def _psi(expected: Any, actual: Any) -> float:
    import numpy as np

    e = np.clip(expected, _FLOOR, None)
    a = np.clip(actual, _FLOOR, None)
    return float(np.sum((a - e) * np.log(a / e)))


def ks(reference: Any, current: Any) -> tuple[float, float]:
    """(statistic, p-value) of the two-sample Kolmogorov-Smirnov test."""
    from scipy.stats import ks_2samp  # type: ignore[import-untyped,unused-ignore]

    result = ks_2samp(reference, current)
    return float(result.statistic), float(result.pvalue)
