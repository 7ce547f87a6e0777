"""Property tests: any spec, valid or broken, ends in a compiled config or a located error. Never a crash."""

from __future__ import annotations

import re
import shlex
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlgen import values, yamlout
from mlgen.names import GITLAB_RESERVED
from tests import validators

# Names GitLab reserves and `-approval` environments are refused by design (tests/test_reserved_names.py).
NAME = st.from_regex(r"\A[a-z][a-z0-9_-]{0,12}\Z").filter(lambda n: n not in GITLAB_RESERVED and not n.endswith("-approval"))
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40).filter(
    lambda s: "${{" not in s)
COMMAND = TEXT.map(lambda s: "echo " + shlex.quote(s))  # any text, as a command shellcheck accepts
LOCATED = re.compile(r"^\S*mlgen\.yaml:[1-9]\d*:[1-9]\d*: ", re.MULTILINE)


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(NAME, min_size=1, max_size=7, unique=True))
    stages: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        kind = draw(st.sampled_from(["validate", "train", "evaluate", "register", "canary"]))
        producers = [s for s in stages if s.get("outputs")]
        if kind == "register" and not producers:
            kind = "train"  # a register stage needs an earlier stage that produces its model directory
        stage: dict[str, Any] = {"name": name, "kind": kind}
        if i and draw(st.booleans()):
            stage["needs"] = draw(st.lists(st.sampled_from(names[:i]), min_size=1, max_size=3, unique=True))
        if kind in ("validate", "train", "evaluate"):
            stage["run"] = draw(COMMAND)
        if kind == "train":
            if draw(st.booleans()):
                stage["outputs"] = [f"out/{name}/"]
                if draw(st.booleans()):
                    stage["cache"] = {"key": ["data/**"]}
            if draw(st.booleans()):
                stage["matrix"] = {"model": draw(st.lists(st.from_regex(r"\A[a-z0-9]{1,6}\Z"), min_size=1, max_size=3, unique=True))}
        if kind == "evaluate":
            stage["metrics"] = "metrics.json"
            stage["gates"] = {"auc": {"min": draw(st.floats(0, 1))}, "loss": {"max_rise": "5%"}}
            stage["baseline"] = {"file": "baseline.json"}
        if kind == "register":
            producer = draw(st.sampled_from(producers))
            stage.update(model=draw(st.from_regex(r"\A[a-z][a-z0-9-]{0,10}\Z")), path=producer["outputs"][0] + "model",
                         needs=[producer["name"]])
        if kind == "canary":
            models = [s["model"] for s in stages if s["kind"] == "register"]
            if models:  # with several register stages above, a canary must say which model it promotes
                stage["model"] = draw(st.sampled_from(models))
            stage.update(deploy=draw(COMMAND), check=draw(COMMAND), rollback=draw(COMMAND),
                         steps=draw(st.sampled_from([[100], [10, 100], [5, 25, 50, 100]])), environment=draw(NAME))
        if draw(st.booleans()):
            stage["env"] = {"MY_VAR": draw(TEXT)}
        if draw(st.booleans()):
            stage["timeout"] = draw(st.sampled_from(["5m", "1h", "1h30m", "120s"]))
        stages.append(stage)
    # Registry stages need to know where MLflow is (`tracking.check`).
    spec: dict[str, Any] = {"version": 1, "name": draw(NAME), "stages": stages, "env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}}
    if draw(st.booleans()):
        spec["env"]["GLOBAL"] = draw(TEXT)
    if draw(st.booleans()):
        spec["secrets"] = ["TOKEN"]
    if draw(st.booleans()):
        branch = st.from_regex(r"\A[a-z][a-z0-9/._-]{0,10}\Z").filter(lambda b: values.check_branch(b) is None)
        spec["triggers"] = {"push": draw(st.lists(branch, min_size=1, max_size=2)),
                            "schedule": "0 4 * * *"}
    return spec


def _compile(cli: Any, spec_text: str | bytes) -> tuple[Any, Path]:
    folder = Path(tempfile.mkdtemp())
    path = folder / "mlgen.yaml"
    path.write_bytes(spec_text if isinstance(spec_text, bytes) else spec_text.encode("utf-8"))
    import os

    old = os.getcwd()
    os.chdir(folder)
    try:
        return cli("compile"), folder
    finally:
        os.chdir(old)


@given(valid_specs())
def test_valid_specs_compile(cli: Any, spec: dict[str, Any]) -> None:
    result, folder = _compile(cli, yamlout.dump(spec))
    assert result.code == 0, result.err
    assert (folder / ".gitlab-ci.yml").is_file() and (folder / "Jenkinsfile").is_file()


@settings(max_examples=6, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(valid_specs())
def test_valid_specs_pass_every_validator(cli: Any, spec: dict[str, Any]) -> None:
    result, folder = _compile(cli, yamlout.dump(spec))
    assert result.code == 0, result.err
    github = (folder / ".github/workflows/mlgen.yml").read_text()
    assert validators.actionlint(github, validators.runner_labels(github)) == ""
    assert validators.zizmor(github) == ""
    for target, name in (("github", ".github/workflows/mlgen.yml"), ("gitlab", ".gitlab-ci.yml"), ("jenkins", "Jenkinsfile")):
        assert validators.shellcheck(target, (folder / name).read_text()) == []
    validators.groovy_parse(folder / "Jenkinsfile")


MUTATIONS = ["unknown key", "missing kind", "missing name", "wrong type", "duplicate", "cycle", "dangling", "empty stages",
             "huge", "not a mapping", "not yaml", "bad kind", "bad duration", "bad python"]


@given(valid_specs(), st.sampled_from(MUTATIONS), st.integers(0, 10))
def test_broken_specs_fail_with_located_errors(cli: Any, spec: dict[str, Any], mutation: str, pick: int) -> None:
    stages = spec["stages"]
    stage = stages[pick % len(stages)]
    text: str | bytes | None = None
    if mutation == "unknown key":
        stage["outptus"] = ["x"]
    elif mutation == "missing kind":
        del stage["kind"]
    elif mutation == "missing name":
        del stage["name"]
    elif mutation == "wrong type":
        stage["needs"] = 42
    elif mutation == "duplicate":
        stages.append(dict(stage))
    elif mutation == "cycle":
        stages[0]["needs"] = [stages[-1]["name"]]
        if len(stages) == 1:
            stages[0]["needs"] = [stages[0]["name"]]
    elif mutation == "dangling":
        stage["needs"] = ["no-such-stage"]
    elif mutation == "empty stages":
        spec["stages"] = []
    elif mutation == "huge":
        stage["name"] = "a" * 100_000
    elif mutation == "not a mapping":
        text = yamlout.dump(stages)
    elif mutation == "not yaml":
        text = b"version: 1\nstages: [\n\t{name: x" if pick % 2 else b"\xff\xfe\x00binary"
    elif mutation == "bad kind":
        stage["kind"] = "deploy"
    elif mutation == "bad duration":
        stage["timeout"] = "ten minutes"
    elif mutation == "bad python":
        spec["defaults"] = {"python": 3.10}
    result, folder = _compile(cli, text if text is not None else yamlout.dump(spec))
    assert result.code == 1, (mutation, result.out, result.err)
    assert "Traceback" not in result.err
    assert result.err.startswith("error: the spec has")
    if mutation != "not yaml" or pick % 2:
        assert LOCATED.search(result.err), result.err
    else:
        assert "mlgen.yaml:1:1: the spec is not UTF-8 text" in result.err  # located, not a byte offset
    if mutation == "cycle":
        assert re.search(r"cycle: [a-z0-9_-]+( -> [a-z0-9_-]+)+", result.err)
    assert sorted(p.name for p in folder.iterdir()) == ["mlgen.yaml"], "nothing is written on failure"
