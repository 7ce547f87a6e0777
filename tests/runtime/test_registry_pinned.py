"""`--version N`: promote and roll back the version this pipeline registered, never a newer one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.conftest import Result

Run = Callable[..., Result]


def aliases(uri: str) -> dict[str, str]:
    from mlflow import MlflowClient

    model: Any = MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model("churn")
    return {k: str(v) for k, v in model.aliases.items()}


class Pipeline:
    """One CI run in its own workspace."""

    def __init__(self, runtime: Run, root: Path, run_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.runtime, self.dir, self.run_id, self.monkeypatch = runtime, root / run_id, run_id, monkeypatch
        (self.dir / "model").mkdir(parents=True)
        (self.dir / "model" / "w.bin").write_text(run_id)

    def __call__(self, *args: str) -> Result:
        self.monkeypatch.chdir(self.dir)
        self.monkeypatch.setenv("MLGEN_RUN_ID", self.run_id)
        return self.runtime(*args, "--model", "churn")

    def registered(self) -> str:
        version: str = json.loads((self.dir / ".mlgen/registered-churn.json").read_text())["version"]
        return version


def test_two_pipelines_in_flight_never_promote_what_was_not_canaried(runtime: Run, tmp_path: Path, mlflow_uri: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    first, a, b = (Pipeline(runtime, tmp_path, name, monkeypatch) for name in ("first", "a", "b"))
    assert first("registry", "register", "--path", "model").code == 0
    assert first("canary", "promote", "--version", first.registered()).code == 0
    assert a("registry", "register", "--path", "model").code == 0
    assert b("registry", "register", "--path", "model").code == 0  # b's model takes `challenger` from a's
    assert (a.registered(), b.registered()) == ("2", "3")

    refused = a("canary", "promote", "--version", a.registered())
    assert refused.code == 1
    assert "`challenger` of `churn` is on version 3, not on version 2: another run registered a newer model" in refused.err
    assert aliases(mlflow_uri) == {"champion": "1", "challenger": "3"}

    undone = a("canary", "rollback", "--rollback", "true", "--version", a.registered())
    assert undone.code == 0 and "marked v2 of churn as failed" in undone.out
    assert aliases(mlflow_uri) == {"champion": "1", "challenger": "3", "canary-failed": "2"}  # b's rollout untouched

    assert b("canary", "promote", "--version", b.registered()).code == 0
    assert aliases(mlflow_uri) == {"champion": "3", "previous-champion": "1", "canary-failed": "2"}
    shown = b("registry", "show").out.splitlines()
    assert [line.split()[0] + " " + line.split()[-1] for line in shown if line.split()[:1] in (["2"], ["3"])] == \
        ["3 -", "2 failed"]
    again = b("canary", "promote", "--version", b.registered())  # a retried job
    assert again.code == 0 and aliases(mlflow_uri)["champion"] == "3"


def test_rollback_by_hand_only_from_the_named_champion(runtime: Run, tmp_path: Path, mlflow_uri: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    run = Pipeline(runtime, tmp_path, "run", monkeypatch)
    for content in ("1", "2"):
        (run.dir / "model" / "w.bin").write_text(content)
        assert run("registry", "register", "--path", "model").code == 0
        assert run("registry", "promote").code == 0
    refused = run("registry", "rollback", "--version", "1")
    assert refused.code == 1 and "the champion of `churn` is version 2, not version 1" in refused.err
    assert aliases(mlflow_uri) == {"champion": "2", "previous-champion": "1"}
    assert run("registry", "rollback", "--version", "2").code == 0
    assert aliases(mlflow_uri) == {"champion": "1"}


@pytest.mark.parametrize("command", [["registry", "promote"], ["canary", "promote"], ["registry", "rollback"],
                                     ["canary", "rollback", "--rollback", "touch routed"]])
@pytest.mark.parametrize("value", ["abc", "0", "-1", "2.0"])
def test_a_bad_version_is_refused_before_anything_moves(runtime: Run, tmp_path: Path, mlflow_uri: str,
                                                        command: list[str], value: str) -> None:
    result = runtime(*command, "--model", "churn", f"--version={value}")
    assert result.code == 1
    assert f"--version must be a version number such as 3, got `{value}`" in result.err
    assert not (tmp_path / "routed").exists()


def test_a_pinned_champion_without_a_record_is_marked_but_not_guessed(runtime: Run, tmp_path: Path, mlflow_uri: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    run = Pipeline(runtime, tmp_path, "run", monkeypatch)
    assert run("registry", "register", "--path", "model").code == 0
    MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri).set_registered_model_alias("churn", "champion", "1")
    result = run("canary", "rollback", "--rollback", "true", "--version", "1")  # made champion by hand, in the UI
    assert result.code == 0
    assert "marked v1 of churn as failed (alias `canary-failed`), but it is still the champion" in result.out
    assert aliases(mlflow_uri) == {"champion": "1", "canary-failed": "1"}
