"""The engine-runner interface tells a job stopped while it ran ("aborted") from one that never ran.

Jenkins ends a stage ABORTED when a timeout or an abort stops its steps, and also when one fires
before its body began; only the first reaches the stage's `post`, where an abort meets
`unsuccessful` and `aborted`. The table below states the rule for every harness status and post
record; the engine test runs a canary step whose timeout fires mid-bake on the harness.
"""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from mlgen import __version__
from tests.engines import runner as engines
from tests.engines.jenkins.agent import warm_venv
from tests.support import init_and_commit, run_mlgen

# The harness's stage statuses and the post conditions it records (condition -> passed | failed).
HARNESS_STATUSES = ["passed", "failed", "unstable", "skipped", "aborted"]
POST_CONDITIONS = ["always", "success", "failure", "unsuccessful", "aborted"]
# What each status reads as when no post proves a stopped run: every engine's words, as the runner maps them.
PLAIN = {"passed": "passed", "failed": "failed", "unstable": "failed", "skipped": "skipped", "aborted": "skipped"}


def _post_sets() -> list[tuple[str, ...]]:
    return [combo for n in range(len(POST_CONDITIONS) + 1) for combo in itertools.combinations(POST_CONDITIONS, n)]


CASES = [(status, post, outcome) for status in HARNESS_STATUSES for post in _post_sets() for outcome in ("passed", "failed")]


@pytest.mark.parametrize(("status", "post", "outcome"), CASES)
def test_jenkins_status_is_aborted_only_for_a_stage_stopped_while_it_ran(status: str, post: tuple[str, ...], outcome: str) -> None:
    record: dict[str, Any] = {"stage": "canary 50%", "status": status}
    if post:
        record["post"] = dict.fromkeys(post, outcome)  # a rollback that failed still proves the stage ran
    stopped = status == "aborted" and bool({"unsuccessful", "aborted"} & set(post))
    assert engines._jenkins_status([record], "canary 50%") == ("aborted" if stopped else PLAIN[status])


@pytest.mark.parametrize(("records", "expected"), [
    ([], "skipped"),  # never reported: it never ran
    ([{"stage": "other", "status": "aborted", "post": {"unsuccessful": "passed"}}], "skipped"),
    # a matrix cell's report is not the stage's own
    ([{"stage": "s", "status": "passed"}, {"stage": "s", "status": "aborted", "matrix": {"M": "a"}, "post": {"aborted": "passed"}}],
     "passed"),
    # a stage run again (a retry): the last report wins
    ([{"stage": "s", "status": "aborted", "post": {"unsuccessful": "passed"}}, {"stage": "s", "status": "passed"}], "passed"),
    ([{"stage": "s", "status": "failed"}, {"stage": "s", "status": "aborted", "post": {"unsuccessful": "failed"}}], "aborted"),
    ([{"stage": "s", "status": "ABORTED", "post": {"unsuccessful": "passed"}}], "aborted"),
])
def test_jenkins_status_reads_the_stage_own_last_report(records: list[dict[str, Any]], expected: str) -> None:
    assert engines._jenkins_status(records, "s") == expected


PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
SPEC = f"""\
version: 1
name: stop
defaults: {{python: "{PYTHON}", timeout: 30m}}
stages:
  - {{name: validate, kind: validate, run: "true"}}
  - name: canary
    kind: canary
    deploy: echo "weight=$MLGEN_CANARY_WEIGHT" >> "$STOP_LOG"
    steps: [50, 100]
    bake: 120s
    interval: 1s
    check: "true"
    rollback: echo rollback >> "$STOP_LOG"
targets:
  jenkins: {{path: Jenkinsfile}}
"""


@pytest.mark.engine
def test_a_step_stopped_mid_bake_reads_aborted_and_its_rollback_ran(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "mlgen.yaml").write_text(SPEC, encoding="utf-8")
    compiled = run_mlgen("compile", cwd=repo)
    assert compiled.code == 0, compiled.err
    # Minutes read as seconds: the step's timeout fires 30 s in, mid-way through a 120 s bake.
    jenkinsfile = repo / "Jenkinsfile"
    text, count = re.subn(r"unit: 'MINUTES'", "unit: 'SECONDS'", jenkinsfile.read_text(encoding="utf-8"))
    assert count, "the compiled Jenkinsfile has no timeout"
    jenkinsfile.write_text(text, encoding="utf-8")
    init_and_commit(repo, "stop project")
    # As an earlier build of the branch left the steps' workspaces (`<agents>/<branch>/<stage path>`):
    # a first build's venv creation and install would not fit in a 30 s timeout on a loaded machine.
    # Only the first step's: the abort skips the other.
    warm_venv(tmp_path / "jenkins-agents" / "main" / "canary_canary_50_", PYTHON, f"mlgen-ci=={__version__}")
    log = tmp_path / "deploy.log"
    run = engines.run("jenkins", repo, variables={"PIP_NO_INDEX": "1", "STOP_LOG": str(log)}, state=tmp_path, timeout=300)
    assert run.statuses == {"validate": "passed", "canary-50": "aborted", "canary-50-rollback": "passed",
                            "canary-100": "skipped", "canary-100-rollback": "skipped"}, run.log()[-4000:]
    assert log.read_text(encoding="utf-8").split() == ["weight=50", "rollback"], run.log()[-4000:]
