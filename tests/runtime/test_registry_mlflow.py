"""`mlgen registry` against a real MLflow: a SQLite tracking and registry store per test."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.conftest import Result

Run = Callable[..., Result]


def model_dir(tmp_path: Path, name: str = "model") -> str:
    path = tmp_path / name
    path.mkdir(exist_ok=True)
    (path / "model.joblib").write_bytes(b"\x80\x04fake-pickle")
    (path / "params.json").write_text(json.dumps({"name": name}))
    return str(path)


def gate_results(runtime: Run, tmp_path: Path, name: str, metrics: dict[str, Any], *gates: str) -> str:
    """Real gate results, written by `mlgen gate` itself."""
    path = tmp_path / f"{name}.metrics.json"
    path.write_text(json.dumps(metrics))
    out = tmp_path / f"{name}.gate.json"
    result = runtime("gate", "--metrics", str(path), "--json", str(out), *(a for g in gates for a in ("--gate", g)))
    assert result.code == 0, result.out
    return str(out)


def client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def aliases(uri: str, model: str = "churn") -> dict[str, str]:
    return {k: str(v) for k, v in client(uri).get_registered_model(model).aliases.items()}


def register(runtime: Run, tmp_path: Path, version_name: str, auc: float) -> Result:
    gate = gate_results(runtime, tmp_path, version_name, {"auc": auc, "eval": {"f1": auc - 0.1}}, "auc:min=0.5")
    return runtime("registry", "register", "--model", "churn", "--path", model_dir(tmp_path, version_name),
                   "--gate-results", gate)


def test_register_logs_artifacts_metrics_and_tags(runtime: Run, tmp_path: Path, mlflow_uri: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/churn")
    monkeypatch.setenv("GITHUB_RUN_ID", "777")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    result = register(runtime, tmp_path, "v1", 0.81)
    assert result.code == 0, result.err
    assert "registered churn version 1 with alias `challenger`" in result.out
    assert aliases(mlflow_uri) == {"challenger": "1"}
    version = client(mlflow_uri).get_model_version("churn", "1")
    assert version.tags["mlgen.commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert version.tags["mlgen.run_url"] == "https://github.com/acme/churn/actions/runs/777"
    assert version.tags["mlgen.gates"] == "passed"
    assert version.tags["mlgen.gate.auc"].startswith("passed: min 0.5: 0.81 >= 0.5")
    run = client(mlflow_uri).get_run(version.run_id)
    assert run.data.metrics == {"auc": 0.81, "eval.f1": pytest.approx(0.71)}
    assert run.data.tags["mlflow.source.git.commit"].startswith("0123456")
    stored = Path(client(mlflow_uri).download_artifacts(version.run_id, "model", str(tmp_path / "download")))
    assert sorted(p.name for p in stored.iterdir()) == ["model.joblib", "params.json"]
    assert json.loads((tmp_path / ".mlgen/registered.json").read_text())["version"] == "1"


def test_lifecycle_promote_baseline_rollback(runtime: Run, tmp_path: Path, mlflow_uri: str) -> None:
    assert register(runtime, tmp_path, "v1", 0.80).code == 0
    # No champion yet: the gate reports the first-model case and skips the relative rule.
    metrics = tmp_path / "candidate.json"
    metrics.write_text(json.dumps({"auc": 0.70}))
    gate = ("gate", "--metrics", str(metrics), "--gate", "auc:max_drop=0.02", "--baseline-registry", "champion",
            "--model", "churn")
    result = runtime(*gate)
    assert result.code == 0 and "no version of `churn` holds the alias `champion` yet" in result.out

    assert runtime("registry", "promote", "--model", "churn").code == 0
    assert aliases(mlflow_uri) == {"champion": "1"}
    assert register(runtime, tmp_path, "v2", 0.85).code == 0
    result = runtime("registry", "promote", "--model", "churn")
    assert "promoted churn v2 to champion (previous champion: v1)" in result.out
    assert aliases(mlflow_uri) == {"champion": "2", "previous-champion": "1"}

    # The champion's metrics are the baseline: 0.70 is far below v2's 0.85.
    result = runtime(*gate)
    assert result.code == 1 and "baseline: registry churn@champion (version 2)" in result.out
    metrics.write_text(json.dumps({"auc": 0.84}))
    assert runtime(*gate).code == 0
    result = runtime("registry", "baseline", "--model", "churn", "--out", "base.json")
    assert result.code == 0
    assert json.loads((tmp_path / "base.json").read_text()) == {"auc": 0.85, "eval.f1": pytest.approx(0.75)}
    # A baseline file with dotted keys gates nested metrics of the candidate
    (tmp_path / "nested.json").write_text(json.dumps({"eval": {"f1": 0.6}}))
    assert runtime("gate", "--metrics", "nested.json", "--baseline-file", "base.json", "--gate", "eval.f1:max_drop=0.1").code == 1

    result = runtime("registry", "rollback", "--model", "churn")
    assert result.code == 0 and "champion v2 -> v1" in result.out
    assert aliases(mlflow_uri) == {"champion": "1"}
    assert "mlgen.rolled_back_at" in client(mlflow_uri).get_model_version("churn", "2").tags
    result = runtime("registry", "rollback", "--model", "churn")
    assert result.code == 1 and "has no `previous-champion` version" in result.err

    result = runtime("registry", "show", "--model", "churn")
    assert "aliases: champion -> v1" in result.out and result.out.count("passed") == 2
    shown = json.loads(runtime("registry", "show", "--model", "churn", "--json").out)
    assert shown == {"model": "churn", "aliases": {"champion": "1"}}


def test_promote_is_idempotent_within_a_run(runtime: Run, tmp_path: Path, mlflow_uri: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGEN_RUN_ID", "run-1")
    assert register(runtime, tmp_path, "v1", 0.8).code == 0
    assert runtime("registry", "promote", "--model", "churn").code == 0
    again = runtime("registry", "promote", "--model", "churn")  # a retried job
    assert again.code == 0 and "already the champion" in again.out
    monkeypatch.setenv("MLGEN_RUN_ID", "run-2")
    other = runtime("registry", "promote", "--model", "churn")  # another run has nothing to promote
    assert other.code == 1 and "no version of `churn` holds the alias `challenger`" in other.err


def test_baseline_without_champion_writes_nothing(runtime: Run, tmp_path: Path, mlflow_uri: str) -> None:
    (tmp_path / "base.json").write_text('{"auc": 0.99}')  # stale, from an earlier run
    result = runtime("registry", "baseline", "--model", "churn", "--out", "base.json")
    assert result.code == 0 and "model `churn` is not registered yet" in result.out
    assert not (tmp_path / "base.json").exists()


def test_refuses_failed_gate_results(runtime: Run, tmp_path: Path, mlflow_uri: str) -> None:
    (tmp_path / "m.json").write_text('{"auc": 0.4}')
    assert runtime("gate", "--metrics", "m.json", "--gate", "auc:min=0.5").code == 1
    result = runtime("registry", "register", "--model", "churn", "--path", model_dir(tmp_path),
                     "--gate-results", ".mlgen/gate-evaluate.json")
    assert result.code == 1
    assert "the gate failed (auc); a model that failed its gate is not registered" in result.err
    assert client(mlflow_uri).search_registered_models() == []


@pytest.mark.parametrize(("args", "message"), [
    (["--path", "missing-dir"], "missing-dir: the model directory is missing or empty"),
    (["--path", "{model}", "--gate-results", "nope.json"], "nope.json: gate results not found"),
    (["--path", "{model}", "--gate-results", "{model}/params.json"], "this is not a gate result written by `mlgen gate`"),
    (["--path", "{model}", "--model", "bad name!"], "`bad name!` is not a usable model name"),
    (["--path", "{model}", "--registry", "mlflo"], "argument --registry: invalid choice: 'mlflo'"),
])
def test_register_input_errors(runtime: Run, tmp_path: Path, mlflow_uri: str, args: list[str], message: str) -> None:
    folder = model_dir(tmp_path)
    args = [a.replace("{model}", folder) for a in args]
    model = [] if "--model" in args else ["--model", "churn"]
    result = runtime("registry", "register", *model, *args)
    assert result.code == 1
    assert message in result.err


def test_tracking_uri_is_required(runtime: Run, tmp_path: Path) -> None:
    result = runtime("registry", "register", "--model", "churn", "--path", model_dir(tmp_path))
    assert result.code == 1
    assert "MLFLOW_TRACKING_URI is not set" in result.err and "--tracking-uri" in result.err


def test_unreachable_server_is_a_user_error(runtime: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.runtime.conftest import free_port

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    uri = f"http://127.0.0.1:{free_port()}"
    result = runtime("registry", "show", "--model", "churn", "--tracking-uri", uri)
    assert result.code == 1
    assert uri in result.err and "Traceback" not in result.err


SPEC = """\
version: 1
name: demo
env: {MLFLOW_TRACKING_URI: "sqlite:///spec-ignored.db"}
stages:
  - {name: train, kind: train, run: python train.py, outputs: [model/]}
  - name: evaluate
    kind: evaluate
    run: python eval.py
    metrics: metrics.json
    gates: {auc: {min: 0.5, max_drop: 0.01}}
    baseline: {registry: champion}
  - {name: register, kind: register, registry: mlflow, model: churn, path: model/, alias: candidate}
"""


def test_spec_settings_for_gate_register_and_promote(runtime: Run, tmp_path: Path, mlflow_uri: str) -> None:
    (tmp_path / "mlgen.yaml").write_text(SPEC)
    model_dir(tmp_path)
    (tmp_path / "metrics.json").write_text('{"auc": 0.8}')
    result = runtime("gate", "--spec", "mlgen.yaml")  # the model comes from the register stage after it
    assert result.code == 0 and "model `churn` is not registered yet" in result.out
    assert runtime("registry", "register", "--spec", "mlgen.yaml").code == 0  # gate results: .mlgen/gate-evaluate.json
    assert aliases(mlflow_uri) == {"candidate": "1"}  # the environment's URI won over the spec's env
    assert client(mlflow_uri).get_model_version("churn", "1").tags["mlgen.gates"] == "passed"
    assert runtime("registry", "promote", "--spec", "mlgen.yaml").code == 0  # promotes from the stage's alias
    assert aliases(mlflow_uri) == {"champion": "1"}
    (tmp_path / "metrics.json").write_text('{"auc": 0.78}')
    result = runtime("gate", "--spec", "mlgen.yaml")
    assert result.code == 1 and "dropped 0.02" in result.out
    assert not (tmp_path / "spec-ignored.db").exists()
