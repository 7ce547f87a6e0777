"""One lock holds a whole rollout on Jenkins: register and every canary step of one build run
before another build's, and builds of other branches never take the lock.

Two builds run at the same time on the harness, sharing their `lock` resources (`--lock-dir`, as
Lockable Resources shares them across builds). Each build's training, register and deploy commands
log to one file. Builds of two jobs (two projects deploying the same model) train side by side but
never interleave their rollouts; two builds of one job never run side by side at all
(`disableConcurrentBuilds()`: the later one waits in the queue).
"""

from __future__ import annotations

import concurrent.futures
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import run_mlgen
from tests.engines.jenkins.runner import JenkinsRun, run_jenkinsfile

pytestmark = [pytest.mark.engine]

PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
SPEC = f"""\
version: 1
name: roll
defaults: {{python: "{PYTHON}"}}
stages:
  - {{name: train, kind: train, run: "mkdir -p model && echo \\"$BUILD_NUMBER\\" > model/w && echo \\"$BUILD_NUMBER train\\" >> \\"$DEPLOY_LOG\\"", outputs: [model/]}}
  - name: register
    kind: register
    registry: command
    model: m
    path: model/
    command: {{register: ./registry.sh, promote: "true", rollback: "true", baseline: "true"}}
  - name: canary
    kind: canary
    deploy: ./deploy.sh "$MLGEN_CANARY_WEIGHT"
    steps: [50, 100]
    bake: 2s
    interval: 1s
    check: "true"
    rollback: ./deploy.sh rollback
targets:
  jenkins: {{path: Jenkinsfile}}
"""
# register prints the new version last (the `command` registry's contract): the build number.
REGISTRY = '#!/bin/sh\necho "$BUILD_NUMBER register" >> "$DEPLOY_LOG"\necho "$BUILD_NUMBER"\n'
DEPLOY = '#!/bin/sh\necho "$BUILD_NUMBER $1 v$MLGEN_MODEL_VERSION" >> "$DEPLOY_LOG"\n'


def _project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "mlgen.yaml").write_text(SPEC)
    for name, text in (("registry.sh", REGISTRY), ("deploy.sh", DEPLOY)):
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    compiled = run_mlgen("compile", cwd=folder)
    assert compiled.code == 0, compiled.err
    return folder / "Jenkinsfile"


def _build(template: Path, tmp_path: Path, number: int, log: Path, workspace: Path | None = None, **kw: object) -> JenkinsRun:
    """Build `number` in a workspace of its own (another job's), or in `workspace` (the job's, made before)."""
    if workspace is None:
        workspace = tmp_path / f"build-{number}"
        shutil.copytree(template.parent, workspace)
    return run_jenkinsfile(workspace / "Jenkinsfile", workspace, env={"PIP_NO_INDEX": "1", "DEPLOY_LOG": str(log)},
                           stash_dir=tmp_path / f"stash-{number}", lock_dir=tmp_path / "locks", build_number=number,
                           timeout=300, **kw)  # type: ignore[arg-type]


QUEUED = "waits in the queue: another build of {job} is in progress (disableConcurrentBuilds)"


def test_two_builds_in_flight_roll_out_one_after_the_other(tmp_path: Path) -> None:
    template = _project(tmp_path / "project")
    log = tmp_path / "deploy.log"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # two jobs: disableConcurrentBuilds holds neither back
        runs = list(pool.map(lambda n: _build(template, tmp_path, n, log, job_name=f"job{n}"), (1, 2)))
    for run in runs:
        assert run.result == "SUCCESS", run.log
        assert "Lock acquired on [deploy/production/m]" in run.log
        assert "waits in the queue" not in run.log
    events = [line.split() for line in log.read_text().splitlines() if line.split()[1] != "train"]
    builds = [build for build, *_ in events]
    first = builds[0]
    # one build's register and steps, then the other's: never a register or a step in between
    assert builds == [first] * 3 + [next(b for b in builds if b != first)] * 3, events
    for build, what, *version in events:
        assert what == "register" or version == [f"v{build}"], f"build {build} deployed another version: {events}"


def test_a_second_build_of_the_same_job_waits_until_the_first_has_finished(tmp_path: Path) -> None:
    template = _project(tmp_path / "project")
    log = tmp_path / "deploy.log"
    # One job, one workspace: Jenkins builds a job's builds in its workspace, and the later one finds
    # the stage venv the earlier one made.
    workspace = tmp_path / "job"
    shutil.copytree(template.parent, workspace)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda n: _build(template, tmp_path, n, log, workspace), (1, 2)))
    assert [run.result for run in runs] == ["SUCCESS", "SUCCESS"], [run.log for run in runs]
    waited = [run for run in runs if QUEUED.format(job="mlgen/main") in run.log]
    assert len(waited) == 1, "exactly one build waited for the other"
    second = "2" if waited[0] is runs[1] else "1"
    events = [line.split()[0] for line in log.read_text().splitlines()]
    # everything the waiting build did (its training included) came after the other build's last step
    assert events == [b for b in events if b != second] + [second] * 4, events


def test_a_build_of_another_branch_never_takes_the_lock(tmp_path: Path) -> None:
    template = _project(tmp_path / "project")
    run = _build(template, tmp_path, 1, tmp_path / "deploy.log", change_request=True)
    assert run.result == "SUCCESS", run.log
    # `beforeOptions`: the branch condition is decided before `lock`, so a pull request never waits
    assert "Trying to acquire lock" not in run.log
    assert [line.split()[1] for line in (tmp_path / "deploy.log").read_text().splitlines()] == ["train"], "trained, never deployed"
