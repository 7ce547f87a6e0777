"""`baseline: {registry: champion, rescore: true}` end to end on a local MLflow: when the champion was
scored on other examples, its model is fetched and the evaluate command scores it on this evaluation
set, and the gate pairs the two. Every way the second run can go wrong fails the job instead of
letting the gate compare across evaluation sets, or a model with itself."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.runtime.conftest import Result

Run = Callable[..., Result]
OUT = ".mlgen/rescore-evaluate/predictions.csv"

# The user's evaluate command: the model is a `shift` (how strongly the score follows the label);
# it reads the model from MLGEN_MODEL_DIR and writes MLGEN_PREDICTIONS / MLGEN_METRICS when set.
EVALUATE = '''
import json, os, sys
import numpy as np, pandas as pd
from sklearn.metrics import roc_auc_score
model = os.environ.get("MLGEN_MODEL_DIR", "model")
shift = json.load(open(os.path.join(model, "params.json")))["shift"]
data = pd.read_csv(sys.argv[1], dtype={"id": str})
score = data["x"] + shift * data["y"]
pd.DataFrame({"id": data["id"], "y_true": data["y"], "y_score": score}).to_csv(
    os.environ.get("MLGEN_PREDICTIONS", "preds.csv"), index=False)
json.dump({"auc": roc_auc_score(data["y"], score)}, open(os.environ.get("MLGEN_METRICS", "metrics.json"), "w"))
'''


def write_model(folder: Path, shift: float) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.json").write_text(json.dumps({"shift": shift}))
    return str(folder)


def write_eval_set(path: Path, n: int, seed: int) -> str:
    import pandas as pd

    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    pd.DataFrame({"id": [f"{seed}-{i}" for i in range(n)], "y": y, "x": rng.normal(size=n)}).to_csv(path, index=False)
    return str(path)


def command(tmp_path: Path, eval_set: str, script: str = EVALUATE) -> str:
    (tmp_path / "evaluate.py").write_text(script)
    return f"{shlex.quote(sys.executable)} evaluate.py {shlex.quote(eval_set)}"


def evaluate_and_gate(runtime: Run, tmp_path: Path, run: str, *rescore: str) -> Result:
    """One evaluate job: the user's command, `registry rescore` (when asked), then the gate."""
    from mlgen.runtime import shell

    assert shell.run(run).code == 0
    if rescore:
        done = runtime("registry", "rescore", "--model", "churn", "--run", run, "--predictions", "preds.csv",
                       "--metrics", "metrics.json", "--out", OUT, "--model-dir", "model", *rescore)
        if done.code != 0:
            return done
    return runtime("gate", "--metrics", "metrics.json", "--gate", "auc:max_drop=0.05", "--predictions", "preds.csv",
                   "--baseline-registry", "champion", "--model", "churn", "--json", "gate.json", "--resamples", "300",
                   *(("--rescored-predictions", OUT) if rescore else ()))


def champion(runtime: Run, tmp_path: Path, eval_set: str, shift: float) -> None:
    """A champion registered with its predictions on `eval_set`."""
    write_model(tmp_path / "model", shift)
    assert evaluate_and_gate(runtime, tmp_path, command(tmp_path, eval_set)).code == 0
    assert runtime("registry", "register", "--model", "churn", "--path", "model", "--gate-results", "gate.json").code == 0
    assert runtime("registry", "promote", "--model", "churn").code == 0


def interval() -> dict:  # type: ignore[type-arg]
    return json.loads(Path("gate.json").read_text())["gates"]["auc"]["interval"]  # type: ignore[no-any-return]


def test_a_champion_scored_on_other_examples_is_rescored_and_paired(runtime: Run, tmp_path: Path, mlflow_uri: str) -> None:
    champion(runtime, tmp_path, write_eval_set(tmp_path / "old.csv", 400, seed=1), shift=1.5)
    write_model(tmp_path / "model", 1.4)  # the challenger
    run = command(tmp_path, write_eval_set(tmp_path / "new.csv", 500, seed=2))

    gated = evaluate_and_gate(runtime, tmp_path, run, "--baseline-alias", "champion")
    assert gated.code == 0, gated.out + gated.err
    assert interval()["pairing"] == "paired" and "re-scored" in interval()["note"]
    # The champion's scores on the new examples, made from the champion's own files.
    import pandas as pd

    data = pd.read_csv(tmp_path / "new.csv")
    rescored = pd.read_csv(OUT)
    assert np.allclose(rescored["y_score"], data["x"] + 1.5 * data["y"])
    assert json.loads(Path(".mlgen/rescore-evaluate/champion-metrics.json").read_text())["auc"] > 0.5

    paired = interval()["difference"]

    # Without re-scoring, the same run is an unpaired comparison, as `on_different_eval_set` says: it
    # is much wider (here wide enough to fail the gate), which is why re-scoring is worth a second run.
    evaluate_and_gate(runtime, tmp_path, run)
    unpaired = interval()["difference"]
    assert interval()["pairing"] == "unpaired"
    assert unpaired["upper"] - unpaired["lower"] > 2 * (paired["upper"] - paired["lower"])


def test_nothing_is_rescored_when_the_stored_predictions_pair(runtime: Run, tmp_path: Path, mlflow_uri: str) -> None:
    eval_set = write_eval_set(tmp_path / "same.csv", 300, seed=3)
    champion(runtime, tmp_path, eval_set, shift=1.5)
    write_model(tmp_path / "model", 1.6)
    gated = evaluate_and_gate(runtime, tmp_path, command(tmp_path, eval_set), "--baseline-alias", "champion")
    assert gated.code == 0, gated.err
    assert "nothing to re-score" in gated.out or not Path(OUT).exists()
    assert not Path(OUT).exists() and interval()["pairing"] == "paired" and interval()["note"] == ""


def test_without_a_champion_nothing_is_rescored(runtime: Run, tmp_path: Path, mlflow_uri: str) -> None:
    write_model(tmp_path / "model", 1.0)
    run = command(tmp_path, write_eval_set(tmp_path / "e.csv", 200, seed=4))
    from mlgen.runtime import shell

    assert shell.run(run).code == 0
    done = runtime("registry", "rescore", "--model", "churn", "--run", run, "--predictions", "preds.csv", "--out", OUT)
    assert done.code == 0 and "nothing to re-score" in done.out, done.out + done.err
    assert not Path(OUT).exists()


BROKEN = {
    # ignores every variable: scores the challenger again, over the challenger's own files
    "overwrites": (EVALUATE.replace('os.environ.get("MLGEN_PREDICTIONS", "preds.csv")', '"preds.csv"')
                   .replace('os.environ.get("MLGEN_METRICS", "metrics.json")', '"metrics.json"'),
                   "changed the challenger's preds.csv, metrics.json"),
    "writes nothing": (EVALUATE.replace('os.environ.get("MLGEN_PREDICTIONS", "preds.csv")',
                                        '"elsewhere.csv" if "MLGEN_PREDICTIONS" in os.environ else "preds.csv"'),
                       "wrote no predictions to $MLGEN_PREDICTIONS"),
    "other examples": (EVALUATE.replace('sys.argv[1]', '"old.csv" if "MLGEN_MODEL_DIR" in os.environ else sys.argv[1]'),
                       "re-scored on another evaluation set"),
    "fails": (EVALUATE.replace('model = ', 'sys.exit(3) if "MLGEN_MODEL_DIR" in os.environ else None\nmodel = '),
              "the evaluate command exited with 3"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_rescoring_run_that_goes_wrong_fails_the_job(runtime: Run, tmp_path: Path, mlflow_uri: str, case: str) -> None:
    script, message = BROKEN[case]
    champion(runtime, tmp_path, write_eval_set(tmp_path / "old.csv", 300, seed=5), shift=1.5)
    write_model(tmp_path / "model", 1.4)
    result = evaluate_and_gate(runtime, tmp_path, command(tmp_path, write_eval_set(tmp_path / "new.csv", 300, seed=6), script),
                               "--baseline-alias", "champion")
    assert result.code == 1, result.out + result.err
    assert message in result.err
    assert "hint:" in result.err


@pytest.mark.parametrize("same_model", [False, True])
def test_a_command_that_ignores_the_model_dir_is_caught(runtime: Run, tmp_path: Path, mlflow_uri: str,
                                                        same_model: bool) -> None:
    """Identical predictions from different model files: the command scored the challenger twice. From
    the same files (a model registered again), identical predictions are right."""
    champion(runtime, tmp_path, write_eval_set(tmp_path / "old.csv", 300, seed=7), shift=1.5)
    write_model(tmp_path / "model", 1.5 if same_model else 1.4)
    script = EVALUATE.replace('os.environ.get("MLGEN_MODEL_DIR", "model")', '"model"')
    result = evaluate_and_gate(runtime, tmp_path, command(tmp_path, write_eval_set(tmp_path / "new.csv", 300, seed=8), script),
                               "--baseline-alias", "champion")
    if same_model:
        assert result.code == 0 and interval()["pairing"] == "paired", result.out + result.err
    else:
        assert result.code == 1 and "the evaluate command ignores $MLGEN_MODEL_DIR" in result.err, result.out + result.err
