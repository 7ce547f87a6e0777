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

import functools
import hashlib
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

Array = Any  # numpy arrays; the stubs' generics add nothing here


class _Numpy:
    """numpy, imported on first use: every runtime module is imported by `mlgen compile`, which must stay light."""

    def __getattr__(self, name: str) -> Any:
        import numpy

        return getattr(numpy, name)


np: Any = _Numpy()

DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95
_CHUNK_ELEMENTS = 1_600_000  # counts per chunk: 1.6 MB of bytes, and the floats made from them stay near the caches
_EPS = 1e-15


# -- predictions ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Predictions:
    """One model's per-example predictions on an evaluation set (all arrays of one length)."""

    y_true: Array
    y_score: Array | None = None  # probability (or score) of the positive class
    y_pred: Array | None = None  # predicted label or value
    weight: Array | None = None  # example weights
    ids: Array | None = None
    columns: dict[str, Array] = field(default_factory=dict)  # any other numeric column, for `mean:<column>`

    def __len__(self) -> int:
        return int(len(self.y_true))

    def predicted(self) -> Array:
        """Predicted labels: `y_pred`, or `y_score >= 0.5` for a binary classifier."""
        if self.y_pred is not None:
            return self.y_pred
        if self.y_score is not None:
            return (self.y_score >= 0.5).astype(np.float64)
        raise ValueError("the predictions have neither `y_pred` nor `y_score`")

    def point(self) -> Array:
        """Predicted values for regression metrics: `y_pred`, else `y_score`."""
        if self.y_pred is not None:
            return self.y_pred
        if self.y_score is not None:
            return self.y_score
        raise ValueError("the predictions have neither `y_pred` nor `y_score`")

    def score(self) -> Array:
        if self.y_score is None:
            raise ValueError("this metric needs `y_score` (a probability or score per example)")
        return self.y_score


def fingerprint(predictions: Predictions) -> str:
    """What makes two evaluation sets the same: the examples (ids, or their order) and the labels."""
    digest = hashlib.sha256()
    y = np.asarray(predictions.y_true, dtype=np.float64)
    if predictions.ids is not None:
        ids = np.asarray(predictions.ids).astype(str)
        order = np.argsort(ids, kind="stable")
        digest.update(b"ids\0" + "\0".join(ids[order].tolist()).encode() + b"\0")
        digest.update(np.ascontiguousarray(y[order]).tobytes())
    else:
        digest.update(b"rows\0")
        digest.update(np.ascontiguousarray(y).tobytes())
    return digest.hexdigest()


def align(champion: Predictions, challenger: Predictions) -> Predictions:
    """The champion's rows in the challenger's order (by id when both have ids), or ValueError."""
    if len(champion) != len(challenger):
        raise ValueError(f"the evaluation sets differ in size ({len(challenger)} vs {len(champion)} examples)")
    if challenger.ids is None or champion.ids is None:
        if not np.array_equal(np.asarray(champion.y_true, float), np.asarray(challenger.y_true, float)):
            raise ValueError("the evaluation sets have different labels row by row (and no `id` column to align them)")
        return champion
    theirs, ours = np.asarray(champion.ids).astype(str), np.asarray(challenger.ids).astype(str)
    by_theirs, by_ours = np.argsort(theirs, kind="stable"), np.argsort(ours, kind="stable")
    if (theirs[by_theirs][1:] == theirs[by_theirs][:-1]).any():
        raise ValueError("the champion's predictions repeat an `id`")
    if not np.array_equal(theirs[by_theirs], ours[by_ours]):
        missing = np.setdiff1d(ours, theirs)
        shown = missing[0] if len(missing) else np.setdiff1d(theirs, ours)[0]
        raise ValueError(f"example id {str(shown)!r} is in one evaluation set only")
    order = np.empty(len(ours), dtype=np.int64)
    order[by_ours] = by_theirs  # the champion's row of each challenger row
    taken = _take(champion, order)
    if not np.array_equal(np.asarray(taken.y_true, float), np.asarray(challenger.y_true, float)):
        raise ValueError("the same example ids carry different labels in the two evaluation sets")
    return taken


def _take(p: Predictions, order: Array) -> Predictions:
    pick = (lambda a: None if a is None else np.asarray(a)[order])
    return Predictions(pick(p.y_true), pick(p.y_score), pick(p.y_pred), pick(p.weight), pick(p.ids),
                       {k: np.asarray(v)[order] for k, v in p.columns.items()})


# -- metrics under bootstrap weights ------------------------------------------------------------------

class Prepared:
    """A metric bound to one model's predictions: `values(W)` gives one value per column of weights.

    `W` is padded_rows(n) x R: one row per example, then zero rows that pad the sorted blocks.
    """

    def values(self, weights: Array) -> Array:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class _Linear(Prepared):
    """value = f(columnsᵀ W): every averaged metric (accuracy, log loss, MAE, R², ...)."""

    columns: Array  # k x padded_rows(n), float64, zero past n
    combine: Callable[[Array], Array]  # (R x k) sums -> values
    single: Array = field(init=False)  # the same in float32, for the bootstrap's float32 weights

    def __post_init__(self) -> None:
        self.single = self.columns.astype(np.float32)

    def values(self, weights: Array) -> Array:
        if weights.dtype == np.uint8:
            weights = weights.astype(np.float32)
        columns = self.single if weights.dtype == np.float32 else self.columns
        return self.combine((columns @ weights).T.astype(np.float64))


_BLOCK = 32


@functools.cache
def _lower(size: int = _BLOCK) -> Array:
    return np.tril(np.ones((size, size), dtype=np.float32))


def padded_rows(n: int) -> int:
    """Rows of a weight matrix for n examples: at least 16 zero rows (the AUC's last block), rounded up to whole blocks."""
    return -(-(n + 16) // _BLOCK) * _BLOCK


@dataclass
class _Sorted:
    """Examples in a fixed order, in blocks of 32, so that a prefix sum is mostly matrix products.

    numpy's cumulative sum runs one element at a time; within a block a prefix sum is a product
    with a lower-triangular matrix (BLAS), and only the block totals need a cumulative sum. When
    the order is the examples' own order, the blocks are a view of the weights: no copy at all.
    """

    index: Array | None  # blocks x BLOCK example indices (padding: the zero row n), None for the identity
    positive: Array  # blocks x BLOCK x 1, float32 mask
    negative: Array  # its complement on real examples (0 on padding)

    @classmethod
    def of(cls, order: Array, positive: Array, n: int) -> _Sorted:
        rows = padded_rows(n)
        index = np.r_[order, np.arange(n, rows)]
        mask = np.r_[positive.astype(np.float32), np.zeros(rows - n, np.float32)]
        real = np.r_[np.ones(n, np.float32), np.zeros(rows - n, np.float32)]
        identity = bool((index == np.arange(rows)).all())
        return cls(None if identity else index.reshape(-1, _BLOCK), mask.reshape(-1, _BLOCK, 1),
                   (real - mask).reshape(-1, _BLOCK, 1))

    def blocks(self, weights: Array) -> Array:
        if self.index is None:
            blocks = weights.reshape(-1, _BLOCK, weights.shape[1])
        else:
            blocks = np.take(weights, self.index, axis=0)
        return blocks.astype(np.float32) if blocks.dtype == np.uint8 else blocks

    @staticmethod
    def position(sorted_positions: Array) -> tuple[Array, Array]:
        return sorted_positions // _BLOCK, sorted_positions % _BLOCK

    @staticmethod
    def prefix(x: Array) -> Array:
        """Inclusive prefix sums along the sorted order of a blocks x BLOCK x R array."""
        within = np.matmul(_lower(), x)
        totals = within[:, -1, :]
        within += (np.cumsum(totals, axis=0, dtype=x.dtype) - totals)[:, None, :]
        return within


def _total(x: Array) -> Array:
    """Σ over examples of a blocks x BLOCK x R array, per resample (BLAS accumulates in blocks)."""
    flat = x.reshape(-1, x.shape[-1])
    return (np.ones(flat.shape[0], dtype=x.dtype) @ flat).astype(np.float64)


_PREFIX_BLOCK = 16  # rows per block of the AUC's prefix sums: a 16 x 16 product beats wider blocks here


def _widened(weights: Array, rows: Array | slice) -> Array:
    """Rows of the weights as floats: a gather copies bytes (4x fewer than floats), then widens them."""
    picked = weights[rows] if isinstance(rows, slice) else np.take(weights, rows, axis=0)
    return picked.astype(np.float32) if picked.dtype == np.uint8 else picked


@dataclass
class _RocAuc(Prepared):
    """Weighted Mann-Whitney AUC from one prefix sum over the larger class only.

    The examples split into the smaller class ("few") and the larger ("many"), each in ascending
    score order. Every pair counts 1 when the few-class example scores above the many-class one and
    1/2 on a tie, so X = Σ_f w_f · (weight of the many-class examples scored at or below f), minus
    half of each tie group's few x many weight. A few-class example's "at or below" is a fixed
    position in the many class, so one prefix sum over the many class (16-row blocks: a product with
    a lower-triangular matrix, then a cumulative sum of the block totals) read at those positions
    gives X. When the positives are the few, X is the numerator; otherwise it counts the opposite
    pairs and the numerator is P·N - X.

    Bootstrap counts (uint8) keep every float32 sum and product here exact (below 2**24, for n up
    to 600,000); the final sum over examples, and everything for real-valued weights, is in float64.
    """

    few: Array | slice  # rows of the few-class examples, ascending score
    many: Array | slice  # rows of the many-class examples, ascending score, padded to whole blocks with zero rows
    at: Array  # per few-class example from `skip` on: the last many-class position at or below it
    skip: int  # few-class examples with no many-class example at or below them (a prefix of `few`)
    positives_are_few: bool
    ties: tuple[Array, Array, Array] | None  # members (rows), their few-class mask, group starts

    def values(self, weights: Array) -> Array:
        exact = np.float32 if weights.dtype == np.uint8 else np.float64  # where float32 sums stay exact
        few, many = _widened(weights, self.few), _widened(weights, self.many)
        r = weights.shape[1]
        within = np.matmul(_lower(_PREFIX_BLOCK), many.reshape(-1, _PREFIX_BLOCK, r)).reshape(-1, r)
        totals = within[_PREFIX_BLOCK - 1::_PREFIX_BLOCK]
        before = np.cumsum(totals, axis=0, dtype=exact) - totals  # many-class weight of earlier blocks
        at_or_below = np.take(within, self.at, axis=0) + np.take(before, self.at // _PREFIX_BLOCK, axis=0)
        counted = (few[self.skip:] * at_or_below).astype(np.float64).sum(axis=0)
        total_few = few.sum(axis=0, dtype=exact).astype(np.float64)
        total_many = (before[-1] + totals[-1]).astype(np.float64) if len(totals) else np.zeros(r)
        if self.ties is not None:
            members, mask, starts = self.ties
            tied = _widened(weights, members)
            tied_few = tied * mask
            few_g = np.add.reduceat(tied_few, starts, axis=0, dtype=np.float64)
            many_g = np.add.reduceat(tied - tied_few, starts, axis=0, dtype=np.float64)
            counted -= 0.5 * (few_g * many_g).sum(axis=0)
        pairs = total_few * total_many
        numerator = counted if self.positives_are_few else pairs - counted
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(numerator / pairs)


@dataclass
class _AveragePrecision(Prepared):
    """Σ over thresholds (descending distinct scores) of the precision there x the recall gained there."""

    sorted: _Sorted
    ends: tuple[Array, Array]  # block coordinates of the last example of each distinct score

    def values(self, weights: Array) -> Array:
        w = self.sorted.blocks(weights)
        pos = w * self.sorted.positive
        tp = _Sorted.prefix(pos)[self.ends].astype(np.float64)  # distinct scores x R
        seen = _Sorted.prefix(w)[self.ends].astype(np.float64)
        gained = np.diff(tp, axis=0, prepend=0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(seen > 0, tp / np.where(seen > 0, seen, 1.0), 0.0)
            return np.asarray((gained * precision).sum(axis=0) / tp[-1])


def _ratio(a: Array, b: Array) -> Array:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(a / b)


def _binary(p: Predictions) -> tuple[Array, Array]:
    y = np.asarray(p.y_true, dtype=np.float64)
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("this metric needs binary labels (0/1) in `y_true`")
    return y, np.asarray(p.predicted(), dtype=np.float64)


def _linear(columns: list[Array], combine: Callable[[Array], Array]) -> Prepared:
    stacked = np.vstack([np.asarray(c, dtype=np.float64) for c in columns])
    padded = np.zeros((stacked.shape[0], padded_rows(stacked.shape[1])))
    padded[:, :stacked.shape[1]] = stacked
    return _Linear(padded, combine)


def _accuracy(p: Predictions) -> Prepared:
    correct = (np.asarray(p.y_true, dtype=np.float64) == np.asarray(p.predicted(), dtype=np.float64)).astype(np.float64)
    return _linear([correct, np.ones_like(correct)], lambda s: _ratio(s[:, 0], s[:, 1]))


def _precision(p: Predictions) -> Prepared:
    y, pred = _binary(p)
    return _linear([y * pred, pred], lambda s: _ratio(s[:, 0], s[:, 1]))


def _recall(p: Predictions) -> Prepared:
    y, pred = _binary(p)
    return _linear([y * pred, y], lambda s: _ratio(s[:, 0], s[:, 1]))


def _f1(p: Predictions) -> Prepared:
    y, pred = _binary(p)
    return _linear([y * pred, pred + y], lambda s: _ratio(2 * s[:, 0], s[:, 1]))


def _mean_of(values: Array) -> Prepared:
    v = np.asarray(values, dtype=np.float64)
    return _linear([v, np.ones_like(v)], lambda s: _ratio(s[:, 0], s[:, 1]))


def _log_loss(p: Predictions) -> Prepared:
    y, _ = _binary(p)
    q = np.clip(np.asarray(p.score(), dtype=np.float64), _EPS, 1 - _EPS)
    return _mean_of(-(y * np.log(q) + (1 - y) * np.log1p(-q)))


def _brier(p: Predictions) -> Prepared:
    y, _ = _binary(p)
    return _mean_of((np.asarray(p.score(), dtype=np.float64) - y) ** 2)


def _mae(p: Predictions) -> Prepared:
    return _mean_of(np.abs(np.asarray(p.point(), dtype=np.float64) - np.asarray(p.y_true, dtype=np.float64)))


def _rmse(p: Predictions) -> Prepared:
    err = (np.asarray(p.point(), dtype=np.float64) - np.asarray(p.y_true, dtype=np.float64)) ** 2
    return _linear([err, np.ones_like(err)], lambda s: np.sqrt(_ratio(s[:, 0], s[:, 1])))


def _r2(p: Predictions) -> Prepared:
    y = np.asarray(p.y_true, dtype=np.float64)
    err = (np.asarray(p.point(), dtype=np.float64) - y) ** 2

    def combine(s: Array) -> Array:
        total = s[:, 2] - _ratio(s[:, 1] ** 2, s[:, 3])
        return 1 - _ratio(s[:, 0], total)

    return _linear([err, y, y * y, np.ones_like(y)], combine)


def _auc_classes(p: Predictions) -> tuple[Array, Array, bool]:
    """Rows of the few and the many class of an AUC, each in ascending score order, and whether the few are the positives."""
    y, _ = _binary(p)
    score = np.asarray(p.score(), dtype=np.float64)
    positive = y == 1.0
    positives_are_few = bool(2 * positive.sum() <= len(y))
    few = np.flatnonzero(positive == positives_are_few)
    many = np.flatnonzero(positive != positives_are_few)
    return (few[np.argsort(score[few], kind="stable")], many[np.argsort(score[many], kind="stable")],
            positives_are_few)


def _rank_order(name: str, p: Predictions) -> Array:
    """The order a rank metric reads the examples in; in that order its weights need no copy."""
    if name == "roc_auc":
        few, many, _ = _auc_classes(p)
        return np.r_[few, many]
    return np.argsort(-np.asarray(p.score(), dtype=np.float64), kind="stable")


def _rows_of(index: Array) -> Array | slice:
    """A slice when the rows are consecutive (a view of the weights), else the index (a copy)."""
    if len(index) and bool((np.diff(index) == 1).all()):
        return slice(int(index[0]), int(index[0]) + len(index))
    return index


def _tie_groups(score: Array, few_mask: Array) -> tuple[Array, Array, Array] | None:
    """Groups of equal scores that hold both classes: their rows, few-class mask and group starts."""
    order = np.argsort(score, kind="stable")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    sizes = np.diff(np.r_[starts, len(s)])
    few_in = np.add.reduceat(few_mask[order].astype(np.int64), starts) if len(s) else np.zeros(0, np.int64)
    mixed = (few_in > 0) & (few_in < sizes)
    if not mixed.any():
        return None
    members = order[np.concatenate([np.arange(a, a + k) for a, k in zip(starts[mixed], sizes[mixed])])]
    group_starts = np.r_[0, np.cumsum(sizes[mixed])[:-1]]
    return members, few_mask[members].astype(np.float32)[:, None], group_starts


def _roc_auc(p: Predictions) -> Prepared:
    few, many, positives_are_few = _auc_classes(p)
    score = np.asarray(p.score(), dtype=np.float64)
    n = len(score)
    # Many-class examples at or below each few-class one (ties count here; half is taken back below).
    count = np.searchsorted(score[many], score[few], side="right")
    skip = int(np.searchsorted(count, 0, side="right"))
    pad = n + np.arange(-len(many) % _PREFIX_BLOCK)  # zero rows (padded_rows leaves at least 16)
    ties = None
    if (np.searchsorted(score[many], score[few], side="left") != count).any():  # some score is in both classes
        few_mask = np.zeros(n, dtype=bool)
        few_mask[few] = True
        ties = _tie_groups(score, few_mask)
    return _RocAuc(_rows_of(few), _rows_of(np.r_[many, pad]), count[skip:] - 1, skip, positives_are_few, ties)


def _average_precision(p: Predictions) -> Prepared:
    y, _ = _binary(p)
    score = np.asarray(p.score(), dtype=np.float64)
    order = _rank_order("average_precision", p)
    s = score[order]
    ends = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]
    sorted_ = _Sorted.of(order, y[order] == 1.0, len(y))
    return _AveragePrecision(sorted_, sorted_.position(ends))


# Metric name -> (how to prepare it, whether higher is better).
METRICS: dict[str, tuple[Callable[[Predictions], Prepared], bool]] = {
    "accuracy": (_accuracy, True),
    "precision": (_precision, True),
    "recall": (_recall, True),
    "f1": (_f1, True),
    "roc_auc": (_roc_auc, True),
    "average_precision": (_average_precision, True),
    "log_loss": (_log_loss, False),
    "brier": (_brier, False),
    "mae": (_mae, False),
    "rmse": (_rmse, False),
    "r2": (_r2, True),
}
ALIASES = {"auc": "roc_auc", "ap": "average_precision", "logloss": "log_loss", "brier_score": "brier", "r_squared": "r2"}


def metric_names() -> list[str]:
    return [*METRICS, "mean:<column>"]


def resolve(metric: str) -> str | None:
    """The canonical metric name for a gate's metric (`eval.auc` -> `roc_auc`, `mean:<column>` kept as
    it is), or None when it has no per-example definition."""
    if "mean:" in metric:
        return "mean:" + metric.split("mean:", 1)[1]
    name = metric.rsplit(".", 1)[-1].lower()
    name = ALIASES.get(name, name)
    return name if name in METRICS else None


def prepare(metric: str, predictions: Predictions) -> Prepared:
    name = resolve(metric)
    if name is None:
        raise ValueError(f"no per-example definition of `{metric}`; known: {', '.join(metric_names())}")
    if name.startswith("mean:"):
        column = name.split(":", 1)[1]
        if column not in predictions.columns:
            raise ValueError(f"`{metric}` needs a column `{column}` in the predictions file")
        return _mean_of(predictions.columns[column])
    return METRICS[name][0](predictions)


def value(metric: str, predictions: Predictions) -> float:
    """The metric on the whole evaluation set (every example at its own weight)."""
    return float(prepare(metric, predictions).values(_base_weights(predictions))[0])


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


def _base_weights(p: Predictions) -> Array:
    """Each example's own weight as a padded_rows(n) x 1 column (the padding rows are zero)."""
    w = np.ones(len(p)) if p.weight is None else np.asarray(p.weight, dtype=np.float64)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("`weight` must be finite and not negative")
    return np.r_[w, np.zeros(padded_rows(len(w)) - len(w))][:, None]


def bootstrap(prepared: Sequence[Prepared], n: int, *, resamples: int, seed: int,
              base: Array | None = None, workers: int = 1) -> Array:
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
        order = _rank_order(name, predictions[0])
        predictions = [_take(p, order) for p in predictions]
    base = _base_weights(predictions[0])
    models = [prepare(metric, p) for p in predictions]
    unweighted = predictions[0].weight is None  # the counts alone are the weights: no float copy
    draws = bootstrap(models, len(predictions[0]), resamples=resamples, seed=seed,
                      base=None if unweighted else base, workers=workers)
    return [float(m.values(base)[0]) for m in models], draws


def compare(metric: str, challenger: Predictions, champion: Predictions | None = None, *,
            confidence: float = DEFAULT_CONFIDENCE, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
            workers: int = 1) -> Comparison:
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
                     workers: int = 1) -> Comparison:
    """Two evaluation sets: each model is resampled on its own set, independently (wider, but honest)."""
    _check(confidence, resamples)
    (own_point,), own_draws = _draws(metric, [challenger], resamples=resamples, seed=seed, workers=workers)
    (champ_point,), champ_draws = _draws(metric, [champion], resamples=resamples, seed=seed + 1, workers=workers)
    own, invalid = _bounds(own_point, own_draws[0], confidence)
    champ, invalid_champ = _bounds(champ_point, champ_draws[0], confidence)
    diff, invalid_diff = _bounds(own_point - champ_point, own_draws[0] - champ_draws[0], confidence)
    return Comparison(metric, own, champ, diff, confidence, resamples, seed, max(invalid, invalid_champ, invalid_diff),
                      "unpaired")
