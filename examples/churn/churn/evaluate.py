"""Evaluate the churn model on the holdout split.

    python -m churn.evaluate --model model/ --out metrics.json

`--model` is one model directory, or a directory of candidates (model/gb, model/logreg from
the train matrix): then each is evaluated, the best AUC wins, and metrics.json holds the
winner's metrics at the top level plus every candidate's under `candidates`. The winner's name
is written to `<model>/selected.txt`, so the register and serve steps know which one to ship.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score

from churn import FEATURES, TARGET
from churn.train import load_params, split

LATENCY_CALLS = 50


def candidates(model_dir: Path) -> dict[str, Path]:
    if (model_dir / "model.joblib").is_file():
        return {model_dir.name or "model": model_dir}
    found = {p.name: p for p in sorted(model_dir.iterdir()) if (p / "model.joblib").is_file()} if model_dir.is_dir() else {}
    if not found:
        raise SystemExit(f"evaluate: no model.joblib in {model_dir} or its subdirectories; run churn.train first")
    return found


def evaluate(model_dir: Path, holdout: pd.DataFrame) -> dict[str, float]:
    model = joblib.load(model_dir / "model.joblib")
    x, y = holdout[FEATURES], holdout[TARGET]
    proba = model.predict_proba(x)[:, 1]
    return {
        "accuracy": round(float(accuracy_score(y, proba >= 0.5)), 4),
        "auc": round(float(roc_auc_score(y, proba)), 4),
        "latency_ms": round(_latency_ms(model, x), 3),
    }


def _latency_ms(model: Any, x: pd.DataFrame) -> float:
    """Median time of a single-row prediction: what one online request costs.

    The median rather than the mean, so that one scheduler hiccup on a shared CI runner does not
    fail the latency gate.
    """
    timings = []
    for i in range(LATENCY_CALLS):
        row = x.iloc[[i % len(x)]]
        started = time.perf_counter()
        model.predict_proba(row)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, help="CSV to split the holdout from (default: params.yaml `data`)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    _, holdout = split(pd.read_csv(args.data or Path(params["data"])), params)
    results = {name: evaluate(path, holdout) for name, path in candidates(args.model).items()}
    winner = max(results, key=lambda name: results[name]["auc"])
    metrics: dict[str, Any] = {**results[winner], "model": winner, "holdout_rows": len(holdout)}
    if len(results) > 1:
        metrics["candidates"] = results
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if len(results) > 1:
        (args.model / "selected.txt").write_text(winner + "\n", encoding="utf-8")
    print(f"evaluated {', '.join(results)}; best: {winner} {results[winner]} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
