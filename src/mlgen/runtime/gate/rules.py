"""Performance gates: absolute thresholds and non-inferiority against a baseline. Pure logic.

A gate passes only on evidence: a missing, non-numeric or non-finite metric fails it. Absolute
rules (min, max) always apply; only a relative rule without a baseline follows on_missing_baseline:
skipped (`absolute`), failed (`fail`) or passed with the reason in its detail (`pass`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mlgen.errors import UserError, did_you_mean
from mlgen.runtime.gate.metrics import as_number, missing_metric_message, numeric_only
from mlgen.runtime.reports import Status, fmt

RULES = ("min", "max", "max_drop", "max_rise")
OPTIONS = ("confidence",)  # how a gate's rules are decided, not a rule of its own
OnMissing = Literal["absolute", "fail", "pass"]
ON_MISSING: tuple[OnMissing, ...] = ("absolute", "fail", "pass")
# `baseline - value` is computed in floating point: 0.85 - 0.84 is 0.010000000000000009, which
# must not fail a `max_drop: 0.01` gate. Differences this small are rounding, not regressions.
_TOLERANCE = 1e-9
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")


@dataclass(frozen=True)
class Limit:
    """An allowed change: absolute units, or a percentage of the baseline."""

    amount: float
    relative: bool

    def text(self) -> str:
        return f"{fmt(self.amount)}%" if self.relative else fmt(self.amount)

    def allowed(self, baseline: float) -> float:
        return self.amount / 100 * abs(baseline) if self.relative else self.amount


@dataclass(frozen=True)
class GateRule:
    metric: str
    min: float | None = None
    max: float | None = None
    max_drop: Limit | None = None
    max_rise: Limit | None = None
    confidence: float | None = None  # decide on one-sided bounds at this confidence (None: the default)
    point_only: bool = False  # `confidence=none`: compare the point values, as without predictions


@dataclass(frozen=True)
class Bound:
    """One-sided bounds at `confidence` each (lower: the 1 - confidence quantile)."""

    estimate: float
    lower: float
    upper: float

    def text(self) -> str:
        return f"{fmt(self.estimate)} [{fmt(self.lower)}, {fmt(self.upper)}]"


@dataclass(frozen=True)
class Interval:
    """What the bootstrap over per-example predictions says about one gated metric."""

    challenger: Bound
    difference: Bound | None  # challenger - champion; None without the champion's predictions
    confidence: float
    resamples: int
    seed: int
    pairing: str  # paired, unpaired (different evaluation sets) or none (no champion predictions)
    note: str = ""  # e.g. why the comparison is unpaired

    def describe(self) -> str:
        return (f"{self.confidence:g} one-sided bounds, {self.resamples} {self.pairing + ' ' if self.pairing != 'none' else ''}"
                f"bootstrap resamples, seed {self.seed}")


@dataclass(frozen=True)
class Baseline:
    source: Literal["file", "registry", "none"]
    ref: str  # the file, or model@alias (version)
    metrics: Mapping[str, Any] | None  # None: there is no baseline (e.g. the first model)
    note: str = ""  # why there is none


NO_BASELINE = Baseline("none", "", None, "no baseline configured")


@dataclass(frozen=True)
class RuleOutcome:
    rule: str
    limit: str
    status: Status
    detail: str
    accepted: str = ""  # the reviewed acceptance that turned a failure into a pass


@dataclass(frozen=True)
class GateOutcome:
    metric: str
    value: float | None
    baseline: float | None
    rules: tuple[RuleOutcome, ...]
    problem: str = ""  # the metric itself is unusable
    interval: Interval | None = None

    @property
    def status(self) -> Status:
        statuses = {r.status for r in self.rules}
        if self.problem or "failed" in statuses:
            return "failed"
        return "skipped" if statuses == {"skipped"} else "passed"


@dataclass(frozen=True)
class GateReport:
    stage: str
    metrics_file: str
    baseline: Baseline
    on_missing: OnMissing
    outcomes: tuple[GateOutcome, ...]
    metrics: Mapping[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(o.status != "failed" for o in self.outcomes)


# --- parsing gates ---------------------------------------------------------------------------

# What each rule takes, for the hint of a value that is not one: a hint about `min` does not help
# someone who wrote `max_drop=abc%`.
RULE_HINTS = {
    "min": "min takes a number, the lowest allowed value: e.g. min=0.85",
    "max": "max takes a number, the highest allowed value: e.g. max=50",
    "max_drop": "max_drop takes a non-negative change in the metric's units or a percentage of the baseline: "
                "e.g. max_drop=0.01 or max_drop=2%",
    "max_rise": "max_rise takes a non-negative change in the metric's units or a percentage of the baseline: "
                "e.g. max_rise=5 or max_rise=10%",
    "confidence": "confidence takes the confidence of each one-sided bound, between 0.5 and 1 (e.g. confidence=0.95), "
                  "or none for a point comparison",
}


def parse_limit(value: float | int | str, *, where: str, rule: str = "max_drop") -> Limit:
    if isinstance(value, str):
        match = _PERCENT.match(value.strip())
        if match:
            return Limit(float(match.group(1)), relative=True)
    value = _parse_number(str(value), where=where, rule=rule)
    if value < 0:
        raise UserError(f"`{value}` is not an allowed change", where=where, hint=RULE_HINTS[rule])
    return Limit(float(value), relative=False)


def _parse_number(text: str, *, where: str, rule: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise UserError(f"`{text}` is not a number", where=where, hint=RULE_HINTS[rule]) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise UserError(f"`{text}` is not a finite number", where=where, hint=RULE_HINTS[rule])
    return number


def gate_from_values(metric: str, values: Mapping[str, Any], *, where: str) -> GateRule:
    """A gate from `{min: .., max_drop: "2%"}`-style values (the spec or a parsed flag)."""
    unknown = [k for k in values if k not in RULES + OPTIONS]
    if unknown:
        raise UserError(f"unknown gate rule `{unknown[0]}`{did_you_mean(unknown[0], RULES + OPTIONS)}", where=where,
                        hint="a gate takes min, max, max_drop and max_rise, and optionally confidence")
    confidence, point_only = _confidence(values.get("confidence"), where=where)
    present = {k: v for k, v in values.items() if v is not None and k in RULES}
    if not present:
        raise UserError(f"gate `{metric}` has no rule", where=where, hint="give at least one of min, max, max_drop, max_rise")
    # Numbers go through the text parser too, so a NaN or infinity from a Python spec is refused alike.
    bounds = {k: _parse_number(str(present[k]), where=f"{where} {k}", rule=k) for k in ("min", "max") if k in present}
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        raise UserError(f"gate `{metric}`: min {bounds['min']} is above max {bounds['max']}", where=where)
    limits = {k: parse_limit(present[k], where=f"{where} {k}", rule=k) for k in ("max_drop", "max_rise") if k in present}
    return GateRule(metric, bounds.get("min"), bounds.get("max"), limits.get("max_drop"), limits.get("max_rise"),
                    confidence=confidence, point_only=point_only)


def _confidence(value: Any, *, where: str) -> tuple[float | None, bool]:
    """`confidence=0.95` -> (0.95, False); `confidence=none` -> (None, True); absent -> (None, False)."""
    if value is None:
        return None, False
    if isinstance(value, str) and value.strip().lower() == "none":
        return None, True
    number = _parse_number(str(value), where=where, rule="confidence")
    if not 0.5 < number < 1:
        raise UserError(f"confidence `{value}` is not between 0.5 and 1", where=where, hint=RULE_HINTS["confidence"])
    return number, False


def parse_gate_flag(text: str) -> GateRule:
    """`auc:min=0.8,max_drop=2%` -> GateRule. The metric may itself contain `:`."""
    where = f"--gate {text}"
    metric, sep, rules = text.rpartition(":")
    if not sep or not metric or not rules:
        raise UserError("a gate is written METRIC:RULE=VALUE[,RULE=VALUE...]", where=where,
                        hint="e.g. --gate accuracy:min=0.85 or --gate auc:min=0.8,max_drop=1%")
    values: dict[str, str] = {}
    for item in rules.split(","):
        key, eq, value = item.partition("=")
        if not eq or not value.strip():
            raise UserError(f"`{item}` is not RULE=VALUE", where=where, hint="e.g. min=0.85, max=50, max_drop=0.01, max_rise=5%")
        if key.strip() in values:
            raise UserError(f"rule `{key.strip()}` is given twice", where=where)
        values[key.strip()] = value.strip()
    return gate_from_values(metric, values, where=where)


# --- evaluating gates ------------------------------------------------------------------------

def evaluate(stage: str, metrics_file: str, metrics: Mapping[str, Any], gates: list[GateRule],
             baseline: Baseline, on_missing: OnMissing, intervals: Mapping[str, Interval] | None = None) -> GateReport:
    intervals = intervals or {}
    outcomes = tuple(_with_interval(_evaluate_gate(g, metrics, baseline, on_missing), g, intervals.get(g.metric), baseline)
                     for g in gates)
    return GateReport(stage, metrics_file, baseline, on_missing, outcomes, numeric_only(dict(metrics)))


def _with_interval(outcome: GateOutcome, gate: GateRule, interval: Interval | None, baseline: Baseline) -> GateOutcome:
    """Decide the rules on the bootstrap's bounds instead of the point values, where there are bounds."""
    if interval is None or outcome.problem:
        return outcome
    rules = tuple(_bounded(r, gate, interval, outcome) if r.rule in ("min", "max") or outcome.baseline is not None else r
                  for r in outcome.rules)
    return GateOutcome(outcome.metric, outcome.value, outcome.baseline, rules, outcome.problem, interval)


def _bounded(rule: RuleOutcome, gate: GateRule, interval: Interval, outcome: GateOutcome) -> RuleOutcome:
    own = interval.challenger
    if rule.rule == "min":
        assert gate.min is not None
        ok = own.lower >= gate.min
        return RuleOutcome(rule.rule, rule.limit, _status(ok), f"lower bound {fmt(own.lower)} {'>=' if ok else '<'} "
                                                               f"{fmt(gate.min)}; {own.text()}")
    if rule.rule == "max":
        assert gate.max is not None
        ok = own.upper <= gate.max
        return RuleOutcome(rule.rule, rule.limit, _status(ok), f"upper bound {fmt(own.upper)} {'<=' if ok else '>'} "
                                                               f"{fmt(gate.max)}; {own.text()}")
    limit = gate.max_drop if rule.rule == "max_drop" else gate.max_rise
    assert limit is not None and outcome.baseline is not None
    allowed = limit.allowed(outcome.baseline)
    diff = interval.difference
    if diff is None:
        # No champion predictions: the champion's value is taken as exact, the challenger's noise still counts.
        diff = Bound(own.estimate - outcome.baseline, own.lower - outcome.baseline, own.upper - outcome.baseline)
    if rule.rule == "max_drop":
        ok = diff.lower >= -allowed - _TOLERANCE
        test = f"change lower bound {fmt(diff.lower)} {'>=' if ok else '<'} -{fmt(allowed)}"
    else:
        ok = diff.upper <= allowed + _TOLERANCE
        test = f"change upper bound {fmt(diff.upper)} {'<=' if ok else '>'} {fmt(allowed)}"
    vs = {"paired": "paired with the champion", "unpaired": "unpaired", "none": "champion value taken as exact"}[interval.pairing]
    return RuleOutcome(rule.rule, rule.limit, _status(ok), f"{test}; change {diff.text()} ({vs})")


def _evaluate_gate(gate: GateRule, metrics: Mapping[str, Any], baseline: Baseline, on_missing: OnMissing) -> GateOutcome:
    rules = _rule_limits(gate)
    if gate.metric not in metrics:
        return _unusable(gate, rules, missing_metric_message(gate.metric, metrics))
    value = as_number(metrics[gate.metric])
    if isinstance(value, str):
        return _unusable(gate, rules, f"metric `{gate.metric}` {value}")
    base = _baseline_value(gate.metric, baseline)
    outcomes = tuple(_check(rule, gate, value, base, on_missing) for rule, _ in rules)
    return GateOutcome(gate.metric, value, base.value, outcomes)


def _rule_limits(gate: GateRule) -> list[tuple[str, str]]:
    limits = {"min": gate.min, "max": gate.max, "max_drop": gate.max_drop, "max_rise": gate.max_rise}
    return [(rule, limit.text() if isinstance(limit, Limit) else fmt(limit))
            for rule, limit in limits.items() if limit is not None]


def _unusable(gate: GateRule, rules: list[tuple[str, str]], problem: str) -> GateOutcome:
    return GateOutcome(gate.metric, None, None, tuple(RuleOutcome(r, lim, "failed", problem) for r, lim in rules), problem)


@dataclass(frozen=True)
class _BaselineValue:
    value: float | None
    why_none: str = ""
    broken: bool = False  # the baseline exists but its value is unusable: never a pass


def _baseline_value(metric: str, baseline: Baseline) -> _BaselineValue:
    if baseline.metrics is None:
        return _BaselineValue(None, f"no baseline ({baseline.note})")
    if metric not in baseline.metrics:
        return _BaselineValue(None, f"the baseline {baseline.ref} has no metric `{metric}`")
    value = as_number(baseline.metrics[metric])
    if isinstance(value, str):
        return _BaselineValue(None, f"the baseline's `{metric}` {value}", broken=True)
    return _BaselineValue(value)


def _check(rule: str, gate: GateRule, value: float, base: _BaselineValue, on_missing: OnMissing) -> RuleOutcome:
    if rule == "min":
        assert gate.min is not None
        ok = value >= gate.min
        return RuleOutcome(rule, fmt(gate.min), _status(ok), f"{fmt(value)} {'>=' if ok else '<'} {fmt(gate.min)}")
    if rule == "max":
        assert gate.max is not None
        ok = value <= gate.max
        return RuleOutcome(rule, fmt(gate.max), _status(ok), f"{fmt(value)} {'<=' if ok else '>'} {fmt(gate.max)}")
    limit = gate.max_drop if rule == "max_drop" else gate.max_rise
    assert limit is not None
    if base.value is None:
        return _no_baseline(rule, limit, base, on_missing)
    return _relative(rule, limit, value, base.value)


def _no_baseline(rule: str, limit: Limit, base: _BaselineValue, on_missing: OnMissing) -> RuleOutcome:
    if base.broken:
        return RuleOutcome(rule, limit.text(), "failed", base.why_none)
    if on_missing == "fail":
        return RuleOutcome(rule, limit.text(), "failed", f"{base.why_none}; on_missing_baseline is `fail`")
    if on_missing == "pass":
        return RuleOutcome(rule, limit.text(), "passed", f"{base.why_none}; passed: on_missing_baseline is `pass`")
    return RuleOutcome(rule, limit.text(), "skipped", base.why_none)


def _relative(rule: str, limit: Limit, value: float, base: float) -> RuleOutcome:
    change = base - value if rule == "max_drop" else value - base
    allowed = limit.allowed(base)
    ok = change <= allowed + _TOLERANCE * max(1.0, abs(base), abs(value))
    moved = "dropped" if value < base else "rose" if value > base else "unchanged"
    percent = f" ({abs(value - base) / abs(base) * 100:.3g}%)" if base else ""
    detail = f"{moved} {fmt(abs(value - base))}{percent} vs baseline {fmt(base)}; allowed {limit.text()}"
    if limit.relative:
        detail += f" = {fmt(allowed)}"
    return RuleOutcome(rule, limit.text(), _status(ok), detail)


def _status(ok: bool) -> Status:
    return "passed" if ok else "failed"


def accept(report: GateReport, acceptances: Any, model: str | None, today: Any) -> GateReport:
    """Turn failed rules that a reviewed, unexpired acceptance names into passes that say so."""
    from mlgen.runtime.gate import acceptance

    outcomes = []
    for o in report.outcomes:
        rules = []
        for r in o.rules:
            if r.status == "failed" and not o.problem:
                active, expired = acceptance.find(acceptances, model, o.metric, r.rule, today)
                if active is not None:
                    r = RuleOutcome(r.rule, r.limit, "passed", f"ACCEPTED: {r.detail}", active.text())
                elif expired is not None:
                    r = RuleOutcome(r.rule, r.limit, r.status, f"{r.detail}; the acceptance in {expired.source} "
                                                               f"expired on {expired.expires.isoformat()}")
            rules.append(r)
        outcomes.append(GateOutcome(o.metric, o.value, o.baseline, tuple(rules), o.problem, o.interval))
    return GateReport(report.stage, report.metrics_file, report.baseline, report.on_missing, tuple(outcomes), report.metrics)
