"""Per-example predictions files (CSV or Parquet) for gates with confidence bounds.

Columns: `y_true`, and `y_score` (probability of the positive class) and/or `y_pred` (label or
value); optional `id` (aligns two evaluation sets and names the examples) and `weight`. Any other
numeric column can be gated as `mean:<column>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlgen.errors import UserError

FORMAT_HINT = ("write a CSV or Parquet file with a `y_true` column and `y_score` (probability) and/or `y_pred`; "
               "optional `id` and `weight`")
KNOWN = ("y_true", "y_score", "y_pred", "id", "weight")


def load(path: Path, *, what: str = "predictions file") -> Any:
    """A `stats.Predictions` from `path`, or a UserError that names the file and the problem."""
    import numpy as np

    from mlgen.runtime.gate import stats

    frame = _read(path, what)
    columns = {str(c) for c in frame.columns}
    if "y_true" not in columns or not columns & {"y_score", "y_pred"}:
        raise UserError(f"the {what} has columns {', '.join(sorted(columns)) or 'none'}", where=str(path), hint=FORMAT_HINT)
    if len(frame) < 2:
        raise UserError(f"the {what} has {len(frame)} row(s); bounds need an evaluation set", where=str(path), hint=FORMAT_HINT)

    def numeric(name: str) -> Any:
        if name not in columns:
            return None
        try:
            values = frame[name].to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise UserError(f"column `{name}` of the {what} is not numeric", where=str(path), hint=FORMAT_HINT) from None
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise UserError(f"column `{name}` of the {what} has a missing or non-finite value in data row {row + 1}",
                            where=str(path), hint="every example needs a finite value; drop or fix that row")
        return values

    ids = frame["id"].astype(str).to_numpy() if "id" in columns else None
    if ids is not None and len(set(ids)) != len(ids):
        raise UserError(f"the {what} repeats an `id`", where=str(path), hint="ids name the examples and must be unique")
    extra = {c: v for c in sorted(columns - set(KNOWN)) if (v := _maybe_numeric(frame[c])) is not None}
    return stats.Predictions(numeric("y_true"), numeric("y_score"), numeric("y_pred"), numeric("weight"), ids, extra)


def _maybe_numeric(series: Any) -> Any:
    import numpy as np

    try:
        values = series.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return values if np.isfinite(values).all() else None


def _read(path: Path, what: str) -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise UserError(f"reading the {what} needs pandas", where=str(path),
                        hint="install the data extra: pip install 'mlgen-ci[data]'") from None
    if not path.is_file():
        raise UserError(f"{what} not found", where=str(path), hint="the evaluate command must write it before the gate runs")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={"id": str})
    except Exception as exc:  # noqa: BLE001 - pandas and pyarrow raise many kinds; all mean "unreadable"
        raise UserError(f"cannot read the {what}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                        where=str(path), hint=FORMAT_HINT) from None
