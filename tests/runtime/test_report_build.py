"""`mlgen report` content: the metrics table (gated and not, bounds), drift order, training, missing inputs.

Inputs are written by the runtime's own result writers (`reportcases`); the report is read back
from the files `mlgen report` writes, as the compile side's job and a reviewer see them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgen.runtime.gate import render
from mlgen.runtime.gate import rules as gate
from mlgen.runtime.report import build, markdown
from tests.runtime.conftest import Result
from tests.runtime.reportcases import DRIFT, GRAPH, SCENARIOS, scenario, write_data, write_gate, write_training

Run = Callable[..., Result]


def _report(runtime: Run, *extra: str) -> tuple[str, dict[str, Any]]:
    done = runtime("report", "--stage", "evaluate", "--pipeline", "churn", "--post", "none", *extra)
    assert done.code == 0, done
    out = Path(".mlgen/report")
    return (out / "report.md").read_text(encoding="utf-8"), json.loads((out / "report.json").read_text(encoding="utf-8"))


def _metric(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in data["metrics"] if m["metric"] == name)


@pytest.mark.parametrize("name", SCENARIOS)
def test_snapshot(runtime: Run, snapshot: Any, name: str) -> None:
    scenario(name)
    text, _ = _report(runtime, "--graph", "graph.mmd", "--run-url", "https://ci.example/run/7")
    assert text == snapshot


# metric, challenger, champion, gate flag -> (verdict, delta, relative)
METRIC_CASES = [
    ("auc", 0.86, 0.84, "auc:max_drop=0.01", "passed", 0.02, 0.02 / 0.84),
    ("auc", 0.80, 0.84, "auc:max_drop=0.01", "failed", -0.04, -0.04 / 0.84),
    ("loss", 0.5, 0.4, "loss:max_rise=10%", "failed", 0.1, 0.25),
    ("loss", -0.5, -0.4, None, build.NOT_GATED, -0.1, -0.25),  # relative to |champion|
    ("rows", 10, 0, None, build.NOT_GATED, 10.0, None),  # no relative change from 0
    ("auc", 0.9, None, "auc:min=0.8,max_drop=0.01", "passed", None, None),  # first model: relative rule skipped
    ("f1", 0.7, 0.71, None, build.NOT_GATED, -0.01, -0.01 / 0.71),
]


@pytest.mark.parametrize(("metric", "value", "base", "flag", "verdict", "delta", "relative"), METRIC_CASES)
def test_every_metric_row(runtime: Run, metric: str, value: float, base: float | None, flag: str | None, verdict: str,
                          delta: float | None, relative: float | None) -> None:
    champion = None if base is None else {metric: base, "other": 1.0}
    gates = [flag] if flag else ["other:min=0"]
    write_gate("evaluate", {metric: value, "other": 1.5}, gates, champion)
    text, data = _report(runtime)
    row = _metric(data, metric)
    assert row["verdict"] == verdict and row["challenger"] == value and row["champion"] == base
    assert (row["delta"] is None) == (delta is None) and (row["relative"] is None) == (relative is None)
    if delta is not None:
        assert math.isclose(row["delta"], delta, abs_tol=1e-12)
    if relative is not None:
        assert math.isclose(row["relative"], relative, rel_tol=1e-9)
    assert f"| `{metric}` |" in text
    if flag is None:  # an ungated metric still shows its champion and change
        assert row["rules"] == [] and _metric(data, "other")["verdict"] != build.NOT_GATED


def test_gated_metrics_come_first_then_every_other_metric_by_name(runtime: Run) -> None:
    write_gate("evaluate", {"z": 1, "a": 2, "eval": {"auc": 0.9, "f1": 0.5}, "name": "gb"}, ["eval.auc:min=0.5", "z:max=3"],
               {"z": 1})
    _, data = _report(runtime)
    assert [m["metric"] for m in data["metrics"]] == ["eval.auc", "z", "a", "eval.f1", "name"]
    assert _metric(data, "name")["challenger"] == "gb"  # text values from the metrics file itself


def test_confidence_bounds_are_shown_with_their_settings(runtime: Run) -> None:
    own = gate.Interval(gate.Bound(0.9, 0.88, 0.92), None, 0.9, 500, 77, "none")
    write_gate("evaluate", {"auc": 0.9, "f1": 0.6}, ["auc:min=0.85", "f1:min=0.5"], None, {"auc": own})
    text, data = _report(runtime)
    bounds = _metric(data, "auc")["interval"]
    assert bounds == {"confidence": 0.9, "lower": 0.88, "upper": 0.92, "of": "challenger", "resamples": 500, "seed": 77,
                      "pairing": "none", "note": ""}
    assert _metric(data, "f1")["interval"] is None
    assert "| bounds |" in text and "[0.88, 0.92]" in text and "500 bootstrap resamples, seed 77" in text


def test_no_bounds_column_without_intervals(runtime: Run) -> None:
    write_gate("evaluate", {"auc": 0.9}, ["auc:min=0.85"], None)
    text, _ = _report(runtime)
    assert "bounds" not in text


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["psi", "ks"]),
                          st.one_of(st.none(), st.floats(0, 5, allow_nan=False)), st.booleans()), max_size=12))
def test_drift_is_sorted_largest_first_and_unmeasured_last(rows: list[tuple[str, str, float | None, bool]]) -> None:
    drift = [build.DriftRow("f.csv", c, m, v, "passed" if ok else "failed", "") for c, m, v, ok in rows]
    ordered = build.sort_drift(drift)
    assert sorted(map(repr, ordered)) == sorted(map(repr, drift))
    values = [r.value for r in ordered]
    measured = [v for v in values if v is not None]
    assert values == measured + [None] * (len(values) - len(measured))
    assert measured == sorted(measured, reverse=True)


def test_drift_table_in_the_report_is_largest_first(runtime: Run) -> None:
    write_data("validate", drift=DRIFT)
    write_gate("evaluate", {"auc": 0.9}, ["auc:min=0.8"], None)
    text, data = _report(runtime)
    rows = data["data"][0]["drift"]
    assert [(r["column"], r["method"]) for r in rows] == [("monthly_charges", "psi"), ("tenure", "ks"), ("tenure", "psi"),
                                                          ("plan", "psi")]
    assert rows[-1]["value"] is None  # NaN (not computed) is not valid JSON
    assert text.index("`monthly_charges`") < text.index("| `tenure` | KS") < text.index("| `tenure` | PSI")


@pytest.mark.parametrize("missing", ["gate", "data", "training", "graph", "all"])
def test_a_missing_input_empties_only_its_section(runtime: Run, missing: str) -> None:
    scenario("improvement")
    removed = {"gate": [".mlgen/gate-evaluate.json"], "data": [".mlgen/data-validate.json"],
               "training": [".mlgen/train/train~gb.json", ".mlgen/train/train~logreg.json"], "graph": ["graph.mmd"]}
    for path in (p for k, paths in removed.items() if missing in (k, "all") for p in paths):
        Path(path).unlink()
    text, data = _report(runtime, "--graph", "graph.mmd")
    assert ("Not available: the gate did not run (.mlgen/gate-evaluate.json not found)" in text) == (missing in ("gate", "all"))
    assert ("Not run / not available: no .mlgen/data-*.json" in text) == (missing in ("data", "all"))
    assert ("Not available: no training record" in text) == (missing in ("training", "all"))
    assert ("```mermaid" in text) == (missing not in ("graph", "all"))
    assert (data["verdict"] == "not-run") == (missing in ("gate", "all"))


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "", '{"stage": "evaluate"}'])
def test_a_damaged_gate_result_is_reported_not_raised(runtime: Run, content: str) -> None:
    Path(".mlgen").mkdir()
    Path(".mlgen/gate-evaluate.json").write_text(content, encoding="utf-8")
    text, data = _report(runtime)
    assert data["verdict"] == "not-run" and "Not available: the gate did not run (.mlgen/gate-evaluate.json" in text


def test_data_contract_failure_names_the_findings_and_why_evaluate_did_not_run(runtime: Run) -> None:
    scenario("data-contract-failure")
    text, data = _report(runtime)
    assert data["verdict"] == "not-run" and data["data"][0]["passed"] is False
    assert "the data contract failed, so the `evaluate` gate did not run" in text
    assert "data/train.csv: `tenure` min: 2 values below 0" in text


@pytest.mark.parametrize(("metrics", "matrix_records", "chosen"), [
    ({"model": "gb"}, {"gb": "miss", "logreg": "hit"}, {"MODEL": "gb"}),
    ({"MODEL": "logreg"}, {"gb": "hit", "logreg": "hit"}, {"MODEL": "logreg"}),
    ({"model": "svm"}, {"gb": "miss", "logreg": "miss"}, {}),  # not one of the legs: not claimed as chosen
    ({"auc": 0.9}, {"gb": "miss"}, {}),  # the metrics do not say
])
def test_training_shows_reuse_and_the_chosen_leg(runtime: Run, metrics: dict[str, Any], matrix_records: dict[str, str],
                                                 chosen: dict[str, str]) -> None:
    write_gate("evaluate", {"auc": 0.9, **metrics}, ["auc:min=0.5"], None)
    for leg, cache in matrix_records.items():
        write_training("train", {"MODEL": leg}, cache, "" if cache == "hit" else "no saved key")
    text, data = _report(runtime)
    assert data["chosen_leg"] == chosen
    rows = {r["leg"]["MODEL"]: r for r in data["training"]}
    assert {leg: r["cache"] for leg, r in rows.items()} == matrix_records
    assert {leg for leg, r in rows.items() if r["chosen"]} == set(chosen.values())
    assert ("reused from the cache" in text) == ("hit" in matrix_records.values())


def test_the_cache_guard_leaves_the_training_record(runtime: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("data.csv").write_text("x\n1\n", encoding="utf-8")
    Path("model").mkdir()
    monkeypatch.setenv("MODEL", "gb")
    flags = ["--stage", "train", "--key", "data.csv", "--path", "model", "--matrix-env", "MODEL"]
    assert runtime("cache", "hit", *flags).code == 10
    assert runtime("cache", "save", *flags).code == 0
    first = json.loads(Path(".mlgen/train/train~gb.json").read_text(encoding="utf-8"))
    assert first == {"stage": "train", "leg": {"MODEL": "gb"}, "cache": "miss", "reason": "no saved key"}
    assert runtime("cache", "hit", *flags).code == 0
    assert json.loads(Path(".mlgen/train/train~gb.json").read_text(encoding="utf-8"))["cache"] == "hit"


def test_links_and_files(runtime: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/churn")
    summary = Path("summary.md")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write_gate("evaluate", {"auc": 0.9}, ["auc:min=0.8"], None)
    text, data = _report(runtime, "--registry-version", "7", "--model", "churn")
    run = "https://github.com/acme/churn/actions/runs/42"
    assert data["links"] == {"run": run, "artifacts": run + "#artifacts", "registry version": "churn version 7"}
    assert f"[run]({run})" in text and "registry version: churn version 7" in text
    assert summary.read_text(encoding="utf-8").startswith(text.rstrip("\n"))
    assert Path(".mlgen/report/description.txt").read_text(encoding="utf-8") == "mlgen churn/evaluate: ✅ all 1 gates passed\n"


def test_the_registered_version_is_found_in_the_workspace(runtime: Run) -> None:
    write_gate("evaluate", {"auc": 0.9}, ["auc:min=0.8"], None)
    Path(".mlgen/registered-churn.json").write_text('{"model": "churn", "version": "12"}', encoding="utf-8")
    _, data = _report(runtime, "--model", "churn")
    assert data["links"]["registry version"] == "churn version 12"


def test_the_graph_fence_outlasts_backticks_inside_it() -> None:
    report = build.build(build.Inputs("p", "e", build.Missing("gate result", "x"), [], graph="a[```] --> b"))
    text = markdown.render(report)
    assert "````mermaid\na[```] --> b\n````" in text and GRAPH


@pytest.mark.parametrize("size", [10, 1000, 70_000, 200_000])
def test_a_comment_is_cut_to_fit_and_keeps_its_marker(size: int) -> None:
    text = "<!-- mlgen-report:p:e -->\n" + "\n".join("| row | " + "x" * 50 + " |" for _ in range(size // 58))
    cut = markdown.fit(text)
    assert len(cut) <= markdown.COMMENT_LIMIT and cut.startswith("<!-- mlgen-report:p:e -->\n")
    assert (cut == text) == (len(text) <= markdown.COMMENT_LIMIT)


def test_the_spec_names_the_pipeline_the_matrix_and_the_model(runtime: Run) -> None:
    from tests.runtime.conftest import CHURN

    write_gate("evaluate", {"auc": 0.9, "model": "logreg"}, ["auc:min=0.8"], None)
    Path(".mlgen/registered-churn.json").write_text('{"model": "churn", "version": "4"}', encoding="utf-8")
    done = runtime("report", "--spec", str(CHURN / "mlgen.yaml"), "--stage", "evaluate", "--post", "none")
    assert done.code == 0, done
    data = json.loads(Path(".mlgen/report/report.json").read_text(encoding="utf-8"))
    assert data["marker"] == "<!-- mlgen-report:churn:evaluate -->"
    # the spec's MLflow tracking server has a page for the version: the link goes there
    assert data["chosen_leg"] == {"MODEL": "logreg"}
    assert data["links"]["registry version"] == "https://mlflow.example.com/#/models/churn/versions/4"


@pytest.mark.parametrize(("args", "message"), [
    (["--stage", "train", "--spec", "SPEC"], "stage `train` is a train stage, not a evaluate stage"),
    (["--stage", "evaluate", "--post", "slack"], "argument --post: invalid choice: 'slack'"),
    (["--stage", "evaluate", "--http-timeout", "0"], "is not between 0 and 300 seconds"),
])
def test_a_wrong_flag_or_stage_is_a_user_error(runtime: Run, args: list[str], message: str) -> None:
    from tests.runtime.conftest import CHURN

    done = runtime("report", *[str(CHURN / "mlgen.yaml") if a == "SPEC" else a for a in args])
    assert done.code == 1 and message in done.err and "hint:" in done.err, done


def test_a_summary_that_cannot_be_written_is_a_warning(runtime: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("dir").mkdir()
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", "dir")  # a directory: appending fails
    done = runtime("report", "--stage", "evaluate", "--post", "none")
    assert done.code == 0 and "warning: " in done.err and Path(".mlgen/report/report.md").is_file()


def test_a_training_record_that_cannot_be_written_does_not_change_the_guard(runtime: Run) -> None:
    Path("data.csv").write_text("x\n", encoding="utf-8")
    Path("model").mkdir()
    Path(".mlgen").mkdir()
    Path(".mlgen/train").write_text("a file where the folder goes", encoding="utf-8")
    done = runtime("cache", "hit", "--stage", "train", "--key", "data.csv", "--path", "model")
    assert done.code == 10 and "warning: " in done.err


@given(st.text(max_size=30), st.text(max_size=30))
def test_the_marker_is_always_one_hidden_line(pipeline: str, stage: str) -> None:
    mark = build.marker(pipeline, stage)
    inner = mark.removeprefix("<!-- ").removesuffix(" -->")
    assert mark.startswith("<!-- mlgen-report:") and mark.endswith(" -->") and "\n" not in mark
    assert "--" not in inner and ">" not in inner


@pytest.mark.parametrize(("pipeline", "stage"), [("churn", "evaluate"), ("fraud-v2", "eval_1"), ("a.b", "c")])
def test_plain_names_are_kept_as_written(pipeline: str, stage: str) -> None:
    assert build.marker(pipeline, stage) == f"<!-- mlgen-report:{pipeline}:{stage} -->"


def test_an_accepted_regression_is_shown_with_its_reason(runtime: Run) -> None:
    from mlgen.runtime import reports

    rule = gate.RuleOutcome("max_drop", "0.01", "passed", "change -0.03 < -0.01",
                            accepted="new label set (expires 2027-01-31, docs/accepted.yaml)")
    outcome = gate.GateOutcome("auc", 0.81, 0.84, (rule,))
    result = gate.GateReport("evaluate", "metrics.json", gate.Baseline("registry", "churn@champion", {"auc": 0.84}),
                             "absolute", (outcome,), {"auc": 0.81})
    reports.write_json(Path(".mlgen/gate-evaluate.json"), render.to_json(result))
    text, data = _report(runtime)
    assert data["verdict"] == "passed" and _metric(data, "auc")["verdict"] == "passed"
    assert "max_drop: change -0.03 < -0.01 (accepted: new label set (expires 2027-01-31, docs/accepted.yaml))" in text
