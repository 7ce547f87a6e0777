"""`retries`: a command that fails and then passes is run again, on every target's output.

GitHub has no job retry, so the step's script carries a retry loop: the script is executed here
with the shell GitHub uses for `shell: bash` (`bash --noprofile --norc -eo pipefail {0}`). The
Jenkinsfile runs on the Groovy harness, which enforces the `retry` option. GitLab retries jobs
natively (`retry:`), which no local engine applies, so its output is checked for the documented
keyword and limits instead.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlgen.targets import yamlout
from tests.support import compile_dict

# Counts its runs in ./attempts and fails until the run number reaches PASS_ON.
FLAKY = 'n=$(( $(cat attempts 2>/dev/null || echo 0) + 1 )); echo "$n" > attempts; test "$n" -ge "$PASS_ON"'


def spec(stage_retries: int | None, default_retries: int = 0) -> dict[str, Any]:
    stage: dict[str, Any] = {"name": "validate", "kind": "validate", "run": FLAKY}
    if stage_retries is not None:
        stage["retries"] = stage_retries
    return {"version": 1, "name": "retry", "defaults": {"retries": default_retries}, "stages": [stage]}


def run_github_step(script: str, workdir: Path, pass_on: int) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "step.sh").write_text(script)
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "step.sh"], cwd=workdir,
                          env={"PATH": "/usr/bin:/bin", "PASS_ON": str(pass_on)}, capture_output=True, text=True, timeout=60)


def attempts(workdir: Path) -> int:
    return int((workdir / "attempts").read_text()) if (workdir / "attempts").is_file() else 0


# (stage retries, default retries) -> attempts in all
CASES = [((None, 0), 1), ((1, 0), 2), ((2, 0), 3), ((None, 1), 2), ((None, 2), 3), ((0, 2), 1), ((2, 1), 3)]


@pytest.mark.parametrize(("retries", "tries"), CASES, ids=[f"stage{r}-default{d}" for (r, d), _ in CASES])
def test_github_step_is_retried(retries: tuple[int | None, int], tries: int, tmp_path: Path) -> None:
    gh = yamlout.load(compile_dict(spec(*retries), tmp_path / "spec")["github"])
    assert gh["defaults"]["run"]["shell"] == "bash"
    script = next(s["run"] for s in gh["jobs"]["validate"]["steps"] if s.get("name") == "validate")
    # passes on the last attempt allowed: the step succeeds after exactly `tries` runs
    ok = run_github_step(script, tmp_path / "ok", pass_on=tries)
    assert ok.returncode == 0 and attempts(tmp_path / "ok") == tries, ok.stderr
    # would pass one attempt too late: the step fails after `tries` runs, no more
    late = run_github_step(script, tmp_path / "late", pass_on=tries + 1)
    assert late.returncode != 0 and attempts(tmp_path / "late") == tries, late.stderr


@pytest.mark.parametrize(("retries", "tries"), CASES, ids=[f"stage{r}-default{d}" for (r, d), _ in CASES])
def test_gitlab_job_retry(retries: tuple[int | None, int], tries: int, tmp_path: Path) -> None:
    job = yamlout.load(compile_dict(spec(*retries), tmp_path)["gitlab"])["validate"]
    if tries == 1:
        assert "retry" not in job
    else:
        # `max` counts retries after the first run; `always` includes script failures
        # only failures outside the script: a repeat never repeats a gate's decision or a registry write
        assert job["retry"] == {"max": tries - 1, "when": ["runner_system_failure", "stuck_or_timeout_failure",
                                                          "scheduler_failure", "api_failure", "unmet_prerequisites",
                                                          "stale_schedule"]}


@pytest.mark.parametrize("pass_on", [2, 3])
def test_jenkins_stage_is_retried(pass_on: int, tmp_path: Path) -> None:
    from mlgen.drift import header
    from tests.engines.jenkins.runner import run_jenkinsfile

    outputs = compile_dict(spec(1), tmp_path / "spec")
    workdir = tmp_path / "ws"
    workdir.mkdir()
    (workdir / "Jenkinsfile").write_text(header.body(outputs["jenkins"]))
    run = run_jenkinsfile(workdir / "Jenkinsfile", workdir, env={"PASS_ON": str(pass_on)}, timeout=120)
    assert run.result in ("SUCCESS", "FAILURE"), run.log
    assert attempts(workdir) == 2, run.log  # one retry: two attempts, whatever the outcome
    assert run.statuses()["validate"] == ("passed" if pass_on == 2 else "failed"), run.log
