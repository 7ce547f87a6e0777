"""Reading a dataset with the types its data contract declares.

A CSV has no types: left to guess, pandas reads the zip code `01234` as the number 1234, an ID
column with one gap as floats (losing digits above 2**53) and a country code `NA` as missing.
So every column the contract gives a dtype (other than float) is read as text, and converted here
by one rule per dtype; a value that does not convert is remembered with its row (a `dtype`
finding) and becomes missing. Parquet keeps its own types, and pandera's coercion checks them.

Rules for CSV (also in the README's data contract reference):
- `str`, `category`: the text as written; only an empty field is missing.
- `int`: optional sign and digits (`007` is 7; `3.0` is 3), exact up to 64 bits.
- `float`: what pandas reads as a number (`1e3`, `inf`).
- `bool`: true/false, yes/no, 1/0, in any case.
- `datetime`: ISO 8601 dates and times; with a UTC offset they are converted to UTC.
Other columns read as missing: an empty field and the markers in `MISSING`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgen.errors import UserError
from mlgen.runtime.data.contract import Contract

TEXT = ("str", "category")
# pandas' default missing-value markers, spelled out so the README can list them and text columns can opt out.
MISSING = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
           "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
_INT = r"^[+-]?[0-9]+(\.0*)?$"  # after trimming white space
EXAMPLES = 5  # offending rows shown per failing check
_BOOL = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


@dataclass(frozen=True)
class Unconverted:
    """The values of one column that are not of the contract's dtype."""

    column: str
    rows: Any  # every row, in order
    values: list[str]  # the text of the first EXAMPLES of them


@dataclass
class Dataset:
    frame: Any
    unconverted: list[Unconverted]
    typed: frozenset[str]  # columns converted here: pandera need not coerce them again


def read_dataset(path: Path, contract: Contract | None = None) -> Dataset:
    """The file as a DataFrame, CSV columns converted to the contract's dtypes."""
    name = path.name.lower()
    if not path.exists():
        raise UserError("dataset not found", where=str(path), hint="check the path (DATA arguments or the stage's `data`)")
    try:
        if name.endswith((".parquet", ".pq")):
            import pandas as pd  # type: ignore[import-untyped,unused-ignore]

            return Dataset(pd.read_parquet(path), [], frozenset())
        if ".csv" in name or name.endswith(".tsv"):
            return _read_csv(path, "\t" if name.endswith(".tsv") else ",", contract)
    except (UserError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - pandas/pyarrow raise many types for unreadable files
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise UserError(f"cannot read the dataset: {type(exc).__name__}: {first}", where=str(path),
                        hint="the file must be valid CSV (with a header row) or Parquet") from None
    raise UserError("unknown dataset format", where=str(path), hint="use a .csv, .tsv, .csv.gz or .parquet file")


def _read_csv(path: Path, sep: str, contract: Contract | None) -> Dataset:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    header = list(pd.read_csv(path, sep=sep, nrows=0).columns)
    dtypes = {n: r.dtype for n, r in (contract.columns.items() if contract else ()) if r.dtype and n in header}
    missing = {n: [""] if dtypes.get(n) in TEXT else MISSING for n in header}
    frame = pd.read_csv(path, sep=sep, dtype={n: str for n, d in dtypes.items() if d != "float"},
                        keep_default_na=False, na_values=missing)
    unconverted, typed = [], set()
    for column, dtype in dtypes.items():
        text = frame[column]
        if dtype in TEXT or (dtype == "float" and pd.api.types.is_numeric_dtype(text)):
            continue  # pandas reads a float column with one bad value as text: only then convert it
        values = CONVERT[dtype](text)
        bad = (text.notna() & values.isna()).to_numpy()
        if bad.any():
            rows = bad.nonzero()[0]
            unconverted.append(Unconverted(column, rows, text.iloc[rows[:EXAMPLES]].tolist()))
        frame[column] = values
        typed.add(column)
    return Dataset(frame, unconverted, frozenset(typed))


def _int(text: Any) -> Any:
    """Exact 64-bit integers; pyarrow's vectorised string kernels, since a Python loop over a million
    rows costs seconds."""
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]

    trimmed = pc.utf8_trim_whitespace(pa.array(text, type=pa.string(), from_pandas=True))
    # a leading `+` and a zero fraction (`3.0`, which float exports write) are dropped; nothing else is
    digits = pc.if_else(pc.match_substring_regex(trimmed, _INT), pc.replace_substring_regex(trimmed, r"^\+|\.0*$", ""), None)
    try:
        ints = pc.cast(digits, pa.int64())
    except (pa.ArrowInvalid, OverflowError):  # beyond 64 bits: find which, one by one
        ints = pa.array([_int64(v) for v in digits.to_pylist()], type=pa.int64())
    mask = pc.is_null(ints).to_numpy(zero_copy_only=False)
    values = pc.fill_null(ints, 0).to_numpy(zero_copy_only=False)
    return pd.Series(pd.arrays.IntegerArray(values, mask), index=text.index)


def _int64(text: str | None) -> int | None:
    if text is None:
        return None
    number = int(text)
    return number if -2**63 <= number < 2**63 else None


def _float(text: Any) -> Any:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    return pd.to_numeric(text.str.strip(), errors="coerce")


def _bool(text: Any) -> Any:
    return text.str.strip().str.lower().map(_BOOL).astype("boolean")


def _datetime(text: Any) -> Any:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    return pd.to_datetime(text.str.strip(), format="ISO8601", errors="coerce", utc=True).dt.tz_localize(None)


CONVERT: dict[str, Callable[[Any], Any]] = {"int": _int, "float": _float, "bool": _bool, "datetime": _datetime}
