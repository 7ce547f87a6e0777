"""Checking a dataset against a contract with pandera, and drift against a reference.

The contract becomes a pandera DataFrameSchema; pandera's failure cases are then mapped back to
the contract's own words (column + rule), so a report says "tenure: min" rather than
"greater_than_or_equal_to(0)".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgen.runtime.contract import DEFAULT_DRIFT, NUMERIC, ColumnRule, Contract
from mlgen.runtime.drift import DriftResult, ks, psi_categorical, psi_numeric
from mlgen.runtime.errors import UserError
from mlgen.runtime.reports import fmt

# Values that CSV cannot type by itself (ints with gaps read as floats) are converted; values
# that cannot be converted are reported as dtype failures with their rows.
PANDERA_DTYPE = {"int": "Int64", "float": "float64", "str": "str", "bool": "boolean", "datetime": "datetime64[ns]",
                 "category": "category"}
COERCED = {"int", "float", "bool", "datetime", "category"}
EXAMPLES = 5  # offending rows shown per failing check


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

    @property
    def passed(self) -> bool:
        return not self.findings and all(d.passed for d in self.drift)


def read_dataset(path: Path) -> Any:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    name = path.name.lower()
    if not path.exists():
        raise UserError("dataset not found", where=str(path), hint="check the path (DATA arguments or the stage's `data`)")
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if ".csv" in name or name.endswith(".tsv"):
            return pd.read_csv(path, sep="\t" if name.endswith(".tsv") else ",")
    except Exception as exc:  # noqa: BLE001 - pandas/pyarrow raise many types for unreadable files
        raise UserError(f"cannot read the dataset: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                        where=str(path), hint="the file must be valid CSV (with a header row) or Parquet") from None
    raise UserError("unknown dataset format", where=str(path), hint="use a .csv, .tsv, .csv.gz or .parquet file")


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
        checks.append(pa.Check.isin(rule.allowed))
        names.append("allowed")
    if rule.pattern is not None:
        # str_matches anchors only the start; the contract promises a full match
        checks.append(pa.Check.str_matches(rf"(?:{rule.pattern})\Z"))
        names.append("pattern")
    return checks, names


def build_schema(contract: Contract) -> tuple[Any, dict[str | None, list[str]]]:
    import pandera.pandas as pa

    columns = {}
    check_names: dict[str | None, list[str]] = {}
    for name, rule in contract.columns.items():
        checks, check_names[name] = _column_checks(rule)
        columns[name] = pa.Column(PANDERA_DTYPE[rule.dtype] if rule.dtype else None, checks=checks, nullable=rule.nullable,
                                  unique=rule.unique, required=rule.required, coerce=rule.dtype in COERCED, name=name)
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

def check_frame(df: Any, contract: Contract) -> list[Finding]:
    import pandera.pandas as pa

    schema, check_names = build_schema(contract)
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return _findings(exc.failure_cases, contract, check_names, df)
    return []


def _rule_of(case: Any, check_names: dict[str | None, list[str]]) -> tuple[str | None, str]:
    check = str(case["check"])
    if case["schema_context"] == "DataFrameSchema":
        if check == "column_in_dataframe":
            return str(case["failure_case"]), "required"
        if check == "column_in_schema":
            return str(case["failure_case"]), "strict"
        return None, _by_number(check_names[None], case["check_number"], check)
    column = str(case["column"])
    if check.startswith(("coerce_dtype(", "dtype(")):
        return column, "dtype"
    special = {"not_nullable": "nullable", "field_uniqueness": "unique"}
    if check in special:
        return column, special[check]
    return column, _by_number(check_names.get(column, []), case["check_number"], check)


def _by_number(names: list[str], number: Any, fallback: str) -> str:
    try:
        return names[int(number)]
    except (TypeError, ValueError, IndexError):
        return fallback


def _findings(cases: Any, contract: Contract, check_names: dict[str | None, list[str]], df: Any) -> list[Finding]:
    grouped: dict[tuple[str | None, str], list[tuple[Any, Any]]] = {}
    for case in cases.to_dict("records"):
        key = _rule_of(case, check_names)
        grouped.setdefault(key, [])
        index = case["index"]
        pair = (None if _is_missing(index) else index, case["failure_case"])
        if pair not in grouped[key]:  # pandera reports a failed conversion twice (coerce, then dtype)
            grouped[key].append(pair)
    wrong_dtype = {column for column, rule in grouped if rule == "dtype"}
    findings = []
    for (column, rule), pairs in grouped.items():
        rows = [(i, v) for i, v in pairs if i is not None]
        if column in wrong_dtype and rule != "dtype" and not rows:
            continue  # a check that could not run on unconverted values: the dtype finding says why
        findings.append(Finding(column, rule, _message(column, rule, rows, contract, df), [i for i, _ in rows[:EXAMPLES]],
                                [_show(v) for _, v in rows[:EXAMPLES]], len(rows)))
    return sorted(findings, key=lambda f: (f.column or "", f.rule))


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _show(value: Any) -> str:
    return "missing" if _is_missing(value) else repr(value.item() if hasattr(value, "item") else value)


def _message(column: str | None, rule: str, rows: list[tuple[Any, Any]], contract: Contract, df: Any) -> str:
    n = len(rows)
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


# --- drift -------------------------------------------------------------------------------------

def check_drift(df: Any, reference: Any, contract: Contract) -> list[DriftResult]:
    settings = contract.drift or DEFAULT_DRIFT
    results: list[DriftResult] = []
    for column in contract.drift_columns():
        if column not in df or column not in reference:
            continue  # a missing column is already a contract failure
        cur, ref = df[column].dropna(), reference[column].dropna()
        if len(cur) == 0 or len(ref) == 0:
            results.append(DriftResult(column, "psi", float("nan"), False, "no values to compare"))
            continue
        numeric = _is_numeric(contract.columns[column], cur, ref)
        if settings.psi is not None:
            value = psi_numeric(ref, cur, settings.bins) if numeric else psi_categorical(ref, cur)
            results.append(DriftResult(column, "psi", value, value <= settings.psi.max,
                                       f"PSI {value:.4f} {'<=' if value <= settings.psi.max else '>'} {fmt(settings.psi.max)}"))
        if settings.ks is not None and numeric:
            results.append(_ks_result(column, ref, cur, settings.ks.max_statistic, settings.ks.min_pvalue))
    return results


def _is_numeric(rule: ColumnRule, cur: Any, ref: Any) -> bool:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    if rule.dtype is not None:
        return rule.dtype in NUMERIC
    return bool(pd.api.types.is_numeric_dtype(cur) and pd.api.types.is_numeric_dtype(ref)
                and not pd.api.types.is_bool_dtype(cur))


def _ks_result(column: str, ref: Any, cur: Any, max_statistic: float | None, min_pvalue: float | None) -> DriftResult:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    statistic, pvalue = ks(pd.to_numeric(ref, errors="coerce").dropna(), pd.to_numeric(cur, errors="coerce").dropna())
    parts, ok = [], True
    if max_statistic is not None:
        ok &= statistic <= max_statistic
        parts.append(f"KS statistic {statistic:.4f} {'<=' if statistic <= max_statistic else '>'} {fmt(max_statistic)}")
    if min_pvalue is not None:
        ok &= pvalue >= min_pvalue
        parts.append(f"p-value {pvalue:.3g} {'>=' if pvalue >= min_pvalue else '<'} {fmt(min_pvalue)}")
    return DriftResult(column, "ks", statistic, ok, "; ".join(parts))


def check_file(path: Path, contract: Contract, reference: Any | None) -> FileResult:
    df = read_dataset(path)
    findings = check_frame(df, contract)
    drift: list[DriftResult] = []
    note = ""
    if reference is not None:
        drift = check_drift(df, reference, contract)
    elif contract.drift is not None:
        note = "drift not checked: no reference dataset (--reference or the stage's `reference`)"
    return FileResult(str(path), len(df), len(df.columns), checked_rules(contract), findings, drift, note)
