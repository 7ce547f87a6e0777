"""Drift defaults: two samples of one distribution never alarm, a real shift always does, and
every column that is not compared is in the report with the reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.runtime.data.command import main
from mlgen.runtime.data.contract import Contract
from mlgen.runtime.data.drift import DriftResult, check_drift

N = 2000
START = np.datetime64("2024-01-01T00:00:00")


def sample(seed: int, *, shift: float = 0.0, days: int = 0, hot: float = 0.0) -> pd.DataFrame:
    """One draw of a customer table. `shift` moves the numbers (in SDs), `days` the dates, `hot` puts
    that share of the rows on one city (of 300)."""
    rng = np.random.default_rng(seed)
    seconds = rng.integers(0, 365 * 86400, N) + days * 86400
    cities = rng.integers(0, 300, N)
    cities[rng.random(N) < hot] = 7
    return pd.DataFrame({
        "user_id": [f"U{v:09d}" for v in rng.integers(0, 10**9, N)],  # new ids in every sample
        "signup": pd.Series(START + seconds.astype("timedelta64[s]")).dt.strftime("%Y-%m-%dT%H:%M:%S"),
        "city": [f"city-{c:03d}" for c in cities],  # 300 values: many buckets for 2000 rows
        "product": [f"p{v}" for v in rng.zipf(1.3, N)],  # a long tail: every sample has values never seen before
        "plan": rng.choice(["basic", "pro", "max"], N, p=[0.6, 0.3, 0.1]),
        "spend": rng.normal(50 + 10 * shift, 10, N),
    })


COLUMNS = {"user_id": {"dtype": "str"}, "signup": {"dtype": "datetime"}, "city": {"dtype": "str"}, "product": {},
           "plan": {"dtype": "category"}, "spend": {"dtype": "float"}}


def drift(cur: pd.DataFrame, ref: pd.DataFrame, **block: Any) -> dict[str, DriftResult]:
    contract = Contract.model_validate({"columns": COLUMNS, **({"drift": block} if block else {})})
    typed = {"signup": pd.to_datetime}
    for frame in (cur, ref):
        for column, convert in typed.items():
            frame[column] = convert(frame[column])
    return {f"{r.column} {r.method}": r for r in check_drift(cur, ref, contract)}


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_two_samples_of_one_distribution_never_alarm(seed_ref: int, seed_cur: int) -> None:
    results = drift(sample(seed_cur), sample(seed_ref))
    assert all(r.passed for r in results.values()), {k: r.detail for k, r in results.items() if not r.passed}
    assert results["user_id psi"].skipped and "ID-like" in results["user_id psi"].detail
    assert results["signup psi"].skipped and "datetime" in results["signup psi"].detail
    assert not any(results[f"{c} psi"].skipped for c in ("city", "product", "plan", "spend"))
    listed = drift(sample(seed_cur), sample(seed_ref), columns=["signup", "city"], psi={"max": 0.2},
                   ks={"max_statistic": 0.1})
    assert all(r.passed and not r.skipped for r in listed.values()), listed


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.6, 3.0), st.integers(120, 400), st.floats(0.3, 0.9))
def test_a_real_shift_always_alarms(seed: int, shift: float, days: int, hot: float) -> None:
    ref = sample(seed)
    assert not drift(sample(seed + 1, shift=shift), ref.copy())["spend psi"].passed
    assert not drift(sample(seed + 1, hot=hot), ref.copy())["city psi"].passed
    tail = sample(seed + 1)
    # one value from the far tail becomes common; from half the rows up, since the reference's
    # rare-and-new bucket already holds ~20% of a long tail (at 30% PSI is 0.15-0.27)
    tail.loc[: int(N * max(hot, 0.5)), "product"] = "p1000000"
    assert not drift(tail, ref.copy())["product psi"].passed
    listed = drift(sample(seed + 1, days=days), ref.copy(), columns=["signup"], psi={"max": 0.2})
    assert not listed["signup psi"].passed  # dates listed in drift.columns are compared as numbers


def test_new_values_of_a_text_column_are_drift() -> None:
    ref = sample(1)
    cur = sample(2)
    cur.loc[: N // 2, "city"] = "somewhere-new"
    assert not drift(cur, ref)["city psi"].passed


def test_missing_columns_are_reported_not_skipped_silently() -> None:
    ref, cur = sample(1), sample(2)
    results = drift(cur.drop(columns=["spend"]), ref.drop(columns=["plan"]))
    assert not results["plan psi"].passed and "not in the reference dataset" in results["plan psi"].detail
    assert results["spend psi"].skipped and "not in the data" in results["spend psi"].detail


def test_the_report_names_skipped_columns_and_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample(1).to_csv(tmp_path / "ref.csv", index=False)
    sample(2).to_csv(tmp_path / "new.csv", index=False)
    (tmp_path / "c.yaml").write_text("columns:\n" + "".join(f"  {c}: {{dtype: {r.get('dtype', 'str')}}}\n"
                                                           for c, r in COLUMNS.items()))
    code = main(["--contract", "c.yaml", "--reference", "ref.csv", "--junit", "r.xml", "--json", "r.json",
                 "--summary", "s.md", "new.csv"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "skip user_id: skipped: ID-like text (2000 distinct values in 2000 reference rows" in out
    assert "skip signup: skipped: a datetime column" in out
    skipped = {c.get("name"): c.find("skipped") for c in ET.parse(tmp_path / "r.xml").getroot().iter("testcase")}
    assert skipped["user_id: drift psi"] is not None and skipped["signup: drift psi"] is not None
    assert skipped["city: drift psi"] is None
    drift_json = {d["column"]: d for d in json.loads((tmp_path / "r.json").read_text())["files"]["new.csv"]["drift"]}
    assert drift_json["user_id"]["skipped"] is True and drift_json["city"]["skipped"] is False
    assert "⏭️ user_id: skipped" in (tmp_path / "s.md").read_text()


@pytest.mark.parametrize("tz", [None, "Europe/Berlin"])
def test_parquet_datetimes_listed_for_drift_are_compared_as_time(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  tz: str | None) -> None:
    def dates(seed: int, days: int) -> pd.DataFrame:
        seconds = np.random.default_rng(seed).integers(0, 365 * 86400, N) + days * 86400
        stamps = pd.Series(START + seconds.astype("timedelta64[s]"))
        return pd.DataFrame({"at": stamps.dt.tz_localize("UTC").dt.tz_convert(tz) if tz else stamps})

    dates(1, 0).to_parquet(tmp_path / "ref.parquet")
    dates(2, 0).to_parquet(tmp_path / "same.parquet")
    dates(3, 200).to_parquet(tmp_path / "later.parquet")
    (tmp_path / "c.yaml").write_text("columns:\n  at: {}\ndrift: {columns: [at], psi: {max: 0.2}, ks: {max_statistic: 0.1}}\n")
    args = ["--contract", "c.yaml", "--reference", "ref.parquet", "--json", "r.json"]
    assert main([*args, "same.parquet"]) == 0
    assert main([*args, "later.parquet"]) == 1
    assert "FAIL at: PSI" in capsys.readouterr().out
