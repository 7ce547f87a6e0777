"""The review report's data: what the run did to the model, built from the results earlier jobs wrote.

Pure: `build` takes the parsed inputs (`Inputs`, read by `inputs.py`) and returns one `Report`;
`to_json` and `markdown.render` are its two renderings. A missing input becomes a section that
says so, never an error: the report is most useful exactly when a stage before it failed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mlgen.runtime.gate.metrics import as_number

NOT_GATED = "not gated"


@dataclass(frozen=True)
class Missing:
    """An input that is not there, and why (shown in place of its section)."""

    what: str
    why: str


@dataclass(frozen=True)
class Inputs:
    """Everything the report is built from, already parsed (JSON objects, or `Missing`)."""

    pipeline: str
    stage: str
    gate: Mapping[str, Any] | Missing
    data: list[tuple[str, Mapping[str, Any]]]  # (file it came from, `mlgen data check` JSON)
    data_missing: str = ""  # why there is no data check result, when `data` is empty
    training: list[Mapping[str, Any]] = field(default_factory=list)  # `mlgen cache hit` records
    matrix: Mapping[str, list[str]] = field(default_factory=dict)  # train matrix key (upper-cased) -> values
    graph: str | None = None
    metrics_file: Mapping[str, Any] | None = None  # the flattened metrics file itself, when readable here
    run_url: str | None = None
    artifacts_url: str | None = None
    model: str | None = None
    registry_version: str | None = None
    registry_url: str | None = None  # its page in the registry's UI, when it has one


@dataclass(frozen=True)
class Interval:
    confidence: float
    lower: float
    upper: float
    of: str  # "difference" (challenger - champion) or "challenger" (its own value)
    resamples: int
    seed: int
    pairing: str
    note: str = ""


@dataclass(frozen=True)
class MetricRow:
    metric: str
    challenger: float | str | None  # a number, a text value (e.g. the chosen model's name) or absent
    champion: float | str | None
    delta: float | None
    relative: float | None  # delta / |champion|; None when the champion is 0 or absent
    rules: list[str]  # e.g. ["min 0.75", "max_drop 0.01"]
    verdict: str  # passed, failed, skipped or NOT_GATED
    details: list[str]  # one line per rule outcome
    interval: Interval | None = None


@dataclass(frozen=True)
class DriftRow:
    file: str
    column: str
    method: str
    value: float | None
    verdict: str  # passed, failed or skipped
    detail: str


@dataclass(frozen=True)
class DataResult:
    stage: str
    contract: str
    passed: bool
    findings: list[str]
    drift: list[DriftRow]


@dataclass(frozen=True)
class TrainingRow:
    stage: str
    leg: dict[str, str]
    cache: str  # hit, miss
    reason: str
    chosen: bool | None  # this matrix leg is the one the evaluate stage picked (None: not known)


@dataclass(frozen=True)
class Report:
    pipeline: str
    stage: str
    verdict: str  # passed, failed, not-run
    headline: str
    metrics: list[MetricRow] | Missing
    baseline: str
    data: list[DataResult] | Missing
    training: list[TrainingRow] | Missing
    chosen_leg: dict[str, str]
    graph: str | None
    links: dict[str, str]

    @property
    def marker(self) -> str:
        return marker(self.pipeline, self.stage)


def marker(pipeline: str, stage: str) -> str:
    """The hidden line that identifies this report's comment on a pull/merge request.

    Spec names are already plain; a `--pipeline` text is made so too, as `-->` or a line break
    in it would end the hidden comment and show the rest (and `--` is not allowed inside one).
    """
    return f"<!-- mlgen-report:{_plain(pipeline)}:{_plain(stage)} -->"


def _plain(name: str) -> str:
    return re.sub(r"-(?=-)", "-_", re.sub(r"[^A-Za-z0-9._-]", "_", name))


def build(inputs: Inputs) -> Report:
    metrics = _metrics(inputs.gate, inputs.metrics_file)
    chosen = _chosen_leg(inputs)
    verdict, headline = _verdict(inputs, metrics)
    return Report(inputs.pipeline, inputs.stage, verdict, headline, metrics, _baseline(inputs.gate),
                  _data(inputs), _training(inputs, chosen), chosen, inputs.graph, _links(inputs))


def to_json(report: Report) -> dict[str, Any]:
    data = asdict(report)
    for key in ("metrics", "data", "training"):
        value = getattr(report, key)
        if isinstance(value, Missing):
            data[key] = {"missing": value.why}
    data["marker"] = report.marker
    finite: dict[str, Any] = _finite(data)
    return finite


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such values are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# --- metrics ---------------------------------------------------------------------------------

def _metrics(gate: Mapping[str, Any] | Missing, file: Mapping[str, Any] | None) -> list[MetricRow] | Missing:
    if isinstance(gate, Missing):
        return gate
    # the gate result keeps the numeric metrics only; the file itself also has text values
    values: Mapping[str, Any] = {**(gate.get("metrics") or {}), **(file or {})}
    champion: Mapping[str, Any] = gate.get("baseline_metrics") or {}
    gates: Mapping[str, Any] = gate.get("gates") or {}
    # gated metrics first, in the order of the gates; then every other metric by name
    names = [*gates, *sorted(n for n in values if n not in gates)]
    return [_row(name, values.get(name), champion.get(name), gates.get(name)) for name in names]


def _row(name: str, value: Any, base: Any, outcome: Mapping[str, Any] | None) -> MetricRow:
    if outcome is not None and outcome.get("baseline") is not None:
        base = outcome["baseline"]  # the value the gate decided on, e.g. from a registry alias
    challenger, champion = _value(value), _value(base)
    delta = relative = None
    if isinstance(challenger, float) and isinstance(champion, float):
        delta = challenger - champion
        relative = delta / abs(champion) if champion != 0 else None
    if outcome is None:
        return MetricRow(name, challenger, champion, delta, relative, [], NOT_GATED, [])
    rules = [r for r in outcome.get("rules") or [] if isinstance(r, Mapping)]
    # why the verdict is what it is: the failed rules, and failures a reviewed acceptance let pass
    details = [f"{r.get('rule')}: {r.get('detail')}" + (f" (accepted: {r['accepted']})" if r.get("accepted") else "")
               for r in rules if r.get("status") == "failed" or r.get("accepted")]
    if outcome.get("problem"):
        details.insert(0, str(outcome["problem"]))
    return MetricRow(name, challenger, champion, delta, relative, [f"{r.get('rule')} {r.get('limit')}" for r in rules],
                     str(outcome.get("status", "failed")), details, _interval(outcome.get("interval")))


def _value(raw: Any) -> float | str | None:
    if raw is None:
        return None
    number = as_number(raw)
    return number if isinstance(number, float) else str(raw)


def _interval(raw: Any) -> Interval | None:
    if not isinstance(raw, Mapping):
        return None
    diff, own = raw.get("difference"), raw.get("challenger")
    bound, of = (diff, "difference") if isinstance(diff, Mapping) else (own, "challenger")
    if not isinstance(bound, Mapping):
        return None
    try:
        return Interval(float(raw["confidence"]), float(bound["lower"]), float(bound["upper"]), of,
                        int(raw.get("resamples") or 0), int(raw.get("seed") or 0), str(raw.get("pairing") or ""),
                        str(raw.get("note") or ""))
    except (KeyError, TypeError, ValueError):
        return None  # a result written by another mlgen version: show the point values only


def _baseline(gate: Mapping[str, Any] | Missing) -> str:
    if isinstance(gate, Missing):
        return ""
    b = gate.get("baseline") or {}
    if not b.get("found"):
        return f"No champion to compare with yet ({b.get('note') or 'no baseline'})."
    return f"Compared with the {'champion' if b.get('source') == 'registry' else 'baseline file'} {b.get('ref')}."


def _verdict(inputs: Inputs, metrics: list[MetricRow] | Missing) -> tuple[str, str]:
    failed_data = [d for _, d in inputs.data if d.get("passed") is False]
    if isinstance(metrics, Missing):
        why = "the data contract failed, so " if failed_data else ""
        return "not-run", f"⚠️ {why}the `{inputs.stage}` gate did not run ({metrics.why})"
    failed = [m.metric for m in metrics if m.verdict == "failed"]
    gated = [m for m in metrics if m.verdict != NOT_GATED]
    if failed:
        return "failed", f"❌ {len(failed)} of {len(gated)} gates failed: {', '.join(failed)}"
    return "passed", f"✅ all {len(gated)} gates passed" if gated else "✅ no gates configured"


# --- data ------------------------------------------------------------------------------------

def _data(inputs: Inputs) -> list[DataResult] | Missing:
    if not inputs.data:
        return Missing("data check", inputs.data_missing or "no data check result")
    return [_data_result(source, d) for source, d in inputs.data]


def _data_result(source: str, d: Mapping[str, Any]) -> DataResult:
    findings: list[str] = []
    drift: list[DriftRow] = []
    raw = d.get("files")
    files: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    for path, result in sorted(files.items()):
        if not isinstance(result, Mapping):
            continue
        for f in result.get("findings") or []:
            column = f"`{f.get('column')}` " if f.get("column") else ""
            findings.append(f"{path}: {column}{f.get('rule')}: {f.get('message')}")
        for row in result.get("drift") or []:
            value = row.get("value")
            status = "skipped" if row.get("skipped") else "passed" if row.get("passed") else "failed"
            drift.append(DriftRow(path, str(row.get("column")), str(row.get("method")),
                                  float(value) if isinstance(value, (int, float)) else None, status, str(row.get("detail") or "")))
    return DataResult(str(d.get("stage") or source), str(d.get("contract") or ""), d.get("passed") is True, findings,
                      sort_drift(drift))


def sort_drift(rows: list[DriftRow]) -> list[DriftRow]:
    """Largest drift first; columns that were not measured last; ties by file, column and method."""
    return sorted(rows, key=lambda r: (r.value is None, -(r.value or 0.0), r.file, r.column, r.method))


# --- training --------------------------------------------------------------------------------

def _chosen_leg(inputs: Inputs) -> dict[str, str]:
    """The matrix leg the evaluate stage picked, where its metrics name it.

    Convention: the metrics file holds the winning leg's value under the matrix key's name
    (`matrix: {model: [gb, logreg]}` and `"model": "gb"`), as the churn example writes it.
    """
    if isinstance(inputs.gate, Missing):
        return {}
    values: Mapping[str, Any] = {**(inputs.gate.get("metrics") or {}), **(inputs.metrics_file or {})}
    keys = dict(inputs.matrix)
    for record in inputs.training:
        for key, value in (record.get("leg") or {}).items():
            keys.setdefault(str(key), [])
            if str(value) not in keys[str(key)]:
                keys[str(key)] = [*keys[str(key)], str(value)]
    lowered = {k.lower(): v for k, v in values.items()}
    chosen = {}
    for key, legs in sorted(keys.items()):
        picked = lowered.get(key.lower())
        if isinstance(picked, str) and (not legs or picked in legs):
            chosen[key] = picked
    return chosen


def _training(inputs: Inputs, chosen: dict[str, str]) -> list[TrainingRow] | Missing:
    if not inputs.training:
        return Missing("training", "no training record (no train stage with a cache ran in this workspace)")
    rows = []
    for record in inputs.training:
        leg = {str(k): str(v) for k, v in (record.get("leg") or {}).items()}
        shared = [k for k in leg if k in chosen]
        picked = all(leg[k] == chosen[k] for k in shared) if shared else None
        rows.append(TrainingRow(str(record.get("stage")), leg, str(record.get("cache")), str(record.get("reason") or ""),
                                picked))
    return sorted(rows, key=lambda r: (r.stage, sorted(r.leg.items())))


def _links(inputs: Inputs) -> dict[str, str]:
    links = {}
    if inputs.run_url:
        links["run"] = inputs.run_url
    if inputs.artifacts_url:
        links["artifacts"] = inputs.artifacts_url
    if inputs.registry_version:
        links["registry version"] = inputs.registry_url or (f"{inputs.model} version {inputs.registry_version}" if inputs.model
                                                             else f"version {inputs.registry_version}")
    return links
