"""`mlgen gate` on real files: absolute and baseline gates, first model, malformed input."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mlgen.runtime.common import RuntimeFailure
from mlgen.runtime.gate import main


def _files(tmp_path: Path, metrics: object, baseline: object | None = None) -> list[str]:
    (tmp_path / "m.json").write_text(json.dumps(metrics))
    args = ["--metrics", str(tmp_path / "m.json"), "--junit", str(tmp_path / "r.xml"), "--json", str(tmp_path / "g.json"),
            "--summary", str(tmp_path / "summary.md")]
    if baseline is not None:
        (tmp_path / "b.json").write_text(json.dumps(baseline))
        args += ["--baseline-file", str(tmp_path / "b.json")]
    return args


def _cases(tmp_path: Path) -> dict[str, str]:
    root = ET.parse(tmp_path / "r.xml").getroot()
    out = {}
    for case in root.iter("testcase"):
        out[case.get("name", "")] = "failed" if case.find("failure") is not None else ("skipped" if case.find("skipped") is not None else "passed")
    return out


def test_all_gates_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _files(tmp_path, {"accuracy": 0.9, "perf": {"auc": 0.86}}, {"accuracy": 0.89, "perf": {"auc": 0.85}})
    assert main([*args, "--gate", "accuracy:min=0.85", "--gate", "perf.auc:min=0.8,max_drop=0.01", "--gate", "accuracy:max_drop=2%"]) == 0
    assert _cases(tmp_path) == {"accuracy min=0.85": "passed", "perf.auc min=0.8": "passed", "perf.auc max_drop=0.01": "passed",
                                "accuracy max_drop=2%": "passed"}
    result = json.loads((tmp_path / "g.json").read_text())
    assert result["passed"] is True and result["metrics"] == {"accuracy": 0.9, "perf.auc": 0.86}
    assert "| accuracy min=0.85 | ✅ passed |" in (tmp_path / "summary.md").read_text()
    assert "4 checks, 0 failed" in capsys.readouterr().out


def test_regression_against_baseline_fails(tmp_path: Path) -> None:
    args = _files(tmp_path, {"auc": 0.83, "latency_ms": 60}, {"auc": 0.85, "latency_ms": 50})
    assert main([*args, "--gate", "auc:min=0.8,max_drop=0.01", "--gate", "latency_ms:max_rise=10%"]) == 1
    assert _cases(tmp_path) == {"auc min=0.8": "passed", "auc max_drop=0.01": "failed", "latency_ms max_rise=10%": "failed"}
    assert json.loads((tmp_path / "g.json").read_text())["passed"] is False


@pytest.mark.parametrize(("policy", "code", "status"), [("absolute", 0, "skipped"), ("fail", 1, "failed"), ("pass", 0, "passed")])
def test_first_model_without_baseline(tmp_path: Path, policy: str, code: int, status: str) -> None:
    args = _files(tmp_path, {"auc": 0.9})
    args += ["--baseline-file", str(tmp_path / "none.json"), "--on-missing-baseline", policy]
    assert main([*args, "--gate", "auc:min=0.8,max_drop=0.01"]) == code
    assert _cases(tmp_path) == {"auc min=0.8": "passed", "auc max_drop=0.01": status}


@pytest.mark.parametrize("metrics", [{"auc": float("nan")}, {"auc": "0.9"}, {"auc": True}, {"other": 1.0}, {"auc": None}])
def test_bad_metric_values_fail_never_pass(tmp_path: Path, metrics: dict[str, object]) -> None:
    text = json.dumps(metrics).replace("NaN", "NaN")
    (tmp_path / "m.json").write_text(text)
    assert main(["--metrics", str(tmp_path / "m.json"), "--junit", str(tmp_path / "r.xml"), "--json", str(tmp_path / "g.json"),
                 "--gate", "auc:min=0.1"]) == 1


def test_unknown_metric_suggests_a_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _files(tmp_path, {"accuracy": 0.9})
    assert main([*args, "--gate", "acuracy:min=0.5"]) == 1
    assert "did you mean `accuracy`?" in capsys.readouterr().out


def test_malformed_inputs_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(RuntimeFailure, match=r"m.json:1:2: the metrics file is not valid JSON"):
        main(["--metrics", str(tmp_path / "m.json"), "--gate", "auc:min=0.1"])
    with pytest.raises(RuntimeFailure, match="metrics file not found"):
        main(["--metrics", str(tmp_path / "missing.json"), "--gate", "auc:min=0.1"])
    (tmp_path / "m.json").write_text("[1, 2]")
    with pytest.raises(RuntimeFailure, match="must hold a JSON object"):
        main(["--metrics", str(tmp_path / "m.json"), "--gate", "auc:min=0.1"])
    with pytest.raises(RuntimeFailure, match="unknown rule `mn`; did you mean `min`"):
        main(["--metrics", str(tmp_path / "m.json"), "--gate", "auc:mn=0.1"])
    with pytest.raises(RuntimeFailure, match="only max_drop/max_rise can be relative"):
        main(["--metrics", str(tmp_path / "m.json"), "--gate", "auc:min=5%"])
