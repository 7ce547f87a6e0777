"""`baseline: {registry: champion, rescore: true}` compiles to one more step in the evaluate job, on
every target: the user's command, then `mlgen registry rescore` with that same command, then the gate
reading what the rescore wrote. The command lines are parsed back with the runtime's own parser."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.compile import plan
from mlgen.errors import SpecError
from mlgen.runtime.cli import build_parser
from mlgen.spec.models import Pipeline
from tests.compiled import compile_dict

RUN = 'python evaluate.py --model "${MLGEN_MODEL_DIR:-model}" \\\n  --predictions "${MLGEN_PREDICTIONS:-preds.csv}"'


def spec(*, rescore: bool = True, predictions: str | None = "preds.csv", run: str = RUN,
         registry: str = "mlflow", fetch_model: bool = True) -> dict[str, Any]:
    evaluate: dict[str, Any] = {"name": "evaluate", "kind": "evaluate", "run": run, "metrics": "metrics.json",
                                "gates": {"auc": {"max_drop": 0.01}}, "baseline": {"registry": "champion", "rescore": rescore}}
    if predictions:
        evaluate["predictions"] = predictions
    register: dict[str, Any] = {"name": "register", "kind": "register", "model": "churn", "path": "model/", "registry": registry}
    if registry == "command":
        register["command"] = {"register": "reg {model}", "baseline": "base {model}",
                               **({"fetch_model": "fetch {model} {alias} {out}"} if fetch_model else {})}
    return {"version": 1, "name": "r", "env": {"MLFLOW_TRACKING_URI": "https://mlflow.example.com"},
            "stages": [{"name": "train", "kind": "train", "run": "python train.py", "outputs": ["model/"]}, evaluate, register]}


def words(script: str) -> list[str]:
    return shlex.split(script, comments=True)[1:]  # without `mlgen`; a shellcheck directive is a comment


def evaluate_scripts(pipeline: Pipeline) -> list[str]:
    return [c.script for c in plan.build(pipeline, "0.0.0").job("evaluate").commands]


@pytest.mark.parametrize("registry", ["mlflow", "command"])
def test_the_evaluate_job_rescores_between_the_run_and_the_gate(registry: str) -> None:
    pipeline = Pipeline.model_validate(spec(registry=registry))
    run, rescore, gate = evaluate_scripts(pipeline)
    assert run == RUN
    parser = build_parser()
    r = parser.parse_args(words(rescore))
    g = parser.parse_args(words(gate))
    assert (r.command, r.registry_command) == ("registry", "rescore")
    assert (r.run, r.predictions, r.metrics, r.baseline_alias, r.model) == (RUN, "preds.csv", "metrics.json", "champion", "churn")
    assert r.model_dir == "model/"  # the register stage's path: the challenger's files
    assert g.rescored_predictions == r.out == ".mlgen/rescore-evaluate/predictions.csv"
    if registry == "command":  # the templates it runs travel with it, and no others
        assert (r.fetch_model_command, r.register_command) == ("fetch {model} {alias} {out}", None)


def test_without_rescore_there_is_no_second_run() -> None:
    pipeline = Pipeline.model_validate(spec(rescore=False))
    run, gate = evaluate_scripts(pipeline)
    assert build_parser().parse_args(words(gate)).rescored_predictions is None


@pytest.mark.parametrize("target", ["github", "gitlab", "jenkins"])
def test_every_target_runs_the_rescore_step(tmp_path: Path, target: str) -> None:
    text = compile_dict(spec(), tmp_path)[target]
    at_run, at_rescore, at_gate = (text.index(s) for s in ("python evaluate.py", "mlgen registry rescore", "mlgen gate"))
    assert at_run < at_rescore < at_gate
    assert "--rescored-predictions .mlgen/rescore-evaluate/predictions.csv" in text


SUFFIX = st.sampled_from(["csv", "parquet", "pq", "CSV"])
COMMAND = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), min_size=1, max_size=40).filter(
    lambda s: s.strip() and "${{" not in s and s != "--")


@settings(max_examples=60, deadline=None)
@given(run=COMMAND, stem=st.from_regex(r"\A-{0,2}[a-z][a-z0-9_/-]{0,10}\Z"), suffix=SUFFIX | st.just(""))
def test_any_command_and_predictions_path_reach_the_runtime_as_written(run: str, stem: str, suffix: str) -> None:
    predictions = f"{stem}.{suffix}" if suffix else stem
    pipeline = Pipeline.model_validate(spec(run=run, predictions=predictions))
    _, rescore, gate = evaluate_scripts(pipeline)
    r = build_parser().parse_args(words(rescore))
    assert (r.run, r.predictions) == (run, predictions)
    # The champion's predictions keep the challenger's format: the reader picks CSV or Parquet by suffix.
    assert Path(r.out).suffix == Path(predictions).suffix
    assert build_parser().parse_args(words(gate)).rescored_predictions == r.out


@pytest.mark.parametrize(("change", "message"), [
    (dict(predictions=None), "`rescore` needs `predictions`"),
    (dict(registry="command", fetch_model=False), "has no `command.fetch_model`"),
])
def test_a_rescore_that_cannot_work_is_refused_at_compile_time(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as raised:
        compile_dict(spec(**change), tmp_path)
    assert message in str(raised.value.problems)


def test_rescore_needs_a_registry_baseline() -> None:
    data = spec()
    data["stages"][1]["baseline"] = {"file": "baseline.json", "rescore": True}
    with pytest.raises(ValueError, match="`rescore` re-scores a registry version"):
        Pipeline.model_validate(data)


def test_rescore_outputs_pass_the_linters(tmp_path: Path) -> None:
    from tests import validators

    out = compile_dict(spec(), tmp_path)
    for target, text in out.items():
        assert validators.shellcheck(target, text) == [], target
    assert validators.actionlint(out["github"], validators.runner_labels(out["github"]), validators.beside_of(out)) == ""
    assert validators.zizmor(out["github"], validators.beside_of(out)) == ""
