"""`mlgen gate`: absolute and baseline gates, broken inputs, reports, spec settings."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.runtime.conftest import Result

Run = Callable[..., Result]


def write(path: Path, data: object) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def junit(path: Path) -> ET.Element:
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    return suite


def statuses(suite: ET.Element) -> dict[str, str]:
    def status(case: ET.Element) -> str:
        return "failed" if case.find("failure") is not None else "skipped" if case.find("skipped") is not None else "passed"

    return {case.get("name", ""): status(case) for case in suite.iter("testcase")}


def test_passing_gates_write_every_report(runtime: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = write(tmp_path / "metrics.json", {"accuracy": 0.91, "eval": {"auc": 0.88}, "latency_ms": 21.0})
    baseline = write(tmp_path / "baseline.json", {"accuracy": 0.9, "eval": {"auc": 0.885}, "latency_ms": 20.0})
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = runtime("gate", "--metrics", metrics, "--baseline-file", baseline, "--gate", "accuracy:min=0.85,max_drop=0.01",
                     "--gate", "eval.auc:max_drop=1%", "--gate", "latency_ms:max=50,max_rise=10%")
    assert result.code == 0, result.out + result.err
    assert "gate passed: 3 of 3" in result.out
    assert statuses(junit(tmp_path / ".mlgen/reports/evaluate-gate.xml")) == {
        "accuracy": "passed", "eval.auc": "passed", "latency_ms": "passed"}
    data = json.loads((tmp_path / ".mlgen/gate-evaluate.json").read_text())
    assert data["passed"] is True
    assert data["metrics"] == {"accuracy": 0.91, "eval.auc": 0.88, "latency_ms": 21.0}
    assert data["gates"]["eval.auc"]["baseline"] == 0.885
    assert data["baseline"] == {"source": "file", "ref": baseline, "found": True, "note": ""}
    text = summary.read_text()
    assert "mlgen gate `evaluate`" in text and "| eval.auc | 0.88 | 0.885 | max_drop | 1% |" in text


def test_failed_absolute_gates_exit_1_and_name_each_failure(runtime: Run, tmp_path: Path) -> None:
    metrics = write(tmp_path / "m.json", {"accuracy": 0.80, "latency_ms": 75.5, "auc": 0.9})
    result = runtime("gate", "--metrics", metrics, "--gate", "accuracy:min=0.85", "--gate", "latency_ms:max=50",
                     "--gate", "auc:min=0.8", "--junit", "out/gate.xml", "--json", "out/gate.json", "--summary", "out/s.md")
    assert "### ❌ mlgen gate `evaluate`" in (tmp_path / "out/s.md").read_text()
    assert result.code == 1
    assert "gate FAILED: 2 of 3 gates failed (accuracy, latency_ms)" in result.out
    assert "0.8 < 0.85" in result.out and "75.5 > 50" in result.out
    suite = junit(tmp_path / "out/gate.xml")
    assert suite.get("failures") == "2"
    assert statuses(suite) == {"accuracy": "failed", "latency_ms": "failed", "auc": "passed"}
    assert json.loads((tmp_path / "out/gate.json").read_text())["passed"] is False


@pytest.mark.parametrize(("baseline", "value", "rule", "code"), [
    (0.85, 0.84, "max_drop=0.01", 0),  # exactly the allowed drop, despite 0.85 - 0.84 > 0.01 in floats
    (0.85, 0.839, "max_drop=0.01", 1),
    (0.85, 0.834, "max_drop=2%", 0),  # 2% of 0.85 = 0.017
    (0.85, 0.832, "max_drop=2%", 1),
    (0.85, 0.95, "max_drop=0.01", 0),  # a rise is never a drop
    (10.0, 10.9, "max_rise=10%", 0),
    (10.0, 11.5, "max_rise=10%", 1),
    (10.0, 10.5, "max_rise=0.5", 0),
    (10.0, 10.6, "max_rise=0.5", 1),
    (-2.0, -2.015, "max_drop=1%", 0),  # relative to |baseline|: 1% of 2 = 0.02
    (-2.0, -2.05, "max_drop=1%", 1),
])
def test_baseline_rules(runtime: Run, tmp_path: Path, baseline: float, value: float, rule: str, code: int) -> None:
    metrics = write(tmp_path / "m.json", {"score": value})
    base = write(tmp_path / "b.json", {"score": baseline})
    result = runtime("gate", "--metrics", metrics, "--baseline-file", base, "--gate", f"score:{rule}")
    assert result.code == code, result.out


def test_missing_metric_suggests_the_near_name(runtime: Run, tmp_path: Path) -> None:
    metrics = write(tmp_path / "m.json", {"accuracy": 0.9, "eval": {"auc": 0.9}})
    result = runtime("gate", "--metrics", metrics, "--gate", "acuracy:min=0.5", "--gate", "eval.acu:min=0.5")
    assert result.code == 1
    assert "metric `acuracy` is missing (did you mean 'accuracy'?)" in result.out
    assert "metric `eval.acu` is missing (did you mean 'eval.auc'?)" in result.out


@pytest.mark.parametrize(("raw", "reason"), [
    ("NaN", "is nan (not a finite number)"),
    ("Infinity", "is inf (not a finite number)"),
    ('"0.93"', 'is not a number ("0.93")'),
    ("true", "is not a number (true)"),
    ("null", "is not a number (null)"),
    ("[0.9]", "is missing"),  # a list flattens to auc.0, so `auc` itself does not exist
])
def test_unusable_metric_values_fail(runtime: Run, tmp_path: Path, raw: str, reason: str) -> None:
    metrics = write(tmp_path / "m.json", '{"auc": ' + raw + "}")
    result = runtime("gate", "--metrics", metrics, "--gate", "auc:max=1")
    assert result.code == 1
    assert f"metric `auc` {reason}" in result.out


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "the metrics file is not valid JSON"),
    ("[1, 2]", "must hold a JSON object, not a list"),
    (None, "metrics file not found"),
])
def test_broken_metrics_file_is_a_clear_error(runtime: Run, tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "m.json"
    if content is not None:
        path.write_text(content)
    result = runtime("gate", "--metrics", str(path), "--gate", "auc:min=0.5")
    assert result.code == 1
    assert message in result.err and str(path) in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / ".mlgen/gate-evaluate.json").exists()


def test_broken_baseline_value_fails_even_when_lenient(runtime: Run, tmp_path: Path) -> None:
    metrics = write(tmp_path / "m.json", {"auc": 0.9})
    base = write(tmp_path / "b.json", '{"auc": "high"}')
    result = runtime("gate", "--metrics", metrics, "--baseline-file", base, "--gate", "auc:max_drop=0.01")
    assert result.code == 1
    assert "the baseline's `auc` is not a number" in result.out


class TestNoBaseline:
    """The first model has no baseline: the three policies, reported explicitly."""

    def gate(self, runtime: Run, tmp_path: Path, *extra: str, auc: float = 0.9) -> Result:
        metrics = write(tmp_path / "m.json", {"auc": auc})
        return runtime("gate", "--metrics", metrics, "--baseline-file", str(tmp_path / "none.json"),
                       "--gate", "auc:min=0.8,max_drop=0.01", *extra)

    def test_absolute_skips_relative_rules_but_keeps_absolute_ones(self, runtime: Run, tmp_path: Path) -> None:
        result = self.gate(runtime, tmp_path)
        assert result.code == 0
        assert "baseline: none (" in result.out and "none.json does not exist); on_missing_baseline: absolute" in result.out
        rules = json.loads((tmp_path / ".mlgen/gate-evaluate.json").read_text())["gates"]["auc"]["rules"]
        assert [(r["rule"], r["status"]) for r in rules] == [("min", "passed"), ("max_drop", "skipped")]
        assert self.gate(runtime, tmp_path, auc=0.7).code == 1  # the absolute rule still applies

    def test_fail_fails(self, runtime: Run, tmp_path: Path) -> None:
        result = self.gate(runtime, tmp_path, "--on-missing-baseline", "fail")
        assert result.code == 1
        assert "on_missing_baseline is `fail`" in result.out

    def test_pass_passes_relative_rules_and_says_so(self, runtime: Run, tmp_path: Path) -> None:
        result = self.gate(runtime, tmp_path, "--on-missing-baseline", "pass")
        assert result.code == 0
        assert statuses(junit(tmp_path / ".mlgen/reports/evaluate-gate.xml")) == {"auc": "passed"}
        assert "passed: on_missing_baseline is `pass`" in result.out

    def test_pass_still_applies_absolute_rules(self, runtime: Run, tmp_path: Path) -> None:
        result = self.gate(runtime, tmp_path, "--on-missing-baseline", "pass", auc=0.7)
        assert result.code == 1
        assert statuses(junit(tmp_path / ".mlgen/reports/evaluate-gate.xml")) == {"auc": "failed"}
        assert "0.7 < 0.8" in result.out

    def test_pass_still_fails_a_missing_metric(self, runtime: Run, tmp_path: Path) -> None:
        metrics = write(tmp_path / "m.json", {"acc": 0.9})
        result = runtime("gate", "--metrics", metrics, "--gate", "auc:min=0.8", "--on-missing-baseline", "pass")
        assert result.code == 1


@pytest.mark.parametrize(("flag", "message"), [
    ("auc", "a gate is written METRIC:RULE=VALUE"),
    ("auc:min", "`min` is not RULE=VALUE"),
    ("auc:mni=0.5", "unknown gate rule `mni` (did you mean 'min'?)"),
    ("auc:min=abc", "`abc` is not a number"),
    ("auc:max_drop=-1", "`-1.0` is not an allowed change"),
    ("auc:min=0.9,max=0.1", "min 0.9 is above max 0.1"),
    ("auc:min=1,min=2", "rule `min` is given twice"),
])
def test_malformed_gate_flags(runtime: Run, tmp_path: Path, flag: str, message: str) -> None:
    metrics = write(tmp_path / "m.json", {"auc": 0.9})
    result = runtime("gate", "--metrics", metrics, "--gate", flag)
    assert result.code == 1
    assert message in result.err


BAD_VALUES = ["abc", "abc%", "nan", "inf", "-inf", "1e999", "%", "2%%"]


@pytest.mark.parametrize("rule", ["min", "max", "max_drop", "max_rise"])
@pytest.mark.parametrize("value", BAD_VALUES)
def test_a_bad_value_gets_the_hint_of_its_own_rule(runtime: Run, tmp_path: Path, rule: str, value: str) -> None:
    metrics = write(tmp_path / "m.json", {"auc": 0.9})
    result = runtime("gate", "--metrics", metrics, "--gate", f"auc:{rule}={value}")
    assert result.code == 1
    hint = result.err.split("hint: ", 1)[1]
    assert hint.startswith(f"{rule} takes"), result.err
    others = {"min", "max", "max_drop", "max_rise"} - {rule}
    assert not any(f"e.g. {other}=" in hint for other in others), result.err


def test_metric_names_may_contain_colons(runtime: Run, tmp_path: Path) -> None:
    metrics = write(tmp_path / "m.json", {"val:auc": 0.9})
    assert runtime("gate", "--metrics", metrics, "--gate", "val:auc:min=0.95").code == 1
    assert runtime("gate", "--metrics", metrics, "--gate", "val:auc:min=0.85").code == 0


SPEC = """\
version: 1
name: demo
stages:
  - {name: train, kind: train, run: python train.py, outputs: [model/]}
  - name: check-model
    kind: evaluate
    run: python eval.py
    metrics: out/metrics.json
    gates:
      accuracy: {min: 0.8}
      auc: {min: 0.75, max_drop: "2%"}
    baseline: {file: baseline/metrics.json}
    on_missing_baseline: fail
"""


def test_settings_come_from_the_spec(runtime: Run, tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "mlgen.yaml", SPEC)
    write(project / "out/metrics.json", {"accuracy": 0.85, "auc": 0.80})
    write(project / "baseline/metrics.json", {"auc": 0.83})
    result = runtime("gate", "--spec", str(project / "mlgen.yaml"), "--stage", "check-model")
    assert result.code == 1  # 0.80 is 3.6% below 0.83
    assert "dropped 0.03 (3.61%) vs baseline 0.83" in result.out
    assert (tmp_path / ".mlgen/reports/check-model-gate.xml").exists()
    # Paths in the spec are relative to it; a flag overrides the spec's value.
    write(tmp_path / "better.json", {"accuracy": 0.85, "auc": 0.825})
    assert runtime("gate", "--spec", str(project / "mlgen.yaml"), "--stage", "check-model", "--metrics", "better.json").code == 0
    # on_missing_baseline: fail comes from the spec too
    (project / "baseline/metrics.json").unlink()
    result = runtime("gate", "--spec", str(project / "mlgen.yaml"), "--stage", "check-model")
    assert result.code == 1 and "on_missing_baseline is `fail`" in result.out


def test_spec_stage_errors(runtime: Run, tmp_path: Path) -> None:
    write(tmp_path / "mlgen.yaml", SPEC)
    result = runtime("gate", "--spec", "mlgen.yaml", "--stage", "check-modle")
    assert result.code == 1 and "no stage named `check-modle` (did you mean 'check-model'?)" in result.err
    result = runtime("gate", "--spec", "mlgen.yaml", "--stage", "train")
    assert result.code == 1 and "stage `train` is a train stage, not a evaluate stage" in result.err
    result = runtime("gate", "--spec", "missing.yaml")
    assert result.code == 1 and "spec file not found" in result.err
