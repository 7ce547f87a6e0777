"""Confidence bounds for gate metrics: a paired bootstrap over per-example predictions. Pure numpy.

A gate that compares one number with one number passes or fails on sampling noise when the
evaluation set is small. Here every metric is computed under bootstrap weights: resample `r`
gives example `i` the weight `W[r, i]`, and the *same* weights serve the challenger and the
champion, so the interval of their difference is a paired one (the noise they share cancels).

The weights are Poisson(1) counts (the Poisson bootstrap): for the ratio metrics used here it
matches the classic multinomial bootstrap as n grows, and unlike it the weights of one example
do not depend on the others, so resamples are generated in independent chunks, in parallel, and
reproducibly from one seed. Each count comes from one random byte (probabilities rounded to 1/256).

Every metric is a weighted statistic evaluated for a whole chunk of resamples at once: matrix
products for the averages, one prefix sum over the larger class for ROC AUC, one over score-sorted
weights for average precision. There is no Python loop per resample.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mlgen.runtime.gate.estimators import Prepared, base_weights, metric_names, padded_rows, prepare, rank_order, resolve, value
from mlgen.runtime.gate.evalset import Array, Predictions, align, fingerprint, np, take

# The gate's one entry point: predictions and metrics are re-exported from the modules that hold them.
__all__ = ["DEFAULT_CONFIDENCE", "DEFAULT_RESAMPLES", "Bounds", "Comparison", "Predictions", "align", "bootstrap",
           "compare", "compare_unpaired", "fingerprint", "metric_names", "poisson_counts", "poisson_weights", "prepare",
           "resolve", "seed_for", "value"]

DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95
# Two threads on a 2-core runner: numpy releases the GIL in the heavy loops, and the chunks are
# independent (each draws from its own seeded stream), so the verdict is the same for any count.
DEFAULT_WORKERS = min(2, os.cpu_count() or 1)
_CHUNK_ELEMENTS = 1_600_000  # counts per chunk: 1.6 MB of bytes, and the floats made from them stay near the caches


# -- the bootstrap ----------------------------------------------------------------------------------

# Poisson(1) probabilities rounded to 1/256: P(k) = count / 256 for k = 0..5. The mean is exactly 1
# and the variance 514/256 - 1 = 1.008 (Poisson: 1), so the bounds come out 0.4% wider, never narrower.
_COUNTS = (95, 93, 47, 16, 4, 1)


def poisson_counts(rng: Any, n: int, resamples: int) -> Array:
    """padded_rows(n) x resamples bootstrap counts as uint8 (the padding rows are zero).

    One random byte per count, turned into a count by comparisons with the cumulative counts, each
    written in place: byte comparisons run at memory speed where a table lookup widens every index.
    Metrics read the counts as bytes and widen only the rows they use, after any gather.
    """
    bits = np.frombuffer(rng.bytes(n * resamples), dtype=np.uint8).reshape(n, resamples)
    counts = np.zeros((padded_rows(n), resamples), dtype=np.uint8)
    thresholds = np.cumsum(_COUNTS)[:-1].astype(np.uint8)
    np.greater_equal(bits, thresholds[0], out=counts[:n].view(bool))
    step = np.empty((n, resamples), dtype=bool)
    for threshold in thresholds[1:]:
        np.greater_equal(bits, threshold, out=step)
        counts[:n] += step.view(np.uint8)
    return counts


def poisson_weights(rng: Any, n: int, resamples: int) -> Array:
    """The same counts as float32 weights."""
    return poisson_counts(rng, n, resamples).astype(np.float32)


def seed_for(*parts: str) -> int:
    """A seed from the commit and the stage: a re-run of the same pipeline gives the same verdict."""
    return int(hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16], 16)


def bootstrap(prepared: Sequence[Prepared], n: int, *, resamples: int, seed: int,
              base: Array | None = None, workers: int = DEFAULT_WORKERS) -> Array:
    """Values of each prepared metric under the same `resamples` Poisson weightings: (len(prepared), resamples)."""
    width = max(1, min(resamples, _CHUNK_ELEMENTS // max(n, 1)))
    chunks = [(start, min(width, resamples - start)) for start in range(0, resamples, width)]
    seeds = np.random.SeedSequence(seed).spawn(len(chunks))
    out = np.empty((len(prepared), resamples), dtype=np.float64)

    def run(i: int) -> None:
        start, count = chunks[i]
        weights = poisson_counts(np.random.default_rng(seeds[i]), n, count)
        if base is not None:
            weights = weights * base.astype(np.float32)
        for k, metric in enumerate(prepared):
            out[k, start:start + count] = metric.values(weights)

    if workers > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, range(len(chunks))))
    else:
        for i in range(len(chunks)):
            run(i)
    return out


@dataclass(frozen=True)
class Bounds:
    """One-sided bounds at `confidence` each: lower is the (1 - confidence) quantile, upper the confidence quantile."""

    estimate: float
    lower: float
    upper: float

    def text(self, digits: int = 4) -> str:
        return f"{self.estimate:.{digits}f} [{self.lower:.{digits}f}, {self.upper:.{digits}f}]"


@dataclass(frozen=True)
class Comparison:
    metric: str
    challenger: Bounds
    champion: Bounds | None
    difference: Bounds | None  # challenger - champion
    confidence: float
    resamples: int
    seed: int
    invalid_fraction: float  # resamples where the metric was undefined (e.g. no positive drawn)
    pairing: str = "paired"  # paired: the same examples and weights; unpaired: two evaluation sets; none: no champion


def _bounds(estimate: float, draws: Array, confidence: float) -> tuple[Bounds, float]:
    finite = draws[np.isfinite(draws)]
    invalid = 1 - len(finite) / max(len(draws), 1)
    if not len(finite):
        return Bounds(estimate, math.nan, math.nan), invalid
    alpha = 1 - confidence
    lower, upper = np.quantile(finite, [alpha, 1 - alpha])
    return Bounds(estimate, float(lower), float(upper)), invalid


def _check(confidence: float, resamples: int) -> None:
    if not 0.5 < confidence < 1:
        raise ValueError(f"confidence must be between 0.5 and 1, got {confidence}")
    if resamples < 100:
        raise ValueError(f"at least 100 resamples are needed for stable bounds, got {resamples}")


def _draws(metric: str, predictions: Sequence[Predictions], *, resamples: int, seed: int,
           workers: int) -> tuple[list[float], Array]:
    """Point values and bootstrap draws of `metric` for models scored on the same examples."""
    name = resolve(metric)
    if name in ("roc_auc", "average_precision"):
        # The bootstrap weights are independent per example, so any fixed order of the examples
        # is as good as another: the first model's own rank order spares it a copy per resample.
        order = rank_order(name, predictions[0])
        predictions = [take(p, order) for p in predictions]
    base = base_weights(predictions[0])
    models = [prepare(metric, p) for p in predictions]
    unweighted = predictions[0].weight is None  # the counts alone are the weights: no float copy
    draws = bootstrap(models, len(predictions[0]), resamples=resamples, seed=seed,
                      base=None if unweighted else base, workers=workers)
    return [float(m.values(base)[0]) for m in models], draws


def compare(metric: str, challenger: Predictions, champion: Predictions | None = None, *,
            confidence: float = DEFAULT_CONFIDENCE, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
            workers: int = DEFAULT_WORKERS) -> Comparison:
    """Bounds for the challenger's metric and, with a champion scored on the same examples, for the paired difference."""
    _check(confidence, resamples)
    models = [challenger] if champion is None else [challenger, align(champion, challenger)]
    points, draws = _draws(metric, models, resamples=resamples, seed=seed, workers=workers)
    own, invalid = _bounds(points[0], draws[0], confidence)
    if champion is None:
        return Comparison(metric, own, None, None, confidence, resamples, seed, invalid, "none")
    champ, _ = _bounds(points[1], draws[1], confidence)
    diff, invalid_diff = _bounds(points[0] - points[1], draws[0] - draws[1], confidence)
    return Comparison(metric, own, champ, diff, confidence, resamples, seed, max(invalid, invalid_diff))


def compare_unpaired(metric: str, challenger: Predictions, champion: Predictions, *,
                     confidence: float = DEFAULT_CONFIDENCE, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                     workers: int = DEFAULT_WORKERS) -> Comparison:
    """Two evaluation sets: each model is resampled on its own set, independently (wider, but honest)."""
    _check(confidence, resamples)
    (own_point,), own_draws = _draws(metric, [challenger], resamples=resamples, seed=seed, workers=workers)
    (champ_point,), champ_draws = _draws(metric, [champion], resamples=resamples, seed=seed + 1, workers=workers)
    own, invalid = _bounds(own_point, own_draws[0], confidence)
    champ, invalid_champ = _bounds(champ_point, champ_draws[0], confidence)
    diff, invalid_diff = _bounds(own_point - champ_point, own_draws[0] - champ_draws[0], confidence)
    return Comparison(metric, own, champ, diff, confidence, resamples, seed, max(invalid, invalid_champ, invalid_diff),
                      "unpaired")
