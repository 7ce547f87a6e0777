"""Workspaces as the earlier jobs leave them, written by the runtime's own result writers.

The gate and data check JSON come from `gate.evaluate`/`render.to_json` and `datacmd.to_json`, not
hand-written dicts, so the report is tested against the files the real commands write.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlgen.runtime import reports
from mlgen.runtime.data import report as datacmd
from mlgen.runtime.data.check import FileResult, Finding
from mlgen.runtime.data.drift import DriftResult
from mlgen.runtime.gate import render
from mlgen.runtime.gate import rules as gate
from mlgen.runtime.gate.metrics import flatten


def write_gate(stage: str, metrics: dict[str, Any], gates: list[str], champion: dict[str, Any] | None,
               intervals: dict[str, gate.Interval] | None = None, root: Path = Path(".")) -> None:
    """Run the real gate on `metrics` (written as metrics.json) and write its result where `mlgen gate` does."""
    (root / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    baseline = gate.Baseline("registry", "churn@champion (version 3)", champion) if champion is not None \
        else gate.Baseline("registry", "churn@champion", None, "churn has no version with alias champion")
    flat = flatten(metrics)
    rules = [gate.parse_gate_flag(text) for text in gates]
    report = gate.evaluate(stage, "metrics.json", flat, rules, baseline, "absolute", intervals)
    reports.write_json(root / f".mlgen/gate-{stage}.json", {**render.to_json(report), "predictions": None})


def write_data(stage: str, *, findings: list[Finding] | None = None, drift: list[DriftResult] | None = None,
               root: Path = Path(".")) -> None:
    result = FileResult("data/train.csv", 1000, 5, [], findings or [], drift or [])
    reports.write_json(root / f".mlgen/data-{stage}.json", datacmd.to_json(stage, "contracts/train.yaml", [result]))


def write_training(stage: str, leg: dict[str, str], cache: str, reason: str = "", root: Path = Path(".")) -> None:
    name = "~".join([stage, *leg.values()])
    reports.write_json(root / f".mlgen/train/{name}.json", {"stage": stage, "leg": leg, "cache": cache, "reason": reason})


GRAPH = "flowchart LR\n  validate --> train\n  train --> evaluate\n"
DRIFT = [DriftResult("tenure", "psi", 0.03, True, "PSI 0.0300 <= 0.2"),
         DriftResult("monthly_charges", "psi", 0.41, False, "PSI 0.4100 > 0.2"),
         DriftResult("tenure", "ks", 0.12, False, "KS statistic 0.1200 > 0.1"),
         DriftResult("plan", "psi", float("nan"), True, "not compared: no reference values", skipped=True)]


def scenario(name: str, root: Path = Path(".")) -> None:
    """The four review situations the issue names, and a rerun whose training was all reused, as workspaces."""
    (root / "graph.mmd").write_text(GRAPH, encoding="utf-8")
    if name == "data-contract-failure":  # the data check failed, so nothing after it ran
        write_data("validate", findings=[Finding("tenure", "min", "2 values below 0", ["4", "9"], ["-1", "-3"], 2)],
                   drift=DRIFT, root=root)
        return
    write_data("validate", drift=DRIFT[:1], root=root)
    reused = name == "unchanged-inputs"  # every leg restored from the cache, the chosen one too
    write_training("train", {"MODEL": "gb"}, "hit" if reused else "miss", "" if reused else "key files changed", root)
    write_training("train", {"MODEL": "logreg"}, "hit", root=root)
    metrics = {"accuracy": 0.81, "auc": 0.86, "latency_ms": 40.0, "model": "gb", "holdout_rows": 2000}
    gates = ["accuracy:min=0.7", "auc:min=0.75,max_drop=0.01", "latency_ms:max=250"]
    champion = {"accuracy": 0.8, "auc": 0.84, "latency_ms": 45.0, "holdout_rows": 2000}
    if name == "first-model":
        write_gate("evaluate", metrics, gates, None, root=root)
    elif name in ("improvement", "unchanged-inputs"):
        write_gate("evaluate", metrics, gates, champion, root=root)
    elif name == "regression":
        worse = {**metrics, "auc": 0.80, "latency_ms": 300.0}
        bounds = gate.Interval(gate.Bound(0.80, 0.79, 0.81), gate.Bound(-0.04, -0.052, -0.028), 0.95, 2000, 1234, "paired")
        write_gate("evaluate", worse, gates, champion, {"auc": bounds}, root=root)
    else:
        raise ValueError(name)


SCENARIOS = ("first-model", "improvement", "regression", "data-contract-failure", "unchanged-inputs")
