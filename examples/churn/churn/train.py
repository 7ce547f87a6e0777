"""Train the churn model.

    python -m churn.train --out model/            # MODEL=gb python -m churn.train --out model/gb

Reads params.yaml; the environment variable MODEL (logreg or gb) picks the estimator, so a CI
matrix can train both. Writes model.joblib and meta.json (kind, params, rows, features).

Two switches exist for mlgen's own tests and benchmarks:
  MLGEN_SLOW_TRAIN_SECONDS=N  sleep N seconds after fitting, so that cache hits are measurable;
  CHURN_DEGRADE=1             train on swapped labels (churned <-> stayed, as an upstream labelling
                              bug would): a clearly worse model that the evaluate stage's gates
                              must reject, which is the regression scenario.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import sklearn
# ruamel.yaml rather than PyYAML: mlgen needs it too, so the CI jobs' one install covers both
from ruamel.yaml import YAML
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churn import CATEGORICAL, CONTRACTS, FEATURES, NUMERIC, TARGET

MODELS = ("logreg", "gb")


def load_params(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        params: dict[str, Any] = YAML(typ="safe", pure=True).load(handle)
    return params


def estimator(kind: str, params: dict[str, Any]) -> Any:
    if kind == "logreg":
        return LogisticRegression(**params["logreg"])
    return GradientBoostingClassifier(random_state=params["seed"], **params["gb"])


def build(kind: str, params: dict[str, Any]) -> Pipeline:
    features = ColumnTransformer([
        ("numeric", StandardScaler(), NUMERIC),
        ("categorical", OneHotEncoder(categories=[CONTRACTS], handle_unknown="ignore"), CATEGORICAL),
    ])
    return Pipeline([("features", features), ("model", estimator(kind, params))])


def split(df: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same train/holdout split for training and evaluation, from the seed in params."""
    train, holdout = train_test_split(df, test_size=params["test_size"], random_state=params["seed"], stratify=df[TARGET])
    return train, holdout


def labels(train: pd.DataFrame) -> pd.Series:
    """The training target, swapped when CHURN_DEGRADE=1.

    Swapped rather than shuffled: with features this informative, a model fit to shuffled
    labels lands anywhere between AUC 0.3 and 0.8 depending on the seed, so it would not
    reliably be a regression. Swapped labels always give one (AUC about 1 - the good model's).
    """
    if os.environ.get("CHURN_DEGRADE") == "1":
        return 1 - train[TARGET]
    return train[TARGET]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="model directory to write")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, help="training CSV (default: params.yaml `data`)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    kind = os.environ.get("MODEL") or params["model"]
    if kind not in MODELS:
        print(f"train: MODEL must be one of {', '.join(MODELS)}, got {kind!r}", file=sys.stderr)
        return 2
    data_path = args.data or Path(params["data"])
    df = pd.read_csv(data_path)
    train, _ = split(df, params)
    started = time.perf_counter()
    model = build(kind, params).fit(train[FEATURES], labels(train))
    time.sleep(float(os.environ.get("MLGEN_SLOW_TRAIN_SECONDS") or 0))
    args.out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.out / "model.joblib")
    metadata = {
        "model": kind, "params": params[kind], "seed": params["seed"], "test_size": params["test_size"],
        "features": FEATURES, "target": TARGET, "train_rows": len(train),
        "data_sha256": hashlib.sha256(data_path.read_bytes()).hexdigest(), "sklearn_version": sklearn.__version__,
        "degraded": os.environ.get("CHURN_DEGRADE") == "1",
    }
    (args.out / "meta.json").write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"trained {kind} on {len(train)} rows in {time.perf_counter() - started:.2f}s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
