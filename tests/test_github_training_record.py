"""GitHub: the training record the report reads is written beside actions/cache, per stage and leg
(and on Jenkins the records travel to the report with the train stash).

The record's program runs with the standard library only (a cache hit skips the set-up, so mlgen
may not be installed), and must write exactly what `mlgen cache hit` writes on GitLab and Jenkins:
the report reads both with one reader, and says "reused" only when the cache step really hit.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlgen.compile.plan import covers
from mlgen.layout import TRAINING_RECORDS
from mlgen.runtime.cache import command as cache_command
from mlgen.runtime.report import build, inputs, markdown
from mlgen.targets import yamlout
from tests.support import compile_model

# Matrix shapes: none, one key, two keys (a leg is then named by both values, in key order).
MATRICES: dict[str, dict[str, list[str]]] = {"no matrix": {}, "one key": {"model": ["gb", "logreg"]},
                                             "two keys": {"model": ["gb"], "depth": ["3", "8"]}}
# What actions/cache leaves in `cache-hit`: "true" on an exact key match; "false" or nothing otherwise.
OUTCOMES = {"true": "hit", "false": "miss", "": "miss"}


def _spec(matrix: dict[str, list[str]]) -> dict[str, Any]:
    train: dict[str, Any] = {"name": "fit", "kind": "train", "run": "python train.py", "outputs": ["model/"],
                             "cache": {"key": ["train.py"]}}
    if matrix:
        train["matrix"] = matrix
    evaluate = {"name": "evaluate", "kind": "evaluate", "run": "python eval.py", "metrics": "m.json", "gates": {"auc": {"min": 0.5}}}
    return {"version": 1, "name": "p", "stages": [train, evaluate]}


def _workflow(spec: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = yamlout.load(compile_model(spec)["github"])
    return loaded


def _legs(matrix: dict[str, list[str]]) -> list[dict[str, str]]:
    keys = list(matrix)
    return [dict(zip(keys, values)) for values in itertools.product(*matrix.values())] or [{}]


def _record_step(job: dict[str, Any]) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [s for s in job["steps"] if s.get("name") == "Record the training cache outcome"]
    assert len(steps) == 1
    return steps[0]


def _run(step: dict[str, Any], leg: dict[str, str], hit: str, workdir: Path) -> None:
    # The job's `env:` maps MODEL: ${{ matrix.model }}: the leg's values arrive upper-cased.
    env = {**os.environ, **{k.upper(): v for k, v in leg.items()}, "MLGEN_CACHE_HIT": hit}
    bin_dir = workdir.parent / "bin"  # `python` in the job is the one setup-python installed
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "python").exists():
        (bin_dir / "python").symlink_to(sys.executable)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    subprocess.run(["bash", "-e", "-c", step["run"]], cwd=workdir, env=env, check=True, capture_output=True)


@pytest.mark.parametrize(("shape", "hit"), list(itertools.product(MATRICES, OUTCOMES)))
def test_the_record_says_what_the_cache_step_saw_in_every_leg(shape: str, hit: str, tmp_path: Path) -> None:
    matrix = MATRICES[shape]
    job = _workflow(_spec(matrix))["jobs"]["fit"]
    step = _record_step(job)
    assert step["env"] == {"MLGEN_CACHE_HIT": "${{ steps.cache.outputs.cache-hit }}"}
    for i, leg in enumerate(_legs(matrix)):
        _run(step, leg, hit, tmp_path)
        records = inputs.training_records(tmp_path)
        assert len(records) == i + 1  # one file per leg: legs never overwrite each other
    upper = [{k.upper(): v for k, v in leg.items()} for leg in _legs(matrix)]
    got = sorted((sorted(r["leg"].items()), r["cache"]) for r in records)
    assert got == sorted((sorted(leg.items()), OUTCOMES[hit]) for leg in upper)

    report = markdown.render(build.build(build.Inputs("p", "evaluate", build.Missing("gate result", "absent"), [],
                                                      training=records)))
    assert ("reused from the cache" in report) == (hit == "true")
    assert ("retrained (no cache saved for this key)" in report) == (hit != "true")


@pytest.mark.parametrize("shape", list(MATRICES))
def test_a_hit_record_is_byte_for_byte_what_mlgen_cache_hit_writes(shape: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    matrix = MATRICES[shape]
    step = _record_step(_workflow(_spec(matrix))["jobs"]["fit"])
    ours, theirs = tmp_path / "github", tmp_path / "runtime"
    ours.mkdir()
    theirs.mkdir()
    for leg in _legs(matrix):
        _run(step, leg, "true", ours)
        monkeypatch.chdir(theirs)
        cache_command._record("fit", [(k.upper(), v) for k, v in leg.items()], "hit", "")
    names = sorted(p.name for p in (ours / TRAINING_RECORDS).iterdir())
    assert names == sorted(p.name for p in (theirs / TRAINING_RECORDS).iterdir())
    for name in names:
        assert (ours / TRAINING_RECORDS / name).read_bytes() == (theirs / TRAINING_RECORDS / name).read_bytes()


@pytest.mark.parametrize("shape", list(MATRICES))
def test_the_record_is_written_before_training_and_handed_to_the_report(shape: str) -> None:
    jobs = _workflow(_spec(MATRICES[shape]))["jobs"]
    steps = jobs["fit"]["steps"]
    names = [s.get("name") for s in steps]
    record = names.index("Record the training cache outcome")
    assert steps[record - 1].get("id") == "cache"  # right after the restore, before anything it skips
    # no `if:`: written on a hit and on a miss alike (and before training can fail)
    assert "if" not in steps[record]
    [upload] = [s for s in steps if s.get("name") == "Upload report inputs"]
    assert covers(tuple(upload["with"]["path"].split()), f"{TRAINING_RECORDS}/fit.json")
    downloads = [s for s in jobs["evaluate-report"]["steps"] if s.get("name") == "Download fit report inputs"]
    assert len(downloads) == 1 and downloads[0]["with"]["path"] == TRAINING_RECORDS


def test_a_publishing_workflow_trains_without_a_cache_and_records_nothing() -> None:
    spec = _spec(MATRICES["one key"])
    spec["triggers"] = {"push": ["main", "release/1"]}
    jobs = _workflow(spec)["jobs"]
    names = [s.get("name") for s in jobs["fit"]["steps"]]
    assert "Record the training cache outcome" not in names and "Upload report inputs" not in names
    assert not [s for s in jobs["evaluate-report"]["steps"] if s.get("name") == "Download fit report inputs"]


def test_the_runtime_record_keeps_its_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mlgen cache hit` (GitLab, Jenkins) writes the format the GitHub step copies."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODEL", "gb")
    (tmp_path / "k.txt").write_text("x")
    args = argparse.Namespace(cache_command="hit", matrix_env=["MODEL"], key=["k.txt"], salt="s", path=["out"], stage="fit")
    assert cache_command.run(args) == cache_command.MISS
    [record] = inputs.training_records(tmp_path)
    assert dict(record) == {"stage": "fit", "leg": {"MODEL": "gb"}, "cache": "miss", "reason": "no saved key"}


@pytest.mark.parametrize("shape", list(MATRICES))
def test_jenkins_hands_the_records_to_the_report_with_the_train_stash(shape: str) -> None:
    """Jenkins stages may run on different agents: the records `mlgen cache hit` leaves in the train
    stage's workspace reach evaluate's `post` (the report) only through the stash evaluate unstashes."""
    jenkins = compile_model(_spec(MATRICES[shape]))["jenkins"]
    train = jenkins[jenkins.index("stage('fit')"):jenkins.index("stage('evaluate')")]
    stash = next(line for line in train.splitlines() if "stash name:" in line)
    assert f"{TRAINING_RECORDS}/**" in stash and "model/**" in stash
    name = stash.split("stash name: ")[1].split(",")[0].strip("'\"").split("~")[0]
    evaluate = jenkins[jenkins.index("stage('evaluate')"):]
    assert f"unstash '{name}" in evaluate  # every leg of it, before the report runs in evaluate's post
