"""Durations, timeouts and the register path: refused at compile time with located messages (see test_values)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgen import duration
from tests.test_values import compile_spec, position, refused, spec_with

# --- durations: one grammar for the spec and the runtime --------------------------------------

@settings(max_examples=500)
@given(st.text("0123456789.hms", max_size=8) | st.from_regex(r"\A(\d{1,2}h)?(\d{1,3}m)?(\d{1,3}s)?(\d{1,3}ms)?\Z"))
def test_canary_durations_accept_exactly_what_the_runtime_parses(text: str) -> None:
    from pydantic import TypeAdapter, ValidationError

    from mlgen.errors import UserError
    from mlgen.spec.fieldtypes import Duration

    try:
        runtime: float | None = duration.parse_duration(text, flag="--bake")
    except UserError:
        runtime = None
    try:
        TypeAdapter(Duration).validate_python(text)
        spec_ok = True
    except ValidationError:
        spec_ok = False
    assert spec_ok == (runtime is not None and runtime > 0), text


@pytest.mark.parametrize(("key", "value", "problem", "hint"), [
    ("interval", "0s", "`0s` is no time at all", "give a duration longer than 0, e.g. 30s"),
    ("bake", "0m", "`0m` is no time at all", "give a duration longer than 0, e.g. 30s"),
    ("bake", "10 minutes", "`10 minutes` is not a duration", duration.HINT),
    ("interval", "30s1m", "`30s1m` is not a duration", duration.HINT),
])
def test_bad_canary_durations_are_refused(cli: Any, tmp_path: Path, key: str, value: str, problem: str, hint: str) -> None:
    spec = spec_with(**{f"stages.3.{key}": value})
    assert refused(cli, tmp_path, spec) == f":{position(spec, 'stages', 3, key)}: `stages[3].{key}`: {problem}\n  hint: {hint}\n"


@pytest.mark.parametrize(("changes", "key", "shown"), [
    ({"stages.3.bake": "10s", "stages.3.interval": "1m"}, "interval", "`interval` 1m"),
    ({"stages.3.bake": "10s"}, "bake", "`interval` 30s (the default)"),
])
def test_interval_longer_than_bake_is_refused(cli: Any, tmp_path: Path, changes: dict[str, str], key: str, shown: str) -> None:
    spec = spec_with(**changes)
    assert refused(cli, tmp_path, spec) == (
        f":{position(spec, 'stages', 3, key)}: canary `canary`: {shown} is longer than `bake` 10s, so health would be "
        "checked only at the start and the end of each step\n  hint: set `interval` to at most 10s\n")


TIMEOUT_HINT = "the targets count job timeouts in whole minutes"


@pytest.mark.parametrize(("value", "problem", "hint"), [
    ("0m", "`0m` is shorter than a minute", f"{TIMEOUT_HINT}: at least 1m"),
    ("30s", "`30s` is shorter than a minute", f"{TIMEOUT_HINT}: at least 1m"),
    ("90s", "`90s` is not a whole number of minutes", f"{TIMEOUT_HINT}: write 2m"),
    ("1.5m", "`1.5m` is not a whole number of minutes", f"{TIMEOUT_HINT}: write 2m"),
    ("7201m", "`7201m` is longer than 5 days (7200m), the longest job GitHub Actions runs",
     "GitHub's hosted runners stop jobs after 6h, GitLab at the runner's maximum timeout"),
    ("500ms", "`500ms` is shorter than a minute", f"{TIMEOUT_HINT}: at least 1m"),
    ("soon", "`soon` is not a duration", "job timeouts are whole minutes, e.g. 30m, 2h or 1h30m"),
])
@pytest.mark.parametrize("where", [("defaults", "timeout"), ("defaults", "train_timeout"), ("stages", 0, "timeout")])
def test_bad_timeouts_are_refused(cli: Any, tmp_path: Path, value: str, problem: str, hint: str, where: tuple[Any, ...]) -> None:
    spec = spec_with(**{".".join(map(str, where)): value})
    dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where).lstrip(".")
    assert refused(cli, tmp_path, spec) == f":{position(spec, *where)}: `{dotted}`: {problem}\n  hint: {hint}\n"


@pytest.mark.parametrize(("value", "minutes"), [("1m", 1), ("120s", 2), ("1h90m", 150), ("1.5h", 90), ("7200m", 7200), ("5h", 300)])
def test_timeouts_become_exactly_their_minutes(cli: Any, tmp_path: Path, value: str, minutes: int) -> None:
    result = compile_spec(cli, tmp_path, spec_with(**{"stages.0.timeout": value, "stages.0.runner": "gpu"}))
    assert result.code == 0, result.err
    workflow = yaml.safe_load((tmp_path / ".github/workflows/mlgen.yml").read_text())
    assert workflow["jobs"]["train"]["timeout-minutes"] == minutes
    assert yaml.safe_load((tmp_path / ".gitlab-ci.yml").read_text())["train"]["timeout"] == f"{minutes} minutes"


# --- register path -----------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "outputs", "hint"), [
    ("models/churn", ["model/"], "stages before it hand on: evaluate (eval/); train (model/)"),
    ("model", [], "stages before it hand on: evaluate (eval/)"),
    ("mode", ["model/"], "stages before it hand on: evaluate (eval/); train (model/)"),
])
def test_register_path_no_earlier_stage_produces_is_refused(cli: Any, tmp_path: Path, path: str, outputs: list[str], hint: str) -> None:
    spec = spec_with(**{"stages.2.path": path, "stages.0.outputs": outputs, "stages.1.outputs": ["eval/"]})
    if not outputs:
        del spec["stages"][0]["outputs"]
    assert refused(cli, tmp_path, spec) == (f":{position(spec, 'stages', 2, 'path')}: register stage `register`: "
                                            f"no earlier stage produces `{path}`\n  hint: {hint}\n")


def test_register_path_without_any_outputs_says_so(cli: Any, tmp_path: Path) -> None:
    spec = spec_with(**{"stages.2.path": "model/"})
    del spec["stages"][0]["outputs"]
    assert refused(cli, tmp_path, spec) == (f":{position(spec, 'stages', 2, 'path')}: register stage `register`: "
                                            "no earlier stage produces `model/`\n  hint: no stage before it has `outputs`; "
                                            "add the model directory to the `outputs` of the stage that writes it\n")


@pytest.mark.parametrize(("path", "output"), [("model", "model/"), ("model/", "model"), ("out/model", "out/"), ("out/a/b", "out")])
def test_register_path_inside_an_earlier_output_is_accepted(cli: Any, tmp_path: Path, path: str, output: str) -> None:
    spec = spec_with(**{"stages.2.path": path, "stages.0.outputs": [output]})
    result = compile_spec(cli, tmp_path, spec)
    assert result.code == 0, result.err
    jobs: dict[str, Any] = {}  # the main workflow's jobs and its rollout workflow's
    for path in sorted((tmp_path / ".github/workflows").glob("*.yml")):
        jobs.update(yaml.safe_load(path.read_text())["jobs"])
    downloads = [s for s in jobs["register"]["steps"] if "download-artifact" in str(s.get("uses", ""))]
    assert downloads, "the register job must download the artifact that holds its model"


@pytest.mark.parametrize(("changes", "loc", "timeout", "labels"), [
    ({"stages.0.timeout": "7h"}, ("stages", 0, "timeout"), "7h", "ubuntu-latest"),
    ({"defaults.train_timeout": "361m"}, ("defaults", "train_timeout"), "361m", "ubuntu-latest"),
    ({"defaults.timeout": "8h", "stages.1.runner": "cpu", "targets": {"github": {"path": "gh.yml", "runners": {"cpu": ["ubuntu-24.04"]}}}},
     ("defaults", "timeout"), "8h", "ubuntu-24.04"),
])
def test_timeouts_beyond_github_hosted_runners_are_refused(cli: Any, tmp_path: Path, changes: dict[str, Any],
                                                           loc: tuple[Any, ...], timeout: str, labels: str) -> None:
    spec = spec_with(**changes)
    if "targets" in changes:  # only the stage on the hosted runner is too long; the others are self-hosted
        spec["defaults"]["runner"] = "gpu"
    stage = "evaluate" if "targets" in changes else "train"
    assert refused(cli, tmp_path, spec) == (
        f":{position(spec, *loc)}: stage `{stage}` runs on GitHub-hosted `{labels}` with timeout {timeout}, but GitHub stops "
        "jobs on its hosted runners after 6h\n  hint: use at most 6h, or a self-hosted runner label (mapped in `targets.github.runners`)\n")


def test_long_timeouts_on_self_hosted_runners_are_accepted(cli: Any, tmp_path: Path) -> None:
    spec = spec_with(**{"stages.0.timeout": "72h", "stages.0.runner": "gpu"})
    assert compile_spec(cli, tmp_path, spec).code == 0
    assert yaml.safe_load((tmp_path / ".github/workflows/mlgen.yml").read_text())["jobs"]["train"]["timeout-minutes"] == 72 * 60
