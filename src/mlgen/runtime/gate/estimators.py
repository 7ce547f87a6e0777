"""Gate metrics under bootstrap weights: each metric evaluated for a whole chunk of resamples at once.

Matrix products for the averaged metrics, one prefix sum over the larger class for ROC AUC, one over
score-sorted weights for average precision; no Python loop per resample. `W` is padded_rows(n) x R:
one row per example, then zero rows that pad the sorted blocks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from mlgen.runtime.gate.evalset import Array, Predictions, np

_EPS = 1e-15


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


def rank_order(name: str, p: Predictions) -> Array:
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
    order = rank_order("average_precision", p)
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
    return float(prepare(metric, predictions).values(base_weights(predictions))[0])


def base_weights(p: Predictions) -> Array:
    """Each example's own weight as a padded_rows(n) x 1 column (the padding rows are zero)."""
    w = np.ones(len(p)) if p.weight is None else np.asarray(p.weight, dtype=np.float64)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("`weight` must be finite and not negative")
    return np.r_[w, np.zeros(padded_rows(len(w)) - len(w))][:, None]
