"""`mlgen gate --predictions`: rules decided on bootstrap bounds, pairing, reproducibility, acceptances."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.runtime.conftest import Result

Run = Callable[..., Result]


def predictions(path: Path, y: np.ndarray, score: np.ndarray, ids: np.ndarray | None = None) -> str:
    import pandas as pd

    frame = {"y_true": y.astype(int), "y_score": score}
    if ids is not None:
        frame = {"id": ids, **frame}
    pd.DataFrame(frame).to_csv(path, index=False)
    return str(path)


def models(n: int, champion_auc_gap: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a champion's scores and a challenger's scores; the challenger's signal is weaker by the gap's size."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(float)
    shared = rng.normal(size=n)
    champion = 1.2 * y + shared + 0.5 * rng.normal(size=n)
    challenger = (1.2 - champion_auc_gap) * y + shared + 0.5 * rng.normal(size=n)
    return y, champion, challenger


def auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def gate_json(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((tmp_path / ".mlgen/gate-evaluate.json").read_text())  # type: ignore[no-any-return]


def setup(tmp_path: Path, n: int, gap: float, seed: int = 0) -> tuple[str, str, str, str]:
    y, champ, chall = models(n, gap, seed)
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"auc": auc(y, chall), "latency_ms": 12.0}))
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"auc": auc(y, champ), "latency_ms": 12.0}))
    ids = np.arange(n).astype(str)
    return (str(metrics), str(baseline), predictions(tmp_path / "p.csv", y, chall, ids),
            predictions(tmp_path / "champ.csv", y, champ, ids))


def test_a_drop_within_the_margin_by_point_but_not_by_bound_fails(runtime: Run, tmp_path: Path) -> None:
    metrics, baseline, preds, champ = setup(tmp_path, 300, 0.1)
    data = json.loads(Path(metrics).read_text()), json.loads(Path(baseline).read_text())
    drop = data[1]["auc"] - data[0]["auc"]
    margin = round(drop + 0.002, 4)  # the point comparison alone passes this max_drop
    point = runtime("gate", "--metrics", metrics, "--baseline-file", baseline, "--gate", f"auc:max_drop={margin},confidence=none",
                    "--predictions", preds, "--baseline-predictions", champ)
    assert point.code == 0, point.out + point.err
    bounded = runtime("gate", "--metrics", metrics, "--baseline-file", baseline, "--gate", f"auc:max_drop={margin}",
                      "--predictions", preds, "--baseline-predictions", champ)
    assert bounded.code == 1, bounded.out
    rule = gate_json(tmp_path)["gates"]["auc"]["rules"][0]
    assert rule["status"] == "failed" and "change lower bound" in rule["detail"] and "paired with the champion" in rule["detail"]
    interval = gate_json(tmp_path)["gates"]["auc"]["interval"]
    assert interval["pairing"] == "paired" and interval["resamples"] == 2000 and interval["confidence"] == 0.95
    assert interval["difference"]["lower"] < -margin < interval["difference"]["estimate"]


def test_a_large_evaluation_set_passes_the_same_rule(runtime: Run, tmp_path: Path) -> None:
    metrics, baseline, preds, champ = setup(tmp_path, 20_000, 0.0, seed=1)
    result = runtime("gate", "--metrics", metrics, "--baseline-file", baseline, "--gate", "auc:max_drop=0.02,min=0.6",
                     "--predictions", preds, "--baseline-predictions", champ)
    assert result.code == 0, result.out + result.err
    assert "0.95 one-sided bounds, 2000 paired bootstrap resamples" in result.out


def test_min_uses_the_lower_bound_of_the_challenger(runtime: Run, tmp_path: Path) -> None:
    metrics, _, preds, _ = setup(tmp_path, 200, 0.0, seed=2)
    value = json.loads(Path(metrics).read_text())["auc"]
    just_below = f"{value - 0.005:.4f}"
    assert runtime("gate", "--metrics", metrics, "--gate", f"auc:min={just_below},confidence=none").code == 0
    result = runtime("gate", "--metrics", metrics, "--gate", f"auc:min={just_below}", "--predictions", preds)
    assert result.code == 1
    assert "lower bound" in gate_json(tmp_path)["gates"]["auc"]["rules"][0]["detail"]


def test_verdicts_are_reproducible_and_seeded_by_the_commit(runtime: Run, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    metrics, baseline, preds, champ = setup(tmp_path, 500, 0.05)
    args = ("gate", "--metrics", metrics, "--baseline-file", baseline, "--gate", "auc:max_drop=0.05",
            "--predictions", preds, "--baseline-predictions", champ, "--resamples", "300")
    monkeypatch.setenv("GITHUB_SHA", "a" * 40)
    runtime(*args)
    first = gate_json(tmp_path)["gates"]["auc"]["interval"]
    runtime(*args)
    assert gate_json(tmp_path)["gates"]["auc"]["interval"] == first
    monkeypatch.setenv("GITHUB_SHA", "b" * 40)
    runtime(*args)
    assert gate_json(tmp_path)["gates"]["auc"]["interval"]["seed"] != first["seed"]


def test_another_evaluation_set_is_compared_unpaired_and_said_so(runtime: Run, tmp_path: Path) -> None:
    metrics, baseline, preds, _ = setup(tmp_path, 400, 0.0)
    y, champ, _ = models(380, 0.0, seed=9)
    other = predictions(tmp_path / "other.csv", y, champ, np.arange(380).astype(str))
    result = runtime("gate", "--metrics", metrics, "--baseline-file", baseline, "--gate", "auc:max_drop=0.2",
                     "--predictions", preds, "--baseline-predictions", other)
    assert result.code == 0, result.out + result.err
    interval = gate_json(tmp_path)["gates"]["auc"]["interval"]
    assert interval["pairing"] == "unpaired" and "another evaluation set" in interval["note"]
    refused = runtime("gate", "--metrics", metrics, "--baseline-file", baseline, "--gate", "auc:max_drop=0.2",
                      "--predictions", preds, "--baseline-predictions", other, "--on-different-eval-set", "fail")
    assert refused.code == 1 and "scored on another evaluation set" in refused.err


def test_metrics_without_a_per_example_definition(runtime: Run, tmp_path: Path) -> None:
    metrics, baseline, preds, _ = setup(tmp_path, 100, 0.0)
    ok = runtime("gate", "--metrics", metrics, "--gate", "latency_ms:max=50", "--predictions", preds)
    assert ok.code == 0 and gate_json(tmp_path)["gates"]["latency_ms"]["interval"] is None
    bad = runtime("gate", "--metrics", metrics, "--gate", "latency_ms:max=50,confidence=0.9", "--predictions", preds)
    assert bad.code == 1
    assert "error: gate `latency_ms` asks for confidence bounds, but `latency_ms` has no per-example definition" in bad.err
    no_predictions = runtime("gate", "--metrics", metrics, "--gate", "auc:min=0.5,confidence=0.9")
    assert no_predictions.code == 1 and "there are no per-example predictions" in no_predictions.err


@pytest.mark.parametrize(("content", "message"), [
    ("y_true,y_score\n1,0.5\n", "has 1 row(s)"),
    ("label,score\n1,0.5\n0,0.2\n", "has columns label, score"),
    ("y_true,y_score\n1,0.5\n0,\n", "column `y_score` of the predictions file has a missing or non-finite value in data row 2"),
    ("y_true,y_score\n1,abc\n0,0.1\n", "column `y_score` of the predictions file is not numeric"),
    ("id,y_true,y_score\na,1,0.5\na,0,0.1\n", "repeats an `id`"),
    ("y_true,y_score\n2,0.5\n0,0.1\n", "binary labels"),
])
def test_broken_predictions_files_are_user_errors(runtime: Run, tmp_path: Path, content: str, message: str) -> None:
    metrics, _, _, _ = setup(tmp_path, 50, 0.0)
    (tmp_path / "bad.csv").write_text(content)
    result = runtime("gate", "--metrics", metrics, "--gate", "auc:min=0.5", "--predictions", str(tmp_path / "bad.csv"))
    assert result.code == 1
    assert message in result.err and "Traceback" not in result.err


def test_an_accepted_regression_passes_visibly_until_it_expires(runtime: Run, tmp_path: Path) -> None:
    metrics, baseline, _, _ = setup(tmp_path, 300, 0.3)
    accepted = tmp_path / "accepted.yaml"
    accepted.write_text("accepted:\n  - model: churn\n    gate: auc\n    rule: max_drop\n"
                        "    reason: labels were redefined\n    expires: 2999-12-31\n    approved_by: ml-leads\n")
    args = ("gate", "--metrics", metrics, "--baseline-file", baseline, "--gate", "auc:max_drop=0.001", "--model", "churn")
    assert runtime(*args).code == 1
    result = runtime(*args, "--accepted", str(accepted))
    assert result.code == 0, result.out + result.err
    rule = gate_json(tmp_path)["gates"]["auc"]["rules"][0]
    assert rule["detail"].startswith("ACCEPTED: ")
    assert rule["accepted"] == f"accepted in {accepted}#1: labels were redefined (until 2999-12-31, approved by ml-leads)"
    assert f"auc max_drop: accepted in {accepted}#1" in result.out
    other_model = runtime(*args[:-1], "ranker", "--accepted", str(accepted))
    assert other_model.code == 1
    accepted.write_text(accepted.read_text().replace("2999-12-31", "2020-01-31"))
    expired = runtime(*args, "--accepted", str(accepted))
    assert expired.code == 1
    assert "expired on 2020-01-31" in gate_json(tmp_path)["gates"]["auc"]["rules"][0]["detail"]


@pytest.mark.parametrize(("text", "message"), [
    ("accepted:\n  - model: m\n    gate: auc\n    reason: r\n", "`expires` is missing"),
    ("accepted:\n  - model: m\n    gate: auc\n    reason: r\n    expires: soon\n", "`expires: soon` is not a date"),
    ("accepted:\n  - model: m\n    gate: auc\n    reason: r\n    expires: 2030-01-01\n    who: me\n", "unknown key `who`"),
    ("accepted:\n  - model: m\n    gate: auc\n    rule: maximum\n    reason: r\n    expires: 2030-01-01\n", "is not a gate rule"),
    ("gates: []\n", "must hold one key, `accepted:`"),
])
def test_broken_acceptance_files_are_user_errors(runtime: Run, tmp_path: Path, text: str, message: str) -> None:
    metrics, baseline, _, _ = setup(tmp_path, 50, 0.3)
    (tmp_path / "a.yaml").write_text(text)
    result = runtime("gate", "--metrics", metrics, "--baseline-file", baseline, "--gate", "auc:max_drop=0.001",
                     "--model", "m", "--accepted", str(tmp_path / "a.yaml"))
    assert result.code == 1 and message in result.err
