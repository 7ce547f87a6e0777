"""Predictions travel with the model version: register stores them, the next gate pairs with them."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.runtime.conftest import Result
from tests.runtime.test_gate_bounds import models, predictions
from tests.runtime.test_registry_mlflow import client, model_dir

Run = Callable[..., Result]


def gate_json(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def evaluate(runtime: Run, tmp_path: Path, name: str, y: np.ndarray, score: np.ndarray, *extra: str) -> Result:
    """One evaluate job: metrics and predictions written, then the gate against the registry's champion."""
    from sklearn.metrics import roc_auc_score

    (tmp_path / f"{name}.metrics.json").write_text(json.dumps({"auc": float(roc_auc_score(y, score))}))
    preds = predictions(tmp_path / f"{name}.csv", y, score, np.arange(len(y)).astype(str))
    return runtime("gate", "--metrics", str(tmp_path / f"{name}.metrics.json"), "--gate", "auc:max_drop=0.05",
                   "--predictions", preds, "--baseline-registry", "champion", "--model", "churn",
                   "--json", str(tmp_path / f"{name}.gate.json"), "--resamples", "300", *extra)


def test_the_next_gate_pairs_with_the_champions_stored_predictions(runtime: Run, tmp_path: Path, mlflow_uri: str) -> None:
    y, champion_scores, challenger_scores = models(600, 0.0, seed=4)
    first = evaluate(runtime, tmp_path, "v1", y, champion_scores)
    assert first.code == 0, first.out + first.err
    assert gate_json(tmp_path / "v1.gate.json")["gates"]["auc"]["interval"]["pairing"] == "none"  # no champion yet
    registered = runtime("registry", "register", "--model", "churn", "--path", model_dir(tmp_path),
                         "--gate-results", str(tmp_path / "v1.gate.json"))
    assert registered.code == 0, registered.out + registered.err
    tags = client(mlflow_uri).get_model_version("churn", "1").tags
    fingerprint = gate_json(tmp_path / "v1.gate.json")["predictions"]["fingerprint"]
    assert tags["mlgen.eval_fingerprint"] == fingerprint and tags["mlgen.predictions"] == "mlgen/v1.csv"
    assert runtime("registry", "promote", "--model", "churn").code == 0

    second = evaluate(runtime, tmp_path, "v2", y, challenger_scores)
    assert second.code == 0, second.out + second.err
    interval = gate_json(tmp_path / "v2.gate.json")["gates"]["auc"]["interval"]
    assert interval["pairing"] == "paired"
    stored = Path(".mlgen/baseline-predictions/v1.csv")
    assert stored.read_bytes() == (tmp_path / "v1.csv").read_bytes()

    # A champion scored on other examples is compared unpaired, and a spec may refuse that instead.
    y3, _, other = models(500, 0.0, seed=5)
    third = evaluate(runtime, tmp_path, "v3", y3, other)
    assert gate_json(tmp_path / "v3.gate.json")["gates"]["auc"]["interval"]["pairing"] == "unpaired", third.out
    refused = evaluate(runtime, tmp_path, "v4", y3, other, "--on-different-eval-set", "fail")
    assert refused.code == 1 and "scored on another evaluation set" in refused.err


def test_a_champion_without_stored_predictions_is_said_so(runtime: Run, tmp_path: Path, mlflow_uri: str) -> None:
    (tmp_path / "m.json").write_text(json.dumps({"auc": 0.8}))
    gate = runtime("gate", "--metrics", str(tmp_path / "m.json"), "--gate", "auc:min=0.5", "--json", str(tmp_path / "g.json"))
    assert gate.code == 0
    assert runtime("registry", "register", "--model", "churn", "--path", model_dir(tmp_path),
                   "--gate-results", str(tmp_path / "g.json")).code == 0
    assert runtime("registry", "promote", "--model", "churn").code == 0
    y, scores, _ = models(300, 0.0)
    result = evaluate(runtime, tmp_path, "v2", y, scores)
    interval = gate_json(tmp_path / "v2.gate.json")["gates"]["auc"]["interval"]
    assert interval["pairing"] == "none", result.out
    assert "churn version 1 (champion) was registered without predictions" in interval["note"]


def test_register_refuses_gate_results_whose_predictions_are_gone(runtime: Run, tmp_path: Path, mlflow_uri: str) -> None:
    y, scores, _ = models(200, 0.0)
    assert evaluate(runtime, tmp_path, "v1", y, scores).code == 0
    (tmp_path / "v1.csv").unlink()
    result = runtime("registry", "register", "--model", "churn", "--path", model_dir(tmp_path),
                     "--gate-results", str(tmp_path / "v1.gate.json"))
    assert result.code == 1 and "the predictions the gate decided on are missing" in result.err


def test_accepted_regressions_are_recorded_on_the_version(runtime: Run, tmp_path: Path, mlflow_uri: str) -> None:
    (tmp_path / "m.json").write_text(json.dumps({"auc": 0.70}))
    (tmp_path / "base.json").write_text(json.dumps({"auc": 0.80}))
    (tmp_path / "accepted.yaml").write_text("accepted:\n  - {model: churn, gate: auc, reason: new labels, expires: 2999-01-01}\n")
    gate = runtime("gate", "--metrics", str(tmp_path / "m.json"), "--gate", "auc:max_drop=0.01", "--baseline-file",
                   str(tmp_path / "base.json"), "--model", "churn", "--accepted", str(tmp_path / "accepted.yaml"),
                   "--json", str(tmp_path / "g.json"))
    assert gate.code == 0, gate.out + gate.err
    assert runtime("registry", "register", "--model", "churn", "--path", model_dir(tmp_path),
                   "--gate-results", str(tmp_path / "g.json")).code == 0
    tags = client(mlflow_uri).get_model_version("churn", "1").tags
    assert tags["mlgen.accepted.auc.max_drop"].startswith("accepted in ") and "new labels" in tags["mlgen.accepted.auc.max_drop"]


def test_command_registry_templates_store_and_fetch_predictions(runtime: Run, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    common = ("--registry", "command", "--model", "churn")
    y, scores, other = models(300, 0.0)
    (tmp_path / "m.json").write_text(json.dumps({"auc": 0.8}))
    preds = predictions(tmp_path / "p.csv", y, scores, np.arange(300).astype(str))
    gate = runtime("gate", "--metrics", str(tmp_path / "m.json"), "--gate", "auc:min=0.5", "--predictions", preds,
                   "--json", str(tmp_path / "g.json"))
    assert gate.code == 0
    registered = runtime("registry", "register", *common, "--path", model_dir(tmp_path), "--gate-results", str(tmp_path / "g.json"),
                         "--register-command", "echo 7",
                         "--store-predictions-command", f"cp {{predictions}} {shlex.quote(str(store))}/{{model}}-{{version}}.csv "
                                                        f"&& echo {{fingerprint}} > {shlex.quote(str(store))}/fp")
    assert registered.code == 0, registered.out + registered.err
    assert (store / "churn-7.csv").read_bytes() == Path(preds).read_bytes()
    assert (store / "fp").read_text().strip() == gate_json(tmp_path / "g.json")["predictions"]["fingerprint"]
    preds2 = predictions(tmp_path / "p2.csv", y, other, np.arange(300).astype(str))
    paired = runtime("gate", "--metrics", str(tmp_path / "m.json"), "--gate", "auc:max_drop=0.1", "--predictions", preds2,
                     "--baseline-registry", "champion", *common, "--baseline-command", "echo '{\"auc\": 0.8}'",
                     "--baseline-predictions-command", f"cp {shlex.quote(str(store))}/{{model}}-7.csv {{out}}",
                     "--json", str(tmp_path / "g2.json"), "--resamples", "200")
    assert paired.code == 0, paired.out + paired.err
    assert gate_json(tmp_path / "g2.json")["gates"]["auc"]["interval"]["pairing"] == "paired"


@pytest.mark.parametrize("confidence", [0.9, "none"])
def test_the_compiled_gate_line_carries_predictions_confidence_and_acceptances(tmp_path: Path, confidence: object) -> None:
    from mlgen.compile import calls as runtime_calls
    from mlgen.runtime.cli import build_parser
    from mlgen.spec.models import EvaluateStage

    stage = EvaluateStage.model_validate({
        "name": "evaluate", "kind": "evaluate", "run": "python eval.py", "metrics": "m.json",
        "gates": {"auc": {"max_drop": 0.01, "confidence": confidence}}, "predictions": "out/p.parquet",
        "on_different_eval_set": "fail", "accepted": "gates/accepted.yaml"})
    line = runtime_calls.gate(stage, None).splitlines()[-1]
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert args.gate == [f"auc:max_drop=0.01,confidence={confidence}"]
    assert (args.predictions, args.on_different_eval_set, args.accepted) == ("out/p.parquet", "fail", "gates/accepted.yaml")
