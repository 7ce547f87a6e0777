"""`mlgen registry rescore`: score the champion on this run's evaluation set, so the gate can pair them.

A paired comparison needs both models' predictions on the same examples. The champion's stored
predictions serve when they were made on this evaluation set (same fingerprint). Otherwise the
champion's model files are fetched from the registry and the evaluate stage's own command runs
again with three variables pointing it elsewhere:

    MLGEN_MODEL_DIR     the champion's model files (instead of the challenger's)
    MLGEN_PREDICTIONS   where to write the champion's predictions
    MLGEN_METRICS       where to write the champion's metrics

A command that ignores them would score the challenger again, or overwrite the challenger's own
files; both are caught here and fail the job, so that no gate ever compares across evaluation
sets (or a model with itself) without saying so.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgen.errors import UserError
from mlgen.runtime import shell
from mlgen.runtime.registry import Registry

ENV_MODEL, ENV_PREDICTIONS, ENV_METRICS = "MLGEN_MODEL_DIR", "MLGEN_PREDICTIONS", "MLGEN_METRICS"
ENV_HINT = (f"make the evaluate command read the model from ${ENV_MODEL} and write ${ENV_PREDICTIONS} and "
            f"${ENV_METRICS} when they are set, e.g. `python evaluate.py --model \"${{{ENV_MODEL}:-model}}\" "
            f"--predictions \"${{{ENV_PREDICTIONS}:-predictions.csv}}\" --metrics \"${{{ENV_METRICS}:-metrics.json}}\"`")


@dataclass(frozen=True)
class Request:
    model: str
    alias: str
    run: str  # the evaluate stage's command
    predictions: Path  # the challenger's, on this evaluation set
    metrics: Path | None  # the challenger's metrics, which the second run must leave alone
    out: Path  # the champion's re-scored predictions go here; the folder beside it holds the rest
    model_dir: Path | None = None  # the challenger's model files, to tell two models from one scored twice


def rescored_paths(out: Path) -> tuple[Path, Path]:
    """The champion's model folder and metrics file, beside its re-scored predictions."""
    return out.parent / "champion-model", out.parent / "champion-metrics.json"


def rescore(registry: Registry, request: Request) -> str:
    """Write the champion's predictions on this evaluation set to `request.out` when they are needed
    and can be made; the summary says what happened. Raises UserError when re-scoring went wrong."""
    from mlgen.runtime.gate import predictions, stats

    ours = stats.fingerprint(predictions.load(request.predictions))
    request.out.unlink(missing_ok=True)  # never leave an earlier run's champion predictions behind
    model_dir, metrics = rescored_paths(request.out)
    stored, _ = registry.baseline_predictions(request.model, request.alias, request.out.parent / "stored")
    if stored is not None and _fingerprint(stored, "stored champion predictions") == ours:
        return (f"{request.model}@{request.alias} was scored on this evaluation set ({ours[:12]}): its stored "
                "predictions pair with the challenger's; nothing to re-score")
    if model_dir.exists():
        shutil.rmtree(model_dir)
    fetched, why = registry.fetch_model(request.model, request.alias, model_dir)
    if fetched is None:
        return f"nothing to re-score: {why}"
    _run(request, fetched, metrics)
    theirs = _fingerprint(request.out, "re-scored champion predictions")
    if theirs != ours:
        raise UserError(f"the champion was re-scored on another evaluation set (fingerprint {theirs[:12]}, the "
                        f"challenger's {ours[:12]})", where=str(request.out),
                        hint="both runs of the evaluate command must read the same evaluation data; only the model differs")
    if _same_scores(request.predictions, request.out):
        if request.model_dir is not None and _files_digest(request.model_dir) != _files_digest(fetched):
            raise UserError(f"the re-scored champion's predictions equal the challenger's, but their model files "
                            f"differ ({fetched} vs {request.model_dir}): the evaluate command ignores ${ENV_MODEL}",
                            hint=ENV_HINT)
        print("note: the re-scored champion's predictions equal the challenger's"
              + ("" if request.model_dir is not None else f"; if the models differ, the evaluate command ignores ${ENV_MODEL}"))
    return (f"re-scored {request.model}@{request.alias} on this evaluation set ({ours[:12]}): {request.out}"
            + ("" if stored is None else " (its stored predictions were made on another evaluation set)"))


def _run(request: Request, model_dir: Path, metrics: Path) -> None:
    guarded = [p for p in (request.predictions, request.metrics) if p is not None and p.is_file()]
    before = {p: _digest(p) for p in guarded}
    env = {ENV_MODEL: str(model_dir.resolve()), ENV_PREDICTIONS: str(request.out.resolve()),
           ENV_METRICS: str(metrics.resolve())}
    print(f"re-scoring {request.model}@{request.alias} with the evaluate command ({ENV_MODEL}={model_dir})", flush=True)
    finished = shell.run(request.run, env=env)
    if finished.code != 0:
        raise UserError(f"re-scoring the champion failed: the evaluate command exited with {finished.code}",
                        hint="its output is above; " + ENV_HINT)
    overwritten = [str(p) for p in guarded if not p.is_file() or _digest(p) != before[p]]
    if overwritten:
        raise UserError(f"re-scoring the champion changed the challenger's {', '.join(overwritten)}", hint=ENV_HINT)
    if not request.out.is_file():
        raise UserError(f"re-scoring the champion wrote no predictions to ${ENV_PREDICTIONS} ({request.out})",
                        hint=ENV_HINT)


def _fingerprint(path: Path, what: str) -> str:
    from mlgen.runtime.gate import predictions, stats

    loaded: Any = predictions.load(path, what=what)
    return stats.fingerprint(loaded)


def _same_scores(ours: Path, theirs: Path) -> bool:
    from mlgen.runtime.gate import predictions, stats

    a: Any = stats.align(predictions.load(theirs), predictions.load(ours))
    b: Any = predictions.load(ours)
    return all(x is not None and y is not None and bool((x == y).all())
               for x, y in ((a.y_score, b.y_score), (a.y_pred, b.y_pred)) if x is not None or y is not None)


def _files_digest(folder: Path) -> str:
    """The files under `folder`: relative names and contents (a file counts as a folder of one)."""
    digest = hashlib.sha256()
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + _digest(path).encode())
    return digest.hexdigest()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
