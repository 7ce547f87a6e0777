"""`mlgen gate`: the performance regression test of an evaluate stage.

Absolute gates (`min`, `max`) always apply. Relative gates (`max_drop`, `max_rise`) compare
with the baseline, the production model's metrics; they are absolute units (0.01) or a
percentage of the baseline ("2%"). A missing metric, NaN or malformed file fails; it never passes.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlgen.runtime import reports
from mlgen.runtime.common import RuntimeFailure, did_you_mean, flatten, number, read_json
from mlgen.runtime.reports import FAILED, PASSED, SKIPPED, Check

RULES = ("min", "max", "max_drop", "max_rise")


@dataclass(frozen=True)
class Rule:
    metric: str
    kind: str  # one of RULES
    limit: float
    relative: bool = False  # a percentage of the baseline


@dataclass(frozen=True)
class Outcome:
    metric: str
    rule: str
    status: str
    value: float | None
    baseline: float | None
    threshold: float | None
    detail: str


def parse_gate(text: str) -> list[Rule]:
    """`auc:min=0.8,max_drop=2%` -> rules."""
    metric, sep, body = text.rpartition(":")
    if not sep or not metric or not body:
        raise RuntimeFailure(f"--gate `{text}`: write it as METRIC:RULE=VALUE[,RULE=VALUE], e.g. auc:min=0.8,max_drop=2%")
    rules = []
    for item in body.split(","):
        kind, _, raw = item.partition("=")
        if kind not in RULES:
            raise RuntimeFailure(f"--gate `{text}`: unknown rule `{kind}`; {did_you_mean(kind, list(RULES))}")
        relative = raw.endswith("%")
        try:
            limit = float(raw[:-1] if relative else raw)
        except ValueError:
            raise RuntimeFailure(f"--gate `{text}`: `{raw}` is not a number") from None
        if relative and kind in ("min", "max"):
            raise RuntimeFailure(f"--gate `{text}`: only max_drop/max_rise can be relative (%)")
        rules.append(Rule(metric, kind, limit, relative))
    return rules


def evaluate(rules: list[Rule], metrics: dict[str, Any], baseline: dict[str, Any] | None, on_missing: str) -> list[Outcome]:
    return [_one(rule, metrics, baseline, on_missing) for rule in rules]


def _one(rule: Rule, metrics: dict[str, Any], baseline: dict[str, Any] | None, on_missing: str) -> Outcome:
    name = f"{rule.kind}={rule.limit:g}{'%' if rule.relative else ''}"
    if rule.metric not in metrics:
        return Outcome(rule.metric, name, FAILED, None, None, None,
                       f"metric `{rule.metric}` is missing from the metrics file; {did_you_mean(rule.metric, list(metrics))}")
    value = number(metrics[rule.metric])
    if value is None:
        return Outcome(rule.metric, name, FAILED, None, None, None, f"`{rule.metric}` is {metrics[rule.metric]!r}, not a finite number")
    if rule.kind == "min":
        ok = value >= rule.limit
        return Outcome(rule.metric, name, PASSED if ok else FAILED, value, None, rule.limit, f"{value:g} {'>=' if ok else '<'} {rule.limit:g}")
    if rule.kind == "max":
        ok = value <= rule.limit
        return Outcome(rule.metric, name, PASSED if ok else FAILED, value, None, rule.limit, f"{value:g} {'<=' if ok else '>'} {rule.limit:g}")
    base = number(baseline.get(rule.metric)) if baseline is not None else None
    if base is None:
        why = "no baseline yet (first model)" if baseline is None else f"the baseline has no numeric `{rule.metric}`"
        status = {"absolute": SKIPPED, "fail": FAILED, "pass": PASSED}[on_missing]
        return Outcome(rule.metric, name, status, value, None, None, f"{why}; on_missing_baseline={on_missing}")
    margin = abs(base) * rule.limit / 100 if rule.relative else rule.limit
    if rule.kind == "max_drop":
        threshold = base - margin
        ok = value >= threshold
        change = f"{value - base:+g} vs baseline {base:g}"
        return Outcome(rule.metric, name, PASSED if ok else FAILED, value, base, threshold,
                       f"{value:g} {'>=' if ok else '<'} {threshold:g} ({change})")
    threshold = base + margin
    ok = value <= threshold
    return Outcome(rule.metric, name, PASSED if ok else FAILED, value, base, threshold,
                   f"{value:g} {'<=' if ok else '>'} {threshold:g} ({value - base:+g} vs baseline {base:g})")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mlgen gate", description=(
        "Check model metrics against absolute gates and against the baseline (the production model). "
        "Writes a table to stdout, JUnit XML, a JSON result and, on GitHub, the step summary. Exit 1 if any gate fails."))
    parser.add_argument("--metrics", required=True, type=Path, help="JSON metrics file; nested keys are addressed as a.b")
    parser.add_argument("--gate", action="append", required=True, metavar="METRIC:RULE=VALUE[,...]",
                        help="e.g. auc:min=0.8,max_drop=0.01 or loss:max_rise=5%% (repeatable)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--baseline-file", type=Path, help="JSON metrics of the production model")
    source.add_argument("--baseline-registry", metavar="ALIAS", help="take the baseline from this registry alias, e.g. champion")
    parser.add_argument("--model", help="registered model name (with --baseline-registry)")
    parser.add_argument("--registry", default="mlflow", choices=["mlflow", "command"])
    parser.add_argument("--baseline-command", help="for --registry command: prints the alias's metrics as JSON; {model} {alias}")
    parser.add_argument("--on-missing-baseline", default="absolute", choices=["absolute", "fail", "pass"],
                        help="no baseline yet (first model): apply absolute gates only (default), fail, or pass relative gates")
    parser.add_argument("--junit", type=Path, default=Path(".mlgen/reports/gate.xml"))
    parser.add_argument("--json", type=Path, default=Path(".mlgen/gate.json"), help="machine-readable result (tags in the registry)")
    parser.add_argument("--summary", type=Path, help="Markdown file to append to (default: $GITHUB_STEP_SUMMARY when set)")
    args = parser.parse_args(argv)

    rules = [rule for text in args.gate for rule in parse_gate(text)]
    metrics = _metrics_file(args.metrics)
    baseline, origin = _baseline(args)
    outcomes = evaluate(rules, metrics, baseline, args.on_missing_baseline)
    checks = [Check(f"{o.metric} {o.rule}", o.status, o.detail) for o in outcomes]
    title = f"mlgen gate: {args.metrics} vs {origin}"
    print(reports.table(title, checks))
    reports.write_junit(args.junit, "mlgen.gate", checks)
    reports.append_summary(title, checks, args.summary)
    passed = all(o.status != FAILED for o in outcomes)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"passed": passed, "baseline": origin, "metrics": _numeric(metrics),
                                     "gates": [asdict(o) for o in outcomes]}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0 if passed else 1


def _metrics_file(path: Path) -> dict[str, Any]:
    data = read_json(path, "metrics file")
    if not isinstance(data, dict):
        raise RuntimeFailure(f"{path}: the metrics file must hold a JSON object of metric names to numbers")
    return flatten(data)


def _numeric(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in ((k, number(v)) for k, v in metrics.items()) if v is not None}


def _baseline(args: argparse.Namespace) -> tuple[dict[str, Any] | None, str]:
    if args.baseline_file is not None:
        if not args.baseline_file.exists():
            return None, f"baseline file {args.baseline_file} (missing: first model)"
        data = read_json(args.baseline_file, "baseline file")
        return (flatten(data) if isinstance(data, dict) else None), f"baseline file {args.baseline_file}"
    if args.baseline_registry is not None:
        if not args.model:
            raise RuntimeFailure("--baseline-registry needs --model (the registered model name)")
        from mlgen.runtime import registry

        found = registry.backend(args.registry, baseline=args.baseline_command).metrics(args.model, args.baseline_registry)
        origin = f"{args.model}@{args.baseline_registry}"
        return (flatten(found) if found is not None else None), origin + ("" if found is not None else " (none yet: first model)")
    return None, "no baseline"
