"""Values a target or the runtime would refuse later are refused at compile time, with a located message.

Each class has a table of refused values (the whole message is asserted) and of accepted ones, and a
property test that generates its cases and holds the compiler to an outside judge: actionlint for
cron and workflow branch filters, `git check-ref-format` for branch names, the runtime's own
duration parser for durations (in test_values_timing.py).
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen.spec import values
from mlgen.targets import yamlout
from tests import validators
from tests.support import require_tool

SPEC = {"version": 1, "name": "demo", "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}, "stages": [
    {"name": "train", "kind": "train", "run": "python train.py", "outputs": ["model/"]},
    {"name": "evaluate", "kind": "evaluate", "run": "python eval.py", "metrics": "m.json", "gates": {"auc": {"min": 0.5}}},
    {"name": "register", "kind": "register", "model": "churn", "path": "model/"},
    {"name": "canary", "kind": "canary", "deploy": "./deploy.sh", "check": "./check.sh", "rollback": "./rollback.sh"},
]}


def spec_with(**changes: Any) -> dict[str, Any]:
    """SPEC with `changes` applied: keys are dotted paths (`stages.1.gates`), values replace."""
    spec = json.loads(json.dumps(SPEC))
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        node[int(last) if isinstance(node, list) else last] = value
    return spec


def compile_spec(cli: Any, folder: Path, spec: dict[str, Any]) -> Any:
    (folder / "mlgen.yaml").write_text(yamlout.dump(spec))
    with contextlib.chdir(folder):
        return cli("compile")


def refused(cli: Any, tmp_path: Path, spec: dict[str, Any]) -> str:
    result = compile_spec(cli, tmp_path, spec)
    assert result.code == 1, result.out
    assert "Traceback" not in result.err
    assert not (tmp_path / ".gitlab-ci.yml").exists(), "a refused spec must write nothing"
    prefix = "error: the spec has 1 problem:\nmlgen.yaml"
    assert result.err.startswith(prefix), result.err
    return result.err[len(prefix):]


def position(spec: dict[str, Any], *path: str | int) -> str:
    """line:col of a value in the dumped spec, found independently of the compiler's position map."""
    from ruamel.yaml import YAML

    node: Any = YAML().load(yamlout.dump(spec))
    for part in path[:-1]:
        node = node[part]
    line, col = node.lc.item(path[-1]) if isinstance(node, list) else node.lc.value(path[-1])
    return f"{line + 1}:{col + 1}"


# --- cron ------------------------------------------------------------------------------------

CRON_OK = ["0 3 * * MON", "0 3 * * mon-fri", "17 3 * * 1", "*/15 * * * *", "0 0-23/2 * * *", "0 9 1,15 * *",
           "30 5 * JAN-MAR,OCT *", "59 23 31 12 *", "0 0 * * 0-6", "5-15/5,30 * * * SUN,SAT", "00 07 * * *"]
CRON_BAD = [
    ("99 99 99 99 99", "minute `99` is outside 0-59; hour `99` is outside 0-23; day of month `99` is outside 1-31; "
                       "month `99` is outside 1-12 or JAN-DEC; day of week `99` is outside 0-6 or SUN-SAT"),
    ("0 3 * * 7", "day of week `7` is outside 0-6 or SUN-SAT"),
    ("H 3 * * *", "minute `H` uses `H`, which only Jenkins reads"),
    ("5/15 * * * *", "minute `5/15`: a step needs `*` or a range before it (`*/15` or `5-59/15`)"),
    ("*/0 * * * *", "minute `*/0`: the step must be 1-59"),
    ("0 5-1 * * *", "hour `5-1` runs backwards"),
    ("0 0 L * *", "day of month `L` is outside 1-31"),
    ("0 0 ? * *", "day of month `?` is not allowed here (1-31)"),
    ("0 3 * * MON#2", "day of week `MON#2` is not allowed here (0-6 or SUN-SAT)"),
    ("0 3 * FOO *", "month `FOO` is outside 1-12 or JAN-DEC"),
]


@pytest.mark.parametrize("cron", CRON_OK)
def test_common_cron_syntax_is_accepted_and_jenkins_gets_numbers(cli: Any, tmp_path: Path, cron: str) -> None:
    result = compile_spec(cli, tmp_path, spec_with(**{"triggers.schedule": cron}))
    assert result.code == 0, result.err
    workflow = yaml.safe_load((tmp_path / ".github/workflows/mlgen.yml").read_text())
    assert workflow.get("on", workflow.get(True))["schedule"] == [{"cron": cron}]
    jenkins = (tmp_path / "Jenkinsfile").read_text()
    # only the default branch's job is scheduled, in UTC like GitHub
    assert f"cron(env.BRANCH_NAME == 'main' ? 'TZ=UTC\\n{values.numeric_cron(cron)}' : '')" in jenkins
    assert not any(c.isalpha() for c in values.numeric_cron(cron))


@pytest.mark.parametrize(("cron", "problem"), CRON_BAD)
def test_bad_cron_is_refused_naming_the_field(cli: Any, tmp_path: Path, cron: str, problem: str) -> None:
    spec = spec_with(**{"triggers.schedule": cron})
    assert refused(cli, tmp_path, spec) == (f":{position(spec, 'triggers', 'schedule')}: `triggers.schedule`: "
                                            f"`{cron}`: {problem}\n  hint: {values.CRON_HINT}\n")


@pytest.mark.parametrize(("cron", "problem", "hint"), [
    ("@daily", "`@daily` is a nickname not every target accepts (GitHub does not)",
     "write the five fields, e.g. `0 0 * * *` for @daily"),
    ("0 3 1 * MON", "`0 3 1 * MON` restricts both day of month and day of week: GitHub and GitLab run on days "
                    "matching either, Jenkins only on days matching both", "set one of the two day fields to `*`"),
    ("0 3 * *", "`0 3 * *` does not have five fields separated by single spaces", values.CRON_HINT),
    ("* * * * *", "`* * * * *` runs more often than every 5 minutes, GitHub's shortest schedule interval",
     "space the minutes at least 5 apart, e.g. `*/5` or `0,30`"),
    ("58,1 */2,3 * * *", "`58,1 */2,3 * * *` runs more often than every 5 minutes, GitHub's shortest schedule interval",
     "space the minutes at least 5 apart, e.g. `*/5` or `0,30`"),
])
def test_cron_the_targets_read_differently_is_refused(cli: Any, tmp_path: Path, cron: str, problem: str, hint: str) -> None:
    spec = spec_with(**{"triggers.schedule": cron})
    assert refused(cli, tmp_path, spec) == f":{position(spec, 'triggers', 'schedule')}: `triggers.schedule`: {problem}\n  hint: {hint}\n"


def _cron_item(field: values._Field) -> st.SearchStrategy[str]:
    value = st.integers(field.low, field.high)
    if field.names:
        value_text = value.flatmap(lambda v: st.sampled_from([str(v), field.names[v - field.low], field.names[v - field.low].lower()]))
    else:
        value_text = value.map(str)
    pair = st.tuples(st.integers(field.low, field.high), st.integers(field.low, field.high)).map(sorted)
    step = st.integers(1, field.high - field.low)
    return st.one_of(
        st.just("*"), value_text, pair.map(lambda p: f"{p[0]}-{p[1]}"), step.map(lambda s: f"*/{s}"),
        st.tuples(pair, step).map(lambda t: f"{t[0][0]}-{t[0][1]}/{t[1]}"))


@st.composite
def valid_crons(draw: st.DrawFn) -> str:
    fields = [",".join(draw(st.lists(_cron_item(f), min_size=1, max_size=3))) for f in values.CRON_FIELDS]
    # GitHub runs schedules at most every 5 minutes: one minute a run, or a step that divides the hour.
    fields[0] = draw(st.integers(0, 59).map(str) | st.sampled_from([5, 6, 10, 12, 15, 20, 30]).map(lambda d: f"*/{d}"))
    if draw(st.booleans()):
        fields[2] = "*"
    else:
        fields[4] = "*"
    return " ".join(fields)


@settings(max_examples=8)
@given(st.lists(valid_crons(), min_size=80, max_size=80))
def test_generated_valid_crons_are_accepted_by_mlgen_and_actionlint(crons: list[str]) -> None:
    for cron in crons:
        assert values.check_cron(cron) is None, cron
        assert values.check_cron(values.numeric_cron(cron)) is None, cron
    workflow = {"on": {"schedule": [{"cron": c} for c in crons]},
                "jobs": {"a": {"runs-on": "ubuntu-latest", "steps": [{"run": "true"}]}}}
    assert validators.actionlint(yaml.safe_dump(workflow), []) == ""


@settings(max_examples=100)
@given(valid_crons(), st.integers(0, 4), st.integers(1, 99))
def test_generated_out_of_range_crons_are_refused_naming_field_and_range(cron: str, which: int, beyond: int) -> None:
    spec = values.CRON_FIELDS[which]
    bad = spec.high + beyond if beyond % 2 or spec.low == 0 else spec.low - 1
    fields = cron.split(" ")
    fields[which] = str(bad)
    refusal = values.check_cron(" ".join(fields))
    assert refusal is not None
    assert f"{spec.name} `{bad}` is outside {spec.allowed()}" in refusal.message


# --- branches --------------------------------------------------------------------------------

BRANCH_BAD = [
    ("a/", "`a/` is not a valid branch name: it starts or ends with `/`", values.BRANCH_HINT),
    ("feature/", "`feature/` is not a valid branch name: it starts or ends with `/`", values.BRANCH_HINT),
    ("a..b", "`a..b` is not a valid branch name: it contains `..`", values.BRANCH_HINT),
    ("a//b", "`a//b` is not a valid branch name: it has an empty part (`//`)", values.BRANCH_HINT),
    ("-x", "`-x` is not a valid branch name: it starts with `-`", values.BRANCH_HINT),
    (".hidden", "`.hidden` is not a valid branch name: the part `.hidden` starts with `.`", values.BRANCH_HINT),
    ("a/b.lock", "`a/b.lock` is not a valid branch name: the part `b.lock` ends with `.lock`", values.BRANCH_HINT),
    ("v1.", "`v1.` is not a valid branch name: it ends with `.`", values.BRANCH_HINT),
    ("HEAD", "`HEAD` is not a valid branch name: `HEAD` names the current commit, not a branch", values.BRANCH_HINT),
    ("release/*", "`release/*` is a pattern; branch patterns are not supported",
     "list each branch by its full name: GitHub, GitLab and Jenkins read patterns differently"),
    ("a@{1}", "`a@{1}` is not a branch name mlgen accepts", "branch names are up to 200 letters, digits and `_ . / -`"),
    ("a\tb", "'a\\tb' is not a branch name mlgen accepts", "branch names are up to 200 letters, digits and `_ . / -`"),
    ("main\n", "'main\\n' is not a branch name mlgen accepts", "branch names are up to 200 letters, digits and `_ . / -`"),
]


@pytest.mark.parametrize(("where", "loc"), [
    ({"triggers.push": ["main", "BRANCH"]}, ("triggers", "push", 1)),
    ({"defaults.branch": "BRANCH"}, ("defaults", "branch")),
    ({"stages.2.branches": ["BRANCH"]}, ("stages", 2, "branches", 0)),
    ({"stages.3.branches": ["main", "BRANCH"]}, ("stages", 3, "branches", 1)),
])
@pytest.mark.parametrize(("branch", "problem", "hint"), BRANCH_BAD, ids=[b[0] for b in BRANCH_BAD])
def test_bad_branch_is_refused_where_it_is(cli: Any, tmp_path: Path, where: dict[str, Any], loc: tuple[Any, ...],
                                           branch: str, problem: str, hint: str) -> None:
    changes = {k: [branch if b == "BRANCH" else b for b in v] if isinstance(v, list) else branch for k, v in where.items()}
    spec = spec_with(**changes)
    dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    assert refused(cli, tmp_path, spec) == f":{position(spec, *loc)}: `{dotted}`: {problem}\n  hint: {hint}\n"


def _git_accepts(name: str) -> bool:
    return subprocess.run([require_tool("git"), "check-ref-format", "--branch", name], capture_output=True).returncode == 0


@settings(max_examples=200)
@given(st.text("ab/._-", min_size=1, max_size=12) | st.from_regex(r"\A[a-z0-9_./-]{1,12}(\.lock)?\Z"))
def test_branch_rule_matches_git_check_ref_format(name: str) -> None:
    assert (values.check_branch(name) is None) == _git_accepts(name), name


@settings(max_examples=5)
@given(st.lists(st.from_regex(r"\A[A-Za-z0-9_./-]{1,20}\Z").filter(lambda b: values.check_branch(b) is None),
                min_size=8, max_size=8, unique=True))
def test_accepted_branches_compile_and_pass_actionlint(cli: Any, tmp_path_factory: pytest.TempPathFactory,
                                                       branches: list[str]) -> None:
    folder = tmp_path_factory.mktemp("branches")
    # the canary after register runs on the same branches: it can only run where register did
    spec = spec_with(**{"triggers.push": branches, "stages.2.branches": branches, "stages.3.branches": branches})
    result = compile_spec(cli, folder, spec)
    assert result.code == 0, result.err
    github = (folder / ".github/workflows/mlgen.yml").read_text()
    assert validators.actionlint(github, validators.runner_labels(github), validators.called_workflows(folder)) == ""
    assert all(_git_accepts(b) for b in branches)


# --- gates and thresholds --------------------------------------------------------------------

GATE_BAD = [
    ({"min": math.nan}, "min", "nan is not a finite number", "NaN and infinities cannot be compared with a metric"),
    ({"max": math.inf}, "max", "inf is not a finite number", "NaN and infinities cannot be compared with a metric"),
    ({"min": -math.inf}, "min", "-inf is not a finite number", "NaN and infinities cannot be compared with a metric"),
    ({"min": True}, "min", "expected a number, got True", "write a plain number such as 0.85"),
    ({"max_drop": -0.01}, "max_drop", "-0.01 is negative",
     "an allowed change is 0 or more: 0.01 (in the metric's units) or \"2%\""),
    ({"max_rise": "-2%"}, "max_rise", "'-2%' is negative", "write a percentage of the baseline without a sign, e.g. \"2%\""),
    ({"max_rise": "1e3%"}, "max_rise", "'1e3%' is not a percentage", "write a percentage of the baseline without a sign, e.g. \"2%\""),
    ({"max_drop": math.nan}, "max_drop", "nan is not a finite number", "NaN and infinities cannot be compared with a metric"),
    ({"max_drop": "lots"}, "max_drop", "expected a number, got 'lots'", "write a plain number such as 0.85"),
]


@pytest.mark.parametrize(("gate", "key", "problem", "hint"), GATE_BAD)
def test_bad_gate_values_are_refused(cli: Any, tmp_path: Path, gate: dict[str, Any], key: str, problem: str, hint: str) -> None:
    spec = spec_with(**{"stages.1.gates": {"auc": gate}})
    where = position(spec, "stages", 1, "gates", "auc", key)
    assert refused(cli, tmp_path, spec) == f":{where}: `stages[1].gates.auc.{key}`: {problem}\n  hint: {hint}\n"


def test_gate_min_above_max_is_refused(cli: Any, tmp_path: Path) -> None:
    spec = spec_with(**{"stages.1.gates": {"auc": {"min": 0.9, "max": 0.8}}})
    assert refused(cli, tmp_path, spec) == (f":{position(spec, 'stages', 1, 'gates', 'auc')}: `stages[1].gates.auc`: "
                                            "`min` (0.9) is above `max` (0.8): no value can pass\n  hint: swap them or drop one\n")


@pytest.mark.parametrize("gate", [{"max_drop": 0}, {"max_drop": "0%"}, {"max_rise": "150%"}, {"min": -5, "max": -5},
                                  {"max_drop": "0.01"}])
def test_zero_and_edge_gates_are_accepted(cli: Any, tmp_path: Path, gate: dict[str, Any]) -> None:
    # A zero allowed change is a strict non-inferiority rule ("must not get worse"): legitimate.
    assert compile_spec(cli, tmp_path, spec_with(**{"stages.1.gates": {"auc": gate}})).code == 0


@pytest.mark.parametrize(("threshold", "problem", "hint"), [
    ({}, "a threshold needs `min` and/or `max`", "e.g. {max: 0.05}"),
    ({"min": 1, "max": 0}, "`min` (1) is above `max` (0): no value can pass", "swap them or drop one"),
])
def test_bad_canary_thresholds_are_refused(cli: Any, tmp_path: Path, threshold: dict[str, Any], problem: str, hint: str) -> None:
    spec = spec_with(**{"stages.3.check_url": "http://127.0.0.1:8000/metrics", "stages.3.thresholds": {"errors": threshold}})
    where = position(spec, "stages", 3, "thresholds", "errors")
    assert refused(cli, tmp_path, spec) == f":{where}: `stages[3].thresholds.errors`: {problem}\n  hint: {hint}\n"


def test_nan_canary_threshold_is_refused(cli: Any, tmp_path: Path) -> None:
    spec = spec_with(**{"stages.3.check_url": "http://127.0.0.1:8000/metrics", "stages.3.thresholds": {"errors": {"max": math.nan}}})
    where = position(spec, "stages", 3, "thresholds", "errors", "max")
    assert refused(cli, tmp_path, spec) == (f":{where}: `stages[3].thresholds.errors.max`: nan is not a finite number\n"
                                            "  hint: NaN and infinities cannot be compared with a metric\n")
