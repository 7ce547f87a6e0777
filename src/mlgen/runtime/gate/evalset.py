"""One model's per-example predictions on an evaluation set, the set's fingerprint, and pairing two sets.

Two models can be compared example by example only on the same examples with the same labels: the
fingerprint says whether two stored sets are the same, `align` puts the champion's rows in the
challenger's order (by id) or says why it cannot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

Array = Any  # numpy arrays; the stubs' generics add nothing here


class _Numpy:
    """numpy, imported on first use: every runtime module is imported by `mlgen compile`, which must stay light."""

    def __getattr__(self, name: str) -> Any:
        import numpy

        return getattr(numpy, name)


np: Any = _Numpy()


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
    taken = take(champion, order)
    if not np.array_equal(np.asarray(taken.y_true, float), np.asarray(challenger.y_true, float)):
        raise ValueError("the same example ids carry different labels in the two evaluation sets")
    return taken


def take(p: Predictions, order: Array) -> Predictions:
    def pick(a: Array | None) -> Array | None:
        return None if a is None else np.asarray(a)[order]

    return Predictions(pick(p.y_true), pick(p.y_score), pick(p.y_pred), pick(p.weight), pick(p.ids),
                       {k: np.asarray(v)[order] for k, v in p.columns.items()})
