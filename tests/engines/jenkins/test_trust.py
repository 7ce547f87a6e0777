"""Trust boundaries of the generated Jenkinsfile on the harness: a pull request build neither
binds the registry write credential nor takes an agent for a stage it skips; only a listed
submitter can approve the rollout; the schedule exists only on the default branch, in UTC.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import run_mlgen
from tests.engines.jenkins.runner import JenkinsRun, run_jenkinsfile

pytestmark = [pytest.mark.engine]

PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
SPEC = f"""\
version: 1
name: trust
triggers: {{schedule: "17 3 * * 1"}}
defaults: {{python: "{PYTHON}"}}
credentials: {{write: REGISTRY_WRITE, variable: REGISTRY_TOKEN}}
stages:
  - {{name: validate, kind: validate, run: "true"}}
  - {{name: train, kind: train, run: "mkdir -p model && echo m > model/w", outputs: [model/]}}
  - name: register
    kind: register
    registry: command
    model: m
    path: model/
    command:
      register: 'echo "register $REGISTRY_TOKEN" >> "$DEPLOY_LOG"'
      promote: 'echo "promote $REGISTRY_TOKEN" >> "$DEPLOY_LOG"'
      rollback: "true"
  - name: canary
    kind: canary
    approval: {{submitter: "ml-leads, alice"}}
    deploy: echo "$MLGEN_CANARY_WEIGHT" >> "$DEPLOY_LOG"
    steps: [50, 100]
    bake: 1s
    interval: 1s
    check: "true"
    rollback: echo rollback >> "$DEPLOY_LOG"
targets:
  jenkins: {{path: Jenkinsfile}}
"""


# Without a canary, register is a stage of its own with an agent and a branch `when` (with a
# canary it sits in the rollout stage, which takes no agent): where `beforeAgent` decides.
REGISTER_ONLY = SPEC[:SPEC.index("  - name: canary")] + SPEC[SPEC.index("targets:"):]


def _compiled(tmp_path_factory: pytest.TempPathFactory, spec: str) -> Path:
    folder = tmp_path_factory.mktemp("trust")
    (folder / "mlgen.yaml").write_text(spec)
    compiled = run_mlgen("compile", cwd=folder)
    assert compiled.code == 0, compiled.err
    return folder / "Jenkinsfile"


@pytest.fixture(scope="module")
def jenkinsfile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _compiled(tmp_path_factory, SPEC)


@pytest.fixture(scope="module")
def register_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _compiled(tmp_path_factory, REGISTER_ONLY)


def _run(jenkinsfile: Path, tmp_path: Path, *, approver: str = "alice", credentials: dict[str, str] | None = None,
         **kw: object) -> tuple[JenkinsRun, list[str]]:
    log = tmp_path / "deploy.log"
    result = run_jenkinsfile(jenkinsfile, jenkinsfile.parent, env={"PIP_NO_INDEX": "1", "DEPLOY_LOG": str(log)},
                             credentials=credentials or {}, extra_args=["--approver", approver],
                             stash_dir=tmp_path / "stash", timeout=240, **kw)  # type: ignore[arg-type]
    return result, (log.read_text().splitlines() if log.is_file() else [])


def _agents(run: JenkinsRun) -> list[str]:
    """The stages that took an agent, in order."""
    return [line.split("]")[0].lstrip("[") for line in run.stdout.splitlines() if "] Running on " in line]


@pytest.mark.parametrize("fixture", ["jenkinsfile", "register_only"])
def test_a_pull_request_build_needs_no_write_credential_and_takes_no_agent_to_skip(
        fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    # No credential exists at all: a stage binding one would fail (the harness refuses an unknown ID).
    result, log = _run(request.getfixturevalue(fixture), tmp_path, branch="feature/x", change_request=True)
    assert result.result == "SUCCESS", result.log
    assert result.stage("register")["status"] == "skipped"
    assert _agents(result) == ["validate", "train"], "register is skipped before an agent is taken"
    assert log == []


def test_without_before_agent_the_harness_takes_the_agent_first(register_only: Path, tmp_path: Path) -> None:
    # The harness models the order Jenkins uses: a plain `when` is evaluated on the agent.
    assert "beforeAgent true\n" in register_only.read_text()
    plain = tmp_path / "Jenkinsfile"
    plain.write_text(register_only.read_text().replace("beforeAgent true\n", ""))
    result = run_jenkinsfile(plain, register_only.parent, branch="feature/x", change_request=True,
                             env={"PIP_NO_INDEX": "1"}, stash_dir=tmp_path / "stash", timeout=240)
    assert result.result == "SUCCESS", result.log
    assert _agents(result) == ["validate", "train", "register"]


def test_a_listed_submitter_approves_and_the_write_credential_reaches_only_the_writes(jenkinsfile: Path, tmp_path: Path) -> None:
    result, log = _run(jenkinsfile, tmp_path, credentials={"REGISTRY_WRITE": "w-token"})
    assert result.result == "SUCCESS", result.log
    assert log == ["register w-token", "50", "100", "promote w-token"]
    assert "Approved by alice" in result.stdout


def test_a_user_outside_the_submitters_cannot_start_the_rollout(jenkinsfile: Path, tmp_path: Path) -> None:
    result, log = _run(jenkinsfile, tmp_path, approver="mallory", credentials={"REGISTRY_WRITE": "w-token"})
    assert result.result == "ABORTED", result.log
    assert result.stage("canary approval")["status"] == "aborted"
    assert log == ["register w-token"], "no traffic moved"


@pytest.mark.parametrize(("branch", "change_request", "spec"), [
    ("main", False, "TZ=UTC\n17 3 * * 1"),
    ("feature/x", False, ""),
    ("feature/x", True, ""),
])
def test_the_schedule_exists_only_on_the_default_branch_in_utc(jenkinsfile: Path, tmp_path: Path, branch: str,
                                                               change_request: bool, spec: str) -> None:
    result, _ = _run(jenkinsfile, tmp_path, branch=branch, change_request=change_request,
                     credentials={"REGISTRY_WRITE": "w-token"})
    assert result.model["triggers"] == [{"type": "cron", "spec": spec}], result.log
