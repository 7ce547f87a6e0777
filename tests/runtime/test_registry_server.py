"""The MLflow backend against a real `mlflow server` over HTTP (artifacts proxied by the server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.runtime.conftest import Result, run_cli

Run = Callable[..., Result]


def test_register_promote_and_gate_over_http(runtime: Run, tmp_path: Path, mlflow_server: str) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(bytes(range(256)))
    server = ("--tracking-uri", mlflow_server)
    (tmp_path / "m.json").write_text(json.dumps({"auc": 0.9, "latency_ms": 12.0}))
    assert runtime("gate", "--metrics", "m.json", "--gate", "auc:min=0.8,max_drop=0.01", "--baseline-registry", "champion",
                   "--model", "served", *server).code == 0
    result = runtime("registry", "register", "--model", "served", "--path", str(model),
                     "--gate-results", ".mlgen/gate-evaluate.json", *server)
    assert result.code == 0, result.err
    assert runtime("registry", "promote", "--model", "served", *server).code == 0

    shown = runtime("registry", "show", "--model", "served", "--json", *server)
    assert json.loads(shown.out)["aliases"] == {"champion": "1"}

    # As CI runs it: another process, the server's URL from the environment.
    env = {"MLFLOW_TRACKING_URI": mlflow_server}
    (tmp_path / "worse.json").write_text(json.dumps({"auc": 0.85, "latency_ms": 12.0}))
    gated = run_cli("gate", "--metrics", "worse.json", "--gate", "auc:max_drop=0.01", "--baseline-registry", "champion",
                    "--model", "served", cwd=tmp_path, env=env)
    assert gated.code == 1
    assert "baseline: registry served@champion (version 1)" in gated.out and "dropped 0.05" in gated.out

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    version = client.get_model_version("served", "1")
    assert version.run_id is not None
    stored = Path(client.download_artifacts(version.run_id, "model", str(tmp_path / "download")))
    assert (stored / "weights.bin").read_bytes() == bytes(range(256))
