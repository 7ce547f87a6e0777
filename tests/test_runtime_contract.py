"""The compiler and the runtime cannot drift: every runtime command line a job runs, split as a shell
splits it and parsed by the runtime's OWN parser, gives back exactly the spec's values.

Values shaped like options (`--help`, `-x`) are the hard case: a dataset named `--help` must be
checked as a dataset, not print help and exit 0.
"""

from __future__ import annotations

import contextlib
import functools
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.compile import plan
from mlgen.duration import parse_duration
from mlgen.runtime.canary import prometheus
from mlgen.runtime.cli import build_parser
from mlgen.runtime.gate import rules as gates
from mlgen.spec import graph
from mlgen.spec.load import load
from mlgen.spec.models import Pipeline, duration_seconds
from mlgen.targets import yamlout
from tests.support import example_specs


def runtime_calls(pipeline: Pipeline) -> Iterator[tuple[Any, str, list[str]]]:
    """(stage, the command's text, its words) for every `mlgen ...` command of every job."""
    for job in plan.build(pipeline, "0.0.0").jobs:
        stage = pipeline.stage(job.stage)
        for command in job.commands:
            if command.script != stage.run and _code(command.script).startswith("mlgen "):
                yield stage, command.script, shlex.split(command.script, comments=True)[1:]


@functools.cache
def parser() -> Any:
    return build_parser()


def _code(script: str) -> str:
    """The script without its leading shellcheck directive."""
    return script.split("\n", 1)[1] if script.startswith("# shellcheck") else script


def parse(words: list[str]) -> Any:
    args, extra = parser().parse_known_args(words)
    assert extra == [], f"the runtime would refuse: {extra}"
    return args


def assert_matches_spec(pipeline: Pipeline, stage: Any, words: list[str]) -> None:
    args = parse(words)
    command = (args.command, getattr(args, "data_command", None) or getattr(args, "registry_command", None)
               or getattr(args, "canary_command", None))
    if command == ("data", "check"):
        assert (args.contract, args.reference, args.data) == (stage.contract, stage.reference, stage.data)
    elif command == ("gate", None):
        assert args.metrics == stage.metrics
        spec_rules = [gates.gate_from_values(m, g.model_dump(), where="spec") for m, g in stage.gates.items()]
        assert [gates.parse_gate_flag(text) for text in args.gate] == spec_rules
        baseline = stage.baseline
        assert args.baseline_file == (baseline.file if baseline else None)
        assert args.baseline_registry == (baseline.registry if baseline else None)
        assert args.on_missing_baseline == stage.on_missing_baseline
        rescored = baseline is not None and baseline.rescore
        assert (args.rescored_predictions is not None) == rescored
    elif command == ("registry", "register"):
        assert (args.model, args.path, args.alias, args.registry) == (stage.model, stage.path, stage.alias, stage.registry)
        assert_commands(args, stage)
    elif command == ("canary", "step"):
        assert args.weight in stage.steps
        assert (args.deploy, args.check, args.check_url) == (stage.deploy, stage.check, stage.check_url)
        assert parse_duration(args.bake, flag="--bake") == duration_seconds(stage.bake)
        assert parse_duration(args.interval, flag="--interval") == duration_seconds(stage.interval)
        bounds = [prometheus.parse_bound(text) for text in args.threshold or ()]
        assert bounds == [prometheus.Bound(m, t.min, t.max) for m, t in stage.thresholds.items()]
    elif command == ("registry", "rescore"):
        assert (args.run, args.predictions, args.metrics) == (stage.run, stage.predictions, stage.metrics)
        registry = graph.Graph(pipeline).registry(stage)
        assert (args.baseline_alias, args.model, args.model_dir) == (stage.baseline.registry, registry.model, registry.register.path)
    elif command in (("canary", "promote"), ("canary", "rollback")):
        assert args.model == graph.Graph(pipeline).registry(stage).model
        if command[1] == "rollback":
            assert args.rollback == stage.rollback
    elif command == ("report", None) and stage.kind == "register":  # the version it registered, for the report
        assert (args.stage, args.pipeline) == (graph.Graph(pipeline).evaluate_above[stage.name], pipeline.name)
        assert args.registered == f".mlgen/registered-{stage.model}.json" and args.graph is None
    elif command == ("report", None):
        assert (args.stage, args.pipeline, args.graph) == (stage.name, pipeline.name, ".mlgen/report/pipeline.mmd")
    else:
        pytest.fail(f"no contract check for `mlgen {' '.join(c for c in command if c)}`: add one")


def assert_commands(args: Any, register: Any) -> None:
    """A register call carries the register template (and the optional predictions one), never the others."""
    commands = register.command
    if register.registry == "command" and commands is not None:
        assert (args.register_command, args.store_predictions_command) == (commands.register_cmd, commands.store_predictions)
        assert (args.promote_command, args.rollback_command, args.baseline_command) == (None, None, None)


@pytest.mark.parametrize("spec", example_specs(), ids=lambda p: p.parent.name)
def test_example_command_lines_parse_back_to_the_spec(spec: Path) -> None:
    _, pipeline = load(spec)
    # the workflow and the rollout's reusable workflow beside it
    workflow = "".join(p.read_text() for p in sorted((spec.parent / ".github/workflows").glob("mlgen*.yml")))
    seen = set()
    for stage, script, words in runtime_calls(pipeline):
        assert_matches_spec(pipeline, stage, words)
        assert _code(script) in workflow, "the committed workflow runs another command line"
        seen.add(words[0])
    assert {"gate", "registry", "canary", "report"} <= seen


# --- generated specs whose values look like options -----------------------------------------

OPTIONISH = st.sampled_from(["--help", "-h", "-x", "---", "-", "--metrics", "-1", "--json", "--gate"])
PATH = st.one_of(OPTIONISH.filter(lambda s: s not in ("-", "--")).map(lambda s: s + ".csv"),
                 st.from_regex(r"\A-{0,2}[a-z][a-z0-9_./-]{0,12}\Z"))
COMMAND = st.one_of(OPTIONISH, st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                                       min_size=1, max_size=30)).filter(lambda s: "${{" not in s and s != "--")
NUMBER = st.floats(-1e6, 1e6, allow_nan=False) | st.sampled_from([0.0, -0.0, 1e-300, 5e-324, 1e300])


@st.composite
def option_like_specs(draw: st.DrawFn) -> Pipeline:
    model_dir = draw(PATH)
    low = draw(NUMBER)
    gate = draw(st.sampled_from([{"min": low}, {"max": low}, {"min": low, "max": low + abs(draw(NUMBER))},
                                 {"max_drop": abs(draw(NUMBER))}, {"max_rise": f"{draw(st.integers(0, 500))}%"}]))
    threshold = draw(st.sampled_from([{"max": low}, {"min": low}, {"min": low, "max": low + 1}]))
    bake = draw(st.sampled_from(["10m", "1h", "30s", "1m30s", "0.5s", "1h90m"]))
    stages = [
        {"name": "validate", "kind": "validate", "contract": draw(PATH), "reference": draw(st.none() | PATH),
         "data": draw(st.lists(PATH, min_size=1, max_size=4))},
        {"name": "train", "kind": "train", "run": draw(COMMAND), "outputs": [model_dir]},
        {"name": "evaluate", "kind": "evaluate", "run": draw(COMMAND), "metrics": draw(PATH),
         "gates": {draw(st.from_regex(r"\A[a-z_][a-z0-9_.:/-]{0,10}\Z")): gate},
         "baseline": draw(st.sampled_from([None, {"file": "-b.json"}, {"registry": "champion"},
                                           {"registry": "champion", "rescore": True}])), "predictions": draw(PATH)},
        {"name": "register", "kind": "register", "model": "m", "path": model_dir, "registry": "command",
         "command": {"register": draw(COMMAND), "promote": draw(COMMAND), "rollback": draw(COMMAND), "baseline": draw(COMMAND),
                     "fetch_model": draw(COMMAND)}},
        {"name": "canary", "kind": "canary", "deploy": draw(COMMAND), "check": draw(COMMAND), "rollback": draw(COMMAND),
         "check_url": "http://127.0.0.1:9/metrics", "bake": bake, "interval": draw(st.sampled_from(["200ms", "0.5s", "1s"])),
         "thresholds": {"errors": threshold}},
    ]
    return Pipeline.model_validate({"version": 1, "name": "opt", "stages": stages})


@settings(max_examples=100)
@given(option_like_specs())
def test_option_like_values_reach_the_runtime_as_values(pipeline: Pipeline) -> None:
    calls = list(runtime_calls(pipeline))
    assert {words[0] for _, _, words in calls} == {"data", "gate", "registry", "canary", "report"}
    for stage, _, words in calls:
        assert_matches_spec(pipeline, stage, words)


def test_a_dataset_named_help_is_checked_not_helped() -> None:
    pipeline = Pipeline.model_validate({"version": 1, "name": "d", "stages": [
        {"name": "validate", "kind": "validate", "contract": "c.yaml", "data": ["--help"]}]})
    (_, script, words), = runtime_calls(pipeline)
    assert script.endswith(" -- --help")
    assert parse(words).data == ["--help"]


@pytest.mark.parametrize(("stage", "key"), [
    ({"name": "v", "kind": "validate", "contract": "c.yaml", "data": ["a.csv", "--"]}, "data"),
    ({"name": "c", "kind": "canary", "deploy": "./d.sh", "check": "--", "rollback": "./r.sh"}, "check"),
])
def test_a_bare_double_dash_is_refused(cli: Any, tmp_path: Path, stage: dict[str, Any], key: str) -> None:
    (tmp_path / "mlgen.yaml").write_text(yamlout.dump({"version": 1, "name": "d", "stages": [stage]}))
    with contextlib.chdir(tmp_path):
        result = cli("compile")
    line, col = {"data": (9, 9), "check": (7, 12)}[key]
    assert result.code == 1 and result.err == (
        f"error: the spec has 1 problem:\nmlgen.yaml:{line}:{col}: stage `{stage['name']}`: `{key}` is `--`, which mlgen's "
        "runtime cannot receive (its option parser drops a bare `--`)\n  hint: use another name or command\n")
