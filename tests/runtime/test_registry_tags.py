"""The tags register writes from the gate results say what the gate really compared against."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlgen.runtime.registry.command import _baseline_tag
from tests.runtime.conftest import Result

Run = Callable[..., Result]


@pytest.mark.parametrize(("baseline", "tag"), [
    ({"source": "registry", "ref": "churn@champion", "found": False, "note": "model `churn` is not registered yet"},
     "none (model `churn` is not registered yet)"),
    ({"source": "file", "ref": "base.json", "found": False, "note": ""}, "none"),
    ({"source": "none", "ref": "", "found": False, "note": "no baseline configured"}, "none (no baseline configured)"),
    ({"source": "registry", "ref": "churn@champion (version 3)", "found": True, "note": ""}, "churn@champion (version 3)"),
    ({"source": "file", "ref": "base.json"}, "base.json"),  # gate results written before `found` existed
    (None, "none"),
    ("garbage", "none"),
])
def test_baseline_tag(baseline: Any, tag: str) -> None:
    assert _baseline_tag(baseline) == tag


def test_no_baseline_is_tagged_as_none(runtime: Run, tmp_path: Path, mlflow_uri: str) -> None:
    from mlflow import MlflowClient

    (tmp_path / "m.json").write_text(json.dumps({"auc": 0.9}))
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").write_bytes(b"1")
    gate = ("gate", "--metrics", "m.json", "--gate", "auc:min=0.5,max_drop=0.01", "--baseline-registry", "champion",
            "--model", "churn")
    register = ("registry", "register", "--model", "churn", "--path", "model", "--gate-results", ".mlgen/gate-evaluate.json")
    assert runtime(*gate).code == 0
    assert runtime(*register).code == 0
    assert runtime("registry", "promote", "--model", "churn").code == 0
    (tmp_path / "model" / "w.bin").write_bytes(b"2")
    assert runtime(*gate).code == 0
    assert runtime(*register).code == 0

    client = MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    first, second = (client.get_model_version("churn", v).tags["mlgen.baseline"] for v in ("1", "2"))
    assert first == "none (model `churn` is not registered yet)"
    assert second == "churn@champion (version 1)"
