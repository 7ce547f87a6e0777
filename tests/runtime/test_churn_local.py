"""The churn example's stages, run locally in order from a plain shell, as a person would.

Validate the sample data, train two tiny real models, evaluate and gate the best one against
the registry's champion, register it in MLflow (SQLite), then walk the canary against the local
service and promote. A second "pipeline run" then fails its canary and rolls back, leaving the
first run's champion in place. Every command is the runtime's real CLI in its own process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.conftest import CHURN, Service, subprocess_env

SHIPPED = ["churn", "contracts", "data", "baseline", "params.yaml", "deploy.sh", "healthcheck.sh", "service.py",
           "requirements.txt"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "churn"
    root.mkdir()
    for name in SHIPPED:
        source = CHURN / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    return root


class Shell:
    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env
        self.transcript: list[str] = []

    def __call__(self, command: str, expect: int = 0, **env: str) -> str:
        # `mlgen` is the real top-level entry point, whether or not its console script is on PATH.
        script = f'mlgen() {{ "{sys.executable}" -m mlgen "$@"; }}\nset -euo pipefail\n{command}'
        proc = subprocess.run(["bash", "-c", script], cwd=self.cwd, capture_output=True, text=True,
                              env={**self.env, **env}, timeout=120)
        self.transcript.append(f"$ {command}\n{proc.stdout}{proc.stderr}")
        assert proc.returncode == expect, "\n".join(self.transcript[-3:])
        return proc.stdout


def test_churn_stages_run_locally_in_order(project: Path, service: Service) -> None:
    service.heal()
    uri = f"sqlite:///{project / 'mlflow.db'}"
    sh = Shell(project, subprocess_env({"MLFLOW_TRACKING_URI": uri, "MLGEN_RUN_ID": "local-1",
                                        "MLGEN_STATE_DIR": str(service.state_dir),
                                        "CANARY_URL": f"{service.url}/healthz"}))

    # validate: the sample data meets its contract and matches the reference; the broken file does not
    out = sh("mlgen data check --contract contracts/train.yaml --reference data/reference.csv data/train.csv")
    assert "data check passed" in out
    out = sh("mlgen data check --contract contracts/train.yaml data/broken.csv --junit .mlgen/reports/broken.xml", expect=1)
    assert "tenure: min: 2 value(s) below 0" in out

    # train: the two matrix legs; evaluate picks the better one
    sh('for MODEL in logreg gb; do export MODEL; python -m churn.train --out "model/$MODEL"; done')
    sh("python -m churn.evaluate --model model/ --out metrics.json")
    metrics = json.loads((project / "metrics.json").read_text())
    assert set(metrics["candidates"]) == {"logreg", "gb"} and 0.75 < metrics["auc"] < 1

    # evaluate gate: the first model has no champion, so the relative rule is skipped, not passed
    gate = ("mlgen gate --metrics metrics.json --gate accuracy:min=0.7 --gate auc:min=0.75,max_drop=0.01 "
            "--gate latency_ms:max=200 --baseline-registry champion --model churn --registry mlflow")
    out = sh(gate)
    assert "skip" in out and "not registered yet" in out
    # ...and the shipped baseline file is a real comparison
    sh("mlgen gate --metrics metrics.json --gate auc:max_drop=0.01 --baseline-file baseline/metrics.json --json .mlgen/g2.json")
    assert json.loads((project / ".mlgen/g2.json").read_text())["gates"]["auc"]["baseline"] == 0.8

    # register
    out = sh("mlgen registry register --registry mlflow --model churn --path model/ --alias challenger "
             "--gate-results .mlgen/gate-evaluate.json")
    assert "registered churn version 1" in out

    # canary: 10 -> 50 -> 100 against the local service, then promote
    check = f"--check ./healthcheck.sh --check-url {service.url}/metrics --threshold http_errors_rate:max=0.05"
    for weight in (10, 50, 100):
        out = sh(f"mlgen canary step --weight {weight} --deploy './deploy.sh --weight \"$MLGEN_CANARY_WEIGHT\"' "
                 f"--bake 1s --interval 0.25s {check}")
        assert f"canary step {weight}% passed" in out
    assert (service.state_dir / "canary-weight").read_text().strip() == "100"
    out = sh("mlgen canary promote --registry mlflow --model churn --from-alias challenger")
    assert "promoted churn v1 to champion" in out

    # a later pipeline run: its canary breaks at 10%, the rollback job restores traffic and keeps v1
    service.fail()
    sh("rm -f .mlgen/canary-state.json")  # the rollback job of another run starts from a fresh workspace
    out = sh(f"mlgen canary step --weight 10 --deploy './deploy.sh --weight \"$MLGEN_CANARY_WEIGHT\"' --bake 5s "
             f"--interval 0.25s {check}", expect=1, MLGEN_RUN_ID="local-2")
    assert "FAILED after 1 check(s)" in out
    out = sh("mlgen canary rollback --rollback './deploy.sh --rollback' --registry mlflow --model churn",
             MLGEN_RUN_ID="local-2")
    assert "champion v1 unchanged (promoted by run local-1, not this run)" in out
    assert (service.state_dir / "canary-weight").read_text().strip() == "0"
    deploys = [line.split()[1] for line in (service.state_dir / "deploy.log").read_text().splitlines()]
    assert deploys == ["weight=10", "weight=50", "weight=100", "weight=10", "rollback"]
    service.heal()
