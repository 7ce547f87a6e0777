"""The bootstrap's metrics against slow, obvious reference implementations on small data."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn import metrics as skm

from mlgen.runtime.gate import evalset, stats

RNG = np.random.default_rng(7)


def _data(n: int, *, ties: bool, weighted: bool, seed: int = 0) -> stats.Predictions:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(float)
    y[:2] = [0.0, 1.0]  # both classes present
    score = np.clip(0.6 * rng.random(n) + 0.4 * y * rng.random(n), 0.0, 1.0)
    if ties:
        score = np.round(score, 1)
    weight = rng.random(n) + 0.1 if weighted else None
    return stats.Predictions(y_true=y, y_score=score, weight=weight, ids=np.arange(n),
                             columns={"latency": rng.random(n) * 30})


SKLEARN = {
    "accuracy": lambda y, s, w: skm.accuracy_score(y, s >= 0.5, sample_weight=w),
    "precision": lambda y, s, w: skm.precision_score(y, s >= 0.5, sample_weight=w, zero_division=0),
    "recall": lambda y, s, w: skm.recall_score(y, s >= 0.5, sample_weight=w),
    "f1": lambda y, s, w: skm.f1_score(y, s >= 0.5, sample_weight=w),
    "roc_auc": lambda y, s, w: skm.roc_auc_score(y, s, sample_weight=w),
    "average_precision": lambda y, s, w: skm.average_precision_score(y, s, sample_weight=w),
    "brier": lambda y, s, w: skm.brier_score_loss(y, s, sample_weight=w),
    "mae": lambda y, s, w: skm.mean_absolute_error(y, s, sample_weight=w),
    "rmse": lambda y, s, w: skm.mean_squared_error(y, s, sample_weight=w) ** 0.5,
    "r2": lambda y, s, w: skm.r2_score(y, s, sample_weight=w),
    "log_loss": lambda y, s, w: skm.log_loss(y, np.clip(s, 1e-15, 1 - 1e-15), sample_weight=w),
}


@pytest.mark.parametrize(("metric", "ties", "weighted"),
                         list(itertools.product(sorted(SKLEARN), (False, True), (False, True))))
def test_point_value_matches_scikit_learn(metric: str, ties: bool, weighted: bool) -> None:
    p = _data(400, ties=ties, weighted=weighted)
    expected = SKLEARN[metric](p.y_true, p.y_score, p.weight)
    assert stats.value(metric, p) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def _reference(metric: str, p: stats.Predictions, w: np.ndarray) -> float:
    """One resample, the slow way: explicit loops over examples (and pairs for AUC)."""
    y, s = p.y_true, p.y_score
    assert s is not None
    pred = (s >= 0.5).astype(float)
    if metric == "roc_auc":
        num = den = 0.0
        for i in range(len(y)):
            for j in range(len(y)):
                if y[i] == 1 and y[j] == 0:
                    pair = w[i] * w[j]
                    den += pair
                    num += pair * (1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0)
        return num / den
    if metric == "average_precision":
        total_pos = sum(w[i] for i in range(len(y)) if y[i] == 1)
        ap = 0.0
        for t in sorted(set(s), reverse=True):
            tp = sum(w[i] for i in range(len(y)) if s[i] >= t and y[i] == 1)
            seen = sum(w[i] for i in range(len(y)) if s[i] >= t)
            gained = sum(w[i] for i in range(len(y)) if s[i] == t and y[i] == 1)
            ap += gained / total_pos * (tp / seen if seen else 0.0)
        return ap
    if metric == "mean:latency":
        return sum(w[i] * p.columns["latency"][i] for i in range(len(y))) / sum(w)
    if metric == "f1":
        tp = sum(w[i] for i in range(len(y)) if y[i] == 1 and pred[i] == 1)
        fp = sum(w[i] for i in range(len(y)) if y[i] == 0 and pred[i] == 1)
        fn = sum(w[i] for i in range(len(y)) if y[i] == 1 and pred[i] == 0)
        return 2 * tp / (2 * tp + fp + fn)
    if metric == "r2":
        mean = sum(w[i] * y[i] for i in range(len(y))) / sum(w)
        res = sum(w[i] * (s[i] - y[i]) ** 2 for i in range(len(y)))
        tot = sum(w[i] * (y[i] - mean) ** 2 for i in range(len(y)))
        return 1 - res / tot
    raise AssertionError(metric)


@pytest.mark.parametrize("metric", ["roc_auc", "average_precision", "mean:latency", "f1", "r2"])
@pytest.mark.parametrize("ties", [False, True])
def test_bootstrap_values_match_the_slow_reference(metric: str, ties: bool) -> None:
    p = _data(60, ties=ties, weighted=False, seed=3)
    weights = stats.poisson_weights(np.random.default_rng(5), len(p), 12)
    fast = stats.prepare(metric, p).values(weights)
    slow = [_reference(metric, p, weights[: len(p), r].astype(float)) for r in range(weights.shape[1])]
    assert fast == pytest.approx(slow, rel=1e-5)


def test_poisson_weights_have_the_moments_of_poisson_one() -> None:
    w = stats.poisson_weights(np.random.default_rng(1), 200_000, 5)
    assert w[200_000:].sum() == 0  # padding rows are zero
    body = w[:200_000]
    assert body.mean() == pytest.approx(1.0, abs=0.01)
    assert body.var() == pytest.approx(514 / 256 - 1, abs=0.02)  # Poisson(1): 1; never narrower
    assert (body == 0).mean() == pytest.approx(np.exp(-1), abs=0.01)
    assert body.max() <= 5


def test_same_seed_same_bounds_whatever_the_threads() -> None:
    a, b = _data(3000, ties=False, weighted=True, seed=1), _data(3000, ties=False, weighted=True, seed=2)
    b = stats.Predictions(a.y_true, b.y_score, weight=a.weight, ids=a.ids)
    one = stats.compare("roc_auc", a, b, seed=11, resamples=400, workers=1)
    two = stats.compare("roc_auc", a, b, seed=11, resamples=400, workers=2)
    assert one == two
    other = stats.compare("roc_auc", a, b, seed=12, resamples=400)
    assert other.difference != one.difference


def test_a_model_compared_with_itself_has_a_zero_width_difference() -> None:
    a = _data(2000, ties=True, weighted=False)
    result = stats.compare("average_precision", a, a, resamples=200)
    assert result.difference == stats.Bounds(0.0, 0.0, 0.0)
    assert result.challenger.lower < result.challenger.estimate < result.challenger.upper


def test_pairing_narrows_the_interval_of_correlated_models() -> None:
    rng = np.random.default_rng(4)
    n = 4000
    y = (rng.random(n) < 0.4).astype(float)
    shared = rng.normal(size=n)
    a = stats.Predictions(y, y + shared + 0.3 * rng.normal(size=n))
    b = stats.Predictions(y, y + shared + 0.3 * rng.normal(size=n))
    paired = stats.compare("roc_auc", a, b, resamples=400, seed=3)
    assert paired.difference is not None and paired.champion is not None
    width_diff = paired.difference.upper - paired.difference.lower
    width_own = paired.challenger.upper - paired.challenger.lower
    assert width_diff < width_own / 2  # the shared noise cancels in the paired difference


def test_champion_rows_are_aligned_by_id() -> None:
    a = _data(500, ties=False, weighted=False)
    shuffled_order = np.random.default_rng(9).permutation(len(a))
    champion = evalset.take(a, shuffled_order)
    assert stats.fingerprint(champion) == stats.fingerprint(a)
    result = stats.compare("roc_auc", a, champion, resamples=200)
    assert result.difference == stats.Bounds(0.0, 0.0, 0.0)


@pytest.mark.parametrize("change", ["label", "id", "drop"])
def test_fingerprint_and_alignment_refuse_another_evaluation_set(change: str) -> None:
    a = _data(300, ties=False, weighted=False)
    y, ids = a.y_true.copy(), a.ids.copy()
    if change == "label":
        y[10] = 1 - y[10]
        other = stats.Predictions(y, a.y_score, ids=ids)
    elif change == "id":
        ids[10] = 10_000
        other = stats.Predictions(y, a.y_score, ids=ids)
    else:
        other = stats.Predictions(y[1:], a.y_score[1:], ids=ids[1:])
    assert stats.fingerprint(other) != stats.fingerprint(a)
    with pytest.raises(ValueError):
        stats.compare("roc_auc", a, other, resamples=100)


def test_unknown_metrics_and_missing_columns_are_refused() -> None:
    a = _data(50, ties=False, weighted=False)
    assert stats.resolve("eval.auc") == "roc_auc"
    assert stats.resolve("latency_p99") is None
    with pytest.raises(ValueError, match="no per-example definition"):
        stats.prepare("latency_p99", a)
    with pytest.raises(ValueError, match="column `cost`"):
        stats.prepare("mean:cost", a)
    with pytest.raises(ValueError, match="binary labels"):
        stats.prepare("roc_auc", stats.Predictions(np.array([0.0, 2.0]), np.array([0.1, 0.2])))
