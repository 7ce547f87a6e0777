"""`mlgen registry` and the registry half of `mlgen canary` against a real MLflow (no mocks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlgen.runtime.common import RuntimeFailure
from mlgen.runtime.registry import main as registry_main


def _gate_json(path: Path, auc: float, passed: bool = True) -> Path:
    path.write_text(json.dumps({"passed": passed, "baseline": "file", "metrics": {"auc": auc},
                                "gates": [{"metric": "auc", "rule": "min=0.8", "status": "passed" if passed else "failed",
                                           "detail": f"{auc} >= 0.8"}]}))
    return path


def _model_dir(tmp_path: Path) -> Path:
    model = tmp_path / "model" / "gb"
    model.mkdir(parents=True)
    (model / "model.joblib").write_bytes(b"weights")
    return tmp_path / "model"


def _aliases(model: str) -> dict[str, str]:
    from mlflow import MlflowClient

    return {a: str(v) for a, v in MlflowClient().get_registered_model(model).aliases.items()}


def test_register_promote_rollback_baseline(sqlite_mlflow: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_SHA", "abc123")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/churn")
    model_dir = _model_dir(tmp_path)
    assert registry_main(["register", "--model", "churn", "--path", str(model_dir), "--gate-results", str(_gate_json(tmp_path / "g1.json", 0.85))]) == 0
    assert _aliases("churn") == {"challenger": "1"}
    assert registry_main(["promote", "--model", "churn"]) == 0
    assert _aliases("churn") == {"champion": "1"}
    assert registry_main(["register", "--model", "churn", "--path", str(model_dir), "--gate-results", str(_gate_json(tmp_path / "g2.json", 0.9))]) == 0
    assert registry_main(["promote", "--model", "churn", "--from-alias", "challenger"]) == 0
    assert _aliases("churn") == {"champion": "2", "previous-champion": "1"}
    assert registry_main(["baseline", "--model", "churn", "--out", str(tmp_path / "base.json")]) == 0
    assert json.loads((tmp_path / "base.json").read_text()) == {"auc": 0.9}
    assert registry_main(["rollback", "--model", "churn"]) == 0
    assert _aliases("churn") == {"champion": "1"}

    from mlflow import MlflowClient

    version = MlflowClient().get_model_version("churn", "2")
    assert version.tags["mlgen.commit"] == "abc123"
    assert version.tags["mlgen.run_url"] == "https://github.com/acme/churn/actions/runs/42"
    assert version.tags["mlgen.gate.auc.min"] == "passed: 0.9 >= 0.8"
    files = MlflowClient().list_artifacts(version.run_id, "model/gb")
    assert [f.path for f in files] == ["model/gb/model.joblib"]


def test_failed_gates_are_never_registered(sqlite_mlflow: str, tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure, match="the gates did not pass"):
        registry_main(["register", "--model", "churn", "--path", str(_model_dir(tmp_path)),
                       "--gate-results", str(_gate_json(tmp_path / "g.json", 0.5, passed=False))])


def test_nothing_to_promote_or_roll_back(sqlite_mlflow: str, tmp_path: Path) -> None:
    registry_main(["register", "--model", "m", "--path", str(_model_dir(tmp_path))])
    with pytest.raises(RuntimeFailure, match="no version with alias `candidate`"):
        registry_main(["promote", "--model", "m", "--from-alias", "candidate"])
    with pytest.raises(RuntimeFailure, match="no `previous-champion` version"):
        registry_main(["rollback", "--model", "m"])


def test_gate_reads_the_champion_from_a_real_server(mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the CLI, against `mlflow server` over HTTP: first model, then a regression vs the champion."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
    name = f"served-{os.getpid()}"

    def mlgen(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mlgen", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    (tmp_path / "metrics.json").write_text(json.dumps({"auc": 0.9}))
    gate = ["gate", "--metrics", "metrics.json", "--gate", "auc:min=0.8,max_drop=0.01", "--baseline-registry", "champion",
            "--model", name, "--json", "g.json"]
    first = mlgen(*gate)
    assert first.returncode == 0, first.stderr
    assert "no baseline yet (first model)" in first.stdout
    _model_dir(tmp_path)
    assert mlgen("registry", "register", "--model", name, "--path", "model", "--gate-results", "g.json").returncode == 0
    assert mlgen("canary", "promote", "--model", name).returncode == 0
    (tmp_path / "metrics.json").write_text(json.dumps({"auc": 0.85}))
    regressed = mlgen(*gate)
    assert regressed.returncode == 1
    assert "0.85 < 0.89 (-0.05 vs baseline 0.9)" in regressed.stdout


def test_command_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "log.txt"
    flags = ["--registry", "command",
             "--register-command", f"echo register {{model}} {{path}} {{alias}} >> {log}; echo 7",
             "--promote-command", f"echo promote {{model}} {{alias}} >> {log}",
             "--rollback-command", f"echo rollback {{model}} >> {log}",
             "--baseline-command", "echo '{\"auc\": 0.8}'"]
    (tmp_path / "model").mkdir()
    assert registry_main(["register", "--model", "my model", "--path", "model", *flags]) == 0
    assert registry_main(["promote", "--model", "my model", *flags]) == 0
    assert registry_main(["rollback", "--model", "my model", *flags]) == 0
    assert registry_main(["baseline", "--model", "x", "--out", "b.json", *flags]) == 0
    assert log.read_text() == "register my model model challenger\npromote my model challenger\nrollback my model\n"
    assert json.loads((tmp_path / "b.json").read_text()) == {"auc": 0.8}
    with pytest.raises(RuntimeFailure, match="unknown placeholder {modle}"):
        registry_main(["promote", "--model", "m", "--registry", "command", "--promote-command", "echo {modle}"])
