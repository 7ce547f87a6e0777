"""A gate report as people and tools read it: text table, step summary, JUnit cases, JSON result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlgen.runtime.reports import Case, fmt, markdown_table, text_table

if TYPE_CHECKING:
    from mlgen.runtime.gate.rules import Bound, GateOutcome, GateReport, Interval

_WORD = {"passed": "pass", "failed": "FAIL", "skipped": "skip"}
_ICON = {"passed": "✅ pass", "failed": "❌ FAIL", "skipped": "⏭️ skip"}


def _rows(report: GateReport, words: Mapping[str, str]) -> list[list[str]]:
    return [[o.metric, fmt(o.value), fmt(o.baseline), r.rule, r.limit, words[r.status], r.detail]
            for o in report.outcomes for r in o.rules]


_HEADER = ["metric", "value", "baseline", "rule", "limit", "result", "detail"]


def baseline_line(report: GateReport) -> str:
    b = report.baseline
    if b.metrics is None:
        return f"baseline: none ({b.note}); on_missing_baseline: {report.on_missing}"
    return f"baseline: {b.source} {b.ref}"


def verdict(report: GateReport) -> str:
    failed = [o.metric for o in report.outcomes if o.status == "failed"]
    if failed:
        return f"gate FAILED: {len(failed)} of {len(report.outcomes)} gates failed ({', '.join(failed)})"
    skipped = sum(o.status == "skipped" for o in report.outcomes)
    extra = f", {skipped} skipped" if skipped else ""
    return f"gate passed: {len(report.outcomes) - skipped} of {len(report.outcomes)} gates passed{extra}"


def notes(report: GateReport) -> list[str]:
    """How bounds were computed, and the acceptances in force: lines under the table."""
    lines = []
    for o in report.outcomes:
        if o.interval is not None:
            lines.append(f"{o.metric}: {o.interval.describe()}" + (f"; {o.interval.note}" if o.interval.note else ""))
        lines += [f"{o.metric} {r.rule}: {r.accepted}" for r in o.rules if r.accepted]
    return lines


def render_text(report: GateReport) -> str:
    head = f"gate `{report.stage}` on {report.metrics_file}\n{baseline_line(report)}\n\n"
    tail = "".join(f"{line}\n" for line in notes(report))
    return head + text_table(_HEADER, _rows(report, _WORD)) + "\n" + tail + verdict(report) + "\n"


def render_markdown(report: GateReport) -> str:
    title = f"### {'✅' if report.passed else '❌'} mlgen gate `{report.stage}`\n\n"
    tail = "".join(f"- {line}\n" for line in notes(report))
    return (title + f"{baseline_line(report)}\n\n" + markdown_table(_HEADER, _rows(report, _ICON))
            + (f"\n{tail}" if tail else "") + f"\n**{verdict(report)}**\n")


def junit_cases(report: GateReport) -> list[Case]:
    cases = []
    for o in report.outcomes:
        details = "\n".join(f"{r.rule} {r.limit}: {r.status}: {r.detail}" for r in o.rules)
        cases.append(Case(o.metric, f"mlgen.gate.{report.stage}", o.status, _case_message(o), details))
    return cases


def _case_message(outcome: GateOutcome) -> str:
    if outcome.status == "failed":
        return outcome.problem or "; ".join(f"{r.rule} {r.limit}: {r.detail}" for r in outcome.rules if r.status == "failed")
    if outcome.status == "skipped":
        return "; ".join(r.detail for r in outcome.rules)
    return ""


def to_json(report: GateReport) -> dict[str, Any]:
    b = report.baseline
    return {
        "stage": report.stage,
        "passed": report.passed,
        "metrics_file": report.metrics_file,
        "on_missing_baseline": report.on_missing,
        "baseline": {"source": b.source, "ref": b.ref, "found": b.metrics is not None, "note": b.note},
        "metrics": dict(report.metrics),
        # the champion's value of every metric, gated or not, for `mlgen report`
        "baseline_metrics": dict(b.metrics) if b.metrics is not None else None,
        "gates": {o.metric: {"status": o.status, "value": o.value, "baseline": o.baseline, "problem": o.problem,
                             "interval": _interval_json(o.interval),
                             "rules": [{"rule": r.rule, "limit": r.limit, "status": r.status, "detail": r.detail,
                                        **({"accepted": r.accepted} if r.accepted else {})}
                                       for r in o.rules]}
                  for o in report.outcomes},
    }


def _interval_json(interval: Interval | None) -> dict[str, Any] | None:
    if interval is None:
        return None
    return {"challenger": _bound_json(interval.challenger), "difference": _bound_json(interval.difference),
            "confidence": interval.confidence, "resamples": interval.resamples, "seed": interval.seed,
            "pairing": interval.pairing, "note": interval.note}


def _bound_json(bound: Bound | None) -> dict[str, float] | None:
    return None if bound is None else {"estimate": bound.estimate, "lower": bound.lower, "upper": bound.upper}
