"""Data contracts: a small YAML format, validated with pydantic at the boundary.

The format is ours rather than pandera's own YAML schema: it reads like the data (one entry per
column, with `min`, `allowed`, `nullable`...), covers row counts and drift, and every problem is
reported with file:line:col. `datacheck` translates it into a pandera DataFrameSchema.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlgen.errors import ContractError, Problem, UserError, did_you_mean
from mlgen.spec.source import KEY

DType = Literal["int", "float", "str", "bool", "datetime", "category"]
NUMERIC: tuple[str, ...] = ("int", "float")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnRule(_Model):
    dtype: DType | None = Field(None, description="int, float, str, bool, datetime or category; values are converted, "
                                                  "and those that cannot be are reported")
    nullable: bool = Field(False, description="whether missing values are allowed")
    required: bool = Field(True, description="whether the column must exist")
    unique: bool = False
    min: float | None = Field(None, description="smallest allowed value (inclusive)")
    max: float | None = Field(None, description="largest allowed value (inclusive)")
    allowed: list[str | int | float | bool] | None = Field(None, min_length=1, description="the only values allowed")
    pattern: str | None = Field(None, description="regular expression every value must match (full match)")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ColumnRule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"`min` ({self.min}) is above `max` ({self.max})")
        if (self.min is not None or self.max is not None) and self.dtype not in (None, *NUMERIC):
            raise ValueError(f"`min`/`max` need a numeric dtype (int or float), not {self.dtype}")
        if self.pattern is not None and self.dtype not in (None, "str", "category"):
            raise ValueError(f"`pattern` needs dtype str, not {self.dtype}")
        if self.dtype in ("str", "category"):
            # text is compared as written: 7 can only mean "7", but 1.0 might be "1" or "1.0"
            unclear = [v for v in self.allowed or [] if isinstance(v, (bool, float))]
            if unclear:
                raise ValueError(f"`allowed` of a {self.dtype} column is text: quote {unclear[0]!r} as it is written "
                                 "in the data, e.g. '1.0' or 'true'")
        return self


class Rows(_Model):
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _order(self) -> Rows:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"`min` ({self.min}) is above `max` ({self.max})")
        return self


class Psi(_Model):
    max: float = Field(0.2, gt=0, description="largest allowed population stability index (0.1 small, 0.25 large shift)")


class Ks(_Model):
    max_statistic: float | None = Field(None, gt=0, le=1, description="largest allowed KS distance between the CDFs")
    min_pvalue: float | None = Field(None, ge=0, le=1, description="smallest allowed two-sample KS p-value")

    @model_validator(mode="after")
    def _some(self) -> Ks:
        if self.max_statistic is None and self.min_pvalue is None:
            raise ValueError("`ks` needs `max_statistic` and/or `min_pvalue`")
        return self


class Drift(_Model):
    columns: list[str] | None = Field(None, description="columns to compare (default: every contract column that is not unique)")
    bins: int = Field(10, ge=2, le=100, description="quantile bins of the reference for numeric PSI")
    psi: Psi | None = None
    ks: Ks | None = None

    @model_validator(mode="after")
    def _some(self) -> Drift:
        if self.psi is None and self.ks is None:
            raise ValueError("`drift` needs `psi` and/or `ks`")
        return self


class Contract(_Model):
    description: str | None = None
    rows: Rows | None = None
    strict: bool = Field(False, description="columns that are not in the contract are an error")
    columns: dict[str, ColumnRule] = Field(min_length=1)
    drift: Drift | None = None

    @model_validator(mode="after")
    def _drift_columns(self) -> Contract:
        for name in (self.drift.columns or []) if self.drift else []:
            if name not in self.columns:
                raise ValueError(f"drift column `{name}` is not in `columns`{did_you_mean(name, self.columns)}")
        return self

    def drift_columns(self) -> list[str]:
        if self.drift is None or self.drift.columns is None:
            return [name for name, rule in self.columns.items() if not rule.unique]
        return list(self.drift.columns)


DEFAULT_DRIFT = Drift(psi=Psi())  # used when a reference is given but the contract says nothing


def load_contract(path: Path) -> Contract:
    display = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError("data contract not found", where=display,
                        hint="check the path (--contract or the validate stage's `contract`)") from None
    except OSError as exc:
        raise UserError(f"cannot read the data contract: {exc.strerror}", where=display) from None
    data, positions = _parse(raw, display)
    try:
        return Contract.model_validate(data)
    except ValidationError as exc:
        raise ContractError([_problem(e, display, positions) for e in exc.errors(include_url=False)]) from None


def _parse(raw: bytes, display: str) -> tuple[Any, dict[Any, tuple[int, int]]]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    from mlgen.spec.source import plain_with_positions  # the spec reader's position walker: one way of locating YAML values

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        node = yaml.load(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ContractError([Problem(display, 0, 0, f"not UTF-8 text (byte {exc.start})", "save the file as UTF-8")]) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        text = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ContractError([Problem(display, line, col, f"invalid YAML: {text}", "fix the YAML syntax here")]) from None
    except YAMLError as exc:
        raise ContractError([Problem(display, 0, 0, f"invalid YAML: {exc}")]) from None
    positions: dict[Any, tuple[int, int]] = {}
    data = plain_with_positions(node, (), positions)
    if not isinstance(data, dict):
        raise ContractError([Problem(display, 1, 1, "a data contract is a YAML mapping with a `columns` key",
                                     "start with:\ncolumns:\n  age: {dtype: int, min: 0}")])
    return data, positions


def _problem(error: Any, display: str, positions: dict[Any, tuple[int, int]]) -> Problem:
    loc = _clean(tuple(error["loc"]))
    # an unknown key is pointed at itself, not at its value
    line, col = _where((*loc, KEY) if error["type"] == "extra_forbidden" else loc, positions)
    where = ".".join(str(p) for p in loc) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    hint = ""
    if error["type"] == "extra_forbidden":
        parent = _model_at(loc[:-1])
        message = f"unknown key `{loc[-1]}`{did_you_mean(str(loc[-1]), parent.model_fields) if parent else ''}"
        hint = f"allowed here: {', '.join(parent.model_fields)}" if parent else ""
    elif error["type"] == "literal_error" and loc[-1:] == ("dtype",):
        hint = "dtype is one of: int, float, str, bool, datetime, category"
    return Problem(display, line, col, f"{where}: {message}", hint)


_UNION_TAGS = {"str", "int", "float", "bool"}


def _clean(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """pydantic adds the union member tried (`allowed.2.int`); keep only real keys and indexes."""
    out: list[Any] = []
    for part in loc:
        if not (isinstance(part, str) and part in _UNION_TAGS and out and isinstance(out[-1], int)):
            out.append(part)
    return tuple(out)


def _where(loc: tuple[Any, ...], positions: dict[Any, tuple[int, int]]) -> tuple[int, int]:
    while loc not in positions and loc:
        loc = loc[:-1]  # a value pydantic added (a default) sits where its closest parent does
    return positions.get(loc, (0, 0))


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc`, for "allowed keys" hints."""
    if not loc:
        return Contract
    if loc[0] == "columns":
        return ColumnRule if len(loc) == 2 else None
    nested: dict[tuple[str, ...], type[BaseModel]] = {
        ("rows",): Rows, ("drift",): Drift, ("drift", "psi"): Psi, ("drift", "ks"): Ks}
    return nested.get(tuple(str(p) for p in loc))
