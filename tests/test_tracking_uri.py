"""Stages that ask an MLflow registry must be told where it is (`MLFLOW_TRACKING_URI`), or the
spec is refused before any pipeline runs. Located messages: tests/cases/negative/register-without-tracking-uri."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlgen.spec.models import Pipeline
from tests.test_rollout_semantics import spec


def _mlflow_spec() -> dict[str, Any]:
    data = spec([50, 100])
    data.pop("env")
    data["stages"].insert(1, {"name": "evaluate", "kind": "evaluate", "run": "true", "metrics": "m.json",
                              "gates": {"auc": {"max_drop": 0.01}}, "baseline": {"registry": "champion"}})
    return data


def _problems(data: dict[str, Any]) -> list[str]:
    from mlgen.spec.load import check_pipeline
    from mlgen.spec.source import Source

    source = Source(path=Path("mlgen.yaml"), display="mlgen.yaml", raw=b"")  # locations: tests/cases/negative
    return [p.message for p in check_pipeline(Pipeline.model_validate(data), source)]


def _uri_in(where: str, data: dict[str, Any]) -> None:
    uri = "http://127.0.0.1:5000"
    if where == "env":
        data["env"] = {"MLFLOW_TRACKING_URI": uri}
    elif where == "stage env":
        for stage in data["stages"][1:]:
            stage["env"] = {"MLFLOW_TRACKING_URI": uri}
    elif where == "declared secret":
        data["secrets"].append("MLFLOW_TRACKING_URI")
        # register and canary get every declared secret; the gate (it runs on pull requests) must list it
        data["stages"][1]["secrets"] = ["MLFLOW_TRACKING_URI"]
    elif where == "stage secrets":
        data["secrets"].append("MLFLOW_TRACKING_URI")
        for stage in data["stages"][1:]:
            stage["secrets"] = ["MLFLOW_TRACKING_URI"]


@pytest.mark.parametrize("where", ["env", "stage env", "declared secret", "stage secrets"])
def test_an_mlflow_tracking_uri_from_any_source_is_accepted(where: str) -> None:
    data = _mlflow_spec()
    _uri_in(where, data)
    assert _problems(data) == []


@pytest.mark.parametrize("missing", ["evaluate", "register", "canary"])
def test_every_mlflow_stage_without_a_tracking_uri_is_refused(missing: str) -> None:
    data = _mlflow_spec()
    uri = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}
    for stage in data["stages"][1:]:
        if stage["name"] != missing:
            stage["env"] = dict(uri)
    messages = _problems(data)
    assert len(messages) == 1 and messages[0].startswith(f"stage `{missing}` ") and "`MLFLOW_TRACKING_URI`" in messages[0]


def test_a_declared_uri_secret_the_stage_does_not_receive_is_refused() -> None:
    data = _mlflow_spec()
    data["secrets"].append("MLFLOW_TRACKING_URI")
    data["stages"][2]["secrets"] = ["MLFLOW_TRACKING_TOKEN"]  # register lists its secrets and leaves the URI out
    # evaluate lists none: its gate runs on pull requests and receives no declared secret by default
    assert [m.split(" ")[1] for m in _problems(data)] == ["`evaluate`", "`register`"]


def test_stages_that_never_ask_mlflow_need_no_uri() -> None:
    data = _mlflow_spec()
    data["stages"][1].pop("baseline")
    data["stages"][1]["gates"] = {"auc": {"min": 0.5}}
    data["stages"][2].update(registry="command", command={"register": "true", "promote": "true", "rollback": "true"})
    assert _problems(data) == []
