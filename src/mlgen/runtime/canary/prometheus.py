"""The Prometheus text exposition format, read just far enough to compare sample values.

    # HELP http_errors_rate Share of failed requests.
    # TYPE http_errors_rate gauge
    http_errors_rate{route="/predict"} 0.012 1700000000000
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from mlgen.errors import UserError, did_you_mean

_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_SPECIAL = {"+Inf": math.inf, "Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float

    def show(self) -> str:
        labels = ",".join(f'{k}="{v}"' for k, v in self.labels)
        return f"{self.name}{{{labels}}}" if labels else self.name


@dataclass(frozen=True)
class Bound:
    metric: str
    min: float | None = None
    max: float | None = None


def parse(text: str) -> dict[str, list[Sample]]:
    """Samples by metric name. Malformed lines are skipped: one bad line must not hide the rest."""
    samples: dict[str, list[Sample]] = {}
    for line in text.splitlines():
        sample = _parse_line(line.strip())
        if sample is not None:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def _parse_line(line: str) -> Sample | None:
    if not line or line.startswith("#"):
        return None
    match = _NAME.match(line)
    if match is None:
        return None
    name, rest = match.group(0), line[match.end():]
    labels: list[tuple[str, str]] = []
    if rest.startswith("{"):
        end = _closing_brace(rest)
        if end < 0:
            return None
        body, rest = rest[1:end], rest[end + 1:]
        labels = [(m.group(1), m.group(2)) for m in _LABEL.finditer(body)]
    parts = rest.split()
    if not parts:
        return None
    value = _SPECIAL.get(parts[0])
    if value is None:
        try:
            value = float(parts[0])
        except ValueError:
            return None
    return Sample(name, tuple(labels), value)


def _closing_brace(text: str) -> int:
    """Index of the `}` closing the label set, skipping braces inside quoted label values."""
    quoted = escaped = False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "}" and not quoted:
            return i
    return -1


def parse_bound(text: str) -> Bound:
    """`http_errors_rate:max=0.05` (or `min=`, or both, comma-separated)."""
    where = f"--threshold {text}"
    metric, sep, rules = text.rpartition(":")
    if not sep or not _NAME.fullmatch(metric or "-"):
        raise UserError("a threshold is written METRIC:max=VALUE[,min=VALUE]", where=where,
                        hint="e.g. --threshold http_errors_rate:max=0.05")
    values: dict[str, str] = {}
    for item in rules.split(","):
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in ("min", "max"):
            raise UserError(f"unknown threshold rule `{key}`{did_you_mean(key, ('min', 'max'))}", where=where,
                            hint="a threshold takes min and/or max")
        if key in values:
            raise UserError(f"`{key}` is given twice", where=where, hint="give min and max once each, e.g. min=0.1,max=0.5")
        values[key] = value
    return make_bound(metric, values.get("min"), values.get("max"), where=where)


def make_bound(metric: str, low: float | str | None, high: float | str | None, *, where: str) -> Bound:
    """A checked bound: finite numbers, min not above max. A NaN bound would switch the check off
    (every comparison with NaN is false), so it is refused like the gate refuses it."""
    bound = Bound(metric, _finite(low, "min", where), _finite(high, "max", where))
    if bound.min is None and bound.max is None:
        raise UserError(f"threshold `{metric}` has no bound", where=where, hint="give min and/or max, e.g. max=0.05")
    if bound.min is not None and bound.max is not None and bound.min > bound.max:
        raise UserError(f"min {bound.min:g} is above max {bound.max:g}: no value could pass", where=where,
                        hint="swap them, or drop one")
    return bound


def _finite(value: float | str | None, key: str, where: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise UserError(f"{key} `{value}` is not a number", where=where, hint=f"e.g. {key}=0.05") from None
    if not math.isfinite(number):
        raise UserError(f"{key} `{value}` is not a finite number", where=where,
                        hint=f"a NaN or infinite {key} would never be checked; write a number, e.g. {key}=0.05")
    return number


def violation(samples: dict[str, list[Sample]], bound: Bound) -> str | None:
    """Why the samples break the bound, or None. A metric that is absent is a violation."""
    found = samples.get(bound.metric)
    if not found:
        return f"metric `{bound.metric}` is not in the response{did_you_mean(bound.metric, samples)}"
    for sample in found:
        if math.isnan(sample.value):
            return f"{sample.show()} is NaN"
        if bound.max is not None and sample.value > bound.max:
            return f"{sample.show()} = {sample.value:g} > max {bound.max:g}"
        if bound.min is not None and sample.value < bound.min:
            return f"{sample.show()} = {sample.value:g} < min {bound.min:g}"
    return None
