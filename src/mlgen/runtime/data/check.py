"""Checking a dataset against a contract with pandera, and drift against a reference.

The contract becomes a pandera DataFrameSchema; pandera's failure cases are then mapped back to
the contract's own words (column + rule), so a report says "tenure: min" rather than
"greater_than_or_equal_to(0)".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgen.errors import UserError
from mlgen.runtime.data.contract import ColumnRule, Contract
from mlgen.runtime.data.drift import DriftResult, check_drift
from mlgen.runtime.data.read import EXAMPLES, TEXT, Dataset, Unconverted, read_dataset
from mlgen.runtime.reports import fmt

# CSV columns arrive converted by `dataread`; other formats (Parquet) are coerced by pandera, and
# values that cannot be converted are reported as dtype failures with their rows.
PANDERA_DTYPE = {"int": "Int64", "float": "float64", "str": "str", "bool": "boolean", "datetime": "datetime64[ns]",
                 "category": "category"}
COERCED = {"int", "float", "bool", "datetime", "category"}


@dataclass
class Finding:
    """One failed rule: which column, which rule, how many rows, and a few of them."""

    column: str | None  # None: the whole table (row counts)
    rule: str
    message: str
    rows: list[Any] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    count: int = 0

    def describe(self) -> str:
        text = f"{self.column}: {self.rule}: {self.message}" if self.column else f"{self.rule}: {self.message}"
        if self.rows:
            shown = ", ".join(f"{r} ({v})" for r, v in zip(self.rows, self.values, strict=True))
            more = f", ... {self.count - len(self.rows)} more" if self.count > len(self.rows) else ""
            text += f"; at rows {shown}{more}"
        return text


@dataclass
class FileResult:
    path: str
    rows: int
    columns: int
    rules: list[tuple[str | None, str]]  # every (column, rule) that was checked
    findings: list[Finding]
    drift: list[DriftResult]
    drift_note: str = ""
    readable: bool = True  # False: the file is missing or not CSV/Parquet (one `file` finding says why)

    @property
    def passed(self) -> bool:
        return not self.findings and all(d.passed for d in self.drift)


# --- the schema --------------------------------------------------------------------------------

def _column_checks(rule: ColumnRule) -> tuple[list[Any], list[str]]:
    """pandera checks and, in the same order, the contract rule each one enforces."""
    import pandera.pandas as pa

    checks: list[Any] = []
    names: list[str] = []
    if rule.min is not None:
        checks.append(pa.Check.ge(rule.min))
        names.append("min")
    if rule.max is not None:
        checks.append(pa.Check.le(rule.max))
        names.append("max")
    if rule.allowed is not None:
        checks.append(pa.Check.isin(allowed_values(rule)))
        names.append("allowed")
    if rule.pattern is not None:
        # str_matches anchors only the start; the contract promises a full match
        checks.append(pa.Check.str_matches(rf"(?:{rule.pattern})\Z"))
        names.append("pattern")
    return checks, names


def allowed_values(rule: ColumnRule) -> list[Any]:
    """A text column holds text: `allowed: [0, 1]` there means the values "0" and "1"."""
    values = rule.allowed or []
    return [v if isinstance(v, str) else str(v) for v in values] if rule.dtype in TEXT else list(values)


def build_schema(contract: Contract, typed: frozenset[str] = frozenset()) -> tuple[Any, dict[str | None, list[str]]]:
    """The pandera schema; columns in `typed` already have the contract's dtype (see `dataread`)."""
    import pandera.pandas as pa

    columns = {}
    check_names: dict[str | None, list[str]] = {}
    for name, rule in contract.columns.items():
        checks, check_names[name] = _column_checks(rule)
        dtype = PANDERA_DTYPE[rule.dtype] if rule.dtype and name not in typed else None
        columns[name] = pa.Column(dtype, checks=checks, nullable=rule.nullable, unique=rule.unique,
                                  required=rule.required, coerce=dtype is not None and rule.dtype in COERCED, name=name)
    table_checks: list[Any] = []
    check_names[None] = []
    if contract.rows and contract.rows.min is not None:
        low = contract.rows.min
        table_checks.append(pa.Check(lambda df: len(df) >= low, element_wise=False))
        check_names[None].append("rows.min")
    if contract.rows and contract.rows.max is not None:
        high = contract.rows.max
        table_checks.append(pa.Check(lambda df: len(df) <= high, element_wise=False))
        check_names[None].append("rows.max")
    return pa.DataFrameSchema(columns, checks=table_checks, strict=contract.strict), check_names


def checked_rules(contract: Contract) -> list[tuple[str | None, str]]:
    """Every (column, rule) pair the contract states: one JUnit test case each."""
    rules: list[tuple[str | None, str]] = []
    if contract.rows:
        rules += [(None, f"rows.{k}") for k in ("min", "max") if getattr(contract.rows, k) is not None]
    if contract.strict:
        rules.append((None, "strict"))
    for name, rule in contract.columns.items():
        rules += [(name, r) for r, on in (("required", rule.required), ("dtype", rule.dtype),
                                          ("nullable", not rule.nullable), ("unique", rule.unique),
                                          ("min", rule.min is not None), ("max", rule.max is not None),
                                          ("allowed", rule.allowed is not None), ("pattern", rule.pattern)) if on]
    return rules


# --- running it --------------------------------------------------------------------------------

def check_frame(data: Dataset, contract: Contract) -> list[Finding]:
    import pandera.pandas as pa

    schema, check_names = build_schema(contract, data.typed)
    findings = [_unconverted(u, contract) for u in data.unconverted]
    # The table first (columns present, strict, row counts), then one column at a time: pandera
    # holds every failure case of a validation in memory, and a file failing rules of several
    # columns on every row would otherwise hold all of them at once.
    table = pa.DataFrameSchema({n: pa.Column(None, nullable=True, required=c.required, name=n)
                                for n, c in schema.columns.items()}, checks=schema.checks, strict=schema.strict)
    findings += _validate(table, data.frame, contract, check_names, data)
    for name, column in schema.columns.items():
        if name in data.frame:
            frame = data.frame[[name]]
            findings += _validate(pa.DataFrameSchema({name: column}), frame, contract, check_names, data)
            if column.coerce:
                data.frame[name] = frame[name]  # pandera's conversion (Parquet): drift compares those values
    return sorted(findings, key=lambda f: (f.column or "", f.rule))


def _validate(schema: Any, frame: Any, contract: Contract, check_names: dict[str | None, list[str]],
              data: Dataset) -> list[Finding]:
    import pandera.pandas as pa

    try:
        # in place: a copy of a large frame would double the memory the check needs
        schema.validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as exc:
        return _findings(exc.failure_cases, contract, check_names, data)
    return []


def _unconverted(bad: Unconverted, contract: Contract) -> Finding:
    rows = [int(r) for r in bad.rows[:EXAMPLES]]
    return Finding(bad.column, "dtype", f"{len(bad.rows)} value(s) are not {contract.columns[bad.column].dtype}",
                   rows, [repr(v) for v in bad.values], len(bad.rows))


def _rule_of(context: Any, column: Any, check: Any, number: Any,
             check_names: dict[str | None, list[str]]) -> tuple[str | None, str]:
    check = str(check)
    if context == "DataFrameSchema":
        if check == "column_in_dataframe":
            return str(column), "required"
        if check == "column_in_schema":
            return str(column), "strict"
        return None, _by_number(check_names[None], number, check)
    column = str(column)
    if check.startswith(("coerce_dtype(", "dtype(")):
        return column, "dtype"
    special = {"not_nullable": "nullable", "field_uniqueness": "unique"}
    if check in special:
        return column, special[check]
    return column, _by_number(check_names.get(column, []), number, check)


def _by_number(names: list[str], number: Any, fallback: str) -> str:
    try:
        return names[int(number)]
    except (TypeError, ValueError, IndexError):
        return fallback


def _findings(cases: Any, contract: Contract, check_names: dict[str | None, list[str]], data: Dataset) -> list[Finding]:
    """Group pandera's failure cases by contract rule: counts, and the first rows of each.

    A rule can fail on every row of a large file, so this stays in vectorised pandas: one pass per
    (column, check) group, never a Python loop over rows.
    """
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    parts: dict[tuple[str | None, str], list[Any]] = {}
    for (context, column, check, number), group in cases.groupby(
            ["schema_context", "column", "check", "check_number"], dropna=False, sort=False):
        if context == "DataFrameSchema" and check in ("column_in_dataframe", "column_in_schema"):
            for name in group["failure_case"].unique():  # one case per column: few
                parts.setdefault(_rule_of(context, name, check, number, check_names), []).append(group.iloc[:0])
        else:
            parts.setdefault(_rule_of(context, column, check, number, check_names), []).append(group)
    unconverted = {u.column: u.rows for u in data.unconverted}
    wrong_dtype = {column for column, rule in parts if rule == "dtype"} | set(unconverted)
    findings = []
    for (column, rule), groups in parts.items():
        cases_of_rule = pd.concat(groups)
        located = cases_of_rule[cases_of_rule["index"].notna()]
        # pandera reports a failed conversion twice (coerce, then dtype): count each row once
        located = located.drop_duplicates("index")
        if rule == "nullable" and column in unconverted:  # missing because it did not convert: the dtype finding says so
            located = located[~located["index"].isin(unconverted[column])]
            if located.empty:
                continue
        if column in wrong_dtype and rule != "dtype" and located.empty:
            continue  # a check that could not run on unconverted values: the dtype finding says why
        first = _first_rows(located)
        findings.append(Finding(column, rule, _message(column, rule, len(located), contract, data.frame),
                                [_row(i) for i in first["index"]], [_show(v) for v in first["failure_case"]], len(located)))
    return findings


def _first_rows(located: Any) -> Any:
    """The EXAMPLES cases of the earliest rows, without sorting them all (a partial selection)."""
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    if pd.api.types.is_numeric_dtype(located["index"]):
        return located.nsmallest(EXAMPLES, "index", keep="first")
    return located.head(EXAMPLES)  # a Parquet file's own index: keep pandera's order


def _row(index: Any) -> Any:
    return index.item() if hasattr(index, "item") else index


def _is_missing(value: Any) -> bool:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    return bool(pd.api.types.is_scalar(value) and pd.isna(value))  # None, NaN, NaT and pd.NA alike


def _show(value: Any) -> str:
    return "missing" if _is_missing(value) else repr(value.item() if hasattr(value, "item") else value)


def _message(column: str | None, rule: str, n: int, contract: Contract, df: Any) -> str:
    spec = contract.columns.get(column) if column else None
    if rule in ("rows.min", "rows.max") and contract.rows:
        bound = contract.rows.min if rule == "rows.min" else contract.rows.max
        return f"{len(df)} rows; the contract wants {'at least' if rule == 'rows.min' else 'at most'} {bound}"
    texts = {
        "required": "the column is missing",
        "strict": "the column is not in the contract (strict: true)",
        "dtype": f"{n} value(s) are not {spec.dtype if spec else '?'}" if n else
                 f"the column has dtype {df[column].dtype if column in df else '?'}, not {spec.dtype if spec else '?'}",
        "nullable": f"{n} missing value(s)",
        "unique": f"{n} duplicated value(s)",
        "min": f"{n} value(s) below {fmt(spec.min) if spec else '?'}",
        "max": f"{n} value(s) above {fmt(spec.max) if spec else '?'}",
        "allowed": f"{n} value(s) outside {spec.allowed if spec else '?'}",
        "pattern": f"{n} value(s) do not match {spec.pattern if spec else '?'}",
    }
    return texts.get(rule, f"{n} failing value(s)")


# --- one file ----------------------------------------------------------------------------------

def check_file(path: Path, contract: Contract, reference: Any | None, reference_error: str = "") -> FileResult:
    """Contract and drift for one file; a file that cannot be read is a failed `file` check, not an abort."""
    try:
        data = read_dataset(path, contract)
    except UserError as exc:
        text = f"{exc.message}; {exc.hint}" if exc.hint else exc.message
        return FileResult(str(path), 0, 0, [(None, "file")], [Finding(None, "file", text)], [], readable=False)
    findings = check_frame(data, contract)
    drift: list[DriftResult] = []
    note = ""
    if reference is not None:
        drift = check_drift(data.frame, reference, contract)
    elif reference_error:
        drift = [DriftResult("(reference)", "read", float("nan"), False, reference_error)]
    elif contract.drift is not None:
        note = "drift not checked: no reference dataset (--reference or the stage's `reference`)"
    df = data.frame
    return FileResult(str(path), len(df), len(df.columns), checked_rules(contract), findings, drift, note)
