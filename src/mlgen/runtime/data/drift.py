"""Distribution drift between a reference dataset and new data: PSI and the two-sample KS test.

PSI compares bucket shares: numeric columns use quantile buckets of the reference (so every
bucket starts with about the same share), text columns one bucket per value, or, with more
distinct values than `bins`, `bins` groups of values with about equal reference shares plus one
for values the reference never had. Bounding the buckets bounds PSI's sampling noise, which grows
with buckets per row: 300 equally likely values in 2000 rows give PSI ~0.3 between two samples of
one distribution. Empty buckets get a small floor, since ln(0) would make one unseen value an
infinite drift.

Columns where PSI measures nothing useful are skipped, and the report says why:
- ID-like text: more than `ID_SHARE` of the reference's values are distinct (user ids, emails);
  new data holds new ids, which is not drift.
- datetimes, unless listed in `drift.columns`: new data is usually later than the reference, so
  a date column always "drifts". Listed, they are compared as numbers (time since the epoch).
A column missing from the reference fails (the check asked for cannot run); one missing from the
data is skipped (the contract's `required` rule reports it when it is required).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mlgen.runtime.data.contract import DEFAULT_DRIFT, NUMERIC, ColumnRule, Contract, Drift
from mlgen.runtime.reports import fmt

_FLOOR = 1e-4
ID_SHARE = 0.5
RARE = 5  # text values seen fewer times in the reference are pooled: their own shares are noise
Kind = Literal["numeric", "datetime", "text"]


@dataclass(frozen=True)
class DriftResult:
    column: str
    method: str  # "psi" or "ks"
    value: float  # PSI, or the KS statistic (NaN when not computed)
    passed: bool
    detail: str
    skipped: bool = False  # not compared; `detail` says why (a skipped check passes)


def check_drift(df: Any, reference: Any, contract: Contract) -> list[DriftResult]:
    settings = contract.drift or DEFAULT_DRIFT
    listed = contract.drift is not None and contract.drift.columns is not None
    results: list[DriftResult] = []
    for column in contract.drift_columns():
        results += _column(column, df, reference, contract.columns[column], settings, listed)
    return results


def _column(column: str, df: Any, reference: Any, rule: ColumnRule, settings: Drift, listed: bool) -> list[DriftResult]:
    nan = float("nan")
    if column not in reference:
        return [DriftResult(column, "psi", nan, False, "not in the reference dataset: add it there, "
                                                       "or leave it out of drift.columns")]
    if column not in df:
        why = "the `required` check reports it" if rule.required else "an optional column"
        return [DriftResult(column, "psi", nan, True, f"skipped: not in the data ({why})", skipped=True)]
    cur, ref = df[column].dropna(), reference[column].dropna()
    if len(cur) == 0 or len(ref) == 0:
        return [DriftResult(column, "psi", nan, False, "no values to compare")]
    kind = column_kind(rule, cur, ref)
    skip = _skip_reason(kind, ref, settings.bins, listed)
    if skip:
        return [DriftResult(column, "psi", nan, True, f"skipped: {skip}", skipped=True)]
    if kind == "datetime":
        cur, ref = _as_numbers(cur), _as_numbers(ref)
    results = []
    if settings.psi is not None:
        value = psi_numeric(ref, cur, settings.bins) if kind != "text" else psi_categorical(ref, cur, settings.bins)
        ok = value <= settings.psi.max
        results.append(DriftResult(column, "psi", value, ok, f"PSI {value:.4f} {'<=' if ok else '>'} {fmt(settings.psi.max)}"))
    if settings.ks is not None and kind != "text":
        results.append(_ks_result(column, ref, cur, settings.ks.max_statistic, settings.ks.min_pvalue))
    return results


def column_kind(rule: ColumnRule, cur: Any, ref: Any) -> Kind:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    types = pd.api.types
    if rule.dtype is not None:
        return "numeric" if rule.dtype in NUMERIC else "datetime" if rule.dtype == "datetime" else "text"
    if types.is_datetime64_any_dtype(cur) and types.is_datetime64_any_dtype(ref):
        return "datetime"
    both_numeric = types.is_numeric_dtype(cur) and types.is_numeric_dtype(ref)
    return "numeric" if both_numeric and not (types.is_bool_dtype(cur) or types.is_bool_dtype(ref)) else "text"


def _skip_reason(kind: Kind, ref: Any, bins: int, listed: bool) -> str:
    if kind == "datetime" and not listed:
        return ("a datetime column (new data is usually later than the reference); "
                "list it in drift.columns to compare it as numbers")
    if kind == "text":
        distinct = int(ref.nunique())
        if distinct > bins and distinct > ID_SHARE * len(ref):
            return (f"ID-like text ({distinct} distinct values in {len(ref)} reference rows, "
                    f"over {ID_SHARE:.0%}): new identifiers are not drift")
    return ""


def _as_numbers(values: Any) -> Any:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    # seconds since the epoch whatever the unit (ns, us, s); naive values are taken as UTC, and
    # values with a time zone (Parquet keeps it) are converted to it
    return (pd.to_datetime(values, utc=True) - pd.Timestamp(0, tz="UTC")).dt.total_seconds()


def _ks_result(column: str, ref: Any, cur: Any, max_statistic: float | None, min_pvalue: float | None) -> DriftResult:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    ref_values = pd.to_numeric(ref, errors="coerce").dropna()
    cur_values = pd.to_numeric(cur, errors="coerce").dropna()
    statistic = ks_statistic(ref_values, cur_values)
    parts, ok = [], True
    if max_statistic is not None:
        ok &= statistic <= max_statistic
        parts.append(f"KS statistic {statistic:.4f} {'<=' if statistic <= max_statistic else '>'} {fmt(max_statistic)}")
    if min_pvalue is not None:
        pvalue = ks_pvalue(ref_values, cur_values)
        ok &= pvalue >= min_pvalue
        parts.append(f"p-value {pvalue:.3g} {'>=' if pvalue >= min_pvalue else '<'} {fmt(min_pvalue)}")
    return DriftResult(column, "ks", statistic, ok, "; ".join(parts))


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


def psi_categorical(reference: Any, current: Any, bins: int | None = None) -> float:
    """PSI with one bucket per value, or, with more values than `bins`, `bins` groups of values."""
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    ref = pd.Series(reference, dtype=object).astype(str).value_counts()
    cur = pd.Series(current, dtype=object).astype(str).value_counts()
    if bins is not None and len(ref) > bins:
        return _psi(*_grouped_shares(ref, cur, bins))
    categories = sorted(set(ref.index) | set(cur.index))
    expected = np.array([ref.get(c, 0) for c in categories], dtype=float) / max(1, ref.sum())
    actual = np.array([cur.get(c, 0) for c in categories], dtype=float) / max(1, cur.sum())
    return _psi(expected, actual)


def _grouped_shares(ref: Any, cur: Any, bins: int) -> tuple[Any, Any]:
    """Bucket shares for many values: values seen fewer than `RARE` times in the reference (and new
    ones) share one bucket; the others form `bins` groups of about equal reference share.

    A long tail means a new sample always holds values the reference did not, and the reference
    over-states the share of the rare values it happened to draw. So the rare bucket's expected
    share is the Good-Turing estimate: values seen r times in the reference make up about
    (r + 1) * N(r + 1) / n of new data, where N(r) counts the values seen r times in n rows.
    """
    import numpy as np

    counts = ref.to_numpy(dtype=float)
    n = counts.sum()
    seen = np.bincount(counts.astype(int), minlength=RARE + 2)  # N(r)
    rare = min(1.0, sum((r + 1) * seen[r + 1] for r in range(RARE)) / n)
    # in value order, not by frequency: sorting by the reference's counts would put the values it
    # happened to over-sample together, and their group would always seem to shrink
    order = sorted(v for v, c in ref.items() if c >= RARE)
    often = np.array([ref[v] for v in order], dtype=float)
    before = (np.cumsum(often) - often) / max(1.0, often.sum())
    group = dict(zip(order, np.minimum((before * bins).astype(int), bins - 1), strict=True))
    shares = np.bincount(list(group.values()), weights=often, minlength=bins) / max(1.0, often.sum())
    expected = np.append(shares * (1 - rare), rare)  # the frequent values share what the rare ones leave
    ids = np.array([group.get(v, bins) for v in cur.index], dtype=int)
    actual = np.bincount(ids, weights=cur.to_numpy(dtype=float), minlength=bins + 1) / max(1, cur.sum())
    return expected, actual


def _psi(expected: Any, actual: Any) -> float:
    import numpy as np

    e = np.clip(expected, _FLOOR, None)
    a = np.clip(actual, _FLOOR, None)
    return float(np.sum((a - e) * np.log(a / e)))


def ks_statistic(reference: Any, current: Any) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs.

    numpy alone, so a contract with `max_statistic` only never loads scipy.stats (about half a
    second of a validate job's start-up, more than the check itself on a small file).
    """
    import numpy as np

    ref = np.sort(np.asarray(reference, dtype=float))
    cur = np.sort(np.asarray(current, dtype=float))
    # Both CDFs only step at observed values: compare them just after each one (side="right"
    # counts ties, so a value shared by both samples moves both CDFs at once).
    values = np.concatenate([ref, cur])
    gap = np.searchsorted(ref, values, side="right") / len(ref) - np.searchsorted(cur, values, side="right") / len(cur)
    return float(np.max(np.abs(gap)))


def ks_pvalue(reference: Any, current: Any) -> float:
    """The two-sample KS test's p-value (scipy's: exact for small samples, asymptotic otherwise)."""
    from scipy.stats import ks_2samp  # type: ignore[import-untyped,unused-ignore]

    return float(ks_2samp(reference, current).pvalue)
