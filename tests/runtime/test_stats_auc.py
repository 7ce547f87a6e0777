"""The bootstrap's ROC AUC (one prefix sum over the larger class) against the pairwise definition.

Generated cases cover what the fast path branches on: which class is the smaller (the numerator is
counted directly or as its complement), ties within and across classes, sizes that do not fill the
last 16-row block, rows in the metric's own order (views) or any order (gathers), and bootstrap
counts (exact float32 sums) or real-valued weights (float64 sums).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.runtime.gate import estimators, evalset, stats


def _pairwise_auc(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> float:
    pos, neg = y == 1, y == 0
    wins = (s[pos][:, None] > s[neg][None, :]) + 0.5 * (s[pos][:, None] == s[neg][None, :])
    pairs = np.outer(w[pos], w[neg])
    return float((wins * pairs).sum() / pairs.sum()) if pairs.sum() > 0 else float("nan")


@st.composite
def _cases(draw: st.DrawFn) -> tuple[stats.Predictions, np.ndarray, bool]:
    n = draw(st.integers(2, 90))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rate = draw(st.sampled_from([0.05, 0.3, 0.5, 0.7, 0.95]))
    y = (rng.random(n) < rate).astype(float)
    y[:2] = [0.0, 1.0]
    levels = draw(st.sampled_from([3, 10, 0]))  # 0: continuous scores (no ties)
    score = rng.random(n) + 0.3 * y
    if levels:
        score = np.round(score * levels) / levels
    p = stats.Predictions(y_true=y, y_score=score)
    if draw(st.booleans()):  # the metric's own order: every row set is a view
        p = evalset.take(p, estimators.rank_order("roc_auc", p))
    counts = stats.poisson_counts(rng, n, 7)
    real = draw(st.booleans())
    weights = counts * rng.random((len(counts), 1)).astype(np.float32) if real else counts
    return p, weights, real


@settings(max_examples=300, deadline=None)
@given(_cases())
def test_bootstrap_auc_matches_the_pairwise_definition(case: tuple[stats.Predictions, np.ndarray, bool]) -> None:
    p, weights, real = case
    fast = stats.prepare("roc_auc", p).values(weights)
    slow = [_pairwise_auc(p.y_true, p.y_score, weights[: len(p), r].astype(np.float64))
            for r in range(weights.shape[1])]
    if real:
        assert fast == pytest.approx(slow, rel=1e-5, nan_ok=True)
    else:  # integer counts: every float32 sum is exact
        assert fast == pytest.approx(slow, rel=1e-12, nan_ok=True)


@pytest.mark.parametrize("rate", [0.1, 0.9])
def test_paired_bootstrap_auc_is_the_same_whichever_class_is_smaller(rate: float) -> None:
    rng = np.random.default_rng(3)
    n = 3001
    y = (rng.random(n) < rate).astype(float)
    a = stats.Predictions(y, rng.random(n) + 0.4 * y, ids=np.arange(n))
    b = stats.Predictions(y, np.round(rng.random(n) + 0.3 * y, 2), ids=np.arange(n))
    flipped = [stats.Predictions(1 - q.y_true, -q.y_score, ids=q.ids) for q in (a, b)]
    one = stats.compare("roc_auc", a, b, resamples=300, seed=4)
    other = stats.compare("roc_auc", *flipped, resamples=300, seed=4)
    assert one.challenger.estimate == pytest.approx(other.challenger.estimate, rel=1e-12)
    assert one.difference is not None and one.difference.estimate == pytest.approx(
        other.difference.estimate if other.difference else 0.0, abs=1e-12)


def test_chunks_and_threads_do_not_change_the_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many small chunks, one or two workers: the same seed gives the same draws (each chunk has its
    own seed from one SeedSequence, whatever runs it)."""
    rng = np.random.default_rng(9)
    n = 500
    y = (rng.random(n) < 0.3).astype(float)
    a = stats.Predictions(y, rng.random(n) + 0.3 * y, ids=np.arange(n))
    b = stats.Predictions(y, np.round(rng.random(n) + 0.2 * y, 1), ids=np.arange(n))
    monkeypatch.setattr(stats, "_CHUNK_ELEMENTS", n * 7)  # 7 resamples a chunk: 43 chunks, the last one short
    one = stats.compare("roc_auc", a, b, resamples=300, seed=5, workers=1)
    two = stats.compare("roc_auc", a, b, resamples=300, seed=5, workers=2)
    assert one == two
