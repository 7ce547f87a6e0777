"""Generate the synthetic churn datasets, deterministically.

    python -m churn.make_data --out data/

Writes train.csv and reference.csv (same distribution, other customers) and broken.csv (train
rows with contract violations planted at known rows, for the data-check examples and tests).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from churn import CONTRACTS


def customers(n: int, seed: int, first_id: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    contract = rng.choice(CONTRACTS, size=n, p=[0.55, 0.25, 0.20])
    tenure = rng.integers(0, 73, size=n)
    charges = np.round(np.clip(rng.normal(70, 25, size=n), 18.25, 120.0), 2)
    calls = np.clip(rng.poisson(1.5, size=n), 0, 10)
    # Month-to-month, new, expensive customers who call support a lot churn. The first months
    # carry an extra risk a linear model only approximates, so the tree model has an edge; the
    # sampling noise keeps the problem learnable but not trivial (accuracy ~0.8, AUC ~0.85).
    logit = (-1.6 + 1.6 * (contract == "month-to-month") - 1.1 * (contract == "two-year") - 0.04 * tenure
             + 1.5 * (tenure < 6) + 0.025 * (charges - 70) + 0.5 * np.minimum(calls, 4))
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({
        "customer_id": [f"C{first_id + i:06d}" for i in range(n)],
        "tenure": tenure,
        "monthly_charges": charges,
        "contract": contract,
        "support_calls": calls,
        "churned": churned,
    })


def broken(train: pd.DataFrame) -> pd.DataFrame:
    """Train rows with violations at fixed rows: what a bad upstream export looks like."""
    df = train.copy()
    df["monthly_charges"] = df["monthly_charges"].astype(float)
    df.loc[[4, 57], "tenure"] = -3  # negative tenure
    df.loc[10, "contract"] = "weekly"  # not an allowed value
    df.loc[[20, 21], "monthly_charges"] = np.nan  # missing values
    df.loc[31, "customer_id"] = df.loc[30, "customer_id"]  # duplicated id
    df.loc[40, "support_calls"] = 99  # out of range
    return df


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data"))
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    train = customers(args.rows, seed=7)
    train.to_csv(args.out / "train.csv", index=False)
    customers(args.rows, seed=11, first_id=500000).to_csv(args.out / "reference.csv", index=False)
    broken(train).to_csv(args.out / "broken.csv", index=False)
    print(f"wrote {args.out}/train.csv, reference.csv, broken.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
